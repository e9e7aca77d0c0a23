//! `POST /v1/hooks/dialpad/{routeToken}`: where Dialpad delivers a connection's events. The
//! body is read raw, whatever its content type (Dialpad sends the JWT as `application/json`
//! or text); the route token finds the connection and its secret (only the token's hash is
//! stored). 2xx only once the event is stored; a refused event is 401 (Dialpad does not retry
//! a 4xx, which is right for a forgery), a store failure 503 (Dialpad retries).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::{accept_token, Accepted, IntakeError, MAX_EVENT_BYTES};
use crate::error::{ApiError, ApiPath, ApiResult};
use crate::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HookAnswer {
    /// `stored` or `duplicate`.
    pub status: &'static str,
}

/// The hook's own limit, smaller than the API's body limit.
fn too_large() -> ApiError {
    ApiError::too_large().with_message(format!(
        "the event body is larger than {MAX_EVENT_BYTES} bytes"
    ))
}

fn refused(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        dpc_core::ErrorCode::EventRejected,
        message,
    )
}

pub async fn receive(
    State(state): State<AppState>,
    ApiPath(route_token): ApiPath<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, Json<HookAnswer>)> {
    crate::metrics::event_received("webhook");
    // Over the router's body limit (or cut off): the same JSON answer and count as any body
    // over the hook's own limit, not axum's plain-text rejection.
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            crate::metrics::event_rejected("too_large");
            return Err(too_large());
        }
        Err(r) => {
            crate::metrics::event_rejected("unreadable");
            return Err(ApiError::invalid(format!(
                "the event body could not be read: {r}"
            )));
        }
    };
    if body.len() > MAX_EVENT_BYTES {
        crate::metrics::event_rejected("too_large");
        return Err(too_large());
    }
    // Unknown routes answer as forged tokens do: a prober learns nothing from the difference.
    let Some(intake) = state.store.intake_by_route(&route_token).await? else {
        tracing::debug!("event for an unknown route token refused");
        crate::metrics::event_rejected("unknown_route");
        return Err(refused("the event was refused"));
    };
    let token: &[u8] = body.trim_ascii();
    match accept_token(&state, &intake.connection_id, &intake.secret, token).await {
        Ok(Accepted::Stored) => Ok((StatusCode::ACCEPTED, Json(HookAnswer { status: "stored" }))),
        Ok(Accepted::Duplicate) => Ok((
            StatusCode::OK,
            Json(HookAnswer {
                status: "duplicate",
            }),
        )),
        Err(IntakeError::TooLarge) => Err(too_large()),
        Err(IntakeError::Store(e)) => {
            tracing::warn!(error = %e, "storing a Dialpad event failed");
            Err(ApiError::of(
                dpc_core::ErrorCode::ServerNotReady,
                "the event could not be stored; retry",
            ))
        }
        Err(e) => {
            tracing::info!(reason = e.reason(), connection = %intake.connection_id, "Dialpad event refused");
            Err(refused(format!("the event was refused: {e}")))
        }
    }
}
