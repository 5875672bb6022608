/* What the dashboard gets from hydra serve on the wall clock: who a key is, the page's files (types, the app's
 * pages, nothing outside web_root), and the pushed events — read with curl -N as a browser would, in order for a
 * surge that a person approves, refused without a key, and a stop on SIGTERM that an open stream does not hold. */
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

static daemon_run run;
static char web[64];     /* the dashboard's files */
static char outside[96]; /* a file beside web_root that must never be served */

static int setup(void **state)
{
    (void)state;
    format_into(web, sizeof web, "/tmp/hydra-web-XXXXXX");
    if (!mkdtemp(web))
        return -1;
    char *folders = xasprintf("mkdir -p %s/root/assets && printf '<!doctype html><title>hydra</title>' > "
                              "%s/root/index.html && printf 'console.log(1)' > %s/root/assets/app.js && "
                              "printf 'body{}' > %s/root/assets/app.css && printf 'top-secret-contents' > %s/secret.txt && "
                              "ln -s %s/secret.txt %s/root/link.txt",
                              web, web, web, web, web, web, web);
    int made = support_run(folders, NULL);
    free(folders);
    if (made != 0)
        return -1;
    format_into(outside, sizeof outside, "%s/secret.txt", web);
    char store[512];
    format_into(store, sizeof store,
                "store = { name = \"sqlite\"; settings = { path = \"hydra.db\"; }; };\nweb_root = \"%s/root\";", web);
    const char *overrides[] = {"tick = \"2s\";", NULL};
    return daemon_prepare(&run, store, overrides) == 0 && daemon_start(&run) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    daemon_cleanup(&run);
    char *remove = xasprintf("rm -rf %s", web);
    support_run(remove, NULL);
    free(remove);
    return 0;
}

static reply call(const char *method, const char *path, const char *key, const char *body, const char *extra)
{
    reply r = daemon_call(&run, method, path, key, body, extra);
    assert_int_not_equal(r.status, -1);
    return r;
}

/* ## Session ----------------------------------------------------------------------------------------------------- */

static void test_session_says_who_the_key_is(void **state)
{
    (void)state;
    reply r = call("GET", "/api/v1/session", run.admin_key, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "tenant")), "default");
    assert_string_equal(json_string_value(json_object_get(r.json, "key")), "alice");
    char *scopes = json_dumps(json_object_get(r.json, "scopes"), JSON_COMPACT);
    assert_string_equal(scopes, "[\"ingest\",\"read\",\"approve\"]");
    free(scopes);
    json_decref(r.json);
    r = call("GET", "/api/v1/session", run.reader_key, NULL, NULL);
    scopes = json_dumps(json_object_get(r.json, "scopes"), JSON_COMPACT);
    assert_string_equal(scopes, "[\"read\"]");
    free(scopes);
    json_decref(r.json);
    r = call("GET", "/api/v1/session", NULL, NULL, NULL);
    assert_int_equal(r.status, 401);
    json_decref(r.json);
    r = call("GET", "/api/v1/session", "hydra_not-a-key", NULL, NULL);
    assert_int_equal(r.status, 401);
    json_decref(r.json);
}

/* ## The page's files --------------------------------------------------------------------------------------------- */

/* GET path without a key: status, Content-Type and body (static buffer). */
static int fetch(const char *path, char *type, size_t type_size, const char **body)
{
    char *line = xasprintf("curl -s --path-as-is -o %s/body -w '%%{http_code} %%{content_type}' "
                           "'http://127.0.0.1:%d%s'", run.dir, run.port, path);
    const char *output;
    assert_int_equal(support_run(line, &output), 0);
    free(line);
    int status = atoi(output);
    const char *space = strchr(output, ' ');
    format_into(type, type_size, "%s", space ? space + 1 : "");
    static char contents[4096];
    char *file = xasprintf("%s/body", run.dir);
    FILE *in = fopen(file, "r");
    free(file);
    contents[in ? fread(contents, 1, sizeof contents - 1, in) : 0] = '\0';
    if (in)
        fclose(in);
    *body = contents;
    return status;
}

