//! Webhooks and event subscriptions (`/api/v2/webhooks`, `/api/v2/subscriptions/{type}`).
//!
//! A webhook is an endpoint (`hook_url` plus an optional JWT signing secret); so is a websocket
//! (`crate::websockets`). Event subscriptions of every type point at one of either through
//! `endpoint_id` (the legacy `webhook_id` is accepted too, for either) and embed it in their
//! responses as `webhook` or `websocket`; an embedded websocket's URL is scoped to the
//! subscription. Events are delivered by `crate::events`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::operations::Op;
use crate::pagination::{paginate, Page};
use crate::params::Params;
use crate::state::{Caller, Db, Sim};
use crate::websockets::{self, Urls, WebsocketView};
use crate::wire::{self, reply, Reply};

pub const OPERATIONS: &[Op] = &[
    Op::new("GET", "/api/v2/webhooks", "webhooks.list"),
    Op::new("POST", "/api/v2/webhooks", "webhooks.create"),
    Op::new("GET", "/api/v2/webhooks/{id}", "webhooks.get"),
    Op::new("PATCH", "/api/v2/webhooks/{id}", "webhook.update"),
    Op::new("DELETE", "/api/v2/webhooks/{id}", "webhooks.delete"),
    Op::new(
        "GET",
        "/api/v2/subscriptions/call",
        "webhook_call_event_subscription.list",
    ),
    Op::new(
        "POST",
        "/api/v2/subscriptions/call",
        "webhook_call_event_subscription.create",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/call/{id}",
        "webhook_call_event_subscription.get",
    ),
    Op::new(
        "PATCH",
        "/api/v2/subscriptions/call/{id}",
        "webhook_call_event_subscription.update",
    ),
    Op::new(
        "DELETE",
        "/api/v2/subscriptions/call/{id}",
        "webhook_call_event_subscription.delete",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/sms",
        "webhook_sms_event_subscription.list",
    ),
    Op::new(
        "POST",
        "/api/v2/subscriptions/sms",
        "webhook_sms_event_subscription.create",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/sms/{id}",
        "webhook_sms_event_subscription.get",
    ),
    Op::new(
        "PATCH",
        "/api/v2/subscriptions/sms/{id}",
        "webhook_sms_event_subscription.update",
    ),
    Op::new(
        "DELETE",
        "/api/v2/subscriptions/sms/{id}",
        "webhook_sms_event_subscription.delete",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/contact",
        "webhook_contact_event_subscription.list",
    ),
    Op::new(
        "POST",
        "/api/v2/subscriptions/contact",
        "webhook_contact_event_subscription.create",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/contact/{id}",
        "webhook_contact_event_subscription.get",
    ),
    Op::new(
        "PATCH",
        "/api/v2/subscriptions/contact/{id}",
        "webhook_contact_event_subscription.update",
    ),
    Op::new(
        "DELETE",
        "/api/v2/subscriptions/contact/{id}",
        "webhook_contact_event_subscription.delete",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/agent_status",
        "webhook_agent_status_event_subscription.list",
    ),
    Op::new(
        "POST",
        "/api/v2/subscriptions/agent_status",
        "webhook_agent_status_event_subscription.create",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/agent_status/{id}",
        "webhook_agent_status_event_subscription.get",
    ),
    Op::new(
        "PATCH",
        "/api/v2/subscriptions/agent_status/{id}",
        "webhook_agent_status_event_subscription.update",
    ),
    Op::new(
        "DELETE",
        "/api/v2/subscriptions/agent_status/{id}",
        "webhook_agent_status_event_subscription.delete",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/changelog",
        "webhook_change_log_event_subscription.list",
    ),
    Op::new(
        "POST",
        "/api/v2/subscriptions/changelog",
        "webhook_change_log_event_subscription.create",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/changelog/{id}",
        "webhook_change_log_event_subscription.get",
    ),
    Op::new(
        "PATCH",
        "/api/v2/subscriptions/changelog/{id}",
        "webhook_change_log_event_subscription.update",
    ),
    Op::new(
        "DELETE",
        "/api/v2/subscriptions/changelog/{id}",
        "webhook_change_log_event_subscription.delete",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/channel",
        "webhook_channel_event_subscription.list",
    ),
    Op::new(
        "POST",
        "/api/v2/subscriptions/channel",
        "webhook_channel_event_subscription.create",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/channel/{id}",
        "webhook_channel_event_subscription.get",
    ),
    Op::new(
        "PATCH",
        "/api/v2/subscriptions/channel/{id}",
        "webhook_channel_event_subscription.update",
    ),
    Op::new(
        "DELETE",
        "/api/v2/subscriptions/channel/{id}",
        "webhook_channel_event_subscription.delete",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/fax",
        "webhook_fax_event_subscription.list",
    ),
    Op::new(
        "POST",
        "/api/v2/subscriptions/fax",
        "webhook_fax_event_subscription.create",
    ),
    Op::new(
        "GET",
        "/api/v2/subscriptions/fax/{id}",
        "webhook_fax_event_subscription.get",
    ),
    Op::new(
        "PATCH",
        "/api/v2/subscriptions/fax/{id}",
        "webhook_fax_event_subscription.update",
    ),
    Op::new(
        "DELETE",
        "/api/v2/subscriptions/fax/{id}",
        "webhook_fax_event_subscription.delete",
    ),
];

