/* notifier log: one log line per notification, for a controller nobody has wired to chat or mail yet, and as the
 * record of what a real notifier would have said.
 *
 * Settings: level ("debug", "info", "warn" or "error"; default "info"). */
#include <hydra/plugin.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Longer texts are cut: the host's log line has a bounded size anyway. */
#define FIELD_MAX 512

typedef struct notifier_log {
    const hydra_host *host;
    hydra_log_level level;
    int notifications_metric;
} notifier_log;

static const char *event_name(hydra_event event)
{
    switch (event) {
    case HYDRA_EVENT_RECOMMENDATION_PENDING: return "pending";
    case HYDRA_EVENT_RECOMMENDATION_APPROVED: return "approved";
    case HYDRA_EVENT_RECOMMENDATION_REJECTED: return "rejected";
    case HYDRA_EVENT_RECOMMENDATION_EXPIRED: return "expired";
    case HYDRA_EVENT_RECOMMENDATION_EXECUTED: return "executed";
    case HYDRA_EVENT_RECOMMENDATION_FAILED: return "failed";
    case HYDRA_EVENT_ALERT: return "alert";
    }
    return NULL;
}

/* ## Formatting -------------------------------------------------------------------------------------------------- */

/* Copies text for a quoted field: a newline or quote inside a reason would otherwise split the one line per
 * notification that log readers (and grep) rely on. NULL becomes "-". */
static const char *field(char *buffer, size_t size, const char *text)
{
    if (!text)
        return "-";
    size_t length = 0;
    for (; text[length] && length + 1 < size; length++) {
        unsigned char c = (unsigned char)text[length];
        buffer[length] = c < 0x20 || c == 0x7f ? ' ' : c == '"' ? '\'' : (char)c;
    }
    buffer[length] = '\0';
    return buffer;
}

/* NAN means no forecast applies (an alert, say). */
static const char *peak_text(char *buffer, size_t size, double peak)
{
    if (!isfinite(peak))
        return "-";
    snprintf(buffer, size, "%g", peak);
    return buffer;
}

/* Only a pending recommendation carries links; elsewhere they would be noise. */
static const char *links_text(char *buffer, size_t size, const hydra_notification *n)
{
    char approve[FIELD_MAX], reject[FIELD_MAX];
    buffer[0] = '\0';
    if (n->approve_url || n->reject_url)
        snprintf(buffer, size, " approve=%s reject=%s", field(approve, sizeof approve, n->approve_url),
                 field(reject, sizeof reject, n->reject_url));
    return buffer;
}

static int notifier_log_notify(void *state, const hydra_notification *n)
{
    notifier_log *self = state;
    const hydra_host *host = self->host;
    if (!n) {
        host->set_error(host, "notify: no notification");
        return -1;
    }
    const char *event = event_name(n->event);
    if (!event) {
        host->set_error(host, "notify: unknown event %d", (int)n->event);
        return -1;
    }
    char summary[FIELD_MAX], reason[FIELD_MAX], target[FIELD_MAX], decided_by[FIELD_MAX], id[FIELD_MAX], peak[32];
    char links[2 * FIELD_MAX + 32];
    host->log(host, self->level,
              "%s target=%s replicas=%d -> %d forecast_peak=%s summary=\"%s\" reason=\"%s\" decided_by=%s id=%s%s",
              event, field(target, sizeof target, n->target), n->from_replicas, n->to_replicas,
              peak_text(peak, sizeof peak, n->forecast_peak), field(summary, sizeof summary, n->summary),
              field(reason, sizeof reason, n->reason), field(decided_by, sizeof decided_by, n->decided_by),
              field(id, sizeof id, n->id), links_text(links, sizeof links, n));
    if (self->notifications_metric >= 0)
        host->metric_add(host, self->notifications_metric, 1);
    return 0;
}

/* ## Life cycle --------------------------------------------------------------------------------------------------- */

static bool level_parse(const char *name, hydra_log_level *out)
{
    static const struct {
        const char *name;
        hydra_log_level level;
    } levels[] = {
        {"debug", HYDRA_LOG_DEBUG}, {"info", HYDRA_LOG_INFO}, {"warn", HYDRA_LOG_WARN}, {"error", HYDRA_LOG_ERROR}};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcmp(name, levels[i].name) == 0) {
            *out = levels[i].level;
            return true;
        }
    return false;
}

static void *notifier_log_create(const hydra_host *host)
{
    const char *level_text = "info";
    hydra_log_level level = HYDRA_LOG_INFO;
    if (host->setting_string(host, "level", &level_text) < 0)
        return NULL;
    if (!level_parse(level_text, &level)) {
        host->set_error(host, "setting 'level' must be \"debug\", \"info\", \"warn\" or \"error\", not \"%s\"",
                        level_text);
        return NULL;
    }
    notifier_log *self = host->alloc(host, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *self = (notifier_log){
        .host = host,
        .level = level,
        .notifications_metric = host->metric_register(host, "notifications_total", "Notifications written to the log",
                                                      HYDRA_METRIC_COUNTER),
    };
    return self;
}

static void notifier_log_destroy(void *state)
{
    notifier_log *self = state;
    if (self)
        self->host->free(self->host, self);
}

static const hydra_notifier_ops ops = {
    .size = sizeof(hydra_notifier_ops),
    .notify = notifier_log_notify,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_NOTIFIER,
    .name = "log",
    .version = "1.0.0",
    .description = "Writes each notification as one line of the controller's log",
    .create = notifier_log_create,
    .destroy = notifier_log_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
