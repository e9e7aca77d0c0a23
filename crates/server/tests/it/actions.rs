//! Actions (`/v1/actions`, `/v1/s/actions`) through the real server against the simulator:
//! each action's observable change in the simulator's state, schema violations (422 with the
//! paths), missing permissions, Dialpad's refusals, and `Idempotency-Key` replays that reach
//! Dialpad exactly once (the simulator's request counts). The tests that lean on the store run
//! on SQLite and PostgreSQL (`on_both_backends!`).

use dialpad_sim::SimConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_on_with_env, Response, TestApp};

/// Every action's operation.
fn all_actions() -> Vec<String> {
    dpc_core::actions::catalog()
        .iter()
        .map(|a| a.operation.to_owned())
        .collect()
}

pub enum Db {
    Sqlite,
    Postgres(String),
}

async fn spawn(db: Db) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_url = match db {
        Db::Sqlite => format!("sqlite://{}", dir.path().join("dpc.db").display()),
        Db::Postgres(url) => url,
    };
    spawn_on_with_env(
        SimConfig {
            auto_consent: true,
            call_history: 5,
            ..Default::default()
        },
        &db_url,
        dir,
        &[],
    )
    .await
}

/// The app with `o1` connected for every action (and reading users).
async fn app(db: Db) -> TestApp {
    let app = spawn(db).await;
    let mut ops = all_actions();
    ops.push("genericUser::retrieve".into());
    let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
    app.connect("o1", &ops).await;
    app
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::helpers::with_postgres(|url| super::$name(super::Db::Postgres(url))).await
                }
            )*
        }
    };
}

on_both_backends!(
    catalog_describes_every_action_and_the_connections_permissions,
    sms_and_channel_actions_change_the_simulator,
    call_actions_change_the_call,
    live_call_actions_record_share_park_and_pop,
    bad_input_answers_422_with_every_path,
    missing_permissions_name_the_operation,
    idempotency_key_reaches_dialpad_once,
    every_action_maps_dialpads_refusal,
    an_action_over_its_rate_limit_answers_429_at_once,
);

impl TestApp {
    async fn run_action(&self, owner: &str, id: &str, input: Value, key: Option<&str>) -> Response {
        let mut req = self
            .http
            .post(self.url(&format!("/v1/actions/{id}")))
            .header("x-api-secret", &self.api_key)
            .header("x-connector-id", "dialpad")
            .header("x-owner-id", owner)
            .json(&input);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req.send().await.unwrap()
    }

    /// Runs an action that must succeed; its `output`.
    async fn action_ok(&self, id: &str, input: Value) -> Value {
        let r = self.run_action("o1", id, input, None).await;
        let (s, v) = error_code(r).await;
        assert_eq!(s, StatusCode::OK, "{id}: {v}");
        assert_eq!(v["object"], "actionResult");
        assert_eq!(v["actionId"], id);
        v["output"].clone()
    }

