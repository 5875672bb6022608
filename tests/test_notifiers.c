/* The notifiers against real receivers: tests/receiver.py (Python's http.server) for webhook's signed JSON,
 * retries with backoff, giving up with a log line, never blocking on a slow or absent receiver, and slack's message;
 * tests/smtp_sink.py (aiosmtpd) for email's two-part mail. */
#include "peers.h"
#include "support.h"

#include "instance.h"
#include "util.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define SECRET "a-shared-secret-of-some-length"

/* tests/receiver.py with options, logging the requests it gets to its file. */
static void receiver_start(peer *r, const char *options)
{
    assert_int_equal(peer_start(r, "tests/receiver.py", false, options), 0);
}

/* The requests the receiver logged, as a JSON array. */
static json_t *received(const peer *r)
{
    json_t *all = json_array();
    FILE *file = fopen(r->path, "r");
    char line[65536];
    while (file && fgets(line, sizeof line, file)) {
        json_error_t error;
        json_t *request = json_loads(line, 0, &error);
        assert_non_null(request);
        json_array_append_new(all, request);
    }
    if (file)
        fclose(file);
    return all;
}

static const char *header_of(json_t *request, const char *name)
{
    return json_string_value(json_object_get(json_object_get(request, "headers"), name));
}

static hydra_notification pending_notification(void)
{
    return (hydra_notification){
        .event = HYDRA_EVENT_RECOMMENDATION_PENDING,
        .at = 1802044800,
        .id = "rec-7",
        .target = "donations-api",
        .from_replicas = 12,
        .to_replicas = 40,
        .forecast_peak = 3900,
        .summary = "Predicted Suhoor surge <before 02:40>",
        .reason = "forecast peak 3900 at 02:40 UTC needs 40 replicas",
        .approve_url = "http://hydra.example/api/v1/recommendations/rec-7/approve",
        .reject_url = "http://hydra.example/api/v1/recommendations/rec-7/reject",
    };
}

static plugin_instance *open_notifier(support_plugin *plugin, const char *name, const peer *r,
                                      const char *more)
{
    char *settings = xasprintf("url = \"http://127.0.0.1:%d/hook\"; %s", r ? r->port : 1, more ? more : "");
    plugin_instance *instance = support_plugin_open(plugin, "notifier", name, settings);
    free(settings);
    if (!instance)
        fail_msg("%s", plugin->error);
    return instance;
}

static void test_webhook_posts_json_a_receiver_can_verify(void **state)
{
    (void)state;
    peer r;
    receiver_start(&r, NULL);
    support_plugin plugin;
    plugin_instance *webhook = open_notifier(&plugin, "webhook", &r, "secret = \"" SECRET "\";");
    hydra_notification n = pending_notification();
    assert_int_equal(instance_notify(webhook, &n), 0);
    support_plugin_close(&plugin); /* waits for the delivery thread */
    json_t *requests = received(&r);
    assert_int_equal(json_array_size(requests), 1);
    json_t *request = json_array_get(requests, 0);
    const char *body = json_string_value(json_object_get(request, "body"));
    const char *timestamp = header_of(request, "X-Hydra-Timestamp");
    const char *signature = header_of(request, "X-Hydra-Signature");
    assert_non_null(timestamp);
    assert_non_null(signature);
    /* What a receiver does: HMAC-SHA256 over "<timestamp>.<body>" with the shared secret. */
    char *signed_text = xasprintf("%s.%s", timestamp, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)signed_text, strlen(signed_text), mac, &length);
    free(signed_text);
    char expected[128] = "sha256=";
    for (unsigned int i = 0; i < length; i++)
        snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%02x", mac[i]);
    assert_string_equal(signature, expected);
    json_error_t error;
    json_t *document = json_loads(body, 0, &error);
    assert_non_null(document);
    assert_string_equal(json_string_value(json_object_get(document, "event")), "recommendation.pending");
    assert_string_equal(json_string_value(json_object_get(document, "target")), "donations-api");
    assert_int_equal(json_integer_value(json_object_get(document, "to_replicas")), 40);
    assert_string_equal(json_string_value(json_object_get(document, "approve_url")), n.approve_url);
    json_decref(document);
    json_decref(requests);
    peer_stop(&r);
}

