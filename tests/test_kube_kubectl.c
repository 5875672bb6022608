/* The fake Kubernetes API server is proven against the real client: /usr/bin/kubectl (the dispatcher, running its
 * 1.32 kubectl) reads, scales, annotates and lists events on it, with a token, with a client certificate, refused
 * as a viewer and without credentials; then hydra's kubernetes scaler works on the same objects, and each sees what
 * the other did. Last, the manifests in deploy/kubernetes/ go through `kubectl apply --dry-run=client`. */
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

#include <cmocka.h>

static kube_fake fake;
static char admin_config[192];

static int setup(void **state)
{
    (void)state;
    if (kube_fake_start(&fake) != 0)
        return -1;
    format_into(admin_config, sizeof admin_config, "%s", kube_fake_kubeconfig(&fake, "admin", KUBE_AUTH_TOKEN, "shop"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kube_fake_stop(&fake);
    return 0;
}

/* The real kubectl with a kubeconfig; its exit status, its output (static) in *output. */
static int kubectl_with(const char *config, const char *arguments, const char **output)
{
    char *line = xasprintf("KUBECONFIG=%s /usr/bin/kubectl --cache-dir=%s/cache --request-timeout=30s %s", config,
                           fake.dir, arguments);
    int status = support_run(line, output);
    free(line);
    return status;
}

static const char *kubectl_ok(const char *arguments)
{
    const char *output = NULL;
    int status = kubectl_with(admin_config, arguments, &output);
    if (status != 0)
        fail_msg("kubectl %s exited %d: %s", arguments, status, output);
    return output;
}

static plugin_instance *open_scaler(support_plugin *plugin, const char *more)
{
    char *settings = xasprintf("kubeconfig = \"%s\"; backoff = 0.05; %s", admin_config, more ? more : "");
    plugin_instance *scaler = support_plugin_open(plugin, "scaler", "kubernetes", settings);
    free(settings);
    if (!scaler)
        fail_msg("%s", plugin->error);
    return scaler;
}

static void test_kubectl_and_hydra_see_the_same_deployment(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", "web", 3, NULL), 0);
    assert_string_equal(kubectl_ok("get deployment web -o jsonpath={.spec.replicas}"), "3");
    assert_contains(kubectl_ok("get deployments"), "web");
    assert_string_equal(kubectl_ok("scale deployment web --replicas=5"), "deployment.apps/web scaled\n");

    /* hydra sees kubectl's change. */
    support_plugin plugin;
    plugin_instance *scaler = open_scaler(&plugin, NULL);
    hydra_scale_status status;
    assert_int_equal(instance_scale_status(scaler, "web", &status), 0);
    assert_int_equal(status.desired, 5);
    assert_int_equal(status.ready, 5);

    /* kubectl sees hydra's change, through the Deployment and through its Scale, and hydra's Event. */
    hydra_scale_request request = {"web", 8, "rec-000007", "alice", "forecast peak 780 at 20:10 needs 8"};
    assert_int_equal(instance_scale(scaler, &request, &status), 0);
    assert_string_equal(kubectl_ok("get deployment web -o jsonpath={.spec.replicas}/{.status.readyReplicas}"), "8/8");
    json_error_t error;
    json_t *scale = json_loads(kubectl_ok("get --raw /apis/apps/v1/namespaces/shop/deployments/web/scale"), 0, &error);
    assert_non_null(scale);
    assert_string_equal(json_string_value(json_object_get(scale, "kind")), "Scale");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(scale, "spec"), "replicas")), 8);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(scale, "status"), "replicas")), 8);
    json_decref(scale);
    const char *events = kubectl_ok("get events --field-selector involvedObject.name=web,reason=SuccessfulRescale "
                                    "-o jsonpath={.items[*].message}");
    assert_contains(events, "New size: 8 (was 5); recommendation rec-000007 approved by alice");
    assert_contains(kubectl_ok("get events"), "SuccessfulRescale");

    /* kubectl's optimistic path (GET the Scale, PUT it back with its resourceVersion) on what hydra left. */
    assert_string_equal(kubectl_ok("scale deployment web --current-replicas=8 --replicas=6"),
                        "deployment.apps/web scaled\n");
    const char *output = NULL;
    assert_int_not_equal(kubectl_with(admin_config, "scale deployment web --current-replicas=8 --replicas=9", &output),
                         0);
    assert_contains(output, "Expected replicas to be 8, was 6");
    assert_int_equal(instance_scale_status(scaler, "web", &status), 0);
    assert_int_equal(status.desired, 6);

    /* A person pauses it with kubectl; hydra reads the pause and leaves the Deployment alone. */
    assert_contains(kubectl_ok("annotate deployment web hydra.io/paused=true"), "deployment.apps/web annotated");
    assert_int_equal(instance_scale_status(scaler, "web", &status), 0);
    assert_true(status.paused);
    request.replicas = 12;
    assert_int_equal(instance_scale(scaler, &request, &status), -1);
    assert_string_equal(kubectl_ok("get deployment web -o jsonpath={.spec.replicas}"), "6");
    assert_contains(kubectl_ok("get events --field-selector reason=RescalePaused -o jsonpath={.items[*].type}"),
                    "Warning");
    kubectl_ok("annotate deployment web hydra.io/paused-");
    assert_int_equal(instance_scale_status(scaler, "web", &status), 0);
    assert_false(status.paused);
    support_plugin_close(&plugin);
}

