/* hydra ingest, export, backup and restore as an operator runs them, on SQLite and on a real PostgreSQL: a CSV goes
 * in through the daemon (twice: the second run is all replays) and comes out of export unchanged; a surge becomes a
 * decision a person takes; a backup made while the daemon runs, the database wiped, the backup restored: exports of
 * metrics and decisions are the same as before, and the daemon serves the same keys again. Then the errors: a daemon
 * that is down, a refused key, a bad CSV line, a file that is not a backup. */
#include "servers.h"
#include "support.h"

#include "util.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static pg_server server;

static int group_setup(void **state)
{
    (void)state;
    return pg_server_start(&server);
}

static int group_teardown(void **state)
{
    (void)state;
    const char *output;
    return pg_server_run(&server, "stop", &output) == 0 ? 0 : -1;
}

/* ## A daemon on either store ----------------------------------------------------------------------------------- */

typedef struct store_run {
    daemon_run daemon;
    const char *key; /* the daemon's admin key: ingest, read, approve */
    bool postgres;
} store_run;

/* A config of its own: the store, the default policy, one target that a surge makes ask a person. */
static char *config_text(bool postgres)
{
    char *store = postgres ? xasprintf("store = { name = \"postgres\"; settings = { conninfo = \"%s\"; }; };\n",
                                       server.conninfo)
                           : xstrdup("store = { name = \"sqlite\"; settings = { path = \"hydra.db\"; }; };\n");
    char *text = xasprintf(
        "%s"
        "policy = \"%s/scripts/policies/default.lua\";\n"
        "plugins = ( { kind = \"forecaster\"; name = \"seasonal_naive\"; },\n"
        "            { kind = \"scaler\"; name = \"log\"; settings = { initial_replicas = 4; }; } );\n"
        "targets = ( { name = \"donations-api\"; forecaster = \"seasonal_naive\"; scaler = \"log\";\n"
        "              min_replicas = 2; max_replicas = 60; max_step = 20; capacity_per_replica = 100.0; } );\n",
        store, getenv("PWD") ? getenv("PWD") : ".");
    free(store);
    return text;
}

static void run_open(store_run *r, bool postgres)
{
    memset(r, 0, sizeof *r);
    r->postgres = postgres;
    char *text = config_text(postgres);
    assert_int_equal(daemon_prepare_config(&r->daemon, text), 0);
    free(text);
    r->key = r->daemon.admin_key;
    assert_int_equal(daemon_start(&r->daemon), 0);
}

/* hydra COMMAND ARGS with the key in the environment (for the client) and the store of r (for the others). */
static int hydra(const store_run *r, const char *key, const char *command, const char *args, const char **output)
{
    bool client = strcmp(command, "ingest") == 0 || strcmp(command, "recommendations") == 0;
    char store_args[512], *line;
    if (client)
        format_into(store_args, sizeof store_args, "--url http://127.0.0.1:%d", r->daemon.port);
    else
        format_into(store_args, sizeof store_args, "--config %s", r->daemon.config);
    line = xasprintf("HYDRA_API_KEY='%s' %s/hydra %s %s %s", key ? key : "", support_build_dir(), command, args,
                     store_args);
    int status = support_run(line, output);
    free(line);
    return status;
}

static void hydra_ok(const store_run *r, const char *command, const char *args)
{
    const char *output;
    if (hydra(r, r->key, command, args, &output) != 0)
        fail_msg("hydra %s %s failed: %s", command, args, output);
}

/* Whether two files hold the same bytes. */
static void assert_same_file(const char *a, const char *b)
{
    char *line = xasprintf("cmp %s %s", a, b);
    const char *output;
    if (support_run(line, &output) != 0)
        fail_msg("%s and %s differ: %s", a, b, output);
    free(line);
}

/* ## The round trip ------------------------------------------------------------------------------------------- */

/* Rows in the order export writes them (service, metric, time) and its number format, so the two compare as bytes.
 * The last donations-api row is a surge the controller turns into a recommendation that asks a person. */
