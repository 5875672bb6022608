/* Benchmark of the models, printed from one run:
 *   1. Holt-Winters, hydra's against statsmodels' ExponentialSmoothing (scripts/eval/statsmodels_hw.py, run by
 *      /usr/bin/python3 in the same run): the same NAB series, gaps filled the same way, the same split (all but the
 *      last day to fit, the last day to forecast), additive damped trend and daily season. Fit time and MASE (the
 *      forecast's mean absolute error over that of the seasonal naive forecast on the training part), and the
 *      ratios. Target: MASE no worse at a fit at least 100 x faster.
 *   2. The NAB score (standard profile) of each detector over the shared NAB series, by `hydra detect` and
 *      `hydra score-nab`, as the README's table is made.
 *   3. The cost of one tick per service for each streaming forecaster (take the interval, forecast the lead time),
 *      and what 10,000 services would cost per tick. */
#include "support.h"

#include "series_csv.h"
#include "util.h"

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAB_DIR "../shared/datasets/nab"
#define DAY_STEPS 288 /* NAB's 5-minute steps */
#define FIT_REPEATS 5

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

/* ## 1. Holt-Winters against statsmodels ------------------------------------------------------------------------ */

/* Series with a daily rhythm: request counts, network traffic, road occupancy and speed. */
static const char *const hw_series[] = {
    "realAWSCloudwatch/elb_request_count_8c0756.csv",
    "realAWSCloudwatch/ec2_network_in_257a54.csv",
    "realTraffic/occupancy_6005.csv",
    "realTraffic/speed_7578.csv",
    "realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv",
};

/* Gaps filled with the last value seen (the first gaps with the first value): statsmodels takes no gaps. */
static void fill_gaps(double *values, size_t count)
{
    double last = NAN;
    for (size_t i = 0; i < count && isnan(last); i++)
        last = values[i];
    for (size_t i = 0; i < count; i++)
        values[i] = isnan(values[i]) ? last : (last = values[i]);
}

/* MAE of forecast over actual, over the MAE of the seasonal naive forecast within the training values. */
static double mase(const double *forecast, const double *actual, size_t horizon, const double *training, size_t count,
                   size_t season)
{
    double error = 0, naive = 0;
    for (size_t i = 0; i < horizon; i++)
        error += fabs(forecast[i] - actual[i]);
    for (size_t i = season; i < count; i++)
        naive += fabs(training[i] - training[i - season]);
    return (error / (double)horizon) / (naive / (double)(count - season));
}

typedef struct hw_result {
    double fit_seconds, mase;
} hw_result;

static int hydra_hw(const double *values, size_t train, size_t horizon, hw_result *out)
{
    support_plugin plugin;
    char settings[128];
    format_into(settings, sizeof settings, "season_length = %d; damped = true;", DAY_STEPS);
    if (!support_plugin_open(&plugin, "forecaster", "holt_winters", settings)) {
        fprintf(stderr, "holt_winters: %s\n", plugin.error);
        return -1;
    }
    hydra_series history = {values, train, 0, 300};
    hydra_forecast f;
    support_forecast_alloc(&f, horizon);
    out->fit_seconds = INFINITY;
    int status = 0;
    for (int r = 0; r < FIT_REPEATS && status == 0; r++) {
        double started = seconds_now();
        void *model = instance_model_open(plugin.instance, &history); /* the fit, and the run over the rest */
        out->fit_seconds = fmin(out->fit_seconds, seconds_now() - started);
        status = model ? instance_model_forecast(plugin.instance, model, &f) : -1;
        instance_model_close(plugin.instance, model);
    }
    if (status == 0)
        out->mase = mase(f.mean, values + train, horizon, values, train, DAY_STEPS);
    support_forecast_free(&f);
    support_plugin_close(&plugin);
    return status;
}

