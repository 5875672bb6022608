/* The streaming path of the built-in forecasters (holt_winters, seasonal_naive) and detector (robust_z), as the
 * controller drives it: one model per target, opened on a warm-up history (possibly empty), fed one sample a tick,
 * asked for a short forecast or a score. What it must keep: the same numbers as the batch ops on the same data,
 * synthetic with gaps and a real NAB series; no forecast before the model has what it needs, with a message saying
 * so; models of one instance that do not share anything. Speed is measured by the benchmarks, not here. */
#include "support.h"

#include "metrics.h"
#include "series_csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define TAU 6.283185307179586
#define RELATIVE_TOLERANCE 1e-9

#define NAB_STEP 300.0
#define NAB_DAY 288
#define NAB_TRAFFIC "../shared/datasets/nab/data/realTraffic/occupancy_t4013.csv"
#define NAB_COLLAPSE "../shared/datasets/nab/data/realAWSCloudwatch/grok_asg_anomaly.csv"
#define NAB_CPU "../shared/datasets/nab/data/realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv"

/* ## Helpers: plugins, forecasts, series ----------------------------------------------------------------------- */

static plugin_instance *open_plugin(support_plugin *plugin, const char *kind, const char *name, const char *settings)
{
    plugin_instance *instance = support_plugin_open(plugin, kind, name, settings);
    if (!instance) {
        char reason[sizeof plugin->error];
        memcpy(reason, plugin->error, sizeof reason);
        support_plugin_close(plugin);
        fail_msg("%s %s with \"%s\": %s", kind, name, settings ? settings : "", reason);
    }
    assert_true(instance_has_models(instance));
    return instance;
}

static bool close_enough(double a, double b)
{
    if (a == b)
        return true;
    return fabs(a - b) <= RELATIVE_TOLERANCE * fmax(fabs(a), fabs(b));
}

static void assert_arrays_match(const char *what, size_t step, const double *batch, const double *stream,
                                size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!close_enough(batch[i], stream[i]))
            fail_msg("%s, step %zu, forecast %zu: batch %.17g, streaming %.17g", what, step, i, batch[i], stream[i]);
}

/* Mean, every interval bound and every component agree to RELATIVE_TOLERANCE. */
static void assert_forecasts_match(const char *what, size_t step, const hydra_forecast *batch,
                                   const hydra_forecast *stream)
{
    size_t h = batch->horizon;
    assert_arrays_match(what, step, batch->mean, stream->mean, h);
    assert_arrays_match(what, step, batch->lower80, stream->lower80, h);
    assert_arrays_match(what, step, batch->upper80, stream->upper80, h);
    assert_arrays_match(what, step, batch->lower95, stream->lower95, h);
    assert_arrays_match(what, step, batch->upper95, stream->upper95, h);
    assert_int_equal(batch->component_count, stream->component_count);
    for (size_t c = 0; c < batch->component_count; c++) {
        assert_string_equal(batch->component_names[c], stream->component_names[c]);
        assert_arrays_match(what, step, batch->components[c], stream->components[c], h);
    }
}

static hydra_series series_of(const double *values, size_t count)
{
    return (hydra_series){.values = values, .count = count, .start = 0, .step = 60};
}

/* Deterministic noise in [-1, 1): the same series on every run and machine. */
static double noise(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*seed >> 11) / (double)(1ull << 52) - 1;
}

/* A daily-like pattern on a slow trend with noise, leading missing samples and scattered gaps. With dip > 0 the
 * series goes below zero, in the first seasons and later further down, which multiplicative seasonality has to
 * shift away. */
static double *synthetic_fill(size_t count, size_t period, double dip, uint64_t seed)
{
    double *values = malloc(count * sizeof *values);
    for (size_t t = 0; t < count; t++) {
        double phase = TAU * (double)t / (double)period;
        values[t] = 100 + 0.05 * (double)t + 30 * sin(phase) + 5 * noise(&seed);
        if (dip > 0)
            values[t] -= dip * (1 + (double)t / (double)count) * (sin(phase) > 0.7 ? 1 : 0);
        if (t < 5 || t % 17 == 3 || (t > 4 * period && t < 4 * period + 9))
            values[t] = NAN;
    }
    return values;
}

