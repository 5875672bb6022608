#include "daemon.h"

#include "daemon_app.h"
#include "executor.h"
#include "keys.h"
#include "live_demo.h"
#include "log.h"
#include "metrics.h"
#include "models.h"
#include "record_json.h"
#include "util.h"
#include "web_static.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES_PER_BATCH 100000
#define IDEMPOTENCY_RESPONSE_MAX 512
/* A request that writes waits for the store in its thread; the appends waiting together share one transaction, so
 * more threads make larger groups under load (at 4, 500 clients saw p95 of 230 ms; at 16, under 100). */
#define HTTP_THREADS 16
/* An approval answers with the action's outcome when the scaler gives it within this; else as it stands then
 * (executing), and GET /api/v1/recommendations/{id} tells the rest. */
#define APPROVAL_ANSWER_WAIT_SECONDS 5.0
/* Before a tick, the loop waits this long at most for the targets' status (read off the lock); a target whose
 * scaler is slower ticks on the status it read last. */
#define STATUS_WAIT_SECONDS 2.0
/* Final recommendations the controller keeps in memory; the API reads the store, which has them all. */
#define FINAL_RECOMMENDATIONS_KEPT 1000

static volatile sig_atomic_t stop_requested;

static void request_stop(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

/* ## The store ------------------------------------------------------------------------------------------------- */

/* A path given on the command line is relative to where the command runs, not to the config file. */
static char *absolute_path(const char *path)
{
    if (path[0] == '/')
        return xstrdup(path);
    char cwd[4096];
    return getcwd(cwd, sizeof cwd) ? xasprintf("%s/%s", cwd, path) : xstrdup(path);
}

int store_handle_open(store_handle *handle, const daemon_options *options, char *error, size_t error_size)
{
    memset(handle, 0, sizeof *handle);
    if (config_load(&handle->config, options->config_path, error, error_size) != 0)
        return -1;
    hydra_config *config = &handle->config;
    log_set_level(config->log_level); /* before the store logs its first line */
    log_set_format(config->log_json ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
    if (!config->store.name) {
        format_into(error, error_size, "config %s: no store = { name = ...; } to keep data in", config->path);
        return -1;
    }
    if (options->reports_dir) {
        free(config->reports_dir);
        config->reports_dir = absolute_path(options->reports_dir);
    }
    if (options->temporary_store && !options->data_path && strcmp(config->store.name, "sqlite") == 0) {
        format_into(handle->temporary_dir, sizeof handle->temporary_dir, "/tmp/hydra-live-XXXXXX");
        if (!mkdtemp(handle->temporary_dir)) {
            format_into(error, error_size, "cannot make a folder for a temporary store: %s", strerror(errno));
            handle->temporary_dir[0] = '\0';
            return -1;
        }
        char *data = xasprintf("%s/hydra.db", handle->temporary_dir);
        config_set_store_setting(config, "path", data);
        free(data);
    }
    if (options->data_path) {
        char *data = absolute_path(options->data_path);
        config_set_store_setting(config, "path", data);
        free(data);
    }
    char reason[2048];
    loader_module *module = loader_load(&handle->registry, config->store.file, HYDRA_KIND_STORE, reason, sizeof reason);
    instance_context context = {.base_dir = config->base_dir};
    handle->instance = module ? instance_create(module, config->store.instance, config->store.settings, &context,
                                                reason, sizeof reason)
                              : NULL;
    if (!handle->instance) {
        format_into(error, error_size, "config %s:%d: store: %s", config->path, config->store.line, reason);
        return -1;
    }
    handle->ops = instance_module(handle->instance)->descriptor->ops;
    handle->state = instance_state(handle->instance);
    int version = 0;
    if (handle->ops->migrate(handle->state, &version) != 0) {
        format_into(error, error_size, "store %s: %s", config->store.name, instance_error(handle->instance));
        return -1;
    }
    log_info("store %s: schema version %d", config->store.name, version);
    return 0;
}

/* The temporary store's folder: the database and SQLite's journal files beside it. */
static void remove_temporary(const char *folder)
{
    DIR *dir = opendir(folder);
    for (struct dirent *entry; dir && (entry = readdir(dir));) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char *file = xasprintf("%s/%s", folder, entry->d_name);
        unlink(file);
        free(file);
    }
    if (dir)
        closedir(dir);
    if (rmdir(folder) != 0)
        log_warn("cannot remove the temporary store %s: %s", folder, strerror(errno));
}

void store_handle_close(store_handle *handle)
{
    instance_destroy(handle->instance);
    if (handle->temporary_dir[0])
        remove_temporary(handle->temporary_dir);
    loader_registry_free(&handle->registry);
    config_free(&handle->config);
    memset(handle, 0, sizeof *handle);
}

static bool store_unavailable(const daemon_app *app)
{
    return strncmp(instance_error(app->store.instance), "unavailable:", 12) == 0;
}

void daemon_store_failed(daemon_app *app, http_response *response, const char *what)
{
    bool unavailable = store_unavailable(app);
    http_error(response, unavailable ? 503 : 500, NULL, "%s: %s", what, instance_error(app->store.instance));
    if (unavailable)
        response->retry_after = 5;
}

/* No decision the store cannot record: while it is unreachable the loop does not tick (its samples are stale
 * anyway, no ingest gets through) and nobody can approve. Called with app->lock held; says so once each way. */
static bool store_can_record(daemon_app *app)
{
    bool down = app->store.ops->health(app->store.state) != 0;
    if (down && !app->store_down)
        log_error("store %s unreachable: no ticks and no decisions until it is back: %s",
                  app->store.config.store.name, instance_error(app->store.instance));
    else if (!down && app->store_down)
        log_info("store %s reachable again: ticks resume", app->store.config.store.name);
    app->store_down = down;
    return !down;
}

bool daemon_serves_caller(const daemon_app *app, const http_request *request)
{
    return strcmp(request->caller->tenant, app->store.config.tenant) == 0;
}

/* ## Persisting recommendations -------------------------------------------------------------------------------- */

static hydra_recommendation_record record_of(const char *tenant, const recommendation *rec)
{
    return (hydra_recommendation_record){tenant, rec->id, rec->target, recommendation_state_name(rec->state),
                                         rec->from_replicas, rec->to_replicas, rec->asked, rec->forecast_peak,
                                         rec->forecast_peak_at, rec->created_at, rec->expires_at, rec->decided_at,
                                         rec->finished_at, rec->reason, rec->decided_by, rec->decision_reason,
                                         rec->result};
}

/* The dashboard hears of each change as GET /api/v1/recommendations/{id} would then answer. */
static void publish_recommendation(daemon_app *app, const char *id)
{
    int status;
    json_t *json = events_subscriber_count(app->events) ? daemon_recommendation_json(app, app->store.config.tenant,
                                                                                      id, &status)
                                                        : NULL;
    if (json)
        events_publish(app->events, "recommendation", json);
}

/* Every state change is written with its event, and only over the state it changed from: a change another replica
 * made first is refused, and so undone here. One another replica recorded (and this one adopts) is there already. */
static int persist_event(void *context, const recommendation_event *event)
{
    daemon_app *app = context;
    if (event->recorded) {
        publish_recommendation(app, event->rec->id);
        return 0;
    }
    const char *tenant = app->store.config.tenant;
    hydra_recommendation_record record = record_of(tenant, event->rec);
    bool created = event->from == event->to;
    const char *from = recommendation_state_name(event->from);
    hydra_recommendation_event row = {tenant, event->rec->id, from, recommendation_state_name(event->to), event->at,
                                      event->by ? event->by : "", event->why ? event->why : ""};
    int status = app->store.ops->save_recommendation(app->store.state, &record, &row, created ? NULL : from);
    if (status != 0)
        log_error("store: recommendation %s -> %s not saved: %s", event->rec->id, row.to_state,
                  status > 0 ? "someone else changed it first" : instance_error(app->store.instance));
    else
        publish_recommendation(app, event->rec->id);
    return status;
}

/* The store's record as the controller holds recommendations. */
static void recommendation_from_record(const hydra_recommendation_record *r, recommendation *rec)
{
    memset(rec, 0, sizeof *rec);
    format_into(rec->id, sizeof rec->id, "%s", r->id);
    format_into(rec->target, sizeof rec->target, "%s", r->target);
    recommendation_state_parse(r->state, &rec->state);
    rec->from_replicas = r->from_replicas;
    rec->to_replicas = r->to_replicas;
    rec->asked = r->asked != 0;
    rec->forecast_peak = r->forecast_peak;
    rec->forecast_peak_at = r->forecast_peak_at;
    rec->created_at = r->created_at;
    rec->expires_at = r->expires_at;
    rec->decided_at = r->decided_at;
    rec->finished_at = r->finished_at;
    format_into(rec->reason, sizeof rec->reason, "%s", r->reason ? r->reason : "");
    format_into(rec->decided_by, sizeof rec->decided_by, "%s", r->decided_by ? r->decided_by : "");
    format_into(rec->decision_reason, sizeof rec->decision_reason, "%s", r->decision_reason ? r->decision_reason : "");
    format_into(rec->result, sizeof rec->result, "%s", r->result ? r->result : "");
}

static int keep_stored(void *context, const hydra_recommendation_record *record)
{
    recommendation_from_record(record, context);
    return 0;
}

int daemon_read_recommendation(daemon_app *app, const char *id, recommendation *out)
{
    out->id[0] = '\0';
    int status = app->store.ops->get_recommendation(app->store.state, app->store.config.tenant, id, keep_stored, NULL,
                                                    out);
    return status == 0 && !out->id[0] ? 1 : status;
}

/* ## Handlers: health and ingest -------------------------------------------------------------------------------- */

static void handle_health(void *context, const http_request *request, http_response *response)
{
    (void)request;
    daemon_app *app = context;
    response->json = json_pack("{s:s, s:s, s:s}", "status", "ok", "version", HYDRA_VERSION, "role",
                               atomic_load(&app->leader) ? "leader" : "follower");
}

/* 200 either way: a follower is healthy, it serves the API; only the body says which this one is. */
static void handle_health_leader(void *context, const http_request *request, http_response *response)
{
    (void)request;
    daemon_app *app = context;
    pthread_mutex_lock(&app->lock);
    bool leader = atomic_load(&app->leader);
    response->json = json_pack("{s:b, s:s, s:s, s:o, s:f}", "leader", leader, "role", leader ? "leader" : "follower",
                               "lock", app->leader_lock, "since", leader ? json_real(app->leader_since) : json_null(),
                               "retry_seconds", app->store.config.leader_retry_seconds);
    pthread_mutex_unlock(&app->lock);
}

static void handle_health_db(void *context, const http_request *request, http_response *response)
{
    (void)request;
    daemon_app *app = context;
    if (app->store.ops->health(app->store.state) == 0) {
        response->json = json_pack("{s:s, s:s}", "status", "ok", "store", app->store.config.store.name);
        return;
    }
    http_error(response, 503, NULL, "store %s: %s", app->store.config.store.name, instance_error(app->store.instance));
    response->retry_after = 5;
}

/* One sample of a batch; false with the response naming the field of the bad one. */
static bool read_sample(json_t *item, size_t index, hydra_sample *out, http_response *response)
{
    static const char *const fields[] = {"service", "metric", "ts", "value"};
    char field[64];
    if (!json_is_object(item)) {
        format_into(field, sizeof field, "samples[%zu]", index);
        http_error(response, 400, field, "%s must be an object {service, metric, ts, value}", field);
        return false;
    }
    json_t *values[4];
    for (size_t i = 0; i < 4; i++)
        values[i] = json_object_get(item, fields[i]);
    const char *problem = NULL;
    size_t bad = 0;
    if (!json_is_string(values[0]) || !json_string_value(values[0])[0])
        problem = "must be a non-empty string", bad = 0;
    else if (values[1] && (!json_is_string(values[1]) || !json_string_value(values[1])[0]))
        problem = "must be a non-empty string", bad = 1;
    else if (!json_is_number(values[2]) || !isfinite(json_number_value(values[2])) || json_number_value(values[2]) < 0)
        problem = "must be Unix seconds (a number)", bad = 2;
    else if (!json_is_number(values[3]) || !isfinite(json_number_value(values[3])))
        problem = "must be a finite number", bad = 3;
    if (problem) {
        format_into(field, sizeof field, "samples[%zu].%s", index, fields[bad]);
        http_error(response, 400, field, "%s %s", field, problem);
        return false;
    }
    *out = (hydra_sample){json_string_value(values[0]),
                          values[1] ? json_string_value(values[1]) : "requests_per_second",
                          json_number_value(values[2]), json_number_value(values[3])};
    return true;
}

/* {"samples": [...]} or a bare array; all of it valid or none of it taken. */
static hydra_sample *read_batch(const http_request *request, json_t **document, size_t *count,
                                http_response *response)
{
    json_error_t parse_error;
    *document = json_loadb(request->body, request->body_length, 0, &parse_error);
    json_t *list = json_is_object(*document) ? json_object_get(*document, "samples") : *document;
    if (!*document) {
        http_error(response, 400, NULL, "body is not JSON: %s (line %d, column %d)", parse_error.text,
                   parse_error.line, parse_error.column);
        return NULL;
    }
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > MAX_SAMPLES_PER_BATCH) {
        http_error(response, 400, "samples", "samples must be an array of 1 to %d samples", MAX_SAMPLES_PER_BATCH);
        return NULL;
    }
    *count = json_array_size(list);
    hydra_sample *samples = xcalloc(*count, sizeof *samples);
    for (size_t i = 0; i < *count; i++) {
        if (!read_sample(json_array_get(list, i), i, &samples[i], response)) {
            free(samples);
            return NULL;
        }
    }
    return samples;
}

