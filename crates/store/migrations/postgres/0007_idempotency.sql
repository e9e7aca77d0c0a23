-- Actions (issue 10): `Idempotency-Key` of side-effecting actions, per connection and action.
-- A row is claimed (`pending`, with a claim token and a short lease) in one statement before
-- Dialpad is called and completed with the answer afterwards; nothing is held in between. A
-- pending row whose lease ran out (its process died) may be claimed again with the same body;
-- a row past `expires_at` (24 h) is as good as absent, and purged.
CREATE TABLE idempotency_keys (
    connection_id   TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    action          TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    body_hash       TEXT NOT NULL,
    state           TEXT NOT NULL,
    claim_token     TEXT NOT NULL,
    claimed_until   BIGINT NOT NULL,
    status          BIGINT,
    response        TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    PRIMARY KEY (connection_id, action, idem_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
