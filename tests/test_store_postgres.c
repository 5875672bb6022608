/* store postgres against a real PostgreSQL 15: one throwaway server for the whole binary (tests/pg-server, started
 * in group setup; the binary fails, never skips, when it cannot start), a fresh database per test, the shared store
 * suite, then what only PostgreSQL has: partitions made on demand and dropped by retention, the migrations table
 * and a newer schema refused, the database's own CHECK, two replicas sharing a database, and a server restart. */
#include "store_suite.h"

#include "servers.h"

#include "util.h"

#include <unistd.h>

#define DAY 86400.0
#define JAN_1_2024 1704067200.0

/* ## The server: one per binary ------------------------------------------------------------------------------ */

static pg_server server;
static int database_count;

static int server_start(void **state)
{
    (void)state;
    if (pg_server_start(&server) != 0) {
        print_error("test_store_postgres: PostgreSQL did not start\n");
        return -1;
    }
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    const char *output;
    if (pg_server_run(&server, "stop", &output) == 0)
        return 0;
    print_error("test_store_postgres: stopping the server failed:\n%s\n", output);
    return -1;
}

/* Takes the server down (fast shutdown, data kept) or brings it back on the same port and socket. */
static void server_set(const char *action)
{
    const char *output;
    if (pg_server_run(&server, action, &output) != 0)
        fail_msg("pg-server %s failed: %s", action, output);
}

static int psql(const char *database, const char *statement, const char **output)
{
    return pg_server_psql(&server, database, statement, output);
}

/* The same, failing the test when psql fails. */
static const char *sql(const char *database, const char *statement)
{
    const char *output;
    if (psql(database, statement, &output) != 0)
        fail_msg("psql failed on \"%s\": %s", statement, output);
    return output;
}

/* A new, empty database t_N; its name in database. */
static int database_create(char *database, size_t size)
{
    format_into(database, size, "t_%d", ++database_count);
    char *statement = xasprintf("CREATE DATABASE %s", database);
    const char *output;
    int status = psql("postgres", statement, &output);
    free(statement);
    if (status != 0)
        print_error("test_store_postgres: CREATE DATABASE %s failed: %s\n", database, output);
    return status == 0 ? 0 : -1;
}

/* ## One database per test -------------------------------------------------------------------------------------- */

static void settings_for(char *settings, size_t size, const char *database, const char *extra)
{
    format_into(settings, size, "conninfo = \"%s dbname=%s\"; %s", server.conninfo, database, extra ? extra : "");
}

static int setup(void **state)
{
    char database[32], settings[1024];
    if (database_create(database, sizeof database) != 0)
        return -1;
    settings_for(settings, sizeof settings, database, NULL);
    if (store_suite_setup(state, "postgres", settings) != 0)
        return -1;
    store_fixture *f = *state;
    format_into(f->scratch, sizeof f->scratch, "%s", database);
    return 0;
}

/* The databases go with the server's folder at the end of the run. */
static int teardown(void **state) { return store_suite_teardown(state); }

/* Opens the test's store again with extra settings, on its database or (new_database) on a fresh one. */
static void reopen_with(store_fixture *f, bool new_database, const char *extra)
{
    if (new_database && database_create(f->scratch, sizeof f->scratch) != 0)
        fail_msg("cannot create a database");
    settings_for(f->settings, sizeof f->settings, f->scratch, extra);
    store_fixture_reopen(f);
}

static void migrate_ok(store_fixture *f)
{
    int version = -1;
    store_clear_error(f);
    assert_ok(f, f->ops->migrate(f->db, &version));
}

static void append_ok(store_fixture *f, const hydra_sample *samples, size_t count)
{
    assert_ok(f, append(f, "acme", samples, count, NULL, NULL, 0));
}

static size_t samples_between(store_fixture *f, double from, double to)
{
    samples_seen seen = {0};
    assert_ok(f, f->ops->query_samples(f->db, "acme", "web", "rps", from, to, samples_collect, &seen));
    return seen.count;
}

