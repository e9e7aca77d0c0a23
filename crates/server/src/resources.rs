//! `/v1/resources/{model}[/{id}]` (secret key + connection headers) and their `/v1/s/` twins
//! (session token): the unified models over `dpc_core::resources`. This module only reads the
//! request, checks the connection and its permissions, and turns the core's answers and errors
//! into HTTP.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dpc_core::cursor::{CursorKey, Resume};
use dpc_core::mapping::{self, FieldMapping};
use dpc_core::models::{MapContext, Model, Op};
use dpc_core::operations::{self, Permission};
use dpc_core::resources::{
    self, parse_expand, parse_fields, parse_filters, query_identity, ListParams, Record, Render,
    ResourceError, Resources,
};
use dpc_core::ErrorCode;
use dpc_store::{Connection, ConnectionStatus, SessionPurpose};
use serde_json::{json, Value};

use crate::auth::{
    connection_headers, session_from_token, ApiKeyAuth, SessionAuth, CONNECTOR_HEADER,
    OWNER_HEADER, SESSION_HEADER,
};
use crate::authorization::missing_permission;
use crate::connections::load;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::proxy::upstream_error;
use crate::AppState;

/// Who is calling, resolved to a connection and what it may do.
#[derive(Clone)]
pub struct Caller {
    pub(crate) conn: Connection,
    /// A session's own operations (narrower than the connection's), if any.
    pub(crate) session_ops: Option<Vec<String>>,
}

pub(crate) async fn caller_from_key(state: &AppState, headers: &HeaderMap) -> ApiResult<Caller> {
    // Morph's SDK built with a secret key and given `connections({sessionToken})` calls these
    // routes with the session token instead of the connection headers: the session names the
    // connection (and narrows its operations), as on the `/v1/s/` routes.
    if headers.get(CONNECTOR_HEADER).is_none() && headers.get(OWNER_HEADER).is_none() {
        if let Some(token) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
            let s = session_from_token(state, token.trim()).await?;
            if s.purpose == SessionPurpose::App {
                return caller_from_session(state, s).await;
            }
        }
    }
    let ids = connection_headers(headers)?;
    let conn = load(state, &ids.connector_id, &ids.owner_id).await?;
    Ok(Caller {
        conn,
        session_ops: None,
    })
}

async fn caller_from_session(state: &AppState, s: SessionAuth) -> ApiResult<Caller> {
    let conn = load(state, &s.connector_id, &s.owner_id).await?;
    Ok(Caller {
        conn,
        session_ops: s.operations,
    })
}

/// A unified model (field mappings apply to these only).
pub(crate) fn model_of(name: &str) -> ApiResult<Model> {
    Model::parse(name).ok_or_else(|| model_not_found(name, &[]))
}

/// A unified model, for the routes that serve the custom models too (checked before this):
/// the not-found answer lists both.
fn model_of_any(state: &AppState, name: &str) -> ApiResult<Model> {
    Model::parse(name).ok_or_else(|| {
        let custom: Vec<&str> = state
            .config
            .custom_models
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        model_not_found(name, &custom)
    })
}

fn model_not_found(name: &str, custom: &[&str]) -> ApiError {
    let mut models: Vec<&str> = Model::ALL.iter().map(|m| m.as_str()).collect();
    models.extend_from_slice(custom);
    ApiError::of(
        ErrorCode::ResourceModelNotFound,
        format!("no model `{name}`: the models are {}", models.join(", ")),
    )
    .with_details(json!({"model": name, "models": models}))
}

/// An expansion reads another model's records: it needs that model's `retrieve` granted, so
/// `expand=transcript` on a call cannot read what `telephonyCallTranscript::retrieve` guards.
async fn authorize_expand(
    state: &AppState,
    c: &Caller,
    model: Model,
    expand: &[String],
) -> ApiResult<()> {
    for name in expand {
        if let Some(target) = dpc_core::models::expand_target(model, name) {
            authorize(state, c, target, Op::Retrieve).await?;
        }
    }
    Ok(())
}

/// Checks the connection's state and its permission for `model::op`; unsupported operations
/// answer 501 before anything else (no permission can make them work).
async fn authorize(state: &AppState, c: &Caller, model: Model, op: Op) -> ApiResult<()> {
    if let dpc_core::models::Support::NotSupported(why) = model.info().support(op) {
        return Err(ApiError::of(
            ErrorCode::OperationNotSupported,
            format!(
                "{model} cannot be {}d through Dialpad's API: {why}",
                op.as_str()
            ),
        )
        .with_details(json!({"model": model.as_str(), "operation": op.as_str()})));
    }
    permit(state, c, &op.operation_id(model)).await
}

/// The connection's state and its permission for operation `id` (`model::op` or
/// `action::<id>`): `CONNECTION::MISSING_PERMISSION` names what to grant, with a fresh
/// authorization URL when scopes are missing.
pub(crate) async fn permit(state: &AppState, c: &Caller, id: &str) -> ApiResult<()> {
    match c.conn.status {
        ConnectionStatus::RefreshFailed => return Err(ApiError::refresh_failed()),
        ConnectionStatus::Unauthorized | ConnectionStatus::AwaitingAuthorization => {
            return Err(ApiError::not_authorized())
        }
        ConnectionStatus::Authorized => {}
    }
    let Some(operation) = operations::find(id) else {
        return Err(ApiError::internal(format!("{id} missing from the catalog")));
    };
    match operations::check(
        operation,
        &c.conn.operations,
        c.session_ops.as_deref(),
        &c.conn.scopes,
    ) {
        Permission::Granted => Ok(()),
        Permission::NotGranted => Err(not_granted(c, operation)),
        Permission::MissingScopes(missing) => {
            Err(missing_permission(state, &c.conn, operation, &missing).await)
        }
    }
}

