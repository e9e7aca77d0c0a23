//! The MCP server for AI agents at `/v1/mcp`: the connection's granted operations as MCP tools
//! (`tools.rs`), over MCP's Streamable HTTP transport from the official Rust SDK (`rmcp`), nested
//! in our router as a tower service.
//!
//! Request path: [`handle`] authenticates (a session token, or the secret key plus the
//! connection headers: 401 with our error JSON before any MCP), loads the connection, reads the
//! body under the router's 1 MiB limit (413 with our error JSON), puts the caller in the request's
//! extensions, and hands the request to rmcp's `StreamableHttpService`, which calls
//! [`McpServer`]'s `list_tools` / `call_tool` with those extensions.
//!
//! Stateless mode (`legacy_session_mode: false`, JSON answers, no `Mcp-Session-Id`): every
//! request carries its own credentials and names its connection, and the tools need nothing
//! remembered between requests (list cursors are signed and self-contained), so any instance
//! behind a load balancer answers any request and nothing is lost when one restarts. The price
//! is no server-initiated messages (no GET event stream); these tools send none.

mod schema;
mod tools;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Json;
use dpc_core::ErrorCode;
use dpc_store::SessionPurpose;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::Serialize;
use serde_json::{json, Value};
use tower::ServiceExt;
use utoipa::ToSchema;

use crate::auth::{
    connection_headers, session_from_token, SessionAuth, API_SECRET_HEADER, SESSION_HEADER,
};
use crate::connections::load;
use crate::error::{is_body_timeout, ApiError, ApiResult};
use crate::AppState;

pub use tools::ToolKind;

/// Where the MCP endpoint is mounted.
pub const PATH: &str = "/v1/mcp";

/// The caller of one MCP request: its connection and the session's narrower operations. Put in
/// the request's extensions by [`handle`]; rmcp hands them to the tool handlers.
#[derive(Clone)]
pub(crate) struct McpCaller {
    pub conn: dpc_store::Connection,
    pub session_ops: Option<Vec<String>>,
}

impl McpCaller {
    pub(crate) fn resources_caller(&self) -> crate::resources::Caller {
        crate::resources::Caller {
            conn: self.conn.clone(),
            session_ops: self.session_ops.clone(),
        }
    }
}

type Service = StreamableHttpService<McpServer, NeverSessionManager>;

/// The `/v1/mcp` route: POST carries JSON-RPC messages; GET without `Accept:
/// text/event-stream` answers how to connect (the same as `GET /v1/s/mcp`); a GET asking for
/// the event stream and DELETE (ending a session) are 405, as Streamable HTTP allows for a
/// server without server-initiated messages or sessions.
pub fn route(state: &AppState) -> MethodRouter<AppState> {
    let service = service(state);
    axum::routing::post(move |State(state): State<AppState>, req: Request| {
        let service = service.clone();
        async move { handle(state, service, req).await }
    })
    .get(get_mcp)
    .delete(|| async { no_sessions() })
}

