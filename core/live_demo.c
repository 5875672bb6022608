#include "live_demo.h"

#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "simulation.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKFILL_BATCH_STEPS 1440 /* steps of history stored per transaction */
#define BEHIND_SECONDS 2.0        /* this far behind its pace, the demo stops trying to catch up */

struct live_demo {
    scenario world;
    cluster *cluster;
    plugin_instance *scaler;
    double speed;
    double *demand;          /* of every service at the step being run */
    bool store_failing;      /* said once when storing starts failing, once when it works again */
    hydra_sample *samples;   /* the step's samples, as the ingest route takes them */
};

plugin_instance *live_demo_scaler(live_demo *live) { return live->scaler; }
double live_demo_speed(const live_demo *live) { return live->speed; }

void live_demo_close(live_demo *live)
{
    if (!live)
        return;
    instance_destroy(live->scaler);
    cluster_destroy(live->cluster);
    scenario_free(&live->world);
    free(live->demand);
    free(live->samples);
    free(live);
}

/* ## Setting up ------------------------------------------------------------------------------------------------ */

/* A person has wall seconds to answer, whatever the speed; the planner asks as far ahead as that takes. */
static void scale_approval_times(hydra_config *config, double speed)
{
    config->approval_timeout_seconds = fmax(config->approval_timeout_seconds, LIVE_ANSWER_WALL_SECONDS * speed);
    config->approval_latency_seconds = fmax(config->approval_latency_seconds, LIVE_LATENCY_WALL_SECONDS * speed);
    double lead = config->approval_latency_seconds + 3600;
    config->horizon_seconds = fmax(config->horizon_seconds, lead);
}

static int count_key(void *context, const hydra_api_key_record *record)
{
    *(size_t *)context += record->revoked_at == 0;
    return 0;
}

/* Nobody could have made a key for a store made for this run: one with read and approve, shown once. */
static int ensure_demo_key(daemon_app *app)
{
    const hydra_config *config = &app->store.config;
    size_t keys = 0;
    if (app->store.ops->list_api_keys(app->store.state, config->tenant, count_key, &keys) != 0)
        return -1;
    if (keys > 0)
        return 0;
    char secret[KEYS_SECRET_MAX], hash[KEYS_HASH_HEX];
    if (keys_generate(secret) != 0)
        return -1;
    keys_hash(secret, hash);
    hydra_api_key_record record = {config->tenant, "demo", hash, "read,approve", (double)time(NULL), 0};
    if (app->store.ops->put_api_key(app->store.state, &record) != 0)
        return -1;
    printf("hydra: demo key (read, approve): %s\n", secret);
    return 0;
}

static int count_sample(void *context, double ts, double value)
{
    (void)ts, (void)value;
    ++*(size_t *)context;
    return 0;
}

/* The scenario's traffic over [from, to) into the store, as the ingest route stores it. */
static int store_history(daemon_app *app, live_demo *live, double from, double to, char *error, size_t error_size)
{
    const scenario *world = &live->world;
    size_t services = world->service_count, capacity = BACKFILL_BATCH_STEPS * services, count = 0;
    hydra_sample *batch = xcalloc(capacity, sizeof *batch);
    int status = 0;
    for (double t = from; status == 0 && t < to - 1e-9; t += world->step) {
        status = scenario_demand_all(&live->world, t, live->demand, error, error_size);
        for (size_t i = 0; status == 0 && i < services; i++)
            batch[count++] = (hydra_sample){world->services[i].name, app->store.config.targets[i].metric,
                                            t + world->step, live->demand[i]};
        if (status == 0 && (count == capacity || t + world->step >= to - 1e-9) && count > 0) {
            if (app->store.ops->append_samples(app->store.state, app->store.config.tenant, batch, count, NULL, NULL,
                                               0) < 0) {
                format_into(error, error_size, "store: the scenario's history not stored: %s",
                            instance_error(app->store.instance));
                status = -1;
            }
            count = 0;
        }
    }
    free(batch);
    return status;
}

/* The history the models need: the days before the live part, up to the config's history, unless stored already
 * (a demo restarted on the same data file). */
static int backfill(daemon_app *app, live_demo *live, double live_from, char *error, size_t error_size)
{
    const hydra_config *config = &app->store.config;
    double from = fmax(live->world.start, live_from - config->history_seconds);
    from = live->world.start + floor((from - live->world.start) / live->world.step) * live->world.step;
    if (from >= live_from)
        return 0;
    size_t stored = 0;
    if (app->store.ops->query_samples(app->store.state, config->tenant, config->targets[0].name,
                                      config->targets[0].metric, from, live_from + 1, count_sample, &stored) != 0) {
        format_into(error, error_size, "store: %s", instance_error(app->store.instance));
        return -1;
    }
    if (stored > 0) {
        log_info("live demo: the scenario's history is in the store already (%zu samples of %s)", stored,
                 config->targets[0].name);
        return 0;
    }
    double began = clock_monotonic();
    if (store_history(app, live, from, live_from, error, error_size) != 0)
        return -1;
    log_info("live demo: %.1f days of the scenario's history stored in %.1f s", (live_from - from) / 86400,
             clock_monotonic() - began);
    return 0;
}

