//! Events end to end: signed Dialpad events POSTed to the hook, verified, stored, normalized,
//! delivered to an app's receiver on loopback, signed; against a receiver-only baseline (the
//! same bodies POSTed straight to the receiver, same concurrency) measured in the same run.
//!
//! `cargo bench -p dpc-server --bench events [-- --events 20000 --concurrency 32 --rates 2000,5000]`
//! First as fast as the hook answers (closed loop: the most it sustains), then at each offered
//! rate on a fixed schedule (open loop: the latency at that load, from each POST's scheduled
//! time).
//! `cargo bench -p dpc-server --bench events -- --pending 100000`: the memory check instead
//! (events for a receiver that is down wait in the store; RSS printed).
//! (PostgreSQL too when `TEST_DATABASE_URL` is set: a fresh database, dropped afterwards.)
//!
//! Each event is a call state of its own call (`telephonyCall::created`), so per-resource order
//! never holds one back; latency is from the POST to the hook starting to the receiver getting
//! the webhook. Sustained rate: events over the time from the first POST to the last delivery.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use dpc_store::events::{NewEndpoint, NewIntake};
use dpc_store::NewConnection;
use parking_lot::Mutex;
use secrecy::SecretString;
use serde_json::{json, Value};

/// The binary's allocator, so the figures are what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-dialpad-secret";
const ROUTE: &str = "rt_bench_0123456789abcdef";

struct Opts {
    events: usize,
    concurrency: usize,
    /// With `--pending N`: the memory check instead (N events for a receiver that is down).
    pending: usize,
    /// Offered loads for the open-loop runs (`--rates 2000,5000`; `--rates none` for none).
    rates: Vec<f64>,
}

fn opts() -> Opts {
    let mut o = Opts {
        events: 20_000,
        concurrency: 32,
        pending: 0,
        rates: vec![2000.0, 5000.0],
    };
    let args: Vec<String> = std::env::args().collect();
    for w in args.windows(2) {
        match w[0].as_str() {
            "--events" => o.events = w[1].parse().unwrap_or(o.events),
            "--rates" => {
                o.rates = w[1]
                    .split(',')
                    .filter_map(|r| r.trim().parse().ok())
                    .collect()
            }
            "--concurrency" => o.concurrency = w[1].parse().unwrap_or(o.concurrency),
            "--pending" => o.pending = w[1].parse().unwrap_or(o.pending),
            _ => {}
        }
    }
    o
}