#define PARTITION_NAMES                                                                                            \
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"                                     \
    " WHERE i.inhparent = 'metric_samples'::regclass ORDER BY 1"
#define PARTITION_COUNT "SELECT count(*) FROM pg_inherits WHERE inhparent = 'metric_samples'::regclass"

/* ## Partitions ------------------------------------------------------------------------------------------------ */

static void test_postgres_samples_land_in_the_partition_of_their_day(void **state)
{
    store_fixture *f = *state;
    assert_string_equal(sql(f->scratch, "SELECT relkind FROM pg_class WHERE relname = 'metric_samples'"), "p\n");
    assert_string_equal(sql(f->scratch, PARTITION_COUNT), "0\n");
    hydra_sample samples[] = {
        {"web", "rps", JAN_1_2024 + 10, 1},
        {"web", "rps", JAN_1_2024 + DAY - 0.5, 2},
        {"web", "rps", JAN_1_2024 + DAY, 3},
        {"web", "rps", JAN_1_2024 + 2 * DAY + 5, 4},
    };
    append_ok(f, samples, 4);
    assert_string_equal(sql(f->scratch, PARTITION_NAMES),
                        "metric_samples_p20240101\nmetric_samples_p20240102\nmetric_samples_p20240103\n");
    assert_string_equal(sql(f->scratch, "SELECT tableoid::regclass, value FROM metric_samples ORDER BY ts"),
                        "metric_samples_p20240101|1\nmetric_samples_p20240101|2\n"
                        "metric_samples_p20240102|3\nmetric_samples_p20240103|4\n");
    append_ok(f, samples, 1); /* into a partition that exists: none is added */
    assert_string_equal(sql(f->scratch, PARTITION_COUNT), "3\n");
    assert_int_equal(samples_between(f, JAN_1_2024, JAN_1_2024 + DAY), 3);
    assert_string_equal(sql(f->scratch, "SELECT count(*) FROM pg_indexes WHERE tablename = 'metric_samples_p20240101'"
                                        " AND indexdef LIKE '%(tenant, service, metric, ts)'"),
                        "1\n");
}

static void test_postgres_partitions_can_span_a_month(void **state)
{
    store_fixture *f = *state;
    reopen_with(f, true, "partition = \"month\";");
    hydra_sample samples[] = {{"web", "rps", JAN_1_2024 + 30 * DAY, 1}, {"web", "rps", JAN_1_2024 + 31 * DAY, 2}};
    append_ok(f, samples, 2);
    assert_string_equal(sql(f->scratch, "SELECT tableoid::regclass FROM metric_samples ORDER BY ts"),
                        "metric_samples_p20240101\nmetric_samples_p20240201\n");
}

/* Existing partitions cannot be re-cut: the unit the database was made with wins, with a warning. */
static void test_postgres_the_partition_unit_of_an_existing_database_stays(void **state)
{
    store_fixture *f = *state;
    support_log_start();
    reopen_with(f, false, "partition = \"week\";");
    assert_contains(support_log_text(), "partition = \"week\" ignored: metric_samples was created partitioned by day");
    support_log_stop();
    hydra_sample s = {"web", "rps", JAN_1_2024 + 2 * DAY, 1}; /* a Wednesday */
    append_ok(f, &s, 1);
    assert_string_equal(sql(f->scratch, PARTITION_NAMES), "metric_samples_p20240103\n");
}

