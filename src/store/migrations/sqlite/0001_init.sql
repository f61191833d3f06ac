-- payroute SQLite schema, version 1. Applied once, inside a transaction, by
-- src/store/sqlite/schema.rs. Never edit an applied migration: add 0002_*.sql.
-- Timestamps are RFC 3339 UTC text written by the caller, except where a
-- column says "unix seconds". Money is integer minor units.

CREATE TABLE payments (
    id                 TEXT PRIMARY KEY,
    merchant_id        TEXT NOT NULL,
    status             TEXT NOT NULL,
    amount             INTEGER NOT NULL,
    amount_captured    INTEGER NOT NULL DEFAULT 0,
    amount_refunded    INTEGER NOT NULL DEFAULT 0,
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
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX payments_merchant_reference ON payments (merchant_id, reference);
-- Webhooks and reconciliation find a payment by the gateway's own id.
CREATE INDEX payments_provider_reference ON payments (gateway, provider_reference)
    WHERE provider_reference IS NOT NULL;

CREATE TABLE attempts (
    id                      TEXT PRIMARY KEY,
    payment_id              TEXT NOT NULL REFERENCES payments (id),
    gateway                 TEXT NOT NULL,
    operation               TEXT NOT NULL,
    gateway_idempotency_key TEXT NOT NULL UNIQUE,
    amount                  INTEGER NOT NULL,
    outcome                 TEXT NOT NULL,
    provider_reference      TEXT,
    error_code              TEXT,
    latency_ms              INTEGER,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE INDEX attempts_payment ON attempts (payment_id);
-- The reconciler scans for `started` and `ambiguous` attempts.
CREATE INDEX attempts_outcome ON attempts (outcome);

CREATE TABLE refunds (
    id                 TEXT PRIMARY KEY,
    payment_id         TEXT NOT NULL REFERENCES payments (id),
    merchant_id        TEXT NOT NULL,
    status             TEXT NOT NULL,
    amount             INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    gateway            TEXT NOT NULL,
    provider_reference TEXT,
    reason             TEXT,
    failure            TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
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
    response_body   BLOB,
    created_at      INTEGER NOT NULL, -- unix seconds
    PRIMARY KEY (merchant_id, key)
);
-- For the reaper (expired keys) and the reconciler (stuck in_flight claims).
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL
);

-- Schema only for now: filled by the dispute, webhook and delivery work.
CREATE TABLE disputes (
    id                 TEXT PRIMARY KEY,
    payment_id         TEXT NOT NULL REFERENCES payments (id),
    merchant_id        TEXT NOT NULL,
    gateway            TEXT NOT NULL,
    provider_reference TEXT,
    status             TEXT NOT NULL,
    reason             TEXT,
    amount             INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    evidence_due_by    TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX disputes_payment ON disputes (payment_id);
CREATE INDEX disputes_provider_reference ON disputes (gateway, provider_reference)
    WHERE provider_reference IS NOT NULL;

CREATE TABLE inbound_events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    gateway_id        TEXT NOT NULL,
    provider_event_id TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    -- The verified raw body, exactly as received.
    payload           BLOB NOT NULL,
    -- received | applied | ignored | orphan
    status            TEXT NOT NULL DEFAULT 'received',
    payment_id        TEXT,
    error             TEXT,
    received_at       TEXT NOT NULL,
    applied_at        TEXT,
    UNIQUE (gateway_id, provider_event_id)
);
CREATE INDEX inbound_events_status ON inbound_events (status);

CREATE TABLE outbound_deliveries (
    id              TEXT PRIMARY KEY, -- evt_...
    merchant_id     TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         BLOB NOT NULL,
    -- pending | delivered | failed (gave up after the retry window)
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL, -- unix seconds
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX outbound_deliveries_due ON outbound_deliveries (status, next_attempt_at);
