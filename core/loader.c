#include "loader.h"

#include "util.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ## What each kind must provide ---------------------------------------------------------------------------- */

typedef struct op_field {
    size_t offset;
    const char *name;
} op_field;

typedef struct kind_info {
    const char *name;
    size_t ops_size;
    op_field mandatory[32];
    op_field all_or_none[2][4]; /* optional groups: a plugin gives every op of a group or none of them */
} kind_info;

#define OP(type, field) {offsetof(type, field), #field}

static const kind_info kinds[] = {
    [HYDRA_KIND_FORECASTER] = {"forecaster", sizeof(hydra_forecaster_ops), {OP(hydra_forecaster_ops, predict)},
                               {{OP(hydra_forecaster_ops, model_open), OP(hydra_forecaster_ops, model_observe),
                                 OP(hydra_forecaster_ops, model_forecast), OP(hydra_forecaster_ops, model_close)},
                                {OP(hydra_forecaster_ops, model_save), OP(hydra_forecaster_ops, model_load)}}},
    [HYDRA_KIND_ANOMALY] = {"anomaly", sizeof(hydra_anomaly_ops), {OP(hydra_anomaly_ops, score)},
                            {{OP(hydra_anomaly_ops, model_open), OP(hydra_anomaly_ops, model_score),
                              OP(hydra_anomaly_ops, model_close)}}},
    [HYDRA_KIND_NOTIFIER] = {"notifier", sizeof(hydra_notifier_ops), {OP(hydra_notifier_ops, notify)}},
    [HYDRA_KIND_SCALER] = {"scaler", sizeof(hydra_scaler_ops),
                           {OP(hydra_scaler_ops, status), OP(hydra_scaler_ops, scale)}},
    [HYDRA_KIND_STORE] = {"store", sizeof(hydra_store_ops),
                          {OP(hydra_store_ops, migrate), OP(hydra_store_ops, append_samples),
                           OP(hydra_store_ops, query_samples), OP(hydra_store_ops, save_recommendation),
                           OP(hydra_store_ops, list_recommendations), OP(hydra_store_ops, get_recommendation),
                           OP(hydra_store_ops, put_api_key), OP(hydra_store_ops, find_api_key),
                           OP(hydra_store_ops, list_api_keys), OP(hydra_store_ops, revoke_api_key),
                           OP(hydra_store_ops, append_audit), OP(hydra_store_ops, put_alert),
                           OP(hydra_store_ops, list_alerts), OP(hydra_store_ops, health),
                           OP(hydra_store_ops, export_samples), OP(hydra_store_ops, aggregate_samples),
                           OP(hydra_store_ops, set_service_paused), OP(hydra_store_ops, list_services),
                           OP(hydra_store_ops, leader_hold), OP(hydra_store_ops, leader_release),
                           OP(hydra_store_ops, list_audit),
                           OP(hydra_store_ops, put_model_version), OP(hydra_store_ops, activate_model_version),
                           OP(hydra_store_ops, get_model_version), OP(hydra_store_ops, list_model_versions)},
                          {{OP(hydra_store_ops, backup), OP(hydra_store_ops, restore)}}},
    [HYDRA_KIND_SOURCE] = {"source", sizeof(hydra_source_ops), {OP(hydra_source_ops, pull)}},
};

static bool kind_known(long kind) { return kind >= HYDRA_KIND_FORECASTER && kind <= HYDRA_KIND_SOURCE; }

const char *loader_kind_name(int kind) { return kind_known(kind) ? kinds[kind].name : "unknown"; }

int loader_kind_parse(const char *name)
{
    for (int kind = HYDRA_KIND_FORECASTER; kind <= HYDRA_KIND_SOURCE; kind++)
        if (strcmp(kinds[kind].name, name) == 0)
            return kind;
    return 0;
}

const char *loader_kind_list(void) { return "forecaster, anomaly, notifier, scaler, store, source"; }

/* ## Checks, in the order STYLE.md fixes -------------------------------------------------------------------- */

static bool name_valid(const char *name)
{
    if (!name || !name[0] || strlen(name) > 64)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return true;
}

static const loader_module *registry_find(const loader_registry *registry, uint32_t kind, const char *name)
{
    for (size_t i = 0; i < registry->count; i++) {
        const hydra_plugin_descriptor *other = registry->modules[i]->descriptor;
        if (other->kind == kind && strcmp(other->name, name) == 0)
            return registry->modules[i];
    }
    return NULL;
}

static bool op_present(const void *ops, size_t offset)
{
    void (*fn)(void) = NULL;
    memcpy(&fn, (const char *)ops + offset, sizeof fn);
    return fn != NULL;
}

