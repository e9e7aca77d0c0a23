//! Authorization: the `authorizationUrl` on Dialpad (scopes of the connection's operations plus
//! `offline_access`, a single-use expiring `state`, PKCE S256), the hosted-page variant
//! (`mode=connect`), the OAuth callback and the `CONNECTION::MISSING_PERMISSION` answer.

use dpc_core::ErrorCode;
use std::collections::BTreeSet;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use dialpad::oauth::{AuthorizationCodeGrant, AuthorizeParams, Pkce};
use dpc_store::{
    Connection, ConnectionStatus, Credentials, Grant, OAuthState, Session, SessionPurpose,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{ApiKeyAuth, SessionAuth};
use crate::connect_page::{callback_page, Outcome};
use crate::connections::{load, validated_operations};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::operations::{self, Operation};
use crate::tokens;
use crate::AppState;

/// How long a pending authorization (`state`) stays valid.
pub const STATE_TTL_SECS: i64 = 600;
/// Lifetime of the session made for `mode=connect`.
pub const CONNECT_SESSION_SECS: i64 = 3600;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// Where the browser goes after the consent (an allowed origin, `DPC_ALLOWED_REDIRECT_ORIGINS`).
    redirect_url: Option<String>,
    /// `direct` (default: Dialpad's authorization URL) or `connect` (the hosted connect page).
    mode: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeBody {
    /// Extra Dialpad scopes to ask for besides the operations' own.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// Accepted for Morph compatibility; Dialpad has no connection settings.
    #[serde(default)]
    #[allow(dead_code)]
    #[schema(value_type = Option<Object>)]
    settings: Option<Value>,
}

/// What an authorization request answers.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionAuthorization {
    /// Always `connectionAuthorization`.
    pub object: &'static str,
    pub connector_id: String,
    pub owner_id: String,
    /// The Dialpad scopes the authorization asks for.
    pub scopes: BTreeSet<String>,
    pub status: AuthorizationStatus,
    /// Where to send the customer (when `awaitingAuthorization`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
}

#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthorizationStatus {
    /// The grant already covers every scope: nothing to do.
    Authorized,
    /// The customer has to open `authorizationUrl`.
    AwaitingAuthorization,
}

/// Scopes the connection's operations (plus `extra`) need, with `offline_access`.
pub fn wanted_scopes(conn: &Connection, extra: &[String]) -> BTreeSet<String> {
    let mut s = operations::scopes_for(&conn.operations);
    // A connection that lists no operations is as wide as its scopes, and nothing else says
    // what it needs: authorizing it again keeps what it was granted (else each authorization
    // would take away the scopes the previous one added).
    if conn.operations.is_empty() {
        s.extend(conn.scopes.iter().cloned());
    }
    s.extend(extra.iter().cloned());
    s
}

/// True when the connection has credentials and was granted every scope in `wanted`.
async fn nothing_missing(
    state: &AppState,
    conn: &Connection,
    wanted: &BTreeSet<String>,
) -> ApiResult<bool> {
    if conn.status != ConnectionStatus::Authorized {
        return Ok(false);
    }
    let Some(creds) = state.store.get_credentials(&conn.id).await? else {
        return Ok(false);
    };
    if matches!(creds.credentials, Credentials::ApiKey { .. }) {
        return Ok(true);
    }
    Ok(wanted
        .iter()
        .all(|s| conn.scopes.contains(s) && !conn.missing_scopes.contains(s)))
}

