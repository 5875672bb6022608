/* Metric samples as CSV: a header "service,metric,ts,value", then one sample a line. `hydra ingest` reads it and
 * `hydra export --what metrics --format csv` writes it, so an export can be ingested again. ts is Unix seconds or
 * an ISO 8601 / "YYYY-MM-DD HH:MM:SS" UTC time; a field holding a comma or a double quote is double-quoted, with ""
 * for a quote. The file is untrusted: any problem fails the read with "FILE:LINE: what is wrong". */
#ifndef HYDRA_SAMPLES_CSV_H
#define HYDRA_SAMPLES_CSV_H

#include <hydra/plugin.h>

#include <stddef.h>
#include <stdio.h>

/* Called once per row in file order with the sample (borrowed for the call) and its line; a non-zero return stops
 * the read. */
typedef int (*samples_csv_visitor)(void *context, const hydra_sample *sample, unsigned long line);

/* Reads path: 0 when every row was read, -1 with "FILE:LINE: ..." in error, or the visitor's non-zero answer. */
int samples_csv_read(const char *path, samples_csv_visitor visit, void *context, char *error, size_t error_size);

void samples_csv_write_header(FILE *out);
/* One row; numbers with 17 significant digits, so that reading it back gives the same doubles. */
void samples_csv_write(FILE *out, const hydra_sample *sample);
/* A field, quoted when it holds a comma, a double quote or a line break. */
void samples_csv_write_field(FILE *out, const char *text);

#endif
