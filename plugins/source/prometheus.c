/* source prometheus: reads a target's metric from a Prometheus server with a PromQL range query.
 *
 * Settings: url (required: the server, http://host:9090), query (the PromQL; "{service}" and "{metric}" in it are
 * replaced by the target's; default `{metric}{service="{service}"}`), timeout (10 s).
 *
 * The query must give one series: an aggregation (sum by, say) when the metric has several. Values Prometheus
 * writes as "NaN", "+Inf" or "-Inf" are not measurements: they become gaps, like steps with no value. */
#include <hydra/plugin.h>

#include "../common/body_buffer.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_MAX 4096
#define ANSWER_MAX (64u << 20) /* a range answer larger than this is refused rather than held */

typedef struct prometheus {
    const hydra_host *host;
    char *url;
    char *query;
    long timeout_ms;
} prometheus;


/* The query with {service} and {metric} replaced; -1 when it would not fit. */
static int expand(const char *template, const char *service, const char *metric, char *out, size_t size)
{
    size_t used = 0;
    for (const char *at = template; *at;) {
        const char *value = NULL;
        size_t skip = 1;
        if (strncmp(at, "{service}", 9) == 0)
            value = service, skip = 9;
        else if (strncmp(at, "{metric}", 8) == 0)
            value = metric, skip = 8;
        size_t length = value ? strlen(value) : 1;
        if (used + length + 1 > size)
            return -1;
        memcpy(out + used, value ? value : at, length);
        used += length;
        at += skip;
    }
    out[used] = '\0';
    return 0;
}

/* Prometheus writes sample values as strings. */
static bool sample_value(json_t *pair, double *ts, double *value)
{
    json_t *time = json_array_get(pair, 0), *text = json_array_get(pair, 1);
    if (!json_is_number(time) || !json_is_string(text))
        return false;
    char *end = NULL;
    *ts = json_number_value(time);
    *value = strtod(json_string_value(text), &end);
    return end && *end == '\0';
}

static int read_matrix(prometheus *self, const char *query, json_t *document, hydra_sample_sink emit, void *context,
                       const char *service, const char *metric)
{
    const hydra_host *host = self->host;
    json_t *data = json_object_get(document, "data");
    json_t *result = json_object_get(data, "result");
    const char *type = json_string_value(json_object_get(data, "resultType"));
    if (!type || strcmp(type, "matrix") != 0 || !json_is_array(result)) {
        host->set_error(host, "query %s: expected a matrix, got %s", query, type ? type : "no result");
        return -1;
    }
    if (json_array_size(result) > 1) {
        host->set_error(host, "query %s gives %zu series, not one: aggregate it (sum by ...)", query,
                        json_array_size(result));
        return -1;
    }
    json_t *values = json_object_get(json_array_get(result, 0), "values");
    size_t index;
    json_t *pair;
    json_array_foreach(values, index, pair) {
        double ts, value;
        if (!sample_value(pair, &ts, &value)) {
            host->set_error(host, "query %s: value %zu is not [time, \"number\"]", query, index);
            return -1;
        }
        if (!isfinite(value))
            continue;
        hydra_sample sample = {service, metric, ts, value};
        if (emit(context, &sample) != 0)
            break;
    }
    return 0;
}

