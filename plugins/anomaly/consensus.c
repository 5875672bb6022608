/* anomaly consensus: two views of the recent past that fail differently, each made comparable by an anomaly
 * likelihood, averaged, and reported once per episode.
 *
 * - Shape: the last `lag` values as a vector, and its mean distance to its `neighbours` nearest vectors among those
 *   ending in the last `memory` values (none overlapping it). A pattern seen before — a nightly spike, a daily
 *   ramp — has near neighbours however extreme it is; a new one has none.
 * - Spread: the isolation forest of anomaly/isolation_forest.c over (value, change, local z), which singles out values
 *   and jumps that are rare in the window whatever their order.
 *
 * Each view's raw score goes through its own anomaly likelihood (plugins/common/detector.h: the upper tail
 * probability of the moving average of `average` raw scores against the last `likelihood_window` such averages, on a
 * log scale where 0.5 is a 1-in-100,000 event); the score is the mean of the two. Then onsets: a score at or above
 * `onset_level` silences the next `onset_hold` samples, so a lasting anomaly is one detection, not one per sample.
 * Only the past is seen; NAN and infinite values score 0 and are not taken in.
 *
 * Settings: neighbours (1..50, default 3), lag (1..100, default 5), memory (lag + neighbours + 5..100000, default
 * 3000), likelihood_window (10..100000, default 2000), average (1..1000, default 10), likelihood_start (0..100000,
 * default 100: raw scores seen before the likelihood scores above 0), onset_level (0 < level <= 1, default 0.5),
 * onset_hold (0..100000 samples, default 120; 0 = report every sample), and the forest's: window (2016), trees
 * (100), sample_size (256), retrain (288), min_samples (288), seed (1). */
#include <hydra/plugin.h>

#include "../common/detector.h"
#include "../common/forest.h"

#include <math.h>
#include <stdint.h>

#define MAX_NEIGHBOURS 50

typedef struct consensus {
    const hydra_host *host;
    forest_settings forest;
    long long neighbours, lag, memory, likelihood_window, average, likelihood_start;
    detector_onset onset;
} consensus;

typedef struct consensus_model {
    consensus settings;
    forest_model *forest;
    detector_likelihood shape_likelihood, spread_likelihood;
    detector_onset onset;
    /* The last `capacity` values, written twice (at i and i + capacity) so the newest capacity of them are always
     * contiguous: values[next .. next + capacity). */
    double *values;
    size_t capacity, next;
    long long taken;
} consensus_model;

/* ## Shape: nearest neighbours of the lag vector ------------------------------------------------------------------- */

static void remember_value(consensus_model *m, double value)
{
    m->values[m->next] = m->values[m->next + m->capacity] = value;
    m->next = (m->next + 1) % m->capacity;
    m->taken++;
}

/* The mean Euclidean distance from the newest lag vector to its nearest earlier ones; 0 while too few exist. */
static double shape_distance(const consensus_model *m)
{
    size_t lag = (size_t)m->settings.lag, k = (size_t)m->settings.neighbours;
    long long newest = m->taken - 1;
    long long last = newest - (long long)lag, first = newest - m->settings.memory;
    first = first > (long long)lag - 1 ? first : (long long)lag - 1;
    if (newest < (long long)lag - 1 || last - first + 1 < (long long)k + 5)
        return 0;
    /* window[0 .. capacity) is oldest to newest; position p of the stream sits at p - (taken - capacity). */
    const double *window = m->values + m->next;
    long long base = m->taken - (long long)m->capacity;
    const double *current = window + (newest - base) - (lag - 1);
    double best[MAX_NEIGHBOURS];
    size_t found = 0;
    for (long long end = first; end <= last; end++) {
        const double *candidate = window + (end - base) - (lag - 1);
        double bound = found == k ? best[k - 1] : INFINITY, squares = 0;
        for (size_t i = 0; i < lag && squares < bound; i++) {
            double d = candidate[i] - current[i];
            squares += d * d;
        }
        if (!(squares < bound))
            continue;
        size_t at = found < k ? found++ : k - 1;
        while (at > 0 && best[at - 1] > squares) {
            best[at] = best[at - 1];
            at--;
        }
        best[at] = squares;
    }
    double total = 0; /* found < k only when distances overflow to infinity */
    for (size_t i = 0; i < found; i++)
        total += sqrt(best[i]);
    return found ? total / (double)found : 0;
}

/* ## Scoring ------------------------------------------------------------------------------------------------------- */

