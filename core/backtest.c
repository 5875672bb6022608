#include "backtest.h"

#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct forecast_buffers {
    hydra_forecast forecast;
    double *storage;
} forecast_buffers;

static void buffers_init(forecast_buffers *b, size_t horizon)
{
    b->storage = xcalloc(5 * horizon, sizeof *b->storage);
    b->forecast = (hydra_forecast){
        .horizon = horizon,
        .mean = b->storage,
        .lower80 = b->storage + horizon,
        .upper80 = b->storage + 2 * horizon,
        .lower95 = b->storage + 3 * horizon,
        .upper95 = b->storage + 4 * horizon,
    };
}

/* The value whole seasons before target, at or before the last seen sample (origin - 1); NAN when none. */
static double seasonal_naive(const hydra_series *series, size_t origin, size_t target, size_t season)
{
    size_t back = season * ((target - origin) / season + 1);
    return back <= target ? series->values[target - back] : NAN;
}

static void record_points(backtest_result *result, const hydra_series *series, const backtest_options *options,
                          size_t origin, const hydra_forecast *f, size_t *capacity)
{
    for (size_t k = 0; k < options->horizon_count; k++) {
        size_t target = origin + options->horizons[k] - 1, step = options->horizons[k] - 1;
        if (target >= series->count || !isfinite(series->values[target]) || !isfinite(f->mean[step]))
            continue;
        if (result->point_count == *capacity) {
            *capacity = *capacity ? 2 * *capacity : 1024;
            result->points = xrealloc(result->points, *capacity * sizeof *result->points);
        }
        result->points[result->point_count++] = (backtest_point){
            origin, target, k, series->values[target], f->mean[step], f->lower80[step], f->upper80[step],
            f->lower95[step], f->upper95[step], seasonal_naive(series, origin, target, options->season),
        };
    }
}

static void compute_errors(backtest_result *result, size_t horizon_count)
{
    for (size_t k = 0; k < horizon_count; k++) {
        double absolute = 0, squared = 0, percent = 0, symmetric = 0, naive = 0;
        size_t count = 0, percent_count = 0, symmetric_count = 0;
        for (size_t i = 0; i < result->point_count; i++) {
            const backtest_point *p = &result->points[i];
            if (p->horizon_index != k || !isfinite(p->naive))
                continue;
            double error = fabs(p->mean - p->actual);
            count++;
            absolute += error;
            squared += error * error;
            naive += fabs(p->naive - p->actual);
            if (p->actual != 0) {
                percent += error / fabs(p->actual);
                percent_count++;
            }
            if (fabs(p->mean) + fabs(p->actual) > 0) {
                symmetric += 2 * error / (fabs(p->mean) + fabs(p->actual));
                symmetric_count++;
            }
        }
        backtest_errors *e = &result->errors[k];
        e->count = count;
        e->mae = count ? absolute / (double)count : NAN;
        e->rmse = count ? sqrt(squared / (double)count) : NAN;
        e->mape = percent_count ? 100 * percent / (double)percent_count : NAN;
        e->smape = symmetric_count ? 100 * symmetric / (double)symmetric_count : NAN;
        e->mase = naive > 0 ? absolute / naive : NAN;
    }
}

static size_t longest_horizon(const backtest_options *options)
{
    size_t longest = 1;
    for (size_t k = 0; k < options->horizon_count; k++)
        longest = options->horizons[k] > longest ? options->horizons[k] : longest;
    return longest;
}

/* The model has seen samples up to *seen; brings it to origin. */
static int model_catch_up(plugin_instance *forecaster, void *model, const hydra_series *series, size_t *seen,
                          size_t origin)
{
    for (; *seen < origin; (*seen)++)
        if (instance_model_observe(forecaster, model, series->values[*seen]) != 0)
            return -1;
    return 0;
}

int backtest_run(plugin_instance *forecaster, const hydra_series *series, const backtest_options *options,
                 backtest_result *result, char *error, size_t error_size)
{
    memset(result, 0, sizeof *result);
    if (options->warmup < 1 || options->warmup >= series->count) {
        format_into(error, error_size, "the series has %zu samples: too few for a warm-up of %zu and one origin",
                    series->count, options->warmup);
        return -1;
    }
    forecast_buffers buffers;
    buffers_init(&buffers, longest_horizon(options));
    bool streaming = instance_has_models(forecaster);
    hydra_series warm_up = *series;
    warm_up.count = options->warmup;
    void *model = streaming ? instance_model_open(forecaster, &warm_up) : NULL;
    size_t seen = options->warmup, capacity = 0;
    int status = streaming && !model ? -1 : 0;
    for (size_t origin = options->warmup; status == 0 && origin < series->count; origin += options->every) {
        hydra_series history = *series;
        history.count = origin;
        status = streaming ? model_catch_up(forecaster, model, series, &seen, origin) : 0;
        if (status != 0)
            break;
        int forecast = streaming ? instance_model_forecast(forecaster, model, &buffers.forecast)
                                 : instance_forecast(forecaster, &history, &buffers.forecast);
        result->origins++;
        if (forecast != 0)
            result->unready_origins++;
        else
            record_points(result, series, options, origin, &buffers.forecast, &capacity);
    }
    if (status != 0)
        format_into(error, error_size, "forecaster %s: %s", instance_name(forecaster), instance_error(forecaster));
    if (model)
        instance_model_close(forecaster, model);
    free(buffers.storage);
    compute_errors(result, options->horizon_count);
    return status;
}

void backtest_result_free(backtest_result *result)
{
    free(result->points);
    memset(result, 0, sizeof *result);
}
