/* hydra serve, as a person runs it: keys from the CLI, the daemon on a free port with its own SQLite file, the API
 * through curl — health, keys and scopes, ingest (validation, idempotency, limits), a surge becoming a pending
 * recommendation, approval over the network, and a clean stop on SIGTERM. */
#include "support.h"

#include "util.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static support_daemon run;
static char admin_key[128], reader_key[128];

static int setup(void **state)
{
    (void)state;
    support_daemon_init(&run, NULL);
    support_daemon_key(&run, "alice", "ingest,read,approve", admin_key, sizeof admin_key);
    support_daemon_key(&run, "viewer", "read", reader_key, sizeof reader_key);
    support_daemon_start(&run);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    support_daemon_remove(&run);
    return 0;
}

/* ## The API through curl --------------------------------------------------------------------------------------- */

typedef support_reply reply;

/* method path with an optional key and JSON body (extra: more curl arguments). */
static reply call(const char *method, const char *path, const char *key, const char *body, const char *extra)
{
    return support_call(&run, method, path, key, body, extra);
}

static const char *error_of(const reply *r) { return json_string_value(json_object_get(r->json, "error")); }

static void test_daemon_health_and_request_ids(void **state)
{
    (void)state;
    reply r = call("GET", "/api/v1/health", NULL, NULL, "-H 'X-Request-Id: trace-42'");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    assert_contains(r.headers, "X-Request-Id: trace-42");
    json_decref(r.json);
    r = call("GET", "/api/v1/health/db", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_contains(r.headers, "X-Request-Id: req-");
    json_decref(r.json);
    r = call("GET", "/api/v1/nowhere", NULL, NULL, NULL);
    assert_int_equal(r.status, 404);
    json_decref(r.json);
    r = call("DELETE", "/api/v1/health", NULL, NULL, NULL);
    assert_int_equal(r.status, 405);
    json_decref(r.json);
}

static void test_daemon_keys_and_scopes(void **state)
{
    (void)state;
    reply r = call("GET", "/api/v1/recommendations", NULL, NULL, NULL);
    assert_int_equal(r.status, 401);
    json_decref(r.json);
    r = call("GET", "/api/v1/recommendations", "hydra_not-a-real-key", NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_contains(error_of(&r), "unknown or revoked");
    json_decref(r.json);
    r = call("POST", "/api/v1/ingest/metrics", reader_key, "[]", NULL);
    assert_int_equal(r.status, 403);
    assert_contains(error_of(&r), "'viewer' lacks the scope");
    json_decref(r.json);
    r = call("GET", "/api/v1/services", reader_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "services"), 0),
                                                          "name")),
                        "donations-api");
    json_decref(r.json);
}

