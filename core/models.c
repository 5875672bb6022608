#include "models.h"

#include "drift.h"
#include "keys.h"
#include "log.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct model_slot {
    plugin_instance *forecaster;
    bool saveable;            /* the registry is on and the forecaster streams and saves its models */
    long long active;         /* the active version; 0 while none was saved */
    double trained_from, trained_to;
    drift_reference reference; /* the active version's training window, for drift */
    bool has_reference;
    double next_drift_check;
    double next_refit;        /* the next scheduled refit; INFINITY when none are */
    char refit_trigger[256];  /* why a refit is due; "" when none is */
    double refit_not_before;  /* a refused or failed refit waits for new data */
    bool refit_waiting;       /* the refit due waits for new data; said once */
    bool drifting;            /* a drift episode is under way: alerted once */
} model_slot;

struct models_registry {
    model_slot *slots;
    size_t count;
};

/* ## Versions in the store ---------------------------------------------------------------------------------------- */

/* One version as read from the store, copied out of the visitor. */
typedef struct stored_version {
    bool found;
    long long version;
    int active;
    char *state, *checksum, *metrics, *note;
    double trained_from, trained_to, created_at;
} stored_version;

static int keep_version(void *context, const hydra_model_record *r)
{
    stored_version *v = context;
    *v = (stored_version){true, r->version, r->active, xstrdup(r->state ? r->state : ""),
                          xstrdup(r->checksum ? r->checksum : ""), r->metrics ? xstrdup(r->metrics) : NULL,
                          r->note ? xstrdup(r->note) : NULL, r->trained_from, r->trained_to, r->created_at};
    return 1;
}

static void stored_version_free(stored_version *v)
{
    free(v->state);
    free(v->checksum);
    free(v->metrics);
    free(v->note);
    memset(v, 0, sizeof *v);
}

static const config_target *target_config(const daemon_app *app, size_t index)
{
    return &app->store.config.targets[index];
}

/* 0 found, 1 none, -1 the store failed (error says so). */
static int read_version(daemon_app *app, size_t index, long long version, stored_version *out, char *error,
                        size_t error_size)
{
    const config_target *target = target_config(app, index);
    memset(out, 0, sizeof *out);
    int status = app->store.ops->get_model_version(app->store.state, app->store.config.tenant, target->name,
                                                   target->forecaster, version, keep_version, out);
    if (status < 0)
        format_into(error, error_size, "service %s model %s: the store cannot read its versions: %s", target->name,
                    target->forecaster, instance_error(app->store.instance));
    return status < 0 ? -1 : out->found ? 0 : 1;
}

/* The version's state as a model, or NULL with why in error: a checksum that does not match, an empty state, or
 * text the forecaster refuses. */
static void *model_from_version(daemon_app *app, size_t index, const stored_version *v, char *error,
                                size_t error_size)
{
    const config_target *target = target_config(app, index);
    plugin_instance *forecaster = app->models->slots[index].forecaster;
    char computed[KEYS_HASH_HEX];
    keys_hash(v->state, computed);
    if (!v->state[0]) {
        format_into(error, error_size, "service %s model %s version %lld: the saved state is missing (empty)",
                    target->name, target->forecaster, v->version);
        return NULL;
    }
    if (!keys_hash_equal(computed, v->checksum)) {
        format_into(error, error_size,
                    "service %s model %s version %lld: the saved state is corrupt: its SHA-256 is %.16s..., the "
                    "checksum saved with it %.16s...",
                    target->name, target->forecaster, v->version, computed, v->checksum);
        return NULL;
    }
    void *model = instance_model_load(forecaster, v->state);
    if (!model)
        format_into(error, error_size, "service %s model %s version %lld: the forecaster refuses the saved state: %s",
                    target->name, target->forecaster, v->version, instance_error(forecaster));
    return model;
}

/* ## Training windows: their distribution, kept with the version as JSON ------------------------------------------ */

static json_t *numbers_json(const double *values, size_t count)
{
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(list, json_real(values[i]));
    return list;
}

