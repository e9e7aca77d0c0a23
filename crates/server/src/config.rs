//! Configuration: built-in defaults, then an optional TOML file, then `DPC_…` environment
//! variables (each layer overrides the one before). A missing or malformed setting stops
//! start-up with a message naming it.
//!
//! Why `toml` plus hand-read environment variables rather than a layering framework: there are
//! a dozen settings, and reading them by hand lets every error name the exact variable or file
//! key (`DPC_ENCRYPTION_KEY must be …`) without extra dependencies.
//!
//! The TOML file uses the variable names without the `DPC_` prefix, in lower case:
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! public_url = "https://connector.example.com"
//! database_url = "postgres://dpc@db/dpc"
//! encryption_key = "…base64 of 32 bytes…"
//! dialpad_client_id = "…"
//! dialpad_client_secret = "…"
//! dialpad_env = "production"          # or "sandbox"; or instead:
//! # dialpad_base_url = "http://127.0.0.1:8089"
//! # Where the browser may be sent after authorization (default: the public URL's origin only);
//! # env: DPC_ALLOWED_REDIRECT_ORIGINS, comma-separated.
//! allowed_redirect_origins = ["https://app.example.com"]
//! # Keys that sealed stored secrets before a rotation (env: DPC_ENCRYPTION_OLD_KEYS,
//! # comma-separated); `dialpad-connector rotate-key` re-seals everything under the current key.
//! encryption_old_keys = []
//! cache_ttl_ms = 2000
//! header_read_timeout_ms = 10000
//! body_read_timeout_ms = 30000
//! request_timeout_ms = 60000
//! max_connections = 1024
//! allowed_origins = ["https://app.example.com"]   # DPC_ALLOWED_ORIGINS: comma-separated
//! # `GET /metrics` answers only `Authorization: Bearer <this>` (env: DPC_METRICS_TOKEN);
//! # unset, it answers anyone (keep it on a loopback or private listener then).
//! metrics_token = "…16 to 512 visible ASCII characters…"
//!
//! # Custom models (env: DPC_CUSTOM_MODELS, a JSON list of the same objects): Dialpad
//! # collections served by /v1/resources/{name} beside the unified models.
//! [[custom_models]]
//! name = "dialpadChannel"
//! description = "Dialpad channels"
//! list = "/api/v2/channels"
//! retrieve = "/api/v2/channels/{id}"
//! create = "/api/v2/channels"
//! delete = "/api/v2/channels/{id}"
//! fields = { name = "name", description = "description", privacy = "privacy_type" }
//!
//! [[custom_models]]
//! name = "dialpadCallLabel"
//! description = "The company's call labels"
//! list = "/api/v2/calllabels"
//! items = "labels"          # where Dialpad's answer keeps the records (strings: {value})
//! id_field = "value"
//! fields = { name = "value" }
//! ```
//!
//! Connection limits (slow or idle clients must not hold the server's sockets for minutes):
//!
//! - `DPC_HEADER_READ_TIMEOUT_MS` (default 10000, 100‥3600000): a client must send a request's
//!   whole line and headers within this time, or the connection is closed. The clock also runs
//!   while a keep-alive connection waits for its next request, so an idle keep-alive connection
//!   is closed after this long (hyper has one timer for both).
//! - `DPC_BODY_READ_TIMEOUT_MS` (default 30000, 100‥3600000): the longest pause while a request
//!   body arrives; longer → 408 `REQUEST::TIMEOUT`.
//! - `DPC_REQUEST_TIMEOUT_MS` (default 60000, 100‥3600000): the longest time from a request's
//!   headers to our response's headers (reading the body and, on the proxy, waiting for
//!   Dialpad included); longer → 504 `SERVER::TIMEOUT`. A proxied response body that is already
//!   streaming is not cut.
//! - `DPC_MAX_CONNECTIONS` (default 1024, 1‥1000000): connections served at once; further ones
//!   wait in the listen backlog until one closes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://dialpad-connector.db";

