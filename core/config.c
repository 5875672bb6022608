#include "config.h"

#include "loader.h"
#include "log.h"
#include "script.h"
#include "util.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ## Schema: which settings each group allows ------------------------------------------------------------------ */

typedef enum field_type { FIELD_STRING, FIELD_INT, FIELD_NUMBER, FIELD_BOOL, FIELD_DURATION, FIELD_GROUP,
                          FIELD_LIST, FIELD_ARRAY } field_type;

typedef struct field {
    const char *name;
    field_type type;
} field;

static const field top_fields[] = {
    {"log_level", FIELD_STRING}, {"log_format", FIELD_STRING}, {"plugin_dir", FIELD_STRING}, {"clock", FIELD_GROUP},
    {"tick", FIELD_DURATION},    {"horizon", FIELD_DURATION},  {"history", FIELD_DURATION},
    {"approval", FIELD_GROUP},   {"lua", FIELD_GROUP},         {"policy", FIELD_STRING},
    {"plugins", FIELD_LIST},     {"notifiers", FIELD_ARRAY},   {"targets", FIELD_LIST},
    {"store", FIELD_GROUP},      {"listen", FIELD_STRING},     {"api", FIELD_GROUP},
    {"tenant", FIELD_STRING},    {"dry_run", FIELD_BOOL},      {"public_url", FIELD_STRING}, {"leader", FIELD_GROUP},
    {"web_root", FIELD_STRING},  {"reports_dir", FIELD_STRING}, {"location", FIELD_GROUP},    {"models", FIELD_GROUP},
    {NULL, 0},
};
static const field location_fields[] = {{"latitude", FIELD_NUMBER},   {"longitude", FIELD_NUMBER},
                                        {"utc_offset", FIELD_NUMBER}, {"method", FIELD_STRING},
                                        {"hijri_adjust", FIELD_INT},  {NULL, 0}};
static const field clock_fields[] = {{"mode", FIELD_STRING}, {"start", FIELD_STRING}, {NULL, 0}};
static const field approval_fields[] = {
    {"timeout", FIELD_DURATION}, {"expected_latency", FIELD_DURATION}, {"link_secret_file", FIELD_STRING}, {NULL, 0}};
static const field leader_fields[] = {{"retry", FIELD_DURATION}, {NULL, 0}};
static const field store_fields[] = {{"name", FIELD_STRING}, {"file", FIELD_STRING}, {"settings", FIELD_GROUP},
                                     {NULL, 0}};
static const field api_fields[] = {{"max_body_kb", FIELD_INT}, {"rate_limit", FIELD_GROUP}, {NULL, 0}};
static const field rate_limit_fields[] = {{"requests_per_second", FIELD_NUMBER}, {"burst", FIELD_NUMBER}, {NULL, 0}};
static const field models_fields[] = {
    {"registry", FIELD_BOOL},          {"accuracy_window", FIELD_DURATION}, {"max_mape", FIELD_NUMBER},
    {"max_mase", FIELD_NUMBER},        {"accuracy_min_compared", FIELD_INT}, {"refit_every", FIELD_DURATION},
    {"drift_check_every", FIELD_DURATION}, {"drift_window", FIELD_DURATION}, {"drift_psi", FIELD_NUMBER},
    {"drift_ks", FIELD_NUMBER},        {"holdout", FIELD_DURATION},         {"train_window", FIELD_DURATION},
    {NULL, 0},
};
static const field lua_fields[] = {{"memory_limit_mb", FIELD_INT}, {"instruction_limit", FIELD_INT}, {NULL, 0}};
static const field plugin_fields[] = {
    {"kind", FIELD_STRING}, {"name", FIELD_STRING},      {"instance", FIELD_STRING},
    {"file", FIELD_STRING}, {"settings", FIELD_GROUP},   {NULL, 0},
};
static const field target_fields[] = {
    {"name", FIELD_STRING},           {"metric", FIELD_STRING},          {"forecaster", FIELD_STRING},
    {"anomaly", FIELD_STRING},        {"scaler", FIELD_STRING},          {"min_replicas", FIELD_INT},
    {"max_replicas", FIELD_INT},      {"max_step", FIELD_INT},           {"capacity_per_replica", FIELD_NUMBER},
    {"cold_start", FIELD_DURATION},   {"headroom", FIELD_NUMBER},        {"tolerance", FIELD_NUMBER},
    {"stabilization", FIELD_DURATION}, {"anomaly_threshold", FIELD_NUMBER}, {"anomaly_hold", FIELD_DURATION},
    {"planner", FIELD_STRING}, {"size_for", FIELD_STRING}, {"dry_run", FIELD_BOOL}, {"source", FIELD_STRING},
    {"spike_factor", FIELD_NUMBER}, {"decline_factor", FIELD_NUMBER},
    {NULL, 0},
};

