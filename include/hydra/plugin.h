/*
 * hydra plugin ABI — the only header a plugin includes.
 *
 * A plugin is a shared object that exports one function, hydra_plugin_entry(), returning a pointer to a static
 * descriptor. The host checks, in this order: the entry symbol, a non-NULL descriptor, the ABI version (equal to the
 * host's), the descriptor's size, a known kind, the configured kind, a unique (kind, name), and the mandatory ops.
 *
 * Ownership across the boundary:
 *   - arguments are borrowed for the duration of the call;
 *   - results go into storage the caller provides;
 *   - whoever allocates frees; a plugin's state is an opaque pointer from create() to destroy();
 *   - error text given to host->set_error() is copied by the host.
 * A plugin never exits the process and never calls host symbols directly: everything comes through hydra_host.
 *
 * Build: cc -fPIC -fvisibility=hidden -shared -Wl,-z,defs $(pkg-config --cflags --libs hydra) -o my.so my.c
 */
#ifndef HYDRA_PLUGIN_H
#define HYDRA_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to a struct below; the host accepts only its own version. */
#define HYDRA_ABI_VERSION 1u
#define HYDRA_PLUGIN_ENTRY_SYMBOL "hydra_plugin_entry"

#if defined(__GNUC__)
#define HYDRA_EXPORT __attribute__((visibility("default")))
#define HYDRA_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define HYDRA_EXPORT
#define HYDRA_PRINTF(fmt_index, first_arg)
#endif

typedef enum hydra_kind {
    HYDRA_KIND_FORECASTER = 1,
    HYDRA_KIND_ANOMALY = 2,
    HYDRA_KIND_NOTIFIER = 3,
    HYDRA_KIND_SCALER = 4,
    HYDRA_KIND_STORE = 5,
    HYDRA_KIND_SOURCE = 6,
} hydra_kind;

typedef enum hydra_log_level {
    HYDRA_LOG_DEBUG = 0,
    HYDRA_LOG_INFO = 1,
    HYDRA_LOG_WARN = 2,
    HYDRA_LOG_ERROR = 3,
} hydra_log_level;

typedef enum hydra_metric_type {
    HYDRA_METRIC_COUNTER = 1,
    HYDRA_METRIC_GAUGE = 2,
} hydra_metric_type;

struct lua_State;
typedef struct hydra_script hydra_script;
typedef struct hydra_host hydra_host;
typedef struct hydra_series hydra_series;
typedef struct hydra_forecast hydra_forecast;

/* ## Host API: one table per plugin instance, valid from create() until destroy() returns. */
struct hydra_host {
    uint32_t size; /* sizeof(hydra_host) as the host knows it */
    uint32_t abi_version;
    const char *instance; /* this instance's name from the config */

    /* Logging: the host prefixes the instance name; no trailing newline needed. */
    void (*log)(const hydra_host *host, hydra_log_level level, const char *fmt, ...) HYDRA_PRINTF(3, 4);
    /* Seconds since the Unix epoch on the controller's clock (virtual in the simulator). Never call time(). */
    double (*now)(const hydra_host *host);

    /* The instance's own settings. Return 0 and set *out when present, 1 when absent (out untouched, so
     * initialise it with the default), -1 when present with the wrong type (already reported, with file:line).
     * A setting no plugin reads is reported as unknown after create(). Strings are borrowed until destroy(). */
    int (*setting_string)(const hydra_host *host, const char *key, const char **out);
    int (*setting_int)(const hydra_host *host, const char *key, long long *out);
    int (*setting_double)(const hydra_host *host, const char *key, double *out);
    int (*setting_bool)(const hydra_host *host, const char *key, bool *out);
    /* Like setting_string, with a relative path resolved against the config file's folder. */
    int (*setting_path)(const hydra_host *host, const char *key, const char **out);

    /* Why the last call failed; the host copies the text and logs it once with the instance's name. */
    void (*set_error)(const hydra_host *host, const char *fmt, ...) HYDRA_PRINTF(2, 3);

