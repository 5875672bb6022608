/* The built-in plugins, loaded as the controller loads them: anomaly robust_z, notifier log, scaler log. */
#include "support.h"

#include "log.h"
#include "metrics.h"
#include "series_csv.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* ## Helpers ----------------------------------------------------------------------------------------------------- */

/* Opens kind/name or fails the test with the loader's or plugin's reason. */
static plugin_instance *open_plugin(support_plugin *plugin, const char *kind, const char *name, const char *settings)
{
    plugin_instance *instance = support_plugin_open(plugin, kind, name, settings);
    if (!instance) {
        char reason[sizeof plugin->error];
        memcpy(reason, plugin->error, sizeof reason);
        support_plugin_close(plugin);
        fail_msg("%s %s with \"%s\": %s", kind, name, settings ? settings : "", reason);
    }
    return instance;
}

/* Asserts that opening kind/name with settings fails and that the reason contains expected. */
static void assert_rejected(const char *kind, const char *name, const char *settings, const char *expected)
{
    support_plugin plugin;
    plugin_instance *instance = support_plugin_open(&plugin, kind, name, settings);
    char reason[sizeof plugin.error];
    memcpy(reason, plugin.error, sizeof reason);
    support_plugin_close(&plugin);
    if (instance)
        fail_msg("%s %s accepted \"%s\"", kind, name, settings);
    if (!strstr(reason, expected))
        fail_msg("%s %s with \"%s\": reason \"%s\" does not name \"%s\"", kind, name, settings, reason, expected);
}

/* Deterministic noise in [-1, 1): the same series on every run and machine. */
static double noise(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*seed >> 11) / (double)(1ull << 52) - 1;
}

static void score_values(plugin_instance *instance, const double *values, size_t count, double *scores)
{
    hydra_series series = {.values = values, .count = count, .start = 0, .step = 60};
    assert_int_equal(instance_score(instance, &series, scores), 0);
}

