/* The docker scaler against a real Docker Engine (Debian's dockerd, started privately by tests/dockerd.c, one for
 * the whole binary): swarm services read, scaled up and down with their running tasks counted; a stale version
 * (another client updating the service between the scaler's read and write, through tests/docker_proxy.py) read
 * again and never applied twice; the Engine restarted in the middle of an action, and down past the deadline;
 * compose-labelled containers scaled up and down; unknown services; and hydra serve scaling a swarm service once a
 * person approves through the API. */
#include "dockerd.h"
#include "instance.h"
#include "peers.h"
#include "servers.h"
#include "support.h"
#include "util.h"

#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static dockerd engine;

/* ## Helpers ---------------------------------------------------------------------------------------------------- */

typedef struct scaler {
    support_plugin plugin;
    plugin_instance *instance;
} scaler;

/* The docker scaler on this test's engine (or on socket when given), with more settings. */
static void scaler_open(scaler *s, const char *socket, const char *more)
{
    more = more ? more : "";
    char *settings = xasprintf("socket = \"%s\"; %s %s", socket ? socket : engine.socket,
                               strstr(more, "retry_deadline") ? "" : "retry_deadline = 60.0;", more);
    s->instance = support_plugin_open(&s->plugin, "scaler", "docker", settings);
    free(settings);
    if (!s->instance)
        fail_msg("the docker scaler did not open: %s", s->plugin.error);
}

static void scaler_close(scaler *s) { support_plugin_close(&s->plugin); }

static int scale_to(scaler *s, const char *target, int replicas, hydra_scale_status *after)
{
    hydra_scale_request request = {target, replicas, "rec-test", "alice", "a test asks"};
    hydra_scale_status ignored;
    return instance_scale(s->instance, &request, after ? after : &ignored);
}

/* What the docker client says of a service or container: docker inspect --format. */
static char *inspect(const char *kind, const char *name, const char *format)
{
    char *arguments = xasprintf("%s inspect --format '%s' %s", kind, format, name);
    const char *output;
    int status = dockerd_client(&engine, arguments, &output);
    free(arguments);
    if (status != 0)
        fail_msg("docker %s inspect %s failed: %s", kind, name, output);
    char *copy = xstrdup(output);
    copy[strcspn(copy, "\n")] = '\0';
    return copy;
}

static int service_replicas(const char *service)
{
    char *text = inspect("service", service, "{{.Spec.Mode.Replicated.Replicas}}");
    int replicas = atoi(text);
    free(text);
    return replicas;
}

/* Status until ready equals the wanted count (tasks take a moment to start); the last status read. */
static hydra_scale_status status_when_ready(scaler *s, const char *target, int ready)
{
    hydra_scale_status status = {-1, -1, false};
    for (int tries = 0; tries < 120; tries++) {
        assert_int_equal(instance_scale_status(s->instance, target, &status), 0);
        if (status.ready == ready)
            break;
        usleep(250000);
    }
    return status;
}

static void docker_ok(const char *arguments)
{
    const char *output;
    if (dockerd_client(&engine, arguments, &output) != 0)
        fail_msg("docker %s failed: %s", arguments, output);
}

static int group_setup(void **state)
{
    (void)state;
    if (dockerd_start(&engine) != 0)
        return -1;
    return dockerd_service_create(&engine, "web", 2);
}

/* A test that failed while the engine was down leaves it down: the next one starts it again. */
static int engine_up(void **state)
{
    (void)state;
    return dockerd_resume(&engine);
}

static int group_teardown(void **state)
{
    (void)state;
    dockerd_cleanup(&engine);
    return 0;
}

/* ## Swarm ------------------------------------------------------------------------------------------------------ */

static void test_docker_swarm_status_counts_running_tasks(void **state)
{
    (void)state;
    assert_int_equal(dockerd_wait_running(&engine, "web", 2, 60), 0);
    scaler s;
    scaler_open(&s, NULL, "mode = \"swarm\";");
    hydra_scale_status status = status_when_ready(&s, "web", 2);
    assert_int_equal(status.desired, 2);
    assert_int_equal(status.ready, 2);
    assert_false(status.paused);
    scaler_close(&s);
}

