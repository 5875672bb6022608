/* Has the data moved away from what a model was trained on? The training window is kept as a sketch of its
 * distribution (DRIFT_QUANTILES evenly spaced quantiles, saved with the model's version); recent data is compared
 * with it by the population stability index over the training deciles and by the Kolmogorov-Smirnov distance. */
#ifndef HYDRA_DRIFT_H
#define HYDRA_DRIFT_H

#include <stddef.h>

#define DRIFT_QUANTILES 101 /* 0 %, 1 %, ..., 100 % */

/* The sketch of values (missing ones, NAN, skipped) into quantiles; 0, or -1 when fewer than 2 were measured. */
int drift_sketch(const double *values, size_t count, double quantiles[DRIFT_QUANTILES]);

/* sum over the training deciles of (recent share - training share) x ln(recent share / training share); shares
 * are floored at 1e-4 so an empty decile counts as a large change, not an infinite one. NAN without recent data. */
double drift_psi(const double quantiles[DRIFT_QUANTILES], const double *recent, size_t count);

/* The largest distance between the training distribution (the sketch, interpolated) and recent data's empirical
 * one, in [0, 1]. NAN without recent data. */
double drift_ks(const double quantiles[DRIFT_QUANTILES], const double *recent, size_t count);

#endif