static size_t count_lines(const char *text)
{
    size_t lines = 0;
    for (; *text; text++)
        lines += *text == '\n';
    return lines;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of values[0..count), reordering them. */
static double median_of(double *values, size_t count)
{
    qsort(values, count, sizeof *values, compare_doubles);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

/* ## anomaly robust_z ---------------------------------------------------------------------------------------------- */

#define PERIODIC_COUNT 3000
#define DAY 288 /* five-minute samples */

static void test_robust_z_scores_spike_in_noisy_periodic_data_high(void **unused)
{
    (void)unused;
    static const size_t spikes[] = {700, 1234, 1800, 2222, 2950};
    double values[PERIODIC_COUNT], scores[PERIODIC_COUNT];
    bool is_spike[PERIODIC_COUNT] = {false};
    uint64_t seed = 42;
    for (size_t i = 0; i < PERIODIC_COUNT; i++)
        values[i] = 100 + 10 * sin(2 * M_PI * (double)i / DAY) + 3 * (noise(&seed) + noise(&seed) + noise(&seed));
    for (size_t s = 0; s < sizeof spikes / sizeof spikes[0]; s++) {
        values[spikes[s]] += 80;
        is_spike[spikes[s]] = true;
    }
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", NULL);
    score_values(instance, values, PERIODIC_COUNT, scores);
    for (size_t s = 0; s < sizeof spikes / sizeof spikes[0]; s++)
        if (!(scores[spikes[s]] > 0.9))
            fail_msg("spike at %zu scored %.4f", spikes[s], scores[spikes[s]]);
    /* Normal points once a full day of history exists. */
    size_t normal = 0, low = 0;
    for (size_t i = DAY; i < PERIODIC_COUNT; i++) {
        normal += !is_spike[i];
        low += !is_spike[i] && scores[i] < 0.5;
    }
    print_message("robust_z periodic: %zu of %zu normal points below 0.5\n", low, normal);
    assert_true((double)low >= 0.95 * (double)normal);
    support_plugin_close(&plugin);
}

static void test_robust_z_score_uses_only_the_past(void **unused)
{
    (void)unused;
    enum { COUNT = 600 };
    static const size_t cuts[] = {0, 9, 10, 150, 400, COUNT - 1};
    double original[COUNT], changed[COUNT], expected[COUNT], scores[COUNT];
    uint64_t seed = 7;
    for (size_t i = 0; i < COUNT; i++)
        original[i] = 50 + 5 * noise(&seed);
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", "window = 50;");
    score_values(instance, original, COUNT, expected);
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        size_t cut = cuts[c];
        memcpy(changed, original, sizeof changed);
        for (size_t i = cut + 1; i < COUNT; i++)
            changed[i] = i % 7 == 0 ? NAN : 1e6 * noise(&seed);
        score_values(instance, changed, COUNT, scores);
        for (size_t i = 0; i <= cut; i++)
            if (scores[i] != expected[i])
                fail_msg("cut %zu: score %zu changed from %.17g to %.17g", cut, i, expected[i], scores[i]);
        /* The test can see a change: the changed future does score differently. */
        if (cut + 1 < COUNT)
            assert_memory_not_equal(scores + cut + 1, expected + cut + 1, (COUNT - cut - 1) * sizeof *scores);
    }
    support_plugin_close(&plugin);
}

static void test_robust_z_flat_history_then_step_scores_near_one(void **unused)
{
    (void)unused;
    enum { FLAT = 100 };
    double values[FLAT + 3], scores[FLAT + 3];
    for (size_t i = 0; i < FLAT; i++)
        values[i] = 5.0;
    values[FLAT] = 5.0;     /* an equal value: no surprise at all */
    values[FLAT + 1] = 5.5; /* a step off the flat line */
    values[FLAT + 2] = 5.0; /* back on it */
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", NULL);
    score_values(instance, values, FLAT + 3, scores);
    for (size_t i = 0; i <= FLAT; i++)
        assert_true(scores[i] == 0);
    print_message("robust_z flat: step scores %.6f, return to the line %.6f\n", scores[FLAT + 1], scores[FLAT + 2]);
    assert_true(scores[FLAT + 1] > 0.99);
    assert_true(scores[FLAT + 2] == 0);

    /* A flat line at zero, where the floor is all that is left of the spread. */
    double zeros[40] = {0}, zero_scores[40];
    zeros[39] = 0.001;
    score_values(instance, zeros, 40, zero_scores);
    assert_true(zero_scores[38] == 0);
    assert_true(zero_scores[39] > 0.99);
    support_plugin_close(&plugin);
}

static void test_robust_z_ignores_rounding_jitter_on_a_flat_line(void **unused)
{
    (void)unused;
    /* 0.1 + 0.2 is 0.30000000000000004: a flat line computed two ways is still flat, not a wall of alerts. */
    enum { COUNT = 120 };
    double values[COUNT], scores[COUNT];
    volatile double tenth = 0.1, fifth = 0.2;
    for (size_t i = 0; i < COUNT; i++)
        values[i] = i % 10 == 3 ? tenth + fifth : 0.3;
    assert_true(values[3] != values[0]);
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", "window = 100;");
    score_values(instance, values, COUNT, scores);
    for (size_t i = 0; i < COUNT; i++)
        if (!(scores[i] < 0.01))
            fail_msg("value %zu (%.17g) scores %.4f", i, values[i], scores[i]);
    support_plugin_close(&plugin);
}

static void test_robust_z_measures_mostly_idle_history_by_its_bursts(void **unused)
{
    (void)unused;
    /* Idle most of the time (so MAD is 0) with regular bursts of ~10: a blip of 1 is smaller than what the history
     * already holds and stays low; a burst 100 times the usual one does not. */
    enum { COUNT = 400 };
    double values[COUNT], scores[COUNT];
    uint64_t seed = 3;
    for (size_t i = 0; i < COUNT; i++)
        values[i] = i % 10 == 0 ? 10 + noise(&seed) : 0;
    values[COUNT - 5] = 1;
    values[COUNT - 1] = 1000;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", "window = 100;");
    score_values(instance, values, COUNT, scores);
    print_message("robust_z idle: blip %.4f, usual burst %.4f, huge burst %.4f\n", scores[COUNT - 5], scores[COUNT - 10],
                  scores[COUNT - 1]);
    assert_true(scores[COUNT - 5] < 0.5);
    assert_true(scores[COUNT - 1] > 0.9);
    support_plugin_close(&plugin);
}

static void test_robust_z_skips_missing_values(void **unused)
{
    (void)unused;
    enum { COUNT = 300 };
    double values[COUNT], compact[COUNT], scores[COUNT], compact_scores[COUNT];
    size_t kept = 0;
    uint64_t seed = 11;
    for (size_t i = 0; i < COUNT; i++) {
        bool missing = i % 3 == 1 || i == 200 || i == 201;
        values[i] = missing ? (i == 200 ? INFINITY : i == 201 ? -INFINITY : NAN) : 20 + noise(&seed);
        if (i == 251)
            values[i] = 60; /* a spike among the gaps */
        if (!missing)
            compact[kept++] = values[i];
    }
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", "window = 30;");
    score_values(instance, values, COUNT, scores);
    score_values(instance, compact, kept, compact_scores);
    /* Missing values score 0 and leave no trace: the others score as if the gaps were not there. */
    for (size_t i = 0, k = 0; i < COUNT; i++) {
        if (!isfinite(values[i]))
            assert_true(scores[i] == 0);
        else
            assert_true(scores[i] == compact_scores[k++]);
    }
    assert_true(scores[251] > 0.9);

    double all_missing[5] = {NAN, NAN, NAN, NAN, NAN}, all_scores[5] = {1, 1, 1, 1, 1};
    score_values(instance, all_missing, 5, all_scores);
    for (size_t i = 0; i < 5; i++)
        assert_true(all_scores[i] == 0);
    hydra_series empty = {.values = NULL, .count = 0};
    assert_int_equal(instance_score(instance, &empty, all_scores), 0);
    support_plugin_close(&plugin);
}

static void test_robust_z_scores_zero_until_min_samples(void **unused)
{
    (void)unused;
    double values[40], scores[40];
    for (size_t i = 0; i < 40; i++)
        values[i] = (double)(i % 2);
    values[19] = 100; /* 19 values of history: too few */
    values[25] = 100; /* 25: enough */
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", "window = 30; min_samples = 20;");
    score_values(instance, values, 40, scores);
    for (size_t i = 0; i < 20; i++)
        assert_true(scores[i] == 0);
    assert_true(scores[25] > 0.9);
    support_plugin_close(&plugin);
}

/* A level shift: a short window accepts the new level within a window; a long one keeps flagging it. */
static void test_robust_z_window_forgets_older_values(void **unused)
{
    (void)unused;
    enum { HALF = 200, COUNT = 2 * HALF };
    double values[COUNT], short_scores[COUNT], long_scores[COUNT];
    uint64_t seed = 5;
    for (size_t i = 0; i < COUNT; i++)
        values[i] = (i < HALF ? 0 : 50) + noise(&seed);
    support_plugin short_window, long_window;
    plugin_instance *quick = open_plugin(&short_window, "anomaly", "robust_z", "window = 20;");
    plugin_instance *slow = open_plugin(&long_window, "anomaly", "robust_z", "window = 300;");
    score_values(quick, values, COUNT, short_scores);
    score_values(slow, values, COUNT, long_scores);
    assert_true(short_scores[HALF] > 0.99);
    for (size_t i = HALF + 20; i < COUNT; i++)
        if (!(short_scores[i] < 0.5))
            fail_msg("window 20: %zu still scores %.4f", i, short_scores[i]);
    assert_true(long_scores[HALF + 25] > 0.9);
    support_plugin_close(&long_window);
    support_plugin_close(&short_window);
}

static void test_robust_z_scores_stay_between_zero_and_one(void **unused)
{
    (void)unused;
    enum { COUNT = 500 };
    double values[COUNT], scores[COUNT];
    uint64_t seed = 99;
    for (size_t i = 0; i < COUNT; i++) {
        double u = noise(&seed);
        values[i] = i % 50 == 0 ? copysign(1.7e308, u) : i % 17 == 0 ? 1e-300 * u : u / (fabs(noise(&seed)) + 1e-9);
    }
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", "window = 40; threshold = 1e-6;");
    score_values(instance, values, COUNT, scores);
    for (size_t i = 0; i < COUNT; i++)
        if (!(scores[i] >= 0 && scores[i] <= 1))
            fail_msg("score %zu is %g for %g", i, scores[i], values[i]);
    support_plugin_close(&plugin);
}

/* The score of probe after history, with threshold 2 and as many samples as there are needed. */
static double score_after(const double *history, size_t count, double probe)
{
    double values[16], scores[16];
    assert_true(count < 16);
    memcpy(values, history, count * sizeof *history);
    values[count] = probe;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", "threshold = 2.0; min_samples = 5;");
    score_values(instance, values, count + 1, scores);
    support_plugin_close(&plugin);
    return scores[count];
}

static void test_robust_z_scores_one_half_at_threshold(void **unused)
{
    (void)unused;
    static const double history[] = {29, 1, 56, 4, 16, 2, 46, 7, 37, 22, 11};
    /* All 11: median 16, deviations 0 5 6 9 12 [13] 14 15 21 30 40, so MAD 13. */
    assert_float_equal(score_after(history, 11, 16 + 2 * 1.4826 * 13), 0.5, 1e-9);
    assert_float_equal(score_after(history, 11, 16 - 2 * 1.4826 * 13), 0.5, 1e-9);
    /* The first 10: median (16 + 22) / 2 = 19, deviations 3 3 10 12 [15 17] 18 18 27 37, so MAD 16. */
    assert_float_equal(score_after(history, 10, 19 + 2 * 1.4826 * 16), 0.5, 1e-9);
    /* z = 4, twice the threshold: 16 / 17. */
    assert_float_equal(score_after(history, 11, 16 + 4 * 1.4826 * 13), 16.0 / 17.0, 1e-9);
}

static void test_robust_z_rejects_bad_settings(void **unused)
{
    (void)unused;
    assert_rejected("anomaly", "robust_z", "window = 4; min_samples = 2;", "setting 'window'");
    assert_rejected("anomaly", "robust_z", "window = \"day\";", "setting 'window'");
    assert_rejected("anomaly", "robust_z", "threshold = 0.0;", "setting 'threshold'");
    assert_rejected("anomaly", "robust_z", "threshold = -2.5;", "setting 'threshold'");
    assert_rejected("anomaly", "robust_z", "threshold = true;", "setting 'threshold'");
    assert_rejected("anomaly", "robust_z", "min_samples = 0;", "setting 'min_samples'");
    assert_rejected("anomaly", "robust_z", "window = 50; min_samples = 51;", "setting 'min_samples'");
    assert_rejected("anomaly", "robust_z", "windw = 50;", "unknown setting 'windw'");
    /* The smallest accepted values. */
    support_plugin plugin;
    open_plugin(&plugin, "anomaly", "robust_z", "window = 5; min_samples = 1; threshold = 1e-3;");
    support_plugin_close(&plugin);
}

static void test_robust_z_counts_scored_samples(void **unused)
{
    (void)unused;
    double values[123] = {0}, scores[123];
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", NULL);
    double before = metrics_value(instance_name(instance), "samples_scored");
    assert_false(isnan(before));
    score_values(instance, values, 123, scores);
    score_values(instance, values, 7, scores);
    assert_float_equal(metrics_value(instance_name(instance), "samples_scored") - before, 130, 0);
    support_plugin_close(&plugin);
}

/* ## anomaly robust_z on a real labelled series (NAB) ------------------------------------------------------------ */

#define NAB_FILE "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv"
#define NAB_STEP 300.0
#define NAB_MAX 8192

static const char *nab_dir(void)
{
    const char *dir = getenv("HYDRA_NAB_DIR");
    return dir && dir[0] ? dir : "../shared/datasets/nab";
}

/* NAB labels write "2014-04-15 07:24:00.000000"; UTC. */
static double nab_time(const char *text)
{
    double seconds = NAN;
    if (!text || !series_csv_parse_time(text, &seconds))
        fail_msg("bad NAB time \"%s\"", text ? text : "(not a string)");
    return seconds;
}

/* The rows on an even 5-minute grid; missing rows become NAN, as the controller hands them over. The data set is
 * part of the test environment, so a missing file fails the test rather than skipping it. */
static series_csv nab_load(const char *path)
{
    series_csv csv;
    char error[1024];
    if (series_csv_read(path, NAB_STEP, &csv, error, sizeof error) != 0)
        fail_msg("%s (the NAB subset is expected at ../shared/datasets/nab beside the repository, or where "
                 "HYDRA_NAB_DIR says)", error);
    if (csv.count > NAB_MAX)
        fail_msg("%s: %zu grid points, more than this test's %d", path, csv.count, NAB_MAX);
    return csv;
}

/* Marks the grid points inside the file's labelled anomaly windows; returns how many windows there are. */
static size_t nab_mark_windows(const char *labels_path, double start, size_t count, bool *inside)
{
    json_error_t error;
    json_t *labels = json_load_file(labels_path, 0, &error);
    if (!labels)
        fail_msg("%s:%d: %s", labels_path, error.line, error.text);
    json_t *windows = json_object_get(labels, NAB_FILE);
    assert_true(json_is_array(windows));
    for (size_t w = 0; w < json_array_size(windows); w++) {
        json_t *pair = json_array_get(windows, w);
        double from = nab_time(json_string_value(json_array_get(pair, 0)));
        double to = nab_time(json_string_value(json_array_get(pair, 1)));
        for (size_t i = 0; i < count; i++)
            inside[i] = inside[i] || (start + (double)i * NAB_STEP >= from && start + (double)i * NAB_STEP <= to);
    }
    size_t window_count = json_array_size(windows);
    json_decref(labels);
    return window_count;
}

static void test_robust_z_scores_nab_anomaly_windows_above_the_rest(void **unused)
{
    (void)unused;
    char data_path[1024], labels_path[1024];
    snprintf(data_path, sizeof data_path, "%s/data/%s", nab_dir(), NAB_FILE);
    snprintf(labels_path, sizeof labels_path, "%s/labels/combined_windows.json", nab_dir());
    static double scores[NAB_MAX], in_scores[NAB_MAX], out_scores[NAB_MAX];
    static bool inside[NAB_MAX];
    series_csv csv = nab_load(data_path);
    const double *values = csv.values;
    size_t count = csv.count;
    assert_true(nab_mark_windows(labels_path, csv.start, count, inside) > 0);

    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "anomaly", "robust_z", NULL);
    score_values(instance, values, count, scores);
    support_plugin_close(&plugin);

    size_t in_count = 0, out_count = 0, gaps = 0;
    double in_max = 0, in_sum = 0, out_sum = 0;
    for (size_t i = 0; i < count; i++) {
        if (isnan(values[i])) {
            gaps++;
            continue;
        }
        if (inside[i]) {
            in_scores[in_count++] = scores[i];
            in_max = fmax(in_max, scores[i]);
            in_sum += scores[i];
        } else {
            out_scores[out_count++] = scores[i];
            out_sum += scores[i];
        }
    }
    assert_true(in_count > 0 && out_count > 0);
    double out_median = median_of(out_scores, out_count);
    print_message("robust_z on NAB %s: %zu points (%zu gaps); inside windows: max %.4f, median %.4f, mean %.4f; "
                  "outside: median %.4f, mean %.4f\n",
                  NAB_FILE, count, gaps, in_max, median_of(in_scores, in_count), in_sum / (double)in_count, out_median,
                  out_sum / (double)out_count);
    /* The detector fires inside the labelled windows, and they score above the ordinary points. */
    assert_true(in_max >= 0.5);
    assert_true(in_max > out_median);
    assert_true(in_sum / (double)in_count > out_sum / (double)out_count);
    series_csv_free(&csv);
}

