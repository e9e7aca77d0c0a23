//! The real binary killed with SIGKILL in the middle of a burst of Dialpad events, then
//! restarted: every event still reaches the app's receiver, at least once, each always with the
//! same `webhook-id`. On SQLite (one instance) and, when `TEST_DATABASE_URL` is set, on
//! PostgreSQL with two instances sharing the work: before any kill, no event is delivered twice
//! (the outbox's `FOR UPDATE SKIP LOCKED` claims hand each delivery to one instance).
//!
//! Dialpad's side is played by the test: each event is a signed JWT POSTed to the hook, and a
//! POST that fails (the server is dead) is sent again, as Dialpad retries.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpc_store::events::{NewEndpoint, NewIntake};
use dpc_store::{Cipher, NewConnection};
use secrecy::SecretString;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_dialpad-connector");
const SECRET: &str = "crash-test-dialpad-secret";
const ROUTE: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

/// webhook-id → the call ids delivered with it (one per delivery).
type Got = Arc<parking_lot::Mutex<HashMap<String, Vec<String>>>>;

async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: axum::http::HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let wid = h
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                let call = v["data"]["id"].as_str().unwrap_or_default().to_owned();
                g.lock().entry(wid).or_default().push(call);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, got)
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    db_url: String,
    key: String,
}

impl Server {
    fn new(db_url: &str, key: &str) -> Self {
        Server {
            child: None,
            addr: free_addr(),
            db_url: db_url.to_owned(),
            key: key.to_owned(),
        }
    }

