-- dpc-store schema (SQLite). Timestamps are UTC text 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (fixed width,
-- so text order is time order). Lists are JSON arrays in text. Secrets are sealed
-- (XChaCha20-Poly1305): key_id + nonce + ciphertext; our own keys and tokens are SHA-256 hex.

CREATE TABLE connections (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order, for cursors
    id              TEXT NOT NULL UNIQUE,
    connector_id    TEXT NOT NULL,
    owner_id        TEXT NOT NULL,
    operations      TEXT NOT NULL DEFAULT '[]',
    scopes          TEXT NOT NULL DEFAULT '[]',
    missing_scopes  TEXT NOT NULL DEFAULT '[]',
    status          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (connector_id, owner_id)
);

-- One sealed JSON blob per connection: {kind, access_token, refresh_token, expires_at} or
-- {kind, api_key}. kind and expires_at are repeated in clear for operators (not secret).
CREATE TABLE credentials (
    connection_id   TEXT PRIMARY KEY NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    nonce           BLOB NOT NULL,
    ciphertext      BLOB NOT NULL,
    expires_at      TEXT,
    version         INTEGER NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    hash            TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    revoked_at      TEXT
);
CREATE INDEX api_keys_name ON api_keys (name);

-- Sessions and OAuth states name their connection by (connector_id, owner_id): they may exist
-- before the connection row does; delete_connection removes them in the same transaction.
CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY NOT NULL,
    connector_id    TEXT NOT NULL,
    owner_id        TEXT NOT NULL,
    operations      TEXT NOT NULL DEFAULT '[]',
    expires_at      TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX sessions_owner ON sessions (connector_id, owner_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE oauth_states (
    state_hash      TEXT PRIMARY KEY NOT NULL,
    connector_id    TEXT NOT NULL,
    owner_id        TEXT NOT NULL,
    pkce_key_id     TEXT NOT NULL,
    pkce_nonce      BLOB NOT NULL,
    pkce_ciphertext BLOB NOT NULL,
    redirect_url    TEXT,
    scopes          TEXT NOT NULL DEFAULT '[]',
    expires_at      TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX oauth_states_owner ON oauth_states (connector_id, owner_id);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
