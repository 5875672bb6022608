/*
 * seasonal_naive: tomorrow looks like today. Each future step repeats the last observed value at the same phase of
 * the season; the prediction intervals come from how much one season differed from the one before it, widening
 * with the number of seasons ahead (a random walk over seasons: sigma * sqrt(k)).
 *
 * Settings: season_length (samples per season, default 1440 = one day of minute samples).
 */
#include <hydra/plugin.h>

#include <math.h>
#include <stddef.h>
#include <stdio.h>

#define SEASON_LENGTH_DEFAULT 1440
/* Keeps a model's phase table (8 bytes a phase) to a sane size whatever the config says. */
#define SEASON_LENGTH_MAX 10000000LL

#define Z80 1.2815516
#define Z95 1.959964

typedef struct seasonal_naive {
    const hydra_host *host;
    size_t season_length;
} seasonal_naive;

/* A model walks through a series sample by sample: the last observed value at each phase, and running sums for
 * the spread of season-over-season changes and of the data itself. O(1) a sample, O(horizon) a forecast; predict()
 * opens one on the whole history, so both paths run the same code. */
typedef struct naive_model {
    const hydra_host *host;
    size_t season_length;
    size_t count;          /* samples taken, missing ones included: the phase of sample t is t % season_length */
    double *last_at_phase; /* NAN where that phase was never observed */
    double last_observed;  /* fallback for a phase never observed; NAN until something is */
    double change_squares; /* season-over-season changes: a sample against the last observed one at its phase */
    size_t changes;
    double sum, sum_squares; /* of the observed values */
    size_t observed;
} naive_model;

/* ## Life cycle ------------------------------------------------------------------------------------------------ */

static void *seasonal_naive_create(const hydra_host *host)
{
    long long season_length = SEASON_LENGTH_DEFAULT;
    if (host->setting_int(host, "season_length", &season_length) < 0)
        return NULL;
    if (season_length < 1 || season_length > SEASON_LENGTH_MAX) {
        host->set_error(host, "season_length must be between 1 and %lld samples, got %lld", SEASON_LENGTH_MAX,
                        season_length);
        return NULL;
    }
    seasonal_naive *state = host->alloc(host, sizeof *state);
    if (!state) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    state->host = host;
    state->season_length = (size_t)season_length;
    return state;
}

static void seasonal_naive_destroy(void *opaque)
{
    seasonal_naive *state = opaque;
    if (state)
        state->host->free(state->host, state);
}

/* ## The model -------------------------------------------------------------------------------------------------- */

static void seasonal_naive_model_close(void *opaque)
{
    naive_model *model = opaque;
    if (!model)
        return;
    model->host->free(model->host, model->last_at_phase);
    model->host->free(model->host, model);
}

static naive_model *model_new(const seasonal_naive *state)
{
    const hydra_host *host = state->host;
    size_t m = state->season_length;
    naive_model *model = host->alloc(host, sizeof *model);
    if (model) {
        *model = (naive_model){.host = host, .season_length = m, .last_observed = NAN,
                               .last_at_phase = host->alloc(host, m * sizeof(double))};
    }
    if (!model || !model->last_at_phase) {
        seasonal_naive_model_close(model);
        host->set_error(host, "out of memory for a model with a season of %zu samples", m);
        return NULL;
    }
    for (size_t p = 0; p < m; p++)
        model->last_at_phase[p] = NAN;
    return model;
}

/* A sample is predicted by the last observed sample at its phase (however many seasons back, so a gap widens the
 * error the same way it widens a real forecast). */
static void model_take(naive_model *model, double value)
{
    double *previous = &model->last_at_phase[model->count++ % model->season_length];
    if (isnan(value))
        return;
    if (!isnan(*previous)) {
        model->change_squares += (value - *previous) * (value - *previous);
        model->changes++;
    }
    *previous = value;
    model->last_observed = value;
    model->sum += value;
    model->sum_squares += value * value;
    model->observed++;
}

