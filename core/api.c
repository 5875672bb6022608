/* The daemon's data routes: what the store holds (live samples, hourly and daily trends, alerts), what the
 * controller's models say (forecasts, predictions and anomaly scores on request), and pausing a target. Every route
 * answers only for the caller's tenant, and a bad parameter is a 400 that names it. */
#include "daemon_app.h"

#include "clock.h"

#include "log.h"
#include "record_json.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_DEFAULT_SECONDS 1800.0   /* GET /metrics/live without since: the last 30 minutes */
#define LIVE_MAX_SAMPLES 10000
#define ALERTS_DEFAULT_SECONDS 86400.0
#define ALERTS_MAX 1000
#define SERIES_MAX_POINTS 100000      /* a posted series, missing steps included */
#define HORIZON_MAX_STEPS 10000
#define DETECT_HISTORY 512            /* recent samples a posted value is scored against */
#define DEFAULT_METRIC "requests_per_second"

/* ## Reading requests ------------------------------------------------------------------------------------------ */

static json_t *number_or_null(double value) { return isfinite(value) ? json_real(value) : json_null(); }

/* A query parameter in Unix seconds; absent: fallback. false after a 400 naming it. */
static bool query_time(const http_request *request, const char *name, double fallback, double *out,
                       http_response *response)
{
    const char *text = http_query(request, name);
    char *end = NULL;
    *out = text ? strtod(text, &end) : fallback;
    if (text && (end == text || *end || !isfinite(*out))) {
        http_error(response, 400, name, "%s must be Unix seconds (a number), found '%s'", name, text);
        return false;
    }
    return true;
}

static const char *query_required(const http_request *request, const char *name, http_response *response)
{
    const char *text = http_query(request, name);
    if (!text || !text[0])
        http_error(response, 400, name, "%s is required", name);
    return text && text[0] ? text : NULL;
}

static const char *query_metric(const http_request *request)
{
    const char *metric = http_query(request, "metric");
    return metric && metric[0] ? metric : DEFAULT_METRIC;
}

/* The configured target called name, for a caller of its tenant; -1 after a 404. */
static long target_named(daemon_app *app, const http_request *request, const char *name, http_response *response)
{
    pthread_mutex_lock(&app->lock); /* a replica that leads again replaces its controller */
    long index = daemon_serves_caller(app, request) ? controller_target_index(app->controller, name) : -1;
    pthread_mutex_unlock(&app->lock);
    if (index < 0)
        http_error(response, 404, NULL, "no service %s", name);
    return index;
}

/* The body as a JSON object, or NULL after a 400. */
static json_t *body_object(const http_request *request, http_response *response)
{
    json_error_t parse_error;
    json_t *body = json_loadb(request->body ? request->body : "", request->body_length, 0, &parse_error);
    if (!json_is_object(body)) {
        http_error(response, 400, NULL, "the body must be a JSON object%s%s", body ? "" : ": ",
                   body ? "" : parse_error.text);
        json_decref(body);
        return NULL;
    }
    return body;
}

/* body[name] as an integer in [low, high], fallback when absent; false after a 400 naming it. */
static bool body_integer(json_t *body, const char *name, long long low, long long high, long long fallback,
                         long long *out, http_response *response)
{
    json_t *value = json_object_get(body, name);
    *out = value ? (json_is_integer(value) ? json_integer_value(value) : low - 1) : fallback;
    if (*out < low || *out > high) {
        http_error(response, 400, name, "%s must be an integer from %lld to %lld", name, low, high);
        return false;
    }
    return true;
}

static bool body_number(json_t *body, const char *name, double low, double high, double fallback, double *out,
                        http_response *response)
{
    json_t *value = json_object_get(body, name);
    *out = value ? (json_is_number(value) ? json_number_value(value) : NAN) : fallback;
    if (!(*out >= low && *out <= high)) {
        http_error(response, 400, name, "%s must be a number from %g to %g", name, low, high);
        return false;
    }
    return true;
}

