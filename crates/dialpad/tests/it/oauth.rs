//! OAuth 2.0 end to end: authorize URL with PKCE S256, consent redirect, code exchange, expiry,
//! refresh with rotation, deauthorize; and a `TokenProvider` that refreshes after a 401.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dialpad::oauth::{AuthorizationCodeGrant, AuthorizeParams, Pkce, RefreshTokenGrant};
use dialpad::{Auth, BaseUrl, Client, Error, ExposeSecret, SecretString, TokenProvider};

use crate::helpers::{
    client_for, follow_authorize, no_redirect_http, spawn, TestSim, CLIENT_ID, CLIENT_SECRET,
    REDIRECT_URI,
};

/// Asserts an OAuth token-endpoint error (`{"error":"invalid_grant",...}`) surfaced as the typed
/// `Error::OAuth` with that code.
#[track_caller]
fn assert_oauth_error(err: &Error, code: &str) {
    match err {
        Error::OAuth { status, error, .. } => {
            assert_eq!(status.as_u16(), 400, "{err:?}");
            assert_eq!(error, code, "{err:?}");
            assert_eq!(err.is_invalid_grant(), code == "invalid_grant");
        }
        other => panic!("expected a 400 {code} error, got {other:?}"),
    }
}

async fn expire_tokens(t: &TestSim) -> u64 {
    let resp = no_redirect_http()
        .post(format!("{}/_sim/tokens/expire", t.handle.base_url))
        .send()
        .await
        .expect("expire tokens");
    assert!(resp.status().is_success());
    let v: serde_json::Value = resp.json().await.unwrap();
    v["expired"].as_u64().expect("expired count")
}

fn refresh_grant(token: &SecretString) -> RefreshTokenGrant {
    RefreshTokenGrant {
        refresh_token: token.clone(),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(CLIENT_SECRET.into()),
    }
}

