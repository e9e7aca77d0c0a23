//! The delivery worker: claims due deliveries from the store's outbox, signs each per Standard
//! Webhooks, POSTs it, and settles it (delivered, retry at a persisted time, or given up on).
//!
//! Nothing waits in memory: what is not in flight is in the store, so a receiver that is down
//! costs rows, not RAM, and a killed process loses nothing (its leases run out and the
//! deliveries are claimed again, with the same `webhook-id`). In flight is bounded in total
//! (a semaphore) and per endpoint (the claim). Settlements are written in batches by one task.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpc_store::events::{now_ms, AttemptResult, DueDelivery, Settle, Settlement};
use dpc_store::Store;
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, Notify, Semaphore};

use super::WebhooksConfig;

/// How much of a receiver's answer is kept with the attempt.
const RESPONSE_KEEP: usize = 1024;
/// How long an endpoint's secrets are reused from memory (rotation and deletion clear it).
const SECRETS_TTL: Duration = Duration::from_secs(10);
/// The shortest wait a `Retry-After` may ask for.
const RETRY_AFTER_MIN: Duration = Duration::from_secs(1);
/// The longest a `Retry-After` may push a retry back.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);
/// The worker looks at the outbox at least this often (another instance may have added to it).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// The handle the rest of the server holds: wake the worker when something was published, and
/// forget cached secrets when an endpoint changed.
/// An endpoint's signing secrets (current first) and when they were read.
type CachedSecrets = (Instant, Arc<Vec<String>>);

#[derive(Default)]
pub struct DeliveryHandle {
    notify: Notify,
    secrets: parking_lot::Mutex<HashMap<String, CachedSecrets>>,
}

impl DeliveryHandle {
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    pub fn endpoints_changed(&self) {
        self.secrets.lock().clear();
        self.wake();
    }

    /// The secrets to sign with (current first), from memory or the store; the lock is never
    /// held across the store call.
    async fn secrets_of(&self, store: &dyn Store, endpoint_id: &str) -> Option<Arc<Vec<String>>> {
        if let Some((at, s)) = self.secrets.lock().get(endpoint_id) {
            if at.elapsed() < SECRETS_TTL {
                return Some(s.clone());
            }
        }
        let s = store.endpoint_secrets(endpoint_id).await.ok()??;
        let mut list = vec![s.current.expose_secret().to_owned()];
        if let Some(p) = s.previous {
            list.push(p.expose_secret().to_owned());
        }
        let list = Arc::new(list);
        let mut map = self.secrets.lock();
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(endpoint_id.to_owned(), (Instant::now(), list.clone()));
        Some(list)
    }
}

/// What one attempt found, before it is settled.
struct Outcome {
    delivery: DueDelivery,
    result: AttemptResult,
    retry_after: Option<Duration>,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.result
            .status_code
            .is_some_and(|s| (200..300).contains(&s))
    }
}

