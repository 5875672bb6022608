/* Scoring anomaly detections against labelled windows, the way the Numenta Anomaly Benchmark (NAB) describes its
 * method (Lavin and Ahmad, 2015), written here from that description:
 *
 *   - a threshold turns each row's anomaly score into a detection (score >= threshold);
 *   - the rows of a probationary period at the start of a file (15 % of at most 5000 rows) are not judged;
 *   - inside a labelled window only the first detection counts: it earns tp_weight * sigmoid(y), where y is its
 *     position relative to the window, -1 at the start and 0 at the end, and sigmoid(y) = 2 / (1 + e^(5y)) - 1;
 *   - a detection outside every window costs fp_weight: in full before the first window, and fp_weight *
 *     sigmoid(y) after a window, y = (t - end) / (end - start), so a late detection just after a window costs little;
 *   - a window without a detection costs fn_weight;
 *   - the sum over files is normalised to 100 * (raw - null) / (perfect - null), where the null detector never fires
 *     (raw -fn_weight per window) and the perfect one fires at each window's start. */
#ifndef HYDRA_NAB_H
#define HYDRA_NAB_H

#include <stdbool.h>
#include <stddef.h>

typedef struct nab_profile {
    const char *name;
    double tp_weight, fp_weight, fn_weight;
} nab_profile;

/* standard, reward_low_FP_rate, reward_low_FN_rate; NULL for any other name. */
const nab_profile *nab_profile_find(const char *name);
/* "standard, reward_low_FP_rate, reward_low_FN_rate" */
const char *nab_profile_list(void);

typedef struct nab_window {
    double start, end; /* Unix seconds, both inside */
} nab_window;

/* One file's detector output and its labels; all borrowed. Rows are in time order. */
typedef struct nab_file {
    const char *name;
    const double *times;
    const double *scores;
    size_t count;
    const nab_window *windows;
    size_t window_count;
} nab_file;

typedef struct nab_tally {
    double raw, null_raw, perfect_raw;
    size_t windows, detected, false_positives;
} nab_tally;

/* 2 / (1 + e^(5y)) - 1: near 1 at y = -1, 0 at y = 0, towards -1 for large y. */
double nab_sigmoid(double y);
/* Adds file's outcome at threshold to *tally. */
void nab_score_file(const nab_file *file, const nab_profile *profile, double threshold, nab_tally *tally);
/* 100 * (raw - null) / (perfect - null); NAN when there is no window at all. */
double nab_normalised(const nab_tally *tally);
/* The threshold (among the scores that occur, at most a few thousand tried) with the best normalised score over
 * all files; its tally in *best. 1.0 when no row scores above 0. */
double nab_best_threshold(const nab_file *files, size_t count, const nab_profile *profile, nab_tally *best);

/* The windows of one file in a NAB labels file ({"dir/file.csv": [["start", "end"], ...], ...}). key is matched
 * exactly, else by the label key's base name being the end of key's base name ("ewma_speed_6005.csv" finds
 * "realTraffic/speed_6005.csv"). Returns 0 with a new array in *windows (free()), or -1 with the reason. */
int nab_labels_read(const char *path, const char *key, nab_window **windows, size_t *count, char *error,
                    size_t error_size);
/* A detector's output: a header naming at least the columns timestamp and anomaly_score, then one row per sample,
 * in time order, scores in [0, 1]. Returns 0 with new arrays (free()), or -1 with "FILE:LINE: what". */
int nab_results_read(const char *path, double **times, double **scores, size_t *count, char *error,
                     size_t error_size);

#endif
