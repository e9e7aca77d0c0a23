//! Group commit for the intake: concurrent hook requests (and websocket frames) hand their
//! verified event to one task that stores whatever has queued up in a single transaction, and
//! each request is answered once its row is committed. One commit per request made the write
//! transaction the hook's ceiling (SQLite has one writer; PostgreSQL pays a WAL flush per
//! commit); batching what arrives while the previous commit runs keeps "stored before 2xx"
//! and lifts that ceiling. An idle intake commits each event alone, at once: nothing waits for
//! a batch to fill.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use dpc_store::events::{InboundOutcome, NewInbound};
use dpc_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Rows in one transaction at most.
const MAX_BATCH: usize = 256;
/// Requests queued for the writer at most; the next one waits for room (backpressure on the
/// hook, whose request timeout bounds the wait).
const QUEUE: usize = 4096;

/// One event to store, and where its outcome goes.
struct Pending {
    connection_id: String,
    dedup_key: String,
    kind: &'static str,
    payload: String,
    /// A content key's resource (`Inbound::chain_prefix`): the key stored is chained to that
    /// resource's latest event (`dpc_core::events::chained_key`).
    chain: Option<String>,
    done: oneshot::Sender<Result<InboundOutcome, StoreError>>,
}

/// The writer's queue; its task starts on first use and ends when the state is dropped.
#[derive(Default)]
pub struct Batcher {
    tx: OnceLock<mpsc::Sender<Pending>>,
}

impl Batcher {
    /// Stores one event (with whatever else is queued) and answers its outcome once committed.
    pub async fn insert(
        &self,
        store: &Arc<dyn Store>,
        connection_id: &str,
        dedup_key: &str,
        kind: &'static str,
        payload: String,
        chain: Option<String>,
    ) -> Result<InboundOutcome, StoreError> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(write_batches(store.clone(), rx));
            tx
        });
        let (done, outcome) = oneshot::channel();
        let pending = Pending {
            connection_id: connection_id.to_owned(),
            dedup_key: dedup_key.to_owned(),
            kind,
            payload,
            chain,
            done,
        };
        let gone = || StoreError::Database("the intake writer stopped".into());
        tx.send(pending).await.map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }
}

async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        resolve_chains(&store, &mut batch).await;
        if batch.is_empty() {
            continue;
        }
        let rows: Vec<NewInbound<'_>> = batch
            .iter()
            .map(|p| NewInbound {
                connection_id: &p.connection_id,
                dedup_key: &p.dedup_key,
                kind: p.kind,
                payload: &p.payload,
                chain: p.chain.as_deref(),
            })
            .collect();
        let result = store.insert_inbound(&rows).await;
        drop(rows);
        match result {
            Ok(outcomes) if outcomes.len() == batch.len() => {
                for (p, o) in batch.drain(..).zip(outcomes) {
                    // A request that gave up (client gone) finds its row stored anyway:
                    // Dialpad's retry is then a duplicate.
                    let _ = p.done.send(Ok(o));
                }
            }
            Ok(_) => {
                for p in batch.drain(..) {
                    let _ = p.done.send(Err(StoreError::Database(
                        "the store answered a different number of rows".into(),
                    )));
                }
            }
            Err(e) => {
                // The whole transaction rolled back: every request in it fails (503, and
                // Dialpad retries each).
                let message = e.to_string();
                for p in batch.drain(..) {
                    let _ = p.done.send(Err(StoreError::Database(message.clone())));
                }
            }
        }
    }
}

/// Gives each content-keyed event (a contact's, which has no time) the key chained to its
/// resource's latest event, in arrival order (an earlier one in this batch counts), and answers
/// the repeats of that latest event as duplicates, taking them out of the batch. These events
/// are rare next to calls: one indexed read per resource and batch.
async fn resolve_chains(store: &Arc<dyn Store>, batch: &mut Vec<Pending>) {
    if batch.iter().all(|p| p.chain.is_none()) {
        return;
    }
    let mut latest: HashMap<(String, String), Option<String>> = HashMap::new();
    let mut kept = Vec::with_capacity(batch.len());
    for mut p in batch.drain(..) {
        let Some(chain) = p.chain.clone() else {
            kept.push(p);
            continue;
        };
        let slot = (p.connection_id.clone(), chain);
        let prev = match latest.get(&slot) {
            Some(prev) => prev.clone(),
            None => match store.latest_inbound_key(&slot.0, &slot.1).await {
                Ok(prev) => prev,
                Err(e) => {
                    let _ = p.done.send(Err(e));
                    continue;
                }
            },
        };
        match dpc_core::events::chained_key(&p.dedup_key, prev.as_deref()) {
            None => {
                let _ = p.done.send(Ok(InboundOutcome::Duplicate));
                latest.insert(slot, prev);
            }
            Some(key) => {
                p.dedup_key.clone_from(&key);
                latest.insert(slot, Some(key));
                kept.push(p);
            }
        }
    }
    *batch = kept;
}