static const char *const type_names[] = {
    [FIELD_STRING] = "a string",          [FIELD_INT] = "an integer",  [FIELD_NUMBER] = "a number",
    [FIELD_BOOL] = "true or false",       [FIELD_DURATION] = "a duration (seconds, or a string such as \"90s\", \"15m\", \"2h\")",
    [FIELD_GROUP] = "a group { ... }",    [FIELD_LIST] = "a list ( ... )", [FIELD_ARRAY] = "an array [ ... ]",
};

/* ## Reporting ------------------------------------------------------------------------------------------------- */

typedef struct checker {
    const char *file;
    char *error;
    size_t error_size;
} checker;

/* "targets[1].max_replicas" */
static void setting_path(const config_setting_t *setting, char *buffer, size_t size)
{
    const config_setting_t *parent = config_setting_parent(setting);
    if (!parent || config_setting_is_root(parent)) {
        format_into(buffer, size, "%s", config_setting_name(setting) ? config_setting_name(setting) : "");
        return;
    }
    char above[512];
    setting_path(parent, above, sizeof above);
    if (config_setting_name(setting) && config_setting_type(parent) == CONFIG_TYPE_GROUP)
        format_into(buffer, size, "%s.%s", above, config_setting_name(setting));
    else
        format_into(buffer, size, "%s[%d]", above, config_setting_index(setting));
}

static int fail(checker *c, const config_setting_t *setting, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(checker *c, const config_setting_t *setting, const char *fmt, ...)
{
    char message[1024], where[512] = "";
    va_list args;
    va_start(args, fmt);
    vformat_into(message, sizeof message, fmt, args);
    va_end(args);
    const char *file = c->file;
    int line = 0;
    if (setting) {
        setting_path(setting, where, sizeof where);
        line = config_setting_source_line(setting);
        if (config_setting_source_file(setting))
            file = config_setting_source_file(setting);
    }
    if (line > 0 && where[0])
        format_into(c->error, c->error_size, "config %s:%d: %s: %s", file, line, where, message);
    else if (line > 0)
        format_into(c->error, c->error_size, "config %s:%d: %s", file, line, message);
    else
        format_into(c->error, c->error_size, "config %s: %s", file, message);
    return -1;
}

/* ## Checking types and names ---------------------------------------------------------------------------------- */

static bool type_matches(const config_setting_t *setting, field_type type)
{
    switch (config_setting_type(setting)) {
    case CONFIG_TYPE_STRING: return type == FIELD_STRING || type == FIELD_DURATION;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return type == FIELD_INT || type == FIELD_NUMBER || type == FIELD_DURATION;
    case CONFIG_TYPE_FLOAT: return type == FIELD_NUMBER || type == FIELD_DURATION;
    case CONFIG_TYPE_BOOL: return type == FIELD_BOOL;
    case CONFIG_TYPE_GROUP: return type == FIELD_GROUP;
    case CONFIG_TYPE_LIST: return type == FIELD_LIST;
    case CONFIG_TYPE_ARRAY: return type == FIELD_ARRAY;
    default: return false;
    }
}

static void allowed_names(const field *fields, char *buffer, size_t size)
{
    size_t used = 0;
    buffer[0] = '\0';
    for (const field *f = fields; f->name && used < size; f++)
        used += (size_t)snprintf(buffer + used, size - used, "%s%s", f == fields ? "" : ", ", f->name);
}

/* Every member of group must be a known field of the right type. */
static int check_members(checker *c, const config_setting_t *group, const field *fields)
{
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *member = config_setting_get_elem(group, (unsigned)i);
        const field *known = fields;
        while (known->name && strcmp(known->name, config_setting_name(member)) != 0)
            known++;
        if (!known->name) {
            char allowed[512];
            allowed_names(fields, allowed, sizeof allowed);
            return fail(c, member, "unknown setting (allowed here: %s)", allowed);
        }
        if (!type_matches(member, known->type))
            return fail(c, member, "must be %s", type_names[known->type]);
    }
    return 0;
}

/* ## Typed getters: absent means the fallback; bad values fail naming the setting -------------------------------- */

