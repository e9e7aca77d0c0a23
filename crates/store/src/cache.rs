//! A short-lived read-through cache in front of any [`Store`], for the two reads every proxied
//! request makes: verifying the API secret key and loading the connection (and the one every
//! Dialpad event at the hook makes: its route's intake and secret). Without it each
//! request costs two database round trips, which dominated the proxy's CPU per request.
//!
//! What it trades: a write made by *this* process is seen at once (every write through the
//! cache invalidates or refreshes the entry), but a write made by *another* instance sharing the
//! database (a key revoked, a connection deleted or re-authorized there) is seen here within
//! `ttl` at the latest. Misses are never cached (a new connection or key works immediately, and
//! random wrong keys cannot fill memory), and the maps are bounded.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use secrecy::SecretString;

use crate::common::sha256_hex;
use crate::events::*;
use crate::{
    ApiKeyRecord, Connection, Credentials, Grant, LockedRefreshError, NewConnection, OAuthState,
    Observation, RefreshFn, ResealProgress, Result, Session, Store, StoredCredentials,
};

/// Entries kept per map before expired ones are swept (and, if still full, all dropped).
const CAPACITY: usize = 10_000;

/// Entries with the time they were cached.
type Entries<K, V> = HashMap<K, (Instant, V)>;

struct TtlMap<K, V> {
    ttl: Duration,
    /// The generation counts writes (remove, clear); kept under the same lock as the entries.
    entries: Mutex<(u64, Entries<K, V>)>,
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new((0, HashMap::new())),
        }
    }

    fn get(&self, k: &K) -> Option<V> {
        let entries = self.entries.lock();
        entries
            .1
            .get(k)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// The current write generation: take it before reading the inner store, pass it to
    /// [`fill`](Self::fill).
    fn generation(&self) -> u64 {
        self.entries.lock().0
    }

    /// Caches a value read from the inner store, unless a write (remove, clear) happened since
    /// `generation`: the value read may then be older than that write, and caching it would
    /// serve, e.g., a deleted connection or a revoked key for a whole TTL.
    fn fill(&self, generation: u64, k: K, v: V) {
        let mut entries = self.entries.lock();
        if entries.0 == generation {
            Self::insert(&mut entries.1, self.ttl, k, v);
        }
    }

    /// Caches a value this process just wrote.
    fn put(&self, k: K, v: V) {
        let mut entries = self.entries.lock();
        Self::insert(&mut entries.1, self.ttl, k, v);
    }

    fn insert(entries: &mut Entries<K, V>, ttl: Duration, k: K, v: V) {
        if entries.len() >= CAPACITY {
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(k, (Instant::now(), v));
    }

    fn remove(&self, k: &K) {
        let mut entries = self.entries.lock();
        entries.0 += 1;
        entries.1.remove(k);
    }

    /// Drops every entry whose value matches (e.g. one connection id, under any key).
    fn remove_where(&self, matches: impl Fn(&V) -> bool) {
        let mut entries = self.entries.lock();
        entries.0 += 1;
        entries.1.retain(|_, (_, v)| !matches(v));
    }

    fn clear(&self) {
        let mut entries = self.entries.lock();
        entries.0 += 1;
        entries.1.clear();
    }
}

/// Wraps a store with the cache described in the module docs. A zero `ttl` disables it.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    /// Keyed by the SHA-256 of the presented key, so no secret is held as a map key.
    api_keys: TtlMap<String, ApiKeyRecord>,
    connections: TtlMap<(String, String), Connection>,
    /// The hook's lookup, keyed by the SHA-256 of the route token (the token is a credential;
    /// only known routes are cached). Every Dialpad event reads it.
    intakes: TtlMap<String, IntakeSecret>,
}

impl CachedStore {
    pub fn wrap(inner: Arc<dyn Store>, ttl: Duration) -> Arc<dyn Store> {
        if ttl.is_zero() {
            return inner;
        }
        Arc::new(CachedStore {
            inner,
            api_keys: TtlMap::new(ttl),
            connections: TtlMap::new(ttl),
            intakes: TtlMap::new(ttl),
        })
    }
}

