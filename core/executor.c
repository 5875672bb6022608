#include "executor.h"

#include "log.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum job { JOB_NONE, JOB_ACTION, JOB_STATUS } job;

typedef struct slot {
    plugin_instance *scaler;
    const char *name;
    size_t lane;
    bool want_action, want_status;
    job running;
} slot;

typedef struct lane {
    executor *owner;
    size_t index;
    pthread_t thread;
    bool started;
    size_t cursor; /* round robin over the lane's targets */
    job running;
} lane;

struct executor {
    pthread_mutex_t mutex;
    pthread_cond_t work; /* a job was asked for, or the executor stops */
    pthread_cond_t done; /* a job ended */
    executor_hooks hooks;
    void *context;
    slot *slots;
    size_t slot_count;
    lane *lanes;
    size_t lane_count;
    bool stopping;
};

/* ## The workers --------------------------------------------------------------------------------------------- */

/* The lane's next job, actions before status reads, round robin among its targets; -1 when it has none. */
static long next_job(executor *e, lane *l, job *kind)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t step = 0; step < e->slot_count; step++) {
            size_t i = (l->cursor + step) % e->slot_count;
            slot *s = &e->slots[i];
            bool wanted = pass == 0 ? s->want_action : s->want_status;
            if (s->lane != l->index || !wanted)
                continue;
            l->cursor = i + 1;
            *kind = pass == 0 ? JOB_ACTION : JOB_STATUS;
            return (long)i;
        }
    return -1;
}

static bool stopping(executor *e)
{
    pthread_mutex_lock(&e->mutex);
    bool stop = e->stopping;
    pthread_mutex_unlock(&e->mutex);
    return stop;
}

/* The status is read first: the controller decides on what the target is now (paused since, already scaled). */
static void run_action(executor *e, slot *s, size_t target)
{
    hydra_scale_status status;
    bool read = instance_scale_status(s->scaler, s->name, &status) == 0;
    controller_action action;
    if (stopping(e) || e->hooks.action_begin(e->context, target, read ? &status : NULL, &action) != 1)
        return;
    hydra_scale_request request = {action.target_name, action.replicas, action.id, action.decided_by, action.reason};
    hydra_scale_status after = {0};
    bool done = instance_scale(s->scaler, &request, &after) == 0;
    e->hooks.action_finish(e->context, &action, done, &after, done ? "" : instance_error(s->scaler));
}

static void run_status(executor *e, slot *s, size_t target)
{
    hydra_scale_status status;
    bool read = instance_scale_status(s->scaler, s->name, &status) == 0;
    e->hooks.status_read(e->context, target, read ? &status : NULL);
}

static void *lane_run(void *argument)
{
    lane *l = argument;
    executor *e = l->owner;
    pthread_mutex_lock(&e->mutex);
    while (!e->stopping) {
        job kind;
        long target = next_job(e, l, &kind);
        if (target < 0) {
            pthread_cond_wait(&e->work, &e->mutex);
            continue;
        }
        slot *s = &e->slots[target];
        if (kind == JOB_ACTION)
            s->want_action = false;
        else
            s->want_status = false;
        s->running = l->running = kind;
        pthread_mutex_unlock(&e->mutex);
        if (kind == JOB_ACTION)
            run_action(e, s, (size_t)target);
        else
            run_status(e, s, (size_t)target);
        pthread_mutex_lock(&e->mutex);
        s->running = l->running = JOB_NONE;
        pthread_cond_broadcast(&e->done);
    }
    pthread_mutex_unlock(&e->mutex);
    return NULL;
}

/* ## Life cycle ---------------------------------------------------------------------------------------------- */

static size_t lane_of(executor *e, size_t target, plugin_instance *const *scalers)
{
    for (size_t i = 0; i < target; i++)
        if (scalers[i] == scalers[target])
            return e->slots[i].lane;
    return e->lane_count++;
}