/// Why the configuration could not be loaded; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where Dialpad and browsers reach this server (no trailing slash); the OAuth redirect URI
    /// is `{public_url}/oauth/callback`.
    pub public_url: Url,
    /// May carry a database password.
    pub database_url: SecretString,
    /// Base64 of 32 bytes. Required by `serve`.
    pub encryption_key: Option<SecretString>,
    pub dialpad_client_id: Option<String>,
    pub dialpad_client_secret: Option<SecretString>,
    /// Dialpad's root (production, sandbox or e.g. the simulator).
    pub dialpad_base_url: Url,
    /// Older encryption keys (base64), accepted for opening values sealed before a rotation.
    pub encryption_old_keys: Vec<SecretString>,
    /// Origins (`scheme://host[:port]`) the browser may be sent to after authorization
    /// (`redirectUrl`). Default: the public URL's origin only.
    pub allowed_redirect_origins: Vec<String>,
    /// How long verified API keys and loaded connections are reused from memory
    /// (`DPC_CACHE_TTL_MS`, default 2000; 0 turns the cache off). Writes on this instance are
    /// seen at once; writes on another instance sharing the database within this time.
    pub cache_ttl: Duration,
    /// `DPC_HEADER_READ_TIMEOUT_MS`: time to receive a request's line and headers (also how long
    /// an idle keep-alive connection is kept).
    pub header_read_timeout: Duration,
    /// `DPC_BODY_READ_TIMEOUT_MS`: the longest pause while a request body arrives.
    pub body_read_timeout: Duration,
    /// `DPC_REQUEST_TIMEOUT_MS`: request headers received → response headers sent.
    pub request_timeout: Duration,
    /// `DPC_MAX_CONNECTIONS`: connections served at once.
    pub max_connections: usize,
    /// Web origins (`scheme://host[:port]`, as browsers send them in `Origin`) whose pages may
    /// call the session-token routes (`/v1/s/…`) from the browser, and which the OAuth result
    /// page posts its outcome to when it runs in a popup. Empty (the default): no CORS at all.
    pub allowed_origins: Vec<String>,
    /// Custom models (`[[custom_models]]`, or `DPC_CUSTOM_MODELS` as a JSON list), served by the
    /// resources routes beside the five unified models.
    pub custom_models: Vec<dpc_core::custom::CustomModel>,
    /// Event delivery (`[webhooks]`, `DPC_WEBHOOKS_*`).
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// `DPC_METRICS_TOKEN`: the bearer token `GET /metrics` asks for; `None` (the default):
    /// `/metrics` answers without one.
    pub metrics_token: Option<SecretString>,
    /// How Dialpad's events reach this server (`[events] intake`, `DPC_EVENTS_INTAKE`):
    /// a webhook Dialpad POSTs to (the default), or a websocket this server connects to.
    pub events_intake: crate::intake::subscriptions::IntakeMode,
    /// How often every connection's Dialpad subscriptions are checked and recreated when gone
    /// (`[events] repair_interval_ms`, `DPC_EVENTS_REPAIR_INTERVAL_MS`, default 300000).
    pub events_repair_interval: Duration,
    /// How often users and workspaces (which Dialpad sends no events for) are listed and
    /// compared with the last snapshot, per connection unless the connection sets its own
    /// (`[events] poll_interval_ms`, `DPC_EVENTS_POLL_INTERVAL_MS`, default 300000).
    pub events_poll_interval: Duration,
}

impl Config {
    /// The custom model named `name`, if one is configured.
    pub fn custom_model(&self, name: &str) -> Option<&dpc_core::custom::CustomModel> {
        self.custom_models.iter().find(|m| m.name == name)
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url.as_str())
            .field("database_url", &"[REDACTED]")
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "[REDACTED]"),
            )
            .field("dialpad_client_id", &self.dialpad_client_id)
            .field(
                "dialpad_client_secret",
                &self.dialpad_client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("dialpad_base_url", &self.dialpad_base_url.as_str())
            .field("cache_ttl", &self.cache_ttl)
            .field("encryption_old_keys", &self.encryption_old_keys.len())
            .field("allowed_redirect_origins", &self.allowed_redirect_origins)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_connections", &self.max_connections)
            .field("allowed_origins", &self.allowed_origins)
            .field("custom_models", &self.custom_models.len())
            .field("webhooks", &self.webhooks)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("events_intake", &self.events_intake)
            .field("events_repair_interval", &self.events_repair_interval)
            .field("events_poll_interval", &self.events_poll_interval)
            .finish()
    }
}

/// Verified keys and connections are reused for this long by default.
const DEFAULT_CACHE_TTL_MS: u64 = 2000;

/// Long enough for a client on a slow mobile link to send its headers, short enough that a
/// slowloris client holds a connection slot for seconds, not minutes.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// A pause this long inside a body (at most 1 MiB) means the client is gone or stalling.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// Above the Dialpad client's own retry and pacing waits for ordinary calls.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 60_000;
/// Plenty for an instance behind a load balancer (which reuses few connections). Each
/// connection, and each proxied call's connection to Dialpad, takes a file descriptor, so the
/// process's file limit (`ulimit -n`) should be well above it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Bounds of the three timeouts: under 100 ms real clients fail; over an hour is no timeout.
const TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=3_600_000;
const MAX_CONNECTIONS_RANGE: std::ops::RangeInclusive<usize> = 1..=1_000_000;
/// Length of `DPC_METRICS_TOKEN`: long enough not to be guessed, short enough for a header.
const METRICS_TOKEN_LEN: std::ops::RangeInclusive<usize> = 16..=512;

