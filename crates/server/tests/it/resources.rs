//! The unified resources API (`/v1/resources/…`, `/v1/s/resources/…`) through the real server
//! against the simulator: pagination to the end for several limits (each record exactly once,
//! compared with Dialpad's own list through the proxy), filters, search, fields, expand, raw,
//! CRUD round trips, unsupported operations, permissions, cursors and bad input. Every test runs
//! on SQLite and on PostgreSQL (`on_both_backends!`).

use std::collections::BTreeSet;

use dialpad_sim::SimConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_on_with_env, Response, TestApp};

/// Every operation of the five models (those Dialpad supports).
const ALL_OPS: &[&str] = &[
    "genericContact::list",
    "genericContact::retrieve",
    "genericContact::create",
    "genericContact::update",
    "genericContact::delete",
    "genericUser::list",
    "genericUser::retrieve",
    "genericUser::create",
    "genericUser::update",
    "genericUser::delete",
    "genericWorkspace::list",
    "genericWorkspace::retrieve",
    "genericWorkspace::create",
    "genericWorkspace::update",
    "telephonyCall::list",
    "telephonyCall::retrieve",
    "telephonyCall::create",
    "telephonyCall::update",
    "telephonyCallTranscript::list",
    "telephonyCallTranscript::retrieve",
];

/// The database a test runs on.
pub enum Db {
    /// A fresh SQLite file in a temp directory.
    Sqlite,
    /// The fresh PostgreSQL database `with_postgres` made for this test alone.
    Postgres(String),
}

/// The app on `db` with `sim` and extra `DPC_…` settings.
async fn spawn(db: Db, sim: SimConfig, settings: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_url = match db {
        Db::Sqlite => format!("sqlite://{}", dir.path().join("dpc.db").display()),
        Db::Postgres(url) => url,
    };
    spawn_on_with_env(sim, &db_url, dir, settings).await
}

/// The app with `o1` connected for every operation. A small call history keeps lists to the
/// end fast under the client's pacing (19 req/s).
async fn app(db: Db) -> TestApp {
    let app = spawn(
        db,
        SimConfig {
            auto_consent: true,
            call_history: 40,
            ..Default::default()
        },
        &[],
    )
    .await;
    app.connect("o1", ALL_OPS).await;
    app
}

/// Each test body below, as a test on SQLite (`resources::sqlite::…`) and one on PostgreSQL
/// (`resources::postgres::…`, on a database of its own, so they run in parallel; skipped when
/// `TEST_DATABASE_URL` is unset).
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
    lists_to_the_end_yield_every_record_once_for_every_limit,
    transcripts_list_the_transcribed_calls,
    contact_round_trip_and_search,
    users_workspaces_and_me,
    workspace_create_then_retrieve_and_list,
    calls_filters_expand_and_cache,
    single_call_reads_answer_rate_limited_instead_of_waiting_a_minute,
    unsupported_operations_and_bad_input,
    cursors_are_signed_and_bound_to_their_list,
    permissions_are_checked_per_operation,
    session_routes_serve_the_same_resources,
    connector_info_and_fields_describe_every_model,
    user_round_trip_and_calls_placed_and_labelled,
    field_mappings_add_read_and_written_fields,
    custom_models_are_served_like_the_unified_ones,
    dialpad_refusals_map_to_stable_codes,
);

impl TestApp {
    pub(crate) async fn res(
        &self,
        owner: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut r = self
            .http
            .request(method, self.url(&format!("/v1/resources/{path}")))
            .header("x-api-secret", &self.api_key)
            .header("x-connector-id", "dialpad")
            .header("x-owner-id", owner);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    async fn res_get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.res("o1", reqwest::Method::GET, path, None).await;
        let s = r.status();
        (s, r.json().await.unwrap())
    }

