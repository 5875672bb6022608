/* An out-of-tree hydra forecaster: the forecast is the last observed value, flat, with an interval from the
 * spread of recent step-to-step changes. Builds against the installed header alone (see Makefile here). */
#include <hydra/plugin.h>
#include <math.h>

typedef struct last_value {
    const hydra_host *host;
    long long lookback; /* how many recent changes estimate the spread */
} last_value;

static void *last_value_create(const hydra_host *host)
{
    last_value *state = host->alloc(host, sizeof *state);
    if (!state) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    state->host = host;
    state->lookback = 60;
    if (host->setting_int(host, "lookback", &state->lookback) < 0 || state->lookback < 1) {
        host->set_error(host, "setting 'lookback' must be a positive integer");
        host->free(host, state);
        return NULL;
    }
    return state;
}

static void last_value_destroy(void *state)
{
    last_value *self = state;
    self->host->free(self->host, self);
}

static int last_value_predict(void *state, const hydra_series *history, hydra_forecast *out)
{
    last_value *self = state;
    double last = NAN, sum_squares = 0, previous = NAN;
    size_t changes = 0, first = history->count > (size_t)self->lookback ? history->count - (size_t)self->lookback : 0;
    for (size_t i = first; i < history->count; i++) {
        double value = history->values[i];
        if (isnan(value))
            continue;
        if (!isnan(previous)) {
            sum_squares += (value - previous) * (value - previous);
            changes++;
        }
        previous = last = value;
    }
    if (isnan(last)) {
        self->host->set_error(self->host, "no observed sample in the last %lld", self->lookback);
        return -1;
    }
    double sigma = changes ? sqrt(sum_squares / (double)changes) : 0;
    for (size_t h = 0; h < out->horizon; h++) {
        double spread = sigma * sqrt((double)h + 1); /* a random walk's spread grows with the square root */
        out->mean[h] = last;
        out->lower80[h] = fmax(0, last - 1.2816 * spread);
        out->upper80[h] = last + 1.2816 * spread;
        out->lower95[h] = fmax(0, last - 1.96 * spread);
        out->upper95[h] = last + 1.96 * spread;
    }
    return 0;
}

static const hydra_forecaster_ops last_value_ops = {
    .size = sizeof(hydra_forecaster_ops),
    .predict = last_value_predict,
};

static const hydra_plugin_descriptor last_value_descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_FORECASTER,
    .name = "last_value",
    .version = "1.0.0",
    .description = "flat forecast at the last observed value (an out-of-tree example)",
    .create = last_value_create,
    .destroy = last_value_destroy,
    .ops = &last_value_ops,
};

HYDRA_PLUGIN(last_value_descriptor)
