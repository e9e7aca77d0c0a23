//! Bad input the other suites do not cover, through the real HTTP server: odd characters in
//! path ids, on SQLite and on PostgreSQL (which refuses NUL in text).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

async fn odd_ids(app: TestApp) {
    for path in [
        "/v1/connections/dialpad/a%00b",
        "/v1/connections/dialpad/a%0Ab",
        "/v1/connections/dial%00pad/a",
    ] {
        let (s, v) = error_code(app.post_json(path, json!({})).await).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID")),
            "{path}: {v}"
        );
        let (s, v) = error_code(app.get(path).await).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        let (s, v) = error_code(app.post_json(&format!("{path}/sessions"), json!({})).await).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
    }
    let (s, v) = error_code(app.get("/v1/connections?connectorId=%00").await).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID")),
        "{v}"
    );
    // Other odd but printable characters are fine, encoded slashes included.
    for owner in ["caf%C3%A9", "a%2Fb", "a%20b", "%F0%9F%98%80"] {
        let r = app
            .post_json(&format!("/v1/connections/dialpad/{owner}"), json!({}))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{owner}");
        let r = app.get(&format!("/v1/connections/dialpad/{owner}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{owner}");
    }
    let long = "x".repeat(256);
    let (s, _) = error_code(
        app.post_json(&format!("/v1/connections/dialpad/{long}"), json!({}))
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn odd_characters_in_path_ids() {
    odd_ids(spawn_app().await).await;
}

#[tokio::test]
async fn odd_characters_in_path_ids_on_postgres() {
    with_postgres(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        let sim = dialpad_sim::SimConfig {
            auto_consent: true,
            ..Default::default()
        };
        odd_ids(spawn_on(sim, &url, dir).await).await;
    })
    .await;
}
