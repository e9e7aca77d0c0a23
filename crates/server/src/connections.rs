//! Connection routes (Morph-compatible): create, retrieve, update operations, delete, list,
//! sessions, API-key credentials, and the session (`/v1/s/…`) twins.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use dpc_core::ErrorCode;
use dpc_store::ConnectionStatus;
use dpc_store::{Connection, Credentials, NewConnection, Session, StoredCredentials};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::{ApiKeyAuth, SessionAuth};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::operations::{self, CONNECTOR_ID};
use crate::AppState;

/// Default and longest session lifetimes.
pub const SESSION_DEFAULT_SECS: i64 = 3600;
pub const SESSION_MAX_SECS: i64 = 7 * 24 * 3600;
pub const SESSION_MIN_SECS: i64 = 60;

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// [`operations::effective_missing_scopes`] of a stored connection.
pub fn effective_missing_scopes(c: &Connection) -> Vec<String> {
    operations::effective_missing_scopes(&c.operations, &c.scopes, &c.missing_scopes)
}

/// The contract's connection object.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Connection)]
pub struct ConnectionObject {
    /// Always `connection`.
    pub object: &'static str,
    pub connector_id: String,
    pub owner_id: String,
    /// The operations the app asked for (`<model>::<op>`, `action::<id>`).
    pub operations: Vec<String>,
    #[schema(value_type = ConnectionStatusSchema)]
    pub status: ConnectionStatus,
    /// The Dialpad scopes asked for at the last authorization.
    pub scopes: Vec<String>,
    /// Scopes the operations need that the grant lacks.
    pub missing_scopes: Vec<String>,
    /// ISO-8601, UTC.
    pub created_at: String,
    pub updated_at: String,
}

/// Where a connection stands: the schema of [`ConnectionStatus`] (the store has no `utoipa`; a
/// unit test keeps the two alike).
#[derive(ToSchema)]
#[schema(as = ConnectionStatus)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub enum ConnectionStatusSchema {
    Unauthorized,
    AwaitingAuthorization,
    Authorized,
    /// Dialpad refused the refresh token: the customer must authorize again.
    RefreshFailed,
}

pub fn connection_json(c: &Connection) -> ConnectionObject {
    ConnectionObject {
        object: "connection",
        connector_id: c.connector_id.clone(),
        owner_id: c.owner_id.clone(),
        operations: c.operations.clone(),
        status: c.status,
        scopes: c.scopes.clone(),
        missing_scopes: effective_missing_scopes(c),
        created_at: ts(c.created_at),
        updated_at: ts(c.updated_at),
    }
}

/// What deleting a connection answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedConnection {
    /// Always `connection`.
    pub object: &'static str,
    pub connector_id: String,
    pub owner_id: String,
    /// Always `true`.
    pub deleted: bool,
}

/// A page of `GET /v1/connections`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<ConnectionObject>,
    /// The cursor of the next page; `null` on the last one.
    pub next: Option<String>,
}

/// The connector object Morph's SDK reads (`getConnector`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Connector)]
pub struct ConnectorObject {
    /// Always `connector`.
    pub object: &'static str,
    /// Always `dialpad`.
    pub id: &'static str,
    pub name: &'static str,
    /// Always empty (Morph's shape).
    #[schema(value_type = Vec<Object>)]
    pub settings: Vec<Value>,
    /// Every operation id of the catalog.
    pub operations: Vec<&'static str>,
    #[schema(value_type = Vec<dpc_core::models::ModelDescription>)]
    pub models: Vec<Value>,
}

pub fn connector_json(config: &crate::Config) -> ConnectorObject {
    let mut models: Vec<Value> = dpc_core::Model::ALL
        .iter()
        .map(|m| m.info().describe())
        .collect();
    models.extend(config.custom_models.iter().map(|m| m.describe()));
    ConnectorObject {
        object: "connector",
        id: CONNECTOR_ID,
        name: "Dialpad",
        settings: Vec::new(),
        operations: operations::all().iter().map(|o| o.id).collect(),
        models,
    }
}

