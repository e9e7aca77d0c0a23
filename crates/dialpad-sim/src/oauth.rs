//! Dialpad's OAuth 2.0 server: `/oauth2/authorize` (consent page), `/oauth2/token`,
//! `/oauth2/deauthorize`.
//!
//! Authorization-code flow with optional PKCE (`S256` or `plain`). Codes are single-use and live
//! ten minutes. Refresh tokens are issued when the `offline_access` scope was granted (Dialpad's
//! documented way to get one) and rotate on every use: the old one is refused afterwards.
//! Whatever scopes the client asks for are granted, as the consent page shows them.

use std::collections::{BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::distr::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::operations::Op;
use crate::params::Params;
use crate::state::{AccessToken, AuthCode, Db, RefreshToken, Sim};
use crate::wire::{self, now_ms};

pub const OPERATIONS: &[Op] = &[
    Op::new("GET", "/oauth2/authorize", "oauth2.authorize.get"),
    Op::new("POST", "/oauth2/token", "oauth2.token.post"),
    Op::new("POST", "/oauth2/deauthorize", "oauth2.deauthorize.post"),
];

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/oauth2/authorize", get(authorize))
        // The consent page's form (not a Dialpad API operation).
        .route("/oauth2/authorize/consent", post(consent))
        .route("/oauth2/token", post(token))
        .route("/oauth2/deauthorize", post(deauthorize))
}

/// Authorization codes expire after ten minutes.
const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// The scope that makes the token endpoint issue a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

impl Sim {
    /// Marks every OAuth access token expired (API calls with them then answer 401); refresh
    /// tokens stay valid. Returns how many still-live tokens were expired (`POST
    /// /_sim/tokens/expire` answers this count).
    pub fn expire_tokens(&self) -> usize {
        let now = now_ms();
        let mut db = self.db().write();
        let mut expired = 0;
        for t in db.oauth.access_tokens.values_mut() {
            if t.expires_at_ms > now {
                t.expires_at_ms = now - 1;
                expired += 1;
            }
        }
        expired
    }
}

/// A long, unguessable token. Not from the seeded rng: tokens need not be reproducible.
fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// /oauth2/authorize

/// A validated authorization request.
struct AuthzRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scopes: BTreeSet<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    user_id: i64,
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f4f2fb;\
color:#1d1b29;display:flex;justify-content:center;padding:48px 16px;margin:0}\
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:32px;max-width:440px;width:100%}\
h1{font-size:20px;margin:0 0 16px}p{line-height:1.5}ul{padding-left:20px}li{margin:4px 0}\
code{background:#f0eef7;padding:1px 5px;border-radius:4px}select{width:100%;padding:6px;margin:4px 0 16px}\
.buttons{display:flex;gap:12px;margin-top:20px}button{flex:1;padding:10px;border-radius:8px;font-size:15px;\
cursor:pointer;border:1px solid #6c3dff}.approve{background:#6c3dff;color:#fff}.deny{background:#fff;color:#6c3dff}\
.muted{color:#6b6880;font-size:13px}.error{color:#b3261e}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title>\
<style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        html_escape(title)
    )
}

/// 400 with an HTML page: the request is not safe to redirect back to.
fn html_error(message: &str) -> Response {
    let body = format!(
        "<h1>Authorization error</h1><p class=\"error\">{}</p>\
<p class=\"muted\">Dialpad (simulator) could not start the authorization.</p>",
        html_escape(message)
    );
    (
        StatusCode::BAD_REQUEST,
        Html(page("Authorization error", &body)),
    )
        .into_response()
}

/// An authorization problem, shown on the HTML error page.
fn bad(message: &str) -> String {
    message.to_owned()
}

/// Checks an authorization request (query of the GET, or the consent form's fields).
/// Every problem answers an HTML 400 page; nothing redirects to a URI that failed checks.
fn validate_authz(sim: &Sim, db: &Db, p: &Params) -> Result<AuthzRequest, String> {
    let client_id = p
        .str("client_id")
        .ok_or_else(|| bad("Missing client_id."))?;
    if !sim
        .config()
        .oauth_clients
        .iter()
        .any(|c| c.client_id == client_id)
    {
        return Err(bad(&format!("Unknown client_id {client_id:?}.")));
    }
    let redirect_uri = p
        .str("redirect_uri")
        .ok_or_else(|| bad("Missing redirect_uri."))?;
    match url::Url::parse(redirect_uri) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.fragment().is_none() => {}
        Ok(_) => {
            return Err(bad(
                "redirect_uri must be an http(s) URI without a fragment.",
            ));
        }
        Err(_) => return Err(bad("redirect_uri is not an absolute URI.")),
    }
    match p.str("response_type") {
        None | Some("code") => {}
        Some(other) => {
            return Err(bad(&format!(
                "Unsupported response_type {other:?}: only \"code\" is supported."
            )))
        }
    }
    let code_challenge = p.str("code_challenge").map(str::to_owned);
    let code_challenge_method = match (p.str("code_challenge_method"), &code_challenge) {
        (Some(m @ ("S256" | "plain")), Some(_)) => Some(m.to_owned()),
        (Some(m @ ("S256" | "plain")), None) => {
            return Err(bad(&format!(
                "code_challenge_method {m} given without a code_challenge."
            )))
        }
        (Some(other), _) => {
            return Err(bad(&format!(
                "Unsupported code_challenge_method {other:?}: use S256 or plain."
            )))
        }
        // RFC 7636: the method defaults to plain.
        (None, Some(_)) => Some("plain".to_owned()),
        (None, None) => None,
    };
    let scopes: BTreeSet<String> = p
        .str("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let user_id = match p.str("user_id") {
        Some(raw) => {
            let id: i64 = raw
                .trim()
                .parse()
                .map_err(|_| bad("user_id must be an integer."))?;
            match db.users.get(&id) {
                Some(u) if u.state == "active" => id,
                Some(_) => return Err(bad("That user is not active and cannot grant access.")),
                None => return Err(bad("No such user.")),
            }
        }
        None => {
            default_user(db).ok_or_else(|| bad("The company has no active user to sign in."))?
        }
    };
    Ok(AuthzRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: p.str("state").map(str::to_owned),
        scopes,
        code_challenge,
        code_challenge_method,
        user_id,
    })
}

