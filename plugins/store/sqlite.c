/* store sqlite: the embedded default store, one database file, nothing to install.
 *
 * One connection, opened in WAL mode (readers do not wait for the writer) with foreign keys on. The daemon calls the
 * store from HTTP threads and the controller thread; a transaction is a property of the connection, so a statement
 * from a second thread would land inside the first thread's transaction: every op therefore holds one mutex for its
 * whole transaction. The mutex is recursive so that a visitor calling back into the store does not deadlock.
 * Statements are prepared per call, never cached, for the same reason: a nested call cannot reset a statement its
 * caller is still stepping through.
 *
 * Conventions of the stored data (docs/db/README.md has the rest): an optional time that is 0 ("not yet") is stored
 * as NULL and handed back as 0; a NULL string stays NULL; a NaN forecast peak is stored as NULL and handed back NaN.
 * Tenants and services are created on first use, inside the transaction that first mentions them, so that every
 * tenant-owned row can reference its tenant (and service) with a foreign key.
 *
 * Settings: path (required; relative to the config file's folder), busy_timeout_ms (0..600000, default 5000: how long
 * a write waits for another process' lock before the store answers "unavailable"), synchronous ("full", the default:
 * a write is on disk when it returns; or "normal": faster, and the last writes may be lost on power failure).
 *
 * Leadership (two daemons started on one file by mistake, or a restart overlapping the old process): an exclusive
 * flock on PATH.leader-NAME, which the kernel drops when the holder dies. */
#include <hydra/plugin.h>

#include "../common/store_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define BUSY_TIMEOUT_DEFAULT_MS 5000
#define BUSY_TIMEOUT_MAX_MS 600000
#define MESSAGE_MAX 1024

typedef struct store_sqlite {
    const hydra_host *host;
    const char *path; /* borrowed from the host until destroy */
    sqlite3 *db;
    pthread_mutex_t lock;
    int busy_timeout_ms;
    int samples_metric;
    int leader_fd; /* the leadership lock file, locked while >= 0 */
    char leader_name[128];
} store_sqlite;

/* ## Schema: versioned migrations, applied in order, each in its own transaction ------------------------------------
 *
 * Append only: a released migration is never edited (a database that already has it would not get the change);
 * change the schema with a new one. docs/db/schema.sql is the same schema with comments, and a test compares them. */

static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE tenants ("
    "  id TEXT PRIMARY KEY,"
    "  created_at REAL NOT NULL"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE api_keys ("
    "  hash TEXT PRIMARY KEY CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),"
    "  tenant TEXT NOT NULL REFERENCES tenants (id),"
    "  name TEXT NOT NULL CHECK (name <> ''),"
    "  scopes TEXT NOT NULL,"
    "  created_at REAL NOT NULL,"
    "  revoked_at REAL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE UNIQUE INDEX api_keys_valid_name ON api_keys (tenant, name) WHERE revoked_at IS NULL;"
    "CREATE INDEX api_keys_by_tenant ON api_keys (tenant, name, created_at);"

    "CREATE TABLE services ("
    "  tenant TEXT NOT NULL REFERENCES tenants (id),"
    "  name TEXT NOT NULL CHECK (name <> ''),"
    "  created_at REAL NOT NULL,"
    "  PRIMARY KEY (tenant, name)"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE metric_samples ("
    "  tenant TEXT NOT NULL,"
    "  service TEXT NOT NULL,"
    "  metric TEXT NOT NULL CHECK (metric <> ''),"
    "  ts REAL NOT NULL,"
    "  value REAL NOT NULL,"
    "  FOREIGN KEY (tenant, service) REFERENCES services (tenant, name)"
    ") STRICT;"
    "CREATE INDEX metric_samples_series_ts ON metric_samples (tenant, service, metric, ts);"

    "CREATE TABLE forecasts ("
    "  tenant TEXT NOT NULL,"
    "  service TEXT NOT NULL,"
    "  metric TEXT NOT NULL,"
    "  made_at REAL NOT NULL,"
    "  ts REAL NOT NULL,"
    "  forecaster TEXT NOT NULL,"
    "  mean REAL NOT NULL,"
    "  lower80 REAL, upper80 REAL, lower95 REAL, upper95 REAL,"
    "  PRIMARY KEY (tenant, service, metric, made_at, ts),"
    "  FOREIGN KEY (tenant, service) REFERENCES services (tenant, name)"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE alerts ("
    "  tenant TEXT NOT NULL,"
    "  id TEXT NOT NULL CHECK (id <> ''),"
    "  service TEXT NOT NULL,"
    "  metric TEXT NOT NULL,"
    "  at REAL NOT NULL,"
    "  score REAL NOT NULL CHECK (score >= 0 AND score <= 1),"
    "  message TEXT,"
    "  PRIMARY KEY (tenant, id),"
    "  FOREIGN KEY (tenant, service) REFERENCES services (tenant, name)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX alerts_by_time ON alerts (tenant, at);"

    "CREATE TABLE recommendations ("
    "  tenant TEXT NOT NULL REFERENCES tenants (id),"
    "  id TEXT NOT NULL CHECK (id <> ''),"
    "  target TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'executing', 'executed',"
    "                                      'failed')),"
    "  from_replicas INTEGER NOT NULL CHECK (from_replicas >= 0),"
    "  to_replicas INTEGER NOT NULL CHECK (to_replicas >= 0),"
    "  asked INTEGER NOT NULL CHECK (asked IN (0, 1)),"
    "  forecast_peak REAL,"
    "  forecast_peak_at REAL,"
    "  created_at REAL NOT NULL,"
    "  expires_at REAL,"
    "  decided_at REAL,"
    "  finished_at REAL,"
    "  reason TEXT,"
    "  decided_by TEXT,"
    "  decision_reason TEXT,"
    "  result TEXT,"
    "  PRIMARY KEY (tenant, id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX recommendations_newest ON recommendations (tenant, created_at, id);"
    "CREATE INDEX recommendations_by_state ON recommendations (tenant, state, created_at, id);"

    "CREATE TABLE recommendation_events ("
    "  seq INTEGER PRIMARY KEY,"
    "  tenant TEXT NOT NULL,"
    "  recommendation_id TEXT NOT NULL,"
    "  from_state TEXT NOT NULL CHECK (from_state IN ('pending', 'approved', 'rejected', 'expired', 'executing',"
    "                                                'executed', 'failed')),"
    "  to_state TEXT NOT NULL CHECK (to_state IN ('pending', 'approved', 'rejected', 'expired', 'executing',"
    "                                            'executed', 'failed')),"
    "  at REAL NOT NULL,"
    "  actor TEXT,"
    "  why TEXT,"
    "  FOREIGN KEY (tenant, recommendation_id) REFERENCES recommendations (tenant, id) ON DELETE CASCADE"
    ") STRICT;"
    "CREATE INDEX recommendation_events_history ON recommendation_events (tenant, recommendation_id, at, seq);"

    "CREATE TABLE idempotency_keys ("
    "  tenant TEXT NOT NULL REFERENCES tenants (id),"
    "  key TEXT NOT NULL CHECK (key <> ''),"
    "  response TEXT NOT NULL,"
    "  created_at REAL NOT NULL,"
    "  PRIMARY KEY (tenant, key)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);"

    "CREATE TABLE audit_log ("
    "  seq INTEGER PRIMARY KEY,"
    "  tenant TEXT NOT NULL REFERENCES tenants (id),"
    "  at REAL NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  subject TEXT,"
    "  detail TEXT,"
    "  request_id TEXT"
    ") STRICT;"
    "CREATE INDEX audit_log_by_time ON audit_log (tenant, at);",

    /* 2: a person can pause a service; the daemon reads it back at start */
    "ALTER TABLE services ADD COLUMN paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1));"
    "ALTER TABLE services ADD COLUMN paused_at REAL;"
    "ALTER TABLE services ADD COLUMN paused_by TEXT;",

    /* 3: the model registry: every fitted model saved, one version active per service and model */
    "CREATE TABLE model_versions ("
    "  tenant TEXT NOT NULL,"
    "  service TEXT NOT NULL,"
    "  model TEXT NOT NULL CHECK (model <> ''),"
    "  version INTEGER NOT NULL CHECK (version >= 1),"
    "  active INTEGER NOT NULL CHECK (active IN (0, 1)),"
    "  state TEXT NOT NULL,"
    "  checksum TEXT NOT NULL CHECK (length(checksum) = 64),"
    "  trained_from REAL NOT NULL,"
    "  trained_to REAL NOT NULL,"
    "  metrics TEXT,"
    "  created_at REAL NOT NULL,"
    "  note TEXT,"
    "  PRIMARY KEY (tenant, service, model, version),"
    "  FOREIGN KEY (tenant, service) REFERENCES services (tenant, name)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE UNIQUE INDEX model_versions_one_active ON model_versions (tenant, service, model) WHERE active = 1;"
    "CREATE INDEX model_versions_newest ON model_versions (tenant, service, model, version DESC);",
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))


/* ## Errors ------------------------------------------------------------------------------------------------------- */

/* The database is unreachable rather than the request wrong: the API answers 503 and the caller may retry. */
static bool code_is_unavailable(int code)
{
    switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PROTOCOL:
        return true;
    default:
        return false;
    }
}

/* Reports the connection's last error after what (printf-style) failed; returns -1. Call before any rollback, which
 * would replace the message. */
static int fail_db(store_sqlite *self, const char *fmt, ...) HYDRA_PRINTF(2, 3);
static int fail_db(store_sqlite *self, const char *fmt, ...)
{
    char what[MESSAGE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(what, sizeof what, fmt, args);
    va_end(args);
    int code = sqlite3_extended_errcode(self->db);
    const char *prefix = code_is_unavailable(code) ? "unavailable: " : "";
    if ((code & 0xff) == SQLITE_BUSY)
        self->host->set_error(self->host, "%s%s: database %s is locked by another process (waited %d ms)", prefix,
                              what, self->path, self->busy_timeout_ms);
    else
        self->host->set_error(self->host, "%s%s: %s (database %s)", prefix, what, sqlite3_errmsg(self->db),
                              self->path);
    return -1;
}

/* ## Statements ---------------------------------------------------------------------------------------------------- */

static sqlite3_stmt *prepare(store_sqlite *self, const char *sql, const char *what)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(self->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fail_db(self, "%s", what);
        sqlite3_finalize(stmt);
        return NULL;
    }
    return stmt;
}

/* Runs a statement that returns no rows and resets it for the next bindings: 0, or -1 with the error set. */
static int step_done(store_sqlite *self, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    int result = rc == SQLITE_DONE ? 0 : fail_db(self, "%s", what);
    sqlite3_reset(stmt);
    return result;
}

static int exec_sql(store_sqlite *self, const char *sql, const char *what)
{
    return sqlite3_exec(self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail_db(self, "%s", what);
}

/* Binding fails only without memory or with a huge text; the step that follows reports nothing useful then, so the
 * bind helpers count failures and the caller checks once. */
static int bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    int rc = text ? sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, index);
    return rc != SQLITE_OK;
}

