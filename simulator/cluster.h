/* The simulated cluster: services the controller scales during a simulation, on the virtual clock.
 *
 * A deterministic discrete-time model. Each service has replicas that are ready (serving) or pending (booting: a
 * scale-up's replicas become ready cold_start_seconds after the request, exactly then and not before). A step of
 * dt seconds at a demand of demand_rps is served piecewise: the step is cut where a pending batch becomes ready, and
 * over each piece the capacity is constant:
 *
 *   capacity  = ready x capacity_per_replica                                  (requests/s)
 *   served    = min(backlog + demand x piece, capacity x piece)
 *   backlog'  = min(what is left, queue_limit_seconds x capacity)             (requests)
 *   dropped   = what is left beyond that                                      (so no replicas: everything drops)
 *   latency   = min(base_latency_ms / (1 - min(demand / capacity, 0.99)) + 1000 x backlog' / capacity, 60000) ms
 *
 * i.e. an M/M/1-like service time that grows with utilisation up to 100 x base, plus the wait behind the queue,
 * capped at CLUSTER_LATENCY_CAP_MS, which is also the latency with no replica ready while requests arrive (with
 * no replica and no request there is no latency: 0). A piece violates the SLO when latency > latency_slo_ms or
 * anything is dropped; its seconds count towards slo_violation_seconds.
 *
 * Scaling sets the desired count, refusing (not clamping) anything outside [min_replicas, max_replicas]: a scaler
 * that silently did less than asked would hide a planner bug. Up: the difference becomes one pending batch. Down:
 * replicas go at once, the newest pending batches first (a scale-up followed by a scale-down cancels boots), then
 * ready ones. So desired = ready + pending always; that is the provisioned count, paid for while booting.
 *
 * Totals accrue over the steps offered: the simulator offers every service every tick, [now, now + dt) back to back.
 * Times are seconds on the virtual clock and never go backwards. Functions returning int return 0, or -1 with the
 * reason in cluster_error(). Index-based variants (_at) skip the name lookup for the simulator's hot loop. */
#ifndef HYDRA_CLUSTER_H
#define HYDRA_CLUSTER_H

#include <hydra/plugin.h>

#include <stdbool.h>
#include <stddef.h>

#define CLUSTER_LATENCY_CAP_MS 60000.0 /* "infinite": no replica ready, or a queue a minute deep */
#define CLUSTER_RHO_MAX 0.99           /* utilisation at which the M/M/1-like term stops growing (100 x base) */

typedef struct cluster cluster;

typedef struct cluster_service_spec {
    const char *name;            /* unique; copied */
    double capacity_per_replica; /* requests/s one replica serves at full utilisation; > 0 */
    double cold_start_seconds;   /* from a scale-up request to ready; >= 0 */
    int min_replicas;            /* 0 <= min <= max */
    int max_replicas;            /* >= 1 */
    int initial_replicas;        /* ready from the start; within [min, max] */
    double latency_slo_ms;       /* > 0 */
    double base_latency_ms;      /* latency at low utilisation; >= 0 */
    double queue_limit_seconds;  /* seconds of capacity the queue holds before dropping; >= 0 */
} cluster_service_spec;

/* One step of one service. Requests are counts over the step; the rest describe its end or its worst piece. */
typedef struct cluster_step_result {
    double served;            /* requests served in the step */
    double dropped;           /* requests dropped in the step */
    double queued;            /* backlog at the end of the step, requests */
    double utilisation;       /* served / capacity over the step, in [0, 1]; 0 with no capacity */
    double latency_ms;        /* the worst piece's latency */
    bool slo_violated;        /* some piece had latency > SLO or drops */
    double violation_seconds; /* how much of the step violated the SLO */
    int ready;                /* at the end of the step */
    int desired;
} cluster_step_result;

/* What the scorecard reads per service. */
typedef struct cluster_service_totals {
    double seconds;               /* simulated time offered */
    double offered_requests;
    double served_requests;
    double dropped_requests;
    double slo_violation_seconds;
    double replica_seconds;       /* provisioned (ready + booting) replicas integrated over time */
    int max_replicas;             /* the most provisioned at once, the initial count included */
    long scale_actions;           /* scale calls that changed the desired count */
} cluster_service_totals;

cluster *cluster_create(void);
void cluster_destroy(cluster *self);
/* Why the last failing call failed ("" before any failure); valid until the next call. */
const char *cluster_error(const cluster *self);

/* ## Services, in the order they were added */

int cluster_add_service(cluster *self, const cluster_service_spec *spec);
size_t cluster_service_count(const cluster *self);
/* NULL when index is out of range. The name and spec are the cluster's, valid until it is destroyed. */
const char *cluster_service_name(const cluster *self, size_t index);
const cluster_service_spec *cluster_service_spec_at(const cluster *self, size_t index);
/* Sets *index to name's position; -1 when there is no such service. */
int cluster_service_index(const cluster *self, const char *name, size_t *index);

/* ## Scaling */

int cluster_scale(cluster *self, const char *service, int replicas, double now);
int cluster_scale_at(cluster *self, size_t index, int replicas, double now);
/* desired, ready at now (without changing anything), paused = false. */
int cluster_status(const cluster *self, const char *service, double now, hydra_scale_status *out);
int cluster_status_at(const cluster *self, size_t index, double now, hydra_scale_status *out);

/* ## Traffic: serves [now, now + dt) at demand_rps (dt > 0, demand >= 0); out may be NULL. O(1) amortised. */

int cluster_offer(cluster *self, const char *service, double now, double dt, double demand_rps,
                  cluster_step_result *out);
int cluster_offer_at(cluster *self, size_t index, double now, double dt, double demand_rps, cluster_step_result *out);

int cluster_totals(const cluster *self, const char *service, cluster_service_totals *out);
int cluster_totals_at(const cluster *self, size_t index, cluster_service_totals *out);

/* ## As a scaler: the controller acts through the same ops as on a real target. */

/* The clock the scaler ops act on; the simulator sets it every tick. Starts at 0. */
void cluster_set_time(cluster *self, double now);
double cluster_time(const cluster *self);
/* A static table (size = sizeof(hydra_scaler_ops)) whose state argument is a cluster *. status reports at the
 * cluster's time; scale asks for request->replicas there and, when out is not NULL, reports the status after. An
 * unknown target or a count outside [min_replicas, max_replicas] returns -1 with cluster_error() saying why. */
const hydra_scaler_ops *cluster_scaler_ops(void);

#endif
