//! Event delivery: what happens in the simulator is POSTed to every matching event
//! subscription's webhook, or pushed down its websocket, the way Dialpad does it.
//!
//! Events are built while the caller holds the db lock: the matching subscriptions, their
//! webhook's URL and secret and the payload are snapshotted into [`Job`]s and queued on an
//! unbounded channel, one ordered queue per hook URL (so a call's states arrive in order).
//! A background task per URL POSTs each job; a receiver that fails (non-2xx or transport error)
//! is retried a bounded number of times off the queue, so it neither blocks the API nor the
//! events of other receivers. Every attempt is recorded (`GET /_sim/deliveries`) and counted in
//! `Stats.events_delivered` / `events_failed` (failed = gave up after the last retry).
//!
//! The body is the event itself as JSON (`application/json`), or, when the webhook has a
//! secret, a compact HS256 JWT whose claims are the event (`application/jwt`).
//!
//! A subscription whose endpoint is a websocket gets the same body as a text frame on the
//! websocket's open connections instead (see [`sockets`]); those deliveries are logged in the
//! same `/_sim/deliveries`, with `endpoint: "websocket"`.

pub mod calls;
pub mod payloads;
pub mod sockets;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::activity::{Call, Sms};
use crate::contacts::Contact;
use crate::state::{Db, Sim, SimInner};
use crate::subscriptions::{SubKind, Subscription};

/// How many delivery attempts `/_sim/deliveries` keeps (oldest dropped first).
const MAX_LOG: usize = 10_000;

/// Delivery timing, changeable at run time through `PUT /_sim/deliveries/policy`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryPolicy {
    /// Wait before each retry; its length is the number of retries.
    pub retry_delays_ms: Vec<u64>,
    /// Per-attempt timeout.
    pub timeout_ms: u64,
    /// How long an outbound SMS stays `pending` before its status event (`success`).
    pub sms_status_delay_ms: u64,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            retry_delays_ms: vec![200, 1000, 3000],
            timeout_ms: 5000,
            sms_status_delay_ms: 1000,
        }
    }
}

/// One delivery attempt, as `/_sim/deliveries` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub event_type: &'static str,
    /// `webhook` (a POST) or `websocket` (a text frame on an open connection, or an event
    /// dropped from a websocket's buffer).
    pub endpoint: &'static str,
    pub subscription_id: i64,
    /// Set for webhook deliveries.
    pub webhook_id: Option<i64>,
    /// Set for websocket deliveries.
    pub websocket_id: Option<i64>,
    /// The hook URL; for a websocket, its URL without the token (empty for a dropped event).
    pub url: String,
    /// 1 for the first try, 2 for the first retry, ... (always 1 on a websocket).
    pub attempt: u32,
    /// The receiver's HTTP status; `null` on a transport error and on websockets.
    pub status: Option<u16>,
    pub ok: bool,
    pub error: Option<String>,
    /// Whether this was the last attempt (delivered, or given up).
    pub last: bool,
    /// The call state, SMS status or contact event this delivery carried.
    pub detail: Option<String>,
    /// Epoch ms.
    pub at: i64,
}

/// A prepared POST to one subscription's webhook.
#[derive(Clone, Debug)]
struct Job {
    event_type: &'static str,
    subscription_id: i64,
    webhook_id: i64,
    url: String,
    body: Vec<u8>,
    content_type: &'static str,
    detail: Option<String>,
}

/// The delivery side of the simulator: queues per hook URL, websocket connections, the attempt
/// log and the policy.
#[derive(Default)]
pub struct Hub {
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Job>>>,
    pub sockets: sockets::Sockets,
    /// A ring: once full, the oldest attempt drops off in O(1).
    log: Mutex<std::collections::VecDeque<Delivery>>,
    policy: Mutex<DeliveryPolicy>,
    client: OnceLock<reqwest::Client>,
}

impl Hub {
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.log.lock().clear();
    }

    pub fn policy(&self) -> DeliveryPolicy {
        self.policy.lock().clone()
    }

    pub fn set_policy(&self, p: DeliveryPolicy) {
        *self.policy.lock() = p;
    }

    pub(crate) fn record(&self, d: Delivery) {
        let mut log = self.log.lock();
        if log.len() >= MAX_LOG {
            log.pop_front();
        }
        log.push_back(d);
    }

    fn client(&self) -> reqwest::Client {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .user_agent("Dialpad-Webhooks (dialpad-sim)")
                    .build()
                    .unwrap_or_default()
            })
            .clone()
    }
}

