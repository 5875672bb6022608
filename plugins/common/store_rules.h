/* Shared by the store plugins (store/sqlite.c, store/postgres.c): the rules a record must follow whatever the
 * database, so both stores refuse the same bad input with the same words. */
#ifndef HYDRA_STORE_RULES_H
#define HYDRA_STORE_RULES_H

#include <hydra/plugin.h>

#include <math.h> /* isfinite, isnan: macros, no libm */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define SHA256_HEX_LENGTH 64

static const char *const recommendation_states[] = {
    "pending", "approved", "rejected", "expired", "executing", "executed", "failed",
};

static inline bool text_present(const char *text) { return text && text[0]; }

static inline bool state_known(const char *state)
{
    for (size_t i = 0; state && i < sizeof recommendation_states / sizeof recommendation_states[0]; i++)
        if (strcmp(state, recommendation_states[i]) == 0)
            return true;
    return false;
}

/* A key is stored as the hex SHA-256 of its secret, never the secret: anything else is refused. */
static inline bool hash_is_sha256_hex(const char *hash)
{
    return hash && strlen(hash) == SHA256_HEX_LENGTH && strspn(hash, "0123456789abcdef") == SHA256_HEX_LENGTH;
}

/* What is wrong with a set_service_paused request, or NULL: both stores refuse the same requests in the same words. */
static inline const char *service_pause_problem(const hydra_service_record *r)
{
    if (!r)
        return "set_service_paused: a record is required";
    if (!text_present(r->tenant))
        return "set_service_paused: tenant must be a non-empty name";
    if (!text_present(r->name) || !isfinite(r->paused_at))
        return "set_service_paused: name must be non-empty and paused_at finite";
    return NULL;
}

/* What is wrong with a put_model_version request, or NULL. The state is not checked against the checksum here: a
 * store keeps what it is given, and the host refuses a damaged state when it loads it. */
static inline const char *model_version_problem(const hydra_model_record *r, const long long *version)
{
    if (!r || !version)
        return "put_model_version: a record and somewhere to put the version are required";
    if (!text_present(r->tenant) || !text_present(r->service) || !text_present(r->model))
        return "put_model_version: tenant, service and model must be non-empty names";
    if (!r->state || !hash_is_sha256_hex(r->checksum))
        return "put_model_version: a state and its checksum (64 lowercase hex digits) are required";
    if (!isfinite(r->trained_from) || !isfinite(r->trained_to) || r->trained_to < r->trained_from ||
        !isfinite(r->created_at))
        return "put_model_version: trained_from <= trained_to and created_at must be finite times";
    return NULL;
}

/* The same for the look-ups: get, list and activate. */
static inline const char *model_lookup_problem(const char *tenant, const char *service, bool visitor_given)
{
    if (!text_present(tenant) || !text_present(service))
        return "model versions: tenant and service must be non-empty names";
    if (!visitor_given)
        return "model versions: a visitor is required";
    return NULL;
}

#define AGGREGATE_BUCKET_MAX (366 * 86400.0)

/* The same for aggregate_samples (the bucket width is checked by the caller, which names its value). */
static inline const char *aggregate_problem(const char *tenant, const char *service, const char *metric,
                                            bool visitor_given, double from, double to, double bucket_seconds)
{
    if (!text_present(tenant))
        return "aggregate_samples: tenant must be a non-empty name";
    if (!service || !metric || !visitor_given || isnan(from) || isnan(to))
        return "aggregate_samples: service, metric, visitor and a from/to range are required";
    if (!(bucket_seconds >= 1 && bucket_seconds <= AGGREGATE_BUCKET_MAX))
        return "aggregate_samples: bucket_seconds must be between 1 and 31622400 (366 days)";
    return NULL;
}

#endif
