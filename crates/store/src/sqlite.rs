//! The SQLite backend: one file in WAL mode, foreign keys on, a 5 s busy timeout. Write
//! transactions that read first use `BEGIN IMMEDIATE`, so two processes on one file serialize
//! instead of failing on a lock upgrade.

use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row as _, SqlitePool};

use crate::common::{self, db_err, LockMap};
use crate::crypto::{Cipher, Sealed};
use crate::{
    ApiKeyRecord, Connection, ConnectionStatus, Credentials, LockedRefreshError, NewConnection,
    OAuthState, RefreshDecision, RefreshFn, Result, Session, Store, StoreError, StoredCredentials,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    pool: SqlitePool,
    cipher: Cipher,
    locks: LockMap,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

/// Fixed-width UTC text, so text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Database(format!("bad timestamp {s:?}: {e}")))
}

fn opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> Result<T> {
    row.try_get(col).map_err(db_err)
}

fn connection_from_row(row: &SqliteRow) -> Result<Connection> {
    Ok(Connection {
        id: get(row, "id")?,
        connector_id: get(row, "connector_id")?,
        owner_id: get(row, "owner_id")?,
        operations: common::list_from_json(&get::<String>(row, "operations")?)?,
        scopes: common::list_from_json(&get::<String>(row, "scopes")?)?,
        missing_scopes: common::list_from_json(&get::<String>(row, "missing_scopes")?)?,
        status: common::parse_status(&get::<String>(row, "status")?)?,
        created_at: parse_ts(&get::<String>(row, "created_at")?)?,
        updated_at: parse_ts(&get::<String>(row, "updated_at")?)?,
    })
}

fn api_key_from_row(row: &SqliteRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        prefix: get(row, "prefix")?,
        created_at: parse_ts(&get::<String>(row, "created_at")?)?,
        revoked_at: opt_ts(get(row, "revoked_at")?)?,
    })
}

const CONNECTION_COLS: &str =
    "seq, id, connector_id, owner_id, operations, scopes, missing_scopes, status, created_at, updated_at";

const UPSERT_CREDENTIALS: &str = "INSERT INTO credentials \
     (connection_id, kind, key_id, nonce, ciphertext, expires_at, version, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7) \
     ON CONFLICT (connection_id) DO UPDATE SET kind = excluded.kind, key_id = excluded.key_id, \
     nonce = excluded.nonce, ciphertext = excluded.ciphertext, expires_at = excluded.expires_at, \
     version = credentials.version + 1, updated_at = excluded.updated_at \
     RETURNING version";

impl SqliteStore {
    /// Opens (creating if missing) the database at `database_url` (`sqlite:path`,
    /// `sqlite://path`, `sqlite::memory:`). Does not migrate.
    pub async fn connect(database_url: &str, cipher: Cipher) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(database_url)
            .map_err(|e| StoreError::Config(format!("bad SQLite database URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // An in-memory database exists per connection: keep exactly one, forever.
        let memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
        let pool = if memory {
            SqlitePoolOptions::new()
                .min_connections(1)
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(8)
        }
        .connect_with(opts)
        .await
        .map_err(|e| StoreError::Config(format!("cannot open SQLite database: {e}")))?;
        Ok(Self::from_pool(pool, cipher))
    }

    pub fn from_pool(pool: SqlitePool, cipher: Cipher) -> Self {
        SqliteStore {
            pool,
            cipher,
            locks: LockMap::default(),
        }
    }

    /// The pool (tests read raw rows through it).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn decode_credentials(
        &self,
        connection_id: &str,
        row: &SqliteRow,
    ) -> Result<StoredCredentials> {
        let sealed = Sealed {
            key_id: get(row, "key_id")?,
            nonce: get(row, "nonce")?,
            ciphertext: get(row, "ciphertext")?,
        };
        Ok(StoredCredentials {
            credentials: common::open_credentials(&self.cipher, connection_id, &sealed)?,
            version: get(row, "version")?,
            updated_at: parse_ts(&get::<String>(row, "updated_at")?)?,
        })
    }

    async fn read_credentials<'e, E>(
        &self,
        ex: E,
        connection_id: &str,
    ) -> Result<Option<StoredCredentials>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    {
        let row = sqlx::query(
            "SELECT key_id, nonce, ciphertext, version, updated_at FROM credentials WHERE connection_id = ?1",
        )
        .bind(connection_id)
        .fetch_optional(ex)
        .await
        .map_err(db_err)?;
        row.map(|r| self.decode_credentials(connection_id, &r))
            .transpose()
    }

