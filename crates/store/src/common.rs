//! Pieces shared by both backends: random tokens and ids, hashing, the credentials blob, list
//! columns and their merges, what deletes and purges cover, the refresh-lease protocol and the
//! in-process refresh locks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest, Sha256};

use crate::crypto::{Cipher, Sealed};
use crate::{
    Connection, ConnectionStatus, Credentials, LockedRefreshError, RefreshDecision, RefreshFailure,
    RefreshFailureKind, RefreshFn, Result, SessionPurpose, StoreError, StoredCredentials,
    REFRESH_LEASE_TTL,
};

/// `n` random bytes, base64url without padding.
pub(crate) fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// A random id with a readable prefix (`con_…`, `key_…`): 16 random bytes in hex.
pub(crate) fn random_id(prefix: &str) -> String {
    hex_id(prefix, None)
}

/// An id for the outbox's high-volume rows (`evt_…`, `dlv_…`, `att_…`, `in_…`): 32 hex digits
/// like `random_id`'s, the first 12 the creation time in milliseconds, the other 20 random
/// (80 bits). Why time first: every one of these ids is a unique index, and random keys put
/// each insert on a random page of it, so a batch of N events wrote N pages per index to the
/// WAL (SQLite) or dirtied N B-tree pages (PostgreSQL); ordered keys append to the last page.
pub(crate) fn ordered_id(prefix: &str) -> String {
    let ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    hex_id(prefix, Some(ms))
}

/// `prefix_` and 32 hex digits: with `head`, its low 48 bits (12 digits) then 10 random bytes;
/// without, 16 random bytes.
fn hex_id(prefix: &str, head: Option<u64>) -> String {
    use std::fmt::Write;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    let mut s = String::with_capacity(prefix.len() + 33);
    s.push_str(prefix);
    s.push('_');
    let random = match head {
        Some(h) => {
            let _ = write!(s, "{:012x}", h & 0xffff_ffff_ffff);
            &b[..10]
        }
        None => &b[..],
    };
    for x in random {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// SHA-256 in lowercase hex (how API keys, session tokens, OAuth states and browser-binding
/// cookies are stored).
pub fn sha256_hex(s: &str) -> String {
    // On every authenticated request: no allocation per byte.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// A new API secret key: `sk_` and 32 random bytes (base64url, 43 characters).
pub(crate) fn new_api_key() -> (SecretString, String, String) {
    let key = format!("sk_{}", random_token(32));
    let prefix = key[..8].to_string();
    let hash = sha256_hex(&key);
    (SecretString::from(key), prefix, hash)
}

/// Now, truncated to microseconds (what both backends keep), so values read back compare equal.
pub(crate) fn now() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

pub(crate) fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

pub(crate) fn status_str(s: ConnectionStatus) -> &'static str {
    match s {
        ConnectionStatus::Unauthorized => "unauthorized",
        ConnectionStatus::AwaitingAuthorization => "awaitingAuthorization",
        ConnectionStatus::Authorized => "authorized",
        ConnectionStatus::RefreshFailed => "refreshFailed",
    }
}

pub(crate) fn parse_status(s: &str) -> Result<ConnectionStatus> {
    Ok(match s {
        "unauthorized" => ConnectionStatus::Unauthorized,
        "awaitingAuthorization" => ConnectionStatus::AwaitingAuthorization,
        "authorized" => ConnectionStatus::Authorized,
        "refreshFailed" => ConnectionStatus::RefreshFailed,
        other => {
            return Err(StoreError::Database(format!(
                "unknown connection status {other:?}"
            )))
        }
    })
}

pub(crate) fn purpose_str(p: SessionPurpose) -> &'static str {
    match p {
        SessionPurpose::App => "app",
        SessionPurpose::Connect => "connect",
    }
}

pub(crate) fn parse_purpose(s: &str) -> Result<SessionPurpose> {
    match s {
        "app" => Ok(SessionPurpose::App),
        "connect" => Ok(SessionPurpose::Connect),
        other => Err(StoreError::Database(format!(
            "unknown session purpose {other:?}"
        ))),
    }
}

pub(crate) fn failure_str(k: RefreshFailureKind) -> &'static str {
    match k {
        RefreshFailureKind::Refused => "refused",
        RefreshFailureKind::Unavailable => "unavailable",
    }
}

/// The remembered failure from its two columns (an unknown kind reads as none: it only ever
/// saves a token call).
pub(crate) fn parse_failure(
    kind: Option<String>,
    at: Option<DateTime<Utc>>,
) -> Option<RefreshFailure> {
    let kind = match kind.as_deref()? {
        "refused" => RefreshFailureKind::Refused,
        "unavailable" => RefreshFailureKind::Unavailable,
        _ => return None,
    };
    Some(RefreshFailure { kind, at: at? })
}

