/* The scenario's traffic, computed ahead on a thread of its own. The demand of a step depends on the time alone (the
 * scenario's Lua state and random stream are its own; the controller never changes them), so it can be asked for
 * before the controller has finished the steps before it: the simulation's critical path is then the controller
 * alone. The same calls are made in the same order as without the thread, so a run is as deterministic as before. */
#ifndef HYDRA_DEMAND_FEED_H
#define HYDRA_DEMAND_FEED_H

#include "scenario.h"

#include <stddef.h>

typedef struct demand_feed demand_feed;

/* Starts computing the demand of steps 0 .. step_count - 1 (step k at world->start + k * world->step). The feed owns
 * the scenario's clock while it runs: `clock` is the one the scenario's script was opened with. NULL with the reason
 * in error when the thread cannot start. */
demand_feed *demand_feed_start(scenario *world, hydra_clock *clock, long step_count, char *error, size_t error_size);

/* The demand of every service at step k (service_count values), waiting for it if need be; steps are taken in order,
 * and the row stays valid until the next call. NULL with the script's error (file:line) in error. */
const double *demand_feed_take(demand_feed *feed, long step, char *error, size_t error_size);

/* Stops the thread (at once, whatever it was computing ahead) and frees the feed; *cpu_seconds (when not NULL)
 * gets the CPU time the thread used. */
void demand_feed_stop(demand_feed *feed, double *cpu_seconds);

#endif