/// Invisible and direction-changing characters (Unicode format characters: zero-width ones,
/// bidi embeddings, overrides and isolates, the word joiner and invisible operators, the BOM,
/// tag characters): an id carrying them shows on screen, in logs and in an operator's console
/// as another id (`U+202E` turns `acme-evil` around), or as one that is not there.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Why `id` (the field `field`) is not acceptable text for an id, if it is not.
fn id_text_problem(id: &str, field: &str) -> Option<ApiError> {
    if id.chars().any(char::is_control) {
        return Some(
            ApiError::invalid(format!("{field} must not contain control characters"))
                .with_details(json!({"field": field})),
        );
    }
    if id.chars().any(is_format_char) {
        return Some(
            ApiError::invalid(format!(
                "{field} must not contain invisible or direction-changing characters"
            ))
            .with_details(json!({"field": field})),
        );
    }
    None
}

/// Only `dialpad` is served; owner ids are the app's, 1 to 255 bytes without control characters
/// (a path segment may carry `%00` or `%0A`: PostgreSQL refuses NUL in text, which would end in a
/// 500, and control characters have no business in an id that shows up in logs and redirects)
/// and without invisible or direction-changing ones ([`is_format_char`]).
pub fn check_ids(connector_id: &str, owner_id: &str) -> ApiResult<()> {
    if let Some(e) = id_text_problem(connector_id, "connectorId") {
        return Err(e);
    }
    if connector_id != CONNECTOR_ID {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::ConnectorNotFound,
            format!("unknown connector `{connector_id}` (this server serves `{CONNECTOR_ID}`)"),
        ));
    }
    if owner_id.is_empty() || owner_id.len() > 255 {
        return Err(ApiError::invalid("ownerId must be 1 to 255 bytes")
            .with_details(json!({"field": "ownerId"})));
    }
    // The `x-owner-id` header is trimmed by HTTP itself, so an id with outer spaces could be
    // created through the path but never reached through the headers.
    if owner_id.trim() != owner_id {
        return Err(
            ApiError::invalid("ownerId must not start or end with white space")
                .with_details(json!({"field": "ownerId"})),
        );
    }
    if let Some(e) = id_text_problem(owner_id, "ownerId") {
        return Err(e);
    }
    Ok(())
}

pub async fn load(state: &AppState, connector_id: &str, owner_id: &str) -> ApiResult<Connection> {
    check_ids(connector_id, owner_id)?;
    state
        .store
        .get_connection(connector_id, owner_id)
        .await?
        .ok_or_else(|| ApiError::connection_not_found(connector_id, owner_id))
}

/// Validates operation ids against the catalog (400 listing the unknown ones). An empty list
/// is refused: stored, it would mean "not narrowed" (every operation), the opposite of what an
/// app revoking everything means; leaving `operations` out is how to ask for every operation.
pub fn validated_operations(ids: &[String]) -> ApiResult<Vec<String>> {
    if ids.is_empty() {
        return Err(ApiError::invalid(
            "operations is empty: name at least one operation, or leave the field out for every operation",
        )
        .with_details(json!({
            "field": "operations",
            "hint": "GET /v1/connectors/dialpad lists the supported operations",
        })));
    }
    operations::validate(ids).map_err(|unknown| {
        ApiError::invalid(format!("unknown operation(s): {}", unknown.join(", "))).with_details(
            json!({
                "unknownOperations": unknown,
                "hint": "GET /v1/connectors/dialpad lists the supported operations",
            }),
        )
    })
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationsBody {
    #[serde(default)]
    pub operations: Option<Vec<String>>,
}

/// The body of create and update: only `operations`. An unknown field (a typo such as
/// `operation`, or a setting this connector does not have) is refused rather than silently
/// dropped, which would create a connection without the operations the app meant to ask for.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionBody {
    #[serde(default)]
    pub operations: Option<Vec<String>>,
}

