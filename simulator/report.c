#include "report.h"

#include "clock.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPORT_MARK_KINDS 5
#define REPORT_BAND_KINDS 2

/* Pixels of the layout; the fractions gnuplot wants are computed from the picture's size. */
#define LAYOUT_TITLE 70        /* the picture's title and subtitle */
#define LAYOUT_PANEL_TITLE 34  /* a service's name above its first plot */
#define LAYOUT_GAP 14          /* between a panel's two plots: room for both plots' end tic labels */
#define LAYOUT_TIC_LABELS 56   /* two-line date labels under a panel */
#define LAYOUT_LEFT 90         /* y tic labels and the y label */
#define LAYOUT_RIGHT 230       /* the legends */

typedef struct report_panel {
    char *name;
    double capacity_per_replica; /* 0: unknown, no capacity line */
    FILE *data;                  /* panel-N.dat: x demand forecast capacity ready desired */
    FILE *marks;                 /* marks-N.dat: x y_requests y_replicas kind */
    double max_replicas;
    unsigned mark_kinds;         /* a bit per report_mark_kind drawn */
} report_panel;

typedef struct report_job {
    const report_input *in;
    char dir[512]; /* private temporary folder; empty until made */
    report_panel panels[REPORT_MAX_PANELS];
    size_t panel_count;
    char **skipped; /* services of the CSV beyond the panels */
    size_t skipped_count;
    double offset;      /* seconds added to Unix time for the local time axis */
    double first, last; /* the run, in local seconds */
    bool has_band[REPORT_BAND_KINDS];
    int width, height;
    bool failed;
    char *error;
    size_t error_size;
} report_job;

static const char *const mark_titles[REPORT_MARK_KINDS] = {"asked", "approved", "auto-approved", "rejected",
                                                           "expired"};
/* cairo point types: open triangle, filled triangle, filled circle, cross, open circle */
static const int mark_points[REPORT_MARK_KINDS] = {8, 9, 7, 2, 6};
static const char *const mark_colours[REPORT_MARK_KINDS] = {"#e67e22", "#1e8449", "#2e86c1", "#c0392b", "#7f8c8d"};
static const char *const band_titles[REPORT_BAND_KINDS] = {"Suhoor", "Iftar"};
static const char *const band_colours[REPORT_BAND_KINDS] = {"#d3e0f5", "#fbd9bd"};

static int job_fail(report_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int job_fail(report_job *job, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char reason[1024];
    vformat_into(reason, sizeof reason, fmt, args);
    va_end(args);
    format_into(job->error, job->error_size, "report: %s", reason);
    job->failed = true;
    return -1;
}

/* ## The private temporary folder ------------------------------------------------------------------------------ */

static int job_make_dir(report_job *job)
{
    const char *tmp = getenv("TMPDIR");
    format_into(job->dir, sizeof job->dir, "%s/hydra-report-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(job->dir)) {
        int failure = errno;
        job->dir[0] = '\0';
        return job_fail(job, "cannot make a temporary folder in %s: %s", tmp && tmp[0] ? tmp : "/tmp",
                        strerror(failure));
    }
    return 0;
}

static char *job_file(const report_job *job, const char *name) { return xasprintf("%s/%s", job->dir, name); }

static FILE *job_create(report_job *job, const char *name)
{
    char *path = job_file(job, name);
    FILE *file = fopen(path, "w");
    if (!file)
        job_fail(job, "cannot write %s: %s", path, strerror(errno));
    free(path);
    return file;
}

/* Every file in the folder is ours: remove them all, then the folder. */
static void job_remove_dir(report_job *job)
{
    if (!job->dir[0])
        return;
    DIR *dir = opendir(job->dir);
    for (struct dirent *entry; dir && (entry = readdir(dir));) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char *path = job_file(job, entry->d_name);
        unlink(path);
        free(path);
    }
    if (dir)
        closedir(dir);
    rmdir(job->dir);
    job->dir[0] = '\0';
}

static void job_close(report_job *job)
{
    for (size_t i = 0; i < job->panel_count; i++) {
        if (job->panels[i].data)
            fclose(job->panels[i].data);
        if (job->panels[i].marks)
            fclose(job->panels[i].marks);
        free(job->panels[i].name);
    }
    for (size_t i = 0; i < job->skipped_count; i++)
        free(job->skipped[i]);
    free(job->skipped);
    job_remove_dir(job);
}

/* ## The CSV, split per service ----------------------------------------------------------------------------------- */

enum { COLUMN_TIME, COLUMN_SERVICE, COLUMN_DEMAND, COLUMN_FORECAST, COLUMN_READY, COLUMN_DESIRED, COLUMN_COUNT };
static const char *const column_names[COLUMN_COUNT] = {"time",     "service",        "demand",
                                                       "forecast", "ready_replicas", "desired_replicas"};
#define CSV_MAX_FIELDS 64