/// A fresh Dialpad authorization URL for `conn` asking for `scopes`, and its `state`.
/// `browser_hash` binds the flow to the browser that holds the connect page's cookie (None: a
/// direct-mode URL the app hands out itself). Handlers go through
/// [`AppState::reusable_authorization_url`].
pub async fn authorization_url(
    state: &AppState,
    conn: &Connection,
    scopes: &BTreeSet<String>,
    redirect_url: Option<String>,
    browser_hash: Option<String>,
) -> ApiResult<(String, String)> {
    let pkce = Pkce::generate();
    let scopes: Vec<String> = scopes.iter().cloned().collect();
    let st = state
        .store
        .create_oauth_state(&OAuthState {
            connector_id: conn.connector_id.clone(),
            owner_id: conn.owner_id.clone(),
            pkce_verifier: pkce.verifier.clone(),
            redirect_url,
            scopes: scopes.clone(),
            expires_at: Utc::now() + chrono::Duration::seconds(STATE_TTL_SECS),
            browser_hash,
        })
        .await?;
    let url = dialpad::oauth::authorize_url(
        &state.config.dialpad_base_url,
        &AuthorizeParams {
            client_id: state.oauth.client_id.clone(),
            redirect_uri: state.config.redirect_uri(),
            scope: Some(scopes.join(" ")),
            state: Some(st.clone()),
            code_challenge: Some(pkce.challenge),
        },
    )
    .map_err(ApiError::internal)?;
    Ok((url.to_string(), st))
}

/// A fresh connect link for `conn` (our `/connect` page) and its session token. The link
/// carries a single-purpose token (it opens the connect page and starts this authorization,
/// nothing else); where the browser goes afterwards and the extra scopes are kept with it
/// server-side, so an edited link cannot change them. Handlers go through
/// [`AppState::reusable_connect_link`].
pub async fn connect_link(
    state: &AppState,
    conn: &Connection,
    extra_scopes: Vec<String>,
    redirect_url: Option<String>,
) -> ApiResult<(String, SecretString)> {
    let token = state
        .store
        .create_session(&Session {
            connector_id: conn.connector_id.clone(),
            owner_id: conn.owner_id.clone(),
            operations: conn.operations.clone(),
            expires_at: Utc::now() + chrono::Duration::seconds(CONNECT_SESSION_SECS),
            purpose: SessionPurpose::Connect,
            redirect_url,
            extra_scopes,
        })
        .await?;
    let mut u = url::Url::parse(&format!("{}/connect", state.config.public_base()))
        .map_err(ApiError::internal)?;
    u.query_pairs_mut()
        .append_pair("session", token.expose_secret());
    Ok((u.to_string(), token))
}

/// `CONNECTION::MISSING_PERMISSION` for `op` on `conn`, with a fresh authorization URL that asks
/// for the connection's scopes plus the operation's.
pub async fn missing_permission(
    state: &AppState,
    conn: &Connection,
    op: &Operation,
    missing: &[String],
) -> ApiError {
    let required: Vec<String> = op.scopes.iter().map(|s| (*s).to_owned()).collect();
    // The URL adds this operation's scopes to what the connection holds, never narrows it:
    // following it for one operation must not cost another one its scopes.
    let mut wanted = wanted_scopes(conn, &required);
    wanted.extend(conn.scopes.iter().cloned());
    let url = match state
        .reusable_authorization_url(conn, &wanted, None, None)
        .await
    {
        Ok(u) => Some(u),
        Err(e) => {
            tracing::warn!(code = %e.code, "could not prepare an authorization URL");
            None
        }
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::ConnectionMissingPermission,
        format!(
            "the connection was not granted the Dialpad scope(s) {} needed for {}: authorize again",
            missing.join(", "),
            op.id
        ),
    )
    .with_details(json!({
        "operation": op.id,
        "requiredScopes": required,
        "missingScopes": missing,
        "authorizationUrl": url,
    }))
}

/// The app's `redirectUrl`, checked and normalised: the parsed URL is what gets stored and later
/// redirected to (the raw text could carry e.g. a NUL byte, which PostgreSQL refuses: a 500). Its
/// origin must be one of the configured `DPC_ALLOWED_REDIRECT_ORIGINS`, so nobody can make the
/// connector send a customer fresh from Dialpad's consent to a site of their choosing.
fn check_redirect_url(state: &AppState, u: Option<String>) -> ApiResult<Option<String>> {
    let Some(u) = u else { return Ok(None) };
    match url::Url::parse(&u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && u.len() <= MAX_REDIRECT_URL_LEN => {
            if !state.config.redirect_allowed(&p) {
                return Err(ApiError::invalid(format!(
                    "redirectUrl's origin {} is not allowed: add it to DPC_ALLOWED_REDIRECT_ORIGINS",
                    p.origin().ascii_serialization()
                ))
                .with_details(json!({"field": "redirectUrl"})));
            }
            Ok(Some(p.to_string()))
        }
        _ => Err(ApiError::invalid(format!(
            "redirectUrl must be an absolute http(s) URL of at most {MAX_REDIRECT_URL_LEN} bytes"
        ))
        .with_details(json!({"field": "redirectUrl"}))),
    }
}

