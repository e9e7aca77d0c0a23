//! The MCP server (`/v1/mcp`) through the real server and the simulator: a real MCP client (the
//! official Python SDK `mcp` from PyPI, in a venv made once per test binary) connects over
//! Streamable HTTP with a session token narrowed to a few operations, lists the tools (only
//! those), reads contacts and compares them with Dialpad's own list, pages a list to its end
//! with the cursor (every record once), and gets tool errors with our stable codes for missing
//! permissions. Raw HTTP checks the auth failures (401 with our error JSON before any MCP), bad
//! JSON-RPC, an oversized body and the routes that are not JSON-RPC. On SQLite and PostgreSQL.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dialpad_sim::SimConfig;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_on_with_env, TestApp};

/// The database a test runs on.
enum Db {
    Sqlite,
    Postgres(String),
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
    python_sdk_sees_only_granted_tools_pages_and_gets_tool_errors,
    auth_failures_answer_401_json_before_mcp,
    json_rpc_edges_and_limits,
    action_tools_take_an_idempotency_key,
    custom_models_have_tools,
);

/// What the connection `o1` was granted (the session narrows it further).
const CONNECTION_OPS: &[&str] = &[
    "genericContact::list",
    "genericContact::retrieve",
    "genericContact::create",
    "genericUser::list",
    "action::listChannels",
    "action::sendSms",
];

async fn app(db: Db) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_url = match db {
        Db::Sqlite => format!("sqlite://{}", dir.path().join("dpc.db").display()),
        Db::Postgres(url) => url,
    };
    let sim = SimConfig {
        auto_consent: true,
        call_history: 10,
        ..Default::default()
    };
    let app = spawn_on_with_env(sim, &db_url, dir, &[]).await;
    app.connect("o1", CONNECTION_OPS).await;
    app
}

