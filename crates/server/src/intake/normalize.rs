//! The normalizer: claims stored Dialpad events (one connection's events by one worker at a
//! time, in arrival order), turns each into unified events with the core's mappers, fetches a
//! transcript when a transcription state arrives (outside any transaction or lock), and
//! publishes the events with their deliveries in the same transaction that marks the raw
//! events done.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use dpc_core::events::{normalize_at, webhook_body, EventKind, Fetch, UnifiedEvent};
use dpc_core::models::Model;
use dpc_core::resources::Resources;
use dpc_store::events::{InboundEvent, NewEvent};
use dpc_store::Connection;
use serde_json::Value;

use crate::AppState;

/// Raw events claimed at once.
const BATCH: u32 = 256;
/// A claim's lease: long enough for a transcript fetch within the rate budget.
const LEASE_MS: i64 = 60_000;
/// Attempts before a raw event that cannot be normalized is given up on (kept, `failed`).
const GIVE_UP_AFTER: i64 = 5;
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Runs until aborted. `worker` names this process's claims (unique per process).
pub async fn run(state: AppState) {
    let worker = dpc_store::events::NewEvent::new_id().replacen("evt", "nrm", 1);
    loop {
        let batch = match state.store.claim_inbound(&worker, BATCH, LEASE_MS).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "claiming Dialpad events failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                () = state.normalizer.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
            continue;
        }
        process(&state, &worker, batch).await;
    }
}

async fn process(state: &AppState, worker: &str, batch: Vec<InboundEvent>) {
    // Calls known to exist: published before, or created by an earlier state in this batch.
    let mut created: HashSet<(String, String)> = HashSet::new();
    let mut connections: std::collections::HashMap<String, Option<Connection>> =
        std::collections::HashMap::new();
    let mut done: Vec<(String, Vec<NewEvent>)> = Vec::with_capacity(batch.len());
    // Each payload parsed once; the calls the store has published events about before, asked
    // for in one statement per connection (a call's first state creates it).
    let parsed: Vec<Result<Value, String>> = batch
        .iter()
        .map(|ev| serde_json::from_str(&ev.payload).map_err(|e| format!("stored payload: {e}")))
        .collect();
    let mut calls_of: std::collections::HashMap<&str, Vec<String>> =
        std::collections::HashMap::new();
    for (ev, claims) in batch.iter().zip(&parsed) {
        if let (EventKind::Call, Ok(c)) = (EventKind::parse(&ev.kind), claims) {
            if let Ok(i) = dpc_core::events::classify(c) {
                calls_of.entry(&ev.connection_id).or_default().push(i.id);
            }
        }
    }
    for (connection_id, ids) in calls_of {
        let conn = state
            .store
            .get_connection_by_id(connection_id)
            .await
            .ok()
            .flatten();
        if let Some(c) = &conn {
            match state
                .store
                .resources_seen(&c.connector_id, &c.owner_id, "telephonyCall", &ids)
                .await
            {
                Ok(seen) => created.extend(seen.into_iter().map(|id| (c.id.clone(), id))),
                Err(e) => {
                    // Retried after the lease: deciding created/updated needs this.
                    tracing::warn!(error = %e, "reading which calls were seen failed");
                    return;
                }
            }
        }
        connections.insert(connection_id.to_owned(), conn);
    }
    for (ev, claims) in batch.into_iter().zip(parsed) {
        let conn = match connections.get(&ev.connection_id) {
            Some(c) => c.clone(),
            None => {
                let c = state
                    .store
                    .get_connection_by_id(&ev.connection_id)
                    .await
                    .ok()
                    .flatten();
                connections.insert(ev.connection_id.clone(), c.clone());
                c
            }
        };
        let Some(conn) = conn else {
            // The connection was deleted after its event arrived: nobody to send it for.
            done.push((ev.id, Vec::new()));
            continue;
        };
        let result = match claims {
            Ok(claims) => normalize_one(state, &conn, &ev, claims, &mut created).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(events) => done.push((ev.id, events)),
            Err(why) => {
                let give_up = ev.attempts >= GIVE_UP_AFTER;
                tracing::warn!(event = %ev.id, %why, give_up, "normalizing a Dialpad event failed");
                let _ = state
                    .store
                    .fail_inbound(worker, &ev.id, &why, give_up)
                    .await;
            }
        }
    }
    match state.store.finish_inbound(worker, &done).await {
        Ok(n) if n > 0 => state.delivery.wake(),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "publishing normalized events failed (retried after the lease)")
        }
    }
}

