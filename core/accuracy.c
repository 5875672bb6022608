#include "accuracy.h"

#include "util.h"

#include <math.h>
#include <stdlib.h>

void accuracy_init(accuracy_tracker *t, size_t window, size_t lead)
{
    *t = (accuracy_tracker){.window = window ? window : 1, .lead = lead ? lead : 1, .last_actual = NAN};
    t->pending = xcalloc(t->lead + 1, sizeof *t->pending);
    t->pending_for = xcalloc(t->lead + 1, sizeof *t->pending_for);
    for (size_t i = 0; i <= t->lead; i++)
        t->pending_for[i] = -1;
    t->relative = xcalloc(t->window, sizeof *t->relative);
    t->absolute = xcalloc(t->window, sizeof *t->absolute);
    t->naive = xcalloc(t->window, sizeof *t->naive);
}

void accuracy_free(accuracy_tracker *t)
{
    free(t->pending);
    free(t->pending_for);
    free(t->relative);
    free(t->absolute);
    free(t->naive);
}

void accuracy_forecast(accuracy_tracker *t, double predicted)
{
    if (!isfinite(predicted))
        return;
    long long interval = t->observed + (long long)t->lead - 1;
    size_t slot = (size_t)(interval % (long long)(t->lead + 1));
    t->pending[slot] = predicted;
    t->pending_for[slot] = interval;
}

/* Adds one comparison, dropping the oldest once the window is full; the sums are kept, not recomputed. */
static void remember(accuracy_tracker *t, double relative, double absolute, double naive)
{
    if (t->count == t->window) {
        t->absolute_sum -= t->absolute[t->head];
        t->naive_sum -= t->naive[t->head];
        if (!isnan(t->relative[t->head])) {
            t->relative_sum -= t->relative[t->head];
            t->relative_count--;
        }
    } else {
        t->count++;
    }
    t->relative[t->head] = relative;
    t->absolute[t->head] = absolute;
    t->naive[t->head] = naive;
    t->absolute_sum += absolute;
    t->naive_sum += naive;
    if (!isnan(relative)) {
        t->relative_sum += relative;
        t->relative_count++;
    }
    t->head = t->head + 1 == t->window ? 0 : t->head + 1;
}

void accuracy_actual(accuracy_tracker *t, double value)
{
    long long interval = t->observed++;
    size_t slot = (size_t)(interval % (long long)(t->lead + 1));
    bool due = t->pending_for[slot] == interval;
    t->pending_for[slot] = -1;
    if (isnan(value))
        return; /* the naive change then spans the gap: the next value is compared with the last one seen */
    if (due && !isnan(t->last_actual)) {
        double error = fabs(t->pending[slot] - value);
        remember(t, value != 0 ? error / fabs(value) : NAN, error, fabs(value - t->last_actual));
    }
    t->last_actual = value;
}

size_t accuracy_compared(const accuracy_tracker *t) { return t->count; }

double accuracy_mape(const accuracy_tracker *t)
{
    return t->relative_count ? fmax(0, t->relative_sum) / (double)t->relative_count : NAN;
}

/* A series that never changed has no naive error to scale by: any error is then infinitely worse than naive. */
double accuracy_mase(const accuracy_tracker *t)
{
    if (!t->count)
        return NAN;
    double scale = fmax(0, t->naive_sum) / (double)t->count, error = fmax(0, t->absolute_sum) / (double)t->count;
    return scale > 0 ? error / scale : error > 0 ? INFINITY : 0;
}
