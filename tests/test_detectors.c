/* The streaming anomaly detectors ewma, residual, isolation_forest and consensus, loaded as the controller loads them:
 * a spike scores high, steady data low, only the past is seen, the model and whole-series paths agree, settings are
 * checked; consensus reports a spike, a level shift and a change from flat to noisy once, at their onset. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define STEADY 2000
#define SPIKE_AT 1500

static const char *const detectors[] = {"ewma", "residual", "isolation_forest", "consensus"};

/* Deterministic noise in [-1, 1). */
static double noise(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*seed >> 11) / (double)(1ull << 52) - 1;
}

/* A daily wave of 5-minute samples with noise: the kind of series a service's request rate is. */
static void steady_series(double *values, size_t count)
{
    uint64_t seed = 42;
    for (size_t i = 0; i < count; i++)
        values[i] = 100 + 20 * sin(2 * M_PI * (double)i / 288) + 2 * noise(&seed);
}

static plugin_instance *open_detector(support_plugin *plugin, const char *name, const char *settings)
{
    plugin_instance *instance = support_plugin_open(plugin, "anomaly", name, settings);
    if (!instance)
        fail_msg("anomaly %s: %s", name, plugin->error);
    return instance;
}

static void score_with(const char *name, const char *settings, const double *values, size_t count, double *scores)
{
    support_plugin plugin;
    plugin_instance *instance = open_detector(&plugin, name, settings);
    hydra_series series = {.values = values, .count = count, .start = 0, .step = 300};
    assert_int_equal(instance_score(instance, &series, scores), 0);
    support_plugin_close(&plugin);
}

static void score_all(const char *name, const double *values, size_t count, double *scores)
{
    score_with(name, NULL, values, count, scores);
}

/* The score each detector gives a spike of 75 standard deviations at least: consensus's scale is an anomaly likelihood
 * averaged over two views and over its last 10 raw scores, so a lone spike that only one view finds extreme scores
 * just above its onset_level, 0.5 (a 1-in-100,000 event). */
static double spike_score_expected(const char *detector) { return strcmp(detector, "consensus") == 0 ? 0.5 : 0.8; }

static void test_detectors_score_a_spike_high_and_steady_data_low(void **unused)
{
    (void)unused;
    static double values[STEADY], scores[STEADY];
    for (size_t d = 0; d < sizeof detectors / sizeof *detectors; d++) {
        steady_series(values, STEADY);
        values[SPIKE_AT] += 150;
        score_all(detectors[d], values, STEADY, scores);
        double steady_max = 0, steady_sum = 0;
        for (size_t i = 1000; i < SPIKE_AT; i++) {
            steady_max = fmax(steady_max, scores[i]);
            steady_sum += scores[i];
        }
        print_message("%s: spike %.3f; steady before it: max %.3f, mean %.4f\n", detectors[d], scores[SPIKE_AT],
                      steady_max, steady_sum / (SPIKE_AT - 1000));
        for (size_t i = 0; i < STEADY; i++)
            assert_true(scores[i] >= 0 && scores[i] <= 1);
        assert_true(scores[SPIKE_AT] >= spike_score_expected(detectors[d]));
        assert_true(steady_sum / (SPIKE_AT - 1000) < 0.1);
        assert_true(steady_max < scores[SPIKE_AT]);
    }
}

/* The scores of a prefix do not change when rows are appended, and gaps (NAN) score 0. */
static void test_detectors_see_only_the_past(void **unused)
{
    (void)unused;
    static double values[STEADY], full[STEADY], prefix[STEADY];
    steady_series(values, STEADY);
    values[700] = NAN;
    values[1200] += 80;
    for (size_t d = 0; d < sizeof detectors / sizeof *detectors; d++) {
        score_all(detectors[d], values, STEADY, full);
        score_all(detectors[d], values, 1300, prefix);
        for (size_t i = 0; i < 1300; i++)
            if (full[i] != prefix[i])
                fail_msg("%s: score %zu is %.17g with the future appended, %.17g without", detectors[d], i, full[i],
                         prefix[i]);
        assert_float_equal(full[700], 0, 0);
    }
}

