/* A slow Kubernetes API does not stall hydra serve. The fake answers the scale PUT only after a delay: while that
 * action is under way the API answers at once, another target (its own scaler) ticks and executes, and the action
 * ends executed, exactly once. A SIGTERM during an action waits for it: it is recorded before the daemon exits, and
 * nothing is sent again at the next start. */
#include "kube_harness.h"
#include "servers.h"
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

#define SCALE_PATH "/deployments/donations-api/scale"
/* Well over the 5 s an approval waits for its outcome, well under the scaler's deadline. */
#define SCALE_DELAY_SECONDS 10.0
/* What an answer may take while the action is under way: a small fraction of the delay. */
#define FAST_SECONDS 1.5

static kube_fake fake;
static daemon_run run;

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

static int setup(void **state)
{
    (void)state;
    char cwd[1024];
    if (kube_fake_start(&fake) != 0 || !getcwd(cwd, sizeof cwd) ||
        kube_fake_add_workload(&fake, "Deployment", "shop", "donations-api", 4, NULL) != 0)
        return -1;
    const char *kubeconfig = kube_fake_kubeconfig(&fake, "hydra", KUBE_AUTH_TOKEN, NULL);
    char *config = xasprintf(
        "store = { name = \"sqlite\"; settings = { path = \"hydra.db\"; }; };\n"
        "tick = \"2s\";\n"
        "policy = \"%s/scripts/policies/default.lua\";\n"
        "approval = { timeout = \"30m\"; expected_latency = \"10m\"; };\n"
        "plugins = (\n"
        "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = 1440; }; },\n"
        "  { kind = \"scaler\"; name = \"log\"; settings = { initial_replicas = 4; }; },\n"
        "  { kind = \"scaler\"; name = \"kubernetes\";\n"
        "    settings = { kubeconfig = \"%s\"; workloads = \"donations-api=deployment/shop/donations-api\";\n"
        "                 timeout = 20.0; deadline = 25.0; backoff = 0.1; }; }\n"
        ");\n"
        "targets = (\n"
        "  { name = \"donations-api\"; forecaster = \"seasonal_naive\"; scaler = \"kubernetes\"; min_replicas = 2;\n"
        "    max_replicas = 60; max_step = 20; capacity_per_replica = 100.0; cold_start = \"90s\"; headroom = 0.3;\n"
        "    tolerance = 0.1; stabilization = \"10m\"; },\n"
        "  { name = \"checkout\"; forecaster = \"seasonal_naive\"; scaler = \"log\"; min_replicas = 2;\n"
        "    max_replicas = 60; max_step = 20; capacity_per_replica = 100.0; cold_start = \"90s\"; headroom = 0.3;\n"
        "    tolerance = 0.1; stabilization = \"10m\"; }\n"
        ");\n",
        cwd, kubeconfig);
    int status = daemon_prepare_config(&run, config) == 0 && daemon_start(&run) == 0 ? 0 : -1;
    free(config);
    return status;
}

static int teardown(void **state)
{
    (void)state;
    daemon_cleanup(&run);
    kube_fake_stop(&fake);
    return 0;
}

/* hydra_ticks_total now: the loop's ticks. */
static double ticks_so_far(void)
{
    char *metrics = daemon_text(&run, "/metrics", run.reader_key);
    assert_non_null(metrics);
    const char *line = strstr(metrics, "hydra_ticks_total{instance=\"core\"} ");
    double ticks = line ? strtod(strchr(line, '}') + 2, NULL) : -1;
    free(metrics);
    return ticks;
}

static void slow_down_the_next_scale(void)
{
    char *rule = xasprintf("{\"method\":\"PUT\",\"path\":\"%s\",\"delay\":%g,\"count\":1}", SCALE_PATH,
                           SCALE_DELAY_SECONDS);
    assert_int_equal(kube_fake_fault(&fake, rule), 0);
    free(rule);
}

/* GET path, asserting 200 within FAST_SECONDS; the answer's JSON (the caller's). */
static json_t *get_fast(const char *path)
{
    double began = seconds_now();
    reply r = daemon_call(&run, "GET", path, run.reader_key, NULL, NULL);
    double took = seconds_now() - began;
    print_message("GET %s answered %d in %.3f s while the scale is under way\n", path, r.status, took);
    assert_int_equal(r.status, 200);
    assert_true(took < FAST_SECONDS);
    return r.json;
}

static const char *state_of(const char *id)
{
    static char state[32];
    json_t *rec = daemon_recommendation(&run, id);
    format_into(state, sizeof state, "%s", rec ? json_string_value(json_object_get(rec, "state")) : "?");
    json_decref(rec);
    return state;
}

static bool wait_for_state(const char *id, const char *state, double seconds)
{
    for (double end = seconds_now() + seconds; seconds_now() < end; usleep(100 * 1000))
        if (strcmp(state_of(id), state) == 0)
            return true;
    return strcmp(state_of(id), state) == 0;
}

/* The states the recommendation went through, in order, space-separated (static). */
static const char *history_of(const char *id)
{
    static char history[256];
    json_t *rec = daemon_recommendation(&run, id);
    history[0] = '\0';
    size_t i;
    json_t *event;
    json_array_foreach(json_object_get(rec, "events"), i, event) {
        size_t used = strlen(history);
        format_into(history + used, sizeof history - used, "%s%s", used ? " " : "",
                    json_string_value(json_object_get(event, "to")));
    }
    json_decref(rec);
    return history;
}

static reply approve(const char *id, double *took)
{
    char *path = xasprintf("/api/v1/recommendations/%s/approve", id);
    double began = seconds_now();
    reply r = daemon_call(&run, "POST", path, run.admin_key, "{\"reason\":\"the surge is real\"}", NULL);
    *took = seconds_now() - began;
    free(path);
    return r;
}

