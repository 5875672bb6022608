#include "instance.h"

#include "log.h"
#include "metrics.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct plugin_instance {
    char *name;
    loader_module *module;
    loader_module *builtin; /* owned, for built-in plugins */
    void *state;
    hydra_host host;
    config_setting_t *settings;
    instance_context context;
    char *base_dir;
    char **resolved_paths; /* kept until destroy: setting_path hands them out borrowed */
    size_t resolved_count;
};

/* Errors are kept per thread, with the instance they came from: HTTP threads call the same store at once, and each
 * request must quote its own failure, never one another thread set meanwhile. */
static _Thread_local const plugin_instance *error_owner;
static _Thread_local char error_text[2048];

static char *error_buffer(const plugin_instance *instance)
{
    if (error_owner != instance) {
        error_owner = instance;
        error_text[0] = '\0';
    }
    return error_text;
}

/* Marks a setting as read, through libconfig's per-setting hook pointer. */
static char setting_was_read;

static plugin_instance *instance_of(const hydra_host *host) { return host->host_private; }

/* ## Host API: logging, clock, errors, memory, metrics -------------------------------------------------------- */

static void host_log(const hydra_host *host, hydra_log_level level, const char *fmt, ...)
{
    char message[2048];
    va_list args;
    va_start(args, fmt);
    vformat_into(message, sizeof message, fmt, args);
    va_end(args);
    log_write(level, "plugin %s: %s", host->instance, message);
}

static double host_now(const hydra_host *host) { return clock_now(instance_of(host)->context.clock); }

static void host_set_error(const hydra_host *host, const char *fmt, ...)
{
    plugin_instance *instance = instance_of(host);
    va_list args;
    va_start(args, fmt);
    vformat_into(error_buffer(instance), sizeof error_text, fmt, args);
    va_end(args);
}

static void *host_alloc(const hydra_host *host, size_t bytes)
{
    (void)host;
    return calloc(1, bytes ? bytes : 1);
}

static void host_free(const hydra_host *host, void *ptr)
{
    (void)host;
    free(ptr);
}

static int host_metric_register(const hydra_host *host, const char *name, const char *help, hydra_metric_type type)
{
    return metrics_register(host->instance, name, help, type);
}

static void host_metric_add(const hydra_host *host, int metric, double delta)
{
    (void)host;
    metrics_add(metric, delta);
}

static void host_metric_set(const hydra_host *host, int metric, double value)
{
    (void)host;
    metrics_set(metric, value);
}

/* ## Host API: settings ------------------------------------------------------------------------------------- */

/* Finds key among the instance's settings and marks it read; NULL when absent. */
static config_setting_t *setting_lookup(const hydra_host *host, const char *key)
{
    plugin_instance *instance = instance_of(host);
    if (!instance->settings)
        return NULL;
    config_setting_t *setting = config_setting_get_member(instance->settings, key);
    if (setting)
        config_setting_set_hook(setting, &setting_was_read);
    return setting;
}

/* libconfig has no file name for text parsed from memory. */
static const char *setting_file(const config_setting_t *setting)
{
    const char *file = config_setting_source_file(setting);
    return file ? file : "(inline)";
}

static int setting_type_error(const hydra_host *host, const config_setting_t *setting, const char *expected)
{
    log_error("config %s:%d: plugin %s: setting '%s' must be %s", setting_file(setting),
              config_setting_source_line(setting), host->instance, config_setting_name(setting), expected);
    host_set_error(host, "setting '%s' must be %s", config_setting_name(setting), expected);
    return -1;
}

static int host_setting_string(const hydra_host *host, const char *key, const char **out)
{
    config_setting_t *setting = setting_lookup(host, key);
    if (!setting)
        return 1;
    if (config_setting_type(setting) != CONFIG_TYPE_STRING)
        return setting_type_error(host, setting, "a string");
    *out = config_setting_get_string(setting);
    return 0;
}

static int host_setting_int(const hydra_host *host, const char *key, long long *out)
{
    config_setting_t *setting = setting_lookup(host, key);
    if (!setting)
        return 1;
    int type = config_setting_type(setting);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return setting_type_error(host, setting, "an integer");
    *out = config_setting_get_int64(setting);
    return 0;
}

static int host_setting_double(const hydra_host *host, const char *key, double *out)
{
    config_setting_t *setting = setting_lookup(host, key);
    if (!setting)
        return 1;
    int type = config_setting_type(setting);
    if (type == CONFIG_TYPE_FLOAT)
        *out = config_setting_get_float(setting);
    else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
        *out = (double)config_setting_get_int64(setting);
    else
        return setting_type_error(host, setting, "a number");
    return 0;
}

