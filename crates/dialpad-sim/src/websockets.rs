//! Websockets (`/api/v2/websockets`) and the socket they name (`GET /events/{token}`).
//!
//! A websocket is an event endpoint like a webhook, but Dialpad pushes the events to the
//! client over a websocket connection instead of POSTing them: subscriptions name it through
//! `endpoint_id`, and its `websocket_url` is where the client connects. As at Dialpad, the URL
//! carries a short-lived signed token (`…/events/<JWT>`, claims `sub: "endpoint:<id>:*"`, `iat`,
//! `exp`); it expires after [`SimConfig::websocket_url_ttl`](crate::SimConfig) (Dialpad: one
//! hour), every GET of the websocket answers a fresh one, and the simulator closes a connection
//! when its token expires, so a client must re-fetch the URL and reconnect. A URL embedded in
//! an event subscription's response is scoped to that subscription (`endpoint:<id>:<sub id>`):
//! its connection carries only that subscription's events, as Dialpad documents.
//!
//! Connecting with a forged, malformed or expired token answers 401 before the upgrade; a
//! valid token whose websocket (or subscription) was deleted answers 403. The simulator
//! serves plain `ws://` on its own host (Dialpad: `wss://` on a separate service).
//!
//! What goes down a connection, and what happens to events while none is open, is
//! `crate::events::sockets`.

use std::convert::Infallible;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::HOST;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use parking_lot::Mutex;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::events::sockets::{self, Control, Frame};
use crate::operations::Op;
use crate::pagination::paginate;
use crate::params::Params;
use crate::state::{Caller, Db, Sim, SimInner};
use crate::subscriptions::{check_secret, signature, Signature};
use crate::wire::{self, reply, Reply};

pub const OPERATIONS: &[Op] = &[
    Op::new("GET", "/api/v2/websockets", "websockets.list"),
    Op::new("POST", "/api/v2/websockets", "websockets.create"),
    Op::new("GET", "/api/v2/websockets/{id}", "websockets.get"),
    Op::new("PATCH", "/api/v2/websockets/{id}", "websockets.update"),
    Op::new("DELETE", "/api/v2/websockets/{id}", "websockets.delete"),
];

pub fn routes() -> Router<Sim> {
    Router::new()
        .route(
            "/api/v2/websockets",
            get(list_websockets).post(create_websocket),
        )
        .route(
            "/api/v2/websockets/{id}",
            get(get_websocket)
                .patch(update_websocket)
                .delete(delete_websocket),
        )
        .route("/events/{token}", get(connect))
}

/// A websocket endpoint: an id and an optional JWT signing secret.
#[derive(Clone, Debug)]
pub struct Websocket {
    pub id: i64,
    pub signature: Option<Signature>,
}

impl Websocket {
    /// The secret events to this websocket are signed with, if any.
    pub fn secret(&self) -> Option<&str> {
        self.signature.as_ref().map(|s| s.secret.as_str())
    }
}

/// `protos.websocket.WebsocketProto`. Like a webhook's, the signing secret is returned inside
/// `signature`; without a secret there is none (events are sent as plain JSON).
#[derive(Serialize)]
pub struct WebsocketView<'a> {
    #[serde(with = "wire::id")]
    id: i64,
    signature: Option<&'a Signature>,
    websocket_url: Option<String>,
}

/// `ws`'s response shape, with a URL freshly minted by `urls` (scoped to `scope`, a
/// subscription id, when given).
pub fn view<'a>(ws: &'a Websocket, urls: &Urls, scope: Option<i64>) -> WebsocketView<'a> {
    WebsocketView {
        id: ws.id,
        signature: ws.signature.as_ref(),
        websocket_url: Some(urls.url(ws.id, scope)),
    }
}

// ---------------------------------------------------------------------------------------------
// URL tokens

