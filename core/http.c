#include "http.h"

#include "clock.h"
#include "http_stats.h"
#include "log.h"
#include "ratelimit.h"
#include "util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct http_server {
    struct MHD_Daemon *daemon;
    http_config config;
    int port;
    ratelimit *limit; /* NULL: no limit */
    http_stats *stats;
};

/* What one request gathers between libmicrohttpd's calls. */
typedef struct pending_request {
    char *body;
    size_t length;
    bool too_large;
    double started; /* monotonic seconds when the headers were in */
} pending_request;

static atomic_ulong request_counter;

/* ## Helpers for handlers -------------------------------------------------------------------------------------- */

const char *http_query(const http_request *request, const char *name)
{
    return MHD_lookup_connection_value(request->connection, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const http_request *request, const char *name)
{
    return MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, name);
}

void http_error(http_response *response, int status, const char *field, const char *fmt, ...)
{
    char message[1024];
    va_list args;
    va_start(args, fmt);
    vformat_into(message, sizeof message, fmt, args);
    va_end(args);
    response->status = status;
    json_decref(response->json);
    response->json = json_pack("{s:s}", "error", message);
    if (field)
        json_object_set_new(response->json, "field", json_string(field));
}

/* ## The OpenAPI document ---------------------------------------------------------------------------------------- */

static json_t *openapi_operation(const http_route *route)
{
    json_t *responses = json_pack("{s:{s:s}}", "200", "description", "success");
    if (route->scope) {
        json_object_set_new(responses, "401", json_pack("{s:s}", "description", "no key, or an unknown one"));
        json_object_set_new(responses, "403", json_pack("{s:s}", "description", "the key lacks the scope"));
    }
    json_t *operation = json_pack("{s:s, s:o}", "summary", route->summary ? route->summary : "", "responses",
                                  responses);
    json_t *parameters = json_array();
    for (const char *brace = strchr(route->pattern, '{'); brace; brace = strchr(brace + 1, '{')) {
        const char *end = strchr(brace, '}');
        char *name = xasprintf("%.*s", (int)(end - brace - 1), brace + 1);
        json_array_append_new(parameters, json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in", "path",
                                                    "required", 1, "schema", "type", "string"));
        free(name);
    }
    json_object_set_new(operation, "parameters", parameters);
    if (route->scope)
        json_object_set_new(operation, "security", json_pack("[{s:[]}]", "bearer"));
    return operation;
}

json_t *http_openapi(const http_route *routes, size_t count, const char *version)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < count; i++) {
        json_t *path = json_object_get(paths, routes[i].pattern);
        if (!path) {
            path = json_object();
            json_object_set_new(paths, routes[i].pattern, path);
        }
        char method[8];
        size_t k = 0;
        for (; routes[i].method[k] && k < sizeof method - 1; k++)
            method[k] = (char)(routes[i].method[k] | 0x20); /* OpenAPI wants lower case */
        method[k] = '\0';
        json_object_set_new(path, method, openapi_operation(&routes[i]));
    }
    return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{s:{s:s, s:s}}}}", "openapi", "3.0.3", "info", "title",
                     "hydra API", "version", version, "paths", paths, "components", "securitySchemes", "bearer",
                     "type", "http", "scheme", "bearer");
}

/* ## Routing --------------------------------------------------------------------------------------------------- */

/* Matches path against pattern, capturing {names} into params (pointers into path_copy, which it splits). */
static bool route_matches(const char *pattern, char *path_copy, const char **params)
{
    size_t captured = 0;
    const char *p = pattern;
    char *s = path_copy;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++, s++;
        const char *p_end = strchr(p, '/');
        char *s_end = strchr(s, '/');
        size_t p_len = p_end ? (size_t)(p_end - p) : strlen(p), s_len = s_end ? (size_t)(s_end - s) : strlen(s);
        if (p[0] == '{') {
            if (s_len == 0 || captured == HTTP_MAX_PARAMS)
                return false;
            params[captured++] = s;
        } else if (p_len != s_len || strncmp(p, s, p_len) != 0) {
            return false;
        }
        p += p_len;
        s += s_len;
    }
    if (*p || *s)
        return false;
    for (size_t i = 0; i < captured; i++) { /* cut each capture at its slash */
        char *slash = strchr((char *)params[i], '/');
        if (slash)
            *slash = '\0';
    }
    return true;
}

/* The route for method and path; *path_exists tells a wrong method (405) from no such path (404). */
static const http_route *route_find(const http_config *config, const char *method, const char *path,
                                    char **path_copy, const char **params, bool *path_exists)
{
    *path_exists = false;
    for (size_t i = 0; i < config->route_count; i++) {
        free(*path_copy);
        *path_copy = xstrdup(path);
        if (!route_matches(config->routes[i].pattern, *path_copy, params))
            continue;
        *path_exists = true;
        if (strcmp(config->routes[i].method, method) == 0)
            return &config->routes[i];
    }
    return NULL;
}

