#include "policy.h"

#include "log.h"
#include "util.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

struct policy {
    hydra_script *script; /* NULL: always ask */
    char name[128];
    unsigned long errors;
};

const char *policy_verdict_name(policy_verdict verdict)
{
    return verdict == VERDICT_APPROVE ? "approve" : verdict == VERDICT_REJECT ? "reject" : "ask";
}

policy *policy_open(const char *path, const script_options *options, char *error, size_t error_size)
{
    policy *p = xcalloc(1, sizeof *p);
    if (!path) {
        format_into(p->name, sizeof p->name, "policy none");
        return p;
    }
    p->script = script_open(path, options, error, error_size);
    if (p->script && !script_has_function(p->script, "decide")) {
        format_into(error, error_size, "%s: a policy must define a global function decide(rec, ctx)", path);
        script_close(p->script);
        p->script = NULL;
    }
    if (!p->script) {
        free(p);
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    format_into(p->name, sizeof p->name, "policy %s", slash ? slash + 1 : path);
    return p;
}

void policy_close(policy *p)
{
    if (!p)
        return;
    script_close(p->script);
    free(p);
}

const char *policy_name(const policy *p) { return p->name; }
unsigned long policy_error_count(const policy *p) { return p->errors; }

static void set_number(lua_State *L, const char *key, double value)
{
    lua_pushnumber(L, value);
    lua_setfield(L, -2, key);
}

static void set_integer(lua_State *L, const char *key, long long value)
{
    lua_pushinteger(L, value);
    lua_setfield(L, -2, key);
}

static void set_string(lua_State *L, const char *key, const char *value)
{
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

static void push_recommendation(lua_State *L, const recommendation *rec, const policy_context *context)
{
    lua_createtable(L, 0, 10);
    set_string(L, "id", rec->id);
    set_string(L, "target", rec->target);
    set_integer(L, "from", rec->from_replicas);
    set_integer(L, "to", rec->to_replicas);
    set_string(L, "direction", rec->to_replicas > rec->from_replicas ? "up" : "down");
    set_number(L, "forecast_peak", rec->forecast_peak);
    set_number(L, "forecast_peak_at", rec->forecast_peak_at);
    set_string(L, "reason", rec->reason);
    lua_pushboolean(L, context->reactive);
    lua_setfield(L, -2, "reactive");
}

static void push_context(lua_State *L, const policy_context *context)
{
    lua_createtable(L, 0, 6);
    set_number(L, "now", context->now);
    set_integer(L, "min_replicas", context->min_replicas);
    set_integer(L, "max_replicas", context->max_replicas);
    set_integer(L, "ready_replicas", context->ready_replicas);
    set_number(L, "current_load", context->current_load);
    set_number(L, "capacity_per_replica", context->capacity_per_replica);
}

/* format_into(buffer, size, "%s", text) without printf: the policy is asked several times a tick. */
static void copy_text(char *buffer, size_t size, const char *text)
{
    if (size == 0)
        return;
    size_t length = strnlen(text, size - 1);
    memcpy(buffer, text, length);
    buffer[length] = '\0';
}

/* Reads the verdict and reason decide() returned; false when the verdict is not one of the three. */
static bool read_verdict(lua_State *L, policy_verdict *verdict, char *reason, size_t reason_size)
{
    const char *word = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    const char *why = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    copy_text(reason, reason_size, why);
    if (word && strcmp(word, "approve") == 0)
        *verdict = VERDICT_APPROVE;
    else if (word && strcmp(word, "ask") == 0)
        *verdict = VERDICT_ASK;
    else if (word && strcmp(word, "reject") == 0)
        *verdict = VERDICT_REJECT;
    else
        return false;
    return true;
}

static policy_verdict policy_failed(policy *p, char *reason, size_t reason_size, const char *what)
{
    p->errors++;
    log_error("%s: %s", p->name, what);
    format_into(reason, reason_size, "policy error, so a person decides: %s", what);
    return VERDICT_ASK;
}

policy_verdict policy_decide(policy *p, const recommendation *rec, const policy_context *context, char *reason,
                             size_t reason_size)
{
    if (!p->script) {
        format_into(reason, reason_size, "no policy: every change asks a person");
        return VERDICT_ASK;
    }
    lua_State *L = script_state(p->script);
    script_push_function(p->script, "decide");
    push_recommendation(L, rec, context);
    push_context(L, context);
    if (script_call(p->script, 2, 2) != 0)
        return policy_failed(p, reason, reason_size, script_error(p->script));
    policy_verdict verdict = VERDICT_ASK;
    bool valid = read_verdict(L, &verdict, reason, reason_size);
    if (!valid) {
        char what[256];
        const char *quote = lua_type(L, -2) == LUA_TSTRING ? "\"" : "";
        format_into(what, sizeof what, "%s: decide() returned %s%s%s, expected \"approve\", \"ask\" or \"reject\"",
                    script_path(p->script), quote, luaL_tolstring(L, -2, NULL), quote);
        lua_pop(L, 3);
        return policy_failed(p, reason, reason_size, what);
    }
    lua_pop(L, 2);
    return verdict;
}