static void test_webhook_retries_with_backoff_until_the_receiver_takes_it(void **state)
{
    (void)state;
    peer r;
    receiver_start(&r, "--fail-first 2");
    support_plugin plugin;
    plugin_instance *webhook =
        open_notifier(&plugin, "webhook", &r, "secret = \"" SECRET "\"; retries = 3; backoff = 0.05;");
    hydra_notification n = pending_notification();
    support_log_start();
    assert_int_equal(instance_notify(webhook, &n), 0);
    support_plugin_close(&plugin);
    json_t *requests = received(&r);
    assert_int_equal(json_array_size(requests), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(requests, 2), "status")), 200);
    assert_null(strstr(support_log_text(), "failed"));
    support_log_stop();
    json_decref(requests);
    peer_stop(&r);
}

static void test_webhook_gives_up_after_the_retries_and_says_so(void **state)
{
    (void)state;
    peer r;
    receiver_start(&r, "--status 503");
    support_plugin plugin;
    plugin_instance *webhook =
        open_notifier(&plugin, "webhook", &r, "secret = \"" SECRET "\"; retries = 1; backoff = 0.01;");
    hydra_notification n = pending_notification();
    support_log_start();
    assert_int_equal(instance_notify(webhook, &n), 0);
    support_plugin_close(&plugin);
    assert_contains(support_log_text(), "notification rec-7 failed after 2 attempts: the receiver answered 503");
    support_log_stop();
    json_t *requests = received(&r);
    assert_int_equal(json_array_size(requests), 2);
    json_decref(requests);
    peer_stop(&r);

    /* A receiver nobody runs: the same, with curl's reason. */
    webhook = open_notifier(&plugin, "webhook", NULL, "secret = \"" SECRET "\"; retries = 0;");
    support_log_start();
    assert_int_equal(instance_notify(webhook, &n), 0);
    support_plugin_close(&plugin);
    assert_contains(support_log_text(), "notification rec-7 failed after 1 attempt: ");
    support_log_stop();
}

/* notify() only queues: it is back before a receiver that takes 2 s has answered. */
static void test_webhook_never_waits_for_a_slow_receiver(void **state)
{
    (void)state;
    peer r;
    receiver_start(&r, "--delay 2");
    support_plugin plugin;
    plugin_instance *webhook = open_notifier(&plugin, "webhook", &r, "secret = \"" SECRET "\";");
    hydra_notification n = pending_notification();
    assert_int_equal(instance_notify(webhook, &n), 0);
    json_t *requests = received(&r);
    assert_int_equal(json_array_size(requests), 0);
    json_decref(requests);
    support_plugin_close(&plugin);
    requests = received(&r);
    assert_int_equal(json_array_size(requests), 1);
    json_decref(requests);
    peer_stop(&r);
}

static void test_http_notifiers_refuse_bad_settings(void **state)
{
    (void)state;
    support_plugin plugin;
    assert_null(support_plugin_open(&plugin, "notifier", "webhook", "secret = \"" SECRET "\";"));
    assert_contains(plugin.error, "setting 'url' is required");
    support_plugin_close(&plugin);
    assert_null(support_plugin_open(&plugin, "notifier", "webhook", "url = \"http://127.0.0.1:1/\"; secret = \"x\";"));
    assert_contains(plugin.error, "setting 'secret' is required, at least 16 characters");
    support_plugin_close(&plugin);
    assert_null(support_plugin_open(&plugin, "notifier", "slack", "url = \"ftp://example\";"));
    assert_contains(plugin.error, "http:// or https://");
    support_plugin_close(&plugin);
    assert_null(support_plugin_open(&plugin, "notifier", "slack", "url = \"http://127.0.0.1:1/\"; retries = 99;"));
    assert_contains(plugin.error, "setting 'retries' must be from 0 to 20");
    support_plugin_close(&plugin);
}

static void test_slack_message_has_the_facts_and_the_links(void **state)
{
    (void)state;
    peer r;
    receiver_start(&r, NULL);
    support_plugin plugin;
    plugin_instance *slack = open_notifier(&plugin, "slack", &r, NULL);
    hydra_notification n = pending_notification();
    assert_int_equal(instance_notify(slack, &n), 0);
    support_plugin_close(&plugin);
    json_t *requests = received(&r);
    assert_int_equal(json_array_size(requests), 1);
    json_error_t error;
    json_t *body = json_loads(json_string_value(json_object_get(json_array_get(requests, 0), "body")), 0, &error);
    assert_non_null(body);
    const char *text = json_string_value(json_object_get(body, "text"));
    assert_non_null(text);
    assert_contains(text, "Approval needed");
    assert_contains(text, "Predicted Suhoor surge &lt;before 02:40&gt;");
    assert_contains(text, "`donations-api` 12 → 40 replicas, forecast peak 3900");
    assert_contains(text, "<http://hydra.example/api/v1/recommendations/rec-7/approve|Approve>");
    assert_contains(text, "<http://hydra.example/api/v1/recommendations/rec-7/reject|Reject>");
    json_decref(body);
    json_decref(requests);
    peer_stop(&r);
}

