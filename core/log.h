/* The process log: one line per event on stderr (text, or JSON for the daemon), filtered by level.
 * Tests and the CLI may install a sink to capture lines. */
#ifndef HYDRA_LOG_H
#define HYDRA_LOG_H

#include <hydra/plugin.h>
#include <stdarg.h>
#include <stdbool.h>

typedef enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON } log_format;
typedef void (*log_sink_fn)(void *context, hydra_log_level level, const char *line);

void log_set_level(hydra_log_level level);
void log_set_format(log_format format);
/* Parses "debug", "info", "warn" or "error"; returns false for anything else. */
bool log_level_parse(const char *name, hydra_log_level *out);
const char *log_level_name(hydra_log_level level);
/* Replaces stderr with sink (NULL restores stderr). */
void log_set_sink(log_sink_fn sink, void *context);

/* The request this thread is answering (NULL: none). Every line the thread logs meanwhile carries it: a JSON line as
 * its own "request_id" field, a text line as a "(request ID)" suffix. The text is copied. */
void log_set_request_id(const char *request_id);

void log_write(hydra_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vwrite(hydra_log_level level, const char *fmt, va_list args);

#define log_debug(...) log_write(HYDRA_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(HYDRA_LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(HYDRA_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(HYDRA_LOG_ERROR, __VA_ARGS__)

#endif