static int get_string(checker *c, const config_setting_t *group, const char *name, const char *fallback, char **out)
{
    const config_setting_t *setting = group ? config_setting_get_member(group, name) : NULL;
    if (!setting) {
        if (!fallback)
            return fail(c, group, "missing required setting '%s'", name);
        *out = xstrdup(fallback);
        return 0;
    }
    const char *value = config_setting_get_string(setting);
    if (!value[0])
        return fail(c, setting, "must not be empty");
    *out = xstrdup(value);
    return 0;
}

static int get_int(checker *c, const config_setting_t *group, const char *name, long long low, long long high,
                   long long fallback, int *out)
{
    const config_setting_t *setting = group ? config_setting_get_member(group, name) : NULL;
    long long value = setting ? config_setting_get_int64(setting) : fallback;
    if (setting && (value < low || value > high))
        return fail(c, setting, "must be between %lld and %lld, found %lld", low, high, value);
    *out = (int)value;
    return 0;
}

/* The type was checked with the group's members: a present setting is a bool. */
static bool get_bool(const config_setting_t *group, const char *name, bool fallback)
{
    const config_setting_t *setting = group ? config_setting_get_member(group, name) : NULL;
    return setting ? config_setting_get_bool(setting) != 0 : fallback;
}

static double setting_number(const config_setting_t *setting)
{
    return config_setting_type(setting) == CONFIG_TYPE_FLOAT ? config_setting_get_float(setting)
                                                              : (double)config_setting_get_int64(setting);
}

static int get_number(checker *c, const config_setting_t *group, const char *name, double low, double high,
                      double fallback, double *out)
{
    const config_setting_t *setting = group ? config_setting_get_member(group, name) : NULL;
    double value = setting ? setting_number(setting) : fallback;
    if (setting && !(value >= low && value <= high))
        return fail(c, setting, "must be between %g and %g, found %g", low, high, value);
    *out = value;
    return 0;
}

static int get_duration(checker *c, const config_setting_t *group, const char *name, double low, double high,
                        double fallback, double *out)
{
    const config_setting_t *setting = group ? config_setting_get_member(group, name) : NULL;
    double value = fallback;
    if (setting && config_setting_type(setting) == CONFIG_TYPE_STRING) {
        if (!clock_parse_duration(config_setting_get_string(setting), &value))
            return fail(c, setting, "must be a duration such as \"90s\", \"15m\", \"2h\" or \"1d\", found \"%s\"",
                        config_setting_get_string(setting));
    } else if (setting) {
        value = setting_number(setting);
    }
    if (setting && !(value >= low && value <= high))
        return fail(c, setting, "must be between %gs and %gs, found %gs", low, high, value);
    *out = value;
    return 0;
}

/* ## Sections ------------------------------------------------------------------------------------------------- */

static int read_clock(checker *c, hydra_config *config, const config_setting_t *group)
{
    config->clock_mode = CLOCK_REAL;
    if (!group)
        return 0;
    if (check_members(c, group, clock_fields) != 0)
        return -1;
    char *mode = NULL;
    if (get_string(c, group, "mode", "real", &mode) != 0)
        return -1;
    bool is_virtual = strcmp(mode, "virtual") == 0;
    bool known = is_virtual || strcmp(mode, "real") == 0;
    free(mode);
    if (!known)
        return fail(c, config_setting_get_member(group, "mode"), "must be \"real\" or \"virtual\"");
    const config_setting_t *start = config_setting_get_member(group, "start");
    if (!is_virtual) {
        if (start)
            return fail(c, start, "only a virtual clock has a start; remove it or set mode = \"virtual\"");
        return 0;
    }
    config->clock_mode = CLOCK_VIRTUAL;
    if (!start)
        return fail(c, group, "missing required setting 'start' for a virtual clock (e.g. \"2027-02-08T00:00:00Z\")");
    if (!clock_parse_time(config_setting_get_string(start), &config->clock_start))
        return fail(c, start, "must be an ISO 8601 UTC time such as \"2027-02-08T00:00:00Z\"");
    return 0;
}

static int read_lua(checker *c, hydra_config *config, const config_setting_t *group)
{
    int memory_mb = (int)(SCRIPT_DEFAULT_MEMORY_LIMIT >> 20);
    int instructions = (int)SCRIPT_DEFAULT_INSTRUCTION_LIMIT;
    if (group && check_members(c, group, lua_fields) != 0)
        return -1;
    if (get_int(c, group, "memory_limit_mb", 1, 4096, memory_mb, &memory_mb) != 0 ||
        get_int(c, group, "instruction_limit", 1000, INT_MAX, instructions, &instructions) != 0)
        return -1;
    config->lua_memory_limit = (size_t)memory_mb << 20;
    config->lua_instruction_limit = instructions;
    return 0;
}

