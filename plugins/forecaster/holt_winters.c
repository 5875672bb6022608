/*
 * holt_winters: exponential smoothing of a level, a (optionally damped) trend and one seasonal index per phase of
 * each of one to three seasons (daily, weekly...), additive (the daily swing is a fixed amount) or multiplicative
 * (the swing grows with the level). Each season is its own component of the forecast.
 *
 * One model walks through a series sample by sample: it keeps the first two (longest) seasons until they are
 * complete, initialises from them, replays them, and from then on costs O(1) per sample and O(horizon) per forecast.
 * The streaming ops hand such a model to the controller, which keeps one per target; predict() opens one on the
 * history and forecasts, so both paths run the same code and give the same numbers.
 *
 * Parameters the config does not fix are fitted: until the third season is complete (96 samples at least past the
 * first two) the model runs on defaults (alpha 0.3, beta 0.01, gamma 0.1), then it fits on every sample it has and
 * is rebuilt on them with what was found; it fits again after every further season (FIT_SCORED_MIN samples at
 * least), up to FIT_SAMPLES_MAX, so the weights and the season it starts from know the last days. A fit is a grid
 * over the weights on the first fit's samples, then Nelder-Mead over all of them (weights in the usual region),
 * minimising the squared one-step error after the first two seasons; each candidate starts from the seasonal
 * indices averaged over every complete season, not the first two alone. Additive seasons then get initial states
 * (level, trend, every index) estimated by least squares for the weights found, and the model is rebuilt from them.
 * Each fit depends only on the samples up to it, so model_open on a long history fits once, at the last fit point,
 * and still agrees with a model fed sample by sample.
 *
 * Settings: season_length (default 1440) or season_lengths ("1440, 10080": each a multiple of the one before),
 * seasonality ("additive" | "multiplicative"), alpha, beta, gamma (one for every season; fitted unless given),
 * damped (false; true fits damping unless given), damping (1.0 = no damping), initial_states ("estimated" |
 * "classical": the season averages alone).
 */
#include <hydra/plugin.h>

#include "../common/model_text.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SEASON_LENGTH_DEFAULT 1440
/* Keeps a model's tables (24 bytes a phase until it starts, 8 after) to a sane size whatever the config says. */
#define SEASON_LENGTH_MAX 10000000LL

#define Z80 1.2815516
#define Z95 1.959964

/* Multiplicative seasonality is undefined for values <= 0: when the first two seasons hold such values, the series
 * is shifted up by -min plus this share of their typical magnitude. */
#define SHIFT_SHARE 1e-2
/* The multiplicative level never drops below this share of the smallest (shifted) value so far: after a collapse to near
 * zero, a level sinking towards zero turns value / level into seasonal indices in the thousands, which decay only
 * by (1 - gamma) a season and multiply every later forecast at their phase. Seen on NAB grok_asg_anomaly. */
#define LEVEL_FLOOR_SHARE 0.5

/* Seasons one model can combine (daily, weekly, and one more), each a component of the forecast. */
#define SEASONS_MAX 3

typedef struct holt_winters {
    const hydra_host *host;
    size_t season_length;          /* the longest period: two of it start the model */
    size_t periods[SEASONS_MAX];   /* ascending, each a multiple of the one before; the last is season_length */
    size_t period_count;
    size_t season_total;           /* the sum of the periods: one index per phase of each */
    bool multiplicative;
    double alpha, beta, gamma, phi;
    bool fit_alpha, fit_beta, fit_gamma, fit_phi; /* not fixed by the config: fitted on the third season */
    bool estimate_start;           /* a fit estimates the initial states by least squares (additive) */
} holt_winters;

/* Samples the fit scores candidates on at least: with short seasons, one season is too few to tell them apart. */
#define FIT_SCORED_MIN 96
/* The model refits after every season (FIT_SCORED_MIN samples at least), on all it has seen, while that is at most
 * this many (or once, at the first fit, when that already needs more): later refits are the model registry's, on its
 * training window. */
#define FIT_SAMPLES_MAX 16384

/* The model as it walks through a series. */
typedef struct hw_model {
    holt_winters config; /* a copy: holds the host, for memory and errors */
    size_t skipped;      /* leading missing samples, before the first observed one: they carry nothing */
    size_t count;        /* samples from the first observed one; the phase of sample t is t % season_length */
    size_t phase[SEASONS_MAX]; /* once started, count % each period, kept without a division per sample */
    double step;         /* seconds between samples, which names the seasons ("daily", "weekly") */
    char season_names[SEASONS_MAX][HYDRA_COMPONENT_NAME_MAX];
    double *warm_up;     /* the first two seasons until they are complete; NULL once the model has started */
    double *fit_buffer;  /* when fitting: every sample until the next fit (fit_at), then the buffer grows */
    size_t fit_at;       /* the sample count of the next fit */
    size_t fits_skipped; /* model_open on a long history fits only at the last fit point it reaches: the fits are
                          * independent of each other, so the result is the same and the cost once */
    double level, trend;
    double *season;      /* one index per phase of each period, the shortest period's first */
    double shift;        /* added to every value (multiplicative on non-positive data), subtracted from forecasts */
    double value_min;    /* multiplicative: a shifted value is raised to at least this; -INFINITY for additive */
    double lowest;       /* multiplicative: the lowest shifted value so far, which sets the level floor */
    double scale;        /* multiplicative: typical magnitude of the first two seasons */
    double level_floor;  /* -INFINITY for additive */
    /* One-step errors (relative to the seasonal index for multiplicative): all of them, and those after the two
     * seasons used to initialise, which are out of sample. */
    double squares_all, squares_late;
    size_t errors_all, errors_late;
    /* Per forecast step, what depends on the settings alone: phi + ... + phi^h and the square root of the variance
     * multiplier. Worked out once for the longest horizon asked, in the order a forecast would, so the numbers are
     * the same; a tick then forecasts without a square root per step. */
    double *damped_sums, *spreads;
    size_t steps_known;
} hw_model;

/* ## Settings ------------------------------------------------------------------------------------------------ */

/* A smoothing weight in [0, 1], or (0, 1] when zero would switch the model off. *fitted is set when the config
 * leaves it to the data (value untouched). */