static double *nab_grid(const char *path, size_t *count)
{
    series_csv csv;
    char error[1024];
    if (series_csv_read(path, NAB_STEP, &csv, error, sizeof error) != 0)
        fail_msg("%s (tests run from the repository root, with the shared folder beside it)", error);
    double *values = malloc(csv.count * sizeof *values);
    memcpy(values, csv.values, csv.count * sizeof *values);
    *count = csv.count;
    series_csv_free(&csv);
    return values;
}

/* ## Forecasters: streaming against batch ----------------------------------------------------------------------- */

/* Opens a model on values[0, warm_up), then, tick by tick, observes the next value and forecasts; at every tick in
 * checks (ascending), the forecast must equal predict() on the whole history so far, or both must fail. */
static void assert_streaming_matches_batch(const char *name, const char *settings, const double *values,
                                           size_t count, size_t warm_up, const size_t *checks, size_t check_count,
                                           size_t horizon)
{
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "forecaster", name, settings);
    hydra_series history = series_of(values, warm_up);
    void *model = instance_model_open(instance, &history);
    assert_non_null(model);
    hydra_forecast batch, stream;
    support_forecast_alloc(&batch, horizon);
    support_forecast_alloc(&stream, horizon);
    char what[256];
    snprintf(what, sizeof what, "%s (%s), warm-up %zu", name, settings, warm_up);
    size_t next = 0;
    for (size_t t = warm_up; t <= count && next < check_count; t++) {
        if (t == checks[next]) {
            history = series_of(values, t);
            support_log_start(); /* too short a history fails both ways, and the host logs it */
            int batch_result = instance_forecast(instance, &history, &batch);
            int stream_result = instance_model_forecast(instance, model, &stream);
            support_log_stop();
            if (batch_result != stream_result)
                fail_msg("%s, step %zu: batch returns %d, streaming %d (%s)", what, t, batch_result, stream_result,
                         instance_error(instance));
            if (batch_result == 0)
                assert_forecasts_match(what, t, &batch, &stream);
            next++;
        }
        if (t < count)
            assert_int_equal(instance_model_observe(instance, model, values[t]), 0);
    }
    assert_int_equal(next, check_count);
    support_forecast_free(&batch);
    support_forecast_free(&stream);
    instance_model_close(instance, model);
    support_plugin_close(&plugin);
}

/* holt_winters, fitting its weights, refits after every season (96 samples at least) from 2 + ceil(96 / m) seasons on,
 * counted from the first observed sample; a history given whole is fitted once, on all of it. The two agree before
 * the first fit and at every fit point: the ticks a history of t values is checked at. */
static bool holt_winters_fits_agree(const double *values, size_t t, size_t m)
{
    size_t first = 0;
    while (first < t && isnan(values[first]))
        first++;
    size_t usable = t - first, first_fit = (2 + (96 + m - 1) / m) * m, every = m > 96 ? m : 96;
    return usable < first_fit || (usable - first_fit) % every == 0;
}

/* Checks at every tick where the fits agree, from a model opened on nothing and from one opened on three seasons. */
static void assert_streaming_matches_batch_every_tick(const char *name, const char *settings, const double *values,
                                                      size_t count, size_t m)
{
    size_t *checks = malloc((count + 1) * sizeof *checks), check_count = 0, from_three_seasons = 0;
    for (size_t t = 0; t <= count; t++) {
        if (!holt_winters_fits_agree(values, t, m))
            continue;
        from_three_seasons += t < 3 * m;
        checks[check_count++] = t;
    }
    assert_true(check_count > 2 * m); /* every tick of the first seasons, and the fit points */
    assert_streaming_matches_batch(name, settings, values, count, 0, checks, check_count, 2 * m + 7);
    assert_streaming_matches_batch(name, settings, values, count, 3 * m, checks + from_three_seasons,
                                   check_count - from_three_seasons, 30);
    free(checks);
}

