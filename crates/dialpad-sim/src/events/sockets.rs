//! Websocket delivery: the open connections of every websocket endpoint and the events waiting
//! for one.
//!
//! Dialpad pushes each event of a subscription whose `endpoint_id` is a websocket down every
//! open connection of that websocket, as one text frame: the same HS256 JWT a webhook would be
//! POSTed (or the plain JSON when the websocket has no secret). A connection opened with a
//! subscription's URL only carries that subscription's events; one opened with the websocket's
//! own URL carries them all.
//!
//! Events raised while no connection would carry them wait in a per-websocket buffer of the
//! last [`BUFFER`] frames, handed to the next matching connection before anything newer; older
//! ones are dropped, logged in `/_sim/deliveries` (`ok: false`) and counted in
//! `Stats.websocket_events_dropped`. Frames still queued on a connection when it ends go back to
//! the buffer, so a reconnecting client loses nothing that was not yet written to its socket.
//! Every frame written is logged as a delivery (`ok: true`) and counted in `events_delivered`.
//!
//! All bookkeeping sits behind one mutex taken for short synchronous work (never across an
//! `.await`), so "buffer, then register" on connect and "unregister, then rebuffer" on
//! disconnect are atomic with respect to new events: order per websocket is preserved.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use super::Delivery;
use crate::state::SimInner;

/// Events kept per websocket while no connection carries them (oldest dropped first). It is
/// also the queue length of one connection: a client that stops reading loses the overflow.
pub const BUFFER: usize = 1000;

/// One event, encoded for one subscription, on its way to a websocket.
#[derive(Clone, Debug)]
pub struct Frame {
    pub event_type: &'static str,
    pub subscription_id: i64,
    /// The JWT, or the JSON text when the websocket has no secret.
    pub text: String,
    pub detail: Option<String>,
}

/// What the simulator tells a live connection besides frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Open,
    /// Close with a close frame (the websocket was deleted, the simulator was reset).
    Close,
    /// Cut the TCP connection without a close handshake (`POST /_sim/websockets/drop`).
    Drop,
}

/// The receiving half a connection's task reads.
pub struct Subscriber {
    pub conn_id: u64,
    pub frames: mpsc::Receiver<Frame>,
    pub control: watch::Receiver<Control>,
}

struct Conn {
    id: u64,
    /// `Some(subscription id)` for a URL minted by a subscription: only its events.
    scope: Option<i64>,
    frames: mpsc::Sender<Frame>,
    control: watch::Sender<Control>,
}

impl Conn {
    fn wants(&self, f: &Frame) -> bool {
        self.scope.is_none_or(|s| s == f.subscription_id)
    }
}

#[derive(Default)]
struct Endpoint {
    conns: Vec<Conn>,
    buffer: VecDeque<Frame>,
}

/// Every websocket's connections and buffer, keyed by websocket id.
#[derive(Default)]
pub struct Sockets {
    endpoints: Mutex<HashMap<i64, Endpoint>>,
    next_conn: AtomicU64,
}

