/* The simulated cluster: cold starts, capacity, queueing and drops, latency, the scorecard's totals, and acting on it
 * through the scaler ops like on a real target. */
#include "support.h"
#include "cluster.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Exact up to rounding: the model is closed-form arithmetic. */
#define assert_near(actual, expected) assert_near_at((actual), (expected), __FILE__, __LINE__)

static void assert_near_at(double actual, double expected, const char *file, int line)
{
    if (!(fabs(actual - expected) <= 1e-9 * fmax(1, fabs(expected))))
        fail_msg("%s:%d: expected %.12g, got %.12g", file, line, expected, actual);
}

/* 100 requests/s a replica, 90 s cold start, 2 ready of at most 20, SLO 300 ms on a 50 ms base, 10 s of queue. */
static cluster_service_spec web_spec(void)
{
    return (cluster_service_spec){
        .name = "web",
        .capacity_per_replica = 100,
        .cold_start_seconds = 90,
        .min_replicas = 0,
        .max_replicas = 20,
        .initial_replicas = 2,
        .latency_slo_ms = 300,
        .base_latency_ms = 50,
        .queue_limit_seconds = 10,
    };
}

static cluster *cluster_with(cluster_service_spec spec)
{
    cluster *c = cluster_create();
    assert_int_equal(cluster_add_service(c, &spec), 0);
    return c;
}

static int ready_at(const cluster *c, double now)
{
    hydra_scale_status status;
    assert_int_equal(cluster_status(c, "web", now, &status), 0);
    return status.ready;
}

static cluster_step_result offer(cluster *c, double now, double dt, double demand)
{
    cluster_step_result step;
    assert_int_equal(cluster_offer(c, "web", now, dt, demand, &step), 0);
    return step;
}

static cluster_service_totals totals_of(const cluster *c)
{
    cluster_service_totals totals;
    assert_int_equal(cluster_totals(c, "web", &totals), 0);
    return totals;
}

/* ## Replicas and cold starts ------------------------------------------------------------------------------------- */

static void test_cluster_replicas_become_ready_exactly_after_cold_start(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    assert_int_equal(cluster_scale(c, "web", 5, 100), 0);
    hydra_scale_status status;
    assert_int_equal(cluster_status(c, "web", 100, &status), 0);
    assert_int_equal(status.desired, 5);
    assert_int_equal(status.ready, 2);
    assert_false(status.paused);
    assert_int_equal(ready_at(c, 189.999), 2);
    assert_int_equal(ready_at(c, 190), 5);
    cluster_destroy(c);
}

static void test_cluster_zero_cold_start_is_ready_at_once(void **state)
{
    (void)state;
    cluster_service_spec spec = web_spec();
    spec.cold_start_seconds = 0;
    cluster *c = cluster_with(spec);
    assert_int_equal(cluster_scale(c, "web", 7, 10), 0);
    assert_int_equal(ready_at(c, 10), 7);
    cluster_destroy(c);
}

static void test_cluster_scale_down_cancels_pending_replicas_first(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    assert_int_equal(cluster_scale(c, "web", 6, 0), 0);  /* 4 boot until 90 */
    assert_int_equal(cluster_scale(c, "web", 9, 30), 0); /* 3 boot until 120 */
    assert_int_equal(cluster_scale(c, "web", 4, 40), 0); /* cancels the 3, then 2 of the 4 */
    hydra_scale_status status;
    assert_int_equal(cluster_status(c, "web", 40, &status), 0);
    assert_int_equal(status.desired, 4);
    assert_int_equal(status.ready, 2);
    assert_int_equal(ready_at(c, 89), 2);
    assert_int_equal(ready_at(c, 90), 4);
    assert_int_equal(ready_at(c, 500), 4);
    cluster_destroy(c);
}

static void test_cluster_scale_down_beyond_pending_removes_ready_replicas_at_once(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    assert_int_equal(cluster_scale(c, "web", 5, 0), 0);
    assert_int_equal(cluster_scale(c, "web", 1, 10), 0); /* cancels the 3 booting, stops 1 of the 2 ready */
    hydra_scale_status status;
    assert_int_equal(cluster_status(c, "web", 10, &status), 0);
    assert_int_equal(status.desired, 1);
    assert_int_equal(status.ready, 1);
    assert_int_equal(ready_at(c, 1000), 1);
    cluster_destroy(c);
}

/* ## Serving ------------------------------------------------------------------------------------------------------ */

