/* store sqlite: the shared store suite on a fresh database file per test, then what only SQLite has (WAL, the
 * migrations table, a newer file refused, locks and unopenable files reported as unavailable, the schema document
 * and the indexes the queries use). Needs the sqlite3 command line tool. */
#include "store_suite.h"

#include <unistd.h>

static int setup(void **state)
{
    char path[256], settings[512];
    snprintf(path, sizeof path, "%s", support_write_temp("")); /* SQLite takes an empty file as a new database */
    snprintf(settings, sizeof settings, "path = \"%s\";", path);
    if (store_suite_setup(state, "sqlite", settings) != 0)
        return -1;
    store_fixture *f = *state;
    snprintf(f->scratch, sizeof f->scratch, "%s", path);
    return 0;
}

static void database_remove(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char file[300];
        snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
        unlink(file);
    }
}

static int teardown(void **state)
{
    store_fixture *f = *state;
    char path[sizeof f->scratch];
    snprintf(path, sizeof path, "%s", f->scratch);
    store_suite_teardown(state);
    database_remove(path);
    return 0;
}

/* ## Helpers ------------------------------------------------------------------------------------------------------- */

/* Runs sql through the sqlite3 tool on path; returns what it printed (static), failing the test if it fails. */
static const char *cli(const char *path, const char *sql)
{
    char script[256], command[768];
    snprintf(script, sizeof script, "%s", support_write_temp(sql));
    snprintf(command, sizeof command, "sqlite3 -batch '%s' < '%s'", path, script);
    const char *output = NULL;
    int status = support_run(command, &output);
    unlink(script);
    if (status != 0)
        fail_msg("%s: exit %d: %s", command, status, output);
    return output;
}

static void reopen_with(store_fixture *f, const char *extra_settings)
{
    snprintf(f->settings, sizeof f->settings, "path = \"%s\"; %s", f->scratch, extra_settings);
    store_fixture_reopen(f);
}

/* Opening store sqlite with settings fails, and the reason contains expected. */
static void assert_open_refused(const char *settings, const char *expected)
{
    support_plugin plugin;
    plugin_instance *instance = support_plugin_open(&plugin, "store", "sqlite", settings);
    char reason[sizeof plugin.error];
    snprintf(reason, sizeof reason, "%s", plugin.error);
    support_plugin_close(&plugin);
    if (instance)
        fail_msg("store sqlite accepted \"%s\"", settings);
    assert_contains(reason, expected);
}

/* ## SQLite specifics ---------------------------------------------------------------------------------------------- */

static void test_sqlite_journal_mode_is_wal(void **state)
{
    store_fixture *f = *state;
    assert_string_equal(cli(f->scratch, "PRAGMA journal_mode;"), "wal\n");
}

static void test_sqlite_each_migration_is_recorded_once(void **state)
{
    store_fixture *f = *state;
    const char *query = "SELECT count(*), max(version), min(applied_at IS NOT NULL) FROM schema_migrations;";
    char before[64];
    snprintf(before, sizeof before, "%s", cli(f->scratch, query));
    int version = -1;
    assert_ok(f, f->ops->migrate(f->db, &version));
    char expected[64];
    snprintf(expected, sizeof expected, "%d|%d|1\n", version, version);
    assert_string_equal(before, expected);
    assert_string_equal(cli(f->scratch, query), expected);
}

static void test_sqlite_a_database_from_a_newer_hydra_is_refused(void **state)
{
    store_fixture *f = *state;
    cli(f->scratch, "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0);");
    int version = -1;
    store_clear_error(f);
    assert_int_equal(f->ops->migrate(f->db, &version), -1);
    assert_contains(store_error(f), "schema version 999");
    assert_contains(store_error(f), "newer than version 3");
    assert_contains(store_error(f), "upgrade hydra");
    assert_string_equal(cli(f->scratch, "SELECT max(version) FROM schema_migrations;"), "999\n");
}

