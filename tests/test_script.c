/* The Lua sandbox: scripts that try to escape or to exhaust the process are contained, reported with file:line,
 * and leave the process (and the state, where it survives) healthy. */
#include "support.h"

#include "script.h"
#include "util.h"

#include <lauxlib.h>
#include <lualib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Small limits keep the bombs quick. */
static const script_options small_limits = {.memory_limit = 8u << 20, .instruction_limit = 2000000};

/* Runs source as escape.lua; it must fail, with an error that starts with escape.lua:LINE. */
static void expect_contained(const char *source, int line, const char *reason)
{
    char error[4096];
    hydra_script *script = script_open_source("escape.lua", source, &small_limits, error, sizeof error);
    assert_null(script);
    char where[64]; /* line 0: any line */
    format_into(where, sizeof where, line ? "escape.lua:%d:" : "escape.lua:", line);
    if (strncmp(error, where, strlen(where)) != 0)
        fail_msg("expected the error to start with \"%s\": %s", where, error);
    assert_contains(error, reason);
}

/* After any escape attempt, a fresh sandbox still works. */
static void assert_process_healthy(void)
{
    char error[1024];
    hydra_script *script = script_open_source("healthy.lua", "function add(a, b) return a + b end", &small_limits,
                                              error, sizeof error);
    assert_non_null(script);
    lua_State *L = script_state(script);
    assert_true(script_push_function(script, "add"));
    lua_pushinteger(L, 2);
    lua_pushinteger(L, 40);
    assert_int_equal(script_call(script, 2, 1), 0);
    assert_int_equal(lua_tointeger(L, -1), 42);
    lua_pop(L, 1);
    script_close(script);
}

/* ## Escapes ------------------------------------------------------------------------------------------------- */

static void test_sandbox_has_no_os_execute(void **state)
{
    (void)state;
    expect_contained("local x = 1\nos.execute('touch /tmp/hydra-escaped')\n", 2, "global 'os'");
    assert_false(path_is_file("/tmp/hydra-escaped"));
    assert_process_healthy();
}

static void test_sandbox_has_no_io_open(void **state)
{
    (void)state;
    expect_contained("local f = io.open('/etc/passwd')\n", 1, "global 'io'");
    assert_process_healthy();
}

static void test_sandbox_has_no_require(void **state)
{
    (void)state;
    expect_contained("\n\nlocal socket = require('socket')\n", 3, "global 'require'");
    expect_contained("local p = package.loadlib('libc.so.6', 'system')\n", 1, "global 'package'");
    assert_process_healthy();
}

static void test_sandbox_has_no_file_loaders_or_debug(void **state)
{
    (void)state;
    expect_contained("dofile('/etc/passwd')\n", 1, "global 'dofile'");
    expect_contained("loadfile('/etc/passwd')()\n", 1, "global 'loadfile'");
    expect_contained("debug.sethook()\n", 1, "global 'debug'");
    expect_contained("collectgarbage('stop')\n", 1, "global 'collectgarbage'");
    expect_contained("local f = string.dump(function() end)\n", 1, "field 'dump'");
    assert_process_healthy();
}

/* Real bytecode, made by an unsandboxed state, is refused both by load() in the script and as a script file. */
static char *make_bytecode(size_t *length)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    assert_int_equal(luaL_dostring(L, "return string.dump(function() return 'escaped' end)"), LUA_OK);
    const char *dumped = lua_tolstring(L, -1, length);
    char *copy = xmalloc(*length);
    memcpy(copy, dumped, *length);
    lua_close(L);
    return copy;
}

static void test_sandbox_refuses_bytecode_in_load(void **state)
{
    (void)state;
    size_t length;
    char *bytecode = make_bytecode(&length);
    char error[4096];
    hydra_script *script = script_open_source(
        "bytecode.lua", "function try(chunk) local f, err = load(chunk, 'chunk', 'b') return f == nil, err end",
        &small_limits, error, sizeof error);
    assert_non_null(script);
    lua_State *L = script_state(script);
    assert_true(script_push_function(script, "try"));
    lua_pushlstring(L, bytecode, length);
    assert_int_equal(script_call(script, 1, 2), 0);
    assert_true(lua_toboolean(L, -2));
    assert_contains(lua_tostring(L, -1), "attempt to load a binary chunk");
    lua_pop(L, 2);
    script_close(script);
    free(bytecode);
    assert_process_healthy();
}

