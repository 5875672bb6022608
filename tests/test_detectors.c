/* The streaming anomaly detectors ewma, residual and isolation_forest, loaded as the controller loads them: a spike
 * scores high, steady data low, only the past is seen, the model and whole-series paths agree, settings are checked. */
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

static const char *const detectors[] = {"ewma", "residual", "isolation_forest"};

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

static void score_all(const char *name, const double *values, size_t count, double *scores)
{
    support_plugin plugin;
    plugin_instance *instance = open_detector(&plugin, name, NULL);
    hydra_series series = {.values = values, .count = count, .start = 0, .step = 300};
    assert_int_equal(instance_score(instance, &series, scores), 0);
    support_plugin_close(&plugin);
}

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
        assert_true(scores[SPIKE_AT] >= 0.8);
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detectors_score_a_spike_high_and_steady_data_low),
        cmocka_unit_test(test_detectors_see_only_the_past),
        cmocka_unit_test(test_detector_models_match_whole_series_scores),
        cmocka_unit_test(test_isolation_forest_is_deterministic_per_seed),
        cmocka_unit_test(test_detectors_reject_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
