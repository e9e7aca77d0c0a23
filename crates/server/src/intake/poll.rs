//! Change detection by polling, for the models Dialpad sends no events for (users and
//! workspaces): each authorized connection's users and offices are listed on a schedule (the
//! connection's own interval, else `events.poll_interval`, default 5 min), compared with the
//! snapshot the last complete poll left, and every difference becomes the same unified event a
//! native one would be (`genericUser::created|updated|deleted`, `genericWorkspace::…`) with
//! `source: "poll"`.
//!
//! - The first poll of a connection only takes the snapshot: connecting an account does not
//!   announce every existing user as created.
//! - Only a complete list is compared: a poll that fails half-way (Dialpad down, the rate
//!   budget spent) keeps the old snapshot and reports nothing, so a missing page never reads as
//!   deletions; and a record missing from a complete list is asked for by id before it is
//!   called deleted (Dialpad pages by offset: a deletion between two pages shifts a record
//!   past the cursor).
//! - The lists go through the connection's own client, paced inside Dialpad's rate budget like
//!   every other call; nothing is held across them (the store is read before and written after,
//!   the snapshot changes and the events in one transaction).
//! - Several instances share the work: a poll is claimed under a lease in the store, and
//!   finishing checks the lease is still held, so one connection is polled by one instance at a
//!   time and a poll that outlived its lease writes nothing.
//! - A poll nobody wants (no enabled endpoint asks for the model's events, for that owner) is
//!   not fetched; its snapshot is dropped, so wanting it again starts from a fresh baseline.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use dpc_core::cursor::Resume;
use dpc_core::events::{webhook_body, UnifiedEvent};
use dpc_core::models::{Model, Op};
use dpc_core::operations::{self, Permission};
use dpc_core::resources::{self, ListParams, Render, Resources};
use dpc_store::events::{
    now_ms, Endpoint, Millis, NewEvent, PollClaim, SnapshotChange, SnapshotRecord,
};
use dpc_store::Connection;
use serde_json::Value;

use crate::AppState;

/// The interval when neither the connection nor the configuration sets one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// The models polled, in the order they are polled.
pub const MODELS: &[Model] = &[Model::User, Model::Workspace];
/// How long a claimed poll is ours: long enough to page through a large company at Dialpad's
/// 20 requests a second.
const LEASE_MS: i64 = 15 * 60_000;
/// Polls run at once by one instance (each is paced by its connection's client).
const CLAIM: u32 = 4;
/// How often connections authorized since are given their poll rows.
const ADD_EVERY: Duration = Duration::from_secs(30);
/// A list longer than this is not polled (the snapshot would be larger than is sensible to
/// compare in memory); the poll fails with a clear error instead.
const MAX_RECORDS: usize = 100_000;
/// Records missing from a list that are asked for by id in one poll at most (the rest are
/// asked at the next one).
const MAX_CONFIRM: usize = 50;
const SOURCE: &str = "poll";

/// The poll interval in force (ms): the connection's own, else the configured default.
pub fn interval_ms(config: &crate::Config, own: Option<Millis>) -> Millis {
    own.map_or(
        Millis::try_from(config.events_poll_interval.as_millis()).unwrap_or(Millis::MAX),
        |ms| ms.max(1),
    )
}

/// The polled models' names (the store's `model` column).
pub fn model_names() -> Vec<&'static str> {
    MODELS.iter().map(|m| m.as_str()).collect()
}

/// Runs until aborted.
pub async fn run(state: AppState) {
    let worker = NewEvent::new_id().replacen("evt", "pol", 1);
    let default = state.config.events_poll_interval;
    let mut tick = tokio::time::interval(default.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let names = model_names();
    let add_every = ADD_EVERY.min(default);
    let mut added_at: Option<tokio::time::Instant> = None;
    loop {
        tick.tick().await;
        let add = added_at.is_none_or(|t| t.elapsed() >= add_every);
        let claims = match state
            .store
            .claim_polls(&worker, &names, CLAIM, LEASE_MS, add)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming polls failed");
                continue;
            }
        };
        if add {
            added_at = Some(tokio::time::Instant::now());
        }
        if claims.is_empty() {
            continue;
        }
        let endpoints = match state.store.subscribed_endpoints().await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "reading the endpoints for a poll failed");
                for c in &claims {
                    let _ = state
                        .store
                        .fail_poll(&worker, c, "the endpoints could not be read", now_ms())
                        .await;
                }
                continue;
            }
        };
        let polls = claims
            .iter()
            .map(|c| poll_one(&state, &worker, c, &endpoints));
        futures::future::join_all(polls).await;
    }
}

