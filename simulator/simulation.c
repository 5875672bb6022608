#include "simulation.h"

#include "cluster.h"
#include "config.h"
#include "controller.h"
#include "demand_feed.h"
#include "log.h"
#include "plugin_set.h"
#include "policy.h"
#include "report.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ## The simulated operator ------------------------------------------------------------------------------------ */

typedef struct pending_answer {
    char id[REC_ID_MAX];
    double answer_at;
    bool approve;
} pending_answer;

typedef struct operator_sim {
    const scenario_operator *habits;
    const scenario *world;
    scenario_random random; /* its own stream: the operator does not change the traffic */
    pending_answer *queue;
    size_t queued, capacity;
    size_t seen;            /* recommendations already looked at */
    double *response_times;
    size_t responses;
} operator_sim;

static bool asleep_at(const operator_sim *op, double t)
{
    double from = op->habits->asleep_from_hour, to = op->habits->asleep_to_hour;
    if (from == to)
        return false;
    double hour = scenario_local_hour(op->world, t);
    return from < to ? hour >= from && hour < to : hour >= from || hour < to;
}

/* When the operator answers a request made at t: after waking if asleep, then a log-normal delay. */
static double answer_time(operator_sim *op, double t)
{
    while (asleep_at(op, t))
        t += 60;
    double median = fmax(op->habits->median_seconds, 1);
    double sigma = log(fmax(op->habits->p90_seconds, median) / median) / 1.2815516;
    return t + median * exp(sigma * scenario_random_normal(&op->random));
}

static void operator_notice(operator_sim *op, recommendation_book *book)
{
    for (; op->seen < book->count; op->seen++) {
        const recommendation *rec = book->items[op->seen];
        if (rec->state != REC_PENDING || !op->habits->present)
            continue;
        if (op->queued == op->capacity) {
            op->capacity = op->capacity ? op->capacity * 2 : 64;
            op->queue = xrealloc(op->queue, op->capacity * sizeof *op->queue);
        }
        pending_answer *answer = &op->queue[op->queued++];
        format_into(answer->id, sizeof answer->id, "%s", rec->id);
        answer->answer_at = answer_time(op, rec->created_at);
        answer->approve = scenario_random_uniform(&op->random) < op->habits->approve_probability;
    }
}

static void operator_answer(operator_sim *op, controller *ctl, double now)
{
    recommendation_book *book = controller_recommendations(ctl);
    size_t kept = 0;
    for (size_t i = 0; i < op->queued; i++) {
        pending_answer *answer = &op->queue[i];
        if (answer->answer_at > now) {
            op->queue[kept++] = *answer;
            continue;
        }
        const recommendation *rec = recommendation_find(book, answer->id);
        if (!rec || rec->state != REC_PENDING)
            continue; /* expired before the answer came */
        double waited = now - rec->created_at;
        if (controller_decide(ctl, answer->id, answer->approve, "operator (simulated)",
                              answer->approve ? "approved" : "declined", now) == 0) {
            op->response_times = xrealloc(op->response_times, (op->responses + 1) * sizeof *op->response_times);
            op->response_times[op->responses++] = waited;
        }
    }
    op->queued = kept;
}

/* ## Building the run ------------------------------------------------------------------------------------------- */

typedef struct run {
    hydra_config config;
    scenario world;
    hydra_clock clock;
    hydra_clock scenario_clock; /* the scenario's own: its traffic is computed ahead of the controller's clock */
    plugin_set plugins;
    policy *policy;
    cluster *cluster;
    plugin_instance *scaler;
    controller *controller;
    operator_sim op;
    demand_feed *feed; /* the demand of every service, step by step */
} run;

static const hydra_plugin_descriptor cluster_descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_SCALER,
    .name = "simulated",
    .version = HYDRA_VERSION,
    .description = "the simulator's cluster: replicas, cold starts, queues, latency",
};

