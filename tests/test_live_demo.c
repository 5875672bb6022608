/* hydra serve --scenario as a person runs it: the real binary on a virtual clock 600 times faster, a scenario with
 * one surge. Its samples come in through the ingest path and the clock moves; the surge is asked about; approving
 * it through the API makes the simulated cluster scale; the audit log says who approved; the calendar route agrees
 * with simulator/calendar.c; reports are listed and served; a stalled event reader is dropped without holding the
 * ticks back; a bad scenario is refused naming file:line. */
#include "servers.h"
#include "support.h"

#include "calendar.h"
#include "util.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define LIVE_FROM 1802217600.0 /* 2027-02-10T00:00:00Z: the scenario's start plus --start-day 1 */
#define SURGE_AT (LIVE_FROM + 1800)

static daemon_run run;
static char scenario_path[128], reports[128];

/* One service in Cairo: calm traffic, then from SURGE_AT a surge far beyond what its replicas serve. */
static const char scenario_text[] =
    "scenario = {\n"
    "  name = \"live surge\", start = \"2027-02-09T00:00:00Z\", days = 30, step = 60, seed = 3,\n"
    "  location = { latitude = 30.0444, longitude = 31.2357, utc_offset = 2, method = \"egyptian\" },\n"
    "  services = { { name = \"web\", capacity_per_replica = 100, cold_start = 120, min_replicas = 2,\n"
    "                 max_replicas = 40, initial_replicas = 2, latency_slo_ms = 300, base_latency_ms = 40 } },\n"
    "}\n"
    "function traffic(t, service)\n"
    "  if t >= 1802219400 then return 2500 end\n"
    "  return 120 + 10 * math.sin(t / 3600)\n"
    "end\n";

/* An hourly seasonal naive forecaster (it forecasts after an hour), the default policy. */
static const char config_format[] =
    "log_level = \"info\";\n"
    "tick = \"1m\";\n"
    "policy = \"%s/scripts/policies/default.lua\";\n"
    "store = { name = \"sqlite\"; settings = { path = \"hydra.db\"; }; };\n"
    "plugins = (\n"
    "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = 60; }; },\n"
    "  { kind = \"notifier\"; name = \"log\"; },\n"
    "  { kind = \"scaler\"; name = \"log\"; }\n"
    ");\n"
    "notifiers = [ \"log\" ];\n"
    "targets = ( { name = \"web\"; forecaster = \"seasonal_naive\"; scaler = \"log\"; min_replicas = 2;\n"
    "              max_replicas = 40; capacity_per_replica = 100.0; cold_start = \"2m\"; headroom = 0.3; } );\n";

static void write_text(const char *path, const char *text)
{
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(text, out);
    fclose(out);
}

static int prepare(daemon_run *d, const char *speed)
{
    char cwd[1024];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    char *config = xasprintf(config_format, cwd);
    int status = daemon_prepare_config(d, config);
    free(config);
    if (status != 0)
        return -1;
    format_into(d->data, sizeof d->data, "%s/hydra.db", d->dir); /* where the keys are: no demo key is made */
    format_into(scenario_path, sizeof scenario_path, "%s/surge.lua", d->dir);
    format_into(reports, sizeof reports, "%s/reports", d->dir);
    FILE *out = fopen(scenario_path, "w");
    if (!out || fputs(scenario_text, out) < 0 || fclose(out) != 0 || mkdir(reports, 0700) != 0)
        return -1;
    const char *args[] = {"--scenario", scenario_path, "--speed", speed, "--start-day", "1", "--reports", reports};
    memcpy(d->serve_args, args, sizeof args);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (prepare(&run, "600") != 0) {
        fprintf(stderr, "cannot prepare the live demo in %s\n", run.dir);
        return -1;
    }
    return daemon_start(&run) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    daemon_cleanup(&run);
    return 0;
}

static reply call(const char *method, const char *path, const char *key, const char *body)
{
    reply r = daemon_call(&run, method, path, key, body, NULL);
    assert_int_not_equal(r.status, -1);
    return r;
}