/* ## notifier log -------------------------------------------------------------------------------------------------- */

static hydra_notification approved_notification(void)
{
    return (hydra_notification){
        .event = HYDRA_EVENT_RECOMMENDATION_APPROVED,
        .at = 1700000000,
        .id = "rec-42",
        .target = "checkout",
        .from_replicas = 3,
        .to_replicas = 8,
        .forecast_peak = 1234.5,
        .summary = "scale checkout up for the lunch peak",
        .reason = "forecast peak 1234.5 rps needs 8 replicas at 160 rps each",
        .decided_by = "alice",
    };
}

static void test_notifier_log_writes_one_line_with_every_field(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "notifier", "log", NULL);
    hydra_notification notification = approved_notification();
    support_log_start();
    assert_int_equal(instance_notify(instance, &notification), 0);
    const char *text = support_log_text();
    assert_int_equal(count_lines(text), 1);
    assert_contains(text, "plugin log: approved");
    assert_contains(text, "target=checkout");
    assert_contains(text, "3 -> 8");
    assert_contains(text, "forecast_peak=1234.5");
    assert_contains(text, "summary=\"scale checkout up for the lunch peak\"");
    assert_contains(text, "reason=\"forecast peak 1234.5 rps needs 8 replicas at 160 rps each\"");
    assert_contains(text, "decided_by=alice");
    assert_contains(text, "id=rec-42");
    support_log_stop();
    support_plugin_close(&plugin);
}