int simulation_targets_from_services(hydra_config *config, const scenario *world, char *error, size_t error_size)
{
    if (config->target_count == 0) {
        format_into(error, error_size, "config %s: a simulation needs at least one target as the template of the "
                    "scenario's services", config->path);
        return -1;
    }
    config_target *targets = xcalloc(world->service_count, sizeof *targets);
    for (size_t i = 0; i < world->service_count; i++) {
        const scenario_service *service = &world->services[i];
        const config_target *template = config_find_target(config, service->name);
        config_target_copy(&targets[i], template ? template : &config->targets[0]);
        free(targets[i].name);
        targets[i].name = xstrdup(service->name);
        targets[i].capacity_per_replica = service->capacity_per_replica;
        targets[i].cold_start_seconds = service->cold_start_seconds;
        targets[i].min_replicas = service->min_replicas;
        targets[i].max_replicas = service->max_replicas;
    }
    for (size_t i = 0; i < config->target_count; i++)
        config_target_release(&config->targets[i]);
    free(config->targets);
    config->targets = targets;
    config->target_count = world->service_count;
    config->tick_seconds = world->step;
    return 0;
}

static int targets_from_services(run *r, char *error, size_t error_size)
{
    if (simulation_targets_from_services(&r->config, &r->world, error, error_size) != 0)
        return -1;
    /* A simulation tells no real person anything: its operator is simulated. */
    for (size_t i = 0; i < r->config.notifier_count; i++)
        free(r->config.notifiers[i]);
    r->config.notifier_count = 0;
    return 0;
}

plugin_instance *simulation_cluster_scaler(const scenario *world, const hydra_clock *clock, cluster **out,
                                           char *error, size_t error_size)
{
    *out = cluster_create();
    for (size_t i = 0; i < world->service_count; i++) {
        const scenario_service *s = &world->services[i];
        cluster_service_spec spec = {s->name, s->capacity_per_replica, s->cold_start_seconds, s->min_replicas,
                                     s->max_replicas, s->initial_replicas, s->latency_slo_ms, s->base_latency_ms,
                                     s->queue_limit_seconds};
        if (cluster_add_service(*out, &spec) != 0) {
            format_into(error, error_size, "%s: service %s: %s", world->path, s->name, cluster_error(*out));
            return NULL;
        }
    }
    cluster_set_time(*out, world->start);
    static hydra_plugin_descriptor descriptor;
    descriptor = cluster_descriptor;
    descriptor.ops = cluster_scaler_ops();
    instance_context context = {.clock = clock};
    return instance_create_builtin(&descriptor, "simulated", *out, &context);
}

static int run_open(run *r, const simulation_options *options, char *error, size_t error_size)
{
    if (config_load(&r->config, options->config_path, error, error_size) != 0)
        return -1;
    log_set_level(r->config.log_level);
    script_options limits = {r->config.lua_memory_limit, r->config.lua_instruction_limit, &r->scenario_clock, NULL,
                             NULL};
    if (scenario_load(&r->world, options->scenario_path, &options->overrides, &limits, error, error_size) != 0)
        return -1;
    clock_init_virtual(&r->clock, r->world.start);
    clock_init_virtual(&r->scenario_clock, r->world.start);
    limits.clock = &r->clock; /* the policy's script runs with the controller */
    if (targets_from_services(r, error, error_size) != 0 ||
        plugin_set_open(&r->plugins, &r->config, &r->clock, error, error_size) != 0 ||
        !(r->scaler = simulation_cluster_scaler(&r->world, &r->clock, &r->cluster, error, error_size)))
        return -1;
    r->policy = policy_open(options->policy_path ? options->policy_path : r->config.policy_path, &limits, error,
                            error_size);
    if (!r->policy)
        return -1;
    controller_setup setup = {&r->config, &r->plugins, r->policy, &r->clock, r->scaler, "sim", NULL, NULL, NULL, 0};
    r->controller = controller_create(&setup, error, error_size);
    r->op.habits = &r->world.operator;
    r->op.world = &r->world;
    scenario_random_seed(&r->op.random, r->world.seed ^ 0x6f70657261746f72ULL);
    return r->controller ? 0 : -1;
}

static void run_close(run *r)
{
    demand_feed_stop(r->feed, NULL);
    controller_destroy(r->controller);
    instance_destroy(r->scaler);
    cluster_destroy(r->cluster);
    policy_close(r->policy);
    plugin_set_close(&r->plugins);
    scenario_free(&r->world);
    config_free(&r->config);
    free(r->op.queue);
    free(r->op.response_times);
}

