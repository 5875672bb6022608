/* Targets whose samples come from a source plugin (Prometheus, say) rather than the ingest route. */
#include "daemon_app.h"

#include "instance.h"
#include "log.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Prometheus refuses more than 11,000 points a series in one range query. */
#define PULL_STEPS_MAX 10000

typedef struct pulled {
    hydra_sample *samples;
    size_t count, capacity;
} pulled;

static int keep_sample(void *context, const hydra_sample *sample)
{
    pulled *p = context;
    if (p->count == p->capacity) {
        p->capacity = p->capacity ? 2 * p->capacity : 256;
        p->samples = xrealloc(p->samples, p->capacity * sizeof *p->samples);
    }
    p->samples[p->count++] = *sample; /* its service and metric are replaced by the target's before use */
    return 0;
}

static void pull_failed(daemon_app *app, size_t index, const char *why)
{
    if (!app->pull_failing[index])
        log_warn("service %s: cannot pull from source %s (%s); trying again each tick",
                 app->store.config.targets[index].name, app->store.config.targets[index].source, why);
    app->pull_failing[index] = true;
}

/* What the source has since the last pull, in chunks it can answer, stored before the controller sees it. */
static void pull_target(daemon_app *app, size_t index, double now)
{
    const hydra_config *config = &app->store.config;
    const config_target *target = &config->targets[index];
    plugin_instance *source = plugin_set_find(&app->plugins, HYDRA_KIND_SOURCE, target->source);
    double step = config->tick_seconds;
    while (source && app->pulled_until[index] + step <= now) {
        double from = app->pulled_until[index] + step, to = fmin(now, from + PULL_STEPS_MAX * step);
        pulled batch = {0};
        if (instance_pull(source, target->name, target->metric, from, to, step, keep_sample, &batch) != 0) {
            pull_failed(app, index, instance_error(source));
            free(batch.samples);
            return;
        }
        /* A source's strings need not outlive the call; the target's config does. */
        for (size_t i = 0; i < batch.count; i++) {
            batch.samples[i].service = target->name;
            batch.samples[i].metric = target->metric;
        }
        if (batch.count && app->store.ops->append_samples(app->store.state, config->tenant, batch.samples, batch.count,
                                                          NULL, NULL, 0) < 0) {
            pull_failed(app, index, instance_error(app->store.instance));
            free(batch.samples);
            return;
        }
        if (batch.count)
            daemon_feed_controller(app, batch.samples, batch.count);
        /* Steps without a value (gaps) are not asked for again: the source had nothing for them. */
        double newest = batch.count ? batch.samples[batch.count - 1].ts : to - step;
        app->pulled_until[index] = fmax(newest, to - step);
        free(batch.samples);
        if (app->pull_failing[index])
            log_info("service %s: pulling from source %s again", target->name, target->source);
        app->pull_failing[index] = false;
    }
}

void daemon_pull_sources(daemon_app *app, double now)
{
    const hydra_config *config = &app->store.config;
    for (size_t i = 0; i < config->target_count; i++)
        if (config->targets[i].source)
            pull_target(app, i, now);
}
