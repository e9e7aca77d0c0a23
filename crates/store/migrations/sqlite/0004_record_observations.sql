-- Unified models (issue 8): Dialpad keeps no timestamps on contacts and offices, so the
-- connector records when it first saw each record and when it last saw it change (a
-- fingerprint of Dialpad's record), per connection. Never "now" on every read.
CREATE TABLE record_observations (
    connection_id   TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    model           TEXT NOT NULL,
    remote_id       TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    first_seen      TEXT NOT NULL,
    last_changed    TEXT NOT NULL,
    PRIMARY KEY (connection_id, model, remote_id)
);