/* ## Running --------------------------------------------------------------------------------------------------- */

static void write_csv_row(FILE *csv, const run *r, size_t service, double t, double demand,
                          const cluster_step_result *step)
{
    controller_view view;
    controller_view_target(r->controller, service, &view);
    char stamp[32];
    clock_format_time(t, stamp, sizeof stamp);
    fprintf(csv, "%s,%s,%.3f,", stamp, view.name, demand);
    if (!isnan(view.forecast))
        fprintf(csv, "%.3f", view.forecast); /* empty while the forecaster warms up */
    fprintf(csv, ",%d,%d,%.1f,%.3f\n", step->ready, step->desired, step->latency_ms, step->dropped);
}

static void show_progress(const run *r, double t, bool done)
{
    double elapsed = t - r->world.start;
    fprintf(stderr, "\rsimulating %s: day %.0f of %.0f (%3.0f %%)%s", r->world.name, floor(elapsed / 86400) + (done ? 0 : 1),
            r->world.duration / 86400, 100 * elapsed / r->world.duration, done ? "\n" : "");
    fflush(stderr);
}

/* One step of every service: traffic in, the cluster serves it, the controller sees it and ticks. */
static int run_step(run *r, FILE *csv, long step_index, double t, char *error, size_t error_size)
{
    cluster_set_time(r->cluster, t);
    const double *demands = demand_feed_take(r->feed, step_index, error, error_size);
    if (!demands)
        return -1;
    for (size_t i = 0; i < r->world.service_count; i++) {
        double demand = demands[i];
        double capacity = scenario_capacity_factor(&r->world, i, t);
        cluster_step_result step;
        /* A loss of capacity is demand the remaining replicas must carry. */
        cluster_offer_at(r->cluster, i, t, r->world.step, capacity > 0 ? demand / capacity : demand * 1e6, &step);
        controller_observe(r->controller, i, t, demand);
        if (csv)
            write_csv_row(csv, r, i, t, demand, &step);
    }
    double next = t + r->world.step;
    r->clock.virtual_now = next;
    cluster_set_time(r->cluster, next);
    operator_answer(&r->op, r->controller, next);
    controller_tick(r->controller, next);
    operator_notice(&r->op, controller_recommendations(r->controller));
    return 0;
}

/* ## Results ---------------------------------------------------------------------------------------------------- */

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *values, size_t count, double p)
{
    if (count == 0)
        return 0;
    qsort(values, count, sizeof *values, compare_doubles);
    size_t rank = (size_t)ceil(p * (double)count);
    return values[rank > 0 ? rank - 1 : 0];
}

static void count_recommendations(run *r, simulation_result *out)
{
    recommendation_book *book = controller_recommendations(r->controller);
    out->recommendations.total = (long)book->count;
    for (size_t i = 0; i < book->count; i++) {
        const recommendation *rec = book->items[i];
        out->recommendations.asked += rec->asked;
        out->recommendations.auto_approved += !rec->asked && rec->state != REC_REJECTED;
        out->recommendations.approved += rec->asked && rec->state >= REC_EXECUTING;
        out->recommendations.rejected += rec->state == REC_REJECTED;
        out->recommendations.expired += rec->state == REC_EXPIRED;
        out->recommendations.executed += rec->state == REC_EXECUTED;
        out->recommendations.failed += rec->state == REC_FAILED;
    }
}

static void collect(run *r, simulation_result *out)
{
    format_into(out->scenario, sizeof out->scenario, "%s", r->world.path);
    format_into(out->policy, sizeof out->policy, "%s", policy_name(r->policy));
    out->seed = r->world.seed;
    out->days = r->world.duration / 86400;
    out->step_seconds = r->world.step;
    out->service_count = r->world.service_count;
    out->services = xcalloc(out->service_count, sizeof *out->services);
    for (size_t i = 0; i < out->service_count; i++) {
        cluster_service_totals totals;
        cluster_totals_at(r->cluster, i, &totals);
        simulation_service_result *s = &out->services[i];
        format_into(s->name, sizeof s->name, "%s", r->world.services[i].name);
        s->slo_violation_minutes = totals.slo_violation_seconds / 60;
        s->dropped_requests = totals.dropped_requests;
        s->replica_hours = totals.replica_seconds / 3600;
        s->max_replicas = totals.max_replicas;
        s->scale_actions = totals.scale_actions;
        out->slo_violation_minutes += s->slo_violation_minutes;
        out->dropped_requests += s->dropped_requests;
        out->replica_hours += s->replica_hours;
    }
    count_recommendations(r, out);
    out->policy_errors = policy_error_count(r->policy);
    out->human_response_median = percentile(r->op.response_times, r->op.responses, 0.5);
    out->human_response_p90 = percentile(r->op.response_times, r->op.responses, 0.9);
}

