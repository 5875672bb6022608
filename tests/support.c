#include "support.h"

#include "log.h"
#include "util.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *support_build_dir(void)
{
    const char *dir = getenv("HYDRA_BUILD_DIR");
    return dir && dir[0] ? dir : "build";
}

const char *support_plugin_path(const char *kind, const char *name)
{
    static char path[1024];
    format_into(path, sizeof path, "%s/plugins/%s/%s.so", support_build_dir(), kind, name);
    return path;
}

plugin_instance *support_plugin_open(support_plugin *plugin, const char *kind, const char *name,
                                     const char *settings_text)
{
    memset(plugin, 0, sizeof *plugin);
    clock_init_virtual(&plugin->clock, 0);
    config_init(&plugin->config);
    char *text = xasprintf("settings = { %s };", settings_text ? settings_text : "");
    int parsed = config_read_string(&plugin->config, text);
    free(text);
    if (parsed != CONFIG_TRUE) {
        format_into(plugin->error, sizeof plugin->error, "settings line %d: %s", config_error_line(&plugin->config),
                    config_error_text(&plugin->config));
        return NULL;
    }
    loader_module *module = loader_load(&plugin->registry, support_plugin_path(kind, name), loader_kind_parse(kind),
                                        plugin->error, sizeof plugin->error);
    if (!module)
        return NULL;
    instance_context context = {.clock = &plugin->clock, .base_dir = "."};
    plugin->instance = instance_create(module, name, config_lookup(&plugin->config, "settings"), &context,
                                       plugin->error, sizeof plugin->error);
    return plugin->instance;
}

void support_plugin_close(support_plugin *plugin)
{
    instance_destroy(plugin->instance);
    plugin->instance = NULL;
    loader_registry_free(&plugin->registry);
    config_destroy(&plugin->config);
}

static char *captured;
static size_t captured_length;

static void capture_line(void *context, hydra_log_level level, const char *line)
{
    (void)context;
    (void)level;
    size_t length = strlen(line);
    captured = xrealloc(captured, captured_length + length + 2);
    memcpy(captured + captured_length, line, length);
    captured_length += length;
    captured[captured_length++] = '\n';
    captured[captured_length] = '\0';
}

void support_log_start(void)
{
    support_log_stop();
    log_set_level(HYDRA_LOG_DEBUG);
    log_set_sink(capture_line, NULL);
}

const char *support_log_text(void) { return captured ? captured : ""; }

void support_log_stop(void)
{
    log_set_sink(NULL, NULL);
    log_set_level(HYDRA_LOG_INFO);
    free(captured);
    captured = NULL;
    captured_length = 0;
}

int support_run(const char *command_line, const char **output)
{
    static char buffer[1 << 16];
    char *full = xasprintf("%s 2>&1", command_line);
    FILE *pipe = popen(full, "r");
    free(full);
    size_t length = pipe ? fread(buffer, 1, sizeof buffer - 1, pipe) : 0;
    buffer[length] = '\0';
    int status = pipe ? pclose(pipe) : -1;
    if (output)
        *output = buffer;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *support_write_temp(const char *text)
{
    static char paths[4][64];
    static unsigned next;
    char *path = paths[next++ % 4];
    format_into(path, sizeof paths[0], "/tmp/hydra-test-XXXXXX");
    int fd = mkstemp(path);
    size_t length = strlen(text);
    if (fd < 0 || write(fd, text, length) != (ssize_t)length) {
        fprintf(stderr, "support: cannot write %s\n", path);
        abort();
    }
    close(fd);
    return path;
}

void support_forecast_alloc(hydra_forecast *forecast, size_t horizon)
{
    memset(forecast, 0, sizeof *forecast);
    forecast->horizon = horizon;
    double **arrays[] = {&forecast->mean, &forecast->lower80, &forecast->upper80, &forecast->lower95,
                         &forecast->upper95};
    for (size_t i = 0; i < ARRAY_LEN(arrays); i++)
        *arrays[i] = xcalloc(horizon, sizeof(double));
    for (size_t c = 0; c < HYDRA_FORECAST_MAX_COMPONENTS; c++)
        forecast->components[c] = xcalloc(horizon, sizeof(double));
}

void support_forecast_free(hydra_forecast *forecast)
{
    double *arrays[] = {forecast->mean, forecast->lower80, forecast->upper80, forecast->lower95, forecast->upper95};
    for (size_t i = 0; i < ARRAY_LEN(arrays); i++)
        free(arrays[i]);
    for (size_t c = 0; c < HYDRA_FORECAST_MAX_COMPONENTS; c++)
        free(forecast->components[c]);
}

double support_sample_value(const char *exposition, const char *series)
{
    size_t length = strlen(series);
    for (const char *line = exposition; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, series, length) == 0 && line[length] == ' ')
            return strtod(line + length + 1, NULL);
    return 0;
}

char *support_read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *sink = open_memstream(&text, &size);
    char chunk[8192];
    size_t got;
    while (sink && (got = fread(chunk, 1, sizeof chunk, file)) > 0)
        fwrite(chunk, 1, got, sink);
    fclose(file);
    if (sink)
        fclose(sink);
    return text;
}

int support_make_install(const char *prefix, char *stage, size_t size, const char **output)
{
    format_into(stage, size, "/tmp/hydra-stage-XXXXXX");
    if (!mkdtemp(stage)) {
        *output = "cannot make a staging folder under /tmp";
        return -1;
    }
    const char *sanitize = getenv("HYDRA_SANITIZE");
    char *install = xasprintf("make -s install O=%s SANITIZE=%s PREFIX=%s DESTDIR=%s >/dev/null", support_build_dir(),
                              sanitize ? sanitize : "", prefix, stage);
    int status = support_run(install, output);
    free(install);
    return status;
}