/// The file layer: every key optional, unknown keys refused (typos must not pass silently).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayer {
    listen: Option<String>,
    public_url: Option<String>,
    database_url: Option<String>,
    encryption_key: Option<String>,
    dialpad_client_id: Option<String>,
    dialpad_client_secret: Option<String>,
    dialpad_env: Option<String>,
    dialpad_base_url: Option<String>,
    cache_ttl_ms: Option<u64>,
    allowed_redirect_origins: Option<Vec<String>>,
    encryption_old_keys: Option<Vec<String>>,
    header_read_timeout_ms: Option<u64>,
    body_read_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    max_connections: Option<u64>,
    allowed_origins: Option<Vec<String>>,
    custom_models: Option<Vec<dpc_core::custom::CustomModel>>,
    metrics_token: Option<String>,
    webhooks: Option<WebhooksLayer>,
    events: Option<EventsLayer>,
}

/// `[events]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsLayer {
    intake: Option<String>,
    repair_interval_ms: Option<u64>,
    poll_interval_ms: Option<u64>,
}

/// `[webhooks]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhooksLayer {
    allow_private_urls: Option<bool>,
    retry_schedule_ms: Option<Vec<u64>>,
    disable_after_ms: Option<u64>,
    timeout_ms: Option<u64>,
    max_in_flight: Option<u64>,
    per_endpoint: Option<u64>,
    max_endpoints: Option<u64>,
    retention_days: Option<u64>,
}