static double seconds_of(clockid_t which)
{
    struct timespec now;
    clock_gettime(which, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

static double wall_now(void) { return seconds_of(CLOCK_MONOTONIC); }

/* The CSV the run writes: the one asked for, or a temporary one when only a report needs it. */
static FILE *open_series(const simulation_options *options, char *temp_path, char *error, size_t error_size)
{
    if (!options->csv_path && !options->report_path)
        return NULL;
    FILE *csv = NULL;
    if (options->csv_path) {
        csv = fopen(options->csv_path, "w");
    } else {
        int fd = mkstemp(temp_path);
        csv = fd >= 0 ? fdopen(fd, "w") : NULL;
    }
    if (!csv)
        format_into(error, error_size, "%s: cannot write: %m", options->csv_path ? options->csv_path : temp_path);
    else
        fputs("time,service,demand,forecast,ready_replicas,desired_replicas,latency_ms,dropped\n", csv);
    return csv;
}

static report_mark_kind mark_kind(const recommendation *rec, double *at)
{
    *at = rec->created_at;
    if (!rec->asked)
        return rec->state == REC_REJECTED ? REPORT_MARK_REJECTED : REPORT_MARK_AUTO;
    if (rec->state == REC_PENDING)
        return REPORT_MARK_ASKED;
    *at = rec->decided_at;
    return rec->state == REC_EXPIRED ? REPORT_MARK_EXPIRED : rec->state == REC_REJECTED ? REPORT_MARK_REJECTED
                                                                                         : REPORT_MARK_APPROVED;
}

/* Marks what people did: asked (when asked) and their answer. Auto-approved steps show as the capacity line. */
static int write_report(run *r, const char *output, const char *csv_path, char *error, size_t error_size)
{
    recommendation_book *book = controller_recommendations(r->controller);
    report_mark *marks = xcalloc(2 * book->count + 1, sizeof *marks);
    size_t mark_count = 0;
    for (size_t i = 0; i < book->count; i++) {
        const recommendation *rec = book->items[i];
        if (rec->asked)
            marks[mark_count++] = (report_mark){rec->created_at, rec->target, REPORT_MARK_ASKED, rec->to_replicas};
        double at;
        report_mark_kind kind = mark_kind(rec, &at);
        if (kind != REPORT_MARK_ASKED && kind != REPORT_MARK_AUTO)
            marks[mark_count++] = (report_mark){at, rec->target, kind, rec->to_replicas};
    }
    report_service *services = xcalloc(r->world.service_count, sizeof *services);
    for (size_t i = 0; i < r->world.service_count; i++)
        services[i] = (report_service){r->world.services[i].name, r->world.services[i].capacity_per_replica};
    report_band *bands = NULL;
    size_t band_count = 0;
    report_bands_from_prayer_times(&r->world, r->world.start, r->world.start + r->world.duration, &bands, &band_count);
    report_input input = {output, csv_path, r->world.name, services, r->world.service_count, bands, band_count,
                          marks, mark_count, r->world.has_location ? r->world.location.utc_offset_hours : 0, 0, 0, 0};
    int status = report_write(&input, error, error_size);
    free(bands);
    free(services);
    free(marks);
    return status;
}

static void write_time(FILE *out, double t)
{
    char stamp[32];
    if (t > 0) {
        clock_format_time(t, stamp, sizeof stamp);
        fputs(stamp, out);
    }
}

/* One row per recommendation: the audit of a run. The reason is quoted (it has commas) and comes last. */
static int write_decisions(run *r, const char *path, char *error, size_t error_size)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        format_into(error, error_size, "%s: cannot write: %m", path);
        return -1;
    }
    fputs("id,target,created_at,from_replicas,to_replicas,asked,state,decided_by,decided_at,finished_at,"
          "forecast_peak,forecast_peak_at,reason\n", out);
    recommendation_book *book = controller_recommendations(r->controller);
    for (size_t i = 0; i < book->count; i++) {
        const recommendation *rec = book->items[i];
        fprintf(out, "%s,%s,", rec->id, rec->target);
        write_time(out, rec->created_at);
        fprintf(out, ",%d,%d,%s,%s,%s,", rec->from_replicas, rec->to_replicas, rec->asked ? "yes" : "no",
                recommendation_state_name(rec->state), rec->decided_by);
        write_time(out, rec->decided_at);
        fputc(',', out);
        write_time(out, rec->finished_at);
        fprintf(out, ",%.1f,", rec->forecast_peak);
        write_time(out, rec->forecast_peak_at);
        fputs(",\"", out);
        for (const char *c = rec->reason; *c; c++)
            fputs(*c == '"' ? "\"\"" : (char[]){*c, 0}, out);
        fputs("\"\n", out);
    }
    if (fclose(out) != 0) {
        format_into(error, error_size, "%s: cannot write: %m", path);
        return -1;
    }
    return 0;
}

