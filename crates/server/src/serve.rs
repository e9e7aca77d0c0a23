//! The accept loop: one hyper HTTP/1.1 connection per accepted socket, with a header read
//! timeout, a cap on connections served at once, `TCP_NODELAY`, and graceful shutdown.
//!
//! Why not `axum::serve`: it builds hyper's connections without a timer, which turns hyper's
//! header read timeout off (a client that never finishes its headers holds a socket and a task
//! until it hangs up), and it has no connection cap. Every piece here is hyper's or
//! hyper-util's (`http1::Builder`, `TokioTimer`, `TowerToHyperService`, `GracefulShutdown`);
//! only the loop tying them together is ours.
//!
//! HTTP/1.1 only, on purpose: hyper-util's protocol-detecting `auto` builder reads the first
//! bytes without any timer (a silent client would again be held forever), and this server is
//! reached over plain HTTP/1.1, directly or behind a load balancer that terminates TLS.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What the accept loop enforces per connection (the per-request timeouts are router layers).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits for the
/// connections being served to finish their current request (idle ones close at once).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // hyper starts this clock whenever it waits for a request head: on a new connection
        // and between requests on a keep-alive one, so it is also the idle keep-alive timeout.
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        // A slot is taken before accepting: beyond the cap, new connections wait in the kernel's
        // listen backlog (the client's connect succeeds, its request is read once a slot frees)
        // rather than being accepted and closed, which a client cannot tell from a crash and
        // would retry at once. The header read timeout starts only once accepted, so a queued
        // client loses none of it; a full backlog makes the kernel refuse or drop new SYNs.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        // `acquire_owned` fails only on a closed semaphore, and this one is never closed.
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                accept_error(e).await;
                continue;
            }
        };
        // Responses are written whole or streamed in chunks the client is waiting for; Nagle's
        // algorithm would only hold the last segment back for a delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // Header timeouts, resets, clients that vanish mid-request: theirs, not ours.
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    graceful.shutdown().await;
}

/// A failed `accept`: per-connection failures (the client gave up while queued) are skipped; any
/// other (typically EMFILE, out of file descriptors) is logged and retried after a second, as
/// hyper's and axum's servers do, since closing connections will free descriptors.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