static void write_samples_csv(const char *path, double now)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs("service,metric,ts,value\n", file);
    for (int i = 0; i < 10; i++)
        fprintf(file, "donations-api,requests_per_second,%.17g,%.17g\n", now - 660 + 60 * i, 100.0 + i);
    fprintf(file, "donations-api,requests_per_second,%.17g,%.17g\n", now + 60, 5000.0); /* the minute ending soon */
    for (int i = 0; i < 12; i++)
        fprintf(file, "payments,latency_seconds,%.17g,%.17g\n", now - 3600 + 300 * i, 0.1 + i / 3.0);
    for (int i = 0; i < 5; i++)
        fprintf(file, "\"web,eu\",requests_per_second,%.17g,%.17g\n", now - 240 + 60 * i, 1e-7 * (i + 1));
    fclose(file);
}

static void approve_the_pending_recommendation(store_run *r)
{
    reply answer = daemon_call(&r->daemon, "GET", "/api/v1/recommendations?status=pending", r->key, NULL, NULL);
    assert_int_equal(answer.status, 200);
    json_t *pending = json_array_get(json_object_get(answer.json, "recommendations"), 0);
    assert_non_null(pending);
    char args[160];
    format_into(args, sizeof args, "approve %s --reason 'surge is real'",
                json_string_value(json_object_get(pending, "id")));
    json_decref(answer.json);
    hydra_ok(r, "recommendations", args);
}

/* Exports metrics (CSV) and decisions (JSON) into dir/<prefix>-metrics.csv and dir/<prefix>-decisions.json. */
static void export_both(const store_run *r, const char *prefix)
{
    char args[256];
    format_into(args, sizeof args, "--since 0 --what metrics --format csv --output %s/%s-metrics.csv", r->daemon.dir,
                prefix);
    hydra_ok(r, "export", args);
    format_into(args, sizeof args, "--since 0 --what decisions --format json --output %s/%s-decisions.json",
                r->daemon.dir, prefix);
    hydra_ok(r, "export", args);
}