static int host_setting_bool(const hydra_host *host, const char *key, bool *out)
{
    config_setting_t *setting = setting_lookup(host, key);
    if (!setting)
        return 1;
    if (config_setting_type(setting) != CONFIG_TYPE_BOOL)
        return setting_type_error(host, setting, "true or false");
    *out = config_setting_get_bool(setting) != 0;
    return 0;
}

static int host_setting_path(const hydra_host *host, const char *key, const char **out)
{
    const char *relative = NULL;
    int found = host_setting_string(host, key, &relative);
    if (found != 0)
        return found;
    plugin_instance *instance = instance_of(host);
    char *resolved = path_resolve(instance->base_dir, relative);
    instance->resolved_paths = xrealloc(instance->resolved_paths,
                                        (instance->resolved_count + 1) * sizeof *instance->resolved_paths);
    instance->resolved_paths[instance->resolved_count++] = resolved;
    *out = resolved;
    return 0;
}

/* ## Host API: the sandboxed Lua runtime, for bridges --------------------------------------------------------- */

static hydra_script *host_script_open(const hydra_host *host, const char *path)
{
    plugin_instance *instance = instance_of(host);
    script_options options = {
        .memory_limit = instance->context.script_memory_limit,
        .instruction_limit = instance->context.script_instruction_limit,
        .clock = instance->context.clock,
    };
    char error[2048];
    hydra_script *script = script_open(path, &options, error, sizeof error);
    if (!script) {
        host_set_error(host, "%s", error);
        return NULL;
    }
    script_set_owner(script, instance);
    return script;
}

static int host_script_call(hydra_script *script, int nargs, int nresults)
{
    if (script_call(script, nargs, nresults) == 0)
        return 0;
    plugin_instance *instance = script_owner(script);
    format_into(error_buffer(instance), sizeof error_text, "%s", script_error(script));
    return -1;
}

/* ## Host API: other forecasters, for forecasters built from others ------------------------------------------ */

static const void *host_forecaster_find(const hydra_host *host, const char *name)
{
    plugin_instance *self = instance_of(host);
    plugin_instance *peer = name && self->context.find_peer
                                ? self->context.find_peer(self->context.peers, HYDRA_KIND_FORECASTER, name)
                                : NULL;
    if (!peer) {
        host_set_error(host, "no forecaster named '%s' in this configuration", name ? name : "(null)");
        return NULL;
    }
    if (peer == self) {
        host_set_error(host, "forecaster '%s' cannot be built from itself", name);
        return NULL;
    }
    return peer;
}

static int host_forecaster_predict(const hydra_host *host, const void *forecaster, const hydra_series *history,
                                   hydra_forecast *out)
{
    plugin_instance *peer = (plugin_instance *)forecaster;
    if (instance_forecast(peer, history, out) == 0)
        return 0;
    char reason[sizeof error_text];
    format_into(reason, sizeof reason, "%s", instance_error(peer));
    host_set_error(host, "%s: %s", peer->name, reason[0] ? reason : "no reason given");
    return -1;
}

/* ## Life cycle --------------------------------------------------------------------------------------------- */

static void host_table_init(plugin_instance *instance)
{
    instance->host = (hydra_host){
        .size = sizeof(hydra_host),
        .abi_version = HYDRA_ABI_VERSION,
        .instance = instance->name,
        .log = host_log,
        .now = host_now,
        .setting_string = host_setting_string,
        .setting_int = host_setting_int,
        .setting_double = host_setting_double,
        .setting_bool = host_setting_bool,
        .setting_path = host_setting_path,
        .set_error = host_set_error,
        .metric_register = host_metric_register,
        .metric_add = host_metric_add,
        .metric_set = host_metric_set,
        .alloc = host_alloc,
        .free = host_free,
        .script_open = host_script_open,
        .script_state = script_state,
        .script_call = host_script_call,
        .script_close = script_close,
        .forecaster_find = host_forecaster_find,
        .forecaster_predict = host_forecaster_predict,
        .host_private = instance,
    };
}

static int check_unread_settings(plugin_instance *instance, char *error, size_t error_size)
{
    if (!instance->settings)
        return 0;
    for (int i = 0; i < config_setting_length(instance->settings); i++) {
        config_setting_t *setting = config_setting_get_elem(instance->settings, (unsigned)i);
        if (config_setting_get_hook(setting) == &setting_was_read)
            continue;
        format_into(error, error_size, "config %s:%d: plugin %s: unknown setting '%s' for %s %s",
                    setting_file(setting), config_setting_source_line(setting), instance->name,
                    config_setting_name(setting), loader_kind_name(instance->module->descriptor->kind),
                    instance->module->descriptor->name);
        return -1;
    }
    return 0;
}

