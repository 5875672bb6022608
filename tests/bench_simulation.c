/* Benchmark: a 30-day, 100-service, 1-minute-step scenario through the full path (scenario traffic in Lua, the
 * simulated cluster, the controller with the default config's forecaster, detector and policy). Prints
 * service-ticks per second, the bare C->Lua call rate measured in the same run, and their ratio; then where the time
 * goes: the CPU time of the controller's thread (the critical path) and of the thread computing traffic ahead, and
 * the rate of the scenario's traffic() alone, called as the simulation calls it. */
#include "log.h"
#include "scenario.h"
#include "simulation.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define BARE_CALLS 5000000
#define TRAFFIC_DAYS 3

static const char scenario_source[] =
    "local services = {}\n"
    "for i = 1, 100 do\n"
    "  services[i] = { name = 'svc' .. i, capacity_per_replica = 100, cold_start = 60, min_replicas = 2,\n"
    "                  max_replicas = 100, initial_replicas = 4, latency_slo_ms = 300 }\n"
    "end\n"
    "scenario = { name = 'bench: 100 services', start = '2027-01-04T00:00:00Z', days = 30, step = 60, seed = 1,\n"
    "             services = services }\n"
    "local scale = {}\n"
    "for i = 1, 100 do scale['svc' .. i] = 100 + 20 * i end\n"
    "function traffic(t, service)\n"
    "  local hour = (t % 86400) / 3600\n"
    "  return scale[service] * (1.2 + math.sin((hour - 9) / 24 * 2 * math.pi))\n"
    "end\n";

/* The controller's warm-up notes (two per service: cannot forecast yet, forecasts now) would bury the figures. */
static void errors_only(void *context, hydra_log_level level, const char *message)
{
    (void)context;
    if (level >= HYDRA_LOG_ERROR)
        fprintf(stderr, "hydra: %s\n", message);
}

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

static double bare_lua_calls_per_second(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_dostring(L, "function f(t, s) return t end") != LUA_OK)
        return -1;
    double start = seconds_now();
    for (int i = 0; i < BARE_CALLS; i++) {
        lua_getglobal(L, "f");
        lua_pushnumber(L, i);
        lua_pushliteral(L, "svc1");
        lua_pcall(L, 2, 1, 0);
        lua_pop(L, 1);
    }
    double rate = BARE_CALLS / (seconds_now() - start);
    lua_close(L);
    return rate;
}

/* The same traffic() in a plain Lua state, with no sandbox and no budget, every service asked for in one call per
 * step: what the scenario's traffic would cost if scripts were trusted. */
static double unbudgeted_traffic_calls_per_second(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_dostring(L, scenario_source) != LUA_OK ||
        luaL_dostring(L, "names = {}\n"
                         "for i = 1, 100 do names[i] = 'svc' .. i end\n"
                         "answers = {}\n"
                         "function all(t) for i = 1, #names do answers[i] = traffic(t, names[i]) end end\n") != LUA_OK) {
        lua_close(L);
        return -1;
    }
    long steps = TRAFFIC_DAYS * 1440;
    double start = seconds_now();
    for (long step = 0; step < steps; step++) {
        lua_getglobal(L, "all");
        lua_pushnumber(L, 1798761600.0 + 60.0 * (double)step);
        lua_pcall(L, 1, 0, 0);
    }
    double rate = (double)steps * 100 / (seconds_now() - start);
    lua_close(L);
    return rate;
}

/* traffic(t, service) for every service at every step of the first TRAFFIC_DAYS days, as the simulation asks. */
static double traffic_calls_per_second(const char *path)
{
    scenario world;
    char error[4096];
    double rate = -1;
    int status = scenario_load(&world, path, NULL, NULL, error, sizeof error);
    long calls = 0;
    double *demand = status == 0 ? calloc(world.service_count, sizeof *demand) : NULL;
    double start = seconds_now();
    for (double t = world.start; demand && status == 0 && t < world.start + TRAFFIC_DAYS * 86400.0; t += world.step) {
        status = scenario_demand_all(&world, t, demand, error, sizeof error);
        calls += (long)world.service_count;
    }
    if (demand && status == 0)
        rate = (double)calls / (seconds_now() - start);
    free(demand);
    scenario_free(&world);
    return rate;
}

int main(void)
{
    char path[] = "/tmp/hydra-bench-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, scenario_source, sizeof scenario_source - 1) != (ssize_t)(sizeof scenario_source - 1))
        return 1;
    close(fd);
    simulation_options options = {.scenario_path = path, .config_path = "configs/hydra.cfg"};
    simulation_result result;
    char error[4096];
    printf("bench_simulation: 30 days x 100 services at 1-minute steps through the full path\n");
    log_set_sink(errors_only, NULL);
    int status = simulation_run(&options, &result, error, sizeof error);
    double traffic = status == 0 ? traffic_calls_per_second(path) : -1;
    unlink(path);
    if (status != 0) {
        fprintf(stderr, "bench_simulation: %s\n", error);
        return 1;
    }
    double bare = bare_lua_calls_per_second();
    double unbudgeted = unbudgeted_traffic_calls_per_second();
    double ticks = result.service_ticks_per_second * result.wall_seconds;
    printf("  service-ticks per second          %12.0f   (%.2f s for %.0f service-ticks)\n",
           result.service_ticks_per_second, result.wall_seconds, ticks);
    printf("  recommendations                   %12ld   (%ld asked a person)\n", result.recommendations.total,
           result.recommendations.asked);
    printf("  bare C->Lua calls per second      %12.0f\n", bare);
    printf("  ratio                             %12.2f   (target >= 0.3)\n", result.service_ticks_per_second / bare);
    printf("  controller thread, CPU seconds    %12.2f   (%.0f ns a service-tick: the critical path)\n",
           result.controller_cpu_seconds, result.controller_cpu_seconds / ticks * 1e9);
    printf("  traffic thread, CPU seconds       %12.2f   (%.0f ns a service-tick, computed ahead on its own thread)\n",
           result.traffic_cpu_seconds, result.traffic_cpu_seconds / ticks * 1e9);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double all_cpu = result.controller_cpu_seconds + result.traffic_cpu_seconds;
    printf("  at best, all of it in parallel    %12.0f   (%.0f ns of CPU a service-tick, shared by %ld cores)\n",
           (double)cores * ticks / all_cpu, all_cpu / ticks * 1e9, cores);
    printf("  traffic() alone, calls per second %12.0f   (%d days; ratio %.2f to the bare call: every call carries the "
           "sandbox's instruction budget)\n",
           traffic, TRAFFIC_DAYS, traffic / bare);
    printf("  the same, with no budget          %12.0f   (ratio %.2f: a plain Lua state, as if scripts were "
           "trusted)\n",
           unbudgeted, unbudgeted / bare);
    simulation_result_free(&result);
    return 0;
}
