/* anomaly residual: how far each value falls outside the prediction interval of a forecast made from the values
 * before it. A plugin cannot call another plugin through the host API, so the forecast is this plugin's own: an
 * additive level + season model (Holt-Winters without trend, the seasonal-naive idea smoothed), one step ahead,
 * with the spread of its past one-step errors. The interval is forecast +- 1.96 sigma (95 %); a value inside it
 * scores 0, and the score rises with the excess beyond it, in sigmas: 0.5 at `threshold` sigmas outside.
 *
 * Every value updates the model as it is: clipping far-out values (winsorising) keeps the spread narrow on heavy-tailed
 * series and made every routine burst score ~1 on the NAB series (standard score -27 against 42 without). During the first season the seasonal parts are learnt as the departures from the level.
 * NAN and infinite values score 0 and leave the model as it was (the season index still advances).
 *
 * Settings: season (0..100000 samples, default 288 = a day of 5-minute samples; 0 = no season), alpha (level
 * weight, default 0.1), gamma (season weight, default 0.1), beta (spread weight, default 0.02), threshold (> 0,
 * default 2), min_samples (1..10000000, default season + 30), onset_level (default 0.5) and onset_hold (default 0 =
 * off): a score at or above the level silences the next hold scores. */
#include <hydra/plugin.h>

#include "../common/detector.h"

#include <math.h>
#include <string.h>

#define INTERVAL_Z 1.96

typedef struct residual {
    const hydra_host *host;
    long long season, min_samples;
    double alpha, gamma, beta, threshold;
    detector_onset onset;
} residual;

typedef struct residual_model {
    residual settings;
    double level, variance;
    long long seen;  /* values taken in */
    long long steps; /* values offered, NAN included: the season index */
    double *seasonal; /* season values, after the struct */
    detector_onset onset;
} residual_model;

static double spread_of(const residual_model *m)
{
    return fmax(sqrt(m->variance), 1e-9 + 1e-6 * fabs(m->level));
}

static void take_in(residual_model *m, double value, size_t slot, bool first_season)
{
    const residual *s = &m->settings;
    double weight = fmax(s->beta, 1.0 / (double)m->seen);
    if (m->seen == 1) {
        m->level = value;
        return;
    }
    double season = m->seasonal ? m->seasonal[slot] : 0;
    double error = value - (m->level + season);
    m->variance = (1 - weight) * m->variance + weight * error * error;
    if (first_season) {
        /* The level is the running mean; the season the departure from it. */
        m->level += (value - m->level) / (double)m->seen;
        if (m->seasonal)
            m->seasonal[slot] = value - m->level;
        return;
    }
    double level = s->alpha * (value - season) + (1 - s->alpha) * m->level;
    if (m->seasonal)
        m->seasonal[slot] = s->gamma * (value - level) + (1 - s->gamma) * season;
    m->level = level;
}

static int residual_model_score(void *opaque, double value, double *score)
{
    residual_model *m = opaque;
    const residual *s = &m->settings;
    size_t slot = s->season > 0 ? (size_t)(m->steps % s->season) : 0;
    bool first_season = m->steps < (s->season > 0 ? s->season : 1);
    m->steps++;
    *score = 0;
    if (!isfinite(value))
        return 0;
    double forecast = m->level + (m->seasonal ? m->seasonal[slot] : 0), sigma = spread_of(m);
    double excess = (fabs(value - forecast) - INTERVAL_Z * sigma) / sigma;
    if (m->seen >= s->min_samples)
        *score = detector_onset_take(&m->onset, detector_squash(excess, s->threshold));
    m->seen++;
    take_in(m, value, slot, first_season);
    return 0;
}

static void residual_model_close(void *opaque)
{
    residual_model *m = opaque;
    if (m)
        m->settings.host->free(m->settings.host, m);
}

static void *residual_model_open(void *state, const hydra_series *history);

static const detector_model_ops model_ops = {residual_model_open, residual_model_score, residual_model_close};

static void *residual_model_open(void *state, const hydra_series *history)
{
    residual *self = state;
    const hydra_host *host = self->host;
    if (!detector_history_valid(host, history))
        return NULL;
    residual_model *m = host->alloc(host, sizeof *m + (size_t)self->season * sizeof(double));
    if (!m) {
        host->set_error(host, "out of memory for a model with a season of %lld", self->season);
        return NULL;
    }
    *m = (residual_model){.settings = *self, .onset = self->onset};
    m->seasonal = self->season > 0 ? (double *)(m + 1) : NULL;
    return detector_warm_up(&model_ops, m, history);
}

static int residual_score(void *state, const hydra_series *series, double *scores)
{
    residual *self = state;
    return detector_score_series(self->host, state, &model_ops, series, scores);
}

static void *residual_create(const hydra_host *host)
{
    residual settings = {.host = host, .season = 288, .alpha = 0.1, .gamma = 0.1, .beta = 0.02, .threshold = 2,
                         .onset = {.level = 0.5}};
    if (!detector_setting_int(host, "season", 0, 100000, &settings.season))
        return NULL;
    settings.min_samples = settings.season + 30;
    if (!detector_setting_double(host, "alpha", 0, true, 1, &settings.alpha) ||
        !detector_setting_double(host, "gamma", 0, false, 1, &settings.gamma) ||
        !detector_setting_double(host, "beta", 0, true, 1, &settings.beta) ||
        !detector_setting_double(host, "threshold", 0, true, 1e9, &settings.threshold) ||
        !detector_setting_int(host, "min_samples", 1, 10000000, &settings.min_samples) ||
        !detector_onset_settings(host, &settings.onset))
        return NULL;
    residual *self = host->alloc(host, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *self = settings;
    return self;
}

static void residual_destroy(void *state)
{
    residual *self = state;
    if (self)
        self->host->free(self->host, self);
}

static const hydra_anomaly_ops ops = {
    .size = sizeof(hydra_anomaly_ops),
    .score = residual_score,
    .model_open = residual_model_open,
    .model_score = residual_model_score,
    .model_close = residual_model_close,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_ANOMALY,
    .name = "residual",
    .version = "1.0.0",
    .description = "How far each value falls outside a 95 % interval forecast from the past (level + season)",
    .create = residual_create,
    .destroy = residual_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
