/* The dashboard in a real browser: hydra serve (the real daemon, serving the built page from build/web) and Debian's
 * headless Chromium driven by tests/browser/dashboard.mjs (playwright-core). The script signs in, watches live
 * points arrive, makes surges, approves one card and rejects another, checks a read-only key and the phone width,
 * and saves screenshots; this test then checks in the store, through the API, what the clicks did.
 *
 * It runs in the plain pass only: what it tests is the page and its clicks, not the daemon's memory, and the
 * daemon's routes run under ASan in their own tests (test_daemon_events, test_live_demo). */
#include "servers.h"
#include "support.h"

#include "util.h"

#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define SERVICE "donations-api"
#define BROWSER_SECONDS 150 /* the script's own limit is well inside it; CI time matters */
#define HISTORY_SECONDS 240

static daemon_run run;
static char revoked_key[128]; /* read; the browser script revokes it while its page is open */
static char screenshots[512];
static const char *browser_output;
static int browser_status = -1;

/* Two services ticking every second on the wall clock; a forecaster with a one-minute season, so a few minutes of
 * history give a forecast and its interval; the calendar of Cairo; the page from the build folder. */
static char *test_config(const char *root)
{
    return xasprintf(
        "log_level = \"info\";\n"
        "tick = \"1s\";\nhorizon = \"3m\";\nhistory = \"1h\";\n"
        "clock = { mode = \"real\"; };\n"
        "approval = { timeout = \"30m\"; expected_latency = \"20s\"; };\n"
        "lua = { memory_limit_mb = 64; instruction_limit = 50000000; };\n"
        "policy = \"%s/scripts/policies/default.lua\";\n"
        "listen = \"127.0.0.1:8080\";\ntenant = \"default\";\n"
        "store = { name = \"sqlite\"; settings = { path = \"hydra.db\"; }; };\n"
        "web_root = \"%s/%s/web\";\n"
        "location = { latitude = 30.0444; longitude = 31.2357; utc_offset = 2.0; method = \"egyptian\"; };\n"
        "plugins = (\n"
        "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = 60; }; },\n"
        "  { kind = \"anomaly\"; name = \"robust_z\"; settings = { window = 120; threshold = 3.5; }; },\n"
        "  { kind = \"notifier\"; name = \"log\"; },\n"
        "  { kind = \"scaler\"; name = \"log\"; settings = { initial_replicas = 4; }; }\n"
        ");\n"
        "notifiers = [ \"log\" ];\n"
        "targets = (\n"
        "  { name = \"" SERVICE "\"; forecaster = \"seasonal_naive\"; anomaly = \"robust_z\"; scaler = \"log\";\n"
        "    min_replicas = 2; max_replicas = 60; max_step = 20; capacity_per_replica = 100.0; cold_start = \"10s\";\n"
        "    headroom = 0.3; tolerance = 0.1; stabilization = \"10m\"; },\n"
        "  { name = \"zakat-api\"; forecaster = \"seasonal_naive\"; scaler = \"log\";\n"
        "    min_replicas = 2; max_replicas = 20; max_step = 10; capacity_per_replica = 100.0; cold_start = \"10s\";\n"
        "    headroom = 0.3; tolerance = 0.1; stabilization = \"10m\"; }\n"
        ");\n",
        root, root, support_build_dir());
}

/* Minutes of history, so the forecaster has a season before the page opens: the browser script sends the rest. */
static int send_history(void)
{
    long now = (long)time(NULL);
    char *body = xstrdup("[");
    for (long at = now - HISTORY_SECONDS; at <= now; at++) {
        for (int s = 0; s < 2; s++) {
            double value = 300 + 40 * sin(2 * M_PI * (double)at / 60) + 10 * sin((double)at * 7.3);
            char *more = xasprintf("%s%s{\"service\":\"%s\",\"ts\":%ld,\"value\":%.1f}", body,
                                   body[1] ? "," : "", s ? "zakat-api" : SERVICE, at, value);
            free(body);
            body = more;
        }
    }
    char *whole = xasprintf("%s]", body);
    reply r = daemon_call(&run, "POST", "/api/v1/ingest/metrics", run.admin_key, whole, NULL);
    free(body);
    free(whole);
    json_decref(r.json);
    return r.status == 200 ? 0 : -1;
}