static int read_plugin(checker *c, hydra_config *config, config_setting_t *entry, config_plugin *plugin)
{
    plugin->line = config_setting_source_line(entry);
    if (config_setting_type(entry) != CONFIG_TYPE_GROUP)
        return fail(c, entry, "must be a group { kind = ...; name = ...; }");
    if (check_members(c, entry, plugin_fields) != 0)
        return -1;
    char *kind = NULL;
    if (get_string(c, entry, "kind", NULL, &kind) != 0)
        return -1;
    plugin->kind = loader_kind_parse(kind);
    free(kind);
    if (!plugin->kind)
        return fail(c, config_setting_get_member(entry, "kind"), "unknown kind (expected one of %s)",
                    loader_kind_list());
    if (get_string(c, entry, "name", NULL, &plugin->name) != 0 ||
        get_string(c, entry, "instance", plugin->name, &plugin->instance) != 0)
        return -1;
    const config_setting_t *file = config_setting_get_member(entry, "file");
    plugin->file = file ? path_resolve(config->base_dir, config_setting_get_string(file))
                        : loader_plugin_path(config->plugin_dir, plugin->kind, plugin->name);
    plugin->settings = config_setting_get_member(entry, "settings");
    if (config_find_plugin(config, plugin->kind, plugin->instance) != plugin)
        return fail(c, entry, "duplicate %s instance name '%s' (set instance = \"...\" to tell them apart)",
                    loader_kind_name(plugin->kind), plugin->instance);
    return 0;
}

static int read_plugins(checker *c, hydra_config *config, config_setting_t *list)
{
    if (!list)
        return 0;
    config->plugin_count = (size_t)config_setting_length(list);
    config->plugins = xcalloc(config->plugin_count, sizeof *config->plugins);
    for (size_t i = 0; i < config->plugin_count; i++)
        if (read_plugin(c, config, config_setting_get_elem(list, (unsigned)i), &config->plugins[i]) != 0)
            return -1;
    return 0;
}

/* A target's plugin reference must name a configured instance of the right kind. */
static int check_reference(checker *c, const hydra_config *config, const config_setting_t *setting,
                           const char *instance, int kind)
{
    if (!instance)
        return 0;
    if (!config_find_plugin(config, kind, instance))
        return fail(c, setting, "no %s instance named '%s' in plugins", loader_kind_name(kind), instance);
    return 0;
}

static int read_target_numbers(checker *c, const hydra_config *config, const config_setting_t *entry,
                               config_target *target)
{
    target->dry_run = get_bool(entry, "dry_run", config->dry_run);
    if (get_int(c, entry, "min_replicas", 0, 100000, 1, &target->min_replicas) != 0 ||
        get_int(c, entry, "max_replicas", 1, 100000, 10, &target->max_replicas) != 0 ||
        get_int(c, entry, "max_step", 0, 100000, 0, &target->max_step) != 0 ||
        get_number(c, entry, "capacity_per_replica", 1e-9, 1e12, NAN, &target->capacity_per_replica) != 0 ||
        get_duration(c, entry, "cold_start", 0, 86400, 60, &target->cold_start_seconds) != 0 ||
        get_number(c, entry, "headroom", 0, 10, 0.2, &target->headroom) != 0 ||
        get_number(c, entry, "tolerance", 0, 1, 0.1, &target->tolerance) != 0 ||
        get_duration(c, entry, "stabilization", 0, 7 * 86400, 600, &target->stabilization_seconds) != 0 ||
        get_number(c, entry, "anomaly_threshold", 0, 1, 0.9, &target->anomaly_threshold) != 0 ||
        get_duration(c, entry, "anomaly_hold", 0, 86400, 1800, &target->anomaly_hold_seconds) != 0 ||
        get_number(c, entry, "spike_factor", 0, 1000, 2.0, &target->spike_factor) != 0 ||
        get_number(c, entry, "decline_factor", 0, 1, 0.5, &target->decline_factor) != 0)
        return -1;
    if (isnan(target->capacity_per_replica))
        return fail(c, entry, "missing required setting 'capacity_per_replica'");
    char *planner = NULL;
    if (get_string(c, entry, "planner", "predictive", &planner) != 0)
        return -1;
    target->predictive = strcmp(planner, "predictive") == 0;
    bool known = target->predictive || strcmp(planner, "reactive") == 0;
    free(planner);
    if (!known)
        return fail(c, config_setting_get_member(entry, "planner"), "must be \"predictive\" or \"reactive\"");
    char *bound = NULL;
    if (get_string(c, entry, "size_for", "upper80", &bound) != 0)
        return -1;
    target->forecast_bound = strcmp(bound, "upper80") == 0 ? 80 : strcmp(bound, "upper95") == 0 ? 95
                             : strcmp(bound, "mean") == 0 ? 0 : -1;
    free(bound);
    if (target->forecast_bound < 0)
        return fail(c, config_setting_get_member(entry, "size_for"), "must be \"mean\", \"upper80\" or \"upper95\"");
    if (target->min_replicas > target->max_replicas)
        return fail(c, config_setting_get_member(entry, "min_replicas"),
                    "min_replicas (%d) is above max_replicas (%d)", target->min_replicas, target->max_replicas);
    return 0;
}

