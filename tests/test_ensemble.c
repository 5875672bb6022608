/* The ensemble forecaster, loaded as built beside its members in one configuration: it leans on the member that
 * forecast the recent past best, shares equally while the past is too short to tell, keeps its intervals ordered
 * and its components adding up to the mean, and names what is wrong with its members. */
#include "support.h"

#include "config.h"
#include "plugin_set.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define SEASON 60
#define HORIZON 30

typedef struct fixture {
    char path[64];
    hydra_config config;
    plugin_set plugins;
    hydra_clock clock;
    char error[2048];
} fixture;

/* Opens seasonal_naive, linear and an ensemble with ensemble_settings; returns -1 with f->error on failure. */
static int fixture_open(fixture *f, const char *ensemble_settings)
{
    memset(f, 0, sizeof *f);
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    format_into(f->path, sizeof f->path, "/tmp/hydra-ensemble-XXXXXX");
    int fd = mkstemp(f->path);
    FILE *file = fdopen(fd, "w");
    fprintf(file,
            "plugin_dir = \"%s/%s/plugins\";\n"
            "plugins = (\n"
            "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = %d; }; },\n"
            "  { kind = \"forecaster\"; name = \"ensemble\"; settings = { %s }; },\n"
            "  { kind = \"forecaster\"; name = \"linear\"; }\n"
            ");\n",
            cwd, support_build_dir(), SEASON, ensemble_settings);
    fclose(file);
    clock_init_virtual(&f->clock, 0);
    if (config_load(&f->config, f->path, f->error, sizeof f->error) != 0)
        fail_msg("%s", f->error);
    if (plugin_set_open(&f->plugins, &f->config, &f->clock, f->error, sizeof f->error) == 0)
        return 0;
    config_free(&f->config);
    unlink(f->path);
    return -1;
}

static void fixture_close(fixture *f)
{
    plugin_set_close(&f->plugins);
    config_free(&f->config);
    unlink(f->path);
}

static plugin_instance *forecaster(fixture *f, const char *name)
{
    plugin_instance *instance = plugin_set_find(&f->plugins, HYDRA_KIND_FORECASTER, name);
    assert_non_null(instance);
    return instance;
}

static double seasonal_value(size_t i) { return 100 + 40 * sin(2 * M_PI * (double)(i % SEASON) / SEASON); }

static void assert_forecast_is_sound(const hydra_forecast *forecast)
{
    for (size_t i = 0; i < forecast->horizon; i++) {
        assert_true(forecast->lower95[i] <= forecast->lower80[i] + 1e-9);
        assert_true(forecast->lower80[i] <= forecast->mean[i] + 1e-9);
        assert_true(forecast->mean[i] <= forecast->upper80[i] + 1e-9);
        assert_true(forecast->upper80[i] <= forecast->upper95[i] + 1e-9);
        double parts = 0;
        for (size_t c = 0; c < forecast->component_count; c++)
            parts += forecast->components[c][i];
        assert_true(fabs(parts - forecast->mean[i]) < 1e-6 * fmax(1, fabs(forecast->mean[i])));
    }
}

/* On a clean daily-like season the seasonal member forecasts the holdout exactly and the line does not: the
 * ensemble follows the season; on a straight line it is the other way round. */
static void test_ensemble_weights_the_member_that_was_right(void **state)
{
    (void)state;
    fixture f;
    if (fixture_open(&f, "members = \"seasonal_naive, linear\"; holdout = 30;") != 0)
        fail_msg("%s", f.error);
    double values[10 * SEASON];
    for (size_t i = 0; i < 10 * SEASON; i++)
        values[i] = seasonal_value(i) + 0.5 * sin((double)i * 1.7); /* a little noise, so no error is zero */
    hydra_series history = {values, 10 * SEASON, 0, 60};
    hydra_forecast forecast, naive;
    support_forecast_alloc(&forecast, HORIZON);
    support_forecast_alloc(&naive, HORIZON);
    assert_int_equal(instance_forecast(forecaster(&f, "ensemble"), &history, &forecast), 0);
    assert_int_equal(instance_forecast(forecaster(&f, "seasonal_naive"), &history, &naive), 0);
    assert_forecast_is_sound(&forecast);
    assert_int_equal(forecast.component_count, 2);
    assert_contains(forecast.component_names[0], "seasonal_naive x");
    assert_true(strtod(strstr(forecast.component_names[0], " x") + 2, NULL) > 0.9);
    for (size_t i = 0; i < HORIZON; i++)
        assert_true(fabs(forecast.mean[i] - naive.mean[i]) < 2);

    for (size_t i = 0; i < 10 * SEASON; i++)
        values[i] = 50 + 0.5 * (double)i;
    assert_int_equal(instance_forecast(forecaster(&f, "ensemble"), &history, &forecast), 0);
    assert_contains(forecast.component_names[1], "linear x1.00");
    for (size_t i = 0; i < HORIZON; i++)
        assert_true(fabs(forecast.mean[i] - (50 + 0.5 * (double)(10 * SEASON + i))) < 1);
    support_forecast_free(&forecast);
    support_forecast_free(&naive);
    fixture_close(&f);
}

