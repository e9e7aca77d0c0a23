//! `GET /metrics` through the real server: the HTTP counters under route templates (never raw
//! paths or ids), the Dialpad operation counters with a 429 the simulator injects, the bearer
//! token mode, the outbox gauges read at scrape time (and left out when the read hangs), and a
//! strict check of the Prometheus text exposition format 0.0.4 on every scrape.
//!
//! The registry is process-wide and the other tests of this binary run beside these, so counts
//! are checked as lower bounds and the label checks hold for every series, whoever made it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpc_server::metrics::OutboxGauge;
use futures::future::BoxFuture;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::checked::Http;
use crate::helpers::*;

const TOKEN: &str = "metrics-token-7f3a9c1e5b";

/// A scraped series: metric name and labels.
type Series = (String, BTreeMap<String, String>);

/// The samples of a scrape by series, after a strict check of the text format: `# HELP` and
/// `# TYPE` at most once per family and before its samples, every sample in a declared family
/// (a histogram's `_bucket` with `le`, `_sum`, `_count`), a family's samples together, valid
/// metric and label names, label values with only `\\`, `\"` and `\n` escapes, no repeated
/// label or series, float values, counters and histogram parts never negative, buckets
/// cumulative and ending in `+Inf` equal to `_count`.
fn parse_exposition(text: &str) -> Result<BTreeMap<Series, f64>, String> {
    fn metric_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    fn label_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
    fn value(s: &str) -> Option<f64> {
        match s {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ => s.parse().ok(),
        }
    }
    /// `{a="x",b="y"}` → labels and the rest of the line.
    fn labels(mut s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
        let mut out = BTreeMap::new();
        s = s.strip_prefix('{').ok_or("no {")?;
        loop {
            if let Some(rest) = s.strip_prefix('}') {
                return Ok((out, rest));
            }
            let (name, rest) = s.split_once("=\"").ok_or("a label without =\"")?;
            if !label_name(name) {
                return Err(format!("label name {name:?}"));
            }
            let mut val = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next().ok_or("an unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("a dangling escape")?.1 {
                        '\\' => val.push('\\'),
                        '"' => val.push('"'),
                        'n' => val.push('\n'),
                        c => return Err(format!("the escape \\{c}")),
                    },
                    (_, '\n') => return Err("a newline in a label value".into()),
                    (_, c) => val.push(c),
                }
            };
            if out.insert(name.to_owned(), val).is_some() {
                return Err(format!("label {name} twice"));
            }
            s = &rest[end + 1..];
            s = s.strip_prefix(',').unwrap_or(s);
        }
    }

    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeSet<String> = BTreeSet::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut samples: BTreeMap<Series, f64> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let fail = |why: String| Err(format!("line {}: {why}: {line:?}", n + 1));
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _)
                    if !metric_name(name) || !helps.insert(name.to_owned()) =>
                {
                    return fail("a bad or repeated HELP".into());
                }
                (Some("TYPE"), Some(name), Some(kind)) => {
                    let known = ["counter", "gauge", "histogram", "summary", "untyped"];
                    if !metric_name(name) || !known.contains(&kind) {
                        return fail("a bad TYPE".into());
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return fail("a repeated TYPE".into());
                    }
                    if done.contains(name) || current.as_deref() == Some(name) {
                        return fail("TYPE after the family's samples".into());
                    }
                }
                _ => {} // a comment
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        if !metric_name(name) {
            return fail(format!("metric name {name:?}"));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            match labels(&line[name_end..]) {
                Ok(x) => x,
                Err(e) => return fail(e),
            }
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut fields = rest
            .strip_prefix(' ')
            .unwrap_or("")
            .split(' ')
            .filter(|f| !f.is_empty());
        let Some(v) = fields.next().and_then(value) else {
            return fail("no value".into());
        };
        if let Some(ts) = fields.next() {
            if ts.parse::<i64>().is_err() {
                return fail("a bad timestamp".into());
            }
        }
        if fields.next().is_some() {
            return fail("trailing fields".into());
        }
        // The family: the name itself, or a histogram's/summary's base name.
        let family = if types.contains_key(name) {
            name.to_owned()
        } else {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|b| {
                    matches!(
                        types.get(*b).map(String::as_str),
                        Some("histogram" | "summary")
                    )
                });
            match base {
                Some(b) => b.to_owned(),
                None => return fail("a sample of no declared family".into()),
            }
        };
        if current.as_deref() != Some(family.as_str()) {
            if done.contains(&family) {
                return fail("the family's samples are not together".into());
            }
            if let Some(c) = current.replace(family.clone()) {
                done.insert(c);
            }
        }
        let kind = types[&family].as_str();
        if name.ends_with("_bucket") && kind == "histogram" && !labels.contains_key("le") {
            return fail("a bucket without le".into());
        }
        if matches!(kind, "counter" | "histogram") && (v.is_nan() || v < 0.0) {
            return fail("a negative or NaN count".into());
        }
        if samples.insert((name.to_owned(), labels), v).is_some() {
            return fail("a repeated series".into());
        }
    }
    // Histograms: cumulative buckets ending in +Inf = _count.
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let mut by_set: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for ((name, labels), v) in &samples {
            if *name == format!("{family}_bucket") {
                let mut set = labels.clone();
                let le = set.remove("le").and_then(|l| value(&l)).ok_or("a bad le")?;
                by_set.entry(set).or_default().push((le, *v));
            }
        }
        for (set, mut buckets) in by_set {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                return Err(format!("{family}{set:?}: buckets not cumulative"));
            }
            let last = buckets.last().copied().unwrap_or_default();
            let count = samples.get(&(format!("{family}_count"), set.clone()));
            if last.0 != f64::INFINITY || count != Some(&last.1) {
                return Err(format!("{family}{set:?}: +Inf bucket ≠ _count"));
            }
            if !samples.contains_key(&(format!("{family}_sum"), set.clone())) {
                return Err(format!("{family}{set:?}: no _sum"));
            }
        }
    }
    Ok(samples)
}

