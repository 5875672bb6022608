/* The model lifecycle: live accuracy and drift measures on known series, then the real `hydra serve` with a SQLite
 * store: a corrupt or missing saved state refused at start (forecasts 503 until a refit), drift found and a refit
 * promoted only when it beats the active version on the holdout (both outcomes), and forecasts not acted on while
 * their live accuracy is past the bound. */
#include "support.h"

#include "accuracy.h"
#include "drift.h"
#include "servers.h"
#include "util.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define TAU 6.283185307179586
#define SEASON 12

/* ## Accuracy and drift on known series ------------------------------------------------------------------------- */

static void test_accuracy_compares_each_forecast_with_the_interval_it_was_for(void **unused)
{
    (void)unused;
    accuracy_tracker t;
    accuracy_init(&t, 4, 2); /* forecasts two intervals ahead */
    accuracy_actual(&t, 100);
    accuracy_forecast(&t, 110); /* for interval 2 */
    accuracy_actual(&t, 120);   /* interval 1: nothing was forecast for it */
    assert_int_equal(accuracy_compared(&t), 0);
    accuracy_forecast(&t, 999); /* for interval 3 */
    accuracy_actual(&t, 100);   /* interval 2: 110 against 100, the naive change 20 */
    assert_int_equal(accuracy_compared(&t), 1);
    assert_true(fabs(accuracy_mape(&t) - 0.1) < 1e-12);
    assert_true(fabs(accuracy_mase(&t) - 0.5) < 1e-12);
    accuracy_actual(&t, NAN); /* interval 3 had no samples: not compared */
    assert_int_equal(accuracy_compared(&t), 1);
    for (int i = 0; i < 6; i++) { /* perfect forecasts push the first error out of the window of 4 */
        accuracy_forecast(&t, 100 + 10 * (i % 2));
        accuracy_forecast(&t, 100 + 10 * ((i + 1) % 2));
        accuracy_actual(&t, 100 + 10 * (i % 2));
    }
    assert_int_equal(accuracy_compared(&t), 4);
    assert_true(accuracy_mape(&t) < 1e-12);
    accuracy_free(&t);
}

static void test_drift_measures_are_small_for_the_same_distribution_and_large_after_a_shift(void **unused)
{
    (void)unused;
    enum { N = 2000 };
    double *training = malloc(N * sizeof *training), *same = malloc(N * sizeof *same);
    double *shifted = malloc(N * sizeof *shifted), *flat = malloc(N * sizeof *flat);
    for (size_t i = 0; i < N; i++) {
        training[i] = 100 + 20 * sin(TAU * (double)i / 97);
        same[i] = 100 + 20 * sin(TAU * (double)i / 89 + 1);
        shifted[i] = 130 + 20 * sin(TAU * (double)i / 97);
        flat[i] = 42;
    }
    drift_reference reference;
    assert_int_equal(drift_reference_make(training, N, &reference), 0);
    assert_true(drift_psi(&reference, same, N) < 0.05);
    assert_true(drift_ks(&reference, same, N) < 0.05);
    assert_true(drift_psi(&reference, shifted, N) > 1);
    assert_true(drift_ks(&reference, shifted, N) > 0.5);
    assert_int_equal(drift_reference_make(flat, N, &reference), 0); /* a constant window: the same constant is no drift */
    assert_true(drift_psi(&reference, flat, N) < 1e-9);
    assert_true(drift_ks(&reference, flat, N) < 1e-9);
    /* a few distinct values, as a short season repeats them: the same window is no drift from itself */
    for (size_t i = 0; i < N; i++)
        flat[i] = round(100 + 20 * sin(TAU * (double)(i % 12) / 12));
    assert_int_equal(drift_reference_make(flat, 120, &reference), 0);
    assert_true(drift_psi(&reference, flat, 120) < 1e-9);
    assert_true(drift_ks(&reference, flat, 120) < 0.02);
    double missing[2] = {NAN, 1};
    assert_int_equal(drift_reference_make(missing, 2, &reference), -1);
    free(training);
    free(same);
    free(shifted);
    free(flat);
}

/* ## The daemon ------------------------------------------------------------------------------------------------- */

/* holt_winters with fixed weights and a small gamma: once started on two seasons, its season adapts slowly, which is
 * what makes the refit outcomes below certain. */
