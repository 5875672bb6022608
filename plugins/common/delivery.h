/* Delivery of notifications for notifier plugins (webhook, slack, email): notify() only queues a copy of what to
 * send; a worker thread of the plugin sends it with libcurl (the plugin's send function), retrying with exponential
 * backoff. A receiver that is
 * down or slow therefore never holds up the controller, and a notification that cannot be delivered is logged as
 * failed (and counted), never dropped without a word.
 *
 * Header-only and static: each plugin gets its own copy and uses only the host API. */
#ifndef HYDRA_DELIVERY_H
#define HYDRA_DELIVERY_H

#include <hydra/plugin.h>

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DELIVERY_BACKOFF_CAP_SECONDS 60.0

typedef struct delivery_item {
    struct delivery_item *next;
    char *id;      /* what the log names: the recommendation or alert id */
    char *subject; /* NULL for HTTP */
    char *body;    /* JSON for HTTP; the plain-text part of a mail */
    char *html;    /* the HTML part of a mail; NULL for HTTP */
} delivery_item;

/* One attempt: 0 when the receiver took it; else -1 with why, and *permanent when retrying cannot help. */
typedef int (*delivery_send_fn)(void *context, const delivery_item *item, bool *permanent, char *why,
                                size_t why_size);

typedef struct delivery_settings {
    const char *url;
    double timeout_seconds;
    long long retries;   /* attempts after the first */
    double backoff_seconds;
    long long queue_limit;
    double drain_seconds; /* at shutdown, how long retries may still go on */
} delivery_settings;

typedef struct delivery_queue {
    const hydra_host *host;
    const char *name; /* the plugin's, for log lines */
    char *url;
    long timeout_ms;
    long long retries;
    double backoff_seconds;
    double drain_seconds;
    double drain_until; /* set when stopping: no retry waits past it */
    size_t limit;
    delivery_send_fn send;
    void *send_context;

    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t worker;
    bool worker_started;
    bool stopping;
    delivery_item *head, *tail;
    size_t queued;

    int sent_metric, failed_metric;
} delivery_queue;

/* Reads url (required; http_only: http:// or https:// only, else smtp:// or smtps://), timeout (5 s), retries (5),
 * backoff (1 s), queue_limit (1000) and drain (10 s). -1 with the host's error set on a missing or bad setting. */
static int delivery_read_settings(const hydra_host *host, bool http_only, delivery_settings *out)
{
    *out = (delivery_settings){NULL, 5.0, 5, 1.0, 1000, 10.0};
    int found = host->setting_string(host, "url", &out->url);
    if (found < 0)
        return -1;
    bool http = found == 0 && (strncmp(out->url, "http://", 7) == 0 || strncmp(out->url, "https://", 8) == 0);
    bool smtp = found == 0 && (strncmp(out->url, "smtp://", 7) == 0 || strncmp(out->url, "smtps://", 8) == 0);
    if (http_only ? !http : !smtp) {
        host->set_error(host, "setting 'url' is required: the receiver's %s address",
                        http_only ? "http:// or https://" : "smtp:// or smtps://");
        return -1;
    }
    if (host->setting_double(host, "timeout", &out->timeout_seconds) < 0 ||
        host->setting_int(host, "retries", &out->retries) < 0 ||
        host->setting_double(host, "backoff", &out->backoff_seconds) < 0 ||
        host->setting_int(host, "queue_limit", &out->queue_limit) < 0 ||
        host->setting_double(host, "drain", &out->drain_seconds) < 0)
        return -1;
    if (!(out->drain_seconds >= 0 && out->drain_seconds <= 300)) {
        host->set_error(host, "setting 'drain' must be from 0 to 300 seconds, not %g", out->drain_seconds);
        return -1;
    }
    if (!(out->timeout_seconds > 0 && out->timeout_seconds <= 300)) {
        host->set_error(host, "setting 'timeout' must be in (0, 300] seconds, not %g", out->timeout_seconds);
        return -1;
    }
    if (out->retries < 0 || out->retries > 20) {
        host->set_error(host, "setting 'retries' must be from 0 to 20, not %lld", out->retries);
        return -1;
    }
    if (!(out->backoff_seconds >= 0 && out->backoff_seconds <= DELIVERY_BACKOFF_CAP_SECONDS)) {
        host->set_error(host, "setting 'backoff' must be from 0 to %g seconds, not %g", DELIVERY_BACKOFF_CAP_SECONDS,
                        out->backoff_seconds);
        return -1;
    }
    if (out->queue_limit < 1 || out->queue_limit > 1000000) {
        host->set_error(host, "setting 'queue_limit' must be from 1 to 1000000, not %lld", out->queue_limit);
        return -1;
    }
    return 0;
}

/* Appends to the text in buffer, cutting what does not fit: messages are built in fixed buffers. */
static inline void delivery_append(char *buffer, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void delivery_append(char *buffer, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buffer);
    if (used + 1 >= size)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(buffer + used, size - used, fmt, args);
    va_end(args);
}

static inline size_t delivery_discard(char *data, size_t size, size_t count, void *context)
{
    (void)data;
    (void)context;
    return size * count;
}

/* One POST of item's JSON body to url with headers (taken); 0 on a 2xx answer. *permanent when retrying cannot help
 * (a 4xx other than 408 and 429). */
