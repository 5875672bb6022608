/* The run report: a picture drawn by the real gnuplot from a CSV written here, checked as a file a person would
 * open (PNG signature and IHDR size, SVG text), its failures named by file, and the Suhoor/Iftar bands taken from
 * libitl's prayer times in Ramadan 1448 (Cairo). */
#include "report.h"
#include "support.h"

#include "clock.h"
#include "util.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define CAIRO_OFFSET_HOURS 2
#define DAY 86400.0

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

static double utc(const char *text)
{
    double t;
    assert_true(clock_parse_time(text, &t));
    return t;
}

/* ## A private folder per test ------------------------------------------------------------------------------------ */

typedef struct folder {
    char path[64];
} folder;

static int folder_setup(void **state)
{
    folder *f = xcalloc(1, sizeof *f);
    format_into(f->path, sizeof f->path, "/tmp/hydra-test-report-XXXXXX");
    assert_non_null(mkdtemp(f->path));
    *state = f;
    return 0;
}

static int folder_teardown(void **state)
{
    folder *f = *state;
    if (getenv("HYDRA_TEST_KEEP")) { /* to look at the pictures */
        print_message("kept %s\n", f->path);
    } else {
        char *command = xasprintf("rm -rf '%s'", f->path);
        assert_int_equal(system(command), 0);
        free(command);
    }
    free(f);
    return 0;
}

static char *folder_file(const folder *f, const char *name) { return xasprintf("%s/%s", f->path, name); }

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    assert_int_equal(fclose(file), 0);
}

static long file_size(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 ? (long)info.st_size : -1;
}

/* ## A run's time series, as the simulation writes it ------------------------------------------------------------ */

typedef struct fake_service {
    const char *name;
    double peak;                 /* requests/s at the evening peak */
    double capacity_per_replica;
} fake_service;

static const fake_service fake_services[] = {{"donations-api", 900, 100}, {"payments", 300, 60}};

/* Local hour h in Cairo: a Ramadan-shaped day, a bump before dawn, a dip at Iftar, a late evening peak. */
static double fake_demand(const fake_service *service, double t)
{
    double hour = fmod(t / 3600 + CAIRO_OFFSET_HOURS, 24);
    double suhoor = exp(-pow((hour - 4.2) / 0.8, 2)), iftar = exp(-pow((hour - 18.0) / 0.4, 2));
    double evening = exp(-pow((hour - 22.0) / 2.0, 2)), day = 0.35 + 0.15 * sin((hour - 9) / 24 * 2 * M_PI);
    double wobble = 1 + 0.04 * sin(t / 437.0) * cos(t / 1211.0);
    return service->peak * (day + 0.55 * suhoor + evening - 0.3 * iftar) * wobble;
}

static int replicas_for(const fake_service *service, double demand)
{
    return demand > 0 ? (int)ceil(demand * 1.15 / service->capacity_per_replica) : 1;
}

/* One row per service per minute from start for days; no forecast in the first hour (empty field). */
static void write_series(const char *path, double start, double days)
{
    FILE *csv = fopen(path, "w");
    assert_non_null(csv);
    fputs("time,service,demand,forecast,ready_replicas,desired_replicas,latency_ms,dropped\n", csv);
    int ready[ARRAY_LEN(fake_services)] = {4, 3};
    for (double t = start; t < start + days * DAY; t += 60) {
        char stamp[32];
        clock_format_time(t, stamp, sizeof stamp);
        for (size_t i = 0; i < ARRAY_LEN(fake_services); i++) {
            const fake_service *service = &fake_services[i];
            double demand = fake_demand(service, t), forecast = fake_demand(service, t + 900) * 1.03;
            int desired = replicas_for(service, forecast);
            if (fmod(t - start, 300) == 0) /* replicas catch up every five minutes */
                ready[i] = desired;
            char forecast_text[32] = "";
            if (t - start >= 3600)
                format_into(forecast_text, sizeof forecast_text, "%.3f", forecast);
            fprintf(csv, "%s,%s,%.3f,%s,%d,%d,%.1f,0\n", stamp, service->name, demand, forecast_text, ready[i],
                    desired, 40.0);
        }
    }
    assert_int_equal(fclose(csv), 0);
}

static const report_service report_services[] = {{"donations-api", 100}, {"payments", 60}};

/* Cairo's Suhoor and Iftar on each day from start (a local midnight), about where libitl puts them in February
 * 2027. */
