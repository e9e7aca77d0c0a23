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
use crate::faults::{Fault, Faults};
use crate::state::Sim;

pub fn routes(sim: Sim) -> Router<Sim> {
    Router::new()
        .route("/_sim/reset", post(reset))
        .route("/_sim/seed", post(reseed))
        .route("/_sim/stats", get(stats))
        .route(
            "/_sim/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_sim/tokens/expire", post(expire_tokens))
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
async fn reseed(
    State(sim): State<Sim>,
    JsonBody(req): JsonBody<SeedRequest>,
) -> Json<serde_json::Value> {
    sim.reset(req.seed);
    Json(serde_json::json!({"seed": req.seed}))
}

async fn stats(State(sim): State<Sim>) -> Json<crate::state::Stats> {
    Json(sim.stats().lock().clone())
}

async fn add_fault(
    State(sim): State<Sim>,
    JsonBody(fault): JsonBody<Fault>,
) -> Result<Json<Vec<Fault>>, ApiError> {
    Faults::validate(&fault).map_err(ApiError::bad_request)?;
    sim.0.faults.add(fault);
    Ok(Json(sim.0.faults.list()))
}

async fn list_faults(State(sim): State<Sim>) -> Json<Vec<Fault>> {
    Json(sim.0.faults.list())
}

async fn clear_faults(State(sim): State<Sim>) -> Json<serde_json::Value> {
    sim.0.faults.clear();
    Json(serde_json::json!({}))
}

/// Expires every OAuth access token now, so the next call with one gets 401 (refresh tests).
async fn expire_tokens(State(sim): State<Sim>) -> Json<serde_json::Value> {
    let mut db = sim.db().write();
    let now = crate::wire::now_ms();
    let mut expired = 0;
    for t in db.oauth.access_tokens.values_mut() {
        if t.expires_at_ms > now {
            t.expires_at_ms = now - 1;
            expired += 1;
        }
    }
    Json(serde_json::json!({"expired": expired}))
}
