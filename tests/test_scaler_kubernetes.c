/* The kubernetes scaler against the fake API server (tests/kube_fake.py over TLS, the one the real kubectl is
 * proven against in test_kube_kubectl): reading the scale, scaling with the resourceVersion read, a 409 race read
 * again and decided again, 429 and 500 retried to a deadline, the paused annotation, StatefulSets, Events, token,
 * client-certificate and in-cluster credentials, and clear errors for refused credentials and bad configuration. */
#include "kube_harness.h"
#include "support.h"

#include "instance.h"
#include "util.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static kube_fake fake;
static char kubeconfig[192]; /* alice's token, namespace shop */

static int setup(void **state)
{
    (void)state;
    if (kube_fake_start(&fake) != 0)
        return -1;
    format_into(kubeconfig, sizeof kubeconfig, "%s", kube_fake_kubeconfig(&fake, "alice", KUBE_AUTH_TOKEN, "shop"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kube_fake_stop(&fake);
    return 0;
}

static int before_each(void **state)
{
    (void)state;
    kube_fake_clear_faults(&fake);
    return 0;
}

/* The scaler with the kubeconfig path and more settings; fails the test when it cannot start. */
static plugin_instance *open_scaler(support_plugin *plugin, const char *config_path, const char *more)
{
    bool own_backoff = more && strstr(more, "backoff");
    char *settings = xasprintf("kubeconfig = \"%s\"; %s %s", config_path, own_backoff ? "" : "backoff = 0.05;",
                               more ? more : "");
    plugin_instance *scaler = support_plugin_open(plugin, "scaler", "kubernetes", settings);
    free(settings);
    if (!scaler)
        fail_msg("%s", plugin->error);
    return scaler;
}

/* The error create() gives for settings. */
static const char *create_error(const char *settings)
{
    static char error[2048];
    support_plugin plugin;
    plugin_instance *scaler = support_plugin_open(&plugin, "scaler", "kubernetes", settings);
    assert_null(scaler);
    format_into(error, sizeof error, "%s", plugin.error);
    support_plugin_close(&plugin);
    return error;
}

static hydra_scale_request request_for(const char *target, int replicas)
{
    return (hydra_scale_request){target, replicas, "rec-000042", "alice", "forecast peak 900 at 02:40 needs more"};
}

/* How many Events are about name in namespace; the newest one (the caller's reference) in *last when asked. */
static size_t events_about(const char *namespace, const char *name, json_t **last)
{
    json_t *events = kube_fake_events(&fake, namespace), *event, *found = NULL;
    size_t index, count = 0;
    json_array_foreach(events, index, event) {
        const char *about = json_string_value(json_object_get(json_object_get(event, "involvedObject"), "name"));
        if (about && strcmp(about, name) == 0) {
            found = event;
            count++;
        }
    }
    if (last)
        *last = json_incref(found);
    json_decref(events);
    return count;
}

static json_t *last_event_about(const char *namespace, const char *name)
{
    json_t *last = NULL;
    events_about(namespace, name, &last);
    return last;
}

static const char *text_at(json_t *object, const char *key) { return json_string_value(json_object_get(object, key)); }

/* ## Reading and scaling ------------------------------------------------------------------------------------------ */

static void test_kubernetes_status_reads_desired_ready_and_paused(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", "status-web", 3, NULL), 0);
    support_plugin plugin;
    plugin_instance *scaler = open_scaler(&plugin, kubeconfig, NULL);
    hydra_scale_status status;
    assert_int_equal(instance_scale_status(scaler, "status-web", &status), 0);
    assert_int_equal(status.desired, 3);
    assert_int_equal(status.ready, 3);
    assert_false(status.paused);
    /* Two replicas of four are up: ready comes from the workload's status, desired from its Scale. */
    long code = 0;
    json_decref(kube_fake_call(&fake, "POST", "/fake/patch",
                               "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"namespace\":\"shop\",\"name\":"
                               "\"status-web\",\"patch\":{\"metadata\":{\"annotations\":{\"fake.hydra.io/hold-status\":"
                               "\"true\"}},\"spec\":{\"replicas\":4},\"status\":{\"readyReplicas\":2}}}",
                               &code));
    assert_int_equal(code, 200);
    assert_int_equal(instance_scale_status(scaler, "status-web", &status), 0);
    assert_int_equal(status.desired, 4);
    assert_int_equal(status.ready, 2);
    /* A Scale at 0 replicas comes without spec.replicas (omitempty): that is 0, not an error. */
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", "status-zero", 0, NULL), 0);
    assert_int_equal(instance_scale_status(scaler, "status-zero", &status), 0);
    assert_int_equal(status.desired, 0);
    support_plugin_close(&plugin);
}

static void test_kubernetes_scales_with_the_resource_version_read_and_posts_an_event(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", "scale-web", 3, NULL), 0);
    support_plugin plugin;
    plugin_instance *scaler = open_scaler(&plugin, kubeconfig, NULL);
    hydra_scale_request request = request_for("scale-web", 7);
    hydra_scale_status after;
    assert_int_equal(instance_scale(scaler, &request, &after), 0);
    assert_int_equal(after.desired, 7);
    assert_int_equal(after.ready, 7);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "scale-web"), 7);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", "/deployments/scale-web/scale"), 1);
    assert_int_equal(kube_fake_count_requests(&fake, "PATCH", "/deployments/scale-web/scale"), 0);

    json_t *event = last_event_about("shop", "scale-web");
    assert_non_null(event);
    assert_string_equal(text_at(event, "reason"), "SuccessfulRescale");
    assert_string_equal(text_at(event, "type"), "Normal");
    assert_contains(text_at(event, "message"), "New size: 7 (was 3)");
    assert_contains(text_at(event, "message"), "recommendation rec-000042 approved by alice");
    json_t *about = json_object_get(event, "involvedObject");
    assert_string_equal(text_at(about, "kind"), "Deployment");
    assert_string_equal(text_at(about, "apiVersion"), "apps/v1");
    json_t *workload = kube_fake_workload(&fake, "Deployment", "shop", "scale-web");
    assert_string_equal(text_at(about, "uid"), text_at(json_object_get(workload, "metadata"), "uid"));
    json_decref(workload);
    json_decref(event);

    /* Asked again for what it already runs: no update and no event, as nothing was done. */
    assert_int_equal(instance_scale(scaler, &request, &after), 0);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", "/deployments/scale-web/scale"), 1);
    assert_int_equal(events_about("shop", "scale-web", NULL), 1);
    support_plugin_close(&plugin);
}

