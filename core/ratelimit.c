#include "ratelimit.h"

#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Keys are few (one bucket per stored API key that has made a request), so an open-addressing table that doubles
 * when half full is plenty. Only keys the store recognised reach the limiter: a stranger cannot grow it. */
typedef struct bucket {
    char *key; /* NULL: empty slot */
    double tokens;
    double updated; /* when tokens was last brought up to date */
} bucket;

struct ratelimit {
    pthread_mutex_t lock;
    double rate;
    double burst;
    bucket *slots;
    size_t capacity; /* a power of two */
    size_t used;
};

ratelimit *ratelimit_create(double rate, double burst)
{
    ratelimit *limit = xcalloc(1, sizeof *limit);
    pthread_mutex_init(&limit->lock, NULL);
    limit->rate = rate;
    limit->burst = burst;
    limit->capacity = 16;
    limit->slots = xcalloc(limit->capacity, sizeof *limit->slots);
    return limit;
}

void ratelimit_destroy(ratelimit *limit)
{
    if (!limit)
        return;
    for (size_t i = 0; i < limit->capacity; i++)
        free(limit->slots[i].key);
    free(limit->slots);
    pthread_mutex_destroy(&limit->lock);
    free(limit);
}

double ratelimit_rate(const ratelimit *limit) { return limit->rate; }
double ratelimit_burst(const ratelimit *limit) { return limit->burst; }

/* FNV-1a: keys here are names the store already vouched for, not attacker-chosen collisions. */
static uint64_t key_hash(const char *key)
{
    uint64_t hash = 1469598103934665603ull;
    for (const unsigned char *c = (const unsigned char *)key; *c; c++)
        hash = (hash ^ *c) * 1099511628211ull;
    return hash;
}

static bucket *slot_for(bucket *slots, size_t capacity, const char *key)
{
    size_t i = (size_t)key_hash(key) & (capacity - 1);
    while (slots[i].key && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (capacity - 1);
    return &slots[i];
}

static void grow(ratelimit *limit)
{
    size_t capacity = limit->capacity * 2;
    bucket *slots = xcalloc(capacity, sizeof *slots);
    for (size_t i = 0; i < limit->capacity; i++)
        if (limit->slots[i].key)
            *slot_for(slots, capacity, limit->slots[i].key) = limit->slots[i];
    free(limit->slots);
    limit->slots = slots;
    limit->capacity = capacity;
}

static bucket *bucket_of(ratelimit *limit, const char *key, double now)
{
    bucket *b = slot_for(limit->slots, limit->capacity, key);
    if (b->key)
        return b;
    if (2 * (limit->used + 1) > limit->capacity) {
        grow(limit);
        b = slot_for(limit->slots, limit->capacity, key);
    }
    *b = (bucket){xstrdup(key), limit->burst, now};
    limit->used++;
    return b;
}

bool ratelimit_take(ratelimit *limit, const char *key, double now, int *retry_after)
{
    pthread_mutex_lock(&limit->lock);
    bucket *b = bucket_of(limit, key, now);
    if (now > b->updated) /* a clock read late by another thread must not take tokens back */
        b->tokens = fmin(limit->burst, b->tokens + (now - b->updated) * limit->rate);
    b->updated = fmax(b->updated, now);
    bool allowed = b->tokens >= 1;
    if (allowed)
        b->tokens -= 1;
    else
        *retry_after = (int)fmax(1, ceil((1 - b->tokens) / limit->rate));
    pthread_mutex_unlock(&limit->lock);
    return allowed;
}