static void test_holt_winters_streaming_matches_batch_on_series_with_gaps(void **unused)
{
    (void)unused;
    enum { m = 24, count = 12 * m };
    const char *settings[] = {
        "season_length = 24;",
        "season_length = 24; damping = 0.9; beta = 0.05;",
        "season_length = 24; seasonality = \"multiplicative\";",
        "season_length = 24; seasonality = \"multiplicative\"; damping = 0.8; gamma = 0.3;",
        "season_lengths = \"6, 24\";",
        "season_lengths = \"6, 24\"; seasonality = \"multiplicative\"; damped = true;",
    };
    for (size_t dip = 0; dip <= 1; dip++) {
        double *values = synthetic_fill(count, m, dip ? 160 : 0, 7 + dip);
        for (size_t s = 0; s < sizeof settings / sizeof settings[0]; s++)
            assert_streaming_matches_batch_every_tick("holt_winters", settings[s], values, count, m);
        free(values);
    }
}

static void test_seasonal_naive_streaming_matches_batch_on_series_with_gaps(void **unused)
{
    (void)unused;
    enum { m = 24, count = 8 * m };
    double *values = synthetic_fill(count, m, 0, 11);
    size_t checks[count + 1];
    for (size_t i = 0; i <= count; i++)
        checks[i] = i;
    /* from nothing: no forecast before a season, then one from the spread of the data (no season-over-season
     * change yet), then from the changes */
    assert_streaming_matches_batch("seasonal_naive", "season_length = 24;", values, count, 0, checks, count + 1,
                                   3 * m + 5);
    assert_streaming_matches_batch("seasonal_naive", "season_length = 24;", values, count, 2 * m, checks + 2 * m,
                                   count + 1 - 2 * m, 30);
    free(values);
}

/* Four one-day-ahead points at the end of two NAB series, as the controller would reach them after feeding every
 * sample since the start; occupancy_t4013 misses about half its slots, grok_asg_anomaly collapses towards zero. */
static void test_forecasters_streaming_matches_batch_on_nab_series(void **unused)
{
    (void)unused;
    const char *paths[] = {NAB_TRAFFIC, NAB_COLLAPSE};
    const char *settings[][2] = {
        {"holt_winters", "season_length = 288;"},
        {"holt_winters", "season_length = 288; seasonality = \"multiplicative\";"},
        {"holt_winters", "season_length = 288; seasonality = \"multiplicative\"; damping = 0.98;"},
        {"holt_winters", "season_length = 288; damped = true;"}, /* every weight fitted */
        {"seasonal_naive", "season_length = 288;"},
        {"linear", "window = 288;"},
    };
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        size_t count;
        double *values = nab_grid(paths[p], &count);
        assert_true(count > 6 * NAB_DAY);
        size_t checks[4], fit_points[4];
        for (size_t back = 4; back >= 1; back--)
            checks[4 - back] = count - back * NAB_DAY;
        for (size_t t = count, found = 0; found < 4; t--) /* the last four fit points */
            if (holt_winters_fits_agree(values, t, NAB_DAY))
                fit_points[3 - found++] = t;
        for (size_t s = 0; s < sizeof settings / sizeof settings[0]; s++)
            assert_streaming_matches_batch(settings[s][0], settings[s][1], values, count, 0,
                                           strcmp(settings[s][0], "holt_winters") == 0 ? fit_points : checks, 4, 30);
        free(values);
    }
}

/* Between fit points a history given whole is fitted on all of it, as statsmodels fits: after a change that came
 * since the stream's last fit (the daily swing tripled), its forecast of the next day is the closer one. */
static void test_holt_winters_fits_a_whole_history_on_all_of_it(void **unused)
{
    (void)unused;
    enum { m = 24, first_fit = 6 * m, count = first_fit + 96 + 3 * m / 2, horizon = m };
    double values[count + horizon];
    uint64_t seed = 5;
    for (size_t t = 0; t < count + horizon; t++) {
        double swing = t >= first_fit + 96 ? 90 : 30;
        values[t] = 200 + swing * sin(TAU * (double)t / m) + 3 * noise(&seed);
    }
    assert_false(holt_winters_fits_agree(values, count, m));
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "forecaster", "holt_winters", "season_length = 24;");
    hydra_series empty = series_of(values, 0), whole = series_of(values, count);
    void *stream = instance_model_open(instance, &empty);
    for (size_t t = 0; t < count; t++)
        assert_int_equal(instance_model_observe(instance, stream, values[t]), 0);
    hydra_forecast batch, streamed;
    support_forecast_alloc(&batch, horizon);
    support_forecast_alloc(&streamed, horizon);
    assert_int_equal(instance_forecast(instance, &whole, &batch), 0);
    assert_int_equal(instance_model_forecast(instance, stream, &streamed), 0);
    double batch_error = 0, stream_error = 0;
    for (size_t i = 0; i < horizon; i++) {
        batch_error += fabs(batch.mean[i] - values[count + i]) / horizon;
        stream_error += fabs(streamed.mean[i] - values[count + i]) / horizon;
    }
    print_message("mean absolute error over the next day: whole history %.2f, stream since its last fit %.2f\n",
                  batch_error, stream_error);
    assert_true(batch_error < 0.95 * stream_error); /* the same without the final fit */
    support_forecast_free(&batch);
    support_forecast_free(&streamed);
    instance_model_close(instance, stream);
    support_plugin_close(&plugin);
}

