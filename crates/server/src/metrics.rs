//! Prometheus metrics: one process-wide registry, a small typed API the rest of the server
//! calls, and `GET /metrics` (text exposition format 0.0.4).
//!
//! - HTTP: [`http_request`], called by the [`track`] middleware on every route with axum's
//!   `MatchedPath` (the route template, `/v1/resources/{model}`; a request no route matched is
//!   `unmatched`): `dpc_http_requests_total{route,method,status}`,
//!   `dpc_http_request_duration_seconds{route,method}` (until the response's headers: a
//!   streamed proxy body is not waited for).
//! - Dialpad: [`dialpad_call`], fed by every `dialpad::Client` the server builds through
//!   [`dialpad_observer`], once per HTTP attempt (a retried 429 counts each time):
//!   `dpc_dialpad_requests_total{operation,status}` (`status="none"`: no answer),
//!   `dpc_dialpad_request_duration_seconds{operation}`. The operation is the client's
//!   `"METHOD /api/v2/template"` (`dialpad::observe`), never a raw path.
//! - Events: `event_*` below, for the events code to call.
//! - The outbox: gauges read from an [`OutboxGauge`] at scrape time, absent without one or
//!   when the read fails or takes longer than [`OUTBOX_READ_TIMEOUT`].
//!
//! Label values come from fixed vocabularies only (route templates, methods, statuses,
//! operation templates, reasons written in the code), never from a request's path or body:
//! each distinct value is a series kept for the process's life.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dpc_core::ErrorCode;
use futures::future::BoxFuture;
use prometheus::proto::MetricFamily;
use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::AppState;

/// The longest a scrape waits for the outbox's numbers; then the gauges are left out.
pub const OUTBOX_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Request durations, seconds: milliseconds up to the default request timeout (60 s).
const REQUEST_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Event delivery latency (created → delivered), seconds: sub-second up to a day of retries.
const DELIVERY_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    dialpad_requests: IntCounterVec,
    dialpad_duration: HistogramVec,
    events_received: IntCounterVec,
    events_verified: IntCounter,
    events_rejected: IntCounterVec,
    events_deduplicated: IntCounter,
    events_delivered: IntCounter,
    delivery_latency: Histogram,
    delivery_failures: IntCounter,
    event_retries: IntCounter,
    events_dead_lettered: IntCounter,
}

/// Registers `c` and hands it back. The names and labels are literals checked by the unit
/// tests (which build the registry), so a failure here is an edit that broke them.
fn registered<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .expect("metric names are valid and unique");
    c
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(
        registry,
        IntCounter::new(name, help).expect("valid metric name"),
    )
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric name"),
    )
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    registered(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )
        .expect("valid metric name"),
    )
}

impl Metrics {
    fn new() -> Self {
        let r = Registry::new();
        Metrics {
            http_requests: counter_vec(
                &r,
                "dpc_http_requests_total",
                "HTTP requests answered, by route template, method and status.",
                &["route", "method", "status"],
            ),
            http_duration: histogram_vec(
                &r,
                "dpc_http_request_duration_seconds",
                "Time from a request's headers to its response's headers, by route template and method.",
                &["route", "method"],
                REQUEST_BUCKETS,
            ),
            dialpad_requests: counter_vec(
                &r,
                "dpc_dialpad_requests_total",
                "HTTP attempts sent to Dialpad (each retry counts), by operation and status (none: no answer).",
                &["operation", "status"],
            ),
            dialpad_duration: histogram_vec(
                &r,
                "dpc_dialpad_request_duration_seconds",
                "Time from sending an attempt to Dialpad's response headers, by operation.",
                &["operation"],
                REQUEST_BUCKETS,
            ),
            events_received: counter_vec(
                &r,
                "dpc_events_received_total",
                "Events received, by source.",
                &["source"],
            ),
            events_verified: counter(
                &r,
                "dpc_events_verified_total",
                "Events whose signature verified.",
            ),
            events_rejected: counter_vec(
                &r,
                "dpc_events_rejected_total",
                "Events refused, by reason.",
                &["reason"],
            ),
            events_deduplicated: counter(
                &r,
                "dpc_events_deduplicated_total",
                "Events dropped as duplicates of one already received.",
            ),
            events_delivered: counter(
                &r,
                "dpc_events_delivered_total",
                "Events delivered to an endpoint.",
            ),
            delivery_latency: registered(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "dpc_event_delivery_latency_seconds",
                        "Time from an event's creation to its delivery.",
                    )
                    .buckets(DELIVERY_BUCKETS.to_vec()),
                )
                .expect("valid metric name"),
            ),
            delivery_failures: counter(
                &r,
                "dpc_event_delivery_failures_total",
                "Delivery attempts that failed.",
            ),
            event_retries: counter(
                &r,
                "dpc_event_retries_total",
                "Deliveries scheduled again after a failed attempt.",
            ),
            events_dead_lettered: counter(
                &r,
                "dpc_events_dead_lettered_total",
                "Deliveries given up on (dead-lettered).",
            ),
            registry: r,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// `method` as a label: the usual HTTP methods as they are, any other `OTHER` (a client may
/// send any token as a method).
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "OTHER",
    }
}