    /// Every id of a Dialpad list, following Dialpad's cursor through the proxy.
    async fn dialpad_ids(&self, path: &str, id_key: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let p = match &cursor {
                Some(c) => format!("{path}{sep}cursor={c}"),
                None => path.to_owned(),
            };
            let r = self.proxy("o1", reqwest::Method::GET, &p).await;
            assert_eq!(r.status(), 200, "{p}");
            let v: Value = r.json().await.unwrap();
            for i in v["items"].as_array().unwrap() {
                out.push(match &i[id_key] {
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

    /// Every id of a unified list at `limit`, following `next`.
    async fn unified_ids(&self, model_and_query: &str, limit: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        let sep = if model_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        for _ in 0..10_000 {
            let mut p = format!("{model_and_query}{sep}limit={limit}");
            if let Some(n) = &next {
                p.push_str(&format!("&cursor={n}"));
            }
            let (s, v) = self.res_get(&p).await;
            assert_eq!(s, 200, "{p}: {v}");
            let data = v["data"].as_array().unwrap();
            assert!(data.len() <= limit);
            for r in data {
                assert_eq!(r["object"], "resource");
                out.push(r["id"].as_str().unwrap().to_owned());
            }
            match v["next"].as_str() {
                Some(n) => next = Some(n.to_owned()),
                None => return out,
            }
        }
        panic!("no end");
    }
}

fn exactly_once(ids: &[String]) -> BTreeSet<String> {
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "a record came twice");
    set
}

async fn lists_to_the_end_yield_every_record_once_for_every_limit(db: Db) {
    let app = app(db).await;
    for (model, dialpad, key) in [
        ("genericContact", "/api/v2/contacts", "id"),
        ("genericUser", "/api/v2/users", "id"),
        ("genericWorkspace", "/api/v2/offices", "id"),
        ("telephonyCall", "/api/v2/call", "call_id"),
    ] {
        let want: BTreeSet<String> = app.dialpad_ids(dialpad, key).await.into_iter().collect();
        assert!(!want.is_empty(), "{model}: the simulator seeds some");
        for limit in [1, 7, 100] {
            let got = app.unified_ids(model, limit).await;
            assert_eq!(exactly_once(&got), want, "{model} limit {limit}");
        }
    }
}

async fn transcripts_list_the_transcribed_calls(db: Db) {
    let app = app(db).await;
    let calls = app.dialpad_ids("/api/v2/call", "call_id").await;
    let mut transcribed = BTreeSet::new();
    for id in &calls {
        let r = app
            .proxy(
                "o1",
                reqwest::Method::GET,
                &format!("/api/v2/transcripts/{id}"),
            )
            .await;
        if r.status() == 200 {
            transcribed.insert(id.clone());
        }
    }
    assert!(!transcribed.is_empty());
    for limit in [1, 7] {
        let got = app.unified_ids("telephonyCallTranscript", limit).await;
        assert_eq!(exactly_once(&got), transcribed, "limit {limit}");
    }
    let id = transcribed.iter().next().unwrap();
    let (s, t) = app
        .res_get(&format!("telephonyCallTranscript/{id}?expand=call,recap"))
        .await;
    assert_eq!(s, 200, "{t}");
    let f = &t["fields"];
    assert!(!f["segments"].as_array().unwrap().is_empty());
    assert!(f["segments"][0]["start"].is_number());
    assert!(f["speakers"].as_array().unwrap().len() >= 2);
    assert_eq!(f["call"]["object"], "resource", "expanded: {t}");
    assert_eq!(f["call"]["id"], id.as_str());
    assert!(f["recap"]["summary"].is_string(), "{t}");
    assert!(t.get("warnings").is_none(), "{t}");
}

async fn contact_round_trip_and_search(db: Db) {
    let app = app(db).await;
    use reqwest::Method as M;
    let r = app
        .res(
            "o1",
            M::POST,
            "genericContact?returnResource=true",
            Some(json!({
                "firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com",
                "phone": "(415) 555-0142", "companyName": "Analytical"
            })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["object"], "resource");
    assert_eq!(created["fields"]["phone"], "+14155550142");
    let id = created["id"].as_str().unwrap().to_owned();

    let (s, got) = app.res_get(&format!("genericContact/{id}?raw=true")).await;
    assert_eq!(s, 200);
    // Dialpad keeps no times on contacts: the connector's own, kept across reads.
    let created_at = created["createdAt"].as_str().expect("createdAt").to_owned();
    assert_eq!(got["createdAt"], created_at.as_str());
    assert_eq!(got["updatedAt"], created_at.as_str(), "unchanged since");
    assert_eq!(got["fields"]["email"], "ada@example.com");
    assert_eq!(
        got["rawResource"]["first_name"], "Ada",
        "Dialpad's record as received"
    );

    let r = app
        .res(
            "o1",
            M::PATCH,
            &format!("genericContact/{id}"),
            Some(json!({"jobTitle": "Countess"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let reference: Value = r.json().await.unwrap();
    assert_eq!(
        reference,
        json!({"object": "resourceRef", "model": "genericContact", "id": id, "remote": {"id": id}})
    );
    let (_, got) = app
        .res_get(&format!("genericContact/{id}?fields=jobTitle,firstName"))
        .await;
    assert_eq!(
        got["fields"],
        json!({"firstName": "Ada", "jobTitle": "Countess"})
    );

    // Search by name, email and phone (in any format, matched in E.164).
    for q in ["lovelace", "ada%40example.com", "%2B1%20415%20555%200142"] {
        let (s, v) = app
            .res_get(&format!("genericContact?q={q}&limit=100"))
            .await;
        assert_eq!(s, 200, "{v}");
        let mut ids = Vec::new();
        let mut page = v;
        loop {
            ids.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["id"].as_str().unwrap().to_owned()),
            );
            let Some(n) = page["next"].as_str() else {
                break;
            };
            page = app
                .res_get(&format!("genericContact?q={q}&limit=100&cursor={n}"))
                .await
                .1;
        }
        assert_eq!(ids, vec![id.clone()], "q={q}");
    }

    let r = app
        .res("o1", M::DELETE, &format!("genericContact/{id}"), None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({}));
    let (s, v) = app.res_get(&format!("genericContact/{id}")).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("RESOURCE::NOT_FOUND"))
    );
}

async fn users_workspaces_and_me(db: Db) {
    let app = app(db).await;
    let (s, me) = app.res_get("genericUser/me?expand=workspace").await;
    assert_eq!(s, 200, "{me}");
    assert!(me["fields"]["email"].as_str().unwrap().contains('@'));
    assert_eq!(me["fields"]["workspace"]["object"], "resource", "{me}");
    assert!(me["createdAt"].as_str().unwrap().ends_with('Z'));
    let (s, ws) = app.res_get("genericWorkspace/me").await;
    assert_eq!(s, 200, "{ws}");
    assert_eq!(ws["fields"]["isPrimary"], true);
    assert!(ws["fields"]["company"]["name"].is_string(), "{ws}");

    // A filter Dialpad applies: state; every answer has that state.
    let (s, v) = app
        .res_get("genericUser?filters[state]=active&limit=100")
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["fields"]["state"] == "active"));
    // Email search is Dialpad's exact email filter.
    let email = me["fields"]["email"].as_str().unwrap();
    let (_, v) = app
        .res_get(&format!("genericUser?q={}", email.replace('@', "%40")))
        .await;
    assert_eq!(v["data"][0]["id"], me["id"], "{v}");

    // Office hours update round trip.
    let wid = ws["id"].as_str().unwrap();
    let r = app
        .res(
            "o1",
            reqwest::Method::PATCH,
            &format!("genericWorkspace/{wid}?returnResource=true"),
            Some(json!({"hours": {"monday": ["09:00", "17:00"]}})),
        )
        .await;
    let (s, v) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["fields"]["hours"]["monday"], json!(["09:00", "17:00"]));
}

/// Creating an office through the unified API: what Dialpad needs that the model lacks goes in
/// `dialpad`; the new workspace is retrieved and listed; refusals (ours before Dialpad, and
/// Dialpad's own) name what is wrong.
async fn workspace_create_then_retrieve_and_list(db: Db) {
    let app = app(db).await;
    use reqwest::Method as M;
    let offices_created = || {
        app.sim
            .stats()
            .requests
            .get("POST /api/v2/offices")
            .copied()
            .unwrap_or(0)
    };
    let billing = json!({
        "currency": "USD", "plan_period": "monthly", "annual_commit_monthly_billing": false,
        "invoiced": false, "unified_billing": false,
        "billing_address": {"address_line_1": "1 Market St", "city": "San Francisco",
                            "country": "US", "postal_code": "94105", "region": "CA"},
    });
    let mut dialpad = billing.clone();
    dialpad["e911_address"] = json!({"address": "1 Market St", "city": "San Francisco",
                                     "state": "CA", "zip": "94105", "country": "US"});
    let r = app
        .res(
            "o1",
            M::POST,
            "genericWorkspace",
            Some(json!({
                "name": "Embarcadero", "country": "us", "timezone": "America/Los_Angeles",
                "hours": {"monday": ["08:00", "12:00", "13:00", "17:00"]}, "hoursOn": true,
                "dialpad": dialpad,
            })),
        )
        .await;
    let (s, created) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["object"], "resourceRef");
    assert_eq!(created["model"], "genericWorkspace");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["remote"]["id"], id.as_str());
    // Dialpad has it, with the e911 address passed through from `dialpad`.
    let office = app
        .sim
        .sim
        .db()
        .read()
        .offices
        .get(&id.parse::<i64>().unwrap())
        .cloned()
        .expect("the office at Dialpad");
    assert_eq!(office.name, "Embarcadero");
    assert_eq!(
        office.e911_address.clone().map(|e| e.zip),
        Some(Some("94105".to_owned()))
    );

    let (s, got) = app.res_get(&format!("genericWorkspace/{id}")).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["id"], id.as_str());
    let f = &got["fields"];
    assert_eq!(f["name"], "Embarcadero", "{got}");
    assert_eq!(f["country"], "us");
    assert_eq!(f["timezone"], "America/Los_Angeles");
    assert_eq!(f["isPrimary"], false);
    assert_eq!(f["state"], "active");
    assert_eq!(
        f["hours"]["monday"],
        json!(["08:00", "12:00", "13:00", "17:00"])
    );
    assert_eq!(f["phoneNumbers"], json!(office.phone_numbers), "{got}");
    assert!(app.unified_ids("genericWorkspace", 100).await.contains(&id));

    // returnResource: the new workspace itself (the country needs no e911 address).
    let r = app
        .res(
            "o1",
            M::POST,
            "genericWorkspace?returnResource=true",
            Some(json!({"name": "Annex", "country": "de", "dialpad": billing})),
        )
        .await;
    let (s, annex) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(s, StatusCode::CREATED, "{annex}");
    assert_eq!(annex["object"], "resource");
    assert_eq!(annex["fields"]["name"], "Annex");
    assert_ne!(annex["id"], id.as_str());

    // Refused before Dialpad: a missing billing detail, a bad day.
    let before = offices_created();
    for (body, path) in [
        (json!({"name": "x", "country": "de"}), "dialpad.currency"),
        (
            json!({"name": "x", "country": "de", "dialpad": billing, "hours": {"funday": []}}),
            "hours.funday",
        ),
    ] {
        let (s, v) = error_code(
            app.res("o1", M::POST, "genericWorkspace", Some(body.clone()))
                .await,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        let paths: Vec<&str> = v["details"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert!(paths.contains(&path), "{body}: {v}");
    }
    assert_eq!(offices_created(), before, "nothing reached Dialpad");
    // Refused by Dialpad: a US office needs an emergency address.
    let (s, v) = error_code(
        app.res(
            "o1",
            M::POST,
            "genericWorkspace",
            Some(json!({"name": "No e911", "country": "us", "dialpad": billing})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("RESOURCE::VALIDATION_FAILED")
        ),
        "{v}"
    );
    assert!(
        v["details"]["dialpadMessage"]
            .as_str()
            .unwrap()
            .contains("e911_address"),
        "{v}"
    );
    assert_eq!(offices_created(), before + 1);
}

async fn calls_filters_expand_and_cache(db: Db) {
    let app = app(db).await;
    let user_reads = || {
        app.sim
            .stats()
            .requests
            .get("GET /api/v2/users/{id}")
            .copied()
            .unwrap_or(0)
    };
    let before = user_reads();
    let (s, page) = app
        .res_get("telephonyCall?limit=20&expand=users,contacts")
        .await;
    assert_eq!(s, 200, "{page}");
    // Each distinct user of the page is read once, however many calls name them.
    let distinct: BTreeSet<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["fields"]["users"].as_array().unwrap().iter())
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(user_reads() - before, distinct.len() as u64, "{page}");
    let first = &page["data"][0];
    assert!(
        ["completed", "missed", "voicemail"].contains(&first["fields"]["status"].as_str().unwrap())
    );
    for u in first["fields"]["users"].as_array().unwrap() {
        assert_eq!(u["object"], "resource", "expanded user: {u}");
        assert_eq!(u["model"], "genericUser");
    }
    // startedAfter: Dialpad's filter; every call started after it.
    let started = first["fields"]["startedAt"].as_str().unwrap();
    let (s, v) = app
        .res_get(&format!(
            "telephonyCall?filters[startedAfter]={started}&limit=100"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["fields"]["startedAt"].as_str().unwrap() > started));

    // A call just listed is retrieved from the cache: no single-call request reaches Dialpad.
    let id = first["id"].as_str().unwrap();
    let before = app
        .sim
        .stats()
        .requests
        .get("GET /api/v2/call/{id}")
        .copied()
        .unwrap_or(0);
    let (s, c) = app.res_get(&format!("telephonyCall/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(c["id"], id);
    let after = app
        .sim
        .stats()
        .requests
        .get("GET /api/v2/call/{id}")
        .copied()
        .unwrap_or(0);
    assert_eq!(before, after, "retrieve used the list's copy");
}

async fn single_call_reads_answer_rate_limited_instead_of_waiting_a_minute(db: Db) {
    let app = app(db).await;
    let ids = app.dialpad_ids("/api/v2/call", "call_id").await;
    // A second connection has an empty call cache, so every retrieve needs Dialpad's
    // 10-per-minute endpoint.
    app.connect("o2", ALL_OPS).await;
    let mut limited = None;
    let t0 = std::time::Instant::now();
    for id in ids.iter().take(12) {
        let r = app
            .res(
                "o2",
                reqwest::Method::GET,
                &format!("telephonyCall/{id}"),
                None,
            )
            .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap();
            let v: Value = r.json().await.unwrap();
            limited = Some((retry, v));
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let (retry, v) = limited.expect("the 10-per-minute budget ran out within 12 reads");
    assert_eq!(v["error"], "UPSTREAM::RATE_LIMITED");
    assert_eq!(v["details"]["retryAfter"], retry);
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(20),
        "no silent minute-long wait"
    );
}

async fn unsupported_operations_and_bad_input(db: Db) {
    let app = app(db).await;
    use reqwest::Method as M;
    for (m, path, body) in [
        (M::DELETE, "genericWorkspace/1", None),
        (M::DELETE, "telephonyCall/1", None),
        (M::POST, "telephonyCallTranscript", Some(json!({}))),
        (M::PATCH, "telephonyCallTranscript/1", Some(json!({}))),
        (M::DELETE, "telephonyCallTranscript/1", None),
    ] {
        let (s, v) = error_code(app.res("o1", m.clone(), path, body).await).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (
                StatusCode::NOT_IMPLEMENTED,
                Some("OPERATION::NOT_SUPPORTED")
            ),
            "{m} {path}: {v}"
        );
        assert!(v["message"].as_str().unwrap().contains("Dialpad"));
    }
    let (s, v) = app.res_get("genericThing").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("RESOURCE::MODEL_NOT_FOUND"))
    );
    assert_eq!(v["details"]["models"].as_array().unwrap().len(), 5);
    let (s, v) = app.res_get("genericContact?filters[color]=red").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID"))
    );
    assert_eq!(
        v["details"]["allowedFilters"],
        json!(["type", "owner", "includeLocal"])
    );
    let (s, v) = app
        .res_get("telephonyCall?filters[startedAfter]=yesterday")
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID")),
        "{v}"
    );
    for bad in [
        "genericContact?fields=nickname",
        "genericContact?expand=users",
        "genericContact?limit=0",
        "genericContact?limit=101",
        "genericContact?limit=1&limit=2",
        "genericContact?sort=name",
    ] {
        let (s, v) = app.res_get(bad).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID")),
            "{bad}: {v}"
        );
    }
    // Write bodies: unknown fields and wrong types name the path; nothing reaches Dialpad.
    let before = app
        .sim
        .stats()
        .requests
        .get("POST /api/v2/contacts")
        .copied()
        .unwrap_or(0);
    for (body, path) in [
        (
            json!({"firstName": "A", "lastName": "B", "nickname": "x"}),
            "nickname",
        ),
        (json!({"firstName": 3, "lastName": "B"}), "firstName"),
        (json!({"firstName": "A"}), "lastName"),
        (
            json!({"firstName": "A", "lastName": "B", "phones": ["+1415", "call me"]}),
            "phones[0]",
        ),
    ] {
        let (s, v) = error_code(
            app.res("o1", M::POST, "genericContact", Some(body.clone()))
                .await,
        )
        .await;
        assert_eq!(
            (s, v["error"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("RESOURCE::VALIDATION_FAILED")
            ),
            "{body}: {v}"
        );
        assert_eq!(v["details"]["fields"][0]["path"], path, "{body}: {v}");
    }
    let after = app
        .sim
        .stats()
        .requests
        .get("POST /api/v2/contacts")
        .copied()
        .unwrap_or(0);
    assert_eq!(before, after);
    // An id that cannot be Dialpad's: 404 without a Dialpad call.
    let before = app.sim.stats().requests.values().sum::<u64>();
    for path in [
        "genericUser/abc",
        "telephonyCall/12x",
        "genericContact/a%20b",
        "telephonyCallTranscript/me",
    ] {
        let (s, v) = app.res_get(path).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("RESOURCE::NOT_FOUND")),
            "{path}: {v}"
        );
    }
    assert_eq!(app.sim.stats().requests.values().sum::<u64>(), before);
    // A Dialpad 404.
    let (s, v) = app.res_get("genericUser/1").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("RESOURCE::NOT_FOUND")),
        "{v}"
    );
}