    async fn me(&self) -> String {
        let r = self
            .http
            .get(self.url("/v1/resources/genericUser/me"))
            .header("x-api-secret", &self.api_key)
            .header("x-connector-id", "dialpad")
            .header("x-owner-id", "o1")
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    fn requests(&self, key: &str) -> u64 {
        self.sim.stats().requests.get(key).copied().unwrap_or(0)
    }
}

async fn catalog_describes_every_action_and_the_connections_permissions(db: Db) {
    let app = spawn(db).await;
    app.connect("o1", &["action::sendSms", "action::hangUpCall"])
        .await;
    let r = app.get("/v1/actions").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), dpc_core::actions::catalog().len());
    assert!(
        v["seeAlso"].as_str().unwrap().contains("/v1/resources/"),
        "{v}"
    );
    let sms = data.iter().find(|a| a["id"] == "sendSms").unwrap();
    assert_eq!(sms["operation"], "action::sendSms");
    assert_eq!(sms["readOnly"], false);
    assert_eq!(sms["acceptsIdempotencyKey"], true);
    assert!(sms["rateLimit"]
        .as_str()
        .unwrap()
        .contains("100 per minute"));
    assert_eq!(
        sms["inputSchema"]["properties"]["toNumbers"]["items"]["pattern"], r"^\+[1-9][0-9]{6,14}$",
        "{}",
        sms["inputSchema"]
    );
    assert!(sms.get("permitted").is_none(), "no connection named");
    let pop = data.iter().find(|a| a["id"] == "screenPop").unwrap();
    assert_eq!(pop["scopes"], json!(["screen_pop"]));
    let list = data.iter().find(|a| a["id"] == "listChannels").unwrap();
    assert_eq!(
        (&list["readOnly"], &list["acceptsIdempotencyKey"]),
        (&json!(true), &json!(false))
    );
    for a in data {
        assert!(
            !a["inputSchema"].to_string().contains("$ref"),
            "{}: self-contained",
            a["id"]
        );
    }

    // With the connection headers: what this connection may run.
    let r = app
        .http
        .get(app.url("/v1/actions"))
        .header("x-api-secret", &app.api_key)
        .header("x-connector-id", "dialpad")
        .header("x-owner-id", "o1")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let permitted: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["permitted"] == true)
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(permitted, vec!["sendSms", "hangUpCall"]);

    // A session narrowed to one operation sees only that one permitted.
    let r = app
        .post_json(
            "/v1/connections/dialpad/o1/sessions",
            json!({"connection": {"operations": ["action::hangUpCall"]}}),
        )
        .await;
    let s: Value = r.json().await.unwrap();
    let token = s["sessionToken"].as_str().unwrap();
    let r = app
        .http
        .get(app.url("/v1/s/actions"))
        .header("x-session-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let permitted: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["permitted"] == true)
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(permitted, vec!["hangUpCall"]);
    // …and runs it through its twin: the session's connection, Dialpad's refusal mapped.
    let r = app
        .http
        .post(app.url("/v1/s/actions/hangUpCall"))
        .header("x-session-token", token)
        .json(&json!({"callId": "123"}))
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("RESOURCE::NOT_FOUND")),
        "{v}"
    );
    let r = app
        .http
        .post(app.url("/v1/s/actions/sendSms"))
        .header("x-session-token", token)
        .json(&json!({"toNumbers": ["+15555550100"], "text": "hi"}))
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("CONNECTION::MISSING_PERMISSION")
        ),
        "{v}"
    );
}

