//! The Dialpad connector's HTTP server: the Morph-compatible connection API, the OAuth connect
//! flow (hosted connect page, callback), token refresh and the authenticated Dialpad proxy.
//!
//! Start it with [`run`] (connects the store from the configuration) or [`run_with_store`]
//! (tests pass their own store); both take an already bound listener so tests can bind
//! `127.0.0.1:0`.
//!
//! Request path: `auth` (secret key or session token) → a handler in `connections`,
//! `authorization`, `connect_page` or `proxy` → the store (`dpc_store::Store`) and, for Dialpad,
//! one cached `dialpad::Client` per connection whose token provider (`tokens`) refreshes.

#![forbid(unsafe_code)]

pub mod actions;
pub mod auth;
pub mod authorization;
pub mod config;
pub mod connect_page;
pub mod connections;
pub mod cors;
mod custom_resources;
pub mod error;
pub mod export;
pub mod intake;
pub mod mcp;
pub mod metrics;
pub mod openapi;
/// The operation catalog lives in the core; re-exported for the handlers' `crate::operations`.
pub use dpc_core::operations;
pub mod proxy;
pub mod resources;
mod serve;
pub mod ssrf;
pub mod tokens;
pub mod webhooks;

use dpc_core::ErrorCode;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use dpc_store::Store;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

pub use config::{Config, ConfigError};
pub use error::{ApiError, ApiResult};