/// Dialpad allows at most this many event subscriptions of one type per company.
pub const MAX_SUBSCRIPTIONS_PER_TYPE: usize = 100;

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/api/v2/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/api/v2/webhooks/{id}",
            get(get_webhook)
                .patch(update_webhook)
                .delete(delete_webhook),
        )
        .merge(sub_routes("call", SubKind::Call))
        .merge(sub_routes("sms", SubKind::Sms))
        .merge(sub_routes("contact", SubKind::Contact))
        .merge(sub_routes("agent_status", SubKind::AgentStatus))
        .merge(sub_routes("changelog", SubKind::ChangeLog))
        .merge(sub_routes("channel", SubKind::Channel))
        .merge(sub_routes("fax", SubKind::Fax))
}

/// One literal route pair per type, so request stats name the spec's path templates.
fn sub_routes(segment: &str, kind: SubKind) -> Router<Sim> {
    Router::new()
        .route(
            &format!("/api/v2/subscriptions/{segment}"),
            get(move |s: State<Sim>, c: Caller, u: Urls, p: Params| list_subs(kind, s, c, u, p))
                .post(
                    move |s: State<Sim>, c: Caller, u: Urls, b: JsonBody<SubscriptionBody>| {
                        create_sub(kind, s, c, u, b)
                    },
                ),
        )
        .route(
            &format!("/api/v2/subscriptions/{segment}/{{id}}"),
            get(move |s: State<Sim>, c: Caller, u: Urls, id: Path<String>| {
                get_sub(kind, s, c, u, id)
            })
            .patch(
                move |s: State<Sim>,
                      c: Caller,
                      u: Urls,
                      id: Path<String>,
                      b: JsonBody<SubscriptionBody>| {
                    update_sub(kind, s, c, u, id, b)
                },
            )
            .delete(move |s: State<Sim>, c: Caller, u: Urls, id: Path<String>| {
                delete_sub(kind, s, c, u, id)
            }),
        )
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/// `protos.signature.SignatureProto`: how events to a webhook or websocket are signed (JWT,
/// HS256).
#[derive(Clone, Debug, Serialize)]
pub struct Signature {
    pub algo: String,
    pub secret: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `protos.webhook.WebhookProto`. Dialpad returns the signing secret inside `signature`, so the
/// simulator does too; without a secret there is no signature (events are sent unsigned).
#[derive(Clone, Debug, Serialize)]
pub struct Webhook {
    #[serde(with = "wire::id")]
    pub id: i64,
    pub hook_url: String,
    pub signature: Option<Signature>,
}

impl Webhook {
    /// The secret events to this webhook are signed with, if any.
    pub fn secret(&self) -> Option<&str> {
        self.signature.as_ref().map(|s| s.secret.as_str())
    }
}

pub(crate) fn signature(secret: Option<String>) -> Option<Signature> {
    secret.filter(|s| !s.is_empty()).map(|secret| Signature {
        algo: "HS256".to_owned(),
        secret,
        kind: "jwt".to_owned(),
    })
}

#[derive(Deserialize)]
struct CreateWebhook {
    hook_url: Option<String>,
    secret: Option<String>,
}

/// Longest `hook_url` the simulator accepts. Every queued event and every entry of the
/// delivery log (`/_sim/deliveries`, up to 10,000 of them) carries a copy of the URL, so a
/// megabyte-long URL would otherwise cost gigabytes.
const MAX_HOOK_URL: usize = 2048;

fn check_hook_url(url: &str) -> Result<(), ApiError> {
    if url.trim().len() > MAX_HOOK_URL {
        return Err(ApiError::invalid_field(
            "hook_url",
            format!("must be at most {MAX_HOOK_URL} characters"),
        ));
    }
    match url::Url::parse(url.trim()) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => Ok(()),
        _ => Err(ApiError::invalid_field(
            "hook_url",
            format!("{url:?} is not an http(s) URL"),
        )),
    }
}

pub(crate) fn check_secret(secret: &Option<String>) -> Result<(), ApiError> {
    match secret {
        Some(s) if s.contains(['\n', '\r']) => {
            Err(ApiError::invalid_field("secret", "must be a single line"))
        }
        _ => Ok(()),
    }
}

fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.trim().parse().map_err(|_| ApiError::not_found(what))
}

