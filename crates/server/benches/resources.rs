//! Unified API overhead: the same data straight from the simulator and through
//! `/v1/resources/…`, in one run, rate limits off.
//!
//! `cargo bench -p dpc-server --bench resources [-- --requests 300 --iterations 2000]`
//!
//! - mapping: 100 contacts and 100 calls as Dialpad sent them, mapped and rendered as resources
//!   (`from_dialpad` + `resource_json` + serializing the answer) `--iterations` times; the
//!   baseline is parsing the same Dialpad page from bytes (`serde_json::from_slice`), the least
//!   any JSON proxy does. Figures per record.
//! - latency: `--requests` sequential requests on one keep-alive client: one page of 100
//!   contacts (`GET /api/v2/contacts` vs `GET /v1/resources/genericContact?limit=100`), and one
//!   call (`GET /api/v2/call/{id}` vs `GET /v1/resources/telephonyCall/{id}`, which after the
//!   first read is answered from the connection's call cache; and a run over distinct ids never
//!   read before, which goes to Dialpad each time). p50/p99 and what the connector adds.
//!
//! Pacing: as in the proxy bench, the connection's client is built with `no_rate_limit()` and put
//! in the server's client cache before serving (the server always paces at 19 req/s).

/// The binary's allocator, so the figures are what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dpc_core::models::{self, MapContext, Model};
use dpc_core::resources::{list_json, resource_json, Record, Render};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

struct Opts {
    requests: usize,
    iterations: usize,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        requests: 300,
        iterations: 2000,
    };
    let args: Vec<String> = std::env::args().collect();
    for w in args.windows(2) {
        match w[0].as_str() {
            "--requests" => o.requests = w[1].parse().unwrap_or(o.requests),
            "--iterations" => o.iterations = w[1].parse().unwrap_or(o.iterations),
            _ => {}
        }
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

fn on_own_thread<F>(fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    std::thread::spawn(move || runtime().block_on(fut));
}

const OPS: &[&str] = &[
    "genericContact::list",
    "telephonyCall::list",
    "telephonyCall::retrieve",
];

struct Setup {
    sim_url: String,
    server_url: String,
    api_key: String,
    access_token: String,
}

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
        tx.send(sim.base_url.clone()).expect("report");
        std::future::pending::<()>().await;
        drop(sim);
    });
    let sim_url = rx.recv().expect("simulator started");

    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (tx, rx) = std::sync::mpsc::channel();
    let sim_for_server = sim_url.clone();
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
            ("DPC_DIALPAD_BASE_URL", sim_for_server),
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
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http");
        let base = format!("http://{addr}");
        let r = http
            .post(format!("{base}/v1/connections/dialpad/bench"))
            .header("x-api-secret", &key)
            .json(&json!({ "operations": OPS }))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), 201, "create connection");
        let v: Value = http
            .post(format!("{base}/v1/connections/dialpad/bench/authorization"))
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
        tx.send((base, key)).expect("report");
        std::future::pending::<()>().await;
    });
    let (server_url, api_key) = rx.recv().expect("server started");
    (
        Setup {
            sim_url,
            server_url,
            api_key,
            access_token: String::new(),
        },
        dir,
    )
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// `n` sequential GETs; the latencies, sorted. Every answer must be 200.
async fn latencies(
    http: &reqwest::Client,
    urls: &[String],
    headers: &[(&str, &str)],
    n: usize,
) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut req = http.get(&urls[i % urls.len()]);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let t = Instant::now();
        let r = req.send().await.expect("request");
        let status = r.status();
        let body = r.bytes().await.expect("body");
        out.push(t.elapsed());
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    out.sort();
    out
}

fn report(name: &str, direct: &[Duration], unified: &[Duration]) {
    let (d50, d99) = (pct(direct, 0.5), pct(direct, 0.99));
    let (u50, u99) = (pct(unified, 0.5), pct(unified, 0.99));
    println!(
        "| {name} | {} | {} | {} | {} | {} | {} |",
        ms(d50),
        ms(d99),
        ms(u50),
        ms(u99),
        ms(u50.saturating_sub(d50)),
        ms(u99.saturating_sub(d99)),
    );
}

fn map_cost(model: Model, items: &[Value], bytes: &[u8], iterations: usize) {
    let ctx = MapContext { recordings: true };
    // Baseline: parsing the page's bytes.
    let t = Instant::now();
    for _ in 0..iterations {
        let v: Value = serde_json::from_slice(bytes).expect("page");
        std::hint::black_box(v);
    }
    let parse = t.elapsed();
    let t = Instant::now();
    let mut warnings = 0;
    for _ in 0..iterations {
        let data: Vec<Value> = items
            .iter()
            .map(|raw| {
                let r = Record {
                    mapped: models::from_dialpad(model, raw, ctx),
                    raw: Value::Null,
                };
                warnings += r.mapped.warnings.len();
                resource_json(r, &Render::default(), None)
            })
            .collect();
        let out = serde_json::to_vec(&list_json(data, None)).expect("render");
        std::hint::black_box(out);
    }
    let map = t.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / (iterations * items.len()) as f64;
    println!(
        "| {model} | {} | {:.2} µs | {:.2} µs | {:.2} | {} |",
        items.len(),
        per(map),
        per(parse),
        map.as_secs_f64() / parse.as_secs_f64(),
        warnings / iterations,
    );
}

