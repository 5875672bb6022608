/* hydra serve, as a person runs it: keys from the CLI, the daemon on a free port with its own SQLite file, the API
 * through curl — health, keys and scopes, ingest (validation, idempotency, limits), a surge becoming a pending
 * recommendation, approval over the network, and a clean stop on SIGTERM. */
#include "servers.h"
#include "support.h"

#include "util.h"

#include <jansson.h>
#include <math.h>
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

static daemon_run run;

static void start_daemon(void) { assert_int_equal(daemon_start(&run), 0); }
static char other_key[128]; /* read and approve, of another tenant */

/* The default config with more targets: search (an hourly season, so a forecast needs only an hour of samples),
 * checkout (a dry run, no detector) and ledger (no detector). It sits in run.dir/configs beside a link to the
 * scripts, so that its relative paths resolve as the default's do. */
static void write_test_config(void)
{
    FILE *file = fopen("configs/hydra.cfg", "r");
    assert_non_null(file);
    static char text[16384];
    text[fread(text, 1, sizeof text - 1, file)] = '\0';
    fclose(file);
    char *plugins = strstr(text, "plugins = (\n"), *targets = strstr(text, "targets = (\n");
    char *targets_end = targets ? strstr(targets, "\n);") : NULL;
    assert_true(plugins && targets_end && plugins < targets);
    const char *hourly = "  { kind = \"forecaster\"; name = \"seasonal_naive\"; instance = \"hourly\";\n"
                         "    settings = { season_length = 60; }; },\n";
    const char *more = ",\n"
                       "  { name = \"search\"; forecaster = \"hourly\"; anomaly = \"robust_z\"; scaler = \"log\";\n"
                       "    min_replicas = 2; max_replicas = 60; max_step = 20; capacity_per_replica = 100.0; },\n"
                       "  { name = \"checkout\"; forecaster = \"hourly\"; scaler = \"log\"; dry_run = true;\n"
                       "    min_replicas = 2; max_replicas = 60; max_step = 20; capacity_per_replica = 100.0; },\n"
                       "  { name = \"ledger\"; forecaster = \"hourly\"; scaler = \"log\";\n"
                       "    min_replicas = 2; max_replicas = 60; max_step = 20; capacity_per_replica = 100.0; }";
    size_t to_plugins = (size_t)(plugins - text) + strlen("plugins = (\n"), to_end = (size_t)(targets_end - text);
    char *folder = xasprintf("mkdir -p %s/configs && ln -s \"$PWD/scripts\" %s/scripts", run.dir, run.dir);
    assert_int_equal(support_run(folder, NULL), 0);
    free(folder);
    format_into(run.config, sizeof run.config, "%s/configs/hydra.cfg", run.dir);
    file = fopen(run.config, "w");
    assert_non_null(file);
    fprintf(file, "%.*s%s%.*s%s%s", (int)to_plugins, text, hourly, (int)(to_end - to_plugins), text + to_plugins,
            more, text + to_end);
    fclose(file);
}


static int setup(void **state)
{
    (void)state;
    if (daemon_prepare(&run, NULL, NULL) != 0)
        return -1;
    write_test_config();
    if (daemon_create_key(&run, "globex", "mallory", "ingest,read,approve", other_key, sizeof other_key) != 0)
        return -1;
    if (daemon_start(&run) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    daemon_cleanup(&run);
    return 0;
}

/* ## The API through curl --------------------------------------------------------------------------------------- */

static reply call(const char *method, const char *path, const char *key, const char *body, const char *extra)
{
    reply r = daemon_call(&run, method, path, key, body, extra);
    assert_int_not_equal(r.status, -1);
    return r;
}

static const char *error_of(const reply *r) { return json_string_value(json_object_get(r->json, "error")); }
static const char *field_of(const reply *r) { return json_string_value(json_object_get(r->json, "field")); }

/* The first item of r's list `list` whose `key` is value, or NULL. Recommendations come newest first. */
static json_t *item_where(const reply *r, const char *list, const char *key, const char *value)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(r->json, list), i, item)
        if (strcmp(json_string_value(json_object_get(item, key)), value) == 0)
            return item;
    return NULL;
}

static json_t *newest_for(const reply *r, const char *target)
{
    return item_where(r, "recommendations", "target", target);
}