/// The 403 for an operation the connection's (or the session's) list leaves out. It names
/// which of the two said no, since the fix differs: widen the connection's operations (and
/// authorize again for new scopes), or create a session that lists the operation.
pub(crate) fn not_granted(c: &Caller, operation: &operations::Operation) -> ApiError {
    let id = operation.id;
    let connection_allows =
        c.conn.operations.is_empty() || c.conn.operations.iter().any(|o| o == id);
    let message = if connection_allows {
        format!(
            "this session was not granted {id}: create a session whose operations include it \
             (POST /v1/connections/{{connectorId}}/{{ownerId}}/sessions)"
        )
    } else {
        format!(
            "the connection was not granted {id}: add it to the connection's operations \
             (PATCH /v1/connections/{{connectorId}}/{{ownerId}}), then authorize again if it needs scopes"
        )
    };
    ApiError::of(ErrorCode::ConnectionMissingPermission, message).with_details(json!({
        "operation": id,
        "requiredScopes": operation.scopes,
        "missingScopes": [],
        "authorizationUrl": null,
    }))
}

/// What the connection's grants let the mappers show.
pub(crate) fn map_context(conn: &Connection) -> MapContext {
    MapContext {
        recordings: conn.scopes.iter().any(|s| s == "recordings_export"),
    }
}

/// Maps the core's error to the API's, recording scopes a Dialpad 403 names.
pub(crate) async fn resource_error(
    state: &AppState,
    conn: &Connection,
    model: &str,
    op_id: &str,
    held_version: Option<i64>,
    e: ResourceError,
) -> ApiError {
    match e {
        ResourceError::Invalid { message, details } => {
            ApiError::invalid(message).with_details(details)
        }
        ResourceError::Validation(errors) => {
            validation_failed(&format!("invalid {model} fields"), errors)
        }
        ResourceError::NotFound(m) => ApiError::of(ErrorCode::ResourceNotFound, m),
        ResourceError::NotSupported(why) => ApiError::of(ErrorCode::OperationNotSupported, why),
        ResourceError::Refused {
            status: 409,
            message,
        } => ApiError::of(
            ErrorCode::ResourceConflict,
            format!("Dialpad refused the change: {message}"),
        ),
        ResourceError::Refused { message, .. } => ApiError::of(
            ErrorCode::ResourceValidationFailed,
            format!("Dialpad refused the change: {message}"),
        )
        .with_details(json!({ "fields": [], "dialpadMessage": message })),
        ResourceError::Upstream(e) => upstream(state, conn, op_id, held_version, e).await,
    }
}

/// 422 `RESOURCE::VALIDATION_FAILED`: `what`, then each failing path with its reason, and the
/// list in `details.fields`.
pub(crate) fn validation_failed(what: &str, errors: dpc_core::models::Invalid) -> ApiError {
    // Bounded: a 1 MB body of 70,000 bad items must not answer 14 MB of errors. The message
    // names the first few, `details.fields` the first [`MAX_FIELD_ERRORS`], each cut short.
    const IN_MESSAGE: usize = 5;
    const MAX_FIELD_ERRORS: usize = 50;
    let total = errors.len();
    let cut = |s: &str, max: usize| -> String {
        if s.chars().count() <= max {
            s.to_owned()
        } else {
            let head: String = s.chars().take(max).collect();
            format!("{head}…")
        }
    };
    let listed: Vec<dpc_core::models::FieldError> = errors
        .into_iter()
        .take(MAX_FIELD_ERRORS)
        .map(|e| dpc_core::models::FieldError {
            path: cut(&e.path, 200),
            message: cut(&e.message, 300),
        })
        .collect();
    let mut each: Vec<String> = listed
        .iter()
        .take(IN_MESSAGE)
        .map(|e| {
            if e.path.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.path, e.message)
            }
        })
        .collect();
    if total > IN_MESSAGE {
        each.push(format!("and {} more", total - IN_MESSAGE));
    }
    let mut details = json!({ "fields": listed });
    if total > MAX_FIELD_ERRORS {
        details["moreErrors"] = json!(total - MAX_FIELD_ERRORS);
    }
    ApiError::of(
        ErrorCode::ResourceValidationFailed,
        format!("{what}: {}", each.join("; ")),
    )
    .with_details(details)
}