impl Config {
    /// Defaults → `file` (if given) → the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(file, |k| std::env::var(k).ok())
    }

    /// Same as [`load`](Self::load) with an injectable environment (for tests).
    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::from_layers(file, env, |_| None)
    }

    /// As [`from_sources`](Self::from_sources), with `defaults` (keyed by variable name) between
    /// the built-in defaults and the file: a command's own defaults (the `demo`'s database, key
    /// and public URL) that the file and the environment may still override.
    pub fn from_layers(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        defaults: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let layer = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!("cannot read config file {}: {e}", path.display()))
                })?;
                toml::from_str::<FileLayer>(&text).map_err(|e| {
                    ConfigError(format!("config file {}: {}", path.display(), e.message()))
                })?
            }
            None => FileLayer::default(),
        };
        // A set-but-empty variable counts as unset.
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let pick = |var: &str, file: Option<String>| -> Option<(String, String)> {
            env(var)
                .map(|v| (v, var.to_owned()))
                .or_else(|| file.map(|v| (v, format!("`{}` in the config file", key_of(var)))))
                .or_else(|| defaults(var).map(|v| (v, format!("{var} (default)"))))
        };

        let listen = match pick("DPC_LISTEN", layer.listen) {
            Some((v, from)) => v.trim().parse::<SocketAddr>().map_err(|_| {
                ConfigError(format!(
                    "{from} must be a socket address like 127.0.0.1:8080, got {v:?}"
                ))
            })?,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| ConfigError("default listen".into()))?,
        };
        let public_url = match pick("DPC_PUBLIC_URL", layer.public_url) {
            Some((v, from)) => parse_http_url(&v, &from)?,
            None => parse_http_url(&format!("http://{listen}"), "DPC_PUBLIC_URL (default)")?,
        };
        let database_url = match pick("DPC_DATABASE_URL", layer.database_url) {
            Some((v, from)) => {
                let ok = v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://");
                if !ok {
                    return Err(ConfigError(format!(
                        "{from} must start with sqlite:, postgres:// or postgresql://"
                    )));
                }
                v
            }
            None => DEFAULT_DATABASE_URL.to_owned(),
        };
        let encryption_key = match pick("DPC_ENCRYPTION_KEY", layer.encryption_key) {
            Some((v, from)) => {
                dpc_store::Cipher::from_base64(v.trim(), &[]).map_err(|_| {
                    ConfigError(format!(
                        "{from} must be the base64 encoding of 32 random bytes (e.g. `openssl rand -base64 32`)"
                    ))
                })?;
                Some(SecretString::from(v.trim().to_owned()))
            }
            None => None,
        };
        let dialpad_client_id = pick("DPC_DIALPAD_CLIENT_ID", layer.dialpad_client_id).map(|p| p.0);
        let dialpad_client_secret = pick("DPC_DIALPAD_CLIENT_SECRET", layer.dialpad_client_secret)
            .map(|p| SecretString::from(p.0));
        let dialpad_base_url = match (
            pick("DPC_DIALPAD_BASE_URL", layer.dialpad_base_url),
            pick("DPC_DIALPAD_ENV", layer.dialpad_env),
        ) {
            (Some((v, from)), _) => parse_http_url(&v, &from)?,
            (None, Some((v, from))) => match v.trim() {
                "production" => parse_http_url("https://dialpad.com", &from)?,
                "sandbox" => parse_http_url("https://sandbox.dialpad.com", &from)?,
                other => {
                    return Err(ConfigError(format!(
                        "{from} must be `production` or `sandbox`, got {other:?}"
                    )))
                }
            },
            (None, None) => parse_http_url("https://dialpad.com", "DPC_DIALPAD_ENV")?,
        };
        let cache_ttl = millis(
            pick(
                "DPC_CACHE_TTL_MS",
                layer.cache_ttl_ms.map(|n| n.to_string()),
            ),
            0..=60_000,
            DEFAULT_CACHE_TTL_MS,
        )?;
        let header_read_timeout = millis(
            pick(
                "DPC_HEADER_READ_TIMEOUT_MS",
                layer.header_read_timeout_ms.map(|n| n.to_string()),
            ),
            TIMEOUT_MS_RANGE,
            DEFAULT_HEADER_READ_TIMEOUT_MS,
        )?;
        let body_read_timeout = millis(
            pick(
                "DPC_BODY_READ_TIMEOUT_MS",
                layer.body_read_timeout_ms.map(|n| n.to_string()),
            ),
            TIMEOUT_MS_RANGE,
            DEFAULT_BODY_READ_TIMEOUT_MS,
        )?;
        let request_timeout = millis(
            pick(
                "DPC_REQUEST_TIMEOUT_MS",
                layer.request_timeout_ms.map(|n| n.to_string()),
            ),
            TIMEOUT_MS_RANGE,
            DEFAULT_REQUEST_TIMEOUT_MS,
        )?;
        let max_connections = match pick(
            "DPC_MAX_CONNECTIONS",
            layer.max_connections.map(|n| n.to_string()),
        ) {
            Some((v, from)) => match v.trim().parse::<usize>() {
                Ok(n) if MAX_CONNECTIONS_RANGE.contains(&n) => n,
                _ => {
                    return Err(ConfigError(format!(
                        "{from} must be a whole number between {} and {}, got {v:?}",
                        MAX_CONNECTIONS_RANGE.start(),
                        MAX_CONNECTIONS_RANGE.end()
                    )))
                }
            },
            None => DEFAULT_MAX_CONNECTIONS,
        };
        let encryption_old_keys = match pick(
            "DPC_ENCRYPTION_OLD_KEYS",
            layer.encryption_old_keys.map(|v| v.join(",")),
        ) {
            Some((v, from)) => {
                let keys: Vec<&str> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .collect();
                for (i, k) in keys.iter().enumerate() {
                    dpc_store::Cipher::from_base64(k, &[]).map_err(|_| {
                        ConfigError(format!(
                            "{from}: key #{} must be the base64 encoding of 32 bytes",
                            i + 1
                        ))
                    })?;
                }
                keys.into_iter()
                    .map(|k| SecretString::from(k.to_owned()))
                    .collect()
            }
            None => Vec::new(),
        };
        let allowed_redirect_origins = match pick(
            "DPC_ALLOWED_REDIRECT_ORIGINS",
            layer.allowed_redirect_origins.map(|v| v.join(",")),
        ) {
            Some((v, from)) => parse_origins(v.split(','), &from)?,
            None => vec![public_url.origin().ascii_serialization()],
        };
        let allowed_origins = match (env("DPC_ALLOWED_ORIGINS"), layer.allowed_origins) {
            (Some(v), _) => parse_origins(v.split(','), "DPC_ALLOWED_ORIGINS")?,
            (None, Some(list)) => parse_origins(
                list.iter().map(String::as_str),
                "`allowed_origins` in the config file",
            )?,
            (None, None) => Vec::new(),
        };
        let custom_models = match (env("DPC_CUSTOM_MODELS"), layer.custom_models) {
            (Some(v), _) => serde_json::from_str(&v).map_err(|e| {
                ConfigError(format!(
                    "DPC_CUSTOM_MODELS must be a JSON list of custom models: {e}"
                ))
            })?,
            (None, Some(list)) => list,
            (None, None) => Vec::new(),
        };
        dpc_core::custom::CustomModel::validate_all(&custom_models).map_err(|errors| {
            ConfigError(format!(
                "custom models: {}",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.path, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        let metrics_token = match pick("DPC_METRICS_TOKEN", layer.metrics_token) {
            Some((v, from)) => {
                let v = v.trim();
                // It arrives in an Authorization header: anything else could never match.
                if !METRICS_TOKEN_LEN.contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(ConfigError(format!(
                        "{from} must be {} to {} visible ASCII characters without spaces (e.g. `openssl rand -hex 32`)",
                        METRICS_TOKEN_LEN.start(),
                        METRICS_TOKEN_LEN.end()
                    )));
                }
                Some(SecretString::from(v.to_owned()))
            }
            None => None,
        };
        let webhooks = webhooks_config(&pick, layer.webhooks.unwrap_or_default())?;
        let events = layer.events.unwrap_or_default();
        let events_repair_interval = match pick(
            "DPC_EVENTS_REPAIR_INTERVAL_MS",
            events.repair_interval_ms.map(|n| n.to_string()),
        ) {
            None => crate::intake::subscriptions::REPAIR_EVERY,
            Some((v, from)) => match v.trim().parse::<u64>() {
                Ok(n) if (100..=86_400_000).contains(&n) => Duration::from_millis(n),
                _ => {
                    return Err(ConfigError(format!(
                        "{from} must be a whole number between 100 and 86400000, got {v:?}"
                    )))
                }
            },
        };
        let events_poll_interval = match pick(
            "DPC_EVENTS_POLL_INTERVAL_MS",
            events.poll_interval_ms.map(|n| n.to_string()),
        ) {
            None => crate::intake::poll::DEFAULT_INTERVAL,
            Some((v, from)) => match v.trim().parse::<u64>() {
                Ok(n) if (100..=86_400_000).contains(&n) => Duration::from_millis(n),
                _ => {
                    return Err(ConfigError(format!(
                        "{from} must be a whole number between 100 and 86400000, got {v:?}"
                    )))
                }
            },
        };
        let events_intake = match pick("DPC_EVENTS_INTAKE", events.intake) {
            None => crate::intake::subscriptions::IntakeMode::Webhook,
            Some((v, from)) => match v.trim().to_ascii_lowercase().as_str() {
                "webhook" => crate::intake::subscriptions::IntakeMode::Webhook,
                "websocket" => crate::intake::subscriptions::IntakeMode::Websocket,
                _ => {
                    return Err(ConfigError(format!(
                        "{from} must be webhook or websocket, got {v:?}"
                    )))
                }
            },
        };
        Ok(Config {
            webhooks,
            metrics_token,
            events_intake,
            events_repair_interval,
            events_poll_interval,
            custom_models,
            allowed_origins,
            cache_ttl,
            encryption_old_keys,
            allowed_redirect_origins,
            header_read_timeout,
            body_read_timeout,
            request_timeout,
            max_connections,
            listen,
            public_url,
            database_url: SecretString::from(database_url),
            encryption_key,
            dialpad_client_id,
            dialpad_client_secret,
            dialpad_base_url,
        })
    }

    /// What `serve` needs beyond the defaults: the encryption key and the OAuth app.
    pub fn check_for_serve(&self) -> Result<(), ConfigError> {
        if self.encryption_key.is_none() {
            return Err(ConfigError(
                "DPC_ENCRYPTION_KEY is required (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)".into(),
            ));
        }
        if self.dialpad_client_id.is_none() {
            return Err(ConfigError(
                "DPC_DIALPAD_CLIENT_ID is required (your Dialpad OAuth app's client id)".into(),
            ));
        }
        if self.dialpad_client_secret.is_none() {
            return Err(ConfigError(
                "DPC_DIALPAD_CLIENT_SECRET is required (your Dialpad OAuth app's client secret)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The cipher for secrets at rest.
    pub fn cipher(&self) -> Result<dpc_store::Cipher, ConfigError> {
        let key = self
            .encryption_key
            .as_ref()
            .ok_or_else(|| ConfigError("DPC_ENCRYPTION_KEY is required".into()))?;
        let old: Vec<&str> = self
            .encryption_old_keys
            .iter()
            .map(|k| k.expose_secret())
            .collect();
        dpc_store::Cipher::from_base64(key.expose_secret(), &old).map_err(|_| {
            ConfigError(
                "DPC_ENCRYPTION_KEY or DPC_ENCRYPTION_OLD_KEYS is not valid base64 of 32 bytes"
                    .into(),
            )
        })
    }

    /// `{public_url}/oauth/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_base())
    }

    /// Whether the browser may be sent to `url` after authorization.
    pub fn redirect_allowed(&self, url: &Url) -> bool {
        let origin = url.origin().ascii_serialization();
        self.allowed_redirect_origins.contains(&origin)
    }

    /// The public URL's path without a trailing slash (`""` at the root), for links and form
    /// actions when the connector is served under a path prefix.
    pub fn public_path(&self) -> &str {
        self.public_url.path().trim_end_matches('/')
    }

    /// Whether the public URL is HTTPS (cookies get `Secure` and the `__Host-` prefix).
    pub fn public_is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The public URL without a trailing slash.
    pub fn public_base(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }
}

/// A number of milliseconds within `range` from `picked` (the value and where it came from),
/// or `default`; the error names the setting.
fn millis(
    picked: Option<(String, String)>,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<Duration, ConfigError> {
    match picked {
        Some((v, from)) => match v.trim().parse::<u64>() {
            Ok(ms) if range.contains(&ms) => Ok(Duration::from_millis(ms)),
            _ => Err(ConfigError(format!(
                "{from} must be a number of milliseconds between {} and {}, got {v:?}",
                range.start(),
                range.end()
            ))),
        },
        None => Ok(Duration::from_millis(default)),
    }
}

fn key_of(var: &str) -> String {
    var.trim_start_matches("DPC_").to_ascii_lowercase()
}

fn parse_http_url(v: &str, from: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(v.trim())
        .map_err(|e| ConfigError(format!("{from} must be an absolute URL ({e}), got {v:?}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err(ConfigError(format!(
            "{from} must be an http(s) URL without a query, got {v:?}"
        )));
    }
    Ok(url)
}

/// Each entry must be a web origin exactly as a browser writes it in the `Origin` header
/// (`scheme://host[:port]`): CORS and `postMessage` compare origins as strings, so a path, a
/// wildcard or a typo would silently never match. A single trailing `/` is forgiven (a common
/// copy-paste); the stored form is the URL library's serialization (lower-case host, default
/// port dropped), which is the browser's too.
fn parse_origins<'a>(
    items: impl Iterator<Item = &'a str>,
    from: &str,
) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for raw in items.map(str::trim).filter(|s| !s.is_empty()) {
        let bad = |why: &str| {
            ConfigError(format!(
                "{from}: {raw:?} is not an origin ({why}); write scheme://host[:port], e.g. https://app.example.com"
            ))
        };
        let text = raw.strip_suffix('/').unwrap_or(raw);
        if text == "*" || text.contains('*') {
            return Err(bad("wildcards are not accepted: list each origin"));
        }
        let url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if url.host().is_none() {
            return Err(bad("no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("no user or password"));
        }
        // `Url` reports an empty path as "/", so the raw text decides whether one was written.
        let after_scheme = text.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        if after_scheme.contains(['/', '?', '#']) {
            return Err(bad("no path, query or fragment"));
        }
        let origin = url.origin().ascii_serialization();
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// A setting's value and where it came from, by variable name (env, then file, then default).
type Pick<'a> = &'a dyn Fn(&str, Option<String>) -> Option<(String, String)>;

/// `[webhooks]` and `DPC_WEBHOOKS_*` (the variable wins), each checked.
fn webhooks_config(
    pick: Pick<'_>,
    layer: WebhooksLayer,
) -> Result<crate::webhooks::WebhooksConfig, ConfigError> {
    let mut c = crate::webhooks::WebhooksConfig::default();
    let number = |var: &str, file: Option<u64>, range: std::ops::RangeInclusive<u64>| match pick(
        var,
        file.map(|n| n.to_string()),
    ) {
        Some((v, from)) => match v.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError(format!(
                "{from} must be a whole number between {} and {}, got {v:?}",
                range.start(),
                range.end()
            ))),
        },
        None => Ok(None),
    };
    if let Some((v, from)) = pick(
        "DPC_WEBHOOKS_ALLOW_PRIVATE_URLS",
        layer.allow_private_urls.map(|b| b.to_string()),
    ) {
        c.allow_private_urls = match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => {
                return Err(ConfigError(format!(
                    "{from} must be true or false, got {v:?}"
                )))
            }
        };
    }
    if let Some((v, from)) = pick(
        "DPC_WEBHOOKS_RETRY_SCHEDULE_MS",
        layer
            .retry_schedule_ms
            .map(|l| l.iter().map(u64::to_string).collect::<Vec<_>>().join(",")),
    ) {
        let waits: Result<Vec<u64>, _> = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse::<u64>)
            .collect();
        match waits {
            Ok(w) if w.len() <= 50 && w.iter().all(|ms| (1..=7 * 86_400_000).contains(ms)) => {
                c.retry_schedule = w.into_iter().map(Duration::from_millis).collect();
            }
            _ => {
                return Err(ConfigError(format!(
                    "{from} must be at most 50 comma-separated waits in milliseconds (1 ms to 7 days), got {v:?}"
                )))
            }
        }
    }
    if let Some(n) = number(
        "DPC_WEBHOOKS_DISABLE_AFTER_MS",
        layer.disable_after_ms,
        1..=365 * 86_400_000,
    )? {
        c.disable_after = Duration::from_millis(n);
    }
    if let Some(n) = number("DPC_WEBHOOKS_TIMEOUT_MS", layer.timeout_ms, 100..=120_000)? {
        c.timeout = Duration::from_millis(n);
    }
    if let Some(n) = number(
        "DPC_WEBHOOKS_MAX_IN_FLIGHT",
        layer.max_in_flight,
        1..=10_000,
    )? {
        c.max_in_flight = n as usize;
    }
    if let Some(n) = number("DPC_WEBHOOKS_PER_ENDPOINT", layer.per_endpoint, 1..=1000)? {
        c.per_endpoint = n as u32;
    }
    if let Some(n) = number(
        "DPC_WEBHOOKS_MAX_ENDPOINTS",
        layer.max_endpoints,
        1..=1_000_000,
    )? {
        c.max_endpoints = n;
    }
    if let Some(n) = number("DPC_EVENTS_RETENTION_DAYS", layer.retention_days, 1..=3650)? {
        c.retention = Duration::from_secs(n * 86_400);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn defaults() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.redirect_uri(), "http://127.0.0.1:8080/oauth/callback");
        assert_eq!(c.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!(c.dialpad_base_url.as_str(), "https://dialpad.com/");
        let e = c.check_for_serve().unwrap_err().to_string();
        assert!(e.contains("DPC_ENCRYPTION_KEY"), "{e}");
    }

    #[test]
    fn env_overrides_file_and_errors_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\ndialpad_env = \"sandbox\"\ndialpad_client_id = \"file-id\"\n",
        )
        .unwrap();
        let c = Config::from_sources(
            Some(&path),
            env(&[
                ("DPC_DIALPAD_CLIENT_ID", "env-id"),
                ("DPC_DIALPAD_CLIENT_SECRET", "s3cret"),
                ("DPC_ENCRYPTION_KEY", KEY),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.dialpad_base_url.as_str(), "https://sandbox.dialpad.com/");
        assert_eq!(c.dialpad_client_id.as_deref(), Some("env-id"));
        c.check_for_serve().unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));

        let e = Config::from_sources(None, env(&[("DPC_LISTEN", "nope")])).unwrap_err();
        assert!(e.to_string().contains("DPC_LISTEN"), "{e}");
        let e = Config::from_sources(None, env(&[("DPC_CACHE_TTL_MS", "soon")])).unwrap_err();
        assert!(e.to_string().contains("DPC_CACHE_TTL_MS"), "{e}");
        let c = Config::from_sources(None, env(&[("DPC_CACHE_TTL_MS", "0")])).unwrap();
        assert!(c.cache_ttl.is_zero());
        let e = Config::from_sources(None, env(&[("DPC_ENCRYPTION_KEY", "short")])).unwrap_err();
        assert!(e.to_string().contains("DPC_ENCRYPTION_KEY"), "{e}");
        let e = Config::from_sources(None, env(&[("DPC_DIALPAD_ENV", "staging")])).unwrap_err();
        assert!(e.to_string().contains("DPC_DIALPAD_ENV"), "{e}");
        let e = Config::from_sources(None, env(&[("DPC_DATABASE_URL", "mysql://x")])).unwrap_err();
        assert!(e.to_string().contains("DPC_DATABASE_URL"), "{e}");
        let c = Config::from_sources(
            None,
            env(&[(
                "DPC_ALLOWED_REDIRECT_ORIGINS",
                "https://app.example.com, http://127.0.0.1:3000",
            )]),
        )
        .unwrap();
        assert!(c.redirect_allowed(&Url::parse("https://app.example.com/back?x=1").unwrap()));
        assert!(c.redirect_allowed(&Url::parse("http://127.0.0.1:3000/").unwrap()));
        assert!(!c.redirect_allowed(&Url::parse("https://evil.example/").unwrap()));
        assert!(!c.redirect_allowed(&Url::parse("http://app.example.com/").unwrap()));
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert!(c.redirect_allowed(&Url::parse("http://127.0.0.1:8080/done").unwrap()));
        assert!(!c.redirect_allowed(&Url::parse("https://app.example.com/").unwrap()));
        for bad in ["https://app.example.com/path", "ftp://x", "nope"] {
            let e = Config::from_sources(None, env(&[("DPC_ALLOWED_REDIRECT_ORIGINS", bad)]))
                .unwrap_err();
            assert!(
                e.to_string().contains("DPC_ALLOWED_REDIRECT_ORIGINS"),
                "{e}"
            );
        }
        let e =
            Config::from_sources(None, env(&[("DPC_ENCRYPTION_OLD_KEYS", "short")])).unwrap_err();
        assert!(e.to_string().contains("DPC_ENCRYPTION_OLD_KEYS"), "{e}");
        assert!(!e.to_string().contains("short"), "{e}");
        for var in [
            "DPC_HEADER_READ_TIMEOUT_MS",
            "DPC_BODY_READ_TIMEOUT_MS",
            "DPC_REQUEST_TIMEOUT_MS",
        ] {
            for bad in ["soon", "0", "99", "3600001", "-5"] {
                let e = Config::from_sources(None, env(&[(var, bad)])).unwrap_err();
                assert!(e.to_string().contains(var), "{e}");
            }
        }
        for bad in ["0", "many", "1000001"] {
            let e = Config::from_sources(None, env(&[("DPC_MAX_CONNECTIONS", bad)])).unwrap_err();
            assert!(e.to_string().contains("DPC_MAX_CONNECTIONS"), "{e}");
        }
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let e = Config::from_sources(Some(&path), env(&[])).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
        std::fs::write(&path, "listen = \"bad\"\n").unwrap();
        let e = Config::from_sources(Some(&path), env(&[])).unwrap_err();
        assert!(e.to_string().contains("`listen` in the config file"), "{e}");
        std::fs::write(&path, "request_timeout_ms = 5\n").unwrap();
        let e = Config::from_sources(Some(&path), env(&[])).unwrap_err();
        assert!(
            e.to_string()
                .contains("`request_timeout_ms` in the config file"),
            "{e}"
        );
    }

    #[test]
    fn connection_limits_default_and_layer() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.body_read_timeout, Duration::from_secs(30));
        assert_eq!(c.request_timeout, Duration::from_secs(60));
        assert_eq!(c.max_connections, 1024);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "header_read_timeout_ms = 2000\nbody_read_timeout_ms = 3000\nrequest_timeout_ms = 4000\nmax_connections = 8\n",
        )
        .unwrap();
        let c = Config::from_sources(
            Some(&path),
            env(&[
                ("DPC_MAX_CONNECTIONS", "16"),
                ("DPC_REQUEST_TIMEOUT_MS", "100"),
            ]),
        )
        .unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_millis(2000));
        assert_eq!(c.body_read_timeout, Duration::from_millis(3000));
        assert_eq!(c.request_timeout, Duration::from_millis(100));
        assert_eq!(c.max_connections, 16);
    }

    #[test]
    fn metrics_token_is_optional_checked_and_never_printed() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert!(c.metrics_token.is_none());
        let token = "s3cret-metrics-token-0123";
        let c = Config::from_sources(None, env(&[("DPC_METRICS_TOKEN", token)])).unwrap();
        assert_eq!(c.metrics_token.as_ref().unwrap().expose_secret(), token);
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains(token) && dbg.contains("metrics_token"),
            "{dbg}"
        );
        for bad in [
            "short",
            "has a space in it somewhere",
            "naïve-token-0123456789",
        ] {
            let e = Config::from_sources(None, env(&[("DPC_METRICS_TOKEN", bad)])).unwrap_err();
            assert!(e.to_string().contains("DPC_METRICS_TOKEN"), "{e}");
            assert!(!e.to_string().contains(bad), "{e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, format!("metrics_token = \"{token}\"\n")).unwrap();
        let c = Config::from_sources(Some(&path), env(&[])).unwrap();
        assert_eq!(c.metrics_token.as_ref().unwrap().expose_secret(), token);
        std::fs::write(&path, "metrics_token = \"short\"\n").unwrap();
        let e = Config::from_sources(Some(&path), env(&[])).unwrap_err();
        assert!(
            e.to_string().contains("`metrics_token` in the config file"),
            "{e}"
        );
    }

    #[test]
    fn allowed_origins_are_validated_and_normalised() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert!(c.allowed_origins.is_empty(), "default: no CORS");
        let c = Config::from_sources(
            None,
            env(&[(
                "DPC_ALLOWED_ORIGINS",
                " https://App.Example.com , http://127.0.0.1:5173/,https://app.example.com:443",
            )]),
        )
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            ["https://app.example.com", "http://127.0.0.1:5173"]
        );
        for bad in [
            "*",
            "https://*.example.com",
            "https://app.example.com/path",
            "https://app.example.com?x=1",
            "https://app.example.com/#x",
            "app.example.com",
            "ftp://app.example.com",
            "https://user:pw@app.example.com",
            "https://app.example.com,null",
        ] {
            let e = Config::from_sources(None, env(&[("DPC_ALLOWED_ORIGINS", bad)])).unwrap_err();
            assert!(e.to_string().contains("DPC_ALLOWED_ORIGINS"), "{bad}: {e}");
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "allowed_origins = [\"http://localhost:3000\"]\n").unwrap();
        let c = Config::from_sources(Some(&path), env(&[])).unwrap();
        assert_eq!(c.allowed_origins, ["http://localhost:3000"]);
        // The variable replaces the file's list rather than adding to it.
        let c = Config::from_sources(
            Some(&path),
            env(&[("DPC_ALLOWED_ORIGINS", "https://a.example")]),
        )
        .unwrap();
        assert_eq!(c.allowed_origins, ["https://a.example"]);
        std::fs::write(&path, "allowed_origins = [\"https://a.example/x\"]\n").unwrap();
        let e = Config::from_sources(Some(&path), env(&[])).unwrap_err();
        assert!(
            e.to_string()
                .contains("`allowed_origins` in the config file"),
            "{e}"
        );
    }
}