static void test_docker_swarm_scales_up_and_down(void **state)
{
    (void)state;
    scaler s;
    scaler_open(&s, NULL, "services = \"shop-web = web\";"); /* auto mode: this engine manages a swarm */
    hydra_scale_status after;
    assert_int_equal(scale_to(&s, "shop-web", 4, &after), 0);
    assert_int_equal(after.desired, 4);
    assert_int_equal(service_replicas("web"), 4);
    assert_int_equal(dockerd_wait_running(&engine, "web", 4, 60), 0);
    assert_int_equal(status_when_ready(&s, "shop-web", 4).desired, 4);

    assert_int_equal(scale_to(&s, "shop-web", 1, &after), 0);
    assert_int_equal(after.desired, 1);
    assert_int_equal(dockerd_wait_running(&engine, "web", 1, 60), 0);
    assert_int_equal(status_when_ready(&s, "shop-web", 1).ready, 1);

    /* Asked again for what it has: nothing is sent, the service's version stays. */
    char *before = inspect("service", "web", "{{.Version.Index}}");
    assert_int_equal(scale_to(&s, "shop-web", 1, NULL), 0);
    char *unchanged = inspect("service", "web", "{{.Version.Index}}");
    assert_string_equal(before, unchanged);
    free(before);
    free(unchanged);
    scaler_close(&s);
}

/* The proxy's log: how many requests of method whose path contains part were answered status. */
static int proxy_count(const peer *proxy, const char *method, const char *part, int status)
{
    char *path = xasprintf("%s/requests.log", proxy->path);
    FILE *log = fopen(path, "r");
    free(path);
    char line[4096];
    int count = 0;
    while (log && fgets(line, sizeof line, log)) {
        json_error_t ignored;
        json_t *entry = json_loads(line, 0, &ignored);
        const char *seen_method = json_string_value(json_object_get(entry, "method"));
        const char *seen_path = json_string_value(json_object_get(entry, "path"));
        if (seen_method && strcmp(seen_method, method) == 0 && seen_path && strstr(seen_path, part) &&
            json_integer_value(json_object_get(entry, "status")) == status)
            count++;
        json_decref(entry);
    }
    if (log)
        fclose(log);
    return count;
}

/* Scales web to replicas through the proxy, which races the scaler as race says; the proxy stays for its log. */
static void scale_through_racing_proxy(peer *proxy, const char *race, int replicas)
{
    char *options = xasprintf("--engine %s --race %s", engine.socket, race);
    assert_int_equal(peer_start(proxy, "tests/docker_proxy.py", true, options), 0);
    free(options);
    char *socket = xasprintf("%s/docker.sock", proxy->path);
    scaler s;
    scaler_open(&s, socket, "mode = \"swarm\";");
    free(socket);
    hydra_scale_status after;
    assert_int_equal(scale_to(&s, "web", replicas, &after), 0);
    assert_int_equal(after.desired, replicas);
    assert_int_equal(service_replicas("web"), replicas);
    scaler_close(&s);
}

/* Another client updates the service between the scaler's read and its write: the Engine refuses the stale version
 * (500 "update out of sequence"), the scaler reads again and sends its count with the new version, keeping what
 * the other client changed. */
static void test_docker_swarm_stale_version_is_read_again(void **state)
{
    (void)state;
    peer proxy;
    scale_through_racing_proxy(&proxy, "label", 2);
    assert_int_equal(proxy_count(&proxy, "RACE", "/services/", 200), 1);
    assert_int_equal(proxy_count(&proxy, "POST", "/update?version=", 500), 1);
    assert_int_equal(proxy_count(&proxy, "POST", "/update?version=", 200), 1);
    char *label = inspect("service", "web", "{{index .Spec.Labels \"hydra-test.race\"}}");
    assert_string_equal(label, "won");
    free(label);
    peer_stop(&proxy);
}

/* The other client set the very count the scaler wanted: read again, there is nothing left to do, and nothing more
 * is sent. */
static void test_docker_swarm_race_to_the_same_count_is_applied_once(void **state)
{
    (void)state;
    peer proxy;
    scale_through_racing_proxy(&proxy, "replicas=3", 3);
    assert_int_equal(proxy_count(&proxy, "RACE", "/services/", 200), 1);
    assert_int_equal(proxy_count(&proxy, "POST", "/update?version=", 500), 1);
    assert_int_equal(proxy_count(&proxy, "POST", "/update?version=", 200), 0);
    peer_stop(&proxy);
}

