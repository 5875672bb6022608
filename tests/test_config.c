/* The config file: the bundled default loads; every mistake is an error naming file:line and the setting. */
#include "support.h"

#include "config.h"
#include "plugin_set.h"
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

static char config_path[64];

/* The smallest valid config, with `extra` appended. Plugin paths point at this build. */
static void write_config(const char *extra)
{
    format_into(config_path, sizeof config_path, "/tmp/hydra-config-XXXXXX");
    int fd = mkstemp(config_path);
    assert_true(fd >= 0);
    FILE *file = fdopen(fd, "w");
    fprintf(file,
            "plugin_dir = \"%s/%s/plugins\";\n"
            "plugins = (\n"
            "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = 24; }; },\n"
            "  { kind = \"scaler\"; name = \"log\"; }\n"
            ");\n"
            "%s\n",
            getenv("PWD") ? getenv("PWD") : ".", support_build_dir(), extra);
    fclose(file);
}

/* Loads the written config and expects failure: returns the error. */
static const char *expect_error(const char *extra)
{
    static char error[2048];
    write_config(extra);
    hydra_config config;
    int status = config_load(&config, config_path, error, sizeof error);
    config_free(&config);
    unlink(config_path);
    assert_int_equal(status, -1);
    assert_null(strchr(error, '\n'));
    assert_contains(error, config_path);
    return error;
}

static const char target_text[] =
    "targets = ( { name = \"web\"; forecaster = \"seasonal_naive\"; scaler = \"log\"; capacity_per_replica = 50; "
    "min_replicas = 1; max_replicas = 8; %s } );";

static const char *expect_target_error(const char *fields)
{
    char extra[1024];
    format_into(extra, sizeof extra, target_text, fields);
    return expect_error(extra);
}

/* ## The bundled default ---------------------------------------------------------------------------------------- */

static void test_config_default_loads_and_opens_every_plugin(void **state)
{
    (void)state;
    hydra_config config;
    char error[2048];
    assert_int_equal(config_load(&config, "configs/hydra.cfg", error, sizeof error), 0);
    assert_int_equal(config.clock_mode, CLOCK_REAL);
    assert_true(config.tick_seconds == 60);
    assert_true(config.horizon_seconds == 3 * 3600);
    assert_true(config.approval_timeout_seconds == 1800);
    assert_int_equal(config.target_count, 1);
    const config_target *target = config_find_target(&config, "donations-api");
    assert_non_null(target);
    assert_int_equal(target->min_replicas, 2);
    assert_int_equal(target->max_replicas, 60);
    assert_true(target->cold_start_seconds == 90);
    assert_true(target->capacity_per_replica == 100.0);
    assert_string_equal(config.policy_path, "configs/../scripts/policies/default.lua");
    assert_true(path_is_file(config.policy_path));
    free(config.plugin_dir);
    config.plugin_dir = xasprintf("%s/plugins", support_build_dir());
    for (size_t i = 0; i < config.plugin_count; i++) {
        free(config.plugins[i].file);
        config.plugins[i].file = loader_plugin_path(config.plugin_dir, config.plugins[i].kind, config.plugins[i].name);
    }
    plugin_set set;
    hydra_clock clock;
    clock_init_real(&clock);
    if (plugin_set_open(&set, &config, &clock, error, sizeof error) != 0)
        fail_msg("%s", error);
    assert_int_equal(set.count, config.plugin_count);
    assert_non_null(plugin_set_find(&set, HYDRA_KIND_SCALER, "log"));
    assert_non_null(plugin_set_find(&set, HYDRA_KIND_NOTIFIER, "log"));
    assert_non_null(plugin_set_find(&set, HYDRA_KIND_FORECASTER, "seasonal_mean"));
    assert_null(plugin_set_find(&set, HYDRA_KIND_FORECASTER, "log"));
    plugin_set_close(&set);
    config_free(&config);
}

static void test_config_reads_durations_and_virtual_clock(void **state)
{
    (void)state;
    write_config("tick = \"30s\"; horizon = \"2h\"; history = \"7d\";\n"
                 "clock = { mode = \"virtual\"; start = \"2027-02-08T00:00:00Z\"; };\n"
                 "approval = { timeout = 900; expected_latency = \"5m\"; };");
    hydra_config config;
    char error[2048];
    assert_int_equal(config_load(&config, config_path, error, sizeof error), 0);
    unlink(config_path);
    assert_true(config.tick_seconds == 30);
    assert_true(config.horizon_seconds == 7200);
    assert_true(config.history_seconds == 7 * 86400);
    assert_int_equal(config.clock_mode, CLOCK_VIRTUAL);
    assert_true(config.clock_start == 1802044800.0);
    assert_true(config.approval_timeout_seconds == 900);
    assert_true(config.approval_latency_seconds == 300);
    config_free(&config);
}