/* A sample's time is the end of the interval it measures; the controller files it by the interval's start. */
static bool observe_sample(daemon_app *app, const hydra_sample *sample, long *target)
{
    const hydra_config *config = &app->store.config;
    *target = controller_target_index(app->controller, sample->service);
    if (*target < 0 || strcmp(config->targets[*target].metric, sample->metric) != 0)
        return false;
    app->seen_until[*target] = fmax(app->seen_until[*target], sample->ts);
    return controller_observe(app->controller, (size_t)*target, sample->ts - config->tick_seconds, sample->value) == 0;
}

/* The controller sees samples the moment they are durable, all of a batch first (a backfill in time order is taken
 * whole), then, on the leader, each target they touched is evaluated once, at the newest time it was sent. */
void daemon_feed_controller(daemon_app *app, const hydra_sample *samples, size_t count)
{
    size_t targets = controller_target_count(app->controller);
    double *newest = xcalloc(targets + 1, sizeof *newest);
    pthread_mutex_lock(&app->lock);
    double now = clock_now(&app->clock);
    for (size_t i = 0; i < count; i++) {
        long target;
        if (observe_sample(app, &samples[i], &target))
            newest[target] = fmax(newest[target], fmax(now, samples[i].ts));
    }
    for (size_t i = 0; i < targets; i++)
        if (newest[i] > 0 && atomic_load(&app->leader))
            controller_tick_target(app->controller, i, newest[i]);
    pthread_mutex_unlock(&app->lock);
    free(newest);
}