/* A Deployment name at 3 replicas that someone scales to `concurrent` between hydra's read of its Scale and hydra's
 * update; hydra asked for `asked`. Returns what scale() returned; the log of the attempt is captured. */
static int race(const char *name, int concurrent, int asked, hydra_scale_status *after)
{
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", name, 3, NULL), 0);
    char *rule = xasprintf("{\"method\":\"GET\",\"path\":\"/deployments/%s/scale\",\"then_patch\":{\"spec\":"
                           "{\"replicas\":%d}}}", name, concurrent);
    assert_int_equal(kube_fake_fault(&fake, rule), 0);
    free(rule);
    support_plugin plugin;
    plugin_instance *scaler = open_scaler(&plugin, kubeconfig, NULL);
    hydra_scale_request request = request_for(name, asked);
    support_log_start();
    int status = instance_scale(scaler, &request, after);
    support_plugin_close(&plugin);
    return status;
}

/* Someone scales the Deployment between hydra's read and its update: 409, read again, decide again, once. */
static void test_kubernetes_conflict_is_read_again_and_applied_once(void **state)
{
    (void)state;
    hydra_scale_status after;
    assert_int_equal(race("race-web", 4, 10, &after), 0);
    assert_contains(support_log_text(), "changed while being scaled");
    assert_contains(support_log_text(), "the object has been modified");
    support_log_stop();
    assert_int_equal(after.desired, 10);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "race-web"), 10);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", "/deployments/race-web/scale"), 2); /* 409, then 200 */
    json_t *event = NULL;
    assert_int_equal(events_about("shop", "race-web", &event), 1);
    assert_contains(text_at(event, "message"), "New size: 10 (was 3)");
    json_decref(event);
}

