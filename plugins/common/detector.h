/* Shared by the streaming anomaly detectors (anomaly/ewma.c, residual.c, isolation_forest.c; robust_z.c takes the
 * squash): each scores one value at a time through a model that has seen only the values before it, so score() over
 * a whole series is a model opened on nothing and fed every value — both paths give identical scores. */
#ifndef HYDRA_DETECTOR_H
#define HYDRA_DETECTOR_H

#include <hydra/plugin.h>

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

/* s^4 / (s^4 + half^4): 0 at 0, 0.5 at half, towards 1 for large s; a huge s gives 1 rather than inf / inf. */
static inline double detector_squash(double s, double half)
{
    if (!(s > 0))
        return 0;
    double ratio = half / s, ratio2 = ratio * ratio;
    return 1 / (1 + ratio2 * ratio2);
}

/* The three streaming ops of a detector, so the whole-series and warm-up paths are written once. */
typedef struct detector_model_ops {
    void *(*open)(void *state, const hydra_series *history);
    int (*score)(void *model, double value, double *score);
    void (*close)(void *model);
} detector_model_ops;

static inline int detector_score_series(const hydra_host *host, void *state, const detector_model_ops *ops,
                                        const hydra_series *series, double *scores)
{
    if (!series || !scores || (series->count > 0 && !series->values)) {
        host->set_error(host, "score: series and scores must not be NULL");
        return -1;
    }
    hydra_series empty = {.values = NULL, .count = 0, .start = series->start, .step = series->step};
    void *model = ops->open(state, &empty);
    if (!model)
        return -1;
    int result = 0;
    for (size_t i = 0; result == 0 && i < series->count; i++)
        result = ops->score(model, series->values[i], &scores[i]);
    ops->close(model);
    return result;
}

/* Feeds a model its warm-up history (scores thrown away); closes it and returns NULL on failure. */
static inline void *detector_warm_up(const detector_model_ops *ops, void *model, const hydra_series *history)
{
    double ignored;
    size_t count = history ? history->count : 0;
    for (size_t i = 0; model && i < count; i++)
        if (ops->score(model, history->values[i], &ignored) != 0) {
            ops->close(model);
            return NULL;
        }
    return model;
}

static inline bool detector_history_valid(const hydra_host *host, const hydra_series *history)
{
    if (history && history->count > 0 && !history->values) {
        host->set_error(host, "model_open: history of %zu samples has no values", history->count);
        return false;
    }
    return true;
}

/* Reads an int setting within [low, high] into *out (already holding the default); false after set_error. */
static inline bool detector_setting_int(const hydra_host *host, const char *key, long long low, long long high,
                                        long long *out)
{
    if (host->setting_int(host, key, out) < 0)
        return false;
    if (*out < low || *out > high) {
        host->set_error(host, "setting '%s' must be between %lld and %lld, not %lld", key, low, high, *out);
        return false;
    }
    return true;
}

/* Reads a double setting within (low, high] (low_open) or [low, high] into *out; false after set_error. */
static inline bool detector_setting_double(const hydra_host *host, const char *key, double low, bool low_open,
                                           double high, double *out)
{
    if (host->setting_double(host, key, out) < 0)
        return false;
    if (!isfinite(*out) || *out > high || (low_open ? !(*out > low) : !(*out >= low))) {
        host->set_error(host, "setting '%s' must be a number in %c%g, %g], not %g", key, low_open ? '(' : '[', low,
                        high, *out);
        return false;
    }
    return true;
}

#endif
