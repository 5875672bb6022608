#include "planner.h"

#include "clock.h"
#include "util.h"

#include <math.h>
#include <string.h>

void planner_memory_init(planner_memory *memory)
{
    memory->low_since = NAN;
    memory->low_window_max = 0;
}

int planner_replicas_for(const config_target *target, double load)
{
    if (!(load > 0))
        return 0;
    double replicas = ceil(load * (1 + target->headroom) / target->capacity_per_replica - 1e-9);
    return replicas > 1e6 ? 1000000 : (int)replicas;
}

static int clamp_replicas(const config_target *target, int replicas)
{
    if (replicas < target->min_replicas)
        return target->min_replicas;
    return replicas > target->max_replicas ? target->max_replicas : replicas;
}

/* The highest forecast within the lead time (at least the first step). */
static void forecast_peak(const planner_input *in, double *peak, double *peak_at)
{
    *peak = NAN;
    *peak_at = in->now;
    for (size_t i = 0; i < in->forecast_count; i++) {
        double at = in->now + (double)(i + 1) * in->step;
        if (i > 0 && at > in->now + in->lead_seconds + 1e-9)
            break;
        if (isnan(*peak) || in->forecast[i] > *peak) {
            *peak = in->forecast[i];
            *peak_at = at;
        }
    }
}

static void describe_time(double at, char *buffer, size_t size)
{
    char stamp[32];
    clock_format_time(at, stamp, sizeof stamp);
    format_into(buffer, size, "%.5s UTC", stamp + 11);
}

void planner_explain(const planner_decision *d, char *buffer, size_t size)
{
    const planner_input *in = &d->input;
    char when[32];
    describe_time(d->peak_at, when, sizeof when);
    bool overloaded = in->current_load > in->ready_replicas * in->target->capacity_per_replica;
    if (d->reactive && overloaded)
        format_into(buffer, size, "load now %.0f is above ready capacity %.0f (%d ready x %g): needs %d replicas",
                    in->current_load, in->ready_replicas * in->target->capacity_per_replica, in->ready_replicas,
                    in->target->capacity_per_replica, d->wanted);
    else if (d->reactive)
        format_into(buffer, size, "load now %.0f needs %d replicas (%g per replica, %.0f %% headroom; no forecast)",
                    in->current_load, d->wanted, in->target->capacity_per_replica, in->target->headroom * 100);
    else
        format_into(buffer, size,
                    "forecast peak %.0f at %s within the %.0f min lead needs %d replicas (%g per replica, %.0f %% "
                    "headroom)",
                    d->peak, when, in->lead_seconds / 60, d->wanted, in->target->capacity_per_replica,
                    in->target->headroom * 100);
    size_t used = strlen(buffer);
    if (d->replicas != d->wanted && d->action == PLAN_SCALE_UP)
        format_into(buffer + used, size - used, "; at most +%d per action", in->target->max_step);
    else if (d->action == PLAN_SCALE_DOWN && d->stabilized)
        format_into(buffer + used, size - used, "; lower demand lasted %.0f min",
                    in->target->stabilization_seconds / 60);
}

/* What the load needs, before any limit: the forecast's peak, or the load seen now when that is above what is
 * ready (the safety net). */
static void size_for_load(const planner_input *in, planner_decision *out)
{
    double peak, peak_at;
    forecast_peak(in, &peak, &peak_at);
    int from_forecast = isnan(peak) ? in->desired_replicas : planner_replicas_for(in->target, peak);
    int from_now = isnan(in->current_load) ? 0 : planner_replicas_for(in->target, in->current_load);
    bool overloaded = !isnan(in->current_load) &&
                      in->current_load > in->ready_replicas * in->target->capacity_per_replica;
    out->reactive = in->forecast_is_load || (overloaded && from_now > from_forecast);
    out->wanted = clamp_replicas(in->target, out->reactive ? from_now : from_forecast);
    out->peak = out->reactive ? in->current_load : (isnan(peak) ? 0 : peak);
    out->peak_at = out->reactive ? in->now : peak_at;
}

static bool within_tolerance(const planner_input *in, int wanted)
{
    int current = in->desired_replicas;
    double change = fabs((double)(wanted - current)) / (current > 0 ? current : 1);
    return change < in->target->tolerance && current >= in->target->min_replicas &&
           current <= in->target->max_replicas;
}

static int limit_step(const config_target *target, int from, int to)
{
    if (target->max_step <= 0)
        return to;
    if (to > from + target->max_step)
        return from + target->max_step;
    return to < from - target->max_step ? from - target->max_step : to;
}

static void hold(const planner_input *in, planner_decision *out, const char *why)
{
    out->action = PLAN_HOLD;
    out->replicas = in->desired_replicas;
    if (why)
        format_into(out->reason, sizeof out->reason, "%s", why);
}

/* A scale-down happens only once lower demand has lasted the stabilisation window, and then only to the most the
 * window needed. */
static void plan_scale_down(const planner_input *in, planner_memory *memory, planner_decision *out)
{
    if (in->anomalous) {
        planner_memory_init(memory);
        hold(in, out, "holding: the latest load is flagged as anomalous, not scaling down on a spike");
        return;
    }
    if (isnan(memory->low_since)) {
        memory->low_since = in->now;
        memory->low_window_max = out->wanted;
    } else if (out->wanted > memory->low_window_max) {
        memory->low_window_max = out->wanted;
    }
    if (in->now - memory->low_since < in->target->stabilization_seconds) {
        hold(in, out, NULL);
        return;
    }
    int to = limit_step(in->target, in->desired_replicas, memory->low_window_max);
    planner_memory_init(memory);
    if (to >= in->desired_replicas) {
        hold(in, out, NULL);
        return;
    }
    out->action = PLAN_SCALE_DOWN;
    out->replicas = to;
    out->stabilized = true;
}

void planner_plan(const planner_input *in, planner_memory *memory, planner_decision *out)
{
    /* Every field but the reason text, which is set only when a hold has one: this runs twice a tick per target. */
    out->action = PLAN_HOLD;
    out->replicas = out->wanted = 0;
    out->reactive = out->stabilized = false;
    out->peak = out->peak_at = 0;
    out->reason[0] = '\0';
    out->input = *in;
    size_for_load(in, out);
    bool out_of_bounds = in->desired_replicas < in->target->min_replicas ||
                         in->desired_replicas > in->target->max_replicas;
    if (out->wanted == in->desired_replicas || (!out->reactive && !out_of_bounds && within_tolerance(in, out->wanted))) {
        if (out->wanted >= in->desired_replicas)
            planner_memory_init(memory);
        hold(in, out, NULL);
        return;
    }
    if (out->wanted < in->desired_replicas && !out_of_bounds) {
        plan_scale_down(in, memory, out);
        return;
    }
    planner_memory_init(memory);
    out->action = out->wanted > in->desired_replicas ? PLAN_SCALE_UP : PLAN_SCALE_DOWN;
    out->replicas = limit_step(in->target, in->desired_replicas, out->wanted);
}
