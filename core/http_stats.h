/* What the HTTP server counts about itself, for /metrics: requests by method, route pattern and status code, and a
 * latency histogram per method and route, in the Prometheus text exposition format. Thread-safe. Routes are the
 * table's patterns ("/api/v1/recommendations/{id}"), never raw paths, so a client cannot make the series grow. */
#ifndef HYDRA_HTTP_STATS_H
#define HYDRA_HTTP_STATS_H

typedef struct http_stats http_stats;

http_stats *http_stats_create(void);
void http_stats_destroy(http_stats *stats);

/* method and route are those of the matched route; route NULL for a request no route took (counted as
 * method "other", route "unmatched"). seconds: from the request's headers to its response. */
void http_stats_record(http_stats *stats, const char *method, const char *route, int status, double seconds);

/* The families hydra_http_requests_total (counter) and hydra_http_request_duration_seconds (histogram), newly
 * allocated; "" before any request. */
char *http_stats_exposition(http_stats *stats);

#endif
