use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn end_to_end_connect_proxy_refresh_delete() {
    end_to_end(spawn_app().await).await;
}

#[tokio::test]
async fn end_to_end_on_postgres() {
    with_postgres(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        let sim = dialpad_sim::SimConfig {
            auto_consent: true,
            ..Default::default()
        };
        end_to_end(spawn_on(sim, &url, dir).await).await;
    })
    .await;
}

async fn end_to_end(app: TestApp) {
    let created = app
        .create_connection("acme", &["genericUser::retrieve", "telephonyCall::list"])
        .await;
    assert_eq!(created["object"], "connection");
    assert_eq!(created["status"], "unauthorized");

    let url = app.authorization_url("acme").await;
    let parsed = url::Url::parse(&url).unwrap();
    assert!(url.starts_with(&format!("{}/oauth2/authorize?", app.sim.base_url)));
    let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "sim-client");
    assert_eq!(q["redirect_uri"], app.url("/oauth/callback"));
    assert_eq!(q["scope"], "calls:list offline_access recordings_export");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!q["state"].is_empty());
    assert_eq!(
        app.connection("acme").await["status"],
        "awaitingAuthorization"
    );

    let callback = app.consent(&url).await;
    let r = app.http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("id=\"dpc-result\" data-status=\"authorized\""));
    let conn = app.connection("acme").await;
    assert_eq!(conn["status"], "authorized");
    assert_eq!(
        conn["scopes"],
        json!(["calls:list", "offline_access", "recordings_export"])
    );

    // Nothing missing: authorizing again answers `authorized` without a URL.
    let r = app
        .post_json("/v1/connections/dialpad/acme/authorization", json!({}))
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "authorized");
    assert!(v.get("authorizationUrl").is_none());

    let r = app.proxy("acme", Method::GET, "/api/v2/users/me").await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert!(me["id"].is_string() || me["id"].is_number(), "{me}");

    let before = app.sim.stats().tokens_refreshed;
    app.expire_sim_tokens().await;
    let r = app.proxy("acme", Method::GET, "/api/v2/users/me").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.sim.stats().tokens_refreshed, before + 1);

    // Delete deauthorizes: the stored token no longer works at Dialpad.
    let conn_id = app
        .store
        .get_connection("dialpad", "acme")
        .await
        .unwrap()
        .unwrap()
        .id;
    let token = match app
        .store
        .get_credentials(&conn_id)
        .await
        .unwrap()
        .unwrap()
        .credentials
    {
        dpc_store::Credentials::OAuth { access_token, .. } => access_token,
        other => panic!("unexpected {other:?}"),
    };
    let direct = |t: String| {
        let http = app.http.clone();
        let url = format!("{}/api/v2/users/me", app.sim.base_url);
        async move { http.get(url).bearer_auth(t).send().await.unwrap().status() }
    };
    assert_eq!(
        direct(token.expose_secret().to_owned()).await,
        StatusCode::OK
    );
    let r = app.delete("/v1/connections/dialpad/acme").await;
    assert_eq!(r.status(), StatusCode::OK);
    // Deauthorizing runs after the answer, in the background.
    let mut revoked = false;
    for _ in 0..100 {
        if direct(token.expose_secret().to_owned()).await == StatusCode::UNAUTHORIZED {
            revoked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(revoked, "the token still works at Dialpad");
    let r = app.get("/v1/connections/dialpad/acme").await;
    let (status, v) = error_code(r).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "CONNECTION::NOT_FOUND");
    assert!(app.store.get_credentials(&conn_id).await.unwrap().is_none());
}