/// Largest request body accepted (larger: 413 `REQUEST::TOO_LARGE`).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Most Dialpad clients (one per connection) kept in memory.
pub const CLIENT_CACHE_CAPACITY: usize = 10_000;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("store: {0}")]
    Store(#[from] dpc_store::StoreError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("Dialpad client: {0}")]
    Dialpad(#[from] dialpad::Error),
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub oauth: tokens::OAuthApp,
    pub clients: tokens::ClientCache,
    pub http: reqwest::Client,
    /// Authorization URLs and connect links handed out recently, keyed by (connection, what
    /// they ask for), and handed out again while still pending: a client retrying a refused
    /// call, a Connect button pressed 50 times or an app asking for a link on every page view
    /// would otherwise write a new OAuth state or session row each time.
    auth_urls: parking_lot::Mutex<HashMap<(String, String), Handed>>,
    /// Signs list cursors; derived from the encryption key, so cursors survive restarts and
    /// work across instances.
    pub cursor_key: dpc_core::cursor::CursorKey,
    /// The connector-kept record times last answered (see `resources::SeenCache`).
    pub seen_cache: resources::SeenCache,
    /// Wakes the delivery worker; caches endpoints' signing secrets briefly.
    pub delivery: Arc<webhooks::delivery::DeliveryHandle>,
    /// Wakes the normalizer when a Dialpad event was stored.
    pub normalizer: intake::normalize::Wake,
    /// Where `/metrics` reads the outbox gauges (set once; unset: no outbox gauges).
    outbox_gauge: std::sync::OnceLock<Arc<dyn metrics::OutboxGauge>>,
    /// Connections whose Dialpad subscriptions are being set up on this instance.
    pub intake_busy: intake::subscriptions::Busy,
    /// Wakes the subscriptions repair loop early: an endpoint was created or changed, so some
    /// connection's events may be wanted now (rather than at the next scheduled round).
    pub intake_repair: Arc<tokio::sync::Notify>,
    /// Stores verified Dialpad events in group commits (`intake::batch`).
    pub intake_writer: intake::batch::Batcher,
    /// The websocket intake's supervisors (websocket mode).
    pub ws_supervisors: intake::websocket::Supervisors,
}

/// One authorization URL or connect link handed out, with the secret that tells whether it is
/// still pending (the OAuth state, the connect session's token).
struct Handed {
    at: Instant,
    reuse_for: Duration,
    url: String,
    pending: Pending,
}

#[derive(Clone)]
enum Pending {
    State(String),
    ConnectLink(String),
}

/// How long an authorization URL is reused (its state lives twice as long).
const AUTH_URL_REUSE: Duration = Duration::from_secs(authorization::STATE_TTL_SECS as u64 / 2);
/// How long a connect link is reused (its session lives twice as long).
const CONNECT_LINK_REUSE: Duration =
    Duration::from_secs(authorization::CONNECT_SESSION_SECS as u64 / 2);
/// Most reusable authorization URLs and links kept.
const AUTH_URL_CAPACITY: usize = 10_000;

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Result<Self, ServerError> {
        config.check_for_serve()?;
        // Never follow redirects: the proxy returns Dialpad's status and headers unchanged (a
        // 3xx included), and a bearer token must not travel to wherever a Location points.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| dialpad::Error::Config(format!("cannot build HTTP client: {e}")))?;
        let token_client = dialpad::Client::builder()
            .base_url(config.dialpad_base_url.clone())
            .http_client(http.clone())
            .observer(metrics::dialpad_observer())
            .build()?;
        let oauth = tokens::OAuthApp {
            client_id: config.dialpad_client_id.clone().unwrap_or_default(),
            client_secret: config
                .dialpad_client_secret
                .clone()
                .unwrap_or_else(|| secrecy::SecretString::from(String::new())),
            token_client,
        };
        // The custom models' operations join the catalog (connections may ask for them).
        dpc_core::custom::register(&config.custom_models);
        let cursor_key = dpc_core::cursor::CursorKey::derive(
            config
                .encryption_key
                .as_ref()
                .map(|k| k.expose_secret().as_bytes())
                .unwrap_or_default(),
        );
        Ok(AppState(Arc::new(Inner {
            delivery: Arc::default(),
            normalizer: Arc::default(),
            intake_busy: Default::default(),
            intake_repair: Arc::default(),
            intake_writer: Default::default(),
            ws_supervisors: Default::default(),
            seen_cache: resources::SeenCache::default(),
            cursor_key,
            config,
            store,
            oauth,
            clients: tokens::ClientCache::new(CLIENT_CACHE_CAPACITY),
            http,
            auth_urls: parking_lot::Mutex::new(HashMap::new()),
            outbox_gauge: std::sync::OnceLock::new(),
        })))
    }

    /// Gives `/metrics` its outbox gauges (`metrics::OutboxGauge`); only the first call
    /// counts (false for a later one).
    pub fn set_outbox_gauge(&self, gauge: Arc<dyn metrics::OutboxGauge>) -> bool {
        self.outbox_gauge.set(gauge).is_ok()
    }

    /// The outbox gauges' source, if one was set.
    pub fn outbox_gauge(&self) -> Option<Arc<dyn metrics::OutboxGauge>> {
        self.outbox_gauge.get().cloned()
    }

    /// A Dialpad authorization URL for `conn` asking for `scopes`, with `redirect_url` and bound
    /// to `browser_hash` (see [`authorization::authorization_url`]): the one handed out
    /// recently for the same connection, scopes, target and browser while its state is still
    /// pending, otherwise a new one.
    pub async fn reusable_authorization_url(
        &self,
        conn: &dpc_store::Connection,
        scopes: &std::collections::BTreeSet<String>,
        redirect_url: Option<String>,
        browser_hash: Option<String>,
    ) -> ApiResult<String> {
        let what = serde_json::json!(["state", scopes, redirect_url, browser_hash]).to_string();
        self.reuse_or_hand_out(&conn.id, what, AUTH_URL_REUSE, || async {
            let (url, state) = authorization::authorization_url(
                self,
                conn,
                scopes,
                redirect_url.clone(),
                browser_hash.clone(),
            )
            .await?;
            Ok((url, Pending::State(state)))
        })
        .await
    }

    /// A connect link (`mode=connect`) for `conn` with these extra scopes and redirect target:
    /// the one handed out recently for the same operations, scopes and target while no browser
    /// has pressed Connect on it yet, otherwise a new one.
    pub async fn reusable_connect_link(
        &self,
        conn: &dpc_store::Connection,
        extra_scopes: Vec<String>,
        redirect_url: Option<String>,
    ) -> ApiResult<String> {
        let what =
            serde_json::json!(["connect", conn.operations, extra_scopes, redirect_url]).to_string();
        self.reuse_or_hand_out(&conn.id, what, CONNECT_LINK_REUSE, || async {
            let (url, token) =
                authorization::connect_link(self, conn, extra_scopes.clone(), redirect_url.clone())
                    .await?;
            Ok((url, Pending::ConnectLink(token.expose_secret().to_owned())))
        })
        .await
    }

    async fn reuse_or_hand_out<F, Fut>(
        &self,
        connection_id: &str,
        what: String,
        reuse_for: Duration,
        make: F,
    ) -> ApiResult<String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<(String, Pending)>>,
    {
        let key = (connection_id.to_owned(), what);
        let recent = self
            .auth_urls
            .lock()
            .get(&key)
            .filter(|h| h.at.elapsed() < h.reuse_for)
            .map(|h| (h.url.clone(), h.pending.clone()));
        if let Some((url, pending)) = recent {
            // Used meanwhile (maybe through another instance): not handed out again.
            let still = match &pending {
                Pending::State(s) => self.store.oauth_state_pending(s).await?,
                Pending::ConnectLink(t) => self.store.connect_session_reusable(t).await?,
            };
            if still {
                return Ok(url);
            }
        }
        let (url, pending) = make().await?;
        let mut urls = self.auth_urls.lock();
        if urls.len() >= AUTH_URL_CAPACITY {
            urls.retain(|_, h| h.at.elapsed() < h.reuse_for);
            if urls.len() >= AUTH_URL_CAPACITY {
                urls.clear();
            }
        }
        urls.insert(
            key,
            Handed {
                at: Instant::now(),
                reuse_for,
                url: url.clone(),
                pending,
            },
        );
        Ok(url)
    }

    /// The cached Dialpad client of a connection. The connection row (itself cached for at most
    /// the cache TTL) carries the stored credentials' version: when it is newer than the token
    /// the client holds (re-authorized or refreshed on another instance), the token is reloaded.
    pub fn dialpad_client(&self, connection: &dpc_store::Connection) -> ApiResult<dialpad::Client> {
        self.connection_client(connection).map(|cc| cc.client)
    }

    /// As [`dialpad_client`](Self::dialpad_client), with the token source (which tells the
    /// credentials version a call used).
    pub fn connection_client(
        &self,
        connection: &dpc_store::Connection,
    ) -> ApiResult<tokens::ConnectionClient> {
        let cc = self
            .clients
            .get_or_insert(&connection.id, || {
                let tokens = tokens::ConnectionTokens::new(
                    self.store.clone(),
                    self.oauth.clone(),
                    &connection.id,
                );
                tokens::connection_client(&self.config.dialpad_base_url, self.http.clone(), tokens)
            })
            .map_err(ApiError::internal)?;
        cc.tokens.observe_version(connection.credentials_version);
        Ok(cc)
    }
}