static json_t *service_in(const reply *r, const char *name) { return item_where(r, "services", "name", name); }

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
    r = call("POST", "/api/v1/ingest/metrics", run.reader_key, "[]", NULL);
    assert_int_equal(r.status, 403);
    assert_contains(error_of(&r), "'viewer' lacks the scope");
    json_decref(r.json);
    r = call("GET", "/api/v1/services", run.reader_key, NULL, NULL);
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
    reply r = call("POST", "/api/v1/ingest/metrics", run.admin_key, body, NULL);
    free(body);
    assert_int_equal(r.status, 400);
    assert_string_equal(json_string_value(json_object_get(r.json, "field")), "samples[1].value");
    json_decref(r.json);
    r = call("POST", "/api/v1/ingest/metrics", run.admin_key, "{\"samples\": [", NULL);
    assert_int_equal(r.status, 400);
    assert_contains(error_of(&r), "not JSON");
    json_decref(r.json);
    r = call("POST", "/api/v1/ingest/metrics", run.admin_key, NULL, "-H 'Content-Type: text/plain' --data-binary x");
    assert_int_equal(r.status, 415);
    json_decref(r.json);
    /* over the 1 MiB default: 413, and the daemon carries on */
    char *huge = xmalloc((2u << 20) + 1);
    memset(huge, ' ', 2u << 20);
    huge[2u << 20] = '\0';
    r = call("POST", "/api/v1/ingest/metrics", run.admin_key, huge, NULL);
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
    reply first = call("POST", "/api/v1/ingest/metrics", run.admin_key, body, "-H 'Idempotency-Key: batch-7'");
    reply again = call("POST", "/api/v1/ingest/metrics", run.admin_key, body, "-H 'Idempotency-Key: batch-7'");
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
    reply r = call("POST", "/api/v1/ingest/metrics", run.admin_key, body, NULL);
    free(body);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    r = call("GET", "/api/v1/recommendations?status=pending", run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *pending = newest_for(&r, "donations-api");
    assert_non_null(pending);
    assert_string_equal(json_string_value(json_object_get(pending, "target")), "donations-api");
    assert_int_equal(json_integer_value(json_object_get(pending, "from_replicas")), 4);
    assert_int_equal(json_integer_value(json_object_get(pending, "to_replicas")), 24); /* 4 + max_step 20 */
    char id[64];
    format_into(id, sizeof id, "%s", json_string_value(json_object_get(pending, "id")));
    json_decref(r.json);

    char *path = xasprintf("/api/v1/recommendations/%s/approve", id);
    r = call("POST", path, run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 403); /* read scope cannot decide */
    json_decref(r.json);
    r = call("POST", path, run.admin_key, "{\"reason\":\"surge is real\"}", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executed");
    json_decref(r.json);
    r = call("POST", path, run.admin_key, NULL, NULL);
    assert_int_equal(r.status, 409); /* nobody decides twice */
    json_decref(r.json);
    free(path);

    path = xasprintf("/api/v1/recommendations/%s", id);
    r = call("GET", path, run.reader_key, NULL, NULL);
    free(path);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "decided_by")), "alice");
    json_t *events = json_object_get(r.json, "events");
    assert_int_equal(json_array_size(events), 4); /* created pending, approved, executing, executed */
    assert_string_equal(json_string_value(json_object_get(json_array_get(events, 1), "why")), "surge is real");
    assert_string_equal(json_string_value(json_object_get(json_array_get(events, 3), "to")), "executed");
    json_decref(r.json);
}

static void surge_to_pending(double load, double seconds_ahead, char *id, size_t size)
{
    char *body = xasprintf("[{\"service\":\"donations-api\",\"ts\":%.0f,\"value\":%.0f}]",
                           (double)time(NULL) + seconds_ahead, load);
    reply r = call("POST", "/api/v1/ingest/metrics", run.admin_key, body, NULL);
    free(body);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    r = call("GET", "/api/v1/recommendations?status=pending", run.reader_key, NULL, NULL);
    json_t *pending = newest_for(&r, "donations-api");
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

    daemon_stop(&run, SIGTERM);
    start_daemon();

    char *path = xasprintf("/api/v1/recommendations/%s/approve", id);
    r = call("POST", path, run.admin_key, NULL, NULL);
    free(path);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executed");
    json_decref(r.json);
}

/* Every route the OpenAPI document names exists (answers neither 404 nor 405), and the core routes are in it. */
/* GET of a route that streams (server-sent events), for a second: its status and no JSON. */
static reply stream_briefly(const char *path, const char *key)
{
    char *line = xasprintf("curl -s -N --max-time 1 -o /dev/null -w '%%{http_code}' -H 'Authorization: Bearer %s' "
                           "'http://127.0.0.1:%d%s'; true", key, run.port, path);
    const char *output;
    support_run(line, &output);
    free(line);
    return (reply){atoi(output), NULL, ""};
}

static void test_daemon_openapi_document_matches_the_routes(void **state)
{
    (void)state;
    reply r = call("GET", "/api/v1/openapi.json", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "openapi")), "3.0.3");
    json_t *paths = json_object_get(r.json, "paths");
    const char *expected[] = {"/api/v1/health",   "/api/v1/ingest/metrics", "/api/v1/recommendations/{id}/approve",
                              "/metrics",         "/api/v1/session",        "/api/v1/events",
                              "/api/v1/calendar", "/api/v1/audit",          "/api/v1/reports",
                              "/api/v1/reports/{name}"};
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
            /* a stream stays open: it is called for a moment, and must have answered 200 */
            bool streams = strcmp(concrete, "/api/v1/events") == 0;
            reply each = streams ? stream_briefly(concrete, run.admin_key) : call(upper, concrete, run.admin_key, NULL,
                                                                                   NULL);
            if (streams)
                assert_int_equal(each.status, 200);
            if (each.status == 404 && brace == NULL)
                fail_msg("%s %s answers 404", upper, concrete);
            assert_int_not_equal(each.status, 405);
            json_decref(each.json);
            checked++;
        }
    }
    assert_true(checked >= 24);
    json_decref(r.json);
}