static void pause_seconds(double seconds)
{
    struct timespec pause = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
    nanosleep(&pause, NULL);
}

/* The newest sample of web the store holds: its time. */
static double newest_sample(void)
{
    char *path = xasprintf("/api/v1/metrics/live?service=web&since=%.0f", LIVE_FROM - 3600);
    reply r = call("GET", path, run.reader_key, NULL);
    free(path);
    assert_int_equal(r.status, 200);
    json_t *samples = json_object_get(r.json, "samples");
    double ts = json_number_value(json_object_get(json_array_get(samples, json_array_size(samples) - 1), "ts"));
    json_decref(r.json);
    return ts;
}

static double ticks_so_far(void)
{
    char *text = daemon_text(&run, "/metrics", run.reader_key);
    assert_non_null(text);
    double ticks = support_sample_value(text, "hydra_ticks_total{instance=\"core\"}");
    free(text);
    return ticks;
}

static void test_live_demo_ingests_the_scenario_on_the_virtual_clock(void **state)
{
    (void)state;
    double first = newest_sample(), ticks = ticks_so_far();
    assert_true(first > LIVE_FROM - 3600); /* the history before --start-day is in the store too */
    pause_seconds(1.5);
    double later = newest_sample();
    /* 1.5 s of wall time at 600x is 15 simulated minutes; a busy machine may manage fewer */
    if (!(later - first >= 300 && later - first <= 1500))
        fail_msg("the virtual clock moved %.0f s in 1.5 s of wall time at speed 600", later - first);
    assert_true(ticks_so_far() >= ticks + 5);
    assert_true(fmod(later - LIVE_FROM, 60) == 0); /* one sample a step, at the step's end */
}

/* The pending recommendation of web, waiting up to seconds for one. */
static json_t *wait_for_recommendation(const char *status, double seconds)
{
    for (int i = 0; i < seconds * 5; i++) {
        char *path = xasprintf("/api/v1/recommendations?status=%s", status);
        reply r = call("GET", path, run.reader_key, NULL);
        free(path);
        json_t *first = json_array_get(json_object_get(r.json, "recommendations"), 0);
        if (first) {
            json_incref(first);
            json_decref(r.json);
            return first;
        }
        json_decref(r.json);
        pause_seconds(0.2);
    }
    return NULL;
}

static json_t *service_web(void)
{
    reply r = call("GET", "/api/v1/services", run.reader_key, NULL);
    json_t *web = json_incref(json_array_get(json_object_get(r.json, "services"), 0));
    json_decref(r.json);
    return web;
}

static void test_live_demo_surge_is_asked_and_approval_scales_the_cluster(void **state)
{
    (void)state;
    json_t *pending = wait_for_recommendation("pending", 30);
    assert_non_null(pending);
    const char *id = json_string_value(json_object_get(pending, "id"));
    int to = (int)json_integer_value(json_object_get(pending, "to_replicas"));
    assert_true(json_number_value(json_object_get(pending, "created_at")) >= SURGE_AT - 4 * 3600);
    assert_true(to > 20);
    /* it waits for a person, who has a wall minute at least: 600 simulated minutes here */
    double wait = json_number_value(json_object_get(pending, "expires_at")) -
                  json_number_value(json_object_get(pending, "created_at"));
    assert_true(wait >= 60 * 600);
    char *approve = xasprintf("/api/v1/recommendations/%s/approve", id);
    reply r = call("POST", approve, run.admin_key, "{\"reason\": \"the surge is real\"}");
    free(approve);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    r.json = NULL;
    char *show = xasprintf("/api/v1/recommendations/%s", id);
    const char *state_now = "";
    for (int i = 0; i < 50 && strcmp(state_now, "executed") != 0; i++, pause_seconds(0.2)) {
        json_decref(r.json);
        r = call("GET", show, run.reader_key, NULL);
        state_now = json_string_value(json_object_get(r.json, "state"));
    }
    assert_string_equal(state_now, "executed");
    assert_string_equal(json_string_value(json_object_get(r.json, "decided_by")), "alice");
    json_decref(r.json);
    free(show);
    /* the simulated cluster boots the replicas: ready after the cold start (2 simulated minutes, 0.2 s here) */
    json_t *web = NULL;
    for (int i = 0; i < 50; i++, pause_seconds(0.2)) {
        json_decref(web);
        web = service_web();
        if (json_integer_value(json_object_get(web, "ready")) >= to)
            break;
    }
    assert_true(json_integer_value(json_object_get(web, "desired")) >= to);
    assert_true(json_integer_value(json_object_get(web, "ready")) >= to);
    json_decref(web);
    json_decref(pending);
}

