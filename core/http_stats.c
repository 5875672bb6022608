#include "http_stats.h"

#include "util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds in seconds; a request slower than the last lands only in the implicit +Inf bucket. */
static const double bucket_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define BUCKETS ARRAY_LEN(bucket_bounds)
#define STATUS_CODES 16 /* distinct codes one route answers: a handful in practice */

typedef struct status_count {
    int code;
    unsigned long long count;
} status_count;

typedef struct route_series {
    char *method;
    char *route;
    status_count codes[STATUS_CODES];
    unsigned long long buckets[BUCKETS]; /* not cumulative here; summed when written */
    unsigned long long count;
    double sum;
} route_series;

struct http_stats {
    pthread_mutex_t lock;
    route_series *series;
    size_t count;
};

http_stats *http_stats_create(void)
{
    http_stats *stats = xcalloc(1, sizeof *stats);
    pthread_mutex_init(&stats->lock, NULL);
    return stats;
}

void http_stats_destroy(http_stats *stats)
{
    if (!stats)
        return;
    for (size_t i = 0; i < stats->count; i++) {
        free(stats->series[i].method);
        free(stats->series[i].route);
    }
    free(stats->series);
    pthread_mutex_destroy(&stats->lock);
    free(stats);
}

static route_series *series_for(http_stats *stats, const char *method, const char *route)
{
    for (size_t i = 0; i < stats->count; i++)
        if (strcmp(stats->series[i].method, method) == 0 && strcmp(stats->series[i].route, route) == 0)
            return &stats->series[i];
    stats->series = xrealloc(stats->series, (stats->count + 1) * sizeof *stats->series);
    route_series *added = &stats->series[stats->count++];
    memset(added, 0, sizeof *added);
    added->method = xstrdup(method);
    added->route = xstrdup(route);
    return added;
}

static void count_status(route_series *series, int status)
{
    size_t i = 0;
    while (i < STATUS_CODES && series->codes[i].code != 0 && series->codes[i].code != status)
        i++;
    if (i == STATUS_CODES) /* more distinct codes than expected: the last slot takes the rest */
        i--;
    if (series->codes[i].code == 0)
        series->codes[i].code = status;
    series->codes[i].count++;
}

void http_stats_record(http_stats *stats, const char *method, const char *route, int status, double seconds)
{
    pthread_mutex_lock(&stats->lock);
    route_series *series = route ? series_for(stats, method, route) : series_for(stats, "other", "unmatched");
    count_status(series, status);
    for (size_t i = 0; i < BUCKETS; i++)
        if (seconds <= bucket_bounds[i]) {
            series->buckets[i]++;
            break;
        }
    series->count++;
    series->sum += seconds;
    pthread_mutex_unlock(&stats->lock);
}

/* ## Exposition ------------------------------------------------------------------------------------------------ */

typedef struct text_buffer {
    char *data;
    size_t length, capacity;
} text_buffer;

static void append(text_buffer *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(text_buffer *out, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int needed = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (out->length + (size_t)needed + 1 > out->capacity) {
        out->capacity = (out->length + (size_t)needed + 1) * 2;
        out->data = xrealloc(out->data, out->capacity);
    }
    va_start(args, fmt);
    vsnprintf(out->data + out->length, out->capacity - out->length, fmt, args);
    va_end(args);
    out->length += (size_t)needed;
}

/* A label value as the text format wants it: backslash, double quote and line feed escaped. */
static char *label_value(const char *text)
{
    char *escaped = xmalloc(2 * strlen(text) + 1), *to = escaped;
    for (const char *c = text; *c; c++) {
        if (*c == '\\' || *c == '"' || *c == '\n')
            *to++ = '\\';
        *to++ = *c == '\n' ? 'n' : *c;
    }
    *to = '\0';
    return escaped;
}

static void write_counts(text_buffer *out, const route_series *s, const char *labels)
{
    for (size_t i = 0; i < STATUS_CODES && s->codes[i].code; i++)
        append(out, "hydra_http_requests_total{%s,code=\"%d\"} %llu\n", labels, s->codes[i].code, s->codes[i].count);
}

static void write_histogram(text_buffer *out, const route_series *s, const char *labels)
{
    unsigned long long cumulative = 0;
    for (size_t i = 0; i < BUCKETS; i++) {
        cumulative += s->buckets[i];
        append(out, "hydra_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", labels, bucket_bounds[i],
               cumulative);
    }
    append(out, "hydra_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", labels, s->count);
    append(out, "hydra_http_request_duration_seconds_sum{%s} %.9g\n", labels, s->sum);
    append(out, "hydra_http_request_duration_seconds_count{%s} %llu\n", labels, s->count);
}

/* Each family's samples stand together under its one HELP and TYPE, as the format requires. */
char *http_stats_exposition(http_stats *stats)
{
    text_buffer out = {xstrdup(""), 0, 1};
    pthread_mutex_lock(&stats->lock);
    size_t count = stats->count;
    char **labels = xcalloc(count + 1, sizeof *labels);
    for (size_t i = 0; i < stats->count; i++) {
        char *method = label_value(stats->series[i].method), *route = label_value(stats->series[i].route);
        labels[i] = xasprintf("method=\"%s\",route=\"%s\"", method, route);
        free(method);
        free(route);
    }
    if (stats->count)
        append(&out, "# HELP hydra_http_requests_total HTTP requests answered, by method, route and status code\n"
                     "# TYPE hydra_http_requests_total counter\n");
    for (size_t i = 0; i < stats->count; i++)
        write_counts(&out, &stats->series[i], labels[i]);
    if (stats->count)
        append(&out, "# HELP hydra_http_request_duration_seconds time from a request's headers to its answer\n"
                     "# TYPE hydra_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < stats->count; i++)
        write_histogram(&out, &stats->series[i], labels[i]);
    pthread_mutex_unlock(&stats->lock);
    for (size_t i = 0; i < count; i++)
        free(labels[i]);
    free(labels);
    return out.data;
}