static int statsmodels_hw(const double *values, size_t count, size_t train, size_t horizon, hw_result *out)
{
    char path[] = "/tmp/hydra-bench-series-XXXXXX";
    int fd = mkstemp(path);
    FILE *file = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!file)
        return -1;
    for (size_t i = 0; i < count; i++)
        fprintf(file, "%.17g\n", values[i]);
    fclose(file);
    char *line = xasprintf("/usr/bin/python3 scripts/eval/statsmodels_hw.py %s %d %zu %zu", path, DAY_STEPS, train,
                           horizon);
    const char *output = NULL;
    int status = support_run(line, &output);
    free(line);
    unlink(path);
    json_error_t parse_error;
    json_t *answer = status == 0 ? json_loads(output, 0, &parse_error) : NULL;
    json_t *forecast = json_object_get(answer, "forecast");
    if (!answer || json_array_size(forecast) != horizon) {
        fprintf(stderr, "statsmodels: %s\n", output ? output : "did not run");
        json_decref(answer);
        return -1;
    }
    double *mean = xcalloc(horizon, sizeof *mean);
    for (size_t i = 0; i < horizon; i++)
        mean[i] = fmax(0, json_number_value(json_array_get(forecast, i))); /* hydra's never go below 0 either */
    out->fit_seconds = json_number_value(json_object_get(answer, "fit_seconds"));
    out->mase = mase(mean, values + train, horizon, values, train, DAY_STEPS);
    free(mean);
    json_decref(answer);
    return 0;
}

/* series: paths under NAB_DIR/data. */
static int compare_with_statsmodels(const char *const *series_names, size_t series_count)
{
    printf("## Holt-Winters: hydra against statsmodels ExponentialSmoothing (additive damped trend, daily season of "
           "%d)\n\n", DAY_STEPS);
    printf("| series | points | hydra fit | statsmodels fit | fit speed-up | hydra MASE | statsmodels MASE |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- |\n");
    double log_speedup = 0, hydra_mase = 0, their_mase = 0, log_mase_ratio = 0;
    size_t compared = 0, hydra_wins = 0;
    for (size_t s = 0; s < series_count; s++) {
        char path[512], error[1024];
        format_into(path, sizeof path, "%s/data/%s", NAB_DIR, series_names[s]);
        series_csv series;
        if (series_csv_read(path, 300, &series, error, sizeof error) != 0) {
            fprintf(stderr, "%s\n", error);
            return -1;
        }
        fill_gaps(series.values, series.count);
        size_t horizon = DAY_STEPS, train = series.count - horizon;
        if (series.count < 3 * DAY_STEPS + horizon) { /* too short for either to fit a daily season */
            series_csv_free(&series);
            continue;
        }
        hw_result ours, theirs;
        if (hydra_hw(series.values, train, horizon, &ours) != 0 ||
            statsmodels_hw(series.values, series.count, train, horizon, &theirs) != 0) {
            series_csv_free(&series);
            return -1;
        }
        double speedup = theirs.fit_seconds / ours.fit_seconds;
        printf("| %s | %zu | %.2f ms | %.0f ms | %.0f x | %.3f | %.3f |\n", strrchr(series_names[s], '/') + 1,
               series.count, ours.fit_seconds * 1e3, theirs.fit_seconds * 1e3, speedup, ours.mase, theirs.mase);
        log_speedup += log(speedup);
        log_mase_ratio += log(ours.mase / theirs.mase);
        hydra_wins += ours.mase <= theirs.mase;
        hydra_mase += ours.mase;
        their_mase += theirs.mase;
        compared++;
        series_csv_free(&series);
    }
    printf("\nover %zu series: fit %.0f x faster (geometric mean); mean MASE hydra %.3f, statsmodels %.3f (ratio "
           "%.2f; geometric mean of the per-series ratios %.2f; hydra no worse on %zu of %zu)\n",
           compared, exp(log_speedup / (double)compared), hydra_mase / (double)compared, their_mase / (double)compared,
           hydra_mase / their_mase, exp(log_mase_ratio / (double)compared), hydra_wins, compared);
    printf("target, MASE no worse (the mean) at a fit >= 100 x faster: %s\n\n",
           exp(log_speedup / (double)compared) >= 100 && hydra_mase <= their_mase ? "met" : "NOT met");
    return 0;
}