/* The instance a body names (field), or the first of that kind when it names none; NULL after a 400 or a 503. */
static plugin_instance *plugin_chosen(daemon_app *app, json_t *body, const char *field, int kind,
                                      http_response *response)
{
    json_t *name = json_object_get(body, field);
    if (name && !json_is_string(name)) {
        http_error(response, 400, field, "%s must be the name of a configured %s instance", field,
                   loader_kind_name(kind));
        return NULL;
    }
    plugin_instance *found = NULL;
    for (size_t i = 0; !name && !found && i < app->plugins.count; i++)
        if (instance_kind(app->plugins.instances[i]) == kind)
            found = app->plugins.instances[i];
    if (name && !(found = plugin_set_find(&app->plugins, kind, json_string_value(name))))
        http_error(response, 400, field, "no %s instance named '%s' is loaded", loader_kind_name(kind),
                   json_string_value(name));
    else if (!found)
        http_error(response, 503, NULL, "no %s is loaded: add one to the config's plugins", loader_kind_name(kind));
    return found;
}

/* ## A posted series: values with timestamps (evenly spaced, gaps allowed) or with a step --------------------- */

typedef struct posted_series {
    double *values; /* owned; NAN for a missing step */
    hydra_series series;
} posted_series;

/* Where each timestamp falls on the grid its first two define; false after a 400 naming the bad one. */
static bool timestamps_to_grid(json_t *timestamps, size_t count, size_t *position, double *start, double *step,
                               http_response *response)
{
    char field[48];
    if (!json_is_array(timestamps) || json_array_size(timestamps) != count || count < 2) {
        http_error(response, 400, "timestamps", "timestamps must be an array as long as values, at least 2");
        return false;
    }
    *start = json_number_value(json_array_get(timestamps, 0));
    *step = json_number_value(json_array_get(timestamps, 1)) - *start;
    for (size_t i = 0; i < count; i++) {
        json_t *ts = json_array_get(timestamps, i);
        double offset = (json_number_value(ts) - *start) / *step;
        position[i] = isfinite(offset) && offset >= 0 && offset < SERIES_MAX_POINTS ? (size_t)llround(offset) : 0;
        bool on_grid = json_is_number(ts) && *step > 0 && fabs(offset - (double)position[i]) < 1e-6;
        if (!on_grid || (i > 0 && position[i] <= position[i - 1]) || (i > 0 && offset >= SERIES_MAX_POINTS)) {
            format_into(field, sizeof field, "timestamps[%zu]", i);
            http_error(response, 400, field, "%s must be Unix seconds, increasing, on the grid of the first two "
                       "(every %g s), within %d steps", field, *step, SERIES_MAX_POINTS);
            return false;
        }
    }
    return true;
}

/* body.values with body.timestamps, or with body.step (default_step when 0 is allowed) and body.start (0). */
static bool read_series(json_t *body, double default_step, posted_series *out, http_response *response)
{
    json_t *values = json_object_get(body, "values");
    size_t count = json_array_size(values);
    if (!json_is_array(values) || count < 1 || count > SERIES_MAX_POINTS) {
        http_error(response, 400, "values", "values must be an array of 1 to %d numbers (null for a missing one)",
                   SERIES_MAX_POINTS);
        return false;
    }
    size_t *position = xcalloc(count, sizeof *position);
    double start = 0, step = default_step;
    json_t *timestamps = json_object_get(body, "timestamps");
    if (!timestamps && !default_step && !json_object_get(body, "step")) {
        free(position);
        http_error(response, 400, "step", "give timestamps with the values, or step (seconds between values)");
        return false;
    }
    bool ok = timestamps ? timestamps_to_grid(timestamps, count, position, &start, &step, response)
                         : body_number(body, "step", 1e-9, 1e9, default_step, &step, response) &&
                               body_number(body, "start", 0, 1e12, 0, &start, response);
    for (size_t i = 0; ok && !timestamps && i < count; i++)
        position[i] = i;
    out->values = ok ? xmalloc((position[count - 1] + 1) * sizeof *out->values) : NULL;
    for (size_t i = 0; ok && i <= position[count - 1]; i++)
        out->values[i] = NAN;
    for (size_t i = 0; ok && i < count; i++) {
        json_t *value = json_array_get(values, i);
        if (!json_is_number(value) && !json_is_null(value)) {
            char field[32];
            format_into(field, sizeof field, "values[%zu]", i);
            http_error(response, 400, field, "%s must be a number, or null for a missing one", field);
            ok = false;
        } else if (json_is_number(value)) {
            out->values[position[i]] = json_number_value(value);
        }
    }
    if (ok)
        out->series = (hydra_series){out->values, position[count - 1] + 1, start, step};
    free(position);
    if (!ok) {
        free(out->values);
        out->values = NULL;
    }
    return ok;
}