/* Adds the training window's drift reference to a version's metrics. */
static void add_reference(json_t *metrics, const double *values, size_t count)
{
    drift_reference reference;
    if (drift_reference_make(values, count, &reference) != 0)
        return;
    json_object_set_new(metrics, "training_quantiles", numbers_json(reference.quantiles, DRIFT_QUANTILES));
    json_object_set_new(metrics, "training_shares", numbers_json(reference.shares, DRIFT_BINS));
}

static bool numbers_read(json_t *document, const char *name, double *out, size_t count)
{
    json_t *list = json_object_get(document, name);
    bool complete = json_array_size(list) == count;
    for (size_t i = 0; complete && i < count; i++) {
        complete = json_is_number(json_array_get(list, i));
        out[i] = json_number_value(json_array_get(list, i));
    }
    return complete;
}

static bool reference_from_metrics(const char *metrics, drift_reference *reference)
{
    json_error_t ignored;
    json_t *document = metrics ? json_loads(metrics, 0, &ignored) : NULL;
    bool complete = numbers_read(document, "training_quantiles", reference->quantiles, DRIFT_QUANTILES) &&
                    numbers_read(document, "training_shares", reference->shares, DRIFT_BINS);
    json_decref(document);
    return complete;
}

static void slot_take_version(model_slot *slot, long long version, double from, double to, const char *metrics)
{
    slot->active = version;
    slot->trained_from = from;
    slot->trained_to = to;
    slot->has_reference = reference_from_metrics(metrics, &slot->reference);
    slot->drifting = false;
}

/* The target's kept history: values (the caller frees), how many, when the newest ends. */
static double *history_of(daemon_app *app, size_t index, size_t *count, double *last_at)
{
    const hydra_config *config = &app->store.config;
    size_t capacity = (size_t)ceil(config->history_seconds / config->tick_seconds);
    double *values = xcalloc(capacity + 1, sizeof *values);
    *count = controller_history(app->controller, index, values, capacity, last_at);
    return values;
}

/* Saves a model as a new version; 0 with *version set, or -1 after logging why. */
static int save_version(daemon_app *app, size_t index, void *model, double from, double to, json_t *metrics,
                        bool active, const char *note, long long *version)
{
    const config_target *target = target_config(app, index);
    plugin_instance *forecaster = app->models->slots[index].forecaster;
    char *state = instance_model_save(forecaster, model);
    if (!state) {
        log_error("service %s model %s: cannot save the model: %s", target->name, target->forecaster,
                  instance_error(forecaster));
        return -1;
    }
    char checksum[KEYS_HASH_HEX];
    keys_hash(state, checksum);
    char *metrics_text = json_dumps(metrics, JSON_COMPACT | JSON_REAL_PRECISION(10));
    hydra_model_record record = {app->store.config.tenant, target->name, target->forecaster, 0, active, state,
                                 checksum, from, to, metrics_text, clock_now(&app->clock), note};
    int status = app->store.ops->put_model_version(app->store.state, &record, version);
    if (status != 0)
        log_error("service %s model %s: version not saved: %s", target->name, target->forecaster,
                  instance_error(app->store.instance));
    else if (active)
        slot_take_version(&app->models->slots[index], *version, from, to, metrics_text);
    free(metrics_text);
    free(state);
    return status == 0 ? 0 : -1;
}

/* ## Telling people ------------------------------------------------------------------------------------------------ */

static void tell(daemon_app *app, size_t index, const char *summary, const char *message)
{
    const config_target *target = target_config(app, index);
    hydra_notification n = {HYDRA_EVENT_ALERT, clock_now(&app->clock), NULL, target->name, 0, 0, NAN, summary,
                            message, "models", NULL, NULL};
    api_notify(app, &n);
    hydra_audit_record audit = {app->store.config.tenant, clock_now(&app->clock), "controller", "models.refit",
                                target->name, message, NULL};
    app->store.ops->append_audit(app->store.state, &audit);
}

/* ## Opening: the active versions ---------------------------------------------------------------------------------- */

static void refuse(daemon_app *app, size_t index, const char *why)
{
    char message[1024];
    format_into(message, sizeof message, "%s; no forecasts for it until a valid version is active (refit it or "
                "activate another version: docs/operations.md, \"A model state corrupt\")", why);
    log_error("%s", message);
    controller_refuse_model(app->controller, index, message);
}

