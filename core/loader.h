/* The plugin loader: dlopen(RTLD_NOW | RTLD_LOCAL) and the checks of the ABI, in a fixed order. Each rejection is
 * one line naming the file, what was expected, what was found, and what to do. */
#ifndef HYDRA_LOADER_H
#define HYDRA_LOADER_H

#include <hydra/plugin.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct loader_module {
    char *path;
    void *handle;
    const hydra_plugin_descriptor *descriptor;
} loader_module;

/* The modules loaded so far; a (kind, name) may be loaded once. */
typedef struct loader_registry {
    loader_module **modules;
    size_t count;
} loader_registry;

#define LOADER_ANY_KIND 0

/* Loads path, expecting expected_kind (or LOADER_ANY_KIND). Loading the same file again returns the same module.
 * NULL on rejection, with the one-line reason in error. */
loader_module *loader_load(loader_registry *registry, const char *path, int expected_kind, char *error,
                           size_t error_size);
void loader_registry_free(loader_registry *registry);

const char *loader_kind_name(int kind);
/* 0 when name is not a kind. */
int loader_kind_parse(const char *name);
/* "forecaster, anomaly, notifier, scaler, store, source" */
const char *loader_kind_list(void);

/* The folder plugins are looked for in when the config names none: $HYDRA_PLUGIN_DIR, else build/plugins beside a
 * build/hydra binary, else the install folder. Newly allocated. */
char *loader_default_plugin_dir(void);
/* <dir>/<kind>/<name>.so, newly allocated. */
char *loader_plugin_path(const char *dir, int kind, const char *name);

#endif
