/* core/series_csv: reading "timestamp,value" files onto an even grid, on the NAB data as shipped and on small files
 * written here that each break one rule. */
#include "support.h"
#include "series_csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define NAB_DATA "../shared/datasets/nab/data/"
#define NAB_CPU NAB_DATA "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv"
#define NAB_TRAFFIC NAB_DATA "realTraffic/occupancy_t4013.csv"

/* cmocka's assert_float_equal compares as float, too coarse for Unix seconds. */
#define assert_exactly(actual, expected)                                                                           \
    do {                                                                                                           \
        double actual_ = (actual), expected_ = (expected);                                                         \
        if (!(actual_ == expected_))                                                                               \
            fail_msg("%s = %.17g, expected %.17g", #actual, actual_, expected_);                                   \
    } while (0)

/* ## Helpers ------------------------------------------------------------------------------------------------------- */

static char temp_path[64];
static char read_error[1024];

/* Writes bytes to a fresh file under /tmp, reads it with series_csv_read, removes it. The path stays in temp_path
 * so that errors can be compared against it. */
static int read_bytes(const char *bytes, size_t length, double step, series_csv *csv)
{
    snprintf(temp_path, sizeof temp_path, "/tmp/hydra_series_csv_XXXXXX");
    int fd = mkstemp(temp_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, length), (ssize_t)length);
    close(fd);
    read_error[0] = '\0';
    int result = series_csv_read(temp_path, step, csv, read_error, sizeof read_error);
    unlink(temp_path);
    return result;
}

static int read_text(const char *text, double step, series_csv *csv)
{
    return read_bytes(text, strlen(text), step, csv);
}

/* Reads text, expects a failure reported as "PATH:LINE: ...", on one line, mentioning part; leaves csv empty. */
static void assert_rejected_at(const char *text, unsigned line, const char *part)
{
    series_csv csv;
    assert_int_equal(read_text(text, 0, &csv), -1);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s:%u: ", temp_path, line);
    if (strncmp(read_error, prefix, strlen(prefix)) != 0)
        fail_msg("expected the error to start with \"%s\": \"%s\"", prefix, read_error);
    assert_contains(read_error, part);
    assert_null(strchr(read_error, '\n'));
    assert_null(csv.values);
    assert_null(csv.row_times);
    assert_int_equal(csv.row_count, 0);
}

static series_csv read_ok(const char *text, double step)
{
    series_csv csv;
    if (read_text(text, step, &csv) != 0)
        fail_msg("%s", read_error);
    return csv;
}

/* Lines in the file the way a person counts them: a last line without a newline counts too. */
static size_t count_lines(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        fail_msg("cannot open %s (tests run from the repository root, with the shared folder beside it)", path);
    size_t lines = 0;
    int c, last = '\n';
    while ((c = getc(file)) != EOF) {
        lines += c == '\n';
        last = c;
    }
    fclose(file);
    return lines + (last != '\n');
}

static size_t count_nan(const series_csv *csv)
{
    size_t gaps = 0;
    for (size_t i = 0; i < csv->count; i++)
        gaps += isnan(csv->values[i]);
    return gaps;
}

static series_csv read_nab(const char *path)
{
    series_csv csv;
    char error[1024];
    if (series_csv_read(path, 0, &csv, error, sizeof error) != 0)
        fail_msg("%s", error);
    return csv;
}

/* ## NAB files as shipped ------------------------------------------------------------------------------------------ */

/* ec2_cpu_utilization_825cc2: 4032 rows every 5 minutes, except two 10-minute gaps. */
static void test_series_csv_reads_nab_file_onto_5_minute_grid_with_gaps_as_nan(void **unused)
{
    (void)unused;
    series_csv csv = read_nab(NAB_CPU);
    assert_int_equal(csv.row_count, count_lines(NAB_CPU) - 1);
    assert_int_equal(csv.row_count, 4032);
    assert_exactly(csv.step, 300);
    assert_exactly(csv.start, 1397088240); /* 2014-04-10 00:04:00 UTC */
    assert_exactly(csv.row_times[0], csv.start);
    double span = csv.row_times[csv.row_count - 1] - csv.row_times[0];
    assert_int_equal(csv.count, (size_t)(span / 300) + 1);
    assert_int_equal(csv.count, 4034);
    assert_int_equal(count_nan(&csv), 2);
    assert_int_equal(csv.replaced, 0);
    for (size_t r = 0; r < csv.row_count; r++)
        assert_exactly(csv.values[series_csv_row_slot(&csv, r)], csv.row_values[r]);
    assert_exactly(csv.row_values[csv.row_count - 1], 96.584);
    series_csv_free(&csv);
}

