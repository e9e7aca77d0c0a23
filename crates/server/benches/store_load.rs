//! Store load: do writes keep going while token refreshes wait on a slow Dialpad?
//!
//! `cargo bench -p dpc-server --bench store_load [-- --postgres URL]` (also PostgreSQL when
//! `TEST_DATABASE_URL` is set; options below).
//!
//! What it checks: a refresh runs under the store's lease row and holds no database
//! transaction (nor pooled connection) across Dialpad's token call, so creating connections and
//! sessions must not slow down, let alone fail, while refreshes are in flight; and the refresh
//! is single-flight, so a connection's concurrent calls cause exactly one token call.
//!
//! Scenario, per backend (SQLite file in a temp dir, then PostgreSQL in a scratch database made
//! from the given URL and dropped afterwards), simulator and connector on loopback:
//!
//! 1. Setup: `--connections` (200) OAuth connections through the real flow (create →
//!    authorization → the simulator's auto-consent → our callback). Then `--expiring` (20) of
//!    them are made to expire: their stored credentials are rewritten through the store's public
//!    `put_credentials` with the same tokens and `expires_at` a minute ago (and the simulator's
//!    copy of the access token is expired too), so their next proxied call refreshes first.
//! 2. Baseline: `--writers` (50) clients, each in a loop, `POST /v1/connections/dialpad/{new
//!    owner}` then `POST /v1/connections/dialpad/{that owner}/sessions` (each request is one
//!    write; 201 expected), for `--baseline-seconds`; no refresh in flight.
//! 3. Under refresh load: `POST /_sim/faults {"path":"/oauth2/token","latency_ms":…}`
//!    (`--token-latency-ms`, 10000), then `--calls` (5) concurrent proxied
//!    `GET /api/v2/users/me` on each expiring connection. Once every expiring connection's token
//!    call has reached the simulator, the same writers run for `--seconds` (9, less than the
//!    token latency, so every write of the phase happens while all the refreshes are in flight;
//!    checked and printed). Then the proxied calls must all answer 200.
//! 4. Baseline again (after), faults cleared: the database has grown by then, so the ratio is
//!    taken against both baselines together.
//!
//! Token calls are counted per connection by a layer this benchmark puts in front of the
//! simulator's public router: it logs each `POST /oauth2/token` (grant type, presented refresh
//! token, arrival, completion, status) and the refresh token the simulator answers with, so a
//! presented refresh token is traced back to its connection through every rotation. (The
//! simulator's own `/_sim/stats` only has totals.)
//!
//! Exit status 1 if any write failed, if a refreshing connection caused other than exactly one
//! token call (or another connection any), or if a proxied call did not answer 200.
//!
//! Threads: the simulator, the connector and the load generator (reqwest) each get a
//! single-worker tokio runtime, as in `benches/proxy.rs`; the store's SQLite connections run on
//! sqlx's own threads.

/// The binary's allocator, so the figures are what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use dpc_store::{Credentials, Store};
use futures::StreamExt;
use parking_lot::Mutex;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