/// The router with every route, the JSON fallbacks and the per-request limits (body size, body
/// read timeout, request timeout).
pub fn router(state: AppState) -> Router {
    let body_read_timeout = state.config.body_read_timeout;
    let request_timeout = state.config.request_timeout;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi::serve))
        .route("/metrics", get(metrics::serve))
        .route("/v1/connections", get(connections::list))
        .route(
            "/v1/connections/{connector_id}/{owner_id}",
            post(connections::create)
                .get(connections::retrieve)
                .patch(connections::update)
                .delete(connections::delete),
        )
        .route(
            "/v1/connections/{connector_id}/{owner_id}/authorization",
            post(authorization::authorize),
        )
        .route(
            "/v1/connections/{connector_id}/{owner_id}/sessions",
            post(connections::create_session),
        )
        .route(
            "/v1/connections/{connector_id}/{owner_id}/field-mappings/{model}",
            get(resources::get_mappings)
                .put(resources::put_mappings)
                .delete(resources::delete_mappings),
        )
        .route(
            "/v1/connections/{connector_id}/{owner_id}/events-intake",
            get(intake::subscriptions::get_route).patch(intake::subscriptions::patch_route),
        )
        .route(
            "/v1/connections/{connector_id}/{owner_id}/api-key",
            put(connections::put_api_key),
        )
        .merge(browser_routes(&state))
        .route("/v1/connectors/{connector_id}", get(connections::connector))
        .route("/v1/models/{model}/fields", get(resources::key_fields))
        .route(
            "/v1/resources/{model}",
            get(resources::list_route::<resources::KeyCaller>)
                .post(resources::create_route::<resources::KeyCaller>),
        )
        .route(
            "/v1/resources/{model}/{id}",
            get(resources::retrieve_route::<resources::KeyCaller>)
                .patch(resources::update_route::<resources::KeyCaller>)
                .delete(resources::delete_route::<resources::KeyCaller>),
        )
        .route("/v1/actions", get(actions::list))
        .route(
            "/v1/actions/{action_id}",
            post(actions::run_route::<resources::KeyCaller>),
        )
        .route("/v1/proxy/{*path}", any(proxy::proxy))
        .route(mcp::PATH, mcp::route(&state))
        .route(
            "/v1/webhook-endpoints",
            get(webhooks::endpoints::list).post(webhooks::endpoints::create),
        )
        .route(
            "/v1/webhook-endpoints/{id}",
            get(webhooks::endpoints::get)
                .patch(webhooks::endpoints::update)
                .delete(webhooks::endpoints::delete),
        )
        .route(
            "/v1/webhook-endpoints/{id}/rotate-secret",
            post(webhooks::endpoints::rotate_secret),
        )
        .route(
            "/v1/webhook-endpoints/{id}/attempts",
            get(webhooks::endpoints::attempts),
        )
        .route(
            "/v1/webhook-endpoints/{id}/replay",
            post(webhooks::endpoints::replay),
        )
        .route(
            "/v1/hooks/dialpad/{route_token}",
            post(intake::hook::receive),
        )
        .route("/v1/events", get(webhooks::log::list))
        .route("/v1/events/{id}", get(webhooks::log::get))
        .route("/v1/events/{id}/replay", post(webhooks::log::replay))
        .merge(
            Router::new()
                .route("/oauth/callback", get(authorization::callback))
                .route("/connect", get(connect_page::page))
                .route("/connect/authorize", post(connect_page::start))
                .layer(axum::middleware::map_response(connect_page::page_headers)),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // tower-http's body wrapper fails a read that waits longer than this for the next
        // chunk; the extractors turn that error into 408 `REQUEST::TIMEOUT` (`error.rs`).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_read_timeout,
        ))
        // tower's `Timeout` bounds the handler's future, which ends when the response's headers
        // are ready: reading the request body and waiting for Dialpad count, a proxied body
        // streaming afterwards does not. axum's `HandleErrorLayer` turns its error into JSON.
        // On timeout the handler's future is dropped, as when a client hangs up mid-request.
        .layer(
            tower::ServiceBuilder::new()
                .layer(HandleErrorLayer::new(
                    move |e: tower::BoxError| async move { request_timed_out(e, request_timeout) },
                ))
                .layer(tower::timeout::TimeoutLayer::new(request_timeout)),
        )
        // Outermost, so what it records is what the client got (a 504 or 413 included). Layers
        // wrap each route after routing, so the route's `MatchedPath` is there to read.
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

