/*
 * holt_winters: exponential smoothing of a level, a (optionally damped) trend and one seasonal index per phase,
 * additive (the daily swing is a fixed amount) or multiplicative (the swing grows with the level). The model is
 * refitted from the whole history on every call, so it holds no data between calls.
 *
 * Settings: season_length (default 1440), seasonality ("additive" | "multiplicative"), alpha (0.3), beta (0.01),
 * gamma (0.1), damping (1.0 = no damping).
 */
#include <hydra/plugin.h>

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SEASON_LENGTH_DEFAULT 1440
/* Keeps the per-call seasonal table (8 bytes a phase) to a sane size whatever the config says. */
#define SEASON_LENGTH_MAX 10000000LL

#define Z80 1.2815516
#define Z95 1.959964

/* Multiplicative seasonality is undefined for values <= 0: such a history is shifted up by -min plus this share of
 * its typical magnitude. */
#define SHIFT_SHARE 1e-2
/* The multiplicative level never drops below this share of the smallest (shifted) value: after a collapse to near
 * zero, a level sinking towards zero turns value / level into seasonal indices in the thousands, which decay only
 * by (1 - gamma) a season and multiply every later forecast at their phase. Seen on NAB grok_asg_anomaly. */
#define LEVEL_FLOOR_SHARE 0.5

typedef struct holt_winters {
    const hydra_host *host;
    size_t season_length;
    bool multiplicative;
    double alpha, beta, gamma, phi;
} holt_winters;

/* The model as it walks through one history. */
typedef struct hw_model {
    const holt_winters *config;
    double level, trend;
    double *season;      /* one index per phase; phase of sample t is t % season_length */
    double shift;        /* added to every value (multiplicative on non-positive data), subtracted from forecasts */
    double level_floor;  /* -INFINITY for additive */
    double sigma;        /* RMS one-step error; for multiplicative, relative to the seasonal index */
} hw_model;

/* ## Settings ------------------------------------------------------------------------------------------------ */

/* A smoothing weight in [0, 1], or (0, 1] when zero would switch the model off. */
static int read_weight(const hydra_host *host, const char *key, bool zero_allowed, double *value)
{
    if (host->setting_double(host, key, value) < 0)
        return -1;
    if ((zero_allowed ? *value >= 0 : *value > 0) && *value <= 1)
        return 0;
    host->set_error(host, "%s must be in %c0, 1], got %g", key, zero_allowed ? '[' : '(', *value);
    return -1;
}

static int read_seasonality(const hydra_host *host, bool *multiplicative)
{
    const char *text = "additive";
    if (host->setting_string(host, "seasonality", &text) < 0)
        return -1;
    *multiplicative = strcmp(text, "multiplicative") == 0;
    if (*multiplicative || strcmp(text, "additive") == 0)
        return 0;
    host->set_error(host, "seasonality must be \"additive\" or \"multiplicative\", got \"%s\"", text);
    return -1;
}

static int read_season_length(const hydra_host *host, size_t *season_length)
{
    long long value = SEASON_LENGTH_DEFAULT;
    if (host->setting_int(host, "season_length", &value) < 0)
        return -1;
    if (value < 2 || value > SEASON_LENGTH_MAX) {
        host->set_error(host, "season_length must be between 2 and %lld samples, got %lld", SEASON_LENGTH_MAX, value);
        return -1;
    }
    *season_length = (size_t)value;
    return 0;
}

static int read_settings(const hydra_host *host, holt_winters *config)
{
    *config = (holt_winters){.host = host, .alpha = 0.3, .beta = 0.01, .gamma = 0.1, .phi = 1.0};
    if (read_season_length(host, &config->season_length) != 0 || read_seasonality(host, &config->multiplicative) != 0)
        return -1;
    if (read_weight(host, "alpha", false, &config->alpha) != 0 || read_weight(host, "beta", true, &config->beta) != 0 ||
        read_weight(host, "gamma", true, &config->gamma) != 0 || read_weight(host, "damping", false, &config->phi) != 0)
        return -1;
    return 0;
}

