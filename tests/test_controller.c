/* The controller loop with real plugins (log scaler, log notifier) on a virtual clock: recommendations asked of a
 * person, approved, rejected, expired, superseded, and what people are told. */
#include "support.h"

#include "controller.h"
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

#define T0 1802044800.0 /* 2027-02-08T00:00:00Z */

typedef struct fixture {
    char path[64];
    hydra_config config;
    hydra_clock clock;
    plugin_set plugins;
    policy *policy;
    controller *controller;
    bool refuse;                   /* the stand-in store refuses every move to refuse_to */
    recommendation_state refuse_to;
} fixture;

/* The store's part in the daemon: it writes nothing for a change already recorded, and refuses a move when told
 * to, as when another replica moved the recommendation first. */
static int store_stand_in(void *context, const recommendation_event *event)
{
    const fixture *f = context;
    return f->refuse && !event->recorded && event->from != event->to && event->to == f->refuse_to ? 1 : 0;
}

/* final_kept of the next controller opened (then back to 0: every one kept). */
static size_t next_final_kept;

/* Opens a controller on config_format, in which "%1$s" is the build folder (absolute), under the bundled policy
 * policy_name (NULL: none, so every change asks a person). */
static void fixture_open_config(fixture *f, const char *policy_name, const char *config_format)
{
    memset(f, 0, sizeof *f);
    char cwd[1024], base[1100];
    assert_non_null(getcwd(cwd, sizeof cwd));
    format_into(base, sizeof base, "%s/%s", cwd, support_build_dir());
    format_into(f->path, sizeof f->path, "/tmp/hydra-controller-XXXXXX");
    int fd = mkstemp(f->path);
    FILE *file = fdopen(fd, "w");
    fprintf(file, config_format, base);
    fprintf(file, "plugin_dir = \"%s/plugins\";\n", base);
    fclose(file);
    char error[2048];
    clock_init_virtual(&f->clock, T0);
    if (config_load(&f->config, f->path, error, sizeof error) != 0 ||
        plugin_set_open(&f->plugins, &f->config, &f->clock, error, sizeof error) != 0)
        fail_msg("%s", error);
    char *policy_path = policy_name ? xasprintf("scripts/policies/%s", policy_name) : NULL;
    script_options options = {.clock = &f->clock};
    f->policy = policy_open(policy_path, &options, error, sizeof error);
    free(policy_path);
    assert_non_null(f->policy);
    controller_setup setup = {&f->config, &f->plugins, f->policy, &f->clock, NULL,
                              "rec",      store_stand_in, f,         NULL,      next_final_kept};
    next_final_kept = 0;
    f->controller = controller_create(&setup, error, sizeof error);
    if (!f->controller)
        fail_msg("%s", error);
}

/* The usual target, web, sized for its load now; target_settings go into its group (e.g. "dry_run = true;"). */
static void fixture_open_with(fixture *f, const char *policy_name, const char *target_settings)
{
    char *config = xasprintf(
        "approval = { timeout = \"30m\"; expected_latency = \"5m\"; };\n"
        "public_url = \"http://hydra.example:8080/\";\n"
        "plugins = (\n"
        "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = 60; }; },\n"
        "  { kind = \"notifier\"; name = \"log\"; },\n"
        "  { kind = \"anomaly\"; name = \"robust_z\"; },\n"
        "  { kind = \"scaler\"; name = \"log\"; settings = { initial_replicas = 2; }; }\n"
        ");\n"
        "notifiers = [ \"log\" ];\n"
        "targets = ( { name = \"web\"; forecaster = \"seasonal_naive\"; scaler = \"log\"; planner = \"reactive\";\n"
        "  capacity_per_replica = 100; min_replicas = 1; max_replicas = 60; headroom = 0.3;\n"
        "  stabilization = \"5m\"; %s } );\n",
        target_settings);
    fixture_open_config(f, policy_name, config);
    free(config);
}

static void fixture_open(fixture *f, const char *policy_name) { fixture_open_with(f, policy_name, ""); }

static void fixture_close(fixture *f)
{
    controller_destroy(f->controller);
    policy_close(f->policy);
    plugin_set_close(&f->plugins);
    config_free(&f->config);
    unlink(f->path);
}