/// A session token of `o1` for `operations`.
async fn session(app: &TestApp, operations: &[&str]) -> String {
    let r = app
        .post_json(
            "/v1/connections/dialpad/o1/sessions",
            json!({"connection": {"operations": operations}, "expiresIn": 600}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let v: Value = r.json().await.unwrap();
    v["sessionToken"]
        .as_str()
        .or(v["token"].as_str())
        .unwrap()
        .to_owned()
}

/// Every id of a Dialpad list, through the proxy (Dialpad's own answer, not our mapping).
async fn dialpad_ids(app: &TestApp, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = match &cursor {
            Some(c) => format!("{path}?cursor={c}"),
            None => path.to_owned(),
        };
        let r = app.proxy("o1", reqwest::Method::GET, &p).await;
        assert_eq!(r.status(), 200, "{p}");
        let v: Value = r.json().await.unwrap();
        for i in v["items"].as_array().unwrap() {
            out.push(match &i["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
        match v["cursor"].as_str() {
            Some(c) if !c.is_empty() => cursor = Some(c.to_owned()),
            _ => return out,
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn show(o: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The Python SDK's version, pinned.
const MCP_SDK: &str = "mcp==2.3.0";

/// A venv with the MCP Python SDK from PyPI, made once under the target directory.
fn mcp_python() -> PathBuf {
    // Tests run in parallel: one makes the venv, the others wait (two at once would delete
    // each other's).
    static MADE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MADE.get_or_init(make_mcp_python).clone()
}

fn make_mcp_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-mcp-2.3.0");
    let python = venv.join("bin").join("python");
    let ready = |p: &Path| {
        p.exists()
            && Command::new(p)
                .args([
                    "-c",
                    "import mcp, httpx2; from mcp.client.streamable_http import streamable_http_client",
                ])
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
    let pip = run(Command::new(&python).args(["-m", "pip", "install", "--quiet", MCP_SDK]));
    assert!(
        pip.status.success(),
        "pip install {MCP_SDK} failed:\n{}",
        show(&pip)
    );
    assert!(ready(&python), "{MCP_SDK} installed but not importable");
    python
}

/// Runs `tests/py/mcp_client.py` with `plan`; answers what it printed.
async fn python_client(plan: Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    std::fs::write(&file, serde_json::to_vec(&plan).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/mcp_client.py");
    let out = tokio::task::spawn_blocking(move || {
        let python = mcp_python();
        run(Command::new(python).arg(&script).arg(&file))
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed:\n{}",
        show(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
}

async fn python_sdk_sees_only_granted_tools_pages_and_gets_tool_errors(db: Db) {
    let app = app(db).await;
    // Granted after the authorization: listed, but its scopes were never asked for.
    let more_ops = [CONNECTION_OPS, &["telephonyCall::list"]].concat();
    let r = app
        .http
        .patch(app.url("/v1/connections/dialpad/o1"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({ "operations": more_ops }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = session(
        &app,
        &[
            "genericContact::list",
            "genericContact::retrieve",
            "telephonyCall::list",
            "action::listChannels",
            "action::sendSms",
        ],
    )
    .await;
    let want = dialpad_ids(&app, "/api/v2/contacts").await;
    assert!(
        want.len() > 7,
        "the simulator seeds contacts: {}",
        want.len()
    );
    let first = want[0].clone();
    let out = python_client(json!({
        "url": app.url("/v1/mcp"),
        "headers": {"Authorization": format!("Bearer {token}")},
        "page": {"tool": "genericContact_list", "arguments": {"limit": 7}},
        "calls": [
            // Granted to the connection, not to this session.
            {"tool": "genericContact_create", "arguments": {"fields": {"firstName": "A", "lastName": "B"}}},
            // Granted, scopes missing: the authorization URL that adds them.
            {"tool": "telephonyCall_list", "arguments": {}},
            {"tool": "genericContact_retrieve", "arguments": {"id": first, "fields": ["firstName", "lastName", "phones"]}},
            {"tool": "genericContact_list", "arguments": {"limit": 0}},
            {"tool": "genericContact_list", "arguments": {"colour": "red"}},
            {"tool": "action_listChannels", "arguments": {}},
            // Two schema violations: every failing path, and nothing sent.
            {"tool": "action_sendSms", "arguments": {"toNumbers": ["12"]}},
            {"tool": "action_sendSms", "arguments": {"toNumbers": ["+14155550123"], "text": "hello from an agent"}},
        ],
    }))
    .await;
    assert_eq!(out["server"], "dialpad-connector");

    // Only the session's operations, as tools, with their hints and schemas.
    let names: BTreeSet<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "genericContact_list",
            "genericContact_retrieve",
            "telephonyCall_list",
            "action_listChannels",
            "action_sendSms",
        ])
    );
    let list = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "genericContact_list")
        .unwrap();
    assert_eq!(list["annotations"]["readOnlyHint"], true, "{list}");
    assert_eq!(list["annotations"]["destructiveHint"], false);
    assert_eq!(list["annotations"]["idempotentHint"], true);
    assert_eq!(list["inputSchema"]["properties"]["limit"]["maximum"], 100);
    assert!(list["inputSchema"]["properties"]["filters"]["properties"]["type"].is_object());
    assert!(list["description"].as_str().unwrap().contains("cursor"));
    assert!(list["outputSchema"]["$defs"]["ContactResource"].is_object());

    // Paged to the end with the cursor: Dialpad's contacts, each exactly once.
    let pages = out["pages"].as_array().unwrap();
    let mut got = Vec::new();
    for p in pages {
        assert_eq!(p["isError"], false, "{p}");
        let data = p["structured"]["data"].as_array().unwrap();
        assert!(data.len() <= 7);
        assert_eq!(p["structured"]["count"], data.len());
        for r in data {
            assert_eq!(r["model"], "genericContact");
            got.push(r["id"].as_str().unwrap().to_owned());
        }
        assert!(p["text"][0].as_str().unwrap().contains("record(s)"), "{p}");
    }
    assert_eq!(pages.len(), want.len().div_ceil(7));
    assert_eq!(got.len(), want.len(), "no record twice");
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>(),
        want.iter().collect::<BTreeSet<_>>()
    );
    let last = &pages.last().unwrap()["structured"];
    assert!(last["next"].is_null());

    let calls = out["calls"].as_array().unwrap();
    // Not granted to the session: which operation, as the resources API says it.
    let c = &calls[0];
    assert_eq!(c["isError"], true, "{c}");
    assert_eq!(c["structured"]["error"], "CONNECTION::MISSING_PERMISSION");
    assert_eq!(
        c["structured"]["details"]["operation"],
        "genericContact::create"
    );
    assert!(c["text"][0]
        .as_str()
        .unwrap()
        .starts_with("CONNECTION::MISSING_PERMISSION: "));
    // Granted without its scopes: the missing scopes and a fresh authorization URL.
    let c = &calls[1];
    assert_eq!(c["isError"], true, "{c}");
    assert_eq!(c["structured"]["error"], "CONNECTION::MISSING_PERMISSION");
    let d = &c["structured"]["details"];
    assert_eq!(d["operation"], "telephonyCall::list");
    assert!(d["missingScopes"]
        .as_array()
        .unwrap()
        .contains(&json!("calls:list")));
    assert!(d["authorizationUrl"]
        .as_str()
        .unwrap()
        .starts_with(&app.sim.base_url));
    // A read: the contact Dialpad has, with the fields asked for.
    let c = &calls[2];
    assert_eq!(c["isError"], false, "{c}");
    assert_eq!(c["structured"]["id"], first.as_str());
    let raw: Value = app
        .proxy(
            "o1",
            reqwest::Method::GET,
            &format!("/api/v2/contacts/{first}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["structured"]["fields"]["firstName"], raw["first_name"]);
    assert_eq!(c["structured"]["fields"]["lastName"], raw["last_name"]);
    assert!(c["structured"]["fields"].get("emails").is_none(), "{c}");
    // Bad arguments: tool errors with REQUEST::INVALID.
    for c in &calls[3..5] {
        assert_eq!(c["isError"], true, "{c}");
        assert_eq!(c["structured"]["error"], "REQUEST::INVALID", "{c}");
    }

    // Actions: their own schemas and hints.
    let tool = |name: &str| {
        out["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone()
    };
    let sms = tool("action_sendSms");
    assert_eq!(sms["annotations"]["readOnlyHint"], false, "{sms}");
    assert_eq!(sms["annotations"]["idempotentHint"], false);
    assert!(
        sms["inputSchema"]["properties"]["text"].is_object(),
        "{sms}"
    );
    assert!(sms["description"].as_str().unwrap().contains("rate limit"));
    assert_eq!(
        tool("action_listChannels")["annotations"]["readOnlyHint"],
        true
    );
    // A read action: Dialpad's channels.
    let c = &calls[5];
    assert_eq!(c["isError"], false, "{c}");
    let raw: Value = app
        .proxy("o1", reqwest::Method::GET, "/api/v2/channels")
        .await
        .json()
        .await
        .unwrap();
    let want_channels: BTreeSet<String> = raw["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| match &i["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let got_channels: BTreeSet<String> = c["structured"]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ch| ch["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!want_channels.is_empty());
    assert_eq!(got_channels, want_channels);
    // Invalid input: 422's code with every failing path.
    let c = &calls[6];
    assert_eq!(c["isError"], true, "{c}");
    assert_eq!(
        c["structured"]["error"], "RESOURCE::VALIDATION_FAILED",
        "{c}"
    );
    let paths: BTreeSet<&str> = c["structured"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains("text"), "{c}");
    assert!(paths.contains("toNumbers[0]"), "{c}");
    // A sent SMS: one request reached Dialpad (the invalid one none).
    let c = &calls[7];
    assert_eq!(c["isError"], false, "{c}");
    assert_eq!(
        app.sim.stats().requests.get("POST /api/v2/sms").copied(),
        Some(1)
    );
}

/// A JSON-RPC request to `/v1/mcp` with `headers`.
async fn rpc(app: &TestApp, headers: &[(&str, &str)], body: Value) -> crate::helpers::Response {
    let mut req = app
        .http
        .post(app.url("/v1/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// Request headers, name and value.
type Headers<'a> = Vec<(&'a str, &'a str)>;

fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
}

async fn auth_failures_answer_401_json_before_mcp(db: Db) {
    let app = app(db).await;
    let expired = app
        .store
        .create_session(&dpc_store::Session {
            connector_id: "dialpad".into(),
            owner_id: "o1".into(),
            operations: vec![],
            expires_at: chrono::Utc::now() - chrono::Duration::seconds(5),
            purpose: dpc_store::SessionPurpose::App,
            redirect_url: None,
            extra_scopes: vec![],
        })
        .await
        .unwrap();
    let expired = expired.expose_secret().to_owned();
    let bearer_expired = format!("Bearer {expired}");
    let cases: Vec<(Headers, StatusCode, &str)> = vec![
        (vec![], StatusCode::UNAUTHORIZED, "SESSION::INVALID"),
        (
            vec![("x-session-token", "nope")],
            StatusCode::UNAUTHORIZED,
            "SESSION::INVALID",
        ),
        (
            vec![("authorization", "Bearer nope")],
            StatusCode::UNAUTHORIZED,
            "SESSION::INVALID",
        ),
        (
            vec![("x-session-token", &expired)],
            StatusCode::UNAUTHORIZED,
            "SESSION::EXPIRED",
        ),
        (
            vec![("authorization", &bearer_expired)],
            StatusCode::UNAUTHORIZED,
            "SESSION::EXPIRED",
        ),
        (
            vec![
                ("x-api-secret", "sk_wrong"),
                ("x-connector-id", "dialpad"),
                ("x-owner-id", "o1"),
            ],
            StatusCode::UNAUTHORIZED,
            "AUTH::INVALID_API_KEY",
        ),
        (
            vec![("authorization", "Bearer sk_wrong"), ("x-owner-id", "o1")],
            StatusCode::UNAUTHORIZED,
            "AUTH::INVALID_API_KEY",
        ),
        // The right key without naming a connection.
        (
            vec![("x-api-secret", &app.api_key)],
            StatusCode::BAD_REQUEST,
            "REQUEST::INVALID",
        ),
        (
            vec![
                ("x-api-secret", &app.api_key),
                ("x-connector-id", "dialpad"),
                ("x-owner-id", "nobody"),
            ],
            StatusCode::NOT_FOUND,
            "CONNECTION::NOT_FOUND",
        ),
    ];
    for (headers, status, code) in cases {
        let r = rpc(&app, &headers, tools_list()).await;
        let (s, v) = error_code(r).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (status, Some(code)),
            "{headers:?}: {v}"
        );
        assert!(v["message"].is_string());
    }
    // The secret key with the connection headers: every tool of the connection's grants.
    let key_headers = [
        ("x-api-secret", app.api_key.as_str()),
        ("x-connector-id", "dialpad"),
        ("x-owner-id", "o1"),
    ];
    let r = rpc(&app, &key_headers, tools_list()).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let names: BTreeSet<&str> = v["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "genericContact_list",
            "genericContact_retrieve",
            "genericContact_create",
            "genericUser_list",
            "action_listChannels",
            "action_sendSms",
        ])
    );
    // `Bearer sk_…` is the secret key too.
    let bearer = format!("Bearer {}", app.api_key);
    let r = rpc(
        &app,
        &[
            ("authorization", &bearer),
            ("x-connector-id", "dialpad"),
            ("x-owner-id", "o1"),
        ],
        tools_list(),
    )
    .await;
    assert_eq!(r.status(), 200);
}

async fn json_rpc_edges_and_limits(db: Db) {
    let app = app(db).await;
    let token = session(&app, &["genericContact::list"]).await;
    let auth = [("x-session-token", token.as_str())];

    // Not JSON at all: JSON-RPC's parse error.
    let r = app
        .http
        .post(app.url("/v1/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("x-session-token", &token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["id"], Value::Null, "{v}");
    assert_eq!(v["error"]["code"], -32700, "{v}");
    assert_eq!(v["error"]["data"]["error"], "REQUEST::INVALID", "{v}");

    // A batch (MCP dropped them), a bare value, a message without `jsonrpc` or with a null id:
    // JSON-RPC's invalid request, with the reason.
    for (body, reason) in [
        (json!([tools_list(), tools_list()]), "batches"),
        (json!("tools/list"), "object"),
        (json!({"id": 1, "method": "tools/list"}), "2.0"),
        (
            json!({"jsonrpc": "2.0", "id": null, "method": "tools/list"}),
            "integer",
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}),
            "integer",
        ),
        (json!({"jsonrpc": "2.0", "id": 2, "method": 5}), "method"),
        (json!({"jsonrpc": "2.0", "id": 2}), "method"),
    ] {
        let r = rpc(&app, &auth, body.clone()).await;
        let (s, v) = error_code(r).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"]["code"], -32600, "{body}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(reason),
            "{body}: {v}"
        );
    }

    // `initialize` without its params: invalid params, not "method not found".
    let r = rpc(
        &app,
        &auth,
        json!({"jsonrpc": "2.0", "id": 9, "method": "initialize"}),
    )
    .await;
    let (s, v) = error_code(r).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["id"].clone(), v["error"]["code"].clone()),
        (json!(9), json!(-32602)),
        "{v}"
    );

    // A tool call whose arguments are not an object, or without a tool name: invalid params,
    // answered to its id.
    for params in [
        json!({"name": "genericContact_list", "arguments": ["q", "x"]}),
        json!({"name": "genericContact_list", "arguments": "q=x"}),
        json!({"name": 7, "arguments": {}}),
        json!(["genericContact_list"]),
    ] {
        let r = rpc(
            &app,
            &auth,
            json!({"jsonrpc": "2.0", "id": "a-1", "method": "tools/call", "params": params}),
        )
        .await;
        let (s, v) = error_code(r).await;
        assert_eq!(s, StatusCode::OK, "{params}: {v}");
        assert_eq!(v["id"], "a-1", "{v}");
        assert_eq!(v["error"]["code"], -32602, "{params}: {v}");
    }

    // tools/list gives every tool in one page and no cursor: a cursor it did not make is
    // invalid params, not the first page again.
    let r = rpc(
        &app,
        &auth,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"cursor": "forged"}}),
    )
    .await;
    let (s, v) = error_code(r).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert!(v["result"].is_null(), "{v}");
    let r = rpc(&app, &auth, tools_list()).await;
    let v: Value = r.json().await.unwrap();
    assert!(v["result"]["nextCursor"].is_null(), "{v}");
    assert!(!v["result"]["tools"].as_array().unwrap().is_empty(), "{v}");

    // A method MCP does not have: JSON-RPC's method-not-found error, not a crash.
    let r = rpc(
        &app,
        &auth,
        json!({"jsonrpc": "2.0", "id": 7, "method": "frobnicate", "params": {}}),
    )
    .await;
    let status = r.status();
    let text = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(
        v["error"]["code"].is_i64() || status.is_client_error(),
        "{status}: {text}"
    );

    // An unknown tool: a protocol error (MCP's rule), naming it.
    let r = rpc(
        &app,
        &auth,
        json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "genericContact_frobnicate", "arguments": {}}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("genericContact_frobnicate"));

    // A tool call works without an initialize (stateless), and a tool of another model the
    // session was not granted is a tool error naming the operation.
    let r = rpc(
        &app,
        &auth,
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "genericUser_list", "arguments": {}}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"]["isError"], true, "{v}");
    assert_eq!(
        v["result"]["structuredContent"]["details"]["operation"],
        "genericUser::list"
    );

    // Over the 1 MiB body limit: our 413 before MCP reads it.
    let big = json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "genericContact_list", "arguments": {"q": "x".repeat(1024 * 1024 + 10)}}});
    let r = rpc(&app, &auth, big).await;
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("REQUEST::TOO_LARGE"))
    );

    // Stateless: no event stream, no session to end.
    let r = app
        .http
        .get(app.url("/v1/mcp"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            Some("REQUEST::METHOD_NOT_ALLOWED")
        )
    );
    let r = app
        .http
        .delete(app.url("/v1/mcp"))
        .header("x-session-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // How to connect: the URL, the headers, a client configuration.
    for r in [
        app.http
            .get(app.url("/v1/s/mcp"))
            .header("x-session-token", &token)
            .send()
            .await
            .unwrap(),
        app.http.get(app.url("/v1/mcp")).send().await.unwrap(),
    ] {
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["url"], app.url("/v1/mcp"));
        assert_eq!(v["transport"], "streamable-http");
        assert_eq!(
            v["exampleClientConfig"]["mcpServers"]["dialpad"]["url"],
            app.url("/v1/mcp")
        );
        assert!(v["auth"].as_array().unwrap().len() >= 2);
    }
    let r = app.http.get(app.url("/v1/s/mcp")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// A side-effecting action tool takes `idempotencyKey` (the HTTP route's `Idempotency-Key`):
/// the same key and arguments answer the first result without a second Dialpad request; other
/// arguments under the key are a tool error; a read-only tool refuses a key.
async fn action_tools_take_an_idempotency_key(db: Db) {
    let app = app(db).await;
    let token = session(&app, &["action::sendSms", "action::listChannels"]).await;
    let auth = [("x-session-token", token.as_str())];
    let call = |args: Value| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "action_sendSms", "arguments": args}});
    let v: Value = rpc(&app, &auth, tools_list()).await.json().await.unwrap();
    let sms = v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "action_sendSms")
        .unwrap()
        .clone();
    assert_eq!(
        sms["inputSchema"]["properties"]["idempotencyKey"]["type"], "string",
        "{sms}"
    );
    assert!(
        sms["description"]
            .as_str()
            .unwrap()
            .contains("idempotencyKey"),
        "{sms}"
    );
    let channels = v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "action_listChannels")
        .unwrap()
        .clone();
    assert!(
        channels["inputSchema"]["properties"]["idempotencyKey"].is_null(),
        "{channels}"
    );

    let sent = || {
        app.sim
            .stats()
            .requests
            .get("POST /api/v2/sms")
            .copied()
            .unwrap_or(0)
    };
    let before = sent();
    let args = json!({"toNumbers": ["+14155550100"], "text": "once", "idempotencyKey": "k-1"});
    let first: Value = rpc(&app, &auth, call(args.clone()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["result"]["isError"], false, "{first}");
    let again: Value = rpc(&app, &auth, call(args)).await.json().await.unwrap();
    assert_eq!(again["result"]["isError"], false, "{again}");
    assert_eq!(
        again["result"]["structuredContent"], first["result"]["structuredContent"],
        "the first result, given again"
    );
    assert!(
        again["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("not called again"),
        "{again}"
    );
    assert_eq!(sent(), before + 1, "one SMS reached Dialpad");

    // Other arguments under the same key: a conflict, nothing sent.
    let other = json!({"toNumbers": ["+14155550100"], "text": "twice", "idempotencyKey": "k-1"});
    let v: Value = rpc(&app, &auth, call(other)).await.json().await.unwrap();
    assert_eq!(v["result"]["isError"], true, "{v}");
    assert_eq!(
        v["result"]["structuredContent"]["error"], "REQUEST::IDEMPOTENCY_CONFLICT",
        "{v}"
    );
    // A key that is not a string, and a key on a read-only tool.
    let bad = json!({"toNumbers": ["+14155550100"], "text": "x", "idempotencyKey": 7});
    let v: Value = rpc(&app, &auth, call(bad)).await.json().await.unwrap();
    assert_eq!(
        v["result"]["structuredContent"]["error"], "REQUEST::INVALID",
        "{v}"
    );
    let v: Value = rpc(
        &app,
        &auth,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "action_listChannels", "arguments": {"idempotencyKey": "k"}}}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        v["result"]["structuredContent"]["error"], "REQUEST::INVALID",
        "{v}"
    );
    assert_eq!(sent(), before + 1);
}