static char *config_text(const char *models, const char *weights)
{
    return xasprintf(
        "tick = \"1s\";\nhistory = \"1h\";\n"
        "approval = { expected_latency = \"0s\"; };\n"
        "store = { name = \"sqlite\"; settings = { path = \"hydra.db\"; }; };\n"
        "policy = \"%s/scripts/policies/default.lua\";\n"
        "plugins = ( { kind = \"forecaster\"; name = \"holt_winters\";\n"
        "              settings = { season_length = %d; %s }; },\n"
        "            { kind = \"notifier\"; name = \"log\"; },\n"
        "            { kind = \"scaler\"; name = \"log\"; settings = { initial_replicas = 4; }; } );\n"
        "notifiers = [ \"log\" ];\n"
        "models = { %s };\n"
        "targets = ( { name = \"api\"; forecaster = \"holt_winters\"; scaler = \"log\"; cold_start = 0;\n"
        "              min_replicas = 1; max_replicas = 100; capacity_per_replica = 100.0; } );\n",
        getenv("PWD") ? getenv("PWD") : ".", SEASON, weights, models);
}

#define SLOW_SEASON "alpha = 0.1; beta = 0.0; gamma = 0.02;"

static void start(daemon_run *d, const char *models, const char *weights)
{
    char *text = config_text(models, weights);
    assert_int_equal(daemon_prepare_config(d, text), 0);
    free(text);
    assert_int_equal(daemon_start(d), 0);
}

/* Samples come one second apart from a little after now: the controller files each in its interval as it comes
 * (samples from the past would find the intervals up to now already closed by the first one's tick). */
static double sample_start(void) { return floor((double)time(NULL)) + 5; }

/* A season of SEASON samples: level + amplitude x sin, with a little deterministic noise. */
static double seasonal(size_t i, double level, double amplitude)
{
    return level + amplitude * sin(TAU * (double)i / SEASON) + 0.5 * sin(1.7 * (double)i);
}

/* Samples i in [from, to) at t0 + i, one batch. */
static void ingest_range(const daemon_run *d, double t0, size_t from, size_t to, double level, double amplitude)
{
    if (from == to)
        return;
    char *body = xstrdup("[");
    for (size_t i = from; i < to; i++) {
        char *more = xasprintf("%s%s{\"service\":\"api\",\"ts\":%.0f,\"value\":%.3f}", body, i > from ? "," : "",
                               t0 + (double)i, seasonal(i, level, amplitude));
        free(body);
        body = more;
    }
    char *closed = xasprintf("%s]", body);
    reply r = daemon_call(d, "POST", "/api/v1/ingest/metrics", d->admin_key, closed, NULL);
    if (r.status != 200)
        fail_msg("ingest: HTTP %d: %s", r.status, r.json ? json_dumps(r.json, 0) : "");
    json_decref(r.json);
    free(closed);
    free(body);
}

/* GET /api/v1/models/api until version `version` is listed (or 20 s pass); the listing (the caller decrefs). */
static json_t *wait_for_version(const daemon_run *d, long long version)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        reply r = daemon_call(d, "GET", "/api/v1/models/api", d->reader_key, NULL, NULL);
        json_t *versions = json_object_get(r.json, "versions");
        if (r.status == 200 && json_array_size(versions) > 0 &&
            json_integer_value(json_object_get(json_array_get(versions, 0), "version")) >= version)
            return r.json;
        json_decref(r.json);
        usleep(100 * 1000);
    }
    fail_msg("version %lld never appeared", version);
    return NULL;
}

static json_t *version_entry(json_t *listing, long long version)
{
    json_t *versions = json_object_get(listing, "versions"), *entry;
    size_t i;
    json_array_foreach(versions, i, entry)
        if (json_integer_value(json_object_get(entry, "version")) == version)
            return entry;
    fail_msg("no version %lld listed", version);
    return NULL;
}

static void sqlite(const daemon_run *d, const char *statement)
{
    char *line = xasprintf("sqlite3 '%s/hydra.db' \"%s\"", d->dir, statement);
    const char *output;
    if (support_run(line, &output) != 0)
        fail_msg("%s: %s", line, output);
    free(line);
}

static char *daemon_log(const daemon_run *d)
{
    char *line = xasprintf("cat '%s'", d->log);
    const char *output;
    support_run(line, &output);
    free(line);
    return xstrdup(output);
}

static int predict_status(const daemon_run *d, char *message, size_t size)
{
    reply r = daemon_call(d, "POST", "/api/v1/predict", d->reader_key, "{\"service\":\"api\",\"horizon\":5}", NULL);
    json_t *error = json_object_get(r.json, "error");
    const char *text = json_string_value(json_is_object(error) ? json_object_get(error, "message") : error);
    format_into(message, size, "%s", text ? text : "");
    json_decref(r.json);
    return r.status;
}

