//! Dialpad events end to end, through the real server and the simulator: an app's receiver
//! (loopback) registers an endpoint for `*`, a customer connects, and the connector subscribes
//! at Dialpad by itself; the simulator plays calls (answered with a transcript, missed,
//! voicemail), contact changes and an inbound SMS; the receiver gets the unified events, each
//! `webhook-id` once, in order per resource, every signature verified by the Python
//! `standardwebhooks` package (PyPI). Forged, `alg: none`, truncated and oversized bodies at the
//! hook are refused and deliver nothing; a replayed event is stored and delivered once; a
//! subscription deleted at Dialpad is recreated; deleting the connection removes what was
//! registered at Dialpad.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{spawn_app_with_env, spawn_on_with_env, with_postgres, TestApp};

const OPERATIONS: &[&str] = &[
    "telephonyCall::list",
    "telephonyCall::retrieve",
    "telephonyCallTranscript::retrieve",
    "genericContact::list",
    "action::sendSms",
];

const SETTINGS: &[(&str, &str)] = &[
    ("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true"),
    ("DPC_WEBHOOKS_RETRY_SCHEDULE_MS", "50,100,100"),
    // The repair loop, quick enough to watch.
    ("DPC_EVENTS_REPAIR_INTERVAL_MS", "500"),
];

// ---------------------------------------------------------------------------------------------
// The app's receiver

#[derive(Clone, Debug)]
pub(crate) struct Got {
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Got {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    pub(crate) fn event(&self) -> String {
        self.json()["event"].as_str().unwrap_or_default().to_owned()
    }
    pub(crate) fn resource(&self) -> String {
        match &self.json()["data"]["id"] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }
}

#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    pub(crate) async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    state.got.lock().push(Got { headers, body });
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    pub(crate) fn got(&self) -> Vec<Got> {
        self.got.lock().clone()
    }

