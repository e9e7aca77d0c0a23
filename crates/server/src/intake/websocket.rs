//! The websocket intake: in websocket mode, one supervisor task per intake reads Dialpad's
//! events from the websocket instead of waiting for POSTs.
//!
//! A round: `GET /api/v2/websockets/{id}` (through the connection's client) for a fresh
//! `websocket_url` (its token expires: Dialpad's live an hour), connect (rustls for `wss://`),
//! hand every text frame to [`accept_token`] (the hook's verification, storage and
//! normalization), and before the URL's expiry fetch a new one and reconnect. A dropped or
//! refused connection is retried with capped exponential backoff and jitter. The supervisor
//! ends when the intake is gone, no longer a websocket, or points at another websocket (the
//! repair loop starts the one it needs), and when Dialpad says the websocket is gone (404: the
//! repair loop recreates it).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use dialpad::Method;
use futures::StreamExt;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::{accept_token, IntakeError};
use crate::AppState;

/// The running supervisors, by connection id.
#[derive(Default)]
pub struct Supervisors(parking_lot::Mutex<HashMap<String, (String, JoinHandle<()>)>>);

impl Supervisors {
    /// Stops the connection's supervisor (its connection was deleted).
    pub fn stop(&self, connection_id: &str) {
        if let Some((_, h)) = self.0.lock().remove(connection_id) {
            h.abort();
        }
    }

    /// Stops every supervisor (the server is shutting down).
    pub fn stop_all(&self) {
        for (_, (_, h)) in self.0.lock().drain() {
            h.abort();
        }
    }
}

/// Starts a supervisor for the connection's websocket `remote_id` unless one runs for it.
pub fn supervise(state: &AppState, connection_id: &str, remote_id: &str) {
    let mut running = state.ws_supervisors.0.lock();
    if let Some((id, h)) = running.get(connection_id) {
        if id == remote_id && !h.is_finished() {
            return;
        }
        h.abort();
    }
    // The task holds a weak reference: a stopped server's state is not kept alive by it.
    let weak = std::sync::Arc::downgrade(&state.0);
    let (conn, remote) = (connection_id.to_owned(), remote_id.to_owned());
    let handle = tokio::spawn(async move { run(weak, conn, remote).await });
    running.insert(connection_id.to_owned(), (remote_id.to_owned(), handle));
}

/// Backoff after `failures` failed rounds in a row: 0.5 s doubling, at most 60 s, times a
/// random 0.5‥1.
pub fn backoff(failures: u32) -> Duration {
    let base = 0.5 * 2f64.powi(failures.min(10) as i32);
    Duration::from_secs_f64(base.min(60.0) * (0.5 + rand::random::<f64>() * 0.5))
}

/// How long before the URL's expiry the supervisor reconnects.
fn renew_after(url: &str, now_secs: i64) -> Duration {
    let exp = url_expiry(url).unwrap_or(now_secs + 3000);
    let left = (exp - now_secs).max(1) as f64;
    // A tenth of the remaining life early, at most a minute.
    Duration::from_secs_f64((left - (left / 10.0).min(60.0)).max(0.5))
}

/// The `exp` (epoch seconds) of the JWT at the end of a websocket URL's path, if it has one.
fn url_expiry(url: &str) -> Option<i64> {
    let path = url.split(['?', '#']).next()?;
    let token = path.rsplit('/').next()?;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_i64()
}

const CALL_DEADLINE: Duration = Duration::from_secs(20);
const CONNECT_DEADLINE: Duration = Duration::from_secs(20);
/// A connection that stayed up this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

enum Round {
    /// The URL is about to expire: reconnect at once.
    Renew,
    /// Dropped, refused or failed: back off.
    Failed(String),
    /// Nothing to supervise any more.
    Stop,
}