/* Splits line in place at commas, line ending dropped; returns the number of fields (at most max). */
static size_t csv_split(char *line, char **fields, size_t max)
{
    line[strcspn(line, "\r\n")] = '\0';
    size_t count = 0;
    for (char *field = line; count < max;) {
        fields[count++] = field;
        char *comma = strchr(field, ',');
        if (!comma)
            break;
        *comma = '\0';
        field = comma + 1;
    }
    return count;
}

static int csv_header(report_job *job, char *line, size_t at[COLUMN_COUNT])
{
    char *fields[CSV_MAX_FIELDS];
    size_t count = csv_split(line, fields, CSV_MAX_FIELDS);
    for (size_t column = 0; column < COLUMN_COUNT; column++) {
        at[column] = SIZE_MAX;
        for (size_t i = 0; i < count; i++)
            if (strcmp(fields[i], column_names[column]) == 0)
                at[column] = i;
        if (at[column] == SIZE_MAX)
            return job_fail(job, "%s:1: no column \"%s\" in the header (expected time,service,demand,forecast,"
                                 "ready_replicas,desired_replicas)", job->in->csv_path, column_names[column]);
    }
    return 0;
}

/* A number, or NAN for an empty field or "nan" (a forecaster that has nothing to say yet). */
static bool csv_number(const char *text, double *out)
{
    if (!text[0] || strcasecmp(text, "nan") == 0) {
        *out = NAN;
        return true;
    }
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return end != text && !*end && errno == 0 && isfinite(*out);
}

static double capacity_of(const report_input *in, const char *service)
{
    for (size_t i = 0; i < in->service_count; i++)
        if (in->services[i].name && strcmp(in->services[i].name, service) == 0)
            return in->services[i].capacity_per_replica > 0 ? in->services[i].capacity_per_replica : 0;
    return 0;
}

/* The panel of service, made on first sight while there is room; NULL for a service beyond the panels. */
static report_panel *panel_for(report_job *job, const char *service)
{
    for (size_t i = 0; i < job->panel_count; i++)
        if (strcmp(job->panels[i].name, service) == 0)
            return &job->panels[i];
    for (size_t i = 0; i < job->skipped_count; i++)
        if (strcmp(job->skipped[i], service) == 0)
            return NULL;
    if (job->panel_count == REPORT_MAX_PANELS) {
        job->skipped = xrealloc(job->skipped, (job->skipped_count + 1) * sizeof *job->skipped);
        job->skipped[job->skipped_count++] = xstrdup(service);
        return NULL;
    }
    char name[32];
    format_into(name, sizeof name, "panel-%zu.dat", job->panel_count);
    FILE *data = job_create(job, name);
    if (!data)
        return NULL;
    report_panel *panel = &job->panels[job->panel_count++];
    *panel = (report_panel){.name = xstrdup(service), .capacity_per_replica = capacity_of(job->in, service),
                            .data = data};
    return panel;
}

static void put_number(FILE *out, double value) { fprintf(out, isnan(value) ? " NaN" : " %.10g", value); }

static int csv_row(report_job *job, char *line, size_t line_number, const size_t at[COLUMN_COUNT])
{
    const char *path = job->in->csv_path;
    char *fields[CSV_MAX_FIELDS];
    size_t count = csv_split(line, fields, CSV_MAX_FIELDS);
    if (count == 1 && !fields[0][0])
        return 0; /* a blank line */
    for (size_t column = 0; column < COLUMN_COUNT; column++)
        if (at[column] >= count)
            return job_fail(job, "%s:%zu: %zu fields, no %s", path, line_number, count, column_names[column]);
    double t, value[COLUMN_COUNT];
    if (!clock_parse_time(fields[at[COLUMN_TIME]], &t))
        return job_fail(job, "%s:%zu: bad time \"%s\"", path, line_number, fields[at[COLUMN_TIME]]);
    for (size_t column = COLUMN_DEMAND; column < COLUMN_COUNT; column++)
        if (!csv_number(fields[at[column]], &value[column]))
            return job_fail(job, "%s:%zu: bad %s \"%s\"", path, line_number, column_names[column],
                            fields[at[column]]);
    double x = t + job->offset;
    job->first = fmin(job->first, x);
    job->last = fmax(job->last, x);
    report_panel *panel = panel_for(job, fields[at[COLUMN_SERVICE]]);
    if (!panel)
        return job->failed ? -1 : 0;
    double ready = value[COLUMN_READY], desired = value[COLUMN_DESIRED];
    fprintf(panel->data, "%.10g", x);
    put_number(panel->data, value[COLUMN_DEMAND]);
    put_number(panel->data, value[COLUMN_FORECAST]);
    put_number(panel->data, panel->capacity_per_replica > 0 ? ready * panel->capacity_per_replica : NAN);
    put_number(panel->data, ready);
    put_number(panel->data, desired);
    fputc('\n', panel->data);
    panel->max_replicas = fmax(panel->max_replicas, fmax(isnan(ready) ? 0 : ready, isnan(desired) ? 0 : desired));
    return 0;
}

