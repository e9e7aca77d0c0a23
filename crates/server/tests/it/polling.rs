//! Change detection by polling, through the real server and the simulator: users and offices
//! changed at Dialpad (where no event tells anyone) reach the app's receiver as
//! `genericUser::created|updated|deleted` and `genericWorkspace::updated` with `source: "poll"`,
//! each once although two instances share the database and both poll, each signature verified
//! by the Python `standardwebhooks` package. The first poll only takes the baseline; a poll
//! nobody wants fetches nothing; the per-connection interval is set and shown on the
//! connection's `events-intake`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::events_e2e::{intake, verify_with_python, Receiver};
use crate::helpers::{spawn_on_with_env, spawn_server_with_env, with_postgres, TestApp};

const SETTINGS: &[(&str, &str)] = &[
    ("DPC_WEBHOOKS_ALLOW_PRIVATE_URLS", "true"),
    ("DPC_WEBHOOKS_RETRY_SCHEDULE_MS", "50,100,100"),
    ("DPC_EVENTS_REPAIR_INTERVAL_MS", "500"),
    ("DPC_EVENTS_POLL_INTERVAL_MS", "300"),
];

const OPERATIONS: &[&str] = &["genericUser::list", "genericWorkspace::list"];

/// Waits until both models of `owner` have a baseline (and answers the intake object).
async fn baselined(app: &TestApp, owner: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = intake(app, owner).await;
        let polls = v["polls"].as_array().cloned().unwrap_or_default();
        if polls.len() == 2 && polls.iter().all(|p| p["baselinedAt"].is_string()) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no baseline was taken: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn flow(app: TestApp, db_url: String) {
    // A second instance on the same database: both run the poller.
    let second = spawn_server_with_env(&app.sim, &db_url, &app.key, SETTINGS).await;

    let (rx, url) = Receiver::start().await;
    let r = app
        .post_json(
            "/v1/webhook-endpoints",
            json!({"url": url, "events": [
                "genericUser::created", "genericUser::updated", "genericUser::deleted",
                "genericWorkspace::created", "genericWorkspace::updated",
                "genericWorkspace::deleted",
            ]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    // Not granted `genericUser::list`: its poll fails, saying why, and Dialpad is not asked.
    app.connect("nolist", &["genericWorkspace::list"]).await;
    app.connect("acme", OPERATIONS).await;
    let v = baselined(&app, "acme").await;
    let users = v["polls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == "genericUser")
        .unwrap()
        .clone();
    assert!(users["records"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(users["intervalMs"], 300);
    assert!(users["lastError"].is_null());
    assert_eq!(v["pollDefaultIntervalMs"], 300);
    assert!(v["pollIntervalMs"].is_null());
    let start = Instant::now();
    loop {
        let v = intake(&app, "nolist").await;
        let err = v["polls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["model"] == "genericUser")
            .map(|p| p["lastError"].clone());
        if let Some(Value::String(e)) = err {
            assert!(e.contains("genericUser::list"), "{e}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The baseline announced nothing.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(rx.got().is_empty(), "{:?}", rx.got().len());

    // Changes made at Dialpad itself (its admin pages: no event exists for them).
    let (created, updated, deleted, office) = {
        let mut db = app.sim.sim.db().write();
        let mut ids: Vec<i64> = db.users.keys().copied().collect();
        ids.sort();
        // Users other than the one who authorized (the first).
        let (updated, deleted) = (ids[ids.len() - 1], ids[ids.len() - 2]);
        let mut new = db.users[&updated].clone();
        new.id = ids[ids.len() - 1] + 1000;
        new.first_name = "Polly".into();
        new.emails = vec!["polly@example.com".into()];
        let created = new.id;
        db.users.insert(created, new);
        db.users.get_mut(&updated).unwrap().first_name = "Renamed".into();
        db.users.get_mut(&deleted).unwrap().state = "deleted".into();
        let office = *db.offices.keys().next().unwrap();
        db.offices.get_mut(&office).unwrap().name = "Head office, renamed".into();
        (created, updated, deleted, office)
    };
    let want = [
        ("genericUser::created", created.to_string()),
        ("genericUser::updated", updated.to_string()),
        ("genericUser::deleted", deleted.to_string()),
        ("genericWorkspace::updated", office.to_string()),
    ];
    let got = rx
        .wait_for(Duration::from_secs(20), |g| {
            want.iter().all(|(e, id)| {
                g.iter().any(|x| {
                    x.event() == *e && x.resource() == *id && x.json()["ownerId"] == "acme"
                })
            })
        })
        .await;
    let mine: Vec<_> = got
        .iter()
        .filter(|g| g.json()["ownerId"] == "acme")
        .collect();
    // Exactly these four, once each (two pollers, one poll at a time per connection).
    let mut seen: Vec<(String, String)> = mine.iter().map(|g| (g.event(), g.resource())).collect();
    seen.sort();
    let mut expected: Vec<(String, String)> = want
        .iter()
        .map(|(e, id)| ((*e).to_owned(), id.clone()))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
    let ids: std::collections::HashSet<_> = got
        .iter()
        .map(|g| g.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), got.len(), "each webhook-id once");
    for g in &mine {
        let b = g.json();
        assert_eq!(b["source"], "poll");
        assert_eq!(b["connectorId"], "dialpad");
        assert_eq!(b["data"]["object"], "resource");
        assert!(b["occurredAt"].is_string());
        match g.event().as_str() {
            "genericUser::created" => {
                assert_eq!(b["data"]["fields"]["firstName"], "Polly");
                assert_eq!(b["data"]["fields"]["email"], "polly@example.com");
            }
            "genericUser::updated" => assert_eq!(b["data"]["fields"]["firstName"], "Renamed"),
            // The user as last seen, before Dialpad dropped it from its list.
            "genericUser::deleted" => {
                assert_eq!(b["data"]["id"], deleted.to_string());
                assert_eq!(b["data"]["fields"]["state"], "active");
            }
            "genericWorkspace::updated" => {
                assert_eq!(b["data"]["fields"]["name"], "Head office, renamed")
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(verify_with_python(&got, &secret).await, got.len());

    // Nothing changes: nothing more is sent, poll after poll.
    let n = rx.got().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.got().len(), n);

    // The connection's own interval: a minute. Polls slow down to it (the sim sees no more
    // user lists for this connection's token in the next second than before the change).
    let r = app
        .http
        .patch(app.url("/v1/connections/dialpad/acme/events-intake"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({"pollIntervalMs": 60000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["pollIntervalMs"], 60000);
    assert!(v["polls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["intervalMs"] == 60000));
    for (bad, status) in [
        (json!({"pollIntervalMs": 5}), 422),
        (json!({"pollIntervalMs": "x"}), 400),
        (json!({"other": 1}), 400),
        (json!({}), 400),
    ] {
        let r = app
            .http
            .patch(app.url("/v1/connections/dialpad/acme/events-intake"))
            .header("x-api-secret", &app.api_key)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{bad}");
    }
    // Only `nolist`'s workspace poll and acme's (now slow) ones remain: fewer user lists.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = app.sim_requests("GET /api/v2/users");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.sim_requests("GET /api/v2/users"),
        before,
        "nobody lists users while acme's interval is a minute and nolist may not"
    );

    // No endpoint wants user or workspace events: polls stop fetching and drop the snapshots.
    let endpoints: Value = app.get("/v1/webhook-endpoints").await.json().await.unwrap();
    for e in endpoints["data"].as_array().unwrap() {
        let id = e["id"].as_str().unwrap();
        assert_eq!(
            app.delete(&format!("/v1/webhook-endpoints/{id}"))
                .await
                .status(),
            204
        );
    }
    let r = app
        .http
        .patch(app.url("/v1/connections/dialpad/acme/events-intake"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({"pollIntervalMs": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let start = Instant::now();
    loop {
        let v = intake(&app, "acme").await;
        if v["polls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["baselinedAt"].is_null() && p["records"] == 0)
        {
            assert!(v["pollIntervalMs"].is_null());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = app.sim_requests("GET /api/v2/offices");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(app.sim_requests("GET /api/v2/offices"), before);
    let _ = second.shutdown.send(());
}

#[tokio::test]
async fn users_and_workspaces_changed_at_dialpad_arrive_as_poll_events() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("dpc.db").display());
    let sim = dialpad_sim::SimConfig {
        auto_consent: true,
        ..Default::default()
    };
    let app = spawn_on_with_env(sim, &db_url, dir, SETTINGS).await;
    flow(app, db_url).await;
}

#[tokio::test]
async fn poll_events_on_postgres_with_two_instances() {
    with_postgres(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        let sim = dialpad_sim::SimConfig {
            auto_consent: true,
            ..Default::default()
        };
        let app = spawn_on_with_env(sim, &url, dir, SETTINGS).await;
        flow(app, url).await;
    })
    .await;
}