async fn list_webhooks(
    State(sim): State<Sim>,
    _caller: Caller,
    params: Params,
) -> ApiResult<Reply> {
    let db = sim.db().read();
    let items: Vec<&Webhook> = db.webhooks.values().collect();
    Ok(reply(&paginate(items, &params)?))
}

async fn create_webhook(
    State(sim): State<Sim>,
    _caller: Caller,
    JsonBody(req): JsonBody<CreateWebhook>,
) -> ApiResult<Reply> {
    let hook_url = req
        .hook_url
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| ApiError::missing_field("hook_url"))?;
    check_hook_url(&hook_url)?;
    check_secret(&req.secret)?;
    let mut db = sim.db().write();
    let id = db.next_id();
    let hook = Webhook {
        id,
        hook_url: hook_url.trim().to_owned(),
        signature: signature(req.secret),
    };
    db.webhooks.insert(id, hook.clone());
    Ok(reply(&hook))
}

async fn get_webhook(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = parse_id(&id, "Webhook")?;
    let db = sim.db().read();
    db.webhooks
        .get(&id)
        .map(reply)
        .ok_or_else(|| ApiError::not_found("Webhook"))
}

async fn update_webhook(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CreateWebhook>,
) -> ApiResult<Reply> {
    let id = parse_id(&id, "Webhook")?;
    if let Some(u) = &req.hook_url {
        check_hook_url(u)?;
    }
    check_secret(&req.secret)?;
    let mut db = sim.db().write();
    let hook = db
        .webhooks
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("Webhook"))?;
    if let Some(u) = req.hook_url {
        hook.hook_url = u.trim().to_owned();
    }
    if let Some(secret) = req.secret {
        // An empty secret removes signing.
        hook.signature = signature(Some(secret));
    }
    Ok(reply(&*hook))
}

/// Answers with the deleted webhook. Subscriptions that pointed at it stay, without a webhook.
async fn delete_webhook(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = parse_id(&id, "Webhook")?;
    let removed = sim.db().write().webhooks.remove(&id);
    removed
        .map(|h| reply(&h))
        .ok_or_else(|| ApiError::not_found("Webhook"))
}

// ---------------------------------------------------------------------------------------------
// Event subscriptions

/// The event subscription types, by their path segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SubKind {
    Call,
    Sms,
    Contact,
    AgentStatus,
    ChangeLog,
    Channel,
    Fax,
}

impl SubKind {
    pub fn from_segment(s: &str) -> Option<Self> {
        Some(match s {
            "call" => SubKind::Call,
            "sms" => SubKind::Sms,
            "contact" => SubKind::Contact,
            "agent_status" => SubKind::AgentStatus,
            "changelog" => SubKind::ChangeLog,
            "channel" => SubKind::Channel,
            "fax" => SubKind::Fax,
            _ => return None,
        })
    }

