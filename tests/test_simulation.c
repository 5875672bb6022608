/* hydra simulate, end to end through the real binary: determinism, bad input, and the behaviour the product
 * promises on the bundled scenarios. */
#include "support.h"

#include "clock.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int simulate(const char *args, const char **output)
{
    char *line = xasprintf("%s/hydra simulate %s", support_build_dir(), args);
    int status = support_run(line, output);
    free(line);
    return status;
}

static const char *temp_path(const char *suffix)
{
    static char paths[4][96];
    static int next;
    char *path = paths[next++ % 4];
    format_into(path, 96, "/tmp/hydra-sim-%d-%d%s", (int)getpid(), next, suffix);
    return path;
}

static const char *write_file(const char *suffix, const char *text)
{
    const char *path = temp_path(suffix);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
    return path;
}

/* Runs a simulation and returns its JSON scorecard. */
static json_t *simulate_json(const char *args)
{
    const char *json_path = temp_path(".json");
    char *full = xasprintf("%s --quiet --json %s", args, json_path);
    const char *output;
    int status = simulate(full, &output);
    free(full);
    if (status != 0)
        fail_msg("simulate %s failed: %s", args, output);
    json_error_t error;
    json_t *doc = json_load_file(json_path, 0, &error);
    unlink(json_path);
    assert_non_null(doc);
    return doc;
}

static double number_at(json_t *doc, const char *group, const char *key)
{
    json_t *value = json_object_get(group ? json_object_get(doc, group) : doc, key);
    assert_non_null(value);
    return json_number_value(value);
}

/* ## Determinism and the scorecard ---------------------------------------------------------------------------- */

static void test_simulate_same_seed_gives_identical_json(void **state)
{
    (void)state;
    json_t *first = simulate_json("scripts/scenarios/flash_crowd.lua --days 3 --seed 9");
    json_t *second = simulate_json("scripts/scenarios/flash_crowd.lua --days 3 --seed 9");
    json_t *other = simulate_json("scripts/scenarios/flash_crowd.lua --days 3 --seed 10");
    for (json_t **doc = (json_t *[]){first, second, other, NULL}; *doc; doc++) {
        json_object_del(*doc, "wall_seconds");
        json_object_del(*doc, "service_ticks_per_second");
    }
    char *a = json_dumps(first, JSON_SORT_KEYS), *b = json_dumps(second, JSON_SORT_KEYS);
    char *c = json_dumps(other, JSON_SORT_KEYS);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    free(a);
    free(b);
    free(c);
    json_decref(first);
    json_decref(second);
    json_decref(other);
}

static void test_simulate_json_has_the_documented_fields(void **state)
{
    (void)state;
    json_t *doc = simulate_json("scripts/scenarios/steady.lua --days 2");
    assert_string_equal(json_string_value(json_object_get(doc, "scenario")), "scripts/scenarios/steady.lua");
    assert_true(number_at(doc, NULL, "seed") == 7);
    assert_true(number_at(doc, NULL, "days") == 2);
    assert_true(number_at(doc, NULL, "step_seconds") == 60);
    assert_true(number_at(doc, "totals", "replica_hours") > 0);
    number_at(doc, "totals", "slo_violation_minutes");
    number_at(doc, "totals", "dropped_requests");
    json_t *service = json_array_get(json_object_get(doc, "services"), 0);
    assert_string_equal(json_string_value(json_object_get(service, "name")), "web");
    const char *service_fields[] = {"slo_violation_minutes", "dropped_requests", "replica_hours", "max_replicas",
                                    "scale_actions"};
    for (size_t i = 0; i < ARRAY_LEN(service_fields); i++)
        assert_non_null(json_object_get(service, service_fields[i]));
    const char *rec_fields[] = {"total", "auto_approved", "asked", "approved", "rejected", "expired"};
    for (size_t i = 0; i < ARRAY_LEN(rec_fields); i++)
        number_at(doc, "recommendations", rec_fields[i]);
    number_at(doc, NULL, "policy_errors");
    number_at(doc, "human_response_seconds", "median");
    number_at(doc, "human_response_seconds", "p90");
    assert_true(number_at(doc, NULL, "wall_seconds") > 0);
    assert_true(number_at(doc, NULL, "service_ticks_per_second") > 0);
    json_decref(doc);
}

