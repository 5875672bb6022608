/* Scenario scripts: a Lua file that describes the world a simulation runs in — when, where, which services, the
 * traffic each one gets as a function of time, incidents, and the operator who answers approval requests.
 *
 *   scenario = {
 *     name = "...", start = "2027-02-06T00:00:00Z", days = 35, step = 60, seed = 1448,
 *     location = { latitude = 30.0444, longitude = 31.2357, utc_offset = 2, method = "egyptian" },
 *     services = { { name = "donations-api", capacity_per_replica = 100, cold_start = 90, min_replicas = 2,
 *                    max_replicas = 80, initial_replicas = 4, latency_slo_ms = 300 }, ... },
 *     incidents = { { kind = "flash_crowd", service = "donations-api", at = "...", duration = "30m", factor = 4 },
 *                   { kind = "capacity_loss", at = "...", duration = "1h", fraction = 0.5 } },
 *     operator = { median_response = "5m", p90_response = "20m", asleep = { from = 1, to = 7 },
 *                  approve_probability = 0.95 },     -- or omitted: nobody answers
 *   }
 *   function traffic(t, service) return requests_per_second end
 *
 * The `hydra` table adds calendar helpers for the location (prayer times and Hijri dates from libitl) and a seeded
 * random generator; see the README. */
#ifndef HYDRA_SCENARIO_H
#define HYDRA_SCENARIO_H

#include "calendar.h"
#include "script.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct scenario_service {
    char *name;
    double capacity_per_replica;
    double cold_start_seconds;
    int min_replicas, max_replicas, initial_replicas;
    double latency_slo_ms;
    double base_latency_ms;
    double queue_limit_seconds;
} scenario_service;

typedef enum scenario_incident_kind { INCIDENT_FLASH_CROWD, INCIDENT_CAPACITY_LOSS } scenario_incident_kind;

typedef struct scenario_incident {
    scenario_incident_kind kind;
    long service;  /* index, or -1 for every service */
    double start, end;
    double amount; /* demand factor of a flash crowd; fraction of capacity lost */
} scenario_incident;

typedef struct scenario_operator {
    bool present;
    double median_seconds, p90_seconds; /* log-normal response time */
    double asleep_from_hour, asleep_to_hour; /* local hours; equal means never asleep */
    double approve_probability;
} scenario_operator;

/* A small, fast, seeded generator: same seed, same run. */
typedef struct scenario_random {
    uint64_t state;
} scenario_random;

void scenario_random_seed(scenario_random *random, uint64_t seed);
double scenario_random_uniform(scenario_random *random); /* [0, 1) */
double scenario_random_normal(scenario_random *random);  /* mean 0, sd 1 */

typedef struct scenario {
    hydra_script *script;
    char *path;
    char *name;
    double start, duration, step;
    uint64_t seed;
    bool has_location;
    calendar_location location;
    scenario_service *services;
    size_t service_count;
    scenario_incident *incidents;
    size_t incident_count;
    scenario_operator operator;
    scenario_random random;
    /* prayer times of the last local date asked about: traffic functions ask many times a day */
    long cached_day;
    calendar_day_times cached_times;
    int demand_driver;  /* registry references: the Lua loop that asks traffic() for every service, */
    int demand_answers; /* and the table it answers in */
} scenario;

typedef struct scenario_overrides {
    bool has_seed;
    uint64_t seed;
    double days; /* 0: as the scenario says */
} scenario_overrides;

/* Loads and checks a scenario. -1 with "file:line: ..." (script errors) or "file: scenario.field ..." in error. */
int scenario_load(scenario *out, const char *path, const scenario_overrides *overrides, const script_options *options,
                  char *error, size_t error_size);
void scenario_free(scenario *scenario);

/* Requests per second of every service at t (out has service_count places), incidents included: one call into Lua
 * per step rather than one per service, with the budget of that many calls. -1 with the script's error, or the
 * service whose traffic() returned something other than a number >= 0, in error. */
int scenario_demand_all(scenario *scenario, double t, double *out, char *error, size_t error_size);
/* The fraction of capacity a service has at t (1 unless an incident took some away). */
double scenario_capacity_factor(const scenario *scenario, size_t service, double t);
/* Local hour of day at the scenario's location (UTC without one). */
double scenario_local_hour(const scenario *scenario, double t);
/* Prayer times of the local date of t (cached); -1 without a location. */
int scenario_prayer_times(scenario *scenario, double t, calendar_day_times *out);

#endif