static size_t fake_bands(double start, double days, report_band *bands, size_t max)
{
    size_t count = 0;
    for (int day = 0; day < days && count + 2 <= max; day++) {
        double midnight = start + day * DAY;
        double imsak = midnight + 4 * 3600 + 53 * 60, maghrib = midnight + 17 * 3600 + 38 * 60;
        bands[count++] = (report_band){imsak - 7200, imsak, REPORT_BAND_SUHOOR};
        bands[count++] = (report_band){maghrib, maghrib + 3600, REPORT_BAND_IFTAR};
    }
    return count;
}

static report_input fake_input(const char *csv_path, const char *output_path, double start, double days,
                               report_band *bands, size_t max_bands, const report_mark *marks, size_t mark_count)
{
    return (report_input){.output_path = output_path,
                          .csv_path = csv_path,
                          .title = "Ramadan 1448, donation platform, Cairo (test series)",
                          .services = report_services,
                          .service_count = ARRAY_LEN(report_services),
                          .bands = bands,
                          .band_count = fake_bands(start, days, bands, max_bands),
                          .marks = marks,
                          .mark_count = mark_count,
                          .utc_offset_hours = CAIRO_OFFSET_HOURS};
}

/* ## PNG and SVG ------------------------------------------------------------------------------------------------ */

static uint32_t big_endian(const unsigned char *bytes)
{
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}

/* The signature, then the IHDR chunk: length 13, "IHDR", width, height. */
static void assert_png_of_size(const char *path, uint32_t width, uint32_t height)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char head[24];
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fread(head, 1, sizeof head, file), sizeof head);
    fclose(file);
    assert_memory_equal(head, signature, sizeof signature);
    assert_int_equal(big_endian(head + 8), 13);
    assert_memory_equal(head + 12, "IHDR", 4);
    assert_int_equal(big_endian(head + 16), width);
    assert_int_equal(big_endian(head + 20), height);
}

static void test_report_writes_png_of_requested_size_with_bands_and_marks(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "run.csv"), *png = folder_file(f, "run.png");
    double start = utc("2027-02-09T22:00:00Z"); /* local midnight, 10 Feb */
    write_series(csv, start, 2);
    const report_mark marks[] = {
        {start + 0.5 * 3600, "donations-api", REPORT_MARK_AUTO, 5},
        {start + 2.9 * 3600, "donations-api", REPORT_MARK_ASKED, 9},
        {start + 3.1 * 3600, "donations-api", REPORT_MARK_APPROVED, 9},
        {start + 19.5 * 3600, "donations-api", REPORT_MARK_ASKED, 12},
        {start + 20.5 * 3600, "donations-api", REPORT_MARK_EXPIRED, 12},
        {start + 26.8 * 3600, "payments", REPORT_MARK_ASKED, 6},
        {start + 27.0 * 3600, "payments", REPORT_MARK_REJECTED, 6},
        {start + 40 * 3600, NULL, REPORT_MARK_AUTO, 4},
    };
    report_band bands[8];
    report_input in = fake_input(csv, png, start, 2, bands, ARRAY_LEN(bands), marks, ARRAY_LEN(marks));
    in.width = 1800;
    in.height = 1000;
    char error[1024] = "";
    if (report_write(&in, error, sizeof error) != 0)
        fail_msg("%s", error);
    assert_png_of_size(png, 1800, 1000);
    assert_true(file_size(png) > 40000); /* a blank 1800x1000 PNG is a few kilobytes */
    free(csv);
    free(png);
}

static void test_report_default_size_fits_a_month(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "run.csv"), *png = folder_file(f, "month.png");
    double start = utc("2027-02-05T22:00:00Z");
    write_series(csv, start, 35);
    report_band bands[70];
    report_input in = fake_input(csv, png, start, 35, bands, ARRAY_LEN(bands), NULL, 0);
    char error[1024] = "";
    if (report_write(&in, error, sizeof error) != 0)
        fail_msg("%s", error);
    assert_png_of_size(png, REPORT_DEFAULT_WIDTH, REPORT_DEFAULT_HEIGHT);
    free(csv);
    free(png);
}

static void test_report_writes_svg_by_extension(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "run.csv"), *svg = folder_file(f, "run.svg");
    double start = utc("2027-02-09T22:00:00Z");
    write_series(csv, start, 1);
    const report_mark marks[] = {{start + 3 * 3600, "payments", REPORT_MARK_APPROVED, 5}};
    report_band bands[2];
    report_input in = fake_input(csv, svg, start, 1, bands, ARRAY_LEN(bands), marks, ARRAY_LEN(marks));
    char error[1024] = "";
    if (report_write(&in, error, sizeof error) != 0)
        fail_msg("%s", error);
    FILE *file = fopen(svg, "r");
    assert_non_null(file);
    char head[4096] = "";
    assert_true(fread(head, 1, sizeof head - 1, file) > 0);
    fclose(file);
    assert_contains(head, "<svg");
    free(csv);
    free(svg);
}

