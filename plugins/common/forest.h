/* The isolation forest of anomaly/isolation_forest.c, shared with anomaly/consensus.c: a forest (Liu, Ting and Zhou,
 * 2008) trained on the feature vectors (value, change, distance from the mean of the last FOREST_CONTEXT values in
 * their standard deviations) of a sliding window of the recent past, retrained every `retrain` values. forest_take
 * scores a value by the forest trained before it arrived, then takes it in; isolation_forest.c describes the method. */
#ifndef HYDRA_FOREST_H
#define HYDRA_FOREST_H

#include <hydra/plugin.h>

#include "detector.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define FOREST_FEATURES 3
#define FOREST_CONTEXT 12

typedef struct forest_settings {
    const hydra_host *host;
    long long window, trees, sample_size, retrain, min_samples, seed;
} forest_settings;

typedef struct forest_node {
    int32_t left, right; /* children; -1 for a leaf */
    int32_t feature;
    int32_t size;        /* points that reached a leaf */
    double split;
    double low, high;    /* the range of the feature the cut was drawn from */
} forest_node;

typedef struct forest_model {
    forest_settings settings;
    uint64_t random;
    /* The window of vectors, a ring. */
    double (*vectors)[FOREST_FEATURES];
    size_t count, next;
    /* The trees: trees * max_nodes nodes; trained false until the first training. */
    forest_node *nodes;
    size_t max_nodes, sample_used;
    int height_limit;
    bool trained;
    long long since_training;
    /* The feature context: the last FOREST_CONTEXT usable values. */
    double recent[FOREST_CONTEXT];
    size_t recent_count, recent_next;
    size_t *scratch; /* sample indices, sample_size of them */
} forest_model;

