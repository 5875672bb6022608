-- hydra's database schema, version 1, in the SQLite dialect.
--
-- The store plugins create it through versioned migrations (plugins/store/sqlite.c: the array `migrations`); this
-- file is the same schema with comments, and tests/test_store_sqlite.c checks that applying it gives the same
-- tables, columns, indexes, foreign keys and CHECK constraints as migrating does. Change both together, by adding a
-- migration: a released one is never edited. docs/db/README.md explains every table and which query each index
-- serves.
--
-- PostgreSQL (plugins/store/postgres.c) differences, noted beside each table as "PostgreSQL:":
--   * REAL Unix seconds become double precision (or timestamptz where TimescaleDB/partitioning wants a time column);
--     INTEGER becomes integer / bigint; TEXT stays text.
--   * STRICT and WITHOUT ROWID are SQLite storage options with no PostgreSQL counterpart: drop them.
--   * `INTEGER PRIMARY KEY` (an alias of SQLite's rowid) becomes `bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`.
--   * GLOB in a CHECK becomes a regular expression: hash ~ '^[0-9a-f]{64}$'.
--   * Partial indexes (WHERE ...) and ON CONFLICT upserts exist in both.

-- Which migrations this database has had: one row per version, written in the migration's own transaction.
-- Created outside the versioned migrations (it is how they are counted). A database whose max(version) is above
-- what the running hydra knows is refused: it was written by a newer hydra.
CREATE TABLE schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at REAL NOT NULL            -- Unix seconds, the controller's clock
) STRICT;

-- Everyone whose data hydra keeps. A row appears the first time a write names the tenant.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL
) STRICT, WITHOUT ROWID;

-- API keys: only the SHA-256 of the secret is stored, as 64 lowercase hex digits; the CHECK refuses anything else,
-- which is what a secret stored by mistake would look like. A revoked key stays (audit) with revoked_at set.
CREATE TABLE api_keys (
    hash TEXT PRIMARY KEY CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),
    -- PostgreSQL: the check is hash ~ '^[0-9a-f]{64}$'
    tenant TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL CHECK (name <> ''),
    scopes TEXT NOT NULL,               -- comma-separated: ingest, read, approve, admin
    created_at REAL NOT NULL,
    revoked_at REAL                     -- NULL while the key is valid
) STRICT, WITHOUT ROWID;
-- One valid key per name in a tenant; the name of a revoked key may be given to a new one.
-- Serves revoke_api_key (UPDATE ... WHERE tenant = ? AND name = ? AND revoked_at IS NULL).
CREATE UNIQUE INDEX api_keys_valid_name ON api_keys (tenant, name) WHERE revoked_at IS NULL;
-- Serves list_api_keys (WHERE tenant = ? ORDER BY name, created_at). find_api_key uses the primary key.
CREATE INDEX api_keys_by_tenant ON api_keys (tenant, name, created_at);

-- The services a tenant sends metrics for; appears with the first sample, alert or pause naming it. A paused
-- service (POST /services/{name}/pause) is still forecast but has nothing executed; paused_at and paused_by say who
-- paused it and when (NULL while it runs). Migration 2 added the three paused columns.
CREATE TABLE services (
    tenant TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL CHECK (name <> ''),
    created_at REAL NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_at REAL,
    paused_by TEXT,
    PRIMARY KEY (tenant, name)
) STRICT, WITHOUT ROWID;

-- Raw samples. Duplicates are allowed (an append without an idempotency key always appends); rowid keeps arrival
-- order among equal timestamps. NaN and infinities are refused before they get here.
-- PostgreSQL: ts as timestamptz; a TimescaleDB hypertable on ts with retention and compression when the extension
-- is present, otherwise native range partitioning by ts.
CREATE TABLE metric_samples (
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    metric TEXT NOT NULL CHECK (metric <> ''),
    ts REAL NOT NULL,
    value REAL NOT NULL,
    FOREIGN KEY (tenant, service) REFERENCES services (tenant, name)
) STRICT;
-- Serves query_samples (WHERE tenant, service, metric = ? AND ts >= ? AND ts < ? ORDER BY ts, rowid): one range
-- scan in order, no sort.
CREATE INDEX metric_samples_series_ts ON metric_samples (tenant, service, metric, ts);

-- Forecasts as they were made: one row per forecast step, so a later look can compare them with what happened.
-- No store op writes it yet (reserved for the forecast history API).
CREATE TABLE forecasts (
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    metric TEXT NOT NULL,
    made_at REAL NOT NULL,              -- when the forecast was made
    ts REAL NOT NULL,                   -- the time it forecasts
    forecaster TEXT NOT NULL,           -- the plugin instance that made it
    mean REAL NOT NULL,
    lower80 REAL, upper80 REAL, lower95 REAL, upper95 REAL,
    PRIMARY KEY (tenant, service, metric, made_at, ts),
    FOREIGN KEY (tenant, service) REFERENCES services (tenant, name)
) STRICT, WITHOUT ROWID;

-- Anomaly alerts. Saving an alert again under its id replaces it.
CREATE TABLE alerts (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL CHECK (id <> ''),
    service TEXT NOT NULL,
    metric TEXT NOT NULL,
    at REAL NOT NULL,
    score REAL NOT NULL CHECK (score >= 0 AND score <= 1),
    message TEXT,
    PRIMARY KEY (tenant, id),
    FOREIGN KEY (tenant, service) REFERENCES services (tenant, name)
) STRICT, WITHOUT ROWID;
-- Serves list_alerts (WHERE tenant = ? AND at >= ? ORDER BY at DESC, id DESC), scanned backwards.
CREATE INDEX alerts_by_time ON alerts (tenant, at);

