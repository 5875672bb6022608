/* anomaly robust_z: how far each value sits from the median of the values just before it, in robust standard
 * deviations (1.4826 * MAD), squashed into [0, 1]. Median and MAD ignore the outliers they are meant to find, which a
 * mean and a standard deviation would not: one spike in the window barely moves them. NAN (and infinite) values
 * score 0 and do not enter the window.
 *
 * Streaming: a model per target keeps the window between calls and scores each new value against it before taking
 * it in, which is what score() does over a whole series (it opens a model on nothing and feeds it every value), so
 * both paths share one implementation and give identical scores.
 *
 * Settings: window (5..10000000, default 288), threshold (> 0, default 3.5: the robust z that scores 0.5),
 * min_samples (1..window, default 10: history needed before anything scores above 0). */
#include "../common/detector.h"
#include "../common/sorted_values.h"

#include <hydra/plugin.h>

#include <math.h>
#include <string.h>

#define WINDOW_DEFAULT 288
#define WINDOW_MIN 5
#define WINDOW_MAX 10000000 /* keeps the scratch size far from overflow on any platform */
#define THRESHOLD_DEFAULT 3.5
#define MIN_SAMPLES_DEFAULT 10
/* The scored-samples counter is a host call under a lock: a model reports in batches of this many (and on close) so
 * that scoring one sample does not pay for it. */
#define METRIC_BATCH 256
/* A model's window starts this small and doubles up to `window`: a young target does not pay for a full one. */
#define WINDOW_FIRST_CAPACITY 16

/* For normally distributed data, 1.4826 * MAD and 1.2533 * mean absolute deviation estimate the standard deviation. */
#define MAD_TO_SIGMA 1.4826
#define MEAN_DEVIATION_TO_SIGMA 1.2533

typedef struct robust_z {
    const hydra_host *host;
    size_t window;
    size_t min_samples;
    double threshold;
    int scored_metric;
} robust_z;

/* ## The sliding history: the last `window` usable values, in arrival order and sorted ------------------------- */

/* Kept sorted as values come and go, so each median costs a lookup and each MAD a bisection, not a sort. Grows up
 * to limit; until it is full, oldest is 0. */
typedef struct history {
    const hydra_host *host;
    double *ring;   /* arrival order, oldest at ring[oldest] */
    double *sorted; /* in the same allocation as ring, after capacity values */
    size_t capacity;
    size_t limit;   /* the window setting */
    size_t count;
    size_t oldest;
} history;

/* A model: the window and what it has not yet added to the samples_scored counter. */
typedef struct robust_z_model {
    robust_z settings; /* a copy: holds the host */
    history window;
    size_t unreported;
} robust_z_model;

/* Room for capacity values (at most limit); only while the window is not full, so the ring starts at 0. */
static int history_reserve(history *h, size_t capacity)
{
    capacity = capacity < h->limit ? capacity : h->limit;
    if (capacity <= h->capacity)
        return 0;
    double *ring = h->host->alloc(h->host, 2 * capacity * sizeof(double));
    if (!ring) {
        h->host->set_error(h->host, "out of memory for a window of %zu values", capacity);
        return -1;
    }
    if (h->count > 0) {
        memcpy(ring, h->ring, h->count * sizeof *ring);
        memcpy(ring + capacity, h->sorted, h->count * sizeof *ring);
    }
    h->host->free(h->host, h->ring);
    h->ring = ring;
    h->sorted = ring + capacity;
    h->capacity = capacity;
    return 0;
}

static int history_push(history *h, double x)
{
    if (h->count == h->limit) {
        sorted_replace(h->sorted, h->count, h->ring[h->oldest], x);
        h->ring[h->oldest] = x;
        h->oldest = h->oldest + 1 == h->capacity ? 0 : h->oldest + 1;
        return 0;
    }
    if (h->count == h->capacity && history_reserve(h, h->capacity ? 2 * h->capacity : WINDOW_FIRST_CAPACITY) != 0)
        return -1;
    h->ring[h->count] = x;
    sorted_insert(h->sorted, h->count, x);
    h->count++;
    return 0;
}

static double history_median(const history *h)
{
    size_t n = h->count;
    return n % 2 ? h->sorted[n / 2] : (h->sorted[n / 2 - 1] + h->sorted[n / 2]) / 2;
}

/* The deviations from the median grow outwards on both sides of the sorted values: going left, median - s[right - 1
 * - i]; going right, s[right + i] - median (rounding keeps each side in order). The MAD is the middle of the two
 * sides merged, found by bisecting how many of the smallest deviations come from the left: O(log n), not a walk. */
