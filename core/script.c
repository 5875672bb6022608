#include "script.h"

#include "log.h"
#include "util.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* How often (in VM instructions) the count hook checks the budget before the budget is spent. */
#define BUDGET_CHECK_PERIOD 1000
/* Room the message handler may use past the cap to build a traceback for a script that hit it. */
#define HANDLER_MEMORY_SLACK (256u << 10)

struct hydra_script {
    lua_State *L;
    char *chunk_name; /* as messages show it: the path, or the name given for in-memory source */
    const hydra_clock *clock;
    void *owner;

    size_t memory_used;
    size_t memory_limit;
    bool memory_refused;
    bool in_handler;
    char memory_refused_at[256];

    long long instruction_limit;
    long long budget;            /* of the call running now: the limit times the calls it stands for */
    long long instructions_used;
    bool killed;
    bool running;

    char error[4096];
};

/* ## Where the script is ----------------------------------------------------------------------------------- */

/* "file:line" of the innermost Lua function running, or "" when none is. Allocates nothing, so the allocator may
 * call it. */
static void current_position(lua_State *L, char *buffer, size_t size)
{
    lua_Debug frame;
    buffer[0] = '\0';
    for (int level = 0; lua_getstack(L, level, &frame); level++) {
        if (!lua_getinfo(L, "Sl", &frame) || frame.currentline <= 0)
            continue;
        format_into(buffer, size, "%s:%d", frame.short_src, frame.currentline);
        return;
    }
}

/* ## Memory cap -------------------------------------------------------------------------------------------- */

static void *capped_alloc(void *context, void *ptr, size_t old_size, size_t new_size)
{
    hydra_script *script = context;
    if (!ptr)
        old_size = 0; /* Lua passes a type tag, not a size, for new blocks */
    if (new_size == 0) {
        free(ptr);
        script->memory_used -= old_size;
        return NULL;
    }
    size_t limit = script->memory_limit + (script->in_handler ? HANDLER_MEMORY_SLACK : 0);
    bool over = script->memory_used >= limit || new_size - old_size > limit - script->memory_used;
    if (new_size > old_size && over) {
        if (!script->memory_refused && script->running && script->L)
            current_position(script->L, script->memory_refused_at, sizeof script->memory_refused_at);
        script->memory_refused = true;
        return NULL;
    }
    void *grown = realloc(ptr, new_size);
    if (grown)
        script->memory_used = script->memory_used - old_size + new_size;
    return grown;
}

/* ## Instruction budget ------------------------------------------------------------------------------------ */

static hydra_script *script_of(lua_State *L)
{
    void *context = NULL;
    lua_getallocf(L, &context);
    return context;
}

static void budget_hook(lua_State *L, lua_Debug *frame)
{
    hydra_script *script = script_of(L);
    if (!script->killed) {
        script->instructions_used += BUDGET_CHECK_PERIOD;
        if (script->instructions_used <= script->budget)
            return;
        script->killed = true;
        /* From now on fire on every instruction, so a pcall in the script cannot swallow the kill. */
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    }
    lua_getinfo(L, "Sl", frame);
    luaL_error(L, "%s:%d: instruction budget of %I exceeded", frame->short_src, frame->currentline,
               (lua_Integer)script->budget);
}

static void budget_reset(hydra_script *script, long long calls)
{
    calls = calls > 0 ? calls : 1;
    script->budget = calls > LLONG_MAX / script->instruction_limit ? LLONG_MAX : script->instruction_limit * calls;
    script->instructions_used = 0;
    script->killed = false;
    lua_sethook(script->L, budget_hook, LUA_MASKCOUNT, BUDGET_CHECK_PERIOD);
}

/* ## Sandboxed library ------------------------------------------------------------------------------------- */

static int sandbox_print(lua_State *L)
{
    hydra_script *script = script_of(L);
    luaL_Buffer line;
    luaL_buffinit(L, &line);
    int count = lua_gettop(L);
    for (int i = 1; i <= count; i++) {
        if (i > 1)
            luaL_addchar(&line, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&line);
    }
    luaL_pushresult(&line);
    log_info("script %s: %s", script->chunk_name, lua_tostring(L, -1));
    return 0;
}

