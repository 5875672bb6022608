/* The simulated cluster; the model is described in cluster.h. */
#include "cluster.h"

#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_MAX 256

/* Replicas asked for together become ready together. */
typedef struct pending_batch {
    int replicas;
    double ready_at;
} pending_batch;

typedef struct service {
    cluster_service_spec spec; /* name owned */
    int ready;
    int desired;               /* ready + every pending batch */
    pending_batch *batches;    /* a queue ordered by ready_at: batches[head .. head + count) */
    size_t batch_head;
    size_t batch_count;
    size_t batch_capacity;
    double backlog;            /* requests waiting */
    cluster_service_totals totals;
} service;

struct cluster {
    service *services;
    size_t count;
    size_t capacity;
    double now;
    /* Behind a pointer so lookups through a const cluster can still say why they failed. */
    char *error;
    /* Where the next lookup by name probably is: the controller asks about one service several times, then the
     * next one, every tick. */
    size_t *lookup_hint;
};

/* ## Errors ------------------------------------------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static int fail(const cluster *self, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vformat_into(self->error, ERROR_MAX, fmt, args);
    va_end(args);
    return -1;
}

const char *cluster_error(const cluster *self) { return self->error; }

/* ## Life cycle --------------------------------------------------------------------------------------------------- */

cluster *cluster_create(void)
{
    cluster *self = xcalloc(1, sizeof *self);
    self->error = xcalloc(1, ERROR_MAX);
    self->lookup_hint = xcalloc(1, sizeof *self->lookup_hint);
    return self;
}

void cluster_destroy(cluster *self)
{
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        free((char *)self->services[i].spec.name);
        free(self->services[i].batches);
    }
    free(self->services);
    free(self->error);
    free(self->lookup_hint);
    free(self);
}

/* ## Services ----------------------------------------------------------------------------------------------------- */

static bool positive(double value) { return isfinite(value) && value > 0; }
static bool non_negative(double value) { return isfinite(value) && value >= 0; }

/* The first thing wrong with spec's numbers, or NULL. */
static const char *spec_problem(const cluster_service_spec *spec)
{
    if (!positive(spec->capacity_per_replica))
        return "capacity_per_replica must be > 0";
    if (!non_negative(spec->cold_start_seconds))
        return "cold_start_seconds must be >= 0";
    if (spec->max_replicas < 1)
        return "max_replicas must be >= 1";
    if (spec->min_replicas < 0 || spec->min_replicas > spec->max_replicas)
        return "min_replicas must be within [0, max_replicas]";
    if (spec->initial_replicas < spec->min_replicas || spec->initial_replicas > spec->max_replicas)
        return "initial_replicas must be within [min_replicas, max_replicas]";
    if (!positive(spec->latency_slo_ms))
        return "latency_slo_ms must be > 0";
    if (!non_negative(spec->base_latency_ms))
        return "base_latency_ms must be >= 0";
    if (!non_negative(spec->queue_limit_seconds))
        return "queue_limit_seconds must be >= 0";
    return NULL;
}

static bool service_find(const cluster *self, const char *name, size_t *index)
{
    size_t i = *self->lookup_hint; /* < count once a service exists; wrapped by hand, as this runs per tick */
    for (size_t k = 0; k < self->count; k++, i = i + 1 == self->count ? 0 : i + 1) {
        if (strcmp(self->services[i].spec.name, name) == 0) {
            *index = i;
            *self->lookup_hint = i; /* asked again for the same (status, then scale), or for the next in order */
            return true;
        }
    }
    return false;
}

int cluster_service_index(const cluster *self, const char *name, size_t *index)
{
    if (name && service_find(self, name, index))
        return 0;
    return fail(self, "cluster: no service named '%s'", name ? name : "(null)");
}

int cluster_add_service(cluster *self, const cluster_service_spec *spec)
{
    if (!spec || !spec->name || !spec->name[0])
        return fail(self, "cluster: a service needs a non-empty name");
    size_t existing;
    if (service_find(self, spec->name, &existing))
        return fail(self, "cluster service %s: already added", spec->name);
    const char *problem = spec_problem(spec);
    if (problem)
        return fail(self, "cluster service %s: %s", spec->name, problem);
    if (self->count == self->capacity) {
        self->capacity = self->capacity ? 2 * self->capacity : 8;
        self->services = xrealloc(self->services, self->capacity * sizeof *self->services);
    }
    service *added = &self->services[self->count++];
    *added = (service){.spec = *spec, .ready = spec->initial_replicas, .desired = spec->initial_replicas};
    added->spec.name = xstrdup(spec->name);
    added->totals.max_replicas = spec->initial_replicas;
    return 0;
}

size_t cluster_service_count(const cluster *self) { return self->count; }

const cluster_service_spec *cluster_service_spec_at(const cluster *self, size_t index)
{
    return index < self->count ? &self->services[index].spec : NULL;
}

