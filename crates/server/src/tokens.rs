//! Per-connection Dialpad credentials as a [`dialpad::TokenProvider`], with refresh that never
//! loses a token: proactive (shortly before expiry) and reactive (once, after a 401), both
//! single-flight. In this process a per-connection mutex makes concurrent callers wait for one
//! refresh; across processes the store's refresh lock does (a row/advisory lock on PostgreSQL),
//! and the closure run under it refreshes only if the stored token is still the stale one, so
//! whoever comes second finds the new token and keeps it. The rotated refresh token is committed
//! by the store before the new access token is handed out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialpad::oauth::RefreshTokenGrant;
use dialpad::{Auth, Client, TokenProvider};
use dpc_store::{
    ConnectionStatus, Credentials, LockedRefreshError, RefreshDecision, Store, StoredCredentials,
};
use secrecy::{ExposeSecret, SecretString};

/// Refresh this long before Dialpad's stated expiry.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Marker strings carried in [`dialpad::Error::Token`] so the HTTP layer can answer precisely.
pub const NOT_AUTHORIZED: &str = "CONNECTION::NOT_AUTHORIZED";
pub const REFRESH_FAILED: &str = "CONNECTION::REFRESH_FAILED";
pub const UPSTREAM_UNAVAILABLE: &str = "UPSTREAM::UNAVAILABLE";
pub const STORE_FAILED: &str = "STORE::FAILED";

/// The OAuth app (client id and secret) plus a credential-less client for the token endpoint.
#[derive(Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: SecretString,
    pub token_client: Client,
}

/// Why getting a token failed (kept apart from Dialpad's own errors).
#[derive(Debug, thiserror::Error)]
enum TokenFailure {
    #[error("{NOT_AUTHORIZED}")]
    NotAuthorized,
    #[error("{REFRESH_FAILED}")]
    RefreshFailed,
    #[error("{UPSTREAM_UNAVAILABLE}: {0}")]
    Upstream(String),
}

/// The token cached in memory for one connection.
#[derive(Clone)]
struct Cached {
    token: SecretString,
    expires_at: Option<DateTime<Utc>>,
    refreshable: bool,
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
                refreshable: refresh_token.is_some(),
            },
            Credentials::ApiKey { api_key } => Cached {
                token: api_key.clone(),
                expires_at: None,
                refreshable: false,
            },
        }
    }

    fn expiring(&self) -> bool {
        let margin = chrono::Duration::from_std(REFRESH_MARGIN).unwrap_or_default();
        self.refreshable && self.expires_at.is_some_and(|e| e - margin < Utc::now())
    }
}

/// One connection's token source.
pub struct ConnectionTokens {
    store: Arc<dyn Store>,
    oauth: OAuthApp,
    connection_id: String,
    connector_id: String,
    owner_id: String,
    cached: parking_lot::Mutex<Option<Cached>>,
    /// Single flight inside this process.
    refreshing: tokio::sync::Mutex<()>,
}