/// Longest `redirectUrl` accepted.
pub const MAX_REDIRECT_URL_LEN: usize = 2048;
/// Most extra scopes one authorization may ask for.
pub const MAX_EXTRA_SCOPES: usize = 50;

/// Extra scopes from the body: OAuth scope tokens (RFC 6749 §3.3: printable ASCII without space,
/// `"` or `\`), at most 100 bytes each. A space would smuggle several scopes into one, and a NUL
/// made PostgreSQL refuse the pending state (500).
fn check_extra_scopes(scopes: Option<Vec<String>>) -> ApiResult<Vec<String>> {
    let scopes = scopes.unwrap_or_default();
    if scopes.len() > MAX_EXTRA_SCOPES {
        return Err(ApiError::invalid(format!(
            "at most {MAX_EXTRA_SCOPES} scopes may be asked for"
        ))
        .with_details(json!({"field": "scopes"})));
    }
    let bad: Vec<&String> = scopes
        .iter()
        .filter(|s| {
            s.is_empty()
                || s.len() > 100
                || !s
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        })
        .collect();
    if !bad.is_empty() {
        return Err(ApiError::invalid(
            "scopes must be OAuth scope tokens (printable ASCII, no spaces or quotes)",
        )
        .with_details(json!({"field": "scopes", "invalidScopes": bad})));
    }
    Ok(scopes)
}

async fn authorize_inner(
    state: &AppState,
    mut conn: Connection,
    session_ops: Option<Vec<String>>,
    q: AuthorizeQuery,
    body: AuthorizeBody,
) -> ApiResult<Json<ConnectionAuthorization>> {
    let redirect_url = check_redirect_url(state, q.redirect_url)?;
    let extra = check_extra_scopes(body.scopes)?;
    let mode = q.mode.as_deref().unwrap_or("direct");
    if mode != "direct" && mode != "connect" {
        return Err(ApiError::invalid("mode must be `connect` or `direct`")
            .with_details(json!({"field": "mode"})));
    }
    // A session may bring operations the connection does not have yet: they join it.
    if let Some(ops) = session_ops {
        if ops.iter().any(|op| !conn.operations.contains(op)) {
            conn = state.store.add_operations(&conn.id, &ops).await?;
        }
    }
    let wanted = wanted_scopes(&conn, &extra);
    let mut answer = ConnectionAuthorization {
        object: "connectionAuthorization",
        connector_id: conn.connector_id.clone(),
        owner_id: conn.owner_id.clone(),
        scopes: wanted.clone(),
        status: AuthorizationStatus::Authorized,
        authorization_url: None,
    };
    if nothing_missing(state, &conn, &wanted).await? {
        return Ok(Json(answer));
    }
    let url = if mode == "connect" {
        state
            .reusable_connect_link(&conn, extra, redirect_url)
            .await?
    } else {
        state
            .reusable_authorization_url(&conn, &wanted, redirect_url, None)
            .await?
    };
    state.store.mark_awaiting_authorization(&conn.id).await?;
    answer.status = AuthorizationStatus::AwaitingAuthorization;
    answer.authorization_url = Some(url);
    Ok(Json(answer))
}

/// `POST /v1/connections/{c}/{o}/authorization?redirectUrl=&mode=connect|direct`.
pub async fn authorize(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<AuthorizeQuery>,
    ApiJson(body): ApiJson<AuthorizeBody>,
) -> ApiResult<Json<ConnectionAuthorization>> {
    let conn = load(&state, &connector_id, &owner_id).await?;
    authorize_inner(&state, conn, None, q, body).await
}