static const char *read_text(const char *path)
{
    static char text[65536];
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    text[fread(text, 1, sizeof text - 1, file)] = '\0';
    fclose(file);
    return text;
}

static void test_email_sends_a_mail_with_text_and_html_parts(void **state)
{
    (void)state;
    peer sink;
    assert_int_equal(peer_start(&sink, "tests/smtp_sink.py", true, NULL), 0);
    support_plugin plugin;
    char *settings = xasprintf("url = \"smtp://127.0.0.1:%d\"; from = \"hydra@example.org\";\n"
                               "to = \"oncall@example.org, lead@example.org\";", sink.port);
    plugin_instance *mail = support_plugin_open(&plugin, "notifier", "email", settings);
    free(settings);
    if (!mail)
        fail_msg("%s", plugin.error);
    hydra_notification n = pending_notification();
    n.target = "donations-api\nBcc: someone@evil.example"; /* a line break must not start a header */
    assert_int_equal(instance_notify(mail, &n), 0);
    support_plugin_close(&plugin);
    char *path = xasprintf("%s/1.envelope", sink.path);
    const char *envelope = read_text(path);
    free(path);
    assert_string_equal(envelope, "hydra@example.org\noncall@example.org\nlead@example.org\n");
    path = xasprintf("%s/1.eml", sink.path);
    const char *message = read_text(path);
    free(path);
    assert_contains(message, "Subject: [hydra] Approval needed: donations-api Bcc: someone@evil.example 12 -> 40");
    const char *body_start = strstr(message, "\r\n\r\n");
    assert_non_null(body_start);
    char *headers = xasprintf("%.*s", (int)(body_start - message), message);
    assert_null(strstr(headers, "\nBcc:"));
    free(headers);
    assert_contains(message, "multipart/alternative");
    assert_contains(message, "Content-Type: text/plain; charset=utf-8");
    assert_contains(message, "Approve: http://hydra.example/api/v1/recommendations/rec-7/approve");
    assert_contains(message, "Content-Type: text/html; charset=utf-8");
    assert_contains(message, "<a href=\"http://hydra.example/api/v1/recommendations/rec-7/approve\">Approve</a>");
    assert_contains(message, "Predicted Suhoor surge &lt;before 02:40&gt;");
    peer_stop(&sink);
}

static void test_email_refuses_bad_settings_and_reports_an_absent_server(void **state)
{
    (void)state;
    support_plugin plugin;
    assert_null(support_plugin_open(&plugin, "notifier", "email", "url = \"http://x\"; from = \"a@b\"; to = \"c@d\";"));
    assert_contains(plugin.error, "smtp:// or smtps://");
    support_plugin_close(&plugin);
    assert_null(support_plugin_open(&plugin, "notifier", "email", "url = \"smtp://127.0.0.1:1\"; to = \"c@d\";"));
    assert_contains(plugin.error, "setting 'from' is required");
    support_plugin_close(&plugin);
    assert_null(support_plugin_open(&plugin, "notifier", "email",
                                    "url = \"smtp://127.0.0.1:1\"; from = \"a@b\"; to = \"c@d, nobody\";"));
    assert_contains(plugin.error, "setting 'to': every recipient needs an @");
    support_plugin_close(&plugin);
    plugin_instance *mail = support_plugin_open(&plugin, "notifier", "email",
                                                "url = \"smtp://127.0.0.1:1\"; from = \"a@b\"; to = \"c@d\"; retries = 0;");
    assert_non_null(mail);
    hydra_notification n = pending_notification();
    support_log_start();
    assert_int_equal(instance_notify(mail, &n), 0);
    support_plugin_close(&plugin);
    assert_contains(support_log_text(), "notifier email: notification rec-7 failed after 1 attempt: ");
    support_log_stop();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook_posts_json_a_receiver_can_verify),
        cmocka_unit_test(test_webhook_retries_with_backoff_until_the_receiver_takes_it),
        cmocka_unit_test(test_webhook_gives_up_after_the_retries_and_says_so),
        cmocka_unit_test(test_webhook_never_waits_for_a_slow_receiver),
        cmocka_unit_test(test_http_notifiers_refuse_bad_settings),
        cmocka_unit_test(test_slack_message_has_the_facts_and_the_links),
        cmocka_unit_test(test_email_sends_a_mail_with_text_and_html_parts),
        cmocka_unit_test(test_email_refuses_bad_settings_and_reports_an_absent_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
