/* Benchmark: hydra serve on a throwaway PostgreSQL (tests/pg-server), four figures from one run, each beside what
 * it is measured against in the same run and its target:
 *   1. ingest: rows/s of JSON batches POSTed to /api/v1/ingest/metrics, against psql \copy of the same rows into
 *      the same table (target >= 0.8x);
 *   2. metric -> pending recommendation: from the ingest call that starts a surge to the recommendation being
 *      readable from the API, several runs (target <= 100 ms);
 *   3. GET /api/v1/health per second against a bare libmicrohttpd server with the same threads (target >= 0.5x);
 *   4. wrk (tests/bench_api.lua) on /api/v1/ingest/metrics and on /api/v1/predict (the target's forecast from two
 *      days of history, and a posted series of two days) at 50, 200 and 500 connections: p50/p95/p99 and errors
 *      (target p95 < 200 ms, no errors).
 * The client, the daemon and PostgreSQL share the machine's cores: the ratios are what count. Nothing is asserted;
 * a missed target is printed as such. */
#include "servers.h"
#include "support.h"

#include "util.h"

#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INGEST_ROWS 200000
#define INGEST_BATCH 5000
#define SURGE_RUNS 7
#define HTTP_THREADS 16 /* as hydra serve runs its server */

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

static const char *verdict(bool met) { return met ? "met" : "MISSED"; }

/* ## 1. Ingest against \copy -------------------------------------------------------------------------------------- */

static double row_ts(double start, int row) { return start + row * 0.01; }

static char *http_batch(double start, int first)
{
    size_t size = (size_t)INGEST_BATCH * 80 + 16, used = 0;
    char *body = xmalloc(size);
    body[used++] = '[';
    for (int row = first; row < first + INGEST_BATCH; row++)
        used += (size_t)snprintf(body + used, size - used, "%s{\"service\":\"bench-http\",\"ts\":%.2f,\"value\":%d}",
                                 row == first ? "" : ",", row_ts(start, row), row % 1000);
    format_into(body + used, size - used, "]");
    return body;
}

static double http_rows_per_second(const daemon_run *d, double start)
{
    char *bodies[INGEST_ROWS / INGEST_BATCH];
    for (int b = 0; b < INGEST_ROWS / INGEST_BATCH; b++)
        bodies[b] = http_batch(start, b * INGEST_BATCH);
    api_client *client = api_client_open(d->port, d->admin_key);
    double began = seconds_now();
    int failed = 0;
    for (int b = 0; b < INGEST_ROWS / INGEST_BATCH; b++)
        failed += api_client_post(client, "/api/v1/ingest/metrics", bodies[b], NULL) != 200;
    double elapsed = seconds_now() - began;
    api_client_close(client);
    for (int b = 0; b < INGEST_ROWS / INGEST_BATCH; b++)
        free(bodies[b]);
    if (failed)
        fprintf(stderr, "bench: %d ingest batches failed\n", failed);
    return failed ? 0 : INGEST_ROWS / elapsed;
}

/* The same rows (another service name) as CSV, into the same partitioned table through psql \copy. */
static double copy_rows_per_second(const pg_server *server, double start)
{
    char path[] = "/tmp/hydra-bench-copy-XXXXXX";
    int fd = mkstemp(path);
    FILE *csv = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!csv)
        return 0;
    for (int row = 0; row < INGEST_ROWS; row++) {
        time_t whole = (time_t)row_ts(start, row);
        struct tm utc;
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", gmtime_r(&whole, &utc));
        fprintf(csv, "default,bench-copy,requests_per_second,%s.%02d+00,%d\n", stamp,
                (int)((row_ts(start, row) - (double)whole) * 100 + 0.5), row % 1000);
    }
    fclose(csv);
    char *statement = xasprintf("\\\\copy metric_samples (tenant, service, metric, ts, value) FROM '%s' CSV", path);
    const char *output;
    double began = seconds_now();
    int status = pg_server_psql(server, "hydra", statement, &output);
    double elapsed = seconds_now() - began;
    free(statement);
    unlink(path);
    if (status != 0)
        fprintf(stderr, "bench: \\copy failed: %s\n", output);
    return status == 0 ? INGEST_ROWS / elapsed : 0;
}

static void bench_ingest(const pg_server *server, const daemon_run *d)
{
    double start = (double)time(NULL) - 3600;
    double http = http_rows_per_second(d, start);
    double copy = copy_rows_per_second(server, start);
    double ratio = copy > 0 ? http / copy : 0;
    printf("ingest: %d rows in JSON batches of %d over HTTP into PostgreSQL: %.0f rows/s; psql \\copy of the same "
           "rows: %.0f rows/s; ratio %.2f (target >= 0.80: %s)\n",
           INGEST_ROWS, INGEST_BATCH, http, copy, ratio, verdict(ratio >= 0.8));
}

