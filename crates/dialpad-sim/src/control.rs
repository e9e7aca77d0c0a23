//! The `/_sim/` test-control API (not Dialpad's). Guarded by the admin key when one is set.
//!
//! For the actions' tests: `POST /_sim/calls` with `stop_at` leaves a played call live,
//! `POST /_sim/calls/{id}/park` parks an active call (for `call.unpark`), `GET /_sim/sms` lists
//! every SMS sent or received (oldest first) and `GET /_sim/screenpops` every screen pop.

use axum::extract::Path;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::body::JsonBody;
use crate::contacts::{CreateContact, UpdateContact};
use crate::error::ApiError;
use crate::events::payloads::{AgentStatus, AgentTarget};
use crate::events::{Delivery, DeliveryPolicy, Event};
use crate::faults::{Fault, Faults};
use crate::state::{Caller, Sim};
use crate::wire::{self, Reply};

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
        .route("/_sim/calls", post(crate::events::calls::play_call))
        .route("/_sim/calls/{id}/park", post(crate::activity::park))
        .route("/_sim/sms", get(sms_log))
        .route("/_sim/sms/inbound", post(crate::activity::sms::inbound))
        .route("/_sim/screenpops", get(screen_pops))
        .route("/_sim/agent_status", post(agent_status))
        .route("/_sim/contacts", post(create_contact))
        .route(
            "/_sim/contacts/{id}",
            patch(update_contact).delete(delete_contact),
        )
        .route("/_sim/deliveries", get(deliveries).delete(clear_deliveries))
        .route("/_sim/deliveries/policy", get(get_policy).put(put_policy))
        .route("/_sim/websockets", get(websockets))
        .route("/_sim/websockets/drop", post(drop_websockets))
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
    sim.0.faults.add(fault).map_err(ApiError::bad_request)?;
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
    Json(serde_json::json!({"expired": sim.expire_tokens()}))
}

/// Edits in Dialpad's app, not through the API: the same effects and contact events.
fn app_user() -> Caller {
    Caller {
        user_id: None,
        scopes: None,
    }
}

async fn create_contact(
    state: State<Sim>,
    body: JsonBody<CreateContact>,
) -> Result<Reply, ApiError> {
    crate::contacts::create(state, app_user(), body).await
}

async fn update_contact(
    state: State<Sim>,
    id: Path<String>,
    body: JsonBody<UpdateContact>,
) -> Result<Reply, ApiError> {
    crate::contacts::update(state, app_user(), id, body).await
}

async fn delete_contact(state: State<Sim>, id: Path<String>) -> Result<Reply, ApiError> {
    crate::contacts::delete(state, app_user(), id).await
}

/// `GET /_sim/sms`: every message the company sent (`POST /api/v2/sms`) or received
/// (`/_sim/sms/inbound`, the seed), oldest first, newest last, as `GET` would show them.
async fn sms_log(State(sim): State<Sim>) -> Json<Vec<crate::activity::Sms>> {
    // Ids increase with every message, so id order is the order they were made in.
    Json(sim.db().read().sms.values().cloned().collect())
}

/// `GET /_sim/screenpops`: the screen pops sent to users' apps, oldest first.
async fn screen_pops(State(sim): State<Sim>) -> Json<Vec<crate::activity::ScreenPop>> {
    Json(sim.db().read().screen_pops.iter().cloned().collect())
}

async fn deliveries(State(sim): State<Sim>) -> Json<Vec<Delivery>> {
    Json(sim.deliveries())
}

async fn clear_deliveries(State(sim): State<Sim>) -> Json<serde_json::Value> {
    sim.0.events.clear();
    Json(serde_json::json!({}))
}

async fn get_policy(State(sim): State<Sim>) -> Json<DeliveryPolicy> {
    Json(sim.delivery_policy())
}

async fn put_policy(
    State(sim): State<Sim>,
    JsonBody(p): JsonBody<DeliveryPolicy>,
) -> Result<Json<DeliveryPolicy>, ApiError> {
    if p.retry_delays_ms.len() > 10 {
        return Err(ApiError::invalid_field(
            "retry_delays_ms",
            "at most 10 retries",
        ));
    }
    sim.set_delivery_policy(p);
    Ok(Json(sim.delivery_policy()))
}

