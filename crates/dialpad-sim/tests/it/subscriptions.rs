//! Webhooks and event subscriptions, through HTTP.

use crate::common::{call, call_as};

use std::collections::BTreeSet;

use dialpad_sim::{spawn, AccessToken, SimConfig, SimHandle};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn sim() -> SimHandle {
    spawn(SimConfig::default()).await.expect("simulator starts")
}

async fn ok(h: &SimHandle, method: Method, path: &str, body: Option<Value>) -> Value {
    let (s, v) = call(h, method.clone(), path, body).await;
    assert_eq!(s, StatusCode::OK, "{method} {path}: {v}");
    v
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], expected.as_u16(), "{body}");
}

async fn all_pages(h: &SimHandle, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let page = ok(h, Method::GET, &url, None).await;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page.get("cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    items
}

async fn webhook(h: &SimHandle, secret: Option<&str>) -> Value {
    let mut body = json!({"hook_url": "https://hooks.example.com/dialpad"});
    if let Some(s) = secret {
        body["secret"] = json!(s);
    }
    ok(h, Method::POST, "/api/v2/webhooks", Some(body)).await
}

#[tokio::test]
async fn webhooks_crud() {
    let h = sim().await;
    assert!(all_pages(&h, "/api/v2/webhooks").await.is_empty());

    let w = webhook(&h, Some("s3cret")).await;
    let id = w["id"].as_str().expect("id as a string").to_owned();
    assert_eq!(w["hook_url"], "https://hooks.example.com/dialpad");
    assert_eq!(
        w["signature"],
        json!({"algo": "HS256", "secret": "s3cret", "type": "jwt"})
    );
    let plain = webhook(&h, None).await;
    assert!(
        plain.get("signature").is_none(),
        "no secret, no signature: {plain}"
    );

    assert_eq!(
        ok(&h, Method::GET, &format!("/api/v2/webhooks/{id}"), None).await,
        w
    );
    let listed = all_pages(&h, "/api/v2/webhooks").await;
    assert_eq!(listed.len(), 2);

    let u = ok(
        &h,
        Method::PATCH,
        &format!("/api/v2/webhooks/{id}"),
        Some(json!({"hook_url": "https://other.example.com/x"})),
    )
    .await;
    assert_eq!(u["hook_url"], "https://other.example.com/x");
    assert_eq!(
        u["signature"]["secret"], "s3cret",
        "secret kept when not given"
    );
    let u = ok(
        &h,
        Method::PATCH,
        &format!("/api/v2/webhooks/{id}"),
        Some(json!({"secret": "rotated"})),
    )
    .await;
    assert_eq!(u["signature"]["secret"], "rotated");

    for body in [
        json!({}),
        json!({"hook_url": "not a url"}),
        json!({"hook_url": "ftp://x.example.com"}),
        json!({"hook_url": 5}),
    ] {
        let (s, v) = call(&h, Method::POST, "/api/v2/webhooks", Some(body)).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST);
    }
    let (s, v) = call(
        &h,
        Method::PATCH,
        &format!("/api/v2/webhooks/{id}"),
        Some(json!({"hook_url": "nope"})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);

    let d = ok(&h, Method::DELETE, &format!("/api/v2/webhooks/{id}"), None).await;
    assert_eq!(d["id"], id.as_str());
    for method in [Method::GET, Method::DELETE] {
        let (s, v) = call(&h, method, &format!("/api/v2/webhooks/{id}"), None).await;
        assert_error(s, &v, StatusCode::NOT_FOUND);
    }
    let (s, v) = call(
        &h,
        Method::PATCH,
        "/api/v2/webhooks/12",
        Some(json!({"secret": "x"})),
    )
    .await;
    assert_error(s, &v, StatusCode::NOT_FOUND);
    assert_eq!(all_pages(&h, "/api/v2/webhooks").await.len(), 1);
}

/// Create (with `endpoint_id`, or the legacy `webhook_id`) → get → list → update → delete.
async fn crud(h: &SimHandle, kind: &str, create: Value, update: Value, check: impl Fn(&Value)) {
    let hook = webhook(h, Some("k")).await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v2/subscriptions/{kind}");

    let mut body = create.clone();
    body["endpoint_id"] = json!(hook_id.parse::<i64>().unwrap());
    let s = ok(h, Method::POST, &base, Some(body)).await;
    let id = s["id"].as_str().expect("id string").to_owned();
    assert_eq!(s["webhook"], hook, "{kind}: embeds the webhook");
    assert_eq!(s["enabled"], true, "{kind}: enabled by default");
    check(&s);

    let mut legacy = create.clone();
    legacy["webhook_id"] = json!(hook_id);
    let s2 = ok(h, Method::POST, &base, Some(legacy)).await;
    assert_eq!(
        s2["webhook"]["id"],
        hook_id.as_str(),
        "{kind}: legacy webhook_id"
    );

    assert_eq!(ok(h, Method::GET, &format!("{base}/{id}"), None).await, s);
    let listed = all_pages(h, &base).await;
    assert_eq!(listed.len(), 2, "{kind}");

    let mut upd = update.clone();
    upd["enabled"] = json!(false);
    let u = ok(h, Method::PATCH, &format!("{base}/{id}"), Some(upd)).await;
    assert_eq!(u["enabled"], false, "{kind}: {u}");
    for (k, v) in update.as_object().unwrap() {
        assert_eq!(&u[k], v, "{kind}: updated {k}");
    }
    assert_eq!(ok(h, Method::GET, &format!("{base}/{id}"), None).await, u);

    // Repoint to another webhook.
    let other = webhook(h, None).await;
    let mut repoint = update.clone();
    repoint["endpoint_id"] = other["id"].clone();
    let u = ok(h, Method::PATCH, &format!("{base}/{id}"), Some(repoint)).await;
    assert_eq!(u["webhook"], other, "{kind}");

    // Unknown endpoints and subscriptions.
    let mut unknown = create.clone();
    unknown["endpoint_id"] = json!(777);
    let (st, v) = call(h, Method::POST, &base, Some(unknown)).await;
    assert_error(st, &v, StatusCode::NOT_FOUND);
    let mut repoint_bad = update.clone();
    repoint_bad["endpoint_id"] = json!("778");
    let (st, v) = call(h, Method::PATCH, &format!("{base}/{id}"), Some(repoint_bad)).await;
    assert_error(st, &v, StatusCode::NOT_FOUND);
    let (st, v) = call(h, Method::POST, &base, Some(create.clone())).await;
    assert_error(st, &v, StatusCode::BAD_REQUEST);
    let (st, v) = call(h, Method::GET, &format!("{base}/123"), None).await;
    assert_error(st, &v, StatusCode::NOT_FOUND);

    let d = ok(h, Method::DELETE, &format!("{base}/{id}"), None).await;
    assert_eq!(d["id"], id.as_str());
    let (st, v) = call(h, Method::GET, &format!("{base}/{id}"), None).await;
    assert_error(st, &v, StatusCode::NOT_FOUND);
    let (st, v) = call(h, Method::DELETE, &format!("{base}/{id}"), None).await;
    assert_error(st, &v, StatusCode::NOT_FOUND);
    assert_eq!(all_pages(h, &base).await.len(), 1);
}

fn first_user(h: &SimHandle) -> i64 {
    *h.sim.db().read().users.keys().next().expect("seeded users")
}

#[tokio::test]
async fn call_event_subscriptions() {
    let h = sim().await;
    let user = first_user(&h);
    crud(
        &h,
        "call",
        json!({"call_states": ["connected", "hangup"], "target_type": "user", "target_id": user}),
        json!({"call_states": ["missed"], "group_calls_only": true}),
        |s| {
            assert_eq!(s["call_states"], json!(["connected", "hangup"]));
            assert_eq!(s["target_id"], user.to_string());
            assert_eq!(s["target_type"], "user");
            assert_eq!(s["group_calls_only"], false);
            assert!(s.get("direction").is_none() && s.get("contact_type").is_none());
        },
    )
    .await;
    // Filters on list; bad states and targets.
    let hook = webhook(&h, None).await;
    let listed = all_pages(
        &h,
        &format!("/api/v2/subscriptions/call?target_type=user&target_id={user}"),
    )
    .await;
    let user_str = user.to_string();
    assert!(listed.iter().all(|s| s["target_id"] == user_str.as_str()));
    for body in [
        json!({"endpoint_id": hook["id"], "call_states": ["exploded"]}),
        json!({"endpoint_id": hook["id"], "target_type": "user"}),
        json!({"endpoint_id": hook["id"], "target_type": "user", "target_id": 4}),
        json!({"endpoint_id": hook["id"], "target_type": "galaxy", "target_id": 4}),
    ] {
        let (s, v) = call(&h, Method::POST, "/api/v2/subscriptions/call", Some(body)).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn sms_event_subscriptions() {
    let h = sim().await;
    crud(
        &h,
        "sms",
        json!({"direction": "inbound", "include_internal": true}),
        json!({"direction": "all", "status": true}),
        |s| {
            assert_eq!(s["direction"], "inbound");
            assert_eq!(s["include_internal"], true);
            assert_eq!(s["status"], false);
        },
    )
    .await;
    let hook = webhook(&h, None).await;
    for body in [
        json!({"endpoint_id": hook["id"]}),
        json!({"endpoint_id": hook["id"], "direction": "sideways"}),
    ] {
        let (s, v) = call(&h, Method::POST, "/api/v2/subscriptions/sms", Some(body)).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn contact_agent_status_changelog_channel_subscriptions() {
    let h = sim().await;
    crud(
        &h,
        "contact",
        json!({"contact_type": "shared"}),
        json!({"contact_type": "local"}),
        |s| {
            assert_eq!(s["contact_type"], "shared");
            assert!(s.get("target_id").is_none());
        },
    )
    .await;
    crud(
        &h,
        "agent_status",
        json!({"agent_type": "callcenter"}),
        json!({"agent_type": "callcenter"}),
        |s| {
            assert_eq!(s["agent_type"], "callcenter");
        },
    )
    .await;
    crud(&h, "changelog", json!({}), json!({}), |s| {
        assert!(s.get("direction").is_none());
    })
    .await;
    let channel = *h.sim.db().read().channels.keys().next().unwrap();
    crud(
        &h,
        "channel",
        json!({"direction": "all", "target_id": channel}),
        json!({"direction": "inbound"}),
        |s| {
            assert_eq!(s["target_id"], channel.to_string());
        },
    )
    .await;
    let hook = webhook(&h, None).await;
    for (kind, body) in [
        ("contact", json!({"endpoint_id": hook["id"]})),
        (
            "contact",
            json!({"endpoint_id": hook["id"], "contact_type": "global"}),
        ),
        ("agent_status", json!({"endpoint_id": hook["id"]})),
        (
            "agent_status",
            json!({"endpoint_id": hook["id"], "agent_type": "robot"}),
        ),
    ] {
        let (s, v) = call(
            &h,
            Method::POST,
            &format!("/api/v2/subscriptions/{kind}"),
            Some(body),
        )
        .await;
        assert_error(s, &v, StatusCode::BAD_REQUEST);
    }
    let (s, v) = call(&h, Method::GET, "/api/v2/subscriptions/nonsense", None).await;
    assert_error(s, &v, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn subscription_ids_are_per_type() {
    let h = sim().await;
    let hook = webhook(&h, None).await;
    let s = ok(
        &h,
        Method::POST,
        "/api/v2/subscriptions/contact",
        Some(json!({"endpoint_id": hook["id"], "contact_type": "shared"})),
    )
    .await;
    let id = s["id"].as_str().unwrap();
    let (st, v) = call(
        &h,
        Method::GET,
        &format!("/api/v2/subscriptions/call/{id}"),
        None,
    )
    .await;
    assert_error(st, &v, StatusCode::NOT_FOUND);
    assert!(all_pages(&h, "/api/v2/subscriptions/call").await.is_empty());
}

#[tokio::test]
async fn changelog_subscriptions_need_the_change_log_scope() {
    let h = sim().await;
    let user = first_user(&h);
    let mut tokens = Vec::new();
    for (name, scopes) in [("bare", vec![]), ("scoped", vec!["change_log"])] {
        let token = format!("sub-test-{name}");
        h.sim.db().write().oauth.access_tokens.insert(
            token.clone(),
            AccessToken {
                client_id: "sim-client".to_owned(),
                user_id: user,
                scopes: scopes
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<BTreeSet<_>>(),
                expires_at_ms: chrono::Utc::now().timestamp_millis() + 3_600_000,
                refresh_token: None,
            },
        );
        tokens.push(token);
    }
    let (s, v) = call_as(
        &h,
        &tokens[0],
        Method::GET,
        "/api/v2/subscriptions/changelog",
        None,
    )
    .await;
    assert_error(s, &v, StatusCode::FORBIDDEN);
    let (s, _) = call_as(
        &h,
        &tokens[0],
        Method::GET,
        "/api/v2/subscriptions/call",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "call subscriptions need no scope");
    let (s, _) = call_as(
        &h,
        &tokens[1],
        Method::GET,
        "/api/v2/subscriptions/changelog",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn at_most_100_subscriptions_per_type() {
    let h = sim().await;
    let hook = webhook(&h, None).await;
    for _ in 0..100 {
        ok(
            &h,
            Method::POST,
            "/api/v2/subscriptions/contact",
            Some(json!({"endpoint_id": hook["id"], "contact_type": "shared"})),
        )
        .await;
    }
    let (s, v) = call(
        &h,
        Method::POST,
        "/api/v2/subscriptions/contact",
        Some(json!({"endpoint_id": hook["id"], "contact_type": "shared"})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST);
    // Other types are counted separately.
    ok(
        &h,
        Method::POST,
        "/api/v2/subscriptions/changelog",
        Some(json!({"endpoint_id": hook["id"]})),
    )
    .await;
    assert_eq!(
        all_pages(&h, "/api/v2/subscriptions/contact").await.len(),
        100
    );
}
