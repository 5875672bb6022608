#include "controller.h"

#include "links.h"
#include "accuracy.h"
#include "log.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Detectors without streaming ops see this many recent samples at each tick. */
#define BATCH_ANOMALY_WINDOW 512
/* How many intervals in a row without samples before the load counts as unknown. */
#define LOAD_STALE_INTERVALS 5

typedef struct forecast_buffers {
    size_t steps;
    double *mean, *lower80, *upper80, *lower95, *upper95;
} forecast_buffers;

/* The policy's last answer to "would you let this early scale-up through on your own?". While the proposal stays the
 * same it stands, for at most the approval latency: rising demand would otherwise ask the policy the same question
 * every tick. Only the timing of an ask rests on it; every recommendation is decided by a fresh call. */
typedef struct early_probe {
    int from, to;
    bool reactive;
    bool approves;
    double asked_at; /* NAN: never asked */
} early_probe;

typedef struct target_state {
    const config_target *config;
    plugin_instance *forecaster;
    plugin_instance *anomaly;
    plugin_instance *scaler;
    void *forecast_model; /* streaming models, when the plugins offer them */
    void *anomaly_model;

    /* complete samples, oldest first, in a ring of `capacity` */
    double *history;
    size_t capacity, count, head;
    double first_ts;      /* time of the oldest sample in the ring */
    double bucket_ts;     /* the interval being filled (NAN before the first sample) */
    double bucket_sum;
    size_t bucket_samples;

    forecast_buffers forecast;
    /* For plugins without models, allocated once rather than every tick: the window copied out of the ring
     * (capacity values) and the detector's scores (BATCH_ANOMALY_WINDOW). NULL when every plugin streams. */
    double *window;
    double *scores;
    double last_load;
    double last_load_at;  /* start of the interval last_load was seen in */
    double last_forecast;
    double last_score;
    double anomalous_until;
    bool forecast_failing; /* logged once when it starts, once when it ends */
    hydra_scale_status status;
    bool status_known;    /* a read succeeded once: until then nothing is planned */
    bool status_failing;  /* the last read failed: nothing is planned until one succeeds */
    recommendation **owed; /* approved recommendations to carry out (or resumed executing ones), oldest first */
    size_t owed_count, owed_capacity;
    planner_memory memory;
    recommendation *open;
    double quiet_until;   /* after a rejection, no new recommendation before this */
    early_probe probe;
    int demand_alert;     /* the demand alert episode under way: ALERT_DEMAND_SPIKE, _DECLINE, or -1 for none */
    bool paused;          /* by a person: forecast, but nothing executed */
    int dry_run_desired;  /* in a dry run, what the target would run had its recommendations been executed; 0: none */
    accuracy_tracker accuracy;
    size_t accuracy_step; /* the forecast step compared: the one the planner's lead ends in */
    bool distrusted;      /* accuracy is past the bound: the planner sizes for the load seen now */
    char distrust_note[200];
    char *model_problem;  /* the saved model was refused: no forecasts until one is adopted */
    double model_seen_until; /* an adopted model has seen the intervals before this: they are not fed to it again */
} target_state;

struct controller {
    const hydra_config *config;
    const link_signer *links;
    policy *policy;
    const hydra_clock *clock;
    plugin_instance **notifiers;
    size_t notifier_count;
    target_state *targets;
    size_t target_count;
    double step;
    recommendation_book book;
    size_t final_kept; /* 0: every one */
    recommendation_listener listener;
    void *listener_context;
    controller_alert_listener alert_listener;
    void *alert_context;
    controller_dispatch dispatch; /* NULL: scaler calls are made at once, in the caller's thread */
    void *dispatch_context;
};

/* ## Samples on the grid ------------------------------------------------------------------------------------- */

/* The ring fills from 0 (head stays 0 until it is full), then the oldest, at head, is overwritten. No division: this
 * runs for every target every tick. */
static void history_push(target_state *t, double value)
{
    if (t->count < t->capacity) {
        t->history[t->count++] = value;
        return;
    }
    t->history[t->head] = value;
    t->head = t->head + 1 == t->capacity ? 0 : t->head + 1;
}

/* The window as one contiguous series; copies into scratch when the ring wraps. */
static hydra_series history_view(const target_state *t, double step, size_t last, double *scratch)
{
    size_t count = last < t->count ? last : t->count;
    size_t first = t->head + t->count - count;
    for (size_t i = 0; i < count; i++)
        scratch[i] = t->history[(first + i) % t->capacity];
    double start = t->bucket_ts - (double)count * step;
    return (hydra_series){scratch, count, start, step};
}

/* A sample scored at or above the threshold holds scale-downs back until `until`; it starts an anomaly episode,
 * and the one alert of that episode, unless the sample falls within the hold of an earlier one. */
static void flag_anomaly(controller *c, target_state *t, double at, double until)
{
    bool new_episode = at >= t->anomalous_until;
    t->anomalous_until = until;
    if (new_episode && c->alert_listener) {
        controller_alert alert = {t->config->name,  t->config->metric,
                                  instance_name(t->anomaly), at,
                                  t->last_score,    t->config->anomaly_threshold,
                                  t->last_load,     ALERT_ANOMALY,
                                  NAN,              NAN,
                                  NULL};
        c->alert_listener(c->alert_context, &alert);
    }
}

static void feed_models(controller *c, target_state *t, double value)
{
    history_push(t, value);
    accuracy_actual(&t->accuracy, value);
    /* An interval without samples (a batch sent late, a scrape missed) leaves the load as last seen, for as long as
     * LOAD_STALE_INTERVALS: sizing for nothing on one gap would be worse than sizing for a minute-old load. */
    if (!isnan(value)) {
        t->last_load = value;
        t->last_load_at = t->bucket_ts;
    } else if (isnan(t->last_load_at) || t->bucket_ts - t->last_load_at >= LOAD_STALE_INTERVALS * c->step) {
        t->last_load = NAN;
    }
    if (t->forecast_model && !(t->bucket_ts < t->model_seen_until - 1e-9))
        instance_model_observe(t->forecaster, t->forecast_model, value);
    if (t->anomaly_model) {
        double score = 0;
        if (instance_model_score(t->anomaly, t->anomaly_model, value, &score) == 0 && !isnan(value)) {
            t->last_score = score;
            if (score >= t->config->anomaly_threshold)
                flag_anomaly(c, t, t->bucket_ts + c->step, t->bucket_ts + c->step + t->config->anomaly_hold_seconds);
        }
    }
}