/// Receipt times by call id.
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver(seen: Seen) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_h: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let at = Instant::now();
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let id = v["data"]["id"]
                    .as_str()
                    .or_else(|| v["id"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().insert(id, at);
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}

fn call_event(i: usize, base_ms: i64) -> Value {
    json!({
        "call_id": 7_000_000_000_000_000_i64 + i as i64,
        "state": "hangup",
        "direction": "inbound",
        "event_timestamp": base_ms + i as i64,
        "date_started": base_ms,
        "date_connected": base_ms + 2000,
        "date_ended": base_ms + 60_000,
        "duration": 58000.0,
        "external_number": "+14155550100",
        "internal_number": "+14155550199",
        "target": {"id": 5_000_000_000_000_i64, "type": "user", "name": "Ada", "phone": "+14155550199"},
        "contact": {"id": 6_000_000_000_000_i64, "type": "local", "name": "Grace", "phone": "+14155550100"},
    })
}

fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// POSTs `bodies` to `url` with `concurrency` workers, as fast as they are answered, or (with
/// `rate`) each at its place in a fixed schedule of `rate` per second (an open loop: a slow
/// answer does not slow the offered load, and latency counts from the scheduled time, so a
/// backlog is not hidden); answers each one's send time by index.
async fn blast(
    url: &str,
    bodies: Arc<Vec<(String, String)>>,
    concurrency: usize,
    rate: Option<f64>,
) -> Vec<Instant> {
    let start = Instant::now();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(vec![Instant::now(); bodies.len()]));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, next, sent, bodies, url) = (
            http.clone(),
            next.clone(),
            sent.clone(),
            bodies.clone(),
            url.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= bodies.len() {
                    break;
                }
                let at = match rate {
                    Some(r) => {
                        let at = start + Duration::from_secs_f64(i as f64 / r);
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    None => Instant::now(),
                };
                sent.lock()[i] = at;
                let r = http.post(&url).body(bodies[i].1.clone()).send().await;
                match r {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => panic!(
                        "POST answered {}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ),
                    Err(e) => panic!("POST failed: {e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = sent.lock().clone();
    v
}

struct Run {
    /// Events accepted per second (all POSTs answered).
    accepted: f64,
    rate: f64,
    p50: Duration,
    p99: Duration,
}

async fn measure(
    url: &str,
    bodies: Arc<Vec<(String, String)>>,
    seen: &Seen,
    concurrency: usize,
    store: Option<&Arc<dyn dpc_store::Store>>,
    rate: Option<f64>,
) -> Run {
    seen.lock().clear();
    let start = Instant::now();
    let sent = blast(url, bodies.clone(), concurrency, rate).await;
    let posted = start.elapsed();
    if let Some(store) = store {
        // Where the backlog waits when the last POST is answered: raw events not yet
        // normalized, or deliveries not yet settled.
        if let Ok(st) = store.outbox_stats().await {
            eprintln!(
                "after the last POST: {} raw events to normalize, {} deliveries pending, {} delivered",
                st.inbound_pending,
                st.pending,
                seen.lock().len()
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen.lock().len() < bodies.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = seen.lock().clone();
    assert_eq!(got.len(), bodies.len(), "every event delivered");
    let last = got.values().max().copied().unwrap_or(start);
    let mut lat: Vec<Duration> = bodies
        .iter()
        .enumerate()
        .filter_map(|(i, (id, _))| got.get(id).map(|t| t.duration_since(sent[i])))
        .collect();
    lat.sort();
    Run {
        accepted: bodies.len() as f64 / posted.as_secs_f64(),
        rate: bodies.len() as f64 / last.duration_since(start).as_secs_f64(),
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
    }
}

async fn bench(backend: &str, db_url: &str, o: &Opts) {
    let seen: Seen = Arc::default();
    let recv_url = receiver(seen.clone()).await;
    let (addr, _store) = serve(db_url, &recv_url).await;

    let base_ms = chrono::Utc::now().timestamp_millis();
    // Each run its own calls (the same ones again would be duplicates).
    let make = |run: usize| -> Arc<Vec<(String, String)>> {
        Arc::new(
            (0..o.events)
                .map(|i| {
                    let c = call_event(run * o.events + i, base_ms);
                    (c["call_id"].to_string(), sign(&c))
                })
                .collect(),
        )
    };
    let bodies = make(0);
    // Baseline: the receiver alone, the same bodies (it answers whatever it is sent).
    let baseline_bodies: Arc<Vec<(String, String)>> = Arc::new(
        bodies
            .iter()
            .map(|(id, _)| (id.clone(), json!({"id": id}).to_string()))
            .collect(),
    );
    let base = measure(&recv_url, baseline_bodies, &seen, o.concurrency, None, None).await;
    let hook = format!("http://{addr}/v1/hooks/dialpad/{ROUTE}");
    let mut runs = vec![(
        "as fast as answered".to_owned(),
        measure(&hook, bodies, &seen, o.concurrency, Some(&_store), None).await,
    )];
    for (k, r) in o.rates.iter().enumerate() {
        let run = measure(
            &hook,
            make(k + 1),
            &seen,
            o.concurrency,
            Some(&_store),
            Some(*r),
        )
        .await;
        runs.push((format!("{r:.0}/s offered"), run));
    }
    for (load, run) in runs {
        println!(
        "| {backend} | {load} | {} | {:.0}/s | {:.0}/s | {} | {} | {:.0}/s | {} | {} | {:.2} | {:.0} MB |",
        o.events,
        run.accepted,
        run.rate,
        ms(run.p50),
        ms(run.p99),
        base.rate,
        ms(base.p50),
        ms(base.p99),
        base.rate / run.rate,
        rss_mb()
    );
    }
}

/// The process's peak resident set (VmHWM), MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The memory check: `n` events for an endpoint whose receiver is down (nothing listens on its
/// port, so every attempt fails and is rescheduled minutes later). Every event is accepted,
/// normalized and waits in the store as a pending delivery; the process's RSS (server and load
/// generator; bodies are signed as they are sent, never held) is printed before and after.
async fn pending_memory(backend: &str, db_url: &str, n: usize, concurrency: usize) {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    let (addr, store) = serve(db_url, &dead_url).await;
    let before = rss_mb();
    let hook = format!("http://{addr}/v1/hooks/dialpad/{ROUTE}");
    let http = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let base_ms = chrono::Utc::now().timestamp_millis();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, next, hook) = (http.clone(), next.clone(), hook.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let body = sign(&call_event(i, base_ms));
                let r = http.post(&hook).body(body).send().await.expect("POST");
                assert!(r.status().is_success(), "POST answered {}", r.status());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let accepted = start.elapsed();
    // Until every raw event is normalized into its pending delivery.
    let deadline = Instant::now() + Duration::from_secs(900);
    let stats = loop {
        let s = store.outbox_stats().await.expect("stats");
        if (s.inbound_pending == 0 && s.pending >= n as u64) || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "| {backend} | {n} | {:.1} s | {} | {:.0} MB | {:.0} MB | {:.0} MB |",
        accepted.as_secs_f64(),
        stats.pending,
        before,
        rss_mb(),
        peak_rss_mb(),
    );
}

/// Serves `db_url` in-process with one connection, its intake and one endpoint for `*` at
/// `endpoint_url`; answers the listening address and the store.
async fn serve(
    db_url: &str,
    endpoint_url: &str,
) -> (std::net::SocketAddr, Arc<dyn dpc_store::Store>) {
    let recv_url = endpoint_url.to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let env = [
        ("DPC_LISTEN", addr.to_string()),
        ("DPC_PUBLIC_URL", format!("http://{addr}")),
        ("DPC_DATABASE_URL", db_url.to_owned()),
        (
            "DPC_ENCRYPTION_KEY",
            dpc_store::Cipher::generate_key_base64(),
        ),
        ("DPC_DIALPAD_CLIENT_ID", "bench".to_owned()),
        ("DPC_DIALPAD_CLIENT_SECRET", "bench".to_owned()),
        ("DPC_DIALPAD_BASE_URL", "http://127.0.0.1:9".to_owned()),
        ("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true".to_owned()),
        ("DPC_WEBHOOKS_MAX_IN_FLIGHT", "128".to_owned()),
        ("DPC_WEBHOOKS_PER_ENDPOINT", "64".to_owned()),
    ];
    // The delivery settings may be tried from the environment (`DPC_WEBHOOKS_PER_ENDPOINT=…`).
    let config = dpc_server::Config::from_sources(None, |k| {
        k.starts_with("DPC_WEBHOOKS_")
            .then(|| std::env::var(k).ok())
            .flatten()
            .or_else(|| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
    })
    .expect("config");
    let store = dpc_server::connect_store(&config).await.expect("store");
    let conn = store
        .insert_connection(NewConnection {
            connector_id: "dialpad".into(),
            owner_id: "bench".into(),
            operations: vec!["telephonyCall::list".into()],
        })
        .await
        .expect("connection");
    // Authorized, with the scope its call events need (an event is a read: without it the
    // repair loop would retire the intake).
    store
        .authorize(
            &conn.id,
            &dpc_store::Grant {
                credentials: dpc_store::Credentials::OAuth {
                    access_token: SecretString::from("unused".to_owned()),
                    refresh_token: None,
                    expires_at: None,
                },
                scopes: vec!["calls:list".into(), "recordings_export".into()],
                dialpad_user_id: None,
                dialpad_company_id: None,
            },
        )
        .await
        .expect("connection");
    store
        .create_intake(&NewIntake {
            connection_id: &conn.id,
            mode: "webhook",
            route_token: ROUTE,
            secret: &SecretString::from(SECRET.to_owned()),
        })
        .await
        .expect("intake");
    // As if registered at Dialpad already (there is no Dialpad here): the repair loop then
    // only fails to check it, and keeps the route token.
    store
        .set_intake_remote(
            &conn.id,
            &dpc_store::events::IntakeRemote {
                remote_id: Some("1".into()),
                subscriptions: "[]".into(),
                status: "active".into(),
                last_error: None,
            },
        )
        .await
        .expect("intake");
    store
        .create_endpoint(
            &NewEndpoint {
                url: recv_url.clone(),
                events: vec!["*".into()],
                ..Default::default()
            },
            &SecretString::from(dpc_core::events::new_secret()),
        )
        .await
        .expect("endpoint");
    let served = store.clone();
    tokio::spawn(async move {
        dpc_server::run_with_store(config, served, listener, std::future::pending())
            .await
            .expect("serve")
    });
    (addr, store)
}

fn main() {
    let o = opts();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if o.pending > 0 {
            println!(
                "\nEvents pending for a receiver that is down ({} events, {} concurrent POSTs)\n",
                o.pending, o.concurrency
            );
            println!("| store | events | all accepted in | deliveries pending | RSS before | RSS after | peak RSS |");
            println!("| --- | --- | --- | --- | --- | --- | --- |");
            let dir = tempfile::tempdir().unwrap();
            let db = format!("sqlite://{}", dir.path().join("pending.db").display());
            pending_memory("SQLite", &db, o.pending, o.concurrency).await;
            return;
        }
        println!(
            "\nEvents: hook → delivered ({} events, {} concurrent POSTs)\n",
            o.events, o.concurrency
        );
        println!("| store | load | events | accepted | delivered (sustained) | p50 | p99 | receiver-only | p50 | p99 | slowdown | RSS |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("events.db").display());
        bench("SQLite", &db, &o).await;
        if let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") {
            let admin = sqlx::PgPool::connect(&admin_url).await.expect("postgres");
            let name = format!("dpc_bench_{}", std::process::id());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .expect("create db");
            let mut url = url::Url::parse(&admin_url).unwrap();
            url.set_path(&format!("/{name}"));
            bench("PostgreSQL", url.as_str(), &o).await;
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await;
        }
    });
}