static int bind_double(sqlite3_stmt *stmt, int index, double value)
{
    return sqlite3_bind_double(stmt, index, value) != SQLITE_OK;
}

/* An optional time: 0 means "not yet", stored as NULL so that queries can say IS NULL. */
static int bind_time(sqlite3_stmt *stmt, int index, double at)
{
    return (at == 0 ? sqlite3_bind_null(stmt, index) : sqlite3_bind_double(stmt, index, at)) != SQLITE_OK;
}

/* SQLite would store a NaN as NULL anyway; saying so here makes reading it back symmetric. */
static int bind_maybe_nan(sqlite3_stmt *stmt, int index, double value)
{
    return (isnan(value) ? sqlite3_bind_null(stmt, index) : sqlite3_bind_double(stmt, index, value)) != SQLITE_OK;
}

static int bind_failed(store_sqlite *self, int failures, const char *what)
{
    if (failures == 0)
        return 0;
    self->host->set_error(self->host, "%s: cannot bind the values (out of memory or text too long)", what);
    return -1;
}

static const char *column_text(sqlite3_stmt *stmt, int column)
{
    return (const char *)sqlite3_column_text(stmt, column);
}

static double column_maybe_nan(sqlite3_stmt *stmt, int column)
{
    return sqlite3_column_type(stmt, column) == SQLITE_NULL ? NAN : sqlite3_column_double(stmt, column);
}

/* ## Transactions -------------------------------------------------------------------------------------------------- */

/* Does the work of one write op inside the transaction: 0 to commit, 1 to roll back and report "nothing to do" (an
 * idempotent replay, a lost race), -1 to roll back after setting the error. */
typedef int (*transaction_body)(store_sqlite *self, void *args);

static void rollback(store_sqlite *self)
{
    /* Fails only when SQLite already rolled back by itself (an I/O error); the first error is the one to report. */
    sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
}

/* IMMEDIATE takes the write lock at BEGIN, waiting up to busy_timeout for it: a deferred transaction that read
 * first could find the lock taken at its first write and fail at once without waiting. */