static int read_target(checker *c, hydra_config *config, const config_setting_t *entry, config_target *target)
{
    target->line = config_setting_source_line(entry);
    if (config_setting_type(entry) != CONFIG_TYPE_GROUP)
        return fail(c, entry, "must be a group { name = ...; ... }");
    if (check_members(c, entry, target_fields) != 0)
        return -1;
    if (get_string(c, entry, "name", NULL, &target->name) != 0 ||
        get_string(c, entry, "metric", "requests_per_second", &target->metric) != 0 ||
        get_string(c, entry, "forecaster", NULL, &target->forecaster) != 0 ||
        get_string(c, entry, "scaler", NULL, &target->scaler) != 0)
        return -1;
    if (config_setting_get_member(entry, "anomaly") && get_string(c, entry, "anomaly", NULL, &target->anomaly) != 0)
        return -1;
    if (config_setting_get_member(entry, "source") && get_string(c, entry, "source", NULL, &target->source) != 0)
        return -1;
    if (check_reference(c, config, config_setting_get_member(entry, "forecaster"), target->forecaster, HYDRA_KIND_FORECASTER) != 0 ||
        check_reference(c, config, config_setting_get_member(entry, "anomaly"), target->anomaly, HYDRA_KIND_ANOMALY) != 0 ||
        check_reference(c, config, config_setting_get_member(entry, "scaler"), target->scaler, HYDRA_KIND_SCALER) != 0 ||
        check_reference(c, config, config_setting_get_member(entry, "source"), target->source, HYDRA_KIND_SOURCE) != 0)
        return -1;
    if (config_find_target(config, target->name) != target)
        return fail(c, config_setting_get_member(entry, "name"), "duplicate target name '%s'", target->name);
    return read_target_numbers(c, config, entry, target);
}

static int read_targets(checker *c, hydra_config *config, const config_setting_t *list)
{
    if (!list)
        return 0;
    config->target_count = (size_t)config_setting_length(list);
    config->targets = xcalloc(config->target_count, sizeof *config->targets);
    for (size_t i = 0; i < config->target_count; i++)
        if (read_target(c, config, config_setting_get_elem(list, (unsigned)i), &config->targets[i]) != 0)
            return -1;
    return 0;
}

static int read_notifiers(checker *c, hydra_config *config, const config_setting_t *array)
{
    if (!array)
        return 0;
    config->notifier_count = (size_t)config_setting_length(array);
    config->notifiers = xcalloc(config->notifier_count, sizeof *config->notifiers);
    for (size_t i = 0; i < config->notifier_count; i++) {
        const config_setting_t *element = config_setting_get_elem(array, (unsigned)i);
        if (config_setting_type(element) != CONFIG_TYPE_STRING)
            return fail(c, element, "must be the instance name of a notifier");
        config->notifiers[i] = xstrdup(config_setting_get_string(element));
        if (check_reference(c, config, element, config->notifiers[i], HYDRA_KIND_NOTIFIER) != 0)
            return -1;
    }
    return 0;
}