fn main() {
    let opts = parse_opts();
    let (mut setup, _dir) = start();
    let rt = runtime();
    rt.block_on(async {
        let http = reqwest::Client::new();
        // Top the simulator's contacts up to a full page of 100.
        let auth = "Bearer sim-api-key";
        let page: Value = http
            .get(format!("{}/api/v2/contacts", setup.sim_url))
            .header("authorization", auth)
            .send()
            .await
            .expect("contacts")
            .json()
            .await
            .expect("json");
        let have = page["items"].as_array().map_or(0, Vec::len);
        for i in have..100 {
            let r = http
                .post(format!("{}/api/v2/contacts", setup.sim_url))
                .header("authorization", auth)
                .json(&json!({"first_name": format!("Bench{i}"), "last_name": "Contact",
                    "emails": [format!("bench{i}@example.com")], "phones": [format!("+1415555{:04}", 2000 + i)]}))
                .send()
                .await
                .expect("seed contact");
            assert!(r.status().is_success(), "seed contact: {}", r.status());
        }
        setup.access_token = "sim-api-key".to_owned();
        let direct_auth = format!("Bearer {}", setup.access_token);

        // Mapping cost.
        let contacts_bytes = http
            .get(format!("{}/api/v2/contacts", setup.sim_url))
            .header("authorization", &direct_auth)
            .send()
            .await
            .expect("contacts")
            .bytes()
            .await
            .expect("bytes");
        let calls_bytes = http
            .get(format!("{}/api/v2/call", setup.sim_url))
            .header("authorization", &direct_auth)
            .send()
            .await
            .expect("calls")
            .bytes()
            .await
            .expect("bytes");
        let contacts: Value = serde_json::from_slice(&contacts_bytes).expect("json");
        let calls: Value = serde_json::from_slice(&calls_bytes).expect("json");
        let contacts = contacts["items"].as_array().expect("items").clone();
        let calls = calls["items"].as_array().expect("items").clone();
        assert_eq!(contacts.len(), 100, "one Dialpad page of 100 contacts");
        println!("\nMapping ({} iterations; baseline = parsing the Dialpad page's bytes)\n", opts.iterations);
        println!("| model | records | map + render, per record | parse, per record | ratio | warnings |");
        println!("| --- | --- | --- | --- | --- | --- |");
        map_cost(Model::Contact, &contacts, &contacts_bytes, opts.iterations);
        map_cost(Model::Call, &calls, &calls_bytes, opts.iterations);

        // Latency.
        let key_headers = [
            ("x-api-secret", setup.api_key.as_str()),
            ("x-connector-id", "dialpad"),
            ("x-owner-id", "bench"),
        ];
        let direct_headers = [("authorization", direct_auth.as_str())];
        let n = opts.requests;
        let warm = |u: &str| vec![u.to_owned()];
        let d_contacts = latencies(&http, &warm(&format!("{}/api/v2/contacts", setup.sim_url)), &direct_headers, 20).await;
        drop(d_contacts);
        let d_contacts = latencies(&http, &warm(&format!("{}/api/v2/contacts", setup.sim_url)), &direct_headers, n).await;
        let u_contacts = latencies(&http, &warm(&format!("{}/v1/resources/genericContact?limit=100", setup.server_url)), &key_headers, n).await;
        let call_ids: Vec<String> = calls
            .iter()
            .map(|c| match &c["call_id"] { Value::String(s) => s.clone(), v => v.to_string() })
            .collect();
        let id = &call_ids[0];
        let d_call = latencies(&http, &warm(&format!("{}/api/v2/call/{id}", setup.sim_url)), &direct_headers, n).await;
        let u_call = latencies(&http, &warm(&format!("{}/v1/resources/telephonyCall/{id}", setup.server_url)), &key_headers, n).await;
        // Distinct ids never read through the connector: each goes to Dialpad.
        let fresh: Vec<String> = call_ids[1..]
            .iter()
            .map(|i| format!("{}/v1/resources/telephonyCall/{i}", setup.server_url))
            .collect();
        let direct_fresh: Vec<String> = call_ids[1..]
            .iter()
            .map(|i| format!("{}/api/v2/call/{i}", setup.sim_url))
            .collect();
        let k = fresh.len();
        let d_fresh = latencies(&http, &direct_fresh, &direct_headers, k).await;
        let u_fresh = latencies(&http, &fresh, &key_headers, k).await;

        println!("\nLatency ({n} sequential requests; {k} for the uncached calls)\n");
        println!("| request | direct p50 | direct p99 | unified p50 | unified p99 | added p50 | added p99 |");
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        report("100 contacts (one page)", &d_contacts, &u_contacts);
        report("one call (cached after the first read)", &d_call, &u_call);
        report("one call (never read before)", &d_fresh, &u_fresh);
    });
}