pub(crate) async fn upstream(
    state: &AppState,
    conn: &Connection,
    op_id: &str,
    held_version: Option<i64>,
    e: dialpad::Error,
) -> ApiError {
    match &e {
        dialpad::Error::RateLimited { retry_after, .. } => {
            let secs = retry_after
                .map(|d| d.as_secs_f64().ceil() as u64)
                .unwrap_or(1)
                .max(1);
            ApiError::of(
                ErrorCode::UpstreamRateLimited,
                format!("Dialpad's rate limit for this operation is spent: retry after {secs} s"),
            )
            .with_details(json!({ "retryAfter": secs }))
        }
        dialpad::Error::Api {
            status,
            message,
            body,
            ..
        } => match status.as_u16() {
            403 => {
                if let Some(operation) = operations::find(op_id) {
                    let named = operations::scopes_named_in_forbidden(operation, body.as_bytes());
                    if !named.is_empty() {
                        if let Some(v) = held_version {
                            if let Err(err) =
                                state.store.record_missing_scopes(&conn.id, &named, v).await
                            {
                                tracing::warn!(error = %err, "could not record missing scopes");
                            }
                        }
                        return missing_permission(state, conn, operation, &named).await;
                    }
                }
                ApiError::of(
                    ErrorCode::UpstreamForbidden,
                    format!("Dialpad refused the request: {message}"),
                )
            }
            404 => ApiError::of(ErrorCode::ResourceNotFound, format!("Dialpad: {message}")),
            400 | 422 => ApiError::of(
                ErrorCode::UpstreamInvalid,
                format!("Dialpad refused the request: {message}"),
            ),
            // A name or number already taken: the caller's to resolve, not an outage.
            409 => ApiError::of(
                ErrorCode::ResourceConflict,
                format!("Dialpad refused the request: {message}"),
            ),
            _ => {
                tracing::warn!(error = %e, "Dialpad error");
                ApiError::of(
                    ErrorCode::UpstreamUnavailable,
                    format!("Dialpad answered {status}: {message}"),
                )
            }
        },
        // Not a refused refresh (that is `CONNECTION::REFRESH_FAILED`, from the token
        // provider): Dialpad refused an access token it had just issued or that is still valid.
        dialpad::Error::Unauthorized { message, .. } => ApiError::of(
            ErrorCode::UpstreamForbidden,
            format!(
                "Dialpad refused the connection's current access token ({message}); if this \
                 persists, the customer should authorize again"
            ),
        ),
        _ => upstream_error(e),
    }
}

/// Attaches `Retry-After` to an answer whose details carry `retryAfter` (a 429, a 409 for an
/// idempotency key still in flight).
pub(crate) fn respond(e: ApiError) -> Response {
    let retry = e
        .details
        .as_ref()
        .and_then(|d| d.get("retryAfter"))
        .and_then(Value::as_u64);
    let mut r = e.into_response();
    if let Some(s) = retry {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
    }
    r
}

/// The query of a resources request, read by hand: `filters[name]=value` has no serde shape,
/// and every parameter may appear once.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub(crate) limit: Option<String>,
    pub(crate) cursor: Option<String>,
    pub(crate) q: Option<String>,
    pub(crate) fields: Option<String>,
    pub(crate) expand: Option<String>,
    pub(crate) raw: bool,
    pub(crate) return_resource: bool,
    pub(crate) filters: BTreeMap<String, String>,
}

const PARAMS: &[&str] = &[
    "limit",
    "cursor",
    "q",
    "fields",
    "expand",
    "raw",
    "returnResource",
    "filters[…]",
];

fn flag(name: &str, v: &str) -> ApiResult<bool> {
    match v {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::invalid(format!("`{name}` must be true or false"))),
    }
}

pub(crate) fn parse_query(raw: Option<&str>) -> ApiResult<Query> {
    let mut q = Query::default();
    let mut seen = std::collections::BTreeSet::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        if !seen.insert(k.clone()) {
            return Err(ApiError::invalid(format!("`{k}` is given more than once")));
        }
        if let Some(name) = k.strip_prefix("filters[").and_then(|r| r.strip_suffix(']')) {
            q.filters.insert(name.to_owned(), v);
            continue;
        }
        match k.as_str() {
            "limit" => q.limit = Some(v),
            "cursor" => q.cursor = Some(v).filter(|c| !c.is_empty()),
            "q" => q.q = Some(v).filter(|s| !s.trim().is_empty()),
            "fields" => q.fields = Some(v),
            "expand" => q.expand = Some(v),
            "raw" => q.raw = flag("raw", &v)?,
            "returnResource" => q.return_resource = flag("returnResource", &v)?,
            // What Morph's SDK 0.0.7 makes of a `filters` object: `String(value)`.
            "filters" if v == "[object Object]" => {
                return Err(ApiError::invalid(
                    "`filters` arrived as \"[object Object]\" (a JavaScript object sent with \
                     String(), as Morph's SDK 0.0.7 does): send `filters: JSON.stringify({…})` \
                     or `\"filters[name]\": value` instead",
                ))
            }
            // `filters` as one JSON object (what a JavaScript client can send as a string).
            "filters" => match serde_json::from_str::<serde_json::Map<String, Value>>(&v) {
                Ok(m) => {
                    for (name, value) in m {
                        let text = match value {
                            Value::String(s) => s,
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => n.to_string(),
                            _ => {
                                return Err(ApiError::invalid(format!(
                                    "filter `{name}` must be a string, number or boolean"
                                )))
                            }
                        };
                        q.filters.insert(name, text);
                    }
                }
                Err(_) => {
                    return Err(ApiError::invalid(
                        "`filters` must be sent as `filters[name]=value` (or one JSON object)",
                    ))
                }
            },
            other => {
                return Err(ApiError::invalid(format!(
                    "unknown parameter `{other}`: the parameters are {}",
                    PARAMS.join(", ")
                ))
                .with_details(json!({"parameter": other, "allowedParameters": PARAMS})))
            }
        }
    }
    Ok(q)
}