static void test_kubectl_and_hydra_share_a_statefulset(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "StatefulSet", "data", "queue", 1, NULL), 0);
    assert_string_equal(kubectl_ok("-n data scale statefulset queue --replicas=2"), "statefulset.apps/queue scaled\n");
    support_plugin plugin;
    plugin_instance *scaler = open_scaler(&plugin, "workloads = \"jobs=statefulset/data/queue\";");
    hydra_scale_status status;
    assert_int_equal(instance_scale_status(scaler, "jobs", &status), 0);
    assert_int_equal(status.desired, 2);
    hydra_scale_request request = {"jobs", 4, "rec-000008", "bob", "queue depth"};
    assert_int_equal(instance_scale(scaler, &request, &status), 0);
    assert_string_equal(kubectl_ok("-n data get sts queue -o jsonpath={.spec.replicas}"), "4");
    support_plugin_close(&plugin);
}

/* The fake answers as a real server does where kubectl is particular: errors, refusals, retries, certificates. */
static void test_kubectl_gets_the_answers_a_real_server_gives(void **state)
{
    (void)state;
    assert_int_equal(kube_fake_add_workload(&fake, "Deployment", "shop", "api", 2, NULL), 0);
    const char *output = NULL;
    assert_int_not_equal(kubectl_with(admin_config, "get deployment nope", &output), 0);
    assert_contains(output, "Error from server (NotFound): deployments.apps \"nope\" not found");

    const char *viewer = kube_fake_kubeconfig(&fake, "viewer", KUBE_AUTH_VIEWER_TOKEN, "shop");
    assert_int_equal(kubectl_with(viewer, "get deployment api -o name", &output), 0);
    assert_int_not_equal(kubectl_with(viewer, "scale deployment api --replicas=4", &output), 0);
    assert_contains(output, "Error from server (Forbidden)");
    assert_contains(output, "User \"bob\" cannot patch resource \"deployments/scale\"");

    const char *nobody = support_write_temp("");
    char *line = xasprintf("sed 's/token: .*/token: wrong/' %s > %s", admin_config, nobody);
    assert_int_equal(support_run(line, NULL), 0);
    free(line);
    assert_int_not_equal(kubectl_with(nobody, "get deployment api", &output), 0);
    assert_contains(output, "You must be logged in to the server");

    const char *certified = kube_fake_kubeconfig(&fake, "certified", KUBE_AUTH_CLIENT_CERT, "shop");
    assert_int_equal(kubectl_with(certified, "get deployment api -o jsonpath={.spec.replicas}", &output), 0);
    assert_string_equal(output, "2");
    assert_int_equal(kubectl_with(certified, "scale deployment api --replicas=3", &output), 0);

    /* Flow control's 429 with Retry-After: kubectl waits and sends the PATCH again. */
    assert_int_equal(kube_fake_fault(&fake, "{\"method\":\"PATCH\",\"path\":\"/deployments/api/scale\","
                                            "\"status\":429,\"retry_after\":1}"),
                     0);
    assert_string_equal(kubectl_ok("scale deployment api --replicas=4"), "deployment.apps/api scaled\n");
    /* the viewer refused, the certificate, the 429 and its retry */
    assert_int_equal(kube_fake_count_requests(&fake, "PATCH", "/deployments/api/scale"), 4);
    assert_int_equal(kube_fake_replicas(&fake, "Deployment", "shop", "api"), 4);
}