static void test_static_files_with_their_types_and_the_app_pages(void **state)
{
    (void)state;
    char type[128];
    const char *body;
    assert_int_equal(fetch("/", type, sizeof type, &body), 200);
    assert_string_equal(type, "text/html; charset=utf-8");
    assert_contains(body, "<title>hydra</title>");
    assert_int_equal(fetch("/assets/app.js", type, sizeof type, &body), 200);
    assert_string_equal(type, "text/javascript; charset=utf-8");
    assert_string_equal(body, "console.log(1)");
    assert_int_equal(fetch("/assets/app.css", type, sizeof type, &body), 200);
    assert_string_equal(type, "text/css; charset=utf-8");
    /* a page of the app the browser asks for directly: the app itself */
    assert_int_equal(fetch("/services/donations-api", type, sizeof type, &body), 200);
    assert_contains(body, "<title>hydra</title>");
    /* a file that is not there is not the app */
    assert_int_equal(fetch("/assets/missing.js", type, sizeof type, &body), 404);
    /* the API's own unknown paths stay the API's 404 */
    assert_int_equal(fetch("/api/v1/nowhere", type, sizeof type, &body), 404);
    assert_string_equal(type, "application/json");
}

static void test_static_files_never_leave_web_root(void **state)
{
    (void)state;
    char type[128];
    const char *body;
    const char *escapes[] = {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt",
                             "/assets/%2E%2E/%2e%2e/secret.txt", "/..%2fsecret.txt", "/link.txt", "/./index.html"};
    for (size_t i = 0; i < ARRAY_LEN(escapes); i++) {
        int status = fetch(escapes[i], type, sizeof type, &body);
        if (status != 404 && status != 400)
            fail_msg("GET %s answered %d: %s", escapes[i], status, body);
        if (strstr(body, "top-secret-contents"))
            fail_msg("GET %s served the file outside web_root (%s)", escapes[i], outside);
    }
}

/* ## Events ------------------------------------------------------------------------------------------------------- */

typedef struct stream {
    pid_t pid;
    char path[128];
} stream;

/* curl -N on /api/v1/events with key, its output into a file, until stream_stop. */
static void stream_start(stream *s, const char *key, const char *name)
{
    format_into(s->path, sizeof s->path, "%s/%s", run.dir, name);
    char url[128], auth[192];
    format_into(url, sizeof url, "http://127.0.0.1:%d/api/v1/events", run.port);
    format_into(auth, sizeof auth, "Authorization: Bearer %s", key);
    s->pid = fork();
    if (s->pid == 0) {
        FILE *out = freopen(s->path, "w", stdout);
        (void)out;
        execlp("curl", "curl", "-s", "-N", "-H", auth, url, (char *)NULL);
        _exit(127);
    }
    assert_true(s->pid > 0);
}

static const char *stream_text(const stream *s)
{
    static char text[1 << 20];
    FILE *in = fopen(s->path, "r");
    text[in ? fread(text, 1, sizeof text - 1, in) : 0] = '\0';
    if (in)
        fclose(in);
    return text;
}

static void stream_stop(stream *s)
{
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
}

/* Waits up to seconds for part to appear in the stream. */
static bool stream_wait_for(const stream *s, const char *part, double seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        if (strstr(stream_text(s), part))
            return true;
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return false;
}

static void test_events_need_a_key(void **state)
{
    (void)state;
    reply r = call("GET", "/api/v1/events", NULL, NULL, "--max-time 5");
    assert_int_equal(r.status, 401);
    json_decref(r.json);
    r = call("GET", "/api/v1/events", "hydra_not-a-key", NULL, "--max-time 5");
    assert_int_equal(r.status, 401);
    json_decref(r.json);
}

/* The states of recommendation id in the order the stream told them, comma-separated; ids checked increasing. */
static void states_in_order(const char *text, const char *id, char *states, size_t size)
{
    states[0] = '\0';
    unsigned long long last_id = 0;
    for (const char *at = strstr(text, "id: "); at; at = strstr(at + 1, "\nid: ")) {
        const char *line = at[0] == '\n' ? at + 1 : at;
        unsigned long long event_id = strtoull(line + 4, NULL, 10);
        assert_true(event_id > last_id);
        last_id = event_id;
        const char *data = strstr(line, "\ndata: ");
        if (strncmp(strchr(line, '\n'), "\nevent: recommendation\n", 23) != 0 || !data)
            continue;
        json_error_t ignored;
        json_t *rec = json_loadb(data + 7, strcspn(data + 7, "\n"), 0, &ignored);
        assert_non_null(rec);
        if (strcmp(json_string_value(json_object_get(rec, "id")), id) == 0) {
            size_t used = strlen(states);
            format_into(states + used, size - used, "%s%s", used ? "," : "",
                        json_string_value(json_object_get(rec, "state")));
        }
        json_decref(rec);
    }
}

