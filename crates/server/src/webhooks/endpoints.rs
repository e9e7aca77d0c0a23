//! `/v1/webhook-endpoints`: where the app receives events. The secret (`whsec_…`) is answered
//! once, on create and on rotate; the store keeps it sealed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use dpc_store::events::{Attempt, Endpoint, EndpointPatch, NewEndpoint};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{iso_ms, EVENT_TYPES};
use crate::auth::ApiKeyAuth;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::AppState;

/// The longest endpoint URL accepted (browsers' and proxies' common limit).
pub const MAX_URL_LEN: usize = 2048;

/// How long the secret before a rotation keeps signing beside the new one.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

/// A webhook endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointObject {
    /// Always `webhookEndpoint`.
    pub object: &'static str,
    pub id: String,
    pub url: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
    /// Only this owner's events, when set.
    pub owner_id: Option<String>,
    pub description: Option<String>,
    pub disabled: bool,
    /// Why it was disabled (by the app, a `410 Gone`, or failing too long).
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed.
    pub failing_since: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The signing secret: answered on create and on rotate only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

pub fn endpoint_json(e: &Endpoint, secret: Option<&SecretString>) -> EndpointObject {
    EndpointObject {
        object: "webhookEndpoint",
        id: e.id.clone(),
        url: e.url.clone(),
        events: e.events.clone(),
        owner_id: e.owner_id.clone(),
        description: e.description.clone(),
        disabled: e.disabled,
        disabled_reason: e.disabled_reason.clone(),
        failing_since: e.failing_since.map(iso_ms),
        created_at: iso_ms(e.created_at),
        updated_at: iso_ms(e.updated_at),
        secret: secret.map(|s| s.expose_secret().to_owned()),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<EndpointObject>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointCreate {
    /// `https://…` (or `http://`); private and loopback addresses are refused unless allowed in
    /// the configuration.
    pub url: String,
    /// Event types, or `["*"]` (the default).
    pub events: Option<Vec<String>>,
    pub owner_id: Option<String>,
    pub description: Option<String>,
    pub disabled: Option<bool>,
}

/// A partial change: a field left out is kept; `null` clears `ownerId` and `description`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointUpdate {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub owner_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub disabled: Option<bool>,
}

/// `Some(None)` for an explicit `null`, `None` (by `default`) when the field is absent.
fn present<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

pub(crate) fn limit_of(limit: Option<u32>) -> ApiResult<u32> {
    let limit = limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 100")
            .with_details(json!({"field": "limit"})));
    }
    Ok(limit)
}

pub(crate) fn cursor_error(e: dpc_store::StoreError) -> ApiError {
    match e {
        dpc_store::StoreError::NotFound => {
            ApiError::invalid("invalid cursor").with_details(json!({"field": "cursor"}))
        }
        other => other.into(),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::of(
        dpc_core::ErrorCode::ResourceNotFound,
        format!("no webhook endpoint {id:?}"),
    )
}

/// 422 with the failing field paths.
fn invalid_fields(errors: Vec<(String, String)>) -> ApiError {
    let details: Vec<_> = errors
        .iter()
        .map(|(f, m)| json!({"field": f, "message": m}))
        .collect();
    let first = errors
        .first()
        .map(|(f, m)| format!("{f}: {m}"))
        .unwrap_or_default();
    ApiError::of(
        dpc_core::ErrorCode::ResourceValidationFailed,
        format!("the webhook endpoint is invalid: {first}"),
    )
    .with_details(json!({ "errors": details }))
}

/// Checks the URL now (scheme, host, and every address it resolves to); delivery checks the
/// addresses again at each connect, so a name that later resolves inward is still refused.
async fn check_url(state: &AppState, url: &str, errors: &mut Vec<(String, String)>) {
    let allow = state.config.webhooks.allow_private_urls;
    if url.len() > MAX_URL_LEN {
        errors.push(("url".into(), format!("at most {MAX_URL_LEN} characters")));
        return;
    }
    match crate::ssrf::check_url(url, allow) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default().to_owned();
            let port = u.port_or_known_default().unwrap_or(443);
            if let Err(e) = crate::ssrf::resolve_public(&host, port, allow).await {
                errors.push(("url".into(), e.to_string()));
            }
        }
        Err(e) => errors.push(("url".into(), e.to_string())),
    }
}

