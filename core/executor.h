/* Scaler calls off the daemon's lock. One worker thread per scaler instance (plugins are single-threaded: a scaler
 * that serves several targets serves them in turn), which takes the work of its targets one at a time: an action
 * owed (read the status, begin, scale, finish) before a status read. Never two calls on one target at once.
 *
 * The executor holds no lock of the daemon's: the hooks take it. They are called on a worker thread. */
#ifndef HYDRA_EXECUTOR_H
#define HYDRA_EXECUTOR_H

#include "controller.h"
#include "instance.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct executor_hooks {
    /* A target's status as just read; NULL when the read failed. */
    void (*status_read)(void *context, size_t target, const hydra_scale_status *status);
    /* controller_begin_action under the daemon's lock: 1 with the scaler call to make. */
    int (*action_begin)(void *context, size_t target, const hydra_scale_status *status, controller_action *action);
    /* controller_finish_action under the daemon's lock. */
    void (*action_finish)(void *context, const controller_action *action, bool done, const hydra_scale_status *after,
                          const char *why);
} executor_hooks;

typedef struct executor executor;

/* scalers[i] and names[i]: target i's scaler instance and name, both borrowed for the executor's life. */
executor *executor_start(plugin_instance *const *scalers, const char *const *names, size_t targets,
                         const executor_hooks *hooks, void *context);
/* Stops taking work; waits for the calls under way to finish and be recorded. Work not begun is left: an approved
 * recommendation stays approved in the store, for the next leader or the next start. The executor may still be
 * asked for work (it is refused) until it is destroyed. */
void executor_stop(executor *executor);
void executor_destroy(executor *executor);

/* Both only take note (safe to call with the daemon's lock held); refused once stopping. */
void executor_want_action(executor *executor, size_t target);
void executor_want_status(executor *executor, size_t target);

/* Waits, at most seconds, until the target has no action asked for or under way; true when it has none. */
bool executor_wait_action(executor *executor, size_t target, double seconds);
/* Waits, at most seconds, for the status reads asked for, except those queued behind an action under way on their
 * scaler (which may take its whole deadline); true when none is left. */
bool executor_wait_status(executor *executor, double seconds);
/* How many actions are under way now. */
size_t executor_actions_under_way(executor *executor);

#endif