static int read_weight(const hydra_host *host, const char *key, bool zero_allowed, double *value, bool *fitted)
{
    double given;
    int status = host->setting_double(host, key, &given);
    if (status < 0)
        return -1;
    *fitted = status > 0;
    if (*fitted)
        return 0;
    if ((zero_allowed ? given >= 0 : given > 0) && given <= 1) {
        *value = given;
        return 0;
    }
    host->set_error(host, "%s must be in %c0, 1], got %g", key, zero_allowed ? '[' : '(', given);
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

/* initial_states: "estimated" (least squares, with each fit) or "classical" (season averages). */
static int read_initial_states(const hydra_host *host, bool *estimated)
{
    const char *text = "estimated";
    if (host->setting_string(host, "initial_states", &text) < 0)
        return -1;
    *estimated = strcmp(text, "estimated") == 0;
    if (*estimated || strcmp(text, "classical") == 0)
        return 0;
    host->set_error(host, "initial_states must be \"estimated\" or \"classical\", got \"%s\"", text);
    return -1;
}

static int check_period(const hydra_host *host, const char *key, long long value)
{
    if (value >= 2 && value <= SEASON_LENGTH_MAX)
        return 0;
    host->set_error(host, "%s: a season must be between 2 and %lld samples, got %lld", key, SEASON_LENGTH_MAX, value);
    return -1;
}

/* "1440, 10080": ascending periods, each a multiple of the one before (a week holds whole days), so the longest
 * one's phase tells every shorter one's. */
static int parse_periods(const hydra_host *host, const char *text, holt_winters *config)
{
    const char *at = text;
    config->period_count = 0;
    while (*at) {
        char *end = NULL;
        long long value = strtoll(at, &end, 10);
        if (end == at || (*end && *end != ',' && *end != ' ')) {
            host->set_error(host, "season_lengths must be whole numbers separated by commas, like \"1440, 10080\"; "
                            "got \"%s\"", text);
            return -1;
        }
        if (check_period(host, "season_lengths", value) != 0)
            return -1;
        size_t n = config->period_count;
        if (n == SEASONS_MAX) {
            host->set_error(host, "season_lengths: at most %d seasons, got \"%s\"", SEASONS_MAX, text);
            return -1;
        }
        if (n > 0 && ((size_t)value <= config->periods[n - 1] || (size_t)value % config->periods[n - 1] != 0)) {
            host->set_error(host, "season_lengths: each season must be a multiple of the one before and longer "
                            "(%lld after %zu in \"%s\")", value, config->periods[n - 1], text);
            return -1;
        }
        config->periods[config->period_count++] = (size_t)value;
        for (at = end; *at == ',' || *at == ' '; at++)
            ;
    }
    if (config->period_count == 0) {
        host->set_error(host, "season_lengths is empty: give one or more seasons, like \"1440, 10080\"");
        return -1;
    }
    return 0;
}

static int read_periods(const hydra_host *host, holt_winters *config)
{
    long long value = SEASON_LENGTH_DEFAULT;
    const char *list = NULL;
    int single = host->setting_int(host, "season_length", &value);
    int several = host->setting_string(host, "season_lengths", &list);
    if (single < 0 || several < 0)
        return -1;
    if (single == 0 && several == 0) {
        host->set_error(host, "give season_length (one season) or season_lengths (several), not both");
        return -1;
    }
    if (several == 0) {
        if (parse_periods(host, list, config) != 0)
            return -1;
    } else {
        if (check_period(host, "season_length", value) != 0)
            return -1;
        config->periods[0] = (size_t)value;
        config->period_count = 1;
    }
    config->season_length = config->periods[config->period_count - 1];
    for (size_t k = 0; k < config->period_count; k++)
        config->season_total += config->periods[k];
    return 0;
}

static int read_settings(const hydra_host *host, holt_winters *config)
{
    *config = (holt_winters){.host = host, .alpha = 0.3, .beta = 0.01, .gamma = 0.1, .phi = 1.0};
    bool damped = false;
    if (read_periods(host, config) != 0 || read_seasonality(host, &config->multiplicative) != 0 ||
        read_initial_states(host, &config->estimate_start) != 0 ||
        host->setting_bool(host, "damped", &damped) < 0)
        return -1;
    if (read_weight(host, "alpha", false, &config->alpha, &config->fit_alpha) != 0 ||
        read_weight(host, "beta", true, &config->beta, &config->fit_beta) != 0 ||
        read_weight(host, "gamma", true, &config->gamma, &config->fit_gamma) != 0 ||
        read_weight(host, "damping", false, &config->phi, &config->fit_phi) != 0)
        return -1;
    config->fit_phi = config->fit_phi && damped; /* phi stays 1: no damping unless asked for */
    if (config->fit_phi)
        config->phi = 0.98;
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

/* For multiplicative: the shift that makes the first two seasons positive, the least value the model takes from
 * then on, and the lowest level allowed. Only these two seasons are known when the model starts, so a later value
 * that would fall to or below zero after the shift is raised to value_min: the smallest (shifted) value of the two
 * seasons, or SHIFT_SHARE of their typical magnitude when that is smaller. */
static void choose_shift(hw_model *model)
{
    model->shift = 0;
    model->value_min = -INFINITY;
    model->level_floor = -INFINITY;
    if (!model->config.multiplicative)
        return;
    const double *values = model->warm_up;
    double lowest = INFINITY, magnitude = 0;
    size_t seen = 0;
    for (size_t t = 0; t < 2 * model->config.season_length; t++) {
        if (isnan(values[t]))
            continue;
        lowest = values[t] < lowest ? values[t] : lowest;
        magnitude += fabs(values[t]);
        seen++;
    }
    model->scale = magnitude > 0 ? magnitude / (double)seen : 1; /* seen >= 1: sample 0 is observed */
    if (lowest <= 0)
        model->shift = -lowest + SHIFT_SHARE * model->scale;
    model->lowest = lowest + model->shift;
    model->value_min = fmin(model->lowest, SHIFT_SHARE * model->scale);
    /* the second bound: a tiny positive minimum must not make value / level overflow */
    model->level_floor = fmax(LEVEL_FLOOR_SHARE * model->lowest, 1e-9 * model->scale);
}

/* The seasonal index of phase p: each season's value against the straight line through the two season means,
 * averaged over the two seasons; neutral when both are missing. Returns the raw index (normalised later). */
static double initial_index(const hw_model *model, size_t p, double first_mean, size_t seasons)
{
    size_t m = model->config.season_length;
    const double *values = model->warm_up;
    double sum = 0;
    size_t seen = 0;
    for (size_t t = p; t < seasons * m; t += m) {
        double line = first_mean + ((double)t - (double)(m - 1) / 2) * model->trend;
        if (isnan(values[t]))
            continue;
        if (!model->config.multiplicative) {
            sum += values[t] - line;
            seen++;
        } else if (line > model->level_floor) {
            sum += (values[t] + model->shift) / line;
            seen++;
        }
    }
    if (!seen)
        return model->config.multiplicative ? 1 : 0;
    return sum / (double)seen;
}

/* Additive indices sum to 0 and multiplicative ones average 1, so the level alone carries the mean. */
static void normalise_season(const hw_model *model, double *season, size_t m)
{
    double sum = 0;
    for (size_t p = 0; p < m; p++)
        sum += season[p];
    double centre = sum / (double)m;
    for (size_t p = 0; p < m; p++) {
        if (model->config.multiplicative)
            season[p] = centre > 0 ? season[p] / centre : 1;
        else
            season[p] -= centre;
    }
}

/* Several seasons: the longest period's indices, which hold them all, are split from the shortest up: each
 * period's index is the mean over the phases of the longest that fall on it of what the shorter ones leave. */
static void split_seasons(hw_model *model, double *combined)
{
    const holt_winters *c = &model->config;
    double *table = model->season;
    for (size_t k = 0; k < c->period_count; k++) {
        size_t m = c->periods[k], repeats = c->season_length / m;
        for (size_t p = 0; p < m; p++) {
            double sum = 0;
            for (size_t q = p; q < c->season_length; q += m)
                sum += combined[q];
            table[p] = sum / (double)repeats;
        }
        normalise_season(model, table, m);
        for (size_t q = 0; k + 1 < c->period_count && q < c->season_length; q++)
            combined[q] = c->multiplicative ? combined[q] / table[q % m] : combined[q] - table[q % m];
        table += m;
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

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The line through the means of the seasons: its slope per sample the median of the slopes between consecutive
 * observed seasons (exact through two), *first its value at the middle of the first season (the mean of the means
 * less the slope's part). A median, as the line's least squares were, would follow a workload that changed once:
 * a fall from 30 to 0.3 after eight of fourteen days left a slope of -0.13 a sample that a fitted beta of 0 kept
 * forever. Seasons with nothing observed are left out; out of memory, the slope is 0. */
static double season_means_line(const hw_model *model, size_t seasons, double *first)
{
    const hydra_host *host = model->config.host;
    size_t m = model->config.season_length, n = 0, slopes = 0;
    double *slope_of = seasons > 1 ? host->alloc(host, (seasons - 1) * sizeof(double)) : NULL;
    double sx = 0, sy = 0, last_x = 0, last_y = 0;
    for (size_t j = 0; j < seasons; j++) {
        double mean = observed_mean(model->warm_up, j * m, m);
        if (isnan(mean))
            continue;
        double x = (double)j * (double)m, y = mean + model->shift;
        if (n > 0 && slope_of)
            slope_of[slopes++] = (y - last_y) / (x - last_x);
        sx += x, sy += y, n++;
        last_x = x, last_y = y;
    }
    double slope = 0;
    if (slopes > 0) {
        qsort(slope_of, slopes, sizeof *slope_of, compare_doubles);
        slope = slopes % 2 ? slope_of[slopes / 2] : (slope_of[slopes / 2 - 1] + slope_of[slopes / 2]) / 2;
    }
    host->free(host, slope_of);
    *first = (sy - slope * sx) / (double)n; /* n >= 1: sample 0 is observed */
    return slope;
}

/* Classical start: level and trend from the line through the season means, placed one step before sample 0 so the
 * recursions then run over the whole series, and the seasonal indices averaged over the seasons. The model starts
 * on two seasons; a fit, which rebuilds it, starts it on every complete season it has, so the indices it
 * replays from are not one day's noise. */
static void initialise(hw_model *model, size_t seasons)
{
    size_t m = model->config.season_length;
    double first;
    model->trend = season_means_line(model, seasons, &first);
    double *longest = model->season + model->config.season_total - m;
    for (size_t p = 0; p < m; p++)
        longest[p] = initial_index(model, p, first, seasons);
    if (model->config.period_count > 1)
        split_seasons(model, longest); /* the longest is written last, after the shorter ones have read it */
    else
        normalise_season(model, longest, m);
    model->level = first - model->trend * (double)(m + 1) / 2;
    keep_above_floor(model);
}

/* ## The recursions ---------------------------------------------------------------------------------------------- */

/* Deseasonalised value and the value the season index is updated towards, in the model's own terms. */
static double deseasonalise(const hw_model *model, double value, double index)
{
    return model->config.multiplicative ? value / index : value - index;
}

static double season_target(const hw_model *model, double value, double level)
{
    return model->config.multiplicative ? value / level : value - level;
}

/* Multiplicative: the shifted value, raised to value_min; a new lowest value lowers the level floor with it, so
 * a workload that collapses towards zero is followed down, though never to zero. */
static double shifted_value(hw_model *model, double value)
{
    if (!model->config.multiplicative)
        return value;
    value = fmax(value + model->shift, model->value_min);
    if (value < model->lowest) {
        model->lowest = value;
        model->level_floor = fmax(LEVEL_FLOOR_SHARE * value, 1e-9 * model->scale);
    }
    return value;
}

/* The seasonal indices of every period at the phases given, and their sum (additive) or product. */
static double seasons_at(const hw_model *model, const size_t *phase, double **index)
{
    const holt_winters *c = &model->config;
    double *table = model->season, combined = c->multiplicative ? 1 : 0;
    for (size_t k = 0; k < c->period_count; k++) {
        index[k] = &table[phase[k]];
        combined = c->multiplicative ? combined * *index[k] : combined + *index[k];
        table += c->periods[k];
    }
    return combined;
}

/* The combined index without period k's: what the value holds of the other seasons. */
static double seasons_but(const hw_model *model, double *const *index, size_t k, double combined)
{
    if (model->config.period_count == 1)
        return model->config.multiplicative ? 1 : 0;
    if (!model->config.multiplicative)
        return combined - *index[k];
    double others = 1;
    for (size_t j = 0; j < model->config.period_count; j++)
        others *= j == k ? 1 : *index[j];
    return others;
}

/* model_step for one additive season, the case nearly every target has, without the general step's loops over the
 * seasons and its branches on the kind of season: a fit runs the recursion some hundred times over every sample.
 * The level and the trend are passed by address so that a loop over many samples keeps them in registers. */
static inline double step_one_additive_season(const hw_model *model, double *level_at, double *trend_at,
                                              double *index, double value)
{
    const holt_winters *c = &model->config;
    double base = *level_at + c->phi * *trend_at, level, trend, error = NAN;
    if (isnan(value)) {
        level = base;
        trend = *trend_at * c->phi;
    } else {
        double old_index = *index;
        level = c->alpha * (value - old_index) + (1 - c->alpha) * base;
        level = level > model->level_floor ? level : model->level_floor; /* fmax, inline */
        trend = c->beta * (level - *level_at) + (1 - c->beta) * c->phi * *trend_at;
        *index = c->gamma * (value - level) + (1 - c->gamma) * old_index;
        error = value - (base + old_index);
    }
    if (!(level > model->level_floor)) { /* keep_above_floor */
        level = model->level_floor;
        trend = trend < 0 ? 0 : trend;
    }
    *level_at = level;
    *trend_at = trend;
    return error;
}

/* Moves the model one sample forward; returns the one-step error (relative to the index for multiplicative), or
 * NAN for a missing sample, which is taken to equal the prediction: the model coasts on its trend. With several
 * seasons, each index moves towards what the value holds beyond the new level and the other seasons. */
static double model_step(hw_model *model, const size_t *phase, double value)
{
    const holt_winters *c = &model->config;
    if (c->period_count == 1 && !c->multiplicative)
        return step_one_additive_season(model, &model->level, &model->trend, &model->season[phase[0]], value);
    double *index[SEASONS_MAX];
    double base = model->level + c->phi * model->trend;
    if (isnan(value)) {
        model->level = base;
        model->trend *= c->phi;
        keep_above_floor(model);
        return NAN;
    }
    value = shifted_value(model, value);
    double old_index = seasons_at(model, phase, index);
    double predicted = c->multiplicative ? base * old_index : base + old_index;
    double level = fmax(c->alpha * deseasonalise(model, value, old_index) + (1 - c->alpha) * base, model->level_floor);
    model->trend = c->beta * (level - model->level) + (1 - c->beta) * c->phi * model->trend;
    for (size_t k = 0; k < c->period_count; k++) {
        double others = seasons_but(model, index, k, old_index);
        double target = c->multiplicative ? season_target(model, value, level * others)
                                          : season_target(model, value - others, level);
        *index[k] = c->gamma * target + (1 - c->gamma) * *index[k];
    }
    model->level = level;
    keep_above_floor(model);
    return c->multiplicative ? (value - predicted) / old_index : value - predicted;
}

/* The phases after `phase`, one sample on. */
static void advance_phases(const holt_winters *c, size_t *phase)
{
    for (size_t k = 0; k < c->period_count; k++)
        phase[k] = phase[k] + 1 == c->periods[k] ? 0 : phase[k] + 1;
}

/* The phases of sample t. */
static void phases_at(const holt_winters *c, size_t t, size_t *phase)
{
    for (size_t k = 0; k < c->period_count; k++)
        phase[k] = t % c->periods[k];
}

static void record_error(hw_model *model, double error, bool out_of_sample)
{
    if (isnan(error))
        return;
    model->squares_all += error * error;
    model->errors_all++;
    if (out_of_sample) {
        model->squares_late += error * error;
        model->errors_late++;
    }
}

/* The state one step before sample 0: level, trend, then the season table (2 + season_total numbers). */
static void set_state(hw_model *model, const double *state)
{
    model->level = state[0];
    model->trend = state[1];
    memcpy(model->season, state + 2, model->config.season_total * sizeof(double));
}

static void run_one_additive_season(hw_model *model, const double *values, size_t total)
{
    size_t m = model->config.season_length, phase = 0;
    double level = model->level, trend = model->trend;
    for (size_t t = 0; t < total; t++) {
        record_error(model, step_one_additive_season(model, &level, &trend, &model->season[phase], values[t]),
                     t >= 2 * m);
        phase = phase + 1 == m ? 0 : phase + 1;
    }
    model->level = level;
    model->trend = trend;
}

/* Initialises from the seasons of values (initialise), or from `start` when given (2 + season_total numbers:
 * level, trend, season table), then runs the recursions over all total of them (the errors after the two seasons
 * are out of sample). values is read, not kept. */
static void run_from_start(hw_model *model, const double *values, size_t total, const double *start)
{
    size_t m = model->config.season_length;
    model->squares_all = model->squares_late = 0;
    model->errors_all = model->errors_late = 0;
    model->warm_up = (double *)values; /* what choose_shift and initialise read */
    choose_shift(model);
    if (start)
        set_state(model, start);
    else
        initialise(model, total / m);
    model->warm_up = NULL;
    size_t phase[SEASONS_MAX] = {0};
    if (model->config.period_count == 1 && !model->config.multiplicative) {
        run_one_additive_season(model, values, total);
    } else {
        for (size_t t = 0; t < total; t++) {
            record_error(model, model_step(model, phase, values[t]), t >= 2 * m);
            advance_phases(&model->config, phase);
        }
    }
    model->count = total;
    phases_at(&model->config, total, model->phase);
}

static bool wants_fit(const holt_winters *c) { return c->fit_alpha || c->fit_beta || c->fit_gamma || c->fit_phi; }

/* Samples kept for the fit: two seasons to initialise, then whole seasons to score on (FIT_SCORED_MIN at least). */
static size_t fit_length(const holt_winters *c)
{
    size_t m = c->season_length, scored = (FIT_SCORED_MIN + m - 1) / m;
    return (2 + scored) * m;
}

/* The two seasons are complete: initialise from them, then run the recursions over them, once. When parameters
 * are to be fitted, the buffer keeps filling until the first fit. */
static void model_start(hw_model *model)
{
    double *values = model->warm_up;
    run_from_start(model, values, model->count, NULL);
    if (wants_fit(&model->config)) {
        model->fit_buffer = values;
        model->fit_at = fit_length(&model->config);
    } else {
        model->config.host->free(model->config.host, values);
    }
}

/* The sample count of the fit after the one at `at`; 0 when there is none. */
static size_t next_fit(const holt_winters *c, size_t at)
{
    size_t next = at + (c->season_length > FIT_SCORED_MIN ? c->season_length : FIT_SCORED_MIN);
    return next <= FIT_SAMPLES_MAX ? next : 0;
}

/* The first fit point after count samples; 0 when there is none. */
static size_t next_fit_after(const holt_winters *c, size_t count)
{
    size_t at = fit_length(c);
    while (at && at <= count)
        at = next_fit(c, at);
    return at;
}

/* The last fit point a history of count samples (from the first observed one) reaches; 0 when none. */
static size_t last_fit_within(const holt_winters *c, size_t count)
{
    size_t at = fit_length(c), last = 0;
    while (at && at <= count) {
        last = at;
        at = next_fit(c, at);
    }
    return last;
}

/* ## Fitting the parameters: least squared one-step error over the third season ----------------------------- */

typedef struct fit_scratch {
    hw_model model;    /* a copy of the live one's settings, with its own season table */
    const double *values;
    size_t total;
    const double *start; /* fixed initial states (scored on every error), or NULL: the classical ones each time */
} fit_scratch;

static double fit_score(fit_scratch *scratch, const double parameters[4])
{
    holt_winters *c = &scratch->model.config;
    c->alpha = parameters[0];
    c->beta = parameters[1];
    c->gamma = parameters[2];
    c->phi = parameters[3];
    run_from_start(&scratch->model, scratch->values, scratch->total, scratch->start);
    if (scratch->start)
        return scratch->model.errors_all ? scratch->model.squares_all : INFINITY;
    return scratch->model.errors_late ? scratch->model.squares_late : INFINITY;
}

/* The grid each fitted parameter starts from; a fixed one keeps its value. */
static const double fit_grid[4][6] = {
    {0.05, 0.1, 0.2, 0.35, 0.6, 0.9},
    {0.0, 0.005, 0.02, 0.08, 0.2, 0.4},
    {0.0, 0.05, 0.1, 0.2, 0.4, 0.7},
    {0.8, 0.86, 0.9, 0.93, 0.96, 0.98},
};

/* A fitted damping stays in [0.8, 0.98], as usual: below, the trend is gone within a few steps and a one-step fit
 * may pick it to chase noise; above, it cannot be told from 1. */
#define FIT_DAMPING_LOW 0.8
#define FIT_DAMPING_HIGH 0.98

static double clamp_parameter(size_t p, double value)
{
    double low = p == 1 || p == 2 ? 0 : p == 3 ? FIT_DAMPING_LOW : 0.01, high = p == 3 ? FIT_DAMPING_HIGH : 1;
    return value < low ? low : value > high ? high : value;
}

/* The usual region of the weights (Hyndman et al.): the trend moves no faster than the level (beta <= alpha) and the
 * season takes no more than the level leaves (gamma <= 1 - alpha); a fixed weight bounds nothing. */
static void keep_in_usual_region(const bool fitted[4], double point[4])
{
    for (size_t p = 0; p < 4; p++)
        point[p] = fitted[p] ? clamp_parameter(p, point[p]) : point[p];
    if (fitted[1] && point[1] > point[0])
        point[1] = point[0];
    if (fitted[2] && point[2] > 1 - point[0])
        point[2] = 1 - point[0];
}

/* Keeps trial when it scores better than *best_score. */
static void fit_try(fit_scratch *scratch, const double trial[4], double best[4], double *best_score)
{
    double score = fit_score(scratch, trial);
    if (score < *best_score) {
        *best_score = score;
        memcpy(best, trial, 4 * sizeof *best);
    }
}

/* A grid over the fitted weights (6 values each) with the damping at its start, then the damping's 6 values with
 * the best weights (a full grid over all four cost 6 x as much for no better fits on the NAB series). */
static void fit_grid_search(fit_scratch *scratch, const bool fitted[4], double best[4])
{
    double best_score = fit_score(scratch, best), trial[4];
    size_t sizes[3];
    for (size_t p = 0; p < 3; p++)
        sizes[p] = fitted[p] ? 6 : 1;
    double start[4];
    memcpy(start, best, sizeof start);
    for (size_t i0 = 0; i0 < sizes[0]; i0++)
        for (size_t i1 = 0; i1 < sizes[1]; i1++)
            for (size_t i2 = 0; i2 < sizes[2]; i2++) {
                size_t index[3] = {i0, i1, i2};
                for (size_t p = 0; p < 3; p++)
                    trial[p] = fitted[p] ? fit_grid[p][index[p]] : start[p];
                trial[3] = start[3];
                if ((fitted[1] && trial[1] > trial[0]) || (fitted[2] && trial[2] > 1 - trial[0]))
                    continue;
                fit_try(scratch, trial, best, &best_score);
            }
    for (size_t i3 = 0; fitted[3] && i3 < 6; i3++) {
        memcpy(trial, best, sizeof trial);
        trial[3] = fit_grid[3][i3];
        fit_try(scratch, trial, best, &best_score);
    }
}

/* ## Nelder-Mead over the fitted parameters, inside their bounds ------------------------------------------------ */

#define SIMPLEX_EVALUATIONS 90
#define SIMPLEX_TOLERANCE 1e-7

typedef struct simplex {
    fit_scratch *scratch;
    const bool *fitted;
    size_t dimensions;
    double point[5][4]; /* dimensions + 1 vertices, each a full parameter set; fixed ones never move */
    double score[5];
    size_t evaluations;
} simplex;

/* Scores a point after putting it back inside the bounds, which is where it stays. */
static double simplex_score(simplex *s, double *point)
{
    keep_in_usual_region(s->fitted, point);
    s->evaluations++;
    return fit_score(s->scratch, point);
}

/* from + factor * (from - towards), for the fitted parameters. */
static void simplex_move(const simplex *s, const double *from, const double *towards, double factor, double *out)
{
    for (size_t p = 0; p < 4; p++)
        out[p] = s->fitted[p] ? from[p] + factor * (from[p] - towards[p]) : from[p];
}

/* Vertices sorted by score, best first (at most five: insertion). */
static void simplex_sort(simplex *s)
{
    for (size_t i = 1; i <= s->dimensions; i++)
        for (size_t j = i; j > 0 && s->score[j] < s->score[j - 1]; j--) {
            double point[4], score = s->score[j];
            memcpy(point, s->point[j], sizeof point);
            memcpy(s->point[j], s->point[j - 1], sizeof point);
            memcpy(s->point[j - 1], point, sizeof point);
            s->score[j] = s->score[j - 1];
            s->score[j - 1] = score;
        }
}

/* One iteration: reflect the worst vertex through the centre of the others, expand or contract, else shrink. */
static void simplex_iterate(simplex *s)
{
    size_t worst = s->dimensions;
    double centre[4] = {0}, reflected[4], other[4];
    for (size_t i = 0; i < worst; i++)
        for (size_t p = 0; p < 4; p++)
            centre[p] += s->point[i][p] / (double)worst;
    simplex_move(s, centre, s->point[worst], 1, reflected);
    double reflected_score = simplex_score(s, reflected);
    if (reflected_score < s->score[0]) {
        simplex_move(s, centre, s->point[worst], 2, other);
        double expanded_score = simplex_score(s, other);
        bool expanded = expanded_score < reflected_score;
        memcpy(s->point[worst], expanded ? other : reflected, sizeof other);
        s->score[worst] = expanded ? expanded_score : reflected_score;
        return;
    }
    if (reflected_score < s->score[worst - 1]) {
        memcpy(s->point[worst], reflected, sizeof reflected);
        s->score[worst] = reflected_score;
        return;
    }
    simplex_move(s, centre, s->point[worst], -0.5, other); /* halfway from the centre to the worst */
    double contracted_score = simplex_score(s, other);
    if (contracted_score < s->score[worst]) {
        memcpy(s->point[worst], other, sizeof other);
        s->score[worst] = contracted_score;
        return;
    }
    for (size_t i = 1; i <= worst; i++) {
        simplex_move(s, s->point[0], s->point[i], -0.5, s->point[i]);
        s->score[i] = simplex_score(s, s->point[i]);
    }
}

/* Refines best within a budget of evaluations; the best vertex is never worse than where it started. */
static void fit_simplex(fit_scratch *scratch, const bool fitted[4], double best[4])
{
    static const double spread[4] = {0.1, 0.02, 0.1, 0.03};
    simplex s = {.scratch = scratch, .fitted = fitted};
    memcpy(s.point[0], best, 4 * sizeof *best);
    s.score[0] = simplex_score(&s, s.point[0]);
    for (size_t p = 0; p < 4; p++) {
        if (!fitted[p])
            continue;
        size_t v = ++s.dimensions;
        memcpy(s.point[v], best, 4 * sizeof *best);
        double high = p == 3 ? FIT_DAMPING_HIGH : 1;
        s.point[v][p] += best[p] + spread[p] <= high ? spread[p] : -spread[p];
        s.score[v] = simplex_score(&s, s.point[v]);
    }
    if (s.dimensions == 0)
        return;
    simplex_sort(&s);
    while (s.evaluations < SIMPLEX_EVALUATIONS &&
           s.score[s.dimensions] - s.score[0] > SIMPLEX_TOLERANCE * fabs(s.score[0])) {
        simplex_iterate(&s);
        simplex_sort(&s);
    }
    memcpy(best, s.point[0], 4 * sizeof *best);
}

/* The grid on the first samples alone (as many as the first fit has: the grid only picks a start, and scoring it
 * on everything costs most of a fit), then Nelder-Mead on all of them from the grid's best. */
static void fit_search(fit_scratch *scratch, const bool fitted[4], double best[4])
{
    size_t total = scratch->total, first = fit_length(&scratch->model.config);
    scratch->total = first < total ? first : total;
    fit_grid_search(scratch, fitted, best);
    scratch->total = total;
    fit_simplex(scratch, fitted, best);
}

/* ## The initial states by least squares (additive seasons) ------------------------------------------------------
 *
 * With the weights fixed, the additive recursions are linear in the state and the values, so the one-step errors
 * from an initial state x (level, trend, season table) are e = e0 + E x: e0 the errors from the zero state, E's
 * column j those of a run on zero values from the unit state j. The x with the least squared error solves
 * (E'E) x = -E'e0. The system does not depend on time but through the phase, so phase p's column is phase 0's
 * delayed by p samples: 2 + period_count runs give all of E, and each entry of E'E is a sum of lagged products of
 * two runs. Forming it costs O(samples x states), solving it (Cholesky) O(states^3): beyond LEAST_SQUARES_STATES the
 * fit keeps the classical initial states, as it does with missing samples (a gap breaks the delay structure) and
 * for multiplicative seasons (not linear). */

#define LEAST_SQUARES_STATES 600
/* Added to the diagonal, relative to it: the sum of a season's indices and the level trade off exactly (adding c to
 * every index and -c to the level changes no forecast), so E'E is singular without it. */
#define LEAST_SQUARES_RIDGE 1e-9

/* The sum of u[tau + lag] * v[tau] over tau < length, in four running sums: one would wait on each addition. */
static double lagged_dot(const double *u, const double *v, size_t lag, size_t length)
{
    const double *a = u + lag;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t t = 0;
    for (; t + 4 <= length; t += 4) {
        s0 += a[t] * v[t];
        s1 += a[t + 1] * v[t + 1];
        s2 += a[t + 2] * v[t + 2];
        s3 += a[t + 3] * v[t + 3];
    }
    for (; t < length; t++)
        s0 += a[t] * v[t];
    return (s0 + s1) + (s2 + s3);
}

/* out[i] = the sum of u[tau + lag] * v[tau] over tau < longest - i, for i < count: from the shortest up. */
static void lagged_sums(const double *u, const double *v, size_t lag, size_t longest, size_t count, double *out)
{
    double sum = lagged_dot(u, v, lag, longest - (count - 1));
    out[count - 1] = sum;
    for (size_t i = count - 1; i-- > 0;) {
        size_t tau = longest - i - 1;
        sum += u[tau + lag] * v[tau];
        out[i] = sum;
    }
}

/* The one-step errors of n samples of values (NULL: all zero) from the initial state `start`. */
static void errors_from(hw_model *model, const double *values, size_t n, const double *start, double *errors)
{
    set_state(model, start);
    size_t phase[SEASONS_MAX] = {0};
    for (size_t t = 0; t < n; t++) {
        errors[t] = model_step(model, phase, values ? values[t] : 0);
        advance_phases(&model->config, phase);
    }
}

/* The normal equations' matrix E'E (states x states: its upper triangle and diagonal) from the runs: run 0 the
 * level's, 1 the trend's, 2 + k season k's phase 0, which delayed by p is phase p's. sums: room for the longest
 * period's numbers. */
static void normal_matrix(const holt_winters *c, const double *const *runs, size_t n, double *gram, double *sums)
{
    size_t states = 2 + c->season_total;
    for (size_t i = 0; i < 2; i++)
        for (size_t j = i; j < 2; j++)
            gram[i * states + j] = lagged_dot(runs[i], runs[j], 0, n);
    size_t first[SEASONS_MAX];
    for (size_t k = 0, at = 2; k < c->period_count; at += c->periods[k++])
        first[k] = at;
    for (size_t k = 0; k < c->period_count; k++) {
        const double *season = runs[2 + k];
        for (size_t i = 0; i < 2; i++)
            for (size_t p = 0; p < c->periods[k]; p++)
                gram[i * states + first[k] + p] = lagged_dot(runs[i], season, p, n - p);
        for (size_t l = k; l < c->period_count; l++) {
            const double *other = runs[2 + l];
            size_t mk = c->periods[k], ml = c->periods[l];
            /* phase p of season k with phase p + lag of season l */
            for (size_t lag = 0; lag < ml; lag++) {
                size_t count = mk < ml - lag ? mk : ml - lag;
                lagged_sums(season, other, lag, n - lag, count, sums);
                for (size_t p = 0; p < count; p++)
                    gram[(first[k] + p) * states + first[l] + p + lag] = sums[p];
            }
            /* phase q + lag of season k with phase q of season l, lag >= 1; within one season, the mirror image */
            for (size_t lag = 1; l != k && lag < mk; lag++) {
                size_t count = ml < mk - lag ? ml : mk - lag;
                lagged_sums(other, season, lag, n - lag, count, sums);
                for (size_t q = 0; q < count; q++)
                    gram[(first[k] + q + lag) * states + first[l] + q] = sums[q];
            }
        }
    }
}

/* Solves gram x = rhs in place of rhs. gram holds the matrix in its upper triangle and diagonal; its Cholesky
 * factor L (gram = L L') is written over the lower triangle and diagonal, so the sums run along rows. false when the
 * matrix is not positive definite even with the ridge. */
static bool cholesky_solve(double *gram, size_t states, double *rhs)
{
    for (size_t j = 0; j < states; j++) {
        double *row = gram + j * states;
        for (size_t i = 0; i < j; i++) {
            const double *other = gram + i * states;
            row[i] = (other[j] - lagged_dot(row, other, 0, i)) / other[i];
        }
        double diagonal = row[j] * (1 + LEAST_SQUARES_RIDGE) - lagged_dot(row, row, 0, j);
        if (!(diagonal > 0))
            return false;
        row[j] = sqrt(diagonal);
    }
    for (size_t i = 0; i < states; i++) /* L y = rhs */
        rhs[i] = (rhs[i] - lagged_dot(gram + i * states, rhs, 0, i)) / gram[i * states + i];
    for (size_t i = states; i-- > 0;) { /* L' x = y */
        double sum = rhs[i];
        for (size_t k = i + 1; k < states; k++)
            sum -= gram[k * states + i] * rhs[k];
        rhs[i] = sum / gram[i * states + i];
    }
    return true;
}

/* Each season's indices summing to 0, the level taking their mean: the same forecasts (see LEAST_SQUARES_RIDGE). */
static void centre_seasons(const holt_winters *c, double *state)
{
    double *table = state + 2;
    for (size_t k = 0; k < c->period_count; table += c->periods[k++]) {
        double mean = 0;
        for (size_t p = 0; p < c->periods[k]; p++)
            mean += table[p] / (double)c->periods[k];
        for (size_t p = 0; p < c->periods[k]; p++)
            table[p] -= mean;
        state[0] += mean;
    }
}

/* The initial states with the least squared one-step error over every sample, for the weights in scratch's config,
 * into state; false when out of memory or the system is singular. */
static bool least_squares_start(fit_scratch *scratch, double *state)
{
    hw_model *model = &scratch->model;
    const holt_winters *c = &model->config;
    const hydra_host *host = c->host;
    size_t n = scratch->total, states = 2 + c->season_total, run_count = 2 + c->period_count;
    double *runs = host->alloc(host, (run_count + 1) * n * sizeof(double));
    double *gram = host->alloc(host, (states * states + states) * sizeof(double));
    bool solved = false;
    if (runs && gram) {
        double *unit = gram + states * states, *errors = runs + run_count * n;
        const double *run[2 + SEASONS_MAX];
        memset(unit, 0, states * sizeof(double));
        errors_from(model, scratch->values, n, unit, errors);
        for (size_t r = 0, table = 2; r < run_count; r++) {
            size_t j = r < 2 ? r : table; /* season k's phase 0 */
            if (r >= 2)
                table += c->periods[r - 2];
            unit[j] = 1;
            errors_from(model, NULL, n, unit, runs + r * n);
            unit[j] = 0;
            run[r] = runs + r * n;
        }
        for (size_t j = 0, k = 0, table = 2; j < states; j++) { /* the right-hand side, -E'e0 */
            if (j >= 2 && j == table + c->periods[k])
                table += c->periods[k++];
            size_t delay = j < 2 ? 0 : j - table;
            state[j] = -lagged_dot(errors, run[j < 2 ? j : 2 + k], delay, n - delay);
        }
        normal_matrix(c, run, n, gram, unit);
        solved = cholesky_solve(gram, states, state);
        if (solved)
            centre_seasons(c, state);
    }
    host->free(host, runs);
    host->free(host, gram);
    return solved;
}

static bool has_missing(const double *values, size_t count)
{
    for (size_t t = 0; t < count; t++)
        if (isnan(values[t]))
            return true;
    return false;
}

/* The classical initial states (initialise), into state. */
static void classical_start(hw_model *model, const double *values, size_t total, double *state)
{
    model->warm_up = (double *)values;
    choose_shift(model);
    initialise(model, total / model->config.season_length);
    model->warm_up = NULL;
    state[0] = model->level;
    state[1] = model->trend;
    memcpy(state + 2, model->season, model->config.season_total * sizeof(double));
}

/* For the weights the search found (on the classical initial states), the initial states with the least squared
 * one-step error over every sample, when they score better than the classical ones. Returns them (to free), or NULL
 * when the classical ones stay: asked for, multiplicative, too many states, missing samples, out of memory. The
 * weights are not searched again on these states: alternating both lowered the error a little more, but on a short
 * history it traded a sound trend for one fitted to the first samples (NAB iio_us-east-1, MASE 0.66 -> 5.5). */
static double *fit_initial_states(fit_scratch *scratch, const double best[4])
{
    const holt_winters *c = &scratch->model.config;
    const hydra_host *host = c->host;
    size_t states = 2 + c->season_total;
    if (!c->estimate_start || c->multiplicative || states > LEAST_SQUARES_STATES ||
        has_missing(scratch->values, scratch->total))
        return NULL;
    double *classical = host->alloc(host, 2 * states * sizeof(double));
    if (!classical)
        return NULL;
    double *estimated = classical + states;
    classical_start(&scratch->model, scratch->values, scratch->total, classical);
    scratch->start = classical;
    double classical_score = fit_score(scratch, best); /* also sets the weights the least squares are for */
    bool better = false;
    if (least_squares_start(scratch, estimated)) {
        scratch->start = estimated;
        better = fit_score(scratch, best) < classical_score;
    }
    scratch->start = NULL;
    if (better)
        memmove(classical, estimated, states * sizeof(double));
    else
        host->free(host, classical);
    return better ? classical : NULL;
}

/* A fit point is reached: fits on every sample so far, then rebuilds the model on them with what was found. Out of
 * memory for the scratch table, the model keeps the parameters it has. */
static void model_fit(hw_model *model)
{
    const hydra_host *host = model->config.host;
    holt_winters *c = &model->config;
    fit_scratch scratch = {.model = {.config = *c}, .values = model->fit_buffer, .total = model->count};
    /* each fit starts from the same point, whatever earlier fits found: fits are independent of each other */
    scratch.model.config.alpha = 0.3;
    scratch.model.config.beta = 0.01;
    scratch.model.config.gamma = 0.1;
    scratch.model.config.phi = 0.98;
    scratch.model.season = host->alloc(host, c->season_total * sizeof(double));
    double *start = NULL; /* the initial states fitted with the weights, or NULL: the classical ones */
    if (scratch.model.season) {
        const bool fitted[4] = {c->fit_alpha, c->fit_beta, c->fit_gamma, c->fit_phi};
        const holt_winters *first = &scratch.model.config;
        double best[4] = {c->fit_alpha ? first->alpha : c->alpha, c->fit_beta ? first->beta : c->beta,
                          c->fit_gamma ? first->gamma : c->gamma, c->fit_phi ? first->phi : c->phi};
        fit_search(&scratch, fitted, best);
        start = fit_initial_states(&scratch, best);
        host->free(host, scratch.model.season);
        c->alpha = best[0];
        c->beta = best[1];
        c->gamma = best[2];
        c->phi = best[3];
        host->log(host, HYDRA_LOG_DEBUG, "fitted alpha %.4f beta %.4f gamma %.4f damping %.4f", c->alpha, c->beta,
                  c->gamma, c->phi);
    }
    run_from_start(model, model->fit_buffer, model->count, start);
    host->free(host, start);
    model->steps_known = 0; /* the per-step tables depend on the parameters */
}

/* At a fit point: fits (unless model_open skips it), then keeps the buffer for the next one, long enough for it. Out
 * of memory for it, the model keeps its fit. */
static void model_reach_fit_point(hw_model *model)
{
    const hydra_host *host = model->config.host;
    if (model->count >= model->fits_skipped)
        model_fit(model);
    model->fit_at = next_fit(&model->config, model->count);
    double *longer = model->fit_at ? host->alloc(host, model->fit_at * sizeof(double)) : NULL;
    if (longer)
        memcpy(longer, model->fit_buffer, model->count * sizeof(double));
    else
        model->fit_at = 0;
    host->free(host, model->fit_buffer);
    model->fit_buffer = longer;
}

static void model_take(hw_model *model, double value)
{
    size_t m = model->config.season_length;
    if (model->count == 0 && isnan(value)) {
        model->skipped++;
        return;
    }
    if (model->warm_up) {
        model->warm_up[model->count++] = value;
        if (model->count == 2 * m)
            model_start(model);
        return;
    }
    record_error(model, model_step(model, model->phase, value), true);
    model->count++;
    advance_phases(&model->config, model->phase);
    if (model->fit_buffer) {
        model->fit_buffer[model->count - 1] = value;
        if (model->count == model->fit_at)
            model_reach_fit_point(model);
    }
}

/* The RMS of the out-of-sample errors, or, when the series is only the two seasons used to initialise, of all of
 * them (in-sample, so likely too narrow, but better than none). */
static double model_sigma(const hw_model *model)
{
    if (model->errors_late)
        return sqrt(model->squares_late / (double)model->errors_late);
    return model->errors_all ? sqrt(model->squares_all / (double)model->errors_all) : 0;
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

/* Only when the caller asked for components: the controller does not. parts: level, trend, then each season. */
static void write_components(hydra_forecast *out, size_t i, const double *parts, size_t count)
{
    for (size_t c = 0; c < count; c++)
        if (out->components[c])
            out->components[c][i] = parts[c];
}

static bool wants_components(const hydra_forecast *out)
{
    for (size_t c = 0; c < 2 + SEASONS_MAX; c++)
        if (out->components[c])
            return true;
    return false;
}

/* One season is "season"; several are named by their length in time when the step tells it ("daily", "weekly"),
 * else by their length in samples ("season_96"). */
static void season_name(const hw_model *model, size_t k, char *name)
{
    const holt_winters *c = &model->config;
    double seconds = (double)c->periods[k] * model->step;
    if (c->period_count == 1)
        strcpy(name, "season");
    else if (seconds == 86400)
        strcpy(name, "daily");
    else if (seconds == 7 * 86400)
        strcpy(name, "weekly");
    else
        snprintf(name, HYDRA_COMPONENT_NAME_MAX, "season_%zu", c->periods[k]);
}

/* Copies rather than formats: a forecast every tick for every target made snprintf show in profiles. */
static void name_components(const hw_model *model, hydra_forecast *out)
{
    out->component_count = 2 + model->config.period_count;
    memcpy(out->component_names[0], "level", sizeof "level");
    memcpy(out->component_names[1], "trend", sizeof "trend");
    for (size_t k = 0; k < model->config.period_count; k++)
        memcpy(out->component_names[2 + k], model->season_names[k], HYDRA_COMPONENT_NAME_MAX);
}

/* Step h's error is the sum of the shocks since the last sample, each carried forward through level, damped trend
 * and (every full season) the index: c_j = alpha * (1 + beta * (phi + ... + phi^j)) + gamma' [j mod m == 0].
 * gamma' = gamma * (1 - alpha) because our index moves towards value - new level, which holds (1 - alpha) of the
 * error; with phi = 1 this is the usual additive Holt-Winters approximation. */
static double shock_weight(const holt_winters *c, size_t j, double damped_sum)
{
    double seasonal = 0;
    for (size_t k = 0; k < c->period_count; k++)
        seasonal += j % c->periods[k] == 0 ? c->gamma * (1 - c->alpha) : 0;
    return c->alpha * (1 + c->beta * damped_sum) + seasonal;
}

/* Fills the per-step tables up to horizon steps; -1 when out of memory. */
static int know_steps(hw_model *model, size_t horizon)
{
    if (horizon <= model->steps_known)
        return 0;
    const hydra_host *host = model->config.host;
    double *damped_sums = host->alloc(host, horizon * sizeof(double));
    double *spreads = host->alloc(host, horizon * sizeof(double));
    if (!damped_sums || !spreads) {
        host->free(host, damped_sums);
        host->free(host, spreads);
        host->set_error(host, "out of memory for a forecast of %zu steps", horizon);
        return -1;
    }
    const holt_winters *c = &model->config;
    double damped_sum = 0, power = 1, variance_multiplier = 1;
    for (size_t i = 0; i < horizon; i++) {
        power *= c->phi;
        damped_sum += power;
        damped_sums[i] = damped_sum;
        spreads[i] = sqrt(variance_multiplier);
        double weight = shock_weight(c, i + 1, damped_sum);
        variance_multiplier += weight * weight;
    }
    host->free(host, model->damped_sums);
    host->free(host, model->spreads);
    model->damped_sums = damped_sums;
    model->spreads = spreads;
    model->steps_known = horizon;
    return 0;
}

/* Level, trend and each season's part: additive, its index; multiplicative, what it adds to the forecast of the
 * shorter seasons before it, so the parts still add up to the mean. */
static void write_forecast_components(const hw_model *model, hydra_forecast *out, size_t i, double trend,
                                      double *const *index)
{
    const holt_winters *c = &model->config;
    double parts[2 + SEASONS_MAX] = {model->level - model->shift, trend};
    double so_far = model->level + trend;
    for (size_t k = 0; k < c->period_count; k++) {
        parts[2 + k] = c->multiplicative ? so_far * (*index[k] - 1) : *index[k];
        so_far += parts[2 + k];
    }
    write_components(out, i, parts, 2 + c->period_count);
}

static void write_forecast(const hw_model *model, hydra_forecast *out)
{
    const holt_winters *c = &model->config;
    double sigma = model_sigma(model);
    bool components = wants_components(out);
    size_t phase[SEASONS_MAX];
    memcpy(phase, model->phase, sizeof phase);
    double *index[SEASONS_MAX];
    for (size_t i = 0; i < out->horizon; i++) {
        double combined = seasons_at(model, phase, index);
        advance_phases(c, phase);
        double trend = model->damped_sums[i] * model->trend, base = model->level + trend;
        double season = c->multiplicative ? base * (combined - 1) : combined;
        double raw = model->level - model->shift + trend + season;
        double sd = sigma * model->spreads[i] * (c->multiplicative ? combined : 1);
        write_interval(out, i, raw, sd);
        if (components)
            write_forecast_components(model, out, i, trend, index);
    }
    name_components(model, out);
}

/* ## Models: one per target, fed sample by sample ------------------------------------------------------------- */

static void holt_winters_model_close(void *opaque)
{
    hw_model *model = opaque;
    if (!model)
        return;
    const hydra_host *host = model->config.host;
    host->free(host, model->warm_up);
    host->free(host, model->fit_buffer);
    host->free(host, model->season);
    host->free(host, model->damped_sums);
    host->free(host, model->spreads);
    host->free(host, model);
}

static hw_model *model_new(const holt_winters *config, double step)
{
    const hydra_host *host = config->host;
    size_t m = config->season_length;
    hw_model *model = host->alloc(host, sizeof *model);
    if (model) {
        size_t kept = wants_fit(config) ? fit_length(config) : 2 * m;
        *model = (hw_model){.config = *config, .step = step,
                            .season = host->alloc(host, config->season_total * sizeof(double)),
                            .warm_up = host->alloc(host, kept * sizeof(double))};
        for (size_t k = 0; k < config->period_count; k++)
            season_name(model, k, model->season_names[k]);
    }
    if (!model || !model->season || !model->warm_up) {
        holt_winters_model_close(model);
        host->set_error(host, "out of memory for a model with a season of %zu samples", m);
        return NULL;
    }
    return model;
}

static void *holt_winters_model_open(void *opaque, const hydra_series *history)
{
    const holt_winters *config = opaque;
    if (history && history->count > 0 && !history->values) {
        config->host->set_error(config->host, "model_open: history of %zu samples has no values", history->count);
        return NULL;
    }
    hw_model *model = model_new(config, history ? history->step : 0);
    bool fit_at_end = false;
    if (model && history && wants_fit(config)) {
        size_t skipped = 0;
        while (skipped < history->count && isnan(history->values[skipped]))
            skipped++;
        size_t usable = history->count - skipped;
        /* A history given whole is fitted once, on all of it, as a batch fit is, while its samples are all still
         * kept at its end; else (longer than the refits go) at the last fit point it reaches. */
        fit_at_end = usable >= fit_length(config) && next_fit_after(config, usable) != 0;
        model->fits_skipped = fit_at_end ? SIZE_MAX : last_fit_within(config, usable);
    }
    for (size_t t = 0; model && history && t < history->count; t++)
        model_take(model, history->values[t]);
    if (model && fit_at_end && model->fit_buffer && !model->warm_up)
        model_fit(model);
    if (model)
        model->fits_skipped = 0; /* the samples to come refit on the usual schedule */
    return model;
}

static int holt_winters_model_observe(void *opaque, double value)
{
    model_take(opaque, value);
    return 0;
}

static int holt_winters_model_forecast(void *opaque, hydra_forecast *out)
{
    hw_model *model = opaque;
    const hydra_host *host = model->config.host;
    size_t m = model->config.season_length;
    if (!model->warm_up) {
        if (know_steps(model, out->horizon) != 0)
            return -1;
        write_forecast(model, out);
        return 0;
    }
    if (model->count == 0)
        host->set_error(host,
                        "holt_winters has no observed sample yet (%zu missing); it needs %zu (two seasons of %zu) "
                        "before it can forecast",
                        model->skipped, 2 * m, m);
    else
        host->set_error(host,
                        "holt_winters has %zu samples from the first observed one and needs %zu (two seasons of %zu) "
                        "before it can forecast",
                        model->count, 2 * m, m);
    return -1;
}

/* ## Saved models: the fitted parameters and the state, as text (the model registry) -------------------------- */

/* 2: several seasons, and the samples kept for the refits to come. 3: refits after every season (96 samples at
 * least), not each time the samples double (a format 2 model is read, its next refit moved to the new schedule). */
static const char *const saved_numbers[] = {"alpha", "beta", "gamma", "damping", "level", "trend", "shift",
                                            "value_min", "lowest", "scale", "level_floor", "squares_all",
                                            "squares_late", "step"};
#define SAVE_FORMAT 3

static bool model_fitted(const hw_model *model)
{
    return !model->warm_up && (!model->fit_buffer || model->count >= fit_length(&model->config));
}

static long long holt_winters_model_save(void *opaque, char *buffer, size_t size)
{
    const hw_model *model = opaque;
    const holt_winters *c = &model->config;
    if (!model_fitted(model)) {
        c->host->set_error(c->host, "holt_winters: the model is not fitted yet (%zu samples seen); it is fitted "
                           "after %zu", model->count, wants_fit(c) ? fit_length(c) : 2 * c->season_length);
        return -1;
    }
    model_text_writer w = {buffer, size, 0};
    model_text_put(&w, "holt_winters %d\nseason_lengths", SAVE_FORMAT);
    for (size_t k = 0; k < c->period_count; k++)
        model_text_put(&w, " %zu", c->periods[k]);
    model_text_put(&w, "\nseasonality %s\n", c->multiplicative ? "multiplicative" : "additive");
    const double numbers[] = {c->alpha, c->beta, c->gamma, c->phi, model->level, model->trend, model->shift,
                              model->value_min, model->lowest, model->scale, model->level_floor, model->squares_all,
                              model->squares_late, model->step};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        model_text_put_double(&w, saved_numbers[i], numbers[i]);
    model_text_put(&w, "skipped %zu\ncount %zu\nerrors_all %zu\nerrors_late %zu\nfit_at %zu\n", model->skipped,
                   model->count, model->errors_all, model->errors_late, model->fit_buffer ? model->fit_at : 0);
    const double *table = model->season;
    for (size_t k = 0; k < c->period_count; k++) {
        char name[48];
        snprintf(name, sizeof name, "season_%zu", c->periods[k]);
        model_text_put_doubles(&w, name, table, c->periods[k]);
        table += c->periods[k];
    }
    if (model->fit_buffer)
        model_text_put_doubles(&w, "fit_buffer", model->fit_buffer, model->count);
    return (long long)w.length;
}

/* The settings a model was saved with must be the instance's: a season of another length is another model. */
static bool load_settings_match(const holt_winters *config, const char *text)
{
    const hydra_host *host = config->host;
    char wanted_periods[3 * 24] = "";
    for (size_t k = 0, at = 0; k < config->period_count; k++)
        at += (size_t)snprintf(wanted_periods + at, sizeof wanted_periods - at, k ? " %zu" : "%zu", config->periods[k]);
    const char *saved = model_text_field(text, "season_lengths");
    size_t saved_length = saved ? strcspn(saved, "\n") : 0;
    if (!saved || saved_length != strlen(wanted_periods) || strncmp(saved, wanted_periods, saved_length) != 0) {
        host->set_error(host, "saved model has seasons of %.*s, the config says %s", (int)saved_length,
                        saved ? saved : "", wanted_periods);
        return false;
    }
    const char *seasonality = model_text_field(text, "seasonality");
    const char *wanted = config->multiplicative ? "multiplicative\n" : "additive\n";
    if (!seasonality || strncmp(seasonality, wanted, strlen(wanted)) != 0) {
        host->set_error(host, "saved model's seasonality is not the config's %.*s", (int)strlen(wanted) - 1, wanted);
        return false;
    }
    return true;
}

static bool load_tables(hw_model *model, const char *text, bool doubling)
{
    const hydra_host *host = model->config.host;
    const holt_winters *c = &model->config;
    double *table = model->season;
    for (size_t k = 0; k < c->period_count; k++) {
        char name[48];
        snprintf(name, sizeof name, "season_%zu", c->periods[k]);
        if (!model_text_doubles(host, text, name, table, c->periods[k]))
            return false;
        table += c->periods[k];
    }
    if (doubling && model->fit_at > model->count)
        model->fit_at = next_fit_after(c, model->count);
    if (model->fit_at == 0)
        return true;
    if (model->fit_at != next_fit_after(c, model->count)) {
        host->set_error(host, "saved model: fit_at %zu is not a fit point after %zu samples", model->fit_at,
                        model->count);
        return false;
    }
    model->fit_buffer = host->alloc(host, model->fit_at * sizeof(double));
    if (!model->fit_buffer) {
        host->set_error(host, "out of memory for the %zu samples of a saved model", model->fit_at);
        return false;
    }
    return model_text_doubles(host, text, "fit_buffer", model->fit_buffer, model->count);
}

static bool load_numbers(hw_model *model, const char *text)
{
    const hydra_host *host = model->config.host;
    holt_winters *c = &model->config;
    double *fields[] = {&c->alpha, &c->beta, &c->gamma, &c->phi, &model->level, &model->trend, &model->shift,
                        &model->value_min, &model->lowest, &model->scale, &model->level_floor, &model->squares_all,
                        &model->squares_late, &model->step};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!model_text_double(host, text, saved_numbers[i], fields[i]))
            return false;
    size_t huge = (size_t)1 << 52;
    if (!model_text_size(host, text, "skipped", huge, &model->skipped) ||
        !model_text_size(host, text, "count", huge, &model->count) ||
        !model_text_size(host, text, "errors_all", huge, &model->errors_all) ||
        !model_text_size(host, text, "errors_late", huge, &model->errors_late) ||
        !model_text_size(host, text, "fit_at", FIT_SAMPLES_MAX, &model->fit_at))
        return false;
    bool weights = c->alpha > 0 && c->alpha <= 1 && c->beta >= 0 && c->beta <= 1 && c->gamma >= 0 && c->gamma <= 1 &&
                   c->phi > 0 && c->phi <= 1;
    if (!weights || !isfinite(model->level) || !isfinite(model->trend) || model->count < 2 * c->season_length) {
        host->set_error(host, "saved model: parameters out of range (alpha %g beta %g gamma %g damping %g), a level "
                        "that is not finite, or fewer than two seasons seen", c->alpha, c->beta, c->gamma, c->phi);
        return false;
    }
    return true;
}

static void *holt_winters_model_load(void *opaque, const char *text)
{
    const holt_winters *config = opaque;
    const hydra_host *host = config->host;
    if (text && strncmp(text, "holt_winters 1\n", 15) == 0) {
        host->set_error(host, "saved model is of format 1 (one season, fitted once); this holt_winters reads formats "
                        "2 and %d: fit it again (the registry refits from the service's history)", SAVE_FORMAT);
        return NULL;
    }
    bool doubling = text && strncmp(text, "holt_winters 2\n", 15) == 0; /* format 2: refits when samples doubled */
    if (!text || (!doubling && !model_text_header(host, text, "holt_winters", SAVE_FORMAT)) ||
        !load_settings_match(config, text))
        return NULL;
    holt_winters fitted = *config;
    hw_model *model = model_new(&fitted, 0);
    if (!model)
        return NULL;
    host->free(host, model->warm_up);
    model->warm_up = NULL;
    if (!load_numbers(model, text) || !load_tables(model, text, doubling)) {
        holt_winters_model_close(model);
        return NULL;
    }
    if (!model->fit_buffer) /* no refit to come: what the fit found stays */
        model->config.fit_alpha = model->config.fit_beta = model->config.fit_gamma = model->config.fit_phi = false;
    for (size_t k = 0; k < config->period_count; k++)
        season_name(model, k, model->season_names[k]);
    phases_at(config, model->count, model->phase);
    return model;
}

/* ## Forecasting from a whole history ----------------------------------------------------------------------------- */

static int check_length(const holt_winters *config, const hydra_series *history)
{
    size_t m = config->season_length, skipped = 0;
    while (skipped < history->count && isnan(history->values[skipped]))
        skipped++;
    size_t count = history->count - skipped;
    if (count == 0 && skipped > 0) {
        config->host->set_error(config->host, "history of %zu samples has no observed value (all missing)", skipped);
        return -1;
    }
    if (count / 2 >= m)
        return 0;
    if (skipped > 0)
        config->host->set_error(config->host,
                                "holt_winters needs at least %zu samples (two seasons of %zu) from the first observed "
                                "one, got %zu after %zu missing",
                                2 * m, m, count, skipped);
    else
        config->host->set_error(config->host, "holt_winters needs at least %zu samples (two seasons of %zu), got %zu",
                                2 * m, m, count);
    return -1;
}

static int holt_winters_predict(void *opaque, const hydra_series *history, hydra_forecast *out)
{
    if (check_length(opaque, history) != 0)
        return -1;
    hw_model *model = holt_winters_model_open(opaque, history);
    if (!model)
        return -1;
    int result = holt_winters_model_forecast(model, out);
    holt_winters_model_close(model);
    return result;
}

/* ## Descriptor ---------------------------------------------------------------------------------------------- */

static const hydra_forecaster_ops holt_winters_ops = {
    .size = sizeof(hydra_forecaster_ops),
    .predict = holt_winters_predict,
    .model_open = holt_winters_model_open,
    .model_observe = holt_winters_model_observe,
    .model_forecast = holt_winters_model_forecast,
    .model_close = holt_winters_model_close,
    .model_save = holt_winters_model_save,
    .model_load = holt_winters_model_load,
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
