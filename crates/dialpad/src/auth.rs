//! Credentials: a static API key or a pluggable token provider.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::error::Error;

/// Supplies bearer tokens, e.g. OAuth access tokens that need refreshing.
///
/// The client calls [`access_token`](Self::access_token) before each request.
/// When Dialpad answers 401 it calls [`on_unauthorized`](Self::on_unauthorized)
/// once with the token that was rejected; if that returns a new token the
/// request is retried exactly once with it.
#[async_trait]
pub trait TokenProvider: Send + Sync {
    /// The token to send now.
    async fn access_token(&self) -> Result<SecretString, Error>;

    /// Called after a 401. Return `Some(new_token)` to retry once, `None` to
    /// give up with [`Error::Unauthorized`]. Passing the rejected token lets
    /// implementations avoid refreshing twice when concurrent requests fail
    /// with the same stale token.
    async fn on_unauthorized(
        &self,
        rejected: &SecretString,
    ) -> Result<Option<SecretString>, Error> {
        let _ = rejected;
        Ok(None)
    }
}

/// How the client authenticates.
#[derive(Clone)]
#[non_exhaustive]
pub enum Auth {
    /// A Dialpad API key, sent as `Authorization: Bearer <key>`.
    ApiKey(SecretString),
    /// Tokens from a provider (OAuth access tokens with refresh, etc.).
    Provider(Arc<dyn TokenProvider>),
}

impl Auth {
    /// Convenience for `Auth::ApiKey(SecretString::from(key))`.
    pub fn api_key(key: impl Into<String>) -> Self {
        Auth::ApiKey(SecretString::from(key.into()))
    }

    /// Convenience for `Auth::Provider(Arc::new(provider))`.
    pub fn provider(p: impl TokenProvider + 'static) -> Self {
        Auth::Provider(Arc::new(p))
    }

    pub(crate) async fn token(&self) -> Result<SecretString, Error> {
        match self {
            Auth::ApiKey(k) => Ok(k.clone()),
            Auth::Provider(p) => p.access_token().await,
        }
    }

    pub(crate) async fn refresh_after_401(
        &self,
        rejected: &SecretString,
    ) -> Result<Option<SecretString>, Error> {
        match self {
            // A static key that was rejected will be rejected again.
            Auth::ApiKey(_) => Ok(None),
            Auth::Provider(p) => p.on_unauthorized(rejected).await,
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::ApiKey(_) => f.write_str("ApiKey([REDACTED])"),
            Auth::Provider(_) => f.write_str("Provider(..)"),
        }
    }
}

impl From<SecretString> for Auth {
    fn from(k: SecretString) -> Self {
        Auth::ApiKey(k)
    }
}
