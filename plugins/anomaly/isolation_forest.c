/* anomaly isolation_forest: an isolation forest (Liu, Ting and Zhou, 2008) trained on the feature vectors of the
 * recent past. Each value becomes a vector — the value, its change from the value before, and its distance from
 * the mean of the last CONTEXT values in their standard deviations — and is scored by how quickly random
 * axis-aligned cuts isolate it from the training sample: the mean path length E[h] over the trees, normalised by
 * c(n), the mean path length of an unsuccessful search in a binary tree of n points, gives s = 2^(-E[h] / c(n)).
 * s near 0.5 or below means nothing stands out; the score is s above 0.5 stretched onto [0, 1]: 2s - 1, at least 0.
 * The trees never saw the value they score, so in the original method a value far outside the training range walks
 * the same path as the most extreme training point and looks no more unusual than it; here a value outside the range
 * a node's cut was drawn from ends its path at that node, as the cut that would have separated it.
 *
 * Only the past is seen: a value is scored by the forest trained before it arrived, then its vector joins the
 * window. The forest is retrained every `retrain` values once `min_samples` vectors are in the window. Random
 * choices come from a generator seeded by `seed`, so the same input always gives the same scores.
 * NAN and infinite values score 0 and are not taken in.
 *
 * Settings: window (64..100000 vectors, default 2016), trees (1..1000, default 100), sample_size (8..window,
 * default 256), retrain (1..100000 values, default 288), min_samples (sample_size..window, default 288), seed
 * (default 1), onset_level (default 0.5) and onset_hold (default 0 = off): a score at or above the level silences the
 * next hold scores. */
#include <hydra/plugin.h>

#include "../common/detector.h"
#include "../common/forest.h"

#include <math.h>
#include <stdint.h>

typedef struct forest_detector {
    forest_settings forest;
    detector_onset onset;
} forest_detector;

typedef struct forest_detector_model {
    const hydra_host *host;
    forest_model *forest;
    detector_onset onset;
} forest_detector_model;

static int forest_model_score(void *opaque, double value, double *score)
{
    forest_detector_model *m = opaque;
    *score = 0;
    if (isfinite(value))
        *score = detector_onset_take(&m->onset, forest_take(m->forest, value));
    return 0;
}

/* ## Models and life cycle --------------------------------------------------------------------------------------- */

static void forest_model_close(void *opaque)
{
    forest_detector_model *m = opaque;
    if (!m)
        return;
    if (m->forest)
        m->host->free(m->host, m->forest);
    m->host->free(m->host, m);
}

static void *forest_model_open(void *state, const hydra_series *history);

static const detector_model_ops model_ops = {forest_model_open, forest_model_score, forest_model_close};

static void *forest_model_open(void *state, const hydra_series *history)
{
    forest_detector *self = state;
    const hydra_host *host = self->forest.host;
    if (!detector_history_valid(host, history))
        return NULL;
    forest_detector_model *m = host->alloc(host, sizeof *m);
    if (!m) {
        host->set_error(host, "out of memory for a model");
        return NULL;
    }
    *m = (forest_detector_model){.host = host, .onset = self->onset};
    if (!(m->forest = forest_new(&self->forest))) {
        forest_model_close(m);
        return NULL;
    }
    return detector_warm_up(&model_ops, m, history);
}

static int forest_score_series(void *state, const hydra_series *series, double *scores)
{
    forest_detector *self = state;
    return detector_score_series(self->forest.host, state, &model_ops, series, scores);
}

static void *forest_create(const hydra_host *host)
{
    forest_detector s = {.forest = {.host = host, .window = 2016, .trees = 100, .sample_size = 256, .retrain = 288,
                                    .min_samples = 288, .seed = 1},
                         .onset = {.level = 0.5}};
    if (!forest_settings_read(host, &s.forest) || !detector_onset_settings(host, &s.onset))
        return NULL;
    forest_detector *self = host->alloc(host, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *self = s;
    return self;
}

static void forest_destroy(void *state)
{
    forest_detector *self = state;
    if (self)
        self->forest.host->free(self->forest.host, self);
}

static const hydra_anomaly_ops ops = {
    .size = sizeof(hydra_anomaly_ops),
    .score = forest_score_series,
    .model_open = forest_model_open,
    .model_score = forest_model_score,
    .model_close = forest_model_close,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_ANOMALY,
    .name = "isolation_forest",
    .version = "1.0.0",
    .description = "Isolation forest over (value, change, local z) of a sliding window, retrained as it goes",
    .create = forest_create,
    .destroy = forest_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