static int consensus_model_score(void *opaque, double value, double *score)
{
    consensus_model *m = opaque;
    *score = 0;
    if (!isfinite(value))
        return 0;
    remember_value(m, value);
    double shape = detector_likelihood_take(&m->shape_likelihood, shape_distance(m));
    double spread = detector_likelihood_take(&m->spread_likelihood, forest_take(m->forest, value));
    *score = detector_onset_take(&m->onset, (shape + spread) / 2);
    return 0;
}

/* ## Models and life cycle ----------------------------------------------------------------------------------------- */

static void consensus_model_close(void *opaque)
{
    consensus_model *m = opaque;
    if (!m)
        return;
    const hydra_host *host = m->settings.host;
    if (m->forest)
        host->free(host, m->forest);
    host->free(host, m);
}

static void *consensus_model_open(void *state, const hydra_series *history);

static const detector_model_ops model_ops = {consensus_model_open, consensus_model_score, consensus_model_close};

static void *consensus_model_open(void *state, const hydra_series *history)
{
    consensus *self = state;
    const hydra_host *host = self->host;
    if (!detector_history_valid(host, history))
        return NULL;
    size_t capacity = (size_t)(self->memory + self->lag);
    size_t likelihood = detector_likelihood_doubles((size_t)self->likelihood_window, (size_t)self->average);
    size_t bytes = sizeof(consensus_model) + (2 * capacity + 2 * likelihood) * sizeof(double);
    consensus_model *m = host->alloc(host, bytes);
    if (!m) {
        host->set_error(host, "out of memory for a model (%zu bytes)", bytes);
        return NULL;
    }
    *m = (consensus_model){.settings = *self, .capacity = capacity,
                           .onset = self->onset};
    m->values = (double *)(m + 1);
    for (size_t i = 0; i < 2 * capacity; i++)
        m->values[i] = 0;
    double *buffers = m->values + 2 * capacity;
    detector_likelihood_init(&m->shape_likelihood, buffers, (size_t)self->likelihood_window, (size_t)self->average,
                             (size_t)self->likelihood_start);
    detector_likelihood_init(&m->spread_likelihood, buffers + likelihood, (size_t)self->likelihood_window,
                             (size_t)self->average, (size_t)self->likelihood_start);
    if (!(m->forest = forest_new(&self->forest))) {
        consensus_model_close(m);
        return NULL;
    }
    return detector_warm_up(&model_ops, m, history);
}

static int consensus_score(void *state, const hydra_series *series, double *scores)
{
    consensus *self = state;
    return detector_score_series(self->host, state, &model_ops, series, scores);
}

static void *consensus_create(const hydra_host *host)
{
    consensus s = {.host = host, .neighbours = 3, .lag = 5, .memory = 3000, .likelihood_window = 2000, .average = 10,
                   .likelihood_start = 100, .onset = {.level = 0.5, .hold = 120},
                   .forest = {.host = host, .window = 2016, .trees = 100, .sample_size = 256, .retrain = 288,
                              .min_samples = 288, .seed = 1}};
    if (!detector_setting_int(host, "neighbours", 1, MAX_NEIGHBOURS, &s.neighbours) ||
        !detector_setting_int(host, "lag", 1, 100, &s.lag) ||
        !detector_setting_int(host, "memory", s.lag + s.neighbours + 5, 100000, &s.memory) ||
        !detector_setting_int(host, "likelihood_window", 10, 100000, &s.likelihood_window) ||
        !detector_setting_int(host, "average", 1, 1000, &s.average) ||
        !detector_setting_int(host, "likelihood_start", 0, 100000, &s.likelihood_start) ||
        !detector_onset_settings(host, &s.onset) || !forest_settings_read(host, &s.forest))
        return NULL;
    consensus *self = host->alloc(host, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *self = s;
    return self;
}

static void consensus_destroy(void *state)
{
    consensus *self = state;
    if (self)
        self->host->free(self->host, self);
}

static const hydra_anomaly_ops ops = {
    .size = sizeof(hydra_anomaly_ops),
    .score = consensus_score,
    .model_open = consensus_model_open,
    .model_score = consensus_model_score,
    .model_close = consensus_model_close,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_ANOMALY,
    .name = "consensus",
    .version = "1.0.0",
    .description = "Mean of the anomaly likelihoods of lag-vector nearest neighbours and an isolation forest, one "
                   "detection per episode",
    .create = consensus_create,
    .destroy = consensus_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
