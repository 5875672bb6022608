/* The planner: sizing from the forecast peak within the lead time, bounds and steps, tolerance, stabilisation,
 * anomalies, and the reactive safety net. */
#include "support.h"

#include "planner.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define STEPS 60

static config_target target(void)
{
    config_target t = {0};
    t.name = "web";
    t.min_replicas = 2;
    t.max_replicas = 50;
    t.capacity_per_replica = 100;
    t.headroom = 0.2;
    t.tolerance = 0.1;
    t.stabilization_seconds = 600;
    t.cold_start_seconds = 120;
    t.predictive = true;
    return t;
}

static double forecast[STEPS];

static const char *reason_of(const planner_decision *d)
{
    static char reason[512];
    planner_explain(d, reason, sizeof reason);
    return reason;
}

static planner_input input(const config_target *t, double now, int desired, double load)
{
    return (planner_input){t, now, forecast, STEPS, 60, t->cold_start_seconds, load, desired, desired, false, false};
}

static void flat_forecast(double value)
{
    for (size_t i = 0; i < STEPS; i++)
        forecast[i] = value;
}

static void test_planner_sizes_for_peak_with_headroom(void **state)
{
    (void)state;
    config_target t = target();
    flat_forecast(1000);
    planner_memory memory;
    planner_memory_init(&memory);
    planner_decision d;
    planner_input in = input(&t, 0, 5, 500);
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_SCALE_UP);
    assert_int_equal(d.replicas, 12); /* ceil(1000 x 1.2 / 100) */
    assert_false(d.reactive);
    assert_non_null(strstr(reason_of(&d), "forecast peak 1000"));
}

static void test_planner_looks_only_within_the_lead(void **state)
{
    (void)state;
    config_target t = target();
    flat_forecast(500);
    forecast[30] = 3000; /* 31 minutes ahead */
    planner_memory memory;
    planner_memory_init(&memory);
    planner_decision d;
    planner_input in = input(&t, 0, 6, 500);
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_HOLD); /* 2-minute lead: the surge is not yet its business */
    in.lead_seconds = 40 * 60;
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_SCALE_UP);
    assert_int_equal(d.replicas, 36);
    assert_true(d.peak_at == 31 * 60);
}

static void test_planner_respects_bounds_and_max_step(void **state)
{
    (void)state;
    config_target t = target();
    t.max_step = 4;
    flat_forecast(100000);
    planner_memory memory;
    planner_memory_init(&memory);
    planner_decision d;
    planner_input in = input(&t, 0, 10, 500);
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.wanted, 50);
    assert_int_equal(d.replicas, 14);
    assert_non_null(strstr(reason_of(&d), "needs 50 replicas (100 per replica, 20 % headroom); at most +4 per action"));
    flat_forecast(0);
    in.current_load = 0;
    in.desired_replicas = in.ready_replicas = 1; /* below min: brought back at once */
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_SCALE_UP);
    assert_int_equal(d.replicas, 2);
}

static void test_planner_ignores_changes_within_tolerance(void **state)
{
    (void)state;
    config_target t = target();
    flat_forecast(1700); /* needs 21 */
    planner_memory memory;
    planner_memory_init(&memory);
    planner_decision d;
    planner_input in = input(&t, 0, 20, 1500);
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_HOLD);
    flat_forecast(2000); /* needs 24: 20 % more */
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_SCALE_UP);
}

static void test_planner_scales_down_only_after_stabilisation(void **state)
{
    (void)state;
    config_target t = target();
    flat_forecast(300); /* needs 4 */
    planner_memory memory;
    planner_memory_init(&memory);
    planner_decision d;
    for (double now = 0; now < 600; now += 60) {
        planner_input in = input(&t, now, 20, 300);
        if (now == 300)
            flat_forecast(700); /* a blip inside the window: needs 9 */
        planner_plan(&in, &memory, &d);
        assert_int_equal(d.action, PLAN_HOLD);
        flat_forecast(300);
    }
    planner_input in = input(&t, 600, 20, 300);
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_SCALE_DOWN);
    assert_int_equal(d.replicas, 9); /* the most the window needed */
    assert_non_null(strstr(reason_of(&d), "lower demand lasted 10 min"));
}

static void test_planner_rising_demand_resets_stabilisation(void **state)
{
    (void)state;
    config_target t = target();
    planner_memory memory;
    planner_memory_init(&memory);
    planner_decision d;
    flat_forecast(300);
    planner_input in = input(&t, 0, 20, 300);
    planner_plan(&in, &memory, &d);
    flat_forecast(1600); /* back to what 20 replicas are for */
    in.now = 300;
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_HOLD);
    flat_forecast(300);
    in.now = 660; /* 11 minutes after the first low tick, but only 6 after the last high one */
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_HOLD);
}

static void test_planner_never_scales_down_on_anomaly(void **state)
{
    (void)state;
    config_target t = target();
    t.stabilization_seconds = 0;
    flat_forecast(100);
    planner_memory memory;
    planner_memory_init(&memory);
    planner_decision d;
    planner_input in = input(&t, 0, 20, 100);
    in.anomalous = true;
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_HOLD);
    assert_non_null(strstr(d.reason, "anomalous"));
    in.anomalous = false;
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_SCALE_DOWN);
}

static void test_planner_safety_net_acts_when_forecast_missed(void **state)
{
    (void)state;
    config_target t = target();
    flat_forecast(400); /* the forecast sees nothing coming */
    planner_memory memory;
    planner_memory_init(&memory);
    planner_decision d;
    planner_input in = input(&t, 0, 5, 2000); /* but 2000 req/s arrive on 500 of capacity */
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_SCALE_UP);
    assert_true(d.reactive);
    assert_int_equal(d.replicas, 24);
    assert_non_null(strstr(reason_of(&d), "above ready capacity"));
}

static void test_planner_without_forecast_holds(void **state)
{
    (void)state;
    config_target t = target();
    planner_memory memory;
    planner_memory_init(&memory);
    planner_decision d;
    planner_input in = input(&t, 0, 5, 300);
    in.forecast = NULL;
    in.forecast_count = 0;
    planner_plan(&in, &memory, &d);
    assert_int_equal(d.action, PLAN_HOLD);
    assert_int_equal(d.replicas, 5);
}

static void test_planner_replicas_for_load(void **state)
{
    (void)state;
    config_target t = target();
    assert_int_equal(planner_replicas_for(&t, 0), 0);
    assert_int_equal(planner_replicas_for(&t, NAN), 0);
    assert_int_equal(planner_replicas_for(&t, 250), 3);
    assert_int_equal(planner_replicas_for(&t, 500), 6); /* exactly 6: no spurious 7th from rounding */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planner_sizes_for_peak_with_headroom),
        cmocka_unit_test(test_planner_looks_only_within_the_lead),
        cmocka_unit_test(test_planner_respects_bounds_and_max_step),
        cmocka_unit_test(test_planner_ignores_changes_within_tolerance),
        cmocka_unit_test(test_planner_scales_down_only_after_stabilisation),
        cmocka_unit_test(test_planner_rising_demand_resets_stabilisation),
        cmocka_unit_test(test_planner_never_scales_down_on_anomaly),
        cmocka_unit_test(test_planner_safety_net_acts_when_forecast_missed),
        cmocka_unit_test(test_planner_without_forecast_holds),
        cmocka_unit_test(test_planner_replicas_for_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
