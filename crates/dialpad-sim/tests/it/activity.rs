//! Calls, call labels, transcripts, AI recaps, SMS and channels, through HTTP.

use crate::common::{call, call_as};

use std::collections::{BTreeSet, HashSet};

use dialpad_sim::{spawn, SimConfig, SimHandle};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn sim() -> SimHandle {
    spawn(SimConfig::default()).await.expect("simulator starts")
}

async fn get(h: &SimHandle, path: &str) -> Value {
    let (s, v) = call(h, Method::GET, path, None).await;
    assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
    v
}

/// Follows cursors to the end, checking page sizes.
async fn all_pages(h: &SimHandle, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let page = get(h, &url).await;
        let batch = page["items"].as_array().cloned().unwrap_or_default();
        assert!(batch.len() <= 100);
        items.extend(batch);
        match page.get("cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    items
}

fn ms(v: &Value) -> i64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("int64 string expected, got {v}"))
}

fn first_user(h: &SimHandle) -> i64 {
    let db = h.sim.db().read();
    *db.users.keys().next().expect("seeded users")
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], expected.as_u16(), "{body}");
    assert!(body["error"]["errors"][0]["reason"].is_string(), "{body}");
}

#[tokio::test]
async fn call_history_pages_to_the_end_newest_first() {
    let h = sim().await;
    let calls = all_pages(&h, "/api/v2/call?limit=100").await;
    assert!(calls.len() >= 300, "seeded history: {}", calls.len());
    let ids: HashSet<&str> = calls
        .iter()
        .map(|c| c["call_id"].as_str().expect("id string"))
        .collect();
    assert_eq!(ids.len(), calls.len(), "no duplicates across pages");
    let starts: Vec<i64> = calls.iter().map(|c| ms(&c["date_started"])).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let span = starts.first().unwrap() - starts.last().unwrap();
    assert!(
        span > 20 * 86_400_000 && span <= 31 * 86_400_000,
        "about 30 days: {span}"
    );
    for c in &calls {
        assert_eq!(c["state"], "hangup");
        assert!(c["direction"] == "inbound" || c["direction"] == "outbound");
        assert!(c["duration"].is_number() && c["total_duration"].is_number());
        assert!(c["external_number"].as_str().unwrap().starts_with('+'));
        assert!(
            c.get("transcription_text").is_none_or(|t| t.is_string()),
            "no nulls: {c}"
        );
        assert!(
            c.as_object().unwrap().values().all(|v| !v.is_null()),
            "nulls are omitted: {c}"
        );
    }
    // Answered, missed and voicemail calls all appear.
    assert!(calls.iter().any(|c| c.get("date_connected").is_some()));
    assert!(calls
        .iter()
        .any(|c| c.get("date_connected").is_none() && c.get("voicemail_share_link").is_none()));
    assert!(calls
        .iter()
        .any(|c| c.get("voicemail_share_link").is_some()));
    // Some callers are seeded contacts.
    assert!(calls
        .iter()
        .any(|c| c["contact"]["type"] == "shared" || c["contact"]["type"] == "local"));

    // Default page size and the seed's determinism.
    let page = get(&h, "/api/v2/call?limit=7").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 7);
    assert!(page["cursor"].is_string());
    let again = sim().await;
    let page2 = get(&again, "/api/v2/call?limit=7").await;
    assert_eq!(page["items"], page2["items"], "same seed, same history");
}