static uint64_t forest_random(forest_model *m)
{
    /* splitmix64: small, fast and well mixed */
    uint64_t z = (m->random += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double forest_uniform(forest_model *m) { return (double)(forest_random(m) >> 11) / 9007199254740992.0; }

/* c(n): the mean path length of an unsuccessful search in a binary search tree of n points. */
static double forest_average_path(double n)
{
    if (n <= 1)
        return 0;
    if (n == 2)
        return 1;
    return 2 * (log(n - 1) + 0.5772156649015329) - 2 * (n - 1) / n;
}

/* ## Features ---------------------------------------------------------------------------------------------------- */

static void forest_features(const forest_model *m, double value, double *out)
{
    double previous = m->recent_count ? m->recent[(m->recent_next + FOREST_CONTEXT - 1) % FOREST_CONTEXT] : value;
    double sum = 0, squares = 0;
    for (size_t i = 0; i < m->recent_count; i++)
        sum += m->recent[i];
    double mean = m->recent_count ? sum / (double)m->recent_count : value;
    for (size_t i = 0; i < m->recent_count; i++)
        squares += (m->recent[i] - mean) * (m->recent[i] - mean);
    double deviation = m->recent_count > 1 ? sqrt(squares / (double)(m->recent_count - 1)) : 0;
    out[0] = value;
    out[1] = value - previous;
    out[2] = (value - mean) / fmax(deviation, 1e-9 + 1e-6 * fabs(mean));
}

static void forest_remember(forest_model *m, double value, const double *vector)
{
    m->recent[m->recent_next] = value;
    m->recent_next = (m->recent_next + 1) % FOREST_CONTEXT;
    m->recent_count += m->recent_count < FOREST_CONTEXT;
    memcpy(m->vectors[m->next], vector, sizeof m->vectors[m->next]);
    m->next = (m->next + 1) % (size_t)m->settings.window;
    m->count += m->count < (size_t)m->settings.window;
}

/* ## Training ---------------------------------------------------------------------------------------------------- */

/* Builds the subtree over sample[0..n) at depth; returns its node index in tree. */
static int32_t forest_build(forest_model *m, forest_node *tree, int32_t *used, size_t *sample, size_t n, int depth)
{
    int32_t at = (*used)++;
    tree[at] = (forest_node){.left = -1, .right = -1, .size = (int32_t)n};
    if (n <= 1 || depth >= m->height_limit)
        return at;
    int feature = (int)(forest_random(m) % FOREST_FEATURES);
    double low = INFINITY, high = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        low = fmin(low, m->vectors[sample[i]][feature]);
        high = fmax(high, m->vectors[sample[i]][feature]);
    }
    if (!(high > low))
        return at; /* all equal on this feature: a leaf, as the original method does */
    double split = low + forest_uniform(m) * (high - low);
    size_t left = 0;
    for (size_t i = 0; i < n; i++)
        if (m->vectors[sample[i]][feature] < split) {
            size_t keep = sample[left];
            sample[left++] = sample[i];
            sample[i] = keep;
        }
    tree[at].feature = feature;
    tree[at].split = split;
    tree[at].low = low;
    tree[at].high = high;
    tree[at].left = forest_build(m, tree, used, sample, left, depth + 1);
    tree[at].right = forest_build(m, tree, used, sample + left, n - left, depth + 1);
    return at;
}

static void forest_train(forest_model *m)
{
    size_t n = m->count < (size_t)m->settings.sample_size ? m->count : (size_t)m->settings.sample_size;
    m->sample_used = n;
    m->height_limit = (int)ceil(log2((double)n));
    for (long long t = 0; t < m->settings.trees; t++) {
        /* A sample without replacement: a partial Fisher-Yates shuffle of the window's indices. */
        for (size_t i = 0; i < m->count && i < (size_t)m->settings.window; i++)
            if (i < n)
                m->scratch[i] = i;
        for (size_t i = n; i < m->count; i++) {
            size_t j = (size_t)(forest_random(m) % (i + 1));
            if (j < n)
                m->scratch[j] = i;
        }
        int32_t used = 0;
        forest_build(m, m->nodes + (size_t)t * m->max_nodes, &used, m->scratch, n, 0);
    }
    m->trained = true;
    m->since_training = 0;
}

/* ## Scoring ----------------------------------------------------------------------------------------------------- */

static double forest_path_length(const forest_node *tree, const double *vector)
{
    int32_t at = 0;
    int depth = 0;
    while (tree[at].left >= 0) {
        double x = vector[tree[at].feature];
        if (x < tree[at].low || x > tree[at].high)
            return depth + 1; /* a cut drawn over a range that held x as well would isolate it here */
        at = vector[tree[at].feature] < tree[at].split ? tree[at].left : tree[at].right;
        depth++;
    }
    return depth + forest_average_path(tree[at].size);
}

static double forest_score(const forest_model *m, const double *vector)
{
    double total = 0;
    for (long long t = 0; t < m->settings.trees; t++)
        total += forest_path_length(m->nodes + (size_t)t * m->max_nodes, vector);
    double mean = total / (double)m->settings.trees;
    double s = pow(2, -mean / forest_average_path((double)m->sample_used));
    return fmax(0, fmin(1, 2 * s - 1));
}

/* Scores value (0 until the first training; 0 for NAN and infinities, which are not taken in), then takes it in. */
static double forest_take(forest_model *m, double value)
{
    if (!isfinite(value))
        return 0;
    double vector[FOREST_FEATURES], score = 0;
    forest_features(m, value, vector);
    if (m->trained)
        score = forest_score(m, vector);
    forest_remember(m, value, vector);
    m->since_training++;
    if ((long long)m->count >= m->settings.min_samples && (!m->trained || m->since_training >= m->settings.retrain))
        forest_train(m);
    return score;
}

/* One allocation: the model, the window, the trees, the sample scratch; NULL after set_error. Free with host->free. */
static forest_model *forest_new(const forest_settings *settings)
{
    const hydra_host *host = settings->host;
    size_t max_nodes = 2 * (size_t)settings->sample_size;
    size_t vectors_bytes = (size_t)settings->window * sizeof(double[FOREST_FEATURES]);
    size_t nodes_bytes = (size_t)settings->trees * max_nodes * sizeof(forest_node);
    size_t scratch_bytes = (size_t)settings->sample_size * sizeof(size_t);
    forest_model *m = host->alloc(host, sizeof *m + vectors_bytes + nodes_bytes + scratch_bytes);
    if (!m) {
        host->set_error(host, "out of memory for a model (%zu bytes)", vectors_bytes + nodes_bytes);
        return NULL;
    }
    *m = (forest_model){.settings = *settings, .random = (uint64_t)settings->seed, .max_nodes = max_nodes};
    m->vectors = (double(*)[FOREST_FEATURES])(m + 1);
    m->nodes = (forest_node *)((char *)m->vectors + vectors_bytes);
    m->scratch = (size_t *)((char *)m->nodes + nodes_bytes);
    return m;
}

/* Reads the forest's settings (their defaults already in *s); false after set_error. */
static bool forest_settings_read(const hydra_host *host, forest_settings *s)
{
    if (!detector_setting_int(host, "window", 64, 100000, &s->window) ||
        !detector_setting_int(host, "trees", 1, 1000, &s->trees) ||
        !detector_setting_int(host, "sample_size", 8, s->window, &s->sample_size) ||
        !detector_setting_int(host, "retrain", 1, 100000, &s->retrain) ||
        !detector_setting_int(host, "seed", 0, INT64_MAX, &s->seed))
        return false;
    s->min_samples = s->min_samples < s->sample_size ? s->sample_size : s->min_samples;
    s->min_samples = s->min_samples > s->window ? s->window : s->min_samples;
    return detector_setting_int(host, "min_samples", s->sample_size, s->window, &s->min_samples);
}

#endif