int simulation_run(const simulation_options *options, simulation_result *result, char *error, size_t error_size)
{
    memset(result, 0, sizeof *result);
    run r;
    memset(&r, 0, sizeof r);
    char temp_csv[] = "/tmp/hydra-series-XXXXXX";
    int status = run_open(&r, options, error, error_size);
    FILE *csv = status == 0 ? open_series(options, temp_csv, error, error_size) : NULL;
    if (status == 0 && !csv && (options->csv_path || options->report_path))
        status = -1;
    double started = wall_now(), cpu_started = seconds_of(CLOCK_THREAD_CPUTIME_ID);
    double end = r.world.start + r.world.duration;
    long steps = 0, progress_every = (long)fmax(1, r.world.duration / r.world.step / 200);
    long step_count = status == 0 ? (long)ceil((r.world.duration - 1e-9) / r.world.step) : 0;
    if (status == 0 && !(r.feed = demand_feed_start(&r.world, &r.scenario_clock, step_count, error, error_size)))
        status = -1;
    for (; status == 0 && steps < step_count; steps++) {
        double t = r.world.start + (double)steps * r.world.step; /* as the feed computes it */
        status = run_step(&r, csv, steps, t, error, error_size);
        if (options->progress && steps % progress_every == 0)
            show_progress(&r, t, false);
    }
    if (options->progress && status == 0)
        show_progress(&r, end, true);
    double wall = wall_now() - started, controller_cpu = seconds_of(CLOCK_THREAD_CPUTIME_ID) - cpu_started;
    double traffic_cpu = 0;
    demand_feed_stop(r.feed, &traffic_cpu);
    r.feed = NULL;
    if (csv && fclose(csv) != 0 && status == 0) {
        format_into(error, error_size, "%s: cannot write: %m", options->csv_path ? options->csv_path : temp_csv);
        status = -1;
    }
    if (status == 0 && options->report_path)
        status = write_report(&r, options->report_path, options->csv_path ? options->csv_path : temp_csv, error,
                              error_size);
    if (csv && !options->csv_path)
        unlink(temp_csv);
    if (status == 0 && options->decisions_path)
        status = write_decisions(&r, options->decisions_path, error, error_size);
    if (status == 0) {
        collect(&r, result);
        result->wall_seconds = wall;
        result->controller_cpu_seconds = controller_cpu;
        result->traffic_cpu_seconds = traffic_cpu;
        result->service_ticks_per_second = (double)steps * (double)r.world.service_count / fmax(wall, 1e-9);
    }
    run_close(&r);
    return status;
}

void simulation_result_free(simulation_result *result)
{
    free(result->services);
    memset(result, 0, sizeof *result);
}

/* ## Reporting ------------------------------------------------------------------------------------------------- */