/// Open connections and buffered events per websocket id (ids as strings, JSON keys).
async fn websockets(State(sim): State<Sim>) -> Json<serde_json::Value> {
    let (open, buffered) = sim.0.events.sockets.census();
    Json(serde_json::json!({"open": open, "buffered": buffered}))
}

#[derive(Deserialize)]
struct DropWebsockets {
    /// Only this websocket's connections (default: every websocket's).
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    websocket_id: Option<i64>,
}

/// `POST /_sim/websockets/drop`: cuts open websocket connections without a close handshake, as
/// a network failure would, so a client's reconnect can be tested. Events raised meanwhile
/// wait in the websocket's buffer.
async fn drop_websockets(
    State(sim): State<Sim>,
    JsonBody(req): JsonBody<DropWebsockets>,
) -> Json<serde_json::Value> {
    let n = sim
        .0
        .events
        .sockets
        .signal(req.websocket_id, crate::events::sockets::Control::Drop);
    Json(serde_json::json!({"dropped": n}))
}

const ON_DUTY_STATUSES: &[&str] = &["available", "unavailable", "occupied", "wrapup", "busy"];

#[derive(Deserialize)]
struct AgentStatusChange {
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    user_id: Option<i64>,
    /// `true` = `available`, `false` = `unavailable` (or give `on_duty_status`).
    on_duty: Option<bool>,
    on_duty_status: Option<String>,
    on_duty_status_reason: Option<String>,
    availability_status: Option<String>,
    #[serde(default, deserialize_with = "wire::flex::vec_i64")]
    call_center_ids: Vec<i64>,
    powerdialer_mode: Option<bool>,
    powerdialer_session: Option<String>,
}

/// `POST /_sim/agent_status`: a call center agent changes duty status in Dialpad's app.
async fn agent_status(
    State(sim): State<Sim>,
    JsonBody(req): JsonBody<AgentStatusChange>,
) -> Result<Json<AgentStatus>, ApiError> {
    let user_id = req
        .user_id
        .ok_or_else(|| ApiError::missing_field("user_id"))?;
    let status = match (req.on_duty_status, req.on_duty) {
        (Some(s), _) if ON_DUTY_STATUSES.contains(&s.as_str()) => s,
        (Some(s), _) => {
            return Err(ApiError::invalid_field(
                "on_duty_status",
                format!("{s:?} is not one of {}", ON_DUTY_STATUSES.join(", ")),
            ))
        }
        (None, Some(false)) => "unavailable".to_owned(),
        (None, _) => "available".to_owned(),
    };
    let availability = match req.availability_status {
        Some(a) if a == "available" || a == "unavailable" => a,
        Some(a) => {
            return Err(ApiError::invalid_field(
                "availability_status",
                format!("{a:?} is not one of available, unavailable"),
            ))
        }
        None if status == "available" => "available".to_owned(),
        None => "unavailable".to_owned(),
    };
    let db = sim.db().read();
    let user = db
        .user_card(user_id)
        .ok_or_else(|| ApiError::invalid_field("user_id", format!("no user with id {user_id}")))?;
    let now = wire::now_ms();
    let event = AgentStatus {
        availability_status: availability,
        call_center_ids: if status == "unavailable" {
            Vec::new()
        } else {
            req.call_center_ids.iter().map(i64::to_string).collect()
        },
        date: now,
        event_timestamp: now,
        on_duty_status: status,
        on_duty_status_reason: req.on_duty_status_reason,
        powerdialer_mode: req.powerdialer_mode.unwrap_or(false),
        powerdialer_session: req.powerdialer_session,
        target: AgentTarget {
            email: user.email,
            id: user.id,
            name: user.name,
            phone: user.phone,
            kind: "user".to_owned(),
        },
    };
    sim.emit(&db, Event::AgentStatus(&event));
    Ok(Json(event))
}