pub async fn create(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ConnectionBody>,
) -> ApiResult<Response> {
    check_ids(&connector_id, &owner_id)?;
    let operations = match &body.operations {
        Some(ops) => validated_operations(ops)?,
        None => Vec::new(),
    };
    let conn = state
        .store
        .insert_connection(NewConnection {
            connector_id: connector_id.clone(),
            owner_id: owner_id.clone(),
            operations,
        })
        .await
        .map_err(|e| match e {
            dpc_store::StoreError::Conflict => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::ConnectionAlreadyExists,
                format!("a connection for `{connector_id}` and `{owner_id}` exists already"),
            ),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(connection_json(&conn))).into_response())
}

pub async fn retrieve(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<ConnectionObject>> {
    let conn = load(&state, &connector_id, &owner_id).await?;
    Ok(Json(connection_json(&conn)))
}

pub async fn update(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ConnectionBody>,
) -> ApiResult<Json<ConnectionObject>> {
    let conn = load(&state, &connector_id, &owner_id).await?;
    let Some(ops) = body.operations else {
        return Ok(Json(connection_json(&conn)));
    };
    let ops = validated_operations(&ops)?;
    // A Dialpad API key carries every scope (see `put_api_key`): the connection keeps covering
    // its operations, as authorization answers; otherwise the proxy would refuse new scoped
    // operations with MISSING_PERMISSION and an OAuth URL nobody can use.
    let api_key_scopes: Option<Vec<String>> = match state.store.get_credentials(&conn.id).await? {
        Some(stored) if matches!(stored.credentials, Credentials::ApiKey { .. }) => {
            Some(operations::scopes_for(&ops).into_iter().collect())
        }
        _ => None,
    };
    let conn = state
        .store
        .set_operations(&conn.id, &ops, api_key_scopes.as_deref())
        .await?;
    // What its events may carry follows its grants: the Dialpad subscriptions are re-checked.
    state.intake_repair.notify_one();
    Ok(Json(connection_json(&conn)))
}

pub async fn delete(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<DeletedConnection>> {
    let conn = load(&state, &connector_id, &owner_id).await?;
    remove(&state, &conn).await
}

/// The longest a background deauthorization may take, retries included: Dialpad answering
/// 429s or hanging must not keep a task (and the token in memory) around for minutes.
pub const DEAUTHORIZE_DEADLINE: Duration = Duration::from_secs(30);

/// Erases the connection with its credentials, sessions and states, then deauthorizes at
/// Dialpad in the background (best effort, bounded by [`DEAUTHORIZE_DEADLINE`]): the answer
/// never waits on Dialpad, so a slow or throttling `/oauth2/deauthorize` cannot time the
/// delete out and leave the connection in place.
///
/// Dialpad's deauthorize revokes *every* token of our OAuth client for that Dialpad user, so
/// it is skipped when another OAuth connection holds a grant of the same user (several of the
/// app's customers connected with one Dialpad login), or when this grant's user or another
/// connection's is unknown and so might be the same. The token is then left to expire; it is
/// erased here either way.
async fn remove(state: &AppState, conn: &Connection) -> ApiResult<Json<DeletedConnection>> {
    remove_connection(state, conn).await.map(|(d, _)| Json(d))
}

/// [`remove`] for callers that outlive nothing (the CLI): also hands back the background
/// clean-up at Dialpad, to wait for before the process exits.
pub async fn remove_connection(
    state: &AppState,
    conn: &Connection,
) -> ApiResult<(DeletedConnection, Option<tokio::task::JoinHandle<()>>)> {
    // Decided before the delete, while this connection's token is still readable.
    let credentials = state.store.get_credentials(&conn.id).await?;
    let usable_token = match &credentials {
        Some(StoredCredentials {
            credentials: Credentials::OAuth { access_token, .. },
            ..
        }) => Some(access_token.clone()),
        Some(StoredCredentials {
            credentials: Credentials::ApiKey { api_key },
            ..
        }) => Some(api_key.clone()),
        None => None,
    };
    let deauthorize = match credentials {
        Some(StoredCredentials {
            credentials: Credentials::OAuth { access_token, .. },
            ..
        }) => {
            let shared = match conn.dialpad_user_id.as_deref() {
                Some(user) => state.store.count_sharing_grant(&conn.id, user).await? > 0,
                None => true,
            };
            if shared {
                tracing::info!(connector_id = %conn.connector_id, owner_id = %conn.owner_id,
                    "not deauthorizing at Dialpad: another connection may share this Dialpad user's grant");
                None
            } else {
                Some(access_token)
            }
        }
        _ => None,
    };
    // What was registered at Dialpad for its events goes too (in the background, before the
    // token is revoked); the store cascades the intake with the connection anyway.
    let intake = state.store.get_intake(&conn.id).await?;
    if intake.is_some() {
        state.store.delete_intake(&conn.id).await?;
    }
    let cleanup = match (intake, usable_token) {
        (Some(i), Some(token)) if i.remote_id.is_some() || i.subscriptions != "[]" => {
            match dialpad::Client::builder()
                .base_url(state.config.dialpad_base_url.clone())
                .http_client(state.http.clone())
                .api_key(token)
                .timeout(Duration::from_secs(10))
                .build()
            {
                Ok(client) => Some((client, i)),
                Err(e) => {
                    tracing::warn!(error = %e, "could not build a client to remove the Dialpad subscriptions");
                    None
                }
            }
        }
        _ => None,
    };
    state
        .store
        .delete_connection(&conn.connector_id, &conn.owner_id)
        .await?;
    state.clients.invalidate(&conn.id);
    state.ws_supervisors.stop(&conn.id);
    let mut background = None;
    if deauthorize.is_some() || cleanup.is_some() {
        let oauth = state.oauth.clone();
        let (connector_id, owner_id) = (conn.connector_id.clone(), conn.owner_id.clone());
        background = Some(tokio::spawn(async move {
            if let Some((client, intake)) = cleanup {
                crate::intake::subscriptions::remove_remote(client, intake).await;
            }
            let Some(token) = deauthorize else { return };
            let api = oauth.token_client.oauth();
            let call = api.deauthorize_token(&token);
            match tokio::time::timeout(DEAUTHORIZE_DEADLINE, call).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, %connector_id, %owner_id,
                    "deauthorizing at Dialpad failed; the deleted connection's token is left to expire"),
                Err(_) => tracing::warn!(%connector_id, %owner_id,
                    deadline_secs = DEAUTHORIZE_DEADLINE.as_secs(),
                    "deauthorizing at Dialpad took too long; the deleted connection's token is left to expire"),
            }
        }));
    }
    Ok((
        DeletedConnection {
            object: "connection",
            connector_id: conn.connector_id.clone(),
            owner_id: conn.owner_id.clone(),
            deleted: true,
        },
        background,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    connector_id: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ConnectionList>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 100")
            .with_details(json!({"field": "limit"})));
    }
    if let Some(e) = q
        .connector_id
        .as_deref()
        .and_then(|c| id_text_problem(c, "connectorId"))
    {
        return Err(e);
    }
    let (items, next) = state
        .store
        .list_connections(q.connector_id.as_deref(), q.cursor.as_deref(), limit)
        .await
        .map_err(|e| match e {
            dpc_store::StoreError::NotFound => ApiError::invalid("invalid cursor"),
            other => other.into(),
        })?;
    Ok(Json(ConnectionList {
        object: "list",
        data: items.iter().map(connection_json).collect(),
        next,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    /// The operations the session may use (default: the connection's).
    #[serde(default)]
    connection: Option<OperationsBody>,
    /// Seconds, 60 to 604800 (default 3600).
    #[serde(default)]
    expires_in: Option<i64>,
}

/// Creates a session for the connection, creating the connection first when it does not exist
/// (Morph's flow: `sessions().create(...)` then the front end authorizes with the token).
pub async fn create_session(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SessionBody>,
) -> ApiResult<Response> {
    check_ids(&connector_id, &owner_id)?;
    let expires_in = body.expires_in.unwrap_or(SESSION_DEFAULT_SECS);
    if !(SESSION_MIN_SECS..=SESSION_MAX_SECS).contains(&expires_in) {
        return Err(ApiError::invalid(format!(
            "expiresIn must be between {SESSION_MIN_SECS} and {SESSION_MAX_SECS} seconds"
        ))
        .with_details(json!({"field": "expiresIn"})));
    }
    let asked = body.connection.and_then(|c| c.operations);
    let asked = match asked {
        Some(ops) => Some(validated_operations(&ops)?),
        None => None,
    };
    let conn = match state.store.get_connection(&connector_id, &owner_id).await? {
        Some(c) => c,
        None => match state
            .store
            .insert_connection(NewConnection {
                connector_id: connector_id.clone(),
                owner_id: owner_id.clone(),
                operations: asked.clone().unwrap_or_default(),
            })
            .await
        {
            Ok(c) => c,
            // Created meanwhile by a concurrent request: use it.
            Err(dpc_store::StoreError::Conflict) => load(&state, &connector_id, &owner_id).await?,
            Err(e) => return Err(e.into()),
        },
    };
    let operations = asked.unwrap_or_else(|| conn.operations.clone());
    let expires_at = Utc::now() + chrono::Duration::seconds(expires_in);
    let token = state
        .store
        .create_session(&Session {
            connector_id: connector_id.clone(),
            owner_id: owner_id.clone(),
            operations: operations.clone(),
            expires_at,
            purpose: dpc_store::SessionPurpose::App,
            redirect_url: None,
            extra_scopes: Vec::new(),
        })
        .await?;
    let body = session_json(&connector_id, &owner_id, &operations, &token, expires_at);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// What creating a session answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Session)]
pub struct SessionObject {
    /// Always `session`.
    pub object: &'static str,
    pub connector_id: String,
    pub owner_id: String,
    pub connection: SessionConnection,
    /// Send it as `x-session-token` on the `/v1/s/…` routes.
    pub session_token: String,
    /// ISO-8601, UTC.
    pub expires_at: String,
}

/// The connection a session is bound to, with the operations it may use.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionConnection {
    pub connector_id: String,
    pub owner_id: String,
    pub operations: Vec<String>,
}

pub fn session_json(
    connector_id: &str,
    owner_id: &str,
    operations: &[String],
    token: &SecretString,
    expires_at: DateTime<Utc>,
) -> SessionObject {
    SessionObject {
        object: "session",
        connector_id: connector_id.to_owned(),
        owner_id: owner_id.to_owned(),
        connection: SessionConnection {
            connector_id: connector_id.to_owned(),
            owner_id: owner_id.to_owned(),
            operations: operations.to_vec(),
        },
        session_token: token.expose_secret().to_owned(),
        expires_at: ts(expires_at),
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyBody {
    #[serde(default)]
    api_key: Option<String>,
}

/// `PUT /v1/connections/{c}/{o}/api-key {apiKey}`: a Dialpad company or user API key instead of
/// OAuth. It is checked against Dialpad first (`GET /api/v2/users/me`, which a user key may
/// call and which names the user; a company key gets a 400 there and is checked with
/// `GET /api/v2/company`), stored sealed like a token, never refreshed; the connection becomes
/// `authorized` with every scope its operations need (a key carries them all). PUT because it
/// replaces the connection's credentials idempotently, as a sub-resource of the connection.
pub async fn put_api_key(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ApiKeyBody>,
) -> ApiResult<Json<ConnectionObject>> {
    let conn = load(&state, &connector_id, &owner_id).await?;
    let key = body
        .api_key
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::invalid("`apiKey` is required").with_details(json!({"field": "apiKey"}))
        })?;
    // It goes into an Authorization header: anything but visible ASCII cannot be a Dialpad key
    // (and would fail inside the HTTP client as a 502).
    if key.len() > 512 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "`apiKey` must be printable ASCII without spaces, at most 512 characters",
        )
        .with_details(json!({"field": "apiKey"})));
    }
    let key = SecretString::from(key);
    let probe = dialpad::Client::builder()
        .base_url(state.config.dialpad_base_url.clone())
        .http_client(state.http.clone())
        .api_key(key.clone())
        .observer(crate::metrics::dialpad_observer())
        .build()
        .map_err(ApiError::internal)?;
    // (user id, company id) of a user key; (None, None) for a company key.
    let mut user: (Option<String>, Option<String>) = (None, None);
    let refused = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ConnectionInvalidApiKey,
            "Dialpad refused this API key",
        )
    };
    let check = |r: Result<dialpad::raw::RawResponse, dialpad::Error>| match r {
        Ok(r) if r.status().is_success() => Ok(Some(r)),
        Ok(r) if r.status().as_u16() == 401 => Err(refused()),
        // Not this kind of key (a company key on `/users/me`, a user key on `/company`).
        Ok(r) if matches!(r.status().as_u16(), 400 | 403 | 404) => Ok(None),
        Ok(r) => {
            tracing::warn!(status = %r.status(), "Dialpad answered the API-key check unexpectedly");
            Err(ApiError::upstream_unavailable())
        }
        Err(e) => {
            tracing::warn!(error = %e, "API-key check failed");
            Err(ApiError::upstream_unavailable())
        }
    };
    match check(
        probe
            .raw(dialpad::Method::GET, "/api/v2/users/me")
            .send()
            .await,
    )? {
        Some(r) => {
            let me: Value = match r.bytes().await {
                Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let id_of = |v: &Value| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            user = (id_of(&me["id"]), id_of(&me["company_id"]));
        }
        // Not a user key: a company key passes `/company`.
        None => {
            if check(
                probe
                    .raw(dialpad::Method::GET, "/api/v2/company")
                    .send()
                    .await,
            )?
            .is_none()
            {
                return Err(refused());
            }
        }
    }
    let conn = state
        .store
        .authorize(
            &conn.id,
            &dpc_store::Grant {
                credentials: Credentials::ApiKey { api_key: key },
                scopes: operations::scopes_for(&conn.operations)
                    .into_iter()
                    .collect(),
                // An API key is not an OAuth grant: deleting never deauthorizes it, and it
                // shares nothing with OAuth connections of the same user.
                dialpad_user_id: None,
                dialpad_company_id: user.1,
            },
        )
        .await?;
    state.clients.invalidate(&conn.id);
    Ok(Json(connection_json(&conn)))
}