void simulation_print_scorecard(FILE *out, const simulation_result *r)
{
    fprintf(out, "scenario %s, %g days at %gs steps, seed %llu, %s\n", r->scenario, r->days, r->step_seconds, r->seed,
            r->policy);
    fprintf(out, "  %-22s %12s %14s %13s %8s %8s\n", "service", "SLO minutes", "dropped", "replica-hours",
            "max", "actions");
    for (size_t i = 0; i < r->service_count; i++) {
        const simulation_service_result *s = &r->services[i];
        fprintf(out, "  %-22s %12.1f %14.0f %13.1f %8d %8ld\n", s->name, s->slo_violation_minutes, s->dropped_requests,
                s->replica_hours, s->max_replicas, s->scale_actions);
    }
    fprintf(out, "  %-22s %12.1f %14.0f %13.1f\n", "total", r->slo_violation_minutes, r->dropped_requests,
            r->replica_hours);
    fprintf(out, "  recommendations: %ld (auto-approved %ld, asked %ld: approved %ld, rejected %ld, expired %ld); "
                 "policy errors %lu\n",
            r->recommendations.total, r->recommendations.auto_approved, r->recommendations.asked,
            r->recommendations.approved, r->recommendations.rejected, r->recommendations.expired, r->policy_errors);
    fprintf(out, "  a person answered in %.0f s (median), %.0f s (p90)\n", r->human_response_median,
            r->human_response_p90);
    fprintf(out, "  ran in %.2f s: %.0f service-ticks per second\n", r->wall_seconds, r->service_ticks_per_second);
}

static json_t *services_json(const simulation_result *r)
{
    json_t *services = json_array();
    for (size_t i = 0; i < r->service_count; i++) {
        const simulation_service_result *s = &r->services[i];
        json_array_append_new(services, json_pack("{s:s, s:f, s:f, s:f, s:i, s:I}", "name", s->name,
                                                  "slo_violation_minutes", s->slo_violation_minutes, "dropped_requests",
                                                  s->dropped_requests, "replica_hours", s->replica_hours,
                                                  "max_replicas", s->max_replicas, "scale_actions",
                                                  (json_int_t)s->scale_actions));
    }
    return services;
}

json_t *simulation_result_json(const simulation_result *r)
{
    return json_pack(
        "{s:s, s:s, s:I, s:f, s:f, s:{s:f, s:f, s:f}, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:I, "
        "s:{s:f, s:f}, s:f, s:f}",
        "scenario", r->scenario, "policy", r->policy, "seed", (json_int_t)r->seed, "days", r->days, "step_seconds",
        r->step_seconds, "totals", "slo_violation_minutes", r->slo_violation_minutes, "dropped_requests",
        r->dropped_requests, "replica_hours", r->replica_hours, "services", services_json(r), "recommendations",
        "total", (json_int_t)r->recommendations.total, "auto_approved", (json_int_t)r->recommendations.auto_approved,
        "asked", (json_int_t)r->recommendations.asked, "approved", (json_int_t)r->recommendations.approved,
        "rejected", (json_int_t)r->recommendations.rejected, "expired", (json_int_t)r->recommendations.expired,
        "executed", (json_int_t)r->recommendations.executed, "failed", (json_int_t)r->recommendations.failed,
        "policy_errors", (json_int_t)r->policy_errors, "human_response_seconds", "median", r->human_response_median,
        "p90", r->human_response_p90, "wall_seconds", r->wall_seconds, "service_ticks_per_second",
        r->service_ticks_per_second);
}

static int write_document(const char *path, json_t *doc, char *error, size_t error_size)
{
    int status = doc ? json_dump_file(doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : -1;
    json_decref(doc);
    if (status != 0)
        format_into(error, error_size, "%s: cannot write the JSON scorecard", path);
    return status;
}

int simulation_write_json(const char *path, const simulation_result *r, char *error, size_t error_size)
{
    return write_document(path, simulation_result_json(r), error, error_size);
}

int simulation_write_comparison_json(const char *path, const simulation_result *results, size_t count, char *error,
                                     size_t error_size)
{
    json_t *runs = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(runs, simulation_result_json(&results[i]));
    json_t *doc = json_pack("{s:s, s:s, s:o}", "kind", "comparison", "scenario", count ? results[0].scenario : "",
                            "runs", runs);
    return write_document(path, doc, error, error_size);
}
