/* The controller loop, the same in the daemon and the simulator. Each tick, per target: take the new samples,
 * forecast over the lead time, score anomalies, plan, recommend, ask the policy, notify, execute.
 *
 * Samples are kept on a grid of `tick` seconds; a sample's time is the start of the interval it measures, and an
 * interval is complete (and fed to the models) once a tick reaches its end. Forecasters and detectors that offer
 * the streaming ops keep one model per target; the others are called on the recent window. */
#ifndef HYDRA_CONTROLLER_H
#define HYDRA_CONTROLLER_H

#include "config.h"
#include "planner.h"
#include "plugin_set.h"
#include "policy.h"
#include "recommendation.h"

/* A target's detector flagged a sample: one per anomaly episode (a run of flagged samples, each within
 * anomaly_hold of the one before), told when the episode starts. */
typedef enum controller_alert_kind {
    ALERT_ANOMALY,        /* the detector scored a sample at or above the target's anomaly_threshold */
    ALERT_DEMAND_SPIKE,   /* the forecast within the lead time goes above spike_factor x the last hour's average */
    ALERT_DEMAND_DECLINE, /* ... or below decline_factor x that average */
    ALERT_FORECAST_INACCURATE, /* live accuracy fell past models.max_mape or max_mase: forecasts are not acted on */
    ALERT_MODEL_DRIFT,    /* recent data no longer looks like the active model's training window */
} controller_alert_kind;

typedef struct controller_alert {
    const char *target;
    const char *metric;
    const char *detector; /* the anomaly instance's name, or the forecaster's for a demand alert */
    double at;            /* the end of the interval the sample measured (its ingest time); for demand, the tick */
    double score;         /* the detector's; for demand, forecast / average */
    double threshold;     /* anomaly_threshold, spike_factor or decline_factor */
    double value;         /* the sample; for demand, the forecast's highest or lowest value */
    controller_alert_kind kind;
    double average;       /* for demand: the last hour's average load */
    double value_at;      /* for demand: when the forecast reaches value */
    const char *text;     /* for accuracy and drift: what was measured, in words */
} controller_alert;

typedef void (*controller_alert_listener)(void *context, const controller_alert *alert);

/* The result of a recommendation a dry run kept from the scaler starts with this. */
#define CONTROLLER_DRY_RUN_PREFIX "dry run: "

typedef struct controller_setup {
    const hydra_config *config;
    plugin_set *plugins;
    policy *policy;               /* borrowed */
    const hydra_clock *clock;
    plugin_instance *scaler;      /* when set, every target's scaler (the simulated cluster) */
    const char *id_prefix;        /* recommendation ids: "<prefix>-000001" */
    recommendation_listener listener; /* told of every event before the notifiers (the store); may refuse it */
    void *listener_context;
    /* Signs the approve and reject links questions carry, for people answering from a mail or a chat; NULL: the
     * links are the API's own routes, which need a key. */
    const struct link_signer *links;
    /* Final recommendations kept in memory (the oldest beyond go; the store has them all); 0: every one, as a
     * simulation needs for its scorecard. */
    size_t final_kept;
} controller_setup;

/* What the controller saw and decided for one target at the last tick: for reports and the API. */
typedef struct controller_view {
    const char *name;
    double load;            /* the last interval with samples, kept over short gaps; NAN when unknown */
    double forecast;        /* the forecast peak within the lead time the planner used */
    double anomaly_score;
    int desired;
    int ready;
    const recommendation *open; /* pending, approved or executing; NULL when none */
    bool paused;            /* by a person (controller_set_paused): forecast, but nothing executed */
    bool dry_run;           /* recommendations are recorded, never sent to the scaler */
} controller_view;

typedef struct controller controller;

/* NULL with the reason in error (a missing plugin, a model that cannot start). */
controller *controller_create(const controller_setup *setup, char *error, size_t error_size);
void controller_destroy(controller *controller);

/* Who hears of each anomaly episode as it starts (the daemon's store); none until this is called. */
void controller_on_alert(controller *controller, controller_alert_listener listener, void *context);

size_t controller_target_count(const controller *controller);
/* The index of a target by name, or -1. */
long controller_target_index(const controller *controller, const char *name);

/* A sample for the interval starting at ts. Returns -1 for a sample older than the last complete interval. */
int controller_observe(controller *controller, size_t target, double ts, double value);
/* Runs one tick at `now` for every target. */
void controller_tick(controller *controller, double now);
/* The same for one target: a new sample is evaluated at once, not at the next tick. */
void controller_tick_target(controller *controller, size_t target, double now);
/* Reads each target's replicas from its scaler, deciding nothing: what a replica that does not tick (a follower)
 * shows of the targets stays current. */
void controller_refresh_status(controller *controller);

