#include "support.h"

#include "log.h"
#include "util.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

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

/* ## A throwaway PostgreSQL ------------------------------------------------------------------------------------ */

int support_pg_start(char *dir, char *conninfo, const char **output)
{
    static const char *no_folder = "cannot make a folder for the server";
    format_into(dir, SUPPORT_PG_DIR_SIZE, "/tmp/hydra-pg-XXXXXX");
    if (!mkdtemp(dir)) {
        *output = no_folder;
        return -1;
    }
    /* With our pid, pg-server stops the server should this binary die before it stops it. */
    char *line = xasprintf("tests/pg-server start %s %d", dir, (int)getpid());
    int status = support_run(line, output);
    free(line);
    const char *found = strstr(*output, "host=");
    if (status != 0 || !found)
        return -1;
    format_into(conninfo, SUPPORT_PG_CONNINFO_SIZE, "%.*s", (int)strcspn(found, "\n"), found);
    return 0;
}

int support_pg_command(const char *action, const char *dir, const char **output)
{
    char *line = xasprintf("tests/pg-server %s %s", action, dir);
    int status = support_run(line, output);
    free(line);
    return status;
}

/* ## A daemon under test --------------------------------------------------------------------------------------- */

void support_daemon_init(support_daemon *daemon, const char *config)
{
    memset(daemon, 0, sizeof *daemon);
    format_into(daemon->dir, sizeof daemon->dir, "/tmp/hydra-daemon-XXXXXX");
    assert_non_null(mkdtemp(daemon->dir));
    format_into(daemon->data, sizeof daemon->data, "%s/hydra.db", daemon->dir);
    format_into(daemon->log, sizeof daemon->log, "%s/daemon.log", daemon->dir);
    format_into(daemon->config, sizeof daemon->config, "%s", config ? config : "configs/hydra.cfg");
}

void support_daemon_key(const support_daemon *daemon, const char *name, const char *scopes, char *secret,
                        size_t size)
{
    char *line = xasprintf("(%s/hydra keys create --config %s %s %s --tenant default --name %s --scopes %s "
                           "2>/dev/null)",
                           support_build_dir(), daemon->config, daemon->data[0] ? "--data" : "", daemon->data, name,
                           scopes);
    const char *output;
    int status = support_run(line, &output);
    free(line);
    if (status != 0)
        fail_msg("keys create failed: %s", output);
    format_into(secret, size, "%.*s", (int)strcspn(output, "\n"), output);
    assert_int_equal(strncmp(secret, "hydra_", 6), 0);
}

void support_daemon_start(support_daemon *daemon)
{
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    char *binary = xasprintf("%s/hydra", support_build_dir());
    daemon->pid = fork();
    if (daemon->pid == 0) {
        int log = open(daemon->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(pipe_fds[1], STDOUT_FILENO);
        if (log >= 0)
            dup2(log, STDERR_FILENO);
        close(pipe_fds[0]);
        execl(binary, binary, "serve", "--config", daemon->config, "--listen", "127.0.0.1:0",
              daemon->data[0] ? "--data" : NULL, daemon->data, (char *)NULL);
        _exit(127);
    }
    free(binary);
    close(pipe_fds[1]);
    FILE *output = fdopen(pipe_fds[0], "r");
    char line[256] = "";
    if (!fgets(line, sizeof line, output))
        fail_msg("the daemon did not start; its log is %s", daemon->log);
    fclose(output);
    assert_int_equal(sscanf(line, "hydra: listening on http://127.0.0.1:%d/api/v1", &daemon->port), 1);
}

int support_daemon_stop(support_daemon *daemon)
{
    int status = -1;
    if (daemon->pid > 0) {
        kill(daemon->pid, SIGTERM);
        waitpid(daemon->pid, &status, 0);
    }
    daemon->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void support_daemon_remove(support_daemon *daemon)
{
    support_daemon_stop(daemon);
    if (daemon->dir[0]) {
        char *cleanup = xasprintf("rm -rf %s", daemon->dir);
        support_run(cleanup, NULL);
        free(cleanup);
    }
}

support_reply support_call(const support_daemon *daemon, const char *method, const char *path, const char *key,
                           const char *body, const char *extra)
{
    char *body_file = body ? xstrdup(support_write_temp(body)) : NULL;
    char headers_file[96];
    format_into(headers_file, sizeof headers_file, "%s/headers", daemon->dir);
    char *auth = key ? xasprintf("-H 'Authorization: Bearer %s'", key) : xstrdup("");
    char *data = body_file ? xasprintf("-H 'Content-Type: application/json' --data-binary @%s", body_file)
                           : xstrdup("");
    char *line = xasprintf("curl -s -D %s -X %s %s %s %s -w '\\n%%{http_code}' 'http://127.0.0.1:%d%s'", headers_file,
                           method, auth, data, extra ? extra : "", daemon->port, path);
    const char *output;
    assert_int_equal(support_run(line, &output), 0);
    support_reply reply = {0, NULL, ""};
    const char *last = strrchr(output, '\n');
    assert_non_null(last);
    reply.status = atoi(last + 1);
    json_error_t ignored;
    reply.json = json_loadb(output, (size_t)(last - output), 0, &ignored);
    FILE *file = fopen(headers_file, "r");
    if (file) {
        reply.headers[fread(reply.headers, 1, sizeof reply.headers - 1, file)] = '\0';
        fclose(file);
    }
    if (body_file)
        unlink(body_file);
    free(body_file);
    free(auth);
    free(data);
    free(line);
    return reply;
}