/// `POST /v1/s/connection/authorization` (session twin).
pub async fn session_authorize(
    State(state): State<AppState>,
    auth: SessionAuth,
    ApiQuery(q): ApiQuery<AuthorizeQuery>,
    ApiJson(body): ApiJson<AuthorizeBody>,
) -> ApiResult<Json<ConnectionAuthorization>> {
    let conn = load(&state, &auth.connector_id, &auth.owner_id).await?;
    let ops = match auth.operations {
        Some(ops) => Some(validated_operations(&ops)?),
        None => None,
    };
    authorize_inner(&state, conn, ops, q, body).await
}

/// The hosted page's Connect button: a Dialpad URL for the session's connection (pressed again
/// in the same browser, the same one while it is pending), bound to
/// the browser holding the page's cookie (`browser_hash`), with the redirect target and extra
/// scopes stored with a connect link's session.
pub async fn url_for_session(
    state: &AppState,
    auth: &SessionAuth,
    browser_hash: String,
) -> ApiResult<String> {
    let mut conn = load(state, &auth.connector_id, &auth.owner_id).await?;
    if let Some(ops) = &auth.operations {
        let ops = validated_operations(ops)?;
        if ops.iter().any(|op| !conn.operations.contains(op)) {
            conn = state.store.add_operations(&conn.id, &ops).await?;
        }
    }
    let wanted = wanted_scopes(&conn, &auth.extra_scopes);
    state
        .reusable_authorization_url(
            &conn,
            &wanted,
            auth.redirect_url.clone(),
            Some(browser_hash),
        )
        .await
}

#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The callback's answer: the result page (see `connect_page`), told where a full window goes
/// next (the app's `redirectUrl` with the outcome in the query) and where a popup posts it.
fn finish(
    state: &AppState,
    target: Option<&str>,
    conn_ids: (&str, &str),
    outcome: Outcome,
) -> Response {
    let redirect = target.and_then(|t| url::Url::parse(t).ok()).map(|mut url| {
        {
            let mut q = url.query_pairs_mut();
            match &outcome {
                Outcome::Connected => {
                    q.append_pair("status", "authorized");
                }
                Outcome::Failed { code, .. } => {
                    q.append_pair("status", "error");
                    q.append_pair("error", code.as_str());
                }
            }
            q.append_pair("connectorId", conn_ids.0);
            q.append_pair("ownerId", conn_ids.1);
        }
        url.to_string()
    });
    callback_page(
        &outcome,
        Some(conn_ids),
        redirect.as_deref(),
        &state.config.allowed_origins,
    )
}

/// An unknown, replayed or expired `state`: which connection it was for is not known, but a
/// popup still reports the failure to its opener and closes.
fn invalid_state(state: &AppState) -> Response {
    let outcome = Outcome::Failed {
        status: StatusCode::BAD_REQUEST,
        code: ErrorCode::OauthInvalidState,
        message: "This authorization link is unknown, was already used or has expired. Start again from the app.".into(),
    };
    callback_page(&outcome, None, None, &state.config.allowed_origins)
}

