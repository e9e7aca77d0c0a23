//! The `/_sim/` test-control API (not Dialpad's). Guarded by the admin key when one is set.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::state::Sim;

pub fn routes(sim: Sim) -> Router<Sim> {
    Router::new()
        .route("/_sim/reset", post(reset))
        .route("/_sim/seed", post(reseed))
        .route("/_sim/stats", get(stats))
        .route_layer(middleware::from_fn_with_state(sim, require_admin))
}

async fn require_admin(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    if let Some(key) = &sim.config().admin_key {
        let ok = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|v| v == key);
        if !ok {
            return ApiError::unauthorized("Missing or wrong simulator admin key").into_response();
        }
    }
    next.run(req).await
}

/// Back to the configured seed's data set.
async fn reset(State(sim): State<Sim>) -> Json<serde_json::Value> {
    sim.reset(sim.config().seed);
    Json(serde_json::json!({"seed": sim.config().seed}))
}

#[derive(Deserialize)]
struct SeedRequest {
    seed: u64,
}

/// Replace all data with another seed's data set.
async fn reseed(State(sim): State<Sim>, JsonBody(req): JsonBody<SeedRequest>) -> Json<serde_json::Value> {
    sim.reset(req.seed);
    Json(serde_json::json!({"seed": req.seed}))
}

async fn stats(State(sim): State<Sim>) -> Json<crate::state::Stats> {
    Json(sim.stats().lock().clone())
}
