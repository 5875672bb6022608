#include "series_csv.h"

#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIGITS "0123456789"

/* ## Reading lines ------------------------------------------------------------------------------------------------- */


int csv_reader_fail(csv_reader *reader, const char *fmt, ...)
{
    char what[512];
    va_list args;
    va_start(args, fmt);
    vformat_into(what, sizeof what, fmt, args);
    va_end(args);
    format_into(reader->error, reader->error_size, "%s:%lu: %s", reader->path, reader->line_number, what);
    return -1;
}

static int reader_fail_read(csv_reader *reader)
{
    return csv_reader_fail(reader, "cannot read: %s", strerror(errno ? errno : EIO));
}

/* Byte by byte into a fixed buffer, so that an overlong line or a binary file is refused rather than loaded into
 * memory whole, and a NUL byte cannot hide the rest of a line from the parser. */
int csv_reader_next_line(csv_reader *reader)
{
    errno = 0;
    int c = getc_unlocked(reader->file);
    if (c == EOF)
        return ferror(reader->file) ? reader_fail_read(reader) : 0;
    reader->line_number++;
    size_t length = 0;
    for (; c != EOF && c != '\n'; c = getc_unlocked(reader->file)) {
        if (length == SERIES_CSV_MAX_LINE)
            return csv_reader_fail(reader, "line longer than %u bytes", SERIES_CSV_MAX_LINE);
        if (c == '\0')
            return csv_reader_fail(reader, "NUL byte in the line (not a text file?)");
        reader->line[length++] = (char)c;
    }
    if (c == EOF && ferror(reader->file))
        return reader_fail_read(reader);
    if (length > 0 && reader->line[length - 1] == '\r')
        length--;
    reader->line[length] = '\0';
    return 1;
}

/* ## Fields -------------------------------------------------------------------------------------------------------- */

