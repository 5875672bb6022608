/* notifier webhook: POSTs each notification as JSON to a URL, signed so the receiver can tell it came from this
 * hydra and was not replayed later.
 *
 *   X-Hydra-Timestamp: <Unix seconds when this attempt was sent>
 *   X-Hydra-Signature: sha256=<hex HMAC-SHA256 with the shared secret over "<timestamp>.<body>">
 *
 * Settings: url (required), secret (required, at least 16 characters), timeout (5 s), retries (5), backoff (1 s,
 * doubled each retry), queue_limit (1000), drain (10 s: at shutdown, how long retries may go on). Delivery happens
 * on a thread of its own (common/delivery.h). */
#include "../common/delivery.h"

#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>

#define SECRET_MIN 16

typedef struct webhook {
    const hydra_host *host;
    char *secret;
    delivery_queue queue;
} webhook;

static const char *event_name(hydra_event event)
{
    switch (event) {
    case HYDRA_EVENT_RECOMMENDATION_PENDING: return "recommendation.pending";
    case HYDRA_EVENT_RECOMMENDATION_APPROVED: return "recommendation.approved";
    case HYDRA_EVENT_RECOMMENDATION_REJECTED: return "recommendation.rejected";
    case HYDRA_EVENT_RECOMMENDATION_EXPIRED: return "recommendation.expired";
    case HYDRA_EVENT_RECOMMENDATION_EXECUTED: return "recommendation.executed";
    case HYDRA_EVENT_RECOMMENDATION_FAILED: return "recommendation.failed";
    case HYDRA_EVENT_ALERT: return "alert";
    }
    return NULL;
}

static void set_text(json_t *object, const char *key, const char *value)
{
    json_object_set_new(object, key, value ? json_string(value) : json_null());
}

static char *body_of(const hydra_notification *n, const char *event)
{
    json_t *body = json_object();
    json_object_set_new(body, "event", json_string(event));
    json_object_set_new(body, "at", json_real(n->at));
    set_text(body, "id", n->id);
    set_text(body, "target", n->target);
    json_object_set_new(body, "from_replicas", json_integer(n->from_replicas));
    json_object_set_new(body, "to_replicas", json_integer(n->to_replicas));
    json_object_set_new(body, "forecast_peak", isfinite(n->forecast_peak) ? json_real(n->forecast_peak) : json_null());
    set_text(body, "summary", n->summary);
    set_text(body, "reason", n->reason);
    set_text(body, "decided_by", n->decided_by);
    set_text(body, "approve_url", n->approve_url);
    set_text(body, "reject_url", n->reject_url);
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(body);
    return text;
}

/* The timestamp is the attempt's, not the event's: a receiver refusing old timestamps still takes a late retry. */
static int post_signed(void *context, const delivery_item *item, bool *permanent, char *why, size_t why_size)
{
    webhook *self = context;
    const char *body = item->body;
    *permanent = false;
    char timestamp[32];
    snprintf(timestamp, sizeof timestamp, "%lld", (long long)time(NULL));
    size_t signed_length = strlen(timestamp) + 1 + strlen(body);
    char *signed_text = malloc(signed_length + 1);
    if (!signed_text) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    snprintf(signed_text, signed_length + 1, "%s.%s", timestamp, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_length = 0;
    unsigned char *ok = HMAC(EVP_sha256(), self->secret, (int)strlen(self->secret), (unsigned char *)signed_text,
                             signed_length, mac, &mac_length);
    free(signed_text);
    if (!ok) {
        snprintf(why, why_size, "could not sign the body");
        return -1;
    }
    char header[128] = "X-Hydra-Signature: sha256=";
    size_t used = strlen(header);
    for (unsigned int i = 0; i < mac_length; i++, used += 2)
        snprintf(header + used, sizeof header - used, "%02x", mac[i]);
    char stamp_header[64];
    snprintf(stamp_header, sizeof stamp_header, "X-Hydra-Timestamp: %s", timestamp);
    struct curl_slist *headers = curl_slist_append(NULL, stamp_header);
    headers = curl_slist_append(headers, header);
    return delivery_http_post(self->queue.url, self->queue.timeout_ms, headers, item, permanent, why, why_size);
}

static int webhook_notify(void *state, const hydra_notification *n)
{
    webhook *self = state;
    const char *event = n ? event_name(n->event) : NULL;
    if (!event) {
        self->host->set_error(self->host, "notify: %s", n ? "unknown event" : "no notification");
        return -1;
    }
    return delivery_enqueue(&self->queue, n->id, NULL, body_of(n, event), NULL);
}

static void *webhook_create(const hydra_host *host)
{
    delivery_settings settings;
    const char *secret = NULL;
    if (delivery_read_settings(host, true, &settings) != 0)
        return NULL;
    int found = host->setting_string(host, "secret", &secret);
    if (found < 0)
        return NULL;
    if (found > 0 || strlen(secret) < SECRET_MIN) {
        host->set_error(host, "setting 'secret' is required, at least %d characters: the receiver checks the "
                              "signature with it", SECRET_MIN);
        return NULL;
    }
    webhook *self = calloc(1, sizeof *self);
    if (!self || !(self->secret = strdup(secret))) {
        free(self);
        host->set_error(host, "out of memory");
        return NULL;
    }
    self->host = host;
    if (delivery_start(&self->queue, host, "webhook", &settings, post_signed, self) != 0) {
        free(self->secret);
        free(self);
        return NULL;
    }
    return self;
}

static void webhook_destroy(void *state)
{
    webhook *self = state;
    if (!self)
        return;
    delivery_stop(&self->queue);
    free(self->secret);
    free(self);
}

static const hydra_notifier_ops ops = {
    .size = sizeof(hydra_notifier_ops),
    .notify = webhook_notify,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_NOTIFIER,
    .name = "webhook",
    .version = "1.0.0",
    .description = "POSTs each notification as signed JSON (HMAC-SHA256) to a URL, retrying with backoff",
    .create = webhook_create,
    .destroy = webhook_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
