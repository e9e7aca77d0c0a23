//! Configuration: built-in defaults, then an optional TOML file, then `DPC_…` environment
//! variables (each layer overrides the one before). A missing or malformed setting stops
//! start-up with a message naming it.
//!
//! Why `toml` plus hand-read environment variables rather than a layering framework: there are
//! ten settings, and reading them by hand lets every error name the exact variable or file
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
//! allowed_origins = ["https://app.example.com"]   # DPC_ALLOWED_ORIGINS: comma-separated
//! ```

use std::net::SocketAddr;
use std::path::Path;

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
    /// How long verified API keys and loaded connections are reused from memory
    /// (`DPC_CACHE_TTL_MS`, default 2000; 0 turns the cache off). Writes on this instance are
    /// seen at once; writes on another instance sharing the database within this time.
    pub cache_ttl: std::time::Duration,
    /// Web origins (`scheme://host[:port]`, as browsers send them in `Origin`) whose pages may
    /// call the session-token routes (`/v1/s/…`) from the browser, and which the OAuth result
    /// page posts its outcome to when it runs in a popup. Empty (the default): no CORS at all.
    pub allowed_origins: Vec<String>,
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
            .field("allowed_origins", &self.allowed_origins)
            .finish()
    }
}

/// Verified keys and connections are reused for this long by default.
const DEFAULT_CACHE_TTL_MS: u64 = 2000;

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
    allowed_origins: Option<Vec<String>>,
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
        let cache_ttl = match pick(
            "DPC_CACHE_TTL_MS",
            layer.cache_ttl_ms.map(|n| n.to_string()),
        ) {
            Some((v, from)) => match v.trim().parse::<u64>() {
                Ok(ms) if ms <= 60_000 => std::time::Duration::from_millis(ms),
                _ => {
                    return Err(ConfigError(format!(
                        "{from} must be a number of milliseconds between 0 and 60000, got {v:?}"
                    )))
                }
            },
            None => std::time::Duration::from_millis(DEFAULT_CACHE_TTL_MS),
        };
        let allowed_origins = match (env("DPC_ALLOWED_ORIGINS"), layer.allowed_origins) {
            (Some(v), _) => parse_origins(v.split(','), "DPC_ALLOWED_ORIGINS")?,
            (None, Some(list)) => parse_origins(
                list.iter().map(String::as_str),
                "`allowed_origins` in the config file",
            )?,
            (None, None) => Vec::new(),
        };
        Ok(Config {
            allowed_origins,
            cache_ttl,
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
        dpc_store::Cipher::from_base64(key.expose_secret(), &[])
            .map_err(|_| ConfigError("DPC_ENCRYPTION_KEY is not valid base64 of 32 bytes".into()))
    }

    /// `{public_url}/oauth/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_base())
    }

    /// The public URL without a trailing slash.
    pub fn public_base(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
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
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let e = Config::from_sources(Some(&path), env(&[])).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
        std::fs::write(&path, "listen = \"bad\"\n").unwrap();
        let e = Config::from_sources(Some(&path), env(&[])).unwrap_err();
        assert!(e.to_string().contains("`listen` in the config file"), "{e}");
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