/* ## Life cycle ---------------------------------------------------------------------------------------------- */

static void *holt_winters_create(const hydra_host *host)
{
    holt_winters config;
    if (read_settings(host, &config) != 0)
        return NULL;
    holt_winters *state = host->alloc(host, sizeof *state);
    if (!state) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *state = config;
    return state;
}

static void holt_winters_destroy(void *opaque)
{
    holt_winters *state = opaque;
    if (state)
        state->host->free(state->host, state);
}

/* ## Initialisation from the first two seasons ---------------------------------------------------------------- */

/* Mean of the observed values in [from, from + count); NAN when all are missing. */
static double observed_mean(const double *values, size_t from, size_t count)
{
    double sum = 0;
    size_t seen = 0;
    for (size_t t = from; t < from + count; t++) {
        if (!isnan(values[t])) {
            sum += values[t];
            seen++;
        }
    }
    return seen ? sum / (double)seen : NAN;
}

/* For multiplicative: the shift that makes every value positive, and the lowest level allowed. */
static void choose_shift(hw_model *model, const hydra_series *history)
{
    model->shift = 0;
    model->level_floor = -INFINITY;
    if (!model->config->multiplicative)
        return;
    double lowest = INFINITY, magnitude = 0;
    size_t seen = 0;
    for (size_t t = 0; t < history->count; t++) {
        double value = history->values[t];
        if (isnan(value))
            continue;
        lowest = value < lowest ? value : lowest;
        magnitude += fabs(value);
        seen++;
    }
    double scale = magnitude > 0 ? magnitude / (double)seen : 1; /* seen >= 1: sample 0 is observed */
    if (lowest <= 0)
        model->shift = -lowest + SHIFT_SHARE * scale;
    /* the second bound: a tiny positive minimum must not make value / level overflow */
    model->level_floor = fmax(LEVEL_FLOOR_SHARE * (lowest + model->shift), 1e-9 * scale);
}

/* The seasonal index of phase p: each season's value against the straight line through the two season means,
 * averaged over the two seasons; neutral when both are missing. Returns the raw index (normalised later). */
static double initial_index(const hw_model *model, const double *values, size_t p, double first_mean)
{
    size_t m = model->config->season_length;
    double sum = 0;
    size_t seen = 0;
    for (size_t t = p; t < 2 * m; t += m) {
        double line = first_mean + ((double)t - (double)(m - 1) / 2) * model->trend;
        if (isnan(values[t]))
            continue;
        if (!model->config->multiplicative) {
            sum += values[t] - line;
            seen++;
        } else if (line > model->level_floor) {
            sum += (values[t] + model->shift) / line;
            seen++;
        }
    }
    if (!seen)
        return model->config->multiplicative ? 1 : 0;
    return sum / (double)seen;
}

/* Additive indices sum to 0 and multiplicative ones average 1, so the level alone carries the mean. */
static void normalise_season(hw_model *model)
{
    size_t m = model->config->season_length;
    double sum = 0;
    for (size_t p = 0; p < m; p++)
        sum += model->season[p];
    double centre = sum / (double)m;
    for (size_t p = 0; p < m; p++) {
        if (model->config->multiplicative)
            model->season[p] = centre > 0 ? model->season[p] / centre : 1;
        else
            model->season[p] -= centre;
    }
}

/* Multiplicative only (the additive floor is -INFINITY): a level at its floor cannot fall further, so a negative
 * trend there is what is left of the fall; kept, it would pin the level to the floor for hundreds of steps while
 * every seasonal index visited meanwhile grows as value / floor. */
static void keep_above_floor(hw_model *model)
{
    if (model->level > model->level_floor)
        return;
    model->level = model->level_floor;
    if (model->trend < 0)
        model->trend = 0;
}

/* Classical start: level and trend from the means of the first two seasons, placed one step before sample 0 so
 * the recursions then run over the whole history. Sample 0 is observed (leading gaps are trimmed), so the first
 * season has a mean; a second season with none gives no trend to read. */