/* 0 whether the version was taken or refused; -1 only when the store cannot be read. */
static int load_active(daemon_app *app, size_t index, char *error, size_t error_size)
{
    model_slot *slot = &app->models->slots[index];
    stored_version v;
    int status = read_version(app, index, 0, &v, error, error_size);
    if (status != 0)
        return status < 0 ? -1 : 0;
    char why[768];
    void *model = model_from_version(app, index, &v, why, sizeof why);
    slot->active = v.version;
    if (model) {
        controller_adopt_model(app->controller, index, model, v.trained_to);
        slot_take_version(slot, v.version, v.trained_from, v.trained_to, v.metrics);
        log_info("service %s: model %s version %lld loaded from the store", target_config(app, index)->name,
                 target_config(app, index)->forecaster, v.version);
    } else {
        refuse(app, index, why);
    }
    stored_version_free(&v);
    return 0;
}

models_registry *models_open(daemon_app *app, char *error, size_t error_size)
{
    const hydra_config *config = &app->store.config;
    models_registry *registry = xcalloc(1, sizeof *registry);
    registry->count = config->target_count;
    registry->slots = xcalloc(config->target_count + 1, sizeof *registry->slots);
    app->models = registry;
    double now = clock_now(&app->clock);
    for (size_t i = 0; i < config->target_count; i++) {
        model_slot *slot = &registry->slots[i];
        slot->forecaster = plugin_set_find(&app->plugins, HYDRA_KIND_FORECASTER, config->targets[i].forecaster);
        slot->saveable = config->models.registry && instance_can_save_models(slot->forecaster) &&
                         controller_forecast_model(app->controller, i);
        slot->next_drift_check = now + config->models.drift_check_seconds;
        slot->next_refit = config->models.refit_every_seconds > 0 ? now + config->models.refit_every_seconds
                                                                  : INFINITY;
        if (slot->saveable && load_active(app, i, error, error_size) != 0) {
            models_close(registry);
            app->models = NULL;
            return NULL;
        }
    }
    return registry;
}

void models_close(models_registry *registry)
{
    if (!registry)
        return;
    free(registry->slots);
    free(registry);
}

/* ## Refits: fitted before the holdout, promoted only when better there ------------------------------------------- */

/* Mean absolute error of a forecast over actual values, scaled by the mean absolute change between neighbours of
 * the training values (a naive forecast's error one step ahead). NAN when nothing can be compared. */
static double holdout_mase(const double *forecast, const double *actual, size_t count, const double *training,
                           size_t training_count)
{
    double error = 0, naive = 0;
    size_t errors = 0, changes = 0;
    for (size_t i = 0; i < count; i++)
        if (!isnan(actual[i]))
            error += fabs(forecast[i] - actual[i]), errors++;
    for (size_t i = 1; i < training_count; i++)
        if (!isnan(training[i]) && !isnan(training[i - 1]))
            naive += fabs(training[i] - training[i - 1]), changes++;
    if (!errors || !changes)
        return NAN;
    double scale = naive / (double)changes;
    return scale > 0 ? (error / (double)errors) / scale : INFINITY;
}

/* The model's forecast over the holdout, scored; NAN when it cannot forecast. */
static double score_on_holdout(plugin_instance *forecaster, void *model, const double *actual, size_t holdout,
                               const double *training, size_t training_count)
{
    double *block = xcalloc(5 * holdout, sizeof *block);
    hydra_forecast f = {holdout, block, block + holdout, block + 2 * holdout, block + 3 * holdout,
                        block + 4 * holdout, 0, {{0}}, {0}};
    double score = instance_model_forecast(forecaster, model, &f) == 0
                       ? holdout_mase(f.mean, actual, holdout, training, training_count)
                       : NAN;
    free(block);
    return score;
}

/* What a refit works on: the history split into a training part and the holdout after it. */
typedef struct refit_data {
    double *values;
    size_t count, train_start, split;
    double step, last_at;
    double ring_from;  /* when values[0] starts */
    double split_at;   /* when the holdout starts */
} refit_data;

