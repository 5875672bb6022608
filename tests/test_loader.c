/* The plugin loader and the host API: every rejection reason, each proven by a fixture plugin, and the services
 * an instance gets (settings, clock, metrics, errors). */
#include "support.h"

#include "metrics.h"
#include "util.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const char *fixture_path(const char *name)
{
    static char path[1024];
    format_into(path, sizeof path, "%s/tests/fixtures/%s.so", support_build_dir(), name);
    return path;
}

/* Loads one file and expects a rejection: returns the message, which must be one line naming the file. */
static const char *expect_rejection(const char *path, int kind)
{
    static char error[2048];
    loader_registry registry = {0};
    loader_module *module = loader_load(&registry, path, kind, error, sizeof error);
    assert_null(module);
    assert_int_equal(registry.count, 0);
    assert_non_null(strstr(error, path));
    assert_null(strchr(error, '\n'));
    loader_registry_free(&registry);
    return error;
}

/* ## Rejections, one per reason ------------------------------------------------------------------------------ */

static void test_loader_rejects_missing_file(void **state)
{
    (void)state;
    assert_contains(expect_rejection("build/no/such/plugin.so", LOADER_ANY_KIND), "no such file");
}

static void test_loader_rejects_not_a_shared_object(void **state)
{
    (void)state;
    char path[] = "/tmp/hydra-test-junk-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *junk = fdopen(fd, "w");
    fputs("this is text, not ELF\n", junk);
    fclose(junk);
    const char *error = expect_rejection(path, LOADER_ANY_KIND);
    unlink(path);
    assert_contains(error, "not a loadable shared object");
    assert_contains(error, "expected an ELF shared library");
}

static void test_loader_rejects_missing_entry_symbol(void **state)
{
    (void)state;
    const char *error = expect_rejection(fixture_path("not_a_plugin"), LOADER_ANY_KIND);
    assert_contains(error, "no entry symbol");
    assert_contains(error, "hydra_plugin_entry");
    assert_contains(error, "HYDRA_PLUGIN(");
}

static void test_loader_rejects_libz_naming_the_entry_symbol(void **state)
{
    (void)state;
    const char *libz = "/usr/lib/x86_64-linux-gnu/libz.so.1";
    if (!path_is_file(libz))
        libz = "/lib/x86_64-linux-gnu/libz.so.1";
    assert_true(path_is_file(libz));
    assert_contains(expect_rejection(libz, LOADER_ANY_KIND), "expected an exported function 'hydra_plugin_entry'");
}

static void test_loader_rejects_null_descriptor(void **state)
{
    (void)state;
    assert_contains(expect_rejection(fixture_path("null_descriptor"), LOADER_ANY_KIND), "found NULL");
}

static void test_loader_rejects_newer_abi(void **state)
{
    (void)state;
    char expected[128];
    format_into(expected, sizeof expected, "ABI version mismatch: expected %u, found %u", HYDRA_ABI_VERSION,
                HYDRA_ABI_VERSION + 1);
    const char *error = expect_rejection(fixture_path("abi_newer"), LOADER_ANY_KIND);
    assert_contains(error, expected);
    assert_contains(error, "newer than this hydra");
}

static void test_loader_rejects_older_abi(void **state)
{
    (void)state;
    char expected[128];
    format_into(expected, sizeof expected, "ABI version mismatch: expected %u, found %u", HYDRA_ABI_VERSION,
                HYDRA_ABI_VERSION - 1);
    const char *error = expect_rejection(fixture_path("abi_older"), LOADER_ANY_KIND);
    assert_contains(error, expected);
    assert_contains(error, "rebuild it");
}

static void test_loader_rejects_wrong_descriptor_size(void **state)
{
    (void)state;
    char expected[128];
    format_into(expected, sizeof expected, "descriptor size mismatch: expected %zu bytes, found %zu",
                sizeof(hydra_plugin_descriptor), sizeof(hydra_plugin_descriptor) - 8);
    assert_contains(expect_rejection(fixture_path("wrong_size"), LOADER_ANY_KIND), expected);
}

static void test_loader_rejects_wrong_ops_size(void **state)
{
    (void)state;
    char expected[128];
    format_into(expected, sizeof expected, "forecaster ops size mismatch: expected %zu bytes, found %zu",
                sizeof(hydra_forecaster_ops), sizeof(hydra_forecaster_ops) + 8);
    assert_contains(expect_rejection(fixture_path("wrong_ops_size"), LOADER_ANY_KIND), expected);
}

