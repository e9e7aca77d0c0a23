//! Events: the app's webhook endpoints, each connection's Dialpad event intake, raw Dialpad
//! events, the unified events made from them, and the outbox of deliveries.
//!
//! The outbox is the store's job so that nothing waits in memory: the hook stores a raw event
//! and answers; a worker claims raw events and turns each into unified events and their
//! deliveries in one transaction (so an event is normalized once, or not at all); delivery
//! workers claim due deliveries under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! instances share the work; one writer on SQLite), and settle each with its attempt. A worker
//! killed mid-delivery leaves a lease that runs out, and the delivery is claimed again: at least
//! once, with the same event id.
//!
//! Per resource and endpoint (`order_key`) only the earliest unsettled delivery is claimable, so
//! an update never overtakes its create; a delivery given up on (`failed`) no longer holds the
//! ones after it.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::crypto::{Cipher, Sealed};
use crate::{Result, StoreError};

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// Epoch milliseconds: the outbox's clock (due times and leases compare as numbers).
pub type Millis = i64;

pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

// ------------------------------------------------------------------------------------------
// Endpoints

/// An app's webhook endpoint (its secrets are read with [`EventStore::endpoint_secrets`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
    pub owner_id: Option<String>,
    pub description: Option<String>,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed (None while healthy).
    pub failing_since: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Endpoint {
    /// Whether this endpoint wants `event_type` of `owner_id` (paused or not: a disabled
    /// endpoint's events wait for it).
    pub fn wants(&self, event_type: &str, owner_id: &str) -> bool {
        self.owner_id.as_deref().is_none_or(|o| o == owner_id)
            && self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

#[derive(Clone, Debug, Default)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub owner_id: Option<String>,
    pub description: Option<String>,
    pub disabled: bool,
}

/// A partial change; `None` leaves the column as it is, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub owner_id: Option<Option<String>>,
    pub description: Option<Option<String>>,
    /// Enabling also clears the disabled reason and the failing run.
    pub disabled: Option<bool>,
}

/// The secrets an endpoint's deliveries are signed with: the current one and, for 24 h after a
/// rotation, the one before (Standard Webhooks allows several `v1,` signatures).
pub struct EndpointSecrets {
    pub current: SecretString,
    pub previous: Option<SecretString>,
}

impl std::fmt::Debug for EndpointSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointSecrets")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

// ------------------------------------------------------------------------------------------
// Intake

/// Where one connection's Dialpad events arrive, and what is registered at Dialpad for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Intake {
    pub connection_id: String,
    /// `webhook` or `websocket`.
    pub mode: String,
    /// Dialpad's webhook or websocket id, once created.
    pub remote_id: Option<String>,
    /// JSON list of `{kind, id}`: the subscriptions created at Dialpad.
    pub subscriptions: String,
    /// `pending`, `active` or `failed`.
    pub status: String,
    pub last_error: Option<String>,
    pub checked_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A new intake: `route_token` goes in the hook URL (only its hash is kept), `secret` is the JWT
/// secret Dialpad signs with (sealed).
pub struct NewIntake<'a> {
    pub connection_id: &'a str,
    pub mode: &'a str,
    pub route_token: &'a str,
    pub secret: &'a SecretString,
}

/// What the hook needs to verify an event: whose it is and the secret.
#[derive(Clone)]
pub struct IntakeSecret {
    pub connection_id: String,
    pub secret: SecretString,
}

impl std::fmt::Debug for IntakeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeSecret")
            .field("connection_id", &self.connection_id)
            .finish_non_exhaustive()
    }
}

/// What was registered at Dialpad (written after the calls, never during them).
#[derive(Clone, Debug, Default)]
pub struct IntakeRemote {
    pub remote_id: Option<String>,
    pub subscriptions: String,
    pub status: String,
    pub last_error: Option<String>,
}

// ------------------------------------------------------------------------------------------
// Inbound events