/* dry_run = true on its own line makes every target a dry run, unless the target says otherwise. */
static void test_config_dry_run_is_global_with_a_per_target_override(void **state)
{
    (void)state;
    write_config("dry_run = true;\n"
                 "targets = ( { name = \"web\"; forecaster = \"seasonal_naive\"; scaler = \"log\";\n"
                 "              capacity_per_replica = 50; },\n"
                 "            { name = \"api\"; forecaster = \"seasonal_naive\"; scaler = \"log\";\n"
                 "              capacity_per_replica = 50; dry_run = false; } );");
    hydra_config config;
    char error[2048];
    assert_int_equal(config_load(&config, config_path, error, sizeof error), 0);
    unlink(config_path);
    assert_true(config.dry_run);
    assert_true(config.targets[0].dry_run);
    assert_false(config.targets[1].dry_run);
    config_free(&config);
    write_config("");
    assert_int_equal(config_load(&config, config_path, error, sizeof error), 0);
    unlink(config_path);
    assert_false(config.dry_run);
    config_free(&config);
}

/* ## Mistakes, each with file:line and the setting ----------------------------------------------------------- */

static void test_config_reports_syntax_error_with_line(void **state)
{
    (void)state;
    const char *error = expect_error("\n\ntick = ;");
    assert_contains(error, ":8:");
}

static void test_config_rejects_unknown_top_level_setting(void **state)
{
    (void)state;
    const char *error = expect_error("tikc = 60;");
    assert_contains(error, ":6: tikc: unknown setting");
    assert_contains(error, "allowed here: log_level");
}

static void test_config_rejects_unknown_target_setting(void **state)
{
    (void)state;
    assert_contains(expect_target_error("max_replica = 3;"), "targets[0].max_replica: unknown setting");
}

static void test_config_rejects_wrong_types(void **state)
{
    (void)state;
    assert_contains(expect_target_error("cold_start = true;"), "targets[0].cold_start: must be a duration");
    assert_contains(expect_error("log_level = 3;"), "log_level: must be a string");
    assert_contains(expect_error("dry_run = \"yes\";"), ":6: dry_run: must be true or false");
    assert_contains(expect_target_error("dry_run = 1;"), "targets[0].dry_run: must be true or false");
    assert_contains(expect_error("notifiers = \"log\";"), "notifiers: must be an array");
    assert_contains(expect_error("public_url = \"hydra.example\";"),
                    ":6: public_url: must be the http:// or https:// address people reach hydra at");
    assert_contains(expect_error("plugins = 3;"), "duplicate setting name"); /* libconfig itself */
}

static void test_config_rejects_out_of_range_values(void **state)
{
    (void)state;
    assert_contains(expect_target_error("headroom = -1;"), "targets[0].headroom: must be between 0 and 10, found -1");
    assert_contains(expect_target_error("max_step = -2;"), "targets[0].max_step: must be between 0 and 100000");
    assert_contains(expect_error("tick = \"5 parsecs\";"), "tick: must be a duration such as");
    assert_contains(expect_error("log_level = \"loud\";"), "log_level: must be \"debug\"");
    assert_contains(expect_error("log_format = \"xml\";"), "log_format: must be \"text\" or \"json\"");
}

static void test_config_rejects_min_above_max(void **state)
{
    (void)state;
    char extra[512];
    format_into(extra, sizeof extra,
                "targets = ( { name = \"web\"; forecaster = \"seasonal_naive\"; scaler = \"log\";\n"
                "capacity_per_replica = 50; min_replicas = 9; max_replicas = 3; } );");
    assert_contains(expect_error(extra), "min_replicas (9) is above max_replicas (3)");
}

static void test_config_rejects_missing_required_setting(void **state)
{
    (void)state;
    const char *error = expect_error("targets = ( { name = \"web\"; forecaster = \"seasonal_naive\"; scaler = \"log\"; } );");
    assert_contains(error, "targets[0]: missing required setting 'capacity_per_replica'");
}

static void test_config_rejects_reference_to_missing_or_wrong_kind(void **state)
{
    (void)state;
    assert_contains(expect_error("targets = ( { name = \"web\"; forecaster = \"prophet\"; scaler = \"log\"; "
                                 "capacity_per_replica = 5; } );"),
                    "targets[0].forecaster: no forecaster instance named 'prophet'");
    assert_contains(expect_error("targets = ( { name = \"web\"; forecaster = \"log\"; scaler = \"log\"; "
                                 "capacity_per_replica = 5; } );"),
                    "no forecaster instance named 'log'");
    assert_contains(expect_error("notifiers = [ \"log\" ];"), "notifiers[0]: no notifier instance named 'log'");
}

