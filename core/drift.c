#include "drift.h"

#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PSI_FLOOR 1e-4

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The measured values, sorted; the caller frees. */
static double *sorted_measured(const double *values, size_t count, size_t *measured)
{
    double *sorted = xcalloc(count + 1, sizeof *sorted);
    *measured = 0;
    for (size_t i = 0; i < count; i++)
        if (isfinite(values[i]))
            sorted[(*measured)++] = values[i];
    qsort(sorted, *measured, sizeof *sorted, compare_doubles);
    return sorted;
}

/* Interpolated quantiles of n sorted values (n >= 2). */
static void quantiles_of(const double *sorted, size_t n, double quantiles[DRIFT_QUANTILES])
{
    for (size_t q = 0; q < DRIFT_QUANTILES; q++) {
        double position = (double)q / (DRIFT_QUANTILES - 1) * (double)(n - 1);
        size_t below = (size_t)floor(position);
        double above = below + 1 < n ? sorted[below + 1] : sorted[below];
        quantiles[q] = sorted[below] + (position - (double)below) * (above - sorted[below]);
    }
}

/* The training distribution function at x, read off the sketch: linear between quantiles, flat over ties. */
static double sketch_cdf(const double quantiles[DRIFT_QUANTILES], double x)
{
    if (x < quantiles[0])
        return 0;
    if (x >= quantiles[DRIFT_QUANTILES - 1])
        return 1;
    size_t q = 0;
    while (q + 1 < DRIFT_QUANTILES && quantiles[q + 1] <= x)
        q++;
    double width = quantiles[q + 1] - quantiles[q];
    double within = width > 0 ? (x - quantiles[q]) / width : 0;
    return ((double)q + within) / (DRIFT_QUANTILES - 1);
}

/* The PSI bins: the training deciles, ties merged (a window of one repeated value has two bins, below it and from
 * it up). Returns how many edges; bin b is [edges[b - 1], edges[b]), the first open below, the last above. */
static size_t bin_edges(const double quantiles[DRIFT_QUANTILES], double edges[DRIFT_BINS - 1])
{
    size_t count = 0;
    for (int decile = 1; decile < DRIFT_BINS; decile++) {
        double edge = quantiles[decile * (DRIFT_QUANTILES - 1) / DRIFT_BINS];
        if (count == 0 || edge > edges[count - 1])
            edges[count++] = edge;
    }
    return count;
}

/* The share of the sorted values in each bin, floored at PSI_FLOOR. */
static void bin_shares(const double *sorted, size_t n, const double *edges, size_t edge_count, double *shares)
{
    size_t taken = 0;
    for (size_t b = 0; b <= edge_count; b++) {
        size_t in = 0;
        while (taken < n && (b == edge_count || sorted[taken] < edges[b])) {
            taken++;
            in++;
        }
        shares[b] = fmax((double)in / (double)n, PSI_FLOOR);
    }
}

int drift_reference_make(const double *values, size_t count, drift_reference *out)
{
    size_t n = 0;
    double *sorted = sorted_measured(values, count, &n);
    memset(out, 0, sizeof *out);
    if (n >= 2) {
        quantiles_of(sorted, n, out->quantiles);
        double edges[DRIFT_BINS - 1];
        bin_shares(sorted, n, edges, bin_edges(out->quantiles, edges), out->shares);
    }
    free(sorted);
    return n >= 2 ? 0 : -1;
}

double drift_psi(const drift_reference *reference, const double *recent, size_t count)
{
    size_t n = 0;
    double *sorted = sorted_measured(recent, count, &n);
    double edges[DRIFT_BINS - 1], shares[DRIFT_BINS], psi = NAN;
    size_t edge_count = bin_edges(reference->quantiles, edges);
    if (n) {
        bin_shares(sorted, n, edges, edge_count, shares);
        psi = 0;
        for (size_t b = 0; b <= edge_count; b++) {
            double expected = fmax(reference->shares[b], PSI_FLOOR);
            psi += (shares[b] - expected) * log(shares[b] / expected);
        }
    }
    free(sorted);
    return psi;
}

/* Compared at each distinct recent value, just below it and at it, so that a value repeated in both windows (an
 * atom) is one step in both distribution functions, not a distance. */
double drift_ks(const drift_reference *reference, const double *recent, size_t count)
{
    size_t n = 0;
    double *sorted = sorted_measured(recent, count, &n);
    double distance = n ? 0 : NAN;
    for (size_t i = 0; i < n;) {
        size_t ties = i;
        while (ties < n && sorted[ties] == sorted[i])
            ties++;
        double below = sketch_cdf(reference->quantiles, nextafter(sorted[i], -INFINITY));
        double at = sketch_cdf(reference->quantiles, sorted[i]);
        distance = fmax(distance, fmax(fabs(below - (double)i / (double)n), fabs(at - (double)ties / (double)n)));
        i = ties;
    }
    free(sorted);
    return distance;
}
