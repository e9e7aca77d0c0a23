//! CORS: only the session-token routes (`/v1/s/…`) answer it, only for `DPC_ALLOWED_ORIGINS`,
//! with the headers Morph's browser SDK sends; the secret-key routes never do. And the callback's
//! result page: its CSP, and the outcome it hands to the browser.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const APP: &str = "http://app.test:3000";

/// Every `access-control-*` header of an answer.
fn cors_headers(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter(|(k, _)| k.as_str().starts_with("access-control-"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
        .collect()
}

/// A preflight as Chromium sends it for the SDK's calls.
async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> Response {
    app.http
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "content-type,x-api-key,x-session-token",
        )
        .send()
        .await
        .unwrap()
}

async fn session_token(app: &TestApp, owner: &str) -> String {
    app.create_connection(owner, &["genericUser::retrieve"])
        .await;
    let r = app
        .post_json(
            &format!("/v1/connections/dialpad/{owner}/sessions"),
            json!({"expiresIn": 600}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["sessionToken"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn session_routes_answer_cors_for_allowed_origins_only() {
    let app = spawn_app_with_env(&[(
        "DPC_ALLOWED_ORIGINS",
        "http://app.test:3000, https://other.example",
    )])
    .await;
    let token = session_token(&app, "cors-1").await;

    // Preflight from an allowed origin: that origin, the SDK's headers, no credentials.
    for (path, method) in [
        ("/v1/s/connection", "GET"),
        ("/v1/s/connection", "DELETE"),
        ("/v1/s/connection/authorization", "POST"),
        ("/v1/s/connector", "GET"),
    ] {
        let r = preflight(&app, path, APP, method).await;
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], APP, "{path}");
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        for want in ["content-type", "x-api-key", "x-session-token"] {
            assert!(allowed.contains(want), "{path}: {allowed}");
        }
        assert!(!allowed.contains("x-api-secret"), "{allowed}");
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(methods.contains(method), "{path}: {methods}");
        assert!(h.get("access-control-allow-credentials").is_none());
        assert_eq!(h["access-control-max-age"], "600");
    }

    // The call itself (and an error answer, which the SDK must be able to read) carry it too.
    let r = app
        .http
        .get(app.url("/v1/s/connection"))
        .header("origin", APP)
        .header("x-session-token", &token)
        .header("x-api-key", "pk_ignored")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["access-control-allow-origin"], APP);
    let r = app
        .http
        .get(app.url("/v1/s/connection"))
        .header("origin", APP)
        .header("x-session-token", "sess_unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["access-control-allow-origin"], APP);

    // An origin not on the list (or a near miss) sees the route as if CORS were off: a JSON 405
    // for the preflight, no access-control-* header at all.
    for origin in [
        "http://evil.test",
        "http://app.test:3001",
        "https://app.test:3000",
        "null",
    ] {
        let r = preflight(&app, "/v1/s/connection", origin, "GET").await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{origin}");
        assert_eq!(cors_headers(r.headers()), vec![], "{origin}");
        let (_, v) = error_code(r).await;
        assert_eq!(v["error"], "REQUEST::METHOD_NOT_ALLOWED");
        let r = app
            .http
            .get(app.url("/v1/s/connection"))
            .header("origin", origin)
            .header("x-session-token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(cors_headers(r.headers()), vec![], "{origin}");
    }

    // The secret-key routes never answer CORS, even to an allowed origin.
    for path in [
        "/v1/connections/dialpad/cors-1",
        "/v1/connections/dialpad/cors-1/sessions",
        "/v1/connections/dialpad/cors-1/authorization",
        "/v1/connections",
        "/v1/proxy/api/v2/users/me",
        "/v1/connectors/dialpad",
        "/oauth/callback",
        "/connect",
    ] {
        let r = preflight(&app, path, APP, "POST").await;
        assert_eq!(cors_headers(r.headers()), vec![], "OPTIONS {path}");
    }
    let r = app
        .http
        .get(app.url("/v1/connections/dialpad/cors-1"))
        .header("origin", APP)
        .header("x-api-secret", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(cors_headers(r.headers()), vec![]);
}

#[tokio::test]
async fn no_allowed_origins_means_no_cors_at_all() {
    let app = spawn_app().await;
    let token = session_token(&app, "cors-2").await;
    let r = preflight(&app, "/v1/s/connection", APP, "GET").await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(cors_headers(r.headers()), vec![]);
    let r = app
        .http
        .get(app.url("/v1/s/connection"))
        .header("origin", APP)
        .header("x-session-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(cors_headers(r.headers()), vec![]);
}

#[tokio::test]
async fn result_page_hands_the_outcome_to_the_browser_under_a_strict_csp() {
    let app = spawn_app_with_env(&[("DPC_ALLOWED_ORIGINS", APP)]).await;
    app.create_connection("popup-1", &["genericUser::retrieve"])
        .await;
    let url = app.authorization_url("popup-1").await;
    let callback = app.consent(&url).await;
    let r = app.http.get(&callback).send().await.unwrap();
    let h = r.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'sha256-",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let (status, outcome) = callback_outcome(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        outcome,
        json!({"status": "authorized", "connectorId": "dialpad", "ownerId": "popup-1",
               "redirect": null, "origins": [APP]})
    );

    // A replayed state: the failure, with no connection to name.
    let r = app.http.get(&callback).send().await.unwrap();
    let (status, outcome) = callback_outcome(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(outcome["status"], "error");
    assert_eq!(outcome["error"], "OAUTH::INVALID_STATE");
    assert_eq!(outcome["connectorId"], Value::Null);
}