executor *executor_start(plugin_instance *const *scalers, const char *const *names, size_t targets,
                         const executor_hooks *hooks, void *context)
{
    executor *e = xcalloc(1, sizeof *e);
    pthread_mutex_init(&e->mutex, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->done, &monotonic);
    pthread_condattr_destroy(&monotonic);
    e->hooks = *hooks;
    e->context = context;
    e->slots = xcalloc(targets + 1, sizeof *e->slots);
    e->slot_count = targets;
    for (size_t i = 0; i < targets; i++)
        e->slots[i] = (slot){scalers[i], names[i], lane_of(e, i, scalers), false, false, JOB_NONE};
    e->lanes = xcalloc(e->lane_count + 1, sizeof *e->lanes);
    for (size_t i = 0; i < e->lane_count; i++) {
        e->lanes[i] = (lane){.owner = e, .index = i};
        e->lanes[i].started = pthread_create(&e->lanes[i].thread, NULL, lane_run, &e->lanes[i]) == 0;
        if (!e->lanes[i].started)
            log_error("executor: cannot start a worker for scaler lane %zu: its targets' actions wait", i);
    }
    return e;
}

size_t executor_actions_under_way(executor *e)
{
    size_t count = 0;
    pthread_mutex_lock(&e->mutex);
    for (size_t i = 0; i < e->slot_count; i++)
        count += e->slots[i].running == JOB_ACTION;
    pthread_mutex_unlock(&e->mutex);
    return count;
}

void executor_stop(executor *e)
{
    if (!e || e->stopping)
        return;
    size_t under_way = executor_actions_under_way(e);
    if (under_way)
        log_info("stopping: waiting for %zu scaler action%s under way to finish and be recorded", under_way,
                 under_way == 1 ? "" : "s");
    pthread_mutex_lock(&e->mutex);
    e->stopping = true;
    for (size_t i = 0; i < e->slot_count; i++)
        if (e->slots[i].want_action)
            log_info("stopping: %s has an approved action not begun: it stays approved, for the next leader or the "
                     "next start", e->slots[i].name);
    pthread_cond_broadcast(&e->work);
    pthread_mutex_unlock(&e->mutex);
    for (size_t i = 0; i < e->lane_count; i++)
        if (e->lanes[i].started)
            pthread_join(e->lanes[i].thread, NULL);
    for (size_t i = 0; i < e->lane_count; i++)
        e->lanes[i].started = false;
}

void executor_destroy(executor *e)
{
    if (!e)
        return;
    executor_stop(e);
    pthread_cond_destroy(&e->work);
    pthread_cond_destroy(&e->done);
    pthread_mutex_destroy(&e->mutex);
    free(e->lanes);
    free(e->slots);
    free(e);
}

/* ## Asking for work ----------------------------------------------------------------------------------------- */

void executor_want_action(executor *e, size_t target)
{
    pthread_mutex_lock(&e->mutex);
    if (target < e->slot_count && !e->stopping) {
        e->slots[target].want_action = true;
        pthread_cond_broadcast(&e->work);
    }
    pthread_mutex_unlock(&e->mutex);
}

void executor_want_status(executor *e, size_t target)
{
    pthread_mutex_lock(&e->mutex);
    if (target < e->slot_count && !e->stopping) {
        e->slots[target].want_status = true;
        pthread_cond_broadcast(&e->work);
    }
    pthread_mutex_unlock(&e->mutex);
}

/* Waits on done until ready(e, target) or the deadline; called and returns with the mutex held. */
static bool wait_until(executor *e, bool (*ready)(executor *, size_t), size_t target, double seconds)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double end = (double)now.tv_sec + now.tv_nsec / 1e9 + seconds;
    struct timespec until = {(time_t)floor(end), (long)((end - floor(end)) * 1e9)};
    while (!ready(e, target))
        if (pthread_cond_timedwait(&e->done, &e->mutex, &until) != 0)
            return ready(e, target);
    return true;
}

static bool action_settled(executor *e, size_t target)
{
    const slot *s = &e->slots[target];
    return !(s->want_action && !e->stopping) && s->running != JOB_ACTION;
}

static bool status_settled(executor *e, size_t ignored)
{
    (void)ignored;
    for (size_t i = 0; i < e->slot_count; i++) {
        const slot *s = &e->slots[i];
        if (s->running == JOB_STATUS || (s->want_status && !e->stopping && e->lanes[s->lane].running != JOB_ACTION))
            return false;
    }
    return true;
}

bool executor_wait_action(executor *e, size_t target, double seconds)
{
    if (target >= e->slot_count)
        return true;
    pthread_mutex_lock(&e->mutex);
    bool settled = wait_until(e, action_settled, target, seconds);
    pthread_mutex_unlock(&e->mutex);
    return settled;
}

bool executor_wait_status(executor *e, double seconds)
{
    pthread_mutex_lock(&e->mutex);
    bool settled = wait_until(e, status_settled, 0, seconds);
    pthread_mutex_unlock(&e->mutex);
    return settled;
}
