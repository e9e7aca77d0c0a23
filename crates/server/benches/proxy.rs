//! Proxy overhead: the same GET straight to the simulator and through the connector's proxy
//! (`/v1/proxy/api/v2/users/{id}` with `x-api-secret`, `x-connector-id`, `x-owner-id`), in one
//! run, simulator rate limiting off.
//!
//! `cargo bench -p dpc-server --bench proxy [-- --seconds 5 --connections 32 --requests 3000]`
//!
//! - latency: `--requests` sequential requests on one keep-alive connection (after a warm-up),
//!   p50/p99 for both;
//! - throughput: `--connections` keep-alive connections, one request in flight each, for
//!   `--seconds`, for both; also the process CPU time per request (from `/proc/self/stat`), whose
//!   difference is what the connector spends per proxied request.
//!
//! Pacing: the connector builds each connection's Dialpad client with Dialpad's published rate
//! limits (20 req/s per company, paced at 95 %), and the server has no setting to turn that off
//! (none in `Config`). So the overhead figures come from a connection whose client is built by
//! this benchmark with `no_rate_limit()` and put in the server's client cache (public
//! `AppState::clients`) before serving; everything else (auth, store lookups, token provider,
//! header filtering, streaming) is the server's own code. A short extra run through a normally
//! created (paced) connection shows the shipped behaviour: about 19 req/s, by design.
//!
//! Threads: the simulator, the connector and the load generator each get a single-worker tokio
//! runtime (on 2 cores, the proxied runs share the CPU three ways, the direct runs two ways).
//! The load generator is raw HTTP/1.1 over TCP, as in `dialpad-sim`'s throughput bench.

/// The binary's allocator, so the figures are what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Opts {
    seconds: u64,
    connections: usize,
    requests: usize,
    paced_seconds: u64,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        seconds: 5,
        connections: 32,
        requests: 3000,
        paced_seconds: 3,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_default();
        let slot = match args[i].as_str() {
            "--seconds" => &mut o.seconds,
            "--paced-seconds" => &mut o.paced_seconds,
            "--connections" => {
                o.connections = val.parse().unwrap_or(o.connections);
                i += 2;
                continue;
            }
            "--requests" => {
                o.requests = val.parse().unwrap_or(o.requests);
                i += 2;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        *slot = val.parse().unwrap_or(*slot);
        i += 2;
    }
    o
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `fut` on its own single-worker runtime thread (forever: the futures here never end).
fn on_own_thread<F>(fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    std::thread::spawn(move || runtime().block_on(fut));
}

/// Process CPU time (user + system), from `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Fields 14 (utime) and 15 (stime) of the whole line are 11 and 12 after the `)`.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Reads one HTTP/1.1 response (Content-Length or chunked); returns its status.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
        let mut chunk = [0u8; 16384];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        fill(s, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_ascii_lowercase())
        })
    };
    let mut pos = end + 4;
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let line_end = loop {
                if let Some(i) = buf[pos..].windows(2).position(|w| w == b"\r\n") {
                    break pos + i;
                }
                fill(s, buf).await?;
            };
            let size_text = String::from_utf8_lossy(&buf[pos..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            let next = line_end + 2 + size + 2;
            while buf.len() < next {
                fill(s, buf).await?;
            }
            pos = next;
            if size == 0 {
                break;
            }
        }
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        pos += len;
        while buf.len() < pos {
            fill(s, buf).await?;
        }
    }
    buf.drain(..pos);
    Ok(status)
}

#[derive(Clone)]
struct Target {
    name: &'static str,
    addr: String,
    request: Arc<String>,
}

impl Target {
    fn new(name: &'static str, addr: &str, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut r = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
        for (k, v) in headers {
            r.push_str(&format!("{k}: {v}\r\n"));
        }
        r.push_str("\r\n");
        Target {
            name,
            addr: addr.to_owned(),
            request: Arc::new(r),
        }
    }