static void test_simulate_writes_csv_time_series(void **state)
{
    (void)state;
    const char *csv = temp_path(".csv");
    char *args = xasprintf("scripts/scenarios/steady.lua --days 1 --quiet --csv %s", csv);
    const char *output;
    assert_int_equal(simulate(args, &output), 0);
    free(args);
    FILE *file = fopen(csv, "r");
    assert_non_null(file);
    char line[256];
    assert_non_null(fgets(line, sizeof line, file));
    assert_string_equal(line, "time,service,demand,forecast,ready_replicas,desired_replicas,latency_ms,dropped\n");
    size_t rows = 0;
    while (fgets(line, sizeof line, file))
        rows++;
    fclose(file);
    unlink(csv);
    assert_int_equal(rows, 1440);
}

/* ## Bad input ---------------------------------------------------------------------------------------------------- */

static void test_simulate_reports_script_errors_with_file_line(void **state)
{
    (void)state;
    const char *output;
    const char *syntax = write_file(".lua", "scenario = {\n  name = 'x',\n  days = ,\n}\n");
    assert_int_equal(simulate(syntax, &output), 1);
    assert_contains(output, syntax);
    assert_contains(output, ":3:");
    unlink(syntax);

    const char *runtime = write_file(".lua", "scenario = { start = '2027-01-01T00:00:00Z', days = 1,\n"
                                             "  services = { { name = 'a', capacity_per_replica = 10 } } }\n"
                                             "function traffic(t, service)\n  return t / nil\nend\n");
    assert_int_equal(simulate(runtime, &output), 1);
    assert_contains(output, ":4: attempt to perform arithmetic on a nil value");
    unlink(runtime);

    /* Every service's traffic is asked for in one call into Lua; a bad answer still names its service. */
    const char *bad_value = write_file(".lua", "scenario = { start = '2027-01-01T00:00:00Z', days = 1,\n"
                                               "  services = { { name = 'a', capacity_per_replica = 10 },\n"
                                               "               { name = 'b', capacity_per_replica = 10 } } }\n"
                                               "function traffic(t, service)\n"
                                               "  if service == 'b' then return 'lots' end\n  return 5\nend\n");
    assert_int_equal(simulate(bad_value, &output), 1);
    assert_contains(output, "traffic(t, \"b\") must return a number >= 0");
    unlink(bad_value);

    /* Traffic is computed ahead of the controller, on its own thread: a failure hours into the run still stops it
     * with file:line, and the script's clock reads the time it is asked about, not where the controller is. */
    const char *late = write_file(".lua", "scenario = { start = '2027-01-01T00:00:00Z', days = 1,\n"
                                          "  services = { { name = 'a', capacity_per_replica = 10 } } }\n"
                                          "local start = 1798761600\n"
                                          "function traffic(t, service)\n"
                                          "  if hydra.now() ~= t then error('now ' .. hydra.now() .. ', asked ' .. t) end\n"
                                          "  if t >= start + 5 * 3600 then error('late failure at ' .. t) end\n"
                                          "  return 5\nend\n");
    assert_int_equal(simulate(late, &output), 1);
    assert_contains(output, ":6: late failure at 1798779600");
    unlink(late);

    const char *loop = write_file(".lua", "local n = 0\nwhile true do n = n + 1 end\n");
    assert_int_equal(simulate(loop, &output), 1);
    assert_contains(output, ":2: instruction budget");
    unlink(loop);
}

static void test_simulate_reports_bad_scenario_fields(void **state)
{
    (void)state;
    const char *output;
    const char *path = write_file(".lua", "scenario = { start = '2027-01-01T00:00:00Z', days = 1,\n"
                                          "  services = { { name = 'a', capacity_per_replica = -5 } } }\n"
                                          "function traffic(t, s) return 1 end\n");
    assert_int_equal(simulate(path, &output), 1);
    assert_contains(output, "scenario.services[1].capacity_per_replica must be between");
    unlink(path);
    path = write_file(".lua", "scenario = { days = 1, services = {} }\nfunction traffic(t, s) return 1 end\n");
    assert_int_equal(simulate(path, &output), 1);
    assert_contains(output, "scenario.start must be a UTC time");
    unlink(path);
    path = write_file(".lua", "scenario = { start = '2027-01-01T00:00:00Z', days = 1,\n"
                              "  services = { { name = 'a', capacity_per_replica = 5 } } }\n");
    assert_int_equal(simulate(path, &output), 1);
    assert_contains(output, "must define a global function traffic(t, service)");
    unlink(path);
}

