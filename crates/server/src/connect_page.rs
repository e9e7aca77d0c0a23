//! The hosted connect page (`GET /connect?session=…`): what the app asks access to, a Connect
//! button (`#dpc-connect-button` in form `#dpc-connect-form`, POST `/connect/authorize`) that
//! goes through Dialpad's consent and back to `/oauth/callback`, and the result page
//! (`#dpc-result`, `data-status="authorized"` or `"error"`). Self-contained HTML, inline CSS.
//!
//! The result page after `/oauth/callback` decides in the browser where the outcome goes,
//! because only the browser knows whether it runs in a popup: with a `window.opener` (the page
//! was opened by `window.open`, as Morph's `<Connect>` atom does) it posts
//! `{type: "dialpad-connector:authorization", status, connectorId, ownerId, error?}` to each of
//! `DPC_ALLOWED_ORIGINS` and closes itself; the atom notices the closed popup and reads the
//! connection again. In a full window it goes on to the app's `redirectUrl` (the outcome in the
//! query) when there is one, and otherwise stays as our result page.

use dpc_core::ErrorCode;
use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::session_from_token;
use crate::authorization::{url_for_session, wanted_scopes};
use crate::config::Config;
use crate::connections::load;
use crate::operations;
use crate::AppState;

/// The browser-binding cookie's name: with the `__Host-` prefix (HTTPS only, no Domain, Path=/,
/// so no subdomain can plant or overwrite it) when the public URL is HTTPS.
fn cookie_name(config: &Config) -> &'static str {
    if config.public_is_https() {
        "__Host-dpc_connect"
    } else {
        "dpc_connect"
    }
}

/// The value of the connect page's browser-binding cookie, if the request carries it.
pub fn binding_cookie(headers: &HeaderMap, config: &Config) -> Option<String> {
    let name = cookie_name(config);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// `Set-Cookie` for a fresh binding value: HttpOnly (no script reads it), SameSite=Lax (sent on
/// the top-level navigation back from Dialpad, not on cross-site subrequests), an hour long.
fn binding_set_cookie(config: &Config, value: &str) -> Option<HeaderValue> {
    let secure = if config.public_is_https() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600{secure}",
        cookie_name(config)
    ))
    .ok()
}

fn new_binding_value() -> String {
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Headers for every page of the connect flow (connect page, its form's answers, the OAuth
/// callback): never cached (they carry one-time links), never framed (clickjacking of the
/// Connect button), no referrer to other sites (the connect token is in the URL). A page that sets its own
/// Content-Security-Policy keeps it.
pub async fn page_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // `same-origin`, not `no-referrer`: the connect token in the URL never reaches another
    // site, while the page's own form post keeps its real `Origin` (under `no-referrer`
    // browsers send `Origin: null`, which the form's Origin check would refuse).
    if !h.contains_key(header::REFERRER_POLICY) {
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
            ),
        );
    }
    resp
}

/// How an authorization ended, for the result page.
#[derive(Debug)]
pub enum Outcome {
    Connected,
    Failed {
        status: StatusCode,
        code: ErrorCode,
        message: String,
    },
}

pub fn escape(s: &str) -> String {
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

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1f2330;margin:0}\
main{max-width:460px;margin:48px auto;background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:32px}\
h1{font-size:1.35rem;margin:0 0 8px}p{line-height:1.5}ul{padding-left:0;list-style:none}\
li{padding:8px 0;border-bottom:1px solid #eceef2}li small{display:block;color:#6b7080;font-family:ui-monospace,monospace}\
button{width:100%;padding:12px;font-size:1rem;border:0;border-radius:8px;background:#6c3dff;color:#fff;cursor:pointer}\
button:hover{background:#5a2ee6}.ok{color:#16794c}.err{color:#b42318}.muted{color:#6b7080;font-size:.9rem}";

pub fn html_page(title: &str, body: &str) -> Html<String> {
    page_with_script(title, body, "")
}

/// A page whose `after_main` (scripts) follows the `<main>` element, so it runs once the result
/// it reads is in the document.
fn page_with_script(title: &str, body: &str, after_main: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body><main>{body}</main>{after_main}</body></html>",
        escape(title)
    ))
}

pub fn result_page(outcome: &Outcome) -> Html<String> {
    html_page(outcome.title(), &result_body(outcome, None))
}

impl Outcome {
    fn title(&self) -> &'static str {
        match self {
            Outcome::Connected => "Connected",
            Outcome::Failed { .. } => "Not connected",
        }
    }
}