/* GET path answers 400 naming field. */
static void assert_refused_naming(const char *path, const char *field)
{
    reply r = call("GET", path, run.reader_key, NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(json_string_value(json_object_get(r.json, "field")), field);
    json_decref(r.json);
}

static void test_live_demo_audit_lists_the_approval_with_its_actor(void **state)
{
    (void)state;
    reply r = call("GET", "/api/v1/audit?limit=10", run.reader_key, NULL);
    assert_int_equal(r.status, 200);
    json_t *entry = NULL, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(r.json, "entries"), i, entry)
        if (!found && strcmp(json_string_value(json_object_get(entry, "action")), "approve") == 0)
            found = entry;
    assert_non_null(found);
    assert_string_equal(json_string_value(json_object_get(found, "actor")), "alice");
    assert_string_equal(json_string_value(json_object_get(found, "detail")), "the surge is real");
    assert_true(strncmp(json_string_value(json_object_get(found, "subject")), "rec-", 4) == 0);
    assert_true(json_number_value(json_object_get(found, "at")) >= SURGE_AT - 4 * 3600); /* the virtual clock */
    json_decref(r.json);
    assert_refused_naming("/api/v1/audit?limit=0", "limit");
}

static void test_live_demo_calendar_agrees_with_the_simulator_calendar(void **state)
{
    (void)state;
    char *path = xasprintf("/api/v1/calendar?from=%.0f&to=%.0f", LIVE_FROM, LIVE_FROM + 2 * 86400);
    reply r = call("GET", path, run.reader_key, NULL);
    free(path);
    assert_int_equal(r.status, 200);
    json_t *days = json_object_get(r.json, "days");
    assert_true(json_array_size(days) >= 3);
    calendar_location cairo = {30.0444, 31.2357, 2, CALENDAR_METHOD_EGYPTIAN, 0};
    json_t *day;
    size_t i;
    json_array_foreach(days, i, day) {
        int year, month, date;
        assert_int_equal(sscanf(json_string_value(json_object_get(day, "date")), "%d-%d-%d", &year, &month, &date),
                         3);
        calendar_day_times times;
        assert_int_equal(calendar_prayer_times(&cairo, year, month, date, &times), 0);
        assert_true(fabs(json_number_value(json_object_get(day, "imsak")) - times.imsak) < 1);
        assert_true(fabs(json_number_value(json_object_get(day, "maghrib")) - times.maghrib) < 1);
        assert_true(fabs(json_number_value(json_object_get(day, "fajr")) - times.fajr) < 1);
        calendar_hijri hijri;
        assert_int_equal(calendar_hijri_from_unix(times.dhuhr, &cairo, &hijri), 0);
        char expected[16];
        format_into(expected, sizeof expected, "%04d-%02d-%02d", hijri.year, hijri.month, hijri.day);
        assert_string_equal(json_string_value(json_object_get(day, "hijri")), expected);
        int ramadan = calendar_ramadan_day(times.dhuhr, &cairo);
        assert_int_equal(json_integer_value(json_object_get(day, "ramadan_day")), ramadan);
        assert_true(ramadan > 0); /* 10-12 February 2027 are days 3-5 of Ramadan 1448 */
    }
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "location"), "timezone")),
                        "UTC+02:00");
    json_decref(r.json);
    assert_refused_naming("/api/v1/calendar?from=soon", "from");
}

