#include "nab.h"

#include "series_csv.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROBATION_FRACTION 0.15
#define PROBATION_ROWS_CAP 5000
/* Thresholds tried by nab_best_threshold: the scores that occur, thinned out evenly by rank beyond this many. */
#define THRESHOLD_CANDIDATES 2000
#define MAX_COLUMNS 64

/* NAB's published weights (its profiles.json). */
static const nab_profile profiles[] = {
    {"standard", 1.0, 0.11, 1.0},
    {"reward_low_FP_rate", 1.0, 0.22, 1.0},
    {"reward_low_FN_rate", 1.0, 0.11, 2.0},
};

const nab_profile *nab_profile_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(profiles); i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

const char *nab_profile_list(void) { return "standard, reward_low_FP_rate, reward_low_FN_rate"; }

/* ## Scoring ------------------------------------------------------------------------------------------------------ */

double nab_sigmoid(double y) { return 2 / (1 + exp(5 * y)) - 1; }

static size_t probation_rows(size_t count)
{
    size_t base = count < PROBATION_ROWS_CAP ? count : PROBATION_ROWS_CAP;
    return (size_t)floor(PROBATION_FRACTION * (double)base);
}

/* The window holding t, else -1; *before is the last window ending before t (-1 when none). */
static long window_of(const nab_file *file, double t, long *before)
{
    *before = -1;
    for (size_t w = 0; w < file->window_count; w++) {
        if (t >= file->windows[w].start && t <= file->windows[w].end)
            return (long)w;
        if (file->windows[w].end < t && (*before < 0 || file->windows[w].end > file->windows[*before].end))
            *before = (long)w;
    }
    return -1;
}

static double false_positive_cost(const nab_file *file, const nab_profile *profile, long before, double t)
{
    if (before < 0)
        return -profile->fp_weight;
    const nab_window *w = &file->windows[before];
    double length = w->end - w->start;
    return profile->fp_weight * (length > 0 ? nab_sigmoid((t - w->end) / length) : -1);
}

void nab_score_file(const nab_file *file, const nab_profile *profile, double threshold, nab_tally *tally)
{
    bool *hit = xcalloc(file->window_count + 1, sizeof *hit);
    for (size_t i = probation_rows(file->count); i < file->count; i++) {
        if (!(file->scores[i] >= threshold))
            continue;
        long before, w = window_of(file, file->times[i], &before);
        if (w < 0) {
            tally->raw += false_positive_cost(file, profile, before, file->times[i]);
            tally->false_positives++;
        } else if (!hit[w]) {
            const nab_window *window = &file->windows[w];
            double length = window->end - window->start;
            double y = length > 0 ? (file->times[i] - window->end) / length : -1;
            tally->raw += profile->tp_weight * nab_sigmoid(y);
            hit[w] = true;
            tally->detected++;
        }
    }
    for (size_t w = 0; w < file->window_count; w++)
        tally->raw -= hit[w] ? 0 : profile->fn_weight;
    tally->windows += file->window_count;
    tally->null_raw -= profile->fn_weight * (double)file->window_count;
    tally->perfect_raw += profile->tp_weight * nab_sigmoid(-1) * (double)file->window_count;
    free(hit);
}

