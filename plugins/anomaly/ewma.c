/* anomaly ewma: how far each value sits from an exponentially weighted mean of the values before it, in exponentially
 * weighted standard deviations, squashed into [0, 1]. Cheap (O(1) per value, two numbers of state) and quick to
 * follow a level that moves; unlike robust_z, a burst widens the spread it is measured against for a while.
 * While fewer than 1 / alpha values have been seen, each weighs 1 / n, so the start is a plain mean and variance.
 * NAN and infinite values score 0 and are not taken in.
 *
 * Settings: alpha (0 < alpha <= 1, default 0.02: the weight of the newest value), threshold (> 0, default 4: the
 * z that scores 0.5), min_samples (1..1000000, default 30: values seen before anything scores above 0), onset_level
 * (default 0.5) and onset_hold (default 0 = off): a score at or above the level silences the next hold scores. */
#include <hydra/plugin.h>

#include "../common/detector.h"

#include <math.h>

typedef struct ewma {
    const hydra_host *host;
    double alpha, threshold;
    long long min_samples;
    detector_onset onset;
} ewma;

typedef struct ewma_model {
    ewma settings;
    double mean, variance;
    long long seen;
    detector_onset onset;
} ewma_model;

static int ewma_model_score(void *opaque, double value, double *score)
{
    ewma_model *m = opaque;
    *score = 0;
    if (!isfinite(value))
        return 0;
    if (m->seen >= m->settings.min_samples) {
        double spread = fmax(sqrt(m->variance), 1e-9 + 1e-6 * fabs(m->mean));
        *score = detector_onset_take(&m->onset, detector_squash(fabs(value - m->mean) / spread, m->settings.threshold));
    }
    m->seen++;
    double weight = fmax(m->settings.alpha, 1.0 / (double)m->seen);
    double difference = value - m->mean, step = weight * difference;
    m->mean += step;
    m->variance = (1 - weight) * (m->variance + difference * step);
    return 0;
}

static void ewma_model_close(void *opaque)
{
    ewma_model *m = opaque;
    if (m)
        m->settings.host->free(m->settings.host, m);
}

static void *ewma_model_open(void *state, const hydra_series *history);

static const detector_model_ops model_ops = {ewma_model_open, ewma_model_score, ewma_model_close};

static void *ewma_model_open(void *state, const hydra_series *history)
{
    ewma *self = state;
    if (!detector_history_valid(self->host, history))
        return NULL;
    ewma_model *m = self->host->alloc(self->host, sizeof *m);
    if (!m) {
        self->host->set_error(self->host, "out of memory for a model");
        return NULL;
    }
    *m = (ewma_model){.settings = *self, .onset = self->onset};
    return detector_warm_up(&model_ops, m, history);
}

static int ewma_score(void *state, const hydra_series *series, double *scores)
{
    ewma *self = state;
    return detector_score_series(self->host, state, &model_ops, series, scores);
}

static void *ewma_create(const hydra_host *host)
{
    ewma settings = {.host = host, .alpha = 0.02, .threshold = 4, .min_samples = 30, .onset = {.level = 0.5}};
    if (!detector_setting_double(host, "alpha", 0, true, 1, &settings.alpha) ||
        !detector_setting_double(host, "threshold", 0, true, 1e9, &settings.threshold) ||
        !detector_setting_int(host, "min_samples", 1, 1000000, &settings.min_samples) ||
        !detector_onset_settings(host, &settings.onset))
        return NULL;
    ewma *self = host->alloc(host, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *self = settings;
    return self;
}

static void ewma_destroy(void *state)
{
    ewma *self = state;
    if (self)
        self->host->free(self->host, self);
}

static const hydra_anomaly_ops ops = {
    .size = sizeof(hydra_anomaly_ops),
    .score = ewma_score,
    .model_open = ewma_model_open,
    .model_score = ewma_model_score,
    .model_close = ewma_model_close,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_ANOMALY,
    .name = "ewma",
    .version = "1.0.0",
    .description = "z-score against an exponentially weighted mean and variance of past values, squashed into [0, 1]",
    .create = ewma_create,
    .destroy = ewma_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