/* The concurrent change already went further than asked, the same way: it is left alone, not undone. */
static void test_kubernetes_conflict_past_the_request_is_left_as_is(void **state)
{
    (void)state;
    hydra_scale_status after;
    assert_int_equal(race("past-web", 12, 8, &after), 0);
    assert_contains(support_log_text(), "was changed meanwhile to 12, past the 8 asked for: left as is");
    support_log_stop();
    assert_int_equal(after.desired, 12);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "past-web"), 12);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", "/deployments/past-web/scale"), 1);
    json_t *event = last_event_about("shop", "past-web");
    assert_string_equal(text_at(event, "reason"), "RescaleSuperseded");
    assert_contains(text_at(event, "message"), "Left at 12");
    json_decref(event);
}

static void test_kubernetes_retries_429_and_500_then_succeeds(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", "busy-web", 2, NULL), 0);
    assert_int_equal(kube_fake_fault(&fake, "{\"method\":\"PUT\",\"path\":\"/deployments/busy-web/scale\","
                                            "\"status\":429,\"retry_after\":0,\"count\":2}"),
                     0);
    support_plugin plugin;
    plugin_instance *scaler = open_scaler(&plugin, kubeconfig, NULL);
    hydra_scale_request request = request_for("busy-web", 5);
    hydra_scale_status after;
    support_log_start();
    assert_int_equal(instance_scale(scaler, &request, &after), 0);
    assert_contains(support_log_text(), "HTTP 429: Too many requests, please try again later.; retrying");
    support_log_stop();
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", "/deployments/busy-web/scale"), 3);
    assert_int_equal(kube_fake_fault(&fake, "{\"method\":\"PUT\",\"path\":\"/deployments/busy-web/scale\","
                                            "\"status\":500,\"count\":1}"),
                     0);
    request.replicas = 6;
    assert_int_equal(instance_scale(scaler, &request, &after), 0);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "busy-web"), 6);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", "/deployments/busy-web/scale"), 5);
    support_plugin_close(&plugin);
}

static void test_kubernetes_deadline_exceeded_fails_with_the_api_reason(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", "down-web", 2, NULL), 0);
    assert_int_equal(kube_fake_fault(&fake, "{\"method\":\"PUT\",\"path\":\"/deployments/down-web/scale\","
                                            "\"status\":500,\"count\":1000,\"message\":\"etcdserver: request "
                                            "timed out\"}"),
                     0);
    support_plugin plugin;
    plugin_instance *scaler = open_scaler(&plugin, kubeconfig, "deadline = 1.0; backoff = 0.2;");
    hydra_scale_request request = request_for("down-web", 5);
    hydra_scale_status after;
    assert_int_equal(instance_scale(scaler, &request, &after), -1);
    const char *error = instance_error(scaler);
    assert_contains(error, "scaling deployment shop/down-web to 5");
    assert_contains(error, "within the deadline of 1 s");
    assert_contains(error, "HTTP 500 InternalError: etcdserver: request timed out");
    int attempts = kube_fake_count_requests(&fake, "PUT", "/deployments/down-web/scale");
    assert_in_range(attempts, 2, 6); /* 0.2 + 0.4 s of backoff fit in the deadline (less on a slow machine) */
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "down-web"), 2);
    json_t *event = last_event_about("shop", "down-web");
    assert_string_equal(text_at(event, "reason"), "FailedRescale");
    assert_string_equal(text_at(event, "type"), "Warning");
    assert_contains(text_at(event, "message"), "etcdserver: request timed out");
    json_decref(event);
    support_plugin_close(&plugin);
}