#[tokio::test]
async fn call_history_filters_by_time_and_target() {
    let h = sim().await;
    let calls = all_pages(&h, "/api/v2/call").await;
    let starts: Vec<i64> = calls.iter().map(|c| ms(&c["date_started"])).collect();
    let (newest, oldest) = (starts[0], *starts.last().unwrap());
    let mid = oldest + (newest - oldest) / 2;
    let recent = all_pages(&h, &format!("/api/v2/call?started_after={mid}&limit=50")).await;
    let older = all_pages(&h, &format!("/api/v2/call?started_before={mid}&limit=50")).await;
    assert!(!recent.is_empty() && !older.is_empty());
    assert!(recent.iter().all(|c| ms(&c["date_started"]) > mid));
    assert!(older.iter().all(|c| ms(&c["date_started"]) < mid));
    let exact = starts.iter().filter(|&&s| s == mid).count();
    assert_eq!(recent.len() + older.len() + exact, calls.len());

    let window = all_pages(
        &h,
        &format!("/api/v2/call?started_after={mid}&started_before={newest}"),
    )
    .await;
    assert!(window
        .iter()
        .all(|c| (mid + 1..newest).contains(&ms(&c["date_started"]))));

    // Target: the user with the most calls.
    let user = calls
        .iter()
        .filter(|c| c["target"]["type"] == "user")
        .map(|c| c["target"]["id"].as_str().unwrap().to_owned())
        .next()
        .expect("a user-targeted call");
    let theirs = all_pages(
        &h,
        &format!("/api/v2/call?target_type=user&target_id={user}&limit=5"),
    )
    .await;
    let expected = calls
        .iter()
        .filter(|c| c["target"]["type"] == "user" && c["target"]["id"] == user.as_str())
        .count();
    assert_eq!(theirs.len(), expected);
    assert!(theirs.iter().all(|c| c["target"]["id"] == user.as_str()));

    // Bad filters answer 400 in the envelope.
    let (s, v) = call(&h, Method::GET, "/api/v2/call?target_id=1", None).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);
    let (s, v) = call(
        &h,
        Method::GET,
        "/api/v2/call?started_after=yesterday",
        None,
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);
    let (s, v) = call(
        &h,
        Method::GET,
        "/api/v2/call?target_type=planet&target_id=1",
        None,
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);
}

fn oauth_token(h: &SimHandle, scopes: &[&str]) -> String {
    let user_id = first_user(h);
    let token = format!("test-token-{}", scopes.join("-"));
    h.sim
        .db()
        .write()
        .oauth
        .access_tokens
        .insert(token.clone(), dialpad_sim_token(user_id, scopes));
    token
}

fn dialpad_sim_token(user_id: i64, scopes: &[&str]) -> dialpad_sim::AccessToken {
    dialpad_sim::AccessToken {
        client_id: "sim-client".to_owned(),
        user_id,
        scopes: scopes
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>(),
        expires_at_ms: chrono::Utc::now().timestamp_millis() + 3_600_000,
        refresh_token: None,
    }
}

