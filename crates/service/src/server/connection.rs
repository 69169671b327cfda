//! One HTTP/1 connection on hyper, bounded by [`ListenerLimits`].
//!
//! **Timeouts.** hyper 1.12's `header_read_timeout` starts as soon as a connection waits for a head,
//! the idle time between two kept-alive requests included (`Conn::poll_read_head` arms it on every
//! return to the initial state), so one timer cannot give a short bound on a slow head and a longer
//! one on an idle connection. It is off here; the connection's [`Activity`], updated by the IO
//! wrapper ([`Tracked`]) and the service ([`Handler`]), says which bound runs, and a watchdog beside
//! hyper closes the connection when it passes: the header timeout from the connection's start or from
//! the first byte of a later request until the router has the request, the idle timeout between
//! requests, and the idle timeout again while a response write makes no progress (the client does
//! not read). The body timeout runs in the service: a request whose body is not complete within it is
//! answered 408 (and the router's future dropped).
//!
//! **Refusals.** hyper answers some requests itself, before any service sees them, with an empty
//! body: 400 when it cannot parse one, 431 for a head over `max_header_size` ([`MAX_HEAD`]) or more
//! than 100 header fields, 414 for a target over 64 KiB. Those answers are the only bytes hyper writes
//! while no request is in progress (it reads the next head only once the last response is flushed),
//! so [`Tracked`] recognises them by that and writes the JSON envelope with the same status in their
//! place. Smaller limits are checked before the router: a target over [`MAX_URI`] bytes gets 414,
//! more than [`MAX_HEADERS`] header fields 431.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower::ServiceExt;

use super::{refusal, ConnectionPermit, ListenerLimits, Shutdown, MAX_HEAD, MAX_HEADERS, MAX_URI};

/// Serves one accepted connection until it closes, breaks a bound, or (between requests) `shutdown`.
pub(super) async fn serve(
    stream: TcpStream,
    router: Router,
    limits: ListenerLimits,
    shutdown: Shutdown,
    permit: ConnectionPermit,
) {
    let activity = Shared::new(Phase::New(Instant::now()));
    let io = TokioIo::new(Tracked {
        stream,
        activity: activity.clone(),
        refusal: None,
    });
    let handler = Handler {
        router,
        activity: activity.clone(),
        body_timeout: limits.body_timeout(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None).max_header_size(MAX_HEAD);
    let mut connection = std::pin::pin!(builder.serve_connection(io, handler));
    let mut watchdog = std::pin::pin!(watchdog(activity.clone(), limits));
    let mut stop = std::pin::pin!(shutdown.wait());
    let mut stopping = false;
    loop {
        tokio::select! {
            // Errors are the client's (reset, broken request) and already answered where possible.
            _ = connection.as_mut() => break,
            // Dropping hyper's connection closes the socket.
            () = &mut watchdog => break,
            () = &mut stop, if !stopping => {
                if activity.lock().quiet() {
                    break;
                }
                // hyper finishes the request in progress and closes.
                connection.as_mut().graceful_shutdown();
                stopping = true;
            }
        }
    }
    drop(permit);
}

/// What a connection is doing, as far as its bounds are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted at the instant, nothing received yet: the header timeout runs.
    New(Instant),
    /// Part of a head is in; the header timeout runs from the instant (a new connection's start, or
    /// the first byte after the previous response).
    Head(Instant),
    /// Between two requests since the instant, nothing of the next one received: the idle timeout runs.
    Idle(Instant),
    /// A request is with the router or its response is being written; `true` once hyper has dropped
    /// the response body, after which the next completed flush ends the request.
    Busy(bool),
}

#[derive(Debug)]
struct Activity {
    phase: Phase,
    /// Since when a write has waited for the client to read.
    stalled: Option<Instant>,
}