    /* Metrics: register once (in create), then update. Returns a handle >= 0, or -1. */
    int (*metric_register)(const hydra_host *host, const char *name, const char *help, hydra_metric_type type);
    void (*metric_add)(const hydra_host *host, int metric, double delta);
    void (*metric_set)(const hydra_host *host, int metric, double value);

    /* Zeroed allocation; NULL when out of memory. Pair with host->free. */
    void *(*alloc)(const hydra_host *host, size_t bytes);
    void (*free)(const hydra_host *host, void *ptr);

    /* The host's sandboxed Lua runtime, for bridge plugins. script_open loads a text chunk from path into a fresh
     * sandbox (no io, os, package, debug; memory cap; instruction budget per call) and runs it. script_call calls
     * the function pushed below nargs arguments on script_state()'s stack with a fresh budget; on failure it
     * returns -1 and the error ("file:line: message" and a traceback) is set as this instance's error. */
    hydra_script *(*script_open)(const hydra_host *host, const char *path);
    struct lua_State *(*script_state)(hydra_script *script);
    int (*script_call)(hydra_script *script, int nargs, int nresults);
    void (*script_close)(hydra_script *script);

    /* Other forecasters of the same controller, for a forecaster built from others (an ensemble). forecaster_find
     * returns a handle to the instance of that name, valid until destroy(), or NULL with set_error (no such
     * forecaster, or the caller itself); forecaster_predict runs its predict() on borrowed history and the
     * caller's forecast arrays, with its error, when it fails, set as the caller's. Call find after create(), as
     * instances later in the config do not exist yet during it. */
    const void *(*forecaster_find)(const hydra_host *host, const char *instance);
    int (*forecaster_predict)(const hydra_host *host, const void *forecaster, const hydra_series *history,
                              hydra_forecast *out);

    void *host_private; /* the host's; do not touch */
    void *reserved[6];  /* room to grow without moving the fields above */
};

/* ## Data shared by several kinds */

/* An evenly spaced series; a missing sample is NAN. */
struct hydra_series {
    const double *values;
    size_t count;
    double start; /* Unix seconds of values[0] */
    double step;  /* seconds between two samples */
};

typedef struct hydra_sample {
    const char *service;
    const char *metric;
    double ts; /* Unix seconds */
    double value;
} hydra_sample;

/* Receives samples one at a time (borrowed for the call); a non-zero return stops the walk. */
typedef int (*hydra_sample_sink)(void *context, const hydra_sample *sample);

/* ## Forecaster */

#define HYDRA_FORECAST_MAX_COMPONENTS 8
#define HYDRA_COMPONENT_NAME_MAX 32

/* The caller allocates every array with `horizon` elements; the plugin fills them.
 * Step i (0-based) forecasts the time history.start + (history.count + i) * history.step. */
struct hydra_forecast {
    size_t horizon;
    double *mean;
    double *lower80, *upper80;
    double *lower95, *upper95;
    /* Optional explanation: the additive parts of the mean (level, trend, each season). */
    size_t component_count;
    char component_names[HYDRA_FORECAST_MAX_COMPONENTS][HYDRA_COMPONENT_NAME_MAX];
    double *components[HYDRA_FORECAST_MAX_COMPONENTS];
};

