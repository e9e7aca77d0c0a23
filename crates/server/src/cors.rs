//! CORS for the browser routes (the session-token twins under `/v1/s/…`): the app's own web
//! pages (`DPC_ALLOWED_ORIGINS`) may call them with `fetch`, as Morph's front-end SDK does.
//! The secret-key routes never answer CORS: a secret key has no business in a browser, and
//! without CORS headers a page that tried would be stopped by the browser itself.
//!
//! tower-http's `CorsLayer` answers every `OPTIONS` itself, with `access-control-allow-methods`
//! and `-headers` even for an origin it then refuses. So the layer only ever sees requests whose
//! `Origin` is on the list; any other request reaches the route exactly as if CORS were off
//! (an `OPTIONS` gets our JSON 405), and a probe learns nothing about what we would allow.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Headers Morph's browser SDK (`@runmorph/cloud` 0.0.7, `request()` in `src/index.ts`) sends on
/// every call: `Content-Type: application/json` (even on a GET, so every call is preflighted),
/// `x-api-key` (its public key) and `x-session-token`. `x-api-secret` is deliberately absent.
pub const ALLOWED_HEADERS: [&str; 4] = [
    "content-type",
    "x-api-key",
    "x-session-token",
    // a page retrying an action safely (`/v1/s/actions/{id}`)
    "idempotency-key",
];

/// How long a browser may reuse a preflight answer: the SDK's calls all need one, and without
/// caching each call would cost two round trips.
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The allowed origins and the CORS layer built for them.
pub struct BrowserCors {
    origins: Vec<HeaderValue>,
    layer: CorsLayer,
}

impl BrowserCors {
    /// `None` when no origin is configured: then no CORS is answered at all.
    pub fn new(origins: &[String]) -> Option<Arc<Self>> {
        // Config validated every origin as `scheme://host[:port]`, so each is a valid header value.
        let origins: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        if origins.is_empty() {
            return None;
        }
        let layer = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.clone()))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            // so that a page can tell an action's replayed answer
            .expose_headers([HeaderName::from_static("idempotent-replayed")])
            // Sessions travel in a header, never in cookies: credentials stay off.
            .allow_credentials(false)
            .max_age(PREFLIGHT_MAX_AGE);
        Some(Arc::new(BrowserCors { origins, layer }))
    }

    fn allows(&self, req: &Request) -> bool {
        req.headers()
            .get(header::ORIGIN)
            .is_some_and(|o| self.origins.contains(o))
    }
}

/// The middleware on the browser routes: an allowed origin goes through the CORS layer, any
/// other request straight to the route.
pub async fn browser_cors(
    State(cors): State<Arc<BrowserCors>>,
    req: Request,
    next: Next,
) -> Response {
    if !cors.allows(&req) {
        return next.run(req).await;
    }
    match cors.layer.layer(next).oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
