//! Morph compatibility: Morph's published SDK (`@runmorph/cloud` 0.0.7, fetched from npm, see
//! `tests/js/harness.rs`) pointed at our server with `MORPH_CLOUD_API_BASE_URL` runs
//! `connections(...).create`, `authorize`, `retrieve`, the consent (simulator with
//! `auto_consent`) and callback, `retrieve` again (`authorized`), `sessions().create`, the
//! session-token `retrieve`, and `delete` (`tests/js/morph.mjs` asserts on every answer).
//! Needs Node.js, npm and the npm registry; their failure fails the test.

#[path = "js/harness.rs"]
mod harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn morph_cloud_sdk_0_0_7_drives_the_connection_api() {
    let app = harness::spawn(true).await;
    let out = harness::node(
        "morph.mjs",
        vec![
            ("MORPH_CLOUD_API_BASE_URL".into(), app.base_url.clone()),
            ("MORPH_SECRET_KEY".into(), app.api_key.clone()),
            ("OWNER_ID".into(), "morph-owner-1".into()),
        ],
    )
    .await;
    let seen = harness::last_json(&out);
    assert_eq!(seen["created"], "unauthorized", "{seen}");
    assert_eq!(seen["retrievedBeforeConsent"], "awaitingAuthorization");
    assert_eq!(seen["retrievedAfterConsent"], "authorized");
    assert_eq!(seen["session"], "ok");
    assert_eq!(seen["afterDelete"], "CONNECTION::NOT_FOUND");
    // The SDK's calls reached the server and, through it, the simulator's token endpoint once.
    let stats = app.sim.stats();
    assert_eq!(stats.tokens_issued, 1, "{stats:?}");
    // delete deauthorized at Dialpad (in the background, after its answer): no access token is
    // left in the simulator.
    let mut revoked = false;
    for _ in 0..100 {
        if app.sim.sim.db().read().oauth.access_tokens.is_empty() {
            revoked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(revoked, "delete left the access token valid at Dialpad");
}
