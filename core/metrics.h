/* Process-wide metrics that plugins and the core register; the daemon exposes them. Thread-safe. */
#ifndef HYDRA_METRICS_H
#define HYDRA_METRICS_H

#include <hydra/plugin.h>

/* Returns a handle >= 0, or -1 for a bad name (must match [a-zA-Z_][a-zA-Z0-9_]*) or a clash of types.
 * Registering the same owner and name again returns the existing handle. */
int metrics_register(const char *owner, const char *name, const char *help, hydra_metric_type type);
void metrics_add(int handle, double delta);
void metrics_set(int handle, double value);
/* NAN for an unknown owner/name. */
double metrics_value(const char *owner, const char *name);

typedef void (*metrics_visitor)(void *context, const char *owner, const char *name, const char *help,
                                hydra_metric_type type, double value);
void metrics_each(metrics_visitor visit, void *context);

#endif
