/* notifier email: sends each notification as a mail over SMTP (libcurl), with a plain-text part and an HTML part
 * holding the same facts, and Approve / Reject links for a pending recommendation.
 *
 * Settings: url (required: smtp://host:port or smtps://), from (required), to (required: one address, or several
 * separated by commas), username and password (optional, for servers that ask), timeout (5 s), retries (5),
 * backoff (1 s, doubled each retry), queue_limit (1000), drain (10 s). Delivery happens on a thread of its own
 * (common/delivery.h). */
#include "../common/delivery.h"

#include <math.h>
#include <stdio.h>

#define TEXT_MAX 8192
#define RECIPIENTS_MAX 32

typedef struct email {
    const hydra_host *host;
    char *from;
    char *to; /* as given: the To header */
    char *recipients[RECIPIENTS_MAX];
    size_t recipient_count;
    char *username, *password;
    delivery_queue queue;
} email;

static const char *headline(hydra_event event)
{
    switch (event) {
    case HYDRA_EVENT_RECOMMENDATION_PENDING: return "Approval needed";
    case HYDRA_EVENT_RECOMMENDATION_APPROVED: return "Approved";
    case HYDRA_EVENT_RECOMMENDATION_REJECTED: return "Rejected";
    case HYDRA_EVENT_RECOMMENDATION_EXPIRED: return "Expired unanswered";
    case HYDRA_EVENT_RECOMMENDATION_EXECUTED: return "Executed";
    case HYDRA_EVENT_RECOMMENDATION_FAILED: return "Failed";
    case HYDRA_EVENT_ALERT: return "Anomaly";
    }
    return NULL;
}

static void append_html(char *buffer, size_t size, const char *text)
{
    for (; text && *text; text++) {
        switch (*text) {
        case '&': delivery_append(buffer, size, "&amp;"); break;
        case '<': delivery_append(buffer, size, "&lt;"); break;
        case '>': delivery_append(buffer, size, "&gt;"); break;
        case '"': delivery_append(buffer, size, "&quot;"); break;
        default: delivery_append(buffer, size, "%c", *text);
        }
    }
}

/* A header line may not carry a line break: one in a target name or summary would start a header of its own. */
static void append_header_safe(char *buffer, size_t size, const char *text)
{
    for (; text && *text; text++)
        delivery_append(buffer, size, "%c", *text == '\r' || *text == '\n' ? ' ' : *text);
}

static char *subject_of(const hydra_notification *n, const char *title)
{
    char subject[512] = "Subject: [hydra] ";
    delivery_append(subject, sizeof subject, "%s: ", title);
    append_header_safe(subject, sizeof subject, n->target ? n->target : "-");
    if (n->event != HYDRA_EVENT_ALERT)
        delivery_append(subject, sizeof subject, " %d -> %d replicas", n->from_replicas, n->to_replicas);
    return strdup(subject);
}

static char *text_of(const hydra_notification *n, const char *title)
{
    char text[TEXT_MAX] = "";
    delivery_append(text, sizeof text, "%s: %s\n\n", title, n->summary ? n->summary : "");
    if (n->target)
        delivery_append(text, sizeof text, "Target: %s\nReplicas: %d -> %d\n", n->target, n->from_replicas,
                        n->to_replicas);
    if (isfinite(n->forecast_peak))
        delivery_append(text, sizeof text, "Forecast peak: %.0f\n", n->forecast_peak);
    if (n->reason)
        delivery_append(text, sizeof text, "Why: %s\n", n->reason);
    if (n->decided_by)
        delivery_append(text, sizeof text, "Decided by: %s\n", n->decided_by);
    if (n->approve_url && n->reject_url)
        delivery_append(text, sizeof text, "\nApprove: %s\nReject: %s\n", n->approve_url, n->reject_url);
    delivery_append(text, sizeof text, "\n%s\n", n->id ? n->id : "");
    return strdup(text);
}

static char *html_of(const hydra_notification *n, const char *title)
{
    char html[TEXT_MAX] = "<html><body><h2>";
    append_html(html, sizeof html, title);
    delivery_append(html, sizeof html, "</h2><p>");
    append_html(html, sizeof html, n->summary);
    delivery_append(html, sizeof html, "</p><table>");
    if (n->target) {
        delivery_append(html, sizeof html, "<tr><th>Target</th><td>");
        append_html(html, sizeof html, n->target);
        delivery_append(html, sizeof html, "</td></tr><tr><th>Replicas</th><td>%d &rarr; %d</td></tr>",
                        n->from_replicas, n->to_replicas);
    }
    if (isfinite(n->forecast_peak))
        delivery_append(html, sizeof html, "<tr><th>Forecast peak</th><td>%.0f</td></tr>", n->forecast_peak);
    if (n->reason) {
        delivery_append(html, sizeof html, "<tr><th>Why</th><td>");
        append_html(html, sizeof html, n->reason);
        delivery_append(html, sizeof html, "</td></tr>");
    }
    if (n->decided_by) {
        delivery_append(html, sizeof html, "<tr><th>Decided by</th><td>");
        append_html(html, sizeof html, n->decided_by);
        delivery_append(html, sizeof html, "</td></tr>");
    }
    delivery_append(html, sizeof html, "</table>");
    if (n->approve_url && n->reject_url) {
        delivery_append(html, sizeof html, "<p><a href=\"");
        append_html(html, sizeof html, n->approve_url);
        delivery_append(html, sizeof html, "\">Approve</a> &middot; <a href=\"");
        append_html(html, sizeof html, n->reject_url);
        delivery_append(html, sizeof html, "\">Reject</a></p>");
    }
    delivery_append(html, sizeof html, "<p><small>");
    append_html(html, sizeof html, n->id);
    delivery_append(html, sizeof html, "</small></p></body></html>");
    return strdup(html);
}

