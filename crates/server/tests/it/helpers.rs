//! `TestApp`: the simulator plus our server on ephemeral ports, with a fresh SQLite database in a
//! temp directory, and one method per route.

use std::sync::Arc;

use dialpad_sim::{SimConfig, SimHandle};
use dpc_server::Config;
use dpc_store::{Cipher, Store};
use reqwest::{redirect::Policy, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

pub use crate::checked::{Http, Response};

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub base_url: String,
    pub sim: SimHandle,
    pub store: Arc<dyn Store>,
    pub api_key: String,
    /// The encryption key (base64), for a second instance on the same database.
    pub key: String,
    /// Follows no redirects, so tests see each hop; checks every answer of the connector
    /// against `openapi.json` (`checked`).
    pub http: Http,
    _dir: tempfile::TempDir,
    /// Send (or drop) to shut the server down gracefully.
    pub shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(SimConfig {
        auto_consent: true,
        ..Default::default()
    })
    .await
}

/// The app with extra `DPC_…` settings (e.g. small timeouts) on top of the test defaults.
pub async fn spawn_app_with_env(settings: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("dpc.db").display());
    let sim_config = SimConfig {
        auto_consent: true,
        ..Default::default()
    };
    spawn_on_with_env(sim_config, &db_url, dir, settings).await
}

/// The test configuration, with `settings` winning over its defaults.
pub fn config_for(
    sim: &SimHandle,
    listener: &tokio::net::TcpListener,
    db_url: &str,
    key: &str,
    settings: &[(&str, &str)],
) -> Config {
    let addr = listener.local_addr().unwrap();
    let env = [
        ("DPC_LISTEN", addr.to_string()),
        ("DPC_PUBLIC_URL", format!("http://{addr}")),
        ("DPC_DATABASE_URL", db_url.to_owned()),
        ("DPC_ENCRYPTION_KEY", key.to_owned()),
        ("DPC_DIALPAD_CLIENT_ID", "sim-client".to_owned()),
        ("DPC_DIALPAD_CLIENT_SECRET", "sim-client-secret".to_owned()),
        ("DPC_DIALPAD_BASE_URL", sim.base_url.clone()),
        // The apps the tests send browsers back to.
        (
            "DPC_ALLOWED_REDIRECT_ORIGINS",
            "https://app.example,https://app.test".to_owned(),
        ),
    ];
    Config::from_sources(None, |k| {
        settings
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
    })
    .unwrap()
}

/// A server instance on an ephemeral port: its base URL, store and shutdown handle.
pub struct Instance {
    pub addr: std::net::SocketAddr,
    pub store: Arc<dyn Store>,
    pub shutdown: tokio::sync::oneshot::Sender<()>,
}

pub async fn spawn_server(sim: &SimHandle, db_url: &str, key: &str) -> Instance {
    spawn_server_with_env(sim, db_url, key, &[]).await
}

