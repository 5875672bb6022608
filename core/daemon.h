/* hydra serve: the controller loop on the real clock, the store, and the HTTP API under /api/v1. */
#ifndef HYDRA_DAEMON_H
#define HYDRA_DAEMON_H

#include "config.h"
#include "instance.h"

typedef struct daemon_options {
    const char *config_path;
    const char *listen;    /* overrides the config's listen */
    const char *data_path; /* overrides the store's `path` setting (the SQLite file) */
    const char *scenario_path; /* a live demo of this scenario (see live_demo.h); NULL: the real clock */
    double speed;              /* of the live demo's clock: simulated seconds per wall second */
    double start_day;          /* where in the scenario the live demo starts (NAN: 2 days in); before it: history */
    const char *reports_dir;   /* overrides the config's reports_dir */
    bool temporary_store;      /* a SQLite store in a new folder, removed at the end (a live demo without --data) */
} daemon_options;

/* Runs until SIGTERM or SIGINT; returns the process exit status. */
int daemon_serve(const daemon_options *options);

/* The configured store, opened and migrated, for commands that need only it (keys). NULL with the reason. */
typedef struct store_handle {
    hydra_config config;
    loader_registry registry;
    plugin_instance *instance;
    const hydra_store_ops *ops;
    void *state;
    char temporary_dir[64]; /* removed when the handle closes; "" for a store that stays */
} store_handle;

int store_handle_open(store_handle *handle, const daemon_options *options, char *error, size_t error_size);
void store_handle_close(store_handle *handle);

#endif
