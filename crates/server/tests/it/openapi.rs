//! Real answers validated against the generated OpenAPI document: the server against the
//! simulator, a representative call of every route family (connections, sessions,
//! authorization, connector info, resources of each model with their `/v1/s/` twins, fields,
//! field mappings, errors), each answer checked by the shared validator (`checked`, which every
//! other test's client uses too) against what the document gives for that route, method and
//! status (an undocumented status fails); the validator refusing drifts; every documented route
//! answered by the router; and each model's write body schema.

use dialpad_sim::SimConfig;
use reqwest::header::HeaderMap;
use reqwest::Method as M;
use serde_json::{json, Value};

use crate::checked::{document, Document, Exchange};
use crate::helpers::{spawn_on_with_env, TestApp};

const OPS: &[&str] = &[
    "genericContact::list",
    "genericContact::retrieve",
    "genericContact::create",
    "genericContact::update",
    "genericContact::delete",
    "genericUser::list",
    "genericUser::retrieve",
    "genericWorkspace::list",
    "genericWorkspace::retrieve",
    "genericWorkspace::create",
    "telephonyCall::list",
    "telephonyCall::retrieve",
    "telephonyCall::create",
    "telephonyCallTranscript::list",
    "telephonyCallTranscript::retrieve",
];

struct Checker {
    doc: &'static Document,
    app: TestApp,
    session: Option<String>,
    failures: Vec<String>,
    checked: usize,
}

#[derive(Clone, Copy)]
enum Auth {
    None,
    Key,
    /// The key and the connection headers of owner `o1`.
    KeyConn,
    Session,
}