typedef struct hydra_forecaster_ops {
    uint32_t size; /* sizeof(hydra_forecaster_ops) */
    /* Mandatory. Returns 0, or -1 with set_error (e.g. history shorter than the model needs). */
    int (*predict)(void *state, const hydra_series *history, hydra_forecast *out);

    /* Optional streaming path, all four or none. The controller keeps one model per target and feeds it every new
     * sample, so a tick costs O(horizon) rather than O(history). model_open warms a model up on history (which may
     * be empty) and returns it, or NULL with set_error; model_observe takes the next sample, one step after the
     * last (NAN when missing); model_forecast forecasts from after the last observed step, like predict(). */
    void *(*model_open)(void *state, const hydra_series *history);
    int (*model_observe)(void *model, double value);
    int (*model_forecast)(void *model, hydra_forecast *out);
    void (*model_close)(void *model);

    /* Optional: what a model expects at time `at` and why, in words a person reads in a recommendation's reason
     * ("35 min before Imsak, night 27 of Ramadan"). Writes a NUL-terminated text (empty when there is nothing to
     * say beyond the numbers) and returns 0, or -1 with set_error. */
    int (*model_explain)(void *model, double at, char *text, size_t size);
    /* Ops added after the first release go here, at the end (the loader compares the table's size with the host's).
     *
     * Optional, both or neither, and only with the streaming ops: a fitted model as text, for the model registry.
     * model_save writes the model's whole state (fitted parameters included) into buffer as NUL-terminated text and
     * returns its length; when that is size or more, nothing usable was written and the caller asks again with a
     * buffer of length + 1. -1 with set_error when the model cannot be saved (not fitted yet). model_load makes a
     * model from such text, ready for model_observe and model_forecast as the saved one was; NULL with set_error
     * naming what is wrong when the text is not a state this plugin (with these settings) wrote. */
    long long (*model_save)(void *model, char *buffer, size_t size);
    void *(*model_load)(void *state, const char *text);
} hydra_forecaster_ops;

/* ## Anomaly detector */

typedef struct hydra_anomaly_ops {
    uint32_t size; /* sizeof(hydra_anomaly_ops) */
    /* Mandatory. scores[i] in [0, 1] for values[i], computed from values[0..i] only. scores has series->count
     * elements and is the caller's. */
    int (*score)(void *state, const hydra_series *series, double *scores);

    /* Optional streaming path, all three or none: one model per target, warmed up on history (may be empty);
     * model_score scores the next sample against what came before, then takes it in. */
    void *(*model_open)(void *state, const hydra_series *history);
    int (*model_score)(void *model, double value, double *score);
    void (*model_close)(void *model);
} hydra_anomaly_ops;

/* ## Notifier */

typedef enum hydra_event {
    HYDRA_EVENT_RECOMMENDATION_PENDING = 1,
    HYDRA_EVENT_RECOMMENDATION_APPROVED = 2,
    HYDRA_EVENT_RECOMMENDATION_REJECTED = 3,
    HYDRA_EVENT_RECOMMENDATION_EXPIRED = 4,
    HYDRA_EVENT_RECOMMENDATION_EXECUTED = 5,
    HYDRA_EVENT_RECOMMENDATION_FAILED = 6,
    HYDRA_EVENT_ALERT = 7,
} hydra_event;

/* Every string may be NULL when it does not apply. */
typedef struct hydra_notification {
    hydra_event event;
    double at;                 /* Unix seconds */
    const char *id;            /* recommendation or alert id */
    const char *target;        /* service */
    int from_replicas;
    int to_replicas;
    double forecast_peak;
    const char *summary;       /* one line a person reads first */
    const char *reason;        /* why, in words */
    const char *decided_by;
    const char *approve_url;
    const char *reject_url;
} hydra_notification;

typedef struct hydra_notifier_ops {
    uint32_t size; /* sizeof(hydra_notifier_ops) */
    int (*notify)(void *state, const hydra_notification *notification); /* mandatory */
} hydra_notifier_ops;

/* ## Scaler */

typedef struct hydra_scale_status {
    int desired; /* replicas the target is asked to run */
    int ready;   /* replicas serving now */
    bool paused; /* the workload asks not to be scaled */
} hydra_scale_status;

typedef struct hydra_scale_request {
    const char *target;
    int replicas;
    const char *recommendation_id;
    const char *decided_by;
    const char *reason;
} hydra_scale_request;

typedef struct hydra_scaler_ops {
    uint32_t size; /* sizeof(hydra_scaler_ops) */
    int (*status)(void *state, const char *target, hydra_scale_status *out);                  /* mandatory */
    int (*scale)(void *state, const hydra_scale_request *request, hydra_scale_status *out);   /* mandatory */
} hydra_scaler_ops;