static void test_config_rejects_duplicates(void **state)
{
    (void)state;
    assert_contains(expect_error("targets = ( { name = \"a\"; forecaster = \"seasonal_naive\"; scaler = \"log\"; "
                                 "capacity_per_replica = 5; },\n { name = \"a\"; forecaster = \"seasonal_naive\"; "
                                 "scaler = \"log\"; capacity_per_replica = 5; } );"),
                    "targets[1].name: duplicate target name 'a'");
}

static void test_config_rejects_bad_plugin_entries(void **state)
{
    (void)state;
    /* write_config defines plugins already: this one needs a file of its own. */
    format_into(config_path, sizeof config_path, "/tmp/hydra-config-XXXXXX");
    int fd = mkstemp(config_path);
    FILE *file = fdopen(fd, "w");
    fputs("plugins = (\n  { kind = \"predictor\"; name = \"x\"; }\n);\n", file);
    fclose(file);
    hydra_config config;
    char error[2048];
    assert_int_equal(config_load(&config, config_path, error, sizeof error), -1);
    config_free(&config);
    unlink(config_path);
    assert_contains(error, ":2: plugins[0].kind: unknown kind (expected one of forecaster, anomaly");
}

static void test_config_rejects_virtual_clock_without_start(void **state)
{
    (void)state;
    assert_contains(expect_error("clock = { mode = \"virtual\"; };"), "missing required setting 'start'");
    assert_contains(expect_error("clock = { mode = \"virtual\"; start = \"yesterday\"; };"),
                    "clock.start: must be an ISO 8601 UTC time");
    assert_contains(expect_error("clock = { mode = \"real\"; start = \"2027-01-01T00:00:00Z\"; };"),
                    "only a virtual clock has a start");
}

static void test_config_reports_unknown_plugin_setting_at_open(void **state)
{
    (void)state;
    format_into(config_path, sizeof config_path, "/tmp/hydra-config-XXXXXX");
    int fd = mkstemp(config_path);
    FILE *file = fdopen(fd, "w");
    fprintf(file,
            "plugin_dir = \"%s/%s/plugins\";\nplugins = (\n  { kind = \"forecaster\"; name = \"holt_winters\";\n"
            "    settings = { season_length = 24;\n      sesonality = \"additive\"; }; }\n);\n",
            getenv("PWD"), support_build_dir());
    fclose(file);
    hydra_config config;
    char error[2048];
    assert_int_equal(config_load(&config, config_path, error, sizeof error), 0);
    plugin_set set;
    hydra_clock clock;
    clock_init_real(&clock);
    assert_int_equal(plugin_set_open(&set, &config, &clock, error, sizeof error), -1);
    config_free(&config);
    assert_contains(error, config_path);
    assert_contains(error, ":5: plugin holt_winters: unknown setting 'sesonality' for forecaster holt_winters");
    unlink(config_path);
}

static void test_config_missing_file_is_an_error(void **state)
{
    (void)state;
    hydra_config config;
    char error[2048];
    assert_int_equal(config_load(&config, "/tmp/hydra-no-such-config.cfg", error, sizeof error), -1);
    config_free(&config);
    assert_contains(error, "/tmp/hydra-no-such-config.cfg: cannot read");
}

/* api.rate_limit: absent is no limit; present, it is checked like every other setting, with file:line. */
static void test_config_reads_and_checks_the_rate_limit(void **state)
{
    (void)state;
    char error[2048] = "";
    hydra_config config;
    write_config("api = { rate_limit = { requests_per_second = 2.5; }; };");
    assert_int_equal(config_load(&config, config_path, error, sizeof error), 0);
    assert_true(config.rate_limit_per_second == 2.5);
    assert_true(config.rate_limit_burst == 3); /* one second's worth, rounded up */
    config_free(&config);
    unlink(config_path);
    write_config("");
    assert_int_equal(config_load(&config, config_path, error, sizeof error), 0);
    assert_true(config.rate_limit_per_second == 0);
    config_free(&config);
    unlink(config_path);

    const char *found = expect_error("api = { rate_limit = { requests_per_second = 10; burst = 0; }; };");
    assert_contains(found, ":6: api.rate_limit.burst: must be between 1 and 1e+06, found 0");
    found = expect_error("api = { rate_limit = { requests_per_second = -1; }; };");
    assert_contains(found, ":6: api.rate_limit.requests_per_second: must be between 0.001 and 1e+06");
    assert_contains(expect_error("api = { rate_limit = { burst = 5; }; };"),
                    "api.rate_limit: missing required setting 'requests_per_second'");
    assert_contains(expect_error("api = { rate_limit = { requests_per_second = 1; brust = 5; }; };"),
                    "api.rate_limit.brust: unknown setting (allowed here: requests_per_second, burst)");
    assert_contains(expect_error("api = { rate_limit = { requests_per_second = \"fast\"; }; };"),
                    "api.rate_limit.requests_per_second: must be a number");
}

