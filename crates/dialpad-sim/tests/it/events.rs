//! Event delivery: a real HTTP receiver gets the simulator's webhook events (call, SMS,
//! contact, agent status), signed as HS256 JWTs when the webhook has a secret, retried when the
//! receiver fails, and logged in `/_sim/deliveries`.

use crate::common::call_as;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use dialpad_sim::{AccessToken, DeliveryPolicy, SimConfig, SimHandle};
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{json, Value};

const SECRET: &str = "s3cret-signing-key";

// ---------------------------------------------------------------------------------------------
// The test receiver

#[derive(Clone, Debug)]
struct Received {
    method: String,
    content_type: String,
    body: String,
}

#[derive(Clone, Default)]
struct Recv {
    got: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<AtomicUsize>,
}

struct Receiver {
    url: String,
    state: Recv,
}

async fn record(
    State(r): State<Recv>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let fail = r
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.got.lock().push(Received {
        method: method.to_string(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    StatusCode::OK
}

impl Receiver {
    /// A receiver that answers 500 to its first `fail_first` requests, then 200.
    async fn start(fail_first: usize) -> Receiver {
        let state = Recv::default();
        state.fail_first.store(fail_first, Ordering::SeqCst);
        let app = Router::new()
            .route("/hook", post(record))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    fn got(&self) -> Vec<Received> {
        self.state.got.lock().clone()
    }

    /// Waits until at least `n` requests arrived (or 10 s), then returns them all.
    async fn wait(&self, n: usize) -> Vec<Received> {
        for _ in 0..1000 {
            if self.got().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.got()
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

async fn sim() -> SimHandle {
    let h = dialpad_sim::spawn(SimConfig::default()).await.unwrap();
    h.sim.set_delivery_policy(DeliveryPolicy {
        retry_delays_ms: vec![20, 20, 20],
        timeout_ms: 2000,
        sms_status_delay_ms: 30,
    });
    h
}

async fn ok(h: &SimHandle, method: Method, path: &str, body: Option<Value>) -> Value {
    let (s, v) = call_as(h, &h.api_key, method.clone(), path, body).await;
    assert_eq!(s, StatusCode::OK, "{method} {path}: {v}");
    v
}

async fn webhook(h: &SimHandle, url: &str, secret: Option<&str>) -> String {
    let mut body = json!({ "hook_url": url });
    if let Some(s) = secret {
        body["secret"] = json!(s);
    }
    let v = ok(h, Method::POST, "/api/v2/webhooks", Some(body)).await;
    v["id"].as_str().unwrap().to_owned()
}

async fn subscribe(h: &SimHandle, kind: &str, hook: &str, mut body: Value) -> Value {
    body["endpoint_id"] = json!(hook);
    ok(
        h,
        Method::POST,
        &format!("/api/v2/subscriptions/{kind}"),
        Some(body),
    )
    .await
}

fn verify(jwt: &str, secret: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.required_spec_claims = Default::default();
    v.validate_exp = false;
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::decode::<Value>(jwt, &key, &v).map(|d| d.claims)
}

/// Checks a signed delivery and returns its claims.
fn claims(r: &Received) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(r.content_type, "application/jwt");
    assert_eq!(r.body.matches('.').count(), 2, "a compact JWS: {}", r.body);
    assert!(
        verify(&r.body, "another-secret").is_err(),
        "must not verify with another secret"
    );
    let header = jsonwebtoken::decode_header(&r.body).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    verify(&r.body, SECRET).expect("verifies with the webhook's secret")
}

fn plain(r: &Received) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(r.content_type, "application/json");
    serde_json::from_str(&r.body).expect("plain JSON")
}

fn users(h: &SimHandle) -> Vec<i64> {
    h.sim.db().read().users.keys().copied().collect()
}

fn states(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["state"].as_str().unwrap_or("?").to_owned())
        .collect()
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

// ---------------------------------------------------------------------------------------------
// Calls

#[tokio::test]
async fn inbound_answered_call_plays_through_dialpads_states_signed() {
    let h = sim().await;
    let all = Receiver::start(0).await;
    let hangups = Receiver::start(0).await;
    let hook = webhook(&h, &all.url, Some(SECRET)).await;
    let hook2 = webhook(&h, &hangups.url, Some(SECRET)).await;
    subscribe(&h, "call", &hook, json!({})).await;
    subscribe(&h, "call", &hook2, json!({ "call_states": ["hangup"] })).await;

    let started = ok(
        &h,
        Method::POST,
        "/_sim/calls",
        Some(json!({ "direction": "inbound", "outcome": "answered", "speed": 1000 })),
    )
    .await;
    let id: i64 = started["call_id"].as_str().unwrap().parse().unwrap();
    let expected = [
        "preanswer",
        "ringing",
        "connected",
        "hangup",
        "postcall",
        "recording",
        "call_transcription",
        "recap_summary",
        "recap_action_items",
        "recap_purposes",
        "recap_outcome",
    ];
    let got = all.wait(expected.len()).await;
    let events: Vec<Value> = got.iter().map(claims).collect();
    assert_eq!(states(&events), expected);
    for e in &events {
        assert_eq!(e["call_id"], json!(id), "ids are JSON numbers");
        assert!(e["event_timestamp"].is_i64());
        assert!(e["date_started"].is_i64());
        assert_eq!(e["direction"], "inbound");
        assert!(
            e.get("master_call_id").is_some_and(Value::is_null),
            "explicit nulls"
        );
        assert!(e["labels"].is_array());
        assert!(e["target"]["id"].is_i64());
    }
    let stamps: Vec<i64> = events
        .iter()
        .map(|e| e["event_timestamp"].as_i64().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
    let hangup = &events[3];
    assert!(hangup["date_connected"].is_i64());
    assert!(hangup["date_ended"].as_i64() >= hangup["date_connected"].as_i64());
    assert!(hangup["duration"].as_f64().unwrap() >= 1000.0);

    settle().await;
    let only = hangups.got();
    assert_eq!(
        states(&only.iter().map(claims).collect::<Vec<_>>()),
        ["hangup"]
    );

    // The finished call is in the call history, its transcript served.
    let list = ok(&h, Method::GET, "/api/v2/call?limit=5", None).await;
    let listed = list["items"].as_array().unwrap();
    let mine = listed
        .iter()
        .find(|c| c["call_id"] == json!(id.to_string()));
    let mine = mine.expect("the finished call is listed");
    assert_eq!(mine["state"], "hangup");
    let t = ok(&h, Method::GET, &format!("/api/v2/transcripts/{id}"), None).await;
    assert!(!t["lines"].as_array().unwrap().is_empty());

    let stats = h.stats();
    assert_eq!(stats.events_delivered, 12);
    assert_eq!(stats.events_failed, 0);
}

/// Drops `null`s recursively: REST responses omit them, event payloads keep them.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        x => x.clone(),
    }
}

#[tokio::test]
async fn recap_states_follow_the_transcription_and_match_ai_recap() {
    let h = sim().await;
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, None).await;
    let recap_states = [
        "recap_summary",
        "recap_action_items",
        "recap_purposes",
        "recap_outcome",
    ];
    let mut wanted = vec!["call_transcription"];
    wanted.extend(recap_states);
    subscribe(&h, "call", &hook, json!({ "call_states": wanted })).await;

    // Without a transcript there is no recap: no recap states, and ai_recap has none.
    let outbound = ok(
        &h,
        Method::POST,
        "/_sim/calls",
        Some(json!({ "direction": "outbound", "speed": 1000 })),
    )
    .await;
    let outbound_states = outbound["states"].as_array().unwrap();
    assert!(
        outbound_states
            .iter()
            .all(|s| !s.as_str().unwrap_or("").starts_with("recap_")),
        "{outbound}"
    );

    let started = ok(
        &h,
        Method::POST,
        "/_sim/calls",
        Some(json!({ "direction": "inbound", "outcome": "answered", "speed": 1000 })),
    )
    .await;
    let id = started["call_id"].as_str().unwrap().to_owned();
    let events: Vec<Value> = r.wait(5).await.iter().map(plain).collect();
    settle().await;
    assert_eq!(r.got().len(), 5, "only the transcribed call's states");
    assert_eq!(states(&events), wanted);
    let outbound_id = outbound["call_id"].as_str().unwrap();
    let (s, v) = call_as(
        &h,
        &h.api_key,
        Method::GET,
        &format!("/api/v2/call/{outbound_id}/ai_recap"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    let recap = ok(
        &h,
        Method::GET,
        &format!("/api/v2/call/{id}/ai_recap"),
        None,
    )
    .await;
    for e in &events {
        assert_eq!(e["call_id"].to_string(), id, "shaped like every call event");
        assert!(e["date_ended"].is_i64() && e["target"]["id"].is_i64());
    }
    let (summary, items, purposes, outcome) = (&events[1], &events[2], &events[3], &events[4]);
    assert_eq!(without_nulls(&summary["recap_summary"]), recap["summary"]);
    assert_eq!(summary["recap_summary"]["format"], "medium");
    assert_eq!(
        without_nulls(&items["recap_action_items"]),
        recap["action_items"]
    );
    assert_eq!(
        without_nulls(&purposes["recap_purposes"]),
        recap["purposes"]
    );
    assert_eq!(
        without_nulls(&outcome["recap_outcome"]),
        recap["disposition"]
    );
    // Each recap event carries only its own part.
    assert!(summary.get("recap_outcome").is_none() && outcome.get("recap_summary").is_none());
    // The recap is dated when its first event went out, after the transcript's.
    assert_eq!(
        recap["date_created"],
        json!(summary["event_timestamp"].to_string())
    );
    let stamps: Vec<i64> = events
        .iter()
        .map(|e| e["event_timestamp"].as_i64().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
}

#[tokio::test]
async fn outbound_missed_and_voicemail_calls() {
    let h = sim().await;
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, None).await;
    subscribe(&h, "call", &hook, json!({})).await;
    let play = |body: Value| ok(&h, Method::POST, "/_sim/calls", Some(body));

    play(json!({ "direction": "outbound", "speed": 1000 })).await;
    let got = r.wait(4).await;
    assert_eq!(
        states(&got.iter().map(plain).collect::<Vec<_>>()),
        ["calling", "ringing", "connected", "hangup"]
    );
    settle().await;
    assert_eq!(r.got().len(), 4);

    r.state.got.lock().clear();
    play(json!({ "outcome": "missed", "speed": 1000 })).await;
    let got = r.wait(4).await;
    assert_eq!(
        states(&got.iter().map(plain).collect::<Vec<_>>()),
        ["preanswer", "ringing", "missed", "hangup"]
    );

    r.state.got.lock().clear();
    play(json!({ "outcome": "voicemail", "speed": 1000 })).await;
    let got = r.wait(5).await;
    let events: Vec<Value> = got.iter().map(plain).collect();
    assert_eq!(
        states(&events),
        [
            "preanswer",
            "ringing",
            "voicemail",
            "hangup",
            "voicemail_uploaded"
        ]
    );
    assert!(events[4]["voicemail_link"].is_string());

    let (s, _) = call_as(
        &h,
        &h.api_key,
        Method::POST,
        "/_sim/calls",
        Some(json!({ "outcome": "sometimes" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn target_filtered_subscription_gets_only_its_targets_calls() {
    let h = sim().await;
    let u = users(&h);
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, None).await;
    subscribe(
        &h,
        "call",
        &hook,
        json!({ "target_type": "user", "target_id": u[1], "call_states": ["hangup"] }),
    )
    .await;
    for user in [u[0], u[1], u[2]] {
        ok(
            &h,
            Method::POST,
            "/_sim/calls",
            Some(json!({ "user_id": user, "speed": 1000, "with_transcript": false })),
        )
        .await;
    }
    r.wait(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got: Vec<Value> = r.got().iter().map(plain).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["target"]["id"], json!(u[1]));
    assert_eq!(got[0]["target"]["type"], "user");
}

#[tokio::test]
async fn hangup_through_the_api_ends_a_call_in_progress() {
    let h = sim().await;
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, Some(SECRET)).await;
    subscribe(&h, "call", &hook, json!({})).await;
    // Real-time-ish: rings for 50 ms, then a talk of 60 s at speed 10 (6 s).
    let started = ok(
        &h,
        Method::POST,
        "/_sim/calls",
        Some(json!({ "ring_secs": 0.3, "duration_secs": 60, "speed": 10 })),
    )
    .await;
    let id = started["call_id"].as_str().unwrap().to_owned();
    let got = r.wait(3).await;
    assert_eq!(
        states(&got.iter().map(claims).collect::<Vec<_>>()),
        ["preanswer", "ringing", "connected"]
    );
    let live = ok(&h, Method::GET, &format!("/api/v2/call/{id}"), None).await;
    assert_eq!(live["state"], "connected");

    ok(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/actions/hangup"),
        None,
    )
    .await;
    // The live states stop; what follows a hangup comes at once (timed from it, not from the
    // end the plan had, 6 s later): postcall, recording, call_transcription.
    let got = r.wait(7).await;
    let events: Vec<Value> = got.iter().map(claims).collect();
    assert_eq!(
        states(&events)[3..],
        ["hangup", "postcall", "recording", "call_transcription"]
    );
    assert!(events[3]["date_ended"].is_i64());
    assert_eq!(events[3]["date_ended"], events[6]["date_ended"]);
    settle().await;
    assert_eq!(r.got().len(), 7, "no live state after the hangup");
}

#[tokio::test]
async fn a_call_hung_up_while_ringing_has_no_post_call_events() {
    let h = sim().await;
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, None).await;
    subscribe(&h, "call", &hook, json!({})).await;
    let started = ok(
        &h,
        Method::POST,
        "/_sim/calls",
        Some(json!({"ring_secs": 30, "speed": 10})),
    )
    .await;
    let id = started["call_id"].as_str().unwrap().to_owned();
    r.wait(2).await;
    ok(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/actions/hangup"),
        None,
    )
    .await;
    r.wait(3).await;
    settle().await;
    let events: Vec<Value> = r.got().iter().map(plain).collect();
    assert_eq!(states(&events), ["preanswer", "ringing", "hangup"]);
}

#[tokio::test]
async fn transfer_and_add_participant_emit_events() {
    let h = sim().await;
    let u = users(&h);
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, None).await;
    subscribe(&h, "call", &hook, json!({})).await;
    let started = ok(
        &h,
        Method::POST,
        "/_sim/calls",
        Some(json!({ "ring_secs": 0.1, "duration_secs": 600, "speed": 10 })),
    )
    .await;
    let id = started["call_id"].as_str().unwrap().to_owned();
    r.wait(3).await;
    ok(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/participants/add"),
        Some(json!({ "participant": { "number": "+14155550100" } })),
    )
    .await;
    ok(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/transfer"),
        Some(json!({ "to": { "target_id": u[1], "target_type": "user" } })),
    )
    .await;
    let got: Vec<Value> = r.wait(5).await.iter().map(plain).collect();
    let leg = &got[3];
    assert_eq!(leg["state"], "ringing");
    assert_eq!(leg["entry_point_call_id"].to_string(), id);
    assert_eq!(got[4]["call_id"].to_string(), id);
    assert_eq!(got[4]["is_transferred"], true);
    ok(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/actions/hangup"),
        None,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Retries and the delivery log

#[tokio::test]
async fn failing_receiver_gets_retries_and_the_log_shows_them() {
    let h = sim().await;
    let r = Receiver::start(2).await;
    let hook = webhook(&h, &r.url, Some(SECRET)).await;
    subscribe(&h, "contact", &hook, json!({ "contact_type": "shared" })).await;
    ok(
        &h,
        Method::POST,
        "/api/v2/contacts",
        Some(json!({ "first_name": "Ada", "last_name": "Lovelace" })),
    )
    .await;
    let got = r.wait(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(claims(&got[0])["event"], "Created");
    settle().await;
    let log = ok(&h, Method::GET, "/_sim/deliveries", None).await;
    let log = log.as_array().unwrap();
    let attempts: Vec<(u64, bool, Option<u64>)> = log
        .iter()
        .map(|d| {
            (
                d["attempt"].as_u64().unwrap(),
                d["ok"].as_bool().unwrap(),
                d["status"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (1, false, Some(500)),
            (2, false, Some(500)),
            (3, true, Some(200))
        ]
    );
    assert!(log
        .iter()
        .all(|d| d["event_type"] == "contact" && d["url"] == json!(r.url)));
    let stats = h.stats();
    assert_eq!((stats.events_delivered, stats.events_failed), (1, 0));

    // A receiver that is down: 1 try + 3 retries, then counted as failed; the API never waits.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    ok(
        &h,
        Method::PATCH,
        &format!("/api/v2/webhooks/{hook}"),
        Some(json!({ "hook_url": dead })),
    )
    .await;
    let t = std::time::Instant::now();
    ok(
        &h,
        Method::POST,
        "/api/v2/contacts",
        Some(json!({ "first_name": "Grace", "last_name": "Hopper" })),
    )
    .await;
    assert!(t.elapsed() < Duration::from_millis(500));
    for _ in 0..200 {
        if h.stats().events_failed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.stats().events_failed, 1);
    let log = h.sim.deliveries();
    let dead_tries: Vec<_> = log.iter().filter(|d| d.url == dead).collect();
    assert_eq!(dead_tries.len(), 4);
    assert!(dead_tries.iter().all(|d| !d.ok && d.status.is_none()));
    assert!(dead_tries[3].last);
}

// ---------------------------------------------------------------------------------------------
// Contacts, SMS, agent status

#[tokio::test]
async fn contact_events_through_the_api_and_the_app() {
    let h = sim().await;
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, None).await;
    subscribe(&h, "contact", &hook, json!({ "contact_type": "shared" })).await;
    let c = ok(
        &h,
        Method::POST,
        "/api/v2/contacts",
        Some(json!({ "first_name": "Ada", "last_name": "Lovelace", "phones": ["+14155550111"] })),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_owned();
    ok(
        &h,
        Method::PATCH,
        &format!("/api/v2/contacts/{id}"),
        Some(json!({ "job_title": "Analyst" })),
    )
    .await;
    ok(&h, Method::DELETE, &format!("/api/v2/contacts/{id}"), None).await;
    // The same through the control API (an edit in Dialpad's app).
    let c2 = ok(
        &h,
        Method::POST,
        "/_sim/contacts",
        Some(json!({ "first_name": "Alan", "last_name": "Turing" })),
    )
    .await;
    let id2 = c2["id"].as_str().unwrap().to_owned();
    ok(
        &h,
        Method::PATCH,
        &format!("/_sim/contacts/{id2}"),
        Some(json!({ "last_name": "M. Turing" })),
    )
    .await;
    ok(&h, Method::DELETE, &format!("/_sim/contacts/{id2}"), None).await;
    // A local contact does not reach a shared-contact subscription.
    let owner = users(&h)[0];
    ok(
        &h,
        Method::POST,
        "/api/v2/contacts",
        Some(json!({ "first_name": "Lo", "last_name": "Cal", "owner_id": owner })),
    )
    .await;

    let got: Vec<Value> = r.wait(6).await.iter().map(plain).collect();
    settle().await;
    assert_eq!(r.got().len(), 6);
    let names: Vec<&str> = got.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Created", "Updated", "Deleted", "Created", "Updated", "Deleted"]
    );
    assert_eq!(got[0]["contact"]["id"], json!(id));
    assert_eq!(got[0]["contact"]["phones"], json!(["+14155550111"]));
    assert_eq!(got[0]["contact"]["primary_phone"], "+14155550111");
    assert!(got[0]["contact"]["company_name"].is_null());
    assert_eq!(got[0]["contact"]["urls"], json!([]));
    assert_eq!(got[1]["contact"]["job_title"], "Analyst");
    assert_eq!(got[4]["contact"]["last_name"], "M. Turing");
}

fn insert_token(h: &SimHandle, name: &str, user: i64, scopes: &[&str]) -> String {
    let token = format!("events-test-{name}");
    h.sim.db().write().oauth.access_tokens.insert(
        token.clone(),
        AccessToken {
            client_id: "sim-client".to_owned(),
            user_id: user,
            scopes: scopes
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<BTreeSet<_>>(),
            expires_at_ms: chrono::Utc::now().timestamp_millis() + 3_600_000,
            refresh_token: None,
        },
    );
    token
}

#[tokio::test]
async fn sms_events_carry_text_only_with_the_content_export_scope() {
    let h = sim().await;
    let u = users(&h);
    let with_scope = Receiver::start(0).await;
    let without = Receiver::start(0).await;
    let statuses = Receiver::start(0).await;
    let hook_a = webhook(&h, &with_scope.url, Some(SECRET)).await;
    let hook_b = webhook(&h, &without.url, Some(SECRET)).await;
    let hook_c = webhook(&h, &statuses.url, None).await;
    // An API key holds every scope.
    subscribe(&h, "sms", &hook_a, json!({ "direction": "all" })).await;
    // An OAuth app without message_content_export.
    let bare = insert_token(&h, "bare", u[0], &[]);
    let (s, v) = call_as(
        &h,
        &bare,
        Method::POST,
        "/api/v2/subscriptions/sms",
        Some(json!({ "endpoint_id": hook_b, "direction": "all" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Outbound only, with delivery status updates.
    subscribe(
        &h,
        "sms",
        &hook_c,
        json!({ "direction": "outbound", "status": true }),
    )
    .await;

    let sent = ok(
        &h,
        Method::POST,
        "/api/v2/sms",
        Some(json!({ "user_id": u[0], "to_numbers": ["+14155550123"], "text": "hello there" })),
    )
    .await;
    let sms_id: i64 = sent["id"].as_str().unwrap().parse().unwrap();
    ok(
        &h,
        Method::POST,
        "/_sim/sms/inbound",
        Some(json!({ "user_id": u[0], "from_number": "+14155550123", "text": "hi back" })),
    )
    .await;

    let a: Vec<Value> = with_scope.wait(2).await.iter().map(claims).collect();
    let b: Vec<Value> = without.wait(2).await.iter().map(claims).collect();
    let c: Vec<Value> = statuses.wait(2).await.iter().map(plain).collect();
    settle().await;
    assert_eq!(
        with_scope.got().len(),
        2,
        "no status events without status: true"
    );
    assert_eq!(a[0]["id"], json!(sms_id));
    assert_eq!(a[0]["direction"], "outbound");
    assert_eq!(a[0]["text"], "hello there");
    assert_eq!(a[0]["to_number"], json!(["+14155550123"]));
    assert!(a[0]["created_date"].is_i64());
    assert_eq!(a[0]["target"]["id"], json!(u[0]));
    assert_eq!(a[1]["direction"], "inbound");
    assert_eq!(a[1]["text"], "hi back");
    assert_eq!(a[1]["from_number"], "+14155550123");
    for e in &b {
        assert!(
            e.get("text").is_none_or(Value::is_null),
            "no text without the scope: {e}"
        );
    }
    assert_eq!(statuses.got().len(), 2, "outbound only");
    assert_eq!(c[0]["message_status"], "pending");
    assert_eq!(c[1]["message_status"], "success");
    assert_eq!(c[1]["id"], json!(sms_id));
}

#[tokio::test]
async fn agent_status_events() {
    let h = sim().await;
    let u = users(&h);
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, Some(SECRET)).await;
    subscribe(
        &h,
        "agent_status",
        &hook,
        json!({ "agent_type": "callcenter" }),
    )
    .await;
    ok(
        &h,
        Method::POST,
        "/_sim/agent_status",
        Some(
            json!({ "user_id": u[0], "on_duty": true, "call_center_ids": [5883344555555555_i64] }),
        ),
    )
    .await;
    ok(
        &h,
        Method::POST,
        "/_sim/agent_status",
        Some(json!({ "user_id": u[0], "on_duty": false, "on_duty_status_reason": "Lunch" })),
    )
    .await;
    let got: Vec<Value> = r.wait(2).await.iter().map(claims).collect();
    assert_eq!(got[0]["on_duty_status"], "available");
    assert_eq!(got[0]["availability_status"], "available");
    assert_eq!(got[0]["call_center_ids"], json!(["5883344555555555"]));
    assert_eq!(got[0]["target"]["id"], json!(u[0]));
    assert_eq!(got[0]["target"]["type"], "user");
    assert!(got[0]["event_timestamp"].is_i64());
    assert_eq!(got[1]["on_duty_status"], "unavailable");
    assert_eq!(got[1]["on_duty_status_reason"], "Lunch");
    assert_eq!(got[1]["call_center_ids"], json!([]));
}

#[tokio::test]
async fn disabled_subscriptions_and_plain_json_without_a_secret() {
    let h = sim().await;
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, None).await;
    let sub = subscribe(&h, "contact", &hook, json!({ "contact_type": "shared" })).await;
    let sub_id = sub["id"].as_str().unwrap();
    ok(
        &h,
        Method::PATCH,
        &format!("/api/v2/subscriptions/contact/{sub_id}"),
        Some(json!({ "enabled": false, "contact_type": "shared" })),
    )
    .await;
    ok(
        &h,
        Method::POST,
        "/_sim/contacts",
        Some(json!({ "first_name": "No", "last_name": "Event" })),
    )
    .await;
    settle().await;
    assert!(r.got().is_empty());
    ok(
        &h,
        Method::PATCH,
        &format!("/api/v2/subscriptions/contact/{sub_id}"),
        Some(json!({ "enabled": true, "contact_type": "shared" })),
    )
    .await;
    ok(
        &h,
        Method::POST,
        "/_sim/contacts",
        Some(json!({ "first_name": "An", "last_name": "Event" })),
    )
    .await;
    let got = r.wait(1).await;
    let v = plain(&got[0]);
    assert_eq!(v["contact"]["first_name"], "An");
}

// ---------------------------------------------------------------------------------------------
// Live calls left for actions (`stop_at`)

/// Waits (up to 10 s) until the call's stored state is `state`.
async fn wait_state(h: &SimHandle, id: &str, state: &str) -> Value {
    for _ in 0..1000 {
        let c = ok(h, Method::GET, &format!("/api/v2/call/{id}"), None).await;
        if c["state"] == state {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("call {id} never reached {state}");
}

#[tokio::test]
async fn a_live_call_waits_for_the_api_hangup_then_plays_its_post_call_events() {
    let h = sim().await;
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, Some(SECRET)).await;
    subscribe(&h, "call", &hook, json!({})).await;
    let started = ok(
        &h,
        Method::POST,
        "/_sim/calls",
        Some(json!({"stop_at": "connected", "ring_secs": 1, "speed": 100})),
    )
    .await;
    assert_eq!(started["live"], true);
    let id = started["call_id"].as_str().unwrap().to_owned();
    wait_state(&h, &id, "connected").await;
    // Far past the talk time the call would have had (45 s at speed 100 is 0.45 s): still live.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let live = ok(&h, Method::GET, &format!("/api/v2/call/{id}"), None).await;
    assert_eq!(live["state"], "connected", "{live}");
    assert!(live["date_ended"].is_null(), "{live}");
    assert_eq!(
        states(&r.got().iter().map(claims).collect::<Vec<_>>()),
        ["preanswer", "ringing", "connected"]
    );

    ok(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/actions/hangup"),
        None,
    )
    .await;
    // hangup, then postcall (inbound answered), recording and call_transcription; the recap
    // comes much later (RECAP_DELAY_MS).
    let got = r.wait(7).await;
    let events: Vec<Value> = got.iter().map(claims).collect();
    assert_eq!(
        states(&events)[3..7],
        ["hangup", "postcall", "recording", "call_transcription"]
    );
    let ended = ok(&h, Method::GET, &format!("/api/v2/call/{id}"), None).await;
    assert_eq!(ended["state"], "hangup");
    assert_eq!(ended["was_recorded"], true);

    // Hanging up again is Dialpad's 400, in its envelope.
    let (s, v) = call_as(
        &h,
        &h.api_key,
        Method::PUT,
        &format!("/api/v2/call/{id}/actions/hangup"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not active"),
        "{v}"
    );
}

#[tokio::test]
async fn parked_calls_unpark_to_the_user_and_recording_toggles_are_evented() {
    let h = sim().await;
    let r = Receiver::start(0).await;
    let hook = webhook(&h, &r.url, None).await;
    subscribe(&h, "call", &hook, json!({})).await;
    let user = users(&h)[0];
    let other = users(&h)[1];
    let started = ok(
        &h,
        Method::POST,
        "/_sim/calls",
        Some(json!({"stop_at": "parked", "user_id": user, "ring_secs": 0.5, "speed": 100})),
    )
    .await;
    let id = started["call_id"].as_str().unwrap().to_owned();
    wait_state(&h, &id, "parked").await;
    let got = r.wait(4).await;
    assert_eq!(
        states(&got.iter().map(plain).collect::<Vec<_>>()),
        ["preanswer", "ringing", "connected", "parked"]
    );

    let unparked = ok(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/unpark"),
        Some(json!({"user_id": other})),
    )
    .await;
    assert_eq!(unparked["call_id"], id.as_str());
    let c = ok(&h, Method::GET, &format!("/api/v2/call/{id}"), None).await;
    assert_eq!(c["state"], "connected");
    let got = r.wait(5).await;
    assert_eq!(plain(&got[4])["state"], "connected");

    // Unparking a call that is not parked: 400.
    let (s, v) = call_as(
        &h,
        &h.api_key,
        Method::POST,
        &format!("/api/v2/call/{id}/unpark"),
        Some(json!({"user_id": other})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not parked"),
        "{v}"
    );

    // The unparking user now has the call: recording on, then off.
    let path = format!("/api/v2/users/{other}/activecall");
    let on = ok(
        &h,
        Method::PATCH,
        &path,
        Some(json!({"is_recording": true})),
    )
    .await;
    assert_eq!(
        on,
        json!({"id": id, "call_state": "connected", "is_recording": true})
    );
    let c = ok(&h, Method::GET, &format!("/api/v2/call/{id}"), None).await;
    assert_eq!(c["was_recorded"], true);
    // Dialpad leaves empty lists out: nothing recorded yet, the recording is still going.
    assert!(
        c["recording_details"].as_array().is_none_or(Vec::is_empty),
        "still recording: {c}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    // No `is_recording`: toggles (off).
    let off = ok(&h, Method::PATCH, &path, Some(json!({}))).await;
    assert_eq!(off["is_recording"], false);
    let c = ok(&h, Method::GET, &format!("/api/v2/call/{id}"), None).await;
    let recs = c["recording_details"].as_array().unwrap();
    assert_eq!(recs.len(), 1, "{c}");
    assert_eq!(recs[0]["recording_type"], "callrecording");
    let got = r.wait(6).await;
    let rec = plain(&got[5]);
    assert_eq!(rec["state"], "recording");
    assert_eq!(rec["call_recording_ids"], json!([recs[0]["id"]]), "{rec}");

    // Recording again, then the call ends: the stretch is kept and its event follows hangup.
    ok(
        &h,
        Method::PATCH,
        &path,
        Some(json!({"is_recording": true})),
    )
    .await;
    ok(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/actions/hangup"),
        None,
    )
    .await;
    let got = r.wait(8).await;
    let events: Vec<Value> = got.iter().map(plain).collect();
    assert_eq!(states(&events)[6..8], ["hangup", "recording"]);
    assert_eq!(
        events[7]["call_recording_ids"].as_array().map(Vec::len),
        Some(2),
        "{}",
        events[7]
    );

    // No active call any more: 404.
    let (s, v) = call_as(&h, &h.api_key, Method::PATCH, &path, Some(json!({}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
}