static void test_kubernetes_paused_annotation_is_reported_and_refused(void **state)
{
    (void)state;
    assert_int_equal(
        kube_fake_add_workload(&fake, "Deployment", "shop", "paused-web", 3, "{\"hydra.io/paused\":\"true\"}"), 0);
    support_plugin plugin;
    plugin_instance *scaler = open_scaler(&plugin, kubeconfig, NULL);
    hydra_scale_status status;
    assert_int_equal(instance_scale_status(scaler, "paused-web", &status), 0);
    assert_true(status.paused);
    hydra_scale_request request = request_for("paused-web", 9);
    assert_int_equal(instance_scale(scaler, &request, &status), -1);
    assert_contains(instance_error(scaler), "refused: deployment shop/paused-web is paused (annotation "
                                            "hydra.io/paused: \"true\")");
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "paused-web"), 3);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", "/deployments/paused-web/scale"), 0);
    json_t *event = last_event_about("shop", "paused-web");
    assert_string_equal(text_at(event, "reason"), "RescalePaused");
    json_decref(event);
    /* Any other value is not a pause, as KEDA reads its own annotation. */
    long code = 0;
    json_decref(kube_fake_call(&fake, "POST", "/fake/patch",
                               "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"namespace\":\"shop\",\"name\":"
                               "\"paused-web\",\"patch\":{\"metadata\":{\"annotations\":{\"hydra.io/paused\":"
                               "\"false\"}}}}",
                               &code));
    assert_int_equal(instance_scale_status(scaler, "paused-web", &status), 0);
    assert_false(status.paused);
    support_plugin_close(&plugin);
}

static void test_kubernetes_statefulset_in_another_namespace_by_mapping(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "StatefulSet", "data", "queue", 1, NULL), 0);
    support_plugin plugin;
    plugin_instance *scaler =
        open_scaler(&plugin, kubeconfig, "workloads = \"checkout = deployment/checkout-v2, jobs=statefulset/data/queue\";");
    hydra_scale_request request = request_for("jobs", 3);
    hydra_scale_status after;
    assert_int_equal(instance_scale(scaler, &request, &after), 0);
    assert_int_equal(after.desired, 3);
    assert_int_equal(kube_fake_replicas(&fake, "StatefulSet", "data", "queue"), 3);
    assert_int_equal(kube_fake_count_requests(&fake, "PUT", "/namespaces/data/statefulsets/queue/scale"), 1);
    json_t *event = last_event_about("data", "queue");
    assert_string_equal(text_at(json_object_get(event, "involvedObject"), "kind"), "StatefulSet");
    json_decref(event);
    /* A mapped Deployment that does not exist: the API's own words. */
    assert_int_equal(instance_scale_status(scaler, "checkout", &after), -1);
    assert_contains(instance_error(scaler), "reading deployment shop/checkout-v2: HTTP 404 NotFound: "
                                            "deployments.apps \"checkout-v2\" not found");
    support_plugin_close(&plugin);
}

/* ## Credentials -------------------------------------------------------------------------------------------------- */

static void test_kubernetes_refused_credentials_say_what_the_api_said(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", "guarded-web", 2, NULL), 0);
    support_plugin plugin;
    plugin_instance *scaler =
        open_scaler(&plugin, kube_fake_kubeconfig(&fake, "bob", KUBE_AUTH_VIEWER_TOKEN, "shop"), NULL);
    hydra_scale_status status;
    assert_int_equal(instance_scale_status(scaler, "guarded-web", &status), 0); /* a viewer may read */
    hydra_scale_request request = request_for("guarded-web", 4);
    assert_int_equal(instance_scale(scaler, &request, &status), -1);
    assert_contains(instance_error(scaler), "HTTP 403 Forbidden: deployments.apps \"guarded-web\" is forbidden: User "
                                            "\"bob\" cannot update resource \"deployments/scale\"");
    support_plugin_close(&plugin);

    const char *wrong = support_write_temp("");
    char *text = NULL;
    const char *good = kubeconfig;
    const char *output = NULL;
    char *line = xasprintf("sed 's/" KUBE_ADMIN_TOKEN "/not-a-token/' %s", good);
    assert_int_equal(support_run(line, &output), 0);
    free(line);
    text = xasprintf("%s", output);
    FILE *file = fopen(wrong, "w");
    fputs(text, file);
    fclose(file);
    free(text);
    scaler = open_scaler(&plugin, wrong, NULL);
    assert_int_equal(instance_scale_status(scaler, "guarded-web", &status), -1);
    assert_contains(instance_error(scaler), "HTTP 401 Unauthorized: Unauthorized");
    support_plugin_close(&plugin);
    unlink(wrong);
}