    /// Waits until `done` holds of what arrived, then until nothing more arrives for a while.
    pub(crate) async fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&[Got]) -> bool,
    ) -> Vec<Got> {
        let start = Instant::now();
        while !done(&self.got()) {
            assert!(
                start.elapsed() < within,
                "the receiver did not get what was expected; it got: {:#?}",
                self.got()
                    .iter()
                    .map(|g| (g.event(), g.resource()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut n = self.got().len();
        loop {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let now = self.got().len();
            if now == n {
                return self.got();
            }
            n = now;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens as Dialpad signs them

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

fn token(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    let s = URL_SAFE_NO_PAD.encode(hmac_sha256(secret, format!("{h}.{p}").as_bytes()));
    format!("{h}.{p}.{s}")
}

fn contact_claims(id: &str, first: &str) -> Value {
    json!({"event": "Created", "contact": {"id": id, "first_name": first, "last_name": "Test",
        "type": "shared", "phones": ["+14155550142"]}})
}

// ---------------------------------------------------------------------------------------------
// The Python verifier

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

fn show(o: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const STANDARDWEBHOOKS: &str = "standardwebhooks==1.0.1";

/// A venv with `standardwebhooks` from PyPI, made once under the target directory.
fn verifier_python() -> PathBuf {
    // The tests of this file run in parallel: one of them makes the venv, the others wait
    // (two making it at once would delete each other's).
    static MADE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MADE.get_or_init(make_verifier_python).clone()
}

fn make_verifier_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-standardwebhooks-1.0.1");
    let python = venv.join("bin").join("python");
    let ready = |p: &Path| {
        p.exists()
            && Command::new(p)
                .args(["-c", "import standardwebhooks.webhooks"])
                .output()
                .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    assert!(
        made.status.success(),
        "python3 -m venv failed:\n{}",
        show(&made)
    );
    let pip =
        run(Command::new(&python).args(["-m", "pip", "install", "--quiet", STANDARDWEBHOOKS]));
    assert!(
        pip.status.success(),
        "pip install {STANDARDWEBHOOKS} failed:\n{}",
        show(&pip)
    );
    assert!(
        ready(&python),
        "standardwebhooks installed but not importable"
    );
    python
}

const VERIFY_PY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
deliveries = json.load(open(sys.argv[1]))
wh = Webhook(sys.argv[2])
for d in deliveries:
    wh.verify(d["body"], d["headers"])
print("verified", len(deliveries))
"#;

/// Every delivery verifies with `standardwebhooks` under `secret`; answers how many.
pub(crate) async fn verify_with_python(got: &[Got], secret: &str) -> usize {
    let deliveries: Vec<Value> = got
        .iter()
        .map(|g| {
            let headers: HashMap<String, String> = g
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect();
            json!({"headers": headers, "body": g.body})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deliveries.json");
    std::fs::write(&file, serde_json::to_vec(&deliveries).unwrap()).unwrap();
    let script = dir.path().join("verify.py");
    std::fs::write(&script, VERIFY_PY).unwrap();
    let secret = secret.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let python = verifier_python();
        run(Command::new(python).arg(&script).arg(&file).arg(&secret))
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "standardwebhooks refused a delivery:\n{}",
        show(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .strip_prefix("verified ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected verifier output: {text}"))
}

// ---------------------------------------------------------------------------------------------
// Helpers

async fn sim_post(app: &TestApp, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", app.sim.base_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

async fn sim_send(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", app.sim.base_url));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

pub(crate) async fn intake(app: &TestApp, owner: &str) -> Value {
    let r = app
        .get(&format!("/v1/connections/dialpad/{owner}/events-intake"))
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn intake_active(app: &TestApp, owner: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = intake(app, owner).await;
        if v["status"] == "active" {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the intake never became active: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The connector's webhook at the simulator: its hook URL and secret.
fn sim_hook(app: &TestApp) -> (String, String) {
    let db = app.sim.sim.db().read();
    let hooks: Vec<_> = db
        .webhooks
        .values()
        .filter(|h| h.hook_url.contains("/v1/hooks/dialpad/"))
        .collect();
    assert_eq!(hooks.len(), 1, "one webhook for the one connection");
    (
        hooks[0].hook_url.clone(),
        hooks[0].secret().expect("signed").to_owned(),
    )
}

fn kinds(intake: &Value) -> Vec<String> {
    let mut k: Vec<String> = intake["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k
}

async fn post_hook(app: &TestApp, url: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = app
        .http
        .post(url.to_owned())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

// ---------------------------------------------------------------------------------------------
// The flow

async fn flow(app: TestApp, websocket: bool) {
    let (rx, url) = Receiver::start().await;
    let r = app
        .post_json(
            "/v1/webhook-endpoints",
            json!({"url": url, "events": ["*"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let endpoint: Value = r.json().await.unwrap();
    let secret = endpoint["secret"].as_str().unwrap().to_owned();

    // Before connecting, the intake is not set up.
    app.create_connection("acme", OPERATIONS).await;
    assert_eq!(intake(&app, "acme").await["status"], "none");
    let auth = app.authorization_url("acme").await;
    let callback = app.consent(&auth).await;
    let r = app.http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // The connector subscribes at Dialpad by itself.
    let v = intake_active(&app, "acme").await;
    assert!(v["remoteId"].is_string());
    assert_eq!(
        kinds(&v),
        ["call", "contact", "sms_inbound", "sms_outbound"]
    );
    assert!(v["lastError"].is_null());
    assert_eq!(v["mode"], if websocket { "websocket" } else { "webhook" });
    let text = v.to_string();
    let hook = (!websocket).then(|| sim_hook(&app));
    if let Some((hook_url, dialpad_secret)) = &hook {
        let route_token = hook_url.rsplit('/').next().unwrap();
        assert_eq!(route_token.len(), 64);
        assert!(!text.contains(route_token) && !text.contains(dialpad_secret.as_str()));
    } else {
        let db = app.sim.sim.db().read();
        assert_eq!(db.websockets.len(), 1);
        assert!(db.webhooks.is_empty());
        let secret = db
            .websockets
            .values()
            .next()
            .unwrap()
            .secret()
            .unwrap()
            .to_owned();
        assert!(!text.contains(&secret));
    }
    {
        let db = app.sim.sim.db().read();
        let call = db
            .subscriptions
            .values()
            .find(|s| s.call_states.iter().any(|c| c == "call_transcription"))
            .expect("a call subscription with transcripts");
        for state in [
            "ringing",
            "connected",
            "hangup",
            "recording",
            "recap_summary",
        ] {
            assert!(call.call_states.iter().any(|c| c == state), "{state}");
        }
    }

    if websocket {
        // Past the first URL's expiry (2 s in that test): what follows arrives on a renewed one.
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }

    // Dialpad's activity.
    sim_post(
        &app,
        "/_sim/calls",
        json!({"direction": "inbound", "outcome": "answered", "with_transcript": true, "speed": 1000}),
    )
    .await;
    sim_post(
        &app,
        "/_sim/calls",
        json!({"outcome": "missed", "speed": 1000}),
    )
    .await;
    sim_post(
        &app,
        "/_sim/calls",
        json!({"outcome": "voicemail", "speed": 1000}),
    )
    .await;
    let c = sim_post(
        &app,
        "/_sim/contacts",
        json!({"first_name": "Ada", "last_name": "Lovelace", "phones": ["+14155550111"]}),
    )
    .await;
    let contact_id = match &c["id"] {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    sim_send(
        &app,
        reqwest::Method::PATCH,
        &format!("/_sim/contacts/{contact_id}"),
        Some(json!({"last_name": "King"})),
    )
    .await;
    sim_send(
        &app,
        reqwest::Method::DELETE,
        &format!("/_sim/contacts/{contact_id}"),
        None,
    )
    .await;
    let user = *app.sim.sim.db().read().users.keys().next().unwrap();
    sim_post(
        &app,
        "/_sim/sms/inbound",
        json!({"user_id": user, "from_number": "+14155550123", "text": "hello there"}),
    )
    .await;

    let got = rx
        .wait_for(Duration::from_secs(60), |got| {
            let ev: Vec<String> = got.iter().map(Got::event).collect();
            let created_calls = ev.iter().filter(|e| *e == "telephonyCall::created").count();
            created_calls >= 3
                && ev.iter().any(|e| e == "telephonyCallTranscript::created")
                && ev.iter().any(|e| e == "genericContact::deleted")
                && ev.iter().any(|e| e == "telephonySms::received")
        })
        .await;

    // Each webhook-id once.
    let ids: Vec<String> = got
        .iter()
        .map(|g| g.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a webhook-id arrived twice");
    // In order per resource: created first, nothing after deleted.
    let mut per: HashMap<(String, String), Vec<String>> = HashMap::new();
    for g in &got {
        let ev = g.event();
        let model = ev.split("::").next().unwrap().to_owned();
        per.entry((model, g.resource())).or_default().push(ev);
    }
    let calls: Vec<_> = per
        .iter()
        .filter(|((m, _), _)| m == "telephonyCall")
        .collect();
    assert_eq!(calls.len(), 3, "three calls: {per:?}");
    for (_, evs) in &calls {
        assert_eq!(evs[0], "telephonyCall::created", "{evs:?}");
        assert!(
            evs.len() >= 2,
            "a call is updated after it is created: {evs:?}"
        );
        assert!(
            evs[1..].iter().all(|e| e == "telephonyCall::updated"),
            "{evs:?}"
        );
    }
    let transcripts: Vec<_> = per
        .iter()
        .filter(|((m, _), _)| m == "telephonyCallTranscript")
        .collect();
    assert_eq!(transcripts.len(), 1, "{per:?}");
    assert_eq!(transcripts[0].1[0], "telephonyCallTranscript::created");
    let contact = &per[&("genericContact".to_owned(), contact_id.clone())];
    assert_eq!(
        contact,
        &[
            "genericContact::created",
            "genericContact::updated",
            "genericContact::deleted"
        ]
    );
    let sms: Vec<_> = got
        .iter()
        .filter(|g| g.event() == "telephonySms::received")
        .collect();
    assert_eq!(sms.len(), 1);
    for g in &got {
        let b = g.json();
        assert_eq!(b["ownerId"], "acme");
        assert_eq!(b["connectorId"], "dialpad");
    }

    // The recap parts arrive as transcript updates and are kept: with Dialpad's `ai_recap`
    // failing, `expand=recap` answers the recap from them.
    let recap_updates = rx
        .wait_for(Duration::from_secs(60), |got| {
            got.iter()
                .filter(|g| g.event() == "telephonyCallTranscript::updated")
                .count()
                >= 4
        })
        .await;
    let transcript_id = transcripts[0].0 .1.clone();
    sim_post(
        &app,
        "/_sim/faults",
        json!({"path": "/api/v2/call/*", "error_rate": 1.0, "status": 503}),
    )
    .await;
    let r = app
        .http
        .get(app.url(&format!(
            "/v1/resources/telephonyCallTranscript/{transcript_id}?expand=recap"
        )))
        .header("x-api-secret", &app.api_key)
        .header("x-connector-id", "dialpad")
        .header("x-owner-id", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let recap = &t["fields"]["recap"];
    assert!(recap["summary"].is_string(), "{t}");
    assert!(recap["outcome"].is_string(), "{t}");
    assert!(recap["actionItems"].is_array(), "{t}");
    sim_send(&app, reqwest::Method::DELETE, "/_sim/faults", None).await;
    let got = recap_updates;

    // Every signature verifies with the Standard Webhooks reference library.
    assert_eq!(verify_with_python(&got, &secret).await, got.len());
    // Every body is what the document's `webhooks` section says this event type carries.
    let doc = crate::checked::document();
    for g in &got {
        let event = g.event();
        let schema = &doc.doc["webhooks"][event.as_str()]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{event} is not in the document's webhooks"
        );
        doc.validate(&format!("webhook {event}"), schema, &g.json())
            .unwrap_or_else(|e| panic!("{event}: {e}\n{}", g.body));
    }

    if let Some((hook_url, dialpad_secret)) = &hook {
        refused_and_replayed(&app, &rx, hook_url, dialpad_secret).await;
    }

    // A subscription deleted at Dialpad is recreated by the repair loop.
    let old_call = v["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "call")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.sim
        .sim
        .db()
        .write()
        .subscriptions
        .remove(&old_call.parse::<i64>().unwrap());
    let start = Instant::now();
    let v2 = loop {
        let v2 = intake(&app, "acme").await;
        let call = v2["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["kind"] == "call")
            .map(|s| s["id"].clone());
        if v2["status"] == "active" && call.is_some_and(|c| c != json!(old_call)) {
            break v2;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "not recreated: {v2}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(v2["remoteId"], v["remoteId"], "the webhook itself was kept");
    assert_eq!(
        app.sim.sim.db().read().subscriptions.len(),
        4,
        "nothing left over at Dialpad"
    );

    // Deleting the connection removes what was registered at Dialpad.
    let r = app.delete("/v1/connections/dialpad/acme").await;
    assert_eq!(r.status(), 200);
    let start = Instant::now();
    loop {
        let (hooks, subs) = {
            let db = app.sim.sim.db().read();
            (db.webhooks.len(), db.subscriptions.len())
        };
        if hooks == 0 && subs == 0 && app.sim.sim.db().read().websockets.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "left at Dialpad: {hooks} webhooks, {subs} subscriptions"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Forged, `alg: none`, truncated and oversized bodies at the hook are refused and deliver
/// nothing; an event POSTed twice is stored and delivered once.
async fn refused_and_replayed(app: &TestApp, rx: &Receiver, hook_url: &str, dialpad_secret: &str) {
    let route_token = hook_url.rsplit('/').next().unwrap().to_owned();
    // Refused at the hook: forged, alg none, truncated, oversized; nothing is delivered for
    // them.
    let before = rx.got().len();
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let forged = token(&hs, &contact_claims("666", "Forged"), b"not-the-secret");
    assert_eq!(post_hook(app, hook_url, forged).await.0, 401);
    let claims = URL_SAFE_NO_PAD.encode(contact_claims("667", "None").to_string());
    let none_header = URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string());
    let (status, body) = post_hook(app, hook_url, format!("{none_header}.{claims}.")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "EVENT::REJECTED");
    let good = token(
        &hs,
        &contact_claims("668", "Replay"),
        dialpad_secret.as_bytes(),
    );
    let truncated = good[..good.len() - 6].to_owned();
    assert_eq!(post_hook(app, hook_url, truncated).await.0, 401);
    let cut = good[..good.rfind('.').unwrap()].to_owned();
    assert_eq!(post_hook(app, hook_url, cut).await.0, 401);
    let huge = format!("{good}{}", "A".repeat(300 * 1024));
    assert_eq!(post_hook(app, hook_url, huge).await.0, 413);
    // Past the router's 1 MiB limit too: JSON, counted. (The server may answer and close
    // before the upload ends, which can reset the send: tried again then.)
    let mut answer = None;
    for _ in 0..5 {
        let sent = app
            .http
            .post(hook_url.to_owned())
            .body(vec![b'a'; 2 * 1024 * 1024])
            .send()
            .await;
        if let Ok(r) = sent {
            answer = Some((
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            ));
            break;
        }
    }
    let (status, body) = answer.expect("an answer to the oversized body");
    assert_eq!(status, 413);
    assert_eq!(body["error"], "REQUEST::TOO_LARGE", "{body}");
    let wrong_route = hook_url.replace(&route_token, &"0".repeat(64));
    let valid_elsewhere = token(
        &hs,
        &contact_claims("669", "Route"),
        dialpad_secret.as_bytes(),
    );
    assert_eq!(post_hook(app, &wrong_route, valid_elsewhere).await.0, 401);

    // A replayed event (identical token) is stored once and delivered once.
    let (s1, b1) = post_hook(app, hook_url, good.clone()).await;
    assert_eq!((s1, b1["status"].as_str()), (202, Some("stored")));
    let (s2, b2) = post_hook(app, hook_url, good.clone()).await;
    assert_eq!((s2, b2["status"].as_str()), (200, Some("duplicate")));
    let got = rx
        .wait_for(Duration::from_secs(20), |g| {
            g.iter().any(|g| g.resource() == "668")
        })
        .await;
    let after: Vec<&Got> = got[before..].iter().collect();
    assert_eq!(
        after
            .iter()
            .map(|g| (g.event(), g.resource()))
            .collect::<Vec<_>>(),
        [("genericContact::created".to_owned(), "668".to_owned())],
        "only the replayed event, once"
    );
    // Contact events carry no time: a contact changed and changed back (A → B → A) is three
    // events, while a retry of the latest one is still a duplicate.
    let updated = |first: &str| {
        let mut c = contact_claims("670", first);
        c["event"] = json!("Updated");
        token(&hs, &c, dialpad_secret.as_bytes())
    };
    for (first, want) in [
        ("Ada", 202),
        ("Ada", 200),
        ("Bea", 202),
        ("Ada", 202),
        ("Ada", 200),
    ] {
        let (status, body) = post_hook(app, hook_url, updated(first)).await;
        assert_eq!(status, want, "{first}: {body}");
    }
    let got = rx
        .wait_for(Duration::from_secs(20), |g| {
            g.iter().filter(|g| g.resource() == "670").count() >= 3
        })
        .await;
    let names: Vec<String> = got
        .iter()
        .filter(|g| g.resource() == "670")
        .map(|g| format!("{} {}", g.event(), g.json()["data"]["fields"]["firstName"]))
        .collect();
    assert_eq!(
        names,
        [
            "genericContact::updated \"Ada\"",
            "genericContact::updated \"Bea\"",
            "genericContact::updated \"Ada\""
        ],
        "in order, the change back included"
    );

    // A concurrent burst (the intake's group commit): 40 events, each POSTed twice at once.
    // Exactly one of each pair is stored, and each is delivered once.
    let ids: Vec<String> = (0..40).map(|i| format!("7{i:03}")).collect();
    let posts = ids.iter().flat_map(|id| {
        let t = token(&hs, &contact_claims(id, "Burst"), dialpad_secret.as_bytes());
        [t.clone(), t]
    });
    let answers = futures::future::join_all(posts.map(|t| post_hook(app, hook_url, t))).await;
    let stored = answers.iter().filter(|(s, _)| *s == 202).count();
    let duplicate = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((stored, duplicate), (40, 40), "{answers:?}");
    let got = rx
        .wait_for(Duration::from_secs(30), |g| {
            ids.iter().all(|id| g.iter().any(|g| &g.resource() == id))
        })
        .await;
    for id in &ids {
        assert_eq!(
            got.iter().filter(|g| &g.resource() == id).count(),
            1,
            "contact {id} delivered once"
        );
    }
    // Each refusal is counted by its reason, and the duplicate as such (the registry is the
    // process's, shared by parallel tests: the series exist, at least this test's counts).
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "dpc_events_rejected_total{reason=\"bad_signature\"}",
        "dpc_events_rejected_total{reason=\"bad_algorithm\"}",
        "dpc_events_rejected_total{reason=\"malformed\"}",
        "dpc_events_rejected_total{reason=\"too_large\"}",
        "dpc_events_rejected_total{reason=\"unknown_route\"}",
        "dpc_events_deduplicated_total",
        "dpc_events_verified_total",
    ] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("{series} missing"));
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n >= 1.0, "{line}");
    }
}

#[tokio::test]
async fn dialpad_events_reach_the_app_through_the_webhook_intake() {
    flow(spawn_app_with_env(SETTINGS).await, false).await;
}

#[tokio::test]
async fn dialpad_events_reach_the_app_on_postgres() {
    with_postgres(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        let sim_config = dialpad_sim::SimConfig {
            auto_consent: true,
            ..Default::default()
        };
        flow(
            spawn_on_with_env(sim_config, &url, dir, SETTINGS).await,
            false,
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn dialpad_events_reach_the_app_through_the_websocket_intake() {
    let mut settings = SETTINGS.to_vec();
    settings.push(("DPC_EVENTS_INTAKE", "websocket"));
    // URLs that expire within the flow: the supervisor renews them while events arrive (the
    // simulator closes a connection whose URL expired).
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("dpc.db").display());
    let sim_config = dialpad_sim::SimConfig {
        auto_consent: true,
        websocket_url_ttl: Duration::from_secs(2),
        ..Default::default()
    };
    let app = spawn_on_with_env(sim_config, &db_url, dir, &settings).await;
    flow(app, true).await;
}

/// Dialpad's cap of 100 subscriptions per type: the refusal is recorded on the intake
/// (`failed`, Dialpad's message) with what could be created, and the callback is unaffected.
#[tokio::test]
async fn a_refused_subscription_is_recorded_as_failed() {
    let app = spawn_app_with_env(SETTINGS).await;
    let http = reqwest::Client::new();
    let key = app.sim.api_key.clone();
    let api = |path: &str| format!("{}/api/v2/{path}", app.sim.base_url);
    let hook: Value = http
        .post(api("webhooks"))
        .bearer_auth(&key)
        .json(&json!({"hook_url": "http://127.0.0.1:9/elsewhere"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for _ in 0..100 {
        let r = http
            .post(api("subscriptions/call"))
            .bearer_auth(&key)
            .json(&json!({"endpoint_id": hook["id"], "call_states": ["hangup"]}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    let (_rx, url) = Receiver::start().await;
    let r = app
        .post_json(
            "/v1/webhook-endpoints",
            json!({"url": url, "events": ["telephonyCall::created", "genericContact::created"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    app.connect("capped", OPERATIONS).await;
    let start = Instant::now();
    let v = loop {
        let v = intake(&app, "capped").await;
        if v["status"] == "failed" {
            break v;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let err = v["lastError"].as_str().unwrap();
    assert!(err.contains("at most 100"), "{err}");
    // The webhook and the contact subscription were made; only the call one was refused.
    assert!(v["remoteId"].is_string());
    assert_eq!(kinds(&v), ["contact"]);
}

/// A connection authorized before any endpoint exists gets its Dialpad subscriptions when the
/// first endpoint is created, without waiting for the repair loop's next round (an hour here).
#[tokio::test]
async fn creating_an_endpoint_sets_up_connections_at_once() {
    let app = spawn_app_with_env(&[
        ("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true"),
        ("DPC_EVENTS_REPAIR_INTERVAL_MS", "3600000"),
    ])
    .await;
    app.connect("early", OPERATIONS).await;
    // Let the loop's first (immediate) round pass with nothing wanted.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(intake(&app, "early").await["status"], "none");
    let (_rx, url) = Receiver::start().await;
    let r = app
        .post_json(
            "/v1/webhook-endpoints",
            json!({"url": url, "events": ["telephonyCall::created"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v = intake_active(&app, "early").await;
    assert_eq!(kinds(&v), ["call"], "{v}");
}

/// What Dialpad holds follows what the endpoints want: an endpoint narrowed from every event
/// to contacts leaves only the contact subscription at Dialpad; deleting the last endpoint
/// removes the webhook and its subscriptions there and forgets the intake here.
#[tokio::test]
async fn subscriptions_no_endpoint_wants_are_removed() {
    let app = spawn_app_with_env(&[
        ("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true"),
        ("DPC_EVENTS_REPAIR_INTERVAL_MS", "3600000"),
    ])
    .await;
    app.connect("narrow", OPERATIONS).await;
    let (_rx, url) = Receiver::start().await;
    let r = app
        .post_json("/v1/webhook-endpoints", json!({"url": url}))
        .await;
    assert_eq!(r.status(), 201);
    let ep: Value = r.json().await.unwrap();
    let ep_id = ep["id"].as_str().unwrap();
    let v = intake_active(&app, "narrow").await;
    assert!(kinds(&v).len() > 1, "{v}");
    let at_dialpad = |app: &TestApp| {
        let db = app.sim.sim.db().read();
        (db.webhooks.len(), db.subscriptions.len())
    };
    assert_eq!(at_dialpad(&app), (1, kinds(&v).len()));

    let r = app
        .http
        .patch(app.url(&format!("/v1/webhook-endpoints/{ep_id}")))
        .header("x-api-secret", &app.api_key)
        .json(&json!({"events": ["genericContact::created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let start = Instant::now();
    loop {
        let v = intake(&app, "narrow").await;
        if v["status"] == "active" && kinds(&v) == ["contact"] && at_dialpad(&app) == (1, 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "still subscribed to more than contacts: {v}, at Dialpad {:?}",
            at_dialpad(&app)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let r = app.delete(&format!("/v1/webhook-endpoints/{ep_id}")).await;
    assert_eq!(r.status(), 204);
    let start = Instant::now();
    while intake(&app, "narrow").await["status"] != "none" || at_dialpad(&app) != (0, 0) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "left at Dialpad after the last endpoint went: {:?}",
            at_dialpad(&app)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A receiver and an endpoint for every event on it; answers the endpoint as created.
async fn endpoint_for_all(app: &TestApp) -> (Receiver, Value) {
    let (rx, url) = Receiver::start().await;
    let r = app
        .post_json(
            "/v1/webhook-endpoints",
            json!({"url": url, "events": ["*"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    (rx, r.json().await.unwrap())
}

/// An event is a read: a connection granted only contacts gets the contact subscription at
/// Dialpad and no call one, whatever its endpoint wants; the simulator's calls reach the app for
/// the connection that may read calls, and none for the other.
#[tokio::test]
async fn events_follow_the_connection_s_grants() {
    let app = spawn_app_with_env(SETTINGS).await;
    let (rx, _) = endpoint_for_all(&app).await;
    app.connect(
        "contacts-only",
        &["genericContact::list", "genericUser::list"],
    )
    .await;
    app.connect("calls", &["telephonyCall::list"]).await;
    let narrow = intake_active(&app, "contacts-only").await;
    assert_eq!(kinds(&narrow), ["contact"], "{narrow}");
    let wide = intake_active(&app, "calls").await;
    assert_eq!(kinds(&wide), ["call"], "{wide}");
    sim_post(
        &app,
        "/_sim/calls",
        json!({"direction": "inbound", "outcome": "answered", "with_transcript": true, "speed": 1000}),
    )
    .await;
    let got = rx
        .wait_for(Duration::from_secs(20), |g| {
            g.iter().any(|x| x.event() == "telephonyCall::created")
        })
        .await;
    for g in &got {
        let b = g.json();
        assert_ne!(b["ownerId"], "contacts-only", "{}", g.body);
        // `calls` may not read transcripts: none was fetched or sent for it.
        assert!(
            !g.event().starts_with("telephonyCallTranscript"),
            "{}",
            g.body
        );
    }
    assert_eq!(app.sim_requests("GET /api/v2/transcripts/{call_id}"), 0);
}

/// A paused (disabled) endpoint keeps its events: the Dialpad subscription stays, what happens
/// meanwhile is published with a delivery that waits, and enabling the endpoint sends it.
#[tokio::test]
async fn a_paused_endpoint_gets_what_happened_meanwhile() {
    let app = spawn_app_with_env(SETTINGS).await;
    let (rx, ep) = endpoint_for_all(&app).await;
    let id = ep["id"].as_str().unwrap().to_owned();
    app.connect("paused", &["genericContact::list"]).await;
    intake_active(&app, "paused").await;
    let patch = |disabled: bool| {
        app.http
            .patch(app.url(&format!("/v1/webhook-endpoints/{id}")))
            .header("x-api-secret", &app.api_key)
            .json(&json!({ "disabled": disabled }))
            .send()
    };
    assert_eq!(patch(true).await.unwrap().status(), 200);
    // Past a repair round: the subscription is kept for the paused endpoint.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(kinds(&intake(&app, "paused").await), ["contact"]);
    sim_post(
        &app,
        "/_sim/contacts",
        json!({"first_name": "Paused", "last_name": "Meanwhile", "phones": ["+14155550177"]}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rx.got().is_empty(), "nothing is sent to a paused endpoint");
    assert_eq!(patch(false).await.unwrap().status(), 200);
    let got = rx
        .wait_for(Duration::from_secs(10), |g| {
            g.iter().any(|x| x.event() == "genericContact::created")
        })
        .await;
    assert_eq!(
        got.len(),
        1,
        "{:?}",
        got.iter().map(Got::event).collect::<Vec<_>>()
    );
    assert_eq!(got[0].json()["data"]["fields"]["lastName"], "Meanwhile");
}