/// The user who consents by default: the first active company admin, else the first active user.
fn default_user(db: &Db) -> Option<i64> {
    let active = || db.users.values().filter(|u| u.state == "active");
    active()
        .find(|u| u.is_super_admin)
        .or_else(|| active().next())
        .map(|u| u.id)
}

/// `redirect_uri` with `extra` appended to its query (existing parameters kept intact).
fn redirect_with(redirect_uri: &str, extra: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return html_error("redirect_uri is not an absolute URI.");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(loc) => (StatusCode::FOUND, [(LOCATION, loc)]).into_response(),
        Err(_) => html_error("redirect_uri cannot be used in a redirect."),
    }
}

fn approve(db: &mut Db, req: AuthzRequest) -> Response {
    let code = random_token(40);
    let now = now_ms();
    db.oauth.codes.retain(|_, c| c.expires_at_ms > now);
    db.oauth.codes.insert(
        code.clone(),
        AuthCode {
            client_id: req.client_id,
            redirect_uri: req.redirect_uri.clone(),
            user_id: req.user_id,
            scopes: req.scopes,
            code_challenge: req.code_challenge,
            code_challenge_method: req.code_challenge_method,
            expires_at_ms: now + CODE_TTL_MS,
        },
    );
    let mut extra = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        extra.push(("state", s));
    }
    redirect_with(&req.redirect_uri, &extra)
}

fn deny(req: &AuthzRequest) -> Response {
    let mut extra = vec![("error", "access_denied")];
    if let Some(s) = &req.state {
        extra.push(("state", s));
    }
    redirect_with(&req.redirect_uri, &extra)
}

fn scope_description(scope: &str) -> &'static str {
    match scope {
        OFFLINE_ACCESS => "Stay connected when you are away (refresh tokens)",
        "calls:list" => "Read your company's call history",
        "recordings_export" => "Receive call recording links",
        "message_content_export" => "Export the content of your SMS messages",
        "message_content_export:all" => "Export the company's SMS content",
        "screen_pop" => "Open screen pops in your Dialpad app",
        "change_log" => "Read change-log events",
        "fax_message" => "Send and read faxes",
        _ => "Additional access",
    }
}

