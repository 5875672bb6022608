/*
 * ensemble: a forecast made of other forecasters, each weighted by how well it forecast the recent past.
 *
 * Every predict() backtests each member on the history's last `holdout` steps (forecast from before them, compared
 * with what came), weights each member by the inverse of its squared mean absolute error there, and returns the
 * weighted mean of the members' forecasts from the whole history. The intervals are the same weighted means of the
 * members' bounds, so they stay ordered; the components are the members' weighted shares of the mean. A member that
 * cannot forecast (too little history for it yet) sits out; while the history is too short to backtest, the
 * members that can forecast share equal weights.
 *
 * Members are other forecaster instances of the same configuration, found through the host by name at each call.
 *
 * Settings: members (required: two or more forecaster instance names, comma-separated), holdout (steps, 60).
 */
#include <hydra/plugin.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_MEMBERS HYDRA_FORECAST_MAX_COMPONENTS
#define MEMBER_NAME_MAX 64
#define HOLDOUT_DEFAULT 60
#define BOUNDS 5 /* mean, lower80, upper80, lower95, upper95 */

typedef struct ensemble {
    const hydra_host *host;
    char members[MAX_MEMBERS][MEMBER_NAME_MAX];
    size_t member_count;
    size_t holdout;
} ensemble;

/* One member's forecast arrays, carved from one allocation. */
typedef struct member_forecast {
    double *bounds[BOUNDS];
    hydra_forecast forecast;
} member_forecast;

/* ## Settings ---------------------------------------------------------------------------------------------------- */

static int parse_members(ensemble *self, const char *list)
{
    const hydra_host *host = self->host;
    const char *at = list;
    while (*at) {
        size_t length = strcspn(at, ",");
        const char *name = at;
        size_t trimmed = length;
        while (trimmed && (*name == ' ' || *name == '\t'))
            name++, trimmed--;
        while (trimmed && (name[trimmed - 1] == ' ' || name[trimmed - 1] == '\t'))
            trimmed--;
        if (trimmed == 0 || trimmed >= MEMBER_NAME_MAX) {
            host->set_error(host, "members: '%s' has an empty or over-long name (names are 1 to %d characters)",
                            list, MEMBER_NAME_MAX - 1);
            return -1;
        }
        if (self->member_count == MAX_MEMBERS) {
            host->set_error(host, "members: at most %d forecasters", MAX_MEMBERS);
            return -1;
        }
        memcpy(self->members[self->member_count], name, trimmed);
        self->members[self->member_count][trimmed] = '\0';
        for (size_t i = 0; i < self->member_count; i++)
            if (strcmp(self->members[i], self->members[self->member_count]) == 0) {
                host->set_error(host, "members: '%s' is named twice", self->members[i]);
                return -1;
            }
        self->member_count++;
        at += length;
        if (*at == ',')
            at++;
    }
    if (self->member_count < 2) {
        host->set_error(host, "members: an ensemble needs two or more forecasters, got '%s'", list);
        return -1;
    }
    return 0;
}

static void *ensemble_create(const hydra_host *host)
{
    ensemble *self = host->alloc(host, sizeof *self);
    if (!self)
        return NULL;
    self->host = host;
    const char *members = NULL;
    long long holdout = HOLDOUT_DEFAULT;
    int found = host->setting_string(host, "members", &members);
    if (found == 1)
        host->set_error(host, "members: required (two or more forecaster instance names, comma-separated)");
    if (found != 0 || parse_members(self, members) != 0 || host->setting_int(host, "holdout", &holdout) < 0)
        goto fail;
    if (holdout < 1 || holdout > 100000) {
        host->set_error(host, "holdout: must be 1 to 100000 steps, got %lld", holdout);
        goto fail;
    }
    self->holdout = (size_t)holdout;
    return self;
fail:
    host->free(host, self);
    return NULL;
}

static void ensemble_destroy(void *state)
{
    ensemble *self = state;
    if (self)
        self->host->free(self->host, self);
}

/* ## Members' forecasts -------------------------------------------------------------------------------------------- */

static int member_forecast_alloc(const hydra_host *host, member_forecast *m, size_t horizon)
{
    memset(m, 0, sizeof *m);
    double *all = host->alloc(host, BOUNDS * (horizon ? horizon : 1) * sizeof(double));
    if (!all)
        return -1;
    for (size_t b = 0; b < BOUNDS; b++)
        m->bounds[b] = all + b * horizon;
    m->forecast = (hydra_forecast){.horizon = horizon,
                                   .mean = m->bounds[0],
                                   .lower80 = m->bounds[1],
                                   .upper80 = m->bounds[2],
                                   .lower95 = m->bounds[3],
                                   .upper95 = m->bounds[4]};
    return 0;
}

static void member_forecast_free(const hydra_host *host, member_forecast *m) { host->free(host, m->bounds[0]); }