/// 504 `SERVER::TIMEOUT` when the request timeout elapsed (the only error the router's
/// services can produce; anything else would be a bug, answered as a bare 500).
fn request_timed_out(e: tower::BoxError, after: std::time::Duration) -> ApiError {
    if e.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::ServerTimeout,
            format!(
                "no response within {} ms (the server's request timeout)",
                after.as_millis()
            ),
        )
    } else {
        ApiError::internal(e)
    }
}

/// The routes a web page calls with a session token (`/v1/s/…`), the only ones that answer CORS
/// (for `DPC_ALLOWED_ORIGINS`; see `cors`).
fn browser_routes(state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .route(
            "/v1/s/connection",
            get(connections::session_retrieve).delete(connections::session_delete),
        )
        .route(
            "/v1/s/connection/authorization",
            post(authorization::session_authorize),
        )
        .route("/v1/s/connector", get(connections::session_connector))
        .route("/v1/s/mcp", get(mcp::session_info))
        .route(
            "/v1/s/models/{model}/fields",
            get(resources::session_fields),
        )
        .route(
            "/v1/s/resources/{model}",
            get(resources::list_route::<resources::SessionCaller>)
                .post(resources::create_route::<resources::SessionCaller>),
        )
        .route(
            "/v1/s/resources/{model}/{id}",
            get(resources::retrieve_route::<resources::SessionCaller>)
                .patch(resources::update_route::<resources::SessionCaller>)
                .delete(resources::delete_route::<resources::SessionCaller>),
        )
        .route("/v1/s/actions", get(actions::session_list))
        .route(
            "/v1/s/actions/{action_id}",
            post(actions::run_route::<resources::SessionCaller>),
        )
        // Set before the CORS layer: a 405 fallback added afterwards would sit outside it, and a
        // preflight (`OPTIONS`, a method these routes lack) would never reach CORS.
        .method_not_allowed_fallback(method_not_allowed);
    match cors::BrowserCors::new(&state.config.allowed_origins) {
        Some(c) => routes.layer(axum::middleware::from_fn_with_state(c, cors::browser_cors)),
        None => routes,
    }
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    match state.store.list_connections(None, None, 1).await {
        Ok(_) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "store not reachable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServerNotReady,
                "the database is not reachable",
            )
            .into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::RequestNotFound,
        "no such route",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::RequestMethodNotAllowed,
        "method not allowed on this route",
    )
}

