/* Two replicas of hydra serve on one real PostgreSQL (tests/pg-server): both serve the API, exactly one leads (ticks
 * and executes). Samples and approvals sent to the follower reach the leader through the database; kill -9 of the
 * leader hands the lead to the other within the configured retry, and whatever was approved or pending then is
 * executed exactly once by the new leader. A PostgreSQL restart makes both step down, then one leads again.
 *
 * Execution is counted twice over: in the database (each recommendation's events) and in what the scalers did (the
 * log scaler's "would scale ... (recommendation ID" lines in both daemons' logs, every run appended). The tests run in
 * order on the same pair: each starts from where the last left it. Ticks are 1 s, the leader retry 1 s. */
#include "servers.h"
#include "support.h"

#include "util.h"

#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define RETRY_SECONDS 1.0
#define TICK_SECONDS 1.0
/* A takeover may wait for the follower's next try (the retry), then for its loop to notice (0.1 s); the rest is room
 * for a busy machine (ASan, other tests). */
#define TAKEOVER_LIMIT (RETRY_SECONDS + 2.0)

static pg_server server;
static daemon_run first, second;

static double now_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static int setup(void **state)
{
    (void)state;
    const char *output;
    if (pg_server_start(&server) != 0 || pg_server_psql(&server, "postgres", "CREATE DATABASE hydra", &output) != 0)
        return -1;
    char *store = xasprintf("store = { name = \"postgres\"; settings = { conninfo = \"%s dbname=hydra\"; }; };",
                            server.conninfo);
    const char *const overrides[] = {"tick = \"1s\";", "timeout = \"120s\";", "leader = { retry = \"1s\"; };", NULL};
    int status = daemon_prepare(&first, store, overrides) == 0 && daemon_prepare_replica(&second, &first) == 0 ? 0 : -1;
    free(store);
    return status;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("HYDRA_KEEP_TEST_FILES")) {
        fprintf(stderr, "kept %s and %s\n", first.log, second.log);
    } else {
        daemon_cleanup(&second);
        daemon_cleanup(&first);
    }
    const char *output;
    return pg_server_run(&server, "stop", &output) == 0 ? 0 : -1;
}

/* ## Helpers ------------------------------------------------------------------------------------------------------ */

static const char *sql(const char *statement)
{
    const char *output;
    if (pg_server_psql(&server, "hydra", statement, &output) != 0)
        fail_msg("psql: %s: %s", statement, output);
    return output;
}

static const char *state_in_database(const char *id)
{
    char *statement = xasprintf("SELECT state FROM recommendations WHERE id = '%s'", id);
    const char *state = sql(statement);
    free(statement);
    return state;
}

/* The states a recommendation went through, from its events in the database, joined by spaces. */
static void events_in_database(const char *id, char *events, size_t size)
{
    char *statement = xasprintf("SELECT string_agg(to_state, ' ' ORDER BY at, seq) FROM recommendation_events"
                                " WHERE recommendation_id = '%s'", id);
    format_into(events, size, "%s", sql(statement));
    free(statement);
    events[strcspn(events, "\n")] = '\0';
}

static bool is_leader(const daemon_run *d)
{
    if (d->pid <= 0)
        return false;
    reply r = daemon_call(d, "GET", "/api/v1/health/leader", NULL, NULL, NULL);
    bool leader = r.status == 200 && json_is_true(json_object_get(r.json, "leader"));
    json_decref(r.json);
    return leader;
}

/* Seconds until d says it leads, or -1 after limit seconds. */
static double wait_for_leader(const daemon_run *d, double limit)
{
    double start = now_seconds();
    while (now_seconds() - start < limit) {
        if (is_leader(d))
            return now_seconds() - start;
        usleep(50 * 1000);
    }
    return -1;
}

static void wait_for_state(const char *id, const char *state, double limit)
{
    char expected[64];
    format_into(expected, sizeof expected, "%s\n", state);
    double start = now_seconds();
    while (strcmp(state_in_database(id), expected) != 0 && now_seconds() - start < limit)
        usleep(100 * 1000);
    assert_string_equal(state_in_database(id), expected);
}

