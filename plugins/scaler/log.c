/* scaler log: a dry run. It logs what it would scale and remembers it, so the controller sees its own decisions take
 * effect (status reports them back) while nothing real is touched.
 *
 * Settings: initial_replicas (>= 0, default 1: what status reports for a target never scaled). */
#include <hydra/plugin.h>

#include "../common/scale_request.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_REPLICAS_DEFAULT 1

typedef struct target_entry {
    char *name;
    int desired;
} target_entry;

typedef struct scaler_log {
    const hydra_host *host;
    int initial_replicas;
    target_entry *targets; /* few targets per controller: a linear search is enough */
    size_t count;
    size_t capacity;
    int actions_metric;
} scaler_log;

/* ## The table of targets ------------------------------------------------------------------------------------------ */

static target_entry *target_find(const scaler_log *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->targets[i].name, name) == 0)
            return &self->targets[i];
    return NULL;
}

static char *text_copy(const char *text)
{
    size_t size = strlen(text) + 1;
    char *copy = malloc(size);
    return copy ? memcpy(copy, text, size) : NULL;
}

/* Returns the entry for name, adding it at the initial replica count; NULL when out of memory. */
static target_entry *target_get(scaler_log *self, const char *name)
{
    target_entry *found = target_find(self, name);
    if (found)
        return found;
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? 2 * self->capacity : 8;
        target_entry *grown = realloc(self->targets, capacity * sizeof *grown);
        if (!grown)
            return NULL;
        self->targets = grown;
        self->capacity = capacity;
    }
    char *copy = text_copy(name);
    if (!copy)
        return NULL;
    self->targets[self->count] = (target_entry){copy, self->initial_replicas};
    return &self->targets[self->count++];
}

/* ## Operations ---------------------------------------------------------------------------------------------------- */

static void status_fill(hydra_scale_status *out, int desired)
{
    *out = (hydra_scale_status){.desired = desired, .ready = desired, .paused = false};
}

static int scaler_log_status(void *state, const char *target, hydra_scale_status *out)
{
    scaler_log *self = state;
    if (!target || !target[0] || !out) {
        self->host->set_error(self->host, "status: target must be a non-empty name");
        return -1;
    }
    const target_entry *entry = target_find(self, target);
    status_fill(out, entry ? entry->desired : self->initial_replicas);
    return 0;
}

static const char *or_dash(const char *text) { return text && text[0] ? text : "-"; }

static int scaler_log_scale(void *state, const hydra_scale_request *request, hydra_scale_status *out)
{
    scaler_log *self = state;
    const hydra_host *host = self->host;
    if (!scale_request_valid(host, request))
        return -1;
    target_entry *entry = target_get(self, request->target);
    if (!entry) {
        host->set_error(host, "scale %s: out of memory", request->target);
        return -1;
    }
    host->log(host, HYDRA_LOG_INFO, "would scale %s from %d to %d (recommendation %s, approved by %s): %s",
              request->target, entry->desired, request->replicas, or_dash(request->recommendation_id),
              or_dash(request->decided_by), or_dash(request->reason));
    entry->desired = request->replicas;
    if (self->actions_metric >= 0)
        host->metric_add(host, self->actions_metric, 1);
    if (out)
        status_fill(out, entry->desired);
    return 0;
}

/* ## Life cycle --------------------------------------------------------------------------------------------------- */

static void *scaler_log_create(const hydra_host *host)
{
    long long initial = INITIAL_REPLICAS_DEFAULT;
    if (host->setting_int(host, "initial_replicas", &initial) < 0)
        return NULL;
    if (initial < 0 || initial > INT_MAX) {
        host->set_error(host, "setting 'initial_replicas' must be between 0 and %d, not %lld", INT_MAX, initial);
        return NULL;
    }
    scaler_log *self = calloc(1, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    self->host = host;
    self->initial_replicas = (int)initial;
    self->actions_metric = host->metric_register(host, "scale_actions_total", "Scale actions recorded (not performed)",
                                                 HYDRA_METRIC_COUNTER);
    return self;
}

static void scaler_log_destroy(void *state)
{
    scaler_log *self = state;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        free(self->targets[i].name);
    free(self->targets);
    free(self);
}

static const hydra_scaler_ops ops = {
    .size = sizeof(hydra_scaler_ops),
    .status = scaler_log_status,
    .scale = scaler_log_scale,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_SCALER,
    .name = "log",
    .version = "1.0.0",
    .description = "Dry run: logs and remembers the replica counts it is asked for, touching nothing",
    .create = scaler_log_create,
    .destroy = scaler_log_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