static void test_notifier_log_names_every_event(void **unused)
{
    (void)unused;
    static const char *const names[] = {"pending", "approved", "rejected", "expired", "executed", "failed", "alert"};
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "notifier", "log", NULL);
    for (int event = HYDRA_EVENT_RECOMMENDATION_PENDING; event <= HYDRA_EVENT_ALERT; event++) {
        hydra_notification notification = approved_notification();
        notification.event = (hydra_event)event;
        support_log_start();
        assert_int_equal(instance_notify(instance, &notification), 0);
        char expected[64];
        snprintf(expected, sizeof expected, "plugin log: %s target=", names[event - 1]);
        assert_contains(support_log_text(), expected);
        support_log_stop();
    }
    hydra_notification unknown = approved_notification();
    unknown.event = (hydra_event)99;
    assert_int_equal(instance_notify(instance, &unknown), -1);
    assert_contains(instance_error(instance), "99");
    support_plugin_close(&plugin);
}

static void test_notifier_log_keeps_missing_and_multiline_fields_on_one_line(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "notifier", "log", NULL);
    hydra_notification alert = {.event = HYDRA_EVENT_ALERT, .target = "search", .forecast_peak = NAN,
                                .reason = "latency \"p99\" 3x usual\nsince 02:10"};
    support_log_start();
    assert_int_equal(instance_notify(instance, &alert), 0);
    const char *text = support_log_text();
    assert_int_equal(count_lines(text), 1);
    assert_contains(text, "alert target=search");
    assert_contains(text, "reason=\"latency 'p99' 3x usual since 02:10\"");
    assert_contains(text, "forecast_peak=- summary=\"-\"");
    assert_contains(text, "decided_by=- id=-");
    support_log_stop();
    support_plugin_close(&plugin);
}