static void instance_free(plugin_instance *instance)
{
    if (error_owner == instance)
        error_owner = NULL; /* another instance may get this address */
    if (instance->builtin) {
        free(instance->builtin->path);
        free(instance->builtin);
    }
    for (size_t i = 0; i < instance->resolved_count; i++)
        free(instance->resolved_paths[i]);
    free(instance->resolved_paths);
    free(instance->base_dir);
    free(instance->name);
    free(instance);
}

plugin_instance *instance_create(loader_module *module, const char *name, config_setting_t *settings,
                                 const instance_context *context, char *error, size_t error_size)
{
    plugin_instance *instance = xcalloc(1, sizeof *instance);
    instance->name = xstrdup(name);
    instance->module = module;
    instance->settings = settings;
    instance->context = context ? *context : (instance_context){0};
    instance->base_dir = xstrdup(instance->context.base_dir ? instance->context.base_dir : ".");
    host_table_init(instance);
    instance->state = module->descriptor->create(&instance->host);
    if (!instance->state) {
        format_into(error, error_size, "plugin %s (%s %s): create failed: %s", name,
                    loader_kind_name(module->descriptor->kind), module->descriptor->name,
                    instance_error(instance)[0] ? instance_error(instance) : "no reason given");
        instance_free(instance);
        return NULL;
    }
    if (check_unread_settings(instance, error, error_size) != 0) {
        instance_destroy(instance);
        return NULL;
    }
    return instance;
}

plugin_instance *instance_create_builtin(const hydra_plugin_descriptor *descriptor, const char *name, void *state,
                                         const instance_context *context)
{
    plugin_instance *instance = xcalloc(1, sizeof *instance);
    instance->name = xstrdup(name);
    instance->builtin = xcalloc(1, sizeof *instance->builtin);
    instance->builtin->path = xasprintf("builtin:%s", descriptor->name);
    instance->builtin->descriptor = descriptor;
    instance->module = instance->builtin;
    instance->context = context ? *context : (instance_context){0};
    instance->base_dir = xstrdup(".");
    host_table_init(instance);
    instance->state = state;
    return instance;
}

void instance_destroy(plugin_instance *instance)
{
    if (!instance)
        return;
    if (!instance->builtin)
        instance->module->descriptor->destroy(instance->state);
    instance_free(instance);
}

const char *instance_name(const plugin_instance *instance) { return instance->name; }
void *instance_state(const plugin_instance *instance) { return instance->state; }
const loader_module *instance_module(const plugin_instance *instance) { return instance->module; }
int instance_kind(const plugin_instance *instance) { return (int)instance->module->descriptor->kind; }
const char *instance_error(const plugin_instance *instance) { return error_owner == instance ? error_text : ""; }
void instance_clear_error(plugin_instance *instance) { error_buffer(instance)[0] = '\0'; }

/* ## Calls into plugins -------------------------------------------------------------------------------------- */

/* Clears the error before a call and logs it once after a failed one. */
static int call_done(plugin_instance *instance, const char *op, int result)
{
    if (result != 0)
        log_error("plugin %s: %s failed: %s", instance->name, op,
                  instance_error(instance)[0] ? instance_error(instance) : "no reason given");
    return result == 0 ? 0 : -1;
}

static const void *ops_of(plugin_instance *instance, int kind)
{
    instance_clear_error(instance);
    if (instance_kind(instance) == kind)
        return instance->module->descriptor->ops;
    format_into(error_buffer(instance), sizeof error_text, "is a %s, not a %s",
                loader_kind_name(instance_kind(instance)), loader_kind_name(kind));
    return NULL;
}

int instance_forecast(plugin_instance *instance, const hydra_series *history, hydra_forecast *out)
{
    const hydra_forecaster_ops *ops = ops_of(instance, HYDRA_KIND_FORECASTER);
    out->component_count = 0;
    /* Not logged: a model without enough history yet is normal, and the caller knows how loud to be. */
    return ops && ops->predict(instance->state, history, out) == 0 ? 0 : -1;
}

int instance_score(plugin_instance *instance, const hydra_series *series, double *scores)
{
    const hydra_anomaly_ops *ops = ops_of(instance, HYDRA_KIND_ANOMALY);
    return call_done(instance, "score", ops ? ops->score(instance->state, series, scores) : -1);
}

int instance_notify(plugin_instance *instance, const hydra_notification *notification)
{
    const hydra_notifier_ops *ops = ops_of(instance, HYDRA_KIND_NOTIFIER);
    return call_done(instance, "notify", ops ? ops->notify(instance->state, notification) : -1);
}

int instance_pull(plugin_instance *instance, const char *service, const char *metric, double from, double to,
                  double step, hydra_sample_sink emit, void *context)
{
    const hydra_source_ops *ops = ops_of(instance, HYDRA_KIND_SOURCE);
    return call_done(instance, "pull", ops ? ops->pull(instance->state, service, metric, from, to, step, emit, context)
                                           : -1);
}