/* A surge sent to d, and the recommendation the leader (whichever it is) raised for it: pending, in the database. */
static void surge_to_pending(const daemon_run *d, double load, char *id, size_t size)
{
    char *body = xasprintf("[{\"service\":\"donations-api\",\"ts\":%.0f,\"value\":%.0f}]", (double)time(NULL), load);
    reply r = daemon_call(d, "POST", "/api/v1/ingest/metrics", d->admin_key, body, NULL);
    free(body);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    id[0] = '\0';
    for (int i = 0; i < 100 && !id[0]; i++) {
        format_into(id, size, "%s", sql("SELECT id FROM recommendations WHERE state = 'pending'"));
        id[strcspn(id, "\n")] = '\0';
        if (!id[0])
            usleep(100 * 1000);
    }
    if (!id[0])
        fail_msg("no pending recommendation after a surge of %.0f through %s", load, d->log);
}

static reply approve(const daemon_run *d, const char *id)
{
    char *path = xasprintf("/api/v1/recommendations/%s/approve", id);
    reply r = daemon_call(d, "POST", path, d->admin_key, "{\"reason\":\"on call agrees\"}", NULL);
    free(path);
    return r;
}

/* How many times the scalers of both daemons were asked to act for the recommendation id. */
static int scaled_for(const char *id)
{
    int count = 0;
    const daemon_run *runs[] = {&first, &second};
    for (size_t i = 0; i < 2; i++) {
        char *line = xasprintf("grep -cF '(recommendation %s,' %s", id, runs[i]->log);
        const char *output;
        support_run(line, &output);
        count += atoi(output);
        free(line);
    }
    return count;
}

static bool logged(const daemon_run *d, const char *text)
{
    char *line = xasprintf("grep -qF '%s' %s", text, d->log);
    int status = support_run(line, NULL);
    free(line);
    return status == 0;
}

/* Approved through the follower, executed by the leader: once, by the leader's scaler alone. */
static void assert_executed_once_by(const char *id, const daemon_run *leader)
{
    wait_for_state(id, "executed", 10);
    char events[256];
    events_in_database(id, events, sizeof events);
    assert_string_equal(events, "pending approved executing executed");
    assert_int_equal(scaled_for(id), 1);
    char *line = xasprintf("(recommendation %s, approved by alice)", id);
    assert_true(logged(leader, line));
    free(line);
}

/* ## Tests -------------------------------------------------------------------------------------------------------- */

static void test_leader_both_replicas_serve_the_api_and_exactly_one_leads(void **state)
{
    (void)state;
    assert_int_equal(daemon_start(&first), 0);
    assert_true(wait_for_leader(&first, 5) >= 0);
    assert_int_equal(daemon_start(&second), 0);
    usleep((useconds_t)(2 * RETRY_SECONDS * 1e6)); /* the follower has asked, and asked again */
    assert_true(is_leader(&first));
    assert_false(is_leader(&second));

    reply r = daemon_call(&second, "GET", "/api/v1/health", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "follower");
    json_decref(r.json);
    r = daemon_call(&second, "GET", "/api/v1/recommendations", second.reader_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    r = daemon_call(&second, "GET", "/api/v1/services", second.reader_key, NULL, NULL);
    assert_int_equal(r.status, 200); /* the follower reads its scaler each tick too, deciding nothing */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(r.json, "services"), 0),
                                                        "desired")), 4);
    json_decref(r.json);
    char *leading = daemon_text(&first, "/metrics", first.reader_key);
    char *following = daemon_text(&second, "/metrics", second.reader_key);
    assert_non_null(leading);
    assert_non_null(following);
    assert_true(support_sample_value(leading, "hydra_leader{instance=\"core\"}") == 1);
    assert_true(support_sample_value(following, "hydra_leader{instance=\"core\"}") == 0);
    assert_true(support_sample_value(following, "hydra_ticks_total{instance=\"core\"}") == 0); /* it never ticks */
    free(leading);
    free(following);
    assert_true(logged(&first, "leader: this replica holds lock tenant default: it now ticks and executes"));
    assert_false(logged(&second, "leader: this replica holds lock"));
}

/* The surge goes to the follower (its ingest stores it; the leader reads it from the database at its next tick) and
 * so does the approval (a compare-and-set in the database; the leader adopts it at its next tick). */
static void test_leader_executes_once_what_the_follower_was_told(void **state)
{
    (void)state;
    char id[64];
    surge_to_pending(&second, 5000, id, sizeof id);
    reply r = approve(&second, id);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "approved"); /* the leader executes */
    json_decref(r.json);
    assert_executed_once_by(id, &first);
    r = approve(&first, id);
    assert_int_equal(r.status, 409); /* decided once, whichever replica is asked */
    json_decref(r.json);
    r = approve(&second, id);
    assert_int_equal(r.status, 409);
    json_decref(r.json);
}