static void test_daemon_ingest_rejects_bad_input_naming_the_field(void **state)
{
    (void)state;
    double now = (double)time(NULL);
    char *body = xasprintf("{\"samples\":[{\"service\":\"donations-api\",\"ts\":%.0f,\"value\":100},"
                           "{\"service\":\"donations-api\",\"ts\":%.0f,\"value\":\"lots\"}]}",
                           now, now);
    reply r = call("POST", "/api/v1/ingest/metrics", admin_key, body, NULL);
    free(body);
    assert_int_equal(r.status, 400);
    assert_string_equal(json_string_value(json_object_get(r.json, "field")), "samples[1].value");
    json_decref(r.json);
    r = call("POST", "/api/v1/ingest/metrics", admin_key, "{\"samples\": [", NULL);
    assert_int_equal(r.status, 400);
    assert_contains(error_of(&r), "not JSON");
    json_decref(r.json);
    r = call("POST", "/api/v1/ingest/metrics", admin_key, NULL, "-H 'Content-Type: text/plain' --data-binary x");
    assert_int_equal(r.status, 415);
    json_decref(r.json);
    /* over the 1 MiB default: 413, and the daemon carries on */
    char *huge = xmalloc((2u << 20) + 1);
    memset(huge, ' ', 2u << 20);
    huge[2u << 20] = '\0';
    r = call("POST", "/api/v1/ingest/metrics", admin_key, huge, NULL);
    free(huge);
    assert_int_equal(r.status, 413);
    json_decref(r.json);
    r = call("GET", "/api/v1/health", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
}

static void test_daemon_ingest_replay_with_idempotency_key_answers_the_same(void **state)
{
    (void)state;
    char *body = xasprintf("[{\"service\":\"payments\",\"ts\":%.0f,\"value\":12},"
                           "{\"service\":\"payments\",\"ts\":%.0f,\"value\":13}]",
                           (double)time(NULL), (double)time(NULL) + 1);
    reply first = call("POST", "/api/v1/ingest/metrics", admin_key, body, "-H 'Idempotency-Key: batch-7'");
    reply again = call("POST", "/api/v1/ingest/metrics", admin_key, body, "-H 'Idempotency-Key: batch-7'");
    free(body);
    assert_int_equal(first.status, 200);
    assert_int_equal(again.status, 200);
    assert_int_equal(json_integer_value(json_object_get(first.json, "accepted")), 2);
    assert_true(json_equal(first.json, again.json));
    json_decref(first.json);
    json_decref(again.json);
}

/* A surge arrives; a pending recommendation is readable from the API; a person approves it over the network. */
static void test_daemon_surge_becomes_pending_then_approved(void **state)
{
    (void)state;
    char *body = xasprintf("[{\"service\":\"donations-api\",\"ts\":%.0f,\"value\":5000}]", (double)time(NULL));
    reply r = call("POST", "/api/v1/ingest/metrics", admin_key, body, NULL);
    free(body);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    r = call("GET", "/api/v1/recommendations?status=pending", reader_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *pending = json_array_get(json_object_get(r.json, "recommendations"), 0);
    assert_non_null(pending);
    assert_string_equal(json_string_value(json_object_get(pending, "target")), "donations-api");
    assert_int_equal(json_integer_value(json_object_get(pending, "from_replicas")), 4);
    assert_int_equal(json_integer_value(json_object_get(pending, "to_replicas")), 24); /* 4 + max_step 20 */
    char id[64];
    format_into(id, sizeof id, "%s", json_string_value(json_object_get(pending, "id")));
    json_decref(r.json);

    char *path = xasprintf("/api/v1/recommendations/%s/approve", id);
    r = call("POST", path, reader_key, NULL, NULL);
    assert_int_equal(r.status, 403); /* read scope cannot decide */
    json_decref(r.json);
    r = call("POST", path, admin_key, "{\"reason\":\"surge is real\"}", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executed");
    json_decref(r.json);
    r = call("POST", path, admin_key, NULL, NULL);
    assert_int_equal(r.status, 409); /* nobody decides twice */
    json_decref(r.json);
    free(path);

    path = xasprintf("/api/v1/recommendations/%s", id);
    r = call("GET", path, reader_key, NULL, NULL);
    free(path);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "decided_by")), "alice");
    json_t *events = json_object_get(r.json, "events");
    assert_int_equal(json_array_size(events), 4); /* created pending, approved, executing, executed */
    assert_string_equal(json_string_value(json_object_get(json_array_get(events, 1), "why")), "surge is real");
    assert_string_equal(json_string_value(json_object_get(json_array_get(events, 3), "to")), "executed");
    json_decref(r.json);
}

/* Ingests a surge of `load` seconds_ahead from now and returns the pending recommendation it raised. */
static void surge_to_pending(double load, double seconds_ahead, char *id, size_t size)
{
    char *body = xasprintf("[{\"service\":\"donations-api\",\"ts\":%.0f,\"value\":%.0f}]",
                           (double)time(NULL) + seconds_ahead, load);
    reply r = call("POST", "/api/v1/ingest/metrics", admin_key, body, NULL);
    free(body);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    r = call("GET", "/api/v1/recommendations?status=pending", reader_key, NULL, NULL);
    json_t *pending = json_array_get(json_object_get(r.json, "recommendations"), 0);
    assert_non_null(pending);
    format_into(id, size, "%s", json_string_value(json_object_get(pending, "id")));
    json_decref(r.json);
}

/* A pending recommendation outlives a restart and can still be approved. */
static void test_daemon_resumes_pending_recommendations_after_restart(void **state)
{
    (void)state;
    char id[64];
    surge_to_pending(20000, 60, id, sizeof id);
    reply r;

    support_daemon_stop(&run);
    support_daemon_start(&run);

    char *path = xasprintf("/api/v1/recommendations/%s/approve", id);
    r = call("POST", path, admin_key, NULL, NULL);
    free(path);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executed");
    json_decref(r.json);
}