static void test_postgres_a_failed_append_leaves_no_partition_behind(void **state)
{
    store_fixture *f = *state;
    /* Invalid UTF-8 passes the plugin's checks and fails in the server after the partition was made. */
    hydra_sample samples[] = {{"web", "rps", JAN_1_2024, 1}, {"web", "rps\xff", JAN_1_2024 + 1, 2}};
    store_clear_error(f);
    assert_int_equal(f->ops->append_samples(f->db, "acme", samples, 2, "req-1", "ok", 3), -1);
    assert_contains(store_error(f), "append_samples");
    assert_contains(store_error(f), "UTF8");
    assert_string_equal(sql(f->scratch, PARTITION_COUNT), "0\n");
    assert_ok(f, append(f, "acme", samples, 1, "req-1", "ok", 3)); /* the key was not used up, the partition */
    assert_int_equal(samples_between(f, 0, JAN_1_2024 + DAY), 1);  /* not remembered as made */
}

static void test_postgres_replicas_appending_to_a_new_day_at_once_both_succeed(void **state)
{
    store_fixture *f = *state;
    store_fixture *other = calloc(1, sizeof *other);
    assert_non_null(other);
    memcpy(other->name, f->name, sizeof f->name);
    memcpy(other->settings, f->settings, sizeof f->settings);
    if (store_fixture_open(other) != 0)
        fail_msg("second replica: %s", other->plugin.error);
    pthread_t threads[2];
    append_worker workers[2] = {{f, 0, 0}, {other, 1, 0}}; /* the suite's worker: keyed and unkeyed batches */
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, append_worker_run, &workers[t]), 0);
    for (int t = 0; t < 2; t++)
        pthread_join(threads[t], NULL);
    store_fixture_close(other);
    free(other);
    assert_int_equal(workers[0].failures + workers[1].failures, 0);
    assert_int_equal(samples_all(f, "acme", "web", "rps")->count, 2 * SUITE_BATCHES * SUITE_BATCH_SIZE);
    assert_string_equal(sql(f->scratch, PARTITION_NAMES), "metric_samples_p20260101\n");
}

/* ## Retention ------------------------------------------------------------------------------------------------- */

static void test_postgres_retention_drops_partitions_older_than_retention_days(void **state)
{
    store_fixture *f = *state;
    reopen_with(f, false, "retention_days = 3;");
    double now = JAN_1_2024 + 10 * DAY + 3600; /* 2024-01-11 01:00 */
    f->plugin.clock.virtual_now = now;
    migrate_ok(f);
    hydra_sample samples[] = {
        {"web", "rps", now - 5 * DAY, 1}, /* 2024-01-06: wholly older than 3 days */
        {"web", "rps", now - 4 * DAY, 2}, /* 2024-01-07: likewise */
        {"web", "rps", now - 3 * DAY, 3}, /* 2024-01-08: holds the cutoff, so it stays */
        {"web", "rps", now, 4},
    };
    append_ok(f, samples, 4); /* retention ran in migrate a moment ago: not again within the hour */
    assert_string_equal(sql(f->scratch, PARTITION_COUNT), "4\n");

    f->plugin.clock.virtual_now = now + 2 * 3600; /* later than an hour: the next append runs it */
    append_ok(f, samples + 3, 1);
    assert_string_equal(sql(f->scratch, PARTITION_NAMES), "metric_samples_p20240108\nmetric_samples_p20240111\n");
    assert_int_equal(samples_between(f, 0, now + DAY), 3);

    /* A late sample for a dropped day is taken (its partition comes back) and goes at the next run. */
    append_ok(f, samples, 1);
    assert_int_equal(samples_between(f, 0, now - 4 * DAY), 1);
    f->plugin.clock.virtual_now = now + 2.5 * 3600;
    migrate_ok(f);
    assert_int_equal(samples_between(f, 0, now - 4 * DAY), 0);
}

static void test_postgres_retention_zero_keeps_every_sample(void **state)
{
    store_fixture *f = *state;
    reopen_with(f, false, "retention_days = 0;");
    f->plugin.clock.virtual_now = JAN_1_2024 + 400 * DAY;
    hydra_sample old = {"web", "rps", JAN_1_2024, 1};
    append_ok(f, &old, 1);
    f->plugin.clock.virtual_now = f->plugin.clock.virtual_now + DAY;
    migrate_ok(f);
    append_ok(f, &old, 1);
    assert_int_equal(samples_between(f, 0, JAN_1_2024 + DAY), 2);
}