/* Closes the bucket being filled and any empty ones up to `until` (exclusive of the interval containing it). */
static void complete_buckets(controller *c, target_state *t, double until)
{
    while (!isnan(t->bucket_ts) && t->bucket_ts + c->step <= until + 1e-9) {
        double value = t->bucket_samples ? t->bucket_sum / (double)t->bucket_samples : NAN;
        feed_models(c, t, value);
        t->bucket_ts += c->step;
        t->bucket_sum = 0;
        t->bucket_samples = 0;
    }
}

static void close_models(target_state *t)
{
    if (t->forecast_model)
        instance_model_close(t->forecaster, t->forecast_model);
    if (t->anomaly_model)
        instance_model_close(t->anomaly, t->anomaly_model);
    t->forecast_model = t->anomaly_model = NULL;
}

/* Opens the streaming models for values that start at `start`, one every step. */
static int open_models(controller *c, target_state *t, double start, char *error, size_t error_size)
{
    hydra_series empty = {NULL, 0, start, c->step};
    if (instance_has_models(t->forecaster) && !(t->forecast_model = instance_model_open(t->forecaster, &empty))) {
        format_into(error, error_size, "target %s: forecaster %s: %s", t->config->name,
                    instance_name(t->forecaster), instance_error(t->forecaster));
        return -1;
    }
    if (t->anomaly && instance_has_models(t->anomaly) && !(t->anomaly_model = instance_model_open(t->anomaly, &empty))) {
        format_into(error, error_size, "target %s: anomaly %s: %s", t->config->name, instance_name(t->anomaly),
                    instance_error(t->anomaly));
        return -1;
    }
    return 0;
}

/* Models were opened at start-up time, but the first value may be older (history replayed from the store) or
 * newer (the first push came later): models that read the calendar must know when their first value is. */
static void realign_models(controller *c, target_state *t, double first)
{
    if ((!t->forecast_model && !t->anomaly_model) || first == clock_now(c->clock))
        return;
    char error[512];
    close_models(t);
    if (open_models(c, t, first, error, sizeof error) != 0) {
        log_error("%s; using the plugins' whole-series forecasts and scores instead", error);
        close_models(t);
    }
}

int controller_observe(controller *c, size_t index, double ts, double value)
{
    if (index >= c->target_count || !isfinite(value) || !isfinite(ts))
        return -1;
    target_state *t = &c->targets[index];
    double bucket = floor(ts / c->step) * c->step;
    if (isnan(t->bucket_ts)) {
        t->bucket_ts = bucket;
        realign_models(c, t, bucket);
    }
    if (bucket < t->bucket_ts)
        return -1;
    complete_buckets(c, t, bucket);
    t->bucket_sum += value;
    t->bucket_samples++;
    return 0;
}

/* ## Forecast and anomaly -------------------------------------------------------------------------------------- */

static void forecast_buffers_init(forecast_buffers *b, size_t steps)
{
    b->steps = steps;
    b->mean = xcalloc(steps, sizeof(double));
    b->lower80 = xcalloc(steps, sizeof(double));
    b->upper80 = xcalloc(steps, sizeof(double));
    b->lower95 = xcalloc(steps, sizeof(double));
    b->upper95 = xcalloc(steps, sizeof(double));
}

static void forecast_buffers_free(forecast_buffers *b)
{
    free(b->mean);
    free(b->lower80);
    free(b->upper80);
    free(b->lower95);
    free(b->upper95);
}

/* The forecast for the next steps, or NULL when the model has nothing to say yet. */
static const double *run_forecast(controller *c, target_state *t)
{
    forecast_buffers *b = &t->forecast;
    hydra_forecast out = {b->steps, b->mean, b->lower80, b->upper80, b->lower95, b->upper95, 0, {{0}}, {0}};
    int status;
    if (t->model_problem) {
        return NULL; /* said once, when it was refused */
    } else if (t->forecast_model) {
        status = instance_model_forecast(t->forecaster, t->forecast_model, &out);
    } else {
        hydra_series window = history_view(t, c->step, t->capacity, t->window);
        status = window.count ? instance_forecast(t->forecaster, &window, &out) : -1;
    }
    const double *sized_for = t->config->forecast_bound == 95 ? b->upper95
                              : t->config->forecast_bound == 80 ? b->upper80 : b->mean;
    if ((status != 0) != t->forecast_failing) {
        t->forecast_failing = status != 0;
        if (status != 0)
            log_warn("target %s: forecaster %s cannot forecast (%s); sizing for the load seen now until it can",
                     t->config->name, instance_name(t->forecaster), instance_error(t->forecaster));
        else
            log_info("target %s: forecaster %s now forecasts", t->config->name, instance_name(t->forecaster));
    }
    return status == 0 ? sized_for : NULL;
}

static void run_batch_anomaly(controller *c, target_state *t)
{
    if (!t->anomaly || t->anomaly_model || t->count == 0 || isnan(t->last_load))
        return;
    hydra_series window = history_view(t, c->step, BATCH_ANOMALY_WINDOW, t->window);
    if (instance_score(t->anomaly, &window, t->scores) == 0) {
        t->last_score = t->scores[window.count - 1];
        if (t->last_score >= t->config->anomaly_threshold)
            flag_anomaly(c, t, t->bucket_ts, t->bucket_ts + t->config->anomaly_hold_seconds);
    }
}

/* format_into(buffer, size, "%s", text) without printf: drafts are made for every question to the policy. */
static void copy_text(char *buffer, size_t size, const char *text)
{
    size_t length = strnlen(text, size - 1);
    memcpy(buffer, text, length);
    buffer[length] = '\0';
}

/* ## Acting ---------------------------------------------------------------------------------------------------- */

/* Every approved recommendation goes through the target's queue of actions owed, oldest first: the status is read,
 * the first is moved to executing (the store's compare-and-set), the scaler is called, the answer recorded, then
 * the next. In the simulator (no dispatch) that runs at once, in the caller's thread; hydra serve hands the target
 * to a worker that makes the scaler's calls without the daemon's lock, and calls begin and finish with it. */

static size_t target_index_of(const controller *c, const target_state *t) { return (size_t)(t - c->targets); }

static void apply_status(target_state *t, const hydra_scale_status *status)
{
    t->status = *status;
    t->status_known = true;
    if (t->dry_run_desired > 0)
        t->status.desired = t->status.ready = t->dry_run_desired;
}

