//! Webhook endpoints and delivery through the real server: an app's receiver on loopback gets
//! each event signed (Standard Webhooks), in order per resource, retried on the persisted
//! schedule, and a `410` disables the endpoint; the endpoint API refuses private URLs unless
//! allowed, bad event types and unknown fields.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use dpc_store::events::{now_ms, NewEvent};
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::helpers::{eventually, spawn_app_with_env, TestApp};

/// What the receiver saw: headers and body of each request.
#[derive(Clone, Debug)]
struct Got {
    headers: HeaderMap,
    body: String,
}

/// A receiver on loopback that answers from a script (then 200 forever).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> (Receiver, String) {
        let r = Receiver {
            got: Arc::default(),
            script: Arc::new(Mutex::new(script.iter().rev().copied().collect())),
        };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    // The script is for the first resource (`c1`, `k1`) a test sends; the
                    // others get 200.
                    let scripted = body.contains("\"c1\"") || body.contains("\"k1\"");
                    state.got.lock().push(Got { headers, body });
                    let code = if scripted {
                        state.script.lock().pop().unwrap_or(200)
                    } else {
                        200
                    };
                    (StatusCode::from_u16(code).unwrap(), "thanks")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().clone()
    }
}

async fn app() -> TestApp {
    spawn_app_with_env(&[
        ("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true"),
        ("DPC_WEBHOOKS_RETRY_SCHEDULE_MS", "50,100,100"),
    ])
    .await
}

fn event(event_type: &str, owner: &str, resource: &str, n: u32) -> NewEvent {
    let id = NewEvent::new_id();
    NewEvent {
        body: json!({"event": event_type, "ownerId": owner, "data": {"id": resource, "n": n}})
            .to_string(),
        id,
        event_type: event_type.into(),
        connector_id: "dialpad".into(),
        owner_id: owner.into(),
        model: event_type.split("::").next().unwrap().into(),
        resource_id: resource.into(),
        source: "webhook".into(),
        occurred_at: now_ms(),
    }
}

async fn create_endpoint(app: &TestApp, body: Value) -> Value {
    let r = app.post_json("/v1/webhook-endpoints", body).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// The receiver's request is signed with the endpoint's secret (and verifies as Standard
/// Webhooks says: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`).
fn assert_signed(g: &Got, secrets: &[&str]) {
    let id = g.headers["webhook-id"].to_str().unwrap();
    let ts: i64 = g.headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((ts - chrono::Utc::now().timestamp()).abs() < 60);
    let sig = g.headers["webhook-signature"].to_str().unwrap();
    let expected = dpc_core::events::signature_header(secrets, id, ts, g.body.as_bytes()).unwrap();
    assert_eq!(sig, expected);
    assert_eq!(g.headers["x-idempotency-key"].to_str().unwrap(), id);
    assert_eq!(g.headers["x-connector-id"].to_str().unwrap(), "dialpad");
    assert_eq!(
        g.headers["content-type"].to_str().unwrap(),
        "application/json"
    );
}

#[tokio::test]
async fn events_arrive_signed_in_order_and_failures_are_retried() {
    let app = app().await;
    // The first delivery fails twice: everything about that resource waits for it.
    let (rx, url) = Receiver::start(&[500, 503]).await;
    let ep = create_endpoint(&app, json!({"url": url, "description": "the CRM"})).await;
    let secret = ep["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(ep["events"], json!(["*"]));

    let events = vec![
        event("telephonyCall::created", "o1", "c1", 1),
        event("telephonyCall::updated", "o1", "c1", 2),
        event("telephonyCall::updated", "o1", "c1", 3),
        event("genericContact::created", "o2", "k9", 1),
    ];
    app.store.publish_events(&events).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || rx
            .got()
            .iter()
            .filter(|g| g.headers["webhook-id"] == events[2].id.as_str())
            .count()
            == 1)
        .await,
        "all delivered: {:?}",
        rx.got().len()
    );
    let got = rx.got();
    for g in &got {
        assert_signed(g, &[&secret]);
    }
    // c1's events in order, the first one three times (two failures, then 200).
    let c1: Vec<&str> = got
        .iter()
        .filter(|g| g.body.contains("\"c1\""))
        .map(|g| g.headers["webhook-id"].to_str().unwrap())
        .collect();
    let first = events[0].id.as_str();
    assert_eq!(c1, vec![first, first, first, &events[1].id, &events[2].id]);
    assert_eq!(got.iter().filter(|g| g.body.contains("\"k9\"")).count(), 1);

    // The log shows it, with the attempts.
    let r = app.get(&format!("/v1/events/{first}")).await;
    assert_eq!(r.status(), 200);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["status"], "delivered");
    assert_eq!(e["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(e["deliveries"][0]["attempts"], 3);
    let codes: Vec<i64> = e["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["statusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![200, 503, 500], "newest first");
    let r = app
        .get(&format!(
            "/v1/webhook-endpoints/{}/attempts?limit=2",
            ep["id"].as_str().unwrap()
        ))
        .await;
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(page["next"].is_string());
    let r = app.get("/v1/events?event=genericContact::created").await;
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["ownerId"], "o2");

    // Replay sends it again with the same webhook-id.
    let r = app
        .post_json(&format!("/v1/events/{}/replay", events[3].id), json!({}))
        .await;
    assert_eq!(r.status(), 202);
    assert!(
        eventually(Duration::from_secs(10), || rx
            .got()
            .iter()
            .filter(|g| g.headers["webhook-id"] == events[3].id.as_str())
            .count()
            == 2)
        .await
    );
}