/// The JWT `typ` of Dialpad's websocket tokens (seen in the spec's examples).
const TOKEN_TYPE: &str = "vnd.dialpad.websocket+jwt";
const ISSUER: &str = "dialpad-sim";

/// The key websocket URL tokens are signed with: random per simulator, new on every reset.
pub struct UrlKeys {
    key: Mutex<Arc<[u8; 32]>>,
}

impl Default for UrlKeys {
    fn default() -> Self {
        Self {
            key: Mutex::new(Arc::new(random_key())),
        }
    }
}

impl UrlKeys {
    pub fn rotate(&self) {
        *self.key.lock() = Arc::new(random_key());
    }

    fn current(&self) -> Arc<[u8; 32]> {
        self.key.lock().clone()
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    key
}

#[derive(Serialize, Deserialize)]
struct UrlClaims {
    /// `endpoint:<websocket id>:*`, or `endpoint:<websocket id>:<subscription id>`.
    sub: String,
    iss: String,
    /// Seconds, as in Dialpad's tokens.
    iat: i64,
    exp: i64,
    /// Makes every URL distinct, even two minted in the same second.
    jti: String,
}

/// Mints websocket URLs for one request: they point at the host the request came to.
pub struct Urls {
    base: String,
    key: Arc<[u8; 32]>,
    ttl: Duration,
}

impl FromRequestParts<Sim> for Urls {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, Self::Rejection> {
        Ok(Urls {
            base: format!("ws://{}/events", host_of(parts)),
            key: sim.0.url_keys.current(),
            ttl: sim.config().websocket_url_ttl,
        })
    }
}

/// The request's host, if it looks like one (it ends up in URLs the simulator hands out).
fn host_of(parts: &Parts) -> String {
    let from_header = parts.headers.get(HOST).and_then(|v| v.to_str().ok());
    let host = parts.uri.authority().map(|a| a.as_str()).or(from_header);
    host.filter(|h| {
        !h.is_empty()
            && h.len() <= 255
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    })
    .unwrap_or("localhost")
    .to_owned()
}

impl Urls {
    pub fn url(&self, ws_id: i64, scope: Option<i64>) -> String {
        let now = wire::now_ms();
        // Whole seconds, rounded up: a URL lives at least the configured time.
        let exp_ms = now + self.ttl.as_millis().min(i64::MAX as u128 / 2) as i64;
        let mut jti = [0u8; 12];
        rand::rng().fill_bytes(&mut jti);
        let claims = UrlClaims {
            sub: match scope {
                Some(s) => format!("endpoint:{ws_id}:{s}"),
                None => format!("endpoint:{ws_id}:*"),
            },
            iss: ISSUER.to_owned(),
            iat: now / 1000,
            exp: (exp_ms + 999) / 1000,
            jti: URL_SAFE_NO_PAD.encode(jti),
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.to_owned());
        let key = jsonwebtoken::EncodingKey::from_secret(&self.key[..]);
        // Encoding a struct of strings and integers cannot fail; an empty token is refused
        // on connect all the same.
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap_or_default();
        format!("{}/{token}", self.base)
    }
}

/// What a valid token grants.
struct Grant {
    ws_id: i64,
    scope: Option<i64>,
    /// Epoch ms.
    expires_at: i64,
}

fn verify(key: &[u8; 32], token: &str) -> Result<Grant, ApiError> {
    let invalid = || ApiError::unauthorized("Invalid websocket token");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // Expiry is checked below to the millisecond, without jsonwebtoken's default leeway.
    v.validate_exp = false;
    v.validate_aud = false;
    v.set_issuer(&[ISSUER]);
    v.set_required_spec_claims(&["exp", "sub", "iss"]);
    let data = jsonwebtoken::decode::<UrlClaims>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(&key[..]),
        &v,
    )
    .map_err(|_| invalid())?;
    if data.header.typ.as_deref() != Some(TOKEN_TYPE) {
        return Err(invalid());
    }
    let c = data.claims;
    let expires_at = c.exp.saturating_mul(1000);
    if expires_at <= wire::now_ms() {
        return Err(ApiError::unauthorized("Websocket token expired"));
    }
    let mut parts = c.sub.splitn(3, ':');
    let (Some("endpoint"), Some(ws), Some(scope)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let ws_id = ws.parse().map_err(|_| invalid())?;
    let scope = match scope {
        "*" => None,
        s => Some(s.parse().map_err(|_| invalid())?),
    };
    Ok(Grant {
        ws_id,
        scope,
        expires_at,
    })
}

// ---------------------------------------------------------------------------------------------
// REST

#[derive(Deserialize)]
struct WebsocketBody {
    secret: Option<String>,
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse()
        .map_err(|_| ApiError::not_found("Websocket"))
}

async fn list_websockets(
    State(sim): State<Sim>,
    _caller: Caller,
    urls: Urls,
    params: Params,
) -> ApiResult<Reply> {
    let db = sim.db().read();
    let items: Vec<WebsocketView> = db
        .websockets
        .values()
        .map(|w| view(w, &urls, None))
        .collect();
    Ok(reply(&paginate(items, &params)?))
}

async fn create_websocket(
    State(sim): State<Sim>,
    _caller: Caller,
    urls: Urls,
    JsonBody(req): JsonBody<WebsocketBody>,
) -> ApiResult<Reply> {
    check_secret(&req.secret)?;
    let mut db = sim.db().write();
    let id = db.next_id();
    let ws = Websocket {
        id,
        signature: signature(req.secret),
    };
    let answer = reply(&view(&ws, &urls, None));
    db.websockets.insert(id, ws);
    Ok(answer)
}

async fn get_websocket(
    State(sim): State<Sim>,
    _caller: Caller,
    urls: Urls,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = parse_id(&id)?;
    let db = sim.db().read();
    db.websockets
        .get(&id)
        .map(|w| reply(&view(w, &urls, None)))
        .ok_or_else(|| ApiError::not_found("Websocket"))
}

async fn update_websocket(
    State(sim): State<Sim>,
    _caller: Caller,
    urls: Urls,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<WebsocketBody>,
) -> ApiResult<Reply> {
    let id = parse_id(&id)?;
    check_secret(&req.secret)?;
    let mut db = sim.db().write();
    let ws = db
        .websockets
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("Websocket"))?;
    if let Some(secret) = req.secret {
        // An empty secret removes signing. Events already waiting keep their encoding.
        ws.signature = signature(Some(secret));
    }
    Ok(reply(&view(ws, &urls, None)))
}

