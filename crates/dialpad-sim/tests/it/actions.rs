//! The endpoints behind the connector's actions: starting a call from a user's app
//! (`users.initiate_call`), toggling recording (`users.update_active_call`), screen pops,
//! recording share links, and the observable state of SMS sends (`/_sim/sms`), through HTTP,
//! with their errors and Dialpad's limits.

use crate::common::{call, call_as};

use std::collections::BTreeSet;
use std::time::Duration;

use dialpad_sim::{AccessToken, SimConfig, SimHandle};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn sim(rate_limit: bool) -> SimHandle {
    dialpad_sim::spawn(SimConfig {
        rate_limit,
        ..Default::default()
    })
    .await
    .expect("simulator starts")
}

async fn ok(h: &SimHandle, method: Method, path: &str, body: Option<Value>) -> Value {
    let (s, v) = call(h, method.clone(), path, body).await;
    assert_eq!(s, StatusCode::OK, "{method} {path}: {v}");
    v
}

/// Asserts Dialpad's error envelope with `status`; returns its message.
fn error(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], expected.as_u16(), "{body}");
    body["error"]["message"].as_str().unwrap_or("").to_owned()
}

fn users(h: &SimHandle) -> Vec<i64> {
    h.sim.db().read().users.keys().copied().collect()
}