fn get(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let key = (
        name.to_owned(),
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    samples.get(&key).copied().unwrap_or(0.0)
}

/// A route or operation template: literal segments (a lower-case word: `v1`, `e911`,
/// `openapi.json`, `field-mappings`) and `{placeholders}` (the proxy's `{*path}` too), none of
/// them an id.
fn is_template(path: &str) -> bool {
    path.starts_with('/')
        && path.split('/').skip(1).all(|s| {
            (s.starts_with('{') && s.ends_with('}'))
                || (s.starts_with(|c: char| c.is_ascii_lowercase())
                    && s.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'_' | b'-' | b'.')
                    }))
        })
}

async fn scrape(http: &Http, base: &str, token: Option<&str>) -> (String, BTreeMap<Series, f64>) {
    let mut r = http.get(format!("{base}/metrics"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4",
        "the 0.0.4 text format"
    );
    let text = r.text().await.unwrap();
    let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, samples)
}

#[tokio::test]
async fn metrics_count_routes_and_dialpad_operations_by_template() {
    let app = spawn_app().await;
    let owner = "metrics-owner-31337";
    app.connect(owner, &["genericContact::list", "genericContact::retrieve"])
        .await;
    let res = |path: &str| {
        app.http
            .get(app.url(&format!("/v1/resources/{path}")))
            .header("x-api-secret", &app.api_key)
            .header("x-connector-id", "dialpad")
            .header("x-owner-id", owner)
    };
    // A list and a retrieve against the simulator.
    let r = res("genericContact?limit=2").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    let contact = page["data"][0]["id"].as_str().unwrap().to_owned();
    let r = res(&format!("genericContact/{contact}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // No such route.
    let r = app.get("/v1/no-such-route/98765").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A proxied call Dialpad answers 429 every time: the client retries (each attempt counts),
    // then the 429 is the caller's.
    let r = app
        .http
        .post(format!("{}/_sim/faults", app.sim.base_url))
        .json(
            &json!({"path": "/api/v2/users/*", "method": "GET", "error_rate": 1.0, "status": 429}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = app
        .proxy(owner, Method::GET, "/api/v2/users/424242424242")
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    app.http
        .delete(format!("{}/_sim/faults", app.sim.base_url))
        .send()
        .await
        .unwrap();

    let (text, samples) = scrape(&app.http, &app.base_url, None).await;
    let http = "dpc_http_requests_total";
    for (route, method, status) in [
        ("/v1/resources/{model}", "GET", "200"),
        ("/v1/resources/{model}/{id}", "GET", "200"),
        ("/v1/connections/{connector_id}/{owner_id}", "POST", "201"),
        ("/oauth/callback", "GET", "200"),
        ("unmatched", "GET", "404"),
        ("/v1/proxy/{*path}", "GET", "429"),
    ] {
        let labels = [("method", method), ("route", route), ("status", status)];
        assert!(
            get(&samples, http, &labels) >= 1.0,
            "no {http}{labels:?} in\n{text}"
        );
    }
    let duration = "dpc_http_request_duration_seconds_count";
    assert!(
        get(
            &samples,
            duration,
            &[("method", "GET"), ("route", "/v1/resources/{model}")]
        ) >= 1.0
    );
    let dialpad = "dpc_dialpad_requests_total";
    let users = "GET /api/v2/users/{id}";
    assert!(
        get(
            &samples,
            dialpad,
            &[("operation", users), ("status", "429")]
        ) >= 4.0,
        "the 4 attempts of the proxied call: {text}"
    );
    for operation in ["GET /api/v2/contacts", "POST /oauth2/token"] {
        let labels = [("operation", operation), ("status", "200")];
        assert!(
            get(&samples, dialpad, &labels) >= 1.0,
            "no {dialpad}{labels:?} in\n{text}"
        );
    }
    assert!(
        get(
            &samples,
            "dpc_dialpad_request_duration_seconds_count",
            &[("operation", users)]
        ) >= 4.0
    );
    // Templates only, in every series: no id, owner or raw path from any request.
    for raw in [
        "424242424242",
        "98765",
        "no-such-route",
        owner,
        contact.as_str(),
    ] {
        assert!(!text.contains(raw), "{raw:?} in the metrics:\n{text}");
    }
    for (name, labels) in samples.keys() {
        if let Some(route) = labels.get("route") {
            assert!(
                route == "unmatched" || is_template(route),
                "{name}: route {route:?}"
            );
        }
        if let Some(op) = labels.get("operation") {
            let (method, path) = op.split_once(' ').unwrap();
            assert!(
                ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"]
                    .contains(&method)
                    && (path == "other" || is_template(path)),
                "{name}: operation {op:?}"
            );
        }
    }
    // The events counters are there from the start, and the outbox gauges read from the store.
    assert!(samples.contains_key(&("dpc_events_verified_total".to_owned(), BTreeMap::new())));
    assert!(text.contains("# TYPE dpc_event_delivery_latency_seconds histogram"));
    assert!(text.contains("dpc_outbox_pending 0"), "{text}");
    assert!(text.contains("dpc_inbound_pending 0"), "{text}");
}

#[tokio::test]
async fn metrics_token_is_required_when_configured() {
    let app = spawn_app_with_env(&[("DPC_METRICS_TOKEN", TOKEN)]).await;
    let wrong = format!("{TOKEN}x");
    for (what, auth) in [
        ("no token", None),
        ("a wrong token", Some(wrong.as_str())),
        ("a prefix of the token", Some(&TOKEN[..TOKEN.len() - 1])),
        ("the API key", Some(app.api_key.as_str())),
    ] {
        let mut r = app.http.get(app.url("/metrics"));
        if let Some(t) = auth {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
        let text = String::from_utf8_lossy(r.body()).into_owned();
        assert!(!text.contains(TOKEN), "{what}: {text}");
        let (_, v) = error_code(r).await;
        assert_eq!(v["error"], "AUTH::INVALID_METRICS_TOKEN", "{what}: {v}");
    }
    // Not a secret key's place either: `x-api-secret` does not open it.
    let r = app
        .http
        .get(app.url("/metrics"))
        .header("x-api-secret", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (text, samples) = scrape(&app.http, &app.base_url, Some(TOKEN)).await;
    assert!(!text.contains(TOKEN));
    // The refusals above are counted like any answer.
    assert!(
        get(
            &samples,
            "dpc_http_requests_total",
            &[("method", "GET"), ("route", "/metrics"), ("status", "401")]
        ) >= 5.0,
        "{text}"
    );
}

/// A store source that answers at once, or (when `hang` is set) never.
struct TestGauge {
    hang: AtomicBool,
}

impl OutboxGauge for TestGauge {
    fn read(&self) -> BoxFuture<'_, Option<(u64, i64, u64, u64)>> {
        Box::pin(async move {
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            Some((12, 90_500, 4, 1))
        })
    }
}

#[tokio::test]
async fn outbox_gauges_are_read_at_scrape_time_and_a_hanging_read_is_cut_off() {
    let sim = dialpad_sim::spawn(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("dpc.db").display());
    let key = dpc_store::Cipher::generate_key_base64();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = config_for(&sim, &listener, &db_url, &key, &[]);
    let store = dpc_server::connect_store(&config).await.unwrap();
    let state = dpc_server::AppState::new(config, store).unwrap();
    let gauge = Arc::new(TestGauge {
        hang: AtomicBool::new(false),
    });
    assert!(state.set_outbox_gauge(gauge.clone()));
    assert!(!state.set_outbox_gauge(gauge.clone()), "set once");
    let server = tokio::spawn(async move {
        axum::serve(listener, dpc_server::router(state))
            .await
            .unwrap()
    });
    let http = Http::new(reqwest::Client::new(), [sim.base_url.clone()]);

    let (text, samples) = scrape(&http, &base, None).await;
    for (name, value) in [
        ("dpc_outbox_pending", 12.0),
        ("dpc_outbox_oldest_due_age_seconds", 90.5),
        ("dpc_inbound_pending", 4.0),
        ("dpc_outbox_failed", 1.0),
    ] {
        assert_eq!(get(&samples, name, &[]), value, "{name} in\n{text}");
        assert!(text.contains(&format!("# TYPE {name} gauge")), "{text}");
    }

    gauge.hang.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let (text, _) = scrape(&http, &base, None).await;
    let took = started.elapsed();
    assert!(!text.contains("dpc_outbox"), "{text}");
    assert!(text.contains("dpc_http_requests_total"));
    assert!(
        took >= dpc_server::metrics::OUTBOX_READ_TIMEOUT && took < Duration::from_secs(30),
        "{took:?}"
    );
    server.abort();
}

/// The strict check refuses what Prometheus would.
#[test]
fn the_format_check_is_strict() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"\\n\"} 3\n\
              # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n";
    let s = parse_exposition(ok).unwrap();
    assert_eq!(get(&s, "a_total", &[("x", "1\"\n")]), 3.0);
    for bad in [
        "a_total 1\n",                                                 // no TYPE
        "# TYPE a counter\na{x=\"1\"} one\n",                          // not a number
        "# TYPE a counter\na{x=1} 1\n",                                // unquoted label value
        "# TYPE a counter\na{x=\"\\t\"} 1\n",                          // bad escape
        "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",                    // repeated label
        "# TYPE a counter\na 1\na 2\n",                                // repeated series
        "# TYPE a counter\na -1\n",                                    // negative counter
        "# TYPE a counter\n# TYPE a gauge\na 1\n",                     // repeated TYPE
        "# TYPE 1a counter\n1a 1\n",                                   // bad name
        "# TYPE a counter\n# TYPE b counter\na 1\nb 1\na{y=\"\"} 1\n", // family split
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "# TYPE h histogram\nh_bucket 2\n", // bucket without le
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted: {bad:?}");
    }
}
