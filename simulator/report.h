/* A picture of a simulation run that a person opens: for each service, demand, forecast and capacity over time
 * above its ready and desired replicas, approval requests and answers marked, Suhoor and Iftar shaded.
 *
 * gnuplot (Debian's gnuplot-nox) draws it; this module only prepares the data and the script. The simulation's CSV
 * (time,service,demand,forecast,ready_replicas,desired_replicas,...) is split per service into temporary files, a
 * script is written, and `gnuplot` runs as a child process with the script on its stdin, killed if it overruns its
 * time. Temporary files live in one private folder that is removed afterwards, whatever happened.
 *
 * Layout: one panel per service in the order the CSV first names them, at most REPORT_MAX_PANELS (the title says
 * how many were left out). Each panel stacks two plots on the same time axis: requests/s (demand, forecast,
 * capacity = ready replicas x capacity per replica as a step line) and replicas (ready, desired, and the marks at
 * the replica count they asked for or set). Suhoor and Iftar bands shade both plots in two light colours. The time
 * axis shows local time at utc_offset_hours, in tics chosen for the run's length (hours for a day, days for a
 * month). */
#ifndef HYDRA_REPORT_H
#define HYDRA_REPORT_H

#include "scenario.h"

#include <stddef.h>
#include <stdio.h>

#define REPORT_MAX_PANELS 6
#define REPORT_DEFAULT_WIDTH 1800
#define REPORT_DEFAULT_HEIGHT 1000 /* up to two services; taller by REPORT_PANEL_HEIGHT per service beyond */
#define REPORT_PANEL_HEIGHT 420
#define REPORT_DEFAULT_TIMEOUT_SECONDS 300

typedef enum report_band_kind { REPORT_BAND_SUHOOR, REPORT_BAND_IFTAR } report_band_kind;

typedef struct report_band { /* Unix seconds */
    double from, to;
    report_band_kind kind;
} report_band;

typedef enum report_mark_kind {
    REPORT_MARK_ASKED,    /* an approval request went to the operator */
    REPORT_MARK_APPROVED, /* the operator approved it */
    REPORT_MARK_AUTO,     /* the policy approved it without asking */
    REPORT_MARK_REJECTED,
    REPORT_MARK_EXPIRED,
} report_mark_kind;

typedef struct report_mark {
    double at;           /* Unix seconds */
    const char *service; /* NULL: every panel */
    report_mark_kind kind;
    int to_replicas;     /* the replica count asked for or set: where the mark sits */
} report_mark;

typedef struct report_service {
    const char *name;
    double capacity_per_replica; /* requests/s one ready replica serves; 0: no capacity line */
} report_service;

typedef struct report_input {
    const char *output_path; /* .png (pngcairo) or .svg, by extension */
    const char *csv_path;    /* the simulation's time series */
    const char *title;       /* NULL: the CSV's path */
    /* Capacities by service name; services of the CSV not listed here get no capacity line. */
    const report_service *services;
    size_t service_count;
    const report_band *bands;
    size_t band_count;
    const report_mark *marks;
    size_t mark_count;
    double utc_offset_hours; /* the time axis shows local time at this offset; 0: UTC */
    int width, height;       /* pixels; 0: REPORT_DEFAULT_WIDTH, and a height that fits the panels */
    double timeout_seconds;  /* gnuplot is killed after this long; 0: REPORT_DEFAULT_TIMEOUT_SECONDS */
} report_input;

/* Draws the picture at in->output_path (replacing it only once gnuplot has succeeded). Returns 0, or -1 with one
 * line in error that names the file at fault: the CSV (with its line), the output, or gnuplot's own message. */
int report_write(const report_input *in, char *error, size_t error_size);

/* Any other picture through the same machinery (private folder, gnuplot under a time limit, installed only once
 * drawn): write() gets the script after its terminal and output lines (width x height pixels, .png or .svg by
 * output_path's extension), and the private folder where it may put data files, which the script then names.
 * write() returns 0, or -1 with the reason in error. Returns 0, or -1 with one line in error. */
typedef int (*report_script_writer)(FILE *script, const char *data_dir, void *context, char *error,
                                    size_t error_size);
int report_draw(const char *output_path, int width, int height, report_script_writer write, void *context,
                char *error, size_t error_size);

/* Suhoor (Imsak - 2 h to Imsak) and Iftar (Maghrib to Maghrib + 1 h) bands of every Ramadan day at the scenario's
 * location that overlap [from, to), in time order. None (count 0, *out NULL) without a location. *out is newly
 * allocated; free() it. Returns 0, or -1 (logged by the calendar) when the location is unusable. Days without
 * prayer times (no sunset near the poles) get no bands. */
int report_bands_from_prayer_times(scenario *world, double from, double to, report_band **out, size_t *count);

#endif
