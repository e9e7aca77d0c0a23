use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn bad_input_and_auth_errors_are_json_with_stable_codes() {
    let app = spawn_app().await;
    assert_eq!(app.base_url, format!("http://{}", app.addr));
    // Wrong or missing key.
    let r = app
        .http
        .get(app.url("/v1/connections/dialpad/x"))
        .header("x-api-secret", "sk_wrong")
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("AUTH::INVALID_API_KEY"))
    );
    let r = app
        .http
        .get(app.url("/v1/connections"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Unknown connector, unknown owner.
    let (s, v) = error_code(app.get("/v1/connections/hubspot/x").await).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("CONNECTOR::NOT_FOUND"))
    );
    let (s, v) = error_code(app.get("/v1/connections/dialpad/nobody").await).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("CONNECTION::NOT_FOUND"))
    );
    let (s, v) = error_code(app.proxy("nobody", Method::GET, "/api/v2/users/me").await).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("CONNECTION::NOT_FOUND"))
    );

    // Unknown operation, malformed body, oversized body.
    let r = app
        .post_json(
            "/v1/connections/dialpad/a",
            json!({"operations": ["genericUser::list", "foo::bar"]}),
        )
        .await;
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID"))
    );
    assert_eq!(v["details"]["unknownOperations"], json!(["foo::bar"]));
    let r = app
        .http
        .post(app.url("/v1/connections/dialpad/a"))
        .header("x-api-secret", &app.api_key)
        .header("content-type", "application/json")
        .body("{\"operations\": [")
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID"))
    );
    assert!(v["message"].as_str().unwrap().contains("malformed JSON"));
    let big = "x".repeat(dpc_server::BODY_LIMIT + 10);
    let r = app
        .http
        .post(app.url("/v1/connections/dialpad/a"))
        .header("x-api-secret", &app.api_key)
        .body(big)
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("REQUEST::TOO_LARGE"))
    );

    // Duplicate, not yet authorized.
    app.create_connection("dup", &[]).await;
    let (s, v) = error_code(
        app.post_json("/v1/connections/dialpad/dup", json!({}))
            .await,
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("CONNECTION::ALREADY_EXISTS"))
    );
    let (s, v) = error_code(app.proxy("dup", Method::GET, "/api/v2/users/me").await).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("CONNECTION::NOT_AUTHORIZED"))
    );

    // Fallbacks.
    let (s, v) = error_code(app.get("/nope").await).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("REQUEST::NOT_FOUND"))
    );
    let r = app.http.put(app.url("/healthz")).send().await.unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            Some("REQUEST::METHOD_NOT_ALLOWED")
        )
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sessions_invalid_and_expired() {
    let app = spawn_app().await;
    app.create_connection("s", &[]).await;
    let r = app
        .http
        .get(app.url("/v1/s/connection"))
        .header("x-session-token", "nope")
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("SESSION::INVALID"))
    );
    let token = app
        .store
        .create_session(&dpc_store::Session {
            connector_id: "dialpad".into(),
            owner_id: "s".into(),
            operations: vec![],
            expires_at: chrono::Utc::now() - chrono::Duration::seconds(5),
            purpose: dpc_store::SessionPurpose::App,
            redirect_url: None,
            extra_scopes: vec![],
        })
        .await
        .unwrap();
    use secrecy::ExposeSecret;
    let r = app
        .http
        .get(app.url("/v1/s/connection"))
        .header("x-session-token", token.expose_secret())
        .send()
        .await
        .unwrap();
    let (s, v) = error_code(r).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("SESSION::EXPIRED"))
    );
    let r = app
        .http
        .get(app.url(&format!("/connect?session={}", token.expose_secret())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("expired"));
    let r = app
        .http
        .get(app.url("/connect?session=unknown"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .post_json(
            "/v1/connections/dialpad/s/sessions",
            json!({"expiresIn": 10_000_000}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