/* One minute of load, then a tick at its end. */
static void minute(fixture *f, double t, double load)
{
    f->clock.virtual_now = t + 60;
    assert_int_equal(controller_observe(f->controller, 0, t, load), 0);
    controller_tick(f->controller, t + 60);
}

static recommendation *last_rec(fixture *f)
{
    recommendation_book *book = controller_recommendations(f->controller);
    return book->count ? book->items[book->count - 1] : NULL;
}

static void test_controller_asks_then_executes_when_approved(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    support_log_start();
    minute(&f, T0, 1000); /* 1000 req/s on 2 x 100: the safety net wants ceil(1000 x 1.3 / 100) = 13 */
    recommendation *rec = last_rec(&f);
    assert_non_null(rec);
    assert_int_equal(rec->state, REC_PENDING);
    assert_true(rec->asked);
    assert_int_equal(rec->from_replicas, 2);
    assert_int_equal(rec->to_replicas, 13);
    assert_contains(rec->reason, "above ready capacity");
    assert_contains(support_log_text(), "pending target=web replicas=2 -> 13");
    controller_view view;
    controller_view_target(f.controller, 0, &view);
    assert_ptr_equal(view.open, rec);
    assert_int_equal(controller_decide(f.controller, rec->id, true, "alice", "go", T0 + 120), 0);
    assert_int_equal(rec->state, REC_EXECUTED);
    assert_string_equal(rec->decided_by, "alice");
    assert_contains(support_log_text(), "would scale web from 2 to 13");
    assert_contains(support_log_text(), "executed target=web replicas=2 -> 13");
    assert_int_equal(controller_decide(f.controller, rec->id, true, "bob", "again", T0 + 130), -1);
    support_log_stop();
    fixture_close(&f);
}

/* A daemon runs for months: memory keeps the newest final recommendations and whatever is still open. */
static void test_controller_lets_go_of_old_final_recommendations(void **state)
{
    (void)state;
    fixture f;
    next_final_kept = 3;
    fixture_open(&f, "auto.lua");
    for (int m = 0; m < 240; m++) /* ten minutes busy, ten quiet: a step up and one down each time */
        minute(&f, T0 + 60 * m, (m / 10) % 2 ? 200 : 3000);
    recommendation_book *book = controller_recommendations(f.controller);
    assert_true(book->next_number > 20); /* many were made */
    assert_in_range(book->count, 3, 6);
    for (size_t i = 1; i < book->count; i++) /* the newest are the ones kept, in order */
        assert_true(book->items[i - 1]->created_at < book->items[i]->created_at);
    assert_true(book->items[book->count - 1]->created_at >= T0 + 60 * 200);

    /* a question nobody answers yet stays however many final ones come after it */
    fixture_close(&f);
    next_final_kept = 1;
    fixture_open(&f, "always_ask.lua");
    minute(&f, T0, 1000);
    recommendation *asked = last_rec(&f);
    assert_int_equal(asked->state, REC_PENDING);
    book = controller_recommendations(f.controller);
    for (int m = 1; m < 10; m++)
        minute(&f, T0 + 60 * m, 1000);
    assert_ptr_equal(recommendation_find(book, asked->id), asked);
    fixture_close(&f);
}

static void test_controller_expires_unanswered_requests(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    support_log_start();
    minute(&f, T0, 1000);
    recommendation *rec = last_rec(&f);
    for (int m = 1; m < 30; m++)
        minute(&f, T0 + 60 * m, 1000);
    assert_int_equal(rec->state, REC_PENDING);
    minute(&f, T0 + 60 * 30, 1000); /* the tick at T0 + 31 min is past its 30-minute timeout */
    assert_int_equal(rec->state, REC_EXPIRED);
    assert_string_equal(rec->decided_by, "expiry");
    assert_contains(support_log_text(), "expired target=web");
    support_log_stop();
    fixture_close(&f);
}

