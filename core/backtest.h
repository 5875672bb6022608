/* Rolling-origin backtest of a forecaster: at each origin t (samples 0..t-1 seen), forecast the next steps and
 * compare each chosen horizon h with the sample at t + h - 1 once it is known. Errors per horizon: MAE, RMSE, MAPE
 * (over non-zero actuals), sMAPE, and MASE — the MAE over that of a seasonal naive forecast made at the same origin
 * (the value one or more whole seasons before the target, never after the origin), on the same points. A point
 * enters the errors only when the actual, the forecast and the naive forecast all exist. */
#ifndef HYDRA_BACKTEST_H
#define HYDRA_BACKTEST_H

#include "instance.h"

#include <stddef.h>

#define BACKTEST_MAX_HORIZONS 16

typedef struct backtest_options {
    size_t horizons[BACKTEST_MAX_HORIZONS]; /* steps ahead, each >= 1 */
    size_t horizon_count;
    size_t season; /* samples in the naive forecast's season, >= 1 */
    size_t warmup; /* the first origin: samples seen before the first forecast */
    size_t every;  /* origins are warmup, warmup + every, ... */
} backtest_options;

typedef struct backtest_point {
    size_t origin, target; /* sample indices: forecast made with origin samples seen, for sample target */
    size_t horizon_index;
    double actual, mean, lower80, upper80, lower95, upper95, naive;
} backtest_point;

typedef struct backtest_errors {
    size_t count; /* points the errors are over */
    double mae, rmse, mape, smape, mase;
} backtest_errors;

typedef struct backtest_result {
    backtest_point *points;
    size_t point_count;
    size_t origins, unready_origins; /* origins tried; of them, where the model could not forecast yet */
    backtest_errors errors[BACKTEST_MAX_HORIZONS];
} backtest_result;

/* Runs it through the forecaster's streaming model when it has one, else predict() at each origin. Returns 0, or
 * -1 with the reason in error. backtest_result_free is safe after either. */
int backtest_run(plugin_instance *forecaster, const hydra_series *series, const backtest_options *options,
                 backtest_result *result, char *error, size_t error_size);
void backtest_result_free(backtest_result *result);

#endif