static void owed_remove(target_state *t, const recommendation *rec)
{
    for (size_t i = 0; i < t->owed_count; i++)
        if (t->owed[i] == rec) {
            memmove(&t->owed[i], &t->owed[i + 1], (t->owed_count - i - 1) * sizeof *t->owed);
            t->owed_count--;
            return;
        }
}

static void owed_add(target_state *t, recommendation *rec)
{
    for (size_t i = 0; i < t->owed_count; i++)
        if (t->owed[i] == rec)
            return;
    if (t->owed_count == t->owed_capacity) {
        t->owed_capacity = t->owed_capacity ? 2 * t->owed_capacity : 4;
        t->owed = xrealloc(t->owed, t->owed_capacity * sizeof *t->owed);
    }
    t->owed[t->owed_count++] = rec;
}

/* A dry run records what would have been done, then plans as if it had been: otherwise the same change would be
 * recommended again at every tick. */
static void finish_dry_run(controller *c, target_state *t, recommendation *rec, double now)
{
    char result[REC_TEXT_MAX];
    format_into(result, sizeof result, CONTROLLER_DRY_RUN_PREFIX "not executed, the scaler was not called; later "
                "plans assume %d replicas", rec->to_replicas);
    t->dry_run_desired = rec->to_replicas;
    t->status.desired = t->status.ready = rec->to_replicas;
    recommendation_transition(&c->book, rec, REC_EXECUTED, now, "dry-run", result);
}

/* Reconciles first: a scale-up the target has already reached (a smaller step went ahead while a person was still
 * deciding on this one, or a restart came between sending and hearing back) is done, not undone. True when it
 * finished without the scaler. */
static bool finish_without_scaler(controller *c, target_state *t, recommendation *rec, double now)
{
    if (t->config->dry_run) {
        finish_dry_run(c, t, rec, now);
        return true;
    }
    bool scale_up = rec->to_replicas > rec->from_replicas;
    if (!(scale_up && t->status.desired >= rec->to_replicas) && t->status.desired != rec->to_replicas)
        return false;
    char result[128];
    format_into(result, sizeof result, "target already runs %d desired, nothing to do", t->status.desired);
    recommendation_transition(&c->book, rec, REC_EXECUTED, now, "controller", result);
    return true;
}

/* Paused by a person here, or by the workload itself (its scaler reports paused: hydra.io/paused on Kubernetes):
 * executed by the first tick after it is resumed. */
static bool held_while_paused(target_state *t, recommendation *rec)
{
    if (!t->paused && !t->status.paused)
        return false;
    if (t->status.paused && t->open != rec)
        log_info("target %s: the scaler reports its workload paused; %s (%d -> %d) waits until it is resumed",
                 t->config->name, rec->id, rec->from_replicas, rec->to_replicas);
    t->open = rec;
    return true;
}

static void action_for(const target_state *t, size_t index, const recommendation *rec, controller_action *action)
{
    memset(action, 0, sizeof *action);
    action->target = index;
    action->scaler = t->scaler;
    action->replicas = rec->to_replicas;
    copy_text(action->id, sizeof action->id, rec->id);
    copy_text(action->target_name, sizeof action->target_name, rec->target);
    copy_text(action->decided_by, sizeof action->decided_by, rec->decided_by);
    copy_text(action->reason, sizeof action->reason, rec->reason);
}

/* Only the replica whose move to executing the store took calls the scaler: another cannot execute it twice. A
 * move the store refused drops the recommendation from the queue; an open one is offered again at the next tick. */
int controller_begin_action(controller *c, size_t index, const hydra_scale_status *status, double now,
                            controller_action *action)
{
    if (index >= c->target_count)
        return 0;
    target_state *t = &c->targets[index];
    if (status)
        apply_status(t, status); /* when the read failed, the last word stands */
    while (t->owed_count) {
        recommendation *rec = t->owed[0];
        if (rec->state == REC_APPROVED) {
            if (held_while_paused(t, rec))
                return 0;
            if (recommendation_transition(&c->book, rec, REC_EXECUTING, now, rec->decided_by,
                                          t->config->dry_run ? CONTROLLER_DRY_RUN_PREFIX "kept from the scaler"
                                                             : "sent to the scaler") != 0) {
                owed_remove(t, rec);
                continue;
            }
            if (t->open == rec)
                t->open = NULL;
        } else if (rec->state != REC_EXECUTING) {
            owed_remove(t, rec); /* another replica carried it on */
            continue;
        }
        if (finish_without_scaler(c, t, rec, now)) {
            owed_remove(t, rec);
            continue;
        }
        action_for(t, index, rec, action);
        return 1;
    }
    return 0;
}

int controller_finish_action(controller *c, const controller_action *action, bool done,
                             const hydra_scale_status *after, const char *why, double now)
{
    recommendation *rec = recommendation_find(&c->book, action->id);
    if (!rec || rec->state != REC_EXECUTING || action->target >= c->target_count) {
        log_warn("recommendation %s: the scaler's answer (%s%s%s) is not recorded by this controller: it is %s here",
                 action->id, done ? "done" : "failed", done || !why ? "" : ": ", done || !why ? "" : why,
                 rec ? recommendation_state_name(rec->state) : "unknown");
        return -1;
    }
    target_state *t = &c->targets[action->target];
    owed_remove(t, rec);
    if (done) {
        char result[128];
        format_into(result, sizeof result, "target reports %d desired, %d ready", after->desired, after->ready);
        apply_status(t, after);
        recommendation_transition(&c->book, rec, REC_EXECUTED, now, "scaler", result);
    } else {
        recommendation_transition(&c->book, rec, REC_FAILED, now, "scaler", why && why[0] ? why : "no reason given");
    }
    if (t->owed_count && c->dispatch)
        c->dispatch(c->dispatch_context, action->target);
    return 0;
}

/* The queue carried out here and now: each action on a fresh read of the target. */
static void act_now(controller *c, target_state *t, double now)
{
    size_t index = target_index_of(c, t);
    controller_action action;
    for (;;) {
        hydra_scale_status status;
        bool read = instance_scale_status(t->scaler, t->config->name, &status) == 0;
        if (controller_begin_action(c, index, read ? &status : NULL, now, &action) != 1)
            return;
        hydra_scale_status after = {0};
        hydra_scale_request request = {action.target_name, action.replicas, action.id, action.decided_by,
                                       action.reason};
        bool done = instance_scale(t->scaler, &request, &after) == 0;
        controller_finish_action(c, &action, done, &after, done ? "" : instance_error(t->scaler), now);
    }
}