static int csv_split_per_service(report_job *job)
{
    FILE *csv = fopen(job->in->csv_path, "r");
    if (!csv)
        return job_fail(job, "cannot read %s: %s", job->in->csv_path, strerror(errno));
    job->first = INFINITY;
    job->last = -INFINITY;
    char *line = NULL;
    size_t size = 0, line_number = 0, at[COLUMN_COUNT];
    int status = 0;
    while (status == 0 && getline(&line, &size, csv) >= 0) {
        line_number++;
        status = line_number == 1 ? csv_header(job, line, at) : csv_row(job, line, line_number, at);
    }
    if (status == 0 && ferror(csv))
        status = job_fail(job, "cannot read %s: %s", job->in->csv_path, strerror(errno));
    else if (status == 0 && line_number == 0)
        status = job_fail(job, "%s: empty; expected the simulation's time series", job->in->csv_path);
    else if (status == 0 && job->panel_count == 0)
        status = job_fail(job, "%s: no rows after the header", job->in->csv_path);
    if (job->last <= job->first)
        job->last = job->first + 60; /* one instant: gnuplot needs an x range */
    free(line);
    fclose(csv);
    return status;
}

/* ## Marks ----------------------------------------------------------------------------------------------------- */

static int mark_on_panel(report_job *job, size_t index, const report_mark *mark)
{
    report_panel *panel = &job->panels[index];
    if (!panel->marks) {
        char name[32];
        format_into(name, sizeof name, "marks-%zu.dat", index);
        if (!(panel->marks = job_create(job, name)))
            return -1;
    }
    double x = mark->at + job->offset, replicas = mark->to_replicas;
    fprintf(panel->marks, "%.10g", x);
    put_number(panel->marks, panel->capacity_per_replica > 0 ? replicas * panel->capacity_per_replica : NAN);
    fprintf(panel->marks, " %d %d\n", mark->to_replicas, (int)mark->kind);
    panel->mark_kinds |= 1u << mark->kind;
    panel->max_replicas = fmax(panel->max_replicas, replicas);
    return 0;
}

static int marks_write(report_job *job)
{
    for (size_t m = 0; m < job->in->mark_count; m++) {
        const report_mark *mark = &job->in->marks[m];
        if ((unsigned)mark->kind >= REPORT_MARK_KINDS)
            return job_fail(job, "mark %zu has an unknown kind %d", m, (int)mark->kind);
        double x = mark->at + job->offset;
        if (!(x >= job->first && x <= job->last))
            continue;
        for (size_t i = 0; i < job->panel_count; i++)
            if ((!mark->service || strcmp(mark->service, job->panels[i].name) == 0) && mark_on_panel(job, i, mark))
                return -1;
    }
    return 0;
}

/* Data files must be complete on disk before gnuplot reads them. */
static int panels_flush(report_job *job)
{
    for (size_t i = 0; i < job->panel_count; i++) {
        report_panel *panel = &job->panels[i];
        bool failed = fclose(panel->data) != 0;
        panel->data = NULL;
        if (panel->marks) {
            failed |= fclose(panel->marks) != 0;
            panel->marks = NULL;
        }
        if (failed)
            return job_fail(job, "cannot write temporary data in %s: %s", job->dir, strerror(errno));
    }
    return 0;
}

/* ## The gnuplot script ----------------------------------------------------------------------------------------- */

/* A gnuplot single-quoted string: '' is a quote; control characters become spaces. */
static void put_quoted(FILE *out, const char *text)
{
    fputc('\'', out);
    for (const char *c = text; *c; c++) {
        if (*c == '\'')
            fputs("''", out);
        else
            fputc((unsigned char)*c < ' ' ? ' ' : *c, out);
    }
    fputc('\'', out);
}

static void put_data_file(FILE *out, const report_job *job, const char *kind, size_t index)
{
    char name[32];
    format_into(name, sizeof name, "%s-%zu.dat", kind, index);
    char *path = job_file(job, name);
    put_quoted(out, path);
    free(path);
}

static double screen_y(const report_job *job, double pixels_from_top) { return 1 - pixels_from_top / job->height; }

static void format_offset(double hours, char *buffer, size_t size)
{
    if (hours == 0) {
        format_into(buffer, size, "UTC");
        return;
    }
    long minutes = lround(fabs(hours) * 60);
    if (minutes % 60)
        format_into(buffer, size, "UTC%c%ld:%02ld", hours < 0 ? '-' : '+', minutes / 60, minutes % 60);
    else
        format_into(buffer, size, "UTC%c%ld", hours < 0 ? '-' : '+', minutes / 60);
}

static void format_local(double x, char *buffer, size_t size)
{
    time_t seconds = (time_t)floor(x);
    struct tm parts;
    gmtime_r(&seconds, &parts);
    strftime(buffer, size, "%a %d %b %Y %H:%M", &parts);
}

