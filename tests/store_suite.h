/* The behaviour every store plugin owes the daemon (the "## Store" contract of include/hydra/plugin.h), as cmocka
 * tests that know nothing of the database behind the plugin. A store's test binary includes this header once,
 * writes a setup that makes a fresh, empty database and calls store_suite_setup() with the plugin's name and
 * settings, and lists STORE_SUITE_TESTS(setup, teardown):
 *
 *     static int setup(void **state)
 *     {
 *         char settings[512];
 *         snprintf(settings, sizeof settings, "path = \"%s\";", support_write_temp(""));
 *         return store_suite_setup(state, "sqlite", settings);
 *     }
 *     static int teardown(void **state) { ...remove the database...; return store_suite_teardown(state); }
 *     int main(void)
 *     {
 *         const struct CMUnitTest tests[] = {STORE_SUITE_TESTS(setup, teardown)};
 *         return cmocka_run_group_tests(tests, NULL, NULL);
 *     }
 *
 * Each test gets a store_fixture in *state: the instance loaded as the daemon loads it, migrated, with its ops table
 * and state at hand. store_fixture_reopen() closes and opens it again with the same settings (data must survive).
 * Times are realistic Unix seconds with exact binary fractions, so that a store keeping microseconds returns them
 * unchanged.
 *
 * Where plugin.h leaves a choice open, the suite settles it (and both stores do the same): a string left NULL in a
 * record comes back NULL, and an optional time left 0 comes back 0; a request refused for its content fails with a
 * message that does not start with "unavailable:"; a replayed response is cut to the caller's buffer and still ends
 * in NUL; a visitor that stops the walk is not an error (0); recommendations created at the same time list by id,
 * the larger first; events are per recommendation, oldest first; a revoked key's name may be given to a new key,
 * while revoking it again returns 1; the hash of a key must be 64 lowercase hex digits. */
#ifndef HYDRA_TEST_STORE_SUITE_H
#define HYDRA_TEST_STORE_SUITE_H

#include "support.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* ## The fixture: a store instance with its state at hand ---------------------------------------------------------- */

typedef struct store_fixture {
    support_plugin plugin;
    bool open;
    const hydra_store_ops *ops;
    void *db; /* the plugin's state: the suite calls the ops directly, to see exactly what the plugin answers */
    char name[64];
    char settings[1024];
    char scratch[256]; /* the test binary's own: e.g. the file or database its teardown removes */
} store_fixture;

static void store_fixture_close(store_fixture *f)
{
    if (f->open)
        support_plugin_close(&f->plugin);
    f->open = false;
    f->db = NULL;
    f->ops = NULL;
}

/* Opens store/<f->name> with f->settings as the daemon does; -1 with the reason in f->plugin.error. */
static int store_fixture_open(store_fixture *f)
{
    f->open = true;
    if (!support_plugin_open(&f->plugin, "store", f->name, f->settings)) {
        char reason[sizeof f->plugin.error];
        memcpy(reason, f->plugin.error, sizeof reason);
        store_fixture_close(f);
        memcpy(f->plugin.error, reason, sizeof reason);
        return -1;
    }
    f->db = instance_state(f->plugin.instance);
    f->ops = instance_module(f->plugin.instance)->descriptor->ops;
    return 0;
}

static const char *store_error(const store_fixture *f) { return instance_error(f->plugin.instance); }

/* The host clears an instance's error before each call it wraps; the suite calls the ops directly, so it does the
 * same, lest a stale message pass for the reason of a failure that set none. The buffer is the instance's own. */
static void store_clear_error(store_fixture *f) { instance_clear_error(f->plugin.instance); }

static void store_fixture_migrate(store_fixture *f)
{
    int version = -1;
    if (f->ops->migrate(f->db, &version) != 0)
        fail_msg("migrate: %s", store_error(f));
}

static void store_fixture_reopen(store_fixture *f)
{
    store_fixture_close(f);
    if (store_fixture_open(f) != 0)
        fail_msg("reopen store %s: %s", f->name, f->plugin.error);
    store_fixture_migrate(f);
}