int daemon_ingest(daemon_app *app, const char *tenant, const hydra_sample *samples, size_t count,
                  const char *idempotency_key, char *response, size_t response_size)
{
    int stored = app->store.ops->append_samples(app->store.state, tenant, samples, count, idempotency_key, response,
                                                response_size);
    if (stored == 0)
        metrics_add(metrics_register("core", "samples_ingested_total", "samples stored by the ingest API",
                                     HYDRA_METRIC_COUNTER),
                    (double)count);
    if (stored == 0 && strcmp(tenant, app->store.config.tenant) == 0)
        daemon_feed_controller(app, samples, count);
    return stored;
}

static void handle_ingest(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    json_t *document = NULL;
    size_t count = 0;
    const char *content_type = http_header(request, "Content-Type");
    if (!content_type || strncmp(content_type, "application/json", 16) != 0) {
        http_error(response, 415, NULL, "send the samples as application/json");
        return;
    }
    hydra_sample *samples = read_batch(request, &document, &count, response);
    if (samples) {
        char first_response[IDEMPOTENCY_RESPONSE_MAX];
        format_into(first_response, sizeof first_response, "{\"accepted\":%zu}", count);
        int stored = daemon_ingest(app, request->caller->tenant, samples, count,
                                   http_header(request, "Idempotency-Key"), first_response, sizeof first_response);
        if (stored < 0) {
            daemon_store_failed(app, response, "samples not stored");
        } else {
            json_error_t ignored;
            response->json = json_loads(first_response, 0, &ignored); /* a replay answers as the first call did */
        }
        free(samples);
    }
    json_decref(document);
}

/* ## Handlers: recommendations -------------------------------------------------------------------------------- */

static int append_recommendation(void *context, const hydra_recommendation_record *record)
{
    json_array_append_new(context, record_json_recommendation(record));
    return 0;
}

static void handle_list_recommendations(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    const char *status = http_query(request, "status");
    recommendation_state ignored;
    if (status && !recommendation_state_parse(status, &ignored)) {
        http_error(response, 400, "status", "status must be pending, approved, rejected, expired, executing, "
                                            "executed or failed");
        return;
    }
    json_t *items = json_array();
    if (app->store.ops->list_recommendations(app->store.state, request->caller->tenant, status, 500,
                                             append_recommendation, items) != 0) {
        json_decref(items);
        daemon_store_failed(app, response, "cannot list recommendations");
        return;
    }
    response->json = json_pack("{s:o}", "recommendations", items);
}

typedef struct one_recommendation {
    json_t *record;
    json_t *events;
} one_recommendation;

static int keep_recommendation(void *context, const hydra_recommendation_record *record)
{
    ((one_recommendation *)context)->record = record_json_recommendation(record);
    return 0;
}

static int append_event(void *context, const hydra_recommendation_event *e)
{
    json_array_append_new(((one_recommendation *)context)->events, record_json_event(e));
    return 0;
}

json_t *daemon_recommendation_json(daemon_app *app, const char *tenant, const char *id, int *status)
{
    one_recommendation found = {NULL, json_array()};
    *status = app->store.ops->get_recommendation(app->store.state, tenant, id, keep_recommendation, append_event,
                                                 &found);
    if (*status == 0 && !found.record)
        *status = 1;
    if (*status == 0)
        json_object_set_new(found.record, "events", json_incref(found.events));
    json_decref(found.events);
    return *status == 0 ? found.record : (json_decref(found.record), NULL);
}

static void handle_show_recommendation(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    int status;
    response->json = daemon_recommendation_json(app, request->caller->tenant, request->params[0], &status);
    if (status < 0)
        daemon_store_failed(app, response, "cannot read the recommendation");
    else if (status > 0)
        http_error(response, 404, NULL, "no recommendation %s", request->params[0]);
}

/* The decision is taken by the store: a compare-and-set from pending, so that of two people (or two replicas) one
 * wins. The leader then hands an approval to its scaler's worker at once (acting_on: the target); a follower leaves
 * that to the leader, which reads it back at its next tick. Called with the lock held; the HTTP status, with the
 * state to answer in state. */
static int record_decision(daemon_app *app, const char *id, bool approve, const char *by, const char *why,
                           char *state, size_t state_size, long *acting_on)
{
    recommendation rec;
    int found = daemon_read_recommendation(app, id, &rec);
    if (found != 0)
        return found > 0 ? 404 : 500;
    format_into(state, state_size, "%s", recommendation_state_name(rec.state));
    if (rec.state != REC_PENDING)
        return 409;
    double now = clock_now(&app->clock);
    rec.state = approve ? REC_APPROVED : REC_REJECTED;
    rec.decided_at = now;
    format_into(rec.decided_by, sizeof rec.decided_by, "%s", by);
    format_into(rec.decision_reason, sizeof rec.decision_reason, "%s", why);
    const char *tenant = app->store.config.tenant;
    hydra_recommendation_record record = record_of(tenant, &rec);
    hydra_recommendation_event event = {tenant, id, "pending", record.state, now, by, why};
    int saved = app->store.ops->save_recommendation(app->store.state, &record, &event, "pending");
    if (saved != 0) {
        if (saved > 0 && daemon_read_recommendation(app, id, &rec) == 0)
            format_into(state, state_size, "%s", recommendation_state_name(rec.state));
        return saved > 0 ? 409 : 500;
    }
    format_into(state, state_size, "%s", record.state);
    const recommendation *mine = recommendation_find(controller_recommendations(app->controller), id);
    if (atomic_load(&app->leader) && mine && controller_adopt(app->controller, id, rec.state, by, why, now, now) == 0) {
        format_into(state, state_size, "%s", recommendation_state_name(mine->state));
        *acting_on = (long)mine->target_index;
    }
    return 200;
}

