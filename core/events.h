/* Server-sent events for the dashboard: the daemon publishes (a tick, a recommendation's change, an alert, the
 * clock) and every subscriber of GET /api/v1/events gets it pushed, in order, each with a monotonic id.
 *
 * Publishing never waits for a client: each subscriber has a bounded queue, and one that falls that far behind
 * (a stalled or vanished reader) is dropped with a log line; it may reconnect with Last-Event-ID and is sent the
 * events it missed that the hub still remembers. Thread-safe: the tick thread and HTTP threads publish at will. */
#ifndef HYDRA_EVENTS_H
#define HYDRA_EVENTS_H

#include "http.h"

#include <jansson.h>

#define EVENTS_KEEPALIVE_SECONDS 15.0
#define EVENTS_QUEUE_BYTES (1u << 20) /* per subscriber: beyond this much unsent, it is dropped */
#define EVENTS_REMEMBERED 512         /* events kept for a reconnect's Last-Event-ID */

typedef struct events_hub events_hub;

events_hub *events_create(void);
/* After the HTTP server has stopped (it releases every subscriber first). */
void events_destroy(events_hub *hub);

/* Sends `event: name` with data (one line of JSON; the reference is taken) to every subscriber. */
void events_publish(events_hub *hub, const char *name, json_t *data);
/* A ": keepalive" comment to subscribers that heard nothing for EVENTS_KEEPALIVE_SECONDS; call it often. */
void events_keepalive(events_hub *hub);
/* Ends every stream and refuses new ones: before the HTTP server stops, so that no connection stays asleep. */
void events_close(events_hub *hub);
size_t events_subscriber_count(events_hub *hub);
/* Ends the streams whose key `valid` no longer takes (revoked since the stream opened). valid is called without the
 * hub's lock, with the hex SHA-256 of each stream's key. */
void events_drop_revoked(events_hub *hub, bool (*valid)(void *context, const char *key_hash), void *context);

/* GET /api/v1/events: a text/event-stream response that stays open. */
void events_subscribe(events_hub *hub, const http_request *request, http_response *response);

#endif