static void test_controller_rejection_quiets_the_target(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    minute(&f, T0, 150); /* 150 x 1.3 / 100: the 2 replicas there are */
    assert_null(last_rec(&f));
    for (int m = 1; m <= 6; m++)
        minute(&f, T0 + 60 * m, 20); /* 20 req/s needs 1 replica, once lower demand has lasted 5 minutes */
    recommendation *down = last_rec(&f);
    assert_non_null(down);
    assert_int_equal(down->to_replicas, 1);
    assert_int_equal(controller_decide(f.controller, down->id, false, "alice", "keep two", T0 + 420), 0);
    assert_int_equal(down->state, REC_REJECTED);
    for (int m = 7; m < 30; m++)
        minute(&f, T0 + 60 * m, 20);
    assert_ptr_equal(last_rec(&f), down); /* no new ask while the answer stands */
    for (int m = 30; m < 40; m++)
        minute(&f, T0 + 60 * m, 20);
    assert_ptr_not_equal(last_rec(&f), down);
    fixture_close(&f);
}

static void test_controller_supersedes_a_request_demand_outgrew(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    minute(&f, T0, 1000);
    recommendation *first = last_rec(&f);
    minute(&f, T0 + 60, 3000);
    recommendation *second = last_rec(&f);
    assert_ptr_not_equal(first, second);
    assert_int_equal(first->state, REC_REJECTED);
    assert_string_equal(first->decided_by, "controller");
    assert_contains(first->decision_reason, "superseded");
    assert_int_equal(second->state, REC_PENDING);
    assert_int_equal(second->to_replicas, 39);
    fixture_close(&f);
}

static void test_controller_small_steps_go_ahead_while_a_person_decides(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "default.lua");
    minute(&f, T0, 1000); /* 2 -> 13: large, the default policy asks */
    recommendation *large = last_rec(&f);
    assert_int_equal(large->state, REC_PENDING);
    assert_int_equal(large->to_replicas, 13);
    hydra_scale_status status;
    plugin_instance *scaler = plugin_set_find(&f.plugins, HYDRA_KIND_SCALER, "log");
    /* needed now: meanwhile the largest step the policy lets through goes ahead (+2) */
    minute(&f, T0 + 60, 1000);
    assert_int_equal(instance_scale_status(scaler, "web", &status), 0);
    assert_int_equal(status.desired, 4);
    recommendation *step = last_rec(&f);
    assert_int_equal(step->state, REC_EXECUTED);
    assert_false(step->asked);
    assert_contains(step->reason, "a step toward it while a person decides on ");
    assert_contains(step->reason, large->id);
    assert_int_equal(large->state, REC_PENDING);
    assert_int_equal(controller_decide(f.controller, large->id, true, "alice", "yes", T0 + 150), 0);
    assert_int_equal(instance_scale_status(scaler, "web", &status), 0);
    assert_int_equal(status.desired, 13);
    minute(&f, T0 + 120, 1100); /* 13 -> 15: small, goes ahead on its own */
    recommendation *small = last_rec(&f);
    assert_int_equal(small->state, REC_EXECUTED);
    assert_false(small->asked);
    assert_int_equal(small->to_replicas, 15);
    fixture_close(&f);
}

static void test_controller_restore_finishes_what_a_restart_interrupted(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    recommendation approved = {0}, executing = {0}, pending = {0};
    format_into(approved.id, sizeof approved.id, "old-1");
    format_into(approved.target, sizeof approved.target, "web");
    approved.state = REC_APPROVED;
    approved.from_replicas = 2;
    approved.to_replicas = 6;
    executing = approved;
    format_into(executing.id, sizeof executing.id, "old-2");
    executing.state = REC_EXECUTING;
    executing.to_replicas = 6; /* already reached by old-1: reconciled, not sent again */
    pending = approved;
    format_into(pending.id, sizeof pending.id, "old-3");
    pending.state = REC_PENDING;
    pending.to_replicas = 9;
    assert_int_equal(controller_restore(f.controller, &approved, T0), 0);
    assert_int_equal(controller_restore(f.controller, &executing, T0), 0);
    assert_int_equal(controller_restore(f.controller, &pending, T0), 0);
    recommendation_book *book = controller_recommendations(f.controller);
    assert_int_equal(recommendation_find(book, "old-1")->state, REC_EXECUTED);
    assert_int_equal(recommendation_find(book, "old-2")->state, REC_EXECUTED);
    assert_contains(recommendation_find(book, "old-2")->result, "already runs 6");
    assert_int_equal(recommendation_find(book, "old-3")->state, REC_PENDING);
    assert_int_equal(controller_decide(f.controller, "old-3", true, "alice", "yes", T0 + 60), 0);
    assert_int_equal(recommendation_find(book, "old-3")->state, REC_EXECUTED);
    format_into(pending.target, sizeof pending.target, "gone");
    assert_int_equal(controller_restore(f.controller, &pending, T0), -1);
    fixture_close(&f);
}

