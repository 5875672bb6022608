/* Signed approve and reject links, end to end with the real daemon: a question's notification carries them; opening
 * one shows what it would do and decides nothing; confirming it decides once, through the store, as "link", with
 * the reason typed in; a link altered, signed by another secret, or expired decides nothing. */
#include "peers.h"
#include "servers.h"
#include "support.h"

#include "links.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define SECRET "a link secret shared by the replicas"

static daemon_run run;
static peer mail_sink; /* tests/smtp_sink.py: a real SMTP server keeping each mail as a file */

static int setup(void **state)
{
    (void)state;
    char cwd[1024];
    if (!getcwd(cwd, sizeof cwd) || peer_start(&mail_sink, "tests/smtp_sink.py", true, NULL) != 0)
        return -1;
    char *config = xasprintf(
        "store = { name = \"sqlite\"; settings = { path = \"hydra.db\"; }; };\n"
        "policy = \"%s/scripts/policies/always_ask.lua\";\n"
        "public_url = \"http://hydra.example:8080/\";\n"
        "approval = { timeout = \"30m\"; expected_latency = \"10m\"; link_secret_file = \"link.secret\"; };\n"
        "plugins = (\n"
        "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = 1440; }; },\n"
        "  { kind = \"notifier\"; name = \"log\"; },\n"
        "  { kind = \"notifier\"; name = \"email\"; settings = { url = \"smtp://127.0.0.1:%d\";\n"
        "    from = \"hydra@example.org\"; to = \"oncall@example.org\"; }; },\n"
        "  { kind = \"scaler\"; name = \"log\"; settings = { initial_replicas = 4; }; }\n"
        ");\n"
        "notifiers = [ \"log\", \"email\" ];\n"
        "targets = ( { name = \"donations-api\"; metric = \"requests_per_second\"; forecaster = \"seasonal_naive\";\n"
        "  scaler = \"log\"; min_replicas = 2; max_replicas = 60; max_step = 20; capacity_per_replica = 100.0;\n"
        "  cold_start = \"90s\"; headroom = 0.3; tolerance = 0.1; stabilization = \"10m\"; } );\n",
        cwd, mail_sink.port);
    int prepared = daemon_prepare_config(&run, config);
    free(config);
    if (prepared != 0)
        return -1;
    char *secret_path = xasprintf("%s/link.secret", run.dir);
    FILE *file = fopen(secret_path, "w");
    free(secret_path);
    if (!file)
        return -1;
    fputs(SECRET, file);
    fclose(file);
    return daemon_start(&run);
}

static int teardown(void **state)
{
    (void)state;
    daemon_cleanup(&run);
    peer_stop(&mail_sink);
    return 0;
}

/* The link of `action` the log notifier wrote for recommendation id, as a path on this daemon (the public URL's
 * host is where people reach hydra; the test reaches it on its own port). */
static char *link_path(const char *id, const char *action)
{
    char *log = support_read_file(run.log);
    assert_non_null(log);
    char *needle = xasprintf("%s=http://hydra.example:8080/api/v1/recommendations/%s/link?action=%s&", action, id,
                             action);
    char *found = strstr(log, needle);
    if (!found)
        fail_msg("no %s link for %s in the daemon's log:\n%s", action, id, log);
    const char *path = found + strlen(action) + 1 + strlen("http://hydra.example:8080");
    char *copy = xstrdup(path);
    copy[strcspn(copy, " \n")] = '\0';
    free(needle);
    free(log);
    return copy;
}

static json_t *recommendation_of(const char *id)
{
    json_t *rec = daemon_recommendation(&run, id);
    assert_non_null(rec);
    return rec;
}

static const char *field(json_t *rec, const char *name) { return json_string_value(json_object_get(rec, name)); }

/* curl's own output for a link: the status, then the page. */
static int open_link(const char *method, const char *path, const char *form, char *page, size_t size)
{
    char *command = xasprintf("curl -s -o %s/page.html -w '%%{http_code}' -X %s %s%s%s 'http://127.0.0.1:%d%s'",
                              run.dir, method, form ? "--data '" : "", form ? form : "", form ? "'" : "", run.port,
                              path);
    const char *output;
    int exit_status = support_run(command, &output);
    free(command);
    assert_int_equal(exit_status, 0);
    int status = atoi(output);
    char *page_path = xasprintf("%s/page.html", run.dir);
    char *text = support_read_file(page_path);
    free(page_path);
    format_into(page, size, "%s", text ? text : "");
    free(text);
    return status;
}

static void test_links_in_a_question_decide_once_when_confirmed(void **state)
{
    (void)state;
    char id[64], page[8192];
    assert_int_equal(daemon_surge_to_pending(&run, 3000, 60, id, sizeof id), 0);
    char *approve = link_path(id, "approve");
    assert_contains(approve, "&tenant=default&expires=");
    assert_contains(approve, "&signature=");

    /* Opening it asks; nothing is decided by a GET (a mail scanner, a chat preview). */
    assert_int_equal(open_link("GET", approve, NULL, page, sizeof page), 200);
    assert_contains(page, "Approve: scale donations-api from 4 to ");
    assert_contains(page, "<form method=\"post\">");
    json_t *rec = recommendation_of(id);
    assert_string_equal(field(rec, "state"), "pending");
    json_decref(rec);

    /* Confirming decides, as "link", through the store: the scaler runs. */
    assert_int_equal(open_link("POST", approve, "", page, sizeof page), 200);
    assert_contains(page, "Approved. The recommendation is now executed.");
    rec = recommendation_of(id);
    assert_string_equal(field(rec, "state"), "executed");
    assert_string_equal(field(rec, "decided_by"), "link");
    assert_string_equal(field(rec, "decision_reason"), "approved from a notification link");
    json_decref(rec);

    /* A second use, or the reject link of the same question, changes nothing. */
    assert_int_equal(open_link("POST", approve, "", page, sizeof page), 409);
    assert_contains(page, "It is executed, decided by link: nothing was changed by this link.");
    char *reject = link_path(id, "reject");
    assert_int_equal(open_link("POST", reject, "reason=late", page, sizeof page), 409);
    free(approve);
    free(reject);
}

