/*
 * linear: the straight line through the last `window` samples (least squares), carried forward. For a metric that
 * drifts without a season worth modelling, or as a plain baseline to compare the others with.
 *
 * The intervals are the regression's prediction intervals: the residual spread, widened for the uncertainty of
 * the line itself the further it is carried, sigma * sqrt(1 + 1/n + (x - mean x)^2 / Sxx). A model keeps a ring of
 * the last window samples: O(1) a sample, O(window + horizon) a forecast; predict() opens one on the history, so
 * both paths run the same code.
 *
 * A saved model (model_save) is the window and its ring of samples.
 *
 * Settings: window (samples, default 60).
 */
#include <hydra/plugin.h>

#include "../common/model_text.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define WINDOW_DEFAULT 60
#define WINDOW_MAX 1000000LL

#define Z80 1.2815516
#define Z95 1.959964

typedef struct linear {
    const hydra_host *host;
    size_t window;
} linear;

typedef struct linear_model {
    const hydra_host *host;
    size_t window;
    double *ring;  /* the last window samples, NAN where missing */
    size_t count;  /* samples taken, missing ones included */
    size_t observed_in_ring;
} linear_model;

/* The fitted line over the ring, x counted in steps with the next sample at x = 0. */
typedef struct line_fit {
    double intercept, slope; /* value at x = 0, change per step */
    double sigma;            /* residual standard deviation */
    double mean_x, sxx;
    size_t n;
} line_fit;

/* ## Life cycle ---------------------------------------------------------------------------------------------- */

static void *linear_create(const hydra_host *host)
{
    long long window = WINDOW_DEFAULT;
    if (host->setting_int(host, "window", &window) < 0)
        return NULL;
    if (window < 2 || window > WINDOW_MAX) {
        host->set_error(host, "window must be between 2 and %lld samples, got %lld", WINDOW_MAX, window);
        return NULL;
    }
    linear *state = host->alloc(host, sizeof *state);
    if (!state) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *state = (linear){.host = host, .window = (size_t)window};
    return state;
}

static void linear_destroy(void *opaque)
{
    linear *state = opaque;
    if (state)
        state->host->free(state->host, state);
}

/* ## The model ------------------------------------------------------------------------------------------------- */

static void model_take(linear_model *model, double value)
{
    size_t slot = model->count % model->window;
    if (model->count >= model->window && !isnan(model->ring[slot]))
        model->observed_in_ring--;
    model->ring[slot] = value;
    if (!isnan(value))
        model->observed_in_ring++;
    model->count++;
}

/* The sample at ring position i (0 = oldest kept) and its x: -(kept - i). */
static void fit_line(const linear_model *model, line_fit *fit)
{
    size_t kept = model->count < model->window ? model->count : model->window;
    size_t oldest = model->count - kept;
    double sum_x = 0, sum_y = 0;
    size_t n = 0;
    for (size_t i = 0; i < kept; i++) {
        double y = model->ring[(oldest + i) % model->window];
        if (isnan(y))
            continue;
        sum_x += -(double)(kept - i);
        sum_y += y;
        n++;
    }
    double mean_x = sum_x / (double)n, mean_y = sum_y / (double)n, sxx = 0, sxy = 0;
    for (size_t i = 0; i < kept; i++) {
        double y = model->ring[(oldest + i) % model->window];
        if (isnan(y))
            continue;
        double dx = -(double)(kept - i) - mean_x;
        sxx += dx * dx;
        sxy += dx * (y - mean_y);
    }
    double slope = sxx > 0 ? sxy / sxx : 0, squares = 0;
    for (size_t i = 0; i < kept; i++) {
        double y = model->ring[(oldest + i) % model->window];
        if (!isnan(y)) {
            double residual = y - (mean_y + slope * (-(double)(kept - i) - mean_x));
            squares += residual * residual;
        }
    }
    *fit = (line_fit){.intercept = mean_y - slope * mean_x, .slope = slope, .mean_x = mean_x, .sxx = sxx, .n = n,
                      .sigma = n > 2 ? sqrt(squares / (double)(n - 2)) : 0};
}

static double at_least_zero(double value) { return value > 0 ? value : 0; }

static void write_forecast(const line_fit *fit, hydra_forecast *out)
{
    static const char names[2][HYDRA_COMPONENT_NAME_MAX] = {"level", "trend"};
    for (size_t i = 0; i < out->horizon; i++) {
        double x = (double)i, trend = fit->slope * x, mean = fit->intercept + trend;
        double leverage = fit->sxx > 0 ? (x - fit->mean_x) * (x - fit->mean_x) / fit->sxx : 0;
        double sd = fit->sigma * sqrt(1 + 1.0 / (double)fit->n + leverage);
        out->mean[i] = at_least_zero(mean);
        out->lower80[i] = at_least_zero(mean - Z80 * sd);
        out->upper80[i] = at_least_zero(mean + Z80 * sd);
        out->lower95[i] = at_least_zero(mean - Z95 * sd);
        out->upper95[i] = at_least_zero(mean + Z95 * sd);
        if (out->components[0])
            out->components[0][i] = fit->intercept;
        if (out->components[1])
            out->components[1][i] = trend;
    }
    out->component_count = 2;
    for (size_t c = 0; c < 2; c++)
        memcpy(out->component_names[c], names[c], strlen(names[c]) + 1);
}

