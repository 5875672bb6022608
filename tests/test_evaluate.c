/* hydra detect, score-nab and backtest: NAB's scoring on a real labelled series, the commands end to end. */
#include "support.h"

#include "nab.h"
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

#define NAB_KEY "realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv"

static const char *nab_dir(void)
{
    const char *dir = getenv("HYDRA_NAB_DIR");
    return dir && dir[0] ? dir : "../shared/datasets/nab";
}

static const char *nab_path(const char *relative)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", nab_dir(), relative);
    return path;
}

/* The real series and its windows; the data set is part of the test environment, so missing files fail. */
typedef struct labelled {
    series_csv csv;
    nab_window *windows;
    size_t window_count;
    double *scores;
} labelled;

static void labelled_load(labelled *l)
{
    char error[1024];
    if (series_csv_read(nab_path("data/" NAB_KEY), 0, &l->csv, error, sizeof error) != 0)
        fail_msg("%s (the NAB subset is expected at ../shared/datasets/nab, or where HYDRA_NAB_DIR says)", error);
    if (nab_labels_read(nab_path("labels/combined_windows.json"), NAB_KEY, &l->windows, &l->window_count, error,
                        sizeof error) != 0)
        fail_msg("%s", error);
    assert_int_equal(l->window_count, 3);
    l->scores = calloc(l->csv.row_count, sizeof *l->scores);
}

static void labelled_free(labelled *l)
{
    series_csv_free(&l->csv);
    free(l->windows);
    free(l->scores);
}

static nab_file labelled_file(const labelled *l)
{
    return (nab_file){NAB_KEY, l->csv.row_times, l->scores, l->csv.row_count, l->windows, l->window_count};
}

static bool inside_a_window(const labelled *l, double t)
{
    for (size_t w = 0; w < l->window_count; w++)
        if (t >= l->windows[w].start && t <= l->windows[w].end)
            return true;
    return false;
}

static double score_with(const labelled *l, const char *profile_name, double threshold)
{
    nab_file file = labelled_file(l);
    nab_tally tally = {0};
    nab_score_file(&file, nab_profile_find(profile_name), threshold, &tally);
    return nab_normalised(&tally);
}

/* ## NAB scoring ------------------------------------------------------------------------------------------------ */

static void test_nab_detector_that_never_fires_scores_0(void **unused)
{
    (void)unused;
    labelled l;
    labelled_load(&l);
    assert_float_equal(score_with(&l, "standard", 0.5), 0, 1e-9);
    assert_float_equal(score_with(&l, "reward_low_FN_rate", 0.5), 0, 1e-9);
    labelled_free(&l);
}

static void test_nab_detector_firing_at_each_window_start_scores_100(void **unused)
{
    (void)unused;
    labelled l;
    labelled_load(&l);
    for (size_t w = 0; w < l.window_count; w++) {
        size_t i = 0;
        while (l.csv.row_times[i] < l.windows[w].start)
            i++;
        l.scores[i] = 1;
    }
    assert_float_equal(score_with(&l, "standard", 0.5), 100, 1e-6);
    assert_float_equal(score_with(&l, "reward_low_FP_rate", 0.5), 100, 1e-6);
    /* Detecting later in the window earns less. */
    for (size_t i = l.csv.row_count; i-- > 0;)
        if (l.scores[i] == 1) {
            l.scores[i] = 0;
            l.scores[i + 20] = 1;
        }
    double late = score_with(&l, "standard", 0.5);
    assert_true(late < 100 && late > 50);
    labelled_free(&l);
}

static void test_nab_detector_firing_only_outside_windows_scores_below_0(void **unused)
{
    (void)unused;
    labelled l;
    labelled_load(&l);
    size_t fired = 0;
    for (size_t i = 0; i < l.csv.row_count; i += 50)
        if (!inside_a_window(&l, l.csv.row_times[i])) {
            l.scores[i] = 0.9;
            fired++;
        }
    assert_true(fired > 10);
    double standard = score_with(&l, "standard", 0.5), low_fp = score_with(&l, "reward_low_FP_rate", 0.5);
    print_message("firing %zu times outside the windows: standard %.1f, low FP %.1f\n", fired, standard, low_fp);
    assert_true(standard < 0);
    assert_true(low_fp < standard);
    /* Above its scores, the detector never fires: 0 again. */
    assert_float_equal(score_with(&l, "standard", 0.95), 0, 1e-9);
    labelled_free(&l);
}