pub async fn spawn_server_with_env(
    sim: &SimHandle,
    db_url: &str,
    key: &str,
    settings: &[(&str, &str)],
) -> Instance {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = config_for(sim, &listener, db_url, key, settings);
    let store = dpc_server::connect_store(&config).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = store.clone();
    tokio::spawn(async move {
        dpc_server::run_with_store(config, served, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Instance {
        addr,
        store,
        shutdown: tx,
    }
}

pub async fn spawn_with(sim_config: SimConfig) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("dpc.db").display());
    spawn_on(sim_config, &db_url, dir).await
}

/// The app on `db_url` (SQLite file in `dir`, or a PostgreSQL database).
pub async fn spawn_on(sim_config: SimConfig, db_url: &str, dir: tempfile::TempDir) -> TestApp {
    spawn_on_with_env(sim_config, db_url, dir, &[]).await
}

pub async fn spawn_on_with_env(
    sim_config: SimConfig,
    db_url: &str,
    dir: tempfile::TempDir,
    settings: &[(&str, &str)],
) -> TestApp {
    let sim = dialpad_sim::spawn(sim_config).await.unwrap();
    app_on(sim, db_url, dir, settings).await
}

async fn app_on(
    sim: SimHandle,
    db_url: &str,
    dir: tempfile::TempDir,
    extra: &[(&str, &str)],
) -> TestApp {
    let key = Cipher::generate_key_base64();
    let Instance {
        addr,
        store,
        shutdown: tx,
    } = spawn_server_with_env(&sim, db_url, &key, extra).await;
    let (_, api_key) = store.create_api_key("tests").await.unwrap();
    let sim_base = sim.base_url.clone();
    TestApp {
        addr,
        base_url: format!("http://{addr}"),
        sim,
        store,
        api_key: api_key.expose_secret().to_owned(),
        http: Http::new(
            reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            [sim_base],
        ),
        key,
        _dir: dir,
        shutdown: Some(tx),
    }
}

/// Runs `test` on a fresh PostgreSQL database created from `TEST_DATABASE_URL` and dropped
/// afterwards; skipped when the variable is unset (set but unreachable fails).
pub async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::FutureExt;
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL not set: PostgreSQL variant skipped");
        return;
    };
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("TEST_DATABASE_URL is set but PostgreSQL is unreachable");
    let name = format!(
        "dpc_srv_{}",
        Cipher::generate_key_base64()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect::<String>()
            .to_ascii_lowercase()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    let outcome = std::panic::AssertUnwindSafe(test(url.to_string()))
        .catch_unwind()
        .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .expect("drop test database");
    admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .header("x-api-key", "pk_ignored")
            .header("x-api-secret", &self.api_key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .header("authorization", format!("Bearer {}", self.api_key))
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.http
            .delete(self.url(path))
            .header("x-api-secret", &self.api_key)
            .send()
            .await
            .unwrap()
    }

    pub async fn create_connection(&self, owner: &str, operations: &[&str]) -> Value {
        // No operations named: the field is left out (every operation); an empty list is refused.
        let body = if operations.is_empty() {
            json!({})
        } else {
            json!({ "operations": operations })
        };
        let r = self
            .post_json(&format!("/v1/connections/dialpad/{owner}"), body)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    pub async fn connection(&self, owner: &str) -> Value {
        let r = self.get(&format!("/v1/connections/dialpad/{owner}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub async fn authorization_url(&self, owner: &str) -> String {
        let r = self
            .post_json(
                &format!("/v1/connections/dialpad/{owner}/authorization"),
                json!({}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "awaitingAuthorization");
        v["authorizationUrl"].as_str().unwrap().to_owned()
    }

    /// Follows Dialpad's (auto-consent) redirect and returns our callback URL with code and state.
    pub async fn consent(&self, authorization_url: &str) -> String {
        let r = self.http.get(authorization_url).send().await.unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.starts_with(&self.url("/oauth/callback?")), "{loc}");
        loc
    }

    /// How many requests the simulator answered for `key` (`"GET /api/v2/users"`: method and
    /// route template).
    pub fn sim_requests(&self, key: &str) -> u64 {
        self.sim.stats().requests.get(key).copied().unwrap_or(0)
    }

    /// Create → authorize → consent → callback: an authorized connection.
    pub async fn connect(&self, owner: &str, operations: &[&str]) {
        self.create_connection(owner, operations).await;
        let url = self.authorization_url(owner).await;
        let callback = self.consent(&url).await;
        let r = self.http.get(&callback).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r
            .text()
            .await
            .unwrap()
            .contains("data-status=\"authorized\""));
    }

    pub async fn proxy(&self, owner: &str, method: reqwest::Method, path: &str) -> Response {
        self.proxy_via(&self.base_url, owner, method, path).await
    }

    /// A proxied call through the server at `base` (e.g. a second instance).
    pub async fn proxy_via(
        &self,
        base: &str,
        owner: &str,
        method: reqwest::Method,
        path: &str,
    ) -> Response {
        self.http
            .request(method, format!("{base}/v1/proxy{path}"))
            .header("x-api-secret", &self.api_key)
            .header("x-connector-id", "dialpad")
            .header("x-owner-id", owner)
            .send()
            .await
            .unwrap()
    }

    pub async fn expire_sim_tokens(&self) {
        let r = self
            .http
            .post(format!("{}/_sim/tokens/expire", self.sim.base_url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

/// The connect page's browser-binding cookie from its `Set-Cookie`, as a `Cookie` header value.
pub fn binding_cookie(r: &Response) -> String {
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

pub async fn error_code(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    (status, v)
}

/// The outcome data block (`#dpc-outcome`) of the callback's result page, with the status.
pub async fn callback_outcome(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let html = r.text().await.unwrap();
    let start = "<script type=\"application/json\" id=\"dpc-outcome\">";
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("no outcome in {html}"))
        + start.len();
    let len = html[from..].find("</script>").unwrap();
    (
        status,
        serde_json::from_str(&html[from..from + len]).unwrap(),
    )
}

/// Polls `f` every 50 ms until it holds or `within` passes; whether it held (for what the
/// server does in the background after answering).
pub async fn eventually(within: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    f()
}
