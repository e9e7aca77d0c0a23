//! A faithful local simulator of Dialpad API v2.
//!
//! Same paths as dialpad.com on one host (`/api/v2/…`, `/oauth2/…`, and the websocket event
//! service's `/events/{token}`), Dialpad's wire format, in-memory state seeded
//! deterministically, and a `/_sim/` control API for tests.
//! It deliberately shares no code with the `dialpad` client crate: two independent readings of
//! Dialpad's spec catch mistakes one shared model would hide.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = dialpad_sim::spawn(dialpad_sim::SimConfig::default()).await?;
//! println!("Dialpad at {} with key {}", sim.base_url, sim.api_key);
//! # Ok(()) }
//! ```

mod activity;
mod auth;
mod body;
mod channels;
mod config;
mod contacts;
mod control;
mod error;
mod events;
mod faults;
mod oauth;
pub mod operations;
mod org;
mod pagination;
mod params;
mod ratelimit;
mod seed;
mod state;
mod subscriptions;
mod websockets;
mod wire;

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

pub use config::{OAuthClientConfig, SimConfig};
pub use events::{Delivery, DeliveryPolicy};
pub use operations::Op;
pub use state::{AccessToken, Sim, Stats};

use error::ApiError;

/// The simulator's routes with its middleware (request stats, body limit, Dialpad's 404/405).
pub fn router(sim: Sim) -> Router {
    Router::new()
        .merge(contacts::routes())
        .merge(org::routes())
        .merge(oauth::routes())
        .merge(activity::routes())
        .merge(channels::routes())
        .merge(subscriptions::routes())
        .merge(websockets::routes())
        .merge(control::routes(sim.clone()))
        .fallback(|| async { ApiError::not_found("Route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "methodNotAllowed",
                "Method not allowed",
            )
        })
        .layer(middleware::from_fn_with_state(sim.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(sim.clone(), inject_faults))
        .layer(middleware::from_fn_with_state(sim.clone(), count_requests))
        .layer(axum::extract::DefaultBodyLimit::max(body::MAX_BODY))
        .with_state(sim)
}

/// Counts requests per operation (`"GET /api/v2/users/{id}"`) for `/_sim/stats`.
async fn count_requests(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    if let Some(path) = req.extensions().get::<MatchedPath>() {
        if !path.as_str().starts_with("/_sim/") {
            let key = format!("{} {}", req.method(), path.as_str());
            *sim.stats().lock().requests.entry(key).or_default() += 1;
        }
    }
    next.run(req).await
}

/// Injected faults (`/_sim/faults`): latency first, then either an error answered *before* the
/// handler runs (nothing happened), or a connection dropped *after* it ran (the change happened
/// but the caller never learns it: the case that must stop a client from repeating a POST).
async fn inject_faults(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let faults = &sim.0.faults;
    if faults.is_empty() || req.uri().path().starts_with("/_sim/") {
        return next.run(req).await;
    }
    let verdict = faults.verdict(req.method().as_str(), req.uri().path());
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    if let Some(status) = verdict.fail_with {
        let status = axum::http::StatusCode::from_u16(status)
            .unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE);
        return ApiError::new(status, "backendError", "Injected fault").into_response();
    }
    let resp = next.run(req).await;
    if verdict.drop {
        sim.stats().lock().connections_dropped += 1;
        // A body that fails makes hyper abort the connection mid-response.
        let failing = futures::stream::once(async {
            Err::<axum::body::Bytes, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "injected drop",
            ))
        });
        return Response::builder()
            .status(resp.status())
            .body(axum::body::Body::from_stream(failing))
            .unwrap_or(resp);
    }
    resp
}

/// Applies Dialpad's rate limits to `/api/v2` when the configuration turns them on.
async fn rate_limit(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    if sim.config().rate_limit {
        if let Some(path) = req.extensions().get::<MatchedPath>() {
            let path = path.as_str();
            if path.starts_with("/api/v2/") {
                let method = req.method().as_str();
                let mut limits = vec![("company".to_owned(), ratelimit::COMPANY_LIMIT)];
                if let Some(limit) = ratelimit::operation_limit(method, path) {
                    let key = if ratelimit::per_user(method, path) {
                        format!("{method} {}", req.uri().path())
                    } else {
                        format!("{method} {path}")
                    };
                    limits.push((key, limit));
                }
                if let Err(wait) = sim.0.rate_limiter.check(&limits) {
                    sim.stats().lock().rate_limited += 1;
                    // Retry-After is whole seconds; never tell a client to retry at once.
                    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    return ApiError::rate_limited(secs.max(1)).into_response();
                }
            }
        }
    }
    next.run(req).await
}

/// Serves the simulator on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    sim: Sim,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Dialpad accepts trailing slashes; strip them before routing.
    let app = NormalizePathLayer::trim_trailing_slash().layer(router(sim));
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// A simulator running in the background on an ephemeral loopback port (for tests).
/// Dropping it stops the server.
pub struct SimHandle {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// The first configured API key.
    pub api_key: String,
    pub sim: Sim,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl SimHandle {
    pub fn stats(&self) -> Stats {
        self.sim.stats().lock().clone()
    }
}

/// Starts a simulator on `127.0.0.1:0`.
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let api_key = config.api_keys.first().cloned().unwrap_or_default();
    let sim = Sim::new(config);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = sim.clone();
    tokio::spawn(async move {
        let _ = serve(listener, served, async {
            let _ = rx.await;
        })
        .await;
    });
    Ok(SimHandle {
        addr,
        base_url: format!("http://{addr}"),
        api_key,
        sim,
        _shutdown: tx,
    })
}

impl IntoResponse for Stats {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}
