//! Events out: the app's webhook endpoints (`endpoints`), the event log and replay (`log`), and
//! the delivery worker that drains the store's outbox (`delivery`). Events in (Dialpad's hooks
//! and websockets, normalization) feed the same outbox.

pub mod delivery;
pub mod endpoints;
pub mod log;

use std::time::Duration;

/// Every event type the connector emits (what an endpoint's `events` may name, besides `*`).
pub const EVENT_TYPES: &[&str] = &[
    "telephonyCall::created",
    "telephonyCall::updated",
    "telephonyCallTranscript::created",
    "telephonyCallTranscript::updated",
    "genericContact::created",
    "genericContact::updated",
    "genericContact::deleted",
    "genericUser::created",
    "genericUser::updated",
    "genericUser::deleted",
    "genericWorkspace::created",
    "genericWorkspace::updated",
    "genericWorkspace::deleted",
    "telephonySms::received",
    "telephonySms::sent",
    "telephonySms::statusChanged",
];

/// How events are delivered (`[webhooks]` in the config file, `DPC_WEBHOOKS_*`).
#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// Endpoints on private, loopback and link-local addresses are accepted (tests, `demo`,
    /// a receiver on the same host). Off by default: a webhook URL is an SSRF vector.
    pub allow_private_urls: bool,
    /// The waits between attempts; after the last one the delivery is given up on (kept as
    /// `failed` for replay). Default: Svix's 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub retry_schedule: Vec<Duration>,
    /// An endpoint whose every attempt has failed for this long is disabled (its events kept).
    pub disable_after: Duration,
    /// Each attempt's whole-request timeout.
    pub timeout: Duration,
    /// Deliveries in flight at once, in total and per endpoint.
    pub max_in_flight: usize,
    pub per_endpoint: u32,
    /// Endpoints that may exist at once (creating one more is refused). Every event is matched
    /// against every enabled endpoint, so an unbounded count is unbounded work per event. High
    /// by default: an app with one owner-filtered endpoint per customer needs thousands.
    pub max_endpoints: u64,
    /// Events are kept this long, then purged (with their deliveries and attempts).
    pub retention: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(n * 60);
        WebhooksConfig {
            allow_private_urls: false,
            retry_schedule: vec![
                Duration::from_secs(5),
                m(5),
                m(30),
                m(120),
                m(300),
                m(600),
                m(600),
            ],
            disable_after: Duration::from_secs(5 * 24 * 3600),
            timeout: Duration::from_secs(15),
            max_in_flight: 64,
            per_endpoint: 8,
            max_endpoints: 10_000,
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Epoch milliseconds → the API's ISO-8601 form.
pub(crate) fn iso_ms(ms: i64) -> String {
    dialpad::Timestamp::from_millis(ms)
        .map(dpc_core::read::iso)
        .unwrap_or_default()
}

/// An ISO-8601 time (or epoch milliseconds) from a query parameter.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// `/metrics`' outbox gauges, read from the store at scrape time.
pub struct StoreGauge(pub std::sync::Arc<dyn dpc_store::Store>);

impl crate::metrics::OutboxGauge for StoreGauge {
    fn read(&self) -> futures::future::BoxFuture<'_, Option<(u64, i64, u64, u64)>> {
        Box::pin(async move {
            let s = self.0.outbox_stats().await.ok()?;
            Some((s.pending, s.oldest_due_age_ms, s.inbound_pending, s.failed))
        })
    }
}