static void script_title(FILE *out, const report_job *job)
{
    char from[64], to[64], zone[32], note[96] = "";
    format_local(job->first, from, sizeof from);
    format_local(job->last, to, sizeof to);
    format_offset(job->in->utc_offset_hours, zone, sizeof zone);
    if (job->skipped_count)
        format_into(note, sizeof note, "   (showing the first %zu of %zu services)", job->panel_count,
                    job->panel_count + job->skipped_count);
    char *subtitle = xasprintf("%s  to  %s, times %s%s", from, to, zone, note);
    fputs("set multiplot title ", out);
    put_quoted(out, job->in->title ? job->in->title : job->in->csv_path);
    fputs(" . \"\\n\" . ", out);
    put_quoted(out, subtitle);
    fputs(" font ',15'\n", out);
    free(subtitle);
}

typedef struct time_tics {
    double span;    /* runs up to this long use these tics */
    double step;    /* seconds between labelled tics */
    int minor;      /* intervals between them */
    const char *format;
} time_tics;

static const time_tics tic_choices[] = {
    {6 * 3600.0, 1800, 3, "%H:%M\\n%d %b"},     {12 * 3600.0, 3600, 4, "%H:%M\\n%d %b"},
    {1.6 * 86400, 2 * 3600, 2, "%H:%M\\n%d %b"}, {4 * 86400.0, 6 * 3600, 6, "%H:%M\\n%a %d %b"},
    {10 * 86400.0, 86400, 4, "%a\\n%d %b"},      {21 * 86400.0, 86400, 4, "%d\\n%b"},
    {70 * 86400.0, 2 * 86400, 2, "%a %d\\n%b"},   {INFINITY, 7 * 86400, 7, "%d %b\\n%Y"},
};

static void script_time_axis(FILE *out, const report_job *job)
{
    const time_tics *tics = &tic_choices[0];
    while (job->last - job->first > tics->span)
        tics++;
    double start = ceil(job->first / tics->step) * tics->step;
    fprintf(out, "set xrange [%.10g:%.10g]\n", job->first, job->last);
    fprintf(out, "set xtics %.10g, %.10g out nomirror\nset mxtics %d\n", start, tics->step, tics->minor);
    fprintf(out, "time_format = \"%s\"\n", tics->format);
}

static void script_bands(FILE *out, report_job *job)
{
    for (size_t i = 0; i < job->in->band_count; i++) {
        const report_band *band = &job->in->bands[i];
        if ((unsigned)band->kind >= REPORT_BAND_KINDS)
            continue;
        double from = fmax(band->from + job->offset, job->first), to = fmin(band->to + job->offset, job->last);
        if (!(to > from))
            continue;
        fprintf(out,
                "set object rect from %.10g, graph 0 to %.10g, graph 1 fillcolor rgb '%s' fillstyle solid 1 "
                "noborder behind\n",
                from, to, band_colours[band->kind]);
        job->has_band[band->kind] = true;
    }
}

/* Drawn bottom to top: capacity, forecast, then demand; answers, then the asked marks (open) over them. The
 * legends list things in reading order through keyentry. */
enum { STYLE_DEMAND = 1, STYLE_FORECAST, STYLE_CAPACITY, STYLE_DESIRED, STYLE_MARK = 10 };
static const report_mark_kind mark_drawing_order[REPORT_MARK_KINDS] = {
    REPORT_MARK_AUTO, REPORT_MARK_EXPIRED, REPORT_MARK_REJECTED, REPORT_MARK_APPROVED, REPORT_MARK_ASKED};

static void script_styles(FILE *out, const report_job *job)
{
    fprintf(out, "set style line %d lw 1.4 lc rgb '#1f4e79'\n", STYLE_DEMAND);
    fprintf(out, "set style line %d lw 1.6 dt (6,4) lc rgb '#9b30b5'\n", STYLE_FORECAST);
    fprintf(out, "set style line %d lw 1.8 lc rgb '#2e9e48'\n", STYLE_CAPACITY);
    fprintf(out, "set style line %d lw 1.6 dt (6,4) lc rgb '#34495e'\n", STYLE_DESIRED);
    double size = job->last - job->first > 10 * 86400 ? 1.0 : 1.4; /* a month of marks would bury the lines */
    for (int kind = 0; kind < REPORT_MARK_KINDS; kind++)
        fprintf(out, "set style line %d pt %d ps %g lw 1.2 lc rgb '%s'\n", STYLE_MARK + kind, mark_points[kind], size,
                mark_colours[kind]);
}

/* The picture goes to the private folder first; picture_install moves it to the output once drawn. */
static void script_terminal(FILE *out, const report_job *job)
{
    const char *output = job->in->output_path;
    bool svg = strcasecmp(output + strlen(output) - 4, ".svg") == 0;
    fprintf(out, "set encoding utf8\n");
    fprintf(out, "set terminal %s size %d,%d font 'DejaVu Sans,11' noenhanced background rgb 'white'\n",
            svg ? "svg dynamic" : "pngcairo", job->width, job->height);
    fprintf(out, "set output ");
    char *picture = job_file(job, svg ? "picture.svg" : "picture.png");
    put_quoted(out, picture);
    free(picture);
    fputs("\n", out);
}