pub async fn scenario(t: &TestSim) {
    // A client without credentials can run the token endpoints.
    let anon = Client::builder()
        .base_url(BaseUrl::custom(&t.handle.base_url).unwrap())
        .build()
        .unwrap();
    let pkce = Pkce::generate();
    assert_eq!(pkce.verifier.expose_secret().len(), 64);
    assert!(!format!("{pkce:?}").contains(pkce.verifier.expose_secret()));
    let url = anon
        .oauth()
        .authorize_url(&AuthorizeParams {
            client_id: CLIENT_ID.into(),
            redirect_uri: REDIRECT_URI.into(),
            scope: Some("offline_access calls:list".into()),
            state: Some("csrf-123".into()),
            code_challenge: Some(pkce.challenge.clone()),
        })
        .unwrap();
    assert_eq!(url.path(), "/oauth2/authorize");
    let q: std::collections::BTreeMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"], pkce.challenge);

    let (code, state) = follow_authorize(url.as_str()).await;
    assert_eq!(state.as_deref(), Some("csrf-123"));

    // A wrong verifier is refused (and burns the code, which is single use).
    let wrong = anon
        .oauth()
        .exchange_code(&AuthorizationCodeGrant {
            code: code.clone().into(),
            redirect_uri: Some(REDIRECT_URI.into()),
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(CLIENT_SECRET.into()),
            code_verifier: Some(Pkce::generate().verifier),
        })
        .await
        .unwrap_err();
    assert_oauth_error(&wrong, "invalid_grant");

    let (code, _) = follow_authorize(url.as_str()).await;
    let grant = AuthorizationCodeGrant {
        code: code.into(),
        redirect_uri: Some(REDIRECT_URI.into()),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(CLIENT_SECRET.into()),
        code_verifier: Some(pkce.verifier.clone()),
    };
    let tokens = anon.oauth().exchange_code(&grant).await.expect("exchange");
    assert_eq!(tokens.expires_in, Some(3600));
    assert_eq!(
        tokens
            .token_type
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer")
    );
    let refresh1 = tokens
        .refresh_token
        .clone()
        .expect("offline_access gives a refresh token");
    assert!(!format!("{tokens:?}").contains(tokens.access_token.expose_secret()));
    // Codes are single use.
    assert_oauth_error(
        &anon.oauth().exchange_code(&grant).await.unwrap_err(),
        "invalid_grant",
    );

    // The access token works…
    let user = client_for(&t.handle.base_url, tokens.access_token.expose_secret());
    let me = user.users().me().await.expect("me with access token");
    assert!(me.id.is_some());
    let calls = user
        .calls()
        .list()
        .limit(1)
        .send()
        .await
        .expect("calls:list granted");
    assert_eq!(calls.items.len(), 1);

    // …until it expires.
    assert!(expire_tokens(t).await >= 1);
    match user.users().me().await.unwrap_err() {
        Error::Unauthorized { message, .. } => assert!(message.contains("expired"), "{message}"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }

    // Refresh rotates both tokens.
    let fresh = anon
        .oauth()
        .refresh(&refresh_grant(&refresh1))
        .await
        .expect("refresh");
    let refresh2 = fresh.refresh_token.clone().expect("rotated refresh token");
    assert_ne!(refresh2.expose_secret(), refresh1.expose_secret());
    assert_ne!(
        fresh.access_token.expose_secret(),
        tokens.access_token.expose_secret()
    );
    // The old refresh token is refused now.
    assert_oauth_error(
        &anon
            .oauth()
            .refresh(&refresh_grant(&refresh1))
            .await
            .unwrap_err(),
        "invalid_grant",
    );

    let user = client_for(&t.handle.base_url, fresh.access_token.expose_secret());
    assert_eq!(user.users().me().await.expect("me after refresh").id, me.id);

    // Deauthorize: the token and its refresh token are revoked.
    user.oauth().deauthorize().await.expect("deauthorize");
    assert!(matches!(
        user.users().me().await.unwrap_err(),
        Error::Unauthorized { .. }
    ));
    assert_oauth_error(
        &anon
            .oauth()
            .refresh(&refresh_grant(&refresh2))
            .await
            .unwrap_err(),
        "invalid_grant",
    );

    // deauthorize_token revokes a given token from a credential-less client.
    let other = t.oauth_tokens("calls:list").await;
    let other_client = client_for(&t.handle.base_url, other.access_token.expose_secret());
    other_client.users().me().await.expect("second grant works");
    anon.oauth()
        .deauthorize_token(&other.access_token)
        .await
        .expect("deauthorize token");
    assert!(matches!(
        other_client.users().me().await.unwrap_err(),
        Error::Unauthorized { .. }
    ));
}

#[tokio::test]
async fn oauth_flow_end_to_end() {
    let t = spawn().await;
    scenario(&t).await;
    let stats = t.handle.stats();
    assert!(stats.tokens_refreshed >= 1);
}

/// Refreshes the OAuth pair when the client reports a 401.
struct RefreshingProvider {
    oauth: Client,
    tokens: Mutex<(SecretString, SecretString)>,
    refreshes: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl TokenProvider for RefreshingProvider {
    async fn access_token(&self) -> Result<SecretString, Error> {
        Ok(self.tokens.lock().unwrap().0.clone())
    }

    async fn on_unauthorized(
        &self,
        rejected: &SecretString,
    ) -> Result<Option<SecretString>, Error> {
        let refresh = {
            let tokens = self.tokens.lock().unwrap();
            if tokens.0.expose_secret() != rejected.expose_secret() {
                // Someone else already refreshed.
                return Ok(Some(tokens.0.clone()));
            }
            tokens.1.clone()
        };
        let fresh = self.oauth.oauth().refresh(&refresh_grant(&refresh)).await?;
        let new_refresh = fresh
            .refresh_token
            .ok_or_else(|| Error::Token("no refresh token".into()))?;
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        *self.tokens.lock().unwrap() = (fresh.access_token.clone(), new_refresh);
        Ok(Some(fresh.access_token))
    }
}

#[tokio::test]
async fn token_provider_refreshes_and_retries_once() {
    let t = spawn().await;
    let tokens = t.oauth_tokens("offline_access").await;
    let refreshes = Arc::new(AtomicUsize::new(0));
    let provider = RefreshingProvider {
        oauth: Client::builder()
            .base_url(BaseUrl::custom(&t.handle.base_url).unwrap())
            .build()
            .unwrap(),
        tokens: Mutex::new((
            tokens.access_token.clone(),
            tokens.refresh_token.clone().unwrap(),
        )),
        refreshes: refreshes.clone(),
    };
    let client = Client::builder()
        .base_url(BaseUrl::custom(&t.handle.base_url).unwrap())
        .auth(Auth::provider(provider))
        .build()
        .unwrap();
    let me = client.users().me().await.expect("me");
    assert_eq!(refreshes.load(Ordering::SeqCst), 0);
    let gets = |t: &TestSim| {
        t.requests()
            .get("GET /api/v2/users/{id}")
            .copied()
            .unwrap_or(0)
    };
    let before = gets(&t);

    assert_eq!(expire_tokens(&t).await, 1);
    let again = client
        .users()
        .me()
        .await
        .expect("me after expiry: refreshed and retried");
    assert_eq!(again.id, me.id);
    assert_eq!(refreshes.load(Ordering::SeqCst), 1, "exactly one refresh");
    assert_eq!(gets(&t) - before, 2, "a 401 then one retry");
    assert_eq!(t.handle.stats().tokens_refreshed, 1);

    // Raw requests go through the same path; a POST body is replayed on the retry.
    assert_eq!(expire_tokens(&t).await, 1);
    let resp = client
        .raw(dialpad::Method::POST, "/api/v2/contacts")
        .header(
            dialpad::header::CONTENT_TYPE,
            dialpad::header::HeaderValue::from_static("application/json"),
        )
        .body(r#"{"first_name":"Retry","last_name":"Body"}"#)
        .send()
        .await
        .expect("raw after expiry");
    assert_eq!(resp.status().as_u16(), 200);
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["first_name"], "Retry");
    assert_eq!(refreshes.load(Ordering::SeqCst), 2);
    let created = t
        .handle
        .sim
        .db()
        .read()
        .contacts
        .values()
        .filter(|c| c.first_name == "Retry")
        .count();
    assert_eq!(created, 1, "the POST ran once");

    // A provider that cannot refresh: the 401 surfaces, no second retry.
    struct Stale(SecretString);
    #[async_trait::async_trait]
    impl TokenProvider for Stale {
        async fn access_token(&self) -> Result<SecretString, Error> {
            Ok(self.0.clone())
        }
    }
    let stale = Client::builder()
        .base_url(BaseUrl::custom(&t.handle.base_url).unwrap())
        .auth(Auth::provider(Stale("not-a-token".to_owned().into())))
        .build()
        .unwrap();
    assert!(matches!(
        stale.users().me().await.unwrap_err(),
        Error::Unauthorized { .. }
    ));
}
