//! `/v1/proxy/{path…}` with `x-connector-id` + `x-owner-id` (GET, HEAD, POST, PUT, PATCH or
//! DELETE; any other method is 405): any Dialpad API v2 endpoint with the connection's token
//! injected (refreshed as needed) and the client's rate limiting and
//! retries. Dialpad's status, headers (minus hop-by-hop) and body come back unchanged, the body
//! streamed. The request body (at most 1 MiB) is buffered so the one retry after a token refresh
//! can resend it.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use dpc_core::ErrorCode;
use dpc_store::{Connection, ConnectionStatus};

use crate::auth::{connection_headers, ApiKeyAuth};
use crate::authorization::missing_permission;
use crate::connections::load;
use crate::error::{ApiError, ApiResult};
use crate::operations;
use crate::tokens;
use crate::AppState;

/// Never forwarded to Dialpad: hop-by-hop headers, ones the HTTP stack sets, the caller's
/// credentials and our own routing headers.
const DROPPED_REQUEST: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "authorization",
    "cookie",
    "x-api-secret",
    "x-api-key",
    "x-session-token",
    "x-connector-id",
    "x-owner-id",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];

/// Never returned to the caller: hop-by-hop headers and cookies Dialpad might set.
const DROPPED_RESPONSE: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "set-cookie",
];

/// `headers` without the `dropped` names; values are moved, not copied.
fn filtered(headers: HeaderMap, dropped: &[&str]) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    // `into_iter` yields the name once, then `None` for further values of the same name.
    let mut current: Option<(HeaderName, bool)> = None;
    for (name, value) in headers {
        if let Some(name) = name {
            let keep = !dropped.contains(&name.as_str());
            current = Some((name, keep));
        }
        if let Some((name, true)) = &current {
            out.append(name.clone(), value);
        }
    }
    out
}

/// Whether a path segment is, or could be read by a URL parser or an upstream server as, a
/// dot segment or a path separator: `.`/`..` with any mix of literal and percent-encoded dots
/// (`.%2e`, `%2E.`, …), or an encoded slash or backslash anywhere in it.
fn is_unsafe_segment(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') {
        return true;
    }
    let decoded_dots = lower.replace("%2e", ".");
    decoded_dots == "." || decoded_dots == ".." || decoded_dots.contains("..")
}

/// What the path resolves to once a URL parser normalises it: the last word on where the
/// request would really go, whatever encoding trick the segments use.
fn resolves_inside_api(path: &str) -> bool {
    url::Url::parse("http://upstream.invalid")
        .and_then(|base| base.join(path))
        .is_ok_and(|u| u.path().starts_with("/api/"))
}

/// The Dialpad path (still percent-encoded) and query, from our request URI.
fn upstream_path(req_uri: &axum::http::Uri) -> ApiResult<String> {
    let path = req_uri.path().strip_prefix("/v1/proxy").unwrap_or_default();
    if !path.starts_with("/api/")
        || path.split('/').any(is_unsafe_segment)
        || !resolves_inside_api(path)
    {
        return Err(ApiError::invalid(
            "the proxy reaches Dialpad's API only: use /v1/proxy/api/v2/…",
        ));
    }
    Ok(match req_uri.query() {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    })
}

/// The methods an HTTP API uses: the only ones forwarded. Anything else (CONNECT, TRACE,
/// WebDAV's PROPFIND, made-up ones) never reaches Dialpad with the customer's token.
const FORWARDED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";