static void test_nab_best_threshold_ignores_a_noise_floor(void **unused)
{
    (void)unused;
    labelled l;
    labelled_load(&l);
    for (size_t i = 0; i < l.csv.row_count; i++)
        l.scores[i] = inside_a_window(&l, l.csv.row_times[i]) ? 0.8 : 0.3;
    nab_file file = labelled_file(&l);
    nab_tally best;
    double threshold = nab_best_threshold(&file, 1, nab_profile_find("standard"), &best);
    assert_true(threshold > 0.3 && threshold <= 0.8);
    assert_int_equal(best.detected, 3);
    assert_int_equal(best.false_positives, 0);
    assert_float_equal(nab_normalised(&best), 100, 1e-6);
    labelled_free(&l);
}

static void test_nab_sigmoid_shape(void **unused)
{
    (void)unused;
    assert_float_equal(nab_sigmoid(0), 0, 1e-12);
    assert_true(nab_sigmoid(-1) > 0.98 && nab_sigmoid(-1) < 1);
    assert_true(nab_sigmoid(3) < -0.99);
    assert_null(nab_profile_find("strict"));
}

/* ## The commands ------------------------------------------------------------------------------------------------ */

static int run_hydra(const char *arguments, const char **output)
{
    char line[8192];
    snprintf(line, sizeof line, "HYDRA_PLUGIN_DIR=%s/plugins %s/hydra %s 2>&1", support_build_dir(),
             support_build_dir(), arguments);
    return support_run(line, output);
}

static void test_detect_writes_a_score_for_every_row(void **unused)
{
    (void)unused;
    char arguments[4096];
    const char *output;
    snprintf(arguments, sizeof arguments, "detect --detector robust_z %s | head -2; "
             "%s/hydra detect --detector robust_z %s | wc -l", nab_path("data/" NAB_KEY), support_build_dir(),
             nab_path("data/" NAB_KEY));
    assert_int_equal(run_hydra(arguments, &output), 0);
    assert_contains(output, "timestamp,value,anomaly_score\n2014-02-14 14:27:00,2.296,0\n4033\n");
}

static void test_detect_then_score_nab_on_a_real_series(void **unused)
{
    (void)unused;
    char arguments[2048];
    const char *output;
    const char *results = "/tmp/hydra-test-evaluate-results-ec2_cpu_utilization_fe7f93.csv";
    snprintf(arguments, sizeof arguments, "detect --detector robust_z %s --out %s", nab_path("data/" NAB_KEY),
             results);
    assert_int_equal(run_hydra(arguments, &output), 0);
    snprintf(arguments, sizeof arguments, "score-nab %s --labels %s --profile reward_low_FN_rate", results,
             nab_path("labels/combined_windows.json"));
    assert_int_equal(run_hydra(arguments, &output), 0);
    assert_contains(output, "profile reward_low_FN_rate, threshold ");
    assert_contains(output, "score: ");
    snprintf(arguments, sizeof arguments, "score-nab %s --labels %s --profile strict", results,
             nab_path("labels/combined_windows.json"));
    assert_int_equal(run_hydra(arguments, &output), 2);
    assert_contains(output, "--profile is one of standard");
    remove(results);
}