static void test_daemon_exposes_prometheus_metrics(void **state)
{
    (void)state;
    reply r = call("GET", "/metrics", run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_contains(r.headers, "text/plain; version=0.0.4");
    json_decref(r.json);
    char *output = daemon_text(&run, "/metrics", run.reader_key);
    assert_non_null(output);
    assert_contains(output, "# TYPE hydra_samples_ingested_total counter");
    assert_contains(output, "hydra_samples_ingested_total{instance=\"core\"} ");
    assert_null(strstr(strstr(output, "# TYPE hydra_samples_scored") ? strstr(output, "# TYPE hydra_samples_scored") + 1
                                                                        : output,
                       "# TYPE hydra_samples_scored"));
    free(output);
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
    assert_int_equal(client(run.reader_key, "list --status pending", &output), 0);
    assert_contains(output, id);
    assert_contains(output, "pending");
    char args[128];
    format_into(args, sizeof args, "show %s", id);
    assert_int_equal(client(run.reader_key, args, &output), 0);
    assert_contains(output, "donations-api");
    assert_contains(output, "by policy default.lua");
    format_into(args, sizeof args, "approve %s --reason 'on call agrees'", id);
    assert_int_equal(client(run.reader_key, args, &output), 1);
    assert_contains(output, "the daemon refused the key (403)");
    assert_int_equal(client(run.admin_key, args, &output), 0);
    assert_contains(output, "executed");
    assert_int_equal(client(run.admin_key, args, &output), 1);
    assert_contains(output, "answered 409");
    assert_int_equal(client("hydra_wrong", "list", &output), 1);
    assert_contains(output, "refused the key (401)");
}

/* A key the daemon has seen is remembered for 2 s (a lookup per request queued on the store under load); a revoked
 * one is refused once that has passed. */
static void test_daemon_revoked_key_is_refused_within_two_seconds(void **state)
{
    (void)state;
    char key[128];
    assert_int_equal(daemon_create_key(&run, "default", "temporary", "read", key, sizeof key), 0);
    reply r = call("GET", "/api/v1/services", key, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    char *revoke = xasprintf("%s/hydra keys revoke --config %s --data %s --tenant default --name temporary",
                             support_build_dir(), run.config, run.data);
    const char *output;
    assert_int_equal(support_run(revoke, &output), 0);
    free(revoke);
    usleep(2100 * 1000);
    r = call("GET", "/api/v1/services", key, NULL, NULL);
    assert_int_equal(r.status, 401);
    json_decref(r.json);
}

/* ## Faults --------------------------------------------------------------------------------------------------- */

static long samples_of(const char *service)
{
    char *settings = xasprintf("path = \"%s\";", run.data);
    long distinct;
    long count = store_count_samples("sqlite", settings, service, 0, 4e9, &distinct);
    free(settings);
    assert_true(count >= 0);
    return count;
}

/* Every refused request leaves the store as it was and the daemon answering. */
static void test_daemon_refused_requests_write_nothing(void **state)
{
    (void)state;
    char *good = xasprintf("[{\"service\":\"refused\",\"ts\":%.0f,\"value\":1}]", (double)time(NULL));
    char *bad_last = xasprintf("[{\"service\":\"refused\",\"ts\":%.0f,\"value\":1},{\"service\":\"refused\","
                               "\"ts\":-5,\"value\":1}]",
                               (double)time(NULL));
    size_t huge_size = (1u << 20) + 64, at = 1;
    char *huge = xmalloc(huge_size + strlen(good) + 1);
    huge[0] = '[';
    while (at + strlen(good) + 1 < huge_size) { /* valid JSON, only too large */
        memcpy(huge + at, good + 1, strlen(good) - 2);
        at += strlen(good) - 2;
        huge[at++] = ',';
    }
    memcpy(huge + at, good + 1, strlen(good) - 1);
    huge[at + strlen(good) - 1] = '\0';
    const struct {
        const char *key, *body, *extra;
        int status;
    } refused[] = {
        {run.admin_key, bad_last, NULL, 400},       /* all or nothing: the good first sample is not kept */
        {run.admin_key, "{\"samples\": [", NULL, 400},
        {run.admin_key, "42", NULL, 400},
        {run.admin_key, "[]", NULL, 400},
        {run.admin_key, "{\"samples\": {}}", NULL, 400},
        {run.admin_key, huge, NULL, 413},
        {run.admin_key, NULL, "-H 'Content-Type: text/csv' --data-binary 'refused,1,1'", 415},
        {run.admin_key, NULL, "--data-binary @/dev/null", 415},
        {NULL, good, NULL, 401},
        {"hydra_forged", good, NULL, 401},
        {run.reader_key, good, NULL, 403},
    };
    for (size_t i = 0; i < ARRAY_LEN(refused); i++) {
        reply r = call("POST", "/api/v1/ingest/metrics", refused[i].key, refused[i].body, refused[i].extra);
        if (r.status != refused[i].status)
            fail_msg("request %zu answered %d, expected %d", i, r.status, refused[i].status);
        assert_non_null(error_of(&r));
        json_decref(r.json);
    }
    assert_int_equal(samples_of("refused"), 0);
    reply r = call("GET", "/api/v1/health", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    r = call("POST", "/api/v1/ingest/metrics", run.admin_key, good, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    assert_int_equal(samples_of("refused"), 1); /* the count above could see a sample */
    free(huge);
    free(good);
    free(bad_last);
}

static void test_daemon_kill_9_during_ingest_loses_no_acknowledged_sample(void **state)
{
    (void)state;
    char *settings = xasprintf("path = \"%s\";", run.data);
    kill_outcome out;
    assert_int_equal(fault_kill_during_ingest(&run, "sqlite", settings, &out), 0);
    free(settings);
    char report[512];
    bool holds = kill_outcome_holds(&out, report, sizeof report);
    print_message("%s\n", report);
    assert_true(holds);
}

/* ## The data routes ------------------------------------------------------------------------------------------- */

/* What the daemon has logged so far (static). */
static const char *daemon_log(void)
{
    static char text[1 << 20];
    FILE *file = fopen(run.log, "r");
    assert_non_null(file);
    text[fread(text, 1, sizeof text - 1, file)] = '\0';
    fclose(file);
    return text;
}

/* POSTs body (JSON) with the admin key and expects status; returns the reply (its json is the caller's). */
static reply post_expect(const char *path, const char *body, int status)
{
    reply r = call("POST", path, run.admin_key, body, NULL);
    if (r.status != status)
        fail_msg("POST %s %s: expected %d, got %d: %s", path, body, status, r.status, error_of(&r) ? error_of(&r) : "");
    return r;
}

/* One sample of service at ts, ingested with the admin key. */
static void ingest_one(const char *service, double ts, double value)
{
    char *body = xasprintf("[{\"service\":\"%s\",\"ts\":%.0f,\"value\":%.17g}]", service, ts, value);
    json_decref(post_expect("/api/v1/ingest/metrics", body, 200).json);
    free(body);
}

static void get_expect_400(const char *path, const char *field)
{
    reply r = call("GET", path, run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(field_of(&r), field);
    json_decref(r.json);
}

/* A window holding more samples than a live read sends gives its newest ones, in time order, and says it was cut. */
static void test_daemon_live_metrics_send_the_newest_of_a_long_window(void **state)
{
    (void)state;
    double now = floor((double)time(NULL)), first = now - 10049;
    char *body = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&body, &size);
    fputc('[', out);
    for (int i = 0; i < 10050; i++) /* one a second, the value its index */
        fprintf(out, "%s{\"service\":\"archive\",\"ts\":%.0f,\"value\":%d}", i ? "," : "", first + i, i);
    fputc(']', out);
    fclose(out);
    json_decref(post_expect("/api/v1/ingest/metrics", body, 200).json);
    free(body);
    char *path = xasprintf("/api/v1/metrics/live?service=archive&since=%.0f", first - 1);
    /* the answer is longer than support_run keeps: curl writes it to a file */
    char *answer_path = xasprintf("%s/live.json", run.dir);
    char *command = xasprintf("curl -sf -o %s -H 'Authorization: Bearer %s' 'http://127.0.0.1:%d%s'", answer_path,
                              run.reader_key, run.port, path);
    const char *output;
    assert_int_equal(support_run(command, &output), 0);
    char *text = support_read_file(answer_path);
    free(command);
    free(answer_path);
    free(path);
    assert_non_null(text);
    json_error_t error;
    json_t *answer = json_loads(text, 0, &error);
    free(text);
    assert_non_null(answer);
    json_t *samples = json_object_get(answer, "samples");
    assert_int_equal(json_array_size(samples), 10000);
    assert_true(json_is_true(json_object_get(answer, "truncated")));
    assert_true(json_number_value(json_object_get(json_array_get(samples, 0), "value")) == 50);
    assert_true(json_number_value(json_object_get(json_array_get(samples, 9999), "value")) == 10049);
    json_decref(answer);
}

/* Samples of a service that is not a target go to the store only; live reads and trends come from there, and a
 * key of another tenant sees none of them. */
static void test_daemon_live_metrics_and_trends_come_from_the_store_per_tenant(void **state)
{
    (void)state;
    double now = (double)time(NULL), hour = floor(now / 3600) * 3600 - 7200;
    char *body = xasprintf("[{\"service\":\"reports\",\"ts\":%.0f,\"value\":10},{\"service\":\"reports\",\"ts\":%.0f,"
                           "\"value\":20},{\"service\":\"reports\",\"ts\":%.0f,\"value\":30}]",
                           now - 120, now - 60, now);
    json_decref(post_expect("/api/v1/ingest/metrics", body, 200).json);
    free(body);
    reply r = call("GET", "/api/v1/metrics/live?service=reports", run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *samples = json_object_get(r.json, "samples");
    assert_int_equal(json_array_size(samples), 3);
    assert_true(json_number_value(json_object_get(json_array_get(samples, 2), "value")) == 30);
    assert_false(json_is_true(json_object_get(r.json, "truncated")));
    json_decref(r.json);
    char *path = xasprintf("/api/v1/metrics/live?service=reports&metric=requests_per_second&since=%.0f", now - 90);
    r = call("GET", path, run.reader_key, NULL, NULL);
    free(path);
    assert_int_equal(json_array_size(json_object_get(r.json, "samples")), 2);
    json_decref(r.json);
    r = call("GET", "/api/v1/metrics/live?service=reports", other_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "samples")), 0);
    json_decref(r.json);
    get_expect_400("/api/v1/metrics/live", "service");
    get_expect_400("/api/v1/metrics/live?service=reports&since=yesterday", "since");

    /* an hour of 1..20 out of order, then one sample in the next hour */
    json_t *batch = json_array();
    for (int i = 0; i < 20; i++)
        json_array_append_new(batch, json_pack("{s:s, s:f, s:i}", "service", "reports", "ts", hour + i * 60.0,
                                               "value", (i * 7) % 20 + 1));
    json_array_append_new(batch, json_pack("{s:s, s:f, s:i}", "service", "reports", "ts", hour + 3600, "value", 5));
    body = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    json_decref(post_expect("/api/v1/ingest/metrics", body, 200).json);
    free(body);
    path = xasprintf("/api/v1/trends?service=reports&bucket=hour&since=%.0f&until=%.0f", hour, hour + 7200);
    r = call("GET", path, run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *buckets = json_object_get(r.json, "buckets");
    assert_int_equal(json_array_size(buckets), 2);
    json_t *first = json_array_get(buckets, 0);
    assert_true(json_number_value(json_object_get(first, "start")) == hour);
    assert_int_equal(json_integer_value(json_object_get(first, "count")), 20);
    assert_true(json_number_value(json_object_get(first, "mean")) == 10.5);
    assert_true(json_number_value(json_object_get(first, "min")) == 1);
    assert_true(json_number_value(json_object_get(first, "max")) == 20);
    assert_true(json_number_value(json_object_get(first, "p95")) == 19);
    json_decref(r.json);
    r = call("GET", path, other_key, NULL, NULL);
    free(path);
    assert_int_equal(json_array_size(json_object_get(r.json, "buckets")), 0);
    json_decref(r.json);
    path = xasprintf("/api/v1/trends?service=reports&bucket=day&since=%.0f", hour - 86400);
    r = call("GET", path, run.reader_key, NULL, NULL);
    free(path);
    long long total = 0;
    size_t i;
    json_t *bucket;
    json_array_foreach(json_object_get(r.json, "buckets"), i, bucket) {
        assert_true(fmod(json_number_value(json_object_get(bucket, "start")), 86400) == 0);
        total += json_integer_value(json_object_get(bucket, "count"));
    }
    assert_int_equal(total, 24);
    json_decref(r.json);
    get_expect_400("/api/v1/trends?service=reports&bucket=week", "bucket");
    get_expect_400("/api/v1/trends?bucket=hour", "service");
}

/* A target with no samples has no forecast (503 and why); one with an hour of them has one, and still has it right
 * after a restart, read back from the store. */
static void test_daemon_forecast_answers_right_after_a_restart_from_stored_history(void **state)
{
    (void)state;
    reply r = call("GET", "/api/v1/forecasts/checkout", run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 503);
    assert_contains(error_of(&r), "no forecast yet");
    json_decref(r.json);
    r = post_expect("/api/v1/predict", "{\"service\":\"checkout\"}", 503);
    json_decref(r.json);
    r = call("GET", "/api/v1/forecasts/nowhere", run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 404);
    json_decref(r.json);
    r = call("GET", "/api/v1/forecasts/search", other_key, NULL, NULL);
    assert_int_equal(r.status, 404); /* another tenant's service does not exist for this key */
    json_decref(r.json);

    double now = (double)time(NULL);
    json_t *batch = json_array();
    for (int i = 0; i < 150; i++)
        json_array_append_new(batch, json_pack("{s:s, s:f, s:f}", "service", "search", "ts", now - (149 - i) * 60.0,
                                               "value", 200 + 50 * sin(2 * M_PI * i / 60)));
    char *body = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    json_decref(post_expect("/api/v1/ingest/metrics", body, 200).json);
    free(body);
    r = call("GET", "/api/v1/forecasts/search", run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);

    kill(run.pid, SIGTERM);
    waitpid(run.pid, NULL, 0);
    start_daemon();
    r = call("GET", "/api/v1/forecasts/search", run.reader_key, NULL, NULL);
    if (r.status != 200)
        fail_msg("after a restart: %d %s", r.status, error_of(&r));
    assert_string_equal(json_string_value(json_object_get(r.json, "forecaster")), "hourly");
    json_t *points = json_object_get(r.json, "points");
    assert_int_equal(json_array_size(points), 180); /* horizon 3h of 1m steps */
    size_t i;
    json_t *point;
    json_array_foreach(points, i, point) {
        double mean = json_number_value(json_object_get(point, "mean"));
        assert_true(mean >= 145 && mean <= 255); /* the daily shape repeats: 200 +- 50 */
        assert_true(json_number_value(json_object_get(point, "lower95")) <= mean);
        assert_true(json_number_value(json_object_get(point, "upper95")) >= mean);
    }
    double first = json_number_value(json_object_get(json_array_get(points, 0), "ts"));
    assert_true(first > now - 180 && first <= now + 120);
    json_decref(r.json);
    r = post_expect("/api/v1/predict", "{\"service\":\"search\",\"horizon\":5}", 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "points")), 5);
    json_decref(r.json);
    assert_contains(daemon_log(), "service search: 150 samples of history loaded from the store");
}

static void expect_400(const char *path, const char *body, const char *field)
{
    reply r = post_expect(path, body, 400);
    if (field ? !field_of(&r) || strcmp(field_of(&r), field) != 0 : field_of(&r) != NULL)
        fail_msg("POST %s %s: expected field %s, got %s (%s)", path, body, field, field_of(&r), error_of(&r));
    json_decref(r.json);
}

static void test_daemon_predict_and_detect_anomaly_score_posted_series(void **state)
{
    (void)state;
    json_t *values = json_array();
    for (int i = 0; i < 120; i++)
        json_array_append_new(values, json_real(100 + 10 * sin(2 * M_PI * i / 60)));
    json_t *request = json_pack("{s:o, s:i, s:i, s:i, s:s}", "values", values, "step", 60, "start", 1000, "horizon",
                                10, "forecaster", "hourly");
    char *body = json_dumps(request, JSON_COMPACT);
    reply r = post_expect("/api/v1/predict", body, 200);
    free(body);
    json_t *points = json_object_get(r.json, "points");
    assert_int_equal(json_array_size(points), 10);
    assert_true(json_number_value(json_object_get(json_array_get(points, 0), "ts")) == 1000 + 120 * 60);
    assert_true(fabs(json_number_value(json_object_get(json_array_get(points, 0), "mean")) - 100) < 1e-6);
    json_decref(r.json);
    /* holt_winters needs two seasons of 1440: a clear 422 naming its reason */
    json_object_set_new(request, "forecaster", json_string("holt_winters"));
    body = json_dumps(request, JSON_COMPACT);
    r = post_expect("/api/v1/predict", body, 422);
    free(body);
    assert_string_equal(field_of(&r), "values");
    assert_contains(error_of(&r), "holt_winters");
    json_decref(r.json);
    json_decref(request);

    expect_400("/api/v1/predict", "[1,2,3]", NULL);
    expect_400("/api/v1/predict", "{\"values\":[1,2,3]}", "step");
    expect_400("/api/v1/predict", "{\"values\":[1,\"two\",3],\"step\":60}", "values[1]");
    expect_400("/api/v1/predict", "{\"values\":[1,2,3],\"timestamps\":[0,60,150]}", "timestamps[2]");
    expect_400("/api/v1/predict", "{\"values\":[1,2,3],\"step\":60,\"horizon\":0}", "horizon");
    expect_400("/api/v1/predict", "{\"values\":[1,2,3],\"step\":60,\"forecaster\":\"nope\"}", "forecaster");
    expect_400("/api/v1/predict", "{\"service\":7}", "service");

    /* fifty quiet samples, then one a hundred times larger: only that one is anomalous */
    values = json_array();
    for (int i = 0; i < 50; i++)
        json_array_append_new(values, json_real(100 + (i % 5)));
    json_array_append_new(values, json_real(10000));
    request = json_pack("{s:o, s:s}", "values", values, "anomaly", "robust_z");
    body = json_dumps(request, JSON_COMPACT);
    json_decref(request);
    r = post_expect("/api/v1/detect_anomaly", body, 200);
    free(body);
    json_t *flags = json_object_get(r.json, "anomalous");
    assert_int_equal(json_array_size(flags), 51);
    assert_false(json_is_true(json_array_get(flags, 49)));
    assert_true(json_is_true(json_array_get(flags, 50)));
    assert_true(json_number_value(json_array_get(json_object_get(r.json, "scores"), 50)) >= 0.9);
    json_decref(r.json);
    /* one value against the service's own history */
    r = post_expect("/api/v1/detect_anomaly", "{\"service\":\"search\",\"value\":100000}", 200);
    assert_true(json_integer_value(json_object_get(r.json, "history")) >= 100);
    assert_true(json_is_true(json_array_get(json_object_get(r.json, "anomalous"), 0)));
    json_decref(r.json);
    r = post_expect("/api/v1/detect_anomaly", "{\"service\":\"search\",\"value\":200}", 200);
    assert_false(json_is_true(json_array_get(json_object_get(r.json, "anomalous"), 0)));
    json_decref(r.json);
    r = post_expect("/api/v1/detect_anomaly", "{\"service\":\"checkout\",\"value\":1}", 503);
    assert_contains(error_of(&r), "no anomaly detector");
    json_decref(r.json);
    expect_400("/api/v1/detect_anomaly", "{\"service\":\"search\",\"value\":\"high\"}", "value");
    expect_400("/api/v1/detect_anomaly", "{\"values\":[1,2],\"threshold\":2}", "threshold");
    expect_400("/api/v1/detect_anomaly", "{\"values\":[1,2],\"anomaly\":\"nope\"}", "anomaly");
}

/* The log notifier (configs/hydra.cfg's notifiers) wrote one line for the alert id, with its service and detector. */
static void assert_alert_notified(const char *id, const char *summary, const char *by)
{
    char *mention = xasprintf(" id=%s", id);
    const char *log = daemon_log(), *found = strstr(log, mention);
    if (!found)
        fail_msg("no notification of alert %s in %s", id, run.log);
    const char *start = found;
    while (start > log && start[-1] != '\n')
        start--;
    char *line = xasprintf("%.*s", (int)strcspn(start, "\n"), start);
    assert_contains(line, "plugin log: alert target=search ");
    assert_contains(line, summary);
    assert_contains(line, by);
    assert_null(strstr(found + 1, mention)); /* once, not once per flagged sample */
    free(line);
    free(mention);
}

/* Two spikes forty minutes apart (the hold is thirty) are two episodes: two alerts, not one per flagged sample, each
 * stored and told to the notifiers. The spikes also lift the last hour's average, so the ordinary load the hourly
 * forecast sees next is a decline: one demand alert, with its own id and message. */
static void test_daemon_alerts_once_per_anomaly_episode(void **state)
{
    (void)state;
    double start = (double)time(NULL) + 60;
    json_t *batch = json_array();
    for (int i = 0; i < 75; i++) {
        bool spike = i < 3 || i == 43;
        json_array_append_new(batch, json_pack("{s:s, s:f, s:f}", "service", "search", "ts", start + i * 60.0,
                                               "value", spike ? 30000.0 : 200 + 50 * sin(2 * M_PI * i / 60)));
    }
    char *body = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    json_decref(post_expect("/api/v1/ingest/metrics", body, 200).json);
    free(body);
    char *path = xasprintf("/api/v1/alerts?since=%.0f", start - 120);
    reply r = call("GET", path, run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *all = json_object_get(r.json, "alerts"), *alerts = json_array(), *item;
    size_t index, demand = 0;
    json_array_foreach(all, index, item) {
        const char *id = json_string_value(json_object_get(item, "id"));
        if (strncmp(id, "anomaly-search-", 15) == 0) {
            json_array_append(alerts, item);
        } else {
            /* the spikes lift the last hour's average, so the ordinary load forecast after them is a decline */
            assert_int_equal(strncmp(id, "demand-decline-search-", 22), 0);
            const char *message = json_string_value(json_object_get(item, "message"));
            assert_contains(message, "search requests_per_second is forecast at ");
            assert_contains(message, "x the last hour's average of ");
            assert_alert_notified(id, "summary=\"decline of search requests_per_second ahead\"", "decided_by=hourly");
            demand++;
        }
    }
    assert_int_equal(demand, 1);
    assert_int_equal(json_array_size(alerts), 2);
    json_t *newest = json_array_get(alerts, 0), *oldest = json_array_get(alerts, 1);
    /* an alert's time is the end of the minute its sample fell in */
    assert_true(json_number_value(json_object_get(newest, "at")) == floor((start + 43 * 60) / 60) * 60);
    assert_true(json_number_value(json_object_get(oldest, "at")) == floor(start / 60) * 60);
    assert_string_equal(json_string_value(json_object_get(oldest, "service")), "search");
    assert_true(json_number_value(json_object_get(oldest, "score")) >= 0.9);
    assert_contains(json_string_value(json_object_get(oldest, "message")), "robust_z");
    for (size_t i = 0; i < 2; i++)
        assert_alert_notified(json_string_value(json_object_get(json_array_get(alerts, i), "id")),
                              "summary=\"anomaly in search requests_per_second\"", "decided_by=robust_z");
    json_decref(alerts);
    json_decref(r.json);
    r = call("GET", path, other_key, NULL, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "alerts")), 0);
    json_decref(r.json);
    free(path);
    get_expect_400("/api/v1/alerts?since=soon", "since");
}

/* checkout is a dry run: a small scale-up the policy lets through and a large one a person approves are both
 * recorded as not executed, and the scaler never hears of them. */
static void test_daemon_dry_run_recommends_but_never_executes(void **state)
{
    (void)state;
    double now = (double)time(NULL);
    ingest_one("checkout", now, 450);
    reply r = call("GET", "/api/v1/recommendations", run.reader_key, NULL, NULL);
    json_t *rec = newest_for(&r, "checkout");
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "state")), "executed");
    assert_true(json_is_true(json_object_get(rec, "dry_run")));
    assert_contains(json_string_value(json_object_get(rec, "result")), "dry run: not executed");
    assert_int_equal(json_integer_value(json_object_get(rec, "to_replicas")), 6);
    json_decref(r.json);
    r = call("GET", "/api/v1/services", run.reader_key, NULL, NULL);
    json_t *checkout = service_in(&r, "checkout");
    assert_true(json_is_true(json_object_get(checkout, "dry_run")));
    assert_int_equal(json_integer_value(json_object_get(checkout, "desired")), 6); /* planned as if it happened */
    assert_false(json_is_true(json_object_get(service_in(&r, "donations-api"), "dry_run")));
    json_decref(r.json);

    ingest_one("checkout", now + 60, 5000);
    r = call("GET", "/api/v1/recommendations?status=pending", run.reader_key, NULL, NULL);
    rec = newest_for(&r, "checkout");
    assert_non_null(rec);
    char *path = xasprintf("/api/v1/recommendations/%s/approve", json_string_value(json_object_get(rec, "id")));
    json_decref(r.json);
    r = post_expect(path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executed");
    json_decref(r.json);
    *strrchr(path, '/') = '\0';
    r = call("GET", path, run.reader_key, NULL, NULL);
    free(path);
    assert_true(json_is_true(json_object_get(r.json, "dry_run")));
    json_t *events = json_object_get(r.json, "events");
    size_t i;
    json_t *event, *executing = NULL;
    json_array_foreach(events, i, event)
        if (strcmp(json_string_value(json_object_get(event, "to")), "executing") == 0)
            executing = event;
    assert_non_null(executing);
    assert_string_equal(json_string_value(json_object_get(executing, "why")), "dry run: kept from the scaler");
    json_decref(r.json);
    const char *log = daemon_log();
    assert_contains(log, "would scale donations-api"); /* the scaler logs what it is asked to do... */
    assert_null(strstr(log, "would scale checkout"));   /* ...and was never asked about checkout */
}