/* The approval was handed to the executor: the answer waits a little for the outcome, without the lock, then says
 * what the store holds. */
static void await_execution(daemon_app *app, const char *id, size_t target, char *state, size_t state_size)
{
    recommendation rec;
    if (!app->executor || strcmp(state, "approved") != 0)
        return;
    executor_wait_action(app->executor, target, APPROVAL_ANSWER_WAIT_SECONDS);
    if (daemon_read_recommendation(app, id, &rec) == 0)
        format_into(state, state_size, "%s", recommendation_state_name(rec.state));
}

int daemon_decide(daemon_app *app, const char *id, bool approve, const char *by, const char *why,
                  const char *request_id, char *state, size_t state_size)
{
    long acting_on = -1;
    pthread_mutex_lock(&app->lock);
    int status = store_can_record(app) ? record_decision(app, id, approve, by, why, state, state_size, &acting_on)
                                       : 503;
    pthread_mutex_unlock(&app->lock);
    if (status == 200 && acting_on >= 0)
        await_execution(app, id, (size_t)acting_on, state, state_size);
    if (status == 200) {
        hydra_audit_record audit = {app->store.config.tenant, clock_now(&app->clock), by,
                                    approve ? "approve" : "reject", id, why, request_id};
        app->store.ops->append_audit(app->store.state, &audit);
    }
    return status;
}

static void decide(daemon_app *app, const http_request *request, http_response *response, bool approve)
{
    json_error_t ignored;
    json_t *body = request->body_length ? json_loadb(request->body, request->body_length, 0, &ignored) : NULL;
    json_t *reason = json_object_get(body, "reason");
    if (request->body_length && (!json_is_object(body) || (reason && !json_is_string(reason)))) {
        http_error(response, 400, "reason", "the body, when given, is {\"reason\": \"text\"}");
        json_decref(body);
        return;
    }
    const char *why = reason ? json_string_value(reason) : (approve ? "approved" : "rejected");
    const char *id = request->params[0];
    char state[32] = "";
    int status = !daemon_serves_caller(app, request)
                     ? 404
                     : daemon_decide(app, id, approve, request->caller->name, why, request->request_id, state,
                                     sizeof state);
    if (status == 503 || status == 500)
        daemon_store_failed(app, response, "cannot record a decision now");
    else if (status == 404)
        http_error(response, 404, NULL, "no recommendation %s", id);
    else if (status == 409)
        http_error(response, 409, NULL, "recommendation %s is %s, no longer pending", id, state);
    else
        response->json = json_pack("{s:s, s:s}", "id", id, "state", state);
    json_decref(body);
}

static void handle_approve(void *context, const http_request *request, http_response *response)
{
    decide(context, request, response, true);
}

static void handle_reject(void *context, const http_request *request, http_response *response)
{
    decide(context, request, response, false);
}

static void handle_services(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    json_t *services = json_array();
    pthread_mutex_lock(&app->lock);
    bool mine = daemon_serves_caller(app, request);
    for (size_t i = 0; mine && i < controller_target_count(app->controller); i++) {
        controller_view view;
        controller_view_target(app->controller, i, &view);
        const config_target *t = &app->store.config.targets[i];
        json_array_append_new(services,
                              json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:o, s:o, s:b, s:b}", "name", view.name,
                                        "metric", t->metric, "min_replicas", t->min_replicas, "max_replicas",
                                        t->max_replicas, "desired", view.desired, "ready", view.ready,
                                        "capacity_per_replica", t->capacity_per_replica, "load",
                                        isnan(view.load) ? json_null() : json_real(view.load), "forecast",
                                        isnan(view.forecast) ? json_null() : json_real(view.forecast), "paused",
                                        view.paused, "dry_run", view.dry_run));
    }
    pthread_mutex_unlock(&app->lock);
    response->json = json_pack("{s:o}", "services", services);
}

/* ## Keys ------------------------------------------------------------------------------------------------------ */

typedef struct key_lookup {
    http_caller *caller;
    bool found;
} key_lookup;

static int keep_key(void *context, const hydra_api_key_record *record)
{
    key_lookup *lookup = context;
    const char *bad = NULL;
    format_into(lookup->caller->tenant, sizeof lookup->caller->tenant, "%s", record->tenant);
    format_into(lookup->caller->name, sizeof lookup->caller->name, "%s", record->name);
    lookup->found = keys_scopes_parse(record->scopes, &lookup->caller->scopes, &bad) && record->revoked_at == 0;
    return 0;
}

static cached_key *key_cache_slot(daemon_app *app, const char *hash)
{
    return &app->key_cache[strtoul((char[]){hash[0], hash[1], hash[2], hash[3], '\0'}, NULL, 16) % KEY_CACHE_SLOTS];
}

static bool key_cache_find(daemon_app *app, const char *hash, http_caller *caller)
{
    pthread_mutex_lock(&app->key_cache_lock);
    cached_key *slot = key_cache_slot(app, hash);
    bool found = slot->until > clock_now(&app->clock) && keys_hash_equal(slot->hash, hash);
    if (found)
        *caller = slot->caller;
    pthread_mutex_unlock(&app->key_cache_lock);
    return found;
}

static void key_cache_keep(daemon_app *app, const char *hash, const http_caller *caller)
{
    pthread_mutex_lock(&app->key_cache_lock);
    cached_key *slot = key_cache_slot(app, hash);
    memcpy(slot->hash, hash, sizeof slot->hash);
    slot->caller = *caller;
    slot->until = clock_now(&app->clock) + KEY_CACHE_SECONDS;
    pthread_mutex_unlock(&app->key_cache_lock);
}

bool daemon_key_valid(daemon_app *app, const char *key_hash)
{
    http_caller caller;
    key_lookup lookup = {&caller, false};
    int status = app->store.ops->find_api_key(app->store.state, key_hash, keep_key, &lookup);
    return status < 0 || (status == 0 && lookup.found);
}

static int authenticate(void *context, const char *key, http_caller *caller)
{
    daemon_app *app = context;
    char hash[KEYS_HASH_HEX];
    keys_hash(key, hash);
    if (key_cache_find(app, hash, caller))
        return 0;
    key_lookup lookup = {caller, false};
    int status = app->store.ops->find_api_key(app->store.state, hash, keep_key, &lookup);
    if (status < 0)
        return -1;
    if (status == 0 && lookup.found)
        key_cache_keep(app, hash, caller);
    return status == 0 && lookup.found ? 0 : 1;
}