static void test_notifier_log_writes_pending_links(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "notifier", "log", NULL);
    hydra_notification pending = approved_notification();
    pending.event = HYDRA_EVENT_RECOMMENDATION_PENDING;
    pending.approve_url = "http://hydra.local/r/rec-42/approve";
    pending.reject_url = "http://hydra.local/r/rec-42/reject";
    support_log_start();
    assert_int_equal(instance_notify(instance, &pending), 0);
    assert_contains(support_log_text(), "approve=http://hydra.local/r/rec-42/approve");
    assert_contains(support_log_text(), "reject=http://hydra.local/r/rec-42/reject");
    support_log_stop();
    support_plugin_close(&plugin);
}

static hydra_log_level last_level;
static int lines_seen;

static void record_level(void *context, hydra_log_level level, const char *line)
{
    (void)context;
    (void)line;
    last_level = level;
    lines_seen++;
}

static void test_notifier_log_writes_at_configured_level(void **unused)
{
    (void)unused;
    static const struct {
        const char *settings;
        hydra_log_level level;
    } cases[] = {{NULL, HYDRA_LOG_INFO}, {"level = \"warn\";", HYDRA_LOG_WARN}, {"level = \"error\";", HYDRA_LOG_ERROR},
                 {"level = \"debug\";", HYDRA_LOG_DEBUG}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        support_plugin plugin;
        plugin_instance *instance = open_plugin(&plugin, "notifier", "log", cases[c].settings);
        hydra_notification notification = approved_notification();
        lines_seen = 0;
        log_set_level(HYDRA_LOG_DEBUG);
        log_set_sink(record_level, NULL);
        assert_int_equal(instance_notify(instance, &notification), 0);
        log_set_sink(NULL, NULL);
        log_set_level(HYDRA_LOG_INFO);
        assert_int_equal(lines_seen, 1);
        assert_int_equal(last_level, cases[c].level);
        support_plugin_close(&plugin);
    }
}