async fn run(weak: std::sync::Weak<crate::Inner>, connection_id: String, remote_id: String) {
    let mut failures = 0u32;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let state = AppState(inner);
        let started = std::time::Instant::now();
        match round(&state, &connection_id, &remote_id).await {
            Round::Stop => return,
            Round::Renew => failures = 0,
            Round::Failed(why) => {
                if started.elapsed() > HEALTHY_AFTER {
                    failures = 0;
                }
                let wait = backoff(failures);
                failures = failures.saturating_add(1);
                tracing::info!(connection = %connection_id, error = %why,
                    wait_ms = wait.as_millis() as u64, "Dialpad event websocket down; reconnecting");
                drop(state);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

async fn round(state: &AppState, connection_id: &str, remote_id: &str) -> Round {
    let intake = match state.store.get_intake(connection_id).await {
        Ok(Some(i)) => i,
        Ok(None) => return Round::Stop,
        Err(e) => return Round::Failed(e.to_string()),
    };
    if intake.mode != "websocket" || intake.remote_id.as_deref() != Some(remote_id) {
        return Round::Stop;
    }
    let conn = match state.store.get_connection_by_id(connection_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Round::Stop,
        Err(e) => return Round::Failed(e.to_string()),
    };
    let secret = match state.store.intake_secret(connection_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Round::Stop,
        Err(e) => return Round::Failed(e.to_string()),
    };
    let client = match state.connection_client(&conn) {
        Ok(cc) => cc.client,
        Err(e) => return Round::Failed(e.message),
    };
    let req = client
        .request(Method::GET, &["websockets", remote_id])
        .max_wait(Duration::from_secs(5));
    let url = match tokio::time::timeout(CALL_DEADLINE, req.send::<Value>()).await {
        Ok(Ok(v)) => match v.get("websocket_url").and_then(Value::as_str) {
            Some(u) => u.to_owned(),
            None => return Round::Failed("Dialpad answered no websocket_url".into()),
        },
        Ok(Err(e)) if e.is_not_found() => {
            tracing::info!(connection = %connection_id, "the Dialpad websocket is gone; the repair loop recreates it");
            return Round::Stop;
        }
        Ok(Err(e)) => return Round::Failed(e.to_string()),
        Err(_) => return Round::Failed("Dialpad did not answer in time".into()),
    };
    drop(client);
    let renew = renew_after(&url, chrono::Utc::now().timestamp());
    let mut ws = match tokio::time::timeout(
        CONNECT_DEADLINE,
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    {
        Ok(Ok((ws, _))) => ws,
        // The URL carries a token: never logged.
        Ok(Err(e)) => return Round::Failed(format!("connecting failed: {}", redact(&e))),
        Err(_) => return Round::Failed("connecting timed out".into()),
    };
    tracing::debug!(connection = %connection_id, "Dialpad event websocket connected");
    let deadline = tokio::time::Instant::now() + renew;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                let _ = ws.close(None).await;
                return Round::Renew;
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    match accept_token(state, connection_id, &secret, text.as_str().as_bytes()).await {
                        Ok(_) => {}
                        Err(IntakeError::Store(e)) => {
                            tracing::warn!(error = %e, connection = %connection_id,
                                "storing a Dialpad websocket event failed; the event is lost");
                        }
                        Err(e) => tracing::info!(reason = e.reason(), connection = %connection_id,
                            "Dialpad websocket event refused"),
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Round::Failed("closed by Dialpad".into()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Round::Failed(redact(&e)),
            }
        }
    }
}

/// A websocket error without the URL (whose token is a credential).
fn redact(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::Http(r) => format!("HTTP {}", r.status()),
        E::Url(_) => "bad websocket URL".into(),
        E::Io(io) => format!("I/O: {}", io.kind()),
        E::Tls(_) => "TLS failure".into(),
        E::ConnectionClosed | E::AlreadyClosed => "connection closed".into(),
        E::Protocol(p) => format!("protocol: {p}"),
        E::Capacity(c) => format!("capacity: {c}"),
        _ => "websocket failure".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        for n in 0..40 {
            let b = backoff(n);
            assert!(b <= Duration::from_secs(60), "{b:?}");
            assert!(b >= Duration::from_millis(250), "{b:?}");
        }
        assert!(backoff(20) >= Duration::from_secs(30));
    }

    #[test]
    fn renewal_comes_before_the_url_expires() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"exp":4600}"#);
        let url = format!("wss://events.dialpad.test/events/h.{claims}.s");
        assert_eq!(url_expiry(&url), Some(4600));
        // An hour left: a minute early.
        assert_eq!(renew_after(&url, 1000), Duration::from_secs(3540));
        // Ten seconds left: one early.
        assert_eq!(renew_after(&url, 4590), Duration::from_secs(9));
        assert_eq!(url_expiry("ws://x/events/opaque"), None);
    }
}
