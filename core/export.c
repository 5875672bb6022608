#include "export.h"

#include "record_json.h"
#include "samples_csv.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>

/* ## Metrics: streamed, one sample at a time ------------------------------------------------------------------- */

typedef struct sample_writer {
    FILE *out;
    bool json;
    size_t count;
} sample_writer;

static int write_sample(void *context, const hydra_sample *sample)
{
    sample_writer *w = context;
    if (!w->json) {
        samples_csv_write(w->out, sample);
    } else {
        json_t *item = record_json_sample(sample);
        fputs(w->count ? ",\n" : "\n", w->out);
        json_dumpf(item, w->out, JSON_COMPACT | JSON_REAL_PRECISION(17));
        json_decref(item);
    }
    w->count++;
    return 0;
}

static int export_metrics(const store_handle *store, const export_options *o, FILE *out)
{
    sample_writer writer = {out, o->json, 0};
    if (o->json)
        fputs("{\"samples\":[", out);
    else
        samples_csv_write_header(out);
    int status = store->ops->export_samples(store->state, o->tenant, o->since, write_sample, &writer);
    if (o->json)
        fputs("\n]}\n", out);
    return status;
}

/* ## Decisions: every recommendation with who decided, when and why; oldest first --------------------------- */

typedef struct decisions {
    const store_handle *store;
    const export_options *options;
    json_t *items; /* newest first, as the store lists them */
} decisions;

static int skip_record(void *context, const hydra_recommendation_record *record)
{
    (void)context, (void)record; /* the list handed it over already */
    return 0;
}

static int keep_event(void *context, const hydra_recommendation_event *event)
{
    json_array_append_new(context, record_json_event(event));
    return 0;
}

static int keep_decision(void *context, const hydra_recommendation_record *record)
{
    decisions *d = context;
    if (record->created_at < d->options->since)
        return 0;
    json_t *item = record_json_recommendation(record);
    json_array_append_new(d->items, item);
    if (d->options->json) { /* JSON carries the whole history; CSV one row per recommendation */
        json_t *events = json_array();
        json_object_set_new(item, "events", events);
        return d->store->ops->get_recommendation(d->store->state, d->options->tenant, record->id, skip_record, keep_event,
                                                 events) < 0
                   ? -1
                   : 0;
    }
    return 0;
}

static const char *const decision_columns[] = {"id", "target", "state", "from_replicas", "to_replicas", "asked",
                                               "forecast_peak", "forecast_peak_at", "created_at", "expires_at",
                                               "decided_at", "finished_at", "decided_by", "decision_reason", "reason",
                                               "result"};

/* A cell of the CSV: numbers with 17 digits, booleans as yes/no, null as empty, text quoted when it must be. */
static void write_cell(FILE *out, json_t *value)
{
    if (json_is_integer(value))
        fprintf(out, "%lld", (long long)json_integer_value(value));
    else if (json_is_real(value))
        fprintf(out, "%.17g", json_real_value(value));
    else if (json_is_boolean(value))
        fputs(json_is_true(value) ? "yes" : "no", out);
    else if (json_is_string(value))
        samples_csv_write_field(out, json_string_value(value));
}

static void write_decisions(json_t *items, bool as_json, FILE *out)
{
    if (as_json) {
        json_t *document = json_pack("{s:O}", "decisions", items);
        json_dumpf(document, out, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
        fputc('\n', out);
        json_decref(document);
        return;
    }
    for (size_t c = 0; c < ARRAY_LEN(decision_columns); c++)
        fprintf(out, "%s%s", c ? "," : "", decision_columns[c]);
    fputc('\n', out);
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        for (size_t c = 0; c < ARRAY_LEN(decision_columns); c++) {
            if (c)
                fputc(',', out);
            write_cell(out, json_object_get(item, decision_columns[c]));
        }
        fputc('\n', out);
    }
}

static int export_decisions(const store_handle *store, const export_options *o, FILE *out)
{
    decisions d = {store, o, json_array()};
    int status = store->ops->list_recommendations(store->state, o->tenant, NULL, 0, keep_decision, &d);
    if (status == 0) {
        json_t *oldest_first = json_array();
        for (size_t i = json_array_size(d.items); i-- > 0;)
            json_array_append(oldest_first, json_array_get(d.items, i));
        write_decisions(oldest_first, o->json, out);
        json_decref(oldest_first);
    }
    json_decref(d.items);
    return status;
}

int export_write(const store_handle *store, const export_options *options, FILE *out, char *error, size_t error_size)
{
    int status = options->what == EXPORT_METRICS ? export_metrics(store, options, out)
                                                 : export_decisions(store, options, out);
    if (status != 0)
        format_into(error, error_size, "export: %s", instance_error(store->instance));
    return status == 0 ? 0 : -1;
}