static void test_cluster_capacity_is_ready_replicas_times_capacity_per_replica(void **state)
{
    (void)state;
    cluster_service_spec spec = web_spec();
    spec.initial_replicas = 3;
    spec.cold_start_seconds = 0;
    spec.queue_limit_seconds = 0;
    cluster *c = cluster_with(spec);
    cluster_step_result step = offer(c, 0, 60, 1000);
    assert_near(step.served, 3 * 100 * 60);
    assert_near(step.dropped, (1000 - 300) * 60);
    assert_near(step.utilisation, 1);
    assert_int_equal(cluster_scale(c, "web", 5, 60), 0);
    step = offer(c, 60, 60, 1000);
    assert_near(step.served, 5 * 100 * 60);
    cluster_destroy(c);
}

static void test_cluster_demand_below_capacity_drops_nothing_at_low_latency(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    cluster_step_result step = offer(c, 0, 60, 100); /* half of 2 x 100 */
    assert_near(step.served, 6000);
    assert_near(step.dropped, 0);
    assert_near(step.queued, 0);
    assert_near(step.utilisation, 0.5);
    assert_near(step.latency_ms, 100); /* 50 / (1 - 0.5) */
    assert_false(step.slo_violated);
    assert_near(step.violation_seconds, 0);
    assert_int_equal(step.ready, 2);
    assert_int_equal(step.desired, 2);
    cluster_destroy(c);
}

static void test_cluster_overload_queues_then_drops_beyond_queue_limit_conserving_requests(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec()); /* 200 requests/s; the queue holds 10 s of that: 2000 */
    const double expected_queued[] = {500, 1000, 1500, 2000, 2000, 2000};
    const double expected_dropped[] = {0, 0, 0, 0, 500, 500};
    double queued_before = 0;
    for (int i = 0; i < 6; i++) {
        cluster_step_result step = offer(c, 10.0 * i, 10, 250);
        assert_near(step.served, 2000);
        assert_near(step.queued, expected_queued[i]);
        assert_near(step.dropped, expected_dropped[i]);
        assert_near(step.served + step.dropped + (step.queued - queued_before), 250 * 10);
        assert_true(step.slo_violated);
        queued_before = step.queued;
    }
    /* A full queue waits 10 s behind 200 requests/s, on top of the capped utilisation term 50 / (1 - 0.99). */
    assert_near(offer(c, 60, 10, 250).latency_ms, 5000 + 10000);
    cluster_service_totals totals = totals_of(c);
    assert_near(totals.offered_requests, 250 * 70);
    assert_near(totals.served_requests + totals.dropped_requests + 2000, totals.offered_requests);
    cluster_destroy(c);
}

static void test_cluster_backlog_drains_when_demand_falls(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    assert_near(offer(c, 0, 10, 300).queued, 1000);
    cluster_step_result step = offer(c, 10, 10, 100); /* 1000 waiting + 1000 arriving, 2000 servable */
    assert_near(step.served, 2000);
    assert_near(step.queued, 0);
    assert_near(step.dropped, 0);
    cluster_destroy(c);
}

static double latency_for(double demand)
{
    cluster *c = cluster_with(web_spec());
    double latency = offer(c, 0, 60, demand).latency_ms;
    cluster_destroy(c);
    return latency;
}

static void test_cluster_latency_rises_monotonically_with_utilisation(void **state)
{
    (void)state;
    assert_near(latency_for(0), 50);
    assert_near(latency_for(100), 100);
    assert_near(latency_for(150), 200);
    assert_near(latency_for(190), 1000);
    double previous = -1;
    for (double demand = 0; demand <= 230; demand += 10) {
        double latency = latency_for(demand);
        if (!(latency > previous))
            fail_msg("latency %g ms at %g requests/s is not above %g ms", latency, demand, previous);
        previous = latency;
    }
    /* Past that the 10 s queue is full within the step: requests are dropped rather than waiting longer. */
    assert_near(latency_for(240), 5000 + 10000);
    assert_near(latency_for(400), 5000 + 10000);
}

static void test_cluster_without_ready_replicas_drops_everything_at_the_latency_cap(void **state)
{
    (void)state;
    cluster_service_spec spec = web_spec();
    spec.initial_replicas = 0;
    cluster *c = cluster_with(spec);
    cluster_step_result step = offer(c, 0, 60, 10);
    assert_near(step.served, 0);
    assert_near(step.dropped, 600);
    assert_near(step.queued, 0);
    assert_near(step.latency_ms, CLUSTER_LATENCY_CAP_MS);
    assert_true(step.slo_violated);
    step = offer(c, 60, 60, 0); /* scaled to zero with nobody asking: no harm done */
    assert_near(step.latency_ms, 0);
    assert_false(step.slo_violated);
    cluster_destroy(c);
}