/* ## Store routes: live samples, trends, alerts ------------------------------------------------------------------ */

/* The newest LIVE_MAX_SAMPLES samples of a window, kept in a ring as the store walks it oldest first: a live view
 * wants what happened last, not the start of a window too long to send whole. */
typedef struct sample_ring {
    double *ts, *values;
    size_t seen;
} sample_ring;

static int keep_sample(void *context, double ts, double value)
{
    sample_ring *ring = context;
    size_t slot = ring->seen++ % LIVE_MAX_SAMPLES;
    ring->ts[slot] = ts;
    ring->values[slot] = value;
    return 0;
}

static json_t *ring_samples(const sample_ring *ring)
{
    json_t *items = json_array();
    size_t kept = ring->seen < LIVE_MAX_SAMPLES ? ring->seen : LIVE_MAX_SAMPLES;
    for (size_t i = ring->seen - kept; i < ring->seen; i++) {
        size_t slot = i % LIVE_MAX_SAMPLES;
        json_array_append_new(items, json_pack("{s:f, s:f}", "ts", ring->ts[slot], "value", ring->values[slot]));
    }
    return items;
}

void api_handle_live_metrics(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    const char *service = query_required(request, "service", response), *metric = query_metric(request);
    double since = 0;
    if (!service || !query_time(request, "since", clock_now(&app->clock) - LIVE_DEFAULT_SECONDS, &since, response))
        return;
    sample_ring ring = {xcalloc(LIVE_MAX_SAMPLES, sizeof(double)), xcalloc(LIVE_MAX_SAMPLES, sizeof(double)), 0};
    int status = app->store.ops->query_samples(app->store.state, request->caller->tenant, service, metric, since,
                                               INFINITY, keep_sample, &ring);
    if (status != 0)
        daemon_store_failed(app, response, "cannot read the samples");
    else
        response->json = json_pack("{s:s, s:s, s:f, s:o, s:b}", "service", service, "metric", metric, "since", since,
                                   "samples", ring_samples(&ring), "truncated", ring.seen > LIVE_MAX_SAMPLES);
    free(ring.ts);
    free(ring.values);
}

static int append_bucket(void *context, const hydra_sample_bucket *b)
{
    json_array_append_new(context, json_pack("{s:f, s:I, s:f, s:f, s:f, s:f}", "start", b->start, "count",
                                             (json_int_t)b->count, "mean", b->mean, "min", b->min, "max", b->max,
                                             "p95", b->p95));
    return 0;
}

void api_handle_trends(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    const char *service = query_required(request, "service", response), *metric = query_metric(request);
    const char *bucket = http_query(request, "bucket");
    bool daily = bucket && strcmp(bucket, "day") == 0;
    if (!service)
        return;
    if (bucket && !daily && strcmp(bucket, "hour") != 0) {
        http_error(response, 400, "bucket", "bucket must be hour or day, found '%s'", bucket);
        return;
    }
    double width = daily ? 86400 : 3600, since = 0, until = 0, now = clock_now(&app->clock);
    if (!query_time(request, "since", now - (daily ? 30 : 2) * 86400.0, &since, response) ||
        !query_time(request, "until", INFINITY, &until, response))
        return;
    json_t *buckets = json_array();
    if (app->store.ops->aggregate_samples(app->store.state, request->caller->tenant, service, metric, since, until,
                                          width, append_bucket, buckets) != 0) {
        json_decref(buckets);
        daemon_store_failed(app, response, "cannot aggregate the samples");
        return;
    }
    response->json = json_pack("{s:s, s:s, s:s, s:f, s:o}", "service", service, "metric", metric, "bucket",
                               daily ? "day" : "hour", "since", since, "buckets", buckets);
}