/// Answers with the deleted websocket (without a URL: none would open). Its connections are
/// closed and its buffered events dropped; subscriptions that pointed at it stay, without an
/// endpoint, as they do when a webhook is deleted.
async fn delete_websocket(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = parse_id(&id)?;
    let mut db = sim.db().write();
    let removed = db
        .websockets
        .remove(&id)
        .ok_or_else(|| ApiError::not_found("Websocket"))?;
    // Under the db lock, so no connection can register between the removal and this.
    sim.0.events.sockets.remove(id);
    Ok(reply(&WebsocketView {
        id: removed.id,
        signature: removed.signature.as_ref(),
        websocket_url: None,
    }))
}

// ---------------------------------------------------------------------------------------------
// The socket

/// `GET /events/{token}`: checks the token, then upgrades to a websocket that carries the
/// endpoint's events until the token expires.
async fn connect(
    State(sim): State<Sim>,
    urls: Urls,
    token: Result<Path<String>, PathRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(Path(token)) = token else {
        return ApiError::unauthorized("Invalid websocket token").into_response();
    };
    let grant = match verify(&urls.key, &token) {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = still_there(&sim.db().read(), &grant) {
        return e.into_response();
    }
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(rej) => {
            return ApiError::new(rej.status(), "badRequest", rej.body_text()).into_response()
        }
    };
    let weak = Arc::downgrade(&sim.0);
    let url = urls.base;
    upgrade.on_upgrade(move |socket| serve_socket(socket, weak, grant, url))
}

