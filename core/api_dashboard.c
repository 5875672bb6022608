/* The routes the dashboard needs beyond the data routes: who the key is (session), the pushed events, the prayer
 * time calendar it shades, the audit log, simulation reports, and the page's own files. See
 * docs/dashboard-contract.md for the shapes. */
#include "daemon_app.h"

#include "log.h"
#include "record_json.h"
#include "util.h"
#include "web_static.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CLOCK_EVENT_SECONDS 2.0 /* wall seconds between clock events */

static json_t *number_or_null(double value) { return isfinite(value) ? json_real(value) : json_null(); }

/* ## Session and events ----------------------------------------------------------------------------------------- */

void dashboard_handle_session(void *context, const http_request *request, http_response *response)
{
    (void)context;
    static const struct {
        unsigned bit;
        const char *name;
    } scopes[] = {{SCOPE_INGEST, "ingest"}, {SCOPE_READ, "read"}, {SCOPE_APPROVE, "approve"}, {SCOPE_ADMIN, "admin"}};
    json_t *names = json_array();
    for (size_t i = 0; i < ARRAY_LEN(scopes); i++)
        if (request->caller->scopes & scopes[i].bit)
            json_array_append_new(names, json_string(scopes[i].name));
    response->json = json_pack("{s:s, s:s, s:o}", "tenant", request->caller->tenant, "key", request->caller->name,
                               "scopes", names);
}

void dashboard_handle_events(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    if (!daemon_serves_caller(app, request)) {
        http_error(response, 404, NULL, "no services of tenant %s here, so no events", request->caller->tenant);
        return;
    }
    events_subscribe(app->events, request, response);
}

static void publish_clock(daemon_app *app)
{
    events_publish(app->events, "clock", json_pack("{s:f, s:f}", "now", clock_now(&app->clock), "speed",
                                                   app->live ? app->clock_speed : 1.0));
}

void dashboard_heartbeat(daemon_app *app)
{
    double now = clock_monotonic();
    if (now - app->clock_published >= CLOCK_EVENT_SECONDS) {
        app->clock_published = now;
        publish_clock(app);
    }
    events_keepalive(app->events);
}

/* ## Tick events ---------------------------------------------------------------------------------------------- */

static json_t *forecast_json(daemon_app *app, size_t target)
{
    const hydra_config *config = &app->store.config;
    double steps = ceil(config->horizon_seconds / config->tick_seconds);
    size_t horizon = steps < 1 ? 1 : steps > 1440 ? 1440 : (size_t)steps;
    double *block = xcalloc(5 * horizon, sizeof *block);
    hydra_forecast f = {horizon, block, block + horizon, block + 2 * horizon, block + 3 * horizon, block + 4 * horizon,
                        0, {{0}}, {0}};
    double first_at = NAN;
    json_t *out = json_null();
    if (controller_forecast(app->controller, target, &f, &first_at) == 0 && isfinite(first_at)) {
        json_t *bands[5] = {json_array(), json_array(), json_array(), json_array(), json_array()};
        const double *values[5] = {f.mean, f.lower80, f.upper80, f.lower95, f.upper95};
        for (size_t b = 0; b < 5; b++)
            for (size_t i = 0; i < horizon; i++)
                json_array_append_new(bands[b], number_or_null(values[b][i]));
        json_decref(out);
        out = json_pack("{s:f, s:f, s:o, s:o, s:o, s:o, s:o}", "start", first_at, "step", config->tick_seconds, "mean",
                        bands[0], "lower80", bands[1], "upper80", bands[2], "lower95", bands[3], "upper95", bands[4]);
    }
    free(block);
    return out;
}

void dashboard_publish_ticks(daemon_app *app, double now)
{
    if (events_subscriber_count(app->events) == 0)
        return;
    for (size_t i = 0; i < controller_target_count(app->controller); i++) {
        controller_view view;
        controller_view_target(app->controller, i, &view);
        const config_target *target = &app->store.config.targets[i];
        json_t *tick = json_pack("{s:s, s:f, s:o, s:i, s:i, s:f, s:o, s:o}", "service", view.name, "at", now,
                                 "demand", number_or_null(view.load), "ready_replicas", view.ready,
                                 "desired_replicas", view.desired, "capacity",
                                 view.ready * target->capacity_per_replica, "forecast", forecast_json(app, i),
                                 "anomaly_score", number_or_null(view.anomaly_score));
        events_publish(app->events, "tick", tick);
    }
}

/* ## The page's files ------------------------------------------------------------------------------------------ */

void dashboard_handle_static(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    web_static_serve(app->web_root, request, response);
}
