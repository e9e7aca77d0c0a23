//! Each connection's Dialpad event subscriptions, managed by the connector.
//!
//! [`ensure`] runs after a successful authorization (in the background: it never delays or
//! fails the callback) and from the repair loop ([`repair_periodically`]) for every authorized
//! connection whose events some enabled endpoint wants. It creates the connection's intake if
//! missing (a random route token and JWT secret), then at Dialpad, through the connection's
//! own client: a webhook pointing at `/v1/hooks/dialpad/{routeToken}` (or, in websocket mode, a
//! websocket), signed with the secret, and the call, contact and SMS subscriptions the wanted
//! events need. What exists at Dialpad is recorded with `set_intake_remote` after the calls;
//! no store transaction or lock is held across them. A remote webhook, websocket or
//! subscription that is gone (404) is recreated; a refusal (Dialpad's cap of 100 subscriptions
//! per type, a missing scope) is recorded as `failed` with Dialpad's message and tried again on
//! the next repair round only.
//!
//! [`remove_remote`] deletes what was created, when a connection is deleted (best effort,
//! bounded).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use dialpad::Method;
use dpc_store::events::{Endpoint, Intake, IntakeRemote, NewIntake};
use dpc_store::{Connection, ConnectionStatus, StoreError};
use rand::RngCore as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::ApiKeyAuth;
use crate::error::{ApiJson, ApiPath, ApiResult};
use crate::webhooks::iso_ms;
use crate::AppState;

/// How Dialpad's events reach the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IntakeMode {
    /// Dialpad POSTs each event to `/v1/hooks/dialpad/{routeToken}`.
    #[default]
    Webhook,
    /// The server connects to Dialpad's websocket and reads the events from it.
    Websocket,
}

impl IntakeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            IntakeMode::Webhook => "webhook",
            IntakeMode::Websocket => "websocket",
        }
    }
}

/// The call states subscribed to: the whole life of a call, its recording, transcript and AI
/// recap (the spec's `CreateCallEventSubscription.call_states`).
pub const CALL_STATES: &[&str] = &[
    "preanswer",
    "calling",
    "ringing",
    "connected",
    "queued",
    "hold",
    "parked",
    "merged",
    "blocked",
    "missed",
    "voicemail",
    "voicemail_uploaded",
    "hangup",
    "postcall",
    "recording",
    "admin_recording",
    "transcription",
    "call_transcription",
    "recap_summary",
    "recap_action_items",
    "recap_purposes",
    "recap_outcome",
];

/// One subscription created at Dialpad (the intake's `subscriptions` JSON is a list of them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemoteSubscription {
    /// `call`, `contact`, `sms_inbound` or `sms_outbound`.
    pub kind: String,
    /// Dialpad's subscription id.
    pub id: String,
}

/// The subscription kinds, in the order they are created.
const KINDS: &[&str] = &["call", "contact", "sms_inbound", "sms_outbound"];

/// The subscription kinds `conn`'s wanted events need, from the endpoints, among those its
/// grants may read (a connection granted only users gets no call subscription, whatever the
/// endpoints want).
pub fn wanted_kinds(endpoints: &[Endpoint], conn: &Connection) -> Vec<&'static str> {
    let may = |model: &str| dpc_core::operations::may_read(model, &conn.operations, &conn.scopes);
    let mut readable: HashSet<&'static str> = HashSet::new();
    if may("telephonyCall") {
        readable.insert("call");
    }
    if may("genericContact") {
        readable.insert("contact");
    }
    if may("telephonySms") {
        readable.extend(["sms_inbound", "sms_outbound"]);
    }
    wanted_by(endpoints, &conn.owner_id)
        .into_iter()
        .filter(|k| readable.contains(k))
        .collect()
}