static bool sanitized(void)
{
    const char *sanitize = getenv("HYDRA_SANITIZE");
    return sanitize && sanitize[0];
}

/* Things a fresh machine gets from `make test` (Debian's chromium, npm ci in web/, make web): missing, the test
 * fails and says what to run, it is never skipped for it. */
static const char *missing_prerequisite(void)
{
    static char what[256];
    struct stat st;
    char *page = xasprintf("%s/web/index.html", support_build_dir());
    bool built = stat(page, &st) == 0;
    free(page);
    if (!built)
        format_into(what, sizeof what, "%s/web/index.html is missing: run make web", support_build_dir());
    else if (access("/usr/bin/chromium", X_OK) != 0)
        format_into(what, sizeof what, "/usr/bin/chromium is missing: make deps installs Debian's chromium");
    else if (stat("web/node_modules/playwright-core/package.json", &st) != 0)
        format_into(what, sizeof what, "web/node_modules/playwright-core is missing: make web runs npm ci");
    else
        return NULL;
    return what;
}

static int setup(void **state)
{
    (void)state;
    if (sanitized())
        return 0;
    char root[400];
    if (!getcwd(root, sizeof root))
        return -1;
    format_into(screenshots, sizeof screenshots, "%s/%s/screenshots", root, support_build_dir());
    char *config = test_config(root);
    int status = daemon_prepare_config(&run, config);
    free(config);
    if (status != 0 || daemon_create_key(&run, "default", "carol", "read", revoked_key, sizeof revoked_key) != 0 ||
        daemon_start(&run) != 0 || send_history() != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!sanitized())
        daemon_cleanup(&run);
    return 0;
}

/* Runs the browser script once (the first test to need it); its output and exit status are kept for the rest. */
static void run_browser(void)
{
    if (sanitized())
        skip(); /* said once, in main */
    if (browser_status >= 0)
        return;
    const char *missing = missing_prerequisite();
    if (missing)
        fail_msg("%s", missing);
    char *line = xasprintf("HYDRA_URL=http://127.0.0.1:%d HYDRA_ADMIN_KEY=%s HYDRA_READER_KEY=%s "
                           "HYDRA_SCREENSHOTS=%s HYDRA_SERVICE=%s HYDRA_FEED_SERVICES=%s,zakat-api "
                           "HYDRA_REVOKED_KEY=%s HYDRA_REVOKE='%s/hydra keys revoke --tenant default --name carol "
                           "--config %s' timeout -k 5 %d node tests/browser/dashboard.mjs",
                           run.port, run.admin_key, run.reader_key, screenshots, SERVICE, SERVICE, revoked_key,
                           support_build_dir(), run.config, BROWSER_SECONDS);
    browser_status = support_run(line, &browser_output);
    free(line);
    browser_output = xstrdup(browser_output);
    printf("%s", browser_output);
}

/* The id the script printed after a word ("approved ID"), or "" when it printed none. */
static const char *id_after(const char *word)
{
    static char id[4][64];
    static unsigned next;
    char *slot = id[next++ % 4];
    char *prefix = xasprintf("\n%s ", word);
    const char *found = strstr(browser_output, prefix);
    format_into(slot, sizeof id[0], "%.*s", found ? (int)strcspn(found + strlen(prefix), " \n") : 0,
                found ? found + strlen(prefix) : "");
    free(prefix);
    return slot;
}

static json_t *recommendation(const char *id)
{
    json_t *rec = daemon_recommendation(&run, id);
    assert_non_null(rec);
    return rec;
}

static const char *text_of(json_t *object, const char *key) { return json_string_value(json_object_get(object, key)); }