/* ## 2. Metric -> pending recommendation -------------------------------------------------------------------------- */

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One surge from the ingest call to the pending recommendation read from the API; -1 when none came in 5 s. The
 * recommendation is rejected and the daemon restarted after, so that the next run starts from the same state. */
static double surge_latency_ms(daemon_run *d)
{
    api_client *writer = api_client_open(d->port, d->admin_key), *reader = api_client_open(d->port, d->reader_key);
    char *body = xasprintf("[{\"service\":\"donations-api\",\"ts\":%.0f,\"value\":20000}]", (double)time(NULL));
    double began = seconds_now(), latency = -1;
    if (api_client_post(writer, "/api/v1/ingest/metrics", body, NULL) == 200) {
        while (seconds_now() - began < 5) {
            if (api_client_get(reader, "/api/v1/recommendations?status=pending") == 200 &&
                strstr(api_client_body(reader), "\"id\"")) {
                latency = (seconds_now() - began) * 1000;
                break;
            }
        }
    }
    json_error_t ignored;
    json_t *list = json_loads(api_client_body(reader), 0, &ignored);
    const char *id = json_string_value(
        json_object_get(json_array_get(json_object_get(list, "recommendations"), 0), "id"));
    char *reject = id ? xasprintf("/api/v1/recommendations/%s/reject", id) : NULL;
    if (reject)
        api_client_post(writer, reject, "{}", NULL);
    free(reject);
    json_decref(list);
    free(body);
    api_client_close(writer);
    api_client_close(reader);
    daemon_stop(d, SIGTERM);
    return daemon_start(d) == 0 ? latency : -1;
}

static void bench_surge(daemon_run *d)
{
    double runs[SURGE_RUNS];
    for (int i = 0; i < SURGE_RUNS; i++)
        runs[i] = surge_latency_ms(d);
    qsort(runs, SURGE_RUNS, sizeof runs[0], compare_doubles);
    bool all = runs[0] >= 0;
    printf("metric -> pending recommendation readable from the API, %d runs: p50 %.1f ms, max %.1f ms%s (target "
           "<= 100 ms: %s)\n",
           SURGE_RUNS, runs[SURGE_RUNS / 2], runs[SURGE_RUNS - 1], all ? "" : " (a run found none)",
           verdict(all && runs[SURGE_RUNS - 1] <= 100));
}

/* ## 3. GET /health against a bare libmicrohttpd server ----------------------------------------------------------- */

static enum MHD_Result bare_health(void *context, struct MHD_Connection *connection, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **state)
{
    (void)context, (void)url, (void)method, (void)version, (void)upload_data, (void)upload_data_size;
    static int headers_seen;
    if (!*state) { /* queue on the second call: answering on the first closes the connection each time */
        *state = &headers_seen;
        return MHD_YES;
    }
    static const char answer[] = "{\"status\":\"ok\",\"version\":\"" HYDRA_VERSION "\"}";
    struct MHD_Response *response = MHD_create_response_from_buffer(sizeof answer - 1, (void *)answer,
                                                                    MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(response, "Content-Type", "application/json");
    enum MHD_Result result = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    return result;
}

/* wrk's "Requests/sec:" for url, or 0. */
static double wrk_requests_per_second(const char *url)
{
    char *line = xasprintf("wrk -t1 -c32 -d3s %s", url);
    const char *output;
    int status = support_run(line, &output);
    free(line);
    const char *figure = strstr(output, "Requests/sec:");
    if (status != 0 || !figure) {
        fprintf(stderr, "bench: wrk failed: %s\n", output);
        return 0;
    }
    return atof(figure + strlen("Requests/sec:"));
}

static void bench_health(const daemon_run *d)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    struct MHD_Daemon *bare = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                                               bare_health, NULL, MHD_OPTION_SOCK_ADDR, &address,
                                               MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS, MHD_OPTION_END);
    if (!bare) {
        fprintf(stderr, "bench: the bare server did not start\n");
        return;
    }
    char url[96];
    format_into(url, sizeof url, "http://127.0.0.1:%d/api/v1/health",
                MHD_get_daemon_info(bare, MHD_DAEMON_INFO_BIND_PORT)->port);
    double bare_rate = wrk_requests_per_second(url);
    MHD_stop_daemon(bare);
    format_into(url, sizeof url, "http://127.0.0.1:%d/api/v1/health", d->port);
    double hydra_rate = wrk_requests_per_second(url);
    double ratio = bare_rate > 0 ? hydra_rate / bare_rate : 0;
    printf("GET /health: hydra %.0f/s; bare libmicrohttpd (%d threads) %.0f/s; ratio %.2f (target >= 0.50: %s)\n",
           hydra_rate, HTTP_THREADS, bare_rate, ratio, verdict(ratio >= 0.5));
}