/* ## Migrations and the schema ----------------------------------------------------------------------------------- */

static void test_postgres_each_migration_is_recorded_once(void **state)
{
    store_fixture *f = *state;
    const char *query = "SELECT count(*), max(version), min((applied_at IS NOT NULL)::int) FROM schema_migrations";
    char before[64];
    format_into(before, sizeof before, "%s", sql(f->scratch, query));
    int version = -1;
    assert_ok(f, f->ops->migrate(f->db, &version));
    char expected[64];
    format_into(expected, sizeof expected, "%d|%d|1\n", version, version);
    assert_string_equal(before, expected);
    assert_string_equal(sql(f->scratch, query), expected);
    assert_string_equal(sql(f->scratch, "SELECT string_agg(table_name, ' ' ORDER BY table_name)"
                                        " FROM information_schema.tables WHERE table_schema = 'public'"),
                        "alerts api_keys audit_log forecasts idempotency_keys metric_samples model_versions "
                        "recommendation_events recommendations schema_migrations services store_settings tenants\n");
}

static void test_postgres_a_database_from_a_newer_hydra_is_refused(void **state)
{
    store_fixture *f = *state;
    sql(f->scratch, "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)");
    int version = -1;
    store_clear_error(f);
    assert_int_equal(f->ops->migrate(f->db, &version), -1);
    assert_contains(store_error(f), "schema version 999");
    assert_contains(store_error(f), "newer than version 4");
    assert_contains(store_error(f), "upgrade hydra");
    assert_string_equal(sql(f->scratch, "SELECT max(version) FROM schema_migrations"), "999\n");
}

/* The plugin refuses unknown states itself; the database holds the same rule for anyone else writing to it. */
static void test_postgres_the_database_checks_recommendation_states(void **state)
{
    store_fixture *f = *state;
    const char *output;
    int status = psql(f->scratch,
                      "INSERT INTO tenants VALUES ('acme', 0); INSERT INTO recommendations (tenant, id, target,"
                      " state, from_replicas, to_replicas, asked, created_at)"
                      " VALUES ('acme', 'r1', 'web', 'maybe', 1, 2, 0, 0)",
                      &output);
    assert_int_not_equal(status, 0);
    assert_contains(output, "recommendations_state_check");
}

static void test_postgres_every_tenant_row_is_tied_to_its_tenant(void **state)
{
    store_fixture *f = *state;
    hydra_sample s = sample("web", "rps", 0, 1);
    assert_ok(f, append(f, "acme", &s, 1, "k", "ok", 3));
    hydra_audit_record audit = {"acme", SUITE_T0, "ci", "ingest", "web/rps", NULL, "req-1"};
    assert_ok(f, f->ops->append_audit(f->db, &audit));
    assert_string_equal(sql(f->scratch, "SELECT id FROM tenants; SELECT tenant || '|' || name FROM services;"
                                        " SELECT actor || '|' || action || '|' || (detail IS NULL) FROM audit_log"),
                        "acme\nacme|web\nci|ingest|true\n");
    const char *output;
    assert_int_not_equal(psql(f->scratch, "INSERT INTO audit_log (tenant, at, actor, action) VALUES ('x', 0, 'a', 'b')",
                              &output),
                         0);
    assert_contains(output, "foreign key");
}

/* Services reach the server as one text[] literal per batch: quotes, backslashes, commas and braces in names, and
 * services that alternate within a batch, all arrive as they were. */