const char *cluster_service_name(const cluster *self, size_t index)
{
    return index < self->count ? self->services[index].spec.name : NULL;
}

static service *service_at(const cluster *self, size_t index)
{
    if (index < self->count)
        return &self->services[index];
    fail(self, "cluster: no service at index %zu (there are %zu)", index, self->count);
    return NULL;
}

/* ## Pending batches: a queue by ready time; scale-ups push at the back, boots finish at the front ----------------- */

static pending_batch *batch_front(const service *s) { return &s->batches[s->batch_head]; }

/* Room for one more batch at the back: reuse what finished boots freed at the front, else grow. */
static void batches_make_room(service *s)
{
    if (s->batch_count == 0)
        s->batch_head = 0;
    if (s->batch_head + s->batch_count < s->batch_capacity)
        return;
    if (s->batch_head > 0) {
        memmove(s->batches, batch_front(s), s->batch_count * sizeof *s->batches);
        s->batch_head = 0;
        return;
    }
    s->batch_capacity = s->batch_capacity ? 2 * s->batch_capacity : 4;
    s->batches = xrealloc(s->batches, s->batch_capacity * sizeof *s->batches);
}

static void batch_push(service *s, int replicas, double ready_at)
{
    batches_make_room(s);
    /* Cold starts are equal and time moves forward, so this lands at the back; the walk only guards the order. */
    size_t at = s->batch_head + s->batch_count++;
    for (; at > s->batch_head && s->batches[at - 1].ready_at > ready_at; at--)
        s->batches[at] = s->batches[at - 1];
    s->batches[at] = (pending_batch){replicas, ready_at};
}

/* Moves every batch whose cold start is over by `now` to ready. */
static void batches_promote(service *s, double now)
{
    while (s->batch_count > 0 && batch_front(s)->ready_at <= now) {
        s->ready += batch_front(s)->replicas;
        s->batch_head++;
        s->batch_count--;
    }
}

/* Cancels up to `replicas` booting replicas, newest first (they would have been ready last); returns how many. */
static int batches_cancel(service *s, int replicas)
{
    int cancelled = 0;
    while (cancelled < replicas && s->batch_count > 0) {
        pending_batch *newest = &s->batches[s->batch_head + s->batch_count - 1];
        int take = newest->replicas < replicas - cancelled ? newest->replicas : replicas - cancelled;
        newest->replicas -= take;
        cancelled += take;
        if (newest->replicas == 0)
            s->batch_count--;
    }
    return cancelled;
}

/* Replicas ready at now, without promoting anything. */
static int ready_at(const service *s, double now)
{
    int ready = s->ready;
    for (size_t i = s->batch_head; i < s->batch_head + s->batch_count && s->batches[i].ready_at <= now; i++)
        ready += s->batches[i].replicas;
    return ready;
}

/* ## Scaling ------------------------------------------------------------------------------------------------------ */

static void service_scale(service *s, int replicas, double now)
{
    batches_promote(s, now);
    if (replicas > s->desired) {
        batch_push(s, replicas - s->desired, now + s->spec.cold_start_seconds);
        batches_promote(s, now); /* a zero cold start is ready at once */
    } else {
        s->ready -= (s->desired - replicas) - batches_cancel(s, s->desired - replicas);
    }
    s->desired = replicas;
    s->totals.scale_actions++;
    if (replicas > s->totals.max_replicas)
        s->totals.max_replicas = replicas;
}

int cluster_scale_at(cluster *self, size_t index, int replicas, double now)
{
    service *s = service_at(self, index);
    if (!s)
        return -1;
    if (replicas < s->spec.min_replicas || replicas > s->spec.max_replicas)
        return fail(self, "cluster service %s: cannot scale to %d replicas, it runs between %d and %d", s->spec.name,
                    replicas, s->spec.min_replicas, s->spec.max_replicas);
    if (replicas != s->desired)
        service_scale(s, replicas, now);
    return 0;
}

int cluster_scale(cluster *self, const char *service_name, int replicas, double now)
{
    size_t index;
    if (cluster_service_index(self, service_name, &index) != 0)
        return -1;
    return cluster_scale_at(self, index, replicas, now);
}

int cluster_status_at(const cluster *self, size_t index, double now, hydra_scale_status *out)
{
    const service *s = service_at(self, index);
    if (!s)
        return -1;
    *out = (hydra_scale_status){.desired = s->desired, .ready = ready_at(s, now), .paused = false};
    return 0;
}

int cluster_status(const cluster *self, const char *service_name, double now, hydra_scale_status *out)
{
    size_t index;
    if (cluster_service_index(self, service_name, &index) != 0)
        return -1;
    return cluster_status_at(self, index, now, out);
}

/* ## Traffic ------------------------------------------------------------------------------------------------------ */