static void model_init(hw_model *model, const hydra_series *history)
{
    size_t m = model->config->season_length;
    double first = observed_mean(history->values, 0, m), second = observed_mean(history->values, m, m);
    first += model->shift;
    second = isnan(second) ? first : second + model->shift;
    model->trend = (second - first) / (double)m;
    for (size_t p = 0; p < m; p++)
        model->season[p] = initial_index(model, history->values, p, first);
    normalise_season(model);
    model->level = first - model->trend * (double)(m + 1) / 2;
    keep_above_floor(model);
}

/* ## The recursions ---------------------------------------------------------------------------------------------- */

/* Deseasonalised value and the value the season index is updated towards, in the model's own terms. */
static double deseasonalise(const hw_model *model, double value, double index)
{
    return model->config->multiplicative ? value / index : value - index;
}

static double season_target(const hw_model *model, double value, double level)
{
    return model->config->multiplicative ? value / level : value - level;
}

/* Moves the model one sample forward; returns the one-step error (relative to the index for multiplicative), or
 * NAN for a missing sample, which is taken to equal the prediction: the model coasts on its trend. */
static double model_step(hw_model *model, size_t t, double value)
{
    const holt_winters *c = model->config;
    double *index = &model->season[t % c->season_length];
    double base = model->level + c->phi * model->trend;
    if (isnan(value)) {
        model->level = base;
        model->trend *= c->phi;
        keep_above_floor(model);
        return NAN;
    }
    value += model->shift;
    double old_index = *index;
    double predicted = c->multiplicative ? base * old_index : base + old_index;
    double level = fmax(c->alpha * deseasonalise(model, value, old_index) + (1 - c->alpha) * base, model->level_floor);
    model->trend = c->beta * (level - model->level) + (1 - c->beta) * c->phi * model->trend;
    *index = c->gamma * season_target(model, value, level) + (1 - c->gamma) * old_index;
    model->level = level;
    keep_above_floor(model);
    return c->multiplicative ? (value - predicted) / old_index : value - predicted;
}

/* Runs the whole history; sigma is the RMS of the errors after the two seasons used to initialise, or, when the
 * history is only those two seasons, of all of them (in-sample, so likely too narrow, but better than none). */
static void model_run(hw_model *model, const hydra_series *history)
{
    size_t warm_up = 2 * model->config->season_length;
    double squares_all = 0, squares_late = 0;
    size_t count_all = 0, count_late = 0;
    for (size_t t = 0; t < history->count; t++) {
        double error = model_step(model, t, history->values[t]);
        if (isnan(error))
            continue;
        squares_all += error * error;
        count_all++;
        if (t >= warm_up) {
            squares_late += error * error;
            count_late++;
        }
    }
    if (count_late)
        model->sigma = sqrt(squares_late / (double)count_late);
    else
        model->sigma = count_all ? sqrt(squares_all / (double)count_all) : 0;
}

/* ## Forecasting --------------------------------------------------------------------------------------------- */

static double at_least_zero(double value) { return value > 0 ? value : 0; }

static void write_interval(hydra_forecast *out, size_t i, double raw, double sd)
{
    out->mean[i] = at_least_zero(raw);
    out->lower80[i] = at_least_zero(raw - Z80 * sd);
    out->upper80[i] = at_least_zero(raw + Z80 * sd);
    out->lower95[i] = at_least_zero(raw - Z95 * sd);
    out->upper95[i] = at_least_zero(raw + Z95 * sd);
}

static void write_components(hydra_forecast *out, size_t i, double level, double trend, double season)
{
    const double parts[3] = {level, trend, season};
    for (size_t c = 0; c < 3; c++)
        if (out->components[c])
            out->components[c][i] = parts[c];
}

static void name_components(hydra_forecast *out)
{
    static const char *const names[3] = {"level", "trend", "season"};
    out->component_count = 3;
    for (size_t c = 0; c < 3; c++)
        snprintf(out->component_names[c], sizeof out->component_names[c], "%s", names[c]);
}

