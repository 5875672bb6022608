#include "record_json.h"

#include "controller.h"

#include <math.h>
#include <string.h>

/* JSON has no NaN: a forecast peak nobody computed is null rather than the whole record lost. */
static json_t *number(double value) { return isfinite(value) ? json_real(value) : json_null(); }

/* dry_run: a dry run kept it from the scaler (its result says so). */
json_t *record_json_recommendation(const hydra_recommendation_record *r)
{
    bool dry_run = r->result && strncmp(r->result, CONTROLLER_DRY_RUN_PREFIX, strlen(CONTROLLER_DRY_RUN_PREFIX)) == 0;
    json_t *json = json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:s}", "id", r->id,
                     "target", r->target, "state", r->state, "from_replicas", r->from_replicas, "to_replicas",
                     r->to_replicas, "asked", r->asked, "forecast_peak", number(r->forecast_peak),
                     "forecast_peak_at", number(r->forecast_peak_at), "created_at", number(r->created_at),
                     "expires_at", number(r->expires_at), "decided_at", number(r->decided_at), "finished_at",
                     number(r->finished_at), "reason", r->reason ? r->reason : "",
                     "decided_by", r->decided_by ? r->decided_by : "", "decision_reason",
                     r->decision_reason ? r->decision_reason : "", "result", r->result ? r->result : "");
    json_object_set_new(json, "dry_run", json_boolean(dry_run));
    return json;
}

json_t *record_json_event(const hydra_recommendation_event *e)
{
    return json_pack("{s:s, s:s, s:f, s:s, s:s}", "from", e->from_state, "to", e->to_state, "at", e->at, "by",
                     e->by ? e->by : "", "why", e->why ? e->why : "");
}

json_t *record_json_sample(const hydra_sample *s)
{
    return json_pack("{s:s, s:s, s:f, s:f}", "service", s->service, "metric", s->metric, "ts", s->ts, "value",
                     s->value);
}

json_t *record_json_alert(const hydra_alert_record *a)
{
    return json_pack("{s:s, s:s, s:s, s:f, s:f, s:s}", "id", a->id, "service", a->service, "metric", a->metric, "at",
                     a->at, "score", a->score, "message", a->message ? a->message : "");
}