/* ## Store
 *
 * Everything the daemon keeps. Every row belongs to a tenant. Strings in records are borrowed for the call when
 * passed in, and valid only during the visitor's call when handed out. Times are Unix seconds. All write ops are
 * atomic and durable when they return 0; on -1 nothing was written (set_error says why; when the database is
 * unreachable the error starts with "unavailable:" so the API can answer 503). */

/* Called once per sample in time order; a non-zero return stops the walk. */
typedef int (*hydra_sample_visitor)(void *context, double ts, double value);

typedef struct hydra_recommendation_record {
    const char *tenant;
    const char *id;
    const char *target;
    const char *state; /* pending, approved, rejected, expired, executing, executed, failed */
    int from_replicas;
    int to_replicas;
    int asked;          /* 1 when it waited for a person */
    double forecast_peak;
    double forecast_peak_at;
    double created_at, expires_at, decided_at, finished_at; /* 0 when not yet */
    const char *reason;
    const char *decided_by;
    const char *decision_reason;
    const char *result;
} hydra_recommendation_record;

/* One change of state: who, when, why. from_state equals to_state for the creation. */
typedef struct hydra_recommendation_event {
    const char *tenant;
    const char *recommendation_id;
    const char *from_state;
    const char *to_state;
    double at;
    const char *by;
    const char *why;
} hydra_recommendation_event;

typedef struct hydra_api_key_record {
    const char *tenant;
    const char *name;
    const char *hash;   /* hex SHA-256 of the secret; the secret itself is never stored */
    const char *scopes; /* comma-separated: ingest, read, approve, admin */
    double created_at;
    double revoked_at;  /* 0 while valid */
} hydra_api_key_record;

typedef struct hydra_audit_record {
    const char *tenant;
    double at;
    const char *actor;      /* key name, "controller", "cli" */
    const char *action;     /* "approve", "reject", "ingest", "keys.create", ... */
    const char *subject;    /* what it was done to */
    const char *detail;
    const char *request_id;
} hydra_audit_record;

typedef struct hydra_alert_record {
    const char *tenant;
    const char *id;
    const char *service;
    const char *metric;
    double at;
    double score;
    const char *message;
} hydra_alert_record;

/* One time bucket of one series, as aggregate_samples hands it out. */
typedef struct hydra_sample_bucket {
    double start;  /* Unix seconds; buckets are aligned to the epoch: start = floor(ts / width) * width */
    long long count;
    double mean, min, max;
    double p95;    /* nearest rank: the value at rank ceil(0.95 x count) in ascending order */
} hydra_sample_bucket;

/* A service of a tenant and whether a person paused it (the controller then executes nothing for it). */
typedef struct hydra_service_record {
    const char *tenant;
    const char *name;
    int paused;           /* 1 while paused */
    double paused_at;     /* 0 while not paused */
    const char *paused_by;
} hydra_service_record;

typedef int (*hydra_recommendation_visitor)(void *context, const hydra_recommendation_record *record);
typedef int (*hydra_event_visitor)(void *context, const hydra_recommendation_event *event);
typedef int (*hydra_api_key_visitor)(void *context, const hydra_api_key_record *record);
typedef int (*hydra_alert_visitor)(void *context, const hydra_alert_record *record);
typedef int (*hydra_bucket_visitor)(void *context, const hydra_sample_bucket *bucket);
typedef int (*hydra_service_visitor)(void *context, const hydra_service_record *record);
typedef int (*hydra_audit_visitor)(void *context, const hydra_audit_record *record);

/* One saved version of a fitted model: the model registry keeps every version, one of them active. */
typedef struct hydra_model_record {
    const char *tenant;
    const char *service;
    const char *model;       /* the forecaster instance's name */
    long long version;       /* 1, 2, ... per (tenant, service, model), given by put_model_version */
    int active;              /* 1 for the one version the controller uses */
    const char *state;       /* the forecaster's model_save text */
    const char *checksum;    /* hex SHA-256 of state, computed by the host when it saved it */
    double trained_from;     /* the training window, Unix seconds */
    double trained_to;
    const char *metrics;     /* a JSON object as text (holdout scores, ...); may be NULL */
    double created_at;
    const char *note;        /* why this version exists: "first fit", "drift: PSI 0.41 ...", "refused: ..." */
} hydra_model_record;