/// A valid token still needs its websocket (and, for a scoped one, its subscription on that
/// websocket).
fn still_there(db: &Db, g: &Grant) -> Result<(), ApiError> {
    if !db.websockets.contains_key(&g.ws_id) {
        return Err(ApiError::forbidden("The websocket of this URL was deleted"));
    }
    if let Some(sub) = g.scope {
        if db
            .subscriptions
            .get(&sub)
            .is_none_or(|s| s.endpoint_id != g.ws_id)
        {
            return Err(ApiError::forbidden(
                "The event subscription of this URL no longer uses this websocket",
            ));
        }
    }
    Ok(())
}

/// Why a connection ended.
enum End {
    /// Close handshake with this reason.
    Close(&'static str),
    /// Cut without a close frame.
    Drop,
    /// The client left (or the socket broke).
    Gone,
}

async fn serve_socket(mut socket: WebSocket, sim: Weak<SimInner>, grant: Grant, url: String) {
    let Some(mut sub) = register(&sim, &grant) else {
        close(socket, "websocket deleted").await;
        return;
    };
    let ttl = Duration::from_millis((grant.expires_at - wire::now_ms()).max(0) as u64);
    let expiry = tokio::time::sleep(ttl);
    tokio::pin!(expiry);
    let mut unsent: Vec<Frame> = Vec::new();
    let end = loop {
        tokio::select! {
            // Control and expiry first: a dropped or expired connection sends nothing more.
            biased;
            changed = sub.control.changed() => {
                let how = changed.map(|_| *sub.control.borrow_and_update());
                match how {
                    Ok(Control::Open) => {}
                    Ok(Control::Drop) => break End::Drop,
                    Ok(Control::Close) | Err(_) => break End::Close("websocket closed"),
                }
            }
            () = &mut expiry => break End::Close("websocket_url expired"),
            msg = socket.recv() => match msg {
                // tungstenite answers pings itself; anything a client sends is ignored.
                Some(Ok(Message::Close(_)) | Err(_)) | None => break End::Gone,
                Some(Ok(_)) => {}
            },
            frame = sub.frames.recv() => match frame {
                Some(f) => {
                    if socket.send(Message::Text(f.text.clone().into())).await.is_err() {
                        unsent.push(f);
                        break End::Gone;
                    }
                    if let Some(inner) = sim.upgrade() {
                        sockets::delivered(&inner, grant.ws_id, &f, &url);
                    }
                }
                // The endpoint was forgotten (websocket deleted, simulator reset or gone).
                None => break End::Close("websocket closed"),
            },
        }
    };
    // Unregister before closing, so nothing more is queued on this connection and what it
    // still holds goes back to the buffer for the next one.
    if let Some(inner) = sim.upgrade() {
        inner
            .events
            .sockets
            .disconnect(&inner, grant.ws_id, sub, unsent);
    }
    match end {
        End::Close(reason) => close(socket, reason).await,
        // Dropping the socket closes the TCP connection with no close frame.
        End::Drop | End::Gone => drop(socket),
    }
}

/// Registers the connection under the db lock, so a concurrent delete either happens first
/// (and the connection is refused) or sees it (and closes it).
fn register(sim: &Weak<SimInner>, grant: &Grant) -> Option<sockets::Subscriber> {
    let inner = sim.upgrade()?;
    let db = inner.db.read();
    still_there(&db, grant).ok()?;
    Some(inner.events.sockets.connect(grant.ws_id, grant.scope))
}

/// A close handshake with `reason` (code 1008, policy), waiting briefly for the client's reply.
async fn close(mut socket: WebSocket, reason: &'static str) {
    let frame = CloseFrame {
        code: close_code::POLICY,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_ok() {
        let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    }
}