/// The subscription kinds the endpoints want for `owner_id` (disabled endpoints included: a
/// paused endpoint's events are kept for when it is enabled again).
fn wanted_by(endpoints: &[Endpoint], owner_id: &str) -> Vec<&'static str> {
    let mut want: HashSet<&'static str> = HashSet::new();
    for e in endpoints {
        if e.owner_id.as_deref().is_some_and(|o| o != owner_id) {
            continue;
        }
        for t in &e.events {
            if t == "*" {
                want.extend(KINDS);
            } else if t.starts_with("telephonyCall") {
                want.insert("call");
            } else if t.starts_with("genericContact") {
                want.insert("contact");
            } else if t.starts_with("telephonySms") {
                want.extend(["sms_inbound", "sms_outbound"]);
            }
        }
    }
    KINDS.iter().copied().filter(|k| want.contains(k)).collect()
}

/// Dialpad's path segment and create body of a subscription kind.
fn sub_request(kind: &str, endpoint_id: &str) -> Option<(&'static str, Value)> {
    let endpoint: Value = endpoint_id
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(endpoint_id));
    Some(match kind {
        "call" => (
            "call",
            json!({"endpoint_id": endpoint, "enabled": true, "call_states": CALL_STATES}),
        ),
        "contact" => (
            "contact",
            json!({"endpoint_id": endpoint, "enabled": true, "contact_type": "shared"}),
        ),
        "sms_inbound" => (
            "sms",
            json!({"endpoint_id": endpoint, "enabled": true, "direction": "inbound", "status": true}),
        ),
        "sms_outbound" => (
            "sms",
            json!({"endpoint_id": endpoint, "enabled": true, "direction": "outbound", "status": true}),
        ),
        _ => return None,
    })
}

fn segment_of(kind: &str) -> Option<&'static str> {
    sub_request(kind, "0").map(|(s, _)| s)
}

/// Connections whose intake is being ensured on this instance (two rounds for one connection
/// at once would create two webhooks).
#[derive(Default)]
pub struct Busy(parking_lot::Mutex<HashSet<String>>);

struct BusyGuard(Arc<crate::Inner>, String);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.intake_busy.0.lock().remove(&self.1);
    }
}

/// One Dialpad call's bound (retries and rate-limit waits included).
const CALL_DEADLINE: Duration = Duration::from_secs(20);
/// The longest a rate-limit wait may last inside one call.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// The longest a cleanup after a delete may take altogether.
pub const REMOVE_DEADLINE: Duration = Duration::from_secs(30);
/// How often the repair loop looks at every connection, by default.
pub const REPAIR_EVERY: Duration = Duration::from_secs(300);

#[derive(Debug)]
enum CallError {
    NotFound,
    Failed(String),
}

async fn call(
    client: &dialpad::Client,
    method: Method,
    parts: &[&str],
    body: Option<&Value>,
) -> Result<Value, CallError> {
    let mut req = client.request(method, parts).max_wait(MAX_WAIT);
    if let Some(b) = body {
        req = req.json(b).map_err(|e| CallError::Failed(e.to_string()))?;
    }
    match tokio::time::timeout(CALL_DEADLINE, req.send::<Value>()).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if e.is_not_found() => Err(CallError::NotFound),
        Ok(Err(e)) => Err(CallError::Failed(bounded(&e.to_string()))),
        Err(_) => Err(CallError::Failed(format!(
            "Dialpad did not answer within {} s",
            CALL_DEADLINE.as_secs()
        ))),
    }
}

fn bounded(s: &str) -> String {
    s.chars().take(500).collect()
}

fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A new intake with a fresh route token and secret (replacing any the connection had):
/// answers the intake and the token (which the store keeps only hashed).
async fn fresh_intake(
    state: &AppState,
    connection_id: &str,
    mode: IntakeMode,
) -> Result<(Intake, String, SecretString), StoreError> {
    let token = random_hex(32);
    let secret = SecretString::from(random_hex(32));
    state.store.delete_intake(connection_id).await?;
    let intake = state
        .store
        .create_intake(&NewIntake {
            connection_id,
            mode: mode.as_str(),
            route_token: &token,
            secret: &secret,
        })
        .await?;
    Ok((intake, token, secret))
}