/* ## 2. NAB scores of each detector --------------------------------------------------------------------------- */

static int nab_scores(void)
{
    static const char *const detectors[] = {"robust_z", "ewma", "residual", "isolation_forest", "consensus"};
    char folder[] = "/tmp/hydra-bench-nab-XXXXXX";
    if (!mkdtemp(folder))
        return -1;
    printf("## NAB score, standard profile, %s (24 series)\n\n| detector | score | detected | false positives |\n"
           "| --- | --- | --- | --- |\n", NAB_DIR);
    double started = seconds_now(), best = -INFINITY;
    const char *best_name = "";
    for (size_t d = 0; d < ARRAY_LEN(detectors); d++) {
        char *line = xasprintf("for s in %s/data/*/*.csv; do %s/hydra detect --detector %s \"$s\" --out "
                               "%s/%s_$(basename \"$s\") || exit 1; done && %s/hydra score-nab %s/%s_*.csv --labels "
                               "%s/labels/combined_windows.json --profile standard",
                               NAB_DIR, support_build_dir(), detectors[d], folder, detectors[d], support_build_dir(),
                               folder, detectors[d], NAB_DIR);
        const char *output = NULL;
        int status = support_run(line, &output);
        free(line);
        const char *score = status == 0 ? strstr(output, "score: ") : NULL;
        if (!score) {
            fprintf(stderr, "%s: %s\n", detectors[d], output ? output : "did not run");
            return -1;
        }
        double value = strtod(score + 7, NULL);
        /* "profile standard, threshold 0.9 (best): 12 of 30 windows detected, 40 false positives" */
        const char *counts = strstr(output, "windows detected"), *from = counts;
        while (from && from > output && !(from[-1] == ' ' && from[-2] == ':'))
            from--;
        int detected = 0, windows = 0, false_positives = 0;
        if (from)
            sscanf(from, "%d of %d windows detected, %d false positives", &detected, &windows, &false_positives);
        printf("| %s | %.1f | %d of %d | %d |\n", detectors[d], value, detected, windows, false_positives);
        if (value > best)
            best = value, best_name = detectors[d];
    }
    printf("\nbest: %s, %.1f; target for the best detector >= 70: %s\n", best_name, best, best >= 70 ? "met" : "NOT met");
    printf("(%.1f s for the five; NAB's published standard scores on its full corpus: Numenta HTM 70.1, windowed "
           "Gaussian 39.6)\n\n", seconds_now() - started);
    char *clean = xasprintf("rm -rf %s", folder);
    const char *ignored;
    support_run(clean, &ignored);
    free(clean);
    return 0;
}

/* ## 3. Forecast cost per service per tick ---------------------------------------------------------------------- */

/* A day of 1-minute samples: a daily wave with a little noise, as the controller sees a service. */
static double minute_load(size_t i)
{
    return 500 + 300 * sin(6.283185307179586 * (double)(i % 1440) / 1440) + 10 * sin(1.3 * (double)i);
}

