#include "demand_feed.h"

#include "util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How many steps the thread may run ahead: enough to ride out a slow tick of the controller, small enough to stay in
 * the cache (256 steps of 100 services are 200 KB). */
#define FEED_DEPTH 256

struct demand_feed {
    scenario *world;
    hydra_clock *clock;
    long step_count;
    double *rows; /* FEED_DEPTH rows of service_count values; step k in row k % FEED_DEPTH */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    long produced;     /* steps 0 .. produced - 1 are in their rows */
    long released;     /* steps before this one are no longer read */
    bool failed;       /* step `produced` failed, with error */
    bool stopping;
    /* A signal is needed only when the other side waits, and each side, once it has to wait, waits for a batch of
     * steps: a wake-up for every step would cost a system call each. The thread, ahead by the whole depth, waits
     * until half of it is free; the controller, when traffic is the slower (a scenario with few services), until
     * an eighth of the depth is ready. */
    bool consumer_waits, producer_waits;
    long producer_resumes_at; /* the `released` it waits for */
    long consumer_resumes_at; /* the `produced` it waits for */
    double cpu_seconds;       /* the thread's, when it ends */
    char error[4096];
};

static double *row_of(demand_feed *feed, long step)
{
    return feed->rows + (size_t)(step % FEED_DEPTH) * feed->world->service_count;
}

static void wake_consumer(demand_feed *feed)
{
    if (feed->consumer_waits && (feed->produced >= feed->consumer_resumes_at || feed->failed)) {
        feed->consumer_waits = false;
        pthread_cond_broadcast(&feed->changed);
    }
}

static void wake_producer(demand_feed *feed)
{
    if (feed->producer_waits && feed->released >= feed->producer_resumes_at) {
        feed->producer_waits = false;
        pthread_cond_broadcast(&feed->changed);
    }
}

static void *produce(void *argument)
{
    demand_feed *feed = argument;
    char error[sizeof feed->error];
    for (long step = 0; step < feed->step_count; step++) {
        pthread_mutex_lock(&feed->lock);
        if (step >= feed->released + FEED_DEPTH)
            feed->producer_resumes_at = step - FEED_DEPTH / 2;
        while (!feed->stopping && step >= feed->released + FEED_DEPTH) {
            feed->producer_waits = true;
            pthread_cond_wait(&feed->changed, &feed->lock);
        }
        bool stopping = feed->stopping;
        pthread_mutex_unlock(&feed->lock);
        if (stopping)
            break;
        double t = feed->world->start + (double)step * feed->world->step;
        feed->clock->virtual_now = t; /* what the script's hydra.now() says while its traffic is asked for */
        int status = scenario_demand_all(feed->world, t, row_of(feed, step), error, sizeof error);
        pthread_mutex_lock(&feed->lock);
        if (status == 0) {
            feed->produced = step + 1;
        } else {
            feed->failed = true;
            format_into(feed->error, sizeof feed->error, "%s", error);
        }
        wake_consumer(feed);
        pthread_mutex_unlock(&feed->lock);
        if (status != 0)
            break;
    }
    struct timespec used;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &used) == 0)
        feed->cpu_seconds = (double)used.tv_sec + used.tv_nsec / 1e9;
    return NULL;
}

demand_feed *demand_feed_start(scenario *world, hydra_clock *clock, long step_count, char *error, size_t error_size)
{
    demand_feed *feed = xcalloc(1, sizeof *feed);
    feed->world = world;
    feed->clock = clock;
    feed->step_count = step_count;
    feed->rows = xcalloc((size_t)FEED_DEPTH * (world->service_count ? world->service_count : 1), sizeof(double));
    pthread_mutex_init(&feed->lock, NULL);
    pthread_cond_init(&feed->changed, NULL);
    int status = pthread_create(&feed->thread, NULL, produce, feed);
    if (status != 0) {
        format_into(error, error_size, "cannot start the scenario's traffic thread: %s", strerror(status));
        pthread_cond_destroy(&feed->changed);
        pthread_mutex_destroy(&feed->lock);
        free(feed->rows);
        free(feed);
        return NULL;
    }
    return feed;
}

const double *demand_feed_take(demand_feed *feed, long step, char *error, size_t error_size)
{
    pthread_mutex_lock(&feed->lock);
    feed->released = step; /* the row of the step before is done with */
    wake_producer(feed);
    if (step >= feed->produced) {
        long batch_end = step + FEED_DEPTH / 8;
        feed->consumer_resumes_at = batch_end < feed->step_count ? batch_end : feed->step_count;
    }
    while (step >= feed->produced && !feed->failed) {
        feed->consumer_waits = true;
        pthread_cond_wait(&feed->changed, &feed->lock);
    }
    bool ready = step < feed->produced;
    if (!ready)
        format_into(error, error_size, "%s", feed->error);
    pthread_mutex_unlock(&feed->lock);
    return ready ? row_of(feed, step) : NULL;
}

void demand_feed_stop(demand_feed *feed, double *cpu_seconds)
{
    if (!feed)
        return;
    pthread_mutex_lock(&feed->lock);
    feed->stopping = true;
    pthread_cond_broadcast(&feed->changed);
    pthread_mutex_unlock(&feed->lock);
    pthread_join(feed->thread, NULL);
    if (cpu_seconds)
        *cpu_seconds = feed->cpu_seconds;
    pthread_cond_destroy(&feed->changed);
    pthread_mutex_destroy(&feed->lock);
    free(feed->rows);
    free(feed);
}