/* ## The routes ------------------------------------------------------------------------------------------------ */

typedef struct exposition {
    char *text;
    char *names_seen; /* "\nname\n" for every name already given its HELP and TYPE */
} exposition;

/* Prometheus names: hydra_<name>{instance="..."}, the instance being the plugin's or "core"; HELP and TYPE once. */
static void append_metric(void *context, const char *owner, const char *name, const char *help,
                          hydra_metric_type type, double value)
{
    exposition *out = context;
    char *marker = xasprintf("\n%s\n", name);
    bool first = !strstr(out->names_seen, marker);
    char *header = first ? xasprintf("# HELP hydra_%s %s\n# TYPE hydra_%s %s\n", name, help[0] ? help : name, name,
                                     type == HYDRA_METRIC_COUNTER ? "counter" : "gauge")
                         : xstrdup("");
    char *more = xasprintf("%s%shydra_%s{instance=\"%s\"} %.17g\n", out->text, header, name, owner, value);
    if (first) {
        char *seen = xasprintf("%s%s", out->names_seen, marker + 1);
        free(out->names_seen);
        out->names_seen = seen;
    }
    free(out->text);
    out->text = more;
    free(header);
    free(marker);
}

static void handle_metrics(void *context, const http_request *request, http_response *response)
{
    (void)request;
    daemon_app *app = context;
    exposition out = {xstrdup(""), xstrdup("\n")};
    metrics_each(append_metric, &out);
    free(out.names_seen);
    char *http = http_metrics_text(app->http), *models = models_metrics_text(app);
    response->text = xasprintf("%s%s%s", out.text, http, models);
    free(models);
    free(http);
    free(out.text);
    response->text_type = "text/plain; version=0.0.4";
}

static void handle_openapi(void *context, const http_request *request, http_response *response);

static const http_route routes[] = {
    {"GET", "/api/v1/health", 0, handle_health, "the daemon is up"},
    {"GET", "/api/v1/health/db", 0, handle_health_db, "the store answers (503 when it does not)"},
    {"GET", "/api/v1/health/leader", 0, handle_health_leader,
     "whether this replica is the leader (ticks and executes) or a follower (serves the API only)"},
    {"GET", "/api/v1/openapi.json", 0, handle_openapi, "this document"},
    {"GET", "/metrics", SCOPE_READ, handle_metrics, "hydra's own metrics, Prometheus text exposition"},
    {"POST", "/api/v1/ingest/metrics", SCOPE_INGEST, handle_ingest,
     "append samples {service, metric, ts, value}; all or none; honours Idempotency-Key"},
    {"GET", "/api/v1/services", SCOPE_READ, handle_services, "targets with bounds, replicas, load and forecast"},
    {"GET", "/api/v1/recommendations", SCOPE_READ, handle_list_recommendations,
     "recommendations, newest first; ?status= filters"},
    {"GET", "/api/v1/recommendations/{id}", SCOPE_READ, handle_show_recommendation,
     "one recommendation with every state change"},
    {"POST", "/api/v1/recommendations/{id}/approve", SCOPE_APPROVE, handle_approve,
     "approve a pending recommendation; 409 when it is no longer pending"},
    {"GET", "/api/v1/recommendations/{id}/link", 0, api_handle_link,
     "a signed approve or reject link from a notification: a page that asks to confirm (no key: the signature)"},
    {"POST", "/api/v1/recommendations/{id}/link", 0, api_handle_link,
     "confirms a signed link's decision (form field reason); 403 for a bad signature, 410 once it has expired"},
    {"POST", "/api/v1/recommendations/{id}/reject", SCOPE_APPROVE, handle_reject,
     "reject a pending recommendation with an optional reason"},
    {"GET", "/api/v1/metrics/live", SCOPE_READ, api_handle_live_metrics,
     "samples of ?service= and ?metric= since ?since= (Unix seconds; the last 30 minutes by default)"},
    {"GET", "/api/v1/trends", SCOPE_READ, api_handle_trends,
     "?service= ?metric= ?bucket=hour|day ?since= ?until=: count, mean, min, max and p95 per bucket"},
    {"GET", "/api/v1/alerts", SCOPE_READ, api_handle_alerts,
     "anomaly alerts since ?since= (the last 24 hours by default), newest first"},
    {"GET", "/api/v1/forecasts/{service}", SCOPE_READ, api_handle_forecast,
     "the service's forecast now: mean, 80 % and 95 % bands per step over the horizon; 503 while it has none"},
    {"POST", "/api/v1/predict", SCOPE_READ, api_handle_predict,
     "forecast {service} from its history, or a posted {values, timestamps | step, horizon, forecaster}"},
    {"POST", "/api/v1/detect_anomaly", SCOPE_READ, api_handle_detect_anomaly,
     "score {service, value | values} against its history, or a posted {values, anomaly, threshold}"},
    {"POST", "/api/v1/services/{name}/pause", SCOPE_APPROVE, api_handle_pause,
     "keep forecasting the service but execute nothing for it, until resumed (kept across restarts)"},
    {"POST", "/api/v1/services/{name}/resume", SCOPE_APPROVE, api_handle_resume,
     "execute for the service again; an approved recommendation that waited goes ahead at the next tick"},
    {"GET", "/api/v1/session", SCOPE_READ, dashboard_handle_session, "who the key is: tenant, key name and scopes"},
    {"GET", "/api/v1/events", SCOPE_READ, dashboard_handle_events,
     "server-sent events: tick, recommendation, alert and clock, pushed as they happen; keepalive every 15 s"},
    {"GET", "/api/v1/calendar", SCOPE_READ, dashboard_handle_calendar, "prayer times and Hijri dates ?from= ?to="},
    {"GET", "/api/v1/audit", SCOPE_READ, dashboard_handle_audit, "the audit log, newest first; ?limit= (100)"},
    {"GET", "/api/v1/reports", SCOPE_READ, dashboard_handle_reports, "simulation reports in reports_dir"},
    {"GET", "/api/v1/reports/{name}", SCOPE_READ, dashboard_handle_report, "one report: hydra simulate's JSON"},
    {"GET", "/api/v1/accuracy", SCOPE_READ, models_handle_accuracy,
     "live accuracy per service and model: rolling MAPE and MASE, whether forecasts are acted on"},
    {"GET", "/api/v1/models/{service}", SCOPE_READ, models_handle_versions,
     "the service's saved model versions, newest first, with their scores; the reason when none can be used"},
    {"POST", "/api/v1/models/{service}/refit", SCOPE_APPROVE, models_handle_refit,
     "refit now: the new version is promoted only if it beats the active one on the holdout"},
    {"POST", "/api/v1/models/{service}/activate", SCOPE_APPROVE, models_handle_activate,
     "put {version} back in use, after checking its state"},
};