static int read_top_level(checker *c, hydra_config *config, config_setting_t *root)
{
    char *level = NULL;
    if (get_string(c, root, "log_level", "info", &level) != 0)
        return -1;
    bool level_known = log_level_parse(level, &config->log_level);
    free(level);
    if (!level_known)
        return fail(c, config_setting_get_member(root, "log_level"), "must be \"debug\", \"info\", \"warn\" or \"error\"");
    char *format = NULL;
    if (get_string(c, root, "log_format", "text", &format) != 0)
        return -1;
    config->log_json = strcmp(format, "json") == 0;
    bool format_known = config->log_json || strcmp(format, "text") == 0;
    free(format);
    if (!format_known)
        return fail(c, config_setting_get_member(root, "log_format"), "must be \"text\" or \"json\"");
    config->dry_run = get_bool(root, "dry_run", false);
    const config_setting_t *plugin_dir = config_setting_get_member(root, "plugin_dir");
    config->plugin_dir = plugin_dir ? path_resolve(config->base_dir, config_setting_get_string(plugin_dir))
                                    : loader_default_plugin_dir();
    const config_setting_t *policy = config_setting_get_member(root, "policy");
    if (policy)
        config->policy_path = path_resolve(config->base_dir, config_setting_get_string(policy));
    const config_setting_t *approval = config_setting_get_member(root, "approval");
    if (approval && check_members(c, approval, approval_fields) != 0)
        return -1;
    const config_setting_t *link_secret = approval ? config_setting_get_member(approval, "link_secret_file") : NULL;
    if (link_secret)
        config->link_secret_file = path_resolve(config->base_dir, config_setting_get_string(link_secret));
    const config_setting_t *leader = config_setting_get_member(root, "leader");
    if (leader && check_members(c, leader, leader_fields) != 0)
        return -1;
    return get_duration(c, root, "tick", 1, 86400, 60, &config->tick_seconds) != 0 ||
                   get_duration(c, root, "horizon", 60, 30 * 86400, 3 * 3600, &config->horizon_seconds) != 0 ||
                   get_duration(c, root, "history", 3600, 366 * 86400, 14 * 86400, &config->history_seconds) != 0 ||
                   get_duration(c, approval, "timeout", 10, 7 * 86400, 1800, &config->approval_timeout_seconds) != 0 ||
                   get_duration(c, approval, "expected_latency", 0, 86400, 600, &config->approval_latency_seconds) != 0 ||
                   get_duration(c, leader, "retry", 1, 3600, 5, &config->leader_retry_seconds) != 0
               ? -1
               : 0;
}

/* The model lifecycle: the registry, live accuracy and its bound, drift and refits. Absent: the defaults. */
static int read_models(checker *c, hydra_config *config, const config_setting_t *group)
{
    models_config *m = &config->models;
    if (group && check_members(c, group, models_fields) != 0)
        return -1;
    m->registry = get_bool(group, "registry", true);
    if (get_duration(c, group, "accuracy_window", 60, 366 * 86400, 86400, &m->accuracy_window_seconds) != 0 ||
        get_number(c, group, "max_mape", 0, 1e6, 0, &m->max_mape) != 0 ||
        get_number(c, group, "max_mase", 0, 1e6, 0, &m->max_mase) != 0 ||
        get_int(c, group, "accuracy_min_compared", 1, 1000000, 30, &m->accuracy_min_compared) != 0 ||
        get_duration(c, group, "refit_every", 0, 366 * 86400, 0, &m->refit_every_seconds) != 0 ||
        get_duration(c, group, "drift_check_every", 0, 366 * 86400, 3600, &m->drift_check_seconds) != 0 ||
        get_duration(c, group, "drift_window", 60, 366 * 86400, 86400, &m->drift_window_seconds) != 0 ||
        get_number(c, group, "drift_psi", 0, 100, 0.25, &m->drift_psi) != 0 ||
        get_number(c, group, "drift_ks", 0, 1, 0.3, &m->drift_ks) != 0 ||
        get_duration(c, group, "holdout", 60, 366 * 86400, fmin(6 * 3600, config->history_seconds / 4),
                     &m->holdout_seconds) != 0 ||
        get_duration(c, group, "train_window", 0, 366 * 86400, 0, &m->train_window_seconds) != 0)
        return -1;
    if (m->holdout_seconds >= config->history_seconds)
        return fail(c, config_setting_get_member(group, "holdout"),
                    "must be shorter than history (%gs): a refit is judged on the last holdout of the history",
                    config->history_seconds);
    return 0;
}

bool config_parse_listen(const char *text, char **host, int *port)
{
    const char *colon = strrchr(text, ':');
    char *end = NULL;
    long number = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == text || !end || *end || end == colon + 1 || number < 0 || number > 65535)
        return false;
    *host = xasprintf("%.*s", (int)(colon - text), text);
    *port = (int)number;
    return true;
}

