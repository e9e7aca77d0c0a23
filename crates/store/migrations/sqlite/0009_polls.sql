-- Events (issue 9): change detection by polling for the models Dialpad sends no events for
-- (genericUser, genericWorkspace). One row per connection and model says when it is polled
-- next and who holds the poll (a lease, so several instances never poll one connection at
-- once); the snapshot is what the last complete poll saw, each record's fingerprint and its
-- resource as last sent (a deleted event carries it). Both go with the connection.
CREATE TABLE poll_state (
    connection_id   TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    model           TEXT NOT NULL,
    -- NULL: the configured default (`events.poll_interval`).
    interval_ms     BIGINT,
    next_poll_at    BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    -- When the snapshot was first taken (NULL: no baseline yet, the next poll takes one
    -- without emitting events).
    baselined_at    BIGINT,
    last_polled_at  BIGINT,
    last_error      TEXT,
    PRIMARY KEY (connection_id, model)
);
CREATE INDEX poll_state_due ON poll_state (next_poll_at);

CREATE TABLE poll_snapshots (
    connection_id   TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    model           TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    body            TEXT NOT NULL,
    PRIMARY KEY (connection_id, model, resource_id)
);