/* The member's mean absolute error over the history's last `holdout` steps, forecast from before them; NAN when it
 * cannot forecast from there or nothing was observed in them. */
static double backtest_error(const ensemble *self, const void *member, const hydra_series *history,
                             member_forecast *scratch)
{
    size_t holdout = self->holdout;
    hydra_series before = {history->values, history->count - holdout, history->start, history->step};
    if (self->host->forecaster_predict(self->host, member, &before, &scratch->forecast) != 0)
        return NAN;
    double sum = 0;
    size_t seen = 0;
    for (size_t i = 0; i < holdout; i++) {
        double actual = history->values[before.count + i];
        if (!isnan(actual)) {
            sum += fabs(scratch->forecast.mean[i] - actual);
            seen++;
        }
    }
    return seen ? sum / (double)seen : NAN;
}

/* ## Predict ------------------------------------------------------------------------------------------------------- */

static void combine(const ensemble *self, member_forecast *forecasts, const double *weights, hydra_forecast *out)
{
    double *targets[BOUNDS] = {out->mean, out->lower80, out->upper80, out->lower95, out->upper95};
    for (size_t b = 0; b < BOUNDS; b++)
        for (size_t i = 0; i < out->horizon; i++) {
            double sum = 0;
            for (size_t m = 0; m < self->member_count; m++)
                if (weights[m] > 0)
                    sum += weights[m] * forecasts[m].bounds[b][i];
            targets[b][i] = sum;
        }
    out->component_count = 0;
    for (size_t m = 0; m < self->member_count; m++) {
        if (!(weights[m] > 0))
            continue;
        size_t c = out->component_count++;
        snprintf(out->component_names[c], HYDRA_COMPONENT_NAME_MAX, "%.20s x%.2f", self->members[m], weights[m]);
        if (out->components[c])
            for (size_t i = 0; i < out->horizon; i++)
                out->components[c][i] = weights[m] * forecasts[m].bounds[0][i];
    }
}

static int ensemble_predict(void *state, const hydra_series *history, hydra_forecast *out)
{
    ensemble *self = state;
    const hydra_host *host = self->host;
    const void *members[MAX_MEMBERS];
    for (size_t m = 0; m < self->member_count; m++)
        if (!(members[m] = host->forecaster_find(host, self->members[m])))
            return -1; /* the host has said which */

    member_forecast forecasts[MAX_MEMBERS] = {0};
    member_forecast scratch;
    size_t allocated = 0;
    int result = -1;
    if (member_forecast_alloc(host, &scratch, self->holdout) != 0)
        goto out_of_memory;
    for (; allocated < self->member_count; allocated++)
        if (member_forecast_alloc(host, &forecasts[allocated], out->horizon) != 0)
            goto out_of_memory;

    /* Weights from the recent past: 1 / MAE^2, or equal while it is too short to tell. */
    double weights[MAX_MEMBERS] = {0};
    bool backtested = history->count > 2 * self->holdout;
    for (size_t m = 0; m < self->member_count; m++) {
        double error = backtested ? backtest_error(self, members[m], history, &scratch) : 1;
        weights[m] = isnan(error) ? 0 : 1 / fmax(error * error, 1e-12);
    }
    /* Then each member with a weight forecasts from the whole history; one that cannot sits out. */
    char reasons[1024] = "";
    double total = 0;
    for (size_t m = 0; m < self->member_count; m++) {
        if (weights[m] > 0 && host->forecaster_predict(host, members[m], history, &forecasts[m].forecast) != 0)
            weights[m] = 0;
        if (!(weights[m] > 0)) {
            size_t used = strlen(reasons);
            snprintf(reasons + used, sizeof reasons - used, "%s%s", used ? ", " : "", self->members[m]);
        }
        total += weights[m];
    }
    if (!(total > 0)) {
        host->set_error(host, "no member could forecast from %zu samples (%s)", history->count, reasons);
    } else {
        for (size_t m = 0; m < self->member_count; m++)
            weights[m] /= total;
        combine(self, forecasts, weights, out);
        result = 0;
    }
    goto release;
out_of_memory:
    host->set_error(host, "out of memory for %zu members' forecasts of %zu steps", self->member_count, out->horizon);
release:
    for (size_t m = 0; m < allocated; m++)
        member_forecast_free(host, &forecasts[m]);
    if (scratch.bounds[0])
        member_forecast_free(host, &scratch);
    return result;
}

static const hydra_forecaster_ops ensemble_ops = {
    .size = sizeof(hydra_forecaster_ops),
    .predict = ensemble_predict,
};

static const hydra_plugin_descriptor ensemble_descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_FORECASTER,
    .name = "ensemble",
    .version = "0.1.0",
    .description = "Weighted mean of other forecasters, weights from their recent backtest error",
    .create = ensemble_create,
    .destroy = ensemble_destroy,
    .ops = &ensemble_ops,
};

HYDRA_PLUGIN(ensemble_descriptor)
