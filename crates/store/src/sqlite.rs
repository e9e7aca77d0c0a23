//! The SQLite backend: one file in WAL mode, foreign keys on, a 5 s busy timeout. Write
//! transactions that read first use `BEGIN IMMEDIATE`, so two processes on one file serialize
//! instead of failing on a lock upgrade.

use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::common::{self, db_err, ListMerge, LockMap, Merge};
use crate::crypto::{Cipher, Sealed};
use crate::paging::PageRequest;
use crate::reseal::{self, ResealBackend, SealedCredentialsRow, SealedPkceRow};
use crate::rows::{
    ApiKeyRow, ConnectionRow, CredentialsRow, CredentialsWrite, NewApiKeyRow, NewConnectionRow,
    NewOAuthStateRow, NewSessionRow, OAuthStateRow, SessionRow, TimeColumn,
};
use crate::{
    ApiKeyRecord, Connection, Credentials, Grant, LockedRefreshError, NewConnection, OAuthState,
    Observation, RefreshFailureKind, RefreshFn, ResealProgress, Result, Session, Store, StoreError,
    StoredCredentials, REFRESH_LEASE_TTL,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// One connection for the events outbox's writes: SQLite has one writer, and writers that
    /// queue here take turns at once, where several pooled connections contending for the
    /// lock sleep in SQLite's busy handler (milliseconds at a time). Reads stay on `pool`
    /// (WAL: they never wait for the writer). Another process on the same file still meets
    /// the busy handler.
    pub(crate) writer: SqlitePool,
    pub(crate) cipher: Cipher,
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

/// Timestamp columns are `ts` text.
impl TimeColumn for String {
    fn into_utc(self) -> Result<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| StoreError::Database(format!("bad timestamp {self:?}: {e}")))
    }
}

/// Every connection column, with the current credentials version joined in.
const CONNECTION_SELECT: &str = "SELECT c.seq, c.id, c.connector_id, c.owner_id, c.operations, \
     c.scopes, c.missing_scopes, c.status, c.dialpad_user_id, c.dialpad_company_id, \
     c.created_at, c.updated_at, cr.version AS credentials_version \
     FROM connections c LEFT JOIN credentials cr ON cr.connection_id = c.id";

