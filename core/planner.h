/* The planner: how many replicas a target should run, worked backwards from time.
 *
 *   replicas = ceil(forecast peak over [now, now + lead] x (1 + headroom) / capacity per replica)
 *
 * bounded by min/max and the largest step per action. A scale-up is not worth an action below the tolerance; a
 * scale-down waits until lower demand has lasted the stabilisation window and never follows a spike flagged as
 * anomalous. A reactive safety net sizes for the load seen now whenever it exceeds ready capacity, so a surge the
 * forecast missed is still met. */
#ifndef HYDRA_PLANNER_H
#define HYDRA_PLANNER_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct planner_input {
    const config_target *target;
    double now;
    const double *forecast; /* forecast[i] is the load expected at now + (i + 1) * step; may be NULL (count 0) */
    size_t forecast_count;
    double step;
    double lead_seconds;    /* cold start, plus the expected approval latency when a person decides */
    double current_load;    /* the latest observation (NAN when unknown) */
    int desired_replicas;   /* what the target is asked to run now */
    int ready_replicas;
    bool anomalous;         /* the latest load is flagged as an anomaly */
    bool forecast_is_load;  /* no forecast: `forecast` holds the load seen now (a reactive plan) */
} planner_input;

/* Kept per target between ticks: how long demand has been low enough to scale down, and the most it needed since. */
typedef struct planner_memory {
    double low_since;       /* NAN while no scale-down is wanted */
    int low_window_max;
} planner_memory;

typedef enum planner_action { PLAN_HOLD, PLAN_SCALE_UP, PLAN_SCALE_DOWN } planner_action;

typedef struct planner_decision {
    planner_action action;
    int replicas;           /* the count to ask for (the current desired count on HOLD) */
    int wanted;             /* before step limits and stabilisation */
    bool reactive;          /* sized for the load seen now, not for the forecast */
    double peak;            /* the load the count is sized for */
    double peak_at;
    bool stabilized;        /* a scale-down after lower demand lasted the stabilisation window */
    char reason[384];       /* why a HOLD holds, when that is worth saying */
    planner_input input;    /* what it was decided on, for planner_explain */
} planner_decision;

void planner_memory_init(planner_memory *memory);
/* Replicas needed for load: ceil(load x (1 + headroom) / capacity), at least 0. */
int planner_replicas_for(const config_target *target, double load);
void planner_plan(const planner_input *input, planner_memory *memory, planner_decision *out);
/* The reason for a change, in words. Only called for a change that is recommended: words cost more than the
 * arithmetic, and the planner runs twice a tick for every target. */
void planner_explain(const planner_decision *decision, char *buffer, size_t size);

#endif
