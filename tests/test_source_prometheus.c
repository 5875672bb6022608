/* The prometheus source against a real Prometheus (Debian's 2.42) scraping a fixture exporter (tests/exporter.py)
 * every second: range queries, NaN as gaps, a query of several series refused, Prometheus' own errors passed on. */
#include "instance.h"
#include "peers.h"
#include "servers.h"
#include "support.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
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

static peer exporter;
static daemon_run hydra_daemon;
static pid_t prometheus_pid;
static int prometheus_port;
static char prometheus_dir[64];

typedef struct pulled {
    size_t count;
    double ts[4096];
    double value[4096];
} pulled;

static int keep(void *context, const hydra_sample *sample)
{
    pulled *p = context;
    if (p->count < sizeof p->ts / sizeof p->ts[0]) {
        p->ts[p->count] = sample->ts;
        p->value[p->count++] = sample->value;
    }
    return 0;
}

static int pull(const char *settings, const char *service, pulled *out, char *error, size_t error_size)
{
    support_plugin plugin;
    plugin_instance *source = support_plugin_open(&plugin, "source", "prometheus", settings);
    if (!source) {
        format_into(error, error_size, "%s", plugin.error);
        support_plugin_close(&plugin);
        return -2;
    }
    memset(out, 0, sizeof *out);
    double now = (double)time(NULL);
    int status = instance_pull(source, service, "requests_per_second", now - 120, now + 1, 1, keep, out);
    format_into(error, error_size, "%s", status == 0 ? "" : instance_error(source));
    support_plugin_close(&plugin);
    return status;
}

static char *server_settings(const char *more)
{
    return xasprintf("url = \"http://127.0.0.1:%d/\"; %s", prometheus_port, more ? more : "");
}

/* hydra serve with one target, web, pulled from the Prometheus about to start (it retries until that answers). */
static int start_daemon(void)
{
    if (daemon_prepare(&hydra_daemon, NULL, NULL) != 0)
        return -1;
    char cwd[1024];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    format_into(hydra_daemon.config, sizeof hydra_daemon.config, "%s/pulling.cfg", hydra_daemon.dir);
    FILE *config = fopen(hydra_daemon.config, "w");
    if (!config)
        return -1;
    fprintf(config,
            "tick = \"1s\"; history = \"1h\"; horizon = \"10m\"; store = { name = \"sqlite\"; };\n"
            "policy = \"%s/scripts/policies/default.lua\";\n"
            "plugins = (\n"
            "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = 60; }; },\n"
            "  { kind = \"scaler\"; name = \"log\"; },\n"
            "  { kind = \"notifier\"; name = \"log\"; },\n"
            "  { kind = \"source\"; name = \"prometheus\"; settings = { url = \"http://127.0.0.1:%d\"; }; }\n"
            ");\n"
            "notifiers = [ \"log\" ];\n"
            "targets = ( { name = \"web\"; forecaster = \"seasonal_naive\"; scaler = \"log\"; source = \"prometheus\";\n"
            "  capacity_per_replica = 100.0; min_replicas = 1; max_replicas = 10; } );\n",
            cwd, prometheus_port);
    fclose(config);
    return daemon_start(&hydra_daemon);
}

