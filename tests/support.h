/* Shared by the cmocka tests: where the build is, loading a plugin instance with settings written as libconfig
 * text, capturing the log, running the hydra binary. */
#ifndef HYDRA_TEST_SUPPORT_H
#define HYDRA_TEST_SUPPORT_H

#include "instance.h"
#include "loader.h"

#include <jansson.h>
#include <libconfig.h>
#include <stdbool.h>
#include <sys/types.h>

/* The build folder under test: $HYDRA_BUILD_DIR, else "build". Tests run from the repository root. */
const char *support_build_dir(void);
/* <build>/plugins/<kind>/<name>.so; static buffer. */
const char *support_plugin_path(const char *kind, const char *name);

typedef struct support_plugin {
    loader_registry registry;
    config_t config;
    plugin_instance *instance;
    hydra_clock clock;
    char error[2048];
} support_plugin;

/* Loads the built plugin kind/name and creates an instance whose settings are settings_text, libconfig syntax
 * for the inside of a group ("alpha = 0.5; season_length = 24;"), or NULL. Returns the instance, or NULL with
 * the reason in plugin->error. The clock starts virtual at 0. */
plugin_instance *support_plugin_open(support_plugin *plugin, const char *kind, const char *name,
                                     const char *settings_text);
void support_plugin_close(support_plugin *plugin);

/* Captures every log line (any level) until support_log_stop(); support_log_text() has them joined by '\n'. */
void support_log_start(void);
const char *support_log_text(void);
void support_log_stop(void);

/* Fails the running cmocka test unless part occurs in text (include <cmocka.h> before using it). */
#define assert_contains(text, part)                                                                                \
    do {                                                                                                           \
        const char *text_ = (text), *part_ = (part);                                                               \
        if (!strstr(text_, part_))                                                                                 \
            fail_msg("expected \"%s\" in \"%s\"", part_, text_);                                                   \
    } while (0)

/* A forecast with every array the caller owns allocated for horizon steps, components included; and its release. */
void support_forecast_alloc(hydra_forecast *forecast, size_t horizon);
void support_forecast_free(hydra_forecast *forecast);

/* Writes text to a new file under /tmp and returns its path (one of a few static buffers: copy it to keep it). */
const char *support_write_temp(const char *text);

/* Runs a shell command line; returns its exit status and its stdout+stderr (static buffer). */
int support_run(const char *command_line, const char **output);

/* The value of the sample `series` (name and labels, as written) in a Prometheus text exposition; 0 when it is not
 * there (a counter nobody has counted yet). */
double support_sample_value(const char *exposition, const char *series);

/* ## A throwaway PostgreSQL (tests/pg-server) ------------------------------------------------------------------- */

#define SUPPORT_PG_DIR_SIZE 64
#define SUPPORT_PG_CONNINFO_SIZE 512

/* Starts a server in a new folder under /tmp (dir), which stops by itself should this process die; its conninfo
 * ("host=... port=... dbname=postgres user=postgres") goes into conninfo. 0, or -1 with pg-server's words in
 * *output. */
int support_pg_start(char *dir, char *conninfo, const char **output);
/* tests/pg-server ACTION dir (down, up, stop): its exit status, its output in *output. */
int support_pg_command(const char *action, const char *dir, const char **output);

/* ## A daemon under test: build/hydra serve on a free port of 127.0.0.1, with a folder of its own ------------- */

typedef struct support_daemon {
    char dir[64];     /* a new temporary folder, removed by support_daemon_remove */
    char data[128];   /* dir/hydra.db: the SQLite file (--data); empty for a store that has no file */
    char config[512]; /* the config it runs with */
    char log[128];    /* dir/daemon.log: its stderr */
    pid_t pid;
    int port;
} support_daemon;

/* A new folder for a daemon that will run config (NULL: configs/hydra.cfg). */
void support_daemon_init(support_daemon *daemon, const char *config);
/* hydra keys create for the daemon's store; the secret goes into secret. Fails the test when it cannot. */
void support_daemon_key(const support_daemon *daemon, const char *name, const char *scopes, char *secret,
                        size_t size);
/* Starts it and waits for its "listening" line, which gives the port. */
void support_daemon_start(support_daemon *daemon);
/* SIGTERM, then waits; returns its exit status (-1 when it did not exit normally). */
int support_daemon_stop(support_daemon *daemon);
/* Stops it if it runs and removes its folder. */
void support_daemon_remove(support_daemon *daemon);

typedef struct support_reply {
    int status;
    json_t *json;       /* the body when it is JSON; the caller releases it */
    char headers[2048]; /* the response headers as received */
} support_reply;

/* curl METHOD path on the daemon, with an optional key and JSON body; extra: more curl arguments. */
support_reply support_call(const support_daemon *daemon, const char *method, const char *path, const char *key,
                           const char *body, const char *extra);

#endif