impl ConnectionTokens {
    pub fn new(
        store: Arc<dyn Store>,
        oauth: OAuthApp,
        connection_id: &str,
        connector_id: &str,
        owner_id: &str,
    ) -> Self {
        Self {
            store,
            oauth,
            connection_id: connection_id.to_owned(),
            connector_id: connector_id.to_owned(),
            owner_id: owner_id.to_owned(),
            cached: parking_lot::Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    async fn load(&self) -> Result<Cached, dialpad::Error> {
        if let Some(c) = self.cached.lock().clone() {
            return Ok(c);
        }
        let stored = self
            .store
            .get_credentials(&self.connection_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| dialpad::Error::Token(NOT_AUTHORIZED.into()))?;
        let c = Cached::from_stored(&stored);
        *self.cached.lock() = Some(c.clone());
        Ok(c)
    }

    /// Refreshes unless someone already replaced `stale` (in this process or another).
    async fn refresh(&self, stale: &SecretString) -> Result<SecretString, dialpad::Error> {
        let _flight = self.refreshing.lock().await;
        // Another task of this process may have refreshed while we waited.
        if let Some(c) = self.cached.lock().clone() {
            if c.token.expose_secret() != stale.expose_secret() && !c.expiring() {
                return Ok(c.token);
            }
        }
        let oauth = self.oauth.clone();
        let stale = stale.clone();
        let result = self
            .store
            .with_refresh_lock(
                &self.connection_id,
                Box::new(move |current| {
                    Box::pin(async move { decide(oauth, stale, current).await })
                }),
            )
            .await;
        match result {
            Ok(stored) => {
                let c = Cached::from_stored(&stored);
                *self.cached.lock() = Some(c.clone());
                Ok(c.token)
            }
            Err(LockedRefreshError::Refresh(e)) => match e.downcast::<TokenFailure>() {
                Ok(f) => {
                    if matches!(*f, TokenFailure::RefreshFailed) {
                        self.mark_refresh_failed().await;
                    }
                    Err(dialpad::Error::Token(f.to_string()))
                }
                Err(other) => Err(dialpad::Error::Token(format!("{STORE_FAILED}: {other}"))),
            },
            Err(LockedRefreshError::Store(e)) => Err(store_error(e)),
        }
    }

    async fn mark_refresh_failed(&self) {
        *self.cached.lock() = None;
        match self
            .store
            .get_connection(&self.connector_id, &self.owner_id)
            .await
        {
            Ok(Some(mut c)) if c.status != ConnectionStatus::RefreshFailed => {
                c.status = ConnectionStatus::RefreshFailed;
                if let Err(e) = self.store.update_connection(&c).await {
                    tracing::error!(error = %e, "could not record refreshFailed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not record refreshFailed"),
        }
        tracing::warn!(
            connector_id = %self.connector_id,
            owner_id = %self.owner_id,
            "Dialpad refused the refresh token; the connection needs a new authorization"
        );
    }
}

/// Runs under the refresh lock with the credentials as stored now.
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
    let Some(refresh_token) = refresh_token.clone() else {
        return Err(Box::new(TokenFailure::RefreshFailed));
    };
    let grant = RefreshTokenGrant {
        refresh_token: refresh_token.clone(),
        client_id: Some(oauth.client_id.clone()),
        client_secret: Some(oauth.client_secret.clone()),
    };
    match oauth.token_client.oauth().refresh(&grant).await {
        Ok(t) => Ok(RefreshDecision::Replace(Credentials::OAuth {
            access_token: t.access_token,
            // Dialpad rotates refresh tokens; keep the old one if it did not send a new one.
            refresh_token: t.refresh_token.or(Some(refresh_token)),
            expires_at: expires_at(t.expires_in),
        })),
        Err(e) => {
            // `invalid_grant`: the refresh token is revoked, spent or expired. Anything else (our
            // client credentials, an outage) is not the customer's to fix.
            let refused = matches!(&e, dialpad::Error::Api { status, body, .. }
                if status.as_u16() == 400 && body.contains("invalid_grant"));
            if refused {
                Err(Box::new(TokenFailure::RefreshFailed))
            } else {
                Err(Box::new(TokenFailure::Upstream(e.to_string())))
            }
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

fn store_error(e: dpc_store::StoreError) -> dialpad::Error {
    dialpad::Error::Token(format!("{STORE_FAILED}: {e}"))
}

#[async_trait]
impl TokenProvider for ConnectionTokens {
    async fn access_token(&self) -> Result<SecretString, dialpad::Error> {
        let c = self.load().await?;
        if c.expiring() {
            return self.refresh(&c.token).await;
        }
        Ok(c.token)
    }

    async fn on_unauthorized(
        &self,
        rejected: &SecretString,
    ) -> Result<Option<SecretString>, dialpad::Error> {
        let c = self.load().await?;
        if !c.refreshable {
            // API keys and tokens without a refresh token: nothing to try.
            if c.token.expose_secret() != rejected.expose_secret() {
                return Ok(Some(c.token));
            }
            return Ok(None);
        }
        self.refresh(rejected).await.map(Some)
    }
}

/// One Dialpad client per connection (each with its own rate limiter and token source), at most
/// `capacity` of them; the least recently created is dropped when full.
pub struct ClientCache {
    capacity: usize,
    map: parking_lot::Mutex<HashMap<String, (u64, Client)>>,
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
        make: impl FnOnce() -> Result<Client, E>,
    ) -> Result<Client, E> {
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
) -> Result<Client, dialpad::Error> {
    Client::builder()
        .base_url(base.clone())
        .http_client(http)
        .auth(Auth::Provider(Arc::new(tokens)))
        .build()
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

    #[test]
    fn cache_is_bounded() {
        let cache = ClientCache::new(2);
        let mk = || {
            Client::builder()
                .base_url(dialpad::BaseUrl::custom("http://127.0.0.1:9").unwrap())
                .build()
        };
        cache.get_or_insert("a", mk).unwrap();
        cache.get_or_insert("b", mk).unwrap();
        cache.get_or_insert("c", mk).unwrap();
        assert_eq!(cache.len(), 2);
        cache.invalidate("c");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn expiry_margin() {
        let soon = Cached {
            token: SecretString::from("t"),
            expires_at: Some(Utc::now() + chrono::Duration::seconds(30)),
            refreshable: true,
        };
        assert!(soon.expiring());
        let later = Cached {
            expires_at: Some(Utc::now() + chrono::Duration::seconds(600)),
            ..soon.clone()
        };
        assert!(!later.expiring());
        let api_key = Cached {
            refreshable: false,
            ..soon
        };
        assert!(!api_key.expiring());
    }
}