/// The primitives the refresh-lease protocol needs from a backend; each is one short statement.
#[async_trait::async_trait]
pub(crate) trait LeaseBackend: Send + Sync {
    /// Takes the lease if nobody holds it or the holder's lease expired.
    async fn try_take_lease(&self, connection_id: &str, holder: &str) -> Result<bool>;
    async fn release_lease(&self, connection_id: &str, holder: &str) -> Result<()>;
    async fn read_credentials_now(&self, connection_id: &str) -> Result<Option<StoredCredentials>>;
    /// Writes `new` only if the stored version is still `version`; None if it moved.
    async fn replace_credentials_if(
        &self,
        connection_id: &str,
        version: i64,
        new: &Credentials,
    ) -> Result<Option<StoredCredentials>>;
    async fn record_refresh_failure(
        &self,
        connection_id: &str,
        version: i64,
        kind: RefreshFailureKind,
    ) -> Result<()>;
}

/// The refresh protocol shared by both backends. Tasks of this process queue on an in-memory
/// mutex first (so only one of them polls the database); then the lease row makes the refresh
/// single-flight across instances. Nothing is held open while `f` runs but the lease row.
pub(crate) async fn refresh_with_lease<B: LeaseBackend>(
    backend: &B,
    locks: &LockMap,
    connection_id: &str,
    f: RefreshFn,
) -> std::result::Result<StoredCredentials, LockedRefreshError> {
    let entry = locks.entry(connection_id);
    let _queued = entry.mutex().lock().await;
    let holder = random_token(12);
    // A live holder finishes within the lease; a dead one's lease expires: waiting longer than
    // that means something is wrong, and the caller gets an error rather than a hang.
    let give_up = std::time::Instant::now() + REFRESH_LEASE_TTL + std::time::Duration::from_secs(5);
    let mut pause = std::time::Duration::from_millis(10);
    while !backend.try_take_lease(connection_id, &holder).await? {
        if std::time::Instant::now() >= give_up {
            return Err(StoreError::Busy("the refresh lease of this connection".into()).into());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(200));
    }
    let outcome = run_leased(backend, connection_id, f).await;
    if let Err(e) = backend.release_lease(connection_id, &holder).await {
        // It expires on its own; the outcome (already committed) stands.
        tracing::warn!(error = %e, "could not release a refresh lease");
    }
    outcome
}

async fn run_leased<B: LeaseBackend>(
    backend: &B,
    connection_id: &str,
    f: RefreshFn,
) -> std::result::Result<StoredCredentials, LockedRefreshError> {
    let current = backend.read_credentials_now(connection_id).await?;
    let version = current.as_ref().map(|c| c.version);
    match f(current.clone())
        .await
        .map_err(LockedRefreshError::Refresh)?
    {
        RefreshDecision::Keep => Ok(current.ok_or(StoreError::NotFound)?),
        RefreshDecision::Replace(new) => {
            let Some(version) = version else {
                return Err(StoreError::NotFound.into());
            };
            match backend
                .replace_credentials_if(connection_id, version, &new)
                .await?
            {
                Some(stored) => Ok(stored),
                // Replaced meanwhile without the lease (a new authorization): that one wins.
                None => Ok(backend
                    .read_credentials_now(connection_id)
                    .await?
                    .ok_or(StoreError::NotFound)?),
            }
        }
        RefreshDecision::Fail(kind) => {
            if let Some(version) = version {
                backend
                    .record_refresh_failure(connection_id, version, kind)
                    .await?;
            }
            Err(LockedRefreshError::Failed(kind))
        }
    }
}

pub(crate) fn list_to_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn list_from_json(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| StoreError::Database(format!("bad list column: {e}")))
}

/// Which list column a merge changes.
#[derive(Clone, Copy)]
pub(crate) enum ListColumn {
    Operations,
    MissingScopes,
}

impl ListColumn {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ListColumn::Operations => "operations",
            ListColumn::MissingScopes => "missing_scopes",
        }
    }
}

/// What a list merge does with its items.
#[derive(Clone, Copy)]
pub(crate) enum Merge {
    /// Appends those not present yet (order kept).
    Add,
    Remove,
}

/// One change of a connection's list column, made in a single statement by each backend's
/// `merge_list`; the intent-named writes that use it are built here so both backends guard
/// them alike.
#[derive(Clone, Copy)]
pub(crate) struct ListMerge {
    pub column: ListColumn,
    pub merge: Merge,
    /// Only while the credentials are still at this version.
    pub credentials_version: Option<i64>,
}