static int write_transaction(store_sqlite *self, const char *what, transaction_body body, void *args)
{
    pthread_mutex_lock(&self->lock);
    int result = exec_sql(self, "BEGIN IMMEDIATE", what);
    if (result == 0) {
        result = body(self, args);
        if (result == 0 && sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            result = fail_db(self, "%s: commit", what);
        if (result != 0)
            rollback(self);
    }
    pthread_mutex_unlock(&self->lock);
    return result;
}

static int ensure_tenant(store_sqlite *self, const char *tenant)
{
    sqlite3_stmt *stmt = prepare(self, "INSERT INTO tenants (id, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                                 "add tenant");
    if (!stmt)
        return -1;
    int result = bind_failed(self, bind_text(stmt, 1, tenant) + bind_double(stmt, 2, self->host->now(self->host)),
                             "add tenant");
    if (result == 0)
        result = step_done(self, stmt, "add tenant");
    sqlite3_finalize(stmt);
    return result;
}

static sqlite3_stmt *prepare_service_insert(store_sqlite *self)
{
    return prepare(self, "INSERT INTO services (tenant, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                   "add service");
}

static int ensure_service(store_sqlite *self, sqlite3_stmt *stmt, const char *tenant, const char *service)
{
    int failures = bind_text(stmt, 1, tenant) + bind_text(stmt, 2, service) +
                   bind_double(stmt, 3, self->host->now(self->host));
    if (bind_failed(self, failures, "add service") != 0)
        return -1;
    return step_done(self, stmt, "add service");
}

/* ## Validation: before any transaction, so that a bad request writes nothing and is not reported as unavailable -- */


static int invalid(store_sqlite *self, const char *fmt, ...) HYDRA_PRINTF(2, 3);
static int invalid(store_sqlite *self, const char *fmt, ...)
{
    char message[MESSAGE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    self->host->set_error(self->host, "%s", message);
    return -1;
}

static int require_tenant(store_sqlite *self, const char *op, const char *tenant)
{
    return text_present(tenant) ? 0 : invalid(self, "%s: tenant must be a non-empty name", op);
}

static int require_state(store_sqlite *self, const char *op, const char *field, const char *state)
{
    if (state_known(state))
        return 0;
    return invalid(self, "%s: %s '%s' is not one of pending, approved, rejected, expired, executing, executed, failed",
                   op, field, state ? state : "(null)");
}

/* ## Migrations --------------------------------------------------------------------------------------------------- */

static int schema_version_read(store_sqlite *self, int *version)
{
    sqlite3_stmt *stmt =
        prepare(self, "SELECT coalesce(max(version), 0) FROM schema_migrations", "read schema version");
    if (!stmt)
        return -1;
    int result = 0;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        *version = sqlite3_column_int(stmt, 0);
    else
        result = fail_db(self, "read schema version");
    sqlite3_finalize(stmt);
    return result;
}

static int migration_record(store_sqlite *self, int version)
{
    sqlite3_stmt *stmt = prepare(self, "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                                 "record migration");
    if (!stmt)
        return -1;
    int failures = sqlite3_bind_int(stmt, 1, version) != SQLITE_OK;
    failures += bind_double(stmt, 2, self->host->now(self->host));
    int result = bind_failed(self, failures, "record migration");
    if (result == 0)
        result = step_done(self, stmt, "record migration");
    sqlite3_finalize(stmt);
    return result;
}

/* Reads the version again inside the transaction: another process may have applied this migration meanwhile. */
static int migration_apply(store_sqlite *self, void *args)
{
    int version = *(const int *)args, current = 0;
    if (schema_version_read(self, &current) != 0)
        return -1;
    if (current >= version)
        return 1;
    if (exec_sql(self, migrations[version - 1], "migration") != 0)
        return -1;
    return migration_record(self, version);
}

static int refuse_newer(store_sqlite *self, int found)
{
    return invalid(self,
                   "migrate: the database %s has schema version %d, newer than version %d that this build of hydra "
                   "knows: upgrade hydra (a newer hydra has used this file; an older one must not write to it)",
                   self->path, found, SCHEMA_VERSION);
}

static int migrate_locked(store_sqlite *self, int *version)
{
    int current = 0;
    if (exec_sql(self,
                 "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
                 " STRICT",
                 "migrate: create schema_migrations") != 0 ||
        schema_version_read(self, &current) != 0)
        return -1;
    if (current > SCHEMA_VERSION)
        return refuse_newer(self, current);
    for (int next = current + 1; next <= SCHEMA_VERSION; next++) {
        int applied = write_transaction(self, "migrate", migration_apply, &next);
        if (applied < 0) {
            /* The message names the failing statement's error; say which migration it was too. */
            self->host->log(self->host, HYDRA_LOG_ERROR, "migration %d of %s failed", next, self->path);
            return -1;
        }
        if (applied == 0)
            self->host->log(self->host, HYDRA_LOG_INFO, "database %s migrated to schema version %d", self->path, next);
    }
    *version = SCHEMA_VERSION;
    return 0;
}

static int store_migrate(void *state, int *version)
{
    store_sqlite *self = state;
    int found = 0;
    pthread_mutex_lock(&self->lock);
    int result = migrate_locked(self, &found);
    pthread_mutex_unlock(&self->lock);
    if (result == 0 && version)
        *version = found;
    return result;
}

/* ## Samples ------------------------------------------------------------------------------------------------------- */

typedef struct append_args {
    const char *tenant;
    const hydra_sample *samples;
    size_t count;
    const char *key;
    char *response;
    size_t response_size;
} append_args;

static int samples_validate(store_sqlite *self, const append_args *a)
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
    }
    return 0;
}

/* Returns 1 with the stored response copied when the key was used before, 0 when it is new. */
static int idempotency_replay(store_sqlite *self, const append_args *a)
{
    sqlite3_stmt *stmt = prepare(self, "SELECT response FROM idempotency_keys WHERE tenant = ?1 AND key = ?2",
                                 "append_samples: look up idempotency key");
    if (!stmt)
        return -1;
    int result = bind_failed(self, bind_text(stmt, 1, a->tenant) + bind_text(stmt, 2, a->key), "append_samples");
    int rc = result == 0 ? sqlite3_step(stmt) : SQLITE_DONE;
    if (rc == SQLITE_ROW) {
        if (a->response && a->response_size > 0)
            snprintf(a->response, a->response_size, "%s", column_text(stmt, 0));
        result = 1;
    } else if (rc != SQLITE_DONE) {
        result = fail_db(self, "append_samples: look up idempotency key '%s'", a->key);
    }
    sqlite3_finalize(stmt);
    return result;
}

static int idempotency_remember(store_sqlite *self, const append_args *a)
{
    sqlite3_stmt *stmt = prepare(self,
                                 "INSERT INTO idempotency_keys (tenant, key, response, created_at) "
                                 "VALUES (?1, ?2, ?3, ?4)",
                                 "append_samples: store idempotency key");
    if (!stmt)
        return -1;
    /* The response is text the caller put in its buffer; never read past the buffer even if it lacks a NUL. */
    int length = a->response ? (int)strnlen(a->response, a->response_size) : 0;
    int failures = bind_text(stmt, 1, a->tenant) + bind_text(stmt, 2, a->key) +
                   (sqlite3_bind_text(stmt, 3, a->response ? a->response : "", length, SQLITE_STATIC) != SQLITE_OK) +
                   bind_double(stmt, 4, self->host->now(self->host));
    int result = bind_failed(self, failures, "append_samples");
    if (result == 0)
        result = step_done(self, stmt, "append_samples: store idempotency key");
    sqlite3_finalize(stmt);
    return result;
}

static int sample_insert(store_sqlite *self, sqlite3_stmt *stmt, const char *tenant, const hydra_sample *s)
{
    int failures = bind_text(stmt, 1, tenant) + bind_text(stmt, 2, s->service) + bind_text(stmt, 3, s->metric) +
                   bind_double(stmt, 4, s->ts) + bind_double(stmt, 5, s->value);
    if (bind_failed(self, failures, "append_samples") != 0)
        return -1;
    return step_done(self, stmt, "append_samples: insert");
}

static int samples_insert(store_sqlite *self, const append_args *a)
{
    sqlite3_stmt *service = prepare_service_insert(self);
    sqlite3_stmt *insert = prepare(self,
                                   "INSERT INTO metric_samples (tenant, service, metric, ts, value) "
                                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                                   "append_samples: insert");
    int result = service && insert ? 0 : -1;
    const char *last_service = NULL; /* a batch is usually one service: add it once, not once per sample */
    for (size_t i = 0; result == 0 && i < a->count; i++) {
        const hydra_sample *s = &a->samples[i];
        if (!last_service || strcmp(last_service, s->service) != 0)
            result = ensure_service(self, service, a->tenant, s->service);
        last_service = s->service;
        if (result == 0)
            result = sample_insert(self, insert, a->tenant, s);
    }
    sqlite3_finalize(service);
    sqlite3_finalize(insert);
    return result;
}

static int append_body(store_sqlite *self, void *args)
{
    const append_args *a = args;
    if (a->key) {
        int replay = idempotency_replay(self, a);
        if (replay != 0)
            return replay;
    }
    if (ensure_tenant(self, a->tenant) != 0 || samples_insert(self, a) != 0)
        return -1;
    return a->key ? idempotency_remember(self, a) : 0;
}

static int store_append_samples(void *state, const char *tenant, const hydra_sample *samples, size_t count,
                                const char *idempotency_key, char *response, size_t response_size)
{
    store_sqlite *self = state;
    append_args args = {tenant, samples, count, idempotency_key, response, response_size};
    if (samples_validate(self, &args) != 0)
        return -1;
    int result = write_transaction(self, "append_samples", append_body, &args);
    if (result == 0 && self->samples_metric >= 0)
        self->host->metric_add(self->host, self->samples_metric, (double)count);
    return result;
}

static int store_query_samples(void *state, const char *tenant, const char *service, const char *metric, double from,
                               double to, hydra_sample_visitor visit, void *context)
{
    store_sqlite *self = state;
    if (require_tenant(self, "query_samples", tenant) != 0)
        return -1;
    if (!service || !metric || !visit || isnan(from) || isnan(to))
        return invalid(self, "query_samples: service, metric, visitor and a from/to range are required");
    pthread_mutex_lock(&self->lock);
    /* rowid breaks ties in insertion order; the index (tenant, service, metric, ts) ends with rowid, so no sort. */
    sqlite3_stmt *stmt = prepare(self,
                                 "SELECT ts, value FROM metric_samples WHERE tenant = ?1 AND service = ?2 AND "
                                 "metric = ?3 AND ts >= ?4 AND ts < ?5 ORDER BY ts, rowid",
                                 "query_samples");
    int result = stmt ? 0 : -1, rc = SQLITE_DONE;
    if (result == 0)
        result = bind_failed(self,
                             bind_text(stmt, 1, tenant) + bind_text(stmt, 2, service) + bind_text(stmt, 3, metric) +
                                 bind_double(stmt, 4, from) + bind_double(stmt, 5, to),
                             "query_samples");
    while (result == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        if (visit(context, sqlite3_column_double(stmt, 0), sqlite3_column_double(stmt, 1)) != 0)
            break;
    if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = fail_db(self, "query_samples %s %s", service, metric);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* Everything of a tenant since a time, for hydra export; the index (tenant, service, metric, ts) gives the order. */
static int store_export_samples(void *state, const char *tenant, double since, hydra_sample_sink visit,
                                void *context)
{
    store_sqlite *self = state;
    if (require_tenant(self, "export_samples", tenant) != 0)
        return -1;
    if (!visit || isnan(since))
        return invalid(self, "export_samples: a visitor and a start time are required");
    pthread_mutex_lock(&self->lock);
    sqlite3_stmt *stmt = prepare(self,
                                 "SELECT service, metric, ts, value FROM metric_samples WHERE tenant = ?1 AND "
                                 "ts >= ?2 ORDER BY service, metric, ts, rowid",
                                 "export_samples");
    int result = stmt ? bind_failed(self, bind_text(stmt, 1, tenant) + bind_double(stmt, 2, since), "export_samples")
                      : -1;
    int rc = SQLITE_DONE;
    while (result == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        hydra_sample sample = {column_text(stmt, 0), column_text(stmt, 1), sqlite3_column_double(stmt, 2),
                               sqlite3_column_double(stmt, 3)};
        if (visit(context, &sample) != 0)
            break;
    }
    if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = fail_db(self, "export_samples");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* Epoch-aligned buckets: CAST truncates toward zero, so one is taken off below zero to make it a floor. The p95 is
 * the nearest rank, ceil(0.95 n) = (95 n + 99) / 100 in integers, found by numbering each bucket's values in order. */
static const char aggregate_sql[] =
    "WITH bucketed AS (SELECT (CAST(ts / ?6 AS INTEGER) - (ts < CAST(ts / ?6 AS INTEGER) * ?6)) * ?6 AS start, value"
    "  FROM metric_samples WHERE tenant = ?1 AND service = ?2 AND metric = ?3 AND ts >= ?4 AND ts < ?5),"
    " ranked AS (SELECT start, value, row_number() OVER (PARTITION BY start ORDER BY value) AS rank,"
    "  count(*) OVER (PARTITION BY start) AS n FROM bucketed)"
    "SELECT start, count(*), avg(value), min(value), max(value),"
    "  max(CASE WHEN rank = (95 * n + 99) / 100 THEN value END) FROM ranked GROUP BY start ORDER BY start";

static int store_aggregate_samples(void *state, const char *tenant, const char *service, const char *metric,
                                   double from, double to, double bucket_seconds, hydra_bucket_visitor visit,
                                   void *context)
{
    store_sqlite *self = state;
    const char *problem = aggregate_problem(tenant, service, metric, visit != NULL, from, to, bucket_seconds);
    if (problem)
        return invalid(self, "%s", problem);
    pthread_mutex_lock(&self->lock);
    sqlite3_stmt *stmt = prepare(self, aggregate_sql, "aggregate_samples");
    int result = stmt ? 0 : -1, rc = SQLITE_DONE;
    if (result == 0)
        result = bind_failed(self,
                             bind_text(stmt, 1, tenant) + bind_text(stmt, 2, service) + bind_text(stmt, 3, metric) +
                                 bind_double(stmt, 4, from) + bind_double(stmt, 5, to) +
                                 bind_double(stmt, 6, bucket_seconds),
                             "aggregate_samples");
    while (result == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        hydra_sample_bucket bucket = {sqlite3_column_double(stmt, 0), sqlite3_column_int64(stmt, 1),
                                      sqlite3_column_double(stmt, 2), sqlite3_column_double(stmt, 3),
                                      sqlite3_column_double(stmt, 4), sqlite3_column_double(stmt, 5)};
        if (visit(context, &bucket) != 0)
            break;
    }
    if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = fail_db(self, "aggregate_samples %s %s", service, metric);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* ## Services ------------------------------------------------------------------------------------------------------ */

static int paused_body(store_sqlite *self, void *args)
{
    const hydra_service_record *r = args;
    sqlite3_stmt *service = prepare_service_insert(self);
    int result = service ? ensure_tenant(self, r->tenant) : -1;
    if (result == 0)
        result = ensure_service(self, service, r->tenant, r->name);
    sqlite3_finalize(service);
    sqlite3_stmt *stmt = result == 0 ? prepare(self,
                                               "UPDATE services SET paused = ?3, paused_at = ?4, paused_by = ?5 "
                                               "WHERE tenant = ?1 AND name = ?2",
                                               "set_service_paused")
                                     : NULL;
    if (!stmt)
        return -1;
    bool paused = r->paused != 0;
    int failures = bind_text(stmt, 1, r->tenant) + bind_text(stmt, 2, r->name) +
                   (sqlite3_bind_int(stmt, 3, paused) != SQLITE_OK) + bind_time(stmt, 4, paused ? r->paused_at : 0) +
                   bind_text(stmt, 5, paused ? r->paused_by : NULL);
    result = bind_failed(self, failures, "set_service_paused");
    if (result == 0)
        result = step_done(self, stmt, "set_service_paused");
    sqlite3_finalize(stmt);
    return result;
}

static int store_set_service_paused(void *state, const hydra_service_record *record)
{
    store_sqlite *self = state;
    const char *problem = service_pause_problem(record);
    if (problem)
        return invalid(self, "%s", problem);
    return write_transaction(self, "set_service_paused", paused_body, (void *)record);
}

static int store_list_services(void *state, const char *tenant, hydra_service_visitor visit, void *context)
{
    store_sqlite *self = state;
    if (require_tenant(self, "list_services", tenant) != 0)
        return -1;
    if (!visit)
        return invalid(self, "list_services: a visitor is required");
    pthread_mutex_lock(&self->lock);
    sqlite3_stmt *stmt = prepare(self,
                                 "SELECT tenant, name, paused, paused_at, paused_by FROM services WHERE tenant = ?1 "
                                 "ORDER BY name",
                                 "list_services");
    int result = stmt ? bind_failed(self, bind_text(stmt, 1, tenant), "list_services") : -1, rc = SQLITE_DONE;
    while (result == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        hydra_service_record record = {column_text(stmt, 0), column_text(stmt, 1), sqlite3_column_int(stmt, 2),
                                       sqlite3_column_double(stmt, 3), column_text(stmt, 4)};
        if (visit(context, &record) != 0)
            break;
    }
    if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = fail_db(self, "list_services");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* ## The model registry ------------------------------------------------------------------------------------------ */

#define MODEL_COLUMNS                                                                                              \
    "tenant, service, model, version, active, state, checksum, trained_from, trained_to, metrics, created_at, note"

typedef struct model_put_args {
    const hydra_model_record *record;
    long long *version;
} model_put_args;

static int model_deactivate_others(store_sqlite *self, const char *tenant, const char *service, const char *model)
{
    sqlite3_stmt *stmt = prepare(self,
                                 "UPDATE model_versions SET active = 0 WHERE tenant = ?1 AND service = ?2 AND "
                                 "model = ?3 AND active = 1",
                                 "model versions: deactivate");
    if (!stmt)
        return -1;
    int result = bind_failed(self, bind_text(stmt, 1, tenant) + bind_text(stmt, 2, service) + bind_text(stmt, 3, model),
                             "model versions: deactivate");
    if (result == 0)
        result = step_done(self, stmt, "model versions: deactivate");
    sqlite3_finalize(stmt);
    return result;
}

static int model_next_version(store_sqlite *self, const hydra_model_record *r, long long *version)
{
    sqlite3_stmt *stmt = prepare(self,
                                 "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE tenant = ?1 AND "
                                 "service = ?2 AND model = ?3",
                                 "put_model_version");
    if (!stmt)
        return -1;
    int result = bind_failed(self, bind_text(stmt, 1, r->tenant) + bind_text(stmt, 2, r->service) +
                                       bind_text(stmt, 3, r->model),
                             "put_model_version");
    if (result == 0 && sqlite3_step(stmt) == SQLITE_ROW)
        *version = sqlite3_column_int64(stmt, 0);
    else if (result == 0)
        result = fail_db(self, "put_model_version: next version");
    sqlite3_finalize(stmt);
    return result;
}

static int model_put_body(store_sqlite *self, void *args)
{
    const model_put_args *a = args;
    const hydra_model_record *r = a->record;
    sqlite3_stmt *service = prepare_service_insert(self);
    int result = service ? ensure_tenant(self, r->tenant) : -1;
    if (result == 0)
        result = ensure_service(self, service, r->tenant, r->service);
    sqlite3_finalize(service);
    if (result == 0 && r->active)
        result = model_deactivate_others(self, r->tenant, r->service, r->model);
    if (result != 0 || model_next_version(self, r, a->version) != 0)
        return -1;
    sqlite3_stmt *stmt = prepare(self,
                                 "INSERT INTO model_versions (" MODEL_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                                 "?8, ?9, ?10, ?11, ?12)",
                                 "put_model_version");
    if (!stmt)
        return -1;
    int failures = bind_text(stmt, 1, r->tenant) + bind_text(stmt, 2, r->service) + bind_text(stmt, 3, r->model) +
                   (sqlite3_bind_int64(stmt, 4, *a->version) != SQLITE_OK) +
                   (sqlite3_bind_int(stmt, 5, r->active != 0) != SQLITE_OK) + bind_text(stmt, 6, r->state) +
                   bind_text(stmt, 7, r->checksum) + bind_double(stmt, 8, r->trained_from) +
                   bind_double(stmt, 9, r->trained_to) + bind_text(stmt, 10, r->metrics) +
                   bind_double(stmt, 11, r->created_at) + bind_text(stmt, 12, r->note);
    result = bind_failed(self, failures, "put_model_version");
    if (result == 0)
        result = step_done(self, stmt, "put_model_version");
    sqlite3_finalize(stmt);
    return result;
}

static int store_put_model_version(void *state, const hydra_model_record *record, long long *version)
{
    store_sqlite *self = state;
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

static int model_activate_body(store_sqlite *self, void *args)
{
    const model_activate_args *a = args;
    if (model_deactivate_others(self, a->tenant, a->service, a->model) != 0)
        return -1;
    sqlite3_stmt *stmt = prepare(self,
                                 "UPDATE model_versions SET active = 1 WHERE tenant = ?1 AND service = ?2 AND "
                                 "model = ?3 AND version = ?4",
                                 "activate_model_version");
    if (!stmt)
        return -1;
    int failures = bind_text(stmt, 1, a->tenant) + bind_text(stmt, 2, a->service) + bind_text(stmt, 3, a->model) +
                   (sqlite3_bind_int64(stmt, 4, a->version) != SQLITE_OK);
    int result = bind_failed(self, failures, "activate_model_version");
    if (result == 0)
        result = step_done(self, stmt, "activate_model_version");
    if (result == 0 && sqlite3_changes(self->db) == 0)
        result = 1; /* no such version: roll back, the active one stays */
    sqlite3_finalize(stmt);
    return result;
}

static int store_activate_model_version(void *state, const char *tenant, const char *service, const char *model,
                                        long long version)
{
    store_sqlite *self = state;
    const char *problem = model_lookup_problem(tenant, service, true);
    if (problem || !text_present(model) || version < 1)
        return invalid(self, "activate_model_version: %s", problem ? problem : "a model and a version >= 1 are needed");
    model_activate_args args = {tenant, service, model, version};
    return write_transaction(self, "activate_model_version", model_activate_body, &args);
}

static int models_walk(store_sqlite *self, sqlite3_stmt *stmt, hydra_model_visitor visit, void *context,
                       bool *found)
{
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        hydra_model_record record = {column_text(stmt, 0),          column_text(stmt, 1),
                                     column_text(stmt, 2),          sqlite3_column_int64(stmt, 3),
                                     sqlite3_column_int(stmt, 4),   column_text(stmt, 5),
                                     column_text(stmt, 6),          sqlite3_column_double(stmt, 7),
                                     sqlite3_column_double(stmt, 8), column_text(stmt, 9),
                                     sqlite3_column_double(stmt, 10), column_text(stmt, 11)};
        *found = true;
        if (visit(context, &record) != 0)
            return 0;
    }
    return rc == SQLITE_DONE ? 0 : fail_db(self, "model versions");
}

static int store_get_model_version(void *state, const char *tenant, const char *service, const char *model,
                                   long long version, hydra_model_visitor visit, void *context)
{
    store_sqlite *self = state;
    const char *problem = model_lookup_problem(tenant, service, visit != NULL);
    if (problem || !text_present(model) || version < 0)
        return invalid(self, "get_model_version: %s", problem ? problem : "a model and a version >= 0 are needed");
    pthread_mutex_lock(&self->lock);
    /* two statements rather than one with an OR, so each has its index: the active one, or the primary key */
    sqlite3_stmt *stmt = prepare(self,
                                 version ? "SELECT " MODEL_COLUMNS " FROM model_versions WHERE tenant = ?1 AND "
                                           "service = ?2 AND model = ?3 AND version = ?4"
                                         : "SELECT " MODEL_COLUMNS " FROM model_versions WHERE tenant = ?1 AND "
                                           "service = ?2 AND model = ?3 AND active = 1 AND ?4 = 0",
                                 "get_model_version");
    bool found = false;
    int result = stmt ? bind_failed(self, bind_text(stmt, 1, tenant) + bind_text(stmt, 2, service) +
                                              bind_text(stmt, 3, model) +
                                              (sqlite3_bind_int64(stmt, 4, version) != SQLITE_OK),
                                    "get_model_version")
                      : -1;
    if (result == 0)
        result = models_walk(self, stmt, visit, context, &found);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result == 0 && !found ? 1 : result;
}

static int store_list_model_versions(void *state, const char *tenant, const char *service, const char *model,
                                     hydra_model_visitor visit, void *context)
{
    store_sqlite *self = state;
    const char *problem = model_lookup_problem(tenant, service, visit != NULL);
    if (problem)
        return invalid(self, "list_model_versions: %s", problem);
    pthread_mutex_lock(&self->lock);
    sqlite3_stmt *stmt = prepare(self,
                                 "SELECT " MODEL_COLUMNS " FROM model_versions WHERE tenant = ?1 AND service = ?2 AND "
                                 "(?3 IS NULL OR model = ?3) ORDER BY model, version DESC",
                                 "list_model_versions");
    bool found = false;
    int result = stmt ? bind_failed(self, bind_text(stmt, 1, tenant) + bind_text(stmt, 2, service) +
                                              bind_text(stmt, 3, model),
                                    "list_model_versions")
                      : -1;
    if (result == 0)
        result = models_walk(self, stmt, visit, context, &found);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* ## Recommendations ----------------------------------------------------------------------------------------------- */

#define RECOMMENDATION_COLUMNS                                                                                     \
    "tenant, id, target, state, from_replicas, to_replicas, asked, forecast_peak, forecast_peak_at, created_at, "   \
    "expires_at, decided_at, finished_at, reason, decided_by, decision_reason, result"

/* Parameters ?1..?17 in RECOMMENDATION_COLUMNS order, shared by the insert and the conditional update. created_at is
 * never updated: it is when the recommendation was made, whatever a later save says. */
static const char recommendation_upsert_sql[] =
    "INSERT INTO recommendations (" RECOMMENDATION_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
    "?12, ?13, ?14, ?15, ?16, ?17) ON CONFLICT (tenant, id) DO UPDATE SET target = excluded.target, "
    "state = excluded.state, from_replicas = excluded.from_replicas, to_replicas = excluded.to_replicas, "
    "asked = excluded.asked, forecast_peak = excluded.forecast_peak, forecast_peak_at = excluded.forecast_peak_at, "
    "expires_at = excluded.expires_at, decided_at = excluded.decided_at, finished_at = excluded.finished_at, "
    "reason = excluded.reason, decided_by = excluded.decided_by, decision_reason = excluded.decision_reason, "
    "result = excluded.result";

static const char recommendation_update_sql[] =
    "UPDATE recommendations SET target = ?3, state = ?4, from_replicas = ?5, to_replicas = ?6, asked = ?7, "
    "forecast_peak = ?8, forecast_peak_at = ?9, expires_at = ?11, decided_at = ?12, finished_at = ?13, reason = ?14, "
    "decided_by = ?15, decision_reason = ?16, result = ?17 WHERE tenant = ?1 AND id = ?2 AND state = ?18";

static int recommendation_bind(sqlite3_stmt *stmt, const hydra_recommendation_record *r)
{
    return bind_text(stmt, 1, r->tenant) + bind_text(stmt, 2, r->id) + bind_text(stmt, 3, r->target) +
           bind_text(stmt, 4, r->state) + (sqlite3_bind_int(stmt, 5, r->from_replicas) != SQLITE_OK) +
           (sqlite3_bind_int(stmt, 6, r->to_replicas) != SQLITE_OK) +
           (sqlite3_bind_int(stmt, 7, r->asked ? 1 : 0) != SQLITE_OK) + bind_maybe_nan(stmt, 8, r->forecast_peak) +
           bind_maybe_nan(stmt, 9, r->forecast_peak_at) + bind_double(stmt, 10, r->created_at) +
           bind_time(stmt, 11, r->expires_at) + bind_time(stmt, 12, r->decided_at) +
           bind_time(stmt, 13, r->finished_at) + bind_text(stmt, 14, r->reason) + bind_text(stmt, 15, r->decided_by) +
           bind_text(stmt, 16, r->decision_reason) + bind_text(stmt, 17, r->result);
}

/* The row at the statement's cursor, columns in RECOMMENDATION_COLUMNS order. */
static hydra_recommendation_record recommendation_from_row(sqlite3_stmt *stmt)
{
    return (hydra_recommendation_record){
        .tenant = column_text(stmt, 0),
        .id = column_text(stmt, 1),
        .target = column_text(stmt, 2),
        .state = column_text(stmt, 3),
        .from_replicas = sqlite3_column_int(stmt, 4),
        .to_replicas = sqlite3_column_int(stmt, 5),
        .asked = sqlite3_column_int(stmt, 6),
        .forecast_peak = column_maybe_nan(stmt, 7),
        .forecast_peak_at = column_maybe_nan(stmt, 8),
        .created_at = sqlite3_column_double(stmt, 9),
        .expires_at = sqlite3_column_double(stmt, 10), /* NULL reads as 0: "not yet" */
        .decided_at = sqlite3_column_double(stmt, 11),
        .finished_at = sqlite3_column_double(stmt, 12),
        .reason = column_text(stmt, 13),
        .decided_by = column_text(stmt, 14),
        .decision_reason = column_text(stmt, 15),
        .result = column_text(stmt, 16),
    };
}

typedef struct save_args {
    const hydra_recommendation_record *record;
    const hydra_recommendation_event *event;
    const char *expected_state;
} save_args;

static int save_validate(store_sqlite *self, const save_args *a)
{
    const hydra_recommendation_record *r = a->record;
    if (!r || !a->event)
        return invalid(self, "save_recommendation: a record and the event that changed it are required");
    if (require_tenant(self, "save_recommendation", r->tenant) != 0)
        return -1;
    if (!text_present(r->id) || !text_present(r->target))
        return invalid(self, "save_recommendation: id and target must be non-empty");
    if (r->from_replicas < 0 || r->to_replicas < 0)
        return invalid(self, "save_recommendation %s: replica counts must be >= 0, not %d and %d", r->id,
                       r->from_replicas, r->to_replicas);
    if (!isfinite(r->created_at) || !isfinite(a->event->at))
        return invalid(self, "save_recommendation %s: created_at and the event's time must be finite", r->id);
    if (require_state(self, "save_recommendation", "state", r->state) != 0 ||
        require_state(self, "save_recommendation", "event from_state", a->event->from_state) != 0 ||
        require_state(self, "save_recommendation", "event to_state", a->event->to_state) != 0)
        return -1;
    return a->expected_state ? require_state(self, "save_recommendation", "expected_state", a->expected_state) : 0;
}

/* 0 when the row was written; 1 when expected_state was given and the stored row is not (or no longer) in it. */
static int recommendation_write(store_sqlite *self, const save_args *a)
{
    const char *what = "save_recommendation";
    sqlite3_stmt *stmt = prepare(self, a->expected_state ? recommendation_update_sql : recommendation_upsert_sql, what);
    if (!stmt)
        return -1;
    int failures = recommendation_bind(stmt, a->record);
    if (a->expected_state)
        failures += bind_text(stmt, 18, a->expected_state);
    int result = bind_failed(self, failures, what);
    if (result == 0)
        result = step_done(self, stmt, what);
    if (result == 0 && a->expected_state && sqlite3_changes(self->db) == 0)
        result = 1;
    sqlite3_finalize(stmt);
    return result;
}

/* The event belongs to the record it changed: its tenant and recommendation id are taken from the record. */
static int event_insert(store_sqlite *self, const save_args *a)
{
    const char *what = "save_recommendation: event";
    sqlite3_stmt *stmt = prepare(self,
                                 "INSERT INTO recommendation_events (tenant, recommendation_id, from_state, to_state, "
                                 "at, actor, why) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                 what);
    if (!stmt)
        return -1;
    const hydra_recommendation_event *e = a->event;
    int failures = bind_text(stmt, 1, a->record->tenant) + bind_text(stmt, 2, a->record->id) +
                   bind_text(stmt, 3, e->from_state) + bind_text(stmt, 4, e->to_state) + bind_double(stmt, 5, e->at) +
                   bind_text(stmt, 6, e->by) + bind_text(stmt, 7, e->why);
    int result = bind_failed(self, failures, what);
    if (result == 0)
        result = step_done(self, stmt, what);
    sqlite3_finalize(stmt);
    return result;
}

static int save_body(store_sqlite *self, void *args)
{
    const save_args *a = args;
    if (ensure_tenant(self, a->record->tenant) != 0)
        return -1;
    int written = recommendation_write(self, a);
    return written != 0 ? written : event_insert(self, a);
}

static int store_save_recommendation(void *state, const hydra_recommendation_record *record,
                                     const hydra_recommendation_event *event, const char *expected_state)
{
    store_sqlite *self = state;
    save_args args = {record, event, expected_state};
    if (save_validate(self, &args) != 0)
        return -1;
    return write_transaction(self, "save_recommendation", save_body, &args);
}

/* Steps through the rows of a recommendation query, handing each to visit; the lock is held by the caller. */
static int recommendations_walk(store_sqlite *self, sqlite3_stmt *stmt, hydra_recommendation_visitor visit,
                                void *context, size_t *seen, const char *what)
{
    int rc;
    *seen = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        hydra_recommendation_record record = recommendation_from_row(stmt);
        ++*seen;
        if (visit && visit(context, &record) != 0)
            return 0;
    }
    return rc == SQLITE_DONE ? 0 : fail_db(self, "%s", what);
}

/* 0 means no limit, which SQLite spells -1. */
static sqlite3_int64 sql_limit(size_t limit)
{
    return limit > 0 && limit < (size_t)INT64_MAX ? (sqlite3_int64)limit : -1;
}

static int store_list_recommendations(void *state, const char *tenant, const char *state_filter, size_t limit,
                                      hydra_recommendation_visitor visit, void *context)
{
    store_sqlite *self = state;
    if (require_tenant(self, "list_recommendations", tenant) != 0 ||
        (state_filter && require_state(self, "list_recommendations", "state filter", state_filter) != 0))
        return -1;
    /* Two statements rather than "?2 IS NULL OR state = ?2", which no index can serve. LIMIT -1 is no limit. */
    const char *sql = state_filter ? "SELECT " RECOMMENDATION_COLUMNS " FROM recommendations WHERE tenant = ?1 AND "
                                     "state = ?2 ORDER BY created_at DESC, id DESC LIMIT ?3"
                                   : "SELECT " RECOMMENDATION_COLUMNS " FROM recommendations WHERE tenant = ?1 "
                                     "ORDER BY created_at DESC, id DESC LIMIT ?3";
    pthread_mutex_lock(&self->lock);
    sqlite3_stmt *stmt = prepare(self, sql, "list_recommendations");
    int result = stmt ? 0 : -1;
    size_t seen = 0;
    if (result == 0)
        result = bind_failed(self,
                             bind_text(stmt, 1, tenant) + (state_filter ? bind_text(stmt, 2, state_filter) : 0) +
                                 (sqlite3_bind_int64(stmt, 3, sql_limit(limit)) != SQLITE_OK),
                             "list_recommendations");
    if (result == 0)
        result = recommendations_walk(self, stmt, visit, context, &seen, "list_recommendations");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result;
}

static int events_walk(store_sqlite *self, const char *tenant, const char *id, hydra_event_visitor visit,
                       void *context)
{
    const char *what = "get_recommendation: events";
    sqlite3_stmt *stmt = prepare(self,
                                 "SELECT from_state, to_state, at, actor, why FROM recommendation_events WHERE "
                                 "tenant = ?1 AND recommendation_id = ?2 ORDER BY at, seq",
                                 what);
    if (!stmt)
        return -1;
    int result = bind_failed(self, bind_text(stmt, 1, tenant) + bind_text(stmt, 2, id), what), rc = SQLITE_DONE;
    while (result == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        hydra_recommendation_event event = {tenant, id, column_text(stmt, 0), column_text(stmt, 1),
                                            sqlite3_column_double(stmt, 2), column_text(stmt, 3),
                                            column_text(stmt, 4)};
        if (visit(context, &event) != 0)
            break;
    }
    if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = fail_db(self, "%s", what);
    sqlite3_finalize(stmt);
    return result;
}

typedef struct stop_watch {
    hydra_recommendation_visitor visit;
    void *context;
    bool stopped;
} stop_watch;

/* Passes the record on and notes whether the visitor asked to stop, in which case its events are not walked. */
static int record_and_watch(void *context, const hydra_recommendation_record *record)
{
    stop_watch *watch = context;
    watch->stopped = watch->visit(watch->context, record) != 0;
    return watch->stopped;
}

static int get_locked(store_sqlite *self, const char *tenant, const char *id, hydra_recommendation_visitor visit,
                      hydra_event_visitor visit_event, void *context)
{
    sqlite3_stmt *stmt = prepare(self,
                                 "SELECT " RECOMMENDATION_COLUMNS " FROM recommendations WHERE tenant = ?1 AND id = ?2",
                                 "get_recommendation");
    if (!stmt)
        return -1;
    stop_watch watch = {visit, context, false};
    size_t seen = 0;
    int result = bind_failed(self, bind_text(stmt, 1, tenant) + bind_text(stmt, 2, id), "get_recommendation");
    if (result == 0)
        result = recommendations_walk(self, stmt, visit ? record_and_watch : NULL, &watch, &seen,
                                      "get_recommendation");
    sqlite3_finalize(stmt);
    if (result == 0 && seen == 0)
        return 1;
    if (result == 0 && visit_event && !watch.stopped)
        result = events_walk(self, tenant, id, visit_event, context);
    return result;
}

static int store_get_recommendation(void *state, const char *tenant, const char *id,
                                    hydra_recommendation_visitor visit, hydra_event_visitor visit_event, void *context)
{
    store_sqlite *self = state;
    if (require_tenant(self, "get_recommendation", tenant) != 0)
        return -1;
    if (!text_present(id))
        return invalid(self, "get_recommendation: id must be non-empty");
    pthread_mutex_lock(&self->lock);
    int result = get_locked(self, tenant, id, visit, visit_event, context);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* ## API keys ------------------------------------------------------------------------------------------------------ */

#define API_KEY_COLUMNS "tenant, name, hash, scopes, created_at, revoked_at"

/* A stored hash that is not 64 hex digits is most likely the secret itself: refuse it before it reaches the disk. */
static int api_key_validate(store_sqlite *self, const hydra_api_key_record *r)
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

static int api_key_insert(store_sqlite *self, const hydra_api_key_record *r)
{
    sqlite3_stmt *stmt = prepare(self, "INSERT INTO api_keys (" API_KEY_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                 "put_api_key");
    if (!stmt)
        return -1;
    int failures = bind_text(stmt, 1, r->tenant) + bind_text(stmt, 2, r->name) + bind_text(stmt, 3, r->hash) +
                   bind_text(stmt, 4, r->scopes) + bind_double(stmt, 5, r->created_at) +
                   bind_time(stmt, 6, r->revoked_at);
    int result = bind_failed(self, failures, "put_api_key");
    if (result == 0 && sqlite3_step(stmt) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(self->db) == SQLITE_CONSTRAINT_UNIQUE ||
            sqlite3_extended_errcode(self->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
            result = fail_db(self, "put_api_key %s (tenant %s): a valid key with this name, or a key with this hash, "
                                   "already exists", r->name, r->tenant);
        else
            result = fail_db(self, "put_api_key %s (tenant %s)", r->name, r->tenant);
    }
    sqlite3_finalize(stmt);
    return result;
}

static int put_key_body(store_sqlite *self, void *args)
{
    const hydra_api_key_record *r = args;
    return ensure_tenant(self, r->tenant) != 0 ? -1 : api_key_insert(self, r);
}

static int store_put_api_key(void *state, const hydra_api_key_record *record)
{
    store_sqlite *self = state;
    if (api_key_validate(self, record) != 0)
        return -1;
    return write_transaction(self, "put_api_key", put_key_body, (void *)record);
}

/* Runs a query of API_KEY_COLUMNS bound to one or two texts; 1 when it found nothing. */
static int api_keys_walk(store_sqlite *self, const char *sql, const char *first, const char *second,
                         hydra_api_key_visitor visit, void *context, const char *what)
{
    pthread_mutex_lock(&self->lock);
    sqlite3_stmt *stmt = prepare(self, sql, what);
    int result = stmt ? 0 : -1, rc = SQLITE_DONE;
    size_t seen = 0;
    if (result == 0)
        result = bind_failed(self, bind_text(stmt, 1, first) + (second ? bind_text(stmt, 2, second) : 0), what);
    while (result == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        hydra_api_key_record record = {column_text(stmt, 0),           column_text(stmt, 1),
                                       column_text(stmt, 2),           column_text(stmt, 3),
                                       sqlite3_column_double(stmt, 4), sqlite3_column_double(stmt, 5)};
        seen++;
        if (visit && visit(context, &record) != 0)
            break;
    }
    if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = fail_db(self, "%s", what);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result == 0 && seen == 0 ? 1 : result;
}

static int store_find_api_key(void *state, const char *hash, hydra_api_key_visitor visit, void *context)
{
    store_sqlite *self = state;
    if (!text_present(hash))
        return invalid(self, "find_api_key: hash must be non-empty");
    return api_keys_walk(self, "SELECT " API_KEY_COLUMNS " FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL",
                         hash, NULL, visit, context, "find_api_key");
}

static int store_list_api_keys(void *state, const char *tenant, hydra_api_key_visitor visit, void *context)
{
    store_sqlite *self = state;
    if (require_tenant(self, "list_api_keys", tenant) != 0)
        return -1;
    int result = api_keys_walk(self,
                               "SELECT " API_KEY_COLUMNS " FROM api_keys WHERE tenant = ?1 ORDER BY name, created_at",
                               tenant, NULL, visit, context, "list_api_keys");
    return result == 1 ? 0 : result; /* a tenant without keys is not an error */
}

typedef struct revoke_args {
    const char *tenant;
    const char *name;
    double at;
} revoke_args;

/* The time is bound as given, even 0, so that a key revoked at the simulator's time 0 is still revoked. */
static int revoke_body(store_sqlite *self, void *args)
{
    const revoke_args *a = args;
    sqlite3_stmt *stmt = prepare(self,
                                 "UPDATE api_keys SET revoked_at = ?3 WHERE tenant = ?1 AND name = ?2 AND "
                                 "revoked_at IS NULL",
                                 "revoke_api_key");
    if (!stmt)
        return -1;
    int failures = bind_text(stmt, 1, a->tenant) + bind_text(stmt, 2, a->name) + bind_double(stmt, 3, a->at);
    int result = bind_failed(self, failures, "revoke_api_key");
    if (result == 0)
        result = step_done(self, stmt, "revoke_api_key");
    if (result == 0 && sqlite3_changes(self->db) == 0)
        result = 1;
    sqlite3_finalize(stmt);
    return result;
}

static int store_revoke_api_key(void *state, const char *tenant, const char *name, double at)
{
    store_sqlite *self = state;
    if (require_tenant(self, "revoke_api_key", tenant) != 0)
        return -1;
    if (!text_present(name) || !isfinite(at))
        return invalid(self, "revoke_api_key: name must be non-empty and the time finite");
    revoke_args args = {tenant, name, at};
    return write_transaction(self, "revoke_api_key", revoke_body, &args);
}

/* ## Audit log and alerts ----------------------------------------------------------------------------------------- */

static int audit_body(store_sqlite *self, void *args)
{
    const hydra_audit_record *r = args;
    if (ensure_tenant(self, r->tenant) != 0)
        return -1;
    sqlite3_stmt *stmt = prepare(self,
                                 "INSERT INTO audit_log (tenant, at, actor, action, subject, detail, request_id) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                 "append_audit");
    if (!stmt)
        return -1;
    int failures = bind_text(stmt, 1, r->tenant) + bind_double(stmt, 2, r->at) + bind_text(stmt, 3, r->actor) +
                   bind_text(stmt, 4, r->action) + bind_text(stmt, 5, r->subject) + bind_text(stmt, 6, r->detail) +
                   bind_text(stmt, 7, r->request_id);
    int result = bind_failed(self, failures, "append_audit");
    if (result == 0)
        result = step_done(self, stmt, "append_audit");
    sqlite3_finalize(stmt);
    return result;
}

static int store_append_audit(void *state, const hydra_audit_record *record)
{
    store_sqlite *self = state;
    if (!record)
        return invalid(self, "append_audit: a record is required");
    if (require_tenant(self, "append_audit", record->tenant) != 0)
        return -1;
    if (!text_present(record->actor) || !text_present(record->action) || !isfinite(record->at))
        return invalid(self, "append_audit: actor and action must be non-empty and the time finite");
    return write_transaction(self, "append_audit", audit_body, (void *)record);
}

static int alert_insert(store_sqlite *self, const hydra_alert_record *r)
{
    /* An alert saved again under its id replaces the first: the controller may re-raise it with a new score. */
    sqlite3_stmt *stmt = prepare(self,
                                 "INSERT INTO alerts (tenant, id, service, metric, at, score, message) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tenant, id) DO UPDATE SET "
                                 "service = excluded.service, metric = excluded.metric, at = excluded.at, "
                                 "score = excluded.score, message = excluded.message",
                                 "put_alert");
    if (!stmt)
        return -1;
    int failures = bind_text(stmt, 1, r->tenant) + bind_text(stmt, 2, r->id) + bind_text(stmt, 3, r->service) +
                   bind_text(stmt, 4, r->metric) + bind_double(stmt, 5, r->at) + bind_double(stmt, 6, r->score) +
                   bind_text(stmt, 7, r->message);
    int result = bind_failed(self, failures, "put_alert");
    if (result == 0)
        result = step_done(self, stmt, "put_alert");
    sqlite3_finalize(stmt);
    return result;
}

static int alert_body(store_sqlite *self, void *args)
{
    const hydra_alert_record *r = args;
    sqlite3_stmt *service = prepare_service_insert(self);
    int result = service ? 0 : -1;
    if (result == 0)
        result = ensure_tenant(self, r->tenant);
    if (result == 0)
        result = ensure_service(self, service, r->tenant, r->service);
    sqlite3_finalize(service);
    return result == 0 ? alert_insert(self, r) : -1;
}

static int store_put_alert(void *state, const hydra_alert_record *record)
{
    store_sqlite *self = state;
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

static int alerts_walk(store_sqlite *self, sqlite3_stmt *stmt, hydra_alert_visitor visit, void *context)
{
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        hydra_alert_record record = {column_text(stmt, 0),           column_text(stmt, 1),
                                     column_text(stmt, 2),           column_text(stmt, 3),
                                     sqlite3_column_double(stmt, 4), sqlite3_column_double(stmt, 5),
                                     column_text(stmt, 6)};
        if (visit(context, &record) != 0)
            return 0;
    }
    return rc == SQLITE_DONE ? 0 : fail_db(self, "list_alerts");
}

static int store_list_alerts(void *state, const char *tenant, double since, hydra_alert_visitor visit, void *context)
{
    store_sqlite *self = state;
    if (require_tenant(self, "list_alerts", tenant) != 0)
        return -1;
    if (!visit || isnan(since))
        return invalid(self, "list_alerts: a visitor and a time are required");
    pthread_mutex_lock(&self->lock);
    sqlite3_stmt *stmt = prepare(self,
                                 "SELECT tenant, id, service, metric, at, score, message FROM alerts WHERE "
                                 "tenant = ?1 AND at >= ?2 ORDER BY at DESC, id DESC",
                                 "list_alerts");
    int result = stmt ? 0 : -1;
    if (result == 0)
        result = bind_failed(self, bind_text(stmt, 1, tenant) + bind_double(stmt, 2, since), "list_alerts");
    if (result == 0)
        result = alerts_walk(self, stmt, visit, context);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result;
}

static int store_list_audit(void *state, const char *tenant, size_t limit, hydra_audit_visitor visit, void *context)
{
    store_sqlite *self = state;
    if (require_tenant(self, "list_audit", tenant) != 0)
        return -1;
    if (!visit || limit == 0)
        return invalid(self, "list_audit: a visitor and a limit above 0 are required");
    pthread_mutex_lock(&self->lock);
    sqlite3_stmt *stmt = prepare(self,
                                 "SELECT tenant, at, actor, action, subject, detail, request_id FROM audit_log WHERE "
                                 "tenant = ?1 ORDER BY at DESC, rowid DESC LIMIT ?2",
                                 "list_audit");
    int result = stmt ? 0 : -1, rc = SQLITE_DONE;
    if (result == 0)
        result = bind_failed(self, bind_text(stmt, 1, tenant) + sqlite3_bind_int64(stmt, 2, (sqlite3_int64)limit),
                             "list_audit");
    while (result == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        hydra_audit_record record = {column_text(stmt, 0), sqlite3_column_double(stmt, 1), column_text(stmt, 2),
                                     column_text(stmt, 3), column_text(stmt, 4),            column_text(stmt, 5),
                                     column_text(stmt, 6)};
        if (visit(context, &record) != 0)
            break;
    }
    if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = fail_db(self, "list_audit");
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* Reads the schema table rather than "SELECT 1", which SQLite answers without touching the file. Any failure here
 * means the database does not answer, whatever SQLite calls it. */
static int store_health(void *state)
{
    store_sqlite *self = state;
    pthread_mutex_lock(&self->lock);
    sqlite3_stmt *stmt = NULL;
    int result = 0;
    if (sqlite3_prepare_v2(self->db, "SELECT count(*) FROM sqlite_schema", -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW)
        result = invalid(self, "unavailable: health: %s (database %s)", sqlite3_errmsg(self->db), self->path);
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* ## Backup and restore: SQLite's online backup API ------------------------------------------------------------- */

/* Copies every page of from into to in one step: the copy is one consistent snapshot of the source. */
static int copy_database(store_sqlite *self, sqlite3 *to, sqlite3 *from, const char *what)
{
    sqlite3_backup *backup = sqlite3_backup_init(to, "main", from, "main");
    if (!backup)
        return invalid(self, "%s: %s", what, sqlite3_errmsg(to));
    int rc = sqlite3_backup_step(backup, -1);
    sqlite3_backup_finish(backup);
    if (rc == SQLITE_DONE)
        return 0;
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return invalid(self, "unavailable: %s: the database %s is locked by another process (stop the daemon "
                             "before a restore)", what, self->path);
    return invalid(self, "%s: %s", what, (rc & 0xff) == SQLITE_NOTADB ? "not a SQLite database" : sqlite3_errstr(rc));
}

/* Written to PATH.partial, then renamed: a backup that fails half way never leaves a file that looks whole. */
static int store_backup(void *state, const char *path)
{
    store_sqlite *self = state;
    char partial[4096];
    if (snprintf(partial, sizeof partial, "%s.partial", path) >= (int)sizeof partial)
        return invalid(self, "backup: path too long: %s", path);
    int fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC, 0600); /* every sample and decision: the owner's only */
    if (fd < 0)
        return invalid(self, "backup: cannot create %s: %s", partial, strerror(errno));
    close(fd);
    sqlite3 *copy = NULL;
    if (sqlite3_open_v2(partial, &copy, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        int result = invalid(self, "backup: cannot create %s: %s", partial, copy ? sqlite3_errmsg(copy) : "no memory");
        sqlite3_close(copy);
        return result;
    }
    pthread_mutex_lock(&self->lock);
    int result = copy_database(self, copy, self->db, "backup");
    pthread_mutex_unlock(&self->lock);
    if (sqlite3_close(copy) != SQLITE_OK && result == 0)
        result = invalid(self, "backup: cannot close %s", partial);
    if (result == 0 && rename(partial, path) != 0)
        result = invalid(self, "backup: cannot rename %s to %s", partial, path);
    if (result != 0)
        remove(partial);
    return result;
}

/* Refuses a file that is not a hydra database before anything of the live one is replaced. */
static int backup_check(store_sqlite *self, sqlite3 *from, const char *path)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(from, "SELECT max(version) FROM schema_migrations", -1, &stmt, NULL);
    int result = 0;
    if (rc != SQLITE_OK || sqlite3_step(stmt) != SQLITE_ROW || sqlite3_column_type(stmt, 0) == SQLITE_NULL)
        result = invalid(self, "restore: %s is not a hydra backup (%s)", path,
                         rc == SQLITE_OK ? "no schema version in it" : sqlite3_errmsg(from));
    else if (sqlite3_column_int(stmt, 0) > SCHEMA_VERSION)
        result = invalid(self, "restore: %s has schema version %d, newer than version %d that this build knows: "
                               "restore it with a newer hydra", path, sqlite3_column_int(stmt, 0), SCHEMA_VERSION);
    sqlite3_finalize(stmt);
    return result;
}

static int store_restore(void *state, const char *path)
{
    store_sqlite *self = state;
    sqlite3 *from = NULL;
    if (sqlite3_open_v2(path, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        int result = invalid(self, "restore: cannot open %s: %s", path, from ? sqlite3_errmsg(from) : "no memory");
        sqlite3_close(from);
        return result;
    }
    int result = backup_check(self, from, path);
    if (result == 0) {
        pthread_mutex_lock(&self->lock);
        result = copy_database(self, self->db, from, "restore");
        pthread_mutex_unlock(&self->lock);
    }
    sqlite3_close(from);
    return result;
}

/* ## Leadership: one daemon per database file runs the controller ---------------------------------------------------
 *
 * flock on a file of its own, not fcntl on the database: closing any descriptor of a file drops every fcntl lock the
 * process holds on it, SQLite's own included. */

static int leader_hold_locked(store_sqlite *self, const char *name)
{
    if (!name || !name[0] || strlen(name) >= sizeof self->leader_name)
        return invalid(self, "leader_hold: the lock's name must be 1 to %zu characters", sizeof self->leader_name - 1);
    if (self->leader_fd >= 0)
        return strcmp(self->leader_name, name) == 0
                   ? 0
                   : invalid(self, "leader_hold: this instance holds '%s' already, not '%s'", self->leader_name, name);
    char path[4096 + 160];
    int length = snprintf(path, sizeof path, "%s.leader-", self->path);
    for (const char *c = name; *c && length + 1 < (int)sizeof path; c++) /* a name of any text makes a file name */
        path[length++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ? *c : '_';
    path[length] = '\0';
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        self->host->set_error(self->host, "unavailable: leader_hold: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int error = errno;
        close(fd);
        if (error == EWOULDBLOCK)
            return 1;
        self->host->set_error(self->host, "unavailable: leader_hold: cannot lock %s: %s", path, strerror(error));
        return -1;
    }
    self->leader_fd = fd;
    snprintf(self->leader_name, sizeof self->leader_name, "%s", name);
    return 0;
}

static int store_leader_hold(void *state, const char *name)
{
    store_sqlite *self = state;
    pthread_mutex_lock(&self->lock);
    int result = leader_hold_locked(self, name);
    pthread_mutex_unlock(&self->lock);
    return result;
}

/* 0 also when this instance did not hold it. */
static int store_leader_release(void *state, const char *name)
{
    store_sqlite *self = state;
    pthread_mutex_lock(&self->lock);
    if (self->leader_fd >= 0 && name && strcmp(self->leader_name, name) == 0) {
        close(self->leader_fd); /* the lock goes with the last descriptor of the open file */
        self->leader_fd = -1;
        self->leader_name[0] = '\0';
    }
    pthread_mutex_unlock(&self->lock);
    return 0;
}

/* ## Life cycle --------------------------------------------------------------------------------------------------- */

typedef struct settings {
    const char *path;
    long long busy_timeout_ms;
    const char *synchronous;
} settings;

static int settings_read(const hydra_host *host, settings *out)
{
    *out = (settings){NULL, BUSY_TIMEOUT_DEFAULT_MS, "full"};
    int has_path = host->setting_path(host, "path", &out->path);
    if (has_path < 0 || host->setting_int(host, "busy_timeout_ms", &out->busy_timeout_ms) < 0 ||
        host->setting_string(host, "synchronous", &out->synchronous) < 0)
        return -1;
    if (has_path != 0 || !out->path[0]) {
        host->set_error(host, "setting 'path' is required: the database file, e.g. path = \"hydra.db\"");
        return -1;
    }
    if (out->busy_timeout_ms < 0 || out->busy_timeout_ms > BUSY_TIMEOUT_MAX_MS) {
        host->set_error(host, "setting 'busy_timeout_ms' must be between 0 and %d, not %lld", BUSY_TIMEOUT_MAX_MS,
                        out->busy_timeout_ms);
        return -1;
    }
    if (strcmp(out->synchronous, "full") != 0 && strcmp(out->synchronous, "normal") != 0) {
        host->set_error(host, "setting 'synchronous' must be \"full\" or \"normal\", not \"%s\"", out->synchronous);
        return -1;
    }
    return 0;
}

/* WAL can be refused (a file system without shared memory): the store still works, with readers waiting for
 * writers, so say so rather than fail. */
static int journal_wal(store_sqlite *self)
{
    sqlite3_stmt *stmt = prepare(self, "PRAGMA journal_mode = WAL", "open: set journal_mode");
    if (!stmt)
        return -1;
    int result = 0;
    if (sqlite3_step(stmt) != SQLITE_ROW)
        result = fail_db(self, "open: set journal_mode");
    else if (strcmp(column_text(stmt, 0), "wal") != 0)
        self->host->log(self->host, HYDRA_LOG_WARN, "database %s: journal mode is %s, not wal: readers will wait",
                        self->path, column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return result;
}

/* FULLMUTEX as well as our lock: the lock makes transactions whole, FULLMUTEX keeps the connection safe should a
 * future op forget the lock. */
static int database_open(store_sqlite *self, const settings *s)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(s->path, &self->db, flags, NULL) != SQLITE_OK) {
        if (!self->db)
            return invalid(self, "unavailable: cannot open database %s: out of memory", s->path);
        return fail_db(self, "cannot open database %s", s->path);
    }
    sqlite3_extended_result_codes(self->db, 1);
    sqlite3_busy_timeout(self->db, self->busy_timeout_ms);
    if (journal_wal(self) != 0 || exec_sql(self, "PRAGMA foreign_keys = ON", "open: foreign_keys") != 0)
        return -1;
    bool full = strcmp(s->synchronous, "full") == 0;
    return exec_sql(self, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", "open: synchronous");
}

static void store_destroy(void *state)
{
    store_sqlite *self = state;
    if (!self)
        return;
    /* The last connection to close checkpoints the WAL into the database file and removes it. */
    if (self->db)
        sqlite3_close_v2(self->db);
    if (self->leader_fd >= 0)
        close(self->leader_fd);
    pthread_mutex_destroy(&self->lock);
    self->host->free(self->host, self);
}

static int lock_init(pthread_mutex_t *lock)
{
    pthread_mutexattr_t attributes;
    if (pthread_mutexattr_init(&attributes) != 0)
        return -1;
    int result = pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE) == 0 &&
                         pthread_mutex_init(lock, &attributes) == 0
                     ? 0
                     : -1;
    pthread_mutexattr_destroy(&attributes);
    return result;
}

static void *store_create(const hydra_host *host)
{
    settings s;
    if (settings_read(host, &s) != 0)
        return NULL;
    store_sqlite *self = host->alloc(host, sizeof *self);
    if (!self) {
        host->set_error(host, "out of memory");
        return NULL;
    }
    *self = (store_sqlite){.host = host, .path = s.path, .busy_timeout_ms = (int)s.busy_timeout_ms, .leader_fd = -1};
    if (lock_init(&self->lock) != 0) {
        host->set_error(host, "cannot create a mutex");
        host->free(host, self);
        return NULL;
    }
    if (database_open(self, &s) != 0) {
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
    .name = "sqlite",
    .version = "1.0.0",
    .description = "Embedded store: one SQLite file in WAL mode, versioned migrations, nothing to install",
    .create = store_create,
    .destroy = store_destroy,
    .ops = &ops,
};

HYDRA_PLUGIN(descriptor)