static void test_live_demo_reports_are_listed_and_served(void **state)
{
    (void)state;
    char *simulate = xasprintf("%s/hydra simulate scripts/scenarios/steady.lua --days 1 --quiet --json %s/steady.json "
                               ">/dev/null 2>&1 && %s/hydra simulate scripts/scenarios/steady.lua --days 1 --quiet "
                               "--compare scripts/policies/default.lua,scripts/policies/auto.lua --json "
                               "%s/policies.json >/dev/null 2>&1",
                               support_build_dir(), reports, support_build_dir(), reports);
    assert_int_equal(support_run(simulate, NULL), 0);
    free(simulate);
    reply r = call("GET", "/api/v1/reports", run.reader_key, NULL);
    assert_int_equal(r.status, 200);
    char *listed = json_dumps(json_object_get(r.json, "reports"), JSON_COMPACT);
    assert_contains(listed, "\"name\":\"steady\",\"kind\":\"simulation\"");
    assert_contains(listed, "\"name\":\"policies\",\"kind\":\"comparison\"");
    free(listed);
    json_decref(r.json);
    r = call("GET", "/api/v1/reports/policies", run.reader_key, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "runs")), 2);
    json_decref(r.json);
    r = call("GET", "/api/v1/reports/steady", run.reader_key, NULL);
    assert_int_equal(json_integer_value(json_object_get(r.json, "seed")), 7);
    json_decref(r.json);
    r = call("GET", "/api/v1/reports/..%2fhydra", run.reader_key, NULL);
    assert_int_equal(r.status, 404);
    json_decref(r.json);
    r = call("GET", "/api/v1/reports/nope", run.reader_key, NULL);
    assert_int_equal(r.status, 404);
    json_decref(r.json);
}

/* A client that asks for events and never reads: dropped once far enough behind, and the ticks go on meanwhile. */
static void test_live_demo_a_stalled_event_reader_is_dropped_and_ticks_go_on(void **state)
{
    (void)state;
    int reader = socket(AF_INET, SOCK_STREAM, 0);
    int small = 2048;
    setsockopt(reader, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)run.port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    assert_int_equal(connect(reader, (struct sockaddr *)&address, sizeof address), 0);
    char *request = xasprintf("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n",
                              run.reader_key);
    assert_true(write(reader, request, strlen(request)) == (ssize_t)strlen(request));
    free(request);
    double ticks = ticks_so_far();
    bool dropped = false;
    for (int i = 0; i < 120 && !dropped; i++) {
        pause_seconds(0.5);
        const char *log;
        char *grep = xasprintf("grep -c 'events: subscriber [0-9]* dropped' %s; true", run.log);
        support_run(grep, &log);
        free(grep);
        dropped = atoi(log) > 0;
    }
    assert_true(dropped);
    double after = ticks_so_far();
    pause_seconds(1);
    assert_true(ticks_so_far() > after); /* still ticking with the stalled client connected */
    assert_true(after > ticks + 20);
    close(reader);
}

static void test_live_demo_refuses_a_bad_scenario_naming_file_and_line(void **state)
{
    (void)state;
    char bad[160];
    format_into(bad, sizeof bad, "%s/bad.lua", run.dir);
    write_text(bad, "scenario = { name = \"bad\", start = \"2027-02-09T00:00:00Z\", days = 2, step = 60,\n"
                    "  services = { { name = \"web\", capacity_per_replica = 100 } } }\n"
                    "function traffic(t, service) return t +* 2 end\n");
    char *line = xasprintf("%s/hydra serve --config %s --listen 127.0.0.1:0 --data %s/bad.db --scenario %s",
                           support_build_dir(), run.config, run.dir, bad);
    const char *output;
    int status = support_run(line, &output);
    free(line);
    assert_int_not_equal(status, 0);
    assert_contains(output, "bad.lua:3:");
    line = xasprintf("%s/hydra serve --config %s --speed 60", support_build_dir(), run.config);
    status = support_run(line, &output);
    free(line);
    assert_int_not_equal(status, 0);
    assert_contains(output, "--scenario");
    line = xasprintf("%s/hydra serve --config %s --scenario %s --start-day 90 --data %s/late.db --listen 127.0.0.1:0",
                     support_build_dir(), run.config, scenario_path, run.dir);
    status = support_run(line, &output);
    free(line);
    assert_int_not_equal(status, 0);
    assert_contains(output, "--start-day 90");
}