/// Spawns [`ensure`] for a connection just authorized: never delays or fails the caller.
pub fn ensure_in_background(state: &AppState, connection_id: &str) {
    let state = state.clone();
    let id = connection_id.to_owned();
    tokio::spawn(async move {
        match state.store.get_connection_by_id(&id).await {
            Ok(Some(conn)) => {
                if let Err(e) = ensure(&state, &conn).await {
                    tracing::warn!(error = %e, connection = %id, "setting up Dialpad events failed");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "loading a connection for its events failed"),
        }
    });
}

/// Makes sure the connection's intake exists and what it needs is registered at Dialpad, when
/// some enabled endpoint wants the connection's events. Dialpad's refusals are recorded on the
/// intake (`failed`, `lastError`); only store failures are errors. Answers the intake as
/// recorded afterwards (None: nothing wanted, not authorized, or already being ensured).
pub async fn ensure(state: &AppState, conn: &Connection) -> Result<Option<Intake>, StoreError> {
    if conn.status != ConnectionStatus::Authorized {
        return Ok(None);
    }
    let endpoints = state.store.subscribed_endpoints().await?;
    let kinds = wanted_kinds(&endpoints, conn);
    if kinds.is_empty() {
        return Ok(None);
    }
    if !state.intake_busy.0.lock().insert(conn.id.clone()) {
        return Ok(None);
    }
    let _guard = BusyGuard(state.0.clone(), conn.id.clone());

    let mode = state.config.events_intake;
    let (intake, mut fresh) = match state.store.get_intake(&conn.id).await? {
        Some(i) => (i, None),
        None => {
            let (i, token, secret) = fresh_intake(state, &conn.id, mode).await?;
            (i, Some((token, secret)))
        }
    };
    let client = match state.connection_client(conn) {
        Ok(cc) => cc.client,
        Err(e) => {
            let remote = IntakeRemote {
                remote_id: intake.remote_id.clone(),
                subscriptions: intake.subscriptions.clone(),
                status: "failed".into(),
                last_error: Some(bounded(&e.message)),
            };
            state.store.set_intake_remote(&conn.id, &remote).await?;
            return state.store.get_intake(&conn.id).await;
        }
    };
    let mut recorded: Vec<RemoteSubscription> =
        serde_json::from_str(&intake.subscriptions).unwrap_or_default();
    let mut errors: Vec<String> = Vec::new();

    // The webhook or websocket.
    let intake_mode = if intake.mode == "websocket" {
        IntakeMode::Websocket
    } else {
        IntakeMode::Webhook
    };
    let collection = match intake_mode {
        IntakeMode::Webhook => "webhooks",
        IntakeMode::Websocket => "websockets",
    };
    let mut remote_id = intake.remote_id.clone();
    if let Some(id) = &remote_id {
        match call(&client, Method::GET, &[collection, id], None).await {
            Ok(_) => {}
            Err(CallError::NotFound) => {
                tracing::info!(connection = %conn.id, "the Dialpad {collection} entry is gone; recreating it");
                remote_id = None;
            }
            Err(CallError::Failed(e)) => errors.push(e),
        }
    }
    if remote_id.is_none() && errors.is_empty() {
        // The subscriptions that pointed at the old endpoint go with it.
        for s in recorded.drain(..) {
            if let Some(seg) = segment_of(&s.kind) {
                let _ = call(
                    &client,
                    Method::DELETE,
                    &["subscriptions", seg, &s.id],
                    None,
                )
                .await;
            }
        }
        // The route token is kept only hashed: a new endpoint gets a new token and secret.
        let (token, secret) = match fresh.take() {
            Some(f) => f,
            None => {
                let (_, t, s) = fresh_intake(state, &conn.id, intake_mode).await?;
                (t, s)
            }
        };
        let body = match intake_mode {
            IntakeMode::Webhook => json!({
                "hook_url": format!("{}/v1/hooks/dialpad/{token}", state.config.public_base()),
                "secret": secrecy::ExposeSecret::expose_secret(&secret),
            }),
            IntakeMode::Websocket => {
                json!({"secret": secrecy::ExposeSecret::expose_secret(&secret)})
            }
        };
        match call(&client, Method::POST, &[collection], Some(&body)).await {
            Ok(v) => match id_of(&v) {
                Some(id) => {
                    remote_id = Some(id);
                    // Recorded at once: a crash below must not leak it.
                    state
                        .store
                        .set_intake_remote(
                            &conn.id,
                            &IntakeRemote {
                                remote_id: remote_id.clone(),
                                subscriptions: "[]".into(),
                                status: "pending".into(),
                                last_error: None,
                            },
                        )
                        .await?;
                }
                None => errors.push(format!(
                    "Dialpad answered no id for the new {collection} entry"
                )),
            },
            Err(CallError::NotFound) => errors.push(format!("Dialpad has no {collection} API")),
            Err(CallError::Failed(e)) => errors.push(e),
        }
    }

    // The subscriptions.
    if let Some(endpoint_id) = remote_id.clone() {
        for &kind in &kinds {
            let Some((seg, body)) = sub_request(kind, &endpoint_id) else {
                continue;
            };
            if let Some(pos) = recorded.iter().position(|s| s.kind == kind) {
                let id = recorded[pos].id.clone();
                match call(&client, Method::GET, &["subscriptions", seg, &id], None).await {
                    Ok(_) => continue,
                    Err(CallError::NotFound) => {
                        tracing::info!(connection = %conn.id, kind, "a Dialpad subscription is gone; recreating it");
                        recorded.remove(pos);
                    }
                    Err(CallError::Failed(e)) => {
                        errors.push(e);
                        continue;
                    }
                }
            }
            match call(&client, Method::POST, &["subscriptions", seg], Some(&body)).await {
                Ok(v) => match id_of(&v) {
                    Some(id) => recorded.push(RemoteSubscription {
                        kind: kind.to_owned(),
                        id,
                    }),
                    None => errors.push(format!(
                        "Dialpad answered no id for the {kind} subscription"
                    )),
                },
                Err(CallError::NotFound) => errors.push(format!(
                    "Dialpad refused the {kind} subscription: not found"
                )),
                Err(CallError::Failed(e)) => errors.push(e),
            }
        }
    }

    // Subscriptions no endpoint wants any more (an endpoint narrowed its events or went away):
    // Dialpad stops sending them. Kept on record when the delete fails, to try again.
    let mut kept = Vec::with_capacity(recorded.len());
    for s in recorded {
        if kinds.contains(&s.kind.as_str()) {
            kept.push(s);
            continue;
        }
        let Some(seg) = segment_of(&s.kind) else {
            continue;
        };
        match call(
            &client,
            Method::DELETE,
            &["subscriptions", seg, &s.id],
            None,
        )
        .await
        {
            Ok(_) | Err(CallError::NotFound) => {
                tracing::info!(connection = %conn.id, kind = %s.kind, "removed a Dialpad subscription no endpoint wants");
            }
            Err(CallError::Failed(e)) => {
                errors.push(e);
                kept.push(s);
            }
        }
    }
    let recorded = kept;

    // One cause (a missing scope, an outage) fails every subscription the same way: say it once.
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.clone()));
    let failed = !errors.is_empty();
    if failed {
        tracing::warn!(connection = %conn.id, error = %errors.join("; "),
            "Dialpad refused part of the event subscriptions; retried on the next repair round");
    }
    let remote = IntakeRemote {
        remote_id,
        subscriptions: serde_json::to_string(&recorded).unwrap_or_else(|_| "[]".into()),
        status: if failed { "failed" } else { "active" }.into(),
        last_error: failed.then(|| bounded(&errors.join("; "))),
    };
    let websocket = (intake_mode == IntakeMode::Websocket)
        .then(|| remote.remote_id.clone())
        .flatten();
    state.store.set_intake_remote(&conn.id, &remote).await?;
    if let Some(id) = websocket {
        super::websocket::supervise(state, &conn.id, &id);
    }
    state.store.get_intake(&conn.id).await
}