static void test_kubernetes_client_certificate_authenticates(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", "cert-web", 1, NULL), 0);
    support_plugin plugin;
    plugin_instance *scaler =
        open_scaler(&plugin, kube_fake_kubeconfig(&fake, "cert", KUBE_AUTH_CLIENT_CERT, NULL), "namespace = \"shop\";");
    hydra_scale_request request = request_for("cert-web", 2);
    hydra_scale_status after;
    assert_int_equal(instance_scale(scaler, &request, &after), 0);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "cert-web"), 2);
    json_t *all = kube_fake_call(&fake, "GET", "/fake/requests", NULL, NULL);
    json_t *last = json_array_get(all, json_array_size(all) - 1);
    assert_string_equal(text_at(last, "user"), KUBE_CLIENT_USER);
    json_decref(all);
    support_plugin_close(&plugin);
}

/* The other ways a kubeconfig gives the same things: the CA as a path relative to the kubeconfig, the client
 * certificate and key inline (base64), or a token in a file beside it. */
static void test_kubernetes_kubeconfig_paths_inline_data_and_token_file(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", "inline-web", 1, NULL), 0);
    const char *output = NULL;
    char *line = xasprintf("cd %1$s && printf '%%s' " KUBE_ADMIN_TOKEN " > token && "
                           "printf 'clusters:\n- name: k\n  cluster:\n    server: %2$s\n    certificate-authority: ca.pem\n"
                           "users:\n- name: inline\n  user:\n    client-certificate-data: %%s\n    client-key-data: %%s\n"
                           "- name: file\n  user:\n    tokenFile: token\n"
                           "contexts:\n- name: inline\n  context: {cluster: k, user: inline, namespace: shop}\n"
                           "- name: file\n  context: {cluster: k, user: file, namespace: shop}\n"
                           "current-context: inline\n' \"$(base64 -w0 client.pem)\" \"$(base64 -w0 client.key)\" "
                           "> relative-config",
                           fake.dir, fake.url);
    assert_int_equal(support_run(line, &output), 0);
    free(line);
    char *config = xasprintf("%s/relative-config", fake.dir);
    support_plugin plugin;
    plugin_instance *scaler = open_scaler(&plugin, config, NULL);
    hydra_scale_request request = request_for("inline-web", 2);
    hydra_scale_status after;
    assert_int_equal(instance_scale(scaler, &request, &after), 0);
    json_t *all = kube_fake_call(&fake, "GET", "/fake/requests", NULL, NULL);
    assert_string_equal(text_at(json_array_get(all, json_array_size(all) - 1), "user"), KUBE_CLIENT_USER);
    json_decref(all);
    support_plugin_close(&plugin);
    scaler = open_scaler(&plugin, config, "context = \"file\";");
    request.replicas = 3;
    assert_int_equal(instance_scale(scaler, &request, &after), 0);
    all = kube_fake_call(&fake, "GET", "/fake/requests", NULL, NULL);
    assert_string_equal(text_at(json_array_get(all, json_array_size(all) - 1), "user"), "alice");
    json_decref(all);
    support_plugin_close(&plugin);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "inline-web"), 3);
    free(config);
}

/* Inside a pod: the service's address from the environment, the token, CA and namespace from files; the token is
 * read again for every request, as projected tokens rotate. */
