/* Has the data moved away from what a model was trained on? The training window is kept as a sketch of its
 * distribution (saved with the model's version); recent data is compared with it by the population stability index
 * over the training deciles and by the Kolmogorov-Smirnov distance. */
#ifndef HYDRA_DRIFT_H
#define HYDRA_DRIFT_H

#include <stddef.h>

#define DRIFT_QUANTILES 101 /* 0 %, 1 %, ..., 100 % */
#define DRIFT_BINS 10       /* the training deciles, fewer when ties merge some */

/* What is kept of a training window: its quantiles, and the share of its values in each PSI bin (the bins are the
 * deciles read off the quantiles, ties merged; counted on the values themselves, as recent data is, so that a
 * window of few distinct values is no drift from itself). */
typedef struct drift_reference {
    double quantiles[DRIFT_QUANTILES];
    double shares[DRIFT_BINS];
} drift_reference;

/* The reference of values (missing ones, NAN, skipped); 0, or -1 when fewer than 2 were measured. */
int drift_reference_make(const double *values, size_t count, drift_reference *out);

/* sum over the bins of (recent share - training share) x ln(recent share / training share); shares are floored at
 * 1e-4 so an empty bin counts as a large change, not an infinite one. NAN without recent data. */
double drift_psi(const drift_reference *reference, const double *recent, size_t count);

/* The largest distance between the training distribution (the quantiles, interpolated) and recent data's empirical
 * one, in [0, 1]. NAN without recent data. */
double drift_ks(const drift_reference *reference, const double *recent, size_t count);

#endif