    /// Starts it and waits until it listens.
    async fn start(&mut self) {
        let mut child = Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DPC_LISTEN", self.addr.to_string())
            .env("DPC_PUBLIC_URL", format!("http://{}", self.addr))
            .env("DPC_DATABASE_URL", &self.db_url)
            .env("DPC_ENCRYPTION_KEY", &self.key)
            .env("DPC_DIALPAD_CLIENT_ID", "crash")
            .env("DPC_DIALPAD_CLIENT_SECRET", "crash")
            // No Dialpad: nothing here needs it (call events carry the call).
            .env("DPC_DIALPAD_BASE_URL", "http://127.0.0.1:9")
            .env("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(self.addr).await.is_err() {
            assert!(Instant::now() < until, "the server never listened");
            assert!(child.try_wait().unwrap().is_none(), "the server exited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL: no shutdown, no flush
            c.wait().unwrap();
        }
    }

    fn hook(&self) -> String {
        format!("http://{}/v1/hooks/dialpad/{ROUTE}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A connection with an intake whose secret the test knows, and one endpoint for everything.
async fn seed(db_url: &str, key: &str, receiver_url: &str) {
    let store = dpc_store::connect(db_url, Cipher::from_base64(key, &[]).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let conn = store
        .insert_connection(NewConnection {
            connector_id: "dialpad".into(),
            owner_id: "crash".into(),
            operations: vec!["telephonyCall::list".into()],
        })
        .await
        .unwrap();
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
        .unwrap();
    store
        .create_intake(&NewIntake {
            connection_id: &conn.id,
            mode: "webhook",
            route_token: ROUTE,
            secret: &SecretString::from(SECRET.to_owned()),
        })
        .await
        .unwrap();
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
        .unwrap();
    store
        .create_endpoint(
            &NewEndpoint {
                url: receiver_url.to_owned(),
                events: vec!["*".into()],
                ..Default::default()
            },
            &SecretString::from(dpc_core::events::new_secret()),
        )
        .await
        .unwrap();
}

/// `n` call events (each its own call, ids from `first`), signed as Dialpad signs them.
fn events(first: i64, n: usize) -> Vec<(String, String)> {
    let now = chrono::Utc::now().timestamp_millis();
    (0..n as i64)
        .map(|i| {
            let id = first + i;
            let claims = json!({
                "call_id": id, "state": "hangup", "direction": "inbound",
                "event_timestamp": now + i, "date_started": now - 60_000,
                "date_connected": now - 58_000, "date_ended": now,
                "external_number": "+14155550100", "internal_number": "+14155550199",
            });
            let jwt = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap();
            (id.to_string(), jwt)
        })
        .collect()
}

/// Sends every event to one of `hooks` (round robin), each until a 2xx answers it, from 16
/// workers; `accepted` counts the answered ones.
fn burst(
    hooks: Vec<String>,
    bodies: Vec<(String, String)>,
    accepted: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let bodies = Arc::new(bodies);
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..16 {
            let (http, bodies, next, hooks, accepted) = (
                http.clone(),
                bodies.clone(),
                next.clone(),
                hooks.clone(),
                accepted.clone(),
            );
            workers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, jwt)) = bodies.get(i) else { break };
                    let deadline = Instant::now() + Duration::from_secs(60);
                    loop {
                        let hook = &hooks[i % hooks.len()];
                        match http.post(hook).body(jwt.clone()).send().await {
                            Ok(r) if r.status().is_success() => break,
                            Ok(r) if r.status().is_server_error() => {}
                            Ok(r) => panic!("the hook refused event {i}: {}", r.status()),
                            Err(_) => {}
                        }
                        assert!(Instant::now() < deadline, "event {i} was never accepted");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
    })
}

/// Waits until every call id arrived; then checks each webhook-id carries one call and each
/// call one webhook-id (stable across redeliveries). Answers the redeliveries seen.
async fn every_event_arrived(got: &Got, calls: &[(String, String)]) -> usize {
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let have: std::collections::HashSet<String> =
            got.lock().values().flatten().cloned().collect();
        let missing = calls.iter().filter(|(c, _)| !have.contains(c)).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "{missing} of {} events never arrived",
            calls.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = got.lock();
    let mut by_call: HashMap<&str, &str> = HashMap::new();
    let mut redelivered = 0;
    for (wid, call_ids) in got.iter() {
        assert!(wid.starts_with("evt_"), "{wid}");
        for c in call_ids {
            assert_eq!(c, &call_ids[0], "one webhook-id, one event");
            if let Some(prev) = by_call.insert(c, wid) {
                assert_eq!(prev, wid, "call {c} arrived under two webhook-ids");
            }
        }
        redelivered += call_ids.len() - 1;
    }
    redelivered
}

async fn kill_mid_burst(servers: &mut [Server], got: &Got, first: i64, n: usize) -> usize {
    let calls = events(first, n);
    let accepted = Arc::new(AtomicUsize::new(0));
    let hooks = servers.iter().map(Server::hook).collect();
    let sending = burst(hooks, calls.clone(), accepted.clone());
    while accepted.load(Ordering::Relaxed) < n / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    servers[0].kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    servers[0].start().await;
    sending.await.unwrap();
    every_event_arrived(got, &calls).await
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_burst_loses_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("dpc.db").display());
    let key = Cipher::generate_key_base64();
    let (url, got) = receiver().await;
    seed(&db_url, &key, &url).await;
    let mut servers = [Server::new(&db_url, &key)];
    servers[0].start().await;
    let redelivered = kill_mid_burst(&mut servers, &got, 9_000_000_000_000_000, 1500).await;
    eprintln!("sqlite: 1500 events, all arrived, {redelivered} delivered again after the kill");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_postgres_instances_share_events_and_survive_a_sigkill() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL not set: PostgreSQL variant skipped");
        return;
    };
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("TEST_DATABASE_URL is set but PostgreSQL is unreachable");
    let name = format!("dpc_crash_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let mut db = url::Url::parse(&admin_url).unwrap();
    db.set_path(&format!("/{name}"));
    let db_url = db.to_string();

    let key = Cipher::generate_key_base64();
    let (url, got) = receiver().await;
    seed(&db_url, &key, &url).await;
    let mut servers = [Server::new(&db_url, &key), Server::new(&db_url, &key)];
    for s in &mut servers {
        s.start().await;
    }
    // Both instances take events and deliver; nobody is killed: each event exactly once.
    let calls = events(8_000_000_000_000_000, 1000);
    let accepted = Arc::new(AtomicUsize::new(0));
    burst(
        servers.iter().map(Server::hook).collect(),
        calls.clone(),
        accepted,
    )
    .await
    .unwrap();
    let twice = every_event_arrived(&got, &calls).await;
    assert_eq!(twice, 0, "an event was delivered by both instances");

    // One instance killed mid-burst and restarted: at least once, same webhook-ids.
    got.lock().clear();
    let redelivered = kill_mid_burst(&mut servers, &got, 8_100_000_000_000_000, 1500).await;
    eprintln!("postgres, two instances: all arrived, {redelivered} delivered again after the kill");

    drop(servers);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}
