/* The daemon as operators watch it: per-key rate limits (429 with Retry-After), its own HTTP request counts and
 * latency histogram on /metrics, and JSON logs whose request lines carry the request id as a field. One daemon runs
 * a config of its own: a low limit, JSON logs. */
#include "servers.h"
#include "support.h"

#include "util.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static daemon_run run;

static const char config_text[] =
    "log_format = \"json\";\n"
    "store = { name = \"sqlite\"; settings = { path = \"hydra.db\"; }; };\n"
    "api = { rate_limit = { requests_per_second = 0.5; burst = 3; }; };\n"
    "plugins = ( { kind = \"forecaster\"; name = \"seasonal_naive\"; }, { kind = \"scaler\"; name = \"log\"; } );\n"
    "targets = ( { name = \"web\"; forecaster = \"seasonal_naive\"; scaler = \"log\";\n"
    "              capacity_per_replica = 100.0; } );\n";

static int setup(void **state)
{
    (void)state;
    return daemon_prepare_config(&run, config_text) == 0 && daemon_start(&run) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    daemon_cleanup(&run);
    return 0;
}

/* A key of its own per test, so each starts with a full bucket. */
static void new_key(const char *name, const char *scopes, char *secret, size_t size)
{
    assert_int_equal(daemon_create_key(&run, "default", name, scopes, secret, size), 0);
}

