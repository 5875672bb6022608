/* The Lua bridge plugins: a model written as a Lua script loads through the bridge and is used like any C plugin;
 * its mistakes are reported with file:line and never take the controller down. */
#include "support.h"

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

#define SEASON 24
#define HORIZON 30

typedef struct forecast_buffers {
    double mean[HORIZON], lower80[HORIZON], upper80[HORIZON], lower95[HORIZON], upper95[HORIZON];
    double parts[2][HORIZON];
    hydra_forecast forecast;
} forecast_buffers;

static hydra_forecast *forecast_init(forecast_buffers *b)
{
    memset(b, 0, sizeof *b);
    b->forecast = (hydra_forecast){HORIZON, b->mean, b->lower80, b->upper80, b->lower95, b->upper95, 0, {{0}},
                                   {b->parts[0], b->parts[1]}};
    return &b->forecast;
}

/* Three days of a daily shape whose level rises by 10 per day. */
static void daily_series(double *values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        values[i] = 100 + 50 * sin(2 * M_PI * (double)(i % SEASON) / SEASON) + 10 * (double)(i / SEASON);
}

static plugin_instance *open_script(support_plugin *plugin, const char *kind, const char *path, const char *extra)
{
    char settings[512];
    format_into(settings, sizeof settings, "script = \"%s\"; %s", path, extra);
    return support_plugin_open(plugin, kind, "lua", settings);
}

/* ## Forecaster ------------------------------------------------------------------------------------------------ */

static void test_lua_forecaster_loads_and_forecasts(void **state)
{
    (void)state;
    support_plugin plugin;
    assert_non_null(support_plugin_open(&plugin, "forecaster", "lua",
                                        "script = \"scripts/models/seasonal_mean.lua\"; season_length = 24; seasons = 3;"));
    double values[3 * SEASON];
    daily_series(values, ARRAY_LEN(values));
    hydra_series series = {values, ARRAY_LEN(values), 0, 3600};
    forecast_buffers b;
    assert_int_equal(instance_forecast(plugin.instance, &series, forecast_init(&b)), 0);
    for (size_t h = 0; h < HORIZON; h++) {
        size_t phase = (ARRAY_LEN(values) + h) % SEASON;
        /* the mean of the three past days at this phase: the middle day's level */
        double expected = 100 + 50 * sin(2 * M_PI * (double)phase / SEASON) + 10;
        assert_true(fabs(b.mean[h] - expected) < 1e-9);
        assert_true(b.lower95[h] <= b.lower80[h] && b.lower80[h] <= b.mean[h]);
        assert_true(b.mean[h] <= b.upper80[h] && b.upper80[h] <= b.upper95[h]);
        assert_true(b.upper80[h] - b.lower80[h] > 1); /* the days differ by 10: there is spread */
    }
    support_plugin_close(&plugin);
}

static void test_lua_forecaster_settings_override_parameters(void **state)
{
    (void)state;
    support_plugin plugin;
    assert_non_null(support_plugin_open(&plugin, "forecaster", "lua",
                                        "script = \"scripts/models/seasonal_mean.lua\"; season_length = 24; seasons = 1;"));
    double values[3 * SEASON];
    daily_series(values, ARRAY_LEN(values));
    hydra_series series = {values, ARRAY_LEN(values), 0, 3600};
    forecast_buffers b;
    assert_int_equal(instance_forecast(plugin.instance, &series, forecast_init(&b)), 0);
    /* one season: exactly the last day, with no spread */
    assert_true(fabs(b.mean[0] - values[2 * SEASON]) < 1e-9);
    assert_true(b.upper95[0] == b.mean[0]);
    support_plugin_close(&plugin);
}

static void test_lua_forecaster_rejects_unknown_and_mistyped_settings(void **state)
{
    (void)state;
    support_plugin plugin;
    assert_null(support_plugin_open(&plugin, "forecaster", "lua",
                                    "script = \"scripts/models/seasonal_mean.lua\"; seasonz = 2;"));
    assert_contains(plugin.error, "unknown setting 'seasonz'");
    support_plugin_close(&plugin);
    assert_null(support_plugin_open(&plugin, "forecaster", "lua",
                                    "script = \"scripts/models/seasonal_mean.lua\"; seasons = \"three\";"));
    assert_contains(plugin.error, "setting 'seasons' must be a number");
    support_plugin_close(&plugin);
    assert_null(support_plugin_open(&plugin, "forecaster", "lua", ""));
    assert_contains(plugin.error, "missing setting 'script'");
    support_plugin_close(&plugin);
}

