//! OAuth 2.0: authorize URL, PKCE, code exchange, refresh, deauthorize.
//!
//! Token requests are sent form-encoded without an `Authorization` header,
//! so a client built without credentials can perform them.

use std::fmt;

use base64::Engine as _;
use rand::Rng as _;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use url::Url;

use crate::client::{AuthMode, Client, RequestSpec};
use crate::error::{Error, Result};
use crate::wire;

/// A PKCE verifier and its S256 challenge (RFC 7636).
#[derive(Clone)]
pub struct Pkce {
    /// Keep this until the code exchange; send it as `code_verifier`.
    pub verifier: SecretString,
    /// Put this in the authorize URL as `code_challenge`.
    pub challenge: String,
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"[REDACTED]")
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl Pkce {
    /// The challenge method this type produces.
    pub const METHOD: &'static str = "S256";

    /// A fresh 64-character verifier from the unreserved character set.
    pub fn generate() -> Self {
        const CHARSET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
        let mut rng = rand::rng();
        let verifier: String = (0..64)
            .map(|_| CHARSET[rng.random_range(0..CHARSET.len())] as char)
            .collect();
        Self::from_verifier(SecretString::from(verifier))
    }

    /// Derives the S256 challenge for an existing verifier.
    pub fn from_verifier(verifier: SecretString) -> Self {
        let digest = Sha256::digest(verifier.expose_secret().as_bytes());
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// Parameters of the `/oauth2/authorize` redirect.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeParams {
    pub client_id: String,
    pub redirect_uri: String,
    /// Space-separated scopes (e.g. `"calls:list message_content_export"`).
    pub scope: Option<String>,
    /// Opaque CSRF state echoed back to the redirect URI.
    pub state: Option<String>,
    /// S256 challenge from [`Pkce`].
    pub code_challenge: Option<String>,
}

/// Builds `{base}/oauth2/authorize?response_type=code&…`.
pub fn authorize_url(base: &Url, params: &AuthorizeParams) -> Result<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| Error::Config("base URL cannot have a path".into()))?
        .pop_if_empty()
        .extend(["oauth2", "authorize"]);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code");
        q.append_pair("client_id", &params.client_id);
        q.append_pair("redirect_uri", &params.redirect_uri);
        if let Some(s) = &params.scope {
            q.append_pair("scope", s);
        }
        if let Some(s) = &params.state {
            q.append_pair("state", s);
        }
        if let Some(c) = &params.code_challenge {
            q.append_pair("code_challenge", c);
            q.append_pair("code_challenge_method", Pkce::METHOD);
        }
    }
    Ok(url)
}

/// `grant_type=authorization_code` request.
#[derive(Debug, Clone)]
pub struct AuthorizationCodeGrant {
    pub code: SecretString,
    pub redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    /// PKCE verifier, when the authorize URL carried a challenge.
    pub code_verifier: Option<SecretString>,
}

/// `grant_type=refresh_token` request.
#[derive(Debug, Clone)]
pub struct RefreshTokenGrant {
    pub refresh_token: SecretString,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
}

/// Response of `/oauth2/token`. Unknown fields are ignored.
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    #[serde(deserialize_with = "required_secret")]
    pub access_token: SecretString,
    #[serde(default, deserialize_with = "wire::opt_secret")]
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token in seconds.
    #[serde(default, with = "wire::opt_int64")]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_secret")]
    pub id_token: Option<SecretString>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[REDACTED]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("expires_in", &self.expires_in)
            .field("token_type", &self.token_type)
            .field("id_token", &self.id_token.as_ref().map(|_| "[REDACTED]"))
            .field("scope", &self.scope)
            .finish()
    }
}

fn required_secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    match wire::opt_secret(d)? {
        Some(s) => Ok(s),
        None => Err(serde::de::Error::custom("access_token is null or empty")),
    }
}

/// Handler for OAuth; from [`Client::oauth`].
#[derive(Debug, Clone, Copy)]
pub struct OAuth<'c> {
    pub(crate) client: &'c Client,
}