/* ## Forecasters: what a model needs before it forecasts ------------------------------------------------------- */

/* Returns model_forecast's result; the plugin's error goes to error. */
static int model_forecast_quietly(plugin_instance *instance, void *model, hydra_forecast *out, char *error,
                                  size_t error_size)
{
    support_log_start(); /* the host logs the failure; the test reads the plugin's own text */
    int result = instance_model_forecast(instance, model, out);
    support_log_stop();
    snprintf(error, error_size, "%s", instance_error(instance));
    return result;
}

static void test_holt_winters_streaming_refuses_to_forecast_before_two_seasons_then_forecasts(void **unused)
{
    (void)unused;
    enum { m = 24, count = 2 * m };
    uint64_t seed = 3;
    double values[count];
    for (size_t t = 0; t < count; t++)
        values[t] = 50 + 10 * sin(TAU * (double)t / m) + noise(&seed);
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "forecaster", "holt_winters", "season_length = 24;");
    void *model = instance_model_open(instance, &(hydra_series){.values = NULL, .count = 0, .step = 60});
    assert_non_null(model);
    hydra_forecast forecast;
    support_forecast_alloc(&forecast, 10);
    char error[2048];

    assert_int_equal(model_forecast_quietly(instance, model, &forecast, error, sizeof error), -1);
    assert_contains(error, "no observed sample yet");
    for (size_t t = 0; t < 3; t++) /* leading gaps: a service that has not reported yet */
        assert_int_equal(instance_model_observe(instance, model, NAN), 0);
    assert_int_equal(model_forecast_quietly(instance, model, &forecast, error, sizeof error), -1);
    assert_contains(error, "no observed sample yet (3 missing)");
    assert_contains(error, "needs 48 (two seasons of 24)");

    for (size_t t = 0; t + 1 < count; t++)
        assert_int_equal(instance_model_observe(instance, model, values[t]), 0);
    assert_int_equal(model_forecast_quietly(instance, model, &forecast, error, sizeof error), -1);
    assert_contains(error, "has 47 samples");
    assert_contains(error, "needs 48 (two seasons of 24)");

    assert_int_equal(instance_model_observe(instance, model, values[count - 1]), 0);
    assert_int_equal(instance_model_forecast(instance, model, &forecast), 0);
    for (size_t i = 0; i < forecast.horizon; i++) {
        assert_true(isfinite(forecast.mean[i]));
        assert_true(fabs(forecast.mean[i] - (50 + 10 * sin(TAU * (double)(count + i) / m))) < 5);
    }
    support_forecast_free(&forecast);
    instance_model_close(instance, model);
    support_plugin_close(&plugin);
}

static void test_seasonal_naive_streaming_refuses_to_forecast_before_one_season(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "forecaster", "seasonal_naive", "season_length = 4;");
    const double warm_up[] = {1, 2, 3};
    void *model = instance_model_open(instance, &(hydra_series){.values = warm_up, .count = 3, .step = 60});
    assert_non_null(model);
    hydra_forecast forecast;
    support_forecast_alloc(&forecast, 6);
    char error[2048];
    assert_int_equal(model_forecast_quietly(instance, model, &forecast, error, sizeof error), -1);
    assert_contains(error, "needs at least 4 samples (one season), got 3");
    assert_int_equal(instance_model_observe(instance, model, 4), 0);
    assert_int_equal(instance_model_forecast(instance, model, &forecast), 0);
    const double expected[] = {1, 2, 3, 4, 1, 2};
    for (size_t i = 0; i < 6; i++)
        assert_true(forecast.mean[i] == expected[i]);
    support_forecast_free(&forecast);
    instance_model_close(instance, model);
    support_plugin_close(&plugin);
}