static int send_mail(void *context, const delivery_item *item, bool *permanent, char *why, size_t why_size)
{
    email *self = context;
    *permanent = false;
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(why, why_size, "libcurl could not start");
        return -1;
    }
    struct curl_slist *recipients = NULL, *headers = NULL;
    for (size_t i = 0; i < self->recipient_count; i++)
        recipients = curl_slist_append(recipients, self->recipients[i]);
    char from_header[512], to_header[1024];
    snprintf(from_header, sizeof from_header, "From: %s", self->from);
    snprintf(to_header, sizeof to_header, "To: %s", self->to);
    headers = curl_slist_append(headers, from_header);
    headers = curl_slist_append(headers, to_header);
    headers = curl_slist_append(headers, item->subject);
    curl_mime *mime = curl_mime_init(curl), *alternative = curl_mime_init(curl);
    curl_mimepart *part = curl_mime_addpart(alternative);
    curl_mime_data(part, item->body, CURL_ZERO_TERMINATED);
    curl_mime_type(part, "text/plain; charset=utf-8");
    part = curl_mime_addpart(alternative);
    curl_mime_data(part, item->html, CURL_ZERO_TERMINATED);
    curl_mime_type(part, "text/html; charset=utf-8");
    part = curl_mime_addpart(mime);
    curl_mime_subparts(part, alternative);
    curl_mime_type(part, "multipart/alternative");
    curl_easy_setopt(curl, CURLOPT_URL, self->queue.url);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, self->from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, self->queue.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (self->username)
        curl_easy_setopt(curl, CURLOPT_USERNAME, self->username);
    if (self->password)
        curl_easy_setopt(curl, CURLOPT_PASSWORD, self->password);
    CURLcode code = curl_easy_perform(curl);
    long reply = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply);
    curl_mime_free(mime);
    curl_slist_free_all(headers);
    curl_slist_free_all(recipients);
    curl_easy_cleanup(curl);
    if (code == CURLE_OK)
        return 0;
    /* 5xx replies are the server's final "no" (a refused recipient, say); 4xx ones are worth another try. */
    *permanent = reply >= 500 && reply < 600;
    snprintf(why, why_size, "%s (SMTP reply %ld)", curl_easy_strerror(code), reply);
    return -1;
}

static int email_notify(void *state, const hydra_notification *n)
{
    email *self = state;
    const char *title = n ? headline(n->event) : NULL;
    if (!title) {
        self->host->set_error(self->host, "notify: %s", n ? "unknown event" : "no notification");
        return -1;
    }
    return delivery_enqueue(&self->queue, n->id, subject_of(n, title), text_of(n, title), html_of(n, title));
}

static void email_free(email *self)
{
    free(self->from);
    free(self->to);
    for (size_t i = 0; i < self->recipient_count; i++)
        free(self->recipients[i]);
    free(self->username);
    free(self->password);
    free(self);
}

/* "a@x, b@y" -> "<a@x>", "<b@y>" as SMTP's RCPT TO wants them. */
static const char *split_recipients(email *self, const char *list)
{
    const char *at = list;
    while (*at) {
        while (*at == ' ' || *at == ',')
            at++;
        size_t length = strcspn(at, ", ");
        if (length == 0)
            break;
        if (self->recipient_count == RECIPIENTS_MAX)
            return "at most 32 recipients";
        char *address = malloc(length + 3);
        if (!address)
            return "out of memory";
        snprintf(address, length + 3, "<%.*s>", (int)length, at);
        self->recipients[self->recipient_count++] = address;
        if (!memchr(at, '@', length))
            return "every recipient needs an @";
        at += length;
    }
    return self->recipient_count ? NULL : "no recipient";
}

static void *email_create(const hydra_host *host)
{
    delivery_settings settings;
    const char *from = NULL, *to = NULL, *username = NULL, *password = NULL;
    if (delivery_read_settings(host, false, &settings) != 0)
        return NULL;
    int from_found = host->setting_string(host, "from", &from), to_found = host->setting_string(host, "to", &to);
    if (from_found < 0 || to_found < 0 || host->setting_string(host, "username", &username) < 0 ||
        host->setting_string(host, "password", &password) < 0)
        return NULL;
    if (from_found > 0 || !strchr(from, '@') || strpbrk(from, "\r\n")) {
        host->set_error(host, "setting 'from' is required: the sender's address");
        return NULL;
    }
    if (to_found > 0 || strpbrk(to, "\r\n")) {
        host->set_error(host, "setting 'to' is required: one address, or several separated by commas");
        return NULL;
    }
    email *self = calloc(1, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    self->host = host;
    self->from = strdup(from);
    self->to = strdup(to);
    self->username = username ? strdup(username) : NULL;
    self->password = password ? strdup(password) : NULL;
    const char *problem = split_recipients(self, to);
    if (problem) {
        host->set_error(host, "setting 'to': %s", problem);
        email_free(self);
        return NULL;
    }
    if (delivery_start(&self->queue, host, "email", &settings, send_mail, self) != 0) {
        email_free(self);
        return NULL;
    }
    return self;
}

static void email_destroy(void *state)
{
    email *self = state;
    if (!self)
        return;
    delivery_stop(&self->queue);
    email_free(self);
}

static const hydra_notifier_ops ops = {
    .size = sizeof(hydra_notifier_ops),
    .notify = email_notify,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_NOTIFIER,
    .name = "email",
    .version = "1.0.0",
    .description = "Sends each notification as a mail over SMTP, in plain text and HTML",
    .create = email_create,
    .destroy = email_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
