-- payroute PostgreSQL schema, version 1: the consolidated equal of SQLite's
-- 0001-0003 plus the cross-replica payment lease. Applied once, inside a
-- transaction holding an advisory lock, by src/store/postgres/schema.rs.
-- Never edit an applied migration: add 0002_*.sql.
--
-- Conventions, as in SQLite: timestamps are RFC 3339 UTC text written by the
-- caller, except where a column says "unix seconds"; money is BIGINT minor
-- units; JSON columns are TEXT holding exactly what the store wrote. Text
-- timestamps use the "C" collation so that ordering and comparisons are
-- bytewise, as in SQLite, whatever the database's locale. `seq` columns
-- stand in for SQLite's rowid: insertion order breaks timestamp ties.

CREATE TABLE payments (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY,
    id                 TEXT PRIMARY KEY,
    merchant_id        TEXT NOT NULL,
    status             TEXT NOT NULL,
    amount             BIGINT NOT NULL,
    amount_captured    BIGINT NOT NULL DEFAULT 0,
    amount_refunded    BIGINT NOT NULL DEFAULT 0,
    currency           TEXT NOT NULL,
    reference          TEXT NOT NULL,
    capture_mode       TEXT NOT NULL,
    -- MethodSummary JSON: BIN, last four, network, fingerprint; never a PAN.
    method             TEXT NOT NULL,
    gateway            TEXT,
    provider_reference TEXT,
    route              TEXT NOT NULL,
    risk               TEXT NOT NULL,
    failure            TEXT,
    next_action        TEXT,
    customer           TEXT,
    metadata           TEXT NOT NULL DEFAULT '{}',
    created_at         TEXT COLLATE "C" NOT NULL,
    updated_at         TEXT COLLATE "C" NOT NULL,
    -- The merchant's Idempotency-Key of the create request, so that a retry
    -- after a crash finds the payment its first try made.
    idempotency_key    TEXT
);
CREATE INDEX payments_merchant_reference ON payments (merchant_id, reference);
-- Webhooks and reconciliation find a payment by the gateway's own id.
CREATE INDEX payments_provider_reference ON payments (gateway, provider_reference)
    WHERE provider_reference IS NOT NULL;
CREATE INDEX payments_idempotency_key ON payments (merchant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The reconciler's work list: stale payments by status.
CREATE INDEX payments_status_updated ON payments (status, updated_at);

CREATE TABLE attempts (
    seq                     BIGINT GENERATED ALWAYS AS IDENTITY,
    id                      TEXT PRIMARY KEY,
    payment_id              TEXT NOT NULL REFERENCES payments (id),
    gateway                 TEXT NOT NULL,
    operation               TEXT NOT NULL,
    gateway_idempotency_key TEXT NOT NULL UNIQUE,
    amount                  BIGINT NOT NULL,
    outcome                 TEXT NOT NULL,
    provider_reference      TEXT,
    error_code              TEXT,
    latency_ms              BIGINT,
    created_at              TEXT COLLATE "C" NOT NULL,
    updated_at              TEXT COLLATE "C" NOT NULL
);
CREATE INDEX attempts_payment ON attempts (payment_id);
-- The reconciler scans for `started` and `ambiguous` attempts.
CREATE INDEX attempts_outcome ON attempts (outcome);

CREATE TABLE refunds (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY,
    id                 TEXT PRIMARY KEY,
    payment_id         TEXT NOT NULL REFERENCES payments (id),
    -- Copied from the payment, so a merchant-scoped read needs no join.
    merchant_id        TEXT NOT NULL,
    status             TEXT NOT NULL,
    amount             BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    gateway            TEXT NOT NULL,
    provider_reference TEXT,
    reason             TEXT,
    failure            TEXT,
    created_at         TEXT COLLATE "C" NOT NULL,
    updated_at         TEXT COLLATE "C" NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_provider_reference ON refunds (gateway, provider_reference)
    WHERE provider_reference IS NOT NULL;

CREATE TABLE idempotency_keys (
    merchant_id     TEXT NOT NULL,
    key             TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('in_flight', 'done')),
    response_status INTEGER,
    response_body   BYTEA,
    created_at      BIGINT NOT NULL, -- unix seconds
    PRIMARY KEY (merchant_id, key)
);
-- For the reaper (expired keys) and the reconciler (stuck in_flight claims).
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE audit_log (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     TEXT COLLATE "C" NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE TABLE disputes (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY,
    id                 TEXT PRIMARY KEY,
    payment_id         TEXT NOT NULL REFERENCES payments (id),
    -- Copied from the payment, so a merchant-scoped read needs no join.
    merchant_id        TEXT NOT NULL,
    gateway            TEXT NOT NULL,
    provider_reference TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    amount             BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    reason             TEXT,
    created_at         TEXT COLLATE "C" NOT NULL,
    updated_at         TEXT COLLATE "C" NOT NULL,
    UNIQUE (gateway, provider_reference)
);
CREATE INDEX disputes_payment ON disputes (payment_id, created_at);

CREATE TABLE inbound_events (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY,
    id                TEXT PRIMARY KEY,
    gateway_id        TEXT NOT NULL,
    provider_event_id TEXT NOT NULL,
    -- The verified raw body (or Adyen item), exactly as received.
    payload           BYTEA NOT NULL,
    status            TEXT NOT NULL
        CHECK (status IN ('received', 'applied', 'orphan', 'ignored')),
    note              TEXT,
    received_at       BIGINT NOT NULL, -- unix seconds
    processed_at      BIGINT,          -- unix seconds
    -- A worker holds a `received` event until then (unix seconds); NULL or
    -- past means free to claim, so a crashed worker's events come back.
    lease_until       BIGINT,
    UNIQUE (gateway_id, provider_event_id)
);
CREATE INDEX inbound_events_status ON inbound_events (status, received_at);

CREATE TABLE outbound_deliveries (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY,
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL, -- evt_..., stable across retries
    merchant_id     TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- Unix seconds; for a claimed delivery, the end of the claim's lease.
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    last_status     INTEGER,
    created_at      TEXT COLLATE "C" NOT NULL,
    updated_at      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX outbound_deliveries_due ON outbound_deliveries (status, next_attempt_at);
CREATE INDEX outbound_deliveries_created ON outbound_deliveries (created_at);

-- A short lease on one payment across replicas (Store::lock_payment): the
-- holder that inserted or last renewed the row has it until expires_at.
CREATE TABLE payment_locks (
    payment_id TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL -- unix seconds
);
