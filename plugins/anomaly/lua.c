/* anomaly "lua": an anomaly detector written in Lua, run in the host's sandbox.
 *
 * The script defines:
 *   function score(series) -> scores
 *     series = { values = {v1, ..., vn} (NaN where a sample is missing), start = t0, step = seconds, count = n }
 *     scores = {n numbers}: scores[i] for values[i], computed from values[1..i] only; clamped to [0, 1]
 * and may declare `parameters = {...}` (see common/lua_bridge.h). */
#include "../common/lua_bridge.h"

static void *lua_anomaly_create(const hydra_host *host) { return lua_bridge_create(host, "score"); }

static int lua_anomaly_score(void *state, const hydra_series *series, double *scores)
{
    lua_bridge *bridge = state;
    lua_State *L = bridge->L;
    lua_getglobal(L, "score");
    lua_bridge_push_series(L, series);
    if (bridge->host->script_call(bridge->script, 1, 1) != 0)
        return -1;
    int status = lua_bridge_read_numbers(bridge, lua_gettop(L), "score() result", scores, series->count);
    lua_settop(L, 0);
    for (size_t i = 0; status == 0 && i < series->count; i++)
        scores[i] = fmin(fmax(scores[i], 0), 1);
    return status;
}

static const hydra_anomaly_ops lua_anomaly_ops = {
    .size = sizeof(hydra_anomaly_ops),
    .score = lua_anomaly_score,
};

static const hydra_plugin_descriptor lua_anomaly_descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_ANOMALY,
    .name = "lua",
    .version = "1.0.0",
    .description = "an anomaly detector written as a Lua script (setting: script)",
    .create = lua_anomaly_create,
    .destroy = lua_bridge_destroy,
    .ops = &lua_anomaly_ops,
};

HYDRA_PLUGIN(lua_anomaly_descriptor)