static void test_sqlite_a_closed_database_is_whole_in_its_one_file(void **state)
{
    store_fixture *f = *state;
    hydra_sample s = sample("web", "rps", 0, 7);
    assert_ok(f, append(f, "acme", &s, 1, NULL, NULL, 0));
    store_fixture_close(f);
    char copy[300];
    snprintf(copy, sizeof copy, "%s-copy", f->scratch);
    char command[700];
    snprintf(command, sizeof command, "cp '%s' '%s'", f->scratch, copy);
    assert_int_equal(support_run(command, NULL), 0);
    assert_string_equal(cli(copy, "SELECT value FROM metric_samples;"), "7.0\n");
    database_remove(copy);
    store_fixture_reopen(f);
}

static void test_sqlite_settings_are_checked(void **state)
{
    (void)state;
    assert_open_refused("", "setting 'path' is required");
    assert_open_refused("path = \"/tmp/x.db\"; synchronous = \"off\";", "\"full\" or \"normal\"");
    assert_open_refused("path = \"/tmp/x.db\"; busy_timeout_ms = -1;", "busy_timeout_ms");
    assert_open_refused("path = \"/tmp/x.db\"; journal = \"wal\";", "unknown setting 'journal'");
}

static void test_sqlite_a_file_that_cannot_be_opened_is_unavailable(void **state)
{
    (void)state;
    assert_open_refused("path = \"/nonexistent-hydra-dir/hydra.db\";", "unavailable: ");
    assert_open_refused("path = \"/nonexistent-hydra-dir/hydra.db\";", "/nonexistent-hydra-dir/hydra.db");
}

/* Starts the sqlite3 tool holding the write lock of path; it keeps it until lock_release. */
static FILE *lock_hold(const char *path)
{
    char marker[300], command[700];
    snprintf(marker, sizeof marker, "%s.locked", path);
    unlink(marker);
    snprintf(command, sizeof command, "sqlite3 -batch '%s' > /dev/null 2>&1", path);
    FILE *cli_in = popen(command, "w");
    assert_non_null(cli_in);
    /* .system runs only once BEGIN IMMEDIATE has the lock, so the marker tells when it is held. */
    fprintf(cli_in, "BEGIN IMMEDIATE;\nINSERT INTO tenants VALUES ('locker', 0);\n.system touch '%s'\n", marker);
    fflush(cli_in);
    for (int waited = 0; access(marker, F_OK) != 0; waited += 10) {
        if (waited > 10000)
            fail_msg("the sqlite3 tool did not take the lock of %s", path);
        usleep(10 * 1000);
    }
    unlink(marker);
    return cli_in;
}

static void lock_release(FILE *cli_in)
{
    fputs("ROLLBACK;\n", cli_in);
    pclose(cli_in);
}

static void test_sqlite_a_lock_held_past_the_busy_timeout_is_unavailable(void **state)
{
    store_fixture *f = *state;
    reopen_with(f, "busy_timeout_ms = 100;");
    FILE *locker = lock_hold(f->scratch);
    hydra_sample s = sample("web", "rps", 0, 1);
    int result = append(f, "acme", &s, 1, "req-1", "ok", 3);
    int health = f->ops->health(f->db); /* readers do not wait for the writer in WAL mode */
    char error[1024];
    snprintf(error, sizeof error, "%s", store_error(f));
    lock_release(locker);
    assert_int_equal(result, -1);
    assert_contains(error, "unavailable: append_samples");
    assert_contains(error, "locked");
    assert_contains(error, "100 ms");
    assert_int_equal(health, 0);
    assert_ok(f, append(f, "acme", &s, 1, "req-1", "ok", 3)); /* the key was not used up */
    assert_int_equal(samples_all(f, "acme", "web", "rps")->count, 1);
}

static void test_sqlite_a_duplicate_key_says_it_already_exists(void **state)
{
    store_fixture *f = *state;
    hydra_api_key_record key = api_key("acme", "ci", SUITE_HASH_A), again = api_key("acme", "ci", SUITE_HASH_B);
    assert_ok(f, put_key(f, &key));
    assert_refused(f, put_key(f, &again));
    assert_contains(store_error(f), "put_api_key ci (tenant acme)");
    assert_contains(store_error(f), "already exists");
}

