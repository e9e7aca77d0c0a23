//! Rows as both backends read and write them. Each struct holds plain columns that either
//! driver decodes (`sqlx::FromRow`) or binds: lists as JSON text, enums as their names,
//! secrets sealed. Only timestamps differ, so they are a type parameter: SQLite keeps text,
//! PostgreSQL `TIMESTAMPTZ`; each backend says how its kind becomes a [`DateTime<Utc>`]
//! ([`TimeColumn`]). The conversions to the crate's types (parsing lists and enums, opening
//! sealed values) live here once, so both backends read the same way.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::common::{self, list_from_json, list_to_json};
use crate::crypto::{Cipher, Sealed};
use crate::{
    ApiKeyRecord, Connection, ConnectionStatus, Credentials, NewConnection, OAuthState, Result,
    Session, StoredCredentials,
};

/// How a backend keeps a timestamp column.
pub(crate) trait TimeColumn: Sized {
    fn into_utc(self) -> Result<DateTime<Utc>>;
}

fn opt_utc<T: TimeColumn>(t: Option<T>) -> Result<Option<DateTime<Utc>>> {
    t.map(TimeColumn::into_utc).transpose()
}

/// A `connections` row with the current credentials version joined in (`CONNECTION_SELECT`).
#[derive(sqlx::FromRow)]
pub(crate) struct ConnectionRow<T> {
    /// The creation sequence number (what cursors point at).
    pub seq: i64,
    id: String,
    connector_id: String,
    owner_id: String,
    operations: String,
    scopes: String,
    missing_scopes: String,
    status: String,
    dialpad_user_id: Option<String>,
    dialpad_company_id: Option<String>,
    credentials_version: Option<i64>,
    created_at: T,
    updated_at: T,
}

impl<T: TimeColumn> ConnectionRow<T> {
    pub(crate) fn into_connection(self) -> Result<Connection> {
        Ok(Connection {
            id: self.id,
            connector_id: self.connector_id,
            owner_id: self.owner_id,
            operations: list_from_json(&self.operations)?,
            scopes: list_from_json(&self.scopes)?,
            missing_scopes: list_from_json(&self.missing_scopes)?,
            status: common::parse_status(&self.status)?,
            dialpad_user_id: self.dialpad_user_id,
            dialpad_company_id: self.dialpad_company_id,
            credentials_version: self.credentials_version,
            created_at: self.created_at.into_utc()?,
            updated_at: self.updated_at.into_utc()?,
        })
    }
}

/// What `insert_connection` writes, and the connection it makes: every new connection starts
/// `unauthorized`, with no scopes and no credentials.
pub(crate) struct NewConnectionRow {
    pub id: String,
    pub connector_id: String,
    pub owner_id: String,
    pub operations: String,
    pub scopes: String,
    pub missing_scopes: String,
    pub status: &'static str,
    /// Also `updated_at`.
    pub created_at: DateTime<Utc>,
}

impl NewConnectionRow {
    pub(crate) fn new(new: NewConnection) -> (Self, Connection) {
        let now = common::now();
        let c = Connection {
            id: common::random_id("con"),
            connector_id: new.connector_id,
            owner_id: new.owner_id,
            operations: new.operations,
            scopes: Vec::new(),
            missing_scopes: Vec::new(),
            status: ConnectionStatus::Unauthorized,
            dialpad_user_id: None,
            dialpad_company_id: None,
            credentials_version: None,
            created_at: now,
            updated_at: now,
        };
        let row = NewConnectionRow {
            id: c.id.clone(),
            connector_id: c.connector_id.clone(),
            owner_id: c.owner_id.clone(),
            operations: list_to_json(&c.operations),
            scopes: list_to_json(&c.scopes),
            missing_scopes: list_to_json(&c.missing_scopes),
            status: common::status_str(c.status),
            created_at: now,
        };
        (row, c)
    }
}

