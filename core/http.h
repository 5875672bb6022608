/* The HTTP server under the API: libmicrohttpd with a small router, bodies up to a limit, request ids, JSON in and
 * out. Routes declare the scope they need; the server asks the auth callback who the caller is. */
#ifndef HYDRA_HTTP_H
#define HYDRA_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_PARAMS 4

typedef struct http_caller {
    char tenant[64];
    char name[64];
    unsigned scopes;
} http_caller;

typedef struct http_request {
    const char *method;
    const char *path;
    const char *body;
    size_t body_length;
    const char *params[HTTP_MAX_PARAMS]; /* {name} parts of the route, in order */
    const http_caller *caller;           /* NULL on routes that need no key */
    const char *request_id;
    void *connection;                    /* for http_query / http_header */
} http_request;

/* A body produced while the connection stays open (server-sent events). read fills buffer with up to max bytes and
 * returns how many; 0 after http_stream_wait (nothing yet: the connection sleeps until http_stream_wake); -1 ends
 * the body. release is called once, when the connection is gone. */
typedef struct http_stream {
    long (*read)(void *context, char *buffer, size_t max);
    void (*release)(void *context);
    void *context;
} http_stream;

typedef struct http_response {
    int status;
    json_t *json;            /* owned; sent as application/json */
    char *text;              /* owned; sent as text_type when json is NULL */
    const char *text_type;
    int retry_after;         /* seconds; a Retry-After header when > 0 */
    size_t text_length;      /* of text when it is not a C string (a file); 0: strlen(text) */
    http_stream stream;      /* when stream.read is set, the body (json and text unused) */
    const char *cache_control;
} http_response;

typedef void (*http_handler)(void *app, const http_request *request, http_response *response);

typedef struct http_route {
    const char *method;
    const char *pattern; /* "/api/v1/recommendations/{id}/approve" */
    unsigned scope;      /* 0: no key needed */
    http_handler handler;
    const char *summary; /* one line, for the OpenAPI document */
} http_route;

/* Who holds this key: 0 and *caller filled, 1 for an unknown or revoked key, -1 when it cannot be told now. */
typedef int (*http_auth_fn)(void *app, const char *key, http_caller *caller);

typedef struct http_config {
    const char *host;
    int port;                /* 0: any free port */
    size_t max_body;
    unsigned threads;
    const http_route *routes;
    size_t route_count;
    http_auth_fn auth;
    void *app;
    double rate_limit_per_second; /* per key; 0: no limit */
    double rate_limit_burst;
    /* GET of a path no route has, outside /api/ and /metrics (the dashboard's files); NULL: 404. No key needed. */
    http_handler fallback;
} http_config;

typedef struct http_server http_server;

http_server *http_start(const http_config *config, char *error, size_t error_size);
void http_stop(http_server *server);
int http_port(const http_server *server);

/* The server's own request counts and latency histogram, Prometheus text; newly allocated. */
char *http_metrics_text(const http_server *server);

const char *http_query(const http_request *request, const char *name);
/* For an http_stream: called from its read (which then returns 0), the connection sleeps; http_stream_wake, from
 * any thread, once for each wait, wakes it and read is called again. */
void http_stream_wait(void *connection);
void http_stream_wake(void *connection);
const char *http_header(const http_request *request, const char *name);
/* The API key the request came with (Authorization: Bearer, or X-Api-Key); NULL without one. */
const char *http_presented_key(const http_request *request);

/* An OpenAPI 3 document of the routes, made from the same table the server routes by. */
json_t *http_openapi(const http_route *routes, size_t count, const char *version);

/* {"error": message, "field": field} with status; field may be NULL. */
void http_error(http_response *response, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