    async fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).await.expect("connect");
        s.set_nodelay(true).ok();
        s
    }

    /// One request on `s`; panics unless it answers 200 (a benchmark of errors is worthless).
    async fn once(&self, s: &mut TcpStream, buf: &mut Vec<u8>) {
        s.write_all(self.request.as_bytes()).await.expect("write");
        let status = read_response(s, buf).await.expect("read");
        assert_eq!(status, 200, "{} answered {status}", self.name);
    }

    /// Sequential requests on one keep-alive connection: sorted latencies (µs).
    async fn latency(&self, warmup: usize, n: usize) -> Vec<u64> {
        let mut s = self.connect().await;
        let mut buf = Vec::with_capacity(32 * 1024);
        for _ in 0..warmup {
            self.once(&mut s, &mut buf).await;
        }
        let mut lat = Vec::with_capacity(n);
        for _ in 0..n {
            let t0 = Instant::now();
            self.once(&mut s, &mut buf).await;
            lat.push(t0.elapsed().as_micros() as u64);
        }
        lat.sort_unstable();
        lat
    }

    /// `conns` keep-alive connections for `secs`: (requests per second, CPU per request).
    async fn throughput(&self, conns: usize, secs: u64) -> (f64, Duration, u64) {
        let cpu0 = cpu_time();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let t = self.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = t.connect().await;
                let mut buf = Vec::with_capacity(32 * 1024);
                let mut ok = 0u64;
                while Instant::now() < deadline {
                    t.once(&mut s, &mut buf).await;
                    ok += 1;
                }
                ok
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += t.await.expect("load task");
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_time().saturating_sub(cpu0);
        (
            ok as f64 / elapsed,
            cpu.checked_div(ok.max(1) as u32).unwrap_or_default(),
            ok,
        )
    }
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(0)
}

struct Setup {
    sim_addr: String,
    server_addr: String,
    api_key: String,
    access_token: String,
    user_id: String,
}

/// Simulator and connector on their own threads; an OAuth connection `bench` (unpaced client,
/// see the module docs) and `bench-paced` (the server's own, paced client).
fn start() -> (Setup, tempfile::TempDir) {
    let (tx, rx) = std::sync::mpsc::channel();
    on_own_thread(async move {
        let sim = dialpad_sim::spawn(dialpad_sim::SimConfig {
            auto_consent: true,
            rate_limit: false,
            ..Default::default()
        })
        .await
        .expect("simulator");
        tx.send((sim.base_url.clone(), sim.addr.to_string(), sim.sim.clone()))
            .expect("report");
        std::future::pending::<()>().await;
        drop(sim);
    });
    let (sim_url, sim_addr, sim) = rx.recv().expect("simulator started");

    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (tx, rx) = std::sync::mpsc::channel();
    on_own_thread(async move {
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
            ("DPC_DIALPAD_BASE_URL", sim_url.clone()),
        ];
        let config = dpc_server::Config::from_sources(None, |k| {
            env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
        .expect("config");
        let store = dpc_server::connect_store(&config).await.expect("store");
        let (_, key) = store.create_api_key("bench").await.expect("key");
        let key = key.expose_secret().to_owned();
        let state = dpc_server::AppState::new(config, store.clone()).expect("state");
        let app = dpc_server::router(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });

        // Two OAuth connections through the API: create → authorize → consent → callback.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http");
        let base = format!("http://{addr}");
        for owner in ["bench", "bench-paced"] {
            let r = http
                .post(format!("{base}/v1/connections/dialpad/{owner}"))
                .header("x-api-secret", &key)
                .json(&json!({"operations": ["genericUser::retrieve"]}))
                .send()
                .await
                .expect("create");
            assert_eq!(r.status(), 201, "create connection");
            let v: serde_json::Value = http
                .post(format!(
                    "{base}/v1/connections/dialpad/{owner}/authorization"
                ))
                .header("x-api-secret", &key)
                .json(&json!({}))
                .send()
                .await
                .expect("authorize")
                .json()
                .await
                .expect("json");
            let url = v["authorizationUrl"].as_str().expect("authorizationUrl");
            let r = http.get(url).send().await.expect("consent");
            let cb = r.headers()["location"]
                .to_str()
                .expect("location")
                .to_owned();
            let r = http.get(cb).send().await.expect("callback");
            assert_eq!(r.status(), 200, "callback");
        }
        // The unpaced client for `bench`, in the server's cache before its first request.
        let conn = store
            .get_connection("dialpad", "bench")
            .await
            .expect("get")
            .expect("connection");
        let tokens = Arc::new(dpc_server::tokens::ConnectionTokens::new(
            store.clone(),
            state.oauth.clone(),
            &conn.id,
        ));
        state
            .clients
            .get_or_insert(&conn.id, || {
                dialpad::Client::builder()
                    .base_url(state.config.dialpad_base_url.clone())
                    .http_client(state.http.clone())
                    .auth(dialpad::Auth::Provider(tokens.clone()))
                    .no_rate_limit()
                    .build()
                    .map(|client| dpc_server::tokens::ConnectionClient {
                        client,
                        tokens: tokens.clone(),
                        calls: Default::default(),
                    })
            })
            .expect("client");
        tx.send((addr.to_string(), key)).expect("report");
        std::future::pending::<()>().await;
    });
    let (server_addr, api_key) = rx.recv().expect("server started");

    let (access_token, user_id) = {
        let db = sim.db().read();
        let token = db
            .oauth
            .access_tokens
            .keys()
            .next()
            .expect("an issued token")
            .clone();
        let user = db
            .oauth
            .access_tokens
            .values()
            .next()
            .map(|t| t.user_id)
            .expect("user");
        (token, user.to_string())
    };
    (
        Setup {
            sim_addr,
            server_addr,
            api_key,
            access_token,
            user_id,
        },
        dir,
    )
}