    fn label(self) -> &'static str {
        match self {
            SubKind::Call => "Call event subscription",
            SubKind::Sms => "SMS event subscription",
            SubKind::Contact => "Contact event subscription",
            SubKind::AgentStatus => "Agent status event subscription",
            SubKind::ChangeLog => "Change log event subscription",
            SubKind::Channel => "Channel event subscription",
            SubKind::Fax => "Fax event subscription",
        }
    }

    /// The OAuth scope the spec declares for this subscription type's operations.
    fn scope(self) -> Option<&'static str> {
        match self {
            SubKind::ChangeLog => Some("change_log"),
            SubKind::Fax => Some("fax_message"),
            _ => None,
        }
    }

    fn target_types(self) -> &'static [&'static str] {
        match self {
            SubKind::Fax => FAX_TARGET_TYPES,
            _ => TARGET_TYPES,
        }
    }
}

pub const TARGET_TYPES: &[&str] = &[
    "callcenter",
    "callrouter",
    "channel",
    "coachinggroup",
    "coachingteam",
    "department",
    "office",
    "room",
    "staffgroup",
    "unknown",
    "user",
];
const FAX_TARGET_TYPES: &[&str] = &["callcenter", "department", "office", "unknown", "user"];

pub const CALL_STATES: &[&str] = &[
    "admin",
    "admin_recording",
    "ai_playbook",
    "all",
    "barge",
    "blocked",
    "call_transcription",
    "calling",
    "connected",
    "csat",
    "dispositions",
    "hangup",
    "hold",
    "merged",
    "missed",
    "monitor",
    "parked",
    "pcsat",
    "postcall",
    "preanswer",
    "queued",
    "recap_action_items",
    "recap_outcome",
    "recap_purposes",
    "recap_summary",
    "recording",
    "ringing",
    "takeover",
    "transcription",
    "voicemail",
    "voicemail_uploaded",
];
const DIRECTIONS: &[&str] = &["all", "inbound", "outbound"];
const CONTACT_TYPES: &[&str] = &["local", "shared"];
const AGENT_TYPES: &[&str] = &["callcenter"];

/// One event subscription of any type; fields a type does not have stay `None`.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: i64,
    pub kind: SubKind,
    /// The webhook or websocket events go to (ids are unique across both).
    pub endpoint_id: i64,
    pub enabled: bool,
    pub call_states: Vec<String>,
    pub target_id: Option<i64>,
    pub target_type: Option<String>,
    pub group_calls_only: Option<bool>,
    pub direction: Option<String>,
    pub include_internal: Option<bool>,
    pub status: Option<bool>,
    pub contact_type: Option<String>,
    pub agent_type: Option<String>,
    /// Whoever created it (an API key holds every scope). Its scopes decide whether SMS events
    /// carry the message text.
    pub creator: Caller,
}

/// The response shape shared by every `*EventSubscriptionProto`.
#[derive(Serialize)]
struct SubscriptionView<'a> {
    #[serde(with = "wire::id")]
    id: i64,
    enabled: bool,
    call_states: &'a [String],
    #[serde(with = "wire::opt_id")]
    target_id: Option<i64>,
    target_type: Option<&'a str>,
    group_calls_only: Option<bool>,
    direction: Option<&'a str>,
    include_internal: Option<bool>,
    status: Option<bool>,
    contact_type: Option<&'a str>,
    agent_type: Option<&'a str>,
    webhook: Option<&'a Webhook>,
    websocket: Option<WebsocketView<'a>>,
}

impl Subscription {
    fn view<'a>(&'a self, db: &'a Db, urls: &Urls) -> SubscriptionView<'a> {
        SubscriptionView {
            id: self.id,
            enabled: self.enabled,
            call_states: &self.call_states,
            target_id: self.target_id,
            target_type: self.target_type.as_deref(),
            group_calls_only: self.group_calls_only,
            direction: self.direction.as_deref(),
            include_internal: self.include_internal,
            status: self.status,
            contact_type: self.contact_type.as_deref(),
            agent_type: self.agent_type.as_deref(),
            webhook: db.webhooks.get(&self.endpoint_id),
            websocket: db
                .websockets
                .get(&self.endpoint_id)
                .map(|w| websockets::view(w, urls, Some(self.id))),
        }
    }
}