/* Leases (coordination.k8s.io/v1) as leader election uses them: create, read, update with the resourceVersion
 * read; a stale one answers 409 Conflict as a Status, the way the apiserver does. kubectl reads what was written. */
static void test_fake_serves_leases_with_resource_version_checks(void **state)
{
    (void)state;
    long status = 0;
    json_t *lease = kube_fake_call(&fake, "POST", "/apis/coordination.k8s.io/v1/namespaces/hydra/leases",
                                   "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":"
                                   "{\"name\":\"hydra-leader\"},\"spec\":{\"holderIdentity\":\"hydra-0\","
                                   "\"leaseDurationSeconds\":15}}",
                                   &status);
    assert_int_equal(status, 404); /* no namespace hydra yet: refused as a real server refuses it */
    json_decref(lease);
    json_decref(kube_fake_call(&fake, "POST", "/fake/objects",
                               "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"hydra\"}}", &status));
    assert_int_equal(status, 201);
    lease = kube_fake_call(&fake, "POST", "/apis/coordination.k8s.io/v1/namespaces/hydra/leases",
                           "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":"
                           "{\"name\":\"hydra-leader\"},\"spec\":{\"holderIdentity\":\"hydra-0\","
                           "\"leaseDurationSeconds\":15}}",
                           &status);
    assert_int_equal(status, 201);
    const char *first_version = json_string_value(json_object_get(json_object_get(lease, "metadata"),
                                                                  "resourceVersion"));
    char *update = xasprintf("{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":"
                             "\"hydra-leader\",\"resourceVersion\":\"%s\"},\"spec\":{\"holderIdentity\":\"hydra-1\","
                             "\"leaseDurationSeconds\":15,\"leaseTransitions\":1}}",
                             first_version);
    json_decref(kube_fake_call(&fake, "PUT", "/apis/coordination.k8s.io/v1/namespaces/hydra/leases/hydra-leader",
                               update, &status));
    assert_int_equal(status, 200);
    json_t *conflict = kube_fake_call(&fake, "PUT", "/apis/coordination.k8s.io/v1/namespaces/hydra/leases/hydra-leader",
                                      update, &status); /* the same resourceVersion again: someone else won */
    free(update);
    json_decref(lease);
    assert_int_equal(status, 409);
    assert_string_equal(json_string_value(json_object_get(conflict, "reason")), "Conflict");
    assert_contains(json_string_value(json_object_get(conflict, "message")),
                    "Operation cannot be fulfilled on leases.coordination.k8s.io \"hydra-leader\": the object has "
                    "been modified");
    json_decref(conflict);
    assert_string_equal(kubectl_ok("-n hydra get lease hydra-leader -o jsonpath={.spec.holderIdentity}"), "hydra-1");
    json_decref(kube_fake_call(&fake, "DELETE", "/api/v1/namespaces/hydra", NULL, &status));
    assert_int_equal(status, 200);
}

/* deploy/kubernetes/ through the real kubectl: every document parses, every kind is one the server serves (from
 * its discovery), and each would be created. Client-side schema validation needs the server's OpenAPI v2 document
 * in protobuf, which the fake does not serve, hence --validate=false; tests/kube_manifests.py checks the fields. */