/// One HTTP request answered: `route` is the matched route template (e.g.
/// `"/v1/resources/{model}"`, `"unmatched"` when none matched), never the raw path.
pub fn http_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let m = &*METRICS;
    let method = method_label(method);
    m.http_requests
        .with_label_values(&[route, method, &status.to_string()])
        .inc();
    m.http_duration
        .with_label_values(&[route, method])
        .observe(elapsed.as_secs_f64());
}

/// One HTTP attempt sent to Dialpad: `operation` as `dialpad::observe::operation_name` gives it
/// (`"GET /api/v2/call/{id}"`), `status` `None` when no answer came.
pub fn dialpad_call(operation: &str, status: Option<u16>, elapsed: Duration) {
    let m = &*METRICS;
    let status = status.map_or_else(|| "none".to_owned(), |s| s.to_string());
    m.dialpad_requests
        .with_label_values(&[operation, &status])
        .inc();
    m.dialpad_duration
        .with_label_values(&[operation])
        .observe(elapsed.as_secs_f64());
}

/// The observer every `dialpad::Client` of the server gets (`ClientBuilder::observer`).
pub fn dialpad_observer() -> dialpad::RequestObserver {
    Arc::new(dialpad_call)
}

/// An event arrived from `source` (a fixed name such as `dialpad_webhook`).
pub fn event_received(source: &str) {
    METRICS.events_received.with_label_values(&[source]).inc();
}

/// An event's signature verified.
pub fn event_verified() {
    METRICS.events_verified.inc();
}

/// An event was refused; `reason` is a fixed word (`malformed`, `bad_signature`,
/// `bad_algorithm`, `unknown_route`, `too_large`, …), never text from the request.
pub fn event_rejected(reason: &str) {
    METRICS.events_rejected.with_label_values(&[reason]).inc();
}

/// An event was a duplicate of one already received.
pub fn event_deduplicated() {
    METRICS.events_deduplicated.inc();
}

/// An event was delivered, `elapsed_since_created` after it was created.
pub fn event_delivered(elapsed_since_created: Duration) {
    METRICS.events_delivered.inc();
    METRICS
        .delivery_latency
        .observe(elapsed_since_created.as_secs_f64());
}

/// A delivery attempt failed.
pub fn event_delivery_failed() {
    METRICS.delivery_failures.inc();
}

/// A delivery was scheduled again.
pub fn event_retried() {
    METRICS.event_retries.inc();
}

/// A delivery was given up on.
pub fn event_dead_lettered() {
    METRICS.events_dead_lettered.inc();
}

/// Where the outbox gauges come from at scrape time (the store's outbox statistics).
pub trait OutboxGauge: Send + Sync {
    /// `(pending, oldest due age in ms, inbound pending, failed)`, or `None` when they could
    /// not be read (the gauges are then left out of that scrape).
    fn read(&self) -> BoxFuture<'_, Option<(u64, i64, u64, u64)>>;
}