/// Custom models (`DPC_CUSTOM_MODELS`) get tools for their declared, granted operations, run
/// through the same `/v1/resources` code as the HTTP API.
async fn custom_models_have_tools(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let db_url = match db {
        Db::Sqlite => format!("sqlite://{}", dir.path().join("dpc.db").display()),
        Db::Postgres(url) => url,
    };
    let models = r#"[
      {"name": "dialpadChannel", "description": "Dialpad channels", "list": "/api/v2/channels",
       "retrieve": "/api/v2/channels/{id}", "create": "/api/v2/channels",
       "fields": {"name": "name", "description": "description", "privacy": "privacy_type"}},
      {"name": "dialpadCallLabel", "list": "/api/v2/calllabels", "items": "labels",
       "id_field": "value", "fields": {"name": "value"}}
    ]"#;
    let sim = SimConfig {
        auto_consent: true,
        ..Default::default()
    };
    let app = spawn_on_with_env(sim, &db_url, dir, &[("DPC_CUSTOM_MODELS", models)]).await;
    app.connect(
        "o1",
        &[
            "dialpadChannel::list",
            "dialpadChannel::retrieve",
            "dialpadChannel::create",
            "dialpadCallLabel::list",
        ],
    )
    .await;
    let token = session(
        &app,
        &[
            "dialpadChannel::list",
            "dialpadChannel::retrieve",
            "dialpadChannel::create",
        ],
    )
    .await;
    let auth = [("x-session-token", token.as_str())];
    let v: Value = rpc(&app, &auth, tools_list()).await.json().await.unwrap();
    let tools = v["result"]["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    // The session's operations only (not the connection's call labels), and no tool for an
    // operation the model does not declare (update, delete).
    assert_eq!(
        names,
        vec![
            "dialpadChannel_create",
            "dialpadChannel_list",
            "dialpadChannel_retrieve"
        ],
        "{v}"
    );
    let create = tools
        .iter()
        .find(|t| t["name"] == "dialpadChannel_create")
        .unwrap();
    assert!(
        create["inputSchema"]["properties"]["fields"]["properties"]["privacy"].is_object(),
        "{create}"
    );
    assert_eq!(create["annotations"]["readOnlyHint"], false, "{create}");
    let call = |name: &str, args: Value| json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": name, "arguments": args}});
    let v: Value = rpc(
        &app,
        &auth,
        call("dialpadChannel_create", json!({"fields": {"name": "agents", "description": "made by an agent", "privacy": "public"}})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["result"]["isError"], false, "{v}");
    let id = v["result"]["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        v["result"]["structuredContent"]["fields"]["name"], "agents",
        "{v}"
    );
    assert!(app
        .sim
        .sim
        .db()
        .read()
        .channels
        .contains_key(&id.parse::<i64>().unwrap()));
    let v: Value = rpc(
        &app,
        &auth,
        call(
            "dialpadChannel_retrieve",
            json!({"id": id, "fields": ["name"]}),
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        v["result"]["structuredContent"]["fields"],
        json!({"name": "agents"}),
        "{v}"
    );
    // Every channel once, one per page.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"limit": 1});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let v: Value = rpc(&app, &auth, call("dialpadChannel_list", args))
            .await
            .json()
            .await
            .unwrap();
        let page = &v["result"]["structuredContent"];
        assert_eq!(v["result"]["isError"], false, "{v}");
        for r in page["data"].as_array().unwrap() {
            seen.push(r["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let want = app.sim.sim.db().read().channels.len();
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (want, want), "{seen:?}");
    assert!(seen.contains(&id));
    // An undeclared operation, and a model nobody declared: unknown tools.
    for name in ["dialpadChannel_update", "dialpadThing_list"] {
        let v: Value = rpc(&app, &auth, call(name, json!({})))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["error"]["code"], -32602, "{name}: {v}");
    }
    // Granted to the connection, not the session: a tool error naming the operation.
    let v: Value = rpc(&app, &auth, call("dialpadCallLabel_list", json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["result"]["isError"], true, "{v}");
    assert_eq!(
        v["result"]["structuredContent"]["details"]["operation"], "dialpadCallLabel::list",
        "{v}"
    );
}