/* ## Requests -------------------------------------------------------------------------------------------------- */

static void request_id_for(struct MHD_Connection *connection, char *buffer, size_t size)
{
    const char *given = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Request-Id");
    bool usable = given && given[0] && strlen(given) < size;
    for (const char *c = given; usable && *c; c++)
        usable = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                 *c == '_' || *c == '.';
    if (usable)
        format_into(buffer, size, "%s", given);
    else
        format_into(buffer, size, "req-%lx-%lu", (unsigned long)random(), atomic_fetch_add(&request_counter, 1) + 1);
}

static const char *presented_key(struct MHD_Connection *connection)
{
    const char *bearer = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
    if (bearer && strncmp(bearer, "Bearer ", 7) == 0)
        return bearer + 7;
    return MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Api-Key");
}

const char *http_presented_key(const http_request *request) { return presented_key(request->connection); }

/* The key's token bucket has a token for this request; otherwise 429 with when to try again. */
static bool admit(http_server *server, const http_caller *caller, http_response *response)
{
    int retry_after = 0;
    char key[sizeof caller->tenant + sizeof caller->name + 2];
    format_into(key, sizeof key, "%s/%s", caller->tenant, caller->name);
    if (!server->limit || ratelimit_take(server->limit, key, clock_monotonic(), &retry_after))
        return true;
    http_error(response, 429, NULL, "rate limit: the key '%s' may make %g requests a second (bursts of %g); "
               "try again in %d s", caller->name, ratelimit_rate(server->limit), ratelimit_burst(server->limit),
               retry_after);
    response->retry_after = retry_after;
    return false;
}

/* 0 when the caller may use the route; otherwise the response says why. */
static int authorize(http_server *server, const http_route *route, struct MHD_Connection *connection,
                     http_caller *caller, http_response *response)
{
    if (route->scope == 0)
        return 0;
    const char *key = presented_key(connection);
    if (!key || !key[0]) {
        http_error(response, 401, NULL, "an API key is required (Authorization: Bearer KEY)");
        return -1;
    }
    int found = server->config.auth(server->config.app, key, caller);
    if (found < 0) {
        http_error(response, 503, NULL, "cannot check the key now: the store is unavailable");
        response->retry_after = 5;
        return -1;
    }
    if (found > 0) {
        http_error(response, 401, NULL, "unknown or revoked API key");
        return -1;
    }
    if (!admit(server, caller, response))
        return -1;
    if (!(caller->scopes & route->scope)) {
        http_error(response, 403, NULL, "the key '%s' lacks the scope this route needs", caller->name);
        return -1;
    }
    return 0;
}

void http_stream_wait(void *connection) { MHD_suspend_connection(connection); }
void http_stream_wake(void *connection) { MHD_resume_connection(connection); }

static ssize_t stream_read(void *context, uint64_t position, char *buffer, size_t max)
{
    (void)position;
    const http_stream *stream = context;
    long given = stream->read(stream->context, buffer, max);
    return given < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)given;
}

static void stream_release(void *context)
{
    http_stream *stream = context;
    if (stream->release)
        stream->release(stream->context);
    free(stream);
}

static struct MHD_Response *stream_response(const http_stream *given)
{
    http_stream *stream = xmalloc(sizeof *stream);
    *stream = *given;
    struct MHD_Response *reply = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, stream,
                                                                   stream_release);
    if (!reply)
        stream_release(stream);
    return reply;
}