impl Activity {
    /// When the connection is to be closed, unless something happens first.
    fn deadline(&self, limits: &ListenerLimits) -> Option<Instant> {
        let phase = match self.phase {
            Phase::New(since) | Phase::Head(since) => Some(since + limits.header_timeout()),
            Phase::Idle(since) => Some(since + limits.idle_timeout()),
            Phase::Busy(_) => None,
        };
        let stall = self.stalled.map(|since| since + limits.idle_timeout());
        match (phase, stall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// No request is in progress (hyper writes nothing but its own refusals now).
    fn between_requests(&self) -> bool {
        !matches!(self.phase, Phase::Busy(_))
    }

    /// Nothing of a request is here: the connection may close at once on shutdown.
    fn quiet(&self) -> bool {
        matches!(self.phase, Phase::New(_) | Phase::Idle(_))
    }

    fn note_write<T>(&mut self, poll: &Poll<io::Result<T>>) {
        match poll {
            Poll::Pending => {
                self.stalled.get_or_insert_with(Instant::now);
            }
            Poll::Ready(_) => self.stalled = None,
        }
    }
}

/// One connection's [`Activity`], shared by its IO, its service, its bodies and its watchdog.
#[derive(Debug, Clone)]
struct Shared(Arc<Mutex<Activity>>);

impl Shared {
    fn new(phase: Phase) -> Self {
        Self(Arc::new(Mutex::new(Activity {
            phase,
            stalled: None,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Activity> {
        // The state is a few plain values, consistent after any panic.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Resolves when the connection has passed a bound.
async fn watchdog(activity: Shared, limits: ListenerLimits) {
    // A deadline set after a check is at least this far from it, so waking this often (or at the
    // deadline, if sooner) is never late.
    let recheck = limits.header_timeout().min(limits.idle_timeout());
    loop {
        let now = Instant::now();
        let deadline = activity.lock().deadline(&limits);
        let next = match deadline {
            Some(deadline) if deadline <= now => return,
            Some(deadline) => deadline.min(now + recheck),
            None => now + recheck,
        };
        tokio::time::sleep_until(next.into()).await;
    }
}

/// The connection's socket, reporting reads, writes and flushes to its [`Activity`], and writing the
/// JSON envelope in place of hyper's empty refusals.
struct Tracked {
    stream: TcpStream,
    activity: Shared,
    /// The JSON refusal written instead of hyper's, and how much of it is out. Once set, the
    /// connection ends after it: hyper closes after a refusal.
    refusal: Option<(Vec<u8>, usize)>,
}

impl Tracked {
    /// Writes the replacement refusal; reports hyper's `consumed` bytes as written once it is out.
    fn poll_refusal(&mut self, cx: &mut Context<'_>, consumed: usize) -> Poll<io::Result<usize>> {
        let Self {
            stream,
            activity,
            refusal,
        } = self;
        let Some((bytes, written)) = refusal else {
            return Poll::Ready(Ok(consumed));
        };
        while *written < bytes.len() {
            let poll = Pin::new(&mut *stream).poll_write(cx, &bytes[*written..]);
            activity.lock().note_write(&poll);
            match poll {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(consumed))
    }

    /// Whether `first` (the start of what hyper writes) is one of its own refusals, to be replaced.
    fn replaces(&mut self, first: Option<&[u8]>) -> bool {
        if self.refusal.is_none() && self.activity.lock().between_requests() {
            self.refusal = first.and_then(replacement).map(|bytes| (bytes, 0));
        }
        self.refusal.is_some()
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let mut activity = this.activity.lock();
            activity.phase = match activity.phase {
                Phase::New(since) => Phase::Head(since),
                Phase::Idle(_) => Phase::Head(Instant::now()),
                other => other,
            };
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replaces(Some(buf)) {
            return this.poll_refusal(cx, buf.len());
        }
        let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.activity.lock().note_write(&poll);
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty()).map(|b| &**b);
        if this.replaces(first) {
            let total = bufs.iter().map(|b| b.len()).sum();
            return this.poll_refusal(cx, total);
        }
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.activity.lock().note_write(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_flush(cx);
        if matches!(poll, Poll::Ready(Ok(()))) {
            let mut activity = this.activity.lock();
            // hyper flushes a response once its body is done: the request is over.
            if activity.phase == Phase::Busy(true) {
                activity.phase = Phase::Idle(Instant::now());
            }
        }
        poll
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The JSON refusal that replaces `written` when that is the start of one of hyper's own.
fn replacement(written: &[u8]) -> Option<Vec<u8>> {
    let rest = written
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| written.strip_prefix(b"HTTP/1.0 "))?;
    let status = StatusCode::from_bytes(rest.get(..3)?).ok()?;
    if !matches!(
        status,
        StatusCode::BAD_REQUEST
            | StatusCode::URI_TOO_LONG
            | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    ) {
        return None;
    }
    let date = written
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .find(|line| line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:"));
    let body = refusal(status).json();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    if let Some(date) = date {
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Some(out)
}

/// The router behind hyper, with the head limits, the body timeout and the connection's [`Activity`].
struct Handler {
    router: Router,
    activity: Shared,
    body_timeout: std::time::Duration,
}

type Answer = Result<Response<ResponseBody>, Infallible>;

impl hyper::service::Service<Request<Incoming>> for Handler {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.activity.lock().phase = Phase::Busy(false);
        let end = ResponseEnd(self.activity.clone());
        if let Some(status) = over_limits(&request) {
            let response = closing(refusal(status).into_response());
            return Box::pin(std::future::ready(Ok(with_end(response, end))));
        }
        let router = self.router.clone();
        if request.body().is_end_stream() {
            return Box::pin(async move {
                let Ok(response) = router.oneshot(request).await;
                Ok(with_end(response, end))
            });
        }
        let received = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| RequestBody {
            body,
            received: Arc::clone(&received),
        });
        let deadline = tokio::time::Instant::now() + self.body_timeout;
        Box::pin(async move {
            let response = tokio::select! {
                response = router.oneshot(request) => {
                    let Ok(response) = response;
                    response
                }
                () = body_overdue(deadline, &received) => {
                    closing(refusal(StatusCode::REQUEST_TIMEOUT).into_response())
                }
            };
            Ok(with_end(response, end))
        })
    }
}

/// The limits hyper does not check as tightly: the target's length and the number of header fields.
fn over_limits<B>(request: &Request<B>) -> Option<StatusCode> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if target > MAX_URI {
        Some(StatusCode::URI_TOO_LONG)
    } else if request.headers().len() > MAX_HEADERS {
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
    } else {
        None
    }
}

/// Resolves at `deadline` unless the body was received by then.
async fn body_overdue(deadline: tokio::time::Instant, received: &AtomicBool) {
    tokio::time::sleep_until(deadline).await;
    if received.load(Ordering::Acquire) {
        std::future::pending::<()>().await;
    }
}

/// `response`, closing the connection after it: the request's body may not have been read to its end.
fn closing(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn with_end(response: axum::response::Response, end: ResponseEnd) -> Response<ResponseBody> {
    response.map(|body| ResponseBody { body, _end: end })
}

/// A request body that says when it has been received in full.
struct RequestBody {
    body: Incoming,
    received: Arc<AtomicBool>,
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let poll = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(poll, Poll::Ready(None)) || self.body.is_end_stream() {
            self.received.store(true, Ordering::Release);
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response body that tells the connection's [`Activity`] when hyper is done with it.
pub(super) struct ResponseBody {
    body: Body,
    _end: ResponseEnd,
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Marks the response as ended when dropped (hyper drops the body once it has written its end).
struct ResponseEnd(Shared);

impl Drop for ResponseEnd {
    fn drop(&mut self) {
        let mut activity = self.0.lock();
        if let Phase::Busy(_) = activity.phase {
            activity.phase = Phase::Busy(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_refusals_are_replaced_with_the_envelope() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";
        let out = String::from_utf8(replacement(hyper).expect("replaced")).expect("utf-8");
        let (head, body) = out.split_once("\r\n\r\n").expect("a head");
        assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
        assert!(
            head.contains("\r\ncontent-type: application/json\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT"),
            "{head}"
        );
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(body["error"], "headers_too_large");
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\n\r\n").is_some());
        assert!(replacement(b"HTTP/1.1 200 OK\r\n\r\n").is_none());
        assert!(replacement(b"{\"some\": \"body\"}").is_none());
    }

    #[test]
    fn deadlines_follow_the_phase() {
        let limits = ListenerLimits {
            header_timeout_ms: 100,
            idle_timeout_ms: 1_000,
            ..ListenerLimits::default()
        };
        let t = Instant::now();
        let ms = std::time::Duration::from_millis;
        let mut a = Activity {
            phase: Phase::New(t),
            stalled: None,
        };
        assert_eq!(a.deadline(&limits), Some(t + ms(100)));
        a.phase = Phase::Idle(t);
        assert_eq!(a.deadline(&limits), Some(t + ms(1_000)));
        a.phase = Phase::Busy(false);
        assert_eq!(a.deadline(&limits), None);
        a.stalled = Some(t);
        assert_eq!(a.deadline(&limits), Some(t + ms(1_000)));
        a.phase = Phase::Head(t);
        assert_eq!(a.deadline(&limits), Some(t + ms(100)));
    }
}