static void wipe(const store_run *r)
{
    const char *output;
    int status;
    if (r->postgres) {
        status = pg_server_psql(&server, "postgres", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;", &output);
    } else {
        char *line = xasprintf("cd %s && rm -f hydra.db hydra.db-wal hydra.db-shm", r->daemon.dir);
        status = support_run(line, &output);
        free(line);
    }
    if (status != 0)
        fail_msg("wiping the store failed: %s", output);
}

static void round_trip(bool postgres)
{
    store_run r;
    run_open(&r, postgres);
    char in[128], path[160], args[256];
    format_into(in, sizeof in, "%s/in.csv", r.daemon.dir);
    write_samples_csv(in, (double)time(NULL));

    format_into(args, sizeof args, "%s --batch 7", in);
    hydra_ok(&r, "ingest", args);
    hydra_ok(&r, "ingest", args); /* every batch a replay: nothing stored twice */
    export_both(&r, "first");
    format_into(path, sizeof path, "%s/first-metrics.csv", r.daemon.dir);
    assert_same_file(in, path);

    approve_the_pending_recommendation(&r);
    export_both(&r, "before");
    format_into(path, sizeof path, "%s/before-decisions.json", r.daemon.dir);
    json_error_t error;
    json_t *decisions = json_load_file(path, 0, &error);
    json_t *decided = json_array_get(json_object_get(decisions, "decisions"), 0);
    assert_string_equal(json_string_value(json_object_get(decided, "decided_by")), "alice");
    assert_int_equal(json_array_size(json_object_get(decided, "events")), 4); /* pending, approved, executing, done */
    json_decref(decisions);

    format_into(args, sizeof args, "%s/hydra.backup", r.daemon.dir);
    hydra_ok(&r, "backup", args); /* while the daemon runs */
    assert_int_equal(daemon_stop(&r.daemon, SIGTERM), 0);
    wipe(&r);
    hydra_ok(&r, "restore", args);
    export_both(&r, "after");
    const char *const names[] = {"metrics.csv", "decisions.json"};
    for (size_t i = 0; i < 2; i++) {
        char before[160], after[160];
        format_into(before, sizeof before, "%s/before-%s", r.daemon.dir, names[i]);
        format_into(after, sizeof after, "%s/after-%s", r.daemon.dir, names[i]);
        assert_same_file(before, after);
    }
    assert_int_equal(daemon_start(&r.daemon), 0); /* the keys came back too */
    reply answer = daemon_call(&r.daemon, "GET", "/api/v1/recommendations", r.key, NULL, NULL);
    assert_int_equal(answer.status, 200);
    assert_int_equal(json_array_size(json_object_get(answer.json, "recommendations")), 1);
    json_decref(answer.json);
    daemon_cleanup(&r.daemon);
}

static void test_sqlite_ingest_export_backup_wipe_restore_loses_nothing(void **state)
{
    (void)state;
    round_trip(false);
}

static void test_postgres_ingest_export_backup_wipe_restore_loses_nothing(void **state)
{
    (void)state;
    round_trip(true);
}

/* ## Errors ------------------------------------------------------------------------------------------------- */

static void test_ingest_names_the_bad_line_and_sends_nothing(void **state)
{
    (void)state;
    store_run r;
    run_open(&r, false);
    char path[128], args[160];
    format_into(path, sizeof path, "%s/bad.csv", r.daemon.dir);
    FILE *file = fopen(path, "w");
    fprintf(file, "service,metric,ts,value\nweb,rps,1800000000,1\nweb,rps,1800000060,lots\n");
    fclose(file);
    const char *output;
    assert_int_equal(hydra(&r, r.key, "ingest", path, &output), 1);
    format_into(args, sizeof args, "%s:3: bad value \"lots\"", path);
    assert_contains(output, args);
    assert_int_equal(hydra(&r, NULL, "export", "--since 0", &output), 0);
    assert_string_equal(strstr(output, "service,metric,ts,value\n"), "service,metric,ts,value\n"); /* nothing went */

    file = fopen(path, "w");
    fprintf(file, "when,value\n1800000000,1\n");
    fclose(file);
    assert_int_equal(hydra(&r, r.key, "ingest", path, &output), 1);
    assert_contains(output, ":1: ");
    assert_contains(output, "service,metric,ts,value");
    daemon_cleanup(&r.daemon);
}

static void test_ingest_says_when_the_key_is_refused_or_the_daemon_is_down(void **state)
{
    (void)state;
    store_run r;
    run_open(&r, false);
    char path[128];
    format_into(path, sizeof path, "%s/in.csv", r.daemon.dir);
    write_samples_csv(path, 1800000000);
    const char *output;
    assert_int_equal(hydra(&r, "hydra_wrong", "ingest", path, &output), 1);
    assert_contains(output, "refused the key (401)");
    assert_int_equal(hydra(&r, NULL, "ingest", path, &output), 2);
    assert_contains(output, "set HYDRA_API_KEY");
    daemon_stop(&r.daemon, SIGTERM);
    char args[160];
    format_into(args, sizeof args, "%s --retries 0", path);
    assert_int_equal(hydra(&r, r.key, "ingest", args, &output), 1);
    assert_contains(output, "cannot reach the daemon");
    assert_contains(output, "0 of 28 samples were taken");
    daemon_cleanup(&r.daemon);
}

static void test_restore_refuses_what_is_not_a_backup_and_export_checks_its_flags(void **state)
{
    (void)state;
    store_run r;
    run_open(&r, false);
    const char *junk = support_write_temp("not a database\n");
    char junk_path[64];
    format_into(junk_path, sizeof junk_path, "%s", junk);
    const char *output;
    assert_int_equal(hydra(&r, NULL, "restore", junk_path, &output), 1);
    assert_contains(output, junk_path);
    unlink(junk_path);
    assert_int_equal(hydra(&r, NULL, "backup", "/nonexistent/dir/hydra.backup", &output), 1);
    assert_contains(output, "/nonexistent/dir/hydra.backup");
    assert_int_equal(hydra(&r, NULL, "export", "--what everything", &output), 2);
    assert_contains(output, "--what is metrics or decisions");
    assert_int_equal(hydra(&r, NULL, "export", "--since yesterday", &output), 2);
    assert_int_equal(hydra(&r, NULL, "restore", "", &output), 2);
    daemon_cleanup(&r.daemon);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_ingest_export_backup_wipe_restore_loses_nothing),
        cmocka_unit_test(test_postgres_ingest_export_backup_wipe_restore_loses_nothing),
        cmocka_unit_test(test_ingest_names_the_bad_line_and_sends_nothing),
        cmocka_unit_test(test_ingest_says_when_the_key_is_refused_or_the_daemon_is_down),
        cmocka_unit_test(test_restore_refuses_what_is_not_a_backup_and_export_checks_its_flags),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