/* What a request sees at this utilisation behind this backlog; see cluster.h. */
static double latency_ms(const cluster_service_spec *spec, double demand, double capacity, double backlog)
{
    if (capacity <= 0)
        return demand > 0 || backlog > 0 ? CLUSTER_LATENCY_CAP_MS : 0;
    double rho = fmin(demand / capacity, CLUSTER_RHO_MAX);
    double ms = spec->base_latency_ms / (1 - rho) + 1000 * backlog / capacity;
    return fmin(ms, CLUSTER_LATENCY_CAP_MS);
}

/* Serves one piece of a step during which the ready count does not change; adds to out. */
static void serve_piece(service *s, double demand, double seconds, cluster_step_result *out, double *capacity_sum)
{
    double capacity = s->ready * s->spec.capacity_per_replica;
    double work = s->backlog + demand * seconds;
    double served = fmin(work, capacity * seconds);
    double waiting = work - served;
    double queued = fmin(waiting, s->spec.queue_limit_seconds * capacity);
    double dropped = waiting - queued;
    double latency = latency_ms(&s->spec, demand, capacity, queued);
    s->backlog = queued;
    out->served += served;
    out->dropped += dropped;
    out->latency_ms = fmax(out->latency_ms, latency);
    if (dropped > 0 || latency > s->spec.latency_slo_ms) {
        out->slo_violated = true;
        out->violation_seconds += seconds;
    }
    *capacity_sum += capacity * seconds;
}

static void totals_add(service *s, double dt, double demand, const cluster_step_result *step)
{
    cluster_service_totals *t = &s->totals;
    t->seconds += dt;
    t->offered_requests += demand * dt;
    t->served_requests += step->served;
    t->dropped_requests += step->dropped;
    t->slo_violation_seconds += step->violation_seconds;
    /* Provisioned = desired: booting replicas cost as much as serving ones, and only scaling changes the count. */
    t->replica_seconds += s->desired * dt;
}

/* Cuts [now, now + dt) where a batch becomes ready; each batch ends one piece, so this is O(1) amortised. */
static void service_offer(service *s, double now, double dt, double demand, cluster_step_result *out)
{
    double end = now + dt;
    double capacity_sum = 0;
    *out = (cluster_step_result){0};
    batches_promote(s, now);
    for (double t = now; t < end;) {
        double until = s->batch_count > 0 ? fmin(batch_front(s)->ready_at, end) : end;
        serve_piece(s, demand, until - t, out, &capacity_sum);
        t = until;
        batches_promote(s, t);
    }
    out->queued = s->backlog;
    out->utilisation = capacity_sum > 0 ? out->served / capacity_sum : 0;
    out->ready = s->ready;
    out->desired = s->desired;
    totals_add(s, dt, demand, out);
}

int cluster_offer_at(cluster *self, size_t index, double now, double dt, double demand_rps, cluster_step_result *out)
{
    service *s = service_at(self, index);
    if (!s)
        return -1;
    if (!positive(dt) || !isfinite(now) || !non_negative(demand_rps))
        return fail(self, "cluster service %s: cannot offer %g requests/s for %g s at %g", s->spec.name, demand_rps,
                    dt, now);
    cluster_step_result ignored;
    service_offer(s, now, dt, demand_rps, out ? out : &ignored);
    return 0;
}

int cluster_offer(cluster *self, const char *service_name, double now, double dt, double demand_rps,
                  cluster_step_result *out)
{
    size_t index;
    if (cluster_service_index(self, service_name, &index) != 0)
        return -1;
    return cluster_offer_at(self, index, now, dt, demand_rps, out);
}

int cluster_totals_at(const cluster *self, size_t index, cluster_service_totals *out)
{
    const service *s = service_at(self, index);
    if (!s)
        return -1;
    *out = s->totals;
    return 0;
}

int cluster_totals(const cluster *self, const char *service_name, cluster_service_totals *out)
{
    size_t index;
    if (cluster_service_index(self, service_name, &index) != 0)
        return -1;
    return cluster_totals_at(self, index, out);
}

/* ## As a scaler -------------------------------------------------------------------------------------------------- */

void cluster_set_time(cluster *self, double now) { self->now = now; }
double cluster_time(const cluster *self) { return self->now; }

static int scaler_status(void *state, const char *target, hydra_scale_status *out)
{
    const cluster *self = state;
    if (!out)
        return fail(self, "cluster: status needs somewhere to put it");
    return cluster_status(self, target, self->now, out);
}

static int scaler_scale(void *state, const hydra_scale_request *request, hydra_scale_status *out)
{
    cluster *self = state;
    if (!request)
        return fail(self, "cluster: scale needs a request");
    if (cluster_scale(self, request->target, request->replicas, self->now) != 0)
        return -1;
    return out ? cluster_status(self, request->target, self->now, out) : 0;
}

static const hydra_scaler_ops scaler_ops = {
    .size = sizeof(hydra_scaler_ops),
    .status = scaler_status,
    .scale = scaler_scale,
};

const hydra_scaler_ops *cluster_scaler_ops(void) { return &scaler_ops; }
