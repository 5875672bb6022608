/* Benchmark: what the sandbox costs. Compares, in one run, calls from C into Lua through script_call() (fresh
 * budget, traceback handler, count hook) with bare lua_pcall() on an unsandboxed state, and an in-Lua loop with and
 * without the budget's count hook. Prints figures and ratios; machines are noisy, the ratios are what count. */
#include "script.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <time.h>

#define CALLS 2000000
#define LOOP_SOURCE "function spin(n) local s = 0 for i = 1, n do s = s + i % 7 end return s end\n" \
                    "function add(a, b) return a + b end"

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

static double bare_calls_per_second(lua_State *L)
{
    double start = seconds_now();
    for (int i = 0; i < CALLS; i++) {
        lua_getglobal(L, "add");
        lua_pushinteger(L, i);
        lua_pushinteger(L, 1);
        if (lua_pcall(L, 2, 1, 0) != LUA_OK)
            return -1;
        lua_pop(L, 1);
    }
    return CALLS / (seconds_now() - start);
}

static double sandboxed_calls_per_second(hydra_script *script)
{
    lua_State *L = script_state(script);
    double start = seconds_now();
    for (int i = 0; i < CALLS; i++) {
        script_push_function(script, "add");
        lua_pushinteger(L, i);
        lua_pushinteger(L, 1);
        if (script_call(script, 2, 1) != 0)
            return -1;
        lua_pop(L, 1);
    }
    return CALLS / (seconds_now() - start);
}

/* Seconds for one call of spin(n). */
static double spin_seconds(lua_State *L, hydra_script *script, long long n)
{
    double start = seconds_now();
    lua_getglobal(L, "spin");
    lua_pushinteger(L, n);
    int failed = script ? script_call(script, 1, 1) != 0 : lua_pcall(L, 1, 1, 0) != LUA_OK;
    double elapsed = seconds_now() - start;
    lua_pop(L, failed ? 0 : 1);
    return failed ? -1 : elapsed;
}

int main(void)
{
    lua_State *bare = luaL_newstate();
    luaL_openlibs(bare);
    if (luaL_dostring(bare, LOOP_SOURCE) != LUA_OK)
        return 1;
    char error[1024];
    script_options options = {.instruction_limit = 1LL << 40};
    hydra_script *script = script_open_source("bench.lua", LOOP_SOURCE, &options, error, sizeof error);
    if (!script) {
        fprintf(stderr, "bench: %s\n", error);
        return 1;
    }
    printf("bench_script: %d calls each, then one loop of 20M iterations\n", CALLS);
    double bare_rate = bare_calls_per_second(bare), sandbox_rate = sandboxed_calls_per_second(script);
    printf("  C->Lua calls, bare lua_pcall      %12.0f calls/s\n", bare_rate);
    printf("  C->Lua calls, script_call         %12.0f calls/s   ratio %.2f of bare\n", sandbox_rate,
           sandbox_rate / bare_rate);
    double bare_loop = spin_seconds(bare, NULL, 20000000), sandbox_loop = spin_seconds(script_state(script), script, 20000000);
    printf("  in-Lua loop, no hook              %12.3f s\n", bare_loop);
    printf("  in-Lua loop, with budget hook     %12.3f s        ratio %.2f of bare speed\n", sandbox_loop,
           bare_loop / sandbox_loop);
    script_close(script);
    lua_close(bare);
    return 0;
}