/// The outbox gauges as metric families of their own (a registry per scrape, so a scrape
/// without numbers has no such series at all rather than stale or zero ones).
fn outbox_families(
    (pending, oldest_due_age_ms, inbound_pending, failed): (u64, i64, u64, u64),
) -> Vec<MetricFamily> {
    let r = Registry::new();
    let gauges = [
        (
            "dpc_outbox_pending",
            "Outbox deliveries waiting to be sent.",
            pending as f64,
        ),
        (
            "dpc_outbox_oldest_due_age_seconds",
            "How long the oldest due outbox delivery has been due.",
            oldest_due_age_ms.max(0) as f64 / 1000.0,
        ),
        (
            "dpc_inbound_pending",
            "Received events not yet processed.",
            inbound_pending as f64,
        ),
        (
            "dpc_outbox_failed",
            "Outbox deliveries that failed for good.",
            failed as f64,
        ),
    ];
    for (name, help, value) in gauges {
        if let Ok(g) = Gauge::new(name, help) {
            g.set(value);
            let _ = r.register(Box::new(g));
        }
    }
    r.gather()
}

/// The exposition text: the registry's series, plus the outbox gauges when `gauge` answers
/// within [`OUTBOX_READ_TIMEOUT`]. No lock is held while the gauge is read.
pub async fn render(gauge: Option<Arc<dyn OutboxGauge>>) -> String {
    let outbox = match gauge {
        None => None,
        Some(g) => match tokio::time::timeout(OUTBOX_READ_TIMEOUT, g.read()).await {
            Ok(Some(stats)) => Some(stats),
            Ok(None) => {
                tracing::warn!("metrics: the outbox statistics could not be read");
                None
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = OUTBOX_READ_TIMEOUT.as_millis() as u64,
                    "metrics: the outbox statistics took too long; left out of this scrape"
                );
                None
            }
        },
    };
    let mut families = METRICS.registry.gather();
    if let Some(stats) = outbox {
        families.extend(outbox_families(stats));
        families.sort_by(|a, b| a.name().cmp(b.name()));
    }
    TextEncoder::new()
        .encode_to_string(&families)
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "metrics: encoding failed");
            String::new()
        })
}

/// The axum middleware behind every route: times the request and records it under its route
/// template ([`http_request`]).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    http_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        method.as_str(),
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}

