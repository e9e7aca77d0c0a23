//! Error type shared by every call.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Longest error body kept verbatim; Dialpad error pages can be large HTML
/// documents and nobody needs all of it in a log line.
const MAX_BODY: usize = 4096;

/// Everything that can go wrong talking to Dialpad.
///
/// No variant ever contains an API key or access token: request headers are
/// never captured, and bodies are only captured from responses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Dialpad answered with a non-success status (other than 401/429).
    #[error("Dialpad API error {status}{}: {message}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Api {
        status: StatusCode,
        /// `error.errors[0].reason` from the envelope, e.g. `notFound`.
        reason: Option<String>,
        /// Human readable message from the envelope, or the start of the body.
        message: String,
        /// Raw response body (truncated to a few KiB).
        body: String,
    },

    /// 401 from Dialpad, after the token provider (if any) had its chance to
    /// supply a fresh token.
    #[error("unauthorized: {message}")]
    Unauthorized { message: String, body: String },

    /// 429 from Dialpad.
    #[error("rate limited by Dialpad{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Parsed `Retry-After` header, if present.
        retry_after: Option<Duration>,
        message: String,
        body: String,
    },

    /// Connection, TLS, timeout or body-read failure.
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),

    /// A success response whose body did not match the expected model.
    #[error("could not decode response of {path}: {message}")]
    Decode {
        /// Request path (no query string, no host).
        path: String,
        /// serde's description of the mismatch.
        message: String,
    },

    /// The client was built or called with invalid settings (bad URL,
    /// missing credentials, unencodable header).
    #[error("invalid client configuration: {0}")]
    Config(String),

    /// The [`TokenProvider`](crate::TokenProvider) failed to produce a token. The source is the
    /// provider's own error type, so its caller can downcast it and answer precisely.
    #[error("token provider failed: {0}")]
    Token(#[source] TokenError),

    /// Dialpad's OAuth token endpoint refused the request with an RFC 6749 §5.2 error
    /// (`invalid_grant`: the code or refresh token is spent, revoked or expired;
    /// `invalid_client`: our client credentials are wrong; …).
    #[error("OAuth error {status}: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OAuth {
        status: StatusCode,
        /// The `error` code, e.g. `invalid_grant`.
        error: String,
        /// `error_description`, if any.
        description: Option<String>,
    },
}

/// What a [`TokenProvider`](crate::TokenProvider) fails with: any error type of its own.
pub type TokenError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Error {
    /// True for the OAuth error `invalid_grant` (the grant is spent, revoked or expired: only a
    /// new authorization helps).
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Error::OAuth { error, .. } if error == "invalid_grant")
    }

    /// The token provider's own error, if this is one and it has type `T`.
    pub fn token_error<T: std::error::Error + 'static>(&self) -> Option<&T> {
        match self {
            Error::Token(e) => e.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// Reads an OAuth error body (`{"error": "...", "error_description": "..."}`) out of a
    /// token-endpoint failure; other errors come back unchanged.
    pub(crate) fn into_oauth(self) -> Error {
        #[derive(Deserialize)]
        struct OAuthBody {
            error: String,
            #[serde(default)]
            error_description: Option<String>,
        }
        let (status, body) = match &self {
            Error::Api { status, body, .. } => (*status, body),
            Error::Unauthorized { body, .. } => (StatusCode::UNAUTHORIZED, body),
            _ => return self,
        };
        match serde_json::from_str::<OAuthBody>(body) {
            Ok(b) if !b.error.is_empty() => Error::OAuth {
                status,
                error: b.error,
                description: b.error_description,
            },
            _ => self,
        }
    }
}

impl Error {
    /// HTTP status, for errors that came from a response.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Unauthorized { .. } => Some(StatusCode::UNAUTHORIZED),
            Error::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            Error::Transport(e) => e.status(),
            _ => None,
        }
    }

    /// The envelope reason (`notFound`, `invalid`, …) if Dialpad sent one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::Api { reason, .. } => reason.as_deref(),
            _ => None,
        }
    }

    /// True for 404 responses.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether retrying the same request later may succeed (429, 5xx,
    /// timeouts and connection failures).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited { .. } => true,
            Error::Api { status, .. } => status.is_server_error(),
            Error::Transport(e) => e.is_timeout() || e.is_connect() || e.is_request(),
            _ => false,
        }
    }

    /// Builds the error for a non-success response from its status, headers
    /// and body. Works for non-JSON bodies too.
    pub fn from_response_parts(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
        let envelope = parse_envelope(body);
        let text = truncate(String::from_utf8_lossy(body).into_owned());
        let message = envelope
            .as_ref()
            .and_then(|e| e.message.clone())
            .or_else(|| {
                let t = text.trim();
                (!t.is_empty()).then(|| t.chars().take(200).collect())
            })
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
        match status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized {
                message,
                body: text,
            },
            StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
                retry_after: parse_retry_after(headers),
                message,
                body: text,
            },
            _ => Error::Api {
                status,
                reason: envelope.and_then(|e| e.reason),
                message,
                body: text,
            },
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        // Strip the URL: it can carry customer identifiers in the query.
        Error::Transport(e.without_url())
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_BODY {
        let mut cut = MAX_BODY;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// What we take out of Dialpad's error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub message: Option<String>,
    pub reason: Option<String>,
}