static bool is_blank_char(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

char *csv_trim(char *text)
{
    while (is_blank_char(*text))
        text++;
    size_t length = strlen(text);
    while (length > 0 && is_blank_char(text[length - 1]))
        text[--length] = '\0';
    return text;
}

bool csv_blank_line(const char *line)
{
    while (is_blank_char(*line))
        line++;
    return *line == '\0';
}

/* A field as it may appear in a one-line error: at most 40 bytes, anything unprintable shown as '?'. */
const char *csv_shown(const char *text, char *buffer, size_t size)
{
    size_t length = 0;
    for (; text[length] && length < 40 && length + 4 < size; length++) {
        unsigned char c = (unsigned char)text[length];
        buffer[length] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    buffer[length] = '\0';
    if (text[length] && length + 4 <= size)
        memcpy(buffer + length, "...", 4);
    return buffer;
}

/* Splits the line at its one comma into two trimmed fields. */
static int reader_split(csv_reader *reader, char **first, char **second)
{
    char *comma = strchr(reader->line, ',');
    if (!comma)
        return csv_reader_fail(reader, "missing column: expected two, timestamp,value");
    if (strchr(comma + 1, ','))
        return csv_reader_fail(reader, "too many columns: expected two, timestamp,value");
    *comma = '\0';
    *first = csv_trim(reader->line);
    *second = csv_trim(comma + 1);
    return 0;
}

/* ## Numbers and timestamps ---------------------------------------------------------------------------------------- */

/* strtod alone would also take "inf", "nan", hexadecimal and leading blanks; none of those is a sample. */
static bool is_decimal(const char *text)
{
    const char *cursor = text + (*text == '+' || *text == '-');
    size_t digits = strspn(cursor, DIGITS);
    cursor += digits;
    if (*cursor == '.') {
        size_t fraction = strspn(cursor + 1, DIGITS);
        digits += fraction;
        cursor += 1 + fraction;
    }
    if (digits == 0)
        return false;
    if (*cursor == 'e' || *cursor == 'E') {
        cursor += 1 + (cursor[1] == '+' || cursor[1] == '-');
        size_t exponent = strspn(cursor, DIGITS);
        if (exponent == 0)
            return false;
        cursor += exponent;
    }
    return *cursor == '\0';
}

static bool parse_decimal(const char *text, double *out)
{
    if (!is_decimal(text))
        return false;
    double value = strtod(text, NULL);
    if (!isfinite(value))
        return false;
    *out = value;
    return true;
}

/* Advances past expected when it is next; never past the end of the text. */
static bool take_char(const char **cursor, char expected)
{
    if (**cursor != expected)
        return false;
    (*cursor)++;
    return true;
}

/* Exactly count digits; stops at the first non-digit, so it never reads past the terminating NUL. */
static bool take_digits(const char **cursor, int count, int *out)
{
    int value = 0;
    for (int i = 0; i < count; i++) {
        char c = (*cursor)[i];
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + (c - '0');
    }
    *cursor += count;
    *out = value;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DD" with every field in range: timegm would quietly turn February 30th into March 2nd. */
static bool take_date(const char **cursor, struct tm *parts)
{
    int year, month, day;
    if (!take_digits(cursor, 4, &year) || !take_char(cursor, '-') || !take_digits(cursor, 2, &month) ||
        !take_char(cursor, '-') || !take_digits(cursor, 2, &day))
        return false;
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return false;
    parts->tm_year = year - 1900;
    parts->tm_mon = month - 1;
    parts->tm_mday = day;
    return true;
}

/* "HH:MM:SS" then an optional fraction ".ffffff", as NAB writes its labels. */
static bool take_clock(const char **cursor, struct tm *parts, double *fraction)
{
    if (!take_digits(cursor, 2, &parts->tm_hour) || !take_char(cursor, ':') ||
        !take_digits(cursor, 2, &parts->tm_min) || !take_char(cursor, ':') ||
        !take_digits(cursor, 2, &parts->tm_sec))
        return false;
    if (parts->tm_hour > 23 || parts->tm_min > 59 || parts->tm_sec > 59)
        return false;
    *fraction = 0;
    if (!take_char(cursor, '.'))
        return true;
    if (**cursor < '0' || **cursor > '9')
        return false;
    double scale = 0.1;
    for (; **cursor >= '0' && **cursor <= '9'; (*cursor)++, scale /= 10)
        *fraction += (**cursor - '0') * scale;
    return true;
}

/* Nothing (UTC, as NAB means it), "Z", or "+HH:MM" / "-HH:MM"; the seconds to subtract to get UTC. */
static bool take_zone(const char **cursor, double *offset)
{
    *offset = 0;
    if (take_char(cursor, 'Z') || **cursor == '\0')
        return **cursor == '\0';
    int sign = **cursor == '-' ? -1 : 1;
    int hours, minutes;
    if (!(take_char(cursor, '+') || take_char(cursor, '-')) || !take_digits(cursor, 2, &hours) ||
        !take_char(cursor, ':') || !take_digits(cursor, 2, &minutes) || hours > 23 || minutes > 59)
        return false;
    *offset = sign * (hours * 3600.0 + minutes * 60.0);
    return **cursor == '\0';
}

static bool parse_calendar_time(const char *text, double *out)
{
    const char *cursor = text;
    struct tm parts = {0};
    double fraction, offset;
    if (!take_date(&cursor, &parts) || !(take_char(&cursor, ' ') || take_char(&cursor, 'T')) ||
        !take_clock(&cursor, &parts, &fraction) || !take_zone(&cursor, &offset))
        return false;
    *out = (double)timegm(&parts) + fraction - offset;
    return true;
}

bool series_csv_parse_number(const char *text, double *out) { return parse_decimal(text, out); }

bool series_csv_parse_time(const char *text, double *out)
{
    return parse_calendar_time(text, out) || parse_decimal(text, out);
}

/* ## Rows ---------------------------------------------------------------------------------------------------------- */

/* The file decides these sizes, so running out of memory is its problem to report, not a reason to abort. */
static bool grow_array(double **array, size_t count)
{
    double *grown = realloc(*array, count * sizeof **array);
    if (!grown)
        return false;
    *array = grown;
    return true;
}

static int rows_append(csv_reader *reader, series_csv *series, size_t *capacity, double time, double value)
{
    if (series->row_count == *capacity) {
        if (*capacity >= SERIES_CSV_MAX_POINTS)
            return csv_reader_fail(reader, "more than %u rows", SERIES_CSV_MAX_POINTS);
        size_t grown = *capacity ? *capacity * 2 : 1024;
        grown = grown < SERIES_CSV_MAX_POINTS ? grown : SERIES_CSV_MAX_POINTS;
        if (!grow_array(&series->row_times, grown) || !grow_array(&series->row_values, grown))
            return csv_reader_fail(reader, "out of memory for %zu rows", grown);
        *capacity = grown;
    }
    series->row_times[series->row_count] = time;
    series->row_values[series->row_count++] = value;
    return 0;
}

static int read_row(csv_reader *reader, series_csv *series, size_t *capacity)
{
    char *time_text, *value_text, quoted[48];
    double time, value;
    if (reader_split(reader, &time_text, &value_text) != 0)
        return -1;
    if (!series_csv_parse_time(time_text, &time))
        return csv_reader_fail(reader, "bad timestamp \"%s\": expected YYYY-MM-DD HH:MM:SS (UTC), ISO 8601 or Unix seconds",
                           csv_shown(time_text, quoted, sizeof quoted));
    if (*value_text == '\0')
        return csv_reader_fail(reader, "missing value after the timestamp");
    if (!parse_decimal(value_text, &value))
        return csv_reader_fail(reader, "bad value \"%s\": expected a decimal number",
                           csv_shown(value_text, quoted, sizeof quoted));
    /* A repeated timestamp is allowed: NAB's own files have them, and its scoring counts every row. */
    if (series->row_count > 0 && time < series->row_times[series->row_count - 1])
        return csv_reader_fail(reader, "timestamp \"%s\" is earlier than the row before (line %lu): rows must be in "
                           "time order", csv_shown(time_text, quoted, sizeof quoted), reader->last_row_line);
    reader->last_row_line = reader->line_number;
    return rows_append(reader, series, capacity, time, value);
}

/* The first line that is not blank names the columns. Checked, because a file that starts with data would otherwise
 * lose its first row without a word. */
int csv_reader_header(csv_reader *reader, const char *example)
{
    int status;
    while ((status = csv_reader_next_line(reader)) == 1 && csv_blank_line(reader->line)) {
    }
    if (status == 0) {
        reader->line_number = reader->line_number ? reader->line_number : 1;
        return csv_reader_fail(reader, "empty file: expected a header line such as %s, then rows", example);
    }
    return status < 0 ? -1 : 0;
}

static int read_header(csv_reader *reader)
{
    if (csv_reader_header(reader, "timestamp,value") != 0)
        return -1;
    char *time_text, *value_text;
    double ignored;
    if (reader_split(reader, &time_text, &value_text) != 0)
        return -1;
    if (series_csv_parse_time(time_text, &ignored) && parse_decimal(value_text, &ignored))
        return csv_reader_fail(reader, "expected a header line such as timestamp,value, found a data row");
    return 0;
}

static int read_rows(csv_reader *reader, series_csv *series)
{
    size_t capacity = 0;
    int status;
    while ((status = csv_reader_next_line(reader)) == 1) {
        if (!csv_blank_line(reader->line) && read_row(reader, series, &capacity) != 0)
            return -1;
    }
    if (status < 0)
        return -1;
    if (series->row_count == 0)
        return csv_reader_fail(reader, "no data rows after the header");
    return 0;
}

/* ## The grid ------------------------------------------------------------------------------------------------------ */

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* In a sorted array: the value that occurs most often (the smallest on a tie), or the median when none repeats. */
static double most_common_or_median(const double *sorted, size_t count)
{
    double best = sorted[count / 2];
    size_t best_run = 1;
    for (size_t i = 0; i < count;) {
        size_t run = 1;
        while (i + run < count && sorted[i + run] == sorted[i])
            run++;
        if (run > best_run) {
            best = sorted[i];
            best_run = run;
        }
        i += run;
    }
    return best;
}

/* The most common difference rather than the mean or the smallest: gaps make some differences whole multiples of
 * the step, jitter (NAB's traffic series) makes a few slightly off, and neither should move it. */
static int detect_step(csv_reader *reader, const series_csv *series, double *step)
{
    double *differences = malloc(series->row_count * sizeof *differences);
    if (!differences)
        return csv_reader_fail(reader, "out of memory detecting the step of %zu rows", series->row_count);
    size_t count = 0;
    for (size_t r = 1; r < series->row_count; r++) {
        double difference = series->row_times[r] - series->row_times[r - 1];
        if (difference > 0)
            differences[count++] = difference;
    }
    if (count > 0) {
        qsort(differences, count, sizeof *differences, compare_doubles);
        *step = most_common_or_median(differences, count);
    }
    free(differences);
    if (count == 0)
        return csv_reader_fail(reader, "cannot detect the step: no two rows have different timestamps (give the step)");
    return 0;
}

static int build_grid(csv_reader *reader, double step, series_csv *series)
{
    reader->line_number = reader->last_row_line;
    if (step <= 0 && detect_step(reader, series, &step) != 0)
        return -1;
    double span = series->row_times[series->row_count - 1] - series->row_times[0];
    double slots = round(span / step);
    if (!(slots < SERIES_CSV_MAX_POINTS))
        return csv_reader_fail(reader, "%.0f s from the first row to this one at a step of %g s is more than %u grid "
                           "points (give a larger step)", span, step, SERIES_CSV_MAX_POINTS);
    series->count = (size_t)slots + 1;
    series->start = series->row_times[0];
    series->step = step;
    series->values = malloc(series->count * sizeof *series->values);
    if (!series->values)
        return csv_reader_fail(reader, "out of memory for %zu grid points", series->count);
    for (size_t i = 0; i < series->count; i++)
        series->values[i] = NAN;
    /* Values are never NAN (parse_decimal refuses them), so a filled slot is one an earlier row took. */
    for (size_t r = 0; r < series->row_count; r++) {
        double *slot = &series->values[series_csv_row_slot(series, r)];
        series->replaced += !isnan(*slot);
        *slot = series->row_values[r];
    }
    return 0;
}

/* ## Public -------------------------------------------------------------------------------------------------------- */

int series_csv_read(const char *path, double step, series_csv *out, char *error, size_t error_size)
{
    memset(out, 0, sizeof *out);
    if (!isfinite(step)) {
        format_into(error, error_size, "%s: the step must be a finite number of seconds, not %g", path, step);
        return -1;
    }
    csv_reader reader = {.path = path, .error = error, .error_size = error_size};
    reader.file = fopen(path, "r");
    if (!reader.file) {
        format_into(error, error_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int result = read_header(&reader);
    if (result == 0)
        result = read_rows(&reader, out);
    if (result == 0)
        result = build_grid(&reader, step, out);
    fclose(reader.file);
    if (result != 0)
        series_csv_free(out);
    return result;
}

void series_csv_free(series_csv *series)
{
    if (!series)
        return;
    free(series->values);
    free(series->row_times);
    free(series->row_values);
    memset(series, 0, sizeof *series);
}

hydra_series series_csv_view(const series_csv *series)
{
    return (hydra_series){
        .values = series->values,
        .count = series->count,
        .start = series->start,
        .step = series->step,
    };
}

/* Rows never go back in time and division by a positive step keeps order, so every slot is at most that of the
 * last row, which is count - 1 by construction. */
size_t series_csv_row_slot(const series_csv *series, size_t row)
{
    return (size_t)llround((series->row_times[row] - series->start) / series->step);
}