/// The delivery HTTP client: no redirects (a redirect could point inward, past the SSRF
/// check), no proxy, every connection's addresses checked by the guarded resolver.
pub fn client(config: &WebhooksConfig) -> reqwest::Client {
    crate::ssrf::delivery_client_builder(config.allow_private_urls)
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("dialpad-connector/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Runs the worker until the task is aborted.
pub async fn run(store: Arc<dyn Store>, handle: Arc<DeliveryHandle>, config: WebhooksConfig) {
    let http = client(&config);
    let slots = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    let (tx, rx) = mpsc::channel::<Outcome>(4096);
    let lease_ms =
        i64::try_from((config.timeout + Duration::from_secs(30)).as_millis()).unwrap_or(i64::MAX);
    let settler = tokio::spawn(settle_loop(
        store.clone(),
        handle.clone(),
        config.clone(),
        rx,
    ));
    loop {
        let free = slots.available_permits();
        if free == 0 {
            // Wait for one to come back, then claim as many as are free.
            if let Ok(p) = slots.clone().acquire_owned().await {
                drop(p);
            }
            continue;
        }
        let asked = free.min(256);
        let due = match store
            .claim_deliveries(asked as u32, config.per_endpoint, lease_ms)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "claiming deliveries failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Fewer than asked: nothing more is claimable now. Claiming again at once would take
        // the writer for a row or none (the endpoints at their limit until a settlement), so
        // the worker waits as when it found nothing.
        let short = due.len() < asked;
        let claimed_some = !due.is_empty();
        spawn_attempts(due, &slots, &http, &store, &handle, &tx, &config).await;
        if settler.is_finished() {
            tracing::error!("the delivery settler stopped; the worker stops too");
            return;
        }
        if short {
            // Nothing (more) claimable: due later (sleep until then), or due now but held back
            // (behind an earlier delivery of its resource, its endpoint paused or at its
            // limit), which a settlement, a new event or an endpoint change wakes the worker
            // for. When some were claimed, their settlement is the wake-up.
            let due_at = match claimed_some {
                true => None,
                false => store.next_due().await.ok().flatten(),
            };
            let wait = due_at
                .filter(|at| *at > now_ms())
                .map_or(IDLE_POLL, |at| {
                    Duration::from_millis((at - now_ms()) as u64)
                })
                .min(IDLE_POLL);
            tokio::select! {
                () = handle.notify.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Starts one task per claimed delivery, each holding a slot until its outcome is handed to
/// the settler.
async fn spawn_attempts(
    due: Vec<DueDelivery>,
    slots: &Arc<Semaphore>,
    http: &reqwest::Client,
    store: &Arc<dyn Store>,
    handle: &Arc<DeliveryHandle>,
    tx: &mpsc::Sender<Outcome>,
    config: &WebhooksConfig,
) {
    for d in due {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (http, store, handle, tx, config) = (
            http.clone(),
            store.clone(),
            handle.clone(),
            tx.clone(),
            config.clone(),
        );
        tokio::spawn(async move {
            let outcome = attempt(&http, store.as_ref(), &handle, &config, d).await;
            // The settler only stops when the worker does.
            let _ = tx.send(outcome).await;
            drop(permit);
        });
    }
}

async fn attempt(
    http: &reqwest::Client,
    store: &dyn Store,
    handle: &DeliveryHandle,
    config: &WebhooksConfig,
    d: DueDelivery,
) -> Outcome {
    let start = Instant::now();
    let fail = |d: DueDelivery, error: String| Outcome {
        delivery: d,
        result: AttemptResult {
            status_code: None,
            duration_ms: start.elapsed().as_millis() as i64,
            error: Some(error),
            response: None,
        },
        retry_after: None,
    };
    // The literal-address case the resolver never sees, and a URL changed since its check.
    if let Err(e) = crate::ssrf::check_url(&d.url, config.allow_private_urls) {
        return fail(d, format!("refused: {e}"));
    }
    let Some(secrets) = handle.secrets_of(store, &d.endpoint_id).await else {
        return fail(d, "the endpoint's secret could not be read".into());
    };
    let ts = chrono::Utc::now().timestamp();
    let keys: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let signature =
        match dpc_core::events::signature_header(&keys, &d.event_id, ts, d.body.as_bytes()) {
            Ok(s) => s,
            Err(e) => return fail(d, format!("signing failed: {e}")),
        };
    let sent = http
        .post(&d.url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .header("x-connector-id", &d.connector_id)
        .header("x-owner-id", &d.owner_id)
        .header("x-idempotency-key", &d.event_id)
        .body(d.body.clone())
        .send()
        .await;
    let mut resp = match sent {
        Ok(r) => r,
        // Without the URL: an endpoint URL may carry a token of the app's.
        Err(e) => return fail(d, describe(&e.without_url())),
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_KEEP {
        match resp.chunk().await {
            Ok(Some(c)) => kept.extend_from_slice(&c[..c.len().min(RESPONSE_KEEP - kept.len())]),
            _ => break,
        }
    }
    Outcome {
        delivery: d,
        result: AttemptResult {
            status_code: Some(status),
            duration_ms: start.elapsed().as_millis() as i64,
            error: (!(200..300).contains(&status)).then(|| format!("answered {status}")),
            response: (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned()),
        },
        retry_after,
    }
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    // The source chain says why (refused, DNS, TLS, the SSRF guard) without the URL.
    let mut why = String::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        why = s.to_string();
        src = s.source();
    }
    if why.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {why}")
    }
}

/// When to try again after failed attempt number `attempt` (1-based); `None`: give up.
pub fn next_attempt(
    config: &WebhooksConfig,
    attempt: i64,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let idx = usize::try_from(attempt.max(1) - 1).ok()?;
    let base = *config.retry_schedule.get(idx)?;
    // ±20 % jitter, so receivers that came back are not hit by every retry at once.
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    let wait = base.mul_f64(jitter);
    Some(match retry_after {
        // At least a second: `Retry-After: 0` would otherwise spend the whole schedule at once.
        Some(ra) => ra.clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX),
        None => wait,
    })
}

async fn settle_loop(
    store: Arc<dyn Store>,
    handle: Arc<DeliveryHandle>,
    config: WebhooksConfig,
    mut rx: mpsc::Receiver<Outcome>,
) {
    // Endpoints seen succeeding since this process started: a success clears the failing run
    // once, not on every delivery.
    let mut healthy: HashSet<String> = HashSet::new();
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        let now = now_ms();
        let mut settlements = Vec::with_capacity(batch.len());
        let mut gone: Vec<String> = Vec::new();
        let mut failing: Vec<String> = Vec::new();
        for o in batch.drain(..) {
            let settle = if o.ok() {
                let age = now - o.delivery.created_at;
                crate::metrics::event_delivered(Duration::from_millis(age.max(0) as u64));
                if healthy.insert(o.delivery.endpoint_id.clone()) {
                    if let Err(e) = store
                        .mark_endpoint_failing(&o.delivery.endpoint_id, None)
                        .await
                    {
                        tracing::warn!(error = %e, "clearing an endpoint's failing run failed");
                    }
                }
                Settle::Delivered
            } else if o.result.status_code == Some(410) {
                crate::metrics::event_delivery_failed();
                crate::metrics::event_dead_lettered();
                gone.push(o.delivery.endpoint_id.clone());
                Settle::Failed
            } else {
                healthy.remove(&o.delivery.endpoint_id);
                failing.push(o.delivery.endpoint_id.clone());
                crate::metrics::event_delivery_failed();
                match next_attempt(&config, o.delivery.attempt, o.retry_after) {
                    Some(wait) => {
                        crate::metrics::event_retried();
                        Settle::RetryAt(now + wait.as_millis() as i64)
                    }
                    None => {
                        crate::metrics::event_dead_lettered();
                        Settle::Failed
                    }
                }
            };
            settlements.push(Settlement {
                delivery_id: o.delivery.id.clone(),
                attempt: o.delivery.attempt,
                result: o.result,
                settle,
            });
        }
        // Written until it sticks: a settlement lost here would mean a resend, not a loss, but
        // resends are what the lease is for, not a database hiccup.
        let mut tries = 0;
        while let Err(e) = store.settle_deliveries(&settlements).await {
            tries += 1;
            tracing::warn!(error = %e, tries, "settling deliveries failed; retrying");
            if tries >= 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
        }
        gone.sort();
        gone.dedup();
        for id in gone {
            tracing::info!(endpoint = %id, "endpoint answered 410 Gone: disabled");
            let _ = store
                .disable_endpoint(&id, "the endpoint answered 410 Gone")
                .await;
            handle.endpoints_changed();
        }
        failing.sort();
        failing.dedup();
        for id in failing {
            match store.mark_endpoint_failing(&id, Some(now)).await {
                Ok(Some(since)) if now - since >= config.disable_after.as_millis() as i64 => {
                    tracing::warn!(endpoint = %id, "endpoint failing too long: disabled");
                    let reason = format!("every delivery failed since {}", super::iso_ms(since));
                    let _ = store.disable_endpoint(&id, &reason).await;
                    handle.endpoints_changed();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "marking an endpoint failing failed"),
            }
        }
        handle.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_with_jitter_then_stop() {
        let c = WebhooksConfig::default();
        for _ in 0..100 {
            let w = next_attempt(&c, 1, None).unwrap();
            assert!(
                w >= Duration::from_secs(4) && w <= Duration::from_secs(6),
                "{w:?}"
            );
        }
        let last = next_attempt(&c, 7, None).unwrap();
        assert!(last >= Duration::from_secs(480 * 60));
        assert_eq!(
            next_attempt(&c, 8, None),
            None,
            "seven retries, then given up"
        );
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let c = WebhooksConfig::default();
        let w = next_attempt(&c, 1, Some(Duration::from_secs(120))).unwrap();
        assert_eq!(w, Duration::from_secs(120));
        let w = next_attempt(&c, 1, Some(Duration::from_secs(86_400))).unwrap();
        assert_eq!(w, RETRY_AFTER_MAX);
        // A Retry-After shorter than the schedule is taken as the receiver asks, down to 1 s.
        let w = next_attempt(&c, 3, Some(Duration::from_secs(1))).unwrap();
        assert_eq!(w, Duration::from_secs(1));
        let w = next_attempt(&c, 3, Some(Duration::ZERO)).unwrap();
        assert_eq!(w, RETRY_AFTER_MIN);
        assert_eq!(next_attempt(&c, 8, Some(Duration::from_secs(1))), None);
    }
}
