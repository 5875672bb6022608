/* The model lifecycle in the daemon (the `models` group of the config):
 *   - the registry: each target's fitted model saved versioned in the store (state, training window, metrics,
 *     checksum), the active version loaded at start; a corrupt or missing state is refused with a message naming
 *     the service, model and version, and the target's forecasts answer 503 until a valid version is active;
 *   - drift: PSI and Kolmogorov-Smirnov between the active version's training window and recent data; past a
 *     threshold, an alert and a refit;
 *   - refits (on drift, every refit_every, or asked through the API): a new version fitted before a holdout window
 *     and promoted only if it beats the active one there; recorded either way with both scores; people are told;
 *   - live accuracy (kept by the controller) exported in /metrics and GET /api/v1/accuracy.
 * Every function here runs with app->lock held, except the route handlers, which take it. */
#ifndef HYDRA_MODELS_H
#define HYDRA_MODELS_H

#include "daemon_app.h"

typedef struct models_registry models_registry;

/* After the controller has its history: loads each target's active version. NULL with the reason in error only
 * when the store cannot be read; a refused version is logged and leaves its target without forecasts. */
models_registry *models_open(daemon_app *app, char *error, size_t error_size);
void models_close(models_registry *registry);

/* After each tick: saves first fits, checks drift, runs the refits that are due. */
void models_tick(daemon_app *app, double now);

/* Prometheus text for accuracy and active versions, one series per service and model (caller frees). */
char *models_metrics_text(daemon_app *app);

void models_handle_accuracy(void *app, const http_request *request, http_response *response);
void models_handle_versions(void *app, const http_request *request, http_response *response);
void models_handle_refit(void *app, const http_request *request, http_response *response);
void models_handle_activate(void *app, const http_request *request, http_response *response);

#endif