/// `GET /oauth2/authorize`: the consent page, or with `auto_consent` a redirect with the code.
async fn authorize(State(sim): State<Sim>, params: Params) -> Response {
    if sim.config().auto_consent {
        let mut db = sim.db().write();
        return match validate_authz(&sim, &db, &params) {
            Ok(req) => approve(&mut db, req),
            Err(msg) => html_error(&msg),
        };
    }
    let db = sim.db().read();
    let req = match validate_authz(&sim, &db, &params) {
        Ok(r) => r,
        Err(msg) => return html_error(&msg),
    };
    let hidden = |name: &str, v: Option<&str>| match v {
        Some(v) => format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            html_escape(v)
        ),
        None => String::new(),
    };
    let scope_joined = req.scopes.iter().cloned().collect::<Vec<_>>().join(" ");
    let scopes_html = if req.scopes.is_empty() {
        "<li>Basic access to your Dialpad account</li>".to_owned()
    } else {
        std::iter::once("<li>Basic access to your Dialpad account</li>".to_owned())
            .chain(req.scopes.iter().map(|s| {
                format!(
                    "<li><code>{}</code> — {}</li>",
                    html_escape(s),
                    scope_description(s)
                )
            }))
            .collect()
    };
    let users_html: String = db
        .users
        .values()
        .filter(|u| u.state == "active")
        .map(|u| {
            format!(
                "<option value=\"{}\"{}>{} ({})</option>",
                u.id,
                if u.id == req.user_id { " selected" } else { "" },
                html_escape(&u.display_name),
                html_escape(u.primary_email().unwrap_or_default())
            )
        })
        .collect();
    let body = format!(
        "<h1>Allow <strong>{client}</strong> to access your Dialpad account?</h1>\
<p>{client} is asking for:</p><ul>{scopes_html}</ul>\
<form method=\"post\" action=\"/oauth2/authorize/consent\">\
<label for=\"user_id\" class=\"muted\">Signed in as</label>\
<select id=\"user_id\" name=\"user_id\">{users_html}</select>\
{f_client}{f_redirect}{f_state}{f_scope}{f_challenge}{f_method}\
<div class=\"buttons\"><button class=\"deny\" type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
<button class=\"approve\" type=\"submit\" name=\"decision\" value=\"approve\">Approve</button></div>\
</form><p class=\"muted\">You will be sent back to {redirect}.</p>",
        client = html_escape(&req.client_id),
        redirect = html_escape(&req.redirect_uri),
        f_client = hidden("client_id", Some(&req.client_id)),
        f_redirect = hidden("redirect_uri", Some(&req.redirect_uri)),
        f_state = hidden("state", req.state.as_deref()),
        f_scope = hidden("scope", (!scope_joined.is_empty()).then_some(scope_joined.as_str())),
        f_challenge = hidden("code_challenge", req.code_challenge.as_deref()),
        f_method = hidden("code_challenge_method", req.code_challenge_method.as_deref()),
    );
    let mut resp = Html(page("Authorize application · Dialpad", &body)).into_response();
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The consent form: `decision=approve` redirects with a code, anything else with
/// `error=access_denied`.
async fn consent(State(sim): State<Sim>, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return html_error("The form is not UTF-8.");
    };
    let params = Params::parse(text);
    let mut db = sim.db().write();
    let req = match validate_authz(&sim, &db, &params) {
        Ok(r) => r,
        Err(msg) => return html_error(&msg),
    };
    if params.str("decision") == Some("approve") {
        approve(&mut db, req)
    } else {
        deny(&req)
    }
}

// ---------------------------------------------------------------------------------------------
// /oauth2/token

/// An RFC 6749 error answer.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Ask for HTTP Basic (invalid_client when Basic was used).
    basic_challenge: bool,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }
    fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
            basic_challenge: basic,
        }
    }
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "error_description": self.description});
        let mut resp = (self.status, axum::Json(body)).into_response();
        no_store(&mut resp);
        if self.basic_challenge {
            resp.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"dialpad\""),
            );
        }
        resp
    }
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// The token request's fields, from a form or a JSON object (non-string JSON values become
/// their text; empty values are absent).
fn token_fields(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    let trimmed = body.iter().find(|b| !b.is_ascii_whitespace());
    if is_json || trimmed == Some(&b'{') {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
            .map_err(|e| OAuthError::new("invalid_request", format!("Malformed JSON body: {e}")))?;
        Ok(map
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Null => None,
                other => Some((k, other.to_string())),
            })
            .filter(|(_, v)| !v.trim().is_empty())
            .collect())
    } else {
        Ok(url::form_urlencoded::parse(body)
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect())
    }
}

