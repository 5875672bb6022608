/* notifier slack: posts each notification to a Slack incoming webhook as a message a person reads in the channel:
 * what is proposed or happened, the forecast, the reason, and Approve / Reject links for a pending one.
 *
 * Settings: url (required: the incoming webhook's address), timeout (5 s), retries (5), backoff (1 s, doubled each
 * retry), queue_limit (1000), drain (10 s: at shutdown, how long retries may go on). Delivery happens on a thread
 * of its own (common/delivery.h). */
#include "../common/delivery.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>

#define MESSAGE_MAX 4096

typedef struct slack {
    const hydra_host *host;
    delivery_queue queue;
} slack;

static const char *headline(hydra_event event)
{
    switch (event) {
    case HYDRA_EVENT_RECOMMENDATION_PENDING: return ":raising_hand: Approval needed";
    case HYDRA_EVENT_RECOMMENDATION_APPROVED: return ":white_check_mark: Approved";
    case HYDRA_EVENT_RECOMMENDATION_REJECTED: return ":no_entry_sign: Rejected";
    case HYDRA_EVENT_RECOMMENDATION_EXPIRED: return ":hourglass: Expired unanswered";
    case HYDRA_EVENT_RECOMMENDATION_EXECUTED: return ":rocket: Executed";
    case HYDRA_EVENT_RECOMMENDATION_FAILED: return ":x: Failed";
    case HYDRA_EVENT_ALERT: return ":warning: Anomaly";
    }
    return NULL;
}

/* Slack's mrkdwn: &, < and > must be escaped in text that is not a link. */
static void append_escaped(char *buffer, size_t size, const char *text)
{
    for (; text && *text; text++) {
        if (*text == '&')
            delivery_append(buffer, size, "&amp;");
        else if (*text == '<')
            delivery_append(buffer, size, "&lt;");
        else if (*text == '>')
            delivery_append(buffer, size, "&gt;");
        else
            delivery_append(buffer, size, "%c", *text);
    }
}

static char *message_of(const hydra_notification *n, const char *title)
{
    char text[MESSAGE_MAX] = "";
    delivery_append(text, sizeof text, "*%s*: ", title);
    append_escaped(text, sizeof text, n->summary ? n->summary : n->target);
    if (n->target && n->event != HYDRA_EVENT_ALERT) {
        delivery_append(text, sizeof text, "\n`");
        append_escaped(text, sizeof text, n->target);
        delivery_append(text, sizeof text, "` %d → %d replicas", n->from_replicas, n->to_replicas);
    }
    if (isfinite(n->forecast_peak))
        delivery_append(text, sizeof text, ", forecast peak %.0f", n->forecast_peak);
    if (n->reason) {
        delivery_append(text, sizeof text, "\n>");
        append_escaped(text, sizeof text, n->reason);
    }
    if (n->decided_by) {
        delivery_append(text, sizeof text, "\ndecided by ");
        append_escaped(text, sizeof text, n->decided_by);
    }
    if (n->approve_url && n->reject_url)
        delivery_append(text, sizeof text, "\n<%s|Approve> · <%s|Reject>", n->approve_url, n->reject_url);
    if (n->id)
        delivery_append(text, sizeof text, "\n_%s_", n->id);
    json_t *body = json_pack("{s:s}", "text", text);
    char *dumped = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return dumped;
}

static int post(void *context, const delivery_item *item, bool *permanent, char *why, size_t why_size)
{
    slack *self = context;
    return delivery_http_post(self->queue.url, self->queue.timeout_ms, NULL, item, permanent, why, why_size);
}

static int slack_notify(void *state, const hydra_notification *n)
{
    slack *self = state;
    const char *title = n ? headline(n->event) : NULL;
    if (!title) {
        self->host->set_error(self->host, "notify: %s", n ? "unknown event" : "no notification");
        return -1;
    }
    return delivery_enqueue(&self->queue, n->id, NULL, message_of(n, title), NULL);
}

static void *slack_create(const hydra_host *host)
{
    delivery_settings settings;
    if (delivery_read_settings(host, true, &settings) != 0)
        return NULL;
    slack *self = calloc(1, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    self->host = host;
    if (delivery_start(&self->queue, host, "slack", &settings, post, self) != 0) {
        free(self);
        return NULL;
    }
    return self;
}

static void slack_destroy(void *state)
{
    slack *self = state;
    if (!self)
        return;
    delivery_stop(&self->queue);
    free(self);
}

static const hydra_notifier_ops ops = {
    .size = sizeof(hydra_notifier_ops),
    .notify = slack_notify,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_NOTIFIER,
    .name = "slack",
    .version = "1.0.0",
    .description = "Posts each notification to a Slack incoming webhook, with Approve and Reject links",
    .create = slack_create,
    .destroy = slack_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