static void test_lua_forecaster_plain_array_and_clamping(void **state)
{
    (void)state;
    const char *path = support_write_temp("function forecast(history, horizon)\n"
                                    "  local out = {}\n"
                                    "  for h = 1, horizon do out[h] = history.values[history.count] - 10 * h end\n"
                                    "  return out\nend\n");
    support_plugin plugin;
    assert_non_null(open_script(&plugin, "forecaster", path, ""));
    double values[4] = {1, 2, 3, 25};
    hydra_series series = {values, 4, 0, 60};
    forecast_buffers b;
    assert_int_equal(instance_forecast(plugin.instance, &series, forecast_init(&b)), 0);
    assert_true(b.mean[0] == 15 && b.mean[1] == 5 && b.mean[2] == 0 && b.mean[HORIZON - 1] == 0);
    assert_true(b.upper95[0] == 15);
    support_plugin_close(&plugin);
    unlink(path);
}

static void test_lua_forecaster_components_are_returned(void **state)
{
    (void)state;
    const char *path = support_write_temp("function forecast(history, horizon)\n"
                                    "  local r = { mean = {}, components = { level = {}, season = {} } }\n"
                                    "  for h = 1, horizon do\n"
                                    "    r.components.level[h] = 100; r.components.season[h] = h; r.mean[h] = 100 + h\n"
                                    "  end\n  return r\nend\n");
    support_plugin plugin;
    assert_non_null(open_script(&plugin, "forecaster", path, ""));
    double values[2] = {1, 2};
    hydra_series series = {values, 2, 0, 60};
    forecast_buffers b;
    hydra_forecast *forecast = forecast_init(&b);
    assert_int_equal(instance_forecast(plugin.instance, &series, forecast), 0);
    assert_int_equal(forecast->component_count, 2);
    for (size_t c = 0; c < 2; c++) {
        bool level = strcmp(forecast->component_names[c], "level") == 0;
        assert_true(level || strcmp(forecast->component_names[c], "season") == 0);
        assert_true(forecast->components[c][4] == (level ? 100 : 5));
    }
    support_plugin_close(&plugin);
    unlink(path);
}

static void test_lua_forecaster_bad_result_names_file_and_index(void **state)
{
    (void)state;
    const char *path = support_write_temp("function forecast(history, horizon)\n"
                                    "  local m = {}\n  for h = 1, horizon do m[h] = 1 end\n  m[3] = 'lots'\n"
                                    "  return { mean = m }\nend\n");
    support_plugin plugin;
    assert_non_null(open_script(&plugin, "forecaster", path, ""));
    double values[2] = {1, 2};
    hydra_series series = {values, 2, 0, 60};
    forecast_buffers b;
    support_log_start();
    assert_int_equal(instance_forecast(plugin.instance, &series, forecast_init(&b)), -1);
    assert_contains(instance_error(plugin.instance), path);
    assert_contains(instance_error(plugin.instance), "mean[3] must be a finite number, found string");
    support_log_stop();
    support_plugin_close(&plugin);
    unlink(path);
}

static void test_lua_forecaster_runtime_error_and_runaway_are_contained(void **state)
{
    (void)state;
    const char *path = support_write_temp("calls = 0\n"
                                    "function forecast(history, horizon)\n"
                                    "  calls = calls + 1\n"
                                    "  if calls == 1 then error('model exploded') end\n"
                                    "  if calls == 2 then while true do end end\n"
                                    "  return { 7 }\nend\n");
    support_plugin plugin;
    assert_non_null(open_script(&plugin, "forecaster", path, ""));
    double values[2] = {1, 2};
    hydra_series series = {values, 2, 0, 60};
    forecast_buffers b;
    hydra_forecast *forecast = forecast_init(&b);
    forecast->horizon = 1;
    support_log_start();
    assert_int_equal(instance_forecast(plugin.instance, &series, forecast), -1);
    char where[128];
    format_into(where, sizeof where, "%s:4: model exploded", path);
    assert_contains(instance_error(plugin.instance), where);
    assert_int_equal(instance_forecast(plugin.instance, &series, forecast), -1);
    format_into(where, sizeof where, "%s:5: instruction budget", path);
    assert_contains(instance_error(plugin.instance), where);
    support_log_stop();
    /* and the model still answers afterwards */
    assert_int_equal(instance_forecast(plugin.instance, &series, forecast), 0);
    assert_true(b.mean[0] == 7);
    support_plugin_close(&plugin);
    unlink(path);
}