/// Deletes the intake's subscriptions, then its webhook or websocket, at Dialpad with
/// `client` (best effort, within [`REMOVE_DEADLINE`]).
pub async fn remove_remote(client: dialpad::Client, intake: Intake) {
    let work = async {
        let subs: Vec<RemoteSubscription> =
            serde_json::from_str(&intake.subscriptions).unwrap_or_default();
        for s in &subs {
            if let Some(seg) = segment_of(&s.kind) {
                if let Err(CallError::Failed(e)) = call(
                    &client,
                    Method::DELETE,
                    &["subscriptions", seg, &s.id],
                    None,
                )
                .await
                {
                    tracing::warn!(error = %e, "deleting a Dialpad subscription failed");
                }
            }
        }
        if let Some(id) = &intake.remote_id {
            let collection = if intake.mode == "websocket" {
                "websockets"
            } else {
                "webhooks"
            };
            if let Err(CallError::Failed(e)) =
                call(&client, Method::DELETE, &[collection, id], None).await
            {
                tracing::warn!(error = %e, "deleting the Dialpad {collection} entry failed");
            }
        }
    };
    if tokio::time::timeout(REMOVE_DEADLINE, work).await.is_err() {
        tracing::warn!(
            connection = %intake.connection_id,
            "removing the deleted connection's Dialpad subscriptions took too long; given up"
        );
    }
}

