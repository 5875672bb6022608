/* A plugin instance: a loaded module, its state, its own settings and the host API table it is given.
 * Calls into a plugin go through the instance_* wrappers, which log the plugin's error once, with its name. */
#ifndef HYDRA_INSTANCE_H
#define HYDRA_INSTANCE_H

#include "clock.h"
#include "loader.h"
#include "script.h"

#include <libconfig.h>

typedef struct instance_context {
    const hydra_clock *clock;
    const char *base_dir;         /* relative setting paths resolve against it (the config file's folder) */
    size_t script_memory_limit;   /* for bridge scripts; 0 = default */
    long long script_instruction_limit;
    /* The other instances of the same controller, for plugins built from others; NULL when there are none. */
    struct plugin_instance *(*find_peer)(const void *peers, int kind, const char *name);
    const void *peers;
} instance_context;

typedef struct plugin_instance plugin_instance;

/* settings may be NULL (no settings). A setting the plugin does not read is an error naming file:line. */
plugin_instance *instance_create(loader_module *module, const char *name, config_setting_t *settings,
                                 const instance_context *context, char *error, size_t error_size);
void instance_destroy(plugin_instance *instance);
/* An instance of a plugin compiled into hydra (the simulated cluster), around a state the caller owns: the same
 * ops table as a loaded plugin, no create() and no destroy(). */
plugin_instance *instance_create_builtin(const hydra_plugin_descriptor *descriptor, const char *name, void *state,
                                         const instance_context *context);

const char *instance_name(const plugin_instance *instance);
/* The plugin's own state, for the kinds the core calls directly (the store). */
void *instance_state(const plugin_instance *instance);
const loader_module *instance_module(const plugin_instance *instance);
int instance_kind(const plugin_instance *instance);
/* The plugin's last error text (set with host->set_error). */
const char *instance_error(const plugin_instance *instance);
/* Forgets it, so that an old message cannot pass for the reason of a new failure (for ops called directly). */
void instance_clear_error(plugin_instance *instance);

/* Forecast failures are not logged here (a model still warming up is normal): see instance_error(). */
int instance_forecast(plugin_instance *instance, const hydra_series *history, hydra_forecast *out);
int instance_score(plugin_instance *instance, const hydra_series *series, double *scores);
int instance_notify(plugin_instance *instance, const hydra_notification *notification);
int instance_pull(plugin_instance *instance, const char *service, const char *metric, double from, double to,
                  double step, hydra_sample_sink emit, void *context);
int instance_scale_status(plugin_instance *instance, const char *target, hydra_scale_status *out);
int instance_scale(plugin_instance *instance, const hydra_scale_request *request, hydra_scale_status *out);

/* The streaming path of forecasters and detectors (see hydra_forecaster_ops). */
bool instance_has_models(const plugin_instance *instance);
void *instance_model_open(plugin_instance *instance, const hydra_series *history);
int instance_model_observe(plugin_instance *instance, void *model, double value);
int instance_model_forecast(plugin_instance *instance, void *model, hydra_forecast *out);
int instance_model_score(plugin_instance *instance, void *model, double value, double *score);
/* Words for what the model expects at `at`; an empty text when the forecaster has nothing to say. */
int instance_model_explain(plugin_instance *instance, void *model, double at, char *text, size_t size);
void instance_model_close(plugin_instance *instance, void *model);

/* Saved models (model_save and model_load, for the registry). The text is the caller's to free; NULL after an error
 * (instance_error says why, nothing is logged: the registry names the service and version). */
bool instance_can_save_models(const plugin_instance *instance);
char *instance_model_save(plugin_instance *instance, void *model);
void *instance_model_load(plugin_instance *instance, const char *text);

#endif