pub async fn session_retrieve(
    State(state): State<AppState>,
    auth: SessionAuth,
) -> ApiResult<Json<ConnectionObject>> {
    let conn = load(&state, &auth.connector_id, &auth.owner_id).await?;
    Ok(Json(connection_json(&conn)))
}

pub async fn session_delete(
    State(state): State<AppState>,
    auth: SessionAuth,
) -> ApiResult<Json<DeletedConnection>> {
    let conn = load(&state, &auth.connector_id, &auth.owner_id).await?;
    remove(&state, &conn).await
}

pub async fn session_connector(
    State(state): State<AppState>,
    _auth: SessionAuth,
) -> Json<ConnectorObject> {
    Json(connector_json(&state.config))
}

/// `GET /v1/connectors/{id}` (Morph's SDK sends whatever it has in the path and names the
/// connection in headers; only the key matters).
pub async fn connector(State(state): State<AppState>, _key: ApiKeyAuth) -> Json<ConnectorObject> {
    Json(connector_json(&state.config))
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    /// The document's `ConnectionStatus` lists exactly what the store's status serializes to.
    #[test]
    fn connection_status_schema_matches_the_store() {
        let ours: Vec<Value> = [
            ConnectionStatus::Unauthorized,
            ConnectionStatus::AwaitingAuthorization,
            ConnectionStatus::Authorized,
            ConnectionStatus::RefreshFailed,
        ]
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
        let schema =
            serde_json::to_value(<ConnectionStatusSchema as utoipa::PartialSchema>::schema())
                .unwrap();
        assert_eq!(schema["enum"], Value::Array(ours));
    }
}