static int append_alert(void *context, const hydra_alert_record *a)
{
    json_t *items = context;
    json_array_append_new(items, record_json_alert(a));
    return json_array_size(items) >= ALERTS_MAX;
}

void api_handle_alerts(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    double since = 0;
    if (!query_time(request, "since", clock_now(&app->clock) - ALERTS_DEFAULT_SECONDS, &since, response))
        return;
    json_t *alerts = json_array();
    if (app->store.ops->list_alerts(app->store.state, request->caller->tenant, since, append_alert, alerts) != 0) {
        json_decref(alerts);
        daemon_store_failed(app, response, "cannot list alerts");
        return;
    }
    response->json = json_pack("{s:f, s:o}", "since", since, "alerts", alerts);
}

/* People hear of an alert as of a recommendation: through every configured notifier (each logs its own failure). */
static const char *alert_kind_name(controller_alert_kind kind)
{
    static const char *const names[] = {[ALERT_ANOMALY] = "anomaly", [ALERT_DEMAND_SPIKE] = "demand-spike",
                                        [ALERT_DEMAND_DECLINE] = "demand-decline",
                                        [ALERT_FORECAST_INACCURATE] = "forecast-inaccurate",
                                        [ALERT_MODEL_DRIFT] = "model-drift"};
    return names[kind];
}

static void notify_alert(daemon_app *app, const char *id, const controller_alert *alert, const char *message)
{
    char summary[256];
    if (alert->kind == ALERT_ANOMALY)
        format_into(summary, sizeof summary, "anomaly in %s %s", alert->target, alert->metric);
    else if (alert->kind == ALERT_FORECAST_INACCURATE)
        format_into(summary, sizeof summary, "forecasts of %s by %s are inaccurate: not acted on", alert->target,
                    alert->detector);
    else if (alert->kind == ALERT_MODEL_DRIFT)
        format_into(summary, sizeof summary, "drift in %s %s: model %s refit scheduled", alert->target, alert->metric,
                    alert->detector);
    else
        format_into(summary, sizeof summary, "%s of %s %s ahead",
                    alert->kind == ALERT_DEMAND_SPIKE ? "spike" : "decline", alert->target, alert->metric);
    hydra_notification n = {HYDRA_EVENT_ALERT, alert->at, id, alert->target, 0, 0, NAN, summary, message,
                            alert->detector, NULL, NULL};
    api_notify(app, &n);
}

void api_notify(daemon_app *app, const hydra_notification *n)
{
    const hydra_config *config = &app->store.config;
    for (size_t i = 0; i < config->notifier_count; i++) {
        plugin_instance *notifier = plugin_set_find(&app->plugins, HYDRA_KIND_NOTIFIER, config->notifiers[i]);
        if (notifier)
            instance_notify(notifier, n);
    }
}