static struct MHD_Response *buffer_response(http_response *response)
{
    char *text = response->json ? json_dumps(response->json, JSON_COMPACT) : response->text;
    if (response->json)
        free(response->text);
    size_t length = !text ? 0 : response->json || !response->text_length ? strlen(text) : response->text_length;
    return MHD_create_response_from_buffer(length, text ? text : (char *)"",
                                           text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result send_response(struct MHD_Connection *connection, http_response *response,
                                     const char *request_id)
{
    struct MHD_Response *reply = response->stream.read ? stream_response(&response->stream)
                                                       : buffer_response(response);
    if (!reply) {
        json_decref(response->json);
        return MHD_NO;
    }
    MHD_add_response_header(reply, "Content-Type", response->json ? "application/json"
                                                   : response->text_type ? response->text_type
                                                                         : "text/plain; charset=utf-8");
    MHD_add_response_header(reply, "X-Request-Id", request_id);
    if (response->cache_control)
        MHD_add_response_header(reply, "Cache-Control", response->cache_control);
    if (response->retry_after > 0) {
        char seconds[16];
        format_into(seconds, sizeof seconds, "%d", response->retry_after);
        MHD_add_response_header(reply, "Retry-After", seconds);
    }
    enum MHD_Result result = MHD_queue_response(connection, (unsigned)response->status, reply);
    MHD_destroy_response(reply);
    json_decref(response->json);
    return result;
}

/* Answers the request into response; returns the route that took it, NULL when none did. */
static const http_route *dispatch(http_server *server, struct MHD_Connection *connection, const char *method,
                                  const char *url, pending_request *pending, const char *request_id,
                                  http_response *response)
{
    char *path_copy = NULL;
    http_request request = {method, url, pending->body ? pending->body : "", pending->length, {0}, NULL,
                            request_id, connection};
    bool path_exists;
    const http_route *route = route_find(&server->config, method, url, &path_copy, request.params, &path_exists);
    http_caller caller = {{0}, {0}, 0};
    bool outside_api = strncmp(url, "/api/", 5) != 0 && strcmp(url, "/api") != 0 && strcmp(url, "/metrics") != 0;
    if (!route && !path_exists && server->config.fallback && strcmp(method, "GET") == 0 && outside_api)
        server->config.fallback(server->config.app, &request, response);
    else if (!route)
        http_error(response, path_exists ? 405 : 404, NULL, "%s %s", path_exists ? "method not allowed:" : "no route:",
                   url);
    else if (pending->too_large)
        http_error(response, 413, NULL, "the body is larger than %zu bytes", server->config.max_body);
    else if (authorize(server, route, connection, &caller, response) == 0) {
        request.caller = route->scope ? &caller : NULL;
        route->handler(server->config.app, &request, response);
    }
    free(path_copy);
    return route;
}

static enum MHD_Result handle(void *context, struct MHD_Connection *connection, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    (void)version;
    http_server *server = context;
    pending_request *pending = *state;
    if (!pending) { /* first call: headers only; answering later keeps the connection alive */
        pending = xcalloc(1, sizeof *pending);
        pending->started = clock_monotonic();
        *state = pending;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!pending->too_large && pending->length + *upload_data_size <= server->config.max_body) {
            pending->body = xrealloc(pending->body, pending->length + *upload_data_size + 1);
            memcpy(pending->body + pending->length, upload_data, *upload_data_size);
            pending->length += *upload_data_size;
            pending->body[pending->length] = '\0';
        } else {
            pending->too_large = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    char request_id[72];
    request_id_for(connection, request_id, sizeof request_id);
    http_response response = {.status = 200};
    log_set_request_id(request_id); /* whatever the handler logs is about this request */
    const http_route *route = dispatch(server, connection, method, url, pending, request_id, &response);
    double seconds = clock_monotonic() - pending->started;
    log_info("http %s %s -> %d in %.1f ms", method, url, response.status, seconds * 1000);
    log_set_request_id(NULL);
    http_stats_record(server->stats, method, route ? route->pattern : NULL, response.status, seconds);
    return send_response(connection, &response, request_id);
}

static void request_done(void *context, struct MHD_Connection *connection, void **state,
                         enum MHD_RequestTerminationCode code)
{
    (void)context, (void)connection, (void)code;
    pending_request *pending = *state;
    if (pending) {
        free(pending->body);
        free(pending);
    }
    *state = NULL;
}

/* ## Life cycle ------------------------------------------------------------------------------------------------ */

http_server *http_start(const http_config *config, char *error, size_t error_size)
{
    http_server *server = xcalloc(1, sizeof *server);
    server->config = *config;
    server->stats = http_stats_create();
    if (config->rate_limit_per_second > 0)
        server->limit = ratelimit_create(config->rate_limit_per_second, config->rate_limit_burst);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)config->port)};
    if (inet_pton(AF_INET, config->host, &address.sin_addr) != 1) {
        format_into(error, error_size, "listen: '%s' is not an IPv4 address", config->host);
        http_stop(server);
        return NULL;
    }
    server->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, (uint16_t)config->port, NULL,
                                      NULL, handle, server, MHD_OPTION_SOCK_ADDR, &address,
                                      MHD_OPTION_THREAD_POOL_SIZE, config->threads ? config->threads : 4u,
                                      MHD_OPTION_NOTIFY_COMPLETED, request_done, server,
                                      MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!server->daemon) {
        format_into(error, error_size, "listen: cannot listen on %s:%d (in use, or not allowed)", config->host,
                    config->port);
        http_stop(server);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : config->port;
    return server;
}

void http_stop(http_server *server)
{
    if (!server)
        return;
    if (server->daemon)
        MHD_stop_daemon(server->daemon);
    ratelimit_destroy(server->limit);
    http_stats_destroy(server->stats);
    free(server);
}

/* NULL while http_start has not returned yet: a request can come in before the caller has the pointer. */
char *http_metrics_text(const http_server *server)
{
    return server ? http_stats_exposition(server->stats) : xstrdup("");
}

int http_port(const http_server *server) { return server->port; }