pub(crate) fn limit_of(q: &Query) -> ApiResult<usize> {
    match q.limit.as_deref() {
        None | Some("") => Ok(50),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(
                ApiError::invalid("`limit` must be a whole number from 1 to 100")
                    .with_details(json!({"parameter": "limit", "min": 1, "max": 100})),
            ),
        },
    }
}

fn cursor_key(state: &AppState) -> CursorKey {
    state.cursor_key.clone()
}

fn render(
    r: Record,
    raw: bool,
    fields: Option<&[String]>,
    seen: Option<(String, String)>,
) -> Value {
    resources::resource_json(r, &Render { raw, fields }, seen)
}

/// [`seen_times`] for the core's `expand`.
struct Seen<'a> {
    state: &'a AppState,
    conn: &'a Connection,
}

#[async_trait::async_trait]
impl resources::SeenTimes for Seen<'_> {
    async fn seen(&self, model: Model, records: &[Record]) -> Vec<Option<(String, String)>> {
        seen_times(self.state, self.conn, model, records).await
    }
    async fn stored_recap(&self, call_id: &str) -> Option<dpc_core::models::transcript::Recap> {
        stored_recap(self.state, &self.conn.id, call_id).await
    }
}

/// The recap merged from the parts kept from a call's `recap_*` events (None when there are
/// none, or the store could not be read: the answer goes without it rather than failing).
pub(crate) async fn stored_recap(
    state: &AppState,
    connection_id: &str,
    call_id: &str,
) -> Option<dpc_core::models::transcript::Recap> {
    let bodies = state.store.recap_parts(connection_id, call_id).await.ok()?;
    let parts: Vec<dpc_core::events::RecapPart> = bodies
        .iter()
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect();
    (!parts.is_empty()).then(|| dpc_core::events::merge_recap(&parts))
}

/// When the connector first saw each record and last saw it change, for the models Dialpad
/// keeps no times for (one store statement per page). A store failure leaves the times out
/// rather than failing the read.
/// The times last answered per record, so that an unchanged page needs no store round trip:
/// keyed by (connection, model, id), holding the fingerprint they were answered for. A record
/// whose fingerprint differs goes to the store, which decides (and another instance's change
/// shows up here as a different fingerprint too).
#[derive(Default)]
pub struct SeenCache {
    map: parking_lot::Mutex<HashMap<SeenKey, SeenTimesEntry>>,
}