static void handle_openapi(void *context, const http_request *request, http_response *response)
{
    (void)context, (void)request;
    response->json = http_openapi(routes, ARRAY_LEN(routes), HYDRA_VERSION);
}

/* ## Resuming after a restart ---------------------------------------------------------------------------------- */

typedef struct resume_context {
    daemon_app *app;
    size_t resumed;
} resume_context;

static int resume_one(void *context, const hydra_recommendation_record *r)
{
    resume_context *resume = context;
    recommendation rec;
    recommendation_from_record(r, &rec);
    if (controller_restore(resume->app->controller, &rec, clock_now(&resume->app->clock)) == 0)
        resume->resumed++;
    else
        log_warn("recommendation %s for %s not resumed: no such target now", r->id, r->target);
    return 0;
}

/* Recommendations left open by the last run (or the last leader): pending ones wait again, approved and executing
 * ones are finished. */
static int resume_open_recommendations(daemon_app *app, char *error, size_t error_size)
{
    static const char *const open_states[] = {"executing", "approved", "pending"};
    resume_context resume = {app, 0};
    for (size_t i = 0; i < ARRAY_LEN(open_states); i++) {
        if (app->store.ops->list_recommendations(app->store.state, app->store.config.tenant, open_states[i], 0,
                                                 resume_one, &resume) != 0) {
            format_into(error, error_size, "store: cannot read open recommendations: %s",
                        instance_error(app->store.instance));
            return -1;
        }
    }
    if (resume.resumed)
        log_info("resumed %zu open recommendations", resume.resumed);
    return 0;
}

/* ## Warming up after a restart ------------------------------------------------------------------------------- */

static int apply_pause(void *context, const hydra_service_record *record)
{
    daemon_app *app = context;
    long index = controller_target_index(app->controller, record->name);
    if (index >= 0 && record->paused) {
        controller_set_paused(app->controller, (size_t)index, true);
        log_info("service %s is paused (by %s)", record->name, record->paused_by ? record->paused_by : "?");
    }
    return 0;
}

typedef struct warm_up {
    daemon_app *app;
    size_t target;
    size_t taken;
} warm_up;

static int observe_stored(void *context, double ts, double value)
{
    warm_up *w = context;
    double tick = w->app->store.config.tick_seconds;
    w->taken += controller_observe(w->app->controller, w->target, ts - tick, value) == 0;
    w->app->seen_until[w->target] = fmax(w->app->seen_until[w->target], ts);
    if (ts > w->app->pulled_until[w->target])
        w->app->pulled_until[w->target] = ts; /* a source is asked only for what came after */
    return 0;
}

/* Pauses people set, and each target's recent samples into its models, so that forecasts do not start from
 * nothing. Alerts are listened to only afterwards: the history's anomalies were alerted on when they happened. */
static int warm_up_from_store(daemon_app *app, char *error, size_t error_size)
{
    const hydra_config *config = &app->store.config;
    const hydra_store_ops *ops = app->store.ops;
    if (ops->list_services(app->store.state, config->tenant, apply_pause, app) != 0) {
        format_into(error, error_size, "store: cannot read paused services: %s", instance_error(app->store.instance));
        return -1;
    }
    double since = clock_now(&app->clock) - config->history_seconds;
    free(app->pulled_until);
    free(app->pull_failing);
    free(app->seen_until);
    app->pulled_until = xcalloc(config->target_count + 1, sizeof *app->pulled_until);
    app->pull_failing = xcalloc(config->target_count + 1, sizeof *app->pull_failing);
    app->seen_until = xcalloc(config->target_count + 1, sizeof *app->seen_until);
    for (size_t i = 0; i < config->target_count; i++) {
        app->pulled_until[i] = app->seen_until[i] = since;
        warm_up w = {app, i, 0};
        if (ops->query_samples(app->store.state, config->tenant, config->targets[i].name, config->targets[i].metric,
                               since, INFINITY, observe_stored, &w) != 0) {
            format_into(error, error_size, "store: cannot read the history of %s: %s", config->targets[i].name,
                        instance_error(app->store.instance));
            return -1;
        }
        if (w.taken)
            log_info("service %s: %zu samples of history loaded from the store", config->targets[i].name, w.taken);
    }
    controller_on_alert(app->controller, api_store_alert, app);
    return 0;
}

/* ## Scaler calls off the lock ----------------------------------------------------------------------------------- */

/* A scaler may take its whole deadline (the kubernetes one retries for 30 s): the controller hands each action to
 * the executor's worker for its scaler, which reads the status, begins (moves the recommendation to executing) and
 * finishes (records the outcome) with the lock, and calls the scaler without it. Meanwhile the API answers and the
 * other targets tick. */

static void in_flight_metric(double delta)
{
    metrics_add(metrics_register("core", "scaler_actions_in_flight", "scaler actions sent and not yet answered",
                                 HYDRA_METRIC_GAUGE),
                delta);
}

/* Called by the controller with the lock held. */
static void dispatch_action(void *context, size_t target)
{
    daemon_app *app = context;
    if (app->executor)
        executor_want_action(app->executor, target);
}

static void executor_status_read(void *context, size_t target, const hydra_scale_status *status)
{
    daemon_app *app = context;
    pthread_mutex_lock(&app->lock);
    controller_set_status(app->controller, target, status);
    pthread_mutex_unlock(&app->lock);
}

/* Only the leader begins: a replica that lost the lock leaves what it owes to the next leader (the store holds it
 * approved). */
static int executor_action_begin(void *context, size_t target, const hydra_scale_status *status,
                                 controller_action *action)
{
    daemon_app *app = context;
    pthread_mutex_lock(&app->lock);
    int begun = 0;
    if (atomic_load(&app->leader) && !app->store_down)
        begun = controller_begin_action(app->controller, target, status, clock_now(&app->clock), action);
    else
        controller_set_status(app->controller, target, status);
    pthread_mutex_unlock(&app->lock);
    if (begun == 1)
        in_flight_metric(1);
    return begun;
}

static void executor_action_finish(void *context, const controller_action *action, bool done,
                                   const hydra_scale_status *after, const char *why)
{
    daemon_app *app = context;
    in_flight_metric(-1);
    pthread_mutex_lock(&app->lock);
    controller_finish_action(app->controller, action, done, after, why, clock_now(&app->clock));
    pthread_mutex_unlock(&app->lock);
}

static executor *executor_open(daemon_app *app)
{
    const hydra_config *config = &app->store.config;
    plugin_instance **scalers = xcalloc(config->target_count + 1, sizeof *scalers);
    const char **names = xcalloc(config->target_count + 1, sizeof *names);
    bool complete = true;
    for (size_t i = 0; i < config->target_count; i++) {
        scalers[i] = plugin_set_find(&app->plugins, HYDRA_KIND_SCALER, config->targets[i].scaler);
        names[i] = config->targets[i].name;
        complete = complete && scalers[i];
    }
    static const executor_hooks hooks = {executor_status_read, executor_action_begin, executor_action_finish};
    executor *e = complete ? executor_start(scalers, names, config->target_count, &hooks, app) : NULL;
    free(scalers);
    free(names);
    return e;
}