#[tokio::test]
async fn call_list_needs_the_calls_list_scope() {
    let h = sim().await;
    let bare = oauth_token(&h, &[]);
    let (s, v) = call_as(&h, &bare, Method::GET, "/api/v2/call", None).await;
    assert_error(s, &v, StatusCode::FORBIDDEN);
    let scoped = oauth_token(&h, &["calls:list"]);
    let (s, _) = call_as(&h, &scoped, Method::GET, "/api/v2/call", None).await;
    assert_eq!(s, StatusCode::OK);
    // Other call routes need no scope.
    let id = h.sim.db().read().calls.keys().next().copied().unwrap();
    let (s, _) = call_as(&h, &bare, Method::GET, &format!("/api/v2/call/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    // AI recaps need `ai_recap`.
    let (s, v) = call_as(
        &h,
        &bare,
        Method::GET,
        &format!("/api/v2/call/{id}/ai_recap"),
        None,
    )
    .await;
    assert_error(s, &v, StatusCode::FORBIDDEN);
    // No credentials at all.
    let resp = reqwest::get(format!("{}/api/v2/call", h.base_url))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn call_transcript_url_and_recap() {
    let h = sim().await;
    let (with, without) = {
        let db = h.sim.db().read();
        let with = *db.transcripts.keys().next().expect("seeded transcripts");
        let without = *db
            .calls
            .keys()
            .find(|id| !db.transcripts.contains_key(id))
            .unwrap();
        assert!(
            db.transcripts.len() > 100,
            "most answered calls are transcribed"
        );
        (with, without)
    };
    let c = get(&h, &format!("/api/v2/call/{with}")).await;
    assert_eq!(c["call_id"], with.to_string());
    assert!(c["target"]["name"].is_string());

    let t = get(&h, &format!("/api/v2/transcripts/{with}")).await;
    assert_eq!(t["call_id"], with.to_string());
    let lines = t["lines"].as_array().unwrap();
    assert!(lines.len() >= 6);
    assert!(lines
        .iter()
        .any(|l| l["type"] == "transcript" && l["user_id"].is_string()));
    assert!(lines
        .iter()
        .any(|l| l["type"] == "transcript" && l.get("user_id").is_none()));
    assert!(lines.iter().any(|l| l["type"] == "moment"));
    assert!(lines.iter().all(|l| l["name"].is_string()
        && l["time"]
            .as_str()
            .is_some_and(|t| t.contains('T') && !t.ends_with('Z'))));

    let u = get(&h, &format!("/api/v2/transcripts/{with}/url")).await;
    assert_eq!(u["call_id"], with.to_string());
    assert!(u["url"].as_str().unwrap().starts_with("https://"));

    let r = get(
        &h,
        &format!("/api/v2/call/{with}/ai_recap?summary_format=short"),
    )
    .await;
    assert_eq!(r["call_id"], with.to_string());
    assert!(r["summary"]["content"].is_string());
    assert_eq!(r["summary"]["format"], "short");
    assert!(r["date_created"].is_string());
    let (s, v) = call(
        &h,
        Method::GET,
        &format!("/api/v2/call/{with}/ai_recap?summary_format=haiku"),
        None,
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);

    for path in [
        format!("/api/v2/transcripts/{without}"),
        format!("/api/v2/transcripts/{without}/url"),
        format!("/api/v2/call/{without}/ai_recap"),
        "/api/v2/transcripts/1".to_owned(),
        "/api/v2/call/1".to_owned(),
        "/api/v2/call/not-a-number".to_owned(),
    ] {
        let (s, v) = call(&h, Method::GET, &path, None).await;
        assert_error(s, &v, StatusCode::NOT_FOUND);
    }
}

async fn ring(h: &SimHandle, user: i64) -> String {
    let (s, v) = call(
        h,
        Method::POST,
        "/api/v2/call",
        Some(json!({"phone_number": "+14155550999", "user_id": user.to_string()})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["call_id"]
        .as_str()
        .expect("call_id as a string")
        .to_owned()
}

#[tokio::test]
async fn ring_then_hang_up() {
    let h = sim().await;
    let user = first_user(&h);
    let before = all_pages(&h, "/api/v2/call").await.len();
    let id = ring(&h, user).await;
    let c = get(&h, &format!("/api/v2/call/{id}")).await;
    assert_eq!(c["state"], "calling");
    assert_eq!(c["direction"], "outbound");
    assert_eq!(c["external_number"], "+14155550999");
    assert_eq!(c["target"]["id"], user.to_string());
    assert!(c.get("date_ended").is_none());
    // Active calls are not in the history.
    assert_eq!(all_pages(&h, "/api/v2/call").await.len(), before);

    let (s, v) = call(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/actions/hangup"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({}));
    let c = get(&h, &format!("/api/v2/call/{id}")).await;
    assert_eq!(c["state"], "hangup");
    assert!(c["date_ended"].is_string());
    let history = all_pages(&h, "/api/v2/call").await;
    assert_eq!(history.len(), before + 1);
    assert_eq!(history[0]["call_id"], id.as_str(), "newest first");

    // Hanging up twice, or an unknown call.
    let (s, v) = call(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/actions/hangup"),
        None,
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);
    let (s, v) = call(&h, Method::PUT, "/api/v2/call/123/actions/hangup", None).await;
    assert_error(s, &v, StatusCode::NOT_FOUND);

    // Bad ring requests.
    for body in [
        json!({"user_id": user}),
        json!({"phone_number": "+14155550999"}),
        json!({"phone_number": "555-0999", "user_id": user}),
        json!({"phone_number": "+14155550999", "user_id": 42}),
        json!({"phone_number": "+14155550999", "user_id": user, "group_type": "planet", "group_id": 1}),
    ] {
        let (s, v) = call(&h, Method::POST, "/api/v2/call", Some(body.clone())).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn transfer_and_add_participant_on_an_active_call() {
    let h = sim().await;
    let user = first_user(&h);
    let other = *h.sim.db().read().users.keys().nth(1).unwrap();
    let id = ring(&h, user).await;

    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/participants/add"),
        Some(json!({"participant": {"number": "+12125550123"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let leg = v["call_id"].as_str().unwrap().to_owned();
    assert_ne!(leg, id);
    let l = get(&h, &format!("/api/v2/call/{leg}")).await;
    assert_eq!(l["master_call_id"], id.as_str());
    assert_eq!(l["external_number"], "+12125550123");

    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/participants/add"),
        Some(json!({"participant": {"target_id": other, "target_type": "user"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/participants/add"),
        Some(json!({})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);

    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/transfer"),
        Some(json!({"to": {"number": "+16175550100"}, "transfer_state": "hold"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"call_id": id, "transferred_to_number": "+16175550100", "transferred_to_state": "hold"})
    );
    let c = get(&h, &format!("/api/v2/call/{id}")).await;
    assert_eq!(c["is_transferred"], true);

    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/transfer"),
        Some(json!({"to": {"target_id": other.to_string(), "target_type": "user"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/transfer"),
        Some(json!({"to": {"number": "+16175550100"}, "transfer_state": "limbo"})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/transfer"),
        Some(json!({})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);

    // Finished calls cannot be transferred.
    let (s, _) = call(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/actions/hangup"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/call/{id}/transfer"),
        Some(json!({"to": {"number": "+16175550100"}})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/call/99/transfer",
        Some(json!({"to": {"number": "+16175550100"}})),
    )
    .await;
    assert_error(s, &v, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn call_labels() {
    let h = sim().await;
    let labels = get(&h, "/api/v2/calllabels").await;
    let all = labels["labels"].as_array().unwrap();
    assert!(all.len() >= 5);
    let two = get(&h, "/api/v2/calllabels?limit=2").await;
    assert_eq!(two["labels"].as_array().unwrap().len(), 2);

    let id = *h.sim.db().read().calls.keys().next().unwrap();
    let (s, v) = call(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/labels"),
        Some(json!({"labels": ["vip", "sales", "vip"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["call_id"], id.to_string());
    assert_eq!(v["labels"], json!(["vip", "sales"]));
    assert_eq!(
        get(&h, &format!("/api/v2/call/{id}")).await["labels"],
        json!(["vip", "sales"])
    );
    // An empty list clears them (and the field is omitted).
    let (s, v) = call(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/labels"),
        Some(json!({"labels": []})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.get("labels").is_none());
    let (s, v) = call(
        &h,
        Method::PUT,
        "/api/v2/call/5/labels",
        Some(json!({"labels": ["vip"]})),
    )
    .await;
    assert_error(s, &v, StatusCode::NOT_FOUND);
    let (s, v) = call(
        &h,
        Method::PUT,
        &format!("/api/v2/call/{id}/labels"),
        Some(json!({"labels": "vip"})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn send_sms() {
    let h = sim().await;
    let user = first_user(&h);
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/sms",
        Some(
            json!({"user_id": user, "to_numbers": ["+14155550142"], "text": "Hello from the sim"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["id"].is_string());
    assert_eq!(v["user_id"], user.to_string());
    assert_eq!(v["direction"], "outbound");
    assert_eq!(v["text"], "Hello from the sim");
    assert_eq!(v["to_numbers"], json!(["+14155550142"]));
    assert_eq!(v["message_status"], "pending");
    assert_eq!(v["target_type"], "user");
    assert!(v["created_date"].as_str().unwrap().contains('T'));
    let id: i64 = v["id"].as_str().unwrap().parse().unwrap();
    assert!(h.sim.db().read().sms.contains_key(&id));

    // An OAuth token's user is the sender when user_id is absent.
    let token = oauth_token(&h, &[]);
    let (s, v) = call_as(
        &h,
        &token,
        Method::POST,
        "/api/v2/sms",
        Some(json!({"to_numbers": ["+14155550142"], "text": "hi"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user_id"], user.to_string());

    for body in [
        json!({"to_numbers": ["+14155550142"], "text": "no sender"}),
        json!({"user_id": user, "text": "no recipient"}),
        json!({"user_id": user, "to_numbers": ["+14155550142"]}),
        json!({"user_id": user, "to_numbers": ["not a number"], "text": "x"}),
        json!({"user_id": user, "to_numbers": vec!["+14155550142"; 11], "text": "x"}),
        json!({"user_id": 7, "to_numbers": ["+14155550142"], "text": "x"}),
    ] {
        let (s, v) = call(&h, Method::POST, "/api/v2/sms", Some(body)).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn channels_and_members() {
    let h = sim().await;
    let seeded = all_pages(&h, "/api/v2/channels").await;
    assert!(seeded.len() >= 5);
    assert!(seeded
        .iter()
        .all(|c| c["id"].is_string() && c["name"].is_string()));

    let users: Vec<i64> = h.sim.db().read().users.keys().take(3).copied().collect();
    let (s, v) = call(&h, Method::POST, "/api/v2/channels", Some(json!({"name": "launch-room", "description": "Launch day", "privacy_type": "private", "user_id": users[0]}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "launch-room");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(get(&h, &format!("/api/v2/channels/{id}")).await, v);
    assert_eq!(
        all_pages(&h, "/api/v2/channels").await.len(),
        seeded.len() + 1
    );

    // Duplicate name, missing fields, bad privacy.
    let (s, v) = call(&h, Method::POST, "/api/v2/channels", Some(json!({"name": "Launch-Room", "description": "x", "privacy_type": "public", "user_id": users[0]}))).await;
    assert_error(s, &v, StatusCode::CONFLICT);
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/channels",
        Some(json!({"name": "x", "privacy_type": "public", "user_id": users[0]})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/channels",
        Some(
            json!({"name": "x", "description": "x", "privacy_type": "secret", "user_id": users[0]}),
        ),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);

    // Members: the owner, then two more.
    let members = all_pages(&h, &format!("/api/v2/channels/{id}/members")).await;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["id"], users[0].to_string());
    assert!(members[0]["name"].is_string());
    for u in &users[1..] {
        let (s, v) = call(
            &h,
            Method::POST,
            &format!("/api/v2/channels/{id}/members"),
            Some(json!({"user_id": u})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["id"], u.to_string());
    }
    assert_eq!(
        all_pages(&h, &format!("/api/v2/channels/{id}/members"))
            .await
            .len(),
        3
    );
    let (s, v) = call(
        &h,
        Method::DELETE,
        &format!("/api/v2/channels/{id}/members"),
        Some(json!({"user_id": users[1].to_string()})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({}));
    let left: Vec<Value> = all_pages(&h, &format!("/api/v2/channels/{id}/members")).await;
    assert_eq!(left.len(), 2);
    let gone = users[1].to_string();
    assert!(left.iter().all(|m| m["id"] != gone.as_str()));
    let (s, v) = call(
        &h,
        Method::DELETE,
        &format!("/api/v2/channels/{id}/members"),
        Some(json!({"user_id": users[1]})),
    )
    .await;
    assert_error(s, &v, StatusCode::NOT_FOUND);
    let (s, v) = call(
        &h,
        Method::POST,
        &format!("/api/v2/channels/{id}/members"),
        Some(json!({"user_id": 3})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);

    let (s, v) = call(&h, Method::DELETE, &format!("/api/v2/channels/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({}));
    let (s, v) = call(&h, Method::GET, &format!("/api/v2/channels/{id}"), None).await;
    assert_error(s, &v, StatusCode::NOT_FOUND);
    let (s, v) = call(
        &h,
        Method::GET,
        &format!("/api/v2/channels/{id}/members"),
        None,
    )
    .await;
    assert_error(s, &v, StatusCode::NOT_FOUND);
    let (s, v) = call(&h, Method::DELETE, &format!("/api/v2/channels/{id}"), None).await;
    assert_error(s, &v, StatusCode::NOT_FOUND);
}