static void test_dashboard_script_passes_every_step(void **state)
{
    (void)state;
    run_browser();
    assert_int_equal(browser_status, 0);
    assert_contains(browser_output, "ok - sign-in");
    assert_contains(browser_output, "ok - live points arrive without a reload");
    assert_contains(browser_output, "ok - a surge produced card");
    assert_contains(browser_output, "ok - phone width 390x844");
    assert_contains(browser_output, "ok - a key revoked while its page is open signs the page out");
    assert_null(strstr(browser_output, "not ok"));
}

static void test_dashboard_approve_click_executes_in_the_store(void **state)
{
    (void)state;
    run_browser();
    const char *id = id_after("approved");
    assert_true(id[0]);
    json_t *rec = recommendation(id);
    assert_string_equal(text_of(rec, "state"), "executed");
    assert_string_equal(text_of(rec, "decided_by"), "alice");
    assert_string_equal(text_of(rec, "target"), SERVICE);
    json_decref(rec);
}

static void test_dashboard_reject_click_records_the_reason(void **state)
{
    (void)state;
    run_browser();
    const char *id = id_after("rejected");
    assert_true(id[0]);
    json_t *rec = recommendation(id);
    assert_string_equal(text_of(rec, "state"), "rejected");
    assert_string_equal(text_of(rec, "decided_by"), "alice");
    assert_string_equal(text_of(rec, "decision_reason"), "a load test of the payment provider, not real demand");
    json_decref(rec);
}

static void test_dashboard_read_only_key_cannot_approve(void **state)
{
    (void)state;
    run_browser();
    const char *id = id_after("readonly");
    assert_true(id[0]);
    assert_contains(browser_output, "ok - a read-only key sees the card without Approve or Reject");
    char *path = xasprintf("/api/v1/recommendations/%s/approve", id);
    reply r = daemon_call(&run, "POST", path, run.reader_key, NULL, NULL);
    free(path);
    assert_int_equal(r.status, 403);
    json_decref(r.json);
}

static void test_dashboard_screenshots_are_saved(void **state)
{
    (void)state;
    run_browser();
    static const char *const names[] = {"overview.png", "action-center.png", "overview-phone.png",
                                        "live-overview.png", "live-action-center.png", "live-overview-phone.png"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        char *file = xasprintf("%s/%s", screenshots, names[i]);
        FILE *png = fopen(file, "rb");
        if (!png)
            fail_msg("no screenshot %s", file);
        unsigned char magic[8] = {0};
        size_t got = fread(magic, 1, sizeof magic, png);
        fseek(png, 0, SEEK_END);
        long size = ftell(png);
        fclose(png);
        assert_int_equal(got, 8);
        assert_memory_equal(magic, "\x89PNG\r\n\x1a\n", 8);
        assert_true(size > 10000);
        free(file);
    }
}

/* The page's event stream reader in Node against a server of the script's own: order, Last-Event-ID, backoff. It
 * needs neither the daemon nor a browser, so it runs in both passes. */
static void test_dashboard_event_reader_resumes_and_backs_off(void **state)
{
    (void)state;
    const char *output;
    int status = support_run("timeout -k 5 60 node tests/browser/stream.mjs", &output);
    printf("%s", output);
    assert_int_equal(status, 0);
    assert_contains(output, "ok - every reconnect resumes with Last-Event-ID");
    assert_contains(output, "ok - pauses between attempts");
    assert_contains(output, "ok - a refused key (401) stops the reader");
}

/* ## The live demo: the story, with the scenario as the traffic ------------------------------------------------ */

#define LIVE_START_DAY "20.9" /* late evening of a Ramadan day: the Suhoor surge is asked about within a minute */

static int simulate_reports(const char *folder)
{
    char *line = xasprintf("mkdir -p %s && %s/hydra simulate scripts/scenarios/ramadan.lua --days 2 --quiet "
                           "--json %s/ramadan.json && %s/hydra simulate scripts/scenarios/ramadan.lua --days 2 --quiet "
                           "--json %s/policies.json --compare scripts/policies/default.lua,scripts/policies/auto.lua "
                           ">/dev/null",
                           folder, support_build_dir(), folder, support_build_dir(), folder);
    const char *output;
    int status = support_run(line, &output);
    free(line);
    if (status != 0)
        fprintf(stderr, "simulate_reports: %s\n", output);
    return status;
}