fn result_body(outcome: &Outcome, continue_to: Option<&str>) -> String {
    // Without JavaScript nothing redirects: the link still gets the user back to the app.
    let link = continue_to
        .map(|u| {
            format!(
                "<p><a id=\"dpc-continue\" href=\"{}\">Continue to the app</a></p>",
                escape(u)
            )
        })
        .unwrap_or_default();
    match outcome {
        Outcome::Connected => format!(
            "<div id=\"dpc-result\" data-status=\"authorized\"><h1 class=\"ok\">Connected</h1>\
<p>Your Dialpad account is connected. You can close this window.</p>{link}</div>"
        ),
        Outcome::Failed { code, message, .. } => format!(
            "<div id=\"dpc-result\" data-status=\"error\" data-error=\"{}\"><h1 class=\"err\">Not connected</h1>\
<p>{}</p><p class=\"muted\">Error code: <code>{}</code></p>{link}</div>",
            escape(code.as_str()),
            escape(message),
            escape(code.as_str())
        ),
    }
}

/// What the result page's script does with the outcome (`#dpc-outcome`, a JSON data block). It
/// is a constant, so its hash can go into the CSP; everything variable travels as data.
/// `window.closed` turns true at once when `close()` is honoured; a window the script may not
/// close (a tab the user opened) falls through to the full-window behaviour.
pub const OUTCOME_SCRIPT: &str = "(function(){\
var o=JSON.parse(document.getElementById('dpc-outcome').textContent);\
if(window.opener){\
var m={type:'dialpad-connector:authorization',status:o.status,connectorId:o.connectorId,ownerId:o.ownerId};\
if(o.error)m.error=o.error;\
for(var i=0;i<o.origins.length;i++){try{window.opener.postMessage(m,o.origins[i]);}catch(e){}}\
window.close();\
if(window.closed)return;\
}\
if(o.redirect)location.replace(o.redirect);\
})();";

/// The message type the result page posts to its opener.
pub const MESSAGE_TYPE: &str = "dialpad-connector:authorization";

fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Only our own inline style and the outcome script may run; the page loads nothing, posts no
/// form and may not be framed (nothing here is meant to be embedded: clickjacking).
static RESULT_CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let csp = format!(
        "default-src 'none'; script-src {}; style-src {}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        csp_hash(OUTCOME_SCRIPT),
        csp_hash(STYLE)
    );
    HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// JSON that is safe inside `<script>`: `<`, `>` and `&` only ever occur inside JSON strings, so
/// writing them as `\u00XX` escapes keeps the value and makes `</script>` or `<!--` impossible.
pub fn script_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

/// The page `/oauth/callback` answers with (see the module doc): `ids` are the connection's
/// (unknown when the `state` was), `redirect` the app's `redirectUrl` with the outcome in its
/// query, `origins` where a popup posts the outcome.
pub fn callback_page(
    outcome: &Outcome,
    ids: Option<(&str, &str)>,
    redirect: Option<&str>,
    origins: &[String],
) -> Response {
    let (status, data) = match outcome {
        Outcome::Connected => (StatusCode::OK, json!({"status": "authorized"})),
        Outcome::Failed { status, code, .. } => {
            (*status, json!({"status": "error", "error": code}))
        }
    };
    let mut data = data;
    data["connectorId"] = json!(ids.map(|i| i.0));
    data["ownerId"] = json!(ids.map(|i| i.1));
    data["redirect"] = json!(redirect);
    data["origins"] = json!(origins);
    let script = format!(
        "<script type=\"application/json\" id=\"dpc-outcome\">{}</script><script>{OUTCOME_SCRIPT}</script>",
        script_json(&data)
    );
    let page = page_with_script(outcome.title(), &result_body(outcome, redirect), &script);
    let mut response = (status, page).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, RESULT_CSP.clone());
    // The callback's URL carries the authorization code: no Referer to the app, no caching.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_page(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let outcome = Outcome::Failed {
        status,
        code,
        message: message.to_owned(),
    };
    (status, result_page(&outcome)).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    session: Option<String>,
}