live_demo *live_demo_open(daemon_app *app, const daemon_options *options, char *error, size_t error_size)
{
    hydra_config *config = &app->store.config;
    live_demo *live = xcalloc(1, sizeof *live);
    live->speed = options->speed > 0 ? options->speed : LIVE_DEFAULT_SPEED;
    script_options limits = {config->lua_memory_limit, config->lua_instruction_limit, &app->clock, NULL, NULL};
    scenario_overrides overrides = {false, 0, 0};
    if (scenario_load(&live->world, options->scenario_path, &overrides, &limits, error, error_size) != 0) {
        live_demo_close(live);
        return NULL;
    }
    const scenario *world = &live->world;
    double day = isnan(options->start_day) ? fmin(LIVE_DEFAULT_START_DAY, world->duration / 86400 / 2)
                                           : options->start_day;
    double live_from = world->start + round(day * 86400 / world->step) * world->step;
    if (day < 0 || live_from >= world->start + world->duration) {
        format_into(error, error_size, "--start-day %g: the scenario %s runs %g days", day, world->path,
                    world->duration / 86400);
        live_demo_close(live);
        return NULL;
    }
    live->demand = xcalloc(world->service_count, sizeof *live->demand);
    live->samples = xcalloc(world->service_count, sizeof *live->samples);
    clock_init_virtual(&app->clock, live_from);
    if (simulation_targets_from_services(config, world, error, error_size) != 0 ||
        !(live->scaler = simulation_cluster_scaler(world, &app->clock, &live->cluster, error, error_size)) ||
        backfill(app, live, live_from, error, error_size) != 0) {
        live_demo_close(live);
        return NULL;
    }
    cluster_set_time(live->cluster, live_from);
    scale_approval_times(config, live->speed);
    if (!config->has_location && world->has_location) { /* the dashboard's calendar is the scenario's place */
        config->has_location = true;
        config->location = world->location;
    }
    if (ensure_demo_key(app) != 0)
        log_warn("live demo: no demo key made: %s", instance_error(app->store.instance));
    app->clock_speed = live->speed;
    return live;
}

/* ## Running --------------------------------------------------------------------------------------------------- */

/* One step [t, t + step): the cluster serves the traffic, the clock moves to the step's end, and the step's
 * samples go in through the ingest path, which stores them and evaluates every target. */
static int live_step(daemon_app *app, live_demo *live, double t)
{
    const scenario *world = &live->world;
    char error[1024];
    if (scenario_demand_all(&live->world, t, live->demand, error, sizeof error) != 0) {
        log_error("live demo: %s", error);
        return -1;
    }
    double next = t + world->step;
    pthread_mutex_lock(&app->lock);
    cluster_set_time(live->cluster, t);
    for (size_t i = 0; i < world->service_count; i++) {
        double capacity = scenario_capacity_factor(world, i, t);
        /* A loss of capacity is demand the remaining replicas must carry. */
        cluster_offer_at(live->cluster, i, t, world->step, capacity > 0 ? live->demand[i] / capacity
                                                                         : live->demand[i] * 1e6, NULL);
        live->samples[i] = (hydra_sample){world->services[i].name, app->store.config.targets[i].metric, next,
                                          live->demand[i]};
    }
    app->clock.virtual_now = next;
    cluster_set_time(live->cluster, next);
    pthread_mutex_unlock(&app->lock);
    bool stored = daemon_ingest(app, app->store.config.tenant, live->samples, world->service_count, NULL, NULL,
                                0) >= 0;
    if (stored == live->store_failing) {
        live->store_failing = !stored;
        if (stored)
            log_info("live demo: samples are stored again");
        else
            log_error("live demo: samples not stored, until the store is back: %s", instance_error(app->store.instance));
    }
    if (!stored)
        return 0; /* the store may come back: the clock goes on, as traffic would */
    pthread_mutex_lock(&app->lock);
    dashboard_publish_ticks(app, next);
    pthread_mutex_unlock(&app->lock);
    metrics_add(metrics_register("core", "ticks_total", "controller ticks", HYDRA_METRIC_COUNTER), 1);
    return 0;
}

static void announce(daemon_app *app, const live_demo *live)
{
    char at[32];
    clock_format_time(clock_now(&app->clock), at, sizeof at);
    printf("hydra: live demo of \"%s\" from %s, %g simulated seconds per second; the dashboard is at http://%s:%d/\n",
           live->world.name, at, live->speed, app->store.config.listen_host, http_port(app->http));
    fflush(stdout);
}

void live_demo_run(daemon_app *app, volatile sig_atomic_t *stop)
{
    live_demo *live = app->live;
    double end = live->world.start + live->world.duration, step = live->world.step;
    double wall_origin = clock_monotonic(), clock_origin = clock_now(&app->clock);
    bool finished = false;
    announce(app, live);
    while (!*stop) {
        double t = clock_now(&app->clock), now = clock_monotonic();
        double due = wall_origin + (t + step - clock_origin) / live->speed; /* when the step [t, t + step) ends */
        if (!finished && now - due > BEHIND_SECONDS) { /* a slow machine: go on at its pace rather than rush */
            log_warn("live demo: %.1f s behind a speed of %g; going on from here", now - due, live->speed);
            wall_origin = now - step / live->speed;
            clock_origin = t;
        } else if (!finished && now >= due && (t + step > end + 1e-6 || live_step(app, live, t) != 0)) {
            finished = true;
            log_info("live demo: the scenario ends here; the daemon serves on until stopped");
        }
        dashboard_heartbeat(app);
        double wait = finished ? 0.1 : fmin(0.1, due - clock_monotonic());
        if (wait > 0) {
            struct timespec pause = {0, (long)(wait * 1e9)};
            nanosleep(&pause, NULL);
        }
    }
}