/// `GET /oauth/callback?code=&state=` (or `error=access_denied`).
pub async fn callback(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    query: Result<axum::extract::Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(axum::extract::Query(q)) = query else {
        return invalid_state(&state);
    };
    let Some(raw_state) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return invalid_state(&state);
    };
    // A flow started on our connect page must finish in the same browser: otherwise a callback
    // URL (code + state) sent to someone else would link the sender's Dialpad account to the
    // victim's connection. The store takes the state only when the binding matches, so a
    // callback opened in the wrong browser leaves the flow to the right one.
    let presented = crate::connect_page::binding_cookie(&headers, &state.config)
        .map(|c| dpc_store::sha256_hex(&c));
    let pending = match state
        .store
        .take_oauth_state(raw_state, presented.as_deref())
        .await
    {
        Ok(Some(p)) if p.expires_at > Utc::now() => p,
        Ok(Some(_)) => return invalid_state(&state),
        // Not taken but still pending: it is another browser's.
        Ok(None) => match state.store.oauth_state_pending(raw_state).await {
            Ok(true) => {
                let outcome = Outcome::Failed {
                    status: StatusCode::FORBIDDEN,
                    code: ErrorCode::OauthBrowserMismatch,
                    message: "This authorization was started in another browser. Finish it there, or start again from the app."
                        .into(),
                };
                return callback_page(&outcome, None, None, &state.config.allowed_origins);
            }
            Ok(false) => return invalid_state(&state),
            Err(e) => return ApiError::from(e).into_response(),
        },
        Err(e) => return ApiError::from(e).into_response(),
    };
    let (connector_id, owner_id) = (pending.connector_id.clone(), pending.owner_id.clone());
    let ids = (connector_id.as_str(), owner_id.as_str());
    let redirect_owned = pending.redirect_url.clone();
    let redirect = redirect_owned.as_deref();
    let conn = match state
        .store
        .get_connection(&pending.connector_id, &pending.owner_id)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => {
            let outcome = Outcome::Failed {
                status: StatusCode::NOT_FOUND,
                code: ErrorCode::ConnectionNotFound,
                message: "The connection was deleted while authorization was in progress.".into(),
            };
            return finish(&state, redirect, ids, outcome);
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Some(err) = q.error.as_deref() {
        if let Err(e) = state.store.mark_authorization_abandoned(&conn.id).await {
            tracing::warn!(error = %e, "could not reset the connection status");
        }
        let code = if err == "access_denied" {
            ErrorCode::OauthAccessDenied
        } else {
            ErrorCode::OauthError
        };
        let outcome = Outcome::Failed {
            status: StatusCode::BAD_REQUEST,
            code,
            message: if err == "access_denied" {
                "Access was not granted.".into()
            } else {
                format!("Dialpad answered with an error ({err}).")
            },
        };
        return finish(&state, redirect, ids, outcome);
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return invalid_state(&state);
    };
    match complete(&state, conn, pending, SecretString::from(code)).await {
        Ok(()) => finish(&state, redirect, ids, Outcome::Connected),
        Err(e) => {
            let outcome = Outcome::Failed {
                status: e.status,
                code: e.code,
                message: e.message,
            };
            finish(&state, redirect, ids, outcome)
        }
    }
}

/// The longest the code exchange may wait on Dialpad's token endpoint, retries of a 429
/// included; with [`IDENTITY_LOOKUP_TIMEOUT`] it stays well inside the default request timeout
/// (60 s), so the browser always gets the result page rather than a bare 504.
pub const CODE_EXCHANGE_DEADLINE: Duration = Duration::from_secs(30);
/// The one attempt at learning who granted a fresh token (`/api/v2/users/me`). Best effort:
/// an unknown identity only makes a later delete more careful (see `connections::remove`).
pub const IDENTITY_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a failed code exchange was Dialpad being unavailable (unreachable, slow, 5xx, 429)
/// rather than Dialpad refusing the code: the customer may simply start again.
fn exchange_outage(e: &dialpad::Error) -> bool {
    match e {
        dialpad::Error::Transport(_) | dialpad::Error::RateLimited { .. } => true,
        dialpad::Error::Api { status, .. } => status.is_server_error(),
        dialpad::Error::OAuth { status, error, .. } => {
            status.is_server_error() || error == "temporarily_unavailable"
        }
        _ => false,
    }
}

/// [`exchange_and_store`] in a task of its own: the state is used up already, and once Dialpad
/// has issued tokens for the code they exist nowhere else, so a request cancelled meanwhile
/// (the browser gone, a request timeout set shorter than Dialpad takes) must not drop them
/// and leave a grant at Dialpad that nothing here knows of.
async fn complete(
    state: &AppState,
    conn: Connection,
    pending: OAuthState,
    code: SecretString,
) -> ApiResult<()> {
    let state = state.clone();
    tokio::spawn(async move { exchange_and_store(&state, conn, pending, code).await })
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(e)))
}