/// The repair loop: every `events_repair_interval` (default [`REPAIR_EVERY`]), [`ensure`] for every authorized connection whose
/// events some enabled endpoint wants (one at a time: Dialpad's rate limits are per company).
pub async fn repair_periodically(state: AppState) {
    let mut tick = tokio::time::interval(state.config.events_repair_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watch = tokio::time::interval(WATCH_ENDPOINTS_EVERY);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = None;
    loop {
        // What the endpoints wanted when this round was decided (read again only when the
        // round was started by something other than the watch, which has just read it).
        let mut now = None;
        // `notify_one` stores a permit when nobody waits, so a change made during a round
        // starts another round right after it.
        tokio::select! {
            _ = tick.tick() => {}
            () = state.intake_repair.notified() => {
                // Endpoints usually change in bursts (an app setting up): one round for the
                // burst, not one per change.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ = watch.tick() => {
                // Endpoints changed elsewhere (another instance, the CLI) wake no Notify
                // here: what they want is compared instead, one small read every few seconds.
                now = wanted_signature(&state).await;
                if now.is_none() || now == seen {
                    continue;
                }
                // The first reading only starts the comparison (the first tick ran a round).
                if seen.is_none() {
                    seen = now;
                    continue;
                }
            }
        }
        seen = match now {
            Some(n) => Some(n),
            None => wanted_signature(&state).await,
        };
        if let Err(e) = repair_once(&state).await {
            tracing::warn!(error = %e, "repairing Dialpad event subscriptions failed");
        }
    }
}

/// Removes the connection's webhook or websocket and subscriptions at Dialpad (best effort,
/// bounded) and its intake here, when no enabled endpoint wants its events any more. Checked
/// again under the connection's busy mark, so an endpoint created meanwhile keeps it.
async fn retire(state: &AppState, conn: &Connection) -> Result<(), StoreError> {
    if !state.intake_busy.0.lock().insert(conn.id.clone()) {
        return Ok(());
    }
    let _guard = BusyGuard(state.0.clone(), conn.id.clone());
    let endpoints = state.store.subscribed_endpoints().await?;
    if !wanted_kinds(&endpoints, conn).is_empty() {
        return Ok(());
    }
    let Some(intake) = state.store.get_intake(&conn.id).await? else {
        return Ok(());
    };
    // Forgotten first: an event still in flight then finds no intake (401 at the hook) rather
    // than a half-removed one; what Dialpad holds is removed right after.
    state.store.delete_intake(&conn.id).await?;
    state.ws_supervisors.stop(&conn.id);
    tracing::info!(connection = %conn.id, "no endpoint wants this connection's events: removing its Dialpad subscriptions");
    if let Ok(cc) = state.connection_client(conn) {
        remove_remote(cc.client, intake).await;
    }
    Ok(())
}

/// How often the repair loop compares what the enabled endpoints want with its last round.
const WATCH_ENDPOINTS_EVERY: Duration = Duration::from_secs(5);

/// What the enabled endpoints want (events and owner filters), sorted; None when the store
/// could not be read.
async fn wanted_signature(state: &AppState) -> Option<Vec<(Vec<String>, Option<String>)>> {
    let endpoints = state.store.subscribed_endpoints().await.ok()?;
    let mut v: Vec<_> = endpoints
        .into_iter()
        .map(|e| (e.events, e.owner_id))
        .collect();
    v.sort();
    Some(v)
}

/// One repair round over every connection: what is wanted is ensured; an intake whose events
/// no enabled endpoint wants any more is removed at Dialpad and forgotten ([`retire`]).
pub async fn repair_once(state: &AppState) -> Result<(), StoreError> {
    let endpoints = state.store.subscribed_endpoints().await?;
    let with_intake: HashSet<String> = state
        .store
        .list_intakes()
        .await?
        .into_iter()
        .map(|i| i.connection_id)
        .collect();
    if endpoints.is_empty() && with_intake.is_empty() {
        return Ok(());
    }
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = state
            .store
            .list_connections(None, cursor.as_deref(), 100)
            .await?;
        for conn in page {
            let wanted = !wanted_kinds(&endpoints, &conn).is_empty();
            let result = if wanted && conn.status == ConnectionStatus::Authorized {
                ensure(state, &conn).await.map(|_| ())
            } else if !wanted && with_intake.contains(&conn.id) {
                retire(state, &conn).await
            } else {
                Ok(())
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, connection = %conn.id, "repairing Dialpad events failed");
            }
        }
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok(()),
        }
    }
}