/* ## Forecasters: models of one instance share nothing ------------------------------------------------------- */

/* Two models fed different series in lockstep: their forecasts differ, and each equals predict() on its own
 * series, as if the other model did not exist. */
static void assert_models_independent(const char *name, const char *settings, size_t m)
{
    size_t count = 6 * m, horizon = 30;
    double *busy = synthetic_fill(count, m, 0, 21), *quiet = malloc(count * sizeof *quiet);
    for (size_t t = 0; t < count; t++)
        quiet[t] = 10 + 2 * cos(TAU * (double)t / (double)m);
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "forecaster", name, settings);
    void *models[2] = {instance_model_open(instance, NULL), instance_model_open(instance, NULL)};
    assert_non_null(models[0]);
    assert_non_null(models[1]);
    for (size_t t = 0; t < count; t++) {
        assert_int_equal(instance_model_observe(instance, models[0], busy[t]), 0);
        assert_int_equal(instance_model_observe(instance, models[1], quiet[t]), 0);
    }
    hydra_forecast streamed[2], batch;
    support_forecast_alloc(&streamed[0], horizon);
    support_forecast_alloc(&streamed[1], horizon);
    support_forecast_alloc(&batch, horizon);
    assert_int_equal(instance_model_forecast(instance, models[0], &streamed[0]), 0);
    assert_int_equal(instance_model_forecast(instance, models[1], &streamed[1]), 0);
    for (size_t i = 0; i < horizon; i++)
        assert_true(fabs(streamed[0].mean[i] - streamed[1].mean[i]) > 20);
    const double *data[2] = {busy, quiet};
    for (size_t k = 0; k < 2; k++) {
        hydra_series history = series_of(data[k], count);
        assert_int_equal(instance_forecast(instance, &history, &batch), 0);
        assert_forecasts_match(name, count, &batch, &streamed[k]);
    }
    instance_model_close(instance, models[0]);
    instance_model_close(instance, models[1]);
    support_forecast_free(&streamed[0]);
    support_forecast_free(&streamed[1]);
    support_forecast_free(&batch);
    support_plugin_close(&plugin);
    free(busy);
    free(quiet);
}

static void test_forecaster_models_from_one_instance_are_independent(void **unused)
{
    (void)unused;
    assert_models_independent("holt_winters", "season_length = 24;", 24);
    assert_models_independent("holt_winters", "season_length = 24; seasonality = \"multiplicative\";", 24);
    assert_models_independent("seasonal_naive", "season_length = 24;", 24);
}

/* ## robust_z: streaming scores against batch scores ------------------------------------------------------------ */

/* Scores values with score() and with a model opened on values[0, warm_up) and fed the rest: identical, bit for
 * bit, from warm_up on. */
static void assert_scores_identical(const char *settings, const double *values, size_t count, size_t warm_up)
{
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", settings);
    double *batch = malloc((count ? count : 1) * sizeof *batch);
    hydra_series series = series_of(values, count);
    assert_int_equal(instance_score(instance, &series, batch), 0);
    hydra_series history = series_of(values, warm_up);
    void *model = instance_model_open(instance, &history);
    assert_non_null(model);
    for (size_t i = warm_up; i < count; i++) {
        double score = -1;
        assert_int_equal(instance_model_score(instance, model, values[i], &score), 0);
        if (memcmp(&score, &batch[i], sizeof score) != 0)
            fail_msg("robust_z (%s), warm-up %zu, sample %zu: batch %.17g, streaming %.17g", settings, warm_up, i,
                     batch[i], score);
    }
    instance_model_close(instance, model);
    free(batch);
    support_plugin_close(&plugin);
}