/// Connects the store named by the configuration, applies its migrations and serves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.check_for_serve()?;
    let store = connect_store(&config).await?;
    run_with_store(config, store, listener, shutdown).await
}

/// Connects and migrates the store named by the configuration.
pub async fn connect_store(config: &Config) -> Result<Arc<dyn Store>, ServerError> {
    let cipher = config.cipher()?;
    let store = dpc_store::connect(config.database_url.expose_secret(), cipher).await?;
    store.migrate().await?;
    Ok(dpc_store::CachedStore::wrap(store, config.cache_ttl))
}

/// Serves with an already connected store until `shutdown` resolves (in-flight requests finish),
/// with the connection limits of the configuration (`serve.rs`).
pub async fn run_with_store(
    config: Config,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let limits = serve::ConnectionLimits {
        header_read_timeout: config.header_read_timeout,
        max_connections: config.max_connections,
    };
    let state = AppState::new(config, store.clone())?;
    let webhooks = state.config.webhooks.clone();
    state.set_outbox_gauge(Arc::new(webhooks::StoreGauge(store.clone())));
    let app = router(state.clone());
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "dialpad-connector listening");
    }
    // Expired sessions and OAuth states would otherwise pile up; every instance may purge (the
    // delete is idempotent), so no coordination is needed between instances.
    let purger = tokio::spawn(purge_expired_periodically(
        store.clone(),
        webhooks.retention,
    ));
    // Every instance delivers: the store's claims hand each delivery to one of them.
    let delivery = tokio::spawn(webhooks::delivery::run(
        store,
        state.delivery.clone(),
        webhooks,
    ));
    let normalizer = tokio::spawn(intake::normalize::run(state.clone()));
    // Each connection's Dialpad subscriptions, recreated when gone (every instance may run
    // it: a round only adds what is missing).
    let repair = tokio::spawn(intake::subscriptions::repair_periodically(state.clone()));
    // Users and workspaces, which Dialpad sends no events for (every instance polls: the
    // store's leases give each connection's poll to one of them).
    let poller = tokio::spawn(intake::poll::run(state.clone()));
    serve::serve(listener, app, limits, shutdown).await;
    repair.abort();
    poller.abort();
    state.ws_supervisors.stop_all();
    purger.abort();
    delivery.abort();
    normalizer.abort();
    Ok(())
}

/// How often expired sessions and OAuth states are deleted, and how long past expiry they are
/// kept (so an `expired` answer stays precise for a while instead of turning into `invalid`).
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
const PURGE_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

async fn purge_expired_periodically(store: Arc<dyn Store>, retention: Duration) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tick.tick().await;
        let before = dpc_store::events::now_ms() - retention.as_millis() as i64;
        match store.purge_events(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "events past their retention deleted"),
            Err(e) => tracing::warn!(error = %e, "purging old events failed"),
        }
        match store
            .purge_idempotency_keys(dpc_store::events::now_ms())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "idempotency keys past their 24 h deleted"),
            Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed"),
        }
        match store.purge_expired(PURGE_GRACE).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired sessions and OAuth states deleted"),
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
        }
    }
}
