/* Approval policies: a Lua script's decide(rec, ctx) returns "approve", "ask" or "reject" and a reason.
 * An error, a budget overrun or an answer that is none of the three means "ask", and counts as a policy error.
 * Without a script, every recommendation asks a person. */
#ifndef HYDRA_POLICY_H
#define HYDRA_POLICY_H

#include "recommendation.h"
#include "script.h"

typedef enum policy_verdict { VERDICT_APPROVE, VERDICT_ASK, VERDICT_REJECT } policy_verdict;

typedef struct policy_context {
    double now;
    int min_replicas;
    int max_replicas;
    int ready_replicas;
    double current_load;
    double capacity_per_replica;
    bool reactive; /* sized for the load seen now rather than for the forecast */
} policy_context;

typedef struct policy policy;

/* path NULL: the ask-always built-in. NULL on failure, with "file:line: ..." in error. */
policy *policy_open(const char *path, const script_options *options, char *error, size_t error_size);
void policy_close(policy *policy);

policy_verdict policy_decide(policy *policy, const recommendation *rec, const policy_context *context, char *reason,
                             size_t reason_size);
/* "policy default.lua", for decided_by. */
const char *policy_name(const policy *policy);
unsigned long policy_error_count(const policy *policy);
const char *policy_verdict_name(policy_verdict verdict);

#endif