/// The bearer token of `Authorization: Bearer …`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether `presented` is `expected`, in time independent of where they differ and of their
/// lengths (both are hashed first).
fn token_matches(expected: &SecretString, presented: Option<&str>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    let a = Sha256::digest(expected.expose_secret().as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// `GET /metrics`: the exposition text; with `DPC_METRICS_TOKEN` set, only for
/// `Authorization: Bearer <token>` (otherwise 401 `AUTH::INVALID_METRICS_TOKEN`).
pub async fn serve(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.config.metrics_token {
        if !token_matches(expected, bearer(&headers)) {
            let mut r = ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::AuthInvalidMetricsToken,
                "missing or invalid metrics token (send `Authorization: Bearer <DPC_METRICS_TOKEN>`)",
            )
            .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return r;
        }
    }
    let body = render(state.outbox_gauge()).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(prometheus::TEXT_FORMAT),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Option<(u64, i64, u64, u64)>, Duration);

    impl OutboxGauge for Fixed {
        fn read(&self) -> BoxFuture<'_, Option<(u64, i64, u64, u64)>> {
            Box::pin(async move {
                tokio::time::sleep(self.1).await;
                self.0
            })
        }
    }

    /// The sample line of `name{labels}` (labels as the encoder writes them), its value.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[tokio::test]
    async fn every_metric_is_registered_and_counted() {
        http_request(
            "/v1/resources/{model}",
            "GET",
            200,
            Duration::from_millis(3),
        );
        http_request("unmatched", "BREW", 404, Duration::from_millis(1));
        dialpad_call("GET /api/v2/call/{id}", Some(429), Duration::from_millis(5));
        dialpad_call("GET /api/v2/call/{id}", None, Duration::from_secs(1));
        event_received("unit_test");
        event_verified();
        event_rejected("bad_signature");
        event_deduplicated();
        event_delivered(Duration::from_secs(2));
        event_delivery_failed();
        event_retried();
        event_dead_lettered();
        let text = render(None).await;
        for series in [
            r#"dpc_http_requests_total{method="GET",route="/v1/resources/{model}",status="200"}"#,
            r#"dpc_http_requests_total{method="OTHER",route="unmatched",status="404"}"#,
            r#"dpc_http_request_duration_seconds_count{method="GET",route="/v1/resources/{model}"}"#,
            r#"dpc_dialpad_requests_total{operation="GET /api/v2/call/{id}",status="429"}"#,
            r#"dpc_dialpad_requests_total{operation="GET /api/v2/call/{id}",status="none"}"#,
            r#"dpc_dialpad_request_duration_seconds_count{operation="GET /api/v2/call/{id}"}"#,
            r#"dpc_events_received_total{source="unit_test"}"#,
            "dpc_events_verified_total",
            r#"dpc_events_rejected_total{reason="bad_signature"}"#,
            "dpc_events_deduplicated_total",
            "dpc_events_delivered_total",
            "dpc_event_delivery_latency_seconds_count",
            "dpc_event_delivery_failures_total",
            "dpc_event_retries_total",
            "dpc_events_dead_lettered_total",
        ] {
            let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
            assert!(v >= 1.0, "{series} = {v}");
        }
        assert!(text.contains("# TYPE dpc_event_delivery_latency_seconds histogram"));
        assert!(!text.contains("dpc_outbox_pending"), "no gauge, no series");
    }

    #[tokio::test]
    async fn outbox_gauges_are_read_at_scrape_time() {
        let g: Arc<dyn OutboxGauge> = Arc::new(Fixed(Some((7, 1500, 3, 2)), Duration::ZERO));
        let text = render(Some(g)).await;
        assert_eq!(sample(&text, "dpc_outbox_pending"), Some(7.0));
        assert_eq!(
            sample(&text, "dpc_outbox_oldest_due_age_seconds"),
            Some(1.5)
        );
        assert_eq!(sample(&text, "dpc_inbound_pending"), Some(3.0));
        assert_eq!(sample(&text, "dpc_outbox_failed"), Some(2.0));
        assert!(text.contains("# TYPE dpc_outbox_pending gauge"));
        // Families stay sorted by name with the gauges merged in.
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);

        let failed: Arc<dyn OutboxGauge> = Arc::new(Fixed(None, Duration::ZERO));
        assert!(!render(Some(failed)).await.contains("dpc_outbox"));
    }

    /// A store that never answers costs a scrape the timeout, not the scrape (2 s of real
    /// time: tokio's paused clock needs `test-util`, a feature the crate does not build).
    #[tokio::test]
    async fn a_slow_store_read_is_cut_off() {
        let slow: Arc<dyn OutboxGauge> =
            Arc::new(Fixed(Some((1, 1, 1, 1)), Duration::from_secs(3600)));
        let started = Instant::now();
        let text = render(Some(slow)).await;
        assert!(!text.contains("dpc_outbox"));
        assert!(text.contains("dpc_events_verified_total"));
        let took = started.elapsed();
        assert!(
            took >= OUTBOX_READ_TIMEOUT && took < Duration::from_secs(60),
            "{took:?}"
        );
    }

    #[test]
    fn tokens_compare_whole() {
        let t = SecretString::from("metrics-token-0123456789".to_owned());
        assert!(token_matches(&t, Some("metrics-token-0123456789")));
        assert!(!token_matches(&t, Some("metrics-token-012345678")));
        assert!(!token_matches(&t, Some("metrics-token-0123456789x")));
        assert!(!token_matches(&t, Some("")));
        assert!(!token_matches(&t, None));
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(bearer(&h), None);
    }
}