/* The active version as it would have forecast at the holdout's start: loaded, then fed what came after its
 * training. NULL with why in error. */
static void *active_at_split(daemon_app *app, size_t index, const refit_data *d, char *error, size_t error_size)
{
    model_slot *slot = &app->models->slots[index];
    stored_version v;
    if (read_version(app, index, slot->active, &v, error, error_size) != 0)
        return NULL;
    void *model = model_from_version(app, index, &v, error, error_size);
    for (double t = v.trained_to; model && t < d->split_at - 1e-6; t += d->step) {
        double offset = round((t - d->ring_from) / d->step);
        instance_model_observe(slot->forecaster, model, offset < 0 ? NAN : d->values[(size_t)offset]);
    }
    stored_version_free(&v);
    return model;
}

typedef struct refit_outcome {
    bool promoted;
    long long version;        /* the new version; 0 when none was saved */
    double candidate_score, active_score;
    char note[512];
} refit_outcome;

static json_t *refit_metrics(const refit_data *d, const refit_outcome *o, long long compared_with,
                             const char *trigger)
{
    size_t trained_until = o->promoted ? d->count : d->split;
    json_t *metrics = json_pack("{s:s, s:I, s:f}", "trigger", trigger, "holdout_steps",
                                (json_int_t)(d->count - d->split), "holdout_seconds",
                                (double)(d->count - d->split) * d->step);
    json_object_set_new(metrics, "holdout_mase", isfinite(o->candidate_score) ? json_real(o->candidate_score)
                                                                               : json_null());
    json_object_set_new(metrics, "active_version", compared_with ? json_integer(compared_with) : json_null());
    json_object_set_new(metrics, "active_holdout_mase", isfinite(o->active_score) ? json_real(o->active_score)
                                                                                   : json_null());
    add_reference(metrics, d->values + d->train_start, trained_until - d->train_start);
    return metrics;
}

/* 0 when a version was saved (promoted or refused: out says which, with both scores). 1 (why in note) when new
 * data must come first: history shorter than the holdout, a holdout without samples, or an active version trained
 * into it. -1 when the new
 * fit cannot forecast or its version cannot be saved. */