typedef struct background_scale {
    scaler *s;
    const char *target;
    int replicas;
    int result;
    hydra_scale_status after;
    char error[1024];
} background_scale;

static void *scale_in_background(void *context)
{
    background_scale *job = context;
    job->result = scale_to(job->s, job->target, job->replicas, &job->after);
    format_into(job->error, sizeof job->error, "%s", job->result == 0 ? "" : instance_error(job->s->instance));
    return NULL;
}

/* The Engine goes down: an action with a short deadline fails saying so; one with a longer deadline, under way
 * while the Engine restarts, ends executed once it is back, with the count asked for. */
static void test_docker_engine_restart_during_a_swarm_scale(void **state)
{
    (void)state;
    assert_int_equal(dockerd_stop(&engine, 20), 0);
    scaler quick;
    scaler_open(&quick, NULL, "mode = \"swarm\"; retry_deadline = 2.0;");
    assert_int_equal(scale_to(&quick, "web", 2, NULL), -1);
    assert_contains(instance_error(quick.instance), "cannot reach the Docker Engine at");
    assert_contains(instance_error(quick.instance), "(no such socket: is the Engine running?)");
    assert_contains(instance_error(quick.instance), "gave up after 2 s of retries");
    scaler_close(&quick);

    scaler s;
    scaler_open(&s, NULL, "mode = \"swarm\";");
    background_scale job = {&s, "web", 2, -1, {0}, ""};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, scale_in_background, &job), 0);
    sleep(1);
    assert_int_equal(dockerd_resume(&engine), 0);
    pthread_join(thread, NULL);
    if (job.result != 0)
        fail_msg("the scale did not survive the restart: %s", job.error);
    assert_int_equal(job.after.desired, 2);
    assert_int_equal(service_replicas("web"), 2);
    assert_int_equal(dockerd_wait_running(&engine, "web", 2, 90), 0);
    scaler_close(&s);
}

static void test_docker_unknown_service_is_a_clear_error(void **state)
{
    (void)state;
    scaler s;
    scaler_open(&s, NULL, "retry_deadline = 5.0;");
    assert_int_equal(scale_to(&s, "nosuch", 2, NULL), -1);
    assert_contains(instance_error(s.instance), "no swarm service nosuch on the Docker Engine at");
    assert_contains(instance_error(s.instance), "service nosuch not found");
    hydra_scale_status status;
    assert_int_equal(instance_scale_status(s.instance, "nosuch", &status), -1);
    assert_contains(instance_error(s.instance), "no swarm service nosuch");
    scaler_close(&s);
    scaler_open(&s, NULL, "mode = \"compose\"; compose_project = \"shop\";");
    assert_int_equal(scale_to(&s, "nosuch", 2, NULL), -1);
    assert_contains(instance_error(s.instance), "no container labelled com.docker.compose.service=nosuch and "
                                                "com.docker.compose.project=shop");
    scaler_close(&s);
}

static void test_docker_settings_are_checked(void **state)
{
    (void)state;
    support_plugin plugin;
    assert_null(support_plugin_open(&plugin, "scaler", "docker", "mode = \"kubernetes\";"));
    assert_contains(plugin.error, "setting 'mode' must be \"auto\", \"swarm\" or \"compose\", not \"kubernetes\"");
    support_plugin_close(&plugin);
    assert_null(support_plugin_open(&plugin, "scaler", "docker", "services = \"web=app, broken\";"));
    assert_contains(plugin.error, "setting 'services': \"broken\" is not target=service");
    support_plugin_close(&plugin);
    assert_null(support_plugin_open(&plugin, "scaler", "docker", "api_version = \"v1\";"));
    assert_contains(plugin.error, "setting 'api_version' must look like \"1.41\"");
    support_plugin_close(&plugin);
    assert_null(support_plugin_open(&plugin, "scaler", "docker", "timeout = 0;"));
    assert_contains(plugin.error, "setting 'timeout' must be in (0, 300]");
    support_plugin_close(&plugin);
}