static void test_simulate_bad_flags_exit_2(void **state)
{
    (void)state;
    const char *output;
    assert_int_equal(simulate("", &output), 2);
    assert_contains(output, "which scenario?");
    assert_int_equal(simulate("scripts/scenarios/steady.lua --days -3", &output), 2);
    assert_contains(output, "--days takes a number of days > 0");
    assert_int_equal(simulate("scripts/scenarios/steady.lua --seed x", &output), 2);
    assert_int_equal(simulate("scripts/scenarios/steady.lua --frobnicate 1", &output), 2);
    assert_int_equal(simulate("scripts/scenarios/steady.lua --json", &output), 2);
    assert_int_equal(simulate("scripts/scenarios/steady.lua --compare a.lua --policy b.lua", &output), 2);
}

/* ## Behaviour on the bundled scenarios -------------------------------------------------------------------------- */

/* configs/hydra.cfg with its relative paths made absolute and `extra` added to every target. */
/* The default config with one more setting on its target, or one replaced: `extra`'s setting wins over the
 * target's own of the same name. */
static const char *config_variant(const char *extra)
{
    FILE *in = fopen("configs/hydra.cfg", "r");
    assert_non_null(in);
    const char *path = temp_path(".cfg");
    FILE *out = fopen(path, "w");
    char cwd[1024], line[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    size_t key_length = strcspn(extra, " =");
    while (fgets(line, sizeof line, in)) {
        const char *setting = line + strspn(line, " ");
        if (setting != line && strncmp(setting, extra, key_length) == 0 && setting[key_length] == ' ')
            continue;
        char *relative = strstr(line, "\"../");
        if (relative) {
            *relative = '\0';
            fprintf(out, "%s\"%s/configs/../%s", line, cwd, relative + 4);
        } else {
            fputs(line, out);
        }
        if (strstr(line, "capacity_per_replica ="))
            fprintf(out, "    %s\n", extra);
    }
    fclose(in);
    fclose(out);
    return path;
}

static void test_simulate_predictive_beats_reactive_on_ramadan(void **state)
{
    (void)state;
    const char *reactive_config = config_variant("planner = \"reactive\";");
    char *args = xasprintf("scripts/scenarios/ramadan.lua --config %s", reactive_config);
    json_t *predictive = simulate_json("scripts/scenarios/ramadan.lua");
    json_t *reactive = simulate_json(args);
    free(args);
    unlink(reactive_config);
    double p_slo = number_at(predictive, "totals", "slo_violation_minutes");
    double r_slo = number_at(reactive, "totals", "slo_violation_minutes");
    double p_cost = number_at(predictive, "totals", "replica_hours");
    double r_cost = number_at(reactive, "totals", "replica_hours");
    print_message("ramadan: predictive %.0f SLO minutes, %.0f replica-hours; reactive %.0f, %.0f\n", p_slo, p_cost,
                  r_slo, r_cost);
    assert_true(p_slo < r_slo);
    assert_true(p_cost <= 1.15 * r_cost);
    json_decref(predictive);
    json_decref(reactive);
}

/* With the calendar forecaster, a Suhoor scale-up says why in the calendar's words. */
static void test_simulate_reasons_quote_the_calendar(void **state)
{
    (void)state;
    const char *calendar_config = config_variant("forecaster = \"calendar\";");
    const char *decisions = temp_path(".csv");
    char *args = xasprintf("scripts/scenarios/ramadan.lua --days 10 --quiet --config %s --decisions %s", calendar_config,
                           decisions);
    const char *output;
    int status = simulate(args, &output);
    free(args);
    unlink(calendar_config);
    assert_int_equal(status, 0);
    char *text = support_read_file(decisions);
    unlink(decisions);
    assert_non_null(text);
    assert_contains(text, "min before Imsak, night ");
    assert_contains(text, "of Ramadan");
    assert_contains(text, "on the load now) comes ");
    free(text);
}

static void test_simulate_always_ask_loses_more_when_operator_sleeps_through_suhoor(void **state)
{
    (void)state;
    FILE *in = fopen("scripts/scenarios/ramadan.lua", "r");
    assert_non_null(in);
    const char *scenario = temp_path(".lua");
    FILE *out = fopen(scenario, "w");
    char line[1024];
    bool changed = false;
    while (fgets(line, sizeof line, in)) {
        char *asleep = strstr(line, "asleep = { from = 6, to = 11 }");
        if (asleep) {
            memcpy(asleep, "asleep = { from = 0, to = 6  }", 30);
            changed = true;
        }
        fputs(line, out);
    }
    fclose(in);
    fclose(out);
    assert_true(changed);
    char *ask_args = xasprintf("%s --policy scripts/policies/always_ask.lua", scenario);
    json_t *ask = simulate_json(ask_args);
    json_t *standard = simulate_json(scenario);
    free(ask_args);
    unlink(scenario);
    double ask_slo = number_at(ask, "totals", "slo_violation_minutes");
    double default_slo = number_at(standard, "totals", "slo_violation_minutes");
    print_message("operator asleep 00-06: always_ask %.0f SLO minutes, default %.0f\n", ask_slo, default_slo);
    assert_true(ask_slo > default_slo);
    assert_true(number_at(ask, "recommendations", "expired") > number_at(standard, "recommendations", "expired"));
    json_decref(ask);
    json_decref(standard);
}

/* Splits a CSV line in place into at most max fields (empty ones kept); the last field keeps any commas. */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t count = 0;
    line[strcspn(line, "\n")] = '\0';
    while (line && count < max) {
        bool last = count + 1 == max;
        fields[count++] = last ? line : strsep(&line, ",");
        if (last)
            break;
    }
    return count;
}