static void test_events_tell_a_surge_and_its_approval_in_order(void **state)
{
    (void)state;
    stream s;
    stream_start(&s, run.reader_key, "events-surge");
    assert_true(stream_wait_for(&s, ": connected", 5));
    char id[64];
    assert_int_equal(daemon_surge_to_pending(&run, 5000, 60, id, sizeof id), 0);
    char *approve = xasprintf("/api/v1/recommendations/%s/approve", id);
    reply r = call("POST", approve, run.admin_key, "{\"reason\": \"watched it coming\"}", NULL);
    free(approve);
    assert_int_equal(r.status, 200);
    json_decref(r.json);
    char *executed = xasprintf("\"id\":\"%s\",\"target\":\"donations-api\",\"state\":\"executed\"", id);
    assert_true(stream_wait_for(&s, executed, 10));
    free(executed);
    /* the tick of the loop (every 2 s here) and the clock come as well */
    assert_true(stream_wait_for(&s, "event: tick\ndata: {\"service\":\"donations-api\"", 10));
    assert_true(stream_wait_for(&s, "event: clock\ndata: {\"now\":", 10));
    stream_stop(&s);
    char states[256];
    states_in_order(stream_text(&s), id, states, sizeof states);
    assert_string_equal(states, "pending,approved,executing,executed");
    assert_contains(stream_text(&s), "\"decided_by\":\"alice\"");
}

static void test_events_reconnect_with_last_event_id_gets_what_it_missed(void **state)
{
    (void)state;
    stream s;
    stream_start(&s, run.reader_key, "events-first");
    assert_true(stream_wait_for(&s, "event: clock", 10));
    stream_stop(&s);
    const char *text = stream_text(&s);
    unsigned long long seen = strtoull(strstr(text, "id: ") + 4, NULL, 10);
    char *line = xasprintf("curl -s -N --max-time 3 -H 'Authorization: Bearer %s' -H 'Last-Event-ID: %llu' "
                           "'http://127.0.0.1:%d/api/v1/events'; true", run.reader_key, seen - 1, run.port);
    const char *output;
    support_run(line, &output);
    free(line);
    char expected[32];
    format_into(expected, sizeof expected, "id: %llu\n", seen);
    assert_contains(output, expected);
}

/* Waits up to seconds for the curl of s to end by itself. */
static bool stream_ends_within(stream *s, double seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
            return true;
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return false;
}

/* A stream outlives the request that opened it; revoking its key ends it within seconds. */
static void test_events_stream_ends_when_its_key_is_revoked(void **state)
{
    (void)state;
    char secret[128];
    assert_int_equal(daemon_create_key(&run, "default", "watcher", "read", secret, sizeof secret), 0);
    stream s;
    stream_start(&s, secret, "events-revoked");
    assert_true(stream_wait_for(&s, ": connected", 5));
    char *revoke = xasprintf("%s/hydra keys revoke --config %s --tenant default --name watcher 2>/dev/null",
                             support_build_dir(), run.config); /* the config names the store */
    assert_int_equal(support_run(revoke, NULL), 0);
    free(revoke);
    bool ended = stream_ends_within(&s, 15);
    if (!ended)
        stream_stop(&s);
    assert_true(ended);
    reply r = call("GET", "/api/v1/events", secret, NULL, "--max-time 5");
    assert_int_equal(r.status, 401);
    json_decref(r.json);
}

/* SIGTERM while a stream is open: the daemon ends the stream and exits at once, cleanly. */
static void test_daemon_stops_promptly_with_a_stream_open(void **state)
{
    (void)state;
    stream s;
    stream_start(&s, run.reader_key, "events-stop");
    assert_true(stream_wait_for(&s, ": connected", 5));
    kill(run.pid, SIGTERM);
    int status = -1;
    pid_t done = 0;
    for (int i = 0; i < 100 && done == 0; i++) {
        done = waitpid(run.pid, &status, WNOHANG);
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (done != run.pid)
        fail_msg("hydra serve did not stop within 10 s of SIGTERM with a stream open");
    run.pid = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int curl_status = 0;
    for (int i = 0; i < 50 && waitpid(s.pid, &curl_status, WNOHANG) == 0; i++) {
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    kill(s.pid, SIGKILL);
    waitpid(s.pid, NULL, 0);
    assert_int_equal(daemon_start(&run), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_says_who_the_key_is),
        cmocka_unit_test(test_static_files_with_their_types_and_the_app_pages),
        cmocka_unit_test(test_static_files_never_leave_web_root),
        cmocka_unit_test(test_events_need_a_key),
        cmocka_unit_test(test_events_tell_a_surge_and_its_approval_in_order),
        cmocka_unit_test(test_events_reconnect_with_last_event_id_gets_what_it_missed),
        cmocka_unit_test(test_events_stream_ends_when_its_key_is_revoked),
        cmocka_unit_test(test_daemon_stops_promptly_with_a_stream_open),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
