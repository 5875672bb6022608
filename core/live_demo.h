/* hydra serve --scenario FILE --speed N: the real daemon driven by a scenario on a virtual clock that runs N times
 * faster than the wall clock. Each step, the scenario's traffic is served by the simulated cluster (the targets'
 * scaler) and ingested through the same path as POST /api/v1/ingest/metrics, which evaluates the targets; nobody
 * simulated answers approval requests: a person does, through the API or the dashboard, or the policy does. */
#ifndef HYDRA_LIVE_DEMO_H
#define HYDRA_LIVE_DEMO_H

#include "daemon_app.h"

#include <signal.h>

#define LIVE_DEFAULT_SPEED 600.0
#define LIVE_DEFAULT_START_DAY 2.0 /* days of history before the live part: two daily seasons (Holt-Winters) */
/* A person answers in wall time: at speed N a pending recommendation waits at least this many wall seconds
 * (N times as many simulated ones) before it expires, and the planner asks this far ahead of a surge. */
#define LIVE_ANSWER_WALL_SECONDS 60.0
#define LIVE_LATENCY_WALL_SECONDS 15.0

typedef struct live_demo live_demo;

/* Loads the scenario (errors name file:line), makes the config's targets its services, scales the approval times
 * to the speed, sets the virtual clock to start_day days into the scenario (NAN: LIVE_DEFAULT_START_DAY, at most
 * half the scenario) and stores the days before it as
 * history (which the daemon then loads as after any restart). Call after the store is open, before the plugins. */
live_demo *live_demo_open(daemon_app *app, const daemon_options *options, char *error, size_t error_size);
void live_demo_close(live_demo *live);
/* The simulated cluster as a scaler instance, every target's. */
plugin_instance *live_demo_scaler(live_demo *live);
double live_demo_speed(const live_demo *live);
/* Steps the scenario at the demo's pace until *stop; after its last day the daemon serves on, clock stopped. */
void live_demo_run(daemon_app *app, volatile sig_atomic_t *stop);

#endif
