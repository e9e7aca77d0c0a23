-- Events (issue 9): the app's webhook endpoints, each connection's Dialpad event intake, the
-- raw Dialpad events received, the unified events made from them, and the outbox of
-- deliveries with their attempts. Due times and leases are epoch milliseconds (INTEGER), so
-- the claim queries compare numbers.

CREATE TABLE webhook_endpoints (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,           -- ep_…
    url                 TEXT NOT NULL,
    events              TEXT NOT NULL,                  -- JSON list of event types, or ["*"]
    owner_id            TEXT,                           -- only this owner's events when set
    description         TEXT,
    disabled            INTEGER NOT NULL DEFAULT 0,
    disabled_reason     TEXT,
    secret              BLOB NOT NULL,                  -- sealed whsec_…
    previous_secret     BLOB,                           -- sealed; signs alongside until …
    previous_until      INTEGER,                        -- … this time (ms)
    failing_since       INTEGER,                        -- first failure of the current run (ms)
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- One per connection: where Dialpad sends its events and what was registered there.
CREATE TABLE event_intakes (
    connection_id       TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    route_hash          TEXT NOT NULL UNIQUE,           -- SHA-256 of the hook URL's route token
    secret              BLOB NOT NULL,                  -- sealed JWT secret given to Dialpad
    mode                TEXT NOT NULL,                  -- webhook | websocket
    remote_id           TEXT,                           -- Dialpad webhook or websocket id
    subscriptions       TEXT NOT NULL DEFAULT '[]',     -- JSON [{kind, id}]
    status              TEXT NOT NULL,                  -- pending | active | failed
    last_error          TEXT,
    checked_at          INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- Raw Dialpad events, stored before the hook answers; normalized by a worker.
CREATE TABLE inbound_events (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    connection_id       TEXT NOT NULL,
    dedup_key           TEXT NOT NULL,
    kind                TEXT NOT NULL,                  -- call | contact | sms | …
    payload             TEXT NOT NULL,                  -- the verified JWT's claims (JSON)
    received_at         INTEGER NOT NULL,
    status              TEXT NOT NULL,                  -- pending | done | failed
    attempts            INTEGER NOT NULL DEFAULT 0,
    lease_until         INTEGER,
    lease_owner         TEXT,                           -- the worker normalizing it
    error               TEXT,
    UNIQUE (connection_id, dedup_key)
);
CREATE INDEX inbound_events_pending ON inbound_events (status, seq);

-- Unified events, as sent (the body is stored, so a replay sends the same bytes).
CREATE TABLE events (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,           -- evt_…, the webhook-id
    event_type          TEXT NOT NULL,
    connector_id        TEXT NOT NULL,
    owner_id            TEXT NOT NULL,
    model               TEXT NOT NULL,
    resource_id         TEXT NOT NULL,
    source              TEXT NOT NULL,                  -- webhook | websocket | poll | api
    body                TEXT NOT NULL,
    occurred_at         INTEGER NOT NULL,
    created_at          INTEGER NOT NULL
);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_owner ON events (owner_id, seq);
CREATE INDEX events_resource ON events (connector_id, owner_id, model, resource_id);

-- The outbox: one delivery per (event, endpoint). Per resource and endpoint (`order_key`) only
-- the lowest `event_seq` not yet settled may be in flight, so an update never overtakes its
-- create.
CREATE TABLE deliveries (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    event_id            TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    event_seq           INTEGER NOT NULL,
    endpoint_id         TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    order_key           TEXT NOT NULL,
    status              TEXT NOT NULL,                  -- pending | delivering | delivered | failed
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL,
    lease_until         INTEGER,
    last_status         INTEGER,
    last_error          TEXT,
    delivered_at        INTEGER,
    created_at          INTEGER NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_order ON deliveries (order_key, event_seq);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, status, seq);

CREATE TABLE delivery_attempts (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    delivery_id         TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    event_id            TEXT NOT NULL,
    endpoint_id         TEXT NOT NULL,
    attempt             INTEGER NOT NULL,
    attempted_at        INTEGER NOT NULL,
    status_code         INTEGER,                        -- none when no answer came
    duration_ms         INTEGER NOT NULL,
    error               TEXT,
    response            TEXT                            -- the answer's first bytes
);
CREATE INDEX delivery_attempts_endpoint ON delivery_attempts (endpoint_id, seq);
CREATE INDEX delivery_attempts_event ON delivery_attempts (event_id, seq);