static int refit_target(daemon_app *app, size_t index, const char *trigger, refit_outcome *out)
{
    const hydra_config *config = &app->store.config;
    model_slot *slot = &app->models->slots[index];
    const config_target *target = target_config(app, index);
    memset(out, 0, sizeof *out);
    out->candidate_score = out->active_score = NAN;
    refit_data d = {.step = config->tick_seconds};
    d.values = history_of(app, index, &d.count, &d.last_at);
    size_t holdout = (size_t)ceil(config->models.holdout_seconds / d.step);
    size_t train_steps = config->models.train_window_seconds > 0
                             ? (size_t)ceil(config->models.train_window_seconds / d.step) : d.count;
    int status = 1;
    void *candidate = NULL, *active = NULL;
    bool judged_against_active = slot->active > 0 && !controller_model_problem(app->controller, index);
    d.split = d.count > holdout ? d.count - holdout : 0;
    d.split_at = d.last_at - (double)holdout * d.step;
    /* what new data alone will settle is checked before any fitting: the refit is then tried again at each tick */
    if (d.count < holdout + 2) {
        format_into(out->note, sizeof out->note, "%zu intervals of history, the holdout alone needs %zu", d.count,
                    holdout);
        goto done;
    }
    size_t measured = 0;
    for (size_t i = d.split; i < d.count; i++)
        measured += !isnan(d.values[i]);
    if (measured == 0) {
        format_into(out->note, sizeof out->note, "no samples in the last %zu intervals (the holdout)", holdout);
        goto done;
    }
    if (judged_against_active && slot->trained_to > d.split_at + 1e-6) {
        format_into(out->note, sizeof out->note, "version %lld was trained until %.0f, after the holdout starts at "
                    "%.0f: it is judged on data it has not seen, so later", slot->active, slot->trained_to, d.split_at);
        goto done;
    }
    status = -1;
    d.train_start = d.split > train_steps ? d.split - train_steps : 0;
    d.ring_from = d.last_at - (double)d.count * d.step;
    hydra_series training = {d.values + d.train_start, d.split - d.train_start,
                             d.ring_from + (double)d.train_start * d.step, d.step};
    candidate = instance_model_open(slot->forecaster, &training);
    out->candidate_score = candidate ? score_on_holdout(slot->forecaster, candidate, d.values + d.split, holdout,
                                                        training.values, training.count)
                                     : NAN;
    if (isnan(out->candidate_score)) {
        format_into(out->note, sizeof out->note, "the new fit cannot forecast the holdout: %s",
                    instance_error(slot->forecaster));
        goto done;
    }
    if (judged_against_active) {
        active = active_at_split(app, index, &d, out->note, sizeof out->note);
        if (!active)
            goto done;
        out->active_score = score_on_holdout(slot->forecaster, active, d.values + d.split, holdout, training.values,
                                             training.count);
    }
    out->promoted = !judged_against_active || !(out->active_score <= out->candidate_score);
    if (judged_against_active)
        format_into(out->note, sizeof out->note, "%s (%s): holdout MASE %.3f %s version %lld's %.3f",
                    out->promoted ? "promoted" : "refused", trigger, out->candidate_score,
                    out->promoted ? "beats" : "does not beat", slot->active, out->active_score);
    else
        format_into(out->note, sizeof out->note, "promoted (%s): holdout MASE %.3f; no valid active version to "
                    "beat", trigger, out->candidate_score);
    for (size_t i = d.split; out->promoted && i < d.count; i++)
        instance_model_observe(slot->forecaster, candidate, d.values[i]);
    json_t *metrics = refit_metrics(&d, out, judged_against_active ? slot->active : 0, trigger);
    double trained_to = out->promoted ? d.last_at : d.split_at;
    if (save_version(app, index, candidate, training.start, trained_to, metrics, out->promoted, out->note,
                     &out->version) == 0) {
        status = 0;
        if (out->promoted) {
            controller_adopt_model(app->controller, index, candidate, trained_to);
            candidate = NULL; /* the controller's now */
        }
    } else {
        format_into(out->note, sizeof out->note, "the new version could not be saved (see the log)");
    }
    json_decref(metrics);
    log_info("service %s model %s: refit: %s", target->name, target->forecaster, out->note);
done:
    if (candidate)
        instance_model_close(slot->forecaster, candidate);
    if (active)
        instance_model_close(slot->forecaster, active);
    free(d.values);
    return status;
}

/* Runs the refit and tells people. One that must wait for new data (1) is tried again at the next tick, said once
 * in the log; one that failed, or was refused, waits for a holdout's worth of new data. */
static int refit_and_tell(daemon_app *app, size_t index, const char *trigger, refit_outcome *out)
{
    model_slot *slot = &app->models->slots[index];
    const config_target *target = target_config(app, index);
    double now = clock_now(&app->clock);
    int status = refit_target(app, index, trigger, out);
    if (status != 0) {
        if (status < 0 || !slot->refit_waiting)
            log_info("service %s model %s: refit (%s) %s: %s", target->name, target->forecaster, trigger,
                     status < 0 ? "failed, tried again after a holdout of new data" : "waits", out->note);
        slot->refit_waiting = status > 0;
        if (status < 0)
            slot->refit_not_before = now + app->store.config.models.holdout_seconds;
        return -1;
    }
    char summary[256];
    format_into(summary, sizeof summary, "model %s of %s: version %lld %s", target->forecaster, target->name,
                out->version, out->promoted ? "promoted" : "refused");
    tell(app, index, summary, out->note);
    slot->refit_trigger[0] = '\0';
    slot->refit_waiting = false;
    if (!out->promoted)
        slot->refit_not_before = now + app->store.config.models.holdout_seconds;
    return 0;
}

/* ## Each tick: first fits, drift, refits -------------------------------------------------------------------------- */

