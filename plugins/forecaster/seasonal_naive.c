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
/* Keeps the per-call phase table (8 bytes a phase) to a sane size whatever the config says. */
#define SEASON_LENGTH_MAX 10000000LL

#define Z80 1.2815516
#define Z95 1.959964

typedef struct seasonal_naive {
    const hydra_host *host;
    size_t season_length;
} seasonal_naive;

/* What the history says: the last observed value at each phase, and the spread of season-over-season changes. */
typedef struct naive_fit {
    double *last_at_phase; /* NAN where that phase was never observed */
    double last_observed;  /* fallback for a phase never observed */
    double sigma;
} naive_fit;

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

/* ## Fitting ------------------------------------------------------------------------------------------------- */

/* One pass: a sample is predicted by the last observed sample at its phase (however many seasons back, so a gap
 * widens the error the same way it widens a real forecast); the RMS of those errors is sigma. */
static void naive_scan(const hydra_series *history, size_t m, naive_fit *fit)
{
    double sum_squares = 0;
    size_t residuals = 0;
    fit->last_observed = NAN;
    for (size_t t = 0; t < history->count; t++) {
        double value = history->values[t];
        if (isnan(value))
            continue;
        double *previous = &fit->last_at_phase[t % m];
        if (!isnan(*previous)) {
            sum_squares += (value - *previous) * (value - *previous);
            residuals++;
        }
        *previous = value;
        fit->last_observed = value;
    }
    fit->sigma = residuals ? sqrt(sum_squares / (double)residuals) : NAN;
}

/* Without a single season-over-season pair (history of one season) there is no error to measure; the spread of the
 * data itself is a wide but honest stand-in, better than an interval of zero width. */
static double spread_of(const hydra_series *history)
{
    double sum = 0, sum_squares = 0;
    size_t count = 0;
    for (size_t t = 0; t < history->count; t++) {
        double value = history->values[t];
        if (isnan(value))
            continue;
        sum += value;
        sum_squares += value * value;
        count++;
    }
    if (count < 2)
        return 0;
    double mean = sum / (double)count;
    double variance = (sum_squares - (double)count * mean * mean) / (double)(count - 1);
    return variance > 0 ? sqrt(variance) : 0;
}

/* ## Forecasting --------------------------------------------------------------------------------------------- */

static double at_least_zero(double value) { return value > 0 ? value : 0; }

static void naive_write(const naive_fit *fit, size_t count, size_t m, hydra_forecast *out)
{
    for (size_t i = 0; i < out->horizon; i++) {
        double value = fit->last_at_phase[(count + i) % m];
        if (isnan(value))
            value = fit->last_observed;
        double seasons_ahead = (double)(i / m + 1);
        double sd = fit->sigma * sqrt(seasons_ahead);
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

static int seasonal_naive_predict(void *opaque, const hydra_series *history, hydra_forecast *out)
{
    const seasonal_naive *state = opaque;
    const hydra_host *host = state->host;
    size_t m = state->season_length;
    if (history->count < m) {
        host->set_error(host, "seasonal_naive needs at least %zu samples (one season), got %zu", m, history->count);
        return -1;
    }
    naive_fit fit = {.last_at_phase = host->alloc(host, m * sizeof(double))};
    if (!fit.last_at_phase) {
        host->set_error(host, "out of memory for a season of %zu samples", m);
        return -1;
    }
    for (size_t p = 0; p < m; p++)
        fit.last_at_phase[p] = NAN;
    naive_scan(history, m, &fit);
    int result = 0;
    if (isnan(fit.last_observed)) {
        host->set_error(host, "history of %zu samples has no observed value (all missing)", history->count);
        result = -1;
    } else {
        if (isnan(fit.sigma))
            fit.sigma = spread_of(history);
        naive_write(&fit, history->count, m, out);
    }
    host->free(host, fit.last_at_phase);
    return result;
}

/* ## Descriptor ---------------------------------------------------------------------------------------------- */

static const hydra_forecaster_ops seasonal_naive_ops = {
    .size = sizeof(hydra_forecaster_ops),
    .predict = seasonal_naive_predict,
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