/* ## 4. wrk load on /ingest/metrics and /predict ------------------------------------------------------------------ */

/* wrk with tests/bench_api.lua and its arguments at connections for 5 s: prints what for, the rate, the
 * percentiles, the errors. */
static void bench_wrk(const daemon_run *d, const char *what, const char *args, int connections)
{
    char *line = xasprintf("wrk -t2 -c%d -d5s --timeout 5s -s tests/bench_api.lua 'http://127.0.0.1:%d' -- %s",
                           connections, d->port, args);
    const char *output;
    int status = support_run(line, &output);
    free(line);
    double p50, p95, p99;
    long requests, errors;
    const char *result = strstr(output, "wrk-result ");
    if (status != 0 || !result ||
        sscanf(result, "wrk-result p50=%lf p95=%lf p99=%lf requests=%ld errors=%ld", &p50, &p95, &p99, &requests,
               &errors) != 5) {
        fprintf(stderr, "bench: wrk failed: %s\n", output);
        return;
    }
    printf("wrk %s, %d connections, 5 s: %.0f requests/s; p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; %ld errors "
           "(target p95 < 200 ms, no errors: %s)\n",
           what, connections, requests / 5.0, p50, p95, p99, errors, verdict(p95 < 200 && errors == 0));
}

/* Two days and an hour of minutes of donations-api up to now, so that its forecaster (holt_winters, two seasons of
 * 1440) has a forecast to give; the restart loads them into the controller as history. */
#define SEED_MINUTES (2 * 1440 + 60)
#define SEED_BATCH 1000

static char *seed_batch(double first, int from)
{
    char *body = xstrdup("[");
    for (int i = from; i < from + SEED_BATCH && i < SEED_MINUTES; i++) {
        char *more = xasprintf("%s%s{\"service\":\"donations-api\",\"ts\":%.0f,\"value\":%.1f}", body,
                               i > from ? "," : "", first + 60.0 * i, 1000 + 500 * sin(2 * M_PI * i / 1440));
        free(body);
        body = more;
    }
    char *closed = xasprintf("%s]", body);
    free(body);
    return closed;
}

static int seed_history(daemon_run *d)
{
    api_client *client = api_client_open(d->port, d->admin_key);
    double first = (double)time(NULL) - 60.0 * SEED_MINUTES;
    int status = 200;
    for (int from = 0; from < SEED_MINUTES && status == 200; from += SEED_BATCH) {
        char *body = seed_batch(first, from);
        status = api_client_post(client, "/api/v1/ingest/metrics", body, NULL);
        free(body);
    }
    api_client_close(client);
    if (status != 200) {
        fprintf(stderr, "bench: seeding donations-api answered %d\n", status);
        return -1;
    }
    daemon_stop(d, SIGTERM);
    return daemon_start(d);
}

static void bench_wrk_all(daemon_run *d)
{
    static const int connections[] = {50, 200, 500};
    char *ingest = xasprintf("ingest %s 10 %.0f", d->admin_key, (double)time(NULL) - 7200);
    char *service = xasprintf("service %s", d->reader_key), *series = xasprintf("series %s", d->reader_key);
    for (size_t i = 0; i < ARRAY_LEN(connections); i++)
        bench_wrk(d, "POST /ingest/metrics (10 samples a request)", ingest, connections[i]);
    bool seeded = seed_history(d) == 0;
    for (size_t i = 0; seeded && i < ARRAY_LEN(connections); i++)
        bench_wrk(d, "POST /predict (donations-api, 60 steps)", service, connections[i]);
    for (size_t i = 0; i < ARRAY_LEN(connections); i++)
        bench_wrk(d, "POST /predict (2880 posted values, holt_winters, 60 steps)", series, connections[i]);
    free(ingest);
    free(service);
    free(series);
}

/* ## The run ------------------------------------------------------------------------------------------------------ */

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    pg_server server;
    daemon_run d;
    memset(&d, 0, sizeof d);
    const char *output;
    if (pg_server_start(&server) != 0 || pg_server_psql(&server, "postgres", "CREATE DATABASE hydra", &output) != 0)
        return 1;
    char *store = xasprintf("store = { name = \"postgres\"; settings = { conninfo = \"%s dbname=hydra\"; }; };",
                            server.conninfo);
    int status = daemon_prepare(&d, store, NULL) == 0 && daemon_start(&d) == 0 ? 0 : 1;
    free(store);
    if (status == 0) {
        printf("bench_daemon: hydra serve on PostgreSQL 15 (tests/pg-server), one run:\n");
        bench_ingest(&server, &d);
        bench_surge(&d);
        bench_health(&d);
        bench_wrk_all(&d);
    }
    daemon_cleanup(&d);
    pg_server_run(&server, "stop", &output);
    return status;
}