impl CachedStore {
    /// Drops every cached copy of the connection `connection_id`.
    fn forget(&self, connection_id: &str) {
        self.connections.remove_where(|c| c.id == connection_id);
    }

    /// Runs a write of one connection: the cached copy is dropped before (a failed write sends
    /// the next read to the database) and after (a read racing the write does not cache what it
    /// saw, see `fill`); the connection the write returns is cached.
    async fn writing(
        &self,
        connection_id: &str,
        write: impl std::future::Future<Output = Result<Option<Connection>>>,
    ) -> Result<Option<Connection>> {
        self.forget(connection_id);
        let written = write.await;
        self.forget(connection_id);
        let written = written?;
        if let Some(c) = &written {
            self.connections
                .put(conn_key(&c.connector_id, &c.owner_id), c.clone());
        }
        Ok(written)
    }
}

fn conn_key(connector_id: &str, owner_id: &str) -> (String, String) {
    (connector_id.to_owned(), owner_id.to_owned())
}

/// Idempotency keys are not cached: every claim must see the database.
#[async_trait]
impl crate::idempotency::IdempotencyStore for CachedStore {
    async fn claim_idempotency_key(
        &self,
        claim: &crate::idempotency::IdempotencyClaim<'_>,
    ) -> Result<crate::idempotency::ClaimOutcome> {
        self.inner.claim_idempotency_key(claim).await
    }

    async fn complete_idempotency_key(
        &self,
        connection_id: &str,
        action: &str,
        key: &str,
        token: &str,
        status: u16,
        response: &str,
    ) -> Result<bool> {
        self.inner
            .complete_idempotency_key(connection_id, action, key, token, status, response)
            .await
    }

    async fn release_idempotency_key(
        &self,
        connection_id: &str,
        action: &str,
        key: &str,
        token: &str,
    ) -> Result<()> {
        self.inner
            .release_idempotency_key(connection_id, action, key, token)
            .await
    }

    async fn purge_idempotency_keys(&self, now: crate::events::Millis) -> Result<u64> {
        self.inner.purge_idempotency_keys(now).await
    }
}

/// Events are not cached: forwarded as they are.
#[async_trait]
impl crate::events::EventStore for CachedStore {
    async fn create_endpoint(&self, new: &NewEndpoint, secret: &SecretString) -> Result<Endpoint> {
        self.inner.create_endpoint(new, secret).await
    }