static void script_setup(FILE *out, report_job *job)
{
    script_terminal(out, job);
    fputs("set datafile separator whitespace\n", out);
    fputs("set border 3 lc rgb '#606060'\nset ytics out nomirror\n", out);
    fputs("set grid xtics mxtics ytics lc rgb '#d4d4d4' lw 1 dt 1, lc rgb '#ececec' lw 1 dt 1\n", out);
    fputs("set key Left reverse samplen 2.5 spacing 1.15 width 1 box lc rgb '#c8c8c8' opaque\n", out);
    fprintf(out, "set lmargin at screen %.5f\nset rmargin at screen %.5f\n", (double)LAYOUT_LEFT / job->width,
            1 - (double)LAYOUT_RIGHT / job->width);
    script_styles(out, job);
    script_title(out, job);
    script_time_axis(out, job);
    script_bands(out, job);
}

/* The y tic step that gives about five labelled integer tics up to max. */
static double replica_tic_step(double max)
{
    static const double nice[] = {1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000};
    for (size_t i = 0; i < ARRAY_LEN(nice); i++)
        if (max / nice[i] <= 6)
            return nice[i];
    return ceil(max / 6);
}

static void script_place(FILE *out, const report_job *job, double top, double bottom)
{
    fprintf(out, "set tmargin at screen %.5f\nset bmargin at screen %.5f\n", screen_y(job, top),
            screen_y(job, bottom));
    fprintf(out, "set key at screen %.5f, screen %.5f left top\n", 1 - (LAYOUT_RIGHT - 14.0) / job->width,
            screen_y(job, top));
}

static void put_next_item(FILE *out, bool *first)
{
    fputs(*first ? "plot " : ", \\\n  ", out);
    *first = false;
}

static void put_marks(FILE *out, const report_job *job, size_t index, int column, bool *first)
{
    for (int i = 0; i < REPORT_MARK_KINDS; i++) {
        report_mark_kind kind = mark_drawing_order[i];
        if (!(job->panels[index].mark_kinds & (1u << kind)))
            continue;
        put_next_item(out, first);
        put_data_file(out, job, "marks", index);
        fprintf(out, " using 1:($4 == %d ? $%d : NaN) with points ls %d notitle", (int)kind, column,
                STYLE_MARK + (int)kind);
    }
}

static void script_requests_plot(FILE *out, const report_job *job, size_t index, double top, double bottom)
{
    const report_panel *panel = &job->panels[index];
    bool capacity = panel->capacity_per_replica > 0, first = true;
    script_place(out, job, top, bottom);
    fputs("set title ", out);
    put_quoted(out, panel->name);
    if (capacity)
        fprintf(out, " . '  (%g requests/s per replica)'", panel->capacity_per_replica);
    fputs(" offset 0,-0.3 font ',13'\n", out);
    fputs("set ylabel 'requests/s'\nset yrange [0:*]\nset ytics autofreq\nset format y '%g'\nset format x ''\n",
          out);
    if (capacity) {
        put_next_item(out, &first);
        put_data_file(out, job, "panel", index);
        fprintf(out, " using 1:($4) with steps ls %d notitle", STYLE_CAPACITY);
        put_marks(out, job, index, 2, &first);
    }
    put_next_item(out, &first);
    put_data_file(out, job, "panel", index);
    fprintf(out, " using 1:($3) with lines ls %d notitle, \\\n  '' using 1:($2) with lines ls %d notitle",
            STYLE_FORECAST, STYLE_DEMAND);
    fprintf(out, ", \\\n  keyentry with lines ls %d title 'demand', keyentry with lines ls %d title 'forecast'",
            STYLE_DEMAND, STYLE_FORECAST);
    if (capacity)
        fprintf(out, ", \\\n  keyentry with lines ls %d title 'capacity'", STYLE_CAPACITY);
    for (int kind = 0; kind < REPORT_BAND_KINDS; kind++)
        if (job->has_band[kind])
            fprintf(out, ", \\\n  keyentry with boxes fillstyle solid 1 border lc rgb '#b0b0b0' fc rgb '%s' "
                         "title '%s'",
                    band_colours[kind], band_titles[kind]);
    fputs("\nunset title\n", out);
}