static void test_postgres_services_of_a_batch_are_added_once_each_whatever_their_names(void **state)
{
    store_fixture *f = *state;
    const char *odd = "we\"b\\{x}, \u00e9";
    hydra_sample batch[] = {sample(odd, "rps", 0, 1), sample("api", "rps", 0, 2), sample(odd, "rps", 60, 3),
                            sample("api", "rps", 60, 4), sample("NULL", "rps", 0, 5)};
    assert_ok(f, append(f, "acme", batch, 5, NULL, NULL, 0));
    assert_string_equal(sql(f->scratch, "SELECT string_agg(name, '|' ORDER BY name) FROM services"),
                        "NULL|api|we\"b\\{x}, \u00e9\n");
    assert_int_equal(samples_all(f, "acme", odd, "rps")->count, 2);
    assert_int_equal(samples_all(f, "acme", "NULL", "rps")->count, 1);
}

/* ## Settings -------------------------------------------------------------------------------------------------- */

static void assert_open_refused(const char *settings, const char *expected)
{
    support_plugin plugin;
    plugin_instance *instance = support_plugin_open(&plugin, "store", "postgres", settings);
    char reason[sizeof plugin.error];
    format_into(reason, sizeof reason, "%s", plugin.error);
    support_plugin_close(&plugin);
    if (instance)
        fail_msg("store postgres accepted \"%s\"", settings);
    assert_contains(reason, expected);
}

static void test_postgres_settings_are_checked(void **state)
{
    (void)state;
    assert_open_refused("", "setting 'conninfo' is required");
    assert_open_refused("conninfo = \"host=/nonexistent-hydra-dir port=1\";", "unavailable: cannot connect");
    char settings[1024];
    settings_for(settings, sizeof settings, "postgres", "partition = \"year\";");
    assert_open_refused(settings, "\"day\", \"week\" or \"month\"");
    settings_for(settings, sizeof settings, "postgres", "retention_days = -1;");
    assert_open_refused(settings, "retention_days");
    settings_for(settings, sizeof settings, "postgres", "pool = 4;");
    assert_open_refused(settings, "unknown setting 'pool'");
}

/* ## Outages ----------------------------------------------------------------------------------------------------- */