typedef int (*hydra_model_visitor)(void *context, const hydra_model_record *record);

typedef struct hydra_store_ops {
    uint32_t size; /* sizeof(hydra_store_ops) */
    /* Mandatory. Applies the migrations this build knows that the database lacks, each recorded in a table;
     * refuses (-1) a database whose schema is newer than this build. Sets *version to the schema version. */
    int (*migrate)(void *state, int *version);
    /* Mandatory. Appends samples. With an idempotency key, a replay of the key writes nothing and returns 1 with
     * the first call's response copied into response (response_size bytes); the first call stores `response`
     * with the samples, atomically. */
    int (*append_samples)(void *state, const char *tenant, const hydra_sample *samples, size_t count,
                          const char *idempotency_key, char *response, size_t response_size);
    /* Mandatory. Samples of one service and metric with from <= ts < to, in time order. */
    int (*query_samples)(void *state, const char *tenant, const char *service, const char *metric, double from,
                         double to, hydra_sample_visitor visit, void *context);
    /* Mandatory. Creates or updates a recommendation and appends the event that changed it, in one transaction.
     * With expected_state set, the update happens only if the stored state is still that one; otherwise it
     * returns 1 and writes nothing (two people cannot both decide). */
    int (*save_recommendation)(void *state, const hydra_recommendation_record *record,
                               const hydra_recommendation_event *event, const char *expected_state);
    /* Mandatory. Recommendations of a tenant, newest first; state NULL for any; at most limit (0: no limit). */
    int (*list_recommendations)(void *state, const char *tenant, const char *state_filter, size_t limit,
                                hydra_recommendation_visitor visit, void *context);
    /* Mandatory. One recommendation (returns 1 when there is none) and its events, oldest first. */
    int (*get_recommendation)(void *state, const char *tenant, const char *id, hydra_recommendation_visitor visit,
                              hydra_event_visitor visit_event, void *context);
    /* Mandatory. API keys: add one, find a valid one by its hash (1 when none), list a tenant's, revoke by name. */
    int (*put_api_key)(void *state, const hydra_api_key_record *record);
    int (*find_api_key)(void *state, const char *hash, hydra_api_key_visitor visit, void *context);
    int (*list_api_keys)(void *state, const char *tenant, hydra_api_key_visitor visit, void *context);
    int (*revoke_api_key)(void *state, const char *tenant, const char *name, double at);
    /* Mandatory. Appends to the audit log. */
    int (*append_audit)(void *state, const hydra_audit_record *record);
    /* Mandatory. Alerts: record one; list a tenant's since a time, newest first. */
    int (*put_alert)(void *state, const hydra_alert_record *record);
    int (*list_alerts)(void *state, const char *tenant, double since, hydra_alert_visitor visit, void *context);
    /* Mandatory. 0 when the database answers now. */
    int (*health)(void *state);

    /* Ops added after the first release go here, at the end: the loader compares the table's size with the host's,
     * so a store built against the shorter table is refused with a message to rebuild it, never misread. */

    /* Mandatory. Every sample of a tenant with ts >= since, ordered by service, metric and time (hydra export). */
    int (*export_samples)(void *state, const char *tenant, double since, hydra_sample_sink visit, void *context);
    /* Optional, both or neither (hydra backup and restore). backup writes a consistent copy of the whole database
     * to the file at path while the store stays in use; restore replaces the whole database with such a copy.
     * The host runs migrate after a restore. */
    int (*backup)(void *state, const char *path);
    int (*restore)(void *state, const char *path);
    /* Mandatory. Aggregates of one service and metric over from <= ts < to, one per bucket of bucket_seconds
     * (aligned to the epoch; buckets without samples are skipped), oldest first. Computed by the database. */
    int (*aggregate_samples)(void *state, const char *tenant, const char *service, const char *metric, double from,
                             double to, double bucket_seconds, hydra_bucket_visitor visit, void *context);
    /* Mandatory. Pauses (record->paused 1, with paused_at and paused_by) or resumes (0) a service, creating it when
     * it is new; list_services walks a tenant's services by name. */
    int (*set_service_paused)(void *state, const hydra_service_record *record);
    int (*list_services)(void *state, const char *tenant, hydra_service_visitor visit, void *context);
    /* Mandatory. Leadership among replicas sharing the database: one of them runs the controller. leader_hold takes
     * the lock called name when it is free, or confirms that this instance still holds it: 0 when it holds it now,
     * 1 when another holds it, -1 when the store cannot tell (set_error says why) — the instance then no longer
     * holds it and the caller must act as a follower. The lock goes with the instance: released by leader_release,
     * by destroy, and when the process dies (so a follower can take over without waiting for a lease to run out).
     * Called again every few seconds; each call is cheap (one round trip at most). */
    int (*leader_hold)(void *state, const char *name);
    int (*leader_release)(void *state, const char *name);
    /* Mandatory. A tenant's audit log, newest first, at most limit entries (the dashboard's audit page). */
    int (*list_audit)(void *state, const char *tenant, size_t limit, hydra_audit_visitor visit, void *context);
    /* Mandatory. The model registry. put_model_version saves a new version numbered one above the highest of its
     * (tenant, service, model), sets *version to it and, when record->active, makes it the only active one, all
     * atomically (record->version is ignored). activate_model_version makes a stored version the only active one
     * (1 when there is no such version). get_model_version hands out one version, the active one when version is 0
     * (1 when there is none). list_model_versions walks a service's versions of every model (or of one when model
     * is not NULL) by model, newest version first. */
    int (*put_model_version)(void *state, const hydra_model_record *record, long long *version);
    int (*activate_model_version)(void *state, const char *tenant, const char *service, const char *model,
                                  long long version);
    int (*get_model_version)(void *state, const char *tenant, const char *service, const char *model,
                             long long version, hydra_model_visitor visit, void *context);
    int (*list_model_versions)(void *state, const char *tenant, const char *service, const char *model,
                               hydra_model_visitor visit, void *context);
} hydra_store_ops;

