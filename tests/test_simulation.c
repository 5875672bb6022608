/* hydra simulate, end to end through the real binary: determinism, bad input, and the behaviour the product
 * promises on the bundled scenarios. */
#include "support.h"

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

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("expected \"%s\" in \"%s\"", part, text);
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simulate_same_seed_gives_identical_json),
        cmocka_unit_test(test_simulate_json_has_the_documented_fields),
        cmocka_unit_test(test_simulate_writes_csv_time_series),
        cmocka_unit_test(test_simulate_reports_script_errors_with_file_line),
        cmocka_unit_test(test_simulate_reports_bad_scenario_fields),
        cmocka_unit_test(test_simulate_bad_flags_exit_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