/* Absent: no limit. Present: requests_per_second is required; burst defaults to one second's worth. */
static int read_rate_limit(checker *c, hydra_config *config, const config_setting_t *group)
{
    if (!group)
        return 0;
    if (check_members(c, group, rate_limit_fields) != 0 ||
        get_number(c, group, "requests_per_second", 0.001, 1e6, NAN, &config->rate_limit_per_second) != 0)
        return -1;
    if (isnan(config->rate_limit_per_second))
        return fail(c, group, "missing required setting 'requests_per_second'");
    return get_number(c, group, "burst", 1, 1e6, fmax(1, ceil(config->rate_limit_per_second)),
                      &config->rate_limit_burst);
}

static int read_daemon(checker *c, hydra_config *config, config_setting_t *root)
{
    const config_setting_t *listen = config_setting_get_member(root, "listen");
    const char *address = listen ? config_setting_get_string(listen) : "127.0.0.1:8080";
    if (!config_parse_listen(address, &config->listen_host, &config->listen_port))
        return fail(c, listen, "must be HOST:PORT, such as \"127.0.0.1:8080\"");
    config_setting_t *api = config_setting_get_member(root, "api");
    int max_body_kb = 1024;
    if ((api && check_members(c, api, api_fields) != 0) ||
        get_int(c, api, "max_body_kb", 1, 1 << 20, max_body_kb, &max_body_kb) != 0 ||
        get_string(c, root, "tenant", "default", &config->tenant) != 0)
        return -1;
    config->max_body_bytes = (size_t)max_body_kb << 10;
    const config_setting_t *public_url = config_setting_get_member(root, "public_url");
    if (public_url) {
        const char *url = config_setting_get_string(public_url);
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
            return fail(c, public_url, "must be the http:// or https:// address people reach hydra at");
        config->public_url = xstrdup(url);
        size_t length = strlen(config->public_url);
        while (length > 0 && config->public_url[length - 1] == '/')
            config->public_url[--length] = '\0';
    }
    if (read_rate_limit(c, config, api ? config_setting_get_member(api, "rate_limit") : NULL) != 0)
        return -1;
    config_setting_t *store = config_setting_get_member(root, "store");
    if (!store)
        return 0;
    if (check_members(c, store, store_fields) != 0 || get_string(c, store, "name", NULL, &config->store.name) != 0)
        return -1;
    config->store.kind = HYDRA_KIND_STORE;
    config->store.instance = xstrdup(config->store.name);
    config->store.line = config_setting_source_line(store);
    const config_setting_t *file = config_setting_get_member(store, "file");
    config->store.file = file ? path_resolve(config->base_dir, config_setting_get_string(file))
                              : loader_plugin_path(config->plugin_dir, HYDRA_KIND_STORE, config->store.name);
    config->store.settings = config_setting_get_member(store, "settings");
    return 0;
}

/* The dashboard's settings: where its files and the reports it shows are, and the place its calendar is for. */
static int read_dashboard(checker *c, hydra_config *config, config_setting_t *root)
{
    const config_setting_t *web_root = config_setting_get_member(root, "web_root");
    const config_setting_t *reports = config_setting_get_member(root, "reports_dir");
    if (web_root)
        config->web_root = path_resolve(config->base_dir, config_setting_get_string(web_root));
    if (reports)
        config->reports_dir = path_resolve(config->base_dir, config_setting_get_string(reports));
    config_setting_t *location = config_setting_get_member(root, "location");
    if (!location)
        return 0;
    calendar_location *loc = &config->location;
    char *method = NULL;
    int adjust = 0;
    if (check_members(c, location, location_fields) != 0 ||
        get_number(c, location, "latitude", -90, 90, NAN, &loc->latitude) != 0 ||
        get_number(c, location, "longitude", -180, 180, NAN, &loc->longitude) != 0 ||
        get_number(c, location, "utc_offset", -14, 14, 0, &loc->utc_offset_hours) != 0 ||
        get_int(c, location, "hijri_adjust", -3, 3, 0, &adjust) != 0 ||
        get_string(c, location, "method", "mwl", &method) != 0)
        return -1;
    loc->hijri_adjust_days = adjust;
    bool known = calendar_method_parse(method, &loc->method);
    free(method);
    if (!known)
        return fail(c, config_setting_get_member(location, "method"), "unknown method (egyptian, mwl, isna, "
                    "umm_al_qura, karachi, ...: see simulator/calendar.h)");
    if (isnan(loc->latitude) || isnan(loc->longitude))
        return fail(c, location, "needs latitude and longitude");
    config->has_location = true;
    return 0;
}