/// Whether some enabled endpoint wants one of `model`'s events for `owner_id`.
pub fn wanted(endpoints: &[Endpoint], model: Model, owner_id: &str) -> bool {
    ["created", "updated", "deleted"].iter().any(|op| {
        let t = format!("{}::{op}", model.as_str());
        endpoints.iter().any(|e| e.wants(&t, owner_id))
    })
}

async fn poll_one(state: &AppState, worker: &str, claim: &PollClaim, endpoints: &[Endpoint]) {
    let next_at = now_ms().saturating_add(interval_ms(&state.config, claim.interval_ms));
    let conn = match state.store.get_connection_by_id(&claim.connection_id).await {
        Ok(Some(c)) => c,
        // Deleted meanwhile: its rows went with it.
        Ok(None) => return,
        Err(e) => {
            let _ = state
                .store
                .fail_poll(
                    worker,
                    claim,
                    &format!("reading the connection: {e}"),
                    next_at,
                )
                .await;
            return;
        }
    };
    let Some(model) = Model::parse(&claim.model) else {
        let _ = state.store.forget_poll(worker, claim, next_at).await;
        return;
    };
    if !wanted(endpoints, model, &conn.owner_id) {
        if let Err(e) = state.store.forget_poll(worker, claim, next_at).await {
            tracing::warn!(error = %e, "releasing an unwanted poll failed");
        }
        return;
    }
    let outcome = match poll(state, &conn, model, claim).await {
        Ok((changes, events)) => {
            let n = events.len();
            match state
                .store
                .finish_poll(worker, claim, &changes, &events, next_at)
                .await
            {
                Ok(true) => {
                    if n > 0 {
                        tracing::info!(connection = %conn.id, model = %model, events = n, "poll found changes");
                        state.delivery.wake();
                    }
                    return;
                }
                Ok(false) => {
                    tracing::info!(connection = %conn.id, model = %model, "the poll's lease was lost (the connection deleted, or the lease ran out): its findings are dropped; the next poll, if any, finds them again");
                    return;
                }
                Err(e) => format!("storing the poll: {e}"),
            }
        }
        Err(why) => why,
    };
    tracing::warn!(connection = %conn.id, model = %model, error = %outcome, "polling failed");
    if let Err(e) = state
        .store
        .fail_poll(worker, claim, &outcome, next_at)
        .await
    {
        tracing::warn!(error = %e, "recording a failed poll failed");
    }
}