/* An optional group (streaming, backup and restore) is all or nothing: half of one would be called half the time. */
static int check_optional_group(const char *path, const void *ops, const kind_info *kind, const op_field *group,
                                char *error, size_t error_size)
{
    size_t present = 0, size = 0;
    for (; size < ARRAY_LEN(kind->all_or_none[0]) && group[size].name; size++)
        present += op_present(ops, group[size].offset);
    if (present == 0 || present == size)
        return 0;
    for (size_t i = 0; i < size; i++) {
        if (op_present(ops, group[i].offset))
            continue;
        format_into(error, error_size,
                    "plugin %s: missing mandatory op: expected %s op '%s' with the other %s ops, found NULL; "
                    "implement all of them or none",
                    path, kind->name, group[i].name, group[0].name);
        return -1;
    }
    return 0;
}

static int check_ops(const char *path, const hydra_plugin_descriptor *d, char *error, size_t error_size)
{
    const kind_info *kind = &kinds[d->kind];
    if (!d->create || !d->destroy) {
        format_into(error, error_size,
                    "plugin %s: missing mandatory op: expected create() and destroy() in the descriptor, found "
                    "%s NULL; implement both",
                    path, d->create ? "destroy" : "create");
        return -1;
    }
    if (!d->ops) {
        format_into(error, error_size,
                    "plugin %s: missing mandatory op: expected a %s ops table, found NULL; point the descriptor's "
                    "ops at a hydra_%s_ops",
                    path, kind->name, kind->name);
        return -1;
    }
    uint32_t ops_size;
    memcpy(&ops_size, d->ops, sizeof ops_size);
    if (ops_size != kind->ops_size) {
        format_into(error, error_size,
                    "plugin %s: %s ops size mismatch: expected %zu bytes, found %u; rebuild it against this "
                    "hydra's <hydra/plugin.h>",
                    path, kind->name, kind->ops_size, ops_size);
        return -1;
    }
    for (size_t i = 0; i < ARRAY_LEN(kind->mandatory) && kind->mandatory[i].name; i++) {
        if (op_present(d->ops, kind->mandatory[i].offset))
            continue;
        format_into(error, error_size,
                    "plugin %s: missing mandatory op: expected %s op '%s', found NULL; implement it", path,
                    kind->name, kind->mandatory[i].name);
        return -1;
    }
    for (size_t i = 0; i < ARRAY_LEN(kind->all_or_none); i++)
        if (check_optional_group(path, d->ops, kind, kind->all_or_none[i], error, error_size) != 0)
            return -1;
    return 0;
}

static int check_descriptor(const loader_registry *registry, const char *path, const hydra_plugin_descriptor *d,
                            int expected_kind, char *error, size_t error_size)
{
    if (!d) {
        format_into(error, error_size,
                    "plugin %s: no descriptor: expected %s() to return a descriptor, found NULL; return the "
                    "address of a static hydra_plugin_descriptor",
                    path, HYDRA_PLUGIN_ENTRY_SYMBOL);
        return -1;
    }
    if (d->abi_version != HYDRA_ABI_VERSION) {
        format_into(error, error_size, "plugin %s: ABI version mismatch: expected %u, found %u; %s", path,
                    HYDRA_ABI_VERSION, d->abi_version,
                    d->abi_version > HYDRA_ABI_VERSION
                        ? "the plugin is newer than this hydra: upgrade hydra or rebuild the plugin against its header"
                        : "the plugin is older than this hydra: rebuild it against this hydra's <hydra/plugin.h>");
        return -1;
    }
    if (d->size != sizeof(hydra_plugin_descriptor)) {
        format_into(error, error_size,
                    "plugin %s: descriptor size mismatch: expected %zu bytes, found %u; rebuild it against this "
                    "hydra's <hydra/plugin.h>",
                    path, sizeof(hydra_plugin_descriptor), d->size);
        return -1;
    }
    if (!kind_known(d->kind)) {
        format_into(error, error_size, "plugin %s: unknown kind: expected one of %s, found %u; fix the descriptor's kind",
                    path, loader_kind_list(), d->kind);
        return -1;
    }
    if (expected_kind != LOADER_ANY_KIND && (int)d->kind != expected_kind) {
        format_into(error, error_size,
                    "plugin %s: kind mismatch: expected %s (as configured), found %s; configure it as a %s or "
                    "point the config at a %s plugin",
                    path, loader_kind_name(expected_kind), loader_kind_name(d->kind), loader_kind_name(d->kind),
                    loader_kind_name(expected_kind));
        return -1;
    }
    if (!name_valid(d->name)) {
        format_into(error, error_size,
                    "plugin %s: invalid name: expected 1 to 64 characters of [a-z0-9_], found \"%s\"; rename it",
                    path, d->name ? d->name : "(null)");
        return -1;
    }
    const loader_module *other = registry_find(registry, d->kind, d->name);
    if (other) {
        format_into(error, error_size,
                    "plugin %s: duplicate name: expected a %s name not yet loaded, found \"%s\" already loaded "
                    "from %s; load only one of them or rename one",
                    path, loader_kind_name(d->kind), d->name, other->path);
        return -1;
    }
    return check_ops(path, d, error, error_size);
}