typedef struct service_minute {
    double t, demand;
    int ready;
} service_minute;

static service_minute *read_series(const char *path, const char *service, size_t *count)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char line[512];
    size_t capacity = 1 << 16;
    service_minute *minutes = xmalloc(capacity * sizeof *minutes);
    *count = 0;
    assert_non_null(fgets(line, sizeof line, file));
    while (fgets(line, sizeof line, file)) {
        char *f[8];
        if (split_fields(line, f, 8) < 8 || strcmp(f[1], service) != 0)
            continue;
        if (*count == capacity)
            minutes = xrealloc(minutes, (capacity *= 2) * sizeof *minutes);
        service_minute *m = &minutes[(*count)++];
        assert_true(clock_parse_time(f[0], &m->t));
        m->demand = strtod(f[2], NULL);
        m->ready = atoi(f[4]);
    }
    fclose(file);
    return minutes;
}

/* The first scale-up that asked a person, created in [from, until]; 0 when none. */
static double first_ask(const char *decisions, const char *service, double from, double until)
{
    FILE *file = fopen(decisions, "r");
    assert_non_null(file);
    char line[1024];
    double found = 0;
    while (!found && fgets(line, sizeof line, file)) {
        char *f[7];
        double created;
        if (split_fields(line, f, 7) < 7 || strcmp(f[1], service) != 0 || strcmp(f[5], "yes") != 0 ||
            !clock_parse_time(f[2], &created) || atoi(f[4]) <= atoi(f[3]))
            continue;
        if (created >= from && created <= until)
            found = created;
    }
    fclose(file);
    return found;
}

/* On each day of Ramadan: the surge is the first minute of the night (23:00-03:30 UTC, Suhoor in Cairo) whose
 * demand exceeds what was ready when the night began; the first scale-up asked of a person must come at least
 * cold start + expected approval latency before it. */
