/* Store records as JSON, the same in the API's answers and in `hydra export`. */
#ifndef HYDRA_RECORD_JSON_H
#define HYDRA_RECORD_JSON_H

#include <hydra/plugin.h>
#include <jansson.h>

json_t *record_json_recommendation(const hydra_recommendation_record *record);
json_t *record_json_event(const hydra_recommendation_event *event);
json_t *record_json_sample(const hydra_sample *sample);
json_t *record_json_alert(const hydra_alert_record *alert);

#endif