/// (connection id, model, record id).
type SeenKey = (String, &'static str, String);
/// (fingerprint, createdAt, updatedAt).
type SeenTimesEntry = (String, String, String);

/// Entries kept before the cache is emptied (it refills from the store).
const SEEN_CACHE_CAP: usize = 50_000;

pub(crate) async fn seen_times(
    state: &AppState,
    conn: &Connection,
    model: Model,
    records: &[Record],
) -> Vec<Option<(String, String)>> {
    if !resources::observed(model) || records.is_empty() {
        return vec![None; records.len()];
    }
    let pairs: Vec<(String, String)> = records
        .iter()
        .map(|r| (r.mapped.id.clone(), resources::fingerprint(&r.raw)))
        .collect();
    let key = |id: &str| (conn.id.clone(), model.as_str(), id.to_owned());
    let mut out: Vec<Option<(String, String)>> = vec![None; pairs.len()];
    let mut missing: Vec<usize> = Vec::new();
    {
        let cache = state.seen_cache.map.lock();
        for (i, (id, fp)) in pairs.iter().enumerate() {
            match cache.get(&key(id)) {
                Some((cached_fp, created, updated)) if cached_fp == fp => {
                    out[i] = Some((created.clone(), updated.clone()));
                }
                _ => missing.push(i),
            }
        }
    }
    if missing.is_empty() {
        return out;
    }
    let ask: Vec<(String, String)> = missing.iter().map(|&i| pairs[i].clone()).collect();
    match state
        .store
        .observe_records(&conn.id, model.as_str(), &ask)
        .await
    {
        Ok(obs) => {
            let mut cache = state.seen_cache.map.lock();
            if cache.len() + obs.len() > SEEN_CACHE_CAP {
                cache.clear();
            }
            for (&i, o) in missing.iter().zip(obs) {
                let times = (
                    crate::connections::ts(o.first_seen),
                    crate::connections::ts(o.last_changed),
                );
                let (id, fp) = &pairs[i];
                cache.insert(key(id), (fp.clone(), times.0.clone(), times.1.clone()));
                out[i] = Some(times);
            }
            out
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not record when records were seen");
            out
        }
    }
}

pub(crate) async fn list(
    state: AppState,
    c: Caller,
    model: &str,
    raw_query: Option<String>,
) -> ApiResult<Value> {
    if let Some(m) = state.config.custom_model(model) {
        return crate::custom_resources::list(&state, c, m, raw_query).await;
    }
    let model = model_of_any(&state, model)?;
    let q = parse_query(raw_query.as_deref())?;
    if q.return_resource {
        return Err(ApiError::invalid(
            "`returnResource` applies to create and update",
        ));
    }
    let limit = limit_of(&q)?;
    let filters = parse_filters(model, &q.filters).map_err(query_error)?;
    if q.q.is_some() && model.info().search.is_none() {
        return Err(ApiError::invalid(format!(
            "{model} has no search (`q`): use its filters"
        )));
    }
    authorize(&state, &c, model, Op::List).await?;
    let maps = mappings_for(&state, &c, model, "fieldRead").await;
    let mapped_keys: Vec<String> = maps.iter().map(|m| m.key.clone()).collect();
    let fields = parse_fields(model, q.fields.as_deref(), &mapped_keys).map_err(query_error)?;
    let expand = parse_expand(model, q.expand.as_deref()).map_err(query_error)?;
    authorize_expand(&state, &c, model, &expand).await?;
    let identity = query_identity(model, &filters, q.q.as_deref());
    let key = cursor_key(&state);
    let resume = match &q.cursor {
        Some(cur) => key.decode(&c.conn.id, &identity, cur).map_err(|e| {
            ApiError::invalid(e.to_string()).with_details(json!({"parameter": "cursor"}))
        })?,
        None => Resume::default(),
    };
    let cc = state.connection_client(&c.conn)?;
    let seen_source = Seen {
        state: &state,
        conn: &c.conn,
    };
    let service = Resources {
        client: &cc.client,
        ctx: map_context(&c.conn),
        calls: &cc.calls,
        seen: Some(&seen_source),
    };
    let params = ListParams {
        limit,
        resume,
        q: q.q.clone(),
        filters,
    };
    let (records, next) = match service.list(model, &params).await {
        Ok(v) => v,
        Err(e) => {
            return Err(resource_error(
                &state,
                &c.conn,
                model.as_str(),
                &Op::List.operation_id(model),
                cc.tokens.held_version(),
                e,
            )
            .await)
        }
    };
    let seen = seen_times(&state, &c.conn, model, &records).await;
    let mut data = Vec::with_capacity(records.len());
    for (mut r, seen) in records.into_iter().zip(seen) {
        mapping::apply_read(&maps, &r.raw, &mut r.mapped.fields);
        data.push(render(r, q.raw, fields.as_deref(), seen));
    }
    if !expand.is_empty() {
        service.expand(model, &mut data, &expand).await;
    }
    let next = next.map(|at| key.encode(&c.conn.id, &identity, &at));
    Ok(dpc_core::resources::list_json(data, next))
}

fn query_error(e: ResourceError) -> ApiError {
    match e {
        ResourceError::Invalid { message, details } => {
            ApiError::invalid(message).with_details(details)
        }
        other => ApiError::internal(other),
    }
}

pub(crate) async fn retrieve(
    state: AppState,
    c: Caller,
    model: &str,
    id: &str,
    raw_query: Option<String>,
) -> ApiResult<Value> {
    if let Some(m) = state.config.custom_model(model) {
        return crate::custom_resources::retrieve(&state, c, m, id, raw_query).await;
    }
    let model = model_of_any(&state, model)?;
    let q = parse_query(raw_query.as_deref())?;
    if q.limit.is_some()
        || q.cursor.is_some()
        || q.q.is_some()
        || !q.filters.is_empty()
        || q.return_resource
    {
        return Err(ApiError::invalid(
            "retrieve takes `fields`, `expand` and `raw` only",
        ));
    }
    if id == "me" && !model.info().me {
        return Err(ApiError::of(
            ErrorCode::ResourceNotFound,
            format!("{model} has no `me`"),
        ));
    }
    authorize(&state, &c, model, Op::Retrieve).await?;
    let maps = mappings_for(&state, &c, model, "fieldRead").await;
    let mapped_keys: Vec<String> = maps.iter().map(|m| m.key.clone()).collect();
    let fields = parse_fields(model, q.fields.as_deref(), &mapped_keys).map_err(query_error)?;
    let expand = parse_expand(model, q.expand.as_deref()).map_err(query_error)?;
    authorize_expand(&state, &c, model, &expand).await?;
    let cc = state.connection_client(&c.conn)?;
    let seen_source = Seen {
        state: &state,
        conn: &c.conn,
    };
    let service = Resources {
        client: &cc.client,
        ctx: map_context(&c.conn),
        calls: &cc.calls,
        seen: Some(&seen_source),
    };
    let mut r = match service.retrieve(model, id).await {
        Ok(r) => r,
        Err(e) => {
            return Err(resource_error(
                &state,
                &c.conn,
                model.as_str(),
                &Op::Retrieve.operation_id(model),
                cc.tokens.held_version(),
                e,
            )
            .await)
        }
    };
    mapping::apply_read(&maps, &r.raw, &mut r.mapped.fields);
    let seen = seen_times(&state, &c.conn, model, std::slice::from_ref(&r))
        .await
        .pop()
        .flatten();
    let mut v = render(r, q.raw, fields.as_deref(), seen);
    if !expand.is_empty() {
        service
            .expand(model, std::slice::from_mut(&mut v), &expand)
            .await;
    }
    Ok(v)
}

fn reference(model: Model, id: &str) -> Value {
    json!({"object": "resourceRef", "model": model.as_str(), "id": id, "remote": {"id": id}})
}

pub(crate) async fn create(
    state: AppState,
    c: Caller,
    model: &str,
    raw_query: Option<String>,
    body: Value,
) -> ApiResult<(StatusCode, Value)> {
    if let Some(m) = state.config.custom_model(model) {
        return crate::custom_resources::write(&state, c, m, Op::Create, None, raw_query, body)
            .await;
    }
    let model = model_of_any(&state, model)?;
    let q = parse_query(raw_query.as_deref())?;
    authorize(&state, &c, model, Op::Create).await?;
    let (body, extra, maps) = write_mappings(&state, &c, model, body).await?;
    let cc = state.connection_client(&c.conn)?;
    let seen_source = Seen {
        state: &state,
        conn: &c.conn,
    };
    let service = Resources {
        client: &cc.client,
        ctx: map_context(&c.conn),
        calls: &cc.calls,
        seen: Some(&seen_source),
    };
    let created = match service.create(model, &body, &extra).await {
        Ok(v) => v,
        Err(e) => {
            return Err(resource_error(
                &state,
                &c.conn,
                model.as_str(),
                &Op::Create.operation_id(model),
                cc.tokens.held_version(),
                e,
            )
            .await)
        }
    };
    let out = match (created.record, q.return_resource) {
        (Some(mut r), true) => {
            mapping::apply_read(&maps, &r.raw, &mut r.mapped.fields);
            let seen = seen_times(&state, &c.conn, model, std::slice::from_ref(&r))
                .await
                .pop()
                .flatten();
            render(r, q.raw, None, seen)
        }
        // Dialpad answered an id only (a call just placed): read the record, as Morph's
        // `returnResource` does; the reference when Dialpad cannot show it (the create stands).
        (None, true) => match service.retrieve(model, &created.id).await {
            Ok(mut r) => {
                mapping::apply_read(&maps, &r.raw, &mut r.mapped.fields);
                render(r, q.raw, None, None)
            }
            Err(_) => reference(model, &created.id),
        },
        _ => reference(model, &created.id),
    };
    Ok((StatusCode::CREATED, out))
}

pub(crate) async fn update(
    state: AppState,
    c: Caller,
    model: &str,
    id: &str,
    raw_query: Option<String>,
    body: Value,
) -> ApiResult<Value> {
    if let Some(m) = state.config.custom_model(model) {
        return crate::custom_resources::write(&state, c, m, Op::Update, Some(id), raw_query, body)
            .await
            .map(|(_, v)| v);
    }
    let model = model_of_any(&state, model)?;
    let q = parse_query(raw_query.as_deref())?;
    authorize(&state, &c, model, Op::Update).await?;
    let (body, extra, maps) = write_mappings(&state, &c, model, body).await?;
    let cc = state.connection_client(&c.conn)?;
    let seen_source = Seen {
        state: &state,
        conn: &c.conn,
    };
    let service = Resources {
        client: &cc.client,
        ctx: map_context(&c.conn),
        calls: &cc.calls,
        seen: Some(&seen_source),
    };
    let updated = match service.update(model, id, &body, &extra).await {
        Ok(v) => v,
        Err(e) => {
            return Err(resource_error(
                &state,
                &c.conn,
                model.as_str(),
                &Op::Update.operation_id(model),
                cc.tokens.held_version(),
                e,
            )
            .await)
        }
    };
    Ok(match (updated, q.return_resource) {
        (Some(mut r), true) => {
            mapping::apply_read(&maps, &r.raw, &mut r.mapped.fields);
            let seen = seen_times(&state, &c.conn, model, std::slice::from_ref(&r))
                .await
                .pop()
                .flatten();
            render(r, q.raw, None, seen)
        }
        _ => reference(model, id),
    })
}

pub(crate) async fn delete(state: AppState, c: Caller, model: &str, id: &str) -> ApiResult<Value> {
    if let Some(m) = state.config.custom_model(model) {
        return crate::custom_resources::write(
            &state,
            c,
            m,
            Op::Delete,
            Some(id),
            None,
            Value::Null,
        )
        .await
        .map(|(_, v)| v);
    }
    let model = model_of_any(&state, model)?;
    authorize(&state, &c, model, Op::Delete).await?;
    let cc = state.connection_client(&c.conn)?;
    let seen_source = Seen {
        state: &state,
        conn: &c.conn,
    };
    let service = Resources {
        client: &cc.client,
        ctx: map_context(&c.conn),
        calls: &cc.calls,
        seen: Some(&seen_source),
    };
    match service.delete(model, id).await {
        Ok(()) => Ok(json!({})),
        Err(e) => Err(resource_error(
            &state,
            &c.conn,
            model.as_str(),
            &Op::Delete.operation_id(model),
            cc.tokens.held_version(),
            e,
        )
        .await),
    }
}

pub(crate) fn answer(r: ApiResult<Value>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => respond(e),
    }
}