/* A dry run calls no scaler to act: with a worker it is recorded at once, on the status last read. */
static void act(controller *c, target_state *t, double now)
{
    if (!t->owed_count)
        return;
    if (!c->dispatch) {
        act_now(c, t, now);
        return;
    }
    if (t->config->dry_run) {
        controller_action action;
        controller_begin_action(c, target_index_of(c, t), NULL, now, &action);
        if (!t->owed_count)
            return;
    }
    c->dispatch(c->dispatch_context, target_index_of(c, t));
}

static void execute(controller *c, target_state *t, recommendation *rec, double now)
{
    if (!rec)
        return;
    owed_add(t, rec);
    act(c, t, now);
}

int controller_restore(controller *c, const recommendation *saved, double now)
{
    long index = controller_target_index(c, saved->target);
    if (index < 0 || !recommendation_is_open(saved))
        return -1;
    recommendation *rec = recommendation_restore(&c->book, saved);
    rec->target_index = (size_t)index;
    target_state *t = &c->targets[index];
    if (rec->state == REC_PENDING)
        t->open = rec;
    else
        execute(c, t, rec, now); /* an executing one was sent before the restart: reconciled, then acted on */
    return 0;
}

static policy_context context_for(const controller *c, const target_state *t, double now, bool reactive)
{
    (void)c;
    return (policy_context){now, t->config->min_replicas, t->config->max_replicas, t->status.ready, t->last_load,
                            t->config->capacity_per_replica, reactive};
}

static void draft_from_plan(const target_state *t, size_t index, const planner_decision *plan, double now,
                            double expires_at, recommendation *draft)
{
    memset(draft, 0, sizeof *draft);
    copy_text(draft->target, sizeof draft->target, t->config->name);
    draft->target_index = index;
    draft->from_replicas = t->status.desired;
    draft->to_replicas = plan->replicas;
    draft->forecast_peak = plan->peak;
    draft->forecast_peak_at = plan->peak_at;
    draft->created_at = now;
    draft->expires_at = expires_at;
    planner_explain(plan, draft->reason, sizeof draft->reason);
    if (t->distrusted || t->model_problem) {
        size_t used = strlen(draft->reason);
        format_into(draft->reason + used, sizeof draft->reason - used, "%s%s", used ? "; " : "",
                    t->distrusted ? t->distrust_note : "forecast not used: the model was refused, sizing for the load "
                                                       "seen now");
    }
}

/* A forecaster that knows why the peak comes (the calendar's "35 min before Imsak, night 27 of Ramadan") has its
 * words added to the reason, with how far the peak is above the load now. */
static void explain_peak(target_state *t, const planner_decision *plan, recommendation *draft)
{
    char words[160];
    if (plan->reactive || !t->forecast_model ||
        instance_model_explain(t->forecaster, t->forecast_model, plan->peak_at, words, sizeof words) != 0 || !words[0])
        return;
    size_t used = strlen(draft->reason);
    if (isnan(t->last_load))
        format_into(draft->reason + used, sizeof draft->reason - used, "; the peak comes %s", words);
    else
        format_into(draft->reason + used, sizeof draft->reason - used, "; the peak (%+.0f on the load now) comes %s",
                    plan->peak - t->last_load, words);
}

/* Asks the policy about a plan and records the outcome: executed at once, waiting for a person, or refused. */
static void recommend(controller *c, size_t index, const planner_decision *plan, double now)
{
    target_state *t = &c->targets[index];
    recommendation draft;
    draft_from_plan(t, index, plan, now, now + c->config->approval_timeout_seconds, &draft);
    explain_peak(t, plan, &draft);
    policy_context context = context_for(c, t, now, plan->reactive);
    char why[REC_TEXT_MAX];
    policy_verdict verdict = policy_decide(c->policy, &draft, &context, why, sizeof why);
    draft.asked = verdict == VERDICT_ASK;
    draft.state = verdict == VERDICT_APPROVE ? REC_APPROVED : REC_PENDING;
    recommendation *rec = recommendation_add(&c->book, &draft, policy_name(c->policy), why);
    if (!rec)
        return; /* not recorded: asked again at the next tick */
    if (verdict == VERDICT_REJECT) {
        recommendation_transition(&c->book, rec, REC_REJECTED, now, policy_name(c->policy), why);
        t->quiet_until = now + c->config->approval_timeout_seconds;
        return;
    }
    t->open = rec;
    if (verdict == VERDICT_APPROVE)
        execute(c, t, rec, now);
}

/* While a person decides, a step the policy lets through on its own may still go ahead. */
static void step_while_pending(controller *c, size_t index, const planner_decision *soon, double now)
{
    target_state *t = &c->targets[index];
    if (soon->action != PLAN_SCALE_UP)
        return;
    recommendation draft;
    draft_from_plan(t, index, soon, now, now, &draft);
    policy_context context = context_for(c, t, now, soon->reactive);
    char why[REC_TEXT_MAX];
    if (policy_decide(c->policy, &draft, &context, why, sizeof why) == VERDICT_APPROVE) {
        draft.state = REC_APPROVED;
        execute(c, t, recommendation_add(&c->book, &draft, policy_name(c->policy), why), now);
        return;
    }
    /* The soon plan is needed within a cold start and the person has not answered yet: the largest step toward it
     * that the policy lets through on its own goes ahead (found by halving, as a policy allows up to some size). */
    int low = t->status.desired, high = soon->replicas; /* low: approved (or where it is); high: not approved */
    recommendation best;
    char best_why[REC_TEXT_MAX] = "";
    while (high - low > 1) {
        planner_decision step = *soon;
        step.replicas = low + (high - low) / 2;
        draft_from_plan(t, index, &step, now, now, &draft);
        if (policy_decide(c->policy, &draft, &context, why, sizeof why) == VERDICT_APPROVE) {
            best = draft;
            format_into(best_why, sizeof best_why, "%s", why);
            low = step.replicas;
        } else {
            high = step.replicas;
        }
    }
    if (!best_why[0])
        return;
    size_t used = strlen(best.reason);
    format_into(best.reason + used, sizeof best.reason - used, "; a step toward it while a person decides on %s",
                t->open ? t->open->id : "the larger one");
    best.state = REC_APPROVED;
    execute(c, t, recommendation_add(&c->book, &best, policy_name(c->policy), best_why), now);
}