/* A model warmed up on history and fed the rest scores the rest as score() over the whole series does. */
static void test_detector_models_match_whole_series_scores(void **unused)
{
    (void)unused;
    static double values[STEADY], scores[STEADY];
    steady_series(values, STEADY);
    values[1700] -= 60;
    for (size_t d = 0; d < sizeof detectors / sizeof *detectors; d++) {
        score_all(detectors[d], values, STEADY, scores);
        support_plugin plugin;
        plugin_instance *instance = open_detector(&plugin, detectors[d], NULL);
        assert_true(instance_has_models(instance));
        hydra_series history = {.values = values, .count = 1000, .start = 0, .step = 300};
        void *model = instance_model_open(instance, &history);
        assert_non_null(model);
        for (size_t i = 1000; i < STEADY; i++) {
            double score;
            assert_int_equal(instance_model_score(instance, model, values[i], &score), 0);
            if (score != scores[i])
                fail_msg("%s: model scores %zu as %.17g, score() as %.17g", detectors[d], i, score, scores[i]);
        }
        instance_model_close(instance, model);
        support_plugin_close(&plugin);
    }
}

static void test_isolation_forest_is_deterministic_per_seed(void **unused)
{
    (void)unused;
    static double values[STEADY], first[STEADY], second[STEADY];
    steady_series(values, STEADY);
    hydra_series series = {.values = values, .count = STEADY, .start = 0, .step = 300};
    support_plugin plugin;
    plugin_instance *instance = open_detector(&plugin, "isolation_forest", "seed = 7; trees = 50;");
    assert_int_equal(instance_score(instance, &series, first), 0);
    assert_int_equal(instance_score(instance, &series, second), 0);
    support_plugin_close(&plugin);
    assert_memory_equal(first, second, sizeof first);
    instance = open_detector(&plugin, "isolation_forest", "seed = 8; trees = 50;");
    assert_int_equal(instance_score(instance, &series, second), 0);
    support_plugin_close(&plugin);
    assert_true(memcmp(first, second, sizeof first) != 0);
}

/* ## consensus: one detection per episode ------------------------------------------------------------------------- */

#define CHANGE_AT 1500
#define HOLD 120 /* consensus's default onset_hold */

/* The samples from `from` to `to` (exclusive) scoring at least 0.5: detections at consensus's onset_level. */
static size_t detections(const double *scores, size_t from, size_t to)
{
    size_t count = 0;
    for (size_t i = from; i < to; i++)
        count += scores[i] >= 0.5;
    return count;
}

/* Scores an anomaly starting at CHANGE_AT: high within a few samples of it, nothing before it, 0 through the hold
 * after the first detection, and no more than one detection per hold after it. */
static void assert_one_onset(const char *what, const double *values, size_t count)
{
    static double scores[STEADY];
    score_all("consensus", values, count, scores);
    size_t first = CHANGE_AT;
    while (first < count && scores[first] < 0.5)
        first++;
    print_message("%s: first detection %zu samples after the change (score %.3f); detections before it %zu, "
                  "in the %d after it %zu, in all after it %zu\n", what, first - CHANGE_AT,
                  first < count ? scores[first] : 0, detections(scores, 300, CHANGE_AT), HOLD,
                  detections(scores, first + 1, first + 1 + HOLD), detections(scores, first + 1, count));
    for (size_t i = 0; i < count; i++)
        assert_true(scores[i] >= 0 && scores[i] <= 1);
    if (first > CHANGE_AT + 5)
        fail_msg("%s: no detection within 5 samples of the change", what);
    assert_int_equal(detections(scores, 300, CHANGE_AT), 0);
    for (size_t i = first + 1; i <= first + HOLD && i < count; i++)
        assert_float_equal(scores[i], 0, 0);
    assert_true(detections(scores, first + 1, count) <= (count - first) / HOLD);
}

