/* A window of doubles kept in order as values come and go, for plugins that need quantiles, a median or a MAD of
 * recent values every tick: each change moves the values between two places instead of sorting the window.
 * Header-only, for plugins: it uses nothing of the host. */
#ifndef HYDRA_PLUGIN_SORTED_VALUES_H
#define HYDRA_PLUGIN_SORTED_VALUES_H

#include <stddef.h>
#include <string.h>

/* The first index in sorted[0 .. count) whose value is >= x. */
static inline size_t sorted_lower_bound(const double *sorted, size_t count, double x)
{
    size_t low = 0, high = count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (sorted[mid] < x)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

/* Adds x to sorted[0 .. count); there is room for one more. */
static inline void sorted_insert(double *sorted, size_t count, double x)
{
    size_t at = sorted_lower_bound(sorted, count, x);
    memmove(sorted + at + 1, sorted + at, (count - at) * sizeof *sorted);
    sorted[at] = x;
}

/* Takes old out and puts x in, moving only the values between the two places. The result is what removing old at
 * its lower bound and then inserting x at its lower bound would give, equal values (0 and -0) in the same order.
 * old must be present, bit for bit (sorted_contains says), and no value NAN. */
static inline void sorted_replace(double *sorted, size_t count, double old, double x)
{
    size_t from = sorted_lower_bound(sorted, count, old);
    size_t to = sorted_lower_bound(sorted, count, x);
    if (to > from) {
        memmove(sorted + from, sorted + from + 1, (to - 1 - from) * sizeof *sorted);
        sorted[to - 1] = x;
    } else {
        memmove(sorted + to + 1, sorted + to, (from - to) * sizeof *sorted);
        sorted[to] = x;
    }
}

static inline int sorted_contains(const double *sorted, size_t count, double x)
{
    size_t at = sorted_lower_bound(sorted, count, x);
    return at < count && sorted[at] == x;
}

#endif