/// A body that is a JSON object (or empty: `{}`).
type Body = ApiJson<serde_json::Map<String, Value>>;

/// The connection a request names: by the secret key and the connection headers (the
/// `/v1/resources` routes) or by a session token (`/v1/s/resources`). One handler per
/// operation serves both, through [`KeyCaller`] or [`SessionCaller`].
pub trait CallerSource: axum::extract::FromRequestParts<AppState, Rejection = ApiError> {
    fn into_caller(
        self,
        state: &AppState,
    ) -> impl std::future::Future<Output = ApiResult<Caller>> + Send;
}

/// A verified secret key plus the connection headers (or a session token, see
/// `caller_from_key`).
pub struct KeyCaller(HeaderMap);

impl axum::extract::FromRequestParts<AppState> for KeyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        ApiKeyAuth::from_request_parts(parts, state).await?;
        Ok(KeyCaller(parts.headers.clone()))
    }
}

impl CallerSource for KeyCaller {
    async fn into_caller(self, state: &AppState) -> ApiResult<Caller> {
        caller_from_key(state, &self.0).await
    }
}

/// A session token (or the secret key with connection headers, as `SessionAuth` allows).
pub struct SessionCaller(pub(crate) SessionAuth);

impl axum::extract::FromRequestParts<AppState> for SessionCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        SessionAuth::from_request_parts(parts, state)
            .await
            .map(SessionCaller)
    }
}