static void test_notifier_log_rejects_bad_level(void **unused)
{
    (void)unused;
    assert_rejected("notifier", "log", "level = \"loud\";", "setting 'level'");
    assert_rejected("notifier", "log", "level = 2;", "setting 'level'");
}

static void test_notifier_log_counts_notifications(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "notifier", "log", "level = \"debug\";");
    double before = metrics_value(instance_name(instance), "notifications_total");
    assert_false(isnan(before));
    hydra_notification notification = approved_notification();
    for (int i = 0; i < 3; i++)
        assert_int_equal(instance_notify(instance, &notification), 0);
    notification.event = (hydra_event)0;
    assert_int_equal(instance_notify(instance, &notification), -1);
    assert_float_equal(metrics_value(instance_name(instance), "notifications_total") - before, 3, 0);
    support_plugin_close(&plugin);
}

/* ## scaler log ---------------------------------------------------------------------------------------------------- */

static hydra_scale_request scale_request(const char *target, int replicas)
{
    return (hydra_scale_request){.target = target, .replicas = replicas, .recommendation_id = "rec-7",
                                 .decided_by = "policy.lua", .reason = "forecast peak 900 rps over 3 x 250 rps"};
}

static void test_scaler_log_status_before_any_action_is_initial_replicas(void **unused)
{
    (void)unused;
    support_plugin plugin;
    hydra_scale_status status = {.desired = -1, .ready = -1, .paused = true};
    plugin_instance *instance = open_plugin(&plugin, "scaler", "log", NULL);
    assert_int_equal(instance_scale_status(instance, "web", &status), 0);
    assert_int_equal(status.desired, 1);
    assert_int_equal(status.ready, 1);
    assert_false(status.paused);
    support_plugin_close(&plugin);

    instance = open_plugin(&plugin, "scaler", "log", "initial_replicas = 0;");
    assert_int_equal(instance_scale_status(instance, "web", &status), 0);
    assert_int_equal(status.desired, 0);
    support_plugin_close(&plugin);

    instance = open_plugin(&plugin, "scaler", "log", "initial_replicas = 4;");
    assert_int_equal(instance_scale_status(instance, "web", &status), 0);
    assert_int_equal(status.desired, 4);
    assert_int_equal(status.ready, 4);
    support_plugin_close(&plugin);
}