/* A cmocka setup: opens store/name with settings (libconfig text) on the fresh database the caller made, migrates. */
static int store_suite_setup(void **state, const char *name, const char *settings)
{
    store_fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->settings, sizeof f->settings, "%s", settings);
    int version = -1;
    if (store_fixture_open(f) != 0 || f->ops->migrate(f->db, &version) != 0) {
        print_error("store %s with \"%s\": %s\n", name, settings, f->open ? store_error(f) : f->plugin.error);
        store_fixture_close(f);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int store_suite_teardown(void **state)
{
    store_fixture *f = *state;
    if (f) {
        store_fixture_close(f);
        free(f);
    }
    *state = NULL;
    return 0;
}

/* ## Helpers ------------------------------------------------------------------------------------------------------- */

#define SUITE_T0 1767225600.0 /* 2026-01-01T00:00:00Z */
#define SUITE_HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SUITE_HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SUITE_HASH_C "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SUITE_SAMPLES_MAX 4096

/* A validation failure is the caller's fault (400), never "unavailable" (503), and it says something. */
static void assert_refused(store_fixture *f, int result)
{
    assert_int_equal(result, -1);
    assert_true(store_error(f)[0] != '\0');
    if (strncmp(store_error(f), "unavailable:", 12) == 0)
        fail_msg("a refused request was reported as unavailable: %s", store_error(f));
}

static void assert_ok(store_fixture *f, int result)
{
    if (result != 0)
        fail_msg("expected 0, got %d: %s", result, store_error(f));
}

typedef struct samples_seen {
    size_t count;
    double ts[SUITE_SAMPLES_MAX];
    double value[SUITE_SAMPLES_MAX];
    size_t stop_after; /* 0: never stop */
} samples_seen;

static int samples_collect(void *context, double ts, double value)
{
    samples_seen *seen = context;
    if (seen->count < SUITE_SAMPLES_MAX) {
        seen->ts[seen->count] = ts;
        seen->value[seen->count] = value;
    }
    seen->count++;
    return seen->stop_after && seen->count >= seen->stop_after;
}

/* Every sample of tenant/service/metric in the years around the test times; the collector is static (it is big). */
static samples_seen *samples_all(store_fixture *f, const char *tenant, const char *service, const char *metric)
{
    static samples_seen seen;
    memset(&seen, 0, sizeof seen);
    assert_ok(f, f->ops->query_samples(f->db, tenant, service, metric, SUITE_T0 - 1e8, SUITE_T0 + 1e8, samples_collect,
                                       &seen));
    return &seen;
}

static hydra_sample sample(const char *service, const char *metric, double offset, double value)
{
    return (hydra_sample){service, metric, SUITE_T0 + offset, value};
}

static int append(store_fixture *f, const char *tenant, const hydra_sample *samples, size_t count, const char *key,
                  char *response, size_t response_size)
{
    store_clear_error(f);
    return f->ops->append_samples(f->db, tenant, samples, count, key, response, response_size);
}

/* What the suite remembers of a recommendation or an event it was handed: copies, since the strings die with the
 * visitor's call. "(null)" stands for NULL. */
typedef struct recommendation_seen {
    char id[40], target[64], state[16], reason[128], decided_by[64], decision_reason[128], result[128];
    int from_replicas, to_replicas, asked;
    double forecast_peak, forecast_peak_at, created_at, expires_at, decided_at, finished_at;
} recommendation_seen;

typedef struct event_seen {
    char tenant[32], recommendation_id[40], from_state[16], to_state[16], by[64], why[128];
    double at;
} event_seen;

typedef struct history_seen {
    size_t count, event_count;
    recommendation_seen items[16];
    event_seen events[16];
} history_seen;

static void text_copy_into(char *buffer, size_t size, const char *text)
{
    snprintf(buffer, size, "%s", text ? text : "(null)");
}

static int recommendation_collect(void *context, const hydra_recommendation_record *r)
{
    history_seen *seen = context;
    if (seen->count < 16) {
        recommendation_seen *s = &seen->items[seen->count];
        text_copy_into(s->id, sizeof s->id, r->id);
        text_copy_into(s->target, sizeof s->target, r->target);
        text_copy_into(s->state, sizeof s->state, r->state);
        text_copy_into(s->reason, sizeof s->reason, r->reason);
        text_copy_into(s->decided_by, sizeof s->decided_by, r->decided_by);
        text_copy_into(s->decision_reason, sizeof s->decision_reason, r->decision_reason);
        text_copy_into(s->result, sizeof s->result, r->result);
        s->from_replicas = r->from_replicas;
        s->to_replicas = r->to_replicas;
        s->asked = r->asked;
        s->forecast_peak = r->forecast_peak;
        s->forecast_peak_at = r->forecast_peak_at;
        s->created_at = r->created_at;
        s->expires_at = r->expires_at;
        s->decided_at = r->decided_at;
        s->finished_at = r->finished_at;
    }
    seen->count++;
    return 0;
}

static int event_collect(void *context, const hydra_recommendation_event *e)
{
    history_seen *seen = context;
    if (seen->event_count < 16) {
        event_seen *s = &seen->events[seen->event_count];
        text_copy_into(s->tenant, sizeof s->tenant, e->tenant);
        text_copy_into(s->recommendation_id, sizeof s->recommendation_id, e->recommendation_id);
        text_copy_into(s->from_state, sizeof s->from_state, e->from_state);
        text_copy_into(s->to_state, sizeof s->to_state, e->to_state);
        text_copy_into(s->by, sizeof s->by, e->by);
        text_copy_into(s->why, sizeof s->why, e->why);
        s->at = e->at;
    }
    seen->event_count++;
    return 0;
}

/* A pending recommendation created at SUITE_T0 + offset; the caller changes what it needs. */
static hydra_recommendation_record recommendation(const char *tenant, const char *id, double offset)
{
    return (hydra_recommendation_record){
        .tenant = tenant,
        .id = id,
        .target = "web",
        .state = "pending",
        .from_replicas = 2,
        .to_replicas = 5,
        .asked = 1,
        .forecast_peak = 812.5,
        .forecast_peak_at = SUITE_T0 + offset + 1800,
        .created_at = SUITE_T0 + offset,
        .expires_at = SUITE_T0 + offset + 900,
        .reason = "the forecast peak needs 5 replicas",
    };
}

static hydra_recommendation_event event(const char *from, const char *to, double at, const char *by, const char *why)
{
    return (hydra_recommendation_event){NULL, NULL, from, to, SUITE_T0 + at, by, why};
}

/* Saves rec as created (its state to itself), failing the test on an error. */
static void recommendation_create(store_fixture *f, const hydra_recommendation_record *rec)
{
    hydra_recommendation_event created = event(rec->state, rec->state, rec->created_at - SUITE_T0, "controller",
                                               "forecast");
    assert_ok(f, f->ops->save_recommendation(f->db, rec, &created, NULL));
}

static int save(store_fixture *f, const hydra_recommendation_record *rec, const hydra_recommendation_event *e,
                const char *expected_state)
{
    store_clear_error(f);
    return f->ops->save_recommendation(f->db, rec, e, expected_state);
}

/* The recommendation and its events, or count 0 when get answered 1. */
static history_seen *history_of(store_fixture *f, const char *tenant, const char *id)
{
    static history_seen seen;
    memset(&seen, 0, sizeof seen);
    int result = f->ops->get_recommendation(f->db, tenant, id, recommendation_collect, event_collect, &seen);
    if (result < 0)
        fail_msg("get_recommendation %s: %s", id, store_error(f));
    assert_int_equal(result, seen.count == 0 ? 1 : 0);
    return &seen;
}

static history_seen *list_of(store_fixture *f, const char *tenant, const char *state_filter, size_t limit)
{
    static history_seen seen;
    memset(&seen, 0, sizeof seen);
    assert_ok(f, f->ops->list_recommendations(f->db, tenant, state_filter, limit, recommendation_collect, &seen));
    return &seen;
}

typedef struct keys_seen {
    size_t count;
    char tenant[8][32], name[8][32], hash[8][80], scopes[8][64];
    double created_at[8], revoked_at[8];
} keys_seen;

static int key_collect(void *context, const hydra_api_key_record *r)
{
    keys_seen *seen = context;
    if (seen->count < 8) {
        text_copy_into(seen->tenant[seen->count], sizeof seen->tenant[0], r->tenant);
        text_copy_into(seen->name[seen->count], sizeof seen->name[0], r->name);
        text_copy_into(seen->hash[seen->count], sizeof seen->hash[0], r->hash);
        text_copy_into(seen->scopes[seen->count], sizeof seen->scopes[0], r->scopes);
        seen->created_at[seen->count] = r->created_at;
        seen->revoked_at[seen->count] = r->revoked_at;
    }
    seen->count++;
    return 0;
}

static hydra_api_key_record api_key(const char *tenant, const char *name, const char *hash)
{
    return (hydra_api_key_record){tenant, name, hash, "ingest,read", SUITE_T0, 0};
}

static int put_key(store_fixture *f, const hydra_api_key_record *key)
{
    store_clear_error(f);
    return f->ops->put_api_key(f->db, key);
}

/* find_api_key's answer (0 or 1), with what it handed out in seen. */
static int find_key(store_fixture *f, const char *hash, keys_seen *seen)
{
    memset(seen, 0, sizeof *seen);
    int result = f->ops->find_api_key(f->db, hash, key_collect, seen);
    if (result < 0)
        fail_msg("find_api_key: %s", store_error(f));
    assert_int_equal(seen->count, result == 0 ? 1 : 0);
    return result;
}

typedef struct alerts_seen {
    size_t count;
    char id[8][32], service[8][32], metric[8][32], message[8][64];
    double at[8], score[8];
} alerts_seen;

static int alert_collect(void *context, const hydra_alert_record *r)
{
    alerts_seen *seen = context;
    if (seen->count < 8) {
        text_copy_into(seen->id[seen->count], sizeof seen->id[0], r->id);
        text_copy_into(seen->service[seen->count], sizeof seen->service[0], r->service);
        text_copy_into(seen->metric[seen->count], sizeof seen->metric[0], r->metric);
        text_copy_into(seen->message[seen->count], sizeof seen->message[0], r->message);
        seen->at[seen->count] = r->at;
        seen->score[seen->count] = r->score;
    }
    seen->count++;
    return 0;
}

/* ## Migrations and health ----------------------------------------------------------------------------------------- */

static void store_test_migrate_again_applies_nothing_and_keeps_data(void **state)
{
    store_fixture *f = *state;
    hydra_sample s = sample("web", "rps", 0, 10);
    assert_ok(f, append(f, "acme", &s, 1, NULL, NULL, 0));
    int first = -1, second = -1;
    assert_ok(f, f->ops->migrate(f->db, &first));
    assert_ok(f, f->ops->migrate(f->db, &second));
    assert_true(first >= 1);
    assert_int_equal(first, second);
    assert_int_equal(samples_all(f, "acme", "web", "rps")->count, 1);
}

static void store_test_reopening_keeps_every_kind_of_data(void **state)
{
    store_fixture *f = *state;
    hydra_sample s = sample("web", "rps", 60, 42.5);
    char first_response[32] = "{\"accepted\":1}";
    assert_ok(f, append(f, "acme", &s, 1, "batch-1", first_response, sizeof first_response));
    hydra_recommendation_record rec = recommendation("acme", "r1", 0);
    recommendation_create(f, &rec);
    hydra_api_key_record key = api_key("acme", "ci", SUITE_HASH_A);
    assert_ok(f, put_key(f, &key));
    hydra_alert_record alert = {"acme", "a1", "web", "rps", SUITE_T0, 0.75, "spike"};
    assert_ok(f, f->ops->put_alert(f->db, &alert));

    store_fixture_reopen(f);

    samples_seen *samples = samples_all(f, "acme", "web", "rps");
    assert_int_equal(samples->count, 1);
    assert_true(samples->value[0] == 42.5);
    char response[64] = "";
    assert_int_equal(append(f, "acme", &s, 1, "batch-1", response, sizeof response), 1);
    assert_string_equal(response, "{\"accepted\":1}");
    assert_int_equal(history_of(f, "acme", "r1")->count, 1);
    keys_seen keys;
    assert_int_equal(find_key(f, SUITE_HASH_A, &keys), 0);
    alerts_seen alerts = {0};
    assert_ok(f, f->ops->list_alerts(f->db, "acme", 0, alert_collect, &alerts));
    assert_int_equal(alerts.count, 1);
}

static void store_test_health_answers(void **state)
{
    store_fixture *f = *state;
    assert_ok(f, f->ops->health(f->db));
}

/* ## Samples ------------------------------------------------------------------------------------------------------- */

static void store_test_samples_come_back_in_time_order_from_inclusive_to_exclusive(void **state)
{
    store_fixture *f = *state;
    hydra_sample batch[] = {
        sample("web", "rps", 120, 3), sample("web", "rps", 0, 1),  sample("web", "rps", 180, 4),
        sample("web", "rps", 60, 2),  sample("web", "cpu", 60, 99), sample("api", "rps", 60, 98),
    };
    assert_ok(f, append(f, "acme", batch, 6, NULL, NULL, 0));
    samples_seen seen = {0};
    assert_ok(f, f->ops->query_samples(f->db, "acme", "web", "rps", SUITE_T0, SUITE_T0 + 180, samples_collect, &seen));
    assert_int_equal(seen.count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(seen.ts[i] == SUITE_T0 + 60.0 * (double)i);
        assert_true(seen.value[i] == (double)(i + 1));
    }
    assert_int_equal(samples_all(f, "acme", "web", "cpu")->count, 1);
    assert_int_equal(samples_all(f, "acme", "api", "rps")->count, 1);
}

static void store_test_samples_of_another_tenant_are_invisible(void **state)
{
    store_fixture *f = *state;
    hydra_sample mine = sample("web", "rps", 0, 1), theirs = sample("web", "rps", 0, 2);
    assert_ok(f, append(f, "acme", &mine, 1, NULL, NULL, 0));
    assert_ok(f, append(f, "globex", &theirs, 1, NULL, NULL, 0));
    samples_seen *seen = samples_all(f, "acme", "web", "rps");
    assert_int_equal(seen->count, 1);
    assert_true(seen->value[0] == 1);
    assert_int_equal(samples_all(f, "initech", "web", "rps")->count, 0);
}

static void store_test_a_batch_with_one_bad_sample_writes_nothing(void **state)
{
    store_fixture *f = *state;
    const hydra_sample bad[] = {
        sample("web", "rps", 60, NAN),      sample("web", "rps", 60, INFINITY), {"web", "rps", NAN, 1},
        {"web", "rps", SUITE_T0 - INFINITY, 1}, sample("", "rps", 60, 1),       sample("web", "", 60, 1),
        {NULL, "rps", SUITE_T0, 1},         {"web", NULL, SUITE_T0, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hydra_sample batch[] = {sample("web", "rps", 0, 1), sample("web", "rps", 30, 2), bad[i]};
        assert_refused(f, append(f, "acme", batch, 3, NULL, NULL, 0));
        assert_int_equal(samples_all(f, "acme", "web", "rps")->count, 0);
    }
    hydra_sample good = sample("web", "rps", 0, 1);
    assert_refused(f, append(f, "", &good, 1, NULL, NULL, 0));
    assert_refused(f, append(f, NULL, &good, 1, NULL, NULL, 0));
}

static void store_test_idempotent_replay_returns_1_with_the_first_response_and_writes_nothing(void **state)
{
    store_fixture *f = *state;
    hydra_sample first[] = {sample("web", "rps", 0, 1), sample("web", "rps", 60, 2)};
    char response[64] = "{\"accepted\":2}";
    assert_ok(f, append(f, "acme", first, 2, "req-7", response, sizeof response));
    hydra_sample retry[] = {sample("web", "rps", 120, 3)};
    char replayed[64] = "{\"accepted\":1}";
    assert_int_equal(append(f, "acme", retry, 1, "req-7", replayed, sizeof replayed), 1);
    assert_string_equal(replayed, "{\"accepted\":2}");
    assert_int_equal(samples_all(f, "acme", "web", "rps")->count, 2);
    char small[6] = "";
    assert_int_equal(append(f, "acme", retry, 1, "req-7", small, sizeof small), 1);
    assert_string_equal(small, "{\"acc"); /* cut to the buffer, still a string */
    assert_int_equal(samples_all(f, "acme", "web", "rps")->count, 2);
}

static void store_test_idempotency_keys_belong_to_their_tenant(void **state)
{
    store_fixture *f = *state;
    hydra_sample s = sample("web", "rps", 0, 1);
    char response[32] = "ok acme";
    assert_ok(f, append(f, "acme", &s, 1, "req-1", response, sizeof response));
    char other[32] = "ok globex";
    assert_ok(f, append(f, "globex", &s, 1, "req-1", other, sizeof other));
    assert_string_equal(other, "ok globex");
    assert_int_equal(samples_all(f, "globex", "web", "rps")->count, 1);
}

static void store_test_a_refused_batch_does_not_use_up_its_idempotency_key(void **state)
{
    store_fixture *f = *state;
    hydra_sample bad[] = {sample("web", "rps", 0, 1), sample("web", "rps", 60, NAN)};
    char response[32] = "first";
    assert_refused(f, append(f, "acme", bad, 2, "req-9", response, sizeof response));
    hydra_sample good[] = {sample("web", "rps", 0, 1)};
    char second[32] = "second";
    assert_ok(f, append(f, "acme", good, 1, "req-9", second, sizeof second));
    char replayed[32] = "";
    assert_int_equal(append(f, "acme", good, 1, "req-9", replayed, sizeof replayed), 1);
    assert_string_equal(replayed, "second");
    assert_int_equal(samples_all(f, "acme", "web", "rps")->count, 1);
}

static void store_test_appends_without_a_key_always_append(void **state)
{
    store_fixture *f = *state;
    hydra_sample s = sample("web", "rps", 0, 1);
    for (int i = 0; i < 3; i++)
        assert_ok(f, append(f, "acme", &s, 1, NULL, NULL, 0));
    assert_int_equal(samples_all(f, "acme", "web", "rps")->count, 3);
}

static void store_test_a_visitor_that_returns_nonzero_stops_the_walk(void **state)
{
    store_fixture *f = *state;
    hydra_sample batch[10];
    for (int i = 0; i < 10; i++)
        batch[i] = sample("web", "rps", 60.0 * i, i);
    assert_ok(f, append(f, "acme", batch, 10, NULL, NULL, 0));
    samples_seen seen = {.stop_after = 3};
    assert_ok(f, f->ops->query_samples(f->db, "acme", "web", "rps", SUITE_T0, SUITE_T0 + 1e6, samples_collect, &seen));
    assert_int_equal(seen.count, 3);
}

#define SUITE_THREADS 4
#define SUITE_BATCHES 25
#define SUITE_BATCH_SIZE 8

typedef struct append_worker {
    store_fixture *f;
    int thread;
    int failures;
} append_worker;

/* Half the batches carry an idempotency key of their own, so both write paths run concurrently. */
static void *append_worker_run(void *context)
{
    append_worker *w = context;
    for (int b = 0; b < SUITE_BATCHES; b++) {
        hydra_sample batch[SUITE_BATCH_SIZE];
        for (int i = 0; i < SUITE_BATCH_SIZE; i++) {
            double n = (double)((w->thread * SUITE_BATCHES + b) * SUITE_BATCH_SIZE + i);
            batch[i] = sample("web", "rps", n, n);
        }
        char key[32], response[32] = "ok";
        snprintf(key, sizeof key, "t%d-b%d", w->thread, b);
        if (w->f->ops->append_samples(w->f->db, "acme", batch, SUITE_BATCH_SIZE, b % 2 ? key : NULL, response,
                                      sizeof response) != 0)
            w->failures++;
    }
    return NULL;
}

static void store_test_concurrent_appends_from_four_threads_lose_nothing(void **state)
{
    store_fixture *f = *state;
    pthread_t threads[SUITE_THREADS];
    append_worker workers[SUITE_THREADS];
    for (int t = 0; t < SUITE_THREADS; t++) {
        workers[t] = (append_worker){f, t, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, append_worker_run, &workers[t]), 0);
    }
    for (int t = 0; t < SUITE_THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(workers[t].failures, 0);
    }
    size_t total = SUITE_THREADS * SUITE_BATCHES * SUITE_BATCH_SIZE;
    samples_seen *seen = samples_all(f, "acme", "web", "rps");
    assert_int_equal(seen->count, total);
    for (size_t i = 0; i < total; i++)
        assert_true(seen->value[i] == (double)i); /* every one, once, in time order */
}

/* ## Recommendations ----------------------------------------------------------------------------------------------- */

static void store_test_a_recommendation_comes_back_as_saved_with_its_creation_event(void **state)
{
    store_fixture *f = *state;
    hydra_recommendation_record rec = recommendation("acme", "r1", 0);
    recommendation_create(f, &rec);
    history_seen *h = history_of(f, "acme", "r1");
    assert_int_equal(h->count, 1);
    recommendation_seen *r = &h->items[0];
    assert_string_equal(r->id, "r1");
    assert_string_equal(r->target, "web");
    assert_string_equal(r->state, "pending");
    assert_int_equal(r->from_replicas, 2);
    assert_int_equal(r->to_replicas, 5);
    assert_int_equal(r->asked, 1);
    assert_true(r->forecast_peak == 812.5);
    assert_true(r->forecast_peak_at == SUITE_T0 + 1800);
    assert_true(r->created_at == SUITE_T0);
    assert_true(r->expires_at == SUITE_T0 + 900);
    assert_true(r->decided_at == 0 && r->finished_at == 0); /* 0: not yet */
    assert_string_equal(r->reason, "the forecast peak needs 5 replicas");
    assert_string_equal(r->decided_by, "(null)");
    assert_string_equal(r->result, "(null)");
    assert_int_equal(h->event_count, 1);
    assert_string_equal(h->events[0].tenant, "acme");
    assert_string_equal(h->events[0].recommendation_id, "r1");
    assert_string_equal(h->events[0].from_state, "pending");
    assert_string_equal(h->events[0].to_state, "pending");
    assert_string_equal(h->events[0].by, "controller");
    assert_true(h->events[0].at == SUITE_T0);
}

/* Text that would break SQL built by hand is stored and read back as it was. */
static void store_test_text_with_quotes_and_sql_comes_back_unchanged(void **state)
{
    store_fixture *f = *state;
    const char *hostile = "it's \"fine\"'); DROP TABLE recommendations; --";
    hydra_recommendation_record rec = recommendation("acme", "r1", 0);
    rec.reason = hostile;
    recommendation_create(f, &rec);
    history_seen *h = history_of(f, "acme", "r1");
    assert_int_equal(h->count, 1);
    assert_string_equal(h->items[0].reason, hostile);
    h = history_of(f, "acme", "r1"); /* the table is still there */
    assert_int_equal(h->count, 1);
}

/* Moves r1 from pending to approved as a person would, checking that the stored state is still pending. */
static int approve(store_fixture *f, const char *by, double at)
{
    hydra_recommendation_record rec = recommendation("acme", "r1", 0);
    rec.state = "approved";
    rec.decided_at = SUITE_T0 + at;
    rec.decided_by = by;
    rec.decision_reason = "looks right";
    hydra_recommendation_event e = event("pending", "approved", at, by, "looks right");
    return save(f, &rec, &e, "pending");
}

static void store_test_the_second_of_two_racing_approvals_gets_1_and_writes_nothing(void **state)
{
    store_fixture *f = *state;
    hydra_recommendation_record rec = recommendation("acme", "r1", 0);
    recommendation_create(f, &rec);
    assert_ok(f, approve(f, "alice", 60));
    assert_int_equal(approve(f, "bob", 61), 1);
    history_seen *h = history_of(f, "acme", "r1");
    assert_string_equal(h->items[0].state, "approved");
    assert_string_equal(h->items[0].decided_by, "alice");
    assert_true(h->items[0].decided_at == SUITE_T0 + 60);
    assert_int_equal(h->event_count, 2);
    assert_string_equal(h->events[1].by, "alice");
}

#define SUITE_RACERS 8

typedef struct racer {
    store_fixture *f;
    pthread_barrier_t *start;
    char name[16];
    int result;
} racer;

static void *racer_run(void *context)
{
    racer *r = context;
    pthread_barrier_wait(r->start);
    r->result = approve(r->f, r->name, 60);
    return NULL;
}

static void store_test_of_eight_threads_approving_at_once_exactly_one_wins(void **state)
{
    store_fixture *f = *state;
    hydra_recommendation_record rec = recommendation("acme", "r1", 0);
    recommendation_create(f, &rec);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, SUITE_RACERS);
    pthread_t threads[SUITE_RACERS];
    racer racers[SUITE_RACERS];
    for (int i = 0; i < SUITE_RACERS; i++) {
        racers[i] = (racer){.f = f, .start = &start};
        snprintf(racers[i].name, sizeof racers[i].name, "person-%d", i);
        assert_int_equal(pthread_create(&threads[i], NULL, racer_run, &racers[i]), 0);
    }
    int winners = 0, losers = 0, winner = -1;
    for (int i = 0; i < SUITE_RACERS; i++) {
        pthread_join(threads[i], NULL);
        winners += racers[i].result == 0;
        losers += racers[i].result == 1;
        winner = racers[i].result == 0 ? i : winner;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(winners, 1);
    assert_int_equal(losers, SUITE_RACERS - 1);
    history_seen *h = history_of(f, "acme", "r1");
    assert_string_equal(h->items[0].decided_by, racers[winner].name);
    assert_int_equal(h->event_count, 2);
}

static void store_test_expected_state_on_a_missing_recommendation_returns_1(void **state)
{
    store_fixture *f = *state;
    assert_int_equal(approve(f, "alice", 60), 1);
    assert_int_equal(history_of(f, "acme", "r1")->count, 0);
}

static void store_test_an_unknown_state_is_refused_and_nothing_written(void **state)
{
    store_fixture *f = *state;
    hydra_recommendation_record rec = recommendation("acme", "r1", 0);
    rec.state = "maybe";
    hydra_recommendation_event e = event("maybe", "maybe", 0, "controller", NULL);
    assert_refused(f, save(f, &rec, &e, NULL));
    assert_int_equal(history_of(f, "acme", "r1")->count, 0);
    rec.state = "pending";
    hydra_recommendation_event bad_event = event("pending", "approvedish", 0, "controller", NULL);
    assert_refused(f, save(f, &rec, &bad_event, NULL));
    assert_int_equal(history_of(f, "acme", "r1")->count, 0);
    for (size_t i = 0; i < 7; i++) {
        static const char *const states[] = {"pending", "approved", "rejected", "expired",
                                             "executing", "executed", "failed"};
        char id[8];
        snprintf(id, sizeof id, "s%zu", i);
        rec = recommendation("acme", id, (double)i);
        rec.state = states[i];
        recommendation_create(f, &rec);
    }
    assert_int_equal(list_of(f, "acme", NULL, 0)->count, 7);
}

static void store_test_saving_without_expected_state_updates_and_appends_events_oldest_first(void **state)
{
    store_fixture *f = *state;
    hydra_recommendation_record rec = recommendation("acme", "r1", 0);
    recommendation_create(f, &rec);
    static const char *const path[] = {"pending", "approved", "executing", "executed"};
    for (int i = 1; i < 4; i++) {
        rec.state = path[i];
        rec.finished_at = i == 3 ? SUITE_T0 + 300 : 0;
        rec.result = i == 3 ? "5 replicas ready" : NULL;
        hydra_recommendation_event e = event(path[i - 1], path[i], 100.0 * i, "controller", path[i]);
        assert_ok(f, save(f, &rec, &e, NULL));
    }
    history_seen *h = history_of(f, "acme", "r1");
    assert_string_equal(h->items[0].state, "executed");
    assert_string_equal(h->items[0].result, "5 replicas ready");
    assert_true(h->items[0].finished_at == SUITE_T0 + 300);
    assert_int_equal(h->event_count, 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(h->events[i].to_state, path[i]);
        assert_true(h->events[i].at == SUITE_T0 + 100.0 * i);
    }
}

static void store_test_recommendations_list_newest_first_with_state_filter_and_limit(void **state)
{
    store_fixture *f = *state;
    /* created at offsets 0, 60, 60, 120: r3 and r2 tie on time and come by id, the larger first */
    const char *ids[] = {"r1", "r2", "r3", "r4"};
    const double at[] = {0, 60, 60, 120};
    for (int i = 0; i < 4; i++) {
        hydra_recommendation_record rec = recommendation("acme", ids[i], at[i]);
        rec.state = i == 0 ? "approved" : "pending";
        recommendation_create(f, &rec);
    }
    history_seen *all = list_of(f, "acme", NULL, 0);
    assert_int_equal(all->count, 4);
    assert_string_equal(all->items[0].id, "r4");
    assert_string_equal(all->items[1].id, "r3");
    assert_string_equal(all->items[2].id, "r2");
    assert_string_equal(all->items[3].id, "r1");
    history_seen *pending = list_of(f, "acme", "pending", 0);
    assert_int_equal(pending->count, 3);
    assert_string_equal(pending->items[0].id, "r4");
    assert_string_equal(pending->items[1].id, "r3");
    assert_string_equal(pending->items[2].id, "r2");
    history_seen *approved = list_of(f, "acme", "approved", 0);
    assert_int_equal(approved->count, 1);
    assert_string_equal(approved->items[0].id, "r1");
    assert_int_equal(list_of(f, "acme", "pending", 1)->count, 1);
    history_seen *two = list_of(f, "acme", NULL, 2);
    assert_int_equal(two->count, 2);
    assert_string_equal(two->items[1].id, "r3");
    assert_int_equal(list_of(f, "acme", "executed", 0)->count, 0);
}

static void store_test_recommendations_of_another_tenant_are_invisible(void **state)
{
    store_fixture *f = *state;
    hydra_recommendation_record rec = recommendation("acme", "r1", 0);
    recommendation_create(f, &rec);
    assert_int_equal(history_of(f, "globex", "r1")->count, 0);
    assert_int_equal(list_of(f, "globex", NULL, 0)->count, 0);
    /* The same id in another tenant is another recommendation. */
    hydra_recommendation_record theirs = recommendation("globex", "r1", 0);
    theirs.target = "db";
    recommendation_create(f, &theirs);
    assert_string_equal(history_of(f, "acme", "r1")->items[0].target, "web");
    assert_string_equal(history_of(f, "globex", "r1")->items[0].target, "db");
    /* An approval in one tenant does not touch the other's. */
    assert_ok(f, approve(f, "alice", 60));
    assert_string_equal(history_of(f, "globex", "r1")->items[0].state, "pending");
}

static void store_test_get_of_a_missing_recommendation_returns_1(void **state)
{
    store_fixture *f = *state;
    assert_int_equal(history_of(f, "acme", "nope")->count, 0);
}

/* ## API keys ------------------------------------------------------------------------------------------------------ */

static void store_test_an_api_key_is_found_by_hash_until_revoked(void **state)
{
    store_fixture *f = *state;
    hydra_api_key_record key = api_key("acme", "ci", SUITE_HASH_A);
    assert_ok(f, put_key(f, &key));
    keys_seen seen;
    assert_int_equal(find_key(f, SUITE_HASH_A, &seen), 0);
    assert_string_equal(seen.tenant[0], "acme");
    assert_string_equal(seen.name[0], "ci");
    assert_string_equal(seen.scopes[0], "ingest,read");
    assert_true(seen.created_at[0] == SUITE_T0 && seen.revoked_at[0] == 0);
    assert_int_equal(find_key(f, SUITE_HASH_B, &seen), 1);
    assert_ok(f, f->ops->revoke_api_key(f->db, "acme", "ci", SUITE_T0 + 60));
    assert_int_equal(find_key(f, SUITE_HASH_A, &seen), 1);
}

static void store_test_a_duplicate_key_name_or_hash_is_refused(void **state)
{
    store_fixture *f = *state;
    hydra_api_key_record key = api_key("acme", "ci", SUITE_HASH_A);
    assert_ok(f, put_key(f, &key));
    hydra_api_key_record same_name = api_key("acme", "ci", SUITE_HASH_B);
    assert_refused(f, put_key(f, &same_name));
    hydra_api_key_record same_hash = api_key("globex", "deploy", SUITE_HASH_A);
    assert_refused(f, put_key(f, &same_hash));
    hydra_api_key_record other_tenant = api_key("globex", "ci", SUITE_HASH_B);
    assert_ok(f, put_key(f, &other_tenant));
    keys_seen seen;
    assert_int_equal(find_key(f, SUITE_HASH_A, &seen), 0);
    assert_string_equal(seen.tenant[0], "acme");
}

static void store_test_a_revoked_key_name_can_be_given_to_a_new_key(void **state)
{
    store_fixture *f = *state;
    hydra_api_key_record old_key = api_key("acme", "ci", SUITE_HASH_A);
    assert_ok(f, put_key(f, &old_key));
    assert_ok(f, f->ops->revoke_api_key(f->db, "acme", "ci", SUITE_T0 + 60));
    hydra_api_key_record new_key = api_key("acme", "ci", SUITE_HASH_B);
    assert_ok(f, put_key(f, &new_key));
    keys_seen seen;
    assert_int_equal(find_key(f, SUITE_HASH_B, &seen), 0);
    assert_int_equal(find_key(f, SUITE_HASH_A, &seen), 1);
}

static void store_test_revoking_an_unknown_or_revoked_key_returns_1(void **state)
{
    store_fixture *f = *state;
    assert_int_equal(f->ops->revoke_api_key(f->db, "acme", "nobody", SUITE_T0), 1);
    hydra_api_key_record key = api_key("acme", "ci", SUITE_HASH_A);
    assert_ok(f, put_key(f, &key));
    assert_int_equal(f->ops->revoke_api_key(f->db, "globex", "ci", SUITE_T0), 1); /* not theirs */
    assert_ok(f, f->ops->revoke_api_key(f->db, "acme", "ci", SUITE_T0 + 60));
    assert_int_equal(f->ops->revoke_api_key(f->db, "acme", "ci", SUITE_T0 + 120), 1);
    keys_seen seen = {0};
    assert_ok(f, f->ops->list_api_keys(f->db, "acme", key_collect, &seen));
    assert_true(seen.revoked_at[0] == SUITE_T0 + 60); /* the first revocation stands */
}

static void store_test_api_keys_are_listed_per_tenant_revoked_ones_too(void **state)
{
    store_fixture *f = *state;
    hydra_api_key_record a = api_key("acme", "ci", SUITE_HASH_A), b = api_key("acme", "ops", SUITE_HASH_B),
                         c = api_key("globex", "ci", SUITE_HASH_C);
    assert_ok(f, put_key(f, &a));
    assert_ok(f, put_key(f, &b));
    assert_ok(f, put_key(f, &c));
    assert_ok(f, f->ops->revoke_api_key(f->db, "acme", "ops", SUITE_T0 + 60));
    keys_seen seen = {0};
    assert_ok(f, f->ops->list_api_keys(f->db, "acme", key_collect, &seen));
    assert_int_equal(seen.count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(seen.tenant[i], "acme");
        bool ops = strcmp(seen.name[i], "ops") == 0;
        assert_true(seen.revoked_at[i] == (ops ? SUITE_T0 + 60 : 0));
    }
    memset(&seen, 0, sizeof seen);
    assert_ok(f, f->ops->list_api_keys(f->db, "initech", key_collect, &seen));
    assert_int_equal(seen.count, 0);
}

static void store_test_a_key_hash_that_is_not_a_hex_sha256_is_refused(void **state)
{
    store_fixture *f = *state;
    const char *bad[] = {"hydra_s3cr3t", "", SUITE_HASH_C "0",
                         "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hydra_api_key_record key = api_key("acme", "ci", bad[i]);
        assert_refused(f, put_key(f, &key));
    }
    keys_seen seen = {0};
    assert_ok(f, f->ops->list_api_keys(f->db, "acme", key_collect, &seen));
    assert_int_equal(seen.count, 0);
}

/* ## Audit log, alerts --------------------------------------------------------------------------------------------- */

static void store_test_audit_records_are_appended_and_need_an_actor_and_action(void **state)
{
    store_fixture *f = *state;
    hydra_audit_record full = {"acme", SUITE_T0, "ci", "ingest", "web/rps", "2 samples", "req-1"};
    assert_ok(f, f->ops->append_audit(f->db, &full));
    hydra_audit_record bare = {"acme", SUITE_T0, "controller", "approve", NULL, NULL, NULL};
    assert_ok(f, f->ops->append_audit(f->db, &bare));
    hydra_audit_record no_action = {"acme", SUITE_T0, "ci", NULL, "web", NULL, NULL};
    store_clear_error(f);
    assert_refused(f, f->ops->append_audit(f->db, &no_action));
    hydra_audit_record no_tenant = {NULL, SUITE_T0, "ci", "ingest", NULL, NULL, NULL};
    store_clear_error(f);
    assert_refused(f, f->ops->append_audit(f->db, &no_tenant));
}

typedef struct audit_seen {
    char lines[8][128];
    size_t count;
} audit_seen;

static int audit_collect(void *context, const hydra_audit_record *r)
{
    audit_seen *seen = context;
    if (seen->count < 8)
        snprintf(seen->lines[seen->count++], sizeof seen->lines[0], "%s %s %s %s %s %.0f", r->actor, r->action,
                    r->subject ? r->subject : "-", r->detail ? r->detail : "-", r->request_id ? r->request_id : "-",
                    r->at - SUITE_T0);
    return 0;
}

static void store_test_audit_is_listed_newest_first_per_tenant_up_to_a_limit(void **state)
{
    store_fixture *f = *state;
    hydra_audit_record entries[] = {
        {"acme", SUITE_T0, "alice", "approve", "rec-1", "the surge is real", "req-1"},
        {"acme", SUITE_T0 + 60, "bob", "reject", "rec-2", NULL, NULL},
        {"globex", SUITE_T0 + 30, "mallory", "approve", "rec-9", NULL, NULL},
        {"acme", SUITE_T0 + 120, "carol", "pause", "web", NULL, "req-3"},
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        assert_ok(f, f->ops->append_audit(f->db, &entries[i]));
    audit_seen seen = {0};
    assert_ok(f, f->ops->list_audit(f->db, "acme", 10, audit_collect, &seen));
    assert_int_equal(seen.count, 3);
    assert_string_equal(seen.lines[0], "carol pause web - req-3 120");
    assert_string_equal(seen.lines[1], "bob reject rec-2 - - 60");
    assert_string_equal(seen.lines[2], "alice approve rec-1 the surge is real req-1 0");
    audit_seen two = {0};
    assert_ok(f, f->ops->list_audit(f->db, "acme", 2, audit_collect, &two));
    assert_int_equal(two.count, 2);
    store_clear_error(f);
    assert_refused(f, f->ops->list_audit(f->db, "acme", 0, audit_collect, &two));
}

static void store_test_alerts_are_listed_since_a_time_newest_first_per_tenant(void **state)
{
    store_fixture *f = *state;
    hydra_alert_record alerts[] = {
        {"acme", "a1", "web", "rps", SUITE_T0, 0.5, "first"},
        {"acme", "a2", "web", "rps", SUITE_T0 + 120, 0.9, "third"},
        {"acme", "a3", "api", "latency", SUITE_T0 + 60, 0.7, NULL},
        {"globex", "a4", "web", "rps", SUITE_T0 + 90, 0.8, "theirs"},
    };
    for (size_t i = 0; i < 4; i++)
        assert_ok(f, f->ops->put_alert(f->db, &alerts[i]));
    alerts_seen seen = {0};
    assert_ok(f, f->ops->list_alerts(f->db, "acme", SUITE_T0 + 60, alert_collect, &seen));
    assert_int_equal(seen.count, 2);
    assert_string_equal(seen.id[0], "a2");
    assert_string_equal(seen.message[0], "third");
    assert_true(seen.score[0] == 0.9 && seen.at[0] == SUITE_T0 + 120);
    assert_string_equal(seen.id[1], "a3");
    assert_string_equal(seen.service[1], "api");
    assert_string_equal(seen.metric[1], "latency");
    assert_string_equal(seen.message[1], "(null)");
    memset(&seen, 0, sizeof seen);
    assert_ok(f, f->ops->list_alerts(f->db, "acme", 0, alert_collect, &seen));
    assert_int_equal(seen.count, 3);
}

/* ## Aggregates ----------------------------------------------------------------------------------------------------- */

typedef struct buckets_seen {
    size_t count;
    hydra_sample_bucket bucket[8];
} buckets_seen;

static int bucket_collect(void *context, const hydra_sample_bucket *bucket)
{
    buckets_seen *seen = context;
    if (seen->count < 8)
        seen->bucket[seen->count] = *bucket;
    seen->count++;
    return 0;
}

static buckets_seen *buckets_of(store_fixture *f, const char *tenant, double from, double to, double width)
{
    static buckets_seen seen;
    memset(&seen, 0, sizeof seen);
    store_clear_error(f);
    assert_ok(f, f->ops->aggregate_samples(f->db, tenant, "web", "rps", from, to, width, bucket_collect, &seen));
    return &seen;
}

static void assert_bucket(const hydra_sample_bucket *b, double start, long long count, double mean, double min,
                          double max, double p95)
{
    if (b->start != start || b->count != count || fabs(b->mean - mean) > 1e-9 || b->min != min || b->max != max ||
        b->p95 != p95)
        fail_msg("bucket at %.0f: got count %lld mean %g min %g max %g p95 %g; expected start %.0f count %lld mean %g "
                 "min %g max %g p95 %g",
                 b->start, b->count, b->mean, b->min, b->max, b->p95, start, count, mean, min, max, p95);
}

/* Hour one holds 1..20 out of order, hour two 1..21, hour three one sample on its first second: the p95 is the
 * nearest rank (19 of 20, 20 of 21), bucket edges belong to the later bucket, and `to` is exclusive. */
static void store_test_aggregates_per_hour_and_day_are_computed_by_the_store(void **state)
{
    store_fixture *f = *state;
    hydra_sample samples[44];
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        samples[n++] = sample("web", "rps", i * 60.0, (i * 7) % 20 + 1);
    for (int i = 0; i < 21; i++)
        samples[n++] = sample("web", "rps", 3600 + i * 60.0, 21 - i);
    samples[n++] = sample("web", "rps", 7200, 5);
    samples[n++] = sample("web", "rps", -1, 1000); /* the hour and the day before */
    assert_ok(f, append(f, "acme", samples, n, NULL, NULL, 0));
    hydra_sample theirs = sample("web", "rps", 60, 1e6);
    assert_ok(f, append(f, "globex", &theirs, 1, NULL, NULL, 0));

    buckets_seen *hours = buckets_of(f, "acme", SUITE_T0, SUITE_T0 + 10800, 3600);
    assert_int_equal(hours->count, 3);
    assert_bucket(&hours->bucket[0], SUITE_T0, 20, 10.5, 1, 20, 19);
    assert_bucket(&hours->bucket[1], SUITE_T0 + 3600, 21, 11, 1, 21, 20);
    assert_bucket(&hours->bucket[2], SUITE_T0 + 7200, 1, 5, 5, 5, 5);
    assert_int_equal(buckets_of(f, "acme", SUITE_T0, SUITE_T0 + 7200, 3600)->count, 2);

    buckets_seen *days = buckets_of(f, "acme", SUITE_T0 - 86400, SUITE_T0 + 86400, 86400);
    assert_int_equal(days->count, 2);
    assert_bucket(&days->bucket[0], SUITE_T0 - 86400, 1, 1000, 1000, 1000, 1000);
    assert_bucket(&days->bucket[1], SUITE_T0, 42, (210.0 + 231 + 5) / 42, 1, 21, 20);

    buckets_seen *other = buckets_of(f, "globex", SUITE_T0 - 86400, SUITE_T0 + 86400, 3600);
    assert_int_equal(other->count, 1);
    assert_true(other->bucket[0].max == 1e6);
    assert_int_equal(buckets_of(f, "initech", SUITE_T0 - 86400, SUITE_T0 + 86400, 3600)->count, 0);
    buckets_seen ignored = {0};
    store_clear_error(f);
    assert_refused(f, f->ops->aggregate_samples(f->db, "acme", "web", "rps", SUITE_T0, SUITE_T0 + 1, 0,
                                                bucket_collect, &ignored));
    store_clear_error(f);
    assert_refused(f, f->ops->aggregate_samples(f->db, "", "web", "rps", SUITE_T0, SUITE_T0 + 1, 60, bucket_collect,
                                                &ignored));
}

/* ## Services ------------------------------------------------------------------------------------------------------ */

typedef struct services_seen {
    size_t count;
    char name[8][32], paused_by[8][32];
    int paused[8];
    double paused_at[8];
} services_seen;

static int service_collect(void *context, const hydra_service_record *r)
{
    services_seen *seen = context;
    if (seen->count < 8) {
        text_copy_into(seen->name[seen->count], sizeof seen->name[0], r->name);
        text_copy_into(seen->paused_by[seen->count], sizeof seen->paused_by[0], r->paused_by);
        seen->paused[seen->count] = r->paused;
        seen->paused_at[seen->count] = r->paused_at;
    }
    seen->count++;
    return 0;
}

static services_seen *services_of(store_fixture *f, const char *tenant)
{
    static services_seen seen;
    memset(&seen, 0, sizeof seen);
    assert_ok(f, f->ops->list_services(f->db, tenant, service_collect, &seen));
    return &seen;
}

static void store_test_a_paused_service_stays_paused_until_resumed_and_across_reopening(void **state)
{
    store_fixture *f = *state;
    hydra_sample s = sample("web", "rps", 0, 1);
    assert_ok(f, append(f, "acme", &s, 1, NULL, NULL, 0));
    hydra_service_record pause = {"acme", "api", 1, SUITE_T0 + 30, "alice"};
    assert_ok(f, f->ops->set_service_paused(f->db, &pause));

    store_fixture_reopen(f);
    services_seen *seen = services_of(f, "acme");
    assert_int_equal(seen->count, 2);
    assert_string_equal(seen->name[0], "api"); /* by name */
    assert_int_equal(seen->paused[0], 1);
    assert_true(seen->paused_at[0] == SUITE_T0 + 30);
    assert_string_equal(seen->paused_by[0], "alice");
    assert_string_equal(seen->name[1], "web"); /* made by its first sample, running */
    assert_int_equal(seen->paused[1], 0);
    assert_string_equal(seen->paused_by[1], "(null)");
    assert_int_equal(services_of(f, "globex")->count, 0);

    hydra_service_record resume = {"acme", "api", 0, SUITE_T0 + 90, "bob"};
    assert_ok(f, f->ops->set_service_paused(f->db, &resume));
    seen = services_of(f, "acme");
    assert_int_equal(seen->paused[0], 0);
    assert_true(seen->paused_at[0] == 0);
    assert_string_equal(seen->paused_by[0], "(null)");

    hydra_service_record nameless = {"acme", "", 1, SUITE_T0, "alice"};
    store_clear_error(f);
    assert_refused(f, f->ops->set_service_paused(f->db, &nameless));
    assert_int_equal(services_of(f, "acme")->count, 2);
}

/* ## The model registry ------------------------------------------------------------------------------------------- */

typedef struct models_seen {
    size_t count;
    char model[8][32];
    long long version[8];
    int active[8];
    char state[8][64];
    char note[8][64];
    char metrics[8][64];
    double trained_from[8], trained_to[8], created_at[8];
} models_seen;

static int model_collect(void *context, const hydra_model_record *r)
{
    models_seen *seen = context;
    size_t i = seen->count++;
    if (i < 8) {
        text_copy_into(seen->model[i], sizeof seen->model[0], r->model);
        text_copy_into(seen->state[i], sizeof seen->state[0], r->state);
        text_copy_into(seen->note[i], sizeof seen->note[0], r->note);
        text_copy_into(seen->metrics[i], sizeof seen->metrics[0], r->metrics);
        seen->version[i] = r->version;
        seen->active[i] = r->active;
        seen->trained_from[i] = r->trained_from;
        seen->trained_to[i] = r->trained_to;
        seen->created_at[i] = r->created_at;
    }
    return 0;
}

static hydra_model_record model_version(const char *model, const char *state, int active, const char *note)
{
    return (hydra_model_record){"acme", "api", model, 0, active, state, SUITE_HASH_C, SUITE_T0, SUITE_T0 + 3600,
                                "{\"mase\": 0.5}", SUITE_T0 + 3700, note};
}

static long long put_model(store_fixture *f, const hydra_model_record *r)
{
    long long version = -1;
    store_clear_error(f);
    assert_ok(f, f->ops->put_model_version(f->db, r, &version));
    return version;
}

static models_seen *models_of(store_fixture *f, const char *model)
{
    static models_seen seen;
    memset(&seen, 0, sizeof seen);
    store_clear_error(f);
    assert_ok(f, f->ops->list_model_versions(f->db, "acme", "api", model, model_collect, &seen));
    return &seen;
}

static int get_model(store_fixture *f, long long version, models_seen *seen)
{
    memset(seen, 0, sizeof *seen);
    store_clear_error(f);
    return f->ops->get_model_version(f->db, "acme", "api", "hw", version, model_collect, seen);
}

static void store_test_model_versions_are_numbered_per_model_with_one_active(void **state)
{
    store_fixture *f = *state;
    models_seen got;
    assert_int_equal(get_model(f, 0, &got), 1); /* nothing active yet */
    hydra_model_record first = model_version("hw", "state one", 1, "first fit");
    assert_int_equal(put_model(f, &first), 1);
    hydra_model_record refused = model_version("hw", "state two", 0, "refused: worse on the holdout");
    assert_int_equal(put_model(f, &refused), 2);
    hydra_model_record other = model_version("calendar", "cal", 1, NULL);
    assert_int_equal(put_model(f, &other), 1); /* numbered per model */

    assert_int_equal(get_model(f, 0, &got), 0);
    assert_int_equal(got.version[0], 1);
    assert_string_equal(got.state[0], "state one");
    assert_string_equal(got.metrics[0], "{\"mase\": 0.5}");
    assert_true(got.trained_from[0] == SUITE_T0 && got.trained_to[0] == SUITE_T0 + 3600);
    assert_true(got.created_at[0] == SUITE_T0 + 3700);
    assert_int_equal(get_model(f, 2, &got), 0);
    assert_string_equal(got.note[0], "refused: worse on the holdout");
    assert_int_equal(got.active[0], 0);
    assert_int_equal(get_model(f, 9, &got), 1);

    hydra_model_record promoted = model_version("hw", "state three", 1, "promoted");
    assert_int_equal(put_model(f, &promoted), 3);
    models_seen *all = models_of(f, "hw");
    assert_int_equal(all->count, 3);
    assert_int_equal(all->version[0], 3); /* newest first */
    assert_int_equal(all->active[0] + all->active[1] + all->active[2], 1);
    assert_int_equal(all->active[0], 1);
    assert_int_equal(models_of(f, NULL)->count, 4);
    assert_string_equal(models_of(f, NULL)->model[0], "calendar"); /* by model */

    store_clear_error(f);
    assert_int_equal(f->ops->activate_model_version(f->db, "acme", "api", "hw", 1), 0); /* a rollback */
    assert_int_equal(get_model(f, 0, &got), 0);
    assert_int_equal(got.version[0], 1);
    assert_int_equal(f->ops->activate_model_version(f->db, "acme", "api", "hw", 7), 1);
    assert_int_equal(get_model(f, 0, &got), 0);
    assert_int_equal(got.version[0], 1); /* an unknown version leaves the active one */

    store_fixture_reopen(f);
    assert_int_equal(models_of(f, "hw")->count, 3);
    memset(&got, 0, sizeof got);
    store_clear_error(f);
    assert_int_equal(f->ops->get_model_version(f->db, "globex", "api", "hw", 0, model_collect, &got), 1);
}

static void store_test_a_model_version_without_state_or_checksum_is_refused(void **state)
{
    store_fixture *f = *state;
    long long version = -1;
    hydra_model_record stateless = model_version("hw", NULL, 1, NULL);
    store_clear_error(f);
    assert_refused(f, f->ops->put_model_version(f->db, &stateless, &version));
    hydra_model_record unsummed = model_version("hw", "state", 1, NULL);
    unsummed.checksum = "abc";
    store_clear_error(f);
    assert_refused(f, f->ops->put_model_version(f->db, &unsummed, &version));
    hydra_model_record backwards = model_version("hw", "state", 1, NULL);
    backwards.trained_to = backwards.trained_from - 1;
    store_clear_error(f);
    assert_refused(f, f->ops->put_model_version(f->db, &backwards, &version));
    assert_int_equal(models_of(f, NULL)->count, 0);
}

/* ## The list a test binary runs ---------------------------------------------------------------------------------- */

/* ## Export, backup and restore ----------------------------------------------------------------------------------- */

/* What an export handed over: how many samples, whether each came after the one before in (service, metric, ts)
 * order, the first few as text. */
typedef struct export_seen {
    size_t count;
    bool ordered;
    char last_service[64], last_metric[64];
    double last_ts;
    char first[8][96];
    size_t stop_after; /* 0: never stop */
} export_seen;

static int export_collect(void *context, const hydra_sample *sample)
{
    export_seen *seen = context;
    int by_service = strcmp(sample->service, seen->last_service), by_metric = strcmp(sample->metric, seen->last_metric);
    if (seen->count > 0 && (by_service < 0 || (by_service == 0 && (by_metric < 0 || (by_metric == 0 &&
                                                                                        sample->ts < seen->last_ts)))))
        seen->ordered = false;
    snprintf(seen->last_service, sizeof seen->last_service, "%s", sample->service);
    snprintf(seen->last_metric, sizeof seen->last_metric, "%s", sample->metric);
    seen->last_ts = sample->ts;
    if (seen->count < 8)
        snprintf(seen->first[seen->count], sizeof seen->first[0], "%s %s %.6f %g", sample->service, sample->metric,
                 sample->ts - SUITE_T0, sample->value);
    seen->count++;
    return seen->stop_after && seen->count >= seen->stop_after;
}

static export_seen *export_all(store_fixture *f, const char *tenant, double since, size_t stop_after)
{
    static export_seen seen;
    memset(&seen, 0, sizeof seen);
    seen.ordered = true;
    seen.stop_after = stop_after;
    store_clear_error(f);
    assert_ok(f, f->ops->export_samples(f->db, tenant, since, export_collect, &seen));
    return &seen;
}

static void store_test_export_gives_a_tenants_samples_since_a_time_in_series_order(void **state)
{
    store_fixture *f = *state;
    hydra_sample samples[] = {sample("web", "rps", 20, 5),      sample("api", "rps", 10, 1),
                              sample("api", "latency", 30, 0.25), sample("api", "rps", 0, 7),
                              sample("api", "rps", 40, 2.5),     sample("web", "rps", -100, 9)};
    assert_ok(f, append(f, "acme", samples, 6, NULL, NULL, 0));
    hydra_sample other = sample("api", "rps", 15, 99);
    assert_ok(f, append(f, "globex", &other, 1, NULL, NULL, 0));
    export_seen *seen = export_all(f, "acme", SUITE_T0, 0);
    assert_int_equal(seen->count, 5); /* web at -100 is before since; globex's is not acme's */
    assert_true(seen->ordered);
    assert_string_equal(seen->first[0], "api latency 30.000000 0.25");
    assert_string_equal(seen->first[1], "api rps 0.000000 7");
    assert_string_equal(seen->first[2], "api rps 10.000000 1");
    assert_string_equal(seen->first[3], "api rps 40.000000 2.5");
    assert_string_equal(seen->first[4], "web rps 20.000000 5");
    assert_int_equal(export_all(f, "acme", SUITE_T0, 2)->count, 2); /* a visitor may stop the walk */
    assert_int_equal(export_all(f, "nobody", 0, 0)->count, 0);
}

/* More rows than a store may hand over in one piece: none lost, none twice, order kept across the pieces. */
static void store_test_export_of_many_samples_loses_none(void **state)
{
    store_fixture *f = *state;
    enum { MANY = 25000 };
    hydra_sample *many = calloc(MANY, sizeof *many);
    for (size_t i = 0; i < MANY; i++)
        many[i] = sample(i % 2 ? "api" : "web", "rps", (double)(i / 2) * 0.5, (double)i);
    assert_ok(f, append(f, "acme", many, MANY, NULL, NULL, 0));
    free(many);
    export_seen *seen = export_all(f, "acme", 0, 0);
    assert_int_equal(seen->count, MANY);
    assert_true(seen->ordered);
}

static void store_test_backup_then_restore_brings_back_that_moment(void **state)
{
    store_fixture *f = *state;
    if (!f->ops->backup)
        fail_msg("store %s has no backup op", f->name);
    hydra_sample before[] = {sample("api", "rps", 0, 1), sample("api", "rps", 60, 2)};
    assert_ok(f, append(f, "acme", before, 2, "batch-1", "{\"accepted\":2}", 16));
    hydra_api_key_record key = api_key("acme", "alice", SUITE_HASH_A);
    assert_ok(f, put_key(f, &key));
    char path[64];
    snprintf(path, sizeof path, "/tmp/hydra-backup-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    store_clear_error(f);
    assert_ok(f, f->ops->backup(f->db, path));
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(info.st_mode & 077, 0); /* the owner's only: it holds everything */

    hydra_sample after = sample("api", "rps", 120, 3);
    assert_ok(f, append(f, "acme", &after, 1, NULL, NULL, 0));
    assert_ok(f, f->ops->revoke_api_key(f->db, "acme", "alice", SUITE_T0 + 1));
    store_clear_error(f);
    assert_ok(f, f->ops->restore(f->db, path));
    store_fixture_migrate(f);
    export_seen *seen = export_all(f, "acme", 0, 0);
    assert_int_equal(seen->count, 2);
    assert_string_equal(seen->first[1], "api rps 60.000000 2");
    keys_seen keys;
    assert_int_equal(find_key(f, SUITE_HASH_A, &keys), 0); /* valid again, as it was then */
    char replay[64] = "";
    assert_int_equal(append(f, "acme", before, 2, "batch-1", replay, sizeof replay), 1); /* the key came back too */
    /* and the store goes on working after it */
    assert_ok(f, append(f, "acme", &after, 1, NULL, NULL, 0));
    assert_int_equal(export_all(f, "acme", 0, 0)->count, 3);
    unlink(path);
}

static void store_test_restore_refuses_a_file_that_is_not_a_backup_and_changes_nothing(void **state)
{
    store_fixture *f = *state;
    hydra_sample kept = sample("api", "rps", 0, 1);
    assert_ok(f, append(f, "acme", &kept, 1, NULL, NULL, 0));
    const char *junk = support_write_temp("this is not a database backup\n");
    store_clear_error(f);
    assert_refused(f, f->ops->restore(f->db, junk));
    assert_contains(store_error(f), junk);
    store_clear_error(f);
    assert_int_equal(f->ops->restore(f->db, "/nonexistent/hydra.backup"), -1);
    assert_int_equal(export_all(f, "acme", 0, 0)->count, 1);
    unlink(junk);
}

/* ## Leadership -------------------------------------------------------------------------------------------------- */

/* A second instance on the same database, as a second replica opens it. */
static store_fixture *store_fixture_twin(const store_fixture *f)
{
    store_fixture *twin = calloc(1, sizeof *twin);
    assert_non_null(twin);
    snprintf(twin->name, sizeof twin->name, "%s", f->name);
    snprintf(twin->settings, sizeof twin->settings, "%s", f->settings);
    if (store_fixture_open(twin) != 0)
        fail_msg("a second instance of store %s: %s", f->name, twin->plugin.error);
    return twin;
}

static int leader_hold(store_fixture *f, const char *name)
{
    store_clear_error(f);
    return f->ops->leader_hold(f->db, name);
}

static void store_test_of_two_instances_one_holds_the_leader_lock_until_it_releases_it(void **state)
{
    store_fixture *f = *state;
    store_fixture *twin = store_fixture_twin(f);
    assert_int_equal(leader_hold(f, "tenant acme"), 0);
    assert_int_equal(leader_hold(twin, "tenant acme"), 1);
    assert_int_equal(leader_hold(f, "tenant acme"), 0); /* asked again: still held, nothing changes */
    assert_int_equal(leader_hold(twin, "tenant acme"), 1);
    assert_int_equal(leader_hold(twin, "tenant other"), 0); /* another name is another lock */
    assert_ok(twin, twin->ops->leader_release(twin->db, "tenant other"));
    assert_refused(f, leader_hold(f, "tenant other")); /* one lock per instance */
    assert_ok(f, f->ops->leader_release(f->db, "tenant acme"));
    assert_ok(f, f->ops->leader_release(f->db, "tenant acme")); /* releasing what is not held is no error */
    assert_int_equal(leader_hold(twin, "tenant acme"), 0);
    assert_int_equal(leader_hold(f, "tenant acme"), 1);
    assert_refused(f, leader_hold(f, ""));
    store_fixture_close(twin);
    free(twin);
}

/* The lock goes with its holder: a follower takes over once the leader's instance is gone, without a release. */
static void store_test_the_leader_lock_is_free_once_its_holder_is_destroyed(void **state)
{
    store_fixture *f = *state;
    store_fixture *twin = store_fixture_twin(f);
    assert_int_equal(leader_hold(twin, "tenant acme"), 0);
    assert_int_equal(leader_hold(f, "tenant acme"), 1);
    store_fixture_close(twin);
    free(twin);
    int held = 1;
    for (int i = 0; i < 50 && held == 1; i++) { /* the server ends the session right after the socket closes */
        held = leader_hold(f, "tenant acme");
        if (held == 1)
            usleep(20 * 1000);
    }
    assert_int_equal(held, 0);
}

#define STORE_SUITE_TEST(name, setup, teardown) cmocka_unit_test_setup_teardown(name, setup, teardown)

#define STORE_SUITE_TESTS(setup, teardown)                                                                         \
    STORE_SUITE_TEST(store_test_migrate_again_applies_nothing_and_keeps_data, setup, teardown),                    \
    STORE_SUITE_TEST(store_test_reopening_keeps_every_kind_of_data, setup, teardown),                              \
    STORE_SUITE_TEST(store_test_health_answers, setup, teardown),                                                  \
    STORE_SUITE_TEST(store_test_samples_come_back_in_time_order_from_inclusive_to_exclusive, setup, teardown),      \
    STORE_SUITE_TEST(store_test_samples_of_another_tenant_are_invisible, setup, teardown),                         \
    STORE_SUITE_TEST(store_test_a_batch_with_one_bad_sample_writes_nothing, setup, teardown),                      \
    STORE_SUITE_TEST(store_test_idempotent_replay_returns_1_with_the_first_response_and_writes_nothing, setup,     \
                     teardown),                                                                                    \
    STORE_SUITE_TEST(store_test_idempotency_keys_belong_to_their_tenant, setup, teardown),                         \
    STORE_SUITE_TEST(store_test_a_refused_batch_does_not_use_up_its_idempotency_key, setup, teardown),             \
    STORE_SUITE_TEST(store_test_appends_without_a_key_always_append, setup, teardown),                             \
    STORE_SUITE_TEST(store_test_a_visitor_that_returns_nonzero_stops_the_walk, setup, teardown),                   \
    STORE_SUITE_TEST(store_test_concurrent_appends_from_four_threads_lose_nothing, setup, teardown),               \
    STORE_SUITE_TEST(store_test_a_recommendation_comes_back_as_saved_with_its_creation_event, setup, teardown),    \
    STORE_SUITE_TEST(store_test_text_with_quotes_and_sql_comes_back_unchanged, setup, teardown),                    \
    STORE_SUITE_TEST(store_test_the_second_of_two_racing_approvals_gets_1_and_writes_nothing, setup, teardown),    \
    STORE_SUITE_TEST(store_test_of_eight_threads_approving_at_once_exactly_one_wins, setup, teardown),             \
    STORE_SUITE_TEST(store_test_expected_state_on_a_missing_recommendation_returns_1, setup, teardown),            \
    STORE_SUITE_TEST(store_test_an_unknown_state_is_refused_and_nothing_written, setup, teardown),                 \
    STORE_SUITE_TEST(store_test_saving_without_expected_state_updates_and_appends_events_oldest_first, setup,      \
                     teardown),                                                                                    \
    STORE_SUITE_TEST(store_test_recommendations_list_newest_first_with_state_filter_and_limit, setup, teardown),   \
    STORE_SUITE_TEST(store_test_recommendations_of_another_tenant_are_invisible, setup, teardown),                 \
    STORE_SUITE_TEST(store_test_get_of_a_missing_recommendation_returns_1, setup, teardown),                       \
    STORE_SUITE_TEST(store_test_an_api_key_is_found_by_hash_until_revoked, setup, teardown),                       \
    STORE_SUITE_TEST(store_test_a_duplicate_key_name_or_hash_is_refused, setup, teardown),                         \
    STORE_SUITE_TEST(store_test_a_revoked_key_name_can_be_given_to_a_new_key, setup, teardown),                    \
    STORE_SUITE_TEST(store_test_revoking_an_unknown_or_revoked_key_returns_1, setup, teardown),                    \
    STORE_SUITE_TEST(store_test_api_keys_are_listed_per_tenant_revoked_ones_too, setup, teardown),                 \
    STORE_SUITE_TEST(store_test_a_key_hash_that_is_not_a_hex_sha256_is_refused, setup, teardown),                  \
    STORE_SUITE_TEST(store_test_audit_records_are_appended_and_need_an_actor_and_action, setup, teardown),         \
    STORE_SUITE_TEST(store_test_audit_is_listed_newest_first_per_tenant_up_to_a_limit, setup, teardown),           \
    STORE_SUITE_TEST(store_test_alerts_are_listed_since_a_time_newest_first_per_tenant, setup, teardown),         \
    STORE_SUITE_TEST(store_test_export_gives_a_tenants_samples_since_a_time_in_series_order, setup, teardown),     \
    STORE_SUITE_TEST(store_test_export_of_many_samples_loses_none, setup, teardown),                               \
    STORE_SUITE_TEST(store_test_backup_then_restore_brings_back_that_moment, setup, teardown),                     \
    STORE_SUITE_TEST(store_test_restore_refuses_a_file_that_is_not_a_backup_and_changes_nothing, setup, teardown),    \
    STORE_SUITE_TEST(store_test_aggregates_per_hour_and_day_are_computed_by_the_store, setup, teardown),           \
    STORE_SUITE_TEST(store_test_a_paused_service_stays_paused_until_resumed_and_across_reopening, setup, teardown), \
    STORE_SUITE_TEST(store_test_of_two_instances_one_holds_the_leader_lock_until_it_releases_it, setup, teardown), \
    STORE_SUITE_TEST(store_test_the_leader_lock_is_free_once_its_holder_is_destroyed, setup, teardown),           \
    STORE_SUITE_TEST(store_test_model_versions_are_numbered_per_model_with_one_active, setup, teardown),           \
    STORE_SUITE_TEST(store_test_a_model_version_without_state_or_checksum_is_refused, setup, teardown)

#endif