/// A verified Dialpad event to store.
#[derive(Clone, Debug)]
pub struct NewInbound<'a> {
    pub connection_id: &'a str,
    pub dedup_key: &'a str,
    pub kind: &'a str,
    /// The JWT's claims, as JSON text.
    pub payload: &'a str,
    /// For a key made from the content (a contact event, which has no time): the resource it
    /// belongs to, so that [`EventStore::latest_inbound_key`] finds the latest one.
    pub chain: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundOutcome {
    Stored(String),
    /// The same event (by its idempotency key) was stored before.
    Duplicate,
}

#[derive(Clone, Debug)]
pub struct InboundEvent {
    pub id: String,
    pub connection_id: String,
    pub kind: String,
    pub payload: String,
    pub received_at: Millis,
    pub attempts: i64,
}

// ------------------------------------------------------------------------------------------
// Unified events and the outbox

/// A unified event to publish: stored with its body, and a delivery made for every endpoint
/// that wants it.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: String,
    pub event_type: String,
    pub connector_id: String,
    pub owner_id: String,
    pub model: String,
    pub resource_id: String,
    pub source: String,
    /// The webhook body, exactly as it will be sent.
    pub body: String,
    pub occurred_at: Millis,
}

impl NewEvent {
    /// A fresh event id (`evt_…`), which is also its `webhook-id`.
    pub fn new_id() -> String {
        crate::common::ordered_id("evt")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub id: String,
    pub event_type: String,
    pub connector_id: String,
    pub owner_id: String,
    pub model: String,
    pub resource_id: String,
    pub source: String,
    pub body: String,
    pub occurred_at: Millis,
    pub created_at: Millis,
    /// `pending` (a delivery is still to be made), `delivered` (all made), `failed` (one was
    /// given up on) or `none` (no endpoint wanted it).
    pub status: String,
}

#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub owner_id: Option<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub status: Option<String>,
}

/// A delivery claimed by a worker: everything needed to send it, without another read.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub body: String,
    pub connector_id: String,
    pub owner_id: String,
    pub created_at: Millis,
    /// This attempt's number (1 for the first).
    pub attempt: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Millis>,
}

/// One attempt, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub attempt: i64,
    pub attempted_at: Millis,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response: Option<String>,
}

/// What an attempt found.
#[derive(Clone, Debug, Default)]
pub struct AttemptResult {
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// The answer's first bytes (the caller bounds them).
    pub response: Option<String>,
}

/// What happens to the delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    Delivered,
    RetryAt(Millis),
    /// Given up on (the dead-letter state; replay makes it pending again).
    Failed,
}

/// The outbox's state for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Deliveries not yet settled, to enabled endpoints (a disabled endpoint's are kept for
    /// when it is enabled again, and would otherwise age the gauge forever).
    pub pending: u64,
    /// How long the oldest due delivery to an enabled endpoint has been waiting (ms), 0 when
    /// none is due.
    pub oldest_due_age_ms: i64,
    pub inbound_pending: u64,
    pub failed: u64,
}

/// A page of a list: the items and the cursor of the next page.
pub type Page<T> = (Vec<T>, Option<String>);

// ------------------------------------------------------------------------------------------
// Change detection by polling

/// One connection's poll of one model, held by one worker until finished (or its lease ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollClaim {
    pub connection_id: String,
    pub model: String,
    /// The connection's own interval (None: the configured default).
    pub interval_ms: Option<Millis>,
    /// Whether a snapshot was taken before: the first poll only takes one, emitting nothing.
    pub baselined: bool,
}

/// A record as a finished poll saw it, for the snapshot.
#[derive(Clone, Debug)]
pub struct SnapshotChange {
    pub resource_id: String,
    /// None: the record is gone (its snapshot row is deleted).
    pub seen: Option<SnapshotRecord>,
}

#[derive(Clone, Debug)]
pub struct SnapshotRecord {
    pub fingerprint: String,
    /// The resource as sent (a later deleted event carries it).
    pub body: String,
}

/// Where a connection's poll of a model stands (`GET …/events-intake`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollStatus {
    pub model: String,
    pub interval_ms: Option<Millis>,
    pub next_poll_at: Millis,
    pub last_polled_at: Option<Millis>,
    pub baselined_at: Option<Millis>,
    pub last_error: Option<String>,
    /// Records in the snapshot.
    pub records: u64,
}

