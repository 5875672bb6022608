#include "plugin_set.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

static plugin_instance *find_peer(const void *peers, int kind, const char *name)
{
    return plugin_set_find(peers, kind, name);
}

int plugin_set_open(plugin_set *set, const hydra_config *config, const hydra_clock *clock, char *error,
                    size_t error_size)
{
    memset(set, 0, sizeof *set);
    set->instances = xcalloc(config->plugin_count, sizeof *set->instances);
    instance_context context = {
        .clock = clock,
        .base_dir = config->base_dir,
        .script_memory_limit = config->lua_memory_limit,
        .script_instruction_limit = config->lua_instruction_limit,
        .find_peer = find_peer,
        .peers = set,
    };
    for (size_t i = 0; i < config->plugin_count; i++) {
        const config_plugin *wanted = &config->plugins[i];
        char reason[2048];
        loader_module *module = loader_load(&set->registry, wanted->file, wanted->kind, reason, sizeof reason);
        plugin_instance *instance =
            module ? instance_create(module, wanted->instance, wanted->settings, &context, reason, sizeof reason) : NULL;
        if (!instance) {
            /* Setting errors already carry their own file:line. */
            if (strncmp(reason, "config ", 7) == 0)
                format_into(error, error_size, "%s", reason);
            else
                format_into(error, error_size, "config %s:%d: plugins[%zu]: %s", config->path, wanted->line, i, reason);
            plugin_set_close(set);
            return -1;
        }
        set->instances[set->count++] = instance;
    }
    return 0;
}

void plugin_set_close(plugin_set *set)
{
    /* Instances first: their code lives in the modules. */
    for (size_t i = set->count; i > 0; i--)
        instance_destroy(set->instances[i - 1]);
    free(set->instances);
    loader_registry_free(&set->registry);
    memset(set, 0, sizeof *set);
}

plugin_instance *plugin_set_find(const plugin_set *set, int kind, const char *name)
{
    for (size_t i = 0; i < set->count; i++)
        if (instance_kind(set->instances[i]) == kind && strcmp(instance_name(set->instances[i]), name) == 0)
            return set->instances[i];
    return NULL;
}