static void test_sandbox_refuses_bytecode_file(void **state)
{
    (void)state;
    size_t length;
    char *bytecode = make_bytecode(&length);
    char path[] = "/tmp/hydra-bytecode-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytecode, length), (ssize_t)length);
    close(fd);
    char error[4096];
    assert_null(script_open(path, &small_limits, error, sizeof error));
    unlink(path);
    free(bytecode);
    assert_contains(error, path);
    assert_contains(error, "binary chunks are refused");
    assert_process_healthy();
}

/* ## Exhaustion ---------------------------------------------------------------------------------------------- */

static void test_sandbox_caps_memory_of_string_rep_bomb(void **state)
{
    (void)state;
    expect_contained("local a = 1\nlocal s = string.rep('x', 1 << 30)\nreturn #s\n", 2, "memory limit of 8388608 bytes exceeded");
    expect_contained("local t = {}\nfor i = 1, 1e9 do\n  t[i] = string.rep('y', 64) .. i\nend\n", 3, "memory limit");
    assert_process_healthy();
}

static void test_sandbox_stops_infinite_loop(void **state)
{
    (void)state;
    expect_contained("local n = 0\nwhile true do n = n + 1 end\n", 2, "instruction budget of 2000000 exceeded");
    assert_process_healthy();
}

static void test_sandbox_budget_survives_pcall(void **state)
{
    (void)state;
    expect_contained("local function spin() while true do end end\n"
                     "while true do\n"
                     "  local ok, err = pcall(spin)\n"
                     "end\n",
                     0, "instruction budget");
    expect_contained("local ok = pcall(function()\n  while true do end\nend)\nreturn ok\n", 4, "instruction budget");
    assert_process_healthy();
}

static void test_sandbox_contains_runaway_recursion(void **state)
{
    (void)state;
    const char *recursion = "local function deeper(n)\n  return 1 + deeper(n + 1)\nend\nreturn deeper(1)\n";
    /* Under a small cap the Lua stack runs into the memory limit first; under a large one, into its own limit. */
    expect_contained(recursion, 2, "memory limit");
    char error[4096];
    script_options roomy = {.memory_limit = 512u << 20, .instruction_limit = 50000000};
    assert_null(script_open_source("escape.lua", recursion, &roomy, error, sizeof error));
    assert_contains(error, "escape.lua:2: stack overflow");
    assert_process_healthy();
}

/* Lua runs finalizers with hooks off: a looping __gc could never be stopped, so the sandbox has none. */
static void test_sandbox_refuses_finalizers(void **state)
{
    (void)state;
    expect_contained("\nsticky = setmetatable({}, {__gc = function() while true do end end})\n", 2,
                     "__gc metamethods are not allowed");
    char error[1024];
    hydra_script *script = script_open_source(
        "gc.lua", "local mt = {}\nsticky = setmetatable({}, mt)\nmt.__gc = function() while true do end end\n",
        &small_limits, error, sizeof error);
    assert_non_null(script);
    script_close(script); /* returns: a __gc added later never marks the object */
    assert_process_healthy();
}

/* ## What a script can do ---------------------------------------------------------------------------------------- */

static void test_script_budget_is_per_call(void **state)
{
    (void)state;
    /* Each call spends about 60 % of the budget: two calls in a row must both succeed. */
    char error[1024];
    hydra_script *script = script_open_source(
        "work.lua", "function work() local n = 0 for i = 1, 300000 do n = n + i end return n end", &small_limits,
        error, sizeof error);
    assert_non_null(script);
    for (int call = 0; call < 2; call++) {
        assert_true(script_push_function(script, "work"));
        assert_int_equal(script_call(script, 0, 1), 0);
        lua_pop(script_state(script), 1);
    }
    script_close(script);
}

/* One call that stands for three has three budgets, a plain call one: five work() calls (about 3 M instructions)
 * fit in three budgets of 2 M, not in one. */
static void test_script_call_covering_scales_the_budget(void **state)
{
    (void)state;
    char error[1024];
    hydra_script *script = script_open_source(
        "batch.lua",
        "function work() local n = 0 for i = 1, 300000 do n = n + i end return n end\n"
        "function batch() for k = 1, 5 do work() end end",
        &small_limits, error, sizeof error);
    assert_non_null(script);
    assert_true(script_push_function(script, "batch"));
    if (script_call_covering(script, 0, 0, 3) != 0)
        fail_msg("%s", script_error(script));
    assert_true(script_push_function(script, "batch"));
    assert_int_equal(script_call(script, 0, 0), -1);
    assert_contains(script_error(script), "instruction budget of 2000000 exceeded");
    script_close(script);
}