static bool policy_would_approve(controller *c, size_t index, const planner_decision *early, double now)
{
    target_state *t = &c->targets[index];
    early_probe *probe = &t->probe;
    if (!isnan(probe->asked_at) && probe->from == t->status.desired && probe->to == early->replicas &&
        probe->reactive == early->reactive && now - probe->asked_at < c->config->approval_latency_seconds)
        return probe->approves;
    recommendation draft;
    draft_from_plan(t, index, early, now, now, &draft);
    policy_context context = context_for(c, t, now, early->reactive);
    char why[REC_TEXT_MAX];
    *probe = (early_probe){t->status.desired, early->replicas, early->reactive,
                           policy_decide(c->policy, &draft, &context, why, sizeof why) == VERDICT_APPROVE, now};
    return probe->approves;
}

/* A pending scale-up is replaced when demand has outgrown it, so the person decides on what is needed. When the
 * load now needs more, at once; when only the forecast grew, not before the question has stood as long as a person
 * usually takes to answer: a question replaced every tick while a ramp comes into view is one nobody can answer. */
static bool outgrown(const controller *c, const target_state *t, const recommendation *pending,
                     const planner_decision *soon, const planner_decision *early, double now)
{
    double margin = pending->to_replicas * (1 + t->config->tolerance);
    bool stood = now - pending->created_at >= c->config->approval_latency_seconds;
    return pending->to_replicas > pending->from_replicas &&
           ((soon->action == PLAN_SCALE_UP && soon->replicas > pending->to_replicas) ||
            (stood && early->action == PLAN_SCALE_UP && early->replicas > margin));
}

/* ## Demand alerts: a heads-up on what the forecast sees coming ------------------------------------------------ */

/* The mean of the last `window` samples that were measured; NAN without any. */
static double recent_average(const target_state *t, size_t window)
{
    size_t count = window < t->count ? window : t->count, measured = 0;
    size_t first = t->head + t->count - count;
    double sum = 0;
    for (size_t i = 0; i < count; i++) {
        double value = t->history[(first + i) % t->capacity];
        if (!isnan(value)) {
            sum += value;
            measured++;
        }
    }
    return measured ? sum / (double)measured : NAN;
}

/* One alert when the forecast within the lead time first goes above spike_factor x the last hour's average (or
 * below decline_factor x it), none while that lasts. Only with a listener: the simulator has none. */
static void check_demand(controller *c, target_state *t, size_t steps, double now)
{
    const config_target *config = t->config;
    size_t window = (size_t)fmax(1, round(3600 / c->step));
    if (!c->alert_listener || t->count < window || (config->spike_factor <= 0 && config->decline_factor <= 0))
        return;
    double average = recent_average(t, window);
    double high = -INFINITY, low = INFINITY, high_at = now, low_at = now;
    for (size_t i = 0; i < steps; i++) {
        double value = t->forecast.mean[i], at = now + (double)(i + 1) * c->step;
        if (value > high)
            high = value, high_at = at;
        if (value < low)
            low = value, low_at = at;
    }
    if (!(average > 0) || !isfinite(high))
        return;
    int kind = config->spike_factor > 0 && high > config->spike_factor * average       ? ALERT_DEMAND_SPIKE
               : config->decline_factor > 0 && low < config->decline_factor * average ? ALERT_DEMAND_DECLINE
                                                                                       : -1;
    if (kind >= 0 && kind != t->demand_alert) {
        bool spike = kind == ALERT_DEMAND_SPIKE;
        controller_alert alert = {config->name,
                                  config->metric,
                                  instance_name(t->forecaster),
                                  now,
                                  (spike ? high : low) / average,
                                  spike ? config->spike_factor : config->decline_factor,
                                  spike ? high : low,
                                  (controller_alert_kind)kind,
                                  average,
                                  spike ? high_at : low_at,
                                  NULL};
        c->alert_listener(c->alert_context, &alert);
    }
    t->demand_alert = kind;
}

/* ## Live accuracy: a forecast past the bound is not acted on ---------------------------------------------------- */

static bool accuracy_within_bound(const models_config *m, double mape, double mase)
{
    return (m->max_mape <= 0 || !(mape > m->max_mape)) && (m->max_mase <= 0 || !(mase > m->max_mase));
}

/* Judged once enough forecasts were compared; an alert when trust is lost (one per episode), a log line when it
 * comes back. */
static void check_accuracy(controller *c, target_state *t, double now)
{
    const models_config *m = &c->config->models;
    if (accuracy_compared(&t->accuracy) < (size_t)m->accuracy_min_compared)
        return;
    double mape = accuracy_mape(&t->accuracy), mase = accuracy_mase(&t->accuracy);
    bool distrusted = !accuracy_within_bound(m, mape, mase);
    if (distrusted)
        format_into(t->distrust_note, sizeof t->distrust_note,
                    "forecast not used: %s is inaccurate (MAPE %.0f %%, MASE %.2f over the last %zu forecasts; bound "
                    "MAPE %.0f %%, MASE %.2f), sizing for the load seen now",
                    instance_name(t->forecaster), mape * 100, mase, accuracy_compared(&t->accuracy), m->max_mape * 100,
                    m->max_mase);
    if (distrusted == t->distrusted)
        return;
    t->distrusted = distrusted;
    if (!distrusted) {
        log_info("target %s: forecaster %s is accurate again (MAPE %.0f %%, MASE %.2f): forecasts are acted on",
                 t->config->name, instance_name(t->forecaster), mape * 100, mase);
        return;
    }
    log_warn("target %s: %s", t->config->name, t->distrust_note);
    if (c->alert_listener) {
        controller_alert alert = {t->config->name, t->config->metric, instance_name(t->forecaster), now, mape,
                                  m->max_mape, mase, ALERT_FORECAST_INACCURATE, NAN, NAN, t->distrust_note};
        c->alert_listener(c->alert_context, &alert);
    }
}