#[async_trait]
pub trait EventStore: Send + Sync {
    // --- endpoints
    /// Creates an endpoint signed with `secret`.
    async fn create_endpoint(&self, new: &NewEndpoint, secret: &SecretString) -> Result<Endpoint>;
    async fn get_endpoint(&self, id: &str) -> Result<Option<Endpoint>>;
    async fn list_endpoints(&self, cursor: Option<&str>, limit: u32) -> Result<Page<Endpoint>>;
    /// How many endpoints exist, enabled or not (the cap on creating more reads it).
    async fn count_endpoints(&self) -> Result<u64>;
    /// Every endpoint, paused (disabled) ones included: what publishing matches events against
    /// and what the Dialpad subscriptions and polls are kept for. A paused endpoint's
    /// deliveries wait (claims skip it) until it is enabled again.
    async fn subscribed_endpoints(&self) -> Result<Vec<Endpoint>>;
    /// `NotFound` when there is no such endpoint.
    async fn update_endpoint(&self, id: &str, patch: &EndpointPatch) -> Result<Endpoint>;
    /// Whether there was one. Its deliveries and attempts go with it.
    async fn delete_endpoint(&self, id: &str) -> Result<bool>;
    /// Replaces the secret; the old one keeps signing until `previous_until`.
    async fn rotate_endpoint_secret(
        &self,
        id: &str,
        secret: &SecretString,
        previous_until: Millis,
    ) -> Result<()>;
    /// The secrets deliveries are signed with now (the previous one only until its time).
    async fn endpoint_secrets(&self, id: &str) -> Result<Option<EndpointSecrets>>;
    /// Disables the endpoint with a reason (a 410, or failing too long). Its events are kept.
    async fn disable_endpoint(&self, id: &str, reason: &str) -> Result<()>;
    /// Records whether the endpoint is failing: sets `failing_since` to `at` if unset
    /// (`Some`), or clears it (`None`). Answers the failing run's start.
    async fn mark_endpoint_failing(&self, id: &str, at: Option<Millis>) -> Result<Option<Millis>>;