/* A paused service is still forecast but gets no recommendation; the pause outlives a restart; after resume, a
 * surge is recommended again. */
static void test_daemon_pause_holds_a_service_across_a_restart_until_resumed(void **state)
{
    (void)state;
    reply r = call("POST", "/api/v1/services/ledger/pause", run.reader_key, NULL, NULL);
    assert_int_equal(r.status, 403);
    json_decref(r.json);
    r = call("POST", "/api/v1/services/ledger/pause", other_key, NULL, NULL);
    assert_int_equal(r.status, 404); /* another tenant's key */
    json_decref(r.json);
    json_decref(post_expect("/api/v1/services/nowhere/pause", NULL, 404).json);
    r = post_expect("/api/v1/services/ledger/pause", NULL, 200);
    assert_true(json_is_true(json_object_get(r.json, "paused")));
    assert_string_equal(json_string_value(json_object_get(r.json, "by")), "alice");
    json_decref(r.json);

    double now = (double)time(NULL);
    ingest_one("ledger", now, 5000);
    r = call("GET", "/api/v1/recommendations", run.reader_key, NULL, NULL);
    assert_null(newest_for(&r, "ledger"));
    json_decref(r.json);

    kill(run.pid, SIGTERM);
    waitpid(run.pid, NULL, 0);
    start_daemon();
    r = call("GET", "/api/v1/services", run.reader_key, NULL, NULL);
    json_t *ledger = service_in(&r, "ledger");
    assert_true(json_is_true(json_object_get(ledger, "paused")));
    assert_false(json_is_true(json_object_get(service_in(&r, "search"), "paused")));
    json_decref(r.json);
    ingest_one("ledger", now + 60, 5000);
    r = call("GET", "/api/v1/services", run.reader_key, NULL, NULL);
    ledger = service_in(&r, "ledger");
    assert_true(json_number_value(json_object_get(ledger, "load")) == 5000); /* still watched */
    assert_true(json_number_value(json_object_get(ledger, "forecast")) >= 5000);
    json_decref(r.json);
    r = call("GET", "/api/v1/recommendations", run.reader_key, NULL, NULL);
    assert_null(newest_for(&r, "ledger"));
    json_decref(r.json);

    r = post_expect("/api/v1/services/ledger/resume", NULL, 200);
    assert_false(json_is_true(json_object_get(r.json, "paused")));
    json_decref(r.json);
    ingest_one("ledger", now + 120, 5000);
    r = call("GET", "/api/v1/recommendations?status=pending", run.reader_key, NULL, NULL);
    json_t *rec = newest_for(&r, "ledger");
    assert_non_null(rec);
    assert_int_equal(json_integer_value(json_object_get(rec, "to_replicas")), 24);
    json_decref(r.json);
}