/// A `credentials` row, still sealed.
#[derive(sqlx::FromRow)]
pub(crate) struct CredentialsRow<T> {
    key_id: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
    version: i64,
    updated_at: T,
    refresh_failure: Option<String>,
    refresh_failed_at: Option<T>,
}

impl<T: TimeColumn> CredentialsRow<T> {
    /// Opens the credentials (bound to `connection_id`) with the remembered refresh failure.
    pub(crate) fn open(self, cipher: &Cipher, connection_id: &str) -> Result<StoredCredentials> {
        let sealed = Sealed {
            key_id: self.key_id,
            nonce: self.nonce,
            ciphertext: self.ciphertext,
        };
        Ok(StoredCredentials {
            credentials: common::open_credentials(cipher, connection_id, &sealed)?,
            version: self.version,
            updated_at: self.updated_at.into_utc()?,
            refresh_failure: common::parse_failure(
                self.refresh_failure,
                opt_utc(self.refresh_failed_at)?,
            ),
        })
    }
}

/// What every credentials write stores (an authorization, `put_credentials`, a refresh's
/// `Replace`): the value sealed anew, its kind and expiry in clear, a fresh `updated_at`; the
/// write also bumps the version and clears the remembered refresh failure.
pub(crate) struct CredentialsWrite<'a> {
    pub kind: &'static str,
    pub sealed: Sealed,
    pub expires_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    credentials: &'a Credentials,
}

impl<'a> CredentialsWrite<'a> {
    pub(crate) fn seal(
        cipher: &Cipher,
        connection_id: &str,
        credentials: &'a Credentials,
    ) -> Result<Self> {
        Ok(CredentialsWrite {
            kind: common::credentials_kind(credentials),
            sealed: common::seal_credentials(cipher, connection_id, credentials)?,
            expires_at: common::credentials_expires_at(credentials),
            updated_at: common::now(),
            credentials,
        })
    }

    /// What was stored, once the database has said which version it became.
    pub(crate) fn stored(&self, version: i64) -> StoredCredentials {
        StoredCredentials {
            credentials: self.credentials.clone(),
            version,
            updated_at: self.updated_at,
            refresh_failure: None,
        }
    }
}

/// An `api_keys` row (without the hash).
#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow<T> {
    id: String,
    name: String,
    prefix: String,
    created_at: T,
    revoked_at: Option<T>,
}

impl<T: TimeColumn> ApiKeyRow<T> {
    pub(crate) fn into_record(self) -> Result<ApiKeyRecord> {
        Ok(ApiKeyRecord {
            id: self.id,
            name: self.name,
            prefix: self.prefix,
            created_at: self.created_at.into_utc()?,
            revoked_at: opt_utc(self.revoked_at)?,
        })
    }
}

/// What `create_api_key` writes: a new key's record and hash (the key itself is shown once).
pub(crate) struct NewApiKeyRow {
    pub record: ApiKeyRecord,
    pub hash: String,
}

impl NewApiKeyRow {
    pub(crate) fn new(name: &str) -> (Self, SecretString) {
        let (key, prefix, hash) = common::new_api_key();
        let record = ApiKeyRecord {
            id: common::random_id("key"),
            name: name.to_string(),
            prefix,
            created_at: common::now(),
            revoked_at: None,
        };
        (NewApiKeyRow { record, hash }, key)
    }
}

/// A `sessions` row as `get_session` reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow<T> {
    connector_id: String,
    owner_id: String,
    operations: String,
    expires_at: T,
    purpose: String,
    redirect_url: Option<String>,
    extra_scopes: String,
}

impl<T: TimeColumn> SessionRow<T> {
    pub(crate) fn into_session(self) -> Result<Session> {
        Ok(Session {
            connector_id: self.connector_id,
            owner_id: self.owner_id,
            operations: list_from_json(&self.operations)?,
            expires_at: self.expires_at.into_utc()?,
            purpose: common::parse_purpose(&self.purpose)?,
            redirect_url: self.redirect_url,
            extra_scopes: list_from_json(&self.extra_scopes)?,
        })
    }
}