static void test_report_beyond_six_services_draws_six_and_says_so(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "many.csv"), *png = folder_file(f, "many.png");
    FILE *file = fopen(csv, "w");
    assert_non_null(file);
    fputs("time,service,demand,forecast,ready_replicas,desired_replicas,latency_ms,dropped\n", file);
    for (int minute = 0; minute < 120; minute++)
        for (int service = 0; service < 8; service++)
            fprintf(file, "%.0f,svc-%d,%d,%d,%d,%d,40,0\n", utc("2027-03-01T00:00:00Z") + minute * 60.0, service,
                    100 + minute, 100 + minute, 2, 2);
    assert_int_equal(fclose(file), 0);
    report_input in = {.output_path = png, .csv_path = csv, .title = "eight services"};
    char error[1024] = "";
    if (report_write(&in, error, sizeof error) != 0)
        fail_msg("%s", error);
    assert_png_of_size(png, REPORT_DEFAULT_WIDTH,
                       REPORT_DEFAULT_HEIGHT + (REPORT_MAX_PANELS - 2) * REPORT_PANEL_HEIGHT);
    free(csv);
    free(png);
}

/* ## Failures name the file ---------------------------------------------------------------------------------------- */

static void test_report_missing_csv_names_it(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "absent.csv"), *png = folder_file(f, "run.png");
    report_input in = {.output_path = png, .csv_path = csv};
    char error[1024] = "";
    assert_int_equal(report_write(&in, error, sizeof error), -1);
    assert_contains(error, csv);
    assert_contains(error, "No such file");
    assert_int_equal(file_size(png), -1);
    free(csv);
    free(png);
}

static void test_report_unwritable_output_names_it(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "run.csv");
    write_series(csv, utc("2027-02-10T00:00:00Z"), 0.1);
    char *folder_named_png = folder_file(f, "folder.png");
    assert_int_equal(mkdir(folder_named_png, 0700), 0);
    const char *outputs[] = {"/nonexistent-hydra-folder/run.png", folder_named_png};
    for (size_t i = 0; i < ARRAY_LEN(outputs); i++) {
        report_input in = {.output_path = outputs[i], .csv_path = csv};
        char error[1024] = "";
        assert_int_equal(report_write(&in, error, sizeof error), -1);
        assert_contains(error, "cannot write");
        assert_contains(error, outputs[i]);
    }
    free(folder_named_png);
    free(csv);
}

static void test_report_unknown_picture_format_is_refused(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "run.csv"), *jpg = folder_file(f, "run.jpg");
    write_series(csv, utc("2027-02-10T00:00:00Z"), 0.1);
    report_input in = {.output_path = jpg, .csv_path = csv};
    char error[1024] = "";
    assert_int_equal(report_write(&in, error, sizeof error), -1);
    assert_contains(error, jpg);
    assert_contains(error, ".png or .svg");
    free(csv);
    free(jpg);
}

static void test_report_bad_csv_row_names_file_and_line(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "bad.csv"), *png = folder_file(f, "run.png");
    write_text(csv, "time,service,demand,forecast,ready_replicas,desired_replicas,latency_ms,dropped\n"
                    "2027-02-10T00:00:00Z,api,10,11,2,2,40,0\n"
                    "2027-02-10T00:01:00Z,api,ten,11,2,2,40,0\n");
    report_input in = {.output_path = png, .csv_path = csv};
    char error[1024] = "";
    assert_int_equal(report_write(&in, error, sizeof error), -1);
    char *where = xasprintf("%s:3: bad demand \"ten\"", csv);
    assert_contains(error, where);
    free(where);

    write_text(csv, "time,service,demand\n2027-02-10T00:00:00Z,api,10\n");
    assert_int_equal(report_write(&in, error, sizeof error), -1);
    where = xasprintf("%s:1: no column \"forecast\"", csv);
    assert_contains(error, where);
    free(where);
    free(csv);
    free(png);
}

/* ## gnuplot's failures ------------------------------------------------------------------------------------------ */