/* ## Scaler calls off the caller's lock (hydra serve)
 *
 * Every approved recommendation joins its target's queue of actions owed. Without a dispatch, the queue is carried
 * out at once, in the caller's thread (the simulator: its cluster answers at once). With one, the controller never
 * calls the scaler itself: it tells dispatch that a target owes an action, and whoever it tells reads the target's
 * status, calls controller_begin_action, makes the scaler call without any lock, then controller_finish_action; and
 * reads each target's status for controller_set_status, which ticks then use. A target that owes an action gets no
 * new recommendation until the outcome is recorded. */

/* Called with whatever guards the controller held: it must only take note and return. */
typedef void (*controller_dispatch)(void *context, size_t target);

/* The scaler call to make: copies, valid after the controller is gone. */
typedef struct controller_action {
    size_t target;
    plugin_instance *scaler;
    int replicas;
    char id[REC_ID_MAX];
    char target_name[REC_NAME_MAX];
    char decided_by[REC_NAME_MAX];
    char reason[REC_TEXT_MAX];
} controller_action;

void controller_defer_actions(controller *controller, controller_dispatch dispatch, void *context);
plugin_instance *controller_scaler(const controller *controller, size_t target);
/* The target's status as just read off the lock; NULL when the read failed (its ticks then plan nothing). */
void controller_set_status(controller *controller, size_t target, const hydra_scale_status *status);
bool controller_owes_action(const controller *controller, size_t target);
/* The next action the target owes, on a status just read (NULL: the read failed, the last one stands): 1 with the
 * scaler call to make (the recommendation is now executing, in the store too); 0 when there is none to make now
 * (nothing owed, held while the target is paused, or finished without the scaler: a dry run, or the target already
 * there). */
int controller_begin_action(controller *controller, size_t target, const hydra_scale_status *status, double now,
                            controller_action *action);
/* Records the scaler's answer to an action begun: executed with what the target reports (after), or failed with
 * why. Tells dispatch again when the target owes more. -1 when the recommendation is not executing here (another
 * replica carried it on, or this controller was replaced by one that never had it). */
int controller_finish_action(controller *controller, const controller_action *action, bool done,
                             const hydra_scale_status *after, const char *why, double now);

/* A person's (or the simulated operator's) answer to a pending recommendation; -1 when it is not pending. */
int controller_decide(controller *controller, const char *id, bool approve, const char *by, const char *why,
                      double now);

/* A change another replica recorded in the store (read back by the leader): a decision on a pending recommendation
 * is taken as made, at `at`, and an approval is executed now; any other change lets the recommendation go. -1 when
 * the recommendation is unknown here or already in that state. */
int controller_adopt(controller *controller, const char *id, recommendation_state state, const char *by,
                     const char *why, double at, double now);

/* Takes back an open recommendation saved before a restart: a pending one waits for its answer again, an approved
 * one is executed, an executing one is reconciled with the target and finished. -1 for an unknown target. */
int controller_restore(controller *controller, const recommendation *saved, double now);

/* Pauses or resumes a target: a paused target is still forecast each tick but gets no new recommendation, and an
 * approved one waits, to be executed at the first tick after it is resumed. -1 for an unknown target. */
int controller_set_paused(controller *controller, size_t target, bool paused);

/* The target's forecast from its model now, for out->horizon steps (arrays the caller's); *first_at is the time the
 * first step ends (ingest time convention). -1 when the model cannot forecast yet (the forecaster's error says
 * why) or the target is unknown. */
int controller_forecast(controller *controller, size_t target, hydra_forecast *out, double *first_at);
/* Copies the target's last complete samples (at most max, oldest first, NAN for a missing one) into values and
 * returns how many; *last_at is the time the newest one ends. */
size_t controller_history(const controller *controller, size_t target, double *values, size_t max, double *last_at);

/* ## The model lifecycle (core/models.c drives it) */

/* Live accuracy of a target's forecasts (see accuracy.h); trusted is false while it is past the configured bound
 * and the planner sizes for the load seen now. */
typedef struct controller_accuracy_view {
    double mape, mase; /* NAN until a forecast was compared */
    size_t compared;
    bool trusted;
} controller_accuracy_view;
void controller_accuracy(const controller *controller, size_t target, controller_accuracy_view *out);

/* The target's streaming forecast model (borrowed; NULL when it has none or it was refused). */
void *controller_forecast_model(controller *controller, size_t target);
/* Replaces the target's forecast model with `model` (taken over), which has seen every interval before
 * trained_to: the complete intervals kept since then are fed to it (missing ones as NAN), and intervals before
 * trained_to still to complete are not. Clears a refusal. */
void controller_adopt_model(controller *controller, size_t target, void *model, double trained_to);
/* The target's model was refused (a corrupt saved state): no forecast until a model is adopted; forecasts and
 * /predict say `reason`. */
void controller_refuse_model(controller *controller, size_t target, const char *reason);
/* Why the target has no model, or NULL. */
const char *controller_model_problem(const controller *controller, size_t target);

recommendation_book *controller_recommendations(controller *controller);
void controller_view_target(const controller *controller, size_t target, controller_view *out);

#endif