async fn cursors_are_signed_and_bound_to_their_list(db: Db) {
    let app = app(db).await;
    let (_, v) = app.res_get("genericContact?limit=2").await;
    let next = v["next"].as_str().unwrap().to_owned();
    // Resumes fine.
    let (s, _) = app
        .res_get(&format!("genericContact?limit=2&cursor={next}"))
        .await;
    assert_eq!(s, 200);
    // Tampered.
    let mut chars: Vec<char> = next.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    // Foreign: another list (filters), another model, another connection.
    app.connect("o2", ALL_OPS).await;
    for (owner, path) in [
        ("o1", format!("genericContact?limit=2&cursor={tampered}")),
        (
            "o1",
            format!("genericContact?limit=2&filters[type]=shared&cursor={next}"),
        ),
        ("o1", format!("genericUser?limit=2&cursor={next}")),
        ("o2", format!("genericContact?limit=2&cursor={next}")),
        ("o1", "genericContact?cursor=bm90LWEtY3Vyc29y".to_owned()),
    ] {
        let (s, v) = error_code(app.res(owner, reqwest::Method::GET, &path, None).await).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID")),
            "{path}: {v}"
        );
    }
}

async fn permissions_are_checked_per_operation(db: Db) {
    let app = app(db).await;
    // Only contacts listed: anything else is refused before Dialpad.
    app.connect("narrow", &["genericContact::list"]).await;
    let r = app
        .res("narrow", reqwest::Method::GET, "genericUser", None)
        .await;
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("CONNECTION::MISSING_PERMISSION")
        ),
        "{v}"
    );
    assert_eq!(v["details"]["operation"], "genericUser::list");
    let r = app
        .res(
            "narrow",
            reqwest::Method::GET,
            "genericContact?limit=1",
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    // Operations added later need scopes the authorization did not ask for: a fresh URL.
    let r = app
        .http
        .patch(app.url("/v1/connections/dialpad/narrow"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({"operations": ["genericContact::list", "telephonyCall::list"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, v) = error_code(
        app.res("narrow", reqwest::Method::GET, "telephonyCall", None)
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
    assert!(v["details"]["missingScopes"]
        .as_array()
        .unwrap()
        .contains(&json!("calls:list")));
    assert!(
        v["details"]["authorizationUrl"]
            .as_str()
            .unwrap()
            .contains("calls%3Alist"),
        "{v}"
    );
    // An expansion reads another model: `expand=transcript` needs the transcript's retrieve.
    app.connect(
        "calls-only",
        &["telephonyCall::list", "telephonyCall::retrieve"],
    )
    .await;
    let (s, v) = error_code(
        app.res(
            "calls-only",
            reqwest::Method::GET,
            "telephonyCall?limit=2&expand=transcript",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        v["details"]["operation"],
        "telephonyCallTranscript::retrieve"
    );
    let r = app
        .res(
            "calls-only",
            reqwest::Method::GET,
            "telephonyCall?limit=2",
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    // An empty operations list is refused (stored, it would mean every operation), on
    // create, update and session; leaving the field out is how to ask for every operation.
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/v1/connections/dialpad/empty-ops",
            json!({"operations": []}),
        ),
        (
            reqwest::Method::PATCH,
            "/v1/connections/dialpad/narrow",
            json!({"operations": []}),
        ),
        (
            reqwest::Method::POST,
            "/v1/connections/dialpad/narrow/sessions",
            json!({"connection": {"operations": []}, "expiresIn": 600}),
        ),
    ] {
        let r = app
            .http
            .request(method.clone(), app.url(path))
            .header("x-api-secret", &app.api_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (s, v) = error_code(r).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID")),
            "{method} {path}: {v}"
        );
        assert_eq!(v["details"]["field"], "operations");
    }
    // Not authorized yet.
    app.create_connection("fresh", &[]).await;
    let (s, v) = error_code(
        app.res("fresh", reqwest::Method::GET, "genericUser", None)
            .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("CONNECTION::NOT_AUTHORIZED"))
    );
}

async fn session_routes_serve_the_same_resources(db: Db) {
    let app = app(db).await;
    let r = app
        .post_json(
            "/v1/connections/dialpad/o1/sessions",
            json!({"expiresIn": 600}),
        )
        .await;
    assert!(r.status().is_success());
    let s: Value = r.json().await.unwrap();
    let token = s["sessionToken"]
        .as_str()
        .or(s["token"].as_str())
        .unwrap()
        .to_owned();
    let r = app
        .http
        .get(app.url("/v1/s/resources/genericUser?limit=3"))
        .header("x-session-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    let id = v["data"][0]["id"].as_str().unwrap();
    let r = app
        .http
        .get(app.url(&format!("/v1/s/resources/genericUser/{id}")))
        .header("x-session-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A session narrowed to listing users: retrieving one is the session's refusal, and the
    // message says so (the connection itself allows every operation).
    let r = app
        .post_json(
            "/v1/connections/dialpad/o1/sessions",
            json!({"connection": {"operations": ["genericUser::list"]}}),
        )
        .await;
    let narrow: Value = r.json().await.unwrap();
    let r = app
        .http
        .get(app.url(&format!("/v1/s/resources/genericUser/{id}")))
        .header("x-session-token", narrow["sessionToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"], "CONNECTION::MISSING_PERMISSION");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("this session was not granted genericUser::retrieve"),
        "{v}"
    );
    // A 3000-digit id is refused without echoing it whole.
    let long = "9".repeat(3000);
    let r = app
        .http
        .get(app.url(&format!("/v1/s/resources/genericUser/{long}")))
        .header("x-session-token", &token)
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.len() < 200, "{message}");
    assert!(message.contains("(3000 characters)"), "{message}");
    // The secret key is not a session token for the secret-key routes' twins' owner headers
    // either way: no token → 401.
    let r = app
        .http
        .get(app.url("/v1/s/resources/genericUser"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

async fn connector_info_and_fields_describe_every_model(db: Db) {
    let app = app(db).await;
    let r = app.get("/v1/connectors/dialpad").await;
    let info: Value = r.json().await.unwrap();
    let models = info["models"].as_array().unwrap();
    assert_eq!(models.len(), 5);
    let ws = models
        .iter()
        .find(|m| m["id"] == "genericWorkspace")
        .unwrap();
    assert_eq!(ws["operations"]["delete"]["supported"], false);
    assert!(ws["operations"]["delete"]["reason"]
        .as_str()
        .unwrap()
        .contains("Dialpad"));
    let call = models.iter().find(|m| m["id"] == "telephonyCall").unwrap();
    assert_eq!(call["expand"], json!(["users", "contacts", "transcript"]));
    assert_eq!(call["filters"][0]["name"], "startedAfter");

    // Fields, paged: unified ones first, then Dialpad's mappable ones; every page once.
    let mut keys = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let p = match &next {
            Some(n) => format!("/v1/models/telephonyCall/fields?limit=7&cursor={n}"),
            None => "/v1/models/telephonyCall/fields?limit=7".to_owned(),
        };
        let v: Value = app.get(&p).await.json().await.unwrap();
        for f in v["data"].as_array().unwrap() {
            keys.push((
                f["key"].as_str().unwrap().to_owned(),
                f["isCustom"].as_bool().unwrap(),
            ));
        }
        match v["next"].as_str() {
            Some(n) => next = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(keys[0], ("direction".to_owned(), false));
    assert!(keys.contains(&("custom_data".to_owned(), true)));
    let unique: BTreeSet<&String> = keys.iter().map(|(k, _)| k).collect();
    assert_eq!(unique.len(), keys.len());
    let (s, v) = error_code(app.get("/v1/models/nope/fields").await).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("RESOURCE::MODEL_NOT_FOUND"))
    );
}

async fn user_round_trip_and_calls_placed_and_labelled(db: Db) {
    let app = app(db).await;
    use reqwest::Method as M;
    let (_, ws) = app.res_get("genericWorkspace?limit=1").await;
    let office = ws["data"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .res(
            "o1",
            M::POST,
            "genericUser?returnResource=true",
            Some(json!({
                "email": "grace@example.com", "firstName": "Grace", "lastName": "Hopper",
                "workspace": {"id": office}
            })),
        )
        .await;
    let (s, u) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(s, StatusCode::CREATED, "{u}");
    assert_eq!(u["fields"]["email"], "grace@example.com");
    assert_eq!(u["fields"]["workspace"]["id"], office.as_str());
    let id = u["id"].as_str().unwrap().to_owned();
    let r = app
        .res(
            "o1",
            M::PATCH,
            &format!("genericUser/{id}?returnResource=true"),
            Some(json!({"jobTitle": "Rear Admiral"})),
        )
        .await;
    let (s, u) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["fields"]["jobTitle"], "Rear Admiral");
    // Without the office Dialpad needs: 422 naming it, before Dialpad.
    let (s, v) = error_code(
        app.res(
            "o1",
            M::POST,
            "genericUser",
            Some(json!({"email": "x@example.com"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["details"]["fields"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("workspace")),
        "{v}"
    );
    let r = app
        .res("o1", M::DELETE, &format!("genericUser/{id}"), None)
        .await;
    assert_eq!(r.status(), 200);

    // Place a call: the user's devices ring; the answer is a reference to the new call.
    let (_, me) = app.res_get("genericUser/me").await;
    let r = app
        .res(
            "o1",
            M::POST,
            "telephonyCall",
            Some(json!({"user": me["id"], "phone": "+1 (415) 555-0199"})),
        )
        .await;
    let (s, c) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["object"], "resourceRef");
    assert_eq!(c["model"], "telephonyCall");
    let placed = c["id"].as_str().unwrap().to_owned();
    let rang = app
        .sim
        .sim
        .db()
        .read()
        .calls
        .get(&placed.parse::<i64>().unwrap())
        .map(|c| c.external_number.clone());
    assert_eq!(
        rang,
        Some(Some("+14155550199".to_owned())),
        "the simulator placed it, in E.164"
    );

    // Label a call from the history; the answer carries the labels.
    let (_, page) = app.res_get("telephonyCall?limit=1").await;
    let cid = page["data"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .res(
            "o1",
            M::PATCH,
            &format!("telephonyCall/{cid}?returnResource=true"),
            Some(json!({"labels": ["vip"]})),
        )
        .await;
    let (s, v) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["fields"]["labels"], json!(["vip"]), "{v}");
    let (s, v) = error_code(
        app.res(
            "o1",
            M::PATCH,
            &format!("telephonyCall/{cid}"),
            Some(json!({"status": "missed"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("RESOURCE::VALIDATION_FAILED")
        ),
        "{v}"
    );
}

async fn field_mappings_add_read_and_written_fields(db: Db) {
    let app = app(db).await;
    use reqwest::Method as M;
    let put = |model: &str, body: Value| {
        app.http
            .put(app.url(&format!(
                "/v1/connections/dialpad/o1/field-mappings/{model}"
            )))
            .header("x-api-secret", &app.api_key)
            .json(&body)
            .send()
    };
    // Refused: a path Dialpad's records do not have, a write to a read-only one, a taken name.
    let (s, v) = error_code(
        put(
            "telephonyCall",
            json!({"mappings": [
                {"key": "x", "path": "no_such"},
                {"key": "callCustomData", "path": "custom_data", "write": true},
                {"key": "status", "path": "group_id"}
            ]}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("RESOURCE::VALIDATION_FAILED")
        ),
        "{v}"
    );
    let paths: Vec<&str> = v["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec!["mappings[0].path", "mappings[1].write", "mappings[2].key"]
    );

    // Read: calls gain `callRang` from Dialpad's date_rang.
    let r = put(
        "telephonyCall",
        json!({"mappings": [{"key": "callRang", "path": "date_rang"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let got: Value = app
        .get("/v1/connections/dialpad/o1/field-mappings/telephonyCall")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["mappings"],
        json!([{"key": "callRang", "path": "date_rang", "write": false}])
    );
    // …once the connection may read mapped fields (`telephonyCall::fieldRead`).
    let (s, v) = app.res_get("telephonyCall?limit=1&fields=callRang").await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "fieldRead not granted: no such field: {v}"
    );
    let mut ops: Vec<&str> = ALL_OPS.to_vec();
    ops.extend([
        "telephonyCall::fieldRead",
        "genericContact::fieldRead",
        "genericContact::fieldWrite",
    ]);
    let r = app
        .http
        .patch(app.url("/v1/connections/dialpad/o1"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({ "operations": ops }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, page) = app
        .res_get("telephonyCall?limit=20&fields=callRang,status")
        .await;
    assert_eq!(s, 200, "{page}");
    let with_group = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["fields"]["callRang"].is_string())
        .count();
    assert!(with_group > 0, "{page}");
    for c in page["data"].as_array().unwrap() {
        let keys: BTreeSet<&str> = c["fields"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(keys.is_subset(&["callRang", "status"].into_iter().collect()));
    }
    // Write: contacts gain `contactTrunkGroup`, written to Dialpad's trunk_group.
    let r = put(
        "genericContact",
        json!({"mappings": [{"key": "contactTrunkGroup", "path": "trunk_group", "write": true}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .res(
            "o1",
            M::POST,
            "genericContact?returnResource=true&raw=true",
            Some(json!({
                "firstName": "Tru", "lastName": "Nk", "contactTrunkGroup": "tg-7"
            })),
        )
        .await;
    let (s, c) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(
        c["rawResource"]["trunk_group"], "tg-7",
        "reached Dialpad: {c}"
    );
    assert_eq!(c["fields"]["contactTrunkGroup"], "tg-7");
    // Removed: the field is gone, and writing it is an unknown field again.
    let r = app
        .delete("/v1/connections/dialpad/o1/field-mappings/genericContact")
        .await;
    assert_eq!(r.status(), 200);
    let id = c["id"].as_str().unwrap();
    let (_, c) = app.res_get(&format!("genericContact/{id}")).await;
    assert!(c["fields"].get("contactTrunkGroup").is_none());
    let (s, v) = error_code(
        app.res(
            "o1",
            M::PATCH,
            &format!("genericContact/{id}"),
            Some(json!({"contactTrunkGroup": "x"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["details"]["fields"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("contactTrunkGroup")),
        "{v}"
    );
}

/// The README's two custom models, as `DPC_CUSTOM_MODELS`.
const CUSTOM_MODELS: &str = r#"[
  {"name": "dialpadChannel", "description": "Dialpad channels", "list": "/api/v2/channels",
   "retrieve": "/api/v2/channels/{id}", "create": "/api/v2/channels", "delete": "/api/v2/channels/{id}",
   "fields": {"name": "name", "description": "description", "privacy": "privacy_type"}},
  {"name": "dialpadCallLabel", "description": "The company's call labels", "list": "/api/v2/calllabels",
   "items": "labels", "id_field": "value", "fields": {"name": "value"}}
]"#;

async fn custom_models_are_served_like_the_unified_ones(db: Db) {
    let app = spawn(
        db,
        SimConfig {
            auto_consent: true,
            call_history: 10,
            ..Default::default()
        },
        &[("DPC_CUSTOM_MODELS", CUSTOM_MODELS)],
    )
    .await;
    use reqwest::Method as M;
    app.connect(
        "o1",
        &[
            "dialpadChannel::list",
            "dialpadChannel::retrieve",
            "dialpadChannel::create",
            "dialpadChannel::delete",
            "dialpadCallLabel::list",
        ],
    )
    .await;
    // Listed by the connector info route, with what is declared.
    let info: Value = app
        .get("/v1/connectors/dialpad")
        .await
        .json()
        .await
        .unwrap();
    let ch = info["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "dialpadChannel")
        .unwrap();
    assert_eq!(ch["operations"]["update"]["supported"], false);
    assert!(info["operations"]
        .as_array()
        .unwrap()
        .contains(&json!("dialpadCallLabel::list")));
    // An unknown model's answer lists the custom models with the unified ones.
    let (s, v) = app.res_get("nope").await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"], "RESOURCE::MODEL_NOT_FOUND");
    for m in ["genericContact", "dialpadChannel", "dialpadCallLabel"] {
        assert!(
            v["details"]["models"]
                .as_array()
                .unwrap()
                .contains(&json!(m)),
            "{m}: {v}"
        );
    }

    // Pagination to the end equals Dialpad's list, for several limits.
    let want: BTreeSet<String> = app
        .dialpad_ids("/api/v2/channels", "id")
        .await
        .into_iter()
        .collect();
    assert!(want.len() >= 2);
    for limit in [1, 2, 100] {
        assert_eq!(
            exactly_once(&app.unified_ids("dialpadChannel", limit).await),
            want,
            "limit {limit}"
        );
    }
    let (s, labels) = app.res_get("dialpadCallLabel?limit=3").await;
    assert_eq!(s, 200, "{labels}");
    assert_eq!(labels["data"].as_array().unwrap().len(), 3);
    assert!(labels["data"][0]["fields"]["name"].is_string());
    assert!(labels["data"][0]["createdAt"].is_string());
    let all_labels = app.unified_ids("dialpadCallLabel", 4).await;
    assert_eq!(all_labels.len(), exactly_once(&all_labels).len());

    // Create → retrieve → delete → 404.
    let r = app
        .res(
            "o1",
            M::POST,
            "dialpadChannel?returnResource=true",
            Some(json!({"name": "launch", "description": "the launch", "privacy": "public"})),
        )
        .await;
    let (s, c) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["fields"]["name"], "launch");
    let id = c["id"].as_str().unwrap().to_owned();
    let (s, got) = app
        .res_get(&format!("dialpadChannel/{id}?fields=name"))
        .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["fields"], json!({"name": "launch"}));
    let r = app
        .res("o1", M::DELETE, &format!("dialpadChannel/{id}"), None)
        .await;
    assert_eq!(r.status(), 200);
    let (s, v) = app.res_get(&format!("dialpadChannel/{id}")).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("RESOURCE::NOT_FOUND")),
        "{v}"
    );

    // Errors as for the unified models.
    let (s, v) = error_code(
        app.res(
            "o1",
            M::PATCH,
            &format!("dialpadChannel/{id}"),
            Some(json!({})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::NOT_IMPLEMENTED,
            Some("OPERATION::NOT_SUPPORTED")
        )
    );
    let (s, v) = error_code(
        app.res(
            "o1",
            M::POST,
            "dialpadChannel",
            Some(json!({"colour": "red"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["details"]["fields"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("colour")),
        "{v}"
    );
    let (s, v) = app.res_get("dialpadChannel?cursor=forged").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID"))
    );
    let (s, v) = error_code(
        app.res(
            "o1",
            M::POST,
            "dialpadCallLabel",
            Some(json!({"name": "x"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::NOT_IMPLEMENTED,
            Some("OPERATION::NOT_SUPPORTED")
        ),
        "{v}"
    );
    // Permission: a connection without the custom operation.
    app.connect("narrow", &["genericUser::list"]).await;
    let (s, v) = error_code(app.res("narrow", M::GET, "dialpadChannel", None).await).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("CONNECTION::MISSING_PERMISSION")
        ),
        "{v}"
    );
    // Fields.
    let f: Value = app
        .get("/v1/models/dialpadChannel/fields")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(f["data"].as_array().unwrap().len(), 3);
}

async fn dialpad_refusals_map_to_stable_codes(db: Db) {
    let app = app(db).await;
    let fault = |body: Value| {
        let http = app.http.clone();
        let url = format!("{}/_sim/faults", app.sim.base_url);
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    };
    // A 403 that names no scope: UPSTREAM::FORBIDDEN with Dialpad's message, nothing marked.
    fault(json!({"path": "/api/v2/users", "error_rate": 1.0, "status": 403})).await;
    let (s, v) = app.res_get("genericUser?limit=1").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("UPSTREAM::FORBIDDEN")),
        "{v}"
    );
    assert!(app.connection("o1").await["missingScopes"]
        .as_array()
        .unwrap()
        .is_empty());
    // Dialpad down: UPSTREAM::UNAVAILABLE (after the client's bounded retries).
    fault(json!({"path": "/api/v2/offices", "error_rate": 1.0, "status": 503})).await;
    let (s, v) = app.res_get("genericWorkspace?limit=1").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("UPSTREAM::UNAVAILABLE")),
        "{v}"
    );
    // Rate limited past the client's bounded retries: 429 with retryAfter and Retry-After.
    fault(json!({"path": "/api/v2/contacts", "error_rate": 1.0, "status": 429})).await;
    let r = app
        .res("o1", reqwest::Method::GET, "genericContact?limit=1", None)
        .await;
    let status = r.status();
    let r_headers = r.headers().get("retry-after").cloned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (status, v["error"].as_str()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("UPSTREAM::RATE_LIMITED")
        ),
        "{v}"
    );
    let header: u64 = r_headers.unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(v["details"]["retryAfter"], header);
}