fn token(h: &SimHandle, user: i64, scopes: &[&str]) -> String {
    let token = format!("actions-test-{user}-{}", scopes.join("-"));
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

/// A new user, signed in on no device.
async fn user_without_devices(h: &SimHandle) -> String {
    let office = h.sim.db().read().offices.keys().next().copied().unwrap();
    let u = ok(
        h,
        Method::POST,
        "/api/v2/users",
        Some(json!({"email": "no.devices@example.com", "office_id": office})),
    )
    .await;
    u["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn initiate_call_rings_the_users_app_and_creates_a_live_call() {
    let h = sim(false).await;
    let user = users(&h)[0];
    let before: BTreeSet<i64> = h.sim.db().read().calls.keys().copied().collect();
    let v = ok(
        &h,
        Method::POST,
        &format!("/api/v2/users/{user}/initiate_call"),
        Some(json!({"phone_number": "+14155550111", "custom_data": "ticket-7"})),
    )
    .await;
    let device = &v["device"];
    assert_eq!(device["user_id"], user.to_string());
    assert!(
        ["native", "web"].contains(&device["type"].as_str().unwrap()),
        "{v}"
    );
    // The device is one of the user's, as /userdevices lists it.
    let listed = ok(
        &h,
        Method::GET,
        &format!("/api/v2/userdevices/{}", device["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(&listed, device);

    let new: Vec<i64> = h
        .sim
        .db()
        .read()
        .calls
        .keys()
        .filter(|id| !before.contains(id))
        .copied()
        .collect();
    assert_eq!(new.len(), 1, "one call created");
    let c = ok(&h, Method::GET, &format!("/api/v2/call/{}", new[0]), None).await;
    assert_eq!(c["state"], "calling");
    assert_eq!(c["direction"], "outbound");
    assert_eq!(c["external_number"], "+14155550111");
    assert_eq!(c["custom_data"], "ticket-7");
    assert_eq!(c["target"]["id"], user.to_string());
    // Live: an action can end it, and then the history lists it.
    ok(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{}/actions/hangup", new[0]),
        None,
    )
    .await;
    let history = ok(
        &h,
        Method::GET,
        &format!("/api/v2/call?target_id={user}&target_type=user&limit=100"),
        None,
    )
    .await;
    assert_eq!(history["items"][0]["call_id"], new[0].to_string());
}

#[tokio::test]
async fn initiate_call_errors() {
    let h = sim(false).await;
    let user = users(&h)[0];
    let path = format!("/api/v2/users/{user}/initiate_call");
    let (s, v) = call(&h, Method::POST, &path, Some(json!({}))).await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("phone_number"));
    let (s, v) = call(
        &h,
        Method::POST,
        &path,
        Some(json!({"phone_number": "4155550111"})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("phone_number"));
    let (s, v) = call(
        &h,
        Method::POST,
        &path,
        Some(json!({"phone_number": "+14155550111", "group_type": "office"})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("group_id"));
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/users/123/initiate_call",
        Some(json!({"phone_number": "+14155550111"})),
    )
    .await;
    error(s, &v, StatusCode::NOT_FOUND);
    // `me` needs a user behind the credential.
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/users/me/initiate_call",
        Some(json!({"phone_number": "+14155550111"})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("me"));
    let t = token(&h, user, &[]);
    let (s, v) = call_as(
        &h,
        &t,
        Method::POST,
        "/api/v2/users/me/initiate_call",
        Some(json!({"phone_number": "+14155550111"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A user signed in on no app cannot be driven.
    let lonely = user_without_devices(&h).await;
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/users/{lonely}/initiate_call"),
        Some(json!({"phone_number": "+14155550111"})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("device"));
}

#[tokio::test]
async fn initiate_call_is_limited_to_five_a_minute_per_user() {
    let h = sim(true).await;
    let (a, b) = (users(&h)[0], users(&h)[1]);
    let body = json!({"phone_number": "+14155550111"});
    for i in 0..5 {
        let (s, v) = call(
            &h,
            Method::POST,
            &format!("/api/v2/users/{a}/initiate_call"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "call {i}: {v}");
    }
    let resp = crate::common::client()
        .post(format!("{}/api/v2/users/{a}/initiate_call", h.base_url))
        .bearer_auth(&h.api_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry), "{retry}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["errors"][0]["reason"], "rateLimitExceeded");
    // Another user's app has its own allowance.
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/users/{b}/initiate_call"),
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn screen_pops_need_their_scope_are_logged_and_limited() {
    let h = sim(false).await;
    let user = users(&h)[0];
    let path = format!("/api/v2/users/{user}/screenpop");
    let uri = "https://crm.example.com/contacts/42";

    let without = token(&h, user, &["calls:list"]);
    let (s, v) = call_as(
        &h,
        &without,
        Method::POST,
        &path,
        Some(json!({"screen_pop_uri": uri})),
    )
    .await;
    assert!(error(s, &v, StatusCode::FORBIDDEN).contains("screen_pop"));
    let with = token(&h, user, &["screen_pop"]);
    let v = {
        let (s, v) = call_as(
            &h,
            &with,
            Method::POST,
            &path,
            Some(json!({"screen_pop_uri": uri})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    };
    assert_eq!(v["device"]["user_id"], user.to_string());
    let log = ok(&h, Method::GET, "/_sim/screenpops", None).await;
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["screen_pop_uri"], uri);
    assert_eq!(log[0]["user_id"], user.to_string());
    assert_eq!(log[0]["device_id"], v["device"]["id"]);

    for (body, field) in [
        (json!({}), "screen_pop_uri"),
        (json!({"screen_pop_uri": "not a url"}), "screen_pop_uri"),
        (
            json!({"screen_pop_uri": "https://user:pw@crm.example.com/x"}),
            "screen_pop_uri",
        ),
    ] {
        let (s, v) = call(&h, Method::POST, &path, Some(body)).await;
        assert!(error(s, &v, StatusCode::BAD_REQUEST).contains(field), "{v}");
    }
    // A native app's own scheme is fine.
    ok(
        &h,
        Method::POST,
        &path,
        Some(json!({"screen_pop_uri": "customcrm://contact/42"})),
    )
    .await;
    let lonely = user_without_devices(&h).await;
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/users/{lonely}/screenpop"),
        Some(json!({"screen_pop_uri": uri})),
    )
    .await;
    error(s, &v, StatusCode::BAD_REQUEST);

    assert_eq!(
        ok(&h, Method::GET, "/_sim/screenpops", None)
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn screen_pops_are_limited_to_five_a_minute_per_user() {
    let h = sim(true).await;
    let (a, b) = (users(&h)[0], users(&h)[1]);
    let body = json!({"screen_pop_uri": "https://crm.example.com/contacts/42"});
    for i in 0..5 {
        let (s, v) = call(
            &h,
            Method::POST,
            &format!("/api/v2/users/{a}/screenpop"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "pop {i}: {v}");
    }
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/users/{a}/screenpop"),
        Some(body.clone()),
    )
    .await;
    error(s, &v, StatusCode::TOO_MANY_REQUESTS);
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/users/{b}/screenpop"),
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        h.sim.db().read().screen_pops.len(),
        6,
        "the refused one is not logged"
    );
}

/// A seeded call with a recording: (call id, recording id, recording type).
fn recorded_call(h: &SimHandle) -> (i64, String, String) {
    let db = h.sim.db().read();
    db.calls
        .values()
        .find_map(|c| {
            c.recording_details
                .first()
                .map(|r| (c.call_id, r.id.clone(), r.recording_type.clone()))
        })
        .expect("the seed has recorded calls")
}

#[tokio::test]
async fn recording_share_links_are_made_read_changed_and_deleted() {
    let h = sim(false).await;
    let (call_id, rid, kind) = recorded_call(&h);
    let link = ok(
        &h,
        Method::POST,
        "/api/v2/recordingsharelink",
        Some(json!({"recording_id": rid, "recording_type": kind})),
    )
    .await;
    let id = link["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 44);
    assert_eq!(link["call_id"], call_id.to_string());
    assert_eq!(link["item_id"], rid.as_str());
    assert_eq!(link["type"], kind.as_str());
    assert_eq!(link["privacy"], "owner", "the spec's default");
    assert!(link["access_link"].as_str().unwrap().ends_with(&id));
    let path = format!("/api/v2/recordingsharelink/{id}");
    assert_eq!(ok(&h, Method::GET, &path, None).await, link);
    let changed = ok(&h, Method::PUT, &path, Some(json!({"privacy": "admin"}))).await;
    assert_eq!(changed["privacy"], "admin");
    assert_eq!(ok(&h, Method::GET, &path, None).await["privacy"], "admin");
    let (s, v) = call(&h, Method::PUT, &path, Some(json!({"privacy": "everyone"}))).await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("privacy"));
    let deleted = ok(&h, Method::DELETE, &path, None).await;
    assert_eq!(deleted["id"], id.as_str());
    let (s, v) = call(&h, Method::GET, &path, None).await;
    error(s, &v, StatusCode::NOT_FOUND);
    let (s, v) = call(&h, Method::DELETE, &path, None).await;
    error(s, &v, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn recording_share_link_errors() {
    let h = sim(false).await;
    let (_, rid, kind) = recorded_call(&h);
    // A call that was never recorded has no recording to share: its id names none.
    let unrecorded = {
        let db = h.sim.db().read();
        db.calls
            .values()
            .find(|c| c.recording_details.is_empty())
            .map(|c| c.call_id)
            .unwrap()
    };
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/recordingsharelink",
        Some(json!({"recording_id": unrecorded.to_string(), "recording_type": "callrecording"})),
    )
    .await;
    assert!(error(s, &v, StatusCode::NOT_FOUND).contains("Recording"));
    let other = if kind == "voicemail" {
        "callrecording"
    } else {
        "voicemail"
    };
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/recordingsharelink",
        Some(json!({"recording_id": rid, "recording_type": other})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("recording_type"));
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/recordingsharelink",
        Some(json!({"recording_id": rid, "recording_type": kind, "privacy": "friends"})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("privacy"));
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/recordingsharelink",
        Some(json!({"recording_type": kind})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("recording_id"));
}

#[tokio::test]
async fn sent_sms_appear_in_the_log_newest_last_and_long_texts_are_refused() {
    let h = sim(false).await;
    let user = users(&h)[0];
    let before = ok(&h, Method::GET, "/_sim/sms", None)
        .await
        .as_array()
        .unwrap()
        .len();
    let sent = ok(
        &h,
        Method::POST,
        "/api/v2/sms",
        Some(json!({"user_id": user, "to_numbers": ["+14155550122"], "text": "first"})),
    )
    .await;
    ok(
        &h,
        Method::POST,
        "/_sim/sms/inbound",
        Some(json!({"from_number": "+14155550122", "user_id": user, "text": "reply"})),
    )
    .await;
    let log = ok(&h, Method::GET, "/_sim/sms", None).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), before + 2);
    assert_eq!(log[before]["id"], sent["id"]);
    assert_eq!(log[before]["direction"], "outbound");
    assert_eq!(log[before]["text"], "first");
    assert_eq!(log[before + 1]["direction"], "inbound");
    assert_eq!(log[before + 1]["text"], "reply");

    // Dialpad: 1500 characters to numbers outside Dialpad.
    let at_limit = "é".repeat(1500);
    ok(
        &h,
        Method::POST,
        "/api/v2/sms",
        Some(json!({"user_id": user, "to_numbers": ["+14155550122"], "text": at_limit})),
    )
    .await;
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/sms",
        Some(json!({"user_id": user, "to_numbers": ["+14155550122"], "text": "x".repeat(1501)})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("text"));
    // To a colleague's Dialpad number: no limit.
    let colleague = h
        .sim
        .db()
        .read()
        .user_card(users(&h)[1])
        .and_then(|c| c.phone)
        .unwrap();
    ok(
        &h,
        Method::POST,
        "/api/v2/sms",
        Some(json!({"user_id": user, "to_numbers": [colleague], "text": "x".repeat(3000)})),
    )
    .await;
}

#[tokio::test]
async fn sms_sends_are_limited_to_a_hundred_a_minute() {
    let h = sim(true).await;
    let user = users(&h)[0];
    let body = json!({"user_id": user, "to_numbers": ["+14155550122"], "text": "hi"});
    // Paced under the company-wide 20/s, so only the SMS limit can refuse. 100 go through at
    // once; after that the allowance refills one message every 0.6 s.
    let started = std::time::Instant::now();
    let mut sent = 0;
    loop {
        let (s, v) = call(&h, Method::POST, "/api/v2/sms", Some(body.clone())).await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(
                v["error"]["errors"][0]["reason"], "rateLimitExceeded",
                "{v}"
            );
            break;
        }
        assert_eq!(s, StatusCode::OK, "sms {sent}: {v}");
        sent += 1;
        assert!(sent <= 200, "never refused");
        tokio::time::sleep(Duration::from_millis(55)).await;
    }
    let refills = (started.elapsed().as_secs_f64() / 0.6).ceil() as usize;
    assert!(
        (100..=100 + refills).contains(&sent),
        "{sent} sent before the first 429 ({refills} refills)"
    );
}

#[tokio::test]
async fn live_calls_park_only_once_and_unpark_checks_its_user() {
    let h = sim(false).await;
    let user = users(&h)[0];
    let rung = ok(
        &h,
        Method::POST,
        "/api/v2/call",
        Some(json!({"phone_number": "+14155550123", "user_id": user})),
    )
    .await;
    let id = rung["call_id"].as_str().unwrap().to_owned();
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/unpark"),
        Some(json!({"user_id": user})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("not parked"));
    let parked = ok(&h, Method::POST, &format!("/_sim/calls/{id}/park"), None).await;
    assert_eq!(parked["state"], "parked");
    let (s, v) = call(&h, Method::POST, &format!("/_sim/calls/{id}/park"), None).await;
    error(s, &v, StatusCode::BAD_REQUEST);
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/unpark"),
        Some(json!({"user_id": 42})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("user_id"));
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/unpark"),
        Some(json!({})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("user_id"));
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/call/1/unpark",
        Some(json!({"user_id": user})),
    )
    .await;
    error(s, &v, StatusCode::NOT_FOUND);
    // An ended call cannot be unparked.
    ok(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/actions/hangup"),
        None,
    )
    .await;
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/unpark"),
        Some(json!({"user_id": user})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("not active"));
    // Transfer into the parked state works as well.
    let rung = ok(
        &h,
        Method::POST,
        "/api/v2/call",
        Some(json!({"phone_number": "+14155550123", "user_id": user})),
    )
    .await;
    let id = rung["call_id"].as_str().unwrap().to_owned();
    ok(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/transfer"),
        Some(json!({"to": {"number": "+14155550124"}, "transfer_state": "parked"})),
    )
    .await;
    let v = ok(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/unpark"),
        Some(json!({"user_id": user})),
    )
    .await;
    assert_eq!(v["call_id"], id.as_str());
}

#[tokio::test]
async fn a_call_transferred_to_a_user_is_that_users_active_call() {
    let h = sim(false).await;
    let (a, b) = (users(&h)[0], users(&h)[1]);
    let rung = ok(
        &h,
        Method::POST,
        "/api/v2/call",
        Some(json!({"phone_number": "+14155550123", "user_id": a})),
    )
    .await;
    let id = rung["call_id"].as_str().unwrap().to_owned();
    let on = ok(
        &h,
        Method::PATCH,
        &format!("/api/v2/users/{a}/activecall"),
        Some(json!({"is_recording": true})),
    )
    .await;
    assert_eq!(on["id"], id.as_str());
    assert_eq!(on["call_state"], "calling");
    ok(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/transfer"),
        Some(json!({"to": {"target_id": b, "target_type": "user"}})),
    )
    .await;
    let (s, v) = call(
        &h,
        Method::PATCH,
        &format!("/api/v2/users/{a}/activecall"),
        Some(json!({})),
    )
    .await;
    error(s, &v, StatusCode::NOT_FOUND);
    let off = ok(
        &h,
        Method::PATCH,
        &format!("/api/v2/users/{b}/activecall"),
        Some(json!({"is_recording": false})),
    )
    .await;
    assert_eq!(off["id"], id.as_str());
    assert_eq!(off["is_recording"], false);
    let (s, v) = call(
        &h,
        Method::PATCH,
        &format!("/api/v2/users/{b}/activecall"),
        Some(json!({"recording_type": "everyone"})),
    )
    .await;
    assert!(error(s, &v, StatusCode::BAD_REQUEST).contains("recording_type"));
}
