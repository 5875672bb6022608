/* The libconfig file: plugins to load and their settings, targets, policy script, clock. Unknown settings are
 * errors; every error names file:line and the setting. Relative paths resolve against the config file's folder. */
#ifndef HYDRA_CONFIG_H
#define HYDRA_CONFIG_H

#include "calendar.h"
#include "clock.h"

#include <hydra/plugin.h>
#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct config_plugin {
    int kind;
    char *name;               /* the plugin's name, e.g. "holt_winters" */
    char *instance;           /* how targets refer to it; defaults to name; unique per kind */
    char *file;               /* resolved .so path */
    config_setting_t *settings; /* owned by the config; may be NULL */
    int line;
} config_plugin;

typedef struct config_target {
    char *name;
    char *metric;
    char *forecaster; /* instance names */
    char *anomaly;    /* NULL: no anomaly detection */
    char *scaler;
    char *source;     /* NULL: samples are pushed to the API; else the daemon pulls them from this source */
    int min_replicas;
    int max_replicas;
    int max_step;                /* largest change in one action; 0 = no limit */
    double capacity_per_replica; /* metric units one replica serves at its SLO */
    double cold_start_seconds;   /* from scale request to ready */
    double headroom;             /* fraction above the forecast peak to provision */
    double tolerance;            /* relative change below which nothing is recommended */
    double stabilization_seconds; /* how long lower demand must last before scaling down */
    int forecast_bound;          /* what the planner sizes for: 0 the mean, 80 or 95 the upper bound of that interval */
    bool predictive;             /* false: size for the load seen now only (a reactive autoscaler, for comparison) */
    double anomaly_threshold;    /* a score at or above it flags the sample as anomalous */
    double anomaly_hold_seconds; /* how long a flagged anomaly blocks scale-downs */
    double spike_factor;         /* a demand alert when the forecast goes above this x the last hour; 0: none */
    double decline_factor;       /* ... or below this x the last hour; 0: none */
    bool dry_run;                /* recommend, never execute (the config's dry_run unless the target sets its own) */
    int line;
} config_target;

/* The model lifecycle (the `models` group): the registry, live accuracy, drift and refits. */
typedef struct models_config {
    bool registry;                  /* save fitted models in the store, load the active version at start */
    double accuracy_window_seconds; /* live accuracy is over the forecasts compared within this */
    double max_mape;                /* past it (a share: 0.5 is 50 %) forecasts are not acted on; 0: no bound */
    double max_mase;                /* the same for MASE; 0: no bound */
    int accuracy_min_compared;      /* forecasts compared before accuracy is judged */
    double refit_every_seconds;     /* scheduled refits; 0: none */
    double drift_check_seconds;     /* how often recent data is compared with the training window; 0: never */
    double drift_window_seconds;    /* "recent data" */
    double drift_psi;               /* a population stability index past this is drift */
    double drift_ks;                /* a Kolmogorov-Smirnov distance past this is drift */
    double holdout_seconds;         /* a refit is judged on the last holdout of the history */
    double train_window_seconds;    /* a refit is fitted on this much before the holdout; 0: all the history */
} models_config;

typedef struct hydra_config {
    config_t parsed;
    char *path;
    char *base_dir;
    char *plugin_dir;
    hydra_log_level log_level;
    bool log_json;               /* one JSON object per line (for the daemon's log collectors) */
    clock_mode clock_mode;
    double clock_start;          /* virtual clock only */
    double tick_seconds;
    double horizon_seconds;      /* how far ahead forecasts look */
    double history_seconds;      /* how much history a forecast sees */
    double approval_timeout_seconds; /* a pending recommendation expires after this */
    double approval_latency_seconds; /* how long a person usually takes to answer: part of the lead time */
    size_t lua_memory_limit;
    long long lua_instruction_limit;
    char *policy_path;           /* NULL: every recommendation asks a person */
    config_plugin *plugins;
    size_t plugin_count;
    char **notifiers;
    size_t notifier_count;
    config_target *targets;
    size_t target_count;
    config_plugin store;         /* the daemon's store (kind store); store.name NULL when none is configured */
    char *listen_host;           /* the daemon's HTTP address */
    int listen_port;
    size_t max_body_bytes;
    double rate_limit_per_second; /* per API key; 0: no limit */
    double rate_limit_burst;      /* requests a key may make at once before the rate applies */
    char *tenant;                /* the tenant the configured targets belong to */
    char *public_url;            /* where people reach the API, for links in notifications; NULL: no links */
    char *link_secret_file;      /* the key of signed approve/reject links; NULL: a random one for this run */
    bool dry_run;                /* every target's default: recommend, never execute */
    double leader_retry_seconds; /* how often a follower asks for leadership, and the leader checks it still has it */
    char *web_root;              /* the dashboard's built files; NULL: beside the binary, else PREFIX/share */
    char *reports_dir;           /* simulation reports the dashboard lists; NULL: none */
    bool has_location;           /* the place the dashboard's calendar (prayer times, Hijri dates) is for */
    calendar_location location;
    models_config models;
} hydra_config;

/* Reads and checks path. Returns 0, or -1 with "config FILE:LINE: ..." in error. */
int config_load(hydra_config *config, const char *path, char *error, size_t error_size);
void config_free(hydra_config *config);
/* "HOST:PORT" -> host and port; false when malformed. */
bool config_parse_listen(const char *text, char **host, int *port);
/* Replaces (or adds) a string setting of the store's settings: --data overrides the SQLite file. */
void config_set_store_setting(hydra_config *config, const char *key, const char *value);

/* A deep copy of a target, and its release; for targets made at run time (the simulator's services). */
void config_target_copy(config_target *to, const config_target *from);
void config_target_release(config_target *target);

const config_plugin *config_find_plugin(const hydra_config *config, int kind, const char *instance);
const config_target *config_find_target(const hydra_config *config, const char *name);

#endif