impl Checker {
    /// Calls `path` (documented as `template`) and validates the answer with the shared
    /// validator (`checked`), collecting failures rather than stopping at the first; returns
    /// the body.
    async fn call(
        &mut self,
        method: M,
        template: &str,
        path: &str,
        auth: Auth,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .app
            .http
            .raw()
            .request(method.clone(), self.app.url(path));
        match auth {
            Auth::None => {}
            Auth::Key => r = r.header("x-api-secret", &self.app.api_key),
            Auth::KeyConn => {
                r = r
                    .header("x-api-secret", &self.app.api_key)
                    .header("x-connector-id", "dialpad")
                    .header("x-owner-id", "o1")
            }
            Auth::Session => {
                r = r.header("x-session-token", self.session.clone().unwrap_or_default())
            }
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        self.checked += 1;
        let what = format!("{method} {path} → {}", status.as_u16());
        let x = Exchange {
            method: &method,
            path: path.split('?').next().unwrap_or_default(),
            request_headers: &HeaderMap::new(),
            status,
            headers: &headers,
            body: &bytes,
        };
        match self.doc.check(&x) {
            Ok(Some(t)) if t == template => {}
            Ok(other) => self.failures.push(format!(
                "{what}: checked as {other:?}, not as the documented {template}"
            )),
            Err(e) => self.failures.push(e),
        }
        (status.as_u16(), value)
    }
}

#[tokio::test]
async fn real_answers_match_the_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("dpc.db").display());
    let app = spawn_on_with_env(
        SimConfig {
            auto_consent: true,
            call_history: 12,
            ..Default::default()
        },
        &db_url,
        dir,
        &[],
    )
    .await;
    // The served document is the generated one.
    let served: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, dpc_server::openapi::document());
    let mut c = Checker {
        doc: document(),
        app,
        session: None,
        failures: Vec::new(),
        checked: 0,
    };
    let conn = "/v1/connections/{connectorId}/{ownerId}";

    // Operations.
    c.call(M::GET, "/healthz", "/healthz", Auth::None, None)
        .await;
    c.call(M::GET, "/readyz", "/readyz", Auth::None, None).await;
    c.call(M::GET, "/metrics", "/metrics", Auth::None, None)
        .await;

    // Connections.
    c.call(
        M::POST,
        conn,
        "/v1/connections/dialpad/o1",
        Auth::Key,
        Some(json!({"operations": OPS})),
    )
    .await;
    c.call(
        M::POST,
        conn,
        "/v1/connections/dialpad/o1",
        Auth::Key,
        Some(json!({})),
    )
    .await; // 409
    c.call(
        M::POST,
        conn,
        "/v1/connections/other/o1",
        Auth::Key,
        Some(json!({})),
    )
    .await; // 404
    c.call(
        M::POST,
        conn,
        "/v1/connections/dialpad/o2",
        Auth::Key,
        Some(json!({"operations": ["nope::list"]})),
    )
    .await; // 400
    c.call(M::GET, conn, "/v1/connections/dialpad/o1", Auth::Key, None)
        .await;
    c.call(
        M::GET,
        conn,
        "/v1/connections/dialpad/missing",
        Auth::Key,
        None,
    )
    .await; // 404
    c.call(M::GET, conn, "/v1/connections/dialpad/o1", Auth::None, None)
        .await; // 401
    c.call(
        M::PATCH,
        conn,
        "/v1/connections/dialpad/o1",
        Auth::Key,
        Some(json!({"operations": OPS})),
    )
    .await;
    c.call(
        M::GET,
        "/v1/connections",
        "/v1/connections?limit=1",
        Auth::Key,
        None,
    )
    .await;
    c.call(
        M::GET,
        "/v1/connections",
        "/v1/connections?limit=0",
        Auth::Key,
        None,
    )
    .await; // 400
    c.call(
        M::GET,
        "/v1/connectors/{connectorId}",
        "/v1/connectors/dialpad",
        Auth::Key,
        None,
    )
    .await;

    // Authorization, then the consent and callback.
    let (_, a) = c
        .call(
            M::POST,
            "/v1/connections/{connectorId}/{ownerId}/authorization",
            "/v1/connections/dialpad/o1/authorization",
            Auth::Key,
            Some(json!({})),
        )
        .await;
    c.call(
        M::POST,
        "/v1/connections/{connectorId}/{ownerId}/authorization",
        "/v1/connections/dialpad/o1/authorization?mode=connect",
        Auth::Key,
        None,
    )
    .await;
    c.call(
        M::POST,
        "/v1/connections/{connectorId}/{ownerId}/authorization",
        "/v1/connections/dialpad/o1/authorization?mode=other",
        Auth::Key,
        None,
    )
    .await; // 400
    let url = a["authorizationUrl"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let callback = c.app.consent(&url).await;
    let r = c.app.http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 200);
    c.call(
        M::POST,
        "/v1/connections/{connectorId}/{ownerId}/authorization",
        "/v1/connections/dialpad/o1/authorization",
        Auth::Key,
        None,
    )
    .await; // authorized

    // Sessions and the session routes.
    let (_, s) = c
        .call(
            M::POST,
            "/v1/connections/{connectorId}/{ownerId}/sessions",
            "/v1/connections/dialpad/o1/sessions",
            Auth::Key,
            Some(json!({"expiresIn": 600})),
        )
        .await;
    c.call(
        M::POST,
        "/v1/connections/{connectorId}/{ownerId}/sessions",
        "/v1/connections/dialpad/o1/sessions",
        Auth::Key,
        Some(json!({"expiresIn": 1})),
    )
    .await; // 400
    c.session = s["sessionToken"].as_str().map(str::to_owned);
    c.call(
        M::GET,
        "/v1/s/connection",
        "/v1/s/connection",
        Auth::Session,
        None,
    )
    .await;
    c.call(
        M::GET,
        "/v1/s/connection",
        "/v1/s/connection",
        Auth::None,
        None,
    )
    .await; // 401
    c.call(
        M::GET,
        "/v1/s/connector",
        "/v1/s/connector",
        Auth::Session,
        None,
    )
    .await;
    c.call(M::GET, "/v1/s/mcp", "/v1/s/mcp", Auth::Session, None)
        .await;
    c.call(M::GET, "/v1/mcp", "/v1/mcp", Auth::None, None).await;
    c.call(M::POST, "/v1/mcp", "/v1/mcp", Auth::None, None)
        .await; // 401
    c.call(
        M::POST,
        "/v1/mcp",
        "/v1/mcp",
        Auth::KeyConn,
        Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
    )
    .await; // 406: the checker sends no `Accept`
    c.call(
        M::POST,
        "/v1/s/connection/authorization",
        "/v1/s/connection/authorization",
        Auth::Session,
        None,
    )
    .await;

    // Fields and field mappings.
    for m in [
        "genericContact",
        "genericUser",
        "genericWorkspace",
        "telephonyCall",
        "telephonyCallTranscript",
    ] {
        c.call(
            M::GET,
            "/v1/models/{model}/fields",
            &format!("/v1/models/{m}/fields?limit=100"),
            Auth::Key,
            None,
        )
        .await;
    }
    c.call(
        M::GET,
        "/v1/models/{model}/fields",
        "/v1/models/genericContact/fields?limit=2&isCustom=true",
        Auth::Key,
        None,
    )
    .await;
    c.call(
        M::GET,
        "/v1/s/models/{model}/fields",
        "/v1/s/models/genericUser/fields",
        Auth::Session,
        None,
    )
    .await;
    c.call(
        M::GET,
        "/v1/models/{model}/fields",
        "/v1/models/nope/fields",
        Auth::Key,
        None,
    )
    .await; // 404
    let fm = "/v1/connections/{connectorId}/{ownerId}/field-mappings/{model}";
    c.call(
        M::GET,
        fm,
        "/v1/connections/dialpad/o1/field-mappings/genericContact",
        Auth::Key,
        None,
    )
    .await;
    c.call(
        M::PUT,
        fm,
        "/v1/connections/dialpad/o1/field-mappings/genericContact",
        Auth::Key,
        Some(json!({"mappings": [{"key": "trunkGroup", "path": "trunk_group"}]})),
    )
    .await;
    c.call(
        M::PUT,
        fm,
        "/v1/connections/dialpad/o1/field-mappings/genericContact",
        Auth::Key,
        Some(json!({"mappings": [{"key": "bad key", "path": ""}]})),
    )
    .await; // 422
    c.call(
        M::GET,
        fm,
        "/v1/connections/dialpad/o1/field-mappings/genericContact",
        Auth::Key,
        None,
    )
    .await;

    // Resources: list, retrieve (with expand and raw) for each model, both surfaces.
    let list = "/v1/resources/{model}";
    let one = "/v1/resources/{model}/{id}";
    for m in [
        "genericContact",
        "genericUser",
        "genericWorkspace",
        "telephonyCall",
        "telephonyCallTranscript",
    ] {
        let (_, page) = c
            .call(
                M::GET,
                list,
                &format!("/v1/resources/{m}?limit=3"),
                Auth::KeyConn,
                None,
            )
            .await;
        let Some(id) = page["data"][0]["id"].as_str().map(str::to_owned) else {
            c.failures.push(format!("{m}: empty list"));
            continue;
        };
        c.call(
            M::GET,
            one,
            &format!("/v1/resources/{m}/{id}?raw=true"),
            Auth::KeyConn,
            None,
        )
        .await;
        c.call(
            M::GET,
            "/v1/s/resources/{model}",
            &format!("/v1/s/resources/{m}?limit=2"),
            Auth::Session,
            None,
        )
        .await;
        c.call(
            M::GET,
            "/v1/s/resources/{model}/{id}",
            &format!("/v1/s/resources/{m}/{id}"),
            Auth::Session,
            None,
        )
        .await;
    }
    c.call(
        M::GET,
        list,
        "/v1/resources/telephonyCall?limit=2&expand=users,contacts",
        Auth::KeyConn,
        None,
    )
    .await;
    c.call(
        M::GET,
        list,
        "/v1/resources/genericUser?limit=2&expand=workspace&fields=email,workspace",
        Auth::KeyConn,
        None,
    )
    .await;
    let (_, t) = c
        .call(
            M::GET,
            list,
            "/v1/resources/telephonyCallTranscript?limit=1",
            Auth::KeyConn,
            None,
        )
        .await;
    if let Some(id) = t["data"][0]["id"].as_str() {
        c.call(
            M::GET,
            one,
            &format!("/v1/resources/telephonyCallTranscript/{id}?expand=recap,call"),
            Auth::KeyConn,
            None,
        )
        .await;
    }

    // Writes.
    let (_, created) = c
        .call(
            M::POST,
            list,
            "/v1/resources/genericContact",
            Auth::KeyConn,
            Some(json!({"firstName": "Ada", "lastName": "Lovelace", "phone": "+1 415 555 0142"})),
        )
        .await;
    c.call(
        M::POST,
        list,
        "/v1/resources/genericContact?returnResource=true&raw=true",
        Auth::KeyConn,
        Some(json!({"firstName": "Grace", "lastName": "Hopper", "email": "grace@example.com"})),
    )
    .await;
    c.call(
        M::POST,
        "/v1/s/resources/{model}",
        "/v1/s/resources/genericContact",
        Auth::Session,
        Some(json!({"firstName": "Alan", "lastName": "Turing"})),
    )
    .await;
    c.call(
        M::POST,
        list,
        "/v1/resources/genericContact",
        Auth::KeyConn,
        Some(json!({"nope": 1})),
    )
    .await; // 422
    if let Some(id) = created["id"].as_str() {
        c.call(
            M::PATCH,
            one,
            &format!("/v1/resources/genericContact/{id}?returnResource=true"),
            Auth::KeyConn,
            Some(json!({"jobTitle": "Countess"})),
        )
        .await;
        c.call(
            M::PATCH,
            one,
            &format!("/v1/resources/genericContact/{id}"),
            Auth::KeyConn,
            Some(json!({"jobTitle": "Mathematician"})),
        )
        .await;
        c.call(
            M::DELETE,
            one,
            &format!("/v1/resources/genericContact/{id}"),
            Auth::KeyConn,
            None,
        )
        .await;
    }
    c.call(
        M::POST,
        list,
        "/v1/resources/genericWorkspace",
        Auth::KeyConn,
        Some(json!({"name": "Branch", "country": "us", "timezone": "America/New_York"})),
    )
    .await;
    let (_, me) = c
        .call(
            M::GET,
            one,
            "/v1/resources/genericUser/me",
            Auth::KeyConn,
            None,
        )
        .await;
    c.call(
        M::POST,
        list,
        "/v1/resources/telephonyCall",
        Auth::KeyConn,
        Some(json!({"user": me["id"], "phone": "+1 (415) 555-0199"})),
    )
    .await;

    // Resource errors.
    c.call(M::GET, list, "/v1/resources/nope", Auth::KeyConn, None)
        .await; // 404 model
    c.call(
        M::GET,
        one,
        "/v1/resources/genericContact/999999999",
        Auth::KeyConn,
        None,
    )
    .await; // 404
    c.call(
        M::GET,
        list,
        "/v1/resources/genericContact?limit=500",
        Auth::KeyConn,
        None,
    )
    .await; // 400
    c.call(
        M::GET,
        list,
        "/v1/resources/genericUser?filters[bogus]=1",
        Auth::KeyConn,
        None,
    )
    .await; // 400
    c.call(
        M::POST,
        list,
        "/v1/resources/genericUser",
        Auth::KeyConn,
        Some(json!({"email": "x@example.com"})),
    )
    .await; // 403
    c.call(
        M::DELETE,
        one,
        "/v1/resources/telephonyCallTranscript/1",
        Auth::KeyConn,
        None,
    )
    .await; // 501
    c.call(
        M::GET,
        list,
        "/v1/resources/genericContact",
        Auth::Key,
        None,
    )
    .await; // 400 headers
    c.call(
        M::GET,
        "/v1/s/resources/{model}",
        "/v1/s/resources/genericContact",
        Auth::None,
        None,
    )
    .await; // 401

    // The proxy's own errors (Dialpad's answers are Dialpad's).
    c.call(
        M::GET,
        "/v1/proxy/{path}",
        "/v1/proxy/api/v2/users/me",
        Auth::KeyConn,
        None,
    )
    .await;
    c.call(
        M::GET,
        "/v1/proxy/{path}",
        "/v1/proxy/api/v2/users/me",
        Auth::Key,
        None,
    )
    .await; // 400

    // Deletes last.
    c.call(
        M::DELETE,
        fm,
        "/v1/connections/dialpad/o1/field-mappings/genericContact",
        Auth::Key,
        None,
    )
    .await;
    c.call(M::POST, conn, "/v1/connections/dialpad/o3", Auth::Key, None)
        .await;
    c.call(
        M::DELETE,
        conn,
        "/v1/connections/dialpad/o3",
        Auth::Key,
        None,
    )
    .await;
    c.call(
        M::DELETE,
        "/v1/s/connection",
        "/v1/s/connection",
        Auth::Session,
        None,
    )
    .await;

    // The validator can fail: answers that drift from the document in each way it checks.
    let json_type = |h: &mut HeaderMap, t: &'static str| {
        h.insert("content-type", reqwest::header::HeaderValue::from_static(t));
    };
    let mut jh = HeaderMap::new();
    json_type(&mut jh, "application/json");
    let mut html = HeaderMap::new();
    json_type(&mut html, "text/html; charset=utf-8");
    let none = HeaderMap::new();
    let drifts: Vec<(&str, M, &str, u16, &HeaderMap, Value)> = vec![
        (
            "an unknown error code",
            M::GET,
            "/v1/connections/dialpad/o1",
            404,
            &jh,
            json!({"error": "NOPE::NOPE", "message": "m"}),
        ),
        (
            "a connection without `object`",
            M::GET,
            "/v1/connections/dialpad/o1",
            200,
            &jh,
            json!({"connectorId": "dialpad"}),
        ),
        (
            "an undocumented status",
            M::GET,
            "/v1/connections/dialpad/o1",
            418,
            &jh,
            json!({"error": "REQUEST::INVALID", "message": "m"}),
        ),
        (
            "HTML where JSON is documented",
            M::GET,
            "/healthz",
            200,
            &html,
            json!("<p>ok</p>"),
        ),
        (
            "a resource of a model with another model's fields",
            M::GET,
            "/v1/resources/genericContact/1",
            200,
            &jh,
            json!({"object": "resource", "model": "genericContact", "id": "1",
                   "fields": {"firstName": 3}, "createdAt": null, "updatedAt": null}),
        ),
        (
            "an undocumented route answered",
            M::GET,
            "/v1/nope",
            200,
            &jh,
            json!({}),
        ),
        (
            "an undocumented method answered",
            M::PUT,
            "/healthz",
            200,
            &jh,
            json!({"status": "ok"}),
        ),
        (
            "a CORS preflight without Access-Control-Allow-Origin",
            M::OPTIONS,
            "/v1/s/connection",
            200,
            &none,
            Value::Null,
        ),
    ];
    let mut preflight = HeaderMap::new();
    preflight.insert(
        "access-control-request-method",
        reqwest::header::HeaderValue::from_static("GET"),
    );
    for (what, method, path, status, headers, body) in drifts {
        let bytes = match &body {
            Value::Null => Vec::new(),
            Value::String(s) => s.clone().into_bytes(),
            v => serde_json::to_vec(v).unwrap(),
        };
        let x = Exchange {
            method: &method,
            path,
            request_headers: if method == M::OPTIONS {
                &preflight
            } else {
                &none
            },
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            headers,
            body: &bytes,
        };
        assert!(c.doc.check(&x).is_err(), "{what} passed the validator");
    }
    assert!(c.checked > 80, "only {} answers checked", c.checked);

    assert!(
        c.failures.is_empty(),
        "{} of {} answers do not match openapi.json:\n{}",
        c.failures.len(),
        c.checked,
        c.failures.join("\n")
    );
}

