/* The samples CSV of hydra ingest and export: what export writes reads back the same (quotes, commas, 17 digits),
 * and every malformed line fails with FILE:LINE and what is wrong. */
#include "samples_csv.h"

#include "support.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct rows_seen {
    size_t count;
    char text[8][160];
} rows_seen;

static int keep_row(void *context, const hydra_sample *sample, unsigned long line)
{
    rows_seen *seen = context;
    if (seen->count < 8)
        format_into(seen->text[seen->count], sizeof seen->text[0], "%lu|%s|%s|%.17g|%.17g", line, sample->service,
                    sample->metric, sample->ts, sample->value);
    seen->count++;
    return 0;
}

/* Reads text as a file: 0 and the rows in seen, or -1 with the error (which names the file) in error. */
static int read_text(const char *text, rows_seen *seen, char *error, size_t size)
{
    memset(seen, 0, sizeof *seen);
    char path[64];
    format_into(path, sizeof path, "%s", support_write_temp(text));
    int status = samples_csv_read(path, keep_row, seen, error, size);
    if (status != 0) {
        assert_contains(error, path);
        memmove(error, strstr(error, path) + strlen(path), strlen(strstr(error, path) + strlen(path)) + 1);
    }
    unlink(path);
    return status;
}

static void test_samples_csv_reads_quotes_times_and_numbers(void **state)
{
    (void)state;
    rows_seen seen;
    char error[512];
    assert_int_equal(read_text("service,metric,ts,value\n"
                               "web,rps,1800000000,12.5\r\n"
                               "\n"
                               "\"web,eu\",\"say \"\"hi\"\"\",2027-02-08T00:00:00Z,-3e-2\n"
                               "  api , latency , 2027-02-08 00:01:00 , 0.1 \n",
                               &seen, error, sizeof error),
                     0);
    assert_int_equal(seen.count, 3);
    assert_string_equal(seen.text[0], "2|web|rps|1800000000|12.5");
    assert_string_equal(seen.text[1], "4|web,eu|say \"hi\"|1802044800|-0.029999999999999999");
    assert_string_equal(seen.text[2], "5|api|latency|1802044860|0.10000000000000001");
}

static void test_samples_csv_what_it_writes_reads_back_the_same(void **state)
{
    (void)state;
    hydra_sample samples[] = {{"web,eu", "say \"hi\"", 1802044800.25, 1.0 / 3}, {"api", "rps", 1e9, -0.0}};
    char path[64];
    format_into(path, sizeof path, "%s", support_write_temp(""));
    FILE *file = fopen(path, "w");
    samples_csv_write_header(file);
    for (size_t i = 0; i < 2; i++)
        samples_csv_write(file, &samples[i]);
    fclose(file);
    rows_seen seen = {0};
    char error[512];
    assert_int_equal(samples_csv_read(path, keep_row, &seen, error, sizeof error), 0);
    unlink(path);
    assert_int_equal(seen.count, 2);
    char expected[160];
    format_into(expected, sizeof expected, "2|web,eu|say \"hi\"|%.17g|%.17g", samples[0].ts, samples[0].value);
    assert_string_equal(seen.text[0], expected);
}

static void test_samples_csv_names_the_line_and_the_problem(void **state)
{
    (void)state;
    struct {
        const char *text, *error;
    } cases[] = {
        {"", ":1: empty file: expected a header line such as service,metric,ts,value"},
        {"ts,value\n1,2\n", ":1: missing column: expected four"},
        {"service,metric,time,value\n", ":1: expected the header service,metric,ts,value; column 3 is \"time\""},
        {"service,metric,ts,value\nweb,rps,1\n", ":2: missing column: expected four, service,metric,ts,value; found 3"},
        {"service,metric,ts,value\nweb,rps,1,2,3\n", ":2: too many columns"},
        {"service,metric,ts,value\n\"web,rps,1,2\n", ":2: unterminated quoted field in column 1"},
        {"service,metric,ts,value\nwe\"b,rps,1,2\n", ":2: a quote inside an unquoted field in column 1"},
        {"service,metric,ts,value\nweb,rps,1,2\nweb,,1,2\n", ":3: empty metric"},
        {"service,metric,ts,value\nweb,rps,soon,2\n", ":2: bad ts \"soon\""},
        {"service,metric,ts,value\nweb,rps,-5,2\n", ":2: bad ts \"-5\""},
        {"service,metric,ts,value\nweb,rps,1,nan\n", ":2: bad value \"nan\""},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        rows_seen seen;
        char error[512];
        if (read_text(cases[i].text, &seen, error, sizeof error) != -1)
            fail_msg("case %zu was read without an error", i);
        assert_contains(error, cases[i].error);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_csv_reads_quotes_times_and_numbers),
        cmocka_unit_test(test_samples_csv_what_it_writes_reads_back_the_same),
        cmocka_unit_test(test_samples_csv_names_the_line_and_the_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