static void test_kubernetes_in_cluster_reads_the_service_account(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "hydra-system", "pod-web", 2, NULL), 0);
    char port[16], *token_file = xasprintf("%s/token", fake.dir), *namespace_file = xasprintf("%s/namespace", fake.dir);
    format_into(port, sizeof port, "%d", fake.server.port);
    FILE *file = fopen(token_file, "w");
    fputs(KUBE_ADMIN_TOKEN "\n", file);
    fclose(file);
    file = fopen(namespace_file, "w");
    fputs("hydra-system", file);
    fclose(file);
    setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", port, 1);
    char *settings = xasprintf("token_file = \"%s\"; ca_file = \"%s\"; namespace_file = \"%s\"; backoff = 0.05;",
                               token_file, fake.ca, namespace_file);
    support_plugin plugin;
    plugin_instance *scaler = support_plugin_open(&plugin, "scaler", "kubernetes", settings);
    if (!scaler)
        fail_msg("%s", plugin.error);
    hydra_scale_request request = request_for("pod-web", 4);
    hydra_scale_status after;
    assert_int_equal(instance_scale(scaler, &request, &after), 0);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "hydra-system", "pod-web"), 4);
    file = fopen(token_file, "w"); /* the kubelet rotates the token: the next request carries the new one */
    fputs(KUBE_VIEWER_TOKEN, file);
    fclose(file);
    request.replicas = 5;
    assert_int_equal(instance_scale(scaler, &request, &after), -1);
    assert_contains(instance_error(scaler), "User \"bob\" cannot update");
    support_plugin_close(&plugin);
    assert_contains(create_error("token_file = \"/nonexistent/token\";"),
                    "in a cluster (KUBERNETES_SERVICE_HOST is set), but the service account's /nonexistent/token "
                    "cannot be read: No such file or directory (is automountServiceAccountToken off?)");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    assert_contains(create_error(settings), "no Kubernetes API to talk to: set 'kubeconfig', or run inside a cluster");
    free(settings);
    free(token_file);
    free(namespace_file);
}

/* ## Bad configuration: refused at create() with what and where --------------------------------------------------- */

static const char *kubeconfig_error(const char *yaml)
{
    const char *path = support_write_temp(yaml);
    char *settings = xasprintf("kubeconfig = \"%s\";", path);
    const char *error = create_error(settings);
    free(settings);
    unlink(path);
    return error;
}

