//! JSON request bodies: malformed JSON, wrong types and missing fields answer 400 in Dialpad's
//! envelope, naming the field; oversized bodies answer 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest request body the simulator reads.
pub const MAX_BODY: usize = 1024 * 1024;

pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::bad_request(format!("Could not read request body: {e}"))
            }
        })?;
        parse(&bytes).map(JsonBody)
    }
}

/// An absent body is an empty object, as Dialpad treats it.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("Malformed JSON body: {inner}"))
        } else if path == "." {
            // serde reports missing fields at the parent; its message names the field.
            ApiError::bad_request(format!("Invalid request body: {inner}"))
        } else {
            ApiError::invalid_field(&path, inner)
        }
    })?;
    // Anything after the JSON value (`{"a":1}}`) makes the body malformed, as in Dialpad.
    de.end()
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}")))?;
    Ok(value)
}