fn check_events(events: &[String], errors: &mut Vec<(String, String)>) {
    if events.is_empty() {
        errors.push((
            "events".into(),
            "name at least one event type, or \"*\"".into(),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        if e != "*" && !EVENT_TYPES.contains(&e.as_str()) {
            errors.push((
                format!("events[{i}]"),
                format!(
                    "unknown event type {e:?}; known: * or {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    }
}

fn check_text(name: &str, v: Option<&str>, max: usize, errors: &mut Vec<(String, String)>) {
    if let Some(v) = v {
        // An empty owner filter would match no connection: a silent no-op endpoint.
        if name == "ownerId" && v.trim().is_empty() {
            errors.push((
                name.into(),
                "must not be empty (leave it out for every owner)".into(),
            ));
        } else if v.chars().count() > max {
            errors.push((name.into(), format!("at most {max} characters")));
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiJson(body): ApiJson<EndpointCreate>,
) -> ApiResult<(StatusCode, Json<EndpointObject>)> {
    let created = create_endpoint(&state, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Checks and stores a new endpoint (the route's and the CLI's way in); the answer carries the
/// secret, this once.
pub async fn create_endpoint(state: &AppState, body: EndpointCreate) -> ApiResult<EndpointObject> {
    let events = body.events.unwrap_or_else(|| vec!["*".to_owned()]);
    let mut errors = Vec::new();
    check_url(state, &body.url, &mut errors).await;
    check_events(&events, &mut errors);
    check_text("ownerId", body.owner_id.as_deref(), 256, &mut errors);
    check_text(
        "description",
        body.description.as_deref(),
        1024,
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(invalid_fields(errors));
    }
    // Checked before the insert, so two creates racing at the cap may both pass: the cap
    // bounds work per event, one over it is harmless.
    let max = state.config.webhooks.max_endpoints;
    if state.store.count_endpoints().await? >= max {
        return Err(ApiError::of(
            dpc_core::ErrorCode::LimitReached,
            format!(
                "at most {max} webhook endpoints may exist (DPC_WEBHOOKS_MAX_ENDPOINTS): delete one first"
            ),
        ));
    }
    let secret = SecretString::from(dpc_core::events::new_secret());
    let e = state
        .store
        .create_endpoint(
            &NewEndpoint {
                url: body.url,
                events,
                owner_id: body.owner_id,
                description: body.description,
                disabled: body.disabled.unwrap_or(false),
            },
            &secret,
        )
        .await?;
    state.delivery.endpoints_changed();
    state.intake_repair.notify_one();
    Ok(endpoint_json(&e, Some(&secret)))
}

pub async fn list(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<EndpointList>> {
    Ok(Json(list_page(&state, q).await?))
}

/// One page of endpoints, oldest first (no secrets).
pub async fn list_page(state: &AppState, q: PageQuery) -> ApiResult<EndpointList> {
    let limit = limit_of(q.limit)?;
    let (items, next) = state
        .store
        .list_endpoints(q.cursor.as_deref(), limit)
        .await
        .map_err(cursor_error)?;
    Ok(EndpointList {
        object: "list",
        data: items.iter().map(|e| endpoint_json(e, None)).collect(),
        next,
    })
}

pub async fn get(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<EndpointObject>> {
    let e = state
        .store
        .get_endpoint(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(endpoint_json(&e, None)))
}

pub async fn update(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EndpointUpdate>,
) -> ApiResult<Json<EndpointObject>> {
    let mut errors = Vec::new();
    if let Some(url) = &body.url {
        check_url(&state, url, &mut errors).await;
    }
    if let Some(events) = &body.events {
        check_events(events, &mut errors);
    }
    check_text(
        "ownerId",
        body.owner_id.as_ref().and_then(|o| o.as_deref()),
        256,
        &mut errors,
    );
    check_text(
        "description",
        body.description.as_ref().and_then(|o| o.as_deref()),
        1024,
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(invalid_fields(errors));
    }
    let patch = EndpointPatch {
        url: body.url,
        events: body.events,
        owner_id: body.owner_id,
        description: body.description,
        disabled: body.disabled,
    };
    let e = match state.store.update_endpoint(&id, &patch).await {
        Ok(e) => e,
        Err(dpc_store::StoreError::NotFound) => return Err(not_found(&id)),
        Err(e) => return Err(e.into()),
    };
    state.delivery.endpoints_changed();
    state.intake_repair.notify_one();
    Ok(Json(endpoint_json(&e, None)))
}

pub async fn delete(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if !state.store.delete_endpoint(&id).await? {
        return Err(not_found(&id));
    }
    state.delivery.endpoints_changed();
    state.intake_repair.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret; the old one keeps signing beside it for 24 h (receivers verify either).
pub async fn rotate_secret(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<EndpointObject>> {
    let secret = SecretString::from(dpc_core::events::new_secret());
    let until = dpc_store::events::now_ms() + ROTATION_OVERLAP_MS;
    match state
        .store
        .rotate_endpoint_secret(&id, &secret, until)
        .await
    {
        Ok(()) => {}
        Err(dpc_store::StoreError::NotFound) => return Err(not_found(&id)),
        Err(e) => return Err(e.into()),
    }
    state.delivery.endpoints_changed();
    state.intake_repair.notify_one();
    let e = state
        .store
        .get_endpoint(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(endpoint_json(&e, Some(&secret))))
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptObject {
    /// Always `deliveryAttempt`.
    pub object: &'static str,
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    /// 1 for the first attempt of the delivery.
    pub attempt: i64,
    pub attempted_at: String,
    /// The receiver's status; `null` when no answer came (timeout, refused connection).
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// The answer's first bytes.
    pub response: Option<String>,
}

pub fn attempt_json(a: &Attempt) -> AttemptObject {
    AttemptObject {
        object: "deliveryAttempt",
        id: a.id.clone(),
        event_id: a.event_id.clone(),
        endpoint_id: a.endpoint_id.clone(),
        attempt: a.attempt,
        attempted_at: iso_ms(a.attempted_at),
        status_code: a.status_code,
        duration_ms: a.duration_ms,
        error: a.error.clone(),
        response: a.response.clone(),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<AttemptObject>,
    pub next: Option<String>,
}

pub async fn attempts(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<AttemptList>> {
    let limit = limit_of(q.limit)?;
    if state.store.get_endpoint(&id).await?.is_none() {
        return Err(not_found(&id));
    }
    let (items, next) = state
        .store
        .list_attempts(Some(&id), None, q.cursor.as_deref(), limit)
        .await
        .map_err(cursor_error)?;
    Ok(Json(AttemptList {
        object: "list",
        data: items.iter().map(attempt_json).collect(),
        next,
    }))
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointReplay {
    /// Failed deliveries of events since this time (ISO-8601); default: the last 24 hours.
    pub since: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplayAnswer {
    /// Deliveries scheduled again.
    pub scheduled: u64,
}

pub async fn replay(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EndpointReplay>,
) -> ApiResult<(StatusCode, Json<ReplayAnswer>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(replay_endpoint(&state, &id, body).await?),
    ))
}

/// Schedules again the endpoint's failed deliveries of events since `since`.
pub async fn replay_endpoint(
    state: &AppState,
    id: &str,
    body: EndpointReplay,
) -> ApiResult<ReplayAnswer> {
    let since = match body.since {
        Some(s) => super::parse_time(&s)
            .ok_or_else(|| invalid_fields(vec![("since".into(), "not an ISO-8601 time".into())]))?,
        None => dpc_store::events::now_ms() - 24 * 3600 * 1000,
    };
    if state.store.get_endpoint(id).await?.is_none() {
        return Err(not_found(id));
    }
    let scheduled = state.store.replay_endpoint(id, since).await?;
    state.delivery.wake();
    Ok(ReplayAnswer { scheduled })
}