/* A label on the service pauses it, as hydra.io/paused does on a Kubernetes workload. */
static void test_docker_paused_service_is_not_scaled(void **state)
{
    (void)state;
    docker_ok("service update --detach --label-add hydra.io/paused=true web");
    scaler s;
    scaler_open(&s, NULL, "mode = \"swarm\";");
    hydra_scale_status status;
    assert_int_equal(instance_scale_status(s.instance, "web", &status), 0);
    assert_true(status.paused);
    int before = service_replicas("web");
    assert_int_equal(scale_to(&s, "web", before + 1, NULL), -1);
    assert_contains(instance_error(s.instance), "paused by its label hydra.io/paused=true");
    assert_int_equal(service_replicas("web"), before);
    docker_ok("service update --detach --label-rm hydra.io/paused web");
    scaler_close(&s);
}

/* ## Compose ---------------------------------------------------------------------------------------------------- */

/* Containers of compose service worker in project shop (running ones, or all): their names, sorted, in names. */
static int compose_containers(bool all, char *names, size_t size)
{
    const char *output;
    char *arguments = xasprintf("ps %s --filter label=com.docker.compose.project=shop --filter "
                                "label=com.docker.compose.service=worker --format '{{.Names}}' | sort",
                                all ? "-a" : "");
    int status = dockerd_client(&engine, arguments, &output);
    free(arguments);
    if (status != 0)
        return -1;
    format_into(names, size, "%s", output);
    int count = 0;
    for (const char *at = output; (at = strchr(at, '\n')); at++)
        count++;
    return count;
}

static int compose_running(char *names, size_t size) { return compose_containers(false, names, size); }

static void test_docker_compose_containers_scale_up_and_down(void **state)
{
    (void)state;
    docker_ok("run -d --network none --name shop-worker-1 --label com.docker.compose.project=shop "
              "--label com.docker.compose.service=worker --label com.docker.compose.container-number=1 "
              "-e ROLE=worker " DOCKERD_IMAGE);
    scaler s;
    scaler_open(&s, NULL, "mode = \"compose\"; compose_project = \"shop\"; service = \"{target}\";");
    hydra_scale_status after;
    assert_int_equal(scale_to(&s, "worker", 3, &after), 0);
    assert_int_equal(after.desired, 3);
    assert_int_equal(after.ready, 3);
    char names[512];
    assert_int_equal(compose_running(names, sizeof names), 3);
    assert_string_equal(names, "shop-worker-1\nshop-worker-2\nshop-worker-3\n");
    char *copied = inspect("container", "shop-worker-3",
                           "{{range .Config.Env}}{{.}} {{end}}{{index .Config.Labels "
                           "\"com.docker.compose.container-number\"}} {{.HostConfig.NetworkMode}}");
    assert_contains(copied, "ROLE=worker");
    assert_contains(copied, " 3 none");
    free(copied);

    /* Down: the newest go first; the last one is stopped, not removed, so that a scale-up has a spec to copy. */
    assert_int_equal(scale_to(&s, "worker", 1, &after), 0);
    assert_int_equal(compose_running(names, sizeof names), 1);
    assert_string_equal(names, "shop-worker-1\n");
    assert_int_equal(scale_to(&s, "worker", 0, &after), 0);
    assert_int_equal(after.desired, 0);
    assert_int_equal(compose_running(names, sizeof names), 0);
    char *kept = inspect("container", "shop-worker-1", "{{.State.Status}}");
    assert_string_equal(kept, "exited");
    free(kept);
    assert_int_equal(scale_to(&s, "worker", 2, &after), 0);
    assert_int_equal(compose_running(names, sizeof names), 2);
    assert_string_equal(names, "shop-worker-1\nshop-worker-2\n");
    scaler_close(&s);
}

/* The Engine restarts while a compose scale-up is under way (its containers, without a restart policy, come back
 * stopped): the scaler starts them again and finishes the count once the Engine answers. */