impl Sockets {
    /// Hands `frame` to every open connection of `ws_id` that wants it, or buffers it.
    pub fn push(&self, inner: &SimInner, ws_id: i64, frame: Frame) {
        let mut endpoints = self.endpoints.lock();
        let ep = endpoints.entry(ws_id).or_default();
        let mut taken = false;
        for c in ep.conns.iter().filter(|c| c.wants(&frame)) {
            match c.frames.try_send(frame.clone()) {
                Ok(()) => taken = true,
                // A client that stopped reading: its queue is full, this frame is lost for it.
                Err(mpsc::error::TrySendError::Full(f)) => {
                    dropped(inner, ws_id, &f, "the connection's queue is full");
                    taken = true;
                }
                // The connection is ending; it rebuffers what it still holds.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        if !taken {
            ep.buffer.push_back(frame);
            trim(inner, ws_id, &mut ep.buffer);
        }
    }

    /// Registers a connection of `ws_id`; buffered frames it wants are queued on it first.
    pub fn connect(&self, ws_id: i64, scope: Option<i64>) -> Subscriber {
        let (tx, rx) = mpsc::channel(BUFFER);
        let (ctl_tx, ctl_rx) = watch::channel(Control::Open);
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let conn = Conn {
            id,
            scope,
            frames: tx,
            control: ctl_tx,
        };
        let mut endpoints = self.endpoints.lock();
        let ep = endpoints.entry(ws_id).or_default();
        let (mine, others): (VecDeque<Frame>, VecDeque<Frame>) =
            ep.buffer.drain(..).partition(|f| conn.wants(f));
        ep.buffer = others;
        // The buffer holds at most BUFFER frames and the queue takes as many: all fit.
        for f in mine {
            let _ = conn.frames.try_send(f);
        }
        ep.conns.push(conn);
        Subscriber {
            conn_id: id,
            frames: rx,
            control: ctl_rx,
        }
    }

    /// Unregisters a connection; `unsent` (frames it took but never wrote) and whatever is
    /// still queued on it go back to the front of the buffer, unless another open connection
    /// of the websocket already carries them.
    pub fn disconnect(
        &self,
        inner: &SimInner,
        ws_id: i64,
        mut sub: Subscriber,
        unsent: Vec<Frame>,
    ) {
        let mut endpoints = self.endpoints.lock();
        let Some(ep) = endpoints.get_mut(&ws_id) else {
            return;
        };
        ep.conns.retain(|c| c.id != sub.conn_id);
        let mut back = unsent;
        while let Ok(f) = sub.frames.try_recv() {
            back.push(f);
        }
        for f in back.into_iter().rev() {
            if !ep.conns.iter().any(|c| c.wants(&f)) {
                ep.buffer.push_front(f);
            }
        }
        trim(inner, ws_id, &mut ep.buffer);
        if ep.conns.is_empty() && ep.buffer.is_empty() {
            endpoints.remove(&ws_id);
        }
    }

    /// Tells the open connections of `ws_id` (or of every websocket) to close or drop; answers
    /// how many were told.
    pub fn signal(&self, ws_id: Option<i64>, how: Control) -> usize {
        let endpoints = self.endpoints.lock();
        endpoints
            .iter()
            .filter(|(id, _)| ws_id.is_none_or(|w| w == **id))
            .flat_map(|(_, ep)| ep.conns.iter())
            .filter(|c| c.control.send(how).is_ok())
            .count()
    }

    /// Open connections and buffered frames per websocket (`GET /_sim/websockets`).
    pub fn census(&self) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
        let endpoints = self.endpoints.lock();
        let count = |f: fn(&Endpoint) -> usize| {
            endpoints
                .iter()
                .map(|(id, ep)| (id.to_string(), f(ep)))
                .filter(|(_, n)| *n > 0)
                .collect()
        };
        (count(|ep| ep.conns.len()), count(|ep| ep.buffer.len()))
    }

    /// A deleted websocket: its connections close and its buffer goes. Forgetting the
    /// endpoint (not just emptying it) is what keeps a closing connection from rebuffering its
    /// unsent frames for a websocket that no longer exists.
    pub fn remove(&self, ws_id: i64) {
        self.signal(Some(ws_id), Control::Close);
        self.endpoints.lock().remove(&ws_id);
    }

    /// Reset: every connection closes, every buffer goes (ids restart with the seed, so a
    /// new websocket may get an old one's id).
    pub fn clear(&self) {
        self.signal(None, Control::Close);
        self.endpoints.lock().clear();
    }
}

/// Keeps the newest [`BUFFER`] frames, logging and counting the ones that fall off.
fn trim(inner: &SimInner, ws_id: i64, buffer: &mut VecDeque<Frame>) {
    while buffer.len() > BUFFER {
        if let Some(f) = buffer.pop_front() {
            dropped(
                inner,
                ws_id,
                &f,
                "buffer full while no socket was connected",
            );
        }
    }
}

fn dropped(inner: &SimInner, ws_id: i64, f: &Frame, why: &str) {
    inner.stats.lock().websocket_events_dropped += 1;
    inner.events.record(log_entry(
        ws_id,
        f,
        None,
        false,
        Some(format!("dropped: {why}")),
    ));
}

/// A frame written to a socket whose URL (token left out) was `url`.
pub fn delivered(inner: &SimInner, ws_id: i64, f: &Frame, url: &str) {
    inner.stats.lock().events_delivered += 1;
    inner
        .events
        .record(log_entry(ws_id, f, Some(url.to_owned()), true, None));
}

fn log_entry(
    ws_id: i64,
    f: &Frame,
    url: Option<String>,
    ok: bool,
    error: Option<String>,
) -> Delivery {
    Delivery {
        event_type: f.event_type,
        endpoint: "websocket",
        subscription_id: f.subscription_id,
        webhook_id: None,
        websocket_id: Some(ws_id),
        url: url.unwrap_or_default(),
        attempt: 1,
        status: None,
        ok,
        error,
        last: true,
        detail: f.detail.clone(),
        at: crate::wire::now_ms(),
    }
}
