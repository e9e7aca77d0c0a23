//! Websocket event delivery, with a real websocket client: `/api/v2/websockets` CRUD, the
//! `websocket_url` tokens (fresh on every GET, expiring, refused when forged or stale),
//! subscriptions that name a websocket, events arriving as JWT text frames in order, the
//! connection closed when its URL expires, forced drops, and the buffer that keeps events for
//! the next connection.

use crate::common::call_as;

use std::time::Duration;

use dialpad_sim::{SimConfig, SimHandle};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const SECRET: &str = "ws-signing-secret";

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

// ---------------------------------------------------------------------------------------------
// Helpers

async fn sim_with_ttl(ttl: Duration) -> SimHandle {
    dialpad_sim::spawn(SimConfig {
        websocket_url_ttl: ttl,
        ..Default::default()
    })
    .await
    .expect("simulator starts")
}

async fn sim() -> SimHandle {
    sim_with_ttl(Duration::from_secs(3600)).await
}

async fn ok(h: &SimHandle, method: Method, path: &str, body: Option<Value>) -> Value {
    let (s, v) = call_as(h, &h.api_key, method.clone(), path, body).await;
    assert_eq!(s, StatusCode::OK, "{method} {path}: {v}");
    v
}

async fn create_websocket(h: &SimHandle, secret: Option<&str>) -> (String, Value) {
    let body = match secret {
        Some(s) => json!({ "secret": s }),
        None => json!({}),
    };
    let w = ok(h, Method::POST, "/api/v2/websockets", Some(body)).await;
    (w["id"].as_str().expect("id as a string").to_owned(), w)
}

/// A fresh `websocket_url` (GET /api/v2/websockets/{id}).
async fn fresh_url(h: &SimHandle, id: &str) -> String {
    let w = ok(h, Method::GET, &format!("/api/v2/websockets/{id}"), None).await;
    w["websocket_url"]
        .as_str()
        .expect("websocket_url")
        .to_owned()
}

async fn subscribe(h: &SimHandle, kind: &str, endpoint: &str, mut body: Value) -> Value {
    body["endpoint_id"] = json!(endpoint);
    ok(
        h,
        Method::POST,
        &format!("/api/v2/subscriptions/{kind}"),
        Some(body),
    )
    .await
}

async fn connect(url: &str) -> Client {
    let (ws, resp) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    assert_eq!(resp.status(), 101);
    ws
}

/// The HTTP status a refused connection attempt got.
async fn refused(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => panic!("{url} was accepted"),
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{url}: expected an HTTP refusal, got {e}"),
    }
}

/// What the client saw next.
#[derive(Debug)]
enum Seen {
    Text(String),
    Close(Option<(u16, String)>),
    /// The connection ended without a close frame.
    Cut,
    Nothing,
}

