//! The OAuth 2.0 server end to end with a real HTTP client: authorize (auto-consent and the
//! consent page) → code → token (form and JSON bodies, Basic and body credentials) → API calls
//! with the token → refresh rotation → PKCE → deauthorize.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dialpad_sim::{SimConfig, SimHandle};
use reqwest::{redirect, Client, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const CLIENT: &str = "sim-client";
const SECRET: &str = "sim-client-secret";
const REDIRECT: &str = "http://localhost:8765/callback";

struct T {
    sim: SimHandle,
    http: Client,
}

impl T {
    async fn new(auto_consent: bool) -> Self {
        let sim = dialpad_sim::spawn(SimConfig {
            auto_consent,
            ..SimConfig::default()
        })
        .await
        .expect("spawn");
        let http = Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .expect("client");
        T { sim, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url)
    }

    /// GET /oauth2/authorize with `extra` parameters; returns the redirect's query pairs.
    async fn authorize(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
        ];
        q.extend_from_slice(extra);
        let resp = self
            .http
            .get(self.url("/oauth2/authorize"))
            .query(&q)
            .send()
            .await
            .expect("authorize");
        assert!(resp.status().is_redirection(), "status {}", resp.status());
        location_query(&resp)
    }

    async fn code(&self, extra: &[(&str, &str)]) -> String {
        let q = self.authorize(extra).await;
        param(&q, "code").expect("code in redirect")
    }

    async fn token_form(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url("/oauth2/token"))
            .form(form)
            .send()
            .await
            .expect("token");
        let status = resp.status();
        (status, resp.json().await.expect("json"))
    }

    async fn token_json(&self, body: Value, basic: bool) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url("/oauth2/token")).json(&body);
        if basic {
            req = req.basic_auth(CLIENT, Some(SECRET));
        }
        let resp = req.send().await.expect("token");
        let status = resp.status();
        (status, resp.json().await.expect("json"))
    }

    async fn exchange(&self, code: &str, verifier: Option<&str>) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token_form(&form).await
    }

    async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.token_json(
            json!({"grant_type": "refresh_token", "refresh_token": refresh_token}),
            true,
        )
        .await
    }

    async fn api(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("api");
        let status = resp.status();
        (status, resp.json().await.expect("json"))
    }
}

fn location_query(resp: &reqwest::Response) -> Vec<(String, String)> {
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location header");
    let url = reqwest::Url::parse(loc).expect("absolute Location");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn token_of(v: &Value) -> String {
    v["access_token"].as_str().expect("access_token").to_owned()
}

#[tokio::test]
async fn code_flow_form_body_then_api_calls_as_the_user() {
    let t = T::new(true).await;
    let q = t
        .authorize(&[("state", "xyz 123"), ("scope", "calls:list offline_access")])
        .await;
    assert_eq!(param(&q, "state").as_deref(), Some("xyz 123"));
    let code = param(&q, "code").expect("code");
    assert!(code.len() >= 32);

    let (status, tok) = t.exchange(&code, None).await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    assert_eq!(tok["token_type"], json!("bearer"));
    assert_eq!(tok["expires_in"], json!(3600));
    let access = token_of(&tok);
    assert!(access.len() >= 32);
    assert!(
        tok["refresh_token"].is_string(),
        "offline_access grants a refresh token"
    );

    // The token acts as the consenting user (by default the company admin).
    let (status, me) = t.api("/api/v2/users/me", &access).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["is_super_admin"], json!(true));
    let (status, devices) = t.api("/api/v2/userdevices", &access).await;
    assert_eq!(status, StatusCode::OK);
    let items = devices["items"].as_array().expect("items");
    assert!(
        !items.is_empty() && items.iter().all(|d| d["user_id"] == me["id"]),
        "own devices by default"
    );
    let (status, _) = t.api("/api/v2/company", &access).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "company admins may read the company"
    );
    let (status, _) = t.api("/api/v2/offices", &access).await;
    assert_eq!(status, StatusCode::OK);

    // The code is single-use.
    let (status, err) = t.exchange(&code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], json!("invalid_grant"));

    let stats = t.sim.stats();
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.tokens_refreshed, 0);
}