static inline int delivery_http_post(const char *url, long timeout_ms, struct curl_slist *headers,
                                     const delivery_item *item,
                                     bool *permanent, char *why, size_t why_size)
{
    *permanent = false;
    CURL *curl = curl_easy_init();
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (!curl || !headers) {
        snprintf(why, why_size, "libcurl could not start");
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        return -1;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, item->body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, delivery_discard);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "hydra-notifier");
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (code != CURLE_OK) {
        snprintf(why, why_size, "%s", curl_easy_strerror(code));
        return -1;
    }
    if (status >= 200 && status < 300)
        return 0;
    *permanent = status >= 400 && status < 500 && status != 408 && status != 429;
    snprintf(why, why_size, "the receiver answered %ld", status);
    return -1;
}

static double delivery_clock(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

/* Waits seconds before a retry; true when the retry must not happen: hydra is stopping and the wait would end past
 * the drain deadline. Called with the lock held. */
static bool delivery_wait(delivery_queue *q, double seconds)
{
    double until = delivery_clock() + seconds;
    struct timespec deadline = {(time_t)until, (long)((until - floor(until)) * 1e9)};
    for (;;) {
        if (q->stopping && until > q->drain_until)
            return true;
        if (pthread_cond_timedwait(&q->changed, &q->lock, &deadline) == ETIMEDOUT)
            return false;
    }
}

static void delivery_send(delivery_queue *q, delivery_item *item)
{
    char why[256] = "";
    double backoff = q->backoff_seconds;
    long long attempt = 0;
    for (;; attempt++) {
        bool permanent = false;
        if (q->send(q->send_context, item, &permanent, why, sizeof why) == 0) {
            if (q->sent_metric >= 0)
                q->host->metric_add(q->host, q->sent_metric, 1);
            return;
        }
        if (permanent || attempt >= q->retries)
            break;
        pthread_mutex_lock(&q->lock);
        bool stopping = delivery_wait(q, backoff);
        pthread_mutex_unlock(&q->lock);
        if (stopping) {
            snprintf(why + strlen(why), sizeof why - strlen(why), "; not retried: hydra is stopping");
            break;
        }
        backoff = backoff * 2 > DELIVERY_BACKOFF_CAP_SECONDS ? DELIVERY_BACKOFF_CAP_SECONDS : backoff * 2;
    }
    if (q->failed_metric >= 0)
        q->host->metric_add(q->host, q->failed_metric, 1);
    q->host->log(q->host, HYDRA_LOG_ERROR, "notifier %s: notification %s failed after %lld attempt%s: %s", q->name,
                 item->id, attempt + 1, attempt ? "s" : "", why);
}

static void delivery_free_item(delivery_item *item)
{
    free(item->id);
    free(item->subject);
    free(item->body);
    free(item->html);
    free(item);
}

static void *delivery_worker(void *context)
{
    delivery_queue *q = context;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->changed, &q->lock);
        if (!q->head)
            break;
        delivery_item *item = q->head;
        q->head = item->next;
        if (!q->head)
            q->tail = NULL;
        q->queued--;
        pthread_mutex_unlock(&q->lock);
        delivery_send(q, item);
        delivery_free_item(item);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static int delivery_start(delivery_queue *q, const hydra_host *host, const char *name, const delivery_settings *s,
                          delivery_send_fn send, void *send_context)
{
    *q = (delivery_queue){.host = host, .name = name, .timeout_ms = (long)(s->timeout_seconds * 1000),
                          .retries = s->retries, .backoff_seconds = s->backoff_seconds,
                          .drain_seconds = s->drain_seconds,
                          .limit = (size_t)s->queue_limit,
                          .send = send, .send_context = send_context};
    q->url = strdup(s->url);
    q->sent_metric = host->metric_register(host, "notifications_sent_total", "Notifications the receiver took",
                                           HYDRA_METRIC_COUNTER);
    q->failed_metric = host->metric_register(host, "notifications_failed_total",
                                             "Notifications given up on after the retries", HYDRA_METRIC_COUNTER);
    if (!q->url || pthread_mutex_init(&q->lock, NULL) != 0 || pthread_cond_init(&q->changed, NULL) != 0 ||
        pthread_create(&q->worker, NULL, delivery_worker, q) != 0) {
        free(q->url);
        host->set_error(host, "cannot start the delivery thread");
        return -1;
    }
    q->worker_started = true;
    return 0;
}

/* Takes subject, body and html (malloc'ed; subject and html may be NULL) whatever happens. -1 with the host's error
 * set when the queue is full. */
static int delivery_enqueue(delivery_queue *q, const char *id, char *subject, char *body, char *html)
{
    delivery_item *item = calloc(1, sizeof *item);
    if (!item || !body) {
        free(item);
        free(subject);
        free(body);
        free(html);
        q->host->set_error(q->host, "out of memory for a notification");
        return -1;
    }
    item->id = strdup(id ? id : "-");
    item->subject = subject;
    item->body = body;
    item->html = html;
    pthread_mutex_lock(&q->lock);
    bool full = q->queued >= q->limit;
    if (!full) {
        if (q->tail)
            q->tail->next = item;
        else
            q->head = item;
        q->tail = item;
        q->queued++;
        pthread_cond_signal(&q->changed);
    }
    pthread_mutex_unlock(&q->lock);
    if (full) {
        if (q->failed_metric >= 0)
            q->host->metric_add(q->host, q->failed_metric, 1);
        q->host->set_error(q->host, "notification %s not sent: %zu are already waiting for the receiver", item->id,
                           q->limit);
        delivery_free_item(item);
        return -1;
    }
    return 0;
}

/* Stops the worker once what is queued has been delivered or given up on; retries go on for at most the drain
 * time, then each notification left gets one last attempt. */
static void delivery_stop(delivery_queue *q)
{
    if (!q->worker_started)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    q->drain_until = delivery_clock() + q->drain_seconds;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->worker, NULL);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->changed);
    free(q->url);
    q->worker_started = false;
}

#endif
