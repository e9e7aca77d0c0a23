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
    // The same ids through the connection headers: UTF-8 text reaches the connection made
    // through the path; an invisible character is refused as such, not as a missing header.
    let by_header = |owner: &'static [u8]| {
        app.http
            .get(app.url("/v1/resources/genericContact"))
            .header("x-api-secret", &app.api_key)
            .header("x-connector-id", "dialpad")
            .header(
                "x-owner-id",
                reqwest::header::HeaderValue::from_bytes(owner).unwrap(),
            )
            .send()
    };
    let (s, v) = error_code(by_header("caf\u{e9}".as_bytes()).await.unwrap()).await;
    // Found (not authorized yet), so the header named the connection made as `caf%C3%A9`.
    assert_eq!(v["error"], "CONNECTION::NOT_AUTHORIZED", "{s} {v}");
    let (s, v) = error_code(by_header("a\u{200b}b".as_bytes()).await.unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let msg = v["message"].as_str().unwrap();
    assert!(!msg.contains("required"), "{v}");
    assert!(msg.contains("ownerId"), "{v}");
    let (s, v) = error_code(by_header(b"a\xffb").await.unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("not UTF-8"), "{v}");

    let long = "x".repeat(256);
    let (s, _) = error_code(
        app.post_json(&format!("/v1/connections/dialpad/{long}"), json!({}))
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// Extra scopes and `redirectUrl` on authorization: scope tokens only, the URL normalised.
async fn authorization_input(app: &TestApp) {
    app.create_connection("authz", &["genericUser::retrieve"])
        .await;
    let path = "/v1/connections/dialpad/authz/authorization";
    for scopes in [
        json!(["a b"]),
        json!(["x\u{0}"]),
        json!([""]),
        json!(["quote\""]),
        json!(vec!["s"; 51]),
    ] {
        let (s, v) = error_code(app.post_json(path, json!({ "scopes": scopes })).await).await;
        assert_eq!(
            (s, v["error"].as_str(), v["details"]["field"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("REQUEST::INVALID"),
                Some("scopes")
            ),
            "{scopes}: {v}"
        );
    }
    let (s, v) = error_code(app.post_json(path, json!({"scopes": "calls:list"})).await).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let r = app.post_json(path, json!({"scopes": ["screen_pop"]})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["authorizationUrl"]
        .as_str()
        .unwrap()
        .contains("screen_pop"));

    // A NUL in redirectUrl: accepted as the normalised URL (%00), which is where the browser goes.
    let r = app
        .post_json(
            &format!("{path}?redirectUrl=https%3A%2F%2Fapp.example%2Fdone%00x"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    let callback = app.consent(v["authorizationUrl"].as_str().unwrap()).await;
    let r = app.http.get(&callback).send().await.unwrap();
    let (status, outcome) = callback_outcome(r).await;
    assert_eq!(status, StatusCode::OK);
    let loc = outcome["redirect"].as_str().unwrap();
    assert!(
        loc.starts_with("https://app.example/done%00x?status=authorized"),
        "{loc}"
    );
    let long = format!("https://app.example/{}", "x".repeat(3000));
    let (s, v) = error_code(
        app.post_json(&format!("{path}?redirectUrl={long}"), json!({}))
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["details"]["field"], "redirectUrl");
}

#[tokio::test]
async fn odd_characters_in_path_ids() {
    odd_ids(spawn_app().await).await;
}

#[tokio::test]
async fn authorization_scopes_and_redirect_url() {
    authorization_input(&spawn_app().await).await;
}

#[tokio::test]
async fn authorization_scopes_and_redirect_url_on_postgres() {
    with_postgres(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        let sim = dialpad_sim::SimConfig {
            auto_consent: true,
            ..Default::default()
        };
        authorization_input(&spawn_on(sim, &url, dir).await).await;
    })
    .await;
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

#[tokio::test]
async fn unknown_fields_and_wrong_types_are_refused() {
    let app = spawn_app().await;
    let invalid = |s: StatusCode, v: &serde_json::Value| {
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("REQUEST::INVALID")),
            "{v}"
        );
    };
    // Create: a typo'd field must not create a connection without its operations.
    let (s, v) = error_code(
        app.post_json(
            "/v1/connections/dialpad/typo",
            json!({"operation": ["genericUser::list"]}),
        )
        .await,
    )
    .await;
    invalid(s, &v);
    assert!(v["message"].as_str().unwrap().contains("operation"), "{v}");
    assert_eq!(
        app.get("/v1/connections/dialpad/typo").await.status(),
        StatusCode::NOT_FOUND
    );
    for body in [
        json!({"operations": "genericUser::list"}),
        json!({"operations": [1]}),
        json!([]),
        json!(null),
        json!("x"),
    ] {
        let (s, v) = error_code(
            app.post_json("/v1/connections/dialpad/types", body.clone())
                .await,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    // Update: same rules; the connection is unchanged.
    app.create_connection("upd", &["genericUser::list"]).await;
    for body in [
        json!({"operations": ["genericContact::list"], "status": "authorized"}),
        json!({"operations": {"a": 1}}),
    ] {
        let r = app
            .http
            .patch(app.url("/v1/connections/dialpad/upd"))
            .header("x-api-secret", &app.api_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (s, v) = error_code(r).await;
        invalid(s, &v);
    }
    // A repeated key is ambiguous (which one wins depends on the parser): refused, nested too.
    for body in [
        r#"{"operations":["genericContact::list"],"operations":["genericUser::list"]}"#,
        r#"{"operations":["genericContact::list"],"x":{"a":1,"a":2}}"#,
    ] {
        let r = app
            .http
            .patch(app.url("/v1/connections/dialpad/upd"))
            .header("x-api-secret", &app.api_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (s, v) = error_code(r).await;
        invalid(s, &v);
        assert!(
            v["message"].as_str().unwrap().contains("duplicate key"),
            "{body}: {v}"
        );
    }
    let c = app.connection("upd").await;
    assert_eq!(c["operations"], json!(["genericUser::list"]));
    assert_eq!(c["status"], "unauthorized");
    // Sessions: wrong types and out-of-range numbers, never a panic or a 500.
    for body in [
        json!({"expiresIn": "600"}),
        json!({"expiresIn": 60.5}),
        json!({"expiresIn": -1}),
        json!({"expiresIn": i64::MAX}),
        json!({"expiresIn": u64::MAX}),
        json!({"expiresIn": 1e300}),
        json!({"connection": {"operations": "x"}}),
    ] {
        let (s, v) = error_code(
            app.post_json("/v1/connections/dialpad/upd/sessions", body.clone())
                .await,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    // List: limit and cursor.
    for q in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=99999999999",
        "limit=x",
        "cursor=%%%",
    ] {
        let (s, v) = error_code(app.get(&format!("/v1/connections?{q}")).await).await;
        invalid(s, &v);
    }
}
