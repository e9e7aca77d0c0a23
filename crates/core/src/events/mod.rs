//! Events, pure parts: from the body Dialpad POSTs to the connector's hook to the body the
//! connector POSTs to an app. No I/O here; the server's hook route, the store's outbox and the
//! delivery workers call these.
//!
//! ```text
//! body ─ verify_dialpad_jwt ─▶ claims ─ classify ─▶ Inbound {kind, dedup_key, id}
//!      (parse_unsigned)                   │  (the caller drops a dedup_key it has seen, and
//!                                         │   knows whether the call id is new)
//!                                         ▼
//!                         normalize ─▶ Normalized {events, fetch, recap}
//!                                         │  fetch: transcript / ai_recap within the rate
//!                                         │  budget → transcript_event / recap_event;
//!                                         │  recap: stored, merge_recap for expand=recap
//!                                         ▼
//!                   webhook_body + signature_header ─▶ POST to the app (Standard Webhooks)
//! ```

mod classify;
mod jwt;
mod normalize;
mod recap;
pub mod sms;
mod webhook;

pub use classify::{chained_key, classify, ClassifyError, EventKind, Inbound};
pub use jwt::{parse_unsigned, verify_dialpad_jwt, JwtError};
pub use normalize::{
    normalize, normalize_at, recap_event, transcript_event, Fetch, Normalized, RecapUpdate,
    UnifiedEvent, TRANSCRIPTION_STATES,
};
pub use recap::{merge_recap, RecapPart, RECAP_STATES};
pub use webhook::{
    new_secret, sign, signature_header, webhook_body, SignError, WebhookBody, SECRET_BYTES,
    SECRET_PREFIX,
};

/// The simulator's event payloads (`testdata/sim_events.json`, whose `_about` says how they
/// were captured).
#[cfg(test)]
pub(crate) mod fixtures {
    use serde_json::Value;

    pub fn load() -> Value {
        serde_json::from_str(include_str!("testdata/sim_events.json")).expect("fixture JSON")
    }

    /// The claims of the fixture event `name`.
    pub fn event(f: &Value, name: &str) -> Value {
        f["events"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == name))
            .map(|e| e["claims"].clone())
            .unwrap_or_else(|| panic!("no fixture event {name}"))
    }
}