#[tokio::test]
async fn callback_sends_a_full_window_to_the_app_and_states_are_single_use() {
    let app = spawn_app().await;
    app.create_connection("o1", &["genericContact::list"]).await;
    let r = app
        .post_json(
            "/v1/connections/dialpad/o1/authorization?redirectUrl=https%3A%2F%2Fapp.test%2Fdone%3Fx%3D1",
            json!({}),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    let callback = app.consent(v["authorizationUrl"].as_str().unwrap()).await;
    // The result page sends a full window on to the app (the decision is the browser's: a
    // popup would post to its opener and close instead).
    let r = app.http.get(&callback).send().await.unwrap();
    let (status, outcome) = callback_outcome(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        outcome["redirect"],
        "https://app.test/done?x=1&status=authorized&connectorId=dialpad&ownerId=o1"
    );
    assert_eq!(
        (
            &outcome["status"],
            &outcome["connectorId"],
            &outcome["ownerId"]
        ),
        (&json!("authorized"), &json!("dialpad"), &json!("o1"))
    );
    // Replayed state.
    let r = app.http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("OAUTH::INVALID_STATE"));
    // Forged state.
    let r = app
        .http
        .get(app.url("/oauth/callback?code=abc&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Denied consent.
    let url = app.authorization_url_again("o1").await;
    let st = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let r = app
        .http
        .get(app.url(&format!("/oauth/callback?error=access_denied&state={st}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("OAUTH::ACCESS_DENIED"));
}

impl TestApp {
    /// An authorization URL even when the connection is already authorized (asks for an extra scope).
    async fn authorization_url_again(&self, owner: &str) -> String {
        let r = self
            .post_json(
                &format!("/v1/connections/dialpad/{owner}/authorization"),
                json!({"scopes": ["screen_pop"]}),
            )
            .await;
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "awaitingAuthorization", "{v}");
        v["authorizationUrl"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn sessions_connect_page_and_session_twins() {
    let app = spawn_app().await;
    // Morph's flow: a session for a connection that does not exist yet creates it.
    let r = app
        .post_json(
            "/v1/connections/dialpad/cust-9/sessions",
            json!({"connection": {"operations": ["genericContact::list", "telephonyCall::list"]}, "expiresIn": 600}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["object"], "session");
    let token = s["sessionToken"].as_str().unwrap().to_owned();
    assert!(s["expiresAt"].as_str().unwrap().ends_with('Z'));

    let with_session = |m: Method, p: &str| {
        app.http
            .request(m, app.url(p))
            .header("x-session-token", &token)
    };
    let r = with_session(Method::GET, "/v1/s/connection")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["ownerId"], "cust-9");
    let r = with_session(Method::GET, "/v1/s/connector")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "connector");
    assert_eq!(v["id"], "dialpad");

    // mode=connect: a link to our hosted page.
    let r = with_session(Method::POST, "/v1/s/connection/authorization?mode=connect")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let page_url = v["authorizationUrl"].as_str().unwrap().to_owned();
    assert!(
        page_url.starts_with(&app.url("/connect?session=")),
        "{page_url}"
    );
    let page = app.http.get(&page_url).send().await.unwrap();
    let cookie = binding_cookie(&page);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"dpc-connect-button\""));
    assert!(html.contains("calls:list"));
    assert!(html.contains("Read your company&#39;s call history"));
    let page_session = url::Url::parse(&page_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "session")
        .unwrap()
        .1
        .into_owned();
    // The Connect button → Dialpad consent → our callback → result page.
    let r = app
        .http
        .post(app.url("/connect/authorize"))
        .header("cookie", &cookie)
        .form(&[("session", page_session.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    let dialpad = r.headers()["location"].to_str().unwrap().to_owned();
    let callback = app.consent(&dialpad).await;
    let r = app
        .http
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("data-status=\"authorized\""));

    // Morph's SDK retrieves with the secret key and connection headers on /v1/s/connection.
    let r = app
        .http
        .get(app.url("/v1/s/connection"))
        .header("x-api-secret", &app.api_key)
        .header("x-connector-id", "dialpad")
        .header("x-owner-id", "cust-9")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "authorized");

    let r = with_session(Method::DELETE, "/v1/s/connection")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.get("/v1/connections/dialpad/cust-9").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn list_update_and_api_key_connections() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.create_connection(&format!("o{i}"), &[]).await;
    }
    let r = app.get("/v1/connections?limit=2").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let next = v["next"].as_str().unwrap().to_owned();
    let r = app
        .get(&format!("/v1/connections?limit=2&cursor={next}"))
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert!(v["next"].is_null());

    let r = app
        .http
        .patch(app.url("/v1/connections/dialpad/o1"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({"operations": ["genericUser::list"]}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["operations"], json!(["genericUser::list"]));

    // A Dialpad API key instead of OAuth: checked, stored, never refreshed.
    let put = |key: &str| {
        app.http
            .put(app.url("/v1/connections/dialpad/o2/api-key"))
            .header("x-api-secret", &app.api_key)
            .json(&json!({ "apiKey": key }))
            .send()
    };
    let (status, v) = error_code(put("wrong").await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "CONNECTION::INVALID_API_KEY");
    let r = put(&app.sim.api_key).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "authorized");
    let r = app.proxy("o2", Method::GET, "/api/v2/company").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.proxy("o2", Method::GET, "/api/v2/users/me").await;
    assert!(r.status().is_client_error() || r.status().is_success());
    assert_eq!(app.sim.stats().tokens_refreshed, 0);
}

#[tokio::test]
async fn api_key_connection_covers_operations_added_later() {
    let app = spawn_app().await;
    app.create_connection("keyed", &["genericUser::retrieve"])
        .await;
    let r = app
        .http
        .put(app.url("/v1/connections/dialpad/keyed/api-key"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({ "apiKey": app.sim.api_key }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .http
        .patch(app.url("/v1/connections/dialpad/keyed"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({"operations": ["genericUser::retrieve", "telephonyCall::list"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert!(v["scopes"]
        .as_array()
        .unwrap()
        .contains(&json!("calls:list")));
    // Authorization says nothing is missing, and the proxy agrees.
    let r = app
        .post_json("/v1/connections/dialpad/keyed/authorization", json!({}))
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "authorized");
    let r = app.proxy("keyed", Method::GET, "/api/v2/call").await;
    assert_ne!(r.status(), StatusCode::FORBIDDEN, "{:?}", r.text().await);
}

#[tokio::test]
async fn operations_added_after_authorization_show_their_missing_scopes_and_ask_only_those() {
    let app = spawn_app().await;
    app.connect("grow", &["genericUser::retrieve"]).await;
    let c = app.connection("grow").await;
    assert_eq!(c["status"], "authorized");
    assert_eq!(c["missingScopes"], json!([]), "nothing missing yet: {c}");

    let r = app
        .http
        .patch(app.url("/v1/connections/dialpad/grow"))
        .header("x-api-secret", &app.api_key)
        .json(&json!({"operations": ["genericUser::retrieve", "telephonyCall::list"]}))
        .send()
        .await
        .unwrap();
    let c: Value = r.json().await.unwrap();
    let missing: Vec<&str> = c["missingScopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(missing.contains(&"calls:list"), "{c}");
    assert!(!missing.contains(&"offline_access"), "granted already: {c}");

    // Authorizing again asks for what the new operation needs, and the result clears it.
    let url = app.authorization_url("grow").await;
    assert!(
        url.contains("calls%3Alist") || url.contains("calls:list"),
        "{url}"
    );
    let callback = app.consent(&url).await;
    let r = app.http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.connection("grow").await["missingScopes"], json!([]));
}