static void test_sqlite_every_tenant_row_is_tied_to_its_tenant(void **state)
{
    store_fixture *f = *state;
    hydra_sample s = sample("web", "rps", 0, 1);
    assert_ok(f, append(f, "acme", &s, 1, "k", "ok", 3));
    hydra_audit_record audit = {"acme", SUITE_T0, "ci", "ingest", "web/rps", NULL, "req-1"};
    assert_ok(f, f->ops->append_audit(f->db, &audit));
    assert_string_equal(cli(f->scratch, "SELECT id FROM tenants; SELECT tenant, name FROM services;"
                                         "SELECT actor, action, subject, detail IS NULL FROM audit_log;"),
                        "acme\nacme|web\nci|ingest|web/rps|1\n");
    assert_string_equal(cli(f->scratch, "PRAGMA foreign_key_check;"), "");
}

/* Validation catches bad requests before any transaction starts; these triggers make the database itself fail
 * half-way through one (the last statement of each op), which must leave nothing behind. */
static const char failing_triggers_sql[] =
    "CREATE TRIGGER fail_key BEFORE INSERT ON idempotency_keys WHEN NEW.key = 'doomed' "
    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
    "CREATE TRIGGER fail_event BEFORE INSERT ON recommendation_events WHEN NEW.why = 'doomed' "
    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
    "CREATE TRIGGER fail_sample BEFORE INSERT ON metric_samples WHEN NEW.value = 666 "
    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;";

static void test_sqlite_a_failure_inside_a_transaction_writes_nothing(void **state)
{
    store_fixture *f = *state;
    cli(f->scratch, failing_triggers_sql);
    hydra_sample batch[] = {sample("web", "rps", 0, 1), sample("web", "rps", 60, 2)};
    char response[16] = "ok";
    assert_int_equal(append(f, "acme", batch, 2, "doomed", response, sizeof response), -1);
    assert_contains(store_error(f), "injected failure");
    hydra_sample poisoned[] = {sample("web", "rps", 0, 1), sample("web", "rps", 60, 666)};
    assert_int_equal(append(f, "acme", poisoned, 2, NULL, NULL, 0), -1);
    assert_int_equal(samples_all(f, "acme", "web", "rps")->count, 0);

    hydra_recommendation_record rec = recommendation("acme", "r1", 0);
    hydra_recommendation_event created = event("pending", "pending", 0, "controller", "doomed");
    assert_int_equal(save(f, &rec, &created, NULL), -1);
    assert_int_equal(history_of(f, "acme", "r1")->count, 0);
    assert_string_equal(cli(f->scratch, "SELECT count(*) FROM tenants; SELECT count(*) FROM services;"), "0\n0\n");
}

/* The structure of a database as the sqlite3 tool sees it: columns, indexes (with their columns, uniqueness and
 * partiality), foreign keys, and per table STRICT, WITHOUT ROWID and the number of CHECK constraints. */
static const char schema_shape_sql[] =
    "SELECT m.name, p.cid, p.name, p.type, p.\"notnull\", quote(p.dflt_value), p.pk FROM sqlite_schema m, "
    "pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY 1, 2;"
    "SELECT m.name, l.name, l.\"unique\", l.partial, i.seqno, i.name FROM sqlite_schema m, pragma_index_list(m.name) "
    "l, pragma_index_info(l.name) i WHERE m.type = 'table' ORDER BY 1, 2, 5;"
    "SELECT m.name, k.id, k.seq, k.\"table\", k.\"from\", k.\"to\", k.on_delete FROM sqlite_schema m, "
    "pragma_foreign_key_list(m.name) k WHERE m.type = 'table' ORDER BY 1, 2, 3;"
    "SELECT name, instr(sql, 'STRICT') > 0, instr(sql, 'WITHOUT ROWID') > 0, "
    "(length(sql) - length(replace(sql, 'CHECK (', ''))) / 7 FROM sqlite_schema WHERE type = 'table' ORDER BY 1;";

/* Fails with the first line that differs: the whole texts are too long for a message. */
static void assert_same_lines(const char *documented, const char *migrated)
{
    size_t line = 1;
    for (; *documented && *documented == *migrated; documented++, migrated++)
        line += *documented == '\n';
    if (*documented != *migrated)
        fail_msg("line %zu differs: docs/db/schema.sql gives \"%.60s\", the migrations \"%.60s\"", line,
                 documented, migrated);
}