#[tokio::test]
async fn gone_disables_and_exhausted_retries_dead_letter() {
    let app = app().await;
    let (gone, gone_url) = Receiver::start(&[410]).await;
    let (down, down_url) = Receiver::start(&[500, 500, 500, 500, 500]).await;
    let g = create_endpoint(&app, json!({"url": gone_url})).await;
    let d = create_endpoint(
        &app,
        json!({"url": down_url, "events": ["genericContact::created"]}),
    )
    .await;
    let e = event("genericContact::created", "o1", "k1", 1);
    app.store
        .publish_events(std::slice::from_ref(&e))
        .await
        .unwrap();
    let gid = g["id"].as_str().unwrap().to_owned();
    assert!(
        eventually(Duration::from_secs(10), || down.got().len() == 4).await,
        "one attempt and three retries: {}",
        down.got().len()
    );
    assert_eq!(gone.got().len(), 1);
    let mut ep = Value::Null;
    assert!(
        {
            let mut ok = false;
            for _ in 0..50 {
                ep = app
                    .get(&format!("/v1/webhook-endpoints/{gid}"))
                    .await
                    .json()
                    .await
                    .unwrap();
                if ep["disabled"] == true {
                    ok = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ok
        },
        "a 410 disables the endpoint: {ep}"
    );
    assert!(ep["disabledReason"].as_str().unwrap().contains("410"));
    assert!(
        ep.get("secret").is_none(),
        "the secret is answered on create only"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(down.got().len(), 4, "given up after the schedule");
    let failed: Value = app
        .get("/v1/events?status=failed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);

    // Replaying the endpoint's failures brings it back once more (the receiver now says 200).
    let r = app
        .post_json(
            &format!("/v1/webhook-endpoints/{}/replay", d["id"].as_str().unwrap()),
            json!({"since": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["scheduled"], 1);
    assert!(eventually(Duration::from_secs(10), || down.got().len() == 5).await);
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_for_a_day() {
    let app = app().await;
    let (rx, url) = Receiver::start(&[]).await;
    let ep = create_endpoint(&app, json!({"url": url})).await;
    let id = ep["id"].as_str().unwrap();
    let old = ep["secret"].as_str().unwrap().to_owned();
    let r = app
        .post_json(
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let e = event("genericContact::updated", "o1", "k1", 1);
    app.store
        .publish_events(std::slice::from_ref(&e))
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || rx.got().len() == 1).await);
    let g = &rx.got()[0];
    assert_signed(g, &[&new, &old]);
    assert_eq!(
        g.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
}

#[tokio::test]
async fn endpoint_api_refuses_bad_input_and_private_urls() {
    let app = spawn_app_with_env(&[]).await;
    for (body, field) in [
        (json!({"url": "http://127.0.0.1:9/hook"}), "url"),
        (json!({"url": "http://10.1.2.3/hook"}), "url"),
        (
            json!({"url": "http://169.254.169.254/latest/meta-data"}),
            "url",
        ),
        (json!({"url": "http://[::1]/hook"}), "url"),
        (json!({"url": "http://localhost/hook"}), "url"),
        (json!({"url": "ftp://example.com/hook"}), "url"),
        (
            json!({"url": format!("https://93.184.215.14/{}", "u".repeat(3000))}),
            "url",
        ),
        (
            json!({"url": "https://93.184.215.14/h", "events": ["telephonyCall::exploded"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://93.184.215.14/h", "events": []}),
            "events",
        ),
    ] {
        let r = app.post_json("/v1/webhook-endpoints", body.clone()).await;
        assert_eq!(r.status(), 422, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "RESOURCE::VALIDATION_FAILED");
        assert_eq!(v["details"]["errors"][0]["field"], field, "{v}");
    }
    let r = app
        .post_json(
            "/v1/webhook-endpoints",
            json!({"url": "https://93.184.215.14/h", "colour": "blue"}),
        )
        .await;
    assert!(r.status() == 400 || r.status() == 422, "{}", r.status());
    let r = app.get("/v1/webhook-endpoints/ep_nope").await;
    assert_eq!(r.status(), 404);
    let r = app.get("/v1/events?status=lost").await;
    assert_eq!(r.status(), 400);
    let r = app.get("/v1/events?cursor=zzz").await;
    assert_eq!(r.status(), 400);
    let r = reqwest::Client::new()
        .get(format!("{}/v1/webhook-endpoints", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the secret key is required");
}

#[tokio::test]
async fn endpoint_count_is_capped() {
    let app = spawn_app_with_env(&[
        ("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true"),
        ("DPC_WEBHOOKS_MAX_ENDPOINTS", "2"),
    ])
    .await;
    let body = json!({"url": "http://127.0.0.1:9/hook"});
    let first = create_endpoint(&app, body.clone()).await;
    create_endpoint(&app, body.clone()).await;
    let r = app.post_json("/v1/webhook-endpoints", body.clone()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "REQUEST::LIMIT_REACHED", "{v}");
    assert!(v["message"].as_str().unwrap().contains("at most 2"), "{v}");
    // Deleting one makes room again.
    let r = app
        .http
        .delete(app.url(&format!(
            "/v1/webhook-endpoints/{}",
            first["id"].as_str().unwrap()
        )))
        .header("x-api-secret", &app.api_key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    create_endpoint(&app, body).await;
}