static void script_replicas_plot(FILE *out, const report_job *job, size_t index, double top, double bottom)
{
    const report_panel *panel = &job->panels[index];
    double step = replica_tic_step(fmax(panel->max_replicas, 1));
    double max = ceil((fmax(panel->max_replicas, 1) * 1.08 + 0.5) / step) * step;
    bool first = true;
    script_place(out, job, top, bottom);
    fprintf(out, "set ylabel 'replicas'\nset yrange [0:%g]\nset ytics 0, %g\nset format y '%%g'\n", max, step);
    fputs("set format x time_format timedate\n", out);
    put_next_item(out, &first);
    put_data_file(out, job, "panel", index);
    fprintf(out, " using 1:($5) with steps ls %d title 'ready', \\\n  '' using 1:($6) with steps ls %d title 'desired'",
            STYLE_CAPACITY, STYLE_DESIRED);
    put_marks(out, job, index, 3, &first);
    for (int kind = 0; kind < REPORT_MARK_KINDS; kind++)
        if (panel->mark_kinds & (1u << kind))
            fprintf(out, ", \\\n  keyentry with points ls %d title '%s'", STYLE_MARK + kind, mark_titles[kind]);
    fputc('\n', out);
}

/* Each panel: its title, the requests plot (55%), a gap, the replicas plot (45%), then room for date labels. */
static void script_panels(FILE *out, const report_job *job)
{
    double panel_height = (double)(job->height - LAYOUT_TITLE - 8) / job->panel_count;
    double plots = fmax(panel_height - LAYOUT_PANEL_TITLE - LAYOUT_GAP - LAYOUT_TIC_LABELS, 40);
    for (size_t i = 0; i < job->panel_count; i++) {
        double top = LAYOUT_TITLE + i * panel_height + LAYOUT_PANEL_TITLE;
        double middle = top + 0.55 * plots;
        script_requests_plot(out, job, i, top, middle);
        script_replicas_plot(out, job, i, middle + LAYOUT_GAP, top + plots + LAYOUT_GAP);
    }
    fputs("unset multiplot\nset output\n", out);
}

static int script_write(report_job *job)
{
    FILE *out = job_create(job, "report.gp");
    if (!out)
        return -1;
    script_setup(out, job);
    script_panels(out, job);
    if (fclose(out) != 0)
        return job_fail(job, "cannot write the gnuplot script in %s: %s", job->dir, strerror(errno));
    return 0;
}

/* ## Running gnuplot -------------------------------------------------------------------------------------------- */

static double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

/* In the child, async-signal-safe calls only. Its own process group, so that a timeout stops all it started. */
static void gnuplot_exec(int script, int errors, int nothing)
{
    static const char not_found[] = "cannot run gnuplot: not on PATH (Debian package gnuplot-nox; make deps)\n";
    static const char failed[] = "cannot run gnuplot\n";
    setpgid(0, 0);
    if (dup2(script, STDIN_FILENO) < 0 || dup2(nothing, STDOUT_FILENO) < 0 || dup2(errors, STDERR_FILENO) < 0)
        _exit(126);
    execlp("gnuplot", "gnuplot", (char *)NULL);
    if (errno == ENOENT)
        (void)!write(STDERR_FILENO, not_found, sizeof not_found - 1);
    else
        (void)!write(STDERR_FILENO, failed, sizeof failed - 1);
    _exit(127);
}

