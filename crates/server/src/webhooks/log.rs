//! `/v1/events`: the event log (each event with the body it was sent with), its deliveries and
//! attempts, and replay.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use dpc_store::events::{Delivery, EventFilter, EventRecord};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::endpoints::{attempt_json, cursor_error, limit_of, AttemptObject, ReplayAnswer};
use super::{iso_ms, parse_time, EVENT_TYPES};
use crate::auth::ApiKeyAuth;
use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::AppState;

/// An event as logged.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventObject {
    /// Always `event`.
    pub object: &'static str,
    /// Also the `webhook-id` of its deliveries.
    pub id: String,
    pub event: String,
    pub connector_id: String,
    pub owner_id: String,
    pub model: String,
    pub resource_id: String,
    pub source: String,
    pub occurred_at: String,
    pub created_at: String,
    /// `pending`, `delivered`, `failed` (a delivery was given up on) or `none` (no endpoint
    /// wanted it).
    pub status: String,
    /// The body sent to endpoints.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// With `GET /v1/events/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<DeliveryObject>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptObject>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryObject {
    pub id: String,
    pub endpoint_id: String,
    /// `pending`, `delivering`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

fn delivery_json(d: &Delivery) -> DeliveryObject {
    DeliveryObject {
        id: d.id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        next_attempt_at: (d.status == "pending").then(|| iso_ms(d.next_attempt_at)),
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        delivered_at: d.delivered_at.map(iso_ms),
    }
}

fn event_json(e: &EventRecord) -> EventObject {
    EventObject {
        object: "event",
        id: e.id.clone(),
        event: e.event_type.clone(),
        connector_id: e.connector_id.clone(),
        owner_id: e.owner_id.clone(),
        model: e.model.clone(),
        resource_id: e.resource_id.clone(),
        source: e.source.clone(),
        occurred_at: iso_ms(e.occurred_at),
        created_at: iso_ms(e.created_at),
        status: e.status.clone(),
        payload: serde_json::from_str(&e.body).unwrap_or(Value::Null),
        deliveries: None,
        attempts: None,
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<EventObject>,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    pub event: Option<String>,
    pub owner_id: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub status: Option<String>,
}

const STATUSES: &[&str] = &["pending", "delivered", "failed", "none"];

fn time_param(name: &str, v: Option<&str>) -> ApiResult<Option<i64>> {
    v.map(|s| {
        parse_time(s).ok_or_else(|| {
            ApiError::invalid(format!("{name} must be an ISO-8601 time"))
                .with_details(json!({"field": name}))
        })
    })
    .transpose()
}

/// Newest first.
pub async fn list(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<EventList>> {
    Ok(Json(list_page(&state, q).await?))
}

/// One page of the event log, newest first (the route's and the CLI's way in).
pub async fn list_page(state: &AppState, q: EventQuery) -> ApiResult<EventList> {
    let limit = limit_of(q.limit)?;
    if let Some(e) = &q.event {
        if !EVENT_TYPES.contains(&e.as_str()) {
            return Err(ApiError::invalid(format!(
                "unknown event type {e:?}; known: {}",
                EVENT_TYPES.join(", ")
            ))
            .with_details(json!({"field": "event"})));
        }
    }
    if let Some(s) = &q.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::invalid(format!(
                "status must be one of {}",
                STATUSES.join(", ")
            ))
            .with_details(json!({"field": "status"})));
        }
    }
    let filter = EventFilter {
        event_type: q.event,
        owner_id: q.owner_id,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        status: q.status,
    };
    let (items, next) = state
        .store
        .list_events(&filter, q.cursor.as_deref(), limit)
        .await
        .map_err(cursor_error)?;
    Ok(EventList {
        object: "list",
        data: items.iter().map(event_json).collect(),
        next,
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::of(
        dpc_core::ErrorCode::ResourceNotFound,
        format!("no event {id:?}"),
    )
}

/// With its deliveries and their last 100 attempts.
pub async fn get(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<EventObject>> {
    Ok(Json(event_with_attempts(&state, &id).await?))
}

/// The event with its deliveries and their last 100 attempts.
pub async fn event_with_attempts(state: &AppState, id: &str) -> ApiResult<EventObject> {
    let e = state
        .store
        .get_event(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let deliveries = state.store.event_deliveries(id).await?;
    let (attempts, _) = state.store.list_attempts(None, Some(id), None, 100).await?;
    let mut out = event_json(&e);
    out.deliveries = Some(deliveries.iter().map(delivery_json).collect());
    out.attempts = Some(attempts.iter().map(attempt_json).collect());
    Ok(out)
}

/// Sends the event again, with the same `webhook-id`, to every endpoint that got or wanted it.
pub async fn replay(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<ReplayAnswer>)> {
    Ok((StatusCode::ACCEPTED, Json(replay_event(&state, &id).await?)))
}

/// Schedules the event again (same `webhook-id`) for every endpoint that got or wanted it.
pub async fn replay_event(state: &AppState, id: &str) -> ApiResult<ReplayAnswer> {
    let scheduled = match state.store.replay_event(id).await {
        Ok(n) => n,
        Err(dpc_store::StoreError::NotFound) => return Err(not_found(id)),
        Err(e) => return Err(e.into()),
    };
    state.delivery.wake();
    Ok(ReplayAnswer { scheduled })
}