/* leader.retry: how often a follower asks for the lead; 5 s unless set, and checked like any duration. */
static void test_config_reads_and_checks_the_leader_retry(void **state)
{
    (void)state;
    char error[2048] = "";
    hydra_config config;
    write_config("leader = { retry = \"2s\"; };");
    assert_int_equal(config_load(&config, config_path, error, sizeof error), 0);
    assert_true(config.leader_retry_seconds == 2);
    config_free(&config);
    unlink(config_path);
    write_config("");
    assert_int_equal(config_load(&config, config_path, error, sizeof error), 0);
    assert_true(config.leader_retry_seconds == 5);
    config_free(&config);
    unlink(config_path);
    assert_contains(expect_error("leader = { retry = \"0s\"; };"), ":6: leader.retry: must be between 1s and 3600s");
    assert_contains(expect_error("leader = { retyr = 3; };"), "leader.retyr: unknown setting (allowed here: retry)");
}

static void test_config_reads_and_checks_the_models_group(void **state)
{
    (void)state;
    char error[2048] = "";
    hydra_config config;
    write_config("models = { max_mape = 0.4; refit_every = \"7d\"; drift_window = \"6h\"; registry = false; };");
    assert_int_equal(config_load(&config, config_path, error, sizeof error), 0);
    assert_true(config.models.max_mape == 0.4 && config.models.max_mase == 0);
    assert_true(config.models.refit_every_seconds == 7 * 86400.0);
    assert_true(config.models.drift_window_seconds == 6 * 3600.0);
    assert_false(config.models.registry);
    assert_true(config.models.holdout_seconds == 6 * 3600.0); /* the default: 6 h, history being 14 d */
    config_free(&config);
    unlink(config_path);
    write_config("history = \"4h\";");
    assert_int_equal(config_load(&config, config_path, error, sizeof error), 0);
    assert_true(config.models.registry);
    assert_true(config.models.holdout_seconds == 3600.0); /* history / 4 */
    config_free(&config);
    unlink(config_path);

    assert_contains(expect_error("models = { drift_psy = 0.2; };"),
                    ":6: models.drift_psy: unknown setting (allowed here: registry, accuracy_window");
    assert_contains(expect_error("models = { drift_ks = 1.5; };"), ":6: models.drift_ks: must be between 0 and 1");
    assert_contains(expect_error("history = \"2h\"; models = { holdout = \"3h\"; };"),
                    "models.holdout: must be shorter than history (7200s)");
    assert_contains(expect_error("models = { refit_every = \"weekly\"; };"),
                    "models.refit_every: must be a duration such as");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_default_loads_and_opens_every_plugin),
        cmocka_unit_test(test_config_reads_and_checks_the_models_group),
        cmocka_unit_test(test_config_reads_durations_and_virtual_clock),
        cmocka_unit_test(test_config_dry_run_is_global_with_a_per_target_override),
        cmocka_unit_test(test_config_reports_syntax_error_with_line),
        cmocka_unit_test(test_config_rejects_unknown_top_level_setting),
        cmocka_unit_test(test_config_rejects_unknown_target_setting),
        cmocka_unit_test(test_config_rejects_wrong_types),
        cmocka_unit_test(test_config_rejects_out_of_range_values),
        cmocka_unit_test(test_config_rejects_min_above_max),
        cmocka_unit_test(test_config_rejects_missing_required_setting),
        cmocka_unit_test(test_config_rejects_reference_to_missing_or_wrong_kind),
        cmocka_unit_test(test_config_rejects_duplicates),
        cmocka_unit_test(test_config_rejects_bad_plugin_entries),
        cmocka_unit_test(test_config_rejects_virtual_clock_without_start),
        cmocka_unit_test(test_config_reports_unknown_plugin_setting_at_open),
        cmocka_unit_test(test_config_missing_file_is_an_error),
        cmocka_unit_test(test_config_reads_and_checks_the_rate_limit),
        cmocka_unit_test(test_config_reads_and_checks_the_leader_retry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