void api_store_alert(void *context, const controller_alert *alert)
{
    daemon_app *app = context;
    if (!atomic_load(&app->leader))
        return; /* every replica's models see every sample; only the leader tells of what they find */
    char id[160], message[512];
    /* The id is the episode's start: replaying history after a restart saves the same alert again, not a new one. */
    format_into(id, sizeof id, "%s-%s-%.0f", alert_kind_name(alert->kind), alert->target, alert->at);
    if (alert->text) {
        format_into(message, sizeof message, "%s %s: %s", alert->target, alert->metric, alert->text);
    } else if (alert->kind == ALERT_ANOMALY) {
        format_into(message, sizeof message, "%s %s = %g scored %.3f by %s (threshold %.2f)", alert->target,
                    alert->metric, alert->value, alert->score, alert->detector, alert->threshold);
    } else {
        char when[32];
        clock_format_time(alert->value_at, when, sizeof when);
        format_into(message, sizeof message,
                    "%s %s is forecast at %.0f by %s, %.1f x the last hour's average of %.0f (%s factor %g)",
                    alert->target, alert->metric, alert->value, when, alert->score, alert->average,
                    alert->kind == ALERT_DEMAND_SPIKE ? "spike" : "decline", alert->threshold);
    }
    /* A demand alert's rule fired in full: its score is 1. */
    double score = alert->kind == ALERT_ANOMALY ? fmin(1, fmax(0, alert->score)) : 1;
    /* accuracy and drift alerts are the rule firing too: score 1 */
    hydra_alert_record record = {app->store.config.tenant, id, alert->target, alert->metric, alert->at, score,
                                 message};
    if (app->store.ops->put_alert(app->store.state, &record) != 0)
        log_error("store: alert %s not saved: %s", id, instance_error(app->store.instance));
    else
        log_warn("alert %s: %s", id, message);
    events_publish(app->events, "alert", record_json_alert(&record));
    notify_alert(app, id, alert, message);
}

/* ## Model routes: forecasts, predictions, anomaly scores ------------------------------------------------------- */

static void forecast_alloc(hydra_forecast *f, size_t horizon)
{
    double *block = xcalloc(5 * horizon, sizeof *block);
    *f = (hydra_forecast){horizon, block, block + horizon, block + 2 * horizon, block + 3 * horizon,
                          block + 4 * horizon, 0, {{0}}, {0}};
}

/* Step i of a forecast, as the time it ends and its mean and bands. */
static json_t *forecast_points(const hydra_forecast *f, double first_at, double step)
{
    json_t *points = json_array();
    for (size_t i = 0; i < f->horizon; i++)
        json_array_append_new(points, json_pack("{s:f, s:o, s:o, s:o, s:o, s:o}", "ts", first_at + (double)i * step,
                                                "mean", number_or_null(f->mean[i]), "lower80",
                                                number_or_null(f->lower80[i]), "upper80",
                                                number_or_null(f->upper80[i]), "lower95",
                                                number_or_null(f->lower95[i]), "upper95",
                                                number_or_null(f->upper95[i])));
    return points;
}

static size_t default_horizon(const hydra_config *config)
{
    double steps = ceil(config->horizon_seconds / config->tick_seconds);
    return steps < 1 ? 1 : steps > HORIZON_MAX_STEPS ? HORIZON_MAX_STEPS : (size_t)steps;
}

/* The target's forecast from its model now; 503 with the forecaster's reason when it has none yet. */
static void forecast_target(daemon_app *app, size_t index, size_t horizon, http_response *response)
{
    const config_target *target = &app->store.config.targets[index];
    plugin_instance *forecaster = plugin_set_find(&app->plugins, HYDRA_KIND_FORECASTER, target->forecaster);
    hydra_forecast f;
    forecast_alloc(&f, horizon);
    char reason[512];
    double first_at = NAN;
    pthread_mutex_lock(&app->lock);
    int status = controller_forecast(app->controller, index, &f, &first_at);
    const char *problem = controller_model_problem(app->controller, index);
    format_into(reason, sizeof reason, "%s", problem ? problem : isnan(first_at) ? "no samples yet"
                                                                                  : instance_error(forecaster));
    pthread_mutex_unlock(&app->lock);
    if (problem) {
        http_error(response, 503, NULL, "%s", reason);
        response->retry_after = (int)app->store.config.tick_seconds;
    } else if (status != 0 || isnan(first_at)) {
        http_error(response, 503, NULL, "service %s: forecaster %s has no forecast yet: %s", target->name,
                   target->forecaster, reason[0] ? reason : "it cannot forecast from the samples it has");
        response->retry_after = (int)app->store.config.tick_seconds;
    } else {
        response->json = json_pack("{s:s, s:s, s:s, s:f, s:f, s:o}", "service", target->name, "metric",
                                   target->metric, "forecaster", target->forecaster, "made_at",
                                   clock_now(&app->clock), "step", app->store.config.tick_seconds, "points",
                                   forecast_points(&f, first_at, app->store.config.tick_seconds));
    }
    free(f.mean);
}