/* The first time a target's model can be saved, it becomes version 1 (nothing to compare it with). */
static void save_first_fit(daemon_app *app, size_t index)
{
    model_slot *slot = &app->models->slots[index];
    void *model = controller_forecast_model(app->controller, index);
    if (!model)
        return;
    char *probe = instance_model_save(slot->forecaster, model); /* NULL: not fitted yet, try at the next tick */
    if (!probe)
        return;
    free(probe);
    size_t count = 0;
    double last_at = 0;
    double *values = history_of(app, index, &count, &last_at);
    json_t *metrics = json_pack("{s:s}", "trigger", "first fit");
    add_reference(metrics, values, count);
    long long version = 0;
    double from = last_at - (double)count * app->store.config.tick_seconds;
    if (save_version(app, index, model, from, last_at, metrics, true, "first fit", &version) == 0)
        log_info("service %s: model %s saved as version %lld (first fit)", target_config(app, index)->name,
                 target_config(app, index)->forecaster, version);
    json_decref(metrics);
    free(values);
}

static void check_drift(daemon_app *app, size_t index, double now)
{
    const models_config *m = &app->store.config.models;
    model_slot *slot = &app->models->slots[index];
    const config_target *target = target_config(app, index);
    slot->next_drift_check = now + m->drift_check_seconds;
    size_t count = 0;
    double last_at = 0;
    double *values = history_of(app, index, &count, &last_at);
    size_t recent = (size_t)fmin((double)count, ceil(m->drift_window_seconds / app->store.config.tick_seconds));
    double psi = drift_psi(&slot->reference, values + count - recent, recent);
    double ks = drift_ks(&slot->reference, values + count - recent, recent);
    free(values);
    bool drift = psi > m->drift_psi || ks > m->drift_ks;
    if (!drift || slot->drifting) {
        slot->drifting = drift;
        return;
    }
    slot->drifting = true;
    char text[512];
    format_into(text, sizeof text, "PSI %.3f (bound %.3f) and Kolmogorov-Smirnov %.3f (bound %.3f) between version "
                "%lld's training window and the last %zu intervals: a refit is scheduled", psi, m->drift_psi, ks,
                m->drift_ks, slot->active, recent);
    controller_alert alert = {target->name, target->metric, target->forecaster, now, ks, m->drift_ks, psi,
                              ALERT_MODEL_DRIFT, NAN, NAN, text};
    api_store_alert(app, &alert);
    format_into(slot->refit_trigger, sizeof slot->refit_trigger, "drift: PSI %.3f, KS %.3f", psi, ks);
}

void models_tick(daemon_app *app, double now)
{
    models_registry *registry = app->models;
    const models_config *m = &app->store.config.models;
    for (size_t i = 0; registry && i < registry->count; i++) {
        model_slot *slot = &registry->slots[i];
        if (!slot->saveable)
            continue;
        bool refused = controller_model_problem(app->controller, i) != NULL;
        if (slot->active == 0 && !refused) {
            save_first_fit(app, i);
            continue;
        }
        if (!refused && slot->has_reference && m->drift_check_seconds > 0 && now >= slot->next_drift_check)
            check_drift(app, i, now);
        if (now >= slot->next_refit) {
            slot->next_refit = now + m->refit_every_seconds;
            if (!slot->refit_trigger[0])
                format_into(slot->refit_trigger, sizeof slot->refit_trigger, "scheduled");
        }
        refit_outcome outcome;
        if (slot->refit_trigger[0] && now >= slot->refit_not_before)
            refit_and_tell(app, i, slot->refit_trigger, &outcome);
    }
}

/* ## Metrics and routes ---------------------------------------------------------------------------------------------- */

/* Prometheus spells the special values its own way. */
static void metric_line(FILE *out, const char *name, const config_target *target, double value)
{
    fprintf(out, "hydra_%s{service=\"%s\",model=\"%s\"} ", name, target->name, target->forecaster);
    if (isnan(value))
        fputs("NaN\n", out);
    else if (isinf(value))
        fputs(value > 0 ? "+Inf\n" : "-Inf\n", out);
    else
        fprintf(out, "%.17g\n", value);
}