/* The leader is frozen (SIGSTOP: it holds the lock but acts on nothing) while the follower takes an approval, then
 * killed: the approval was made just before the kill and only the new leader can carry it out, exactly once. */
static void test_leader_kill_9_the_follower_takes_over_and_executes_what_was_approved(void **state)
{
    (void)state;
    char id[64];
    surge_to_pending(&first, 10000, id, sizeof id);
    kill(first.pid, SIGSTOP);
    reply r = approve(&second, id);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    assert_false(is_leader(&second)); /* a frozen leader still holds the lock */
    daemon_stop(&first, SIGKILL);
    double took = wait_for_leader(&second, 10);
    print_message("takeover after kill -9 of the leader: %.2f s (retry %.0f s)\n", took, RETRY_SECONDS);
    assert_true(took >= 0 && took <= TAKEOVER_LIMIT);
    assert_executed_once_by(id, &second);
    assert_true(logged(&second, "resumed 1 open recommendations"));

    assert_int_equal(daemon_start(&first), 0); /* back as a follower: the lock is the other's now */
    usleep((useconds_t)(2 * RETRY_SECONDS * 1e6));
    assert_false(is_leader(&first));
    assert_true(is_leader(&second));
}

/* Killed mid-run with a question open: the new leader asks it again (pending, not lost) and executes it once it is
 * approved, here through the replica that was killed and has come back as a follower. */
static void test_leader_kill_9_with_a_pending_recommendation_loses_nothing(void **state)
{
    (void)state;
    char id[64];
    surge_to_pending(&first, 20000, id, sizeof id); /* through the follower; the leader raises it */
    daemon_stop(&second, SIGKILL);
    double took = wait_for_leader(&first, 10);
    print_message("takeover with a pending recommendation: %.2f s\n", took);
    assert_true(took >= 0 && took <= TAKEOVER_LIMIT);
    assert_string_equal(state_in_database(id), "pending\n");
    assert_int_equal(daemon_start(&second), 0);
    reply r = approve(&second, id);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    assert_executed_once_by(id, &first);
}

/* PostgreSQL restarted: the leader's lock session is gone, so it steps down at once; the API keeps answering what
 * needs no database; once the server is back, exactly one replica leads again. */
