/* Per-key request budgets: one token bucket per API key, refilled at a steady rate up to a burst. Thread-safe: the
 * HTTP server's threads share one limiter. Times are seconds on a monotonic clock the caller reads, so a test can
 * drive it with made-up times. */
#ifndef HYDRA_RATELIMIT_H
#define HYDRA_RATELIMIT_H

#include <stdbool.h>

typedef struct ratelimit ratelimit;

/* rate > 0 tokens a second, burst >= 1 tokens at most; a new key starts with a full bucket. */
ratelimit *ratelimit_create(double rate, double burst);
void ratelimit_destroy(ratelimit *limit);

/* Takes one token from key's bucket at time now: true when there was one. When there was not, *retry_after is how
 * many whole seconds until there will be (rounded up, at least 1). */
bool ratelimit_take(ratelimit *limit, const char *key, double now, int *retry_after);

double ratelimit_rate(const ratelimit *limit);
double ratelimit_burst(const ratelimit *limit);

#endif
