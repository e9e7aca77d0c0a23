//! The hosted connect page (`GET /connect?session=…`): what the app asks access to, a Connect
//! button (`#dpc-connect-button` in form `#dpc-connect-form`, POST `/connect/authorize`) that
//! goes through Dialpad's consent and back to `/oauth/callback`, and the result page
//! (`#dpc-result`, `data-status="authorized"` or `"error"`). Self-contained HTML, inline CSS.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::session_from_token;
use crate::authorization::{url_for_session, wanted_scopes};
use crate::connections::load;
use crate::operations;
use crate::AppState;

/// How an authorization ended, for the result page.
#[derive(Debug)]
pub enum Outcome {
    Connected,
    Failed {
        status: StatusCode,
        code: String,
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
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    ))
}

pub fn result_page(outcome: &Outcome) -> Html<String> {
    match outcome {
        Outcome::Connected => html_page(
            "Connected",
            "<div id=\"dpc-result\" data-status=\"authorized\"><h1 class=\"ok\">Connected</h1>\
<p>Your Dialpad account is connected. You can close this window.</p></div>",
        ),
        Outcome::Failed { code, message, .. } => html_page(
            "Not connected",
            &format!(
                "<div id=\"dpc-result\" data-status=\"error\" data-error=\"{}\"><h1 class=\"err\">Not connected</h1>\
<p>{}</p><p class=\"muted\">Error code: <code>{}</code></p></div>",
                escape(code),
                escape(message),
                escape(code)
            ),
        ),
    }
}

fn error_page(status: StatusCode, code: &str, message: &str) -> Response {
    let outcome = Outcome::Failed {
        status,
        code: code.to_owned(),
        message: message.to_owned(),
    };
    (status, result_page(&outcome)).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    session: Option<String>,
    redirect_url: Option<String>,
}

/// `GET /connect?session=…[&redirectUrl=…]`.
pub async fn page(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|q| q.0).unwrap_or_default();
    let Some(token) = q.session.filter(|s| !s.is_empty()) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "SESSION::INVALID",
            "This connect link is incomplete. Start again from the app.",
        );
    };
    let auth = match session_from_token(&state, &token).await {
        Ok(a) => a,
        Err(e) if e.code == "SESSION::EXPIRED" => {
            return error_page(
                StatusCode::UNAUTHORIZED,
                e.code,
                "This connect link has expired. Start again from the app.",
            )
        }
        Err(e) if e.code == "SESSION::INVALID" => {
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
    shown.operations = ops.clone();
    let scopes: Vec<String> = wanted_scopes(&shown, &[]).into_iter().collect();
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
    let redirect_field = q
        .redirect_url
        .map(|r| {
            format!(
                "<input type=\"hidden\" name=\"redirectUrl\" value=\"{}\">",
                escape(&r)
            )
        })
        .unwrap_or_default();
    let status_note = if conn.status == dpc_store::ConnectionStatus::Authorized {
        "<p class=\"muted\" id=\"dpc-status\">Already connected; connecting again updates the access.</p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Connect your Dialpad account</h1>\
<p>The app asks for access to:</p><ul id=\"dpc-operations\">{items}</ul>\
<p class=\"muted\" id=\"dpc-scopes\">Dialpad permissions requested: <code>{scopes}</code></p>{status_note}\
<form id=\"dpc-connect-form\" method=\"post\" action=\"/connect/authorize\">\
<input type=\"hidden\" name=\"session\" value=\"{session}\">{redirect_field}\
<button id=\"dpc-connect-button\" type=\"submit\">Connect Dialpad</button></form>\
<p class=\"muted\">You will be sent to Dialpad to approve, then brought back here.</p>",
        scopes = escape(&scopes.join(" ")),
        session = escape(&token),
    );
    html_page("Connect Dialpad", &body).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartForm {
    session: Option<String>,
    redirect_url: Option<String>,
}

/// `POST /connect/authorize` (the Connect button): redirects to Dialpad's consent.
pub async fn start(
    State(state): State<AppState>,
    form: Result<axum::Form<StartForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Err(r) = &form {
        if crate::error::is_body_timeout(r) {
            let e = crate::error::ApiError::body_timeout();
            return error_page(
                e.status,
                e.code,
                "The form arrived too slowly. Please try again.",
            );
        }
    }
    let f = form.map(|f| f.0).unwrap_or_default();
    let Some(token) = f.session.filter(|s| !s.is_empty()) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "SESSION::INVALID",
            "This connect link is not valid. Start again from the app.",
        );
    };
    let auth = match session_from_token(&state, &token).await {
        Ok(a) => a,
        Err(e) => {
            let status = if e.code == "SESSION::INVALID" {
                StatusCode::NOT_FOUND
            } else {
                e.status
            };
            return error_page(status, e.code, &e.message);
        }
    };
    match url_for_session(&state, &auth, f.redirect_url).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => error_page(e.status, e.code, &e.message),
    }
}