static void restart(daemon_run *d)
{
    assert_true(daemon_stop(d, SIGTERM) >= 0);
    assert_int_equal(daemon_start(d), 0);
}

static void test_registry_refuses_a_corrupt_or_missing_state_and_predict_answers_503_until_a_refit(void **unused)
{
    (void)unused;
    daemon_run d;
    start(&d, "refit_every = 0; drift_check_every = 0; holdout = \"60s\";", SLOW_SEASON);
    double t0 = sample_start();
    ingest_range(&d, t0, 0, 200, 100, 20);
    json_t *listing = wait_for_version(&d, 1);
    json_t *first = version_entry(listing, 1);
    assert_true(json_is_true(json_object_get(first, "active")));
    assert_string_equal(json_string_value(json_object_get(first, "note")), "first fit");
    assert_int_equal(strlen(json_string_value(json_object_get(first, "checksum"))), 64);
    json_decref(listing);
    char message[1024];
    assert_int_equal(predict_status(&d, message, sizeof message), 200);

    /* one flipped character: the checksum no longer matches */
    assert_true(daemon_stop(&d, SIGTERM) >= 0);
    sqlite(&d, "UPDATE model_versions SET state = replace(state, 'alpha 0.1', 'alpha 0.2')");
    assert_int_equal(daemon_start(&d), 0);
    char *log = daemon_log(&d);
    assert_contains(log, "service api model holt_winters version 1: the saved state is corrupt");
    free(log);
    assert_int_equal(predict_status(&d, message, sizeof message), 503);
    assert_contains(message, "service api model holt_winters version 1: the saved state is corrupt");
    reply forecast = daemon_call(&d, "GET", "/api/v1/forecasts/api", d.reader_key, NULL, NULL);
    assert_int_equal(forecast.status, 503);
    json_decref(forecast.json);
    reply models = daemon_call(&d, "GET", "/api/v1/models/api", d.reader_key, NULL, NULL);
    assert_contains(json_string_value(json_object_get(models.json, "problem")), "corrupt");
    json_decref(models.json);

    /* a refit makes a valid version: promoted, as there is no valid active one to beat */
    reply refit = daemon_call(&d, "POST", "/api/v1/models/api/refit", d.admin_key, "{}", NULL);
    assert_int_equal(refit.status, 200);
    assert_int_equal(json_integer_value(json_object_get(refit.json, "version")), 2);
    assert_true(json_is_true(json_object_get(refit.json, "promoted")));
    json_decref(refit.json);
    assert_int_equal(predict_status(&d, message, sizeof message), 200);

    /* a missing (empty) state is refused the same way; an earlier valid version can be put back */
    assert_true(daemon_stop(&d, SIGTERM) >= 0);
    sqlite(&d, "UPDATE model_versions SET state = '' WHERE version = 2");
    assert_int_equal(daemon_start(&d), 0);
    assert_int_equal(predict_status(&d, message, sizeof message), 503);
    assert_contains(message, "service api model holt_winters version 2: the saved state is missing");
    reply corrupt = daemon_call(&d, "POST", "/api/v1/models/api/activate", d.admin_key, "{\"version\":1}", NULL);
    assert_int_equal(corrupt.status, 422); /* version 1 is still the corrupt one */
    json_decref(corrupt.json);
    sqlite(&d, "UPDATE model_versions SET state = replace(state, 'alpha 0.2', 'alpha 0.1') WHERE version = 1");
    reply back = daemon_call(&d, "POST", "/api/v1/models/api/activate", d.admin_key, "{\"version\":1}", NULL);
    if (back.status != 200)
        fail_msg("activate: HTTP %d: %s", back.status, back.json ? json_dumps(back.json, 0) : "");
    json_decref(back.json);
    assert_int_equal(predict_status(&d, message, sizeof message), 200);
    restart(&d); /* the store says version 1 is active now */
    assert_int_equal(predict_status(&d, message, sizeof message), 200);
    daemon_cleanup(&d);
}

/* Drift runs: v1 learns a season of amplitude 20; then `changed` samples of amplitude 100 come, then `after`
 * samples of amplitude after_amplitude. Returns the listing once version 2 exists. */
static json_t *drift_run(daemon_run *d, size_t changed, size_t after, double after_amplitude)
{
    start(d, "refit_every = 0; drift_check_every = 1; drift_window = \"120s\"; holdout = \"60s\"; "
             "train_window = \"120s\";", SLOW_SEASON);
    double t0 = sample_start();
    ingest_range(d, t0, 0, 120, 100, 20);
    json_decref(wait_for_version(d, 1));
    ingest_range(d, t0, 120, 120 + changed, 100, 100);
    ingest_range(d, t0, 120 + changed, 120 + changed + after, 100, after_amplitude);
    return wait_for_version(d, 2);
}