impl CallerSource for SessionCaller {
    async fn into_caller(self, state: &AppState) -> ApiResult<Caller> {
        caller_from_session(state, self.0).await
    }
}

pub async fn list_route<C: CallerSource>(
    State(state): State<AppState>,
    caller: C,
    ApiPath(model): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Response {
    answer(
        async {
            let c = caller.into_caller(&state).await?;
            list(state.clone(), c, &model, query).await
        }
        .await,
    )
}

pub async fn retrieve_route<C: CallerSource>(
    State(state): State<AppState>,
    caller: C,
    ApiPath((model, id)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    answer(
        async {
            let c = caller.into_caller(&state).await?;
            retrieve(state.clone(), c, &model, &id, query).await
        }
        .await,
    )
}

pub async fn create_route<C: CallerSource>(
    State(state): State<AppState>,
    caller: C,
    ApiPath(model): ApiPath<String>,
    RawQuery(query): RawQuery,
    ApiJson(body): Body,
) -> Response {
    let created = async {
        let c = caller.into_caller(&state).await?;
        create(state.clone(), c, &model, query, Value::Object(body)).await
    }
    .await;
    match created {
        Ok((status, v)) => (status, Json(v)).into_response(),
        Err(e) => respond(e),
    }
}

pub async fn update_route<C: CallerSource>(
    State(state): State<AppState>,
    caller: C,
    ApiPath((model, id)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
    ApiJson(body): Body,
) -> Response {
    answer(
        async {
            let c = caller.into_caller(&state).await?;
            update(state.clone(), c, &model, &id, query, Value::Object(body)).await
        }
        .await,
    )
}

pub async fn delete_route<C: CallerSource>(
    State(state): State<AppState>,
    caller: C,
    ApiPath((model, id)): ApiPath<(String, String)>,
) -> Response {
    answer(
        async {
            let c = caller.into_caller(&state).await?;
            delete(state.clone(), c, &model, &id).await
        }
        .await,
    )
}

/// `GET /v1/models/{model}/fields?limit&cursor&isCustom`: the unified fields, then the Dialpad
/// fields a field mapping can add (`isCustom=true`: only those; `false`: only the unified ones).
async fn fields(state: &AppState, model: &str, raw_query: Option<String>) -> ApiResult<Value> {
    if let Some(m) = state.config.custom_model(model) {
        return Ok(crate::custom_resources::fields(m));
    }
    let model = model_of_any(state, model)?;
    // `isCustom` is Morph's listFields option (its SDK's own test sends it).
    let mut is_custom = None;
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(raw_query.as_deref().unwrap_or_default().as_bytes()) {
        if k != "isCustom" {
            rest.append_pair(&k, &v);
        } else if is_custom.replace(flag("isCustom", &v)?).is_some() {
            return Err(ApiError::invalid("`isCustom` is given more than once"));
        }
    }
    let q = parse_query(Some(&rest.finish()))?;
    if q.q.is_some() || !q.filters.is_empty() || q.fields.is_some() || q.expand.is_some() {
        return Err(ApiError::invalid(
            "the fields list takes `limit`, `cursor` and `isCustom` only",
        ));
    }
    let limit = limit_of(&q)?;
    let mut all = model.info().field_list();
    if let Some(c) = is_custom {
        all.retain(|f| f["isCustom"] == c);
    }
    let identity = match is_custom {
        Some(c) => format!("fields|{model}|isCustom={c}"),
        None => format!("fields|{model}"),
    };
    let start = match &q.cursor {
        Some(c) => {
            state
                .cursor_key
                .decode("", &identity, c)
                .map_err(|e| {
                    ApiError::invalid(e.to_string()).with_details(json!({"parameter": "cursor"}))
                })?
                .skip
        }
        None => 0,
    };
    let end = (start + limit).min(all.len());
    let data = all.get(start.min(end)..end).unwrap_or_default().to_vec();
    let next = (end < all.len()).then(|| {
        state.cursor_key.encode(
            "",
            &identity,
            &Resume {
                dialpad: None,
                skip: end,
            },
        )
    });
    Ok(dpc_core::resources::list_json(data, next))
}

pub async fn key_fields(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath(model): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Response {
    answer(fields(&state, &model, query).await)
}

pub async fn session_fields(
    State(state): State<AppState>,
    _session: SessionAuth,
    ApiPath(model): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Response {
    answer(fields(&state, &model, query).await)
}

/// The connection's field mappings of `model` (none when unset, or when the connection may not
/// read mapped fields). A stored value that no longer parses is logged and ignored.
/// Whether the caller may run `<model>::<op>` (`fieldRead`, `fieldWrite`).
fn granted(c: &Caller, model: Model, op: &str) -> bool {
    let id = format!("{}::{op}", model.as_str());
    operations::find(&id).is_some_and(|o| {
        operations::check(
            o,
            &c.conn.operations,
            c.session_ops.as_deref(),
            &c.conn.scopes,
        ) == Permission::Granted
    })
}

/// The connection's stored field mappings of `model` (one store read). A stored value that no
/// longer parses is logged and ignored.
async fn stored_mappings(state: &AppState, c: &Caller, model: Model) -> Vec<FieldMapping> {
    match state
        .store
        .get_field_mappings(&c.conn.id, model.as_str())
        .await
    {
        Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stored field mappings do not parse; ignored");
            Vec::new()
        }),
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, "could not read field mappings");
            Vec::new()
        }
    }
}

/// The mappings to apply for `op` (`fieldRead` or `fieldWrite`): none, without a store read,
/// when the caller may not.
async fn mappings_for(state: &AppState, c: &Caller, model: Model, op: &str) -> Vec<FieldMapping> {
    if granted(c, model, op) {
        stored_mappings(state, c, model).await
    } else {
        Vec::new()
    }
}

fn mappings_json(model: Model, mappings: &[FieldMapping]) -> Value {
    let typed = crate::openapi::FieldMappings {
        object: "fieldMappings",
        model: model.as_str(),
        mappings: mappings.to_vec(),
    };
    serde_json::to_value(typed).unwrap_or_default()
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MappingsBody {
    #[serde(default)]
    mappings: Vec<FieldMapping>,
}

/// `GET /v1/connections/{c}/{o}/field-mappings/{model}`.
pub async fn get_mappings(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id, model)): ApiPath<(String, String, String)>,
) -> Response {
    answer(
        async {
            let model = model_of(&model)?;
            let conn = load(&state, &connector_id, &owner_id).await?;
            let text = state
                .store
                .get_field_mappings(&conn.id, model.as_str())
                .await?;
            let maps: Vec<FieldMapping> = text
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            Ok(mappings_json(model, &maps))
        }
        .await,
    )
}

