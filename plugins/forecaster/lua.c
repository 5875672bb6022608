/* forecaster "lua": a forecasting model written in Lua, run in the host's sandbox.
 *
 * The script defines:
 *   function forecast(history, horizon) -> result
 *     history = { values = {v1, ..., vn} (NaN where a sample is missing), start = t0, step = seconds, count = n }
 *     result  = { mean = {horizon numbers},
 *                 lower80 = {...}, upper80 = {...}, lower95 = {...}, upper95 = {...},   -- optional
 *                 components = { level = {...}, season = {...} } }                        -- optional
 *   (returning a plain array is the same as { mean = array }). Without intervals, the interval is the mean itself:
 *   the model claims no uncertainty. Forecasts below 0 are raised to 0.
 * and may declare `parameters = {...}` (see common/lua_bridge.h). */
#include "../common/lua_bridge.h"

#include <string.h>

static void *lua_forecaster_create(const hydra_host *host) { return lua_bridge_create(host, "forecast"); }

/* An optional band: absent means the mean. */
static int read_band(lua_bridge *bridge, int result, const char *name, const double *mean, double *out,
                     size_t horizon)
{
    lua_getfield(bridge->L, result, name);
    int status = 0;
    if (lua_isnil(bridge->L, -1))
        memcpy(out, mean, horizon * sizeof *out);
    else
        status = lua_bridge_read_numbers(bridge, lua_gettop(bridge->L), name, out, horizon);
    lua_pop(bridge->L, 1);
    return status;
}

static int read_components(lua_bridge *bridge, int result, hydra_forecast *out)
{
    lua_State *L = bridge->L;
    if (lua_getfield(L, result, "components") != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    int status = 0;
    lua_pushnil(L);
    while (status == 0 && lua_next(L, -2) != 0) {
        size_t slot = out->component_count;
        if (lua_type(L, -2) == LUA_TSTRING && slot < HYDRA_FORECAST_MAX_COMPONENTS && out->components[slot]) {
            snprintf(out->component_names[slot], HYDRA_COMPONENT_NAME_MAX, "%s", lua_tostring(L, -2));
            status = lua_bridge_read_numbers(bridge, lua_gettop(L), out->component_names[slot], out->components[slot],
                                             out->horizon);
            out->component_count++;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return status;
}

static int read_result(lua_bridge *bridge, hydra_forecast *out)
{
    lua_State *L = bridge->L;
    int result = lua_gettop(L);
    if (!lua_istable(L, result)) {
        bridge->host->set_error(bridge->host, "%s: forecast() must return a table, found %s", bridge->path,
                                luaL_typename(L, result));
        return -1;
    }
    bool plain_array = lua_rawlen(L, result) > 0;
    if (!plain_array)
        lua_getfield(L, result, "mean");
    int status = lua_bridge_read_numbers(bridge, lua_gettop(L), "mean", out->mean, out->horizon);
    if (!plain_array)
        lua_pop(L, 1);
    if (status == 0 && !plain_array)
        status = read_band(bridge, result, "lower80", out->mean, out->lower80, out->horizon) ||
                 read_band(bridge, result, "upper80", out->mean, out->upper80, out->horizon) ||
                 read_band(bridge, result, "lower95", out->mean, out->lower95, out->horizon) ||
                 read_band(bridge, result, "upper95", out->mean, out->upper95, out->horizon) ||
                 read_components(bridge, result, out);
    else if (status == 0)
        for (double **band = (double *[]){out->lower80, out->upper80, out->lower95, out->upper95, NULL}; *band; band++)
            memcpy(*band, out->mean, out->horizon * sizeof **band);
    return status ? -1 : 0;
}

static void clamp_at_zero(hydra_forecast *out)
{
    for (size_t i = 0; i < out->horizon; i++) {
        out->mean[i] = fmax(out->mean[i], 0);
        out->lower80[i] = fmax(out->lower80[i], 0);
        out->lower95[i] = fmax(out->lower95[i], 0);
        out->upper80[i] = fmax(out->upper80[i], out->mean[i]);
        out->upper95[i] = fmax(out->upper95[i], out->upper80[i]);
    }
}

static int lua_forecaster_predict(void *state, const hydra_series *history, hydra_forecast *out)
{
    lua_bridge *bridge = state;
    lua_State *L = bridge->L;
    lua_getglobal(L, "forecast");
    lua_bridge_push_series(L, history);
    lua_pushinteger(L, (lua_Integer)out->horizon);
    if (bridge->host->script_call(bridge->script, 2, 1) != 0)
        return -1; /* the host has set the error, file:line and traceback */
    int status = read_result(bridge, out);
    lua_settop(L, 0);
    if (status == 0)
        clamp_at_zero(out);
    return status;
}

static const hydra_forecaster_ops lua_forecaster_ops = {
    .size = sizeof(hydra_forecaster_ops),
    .predict = lua_forecaster_predict,
};

static const hydra_plugin_descriptor lua_forecaster_descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_FORECASTER,
    .name = "lua",
    .version = "1.0.0",
    .description = "a forecasting model written as a Lua script (setting: script)",
    .create = lua_forecaster_create,
    .destroy = lua_bridge_destroy,
    .ops = &lua_forecaster_ops,
};

HYDRA_PLUGIN(lua_forecaster_descriptor)