#[tokio::test]
async fn json_body_with_basic_or_body_credentials() {
    let t = T::new(true).await;
    let code = t.code(&[]).await;
    let (status, tok) = t
        .token_json(
            json!({"grant_type": "authorization_code", "code": code}),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    assert!(
        tok.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    let (status, _) = t.api("/api/v2/users/me", &token_of(&tok)).await;
    assert_eq!(status, StatusCode::OK);

    // As the Python SDK sends it: JSON with the credentials in the body, plus redirect_uri.
    let code = t.code(&[]).await;
    let body = json!({"grant_type": "authorization_code", "code": code, "client_id": CLIENT,
                      "client_secret": SECRET, "redirect_uri": REDIRECT});
    let (status, tok) = t.token_json(body, false).await;
    assert_eq!(status, StatusCode::OK, "{tok}");

    // Form body with Basic credentials.
    let code = t.code(&[]).await;
    let resp = t
        .http
        .post(t.url("/oauth2/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
}

#[tokio::test]
async fn token_errors_follow_rfc_6749() {
    let t = T::new(true).await;
    let code = t.code(&[]).await;
    // Client authentication.
    let (status, err) = t
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", CLIENT),
        ])
        .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_client"))
    );
    let (status, err) = t
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", CLIENT),
            ("client_secret", "wrong"),
        ])
        .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_client"))
    );
    let resp = t
        .http
        .post(t.url("/oauth2/token"))
        .basic_auth("someone-else", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key("www-authenticate"));
    // Grant type.
    let (status, err) = t
        .token_form(&[("grant_type", "password"), ("client_id", CLIENT)])
        .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("unsupported_grant_type"))
    );
    let (status, err) = t
        .token_form(&[("client_id", CLIENT), ("client_secret", SECRET)])
        .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_request"))
    );
    assert!(err["error_description"]
        .as_str()
        .is_some_and(|d| d.contains("grant_type")));
    // A failed client authentication does not burn the code.
    let (status, _) = t.exchange(&code, None).await;
    assert_eq!(status, StatusCode::OK);
    // redirect_uri, when sent, must match.
    let code = t.code(&[]).await;
    let (status, err) = t
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://evil.example/cb"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ])
        .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );
    let (status, err) = t.exchange("made-up", None).await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );
    let (status, err) = t.token_json(json!("not an object"), true).await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_request"))
    );
}

#[tokio::test]
async fn refresh_rotates_and_refuses_the_old_token() {
    let t = T::new(true).await;
    let code = t.code(&[("scope", "offline_access calls:list")]).await;
    let (_, first) = t.exchange(&code, None).await;
    let r1 = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    let (status, second) = t.refresh(&r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"]
        .as_str()
        .expect("rotated refresh token")
        .to_owned();
    assert_ne!(r1, r2);
    assert_ne!(first["access_token"], second["access_token"]);
    let (status, me) = t.api("/api/v2/users/me", &token_of(&second)).await;
    assert_eq!(status, StatusCode::OK, "{me}");

    let (status, err) = t.refresh(&r1).await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );

    // Form body works too, and a narrower scope is allowed, a wider one is not.
    let (status, err) = t
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r2),
            ("scope", "calls:list screen_pop"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ])
        .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_scope"))
    );
    let (status, third) = t
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &r2),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ])
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an invalid_scope attempt leaves r2 usable: {third}"
    );
    let (status, err) = t.refresh(&r2).await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );
    let r3 = third["refresh_token"].as_str().expect("rotated again");
    let (status, _) = t.refresh(r3).await;
    assert_eq!(status, StatusCode::OK);

    let stats = t.sim.stats();
    assert_eq!(stats.tokens_issued, 4, "every access token issued");
    assert_eq!(stats.tokens_refreshed, 3);
}