/* occupancy_t4013 repeats 2015-09-10 05:33:00 on lines 895 and 896, has jittered timestamps, long gaps, and no
 * newline after its last line. */
static void test_series_csv_keeps_every_row_of_nab_traffic_file_with_repeated_timestamp(void **unused)
{
    (void)unused;
    series_csv csv = read_nab(NAB_TRAFFIC);
    assert_int_equal(csv.row_count, count_lines(NAB_TRAFFIC) - 1);
    assert_int_equal(csv.row_count, 2500);
    assert_exactly(csv.step, 300);
    assert_exactly(csv.row_times[893], csv.row_times[894]);
    assert_exactly(csv.row_values[893], 2.56);
    assert_exactly(csv.row_values[894], 8.94);
    assert_true(csv.replaced >= 1);
    size_t slot = series_csv_row_slot(&csv, 894);
    assert_int_equal(series_csv_row_slot(&csv, 893), slot);
    assert_exactly(csv.values[slot], 8.94); /* the later row wins */
    assert_exactly(csv.values[csv.count - 1], 8.06);
    assert_int_equal(csv.count, (size_t)llround((csv.row_times[2499] - csv.start) / 300) + 1);
    assert_true(count_nan(&csv) > 0);
    series_csv_free(&csv);
}

static void test_series_csv_view_maps_grid_onto_hydra_series(void **unused)
{
    (void)unused;
    series_csv csv = read_ok("timestamp,value\n100,1\n160,2\n220,3\n340,4\n", 0);
    hydra_series view = series_csv_view(&csv);
    assert_ptr_equal(view.values, csv.values);
    assert_int_equal(view.count, 5);
    assert_exactly(view.start, 100);
    assert_exactly(view.step, 60);
    assert_exactly(view.values[1], 2);
    assert_true(isnan(view.values[3]));
    assert_exactly(view.values[4], 4);
    series_csv_free(&csv);
}

/* ## Formats ------------------------------------------------------------------------------------------------------- */

static void test_series_csv_reads_crlf_line_endings(void **unused)
{
    (void)unused;
    series_csv csv = read_ok("timestamp,value\r\n2014-04-10 00:02:00,1.5\r\n2014-04-10 00:07:00,2.5\r\n", 0);
    assert_int_equal(csv.row_count, 2);
    assert_exactly(csv.start, 1397088120);
    assert_exactly(csv.step, 300);
    assert_exactly(csv.row_values[1], 2.5);
    series_csv_free(&csv);
}

static void test_series_csv_reads_last_line_without_newline(void **unused)
{
    (void)unused;
    series_csv csv = read_ok("timestamp,value\r\n0,1\r\n10,2", 0);
    assert_int_equal(csv.row_count, 2);
    assert_exactly(csv.row_values[1], 2);
    series_csv_free(&csv);
}

static void test_series_csv_reads_unix_second_timestamps(void **unused)
{
    (void)unused;
    series_csv csv = read_ok("time,cpu\n1397088120,10\n1397088420,20\n1397088720,30\n1397089320,50\n", 0);
    assert_int_equal(csv.row_count, 4);
    assert_exactly(csv.start, 1397088120);
    assert_exactly(csv.step, 300);
    assert_int_equal(csv.count, 5);
    assert_true(isnan(csv.values[3]));
    assert_exactly(csv.values[4], 50);
    series_csv_free(&csv);
}

static void test_series_csv_reads_iso_8601_with_t_z_fraction_and_offset(void **unused)
{
    (void)unused;
    series_csv csv = read_ok("timestamp,value\n"
                             "2014-04-10T00:02:00Z,1\n"
                             "2014-04-10T00:07:00.000000Z,2\n"
                             "2014-04-10T02:12:00+02:00,3\n"
                             "2014-04-09T22:17:00-02:00,4\n",
                             0);
    assert_exactly(csv.start, 1397088120);
    assert_int_equal(csv.count, 4);
    assert_int_equal(count_nan(&csv), 0);
    assert_exactly(csv.row_times[3], 1397088120 + 900);
    series_csv_free(&csv);
    double at;
    assert_true(series_csv_parse_time("2014-04-15 07:24:00.500000", &at));
    assert_exactly(at, 1397546640.5);
}

static void test_series_csv_parse_time_refuses_impossible_dates_and_junk(void **unused)
{
    (void)unused;
    const char *bad[] = {"2014-02-30 00:00:00", "2014-13-01 00:00:00", "2014-04-10 24:00:00", "2014-04-10 00:60:00",
                         "2014-04-10", "2014-4-10 00:00:00", "2014-04-10 00:00:00Q", "2014-04-10 00:00:00.",
                         "nan", "inf", "0x10", " 12", "", "12abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double at = -1;
        if (series_csv_parse_time(bad[i], &at))
            fail_msg("\"%s\" parsed as %f", bad[i], at);
    }
    double at;
    assert_true(series_csv_parse_time("2016-02-29 00:00:00", &at));
}

