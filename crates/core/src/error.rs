//! The stable error codes of the connector API (`{error: "<NAMESPACE::CODE>", …}`), stated once.
//! Apps branch on these strings, so a variant's text never changes once released; Morph's SDK
//! parses the same shape.

use serde::{Serialize, Serializer};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $text:literal => $status:literal, )*) => {
        /// Every error code the connector answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in declaration order (the OpenAPI document lists them).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire text, e.g. `"CONNECTION::NOT_FOUND"`.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text,)* }
            }

            /// The HTTP status this code is normally answered with. A route may answer a
            /// different one where the meaning differs (the connect page answers an unknown
            /// link with 404, the API an unknown token with 401).
            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }
        }
    };
}

error_codes! {
    /// Malformed request: bad JSON, query or path, unknown filter or field name, bad cursor.
    RequestInvalid = "REQUEST::INVALID" => 400,
    RequestTooLarge = "REQUEST::TOO_LARGE" => 413,
    /// The request body stopped arriving.
    RequestTimeout = "REQUEST::TIMEOUT" => 408,
    /// No such route.
    RequestNotFound = "REQUEST::NOT_FOUND" => 404,
    RequestMethodNotAllowed = "REQUEST::METHOD_NOT_ALLOWED" => 405,
    /// A browser form post from another origin.
    RequestForbiddenOrigin = "REQUEST::FORBIDDEN_ORIGIN" => 403,
    AuthInvalidApiKey = "AUTH::INVALID_API_KEY" => 401,
    /// `GET /metrics` without the bearer token `DPC_METRICS_TOKEN` asks for.
    AuthInvalidMetricsToken = "AUTH::INVALID_METRICS_TOKEN" => 401,
    SessionInvalid = "SESSION::INVALID" => 401,
    SessionExpired = "SESSION::EXPIRED" => 401,
    /// The connect page's browser-binding cookie did not come back.
    SessionNoCookie = "SESSION::NO_COOKIE" => 400,
    /// A connect link pressed in a browser other than the first one that pressed Connect on it.
    SessionBrowserMismatch = "SESSION::BROWSER_MISMATCH" => 403,
    ConnectorNotFound = "CONNECTOR::NOT_FOUND" => 404,
    ConnectionNotFound = "CONNECTION::NOT_FOUND" => 404,
    ConnectionAlreadyExists = "CONNECTION::ALREADY_EXISTS" => 409,
    ConnectionNotAuthorized = "CONNECTION::NOT_AUTHORIZED" => 409,
    /// The operation was not granted, or needs scopes the authorization did not ask for.
    ConnectionMissingPermission = "CONNECTION::MISSING_PERMISSION" => 403,
    ConnectionRefreshFailed = "CONNECTION::REFRESH_FAILED" => 401,
    /// An API key given for an API-key connection that Dialpad refused.
    ConnectionInvalidApiKey = "CONNECTION::INVALID_API_KEY" => 400,
    OauthInvalidState = "OAUTH::INVALID_STATE" => 400,
    OauthBrowserMismatch = "OAUTH::BROWSER_MISMATCH" => 403,
    OauthAccessDenied = "OAUTH::ACCESS_DENIED" => 400,
    OauthError = "OAUTH::ERROR" => 400,
    OauthExchangeFailed = "OAUTH::EXCHANGE_FAILED" => 502,
    ResourceNotFound = "RESOURCE::NOT_FOUND" => 404,
    /// `/v1/resources/{model}` for a model the connector does not have.
    ResourceModelNotFound = "RESOURCE::MODEL_NOT_FOUND" => 404,
    /// A write body with unknown fields, wrong types or values Dialpad would refuse.
    ResourceValidationFailed = "RESOURCE::VALIDATION_FAILED" => 422,
    /// Dialpad refused a write because it conflicts with existing data (e.g. a number taken).
    ResourceConflict = "RESOURCE::CONFLICT" => 409,
    /// `/v1/actions/{actionId}` for an action the connector does not have.
    ActionNotFound = "ACTION::NOT_FOUND" => 404,
    /// An `Idempotency-Key` used before with another body (or for another action).
    RequestIdempotencyConflict = "REQUEST::IDEMPOTENCY_CONFLICT" => 409,
    /// An `Idempotency-Key` whose first request is still running.
    RequestIdempotencyInProgress = "REQUEST::IDEMPOTENCY_IN_PROGRESS" => 409,
    /// Dialpad has no API for this model operation.
    OperationNotSupported = "OPERATION::NOT_SUPPORTED" => 501,
    UpstreamRateLimited = "UPSTREAM::RATE_LIMITED" => 429,
    UpstreamUnavailable = "UPSTREAM::UNAVAILABLE" => 502,
    /// Dialpad refused the call for a reason other than a missing scope.
    UpstreamForbidden = "UPSTREAM::FORBIDDEN" => 403,
    /// Dialpad answered 400 (its message is passed on).
    UpstreamInvalid = "UPSTREAM::INVALID" => 400,
    /// Dialpad answered something the connector could not read.
    UpstreamError = "UPSTREAM::ERROR" => 502,
    /// A Dialpad event at the hook that does not verify (forged, wrong secret, `alg: none`,
    /// malformed, an unknown route).
    EventRejected = "EVENT::REJECTED" => 401,
    ServerInternal = "SERVER::INTERNAL" => 500,
    ServerTimeout = "SERVER::TIMEOUT" => 504,
    ServerNotReady = "SERVER::NOT_READY" => 503,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The OpenAPI document's `ErrorCode` schema: a string, one of [`ErrorCode::ALL`].
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .description(Some(
                "A stable, namespaced error code (`NAMESPACE::CODE`); apps branch on it.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_namespaced_and_have_error_statuses() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {c}");
            let (ns, code) = c.as_str().split_once("::").expect("NAMESPACE::CODE");
            assert!(ns.chars().all(|c| c.is_ascii_uppercase()));
            assert!(code.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
            assert!((400..600).contains(&c.status()));
        }
        assert_eq!(
            serde_json::to_value(ErrorCode::ConnectionNotFound).unwrap(),
            "CONNECTION::NOT_FOUND"
        );
    }
}
