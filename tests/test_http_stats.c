/* The HTTP server's own metrics in the Prometheus text format: counts by method, route and code; a histogram whose
 * buckets are cumulative, end in +Inf equal to _count, and come with _sum; label values escaped. */
#include "http_stats.h"

#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static size_t occurrences(const char *text, const char *part)
{
    size_t count = 0;
    for (const char *at = strstr(text, part); at; at = strstr(at + 1, part))
        count++;
    return count;
}

static void test_http_stats_is_empty_before_any_request(void **state)
{
    (void)state;
    http_stats *stats = http_stats_create();
    char *text = http_stats_exposition(stats);
    assert_string_equal(text, "");
    free(text);
    http_stats_destroy(stats);
}

static void test_http_stats_counts_by_route_and_code(void **state)
{
    (void)state;
    http_stats *stats = http_stats_create();
    http_stats_record(stats, "GET", "/api/v1/health", 200, 0.0002);
    http_stats_record(stats, "GET", "/api/v1/health", 200, 0.003);
    http_stats_record(stats, "POST", "/api/v1/ingest/metrics", 429, 0.0001);
    http_stats_record(stats, "BREW", NULL, 404, 0.0001); /* no route: no new series per made-up path or method */
    http_stats_record(stats, "GET", NULL, 404, 0.0001);
    char *text = http_stats_exposition(stats);
    assert_true(support_sample_value(text, "hydra_http_requests_total{method=\"GET\",route=\"/api/v1/health\","
                                           "code=\"200\"}") == 2);
    assert_true(support_sample_value(text, "hydra_http_requests_total{method=\"POST\",route=\"/api/v1/ingest/metrics\","
                                           "code=\"429\"}") == 1);
    assert_true(support_sample_value(text, "hydra_http_requests_total{method=\"other\",route=\"unmatched\","
                                           "code=\"404\"}") == 2);
    assert_int_equal(occurrences(text, "# TYPE hydra_http_requests_total counter\n"), 1);
    assert_int_equal(occurrences(text, "# HELP hydra_http_requests_total "), 1);
    free(text);
    http_stats_destroy(stats);
}

static void test_http_stats_histogram_is_cumulative_with_sum_and_count(void **state)
{
    (void)state;
    http_stats *stats = http_stats_create();
    double seconds[] = {0.0002, 0.004, 0.004, 0.3, 42};
    for (size_t i = 0; i < 5; i++)
        http_stats_record(stats, "GET", "/api/v1/recommendations/{id}", 200, seconds[i]);
    char *text = http_stats_exposition(stats);
    const char *labels = "{method=\"GET\",route=\"/api/v1/recommendations/{id}\"";
    char series[256];
    struct {
        const char *le;
        double expected;
    } buckets[] = {{"0.0005", 1}, {"0.001", 1}, {"0.005", 3}, {"0.25", 3}, {"0.5", 4}, {"10", 4}, {"+Inf", 5}};
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
        snprintf(series, sizeof series, "hydra_http_request_duration_seconds_bucket%s,le=\"%s\"}", labels,
                 buckets[i].le);
        if (support_sample_value(text, series) != buckets[i].expected)
            fail_msg("%s: expected %g in\n%s", series, buckets[i].expected, text);
    }
    snprintf(series, sizeof series, "hydra_http_request_duration_seconds_count%s}", labels);
    assert_true(support_sample_value(text, series) == 5);
    snprintf(series, sizeof series, "hydra_http_request_duration_seconds_sum%s}", labels);
    double sum = support_sample_value(text, series);
    assert_true(sum > 42.308 && sum < 42.309);
    assert_int_equal(occurrences(text, "# TYPE hydra_http_request_duration_seconds histogram\n"), 1);
    /* every histogram line comes after its TYPE line, and all the counter's lines before it */
    const char *type = strstr(text, "# TYPE hydra_http_request_duration_seconds histogram");
    assert_true(strstr(text, "hydra_http_request_duration_seconds_bucket") > type);
    assert_null(strstr(type, "hydra_http_requests_total{"));
    free(text);
    http_stats_destroy(stats);
}

static void test_http_stats_escapes_label_values(void **state)
{
    (void)state;
    http_stats *stats = http_stats_create();
    http_stats_record(stats, "GET", "/odd\"route\\with\nbreaks", 200, 0.001);
    char *text = http_stats_exposition(stats);
    assert_contains(text, "route=\"/odd\\\"route\\\\with\\nbreaks\"");
    free(text);
    http_stats_destroy(stats);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_stats_is_empty_before_any_request),
        cmocka_unit_test(test_http_stats_counts_by_route_and_code),
        cmocka_unit_test(test_http_stats_histogram_is_cumulative_with_sum_and_count),
        cmocka_unit_test(test_http_stats_escapes_label_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