/* load() for text only: a bytecode chunk is refused whatever mode the script asks for. */
static int sandbox_load(lua_State *L)
{
    size_t length;
    const char *source = luaL_checklstring(L, 1, &length);
    const char *name = luaL_optstring(L, 2, source);
    int has_env = !lua_isnone(L, 4);
    if (luaL_loadbufferx(L, source, length, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env) {
        lua_pushvalue(L, 4);
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
    return 1;
}

/* setmetatable() without finalizers: Lua runs __gc with hooks off, so a looping finalizer could never be stopped. */
static int sandbox_setmetatable(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int type = lua_type(L, 2);
    luaL_argexpected(L, type == LUA_TNIL || type == LUA_TTABLE, 2, "nil or table");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    if (type == LUA_TTABLE && lua_getfield(L, 2, "__gc") != LUA_TNIL)
        return luaL_error(L, "__gc metamethods are not allowed in the sandbox");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

static int hydra_now(lua_State *L)
{
    lua_pushnumber(L, clock_now(script_of(L)->clock));
    return 1;
}

static int hydra_log(lua_State *L)
{
    hydra_script *script = script_of(L);
    hydra_log_level level;
    if (!log_level_parse(luaL_checkstring(L, 1), &level))
        return luaL_argerror(L, 1, "expected \"debug\", \"info\", \"warn\" or \"error\"");
    char where[256];
    current_position(L, where, sizeof where);
    log_write(level, "script %s: %s", where[0] ? where : script->chunk_name, luaL_checkstring(L, 2));
    return 0;
}

static void open_library(lua_State *L, const char *name, lua_CFunction open)
{
    luaL_requiref(L, name, open, 1);
    lua_pop(L, 1);
}

static void remove_field(lua_State *L, const char *table, const char *field)
{
    lua_getglobal(L, table);
    lua_pushnil(L);
    lua_setfield(L, -2, field);
    lua_pop(L, 1);
}

static void open_sandbox(lua_State *L)
{
    open_library(L, LUA_GNAME, luaopen_base);
    open_library(L, LUA_TABLIBNAME, luaopen_table);
    open_library(L, LUA_STRLIBNAME, luaopen_string);
    open_library(L, LUA_MATHLIBNAME, luaopen_math);
    open_library(L, LUA_UTF8LIBNAME, luaopen_utf8);

    static const char *const unsafe_globals[] = {"dofile", "loadfile", "collectgarbage", "require"};
    for (size_t i = 0; i < ARRAY_LEN(unsafe_globals); i++) {
        lua_pushnil(L);
        lua_setglobal(L, unsafe_globals[i]);
    }
    remove_field(L, LUA_STRLIBNAME, "dump");
    lua_register(L, "print", sandbox_print);
    lua_register(L, "load", sandbox_load);
    lua_register(L, "setmetatable", sandbox_setmetatable);

    static const luaL_Reg host_functions[] = {{"now", hydra_now}, {"log", hydra_log}, {NULL, NULL}};
    luaL_newlib(L, host_functions);
    lua_setglobal(L, "hydra");

    /* Same seed, same run: scripts that want randomness get it reproducibly. */
    lua_getglobal(L, LUA_MATHLIBNAME);
    lua_getfield(L, -1, "randomseed");
    lua_pushinteger(L, 0);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
}

/* ## Calls ------------------------------------------------------------------------------------------------- */

static int traceback_handler(lua_State *L)
{
    hydra_script *script = script_of(L);
    script->in_handler = true;
    const char *message = lua_tostring(L, 1);
    if (!message) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            message = lua_tostring(L, -1);
        else
            message = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, message, 1);
    return 1;
}

static void record_failure(hydra_script *script, int status)
{
    lua_State *L = script->L;
    if (status == LUA_ERRMEM) {
        format_into(script->error, sizeof script->error, "%s: memory limit of %zu bytes exceeded (%s)",
                    script->memory_refused_at[0] ? script->memory_refused_at : script->chunk_name,
                    script->memory_limit, lua_isstring(L, -1) ? lua_tostring(L, -1) : "not enough memory");
        return;
    }
    const char *message = lua_tostring(L, -1);
    format_into(script->error, sizeof script->error, "%s", message ? message : "(no error message)");
}

int script_call(hydra_script *script, int nargs, int nresults) { return script_call_covering(script, nargs, nresults, 1); }

int script_call_covering(hydra_script *script, int nargs, int nresults, long long calls)
{
    lua_State *L = script->L;
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, base);
    budget_reset(script, calls);
    script->memory_refused = false;
    script->memory_refused_at[0] = '\0';
    script->in_handler = false;
    script->running = true;
    int status = lua_pcall(L, nargs, nresults, base);
    script->running = false;
    script->in_handler = false;
    lua_sethook(L, NULL, 0, 0);
    if (status == LUA_OK) {
        /* Also when the script caught a memory error itself and carried on: contained, nothing to report. */
        lua_remove(L, base);
        script->error[0] = '\0';
        return 0;
    }
    record_failure(script, status);
    lua_settop(L, base - 1);
    lua_gc(L, LUA_GCCOLLECT);
    return -1;
}

bool script_push_function(hydra_script *script, const char *name)
{
    if (lua_getglobal(script->L, name) == LUA_TFUNCTION)
        return true;
    lua_pop(script->L, 1);
    return false;
}

bool script_has_function(hydra_script *script, const char *name)
{
    if (!script_push_function(script, name))
        return false;
    lua_pop(script->L, 1);
    return true;
}

/* ## Life cycle -------------------------------------------------------------------------------------------- */

static hydra_script *script_new(const char *chunk_name, const script_options *options)
{
    hydra_script *script = xcalloc(1, sizeof *script);
    script->chunk_name = xstrdup(chunk_name);
    script->clock = options ? options->clock : NULL;
    script->memory_limit = options && options->memory_limit ? options->memory_limit : SCRIPT_DEFAULT_MEMORY_LIMIT;
    script->instruction_limit = options && options->instruction_limit > 0 ? options->instruction_limit
                                                                           : SCRIPT_DEFAULT_INSTRUCTION_LIMIT;
    script->L = lua_newstate(capped_alloc, script);
    if (!script->L) {
        free(script->chunk_name);
        free(script);
        return NULL;
    }
    lua_setwarnf(script->L, NULL, NULL); /* errors in finalizers are dropped, not printed to stderr */
    open_sandbox(script->L);
    if (options && options->extend) {
        lua_getglobal(script->L, "hydra");
        options->extend(script->L, options->extend_context);
        lua_pop(script->L, 1);
    }
    return script;
}

/* Loads the chunk at the top of the stack (or the load error) and runs it. */
static hydra_script *script_start(hydra_script *script, int load_status, char *error, size_t error_size)
{
    if (load_status == LUA_OK && script_call(script, 0, 0) == 0)
        return script;
    if (load_status != LUA_OK)
        record_failure(script, load_status);
    format_into(error, error_size, "%s", script->error);
    script_close(script);
    return NULL;
}

hydra_script *script_open_source(const char *chunk_name, const char *source, const script_options *options,
                                 char *error, size_t error_size)
{
    hydra_script *script = script_new(chunk_name, options);
    if (!script) {
        format_into(error, error_size, "%s: cannot create a Lua state", chunk_name);
        return NULL;
    }
    char *at_name = xasprintf("@%s", chunk_name);
    int status = luaL_loadbufferx(script->L, source, strlen(source), at_name, "t");
    free(at_name);
    return script_start(script, status, error, error_size);
}

static char *read_text_file(const char *path, char *error, size_t error_size)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        format_into(error, error_size, "%s: cannot open: %m", path);
        return NULL;
    }
    size_t capacity = 4096, length = 0;
    char *text = xmalloc(capacity);
    size_t got;
    while ((got = fread(text + length, 1, capacity - length - 1, file)) > 0) {
        length += got;
        if (capacity - length - 1 == 0)
            text = xrealloc(text, capacity *= 2);
    }
    bool failed = ferror(file);
    fclose(file);
    if (failed) {
        format_into(error, error_size, "%s: cannot read", path);
        free(text);
        return NULL;
    }
    text[length] = '\0';
    if (length != strlen(text) || (length > 0 && text[0] == LUA_SIGNATURE[0])) {
        format_into(error, error_size, "%s: not a text Lua script (binary chunks are refused)", path);
        free(text);
        return NULL;
    }
    return text;
}

hydra_script *script_open(const char *path, const script_options *options, char *error, size_t error_size)
{
    char *source = read_text_file(path, error, error_size);
    if (!source)
        return NULL;
    hydra_script *script = script_open_source(path, source, options, error, error_size);
    free(source);
    return script;
}

void script_close(hydra_script *script)
{
    if (!script)
        return;
    lua_close(script->L);
    free(script->chunk_name);
    free(script);
}

/* ## Accessors --------------------------------------------------------------------------------------------- */

lua_State *script_state(hydra_script *script) { return script->L; }
const char *script_path(const hydra_script *script) { return script->chunk_name; }
const char *script_error(const hydra_script *script) { return script->error; }
void script_set_owner(hydra_script *script, void *owner) { script->owner = owner; }
void *script_owner(const hydra_script *script) { return script->owner; }