/* ## Pause, dry run, alerts ------------------------------------------------------------------------------------ */

static void test_controller_pause_holds_execution_until_resumed(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    support_log_start();
    minute(&f, T0, 1000);
    recommendation *rec = last_rec(&f);
    assert_int_equal(controller_set_paused(f.controller, 0, true), 0);
    assert_int_equal(controller_decide(f.controller, rec->id, true, "alice", "go", T0 + 70), 0);
    assert_int_equal(rec->state, REC_APPROVED); /* approved, but it waits */
    minute(&f, T0 + 60, 3000);                  /* more demand: still nothing new while paused */
    assert_ptr_equal(last_rec(&f), rec);
    controller_view view;
    controller_view_target(f.controller, 0, &view);
    assert_true(view.paused);
    assert_true(view.load == 3000); /* still watched */
    assert_null(strstr(support_log_text(), "would scale"));
    assert_int_equal(controller_set_paused(f.controller, 0, false), 0);
    minute(&f, T0 + 120, 1000);
    assert_int_equal(rec->state, REC_EXECUTED);
    assert_contains(support_log_text(), "would scale web from 2 to 13");
    assert_int_equal(controller_set_paused(f.controller, 7, true), -1);
    support_log_stop();
    fixture_close(&f);
}

static void test_controller_dry_run_records_but_never_scales_and_does_not_repeat(void **state)
{
    (void)state;
    fixture f;
    fixture_open_with(&f, "auto.lua", "dry_run = true;");
    support_log_start();
    minute(&f, T0, 1000);
    recommendation *rec = last_rec(&f);
    assert_int_equal(rec->state, REC_EXECUTED);
    assert_contains(rec->result, CONTROLLER_DRY_RUN_PREFIX "not executed");
    for (int m = 1; m < 5; m++)
        minute(&f, T0 + 60 * m, 1000);
    assert_ptr_equal(last_rec(&f), rec); /* planned as if 13 were running: nothing to repeat */
    assert_null(strstr(support_log_text(), "would scale"));
    support_log_stop();
    fixture_close(&f);
}

typedef struct alerts_heard {
    int count;
    double at[4];
} alerts_heard;

static void hear_alert(void *context, const controller_alert *alert)
{
    alerts_heard *heard = context;
    if (heard->count < 4)
        heard->at[heard->count] = alert->at;
    heard->count++;
    assert_string_equal(alert->detector, "robust_z");
    assert_true(alert->score >= alert->threshold);
}

/* Three spikes in a row are one episode; one more after the thirty-minute hold is another. */
static void test_controller_alerts_once_per_anomaly_episode(void **state)
{
    (void)state;
    fixture f;
    fixture_open_with(&f, "always_ask.lua", "anomaly = \"robust_z\";");
    alerts_heard heard = {0};
    controller_on_alert(f.controller, hear_alert, &heard);
    for (int m = 0; m < 80; m++) {
        bool spike = (m >= 20 && m < 23) || m == 60;
        assert_int_equal(controller_observe(f.controller, 0, T0 + 60 * m, spike ? 50000 : 100 + m % 7), 0);
    }
    controller_tick(f.controller, T0 + 80 * 60);
    assert_int_equal(heard.count, 2);
    assert_true(heard.at[0] == T0 + 21 * 60); /* the end of minute 20 */
    assert_true(heard.at[1] == T0 + 61 * 60);
    fixture_close(&f);
}

/* A backfill that ends a minute or two ago still gives the planner a load; a long silence does not. */
static void test_controller_keeps_the_last_load_over_short_gaps_only(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    assert_int_equal(controller_observe(f.controller, 0, T0, 1000), 0);
    controller_tick(f.controller, T0 + 180); /* T0's interval, then two empty ones */
    controller_view view;
    controller_view_target(f.controller, 0, &view);
    assert_true(view.load == 1000);
    assert_non_null(last_rec(&f)); /* the safety net asked for 1000 req/s on 2 replicas */
    controller_tick(f.controller, T0 + 60 * 7);
    controller_view_target(f.controller, 0, &view);
    assert_true(isnan(view.load));
    fixture_close(&f);
}