/* The RMS of the season-over-season changes. Without a single pair (one season of data) there is no error to
 * measure; the spread of the data itself is a wide but honest stand-in, better than an interval of zero width. */
static double model_sigma(const naive_model *model)
{
    if (model->changes)
        return sqrt(model->change_squares / (double)model->changes);
    size_t count = model->observed;
    if (count < 2)
        return 0;
    double mean = model->sum / (double)count;
    double variance = (model->sum_squares - (double)count * mean * mean) / (double)(count - 1);
    return variance > 0 ? sqrt(variance) : 0;
}

/* ## Forecasting --------------------------------------------------------------------------------------------- */

static double at_least_zero(double value) { return value > 0 ? value : 0; }

static void write_forecast(const naive_model *model, hydra_forecast *out)
{
    size_t m = model->season_length;
    double sigma = model_sigma(model);
    for (size_t i = 0; i < out->horizon; i++) {
        double value = model->last_at_phase[(model->count + i) % m];
        if (isnan(value))
            value = model->last_observed;
        double seasons_ahead = (double)(i / m + 1);
        double sd = sigma * sqrt(seasons_ahead);
        out->mean[i] = at_least_zero(value);
        out->lower80[i] = at_least_zero(value - Z80 * sd);
        out->upper80[i] = at_least_zero(value + Z80 * sd);
        out->lower95[i] = at_least_zero(value - Z95 * sd);
        out->upper95[i] = at_least_zero(value + Z95 * sd);
        if (out->components[0])
            out->components[0][i] = value;
    }
    out->component_count = 1;
    snprintf(out->component_names[0], sizeof out->component_names[0], "season");
}

static void *seasonal_naive_model_open(void *opaque, const hydra_series *history)
{
    const seasonal_naive *state = opaque;
    if (history && history->count > 0 && !history->values) {
        state->host->set_error(state->host, "model_open: history of %zu samples has no values", history->count);
        return NULL;
    }
    naive_model *model = model_new(state);
    for (size_t t = 0; model && history && t < history->count; t++)
        model_take(model, history->values[t]);
    return model;
}

static int seasonal_naive_model_observe(void *opaque, double value)
{
    model_take(opaque, value);
    return 0;
}

static int seasonal_naive_model_forecast(void *opaque, hydra_forecast *out)
{
    const naive_model *model = opaque;
    size_t m = model->season_length;
    if (model->count < m) {
        model->host->set_error(model->host, "seasonal_naive needs at least %zu samples (one season), got %zu", m,
                               model->count);
        return -1;
    }
    if (isnan(model->last_observed)) {
        model->host->set_error(model->host, "history of %zu samples has no observed value (all missing)",
                               model->count);
        return -1;
    }
    write_forecast(model, out);
    return 0;
}

static int seasonal_naive_predict(void *opaque, const hydra_series *history, hydra_forecast *out)
{
    naive_model *model = seasonal_naive_model_open(opaque, history);
    if (!model)
        return -1;
    int result = seasonal_naive_model_forecast(model, out);
    seasonal_naive_model_close(model);
    return result;
}

/* ## Descriptor ---------------------------------------------------------------------------------------------- */

static const hydra_forecaster_ops seasonal_naive_ops = {
    .size = sizeof(hydra_forecaster_ops),
    .predict = seasonal_naive_predict,
    .model_open = seasonal_naive_model_open,
    .model_observe = seasonal_naive_model_observe,
    .model_forecast = seasonal_naive_model_forecast,
    .model_close = seasonal_naive_model_close,
};

static const hydra_plugin_descriptor seasonal_naive_descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_FORECASTER,
    .name = "seasonal_naive",
    .version = "1.0.0",
    .description = "repeats the last observed season; intervals from season-over-season errors",
    .create = seasonal_naive_create,
    .destroy = seasonal_naive_destroy,
    .ops = &seasonal_naive_ops,
};

HYDRA_PLUGIN(seasonal_naive_descriptor)
