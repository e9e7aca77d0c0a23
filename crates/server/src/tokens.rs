//! Per-connection Dialpad credentials as a [`dialpad::TokenProvider`], with refresh that never
//! loses a token: proactive (shortly before expiry; the margin scales with the token's
//! lifetime) and reactive (once, after a 401), both single-flight. In this process a
//! per-connection mutex makes concurrent callers wait for one refresh; across processes the
//! store's refresh lease does, and the closure run under it refreshes only if the stored token
//! is still the stale one, so whoever comes second finds the new token and keeps it. No
//! transaction or pooled connection is held while Dialpad's token endpoint is called. A failed
//! refresh is remembered (in memory and against the credentials version in the store), so
//! requests queued behind it fail at once instead of resending a dead refresh token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialpad::oauth::RefreshTokenGrant;
use dialpad::{Auth, Client, TokenProvider};
use dpc_store::{
    Credentials, LockedRefreshError, RefreshDecision, RefreshFailureKind, Store, StoreError,
    StoredCredentials, REFRESH_LEASE_TTL,
};
use secrecy::{ExposeSecret, SecretString};

/// The longest refresh margin: refresh at most this long before Dialpad's stated expiry.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// A transient refresh failure (Dialpad's token endpoint down or slow) is reported to whoever
/// asks within this long, without calling Dialpad again.
pub const UNAVAILABLE_MEMORY: Duration = Duration::from_secs(5);

/// The longest the token call made under the refresh lease may take, retries of a 429
/// included (the client on its own retries for up to 4 × 30 s). It must end well before the
/// lease ([`REFRESH_LEASE_TTL`]) expires: otherwise another instance takes the expired lease and
/// refreshes, and this one then sends the refresh token that was already used. Half the lease
/// leaves room for the statements around the call and for clock skew between instances (each
/// compares the lease's expiry with its own clock).
pub const REFRESH_CALL_DEADLINE: Duration = Duration::from_secs(30);
const _: () = assert!(REFRESH_CALL_DEADLINE.as_secs() * 2 <= REFRESH_LEASE_TTL.as_secs());

/// The OAuth app (client id and secret) plus a credential-less client for the token endpoint.
#[derive(Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: SecretString,
    pub token_client: Client,
}

/// Why a connection's token could not be had; travels inside [`dialpad::Error::Token`] so the
/// HTTP layer can answer precisely (see `proxy::upstream_error`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenFailure {
    /// No credentials stored.
    #[error("the connection has no Dialpad credentials")]
    NotAuthorized,
    /// Dialpad refused the refresh token (`invalid_grant`), or the token expired and Dialpad
    /// never issued a refresh token: only a new authorization helps.
    #[error("Dialpad refused the refresh token")]
    RefreshFailed { no_refresh_token: bool },
    /// The token endpoint could not be reached or failed.
    #[error("Dialpad's token endpoint is unavailable: {0}")]
    Unavailable(String),
    /// The connection no longer exists (deleted on another instance while this one still had
    /// its client: the refresh lease's row can no longer refer to it).
    #[error("the connection was deleted")]
    ConnectionGone,
    /// Our own store failed.
    #[error("store: {0}")]
    Store(String),
}

impl TokenFailure {
    fn into_error(self) -> dialpad::Error {
        dialpad::Error::Token(Box::new(self))
    }
}

/// The token held in memory for one connection.
#[derive(Clone)]
struct Cached {
    token: SecretString,
    expires_at: Option<DateTime<Utc>>,
    /// When the credentials were written (≈ issued), to size the refresh margin.
    issued_at: DateTime<Utc>,
    refreshable: bool,
    /// An OAuth token (an API key never expires and is never refreshed).
    oauth: bool,
    version: i64,
}

impl Cached {
    fn from_stored(s: &StoredCredentials) -> Self {
        match &s.credentials {
            Credentials::OAuth {
                access_token,
                refresh_token,
                expires_at,
            } => Cached {
                token: access_token.clone(),
                expires_at: *expires_at,
                issued_at: s.updated_at,
                refreshable: refresh_token.is_some(),
                oauth: true,
                version: s.version,
            },
            Credentials::ApiKey { api_key } => Cached {
                token: api_key.clone(),
                expires_at: None,
                issued_at: s.updated_at,
                refreshable: false,
                oauth: false,
                version: s.version,
            },
        }
    }