fn service(state: &AppState) -> Service {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_sse_retry(None)
        // rmcp's Host check guards unauthenticated local servers against DNS rebinding; every
        // request here carries a credential a rebinding page cannot have, and the server sits
        // behind whatever host name the operator gives it.
        .disable_allowed_hosts()
        // The body is read (and limited) by `handle` before rmcp sees it.
        .with_max_request_body_bytes(crate::BODY_LIMIT);
    let state = state.clone();
    StreamableHttpService::new(
        move || {
            Ok(McpServer {
                state: state.clone(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

/// `POST /v1/mcp`.
async fn handle(state: AppState, service: Service, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let caller = match authenticate(&state, &parts.headers).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let bytes = match axum::body::to_bytes(body, crate::BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return body_error(&e).into_response(),
    };
    if is_json(&parts.headers) {
        if let Some(refusal) = jsonrpc_refusal(&bytes) {
            return refusal;
        }
    }
    parts.extensions.insert(caller);
    let req = Request::from_parts(parts, Body::from(bytes));
    let answer = match service.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    transport_error_as_json(answer).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// JSON-RPC's own answer to a message rmcp would refuse with a plain-text transport error (or
/// take apart wrongly), so an MCP client sees the error codes it knows: not JSON is a parse
/// error (-32700), a batch or a message that is not a JSON-RPC request is an invalid request
/// (-32600, HTTP 400, `id` null as JSON-RPC requires when the id cannot be read), and a
/// `tools/call` whose `name` is not a string or whose `arguments` is not an object is invalid
/// params (-32602, answered to its id). The `data.error` is our stable code.
fn jsonrpc_refusal(body: &[u8]) -> Option<Response> {
    let refuse = |status: StatusCode, id: Value, code: i64, message: String| {
        let mut r = (
            status,
            Json(json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": {"code": code, "message": message, "data": {"error": ErrorCode::RequestInvalid}},
            })),
        )
            .into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    };
    let msg: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Some(refuse(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32700,
                format!("Parse error: the body is not JSON ({e})"),
            ))
        }
    };
    let Some(obj) = msg.as_object() else {
        let why = if msg.is_array() {
            "JSON-RPC batches are not supported (MCP 2025-06-18 removed them): send one message per request"
        } else {
            "a JSON-RPC message is a JSON object"
        };
        return Some(refuse(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            format!("Invalid Request: {why}"),
        ));
    };
    let id = obj.get("id").cloned();
    // MCP: a request id is a string or an integer, never null.
    let id_ok = match &id {
        None => true,
        Some(Value::String(_)) => true,
        Some(Value::Number(n)) => n.is_i64() || n.is_u64(),
        Some(_) => false,
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || !id_ok {
        return Some(refuse(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "Invalid Request: a JSON-RPC 2.0 message has `\"jsonrpc\": \"2.0\"` and an `id` that is a string or an integer".into(),
        ));
    }
    // A message is a request or notification (a string `method`) or a response (`result` or
    // `error`); anything else is not JSON-RPC.
    let method = obj.get("method");
    if method.is_some_and(|m| !m.is_string())
        || (method.is_none() && !obj.contains_key("result") && !obj.contains_key("error"))
    {
        return Some(refuse(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "Invalid Request: `method` must be a string naming the method".into(),
        ));
    }
    // `initialize` needs its params (protocolVersion, capabilities, clientInfo).
    if method.and_then(Value::as_str) == Some("initialize")
        && !obj.get("params").is_some_and(Value::is_object)
    {
        return Some(refuse(
            StatusCode::OK,
            id.clone().unwrap_or(Value::Null),
            -32602,
            "Invalid params: `initialize` takes `params` with `protocolVersion`, `capabilities` and `clientInfo`".into(),
        ));
    }
    if method.and_then(Value::as_str) == Some("tools/call") {
        let params = obj.get("params");
        let problem = match params {
            Some(Value::Object(p)) => {
                if !p.get("name").is_some_and(Value::is_string) {
                    Some("`params.name` must be the tool's name, a string")
                } else if !matches!(
                    p.get("arguments"),
                    None | Some(Value::Null) | Some(Value::Object(_))
                ) {
                    Some("`params.arguments` must be an object of the tool's arguments")
                } else {
                    None
                }
            }
            _ => Some("`params` must be an object with the tool's `name` and `arguments`"),
        };
        if let Some(problem) = problem {
            let id = id.unwrap_or(Value::Null);
            return Some(refuse(
                StatusCode::OK,
                id,
                -32602,
                format!("Invalid params: {problem}"),
            ));
        }
    }
    None
}

/// The transport's own refusals (a body that is not a JSON-RPC message, an `Accept` without
/// JSON, …) come as plain text; they are answered as our error JSON with the same status, so
/// every failure of this route has a stable code. JSON answers (JSON-RPC results and errors)
/// pass unchanged.
async fn transport_error_as_json(
    r: axum::http::Response<
        http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>,
    >,
) -> Response {
    let status = r.status();
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return r.map(Body::new);
    }
    let text = match axum::body::to_bytes(Body::new(r.into_body()), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let code = if status.is_server_error() {
        ErrorCode::ServerInternal
    } else {
        ErrorCode::RequestInvalid
    };
    let message = if text.is_empty() {
        format!("the MCP transport refused the request ({status})")
    } else {
        format!("the MCP transport refused the request: {text}")
    };
    ApiError::new(status, code, message).into_response()
}

fn body_error(e: &axum::Error) -> ApiError {
    if is_body_timeout(e) {
        return ApiError::body_timeout();
    }
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if err.is::<http_body_util::LengthLimitError>() {
            return ApiError::too_large();
        }
        next = err.source();
    }
    ApiError::invalid(format!("could not read the request body: {e}"))
}

fn no_sessions() -> Response {
    let mut r = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::RequestMethodNotAllowed,
        "this MCP server is stateless: it keeps no sessions and opens no event stream; POST JSON-RPC messages to /v1/mcp",
    )
    .into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    r
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The MCP caller: `x-session-token`, or `Authorization: Bearer` with a session token (MCP
/// clients configure one bearer header most easily), or the secret key (`x-api-secret`, or a
/// bearer `sk_…`) with `x-connector-id` and `x-owner-id`. Then the connection is loaded.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> ApiResult<McpCaller> {
    let session_token = headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .or_else(|| {
            // A secret key is always `sk_…`; any other bearer is taken for a session token.
            bearer(headers)
                .filter(|t| !t.starts_with("sk_") && headers.get(API_SECRET_HEADER).is_none())
        });
    let auth: SessionAuth = if let Some(token) = session_token {
        let s = session_from_token(state, token).await?;
        if s.purpose != SessionPurpose::App {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::SessionInvalid,
                "this token only opens the hosted connect page",
            ));
        }
        s
    } else if headers.get(API_SECRET_HEADER).is_some() || bearer(headers).is_some() {
        let secret = headers
            .get(API_SECRET_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .or_else(|| bearer(headers))
            .unwrap_or_default();
        if state.store.verify_api_key(secret).await?.is_none() {
            return Err(ApiError::invalid_api_key());
        }
        let ids = connection_headers(headers)?;
        SessionAuth {
            connector_id: ids.connector_id,
            owner_id: ids.owner_id,
            operations: None,
            purpose: SessionPurpose::App,
            redirect_url: None,
            extra_scopes: Vec::new(),
        }
    } else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::SessionInvalid,
            "missing credentials: send `x-session-token: <session token>` (or `Authorization: Bearer <session token>`), or the secret key with `x-connector-id` and `x-owner-id`",
        ));
    };
    let conn = load(state, &auth.connector_id, &auth.owner_id).await?;
    Ok(McpCaller {
        conn,
        session_ops: auth.operations,
    })
}