    async fn write_credentials<'e, E>(
        &self,
        ex: E,
        connection_id: &str,
        credentials: &Credentials,
    ) -> Result<StoredCredentials>
    where
        E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    {
        let sealed = common::seal_credentials(&self.cipher, connection_id, credentials)?;
        let now = common::now();
        let row = sqlx::query(UPSERT_CREDENTIALS)
            .bind(connection_id)
            .bind(common::credentials_kind(credentials))
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(common::credentials_expires_at(credentials).map(ts))
            .bind(ts(now))
            .fetch_one(ex)
            .await
            .map_err(db_err)?;
        Ok(StoredCredentials {
            credentials: credentials.clone(),
            version: get(&row, "version")?,
            updated_at: now,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))
    }

    async fn insert_connection(&self, new: NewConnection) -> Result<Connection> {
        let now = common::now();
        let c = Connection {
            id: common::random_id("con"),
            connector_id: new.connector_id,
            owner_id: new.owner_id,
            operations: new.operations,
            scopes: Vec::new(),
            missing_scopes: Vec::new(),
            status: ConnectionStatus::Unauthorized,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO connections (id, connector_id, owner_id, operations, scopes, missing_scopes, \
             status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )
        .bind(&c.id)
        .bind(&c.connector_id)
        .bind(&c.owner_id)
        .bind(common::list_to_json(&c.operations))
        .bind(common::list_to_json(&c.scopes))
        .bind(common::list_to_json(&c.missing_scopes))
        .bind(common::status_str(c.status))
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(c)
    }

    async fn get_connection(
        &self,
        connector_id: &str,
        owner_id: &str,
    ) -> Result<Option<Connection>> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLS} FROM connections WHERE connector_id = ?1 AND owner_id = ?2"
        ))
        .bind(connector_id)
        .bind(owner_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(connection_from_row).transpose()
    }

    async fn update_connection(&self, connection: &Connection) -> Result<Connection> {
        let row = sqlx::query(&format!(
            "UPDATE connections SET operations = ?1, scopes = ?2, missing_scopes = ?3, status = ?4, \
             updated_at = ?5 WHERE id = ?6 RETURNING {CONNECTION_COLS}"
        ))
        .bind(common::list_to_json(&connection.operations))
        .bind(common::list_to_json(&connection.scopes))
        .bind(common::list_to_json(&connection.missing_scopes))
        .bind(common::status_str(connection.status))
        .bind(ts(common::now()))
        .bind(&connection.id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref()
            .map(connection_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    async fn delete_connection(&self, connector_id: &str, owner_id: &str) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let deleted =
            sqlx::query("DELETE FROM connections WHERE connector_id = ?1 AND owner_id = ?2")
                .bind(connector_id)
                .bind(owner_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        for table in ["sessions", "oauth_states"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE connector_id = ?1 AND owner_id = ?2"
            ))
            .bind(connector_id)
            .bind(owner_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_connections(
        &self,
        connector_id: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Connection>, Option<String>)> {
        let after = cursor.map(common::decode_cursor).transpose()?.unwrap_or(0);
        let limit = common::clamp_limit(limit);
        let rows = sqlx::query(&format!(
            "SELECT {CONNECTION_COLS} FROM connections WHERE (?1 IS NULL OR connector_id = ?1) \
             AND seq > ?2 ORDER BY seq LIMIT ?3"
        ))
        .bind(connector_id)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let more = rows.len() as i64 > limit;
        let rows = &rows[..rows.len().min(limit as usize)];
        let next = match (more, rows.last()) {
            (true, Some(last)) => Some(common::encode_cursor(get(last, "seq")?)),
            _ => None,
        };
        let list = rows
            .iter()
            .map(connection_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok((list, next))
    }

    async fn get_credentials(&self, connection_id: &str) -> Result<Option<StoredCredentials>> {
        self.read_credentials(&self.pool, connection_id).await
    }

    async fn put_credentials(
        &self,
        connection_id: &str,
        credentials: &Credentials,
    ) -> Result<StoredCredentials> {
        self.write_credentials(&self.pool, connection_id, credentials)
            .await
    }

    async fn delete_credentials(&self, connection_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM credentials WHERE connection_id = ?1")
            .bind(connection_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn with_refresh_lock(
        &self,
        connection_id: &str,
        f: RefreshFn,
    ) -> std::result::Result<StoredCredentials, LockedRefreshError> {
        let entry = self.locks.entry(connection_id);
        let _guard = entry.mutex().lock().await;
        // The write lock on the file, so other processes sharing it queue too.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let current = self.read_credentials(&mut *tx, connection_id).await?;
        match f(current.clone()).await {
            Err(e) => {
                tx.rollback().await.map_err(db_err)?;
                Err(LockedRefreshError::Refresh(e))
            }
            Ok(RefreshDecision::Keep) => {
                tx.rollback().await.map_err(db_err)?;
                Ok(current.ok_or(StoreError::NotFound)?)
            }
            Ok(RefreshDecision::Replace(new)) => {
                let stored = self
                    .write_credentials(&mut *tx, connection_id, &new)
                    .await?;
                tx.commit().await.map_err(db_err)?;
                Ok(stored)
            }
        }
    }

    async fn create_api_key(&self, name: &str) -> Result<(ApiKeyRecord, SecretString)> {
        let (key, prefix, hash) = common::new_api_key();
        let rec = ApiKeyRecord {
            id: common::random_id("key"),
            name: name.to_string(),
            prefix,
            created_at: common::now(),
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&rec.id)
        .bind(&rec.name)
        .bind(&rec.prefix)
        .bind(&hash)
        .bind(ts(rec.created_at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok((rec, key))
    }

    async fn verify_api_key(&self, presented: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(
            "SELECT id, name, prefix, created_at, revoked_at FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL",
        )
        .bind(common::sha256_hex(presented))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(&self, id_or_name: &str) -> Result<()> {
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at = ?1 WHERE (id = ?2 OR name = ?2) AND revoked_at IS NULL",
        )
        .bind(ts(common::now()))
        .bind(id_or_name)
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_session(&self, session: &Session) -> Result<SecretString> {
        let token = common::random_token(32);
        sqlx::query(
            "INSERT INTO sessions (token_hash, connector_id, owner_id, operations, expires_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(common::sha256_hex(&token))
        .bind(&session.connector_id)
        .bind(&session.owner_id)
        .bind(common::list_to_json(&session.operations))
        .bind(ts(common::truncate_micros(session.expires_at)))
        .bind(ts(common::now()))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(SecretString::from(token))
    }

    async fn get_session(&self, token: &str) -> Result<Option<Session>> {
        let row = sqlx::query("SELECT connector_id, owner_id, operations, expires_at FROM sessions WHERE token_hash = ?1")
            .bind(common::sha256_hex(token))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(|row| {
            Ok(Session {
                connector_id: get(&row, "connector_id")?,
                owner_id: get(&row, "owner_id")?,
                operations: common::list_from_json(&get::<String>(&row, "operations")?)?,
                expires_at: parse_ts(&get::<String>(&row, "expires_at")?)?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?1")
            .bind(common::sha256_hex(token))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_oauth_state(&self, state: &OAuthState) -> Result<String> {
        let value = common::random_token(32);
        let hash = common::sha256_hex(&value);
        let sealed = common::seal_pkce(&self.cipher, &hash, &state.pkce_verifier)?;
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, connector_id, owner_id, pkce_key_id, pkce_nonce, \
             pkce_ciphertext, redirect_url, scopes, expires_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .bind(&hash)
        .bind(&state.connector_id)
        .bind(&state.owner_id)
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(&state.redirect_url)
        .bind(common::list_to_json(&state.scopes))
        .bind(ts(common::truncate_micros(state.expires_at)))
        .bind(ts(common::now()))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(value)
    }

    async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>> {
        let hash = common::sha256_hex(state);
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE state_hash = ?1 RETURNING connector_id, owner_id, pkce_key_id, \
             pkce_nonce, pkce_ciphertext, redirect_url, scopes, expires_at",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let expires_at = parse_ts(&get::<String>(&row, "expires_at")?)?;
        if expires_at <= Utc::now() {
            return Ok(None);
        }
        let sealed = Sealed {
            key_id: get(&row, "pkce_key_id")?,
            nonce: get(&row, "pkce_nonce")?,
            ciphertext: get(&row, "pkce_ciphertext")?,
        };
        Ok(Some(OAuthState {
            connector_id: get(&row, "connector_id")?,
            owner_id: get(&row, "owner_id")?,
            pkce_verifier: common::open_pkce(&self.cipher, &hash, &sealed)?,
            redirect_url: get(&row, "redirect_url")?,
            scopes: common::list_from_json(&get::<String>(&row, "scopes")?)?,
            expires_at,
        }))
    }

    async fn purge_expired(&self, grace: Duration) -> Result<u64> {
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let cutoff = Utc::now()
            .checked_sub_signed(grace)
            .unwrap_or(DateTime::UNIX_EPOCH)
            .max(DateTime::UNIX_EPOCH);
        let cutoff = ts(common::truncate_micros(cutoff));
        let mut n = 0;
        for table in ["sessions", "oauth_states"] {
            n += sqlx::query(&format!("DELETE FROM {table} WHERE expires_at < ?1"))
                .bind(&cutoff)
                .execute(&self.pool)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        Ok(n)
    }
}
