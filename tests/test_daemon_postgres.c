/* hydra serve on PostgreSQL: the built binary against a real throwaway server (tests/pg-server), one of each for
 * the whole binary. A surge becomes a pending recommendation that is approved and executed, all of it in the
 * database; kill -9 during a stream of ingests loses no acknowledged sample; PostgreSQL stopped mid-run makes the
 * API answer 503 and the loop decide nothing until it is back, and nothing decided before is lost. The controller
 * ticks every second and a recommendation expires after 10 s, so the outage test can watch the loop. */
#include "servers.h"
#include "support.h"

#include "util.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define EXPIRY_SECONDS 10

static pg_server server;
static daemon_run run;
static char store_settings[768];

static int setup(void **state)
{
    (void)state;
    const char *output;
    if (pg_server_start(&server) != 0 || pg_server_psql(&server, "postgres", "CREATE DATABASE hydra", &output) != 0)
        return -1;
    format_into(store_settings, sizeof store_settings, "conninfo = \"%s dbname=hydra\";", server.conninfo);
    char *store = xasprintf("store = { name = \"postgres\"; settings = { %s }; };", store_settings);
    char expiry[64];
    format_into(expiry, sizeof expiry, "timeout = \"%ds\";", EXPIRY_SECONDS);
    const char *const overrides[] = {"tick = \"1s\";", expiry, NULL};
    int status = daemon_prepare(&run, store, overrides) == 0 && daemon_start(&run) == 0 ? 0 : -1;
    free(store);
    return status;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("HYDRA_KEEP_TEST_FILES"))
        fprintf(stderr, "kept %s\n", run.log);
    else
        daemon_cleanup(&run);
    const char *output;
    return pg_server_run(&server, "stop", &output) == 0 ? 0 : -1;
}

/* ## Helpers ------------------------------------------------------------------------------------------------------ */

static reply call(const char *method, const char *path, const char *key, const char *body)
{
    reply r = daemon_call(&run, method, path, key, body, NULL);
    assert_int_not_equal(r.status, -1);
    return r;
}

static const char *field(const reply *r, const char *name)
{
    const char *value = json_string_value(json_object_get(r->json, name));
    return value ? value : "";
}

/* A state as the database has it, read with psql, not through the daemon. */
static const char *state_in_database(const char *id)
{
    char *statement = xasprintf("SELECT state FROM recommendations WHERE id = '%s'", id);
    const char *output;
    int status = pg_server_psql(&server, "hydra", statement, &output);
    free(statement);
    if (status != 0)
        fail_msg("psql: %s", output);
    return output;
}

static void pending_after_surge(double load, char *id, size_t size)
{
    assert_int_equal(daemon_surge_to_pending(&run, load, 0, id, size), 0);
    assert_string_equal(state_in_database(id), "pending\n");
}

static void approve_to_executed(const char *id)
{
    char *path = xasprintf("/api/v1/recommendations/%s/approve", id);
    reply r = call("POST", path, run.admin_key, "{\"reason\":\"on call agrees\"}");
    free(path);
    assert_int_equal(r.status, 200);
    assert_string_equal(field(&r, "state"), "executed");
    json_decref(r.json);
    assert_string_equal(state_in_database(id), "executed\n");
}

/* GET /recommendations/{id}: its state, and its events' target states joined by spaces, in *events. */
static void read_back(const char *id, char *state, char *events, size_t size)
{
    char *path = xasprintf("/api/v1/recommendations/%s", id);
    reply r = call("GET", path, run.reader_key, NULL);
    free(path);
    assert_int_equal(r.status, 200);
    format_into(state, 32, "%s", field(&r, "state"));
    events[0] = '\0';
    json_t *event;
    size_t i;
    json_array_foreach(json_object_get(r.json, "events"), i, event) {
        size_t used = strlen(events);
        format_into(events + used, size - used, "%s%s", i ? " " : "",
                    json_string_value(json_object_get(event, "to")));
    }
    json_decref(r.json);
}

static void pg(const char *action)
{
    const char *output;
    if (pg_server_run(&server, action, &output) != 0)
        fail_msg("pg-server %s: %s", action, output);
}