static void test_detect_and_score_nab_name_the_bad_line(void **unused)
{
    (void)unused;
    const char *output;
    char arguments[4096];
    char bad_input[1024];
    snprintf(bad_input, sizeof bad_input, "%s",
             support_write_temp("timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,x\n"));
    snprintf(arguments, sizeof arguments, "detect --detector robust_z %s", bad_input);
    assert_int_equal(run_hydra(arguments, &output), 1);
    assert_contains(output, ":3: ");
    const char *bad_results = support_write_temp("timestamp,value,anomaly_score\n2020-01-01 00:00:00,1,0.5\n"
                                                 "2020-01-01 00:05:00,1,1.5\n");
    snprintf(arguments, sizeof arguments, "score-nab %s --labels %s", bad_results,
             nab_path("labels/combined_windows.json"));
    assert_int_equal(run_hydra(arguments, &output), 1);
    assert_contains(output, ":3: anomaly_score must be a number in [0, 1]");
    snprintf(arguments, sizeof arguments, "detect --detector no_such_detector %s", nab_path("data/" NAB_KEY));
    assert_int_equal(run_hydra(arguments, &output), 1);
    assert_contains(output, "no anomaly plugin 'no_such_detector'");
    assert_int_equal(run_hydra("detect --detector robust_z", &output), 2);
}

/* seasonal_naive repeats the value 1440 samples back, which is what MASE's yardstick with --season 1440 does: the
 * ratio must come out exactly 1 at every horizon, which checks the alignment of origins, horizons and targets. */
static void test_backtest_of_the_yardstick_itself_has_mase_1(void **unused)
{
    (void)unused;
    char arguments[4096];
    const char *output;
    const char *csv = "/tmp/hydra-test-evaluate-backtest.csv", *png = "/tmp/hydra-test-evaluate-backtest.png";
    snprintf(arguments, sizeof arguments, "backtest --model seasonal_naive --season 1440 %s --horizons 1,7 --out %s "
             "--report %s", nab_path("data/" NAB_KEY), csv, png);
    assert_int_equal(run_hydra(arguments, &output), 0);
    assert_contains(output, "2016 origins from sample 2016");
    assert_contains(output, "       1     2016 ");
    assert_contains(output, "       7     2010 ");
    assert_contains(output, "    1.000\n");
    FILE *file = fopen(csv, "r");
    assert_non_null(file);
    char line[512];
    assert_non_null(fgets(line, sizeof line, file));
    assert_string_equal(line, "origin,horizon,timestamp,actual,forecast,lower80,upper80,lower95,upper95,seasonal_naive\n");
    size_t rows = 0;
    while (fgets(line, sizeof line, file))
        rows++;
    fclose(file);
    assert_int_equal(rows, 2016 + 2010);
    file = fopen(png, "rb");
    assert_non_null(file);
    unsigned char magic[4] = {0};
    assert_int_equal(fread(magic, 1, 4, file), 4);
    fclose(file);
    assert_memory_equal(magic, "\x89PNG", 4);
    remove(csv);
    remove(png);
}

static void test_backtest_usage_errors(void **unused)
{
    (void)unused;
    char arguments[4096];
    const char *output;
    snprintf(arguments, sizeof arguments, "backtest --model seasonal_naive %s --horizons 1,0", nab_path("data/" NAB_KEY));
    assert_int_equal(run_hydra(arguments, &output), 2);
    assert_contains(output, "--horizons takes");
    assert_int_equal(run_hydra("backtest /tmp/none.csv", &output), 2);
    snprintf(arguments, sizeof arguments, "backtest --model no_such_model %s", nab_path("data/" NAB_KEY));
    assert_int_equal(run_hydra(arguments, &output), 1);
    assert_contains(output, "no forecaster plugin 'no_such_model'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nab_detector_that_never_fires_scores_0),
        cmocka_unit_test(test_nab_detector_firing_at_each_window_start_scores_100),
        cmocka_unit_test(test_nab_detector_firing_only_outside_windows_scores_below_0),
        cmocka_unit_test(test_nab_best_threshold_ignores_a_noise_floor),
        cmocka_unit_test(test_nab_sigmoid_shape),
        cmocka_unit_test(test_detect_writes_a_score_for_every_row),
        cmocka_unit_test(test_detect_then_score_nab_on_a_real_series),
        cmocka_unit_test(test_detect_and_score_nab_name_the_bad_line),
        cmocka_unit_test(test_backtest_of_the_yardstick_itself_has_mase_1),
        cmocka_unit_test(test_backtest_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
