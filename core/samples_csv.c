#include "samples_csv.h"

#include "series_csv.h"

#include <errno.h>
#include <string.h>

#define COLUMNS 4

static const char *const column_names[COLUMNS] = {"service", "metric", "ts", "value"};

/* ## Reading -------------------------------------------------------------------------------------------------- */

/* Splits reader->line into COLUMNS fields in place; a field may be "quoted" with "" for a quote inside. */
static int split_fields(csv_reader *reader, char *fields[COLUMNS])
{
    char *cursor = reader->line;
    for (int column = 0;; column++) {
        if (column == COLUMNS)
            return csv_reader_fail(reader, "too many columns: expected four, service,metric,ts,value");
        while (*cursor == ' ' || *cursor == '\t')
            cursor++;
        char *field = cursor, *to = cursor;
        if (*cursor == '"') {
            for (cursor++; !(*cursor == '"' && cursor[1] != '"'); cursor++) {
                if (!*cursor)
                    return csv_reader_fail(reader, "unterminated quoted field in column %d (a field cannot span "
                                                   "lines)", column + 1);
                cursor += *cursor == '"'; /* "" is one quote */
                *to++ = *cursor;
            }
            cursor++;
            while (*cursor == ' ' || *cursor == '\t')
                cursor++;
            if (*cursor && *cursor != ',')
                return csv_reader_fail(reader, "text after the closing quote in column %d", column + 1);
        } else {
            cursor += strcspn(cursor, ",\"");
            if (*cursor == '"')
                return csv_reader_fail(reader, "a quote inside an unquoted field in column %d (quote the whole "
                                               "field and double the quote)", column + 1);
            to = cursor;
        }
        char separator = *cursor;
        *to = '\0';
        fields[column] = csv_trim(field);
        if (separator != ',')
            return column == COLUMNS - 1
                       ? 0
                       : csv_reader_fail(reader, "missing column: expected four, service,metric,ts,value; found %d",
                                         column + 1);
        cursor++;
    }
}

static int read_header(csv_reader *reader)
{
    if (csv_reader_header(reader, "service,metric,ts,value") != 0)
        return -1;
    char *fields[COLUMNS];
    if (split_fields(reader, fields) != 0)
        return -1;
    for (int i = 0; i < COLUMNS; i++)
        if (strcmp(fields[i], column_names[i]) != 0)
            return csv_reader_fail(reader, "expected the header service,metric,ts,value; column %d is \"%s\"", i + 1,
                                   fields[i]);
    return 0;
}

static int read_row(csv_reader *reader, hydra_sample *sample)
{
    char *fields[COLUMNS], quoted[48];
    if (split_fields(reader, fields) != 0)
        return -1;
    for (int i = 0; i < COLUMNS; i++)
        if (!fields[i][0])
            return csv_reader_fail(reader, "empty %s", column_names[i]);
    if (!series_csv_parse_time(fields[2], &sample->ts) || sample->ts < 0)
        return csv_reader_fail(reader, "bad ts \"%s\": expected Unix seconds, ISO 8601 or YYYY-MM-DD HH:MM:SS (UTC)",
                               csv_shown(fields[2], quoted, sizeof quoted));
    if (!series_csv_parse_number(fields[3], &sample->value))
        return csv_reader_fail(reader, "bad value \"%s\": expected a decimal number",
                               csv_shown(fields[3], quoted, sizeof quoted));
    sample->service = fields[0];
    sample->metric = fields[1];
    return 0;
}

int samples_csv_read(const char *path, samples_csv_visitor visit, void *context, char *error, size_t error_size)
{
    csv_reader reader = {.path = path, .error = error, .error_size = error_size};
    if (!(reader.file = fopen(path, "r"))) {
        snprintf(error, error_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int result = read_header(&reader), status = 0;
    hydra_sample sample;
    while (result == 0 && (status = csv_reader_next_line(&reader)) == 1) {
        if (csv_blank_line(reader.line))
            continue;
        result = read_row(&reader, &sample);
        if (result == 0)
            result = visit(context, &sample, reader.line_number);
    }
    if (result == 0 && status < 0)
        result = -1;
    fclose(reader.file);
    return result;
}

/* ## Writing -------------------------------------------------------------------------------------------------- */

void samples_csv_write_field(FILE *out, const char *text)
{
    if (!text[strcspn(text, ",\"\r\n")]) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    for (const char *c = text; *c; c++) {
        if (*c == '"')
            fputc('"', out);
        fputc(*c, out);
    }
    fputc('"', out);
}

void samples_csv_write_header(FILE *out) { fputs("service,metric,ts,value\n", out); }

void samples_csv_write(FILE *out, const hydra_sample *sample)
{
    samples_csv_write_field(out, sample->service);
    fputc(',', out);
    samples_csv_write_field(out, sample->metric);
    fprintf(out, ",%.17g,%.17g\n", sample->ts, sample->value);
}