static void test_rate_limit_answers_429_with_retry_after_per_key(void **state)
{
    (void)state;
    char flooder[128], bystander[128];
    new_key("flooder", "read", flooder, sizeof flooder);
    new_key("bystander", "read", bystander, sizeof bystander);
    for (int i = 0; i < 3; i++) { /* the burst */
        reply r = daemon_call(&run, "GET", "/api/v1/services", flooder, NULL, NULL);
        assert_int_equal(r.status, 200);
        json_decref(r.json);
    }
    reply r = daemon_call(&run, "GET", "/api/v1/services", flooder, NULL, NULL);
    assert_int_equal(r.status, 429);
    assert_contains(r.headers, "Retry-After: 2\r\n"); /* under a token short at 0.5 a second, rounded up */
    assert_contains(json_string_value(json_object_get(r.json, "error")), "rate limit: the key 'flooder' may make");
    json_decref(r.json);
    /* another key is not slowed down by this one */
    r = daemon_call(&run, "GET", "/api/v1/services", bystander, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    /* after the time it was told, the flooder is served again */
    sleep(2);
    r = daemon_call(&run, "GET", "/api/v1/services", flooder, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
}

/* hydra ingest against the limit: told 429 and how long to wait, it waits and sends the rest; nothing is lost. */
static void test_ingest_waits_out_the_rate_limit_and_loses_nothing(void **state)
{
    (void)state;
    char loader[128];
    new_key("loader", "ingest", loader, sizeof loader);
    const char *csv = support_write_temp("service,metric,ts,value\n"
                                         "web,rps,1800000000,1\nweb,rps,1800000060,2\nweb,rps,1800000120,3\n"
                                         "web,rps,1800000180,4\nweb,rps,1800000240,5\n");
    char *line = xasprintf("HYDRA_API_KEY='%s' %s/hydra ingest %s --batch 1 --url http://127.0.0.1:%d", loader,
                           support_build_dir(), csv, run.port);
    const char *output;
    int status = support_run(line, &output);
    free(line);
    if (status != 0)
        fail_msg("ingest failed: %s", output);
    assert_contains(output, "rate limited; trying again in 2 s"); /* the fourth batch, after the burst of three */
    assert_contains(output, "5 samples sent in 5 batches");
    unlink(csv);
    line = xasprintf("(%s/hydra export --config %s --since 0 2>/dev/null)", support_build_dir(), run.config);
    assert_int_equal(support_run(line, &output), 0);
    free(line);
    assert_string_equal(output, "service,metric,ts,value\nweb,rps,1800000000,1\nweb,rps,1800000060,2\n"
                                "web,rps,1800000120,3\nweb,rps,1800000180,4\nweb,rps,1800000240,5\n");
}

/* The text of GET /metrics. */
static char *metrics_text(const char *key)
{
    char *text = daemon_text(&run, "/metrics", key);
    assert_non_null(text);
    return text;
}

#define HEALTH_LABELS "{method=\"GET\",route=\"/api/v1/health\""

static void test_metrics_count_requests_and_fill_the_latency_histogram(void **state)
{
    (void)state;
    char reader[128];
    new_key("watcher", "read", reader, sizeof reader);
    char *before = metrics_text(reader);
    for (int i = 0; i < 3; i++) {
        reply r = daemon_call(&run, "GET", "/api/v1/health", NULL, NULL, NULL);
        assert_int_equal(r.status, 200);
        json_decref(r.json);
    }
    reply r = daemon_call(&run, "GET", "/api/v1/no-such-thing", NULL, NULL, NULL);
    assert_int_equal(r.status, 404);
    json_decref(r.json);
    char *after = metrics_text(reader);

    const char *counted = "hydra_http_requests_total" HEALTH_LABELS ",code=\"200\"}";
    assert_true(support_sample_value(after, counted) == support_sample_value(before, counted) + 3);
    const char *unmatched = "hydra_http_requests_total{method=\"other\",route=\"unmatched\",code=\"404\"}";
    assert_true(support_sample_value(after, unmatched) == support_sample_value(before, unmatched) + 1);
    const char *count = "hydra_http_request_duration_seconds_count" HEALTH_LABELS "}";
    const char *infinite = "hydra_http_request_duration_seconds_bucket" HEALTH_LABELS ",le=\"+Inf\"}";
    const char *ten = "hydra_http_request_duration_seconds_bucket" HEALTH_LABELS ",le=\"10\"}";
    assert_true(support_sample_value(after, count) == support_sample_value(before, count) + 3);
    assert_true(support_sample_value(after, infinite) == support_sample_value(after, count));
    assert_true(support_sample_value(after, ten) == support_sample_value(before, ten) + 3); /* none took ten seconds */
    assert_true(support_sample_value(after, "hydra_http_request_duration_seconds_sum" HEALTH_LABELS "}") > 0);
    assert_contains(after, "# TYPE hydra_http_request_duration_seconds histogram\n");
    assert_contains(after, "# TYPE hydra_http_requests_total counter\n");
    /* the /metrics call itself is counted, under its key's route */
    const char *metrics_route = "hydra_http_requests_total{method=\"GET\",route=\"/metrics\",code=\"200\"}";
    assert_true(support_sample_value(after, metrics_route) >= 1);
    free(before);
    free(after);
}

/* Every line of the log is a JSON object; request lines carry request_id as a field equal to the X-Request-Id the
 * client sent, and lines of no request carry none. */
static void test_json_logs_carry_the_request_id_as_a_field(void **state)
{
    (void)state;
    reply r = daemon_call(&run, "GET", "/api/v1/health", NULL, NULL, "-H 'X-Request-Id: trace-json-7'");
    assert_int_equal(r.status, 200);
    assert_contains(r.headers, "X-Request-Id: trace-json-7");
    json_decref(r.json);
    r = daemon_call(&run, "GET", "/api/v1/health/db", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);

    FILE *log = fopen(run.log, "r");
    assert_non_null(log);
    char line[8192];
    size_t lines = 0, request_lines = 0, other_lines = 0;
    bool traced = false;
    while (fgets(line, sizeof line, log)) {
        json_error_t error;
        json_t *entry = json_loads(line, 0, &error);
        if (!json_is_object(entry))
            fail_msg("log line %zu is not a JSON object (%s): %s", lines + 1, error.text, line);
        lines++;
        const char *msg = json_string_value(json_object_get(entry, "msg"));
        json_t *request_id = json_object_get(entry, "request_id");
        assert_non_null(msg);
        assert_true(json_is_number(json_object_get(entry, "ts")));
        assert_non_null(json_string_value(json_object_get(entry, "level")));
        if (strncmp(msg, "http ", 5) == 0) {
            request_lines++;
            assert_true(json_is_string(request_id));
            if (strstr(msg, "GET /api/v1/health -> 200")) {
                traced |= strcmp(json_string_value(request_id), "trace-json-7") == 0;
            } else if (strstr(msg, "GET /api/v1/health/db -> 200")) {
                assert_int_equal(strncmp(json_string_value(request_id), "req-", 4), 0); /* one made for it */
            }
        } else {
            other_lines++;
            if (request_id)
                fail_msg("a line of no request has a request_id: %s", line);
        }
        json_decref(entry);
    }
    fclose(log);
    assert_true(traced);
    assert_true(request_lines >= 2);
    assert_true(other_lines >= 1); /* the store's start-up line at least */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_limit_answers_429_with_retry_after_per_key),
        cmocka_unit_test(test_ingest_waits_out_the_rate_limit_and_loses_nothing),
        cmocka_unit_test(test_metrics_count_requests_and_fill_the_latency_histogram),
        cmocka_unit_test(test_json_logs_carry_the_request_id_as_a_field),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