static void test_loader_rejects_unknown_kind(void **state)
{
    (void)state;
    const char *error = expect_rejection(fixture_path("unknown_kind"), LOADER_ANY_KIND);
    assert_contains(error, "unknown kind");
    assert_contains(error, "found 42");
}

static void test_loader_rejects_kind_other_than_configured(void **state)
{
    (void)state;
    const char *error = expect_rejection(fixture_path("valid_notifier"), HYDRA_KIND_FORECASTER);
    assert_contains(error, "kind mismatch: expected forecaster (as configured), found notifier");
}

static void test_loader_rejects_duplicate_name(void **state)
{
    (void)state;
    loader_registry registry = {0};
    char error[2048];
    assert_non_null(loader_load(&registry, fixture_path("valid_forecaster"), HYDRA_KIND_FORECASTER, error, sizeof error));
    char first[1024];
    format_into(first, sizeof first, "%s", fixture_path("valid_forecaster"));
    assert_null(loader_load(&registry, fixture_path("duplicate_name"), HYDRA_KIND_FORECASTER, error, sizeof error));
    assert_contains(error, "duplicate name");
    assert_contains(error, "\"valid_forecaster\" already loaded from");
    assert_contains(error, first);
    assert_int_equal(registry.count, 1);
    loader_registry_free(&registry);
}

static void test_loader_rejects_missing_mandatory_op(void **state)
{
    (void)state;
    assert_contains(expect_rejection(fixture_path("missing_op"), LOADER_ANY_KIND),
                    "missing mandatory op: expected forecaster op 'predict', found NULL");
}

static void test_loader_rejects_half_of_an_optional_group(void **state)
{
    (void)state;
    assert_contains(expect_rejection(fixture_path("half_streaming"), LOADER_ANY_KIND),
                    "expected forecaster op 'model_observe' with the other model_open ops, found NULL");
    assert_contains(expect_rejection(fixture_path("half_saving"), LOADER_ANY_KIND),
                    "expected forecaster op 'model_load' with the other model_save ops, found NULL");
}

static void test_loader_rejects_missing_create(void **state)
{
    (void)state;
    assert_contains(expect_rejection(fixture_path("missing_create"), LOADER_ANY_KIND), "found create NULL");
}

static void test_loader_rejects_invalid_name(void **state)
{
    (void)state;
    assert_contains(expect_rejection(fixture_path("bad_name"), LOADER_ANY_KIND), "invalid name");
}

static void test_loader_rejects_unresolved_symbol_at_load(void **state)
{
    (void)state;
    const char *error = expect_rejection(fixture_path("unresolved_symbol"), LOADER_ANY_KIND);
    assert_contains(error, "hydra_fixture_function_nobody_defines");
}

/* ## Accepted plugins and the host API ------------------------------------------------------------------------ */

static void test_loader_loads_same_file_once(void **state)
{
    (void)state;
    loader_registry registry = {0};
    char error[2048];
    loader_module *first = loader_load(&registry, fixture_path("valid_forecaster"), LOADER_ANY_KIND, error, sizeof error);
    loader_module *again = loader_load(&registry, fixture_path("valid_forecaster"), HYDRA_KIND_FORECASTER, error,
                                       sizeof error);
    assert_non_null(first);
    assert_ptr_equal(first, again);
    assert_int_equal(registry.count, 1);
    assert_string_equal(first->descriptor->name, "valid_forecaster");
    loader_registry_free(&registry);
}

static plugin_instance *open_fixture(support_plugin *plugin, loader_module **module, const char *settings_text)
{
    memset(plugin, 0, sizeof *plugin);
    config_init(&plugin->config);
    char *text = xasprintf("settings = { %s };", settings_text);
    assert_int_equal(config_read_string(&plugin->config, text), CONFIG_TRUE);
    free(text);
    clock_init_virtual(&plugin->clock, 1000);
    *module = loader_load(&plugin->registry, fixture_path("valid_forecaster"), HYDRA_KIND_FORECASTER, plugin->error,
                          sizeof plugin->error);
    assert_non_null(*module);
    instance_context context = {.clock = &plugin->clock, .base_dir = "."};
    plugin->instance = instance_create(*module, "fixture_instance", config_lookup(&plugin->config, "settings"),
                                       &context, plugin->error, sizeof plugin->error);
    return plugin->instance;
}