-- Recommendations, one row each, in their current state. Optional times are NULL until they happen (handed out as
-- 0); a NULL forecast_peak means no forecast was used (handed out as NaN).
CREATE TABLE recommendations (
    tenant TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL CHECK (id <> ''),
    target TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'executing', 'executed',
                                         'failed')),
    from_replicas INTEGER NOT NULL CHECK (from_replicas >= 0),
    to_replicas INTEGER NOT NULL CHECK (to_replicas >= 0),
    asked INTEGER NOT NULL CHECK (asked IN (0, 1)),  -- 1: it waited for a person. PostgreSQL: boolean
    forecast_peak REAL,
    forecast_peak_at REAL,
    created_at REAL NOT NULL,           -- never changed by a later save
    expires_at REAL,
    decided_at REAL,
    finished_at REAL,
    reason TEXT,
    decided_by TEXT,
    decision_reason TEXT,
    result TEXT,
    PRIMARY KEY (tenant, id)
) STRICT, WITHOUT ROWID;
-- Serves list_recommendations without a state filter (WHERE tenant = ? ORDER BY created_at DESC, id DESC LIMIT ?),
-- scanned backwards: no sort, and LIMIT stops early.
CREATE INDEX recommendations_newest ON recommendations (tenant, created_at, id);
-- Serves list_recommendations with a state filter (the pending queue a person looks at).
CREATE INDEX recommendations_by_state ON recommendations (tenant, state, created_at, id);

-- Every change of a recommendation's state: who, when, why. The creation has from_state = to_state. Written in the
-- same transaction as the change itself. Deleting a recommendation deletes its history.
CREATE TABLE recommendation_events (
    seq INTEGER PRIMARY KEY,            -- PostgreSQL: bigint GENERATED ALWAYS AS IDENTITY
    tenant TEXT NOT NULL,
    recommendation_id TEXT NOT NULL,
    from_state TEXT NOT NULL CHECK (from_state IN ('pending', 'approved', 'rejected', 'expired', 'executing',
                                                   'executed', 'failed')),
    to_state TEXT NOT NULL CHECK (to_state IN ('pending', 'approved', 'rejected', 'expired', 'executing',
                                               'executed', 'failed')),
    at REAL NOT NULL,
    actor TEXT,                         -- the record's `by`: "controller", "policy default.lua", a person
    why TEXT,
    FOREIGN KEY (tenant, recommendation_id) REFERENCES recommendations (tenant, id) ON DELETE CASCADE
) STRICT;
-- Serves get_recommendation's history (WHERE tenant = ? AND recommendation_id = ? ORDER BY at, seq).
CREATE INDEX recommendation_events_history ON recommendation_events (tenant, recommendation_id, at, seq);

-- Idempotency keys of sample appends: the response of the first call, stored in the same transaction as its
-- samples, so that a retried request gets the same answer and writes nothing.
CREATE TABLE idempotency_keys (
    tenant TEXT NOT NULL REFERENCES tenants (id),
    key TEXT NOT NULL CHECK (key <> ''),
    response TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (tenant, key)
) STRICT, WITHOUT ROWID;
-- For pruning old keys (DELETE ... WHERE created_at < ?); no store op prunes yet.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

-- Who did what, append only.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,            -- PostgreSQL: bigint GENERATED ALWAYS AS IDENTITY
    tenant TEXT NOT NULL REFERENCES tenants (id),
    at REAL NOT NULL,
    actor TEXT NOT NULL,                -- key name, "controller", "cli"
    action TEXT NOT NULL,               -- "approve", "reject", "ingest", "keys.create", ...
    subject TEXT,
    detail TEXT,
    request_id TEXT
) STRICT;
-- For reading a tenant's log over a time range (the audit API to come).
CREATE INDEX audit_log_by_time ON audit_log (tenant, at);

-- The model registry (migration 3): every fitted model the daemon saved, numbered per service and model. state is
-- the forecaster's own text (model_save), checksum its SHA-256 computed by the host when it saved it: a state whose
-- checksum no longer matches is refused at load. One version per service and model is active: the one the
-- controller forecasts with. Refits that did not beat the active version are kept too (active 0), with both
-- holdout scores in metrics (a JSON object) and the reason in note.
CREATE TABLE model_versions (
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    model TEXT NOT NULL CHECK (model <> ''),   -- the forecaster instance's name
    version INTEGER NOT NULL CHECK (version >= 1),
    active INTEGER NOT NULL CHECK (active IN (0, 1)),
    state TEXT NOT NULL,
    checksum TEXT NOT NULL CHECK (length(checksum) = 64),
    trained_from REAL NOT NULL,
    trained_to REAL NOT NULL,
    metrics TEXT,
    created_at REAL NOT NULL,
    note TEXT,
    PRIMARY KEY (tenant, service, model, version),
    FOREIGN KEY (tenant, service) REFERENCES services (tenant, name)
) STRICT, WITHOUT ROWID;
-- At most one active version per service and model, enforced by the database.
CREATE UNIQUE INDEX model_versions_one_active ON model_versions (tenant, service, model) WHERE active = 1;
-- Serves list_model_versions (ORDER BY model, version DESC) without a sort.
CREATE INDEX model_versions_newest ON model_versions (tenant, service, model, version DESC);