static void assert_drift_alert_and_notification(const daemon_run *d, const char *outcome)
{
    reply alerts = daemon_call(d, "GET", "/api/v1/alerts?since=0", d->reader_key, NULL, NULL);
    json_t *first = json_array_get(json_object_get(alerts.json, "alerts"), 0);
    assert_contains(json_string_value(json_object_get(first, "id")), "model-drift-api-");
    assert_contains(json_string_value(json_object_get(first, "message")), "Kolmogorov-Smirnov");
    json_decref(alerts.json);
    char *log = daemon_log(d);
    assert_contains(log, "drift in api requests_per_second: model holt_winters refit scheduled");
    assert_contains(log, outcome);
    free(log);
}

static void test_drift_schedules_a_refit_that_is_promoted_when_it_beats_the_active_version(void **unused)
{
    (void)unused;
    daemon_run d;
    json_t *listing = drift_run(&d, 200, 0, 100); /* the new amplitude stays */
    json_t *second = version_entry(listing, 2);
    assert_true(json_is_true(json_object_get(second, "active")));
    assert_contains(json_string_value(json_object_get(second, "note")), "promoted (drift: PSI");
    json_t *metrics = json_object_get(second, "metrics");
    double candidate = json_number_value(json_object_get(metrics, "holdout_mase"));
    double active = json_number_value(json_object_get(metrics, "active_holdout_mase"));
    assert_true(candidate < active);
    assert_int_equal(json_integer_value(json_object_get(metrics, "active_version")), 1);
    assert_false(json_is_true(json_object_get(version_entry(listing, 1), "active")));
    json_decref(listing);
    assert_drift_alert_and_notification(&d, "model holt_winters of api: version 2 promoted");
    daemon_cleanup(&d);
}

static void test_drift_refit_that_does_not_beat_the_active_version_is_recorded_and_refused(void **unused)
{
    (void)unused;
    daemon_run d;
    json_t *listing = drift_run(&d, 130, 60, 20); /* a passing burst: the holdout is the old season again */
    json_t *second = version_entry(listing, 2);
    assert_false(json_is_true(json_object_get(second, "active")));
    assert_contains(json_string_value(json_object_get(second, "note")), "refused (drift: PSI");
    json_t *metrics = json_object_get(second, "metrics");
    double candidate = json_number_value(json_object_get(metrics, "holdout_mase"));
    double active = json_number_value(json_object_get(metrics, "active_holdout_mase"));
    assert_true(candidate >= active);
    assert_true(json_is_true(json_object_get(version_entry(listing, 1), "active")));
    json_decref(listing);
    assert_drift_alert_and_notification(&d, "model holt_winters of api: version 2 refused");
    daemon_cleanup(&d);
}

static void test_a_scheduled_refit_saves_a_version_judged_on_the_holdout(void **unused)
{
    (void)unused;
    daemon_run d;
    start(&d, "refit_every = 1; drift_check_every = 0; holdout = \"60s\";", SLOW_SEASON);
    double t0 = sample_start();
    ingest_range(&d, t0, 0, 100, 100, 20);
    json_decref(wait_for_version(&d, 1)); /* the first fit, trained on all 100: a refit waits for new data */
    ingest_range(&d, t0, 100, 220, 100, 20);
    json_t *listing = wait_for_version(&d, 2);
    json_t *second = version_entry(listing, 2);
    const char *note = json_string_value(json_object_get(second, "note"));
    assert_true(strstr(note, "promoted (scheduled): holdout MASE") || strstr(note, "refused (scheduled): holdout MASE"));
    json_t *metrics = json_object_get(second, "metrics");
    assert_true(json_is_number(json_object_get(metrics, "holdout_mase")));
    assert_true(json_is_number(json_object_get(metrics, "active_holdout_mase")));
    assert_string_equal(json_string_value(json_object_get(metrics, "trigger")), "scheduled");
    json_decref(listing);
    daemon_cleanup(&d);
}

/* ## Live accuracy: past the bound, the planner is reactive and every reason says so ------------------------------ */

static double accuracy_field(const daemon_run *d, const char *field)
{
    reply r = daemon_call(d, "GET", "/api/v1/accuracy", d->reader_key, NULL, NULL);
    json_t *service = json_array_get(json_object_get(r.json, "services"), 0);
    json_t *value = json_object_get(service, field);
    double number = json_is_boolean(value) ? json_is_true(value) : json_number_value(value);
    json_decref(r.json);
    return number;
}

