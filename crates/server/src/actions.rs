//! `/v1/actions` (secret key, optionally the connection headers) and `/v1/s/actions` (session
//! token): the actions catalog of `dpc_core::actions` with its JSON Schemas, and running an
//! action on a connection. Authentication, the connection and the permission check are the
//! resources routes' (`resources::CallerSource`, `resources::permit`), and so is the mapping of
//! Dialpad's errors (`resources::upstream`). What is added here: the `Idempotency-Key` of
//! side-effecting actions, claimed in the store before Dialpad is called and answered again
//! from it (`Idempotent-Replayed: true`) without calling Dialpad.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dpc_core::actions::{self, ActionError, ActionInfo};
use dpc_core::operations::{self, Permission};
use dpc_core::ErrorCode;
use dpc_store::{ClaimOutcome, ConnectionStatus, IdempotencyClaim};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::auth::{ApiKeyAuth, SessionAuth, CONNECTOR_HEADER, OWNER_HEADER, SESSION_HEADER};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::resources::{self, Caller, CallerSource};
use crate::AppState;

/// The request header naming a retry-safe attempt.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Set on an answer given again from the store.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key and its answer are kept.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;
/// Longest key accepted.
pub(crate) const MAX_KEY_LEN: usize = 255;

/// An action of the catalog, with its schemas.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionObject {
    /// e.g. `sendSms`; run it with `POST /v1/actions/{id}`.
    pub id: &'static str,
    pub title: &'static str,
    /// Written for a developer and for an AI agent choosing a tool.
    pub description: &'static str,
    /// The operation to grant the connection: `action::<id>`.
    pub operation: &'static str,
    /// Dialpad OAuth scopes it needs beyond the default grant.
    pub scopes: Vec<&'static str>,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    /// Dialpad's rate limit for it, as Dialpad states it.
    #[schema(required = true)]
    pub rate_limit: Option<&'static str>,
    /// Whether it accepts an `Idempotency-Key` header (every action that changes something).
    pub accepts_idempotency_key: bool,
    /// The input, as a self-contained JSON Schema (2020-12).
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// The output (`output` of the answer), as a self-contained JSON Schema.
    #[schema(value_type = Object)]
    pub output_schema: Value,
    /// Only when asked with a connection (headers or session): whether it may run this action
    /// now (authorized, the operation granted, its scopes asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permitted: Option<bool>,
}

/// The actions catalog.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionList {
    pub data: Vec<ActionObject>,
    /// Where the rest is: what Dialpad offers beyond these actions and how to reach it.
    pub see_also: &'static str,
}

/// Cobalt's other Dialpad actions (calls list/get, contacts and users CRUD, a raw request), and
/// where this connector has them.
pub const SEE_ALSO: &str = "Contacts, users, offices, calls and transcripts (list, get, create, update, delete where Dialpad allows) are the unified models at /v1/resources/{model} (genericContact, genericUser, genericWorkspace, telephonyCall, telephonyCallTranscript); any other Dialpad endpoint is reachable with the connection's credentials through /v1/proxy/api/v2/….";

/// What running an action answers.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    /// Always `actionResult`.
    pub object: &'static str,
    pub action_id: &'static str,
    /// The action's output (its `outputSchema`).
    #[schema(value_type = crate::openapi::AnyActionOutput)]
    pub output: Value,
}

fn object(a: &'static ActionInfo, permitted: Option<bool>) -> ActionObject {
    ActionObject {
        id: a.id,
        title: a.title,
        description: a.description,
        operation: a.operation,
        scopes: a.scopes.to_vec(),
        read_only: a.read_only,
        destructive: a.destructive,
        idempotent: a.idempotent,
        rate_limit: a.rate_limit,
        accepts_idempotency_key: !a.read_only,
        input_schema: actions::input_schema(a.id).unwrap_or(Value::Null),
        output_schema: actions::output_schema(a.id).unwrap_or(Value::Null),
        permitted,
    }
}