    /// A quarter of the token's lifetime, at most [`REFRESH_MARGIN`]: a one-hour token is
    /// refreshed a minute early, a 60-second token 15 s early (a fixed minute would refresh it
    /// on every request).
    fn margin(&self) -> chrono::Duration {
        let max = chrono::Duration::from_std(REFRESH_MARGIN).unwrap_or_default();
        match self.expires_at {
            Some(e) => ((e - self.issued_at) / 4).clamp(chrono::Duration::zero(), max),
            None => max,
        }
    }

    /// Due for a proactive refresh.
    fn expiring(&self) -> bool {
        self.refreshable
            && self
                .expires_at
                .is_some_and(|e| e - self.margin() < Utc::now())
    }

    fn expired(&self) -> bool {
        self.expires_at.is_some_and(|e| e <= Utc::now())
    }
}

/// The last refresh failure seen in this process, for the token it was about.
struct Remembered {
    version: i64,
    failure: TokenFailure,
    at: std::time::Instant,
}

/// One connection's token source.
pub struct ConnectionTokens {
    store: Arc<dyn Store>,
    oauth: OAuthApp,
    connection_id: String,
    cached: parking_lot::Mutex<Option<Cached>>,
    failed: parking_lot::Mutex<Option<Remembered>>,
    /// The token a 401 last made this process refresh to, and when: Dialpad refusing that
    /// very token within [`REFRESH_AFTER_401_EVERY`] is not cured by another refresh, so it is
    /// given up on at once (else every request refreshed once more). Requests still holding
    /// the older token go through the single-flight refresh as before.
    refreshed_for_401: parking_lot::Mutex<Option<(SecretString, std::time::Instant)>>,
    /// Single flight inside this process.
    refreshing: tokio::sync::Mutex<()>,
}