/// Lists the whole model through the connection's client and compares it with the snapshot:
/// the snapshot changes and, once a baseline exists, the events.
async fn poll(
    state: &AppState,
    conn: &Connection,
    model: Model,
    claim: &PollClaim,
) -> Result<(Vec<SnapshotChange>, Vec<NewEvent>), String> {
    let op_id = Op::List.operation_id(model);
    let Some(op) = operations::find(&op_id) else {
        return Err(format!("{op_id} is missing from the catalog"));
    };
    match operations::check(op, &conn.operations, None, &conn.scopes) {
        Permission::Granted => {}
        Permission::NotGranted => {
            return Err(format!(
                "the connection is not granted {op_id}, which polling for {model} events needs"
            ))
        }
        Permission::MissingScopes(s) => {
            return Err(format!(
                "polling for {model} events needs the scopes {} (authorize the connection again)",
                s.join(", ")
            ))
        }
    }
    let cc = state.connection_client(conn).map_err(|e| e.message)?;
    let service = Resources {
        client: &cc.client,
        ctx: crate::resources::map_context(conn),
        calls: &cc.calls,
        seen: None,
    };
    let mut params = ListParams {
        limit: 100,
        resume: Resume::default(),
        q: None,
        filters: Default::default(),
    };
    let mut records = Vec::new();
    loop {
        let (page, next) = service
            .list(model, &params)
            .await
            .map_err(|e| format!("listing {model}: {e}"))?;
        records.extend(page);
        if records.len() > MAX_RECORDS {
            return Err(format!(
                "more than {MAX_RECORDS} {model} records: too many to poll"
            ));
        }
        match next {
            Some(at) => params.resume = at,
            None => break,
        }
    }
    let snapshot: HashMap<String, String> = state
        .store
        .poll_snapshot(&conn.id, model.as_str())
        .await
        .map_err(|e| format!("reading the snapshot: {e}"))?
        .into_iter()
        .collect();

    // What is new or changed since the snapshot (a record Dialpad listed twice counts once).
    let mut present: HashSet<String> = HashSet::with_capacity(records.len());
    let mut changed: Vec<resources::Record> = Vec::new();
    let mut fingerprints = Vec::new();
    let mut kinds = Vec::new();
    for r in records {
        if r.mapped.id.is_empty() || !present.insert(r.mapped.id.clone()) {
            continue;
        }
        let fp = resources::fingerprint(&r.raw);
        let kind = match snapshot.get(&r.mapped.id) {
            None => "created",
            Some(old) if *old != fp => "updated",
            Some(_) => continue,
        };
        changed.push(r);
        fingerprints.push(fp);
        kinds.push(kind);
    }
    // Missing from the list is not yet gone: Dialpad pages by offset, so a record deleted
    // while the pages were read shifts another one past the cursor. Each missing record is
    // asked for by id; only a 404 (or a `deleted` state) is a deletion, and a live one that
    // changed is an update like any other.
    let missing: Vec<String> = snapshot
        .keys()
        .filter(|id| !present.contains(*id))
        .cloned()
        .collect();
    let mut gone = Vec::new();
    for id in missing.into_iter().take(MAX_CONFIRM) {
        match service.retrieve(model, &id).await {
            Err(resources::ResourceError::NotFound(_)) => gone.push(id),
            Ok(r) if r.mapped.fields.get("state").and_then(Value::as_str) == Some("deleted") => {
                gone.push(id)
            }
            Ok(r) => {
                let fp = resources::fingerprint(&r.raw);
                if snapshot.get(&id) != Some(&fp) {
                    changed.push(r);
                    fingerprints.push(fp);
                    kinds.push("updated");
                }
            }
            // Not known either way: asked again at the next poll.
            Err(e) => {
                tracing::debug!(connection = %conn.id, %model, error = %e, "confirming a missing record failed");
            }
        }
    }

    // The times the connector keeps for these models, for the changed records only (one store
    // statement).
    let seen = crate::resources::seen_times(state, conn, model, &changed).await;
    let now = now_ms();
    let mut changes = Vec::with_capacity(changed.len() + gone.len());
    let mut events = Vec::new();
    for (((r, fp), kind), seen) in changed.into_iter().zip(fingerprints).zip(kinds).zip(seen) {
        let id = r.mapped.id.clone();
        let data = resources::resource_json(r, &Render::default(), seen);
        changes.push(SnapshotChange {
            resource_id: id.clone(),
            seen: Some(SnapshotRecord {
                fingerprint: fp,
                body: data.to_string(),
            }),
        });
        if claim.baselined {
            events.push(event(conn, model, kind, id, data, now));
        }
    }
    if claim.baselined && !gone.is_empty() {
        let bodies = state
            .store
            .snapshot_bodies(&conn.id, model.as_str(), &gone)
            .await
            .map_err(|e| format!("reading the snapshot: {e}"))?;
        for (id, body) in bodies {
            let data: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            events.push(event(conn, model, "deleted", id, data, now));
        }
    }
    changes.extend(gone.into_iter().map(|resource_id| SnapshotChange {
        resource_id,
        seen: None,
    }));
    Ok((changes, events))
}

fn event(
    conn: &Connection,
    model: Model,
    kind: &str,
    resource_id: String,
    data: Value,
    at: Millis,
) -> NewEvent {
    let u = UnifiedEvent {
        event_type: format!("{}::{kind}", model.as_str()),
        model: model.as_str(),
        resource_id,
        data,
        occurred_at_ms: at,
    };
    NewEvent {
        id: NewEvent::new_id(),
        body: webhook_body(&u, &conn.connector_id, &conn.owner_id, SOURCE),
        event_type: u.event_type,
        connector_id: conn.connector_id.clone(),
        owner_id: conn.owner_id.clone(),
        model: u.model.to_owned(),
        resource_id: u.resource_id,
        source: SOURCE.to_owned(),
        occurred_at: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(events: &[&str], owner: Option<&str>) -> Endpoint {
        Endpoint {
            id: "ep".into(),
            url: "https://a.example".into(),
            events: events.iter().map(|s| (*s).to_owned()).collect(),
            owner_id: owner.map(str::to_owned),
            description: None,
            disabled: false,
            disabled_reason: None,
            failing_since: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_poll_is_wanted_by_an_endpoint_for_the_model_and_owner() {
        let user = [endpoint(&["genericUser::deleted"], None)];
        assert!(wanted(&user, Model::User, "o1"));
        assert!(!wanted(&user, Model::Workspace, "o1"));
        assert!(wanted(&[endpoint(&["*"], None)], Model::Workspace, "o1"));
        let other = [endpoint(&["*"], Some("o2"))];
        assert!(!wanted(&other, Model::User, "o1"));
        assert!(!wanted(
            &[endpoint(&["telephonyCall::created"], None)],
            Model::User,
            "o1"
        ));
    }
}