async fn next(ws: &mut Client, wait: Duration) -> Seen {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Err(_) => return Seen::Nothing,
            Ok(None) => return Seen::Cut,
            Ok(Some(Err(_))) => return Seen::Cut,
            Ok(Some(Ok(Message::Text(t)))) => return Seen::Text(t.as_str().to_owned()),
            Ok(Some(Ok(Message::Close(f)))) => {
                return Seen::Close(f.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// The next `n` text frames (panics on anything else, or after 10 s without one).
async fn texts(ws: &mut Client, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match next(ws, Duration::from_secs(10)).await {
            Seen::Text(t) => out.push(t),
            other => panic!("after {} frames: {other:?}", out.len()),
        }
    }
    out
}

fn verify(jwt: &str, secret: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.required_spec_claims = Default::default();
    v.validate_exp = false;
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::decode::<Value>(jwt, &key, &v).map(|d| d.claims)
}

/// A signed frame's claims (checked: compact HS256 JWS, only this secret verifies it).
fn claims(frame: &str) -> Value {
    assert_eq!(frame.matches('.').count(), 2, "a compact JWS: {frame}");
    assert!(verify(frame, "another-secret").is_err());
    let header = jsonwebtoken::decode_header(frame).expect("JWT header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    verify(frame, SECRET).expect("verifies with the websocket's secret")
}

/// The claims of a websocket URL's token (not verified: the key is the simulator's).
fn url_claims(url: &str) -> (jsonwebtoken::Header, Value) {
    let token = url.rsplit('/').next().unwrap_or("");
    let header = jsonwebtoken::decode_header(token).expect("a JWT in the URL");
    let payload = token.split('.').nth(1).unwrap_or("");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    (header, serde_json::from_slice(&bytes).expect("JSON claims"))
}

fn states(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["state"].as_str().unwrap_or("?").to_owned())
        .collect()
}

async fn census(h: &SimHandle) -> Value {
    ok(h, Method::GET, "/_sim/websockets", None).await
}

/// Waits until `/_sim/websockets` reports `n` open connections of websocket `id`.
async fn wait_open(h: &SimHandle, id: &str, n: u64) {
    for _ in 0..500 {
        if census(h).await["open"][id].as_u64().unwrap_or(0) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "websocket {id} never had {n} open connections: {}",
        census(h).await
    );
}

async fn app_contact(h: &SimHandle, first: &str) {
    ok(
        h,
        Method::POST,
        "/_sim/contacts",
        Some(json!({ "first_name": first, "last_name": "Socket" })),
    )
    .await;
}

fn first_names(frames: &[String]) -> Vec<String> {
    frames
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(f).expect("plain JSON frame");
            v["contact"]["first_name"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// CRUD and URLs

#[tokio::test]
async fn websockets_crud_and_fresh_urls() {
    let h = sim().await;
    // Dialpad omits empty lists: no websockets is `{}`.
    assert_eq!(
        ok(&h, Method::GET, "/api/v2/websockets", None).await,
        json!({})
    );
    let (id, w) = create_websocket(&h, Some(SECRET)).await;
    assert_eq!(
        w["signature"],
        json!({ "algo": "HS256", "secret": SECRET, "type": "jwt" })
    );
    let url = w["websocket_url"].as_str().expect("websocket_url");
    let prefix = format!("ws://{}/events/", h.addr);
    assert!(url.starts_with(&prefix), "{url} on the simulator");
    let (header, c) = url_claims(url);
    assert_eq!(header.typ.as_deref(), Some("vnd.dialpad.websocket+jwt"));
    assert_eq!(c["sub"], format!("endpoint:{id}:*"));
    let lifetime = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
    assert!((3600..=3601).contains(&lifetime), "one hour: {c}");

    let (plain_id, plain) = create_websocket(&h, None).await;
    assert!(plain.get("signature").is_none(), "{plain}");

    // Every GET mints a new URL; the rest is the same.
    let a = ok(&h, Method::GET, &format!("/api/v2/websockets/{id}"), None).await;
    let b = ok(&h, Method::GET, &format!("/api/v2/websockets/{id}"), None).await;
    assert_ne!(a["websocket_url"], b["websocket_url"]);
    assert_ne!(a["websocket_url"], w["websocket_url"]);
    assert_eq!((&a["id"], &a["signature"]), (&w["id"], &w["signature"]));

    // The list pages with a cursor.
    for _ in 0..5 {
        create_websocket(&h, None).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v2/websockets?limit=3&cursor={c}"),
            None => "/api/v2/websockets?limit=3".to_owned(),
        };
        let page = ok(&h, Method::GET, &path, None).await;
        for item in page["items"].as_array().unwrap() {
            assert!(item["websocket_url"].is_string());
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page.get("cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[..2], [id.clone(), plain_id.clone()]);

    // Update: rotate, then remove the secret; a multi-line secret is refused.
    let u = ok(
        &h,
        Method::PATCH,
        &format!("/api/v2/websockets/{id}"),
        Some(json!({ "secret": "rotated" })),
    )
    .await;
    assert_eq!(u["signature"]["secret"], "rotated");
    assert!(u["websocket_url"].is_string());
    let u = ok(
        &h,
        Method::PATCH,
        &format!("/api/v2/websockets/{id}"),
        Some(json!({ "secret": "" })),
    )
    .await;
    assert!(u.get("signature").is_none(), "{u}");
    let (s, v) = call_as(
        &h,
        &h.api_key,
        Method::POST,
        "/api/v2/websockets",
        Some(json!({ "secret": "a\nb" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // Delete answers the websocket; then it is gone.
    let d = ok(
        &h,
        Method::DELETE,
        &format!("/api/v2/websockets/{id}"),
        None,
    )
    .await;
    assert_eq!(d["id"], id.as_str());
    for method in [Method::GET, Method::DELETE] {
        let (s, v) = call_as(
            &h,
            &h.api_key,
            method,
            &format!("/api/v2/websockets/{id}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
        assert_eq!(v["error"]["code"], 404);
    }
    let (s, _) = call_as(
        &h,
        &h.api_key,
        Method::PATCH,
        "/api/v2/websockets/nope",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Without a key: 401, as for webhooks.
    let (s, _) = call_as(&h, "wrong-key", Method::GET, "/api/v2/websockets", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn subscriptions_accept_a_websocket_endpoint() {
    let h = sim().await;
    let (ws_id, w) = create_websocket(&h, Some(SECRET)).await;
    let s = subscribe(&h, "call", &ws_id, json!({ "call_states": ["hangup"] })).await;
    let sub_id = s["id"].as_str().unwrap().to_owned();
    assert!(s.get("webhook").is_none(), "{s}");
    assert_eq!(s["websocket"]["id"], ws_id.as_str());
    assert_eq!(s["websocket"]["signature"], w["signature"]);
    // The embedded URL opens this subscription only.
    let url = s["websocket"]["websocket_url"].as_str().unwrap();
    assert_eq!(
        url_claims(url).1["sub"],
        format!("endpoint:{ws_id}:{sub_id}")
    );

    // The legacy `webhook_id` names a websocket too.
    let legacy = ok(
        &h,
        Method::POST,
        "/api/v2/subscriptions/contact",
        Some(json!({ "webhook_id": ws_id, "contact_type": "shared" })),
    )
    .await;
    assert_eq!(legacy["websocket"]["id"], ws_id.as_str());

    // Repoint to a webhook and back.
    let hook = ok(
        &h,
        Method::POST,
        "/api/v2/webhooks",
        Some(json!({ "hook_url": "https://hooks.example.com/x" })),
    )
    .await;
    let path = format!("/api/v2/subscriptions/call/{sub_id}");
    let u = ok(
        &h,
        Method::PATCH,
        &path,
        Some(json!({ "endpoint_id": hook["id"] })),
    )
    .await;
    assert_eq!(u["webhook"], hook);
    assert!(u.get("websocket").is_none(), "{u}");
    let u = ok(
        &h,
        Method::PATCH,
        &path,
        Some(json!({ "endpoint_id": ws_id })),
    )
    .await;
    assert_eq!(u["websocket"]["id"], ws_id.as_str());
    let listed = ok(&h, Method::GET, "/api/v2/subscriptions/call", None).await;
    assert_eq!(listed["items"][0]["websocket"]["id"], ws_id.as_str());

    // A channel subscription keeps both required messages: the unused one as `{}`.
    let channel = *h.sim.db().read().channels.keys().next().unwrap();
    let c = subscribe(
        &h,
        "channel",
        &ws_id,
        json!({ "direction": "all", "target_id": channel }),
    )
    .await;
    assert_eq!(c["webhook"], json!({}));
    assert_eq!(c["websocket"]["id"], ws_id.as_str());

    // Deleting the websocket leaves the subscription without an endpoint.
    ok(
        &h,
        Method::DELETE,
        &format!("/api/v2/websockets/{ws_id}"),
        None,
    )
    .await;
    let g = ok(&h, Method::GET, &path, None).await;
    assert!(
        g.get("websocket").is_none() && g.get("webhook").is_none(),
        "{g}"
    );
    let (st, v) = call_as(
        &h,
        &h.api_key,
        Method::POST,
        "/api/v2/subscriptions/call",
        Some(json!({ "endpoint_id": ws_id })),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
}

// ---------------------------------------------------------------------------------------------
// Delivery

#[tokio::test]
async fn a_played_calls_events_arrive_as_signed_frames_in_order() {
    let h = sim().await;
    let (ws_id, _) = create_websocket(&h, Some(SECRET)).await;
    let sub = subscribe(&h, "call", &ws_id, json!({})).await;
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    let mut client = connect(&fresh_url(&h, &ws_id).await).await;

    let started = ok(
        &h,
        Method::POST,
        "/_sim/calls",
        Some(json!({ "direction": "inbound", "outcome": "answered", "speed": 1000 })),
    )
    .await;
    let call_id: i64 = started["call_id"].as_str().unwrap().parse().unwrap();
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
    assert_eq!(started["states"], json!(expected));
    let frames = texts(&mut client, expected.len()).await;
    let events: Vec<Value> = frames.iter().map(|f| claims(f)).collect();
    assert_eq!(states(&events), expected);
    for e in &events {
        assert_eq!(e["call_id"], json!(call_id), "ids are JSON numbers");
        assert!(e["event_timestamp"].is_i64());
        assert!(e.get("master_call_id").is_some_and(Value::is_null));
    }
    let stamps: Vec<i64> = events
        .iter()
        .map(|e| e["event_timestamp"].as_i64().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
    assert!(matches!(
        next(&mut client, Duration::from_millis(300)).await,
        Seen::Nothing
    ));

    // The same frames are in the delivery log, as websocket deliveries.
    let log = ok(&h, Method::GET, "/_sim/deliveries", None).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), expected.len(), "{log:?}");
    for (d, state) in log.iter().zip(expected) {
        assert_eq!(d["endpoint"], "websocket");
        assert_eq!(d["websocket_id"], json!(ws_id.parse::<i64>().unwrap()));
        assert!(d["webhook_id"].is_null());
        assert_eq!(d["subscription_id"], json!(sub_id.parse::<i64>().unwrap()));
        assert_eq!(d["event_type"], "call");
        assert_eq!(d["detail"], state);
        assert_eq!(
            (d["ok"].as_bool(), d["last"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(
            d["url"],
            format!("ws://{}/events", h.addr),
            "no token in the log"
        );
    }
    assert_eq!(h.stats().events_delivered, expected.len() as u64);

    // A websocket without a secret gets plain JSON, as a webhook would.
    let (plain_id, _) = create_websocket(&h, None).await;
    subscribe(
        &h,
        "contact",
        &plain_id,
        json!({ "contact_type": "shared" }),
    )
    .await;
    let mut plain = connect(&fresh_url(&h, &plain_id).await).await;
    app_contact(&h, "Plain").await;
    let got = texts(&mut plain, 1).await;
    assert_eq!(first_names(&got), ["Plain"]);
    let v: Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(v["event"], "Created");
    // ...and the signed websocket, not subscribed to contacts, got nothing more.
    assert!(matches!(
        next(&mut client, Duration::from_millis(200)).await,
        Seen::Nothing
    ));
    client.close(None).await.ok();
}

#[tokio::test]
async fn every_open_connection_gets_the_events_and_a_scoped_url_only_its_subscriptions() {
    let h = sim().await;
    let (ws_id, _) = create_websocket(&h, None).await;
    let contacts = subscribe(&h, "contact", &ws_id, json!({ "contact_type": "shared" })).await;
    subscribe(
        &h,
        "agent_status",
        &ws_id,
        json!({ "agent_type": "callcenter" }),
    )
    .await;
    let mut all_a = connect(&fresh_url(&h, &ws_id).await).await;
    let mut all_b = connect(&fresh_url(&h, &ws_id).await).await;
    let scoped_url = contacts["websocket"]["websocket_url"].as_str().unwrap();
    let mut scoped = connect(scoped_url).await;
    wait_open(&h, &ws_id, 3).await;

    let user = *h.sim.db().read().users.keys().next().unwrap();
    app_contact(&h, "Ada").await;
    ok(
        &h,
        Method::POST,
        "/_sim/agent_status",
        Some(json!({ "user_id": user, "on_duty": true })),
    )
    .await;
    for c in [&mut all_a, &mut all_b] {
        let got = texts(c, 2).await;
        let first: Value = serde_json::from_str(&got[0]).unwrap();
        let second: Value = serde_json::from_str(&got[1]).unwrap();
        assert_eq!(first["contact"]["first_name"], "Ada");
        assert_eq!(second["on_duty_status"], "available");
    }
    assert_eq!(first_names(&texts(&mut scoped, 1).await), ["Ada"]);
    assert!(matches!(
        next(&mut scoped, Duration::from_millis(300)).await,
        Seen::Nothing
    ));
}

// ---------------------------------------------------------------------------------------------
// Expiry, refusal, drops and the buffer

#[tokio::test]
async fn an_expiring_url_closes_the_socket_and_a_fresh_url_reconnects() {
    let h = sim_with_ttl(Duration::from_secs(2)).await;
    let (ws_id, _) = create_websocket(&h, None).await;
    subscribe(&h, "contact", &ws_id, json!({ "contact_type": "shared" })).await;
    let url = fresh_url(&h, &ws_id).await;
    let (_, c) = url_claims(&url);
    let lifetime = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
    assert!((2..=3).contains(&lifetime), "{c}");

    let t = std::time::Instant::now();
    let mut client = connect(&url).await;
    app_contact(&h, "Before").await;
    assert_eq!(first_names(&texts(&mut client, 1).await), ["Before"]);
    match next(&mut client, Duration::from_secs(5)).await {
        Seen::Close(Some((code, reason))) => {
            assert_eq!(code, 1008);
            assert_eq!(reason, "websocket_url expired");
        }
        other => panic!("expected a close frame at expiry, got {other:?}"),
    }
    let open_for = t.elapsed();
    assert!(
        open_for >= Duration::from_millis(900) && open_for <= Duration::from_secs(4),
        "closed after {open_for:?}"
    );
    // The expired URL no longer opens; a fresh one does, and events flow again.
    assert_eq!(refused(&url).await, 401);
    let mut again = connect(&fresh_url(&h, &ws_id).await).await;
    app_contact(&h, "After").await;
    assert_eq!(first_names(&texts(&mut again, 1).await), ["After"]);
}

#[tokio::test]
async fn forged_stale_and_orphaned_urls_are_refused_before_the_upgrade() {
    let h = sim().await;
    let (ws_id, _) = create_websocket(&h, None).await;
    let url = fresh_url(&h, &ws_id).await;
    let (base, token) = url.rsplit_once('/').unwrap();

    // A token signed with another key, with the same claims.
    let (header, claims) = url_claims(&url);
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"not the simulator's key"),
    )
    .unwrap();
    // The same token with its claims edited (another websocket), signature kept.
    let mut parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let other_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        json!({ "sub": "endpoint:1:*", "exp": 4_000_000_000_i64, "iss": "dialpad-sim" })
            .to_string(),
    );
    parts[1] = &other_claims;
    let tampered = parts.join(".");
    for bad in [forged.as_str(), tampered.as_str(), "garbage", "a.b.c"] {
        assert_eq!(refused(&format!("{base}/{bad}")).await, 401, "{bad}");
    }
    // Not a websocket request: refused, not upgraded.
    let http_url = url.replacen("ws://", "http://", 1);
    let resp = reqwest::get(&http_url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // A URL minted by a subscription stops opening once the subscription moves elsewhere.
    let sub = subscribe(&h, "contact", &ws_id, json!({ "contact_type": "shared" })).await;
    let scoped = sub["websocket"]["websocket_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (other_ws, _) = create_websocket(&h, None).await;
    ok(
        &h,
        Method::PATCH,
        &format!(
            "/api/v2/subscriptions/contact/{}",
            sub["id"].as_str().unwrap()
        ),
        Some(json!({ "endpoint_id": other_ws, "contact_type": "shared" })),
    )
    .await;
    assert_eq!(refused(&scoped).await, 403);

    // A deleted websocket's URL: 403; and an open connection to it is closed.
    let mut open = connect(&url).await;
    wait_open(&h, &ws_id, 1).await;
    ok(
        &h,
        Method::DELETE,
        &format!("/api/v2/websockets/{ws_id}"),
        None,
    )
    .await;
    assert!(matches!(
        next(&mut open, Duration::from_secs(5)).await,
        Seen::Close(Some((1008, _)))
    ));
    assert_eq!(refused(&url).await, 403);

    // A reset invalidates every URL minted before it.
    let before = fresh_url(&h, &other_ws).await;
    ok(&h, Method::POST, "/_sim/reset", None).await;
    assert_eq!(refused(&before).await, 401);
}

#[tokio::test]
async fn events_raised_while_disconnected_arrive_on_the_next_connection() {
    let h = sim().await;
    let (ws_id, _) = create_websocket(&h, None).await;
    subscribe(&h, "contact", &ws_id, json!({ "contact_type": "shared" })).await;

    // Before any connection: kept.
    app_contact(&h, "Early").await;
    assert_eq!(census(&h).await["buffered"][&ws_id], 1);
    let mut client = connect(&fresh_url(&h, &ws_id).await).await;
    assert_eq!(first_names(&texts(&mut client, 1).await), ["Early"]);
    app_contact(&h, "Live").await;
    assert_eq!(first_names(&texts(&mut client, 1).await), ["Live"]);

    // A forced drop cuts the connection without a close frame.
    wait_open(&h, &ws_id, 1).await;
    let d = ok(
        &h,
        Method::POST,
        "/_sim/websockets/drop",
        Some(json!({ "websocket_id": ws_id })),
    )
    .await;
    assert_eq!(d["dropped"], 1);
    assert!(matches!(
        next(&mut client, Duration::from_secs(5)).await,
        Seen::Cut
    ));
    wait_open(&h, &ws_id, 0).await;
    for name in ["One", "Two", "Three"] {
        app_contact(&h, name).await;
    }
    assert_eq!(census(&h).await["buffered"][&ws_id], 3);
    let mut client = connect(&fresh_url(&h, &ws_id).await).await;
    assert_eq!(
        first_names(&texts(&mut client, 3).await),
        ["One", "Two", "Three"]
    );
    app_contact(&h, "Four").await;
    assert_eq!(first_names(&texts(&mut client, 1).await), ["Four"]);
    drop(client);
    wait_open(&h, &ws_id, 0).await;

    // The buffer keeps the last 1000; older ones are dropped, counted and logged.
    ok(&h, Method::DELETE, "/_sim/deliveries", None).await;
    for i in 0..1003 {
        app_contact(&h, &format!("N{i}")).await;
    }
    assert_eq!(census(&h).await["buffered"][&ws_id], 1000);
    assert_eq!(h.stats().websocket_events_dropped, 3);
    let log = ok(&h, Method::GET, "/_sim/deliveries", None).await;
    let dropped: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["ok"] == false)
        .collect();
    assert_eq!(dropped.len(), 3, "{log}");
    assert!(dropped.iter().all(|d| d["endpoint"] == "websocket"
        && d["error"].as_str().unwrap_or("").starts_with("dropped")));
    let mut client = connect(&fresh_url(&h, &ws_id).await).await;
    let got = first_names(&texts(&mut client, 1000).await);
    assert_eq!(got.first().map(String::as_str), Some("N3"));
    assert_eq!(got.last().map(String::as_str), Some("N1002"));
}