static void test_a_reject_link_records_the_reason_typed_in(void **state)
{
    (void)state;
    char id[64], page[8192];
    assert_int_equal(daemon_surge_to_pending(&run, 5500, 120, id, sizeof id), 0);
    char *reject = link_path(id, "reject");
    assert_int_equal(open_link("GET", reject, NULL, page, sizeof page), 200);
    assert_contains(page, "<textarea id=\"reason\" name=\"reason\"");
    assert_int_equal(open_link("POST", reject, "reason=a+load+test%2C+not+customers", page, sizeof page), 200);
    assert_contains(page, "Rejected. The recommendation is now rejected.");
    json_t *rec = recommendation_of(id);
    assert_string_equal(field(rec, "state"), "rejected");
    assert_string_equal(field(rec, "decision_reason"), "a load test, not customers");
    json_decref(rec);
    free(reject);
}

static void test_a_link_altered_foreign_or_expired_decides_nothing(void **state)
{
    (void)state;
    char id[64], page[8192];
    assert_int_equal(daemon_surge_to_pending(&run, 8000, 180, id, sizeof id), 0);
    char *approve = link_path(id, "approve");

    const char *action = strstr(approve, "action=approve"); /* the approve link's signature on a reject */
    char *swapped = xasprintf("%.*saction=reject%s", (int)(action - approve), approve, action + 14);
    assert_int_equal(open_link("POST", swapped, "", page, sizeof page), 403);
    assert_contains(page, "not signed by this hydra");

    char *no_signature = xstrdup(approve);
    *strstr(no_signature, "&signature=") = '\0';
    assert_int_equal(open_link("GET", no_signature, NULL, page, sizeof page), 400);
    assert_contains(page, "this link is damaged");

    /* Signed by another secret; and one signed by the right secret whose time has passed. */
    link_signer other, right;
    char error[256], url[512];
    const char *other_path = support_write_temp("some other secret entirely");
    assert_int_equal(link_signer_init(&other, other_path, error, sizeof error), 0);
    remove(other_path);
    assert_int_equal(link_url(&other, "", "approve", "default", id, 4102444800LL, url, sizeof url), 0);
    assert_int_equal(open_link("POST", url, "", page, sizeof page), 403);
    const char *right_path = support_write_temp(SECRET);
    assert_int_equal(link_signer_init(&right, right_path, error, sizeof error), 0);
    remove(right_path);
    assert_int_equal(link_url(&right, "", "approve", "default", id, 1000000000LL, url, sizeof url), 0);
    assert_int_equal(open_link("POST", url, "", page, sizeof page), 410);
    assert_contains(page, "this link has expired");
    assert_int_equal(link_url(&right, "", "approve", "other", id, 4102444800LL, url, sizeof url), 0);
    assert_int_equal(open_link("POST", url, "", page, sizeof page), 404);

    json_t *rec = recommendation_of(id);
    assert_string_equal(field(rec, "state"), "pending");
    json_decref(rec);
    free(approve);
    free(swapped);
    free(no_signature);
}

/* The mail a person gets: its approve link, followed from the message, approves. */
static void test_the_approve_link_of_a_mail_works(void **state)
{
    (void)state;
    char id[64], page[8192];
    assert_int_equal(daemon_surge_to_pending(&run, 12000, 240, id, sizeof id), 0);
    char *link = NULL;
    for (int attempt = 0; attempt < 100 && !link; attempt++) { /* the notifier's thread sends it soon after */
        for (int n = 1; n < 50 && !link; n++) {
            char *path = xasprintf("%s/%d.eml", mail_sink.path, n);
            char *mail = support_read_file(path);
            free(path);
            char *line = mail && strstr(mail, id) ? strstr(mail, "Approve: http://hydra.example:8080") : NULL;
            if (line) {
                line += strlen("Approve: http://hydra.example:8080");
                link = xasprintf("%.*s", (int)strcspn(line, "\r\n"), line);
            }
            free(mail);
        }
        if (!link)
            usleep(100 * 1000);
    }
    if (!link)
        fail_msg("no mail with an approve link for %s in %s", id, mail_sink.path);
    assert_contains(link, "/link?action=approve&tenant=default&expires=");
    assert_int_equal(open_link("POST", link, "", page, sizeof page), 200);
    json_t *rec = recommendation_of(id);
    assert_string_equal(field(rec, "state"), "executed");
    json_decref(rec);
    free(link);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_links_in_a_question_decide_once_when_confirmed),
        cmocka_unit_test(test_a_reject_link_records_the_reason_typed_in),
        cmocka_unit_test(test_a_link_altered_foreign_or_expired_decides_nothing),
        cmocka_unit_test(test_the_approve_link_of_a_mail_works),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