static void test_script_state_survives_a_killed_call(void **state)
{
    (void)state;
    char error[1024];
    hydra_script *script = script_open_source(
        "mixed.lua", "function spin() while true do end end\nfunction answer() return 42 end", &small_limits, error,
        sizeof error);
    assert_non_null(script);
    assert_true(script_push_function(script, "spin"));
    assert_int_equal(script_call(script, 0, 0), -1);
    assert_contains(script_error(script), "mixed.lua:1: instruction budget");
    assert_contains(script_error(script), "stack traceback");
    assert_true(script_push_function(script, "answer"));
    assert_int_equal(script_call(script, 0, 1), 0);
    assert_int_equal(lua_tointeger(script_state(script), -1), 42);
    assert_int_equal(lua_gettop(script_state(script)), 1);
    script_close(script);
}

static void test_script_errors_carry_file_line_and_traceback(void **state)
{
    (void)state;
    char error[4096];
    assert_null(script_open_source("bad.lua", "local function inner()\n  error('boom')\nend\ninner()\n", &small_limits,
                                   error, sizeof error));
    assert_contains(error, "bad.lua:2: boom");
    assert_contains(error, "stack traceback:");
    assert_contains(error, "bad.lua:4:");
    assert_null(script_open_source("table.lua", "error({})", &small_limits, error, sizeof error));
    assert_contains(error, "error object is a table value");
    assert_null(script_open_source("syntax.lua", "x = = 1", &small_limits, error, sizeof error));
    assert_contains(error, "syntax.lua:1:");
}

static void test_script_print_goes_to_log_and_time_to_host_clock(void **state)
{
    (void)state;
    hydra_clock clock;
    clock_init_virtual(&clock, 1802044800); /* 2027-02-08T00:00:00Z */
    script_options options = small_limits;
    options.clock = &clock;
    support_log_start();
    char error[1024];
    hydra_script *script = script_open_source("print.lua", "print('hello', 42)\nnow = hydra.now()\nhydra.log('warn', 'careful')",
                                              &options, error, sizeof error);
    assert_non_null(script);
    assert_contains(support_log_text(), "script print.lua: hello\t42");
    assert_contains(support_log_text(), "script print.lua:3: careful");
    lua_getglobal(script_state(script), "now");
    assert_true(lua_tonumber(script_state(script), -1) == 1802044800.0);
    lua_pop(script_state(script), 1);
    support_log_stop();
    script_close(script);
}

static void test_script_random_is_reproducible(void **state)
{
    (void)state;
    double draws[2];
    for (int run = 0; run < 2; run++) {
        char error[1024];
        hydra_script *script = script_open_source("random.lua", "x = math.random()", &small_limits, error, sizeof error);
        assert_non_null(script);
        lua_getglobal(script_state(script), "x");
        draws[run] = lua_tonumber(script_state(script), -1);
        script_close(script);
    }
    assert_true(draws[0] == draws[1]);
}

static void test_script_load_accepts_text(void **state)
{
    (void)state;
    char error[1024];
    hydra_script *script = script_open_source(
        "text.lua", "local f = load('return 6 * 7')\nanswer = f()\nlocal g = load('return y', 'env', 't', {y = 5})\nfive = g()",
        &small_limits, error, sizeof error);
    assert_non_null(script);
    lua_getglobal(script_state(script), "answer");
    lua_getglobal(script_state(script), "five");
    assert_int_equal(lua_tointeger(script_state(script), -2), 42);
    assert_int_equal(lua_tointeger(script_state(script), -1), 5);
    lua_pop(script_state(script), 2);
    script_close(script);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sandbox_has_no_os_execute),
        cmocka_unit_test(test_sandbox_has_no_io_open),
        cmocka_unit_test(test_sandbox_has_no_require),
        cmocka_unit_test(test_sandbox_has_no_file_loaders_or_debug),
        cmocka_unit_test(test_sandbox_refuses_bytecode_in_load),
        cmocka_unit_test(test_sandbox_refuses_bytecode_file),
        cmocka_unit_test(test_sandbox_caps_memory_of_string_rep_bomb),
        cmocka_unit_test(test_sandbox_stops_infinite_loop),
        cmocka_unit_test(test_sandbox_budget_survives_pcall),
        cmocka_unit_test(test_sandbox_contains_runaway_recursion),
        cmocka_unit_test(test_sandbox_refuses_finalizers),
        cmocka_unit_test(test_script_budget_is_per_call),
        cmocka_unit_test(test_script_call_covering_scales_the_budget),
        cmocka_unit_test(test_script_state_survives_a_killed_call),
        cmocka_unit_test(test_script_errors_carry_file_line_and_traceback),
        cmocka_unit_test(test_script_print_goes_to_log_and_time_to_host_clock),
        cmocka_unit_test(test_script_random_is_reproducible),
        cmocka_unit_test(test_script_load_accepts_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