/* One request per sample, so that the controller forecasts at each interval. */
static void ingest_each(const daemon_run *d, double t0, size_t from, size_t to, double (*value)(size_t))
{
    api_client *client = api_client_open(d->port, d->admin_key);
    for (size_t i = from; i < to; i++) {
        char body[160];
        format_into(body, sizeof body, "[{\"service\":\"api\",\"ts\":%.0f,\"value\":%.3f}]", t0 + (double)i, value(i));
        assert_int_equal(api_client_post(client, "/api/v1/ingest/metrics", body, NULL), 200);
    }
    api_client_close(client);
}

static double steady(size_t i) { return seasonal(i, 1000, 200); }
/* Jumps the model cannot foresee: every few samples between 200 and a peak that keeps growing, so that each peak
 * outgrows the scale-up still waiting for a person and a new recommendation is made. */
static double erratic(size_t i) { return (i / 3) % 2 ? 2000 + 40 * (double)i : 200; }

static void test_an_inaccurate_forecast_is_not_acted_on_until_accuracy_recovers(void **unused)
{
    (void)unused;
    daemon_run d;
    /* weights that follow the data fast: accuracy recovers soon after the data is regular again */
    start(&d, "max_mape = 0.3; accuracy_window = \"60s\"; accuracy_min_compared = 20; drift_check_every = 0;",
          "alpha = 0.2; beta = 0.0; gamma = 0.9;");
    double t0 = sample_start();
    ingest_each(&d, t0, 0, 120, steady);
    assert_true(accuracy_field(&d, "compared") > 50);
    assert_true(accuracy_field(&d, "mape") < 0.3);
    assert_true(accuracy_field(&d, "trusted") == 1);

    ingest_each(&d, t0, 120, 200, erratic);
    assert_true(accuracy_field(&d, "mape") > 0.3);
    assert_true(accuracy_field(&d, "trusted") == 0);
    char *metrics = daemon_text(&d, "/metrics", d.reader_key);
    assert_non_null(metrics);
    assert_true(support_sample_value(metrics, "hydra_forecast_trusted{service=\"api\",model=\"holt_winters\"}") == 0);
    assert_true(support_sample_value(metrics, "hydra_forecast_mape{service=\"api\",model=\"holt_winters\"}") > 0.3);
    free(metrics);
    reply alerts = daemon_call(&d, "GET", "/api/v1/alerts?since=0", d.reader_key, NULL, NULL);
    json_t *list = json_object_get(alerts.json, "alerts"), *alert;
    size_t i, inaccurate = 0;
    json_array_foreach(list, i, alert)
        inaccurate += strstr(json_string_value(json_object_get(alert, "id")), "forecast-inaccurate") != NULL;
    assert_int_equal(inaccurate, 1); /* one per episode */
    json_decref(alerts.json);
    reply recs = daemon_call(&d, "GET", "/api/v1/recommendations", d.reader_key, NULL, NULL);
    json_t *newest = json_array_get(json_object_get(recs.json, "recommendations"), 0);
    assert_non_null(newest);
    assert_contains(json_string_value(json_object_get(newest, "reason")), "forecast not used: holt_winters is "
                                                                          "inaccurate (MAPE");
    json_decref(recs.json);

    ingest_each(&d, t0, 200, 330, steady);
    if (accuracy_field(&d, "trusted") != 1)
        fail_msg("still distrusted: MAPE %g, MASE %g over %g", accuracy_field(&d, "mape"), accuracy_field(&d, "mase"),
                 accuracy_field(&d, "compared"));
    char *log = daemon_log(&d);
    assert_contains(log, "forecaster holt_winters is accurate again");
    free(log);
    daemon_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy_compares_each_forecast_with_the_interval_it_was_for),
        cmocka_unit_test(test_drift_measures_are_small_for_the_same_distribution_and_large_after_a_shift),
        cmocka_unit_test(test_registry_refuses_a_corrupt_or_missing_state_and_predict_answers_503_until_a_refit),
        cmocka_unit_test(test_drift_schedules_a_refit_that_is_promoted_when_it_beats_the_active_version),
        cmocka_unit_test(test_drift_refit_that_does_not_beat_the_active_version_is_recorded_and_refused),
        cmocka_unit_test(test_a_scheduled_refit_saves_a_version_judged_on_the_holdout),
        cmocka_unit_test(test_an_inaccurate_forecast_is_not_acted_on_until_accuracy_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
