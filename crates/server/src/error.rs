//! The one HTTP error type: `{error: "<NAMESPACE::CODE>", message, details?}` with the status
//! that matches its meaning. Internals (store or Dialpad errors) are logged, never returned.

use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dpc_core::ErrorCode;
use serde_json::Value;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// `code` with the status it is normally answered with.
    pub fn of(code: ErrorCode, message: impl Into<String>) -> Self {
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, code, message)
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::RequestInvalid, message)
    }

    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTooLarge,
            format!(
                "the request body is larger than {} bytes",
                crate::BODY_LIMIT
            ),
        )
    }

    /// The body read timeout (`DPC_BODY_READ_TIMEOUT_MS`) elapsed between two chunks.
    pub fn body_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            "the request body stopped arriving: it paused longer than the server's body read timeout",
        )
    }

    pub fn invalid_api_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::AuthInvalidApiKey,
            "missing or invalid API secret key (send `x-api-secret: sk_…` or `Authorization: Bearer sk_…`)",
        )
    }

    pub fn connection_not_found(connector_id: &str, owner_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::ConnectionNotFound,
            format!("no connection for connector `{connector_id}` and owner `{owner_id}`"),
        )
    }

    pub fn not_authorized() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            ErrorCode::ConnectionNotAuthorized,
            "the connection has no Dialpad credentials yet: send the customer through authorization first",
        )
    }

    pub fn refresh_failed() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::ConnectionRefreshFailed,
            "Dialpad refused the connection's refresh token: the customer must authorize again",
        )
    }

    pub fn upstream_unavailable() -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamUnavailable,
            "Dialpad could not be reached",
        )
    }

    /// A bare 500: the cause goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerInternal,
            "internal error",
        )
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// Human text; it may change, unlike `error`.
    pub message: String,
    /// Machine-readable context (the failing field, the allowed values, `retryAfter`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ApiError {
    /// The error's JSON body (what the answer carries; MCP tool errors and stored idempotent
    /// answers carry the same).
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code,
            message: self.message.clone(),
            details: self.details.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<dpc_store::StoreError> for ApiError {
    fn from(e: dpc_store::StoreError) -> Self {
        match e {
            dpc_store::StoreError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                ErrorCode::ResourceNotFound,
                "not found",
            ),
            dpc_store::StoreError::Conflict => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::ConnectionAlreadyExists,
                "already exists",
            ),
            other => Self::internal(other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::BytesRejection(b) => b.into(),
            JsonRejection::MissingJsonContentType(_) => {
                Self::invalid("expected a JSON body with `Content-Type: application/json`")
            }
            other => Self::invalid(format!("malformed JSON body: {}", other.body_text())),
        }
    }
}

/// Whether `e`, or an error it wraps, is tower-http's body read timeout. The body error reaches
/// the extractors boxed two or three times over (axum's `Body`, http-body-util's `Limited`), so
/// the whole `source` chain is searched.
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        next = e.source();
    }
    false
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        if is_body_timeout(&r) {
            Self::body_timeout()
        } else if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::too_large()
        } else {
            Self::invalid(format!(
                "could not read the request body: {}",
                r.body_text()
            ))
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::invalid(format!("invalid query string: {}", r.body_text()))
    }
}

/// A JSON object body that may be empty (then `T::default()`), whatever its `Content-Type`:
/// Morph's SDK sends `{}` or nothing on several routes. Malformed JSON or anything but an object
/// → 400 `REQUEST::INVALID` naming the problem; over the body limit → 413 `REQUEST::TOO_LARGE`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes =
            <bytes::Bytes as axum::extract::FromRequest<S>>::from_request(req, state).await?;
        let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace()) else {
            return Ok(ApiJson(T::default()));
        };
        // Every body of this API is an object; serde would also fill a struct from an array
        // (`[["genericUser::list"]]` as positional fields) or accept `null`.
        if *first != b'{' {
            return Err(ApiError::invalid(
                "malformed JSON body: expected a JSON object",
            ));
        }
        no_duplicate_keys(&bytes)?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::invalid(format!("malformed JSON body: {e}")))
    }
}

/// Refuses a body in which an object repeats a key (`{"firstName":"a","firstName":"b"}`).
/// serde_json keeps the last one silently, another parser in front of us (a gateway, a WAF, the
/// app's own logger) may keep the first: the same bytes would mean two different writes. One
/// extra pass over a body of at most 1 MiB, on write routes only.
fn no_duplicate_keys(bytes: &[u8]) -> Result<(), ApiError> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Check;
    impl<'de> DeserializeSeed<'de> for Check {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Check {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if !seen.insert(key.to_string()) {
                    let shown = dpc_core::read::quote_input(&key);
                    return Err(serde::de::Error::custom(format!("duplicate key {shown}")));
                }
                map.next_value_seed(Check)?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Check)?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Check
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| ApiError::invalid(format!("malformed JSON body: {e}")))
}

/// Query parameters with a JSON error on bad input.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        <axum::extract::Query<T> as axum::extract::FromRequestParts<S>>::from_request_parts(
            parts, state,
        )
        .await
        .map(|q| ApiQuery(q.0))
        .map_err(ApiError::from)
    }
}

/// Path parameters with a JSON error on bad input.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        <axum::extract::Path<T> as axum::extract::FromRequestParts<S>>::from_request_parts(
            parts, state,
        )
        .await
        .map(|p| ApiPath(p.0))
        .map_err(|r| ApiError::invalid(format!("invalid path: {}", r.body_text())))
    }
}