/* The plan a person has time for: a scale-up that would need a person is recommended approval latency earlier. */
static void plan_target(controller *c, size_t index, double now)
{
    target_state *t = &c->targets[index];
    /* Without a forecast the planner sizes for the load seen now: a reactive autoscaler. */
    const double *forecast = t->config->predictive ? run_forecast(c, t) : NULL;
    size_t steps = t->forecast.steps;
    if (forecast) {
        accuracy_forecast(&t->accuracy, t->forecast.mean[t->accuracy_step]);
        check_accuracy(c, t, now);
    }
    if (forecast && t->distrusted)
        forecast = NULL; /* reactive until accuracy recovers; the reason of every recommendation says so */
    if (forecast)
        check_demand(c, t, steps, now);
    if (!forecast && !isnan(t->last_load)) {
        t->forecast.mean[0] = t->last_load;
        forecast = t->forecast.mean;
        steps = 1;
    }
    /* What is decided now is looked at again only a tick later: capacity must cover until then too. */
    planner_input in = {t->config, now, forecast, forecast ? steps : 0, c->step,
                        t->config->cold_start_seconds + c->step, t->last_load, t->status.desired, t->status.ready,
                        now < t->anomalous_until, forecast == t->forecast.mean && steps == 1};
    planner_memory long_memory = t->memory;
    planner_decision soon, early;
    planner_plan(&in, &t->memory, &soon);
    in.lead_seconds += c->config->approval_latency_seconds;
    /* Asking early costs a question; asking late costs an outage: the early plan reads the 95 % bound. */
    if (forecast && forecast != t->forecast.mean)
        in.forecast = t->forecast.upper95;
    planner_plan(&in, &long_memory, &early);
    t->last_forecast = soon.peak;
    /* Capacity that could come back only through a person, in time, is not given up: a scale-down keeps what the
     * early plan needs (the approval latency ahead), so a scale-up asked early lasts until its surge. */
    if (soon.action == PLAN_SCALE_DOWN && early.wanted > soon.replicas) {
        bool keep_all = early.wanted >= t->status.desired;
        planner_decision kept = early;
        kept.action = keep_all ? PLAN_HOLD : PLAN_SCALE_DOWN;
        kept.replicas = keep_all ? t->status.desired : early.wanted;
        kept.stabilized = soon.stabilized;
        soon = kept;
    }
    /* An action under way changes what the target runs: the next plan waits for its outcome. */
    if (t->paused || t->owed_count)
        return;
    recommendation *pending = t->open && t->open->state == REC_PENDING ? t->open : NULL;
    if (pending && !outgrown(c, t, pending, &soon, &early, now)) {
        step_while_pending(c, index, &soon, now);
        return;
    }
    if (pending) {
        recommendation_transition(&c->book, pending, REC_REJECTED, now, "controller",
                                  "superseded: demand outgrew it before anyone answered");
        t->open = NULL;
    }
    /* After a "no", the target is left alone for a while, unless it needs more capacity than it has. */
    if (now < t->quiet_until && soon.action != PLAN_SCALE_UP)
        return;
    /* A change the policy lets through needs no head start: wait until the cold start alone requires it. */
    if (early.action == PLAN_SCALE_UP && early.replicas > soon.replicas && !policy_would_approve(c, index, &early, now)) {
        recommend(c, index, &early, now);
        return;
    }
    if (soon.action != PLAN_HOLD)
        recommend(c, index, &soon, now);
}

static void expire_if_due(controller *c, target_state *t, double now)
{
    if (t->open && t->open->state == REC_PENDING && now >= t->open->expires_at) {
        recommendation_transition(&c->book, t->open, REC_EXPIRED, now, "expiry", "nobody answered in time");
        t->open = NULL;
    }
}

/* The target as its scaler reports it now; in a dry run, as the recommendations recorded would have left it. With a
 * worker, the status it read last (controller_set_status): the scaler is not called here. */
static int refresh_status(controller *c, target_state *t)
{
    if (c->dispatch)
        return t->status_known && !t->status_failing ? 0 : -1;
    hydra_scale_status status;
    t->status_failing = instance_scale_status(t->scaler, t->config->name, &status) != 0;
    if (t->status_failing)
        return -1;
    apply_status(t, &status);
    return 0;
}

static void tick_target(controller *c, size_t index, double now)
{
    target_state *t = &c->targets[index];
    complete_buckets(c, t, now);
    run_batch_anomaly(c, t);
    if (refresh_status(c, t) != 0)
        return;
    expire_if_due(c, t, now);
    /* what waited (a paused target, a store that refused the move to executing) is offered again */
    if (t->open && t->open->state == REC_APPROVED)
        owed_add(t, t->open);
    act(c, t, now);
    if (!t->status.paused)
        plan_target(c, index, now);
}

void controller_tick_target(controller *c, size_t index, double now)
{
    if (index < c->target_count)
        tick_target(c, index, now);
}

void controller_refresh_status(controller *c)
{
    for (size_t i = 0; i < c->target_count; i++)
        refresh_status(c, &c->targets[i]);
}

void controller_set_status(controller *c, size_t index, const hydra_scale_status *status)
{
    if (index >= c->target_count)
        return;
    target_state *t = &c->targets[index];
    t->status_failing = !status;
    if (status)
        apply_status(t, status);
}

void controller_defer_actions(controller *c, controller_dispatch dispatch, void *context)
{
    c->dispatch = dispatch;
    c->dispatch_context = context;
}

bool controller_owes_action(const controller *c, size_t index)
{
    return index < c->target_count && c->targets[index].owed_count > 0;
}

plugin_instance *controller_scaler(const controller *c, size_t index)
{
    return index < c->target_count ? c->targets[index].scaler : NULL;
}

/* A target's open recommendation stays: the API shows it, and a decision on it may still come. */
static bool shown_as_open(void *context, const recommendation *rec)
{
    const controller *c = context;
    return rec->target_index < c->target_count && c->targets[rec->target_index].open == rec;
}

void controller_tick(controller *c, double now)
{
    for (size_t i = 0; i < c->target_count; i++)
        tick_target(c, i, now);
    if (c->final_kept)
        recommendation_book_forget_final(&c->book, c->final_kept, shown_as_open, c);
}

/* Another replica's change, read from the store: a decision on a pending recommendation is taken as it was made
 * (an approval is then executed here); any other change means someone else is carrying it on, so it is let go. */