#[tokio::test]
async fn expired_access_token_is_refused_and_refresh_recovers() {
    let t = T::new(true).await;
    let code = t.code(&[("scope", "offline_access")]).await;
    let (_, tok) = t.exchange(&code, None).await;
    let access = token_of(&tok);
    let (status, _) = t.api("/api/v2/users/me", &access).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(t.sim.sim.expire_tokens(), 1);
    let (status, err) = t.api("/api/v2/users/me", &access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"]["code"], json!(401));

    let (status, fresh) = t
        .refresh(tok["refresh_token"].as_str().expect("refresh"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = t.api("/api/v2/users/me", &token_of(&fresh)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn pkce_s256_and_plain() {
    let t = T::new(true).await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = s256(verifier);
    assert_eq!(
        challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "RFC 7636 appendix B"
    );

    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let code = t.code(&pkce).await;
    let (status, tok) = t.exchange(&code, Some(verifier)).await;
    assert_eq!(status, StatusCode::OK, "{tok}");

    // Wrong verifier: refused, and the code is burnt.
    let code = t.code(&pkce).await;
    let (status, err) = t
        .exchange(&code, Some("wrong-verifier-wrong-verifier-wrong-verifier"))
        .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );
    let (status, _) = t.exchange(&code, Some(verifier)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "code reuse refused");

    // A code issued with a challenge needs a verifier.
    let code = t.code(&pkce).await;
    let (status, err) = t.exchange(&code, None).await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );

    // plain (explicit, and the default when no method is given).
    let code = t
        .code(&[
            ("code_challenge", verifier),
            ("code_challenge_method", "plain"),
        ])
        .await;
    let (status, _) = t.exchange(&code, Some(&challenge)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "plain compares verbatim");
    let code = t
        .code(&[
            ("code_challenge", verifier),
            ("code_challenge_method", "plain"),
        ])
        .await;
    let (status, _) = t.exchange(&code, Some(verifier)).await;
    assert_eq!(status, StatusCode::OK);
    let code = t.code(&[("code_challenge", verifier)]).await;
    let (status, _) = t.exchange(&code, Some(verifier)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn deauthorize_revokes_access_and_refresh_tokens() {
    let t = T::new(true).await;
    let code = t.code(&[("scope", "offline_access")]).await;
    let (_, tok) = t.exchange(&code, None).await;
    let access = token_of(&tok);

    let resp = t
        .http
        .post(t.url("/oauth2/deauthorize"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("deauth");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.expect("json"), json!({}));

    let (status, err) = t.api("/api/v2/users/me", &access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"]["code"], json!(401));
    let (status, err) = t
        .refresh(tok["refresh_token"].as_str().expect("refresh"))
        .await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );

    // Again: the token is unknown now.
    let resp = t
        .http
        .post(t.url("/oauth2/deauthorize"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("deauth");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = t
        .http
        .post(t.url("/oauth2/deauthorize"))
        .send()
        .await
        .expect("deauth");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn consent_page_approve_and_deny() {
    let t = T::new(false).await;
    let q = [
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", "http://localhost:8765/cb?keep=1"),
        ("state", "s<t>"),
        ("scope", "calls:list offline_access"),
    ];
    let resp = t
        .http
        .get(t.url("/oauth2/authorize"))
        .query(&q)
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/html")));
    let html = resp.text().await.expect("html");
    for needle in [
        CLIENT,
        "calls:list",
        "offline_access",
        "Approve",
        "Deny",
        "/oauth2/authorize/consent",
        "s&lt;t&gt;",
    ] {
        assert!(html.contains(needle), "consent page lacks {needle:?}");
    }
    assert!(!html.contains("s<t>"), "values are escaped");
    for external in ["<script", "<link", "src=", "@import"] {
        assert!(
            !html.contains(external),
            "self-contained page, found {external:?}"
        );
    }

    let mut form: Vec<(&str, &str)> = q[1..].to_vec();
    form.push(("decision", "deny"));
    let resp = t
        .http
        .post(t.url("/oauth2/authorize/consent"))
        .form(&form)
        .send()
        .await
        .expect("deny");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let back = location_query(&resp);
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back, "state").as_deref(), Some("s<t>"));
    assert_eq!(
        param(&back, "keep").as_deref(),
        Some("1"),
        "the redirect URI's own query is kept"
    );
    assert!(param(&back, "code").is_none());

    // Approve as another (non-admin) user picked on the page.
    let (_, users) = {
        let resp = t
            .http
            .get(t.url("/api/v2/users?state=active"))
            .bearer_auth(&t.sim.api_key)
            .send()
            .await
            .expect("users");
        (resp.status(), resp.json::<Value>().await.expect("json"))
    };
    let other = users["items"][4]["id"]
        .as_str()
        .expect("user id")
        .to_owned();
    let mut form: Vec<(&str, &str)> = q[1..].to_vec();
    form.push(("decision", "approve"));
    form.push(("user_id", &other));
    let resp = t
        .http
        .post(t.url("/oauth2/authorize/consent"))
        .form(&form)
        .send()
        .await
        .expect("approve");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let back = location_query(&resp);
    assert_eq!(param(&back, "state").as_deref(), Some("s<t>"));
    let code = param(&back, "code").expect("code");
    let (status, tok) = t
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:8765/cb?keep=1"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    let (status, me) = t.api("/api/v2/users/me", &token_of(&tok)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], json!(other));
    let (status, err) = t.api("/api/v2/company", &token_of(&tok)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "company.get needs a company admin: {err}"
    );
}

#[tokio::test]
async fn user_id_parameter_with_auto_consent() {
    let t = T::new(true).await;
    let resp = t
        .http
        .get(t.url("/api/v2/users?state=active"))
        .bearer_auth(&t.sim.api_key)
        .send()
        .await
        .expect("users");
    let users: Value = resp.json().await.expect("json");
    let uid = users["items"][2]["id"].as_str().expect("id").to_owned();
    let code = t.code(&[("user_id", &uid)]).await;
    let (_, tok) = t.exchange(&code, None).await;
    let (_, me) = t.api("/api/v2/users/me", &token_of(&tok)).await;
    assert_eq!(me["id"], json!(uid));
}

#[tokio::test]
async fn bad_authorize_requests_get_an_error_page_not_a_redirect() {
    let t = T::new(true).await;
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("redirect_uri", REDIRECT)],
        vec![("client_id", "unknown"), ("redirect_uri", REDIRECT)],
        vec![("client_id", CLIENT)],
        vec![("client_id", CLIENT), ("redirect_uri", "not a uri")],
        vec![
            ("client_id", CLIENT),
            ("redirect_uri", "http://localhost/cb#frag"),
        ],
        vec![
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("response_type", "token"),
        ],
        vec![
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("code_challenge", "x"),
            ("code_challenge_method", "MD5"),
        ],
        vec![
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("code_challenge_method", "S256"),
        ],
        vec![
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("user_id", "12"),
        ],
    ];
    for q in cases {
        let resp = t
            .http
            .get(t.url("/oauth2/authorize"))
            .query(&q)
            .send()
            .await
            .expect("authorize");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q:?}");
        assert!(
            resp.headers().get("location").is_none(),
            "{q:?} must not redirect"
        );
        let html = resp.text().await.expect("html");
        assert!(html.contains("<html"), "{q:?}: HTML error page");
    }
}

#[tokio::test]
async fn expired_codes_are_refused() {
    let t = T::new(true).await;
    let code = t.code(&[]).await;
    t.sim
        .sim
        .db()
        .write()
        .oauth
        .codes
        .values_mut()
        .for_each(|c| c.expires_at_ms = 0);
    let (status, err) = t.exchange(&code, None).await;
    assert_eq!(
        (status, err["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );
}
