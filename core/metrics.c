#include "metrics.h"

#include "util.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct metric {
    char *owner;
    char *name;
    char *help;
    hydra_metric_type type;
    double value;
} metric;

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static metric *metrics;
static size_t metric_count;

static bool metric_name_valid(const char *name)
{
    if (!name || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_')
            return false;
    return true;
}

static long metric_find(const char *owner, const char *name)
{
    for (size_t i = 0; i < metric_count; i++)
        if (strcmp(metrics[i].owner, owner) == 0 && strcmp(metrics[i].name, name) == 0)
            return (long)i;
    return -1;
}

int metrics_register(const char *owner, const char *name, const char *help, hydra_metric_type type)
{
    if (!metric_name_valid(name) || (type != HYDRA_METRIC_COUNTER && type != HYDRA_METRIC_GAUGE))
        return -1;
    pthread_mutex_lock(&metrics_lock);
    long found = metric_find(owner, name);
    int handle = (int)found;
    if (found >= 0 && metrics[found].type != type)
        handle = -1;
    if (found < 0) {
        metrics = xrealloc(metrics, (metric_count + 1) * sizeof *metrics);
        metrics[metric_count] = (metric){xstrdup(owner), xstrdup(name), xstrdup(help ? help : ""), type, 0};
        handle = (int)metric_count++;
    }
    pthread_mutex_unlock(&metrics_lock);
    return handle;
}

static void metric_update(int handle, double amount, bool is_delta)
{
    pthread_mutex_lock(&metrics_lock);
    if (handle >= 0 && (size_t)handle < metric_count) {
        metric *m = &metrics[handle];
        /* A counter only goes up. */
        if (is_delta && (m->type == HYDRA_METRIC_GAUGE || amount >= 0))
            m->value += amount;
        else if (!is_delta && (m->type == HYDRA_METRIC_GAUGE || amount >= m->value))
            m->value = amount;
    }
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_add(int handle, double delta) { metric_update(handle, delta, true); }
void metrics_set(int handle, double value) { metric_update(handle, value, false); }

double metrics_value(const char *owner, const char *name)
{
    pthread_mutex_lock(&metrics_lock);
    long found = metric_find(owner, name);
    double value = found >= 0 ? metrics[found].value : NAN;
    pthread_mutex_unlock(&metrics_lock);
    return value;
}

void metrics_each(metrics_visitor visit, void *context)
{
    pthread_mutex_lock(&metrics_lock);
    for (size_t i = 0; i < metric_count; i++)
        visit(context, metrics[i].owner, metrics[i].name, metrics[i].help, metrics[i].type, metrics[i].value);
    pthread_mutex_unlock(&metrics_lock);
}
