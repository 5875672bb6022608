#!/usr/bin/python3
"""Holt-Winters by statsmodels' ExponentialSmoothing, for tests/bench_models.c to compare hydra's with.

Usage: statsmodels_hw.py SERIES.txt SEASON TRAIN HORIZON
SERIES.txt has one value per line (no gaps). Fits an additive damped trend and an additive season of SEASON values
on the first TRAIN values, forecasts HORIZON steps, and prints one JSON object: the fit's wall time in seconds
(best of a few runs, the interpreter's start and the import not counted) and the forecast."""
import json
import sys
import time
import warnings

from statsmodels.tsa.holtwinters import ExponentialSmoothing


def main():
    path, season, train, horizon = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with open(path) as f:
        values = [float(line) for line in f if line.strip()]
    history = values[:train]
    best, forecast = None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes: the result is used as statsmodels returns it
        for _ in range(3):
            started = time.perf_counter()
            model = ExponentialSmoothing(history, trend="add", damped_trend=True, seasonal="add",
                                         seasonal_periods=season, initialization_method="estimated")
            fitted = model.fit()
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
            forecast = [float(v) for v in fitted.forecast(horizon)]
    json.dump({"fit_seconds": best, "forecast": forecast}, sys.stdout)


if __name__ == "__main__":
    main()