/* ## Models: one per target, fed sample by sample ------------------------------------------------------------- */

static void linear_model_close(void *opaque)
{
    linear_model *model = opaque;
    if (!model)
        return;
    model->host->free(model->host, model->ring);
    model->host->free(model->host, model);
}

static void *linear_model_open(void *opaque, const hydra_series *history)
{
    const linear *state = opaque;
    const hydra_host *host = state->host;
    if (history && history->count > 0 && !history->values) {
        host->set_error(host, "model_open: history of %zu samples has no values", history->count);
        return NULL;
    }
    linear_model *model = host->alloc(host, sizeof *model);
    double *ring = host->alloc(host, state->window * sizeof(double));
    if (!model || !ring) {
        host->free(host, model);
        host->free(host, ring);
        host->set_error(host, "out of memory for a window of %zu samples", state->window);
        return NULL;
    }
    *model = (linear_model){.host = host, .window = state->window, .ring = ring};
    for (size_t t = 0; history && t < history->count; t++)
        model_take(model, history->values[t]);
    return model;
}

static int linear_model_observe(void *opaque, double value)
{
    model_take(opaque, value);
    return 0;
}

static int linear_model_forecast(void *opaque, hydra_forecast *out)
{
    linear_model *model = opaque;
    if (model->observed_in_ring < 2) {
        model->host->set_error(model->host,
                               "linear needs at least 2 observed samples in its window of %zu, has %zu", model->window,
                               model->observed_in_ring);
        return -1;
    }
    line_fit fit;
    fit_line(model, &fit);
    write_forecast(&fit, out);
    return 0;
}

static int linear_predict(void *opaque, const hydra_series *history, hydra_forecast *out)
{
    linear_model *model = linear_model_open(opaque, history);
    if (!model)
        return -1;
    int result = linear_model_forecast(model, out);
    linear_model_close(model);
    return result;
}

/* ## Saved models: the ring as text (the model registry) -------------------------------------------------------- */

#define SAVE_FORMAT 1

static long long linear_model_save(void *opaque, char *buffer, size_t size)
{
    const linear_model *model = opaque;
    model_text_writer w = {buffer, size, 0};
    model_text_put(&w, "linear %d\nwindow %zu\ncount %zu\n", SAVE_FORMAT, model->window, model->count);
    model_text_put_doubles(&w, "ring", model->ring, model->window);
    return (long long)w.length;
}

static void *linear_model_load(void *opaque, const char *text)
{
    const linear *state = opaque;
    const hydra_host *host = state->host;
    size_t window = 0, count = 0;
    if (!text || !model_text_header(host, text, "linear", SAVE_FORMAT) ||
        !model_text_size(host, text, "window", WINDOW_MAX, &window) ||
        !model_text_size(host, text, "count", (size_t)1 << 52, &count))
        return NULL;
    if (window != state->window) {
        host->set_error(host, "saved model has window %zu, the config says %zu", window, state->window);
        return NULL;
    }
    hydra_series empty = {NULL, 0, 0, 1};
    linear_model *model = linear_model_open(opaque, &empty);
    if (model && !model_text_doubles(host, text, "ring", model->ring, window)) {
        linear_model_close(model);
        return NULL;
    }
    for (size_t i = 0; model && i < window && i < count; i++)
        model->observed_in_ring += !isnan(model->ring[i]);
    if (model)
        model->count = count;
    return model;
}

/* ## Descriptor ---------------------------------------------------------------------------------------------- */

static const hydra_forecaster_ops linear_ops = {
    .size = sizeof(hydra_forecaster_ops),
    .predict = linear_predict,
    .model_open = linear_model_open,
    .model_observe = linear_model_observe,
    .model_forecast = linear_model_forecast,
    .model_close = linear_model_close,
    .model_save = linear_model_save,
    .model_load = linear_model_load,
};

static const hydra_plugin_descriptor linear_descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_FORECASTER,
    .name = "linear",
    .version = "1.0.0",
    .description = "Least-squares line through the last window of samples, carried forward",
    .create = linear_create,
    .destroy = linear_destroy,
    .ops = &linear_ops,
};

HYDRA_PLUGIN(linear_descriptor)