/// Create and update bodies of every type (unknown fields are ignored, as Dialpad does).
#[derive(Deserialize)]
struct SubscriptionBody {
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    endpoint_id: Option<i64>,
    /// The pre-2022 name of `endpoint_id`.
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    webhook_id: Option<i64>,
    enabled: Option<bool>,
    call_states: Option<Vec<String>>,
    #[serde(default, deserialize_with = "wire::flex::opt_i64")]
    target_id: Option<i64>,
    target_type: Option<String>,
    group_calls_only: Option<bool>,
    direction: Option<String>,
    include_internal: Option<bool>,
    status: Option<bool>,
    contact_type: Option<String>,
    agent_type: Option<String>,
}

/// Dialpad omits null fields, but the spec lists some message fields of the channel
/// subscription proto (and its collection's `cursor`) as required. A required message that
/// is unset (the websocket of a webhook subscription, or the other way round) is sent as an
/// empty message `{}`, the
/// only value the spec's `$ref` allows; `cursor` is an explicit `null` on the last page.
fn required_messages(kind: SubKind) -> &'static [&'static str] {
    match kind {
        SubKind::Channel => &["webhook", "websocket"],
        _ => &[],
    }
}

fn keep_required(kind: SubKind, v: &mut Value) {
    if let Value::Object(map) = v {
        for k in required_messages(kind) {
            map.entry(*k)
                .or_insert_with(|| Value::Object(Default::default()));
        }
    }
}

/// One subscription in Dialpad's wire format.
fn sub_reply(kind: SubKind, view: &SubscriptionView) -> Response {
    let mut v = serde_json::to_value(view).unwrap_or_default();
    wire::strip_empty(&mut v);
    keep_required(kind, &mut v);
    Json(v).into_response()
}

/// A page of subscriptions in Dialpad's wire format.
fn page_reply(kind: SubKind, page: &Page<SubscriptionView>) -> Response {
    let mut v = serde_json::to_value(page).unwrap_or_default();
    wire::strip_empty(&mut v);
    if let Value::Object(map) = &mut v {
        if kind == SubKind::Channel {
            map.entry("cursor").or_insert(Value::Null);
        }
        let items = map
            .entry("items")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = items {
            items.iter_mut().for_each(|i| keep_required(kind, i));
        }
    }
    Json(v).into_response()
}

fn authorize(caller: &Caller, kind: SubKind) -> Result<(), ApiError> {
    match kind.scope() {
        Some(scope) => caller.require_scope(scope),
        None => Ok(()),
    }
}

fn check_enum(field: &str, value: &Option<String>, allowed: &[&str]) -> Result<(), ApiError> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(ApiError::invalid_field(
            field,
            format!("{v:?} is not one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

fn require(field: &str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(()),
        _ => Err(ApiError::missing_field(field)),
    }
}

impl SubscriptionBody {
    fn endpoint(&self) -> Option<i64> {
        self.endpoint_id.or(self.webhook_id)
    }

    /// Checks the fields this type has; `create` also enforces the required ones.
    fn validate(&self, kind: SubKind, create: bool) -> Result<(), ApiError> {
        check_enum("target_type", &self.target_type, kind.target_types())?;
        check_enum("direction", &self.direction, DIRECTIONS)?;
        check_enum("contact_type", &self.contact_type, CONTACT_TYPES)?;
        check_enum("agent_type", &self.agent_type, AGENT_TYPES)?;
        for s in self.call_states.iter().flatten() {
            if !CALL_STATES.contains(&s.as_str()) {
                return Err(ApiError::invalid_field(
                    "call_states",
                    format!("{s:?} is not one of {}", CALL_STATES.join(", ")),
                ));
            }
        }
        match kind {
            SubKind::Sms | SubKind::Fax if create => require("direction", &self.direction)?,
            SubKind::Channel if create => {
                require("direction", &self.direction)?;
                if self.target_id.is_none() {
                    return Err(ApiError::missing_field("target_id"));
                }
            }
            // The spec requires contact_type on updates too.
            SubKind::Contact => require("contact_type", &self.contact_type)?,
            SubKind::AgentStatus if create => require("agent_type", &self.agent_type)?,
            _ => {}
        }
        let targeted = matches!(kind, SubKind::Call | SubKind::Sms | SubKind::Fax);
        if targeted && create {
            match (self.target_id, &self.target_type) {
                (Some(_), None) => return Err(ApiError::missing_field("target_type")),
                (None, Some(_)) => return Err(ApiError::missing_field("target_id")),
                _ => {}
            }
        }
        Ok(())
    }
}

fn check_endpoint(db: &Db, id: i64) -> Result<(), ApiError> {
    if db.webhooks.contains_key(&id) || db.websockets.contains_key(&id) {
        Ok(())
    } else {
        Err(ApiError::not_found("Webhook or websocket"))
    }
}

/// A user or office target must exist; other target types are not modelled and pass.
fn check_target(db: &Db, id: Option<i64>, kind: Option<&str>) -> Result<(), ApiError> {
    let (Some(id), Some(kind)) = (id, kind) else {
        return Ok(());
    };
    let known = match kind {
        "user" => db.users.contains_key(&id),
        "office" => db.offices.contains_key(&id),
        "channel" => db.channels.contains_key(&id),
        _ => true,
    };
    if known {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "target_id",
            format!("no {kind} with id {id}"),
        ))
    }
}