/// `GET /connect?session=…`.
pub async fn page(
    State(state): State<AppState>,
    req_headers: HeaderMap,
    query: Result<axum::extract::Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|q| q.0).unwrap_or_default();
    let Some(token) = q.session.filter(|s| !s.is_empty()) else {
        return error_page(
            StatusCode::NOT_FOUND,
            ErrorCode::SessionInvalid,
            "This connect link is incomplete. Start again from the app.",
        );
    };
    let auth = match session_from_token(&state, &token).await {
        Ok(a) => a,
        Err(e) if e.code == ErrorCode::SessionExpired => {
            return error_page(
                StatusCode::UNAUTHORIZED,
                e.code,
                "This connect link has expired. Start again from the app.",
            )
        }
        Err(e) if e.code == ErrorCode::SessionInvalid => {
            return error_page(
                StatusCode::NOT_FOUND,
                e.code,
                "This connect link is not valid. Start again from the app.",
            )
        }
        Err(e) => return error_page(e.status, e.code, "Something went wrong. Please try again."),
    };
    let conn = match load(&state, &auth.connector_id, &auth.owner_id).await {
        Ok(c) => c,
        Err(e) => return error_page(e.status, e.code, &e.message),
    };
    let mut ops = conn.operations.clone();
    for op in auth.operations.iter().flatten() {
        if !ops.contains(op) {
            ops.push(op.clone());
        }
    }
    let mut shown = conn.clone();
    let items: String = ops
        .iter()
        .filter_map(|id| operations::find(id))
        .map(|o| {
            let scopes = if o.scopes.is_empty() {
                String::new()
            } else {
                format!(
                    " <small>Dialpad scopes: {}</small>",
                    escape(&o.scopes.join(", "))
                )
            };
            format!(
                "<li data-operation=\"{}\">{}{}</li>",
                escape(o.id),
                escape(o.description),
                scopes
            )
        })
        .collect();
    let items = if items.is_empty() {
        "<li>Basic access to your Dialpad account</li>".to_owned()
    } else {
        items
    };
    // Extra scopes a connect link asked for are shown (and asked for) too.
    shown.operations = ops.clone();
    let scopes: Vec<String> = wanted_scopes(&shown, &auth.extra_scopes)
        .into_iter()
        .collect();
    let status_note = if conn.status == dpc_store::ConnectionStatus::Authorized {
        "<p class=\"muted\" id=\"dpc-status\">Already connected; connecting again updates the access.</p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Connect your Dialpad account</h1>\
<p>The app asks for access to:</p><ul id=\"dpc-operations\">{items}</ul>\
<p class=\"muted\" id=\"dpc-scopes\">Dialpad permissions requested: <code>{scopes}</code></p>{status_note}\
<form id=\"dpc-connect-form\" method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"session\" value=\"{session}\">\
<button id=\"dpc-connect-button\" type=\"submit\">Connect Dialpad</button></form>\
<p class=\"muted\">You will be sent to Dialpad to approve, then brought back here.</p>",
        scopes = escape(&scopes.join(" ")),
        session = escape(&token),
        action = escape(&format!("{}/connect/authorize", state.config.public_path())),
    );
    let mut resp = html_page("Connect Dialpad", &body).into_response();
    // The value that binds what this browser starts to the callback it comes back to.
    let binding = binding_cookie(&req_headers, &state.config).unwrap_or_else(new_binding_value);
    if let Some(v) = binding_set_cookie(&state.config, &binding) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Debug, Default, Deserialize)]