/* Puts a fake `gnuplot` (a shell script with body) first on PATH for one call; returns the PATH to restore. */
static char *fake_gnuplot(const folder *f, const char *body)
{
    char *bin = folder_file(f, "bin"), *program = folder_file(f, "bin/gnuplot");
    assert_int_equal(mkdir(bin, 0700), 0);
    char *text = xasprintf("#!/bin/sh\n%s\n", body);
    write_text(program, text);
    assert_int_equal(chmod(program, 0700), 0);
    char *saved = xstrdup(getenv("PATH"));
    char *path = xasprintf("%s:%s", bin, saved);
    setenv("PATH", path, 1);
    free(path);
    free(text);
    free(program);
    free(bin);
    return saved;
}

static void test_report_gnuplot_error_is_reported_on_one_line(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "run.csv"), *png = folder_file(f, "run.png");
    write_series(csv, utc("2027-02-10T00:00:00Z"), 0.1);
    char *saved = fake_gnuplot(f, "cat >/dev/null\n"
                                  "printf 'gnuplot> plot foo\\n              ^\\n         line 0: undefined variable: "
                                  "foo\\n\\n' >&2\nexit 1");
    report_input in = {.output_path = png, .csv_path = csv};
    char error[1024] = "";
    int status = report_write(&in, error, sizeof error);
    setenv("PATH", saved, 1);
    free(saved);
    assert_int_equal(status, -1);
    assert_contains(error, "gnuplot failed (exit status 1): undefined variable: foo (in: plot foo)");
    assert_null(strchr(error, '\n'));
    assert_int_equal(file_size(png), -1);
    free(csv);
    free(png);
}

static void test_report_without_gnuplot_says_how_to_install_it(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "run.csv"), *png = folder_file(f, "run.png");
    write_series(csv, utc("2027-02-10T00:00:00Z"), 0.1);
    char *saved = xstrdup(getenv("PATH"));
    setenv("PATH", f->path, 1); /* no gnuplot there */
    report_input in = {.output_path = png, .csv_path = csv};
    char error[1024] = "";
    int status = report_write(&in, error, sizeof error);
    setenv("PATH", saved, 1);
    free(saved);
    assert_int_equal(status, -1);
    assert_contains(error, "cannot run gnuplot");
    assert_contains(error, "gnuplot-nox");
    free(csv);
    free(png);
}

static void test_report_stops_gnuplot_that_overruns_its_time(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "run.csv"), *png = folder_file(f, "run.png");
    write_series(csv, utc("2027-02-10T00:00:00Z"), 0.1);
    char *saved = fake_gnuplot(f, "sleep 30");
    report_input in = {.output_path = png, .csv_path = csv, .timeout_seconds = 0.5};
    char error[1024] = "";
    double began = seconds_now();
    int status = report_write(&in, error, sizeof error);
    double took = seconds_now() - began;
    setenv("PATH", saved, 1);
    free(saved);
    assert_int_equal(status, -1);
    assert_contains(error, "did not finish within 0.5 s");
    assert_true(took < 10);
    free(csv);
    free(png);
}

static void test_report_temporary_files_are_removed(void **state)
{
    folder *f = *state;
    char *csv = folder_file(f, "run.csv"), *png = folder_file(f, "run.png");
    write_series(csv, utc("2027-02-10T00:00:00Z"), 0.2);
    char *saved_tmpdir = getenv("TMPDIR") ? xstrdup(getenv("TMPDIR")) : NULL;
    char *tmp = folder_file(f, "tmp");
    assert_int_equal(mkdir(tmp, 0700), 0);
    setenv("TMPDIR", tmp, 1);
    report_input in = {.output_path = png, .csv_path = csv};
    char error[1024] = "";
    int status = report_write(&in, error, sizeof error);
    in.csv_path = "/nonexistent-hydra-folder/run.csv";
    int failed = report_write(&in, error, sizeof error);
    if (saved_tmpdir)
        setenv("TMPDIR", saved_tmpdir, 1);
    else
        unsetenv("TMPDIR");
    assert_int_equal(status, 0);
    assert_int_equal(failed, -1);
    assert_int_equal(rmdir(tmp), 0); /* fails unless empty */
    free(saved_tmpdir);
    free(tmp);
    free(csv);
    free(png);
}

/* ## Suhoor and Iftar from prayer times --------------------------------------------------------------------------- */

static scenario load_scenario(const folder *f, const char *location)
{
    char *path = folder_file(f, "scenario.lua");
    char *text = xasprintf("scenario = { name = \"bands\", start = \"2027-02-10T00:00:00Z\", days = 2, step = 60,\n"
                           "  %s\n"
                           "  services = { { name = \"api\", capacity_per_replica = 100 } } }\n"
                           "function traffic(t, service) return 100 end\n",
                           location);
    write_text(path, text);
    scenario world;
    char error[1024] = "";
    if (scenario_load(&world, path, NULL, NULL, error, sizeof error) != 0)
        fail_msg("%s", error);
    free(text);
    free(path);
    return world;
}