static void check_suhoor_leads(const char *series_path, const char *decisions, const char *service, double capacity,
                               double needed_seconds)
{
    size_t count;
    service_minute *minutes = read_series(series_path, service, &count);
    double ramadan;
    assert_true(clock_parse_time("2027-02-08T00:00:00Z", &ramadan));
    int days = 0, early_enough = 0;
    for (int day = 1; day < 30; day++) {
        double from = ramadan + day * 86400.0 - 3600, until = from + 4.5 * 3600;
        const service_minute *first = NULL, *surge = NULL;
        for (size_t i = 0; i < count && !surge; i++) {
            if (minutes[i].t < from || minutes[i].t >= until)
                continue;
            if (!first)
                first = &minutes[i];
            else if (minutes[i].demand > first->ready * capacity)
                surge = &minutes[i];
        }
        if (!surge)
            continue;
        double asked = first_ask(decisions, service, from, surge->t);
        days++;
        early_enough += asked > 0 && surge->t - asked >= needed_seconds;
    }
    free(minutes);
    print_message("%s: asked early enough before %d of %d Suhoor surges\n", service, early_enough, days);
    assert_true(days >= 25);
    assert_true(early_enough >= days * 8 / 10);
}

static void test_simulate_suhoor_scale_ups_are_asked_early_enough(void **state)
{
    (void)state;
    const char *series = temp_path(".csv"), *decisions = temp_path(".csv");
    char *args = xasprintf("scripts/scenarios/ramadan.lua --quiet --policy scripts/policies/always_ask.lua "
                           "--csv %s --decisions %s", series, decisions);
    const char *output;
    int status = simulate(args, &output);
    free(args);
    if (status != 0)
        fail_msg("%s", output);
    /* cold start 90 s (donations-api) or 180 s (payments), plus the default config's expected latency of 10 min */
    check_suhoor_leads(series, decisions, "donations-api", 100, 90 + 600);
    check_suhoor_leads(series, decisions, "payments", 60, 180 + 600);
    unlink(series);
    unlink(decisions);
}

static void test_simulate_compare_prints_policies_side_by_side(void **state)
{
    (void)state;
    const char *output;
    assert_int_equal(simulate("scripts/scenarios/flash_crowd.lua --days 2 --compare "
                              "scripts/policies/default.lua,scripts/policies/auto.lua,scripts/policies/always_ask.lua",
                              &output),
                     0);
    assert_contains(output, "default.lua");
    assert_contains(output, "always_ask.lua");
    assert_contains(output, "SLO violation minutes");
    assert_contains(output, "asked a person");
    const char *reactive = config_variant("planner = \"reactive\";");
    char *args = xasprintf("scripts/scenarios/flash_crowd.lua --days 2 --compare scripts/policies/default.lua,%s",
                           reactive);
    assert_int_equal(simulate(args, &output), 0);
    free(args);
    assert_contains(output, strrchr(reactive, '/') + 1);
    unlink(reactive);
}

/* On a terminal, a long run shows how far it has got. */
static void test_simulate_shows_progress_on_a_terminal(void **state)
{
    (void)state;
    char *line = xasprintf("script -qec '%s/hydra simulate scripts/scenarios/steady.lua --days 3' /dev/null",
                           support_build_dir());
    const char *output;
    assert_int_equal(support_run(line, &output), 0);
    free(line);
    assert_contains(output, "\rsimulating steady daily cycle: day 1 of 3");
    assert_contains(output, "day 3 of 3 (100 %)");
    assert_int_equal(simulate("scripts/scenarios/steady.lua --days 1", &output), 0);
    assert_null(strstr(output, "simulating steady")); /* not when stderr is a pipe */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simulate_same_seed_gives_identical_json),
        cmocka_unit_test(test_simulate_json_has_the_documented_fields),
        cmocka_unit_test(test_simulate_writes_csv_time_series),
        cmocka_unit_test(test_simulate_reports_script_errors_with_file_line),
        cmocka_unit_test(test_simulate_reports_bad_scenario_fields),
        cmocka_unit_test(test_simulate_bad_flags_exit_2),
        cmocka_unit_test(test_simulate_predictive_beats_reactive_on_ramadan),
        cmocka_unit_test(test_simulate_reasons_quote_the_calendar),
        cmocka_unit_test(test_simulate_always_ask_loses_more_when_operator_sleeps_through_suhoor),
        cmocka_unit_test(test_simulate_suhoor_scale_ups_are_asked_early_enough),
        cmocka_unit_test(test_simulate_compare_prints_policies_side_by_side),
        cmocka_unit_test(test_simulate_shows_progress_on_a_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