async fn sms_and_channel_actions_change_the_simulator(db: Db) {
    let app = app(db).await;
    let me = app.me().await;
    let before = app.sim.sim.db().read().sms.len();
    let out = app
        .action_ok(
            "sendSms",
            json!({"toNumbers": ["+15555550100", "+15555550101"], "text": "Your order shipped", "userId": me}),
        )
        .await;
    assert_eq!(out["status"], "pending", "{out}");
    assert_eq!(out["toNumbers"], json!(["+15555550100", "+15555550101"]));
    assert!(out["createdAt"].as_str().unwrap().ends_with('Z'));
    let id: i64 = out["id"].as_str().unwrap().parse().unwrap();
    {
        let db = app.sim.sim.db().read();
        assert_eq!(db.sms.len(), before + 1);
        let sent = serde_json::to_value(&db.sms[&id]).unwrap();
        assert_eq!(sent["text"], "Your order shipped", "{sent}");
    }

    // Channels: create, read, list to the end with the cursor, members, delete.
    let c = app
        .action_ok(
            "createChannel",
            json!({"name": "launch-room", "description": "the launch", "privacy": "public"}),
        )
        .await;
    let cid = c["id"].as_str().unwrap().to_owned();
    assert_eq!(c["name"], "launch-room");
    assert!(app
        .sim
        .sim
        .db()
        .read()
        .channels
        .contains_key(&cid.parse::<i64>().unwrap()));
    let got = app.action_ok("getChannel", json!({"channelId": cid})).await;
    assert_eq!(got["name"], "launch-room");
    // Posting to the channel by hashtag.
    app.action_ok(
        "sendSms",
        json!({"channelHashtag": "launch-room", "text": "go", "userId": me}),
    )
    .await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut input = json!({"limit": 2});
        if let Some(c) = &cursor {
            input["cursor"] = json!(c);
        }
        let page = app.action_ok("listChannels", input).await;
        for ch in page["channels"].as_array().unwrap() {
            seen.push(ch["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    let total = app.sim.sim.db().read().channels.len();
    assert_eq!(seen.len(), total, "every channel once");
    assert!(seen.contains(&cid));

    let m = app
        .action_ok("addChannelMember", json!({"channelId": cid, "userId": me}))
        .await;
    assert_eq!(m["id"], me.as_str());
    let members = app
        .action_ok("listChannelMembers", json!({"channelId": cid}))
        .await;
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == me.as_str()),
        "{members}"
    );
    app.action_ok(
        "removeChannelMember",
        json!({"channelId": cid, "userId": me}),
    )
    .await;
    let members = app
        .action_ok("listChannelMembers", json!({"channelId": cid}))
        .await;
    assert!(
        !members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == me.as_str()),
        "{members}"
    );
    let d = app
        .action_ok("deleteChannel", json!({"channelId": cid}))
        .await;
    assert_eq!(d["deleted"], true);
    assert!(!app
        .sim
        .sim
        .db()
        .read()
        .channels
        .contains_key(&cid.parse::<i64>().unwrap()));
    let (s, v) = error_code(
        app.run_action("o1", "getChannel", json!({"channelId": cid}), None)
            .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("RESOURCE::NOT_FOUND")),
        "{v}"
    );
}

async fn call_actions_change_the_call(db: Db) {
    let app = app(db).await;
    let me = app.me().await;
    let placed = app
        .action_ok(
            "placeCall",
            json!({"userId": me, "phoneNumber": "+14155550199", "customData": "order 7"}),
        )
        .await;
    let call_id = placed["callId"].as_str().unwrap().to_owned();
    let cid: i64 = call_id.parse().unwrap();
    {
        let db = app.sim.sim.db().read();
        let call = &db.calls[&cid];
        assert_eq!(call.external_number.as_deref(), Some("+14155550199"));
        assert!(call.is_active(), "{}", call.state);
    }
    let label = app.sim.sim.db().read().call_labels[0].clone();
    let l = app
        .action_ok("labelCall", json!({"callId": call_id, "labels": [label]}))
        .await;
    assert_eq!(l["labels"], json!([label]));
    assert_eq!(app.sim.sim.db().read().calls[&cid].labels, vec![label]);

    let added = app
        .action_ok(
            "addCallParticipant",
            json!({"callId": call_id, "participant": {"type": "number", "number": "+14155550123"}}),
        )
        .await;
    assert!(added["callId"].is_string(), "{added}");

    let t = app
        .action_ok(
            "transferCall",
            json!({"callId": call_id, "to": {"type": "number", "number": "+14155550124"}, "transferState": "hold"}),
        )
        .await;
    assert_eq!(t["transferredToNumber"], "+14155550124", "{t}");
    assert_eq!(t["transferredToState"], "hold", "{t}");

    let h = app
        .action_ok("hangUpCall", json!({"callId": call_id}))
        .await;
    assert_eq!(h["hungUp"], true);
    {
        let db = app.sim.sim.db().read();
        let call = &db.calls[&cid];
        assert_eq!(call.state, "hangup");
        assert!(call.date_ended.is_some());
    }
    // Dialpad refuses to hang up a call that ended: its 400, mapped.
    let (s, v) = error_code(
        app.run_action("o1", "hangUpCall", json!({"callId": call_id}), None)
            .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("UPSTREAM::INVALID")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("not active"), "{v}");
}