/* ## Step and grid ------------------------------------------------------------------------------------------------- */

static void test_series_csv_detects_step_as_most_common_difference(void **unused)
{
    (void)unused;
    series_csv csv = read_ok("t,v\n0,1\n60,1\n120,1\n300,1\n360,1\n1000,1\n", 0);
    assert_exactly(csv.step, 60);
    series_csv_free(&csv);
}

static void test_series_csv_detects_step_as_median_when_no_difference_repeats(void **unused)
{
    (void)unused;
    series_csv csv = read_ok("t,v\n0,1\n10,1\n30,1\n60,1\n", 0);
    assert_exactly(csv.step, 20);
    series_csv_free(&csv);
}

static void test_series_csv_uses_explicit_step(void **unused)
{
    (void)unused;
    series_csv csv = read_ok("timestamp,value\n0,1\n300,2\n600,3\n", 60);
    assert_exactly(csv.step, 60);
    assert_int_equal(csv.count, 11);
    assert_exactly(csv.values[5], 2);
    assert_int_equal(count_nan(&csv), 8);
    series_csv_free(&csv);
}

static void test_series_csv_places_off_grid_timestamps_at_nearest_slot(void **unused)
{
    (void)unused;
    series_csv csv = read_ok("timestamp,value\n0,1\n290,2\n610,3\n890,4\n", 300);
    assert_int_equal(csv.count, 4);
    assert_exactly(csv.values[1], 2);
    assert_exactly(csv.values[2], 3);
    assert_exactly(csv.values[3], 4);
    assert_int_equal(series_csv_row_slot(&csv, 2), 2);
    assert_int_equal(csv.replaced, 0);
    series_csv_free(&csv);
}

static void test_series_csv_later_row_takes_a_shared_slot_and_is_counted(void **unused)
{
    (void)unused;
    series_csv csv = read_ok("timestamp,value\n0,1\n100,2\n100,3\n300,5\n", 300);
    assert_int_equal(csv.row_count, 4);
    assert_int_equal(csv.count, 2);
    assert_exactly(csv.values[0], 3);
    assert_exactly(csv.values[1], 5);
    assert_int_equal(csv.replaced, 2);
    series_csv_free(&csv);
}

static void test_series_csv_refuses_grid_over_the_limit(void **unused)
{
    (void)unused;
    assert_rejected_at("timestamp,value\n0,1\n1,1\n2,1\n1000000000,2\n", 5, "grid points");
    series_csv csv;
    assert_int_equal(read_text("timestamp,value\n0,1\n60,2\n", 1e-300, &csv), -1);
    assert_contains(read_error, "larger step");
}

static void test_series_csv_cannot_detect_step_from_one_timestamp(void **unused)
{
    (void)unused;
    assert_rejected_at("timestamp,value\n5,1\n5,2\n", 3, "cannot detect the step");
    series_csv csv = read_ok("timestamp,value\n5,1\n", 60);
    assert_int_equal(csv.count, 1);
    series_csv_free(&csv);
}

/* ## Errors, each with FILE:LINE ----------------------------------------------------------------------------------- */

static void test_series_csv_reports_bad_value_with_file_and_line(void **unused)
{
    (void)unused;
    assert_rejected_at("timestamp,value\n2014-04-10 00:02:00,1\n2014-04-10 00:07:00,abc\n", 3, "bad value \"abc\"");
    assert_rejected_at("timestamp,value\n0,1\n60,nan\n", 3, "bad value");
    assert_rejected_at("timestamp,value\n0,1\n60,1e999\n", 3, "bad value");
    assert_rejected_at("timestamp,value\n0,1\n60,\n", 3, "missing value");
}

static void test_series_csv_rejects_timestamp_earlier_than_the_row_before(void **unused)
{
    (void)unused;
    assert_rejected_at("timestamp,value\n0,1\n600,2\n300,3\n", 4, "earlier than the row before (line 3)");
}

static void test_series_csv_rejects_bad_timestamp_with_file_and_line(void **unused)
{
    (void)unused;
    assert_rejected_at("timestamp,value\n2014-04-10 00:02:00,1\n2014-02-30 00:00:00,2\n", 3,
                       "bad timestamp \"2014-02-30 00:00:00\"");
}

static void test_series_csv_rejects_row_with_missing_column(void **unused)
{
    (void)unused;
    assert_rejected_at("timestamp,value\n0,1\n60\n", 3, "missing column");
    assert_rejected_at("timestamp\n0,1\n", 1, "missing column");
}