typedef struct deviations {
    const double *sorted;
    double median;
    size_t right; /* sorted[right] is the first value >= the median */
    size_t left_count, right_count;
} deviations;

static double left_deviation(const deviations *d, size_t i) { return d->median - d->sorted[d->right - 1 - i]; }
static double right_deviation(const deviations *d, size_t i) { return d->sorted[d->right + i] - d->median; }

/* How many of the `taken` smallest deviations come from the left side. */
static size_t taken_from_left(const deviations *d, size_t taken)
{
    size_t low = taken > d->right_count ? taken - d->right_count : 0;
    size_t high = taken < d->left_count ? taken : d->left_count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (right_deviation(d, taken - mid - 1) <= left_deviation(d, mid))
            high = mid;
        else
            low = mid + 1;
    }
    return low;
}

/* The k-th smallest deviation (from 0) in *kth and the one after it, when there is one, in *next. */
static void deviation_order(const deviations *d, size_t k, double *kth, double *next)
{
    size_t left = taken_from_left(d, k + 1), right = k + 1 - left;
    double last_left = left > 0 ? left_deviation(d, left - 1) : -INFINITY;
    double last_right = right > 0 ? right_deviation(d, right - 1) : -INFINITY;
    *kth = last_left > last_right ? last_left : last_right;
    double next_left = left < d->left_count ? left_deviation(d, left) : INFINITY;
    double next_right = right < d->right_count ? right_deviation(d, right) : INFINITY;
    *next = next_left < next_right ? next_left : next_right;
}

/* sorted_lower_bound(sorted, n, median). It is the middle, n / 2, unless values equal to the median come before it:
 * checked first, searched only then. */
static size_t median_position(const double *sorted, size_t n, double median)
{
    size_t middle = n / 2;
    if (middle > 0 && sorted[middle - 1] < median && !(sorted[middle] < median))
        return middle;
    return sorted_lower_bound(sorted, n, median);
}

/* Median absolute deviation from median: the middle deviation, or the mean of the middle two. */
static double history_mad(const history *h, double median)
{
    size_t n = h->count;
    size_t right = median_position(h->sorted, n, median);
    deviations d = {h->sorted, median, right, right, n - right};
    double low_middle, high_middle;
    deviation_order(&d, (n - 1) / 2, &low_middle, &high_middle);
    return n % 2 ? low_middle : (low_middle + high_middle) / 2;
}

/* ## Scoring ---------------------------------------------------------------------------------------------------- */

static double history_mean_deviation(const history *h, double median)
{
    double sum = 0;
    for (size_t i = 0; i < h->count; i++)
        sum += fabs(h->sorted[i] - median);
    return sum / (double)h->count;
}

/* The spread a deviation is measured in. MAD is 0 when more than half the history is one value (idle CPU, no disk
 * writes): then the mean absolute deviation, scaled to sigma the same way, still sees the occasional bursts, so a
 * usual burst does not score like a never-seen one. A truly flat history has both at 0: the floor then makes any
 * real departure score ~1 and an equal value 0. */
static double history_scale(const history *h, double median)
{
    double scale = MAD_TO_SIGMA * history_mad(h, median);
    if (scale == 0)
        scale = MEAN_DEVIATION_TO_SIGMA * history_mean_deviation(h, median);
    return fmax(scale, 1e-9 + 1e-6 * fabs(median));
}

static double score_against(const robust_z *self, const history *h, double x)
{
    if (h->count < self->min_samples)
        return 0;
    double median = history_median(h);
    return detector_squash(fabs(x - median) / history_scale(h, median), self->threshold); /* 0.5 at threshold */
}

/* Infinities are treated like NAN: not a measurement, and they would turn the median into NAN for a whole window. */
static size_t count_usable(const hydra_series *series)
{
    size_t usable = 0;
    for (size_t i = 0; i < series->count; i++)
        usable += isfinite(series->values[i]) ? 1 : 0;
    return usable;
}

/* The score of x against the window, then x joins it. */
static int model_take(robust_z_model *model, double x, double *score)
{
    *score = 0;
    if (!isfinite(x))
        return 0;
    *score = score_against(&model->settings, &model->window, x);
    return history_push(&model->window, x);
}

static void model_report(robust_z_model *model)
{
    const robust_z *self = &model->settings;
    if (self->scored_metric >= 0 && model->unreported > 0)
        self->host->metric_add(self->host, self->scored_metric, (double)model->unreported);
    model->unreported = 0;
}

static void model_init(robust_z_model *model, const robust_z *self)
{
    *model = (robust_z_model){.settings = *self, .window = {.host = self->host, .limit = self->window}};
}