static void test_consensus_reports_a_spike_once(void **unused)
{
    (void)unused;
    static double values[STEADY];
    steady_series(values, STEADY);
    values[CHANGE_AT] += 150;
    assert_one_onset("spike", values, STEADY);
}

static void test_consensus_reports_a_level_shift_once(void **unused)
{
    (void)unused;
    static double values[STEADY];
    steady_series(values, STEADY);
    for (size_t i = CHANGE_AT; i < STEADY; i++)
        values[i] += 60;
    assert_one_onset("level shift", values, STEADY);
}

static void test_consensus_reports_flat_turning_noisy_once(void **unused)
{
    (void)unused;
    static double values[STEADY];
    uint64_t seed = 7;
    for (size_t i = 0; i < STEADY; i++)
        values[i] = 50 + (i >= CHANGE_AT ? 10 * noise(&seed) : 0);
    assert_one_onset("flat turning noisy", values, STEADY);
}

/* With onset_hold = 0 every sample of a lasting anomaly is passed on: the hold is what makes the above one. */
static void test_consensus_without_hold_reports_every_sample(void **unused)
{
    (void)unused;
    static double values[STEADY], held[STEADY], every[STEADY];
    uint64_t seed = 7;
    for (size_t i = 0; i < STEADY; i++)
        values[i] = 50 + (i >= CHANGE_AT ? 10 * noise(&seed) : 0);
    score_all("consensus", values, STEADY, held);
    score_with("consensus", "onset_hold = 0;", values, STEADY, every);
    print_message("flat turning noisy: %zu detections with the hold, %zu without\n",
                  detections(held, CHANGE_AT, STEADY), detections(every, CHANGE_AT, STEADY));
    assert_true(detections(every, CHANGE_AT, STEADY) > 3 * detections(held, CHANGE_AT, STEADY));
    for (size_t i = 0; i < STEADY; i++)
        assert_true(held[i] == every[i] || held[i] == 0); /* the hold only silences */
}

/* A spike that comes back every day is a pattern: the first one is an anomaly, by the fifth day it is not. */
static void test_consensus_learns_a_daily_spike(void **unused)
{
    (void)unused;
    static double values[STEADY], scores[STEADY];
    uint64_t seed = 11;
    for (size_t i = 0; i < STEADY; i++)
        values[i] = 10 + noise(&seed) + (i % 288 == 200 ? 40 : 0);
    score_with("consensus", "onset_hold = 0;", values, STEADY, scores);
    print_message("daily spike: %.3f %.3f %.3f %.3f %.3f %.3f %.3f\n", scores[200], scores[488], scores[776],
                  scores[1064], scores[1352], scores[1640], scores[1928]);
    assert_true(scores[200] >= 0.5);
    for (size_t day = 4; day < 7; day++)
        assert_true(scores[200 + 288 * day] < 0.5 && scores[200 + 288 * day] < scores[200]);
}

/* Every detector takes onset_hold (default 0 for all but consensus): after a score at or above onset_level the next
 * hold scores are 0, and nothing else changes. */
static void test_detectors_onset_hold_only_silences(void **unused)
{
    (void)unused;
    static double values[STEADY], every[STEADY], held[STEADY];
    steady_series(values, STEADY);
    for (size_t i = CHANGE_AT; i < STEADY; i++)
        values[i] += 60;
    for (size_t d = 0; d < sizeof detectors / sizeof *detectors; d++) {
        score_with(detectors[d], "onset_hold = 0;", values, STEADY, every);
        score_with(detectors[d], "onset_hold = 100; onset_level = 0.5;", values, STEADY, held);
        size_t first = CHANGE_AT;
        while (first < STEADY && held[first] < 0.5)
            first++;
        print_message("%s: level shift first detected %zu samples in; %zu detections without a hold, %zu with 100\n",
                      detectors[d], first - CHANGE_AT, detections(every, 0, STEADY), detections(held, 0, STEADY));
        assert_true(first < CHANGE_AT + 10);
        assert_true(detections(every, 0, STEADY) > detections(held, 0, STEADY));
        for (size_t i = first + 1; i <= first + 100; i++)
            assert_float_equal(held[i], 0, 0);
        for (size_t i = 0; i < STEADY; i++)
            if (held[i] != every[i] && held[i] != 0)
                fail_msg("%s: score %zu is %.17g with the hold, %.17g without", detectors[d], i, held[i], every[i]);
    }
}