static void test_cluster_replicas_ready_mid_step_serve_from_their_ready_time(void **state)
{
    (void)state;
    cluster_service_spec spec = web_spec();
    spec.queue_limit_seconds = 0;
    cluster *c = cluster_with(spec);
    assert_int_equal(cluster_scale(c, "web", 4, 0), 0); /* 2 more at 90 */
    offer(c, 0, 60, 300);
    cluster_step_result step = offer(c, 60, 60, 300);
    /* [60, 90): 200/s served, 100/s dropped; [90, 120): 300 of 400/s served at 50 / (1 - 0.75) = 200 ms. */
    assert_near(step.served, 200 * 30 + 300 * 30);
    assert_near(step.dropped, 100 * 30);
    assert_near(step.violation_seconds, 30);
    assert_near(step.utilisation, (200.0 * 30 + 300 * 30) / (200 * 30 + 400 * 30));
    assert_int_equal(step.ready, 4);
    cluster_destroy(c);
}

/* ## Totals ------------------------------------------------------------------------------------------------------- */

static void test_cluster_counts_slo_violation_seconds(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    offer(c, 0, 60, 100);   /* 100 ms */
    offer(c, 60, 60, 180);  /* 50 / (1 - 0.9) = 500 ms > 300 */
    offer(c, 120, 60, 180);
    offer(c, 180, 60, 100);
    cluster_service_totals totals = totals_of(c);
    assert_near(totals.slo_violation_seconds, 120);
    assert_near(totals.seconds, 240);
    assert_near(totals.served_requests, 60 * (100 + 180 + 180 + 100));
    assert_near(totals.dropped_requests, 0);
    cluster_destroy(c);
}

static void test_cluster_replica_seconds_include_booting_replicas(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    assert_int_equal(cluster_scale(c, "web", 5, 0), 0); /* 3 boot until 90 but cost from 0 */
    for (int i = 0; i < 3; i++)
        offer(c, 60.0 * i, 60, 100);
    assert_near(totals_of(c).replica_seconds, 5 * 180);
    assert_int_equal(cluster_scale(c, "web", 1, 180), 0);
    offer(c, 180, 60, 50);
    cluster_service_totals totals = totals_of(c);
    assert_near(totals.replica_seconds, 5 * 180 + 1 * 60);
    assert_int_equal(totals.max_replicas, 5);
    assert_int_equal(totals.scale_actions, 2);
    cluster_destroy(c);
}

static void test_cluster_scaling_to_the_same_count_is_not_an_action(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    assert_int_equal(cluster_scale(c, "web", 2, 0), 0);
    assert_int_equal(totals_of(c).scale_actions, 0);
    assert_int_equal(totals_of(c).max_replicas, 2);
    cluster_destroy(c);
}

/* A day of one-minute steps with a sine of demand and a reactive rule scaling to it. */
static cluster_service_totals run_day(void)
{
    cluster *c = cluster_with(web_spec());
    for (int minute = 0; minute < 1440; minute++) {
        double now = 60.0 * minute;
        double demand = 600 + 500 * sin(minute * 2 * M_PI / 1440);
        int wanted = (int)ceil(demand / 80);
        assert_int_equal(cluster_scale(c, "web", wanted > 20 ? 20 : wanted, now), 0);
        offer(c, now, 60, demand);
    }
    cluster_service_totals totals = totals_of(c);
    cluster_destroy(c);
    return totals;
}

static void test_cluster_same_inputs_give_same_totals(void **state)
{
    (void)state;
    cluster_service_totals first = run_day();
    cluster_service_totals second = run_day();
    assert_true(first.served_requests > 0);
    assert_true(first.slo_violation_seconds > 0); /* 600 requests/s on 2 replicas until the first boots end */
    assert_true(first.served_requests == second.served_requests);
    assert_true(first.dropped_requests == second.dropped_requests);
    assert_true(first.slo_violation_seconds == second.slo_violation_seconds);
    assert_true(first.replica_seconds == second.replica_seconds);
    assert_int_equal(first.max_replicas, second.max_replicas);
    assert_int_equal(first.scale_actions, second.scale_actions);
}

/* ## Services and errors ------------------------------------------------------------------------------------------ */

