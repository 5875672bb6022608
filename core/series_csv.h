/* A metric series read from a CSV file ("timestamp,value" under a header line), as `hydra backtest` and `hydra
 * detect` take it and as the NAB data set ships it. The file is untrusted: every field is checked, and any problem
 * fails the read with one line "FILE:LINE: what is wrong".
 *
 * Two views of the same rows: the rows themselves, untouched (NAB scores every input row), and an evenly spaced grid
 * from the first to the last timestamp with NAN where no row fell, which is what hydra_series carries. */
#ifndef HYDRA_SERIES_CSV_H
#define HYDRA_SERIES_CSV_H

#include <hydra/plugin.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Neither the rows nor the grid may exceed this many points: a typo in a step or a timestamp must not ask for
 * gigabytes. */
#define SERIES_CSV_MAX_POINTS 50000000u
/* Longest line accepted, in bytes, line ending excluded. */
#define SERIES_CSV_MAX_LINE 4096u

typedef struct series_csv {
    /* The grid: count values, values[i] at start + i * step; NAN where no row fell. */
    double *values;
    size_t count;
    double start; /* Unix seconds of the first row */
    double step;  /* seconds, as given or as detected */

    /* The rows as read, in file order: Unix seconds and values. */
    double *row_times;
    double *row_values;
    size_t row_count;

    /* Rows whose grid slot a later row took: repeated timestamps (NAB has some), or two off-grid timestamps whose
     * nearest slot is the same. The later row's value is the one on the grid. */
    size_t replaced;
} series_csv;

/* Reads path into *out. Timestamps are "YYYY-MM-DD HH:MM:SS" (UTC), ISO 8601 ("2014-04-10T00:02:00Z", optional
 * fraction, Z or +HH:MM), or Unix seconds; values are decimal numbers. Rows must not go back in time; a repeated
 * timestamp is kept as its own row. step > 0 sets the grid step; step <= 0 detects it as the most common positive
 * difference between consecutive timestamps (the median when no difference repeats). A timestamp off the grid goes
 * to the nearest slot. Returns 0, or -1 with the reason in error and *out empty (series_csv_free is safe on it). */
int series_csv_read(const char *path, double step, series_csv *out, char *error, size_t error_size);
void series_csv_free(series_csv *series);

/* The grid as a plugin takes it; borrows series' storage. */
hydra_series series_csv_view(const series_csv *series);
/* The grid slot row landed in, so that per-row results (NAB scoring) can be read off a score per grid point. */
size_t series_csv_row_slot(const series_csv *series, size_t row);
/* A decimal number as a CSV cell holds it: no "inf", "nan", hexadecimal or blanks; finite. */
bool series_csv_parse_number(const char *text, double *out);
/* Parses one timestamp in any of the formats above, e.g. NAB's label "2014-04-15 07:24:00.000000". */
bool series_csv_parse_time(const char *text, double *out);

/* ## Reading any untrusted CSV line by line (samples_csv.c reads its files with it too) */

typedef struct csv_reader {
    const char *path;
    FILE *file;
    unsigned long line_number;   /* of the line in `line`, 1-based */
    unsigned long last_row_line; /* of the last data row, for errors found after the whole file is read */
    char line[SERIES_CSV_MAX_LINE + 1];
    char *error;
    size_t error_size;
} csv_reader;

/* 1 with the next line in reader->line (its LF or CRLF removed), 0 at the end of the file, -1 on an error (a line
 * longer than SERIES_CSV_MAX_LINE, a NUL byte, a read error), said in reader->error as "FILE:LINE: what". */
int csv_reader_next_line(csv_reader *reader);
/* Reads up to the first line that is not blank, the header (0), or fails naming example as what was expected. */
int csv_reader_header(csv_reader *reader, const char *example);
/* Writes "FILE:LINE: what" into reader->error; returns -1. */
int csv_reader_fail(csv_reader *reader, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Blanks (space, tab, CR) off both ends, in place. */
char *csv_trim(char *text);
bool csv_blank_line(const char *line);
/* A field as it may appear in a one-line error: at most 40 bytes, anything unprintable as '?'. */
const char *csv_shown(const char *text, char *buffer, size_t size);

#endif