static void test_dashboard_live_demo_suhoor_surge_approved_in_the_page(void **state)
{
    (void)state;
    if (sanitized())
        skip();
    daemon_run live;
    assert_int_equal(daemon_prepare(&live, NULL, NULL), 0);
    char reports[128];
    format_into(reports, sizeof reports, "%s/reports", live.dir);
    assert_int_equal(simulate_reports(reports), 0);
    /* at the live demo's own speed (600 simulated seconds a second), as make live-demo shows it */
    const char *args[] = {"--scenario", "scripts/scenarios/ramadan.lua", "--start-day", LIVE_START_DAY, "--reports",
                          reports, NULL};
    memcpy(live.serve_args, args, sizeof args);
    assert_int_equal(daemon_start(&live), 0);
    char *line = xasprintf("HYDRA_URL=http://127.0.0.1:%d HYDRA_ADMIN_KEY=%s HYDRA_SCREENSHOTS=%s HYDRA_SERVICE=%s "
                           "timeout -k 5 %d node tests/browser/live_demo.mjs",
                           live.port, live.admin_key, screenshots, SERVICE, BROWSER_SECONDS);
    const char *output;
    int status = support_run(line, &output);
    free(line);
    printf("%s", output);
    char *kept = xstrdup(output);
    const char *approved = strstr(kept, "\napproved ");
    char id[64] = "";
    if (approved)
        format_into(id, sizeof id, "%.*s", (int)strcspn(approved + 10, " \n"), approved + 10);
    char *path = xasprintf("/api/v1/recommendations/%s", id);
    reply rec = daemon_call(&live, "GET", path, live.reader_key, NULL, NULL);
    reply audit = daemon_call(&live, "GET", "/api/v1/audit?limit=50", live.reader_key, NULL, NULL);
    free(path);
    daemon_cleanup(&live);
    assert_int_equal(status, 0);
    assert_contains(kept, "ok - live demo: points arrive from the scenario");
    assert_contains(kept, "ok - the Suhoor surge is asked about: Predicted Suhoor surge");
    assert_contains(kept, "ok - reports:");
    assert_true(id[0]);
    assert_int_equal(rec.status, 200);
    assert_string_equal(text_of(rec.json, "state"), "executed");
    assert_string_equal(text_of(rec.json, "decided_by"), "alice");
    assert_int_equal(audit.status, 200);
    size_t i;
    json_t *entry;
    bool audited = false;
    json_array_foreach(json_object_get(audit.json, "entries"), i, entry)
        audited |= strcmp(text_of(entry, "action"), "approve") == 0 && strcmp(text_of(entry, "subject"), id) == 0 &&
                   strcmp(text_of(entry, "actor"), "alice") == 0;
    assert_true(audited);
    json_decref(rec.json);
    json_decref(audit.json);
    free(kept);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dashboard_script_passes_every_step),
        cmocka_unit_test(test_dashboard_approve_click_executes_in_the_store),
        cmocka_unit_test(test_dashboard_reject_click_records_the_reason),
        cmocka_unit_test(test_dashboard_read_only_key_cannot_approve),
        cmocka_unit_test(test_dashboard_event_reader_resumes_and_backs_off),
        cmocka_unit_test(test_dashboard_live_demo_suhoor_surge_approved_in_the_page),
        cmocka_unit_test(test_dashboard_screenshots_are_saved),
    };
    if (sanitized())
        printf("test_dashboard: the tests in Chromium are skipped under ASan/UBSan on purpose: they test the page, "
               "which the plain pass did; the daemon's dashboard routes run under the sanitizers in "
               "test_daemon_events and test_live_demo\n");
    return cmocka_run_group_tests(tests, setup, teardown);
}
