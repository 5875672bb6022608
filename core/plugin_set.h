/* The plugin instances a config asks for: each module loaded once, each instance created with its settings. */
#ifndef HYDRA_PLUGIN_SET_H
#define HYDRA_PLUGIN_SET_H

#include "config.h"
#include "instance.h"
#include "loader.h"

typedef struct plugin_set {
    loader_registry registry;
    plugin_instance **instances; /* in config order */
    size_t count;
} plugin_set;

/* Loads every configured plugin and creates its instance. Returns 0, or -1 with "config FILE:LINE: ..." in error
 * (and nothing left open). */
int plugin_set_open(plugin_set *set, const hydra_config *config, const hydra_clock *clock, char *error,
                    size_t error_size);
void plugin_set_close(plugin_set *set);
/* NULL when no instance of that kind has that name. */
plugin_instance *plugin_set_find(const plugin_set *set, int kind, const char *name);

#endif