/// Parses `{"error":{"code":404,"errors":[{"reason":"notFound",...}],"message":"…"}}`
/// and a few looser shapes (`{"error":"…"}`, `{"message":"…"}`).
pub(crate) fn parse_envelope(body: &[u8]) -> Option<Envelope> {
    #[derive(Deserialize)]
    struct Item {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        errors: Option<Vec<Item>>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Obj(Inner),
        Text(String),
    }
    #[derive(Deserialize)]
    struct Outer {
        #[serde(default)]
        error: Option<ErrorField>,
        #[serde(default)]
        message: Option<String>,
    }

    let outer: Outer = serde_json::from_slice(body).ok()?;
    match outer.error {
        Some(ErrorField::Obj(inner)) => {
            let first = inner.errors.and_then(|v| v.into_iter().next());
            let reason = first.as_ref().and_then(|i| i.reason.clone());
            let message = inner
                .message
                .or_else(|| first.and_then(|i| i.message))
                .or(outer.message);
            Some(Envelope { message, reason })
        }
        Some(ErrorField::Text(t)) => Some(Envelope {
            message: Some(outer.message.unwrap_or(t)),
            reason: None,
        }),
        None => outer.message.map(|m| Envelope {
            message: Some(m),
            reason: None,
        }),
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn dialpad_envelope() {
        let body = br#"{"error":{"code":404,"errors":[{"domain":"global","message":"Contact not found","reason":"notFound"}],"message":"Contact not found"}}"#;
        let e = Error::from_response_parts(StatusCode::NOT_FOUND, &HeaderMap::new(), body);
        match &e {
            Error::Api {
                status,
                reason,
                message,
                body,
            } => {
                assert_eq!(*status, StatusCode::NOT_FOUND);
                assert_eq!(reason.as_deref(), Some("notFound"));
                assert_eq!(message, "Contact not found");
                assert!(body.contains("notFound"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(e.is_not_found());
        assert_eq!(e.reason(), Some("notFound"));
    }

    #[test]
    fn envelope_without_top_message_uses_item() {
        let body =
            br#"{"error":{"code":400,"errors":[{"message":"bad phone","reason":"invalid"}]}}"#;
        let env = parse_envelope(body).unwrap();
        assert_eq!(env.message.as_deref(), Some("bad phone"));
        assert_eq!(env.reason.as_deref(), Some("invalid"));
    }

    #[test]
    fn non_json_body_still_api_error() {
        let e = Error::from_response_parts(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>upstream exploded</html>",
        );
        match e {
            Error::Api {
                status,
                reason,
                message,
                ..
            } => {
                assert_eq!(status, StatusCode::BAD_GATEWAY);
                assert_eq!(reason, None);
                assert!(message.contains("upstream exploded"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let empty =
            Error::from_response_parts(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), b"");
        assert!(matches!(&empty, Error::Api { message, .. } if message == "Service Unavailable"));
        assert!(empty.is_retryable());
    }

    #[test]
    fn string_error_field() {
        let env = parse_envelope(br#"{"error":"invalid_grant"}"#).unwrap();
        assert_eq!(env.message.as_deref(), Some("invalid_grant"));
    }

    #[test]
    fn rate_limited_and_unauthorized() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let e = Error::from_response_parts(StatusCode::TOO_MANY_REQUESTS, &h, b"slow down");
        assert!(
            matches!(e, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(7))
        );
        let e = Error::from_response_parts(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), b"");
        assert!(matches!(
            e,
            Error::RateLimited {
                retry_after: None,
                ..
            }
        ));
        let e = Error::from_response_parts(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b"{}");
        assert!(matches!(e, Error::Unauthorized { .. }));
    }

    #[test]
    fn retry_after_http_date_in_past_is_zero() {
        let mut h = HeaderMap::new();
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
    }
}