static void test_postgres_a_stopped_server_is_unavailable_and_a_restarted_one_is_used_again(void **state)
{
    store_fixture *f = *state;
    hydra_sample before[] = {sample("web", "rps", 0, 1), sample("web", "rps", 60, 2)};
    assert_ok(f, append(f, "acme", before, 2, "req-1", "ok", 3));

    server_set("down");
    store_clear_error(f);
    assert_int_equal(f->ops->health(f->db), -1);
    assert_contains(store_error(f), "unavailable: health");
    hydra_sample during = sample("web", "rps", 120, 3);
    store_clear_error(f);
    assert_int_equal(append(f, "acme", &during, 1, "req-2", "ok", 3), -1);
    assert_int_equal(strncmp(store_error(f), "unavailable: append_samples", 27), 0);
    int version;
    store_clear_error(f);
    assert_int_equal(f->ops->migrate(f->db, &version), -1);
    assert_contains(store_error(f), "unavailable: ");
    history_seen seen = {0};
    store_clear_error(f);
    assert_int_equal(f->ops->list_recommendations(f->db, "acme", NULL, 0, recommendation_collect, &seen), -1);
    assert_contains(store_error(f), "unavailable: ");

    server_set("up");
    assert_ok(f, f->ops->health(f->db));
    char replayed[8] = "";
    assert_int_equal(append(f, "acme", before, 2, "req-1", replayed, sizeof replayed), 1);
    assert_string_equal(replayed, "ok");
    assert_ok(f, append(f, "acme", &during, 1, "req-2", "ok", 3)); /* the failed request's key was not used up */
    samples_seen *samples = samples_all(f, "acme", "web", "rps");
    assert_int_equal(samples->count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_true(samples->value[i] == (double)(i + 1));
}

/* The first call after a restart finds the old connection dead: it reconnects and succeeds rather than failing. */
static void test_postgres_the_first_call_after_a_restart_succeeds(void **state)
{
    store_fixture *f = *state;
    server_set("down");
    server_set("up");
    hydra_sample s = sample("web", "rps", 0, 1);
    assert_ok(f, append(f, "acme", &s, 1, NULL, NULL, 0));
    server_set("down");
    server_set("up");
    assert_int_equal(samples_all(f, "acme", "web", "rps")->count, 1);
}

enum { LARGE_BATCH = 400000 };

typedef struct large_append {
    store_fixture *f;
    hydra_sample *samples;
    int result;
    char error[1024]; /* errors are kept per thread: read where the call was made */
} large_append;

static void *large_append_run(void *context)
{
    large_append *job = context;
    job->result = append(job->f, "acme", job->samples, LARGE_BATCH, "big", "ok", 3);
    format_into(job->error, sizeof job->error, "%s", store_error(job->f));
    return NULL;
}

/* A server stopped in the middle of a COPY: the call returns (it does not hang on the dead connection), and the
 * batch is all there or not there at all. */
static void test_postgres_a_server_stopped_during_a_large_append_keeps_it_whole(void **state)
{
    store_fixture *f = *state;
    large_append job = {f, calloc(LARGE_BATCH, sizeof(hydra_sample)), -2, ""};
    assert_non_null(job.samples);
    for (int i = 0; i < LARGE_BATCH; i++)
        job.samples[i] = sample("web", "rps", i * 0.25, i);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, large_append_run, &job), 0);
    usleep(150 * 1000);
    server_set("down");
    pthread_join(thread, NULL);
    free(job.samples);
    const char *error = job.error;
    server_set("up");
    size_t stored = samples_all(f, "acme", "web", "rps")->count;
    if (job.result == 0) {
        assert_int_equal(stored, LARGE_BATCH);
    } else {
        assert_int_equal(job.result, -1);
        assert_int_equal(strncmp(error, "unavailable: ", 13), 0);
        assert_int_equal(stored, 0);
        hydra_sample one = sample("web", "rps", 0, 1);
        assert_ok(f, append(f, "acme", &one, 1, "big", "ok", 3)); /* the key was not used up */
    }
}

/* The lock lives in a session of its own, seen in pg_stat_activity; when that session is killed (an operator, a
 * restart, a network cut) the holder hears it at its next call and no longer holds the lock, while a second
 * instance may take it; the first gets it back only once it is free again. */