/* Every route the OpenAPI document names exists (answers neither 404 nor 405), and the core routes are in it. */
static void test_daemon_openapi_document_matches_the_routes(void **state)
{
    (void)state;
    reply r = call("GET", "/api/v1/openapi.json", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "openapi")), "3.0.3");
    json_t *paths = json_object_get(r.json, "paths");
    const char *expected[] = {"/api/v1/health", "/api/v1/ingest/metrics", "/api/v1/recommendations/{id}/approve",
                              "/metrics"};
    for (size_t i = 0; i < ARRAY_LEN(expected); i++)
        assert_non_null(json_object_get(paths, expected[i]));
    const char *path;
    json_t *operations;
    size_t checked = 0;
    json_object_foreach(paths, path, operations) {
        const char *method;
        json_t *operation;
        json_object_foreach(operations, method, operation) {
            char upper[8] = "";
            for (size_t k = 0; method[k] && k < 7; k++)
                upper[k] = (char)(method[k] & ~0x20);
            char concrete[256];
            const char *brace = strchr(path, '{');
            if (brace) /* a made-up id: the route must exist even if the thing does not */
                format_into(concrete, sizeof concrete, "%.*snope%s", (int)(brace - path), path, strchr(brace, '}') + 1);
            else
                format_into(concrete, sizeof concrete, "%s", path);
            reply each = call(upper, concrete, admin_key, NULL, NULL);
            if (each.status == 404 && brace == NULL)
                fail_msg("%s %s answers 404", upper, concrete);
            assert_int_not_equal(each.status, 405);
            json_decref(each.json);
            checked++;
        }
    }
    assert_true(checked >= 10);
    json_decref(r.json);
}

static void test_daemon_exposes_prometheus_metrics(void **state)
{
    (void)state;
    reply r = call("GET", "/metrics", reader_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_contains(r.headers, "text/plain; version=0.0.4");
    json_decref(r.json);
    char *line = xasprintf("curl -s -H 'Authorization: Bearer %s' http://127.0.0.1:%d/metrics", reader_key,
                           run.port);
    const char *output;
    assert_int_equal(support_run(line, &output), 0);
    free(line);
    assert_contains(output, "# TYPE hydra_samples_ingested_total counter");
    assert_contains(output, "hydra_samples_ingested_total{instance=\"core\"} ");
    assert_null(strstr(strstr(output, "# TYPE hydra_samples_scored") ? strstr(output, "# TYPE hydra_samples_scored") + 1
                                                                        : output,
                       "# TYPE hydra_samples_scored"));
}

/* hydra recommendations, the CLI client, against the running daemon. */
static int client(const char *key, const char *args, const char **output)
{
    char *line = xasprintf("HYDRA_API_KEY='%s' %s/hydra recommendations %s --url http://127.0.0.1:%d", key,
                           support_build_dir(), args, run.port);
    int status = support_run(line, output);
    free(line);
    return status;
}

static void test_daemon_cli_client_lists_shows_and_approves(void **state)
{
    (void)state;
    char id[64];
    surge_to_pending(40000, 120, id, sizeof id);

    const char *output;
    assert_int_equal(client(reader_key, "list --status pending", &output), 0);
    assert_contains(output, id);
    assert_contains(output, "pending");
    char args[128];
    format_into(args, sizeof args, "show %s", id);
    assert_int_equal(client(reader_key, args, &output), 0);
    assert_contains(output, "donations-api");
    assert_contains(output, "by policy default.lua");
    format_into(args, sizeof args, "approve %s --reason 'on call agrees'", id);
    assert_int_equal(client(reader_key, args, &output), 1);
    assert_contains(output, "the daemon refused the key (403)");
    assert_int_equal(client(admin_key, args, &output), 0);
    assert_contains(output, "executed");
    assert_int_equal(client(admin_key, args, &output), 1);
    assert_contains(output, "answered 409");
    assert_int_equal(client("hydra_wrong", "list", &output), 1);
    assert_contains(output, "refused the key (401)");
}

static void test_daemon_stops_cleanly_on_sigterm(void **state)
{
    (void)state;
    assert_int_equal(kill(run.pid, SIGTERM), 0);
    int status = -1;
    assert_int_equal(waitpid(run.pid, &status, 0), run.pid);
    run.pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    const char *output;
    assert_int_equal(client(admin_key, "list", &output), 1);
    assert_contains(output, "cannot reach the daemon");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_health_and_request_ids),
        cmocka_unit_test(test_daemon_keys_and_scopes),
        cmocka_unit_test(test_daemon_ingest_rejects_bad_input_naming_the_field),
        cmocka_unit_test(test_daemon_ingest_replay_with_idempotency_key_answers_the_same),
        cmocka_unit_test(test_daemon_surge_becomes_pending_then_approved),
        cmocka_unit_test(test_daemon_openapi_document_matches_the_routes),
        cmocka_unit_test(test_daemon_exposes_prometheus_metrics),
        cmocka_unit_test(test_daemon_resumes_pending_recommendations_after_restart),
        cmocka_unit_test(test_daemon_cli_client_lists_shows_and_approves),
        cmocka_unit_test(test_daemon_stops_cleanly_on_sigterm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