/// The MCP handler rmcp calls; one per request (stateless), holding only the server's state.
#[derive(Clone)]
pub struct McpServer {
    state: AppState,
}

const INSTRUCTIONS: &str =
    "Tools over one customer's Dialpad (calls, transcripts, contacts, users, offices, and actions \
such as sending an SMS), limited to what the customer granted this connection. List tools \
return a page and a `next` cursor: pass it back as `cursor` to continue. Errors carry a stable \
code (e.g. CONNECTION::MISSING_PERMISSION names the operation to grant).";

fn caller_of(ctx: &RequestContext<RoleServer>) -> Result<McpCaller, ErrorData> {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<McpCaller>())
        .cloned()
        // `handle` always puts it there: its absence is a wiring bug, not the client's fault.
        .ok_or_else(|| ErrorData::internal_error("the request's caller is missing", None))
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "dialpad-connector",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // Every tool comes in one page and no cursor is ever given out: a cursor is one this
        // server did not make (MCP: an invalid cursor is invalid params), not a page to skip to.
        if request.and_then(|r| r.cursor).is_some() {
            return Err(ErrorData::invalid_params(
                "unknown cursor: tools/list answers every tool in one page and gives no cursor",
                None,
            ));
        }
        let caller = caller_of(&context)?;
        // Every connection (and session) has its own list: no shared cache may serve it.
        Ok(
            ListToolsResult::with_all_items(tools::list(&self.state, &caller))
                .with_cache_scope(CacheScope::Private),
        )
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller_of(&context)?;
        tools::call(&self.state, caller, &request.name, request.arguments)
            .await
            .map(Into::into)
    }
}

/// How to point an MCP client at this server (`GET /v1/s/mcp`, `GET /v1/mcp`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpInfo {
    /// Always `mcpServer`.
    pub object: &'static str,
    /// The endpoint to configure in the MCP client.
    pub url: String,
    /// `streamable-http`.
    pub transport: &'static str,
    /// Stateless: no `Mcp-Session-Id`, no event stream; every request authenticates.
    pub stateless: bool,
    /// The ways to authenticate, each a set of headers to send on every request.
    pub auth: Vec<McpAuth>,
    /// A client configuration (`mcpServers`, the shape Claude Desktop, Cursor and VS Code's
    /// `mcp.json` read) with a session token placeholder.
    #[schema(value_type = Object)]
    pub example_client_config: Value,
    /// What the tools are and how their names are made.
    pub tools: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpAuth {
    pub description: &'static str,
    /// Header name → value (placeholders in `<…>`).
    #[schema(value_type = Object)]
    pub headers: Value,
}

fn info(state: &AppState) -> McpInfo {
    let url = format!("{}{PATH}", state.config.public_base());
    McpInfo {
        object: "mcpServer",
        url: url.clone(),
        transport: "streamable-http",
        stateless: true,
        auth: vec![
            McpAuth {
                description: "A session token (POST /v1/connections/{connectorId}/{ownerId}/sessions, narrowed with `connection.operations` to what the agent may do)",
                headers: json!({"Authorization": "Bearer <session token>"}),
            },
            McpAuth {
                description: "The same session token in the connector's own header",
                headers: json!({"x-session-token": "<session token>"}),
            },
            McpAuth {
                description: "The app's secret key and the connection's ids (every operation the connection was granted)",
                headers: json!({
                    "x-api-secret": "<sk_… secret key>",
                    "x-connector-id": "dialpad",
                    "x-owner-id": "<owner id>",
                }),
            },
        ],
        example_client_config: json!({
            "mcpServers": {
                "dialpad": {
                    "type": "http",
                    "url": url,
                    "headers": {"Authorization": "Bearer <session token>"},
                }
            }
        }),
        tools: "One tool per granted operation: `<model>_<op>` for the unified resources \
                (e.g. `genericContact_list`, `telephonyCall_retrieve`) and `action_<id>` for \
                the actions (e.g. `action_sendSms`); tools/list shows only what the \
                connection and the session may run."
            .into(),
    }
}

/// `GET /v1/s/mcp` (session token, or the secret key with the connection headers).
pub async fn session_info(State(state): State<AppState>, _auth: SessionAuth) -> Json<McpInfo> {
    Json(info(&state))
}

/// `GET /v1/mcp`: a client asking for the event stream gets 405 (there is none); anyone else
/// the connection instructions, no credentials needed (they name no connection).
async fn get_mcp(State(state): State<AppState>, method: Method, headers: HeaderMap) -> Response {
    let wants_stream = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    if wants_stream && method == Method::GET {
        return no_sessions();
    }
    Json(info(&state)).into_response()
}