static int prometheus_pull(void *state, const char *service, const char *metric, double from, double to, double step,
                           hydra_sample_sink emit, void *context)
{
    prometheus *self = state;
    const hydra_host *host = self->host;
    if (!service || !metric || !emit || !(to > from) || !(step > 0)) {
        host->set_error(host, "pull: needs a service, a metric, a sink, from < to and a step > 0");
        return -1;
    }
    char query[QUERY_MAX];
    if (expand(self->query, service, metric, query, sizeof query) != 0) {
        host->set_error(host, "the query for %s %s is longer than %d characters", service, metric, QUERY_MAX);
        return -1;
    }
    CURL *curl = curl_easy_init();
    if (!curl) {
        host->set_error(host, "libcurl could not start");
        return -1;
    }
    char *escaped = curl_easy_escape(curl, query, 0);
    char *form = NULL, *endpoint = NULL;
    /* Prometheus takes [start, end] inclusive; the source promises [from, to). */
    if (escaped && asprintf(&form, "query=%s&start=%.3f&end=%.3f&step=%.3f", escaped, from, to - step / 1000,
                            step) < 0)
        form = NULL;
    if (asprintf(&endpoint, "%s/api/v1/query_range", self->url) < 0)
        endpoint = NULL;
    body_buffer a = {.limit = ANSWER_MAX};
    CURLcode code = CURLE_OUT_OF_MEMORY;
    long status = 0;
    if (form && endpoint) {
        curl_easy_setopt(curl, CURLOPT_URL, endpoint);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, self->timeout_ms);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_buffer_collect);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
        code = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_free(escaped);
    free(form);
    free(endpoint);
    curl_easy_cleanup(curl);
    int result = -1;
    json_error_t parse_error;
    json_t *document = code == CURLE_OK && a.data ? json_loads(a.data, 0, &parse_error) : NULL;
    const char *outcome = json_string_value(json_object_get(document, "status"));
    if (a.too_large)
        host->set_error(host, "%s: the answer to %s is over %u MiB", self->url, query, ANSWER_MAX >> 20);
    else if (code != CURLE_OK)
        host->set_error(host, "%s: %s", self->url, curl_easy_strerror(code));
    else if (!outcome)
        host->set_error(host, "%s answered HTTP %ld with something that is not a Prometheus answer", self->url,
                        status);
    else if (strcmp(outcome, "success") != 0)
        host->set_error(host, "%s refused %s (HTTP %ld, %s): %s", self->url, query, status,
                        json_string_value(json_object_get(document, "errorType")) ?: "error",
                        json_string_value(json_object_get(document, "error")) ?: "no reason given");
    else
        result = read_matrix(self, query, document, emit, context, service, metric);
    json_decref(document);
    free(a.data);
    return result;
}

static void *prometheus_create(const hydra_host *host)
{
    const char *url = NULL, *query = "{metric}{service=\"{service}\"}";
    double timeout = 10;
    int found = host->setting_string(host, "url", &url);
    if (found < 0 || host->setting_string(host, "query", &query) < 0 ||
        host->setting_double(host, "timeout", &timeout) < 0)
        return NULL;
    if (found > 0 || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        host->set_error(host, "setting 'url' is required: the Prometheus server's http:// or https:// address");
        return NULL;
    }
    if (!query[0]) {
        host->set_error(host, "setting 'query' must not be empty");
        return NULL;
    }
    if (!(timeout > 0 && timeout <= 300)) {
        host->set_error(host, "setting 'timeout' must be in (0, 300] seconds, not %g", timeout);
        return NULL;
    }
    prometheus *self = calloc(1, sizeof *self);
    if (!self || !(self->url = strdup(url)) || !(self->query = strdup(query))) {
        if (self)
            free(self->url);
        free(self);
        host->set_error(host, "out of memory");
        return NULL;
    }
    size_t length = strlen(self->url);
    while (length > 0 && self->url[length - 1] == '/')
        self->url[--length] = '\0';
    self->host = host;
    self->timeout_ms = (long)(timeout * 1000);
    return self;
}

static void prometheus_destroy(void *state)
{
    prometheus *self = state;
    if (!self)
        return;
    free(self->url);
    free(self->query);
    free(self);
}

static const hydra_source_ops ops = {
    .size = sizeof(hydra_source_ops),
    .pull = prometheus_pull,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_SOURCE,
    .name = "prometheus",
    .version = "1.0.0",
    .description = "Reads a target's metric from Prometheus with a PromQL range query",
    .create = prometheus_create,
    .destroy = prometheus_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
