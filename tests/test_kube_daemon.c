/* End to end on the fake Kubernetes API server: the real daemon (hydra serve) runs the kubernetes scaler against it.
 * A surge ingested over HTTP becomes a pending recommendation; approving it through the API scales the Deployment,
 * ends the recommendation `executed` and leaves an Event. A workload paused with hydra.io/paused holds an approved
 * recommendation until the annotation goes; an API that keeps failing ends it `failed` with the API's words. */
#include "kube_harness.h"
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static kube_fake fake;
static daemon_run run;

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
        "policy = \"%s/scripts/policies/default.lua\";\n"
        "approval = { timeout = \"30m\"; expected_latency = \"10m\"; };\n"
        "plugins = (\n"
        "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = 1440; }; },\n"
        "  { kind = \"scaler\"; name = \"kubernetes\";\n"
        "    settings = { kubeconfig = \"%s\"; workloads = \"donations-api=deployment/shop/donations-api\";\n"
        "                 deadline = 2.0; backoff = 0.1; }; }\n"
        ");\n"
        "targets = ( { name = \"donations-api\"; metric = \"requests_per_second\"; forecaster = \"seasonal_naive\";\n"
        "  scaler = \"kubernetes\"; min_replicas = 2; max_replicas = 60; max_step = 20; capacity_per_replica = 100.0;\n"
        "  cold_start = \"90s\"; headroom = 0.3; tolerance = 0.1; stabilization = \"10m\"; } );\n",
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

static reply approve(const char *id, const char *why)
{
    char *path = xasprintf("/api/v1/recommendations/%s/approve", id);
    char *body = xasprintf("{\"reason\":\"%s\"}", why);
    reply r = daemon_call(&run, "POST", path, run.admin_key, body, NULL);
    free(path);
    free(body);
    return r;
}

static json_t *recommendation_of(const char *id)
{
    json_t *rec = daemon_recommendation(&run, id);
    assert_non_null(rec);
    return rec;
}

/* Actions run on the daemon's worker, off its lock: what a tick sent is recorded moments later. */
static json_t *recommendation_once(const char *id, const char *state, double seconds)
{
    json_t *rec = recommendation_of(id);
    for (double waited = 0; waited < seconds; waited += 0.1) {
        if (strcmp(json_string_value(json_object_get(rec, "state")), state) == 0)
            break;
        json_decref(rec);
        usleep(100 * 1000);
        rec = recommendation_of(id);
    }
    return rec;
}

static json_t *event_with(const char *reason, const char *id)
{
    json_t *events = kube_fake_events(&fake, "shop"), *found = NULL, *event;
    size_t index;
    json_array_foreach(events, index, event) {
        const char *message = json_string_value(json_object_get(event, "message"));
        const char *why = json_string_value(json_object_get(event, "reason"));
        if (why && strcmp(why, reason) == 0 && message && strstr(message, id))
            found = json_incref(event);
    }
    json_decref(events);
    return found;
}

static void patch_annotation(const char *value)
{
    char *body = xasprintf("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"namespace\":\"shop\",\"name\":"
                           "\"donations-api\",\"patch\":{\"metadata\":{\"annotations\":{\"hydra.io/paused\":%s}}}}",
                           value);
    long status = 0;
    json_decref(kube_fake_call(&fake, "POST", "/fake/patch", body, &status));
    free(body);
    assert_int_equal(status, 200);
}

static void test_daemon_approval_scales_the_deployment_and_posts_an_event(void **state)
{
    (void)state;
    char id[64];
    assert_int_equal(daemon_surge_to_pending(&run, 5000, 0, id, sizeof id), 0);
    json_t *rec = recommendation_of(id);
    assert_string_equal(json_string_value(json_object_get(rec, "state")), "pending");
    assert_int_equal(json_integer_value(json_object_get(rec, "from_replicas")), 4); /* read from the Deployment */
    assert_int_equal(json_integer_value(json_object_get(rec, "to_replicas")), 24);
    json_decref(rec);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "donations-api"), 4);

    reply r = approve(id, "the surge is real");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executed");
    json_decref(r.json);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "donations-api"), 24);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", "/deployments/donations-api/scale"), 1);
    rec = recommendation_of(id);
    assert_contains(json_string_value(json_object_get(rec, "result")), "target reports 24 desired, 24 ready");
    json_decref(rec);
    json_t *event = event_with("SuccessfulRescale", id);
    assert_non_null(event);
    assert_contains(json_string_value(json_object_get(event, "message")), "New size: 24 (was 4)");
    assert_contains(json_string_value(json_object_get(event, "message")), "approved by alice");
    json_decref(event);
}

/* hydra.io/paused: the approval is recorded, nothing is sent; once the annotation is gone, the next tick sends it. */
static void test_daemon_holds_an_approval_while_the_workload_is_paused(void **state)
{
    (void)state;
    char id[64];
    assert_int_equal(daemon_surge_to_pending(&run, 9000, 60, id, sizeof id), 0);
    patch_annotation("\"true\"");
    reply r = approve(id, "go ahead");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "approved");
    json_decref(r.json);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "donations-api"), 24);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", "/deployments/donations-api/scale"), 1);

    patch_annotation("null");
    char *body = xasprintf("[{\"service\":\"donations-api\",\"ts\":%.0f,\"value\":9000}]", (double)time(NULL) + 120);
    reply ingest = daemon_call(&run, "POST", "/api/v1/ingest/metrics", run.admin_key, body, NULL);
    free(body);
    assert_int_equal(ingest.status, 200);
    json_decref(ingest.json);
    json_t *rec = recommendation_once(id, "executed", 10);
    assert_string_equal(json_string_value(json_object_get(rec, "state")), "executed");
    assert_int_equal(json_integer_value(json_object_get(rec, "to_replicas")), 44);
    json_decref(rec);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "donations-api"), 44);
}

static void test_daemon_records_the_api_reason_when_scaling_fails(void **state)
{
    (void)state;
    char id[64];
    assert_int_equal(daemon_surge_to_pending(&run, 20000, 180, id, sizeof id), 0);
    assert_int_equal(kube_fake_fault(&fake, "{\"method\":\"PUT\",\"path\":\"/deployments/donations-api/scale\","
                                            "\"status\":503,\"count\":1000,\"message\":\"the apiserver is shutting "
                                            "down\"}"),
                     0);
    reply r = approve(id, "yes");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "failed");
    json_decref(r.json);
    kube_fake_clear_faults(&fake);
    json_t *rec = recommendation_of(id);
    const char *result = json_string_value(json_object_get(rec, "result"));
    assert_contains(result, "within the deadline of 2 s");
    assert_contains(result, "HTTP 503 ServiceUnavailable: the apiserver is shutting down");
    json_decref(rec);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "donations-api"), 44);
    json_t *event = event_with("FailedRescale", id);
    assert_non_null(event);
    assert_string_equal(json_string_value(json_object_get(event, "type")), "Warning");
    json_decref(event);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_approval_scales_the_deployment_and_posts_an_event),
        cmocka_unit_test(test_daemon_holds_an_approval_while_the_workload_is_paused),
        cmocka_unit_test(test_daemon_records_the_api_reason_when_scaling_fails),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
