/* Shared by the Lua bridge plugins (forecaster/lua.c, anomaly/lua.c): a model written as a Lua script runs in the
 * host's sandbox (host->script_open / script_call), so a data person can plug one in without a compiler.
 *
 * Settings: `script` (path, relative to the config file). A script may declare tunable settings with defaults in a
 * global table `parameters = { window = 12, method = "mean" }`; each key may then be set in the plugin's settings
 * (numbers, strings and booleans), and the script reads the final values from `parameters`. Any other setting is
 * an error, as for every plugin. */
#ifndef HYDRA_LUA_BRIDGE_H
#define HYDRA_LUA_BRIDGE_H

#include <hydra/plugin.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdlib.h>

typedef struct lua_bridge {
    const hydra_host *host;
    hydra_script *script;
    lua_State *L;
    const char *path;
} lua_bridge;

/* Replaces parameters[key] with the configured setting of the same name, when there is one. */
static inline int lua_bridge_override(lua_bridge *bridge, const char *key)
{
    const hydra_host *host = bridge->host;
    lua_State *L = bridge->L;
    int found = 1;
    if (lua_type(L, -1) == LUA_TNUMBER) {
        double number = lua_tonumber(L, -1);
        if ((found = host->setting_double(host, key, &number)) == 0)
            lua_pushnumber(L, number);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        const char *text = NULL;
        if ((found = host->setting_string(host, key, &text)) == 0)
            lua_pushstring(L, text);
    } else if (lua_type(L, -1) == LUA_TBOOLEAN) {
        bool flag = false;
        if ((found = host->setting_bool(host, key, &flag)) == 0)
            lua_pushboolean(L, flag);
    } else {
        host->set_error(host, "%s: parameters.%s must default to a number, a string or a boolean", bridge->path, key);
        return -1;
    }
    if (found == 0)
        lua_setfield(L, -4, key); /* stack: parameters, key, default, override */
    return found < 0 ? -1 : 0;
}

static inline int lua_bridge_apply_parameters(lua_bridge *bridge)
{
    lua_State *L = bridge->L;
    int status = 0;
    if (lua_getglobal(L, "parameters") != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushnil(L);
    while (status == 0 && lua_next(L, -2) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING)
            status = lua_bridge_override(bridge, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    lua_settop(L, 0);
    return status;
}

/* Opens the script named by the `script` setting and checks it defines `function_name`. */
static inline int lua_bridge_open(lua_bridge *bridge, const hydra_host *host, const char *function_name)
{
    bridge->host = host;
    int found = host->setting_path(host, "script", &bridge->path);
    if (found != 0) {
        if (found > 0)
            host->set_error(host, "missing setting 'script': the path of the Lua model to run");
        return -1;
    }
    bridge->script = host->script_open(host, bridge->path);
    if (!bridge->script)
        return -1; /* the host has set the error, with file:line */
    bridge->L = host->script_state(bridge->script);
    if (lua_getglobal(bridge->L, function_name) != LUA_TFUNCTION) {
        lua_pop(bridge->L, 1);
        host->set_error(host, "%s: the script must define a global function %s()", bridge->path, function_name);
        return -1;
    }
    lua_pop(bridge->L, 1);
    return lua_bridge_apply_parameters(bridge);
}

static inline void lua_bridge_close(lua_bridge *bridge)
{
    if (bridge->script)
        bridge->host->script_close(bridge->script);
    bridge->script = NULL;
}

/* create() of a bridge plugin: the script must define function_name. */
static inline void *lua_bridge_create(const hydra_host *host, const char *function_name)
{
    lua_bridge *bridge = host->alloc(host, sizeof *bridge);
    if (!bridge) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    if (lua_bridge_open(bridge, host, function_name) != 0) {
        lua_bridge_close(bridge);
        host->free(host, bridge);
        return NULL;
    }
    return bridge;
}

static inline void lua_bridge_destroy(void *state)
{
    lua_bridge *bridge = state;
    lua_bridge_close(bridge);
    bridge->host->free(bridge->host, bridge);
}

/* Pushes {values = {...}, start = s, step = d, count = n}; a missing sample stays NaN. */
static inline void lua_bridge_push_series(lua_State *L, const hydra_series *series)
{
    lua_createtable(L, 0, 4);
    lua_createtable(L, (int)series->count, 0);
    for (size_t i = 0; i < series->count; i++) {
        lua_pushnumber(L, series->values[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "values");
    lua_pushnumber(L, series->start);
    lua_setfield(L, -2, "start");
    lua_pushnumber(L, series->step);
    lua_setfield(L, -2, "step");
    lua_pushinteger(L, (lua_Integer)series->count);
    lua_setfield(L, -2, "count");
}

/* Reads count finite numbers from the table at index into out. what names the table in errors. */
static inline int lua_bridge_read_numbers(lua_bridge *bridge, int index, const char *what, double *out, size_t count)
{
    lua_State *L = bridge->L;
    if (!lua_istable(L, index)) {
        bridge->host->set_error(bridge->host, "%s: %s must be a table of %zu numbers, found a %s", bridge->path, what,
                                count, luaL_typename(L, index));
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        int type = lua_rawgeti(L, index, (lua_Integer)i + 1);
        double value = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (type != LUA_TNUMBER || !isfinite(value)) {
            bridge->host->set_error(bridge->host, "%s: %s[%zu] must be a finite number, found %s", bridge->path,
                                    what, i + 1, type == LUA_TNUMBER ? "a non-finite number" : lua_typename(L, type));
            return -1;
        }
        out[i] = value;
    }
    return 0;
}

#endif