static void ingest(const char *service, double value)
{
    char *body = xasprintf("[{\"service\":\"%s\",\"ts\":%.0f,\"value\":%g}]", service, (double)time(NULL), value);
    double began = seconds_now();
    reply r = daemon_call(&run, "POST", "/api/v1/ingest/metrics", run.admin_key, body, NULL);
    double took = seconds_now() - began;
    free(body);
    print_message("ingest for %s answered %d in %.3f s\n", service, r.status, took);
    assert_int_equal(r.status, 200);
    assert_true(took < FAST_SECONDS);
    json_decref(r.json);
}

/* The newest recommendation for service: its id and state, or false when it has none. */
static bool newest_for(const char *service, char *id, size_t id_size, char *state, size_t state_size)
{
    json_t *list = get_fast("/api/v1/recommendations");
    json_t *rec;
    size_t i;
    bool found = false;
    json_array_foreach(json_object_get(list, "recommendations"), i, rec) {
        if (strcmp(json_string_value(json_object_get(rec, "target")), service) != 0)
            continue;
        format_into(id, id_size, "%s", json_string_value(json_object_get(rec, "id")));
        format_into(state, state_size, "%s", json_string_value(json_object_get(rec, "state")));
        found = true;
        break;
    }
    json_decref(list);
    return found;
}

static void test_daemon_answers_and_other_targets_act_while_a_scale_is_slow(void **state)
{
    (void)state;
    char id[64];
    assert_int_equal(daemon_surge_to_pending(&run, 5000, 0, id, sizeof id), 0);
    slow_down_the_next_scale();
    double began = seconds_now(), took;
    reply r = approve(id, &took);
    /* The approval is recorded and the action begun; the answer does not wait for the scaler's whole call. */
    print_message("approve answered %d (%s) in %.3f s\n", r.status, json_string_value(json_object_get(r.json, "state")),
                  took);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executing");
    assert_true(took < SCALE_DELAY_SECONDS - 3);
    json_decref(r.json);
    double ticks = ticks_so_far();

    json_decref(get_fast("/api/v1/health"));
    json_decref(get_fast("/api/v1/health/leader"));
    json_t *services = get_fast("/api/v1/services");
    assert_int_equal(json_array_size(json_object_get(services, "services")), 2);
    json_decref(services);
    char *metrics = daemon_text(&run, "/metrics", run.reader_key);
    assert_non_null(metrics);
    assert_contains(metrics, "hydra_scaler_actions_in_flight{instance=\"core\"} 1\n");
    free(metrics);
    char other[64], other_state[32];
    assert_false(newest_for("checkout", other, sizeof other, other_state, sizeof other_state));

    /* checkout has a scaler of its own: a small scale-up the policy lets through is executed at once. */
    ingest("checkout", 450);
    bool executed = false;
    for (int i = 0; i < 20 && !executed; i++, usleep(100 * 1000))
        executed = newest_for("checkout", other, sizeof other, other_state, sizeof other_state) &&
                   strcmp(other_state, "executed") == 0;
    assert_true(executed);
    /* the loop ticks on (every 2 s): it does not wait for a scaler that is busy */
    while (seconds_now() - began < SCALE_DELAY_SECONDS - 2.5 && ticks_so_far() < ticks + 1)
        usleep(100 * 1000);
    print_message("ticks during the scale: %.0f\n", ticks_so_far() - ticks);
    assert_true(ticks_so_far() >= ticks + 1);
    assert_string_equal(state_of(id), "executing"); /* donations-api's scale is still under way */
    assert_true(seconds_now() - began < SCALE_DELAY_SECONDS);

    assert_true(wait_for_state(id, "executed", SCALE_DELAY_SECONDS + 10));
    assert_string_equal(history_of(id), "pending approved executing executed");
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "donations-api"), 24);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", SCALE_PATH), 1);
    metrics = daemon_text(&run, "/metrics", run.reader_key);
    assert_contains(metrics, "hydra_scaler_actions_in_flight{instance=\"core\"} 0\n");
    free(metrics);
    char *log = support_read_file(run.log);
    assert_non_null(log);
    assert_contains(log, "would scale checkout from 4 to 6");
    free(log);
}

/* SIGTERM while the scaler works: the daemon waits for the answer, records it, and exits 0; started again, it has
 * nothing left to send. */
static void test_daemon_stop_waits_for_the_action_under_way(void **state)
{
    (void)state;
    char id[64];
    assert_int_equal(daemon_surge_to_pending(&run, 9000, 60, id, sizeof id), 0);
    int puts_before = kube_fake_count_requests(&fake, "PUT", SCALE_PATH);
    slow_down_the_next_scale();
    double took;
    reply r = approve(id, &took);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executing");
    json_decref(r.json);

    double began = seconds_now();
    int status = daemon_stop(&run, SIGTERM);
    double stopping = seconds_now() - began;
    print_message("SIGTERM during the scale: the daemon exited after %.2f s\n", stopping);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(stopping > 1.0); /* it waited for the scaler */
    char *log = support_read_file(run.log);
    assert_non_null(log);
    assert_contains(log, "waiting for 1 scaler action under way");
    free(log);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", SCALE_PATH), puts_before + 1);

    assert_int_equal(daemon_start(&run), 0);
    assert_string_equal(state_of(id), "executed");
    /* its sample was 60 s ahead: the creation is listed by that time, after the others */
    assert_string_equal(history_of(id), "approved executing executed pending");
    usleep(500 * 1000);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", SCALE_PATH), puts_before + 1);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "donations-api"), 44);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_answers_and_other_targets_act_while_a_scale_is_slow),
        cmocka_unit_test(test_daemon_stop_waits_for_the_action_under_way),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