static void assert_rejected(const char *name, const char *settings, const char *expected)
{
    support_plugin plugin;
    plugin_instance *instance = support_plugin_open(&plugin, "anomaly", name, settings);
    char reason[sizeof plugin.error];
    memcpy(reason, plugin.error, sizeof reason);
    support_plugin_close(&plugin);
    if (instance)
        fail_msg("%s accepted \"%s\"", name, settings);
    if (!strstr(reason, expected))
        fail_msg("%s with \"%s\": reason \"%s\" does not name \"%s\"", name, settings, reason, expected);
}

static void test_detectors_reject_bad_settings(void **unused)
{
    (void)unused;
    assert_rejected("ewma", "alpha = 0.0;", "setting 'alpha' must be a number in (0, 1]");
    assert_rejected("ewma", "threshold = -1.0;", "setting 'threshold'");
    assert_rejected("ewma", "min_samples = 0;", "setting 'min_samples' must be between 1");
    assert_rejected("residual", "season = -3;", "setting 'season' must be between 0 and 100000");
    assert_rejected("residual", "gamma = 1.5;", "setting 'gamma'");
    assert_rejected("isolation_forest", "trees = 0;", "setting 'trees' must be between 1 and 1000");
    assert_rejected("isolation_forest", "window = 100; sample_size = 200;", "setting 'sample_size'");
    assert_rejected("isolation_forest", "min_samples = 10;", "setting 'min_samples'");
    assert_rejected("consensus", "neighbours = 0;", "setting 'neighbours' must be between 1 and 50");
    assert_rejected("consensus", "lag = 101;", "setting 'lag' must be between 1 and 100");
    assert_rejected("consensus", "lag = 10; memory = 12;", "setting 'memory' must be between 18 and 100000");
    assert_rejected("consensus", "average = 0;", "setting 'average' must be between 1 and 1000");
    assert_rejected("consensus", "onset_level = 0.0;", "setting 'onset_level' must be a number in (0, 1]");
    assert_rejected("consensus", "onset_hold = -1;", "setting 'onset_hold' must be between 0 and 100000");
    assert_rejected("ewma", "onset_hold = -1;", "setting 'onset_hold' must be between 0 and 100000");
    assert_rejected("residual", "onset_level = 1.5;", "setting 'onset_level' must be a number in (0, 1]");
    assert_rejected("isolation_forest", "onset_hold = 100001;", "setting 'onset_hold' must be between 0 and 100000");
    assert_rejected("consensus", "trees = 0;", "setting 'trees' must be between 1 and 1000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detectors_score_a_spike_high_and_steady_data_low),
        cmocka_unit_test(test_detectors_see_only_the_past),
        cmocka_unit_test(test_detector_models_match_whole_series_scores),
        cmocka_unit_test(test_isolation_forest_is_deterministic_per_seed),
        cmocka_unit_test(test_consensus_reports_a_spike_once),
        cmocka_unit_test(test_consensus_reports_a_level_shift_once),
        cmocka_unit_test(test_consensus_reports_flat_turning_noisy_once),
        cmocka_unit_test(test_consensus_without_hold_reports_every_sample),
        cmocka_unit_test(test_consensus_learns_a_daily_spike),
        cmocka_unit_test(test_detectors_onset_hold_only_silences),
        cmocka_unit_test(test_detectors_reject_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