/* Written to a memory stream: with thousands of targets, appending line by line to a string would be quadratic. */
char *models_metrics_text(daemon_app *app)
{
    static const char *const headers[][2] = {
        {"forecast_mape", "rolling mean absolute percentage error of the forecasts the planner used (a share)"},
        {"forecast_mase", "rolling mean absolute scaled error of those forecasts (1: as good as the last value)"},
        {"forecast_compared", "forecasts compared with what happened, within the accuracy window"},
        {"forecast_trusted", "1 while accuracy is within the bound and forecasts are acted on"},
        {"model_active_version", "the model version in use (0: none saved yet)"},
    };
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    if (!out)
        return xstrdup("");
    pthread_mutex_lock(&app->lock);
    for (size_t h = 0; h < ARRAY_LEN(headers); h++) {
        fprintf(out, "# HELP hydra_%s %s\n# TYPE hydra_%s gauge\n", headers[h][0], headers[h][1], headers[h][0]);
        for (size_t i = 0; i < app->store.config.target_count; i++) {
            controller_accuracy_view a;
            controller_accuracy(app->controller, i, &a);
            double values[] = {a.mape, a.mase, (double)a.compared, a.trusted,
                               app->models ? (double)app->models->slots[i].active : 0};
            metric_line(out, headers[h][0], target_config(app, i), values[h]);
        }
    }
    pthread_mutex_unlock(&app->lock);
    fclose(out);
    return text;
}

static json_t *number_or_null(double value) { return isfinite(value) ? json_real(value) : json_null(); }

void models_handle_accuracy(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    const models_config *m = &app->store.config.models;
    json_t *services = json_array();
    pthread_mutex_lock(&app->lock);
    for (size_t i = 0; daemon_serves_caller(app, request) && i < app->store.config.target_count; i++) {
        controller_accuracy_view a;
        controller_accuracy(app->controller, i, &a);
        json_array_append_new(services, json_pack("{s:s, s:s, s:o, s:o, s:I, s:b}", "service",
                                                  target_config(app, i)->name, "model",
                                                  target_config(app, i)->forecaster, "mape", number_or_null(a.mape),
                                                  "mase", number_or_null(a.mase), "compared", (json_int_t)a.compared,
                                                  "trusted", a.trusted));
    }
    pthread_mutex_unlock(&app->lock);
    response->json = json_pack("{s:f, s:o, s:o, s:i, s:o}", "window_seconds", m->accuracy_window_seconds, "max_mape",
                               m->max_mape > 0 ? json_real(m->max_mape) : json_null(), "max_mase",
                               m->max_mase > 0 ? json_real(m->max_mase) : json_null(), "min_compared",
                               m->accuracy_min_compared, "services", services);
}

/* The service a route names, with a registry slot that saves models; -1 after a 404 or 409. */
static long saveable_target(daemon_app *app, const http_request *request, http_response *response)
{
    long index = daemon_serves_caller(app, request) ? controller_target_index(app->controller, request->params[0])
                                                    : -1;
    if (index < 0)
        http_error(response, 404, NULL, "no service %s", request->params[0]);
    else if (!app->models || !app->models->slots[index].saveable)
        http_error(response, 409, NULL, "service %s: its forecaster %s keeps no versions (models.registry is off, or "
                   "the plugin cannot save its models)", request->params[0], target_config(app, index)->forecaster);
    return index >= 0 && app->models && app->models->slots[index].saveable ? index : -1;
}

static int append_version(void *context, const hydra_model_record *r)
{
    json_error_t ignored;
    json_t *metrics = r->metrics ? json_loads(r->metrics, 0, &ignored) : NULL;
    json_object_del(metrics, "training_quantiles"); /* the drift reference: numbers nobody reads in a listing */
    json_object_del(metrics, "training_shares");
    json_array_append_new(context, json_pack("{s:I, s:b, s:s, s:f, s:f, s:f, s:s?, s:o}", "version",
                                             (json_int_t)r->version, "active", r->active, "checksum", r->checksum,
                                             "trained_from", r->trained_from, "trained_to", r->trained_to,
                                             "created_at", r->created_at, "note", r->note, "metrics",
                                             metrics ? metrics : json_null()));
    return 0;
}