// ------------------------------------------------------------------------------------------
// GET /v1/connections/{connectorId}/{ownerId}/events-intake

/// Where a connection's Dialpad events arrive and what is registered at Dialpad for them (the
/// route token and the signing secret are never answered).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventsIntakeObject {
    /// Always `eventsIntake`.
    pub object: &'static str,
    /// `none` (nothing set up: no enabled endpoint wants this connection's events yet),
    /// `pending`, `active` or `failed`.
    pub status: String,
    /// `webhook` or `websocket`.
    pub mode: String,
    /// Dialpad's webhook or websocket id.
    pub remote_id: Option<String>,
    /// The subscriptions created at Dialpad.
    pub subscriptions: Vec<RemoteSubscription>,
    /// Dialpad's message when it refused something.
    pub last_error: Option<String>,
    /// When the subscriptions were last checked at Dialpad.
    pub checked_at: Option<String>,
    /// The connection's own poll interval for users and workspaces (ms; null: the configured
    /// default, `pollDefaultIntervalMs`). Set with `PATCH` on this route.
    pub poll_interval_ms: Option<u64>,
    /// The configured default poll interval (ms).
    pub poll_default_interval_ms: u64,
    /// Change detection by polling, per model (`genericUser`, `genericWorkspace`): listed once
    /// the connection is authorized; no events until an enabled endpoint wants the model's
    /// events and a first poll has taken the baseline.
    pub polls: Vec<PollObject>,
}