    // --- intake
    /// `Conflict` if the connection has one.
    async fn create_intake(&self, new: &NewIntake<'_>) -> Result<Intake>;
    async fn get_intake(&self, connection_id: &str) -> Result<Option<Intake>>;
    async fn list_intakes(&self) -> Result<Vec<Intake>>;
    /// The connection and secret of the route token presented at the hook.
    async fn intake_by_route(&self, route_token: &str) -> Result<Option<IntakeSecret>>;
    /// The JWT secret of the connection's intake.
    async fn intake_secret(&self, connection_id: &str) -> Result<Option<SecretString>>;
    /// Records what is registered at Dialpad now.
    async fn set_intake_remote(&self, connection_id: &str, remote: &IntakeRemote) -> Result<()>;
    async fn delete_intake(&self, connection_id: &str) -> Result<bool>;

    // --- inbound
    /// Stores verified raw events (one transaction: the hook batches concurrent requests),
    /// each `Duplicate` when its idempotency key was seen on its connection.
    async fn insert_inbound(&self, events: &[NewInbound<'_>]) -> Result<Vec<InboundOutcome>>;
    /// The idempotency key of the latest raw event of `connection_id` stored with this `chain`
    /// (see [`NewInbound::chain`]), if any is kept.
    async fn latest_inbound_key(&self, connection_id: &str, chain: &str) -> Result<Option<String>>;
    /// Claims up to `limit` pending raw events (oldest first) for `lease_ms` as `worker`,
    /// skipping connections whose events another worker holds: one connection's events are
    /// normalized by one worker at a time, in order (a call's first state creates it).
    async fn claim_inbound(
        &self,
        worker: &str,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<InboundEvent>>;
    /// Settles raw events: each one's unified events are published (stored with their
    /// deliveries) in the same transaction that marks it done, so a raw event is normalized
    /// once or not at all. Answers how many deliveries were made.
    /// Raw events `worker` no longer holds (its lease ran out and another claimed them) are
    /// left alone, their events not published.
    async fn finish_inbound(&self, worker: &str, done: &[(String, Vec<NewEvent>)]) -> Result<u64>;
    /// Records that a raw event could not be normalized; after `give_up` attempts it is
    /// `failed`, else it is pending again.
    async fn fail_inbound(&self, worker: &str, id: &str, error: &str, give_up: bool) -> Result<()>;
    /// Keeps one part of a call's AI recap (`part`: `summary`, `actionItems`, `purposes` or
    /// `outcome`; `body`: the part as JSON), replacing an earlier one of the same part.
    async fn put_recap_part(
        &self,
        connection_id: &str,
        call_id: &str,
        part: &str,
        body: &str,
        at: Millis,
    ) -> Result<()>;
    /// The recap parts kept for a call (their JSON bodies), in part order.
    async fn recap_parts(&self, connection_id: &str, call_id: &str) -> Result<Vec<String>>;
    /// Which of these resources an event was published about before (a call's first state
    /// creates it; later ones update it): one statement for a batch of raw events.
    async fn resources_seen(
        &self,
        connector_id: &str,
        owner_id: &str,
        model: &str,
        resource_ids: &[String],
    ) -> Result<Vec<String>>;

    // --- unified events and the outbox
    /// Publishes events not made from a raw one (polling, tests): stored with their
    /// deliveries. Answers how many deliveries were made.
    async fn publish_events(&self, events: &[NewEvent]) -> Result<u64>;
    /// Claims up to `limit` due deliveries for `lease_ms`, at most `per_endpoint` of them per
    /// endpoint (counting those already in flight), the earliest of each resource only.
    async fn claim_deliveries(
        &self,
        limit: u32,
        per_endpoint: u32,
        lease_ms: i64,
    ) -> Result<Vec<DueDelivery>>;
    /// Records attempts and settles their deliveries (one transaction). A settlement for a
    /// delivery no longer in flight under that attempt number (its lease ran out and another
    /// worker claimed it) records the attempt but leaves the delivery alone.
    async fn settle_deliveries(&self, done: &[Settlement]) -> Result<()>;
    /// When the worker should look again, if anything is pending: the earliest due time or
    /// lease end. A lower bound: a delivery held back (behind an earlier one of its resource,
    /// its endpoint paused or at its limit) counts as due now.
    async fn next_due(&self) -> Result<Option<Millis>>;
    async fn list_events(
        &self,
        filter: &EventFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<EventRecord>>;
    async fn get_event(&self, id: &str) -> Result<Option<EventRecord>>;
    async fn event_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>>;
    async fn list_attempts(
        &self,
        endpoint_id: Option<&str>,
        event_id: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Attempt>>;
    /// Makes the event's deliveries due now (those given up on, and delivered ones too: a
    /// replay is a resend), and adds deliveries for enabled endpoints that want it now and had
    /// none. Answers how many were scheduled; `NotFound` for an unknown event.
    async fn replay_event(&self, event_id: &str) -> Result<u64>;
    /// Makes the endpoint's failed deliveries of events since `since` due now.
    async fn replay_endpoint(&self, endpoint_id: &str, since: Millis) -> Result<u64>;
    async fn outbox_stats(&self) -> Result<OutboxStats>;
    /// Deletes events (with their deliveries and attempts) created before `before`, and settled
    /// raw events received before it.
    async fn purge_events(&self, before: Millis) -> Result<u64>;

    // --- change detection by polling
    /// Claims up to `limit` due polls of `models` for `lease_ms` (first, with `add_missing`,
    /// adding the poll rows, due now, of authorized connections that have none). A poll held by a live lease elsewhere
    /// is skipped, so one connection is polled by one instance at a time.
    async fn claim_polls(
        &self,
        worker: &str,
        models: &[&str],
        limit: u32,
        lease_ms: i64,
        add_missing: bool,
    ) -> Result<Vec<PollClaim>>;
    /// The snapshot's (resource id, fingerprint) pairs.
    async fn poll_snapshot(
        &self,
        connection_id: &str,
        model: &str,
    ) -> Result<Vec<(String, String)>>;
    /// The snapshot's bodies of `ids` (resources as last sent), as (id, body).
    async fn snapshot_bodies(
        &self,
        connection_id: &str,
        model: &str,
        ids: &[String],
    ) -> Result<Vec<(String, String)>>;
    /// Ends a poll `worker` still holds, in one transaction: the snapshot changes written, the
    /// events published with their deliveries, the baseline marked taken and the next poll set
    /// at `next_at`. Answers false (and writes nothing) when the lease was lost meanwhile.
    async fn finish_poll(
        &self,
        worker: &str,
        claim: &PollClaim,
        changes: &[SnapshotChange],
        events: &[NewEvent],
        next_at: Millis,
    ) -> Result<bool>;
    /// Ends a poll that failed: the error kept, the next try at `next_at`, the snapshot as it was.
    async fn fail_poll(
        &self,
        worker: &str,
        claim: &PollClaim,
        error: &str,
        next_at: Millis,
    ) -> Result<()>;
    /// Ends a poll nobody wants any more: the snapshot dropped and the baseline forgotten (a
    /// later wanted poll starts from a fresh one rather than reporting stale changes).
    async fn forget_poll(&self, worker: &str, claim: &PollClaim, next_at: Millis) -> Result<()>;
    /// Sets a connection's poll interval for every polled model (None: the default), where
    /// `effective_ms` is the interval that is then in force: a poll due later than that after
    /// the last one is brought forward.
    async fn set_poll_interval(
        &self,
        connection_id: &str,
        models: &[&str],
        interval_ms: Option<Millis>,
        effective_ms: Millis,
    ) -> Result<()>;
    async fn poll_status(&self, connection_id: &str) -> Result<Vec<PollStatus>>;
}

// ------------------------------------------------------------------------------------------
// Shared by both backends

/// Sealed values live in one column: key id length (1 byte), key id, nonce, ciphertext.
pub(crate) fn sealed_to_bytes(s: &Sealed) -> Vec<u8> {
    let id = s.key_id.as_bytes();
    let mut out = Vec::with_capacity(1 + id.len() + s.nonce.len() + s.ciphertext.len());
    out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&id[..id.len().min(255)]);
    out.extend_from_slice(&s.nonce);
    out.extend_from_slice(&s.ciphertext);
    out
}

pub(crate) fn sealed_from_bytes(b: &[u8], what: &str) -> Result<Sealed> {
    let bad = || StoreError::Crypto(format!("{what} (bad framing)"));
    let (&n, rest) = b.split_first().ok_or_else(bad)?;
    let n = usize::from(n);
    if rest.len() < n + crate::crypto::NONCE_LEN {
        return Err(bad());
    }
    let key_id = std::str::from_utf8(&rest[..n])
        .map_err(|_| bad())?
        .to_owned();
    let (nonce, ciphertext) = rest[n..].split_at(crate::crypto::NONCE_LEN);
    Ok(Sealed {
        key_id,
        nonce: nonce.to_vec(),
        ciphertext: ciphertext.to_vec(),
    })
}

fn endpoint_aad(id: &str, which: &str) -> Vec<u8> {
    format!("dpc/webhook_endpoints/{id}/{which}").into_bytes()
}

fn intake_aad(connection_id: &str) -> Vec<u8> {
    format!("dpc/event_intakes/{connection_id}/secret").into_bytes()
}

pub(crate) fn seal_endpoint_secret(
    cipher: &Cipher,
    id: &str,
    which: &str,
    secret: &SecretString,
) -> Result<Vec<u8>> {
    let s = cipher.seal(secret.expose_secret().as_bytes(), &endpoint_aad(id, which))?;
    Ok(sealed_to_bytes(&s))
}

/// The previous secret is sealed for the `previous` slot; rotation moves a value from one slot
/// to the other, so it is opened and sealed again.
pub(crate) fn open_endpoint_secret(
    cipher: &Cipher,
    id: &str,
    which: &str,
    b: &[u8],
) -> Result<SecretString> {
    let what = "webhook endpoint secret";
    let s = sealed_from_bytes(b, what)?;
    let plain = cipher.open(&s, &endpoint_aad(id, which), what)?;
    String::from_utf8(plain)
        .map(SecretString::from)
        .map_err(|_| StoreError::Crypto(format!("{what} (bad content)")))
}

pub(crate) fn seal_intake_secret(
    cipher: &Cipher,
    connection_id: &str,
    secret: &SecretString,
) -> Result<Vec<u8>> {
    let s = cipher.seal(
        secret.expose_secret().as_bytes(),
        &intake_aad(connection_id),
    )?;
    Ok(sealed_to_bytes(&s))
}

pub(crate) fn open_intake_secret(
    cipher: &Cipher,
    connection_id: &str,
    b: &[u8],
) -> Result<SecretString> {
    let what = "event intake secret";
    let s = sealed_from_bytes(b, what)?;
    let plain = cipher.open(&s, &intake_aad(connection_id), what)?;
    String::from_utf8(plain)
        .map(SecretString::from)
        .map_err(|_| StoreError::Crypto(format!("{what} (bad content)")))
}

/// The outbox's ordering key: one resource's events to one endpoint.
pub(crate) fn order_key(endpoint_id: &str, e: &NewEvent) -> String {
    format!("{endpoint_id}|{}|{}|{}", e.owner_id, e.model, e.resource_id)
}

/// Cursors of the event lists: the row's sequence number, base64url-wrapped (opaque).
pub(crate) fn encode_cursor(seq: i64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("e{seq}"))
}

/// A malformed cursor is `NotFound` (it points nowhere), as for connections.
pub(crate) fn decode_cursor(c: Option<&str>) -> Result<i64> {
    use base64::Engine as _;
    let Some(c) = c else { return Ok(0) };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix('e').and_then(|n| n.parse().ok()))
        .ok_or(StoreError::NotFound)
}

pub(crate) fn clamp_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, 1000))
}