impl ListMerge {
    pub(crate) fn add_operations() -> Self {
        ListMerge {
            column: ListColumn::Operations,
            merge: Merge::Add,
            credentials_version: None,
        }
    }

    /// A 403 proves nothing about a newer token: only at the version that got it.
    pub(crate) fn record_missing_scopes(credentials_version: i64) -> Self {
        ListMerge {
            column: ListColumn::MissingScopes,
            merge: Merge::Add,
            credentials_version: Some(credentials_version),
        }
    }

    /// Likewise, a success proves the scopes only for the token that had it.
    pub(crate) fn clear_missing_scopes(credentials_version: i64) -> Self {
        ListMerge {
            column: ListColumn::MissingScopes,
            merge: Merge::Remove,
            credentials_version: Some(credentials_version),
        }
    }

    /// What the merge returns, from the rows its statement changed and the connection read
    /// afterwards: `NotFound` if the connection is gone, None if nothing changed (the
    /// credentials moved on).
    pub(crate) fn outcome(changed: u64, after: Option<Connection>) -> Result<Option<Connection>> {
        match after {
            None => Err(StoreError::NotFound),
            Some(_) if changed == 0 => Ok(None),
            Some(c) => Ok(Some(c)),
        }
    }
}

/// For a statement that names its row: `NotFound` if it changed none (the row is not there).
pub(crate) fn found(rows_affected: u64) -> Result<()> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A `COUNT(*)` (a signed integer to both drivers) as the count it is.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// The tables that name a connection by `(connector_id, owner_id)` (their rows may exist
/// before the connection row does, so no foreign key cascades): `delete_connection` deletes
/// from them in its transaction.
pub(crate) const OWNER_BOUND_TABLES: [&str; 2] = ["sessions", "oauth_states"];

/// The tables whose rows expire (`expires_at`), which `purge_expired` clears.
pub(crate) const EXPIRING_TABLES: [&str; 3] = ["sessions", "oauth_states", "refresh_leases"];

/// What `purge_expired` deletes before: now less `grace`, at the earliest the Unix epoch (a
/// grace too large to subtract purges nothing), to the microsecond like every stored time.
pub(crate) fn purge_cutoff(grace: Duration) -> DateTime<Utc> {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let cutoff = Utc::now()
        .checked_sub_signed(grace)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .max(DateTime::UNIX_EPOCH);
    truncate_micros(cutoff)
}

pub(crate) fn credentials_kind(c: &Credentials) -> &'static str {
    match c {
        Credentials::OAuth { .. } => "oauth",
        Credentials::ApiKey { .. } => "api_key",
    }
}

