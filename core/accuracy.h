/* Live accuracy of one target's forecasts: each forecast the planner used is kept until the interval it was for is
 * complete, then compared with what happened. MAPE and MASE are over the last `window` compared forecasts; MASE is
 * scaled by the mean absolute change from one interval to the next over the same intervals (the error of a naive
 * forecast one step ahead), so 1 means "as good as repeating the last value". */
#ifndef HYDRA_ACCURACY_H
#define HYDRA_ACCURACY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct accuracy_tracker {
    size_t window;  /* compared forecasts kept */
    size_t lead;    /* how many intervals ahead the compared forecast looks (1: the next one) */
    /* forecasts waiting for their interval, by the number of the interval they are for (a ring of lead + 1) */
    double *pending;
    long long *pending_for;
    long long observed; /* intervals completed so far: the next one is number `observed` */
    /* the last `window` comparisons: relative and absolute errors, and the naive change of that interval */
    double *relative, *absolute, *naive;
    size_t count, head;
    double relative_sum, absolute_sum, naive_sum;
    size_t relative_count; /* intervals whose actual was 0 have no relative error */
    double last_actual;
} accuracy_tracker;

void accuracy_init(accuracy_tracker *tracker, size_t window, size_t lead);
void accuracy_free(accuracy_tracker *tracker);
/* A forecast made now for `lead` intervals after the last complete one (a later one for the same interval replaces
 * it). */
void accuracy_forecast(accuracy_tracker *tracker, double predicted);
/* The next interval is complete with this value (NAN when it had no samples: nothing is compared). */
void accuracy_actual(accuracy_tracker *tracker, double value);

size_t accuracy_compared(const accuracy_tracker *tracker);
/* As shares (0.12 is 12 %); NAN until something was compared. */
double accuracy_mape(const accuracy_tracker *tracker);
double accuracy_mase(const accuracy_tracker *tracker);

#endif