/// What `create_session` writes: the token is kept only as its hash.
pub(crate) struct NewSessionRow<'a> {
    pub token_hash: String,
    pub connector_id: &'a str,
    pub owner_id: &'a str,
    pub operations: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub purpose: &'static str,
    pub redirect_url: Option<&'a str>,
    pub extra_scopes: String,
}

impl<'a> NewSessionRow<'a> {
    /// A new token for `session` and the row that stores it.
    pub(crate) fn new(session: &'a Session) -> (Self, SecretString) {
        let token = common::random_token(32);
        let row = NewSessionRow {
            token_hash: common::sha256_hex(&token),
            connector_id: &session.connector_id,
            owner_id: &session.owner_id,
            operations: list_to_json(&session.operations),
            expires_at: common::truncate_micros(session.expires_at),
            created_at: common::now(),
            purpose: common::purpose_str(session.purpose),
            redirect_url: session.redirect_url.as_deref(),
            extra_scopes: list_to_json(&session.extra_scopes),
        };
        (row, SecretString::from(token))
    }
}

/// An `oauth_states` row as `take_oauth_state` returns it from its `DELETE`.
#[derive(sqlx::FromRow)]
pub(crate) struct OAuthStateRow<T> {
    connector_id: String,
    owner_id: String,
    pkce_key_id: String,
    pkce_nonce: Vec<u8>,
    pkce_ciphertext: Vec<u8>,
    redirect_url: Option<String>,
    scopes: String,
    expires_at: T,
    browser_hash: Option<String>,
}

impl<T: TimeColumn> OAuthStateRow<T> {
    /// The pending authorization, or None if it expired (taken all the same: single use).
    pub(crate) fn open(self, cipher: &Cipher, state_hash: &str) -> Result<Option<OAuthState>> {
        let expires_at = self.expires_at.into_utc()?;
        if expires_at <= Utc::now() {
            return Ok(None);
        }
        let sealed = Sealed {
            key_id: self.pkce_key_id,
            nonce: self.pkce_nonce,
            ciphertext: self.pkce_ciphertext,
        };
        Ok(Some(OAuthState {
            connector_id: self.connector_id,
            owner_id: self.owner_id,
            pkce_verifier: common::open_pkce(cipher, state_hash, &sealed)?,
            redirect_url: self.redirect_url,
            scopes: list_from_json(&self.scopes)?,
            expires_at,
            browser_hash: self.browser_hash,
        }))
    }
}

/// What `create_oauth_state` writes: the state is kept only as its hash, the PKCE verifier
/// sealed and bound to that hash.
pub(crate) struct NewOAuthStateRow<'a> {
    pub state_hash: String,
    pub connector_id: &'a str,
    pub owner_id: &'a str,
    pub pkce: Sealed,
    pub redirect_url: Option<&'a str>,
    pub scopes: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub browser_hash: Option<&'a str>,
}

impl<'a> NewOAuthStateRow<'a> {
    /// A new `state` value for `state` and the row that stores it.
    pub(crate) fn new(cipher: &Cipher, state: &'a OAuthState) -> Result<(Self, String)> {
        let value = common::random_token(32);
        let state_hash = common::sha256_hex(&value);
        let pkce = common::seal_pkce(cipher, &state_hash, &state.pkce_verifier)?;
        let row = NewOAuthStateRow {
            state_hash,
            connector_id: &state.connector_id,
            owner_id: &state.owner_id,
            pkce,
            redirect_url: state.redirect_url.as_deref(),
            scopes: list_to_json(&state.scopes),
            expires_at: common::truncate_micros(state.expires_at),
            created_at: common::now(),
            browser_hash: state.browser_hash.as_deref(),
        };
        Ok((row, value))
    }
}