static void test_cluster_lists_services_in_the_order_added(void **state)
{
    (void)state;
    cluster *c = cluster_create();
    const char *names[] = {"web", "api", "worker"};
    for (size_t i = 0; i < 3; i++) {
        cluster_service_spec spec = web_spec();
        spec.name = names[i];
        assert_int_equal(cluster_add_service(c, &spec), 0);
    }
    assert_int_equal(cluster_service_count(c), 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(cluster_service_name(c, i), names[i]);
    assert_null(cluster_service_name(c, 3));
    size_t index = 99;
    assert_int_equal(cluster_service_index(c, "worker", &index), 0);
    assert_int_equal(index, 2);
    assert_int_equal(cluster_service_spec_at(c, 1)->max_replicas, 20);
    cluster_step_result step;
    assert_int_equal(cluster_offer_at(c, 1, 0, 60, 100, &step), 0);
    assert_near(step.served, 6000);
    cluster_destroy(c);
}

static void test_cluster_rejects_unknown_service(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    hydra_scale_status status;
    cluster_step_result step;
    cluster_service_totals totals;
    assert_int_equal(cluster_scale(c, "db", 3, 0), -1);
    assert_contains(cluster_error(c), "no service named 'db'");
    assert_int_equal(cluster_status(c, "db", 0, &status), -1);
    assert_int_equal(cluster_offer(c, "db", 0, 60, 1, &step), -1);
    assert_int_equal(cluster_totals(c, "db", &totals), -1);
    assert_int_equal(cluster_offer_at(c, 1, 0, 60, 1, &step), -1);
    assert_contains(cluster_error(c), "no service at index 1");
    cluster_destroy(c);
}

static void test_cluster_rejects_duplicate_names(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    cluster_service_spec spec = web_spec();
    assert_int_equal(cluster_add_service(c, &spec), -1);
    assert_contains(cluster_error(c), "cluster service web: already added");
    assert_int_equal(cluster_service_count(c), 1);
    cluster_destroy(c);
}

static void expect_bad_spec(cluster_service_spec spec, const char *problem)
{
    cluster *c = cluster_create();
    assert_int_equal(cluster_add_service(c, &spec), -1);
    assert_contains(cluster_error(c), problem);
    assert_int_equal(cluster_service_count(c), 0);
    cluster_destroy(c);
}

static void test_cluster_rejects_bad_specs(void **state)
{
    (void)state;
    cluster_service_spec spec = web_spec();
    spec.name = "";
    expect_bad_spec(spec, "non-empty name");
    spec = web_spec(), spec.capacity_per_replica = 0;
    expect_bad_spec(spec, "capacity_per_replica must be > 0");
    spec = web_spec(), spec.capacity_per_replica = NAN;
    expect_bad_spec(spec, "capacity_per_replica must be > 0");
    spec = web_spec(), spec.cold_start_seconds = -1;
    expect_bad_spec(spec, "cold_start_seconds");
    spec = web_spec(), spec.min_replicas = 21;
    expect_bad_spec(spec, "min_replicas");
    spec = web_spec(), spec.initial_replicas = 21;
    expect_bad_spec(spec, "initial_replicas");
    spec = web_spec(), spec.max_replicas = 0, spec.initial_replicas = 0;
    expect_bad_spec(spec, "max_replicas must be >= 1");
    spec = web_spec(), spec.latency_slo_ms = 0;
    expect_bad_spec(spec, "latency_slo_ms");
    spec = web_spec(), spec.queue_limit_seconds = -0.5;
    expect_bad_spec(spec, "queue_limit_seconds");
}

static void test_cluster_refuses_replica_counts_out_of_range(void **state)
{
    (void)state;
    cluster_service_spec spec = web_spec();
    spec.min_replicas = 1;
    cluster *c = cluster_with(spec);
    assert_int_equal(cluster_scale(c, "web", -1, 0), -1);
    assert_contains(cluster_error(c), "cannot scale to -1 replicas, it runs between 1 and 20");
    assert_int_equal(cluster_scale(c, "web", 0, 0), -1);
    assert_int_equal(cluster_scale(c, "web", 21, 0), -1);
    hydra_scale_status status;
    assert_int_equal(cluster_status(c, "web", 0, &status), 0);
    assert_int_equal(status.desired, 2); /* refused, not clamped */
    assert_int_equal(cluster_scale(c, "web", 20, 0), 0);
    cluster_destroy(c);
}

static void test_cluster_rejects_bad_offers(void **state)
{
    (void)state;
    cluster *c = cluster_with(web_spec());
    cluster_step_result step;
    assert_int_equal(cluster_offer(c, "web", 0, 0, 10, &step), -1);
    assert_int_equal(cluster_offer(c, "web", 0, 60, -1, &step), -1);
    assert_int_equal(cluster_offer(c, "web", 0, 60, NAN, &step), -1);
    assert_contains(cluster_error(c), "cluster service web: cannot offer");
    assert_near(totals_of(c).seconds, 0);
    cluster_destroy(c);
}

/* ## Through the scaler ops --------------------------------------------------------------------------------------- */

static void test_cluster_scaler_ops_scale_then_report_status(void **state)
{
    (void)state;
    const hydra_scaler_ops *ops = cluster_scaler_ops();
    assert_int_equal(ops->size, sizeof(hydra_scaler_ops));
    assert_non_null(ops->status);
    assert_non_null(ops->scale);
    cluster *c = cluster_with(web_spec());
    cluster_set_time(c, 1000);
    assert_near(cluster_time(c), 1000);
    hydra_scale_request request = {.target = "web", .replicas = 4, .recommendation_id = "r1", .decided_by = "test"};
    hydra_scale_status status;
    assert_int_equal(ops->scale(c, &request, &status), 0);
    assert_int_equal(status.desired, 4);
    assert_int_equal(status.ready, 2);
    cluster_set_time(c, 1089);
    assert_int_equal(ops->status(c, "web", &status), 0);
    assert_int_equal(status.ready, 2);
    cluster_set_time(c, 1090);
    assert_int_equal(ops->status(c, "web", &status), 0);
    assert_int_equal(status.ready, 4);
    assert_int_equal(status.desired, 4);
    assert_int_equal(ops->scale(c, &request, NULL), 0);
    cluster_destroy(c);
}

static void test_cluster_scaler_ops_refuse_unknown_targets_and_bad_counts(void **state)
{
    (void)state;
    const hydra_scaler_ops *ops = cluster_scaler_ops();
    cluster *c = cluster_with(web_spec());
    hydra_scale_status status;
    hydra_scale_request request = {.target = "db", .replicas = 3};
    assert_int_equal(ops->scale(c, &request, &status), -1);
    assert_contains(cluster_error(c), "'db'");
    assert_int_equal(ops->status(c, "db", &status), -1);
    request.target = "web";
    request.replicas = -1;
    assert_int_equal(ops->scale(c, &request, &status), -1);
    request.replicas = 21;
    assert_int_equal(ops->scale(c, &request, &status), -1);
    assert_contains(cluster_error(c), "cannot scale to 21");
    cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_replicas_become_ready_exactly_after_cold_start),
        cmocka_unit_test(test_cluster_zero_cold_start_is_ready_at_once),
        cmocka_unit_test(test_cluster_scale_down_cancels_pending_replicas_first),
        cmocka_unit_test(test_cluster_scale_down_beyond_pending_removes_ready_replicas_at_once),
        cmocka_unit_test(test_cluster_capacity_is_ready_replicas_times_capacity_per_replica),
        cmocka_unit_test(test_cluster_demand_below_capacity_drops_nothing_at_low_latency),
        cmocka_unit_test(test_cluster_overload_queues_then_drops_beyond_queue_limit_conserving_requests),
        cmocka_unit_test(test_cluster_backlog_drains_when_demand_falls),
        cmocka_unit_test(test_cluster_latency_rises_monotonically_with_utilisation),
        cmocka_unit_test(test_cluster_without_ready_replicas_drops_everything_at_the_latency_cap),
        cmocka_unit_test(test_cluster_replicas_ready_mid_step_serve_from_their_ready_time),
        cmocka_unit_test(test_cluster_counts_slo_violation_seconds),
        cmocka_unit_test(test_cluster_replica_seconds_include_booting_replicas),
        cmocka_unit_test(test_cluster_scaling_to_the_same_count_is_not_an_action),
        cmocka_unit_test(test_cluster_same_inputs_give_same_totals),
        cmocka_unit_test(test_cluster_lists_services_in_the_order_added),
        cmocka_unit_test(test_cluster_rejects_unknown_service),
        cmocka_unit_test(test_cluster_rejects_duplicate_names),
        cmocka_unit_test(test_cluster_rejects_bad_specs),
        cmocka_unit_test(test_cluster_refuses_replica_counts_out_of_range),
        cmocka_unit_test(test_cluster_rejects_bad_offers),
        cmocka_unit_test(test_cluster_scaler_ops_scale_then_report_status),
        cmocka_unit_test(test_cluster_scaler_ops_refuse_unknown_targets_and_bad_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
