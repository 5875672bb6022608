/* store postgres: everything the daemon keeps, in PostgreSQL, shared by several controller replicas.
 *
 * Settings: conninfo (libpq connection string or URI, required); retention_days (0..100000, default 30; 0 keeps
 * samples forever); partition ("day", the default, "week" or "month": the time range of one samples partition);
 * pg_bin (the folder of pg_dump and pg_restore for backup and restore; default: found on $PATH).
 *
 * Samples live in metric_samples, partitioned by time:
 *   - with the TimescaleDB extension available, a hypertable with a retention policy, compression after 7 days and
 *     a 1-minute continuous aggregate (metric_samples_1m);
 *   - without it, native declarative partitioning (PARTITION BY RANGE (ts)): append_samples creates the partitions
 *     it writes into inside its own transaction (idempotently, under an advisory lock, so replicas do not race), and
 *     retention drops whole partitions older than retention_days by the host's clock, in migrate and at most once
 *     an hour after appends.
 * Sample times are timestamptz (microsecond precision): both layouts partition on a real time column. Every other
 * time is double precision Unix seconds, as the records carry them.
 *
 * The same schema and conventions as the SQLite store: an optional time that is 0 ("not yet") is stored as NULL and
 * read back as 0; a NULL string stays NULL; a NaN forecast peak is stored as NULL and read back as NaN; tenants and
 * services are created on first use in the transaction that first mentions them, so tenant-owned rows reference them
 * with foreign keys. The exception is metric_samples, which has no foreign key: a check per row would slow COPY.
 *
 * One connection per instance, guarded by a mutex (the daemon calls from several threads). Visitors run after the
 * mutex is released, on a result already read, so a visitor may call the store again. When the server is gone the
 * error starts with "unavailable: " and the next call reconnects (PQreset). Appends without an idempotency key
 * that wait for the connection together are written in one transaction (group commit). Every statement is parameterised; the
 * only SQL assembled at run time is built by the server (format() with %I/%L) from times this file computed.
 *
 * Leadership: a session advisory lock (pg_try_advisory_lock) held on a second connection of its own, named
 * "hydra leader NAME" in pg_stat_activity. The server drops the lock with the session: when the holder exits or dies,
 * at once; when its host vanishes, once the server's TCP keepalives give up (set to about 30 s on that session). */
#include <hydra/plugin.h>

#include "../common/store_rules.h"

#include <libpq-fe.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h> /* isfinite, isnan, INFINITY, NAN: macros, so no libm */
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RETENTION_DAYS_DEFAULT 30
#define RETENTION_DAYS_MAX 100000
#define RETENTION_INTERVAL 3600.0  /* host-clock seconds between two retention runs after appends */
#define SECONDS_PER_DAY 86400.0
#define POSTGRES_EPOCH 946684800.0 /* 2000-01-01 in Unix seconds: binary timestamptz counts from there */
#define TS_MAX 253402300800.0      /* 10000-01-01: partition names carry a four-digit year */
#define COPY_BUFFER_SIZE (256 * 1024)
#define PARTITION_CACHE_MAX 4096
#define MAX_PARAMS 20
#define EXPORT_CHUNK "10000"        /* rows per round trip of export_samples */
#define TOOL_OUTPUT_MAX (64 * 1024) /* what is kept of pg_dump's or pg_restore's output */

typedef enum partition_unit { UNIT_DAY, UNIT_WEEK, UNIT_MONTH } partition_unit;

typedef enum samples_layout { LAYOUT_UNKNOWN, LAYOUT_PARTITIONED, LAYOUT_HYPERTABLE } samples_layout;

typedef struct pg_store {
    const hydra_host *host;
    pthread_mutex_t lock;
    PGconn *conn;
    long long retention_days;
    partition_unit unit;
    samples_layout layout;
    double retention_ran_at; /* host clock; -INFINITY before the first run */
    double *partitions;      /* starts of partitions known to exist: saves a round trip per append */
    size_t partition_count;
    size_t partition_capacity;
    int samples_metric;
    /* Group commit: appends without an idempotency key that arrive while one is being written wait here, and the
     * next writer takes all of one tenant's in one transaction. */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_changed;
    struct append_waiter *queue;
    bool writing;
    const char *pg_bin; /* folder of pg_dump and pg_restore; "" for $PATH */
    const char *conninfo; /* borrowed from the host until destroy */
    pthread_mutex_t leader_lock;
    PGconn *leader_conn;  /* the lock's own session: NULL until first asked, and after it was lost */
    bool leader_held;
    char leader_name[128];
} pg_store;

/* ## Parameters: every value goes to the server as a parameter; numbers are formatted here ---------------------- */

typedef struct params {
    const char *values[MAX_PARAMS];
    char numbers[MAX_PARAMS][32];
    int count;
} params;

static void param_text(params *p, const char *text) { p->values[p->count++] = text; }

/* %.17g round-trips every double; the server reads "nan" and "inf" too. */
static void param_double(params *p, double value)
{
    snprintf(p->numbers[p->count], sizeof p->numbers[0], "%.17g", value);
    param_text(p, p->numbers[p->count]);
}

static void param_int(params *p, long long value)
{
    snprintf(p->numbers[p->count], sizeof p->numbers[0], "%lld", value);
    param_text(p, p->numbers[p->count]);
}

/* An optional time: 0 ("not yet") is NULL, so that queries can say IS NULL. */
static void param_time(params *p, double at)
{
    if (at == 0)
        param_text(p, NULL);
    else
        param_double(p, at);
}

static void param_maybe_nan(params *p, double value)
{
    if (isnan(value))
        param_text(p, NULL);
    else
        param_double(p, value);
}

/* ## Errors and the connection ------------------------------------------------------------------------------- */

