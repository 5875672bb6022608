/* A fitted model as text, for forecasters' model_save and model_load (the model registry): one "name value..." line
 * per field, numbers written with 17 significant digits so that a loaded model forecasts exactly as the saved one.
 * The first line names the plugin and the format's version. Reading is strict: a missing, repeated-short or
 * unparsable field fails with a message naming it, so a damaged state is refused rather than half loaded. */
#ifndef HYDRA_MODEL_TEXT_H
#define HYDRA_MODEL_TEXT_H

#include <hydra/plugin.h>

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ## Writing: snprintf's contract, over several calls ---------------------------------------------------------- */

typedef struct model_text_writer {
    char *buffer;
    size_t size;
    size_t length; /* what the whole text needs, even past size */
} model_text_writer;

static inline void model_text_put(model_text_writer *w, const char *fmt, ...) HYDRA_PRINTF(2, 3);
static inline void model_text_put(model_text_writer *w, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    size_t room = w->length < w->size ? w->size - w->length : 0;
    int written = vsnprintf(room ? w->buffer + w->length : NULL, room, fmt, args);
    va_end(args);
    if (written > 0)
        w->length += (size_t)written;
}

static inline void model_text_put_double(model_text_writer *w, const char *name, double value)
{
    model_text_put(w, "%s %.17g\n", name, value);
}

static inline void model_text_put_doubles(model_text_writer *w, const char *name, const double *values, size_t count)
{
    model_text_put(w, "%s", name);
    for (size_t i = 0; i < count; i++)
        model_text_put(w, " %.17g", values[i]);
    model_text_put(w, "\n");
}

/* ## Reading --------------------------------------------------------------------------------------------------- */

/* The text after "name " on the line that starts with name; NULL when there is none. */
static inline const char *model_text_field(const char *text, const char *name)
{
    size_t length = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (strncmp(line, name, length) == 0 && line[length] == ' ')
            return line + length + 1;
    return NULL;
}

/* count numbers on the field's line, nothing else on it; false with the host's error naming the field. */
static inline bool model_text_doubles(const hydra_host *host, const char *text, const char *name, double *out,
                                      size_t count)
{
    const char *at = model_text_field(text, name);
    if (!at) {
        host->set_error(host, "saved model: no field '%s'", name);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        char *end = NULL;
        out[i] = strtod(at, &end);
        if (end == at || (*end != ' ' && *end != '\n' && *end != '\0')) {
            host->set_error(host, "saved model: field '%s' value %zu of %zu is not a number", name, i + 1, count);
            return false;
        }
        at = end;
    }
    if (*at != '\n' && *at != '\0') {
        host->set_error(host, "saved model: field '%s' has more than %zu values", name, count);
        return false;
    }
    return true;
}

static inline bool model_text_double(const hydra_host *host, const char *text, const char *name, double *out)
{
    return model_text_doubles(host, text, name, out, 1);
}

/* A count: a whole number from 0 to max. */
static inline bool model_text_size(const hydra_host *host, const char *text, const char *name, size_t max,
                                   size_t *out)
{
    double value;
    if (!model_text_double(host, text, name, &value))
        return false;
    if (!(value >= 0 && value <= (double)max) || value != floor(value)) {
        host->set_error(host, "saved model: field '%s' must be a whole number from 0 to %zu, found %g", name, max,
                        value);
        return false;
    }
    *out = (size_t)value;
    return true;
}

/* The first line: "<plugin> <format version>". */
static inline bool model_text_header(const hydra_host *host, const char *text, const char *plugin, int version)
{
    char expected[64];
    snprintf(expected, sizeof expected, "%s %d\n", plugin, version);
    if (strncmp(text, expected, strlen(expected)) == 0)
        return true;
    host->set_error(host, "saved model: expected a first line '%s %d' (a %s model of format %d), found '%.40s'",
                    plugin, version, plugin, version, text);
    return false;
}

#endif
