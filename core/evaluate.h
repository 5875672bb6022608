/* The evaluation commands: models run offline over a CSV series, judged the way benchmarks judge them.
 *   hydra detect     an anomaly detector's score for every row (NAB's results format)
 *   hydra score-nab  such output scored against labelled windows (NAB's method, see nab.h)
 *   hydra backtest   a forecaster's rolling-origin errors at several horizons, with a CSV and a picture
 * Each takes (argc, argv) from the command name on and returns the exit status (2 for a usage error). */
#ifndef HYDRA_EVALUATE_H
#define HYDRA_EVALUATE_H

int evaluate_detect(int argc, char **argv);
int evaluate_score_nab(int argc, char **argv);
int evaluate_backtest(int argc, char **argv);

#endif