const UPSERT_CREDENTIALS: &str = "INSERT INTO credentials \
     (connection_id, kind, key_id, nonce, ciphertext, expires_at, version, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7) \
     ON CONFLICT (connection_id) DO UPDATE SET kind = excluded.kind, key_id = excluded.key_id, \
     nonce = excluded.nonce, ciphertext = excluded.ciphertext, expires_at = excluded.expires_at, \
     version = credentials.version + 1, updated_at = excluded.updated_at, \
     refresh_failure = NULL, refresh_failed_at = NULL \
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
        let open = |e: sqlx::Error| StoreError::Config(format!("cannot open SQLite database: {e}"));
        if memory {
            let pool = SqlitePoolOptions::new()
                .min_connections(1)
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(opts)
                .await
                .map_err(open)?;
            return Ok(Self::from_pool(pool, cipher));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts.clone())
            .await
            .map_err(open)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(open)?;
        Ok(SqliteStore {
            pool,
            writer,
            cipher,
            locks: LockMap::default(),
        })
    }

    /// A store on one pool (reads and writes).
    pub fn from_pool(pool: SqlitePool, cipher: Cipher) -> Self {
        SqliteStore {
            writer: pool.clone(),
            pool,
            cipher,
            locks: LockMap::default(),
        }
    }

    /// The pool (tests read raw rows through it).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn read_credentials<'e, E>(
        &self,
        ex: E,
        connection_id: &str,
    ) -> Result<Option<StoredCredentials>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    {
        let row: Option<CredentialsRow<String>> = sqlx::query_as(
            "SELECT key_id, nonce, ciphertext, version, updated_at, refresh_failure, refresh_failed_at \
             FROM credentials WHERE connection_id = ?1",
        )
        .bind(connection_id)
        .fetch_optional(ex)
        .await
        .map_err(db_err)?;
        row.map(|r| r.open(&self.cipher, connection_id)).transpose()
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
        let w = CredentialsWrite::seal(&self.cipher, connection_id, credentials)?;
        let version = sqlx::query_scalar(UPSERT_CREDENTIALS)
            .bind(connection_id)
            .bind(w.kind)
            .bind(&w.sealed.key_id)
            .bind(&w.sealed.nonce)
            .bind(&w.sealed.ciphertext)
            .bind(w.expires_at.map(ts))
            .bind(ts(w.updated_at))
            .fetch_one(ex)
            .await
            .map_err(db_err)?;
        Ok(w.stored(version))
    }

    /// The connection, read fresh.
    async fn fetch_by_id(&self, connection_id: &str) -> Result<Option<Connection>> {
        let row: Option<ConnectionRow<String>> =
            sqlx::query_as(&format!("{CONNECTION_SELECT} WHERE c.id = ?1"))
                .bind(connection_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        row.map(ConnectionRow::into_connection).transpose()
    }

    async fn fetch_required(&self, connection_id: &str) -> Result<Connection> {
        self.fetch_by_id(connection_id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Adds `items` to (or removes them from) one list column in a single statement, so
    /// concurrent changes of the same list from several instances all land. With
    /// `credentials_version`, only while the credentials are still at that version (None when
    /// they moved on).
    async fn merge_list(
        &self,
        connection_id: &str,
        m: ListMerge,
        items: &[String],
    ) -> Result<Option<Connection>> {
        let column = m.column;
        let value = match m.merge {
            Merge::Add => format!(
                "(SELECT json_group_array(value ORDER BY src, k) FROM ( \
                 SELECT value, 0 AS src, key AS k FROM json_each(connections.{col}) \
                 UNION ALL SELECT value, 1 AS src, key AS k FROM json_each(?1) \
                 WHERE value NOT IN (SELECT value FROM json_each(connections.{col}))))",
                col = column.name()
            ),
            Merge::Remove => format!(
                "(SELECT json_group_array(value ORDER BY key) FROM json_each(connections.{col}) \
                 WHERE value NOT IN (SELECT value FROM json_each(?1)))",
                col = column.name()
            ),
        };
        let sql = format!(
            "UPDATE connections SET {col} = {value}, updated_at = ?2 WHERE id = ?3 AND (?4 IS NULL OR EXISTS (SELECT 1 FROM credentials WHERE connection_id = ?3 AND version = ?4))",
            col = column.name()
        );
        let n = sqlx::query(&sql)
            .bind(common::list_to_json(items))
            .bind(ts(common::now()))
            .bind(connection_id)
            .bind(m.credentials_version)
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        ListMerge::outcome(n, self.fetch_by_id(connection_id).await?)
    }

    /// One conditional `UPDATE connections` of the row `?1` with `?2` = now (and `?3` =
    /// `extra` when given); the number of rows changed.
    async fn update_status(
        &self,
        connection_id: &str,
        sql: &str,
        extra: Option<i64>,
    ) -> Result<u64> {
        let mut q = sqlx::query(sql).bind(connection_id).bind(ts(common::now()));
        if let Some(x) = extra {
            q = q.bind(x);
        }
        q.execute(&self.pool)
            .await
            .map_err(db_err)
            .map(|r| r.rows_affected())
    }
}

#[async_trait]
impl common::LeaseBackend for SqliteStore {
    async fn try_take_lease(&self, connection_id: &str, holder: &str) -> Result<bool> {
        let now = common::now();
        let until = now + chrono::Duration::from_std(REFRESH_LEASE_TTL).unwrap_or_default();
        let row = sqlx::query(
            "INSERT INTO refresh_leases (connection_id, holder, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (connection_id) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at WHERE refresh_leases.expires_at < ?4 \
             RETURNING holder",
        )
        .bind(connection_id)
        .bind(holder)
        .bind(ts(until))
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, connection_id: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM refresh_leases WHERE connection_id = ?1 AND holder = ?2")
            .bind(connection_id)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn read_credentials_now(&self, connection_id: &str) -> Result<Option<StoredCredentials>> {
        self.read_credentials(&self.pool, connection_id).await
    }

    async fn replace_credentials_if(
        &self,
        connection_id: &str,
        version: i64,
        new: &Credentials,
    ) -> Result<Option<StoredCredentials>> {
        let w = CredentialsWrite::seal(&self.cipher, connection_id, new)?;
        let new_version = sqlx::query_scalar(
            "UPDATE credentials SET kind = ?1, key_id = ?2, nonce = ?3, ciphertext = ?4, \
             expires_at = ?5, version = version + 1, updated_at = ?6, refresh_failure = NULL, \
             refresh_failed_at = NULL WHERE connection_id = ?7 AND version = ?8 RETURNING version",
        )
        .bind(w.kind)
        .bind(&w.sealed.key_id)
        .bind(&w.sealed.nonce)
        .bind(&w.sealed.ciphertext)
        .bind(w.expires_at.map(ts))
        .bind(ts(w.updated_at))
        .bind(connection_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(new_version.map(|v| w.stored(v)))
    }

    async fn record_refresh_failure(
        &self,
        connection_id: &str,
        version: i64,
        kind: RefreshFailureKind,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE credentials SET refresh_failure = ?1, refresh_failed_at = ?2 \
             WHERE connection_id = ?3 AND version = ?4",
        )
        .bind(common::failure_str(kind))
        .bind(ts(common::now()))
        .bind(connection_id)
        .bind(version)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl ResealBackend for SqliteStore {
    async fn credentials_to_reseal(
        &self,
        current_key: &str,
        limit: i64,
    ) -> Result<Vec<SealedCredentialsRow>> {
        sqlx::query_as(
            "SELECT connection_id, key_id, nonce, ciphertext, version FROM credentials \
             WHERE key_id <> ?1 LIMIT ?2",
        )
        .bind(current_key)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn swap_credentials(
        &self,
        connection_id: &str,
        version: i64,
        old_key_id: &str,
        new: &Sealed,
    ) -> Result<u64> {
        sqlx::query(
            "UPDATE credentials SET key_id = ?1, nonce = ?2, ciphertext = ?3 \
             WHERE connection_id = ?4 AND version = ?5 AND key_id = ?6",
        )
        .bind(&new.key_id)
        .bind(&new.nonce)
        .bind(&new.ciphertext)
        .bind(connection_id)
        .bind(version)
        .bind(old_key_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)
        .map(|r| r.rows_affected())
    }

    async fn pkce_to_reseal(&self, current_key: &str, limit: i64) -> Result<Vec<SealedPkceRow>> {
        sqlx::query_as(
            "SELECT state_hash, pkce_key_id, pkce_nonce, pkce_ciphertext FROM oauth_states \
             WHERE pkce_key_id <> ?1 LIMIT ?2",
        )
        .bind(current_key)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn swap_pkce(&self, state_hash: &str, old_key_id: &str, new: &Sealed) -> Result<u64> {
        sqlx::query(
            "UPDATE oauth_states SET pkce_key_id = ?1, pkce_nonce = ?2, pkce_ciphertext = ?3 \
             WHERE state_hash = ?4 AND pkce_key_id = ?5",
        )
        .bind(&new.key_id)
        .bind(&new.nonce)
        .bind(&new.ciphertext)
        .bind(state_hash)
        .bind(old_key_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)
        .map(|r| r.rows_affected())
    }

    async fn count_to_reseal(&self, current_key: &str) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM credentials WHERE key_id <> ?1) + \
             (SELECT COUNT(*) FROM oauth_states WHERE pkce_key_id <> ?1)",
        )
        .bind(current_key)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)
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
        let (row, c) = NewConnectionRow::new(new);
        sqlx::query(
            "INSERT INTO connections (id, connector_id, owner_id, operations, scopes, missing_scopes, \
             status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )
        .bind(&row.id)
        .bind(&row.connector_id)
        .bind(&row.owner_id)
        .bind(&row.operations)
        .bind(&row.scopes)
        .bind(&row.missing_scopes)
        .bind(row.status)
        .bind(ts(row.created_at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(c)
    }

    async fn get_connection_by_id(&self, connection_id: &str) -> Result<Option<Connection>> {
        self.fetch_by_id(connection_id).await
    }

    async fn get_connection(
        &self,
        connector_id: &str,
        owner_id: &str,
    ) -> Result<Option<Connection>> {
        let row: Option<ConnectionRow<String>> = sqlx::query_as(&format!(
            "{CONNECTION_SELECT} WHERE c.connector_id = ?1 AND c.owner_id = ?2"
        ))
        .bind(connector_id)
        .bind(owner_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(ConnectionRow::into_connection).transpose()
    }

    async fn set_operations(
        &self,
        connection_id: &str,
        operations: &[String],
        scopes: Option<&[String]>,
    ) -> Result<Connection> {
        let n = sqlx::query(
            "UPDATE connections SET operations = ?1, scopes = COALESCE(?2, scopes), \
             updated_at = ?3 WHERE id = ?4",
        )
        .bind(common::list_to_json(operations))
        .bind(scopes.map(common::list_to_json))
        .bind(ts(common::now()))
        .bind(connection_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        common::found(n)?;
        self.fetch_required(connection_id).await
    }

    async fn add_operations(
        &self,
        connection_id: &str,
        operations: &[String],
    ) -> Result<Connection> {
        self.merge_list(connection_id, ListMerge::add_operations(), operations)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn mark_awaiting_authorization(&self, connection_id: &str) -> Result<()> {
        self.update_status(
            connection_id,
            "UPDATE connections SET status = 'awaitingAuthorization', \
             updated_at = ?2 WHERE id = ?1 AND status <> 'authorized'",
            None,
        )
        .await
        .map(drop)
    }

    async fn mark_authorization_abandoned(&self, connection_id: &str) -> Result<()> {
        self.update_status(
            connection_id,
            "UPDATE connections SET status = 'unauthorized', \
             updated_at = ?2 WHERE id = ?1 AND status = 'awaitingAuthorization'",
            None,
        )
        .await
        .map(drop)
    }

    async fn authorize(&self, connection_id: &str, grant: &Grant) -> Result<Connection> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        self.write_credentials(&mut *tx, connection_id, &grant.credentials)
            .await?;
        sqlx::query(
            "UPDATE connections SET status = 'authorized', scopes = ?1, missing_scopes = '[]', \
             dialpad_user_id = ?2, dialpad_company_id = ?3, \
             updated_at = ?4 WHERE id = ?5",
        )
        .bind(common::list_to_json(&grant.scopes))
        .bind(&grant.dialpad_user_id)
        .bind(&grant.dialpad_company_id)
        .bind(ts(common::now()))
        .bind(connection_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.fetch_required(connection_id).await
    }

    async fn record_missing_scopes(
        &self,
        connection_id: &str,
        scopes: &[String],
        credentials_version: i64,
    ) -> Result<Option<Connection>> {
        self.merge_list(
            connection_id,
            ListMerge::record_missing_scopes(credentials_version),
            scopes,
        )
        .await
    }

    async fn clear_missing_scopes(
        &self,
        connection_id: &str,
        scopes: &[String],
        credentials_version: i64,
    ) -> Result<Option<Connection>> {
        self.merge_list(
            connection_id,
            ListMerge::clear_missing_scopes(credentials_version),
            scopes,
        )
        .await
    }

    async fn mark_refresh_failed(
        &self,
        connection_id: &str,
        credentials_version: i64,
    ) -> Result<bool> {
        self.update_status(
            connection_id,
            "UPDATE connections SET status = 'refreshFailed', \
             updated_at = ?2 WHERE id = ?1 AND status = 'authorized' AND EXISTS \
             (SELECT 1 FROM credentials WHERE connection_id = ?1 AND version = ?3)",
            Some(credentials_version),
        )
        .await
        .map(|n| n == 1)
    }

    async fn count_sharing_grant(&self, connection_id: &str, dialpad_user_id: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM connections c JOIN credentials cr ON cr.connection_id = c.id \
             WHERE (c.dialpad_user_id = ?1 OR c.dialpad_user_id IS NULL) \
             AND c.id <> ?2 AND cr.kind = 'oauth'",
        )
        .bind(dialpad_user_id)
        .bind(connection_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(common::count(n))
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
        for table in common::OWNER_BOUND_TABLES {
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
        common::found(deleted)
    }

    async fn list_connections(
        &self,
        connector_id: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Connection>, Option<String>)> {
        let page = PageRequest::new(cursor, limit)?;
        let rows: Vec<ConnectionRow<String>> = sqlx::query_as(&format!(
            "{CONNECTION_SELECT} WHERE (?1 IS NULL OR c.connector_id = ?1) \
             AND c.seq > ?2 ORDER BY c.seq LIMIT ?3"
        ))
        .bind(connector_id)
        .bind(page.after)
        .bind(page.fetch_limit())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        page.page(rows)
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
        common::refresh_with_lease(self, &self.locks, connection_id, f).await
    }

    async fn create_api_key(&self, name: &str) -> Result<(ApiKeyRecord, SecretString)> {
        let (row, key) = NewApiKeyRow::new(name);
        let rec = row.record;
        sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&rec.id)
        .bind(&rec.name)
        .bind(&rec.prefix)
        .bind(&row.hash)
        .bind(ts(rec.created_at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok((rec, key))
    }

    async fn verify_api_key(&self, presented: &str) -> Result<Option<ApiKeyRecord>> {
        let row: Option<ApiKeyRow<String>> = sqlx::query_as(
            "SELECT id, name, prefix, created_at, revoked_at FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL",
        )
        .bind(common::sha256_hex(presented))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(ApiKeyRow::into_record).transpose()
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows: Vec<ApiKeyRow<String>> = sqlx::query_as(
            "SELECT id, name, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(ApiKeyRow::into_record).collect()
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
        common::found(n)
    }

    async fn create_session(&self, session: &Session) -> Result<SecretString> {
        let (row, token) = NewSessionRow::new(session);
        sqlx::query(
            "INSERT INTO sessions (token_hash, connector_id, owner_id, operations, expires_at, created_at, \
             purpose, redirect_url, extra_scopes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&row.token_hash)
        .bind(row.connector_id)
        .bind(row.owner_id)
        .bind(&row.operations)
        .bind(ts(row.expires_at))
        .bind(ts(row.created_at))
        .bind(row.purpose)
        .bind(row.redirect_url)
        .bind(&row.extra_scopes)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(token)
    }

    async fn get_session(&self, token: &str) -> Result<Option<Session>> {
        let row: Option<SessionRow<String>> = sqlx::query_as(
            "SELECT connector_id, owner_id, operations, expires_at, purpose, redirect_url, extra_scopes \
             FROM sessions WHERE token_hash = ?1",
        )
        .bind(common::sha256_hex(token))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(SessionRow::into_session).transpose()
    }

    async fn delete_session(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?1")
            .bind(common::sha256_hex(token))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn bind_connect_session(&self, token: &str, browser_hash: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE sessions SET browser_hash = ?1 WHERE token_hash = ?2 \
             AND purpose = 'connect' AND (browser_hash IS NULL OR browser_hash = ?1)",
        )
        .bind(browser_hash)
        .bind(common::sha256_hex(token))
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn connect_session_reusable(&self, token: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS reusable FROM sessions WHERE token_hash = ?1 AND purpose = 'connect' \
             AND browser_hash IS NULL AND expires_at > ?2",
        )
        .bind(common::sha256_hex(token))
        .bind(ts(common::now()))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.is_some())
    }

    async fn delete_connect_sessions(&self, connector_id: &str, owner_id: &str) -> Result<u64> {
        sqlx::query(
            "DELETE FROM sessions WHERE connector_id = ?1 AND owner_id = ?2 \
             AND purpose = 'connect'",
        )
        .bind(connector_id)
        .bind(owner_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)
        .map(|r| r.rows_affected())
    }

    async fn create_oauth_state(&self, state: &OAuthState) -> Result<String> {
        let (row, value) = NewOAuthStateRow::new(&self.cipher, state)?;
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, connector_id, owner_id, pkce_key_id, pkce_nonce, \
             pkce_ciphertext, redirect_url, scopes, expires_at, created_at, browser_hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(&row.state_hash)
        .bind(row.connector_id)
        .bind(row.owner_id)
        .bind(&row.pkce.key_id)
        .bind(&row.pkce.nonce)
        .bind(&row.pkce.ciphertext)
        .bind(row.redirect_url)
        .bind(&row.scopes)
        .bind(ts(row.expires_at))
        .bind(ts(row.created_at))
        .bind(row.browser_hash)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(value)
    }

    async fn take_oauth_state(
        &self,
        state: &str,
        browser_hash: Option<&str>,
    ) -> Result<Option<OAuthState>> {
        let hash = common::sha256_hex(state);
        let row: Option<OAuthStateRow<String>> = sqlx::query_as(
            "DELETE FROM oauth_states WHERE state_hash = ?1 \
             AND (browser_hash IS NULL OR browser_hash = ?2) RETURNING connector_id, owner_id, pkce_key_id, \
             pkce_nonce, pkce_ciphertext, redirect_url, scopes, expires_at, browser_hash",
        )
        .bind(&hash)
        .bind(browser_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map_or(Ok(None), |row| row.open(&self.cipher, &hash))
    }

    async fn oauth_state_pending(&self, state: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS pending FROM oauth_states WHERE state_hash = ?1 AND expires_at > ?2",
        )
        .bind(common::sha256_hex(state))
        .bind(ts(common::now()))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.is_some())
    }

    async fn purge_expired(&self, grace: Duration) -> Result<u64> {
        let cutoff = ts(common::purge_cutoff(grace));
        let mut n = 0;
        for table in common::EXPIRING_TABLES {
            n += sqlx::query(&format!("DELETE FROM {table} WHERE expires_at < ?1"))
                .bind(&cutoff)
                .execute(&self.pool)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        Ok(n)
    }

    async fn reseal_batch(&self, limit: u32) -> Result<ResealProgress> {
        let mut p = reseal::reseal_batch(self, &self.cipher, limit).await?;
        // The events' secrets: webhook endpoints' signing secrets and intakes' JWT secrets.
        let (resealed, remaining) = self.reseal_event_secrets(limit).await?;
        p.resealed += resealed;
        p.remaining += remaining;
        Ok(p)
    }

    async fn observe_records(
        &self,
        connection_id: &str,
        model: &str,
        records: &[(String, String)],
    ) -> Result<Vec<Observation>> {
        let unique = crate::unique_records(records);
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        // A read first: records seen before and unchanged (the usual case) need no write, which
        // on SQLite would take the database's one write lock for every page read.
        let mut sql = String::from(
            "SELECT remote_id, fingerprint, first_seen, last_changed FROM record_observations \
             WHERE connection_id = ?1 AND model = ?2 AND remote_id IN (",
        );
        for i in 0..unique.len() {
            sql.push_str(if i > 0 { ", " } else { "" });
            sql.push_str(&format!("?{}", 3 + i));
        }
        sql.push(')');
        let mut q = sqlx::query_as::<_, (String, String, String, String)>(&sql)
            .bind(connection_id)
            .bind(model);
        for (id, _) in &unique {
            q = q.bind(*id);
        }
        let known = q.fetch_all(&self.pool).await.map_err(db_err)?;
        let mut rows = Vec::with_capacity(unique.len());
        let mut fingerprints = std::collections::HashMap::with_capacity(known.len());
        for (id, fp, f, l) in known {
            fingerprints.insert(id.clone(), fp);
            rows.push((id, f.into_utc()?, l.into_utc()?));
        }
        let unique: Vec<(&str, &str)> = unique
            .into_iter()
            .filter(|(id, fp)| fingerprints.get(*id).map(String::as_str) != Some(*fp))
            .collect();
        if unique.is_empty() {
            return Ok(crate::observations_in_order(records, rows));
        }
        rows.retain(|(id, _, _)| !unique.iter().any(|(u, _)| u == id));
        // One multi-row upsert of the new and changed: ?1 connection, ?2 model, ?3 now, then
        // (id, fingerprint) pairs.
        let mut sql = String::from(
            "INSERT INTO record_observations \
             (connection_id, model, remote_id, fingerprint, first_seen, last_changed) VALUES ",
        );
        for i in 0..unique.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(?1, ?2, ?{}, ?{}, ?3, ?3)", 4 + 2 * i, 5 + 2 * i));
        }
        sql.push_str(
            " ON CONFLICT (connection_id, model, remote_id) DO UPDATE SET \
             last_changed = CASE WHEN record_observations.fingerprint = excluded.fingerprint \
             THEN record_observations.last_changed ELSE excluded.last_changed END, \
             fingerprint = excluded.fingerprint \
             RETURNING remote_id, first_seen, last_changed",
        );
        let mut q = sqlx::query_as::<_, (String, String, String)>(&sql)
            .bind(connection_id)
            .bind(model)
            .bind(ts(Utc::now()));
        for (id, fp) in &unique {
            q = q.bind(*id).bind(*fp);
        }
        for (id, f, l) in q.fetch_all(&self.pool).await.map_err(db_err)? {
            rows.push((id, f.into_utc()?, l.into_utc()?));
        }
        Ok(crate::observations_in_order(records, rows))
    }

    async fn put_field_mappings(
        &self,
        connection_id: &str,
        model: &str,
        mappings: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO field_mappings (connection_id, model, mappings, updated_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (connection_id, model) \
             DO UPDATE SET mappings = excluded.mappings, updated_at = excluded.updated_at",
        )
        .bind(connection_id)
        .bind(model)
        .bind(mappings)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_field_mappings(&self, connection_id: &str, model: &str) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT mappings FROM field_mappings WHERE connection_id = ?1 AND model = ?2",
        )
        .bind(connection_id)
        .bind(model)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn delete_field_mappings(&self, connection_id: &str, model: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM field_mappings WHERE connection_id = ?1 AND model = ?2")
            .bind(connection_id)
            .bind(model)
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n > 0)
    }
}