static int invalid(pg_store *self, const char *fmt, ...) HYDRA_PRINTF(2, 3);
static int invalid(pg_store *self, const char *fmt, ...)
{
    char message[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    self->host->set_error(self->host, "%s", message);
    return -1;
}

/* One line, however many libpq's message has ("...failed: ...\n\tIs the server running...?"), so that the host's
 * log line stays one line. */
static void set_error_from(pg_store *self, const char *prefix, const char *what, const char *message)
{
    char line[1024];
    size_t length = 0;
    for (const char *c = message; *c && length + 1 < sizeof line; c++) {
        bool space = *c == '\n' || *c == '\t';
        if (!space)
            line[length++] = *c;
        else if (length && line[length - 1] != ' ')
            line[length++] = ' ';
    }
    while (length && line[length - 1] == ' ')
        length--;
    line[length] = '\0';
    self->host->set_error(self->host, "%s%s: %s (database %s)", prefix, what, line,
                          PQdb(self->conn) ? PQdb(self->conn) : "?");
}

/* True when a failure means the server is gone or refusing connections, not that the request was wrong. */
static bool connection_lost(const pg_store *self, const PGresult *result)
{
    if (PQstatus(self->conn) != CONNECTION_OK)
        return true;
    const char *state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return false;
    return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
           strcmp(state, "57P03") == 0;
}

/* The server's primary message when there is one ("duplicate key value violates..."), without the "ERROR:" and
 * CONTEXT lines around it; libpq's own message for connection failures. */
static int report_failure(pg_store *self, const char *what, const PGresult *result)
{
    const char *primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *message = primary                                         ? primary
                          : result && PQresultErrorMessage(result)[0] ? PQresultErrorMessage(result)
                                                                      : PQerrorMessage(self->conn);
    set_error_from(self, connection_lost(self, result) ? "unavailable: " : "", what, message);
    return -1;
}

/* A connection known to be broken is reset before use; a failed reset is reported as unavailable. */
static bool connection_ready(pg_store *self, const char *what)
{
    if (PQstatus(self->conn) == CONNECTION_OK)
        return true;
    PQreset(self->conn);
    if (PQstatus(self->conn) == CONNECTION_OK)
        return true;
    set_error_from(self, "unavailable: ", what, PQerrorMessage(self->conn));
    return false;
}

static PGresult *exec_params(pg_store *self, const char *sql, const params *p)
{
    return PQexecParams(self->conn, sql, p ? p->count : 0, NULL, p ? p->values : NULL, NULL, NULL, 0);
}

static bool result_ok(const PGresult *result)
{
    ExecStatusType status = PQresultStatus(result);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

/* Runs a statement; returns its result, or NULL after reporting why. */
static PGresult *run(pg_store *self, const char *what, const char *sql, const params *p)
{
    PGresult *result = exec_params(self, sql, p);
    if (result_ok(result))
        return result;
    report_failure(self, what, result);
    PQclear(result);
    return NULL;
}

/* The first statement of an operation. When it finds the connection dead (the server restarted since the last
 * call) nothing has been done yet, so it reconnects and tries once more. */
static PGresult *run_first(pg_store *self, const char *what, const char *sql, const params *p)
{
    if (!connection_ready(self, what))
        return NULL;
    PGresult *result = exec_params(self, sql, p);
    if (!result_ok(result) && PQstatus(self->conn) != CONNECTION_OK) {
        PQclear(result);
        PQreset(self->conn);
        result = exec_params(self, sql, p);
    }
    if (result_ok(result))
        return result;
    report_failure(self, what, result);
    PQclear(result);
    return NULL;
}

static int run_command(pg_store *self, const char *what, const char *sql, const params *p)
{
    PGresult *result = run(self, what, sql, p);
    PQclear(result);
    return result ? 0 : -1;
}

/* Rows a command changed. */
static long command_rows(PGresult *result) { return strtol(PQcmdTuples(result), NULL, 10); }

/* ## Transactions -------------------------------------------------------------------------------------------- */

/* The work of one write inside its transaction: 0 to commit, 1 to roll back with "nothing to do" (an idempotent
 * replay, a lost race), -1 to roll back after setting the error. */
typedef int (*transaction_body)(pg_store *self, void *args);

/* Best effort: on a lost connection the server has rolled back already, and the first error is the one to keep. */
static void rollback(pg_store *self) { PQclear(PQexec(self->conn, "ROLLBACK")); }

static int transaction_locked(pg_store *self, const char *what, const char *begin, transaction_body body, void *args)
{
    PGresult *begun = run_first(self, what, begin, NULL);
    if (!begun)
        return -1;
    PQclear(begun);
    int result = body(self, args);
    if (result == 0 && run_command(self, what, "COMMIT", NULL) != 0)
        result = -1;
    if (result != 0)
        rollback(self);
    return result;
}

static int write_transaction(pg_store *self, const char *what, transaction_body body, void *args)
{
    pthread_mutex_lock(&self->lock);
    int result = transaction_locked(self, what, "BEGIN", body, args);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* A one-statement read; the result is the caller's to visit (with the mutex released) and clear. */
static PGresult *read_locked(pg_store *self, const char *what, const char *sql, const params *p)
{
    pthread_mutex_lock(&self->lock);
    PGresult *result = run_first(self, what, sql, p);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* op names the operation in an error: "append_samples: add tenant: ...". */
static int ensure_tenant(pg_store *self, const char *op, const char *tenant)
{
    char what[64];
    snprintf(what, sizeof what, "%s: add tenant", op);
    params p = {.count = 0};
    param_text(&p, tenant);
    param_double(&p, self->host->now(self->host));
    return run_command(self, what,
                       "INSERT INTO tenants (id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", &p);
}

static int ensure_service(pg_store *self, const char *op, const char *tenant, const char *service)
{
    char what[64];
    snprintf(what, sizeof what, "%s: add service", op);
    params p = {.count = 0};
    param_text(&p, tenant);
    param_text(&p, service);
    param_double(&p, self->host->now(self->host));
    return run_command(self, what,
                       "INSERT INTO services (tenant, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                       &p);
}

/* ## Reading results ----------------------------------------------------------------------------------------- */

/* NULL for SQL NULL, so a string that was never set comes back as it went in. */
static const char *field_text(const PGresult *result, int row, int column)
{
    return PQgetisnull(result, row, column) ? NULL : PQgetvalue(result, row, column);
}

/* NULL reads as 0: "not yet". */
static double field_double(const PGresult *result, int row, int column)
{
    return PQgetisnull(result, row, column) ? 0 : strtod(PQgetvalue(result, row, column), NULL);
}

static double field_maybe_nan(const PGresult *result, int row, int column)
{
    return PQgetisnull(result, row, column) ? NAN : strtod(PQgetvalue(result, row, column), NULL);
}

static int field_int(const PGresult *result, int row, int column)
{
    return PQgetisnull(result, row, column) ? 0 : (int)strtol(PQgetvalue(result, row, column), NULL, 10);
}

/* ## Validation: before any transaction, so that a bad request writes nothing and is not called unavailable -- */



static int require_tenant(pg_store *self, const char *op, const char *tenant)
{
    return text_present(tenant) ? 0 : invalid(self, "%s: tenant must be a non-empty name", op);
}

static int require_state(pg_store *self, const char *op, const char *field, const char *state)
{
    if (state_known(state))
        return 0;
    return invalid(self, "%s: %s '%s' is not one of pending, approved, rejected, expired, executing, executed, failed",
                   op, field, state ? state : "(null)");
}

/* ## Schema: versioned migrations, each in its own transaction ----------------------------------------------- *
 *
 * Append only: a released migration is never edited (a database that has it would not get the change); change
 * the schema with a new one. Tables, columns and constraints match the SQLite store's. */

/* pg_advisory_xact_lock keys: migrations and partition changes are serialised across replicas. */
#define LOCK_MIGRATIONS "7290117"
#define LOCK_PARTITIONS "7290118"

#define STATES "('pending', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed')"

static const char *const schema_core[] = {
    "CREATE TABLE tenants ("
    "  id text PRIMARY KEY,"
    "  created_at double precision NOT NULL)",

    "CREATE TABLE api_keys ("
    "  hash text PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),"
    "  tenant text NOT NULL REFERENCES tenants (id),"
    "  name text NOT NULL CHECK (name <> ''),"
    "  scopes text NOT NULL,"
    "  created_at double precision NOT NULL,"
    "  revoked_at double precision)",
    "CREATE UNIQUE INDEX api_keys_valid_name ON api_keys (tenant, name) WHERE revoked_at IS NULL",
    "CREATE INDEX api_keys_by_tenant ON api_keys (tenant, name, created_at)",

    "CREATE TABLE services ("
    "  tenant text NOT NULL REFERENCES tenants (id),"
    "  name text NOT NULL CHECK (name <> ''),"
    "  created_at double precision NOT NULL,"
    "  PRIMARY KEY (tenant, name))",

    "CREATE TABLE forecasts ("
    "  tenant text NOT NULL,"
    "  service text NOT NULL,"
    "  metric text NOT NULL,"
    "  made_at double precision NOT NULL,"
    "  ts double precision NOT NULL,"
    "  forecaster text NOT NULL,"
    "  mean double precision NOT NULL,"
    "  lower80 double precision, upper80 double precision, lower95 double precision, upper95 double precision,"
    "  PRIMARY KEY (tenant, service, metric, made_at, ts),"
    "  FOREIGN KEY (tenant, service) REFERENCES services (tenant, name))",

    "CREATE TABLE alerts ("
    "  tenant text NOT NULL,"
    "  id text NOT NULL CHECK (id <> ''),"
    "  service text NOT NULL,"
    "  metric text NOT NULL,"
    "  at double precision NOT NULL,"
    "  score double precision NOT NULL CHECK (score >= 0 AND score <= 1),"
    "  message text,"
    "  PRIMARY KEY (tenant, id),"
    "  FOREIGN KEY (tenant, service) REFERENCES services (tenant, name))",
    "CREATE INDEX alerts_by_time ON alerts (tenant, at)",

    "CREATE TABLE recommendations ("
    "  tenant text NOT NULL REFERENCES tenants (id),"
    "  id text NOT NULL CHECK (id <> ''),"
    "  target text NOT NULL,"
    "  state text NOT NULL CHECK (state IN " STATES "),"
    "  from_replicas integer NOT NULL CHECK (from_replicas >= 0),"
    "  to_replicas integer NOT NULL CHECK (to_replicas >= 0),"
    "  asked integer NOT NULL CHECK (asked IN (0, 1)),"
    "  forecast_peak double precision,"
    "  forecast_peak_at double precision,"
    "  created_at double precision NOT NULL,"
    "  expires_at double precision,"
    "  decided_at double precision,"
    "  finished_at double precision,"
    "  reason text,"
    "  decided_by text,"
    "  decision_reason text,"
    "  result text,"
    "  PRIMARY KEY (tenant, id))",
    "CREATE INDEX recommendations_newest ON recommendations (tenant, created_at, id)",
    "CREATE INDEX recommendations_by_state ON recommendations (tenant, state, created_at, id)",

    "CREATE TABLE recommendation_events ("
    "  seq bigserial PRIMARY KEY,"
    "  tenant text NOT NULL,"
    "  recommendation_id text NOT NULL,"
    "  from_state text NOT NULL CHECK (from_state IN " STATES "),"
    "  to_state text NOT NULL CHECK (to_state IN " STATES "),"
    "  at double precision NOT NULL,"
    "  actor text,"
    "  why text,"
    "  FOREIGN KEY (tenant, recommendation_id) REFERENCES recommendations (tenant, id) ON DELETE CASCADE)",
    "CREATE INDEX recommendation_events_history ON recommendation_events (tenant, recommendation_id, at, seq)",

    "CREATE TABLE idempotency_keys ("
    "  tenant text NOT NULL REFERENCES tenants (id),"
    "  key text NOT NULL CHECK (key <> ''),"
    "  response text NOT NULL,"
    "  created_at double precision NOT NULL,"
    "  PRIMARY KEY (tenant, key))",
    "CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at)",

    "CREATE TABLE audit_log ("
    "  seq bigserial PRIMARY KEY,"
    "  tenant text NOT NULL REFERENCES tenants (id),"
    "  at double precision NOT NULL,"
    "  actor text NOT NULL,"
    "  action text NOT NULL,"
    "  subject text,"
    "  detail text,"
    "  request_id text)",
    "CREATE INDEX audit_log_by_time ON audit_log (tenant, at)",

    /* PostgreSQL only: what the database was created with (the partition unit cannot change later). */
    "CREATE TABLE store_settings (name text PRIMARY KEY, value text NOT NULL)",
    NULL,
};

/* seq breaks ties between samples of one time in the order they were written, as SQLite's rowid does. */
#define SAMPLES_TABLE                                                                                              \
    "CREATE TABLE metric_samples ("                                                                                \
    "  tenant text NOT NULL,"                                                                                      \
    "  service text NOT NULL,"                                                                                     \
    "  metric text NOT NULL CHECK (metric <> ''),"                                                                 \
    "  ts timestamptz NOT NULL,"                                                                                   \
    "  value double precision NOT NULL,"                                                                           \
    "  seq bigserial NOT NULL)"

/* Native partitioning. The functions build DDL server-side from timestamps only, quoted with %I and %L. */
static const char *const schema_samples_partitioned[] = {
    SAMPLES_TABLE " PARTITION BY RANGE (ts)",
    "CREATE INDEX metric_samples_series_ts ON metric_samples (tenant, service, metric, ts)",
    "CREATE FUNCTION hydra_samples_partition(lower timestamptz, upper timestamptz) RETURNS boolean"
    " LANGUAGE plpgsql AS $$"
    " DECLARE name text := 'metric_samples_p' || to_char(lower AT TIME ZONE 'UTC', 'YYYYMMDD');"
    " BEGIN"
    "   IF to_regclass(name) IS NOT NULL THEN RETURN false; END IF;"
    "   PERFORM pg_advisory_xact_lock(" LOCK_PARTITIONS ");"
    "   IF to_regclass(name) IS NOT NULL THEN RETURN false; END IF;"
    "   EXECUTE format('CREATE TABLE %I PARTITION OF metric_samples FOR VALUES FROM (%L) TO (%L)',"
    "                  name, lower, upper);"
    "   RETURN true;"
    " END $$",
    "CREATE FUNCTION hydra_samples_drop_before(cutoff timestamptz) RETURNS integer"
    " LANGUAGE plpgsql AS $$"
    " DECLARE part record; dropped integer := 0;"
    " BEGIN"
    "   PERFORM pg_advisory_xact_lock(" LOCK_PARTITIONS ");"
    "   FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    "               WHERE i.inhparent = 'metric_samples'::regclass"
    "                 AND c.relname ~ '^metric_samples_p[0-9]{8}$'"
    "                 AND to_date(substr(c.relname, 17), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC' < cutoff"
    "   LOOP"
    "     EXECUTE format('DROP TABLE %I', part.relname);"
    "     dropped := dropped + 1;"
    "   END LOOP;"
    "   RETURN dropped;"
    " END $$",
    NULL,
};

/* TimescaleDB: compression and the continuous aggregate are set here; retention is a policy migrate renews. $1 is
 * the chunk interval. */
static const char *const schema_samples_timescale[] = {
    "CREATE EXTENSION IF NOT EXISTS timescaledb",
    SAMPLES_TABLE,
    "SELECT create_hypertable('metric_samples', 'ts', chunk_time_interval => $1::interval)",
    "CREATE INDEX metric_samples_series_ts ON metric_samples (tenant, service, metric, ts)",
    "ALTER TABLE metric_samples SET (timescaledb.compress,"
    "  timescaledb.compress_segmentby = 'tenant, service, metric', timescaledb.compress_orderby = 'ts, seq')",
    "SELECT add_compression_policy('metric_samples', INTERVAL '7 days')",
    "CREATE MATERIALIZED VIEW metric_samples_1m WITH (timescaledb.continuous) AS"
    "  SELECT tenant, service, metric, time_bucket(INTERVAL '1 minute', ts) AS bucket,"
    "         avg(value) AS mean, min(value) AS min, max(value) AS max, count(*) AS samples"
    "  FROM metric_samples GROUP BY tenant, service, metric, bucket WITH NO DATA",
    "SELECT add_continuous_aggregate_policy('metric_samples_1m', start_offset => INTERVAL '1 hour',"
    "  end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute')",
    NULL,
};

/* 3: a person can pause a service; the daemon reads it back at start. */
static const char *const schema_services_paused[] = {
    "ALTER TABLE services ADD COLUMN paused integer NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),"
    "  ADD COLUMN paused_at double precision, ADD COLUMN paused_by text",
    NULL,
};

/* 4: the model registry: every fitted model saved, one version active per service and model. */
static const char *const schema_model_versions[] = {
    "CREATE TABLE model_versions ("
    "  tenant text NOT NULL,"
    "  service text NOT NULL,"
    "  model text NOT NULL CHECK (model <> ''),"
    "  version bigint NOT NULL CHECK (version >= 1),"
    "  active integer NOT NULL CHECK (active IN (0, 1)),"
    "  state text NOT NULL,"
    "  checksum text NOT NULL CHECK (length(checksum) = 64),"
    "  trained_from double precision NOT NULL,"
    "  trained_to double precision NOT NULL,"
    "  metrics text,"
    "  created_at double precision NOT NULL,"
    "  note text,"
    "  PRIMARY KEY (tenant, service, model, version),"
    "  FOREIGN KEY (tenant, service) REFERENCES services (tenant, name))",
    "CREATE UNIQUE INDEX model_versions_one_active ON model_versions (tenant, service, model) WHERE active = 1",
    "CREATE INDEX model_versions_newest ON model_versions (tenant, service, model, version DESC)",
    NULL,
};

/* Migrations after the first two, in order: migration 3 is later[0]. */
static const char *const *const schema_later[] = {schema_services_paused, schema_model_versions};

enum { SCHEMA_VERSION = 4 };

static const char *unit_name(partition_unit unit)
{
    return unit == UNIT_DAY ? "day" : unit == UNIT_WEEK ? "week" : "month";
}

/* Runs each statement of a migration; a statement using $1 gets the partition interval (in days: TimescaleDB
 * refuses chunk intervals counted in months). */
static int run_statements(pg_store *self, const char *const *statements)
{
    const char *interval = self->unit == UNIT_DAY ? "1 day" : self->unit == UNIT_WEEK ? "7 days" : "30 days";
    for (; *statements; statements++) {
        params p = {.count = 0};
        if (strstr(*statements, "$1"))
            param_text(&p, interval);
        if (run_command(self, "migrate", *statements, &p) < 0)
            return -1;
    }
    return 0;
}

static int apply_core(pg_store *self)
{
    if (run_statements(self, schema_core) < 0)
        return -1;
    params p = {.count = 0};
    param_text(&p, unit_name(self->unit));
    return run_command(self, "migrate", "INSERT INTO store_settings (name, value) VALUES ('partition', $1)", &p);
}

/* TimescaleDB can be installed yet unusable (not preloaded, or the Apache edition without compression and
 * policies): then the savepoint takes back whatever it did and the samples are partitioned natively. */
static bool timescale_set_up(pg_store *self)
{
    PGresult *found = run(self, "migrate", "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'", NULL);
    bool available = found && PQntuples(found) > 0;
    PQclear(found);
    if (!available || run_command(self, "migrate", "SAVEPOINT timescale", NULL) < 0)
        return false;
    if (run_statements(self, schema_samples_timescale) == 0)
        return true;
    char reason[512];
    snprintf(reason, sizeof reason, "%s", PQerrorMessage(self->conn));
    reason[strcspn(reason, "\n")] = '\0';
    self->host->log(self->host, HYDRA_LOG_WARN, "TimescaleDB is available but cannot be used (%s): using native "
                    "partitions", reason);
    return false;
}

static int apply_samples(pg_store *self)
{
    if (timescale_set_up(self)) {
        self->host->log(self->host, HYDRA_LOG_INFO, "metric_samples: a TimescaleDB hypertable, chunks of a %s",
                        unit_name(self->unit));
        return 0;
    }
    if (PQtransactionStatus(self->conn) == PQTRANS_INERROR &&
        run_command(self, "migrate", "ROLLBACK TO SAVEPOINT timescale", NULL) < 0)
        return -1;
    self->host->log(self->host, HYDRA_LOG_INFO, "metric_samples: native partitions of a %s", unit_name(self->unit));
    return run_statements(self, schema_samples_partitioned);
}

static int migration_record(pg_store *self, int version)
{
    params p = {.count = 0};
    param_int(&p, version);
    param_double(&p, self->host->now(self->host));
    return run_command(self, "migrate", "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", &p);
}

static int refuse_newer(pg_store *self, int found)
{
    return invalid(self,
                   "migrate: the database %s has schema version %d, newer than version %d that this build of hydra "
                   "knows: upgrade hydra (a newer hydra has used this database; an older one must not write to it)",
                   PQdb(self->conn), found, SCHEMA_VERSION);
}

/* One migration per transaction, under the migrations lock: reads the version recorded so far (another replica
 * may have moved it), refuses a newer one, applies the next one or finds none to apply (returns 1). */
static int migration_step(pg_store *self, void *args)
{
    int *version = args;
    if (run_command(self, "migrate", "SELECT pg_advisory_xact_lock(" LOCK_MIGRATIONS ")", NULL) < 0 ||
        run_command(self, "migrate",
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "  version integer PRIMARY KEY,"
                    "  applied_at double precision NOT NULL)",
                    NULL) < 0)
        return -1;
    PGresult *result = run(self, "migrate", "SELECT coalesce(max(version), 0) FROM schema_migrations", NULL);
    if (!result)
        return -1;
    *version = field_int(result, 0, 0);
    PQclear(result);
    if (*version > SCHEMA_VERSION)
        return refuse_newer(self, *version);
    if (*version == SCHEMA_VERSION)
        return 1;
    int next = *version + 1;
    int applied = next == 1 ? apply_core(self) : next == 2 ? apply_samples(self)
                                                            : run_statements(self, schema_later[next - 3]);
    if (applied < 0 || migration_record(self, next) < 0) {
        self->host->log(self->host, HYDRA_LOG_ERROR, "migration %d of database %s failed", next, PQdb(self->conn));
        return -1;
    }
    *version = next;
    return 0;
}

/* ## Time buckets: the range one partition covers ------------------------------------------------------------ */

/* Times here are >= 0 (samples are validated, cutoffs checked), so truncation is floor and libm is not needed. */
static double bucket_start(partition_unit unit, double ts)
{
    long long day = (long long)(ts / SECONDS_PER_DAY);
    if (unit == UNIT_DAY)
        return (double)day * SECONDS_PER_DAY;
    if (unit == UNIT_WEEK) /* weeks start on Monday, like date_trunc('week'); 1970-01-01 was a Thursday */
        return (double)(day - (day + 3) % 7) * SECONDS_PER_DAY;
    time_t seconds = (time_t)day * 86400;
    struct tm parts;
    gmtime_r(&seconds, &parts);
    parts.tm_mday = 1;
    return (double)timegm(&parts);
}

static double bucket_end(partition_unit unit, double start)
{
    if (unit == UNIT_DAY)
        return start + SECONDS_PER_DAY;
    if (unit == UNIT_WEEK)
        return start + 7 * SECONDS_PER_DAY;
    return bucket_start(unit, start + 32 * SECONDS_PER_DAY);
}

static bool partition_known(const pg_store *self, double start)
{
    for (size_t i = self->partition_count; i-- > 0;)
        if (self->partitions[i] == start)
            return true;
    return false;
}

/* Remembering only saves a round trip: when memory runs short the partition is "created" again, a no-op. */
static void partition_remember(pg_store *self, double start)
{
    if (partition_known(self, start))
        return;
    if (self->partition_count == PARTITION_CACHE_MAX)
        self->partition_count = 0;
    if (self->partition_count == self->partition_capacity) {
        size_t capacity = self->partition_capacity ? 2 * self->partition_capacity : 16;
        double *grown = realloc(self->partitions, capacity * sizeof *grown);
        if (!grown)
            return;
        self->partitions = grown;
        self->partition_capacity = capacity;
    }
    self->partitions[self->partition_count++] = start;
}

/* ## Layout and retention ------------------------------------------------------------------------------------ */

static partition_unit unit_parse(const char *name)
{
    return strcmp(name, "week") == 0 ? UNIT_WEEK : strcmp(name, "month") == 0 ? UNIT_MONTH : UNIT_DAY;
}

/* Learns how metric_samples is stored and by what unit it was partitioned: the database's word wins over the
 * setting, since existing partitions cannot be re-cut. */
static int layout_load(pg_store *self)
{
    PGresult *result = run_first(self, "migrate",
                                 "SELECT (SELECT relkind FROM pg_class WHERE oid = to_regclass('metric_samples')),"
                                 " (SELECT value FROM store_settings WHERE name = 'partition')",
                                 NULL);
    if (!result)
        return -1;
    const char *kind = field_text(result, 0, 0);
    const char *unit = field_text(result, 0, 1);
    if (unit && strcmp(unit, unit_name(self->unit)) != 0) {
        self->host->log(self->host, HYDRA_LOG_WARN,
                        "setting partition = \"%s\" ignored: metric_samples was created partitioned by %s",
                        unit_name(self->unit), unit);
        self->unit = unit_parse(unit);
    }
    self->layout = !kind ? LAYOUT_UNKNOWN : kind[0] == 'p' ? LAYOUT_PARTITIONED : LAYOUT_HYPERTABLE;
    PQclear(result);
    return 0;
}

static int retention_partitions(pg_store *self, double cutoff)
{
    params p = {.count = 0};
    param_double(&p, bucket_start(self->unit, cutoff));
    PGresult *result = run_first(self, "retention", "SELECT hydra_samples_drop_before(to_timestamp($1))", &p);
    if (!result)
        return -1;
    int dropped = field_int(result, 0, 0);
    PQclear(result);
    if (dropped > 0) {
        self->partition_count = 0; /* forget them all: the next appends learn again which remain */
        self->host->log(self->host, HYDRA_LOG_INFO, "retention: dropped %d partition(s) of metric_samples", dropped);
    }
    return 0;
}

/* Replaced in one transaction under the migrations lock, so that replicas starting together leave one policy. */
static int retention_policy_body(pg_store *self, void *args)
{
    (void)args;
    if (run_command(self, "retention", "SELECT pg_advisory_xact_lock(" LOCK_MIGRATIONS ")", NULL) < 0 ||
        run_command(self, "retention", "SELECT remove_retention_policy('metric_samples', if_exists => true)", NULL) < 0)
        return -1;
    if (self->retention_days == 0)
        return 0;
    params p = {.count = 0};
    param_int(&p, self->retention_days);
    return run_command(self, "retention",
                       "SELECT add_retention_policy('metric_samples', make_interval(days => $1::integer))", &p);
}

static int retention_policy(pg_store *self)
{
    return transaction_locked(self, "retention", "BEGIN", retention_policy_body, NULL);
}

/* Partitions are dropped here; a hypertable's retention is TimescaleDB's own policy, renewed only by migrate
 * (renewing re-creates a background job). Also forgets the idempotency keys older than the samples they guarded. */
static int retention_run(pg_store *self, bool in_migrate)
{
    double now = self->host->now(self->host);
    self->retention_ran_at = now;
    if (self->layout == LAYOUT_HYPERTABLE && in_migrate && retention_policy(self) < 0)
        return -1;
    if (self->retention_days == 0)
        return 0;
    double cutoff = now - (double)self->retention_days * SECONDS_PER_DAY;
    if (cutoff <= 0) /* nothing is older than 1970 */
        return 0;
    if (self->layout == LAYOUT_PARTITIONED && retention_partitions(self, cutoff) < 0)
        return -1;
    params p = {.count = 0};
    param_double(&p, cutoff);
    return run_command(self, "retention", "DELETE FROM idempotency_keys WHERE created_at < $1", &p);
}

/* ## migrate and health -------------------------------------------------------------------------------------- */

static int migrate_locked(pg_store *self, int *version)
{
    int step = 0;
    while (step == 0) {
        step = transaction_locked(self, "migrate", "BEGIN", migration_step, version);
        if (step == 0)
            self->host->log(self->host, HYDRA_LOG_INFO, "database %s migrated to schema version %d",
                            PQdb(self->conn), *version);
    }
    if (step < 0 || layout_load(self) < 0)
        return -1;
    return retention_run(self, true);
}

static int store_migrate(void *state, int *version)
{
    pg_store *self = state;
    int found = 0;
    pthread_mutex_lock(&self->lock);
    int result = migrate_locked(self, &found);
    pthread_mutex_unlock(&self->lock);
    if (result == 0 && version)
        *version = found;
    return result;
}

/* Reaches the server: a broken connection is reset first, and every way of failing is "unavailable: ". */
static int store_health(void *state)
{
    PGresult *answer = read_locked(state, "health", "SELECT 1", NULL);
    PQclear(answer);
    return answer ? 0 : -1;
}

/* ## Samples: validation, partitions, services --------------------------------------------------------------- */

typedef struct append_args {
    const char *tenant;
    const hydra_sample *samples;
    size_t count;
    const char *key;
    char *response;
    size_t response_size;
    double *created; /* partitions created by this transaction, remembered once it commits */
    size_t created_count;
} append_args;

static int samples_validate(pg_store *self, const append_args *a)
{
    if (require_tenant(self, "append_samples", a->tenant) != 0)
        return -1;
    if (a->count > 0 && !a->samples)
        return invalid(self, "append_samples: %zu samples but no array", a->count);
    if (a->key && !a->key[0])
        return invalid(self, "append_samples: an idempotency key must not be empty (pass NULL for none)");
    for (size_t i = 0; i < a->count; i++) {
        const hydra_sample *s = &a->samples[i];
        if (!text_present(s->service) || !text_present(s->metric))
            return invalid(self, "append_samples: sample %zu: service and metric must be non-empty names", i);
        if (!isfinite(s->ts) || !isfinite(s->value))
            return invalid(self, "append_samples: sample %zu (%s %s): ts %g and value %g must be finite numbers", i,
                           s->service, s->metric, s->ts, s->value);
        if (s->ts < 0 || s->ts >= TS_MAX)
            return invalid(self, "append_samples: sample %zu (%s %s): ts %.0f is outside 1970..9999", i, s->service,
                           s->metric, s->ts);
    }
    return 0;
}

static int partition_create(pg_store *self, double start)
{
    params p = {.count = 0};
    param_double(&p, start);
    param_double(&p, bucket_end(self->unit, start));
    return run_command(self, "append_samples: create partition",
                       "SELECT hydra_samples_partition(to_timestamp($1), to_timestamp($2))", &p);
}

static bool created_here(const append_args *a, double start)
{
    for (size_t i = 0; i < a->created_count; i++)
        if (a->created[i] == start)
            return true;
    return false;
}

/* Inside the append's transaction, so that a rolled-back append leaves no partition behind. */
static int partitions_ensure(pg_store *self, append_args *a)
{
    double last = -1;
    for (size_t i = 0; i < a->count; i++) {
        double start = bucket_start(self->unit, a->samples[i].ts);
        if (start == last || partition_known(self, start) || created_here(a, start))
            continue;
        last = start;
        double *grown = realloc(a->created, (a->created_count + 1) * sizeof *grown);
        if (!grown)
            return invalid(self, "append_samples: out of memory");
        a->created = grown;
        a->created[a->created_count++] = start;
        if (partition_create(self, start) < 0)
            return -1;
    }
    return 0;
}

/* The batch's services as a text[] literal (a parameter value, never SQL): {"web","api"}. Neighbours that repeat
 * are left out, since a batch is usually one service. */
static char *services_literal(const append_args *a)
{
    size_t size = 3;
    for (size_t i = 0; i < a->count; i++)
        size += 2 * strlen(a->samples[i].service) + 3;
    char *text = malloc(size), *end = text;
    if (!text)
        return NULL;
    *end++ = '{';
    for (size_t i = 0; i < a->count; i++) {
        const char *service = a->samples[i].service;
        if (i > 0 && strcmp(service, a->samples[i - 1].service) == 0)
            continue;
        if (end > text + 1)
            *end++ = ',';
        *end++ = '"';
        for (const char *c = service; *c; c++) {
            if (*c == '"' || *c == '\\')
                *end++ = '\\';
            *end++ = *c;
        }
        *end++ = '"';
    }
    *end++ = '}';
    *end = '\0';
    return text;
}

/* One round trip for both: the services' foreign key sees the tenant the WITH clause added, since the check runs
 * at the end of the statement. */
static int tenant_and_services(pg_store *self, const append_args *a)
{
    char *services = services_literal(a);
    if (!services)
        return invalid(self, "append_samples: out of memory");
    params p = {.count = 0};
    param_text(&p, a->tenant);
    param_text(&p, services);
    param_double(&p, self->host->now(self->host));
    int result = run_command(self, "append_samples: add tenant and services",
                             "WITH tenant AS"
                             " (INSERT INTO tenants (id, created_at) VALUES ($1, $3) ON CONFLICT DO NOTHING)"
                             " INSERT INTO services (tenant, name, created_at)"
                             " SELECT DISTINCT $1, name, $3 FROM unnest($2::text[]) AS name ON CONFLICT DO NOTHING",
                             &p);
    free(services);
    return result;
}

/* ## Samples: binary COPY ------------------------------------------------------------------------------------ */

/* The binary COPY format: big-endian integers, a length before every field. Binary needs no escaping of names and
 * no formatting of times; COPY is what psql \copy uses, so ingest keeps its pace. */
typedef struct copy_buffer {
    char *data;
    size_t length;
} copy_buffer;

static void put_u16(copy_buffer *b, uint16_t v)
{
    b->data[b->length++] = (char)(v >> 8);
    b->data[b->length++] = (char)v;
}

static void put_u32(copy_buffer *b, uint32_t v)
{
    put_u16(b, (uint16_t)(v >> 16));
    put_u16(b, (uint16_t)v);
}

static void put_u64(copy_buffer *b, uint64_t v)
{
    put_u32(b, (uint32_t)(v >> 32));
    put_u32(b, (uint32_t)v);
}

static void put_text(copy_buffer *b, const char *text, size_t length)
{
    put_u32(b, (uint32_t)length);
    memcpy(b->data + b->length, text, length);
    b->length += length;
}

static void put_double(copy_buffer *b, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_u32(b, 8);
    put_u64(b, bits);
}

/* x rounded to the nearest integer, ties to even: rint() in the default rounding mode, without libm. */
static int64_t round_even(double x)
{
    int64_t whole = (int64_t)x; /* toward zero */
    double rest = x - (double)whole;
    if (rest > 0.5 || (rest == 0.5 && whole % 2 != 0))
        whole++;
    else if (rest < -0.5 || (rest == -0.5 && whole % 2 != 0))
        whole--;
    return whole;
}

/* Microseconds since 2000-01-01, rounded exactly as to_timestamp() rounds (rint), so that a sample written here
 * and a bound given to to_timestamp() in a query name the same instant. */
static void put_timestamp(copy_buffer *b, double ts)
{
    put_u32(b, 8);
    put_u64(b, (uint64_t)round_even((ts - POSTGRES_EPOCH) * 1e6));
}

static size_t row_size(size_t tenant_length, const hydra_sample *s)
{
    return 2 + 3 * 4 + tenant_length + strlen(s->service) + strlen(s->metric) + 2 * (4 + 8);
}

static int copy_flush(pg_store *self, copy_buffer *b)
{
    if (b->length && PQputCopyData(self->conn, b->data, (int)b->length) != 1)
        return report_failure(self, "append_samples: copy", NULL);
    b->length = 0;
    return 0;
}

static int copy_rows(pg_store *self, copy_buffer *b, const append_args *a)
{
    static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0"; /* signature, flags, extension length */
    memcpy(b->data, header, sizeof header);
    b->length = sizeof header;
    size_t tenant_length = strlen(a->tenant);
    for (size_t i = 0; i < a->count; i++) {
        const hydra_sample *s = &a->samples[i];
        size_t need = row_size(tenant_length, s);
        if (need + 2 > COPY_BUFFER_SIZE)
            return invalid(self, "append_samples: sample %zu: tenant, service and metric names are too long", i);
        if (b->length + need + 2 > COPY_BUFFER_SIZE && copy_flush(self, b) < 0)
            return -1;
        put_u16(b, 5);
        put_text(b, a->tenant, tenant_length);
        put_text(b, s->service, strlen(s->service));
        put_text(b, s->metric, strlen(s->metric));
        put_timestamp(b, s->ts);
        put_double(b, s->value);
    }
    put_u16(b, 0xffff); /* trailer */
    return copy_flush(self, b);
}

/* Ends the COPY: with no error it hands the rows to the transaction, otherwise it aborts them (returns -1). When
 * the connection broke, libpq may keep answering "still copying": stop reading then, or this would never end. */
static int copy_finish(pg_store *self, const char *error)
{
    int result = PQputCopyEnd(self->conn, error) == 1 || error ? 0 : report_failure(self, "append_samples", NULL);
    PGresult *last;
    while ((last = PQgetResult(self->conn))) {
        ExecStatusType status = PQresultStatus(last);
        if (result == 0 && !error && status != PGRES_COMMAND_OK)
            result = report_failure(self, "append_samples", last);
        PQclear(last);
        if (status == PGRES_COPY_IN || PQstatus(self->conn) != CONNECTION_OK)
            break;
    }
    return error ? -1 : result;
}

static int samples_copy(pg_store *self, const append_args *a)
{
    PGresult *started = exec_params(
        self, "COPY metric_samples (tenant, service, metric, ts, value) FROM STDIN (FORMAT binary)", NULL);
    if (PQresultStatus(started) != PGRES_COPY_IN) {
        report_failure(self, "append_samples: copy", started);
        PQclear(started);
        return -1;
    }
    PQclear(started);
    copy_buffer buffer = {.data = malloc(COPY_BUFFER_SIZE)};
    if (!buffer.data) {
        invalid(self, "append_samples: out of memory");
        return copy_finish(self, "out of memory");
    }
    int result = copy_rows(self, &buffer, a);
    free(buffer.data);
    return copy_finish(self, result == 0 ? NULL : "append_samples failed");
}

/* ## Samples: idempotency and the operations ----------------------------------------------------------------- */

/* Claims the key for this call (0), or finds it used and copies the first response out (1). Two calls with one key
 * serialise on its primary key: the second waits for the first to commit, then finds its row. */
static int idempotency_claim(pg_store *self, const append_args *a)
{
    /* The response is text the caller put in its buffer; never read past the buffer even if it lacks a NUL. */
    size_t length = a->response ? strnlen(a->response, a->response_size) : 0;
    char *response = malloc(length + 1);
    if (!response)
        return invalid(self, "append_samples: out of memory");
    memcpy(response, a->response ? a->response : "", length);
    response[length] = '\0';
    params p = {.count = 0};
    param_text(&p, a->tenant);
    param_text(&p, a->key);
    param_text(&p, response);
    param_double(&p, self->host->now(self->host));
    PGresult *result = run(self, "append_samples: store idempotency key",
                           "INSERT INTO idempotency_keys (tenant, key, response, created_at)"
                           " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                           &p);
    free(response);
    if (!result)
        return -1;
    long claimed = command_rows(result);
    PQclear(result);
    if (claimed == 1)
        return 0;
    p.count = 2;
    result = run(self, "append_samples: look up idempotency key",
                 "SELECT response FROM idempotency_keys WHERE tenant = $1 AND key = $2", &p);
    if (!result)
        return -1;
    if (PQntuples(result) == 1 && a->response && a->response_size > 0)
        snprintf(a->response, a->response_size, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    return 1;
}

/* Tenant and services, the key (a replay stops there and everything is rolled back), partitions, then the rows. */
static int append_body(pg_store *self, void *args)
{
    append_args *a = args;
    if (tenant_and_services(self, a) < 0)
        return -1;
    if (a->key) {
        int claimed = idempotency_claim(self, a);
        if (claimed != 0)
            return claimed;
    }
    if (a->count == 0)
        return 0;
    if (self->layout == LAYOUT_UNKNOWN && layout_load(self) < 0)
        return -1;
    if (self->layout == LAYOUT_PARTITIONED && partitions_ensure(self, a) < 0)
        return -1;
    return samples_copy(self, a);
}

static void retention_after_append(pg_store *self)
{
    if (self->host->now(self->host) - self->retention_ran_at < RETENTION_INTERVAL)
        return;
    /* The samples are committed: a failed clean-up is worth a warning, and another try in an hour. */
    if (retention_run(self, false) < 0)
        self->host->log(self->host, HYDRA_LOG_WARN, "retention failed; trying again in an hour");
}

/* One transaction for the appends of args; 0 once all of it is committed. */
static int append_write(pg_store *self, append_args *args)
{
    pthread_mutex_lock(&self->lock);
    int result = transaction_locked(self, "append_samples", "BEGIN", append_body, args);
    for (size_t i = 0; result == 0 && i < args->created_count; i++)
        partition_remember(self, args->created[i]);
    if (result == 0)
        retention_after_append(self);
    pthread_mutex_unlock(&self->lock);
    free(args->created);
    return result;
}

/* ## Samples: group commit --------------------------------------------------------------------------------------- *
 * Under load every append paid a transaction of its own on the one connection (five round trips), and callers
 * queued on the mutex: at 500 concurrent clients p95 reached a second. Appends waiting together now share one
 * transaction; each caller still returns only once its samples are committed, and a failure fails them all, so each
 * batch stays all or nothing. Appends with an idempotency key keep their own transaction (a replay writes nothing). */

typedef struct append_waiter {
    append_args *args;
    int result;
    bool done;
    struct append_waiter *next;
} append_waiter;

/* Takes from the queue every waiter of tenant, in arrival order; queue_lock held. */
static append_waiter *queue_take(pg_store *self, const char *tenant)
{
    append_waiter *taken = NULL, **taken_end = &taken, **at = &self->queue;
    while (*at) {
        append_waiter *w = *at;
        if (strcmp(w->args->tenant, tenant) != 0) {
            at = &w->next;
            continue;
        }
        *at = w->next;
        w->next = NULL;
        *taken_end = w;
        taken_end = &w->next;
    }
    return taken;
}

/* The samples of every waiter in one array (strings stay borrowed from the waiters, who wait for this). */
static int group_write(pg_store *self, append_waiter *group)
{
    if (!group->next)
        return append_write(self, group->args);
    size_t total = 0;
    for (append_waiter *w = group; w; w = w->next)
        total += w->args->count;
    hydra_sample *samples = malloc(total * sizeof *samples);
    if (!samples)
        return invalid(self, "append_samples: out of memory");
    size_t at = 0;
    for (append_waiter *w = group; w; w = w->next) {
        memcpy(samples + at, w->args->samples, w->args->count * sizeof *samples);
        at += w->args->count;
    }
    append_args combined = {group->args->tenant, samples, total, NULL, NULL, 0, NULL, 0};
    int result = append_write(self, &combined);
    free(samples);
    return result;
}

/* Waits until this append is written, by another caller's transaction or, when none is under way, by writing the
 * queue's appends of its tenant itself. */
static int append_grouped(pg_store *self, append_args *args)
{
    append_waiter me = {args, -1, false, NULL};
    pthread_mutex_lock(&self->queue_lock);
    append_waiter **tail = &self->queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = &me;
    while (!me.done) {
        if (self->writing) {
            pthread_cond_wait(&self->queue_changed, &self->queue_lock);
            continue;
        }
        self->writing = true;
        append_waiter *group = queue_take(self, args->tenant);
        pthread_mutex_unlock(&self->queue_lock);
        int result = group_write(self, group);
        pthread_mutex_lock(&self->queue_lock);
        for (append_waiter *w = group, *next; w; w = next) {
            next = w->next; /* a waiter's record is gone once it sees done */
            w->result = result;
            w->done = true;
        }
        self->writing = false;
        pthread_cond_broadcast(&self->queue_changed);
    }
    pthread_mutex_unlock(&self->queue_lock);
    return me.result;
}

static int store_append_samples(void *state, const char *tenant, const hydra_sample *samples, size_t count,
                                const char *idempotency_key, char *response, size_t response_size)
{
    pg_store *self = state;
    append_args args = {tenant, samples, count, idempotency_key, response, response_size, NULL, 0};
    if (samples_validate(self, &args) != 0)
        return -1;
    int result = idempotency_key || count == 0 ? append_write(self, &args) : append_grouped(self, &args);
    if (result == 0 && self->samples_metric >= 0)
        self->host->metric_add(self->host, self->samples_metric, (double)count);
    return result;
}

static int store_query_samples(void *state, const char *tenant, const char *service, const char *metric, double from,
                               double to, hydra_sample_visitor visit, void *context)
{
    pg_store *self = state;
    if (require_tenant(self, "query_samples", tenant) != 0)
        return -1;
    if (!service || !metric || !visit || isnan(from) || isnan(to))
        return invalid(self, "query_samples: service, metric, visitor and a from/to range are required");
    /* Bounds beyond what timestamptz holds are clamped: nothing is stored outside 1970..9999 anyway. */
    params p = {.count = 0};
    param_text(&p, tenant);
    param_text(&p, service);
    param_text(&p, metric);
    param_double(&p, from < -1 ? -1 : from > TS_MAX ? TS_MAX : from);
    param_double(&p, to < -1 ? -1 : to > TS_MAX ? TS_MAX : to);
    PGresult *result = read_locked(self, "query_samples",
                                   "SELECT extract(epoch FROM ts), value FROM metric_samples"
                                   " WHERE tenant = $1 AND service = $2 AND metric = $3"
                                   "   AND ts >= to_timestamp($4) AND ts < to_timestamp($5)"
                                   " ORDER BY ts, seq",
                                   &p);
    if (!result)
        return -1;
    for (int row = 0, rows = PQntuples(result); row < rows; row++)
        if (visit(context, field_double(result, row, 0), field_double(result, row, 1)) != 0)
            break;
    PQclear(result);
    return 0;
}

/* Keyset pages of EXPORT_CHUNK rows, each its own read: memory stays bounded however many rows the tenant has, and
 * the visitor runs with the mutex released, as for every other read. */
static int store_export_samples(void *state, const char *tenant, double since, hydra_sample_sink visit,
                                void *context)
{
    pg_store *self = state;
    if (require_tenant(self, "export_samples", tenant) != 0)
        return -1;
    if (!visit || isnan(since))
        return invalid(self, "export_samples: a visitor and a start time are required");
    char last[4][256] = {"", "", "", ""}; /* service, metric, ts (as the server prints it), seq of the last row */
    for (bool more = true, stop = false; more && !stop;) {
        params p = {.count = 0};
        param_text(&p, tenant);
        param_double(&p, since < -1 ? -1 : since > TS_MAX ? TS_MAX : since);
        for (int i = 0; i < 4; i++)
            param_text(&p, last[3][0] ? last[i] : NULL);
        PGresult *result = read_locked(self, "export_samples",
                                       "SELECT service, metric, extract(epoch FROM ts), value, ts::text, seq"
                                       " FROM metric_samples WHERE tenant = $1 AND ts >= to_timestamp($2)"
                                       "   AND ($6::bigint IS NULL OR"
                                       "        (service, metric, ts, seq) > ($3, $4, $5::timestamptz, $6::bigint))"
                                       " ORDER BY service, metric, ts, seq LIMIT " EXPORT_CHUNK,
                                       &p);
        if (!result)
            return -1;
        int rows = PQntuples(result);
        for (int row = 0; row < rows && !stop; row++) {
            hydra_sample sample = {field_text(result, row, 0), field_text(result, row, 1),
                                   field_double(result, row, 2), field_double(result, row, 3)};
            stop = visit(context, &sample) != 0;
        }
        for (int i = 0; rows > 0 && i < 4; i++)
            snprintf(last[i], sizeof last[i], "%s", PQgetvalue(result, rows - 1, i < 2 ? i : i + 2));
        more = rows == atoi(EXPORT_CHUNK);
        PQclear(result);
    }
    return 0;
}

/* Epoch-aligned buckets; percentile_disc(0.95) is the nearest rank, the value at rank ceil(0.95 n), as in SQLite. */
static int store_aggregate_samples(void *state, const char *tenant, const char *service, const char *metric,
                                   double from, double to, double bucket_seconds, hydra_bucket_visitor visit,
                                   void *context)
{
    pg_store *self = state;
    const char *problem = aggregate_problem(tenant, service, metric, visit != NULL, from, to, bucket_seconds);
    if (problem)
        return invalid(self, "%s", problem);
    params p = {.count = 0};
    param_text(&p, tenant);
    param_text(&p, service);
    param_text(&p, metric);
    param_double(&p, from < -1 ? -1 : from > TS_MAX ? TS_MAX : from);
    param_double(&p, to < -1 ? -1 : to > TS_MAX ? TS_MAX : to);
    param_double(&p, bucket_seconds);
    PGresult *result = read_locked(self, "aggregate_samples",
                                   "SELECT floor(extract(epoch FROM ts)::float8 / $6::float8) * $6::float8 AS start,"
                                   "       count(*), avg(value), min(value), max(value),"
                                   "       percentile_disc(0.95) WITHIN GROUP (ORDER BY value)"
                                   "  FROM metric_samples"
                                   " WHERE tenant = $1 AND service = $2 AND metric = $3"
                                   "   AND ts >= to_timestamp($4) AND ts < to_timestamp($5)"
                                   " GROUP BY 1 ORDER BY 1",
                                   &p);
    if (!result)
        return -1;
    for (int row = 0, rows = PQntuples(result); row < rows; row++) {
        hydra_sample_bucket bucket = {field_double(result, row, 0), strtoll(PQgetvalue(result, row, 1), NULL, 10),
                                      field_double(result, row, 2), field_double(result, row, 3),
                                      field_double(result, row, 4), field_double(result, row, 5)};
        if (visit(context, &bucket) != 0)
            break;
    }
    PQclear(result);
    return 0;
}

/* ## Services ------------------------------------------------------------------------------------------------ */

static int paused_body(pg_store *self, void *args)
{
    const hydra_service_record *r = args;
    if (ensure_tenant(self, "set_service_paused", r->tenant) != 0 ||
        ensure_service(self, "set_service_paused", r->tenant, r->name) != 0)
        return -1;
    bool paused = r->paused != 0;
    params p = {.count = 0};
    param_text(&p, r->tenant);
    param_text(&p, r->name);
    param_int(&p, paused);
    param_time(&p, paused ? r->paused_at : 0);
    param_text(&p, paused ? r->paused_by : NULL);
    return run_command(self, "set_service_paused",
                       "UPDATE services SET paused = $3, paused_at = $4, paused_by = $5"
                       " WHERE tenant = $1 AND name = $2",
                       &p);
}

static int store_set_service_paused(void *state, const hydra_service_record *record)
{
    pg_store *self = state;
    const char *problem = service_pause_problem(record);
    if (problem)
        return invalid(self, "%s", problem);
    return write_transaction(self, "set_service_paused", paused_body, (void *)record);
}

static int store_list_services(void *state, const char *tenant, hydra_service_visitor visit, void *context)
{
    pg_store *self = state;
    if (require_tenant(self, "list_services", tenant) != 0)
        return -1;
    if (!visit)
        return invalid(self, "list_services: a visitor is required");
    params p = {.count = 0};
    param_text(&p, tenant);
    PGresult *result = read_locked(self, "list_services",
                                   "SELECT tenant, name, paused, paused_at, paused_by FROM services"
                                   " WHERE tenant = $1 ORDER BY name",
                                   &p);
    if (!result)
        return -1;
    for (int row = 0, rows = PQntuples(result); row < rows; row++) {
        hydra_service_record record = {field_text(result, row, 0), field_text(result, row, 1),
                                       field_int(result, row, 2), field_double(result, row, 3),
                                       field_text(result, row, 4)};
        if (visit(context, &record) != 0)
            break;
    }
    PQclear(result);
    return 0;
}

/* ## The model registry ------------------------------------------------------------------------------------ */

#define MODEL_COLUMNS                                                                                              \
    "tenant, service, model, version, active, state, checksum, trained_from, trained_to, metrics, created_at, note"

typedef struct model_put_args {
    const hydra_model_record *record;
    long long *version;
} model_put_args;

static int model_deactivate_others(pg_store *self, const char *what, const char *tenant, const char *service,
                                   const char *model)
{
    params p = {.count = 0};
    param_text(&p, tenant);
    param_text(&p, service);
    param_text(&p, model);
    return run_command(self, what,
                       "UPDATE model_versions SET active = 0 WHERE tenant = $1 AND service = $2 AND model = $3"
                       " AND active = 1",
                       &p);
}

/* The service's row is locked first: two replicas saving at once number their versions one after the other. */
static int model_put_body(pg_store *self, void *args)
{
    const model_put_args *a = args;
    const hydra_model_record *r = a->record;
    if (ensure_tenant(self, "put_model_version", r->tenant) != 0 ||
        ensure_service(self, "put_model_version", r->tenant, r->service) != 0)
        return -1;
    params key = {.count = 0};
    param_text(&key, r->tenant);
    param_text(&key, r->service);
    param_text(&key, r->model);
    if (run_command(self, "put_model_version",
                    "SELECT 1 FROM services WHERE tenant = $1 AND name = $2 AND $3::text IS NOT NULL FOR UPDATE",
                    &key) != 0 ||
        (r->active && model_deactivate_others(self, "put_model_version", r->tenant, r->service, r->model) != 0))
        return -1;
    PGresult *next = run(self, "put_model_version",
                         "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE tenant = $1 AND"
                         " service = $2 AND model = $3",
                         &key);
    if (!next)
        return -1;
    *a->version = strtoll(PQgetvalue(next, 0, 0), NULL, 10);
    PQclear(next);
    params p = {.count = 0};
    param_text(&p, r->tenant);
    param_text(&p, r->service);
    param_text(&p, r->model);
    param_int(&p, *a->version);
    param_int(&p, r->active != 0);
    param_text(&p, r->state);
    param_text(&p, r->checksum);
    param_double(&p, r->trained_from);
    param_double(&p, r->trained_to);
    param_text(&p, r->metrics);
    param_double(&p, r->created_at);
    param_text(&p, r->note);
    return run_command(self, "put_model_version",
                       "INSERT INTO model_versions (" MODEL_COLUMNS ")"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                       &p);
}

static int store_put_model_version(void *state, const hydra_model_record *record, long long *version)
{
    pg_store *self = state;
    const char *problem = model_version_problem(record, version);
    if (problem)
        return invalid(self, "%s", problem);
    model_put_args args = {record, version};
    return write_transaction(self, "put_model_version", model_put_body, &args);
}

typedef struct model_activate_args {
    const char *tenant, *service, *model;
    long long version;
} model_activate_args;

static int model_activate_body(pg_store *self, void *args)
{
    const model_activate_args *a = args;
    if (model_deactivate_others(self, "activate_model_version", a->tenant, a->service, a->model) != 0)
        return -1;
    params p = {.count = 0};
    param_text(&p, a->tenant);
    param_text(&p, a->service);
    param_text(&p, a->model);
    param_int(&p, a->version);
    PGresult *result = run(self, "activate_model_version",
                           "UPDATE model_versions SET active = 1 WHERE tenant = $1 AND service = $2 AND model = $3"
                           " AND version = $4",
                           &p);
    if (!result)
        return -1;
    long changed = command_rows(result);
    PQclear(result);
    return changed == 0 ? 1 : 0; /* no such version: roll back, the active one stays */
}

static int store_activate_model_version(void *state, const char *tenant, const char *service, const char *model,
                                        long long version)
{
    pg_store *self = state;
    const char *problem = model_lookup_problem(tenant, service, true);
    if (problem || !text_present(model) || version < 1)
        return invalid(self, "activate_model_version: %s", problem ? problem : "a model and a version >= 1 are needed");
    model_activate_args args = {tenant, service, model, version};
    return write_transaction(self, "activate_model_version", model_activate_body, &args);
}

static int models_visit(PGresult *result, hydra_model_visitor visit, void *context)
{
    int rows = PQntuples(result);
    for (int row = 0; row < rows; row++) {
        hydra_model_record record = {field_text(result, row, 0),
                                     field_text(result, row, 1),
                                     field_text(result, row, 2),
                                     strtoll(PQgetvalue(result, row, 3), NULL, 10),
                                     field_int(result, row, 4),
                                     field_text(result, row, 5),
                                     field_text(result, row, 6),
                                     field_double(result, row, 7),
                                     field_double(result, row, 8),
                                     field_text(result, row, 9),
                                     field_double(result, row, 10),
                                     field_text(result, row, 11)};
        if (visit(context, &record) != 0)
            break;
    }
    PQclear(result);
    return rows;
}

static int store_get_model_version(void *state, const char *tenant, const char *service, const char *model,
                                   long long version, hydra_model_visitor visit, void *context)
{
    pg_store *self = state;
    const char *problem = model_lookup_problem(tenant, service, visit != NULL);
    if (problem || !text_present(model) || version < 0)
        return invalid(self, "get_model_version: %s", problem ? problem : "a model and a version >= 0 are needed");
    params p = {.count = 0};
    param_text(&p, tenant);
    param_text(&p, service);
    param_text(&p, model);
    param_int(&p, version);
    PGresult *result = read_locked(self, "get_model_version",
                                   "SELECT " MODEL_COLUMNS " FROM model_versions WHERE tenant = $1 AND service = $2"
                                   " AND model = $3 AND (version = $4 OR ($4 = 0 AND active = 1))",
                                   &p);
    if (!result)
        return -1;
    return models_visit(result, visit, context) > 0 ? 0 : 1;
}

static int store_list_model_versions(void *state, const char *tenant, const char *service, const char *model,
                                     hydra_model_visitor visit, void *context)
{
    pg_store *self = state;
    const char *problem = model_lookup_problem(tenant, service, visit != NULL);
    if (problem)
        return invalid(self, "list_model_versions: %s", problem);
    params p = {.count = 0};
    param_text(&p, tenant);
    param_text(&p, service);
    param_text(&p, model);
    PGresult *result = read_locked(self, "list_model_versions",
                                   "SELECT " MODEL_COLUMNS " FROM model_versions WHERE tenant = $1 AND service = $2"
                                   " AND ($3::text IS NULL OR model = $3) ORDER BY model, version DESC",
                                   &p);
    if (!result)
        return -1;
    models_visit(result, visit, context);
    return 0;
}

/* ## Recommendations ----------------------------------------------------------------------------------------- */

#define RECOMMENDATION_COLUMNS                                                                                     \
    "tenant, id, target, state, from_replicas, to_replicas, asked, forecast_peak, forecast_peak_at, created_at,"   \
    " expires_at, decided_at, finished_at, reason, decided_by, decision_reason, result"

/* $1..$17 in RECOMMENDATION_COLUMNS order. created_at is never updated: it is when the recommendation was made,
 * whatever a later save says. */
static const char recommendation_upsert[] =
    "INSERT INTO recommendations (" RECOMMENDATION_COLUMNS ")"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    " ON CONFLICT (tenant, id) DO UPDATE SET target = $3, state = $4, from_replicas = $5, to_replicas = $6,"
    " asked = $7, forecast_peak = $8, forecast_peak_at = $9, expires_at = $11, decided_at = $12,"
    " finished_at = $13, reason = $14, decided_by = $15, decision_reason = $16, result = $17";

/* The compare-and-set, the same columns less created_at, then the expected state: checked and changed by one
 * statement, whose row lock makes a second decider wait and then find that the state has moved on. */
static const char recommendation_update_if[] =
    "UPDATE recommendations SET target = $3, state = $4, from_replicas = $5, to_replicas = $6, asked = $7,"
    " forecast_peak = $8, forecast_peak_at = $9, expires_at = $10, decided_at = $11, finished_at = $12,"
    " reason = $13, decided_by = $14, decision_reason = $15, result = $16"
    " WHERE tenant = $1 AND id = $2 AND state = $17";

static void recommendation_params(params *p, const hydra_recommendation_record *r, bool with_created_at)
{
    param_text(p, r->tenant);
    param_text(p, r->id);
    param_text(p, r->target);
    param_text(p, r->state);
    param_int(p, r->from_replicas);
    param_int(p, r->to_replicas);
    param_int(p, r->asked ? 1 : 0);
    param_maybe_nan(p, r->forecast_peak);
    param_maybe_nan(p, r->forecast_peak_at);
    if (with_created_at)
        param_double(p, r->created_at);
    param_time(p, r->expires_at);
    param_time(p, r->decided_at);
    param_time(p, r->finished_at);
    param_text(p, r->reason);
    param_text(p, r->decided_by);
    param_text(p, r->decision_reason);
    param_text(p, r->result);
}

static hydra_recommendation_record recommendation_from(const PGresult *result, int row)
{
    return (hydra_recommendation_record){
        .tenant = field_text(result, row, 0),
        .id = field_text(result, row, 1),
        .target = field_text(result, row, 2),
        .state = field_text(result, row, 3),
        .from_replicas = field_int(result, row, 4),
        .to_replicas = field_int(result, row, 5),
        .asked = field_int(result, row, 6),
        .forecast_peak = field_maybe_nan(result, row, 7),
        .forecast_peak_at = field_maybe_nan(result, row, 8),
        .created_at = field_double(result, row, 9),
        .expires_at = field_double(result, row, 10),
        .decided_at = field_double(result, row, 11),
        .finished_at = field_double(result, row, 12),
        .reason = field_text(result, row, 13),
        .decided_by = field_text(result, row, 14),
        .decision_reason = field_text(result, row, 15),
        .result = field_text(result, row, 16),
    };
}

typedef struct save_args {
    const hydra_recommendation_record *record;
    const hydra_recommendation_event *event;
    const char *expected_state;
} save_args;

static int save_validate(pg_store *self, const save_args *a)
{
    const hydra_recommendation_record *r = a->record;
    const char *op = "save_recommendation";
    if (!r || !a->event)
        return invalid(self, "%s: a record and the event that changed it are required", op);
    if (require_tenant(self, op, r->tenant) != 0)
        return -1;
    if (!text_present(r->id) || !text_present(r->target))
        return invalid(self, "%s: id and target must be non-empty", op);
    if (r->from_replicas < 0 || r->to_replicas < 0)
        return invalid(self, "%s %s: replica counts must be >= 0, not %d and %d", op, r->id, r->from_replicas,
                       r->to_replicas);
    if (!isfinite(r->created_at) || !isfinite(a->event->at))
        return invalid(self, "%s %s: created_at and the event's time must be finite", op, r->id);
    if (require_state(self, op, "state", r->state) != 0 ||
        require_state(self, op, "event from_state", a->event->from_state) != 0 ||
        require_state(self, op, "event to_state", a->event->to_state) != 0)
        return -1;
    return a->expected_state ? require_state(self, op, "expected_state", a->expected_state) : 0;
}

/* 0 when the row was written; 1 when expected_state was given and the stored row is not (or no longer) in it. */
static int recommendation_write(pg_store *self, const save_args *a)
{
    params p = {.count = 0};
    recommendation_params(&p, a->record, !a->expected_state);
    if (a->expected_state)
        param_text(&p, a->expected_state);
    PGresult *result = run(self, "save_recommendation",
                           a->expected_state ? recommendation_update_if : recommendation_upsert, &p);
    if (!result)
        return -1;
    long changed = command_rows(result);
    PQclear(result);
    return changed == 0 ? 1 : 0;
}

/* The event belongs to the record it changed: its tenant and recommendation id are the record's. */
static int event_insert(pg_store *self, const save_args *a)
{
    const hydra_recommendation_event *e = a->event;
    params p = {.count = 0};
    param_text(&p, a->record->tenant);
    param_text(&p, a->record->id);
    param_text(&p, e->from_state);
    param_text(&p, e->to_state);
    param_double(&p, e->at);
    param_text(&p, e->by);
    param_text(&p, e->why);
    return run_command(self, "save_recommendation: event",
                       "INSERT INTO recommendation_events (tenant, recommendation_id, from_state, to_state, at,"
                       " actor, why) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                       &p);
}

static int save_body(pg_store *self, void *args)
{
    const save_args *a = args;
    if (ensure_tenant(self, "save_recommendation", a->record->tenant) != 0)
        return -1;
    int written = recommendation_write(self, a);
    return written != 0 ? written : event_insert(self, a);
}

static int store_save_recommendation(void *state, const hydra_recommendation_record *record,
                                     const hydra_recommendation_event *event, const char *expected_state)
{
    pg_store *self = state;
    save_args args = {record, event, expected_state};
    if (save_validate(self, &args) != 0)
        return -1;
    return write_transaction(self, "save_recommendation", save_body, &args);
}

/* Hands each row to visit; returns the number of rows visited before a stop, or all of them. */
static int recommendations_visit(const PGresult *result, hydra_recommendation_visitor visit, void *context)
{
    int rows = PQntuples(result);
    for (int row = 0; row < rows; row++) {
        hydra_recommendation_record record = recommendation_from(result, row);
        if (visit && visit(context, &record) != 0)
            return row;
    }
    return rows;
}

static int store_list_recommendations(void *state, const char *tenant, const char *state_filter, size_t limit,
                                      hydra_recommendation_visitor visit, void *context)
{
    pg_store *self = state;
    if (require_tenant(self, "list_recommendations", tenant) != 0 ||
        (state_filter && require_state(self, "list_recommendations", "state filter", state_filter) != 0))
        return -1;
    params p = {.count = 0};
    param_text(&p, tenant);
    if (state_filter)
        param_text(&p, state_filter);
    if (limit > 0 && limit < (size_t)INT64_MAX)
        param_int(&p, (long long)limit);
    else
        param_text(&p, NULL); /* LIMIT NULL: no limit */
    /* Two forms rather than "$2 IS NULL OR state = $2", which no index can serve. */
    const char *sql = state_filter ? "SELECT " RECOMMENDATION_COLUMNS " FROM recommendations"
                                     " WHERE tenant = $1 AND state = $2 ORDER BY created_at DESC, id DESC LIMIT $3"
                                   : "SELECT " RECOMMENDATION_COLUMNS " FROM recommendations"
                                     " WHERE tenant = $1 ORDER BY created_at DESC, id DESC LIMIT $2";
    PGresult *result = read_locked(self, "list_recommendations", sql, &p);
    if (!result)
        return -1;
    recommendations_visit(result, visit, context);
    PQclear(result);
    return 0;
}

typedef struct read_args {
    const params *p;
    PGresult *record;
    PGresult *events;
} read_args;

/* Both reads in one snapshot, so that the events match the record. */
static int recommendation_read(pg_store *self, void *args)
{
    read_args *a = args;
    a->record = run(self, "get_recommendation",
                    "SELECT " RECOMMENDATION_COLUMNS " FROM recommendations WHERE tenant = $1 AND id = $2", a->p);
    if (!a->record)
        return -1;
    a->events = run(self, "get_recommendation: events",
                    "SELECT from_state, to_state, at, actor, why FROM recommendation_events"
                    " WHERE tenant = $1 AND recommendation_id = $2 ORDER BY at, seq",
                    a->p);
    return a->events ? 0 : -1;
}

static void events_visit(const PGresult *events, const char *tenant, const char *id, hydra_event_visitor visit,
                         void *context)
{
    for (int row = 0, rows = PQntuples(events); row < rows; row++) {
        hydra_recommendation_event event = {
            .tenant = tenant,
            .recommendation_id = id,
            .from_state = field_text(events, row, 0),
            .to_state = field_text(events, row, 1),
            .at = field_double(events, row, 2),
            .by = field_text(events, row, 3),
            .why = field_text(events, row, 4),
        };
        if (visit(context, &event) != 0)
            break;
    }
}

static int store_get_recommendation(void *state, const char *tenant, const char *id,
                                    hydra_recommendation_visitor visit, hydra_event_visitor visit_event, void *context)
{
    pg_store *self = state;
    if (require_tenant(self, "get_recommendation", tenant) != 0)
        return -1;
    if (!text_present(id))
        return invalid(self, "get_recommendation: id must be non-empty");
    params p = {.count = 0};
    param_text(&p, tenant);
    param_text(&p, id);
    read_args args = {&p, NULL, NULL};
    pthread_mutex_lock(&self->lock);
    int result = transaction_locked(self, "get_recommendation", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                                    recommendation_read, &args);
    pthread_mutex_unlock(&self->lock);
    if (result == 0 && PQntuples(args.record) == 0)
        result = 1;
    /* A visitor that asks to stop at the record does not get its events. */
    if (result == 0 && recommendations_visit(args.record, visit, context) == 1 && visit_event)
        events_visit(args.events, tenant, id, visit_event, context);
    PQclear(args.record);
    PQclear(args.events);
    return result;
}

/* ## API keys ------------------------------------------------------------------------------------------------ */

#define API_KEY_COLUMNS "tenant, name, hash, scopes, created_at, revoked_at"

/* A stored hash that is not 64 hex digits is most likely the secret itself: refuse it before it is stored. */
static int api_key_validate(pg_store *self, const hydra_api_key_record *r)
{
    if (!r)
        return invalid(self, "put_api_key: a record is required");
    if (require_tenant(self, "put_api_key", r->tenant) != 0)
        return -1;
    if (!text_present(r->name) || !r->scopes)
        return invalid(self, "put_api_key: name must be non-empty and scopes given");
    if (!hash_is_sha256_hex(r->hash))
        return invalid(self, "put_api_key %s: the hash must be 64 lowercase hex digits (a SHA-256 of the secret), "
                             "never the secret itself", r->name);
    return 0;
}

static int put_key_body(pg_store *self, void *args)
{
    const hydra_api_key_record *r = args;
    if (ensure_tenant(self, "put_api_key", r->tenant) != 0)
        return -1;
    params p = {.count = 0};
    param_text(&p, r->tenant);
    param_text(&p, r->name);
    param_text(&p, r->hash);
    param_text(&p, r->scopes);
    param_double(&p, r->created_at);
    param_time(&p, r->revoked_at);
    PGresult *result = exec_params(self, "INSERT INTO api_keys (" API_KEY_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6)",
                                   &p);
    const char *state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    int status = result_ok(result) ? 0 : -1;
    if (status < 0 && state && strcmp(state, "23505") == 0) /* unique_violation */
        invalid(self, "put_api_key %s (tenant %s): a valid key with this name, or a key with this hash, already "
                      "exists", r->name, r->tenant);
    else if (status < 0)
        report_failure(self, "put_api_key", result);
    PQclear(result);
    return status;
}

static int store_put_api_key(void *state, const hydra_api_key_record *record)
{
    pg_store *self = state;
    if (api_key_validate(self, record) != 0)
        return -1;
    return write_transaction(self, "put_api_key", put_key_body, (void *)record);
}

/* Hands each key to visit; returns how many rows there were. */
static int api_keys_visit(const PGresult *result, hydra_api_key_visitor visit, void *context)
{
    int rows = PQntuples(result);
    for (int row = 0; row < rows; row++) {
        hydra_api_key_record key = {
            .tenant = field_text(result, row, 0),
            .name = field_text(result, row, 1),
            .hash = field_text(result, row, 2),
            .scopes = field_text(result, row, 3),
            .created_at = field_double(result, row, 4),
            .revoked_at = field_double(result, row, 5),
        };
        if (visit && visit(context, &key) != 0)
            break;
    }
    return rows;
}

static int store_find_api_key(void *state, const char *hash, hydra_api_key_visitor visit, void *context)
{
    pg_store *self = state;
    if (!text_present(hash))
        return invalid(self, "find_api_key: hash must be non-empty");
    params p = {.count = 0};
    param_text(&p, hash);
    PGresult *result = read_locked(self, "find_api_key",
                                   "SELECT " API_KEY_COLUMNS " FROM api_keys WHERE hash = $1 AND revoked_at IS NULL",
                                   &p);
    if (!result)
        return -1;
    int found = api_keys_visit(result, visit, context);
    PQclear(result);
    return found ? 0 : 1;
}

static int store_list_api_keys(void *state, const char *tenant, hydra_api_key_visitor visit, void *context)
{
    pg_store *self = state;
    if (require_tenant(self, "list_api_keys", tenant) != 0)
        return -1;
    params p = {.count = 0};
    param_text(&p, tenant);
    PGresult *result = read_locked(self, "list_api_keys",
                                   "SELECT " API_KEY_COLUMNS " FROM api_keys WHERE tenant = $1"
                                   " ORDER BY name, created_at",
                                   &p);
    if (!result)
        return -1;
    api_keys_visit(result, visit, context);
    PQclear(result);
    return 0;
}

/* Returns 1 when the tenant has no valid key of that name. The time is stored as given, even 0, so that a key
 * revoked at the simulator's time 0 stays revoked. */
static int store_revoke_api_key(void *state, const char *tenant, const char *name, double at)
{
    pg_store *self = state;
    if (require_tenant(self, "revoke_api_key", tenant) != 0)
        return -1;
    if (!text_present(name) || !isfinite(at))
        return invalid(self, "revoke_api_key: name must be non-empty and the time finite");
    params p = {.count = 0};
    param_text(&p, tenant);
    param_text(&p, name);
    param_double(&p, at);
    PGresult *result = read_locked(self, "revoke_api_key",
                                   "UPDATE api_keys SET revoked_at = $3"
                                   " WHERE tenant = $1 AND name = $2 AND revoked_at IS NULL",
                                   &p);
    if (!result)
        return -1;
    long changed = command_rows(result);
    PQclear(result);
    return changed == 0 ? 1 : 0;
}

/* ## Audit log and alerts ------------------------------------------------------------------------------------ */

static int audit_body(pg_store *self, void *args)
{
    const hydra_audit_record *r = args;
    if (ensure_tenant(self, "append_audit", r->tenant) != 0)
        return -1;
    params p = {.count = 0};
    param_text(&p, r->tenant);
    param_double(&p, r->at);
    param_text(&p, r->actor);
    param_text(&p, r->action);
    param_text(&p, r->subject);
    param_text(&p, r->detail);
    param_text(&p, r->request_id);
    return run_command(self, "append_audit",
                       "INSERT INTO audit_log (tenant, at, actor, action, subject, detail, request_id)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                       &p);
}

static int store_append_audit(void *state, const hydra_audit_record *record)
{
    pg_store *self = state;
    if (!record)
        return invalid(self, "append_audit: a record is required");
    if (require_tenant(self, "append_audit", record->tenant) != 0)
        return -1;
    if (!text_present(record->actor) || !text_present(record->action) || !isfinite(record->at))
        return invalid(self, "append_audit: actor and action must be non-empty and the time finite");
    return write_transaction(self, "append_audit", audit_body, (void *)record);
}

/* An alert saved again under its id replaces the first: the controller may raise it again with a new score. */
static int alert_body(pg_store *self, void *args)
{
    const hydra_alert_record *r = args;
    if (ensure_tenant(self, "put_alert", r->tenant) != 0 ||
        ensure_service(self, "put_alert", r->tenant, r->service) != 0)
        return -1;
    params p = {.count = 0};
    param_text(&p, r->tenant);
    param_text(&p, r->id);
    param_text(&p, r->service);
    param_text(&p, r->metric);
    param_double(&p, r->at);
    param_double(&p, r->score);
    param_text(&p, r->message);
    return run_command(self, "put_alert",
                       "INSERT INTO alerts (tenant, id, service, metric, at, score, message)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, id) DO UPDATE SET service = $3,"
                       " metric = $4, at = $5, score = $6, message = $7",
                       &p);
}

static int store_put_alert(void *state, const hydra_alert_record *record)
{
    pg_store *self = state;
    if (!record)
        return invalid(self, "put_alert: a record is required");
    if (require_tenant(self, "put_alert", record->tenant) != 0)
        return -1;
    if (!text_present(record->id) || !text_present(record->service) || !text_present(record->metric))
        return invalid(self, "put_alert: id, service and metric must be non-empty");
    if (!isfinite(record->at) || !(record->score >= 0 && record->score <= 1))
        return invalid(self, "put_alert %s: the time must be finite and the score in [0, 1], not %g", record->id,
                       record->score);
    return write_transaction(self, "put_alert", alert_body, (void *)record);
}

static int store_list_alerts(void *state, const char *tenant, double since, hydra_alert_visitor visit, void *context)
{
    pg_store *self = state;
    if (require_tenant(self, "list_alerts", tenant) != 0)
        return -1;
    if (!visit || isnan(since))
        return invalid(self, "list_alerts: a visitor and a time are required");
    params p = {.count = 0};
    param_text(&p, tenant);
    param_double(&p, since);
    PGresult *result = read_locked(self, "list_alerts",
                                   "SELECT tenant, id, service, metric, at, score, message FROM alerts"
                                   " WHERE tenant = $1 AND at >= $2 ORDER BY at DESC, id DESC",
                                   &p);
    if (!result)
        return -1;
    for (int row = 0, rows = PQntuples(result); row < rows; row++) {
        hydra_alert_record alert = {
            .tenant = field_text(result, row, 0),
            .id = field_text(result, row, 1),
            .service = field_text(result, row, 2),
            .metric = field_text(result, row, 3),
            .at = field_double(result, row, 4),
            .score = field_double(result, row, 5),
            .message = field_text(result, row, 6),
        };
        if (visit(context, &alert) != 0)
            break;
    }
    PQclear(result);
    return 0;
}

static int store_list_audit(void *state, const char *tenant, size_t limit, hydra_audit_visitor visit, void *context)
{
    pg_store *self = state;
    if (require_tenant(self, "list_audit", tenant) != 0)
        return -1;
    if (!visit || limit == 0)
        return invalid(self, "list_audit: a visitor and a limit above 0 are required");
    params p = {.count = 0};
    param_text(&p, tenant);
    param_double(&p, (double)limit);
    PGresult *result = read_locked(self, "list_audit",
                                   "SELECT tenant, at, actor, action, subject, detail, request_id FROM audit_log"
                                   " WHERE tenant = $1 ORDER BY at DESC, seq DESC LIMIT $2::bigint",
                                   &p);
    if (!result)
        return -1;
    for (int row = 0, rows = PQntuples(result); row < rows; row++) {
        hydra_audit_record entry = {
            .tenant = field_text(result, row, 0),
            .at = field_double(result, row, 1),
            .actor = field_text(result, row, 2),
            .action = field_text(result, row, 3),
            .subject = field_text(result, row, 4),
            .detail = field_text(result, row, 5),
            .request_id = field_text(result, row, 6),
        };
        if (visit(context, &entry) != 0)
            break;
    }
    PQclear(result);
    return 0;
}

/* ## Backup and restore: pg_dump and pg_restore ---------------------------------------------------------------- */

/* The connection's own parameters as PG* variables for a child, in place of any the process has: the child reaches
 * the same database, and a password never appears on a command line where ps would show it. */
static char **tool_environment(pg_store *self)
{
    const char *names[] = {"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"};
    const char *values[] = {PQhost(self->conn), PQport(self->conn), PQdb(self->conn), PQuser(self->conn),
                            PQpass(self->conn)};
    size_t count = 0;
    while (environ[count])
        count++;
    char **env = calloc(count + 6, sizeof *env);
    size_t used = 0;
    for (size_t i = 0; env && i < count; i++)
        if (strncmp(environ[i], "PG", 2) != 0)
            env[used++] = strdup(environ[i]);
    for (size_t i = 0; env && i < 5; i++) {
        if (!values[i] || !values[i][0])
            continue;
        size_t length = strlen(names[i]) + strlen(values[i]) + 2;
        if ((env[used] = malloc(length)))
            snprintf(env[used++], length, "%s=%s", names[i], values[i]);
    }
    return env;
}

static void environment_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* Runs <pg_bin>/tool with args against this store's database; its stdout and stderr go into output (cut to
 * output_size). Returns the exit status, or -1 when it could not be run. */
static int tool_run(pg_store *self, const char *tool, char *const *args, char *output, size_t output_size)
{
    char program[4096];
    snprintf(program, sizeof program, "%s%s%s", self->pg_bin, self->pg_bin[0] ? "/" : "", tool);
    char *argv[16] = {program};
    for (size_t i = 0; args[i] && i + 2 < 16; i++)
        argv[i + 1] = args[i];
    int pipe_fds[2];
    output[0] = '\0';
    if (pipe(pipe_fds) != 0)
        return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    char **env = tool_environment(self);
    pid_t pid;
    int spawned = env ? posix_spawnp(&pid, program, &actions, NULL, argv, env) : -1;
    posix_spawn_file_actions_destroy(&actions);
    environment_free(env);
    close(pipe_fds[1]);
    size_t length = 0;
    char chunk[4096];
    for (ssize_t got; spawned == 0 && (got = read(pipe_fds[0], chunk, sizeof chunk)) > 0;) {
        size_t keep = (size_t)got < output_size - 1 - length ? (size_t)got : output_size - 1 - length;
        memcpy(output + length, chunk, keep); /* read to the end even when full: the child must not block */
        length += keep;
    }
    output[length] = '\0';
    close(pipe_fds[0]);
    int status = 0;
    if (spawned != 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* One line of a tool's output for an error message. */
static const char *first_line(char *output)
{
    output[strcspn(output, "\n")] = '\0';
    return output[0] ? output : "no message";
}

static int tool_failed(pg_store *self, const char *op, const char *tool, int status, char *output)
{
    if (status < 0)
        return invalid(self, "%s: cannot run %s%s%s (install postgresql-client, or set pg_bin)", op, self->pg_bin,
                       self->pg_bin[0] ? "/" : "", tool);
    return invalid(self, "%s: %s failed (exit %d): %s", op, tool, status, first_line(output));
}

/* pg_dump's custom format, written to PATH.partial then renamed: a failed dump never leaves a file that looks
 * whole. pg_dump reads in one snapshot, so the copy is consistent while the daemon keeps writing. */
static int store_backup(void *state, const char *path)
{
    pg_store *self = state;
    char partial[4096], *output = malloc(TOOL_OUTPUT_MAX);
    if (!output)
        return invalid(self, "backup: out of memory");
    snprintf(partial, sizeof partial, "%s.partial", path);
    int fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC, 0600); /* pg_dump keeps the mode of the file it is given */
    if (fd < 0) {
        free(output);
        return invalid(self, "backup: cannot create %s: %s", partial, strerror(errno));
    }
    close(fd);
    char *args[] = {"--format=custom", "--no-owner", "--file", partial, NULL};
    pthread_mutex_lock(&self->lock);
    int status = tool_run(self, "pg_dump", args, output, TOOL_OUTPUT_MAX);
    pthread_mutex_unlock(&self->lock);
    int result = status == 0 ? 0 : tool_failed(self, "backup", "pg_dump", status, output);
    if (result == 0 && rename(partial, path) != 0)
        result = invalid(self, "backup: cannot rename %s to %s", partial, path);
    if (result != 0)
        remove(partial);
    free(output);
    return result;
}

/* Checks the archive's table of contents before touching the database, then restores it in one transaction that
 * drops and recreates every object it holds: on any error nothing of the live database has changed. */
static int restore_locked(pg_store *self, const char *path, char *output)
{
    char *list_args[] = {"--list", (char *)path, NULL};
    int status = tool_run(self, "pg_restore", list_args, output, TOOL_OUTPUT_MAX);
    if (status != 0)
        return status < 0 ? tool_failed(self, "restore", "pg_restore", status, output)
                          : invalid(self, "restore: %s is not a pg_dump archive: %s", path, first_line(output));
    if (!strstr(output, " schema_migrations "))
        return invalid(self, "restore: %s is not a hydra backup (no schema_migrations table in it)", path);
    char *args[] = {"--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
                    "--dbname", PQdb(self->conn), (char *)path, NULL};
    status = tool_run(self, "pg_restore", args, output, TOOL_OUTPUT_MAX);
    if (status != 0)
        return tool_failed(self, "restore", "pg_restore", status, output);
    self->partition_count = 0; /* what this instance knew of the database is gone with it */
    self->layout = LAYOUT_UNKNOWN;
    return 0;
}

static int store_restore(void *state, const char *path)
{
    pg_store *self = state;
    char *output = malloc(TOOL_OUTPUT_MAX);
    if (!output)
        return invalid(self, "restore: out of memory");
    pthread_mutex_lock(&self->lock);
    int result = restore_locked(self, path, output);
    pthread_mutex_unlock(&self->lock);
    free(output);
    return result;
}

/* ## Life cycle ---------------------------------------------------------------------------------------------- */

typedef struct settings {
    const char *conninfo;
    long long retention_days;
    const char *partition;
    const char *pg_bin;
} settings;

static int settings_read(const hydra_host *host, settings *out)
{
    *out = (settings){NULL, RETENTION_DAYS_DEFAULT, "day", ""};
    int found = host->setting_string(host, "conninfo", &out->conninfo);
    if (found < 0 || host->setting_int(host, "retention_days", &out->retention_days) < 0 ||
        host->setting_string(host, "partition", &out->partition) < 0 ||
        host->setting_path(host, "pg_bin", &out->pg_bin) < 0)
        return -1;
    if (found != 0 || !out->conninfo[0]) {
        host->set_error(host, "setting 'conninfo' is required: a libpq connection string, e.g. conninfo = "
                              "\"host=db.example port=5432 dbname=hydra user=hydra\"");
        return -1;
    }
    if (out->retention_days < 0 || out->retention_days > RETENTION_DAYS_MAX) {
        host->set_error(host, "setting 'retention_days' must be between 0 (keep samples forever) and %d, not %lld",
                        RETENTION_DAYS_MAX, out->retention_days);
        return -1;
    }
    if (strcmp(out->partition, "day") != 0 && strcmp(out->partition, "week") != 0 &&
        strcmp(out->partition, "month") != 0) {
        host->set_error(host, "setting 'partition' must be \"day\", \"week\" or \"month\", not \"%s\"",
                        out->partition);
        return -1;
    }
    return 0;
}

/* The server's notices ("already exists, skipping") are worth a debug line, not a line on stderr. */
static void notice_to_log(void *context, const char *message)
{
    const hydra_host *host = context;
    size_t length = strlen(message);
    if (length && message[length - 1] == '\n')
        length--;
    host->log(host, HYDRA_LOG_DEBUG, "server: %.*s", (int)length, message);
}

/* Our defaults come first so that the same keys in the user's conninfo (expanded from dbname) win. The connect
 * timeout and TCP keepalives keep a call from hanging on a host that went away: the API answers 503 instead. */
static PGconn *connect_to(const hydra_host *host, const char *conninfo, const char *application_name)
{
    const char *const keys[] = {"connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
                                "tcp_user_timeout", "application_name", "client_encoding", "dbname", NULL};
    const char *const values[] = {"10", "30", "10", "3", "30000", application_name, "UTF8", conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (!conn) {
        host->set_error(host, "unavailable: cannot connect: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char message[1024];
        snprintf(message, sizeof message, "%s", PQerrorMessage(conn));
        message[strcspn(message, "\n")] = '\0';
        host->set_error(host, "unavailable: cannot connect: %s", message);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, notice_to_log, (void *)host);
    return conn;
}

/* ## Leadership: a session advisory lock on a connection of its own ------------------------------------------
 *
 * Not on the main connection: that one is reset whenever the server hiccups, and a reset would drop the lock behind
 * the daemon's back. Here a lost connection is reported, so the daemon steps down before anything else can happen. */

/* The lock's key: FNV-1a (64 bits) of "hydra leader NAME", the same in every replica and every release. */
static long long leader_key(const char *name)
{
    uint64_t hash = 14695981039346656037ull;
    for (const char *c = "hydra leader "; *c; c++)
        hash = (hash ^ (unsigned char)*c) * 1099511628211ull;
    for (const char *c = name; *c; c++)
        hash = (hash ^ (unsigned char)*c) * 1099511628211ull;
    return (long long)hash;
}

static void leader_drop(pg_store *self)
{
    PQfinish(self->leader_conn);
    self->leader_conn = NULL;
    self->leader_held = false;
}

/* The server forgets a session whose host vanished after keepalives of 10 + 5 x 4 s (ignored on a unix socket). */
static int leader_connect(pg_store *self, const char *name)
{
    char application[64];
    snprintf(application, sizeof application, "hydra leader %s", name);
    if (!(self->leader_conn = connect_to(self->host, self->conninfo, application)))
        return -1;
    PGresult *set = PQexec(self->leader_conn, "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;"
                                              " SET tcp_keepalives_count = 4");
    bool ok = PQresultStatus(set) == PGRES_COMMAND_OK;
    PQclear(set);
    if (!ok) {
        self->host->set_error(self->host, "unavailable: leader_hold: %s", PQerrorMessage(self->leader_conn));
        leader_drop(self);
        return -1;
    }
    return 0;
}

/* Holding: one round trip proves the session (and so the lock) is still there. Not holding: try to take it. */
static int leader_hold_locked(pg_store *self, const char *name)
{
    if (self->leader_held && strcmp(self->leader_name, name) != 0)
        return invalid(self, "leader_hold: this instance holds '%s' already, not '%s'", self->leader_name, name);
    if (!self->leader_conn && leader_connect(self, name) != 0)
        return -1;
    params p = {.count = 0};
    param_int(&p, leader_key(name));
    PGresult *result = self->leader_held ? PQexec(self->leader_conn, "SELECT true")
                                         : PQexecParams(self->leader_conn, "SELECT pg_try_advisory_lock($1::bigint)", 1,
                                                        NULL, p.values, NULL, NULL, 0);
    if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
        char message[1024];
        snprintf(message, sizeof message, "%s", PQerrorMessage(self->leader_conn));
        message[strcspn(message, "\n")] = '\0';
        self->host->set_error(self->host, "unavailable: leader_hold: %s the lock's connection: %s",
                              self->leader_held ? "lost" : "cannot use", message);
        PQclear(result);
        leader_drop(self);
        return -1;
    }
    bool held = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    PQclear(result);
    if (held && !self->leader_held)
        snprintf(self->leader_name, sizeof self->leader_name, "%s", name);
    self->leader_held = held;
    return held ? 0 : 1;
}

static int store_leader_hold(void *state, const char *name)
{
    pg_store *self = state;
    if (!name || !name[0] || strlen(name) >= sizeof self->leader_name)
        return invalid(self, "leader_hold: the lock's name must be 1 to %zu characters", sizeof self->leader_name - 1);
    pthread_mutex_lock(&self->leader_lock);
    int result = leader_hold_locked(self, name);
    pthread_mutex_unlock(&self->leader_lock);
    return result;
}

/* Unlocked by a statement, so that another replica can take it the moment this returns; if that fails, closing the
 * session releases it too (the server ends the session a moment later). 0 also when it was not held. */
static int store_leader_release(void *state, const char *name)
{
    pg_store *self = state;
    pthread_mutex_lock(&self->leader_lock);
    if (self->leader_held && name && strcmp(self->leader_name, name) == 0) {
        params p = {.count = 0};
        param_int(&p, leader_key(name));
        PGresult *result = PQexecParams(self->leader_conn, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL,
                                        p.values, NULL, NULL, 0);
        bool unlocked = PQresultStatus(result) == PGRES_TUPLES_OK && strcmp(PQgetvalue(result, 0, 0), "t") == 0;
        PQclear(result);
        if (unlocked)
            self->leader_held = false;
        else
            leader_drop(self);
    }
    pthread_mutex_unlock(&self->leader_lock);
    return 0;
}

static void store_destroy(void *state)
{
    pg_store *self = state;
    if (!self)
        return;
    PQfinish(self->conn);
    PQfinish(self->leader_conn);
    pthread_mutex_destroy(&self->lock);
    pthread_mutex_destroy(&self->leader_lock);
    pthread_mutex_destroy(&self->queue_lock);
    pthread_cond_destroy(&self->queue_changed);
    free(self->partitions);
    self->host->free(self->host, self);
}

static void *store_create(const hydra_host *host)
{
    settings s;
    if (settings_read(host, &s) != 0)
        return NULL;
    pg_store *self = host->alloc(host, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *self = (pg_store){.host = host, .retention_days = s.retention_days, .unit = unit_parse(s.partition),
                       .retention_ran_at = -INFINITY, .pg_bin = s.pg_bin, .conninfo = s.conninfo};
    if (pthread_mutex_init(&self->lock, NULL) != 0 || pthread_mutex_init(&self->queue_lock, NULL) != 0 ||
        pthread_mutex_init(&self->leader_lock, NULL) != 0 ||
        pthread_cond_init(&self->queue_changed, NULL) != 0) {
        host->set_error(host, "cannot create a mutex");
        host->free(host, self);
        return NULL;
    }
    self->conn = connect_to(host, s.conninfo, "hydra");
    if (!self->conn) {
        store_destroy(self);
        return NULL;
    }
    self->samples_metric =
        host->metric_register(host, "samples_appended_total", "Samples written to the database", HYDRA_METRIC_COUNTER);
    return self;
}

static const hydra_store_ops ops = {
    .size = sizeof(hydra_store_ops),
    .migrate = store_migrate,
    .append_samples = store_append_samples,
    .query_samples = store_query_samples,
    .save_recommendation = store_save_recommendation,
    .list_recommendations = store_list_recommendations,
    .get_recommendation = store_get_recommendation,
    .put_api_key = store_put_api_key,
    .find_api_key = store_find_api_key,
    .list_api_keys = store_list_api_keys,
    .revoke_api_key = store_revoke_api_key,
    .append_audit = store_append_audit,
    .put_alert = store_put_alert,
    .list_alerts = store_list_alerts,
    .health = store_health,
    .export_samples = store_export_samples,
    .backup = store_backup,
    .restore = store_restore,
    .aggregate_samples = store_aggregate_samples,
    .set_service_paused = store_set_service_paused,
    .list_services = store_list_services,
    .leader_hold = store_leader_hold,
    .leader_release = store_leader_release,
    .list_audit = store_list_audit,
    .put_model_version = store_put_model_version,
    .activate_model_version = store_activate_model_version,
    .get_model_version = store_get_model_version,
    .list_model_versions = store_list_model_versions,
};

static const hydra_plugin_descriptor descriptor = {
    .size = sizeof(hydra_plugin_descriptor),
    .abi_version = HYDRA_ABI_VERSION,
    .kind = HYDRA_KIND_STORE,
    .name = "postgres",
    .version = "1.0.0",
    .description = "PostgreSQL store: time-partitioned samples (TimescaleDB when present), shared by replicas",
    .create = store_create,
    .destroy = store_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