static void test_scaler_log_scale_then_status_returns_new_value(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "scaler", "log", "initial_replicas = 2;");
    hydra_scale_request request = scale_request("web", 5);
    hydra_scale_status status = {0};
    assert_int_equal(instance_scale(instance, &request, &status), 0);
    assert_int_equal(status.desired, 5);
    assert_int_equal(status.ready, 5);
    status = (hydra_scale_status){0};
    assert_int_equal(instance_scale_status(instance, "web", &status), 0);
    assert_int_equal(status.desired, 5);
    assert_false(status.paused);
    /* Other targets keep their own count. */
    assert_int_equal(instance_scale_status(instance, "worker", &status), 0);
    assert_int_equal(status.desired, 2);
    request = scale_request("web", 0);
    assert_int_equal(instance_scale(instance, &request, &status), 0);
    assert_int_equal(instance_scale_status(instance, "web", &status), 0);
    assert_int_equal(status.desired, 0);
    support_plugin_close(&plugin);
}

static void test_scaler_log_remembers_many_targets(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "scaler", "log", NULL);
    char name[32];
    hydra_scale_status status;
    support_log_start();
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "service-%d", i);
        hydra_scale_request request = scale_request(name, i * 3);
        assert_int_equal(instance_scale(instance, &request, &status), 0);
    }
    assert_int_equal(count_lines(support_log_text()), 100);
    support_log_stop();
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "service-%d", i);
        assert_int_equal(instance_scale_status(instance, name, &status), 0);
        assert_int_equal(status.desired, i * 3);
    }
    support_plugin_close(&plugin);
}

static void test_scaler_log_logs_what_it_would_do(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "scaler", "log", "initial_replicas = 3;");
    hydra_scale_request request = scale_request("checkout", 9);
    hydra_scale_status status;
    support_log_start();
    assert_int_equal(instance_scale(instance, &request, &status), 0);
    const char *text = support_log_text();
    assert_int_equal(count_lines(text), 1);
    assert_contains(text, "plugin log: would scale checkout from 3 to 9 (recommendation rec-7, approved by policy.lua): "
                          "forecast peak 900 rps over 3 x 250 rps");
    support_log_stop();
    support_plugin_close(&plugin);
}

static void test_scaler_log_rejects_invalid_requests(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "scaler", "log", "initial_replicas = 2;");
    hydra_scale_status status;
    hydra_scale_request request = scale_request("web", -1);
    assert_int_equal(instance_scale(instance, &request, &status), -1);
    assert_contains(instance_error(instance), "replicas");
    request = scale_request("", 4);
    assert_int_equal(instance_scale(instance, &request, &status), -1);
    assert_contains(instance_error(instance), "target");
    request = scale_request(NULL, 4);
    assert_int_equal(instance_scale(instance, &request, &status), -1);
    assert_int_equal(instance_scale_status(instance, "", &status), -1);
    /* Nothing was recorded. */
    assert_int_equal(instance_scale_status(instance, "web", &status), 0);
    assert_int_equal(status.desired, 2);
    support_plugin_close(&plugin);
}

static void test_scaler_log_rejects_bad_settings(void **unused)
{
    (void)unused;
    assert_rejected("scaler", "log", "initial_replicas = -1;", "setting 'initial_replicas'");
    assert_rejected("scaler", "log", "initial_replicas = 3000000000L;", "setting 'initial_replicas'");
    assert_rejected("scaler", "log", "initial_replicas = 1.5;", "setting 'initial_replicas'");
}