/* 0 when the child ended, 1 when it overran timeout and was killed, -1 when it could not be waited for. */
static int gnuplot_wait(pid_t pid, double timeout, int *status)
{
    double deadline = monotonic_seconds() + timeout;
    struct timespec pause = {0, 1000000};
    for (;;) {
        pid_t done = waitpid(pid, status, WNOHANG);
        if (done == pid)
            return 0;
        if (done < 0 && errno != EINTR)
            return -1;
        if (monotonic_seconds() >= deadline)
            break;
        nanosleep(&pause, NULL);
        if (pause.tv_nsec < 64000000)
            pause.tv_nsec *= 2;
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return 1;
}

static bool line_is_blank_or_caret(const char *line, size_t length)
{
    for (size_t i = 0; i < length; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '^' && line[i] != '\r')
            return false;
    return true;
}

/* gnuplot's last complaint on one line. From stdin it echoes the command ("gnuplot> plot ...") above a caret and
 * "line 0: message"; the line number says nothing, the command does. */
static void gnuplot_complaint(const char *errors_path, char *out, size_t size)
{
    char text[16384];
    FILE *file = fopen(errors_path, "r");
    size_t length = 0;
    if (file) {
        fseek(file, 0, SEEK_END);
        long end = ftell(file);
        fseek(file, end > (long)sizeof text - 1 ? end - (long)sizeof text + 1 : 0, SEEK_SET);
        length = fread(text, 1, sizeof text - 1, file);
        fclose(file);
    }
    text[length] = '\0';
    const char *message = NULL, *command = NULL;
    int message_length = 0, command_length = 0;
    for (char *line = text; *line;) {
        size_t line_length = strcspn(line, "\n");
        if (strncmp(line, "gnuplot> ", 9) == 0) {
            command = line + 9;
            command_length = (int)(line_length - 9);
        } else if (!line_is_blank_or_caret(line, line_length)) {
            message = line + strspn(line, " \t");
            message_length = (int)(line + line_length - message);
        }
        line += line_length + (line[line_length] == '\n');
    }
    if (!message) {
        format_into(out, size, "no message");
        return;
    }
    int skipped = 0;
    if (sscanf(message, "line %*d: %n", &skipped) == 0 && skipped > 0) {
        message += skipped;
        message_length -= skipped;
    }
    if (command && command < message)
        format_into(out, size, "%.*s (in: %.*s)", message_length, message, command_length > 160 ? 160 : command_length,
                    command);
    else
        format_into(out, size, "%.*s", message_length, message);
}

static int gnuplot_verdict(report_job *job, int waited, int status, const char *errors_path, double timeout)
{
    char complaint[1024];
    if (waited == 1)
        return job_fail(job, "gnuplot did not finish within %g s; stopped it", timeout);
    if (waited < 0)
        return job_fail(job, "lost track of gnuplot: %s", strerror(errno));
    gnuplot_complaint(errors_path, complaint, sizeof complaint);
    if (WIFSIGNALED(status))
        return job_fail(job, "gnuplot was killed by signal %d (%s): %s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                        complaint);
    if (WEXITSTATUS(status) == 127)
        return job_fail(job, "%s", complaint);
    if (WEXITSTATUS(status) != 0)
        return job_fail(job, "gnuplot failed (exit status %d): %s", WEXITSTATUS(status), complaint);
    if (strcmp(complaint, "no message") != 0)
        log_debug("report: gnuplot said: %s", complaint);
    return 0;
}

static int gnuplot_run(report_job *job)
{
    double timeout = job->in->timeout_seconds > 0 ? job->in->timeout_seconds : REPORT_DEFAULT_TIMEOUT_SECONDS;
    char *script_path = job_file(job, "report.gp"), *errors_path = job_file(job, "gnuplot.err");
    int script = open(script_path, O_RDONLY | O_CLOEXEC);
    int errors = open(errors_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int nothing = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_t pid = script >= 0 && errors >= 0 && nothing >= 0 ? fork() : -1;
    if (pid == 0)
        gnuplot_exec(script, errors, nothing);
    int failure = errno;
    for (int i = 0, fds[] = {script, errors, nothing}; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    int status = -1;
    if (pid < 0) {
        job_fail(job, "cannot start gnuplot: %s", strerror(failure));
    } else {
        setpgid(pid, pid); /* as the child does: whichever runs first */
        int wait_status = 0;
        int waited = gnuplot_wait(pid, timeout, &wait_status);
        status = gnuplot_verdict(job, waited, wait_status, errors_path, timeout);
    }
    free(script_path);
    free(errors_path);
    return status;
}

/* ## The picture ------------------------------------------------------------------------------------------------ */

static const char *picture_extension(const char *path)
{
    size_t length = strlen(path);
    if (length > 4 && strcasecmp(path + length - 4, ".png") == 0)
        return "png";
    if (length > 4 && strcasecmp(path + length - 4, ".svg") == 0)
        return "svg";
    return NULL;
}

static int input_check(report_job *job)
{
    const report_input *in = job->in;
    if (!in->output_path || !in->output_path[0])
        return job_fail(job, "no output path (a .png or .svg file)");
    if (!in->csv_path || !in->csv_path[0])
        return job_fail(job, "no time series (the simulation's CSV) for %s", in->output_path);
    if (!picture_extension(in->output_path))
        return job_fail(job, "cannot write %s: name it .png or .svg", in->output_path);
    bool bad_width = in->width && (in->width < 320 || in->width > 20000);
    if (bad_width || (in->height && (in->height < 240 || in->height > 20000)))
        return job_fail(job, "%s: size %dx%d is outside 320x240 .. 20000x20000", in->output_path, in->width,
                        in->height);
    if (!isfinite(in->utc_offset_hours) || fabs(in->utc_offset_hours) > 14)
        return job_fail(job, "UTC offset %g h is not a time zone", in->utc_offset_hours);
    return 0;
}

/* Before the work: an output gnuplot could draw but we could not install is found out early. */
static int output_check(report_job *job)
{
    const char *output = job->in->output_path;
    if (path_is_dir(output))
        return job_fail(job, "cannot write %s: it is a folder", output);
    char *dir = path_dirname(output);
    int status = 0;
    if (!path_is_dir(dir))
        status = job_fail(job, "cannot write %s: no folder %s", output, dir);
    else if (access(dir, W_OK) != 0 || (access(output, F_OK) == 0 && access(output, W_OK) != 0))
        status = job_fail(job, "cannot write %s: %s", output, strerror(errno));
    free(dir);
    return status;
}

static void picture_size(report_job *job)
{
    size_t extra = job->panel_count > 2 ? job->panel_count - 2 : 0;
    job->width = job->in->width ? job->in->width : REPORT_DEFAULT_WIDTH;
    job->height = job->in->height ? job->in->height : REPORT_DEFAULT_HEIGHT + (int)extra * REPORT_PANEL_HEIGHT;
}

static int picture_copy(report_job *job, const char *from_path, const char *to_path)
{
    FILE *from = fopen(from_path, "rb");
    if (!from)
        return job_fail(job, "gnuplot drew no picture for %s", to_path);
    FILE *to = fopen(to_path, "wb");
    if (!to) {
        fclose(from);
        return job_fail(job, "cannot write %s: %s", to_path, strerror(errno));
    }
    char buffer[16384];
    size_t got;
    bool failed = false;
    while (!failed && (got = fread(buffer, 1, sizeof buffer, from)) > 0)
        failed = fwrite(buffer, 1, got, to) != got;
    failed |= ferror(from) != 0;
    int failure = errno;
    failed |= fclose(to) != 0;
    fclose(from);
    if (!failed)
        return 0;
    unlink(to_path);
    return job_fail(job, "cannot write %s: %s", to_path, strerror(failure ? failure : errno));
}

/* A rename when the temporary folder shares the output's file system, else a copy. */
static int picture_install(report_job *job)
{
    const char *output = job->in->output_path;
    char name[32];
    format_into(name, sizeof name, "picture.%s", picture_extension(output));
    char *picture = job_file(job, name);
    struct stat info;
    int status;
    if (stat(picture, &info) != 0 || info.st_size == 0)
        status = job_fail(job, "gnuplot drew no picture for %s", output);
    else if (rename(picture, output) == 0)
        status = chmod(output, 0644) == 0 ? 0 : job_fail(job, "cannot write %s: %s", output, strerror(errno));
    else if (errno == EXDEV)
        status = picture_copy(job, picture, output);
    else
        status = job_fail(job, "cannot write %s: %s", output, strerror(errno));
    free(picture);
    return status;
}

int report_write(const report_input *in, char *error, size_t error_size)
{
    char spare[8];
    report_job job = {.in = in,
                      .error = error_size ? error : spare,
                      .error_size = error_size ? error_size : sizeof spare,
                      .offset = in->utc_offset_hours * 3600};
    job.error[0] = '\0';
    int status = input_check(&job) || output_check(&job) || job_make_dir(&job) || csv_split_per_service(&job) ||
                 marks_write(&job) || panels_flush(&job);
    if (status == 0) {
        picture_size(&job);
        status = script_write(&job) || gnuplot_run(&job) || picture_install(&job);
    }
    job_close(&job);
    return status ? -1 : 0;
}

static int draw_script(report_job *job, report_script_writer write, void *context)
{
    FILE *out = job_create(job, "report.gp");
    if (!out)
        return -1;
    script_terminal(out, job);
    char reason[1024] = "";
    int status = write(out, job->dir, context, reason, sizeof reason);
    if (fclose(out) != 0 && status == 0)
        return job_fail(job, "cannot write the gnuplot script in %s: %s", job->dir, strerror(errno));
    return status == 0 ? 0 : job_fail(job, "%s", reason);
}

int report_draw(const char *output_path, int width, int height, report_script_writer write, void *context,
                char *error, size_t error_size)
{
    report_input in = {.output_path = output_path, .width = width, .height = height};
    report_job job = {.in = &in, .error = error, .error_size = error_size, .width = width, .height = height};
    error[0] = '\0';
    int status = 0;
    if (!output_path || !picture_extension(output_path))
        status = job_fail(&job, "cannot write %s: name it .png or .svg", output_path ? output_path : "(nothing)");
    status = status || output_check(&job) || job_make_dir(&job) || draw_script(&job, write, context) ||
             gnuplot_run(&job) || picture_install(&job);
    job_close(&job);
    return status ? -1 : 0;
}

/* ## Suhoor and Iftar from the scenario's calendar ---------------------------------------------------------------- */

static void band_add(report_band **bands, size_t *count, double from, double to, report_band band)
{
    if (!(band.to > from && band.from < to))
        return;
    *bands = xrealloc(*bands, (*count + 1) * sizeof **bands);
    (*bands)[(*count)++] = band;
}

int report_bands_from_prayer_times(scenario *world, double from, double to, report_band **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (!world->has_location || !(to > from))
        return 0;
    double offset = world->location.utc_offset_hours * 3600;
    /* a day's bands lie within its local date: Suhoor ends at Imsak, Iftar an hour after Maghrib */
    long first = (long)floor((from + offset) / 86400), last = (long)floor((to + offset) / 86400);
    report_band *bands = NULL;
    size_t n = 0;
    for (long day = first; day <= last; day++) {
        double noon = (double)day * 86400 - offset + 43200;
        int ramadan = calendar_ramadan_day(noon, &world->location);
        if (ramadan < 0) {
            free(bands);
            return -1;
        }
        calendar_day_times times;
        if (ramadan == 0 || scenario_prayer_times(world, noon, &times) != 0)
            continue;
        band_add(&bands, &n, from, to, (report_band){times.imsak - 2 * 3600, times.imsak, REPORT_BAND_SUHOOR});
        band_add(&bands, &n, from, to, (report_band){times.maghrib, times.maghrib + 3600, REPORT_BAND_IFTAR});
    }
    *out = bands;
    *count = n;
    return 0;
}