void api_handle_forecast(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    long index = target_named(app, request, request->params[0], response);
    if (index >= 0)
        forecast_target(app, (size_t)index, default_horizon(&app->store.config), response);
}

static void predict_series(daemon_app *app, json_t *body, http_response *response)
{
    posted_series posted = {NULL, {0}};
    plugin_instance *forecaster = plugin_chosen(app, body, "forecaster", HYDRA_KIND_FORECASTER, response);
    long long horizon = 0;
    if (!forecaster || !read_series(body, 0, &posted, response))
        return;
    if (body_integer(body, "horizon", 1, HORIZON_MAX_STEPS, 60, &horizon, response)) {
        hydra_forecast f;
        forecast_alloc(&f, (size_t)horizon);
        char reason[512];
        pthread_mutex_lock(&app->lock);
        int status = instance_forecast(forecaster, &posted.series, &f);
        format_into(reason, sizeof reason, "%s", instance_error(forecaster));
        pthread_mutex_unlock(&app->lock);
        double first_at = posted.series.start + (double)posted.series.count * posted.series.step;
        if (status != 0)
            http_error(response, 422, "values", "forecaster %s cannot forecast this series: %s",
                       instance_name(forecaster), reason);
        else
            response->json = json_pack("{s:s, s:f, s:o}", "forecaster", instance_name(forecaster), "step",
                                       posted.series.step, "points", forecast_points(&f, first_at, posted.series.step));
        free(f.mean);
    }
    free(posted.values);
}

void api_handle_predict(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    json_t *body = body_object(request, response);
    json_t *service = json_object_get(body, "service");
    long long horizon = 0;
    if (!body) {
        return;
    } else if (service && !json_is_string(service)) {
        http_error(response, 400, "service", "service must be the name of a configured service");
    } else if (service) {
        long index = target_named(app, request, json_string_value(service), response);
        if (index >= 0 && body_integer(body, "horizon", 1, HORIZON_MAX_STEPS,
                                       (long long)default_horizon(&app->store.config), &horizon, response))
            forecast_target(app, (size_t)index, (size_t)horizon, response);
    } else {
        predict_series(app, body, response);
    }
    json_decref(body);
}

/* The values to score, appended to the target's recent history when a service is named; NULL after an error. */
typedef struct scoring {
    plugin_instance *detector;
    double threshold;
    posted_series posted;
    double *window;   /* history then the posted values; owned */
    size_t history;   /* how many of window came from the history */
} scoring;

static bool scoring_for_service(daemon_app *app, const http_request *request, json_t *body, scoring *out,
                                http_response *response)
{
    json_t *service = json_object_get(body, "service");
    long index = json_is_string(service) ? target_named(app, request, json_string_value(service), response) : -1;
    if (!json_is_string(service))
        http_error(response, 400, "service", "service must be the name of a configured service");
    if (index < 0)
        return false;
    const config_target *target = &app->store.config.targets[index];
    out->threshold = target->anomaly_threshold;
    if (!target->anomaly || !(out->detector = plugin_set_find(&app->plugins, HYDRA_KIND_ANOMALY, target->anomaly))) {
        http_error(response, 503, NULL, "service %s has no anomaly detector: set its `anomaly` in the config",
                   target->name);
        return false;
    }
    json_t *value = json_object_get(body, "value");
    if (value && !json_is_number(value)) {
        http_error(response, 400, "value", "value must be a number");
        return false;
    }
    if (value)
        json_object_set_new(body, "values", json_pack("[f]", json_number_value(value)));
    if (!read_series(body, app->store.config.tick_seconds, &out->posted, response))
        return false;
    size_t posted = out->posted.series.count;
    out->window = xcalloc(DETECT_HISTORY + posted, sizeof *out->window);
    double last_at = 0;
    pthread_mutex_lock(&app->lock);
    out->history = controller_history(app->controller, (size_t)index, out->window, DETECT_HISTORY, &last_at);
    pthread_mutex_unlock(&app->lock);
    memcpy(out->window + out->history, out->posted.values, posted * sizeof *out->window);
    return true;
}