/* hydra serve --scenario with no --data: a SQLite store of its own (named in the log), a demo key printed for it,
 * and the folder gone after the stop. */
static void test_live_demo_without_data_keeps_a_store_and_key_of_its_own(void **state)
{
    (void)state;
    char log[192];
    format_into(log, sizeof log, "%s/own-store.log", run.dir);
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that crashes leaves no daemon behind */
        dup2(pipe_fds[1], STDOUT_FILENO);
        FILE *err = freopen(log, "w", stderr);
        (void)err;
        char *binary = xasprintf("%s/hydra", support_build_dir());
        execl(binary, binary, "serve", "--config", run.config, "--listen", "127.0.0.1:0", "--scenario", scenario_path,
              (char *)NULL);
        _exit(127);
    }
    close(pipe_fds[1]);
    FILE *out = fdopen(pipe_fds[0], "r");
    char key_line[256] = "", listen_line[256] = "", key[128] = "";
    int port = 0;
    assert_non_null(fgets(key_line, sizeof key_line, out));
    assert_non_null(fgets(listen_line, sizeof listen_line, out));
    fclose(out);
    assert_int_equal(sscanf(key_line, "hydra: demo key (read, approve): %127s", key), 1);
    assert_int_equal(sscanf(listen_line, "hydra: listening on http://127.0.0.1:%d/api/v1", &port), 1);
    daemon_run own = run;
    own.port = port;
    reply r = daemon_call(&own, "GET", "/api/v1/session", key, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "key")), "demo");
    json_decref(r.json);
    const char *found;
    char *grep = xasprintf("grep -o '/tmp/hydra-live-[A-Za-z0-9]*' %s | head -1", log);
    assert_int_equal(support_run(grep, &found), 0);
    free(grep);
    char folder[64];
    format_into(folder, sizeof folder, "%.*s", (int)strcspn(found, "\n"), found);
    assert_true(strncmp(folder, "/tmp/hydra-live-", 16) == 0);
    assert_int_equal(access(folder, F_OK), 0);
    kill(pid, SIGTERM);
    int status = -1;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_not_equal(access(folder, F_OK), 0);
}

/* Last: SIGTERM ends the demo at once with status 0 (under ASan, that also says nothing leaked). */
static void test_live_demo_stops_cleanly_on_sigterm(void **state)
{
    (void)state;
    double began = (double)time(NULL);
    int status = daemon_stop(&run, SIGTERM);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true((double)time(NULL) - began < 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_demo_ingests_the_scenario_on_the_virtual_clock),
        cmocka_unit_test(test_live_demo_surge_is_asked_and_approval_scales_the_cluster),
        cmocka_unit_test(test_live_demo_audit_lists_the_approval_with_its_actor),
        cmocka_unit_test(test_live_demo_calendar_agrees_with_the_simulator_calendar),
        cmocka_unit_test(test_live_demo_reports_are_listed_and_served),
        cmocka_unit_test(test_live_demo_a_stalled_event_reader_is_dropped_and_ticks_go_on),
        cmocka_unit_test(test_live_demo_refuses_a_bad_scenario_naming_file_and_line),
        cmocka_unit_test(test_live_demo_without_data_keeps_a_store_and_key_of_its_own),
        cmocka_unit_test(test_live_demo_stops_cleanly_on_sigterm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
