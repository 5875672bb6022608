/* One simulation run: a scenario's traffic through the real controller on a virtual clock, a simulated cluster as
 * the scaler, and a simulated operator who answers approval requests. The result is a scorecard. */
#ifndef HYDRA_SIMULATION_H
#define HYDRA_SIMULATION_H

#include "cluster.h"
#include <jansson.h>
#include "config.h"
#include "instance.h"
#include "scenario.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct simulation_options {
    const char *scenario_path;
    const char *config_path;    /* plugins, planner settings and the default policy */
    const char *policy_path;    /* overrides the config's policy when set */
    scenario_overrides overrides;
    const char *csv_path;       /* the time series, when set */
    const char *report_path;    /* a picture of the run (.png or .svg), when set */
    const char *decisions_path; /* every recommendation and what became of it (CSV), when set */
    bool progress;              /* a progress line on stderr */
} simulation_options;

typedef struct simulation_service_result {
    char name[64];
    double slo_violation_minutes;
    double dropped_requests;
    double replica_hours;
    int max_replicas;
    long scale_actions;
} simulation_service_result;

typedef struct simulation_result {
    char scenario[256];
    char policy[128];
    unsigned long long seed;
    double days;
    double step_seconds;
    simulation_service_result *services;
    size_t service_count;
    double slo_violation_minutes;
    double dropped_requests;
    double replica_hours;
    struct {
        long total, auto_approved, asked, approved, rejected, expired, executed, failed;
    } recommendations;
    unsigned long policy_errors;
    double human_response_median;
    double human_response_p90;
    double wall_seconds;
    double service_ticks_per_second;
    /* CPU time of the run's two threads: the controller's (the critical path) and the one computing traffic ahead */
    double controller_cpu_seconds, traffic_cpu_seconds;
} simulation_result;

/* The config's targets become the scenario's services (each from the config's target of its name, else its first,
 * with the service's capacity, cold start and bounds), and the tick the scenario's step. -1 without a target. */
int simulation_targets_from_services(hydra_config *config, const scenario *world, char *error, size_t error_size);
/* The scenario's services as a simulated cluster (*out, the caller's to destroy after the instance) and a builtin
 * scaler instance acting on it; NULL with the reason. */
plugin_instance *simulation_cluster_scaler(const scenario *world, const hydra_clock *clock, cluster **out,
                                           char *error, size_t error_size);

/* Runs the whole scenario. -1 with the reason ("file:line: ..." for scripts) in error. */
int simulation_run(const simulation_options *options, simulation_result *result, char *error, size_t error_size);
void simulation_result_free(simulation_result *result);

/* Writes the scorecard for people, and the JSON document (wall-clock fields last). */
void simulation_print_scorecard(FILE *out, const simulation_result *result);
int simulation_write_json(const char *path, const simulation_result *result, char *error, size_t error_size);
/* The scorecard as JSON (what simulation_write_json writes); newly allocated. */
json_t *simulation_result_json(const simulation_result *result);
/* {"kind": "comparison", "scenario", "runs": [scorecard, ...]}: hydra simulate --compare --json. */
int simulation_write_comparison_json(const char *path, const simulation_result *results, size_t count, char *error,
                                     size_t error_size);

#endif