static void test_robust_z_streaming_scores_match_batch_on_series_with_gaps(void **unused)
{
    (void)unused;
    enum { m = 24, count = 40 * m };
    double *values = synthetic_fill(count, m, 0, 5);
    values[100] = INFINITY; /* not a measurement: scores 0, stays out of the window */
    values[101] = -INFINITY;
    values[300] = 900;      /* a spike */
    for (size_t t = 500; t < 560; t++)
        values[t] = 80; /* a flat stretch: MAD 0, the mean deviation takes over */
    const char *settings[] = {NULL, "window = 5; min_samples = 1;", "window = 50; min_samples = 20;",
                              "window = 100; threshold = 2.0;"};
    for (size_t s = 0; s < sizeof settings / sizeof settings[0]; s++) {
        assert_scores_identical(settings[s], values, count, 0);
        assert_scores_identical(settings[s], values, count, 333);
    }
    free(values);
}

static void test_robust_z_streaming_scores_match_batch_on_nab_series(void **unused)
{
    (void)unused;
    const char *paths[] = {NAB_CPU, NAB_TRAFFIC};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        size_t count;
        double *values = nab_grid(paths[p], &count);
        assert_scores_identical(NULL, values, count, 0);
        assert_scores_identical(NULL, values, count, NAB_DAY * 3);
        free(values);
    }
}

static void test_robust_z_models_from_one_instance_are_independent(void **unused)
{
    (void)unused;
    enum { count = 400 };
    uint64_t seed = 9;
    double calm[count], wild[count];
    for (size_t t = 0; t < count; t++) {
        calm[t] = 10 + 0.1 * noise(&seed);
        wild[t] = 10 + 8 * noise(&seed);
    }
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", NULL);
    void *models[2] = {instance_model_open(instance, NULL), instance_model_open(instance, NULL)};
    assert_non_null(models[0]);
    assert_non_null(models[1]);
    double scores[2][count];
    for (size_t t = 0; t < count; t++) {
        assert_int_equal(instance_model_score(instance, models[0], calm[t], &scores[0][t]), 0);
        assert_int_equal(instance_model_score(instance, models[1], wild[t], &scores[1][t]), 0);
    }
    /* 13 is far outside the calm history and well inside the wild one */
    double jump[2];
    assert_int_equal(instance_model_score(instance, models[0], 13, &jump[0]), 0);
    assert_int_equal(instance_model_score(instance, models[1], 13, &jump[1]), 0);
    assert_true(jump[0] > 0.99);
    assert_true(jump[1] < 0.1);
    double batch[count];
    const double *data[2] = {calm, wild};
    for (size_t k = 0; k < 2; k++) {
        hydra_series series = series_of(data[k], count);
        assert_int_equal(instance_score(instance, &series, batch), 0);
        assert_memory_equal(batch, scores[k], sizeof batch);
    }
    instance_model_close(instance, models[0]);
    instance_model_close(instance, models[1]);
    support_plugin_close(&plugin);
}

/* The counter is reported in batches; every score is in it once the model is closed. */
static void test_robust_z_model_scores_are_counted_by_close(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", NULL);
    double before = metrics_value(instance_name(instance), "samples_scored");
    assert_false(isnan(before));
    void *model = instance_model_open(instance, &(hydra_series){.values = NULL, .count = 0, .step = 60});
    assert_non_null(model);
    for (size_t t = 0; t < 1000; t++) {
        double score;
        assert_int_equal(instance_model_score(instance, model, (double)(t % 7), &score), 0);
    }
    instance_model_close(instance, model);
    assert_float_equal(metrics_value(instance_name(instance), "samples_scored") - before, 1000, 0);
    support_plugin_close(&plugin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holt_winters_streaming_matches_batch_on_series_with_gaps),
        cmocka_unit_test(test_seasonal_naive_streaming_matches_batch_on_series_with_gaps),
        cmocka_unit_test(test_forecasters_streaming_matches_batch_on_nab_series),
        cmocka_unit_test(test_holt_winters_fits_a_whole_history_on_all_of_it),
        cmocka_unit_test(test_holt_winters_streaming_refuses_to_forecast_before_two_seasons_then_forecasts),
        cmocka_unit_test(test_seasonal_naive_streaming_refuses_to_forecast_before_one_season),
        cmocka_unit_test(test_forecaster_models_from_one_instance_are_independent),
        cmocka_unit_test(test_robust_z_streaming_scores_match_batch_on_series_with_gaps),
        cmocka_unit_test(test_robust_z_streaming_scores_match_batch_on_nab_series),
        cmocka_unit_test(test_robust_z_models_from_one_instance_are_independent),
        cmocka_unit_test(test_robust_z_model_scores_are_counted_by_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
