//! Serving routers on bound listeners until a shutdown is triggered (SIGTERM/SIGINT in `warnkit serve`),
//! with every connection bounded ([`ListenerLimits`]).
//!
//! Each listener accepts only while fewer than `max_connections` of its connections are open: at the
//! cap it stops calling `accept`, so further clients wait in the kernel's backlog and hold no
//! descriptor of this process, and one port flooded with idle connections cannot take the descriptors
//! the other ports need. An open connection is closed when its request head takes longer than
//! `header_timeout_ms` (counted from the connection's start, or from the first byte of a later
//! request), when it waits longer than `idle_timeout_ms` for its next request, or when a response
//! makes no progress for `idle_timeout_ms` because the client does not read; a request body not
//! received within `body_timeout_ms` of its head gets a JSON 408 and the connection closes.
//!
//! Refusals of the HTTP layer carry the JSON envelope ([`AppError`]) like every other error: a
//! request target over [`MAX_URI`] bytes gets 414, more than [`MAX_HEADERS`] header fields or a head
//! over [`MAX_HEAD`] bytes 431, an unparsable request 400 (`server/connection.rs` says how hyper's own
//! refusals get the envelope).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::Router;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::AppError;

mod connection;

/// The longest request target (path and query) accepted: 414 above.
pub const MAX_URI: usize = 8 * 1024;
/// The largest request head (request line and headers) accepted: 431 above.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most header fields a request may carry: 431 above.
pub const MAX_HEADERS: usize = 64;
/// However low the descriptor limit, a listener's cap is never fitted below this.
pub const MIN_CONNECTIONS: usize = 16;

/// How every listener bounds its connections (`[listeners]` in the configuration file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerLimits {
    /// Most milliseconds for a request head (request line and headers) to arrive, counted from the
    /// connection's start or, on a kept-alive connection, from the first byte of the request; the
    /// connection is closed after that.
    pub header_timeout_ms: u64,
    /// Most milliseconds for a request body to arrive, counted from its complete head: 408 after that,
    /// and the connection is closed.
    pub body_timeout_ms: u64,
    /// Most milliseconds a kept-alive connection waits for its next request, and a response may make
    /// no progress because the client does not read it; the connection is closed after that.
    pub idle_timeout_ms: u64,
    /// Most open connections per listener; further clients wait in the kernel's backlog until one
    /// closes. `warnkit serve` lowers it so that every listener at its cap stays within the process's
    /// descriptor limit ([`ListenerLimits::fitted`]).
    pub max_connections: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            // A head is one or two TCP segments: 10 s cover three retransmissions (1 + 2 + 4 s) on a
            // lossy mobile link.
            header_timeout_ms: 10_000,
            // The largest body is an upload of 100 kB: 10 s at 10 kB/s (2G), with threefold headroom.
            body_timeout_ms: 30_000,
            // Long enough for a phone's burst of requests (register, poll, TAN, upload; a day's
            // downloads) to share one connection, short enough that idle ones do not pile up.
            idle_timeout_ms: 30_000,
            // With the timeouts above, plenty for one machine; behind a load balancer or a CDN the
            // connections are pooled and far fewer.
            max_connections: 1_024,
        }
    }
}

impl ListenerLimits {
    /// [`header_timeout_ms`](Self::header_timeout_ms) as a duration.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms.max(1))
    }

    /// [`body_timeout_ms`](Self::body_timeout_ms) as a duration.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms.max(1))
    }

    /// [`idle_timeout_ms`](Self::idle_timeout_ms) as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.max(1))
    }

    /// These limits with `max_connections` lowered, if needed, so that `shares` listeners at their cap
    /// plus `reserved` other descriptors (database connections, files, the runtime) fit into a limit of
    /// `descriptors`; never below [`MIN_CONNECTIONS`].
    pub fn fitted(self, descriptors: u64, reserved: u64, shares: usize) -> Self {
        let share = descriptors.saturating_sub(reserved) / shares.max(1) as u64;
        let share = usize::try_from(share).unwrap_or(usize::MAX);
        Self {
            max_connections: self.max_connections.min(share).max(MIN_CONNECTIONS),
            ..self
        }
    }
}

/// The JSON refusal of the HTTP layer for `status`: what the connection loops answer (and hyper's own
/// empty refusals are replaced with) when a request cannot be read.
pub fn refusal(status: StatusCode) -> AppError {
    match status {
        StatusCode::BAD_REQUEST => {
            AppError::bad_request("malformed_request", "malformed HTTP request")
        }
        StatusCode::REQUEST_TIMEOUT => AppError::new(
            status,
            "request_timeout",
            "request body not received in time",
        ),
        StatusCode::LENGTH_REQUIRED => AppError::new(
            status,
            "length_required",
            "a request body needs a content-length",
        ),
        StatusCode::URI_TOO_LONG => AppError::new(
            status,
            "uri_too_long",
            format!("request target over {MAX_URI} bytes"),
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => AppError::new(
            status,
            "headers_too_large",
            format!("request head over {MAX_HEAD} bytes or over {MAX_HEADERS} header fields"),
        ),
        other => AppError::new(
            other,
            "refused",
            other.canonical_reason().unwrap_or("refused"),
        ),
    }
}

/// Triggers the shutdown of every server holding a matching [`Shutdown`].
#[derive(Debug, Clone)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Resolves when shutdown was triggered; clone one per server or background job.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A connected trigger and receiver.
pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// Asks everything to stop: servers finish in-flight requests, jobs stop between runs.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// Waits until shutdown is triggered (or the trigger is dropped).
    pub async fn wait(mut self) {
        // An error means the trigger is gone, which also means nobody can keep us running.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether shutdown was already triggered.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Sleeps for `period` unless shutdown is triggered (or was already): true when the period passed,
    /// false when it is time to stop.
    pub async fn sleep(&mut self, period: Duration) -> bool {
        tokio::select! {
            // An error means the trigger is gone, which also means nobody can keep us running.
            _ = self.0.wait_for(|stop| *stop) => false,
            () = tokio::time::sleep(period) => true,
        }
    }
}

/// Serves `router` on `listener` with the default [`ListenerLimits`] until `shutdown`, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, ListenerLimits::default()).await
}