/// Whether `c` may run `a` now, without preparing an authorization URL.
fn permitted(c: &Caller, a: &ActionInfo) -> bool {
    c.conn.status == ConnectionStatus::Authorized
        && operations::find(a.operation).is_some_and(|op| {
            operations::check(
                op,
                &c.conn.operations,
                c.session_ops.as_deref(),
                &c.conn.scopes,
            ) == Permission::Granted
        })
}

fn catalog(caller: Option<&Caller>) -> Json<ActionList> {
    Json(ActionList {
        data: actions::catalog()
            .iter()
            .map(|a| object(a, caller.map(|c| permitted(c, a))))
            .collect(),
        see_also: SEE_ALSO,
    })
}

/// `GET /v1/actions`: the catalog; with the connection headers (or a session token), whether
/// that connection may run each.
pub async fn list(State(state): State<AppState>, _key: ApiKeyAuth, headers: HeaderMap) -> Response {
    let names_connection = [CONNECTOR_HEADER, OWNER_HEADER, SESSION_HEADER]
        .iter()
        .any(|h| headers.contains_key(*h));
    if !names_connection {
        return catalog(None).into_response();
    }
    match resources::caller_from_key(&state, &headers).await {
        Ok(c) => catalog(Some(&c)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/s/actions`: the catalog, with the session's connection's permissions.
pub async fn session_list(State(state): State<AppState>, session: SessionAuth) -> Response {
    match resources::SessionCaller(session).into_caller(&state).await {
        Ok(c) => catalog(Some(&c)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/actions/{actionId}` and `/v1/s/actions/{actionId}`.
pub async fn run_route<C: CallerSource>(
    State(state): State<AppState>,
    caller: C,
    ApiPath(action_id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Response {
    let prepared = async {
        let c = caller.into_caller(&state).await?;
        let Some(info) = actions::find(&action_id) else {
            return Err(unknown(&action_id));
        };
        let key = idempotency_key(&headers, info)?;
        resources::permit(&state, &c, info.operation).await?;
        let input = Value::Object(body);
        actions::validate(info.id, &input).map_err(|e| action_error(info, e))?;
        Ok((c, info, key, input))
    }
    .await;
    let (c, info, key, input) = match prepared {
        Ok(p) => p,
        Err(e) => return resources::respond(e),
    };
    let Some(key) = key else {
        return answer(execute(&state, &c, info, input).await);
    };
    match run_with_key(&state, &c, info, &key, input).await {
        Ok(Keyed::Fresh(outcome)) => answer(outcome),
        Ok(Keyed::Replayed { status, body }) => replay(status, body),
        Err(e) => resources::respond(e),
    }
}

/// The answer of a run with an idempotency key.
pub(crate) enum Keyed {
    /// This request ran the action.
    Fresh(ApiResult<ActionResult>),
    /// An earlier request with the key and the same input ran it: its answer as stored.
    Replayed { status: StatusCode, body: Value },
}

/// Runs `info` once per `key` (and connection and action): the key is claimed in the store
/// before Dialpad is called, the answer stored after; a retry with the same key and input gets
/// the stored answer without calling Dialpad. Another input under the key is
/// `REQUEST::IDEMPOTENCY_CONFLICT`; a first run still going is `REQUEST::IDEMPOTENCY_IN_PROGRESS`.
/// A failure worth retrying (Dialpad down or rate limiting, a missing permission) releases the
/// key instead of storing itself. Shared by the HTTP route (`Idempotency-Key`) and the MCP
/// action tools (`idempotencyKey`).
pub(crate) async fn run_with_key(
    state: &AppState,
    c: &Caller,
    info: &'static ActionInfo,
    key: &str,
    input: Value,
) -> ApiResult<Keyed> {
    let now = dpc_store::events::now_ms();
    let hash = body_hash(&input);
    let lease = state.config.request_timeout.as_millis() as i64 + 5_000;
    let claim = IdempotencyClaim {
        connection_id: &c.conn.id,
        action: info.id,
        key,
        body_hash: &hash,
        now,
        lease_until: now + lease,
        expires_at: now + IDEMPOTENCY_TTL_MS,
    };
    let token = match state.store.claim_idempotency_key(&claim).await {
        Ok(ClaimOutcome::Claimed { token }) => token,
        Ok(ClaimOutcome::Replay { status, response }) => {
            return Ok(Keyed::Replayed {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                body: serde_json::from_str(&response).unwrap_or(Value::Null),
            })
        }
        Ok(ClaimOutcome::Conflict) => {
            return Err(ApiError::of(
                ErrorCode::RequestIdempotencyConflict,
                format!(
                    "this idempotency key was used for another {} input: use a new key for a new request",
                    info.id
                ),
            ))
        }
        Ok(ClaimOutcome::InFlight) => {
            return Err(ApiError::of(
                ErrorCode::RequestIdempotencyInProgress,
                "the first request with this idempotency key is still running: retry shortly",
            )
            .with_details(json!({"retryAfter": 1})))
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    // Detached: a caller that hangs up (a client timeout, exactly when it retries) does not
    // cancel the action half way and leave its key claimed until the lease runs out; the run
    // finishes and stores its answer, which the retry then gets.
    let run = tokio::spawn(run_claimed(
        state.clone(),
        c.clone(),
        info,
        key.to_owned(),
        token,
        input,
    ));
    match run.await {
        Ok(outcome) => Ok(Keyed::Fresh(outcome)),
        Err(e) => Err(ApiError::internal(format!("the action's task failed: {e}"))),
    }
}

/// The claimed run: the action, then its answer stored under the key (or the key released).
async fn run_claimed(
    state: AppState,
    c: Caller,
    info: &'static ActionInfo,
    key: String,
    token: String,
    input: Value,
) -> ApiResult<ActionResult> {
    let (state, c, key) = (&state, &c, key.as_str());
    let (outcome, outcome_unknown) = execute_telling(state, c, info, input).await;
    let (status, body) = match &outcome {
        Ok(v) => (StatusCode::OK, serde_json::to_string(v).unwrap_or_default()),
        Err(e) => (
            e.status,
            serde_json::to_string(&e.body()).unwrap_or_default(),
        ),
    };
    // A request Dialpad may have carried out (the connection failed after it was sent) is not
    // released on a non-idempotent action: a retry under the key must not send the SMS twice.
    // Its answer is stored; the caller checks, and sends again under a new key if it must.
    let release =
        (info.idempotent || !outcome_unknown) && outcome.as_ref().is_err_and(worth_retrying);
    let stored = if release {
        state
            .store
            .release_idempotency_key(&c.conn.id, info.id, key, &token)
            .await
    } else {
        state
            .store
            .complete_idempotency_key(&c.conn.id, info.id, key, &token, status.as_u16(), &body)
            .await
            .map(|_| ())
    };
    if let Err(e) = stored {
        // The answer stands; the key stays claimed until its lease runs out.
        tracing::warn!(error = %e, action = info.id, "could not store the idempotency key's answer");
    }
    outcome
}

/// Runs the action on the connection's Dialpad client.
async fn execute(
    state: &AppState,
    c: &Caller,
    info: &'static ActionInfo,
    input: Value,
) -> ApiResult<ActionResult> {
    execute_telling(state, c, info, input).await.0
}

/// [`execute`], also telling whether Dialpad may have carried the request out though it
/// failed (a transport error after sending: a timeout, a dropped connection).
async fn execute_telling(
    state: &AppState,
    c: &Caller,
    info: &'static ActionInfo,
    input: Value,
) -> (ApiResult<ActionResult>, bool) {
    let cc = match state.connection_client(&c.conn) {
        Ok(cc) => cc,
        Err(e) => return (Err(e), false),
    };
    match actions::run(&cc.client, info.id, input).await {
        Ok(output) => (
            Ok(ActionResult {
                object: "actionResult",
                action_id: info.id,
                output,
            }),
            false,
        ),
        Err(ActionError::Dialpad(e)) => {
            // A refused connection never carried the request; anything later may have.
            let unknown = matches!(&e, dialpad::Error::Transport(t) if !t.is_connect());
            let err =
                resources::upstream(state, &c.conn, info.operation, cc.tokens.held_version(), e)
                    .await;
            (Err(err), unknown)
        }
        Err(e) => (Err(action_error(info, e)), false),
    }
}

fn answer(r: ApiResult<ActionResult>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => resources::respond(e),
    }
}

fn unknown(id: &str) -> ApiError {
    let ids: Vec<&str> = actions::catalog().iter().map(|a| a.id).collect();
    ApiError::of(
        ErrorCode::ActionNotFound,
        format!(
            "no action {}: GET /v1/actions lists them",
            dpc_core::read::quote_input(id)
        ),
    )
    // Cut like the message: an id is a short name, whatever was sent is not echoed whole.
    .with_details(json!({"actionId": id.chars().take(64).collect::<String>(), "actions": ids}))
}

/// The core's errors other than Dialpad's.
fn action_error(info: &ActionInfo, e: ActionError) -> ApiError {
    match e {
        ActionError::Validation { errors } => {
            resources::validation_failed(&format!("invalid {} input", info.id), errors)
        }
        ActionError::UnknownAction(id) => unknown(&id),
        ActionError::Dialpad(e) => ApiError::of(actions::dialpad_code(&e), e.to_string()),
    }
}

/// Answers a retry should get anew rather than from the store: Dialpad busy or down, a
/// refresh failure or a missing permission (fixed by authorizing again), our own failures.
fn worth_retrying(e: &ApiError) -> bool {
    e.status.is_server_error()
        || matches!(
            e.code,
            ErrorCode::UpstreamRateLimited
                | ErrorCode::ConnectionMissingPermission
                | ErrorCode::ConnectionRefreshFailed
                | ErrorCode::ConnectionNotAuthorized
        )
}

/// The stored answer, as first given, marked as a replay.
fn replay(status: StatusCode, value: Value) -> Response {
    let mut r = (status, Json(value)).into_response();
    r.headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    r
}

/// The `Idempotency-Key` header of a side-effecting action (`None`: not given, or a read-only
/// action, which has nothing to repeat).
fn idempotency_key(headers: &HeaderMap, info: &ActionInfo) -> ApiResult<Option<String>> {
    let Some(v) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    if info.read_only {
        return Ok(None);
    }
    let key = v.to_str().unwrap_or_default().trim();
    if !valid_key(key) {
        return Err(ApiError::invalid(format!(
            "`Idempotency-Key` must be 1 to {MAX_KEY_LEN} visible ASCII characters (a UUID, say)"
        ))
        .with_details(json!({"header": "Idempotency-Key"})));
    }
    Ok(Some(key.to_owned()))
}

/// 1 to 255 visible ASCII characters.
pub(crate) fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

/// SHA-256 of the body in a canonical form (object keys sorted), so that a retry that orders
/// its keys differently is the same request.
fn body_hash(v: &Value) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    canonical(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    canonical(v, &mut s);
    dpc_store::sha256_hex(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_hash_ignores_key_order_only() {
        let a = json!({"text": "hi", "toNumbers": ["+1", "+2"], "n": {"b": 1, "a": 2}});
        let b = json!({"n": {"a": 2, "b": 1}, "toNumbers": ["+1", "+2"], "text": "hi"});
        let c = json!({"text": "hi", "toNumbers": ["+2", "+1"], "n": {"b": 1, "a": 2}});
        assert_eq!(body_hash(&a), body_hash(&b));
        assert_ne!(body_hash(&a), body_hash(&c));
    }
}