async fn bad_input_answers_422_with_every_path(db: Db) {
    let app = app(db).await;
    let sent_before = app.requests("POST /api/v2/sms");
    let (s, v) = error_code(
        app.run_action(
            "o1",
            "sendSms",
            json!({"toNumbers": ["555-0100"], "userId": "me", "colour": "red"}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"], "RESOURCE::VALIDATION_FAILED");
    let paths: Vec<&str> = v["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec!["colour", "text", "toNumbers[0]", "userId"],
        "{v}"
    );
    // 20,000 bad numbers in one body: the answer stays small (50 paths listed, the rest
    // counted), never a multiple of the request.
    let many: Vec<String> = (0..20_000).map(|i| format!("x{i}")).collect();
    let r = app
        .run_action(
            "o1",
            "sendSms",
            json!({"toNumbers": many, "text": "hi"}),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.len() < 32 * 1024, "{} bytes answered", bytes.len());
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let listed = v["details"]["fields"].as_array().unwrap().len();
    assert_eq!(listed, 50, "{v}");
    assert!(v["details"]["moreErrors"].as_u64().unwrap() > 0, "{v}");
    assert!(v["message"].as_str().unwrap().contains("more"), "{v}");
    // Every action refuses an unknown field, naming it.
    for a in dpc_core::actions::catalog() {
        let (s, v) = error_code(app.run_action("o1", a.id, json!({"bogus": 1}), None).await).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{}: {v}", a.id);
        assert!(
            v["details"]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["path"] == "bogus"),
            "{}: {v}",
            a.id
        );
    }
    // Dialpad's text limit, before Dialpad.
    let (s, v) = error_code(
        app.run_action(
            "o1",
            "sendSms",
            json!({"toNumbers": ["+15555550100"], "text": "x".repeat(1501)}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["details"]["fields"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("text")),
        "{v}"
    );
    assert_eq!(
        app.requests("POST /api/v2/sms"),
        sent_before,
        "Dialpad never asked"
    );
    let (s, v) = error_code(
        app.run_action(
            "o1",
            "transferCall",
            json!({"callId": 5, "to": {"type": "moon"}}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let text = v["details"]["fields"].to_string();
    assert!(text.contains("\"callId\"") && text.contains("\"to"), "{v}");
    // Not an object: the body itself.
    let r = app
        .http
        .post(app.url("/v1/actions/hangUpCall"))
        .header("x-api-secret", &app.api_key)
        .header("x-connector-id", "dialpad")
        .header("x-owner-id", "o1")
        .json(&json!([1]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // An unknown action.
    let (s, v) = error_code(app.run_action("o1", "launchRocket", json!({}), None).await).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("ACTION::NOT_FOUND")),
        "{v}"
    );
    assert!(v["details"]["actions"]
        .as_array()
        .unwrap()
        .contains(&json!("sendSms")));
    // A 3000-character id is not echoed whole.
    let long = "x".repeat(3000);
    let (s, v) = error_code(app.run_action("o1", &long, json!({}), None).await).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(v["message"].as_str().unwrap().len() < 200, "{v}");
    assert_eq!(v["details"]["actionId"].as_str().unwrap().len(), 64);
    // A malformed key.
    let (s, v) = error_code(
        app.run_action(
            "o1",
            "sendSms",
            json!({"toNumbers": ["+15555550100"], "text": "hi"}),
            Some(&"k".repeat(300)),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID"))
    );
}

async fn missing_permissions_name_the_operation(db: Db) {
    let app = spawn(db).await;
    app.connect("o1", &["action::sendSms"]).await;
    // Not granted: names the operation; no authorization helps until the app adds it.
    let (s, v) = error_code(
        app.run_action("o1", "hangUpCall", json!({"callId": "1"}), None)
            .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("CONNECTION::MISSING_PERMISSION")
        ),
        "{v}"
    );
    assert_eq!(v["details"]["operation"], "action::hangUpCall");
    for a in dpc_core::actions::catalog()
        .iter()
        .filter(|a| a.id != "sendSms")
    {
        let (s, v) = error_code(app.run_action("o1", a.id, json!({}), None).await).await;
        assert_eq!(
            (s, v["details"]["operation"].as_str()),
            (StatusCode::FORBIDDEN, Some(a.operation)),
            "{v}"
        );
    }
    // Granted since, but the authorization did not ask for its scope: a fresh authorization URL.
    let r = app
        .http
        .patch(app.url("/v1/connections/dialpad/o1"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({"operations": ["action::sendSms", "action::screenPop"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let before = app.requests("POST /api/v2/users/{id}/screenpop");
    let (s, v) = error_code(
        app.run_action(
            "o1",
            "screenPop",
            json!({"userId": "1", "url": "https://crm.example/contacts/7"}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("CONNECTION::MISSING_PERMISSION")
        ),
        "{v}"
    );
    assert_eq!(v["details"]["missingScopes"], json!(["screen_pop"]));
    let url = v["details"]["authorizationUrl"].as_str().unwrap();
    assert!(url.contains("screen_pop"), "{url}");
    assert_eq!(
        app.requests("POST /api/v2/users/{id}/screenpop"),
        before,
        "refused before Dialpad"
    );
}

async fn idempotency_key_reaches_dialpad_once(db: Db) {
    let app = app(db).await;
    let key = "POST /api/v2/sms";
    let body = json!({"toNumbers": ["+15555550100"], "text": "exactly once"});
    let before = app.requests(key);
    let r = app
        .run_action("o1", "sendSms", body.clone(), Some("k-1"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
    let first: Value = r.json().await.unwrap();
    // The same body in another key order: the same request.
    let reordered = json!({"text": "exactly once", "toNumbers": ["+15555550100"]});
    let r = app
        .run_action("o1", "sendSms", reordered, Some("k-1"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(app.requests(key), before + 1, "one Dialpad request");
    let texts = app
        .sim
        .sim
        .db()
        .read()
        .sms
        .values()
        .filter(|m| serde_json::to_value(m).unwrap()["text"] == "exactly once")
        .count();
    assert_eq!(texts, 1);

    // Another body with the key: 409, nothing sent.
    let (s, v) = error_code(
        app.run_action(
            "o1",
            "sendSms",
            json!({"toNumbers": ["+15555550100"], "text": "something else"}),
            Some("k-1"),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("REQUEST::IDEMPOTENCY_CONFLICT")),
        "{v}"
    );
    assert_eq!(app.requests(key), before + 1);

    // Dialpad's refusal is an answer too: replayed, not retried.
    let hang = json!({"callId": "424242"});
    let (s1, v1) = error_code(
        app.run_action("o1", "hangUpCall", hang.clone(), Some("k-2"))
            .await,
    )
    .await;
    let r = app.run_action("o1", "hangUpCall", hang, Some("k-2")).await;
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let (s2, v2) = error_code(r).await;
    assert_eq!((s1, &v1), (s2, &v2));
    assert_eq!(s1, StatusCode::NOT_FOUND);
    assert_eq!(app.requests("PUT /api/v2/call/{id}/actions/hangup"), 1);

    // While the first is still at a slow Dialpad, a second with the key is refused (409).
    let r = app
        .http
        .post(format!("{}/_sim/faults", app.sim.base_url))
        .json(&json!({"path": "/api/v2/sms", "method": "POST", "latency_ms": 1500}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let slow = json!({"toNumbers": ["+15555550100"], "text": "slow"});
    let first = app.run_action("o1", "sendSms", slow.clone(), Some("k-3"));
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        app.run_action("o1", "sendSms", slow.clone(), Some("k-3"))
            .await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.status(), 200);
    assert_eq!(second.headers()["retry-after"], "1");
    let (s, v) = error_code(second).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("REQUEST::IDEMPOTENCY_IN_PROGRESS")
        ),
        "{v}"
    );

    // A caller that gives up while Dialpad is slow does not cancel the action: it finishes,
    // its answer is stored, and the retry with the key gets it (one SMS).
    let gave_up = json!({"toNumbers": ["+15555550100"], "text": "caller gave up"});
    let r = reqwest::Client::new()
        .post(app.url("/v1/actions/sendSms"))
        .header("x-api-secret", &app.api_key)
        .header("x-connector-id", "dialpad")
        .header("x-owner-id", "o1")
        .header("idempotency-key", "k-gone")
        .timeout(std::time::Duration::from_millis(300))
        .json(&gave_up)
        .send()
        .await;
    assert!(r.is_err(), "the caller timed out");
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    let r = app
        .run_action("o1", "sendSms", gave_up.clone(), Some("k-gone"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let sent = app
        .sim
        .sim
        .db()
        .read()
        .sms
        .values()
        .filter(|m| serde_json::to_value(m).unwrap()["text"] == "caller gave up")
        .count();
    assert_eq!(sent, 1);

    // Dialpad down: the key is given back, and a retry after it recovered sends once.
    app.http
        .delete(format!("{}/_sim/faults", app.sim.base_url))
        .send()
        .await
        .unwrap();
    app.http
        .post(format!("{}/_sim/faults", app.sim.base_url))
        .json(&json!({"path": "/api/v2/sms", "method": "POST", "error_rate": 1.0, "status": 503}))
        .send()
        .await
        .unwrap();
    let down = json!({"toNumbers": ["+15555550100"], "text": "after the outage"});
    let r = app
        .run_action("o1", "sendSms", down.clone(), Some("k-4"))
        .await;
    assert!(r.status().is_server_error(), "{}", r.status());
    app.http
        .delete(format!("{}/_sim/faults", app.sim.base_url))
        .send()
        .await
        .unwrap();
    let r = app.run_action("o1", "sendSms", down, Some("k-4")).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());

    // Keys are per connection: another connection's same key is its own.
    app.connect("o2", &["action::sendSms"]).await;
    let r = app.run_action("o2", "sendSms", body, Some("k-1")).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
}

/// A user whose Dialpad app the API can drive (desktop, web or a CTI).
fn app_user(app: &TestApp) -> String {
    let db = app.sim.sim.db().read();
    let d = db
        .devices
        .values()
        .find(|d| {
            matches!(d.kind.as_str(), "native" | "web" | "packaged_app")
                && db.users.contains_key(&d.user_id)
        })
        .expect("a seeded user with an app");
    d.user_id.to_string()
}

async fn wait_for_state(app: &TestApp, cid: i64, state: &str) {
    let ok = crate::helpers::eventually(std::time::Duration::from_secs(10), || {
        app.sim
            .sim
            .db()
            .read()
            .calls
            .get(&cid)
            .is_some_and(|c| c.state == state)
    })
    .await;
    assert!(ok, "call {cid} never reached {state}");
}

async fn live_call_actions_record_share_park_and_pop(db: Db) {
    let app = app(db).await;
    let user = app_user(&app);
    // A live call of that user, answered and left connected.
    let r = app
        .http
        .post(format!("{}/_sim/calls", app.sim.base_url))
        .json(&json!({"stop_at": "connected", "speed": 100, "user_id": user}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let played: Value = r.json().await.unwrap();
    let call_id = played["call_id"].as_str().unwrap().to_owned();
    let cid: i64 = call_id.parse().unwrap();
    wait_for_state(&app, cid, "connected").await;

    // Record a stretch of it: on, then off.
    let on = app
        .action_ok(
            "toggleCallRecording",
            json!({"userId": user, "isRecording": true, "playMessage": false}),
        )
        .await;
    assert_eq!(
        (on["callId"].as_str(), &on["isRecording"]),
        (Some(call_id.as_str()), &json!(true)),
        "{on}"
    );
    let off = app
        .action_ok(
            "toggleCallRecording",
            json!({"userId": user, "isRecording": false}),
        )
        .await;
    assert_eq!(off["isRecording"], false, "{off}");
    let recording = app.sim.sim.db().read().calls[&cid]
        .recording_details
        .iter()
        .find(|r| r.recording_type == "callrecording")
        .map(|r| r.id.clone())
        .expect("the stretch is a recording");
    let link = app
        .action_ok(
            "createRecordingShareLink",
            json!({"recordingId": recording, "recordingType": "callRecording", "privacy": "company"}),
        )
        .await;
    assert!(
        link["accessLink"].as_str().unwrap().starts_with("http"),
        "{link}"
    );
    assert_eq!(link["recordingId"], recording.as_str(), "{link}");
    assert_eq!(link["privacy"], "company");

    // Parked in the app, then unparked by the user through the action.
    let r = app
        .http
        .post(format!("{}/_sim/calls/{cid}/park", app.sim.base_url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(app.sim.sim.db().read().calls[&cid].state, "parked");
    app.action_ok("unparkCall", json!({"callId": call_id, "userId": user}))
        .await;
    assert_ne!(app.sim.sim.db().read().calls[&cid].state, "parked");

    // The user's app starts a call of its own.
    let before = app.sim.sim.db().read().calls.len();
    let started = app
        .action_ok(
            "initiateCall",
            json!({"userId": user, "phoneNumber": "+14155550111"}),
        )
        .await;
    assert_eq!(started["device"]["userId"], user.as_str(), "{started}");
    {
        let db = app.sim.sim.db().read();
        assert_eq!(db.calls.len(), before + 1);
        assert!(db
            .calls
            .values()
            .any(|c| c.external_number.as_deref() == Some("+14155550111") && c.is_active()));
    }

    // A screen pop on the user's app, in the simulator's log.
    let pop = app
        .action_ok(
            "screenPop",
            json!({"userId": user, "url": "https://crm.example/contacts/7"}),
        )
        .await;
    assert!(pop["device"]["id"].is_string(), "{pop}");
    let r = app
        .http
        .get(format!("{}/_sim/screenpops", app.sim.base_url))
        .send()
        .await
        .unwrap();
    let pops: Value = r.json().await.unwrap();
    assert_eq!(
        pops.as_array().unwrap().last().unwrap()["screen_pop_uri"],
        "https://crm.example/contacts/7"
    );

    // Hang the live call up: it ends; a second hang-up is Dialpad's refusal.
    app.action_ok("hangUpCall", json!({"callId": call_id}))
        .await;
    assert_eq!(app.sim.sim.db().read().calls[&cid].state, "hangup");
    let (s, v) = error_code(
        app.run_action("o1", "hangUpCall", json!({"callId": call_id}), None)
            .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("UPSTREAM::INVALID")),
        "{v}"
    );
    // Recording the ended call: nothing to record.
    let (s, v) = error_code(
        app.run_action(
            "o1",
            "toggleCallRecording",
            json!({"userId": "1", "isRecording": true}),
            None,
        )
        .await,
    )
    .await;
    assert!(s.is_client_error(), "{s} {v}");
}

/// Every action, with input Dialpad refuses (an id it does not know, a call that ended, a
/// channel name taken): its refusal answered with the stable code and Dialpad's message, after
/// exactly the Dialpad requests the action makes.
async fn every_action_maps_dialpads_refusal(db: Db) {
    let app = app(db).await;
    let me = app.me().await;
    // A call that ended, and a channel whose name is then taken.
    let placed = app
        .action_ok(
            "placeCall",
            json!({"userId": me, "phoneNumber": "+14155550199"}),
        )
        .await;
    let ended = placed["callId"].as_str().unwrap().to_owned();
    app.action_ok("hangUpCall", json!({"callId": ended})).await;
    app.action_ok(
        "createChannel",
        json!({"name": "taken", "description": "d", "privacy": "public", "userId": me}),
    )
    .await;
    let nobody = "99999999";
    let not_found = (StatusCode::NOT_FOUND, "RESOURCE::NOT_FOUND");
    let invalid = (StatusCode::BAD_REQUEST, "UPSTREAM::INVALID");
    let cases: Vec<(&str, Value, (StatusCode, &str))> = vec![
        // Dialpad names a user it does not know in a body field as an invalid value.
        (
            "sendSms",
            json!({"toNumbers": ["+14155550100"], "text": "hi", "userId": nobody}),
            invalid,
        ),
        (
            "placeCall",
            json!({"userId": nobody, "phoneNumber": "+14155550199"}),
            invalid,
        ),
        (
            "initiateCall",
            json!({"userId": nobody, "phoneNumber": "+14155550199"}),
            not_found,
        ),
        ("hangUpCall", json!({"callId": ended}), invalid),
        (
            "transferCall",
            json!({"callId": ended, "to": {"type": "number", "number": "+14155550124"}}),
            invalid,
        ),
        (
            "addCallParticipant",
            json!({"callId": nobody, "participant": {"type": "number", "number": "+14155550123"}}),
            not_found,
        ),
        (
            "unparkCall",
            json!({"callId": ended, "userId": me}),
            invalid,
        ),
        (
            "labelCall",
            json!({"callId": nobody, "labels": ["x"]}),
            not_found,
        ),
        (
            "toggleCallRecording",
            json!({"userId": nobody, "isRecording": true}),
            not_found,
        ),
        (
            "screenPop",
            json!({"userId": nobody, "url": "https://crm.example/c/1"}),
            not_found,
        ),
        (
            "listChannels",
            json!({"cursor": "not-a-dialpad-cursor"}),
            invalid,
        ),
        ("getChannel", json!({"channelId": nobody}), not_found),
        (
            "createChannel",
            json!({"name": "taken", "description": "d", "privacy": "public", "userId": me}),
            (StatusCode::CONFLICT, "RESOURCE::CONFLICT"),
        ),
        ("deleteChannel", json!({"channelId": nobody}), not_found),
        (
            "listChannelMembers",
            json!({"channelId": nobody}),
            not_found,
        ),
        (
            "addChannelMember",
            json!({"channelId": nobody, "userId": me}),
            not_found,
        ),
        (
            "removeChannelMember",
            json!({"channelId": nobody, "userId": me}),
            not_found,
        ),
        (
            "createRecordingShareLink",
            json!({"recordingId": nobody, "recordingType": "callRecording"}),
            not_found,
        ),
    ];
    let mut covered: Vec<&str> = cases.iter().map(|c| c.0).collect();
    covered.sort();
    let mut all: Vec<&str> = dpc_core::actions::catalog().iter().map(|a| a.id).collect();
    all.sort();
    assert_eq!(covered, all, "every action has a refusal case");
    let mut wrong = Vec::new();
    for (id, input, (status, code)) in cases {
        let (s, v) = error_code(app.run_action("o1", id, input, None).await).await;
        let msg = v["message"].as_str().unwrap_or_default();
        // Dialpad's message is passed on.
        if (s, v["error"].as_str()) != (status, Some(code)) || !msg.starts_with("Dialpad") {
            wrong.push(format!("{id}: {s} {v}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `placeCall` is 5 per minute at Dialpad: the calls past the budget answer 429
/// `UPSTREAM::RATE_LIMITED` with `Retry-After` at once, without reaching Dialpad, instead of
/// holding the caller for up to a minute.
async fn an_action_over_its_rate_limit_answers_429_at_once(db: Db) {
    let app = app(db).await;
    let me = app.me().await;
    let mut limited = None;
    for _ in 0..8 {
        let started = std::time::Instant::now();
        let r = app
            .run_action(
                "o1",
                "placeCall",
                json!({"userId": me, "phoneNumber": "+14155550199"}),
                None,
            )
            .await;
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        let (s, v) = error_code(r).await;
        // The bound is 2 s of waiting for a slot; the answer never takes much longer.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        if s == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((v, retry_after));
            break;
        }
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (v, retry_after) = limited.expect("the budget of 5 per minute runs out within 8 calls");
    assert_eq!(v["error"], "UPSTREAM::RATE_LIMITED", "{v}");
    let secs = v["details"]["retryAfter"].as_u64().unwrap();
    assert!((3..=60).contains(&secs), "{v}");
    assert_eq!(retry_after, Some(secs));
    assert!(app.requests("POST /api/v2/call") <= 5);
}
