-- dpc-store schema (PostgreSQL). Lists are JSONB arrays. Secrets are sealed
-- (XChaCha20-Poly1305): key_id + nonce + ciphertext; our own keys and tokens are SHA-256 hex.

CREATE TABLE connections (
    seq             BIGSERIAL PRIMARY KEY,              -- creation order, for cursors
    id              TEXT NOT NULL UNIQUE,
    connector_id    TEXT NOT NULL,
    owner_id        TEXT NOT NULL,
    operations      JSONB NOT NULL DEFAULT '[]',
    scopes          JSONB NOT NULL DEFAULT '[]',
    missing_scopes  JSONB NOT NULL DEFAULT '[]',
    status          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (connector_id, owner_id)
);

-- One sealed JSON blob per connection: {kind, access_token, refresh_token, expires_at} or
-- {kind, api_key}. kind and expires_at are repeated in clear for operators (not secret).
CREATE TABLE credentials (
    connection_id   TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    nonce           BYTEA NOT NULL,
    ciphertext      BYTEA NOT NULL,
    expires_at      TIMESTAMPTZ,
    version         BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    hash            TEXT NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX api_keys_name ON api_keys (name);

-- Sessions and OAuth states name their connection by (connector_id, owner_id): they may exist
-- before the connection row does; delete_connection removes them in the same transaction.
CREATE TABLE sessions (
    token_hash      TEXT PRIMARY KEY,
    connector_id    TEXT NOT NULL,
    owner_id        TEXT NOT NULL,
    operations      JSONB NOT NULL DEFAULT '[]',
    expires_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_owner ON sessions (connector_id, owner_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE oauth_states (
    state_hash      TEXT PRIMARY KEY,
    connector_id    TEXT NOT NULL,
    owner_id        TEXT NOT NULL,
    pkce_key_id     TEXT NOT NULL,
    pkce_nonce      BYTEA NOT NULL,
    pkce_ciphertext BYTEA NOT NULL,
    redirect_url    TEXT,
    scopes          JSONB NOT NULL DEFAULT '[]',
    expires_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_states_owner ON oauth_states (connector_id, owner_id);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