/* Too short to backtest: the members that can forecast share equally; one that cannot sits out. */
static void test_ensemble_shares_equally_while_the_past_is_short(void **state)
{
    (void)state;
    fixture f;
    if (fixture_open(&f, "members = \"seasonal_naive,linear\"; holdout = 60;") != 0)
        fail_msg("%s", f.error);
    double values[SEASON + 10];
    for (size_t i = 0; i < SEASON + 10; i++)
        values[i] = seasonal_value(i);
    hydra_series history = {values, SEASON + 10, 0, 60};
    hydra_forecast forecast, naive, line;
    support_forecast_alloc(&forecast, HORIZON);
    support_forecast_alloc(&naive, HORIZON);
    support_forecast_alloc(&line, HORIZON);
    assert_int_equal(instance_forecast(forecaster(&f, "ensemble"), &history, &forecast), 0);
    assert_int_equal(instance_forecast(forecaster(&f, "seasonal_naive"), &history, &naive), 0);
    assert_int_equal(instance_forecast(forecaster(&f, "linear"), &history, &line), 0);
    assert_forecast_is_sound(&forecast);
    for (size_t i = 0; i < HORIZON; i++)
        assert_true(fabs(forecast.mean[i] - (naive.mean[i] + line.mean[i]) / 2) < 1e-9);

    hydra_series shorter = {values, SEASON / 2, 0, 60}; /* less than a season: only the line can forecast */
    assert_int_equal(instance_forecast(forecaster(&f, "ensemble"), &shorter, &forecast), 0);
    assert_int_equal(forecast.component_count, 1);
    assert_contains(forecast.component_names[0], "linear x1.00");
    support_forecast_free(&forecast);
    support_forecast_free(&naive);
    support_forecast_free(&line);
    fixture_close(&f);
}

static void test_ensemble_names_what_is_wrong(void **state)
{
    (void)state;
    fixture f;
    support_log_start();
    assert_int_equal(fixture_open(&f, "holdout = 10;"), -1);
    assert_contains(f.error, "members: required");
    assert_int_equal(fixture_open(&f, "members = \"linear\";"), -1);
    assert_contains(f.error, "two or more forecasters");
    assert_int_equal(fixture_open(&f, "members = \"linear, linear\";"), -1);
    assert_contains(f.error, "'linear' is named twice");
    assert_int_equal(fixture_open(&f, "members = \"linear, ,seasonal_naive\";"), -1);
    assert_contains(f.error, "empty or over-long name");
    assert_int_equal(fixture_open(&f, "members = \"linear, seasonal_naive\"; holdout = 0;"), -1);
    assert_contains(f.error, "holdout: must be 1 to 100000");
    support_log_stop();

    /* Members are looked up when forecasting: a name no forecaster has, or the ensemble itself, is refused then. */
    double values[200];
    for (size_t i = 0; i < 200; i++)
        values[i] = (double)i;
    hydra_series history = {values, 200, 0, 60};
    hydra_forecast forecast;
    support_forecast_alloc(&forecast, HORIZON);
    if (fixture_open(&f, "members = \"linear, prophet\";") != 0)
        fail_msg("%s", f.error);
    assert_int_equal(instance_forecast(forecaster(&f, "ensemble"), &history, &forecast), -1);
    assert_contains(instance_error(forecaster(&f, "ensemble")), "no forecaster named 'prophet'");
    fixture_close(&f);
    if (fixture_open(&f, "members = \"linear, ensemble\";") != 0)
        fail_msg("%s", f.error);
    assert_int_equal(instance_forecast(forecaster(&f, "ensemble"), &history, &forecast), -1);
    assert_contains(instance_error(forecaster(&f, "ensemble")), "cannot be built from itself");
    fixture_close(&f);

    /* No member can forecast: each is named. */
    if (fixture_open(&f, "members = \"seasonal_naive, linear\";") != 0)
        fail_msg("%s", f.error);
    hydra_series one = {values, 1, 0, 60};
    assert_int_equal(instance_forecast(forecaster(&f, "ensemble"), &one, &forecast), -1);
    assert_contains(instance_error(forecaster(&f, "ensemble")), "no member could forecast from 1 samples");
    assert_contains(instance_error(forecaster(&f, "ensemble")), "seasonal_naive, linear");
    fixture_close(&f);
    support_forecast_free(&forecast);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ensemble_weights_the_member_that_was_right),
        cmocka_unit_test(test_ensemble_shares_equally_while_the_past_is_short),
        cmocka_unit_test(test_ensemble_names_what_is_wrong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