static const char cairo[] =
    "location = { latitude = 30.0444, longitude = 31.2357, utc_offset = 2, method = \"egyptian\" },";

static void test_report_bands_mark_suhoor_and_iftar_of_a_ramadan_day(void **state)
{
    scenario world = load_scenario(*state, cairo);
    double midnight = utc("2027-02-09T22:00:00Z"); /* 10 Feb in Cairo: 3 Ramadan 1448 */
    assert_int_equal(calendar_ramadan_day(midnight + DAY / 2, &world.location), 3);
    calendar_day_times times;
    assert_int_equal(calendar_prayer_times(&world.location, 2027, 2, 10, &times), 0);
    report_band *bands = NULL;
    size_t count = 0;
    assert_int_equal(report_bands_from_prayer_times(&world, midnight, midnight + DAY, &bands, &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(bands[0].kind, REPORT_BAND_SUHOOR);
    assert_true(fabs(bands[0].to - times.imsak) < 1);
    assert_true(fabs(bands[0].from - (times.imsak - 2 * 3600)) < 1);
    assert_int_equal(bands[1].kind, REPORT_BAND_IFTAR);
    assert_true(fabs(bands[1].from - times.maghrib) < 1);
    assert_true(fabs(bands[1].to - (times.maghrib + 3600)) < 1);
    /* Imsak before dawn and Maghrib in the evening, local time */
    assert_true(bands[0].to - midnight > 4 * 3600 && bands[0].to - midnight < 5.5 * 3600);
    assert_true(bands[1].from - midnight > 17 * 3600 && bands[1].from - midnight < 18.5 * 3600);
    free(bands);

    assert_int_equal(report_bands_from_prayer_times(&world, midnight, midnight + 3 * DAY, &bands, &count), 0);
    assert_int_equal(count, 6);
    for (size_t i = 1; i < count; i++)
        assert_true(bands[i].from > bands[i - 1].from);
    free(bands);
    scenario_free(&world);
}

static void test_report_bands_none_outside_ramadan(void **state)
{
    scenario world = load_scenario(*state, cairo);
    report_band *bands = NULL;
    size_t count = 99;
    double january = utc("2027-01-14T22:00:00Z"), eid = utc("2027-03-09T22:00:00Z"); /* 10 March: 1 Shawwal */
    assert_int_equal(report_bands_from_prayer_times(&world, january, january + 7 * DAY, &bands, &count), 0);
    assert_int_equal(count, 0);
    assert_null(bands);
    assert_int_equal(report_bands_from_prayer_times(&world, eid, eid + DAY, &bands, &count), 0);
    assert_int_equal(count, 0);
    /* the last day of Ramadan (9 March) still has its Suhoor and Iftar */
    assert_int_equal(report_bands_from_prayer_times(&world, eid - DAY, eid + DAY, &bands, &count), 0);
    assert_int_equal(count, 2);
    free(bands);
    scenario_free(&world);
}

static void test_report_bands_none_without_location(void **state)
{
    scenario world = load_scenario(*state, "");
    report_band *bands = NULL;
    size_t count = 99;
    double midnight = utc("2027-02-09T22:00:00Z");
    assert_int_equal(report_bands_from_prayer_times(&world, midnight, midnight + 5 * DAY, &bands, &count), 0);
    assert_int_equal(count, 0);
    assert_null(bands);
    scenario_free(&world);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_writes_png_of_requested_size_with_bands_and_marks, folder_setup,
                                        folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_default_size_fits_a_month, folder_setup, folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_writes_svg_by_extension, folder_setup, folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_beyond_six_services_draws_six_and_says_so, folder_setup,
                                        folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_missing_csv_names_it, folder_setup, folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_unwritable_output_names_it, folder_setup, folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_unknown_picture_format_is_refused, folder_setup, folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_bad_csv_row_names_file_and_line, folder_setup, folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_gnuplot_error_is_reported_on_one_line, folder_setup,
                                        folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_without_gnuplot_says_how_to_install_it, folder_setup,
                                        folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_stops_gnuplot_that_overruns_its_time, folder_setup,
                                        folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_temporary_files_are_removed, folder_setup, folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_bands_mark_suhoor_and_iftar_of_a_ramadan_day, folder_setup,
                                        folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_bands_none_outside_ramadan, folder_setup, folder_teardown),
        cmocka_unit_test_setup_teardown(test_report_bands_none_without_location, folder_setup, folder_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
