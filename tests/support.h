/* Shared by the cmocka tests: where the build is, loading a plugin instance with settings written as libconfig
 * text, capturing the log, running a command. The real servers tests start (hydra serve, PostgreSQL): servers.h. */
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
/* A whole file as a string (the caller frees it), or NULL when it cannot be read. */
char *support_read_file(const char *path);

/* Runs a shell command line; returns its exit status and its stdout+stderr (static buffer). */
int support_run(const char *command_line, const char **output);

/* `make install` of the build under test (its O and SANITIZE) with prefix into a new folder under /tmp, whose path
 * goes to stage (at least 32 bytes). Returns make's exit status; its output in *output. */
int support_make_install(const char *prefix, char *stage, size_t size, const char **output);

/* The value of the sample `series` (name and labels, as written) in a Prometheus text exposition; 0 when it is not
 * there (a counter nobody has counted yet). */
double support_sample_value(const char *exposition, const char *series);

#endif
