#include "log.h"

#include "util.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static hydra_log_level minimum_level = HYDRA_LOG_INFO;
static log_format current_format = LOG_FORMAT_TEXT;
static log_sink_fn current_sink;
static void *current_sink_context;

/* Each HTTP thread answers one request at a time; the id lives with the thread, not in a global. */
static _Thread_local char current_request_id[80];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(hydra_log_level level) { minimum_level = level; }
void log_set_format(log_format format) { current_format = format; }

void log_set_request_id(const char *request_id)
{
    format_into(current_request_id, sizeof current_request_id, "%s", request_id ? request_id : "");
}

void log_set_sink(log_sink_fn sink, void *context)
{
    current_sink = sink;
    current_sink_context = context;
}

const char *log_level_name(hydra_log_level level)
{
    return (unsigned)level < ARRAY_LEN(level_names) ? level_names[level] : "unknown";
}

bool log_level_parse(const char *name, hydra_log_level *out)
{
    for (size_t i = 0; i < ARRAY_LEN(level_names); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (hydra_log_level)i;
            return true;
        }
    }
    return false;
}

/* A sink sees one line at a time: the simulator's traffic thread and the controller may log at once. */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;

static void emit(hydra_log_level level, const char *message)
{
    if (current_sink) {
        pthread_mutex_lock(&sink_lock);
        current_sink(current_sink_context, level, message);
        pthread_mutex_unlock(&sink_lock);
        return;
    }
    if (current_format == LOG_FORMAT_JSON) {
        json_t *line = json_pack("{s:f, s:s, s:s}", "ts", (double)time(NULL), "level", log_level_name(level),
                                 "msg", message);
        if (line && current_request_id[0])
            json_object_set_new(line, "request_id", json_string(current_request_id));
        char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
        fprintf(stderr, "%s\n", text ? text : message);
        free(text);
        json_decref(line);
        return;
    }
    fprintf(stderr, "hydra: %s%s%s%s%s\n",
            level >= HYDRA_LOG_WARN ? (level == HYDRA_LOG_WARN ? "warning: " : "error: ") : "", message,
            current_request_id[0] ? " (request " : "", current_request_id, current_request_id[0] ? ")" : "");
}

void log_vwrite(hydra_log_level level, const char *fmt, va_list args)
{
    if (level < minimum_level)
        return;
    char message[4096];
    vformat_into(message, sizeof message, fmt, args);
    emit(level, message);
}

void log_write(hydra_log_level level, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    log_vwrite(level, fmt, args);
    va_end(args);
}
