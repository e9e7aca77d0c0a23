//! Simulator configuration: what a test or the `sim` subcommand can choose.

use std::time::Duration;

/// An OAuth client the simulator's authorization server accepts.
#[derive(Clone)]
pub struct OAuthClientConfig {
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Clone)]
pub struct SimConfig {
    /// Seed of the deterministic data set; the same seed always gives the same company.
    pub seed: u64,
    /// Company API keys accepted as `Authorization: Bearer` or `?apikey=`.
    /// They carry every scope, as a Dialpad company key does.
    pub api_keys: Vec<String>,
    pub oauth_clients: Vec<OAuthClientConfig>,
    /// Approve the consent page without a click (headless tests).
    pub auto_consent: bool,
    /// Lifetime of OAuth access tokens.
    pub access_token_ttl: Duration,
    /// Dialpad's rate limits (added by the realism work; off keeps the simulator out of the way
    /// of throughput benchmarks).
    pub rate_limit: bool,
    /// Number of finished calls in the seeded call history (benchmarks ask for thousands).
    pub call_history: usize,
    /// When set, `/_sim/` control routes require `Authorization: Bearer <admin_key>`.
    pub admin_key: Option<String>,
    /// Lifetime of the token in a `websocket_url` (Dialpad: 1 hour). The simulator closes a
    /// connection when its URL's token expires. Tokens carry whole seconds (`exp`, as
    /// Dialpad's do), so a URL lives this long rounded up to the next second.
    pub websocket_url_ttl: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            api_keys: vec!["sim-api-key".to_owned()],
            oauth_clients: vec![OAuthClientConfig {
                client_id: "sim-client".to_owned(),
                client_secret: "sim-client-secret".to_owned(),
            }],
            auto_consent: false,
            access_token_ttl: Duration::from_secs(3600),
            rate_limit: false,
            call_history: 400,
            admin_key: None,
            websocket_url_ttl: Duration::from_secs(3600),
        }
    }
}

// Debug by hand: API keys, client secrets and the admin key never show in logs or panics.
impl std::fmt::Debug for OAuthClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClientConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("seed", &self.seed)
            .field(
                "api_keys",
                &format_args!("[{} redacted]", self.api_keys.len()),
            )
            .field("oauth_clients", &self.oauth_clients)
            .field("auto_consent", &self.auto_consent)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("rate_limit", &self.rate_limit)
            .field("call_history", &self.call_history)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "[REDACTED]"))
            .field("websocket_url_ttl", &self.websocket_url_ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_keys_and_secrets() {
        let c = SimConfig {
            admin_key: Some("admin-s3cret".to_owned()),
            ..Default::default()
        };
        let shown = format!("{c:?}");
        for secret in ["sim-api-key", "sim-client-secret", "admin-s3cret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("sim-client"), "{shown}");
    }
}