pub struct StartForm {
    session: Option<String>,
}

/// `POST /connect/authorize` (the Connect button): redirects to Dialpad's consent, with the
/// flow bound to this browser's cookie.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<StartForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // A cross-site form post (another site making a visitor's browser start an authorization)
    // carries that site's Origin; browsers always send it on POST.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ours = state.config.public_url.origin().ascii_serialization();
        if origin.to_str().ok() != Some(ours.as_str()) {
            return error_page(
                StatusCode::FORBIDDEN,
                ErrorCode::RequestForbiddenOrigin,
                "This form can only be sent from the connect page itself.",
            );
        }
    }
    let f = match form {
        Ok(f) => f.0,
        Err(r) if crate::error::is_body_timeout(&r) => {
            let e = crate::error::ApiError::body_timeout();
            return error_page(
                e.status,
                e.code,
                "The form arrived too slowly. Please try again.",
            );
        }
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::RequestTooLarge,
                "The form is too large.",
            )
        }
        Err(_) => StartForm::default(),
    };
    let Some(token) = f.session.filter(|s| !s.is_empty()) else {
        return error_page(
            StatusCode::NOT_FOUND,
            ErrorCode::SessionInvalid,
            "This connect link is not valid. Start again from the app.",
        );
    };
    let Some(binding) = binding_cookie(&headers, &state.config) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            ErrorCode::SessionNoCookie,
            "Your browser did not keep this page's cookie. Allow cookies for this site, then open the link from the app again.",
        );
    };
    let auth = match session_from_token(&state, &token).await {
        Ok(a) => a,
        Err(e) => {
            let status = if e.code == ErrorCode::SessionInvalid {
                StatusCode::NOT_FOUND
            } else {
                e.status
            };
            return error_page(status, e.code, &e.message);
        }
    };
    let browser_hash = dpc_store::sha256_hex(&binding);
    // A connect link belongs to the first browser that presses Connect on it: anyone else who
    // got hold of the link (forwarded, shared computer) cannot start a flow of their own with
    // it. That browser may press again (a retry after closing Dialpad's page).
    if auth.purpose == dpc_store::SessionPurpose::Connect {
        match state.store.bind_connect_session(&token, &browser_hash).await {
            Ok(true) => {}
            // Bound elsewhere, or used up (deleted) since it was read just now.
            Ok(false) => {
                return match session_from_token(&state, &token).await {
                    Ok(_) => error_page(
                        StatusCode::FORBIDDEN,
                        ErrorCode::SessionBrowserMismatch,
                        "This connect link is already in use in another browser. Ask the app for a new link.",
                    ),
                    Err(e) => {
                        let status = if e.code == ErrorCode::SessionInvalid {
                            StatusCode::NOT_FOUND
                        } else {
                            e.status
                        };
                        error_page(status, e.code, &e.message)
                    }
                }
            }
            Err(e) => {
                let e = crate::error::ApiError::from(e);
                return error_page(e.status, e.code, "Something went wrong. Please try again.");
            }
        }
    }
    match url_for_session(&state, &auth, browser_hash).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => error_page(e.status, e.code, &e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let v = json!({"ownerId": "</script><script>alert(1)</script><!--&", "n": "\u{2028}"});
        let text = script_json(&v);
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn the_csp_admits_exactly_the_page_script_and_style() {
        let outcome = Outcome::Connected;
        let r = callback_page(&outcome, Some(("dialpad", "o")), None, &[]);
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains(&csp_hash(OUTCOME_SCRIPT)), "{csp}");
        assert!(csp.contains(&csp_hash(STYLE)), "{csp}");
        assert!(OUTCOME_SCRIPT.contains(MESSAGE_TYPE));
    }
}