static void test_sqlite_docs_schema_sql_matches_the_migrations(void **state)
{
    store_fixture *f = *state;
    static char migrated[1 << 15];
    snprintf(migrated, sizeof migrated, "%s", cli(f->scratch, schema_shape_sql));
    char documented_db[300], command[700];
    snprintf(documented_db, sizeof documented_db, "%s-documented", f->scratch);
    snprintf(command, sizeof command, "sqlite3 -batch -bail '%s' < docs/db/schema.sql", documented_db);
    const char *output = NULL;
    if (support_run(command, &output) != 0)
        fail_msg("%s: %s", command, output);
    const char *documented = cli(documented_db, schema_shape_sql);
    database_remove(documented_db);
    assert_true(strlen(migrated) > 1000);
    assert_same_lines(documented, migrated);
}

/* The plan of each query the plugin runs (the same SQL, literals for parameters) uses the index docs/db/README.md
 * names for it, and none sorts in a temporary b-tree. */
static void assert_plan_uses(const char *path, const char *query, const char *index)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s;", query);
    const char *plan = cli(path, sql);
    if (!strstr(plan, index) || strstr(plan, "TEMP B-TREE"))
        fail_msg("plan of %s:\n%sexpected index %s and no sort", query, plan, index);
}

static void test_sqlite_each_query_uses_its_index(void **state)
{
    store_fixture *f = *state;
    assert_plan_uses(f->scratch,
                     "SELECT ts, value FROM metric_samples WHERE tenant = 'a' AND service = 'b' AND metric = 'c' AND "
                     "ts >= 0 AND ts < 1 ORDER BY ts, rowid",
                     "metric_samples_series_ts");
    assert_plan_uses(f->scratch,
                     "SELECT * FROM recommendations WHERE tenant = 'a' ORDER BY created_at DESC, id DESC LIMIT 10",
                     "recommendations_newest");
    assert_plan_uses(f->scratch,
                     "SELECT * FROM recommendations WHERE tenant = 'a' AND state = 'pending' ORDER BY created_at DESC, "
                     "id DESC LIMIT 10",
                     "recommendations_by_state");
    assert_plan_uses(f->scratch,
                     "SELECT from_state FROM recommendation_events WHERE tenant = 'a' AND recommendation_id = 'r' "
                     "ORDER BY at, seq",
                     "recommendation_events_history");
    assert_plan_uses(f->scratch, "SELECT * FROM alerts WHERE tenant = 'a' AND at >= 0 ORDER BY at DESC, id DESC",
                     "alerts_by_time");
    assert_plan_uses(f->scratch, "SELECT * FROM api_keys WHERE tenant = 'a' ORDER BY name, created_at",
                     "api_keys_by_tenant");
    assert_plan_uses(f->scratch, "UPDATE api_keys SET revoked_at = 1 WHERE tenant = 'a' AND name = 'n' AND "
                                 "revoked_at IS NULL",
                     "api_keys_valid_name");
    assert_plan_uses(f->scratch, "SELECT state FROM model_versions WHERE tenant = 'a' AND service = 's' AND model = 'm' "
                                 "AND active = 1",
                     "model_versions_one_active");
    assert_plan_uses(f->scratch, "SELECT state FROM model_versions WHERE tenant = 'a' AND service = 's' AND model = 'm' "
                                 "AND version = 3",
                     "PRIMARY KEY");
    assert_plan_uses(f->scratch, "SELECT state FROM model_versions WHERE tenant = 'a' AND service = 's' ORDER BY model, "
                                 "version DESC",
                     "model_versions_newest");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_SUITE_TESTS(setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_journal_mode_is_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_each_migration_is_recorded_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_a_database_from_a_newer_hydra_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_a_closed_database_is_whole_in_its_one_file, setup, teardown),
        cmocka_unit_test(test_sqlite_settings_are_checked),
        cmocka_unit_test(test_sqlite_a_file_that_cannot_be_opened_is_unavailable),
        cmocka_unit_test_setup_teardown(test_sqlite_a_lock_held_past_the_busy_timeout_is_unavailable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_a_duplicate_key_says_it_already_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_every_tenant_row_is_tied_to_its_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_a_failure_inside_a_transaction_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_docs_schema_sql_matches_the_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_each_query_uses_its_index, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