double nab_normalised(const nab_tally *tally)
{
    double span = tally->perfect_raw - tally->null_raw;
    return span > 0 ? 100 * (tally->raw - tally->null_raw) / span : NAN;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The distinct positive scores, ascending; *count of them. */
static double *distinct_scores(const nab_file *files, size_t file_count, size_t *count)
{
    size_t total = 0;
    for (size_t f = 0; f < file_count; f++)
        total += files[f].count;
    double *all = xmalloc((total + 1) * sizeof *all);
    size_t n = 0;
    for (size_t f = 0; f < file_count; f++)
        for (size_t i = 0; i < files[f].count; i++)
            if (files[f].scores[i] > 0)
                all[n++] = files[f].scores[i];
    qsort(all, n, sizeof *all, compare_doubles);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (distinct == 0 || all[i] != all[distinct - 1])
            all[distinct++] = all[i];
    *count = distinct;
    return all;
}

static nab_tally tally_all(const nab_file *files, size_t count, const nab_profile *profile, double threshold)
{
    nab_tally tally = {0};
    for (size_t f = 0; f < count; f++)
        nab_score_file(&files[f], profile, threshold, &tally);
    return tally;
}

double nab_best_threshold(const nab_file *files, size_t count, const nab_profile *profile, nab_tally *best)
{
    size_t distinct;
    double *candidates = distinct_scores(files, count, &distinct);
    double best_threshold = 1.0;
    *best = tally_all(files, count, profile, best_threshold);
    size_t tries = distinct < THRESHOLD_CANDIDATES ? distinct : THRESHOLD_CANDIDATES;
    for (size_t k = 0; k < tries; k++) {
        double threshold = candidates[tries < distinct ? k * (distinct - 1) / (tries - 1) : k];
        nab_tally tally = tally_all(files, count, profile, threshold);
        if (tally.raw > best->raw) {
            *best = tally;
            best_threshold = threshold;
        }
    }
    free(candidates);
    return best_threshold;
}

/* ## Labels ------------------------------------------------------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static json_t *labels_entry(json_t *labels, const char *key)
{
    json_t *exact = json_object_get(labels, key);
    if (exact)
        return exact;
    const char *wanted = base_name(key), *name;
    json_t *value;
    json_object_foreach(labels, name, value) {
        if (text_ends_with(wanted, base_name(name)))
            return value;
    }
    return NULL;
}

static int window_parse(json_t *pair, nab_window *out)
{
    const char *start = json_string_value(json_array_get(pair, 0));
    const char *end = json_string_value(json_array_get(pair, 1));
    return json_array_size(pair) == 2 && start && end && series_csv_parse_time(start, &out->start) &&
                   series_csv_parse_time(end, &out->end) && out->start <= out->end
               ? 0
               : -1;
}

int nab_labels_read(const char *path, const char *key, nab_window **windows, size_t *count, char *error,
                    size_t error_size)
{
    *windows = NULL;
    *count = 0;
    json_error_t parse_error;
    json_t *labels = json_load_file(path, 0, &parse_error);
    if (!labels || !json_is_object(labels)) {
        format_into(error, error_size, "%s:%d: %s", path, labels ? 1 : parse_error.line,
                    labels ? "expected an object of file names to lists of windows" : parse_error.text);
        json_decref(labels);
        return -1;
    }
    json_t *entry = labels_entry(labels, key);
    int status = 0;
    if (!json_is_array(entry)) {
        format_into(error, error_size, "%s: no windows for '%s' (a key ending in its file name)", path, key);
        status = -1;
    } else {
        *windows = xcalloc(json_array_size(entry) + 1, sizeof **windows);
        for (size_t w = 0; status == 0 && w < json_array_size(entry); w++)
            if (window_parse(json_array_get(entry, w), &(*windows)[(*count)++]) != 0) {
                format_into(error, error_size, "%s: window %zu of '%s': expected [\"start\", \"end\"] times, start <= end",
                            path, w, key);
                status = -1;
            }
    }
    if (status != 0) {
        free(*windows);
        *windows = NULL;
        *count = 0;
    }
    json_decref(labels);
    return status;
}

/* ## Results ------------------------------------------------------------------------------------------------------ */

/* Splits line at commas in place; returns how many fields (at most MAX_COLUMNS). */
static size_t split_fields(char *line, char **fields)
{
    size_t n = 0;
    for (char *field = line; n < MAX_COLUMNS;) {
        char *comma = strchr(field, ',');
        if (comma)
            *comma = '\0';
        fields[n++] = csv_trim(field);
        if (!comma)
            break;
        field = comma + 1;
    }
    return n;
}

typedef struct results_columns {
    size_t time, score, needed;
} results_columns;

static int results_header(csv_reader *reader, results_columns *columns)
{
    if (csv_reader_header(reader, "timestamp,value,anomaly_score") != 0)
        return -1;
    char *fields[MAX_COLUMNS];
    size_t n = split_fields(reader->line, fields);
    columns->time = columns->score = MAX_COLUMNS;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i], "timestamp") == 0)
            columns->time = i;
        else if (strcmp(fields[i], "anomaly_score") == 0)
            columns->score = i;
    }
    if (columns->time == MAX_COLUMNS || columns->score == MAX_COLUMNS)
        return csv_reader_fail(reader, "the header must name the columns timestamp and anomaly_score");
    columns->needed = (columns->time > columns->score ? columns->time : columns->score) + 1;
    return 0;
}

static int results_row(csv_reader *reader, const results_columns *columns, double last_time, double *time,
                       double *score)
{
    char *fields[MAX_COLUMNS], shown[64];
    size_t n = split_fields(reader->line, fields);
    if (n < columns->needed)
        return csv_reader_fail(reader, "expected at least %zu fields, found %zu", columns->needed, n);
    if (!series_csv_parse_time(fields[columns->time], time))
        return csv_reader_fail(reader, "bad timestamp '%s'", csv_shown(fields[columns->time], shown, sizeof shown));
    if (!series_csv_parse_number(fields[columns->score], score) || *score < 0 || *score > 1)
        return csv_reader_fail(reader, "anomaly_score must be a number in [0, 1], found '%s'",
                               csv_shown(fields[columns->score], shown, sizeof shown));
    if (*time < last_time)
        return csv_reader_fail(reader, "timestamp goes back in time");
    return 0;
}

static int results_rows(csv_reader *reader, double **times, double **scores, size_t *count)
{
    results_columns columns = {0};
    if (results_header(reader, &columns) != 0)
        return -1;
    size_t capacity = 0;
    int more;
    while ((more = csv_reader_next_line(reader)) == 1) {
        if (csv_blank_line(reader->line))
            continue;
        if (*count == capacity) {
            capacity = capacity ? 2 * capacity : 1024;
            *times = xrealloc(*times, capacity * sizeof **times);
            *scores = xrealloc(*scores, capacity * sizeof **scores);
        }
        double last = *count ? (*times)[*count - 1] : -INFINITY;
        if (results_row(reader, &columns, last, &(*times)[*count], &(*scores)[*count]) != 0)
            return -1;
        (*count)++;
    }
    if (more == 0 && *count == 0)
        return csv_reader_fail(reader, "no rows after the header");
    return more;
}

int nab_results_read(const char *path, double **times, double **scores, size_t *count, char *error,
                     size_t error_size)
{
    *times = *scores = NULL;
    *count = 0;
    csv_reader reader = {.path = path, .error = error, .error_size = error_size};
    if (!(reader.file = fopen(path, "r"))) {
        format_into(error, error_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int status = results_rows(&reader, times, scores, count);
    fclose(reader.file);
    if (status != 0) {
        free(*times);
        free(*scores);
        *times = *scores = NULL;
        *count = 0;
    }
    return status;
}
