/* Shared by the streaming anomaly detectors (anomaly/ewma.c, residual.c, isolation_forest.c, consensus.c; robust_z.c
 * takes the squash): each scores one value at a time through a model that has seen only the values before it, so
 * score() over a whole series is a model opened on nothing and fed every value — both paths give identical scores.
 * Also two stages a detector can put after its raw score: an anomaly likelihood and one detection per episode. */
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

/* ## Anomaly likelihood: how unusual a raw score is against the raw scores before it --------------------------------
 * A detector's raw score (a distance, a path length) means different things on different series. This stage keeps
 * the moving average of the last `span` raw scores and the mean and spread of the last `window` such averages, and
 * scores the upper tail probability p of the newest average under a normal law with that mean and spread, on a log
 * scale: log(p + 1e-10) / log(1e-10), so p = 1e-5 scores 0.5 and p <= 1e-10 scores 1. Averaging a few scores first
 * makes a lone noisy score count less than a run of high ones. 0 until `min_count` raw scores have been seen. */

typedef struct detector_likelihood {
    double *averages;            /* window of them, a ring */
    double *raw;                 /* span of them, a ring */
    size_t window, span, min_count;
    size_t count, next, raw_next;
    long long seen, since_exact;
    double raw_sum, shift, sum, squares; /* sums of averages - shift, refreshed exactly every window additions */
} detector_likelihood;

/* The doubles a likelihood of these sizes needs from its owner. */
static inline size_t detector_likelihood_doubles(size_t window, size_t span) { return window + span; }

static inline void detector_likelihood_init(detector_likelihood *l, double *buffer, size_t window, size_t span,
                                            size_t min_count)
{
    *l = (detector_likelihood){.averages = buffer, .raw = buffer + window, .window = window, .span = span,
                               .min_count = min_count};
    for (size_t i = 0; i < window + span; i++)
        buffer[i] = 0;
}

static inline void detector_likelihood_refresh(detector_likelihood *l)
{
    l->shift = l->count ? l->averages[(l->next + l->window - 1) % l->window] : 0;
    l->sum = l->squares = 0;
    for (size_t i = 0; i < l->count; i++) {
        double d = l->averages[i] - l->shift;
        l->sum += d;
        l->squares += d * d;
    }
    l->since_exact = 0;
}

/* Takes a raw score (>= 0; one that is not finite counts as 0) and returns its likelihood score in [0, 1]. */
static inline double detector_likelihood_take(detector_likelihood *l, double raw)
{
    raw = isfinite(raw) ? raw : 0;
    l->raw_sum += raw - l->raw[l->raw_next];
    l->raw[l->raw_next] = raw;
    l->raw_next = (l->raw_next + 1) % l->span;
    double average = l->raw_sum / (double)l->span, score = 0;
    l->seen++;
    if ((size_t)l->seen > l->min_count && l->count > 1) {
        double n = (double)l->count, mean = l->sum / n;
        double variance = fmax(0, l->squares / n - mean * mean);
        mean += l->shift;
        double spread = fmax(sqrt(variance), 1e-6 * fabs(mean) + 1e-12);
        double tail = 0.5 * erfc((average - mean) / spread / sqrt(2));
        score = fmin(1, fmax(0, log(tail + 1e-10) / log(1e-10)));
    }
    if (l->count == l->window) {
        double d = l->averages[l->next] - l->shift;
        l->sum -= d;
        l->squares -= d * d;
    } else {
        l->count++;
    }
    l->averages[l->next] = average;
    l->next = (l->next + 1) % l->window;
    double d = average - l->shift;
    l->sum += d;
    l->squares += d * d;
    if (++l->since_exact >= (long long)l->window)
        detector_likelihood_refresh(l);
    return score;
}

/* ## Onsets: one detection per anomaly episode --------------------------------------------------------------------
 * An anomaly lasts; a detector that keeps scoring high through it raises the same alarm again and again, and each
 * repeat is a false alarm to whoever reads them. A score at or above `level` opens an episode and the `hold` scores
 * after it are 0, as an alerting system re-arms only after a quiet time. hold 0 passes every score through.
 * (Letting a score above the episode's peak through as well lost 9 points of NAB score: anomalies grow in steps.) */

typedef struct detector_onset {
    double level;
    long long hold, quiet;
} detector_onset;

static inline double detector_onset_take(detector_onset *o, double score)
{
    if (o->quiet > 0) {
        o->quiet--;
        return 0;
    }
    if (o->hold > 0 && score >= o->level)
        o->quiet = o->hold;
    return score;
}

/* Reads the settings onset_level (0 < level <= 1) and onset_hold (0..100000 samples) over the defaults in *onset;
 * false after set_error. */
static inline bool detector_onset_settings(const hydra_host *host, detector_onset *onset)
{
    return detector_setting_double(host, "onset_level", 0, true, 1, &onset->level) &&
           detector_setting_int(host, "onset_hold", 0, 100000, &onset->hold);
}

#endif
