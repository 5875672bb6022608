#include "events.h"

#include "clock.h"
#include "keys.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct subscriber {
    events_hub *hub;
    void *connection;
    unsigned long number;  /* for log lines */
    char *queue;           /* text not yet sent: queue[sent..length) */
    size_t length, sent, capacity;
    bool asleep;           /* its connection waits in http_stream_wait for something to send */
    bool dropped;          /* too far behind: its stream ends */
    double last_queued;    /* monotonic seconds */
    char key_hash[KEYS_HASH_HEX]; /* of the key it was opened with: a revoked key's stream is ended */
    struct subscriber *next;
} subscriber;

typedef struct remembered_event {
    unsigned long long id;
    char *text;
} remembered_event;

struct events_hub {
    pthread_mutex_t lock;
    subscriber *subscribers;
    unsigned long next_number;
    unsigned long long last_id;
    remembered_event remembered[EVENTS_REMEMBERED];
    bool closed;
};

events_hub *events_create(void)
{
    events_hub *hub = xcalloc(1, sizeof *hub);
    pthread_mutex_init(&hub->lock, NULL);
    return hub;
}

void events_destroy(events_hub *hub)
{
    if (!hub)
        return;
    for (size_t i = 0; i < EVENTS_REMEMBERED; i++)
        free(hub->remembered[i].text);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

/* ## Queues (hub->lock held) ---------------------------------------------------------------------------------- */

static void queue_text(subscriber *s, const char *text, size_t length)
{
    if (s->sent == s->length)
        s->sent = s->length = 0;
    if (s->length + length > s->capacity && s->sent > 0) { /* room at the front first */
        memmove(s->queue, s->queue + s->sent, s->length - s->sent);
        s->length -= s->sent;
        s->sent = 0;
    }
    if (s->length + length > s->capacity) {
        s->capacity = (s->length + length) * 2;
        s->queue = xrealloc(s->queue, s->capacity);
    }
    memcpy(s->queue + s->length, text, length);
    s->length += length;
    s->last_queued = clock_monotonic();
}

/* Queues text for s, or drops s when it is too far behind; true when s's connection must be woken. */
static bool offer(subscriber *s, const char *text, size_t length)
{
    if (s->dropped)
        return false;
    if (s->length - s->sent + length > EVENTS_QUEUE_BYTES) {
        s->dropped = true;
        log_warn("events: subscriber %lu dropped: %zu bytes not read, more than %u (a stalled client)", s->number,
                 s->length - s->sent, EVENTS_QUEUE_BYTES);
    } else {
        queue_text(s, text, length);
    }
    bool wake = s->asleep;
    s->asleep = false;
    return wake;
}

/* Connections to wake once the lock is released: a sleeping one stays alive until woken, and only whoever clears
 * `asleep` wakes it, so the pointers stay valid. */
typedef struct wake_list {
    void **connections;
    size_t count;
} wake_list;

static void wake_list_add(wake_list *list, events_hub *hub, subscriber *s)
{
    if (!list->connections) {
        size_t count = 0;
        for (subscriber *each = hub->subscribers; each; each = each->next)
            count++;
        list->connections = xcalloc(count + 1, sizeof *list->connections);
    }
    list->connections[list->count++] = s->connection;
}

static void wake_all(wake_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        http_stream_wake(list->connections[i]);
    free(list->connections);
}

/* ## Publishing ------------------------------------------------------------------------------------------------ */

void events_publish(events_hub *hub, const char *name, json_t *data)
{
    char *json = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    pthread_mutex_lock(&hub->lock);
    unsigned long long id = ++hub->last_id;
    char *text = xasprintf("id: %llu\nevent: %s\ndata: %s\n\n", id, name, json ? json : "null");
    size_t length = strlen(text);
    wake_list wake = {NULL, 0};
    for (subscriber *s = hub->subscribers; s; s = s->next)
        if (offer(s, text, length))
            wake_list_add(&wake, hub, s);
    remembered_event *slot = &hub->remembered[id % EVENTS_REMEMBERED];
    free(slot->text);
    *slot = (remembered_event){id, text};
    pthread_mutex_unlock(&hub->lock);
    wake_all(&wake);
    free(json);
}

void events_keepalive(events_hub *hub)
{
    static const char comment[] = ": keepalive\n\n";
    double now = clock_monotonic();
    wake_list wake = {NULL, 0};
    pthread_mutex_lock(&hub->lock);
    for (subscriber *s = hub->subscribers; s; s = s->next)
        if (now - s->last_queued >= EVENTS_KEEPALIVE_SECONDS && offer(s, comment, sizeof comment - 1))
            wake_list_add(&wake, hub, s);
    pthread_mutex_unlock(&hub->lock);
    wake_all(&wake);
}

void events_close(events_hub *hub)
{
    wake_list wake = {NULL, 0};
    pthread_mutex_lock(&hub->lock);
    hub->closed = true;
    for (subscriber *s = hub->subscribers; s; s = s->next) {
        if (s->asleep)
            wake_list_add(&wake, hub, s);
        s->asleep = false;
    }
    pthread_mutex_unlock(&hub->lock);
    wake_all(&wake);
}

size_t events_subscriber_count(events_hub *hub)
{
    size_t count = 0;
    pthread_mutex_lock(&hub->lock);
    for (subscriber *s = hub->subscribers; s; s = s->next)
        count += !s->dropped;
    pthread_mutex_unlock(&hub->lock);
    return count;
}

void events_drop_revoked(events_hub *hub, bool (*valid)(void *context, const char *key_hash), void *context)
{
    pthread_mutex_lock(&hub->lock);
    size_t count = 0;
    for (subscriber *s = hub->subscribers; s; s = s->next)
        count++;
    char (*hashes)[KEYS_HASH_HEX] = xcalloc(count + 1, sizeof *hashes);
    unsigned long *numbers = xcalloc(count + 1, sizeof *numbers);
    size_t taken = 0;
    for (subscriber *s = hub->subscribers; s; s = s->next, taken++) {
        memcpy(hashes[taken], s->key_hash, KEYS_HASH_HEX);
        numbers[taken] = s->number;
    }
    pthread_mutex_unlock(&hub->lock);
    for (size_t i = 0; i < taken; i++) /* the store is asked without the lock: publishing goes on meanwhile */
        if (valid(context, hashes[i]))
            numbers[i] = 0;
    wake_list wake = {NULL, 0};
    pthread_mutex_lock(&hub->lock);
    for (subscriber *s = hub->subscribers; s; s = s->next) {
        for (size_t i = 0; i < taken; i++) {
            if (numbers[i] != s->number || s->dropped)
                continue;
            s->dropped = true;
            log_warn("events: subscriber %lu ended: its key is no longer valid", s->number);
            if (s->asleep)
                wake_list_add(&wake, hub, s);
            s->asleep = false;
        }
    }
    pthread_mutex_unlock(&hub->lock);
    wake_all(&wake);
    free(hashes);
    free(numbers);
}

/* ## One stream ------------------------------------------------------------------------------------------------ */

/* What is queued; -1 once the hub closed or s was dropped; else 0 with the connection asleep until woken. */
static long subscriber_read(void *context, char *buffer, size_t max)
{
    subscriber *s = context;
    long given = 0;
    pthread_mutex_lock(&s->hub->lock);
    if (s->hub->closed || s->dropped) { /* what was queued for a dropped reader is not sent any more */
        given = -1;
    } else if (s->sent < s->length) {
        size_t n = s->length - s->sent < max ? s->length - s->sent : max;
        memcpy(buffer, s->queue + s->sent, n);
        s->sent += n;
        given = (long)n;
    } else {
        s->asleep = true; /* under the lock: a publisher that queues next sees it and wakes the connection */
        http_stream_wait(s->connection);
    }
    pthread_mutex_unlock(&s->hub->lock);
    return given;
}

static void subscriber_release(void *context)
{
    subscriber *s = context;
    events_hub *hub = s->hub;
    pthread_mutex_lock(&hub->lock);
    for (subscriber **link = &hub->subscribers; *link; link = &(*link)->next) {
        if (*link == s) {
            *link = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&hub->lock);
    log_info("events: subscriber %lu gone", s->number);
    free(s->queue);
    free(s);
}

/* The remembered events after last_id, for a client that reconnects (hub->lock held). */
static void replay_after(events_hub *hub, subscriber *s, unsigned long long last_id)
{
    unsigned long long first = hub->last_id > EVENTS_REMEMBERED ? hub->last_id - EVENTS_REMEMBERED + 1 : 1;
    for (unsigned long long id = last_id + 1 > first ? last_id + 1 : first; id <= hub->last_id; id++) {
        const remembered_event *event = &hub->remembered[id % EVENTS_REMEMBERED];
        if (event->id == id && event->text)
            queue_text(s, event->text, strlen(event->text));
    }
}

void events_subscribe(events_hub *hub, const http_request *request, http_response *response)
{
    const char *last = http_header(request, "Last-Event-ID");
    char *end = NULL;
    unsigned long long last_id = last ? strtoull(last, &end, 10) : 0;
    bool replay = last && end != last && *end == '\0';
    subscriber *s = xcalloc(1, sizeof *s);
    s->hub = hub;
    s->connection = request->connection;
    const char *key = http_presented_key(request);
    keys_hash(key ? key : "", s->key_hash);
    static const char opening[] = "retry: 3000\n: connected\n\n"; /* sent at once: the client knows it is live */
    pthread_mutex_lock(&hub->lock);
    bool closed = hub->closed;
    if (!closed) {
        s->number = ++hub->next_number;
        queue_text(s, opening, sizeof opening - 1);
        if (replay && last_id <= hub->last_id)
            replay_after(hub, s, last_id);
        s->next = hub->subscribers;
        hub->subscribers = s;
    }
    pthread_mutex_unlock(&hub->lock);
    if (closed) {
        free(s);
        http_error(response, 503, NULL, "the daemon is stopping");
        return;
    }
    log_info("events: subscriber %lu (%s) joined", s->number, request->caller ? request->caller->name : "?");
    response->stream = (http_stream){subscriber_read, subscriber_release, s};
    response->text_type = "text/event-stream";
    response->cache_control = "no-cache";
}