static void test_leader_a_database_restart_steps_both_down_then_one_leads(void **state)
{
    (void)state;
    const char *output;
    assert_int_equal(pg_server_run(&server, "down", &output), 0);
    double start = now_seconds();
    while ((is_leader(&first) || is_leader(&second)) && now_seconds() - start < 10)
        usleep(100 * 1000);
    assert_false(is_leader(&first));
    assert_false(is_leader(&second));
    reply r = daemon_call(&first, "GET", "/api/v1/health", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    assert_true(logged(&first, "leader: lost lock tenant default"));

    assert_int_equal(pg_server_run(&server, "up", &output), 0);
    start = now_seconds();
    while (!is_leader(&first) && !is_leader(&second) && now_seconds() - start < 15)
        usleep(100 * 1000);
    print_message("a leader again %.2f s after the database came back\n", now_seconds() - start);
    usleep((useconds_t)(2 * RETRY_SECONDS * 1e6));
    assert_int_equal(is_leader(&first) + is_leader(&second), 1);
}

/* A leader stopped on purpose (SIGTERM, as systemd or Kubernetes stop it) lets go of the lock as it exits, so the
 * other replica takes over at its next try rather than when the server notices the session gone. */
static void test_leader_a_stopped_leader_hands_the_lead_over(void **state)
{
    (void)state;
    daemon_run *leader = is_leader(&first) ? &first : &second, *other = leader == &first ? &second : &first;
    assert_true(is_leader(leader));
    daemon_stop(leader, SIGTERM);
    double took = wait_for_leader(other, 10);
    print_message("takeover after SIGTERM of the leader: %.2f s\n", took);
    assert_true(took >= 0 && took <= TAKEOVER_LIMIT);
    assert_true(logged(leader, "leader: lock tenant default released"));
    assert_int_equal(daemon_start(leader), 0);
    usleep((useconds_t)(2 * RETRY_SECONDS * 1e6));
    assert_false(is_leader(leader));
}

/* An approval the leader never had in hand (written while another replica led, in the moment before that one lost
 * the lock, say) is owed all the same: the leader finds it in the database at its next tick and executes it once. */
static void test_leader_an_approval_it_never_had_in_hand_is_executed_once(void **state)
{
    (void)state;
    const daemon_run *leader = is_leader(&first) ? &first : &second;
    double now = (double)time(NULL);
    char *insert = xasprintf(
        "INSERT INTO recommendations (tenant, id, target, state, from_replicas, to_replicas, asked, created_at,"
        " expires_at, decided_at, reason, decided_by, decision_reason)"
        " VALUES ('default', 'rec-elsewhere-000001', 'donations-api', 'approved', 3, 2, 1, %.0f, %.0f, %.0f,"
        " 'a quiet night', 'alice', 'fine');"
        "INSERT INTO recommendation_events (tenant, recommendation_id, from_state, to_state, at, actor, why) VALUES"
        " ('default', 'rec-elsewhere-000001', 'pending', 'pending', %.0f, 'policy', 'ask'),"
        " ('default', 'rec-elsewhere-000001', 'pending', 'approved', %.0f, 'alice', 'fine')",
        now - 5, now + 600, now - 1, now - 5, now - 1);
    sql(insert);
    free(insert);
    assert_executed_once_by("rec-elsewhere-000001", leader);
    assert_true(logged(leader, "recommendation rec-elsewhere-000001 was approved outside this leader"));
}

/* Over the whole run, in the database and in the scalers' logs: nothing left approved or executing, and no
 * recommendation the scalers acted on twice; each the database says a scaler executed was acted on exactly once. */
static void test_leader_no_recommendation_was_executed_twice_or_lost(void **state)
{
    (void)state;
    assert_string_equal(sql("SELECT count(*) FROM recommendations WHERE state IN ('approved', 'executing')"), "0\n");
    const char *ids = sql("SELECT id, (result LIKE 'target reports%')::int FROM recommendations ORDER BY id");
    char *copy = xstrdup(ids);
    int executed = 0;
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        char *bar = strchr(line, '|');
        assert_non_null(bar);
        *bar = '\0';
        int by_scaler = atoi(bar + 1), scaled = scaled_for(line);
        if (scaled != by_scaler)
            fail_msg("recommendation %s: the scalers acted %d times, the database says %d", line, scaled, by_scaler);
        executed += by_scaler;
    }
    free(copy);
    print_message("%d recommendations executed by a scaler, each exactly once\n", executed);
    assert_true(executed >= 3);
}

/* On SQLite (one machine) the lock is a flock beside the database: a second daemon started on the same file by
 * mistake serves the API but does not act, and takes over when the first dies (the default retry, 5 s). */
static void test_leader_two_daemons_on_one_sqlite_file_one_leads(void **state)
{
    (void)state;
    daemon_run one, two;
    assert_int_equal(daemon_prepare(&one, NULL, NULL), 0);
    assert_int_equal(daemon_prepare_replica(&two, &one), 0);
    assert_int_equal(daemon_start(&one), 0);
    assert_int_equal(daemon_start(&two), 0);
    assert_true(is_leader(&one));
    assert_false(is_leader(&two));
    char id[64];
    assert_int_equal(daemon_surge_to_pending(&one, 5000, 0, id, sizeof id), 0);
    daemon_stop(&one, SIGKILL);
    double took = wait_for_leader(&two, 10);
    print_message("SQLite: takeover after kill -9 %.2f s (retry 5 s)\n", took);
    assert_true(took >= 0 && took <= 5 + 2);
    reply r = approve(&two, id);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executed"); /* by the leader, at once */
    json_decref(r.json);
    daemon_cleanup(&two);
    daemon_cleanup(&one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_both_replicas_serve_the_api_and_exactly_one_leads),
        cmocka_unit_test(test_leader_executes_once_what_the_follower_was_told),
        cmocka_unit_test(test_leader_kill_9_the_follower_takes_over_and_executes_what_was_approved),
        cmocka_unit_test(test_leader_kill_9_with_a_pending_recommendation_loses_nothing),
        cmocka_unit_test(test_leader_a_database_restart_steps_both_down_then_one_leads),
        cmocka_unit_test(test_leader_a_stopped_leader_hands_the_lead_over),
        cmocka_unit_test(test_leader_an_approval_it_never_had_in_hand_is_executed_once),
        cmocka_unit_test(test_leader_no_recommendation_was_executed_twice_or_lost),
        cmocka_unit_test(test_leader_two_daemons_on_one_sqlite_file_one_leads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