async fn list_subs(
    kind: SubKind,
    State(sim): State<Sim>,
    caller: Caller,
    urls: Urls,
    params: Params,
) -> ApiResult<Response> {
    authorize(&caller, kind)?;
    let target_type = params.one_of("target_type", kind.target_types())?;
    let target_id = params.i64("target_id")?;
    let db = sim.db().read();
    let items: Vec<SubscriptionView> = db
        .subscriptions
        .values()
        .filter(|s| s.kind == kind)
        .filter(|s| target_type.is_none() || s.target_type == target_type)
        .filter(|s| target_id.is_none() || s.target_id == target_id)
        .map(|s| s.view(&db, &urls))
        .collect();
    Ok(page_reply(kind, &paginate(items, &params)?))
}

async fn create_sub(
    kind: SubKind,
    State(sim): State<Sim>,
    caller: Caller,
    urls: Urls,
    JsonBody(req): JsonBody<SubscriptionBody>,
) -> ApiResult<Response> {
    authorize(&caller, kind)?;
    req.validate(kind, true)?;
    let endpoint_id = req
        .endpoint()
        .ok_or_else(|| ApiError::missing_field("endpoint_id"))?;
    let mut db = sim.db().write();
    check_endpoint(&db, endpoint_id)?;
    check_target(&db, req.target_id, req.target_type.as_deref())?;
    if db.subscriptions.values().filter(|s| s.kind == kind).count() >= MAX_SUBSCRIPTIONS_PER_TYPE {
        return Err(ApiError::bad_request(format!(
            "A company can have at most {MAX_SUBSCRIPTIONS_PER_TYPE} {}s",
            kind.label().to_lowercase()
        )));
    }
    let id = db.next_id();
    let is = |k: &[SubKind]| k.contains(&kind);
    let sub = Subscription {
        id,
        kind,
        endpoint_id,
        enabled: req.enabled.unwrap_or(true),
        call_states: if kind == SubKind::Call {
            req.call_states.unwrap_or_default()
        } else {
            Vec::new()
        },
        target_id: if is(&[SubKind::Call, SubKind::Sms, SubKind::Fax, SubKind::Channel]) {
            req.target_id
        } else {
            None
        },
        target_type: if is(&[SubKind::Call, SubKind::Sms, SubKind::Fax]) {
            req.target_type
        } else {
            None
        },
        group_calls_only: (kind == SubKind::Call).then(|| req.group_calls_only.unwrap_or(false)),
        direction: if is(&[SubKind::Sms, SubKind::Fax, SubKind::Channel]) {
            req.direction
        } else {
            None
        },
        include_internal: (kind == SubKind::Sms).then(|| req.include_internal.unwrap_or(false)),
        status: is(&[SubKind::Sms, SubKind::Fax]).then(|| req.status.unwrap_or(false)),
        contact_type: if kind == SubKind::Contact {
            req.contact_type
        } else {
            None
        },
        agent_type: if kind == SubKind::AgentStatus {
            req.agent_type
        } else {
            None
        },
        creator: caller.clone(),
    };
    db.subscriptions.insert(id, sub);
    let view = db
        .subscriptions
        .get(&id)
        .map(|s| sub_reply(kind, &s.view(&db, &urls)));
    view.ok_or_else(|| ApiError::not_found(kind.label()))
}

