//! The hosted connect page in a real headless Chromium (Debian's `chromium`, driven by
//! `playwright-core` from npm; `tests/js/connect_page.mjs`): a connection and a session created
//! through the API → `/connect?session=…` shows what the app asks access to → Connect → the
//! simulator's consent page (no `auto_consent`) → Approve → `/oauth/callback` → the result page
//! says connected → the API says `authorized`. An unknown and an expired session show clear
//! error pages. Screenshots (`connect.png`, `consent.png`, `result.png`, `expired.png`) are
//! kept under `CARGO_TARGET_TMPDIR/connect-page/`.
//! Needs Node.js, npm, the npm registry and Chromium; their failure fails the test.

#[path = "js/harness.rs"]
mod harness;

use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_page_in_headless_chromium() {
    let app = harness::spawn(false).await;
    let owner = "browser-cust";
    let r = app
        .call(Method::POST, &format!("/v1/connections/dialpad/{owner}"))
        .json(&json!({"operations": ["genericUser::retrieve", "telephonyCall::list"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "create connection");
    let r = app
        .call(
            Method::POST,
            &format!("/v1/connections/dialpad/{owner}/sessions"),
        )
        .json(&json!({"expiresIn": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "create session");
    let session: Value = r.json().await.unwrap();
    let token = session["sessionToken"].as_str().expect("sessionToken");
    // An expired session for the same connection, straight through the store.
    let expired = app
        .store
        .create_session(&dpc_store::Session {
            connector_id: "dialpad".into(),
            owner_id: owner.into(),
            operations: vec![],
            expires_at: chrono::Utc::now() - chrono::Duration::seconds(5),
            purpose: dpc_store::SessionPurpose::App,
            redirect_url: None,
            extra_scopes: vec![],
        })
        .await
        .unwrap();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("connect-page");
    std::fs::create_dir_all(&shots).unwrap();

    let out = harness::node(
        "connect_page.mjs",
        vec![
            ("SERVER_URL".into(), app.base_url.clone()),
            ("SIM_URL".into(), app.sim.base_url.clone()),
            (
                "CONNECT_URL".into(),
                app.url(&format!("/connect?session={token}")),
            ),
            (
                "INVALID_URL".into(),
                app.url("/connect?session=sess_not_a_real_one"),
            ),
            (
                "EXPIRED_URL".into(),
                app.url(&format!(
                    "/connect?session={}",
                    secrecy::ExposeSecret::expose_secret(&expired)
                )),
            ),
            ("SHOT_DIR".into(), shots.display().to_string()),
        ],
    )
    .await;
    let seen = harness::last_json(&out);
    eprintln!("browser saw: {seen}\nscreenshots in {}", shots.display());
    assert_eq!(seen["result"]["status"], "authorized");
    assert_eq!(app.status(owner).await, "authorized");
    // The consent was a real click: one code, one token exchange.
    assert_eq!(app.sim.stats().tokens_issued, 1);
    for f in ["connect.png", "consent.png", "result.png", "expired.png"] {
        let len = std::fs::metadata(shots.join(f))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 1000, "screenshot {f} missing or empty");
    }
}
