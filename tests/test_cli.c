/* The hydra command line, run as a user runs it; and an out-of-tree plugin built against the installed header
 * and pkg-config file, then loaded by hydra. */
#include "support.h"

#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Runs build/hydra with args; returns the exit status and sets *output. */
static int hydra(const char *args, const char **output)
{
    char *line = xasprintf("%s/hydra %s", support_build_dir(), args);
    int status = support_run(line, output);
    free(line);
    return status;
}

static size_t line_count(const char *text)
{
    size_t lines = 0;
    for (; *text; text++)
        lines += *text == '\n';
    return lines;
}

static void test_cli_help_and_version(void **state)
{
    (void)state;
    const char *output;
    assert_int_equal(hydra("--help", &output), 0);
    assert_contains(output, "check-config FILE");
    assert_contains(output, "plugins --load FILE.so");
    assert_int_equal(hydra("--version", &output), 0);
    char expected[64];
    format_into(expected, sizeof expected, "(plugin ABI %u)", HYDRA_ABI_VERSION);
    assert_contains(output, expected);
}

static void test_cli_usage_errors_exit_2_with_one_line(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"", "no command given"},
        {"frobnicate", "unknown command 'frobnicate'"},
        {"--frob", "unknown option '--frob'"},
        {"check-config", "which file?"},
        {"plugins --load", "--load needs a value"},
        {"plugins --colour", "unknown argument '--colour'"},
        {"plugins --kind forecaster", "--kind goes with --load"},
        {"plugins --load x.so --kind gadget", "unknown kind 'gadget'"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *output;
        assert_int_equal(hydra(cases[i][0], &output), 2);
        assert_contains(output, cases[i][1]);
        assert_int_equal(line_count(output), 1);
    }
}

static void test_cli_plugins_lists_the_four_kinds(void **state)
{
    (void)state;
    const char *output;
    assert_int_equal(hydra("plugins", &output), 0);
    assert_contains(output, "KIND       NAME             VERSION  ABI  FILE");
    const char *expected[] = {"forecaster holt_winters", "forecaster seasonal_naive", "forecaster lua",
                              "forecaster calendar",     "anomaly    robust_z",        "anomaly    lua",
                              "notifier   log",          "scaler     log"};
    for (size_t i = 0; i < ARRAY_LEN(expected); i++)
        assert_contains(output, expected[i]);
    assert_contains(output, "/plugins/forecaster/holt_winters.so");
}

static void test_cli_plugins_from_config(void **state)
{
    (void)state;
    const char *output;
    assert_int_equal(hydra("plugins --config configs/hydra.cfg", &output), 0);
    assert_contains(output, "INSTANCE");
    assert_contains(output, "seasonal_mean    forecaster lua");
    assert_contains(output, "rolling_zscore   anomaly    lua");
}

static void test_cli_load_refuses_libz_naming_the_entry_symbol(void **state)
{
    (void)state;
    const char *libz = path_is_file("/usr/lib/x86_64-linux-gnu/libz.so.1") ? "/usr/lib/x86_64-linux-gnu/libz.so.1"
                                                                             : "/lib/x86_64-linux-gnu/libz.so.1";
    char args[256];
    format_into(args, sizeof args, "plugins --load %s", libz);
    const char *output;
    assert_int_equal(hydra(args, &output), 1);
    assert_contains(output, libz);
    assert_contains(output, "no entry symbol: expected an exported function 'hydra_plugin_entry'");
    assert_int_equal(line_count(output), 1);
}

static void test_cli_load_describes_a_plugin(void **state)
{
    (void)state;
    char args[256];
    format_into(args, sizeof args, "plugins --load %s", support_plugin_path("forecaster", "holt_winters"));
    const char *output;
    assert_int_equal(hydra(args, &output), 0);
    assert_contains(output, "forecaster plugin 'holt_winters' version 1.0.0, ABI 1");
    format_into(args, sizeof args, "plugins --load %s --kind scaler", support_plugin_path("forecaster", "holt_winters"));
    assert_int_equal(hydra(args, &output), 1);
    assert_contains(output, "kind mismatch: expected scaler (as configured), found forecaster");
}