/// Where one model's polling stands for a connection.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollObject {
    /// `genericUser` or `genericWorkspace`.
    pub model: String,
    /// The interval in force (ms).
    pub interval_ms: u64,
    pub next_poll_at: String,
    pub last_polled_at: Option<String>,
    /// When the snapshot the diffs compare with was first taken (null: the next poll takes it,
    /// emitting nothing).
    pub baselined_at: Option<String>,
    /// Why the last poll failed (Dialpad's answer, a missing permission), cleared by a success.
    pub last_error: Option<String>,
    /// Records in the snapshot.
    pub records: u64,
}

/// `PATCH …/events-intake`: the connection's poll interval.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventsIntakeUpdate {
    /// Milliseconds between polls of this connection's users and workspaces, 1000 to 86400000;
    /// `null` goes back to the configured default. Required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, required)]
    pub poll_interval_ms: Option<Option<u64>>,
}

/// `Some(None)` for an explicit `null`, `None` (by `default`) when the field is absent.
fn present<'de, D>(d: D) -> Result<Option<Option<u64>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<u64>::deserialize(d).map(Some)
}

/// The intake part of the object (the polls are added by the routes, which read them).
pub fn intake_json(intake: Option<&Intake>, mode: IntakeMode) -> EventsIntakeObject {
    match intake {
        Some(i) => EventsIntakeObject {
            object: "eventsIntake",
            status: i.status.clone(),
            mode: i.mode.clone(),
            remote_id: i.remote_id.clone(),
            subscriptions: serde_json::from_str(&i.subscriptions).unwrap_or_default(),
            last_error: i.last_error.clone(),
            checked_at: i.checked_at.map(iso_ms),
            poll_interval_ms: None,
            poll_default_interval_ms: 0,
            polls: Vec::new(),
        },
        None => EventsIntakeObject {
            object: "eventsIntake",
            status: "none".into(),
            mode: mode.as_str().into(),
            remote_id: None,
            subscriptions: Vec::new(),
            last_error: None,
            checked_at: None,
            poll_interval_ms: None,
            poll_default_interval_ms: 0,
            polls: Vec::new(),
        },
    }
}

/// The intake object with the connection's polls.
async fn intake_with_polls(state: &AppState, conn: &Connection) -> ApiResult<EventsIntakeObject> {
    let intake = state.store.get_intake(&conn.id).await?;
    let mut out = intake_json(intake.as_ref(), state.config.events_intake);
    let in_force = |own: Option<i64>| {
        u64::try_from(crate::intake::poll::interval_ms(&state.config, own)).unwrap_or(0)
    };
    out.poll_default_interval_ms = in_force(None);
    let polls = state.store.poll_status(&conn.id).await?;
    out.poll_interval_ms = polls
        .iter()
        .find_map(|p| p.interval_ms)
        .and_then(|ms| u64::try_from(ms).ok());
    out.polls = polls
        .into_iter()
        .map(|p| PollObject {
            model: p.model,
            interval_ms: in_force(p.interval_ms),
            next_poll_at: iso_ms(p.next_poll_at),
            last_polled_at: p.last_polled_at.map(iso_ms),
            baselined_at: p.baselined_at.map(iso_ms),
            last_error: p.last_error,
            records: p.records,
        })
        .collect();
    Ok(out)
}