static void test_postgres_a_leader_whose_lock_session_is_killed_knows_it_has_lost(void **state)
{
    store_fixture *f = *state;
    store_fixture *twin = store_fixture_twin(f);
    assert_int_equal(leader_hold(f, "tenant acme"), 0);
    assert_string_equal(sql(f->scratch, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                                        " WHERE l.locktype = 'advisory' AND a.application_name = 'hydra leader tenant acme'"),
                        "1\n");
    sql(f->scratch, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'hydra leader tenant acme'");
    assert_int_equal(leader_hold(f, "tenant acme"), -1);
    assert_contains(store_error(f), "unavailable: leader_hold: lost the lock's connection");
    assert_int_equal(leader_hold(twin, "tenant acme"), 0);
    assert_int_equal(leader_hold(f, "tenant acme"), 1);
    assert_ok(twin, twin->ops->leader_release(twin->db, "tenant acme"));
    assert_int_equal(leader_hold(f, "tenant acme"), 0);
    store_fixture_close(twin);
    free(twin);
}

/* With the server down, the holder cannot prove it holds the lock: -1, and it holds nothing until it is back. */
static void test_postgres_a_server_restart_takes_the_lock_and_it_can_be_taken_again(void **state)
{
    store_fixture *f = *state;
    assert_int_equal(leader_hold(f, "tenant acme"), 0);
    server_set("down");
    assert_int_equal(leader_hold(f, "tenant acme"), -1);
    assert_contains(store_error(f), "unavailable: leader_hold");
    assert_int_equal(leader_hold(f, "tenant acme"), -1); /* cannot connect */
    server_set("up");
    assert_int_equal(leader_hold(f, "tenant acme"), 0);
}

#define POSTGRES_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* ## Group commit ------------------------------------------------------------------------------------------------- */

#define GROUP_THREADS 8
#define GROUP_BATCHES 40

typedef struct group_writer {
    store_fixture *f;
    int thread;
    int failures;
} group_writer;

/* Keyless appends, two tenants taking turns by thread: they wait together, and a group is one tenant's. */
static void *group_writer_run(void *context)
{
    group_writer *w = context;
    for (int b = 0; b < GROUP_BATCHES; b++) {
        hydra_sample batch[3];
        for (int i = 0; i < 3; i++)
            batch[i] = (hydra_sample){"web", "rps", JAN_1_2024 + (w->thread * GROUP_BATCHES + b) * 3 + i, w->thread};
        if (w->f->ops->append_samples(w->f->db, w->thread % 2 ? "beta" : "acme", batch, 3, NULL, NULL, 0) != 0)
            w->failures++;
    }
    return NULL;
}

static void test_postgres_appends_waiting_together_keep_each_tenants_samples(void **state)
{
    store_fixture *f = *state;
    pthread_t threads[GROUP_THREADS];
    group_writer writers[GROUP_THREADS];
    for (int t = 0; t < GROUP_THREADS; t++) {
        writers[t] = (group_writer){f, t, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, group_writer_run, &writers[t]), 0);
    }
    for (int t = 0; t < GROUP_THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(writers[t].failures, 0);
    }
    assert_string_equal(sql(f->scratch, "SELECT tenant, count(*), count(DISTINCT ts), sum(value) FROM metric_samples"
                                        " GROUP BY tenant ORDER BY tenant"),
                        "acme|480|480|1440\nbeta|480|480|1920\n"); /* threads 0,2,4,6 and 1,3,5,7, 120 each */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_SUITE_TESTS(setup, teardown),
        POSTGRES_TEST(test_postgres_samples_land_in_the_partition_of_their_day),
        POSTGRES_TEST(test_postgres_partitions_can_span_a_month),
        POSTGRES_TEST(test_postgres_the_partition_unit_of_an_existing_database_stays),
        POSTGRES_TEST(test_postgres_a_failed_append_leaves_no_partition_behind),
        POSTGRES_TEST(test_postgres_replicas_appending_to_a_new_day_at_once_both_succeed),
        POSTGRES_TEST(test_postgres_retention_drops_partitions_older_than_retention_days),
        POSTGRES_TEST(test_postgres_retention_zero_keeps_every_sample),
        POSTGRES_TEST(test_postgres_each_migration_is_recorded_once),
        POSTGRES_TEST(test_postgres_a_database_from_a_newer_hydra_is_refused),
        POSTGRES_TEST(test_postgres_the_database_checks_recommendation_states),
        POSTGRES_TEST(test_postgres_every_tenant_row_is_tied_to_its_tenant),
        POSTGRES_TEST(test_postgres_services_of_a_batch_are_added_once_each_whatever_their_names),
        cmocka_unit_test(test_postgres_settings_are_checked),
        POSTGRES_TEST(test_postgres_a_stopped_server_is_unavailable_and_a_restarted_one_is_used_again),
        POSTGRES_TEST(test_postgres_the_first_call_after_a_restart_succeeds),
        POSTGRES_TEST(test_postgres_a_server_stopped_during_a_large_append_keeps_it_whole),
        POSTGRES_TEST(test_postgres_appends_waiting_together_keep_each_tenants_samples),
        POSTGRES_TEST(test_postgres_a_leader_whose_lock_session_is_killed_knows_it_has_lost),
        POSTGRES_TEST(test_postgres_a_server_restart_takes_the_lock_and_it_can_be_taken_again),
    };
    return cmocka_run_group_tests_name("store postgres", tests, server_start, server_stop);
}