/* ## Loading ------------------------------------------------------------------------------------------------ */

static loader_module *registry_find_path(const loader_registry *registry, const char *path)
{
    char *real = realpath(path, NULL);
    loader_module *found = NULL;
    for (size_t i = 0; real && i < registry->count && !found; i++) {
        char *other = realpath(registry->modules[i]->path, NULL);
        if (other && strcmp(other, real) == 0)
            found = registry->modules[i];
        free(other);
    }
    free(real);
    return found;
}

static void *open_shared_object(const char *path, char *error, size_t error_size)
{
    if (!path_is_file(path)) {
        format_into(error, error_size, "plugin %s: no such file: expected a plugin .so, found nothing; check the path "
                    "or run make", path);
        return NULL;
    }
    /* A bare name would make dlopen search the library path: always pass a path. */
    char *explicit_path = strchr(path, '/') ? xstrdup(path) : xasprintf("./%s", path);
    void *handle = dlopen(explicit_path, RTLD_NOW | RTLD_LOCAL);
    free(explicit_path);
    if (!handle)
        format_into(error, error_size,
                    "plugin %s: not a loadable shared object: expected an ELF shared library built with -shared, "
                    "found an error (%s); rebuild it or fix the path",
                    path, dlerror());
    return handle;
}

loader_module *loader_load(loader_registry *registry, const char *path, int expected_kind, char *error,
                           size_t error_size)
{
    loader_module *existing = registry_find_path(registry, path);
    if (existing) {
        if (expected_kind == LOADER_ANY_KIND || (int)existing->descriptor->kind == expected_kind)
            return existing;
        format_into(error, error_size, "plugin %s: kind mismatch: expected %s (as configured), found %s; configure "
                    "it as a %s", path, loader_kind_name(expected_kind), loader_kind_name(existing->descriptor->kind),
                    loader_kind_name(existing->descriptor->kind));
        return NULL;
    }
    void *handle = open_shared_object(path, error, error_size);
    if (!handle)
        return NULL;
    hydra_plugin_entry_fn entry;
    void *symbol = dlsym(handle, HYDRA_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &symbol, sizeof entry);
    if (!symbol) {
        format_into(error, error_size,
                    "plugin %s: no entry symbol: expected an exported function '%s', found none; define it with "
                    "HYDRA_PLUGIN(descriptor) from <hydra/plugin.h>",
                    path, HYDRA_PLUGIN_ENTRY_SYMBOL);
        dlclose(handle);
        return NULL;
    }
    const hydra_plugin_descriptor *descriptor = entry();
    if (check_descriptor(registry, path, descriptor, expected_kind, error, error_size) != 0) {
        dlclose(handle);
        return NULL;
    }
    loader_module *module = xcalloc(1, sizeof *module);
    module->path = xstrdup(path);
    module->handle = handle;
    module->descriptor = descriptor;
    registry->modules = xrealloc(registry->modules, (registry->count + 1) * sizeof *registry->modules);
    registry->modules[registry->count++] = module;
    return module;
}

void loader_registry_free(loader_registry *registry)
{
    for (size_t i = 0; i < registry->count; i++) {
        /* Under LeakSanitizer a closed library hides where its leaks came from: keep it mapped there. */
#ifndef HYDRA_KEEP_PLUGINS_MAPPED
        dlclose(registry->modules[i]->handle);
#endif
        free(registry->modules[i]->path);
        free(registry->modules[i]);
    }
    free(registry->modules);
    registry->modules = NULL;
    registry->count = 0;
}

/* ## Where plugins live ------------------------------------------------------------------------------------- */

char *loader_default_plugin_dir(void)
{
    const char *chosen = getenv("HYDRA_PLUGIN_DIR");
    if (chosen && chosen[0])
        return xstrdup(chosen);
    char *beside = path_beside_executable("plugins");
    if (beside && path_is_dir(beside))
        return beside;
    free(beside);
    return xstrdup(HYDRA_PLUGIN_INSTALL_DIR);
}

char *loader_plugin_path(const char *dir, int kind, const char *name)
{
    return xasprintf("%s/%s/%s.so", dir, loader_kind_name(kind), name);
}