/// `PUT /v1/connections/{c}/{o}/field-mappings/{model}` `{mappings: [{key, path, write}]}`:
/// replaces the model's mappings after checking each against Dialpad's fields.
pub async fn put_mappings(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id, model)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<MappingsBody>,
) -> Response {
    answer(
        async {
            let model = model_of(&model)?;
            let conn = load(&state, &connector_id, &owner_id).await?;
            if let Err(errors) = mapping::validate(model, &body.mappings) {
                return Err(validation_failed("invalid field mappings", errors));
            }
            let text = serde_json::to_string(&body.mappings).map_err(ApiError::internal)?;
            state
                .store
                .put_field_mappings(&conn.id, model.as_str(), &text)
                .await?;
            Ok(mappings_json(model, &body.mappings))
        }
        .await,
    )
}

/// `DELETE /v1/connections/{c}/{o}/field-mappings/{model}`.
pub async fn delete_mappings(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id, model)): ApiPath<(String, String, String)>,
) -> Response {
    answer(
        async {
            let model = model_of(&model)?;
            let conn = load(&state, &connector_id, &owner_id).await?;
            state
                .store
                .delete_field_mappings(&conn.id, model.as_str())
                .await?;
            Ok(json!({}))
        }
        .await,
    )
}

/// Splits a write body into the unified part and the Dialpad fields of written mappings.
/// The mappings a write applies, and those its answer shows, from one store read: the body's
/// mapped keys become Dialpad fields with `fieldWrite`; without it, a mapped key in the body is
/// refused as a missing permission when the caller may read it, else as an unknown field.
async fn write_mappings(
    state: &AppState,
    c: &Caller,
    model: Model,
    body: Value,
) -> ApiResult<(Value, serde_json::Map<String, Value>, Vec<FieldMapping>)> {
    let (read, write) = (
        granted(c, model, "fieldRead"),
        granted(c, model, "fieldWrite"),
    );
    let stored = if read || write {
        stored_mappings(state, c, model).await
    } else {
        Vec::new()
    };
    let shown = if read { stored.clone() } else { Vec::new() };
    let Value::Object(mut body) = body else {
        return Ok((body, serde_json::Map::new(), shown));
    };
    if !write && shown.iter().any(|m| body.contains_key(&m.key)) {
        return Err(ApiError::of(
            ErrorCode::ConnectionMissingPermission,
            format!("writing mapped fields needs {}::fieldWrite", model.as_str()),
        )
        .with_details(json!({"operation": format!("{}::fieldWrite", model.as_str())})));
    }
    let written: &[FieldMapping] = if write { &stored } else { &[] };
    let extra = mapping::split_write(written, &mut body)
        .map_err(|errors| validation_failed(&format!("invalid {model} fields"), errors))?;
    Ok((Value::Object(body), extra, shown))
}