/// Exchanges the code, learns which Dialpad user granted it (connections sharing a grant must
/// not deauthorize each other), and stores the credentials; the connection becomes `authorized`
/// with the scopes asked for (Dialpad's token response does not list them).
async fn exchange_and_store(
    state: &AppState,
    conn: Connection,
    pending: OAuthState,
    code: SecretString,
) -> ApiResult<()> {
    let grant = AuthorizationCodeGrant {
        code,
        redirect_uri: Some(state.config.redirect_uri()),
        client_id: Some(state.oauth.client_id.clone()),
        client_secret: Some(state.oauth.client_secret.clone()),
        code_verifier: Some(pending.pkce_verifier.clone()),
    };
    let oauth = state.oauth.token_client.oauth();
    let tokens =
        match tokio::time::timeout(CODE_EXCHANGE_DEADLINE, oauth.exchange_code(&grant)).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) if exchange_outage(&e) => {
                tracing::warn!(error = %e, "code exchange failed: Dialpad unavailable");
                return Err(ApiError::upstream_unavailable());
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "code exchange failed");
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    ErrorCode::OauthExchangeFailed,
                    "Dialpad did not accept the authorization code. Please try again.",
                ));
            }
            Err(_) => {
                tracing::warn!(
                    deadline_secs = CODE_EXCHANGE_DEADLINE.as_secs(),
                    "code exchange failed: Dialpad's token endpoint did not answer in time"
                );
                return Err(ApiError::upstream_unavailable());
            }
        };
    if tokens.refresh_token.is_none() {
        tracing::warn!(
            connector_id = %conn.connector_id, owner_id = %conn.owner_id,
            "Dialpad issued no refresh token: the connection works until the access token expires"
        );
    }
    let (user_id, company_id) = grant_identity(state, &tokens.access_token).await;
    state
        .store
        .authorize(
            &conn.id,
            &Grant {
                credentials: Credentials::OAuth {
                    access_token: tokens.access_token,
                    refresh_token: tokens.refresh_token,
                    expires_at: tokens::expires_at(tokens.expires_in),
                },
                scopes: pending.scopes,
                dialpad_user_id: user_id,
                dialpad_company_id: company_id,
            },
        )
        .await?;
    // Dialpad's event subscriptions for the connection, in the background: never delays or
    // fails the callback.
    crate::intake::subscriptions::ensure_in_background(state, &conn.id);
    // The connection's connect links are used up: one left valid (it lives an hour) would let
    // whoever else holds it, in any browser, replace this grant with another Dialpad
    // account's. A new authorization needs a new link.
    if let Err(e) = state
        .store
        .delete_connect_sessions(&conn.connector_id, &conn.owner_id)
        .await
    {
        tracing::warn!(error = %e, "could not delete the used connect links");
    }
    Ok(())
}

/// The Dialpad user (and company) behind a fresh token, from `/api/v2/users/me`: one attempt,
/// at most [`IDENTITY_LOOKUP_TIMEOUT`]. Unknown when Dialpad does not answer in time (the
/// connection still works; deleting it, or another connection, then never deauthorizes).
pub async fn grant_identity(
    state: &AppState,
    access_token: &SecretString,
) -> (Option<String>, Option<String>) {
    let client = match dialpad::Client::builder()
        .base_url(state.config.dialpad_base_url.clone())
        .http_client(state.http.clone())
        .api_key(access_token.clone())
        .timeout(IDENTITY_LOOKUP_TIMEOUT)
        .retry_policy(dialpad::RetryPolicy::none())
        .observer(crate::metrics::dialpad_observer())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not build a client to identify the grant");
            return (None, None);
        }
    };
    match tokio::time::timeout(IDENTITY_LOOKUP_TIMEOUT, client.users().me()).await {
        Ok(Ok(me)) => (
            me.id.map(|i| i.to_string()),
            me.company_id.map(|i| i.to_string()),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not learn which Dialpad user granted the token");
            (None, None)
        }
        Err(_) => {
            tracing::warn!("Dialpad did not say in time which user granted the token");
            (None, None)
        }
    }
}