/* Streaming models learn when their first value is: a history replayed from the store starts before the controller
 * was created, and a model that reads the calendar must not be told it starts now. */
static void test_controller_tells_models_when_the_first_value_is(void **state)
{
    (void)state;
    fixture f;
    const char *config = "plugins = (\n"
                         "  { kind = \"forecaster\"; name = \"start_echo\";\n"
                         "    file = \"%1$s/tests/fixtures/start_echo.so\"; },\n"
                         "  { kind = \"scaler\"; name = \"log\"; settings = { initial_replicas = 2; }; }\n"
                         ");\n"
                         "targets = ( { name = \"web\"; forecaster = \"start_echo\"; scaler = \"log\";\n"
                         "  capacity_per_replica = 1e12; min_replicas = 1; max_replicas = 60; } );\n";
    fixture_open_config(&f, NULL, config);
    double first = T0 - 3600;
    for (double t = first; t < T0; t += 60)
        assert_int_equal(controller_observe(f.controller, 0, t, 10), 0);
    controller_tick(f.controller, T0);
    controller_view view;
    controller_view_target(f.controller, 0, &view);
    assert_true(view.forecast == first);
    fixture_close(&f);
}

typedef struct alerts_seen {
    size_t count[3]; /* by kind */
    controller_alert last[3];
} alerts_seen;

static void keep_alert(void *context, const controller_alert *alert)
{
    alerts_seen *seen = context;
    seen->count[alert->kind]++;
    seen->last[alert->kind] = *alert;
}

/* With an hourly season, the hour before repeats: a rise (or fall) at its end is seen coming, and alerted on once
 * per episode, as a spike above 2 x the last hour's average or a decline below 0.5 x. */
static void test_controller_alerts_on_demand_the_forecast_sees_coming(void **state)
{
    (void)state;
    const double ends[] = {900, 10};
    const controller_alert_kind kinds[] = {ALERT_DEMAND_SPIKE, ALERT_DEMAND_DECLINE};
    for (int k = 0; k < 2; k++) {
        fixture f;
        const char *config = "approval = { expected_latency = \"10m\"; };\n"
                             "plugins = (\n"
                             "  { kind = \"forecaster\"; name = \"seasonal_naive\";\n"
                             "    settings = { season_length = 60; }; },\n"
                             "  { kind = \"scaler\"; name = \"log\"; settings = { initial_replicas = 2; }; }\n"
                             ");\n"
                             "targets = ( { name = \"web\"; forecaster = \"seasonal_naive\"; scaler = \"log\";\n"
                             "  capacity_per_replica = 100; min_replicas = 1; max_replicas = 60; } );\n";
        fixture_open_config(&f, NULL, config);
        alerts_seen seen = {0};
        controller_on_alert(f.controller, keep_alert, &seen);
        /* Two hours of 100 a minute whose last ten minutes are ends[k], then the third hour's first 55 minutes. */
        for (int minute_index = 0; minute_index < 175; minute_index++) {
            double t = T0 + 60.0 * minute_index;
            int in_hour = minute_index % 60;
            double load = in_hour >= 50 && minute_index < 120 ? ends[k] : 100;
            minute(&f, t, load);
        }
        /* The second hour's end was seen coming from the first; the third's from the second: one episode each. (After
         * a spike, the fall back to 100 is a decline of its own.) */
        const controller_alert *last = &seen.last[kinds[k]];
        assert_int_equal(seen.count[kinds[k]], 2);
        assert_int_equal(seen.count[ALERT_ANOMALY], 0);
        assert_true(last->value == ends[k]);
        assert_true(k == 0 ? last->score > 2 : last->score < 0.5);
        assert_true(last->value_at > last->at);
        fixture_close(&f);
    }
}

/* A target web whose forecaster repeats the last hour, asked 10 minutes ahead of what it sees coming (a 1-minute
 * cold start, a person's 10 minutes), scaled by any number of replicas at once. */