void config_set_store_setting(hydra_config *config, const char *key, const char *value)
{
    config_setting_t *root = config_root_setting(&config->parsed);
    config_setting_t *store = config_setting_get_member(root, "store");
    if (!store)
        return;
    if (!config->store.settings)
        config->store.settings = config_setting_add(store, "settings", CONFIG_TYPE_GROUP);
    config_setting_t *setting = config_setting_get_member(config->store.settings, key);
    if (!setting)
        setting = config_setting_add(config->store.settings, key, CONFIG_TYPE_STRING);
    config_setting_set_string(setting, value);
}

/* ## Loading ---------------------------------------------------------------------------------------------------- */

int config_load(hydra_config *config, const char *path, char *error, size_t error_size)
{
    memset(config, 0, sizeof *config);
    config_init(&config->parsed);
    config->path = xstrdup(path);
    config->base_dir = path_dirname(path);
    config_set_include_dir(&config->parsed, config->base_dir);
    checker c = {path, error, error_size};
    if (!path_is_file(path))
        return fail(&c, NULL, "cannot read: no such file");
    if (config_read_file(&config->parsed, path) != CONFIG_TRUE) {
        const char *file = config_error_file(&config->parsed);
        format_into(error, error_size, "config %s:%d: %s", file ? file : path, config_error_line(&config->parsed),
                    config_error_text(&config->parsed));
        return -1;
    }
    config_setting_t *root = config_root_setting(&config->parsed);
    if (check_members(&c, root, top_fields) != 0 || read_top_level(&c, config, root) != 0 ||
        read_clock(&c, config, config_setting_get_member(root, "clock")) != 0 ||
        read_lua(&c, config, config_setting_get_member(root, "lua")) != 0 ||
        read_plugins(&c, config, config_setting_get_member(root, "plugins")) != 0 ||
        read_notifiers(&c, config, config_setting_get_member(root, "notifiers")) != 0 ||
        read_targets(&c, config, config_setting_get_member(root, "targets")) != 0 ||
        read_models(&c, config, config_setting_get_member(root, "models")) != 0 ||
        read_daemon(&c, config, root) != 0 || read_dashboard(&c, config, root) != 0)
        return -1;
    return 0;
}

void config_free(hydra_config *config)
{
    for (size_t i = 0; i < config->plugin_count; i++) {
        free(config->plugins[i].name);
        free(config->plugins[i].instance);
        free(config->plugins[i].file);
    }
    for (size_t i = 0; i < config->target_count; i++)
        config_target_release(&config->targets[i]);
    for (size_t i = 0; i < config->notifier_count; i++)
        free(config->notifiers[i]);
    free(config->plugins);
    free(config->targets);
    free(config->notifiers);
    free(config->store.name);
    free(config->store.instance);
    free(config->store.file);
    free(config->listen_host);
    free(config->tenant);
    free(config->public_url);
    free(config->link_secret_file);
    free(config->web_root);
    free(config->reports_dir);
    free(config->policy_path);
    free(config->plugin_dir);
    free(config->base_dir);
    free(config->path);
    config_destroy(&config->parsed);
    memset(config, 0, sizeof *config);
}

static char *copy_or_null(const char *text) { return text ? xstrdup(text) : NULL; }

void config_target_copy(config_target *to, const config_target *from)
{
    *to = *from;
    to->name = copy_or_null(from->name);
    to->metric = copy_or_null(from->metric);
    to->forecaster = copy_or_null(from->forecaster);
    to->anomaly = copy_or_null(from->anomaly);
    to->scaler = copy_or_null(from->scaler);
    to->source = copy_or_null(from->source);
}

void config_target_release(config_target *target)
{
    free(target->name);
    free(target->metric);
    free(target->forecaster);
    free(target->anomaly);
    free(target->scaler);
    free(target->source);
}

/* ## Look-ups ---------------------------------------------------------------------------------------------------- */

const config_plugin *config_find_plugin(const hydra_config *config, int kind, const char *instance)
{
    for (size_t i = 0; i < config->plugin_count; i++)
        if (config->plugins[i].kind == kind && config->plugins[i].instance &&
            strcmp(config->plugins[i].instance, instance) == 0)
            return &config->plugins[i];
    return NULL;
}

const config_target *config_find_target(const hydra_config *config, const char *name)
{
    for (size_t i = 0; i < config->target_count; i++)
        if (config->targets[i].name && strcmp(config->targets[i].name, name) == 0)
            return &config->targets[i];
    return NULL;
}