static void test_lua_bridge_reports_script_errors_at_create(void **state)
{
    (void)state;
    support_plugin plugin;
    const char *path = support_write_temp("-- no forecast here\nfunction predict() end\n");
    assert_null(open_script(&plugin, "forecaster", path, ""));
    assert_contains(plugin.error, "must define a global function forecast()");
    support_plugin_close(&plugin);
    unlink(path);
    path = support_write_temp("local x = 1\nlocal y = x +\n");
    assert_null(open_script(&plugin, "forecaster", path, ""));
    assert_contains(plugin.error, path);
    assert_contains(plugin.error, ":3:"); /* unexpected end of chunk, reported at the line it ends */
    support_plugin_close(&plugin);
    unlink(path);
    assert_null(open_script(&plugin, "forecaster", "/tmp/hydra-no-such-model.lua", ""));
    assert_contains(plugin.error, "/tmp/hydra-no-such-model.lua: cannot open");
    support_plugin_close(&plugin);
}

static void test_lua_bridge_sandbox_applies_to_models(void **state)
{
    (void)state;
    support_plugin plugin;
    const char *path = support_write_temp("function forecast(history, horizon)\n  os.execute('true')\nend\n");
    assert_non_null(open_script(&plugin, "forecaster", path, ""));
    double values[2] = {1, 2};
    hydra_series series = {values, 2, 0, 60};
    forecast_buffers b;
    support_log_start();
    assert_int_equal(instance_forecast(plugin.instance, &series, forecast_init(&b)), -1);
    support_log_stop();
    assert_contains(instance_error(plugin.instance), ":2: attempt to index a nil value (global 'os')");
    support_plugin_close(&plugin);
    unlink(path);
}

/* ## Anomaly detector ------------------------------------------------------------------------------------------- */

static void test_lua_anomaly_scores_a_spike(void **state)
{
    (void)state;
    support_plugin plugin;
    assert_non_null(support_plugin_open(&plugin, "anomaly", "lua",
                                        "script = \"scripts/models/rolling_zscore.lua\"; window = 48;"));
    double values[200], scores[200];
    for (size_t i = 0; i < 200; i++)
        values[i] = 100 + 5 * sin((double)i / 3) + ((i * 7919) % 13) / 13.0;
    values[150] = 300;
    values[160] = NAN;
    hydra_series series = {values, 200, 0, 60};
    assert_int_equal(instance_score(plugin.instance, &series, scores), 0);
    assert_true(scores[150] > 0.95);
    assert_true(scores[160] == 0);
    size_t quiet = 0;
    for (size_t i = 50; i < 200; i++)
        quiet += (i != 150 && scores[i] < 0.5);
    assert_true(quiet >= 140);
    for (size_t i = 0; i < 200; i++)
        assert_true(scores[i] >= 0 && scores[i] <= 1);
    support_plugin_close(&plugin);
}

static void test_lua_anomaly_short_result_is_an_error(void **state)
{
    (void)state;
    const char *path = support_write_temp("function score(series) return { 0.1, 0.2 } end\n");
    support_plugin plugin;
    assert_non_null(open_script(&plugin, "anomaly", path, ""));
    double values[3] = {1, 2, 3}, scores[3];
    hydra_series series = {values, 3, 0, 60};
    support_log_start();
    assert_int_equal(instance_score(plugin.instance, &series, scores), -1);
    support_log_stop();
    assert_contains(instance_error(plugin.instance), "score() result[3] must be a finite number, found nil");
    support_plugin_close(&plugin);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lua_forecaster_loads_and_forecasts),
        cmocka_unit_test(test_lua_forecaster_settings_override_parameters),
        cmocka_unit_test(test_lua_forecaster_rejects_unknown_and_mistyped_settings),
        cmocka_unit_test(test_lua_forecaster_plain_array_and_clamping),
        cmocka_unit_test(test_lua_forecaster_components_are_returned),
        cmocka_unit_test(test_lua_forecaster_bad_result_names_file_and_index),
        cmocka_unit_test(test_lua_forecaster_runtime_error_and_runaway_are_contained),
        cmocka_unit_test(test_lua_bridge_reports_script_errors_at_create),
        cmocka_unit_test(test_lua_bridge_sandbox_applies_to_models),
        cmocka_unit_test(test_lua_anomaly_scores_a_spike),
        cmocka_unit_test(test_lua_anomaly_short_result_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