struct Opts {
    connections: usize,
    expiring: usize,
    calls: usize,
    writers: usize,
    seconds: f64,
    baseline_seconds: f64,
    token_latency_ms: u64,
    postgres: Option<String>,
    sqlite: bool,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        connections: 200,
        expiring: 20,
        calls: 5,
        writers: 50,
        seconds: 9.0,
        baseline_seconds: 6.0,
        token_latency_ms: 10_000,
        postgres: std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty()),
        sqlite: true,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_default();
        let num = |name: &str| -> f64 {
            val.parse()
                .unwrap_or_else(|_| panic!("{name} needs a number, got {val:?}"))
        };
        let mut used = true;
        match args[i].as_str() {
            "--connections" => o.connections = num("--connections") as usize,
            "--expiring" => o.expiring = num("--expiring") as usize,
            "--calls" => o.calls = num("--calls") as usize,
            "--writers" => o.writers = num("--writers") as usize,
            "--seconds" => o.seconds = num("--seconds"),
            "--baseline-seconds" => o.baseline_seconds = num("--baseline-seconds"),
            "--token-latency-ms" => o.token_latency_ms = num("--token-latency-ms") as u64,
            "--postgres" => o.postgres = Some(val.clone()),
            "--no-sqlite" => {
                o.sqlite = false;
                used = false;
            }
            // cargo bench passes `--bench`; anything unknown is ignored.
            _ => used = false,
        }
        i += if used { 2 } else { 1 };
    }
    assert!(
        o.expiring <= o.connections && o.expiring > 0 && o.calls > 0 && o.writers > 0,
        "need 0 < --expiring <= --connections, --calls > 0, --writers > 0"
    );
    o
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A single-worker runtime on its own thread, stopped (its tasks dropped) when this is dropped.
struct OwnRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OwnRuntime {
    fn start(name: &str) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let rt = runtime();
                tx.send(rt.handle().clone()).expect("report handle");
                rt.block_on(async {
                    let _ = stopped.await;
                });
                rt.shutdown_timeout(Duration::from_secs(2));
            })
            .expect("thread");
        OwnRuntime {
            handle: rx.recv().expect("runtime started"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Runs `fut` on this runtime and waits for it from another one.
    async fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        self.handle.spawn(fut).await.expect("task on its runtime")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// --- the simulator, with a log of its token endpoint -------------------------------------------

#[derive(Clone, Debug)]
struct TokenCall {
    grant_type: String,
    /// The refresh token presented (refresh grants).
    presented: Option<String>,
    /// The refresh token the simulator answered with.
    issued: Option<String>,
    arrived: Instant,
    finished: Option<Instant>,
    status: Option<u16>,
}

type TokenLog = Arc<Mutex<Vec<TokenCall>>>;

/// Logs every `POST /oauth2/token` around the simulator's own handling (so arrival is before the
/// injected latency, completion after it).
async fn log_token_calls(log: TokenLog, req: Request, next: Next) -> Response {
    if req.method() != axum::http::Method::POST || req.uri().path() != "/oauth2/token" {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let index = {
        let mut log = log.lock();
        log.push(TokenCall {
            grant_type: field("grant_type").unwrap_or_default(),
            presented: field("refresh_token"),
            issued: None,
            arrived: Instant::now(),
            finished: None,
            status: None,
        });
        log.len() - 1
    };
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let issued = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["refresh_token"].as_str().map(str::to_owned));
    {
        let mut log = log.lock();
        let call = &mut log[index];
        call.issued = issued;
        call.finished = Some(Instant::now());
        call.status = Some(parts.status.as_u16());
    }
    Response::from_parts(parts, Body::from(bytes))
}

struct SimSide {
    base_url: String,
    sim: dialpad_sim::Sim,
    log: TokenLog,
}

async fn start_sim() -> SimSide {
    let sim = dialpad_sim::Sim::new(dialpad_sim::SimConfig {
        auto_consent: true,
        rate_limit: false,
        ..Default::default()
    });
    let log: TokenLog = Arc::default();
    let logged = log.clone();
    let app = dialpad_sim::router(sim.clone()).layer(axum::middleware::from_fn(
        move |req: Request, next: Next| log_token_calls(logged.clone(), req, next),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind simulator");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("simulator");
    });
    SimSide {
        base_url: format!("http://{addr}"),
        sim,
        log,
    }
}

// --- the connector ------------------------------------------------------------------------------

struct ServerSide {
    base_url: String,
    api_key: String,
    store: Arc<dyn Store>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn start_server(sim_url: String, db_url: String) -> ServerSide {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let env = [
        ("DPC_LISTEN", addr.to_string()),
        ("DPC_PUBLIC_URL", format!("http://{addr}")),
        ("DPC_DATABASE_URL", db_url),
        (
            "DPC_ENCRYPTION_KEY",
            dpc_store::Cipher::generate_key_base64(),
        ),
        ("DPC_DIALPAD_CLIENT_ID", "sim-client".to_owned()),
        ("DPC_DIALPAD_CLIENT_SECRET", "sim-client-secret".to_owned()),
        ("DPC_DIALPAD_BASE_URL", sim_url),
    ];
    let config = dpc_server::Config::from_sources(None, |k| {
        env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .expect("config");
    let store = dpc_server::connect_store(&config).await.expect("store");
    let (_, key) = store.create_api_key("bench").await.expect("key");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = store.clone();
    tokio::spawn(async move {
        dpc_server::run_with_store(config, served, listener, async {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    ServerSide {
        base_url: format!("http://{addr}"),
        api_key: key.expose_secret().to_owned(),
        store,
        _shutdown: tx,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Create → authorize → consent (auto) → callback: one authorized OAuth connection.
async fn connect(http: &reqwest::Client, base: &str, key: &str, owner: &str) {
    let r = http
        .post(format!("{base}/v1/connections/dialpad/{owner}"))
        .header("x-api-secret", key)
        .json(&json!({"operations": ["genericUser::retrieve"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201, "create connection {owner}");
    let v: Value = http
        .post(format!(
            "{base}/v1/connections/dialpad/{owner}/authorization"
        ))
        .header("x-api-secret", key)
        .json(&json!({}))
        .send()
        .await
        .expect("authorize")
        .json()
        .await
        .expect("authorization json");
    let url = v["authorizationUrl"].as_str().expect("authorizationUrl");
    let r = http.get(url).send().await.expect("consent");
    let callback = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let r = http.get(callback).send().await.expect("callback");
    assert_eq!(r.status(), 200, "callback of {owner}");
}

/// What the benchmark knows about one seeded connection.
struct Seeded {
    owner: String,
    /// The refresh token stored at the start.
    refresh_token: String,
}

/// Reads every seeded connection's refresh token; rewrites the credentials of `expire` (owner
/// names) with the same tokens and `expires_at` a minute ago. Returns them and the access
/// tokens of the expired ones. Runs on the server's runtime (the store's pools live there).
async fn seed_expiry(
    store: Arc<dyn Store>,
    owners: Vec<String>,
    expire: Vec<String>,
) -> (Vec<Seeded>, Vec<String>) {
    let mut seeded = Vec::new();
    let mut expired_access = Vec::new();
    for owner in owners {
        let conn = store
            .get_connection("dialpad", &owner)
            .await
            .expect("get connection")
            .expect("connection exists");
        let stored = store
            .get_credentials(&conn.id)
            .await
            .expect("get credentials")
            .expect("credentials");
        let Credentials::OAuth {
            access_token,
            refresh_token,
            ..
        } = stored.credentials
        else {
            panic!("{owner}: not OAuth credentials");
        };
        let refresh_token = refresh_token.expect("a refresh token (offline_access)");
        if expire.contains(&owner) {
            store
                .put_credentials(
                    &conn.id,
                    &Credentials::OAuth {
                        access_token: access_token.clone(),
                        refresh_token: Some(refresh_token.clone()),
                        expires_at: Some(chrono::Utc::now() - chrono::Duration::minutes(1)),
                    },
                )
                .await
                .expect("put credentials");
            expired_access.push(access_token.expose_secret().to_owned());
        }
        seeded.push(Seeded {
            owner,
            refresh_token: refresh_token.expose_secret().to_owned(),
        });
    }
    (seeded, expired_access)
}

// --- the write load -----------------------------------------------------------------------------

#[derive(Default)]
struct Writes {
    /// Latency of every write, µs.
    latencies: Vec<u64>,
    creates: u64,
    sessions: u64,
    failed: u64,
    /// The first few failures, for the report.
    failures: Vec<String>,
    elapsed: Duration,
}

impl Writes {
    fn merge(&mut self, other: Writes) {
        self.latencies.extend(other.latencies);
        self.creates += other.creates;
        self.sessions += other.sessions;
        self.failed += other.failed;
        for f in other.failures {
            if self.failures.len() < 5 {
                self.failures.push(f);
            }
        }
    }
}

/// One write; Ok(latency µs) on 201.
async fn write(http: &reqwest::Client, url: String, key: &str, body: Value) -> Result<u64, String> {
    let t0 = Instant::now();
    let r = http
        .post(&url)
        .header("x-api-secret", key)
        .json(&body)
        .send()
        .await;
    let outcome = match r {
        Ok(r) if r.status() == 201 => {
            // The body is part of the answer.
            r.bytes().await.map(|_| ()).map_err(|e| e.to_string())
        }
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            Err(format!(
                "{status}: {}",
                text.chars().take(200).collect::<String>()
            ))
        }
        Err(e) => Err(e.to_string()),
    };
    let us = t0.elapsed().as_micros() as u64;
    outcome
        .map(|()| us)
        .map_err(|e| format!("POST {url} after {} ms: {e}", us / 1000))
}

/// `writers` clients, each creating a connection and then a session for it, again and again,
/// for `seconds`.
async fn write_load(base: &str, key: &str, writers: usize, seconds: f64, tag: &str) -> Writes {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let base = base.to_owned();
            let key = key.to_owned();
            let tag = tag.to_owned();
            tokio::spawn(async move {
                let http = http();
                let mut out = Writes::default();
                let mut n = 0u64;
                let record = |out: &mut Writes, r: Result<u64, String>| match r {
                    Ok(us) => {
                        out.latencies.push(us);
                        true
                    }
                    Err(e) => {
                        out.failed += 1;
                        if out.failures.len() < 5 {
                            out.failures.push(e);
                        }
                        false
                    }
                };
                while Instant::now() < deadline {
                    let owner = format!("w-{tag}-{w}-{n}");
                    n += 1;
                    let url = format!("{base}/v1/connections/dialpad/{owner}");
                    let r = write(
                        &http,
                        url.clone(),
                        &key,
                        json!({"operations": ["genericUser::retrieve"]}),
                    )
                    .await;
                    if record(&mut out, r) {
                        out.creates += 1;
                    }
                    let r = write(&http, format!("{url}/sessions"), &key, json!({})).await;
                    if record(&mut out, r) {
                        out.sessions += 1;
                    }
                }
                out
            })
        })
        .collect();
    let mut all = Writes::default();
    for t in tasks {
        all.merge(t.await.expect("writer"));
    }
    all.elapsed = started.elapsed();
    all.latencies.sort_unstable();
    all
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn row(name: &str, w: &Writes) {
    let n = w.latencies.len() as u64 + w.failed;
    println!(
        "  {name:<34} {n:>6} {:>6} {:>10} {:>10} {:>10} {:>8.0}/s",
        w.failed,
        ms(pct(&w.latencies, 0.50)),
        ms(pct(&w.latencies, 0.99)),
        ms(w.latencies.last().copied().unwrap_or(0)),
        n as f64 / w.elapsed.as_secs_f64().max(1e-9),
    );
}

// --- one backend --------------------------------------------------------------------------------

/// Runs the scenario against `db_url`; returns the problems found (empty: passed).
async fn run_backend(label: &str, db_url: String, o: &Opts) -> Vec<String> {
    let mut problems = Vec::new();
    let wall = Instant::now();
    let sim_rt = OwnRuntime::start("sim");
    let srv_rt = OwnRuntime::start("connector");
    let sim = sim_rt.run(start_sim()).await;
    let server = srv_rt.run(start_server(sim.base_url.clone(), db_url)).await;
    let base = server.base_url.clone();
    let key = server.api_key.clone();
    let http = http();

    // 1. Setup.
    let t0 = Instant::now();
    let owners: Vec<String> = (0..o.connections).map(|i| format!("c{i:04}")).collect();
    futures::stream::iter(owners.iter())
        .for_each_concurrent(8, |owner| connect(&http, &base, &key, owner))
        .await;
    // Spread over the table: every (connections / expiring)-th connection expires.
    let step = o.connections / o.expiring;
    let expiring: Vec<String> = (0..o.expiring).map(|i| owners[i * step].clone()).collect();
    let (seeded, expired_access) = srv_rt
        .run(seed_expiry(
            server.store.clone(),
            owners.clone(),
            expiring.clone(),
        ))
        .await;
    {
        let mut db = sim.sim.db().write();
        let now_ms = chrono::Utc::now().timestamp_millis();
        for a in &expired_access {
            if let Some(t) = db.oauth.access_tokens.get_mut(a) {
                t.expires_at_ms = now_ms - 1;
            }
        }
    }
    let setup_calls = sim.log.lock().len();
    println!(
        "[{label}] setup: {} OAuth connections through the API in {:.1} s ({setup_calls} token calls), {} of them expired",
        o.connections,
        t0.elapsed().as_secs_f64(),
        o.expiring
    );

    // 2. Baseline before.
    let before = write_load(&base, &key, o.writers, o.baseline_seconds, "b1").await;

    // 3. Under refresh load.
    let r = http
        .post(format!("{}/_sim/faults", sim.base_url))
        .json(&json!({"path": "/oauth2/token", "latency_ms": o.token_latency_ms}))
        .send()
        .await
        .expect("inject fault");
    assert!(r.status().is_success(), "fault: {}", r.status());
    let log_start = sim.log.lock().len();
    let load_started = Instant::now();
    let proxied: Vec<_> = expiring
        .iter()
        .flat_map(|owner| std::iter::repeat_n(owner.clone(), o.calls))
        .map(|owner| {
            let http = http.clone();
            let url = format!("{base}/v1/proxy/api/v2/users/me");
            let key = key.clone();
            tokio::spawn(async move {
                let t0 = Instant::now();
                let r = http
                    .get(url)
                    .header("x-api-secret", key)
                    .header("x-connector-id", "dialpad")
                    .header("x-owner-id", &owner)
                    .send()
                    .await;
                let status = match r {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                (owner, status, t0.elapsed())
            })
        })
        .collect();
    // Every expiring connection's token call must have reached the simulator.
    let in_flight_deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let arrived = sim.log.lock().len() - log_start;
        if arrived >= o.expiring || Instant::now() >= in_flight_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let window_start = Instant::now();
    let arrived_at_start = sim.log.lock().len() - log_start;
    let under = write_load(&base, &key, o.writers, o.seconds, "load").await;
    let window_end = Instant::now();
    let finished_in_window = sim.log.lock()[log_start..]
        .iter()
        .filter(|c| c.finished.is_some_and(|f| f < window_end))
        .count();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let mut proxied_lat = Vec::new();
    for p in proxied {
        let (_, status, took) = p.await.expect("proxied call");
        *statuses.entry(status).or_default() += 1;
        proxied_lat.push(took.as_millis() as u64);
    }
    proxied_lat.sort_unstable();
    // Anything late (a second refresh would start only after the first answered).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let load_elapsed = load_started.elapsed();
    let _ = http
        .delete(format!("{}/_sim/faults", sim.base_url))
        .send()
        .await;

    // 4. Baseline after.
    let after = write_load(&base, &key, o.writers, o.baseline_seconds, "b2").await;

    // Token calls per connection, following each refresh-token rotation.
    let calls: Vec<TokenCall> = sim.log.lock()[log_start..].to_vec();
    let mut owner_of: HashMap<String, String> = seeded
        .iter()
        .map(|s| (s.refresh_token.clone(), s.owner.clone()))
        .collect();
    let mut per_owner: HashMap<String, usize> = HashMap::new();
    let mut unattributed = 0usize;
    let mut other_grants = 0usize;
    for c in &calls {
        if c.grant_type != "refresh_token" {
            other_grants += 1;
            continue;
        }
        match c.presented.as_ref().and_then(|p| owner_of.get(p)).cloned() {
            Some(owner) => {
                *per_owner.entry(owner.clone()).or_default() += 1;
                if let Some(new) = &c.issued {
                    owner_of.insert(new.clone(), owner);
                }
            }
            None => unattributed += 1,
        }
    }
    let refreshing: Vec<usize> = expiring
        .iter()
        .map(|o| per_owner.get(o).copied().unwrap_or(0))
        .collect();
    let others: usize = per_owner
        .iter()
        .filter(|(o, _)| !expiring.contains(o))
        .map(|(_, n)| n)
        .sum();
    let bad_status: Vec<_> = calls
        .iter()
        .filter(|c| c.status != Some(200))
        .map(|c| c.status)
        .collect();

    // Report.
    println!(
        "[{label}] writes ({} clients; create connection + create session, 201 expected):",
        o.writers
    );
    println!(
        "  {:<34} {:>6} {:>6} {:>10} {:>10} {:>10} {:>10}",
        "phase", "writes", "failed", "p50", "p99", "max", "rate"
    );
    row(
        &format!("baseline before ({:.0} s)", o.baseline_seconds),
        &before,
    );
    row(&format!("under refresh load ({:.0} s)", o.seconds), &under);
    row(
        &format!("baseline after ({:.0} s)", o.baseline_seconds),
        &after,
    );
    let mut baseline: Vec<u64> = before
        .latencies
        .iter()
        .chain(&after.latencies)
        .copied()
        .collect();
    baseline.sort_unstable();
    let ratio = |p: f64| pct(&under.latencies, p) as f64 / pct(&baseline, p).max(1) as f64;
    println!(
        "  ratio under load / baseline (both baselines pooled): p50 {:.2}  p99 {:.2}  max {:.2}",
        ratio(0.50),
        ratio(0.99),
        under.latencies.last().copied().unwrap_or(0) as f64
            / baseline.last().copied().unwrap_or(1).max(1) as f64
    );
    println!(
        "  writes under load: {} creates + {} sessions; {} of {} refreshes in flight when the window opened, {} answered before it closed (window {:.1} s, token latency {} ms)",
        under.creates,
        under.sessions,
        arrived_at_start.min(o.expiring),
        o.expiring,
        finished_in_window,
        (window_end - window_start).as_secs_f64(),
        o.token_latency_ms
    );
    let last_arrival = calls
        .iter()
        .map(|c| c.arrived.saturating_duration_since(load_started))
        .max()
        .unwrap_or_default();
    let min = refreshing.iter().min().copied().unwrap_or(0);
    let max = refreshing.iter().max().copied().unwrap_or(0);
    println!(
        "[{label}] token-endpoint calls per refreshing connection ({} connections × {} concurrent proxied calls): min {min}, max {max}; calls from the other {} connections: {others}; unattributed: {unattributed}; other grants: {other_grants}; non-200 token answers: {}; last token call arrived {} ms after the first proxied call was sent",
        o.expiring,
        o.calls,
        o.connections - o.expiring,
        bad_status.len(),
        last_arrival.as_millis()
    );
    let mut st: Vec<_> = statuses.iter().collect();
    st.sort();
    println!(
        "[{label}] proxied calls: {} sent, statuses {:?}, latency p50 {} ms, max {} ms (phase {:.1} s); backend wall time {:.1} s",
        proxied_lat.len(),
        st,
        pct(&proxied_lat, 0.5),
        proxied_lat.last().copied().unwrap_or(0),
        load_elapsed.as_secs_f64(),
        wall.elapsed().as_secs_f64()
    );
    for (name, w) in [
        ("baseline before", &before),
        ("under load", &under),
        ("baseline after", &after),
    ] {
        for f in &w.failures {
            println!("  failed write ({name}): {f}");
        }
    }

    let failed = before.failed + under.failed + after.failed;
    if failed > 0 {
        problems.push(format!("{label}: {failed} failed writes"));
    }
    if refreshing.iter().any(|&n| n != 1) || others > 0 || unattributed > 0 {
        problems.push(format!(
            "{label}: token calls per refreshing connection {refreshing:?}, others {others}, unattributed {unattributed} (want exactly 1 each, 0 others)"
        ));
    }
    if statuses.get(&200).copied().unwrap_or(0) != proxied_lat.len() {
        problems.push(format!("{label}: proxied calls answered {st:?}"));
    }
    if finished_in_window > 0 || arrived_at_start < o.expiring {
        // Not a defect of the store, but the write window did not fully overlap the refreshes.
        println!(
            "[{label}] note: the write window did not overlap every refresh completely (increase --token-latency-ms or lower --seconds)"
        );
    }
    drop(server);
    drop(srv_rt);
    drop(sim_rt);
    problems
}

/// A scratch database next to the one `admin_url` names, dropped when done.
async fn with_scratch_postgres(admin_url: &str, o: &Opts) -> Vec<String> {
    let admin = sqlx::PgPool::connect(admin_url)
        .await
        .expect("PostgreSQL URL given but unreachable");
    let name = format!(
        "dpc_bench_{}",
        dpc_store::Cipher::generate_key_base64()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(10)
            .collect::<String>()
            .to_ascii_lowercase()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create scratch database");
    let mut url = url::Url::parse(admin_url).expect("PostgreSQL URL");
    url.set_path(&format!("/{name}"));
    let problems = run_backend("postgres", url.to_string(), o).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .expect("drop scratch database");
    admin.close().await;
    problems
}

fn main() {
    let o = parse_opts();
    if o.seconds * 1000.0 + 500.0 > o.token_latency_ms as f64 {
        eprintln!(
            "warning: --seconds {} is not well below the token latency ({} ms): part of the window will have no refresh in flight",
            o.seconds, o.token_latency_ms
        );
    }
    println!(
        "store_load: {} OAuth connections, {} expired ({} concurrent proxied calls each), token endpoint +{} ms, {} writers; baselines {} s, under load {} s",
        o.connections, o.expiring, o.calls, o.token_latency_ms, o.writers, o.baseline_seconds, o.seconds
    );
    let mut problems = Vec::new();
    runtime().block_on(async {
        if o.sqlite {
            let dir = tempfile::tempdir().expect("temp dir");
            let db_url = format!("sqlite://{}", dir.path().join("bench.db").display());
            problems.extend(run_backend("sqlite", db_url, &o).await);
        }
        match o.postgres.clone() {
            Some(url) => problems.extend(with_scratch_postgres(&url, &o).await),
            None => println!("(PostgreSQL skipped: set TEST_DATABASE_URL or pass --postgres URL)"),
        }
    });
    if problems.is_empty() {
        println!("store_load: OK (no failed write, exactly one token call per refreshing connection, every proxied call 200)");
    } else {
        for p in &problems {
            println!("store_load: FAILED: {p}");
        }
        std::process::exit(1);
    }
}