/* ## Source */

typedef struct hydra_source_ops {
    uint32_t size; /* sizeof(hydra_source_ops) */
    /* Mandatory. Emits the samples of service/metric over [from, to) at the given step. */
    int (*pull)(void *state, const char *service, const char *metric, double from, double to, double step,
                hydra_sample_sink emit, void *context);
} hydra_source_ops;

/* ## Descriptor */

typedef struct hydra_plugin_descriptor {
    uint32_t size;        /* sizeof(hydra_plugin_descriptor) */
    uint32_t abi_version; /* HYDRA_ABI_VERSION */
    uint32_t kind;        /* a hydra_kind */
    const char *name;     /* [a-z0-9_]+, unique per kind */
    const char *version;
    const char *description; /* one line */
    /* create() returns the instance's state, or NULL after host->set_error(). */
    void *(*create)(const hydra_host *host);
    void (*destroy)(void *state);
    const void *ops; /* the kind's ops table; its first field is its own size */
    void *reserved[4];
} hydra_plugin_descriptor;

typedef const hydra_plugin_descriptor *(*hydra_plugin_entry_fn)(void);

/* Defines the exported entry function: HYDRA_PLUGIN(my_descriptor) */
#define HYDRA_PLUGIN(descriptor)                                                                                   \
    HYDRA_EXPORT const hydra_plugin_descriptor *hydra_plugin_entry(void);                                          \
    const hydra_plugin_descriptor *hydra_plugin_entry(void) { return &(descriptor); }

#ifdef __cplusplus
}
#endif

#endif