static void test_cli_check_config(void **state)
{
    (void)state;
    const char *output;
    assert_int_equal(hydra("check-config configs/hydra.cfg", &output), 0);
    assert_contains(output, "configs/hydra.cfg: ok: 8 plugins, 1 targets");
    /* the README's example of every bundled plugin's settings loads and creates each of them */
    assert_int_equal(hydra("check-config configs/all-plugins.cfg", &output), 0);
    assert_contains(output, "configs/all-plugins.cfg: ok: 18 plugins, 1 targets, 4 notifiers");
    char path[] = "/tmp/hydra-cli-XXXXXX";
    int fd = mkstemp(path);
    FILE *file = fdopen(fd, "w");
    fputs("tick = \"1m\";\nhorizon = 5;\n", file);
    fclose(file);
    char args[128];
    format_into(args, sizeof args, "check-config %s", path);
    assert_int_equal(hydra(args, &output), 1);
    unlink(path);
    assert_contains(output, path);
    assert_contains(output, ":2: horizon: must be between 60s and");
}

static void test_cli_check_config_refuses_broken_policy(void **state)
{
    (void)state;
    char policy[] = "/tmp/hydra-policy-XXXXXX";
    int fd = mkstemp(policy);
    FILE *file = fdopen(fd, "w");
    fputs("function decide(rec, ctx)\n  return 'approve'\n", file); /* missing end */
    fclose(file);
    char config[] = "/tmp/hydra-cli-XXXXXX";
    fd = mkstemp(config);
    file = fdopen(fd, "w");
    fprintf(file, "policy = \"%s\";\n", policy);
    fclose(file);
    char args[128];
    format_into(args, sizeof args, "check-config %s", config);
    const char *output;
    assert_int_equal(hydra(args, &output), 1);
    assert_contains(output, policy);
    assert_contains(output, ":3:");
    unlink(policy);
    unlink(config);
}

/* make install into a staging folder, then build examples/plugin with the installed pkg-config file alone. */
static void test_out_of_tree_plugin_builds_against_installed_header(void **state)
{
    (void)state;
    char stage[64];
    const char *output;
    int status = support_make_install("/usr/local", stage, sizeof stage, &output);
    if (status != 0)
        fail_msg("make install failed: %s", output);
    char *header = xasprintf("%s/usr/local/include/hydra/plugin.h", stage);
    assert_true(path_is_file(header));
    free(header);
    /* The service unit runs the installed binary on the installed config, and that config is valid as installed. */
    char *unit = xasprintf("%s/usr/local/lib/systemd/system/hydra.service", stage);
    FILE *unit_file = fopen(unit, "r");
    assert_non_null(unit_file);
    char unit_text[4096];
    unit_text[fread(unit_text, 1, sizeof unit_text - 1, unit_file)] = '\0';
    fclose(unit_file);
    free(unit);
    assert_contains(unit_text, "ExecStart=/usr/local/bin/hydra serve --config /usr/local/share/hydra/configs/hydra.cfg");
    char *check = xasprintf("HYDRA_PLUGIN_DIR=%s/usr/local/lib/hydra/plugins %s/usr/local/bin/hydra check-config "
                            "%s/usr/local/share/hydra/configs/hydra.cfg 2>&1",
                            stage, stage, stage);
    status = support_run(check, &output);
    free(check);
    if (status != 0)
        fail_msg("the installed config does not check: %s", output);

    char *build = xasprintf("cp examples/plugin/last_value.c examples/plugin/Makefile %s/ && "
                            "PKG_CONFIG_PATH=%s/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=%s "
                            "make -s -C %s CPATH= C_INCLUDE_PATH=",
                            stage, stage, stage, stage);
    status = support_run(build, &output);
    free(build);
    if (status != 0)
        fail_msg("building the example plugin failed: %s", output);

    char args[256];
    format_into(args, sizeof args, "plugins --load %s/last_value.so --kind forecaster", stage);
    assert_int_equal(hydra(args, &output), 0);
    assert_contains(output, "forecaster plugin 'last_value' version 1.0.0, ABI 1");
    char *cleanup = xasprintf("rm -rf %s", stage);
    support_run(cleanup, NULL);
    free(cleanup);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_help_and_version),
        cmocka_unit_test(test_cli_usage_errors_exit_2_with_one_line),
        cmocka_unit_test(test_cli_plugins_lists_the_four_kinds),
        cmocka_unit_test(test_cli_plugins_from_config),
        cmocka_unit_test(test_cli_load_refuses_libz_naming_the_entry_symbol),
        cmocka_unit_test(test_cli_load_describes_a_plugin),
        cmocka_unit_test(test_cli_check_config),
        cmocka_unit_test(test_cli_check_config_refuses_broken_policy),
        cmocka_unit_test(test_out_of_tree_plugin_builds_against_installed_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