    async fn get_endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        self.inner.get_endpoint(id).await
    }

    async fn list_endpoints(&self, cursor: Option<&str>, limit: u32) -> Result<Page<Endpoint>> {
        self.inner.list_endpoints(cursor, limit).await
    }

    async fn count_endpoints(&self) -> Result<u64> {
        self.inner.count_endpoints().await
    }

    async fn subscribed_endpoints(&self) -> Result<Vec<Endpoint>> {
        self.inner.subscribed_endpoints().await
    }

    async fn update_endpoint(&self, id: &str, patch: &EndpointPatch) -> Result<Endpoint> {
        self.inner.update_endpoint(id, patch).await
    }

    async fn delete_endpoint(&self, id: &str) -> Result<bool> {
        self.inner.delete_endpoint(id).await
    }

    async fn rotate_endpoint_secret(
        &self,
        id: &str,
        secret: &SecretString,
        previous_until: Millis,
    ) -> Result<()> {
        self.inner
            .rotate_endpoint_secret(id, secret, previous_until)
            .await
    }

    async fn endpoint_secrets(&self, id: &str) -> Result<Option<EndpointSecrets>> {
        self.inner.endpoint_secrets(id).await
    }

    async fn disable_endpoint(&self, id: &str, reason: &str) -> Result<()> {
        self.inner.disable_endpoint(id, reason).await
    }

    async fn mark_endpoint_failing(&self, id: &str, at: Option<Millis>) -> Result<Option<Millis>> {
        self.inner.mark_endpoint_failing(id, at).await
    }

    async fn create_intake(&self, new: &NewIntake<'_>) -> Result<Intake> {
        self.intakes
            .remove_where(|i| i.connection_id == new.connection_id);
        self.inner.create_intake(new).await
    }

    async fn get_intake(&self, connection_id: &str) -> Result<Option<Intake>> {
        self.inner.get_intake(connection_id).await
    }

    async fn list_intakes(&self) -> Result<Vec<Intake>> {
        self.inner.list_intakes().await
    }

    async fn intake_by_route(&self, route_token: &str) -> Result<Option<IntakeSecret>> {
        let key = sha256_hex(route_token);
        if let Some(i) = self.intakes.get(&key) {
            return Ok(Some(i));
        }
        let generation = self.intakes.generation();
        let found = self.inner.intake_by_route(route_token).await?;
        if let Some(i) = &found {
            self.intakes.fill(generation, key, i.clone());
        }
        Ok(found)
    }

    async fn intake_secret(&self, connection_id: &str) -> Result<Option<SecretString>> {
        self.inner.intake_secret(connection_id).await
    }

    async fn set_intake_remote(&self, connection_id: &str, remote: &IntakeRemote) -> Result<()> {
        self.inner.set_intake_remote(connection_id, remote).await
    }

    async fn delete_intake(&self, connection_id: &str) -> Result<bool> {
        self.intakes
            .remove_where(|i| i.connection_id == connection_id);
        let out = self.inner.delete_intake(connection_id).await;
        self.intakes
            .remove_where(|i| i.connection_id == connection_id);
        out
    }

    async fn insert_inbound(&self, events: &[NewInbound<'_>]) -> Result<Vec<InboundOutcome>> {
        self.inner.insert_inbound(events).await
    }

    async fn latest_inbound_key(&self, connection_id: &str, chain: &str) -> Result<Option<String>> {
        self.inner.latest_inbound_key(connection_id, chain).await
    }

    async fn claim_inbound(
        &self,
        worker: &str,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<InboundEvent>> {
        self.inner.claim_inbound(worker, limit, lease_ms).await
    }

    async fn finish_inbound(&self, worker: &str, done: &[(String, Vec<NewEvent>)]) -> Result<u64> {
        self.inner.finish_inbound(worker, done).await
    }

    async fn fail_inbound(&self, worker: &str, id: &str, error: &str, give_up: bool) -> Result<()> {
        self.inner.fail_inbound(worker, id, error, give_up).await
    }

    async fn put_recap_part(
        &self,
        connection_id: &str,
        call_id: &str,
        part: &str,
        body: &str,
        at: Millis,
    ) -> Result<()> {
        self.inner
            .put_recap_part(connection_id, call_id, part, body, at)
            .await
    }

    async fn recap_parts(&self, connection_id: &str, call_id: &str) -> Result<Vec<String>> {
        self.inner.recap_parts(connection_id, call_id).await
    }

    async fn resources_seen(
        &self,
        connector_id: &str,
        owner_id: &str,
        model: &str,
        resource_ids: &[String],
    ) -> Result<Vec<String>> {
        self.inner
            .resources_seen(connector_id, owner_id, model, resource_ids)
            .await
    }

    async fn publish_events(&self, events: &[NewEvent]) -> Result<u64> {
        self.inner.publish_events(events).await
    }

    async fn claim_deliveries(
        &self,
        limit: u32,
        per_endpoint: u32,
        lease_ms: i64,
    ) -> Result<Vec<DueDelivery>> {
        self.inner
            .claim_deliveries(limit, per_endpoint, lease_ms)
            .await
    }

    async fn settle_deliveries(&self, done: &[Settlement]) -> Result<()> {
        self.inner.settle_deliveries(done).await
    }

    async fn next_due(&self) -> Result<Option<Millis>> {
        self.inner.next_due().await
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<EventRecord>> {
        self.inner.list_events(filter, cursor, limit).await
    }

    async fn get_event(&self, id: &str) -> Result<Option<EventRecord>> {
        self.inner.get_event(id).await
    }

    async fn event_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>> {
        self.inner.event_deliveries(event_id).await
    }

    async fn list_attempts(
        &self,
        endpoint_id: Option<&str>,
        event_id: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Attempt>> {
        self.inner
            .list_attempts(endpoint_id, event_id, cursor, limit)
            .await
    }

    async fn replay_event(&self, event_id: &str) -> Result<u64> {
        self.inner.replay_event(event_id).await
    }

    async fn replay_endpoint(&self, endpoint_id: &str, since: Millis) -> Result<u64> {
        self.inner.replay_endpoint(endpoint_id, since).await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        self.inner.outbox_stats().await
    }

    async fn purge_events(&self, before: Millis) -> Result<u64> {
        self.inner.purge_events(before).await
    }

    async fn claim_polls(
        &self,
        worker: &str,
        models: &[&str],
        limit: u32,
        lease_ms: i64,
        add_missing: bool,
    ) -> Result<Vec<PollClaim>> {
        self.inner
            .claim_polls(worker, models, limit, lease_ms, add_missing)
            .await
    }

    async fn poll_snapshot(
        &self,
        connection_id: &str,
        model: &str,
    ) -> Result<Vec<(String, String)>> {
        self.inner.poll_snapshot(connection_id, model).await
    }

    async fn snapshot_bodies(
        &self,
        connection_id: &str,
        model: &str,
        ids: &[String],
    ) -> Result<Vec<(String, String)>> {
        self.inner.snapshot_bodies(connection_id, model, ids).await
    }

    async fn finish_poll(
        &self,
        worker: &str,
        claim: &PollClaim,
        changes: &[SnapshotChange],
        events: &[NewEvent],
        next_at: Millis,
    ) -> Result<bool> {
        self.inner
            .finish_poll(worker, claim, changes, events, next_at)
            .await
    }

    async fn fail_poll(
        &self,
        worker: &str,
        claim: &PollClaim,
        error: &str,
        next_at: Millis,
    ) -> Result<()> {
        self.inner.fail_poll(worker, claim, error, next_at).await
    }

    async fn forget_poll(&self, worker: &str, claim: &PollClaim, next_at: Millis) -> Result<()> {
        self.inner.forget_poll(worker, claim, next_at).await
    }

    async fn set_poll_interval(
        &self,
        connection_id: &str,
        models: &[&str],
        interval_ms: Option<Millis>,
        effective_ms: Millis,
    ) -> Result<()> {
        self.inner
            .set_poll_interval(connection_id, models, interval_ms, effective_ms)
            .await
    }

    async fn poll_status(&self, connection_id: &str) -> Result<Vec<PollStatus>> {
        self.inner.poll_status(connection_id).await
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn migrate(&self) -> Result<()> {
        self.inner.migrate().await
    }

    async fn insert_connection(&self, new: NewConnection) -> Result<Connection> {
        let c = self.inner.insert_connection(new).await?;
        self.connections
            .put(conn_key(&c.connector_id, &c.owner_id), c.clone());
        Ok(c)
    }

    async fn get_connection_by_id(&self, connection_id: &str) -> Result<Option<Connection>> {
        self.inner.get_connection_by_id(connection_id).await
    }

    async fn get_connection(
        &self,
        connector_id: &str,
        owner_id: &str,
    ) -> Result<Option<Connection>> {
        let key = conn_key(connector_id, owner_id);
        if let Some(c) = self.connections.get(&key) {
            return Ok(Some(c));
        }
        let generation = self.connections.generation();
        let found = self.inner.get_connection(connector_id, owner_id).await?;
        if let Some(c) = &found {
            self.connections.fill(generation, key, c.clone());
        }
        Ok(found)
    }

    async fn set_operations(
        &self,
        connection_id: &str,
        operations: &[String],
        scopes: Option<&[String]>,
    ) -> Result<Connection> {
        self.writing(connection_id, async {
            self.inner
                .set_operations(connection_id, operations, scopes)
                .await
                .map(Some)
        })
        .await?
        .ok_or(crate::StoreError::NotFound)
    }

    async fn add_operations(
        &self,
        connection_id: &str,
        operations: &[String],
    ) -> Result<Connection> {
        self.writing(connection_id, async {
            self.inner
                .add_operations(connection_id, operations)
                .await
                .map(Some)
        })
        .await?
        .ok_or(crate::StoreError::NotFound)
    }

    async fn mark_awaiting_authorization(&self, connection_id: &str) -> Result<()> {
        self.writing(connection_id, async {
            self.inner
                .mark_awaiting_authorization(connection_id)
                .await
                .map(|()| None)
        })
        .await
        .map(drop)
    }

    async fn mark_authorization_abandoned(&self, connection_id: &str) -> Result<()> {
        self.writing(connection_id, async {
            self.inner
                .mark_authorization_abandoned(connection_id)
                .await
                .map(|()| None)
        })
        .await
        .map(drop)
    }

    async fn authorize(&self, connection_id: &str, grant: &Grant) -> Result<Connection> {
        self.writing(connection_id, async {
            self.inner.authorize(connection_id, grant).await.map(Some)
        })
        .await?
        .ok_or(crate::StoreError::NotFound)
    }

    async fn record_missing_scopes(
        &self,
        connection_id: &str,
        scopes: &[String],
        credentials_version: i64,
    ) -> Result<Option<Connection>> {
        self.writing(
            connection_id,
            self.inner
                .record_missing_scopes(connection_id, scopes, credentials_version),
        )
        .await
    }

    async fn clear_missing_scopes(
        &self,
        connection_id: &str,
        scopes: &[String],
        credentials_version: i64,
    ) -> Result<Option<Connection>> {
        self.writing(
            connection_id,
            self.inner
                .clear_missing_scopes(connection_id, scopes, credentials_version),
        )
        .await
    }

    async fn mark_refresh_failed(
        &self,
        connection_id: &str,
        credentials_version: i64,
    ) -> Result<bool> {
        let mut changed = false;
        self.writing(connection_id, async {
            changed = self
                .inner
                .mark_refresh_failed(connection_id, credentials_version)
                .await?;
            Ok(None)
        })
        .await?;
        Ok(changed)
    }

    async fn count_sharing_grant(&self, connection_id: &str, dialpad_user_id: &str) -> Result<u64> {
        self.inner
            .count_sharing_grant(connection_id, dialpad_user_id)
            .await
    }

    async fn delete_connection(&self, connector_id: &str, owner_id: &str) -> Result<()> {
        let key = conn_key(connector_id, owner_id);
        self.connections.remove(&key);
        // Its intake goes with it (the cache does not know its id here: all are dropped).
        self.intakes.clear();
        let deleted = self.inner.delete_connection(connector_id, owner_id).await;
        self.connections.remove(&key);
        deleted
    }

    async fn list_connections(
        &self,
        connector_id: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Connection>, Option<String>)> {
        self.inner
            .list_connections(connector_id, cursor, limit)
            .await
    }

    async fn get_credentials(&self, connection_id: &str) -> Result<Option<StoredCredentials>> {
        self.inner.get_credentials(connection_id).await
    }

    async fn put_credentials(
        &self,
        connection_id: &str,
        credentials: &Credentials,
    ) -> Result<StoredCredentials> {
        // The cached connection carries the credentials version: drop it.
        self.forget(connection_id);
        let r = self.inner.put_credentials(connection_id, credentials).await;
        self.forget(connection_id);
        r
    }

    async fn delete_credentials(&self, connection_id: &str) -> Result<()> {
        self.forget(connection_id);
        let r = self.inner.delete_credentials(connection_id).await;
        self.forget(connection_id);
        r
    }

    async fn with_refresh_lock(
        &self,
        connection_id: &str,
        f: RefreshFn,
    ) -> std::result::Result<StoredCredentials, LockedRefreshError> {
        let r = self.inner.with_refresh_lock(connection_id, f).await;
        self.forget(connection_id);
        r
    }

    async fn create_api_key(&self, name: &str) -> Result<(ApiKeyRecord, SecretString)> {
        self.inner.create_api_key(name).await
    }

    async fn verify_api_key(&self, presented: &str) -> Result<Option<ApiKeyRecord>> {
        let key = sha256_hex(presented);
        if let Some(rec) = self.api_keys.get(&key) {
            return Ok(Some(rec));
        }
        let generation = self.api_keys.generation();
        let found = self.inner.verify_api_key(presented).await?;
        if let Some(rec) = &found {
            self.api_keys.fill(generation, key, rec.clone());
        }
        Ok(found)
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.inner.list_api_keys().await
    }

    async fn revoke_api_key(&self, id_or_name: &str) -> Result<()> {
        // Revocation is rare: forget every cached key rather than track which one it was.
        self.api_keys.clear();
        let revoked = self.inner.revoke_api_key(id_or_name).await;
        // Again after the write: a verification racing with it may have cached the key.
        self.api_keys.clear();
        revoked
    }

    async fn create_session(&self, session: &Session) -> Result<SecretString> {
        self.inner.create_session(session).await
    }

    async fn get_session(&self, token: &str) -> Result<Option<Session>> {
        self.inner.get_session(token).await
    }

    async fn delete_session(&self, token: &str) -> Result<()> {
        self.inner.delete_session(token).await
    }

    async fn bind_connect_session(&self, token: &str, browser_hash: &str) -> Result<bool> {
        self.inner.bind_connect_session(token, browser_hash).await
    }

    async fn connect_session_reusable(&self, token: &str) -> Result<bool> {
        self.inner.connect_session_reusable(token).await
    }

    async fn delete_connect_sessions(&self, connector_id: &str, owner_id: &str) -> Result<u64> {
        self.inner
            .delete_connect_sessions(connector_id, owner_id)
            .await
    }

    async fn create_oauth_state(&self, state: &OAuthState) -> Result<String> {
        self.inner.create_oauth_state(state).await
    }

    async fn take_oauth_state(
        &self,
        state: &str,
        browser_hash: Option<&str>,
    ) -> Result<Option<OAuthState>> {
        self.inner.take_oauth_state(state, browser_hash).await
    }

    async fn oauth_state_pending(&self, state: &str) -> Result<bool> {
        self.inner.oauth_state_pending(state).await
    }

    async fn purge_expired(&self, grace: Duration) -> Result<u64> {
        self.inner.purge_expired(grace).await
    }

    async fn reseal_batch(&self, limit: u32) -> Result<ResealProgress> {
        self.inner.reseal_batch(limit).await
    }

    async fn observe_records(
        &self,
        connection_id: &str,
        model: &str,
        records: &[(String, String)],
    ) -> Result<Vec<Observation>> {
        self.inner
            .observe_records(connection_id, model, records)
            .await
    }

    async fn put_field_mappings(
        &self,
        connection_id: &str,
        model: &str,
        mappings: &str,
    ) -> Result<()> {
        self.inner
            .put_field_mappings(connection_id, model, mappings)
            .await
    }

    async fn get_field_mappings(&self, connection_id: &str, model: &str) -> Result<Option<String>> {
        self.inner.get_field_mappings(connection_id, model).await
    }

    async fn delete_field_mappings(&self, connection_id: &str, model: &str) -> Result<bool> {
        self.inner.delete_field_mappings(connection_id, model).await
    }
}