int controller_adopt(controller *c, const char *id, recommendation_state state, const char *by, const char *why,
                     double at, double now)
{
    recommendation *rec = recommendation_find(&c->book, id);
    if (!rec || rec->state == state)
        return -1;
    target_state *t = &c->targets[rec->target_index];
    bool decision = state == REC_APPROVED || state == REC_REJECTED || state == REC_EXPIRED;
    if (rec->state == REC_PENDING && decision) {
        if (recommendation_adopt(&c->book, rec, state, at, by, why) != 0)
            return -1;
        if (state == REC_APPROVED) {
            execute(c, t, rec, now); /* on a fresh read: the workload may have been paused since the last tick */
            return 0;
        }
        if (state == REC_REJECTED)
            t->quiet_until = now + c->config->approval_timeout_seconds;
    } else {
        log_warn("recommendation %s is %s in the store but %s here: left to the replica that moved it", id,
                 recommendation_state_name(state), recommendation_state_name(rec->state));
        rec->state = state;
        owed_remove(t, rec);
    }
    if (t->open == rec)
        t->open = NULL;
    return 0;
}

int controller_decide(controller *c, const char *id, bool approve, const char *by, const char *why, double now)
{
    recommendation *rec = recommendation_find(&c->book, id);
    if (!rec || rec->state != REC_PENDING)
        return -1;
    target_state *t = &c->targets[rec->target_index];
    if (recommendation_transition(&c->book, rec, approve ? REC_APPROVED : REC_REJECTED, now, by, why) != 0)
        return -1;
    if (!approve) {
        t->open = NULL;
        t->quiet_until = now + c->config->approval_timeout_seconds;
        return 0;
    }
    /* Executed on a fresh read: a person may have paused the workload since the last tick (when the scaler cannot
     * say, the last word stands). */
    execute(c, t, rec, now);
    return 0;
}

/* ## Notifications --------------------------------------------------------------------------------------------- */

static hydra_event event_for(recommendation_state state)
{
    static const hydra_event events[] = {
        [REC_PENDING] = HYDRA_EVENT_RECOMMENDATION_PENDING,   [REC_APPROVED] = HYDRA_EVENT_RECOMMENDATION_APPROVED,
        [REC_REJECTED] = HYDRA_EVENT_RECOMMENDATION_REJECTED, [REC_EXPIRED] = HYDRA_EVENT_RECOMMENDATION_EXPIRED,
        [REC_EXECUTING] = 0, [REC_EXECUTED] = HYDRA_EVENT_RECOMMENDATION_EXECUTED,
        [REC_FAILED] = HYDRA_EVENT_RECOMMENDATION_FAILED,
    };
    return events[state];
}

/* People hear of what asks them, and of how each action ended; an auto-approved action is told once, when done.
 * Nobody hears of a change the store refused: it did not happen. */
static int notify_people(void *context, const recommendation_event *event)
{
    controller *c = context;
    if (c->listener && c->listener(c->listener_context, event) != 0)
        return -1;
    const recommendation *rec = event->rec;
    hydra_event kind = event_for(event->to);
    if (!kind || c->notifier_count == 0 || (event->to == REC_APPROVED && event->from == REC_APPROVED))
        return 0;
    char summary[256];
    format_into(summary, sizeof summary, "%s %s from %d to %d replicas", recommendation_state_name(event->to),
                rec->target, rec->from_replicas, rec->to_replicas);
    /* Only a question carries links: signed ones a person opens from the message, valid until the question
     * expires, or else the API's routes (which need a key, as `hydra recommendations` has). */
    char approve[512] = "", reject[512] = "";
    const char *public_url = c->config->public_url;
    if (event->to == REC_PENDING && public_url && c->links) {
        long long expires = (long long)ceil(rec->expires_at);
        const char *tenant = c->config->tenant;
        if (link_url(c->links, public_url, "approve", tenant, rec->id, expires, approve, sizeof approve) != 0 ||
            link_url(c->links, public_url, "reject", tenant, rec->id, expires, reject, sizeof reject) != 0)
            approve[0] = reject[0] = '\0';
    } else if (event->to == REC_PENDING && public_url) {
        format_into(approve, sizeof approve, "%s/api/v1/recommendations/%s/approve", public_url, rec->id);
        format_into(reject, sizeof reject, "%s/api/v1/recommendations/%s/reject", public_url, rec->id);
    }
    hydra_notification n = {kind, event->at, rec->id, rec->target, rec->from_replicas, rec->to_replicas,
                            rec->forecast_peak, summary, rec->reason, event->by, approve[0] ? approve : NULL,
                            reject[0] ? reject : NULL};
    for (size_t i = 0; i < c->notifier_count; i++)
        if (instance_notify(c->notifiers[i], &n) != 0)
            log_warn("notifier %s: %s not notified: %s", instance_name(c->notifiers[i]), rec->id,
                     instance_error(c->notifiers[i]));
    return 0;
}

/* ## Setup ----------------------------------------------------------------------------------------------------- */

static int target_init(controller *c, const controller_setup *setup, size_t index, char *error, size_t error_size)
{
    target_state *t = &c->targets[index];
    const config_target *config = &setup->config->targets[index];
    t->config = config;
    t->forecaster = plugin_set_find(setup->plugins, HYDRA_KIND_FORECASTER, config->forecaster);
    t->anomaly = config->anomaly ? plugin_set_find(setup->plugins, HYDRA_KIND_ANOMALY, config->anomaly) : NULL;
    t->scaler = setup->scaler ? setup->scaler : plugin_set_find(setup->plugins, HYDRA_KIND_SCALER, config->scaler);
    if (!t->forecaster || !t->scaler || (config->anomaly && !t->anomaly)) {
        format_into(error, error_size, "target %s: a plugin it names is not loaded", config->name);
        return -1;
    }
    t->capacity = (size_t)ceil(setup->config->history_seconds / c->step);
    t->history = xcalloc(t->capacity, sizeof *t->history);
    t->bucket_ts = NAN;
    t->last_load = t->last_forecast = t->last_load_at = NAN;
    planner_memory_init(&t->memory);
    t->probe.asked_at = NAN;
    t->demand_alert = -1;
    double lead = config->cold_start_seconds + setup->config->approval_latency_seconds + c->step;
    forecast_buffers_init(&t->forecast, (size_t)ceil(lead / c->step) + 1);
    /* the step the soon plan's lead (cold start + a tick) ends in */
    t->accuracy_step = (size_t)fmin((double)t->forecast.steps - 1, ceil(config->cold_start_seconds / c->step));
    accuracy_init(&t->accuracy, (size_t)fmax(1, ceil(setup->config->models.accuracy_window_seconds / c->step)),
                  t->accuracy_step + 1);
    if (open_models(c, t, clock_now(c->clock), error, error_size) != 0)
        return -1;
    bool batch_anomaly = t->anomaly && !t->anomaly_model;
    /* A batch detector's window is at most BATCH_ANOMALY_WINDOW of the ring's values, so capacity holds both. */
    if (!t->forecast_model || batch_anomaly)
        t->window = xcalloc(t->capacity, sizeof *t->window);
    if (batch_anomaly)
        t->scores = xcalloc(BATCH_ANOMALY_WINDOW, sizeof *t->scores);
    return 0;
}

