/* The real servers the integration tests and benchmarks start: hydra serve (the built binary, on a free port, with
 * its own folder) and a throwaway PostgreSQL (tests/pg-server). Plain C without cmocka, so that the benchmarks can
 * use it too: functions return 0 / -1 and say why on stderr; the tests assert on what they return. */
#ifndef HYDRA_TEST_SERVERS_H
#define HYDRA_TEST_SERVERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ## PostgreSQL --------------------------------------------------------------------------------------------------- */

typedef struct pg_server {
    char dir[64];
    char conninfo[512]; /* "host=DIR/sock port=N dbname=postgres user=postgres" */
} pg_server;

/* A new server in a new folder under /tmp; it stops by itself should this process die first. */
int pg_server_start(pg_server *server);
/* tests/pg-server ACTION on the server's folder ("down", "up", "stop"); its output (static) in *output. */
int pg_server_run(const pg_server *server, const char *action, const char **output);
/* Runs SQL through psql in database; psql's exit status, its unaligned output (static) in *output. */
int pg_server_psql(const pg_server *server, const char *database, const char *statement, const char **output);

/* ## hydra serve --------------------------------------------------------------------------------------------------- */

typedef struct daemon_run {
    char dir[64];      /* a temporary folder: the config when one is written, the SQLite file, the daemon's log */
    char config[128];  /* what the daemon and `hydra keys` read */
    char data[128];    /* --data (the SQLite file), or "" for a store without one */
    char log[128];     /* the daemon's stderr, every run appended */
    char admin_key[128];  /* scopes ingest, read, approve */
    char reader_key[128]; /* scope read */
    pid_t pid;
    int port;
    const char *serve_args[8]; /* more arguments for hydra serve (a live demo's --scenario FILE ...), NULL-ended */
} daemon_run;

/* A folder for a daemon run. With store_setting NULL the daemon runs configs/hydra.cfg on a SQLite file in the
 * folder; otherwise the folder gets a copy of configs/hydra.cfg whose store line is store_setting, with each of the
 * NULL-terminated overrides ("tick = \"1s\";") replacing the line that sets the same name, or added at the end when
 * no line does (at most 32). Then the keys alice (ingest,read,approve) and viewer (read) are created with
 * `hydra keys create`. */
int daemon_prepare(daemon_run *d, const char *store_setting, const char *const *overrides);
/* A second replica of first: a folder and a log of its own, the same config (so the same store) and the same keys. */
int daemon_prepare_replica(daemon_run *d, const daemon_run *first);
/* A folder for a daemon that runs a config of its own: config_text is written to dir/hydra.cfg (relative paths in it
 * are relative to that folder; a SQLite store's file goes there). Then the keys, as daemon_prepare makes them. */
int daemon_prepare_config(daemon_run *d, const char *config_text);
/* hydra keys create for tenant; the secret it prints once in secret. */
int daemon_create_key(const daemon_run *d, const char *tenant, const char *name, const char *scopes, char *secret,
                      size_t size);
/* Starts the daemon and reads its port from its first line of output. */
int daemon_start(daemon_run *d);
/* Sends signal and waits for the daemon; its wait status, or -1 when none was running. */
int daemon_stop(daemon_run *d, int signal_number);
/* Stops the daemon (SIGTERM) and removes the folder. */
void daemon_cleanup(daemon_run *d);

/* One API call through the curl command, as a person makes it: method path with an optional key and JSON body;
 * extra: more curl arguments ("-H 'Idempotency-Key: k'"). status is -1 when curl could not run. */
typedef struct reply {
    int status;
    json_t *json; /* owned by the caller; NULL when the body is not JSON */
    char headers[2048];
} reply;

reply daemon_call(const daemon_run *d, const char *method, const char *path, const char *key, const char *body,
                  const char *extra);

/* GET /api/v1/recommendations/{id} with the reader key: the recommendation as JSON (the caller frees it), or NULL
 * when the answer is not 200. */
json_t *daemon_recommendation(const daemon_run *d, const char *id);

/* The body of GET path with key, for answers that are not JSON (/metrics); the caller frees it. NULL when curl
 * fails or the status is not 2xx. */
char *daemon_text(const daemon_run *d, const char *path, const char *key);

/* Ingests one sample of `load` for donations-api seconds_ahead from now and finds the pending recommendation it
 * raised: its id in id. -1 when the ingest fails or none is pending. */
int daemon_surge_to_pending(const daemon_run *d, double load, double seconds_ahead, char *id, size_t size);

/* ## A fast client (libcurl, one connection kept alive) for streams of requests ------------------------------- */

typedef struct api_client api_client;

api_client *api_client_open(int port, const char *key);
void api_client_close(api_client *client);
/* POSTs a JSON body; returns the HTTP status, 0 when no answer came (the daemon is gone), and keeps the answer's
 * body and headers for api_client_body / api_client_header. idempotency_key may be NULL. */
int api_client_post(api_client *client, const char *path, const char *body, const char *idempotency_key);
/* GETs path; the status as for api_client_post. */
int api_client_get(api_client *client, const char *path);
const char *api_client_body(const api_client *client);

/* ## Reading samples back through the store plugin, as the daemon wrote them -------------------------------------- */

/* Samples of one service and metric with from <= ts < to; *distinct counts the different times among them. -1
 * when the store cannot be opened or read (the reason on stderr). */
long store_count_samples(const char *store_name, const char *settings, const char *service, double from, double to,
                         long *distinct);

/* ## Faults ------------------------------------------------------------------------------------------------------ */

/* kill -9 of the daemon during a stream of ingests (batches with their own Idempotency-Key and sample times), a
 * restart, the batch that was in flight sent again with its key, an acknowledged one replayed; the samples counted
 * in the store (store_name with store_settings) before and after the retry. */
typedef struct kill_outcome {
    int acknowledged;  /* batches answered 200 before the kill */
    int retry_status;  /* the batch in flight at the kill, sent again after the restart */
    int replay_status; /* the last acknowledged batch, sent again */
    bool replay_same;  /* the replay answered as the first call did */
    long batch;        /* samples per batch */
    long before_retry; /* samples of the stream in the store after the restart */
    long stored;       /* after the retry and the replay */
    long distinct;     /* different sample times among them */
} kill_outcome;

int fault_kill_during_ingest(daemon_run *d, const char *store_name, const char *store_settings, kill_outcome *out);
/* True when nothing acknowledged was lost and nothing doubled; report says what happened either way. */
bool kill_outcome_holds(const kill_outcome *out, char *report, size_t size);

#endif