static void test_docker_engine_restart_during_a_compose_scale(void **state)
{
    (void)state;
    scaler s;
    scaler_open(&s, NULL, "mode = \"compose\"; compose_project = \"shop\";");
    char names[512];
    background_scale job = {&s, "worker", 5, -1, {0}, ""};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, scale_in_background, &job), 0);
    for (int tries = 0; tries < 200 && compose_running(names, sizeof names) < 3; tries++)
        usleep(50000);
    assert_int_equal(dockerd_stop(&engine, 20), 0);
    sleep(1);
    assert_int_equal(dockerd_resume(&engine), 0);
    pthread_join(thread, NULL);
    if (job.result != 0)
        fail_msg("the compose scale did not survive the restart: %s", job.error);
    assert_int_equal(job.after.desired, 5);
    assert_int_equal(compose_running(names, sizeof names), 5);
    if (compose_containers(true, names, sizeof names) != 5) /* nothing half-made or replaced is left */
        fail_msg("containers of the service after the restart:\n%s", names);
    scaler_close(&s);
}

/* ## hydra serve ----------------------------------------------------------------------------------------------- */

/* A surge ingested over HTTP asks a person; approving it through the API scales the real swarm service. */
static void test_daemon_approval_scales_a_swarm_service(void **state)
{
    (void)state;
    assert_int_equal(dockerd_service_create(&engine, "checkout", 1), 0);
    assert_int_equal(dockerd_wait_running(&engine, "checkout", 1, 60), 0);
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char *config = xasprintf(
        "tick = \"1s\"; history = \"1h\"; horizon = \"10m\"; store = { name = \"sqlite\"; settings = { path = "
        "\"hydra.db\"; }; };\n"
        "policy = \"%s/scripts/policies/default.lua\";\n"
        "plugins = (\n"
        "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = 60; }; },\n"
        "  { kind = \"scaler\"; name = \"docker\"; settings = { socket = \"%s\"; mode = \"swarm\";\n"
        "      services = \"donations-api=checkout\"; retry_deadline = 30.0; }; },\n"
        "  { kind = \"notifier\"; name = \"log\"; }\n"
        ");\n"
        "notifiers = [ \"log\" ];\n"
        "targets = ( { name = \"donations-api\"; metric = \"requests_per_second\"; forecaster = \"seasonal_naive\";\n"
        "  scaler = \"docker\"; capacity_per_replica = 100.0; min_replicas = 1; max_replicas = 4; } );\n",
        cwd, engine.socket);
    daemon_run d;
    assert_int_equal(daemon_prepare_config(&d, config), 0);
    free(config);
    assert_int_equal(daemon_start(&d), 0);
    char id[64];
    assert_int_equal(daemon_surge_to_pending(&d, 1000, 60, id, sizeof id), 0);
    char *path = xasprintf("/api/v1/recommendations/%s/approve", id);
    reply r = daemon_call(&d, "POST", path, d.admin_key, "{\"reason\":\"the surge is real\"}", NULL);
    free(path);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executed");
    json_decref(r.json);
    path = xasprintf("/api/v1/recommendations/%s", id);
    r = daemon_call(&d, "GET", path, d.reader_key, NULL, NULL);
    free(path);
    int wanted = (int)json_integer_value(json_object_get(r.json, "to_replicas"));
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "executed");
    assert_contains(json_string_value(json_object_get(r.json, "result")), "target reports 4 desired");
    json_decref(r.json);
    assert_int_equal(wanted, 4);
    assert_int_equal(service_replicas("checkout"), 4);
    assert_int_equal(dockerd_wait_running(&engine, "checkout", 4, 90), 0);
    daemon_cleanup(&d);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_docker_swarm_status_counts_running_tasks, engine_up),
        cmocka_unit_test_setup(test_docker_swarm_scales_up_and_down, engine_up),
        cmocka_unit_test_setup(test_docker_swarm_stale_version_is_read_again, engine_up),
        cmocka_unit_test_setup(test_docker_swarm_race_to_the_same_count_is_applied_once, engine_up),
        cmocka_unit_test_setup(test_docker_unknown_service_is_a_clear_error, engine_up),
        cmocka_unit_test_setup(test_docker_settings_are_checked, engine_up),
        cmocka_unit_test_setup(test_docker_paused_service_is_not_scaled, engine_up),
        cmocka_unit_test_setup(test_docker_engine_restart_during_a_swarm_scale, engine_up),
        cmocka_unit_test_setup(test_docker_compose_containers_scale_up_and_down, engine_up),
        cmocka_unit_test_setup(test_docker_engine_restart_during_a_compose_scale, engine_up),
        cmocka_unit_test_setup(test_daemon_approval_scales_a_swarm_service, engine_up),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