/// Serves `router` on `listener` within `limits` until `shutdown`, then lets in-flight requests
/// finish (idle connections close at once).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    limits: ListenerLimits,
) -> std::io::Result<()> {
    Acceptor::new(listener, &limits)
        .serve_each(&shutdown, |stream, permit| {
            connection::serve(stream, router.clone(), limits, shutdown.clone(), permit)
        })
        .await;
    Ok(())
}

/// Accepts connections on a listener while fewer than its cap are open.
#[derive(Debug)]
pub struct Acceptor {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    max: usize,
    /// When the cap was last reported, so a listener kept at its cap logs once a minute.
    warned: Option<Instant>,
}

/// An open connection's place under its listener's cap; dropping it frees the place.
pub type ConnectionPermit = OwnedSemaphorePermit;

impl Acceptor {
    /// Runs `connection` on every connection accepted until `shutdown`, each on a task of its own with
    /// its place under the cap, then waits for the running ones to finish.
    pub async fn serve_each<F, Fut>(mut self, shutdown: &Shutdown, mut connection: F)
    where
        F: FnMut(TcpStream, ConnectionPermit) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut connections = JoinSet::new();
        while let Some((stream, permit)) = self.accept(shutdown).await {
            // Reap finished connections as we go, so the set holds only open ones.
            while connections.try_join_next().is_some() {}
            connections.spawn(connection(stream, permit));
        }
        while connections.join_next().await.is_some() {}
    }

    /// Accepts on `listener` up to `limits.max_connections` open connections.
    pub fn new(listener: TcpListener, limits: &ListenerLimits) -> Self {
        let max = limits.max_connections.max(1);
        Self {
            listener,
            permits: Arc::new(Semaphore::new(max)),
            max,
            warned: None,
        }
    }

    /// The next connection (with `TCP_NODELAY`: answers leave in one write) and its place under the
    /// cap, which the connection holds until it closes; `None` once `shutdown` is triggered. At the cap
    /// this waits for a connection to close before it accepts.
    pub async fn accept(&mut self, shutdown: &Shutdown) -> Option<(TcpStream, ConnectionPermit)> {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self
                    .warned
                    .is_none_or(|at| at.elapsed() > Duration::from_secs(60))
                {
                    self.warned = Some(Instant::now());
                    tracing::warn!(
                        max_connections = self.max,
                        "listener at its connection cap; new clients wait until a connection closes"
                    );
                }
                tokio::select! {
                    permit = Arc::clone(&self.permits).acquire_owned() => permit.ok()?,
                    () = shutdown.clone().wait() => return None,
                }
            }
        };
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = shutdown.clone().wait() => return None,
            };
            match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    return Some((stream, permit));
                }
                // The client gave up before we took it: nothing to wait for.
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Out of descriptors despite the cap (another part of the process took them):
                    // wait for some to close instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                        () = shutdown.clone().wait() => return None,
                    }
                }
            }
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn termination_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_fit_the_descriptor_limit() {
        let limits = ListenerLimits::default();
        // Plenty of descriptors: the configured cap stands.
        assert_eq!(limits.fitted(1 << 20, 304, 9).max_connections, 1_024);
        // 1,024 descriptors, 304 kept for databases and files, 9 shares: 80 each.
        assert_eq!(limits.fitted(1_024, 304, 9).max_connections, 80);
        // Too few for anything: the floor.
        assert_eq!(limits.fitted(256, 304, 9).max_connections, MIN_CONNECTIONS);
        assert_eq!(limits.fitted(1_024, 304, 0).max_connections, 720);
        // A lower configured cap is kept.
        let low = ListenerLimits {
            max_connections: 20,
            ..limits
        };
        assert_eq!(low.fitted(1 << 20, 304, 9).max_connections, 20);
    }

    #[test]
    fn refusals_have_codes() {
        assert_eq!(refusal(StatusCode::URI_TOO_LONG).code, "uri_too_long");
        assert_eq!(
            refusal(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).code,
            "headers_too_large"
        );
        assert_eq!(refusal(StatusCode::BAD_REQUEST).status, 400);
        assert_eq!(refusal(StatusCode::IM_A_TEAPOT).code, "refused");
    }
}