static void test_host_gives_settings_clock_and_metrics(void **state)
{
    (void)state;
    support_plugin plugin;
    loader_module *module;
    assert_non_null(open_fixture(&plugin, &module, "factor = 2.5;"));
    double mean[3], lo80[3], hi80[3], lo95[3], hi95[3];
    hydra_forecast forecast = {3, mean, lo80, hi80, lo95, hi95, 0, {{0}}, {0}};
    double values[4] = {1, 2, 3, 4};
    hydra_series series = {values, 4, 0, 60};
    assert_int_equal(instance_forecast(plugin.instance, &series, &forecast), 0);
    assert_true(fabs(mean[2] - 2500.0) < 1e-9); /* virtual clock 1000 x factor 2.5 */
    clock_advance(&plugin.clock, 10);
    assert_int_equal(instance_forecast(plugin.instance, &series, &forecast), 0);
    assert_true(fabs(mean[0] - 2525.0) < 1e-9);
    assert_true(fabs(metrics_value("fixture_instance", "predict_calls_total") - 2) < 1e-9);
    support_plugin_close(&plugin);
}

static void test_host_rejects_unknown_setting_with_file_line(void **state)
{
    (void)state;
    support_plugin plugin;
    loader_module *module;
    assert_null(open_fixture(&plugin, &module, "factor = 2.0;\n facter = 3.0;"));
    assert_contains(plugin.error, ":2: plugin fixture_instance: unknown setting 'facter'");
    support_plugin_close(&plugin);
}

static void test_host_rejects_setting_of_wrong_type(void **state)
{
    (void)state;
    support_plugin plugin;
    loader_module *module;
    support_log_start();
    assert_null(open_fixture(&plugin, &module, "factor = \"two\";"));
    assert_contains(plugin.error, "setting 'factor' must be a number");
    assert_contains(support_log_text(), ":1: plugin fixture_instance: setting 'factor' must be a number");
    support_log_stop();
    support_plugin_close(&plugin);
}

static void test_host_metric_names_are_checked(void **state)
{
    (void)state;
    assert_int_equal(metrics_register("owner", "9starts_with_digit", "", HYDRA_METRIC_COUNTER), -1);
    int handle = metrics_register("owner", "ok_total", "", HYDRA_METRIC_COUNTER);
    assert_true(handle >= 0);
    assert_int_equal(metrics_register("owner", "ok_total", "", HYDRA_METRIC_GAUGE), -1);
    metrics_add(handle, 2);
    metrics_add(handle, -1); /* a counter never goes down */
    assert_true(fabs(metrics_value("owner", "ok_total") - 2) < 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loader_rejects_missing_file),
        cmocka_unit_test(test_loader_rejects_not_a_shared_object),
        cmocka_unit_test(test_loader_rejects_missing_entry_symbol),
        cmocka_unit_test(test_loader_rejects_libz_naming_the_entry_symbol),
        cmocka_unit_test(test_loader_rejects_null_descriptor),
        cmocka_unit_test(test_loader_rejects_newer_abi),
        cmocka_unit_test(test_loader_rejects_older_abi),
        cmocka_unit_test(test_loader_rejects_wrong_descriptor_size),
        cmocka_unit_test(test_loader_rejects_wrong_ops_size),
        cmocka_unit_test(test_loader_rejects_unknown_kind),
        cmocka_unit_test(test_loader_rejects_kind_other_than_configured),
        cmocka_unit_test(test_loader_rejects_duplicate_name),
        cmocka_unit_test(test_loader_rejects_missing_mandatory_op),
        cmocka_unit_test(test_loader_rejects_half_of_an_optional_group),
        cmocka_unit_test(test_loader_rejects_missing_create),
        cmocka_unit_test(test_loader_rejects_invalid_name),
        cmocka_unit_test(test_loader_rejects_unresolved_symbol_at_load),
        cmocka_unit_test(test_loader_loads_same_file_once),
        cmocka_unit_test(test_host_gives_settings_clock_and_metrics),
        cmocka_unit_test(test_host_rejects_unknown_setting_with_file_line),
        cmocka_unit_test(test_host_rejects_setting_of_wrong_type),
        cmocka_unit_test(test_host_metric_names_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
