/* The routes the dashboard needs beyond the data routes: who the key is (session), the pushed events, the prayer
 * time calendar it shades, the audit log, simulation reports, and the page's own files. The README's "HTTP API"
 * section gives the shapes. */
#include "daemon_app.h"

#include "log.h"
#include "record_json.h"
#include "util.h"
#include "web_static.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CLOCK_EVENT_SECONDS 2.0 /* wall seconds between clock events */
#define KEY_RECHECK_SECONDS 5.0 /* wall seconds between checks that the streams' keys are still valid */

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

/* A stream outlives the request that opened it: a key revoked since then must not keep listening. */
static bool key_still_valid(void *context, const char *key_hash)
{
    return daemon_key_valid(context, key_hash);
}

void dashboard_heartbeat(daemon_app *app)
{
    double now = clock_monotonic();
    if (now - app->clock_published >= CLOCK_EVENT_SECONDS) {
        app->clock_published = now;
        publish_clock(app);
    }
    if (now - app->keys_checked >= KEY_RECHECK_SECONDS) {
        app->keys_checked = now;
        events_drop_revoked(app->events, key_still_valid, app);
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

/* ## Calendar: prayer times and Hijri dates for the bands the page shades ------------------------------------- */

#define CALENDAR_MAX_DAYS 400

static json_t *calendar_day_json(const calendar_location *loc, long local_day)
{
    time_t midnight = (time_t)(local_day * 86400);
    struct tm date;
    gmtime_r(&midnight, &date);
    calendar_day_times times;
    if (calendar_prayer_times(loc, date.tm_year + 1900, date.tm_mon + 1, date.tm_mday, &times) != 0)
        return NULL;
    double noon = (double)local_day * 86400 + 12 * 3600 - loc->utc_offset_hours * 3600;
    calendar_hijri hijri = {0, 0, 0};
    calendar_hijri_from_unix(noon, loc, &hijri);
    int ramadan_day = calendar_ramadan_day(noon, loc);
    char day[16], hijri_text[16];
    format_into(day, sizeof day, "%04d-%02d-%02d", date.tm_year + 1900, date.tm_mon + 1, date.tm_mday);
    format_into(hijri_text, sizeof hijri_text, "%04d-%02d-%02d", hijri.year, hijri.month, hijri.day);
    return json_pack("{s:s, s:s, s:o, s:f, s:f, s:f, s:f, s:f}", "date", day, "hijri", hijri_text, "ramadan_day",
                     ramadan_day > 0 ? json_integer(ramadan_day) : json_null(), "fajr", times.fajr, "imsak",
                     times.imsak, "sunrise", times.sunrise, "maghrib", times.maghrib, "isha", times.isha);
}

static bool query_seconds(const http_request *request, const char *name, double fallback, double *out,
                          http_response *response)
{
    const char *text = http_query(request, name);
    char *end = NULL;
    *out = text ? strtod(text, &end) : fallback;
    if (text && (end == text || *end || !isfinite(*out) || *out < 0)) {
        http_error(response, 400, name, "%s must be Unix seconds (a number), found '%s'", name, text);
        return false;
    }
    return true;
}

void dashboard_handle_calendar(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    const hydra_config *config = &app->store.config;
    if (!config->has_location) {
        http_error(response, 404, NULL, "no location is configured: set location = { latitude; longitude; "
                   "utc_offset; method; } in the config (a live demo takes its scenario's)");
        return;
    }
    const calendar_location *loc = &config->location;
    double now = clock_now(&app->clock), from, to;
    if (!query_seconds(request, "from", now - 86400, &from, response) ||
        !query_seconds(request, "to", now + 2 * 86400, &to, response))
        return;
    double offset = loc->utc_offset_hours * 3600;
    long first = (long)floor((from + offset) / 86400), last = (long)floor((to + offset) / 86400);
    if (last < first || last - first >= CALENDAR_MAX_DAYS) {
        http_error(response, 400, "to", "to must be after from, at most %d days later", CALENDAR_MAX_DAYS);
        return;
    }
    json_t *days = json_array();
    for (long day = first; day <= last; day++) {
        json_t *entry = calendar_day_json(loc, day);
        if (entry)
            json_array_append_new(days, entry);
    }
    char zone[16];
    double hours = fabs(loc->utc_offset_hours);
    format_into(zone, sizeof zone, "UTC%c%02d:%02d", loc->utc_offset_hours < 0 ? '-' : '+', (int)hours,
                (int)round((hours - floor(hours)) * 60));
    response->json = json_pack("{s:{s:f, s:f, s:s, s:f}, s:o}", "location", "latitude", loc->latitude, "longitude",
                               loc->longitude, "timezone", zone, "utc_offset", loc->utc_offset_hours, "days", days);
}

/* ## The audit log --------------------------------------------------------------------------------------------- */

#define AUDIT_DEFAULT 100
#define AUDIT_MAX 1000

static json_t *text_or_null(const char *text) { return text ? json_string(text) : json_null(); }

static int append_audit_entry(void *context, const hydra_audit_record *r)
{
    json_array_append_new(context, json_pack("{s:f, s:s, s:s, s:o, s:o, s:o}", "at", r->at, "actor", r->actor,
                                             "action", r->action, "subject", text_or_null(r->subject), "detail",
                                             text_or_null(r->detail), "request_id", text_or_null(r->request_id)));
    return 0;
}

void dashboard_handle_audit(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    const char *text = http_query(request, "limit");
    char *end = NULL;
    long limit = text ? strtol(text, &end, 10) : AUDIT_DEFAULT;
    if (text && (end == text || *end || limit < 1 || limit > AUDIT_MAX)) {
        http_error(response, 400, "limit", "limit must be a whole number from 1 to %d", AUDIT_MAX);
        return;
    }
    json_t *entries = json_array();
    if (app->store.ops->list_audit(app->store.state, request->caller->tenant, (size_t)limit, append_audit_entry,
                                   entries) != 0) {
        json_decref(entries);
        daemon_store_failed(app, response, "cannot read the audit log");
        return;
    }
    response->json = json_pack("{s:o}", "entries", entries);
}

/* ## Simulation reports: the JSON `hydra simulate --json` (and --compare) writes, from reports_dir ------------- */

#define REPORTS_MAX 200

/* A report's name: what its file is called without .json; letters, digits, '-', '_' and '.', not leading '.'. */
static bool report_name_valid(const char *name)
{
    size_t length = strlen(name);
    bool valid = length > 0 && length <= 128 && name[0] != '.';
    for (const char *c = name; valid && *c; c++)
        valid = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                *c == '_' || *c == '.';
    return valid;
}

static json_t *report_load(const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s.json", dir, name);
    json_error_t ignored;
    json_t *report = json_load_file(path, 0, &ignored);
    free(path);
    if (!json_is_object(report)) {
        json_decref(report);
        return NULL;
    }
    return report;
}

static json_t *report_entry(const char *dir, const char *file)
{
    char name[160];
    format_into(name, sizeof name, "%.*s", (int)(strlen(file) - 5), file);
    json_t *report = report_name_valid(name) ? report_load(dir, name) : NULL;
    if (!report)
        return NULL;
    char *path = xasprintf("%s/%s", dir, file);
    struct stat info;
    double created = stat(path, &info) == 0 ? (double)info.st_mtim.tv_sec : 0;
    free(path);
    const char *kind = json_is_array(json_object_get(report, "runs")) ? "comparison" : "simulation";
    json_t *scenario = json_object_get(report, "scenario");
    json_t *entry = json_pack("{s:s, s:s, s:f, s:O}", "name", name, "kind", kind, "created_at", created, "scenario",
                              json_is_string(scenario) ? scenario : json_null());
    json_decref(report);
    return entry;
}

static int newest_first(const void *a, const void *b)
{
    double x = json_real_value(json_object_get(*(json_t *const *)a, "created_at"));
    double y = json_real_value(json_object_get(*(json_t *const *)b, "created_at"));
    return (x < y) - (x > y);
}

void dashboard_handle_reports(void *context, const http_request *request, http_response *response)
{
    (void)request;
    daemon_app *app = context;
    const char *dir = app->store.config.reports_dir;
    json_t *found[REPORTS_MAX];
    size_t count = 0;
    DIR *folder = dir ? opendir(dir) : NULL;
    for (struct dirent *file; folder && count < REPORTS_MAX && (file = readdir(folder));) {
        json_t *entry = text_ends_with(file->d_name, ".json") ? report_entry(dir, file->d_name) : NULL;
        if (entry)
            found[count++] = entry;
    }
    if (folder)
        closedir(folder);
    qsort(found, count, sizeof *found, newest_first);
    json_t *reports = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(reports, found[i]);
    response->json = json_pack("{s:o, s:o}", "reports", reports, "reports_dir", text_or_null(dir));
}

void dashboard_handle_report(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    const char *dir = app->store.config.reports_dir, *name = request->params[0];
    json_t *report = dir && report_name_valid(name) ? report_load(dir, name) : NULL;
    if (!report)
        http_error(response, 404, NULL, "no report %s%s", name, dir ? "" : " (no reports_dir is configured)");
    response->json = report ? report : response->json;
}
