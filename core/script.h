/* The sandboxed Lua runtime. One lua_State per script, never shared between threads.
 *
 * Only base, table, string, math and utf8 are opened; io, os, package, debug, dofile, loadfile, collectgarbage and
 * string.dump are absent, load() takes text only, print() goes to the log and hydra.now() reads the host clock.
 * Each state has a memory cap; each call from C has an instruction budget that a pcall inside the script cannot
 * swallow: once spent, the count hook fires on every instruction and raises again until control is back in C.
 * Every C->Lua call goes through script_call(). */
#ifndef HYDRA_SCRIPT_H
#define HYDRA_SCRIPT_H

#include "clock.h"

#include <hydra/plugin.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#define SCRIPT_DEFAULT_MEMORY_LIMIT (64u << 20)
#define SCRIPT_DEFAULT_INSTRUCTION_LIMIT 50000000LL

typedef void (*script_extend_fn)(lua_State *L, void *context);

typedef struct script_options {
    size_t memory_limit;          /* bytes; 0 means SCRIPT_DEFAULT_MEMORY_LIMIT */
    long long instruction_limit;  /* per call; 0 means SCRIPT_DEFAULT_INSTRUCTION_LIMIT */
    const hydra_clock *clock;     /* for hydra.now(); NULL means the real clock */
    script_extend_fn extend;      /* adds functions to the `hydra` table before the chunk runs */
    void *extend_context;
} script_options;

/* Loads path (text only) into a new sandbox and runs its top level. NULL on failure, with the reason
 * ("file:line: message" and a traceback) in error. */
hydra_script *script_open(const char *path, const script_options *options, char *error, size_t error_size);
/* The same for source held in memory; chunk_name is what messages show in place of a file name. */
hydra_script *script_open_source(const char *chunk_name, const char *source, const script_options *options,
                                 char *error, size_t error_size);
void script_close(hydra_script *script);

lua_State *script_state(hydra_script *script);
const char *script_path(const hydra_script *script);

/* Calls the function below nargs arguments with a fresh budget. Returns 0, or -1 with script_error() set. */
int script_call(hydra_script *script, int nargs, int nresults);
/* The same for one call that stands for `calls` calls (a Lua loop over many services): the budget is that many
 * times the per-call limit. */
int script_call_covering(hydra_script *script, int nargs, int nresults, long long calls);
/* Pushes the global function name and returns true, or pushes nothing and returns false. */
bool script_push_function(hydra_script *script, const char *name);
bool script_has_function(hydra_script *script, const char *name);
const char *script_error(const hydra_script *script);


/* Something the caller attaches (the plugin instance that owns a bridge script). */
void script_set_owner(hydra_script *script, void *owner);
void *script_owner(const hydra_script *script);

#endif
