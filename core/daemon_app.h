/* What hydra serve holds while it runs, shared by daemon.c (set-up, the loop, ingest, recommendations, keys) and
 * api.c (the data routes: live metrics, trends, alerts, forecasts, predict, detect_anomaly, pause and resume). */
#ifndef HYDRA_DAEMON_APP_H
#define HYDRA_DAEMON_APP_H

#include "clock.h"
#include "controller.h"
#include "daemon.h"
#include "events.h"
#include "http.h"
#include "keys.h"
#include "links.h"
#include "plugin_set.h"
#include "policy.h"

#include <pthread.h>
#include <stdatomic.h>

#define KEY_CACHE_SLOTS 64
#define KEY_CACHE_SECONDS 2.0 /* how long a revoked key may still be taken */

/* A key found in the store, kept briefly: under load every request's lookup waited for the store's connection. */
typedef struct cached_key {
    char hash[KEYS_HASH_HEX];
    http_caller caller;
    double until;
} cached_key;

typedef struct daemon_app {
    store_handle store;
    hydra_clock clock;
    plugin_set plugins;
    policy *policy;
    controller *controller;
    pthread_mutex_t lock; /* the controller and the plugins are single-threaded: HTTP threads and the loop take turns */
    http_server *http;
    bool store_down; /* the last look found the store unreachable; guarded by lock */
    pthread_mutex_t key_cache_lock;
    cached_key key_cache[KEY_CACHE_SLOTS];
    double *pulled_until; /* per target with a source: the newest sample it gave (or the store held) */
    bool *pull_failing;   /* per target: logged once when pulling starts failing, once when it recovers */
    double *seen_until;   /* per target: the newest sample the controller took, whichever replica stored it */
    /* Replicas sharing a store: each serves the API, only the leader ticks, pulls and executes. */
    atomic_bool leader;
    char leader_lock[160];   /* the lock's name in the store: "tenant NAME" */
    double leader_since;     /* when this replica became the leader; guarded by lock */
    bool controller_led;     /* the controller has decided things as leader: rebuilt before it leads again */
    bool leader_unknown;     /* the store could not say who leads: logged once */
    link_signer links;       /* signs the approve and reject links notifications carry */
    events_hub *events;   /* what GET /api/v1/events pushes to the dashboard */
    char *web_root;       /* the dashboard's files */
    double clock_published; /* monotonic seconds of the last clock event */
    double keys_checked;    /* monotonic seconds of the last check of the event streams' keys */
    struct live_demo *live; /* hydra serve --scenario: the scenario, its cluster, the pace; NULL otherwise */
    double clock_speed;     /* simulated seconds per wall second in a live demo */
    struct models_registry *models; /* the model lifecycle (core/models.c); guarded by lock */
} daemon_app;

/* The store's failure as an HTTP answer: 503 (with Retry-After) when the database cannot be reached, else 500. */
void daemon_store_failed(daemon_app *app, http_response *response, const char *what);
/* The configured targets belong to the config's tenant: a key of another tenant sees none of them. */
bool daemon_serves_caller(const daemon_app *app, const http_request *request);

/* Records a person's decision on a pending recommendation as a compare-and-set in the store (the leader then acts
 * on it): returns the HTTP status (200, 404, 409, or 503/500 when the store cannot record it), with the state the
 * recommendation is in afterwards. Takes the lock; audits what it recorded. */
int daemon_decide(daemon_app *app, const char *id, bool approve, const char *by, const char *why,
                  const char *request_id, char *state, size_t state_size);

/* One recommendation as the store has it now: 0, 1 when there is none, -1 when the store failed. */
int daemon_read_recommendation(daemon_app *app, const char *id, recommendation *out);

void api_handle_link(void *app, const http_request *request, http_response *response);
void api_handle_live_metrics(void *app, const http_request *request, http_response *response);
void api_handle_trends(void *app, const http_request *request, http_response *response);
void api_handle_alerts(void *app, const http_request *request, http_response *response);
void api_handle_forecast(void *app, const http_request *request, http_response *response);
void api_handle_predict(void *app, const http_request *request, http_response *response);
void api_handle_detect_anomaly(void *app, const http_request *request, http_response *response);
void api_handle_pause(void *app, const http_request *request, http_response *response);
void api_handle_resume(void *app, const http_request *request, http_response *response);

/* What POST /api/v1/ingest/metrics does with a valid batch: stored (all or none; a replay of idempotency_key
 * writes nothing, returns 1 and copies the first answer into response), then fed to the controller when it is the
 * configured tenant's. The store's status: 0, 1, or -1 (instance_error says why). */
int daemon_ingest(daemon_app *app, const char *tenant, const hydra_sample *samples, size_t count,
                  const char *idempotency_key, char *response, size_t response_size);
/* The samples of a batch into the controller (taking the lock), then each target they touched evaluated once. */
void daemon_feed_controller(daemon_app *app, const hydra_sample *samples, size_t count);
/* For each target with a source: asks it for what came since the last pull, stores that, and feeds the controller,
 * as if it had been pushed to the ingest route. Called by the loop before each tick, without the lock. */
void daemon_pull_sources(daemon_app *app, double now);

/* The JSON of GET /api/v1/recommendations/{id}: the record and its events from the store; NULL when it has none,
 * *status then -1 (the store failed) or 1 (no such recommendation). */
json_t *daemon_recommendation_json(daemon_app *app, const char *tenant, const char *id, int *status);

/* The key whose hash this is exists and is not revoked; a store that cannot say counts as yes (it is checked again). */
bool daemon_key_valid(daemon_app *app, const char *key_hash);

/* ## The dashboard's routes and pushes (api_dashboard.c) */
void dashboard_handle_session(void *app, const http_request *request, http_response *response);
void dashboard_handle_events(void *app, const http_request *request, http_response *response);
void dashboard_handle_calendar(void *app, const http_request *request, http_response *response);
void dashboard_handle_audit(void *app, const http_request *request, http_response *response);
void dashboard_handle_reports(void *app, const http_request *request, http_response *response);
void dashboard_handle_report(void *app, const http_request *request, http_response *response);
void dashboard_handle_static(void *app, const http_request *request, http_response *response);
/* A tick event per target after the controller ticked (app->lock held); nothing when nobody listens. */
void dashboard_publish_ticks(daemon_app *app, double now);
/* Called every pass of the loop: the clock event every few seconds, keepalives. */
void dashboard_heartbeat(daemon_app *app);

/* Stores an alert for an anomaly episode the controller reports (the controller's alert listener). */
void api_store_alert(void *app, const controller_alert *alert);
/* Tells every configured notifier (each logs its own failure). */
void api_notify(daemon_app *app, const hydra_notification *notification);

#endif