static void fixture_open_hourly(fixture *f, const char *policy_name)
{
    fixture_open_config(f, policy_name,
                        "approval = { timeout = \"30m\"; expected_latency = \"10m\"; };\n"
                        "plugins = (\n"
                        "  { kind = \"forecaster\"; name = \"seasonal_naive\"; settings = { season_length = 60; }; },\n"
                        "  { kind = \"scaler\"; name = \"log\"; settings = { initial_replicas = 2; }; }\n"
                        ");\n"
                        "targets = ( { name = \"web\"; forecaster = \"seasonal_naive\"; scaler = \"log\";\n"
                        "  capacity_per_replica = 100; min_replicas = 2; max_replicas = 60; max_step = 100;\n"
                        "  headroom = 0.3; cold_start = \"60s\"; stabilization = \"5m\"; } );\n");
}

/* A scale-up asked for ahead of a surge, and approved, is not undone before the surge: the capacity it bought could
 * only come back through a person, so a scale-down keeps what the approval lead ahead needs. */
static void test_controller_keeps_early_capacity_until_the_surge(void **state)
{
    (void)state;
    fixture f;
    fixture_open_hourly(&f, "default.lua");
    /* An hour of 100 a minute whose last ten minutes are 2000; then the next hour, the same. */
    int lowest_before_surge = 1000;
    bool asked = false;
    for (int minute_index = 0; minute_index < 110; minute_index++) {
        double t = T0 + 60.0 * minute_index;
        minute(&f, t, minute_index % 60 >= 50 ? 2000 : 100);
        recommendation *rec = last_rec(&f);
        if (rec && rec->state == REC_PENDING) {
            /* the first hour's surge is met late (nothing forecast it yet); the second's is asked for ahead */
            asked = asked || (minute_index >= 60 && minute_index % 60 < 50 && rec->to_replicas > 20);
            assert_int_equal(controller_decide(f.controller, rec->id, true, "alice", "yes", t + 60), 0);
        }
        controller_view view;
        controller_view_target(f.controller, 0, &view);
        if (asked && minute_index % 60 < 49 && view.desired < lowest_before_surge)
            lowest_before_surge = view.desired;
    }
    assert_true(asked);
    /* 2000 x 1.3 / 100 = 26 replicas, held from the approval to the surge. */
    assert_int_equal(lowest_before_surge, 26);
    fixture_close(&f);
}

/* While a forecast ramp comes into view, the question asked for it stands as long as a person usually takes to
 * answer (expected_latency) before a bigger one replaces it. */
static void test_controller_lets_a_question_stand_while_a_ramp_comes_into_view(void **state)
{
    (void)state;
    fixture f;
    fixture_open_hourly(&f, "always_ask.lua");
    /* Each hour: 100 a minute, then from minute 30 a climb of 100 a minute to 3000. */
    for (int minute_index = 0; minute_index < 110; minute_index++) {
        int in_hour = minute_index % 60;
        minute(&f, T0 + 60.0 * minute_index, in_hour < 30 ? 100 : 100 + 100 * (in_hour - 29));
    }
    /* In the second hour, every question replaced for forecast growth had stood 10 minutes. */
    recommendation_book *book = controller_recommendations(f.controller);
    size_t replaced = 0;
    for (size_t i = 0; i < book->count; i++) {
        const recommendation *rec = book->items[i];
        if (rec->created_at < T0 + 3600 || rec->state != REC_REJECTED || strcmp(rec->decided_by, "controller") != 0)
            continue;
        replaced++;
        assert_true(rec->decided_at - rec->created_at >= 600 - 1e-9);
    }
    assert_true(replaced >= 1);
    fixture_close(&f);
}

/* A question sent to people carries the routes it is answered on, under public_url. */
static void test_controller_questions_carry_approve_and_reject_links(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    support_log_start();
    minute(&f, T0, 1000);
    recommendation *rec = last_rec(&f);
    assert_non_null(rec);
    assert_int_equal(rec->state, REC_PENDING);
    char expected[256];
    format_into(expected, sizeof expected,
                "approve=http://hydra.example:8080/api/v1/recommendations/%s/approve "
                "reject=http://hydra.example:8080/api/v1/recommendations/%s/reject",
                rec->id, rec->id);
    assert_contains(support_log_text(), expected);
    support_log_stop();
    fixture_close(&f);
}

