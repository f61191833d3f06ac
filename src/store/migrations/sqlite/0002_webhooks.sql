-- payroute SQLite schema, version 2: the webhook pipelines. Version 1 laid
-- out disputes, inbound_events and outbound_deliveries as placeholders that
-- no code ever wrote, so they are replaced outright rather than altered.
-- Unix-second columns are INTEGER (compared against the clock for leases
-- and due times); the rest follow 0001's conventions.

DROP TABLE disputes;
DROP TABLE inbound_events;
DROP TABLE outbound_deliveries;

CREATE TABLE disputes (
    id                 TEXT PRIMARY KEY,
    payment_id         TEXT NOT NULL REFERENCES payments (id),
    -- Copied from the payment, so a merchant-scoped read needs no join.
    merchant_id        TEXT NOT NULL,
    gateway            TEXT NOT NULL,
    provider_reference TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    amount             INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    reason             TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (gateway, provider_reference)
);
CREATE INDEX disputes_payment ON disputes (payment_id, created_at);

CREATE TABLE inbound_events (
    id                TEXT PRIMARY KEY,
    gateway_id        TEXT NOT NULL,
    provider_event_id TEXT NOT NULL,
    -- The verified raw body (or Adyen item), exactly as received.
    payload           BLOB NOT NULL,
    status            TEXT NOT NULL
        CHECK (status IN ('received', 'applied', 'orphan', 'ignored')),
    note              TEXT,
    received_at       INTEGER NOT NULL, -- unix seconds
    processed_at      INTEGER,          -- unix seconds
    -- A worker holds a `received` event until then (unix seconds); NULL or
    -- past means free to claim, so a crashed worker's events come back.
    lease_until       INTEGER,
    UNIQUE (gateway_id, provider_event_id)
);
CREATE INDEX inbound_events_status ON inbound_events (status, received_at);

CREATE TABLE outbound_deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL, -- evt_..., stable across retries
    merchant_id     TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Unix seconds; for a claimed delivery, the end of the claim's lease.
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    last_status     INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX outbound_deliveries_due ON outbound_deliveries (status, next_attempt_at);
CREATE INDEX outbound_deliveries_created ON outbound_deliveries (created_at);