pub async fn get_route(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EventsIntakeObject>> {
    let conn = crate::connections::load(&state, &connector_id, &owner_id).await?;
    Ok(Json(intake_with_polls(&state, &conn).await?))
}

/// The poll intervals accepted per connection (ms).
const POLL_INTERVAL_MS: std::ops::RangeInclusive<u64> = 1000..=86_400_000;

pub async fn patch_route(
    State(state): State<AppState>,
    _key: ApiKeyAuth,
    ApiPath((connector_id, owner_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<EventsIntakeUpdate>,
) -> ApiResult<Json<EventsIntakeObject>> {
    let conn = crate::connections::load(&state, &connector_id, &owner_id).await?;
    let Some(interval) = body.poll_interval_ms else {
        return Err(crate::error::ApiError::invalid(
            "`pollIntervalMs` is required (null goes back to the default)",
        ));
    };
    if let Some(ms) = interval {
        if !POLL_INTERVAL_MS.contains(&ms) {
            return Err(crate::error::ApiError::of(
                dpc_core::ErrorCode::ResourceValidationFailed,
                format!(
                    "pollIntervalMs: must be between {} and {} (ms), got {ms}",
                    POLL_INTERVAL_MS.start(),
                    POLL_INTERVAL_MS.end()
                ),
            )
            .with_details(
                json!({"errors": [{"field": "pollIntervalMs", "message": "out of range"}]}),
            ));
        }
    }
    // In range (checked above), so it fits.
    let own = interval.map(|ms| ms as i64);
    state
        .store
        .set_poll_interval(
            &conn.id,
            &crate::intake::poll::model_names(),
            own,
            crate::intake::poll::interval_ms(&state.config, own),
        )
        .await?;
    Ok(Json(intake_with_polls(&state, &conn).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(events: &[&str], owner: Option<&str>, disabled: bool) -> Endpoint {
        Endpoint {
            id: "we_1".into(),
            url: "https://app.example/hook".into(),
            events: events.iter().map(|s| s.to_string()).collect(),
            owner_id: owner.map(str::to_owned),
            description: None,
            disabled,
            disabled_reason: None,
            failing_since: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn wanted_kinds_follow_the_endpoints_of_the_owner() {
        assert_eq!(
            wanted_by(&[endpoint(&["*"], None, false)], "o"),
            vec!["call", "contact", "sms_inbound", "sms_outbound"]
        );
        // A paused endpoint still wants its events (they wait for it).
        assert_eq!(wanted_by(&[endpoint(&["*"], None, true)], "o").len(), 4);
        assert!(wanted_by(&[endpoint(&["*"], Some("other"), false)], "o").is_empty());
        assert_eq!(
            wanted_by(
                &[endpoint(
                    &["telephonyCallTranscript::created"],
                    Some("o"),
                    false
                )],
                "o"
            ),
            vec!["call"]
        );
        assert_eq!(
            wanted_by(
                &[
                    endpoint(&["telephonySms::received"], None, false),
                    endpoint(&["genericContact::deleted"], None, false)
                ],
                "o"
            ),
            vec!["contact", "sms_inbound", "sms_outbound"]
        );
    }

    #[test]
    fn wanted_kinds_are_only_those_the_connection_may_read() {
        let conn = |ops: &[&str]| Connection {
            id: "c".into(),
            connector_id: "dialpad".into(),
            owner_id: "o".into(),
            operations: ops.iter().map(|s| (*s).to_owned()).collect(),
            // What authorizing these operations asked for.
            scopes: dpc_core::operations::scopes_for(
                &ops.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            )
            .into_iter()
            .collect(),
            missing_scopes: Vec::new(),
            status: ConnectionStatus::Authorized,
            dialpad_user_id: None,
            dialpad_company_id: None,
            credentials_version: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let all = [endpoint(&["*"], None, false)];
        assert!(wanted_kinds(&all, &conn(&["genericUser::list"])).is_empty());
        assert_eq!(
            wanted_kinds(&all, &conn(&["telephonyCall::list", "genericUser::list"])),
            vec!["call"]
        );
        assert_eq!(
            wanted_kinds(
                &all,
                &conn(&[
                    "telephonyCall::list",
                    "genericContact::list",
                    "action::sendSms"
                ])
            ),
            vec!["call", "contact", "sms_inbound", "sms_outbound"]
        );
    }

    #[test]
    fn subscribed_call_states_are_the_spec_s() {
        let spec = [
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
        assert!(CALL_STATES.iter().all(|s| spec.contains(s)));
    }
}