/* Another replica moved the recommendation to executing first (the store refused this one's move): its scaler is
 * not called, now or at a later tick, and once the store's state is adopted the recommendation is let go. */
static void test_controller_executes_nothing_the_store_refused(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    support_log_start();
    minute(&f, T0, 1000);
    recommendation *rec = last_rec(&f);
    assert_int_equal(rec->state, REC_PENDING);
    f.refuse = true;
    f.refuse_to = REC_EXECUTING;
    assert_int_equal(controller_decide(f.controller, rec->id, true, "alice", "go", T0 + 70), 0);
    assert_int_equal(rec->state, REC_APPROVED);
    minute(&f, T0 + 60, 1000);
    assert_int_equal(rec->state, REC_APPROVED);
    assert_null(strstr(support_log_text(), "would scale"));
    assert_int_equal(controller_adopt(f.controller, rec->id, REC_EXECUTING, "alice", "", T0 + 71, T0 + 130), 0);
    assert_int_equal(rec->state, REC_EXECUTING);
    f.refuse = false;
    minute(&f, T0 + 120, 1000);
    assert_null(strstr(support_log_text(), "would scale"));
    support_log_stop();
    fixture_close(&f);
}

/* An approval made through another replica is taken as it was made (who, when, why), heard of by the notifiers, and
 * executed at once; adopting it again changes nothing. */
static void test_controller_adopts_an_approval_made_elsewhere_and_executes_it(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    support_log_start();
    minute(&f, T0, 1000);
    recommendation *rec = last_rec(&f);
    f.refuse = true;
    f.refuse_to = REC_APPROVED; /* already in the store: adopting must not write it again */
    assert_int_equal(controller_adopt(f.controller, rec->id, REC_APPROVED, "bob", "via replica 2", T0 + 90, T0 + 100),
                     0);
    assert_int_equal(rec->state, REC_EXECUTED);
    assert_string_equal(rec->decided_by, "bob");
    assert_string_equal(rec->decision_reason, "via replica 2");
    assert_true(rec->decided_at == T0 + 90);
    assert_contains(support_log_text(), "approved target=web replicas=2 -> 13");
    assert_contains(support_log_text(), "would scale web from 2 to 13 (recommendation rec-000001, approved by bob)");
    assert_int_equal(controller_adopt(f.controller, rec->id, REC_EXECUTED, "scaler", "", T0 + 90, T0 + 100), -1);
    assert_int_equal(controller_adopt(f.controller, "rec-nope", REC_APPROVED, "bob", "", T0 + 90, T0 + 100), -1);
    support_log_stop();
    fixture_close(&f);
}

typedef struct dispatched {
    size_t count;
    size_t target;
} dispatched;

static void note_dispatch(void *context, size_t target)
{
    dispatched *seen = context;
    seen->count++;
    seen->target = target;
}

/* With a dispatch (hydra serve), the controller never calls the scaler: it says which target owes an action, then
 * begin moves the recommendation to executing on the status the worker read, and finish records the scaler's
 * answer. While the action is under way the target gets no new recommendation; a paused workload holds it. */