static int start_servers(void **state)
{
    (void)state;
    if (peer_start(&exporter, "tests/exporter.py", false, NULL) != 0)
        return -1;
    prometheus_port = peer_free_port();
    if (start_daemon() != 0)
        return -1;
    format_into(prometheus_dir, sizeof prometheus_dir, "/tmp/hydra-prometheus-XXXXXX");
    if (!mkdtemp(prometheus_dir))
        return -1;
    char *config_path = xasprintf("%s/prometheus.yml", prometheus_dir);
    FILE *config = fopen(config_path, "w");
    if (!config)
        return -1;
    fprintf(config,
            "global: { scrape_interval: 1s, evaluation_interval: 1s }\n"
            "scrape_configs:\n"
            "  - job_name: fixture\n"
            "    static_configs: [ { targets: ['127.0.0.1:%d'] } ]\n"
            "  - job_name: hydra\n"
            "    metrics_path: /metrics\n"
            "    authorization: { type: Bearer, credentials: '%s' }\n"
            "    static_configs: [ { targets: ['127.0.0.1:%d'] } ]\n",
            exporter.port, hydra_daemon.reader_key, hydra_daemon.port);
    fclose(config);
    prometheus_pid = fork();
    if (prometheus_pid == 0) {
        char *log = xasprintf("%s/prometheus.log", prometheus_dir);
        if (!freopen(log, "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(126);
        char *config_flag = xasprintf("--config.file=%s", config_path);
        char *data_flag = xasprintf("--storage.tsdb.path=%s/data", prometheus_dir);
        char *listen_flag = xasprintf("--web.listen-address=127.0.0.1:%d", prometheus_port);
        execl("/usr/bin/prometheus", "prometheus", config_flag, data_flag, listen_flag, (char *)NULL);
        _exit(127);
    }
    free(config_path);
    /* Ready, and "web" scraped a few times: up to 30 s on a busy machine. */
    char error[1024];
    pulled samples;
    char *settings = server_settings(NULL);
    for (int tries = 0; tries < 120; tries++) {
        if (pull(settings, "web", &samples, error, sizeof error) == 0 && samples.count >= 4) {
            free(settings);
            return 0;
        }
        usleep(250000);
    }
    free(settings);
    fprintf(stderr, "test_source_prometheus: Prometheus never answered with samples: %s\n", error);
    return -1;
}

static int stop_servers(void **state)
{
    (void)state;
    if (prometheus_pid > 0) {
        kill(prometheus_pid, SIGTERM);
        waitpid(prometheus_pid, NULL, 0);
    }
    daemon_cleanup(&hydra_daemon);
    peer_stop(&exporter);
    char *line = xasprintf("rm -rf %s", prometheus_dir);
    support_run(line, NULL);
    free(line);
    return 0;
}

static void test_prometheus_pulls_a_range_of_one_series(void **state)
{
    (void)state;
    pulled samples;
    char error[1024];
    char *settings = server_settings(NULL);
    assert_int_equal(pull(settings, "web", &samples, error, sizeof error), 0);
    free(settings);
    assert_true(samples.count >= 4);
    double now = (double)time(NULL);
    for (size_t i = 0; i < samples.count; i++) {
        assert_true(samples.ts[i] >= now - 125 && samples.ts[i] <= now + 1);
        assert_true(fmod(samples.value[i], 10) == 0); /* the exporter's values are multiples of ten */
        if (i > 0) {
            assert_true(samples.ts[i] > samples.ts[i - 1]);
            assert_true(samples.value[i] >= samples.value[i - 1]);
        }
    }
}

static void test_prometheus_nan_values_are_gaps_not_samples(void **state)
{
    (void)state;
    pulled samples;
    char error[1024];
    char *settings = server_settings(NULL);
    assert_int_equal(pull(settings, "broken", &samples, error, sizeof error), 0);
    free(settings);
    assert_int_equal(samples.count, 0);
}

static void test_prometheus_query_template_and_several_series(void **state)
{
    (void)state;
    pulled samples;
    char error[1024];
    char *settings = server_settings(NULL);
    assert_int_equal(pull(settings, "twin", &samples, error, sizeof error), -1);
    free(settings);
    assert_contains(error, "gives 2 series, not one: aggregate it");
    settings = server_settings("query = \"sum({metric}{service=\\\"{service}\\\"})\";");
    assert_int_equal(pull(settings, "twin", &samples, error, sizeof error), 0);
    free(settings);
    assert_true(samples.count >= 1);
    assert_true(samples.value[samples.count - 1] == 2);
}

static void test_prometheus_errors_say_what_went_wrong(void **state)
{
    (void)state;
    pulled samples;
    char error[1024];
    char *settings = server_settings("query = \"sum(\";");
    assert_int_equal(pull(settings, "web", &samples, error, sizeof error), -1);
    free(settings);
    assert_contains(error, "refused sum( (HTTP 400, bad_data)");
    settings = xasprintf("url = \"http://127.0.0.1:%d\";", peer_free_port());
    assert_int_equal(pull(settings, "web", &samples, error, sizeof error), -1);
    free(settings);
    assert_contains(error, "Couldn't connect");
    assert_int_equal(pull("query = \"x\";", "web", &samples, error, sizeof error), -2);
    assert_contains(error, "setting 'url' is required");
}

/* hydra serve with a target whose source is Prometheus: each tick pulls what came since the last, stores it and
 * feeds the controller, as pushed samples would. */
static void test_daemon_pulls_a_target_from_prometheus(void **state)
{
    (void)state;
    size_t stored = 0;
    for (int tries = 0; tries < 80 && stored < 3; tries++) {
        usleep(250000);
        reply r = daemon_call(&hydra_daemon, "GET", "/api/v1/metrics/live?service=web", hydra_daemon.reader_key, NULL, NULL);
        stored = json_array_size(json_object_get(r.json, "samples"));
        json_decref(r.json);
    }
    assert_true(stored >= 3);
    reply r = daemon_call(&hydra_daemon, "GET", "/api/v1/services", hydra_daemon.reader_key, NULL, NULL);
    json_t *web = json_array_get(json_object_get(r.json, "services"), 0);
    assert_string_equal(json_string_value(json_object_get(web, "name")), "web");
    double load = json_number_value(json_object_get(web, "load"));
    assert_true(load >= 10 && fmod(load, 10) == 0); /* the exporter's value, not a made-up one */
    json_decref(r.json);
}

/* The same Prometheus scrapes the daemon's own /metrics, with a read key as its bearer token. */
static void test_prometheus_scrapes_hydras_own_metrics(void **state)
{
    (void)state;
    pulled samples;
    char error[1024];
    char *settings = server_settings("query = \"max(hydra_ticks_total{job=\\\"hydra\\\"})\";");
    for (int tries = 0; tries < 40; tries++) {
        if (pull(settings, "any", &samples, error, sizeof error) == 0 && samples.count > 0 &&
            samples.value[samples.count - 1] > 0)
            break;
        usleep(250000);
    }
    free(settings);
    assert_true(samples.count > 0);
    assert_true(samples.value[samples.count - 1] > 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_pulls_a_range_of_one_series),
        cmocka_unit_test(test_prometheus_nan_values_are_gaps_not_samples),
        cmocka_unit_test(test_prometheus_query_template_and_several_series),
        cmocka_unit_test(test_prometheus_errors_say_what_went_wrong),
        cmocka_unit_test(test_daemon_pulls_a_target_from_prometheus),
        cmocka_unit_test(test_prometheus_scrapes_hydras_own_metrics),
    };
    return cmocka_run_group_tests(tests, start_servers, stop_servers);
}