/// Cuts rows fetched with `limit + 1` into the page and its next cursor.
pub(crate) fn page_of<T>(mut rows: Vec<(i64, T)>, limit: i64) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = match (more, rows.last()) {
        (true, Some((seq, _))) => Some(encode_cursor(*seq)),
        _ => None,
    };
    (rows.into_iter().map(|(_, t)| t).collect(), next)
}

/// An event's overall status from its deliveries' statuses.
pub(crate) fn event_status(statuses: &[String]) -> String {
    if statuses.is_empty() {
        "none"
    } else if statuses.iter().any(|s| s == "pending" || s == "delivering") {
        "pending"
    } else if statuses.iter().any(|s| s == "failed") {
        "failed"
    } else {
        "delivered"
    }
    .to_owned()
}

/// The SQL condition on `events` (alias `e`) for an event status filter, over its deliveries.
pub(crate) fn status_condition(status: &str) -> Option<&'static str> {
    Some(match status {
        "pending" => "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status IN ('pending', 'delivering'))",
        "failed" => "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'failed') AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status IN ('pending', 'delivering'))",
        "delivered" => "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status <> 'delivered')",
        "none" => "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)",
        _ => return None,
    })
}

pub(crate) fn parse_events(s: &str) -> Result<Vec<String>> {
    crate::common::list_from_json(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_framing_round_trips_and_refuses_garbage() {
        let cipher = Cipher::new([7u8; 32], &[]);
        let secret = SecretString::from("whsec_abc".to_owned());
        let b = seal_endpoint_secret(&cipher, "ep_1", "current", &secret).unwrap();
        let back = open_endpoint_secret(&cipher, "ep_1", "current", &b).unwrap();
        assert_eq!(back.expose_secret(), "whsec_abc");
        assert!(open_endpoint_secret(&cipher, "ep_2", "current", &b).is_err());
        assert!(open_endpoint_secret(&cipher, "ep_1", "previous", &b).is_err());
        assert!(sealed_from_bytes(&[], "x").is_err());
        assert!(sealed_from_bytes(&[200, 1, 2], "x").is_err());
    }

    #[test]
    fn endpoints_match_types_owners_and_wildcards() {
        let mut e = Endpoint {
            id: "ep".into(),
            url: "http://x".into(),
            events: vec!["telephonyCall::created".into()],
            owner_id: None,
            description: None,
            disabled: false,
            disabled_reason: None,
            failing_since: None,
            created_at: 0,
            updated_at: 0,
        };
        assert!(e.wants("telephonyCall::created", "o1"));
        assert!(!e.wants("telephonyCall::updated", "o1"));
        e.owner_id = Some("o2".into());
        assert!(!e.wants("telephonyCall::created", "o1"));
        e.events = vec!["*".into()];
        assert!(e.wants("genericContact::deleted", "o2"));
        e.disabled = true;
        assert!(
            e.wants("genericContact::deleted", "o2"),
            "a paused endpoint keeps its events"
        );
    }

    #[test]
    fn event_status_from_deliveries() {
        let s = |v: &[&str]| event_status(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&[]), "none");
        assert_eq!(s(&["delivered", "pending"]), "pending");
        assert_eq!(s(&["delivered", "failed"]), "failed");
        assert_eq!(s(&["delivered"]), "delivered");
    }
}