static void collect_notifiers(controller *c, const controller_setup *setup)
{
    c->notifiers = xcalloc(setup->config->notifier_count + 1, sizeof *c->notifiers);
    for (size_t i = 0; i < setup->config->notifier_count; i++) {
        plugin_instance *n = plugin_set_find(setup->plugins, HYDRA_KIND_NOTIFIER, setup->config->notifiers[i]);
        if (n)
            c->notifiers[c->notifier_count++] = n;
    }
}

controller *controller_create(const controller_setup *setup, char *error, size_t error_size)
{
    controller *c = xcalloc(1, sizeof *c);
    c->config = setup->config;
    c->policy = setup->policy;
    c->clock = setup->clock;
    c->step = setup->config->tick_seconds;
    c->listener = setup->listener;
    c->listener_context = setup->listener_context;
    c->links = setup->links;
    c->final_kept = setup->final_kept;
    recommendation_book_init(&c->book, setup->id_prefix);
    recommendation_book_listen(&c->book, notify_people, c);
    collect_notifiers(c, setup);
    c->targets = xcalloc(setup->config->target_count + 1, sizeof *c->targets);
    for (size_t i = 0; i < setup->config->target_count; i++) {
        c->target_count = i + 1;
        if (target_init(c, setup, i, error, error_size) != 0) {
            controller_destroy(c);
            return NULL;
        }
    }
    return c;
}

void controller_destroy(controller *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->target_count; i++) {
        target_state *t = &c->targets[i];
        close_models(t);
        forecast_buffers_free(&t->forecast);
        accuracy_free(&t->accuracy);
        free(t->model_problem);
        free(t->history);
        free(t->window);
        free(t->scores);
        free(t->owed);
    }
    free(c->targets);
    free(c->notifiers);
    recommendation_book_free(&c->book);
    free(c);
}

/* ## Look-ups -------------------------------------------------------------------------------------------------- */

size_t controller_target_count(const controller *c) { return c->target_count; }
recommendation_book *controller_recommendations(controller *c) { return &c->book; }

long controller_target_index(const controller *c, const char *name)
{
    for (size_t i = 0; i < c->target_count; i++)
        if (strcmp(c->targets[i].config->name, name) == 0)
            return (long)i;
    return -1;
}

void controller_view_target(const controller *c, size_t index, controller_view *out)
{
    const target_state *t = &c->targets[index];
    *out = (controller_view){t->config->name, t->last_load, t->last_forecast, t->last_score, t->status.desired,
                             t->status.ready, t->open, t->paused, t->config->dry_run};
}

void controller_on_alert(controller *c, controller_alert_listener listener, void *context)
{
    c->alert_listener = listener;
    c->alert_context = context;
}

int controller_set_paused(controller *c, size_t index, bool paused)
{
    if (index >= c->target_count)
        return -1;
    c->targets[index].paused = paused;
    return 0;
}

/* ## Forecasts and history on request (the API) ---------------------------------------------------------------- */

size_t controller_history(const controller *c, size_t index, double *values, size_t max, double *last_at)
{
    const target_state *t = &c->targets[index];
    hydra_series window = history_view(t, c->step, max, values);
    *last_at = t->bucket_ts;
    return window.count;
}

/* Like run_forecast, into the caller's arrays and for its horizon; the model is only read. */
int controller_forecast(controller *c, size_t index, hydra_forecast *out, double *first_at)
{
    if (index >= c->target_count)
        return -1;
    target_state *t = &c->targets[index];
    *first_at = t->bucket_ts + c->step;
    if (t->model_problem)
        return -1;
    if (t->forecast_model)
        return instance_model_forecast(t->forecaster, t->forecast_model, out);
    double *window = xcalloc(t->capacity, sizeof *window);
    hydra_series history = history_view(t, c->step, t->capacity, window);
    int status = history.count ? instance_forecast(t->forecaster, &history, out) : -1;
    free(window);
    return status;
}

/* ## The model lifecycle ---------------------------------------------------------------------------------------- */

void controller_accuracy(const controller *c, size_t index, controller_accuracy_view *out)
{
    const target_state *t = &c->targets[index];
    *out = (controller_accuracy_view){accuracy_mape(&t->accuracy), accuracy_mase(&t->accuracy),
                                      accuracy_compared(&t->accuracy), !t->distrusted};
}

void *controller_forecast_model(controller *c, size_t index)
{
    return index < c->target_count ? c->targets[index].forecast_model : NULL;
}

void controller_adopt_model(controller *c, size_t index, void *model, double trained_to)
{
    target_state *t = &c->targets[index];
    /* the kept intervals are [bucket_ts - count * step, bucket_ts); the model has seen those before trained_to, and
     * those after it that are still to come (a model saved by a run that had ticked further) it will not see twice */
    double oldest = t->bucket_ts - (double)t->count * c->step;
    double behind = isnan(t->bucket_ts) ? 0 : round((t->bucket_ts - trained_to) / c->step);
    for (double gap = round((oldest - trained_to) / c->step); gap > 0; gap--)
        instance_model_observe(t->forecaster, model, NAN);
    size_t replay = (size_t)fmax(0, fmin(behind, (double)t->count));
    for (size_t i = t->count - replay; i < t->count; i++)
        instance_model_observe(t->forecaster, model, t->history[(t->head + i) % t->capacity]);
    if (t->forecast_model)
        instance_model_close(t->forecaster, t->forecast_model);
    t->forecast_model = model;
    t->model_seen_until = trained_to;
    free(t->model_problem);
    t->model_problem = NULL;
}

void controller_refuse_model(controller *c, size_t index, const char *reason)
{
    target_state *t = &c->targets[index];
    if (t->forecast_model)
        instance_model_close(t->forecaster, t->forecast_model);
    t->forecast_model = NULL;
    free(t->model_problem);
    t->model_problem = xstrdup(reason);
}

const char *controller_model_problem(const controller *c, size_t index) { return c->targets[index].model_problem; }