pub(crate) fn credentials_expires_at(c: &Credentials) -> Option<DateTime<Utc>> {
    match c {
        Credentials::OAuth { expires_at, .. } => expires_at.map(truncate_micros),
        Credentials::ApiKey { .. } => None,
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Blob {
    Oauth {
        access_token: String,
        refresh_token: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    },
    ApiKey {
        api_key: String,
    },
}

fn credentials_aad(connection_id: &str) -> Vec<u8> {
    format!("dpc/credentials/{connection_id}").into_bytes()
}

/// Seals the whole credentials value (one JSON blob) bound to its connection.
pub(crate) fn seal_credentials(
    cipher: &Cipher,
    connection_id: &str,
    c: &Credentials,
) -> Result<Sealed> {
    let blob = match c {
        Credentials::OAuth {
            access_token,
            refresh_token,
            expires_at,
        } => Blob::Oauth {
            access_token: access_token.expose_secret().to_string(),
            refresh_token: refresh_token
                .as_ref()
                .map(|r| r.expose_secret().to_string()),
            expires_at: expires_at.map(truncate_micros),
        },
        Credentials::ApiKey { api_key } => Blob::ApiKey {
            api_key: api_key.expose_secret().to_string(),
        },
    };
    let json = serde_json::to_vec(&blob)
        .map_err(|_| StoreError::Crypto("credentials (encoding)".into()))?;
    cipher.seal(&json, &credentials_aad(connection_id))
}

pub(crate) fn open_credentials(
    cipher: &Cipher,
    connection_id: &str,
    sealed: &Sealed,
) -> Result<Credentials> {
    let what = "credentials";
    let json = cipher.open(sealed, &credentials_aad(connection_id), what)?;
    let blob: Blob = serde_json::from_slice(&json)
        .map_err(|_| StoreError::Crypto(format!("{what} (bad content)")))?;
    Ok(match blob {
        Blob::Oauth {
            access_token,
            refresh_token,
            expires_at,
        } => Credentials::OAuth {
            access_token: SecretString::from(access_token),
            refresh_token: refresh_token.map(SecretString::from),
            expires_at,
        },
        Blob::ApiKey { api_key } => Credentials::ApiKey {
            api_key: SecretString::from(api_key),
        },
    })
}

/// Opens credentials sealed under any key of the ring and seals them again under the current key.
pub(crate) fn reseal_credentials(
    cipher: &Cipher,
    connection_id: &str,
    sealed: &Sealed,
) -> Result<Sealed> {
    let aad = credentials_aad(connection_id);
    let plain = cipher.open(sealed, &aad, "credentials")?;
    cipher.seal(&plain, &aad)
}

/// The same for a PKCE verifier.
pub(crate) fn reseal_pkce(cipher: &Cipher, state_hash: &str, sealed: &Sealed) -> Result<Sealed> {
    let aad = pkce_aad(state_hash);
    let plain = cipher.open(sealed, &aad, "PKCE verifier")?;
    cipher.seal(&plain, &aad)
}

fn pkce_aad(state_hash: &str) -> Vec<u8> {
    format!("dpc/oauth_state/{state_hash}/pkce_verifier").into_bytes()
}

pub(crate) fn seal_pkce(
    cipher: &Cipher,
    state_hash: &str,
    verifier: &SecretString,
) -> Result<Sealed> {
    cipher.seal(verifier.expose_secret().as_bytes(), &pkce_aad(state_hash))
}

pub(crate) fn open_pkce(
    cipher: &Cipher,
    state_hash: &str,
    sealed: &Sealed,
) -> Result<SecretString> {
    let what = "PKCE verifier";
    let b = cipher.open(sealed, &pkce_aad(state_hash), what)?;
    String::from_utf8(b)
        .map(SecretString::from)
        .map_err(|_| StoreError::Crypto(format!("{what} (bad content)")))
}

/// Per-connection async mutexes so the tasks of one process queue in memory before touching
/// the database. Entries are removed when nobody holds or waits for them.
#[derive(Default)]
pub(crate) struct LockMap {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

pub(crate) struct LockEntry<'a> {
    map: &'a LockMap,
    key: String,
    mutex: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl LockMap {
    pub(crate) fn entry(&self, key: &str) -> LockEntry<'_> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let mutex = m.entry(key.to_string()).or_default().clone();
        LockEntry {
            map: self,
            key: key.to_string(),
            mutex: Some(mutex),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

impl LockEntry<'_> {
    pub(crate) fn mutex(&self) -> &tokio::sync::Mutex<()> {
        self.mutex.as_deref().expect("present until drop")
    }
}

impl Drop for LockEntry<'_> {
    fn drop(&mut self) {
        let mut m = self.map.map.lock().unwrap_or_else(|p| p.into_inner());
        drop(self.mutex.take());
        if let Some(e) = m.get(&self.key) {
            // Only the map holds it: nobody is using or waiting on this lock.
            if Arc::strong_count(e) == 1 {
                m.remove(&self.key);
            }
        }
    }
}

/// Maps database errors; unique violations become `Conflict`, foreign key violations
/// `NotFound`. sqlx's error text names the statement problem, not bound values.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e {
        match d.kind() {
            sqlx::error::ErrorKind::UniqueViolation => return StoreError::Conflict,
            sqlx::error::ErrorKind::ForeignKeyViolation => return StoreError::NotFound,
            _ => {}
        }
    }
    StoreError::Database(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_matches_the_standard_vector() {
        // FIPS 180-2, "abc".
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ordered_ids_sort_by_creation_and_stay_unique() {
        let a = ordered_id("evt");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = ordered_id("evt");
        assert!(a < b, "{a} then {b}");
        assert_eq!(a.len(), "evt_".len() + 32);
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()));
        // The same millisecond: the random part keeps them apart.
        let many: std::collections::HashSet<String> =
            (0..10_000).map(|_| ordered_id("dlv")).collect();
        assert_eq!(many.len(), 10_000);
    }

    #[test]
    fn api_key_shape() {
        let (k, prefix, hash) = new_api_key();
        let k = k.expose_secret();
        assert!(k.starts_with("sk_") && k.len() == 46, "{}", k.len());
        assert!(k.starts_with(&prefix));
        assert_eq!(hash, sha256_hex(k));
        assert_eq!(hash.len(), 64);
    }

    #[tokio::test]
    async fn lock_map_cleans_up() {
        let m = LockMap::default();
        {
            let e = m.entry("a");
            let _g = e.mutex().lock().await;
            let e2 = m.entry("a");
            assert!(e2.mutex().try_lock().is_err());
            assert_eq!(m.len(), 1);
        }
        assert_eq!(m.len(), 0);
    }
}