// ------------------------------------------------------------------------------------------
// Rows, the same for both backends (only the SQL differs)

#[derive(sqlx::FromRow)]
pub(crate) struct EndpointRow {
    pub seq: i64,
    pub id: String,
    pub url: String,
    pub events: String,
    pub owner_id: Option<String>,
    pub description: Option<String>,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Events (and raw events) deleted per transaction by the retention purge.
pub(crate) const PURGE_SLICE: i64 = 5_000;

/// Runs `slice` (one transaction deleting up to `PURGE_SLICE` events and as many raw events,
/// answering both counts) until neither was full; answers the events deleted. In slices: a
/// month of events deleted at once would hold the writer (and, on SQLite, every hook and
/// delivery) for as long as it takes.
pub(crate) async fn purge_in_slices<F, Fut>(mut slice: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(u64, u64)>>,
{
    let full = PURGE_SLICE as u64;
    let mut total = 0;
    loop {
        let (events, raw) = slice().await?;
        total += events;
        if events < full && raw < full {
            return Ok(total);
        }
    }
}

pub(crate) const ENDPOINT_COLUMNS: &str = "seq, id, url, events, owner_id, description, \
     disabled, disabled_reason, failing_since, created_at, updated_at";

impl EndpointRow {
    pub(crate) fn into_endpoint(self) -> Result<Endpoint> {
        Ok(Endpoint {
            id: self.id,
            url: self.url,
            events: parse_events(&self.events)?,
            owner_id: self.owner_id,
            description: self.description,
            disabled: self.disabled,
            disabled_reason: self.disabled_reason,
            failing_since: self.failing_since,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct IntakeRow {
    pub connection_id: String,
    pub mode: String,
    pub remote_id: Option<String>,
    pub subscriptions: String,
    pub status: String,
    pub last_error: Option<String>,
    pub checked_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const INTAKE_COLUMNS: &str = "connection_id, mode, remote_id, subscriptions, status, \
     last_error, checked_at, created_at, updated_at";

impl From<IntakeRow> for Intake {
    fn from(r: IntakeRow) -> Self {
        Intake {
            connection_id: r.connection_id,
            mode: r.mode,
            remote_id: r.remote_id,
            subscriptions: r.subscriptions,
            status: r.status,
            last_error: r.last_error,
            checked_at: r.checked_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PollClaimRow {
    pub connection_id: String,
    pub model: String,
    pub interval_ms: Option<i64>,
    pub baselined_at: Option<i64>,
}

impl From<PollClaimRow> for PollClaim {
    fn from(r: PollClaimRow) -> Self {
        PollClaim {
            connection_id: r.connection_id,
            model: r.model,
            interval_ms: r.interval_ms,
            baselined: r.baselined_at.is_some(),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PollStatusRow {
    pub model: String,
    pub interval_ms: Option<i64>,
    pub next_poll_at: i64,
    pub last_polled_at: Option<i64>,
    pub baselined_at: Option<i64>,
    pub last_error: Option<String>,
    pub records: i64,
}

impl From<PollStatusRow> for PollStatus {
    fn from(r: PollStatusRow) -> Self {
        PollStatus {
            model: r.model,
            interval_ms: r.interval_ms,
            next_poll_at: r.next_poll_at,
            last_polled_at: r.last_polled_at,
            baselined_at: r.baselined_at,
            last_error: r.last_error,
            records: u64::try_from(r.records).unwrap_or(0),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct InboundRow {
    pub seq: i64,
    pub id: String,
    pub connection_id: String,
    pub kind: String,
    pub payload: String,
    pub received_at: i64,
    pub attempts: i64,
}

impl From<InboundRow> for InboundEvent {
    fn from(r: InboundRow) -> Self {
        InboundEvent {
            id: r.id,
            connection_id: r.connection_id,
            kind: r.kind,
            payload: r.payload,
            received_at: r.received_at,
            attempts: r.attempts,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub connector_id: String,
    pub owner_id: String,
    pub model: String,
    pub resource_id: String,
    pub source: String,
    pub body: String,
    pub occurred_at: i64,
    pub created_at: i64,
    /// Comma-separated statuses of its deliveries (`string_agg` / `group_concat`).
    pub statuses: Option<String>,
}

impl EventRow {
    pub(crate) fn into_record(self) -> EventRecord {
        let statuses: Vec<String> = self
            .statuses
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        EventRecord {
            id: self.id,
            event_type: self.event_type,
            connector_id: self.connector_id,
            owner_id: self.owner_id,
            model: self.model,
            resource_id: self.resource_id,
            source: self.source,
            body: self.body,
            occurred_at: self.occurred_at,
            created_at: self.created_at,
            status: event_status(&statuses),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DueRow {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub attempts: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct DueDetailRow {
    pub id: String,
    pub url: String,
    pub body: String,
    pub connector_id: String,
    pub owner_id: String,
    pub created_at: i64,
}

/// Joins the claimed rows with what sending needs (read after the claim, by id).
pub(crate) fn due_deliveries(claimed: Vec<DueRow>, details: Vec<DueDetailRow>) -> Vec<DueDelivery> {
    let mut by_id: std::collections::HashMap<String, DueDetailRow> =
        details.into_iter().map(|d| (d.id.clone(), d)).collect();
    claimed
        .into_iter()
        .filter_map(|c| {
            let d = by_id.remove(&c.id)?;
            Some(DueDelivery {
                id: c.id,
                event_id: c.event_id,
                endpoint_id: c.endpoint_id,
                url: d.url,
                body: d.body,
                connector_id: d.connector_id,
                owner_id: d.owner_id,
                created_at: d.created_at,
                attempt: c.attempts,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

pub(crate) const DELIVERY_COLUMNS: &str = "id, event_id, endpoint_id, status, attempts, \
     next_attempt_at, last_status, last_error, delivered_at";

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Self {
        Delivery {
            id: r.id,
            event_id: r.event_id,
            endpoint_id: r.endpoint_id,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_status: r.last_status,
            last_error: r.last_error,
            delivered_at: r.delivered_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AttemptRow {
    pub seq: i64,
    pub id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub attempt: i64,
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response: Option<String>,
}

pub(crate) const ATTEMPT_COLUMNS: &str = "seq, id, delivery_id, event_id, endpoint_id, attempt, \
     attempted_at, status_code, duration_ms, error, response";

impl From<AttemptRow> for Attempt {
    fn from(r: AttemptRow) -> Self {
        Attempt {
            id: r.id,
            delivery_id: r.delivery_id,
            event_id: r.event_id,
            endpoint_id: r.endpoint_id,
            attempt: r.attempt,
            attempted_at: r.attempted_at,
            status_code: r.status_code,
            duration_ms: r.duration_ms,
            error: r.error,
            response: r.response,
        }
    }
}

/// A settled attempt, for [`EventStore::settle_deliveries`].
#[derive(Clone, Debug)]
pub struct Settlement {
    pub delivery_id: String,
    pub attempt: i64,
    pub result: AttemptResult,
    pub settle: Settle,
}

/// The status column and due time a settlement writes.
pub(crate) fn settle_columns(s: Settle, now: Millis) -> (&'static str, Millis, Option<Millis>) {
    match s {
        Settle::Delivered => ("delivered", now, Some(now)),
        Settle::RetryAt(at) => ("pending", at, None),
        Settle::Failed => ("failed", now, None),
    }
}