/// Every route the document names exists in the router (no `REQUEST::NOT_FOUND` or 405).
#[tokio::test]
async fn every_documented_route_is_served() {
    let app = crate::helpers::spawn_app().await;
    let doc = dpc_server::openapi::document();
    let mut missing = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = template
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let m = M::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app.http.request(m, app.url(&path)).send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if status == 405 || body["error"] == "REQUEST::NOT_FOUND" {
                missing.push(format!("{method} {template} → {status}"));
            }
        }
    }
    assert!(missing.is_empty(), "documented but not routed: {missing:?}");
}

/// The tests' client fails whichever test gets an answer off the document: here the
/// simulator's (Dialpad's) answer to a route the connector does not have, checked as if it
/// were the connector's.
#[tokio::test]
#[should_panic(expected = "an answer that does not match openapi.json")]
async fn the_test_client_fails_the_test_on_an_answer_off_the_document() {
    let sim = dialpad_sim::spawn(SimConfig::default()).await.unwrap();
    let http = crate::checked::Http::new(reqwest::Client::new(), []);
    let r = http
        .get(format!("{}/api/v2/users", sim.base_url))
        .send()
        .await;
    drop(r);
}

/// Each writable model's create and update bodies have their own schema (the core's `*Write`
/// structs), which the resources routes take, and which agrees with what the core accepts.
#[test]
fn each_writable_model_has_its_write_schema() {
    use dpc_core::models::{call, contact, parse_write, user, workspace};
    let doc = document();
    let schemas = &doc.doc["components"]["schemas"];
    for (path, method, body) in [
        ("/v1/resources/{model}", "post", "CreateBody"),
        ("/v1/s/resources/{model}", "post", "CreateBody"),
        ("/v1/resources/{model}/{id}", "patch", "UpdateBody"),
        ("/v1/s/resources/{model}/{id}", "patch", "UpdateBody"),
    ] {
        assert_eq!(
            doc.doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
                ["$ref"],
            format!("#/components/schemas/{body}"),
            "{method} {path}"
        );
    }
    let refs = |body: &str| -> Vec<String> {
        schemas[body]["anyOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["$ref"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        refs("CreateBody"),
        [
            "ContactWrite",
            "UserWrite",
            "WorkspaceWrite",
            "CallCreate",
            "CustomWrite"
        ]
    );
    assert_eq!(
        refs("UpdateBody"),
        [
            "ContactWrite",
            "UserWrite",
            "WorkspaceWrite",
            "CallUpdate",
            "CustomWrite"
        ]
    );
    type Parse = fn(&Value) -> bool;
    let cases: [(&str, Parse, Value, Value); 5] = [
        (
            "ContactWrite",
            |v| parse_write::<contact::ContactWrite>(v).is_ok(),
            json!({"firstName": "Ada", "lastName": "Lovelace", "phones": ["+14155550100"], "owner": {"id": 7}}),
            json!({"firstName": 3}),
        ),
        (
            "UserWrite",
            |v| parse_write::<user::UserWrite>(v).is_ok(),
            json!({"email": "grace@example.com", "workspace": "123", "isSuperAdmin": false}),
            json!({"isSuperAdmin": "yes"}),
        ),
        (
            "WorkspaceWrite",
            |v| parse_write::<workspace::WorkspaceWrite>(v).is_ok(),
            json!({"name": "Branch", "country": "us", "hours": {"monday": ["09:00", "17:00"]},
                   "dialpad": {"currency": "USD"}}),
            json!({"hoursOn": "yes"}),
        ),
        (
            "CallCreate",
            |v| parse_write::<call::CallCreate>(v).is_ok(),
            json!({"user": 42, "phone": "+1 415 555 0199"}),
            json!({"user": true}),
        ),
        (
            "CallUpdate",
            |v| parse_write::<call::CallUpdate>(v).is_ok(),
            json!({"labels": ["vip"]}),
            json!({"labels": "vip"}),
        ),
    ];
    for (name, parses, good, bad) in cases {
        let schema = json!({"$ref": format!("#/components/schemas/{name}")});
        assert_eq!(doc.validate(name, &schema, &good), Ok(()), "{name}: {good}");
        assert!(parses(&good), "the core refuses {good} ({name})");
        assert!(doc.validate(name, &schema, &bad).is_err(), "{name}: {bad}");
        assert!(!parses(&bad), "the core accepts {bad} ({name})");
    }
}