/* Seconds per tick (one model_observe, one model_forecast of `horizon` steps), after a warm-up of two weeks. */
static double tick_cost(const char *name, const char *settings, size_t horizon)
{
    support_plugin plugin;
    if (!support_plugin_open(&plugin, "forecaster", name, settings)) {
        fprintf(stderr, "%s: %s\n", name, plugin.error);
        return NAN;
    }
    enum { WARM = 14 * 1440, TICKS = 20000 };
    double *history = xcalloc(WARM, sizeof *history);
    for (size_t i = 0; i < WARM; i++)
        history[i] = minute_load(i);
    hydra_series series = {history, WARM, 1767225600.0, 60};
    void *model = instance_model_open(plugin.instance, &series);
    hydra_forecast f;
    support_forecast_alloc(&f, horizon);
    for (size_t c = 0; c < HYDRA_FORECAST_MAX_COMPONENTS; c++)
        f.components[c] = NULL; /* the controller asks for none */
    double started = seconds_now();
    for (size_t i = 0; model && i < TICKS; i++) {
        instance_model_observe(plugin.instance, model, minute_load(WARM + i));
        instance_model_forecast(plugin.instance, model, &f);
    }
    double cost = model ? (seconds_now() - started) / TICKS : NAN;
    instance_model_close(plugin.instance, model);
    support_forecast_free(&f);
    support_plugin_close(&plugin);
    free(history);
    return cost;
}

static void forecast_costs(void)
{
    /* the default config's lead: cold start 90 s + expected approval 10 min + a tick of 1 min, in 1-minute steps */
    size_t horizon = 14;
    static const char *const forecasters[][2] = {
        {"holt_winters", "season_length = 1440;"},
        {"holt_winters", "season_length = 1440; damped = true;"},
        {"holt_winters", "season_lengths = \"1440, 10080\"; damped = true;"},
        {"calendar", "latitude = 30.0444; longitude = 31.2357; utc_offset = 2.0;"},
        {"seasonal_naive", "season_length = 1440;"},
        {"linear", ""},
    };
    printf("## Forecast cost per service per tick (take the new interval, forecast %zu steps)\n\n"
           "| forecaster | settings | per service per tick | 10,000 services per tick | share of a 60 s tick |\n"
           "| --- | --- | --- | --- | --- |\n", horizon);
    for (size_t i = 0; i < ARRAY_LEN(forecasters); i++) {
        double cost = tick_cost(forecasters[i][0], forecasters[i][1], horizon);
        printf("| %s | `%s` | %.2f us | %.1f ms | %.3f %% |\n", forecasters[i][0], forecasters[i][1], cost * 1e6,
               cost * 1e4 * 1e3, cost * 1e4 / 60 * 100);
    }
    printf("\n");
}

/* Every NAB series, for holt-winters-all: the five above are the benchmark, the others check that what holds on them
 * is not theirs alone. */
static int compare_on_every_nab_series(void)
{
    glob_t found;
    if (glob(NAB_DIR "/data/*/*.csv", 0, NULL, &found) != 0) {
        fprintf(stderr, "no NAB series under %s/data\n", NAB_DIR);
        return -1;
    }
    const char **names = xcalloc(found.gl_pathc, sizeof *names);
    for (size_t i = 0; i < found.gl_pathc; i++)
        names[i] = found.gl_pathv[i] + strlen(NAB_DIR "/data/");
    int status = compare_with_statsmodels(names, found.gl_pathc);
    free(names);
    globfree(&found);
    return status;
}

/* With a section's name (holt-winters, nab, tick), runs only that one: the NAB scores take minutes.
 * holt-winters-all compares Holt-Winters on every NAB series long enough, not in `make bench`. */
int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    if (only && strcmp(only, "holt-winters-all") == 0)
        return compare_on_every_nab_series() == 0 ? 0 : 1;
    if (only && strcmp(only, "holt-winters") != 0 && strcmp(only, "nab") != 0 && strcmp(only, "tick") != 0) {
        fprintf(stderr, "usage: %s [holt-winters | holt-winters-all | nab | tick]\n", argv[0]);
        return 2;
    }
    if ((!only || strcmp(only, "holt-winters") == 0) && compare_with_statsmodels(hw_series, ARRAY_LEN(hw_series)) != 0)
        return 1;
    if ((!only || strcmp(only, "nab") == 0) && nab_scores() != 0)
        return 1;
    if (!only || strcmp(only, "tick") == 0)
        forecast_costs();
    return 0;
}