/// Something that happened, to be told to the subscriptions that want it.
pub enum Event<'a> {
    /// `Created`, `Updated` or `Deleted`.
    Contact(&'static str, &'a Contact),
    Call(&'a Call),
    /// An SMS; `status_update` marks a later delivery-status change of a message already told.
    Sms {
        sms: &'a Sms,
        status_update: bool,
    },
    AgentStatus(&'a payloads::AgentStatus),
}

impl Event<'_> {
    fn kind(&self) -> SubKind {
        match self {
            Event::Contact(..) => SubKind::Contact,
            Event::Call(_) => SubKind::Call,
            Event::Sms { .. } => SubKind::Sms,
            Event::AgentStatus(_) => SubKind::AgentStatus,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Event::Contact(..) => "contact",
            Event::Call(_) => "call",
            Event::Sms { .. } => "sms",
            Event::AgentStatus(_) => "agent_status",
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            Event::Contact(e, _) => Some((*e).to_owned()),
            Event::Call(c) => Some(c.state.clone()),
            Event::Sms { sms, .. } => Some(sms.message_status.clone()),
            Event::AgentStatus(a) => Some(a.on_duty_status.clone()),
        }
    }
}

/// Whether a subscription's target (`target_type`/`target_id`) covers an event of the target
/// `(kind, id)` in office `office`. An office target covers its users too.
fn target_matches(sub: &Subscription, kind: &str, id: i64, office: Option<i64>) -> bool {
    match (sub.target_type.as_deref(), sub.target_id) {
        (Some("office"), Some(tid)) => (kind == "office" && id == tid) || office == Some(tid),
        (Some(t), Some(tid)) => t == kind && tid == id,
        _ => true,
    }
}

/// The payload for one subscription, or `None` if it does not want this event.
fn payload_for(db: &Db, sub: &Subscription, event: &Event) -> Option<Value> {
    if !sub.enabled || sub.kind != event.kind() {
        return None;
    }
    match event {
        Event::Contact(name, c) => {
            if sub.contact_type.as_deref().is_some_and(|t| t != c.kind) {
                return None;
            }
            Some(payloads::contact(name, c))
        }
        Event::Call(c) => {
            let states = &sub.call_states;
            if !states.is_empty() && !states.iter().any(|s| s == &c.state || s == "all") {
                return None;
            }
            if !target_matches(sub, &c.target_type, c.target_id, c.office_id) {
                return None;
            }
            if sub.group_calls_only == Some(true) && c.group_id.is_none() {
                return None;
            }
            Some(payloads::call(db, c))
        }
        Event::Sms { sms, status_update } => {
            if *status_update && sub.status != Some(true) {
                return None;
            }
            if let Some(d) = sub.direction.as_deref() {
                if d != "all" && d != sms.direction {
                    return None;
                }
            }
            let (tid, ttype) = (sms.target_id.unwrap_or(0), sms.target_type.as_deref());
            let office = match ttype {
                Some("user") => db.users.get(&tid).map(|u| u.office_id),
                Some("office") => Some(tid),
                _ => None,
            };
            if !target_matches(sub, ttype.unwrap_or("user"), tid, office) {
                return None;
            }
            // Dialpad leaves the text out unless the subscription's creator holds the content
            // export scope (`:all` for company-wide subscriptions).
            let targeted = sub.target_id.is_some();
            let with_text = sub.creator.has_scope("message_content_export:all")
                || (targeted && sub.creator.has_scope("message_content_export"));
            Some(payloads::sms(db, sms, with_text))
        }
        Event::AgentStatus(a) => Some(payloads::agent_status(a)),
    }
}

fn encode(body: &Value, secret: Option<&str>) -> Option<(Vec<u8>, &'static str)> {
    match secret {
        Some(secret) => {
            let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
            jsonwebtoken::encode(&header, body, &key)
                .ok()
                .map(|jwt| (jwt.into_bytes(), "application/jwt"))
        }
        None => serde_json::to_vec(body)
            .ok()
            .map(|b| (b, "application/json")),
    }
}