void models_handle_versions(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    long index = saveable_target(app, request, response);
    if (index < 0)
        return;
    const config_target *target = target_config(app, (size_t)index);
    json_t *versions = json_array();
    if (app->store.ops->list_model_versions(app->store.state, app->store.config.tenant, target->name,
                                            target->forecaster, append_version, versions) != 0) {
        json_decref(versions);
        daemon_store_failed(app, response, "cannot list model versions");
        return;
    }
    pthread_mutex_lock(&app->lock);
    const char *problem = controller_model_problem(app->controller, (size_t)index);
    json_t *refused = problem ? json_string(problem) : json_null();
    pthread_mutex_unlock(&app->lock);
    response->json = json_pack("{s:s, s:s, s:o, s:o}", "service", target->name, "model", target->forecaster,
                               "problem", refused, "versions", versions);
}

void models_handle_refit(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    long index = saveable_target(app, request, response);
    if (index < 0)
        return;
    char trigger[128];
    format_into(trigger, sizeof trigger, "asked by %s", request->caller->name);
    refit_outcome out;
    pthread_mutex_lock(&app->lock);
    int status = refit_and_tell(app, (size_t)index, trigger, &out);
    pthread_mutex_unlock(&app->lock);
    if (status != 0) {
        http_error(response, 409, NULL, "service %s: no refit now: %s", request->params[0], out.note);
        return;
    }
    response->json = json_pack("{s:s, s:I, s:b, s:o, s:o, s:s}", "service", request->params[0], "version",
                               (json_int_t)out.version, "promoted", out.promoted, "holdout_mase",
                               number_or_null(out.candidate_score), "active_holdout_mase",
                               number_or_null(out.active_score), "note", out.note);
}

/* A person puts an earlier (or a refused) version back in use: checked and loaded first, then made active. */
void models_handle_activate(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    long index = saveable_target(app, request, response);
    json_error_t parse_error;
    json_t *body = index >= 0 ? json_loadb(request->body ? request->body : "", request->body_length, 0, &parse_error)
                              : NULL;
    json_t *number = json_object_get(body, "version");
    if (index >= 0 && (!json_is_integer(number) || json_integer_value(number) < 1))
        http_error(response, 400, "version", "version must be the number of a saved version (1 or more)");
    if (index < 0 || !json_is_integer(number) || json_integer_value(number) < 1) {
        json_decref(body);
        return;
    }
    long long version = json_integer_value(number);
    json_decref(body);
    char why[768];
    stored_version v;
    pthread_mutex_lock(&app->lock);
    int found = read_version(app, (size_t)index, version, &v, why, sizeof why);
    void *model = found == 0 ? model_from_version(app, (size_t)index, &v, why, sizeof why) : NULL;
    if (found > 0)
        format_into(why, sizeof why, "service %s has no version %lld", request->params[0], version);
    const config_target *target = target_config(app, (size_t)index);
    /* durable first: the store says which version a restart takes */
    int stored = model ? app->store.ops->activate_model_version(app->store.state, app->store.config.tenant,
                                                                target->name, target->forecaster, version)
                       : -1;
    if (stored == 0) {
        controller_adopt_model(app->controller, (size_t)index, model, v.trained_to);
        slot_take_version(&app->models->slots[index], version, v.trained_from, v.trained_to, v.metrics);
    } else if (model) {
        instance_model_close(app->models->slots[index].forecaster, model);
    }
    pthread_mutex_unlock(&app->lock);
    if (found < 0 || (model && stored != 0))
        daemon_store_failed(app, response, found < 0 ? why : "cannot activate the version");
    else if (!model)
        http_error(response, found > 0 ? 404 : 422, "version", "%s", why);
    else
        response->json = json_pack("{s:s, s:s, s:I, s:b}", "service", target->name, "model", target->forecaster,
                                   "version", (json_int_t)version, "active", 1);
    if (stored == 0) {
        char detail[128];
        format_into(detail, sizeof detail, "%s version %lld", target->forecaster, version);
        hydra_audit_record audit = {request->caller->tenant, clock_now(&app->clock), request->caller->name,
                                    "models.activate", target->name, detail, request->request_id};
        app->store.ops->append_audit(app->store.state, &audit);
        log_info("service %s: model %s version %lld activated by %s", target->name, target->forecaster, version,
                 request->caller->name);
    }
    if (found == 0)
        stored_version_free(&v);
}