fn main() {
    let opts = parse_opts();
    let (setup, _dir) = start();
    let path = format!("/api/v2/users/{}", setup.user_id);
    let bearer = format!("Bearer {}", setup.access_token);
    let direct = Target::new(
        "direct",
        &setup.sim_addr,
        &path,
        &[("Authorization", &bearer)],
    );
    let proxy_path = format!("/v1/proxy{path}");
    let via = |owner: &str, name| {
        Target::new(
            name,
            &setup.server_addr,
            &proxy_path,
            &[
                ("x-api-secret", &setup.api_key),
                ("x-connector-id", "dialpad"),
                ("x-owner-id", owner),
            ],
        )
    };
    let proxied = via("bench", "proxy");
    // The connector's per-request work without the Dialpad hop: key check + connection load.
    let lookup = Target::new(
        "lookup",
        &setup.server_addr,
        "/v1/connections/dialpad/bench",
        &[("x-api-secret", &setup.api_key)],
    );
    let paced = via("bench-paced", "proxy (paced, as shipped)");

    runtime().block_on(async move {
        println!(
            "GET {path}: direct to the simulator vs through /v1/proxy (sequential: {} requests; \
             throughput: {} connections × {} s)",
            opts.requests, opts.connections, opts.seconds
        );
        let warm = opts.requests / 10;
        let d_lat = direct.latency(warm, opts.requests).await;
        let p_lat = proxied.latency(warm, opts.requests).await;
        let (d_rps, d_cpu, d_n) = direct.throughput(opts.connections, opts.seconds).await;
        let (p_rps, p_cpu, p_n) = proxied.throughput(opts.connections, opts.seconds).await;
        let l_lat = lookup.latency(warm, opts.requests).await;
        let (l_rps, l_cpu, l_n) = lookup.throughput(opts.connections, opts.seconds).await;
        let row = |name: &str, lat: &[u64], rps: f64, cpu: Duration, n: u64| {
            println!(
                "{name:<8} p50 {:>5} µs  p99 {:>5} µs  throughput {rps:>7.0} req/s ({n} ok)  CPU/request {:>4} µs",
                pct(lat, 0.50),
                pct(lat, 0.99),
                cpu.as_micros()
            )
        };
        row("direct", &d_lat, d_rps, d_cpu, d_n);
        row("proxy", &p_lat, p_rps, p_cpu, p_n);
        row("lookup", &l_lat, l_rps, l_cpu, l_n);
        println!("(lookup = GET /v1/connections/dialpad/bench on the connector: the key check and connection load a proxied request also does, without the Dialpad hop)");
        let added = pct(&p_lat, 0.50) as f64 - pct(&d_lat, 0.50) as f64;
        let ratio = p_rps / d_rps;
        println!(
            "added p50: {:.3} ms (goal ≤ 0.5 ms: {}); added p99: {:.3} ms; throughput ratio: {:.0} % of direct (goal ≥ 80 %: {}); connector CPU per request ≈ {} µs",
            added / 1000.0,
            if added <= 500.0 { "met" } else { "NOT met" },
            (pct(&p_lat, 0.99) as f64 - pct(&d_lat, 0.99) as f64) / 1000.0,
            ratio * 100.0,
            if ratio >= 0.8 { "met" } else { "NOT met" },
            p_cpu.as_micros() as i128 - d_cpu.as_micros() as i128,
        );
        if opts.paced_seconds > 0 {
            let (rps, _, n) = paced.throughput(8, opts.paced_seconds).await;
            println!(
                "proxy through a connection the server built itself (client pacing at Dialpad's 20 req/s × 0.95, no setting to turn it off): {rps:.1} req/s ({n} ok in {} s, 8 connections)",
                opts.paced_seconds
            );
        }
    });
}