static void test_daemon_stops_cleanly_on_sigterm(void **state)
{
    (void)state;
    int status = daemon_stop(&run, SIGTERM);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* every daemon of this run logged here, the restarted ones too: none may have tripped a sanitizer */
    assert_null(strstr(daemon_log(), "Sanitizer"));
    assert_null(strstr(daemon_log(), "runtime error"));
    const char *output;
    assert_int_equal(client(run.admin_key, "list", &output), 1);
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
        cmocka_unit_test(test_daemon_revoked_key_is_refused_within_two_seconds),
        cmocka_unit_test(test_daemon_refused_requests_write_nothing),
        cmocka_unit_test(test_daemon_kill_9_during_ingest_loses_no_acknowledged_sample),
        cmocka_unit_test(test_daemon_live_metrics_and_trends_come_from_the_store_per_tenant),
        cmocka_unit_test(test_daemon_live_metrics_send_the_newest_of_a_long_window),
        cmocka_unit_test(test_daemon_forecast_answers_right_after_a_restart_from_stored_history),
        cmocka_unit_test(test_daemon_predict_and_detect_anomaly_score_posted_series),
        cmocka_unit_test(test_daemon_alerts_once_per_anomaly_episode),
        cmocka_unit_test(test_daemon_dry_run_recommends_but_never_executes),
        cmocka_unit_test(test_daemon_pause_holds_a_service_across_a_restart_until_resumed),
        cmocka_unit_test(test_daemon_stops_cleanly_on_sigterm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
