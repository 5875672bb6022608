/* hydra export: a tenant's metrics or decisions since a time, as CSV or JSON, read straight from the store.
 * Metrics come out in the format `hydra ingest` (CSV) and POST /ingest/metrics (JSON) take in, so an export can be
 * loaded again; numbers carry 17 significant digits, so nothing is rounded away. */
#ifndef HYDRA_EXPORT_H
#define HYDRA_EXPORT_H

#include "daemon.h"

#include <stdbool.h>
#include <stdio.h>

typedef enum export_what { EXPORT_METRICS, EXPORT_DECISIONS } export_what;

typedef struct export_options {
    export_what what;
    bool json;          /* else CSV */
    double since;       /* Unix seconds: samples with ts >= since, recommendations created at or after it */
    const char *tenant;
} export_options;

/* Writes the export to out: 0, or -1 with the reason in error. */
int export_write(const store_handle *store, const export_options *options, FILE *out, char *error, size_t error_size);

#endif
