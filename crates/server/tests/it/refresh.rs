use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

fn requests(app: &TestApp, key: &str) -> u64 {
    app.sim.stats().requests.get(key).copied().unwrap_or(0)
}

#[tokio::test]
async fn hundred_concurrent_calls_on_an_expired_token_refresh_once() {
    let app = spawn_app().await;
    app.connect("race", &["genericUser::retrieve"]).await;
    app.expire_sim_tokens().await;
    let before = app.sim.stats().tokens_refreshed;
    let calls = (0..100).map(|_| app.proxy("race", Method::GET, "/api/v2/users/me"));
    let results = futures::future::join_all(calls).await;
    for r in results {
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(app.sim.stats().tokens_refreshed, before + 1);
}

/// Two server instances sharing one PostgreSQL database: 100 concurrent calls split between
/// them on an expired token still make exactly one refresh at Dialpad.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_refresh_once() {
    with_postgres(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        let sim = dialpad_sim::SimConfig {
            auto_consent: true,
            ..Default::default()
        };
        let app = spawn_on(sim, &url, dir).await;
        let second = spawn_server(&app.sim, &url, &app.key).await;
        let second_base = format!("http://{}", second.addr);
        app.connect("race2", &["genericUser::retrieve"]).await;
        // Both instances have used (and cached) the current token.
        assert_eq!(
            app.proxy("race2", Method::GET, "/api/v2/users/me")
                .await
                .status(),
            StatusCode::OK
        );
        assert_eq!(
            app.proxy_via(&second_base, "race2", Method::GET, "/api/v2/users/me")
                .await
                .status(),
            StatusCode::OK
        );
        app.expire_sim_tokens().await;
        let before = app.sim.stats().tokens_refreshed;
        let calls = (0..100).map(|i| {
            let base = if i % 2 == 0 {
                app.base_url.clone()
            } else {
                second_base.clone()
            };
            let app = &app;
            async move {
                app.proxy_via(&base, "race2", Method::GET, "/api/v2/users/me")
                    .await
            }
        });
        for r in futures::future::join_all(calls).await {
            assert_eq!(r.status(), StatusCode::OK);
        }
        assert_eq!(app.sim.stats().tokens_refreshed, before + 1);
        let _ = second.shutdown.send(());
    })
    .await;
}

#[tokio::test]
async fn refused_refresh_marks_the_connection_and_never_loops() {
    let app = spawn_app().await;
    app.connect("revoked", &["genericUser::retrieve"]).await;
    // Dialpad forgets every refresh token (revoked by the customer), and the access token expires.
    app.sim.sim.db().write().oauth.refresh_tokens.clear();
    app.expire_sim_tokens().await;
    let token_calls = requests(&app, "POST /oauth2/token");
    let (status, v) = error_code(app.proxy("revoked", Method::GET, "/api/v2/users/me").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "CONNECTION::REFRESH_FAILED");
    assert_eq!(app.connection("revoked").await["status"], "refreshFailed");
    assert_eq!(requests(&app, "POST /oauth2/token"), token_calls + 1);
    // Later calls answer at once without asking Dialpad again.
    let (status, v) = error_code(app.proxy("revoked", Method::GET, "/api/v2/users/me").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "CONNECTION::REFRESH_FAILED");
    assert_eq!(requests(&app, "POST /oauth2/token"), token_calls + 1);
    // Authorizing again repairs it.
    let url = app.authorization_url("revoked").await;
    let callback = app.consent(&url).await;
    assert_eq!(
        app.http.get(&callback).send().await.unwrap().status(),
        StatusCode::OK
    );
    let r = app.proxy("revoked", Method::GET, "/api/v2/users/me").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_permission_before_and_after_asking_dialpad() {
    let app = spawn_app().await;
    app.connect("scoped", &["genericUser::retrieve"]).await;
    // Not asked for: answered without calling Dialpad.
    let (status, v) = error_code(app.proxy("scoped", Method::GET, "/api/v2/call").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(v["error"], "CONNECTION::MISSING_PERMISSION");
    assert_eq!(v["details"]["operation"], "telephonyCall::list");
    assert_eq!(
        v["details"]["missingScopes"],
        serde_json::json!(["calls:list", "recordings_export"])
    );
    let url = v["details"]["authorizationUrl"].as_str().unwrap();
    assert!(url.contains("calls%3Alist"), "{url}");
    assert_eq!(requests(&app, "GET /api/v2/call"), 0);

    // The connection believes it has the scope, Dialpad says 403: recorded, no refresh.
    let mut conn = app
        .store
        .get_connection("dialpad", "scoped")
        .await
        .unwrap()
        .unwrap();
    conn.scopes = vec![
        "calls:list".into(),
        "offline_access".into(),
        "recordings_export".into(),
    ];
    app.store.update_connection(&conn).await.unwrap();
    let refreshed = app.sim.stats().tokens_refreshed;
    let (status, v) = error_code(app.proxy("scoped", Method::GET, "/api/v2/call").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"], "CONNECTION::MISSING_PERMISSION");
    assert_eq!(requests(&app, "GET /api/v2/call"), 1);
    assert_eq!(app.sim.stats().tokens_refreshed, refreshed);
    let c: Value = app.connection("scoped").await;
    assert_eq!(
        c["missingScopes"],
        serde_json::json!(["calls:list", "recordings_export"])
    );
    // Now known missing: the next call does not reach Dialpad.
    let (status, _) = error_code(app.proxy("scoped", Method::GET, "/api/v2/call").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(requests(&app, "GET /api/v2/call"), 1);
}

#[tokio::test]
async fn proactive_refresh_before_expiry() {
    let app = spawn_app().await;
    app.connect("soon", &["genericUser::retrieve"]).await;
    // The stored expiry is within the margin: the next call refreshes first, no 401 needed.
    let conn = app
        .store
        .get_connection("dialpad", "soon")
        .await
        .unwrap()
        .unwrap();
    let stored = app.store.get_credentials(&conn.id).await.unwrap().unwrap();
    if let dpc_store::Credentials::OAuth {
        access_token,
        refresh_token,
        ..
    } = stored.credentials
    {
        app.store
            .put_credentials(
                &conn.id,
                &dpc_store::Credentials::OAuth {
                    access_token,
                    refresh_token,
                    expires_at: Some(chrono::Utc::now() + chrono::Duration::seconds(10)),
                },
            )
            .await
            .unwrap();
    }
    let before = app.sim.stats().tokens_refreshed;
    let r = app.proxy("soon", Method::GET, "/api/v2/users/me").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.sim.stats().tokens_refreshed, before + 1);
    let r = app.proxy("soon", Method::GET, "/api/v2/users/me").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.sim.stats().tokens_refreshed, before + 1);
}