/// `application/x-www-form-urlencoded` decoding of one Basic credential part (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The client, authenticated by HTTP Basic or by `client_id`/`client_secret` in the body.
fn authenticate_client(
    sim: &Sim,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<String, OAuthError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.trim()
                .strip_prefix("Basic ")
                .or_else(|| v.trim().strip_prefix("basic "))
        });
    let (id, secret, via_basic) = match basic {
        Some(b) => {
            let decoded = STANDARD
                .decode(b.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| OAuthError::invalid_client("Malformed Basic credentials", true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("Malformed Basic credentials", true))?;
            let id = form_decode(id);
            if f.get("client_id").is_some_and(|body_id| *body_id != id) {
                return Err(OAuthError::new(
                    "invalid_request",
                    "client_id in the body differs from Basic credentials",
                ));
            }
            (id, Some(form_decode(secret)), true)
        }
        None => {
            let id = f
                .get("client_id")
                .cloned()
                .ok_or_else(|| OAuthError::invalid_client("Missing client credentials", false))?;
            (id, f.get("client_secret").cloned(), false)
        }
    };
    let client = sim
        .config()
        .oauth_clients
        .iter()
        .find(|c| c.client_id == id)
        .ok_or_else(|| OAuthError::invalid_client("Unknown client", via_basic))?;
    match secret {
        Some(s) if s == client.client_secret => Ok(id),
        Some(_) => Err(OAuthError::invalid_client("Wrong client secret", via_basic)),
        None => Err(OAuthError::invalid_client(
            "Missing client_secret",
            via_basic,
        )),
    }
}

fn pkce_ok(method: &str, challenge: &str, verifier: &str) -> bool {
    match method {
        "S256" => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge,
        _ => verifier == challenge,
    }
}

impl Db {
    /// Issues an access token (and a refresh token when `offline_access` was granted).
    fn issue_tokens(
        &mut self,
        client_id: &str,
        user_id: i64,
        scopes: BTreeSet<String>,
        ttl_secs: u64,
    ) -> (String, Option<String>) {
        let access = random_token(64);
        let refresh = scopes.contains(OFFLINE_ACCESS).then(|| random_token(64));
        if let Some(r) = &refresh {
            self.oauth.refresh_tokens.insert(
                r.clone(),
                RefreshToken {
                    client_id: client_id.to_owned(),
                    user_id,
                    scopes: scopes.clone(),
                },
            );
        }
        let ttl_ms = i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.oauth.access_tokens.insert(
            access.clone(),
            AccessToken {
                client_id: client_id.to_owned(),
                user_id,
                scopes,
                expires_at_ms: now_ms().saturating_add(ttl_ms),
                refresh_token: refresh.clone(),
            },
        );
        (access, refresh)
    }
}

fn require<'a>(f: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    f.get(name)
        .map(String::as_str)
        .ok_or_else(|| OAuthError::new("invalid_request", format!("Missing {name}")))
}