int instance_scale_status(plugin_instance *instance, const char *target, hydra_scale_status *out)
{
    const hydra_scaler_ops *ops = ops_of(instance, HYDRA_KIND_SCALER);
    return call_done(instance, "status", ops ? ops->status(instance->state, target, out) : -1);
}

int instance_scale(plugin_instance *instance, const hydra_scale_request *request, hydra_scale_status *out)
{
    const hydra_scaler_ops *ops = ops_of(instance, HYDRA_KIND_SCALER);
    return call_done(instance, "scale", ops ? ops->scale(instance->state, request, out) : -1);
}

/* ## The streaming path ---------------------------------------------------------------------------------------- */

bool instance_has_models(const plugin_instance *instance)
{
    const void *ops = instance->module->descriptor->ops;
    switch (instance_kind(instance)) {
    case HYDRA_KIND_FORECASTER: return ((const hydra_forecaster_ops *)ops)->model_open != NULL;
    case HYDRA_KIND_ANOMALY: return ((const hydra_anomaly_ops *)ops)->model_open != NULL;
    default: return false;
    }
}

void *instance_model_open(plugin_instance *instance, const hydra_series *history)
{
    if (!instance_has_models(instance))
        return NULL;
    instance_clear_error(instance);
    const void *ops = instance->module->descriptor->ops;
    void *model = instance_kind(instance) == HYDRA_KIND_FORECASTER
                      ? ((const hydra_forecaster_ops *)ops)->model_open(instance->state, history)
                      : ((const hydra_anomaly_ops *)ops)->model_open(instance->state, history);
    if (!model)
        call_done(instance, "model_open", -1);
    return model;
}

int instance_model_observe(plugin_instance *instance, void *model, double value)
{
    const hydra_forecaster_ops *ops = ops_of(instance, HYDRA_KIND_FORECASTER);
    return call_done(instance, "model_observe", ops ? ops->model_observe(model, value) : -1);
}

int instance_model_forecast(plugin_instance *instance, void *model, hydra_forecast *out)
{
    const hydra_forecaster_ops *ops = ops_of(instance, HYDRA_KIND_FORECASTER);
    out->component_count = 0;
    return ops && ops->model_forecast(model, out) == 0 ? 0 : -1; /* not logged, as instance_forecast */
}

int instance_model_explain(plugin_instance *instance, void *model, double at, char *text, size_t size)
{
    const hydra_forecaster_ops *ops = ops_of(instance, HYDRA_KIND_FORECASTER);
    if (size)
        text[0] = '\0';
    if (!ops || !ops->model_explain)
        return ops ? 0 : -1;
    int result = call_done(instance, "model_explain", ops->model_explain(model, at, text, size));
    if (result != 0 && size)
        text[0] = '\0';
    return result;
}

int instance_model_score(plugin_instance *instance, void *model, double value, double *score)
{
    const hydra_anomaly_ops *ops = ops_of(instance, HYDRA_KIND_ANOMALY);
    return call_done(instance, "model_score", ops ? ops->model_score(model, value, score) : -1);
}

void instance_model_close(plugin_instance *instance, void *model)
{
    if (!model)
        return;
    const void *ops = instance->module->descriptor->ops;
    if (instance_kind(instance) == HYDRA_KIND_FORECASTER)
        ((const hydra_forecaster_ops *)ops)->model_close(model);
    else
        ((const hydra_anomaly_ops *)ops)->model_close(model);
}

/* ## Saved models (the model registry) ------------------------------------------------------------------------- */

bool instance_can_save_models(const plugin_instance *instance)
{
    return instance_kind(instance) == HYDRA_KIND_FORECASTER &&
           ((const hydra_forecaster_ops *)instance->module->descriptor->ops)->model_save != NULL;
}

char *instance_model_save(plugin_instance *instance, void *model)
{
    const hydra_forecaster_ops *ops = ops_of(instance, HYDRA_KIND_FORECASTER);
    if (!ops || !ops->model_save) {
        format_into(error_buffer(instance), sizeof error_text, "cannot save its models");
        return NULL;
    }
    size_t size = 4096;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *text = xmalloc(size);
        long long length = ops->model_save(model, text, size);
        if (length >= 0 && (size_t)length < size)
            return text;
        free(text);
        if (length < 0)
            return NULL;
        size = (size_t)length + 1;
    }
    format_into(error_buffer(instance), sizeof error_text, "model_save asked for a larger buffer twice");
    return NULL;
}

void *instance_model_load(plugin_instance *instance, const char *text)
{
    const hydra_forecaster_ops *ops = ops_of(instance, HYDRA_KIND_FORECASTER);
    if (!ops || !ops->model_load) {
        if (ops)
            format_into(error_buffer(instance), sizeof error_text, "cannot load saved models");
        return NULL;
    }
    return ops->model_load(instance->state, text);
}