/* Step h's error is the sum of the shocks since the last sample, each carried forward through level, damped trend
 * and (every full season) the index: c_j = alpha * (1 + beta * (phi + ... + phi^j)) + gamma' [j mod m == 0].
 * gamma' = gamma * (1 - alpha) because our index moves towards value - new level, which holds (1 - alpha) of the
 * error; with phi = 1 this is the usual additive Holt-Winters approximation. */
static double shock_weight(const holt_winters *c, size_t j, double damped_sum)
{
    double seasonal = j % c->season_length == 0 ? c->gamma * (1 - c->alpha) : 0;
    return c->alpha * (1 + c->beta * damped_sum) + seasonal;
}

static void model_forecast(const hw_model *model, size_t count, hydra_forecast *out)
{
    const holt_winters *c = model->config;
    double damped_sum = 0, power = 1, variance_multiplier = 1;
    for (size_t i = 0; i < out->horizon; i++) {
        size_t h = i + 1;
        power *= c->phi;
        damped_sum += power; /* phi + ... + phi^h */
        double index = model->season[(count + i) % c->season_length];
        double trend = damped_sum * model->trend, base = model->level + trend;
        double season = c->multiplicative ? base * (index - 1) : index;
        double raw = model->level - model->shift + trend + season;
        double sd = model->sigma * sqrt(variance_multiplier) * (c->multiplicative ? index : 1);
        write_interval(out, i, raw, sd);
        write_components(out, i, model->level - model->shift, trend, season);
        double weight = shock_weight(c, h, damped_sum);
        variance_multiplier += weight * weight;
    }
    name_components(out);
}

/* Leading missing samples (a service younger than the window asked for) carry nothing: the model starts at the
 * first observed one. Sets *skipped; the series is empty when nothing is observed. */
static hydra_series trim_leading_missing(const hydra_series *history, size_t *skipped)
{
    size_t first = 0;
    while (first < history->count && isnan(history->values[first]))
        first++;
    *skipped = first;
    return (hydra_series){.values = history->values + first, .count = history->count - first,
                          .start = history->start + (double)first * history->step, .step = history->step};
}

static int check_length(const holt_winters *config, const hydra_series *history, size_t skipped)
{
    size_t m = config->season_length;
    if (history->count == 0 && skipped > 0) {
        config->host->set_error(config->host, "history of %zu samples has no observed value (all missing)", skipped);
        return -1;
    }
    if (history->count / 2 >= m)
        return 0;
    if (skipped > 0)
        config->host->set_error(config->host,
                                "holt_winters needs at least %zu samples (two seasons of %zu) from the first observed "
                                "one, got %zu after %zu missing",
                                2 * m, m, history->count, skipped);
    else
        config->host->set_error(config->host, "holt_winters needs at least %zu samples (two seasons of %zu), got %zu",
                                2 * m, m, history->count);
    return -1;
}

static int holt_winters_predict(void *opaque, const hydra_series *full_history, hydra_forecast *out)
{
    const holt_winters *config = opaque;
    const hydra_host *host = config->host;
    size_t skipped;
    hydra_series history = trim_leading_missing(full_history, &skipped);
    if (check_length(config, &history, skipped) != 0)
        return -1;
    hw_model model = {.config = config, .season = host->alloc(host, config->season_length * sizeof(double))};
    if (!model.season) {
        host->set_error(host, "out of memory for a season of %zu samples", config->season_length);
        return -1;
    }
    choose_shift(&model, &history);
    model_init(&model, &history);
    model_run(&model, &history);
    model_forecast(&model, history.count, out);
    host->free(host, model.season);
    return 0;
}

/* ## Descriptor ---------------------------------------------------------------------------------------------- */

static const hydra_forecaster_ops holt_winters_ops = {
    .size = sizeof(hydra_forecaster_ops),
    .predict = holt_winters_predict,
};

static const hydra_plugin_descriptor holt_winters_descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_FORECASTER,
    .name = "holt_winters",
    .version = "1.0.0",
    .description = "Holt-Winters exponential smoothing: level, damped trend, additive or multiplicative season",
    .create = holt_winters_create,
    .destroy = holt_winters_destroy,
    .ops = &holt_winters_ops,
};

HYDRA_PLUGIN(holt_winters_descriptor)