static void test_series_csv_rejects_row_with_extra_column(void **unused)
{
    (void)unused;
    assert_rejected_at("timestamp,value\n0,1,2\n", 2, "too many columns");
}

static void test_series_csv_rejects_empty_file(void **unused)
{
    (void)unused;
    assert_rejected_at("", 1, "empty file");
    assert_rejected_at("\n\r\n", 2, "empty file");
}

static void test_series_csv_rejects_header_without_rows(void **unused)
{
    (void)unused;
    assert_rejected_at("timestamp,value\n", 1, "no data rows");
}

static void test_series_csv_rejects_file_whose_first_line_is_data(void **unused)
{
    (void)unused;
    assert_rejected_at("2014-04-10 00:02:00,1\n2014-04-10 00:07:00,2\n", 1, "header");
}

static void test_series_csv_rejects_binary_and_overlong_lines(void **unused)
{
    (void)unused;
    series_csv csv;
    static const char nul_line[] = "timestamp,value\n0,1\n60,2\0junk\n";
    assert_int_equal(read_bytes(nul_line, sizeof nul_line - 1, 0, &csv), -1);
    assert_contains(read_error, ":3: NUL byte");
    char *long_line = malloc(SERIES_CSV_MAX_LINE + 64);
    snprintf(long_line, SERIES_CSV_MAX_LINE + 64, "timestamp,value\n0,");
    size_t length = strlen(long_line);
    memset(long_line + length, '1', SERIES_CSV_MAX_LINE);
    long_line[length + SERIES_CSV_MAX_LINE] = '\0';
    assert_int_equal(read_text(long_line, 0, &csv), -1);
    assert_contains(read_error, ":2: line longer than");
    free(long_line);
}

static void test_series_csv_error_quotes_field_on_one_printable_line(void **unused)
{
    (void)unused;
    assert_rejected_at("timestamp,value\n0,1\n60,\x01\x02\x7f\r\n", 3, "bad value \"???\"");
}

static void test_series_csv_reports_missing_file(void **unused)
{
    (void)unused;
    series_csv csv;
    char error[256];
    assert_int_equal(series_csv_read("/nonexistent/hydra.csv", 0, &csv, error, sizeof error), -1);
    assert_string_equal(error, "/nonexistent/hydra.csv: cannot open: No such file or directory");
    assert_int_equal(series_csv_read(NAB_CPU, NAN, &csv, error, sizeof error), -1);
    assert_contains(error, "step");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_csv_reads_nab_file_onto_5_minute_grid_with_gaps_as_nan),
        cmocka_unit_test(test_series_csv_keeps_every_row_of_nab_traffic_file_with_repeated_timestamp),
        cmocka_unit_test(test_series_csv_view_maps_grid_onto_hydra_series),
        cmocka_unit_test(test_series_csv_reads_crlf_line_endings),
        cmocka_unit_test(test_series_csv_reads_last_line_without_newline),
        cmocka_unit_test(test_series_csv_reads_unix_second_timestamps),
        cmocka_unit_test(test_series_csv_reads_iso_8601_with_t_z_fraction_and_offset),
        cmocka_unit_test(test_series_csv_parse_time_refuses_impossible_dates_and_junk),
        cmocka_unit_test(test_series_csv_detects_step_as_most_common_difference),
        cmocka_unit_test(test_series_csv_detects_step_as_median_when_no_difference_repeats),
        cmocka_unit_test(test_series_csv_uses_explicit_step),
        cmocka_unit_test(test_series_csv_places_off_grid_timestamps_at_nearest_slot),
        cmocka_unit_test(test_series_csv_later_row_takes_a_shared_slot_and_is_counted),
        cmocka_unit_test(test_series_csv_refuses_grid_over_the_limit),
        cmocka_unit_test(test_series_csv_cannot_detect_step_from_one_timestamp),
        cmocka_unit_test(test_series_csv_reports_bad_value_with_file_and_line),
        cmocka_unit_test(test_series_csv_rejects_timestamp_earlier_than_the_row_before),
        cmocka_unit_test(test_series_csv_rejects_bad_timestamp_with_file_and_line),
        cmocka_unit_test(test_series_csv_rejects_row_with_missing_column),
        cmocka_unit_test(test_series_csv_rejects_row_with_extra_column),
        cmocka_unit_test(test_series_csv_rejects_empty_file),
        cmocka_unit_test(test_series_csv_rejects_header_without_rows),
        cmocka_unit_test(test_series_csv_rejects_file_whose_first_line_is_data),
        cmocka_unit_test(test_series_csv_rejects_binary_and_overlong_lines),
        cmocka_unit_test(test_series_csv_error_quotes_field_on_one_printable_line),
        cmocka_unit_test(test_series_csv_reports_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