/// At most one refresh a minute for a connection whose fresh tokens Dialpad still refuses.
const REFRESH_AFTER_401_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl ConnectionTokens {
    pub fn new(store: Arc<dyn Store>, oauth: OAuthApp, connection_id: &str) -> Self {
        Self {
            store,
            oauth,
            connection_id: connection_id.to_owned(),
            cached: parking_lot::Mutex::new(None),
            failed: parking_lot::Mutex::new(None),
            refreshed_for_401: parking_lot::Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Forgets the token held in memory if the stored credentials are newer than it (another
    /// instance re-authorized or refreshed): the next request reloads them.
    pub fn observe_version(&self, stored_version: Option<i64>) {
        let mut cached = self.cached.lock();
        let stale = match (cached.as_ref(), stored_version) {
            (Some(c), Some(v)) => v > c.version,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if stale {
            *cached = None;
        }
    }

    /// The version of the credentials held in memory (None: nothing loaded yet).
    pub fn held_version(&self) -> Option<i64> {
        self.cached.lock().as_ref().map(|c| c.version)
    }

    async fn load(&self) -> Result<Cached, dialpad::Error> {
        if let Some(c) = self.cached.lock().clone() {
            return Ok(c);
        }
        let stored = self
            .store
            .get_credentials(&self.connection_id)
            .await
            .map_err(|e| TokenFailure::Store(e.to_string()).into_error())?
            .ok_or_else(|| TokenFailure::NotAuthorized.into_error())?;
        let c = Cached::from_stored(&stored);
        *self.cached.lock() = Some(c.clone());
        Ok(c)
    }

    /// A failure already seen for credentials at `version`, still worth repeating.
    fn remembered(&self, version: i64) -> Option<TokenFailure> {
        let failed = self.failed.lock();
        let r = failed.as_ref().filter(|r| r.version == version)?;
        match r.failure {
            TokenFailure::Unavailable(_) if r.at.elapsed() > UNAVAILABLE_MEMORY => None,
            _ => Some(r.failure.clone()),
        }
    }

    /// Refreshes unless someone already replaced `stale` (in this process or another).
    async fn refresh(&self, stale: &Cached) -> Result<SecretString, TokenFailure> {
        let _flight = self.refreshing.lock().await;
        // Another task of this process may have refreshed, or failed to, while we waited.
        if let Some(c) = self.cached.lock().clone() {
            if c.version != stale.version && !c.expiring() {
                return Ok(c.token);
            }
        }
        if let Some(f) = self.remembered(stale.version) {
            return Err(f);
        }
        let oauth = self.oauth.clone();
        let stale_token = stale.token.clone();
        let store = self.store.clone();
        let connection_id = self.connection_id.clone();
        // In its own task: if the request that started it is cancelled (client gone, request
        // timeout), the refresh still finishes and commits the rotated refresh token, and the
        // lease is released instead of blocking everyone until it expires.
        let result = tokio::spawn(async move {
            store
                .with_refresh_lock(
                    &connection_id,
                    Box::new(move |current| {
                        Box::pin(async move { decide(oauth, stale_token, current).await })
                    }),
                )
                .await
        })
        .await
        .unwrap_or_else(|e| {
            Err(LockedRefreshError::Refresh(
                format!("the refresh task failed: {e}").into(),
            ))
        });
        let failure = match result {
            Ok(stored) => {
                let c = Cached::from_stored(&stored);
                *self.cached.lock() = Some(c.clone());
                return Ok(c.token);
            }
            Err(LockedRefreshError::Failed(RefreshFailureKind::Refused)) => {
                TokenFailure::RefreshFailed {
                    no_refresh_token: !stale.refreshable,
                }
            }
            Err(LockedRefreshError::Failed(RefreshFailureKind::Unavailable)) => {
                TokenFailure::Unavailable("the last refresh attempt failed".into())
            }
            Err(LockedRefreshError::Refresh(e)) => match e.downcast::<TokenFailure>() {
                Ok(f) => *f,
                Err(other) => TokenFailure::Store(other.to_string()),
            },
            Err(LockedRefreshError::Store(StoreError::NotFound)) => TokenFailure::ConnectionGone,
            Err(LockedRefreshError::Store(e)) => TokenFailure::Store(e.to_string()),
        };
        if let TokenFailure::RefreshFailed { no_refresh_token } = &failure {
            self.mark_refresh_failed(stale.version, *no_refresh_token)
                .await;
        }
        *self.failed.lock() = Some(Remembered {
            version: stale.version,
            failure: failure.clone(),
            at: std::time::Instant::now(),
        });
        Err(failure)
    }

    async fn mark_refresh_failed(&self, version: i64, no_refresh_token: bool) {
        match self
            .store
            .mark_refresh_failed(&self.connection_id, version)
            .await
        {
            Ok(true) => tracing::warn!(
                connection_id = %self.connection_id,
                no_refresh_token,
                "the connection's Dialpad token can no longer be refreshed; it needs a new authorization"
            ),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "could not record refreshFailed"),
        }
    }
}

/// Runs under the refresh lease with the credentials as stored now.
async fn decide(
    oauth: OAuthApp,
    stale: SecretString,
    current: Option<StoredCredentials>,
) -> Result<RefreshDecision, dpc_store::RefreshError> {
    let Some(current) = current else {
        return Err(Box::new(TokenFailure::NotAuthorized));
    };
    let Credentials::OAuth {
        access_token,
        refresh_token,
        ..
    } = &current.credentials
    else {
        // API keys are never refreshed.
        return Ok(RefreshDecision::Keep);
    };
    let cached = Cached::from_stored(&current);
    if access_token.expose_secret() != stale.expose_secret() && !cached.expiring() {
        // Someone else refreshed already: use theirs.
        return Ok(RefreshDecision::Keep);
    }
    // Someone before us failed with these very credentials: do not resend them.
    if let Some(f) = current.refresh_failure {
        let recent = (Utc::now() - f.at)
            .to_std()
            .is_ok_and(|age| age < UNAVAILABLE_MEMORY);
        if f.kind == RefreshFailureKind::Refused || recent {
            return Ok(RefreshDecision::Fail(f.kind));
        }
    }
    let Some(refresh_token) = refresh_token.clone() else {
        return Ok(RefreshDecision::Fail(RefreshFailureKind::Refused));
    };
    let grant = RefreshTokenGrant {
        refresh_token: refresh_token.clone(),
        client_id: Some(oauth.client_id.clone()),
        client_secret: Some(oauth.client_secret.clone()),
    };
    let api = oauth.token_client.oauth();
    match tokio::time::timeout(REFRESH_CALL_DEADLINE, api.refresh(&grant)).await {
        Ok(Ok(t)) => Ok(RefreshDecision::Replace(Credentials::OAuth {
            access_token: t.access_token,
            // Dialpad rotates refresh tokens; keep the old one if it did not send a new one.
            refresh_token: t.refresh_token.or(Some(refresh_token)),
            expires_at: expires_at(t.expires_in),
        })),
        // `invalid_grant`: the refresh token is revoked, spent or expired. Anything else (our
        // client credentials, an outage) is not the customer's to fix.
        Ok(Err(e)) if e.is_invalid_grant() => {
            Ok(RefreshDecision::Fail(RefreshFailureKind::Refused))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "refreshing a Dialpad token failed");
            Ok(RefreshDecision::Fail(RefreshFailureKind::Unavailable))
        }
        // Given up while the lease is still ours (see REFRESH_CALL_DEADLINE). Should Dialpad
        // have rotated the refresh token meanwhile, the next refresh is refused and the
        // connection asks for a new authorization; it never races another holder.
        Err(_) => {
            tracing::warn!(
                deadline_secs = REFRESH_CALL_DEADLINE.as_secs(),
                "refreshing a Dialpad token took too long; given up before the refresh lease expires"
            );
            Ok(RefreshDecision::Fail(RefreshFailureKind::Unavailable))
        }
    }
}

/// Longest access-token lifetime we believe: `expires_in` comes from Dialpad's token response,
/// and an absurd value must neither overflow the date arithmetic nor make a token live forever.
const MAX_TOKEN_LIFETIME_SECS: i64 = 366 * 24 * 3600;

/// `now + expires_in`, with `expires_in` clamped to a year.
pub fn expires_at(expires_in: Option<i64>) -> Option<DateTime<Utc>> {
    expires_in.filter(|s| *s > 0).and_then(|s| {
        let secs = s.min(MAX_TOKEN_LIFETIME_SECS);
        Utc::now().checked_add_signed(chrono::Duration::try_seconds(secs)?)
    })
}

#[async_trait]
impl TokenProvider for ConnectionTokens {
    async fn access_token(&self) -> Result<SecretString, dialpad::Error> {
        let c = self.load().await?;
        if c.expiring() {
            return match self.refresh(&c).await {
                Ok(t) => Ok(t),
                // Dialpad's token endpoint is down but the token still works for a while: use it.
                Err(TokenFailure::Unavailable(_)) if !c.expired() => Ok(c.token),
                Err(f) => Err(f.into_error()),
            };
        }
        if c.oauth && !c.refreshable && c.expired() {
            // Dialpad issued no refresh token (offline_access not granted): say so instead of
            // sending a dead token and passing Dialpad's 401 on.
            self.mark_refresh_failed(c.version, true).await;
            return Err(TokenFailure::RefreshFailed {
                no_refresh_token: true,
            }
            .into_error());
        }
        Ok(c.token)
    }

    async fn on_unauthorized(
        &self,
        rejected: &SecretString,
    ) -> Result<Option<SecretString>, dialpad::Error> {
        let c = self.load().await?;
        if c.token.expose_secret() != rejected.expose_secret() {
            // Already replaced (by a refresh here, or reloaded after another instance's).
            return Ok(Some(c.token));
        }
        if !c.refreshable {
            if c.oauth {
                self.mark_refresh_failed(c.version, true).await;
                return Err(TokenFailure::RefreshFailed {
                    no_refresh_token: true,
                }
                .into_error());
            }
            // An API key Dialpad refuses: nothing to try.
            return Ok(None);
        }
        let just_issued = self
            .refreshed_for_401
            .lock()
            .as_ref()
            .is_some_and(|(t, at)| {
                t.expose_secret() == rejected.expose_secret()
                    && at.elapsed() < REFRESH_AFTER_401_EVERY
            });
        if just_issued {
            // Refused again soon after a refresh made for a 401: the request fails with
            // Dialpad's 401.
            return Ok(None);
        }
        let fresh = self.refresh(&c).await.map_err(TokenFailure::into_error)?;
        *self.refreshed_for_401.lock() = Some((fresh.clone(), std::time::Instant::now()));
        Ok(Some(fresh))
    }
}

/// A connection's client and its token source.
#[derive(Clone)]
pub struct ConnectionClient {
    pub client: Client,
    pub tokens: Arc<ConnectionTokens>,
    /// Calls seen recently on this connection (Dialpad allows 10 single-call reads a minute).
    pub calls: Arc<dpc_core::resources::CallCache>,
}

/// One Dialpad client per connection (each with its own rate limiter and token source), at most
/// `capacity` of them; the least recently created is dropped when full.
pub struct ClientCache {
    capacity: usize,
    map: parking_lot::Mutex<HashMap<String, (u64, ConnectionClient)>>,
    counter: std::sync::atomic::AtomicU64,
}

impl ClientCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            map: parking_lot::Mutex::new(HashMap::new()),
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn get_or_insert<E>(
        &self,
        connection_id: &str,
        make: impl FnOnce() -> Result<ConnectionClient, E>,
    ) -> Result<ConnectionClient, E> {
        let mut map = self.map.lock();
        if let Some((_, c)) = map.get(connection_id) {
            return Ok(c.clone());
        }
        if map.len() >= self.capacity {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (n, _))| *n)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let client = make()?;
        map.insert(connection_id.to_owned(), (n, client.clone()));
        Ok(client)
    }

    /// Forget a connection's client (new credentials, deleted connection).
    pub fn invalidate(&self, connection_id: &str) {
        self.map.lock().remove(connection_id);
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds the Dialpad client for a connection.
pub fn connection_client(
    base: &url::Url,
    http: reqwest::Client,
    tokens: ConnectionTokens,
) -> Result<ConnectionClient, dialpad::Error> {
    let tokens = Arc::new(tokens);
    let client = Client::builder()
        .base_url(base.clone())
        .http_client(http)
        .auth(Auth::Provider(tokens.clone()))
        .observer(crate::metrics::dialpad_observer())
        .build()?;
    Ok(ConnectionClient {
        client,
        tokens,
        calls: Arc::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_expires_in_neither_panics_nor_lives_forever() {
        for s in [i64::MAX, i64::MAX / 1000, 10_i64.pow(15)] {
            let at = expires_at(Some(s)).expect("clamped, not dropped");
            assert!(at <= Utc::now() + chrono::Duration::seconds(MAX_TOKEN_LIFETIME_SECS + 5));
        }
        assert!(expires_at(Some(0)).is_none());
        assert!(expires_at(Some(-5)).is_none());
        let hour = expires_at(Some(3600)).unwrap() - Utc::now();
        assert!((3590..=3600).contains(&hour.num_seconds()));
    }

    #[tokio::test]
    async fn cache_is_bounded() {
        let store = dpc_store::connect(
            "sqlite::memory:",
            dpc_store::Cipher::from_base64(&dpc_store::Cipher::generate_key_base64(), &[]).unwrap(),
        )
        .await
        .unwrap();
        let cache = ClientCache::new(2);
        let mk = || -> Result<ConnectionClient, dialpad::Error> {
            let store = store.clone();
            let oauth = OAuthApp {
                client_id: String::new(),
                client_secret: SecretString::from(String::new()),
                token_client: Client::builder()
                    .base_url(dialpad::BaseUrl::custom("http://127.0.0.1:9").unwrap())
                    .build()?,
            };
            connection_client(
                &url::Url::parse("http://127.0.0.1:9").unwrap(),
                reqwest::Client::new(),
                ConnectionTokens::new(store, oauth, "c"),
            )
        };
        cache.get_or_insert("a", mk).unwrap();
        cache.get_or_insert("b", mk).unwrap();
        cache.get_or_insert("c", mk).unwrap();
        assert_eq!(cache.len(), 2);
        cache.invalidate("c");
        assert_eq!(cache.len(), 1);
    }

    fn cached(issued_secs_ago: i64, expires_in_secs: i64) -> Cached {
        Cached {
            token: SecretString::from("t"),
            issued_at: Utc::now() - chrono::Duration::seconds(issued_secs_ago),
            expires_at: Some(Utc::now() + chrono::Duration::seconds(expires_in_secs)),
            refreshable: true,
            oauth: true,
            version: 1,
        }
    }

    #[test]
    fn expiry_margin_scales_with_the_lifetime() {
        // A one-hour token: refreshed a minute before expiry.
        assert!(cached(3600 - 30, 30).expiring());
        assert!(!cached(3000, 600).expiring());
        // A 60-second token: a quarter of its life (15 s), not a whole minute, so it is not
        // refreshed on every request.
        assert!(!cached(1, 59).expiring());
        assert!(!cached(40, 20).expiring());
        assert!(cached(50, 10).expiring());
        let api_key = Cached {
            refreshable: false,
            ..cached(3590, 10)
        };
        assert!(!api_key.expiring());
    }
}