static void test_kubernetes_bad_kubeconfig_is_refused_clearly(void **state)
{
    (void)state;
    assert_contains(create_error("kubeconfig = \"/nonexistent/kubeconfig\";"),
                    "kubeconfig /nonexistent/kubeconfig: No such file or directory");
    assert_contains(kubeconfig_error("clusters:\n- name: a\n  cluster: {server: https://x\n"), ":4: not YAML:");
    assert_contains(kubeconfig_error("apiVersion: v1\nkind: Config\nclusters: []\n"), ":1: no current-context");
    assert_contains(kubeconfig_error("contexts:\n- name: c\n  context: {cluster: gone, user: u}\n"
                                     "current-context: c\nusers:\n- name: u\n  user: {token: t}\n"),
                    ":3: 'gone' is not in clusters");
    assert_contains(kubeconfig_error("current-context: elsewhere\ncontexts: []\n"), ":1: 'elsewhere' is not in contexts");
    assert_contains(kubeconfig_error("clusters:\n- name: k\n  cluster: {server: https://127.0.0.1:1}\n"
                                     "contexts:\n- name: c\n  context: {cluster: k, user: u}\ncurrent-context: c\n"
                                     "users:\n- name: u\n  user:\n    exec: {command: aws}\n"),
                    ":11: user 'u' gets its credentials from a program (exec or auth-provider)");
    assert_contains(kubeconfig_error("clusters:\n- name: k\n  cluster: {certificate-authority-data: '@@'}\n"
                                     "contexts:\n- name: c\n  context: {cluster: k, user: u}\ncurrent-context: c\n"
                                     "users:\n- name: u\n  user: {token: t}\n"),
                    ":3: the cluster needs 'server'");
    assert_contains(kubeconfig_error("clusters:\n- name: k\n  cluster: {server: 'https://h', certificate-authority-"
                                     "data: '@@@'}\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                                     "current-context: c\nusers:\n- name: u\n  user: {token: t}\n"),
                    "'certificate-authority-data' is not base64");
    assert_contains(kubeconfig_error("clusters:\n- name: k\n  cluster: {server: 'https://h'}\ncontexts:\n- name: c\n"
                                     "  context: {cluster: k, user: u}\ncurrent-context: c\nusers:\n- name: u\n"
                                     "  user: {client-certificate: /x.pem}\n"),
                    "user 'u' has a client certificate without its key");
}

static void test_kubernetes_bad_settings_are_refused_clearly(void **state)
{
    (void)state;
    char *base = xasprintf("kubeconfig = \"%s\";", kubeconfig);
    char *settings = xasprintf("%s workloads = \"web=deployment/web, api=cronjob/api\";", base);
    assert_contains(create_error(settings), "setting 'workloads', entry 2 ('api=cronjob/api'): kind must be "
                                            "deployment or statefulset, not 'cronjob'");
    free(settings);
    settings = xasprintf("%s workloads = \"web\";", base);
    assert_contains(create_error(settings), "entry 1 ('web'): expected TARGET=KIND/NAME or TARGET=KIND/NAMESPACE/NAME");
    free(settings);
    settings = xasprintf("%s workloads = \"web=deployment/Shop/web\";", base);
    assert_contains(create_error(settings), "'Shop' is not a namespace name");
    free(settings);
    settings = xasprintf("%s workloads = \"web=deployment/a/b/c\";", base);
    assert_contains(create_error(settings), "expected KIND/NAME or KIND/NAMESPACE/NAME after '='");
    free(settings);
    settings = xasprintf("%s workloads = \"web=deployment/a, web=deployment/b\";", base);
    assert_contains(create_error(settings), "target 'web' is listed twice");
    free(settings);
    settings = xasprintf("%s deadline = 0.0;", base);
    assert_contains(create_error(settings), "setting 'deadline' must be in (0, 3600] seconds");
    free(settings);
    settings = xasprintf("%s namespace = \"Not_A_Namespace\";", base);
    assert_contains(create_error(settings), "setting 'namespace': 'Not_A_Namespace' is not a namespace name");
    free(settings);
    /* A target with no mapping must itself be a Kubernetes name. */
    support_plugin plugin;
    plugin_instance *scaler = open_scaler(&plugin, kubeconfig, NULL);
    hydra_scale_status status;
    assert_int_equal(instance_scale_status(scaler, "Donations_API", &status), -1);
    assert_contains(instance_error(scaler), "target 'Donations_API' is not a Kubernetes name: map it");
    support_plugin_close(&plugin);
    free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_kubernetes_status_reads_desired_ready_and_paused, before_each),
        cmocka_unit_test_setup(test_kubernetes_scales_with_the_resource_version_read_and_posts_an_event, before_each),
        cmocka_unit_test_setup(test_kubernetes_conflict_is_read_again_and_applied_once, before_each),
        cmocka_unit_test_setup(test_kubernetes_conflict_past_the_request_is_left_as_is, before_each),
        cmocka_unit_test_setup(test_kubernetes_retries_429_and_500_then_succeeds, before_each),
        cmocka_unit_test_setup(test_kubernetes_deadline_exceeded_fails_with_the_api_reason, before_each),
        cmocka_unit_test_setup(test_kubernetes_paused_annotation_is_reported_and_refused, before_each),
        cmocka_unit_test_setup(test_kubernetes_statefulset_in_another_namespace_by_mapping, before_each),
        cmocka_unit_test_setup(test_kubernetes_refused_credentials_say_what_the_api_said, before_each),
        cmocka_unit_test_setup(test_kubernetes_client_certificate_authenticates, before_each),
        cmocka_unit_test_setup(test_kubernetes_kubeconfig_paths_inline_data_and_token_file, before_each),
        cmocka_unit_test_setup(test_kubernetes_in_cluster_reads_the_service_account, before_each),
        cmocka_unit_test(test_kubernetes_bad_kubeconfig_is_refused_clearly),
        cmocka_unit_test(test_kubernetes_bad_settings_are_refused_clearly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