static void model_release(robust_z_model *model)
{
    model->settings.host->free(model->settings.host, model->window.ring);
    model->window.ring = NULL;
}

/* ## Whole series and models ------------------------------------------------------------------------------------ */

static int robust_z_score(void *state, const hydra_series *series, double *scores)
{
    robust_z *self = state;
    const hydra_host *host = self->host;
    if (!series || !scores || (series->count > 0 && !series->values)) {
        host->set_error(host, "score: series and scores must not be NULL");
        return -1;
    }
    robust_z_model model;
    model_init(&model, self);
    int result = history_reserve(&model.window, count_usable(series));
    for (size_t i = 0; result == 0 && i < series->count; i++)
        result = model_take(&model, series->values[i], &scores[i]);
    model_release(&model);
    if (result == 0 && self->scored_metric >= 0)
        host->metric_add(host, self->scored_metric, (double)series->count);
    return result;
}

static void robust_z_model_close(void *opaque)
{
    robust_z_model *model = opaque;
    if (!model)
        return;
    model_report(model);
    model_release(model);
    model->settings.host->free(model->settings.host, model);
}

static void *robust_z_model_open(void *state, const hydra_series *warm_up)
{
    robust_z *self = state;
    const hydra_host *host = self->host;
    if (warm_up && warm_up->count > 0 && !warm_up->values) {
        host->set_error(host, "model_open: history of %zu samples has no values", warm_up->count);
        return NULL;
    }
    robust_z_model *model = host->alloc(host, sizeof *model);
    if (!model) {
        host->set_error(host, "out of memory for a model");
        return NULL;
    }
    model_init(model, self);
    size_t count = warm_up ? warm_up->count : 0;
    int result = count > 0 ? history_reserve(&model->window, count_usable(warm_up)) : 0;
    for (size_t i = 0; result == 0 && i < count; i++)
        result = isfinite(warm_up->values[i]) ? history_push(&model->window, warm_up->values[i]) : 0;
    if (result != 0) {
        robust_z_model_close(model);
        return NULL;
    }
    return model;
}

static int robust_z_model_score(void *opaque, double value, double *score)
{
    robust_z_model *model = opaque;
    if (model_take(model, value, score) != 0)
        return -1;
    if (++model->unreported >= METRIC_BATCH)
        model_report(model);
    return 0;
}

/* ## Life cycle --------------------------------------------------------------------------------------------------- */

static bool settings_valid(const hydra_host *host, long long window, double threshold, long long min_samples)
{
    if (window < WINDOW_MIN || window > WINDOW_MAX) {
        host->set_error(host, "setting 'window' must be between %d and %d samples, not %lld", WINDOW_MIN, WINDOW_MAX,
                        window);
        return false;
    }
    if (!(threshold > 0) || !isfinite(threshold)) {
        host->set_error(host, "setting 'threshold' must be a number above 0, not %g", threshold);
        return false;
    }
    if (min_samples < 1 || min_samples > window) {
        host->set_error(host, "setting 'min_samples' must be between 1 and window (%lld), not %lld", window,
                        min_samples);
        return false;
    }
    return true;
}

static void *robust_z_create(const hydra_host *host)
{
    long long window = WINDOW_DEFAULT, min_samples = MIN_SAMPLES_DEFAULT;
    double threshold = THRESHOLD_DEFAULT;
    if (host->setting_int(host, "window", &window) < 0 || host->setting_double(host, "threshold", &threshold) < 0 ||
        host->setting_int(host, "min_samples", &min_samples) < 0)
        return NULL;
    if (!settings_valid(host, window, threshold, min_samples))
        return NULL;
    robust_z *self = host->alloc(host, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *self = (robust_z){
        .host = host,
        .window = (size_t)window,
        .min_samples = (size_t)min_samples,
        .threshold = threshold,
        .scored_metric = host->metric_register(host, "samples_scored", "Values given an anomaly score",
                                               HYDRA_METRIC_COUNTER),
    };
    return self;
}

static void robust_z_destroy(void *state)
{
    robust_z *self = state;
    if (self)
        self->host->free(self->host, self);
}

static const hydra_anomaly_ops ops = {
    .size = sizeof(hydra_anomaly_ops),
    .score = robust_z_score,
    .model_open = robust_z_model_open,
    .model_score = robust_z_model_score,
    .model_close = robust_z_model_close,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_ANOMALY,
    .name = "robust_z",
    .version = "1.0.0",
    .description = "Robust z-score (median and MAD of a sliding window of past values) squashed into [0, 1]",
    .create = robust_z_create,
    .destroy = robust_z_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