static void test_kubectl_accepts_the_deploy_manifests(void **state)
{
    (void)state;
    const char *output = kubectl_ok("apply --dry-run=client --validate=false -f deploy/kubernetes/");
    const char *expected[] = {"namespace/hydra created (dry run)",
                              "serviceaccount/hydra created (dry run)",
                              "role.rbac.authorization.k8s.io/hydra-scaler created (dry run)",
                              "rolebinding.rbac.authorization.k8s.io/hydra-scaler created (dry run)",
                              "role.rbac.authorization.k8s.io/hydra-leader-election created (dry run)",
                              "rolebinding.rbac.authorization.k8s.io/hydra-leader-election created (dry run)",
                              "configmap/hydra-config created (dry run)",
                              "persistentvolumeclaim/hydra-data created (dry run)",
                              "deployment.apps/hydra created (dry run)",
                              "service/hydra created (dry run)"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        assert_contains(output, expected[i]);
    assert_int_equal(kube_fake_count_requests(&fake, "POST", "/namespaces"), 0); /* a dry run creates nothing */
}

/* What the dry run leaves out: every field is one the API has for its kind, the objects fit together, RBAC grants
 * exactly what hydra uses; and the ConfigMap holds a config hydra accepts, its scaler finding the API in-cluster. */
static void test_deploy_manifests_pass_the_schema_check_and_hold_a_valid_config(void **state)
{
    (void)state;
    const char *output = NULL;
    char *line = xasprintf("/usr/bin/python3 tests/kube_manifests.py deploy/kubernetes --config-out %s/hydra.cfg",
                           fake.dir);
    assert_int_equal(support_run(line, &output), 0);
    free(line);
    assert_string_equal(output, "ok\n");

    /* The check can fail: a misspelt probe, a port as a string, a verb too many. */
    line = xasprintf("rm -rf %1$s/bad && cp -r deploy/kubernetes %1$s/bad && "
                     "sed -i 's/readinessProbe:/readynessProbe:/; s/containerPort: 8080/containerPort: \"8080\"/' "
                     "%1$s/bad/50-deployment.yaml && "
                     "sed -i 's/verbs: \\[\"get\", \"create\", \"update\"\\]/verbs: [\"*\"]/' %1$s/bad/20-rbac.yaml && "
                     "/usr/bin/python3 tests/kube_manifests.py %1$s/bad",
                     fake.dir);
    assert_int_equal(support_run(line, &output), 1);
    free(line);
    assert_contains(output, "50-deployment.yaml: spec.template.spec.containers[0].readynessProbe: unknown field");
    assert_contains(output, "containers[0].ports[0].containerPort: expected integer, found str '8080'");
    line = xasprintf("sed -i 's/readynessProbe:/readinessProbe:/; s/containerPort: \"8080\"/containerPort: 8080/' "
                     "%1$s/bad/50-deployment.yaml && /usr/bin/python3 tests/kube_manifests.py %1$s/bad", fake.dir);
    assert_int_equal(support_run(line, &output), 1);
    free(line);
    assert_contains(output, "20-rbac.yaml: Role hydra-leader-election: grants [(('coordination.k8s.io', 'leases'), "
                            "['*'])]");

    /* The pod's paths become the test's: the installed policy is the source tree's, the service account's files
     * the fake's (token and CA), the store a file in the test's folder. */
    char *token = xasprintf("%s/sa-token", fake.dir);
    FILE *file = fopen(token, "w");
    fputs(KUBE_ADMIN_TOKEN, file);
    fclose(file);
    line = xasprintf("cd %1$s && sed -i -e 's|/usr/local/share/hydra/scripts|'\"$OLDPWD\"'/scripts|' "
                     "-e 's|/var/lib/hydra/hydra.db|%1$s/hydra.db|' "
                     "-e 's|settings = { namespace = \"shop\";|settings = { namespace = \"shop\"; token_file = "
                     "\"%2$s\"; ca_file = \"%3$s\";|' hydra.cfg && cd - >/dev/null && "
                     "KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=%4$d %5$s/hydra check-config "
                     "%1$s/hydra.cfg",
                     fake.dir, token, fake.ca, fake.server.port, support_build_dir());
    int status = support_run(line, &output);
    free(line);
    free(token);
    if (status != 0)
        fail_msg("hydra check-config: %s", output);
    assert_contains(output, "hydra.cfg: ok: 4 plugins, 1 targets");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubectl_and_hydra_see_the_same_deployment),
        cmocka_unit_test(test_kubectl_and_hydra_share_a_statefulset),
        cmocka_unit_test(test_kubectl_gets_the_answers_a_real_server_gives),
        cmocka_unit_test(test_fake_serves_leases_with_resource_version_checks),
        cmocka_unit_test(test_kubectl_accepts_the_deploy_manifests),
        cmocka_unit_test(test_deploy_manifests_pass_the_schema_check_and_hold_a_valid_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