/// `POST /oauth2/token`: `authorization_code` and `refresh_token` grants.
async fn token(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    match token_inner(&sim, &headers, &body) {
        Ok(t) => {
            let mut resp = axum::Json(t).into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => e.into_response(),
    }
}

fn token_inner(sim: &Sim, headers: &HeaderMap, body: &[u8]) -> Result<TokenResponse, OAuthError> {
    let f = token_fields(headers, body)?;
    let grant_type = require(&f, "grant_type")?.to_owned();
    if grant_type != "authorization_code" && grant_type != "refresh_token" {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type {grant_type:?} is not supported"),
        ));
    }
    let client_id = authenticate_client(sim, headers, &f)?;
    let ttl = sim.config().access_token_ttl.as_secs();
    let mut db = sim.db().write();
    let (access, refresh) = if grant_type == "authorization_code" {
        let code = require(&f, "code")?;
        // Single use: a code is gone once presented by its client, whatever the outcome.
        let stored = match db.oauth.codes.get(code) {
            Some(c) if c.client_id == client_id => db.oauth.codes.remove(code),
            _ => None,
        }
        .ok_or_else(|| {
            OAuthError::new(
                "invalid_grant",
                "Unknown, used or foreign authorization code",
            )
        })?;
        if stored.expires_at_ms <= now_ms() {
            return Err(OAuthError::new(
                "invalid_grant",
                "Authorization code expired",
            ));
        }
        // Dialpad's grant schema has no redirect_uri; when one is sent it must match.
        if f.get("redirect_uri")
            .is_some_and(|r| *r != stored.redirect_uri)
        {
            return Err(OAuthError::new(
                "invalid_grant",
                "redirect_uri does not match the authorization request",
            ));
        }
        if let Some(challenge) = &stored.code_challenge {
            let verifier = f
                .get("code_verifier")
                .ok_or_else(|| OAuthError::new("invalid_grant", "code_verifier required (PKCE)"))?;
            let method = stored.code_challenge_method.as_deref().unwrap_or("plain");
            if !pkce_ok(method, challenge, verifier) {
                return Err(OAuthError::new(
                    "invalid_grant",
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        if db
            .live_user(stored.user_id)
            .is_none_or(|u| u.state != "active")
        {
            return Err(OAuthError::new(
                "invalid_grant",
                "The user who granted access is no longer active",
            ));
        }
        db.issue_tokens(&client_id, stored.user_id, stored.scopes, ttl)
    } else {
        let presented = require(&f, "refresh_token")?;
        let stored = db
            .oauth
            .refresh_tokens
            .get(presented)
            .filter(|r| r.client_id == client_id)
            .cloned()
            .ok_or_else(|| {
                OAuthError::new(
                    "invalid_grant",
                    "Unknown, revoked or already used refresh token",
                )
            })?;
        // An optional narrower scope (RFC 6749 §6); a refused request leaves the token usable.
        let scopes = match f.get("scope") {
            Some(s) => {
                let mut asked: BTreeSet<String> = s.split_whitespace().map(str::to_owned).collect();
                if !asked.is_subset(&stored.scopes) {
                    return Err(OAuthError::new(
                        "invalid_scope",
                        "scope exceeds the original grant",
                    ));
                }
                // The new pair keeps offline access so it can be refreshed again.
                asked.insert(OFFLINE_ACCESS.to_owned());
                asked
            }
            None => stored.scopes.clone(),
        };
        // Rotation: the presented refresh token is spent from here on.
        db.oauth.refresh_tokens.remove(presented);
        if db
            .live_user(stored.user_id)
            .is_none_or(|u| u.state != "active")
        {
            return Err(OAuthError::new(
                "invalid_grant",
                "The user who granted access is no longer active",
            ));
        }
        let issued = db.issue_tokens(&client_id, stored.user_id, scopes, ttl);
        sim.stats().lock().tokens_refreshed += 1;
        issued
    };
    drop(db);
    sim.stats().lock().tokens_issued += 1;
    Ok(TokenResponse {
        access_token: access,
        token_type: "bearer",
        expires_in: ttl,
        refresh_token: refresh,
    })
}

// ---------------------------------------------------------------------------------------------
// /oauth2/deauthorize

/// Revokes the app's authorization for the token's user: the presented access token and every
/// access and refresh token of the same client and user. Expired tokens can still deauthorize.
async fn deauthorize(
    State(sim): State<Sim>,
    headers: HeaderMap,
    params: Params,
) -> Result<wire::Reply, ApiError> {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .or_else(|| params.str("apikey").map(str::to_owned))
        .ok_or_else(|| ApiError::unauthorized("Missing access token"))?;
    let mut db = sim.db().write();
    let Some(t) = db.oauth.access_tokens.get(&presented).cloned() else {
        if sim.config().api_keys.contains(&presented) {
            return Err(ApiError::bad_request(
                "Only OAuth access tokens can be deauthorized",
            ));
        }
        return Err(ApiError::unauthorized("Invalid access token"));
    };
    db.oauth
        .access_tokens
        .retain(|_, a| !(a.client_id == t.client_id && a.user_id == t.user_id));
    db.oauth
        .refresh_tokens
        .retain(|_, r| !(r.client_id == t.client_id && r.user_id == t.user_id));
    Ok(wire::empty())
}