static void test_scaler_log_counts_actions(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "scaler", "log", NULL);
    double before = metrics_value(instance_name(instance), "scale_actions_total");
    assert_false(isnan(before));
    hydra_scale_status status;
    hydra_scale_request request = scale_request("web", 2);
    assert_int_equal(instance_scale(instance, &request, &status), 0);
    request.replicas = 6;
    assert_int_equal(instance_scale(instance, &request, &status), 0);
    request.replicas = -6;
    assert_int_equal(instance_scale(instance, &request, &status), -1);
    assert_float_equal(metrics_value(instance_name(instance), "scale_actions_total") - before, 2, 0);
    support_plugin_close(&plugin);
}

/* Two threads failing on one instance each read their own error: a request's 503 quotes its own failure. */
typedef struct error_worker {
    plugin_instance *instance;
    hydra_event event; /* 0: no notification at all */
    const char *expected;
    int mismatches;
} error_worker;

static void *fail_repeatedly(void *context)
{
    error_worker *w = context;
    hydra_notification n = {.event = w->event};
    for (int i = 0; i < 20000; i++) {
        int status = instance_notify(w->instance, w->event ? &n : NULL);
        if (status != -1 || strcmp(instance_error(w->instance), w->expected) != 0)
            w->mismatches++;
    }
    return NULL;
}

static void test_instance_errors_are_kept_per_thread(void **unused)
{
    (void)unused;
    support_plugin plugin;
    plugin_instance *instance = open_plugin(&plugin, "notifier", "log", NULL);
    log_set_level(HYDRA_LOG_ERROR + 1); /* 40,000 failures need not be printed */
    error_worker workers[2] = {{instance, 0, "notify: no notification", 0},
                               {instance, (hydra_event)99, "notify: unknown event 99", 0}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, fail_repeatedly, &workers[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    log_set_level(HYDRA_LOG_INFO);
    assert_int_equal(workers[0].mismatches, 0);
    assert_int_equal(workers[1].mismatches, 0);
    assert_string_equal(instance_error(instance), ""); /* this thread failed on nothing */
    support_plugin_close(&plugin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_robust_z_scores_spike_in_noisy_periodic_data_high),
        cmocka_unit_test(test_robust_z_score_uses_only_the_past),
        cmocka_unit_test(test_robust_z_flat_history_then_step_scores_near_one),
        cmocka_unit_test(test_robust_z_ignores_rounding_jitter_on_a_flat_line),
        cmocka_unit_test(test_robust_z_measures_mostly_idle_history_by_its_bursts),
        cmocka_unit_test(test_robust_z_skips_missing_values),
        cmocka_unit_test(test_robust_z_scores_zero_until_min_samples),
        cmocka_unit_test(test_robust_z_window_forgets_older_values),
        cmocka_unit_test(test_robust_z_scores_stay_between_zero_and_one),
        cmocka_unit_test(test_robust_z_scores_one_half_at_threshold),
        cmocka_unit_test(test_robust_z_rejects_bad_settings),
        cmocka_unit_test(test_robust_z_counts_scored_samples),
        cmocka_unit_test(test_robust_z_scores_nab_anomaly_windows_above_the_rest),
        cmocka_unit_test(test_notifier_log_writes_one_line_with_every_field),
        cmocka_unit_test(test_notifier_log_names_every_event),
        cmocka_unit_test(test_instance_errors_are_kept_per_thread),
        cmocka_unit_test(test_notifier_log_keeps_missing_and_multiline_fields_on_one_line),
        cmocka_unit_test(test_notifier_log_writes_pending_links),
        cmocka_unit_test(test_notifier_log_writes_at_configured_level),
        cmocka_unit_test(test_notifier_log_rejects_bad_level),
        cmocka_unit_test(test_notifier_log_counts_notifications),
        cmocka_unit_test(test_scaler_log_status_before_any_action_is_initial_replicas),
        cmocka_unit_test(test_scaler_log_scale_then_status_returns_new_value),
        cmocka_unit_test(test_scaler_log_remembers_many_targets),
        cmocka_unit_test(test_scaler_log_logs_what_it_would_do),
        cmocka_unit_test(test_scaler_log_rejects_invalid_requests),
        cmocka_unit_test(test_scaler_log_rejects_bad_settings),
        cmocka_unit_test(test_scaler_log_counts_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