fn forwarded(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The method is checked before the credentials, as the router does for every other route: a
/// method the proxy never forwards is 405 whoever asks (the document names only those it does).
pub async fn proxy(State(state): State<AppState>, req: Request) -> Response {
    if !forwarded(req.method()) {
        let mut r = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RequestMethodNotAllowed,
            format!("the proxy forwards only {FORWARDED_METHODS}"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(FORWARDED_METHODS));
        return r;
    }
    let (mut parts, body) = req.into_parts();
    if let Err(e) = ApiKeyAuth::from_request_parts(&mut parts, &state).await {
        return e.into_response();
    }
    match forward(state, Request::from_parts(parts, body)).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn forward(state: AppState, req: Request) -> ApiResult<Response> {
    let ids = connection_headers(req.headers())?;
    let path = upstream_path(req.uri())?;
    let method = req.method().clone();
    let conn = load(&state, &ids.connector_id, &ids.owner_id).await?;
    match conn.status {
        ConnectionStatus::RefreshFailed => return Err(ApiError::refresh_failed()),
        ConnectionStatus::Unauthorized | ConnectionStatus::AwaitingAuthorization => {
            return Err(ApiError::not_authorized())
        }
        ConnectionStatus::Authorized => {}
    }
    let path_only = path.split('?').next().unwrap_or_default();
    let op = operations::for_dialpad_request(method.as_str(), path_only);
    if let Some(op) = op {
        let missing = operations::missing_scopes(&conn.scopes, op);
        if !missing.is_empty() {
            return Err(missing_permission(&state, &conn, op, &missing).await);
        }
    }
    let (mut parts, body) = req.into_parts();
    let headers = filtered(std::mem::take(&mut parts.headers), DROPPED_REQUEST);
    let body = Bytes::from_request(Request::from_parts(parts, body), &state).await?;
    let cc = state.connection_client(&conn)?;
    let mut raw = cc.client.raw(method, &path).header_map(headers);
    if !body.is_empty() {
        raw = raw.body(body);
    }
    let resp = match raw.send().await {
        Ok(r) => r,
        Err(e) if connection_gone(&e) => {
            // Deleted on another instance while this one still had the connection cached: its
            // client (and the token it holds) goes, the caller learns what happened.
            state.clients.invalidate(&conn.id);
            return Err(ApiError::connection_not_found(
                &conn.connector_id,
                &conn.owner_id,
            ));
        }
        Err(e) => return Err(upstream_error(e)),
    };
    let (status, headers, stream) = resp.into_parts();
    let headers = filtered(headers, DROPPED_RESPONSE);
    if let (Some(op), Some(version)) = (op, cc.tokens.held_version()) {
        if status == StatusCode::FORBIDDEN {
            return forbidden_by_dialpad(&state, &conn, op, version, status, headers, stream).await;
        }
        if status.is_success()
            && op
                .scopes
                .iter()
                .any(|s| conn.missing_scopes.iter().any(|m| m == s))
        {
            // The same token now does what a 403 said it could not: the scopes are there.
            let scopes: Vec<String> = op.scopes.iter().map(|s| (*s).to_owned()).collect();
            if let Err(e) = state
                .store
                .clear_missing_scopes(&conn.id, &scopes, version)
                .await
            {
                tracing::warn!(error = %e, "could not clear missing scopes");
            }
        }
    }
    Ok(respond(status, headers, Body::from_stream(stream)))
}

fn respond(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut out = Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// Most of a 403 body read to look for a scope name; a longer one is passed on unread.
const MAX_FORBIDDEN_BODY: usize = 64 * 1024;

/// A 403 from Dialpad on a scoped operation. When Dialpad's message names scopes the operation
/// needs, they are recorded as missing for this token (no refresh, no retry) and the answer is
/// `CONNECTION::MISSING_PERMISSION`; any other 403 (an admin-only call, another office's user)
/// goes back to the caller unchanged and marks nothing.
async fn forbidden_by_dialpad(
    state: &AppState,
    conn: &Connection,
    op: &'static operations::Operation,
    version: i64,
    status: StatusCode,
    headers: HeaderMap,
    mut stream: dialpad::raw::ByteStream,
) -> ApiResult<Response> {
    use futures::StreamExt as _;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(upstream_error)?;
        body.extend_from_slice(&chunk);
        if body.len() > MAX_FORBIDDEN_BODY {
            let rest =
                futures::stream::once(async move { Ok::<_, dialpad::Error>(Bytes::from(body)) })
                    .chain(stream);
            return Ok(respond(status, headers, Body::from_stream(rest)));
        }
    }
    let named = operations::scopes_named_in_forbidden(op, &body);
    if named.is_empty() {
        return Ok(respond(status, headers, Body::from(body)));
    }
    let conn = match state
        .store
        .record_missing_scopes(&conn.id, &named, version)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => conn.clone(),
        Err(e) => {
            tracing::warn!(error = %e, "could not record missing scopes");
            conn.clone()
        }
    };
    Err(missing_permission(state, &conn, op, &named).await)
}

/// Whether a proxied call failed because the connection no longer exists: its refresh found
/// the row gone, or its credentials are gone although the connection read as `authorized` (an
/// authorized connection's credentials are only ever removed together with it).
fn connection_gone(e: &dialpad::Error) -> bool {
    matches!(
        e.token_error::<tokens::TokenFailure>(),
        Some(tokens::TokenFailure::ConnectionGone | tokens::TokenFailure::NotAuthorized)
    )
}

/// Maps a failure of the Dialpad client (not an HTTP status: those pass through).
pub fn upstream_error(e: dialpad::Error) -> ApiError {
    if let Some(f) = e.token_error::<tokens::TokenFailure>() {
        return match f {
            tokens::TokenFailure::NotAuthorized => ApiError::not_authorized(),
            tokens::TokenFailure::RefreshFailed {
                no_refresh_token: true,
            } => ApiError::refresh_failed().with_message(
                "the connection's Dialpad access token expired and Dialpad issued no refresh token \
                 (the customer did not grant offline access): the customer must authorize again",
            ),
            tokens::TokenFailure::RefreshFailed { .. } => ApiError::refresh_failed(),
            tokens::TokenFailure::Unavailable(_) => {
                tracing::warn!(error = %e, "token refresh could not reach Dialpad");
                ApiError::upstream_unavailable()
            }
            tokens::TokenFailure::ConnectionGone => ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::ConnectionNotFound,
                "the connection was deleted",
            ),
            tokens::TokenFailure::Store(_) => ApiError::internal(e),
        };
    }
    match &e {
        dialpad::Error::Token(_) | dialpad::Error::Config(_) | dialpad::Error::Decode { .. } => {
            ApiError::internal(e)
        }
        _ => {
            tracing::warn!(error = %e, "Dialpad unreachable");
            ApiError::upstream_unavailable()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_confined_to_the_api() {
        let u: axum::http::Uri = "/v1/proxy/api/v2/users/me?x=1".parse().unwrap();
        assert_eq!(upstream_path(&u).unwrap(), "/api/v2/users/me?x=1");
        for bad in [
            "/v1/proxy/oauth2/token",
            "/v1/proxy/api/../oauth2/token",
            "/v1/proxy/api/%2E%2E/oauth2/deauthorize",
            "/v1/proxy/api/%2e/x",
            "/v1/proxy/api/v2/a%2E%2eb",
            "/v1/proxy/api/./x",
            // Mixed literal and encoded dots: a URL parser reads both as `..`.
            "/v1/proxy/api/.%2e/oauth2/token",
            "/v1/proxy/api/%2e./oauth2/token",
            "/v1/proxy/api/%2E./oauth2/token",
            // Encoded separators an upstream might decode.
            "/v1/proxy/api/v2%2f..%2f..%2foauth2/token",
            "/v1/proxy/api/v2/%5c..%5coauth2",
        ] {
            let u: axum::http::Uri = bad.parse().unwrap();
            assert!(upstream_path(&u).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_and_hop_by_hop_are_dropped() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-api-secret", "sk_1"),
            ("authorization", "Bearer sk_1"),
            ("cookie", "a=b"),
            ("connection", "close"),
            ("accept", "application/json"),
        ] {
            h.insert(HeaderName::from_static(k), v.parse().unwrap());
        }
        let f = filtered(h, DROPPED_REQUEST);
        assert_eq!(f.len(), 1);
        assert!(f.contains_key("accept"));
    }
}