static void test_controller_hands_actions_to_a_worker(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    dispatched seen = {0, 99};
    controller_defer_actions(f.controller, note_dispatch, &seen);
    hydra_scale_status two = {.desired = 2, .ready = 2};
    controller_set_status(f.controller, 0, &two);
    support_log_start();
    minute(&f, T0, 1000);
    recommendation *rec = last_rec(&f);
    assert_int_equal(rec->state, REC_PENDING);
    assert_int_equal(controller_decide(f.controller, rec->id, true, "alice", "go", T0 + 70), 0);
    assert_int_equal(rec->state, REC_APPROVED); /* handed over, not executed here */
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.target, 0);
    assert_true(controller_owes_action(f.controller, 0));

    hydra_scale_status paused = {.desired = 2, .ready = 2, .paused = true};
    controller_action action;
    assert_int_equal(controller_begin_action(f.controller, 0, &paused, T0 + 71, &action), 0);
    assert_int_equal(rec->state, REC_APPROVED);

    assert_int_equal(controller_begin_action(f.controller, 0, &two, T0 + 72, &action), 1);
    assert_int_equal(rec->state, REC_EXECUTING);
    assert_string_equal(action.id, rec->id);
    assert_int_equal(action.replicas, 13);
    assert_string_equal(action.target_name, "web");
    assert_string_equal(action.decided_by, "alice");
    assert_ptr_equal(action.scaler, controller_scaler(f.controller, 0));
    size_t recommendations = controller_recommendations(f.controller)->count;
    minute(&f, T0 + 60, 5000); /* far more is needed now, but the action under way comes first */
    assert_int_equal(controller_recommendations(f.controller)->count, recommendations);
    assert_null(strstr(support_log_text(), "would scale"));

    hydra_scale_status after = {.desired = 13, .ready = 13};
    assert_int_equal(controller_finish_action(f.controller, &action, true, &after, "", T0 + 130), 0);
    assert_int_equal(rec->state, REC_EXECUTED);
    assert_string_equal(rec->result, "target reports 13 desired, 13 ready");
    assert_false(controller_owes_action(f.controller, 0));
    assert_int_equal(controller_finish_action(f.controller, &action, true, &after, "", T0 + 131), -1);
    minute(&f, T0 + 120, 5000);
    assert_int_equal(last_rec(&f)->from_replicas, 13); /* planned again, on what the scaler reported */
    assert_int_equal(controller_recommendations(f.controller)->count, recommendations + 1);
    support_log_stop();
    fixture_close(&f);
}

/* A failed call is recorded with the scaler's reason. */
static void test_controller_records_a_worker_s_failed_action(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "always_ask.lua");
    dispatched seen = {0, 99};
    controller_defer_actions(f.controller, note_dispatch, &seen);
    hydra_scale_status two = {.desired = 2, .ready = 2};
    controller_set_status(f.controller, 0, &two);
    minute(&f, T0, 1000);
    recommendation *rec = last_rec(&f);
    assert_int_equal(controller_decide(f.controller, rec->id, true, "alice", "go", T0 + 70), 0);
    controller_action action;
    assert_int_equal(controller_begin_action(f.controller, 0, NULL, T0 + 72, &action), 1);
    assert_int_equal(controller_finish_action(f.controller, &action, false, NULL, "HTTP 503: down", T0 + 100), 0);
    assert_int_equal(rec->state, REC_FAILED);
    assert_string_equal(rec->result, "HTTP 503: down");
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_controller_executes_nothing_the_store_refused),
        cmocka_unit_test(test_controller_adopts_an_approval_made_elsewhere_and_executes_it),
        cmocka_unit_test(test_controller_asks_then_executes_when_approved),
        cmocka_unit_test(test_controller_lets_go_of_old_final_recommendations),
        cmocka_unit_test(test_controller_expires_unanswered_requests),
        cmocka_unit_test(test_controller_rejection_quiets_the_target),
        cmocka_unit_test(test_controller_supersedes_a_request_demand_outgrew),
        cmocka_unit_test(test_controller_small_steps_go_ahead_while_a_person_decides),
        cmocka_unit_test(test_controller_restore_finishes_what_a_restart_interrupted),
        cmocka_unit_test(test_controller_pause_holds_execution_until_resumed),
        cmocka_unit_test(test_controller_dry_run_records_but_never_scales_and_does_not_repeat),
        cmocka_unit_test(test_controller_alerts_once_per_anomaly_episode),
        cmocka_unit_test(test_controller_keeps_the_last_load_over_short_gaps_only),
        cmocka_unit_test(test_controller_tells_models_when_the_first_value_is),
        cmocka_unit_test(test_controller_alerts_on_demand_the_forecast_sees_coming),
        cmocka_unit_test(test_controller_keeps_early_capacity_until_the_surge),
        cmocka_unit_test(test_controller_lets_a_question_stand_while_a_ramp_comes_into_view),
        cmocka_unit_test(test_controller_questions_carry_approve_and_reject_links),
        cmocka_unit_test(test_controller_hands_actions_to_a_worker),
        cmocka_unit_test(test_controller_records_a_worker_s_failed_action),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