static bool scoring_for_series(daemon_app *app, json_t *body, scoring *out, http_response *response)
{
    if (!(out->detector = plugin_chosen(app, body, "anomaly", HYDRA_KIND_ANOMALY, response)) ||
        !body_number(body, "threshold", 0, 1, 0.9, &out->threshold, response) ||
        !read_series(body, app->store.config.tick_seconds, &out->posted, response))
        return false;
    out->window = xmalloc(out->posted.series.count * sizeof *out->window);
    memcpy(out->window, out->posted.values, out->posted.series.count * sizeof *out->window);
    return true;
}

void api_handle_detect_anomaly(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    json_t *body = body_object(request, response);
    scoring s = {NULL, 0.9, {NULL, {0}}, NULL, 0};
    bool ready = body && (json_object_get(body, "service") ? scoring_for_service(app, request, body, &s, response)
                                                           : scoring_for_series(app, body, &s, response));
    if (ready) {
        size_t posted = s.posted.series.count, total = s.history + posted;
        double *scores = xcalloc(total, sizeof *scores);
        hydra_series series = {s.window, total, 0, s.posted.series.step};
        char reason[512];
        pthread_mutex_lock(&app->lock);
        int status = instance_score(s.detector, &series, scores);
        format_into(reason, sizeof reason, "%s", instance_error(s.detector));
        pthread_mutex_unlock(&app->lock);
        json_t *scored = json_array(), *flags = json_array();
        for (size_t i = s.history; status == 0 && i < total; i++) {
            json_array_append_new(scored, number_or_null(scores[i]));
            json_array_append_new(flags, json_boolean(scores[i] >= s.threshold));
        }
        if (status != 0)
            http_error(response, 422, "values", "detector %s cannot score this series: %s", instance_name(s.detector),
                       reason);
        else
            response->json = json_pack("{s:s, s:f, s:I, s:o, s:o}", "detector", instance_name(s.detector),
                                       "threshold", s.threshold, "history", (json_int_t)s.history, "scores", scored,
                                       "anomalous", flags);
        if (status != 0) {
            json_decref(scored);
            json_decref(flags);
        }
        free(scores);
    }
    free(s.posted.values);
    free(s.window);
    json_decref(body);
}

/* ## Pause and resume ------------------------------------------------------------------------------------------- */

/* Durable first: the store keeps the flag across restarts, then the controller obeys it; both under the lock, so
 * that two people pausing and resuming at once leave the store and the controller agreeing. */
static void set_paused(daemon_app *app, const http_request *request, http_response *response, bool paused)
{
    const char *name = request->params[0];
    long index = target_named(app, request, name, response);
    if (index < 0)
        return;
    double now = clock_now(&app->clock);
    hydra_service_record record = {request->caller->tenant, name, paused, now, request->caller->name};
    pthread_mutex_lock(&app->lock);
    int stored = app->store.ops->set_service_paused(app->store.state, &record);
    if (stored == 0)
        controller_set_paused(app->controller, (size_t)index, paused);
    pthread_mutex_unlock(&app->lock);
    if (stored != 0) {
        daemon_store_failed(app, response, paused ? "cannot pause" : "cannot resume");
        return;
    }
    hydra_audit_record audit = {request->caller->tenant, now, request->caller->name, paused ? "pause" : "resume",
                                name, NULL, request->request_id};
    app->store.ops->append_audit(app->store.state, &audit);
    log_info("service %s %s by %s", name, paused ? "paused" : "resumed", request->caller->name);
    response->json = json_pack("{s:s, s:b, s:s, s:f}", "service", name, "paused", paused, "by",
                               request->caller->name, "at", now);
}

void api_handle_pause(void *context, const http_request *request, http_response *response)
{
    set_paused(context, request, response, true);
}

void api_handle_resume(void *context, const http_request *request, http_response *response)
{
    set_paused(context, request, response, false);
}
