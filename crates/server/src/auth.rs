//! Who is calling: the app's server with a secret key (`x-api-secret: sk_…` or
//! `Authorization: Bearer sk_…`; Morph's `x-api-key` public key is accepted and ignored), or its
//! front end with a session token (`x-session-token`) on the `/v1/s/…` routes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use dpc_core::ErrorCode;
use dpc_store::{ApiKeyRecord, SessionPurpose};

use crate::error::ApiError;
use crate::AppState;

pub const API_SECRET_HEADER: &str = "x-api-secret";
pub const SESSION_HEADER: &str = "x-session-token";
pub const CONNECTOR_HEADER: &str = "x-connector-id";
pub const OWNER_HEADER: &str = "x-owner-id";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn presented_secret(headers: &HeaderMap) -> Option<&str> {
    header(headers, API_SECRET_HEADER).or_else(|| {
        header(headers, "authorization").and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .map(str::trim)
        })
    })
}

async fn verify(state: &AppState, headers: &HeaderMap) -> Result<ApiKeyRecord, ApiError> {
    let Some(secret) = presented_secret(headers) else {
        return Err(ApiError::invalid_api_key());
    };
    match state.store.verify_api_key(secret).await? {
        Some(rec) => Ok(rec),
        None => Err(ApiError::invalid_api_key()),
    }
}

/// A verified API secret key.
#[derive(Debug)]
pub struct ApiKeyAuth(pub ApiKeyRecord);

impl FromRequestParts<AppState> for ApiKeyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        verify(state, &parts.headers).await.map(ApiKeyAuth)
    }
}

/// The connection named by `x-connector-id` + `x-owner-id`.
#[derive(Debug, Clone)]
pub struct ConnectionIds {
    pub connector_id: String,
    pub owner_id: String,
}

pub fn connection_headers(headers: &HeaderMap) -> Result<ConnectionIds, ApiError> {
    Ok(ConnectionIds {
        connector_id: id_header(headers, CONNECTOR_HEADER)?.to_owned(),
        owner_id: id_header(headers, OWNER_HEADER)?.to_owned(),
    })
}

/// A connection id header, read as UTF-8: an owner id made through the path may be any text
/// (`/v1/connections/dialpad/m%C3%BCller`), and its header must reach the same connection.
/// What the id may not contain (control or invisible characters) is `check_ids`'s to say,
/// with the same message for both ways in; a header that is present but not text is not
/// "missing".
fn id_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    let text = match headers.get(name).map(|v| std::str::from_utf8(v.as_bytes())) {
        Some(Ok(t)) => t.trim(),
        Some(Err(_)) => {
            return Err(
                ApiError::invalid(format!("the `{name}` header is not UTF-8 text"))
                    .with_details(serde_json::json!({"header": name})),
            )
        }
        None => "",
    };
    if text.is_empty() {
        return Err(ApiError::invalid(format!(
            "the `{name}` header is required"
        )));
    }
    Ok(text)
}

/// The caller of a `/v1/s/…` route: a front end with a session token, or (as Morph's SDK does
/// for `retrieve` with a secret key) the app's server with a secret key and connection headers.
#[derive(Debug, Clone)]
pub struct SessionAuth {
    pub connector_id: String,
    pub owner_id: String,
    /// The session's operations; `None` for a secret-key caller (no restriction).
    pub operations: Option<Vec<String>>,
    pub purpose: SessionPurpose,
    /// A connect link's redirect target and extra scopes (stored when the link was made).
    pub redirect_url: Option<String>,
    pub extra_scopes: Vec<String>,
}

impl FromRequestParts<AppState> for SessionAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = header(&parts.headers, SESSION_HEADER) {
            let auth = session_from_token(state, token).await?;
            // A connect link's token opens the connect page only; it is not a session of the
            // app's front end (it travels in a URL, in browser history and in logs).
            if auth.purpose != SessionPurpose::App {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::SessionInvalid,
                    "this token only opens the hosted connect page",
                ));
            }
            return Ok(auth);
        }
        if presented_secret(&parts.headers).is_some() {
            verify(state, &parts.headers).await?;
            let ids = connection_headers(&parts.headers)?;
            return Ok(SessionAuth {
                connector_id: ids.connector_id,
                owner_id: ids.owner_id,
                operations: None,
                purpose: SessionPurpose::App,
                redirect_url: None,
                extra_scopes: Vec::new(),
            });
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::SessionInvalid,
            "missing `x-session-token` header",
        ))
    }
}

/// Looks a session token up: unknown → `SESSION::INVALID`, past its expiry → `SESSION::EXPIRED`.
pub async fn session_from_token(state: &AppState, token: &str) -> Result<SessionAuth, ApiError> {
    let Some(session) = state.store.get_session(token).await? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::SessionInvalid,
            "unknown session token",
        ));
    };
    if session.expires_at <= Utc::now() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::SessionExpired,
            "the session has expired: create a new one",
        ));
    }
    Ok(SessionAuth {
        connector_id: session.connector_id,
        owner_id: session.owner_id,
        operations: Some(session.operations),
        purpose: session.purpose,
        redirect_url: session.redirect_url,
        extra_scopes: session.extra_scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn secret_from_either_header() {
        let mut h = HeaderMap::new();
        assert!(presented_secret(&h).is_none());
        h.insert("authorization", HeaderValue::from_static("Bearer sk_abc"));
        assert_eq!(presented_secret(&h), Some("sk_abc"));
        h.insert("x-api-secret", HeaderValue::from_static("sk_def"));
        assert_eq!(presented_secret(&h), Some("sk_def"));
    }
}