impl OAuth<'_> {
    /// The authorize URL on this client's base URL.
    pub fn authorize_url(&self, params: &AuthorizeParams) -> Result<Url> {
        authorize_url(self.client.base_url(), params)
    }

    /// Exchanges an authorization code for tokens.
    pub async fn exchange_code(&self, grant: &AuthorizationCodeGrant) -> Result<TokenResponse> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", grant.code.expose_secret()),
        ];
        push_opt(&mut form, "redirect_uri", grant.redirect_uri.as_deref());
        push_opt(&mut form, "client_id", grant.client_id.as_deref());
        push_opt(
            &mut form,
            "client_secret",
            grant.client_secret.as_ref().map(|s| s.expose_secret()),
        );
        push_opt(
            &mut form,
            "code_verifier",
            grant.code_verifier.as_ref().map(|s| s.expose_secret()),
        );
        self.token(&form).await
    }

    /// Gets a new access token with a refresh token.
    pub async fn refresh(&self, grant: &RefreshTokenGrant) -> Result<TokenResponse> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", grant.refresh_token.expose_secret()),
        ];
        push_opt(&mut form, "client_id", grant.client_id.as_deref());
        push_opt(
            &mut form,
            "client_secret",
            grant.client_secret.as_ref().map(|s| s.expose_secret()),
        );
        self.token(&form).await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<TokenResponse> {
        let spec = RequestSpec::new(Method::POST, ["oauth2", "token"])
            .auth(AuthMode::None)
            .form(form)?;
        self.client.json(spec).await.map_err(Error::into_oauth)
    }

    /// `POST /oauth2/deauthorize` with the client's own credentials: revokes
    /// the access token (and its refresh token).
    pub async fn deauthorize(&self) -> Result<()> {
        self.client
            .empty(RequestSpec::new(Method::POST, ["oauth2", "deauthorize"]))
            .await
    }

    /// `POST /oauth2/deauthorize` for a specific access token.
    pub async fn deauthorize_token(&self, access_token: &SecretString) -> Result<()> {
        let spec = RequestSpec::new(Method::POST, ["oauth2", "deauthorize"])
            .auth(AuthMode::Token(access_token.clone()));
        self.client.empty(spec).await
    }
}

fn push_opt<'a>(form: &mut Vec<(&'a str, &'a str)>, key: &'a str, v: Option<&'a str>) {
    if let Some(v) = v {
        form.push((key, v));
    }
}

impl Client {
    /// OAuth endpoints and helpers.
    pub fn oauth(&self) -> OAuth<'_> {
        OAuth { client: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_vector() {
        let p = Pkce::from_verifier(SecretString::from(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ));
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let g = Pkce::generate();
        assert_eq!(g.verifier.expose_secret().len(), 64);
        assert_ne!(
            g.verifier.expose_secret(),
            Pkce::generate().verifier.expose_secret()
        );
        assert!(!format!("{g:?}").contains(g.verifier.expose_secret()));
    }

    #[test]
    fn authorize_url_shape() {
        let base = Url::parse("https://sandbox.dialpad.com").unwrap();
        let u = authorize_url(
            &base,
            &AuthorizeParams {
                client_id: "cid".into(),
                redirect_uri: "https://app.test/cb?x=1".into(),
                scope: Some("calls:list offline_access".into()),
                state: Some("st".into()),
                code_challenge: Some("chal".into()),
            },
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://sandbox.dialpad.com/oauth2/authorize?response_type=code&client_id=cid&redirect_uri=https%3A%2F%2Fapp.test%2Fcb%3Fx%3D1&scope=calls%3Alist+offline_access&state=st&code_challenge=chal&code_challenge_method=S256"
        );
    }

    #[test]
    fn token_response_tolerant_and_redacted() {
        let t: TokenResponse = serde_json::from_str(
            r#"{"access_token":"at_123","refresh_token":null,"expires_in":"3600","id_token":"x.y.z","extra":1}"#,
        )
        .unwrap();
        assert_eq!(t.access_token.expose_secret(), "at_123");
        assert!(t.refresh_token.is_none());
        assert_eq!(t.expires_in, Some(3600));
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("at_123") && !dbg.contains("x.y.z"));
        assert!(serde_json::from_str::<TokenResponse>(r#"{"token_type":"bearer"}"#).is_err());
    }
}
