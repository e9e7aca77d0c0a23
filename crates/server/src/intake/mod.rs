//! Events in: Dialpad's events for a connection arrive at the hook
//! (`POST /v1/hooks/dialpad/{routeToken}`) or over Dialpad's websocket; either way
//! [`accept_token`] verifies the HS256 token against the connection's secret, classifies it and
//! stores it durably (deduplicated) before anything is answered. The normalizer
//! (`normalize.rs`) turns stored events into unified ones and their deliveries; nothing here
//! waits for delivery. Users and workspaces, which Dialpad sends no events for, are polled
//! instead (`poll.rs`).

pub mod batch;
pub mod hook;
pub mod normalize;
pub mod poll;
pub mod subscriptions;
pub mod websocket;

use dpc_core::events::{classify, verify_dialpad_jwt, ClassifyError, JwtError};
use dpc_store::events::InboundOutcome;
use secrecy::{ExposeSecret, SecretString};

use crate::AppState;

/// The largest event body accepted (Dialpad's call events are a few kB).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// What became of a verified event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    Stored,
    /// Seen before (Dialpad retried, or sent it twice): not stored again.
    Duplicate,
}

/// Why an event was refused. `reason()` labels metrics; messages name nothing secret.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("{0}")]
    Token(JwtError),
    #[error("{0}")]
    Unclassifiable(ClassifyError),
    #[error("the event body is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    #[error("storing the event failed")]
    Store(#[from] dpc_store::StoreError),
}

impl IntakeError {
    pub fn reason(&self) -> &'static str {
        match self {
            IntakeError::Token(e) => e.reason(),
            IntakeError::Unclassifiable(_) => "unclassifiable",
            IntakeError::TooLarge => "too_large",
            IntakeError::Store(_) => "store",
        }
    }
}

/// Verifies, classifies and stores one event of `connection_id` (whose Dialpad secret is
/// `secret`), then wakes the normalizer. `source` is `webhook` or `websocket`.
pub async fn accept_token(
    state: &AppState,
    connection_id: &str,
    secret: &SecretString,
    token: &[u8],
) -> Result<Accepted, IntakeError> {
    let out = accept(state, connection_id, secret, token).await;
    match &out {
        Ok(Accepted::Stored) => crate::metrics::event_verified(),
        Ok(Accepted::Duplicate) => {
            crate::metrics::event_verified();
            crate::metrics::event_deduplicated();
        }
        Err(e) => crate::metrics::event_rejected(e.reason()),
    }
    out
}

async fn accept(
    state: &AppState,
    connection_id: &str,
    secret: &SecretString,
    token: &[u8],
) -> Result<Accepted, IntakeError> {
    if token.len() > MAX_EVENT_BYTES {
        return Err(IntakeError::TooLarge);
    }
    let claims =
        verify_dialpad_jwt(token, secret.expose_secret().as_bytes()).map_err(IntakeError::Token)?;
    let inbound = classify(&claims).map_err(IntakeError::Unclassifiable)?;
    let payload = claims.to_string();
    let out = state
        .intake_writer
        .insert(
            &state.store,
            connection_id,
            &inbound.dedup_key,
            inbound.kind.as_str(),
            payload,
            inbound.chain_prefix,
        )
        .await?;
    match out {
        InboundOutcome::Stored(_) => {
            state.normalizer.notify_one();
            Ok(Accepted::Stored)
        }
        InboundOutcome::Duplicate => Ok(Accepted::Duplicate),
    }
}