async fn normalize_one(
    state: &AppState,
    conn: &Connection,
    ev: &InboundEvent,
    claims: Value,
    created: &mut HashSet<(String, String)>,
) -> Result<Vec<NewEvent>, String> {
    let kind = EventKind::parse(&ev.kind);
    let ctx = crate::resources::map_context(conn);
    let first_seen = if kind == EventKind::Call {
        let call_id = dpc_core::events::classify(&claims)
            .map(|i| i.id)
            .unwrap_or_default();
        // Known: published before (read for the whole batch) or created earlier in it.
        created.insert((conn.id.clone(), call_id))
    } else {
        false
    };
    let normalized = normalize_at(kind, &claims, ctx, first_seen, ev.received_at);
    // An event is a read: what the connection's grants keep from the API they keep from its
    // events (and what it may not read is not fetched for it).
    let may = |model: &str| dpc_core::operations::may_read(model, &conn.operations, &conn.scopes);
    let mut events: Vec<UnifiedEvent> = normalized.events;
    events.retain(|u| may(u.model));
    let transcripts = may(Model::Transcript.as_str());
    // Kept before the events are published: a retry after a failure writes the same part again.
    if let Some(u) = normalized.recap.as_ref().filter(|_| transcripts) {
        let body = serde_json::to_string(&u.part).map_err(|e| e.to_string())?;
        state
            .store
            .put_recap_part(&conn.id, &u.call_id, u.part.key(), &body, ev.received_at)
            .await
            .map_err(|e| format!("keeping the recap part: {e}"))?;
    }
    for f in normalized.fetch.into_iter().filter(|_| transcripts) {
        match f {
            Fetch::Transcript { call_id } => match fetch_transcript(state, conn, &call_id).await {
                Ok(raw) => {
                    let recap = crate::resources::stored_recap(state, &conn.id, &call_id).await;
                    events.push(dpc_core::events::transcript_event(
                        &call_id,
                        &raw,
                        recap,
                        ev.received_at,
                    ))
                }
                Err(e) => return Err(format!("transcript of call {call_id}: {e}")),
            },
            // Without the recap (no `ai_recap` scope, Dialpad refusing) the call's own update
            // still goes out: the recap event is left out, not the raw event retried.
            Fetch::Recap { call_id } => match fetch_recap(state, conn, &call_id).await {
                Ok(recap) => events.push(dpc_core::events::recap_event(
                    &call_id,
                    &recap,
                    ev.received_at,
                )),
                Err(e) => {
                    tracing::warn!(call = %call_id, error = %e, "fetching the AI recap for a recap event failed; its transcript update is left out")
                }
            },
        }
    }
    let source = "dialpad";
    Ok(events
        .into_iter()
        .map(|u| NewEvent {
            id: NewEvent::new_id(),
            body: webhook_body(&u, &conn.connector_id, &conn.owner_id, source),
            event_type: u.event_type,
            connector_id: conn.connector_id.clone(),
            owner_id: conn.owner_id.clone(),
            model: u.model.to_owned(),
            resource_id: u.resource_id,
            source: source.to_owned(),
            occurred_at: u.occurred_at_ms,
        })
        .collect())
}

/// Dialpad's transcript of a call, through the connection's client (its rate limits and
/// token refresh), with no lock or transaction held.
async fn fetch_transcript(
    state: &AppState,
    conn: &Connection,
    call_id: &str,
) -> Result<Value, String> {
    let cc = state.connection_client(conn).map_err(|e| e.message)?;
    let service = Resources {
        client: &cc.client,
        ctx: crate::resources::map_context(conn),
        calls: &cc.calls,
        seen: None,
    };
    service
        .retrieve(Model::Transcript, call_id)
        .await
        .map(|r| r.raw)
        .map_err(|e| e.to_string())
}

/// Dialpad's AI recap of a call (a `recap_*` event without its part), within the rate budget.
async fn fetch_recap(
    state: &AppState,
    conn: &Connection,
    call_id: &str,
) -> Result<dpc_core::models::transcript::Recap, String> {
    let cc = state.connection_client(conn).map_err(|e| e.message)?;
    let service = Resources {
        client: &cc.client,
        ctx: crate::resources::map_context(conn),
        calls: &cc.calls,
        seen: None,
    };
    service.recap(call_id).await.map_err(|e| e.to_string())
}

/// Makes `Arc<Notify>` the normalizer's wake-up (held in the app state).
pub type Wake = Arc<tokio::sync::Notify>;