static bool logged(const char *text)
{
    char *line = xasprintf("grep -qF '%s' %s", text, run.log);
    int status = support_run(line, NULL);
    free(line);
    return status == 0;
}

/* ## Tests -------------------------------------------------------------------------------------------------------- */

static void test_daemon_postgres_surge_is_approved_and_executed(void **state)
{
    (void)state;
    reply r = call("GET", "/api/v1/health/db", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(field(&r, "store"), "postgres");
    json_decref(r.json);
    char id[64], got[32], events[256];
    pending_after_surge(5000, id, sizeof id);
    approve_to_executed(id);
    read_back(id, got, events, sizeof events);
    assert_string_equal(events, "pending approved executing executed");
    assert_string_equal(state_in_database("nope"), ""); /* the query above would see a wrong id */
}

static void test_daemon_postgres_kill_9_during_ingest_loses_no_acknowledged_sample(void **state)
{
    (void)state;
    kill_outcome out;
    assert_int_equal(fault_kill_during_ingest(&run, "postgres", store_settings, &out), 0);
    char report[512];
    bool holds = kill_outcome_holds(&out, report, sizeof report);
    print_message("%s\n", report);
    assert_true(holds);
}

/* A recommendation approved before the outage stays executed; one pending when PostgreSQL stops cannot be approved
 * then, nor expire unrecorded: the loop waits, and once the database is back it records the expiry. */
static void test_daemon_postgres_outage_answers_503_and_decides_nothing(void **state)
{
    (void)state;
    char approved[64], pending[64], got[32], events[256];
    pending_after_surge(20000, approved, sizeof approved);
    approve_to_executed(approved);
    daemon_stop(&run, SIGTERM); /* a fresh start: the scale-up just made is no longer under way */
    assert_int_equal(daemon_start(&run), 0);
    pending_after_surge(40000, pending, sizeof pending);
    double pending_at = (double)time(NULL);

    pg("down");
    char *body = xasprintf("[{\"service\":\"outage\",\"ts\":%.0f,\"value\":1}]", (double)time(NULL));
    reply r = call("POST", "/api/v1/ingest/metrics", run.admin_key, body);
    assert_int_equal(r.status, 503);
    assert_contains(r.headers, "Retry-After: ");
    json_decref(r.json);
    r = call("GET", "/api/v1/health/db", NULL, NULL);
    assert_int_equal(r.status, 503);
    assert_contains(field(&r, "error"), "store postgres: unavailable: ");
    json_decref(r.json);
    char *approve = xasprintf("/api/v1/recommendations/%s/approve", pending);
    r = call("POST", approve, run.admin_key, NULL);
    assert_int_equal(r.status, 503);
    assert_contains(r.headers, "Retry-After: ");
    assert_contains(field(&r, "error"), "unavailable");
    json_decref(r.json);
    free(approve);
    while ((double)time(NULL) < pending_at + EXPIRY_SECONDS + 2) /* the loop would expire it now */
        usleep(200 * 1000);

    pg("up");
    for (int i = 0; i < 50; i++) { /* the loop ticks each second; the expiry is recorded at the first */
        read_back(pending, got, events, sizeof events);
        if (strcmp(got, "pending") != 0)
            break;
        usleep(100 * 1000);
    }
    assert_string_equal(got, "expired");
    assert_string_equal(events, "pending expired");
    assert_string_equal(state_in_database(pending), "expired\n");
    read_back(approved, got, events, sizeof events);
    assert_string_equal(events, "pending approved executing executed");
    r = call("POST", "/api/v1/ingest/metrics", run.admin_key, body);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    free(body);
    r = call("GET", "/api/v1/health/db", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);

    assert_true(logged("store postgres unreachable: no ticks and no decisions until it is back"));
    assert_true(logged("store postgres reachable again: ticks resume"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_postgres_surge_is_approved_and_executed),
        cmocka_unit_test(test_daemon_postgres_kill_9_during_ingest_loses_no_acknowledged_sample),
        cmocka_unit_test(test_daemon_postgres_outage_answers_503_and_decides_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
