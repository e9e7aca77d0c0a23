//! Shared test plumbing: a simulator on an ephemeral port plus a client pointed at it.

use std::collections::BTreeMap;

use dialpad::oauth::{AuthorizationCodeGrant, AuthorizeParams, Pkce, TokenResponse};
use dialpad::{BaseUrl, Client, Error, ExposeSecret, StatusCode};
use dialpad_sim::{SimConfig, SimHandle};

/// OAuth client registered in the simulator's default configuration.
pub const CLIENT_ID: &str = "sim-client";
pub const CLIENT_SECRET: &str = "sim-client-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// A running simulator (auto consent on) and a client using its company API key.
pub struct TestSim {
    pub handle: SimHandle,
    pub client: Client,
}

impl TestSim {
    /// A client with other credentials against the same simulator.
    pub fn client_with_key(&self, key: &str) -> Client {
        client_for(&self.handle.base_url, key)
    }

    /// Requests served so far, keyed `"METHOD /path/{template}"`.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.handle.stats().requests
    }

    /// Runs the authorize + code exchange flow for `scope` and returns the tokens.
    pub async fn oauth_tokens(&self, scope: &str) -> TokenResponse {
        let pkce = Pkce::generate();
        let url = self
            .client
            .oauth()
            .authorize_url(&AuthorizeParams {
                client_id: CLIENT_ID.into(),
                redirect_uri: REDIRECT_URI.into(),
                scope: Some(scope.into()),
                state: Some("helper-state".into()),
                code_challenge: Some(pkce.challenge.clone()),
            })
            .expect("authorize url");
        let (code, state) = follow_authorize(url.as_str()).await;
        assert_eq!(state.as_deref(), Some("helper-state"));
        self.client
            .oauth()
            .exchange_code(&AuthorizationCodeGrant {
                code: code.into(),
                redirect_uri: Some(REDIRECT_URI.into()),
                client_id: Some(CLIENT_ID.into()),
                client_secret: Some(CLIENT_SECRET.into()),
                code_verifier: Some(pkce.verifier.clone()),
            })
            .await
            .expect("exchange code")
    }

    /// A client authenticated with an OAuth access token granted `scope`.
    pub async fn oauth_client(&self, scope: &str) -> Client {
        let tokens = self.oauth_tokens(scope).await;
        self.client_with_key(tokens.access_token.expose_secret())
    }
}

/// Starts a simulator with `auto_consent` and the default seed.
pub async fn spawn() -> TestSim {
    spawn_with(SimConfig {
        auto_consent: true,
        ..Default::default()
    })
    .await
}

pub async fn spawn_with(config: SimConfig) -> TestSim {
    let handle = dialpad_sim::spawn(config).await.expect("spawn simulator");
    let client = client_for(&handle.base_url, &handle.api_key);
    TestSim { handle, client }
}

pub fn client_for(base_url: &str, key: &str) -> Client {
    Client::builder()
        .base_url(BaseUrl::custom(base_url).expect("base url"))
        .api_key(key.to_owned())
        .build()
        .expect("client")
}

/// A reqwest client that does not follow redirects (to read `Location`).
pub fn no_redirect_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// GETs an authorize URL (auto consent) and returns `code` and `state` from the redirect.
pub async fn follow_authorize(url: &str) -> (String, Option<String>) {
    let resp = no_redirect_http().get(url).send().await.expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND, "authorize must redirect");
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .expect("Location header")
        .to_str()
        .expect("ascii Location")
        .to_owned();
    let loc = url::Url::parse(&location).expect("Location is a URL");
    assert!(
        location.starts_with(REDIRECT_URI),
        "redirected to {location}, not the redirect_uri"
    );
    let q: BTreeMap<String, String> = loc.query_pairs().into_owned().collect();
    let code = q.get("code").cloned().expect("code in redirect");
    (code, q.get("state").cloned())
}

/// Asserts `err` is `Error::Api` with this status and reason; returns its message.
#[track_caller]
pub fn assert_api(err: &Error, status: u16, reason: &str) -> String {
    match err {
        Error::Api {
            status: s,
            reason: r,
            message,
            ..
        } => {
            assert_eq!(s.as_u16(), status, "status of {err:?}");
            assert_eq!(r.as_deref(), Some(reason), "reason of {err:?}");
            assert!(!message.is_empty(), "empty message in {err:?}");
            message.clone()
        }
        other => panic!("expected Error::Api {status} {reason}, got {other:?}"),
    }
}

/// An id of the first active user in the seed (a company admin when there is one).
pub async fn some_user_id(client: &Client) -> i64 {
    let page = client
        .users()
        .list()
        .state(dialpad::users::UserState::Active)
        .send()
        .await
        .expect("list users");
    page.items
        .iter()
        .find_map(|u| u.id)
        .expect("an active user in the seed")
}