impl Sim {
    /// Queues `event` for every matching subscription. Call it with the db lock held (it does
    /// not wait for anything); outside a tokio runtime nothing is sent.
    pub fn emit(&self, db: &Db, event: Event) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let kind = event.kind();
        for sub in db.subscriptions.values().filter(|s| s.kind == kind) {
            if let Some(ws) = db.websockets.get(&sub.endpoint_id) {
                let Some(payload) = payload_for(db, sub, &event) else {
                    continue;
                };
                // JWTs and serde_json's output are UTF-8; the check costs nothing.
                let Some(text) = encode(&payload, ws.secret())
                    .and_then(|(body, _)| String::from_utf8(body).ok())
                else {
                    continue;
                };
                let frame = sockets::Frame {
                    event_type: event.type_name(),
                    subscription_id: sub.id,
                    text,
                    detail: event.detail(),
                };
                self.0.events.sockets.push(&self.0, ws.id, frame);
                continue;
            }
            let Some(hook) = db.webhooks.get(&sub.endpoint_id) else {
                continue;
            };
            let Some(payload) = payload_for(db, sub, &event) else {
                continue;
            };
            let Some((body, content_type)) = encode(&payload, hook.secret()) else {
                continue;
            };
            self.enqueue(Job {
                event_type: event.type_name(),
                subscription_id: sub.id,
                webhook_id: hook.id,
                url: hook.hook_url.clone(),
                body,
                content_type,
                detail: event.detail(),
            });
        }
    }

    fn enqueue(&self, job: Job) {
        let hub = &self.0.events;
        let mut queues = hub.queues.lock();
        if let Some(tx) = queues.get(&job.url) {
            match tx.send(job) {
                Ok(()) => return,
                // The worker ended (cannot happen while the Sim lives); start a new one.
                Err(mpsc::error::SendError(job)) => {
                    queues.remove(&job.url);
                    return self.start_worker(&mut queues, job);
                }
            }
        }
        self.start_worker(&mut queues, job);
    }

    fn start_worker(&self, queues: &mut HashMap<String, mpsc::UnboundedSender<Job>>, job: Job) {
        let (tx, rx) = mpsc::unbounded_channel();
        let url = job.url.clone();
        if tx.send(job).is_ok() {
            queues.insert(url, tx);
            tokio::spawn(worker(Arc::downgrade(&self.0), rx));
        }
    }

    /// Delivery attempts so far (`GET /_sim/deliveries`).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.0.events.deliveries()
    }

    pub fn delivery_policy(&self) -> DeliveryPolicy {
        self.0.events.policy()
    }

    /// Changes retry delays and timeout (tests make retries fast).
    pub fn set_delivery_policy(&self, p: DeliveryPolicy) {
        self.0.events.set_policy(p);
    }
}

/// Delivers one URL's jobs in order; failed jobs are retried in their own task.
async fn worker(sim: Weak<SimInner>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = rx.recv().await {
        let Some(inner) = sim.upgrade() else { return };
        let policy = inner.events.policy();
        let last = policy.retry_delays_ms.is_empty();
        let ok = attempt(&inner, &job, 1, &policy, last).await;
        drop(inner);
        if !ok && !last {
            tokio::spawn(retry(sim.clone(), job, policy));
        }
    }
}

async fn retry(sim: Weak<SimInner>, job: Job, policy: DeliveryPolicy) {
    let n = policy.retry_delays_ms.len();
    for (i, delay) in policy.retry_delays_ms.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*delay)).await;
        let Some(inner) = sim.upgrade() else { return };
        if attempt(&inner, &job, i as u32 + 2, &policy, i + 1 == n).await {
            return;
        }
    }
}

/// One POST; records it and updates the stats. Answers whether the receiver took it.
async fn attempt(inner: &SimInner, job: &Job, n: u32, policy: &DeliveryPolicy, last: bool) -> bool {
    let result = inner
        .events
        .client()
        .post(&job.url)
        .header(reqwest::header::CONTENT_TYPE, job.content_type)
        .timeout(Duration::from_millis(policy.timeout_ms.max(1)))
        .body(job.body.clone())
        .send()
        .await;
    let (status, error) = match &result {
        Ok(r) => (Some(r.status().as_u16()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let ok = result.as_ref().is_ok_and(|r| r.status().is_success());
    {
        let mut stats = inner.stats.lock();
        if ok {
            stats.events_delivered += 1;
        } else if last {
            stats.events_failed += 1;
        }
    }
    inner.events.record(Delivery {
        event_type: job.event_type,
        endpoint: "webhook",
        subscription_id: job.subscription_id,
        webhook_id: Some(job.webhook_id),
        websocket_id: None,
        url: job.url.clone(),
        attempt: n,
        status,
        ok,
        error,
        last: ok || last,
        detail: job.detail.clone(),
        at: crate::wire::now_ms(),
    });
    ok
}