/* Asks for every target's status and waits a little: the tick that follows plans on what the targets run now. */
static void read_statuses(daemon_app *app)
{
    if (!app->executor)
        return;
    for (size_t i = 0; i < app->store.config.target_count; i++)
        executor_want_status(app->executor, i);
    executor_wait_status(app->executor, STATUS_WAIT_SECONDS);
}

/* ## The controller, built from the store ------------------------------------------------------------------------ */

/* As at start-up, so after a restart or a takeover alike: history into the models, the pauses people set, and, for
 * the leader, the open recommendations resumed. A controller that led before is replaced: what it had in hand (open
 * recommendations, plans under way) may have changed in the store since. */
static int controller_start(daemon_app *app, bool resume, char *error, size_t error_size)
{
    /* Unique across restarts, even two in one second: a second's prefix reused its ids and overwrote records. */
    struct timespec started;
    clock_gettime(CLOCK_REALTIME, &started);
    char prefix[32];
    format_into(prefix, sizeof prefix, "rec-%llx",
                (unsigned long long)started.tv_sec * 1000000ull + (unsigned long long)started.tv_nsec / 1000);
    hydra_config *config = &app->store.config;
    controller_setup setup = {config, &app->plugins, app->policy, &app->clock,
                              app->live ? live_demo_scaler(app->live) : NULL, prefix, persist_event, app, &app->links,
                              FINAL_RECOMMENDATIONS_KEPT};
    controller *fresh = controller_create(&setup, error, error_size);
    if (!fresh)
        return -1;
    controller_destroy(app->controller);
    app->controller = fresh;
    app->controller_led = false;
    if (app->executor)
        controller_defer_actions(fresh, dispatch_action, app);
    if (warm_up_from_store(app, error, error_size) != 0)
        return -1;
    /* The registry's active models go into each new controller, before it resumes anything. */
    models_close(app->models);
    app->models = NULL;
    if (!models_open(app, error, error_size))
        return -1;
    if (resume && resume_open_recommendations(app, error, error_size) != 0)
        return -1;
    for (size_t i = 0; app->executor && i < config->target_count; i++)
        executor_want_status(app->executor, i); /* the new controller knows no status yet */
    return 0;
}

/* ## Leadership: one replica runs the loop ------------------------------------------------------------------------ */

static void leader_metrics(bool leader, bool changed)
{
    metrics_set(metrics_register("core", "leader", "1 while this replica is the leader (ticks and executes), 0 while "
                                 "it is a follower (serves the API only)", HYDRA_METRIC_GAUGE),
                leader ? 1 : 0);
    metrics_add(metrics_register("core", "leader_changes_total", "times this replica became or stopped being the "
                                 "leader", HYDRA_METRIC_COUNTER), changed ? 1 : 0);
}

/* Called with the lock held. The controller takes over where the store says the last leader stopped. */
static void leadership_gained(daemon_app *app)
{
    log_info("leader: this replica holds lock %s: it now ticks and executes", app->leader_lock);
    char error[2048];
    int status = app->controller_led ? controller_start(app, true, error, sizeof error)
                                     : resume_open_recommendations(app, error, sizeof error);
    if (status != 0) {
        log_error("leader: lock %s taken, but cannot take over: %s; letting go and trying again in %gs",
                  app->leader_lock, error, app->store.config.leader_retry_seconds);
        app->store.ops->leader_release(app->store.state, app->leader_lock);
        return;
    }
    atomic_store(&app->leader, true);
    app->controller_led = true;
    app->leader_since = clock_now(&app->clock);
    leader_metrics(true, true);
}

static void leadership_lost(daemon_app *app, const char *why)
{
    atomic_store(&app->leader, false);
    app->leader_since = 0;
    leader_metrics(false, true);
    log_error("leader: lost lock %s (%s): no ticks and no execution here; serving the API and asking again every %gs",
              app->leader_lock, why, app->store.config.leader_retry_seconds);
}

/* Asks the store who leads, without the lock (a connection that went away can take seconds to say so), then acts on
 * the answer with it: whatever the loop or an approval does next, it does as what this replica now is. */
static void leadership_check(daemon_app *app)
{
    int held = app->store.ops->leader_hold(app->store.state, app->leader_lock);
    char why[1024];
    format_into(why, sizeof why, "%s", held < 0 ? instance_error(app->store.instance) : "another replica holds it");
    pthread_mutex_lock(&app->lock);
    bool leader = atomic_load(&app->leader);
    if (held == 0 && !leader)
        leadership_gained(app);
    else if (held != 0 && leader)
        leadership_lost(app, why);
    else if (held < 0 && !app->leader_unknown)
        log_warn("leader: cannot ask the store for lock %s (%s); a follower until it answers", app->leader_lock, why);
    if (held >= 0 && app->leader_unknown)
        log_info("leader: the store answers for lock %s again; this replica is the %s", app->leader_lock,
                 atomic_load(&app->leader) ? "leader" : "follower");
    app->leader_unknown = held < 0;
    pthread_mutex_unlock(&app->lock);
}

/* ## Following the store: what other replicas took in ---------------------------------------------------------- */

/* Samples ingested through another replica reach this one's models from the store: each replica's ingest route feeds
 * only its own controller. Called with the lock held, before a tick. */
static void follow_samples(daemon_app *app)
{
    const hydra_config *config = &app->store.config;
    for (size_t i = 0; i < config->target_count; i++) {
        warm_up w = {app, i, 0};
        double after = nextafter(app->seen_until[i], INFINITY);
        if (app->store.ops->query_samples(app->store.state, config->tenant, config->targets[i].name,
                                          config->targets[i].metric, after, INFINITY, observe_stored, &w) != 0)
            return; /* the store failed between the health check and here: the next tick asks again */
    }
}

/* A decision taken through another replica's API is in the store only: the leader reads back each recommendation
 * it has open, and adopts what changed (an approval is executed now). */
static void follow_decisions(daemon_app *app, double now)
{
    for (size_t i = 0; i < controller_target_count(app->controller); i++) {
        controller_view view;
        controller_view_target(app->controller, i, &view);
        recommendation stored;
        if (!view.open || daemon_read_recommendation(app, view.open->id, &stored) != 0 ||
            stored.state == view.open->state)
            continue;
        controller_adopt(app->controller, stored.id, stored.state, stored.decided_by, stored.decision_reason,
                         stored.decided_at, now);
    }
}

/* An approval of a recommendation this leader never had in hand (made while another replica led, say, in the moment
 * before it lost the lock) is carried out all the same: the store holds it, so it is owed. */