fn find(db: &Db, kind: SubKind, raw_id: &str) -> Result<i64, ApiError> {
    let id = parse_id(raw_id, kind.label())?;
    match db.subscriptions.get(&id) {
        Some(s) if s.kind == kind => Ok(id),
        _ => Err(ApiError::not_found(kind.label())),
    }
}

async fn get_sub(
    kind: SubKind,
    State(sim): State<Sim>,
    caller: Caller,
    urls: Urls,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    authorize(&caller, kind)?;
    let db = sim.db().read();
    let id = find(&db, kind, &id)?;
    let view = db
        .subscriptions
        .get(&id)
        .map(|s| sub_reply(kind, &s.view(&db, &urls)));
    view.ok_or_else(|| ApiError::not_found(kind.label()))
}

async fn update_sub(
    kind: SubKind,
    State(sim): State<Sim>,
    caller: Caller,
    urls: Urls,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<SubscriptionBody>,
) -> ApiResult<Response> {
    authorize(&caller, kind)?;
    req.validate(kind, false)?;
    let mut db = sim.db().write();
    let id = find(&db, kind, &id)?;
    if let Some(endpoint) = req.endpoint() {
        check_endpoint(&db, endpoint)?;
    }
    check_target(&db, req.target_id, req.target_type.as_deref())?;
    let Some(sub) = db.subscriptions.get_mut(&id) else {
        return Err(ApiError::not_found(kind.label()));
    };
    if let Some(endpoint) = req.endpoint() {
        sub.endpoint_id = endpoint;
    }
    if let Some(v) = req.enabled {
        sub.enabled = v;
    }
    match kind {
        SubKind::Call => {
            if let Some(v) = req.call_states {
                sub.call_states = v;
            }
            if let Some(v) = req.group_calls_only {
                sub.group_calls_only = Some(v);
            }
        }
        SubKind::Sms => {
            if let Some(v) = req.include_internal {
                sub.include_internal = Some(v);
            }
        }
        SubKind::Contact => sub.contact_type = req.contact_type.or(sub.contact_type.take()),
        SubKind::AgentStatus => sub.agent_type = req.agent_type.or(sub.agent_type.take()),
        _ => {}
    }
    if matches!(kind, SubKind::Sms | SubKind::Fax) {
        if let Some(v) = req.status {
            sub.status = Some(v);
        }
    }
    if matches!(kind, SubKind::Sms | SubKind::Fax | SubKind::Channel) && req.direction.is_some() {
        sub.direction = req.direction;
    }
    if matches!(
        kind,
        SubKind::Call | SubKind::Sms | SubKind::Fax | SubKind::Channel
    ) && req.target_id.is_some()
    {
        sub.target_id = req.target_id;
    }
    if matches!(kind, SubKind::Call | SubKind::Sms | SubKind::Fax) && req.target_type.is_some() {
        sub.target_type = req.target_type;
    }
    let view = db
        .subscriptions
        .get(&id)
        .map(|s| sub_reply(kind, &s.view(&db, &urls)));
    view.ok_or_else(|| ApiError::not_found(kind.label()))
}

/// Answers with the deleted subscription.
async fn delete_sub(
    kind: SubKind,
    State(sim): State<Sim>,
    caller: Caller,
    urls: Urls,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    authorize(&caller, kind)?;
    let mut db = sim.db().write();
    let id = find(&db, kind, &id)?;
    let removed = db.subscriptions.remove(&id);
    let view = removed.map(|s| sub_reply(kind, &s.view(&db, &urls)));
    view.ok_or_else(|| ApiError::not_found(kind.label()))
}