static int execute_unknown_approval(void *context, const hydra_recommendation_record *record)
{
    daemon_app *app = context;
    if (recommendation_find(controller_recommendations(app->controller), record->id))
        return 0;
    recommendation rec;
    recommendation_from_record(record, &rec);
    if (controller_restore(app->controller, &rec, clock_now(&app->clock)) == 0)
        log_info("recommendation %s was approved outside this leader's view: executing it", record->id);
    return 0;
}

static int follow_pause(void *context, const hydra_service_record *record)
{
    daemon_app *app = context;
    long index = controller_target_index(app->controller, record->name);
    controller_view view;
    if (index < 0)
        return 0;
    controller_view_target(app->controller, (size_t)index, &view);
    if (view.paused != (record->paused != 0)) {
        controller_set_paused(app->controller, (size_t)index, record->paused != 0);
        log_info("service %s %s (by %s, through another replica)", record->name,
                 record->paused ? "paused" : "resumed", record->paused_by ? record->paused_by : "?");
    }
    return 0;
}

static void follow_store(daemon_app *app, double now)
{
    follow_samples(app);
    if (!atomic_load(&app->leader))
        return;
    app->store.ops->list_services(app->store.state, app->store.config.tenant, follow_pause, app);
    follow_decisions(app, now);
    app->store.ops->list_recommendations(app->store.state, app->store.config.tenant, "approved", 0,
                                         execute_unknown_approval, app);
}

/* ## Running --------------------------------------------------------------------------------------------------- */

static int app_open(daemon_app *app, const daemon_options *options, char *error, size_t error_size)
{
    app->events = events_create();
    if (store_handle_open(&app->store, options, error, error_size) != 0)
        return -1;
    hydra_config *config = &app->store.config;
    if (options->listen) {
        free(config->listen_host);
        if (!config_parse_listen(options->listen, &config->listen_host, &config->listen_port)) {
            format_into(error, error_size, "--listen must be HOST:PORT, found '%s'", options->listen);
            config->listen_host = NULL;
            return -1;
        }
    }
    clock_init_real(&app->clock);
    if (link_signer_init(&app->links, config->link_secret_file, error, error_size) != 0)
        return -1;
    if (config->public_url && !app->links.from_file)
        log_warn("approve and reject links in notifications stop working when this hydra restarts, and other "
                 "replicas refuse them: set approval.link_secret_file to a secret file shared by every replica");
    if (options->scenario_path && !(app->live = live_demo_open(app, options, error, error_size)))
        return -1;
    if (plugin_set_open(&app->plugins, config, &app->clock, error, error_size) != 0)
        return -1;
    script_options limits = {config->lua_memory_limit, config->lua_instruction_limit, &app->clock, NULL, NULL};
    if (!(app->policy = policy_open(config->policy_path, &limits, error, error_size)))
        return -1;
    pthread_mutex_init(&app->lock, NULL);
    pthread_mutex_init(&app->key_cache_lock, NULL);
    if (!app->live)
        app->executor = executor_open(app);
    if (controller_start(app, false, error, error_size) != 0)
        return -1;
    format_into(app->leader_lock, sizeof app->leader_lock, "tenant %s", config->tenant);
    leader_metrics(false, false);
    /* Before the API opens: a sample that comes in first is evaluated by the leader, on its targets' status. */
    leadership_check(app);
    read_statuses(app);
    app->web_root = config->web_root ? xstrdup(config->web_root) : web_static_default_root();
    http_config http = {config->listen_host, config->listen_port, config->max_body_bytes, HTTP_THREADS, routes,
                        ARRAY_LEN(routes), authenticate, app, config->rate_limit_per_second,
                        config->rate_limit_burst, dashboard_handle_static};
    app->http = http_start(&http, error, error_size);
    return app->http ? 0 : -1;
}

static void app_close(daemon_app *app)
{
    if (app->events)
        events_close(app->events); /* no stream may sleep through the server's stop */
    http_stop(app->http);
    executor_destroy(app->executor); /* stopped already, unless the start failed */
    events_destroy(app->events);
    free(app->web_root);
    models_close(app->models);
    controller_destroy(app->controller);
    live_demo_close(app->live);
    policy_close(app->policy);
    plugin_set_close(&app->plugins);
    store_handle_close(&app->store);
    free(app->pulled_until);
    free(app->pull_failing);
    free(app->seen_until);
}

/* Ticks on the wall clock until asked to stop; a stop lets the tick under way finish. Before each tick, and every
 * leader retry in between, the store says whether this replica leads: only the leader pulls, ticks and executes. */
static void run_loop(daemon_app *app)
{
    double tick = app->store.config.tick_seconds, next = ceil(clock_now(&app->clock) / tick) * tick;
    double retry = app->store.config.leader_retry_seconds, next_check = clock_now(&app->clock) + retry;
    while (!stop_requested) {
        double now = clock_now(&app->clock);
        if (now >= next || now >= next_check) {
            leadership_check(app);
            next_check = now + retry;
        }
        if (now >= next) {
            if (atomic_load(&app->leader))
                daemon_pull_sources(app, now);
            read_statuses(app);
            pthread_mutex_lock(&app->lock);
            bool ticked = store_can_record(app) && atomic_load(&app->leader);
            if (!app->store_down)
                follow_store(app, now);
            if (ticked) {
                controller_tick(app->controller, now);
                models_tick(app, now);
                dashboard_publish_ticks(app, now);
            } else if (!app->store_down && !app->executor) {
                controller_refresh_status(app->controller);
            }
            pthread_mutex_unlock(&app->lock);
            if (ticked)
                metrics_add(metrics_register("core", "ticks_total", "controller ticks", HYDRA_METRIC_COUNTER), 1);
            next += tick * ceil((now - next + 1e-9) / tick);
        }
        dashboard_heartbeat(app);
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

int daemon_serve(const daemon_options *options)
{
    daemon_app app;
    memset(&app, 0, sizeof app);
    char error[4096];
    struct sigaction on_stop = {.sa_handler = request_stop};
    sigaction(SIGTERM, &on_stop, NULL);
    sigaction(SIGINT, &on_stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (app_open(&app, options, error, sizeof error) != 0) {
        fprintf(stderr, "hydra: %s\n", error);
        app_close(&app);
        return 1;
    }
    printf("hydra: listening on http://%s:%d/api/v1\n", app.store.config.listen_host, http_port(app.http));
    fflush(stdout);
    if (app.live)
        live_demo_run(&app, &stop_requested);
    else
        run_loop(&app);
    log_info("stopping: finishing the tick, closing the store");
    executor_stop(app.executor); /* the actions under way are finished and recorded while this replica still leads */
    if (atomic_load(&app.leader)) {
        app.store.ops->leader_release(app.store.state, app.leader_lock); /* a follower takes over at its next try */
        log_info("leader: lock %s released", app.leader_lock);
    }
    app_close(&app);
    return 0;
}
