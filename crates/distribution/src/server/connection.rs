//! The connection loop of [`StaticFiles::serve`]: requests parsed here, published files answered
//! from the cache, everything else handed to the port's router; within the listener's bounds.
//!
//! Bounds, as on every other port (`warnkit_service::server`): a head must be complete within the
//! header timeout of the connection's start or of its first byte; a kept-alive connection waits at
//! most the idle timeout for its next request; a body must be in within the body timeout of its head
//! (408 after); a write gives up when it waited the idle timeout for the client to read. Writes and
//! reads try the socket first and arm a timer only when they have to wait.

use std::io::{self, IoSlice};
use std::time::Instant;

use axum::body::Body;
use axum::http::{self, header, Method, StatusCode};
use axum::Router;
use bytes::{Buf, BytesMut};
use tokio::net::TcpStream;
use tower::ServiceExt;
use warnkit_service::server::{refusal, ListenerLimits, Shutdown, MAX_HEAD, MAX_HEADERS, MAX_URI};
use warnkit_service::AppError;

use super::{matches_etag, Cached, Outcome, StaticFiles};

/// The largest request body passed to the fallback router; nothing on this port takes one.
const MAX_BODY: usize = 64 * 1024;
/// Bodies up to this size are copied behind their head into one write; larger ones are written from
/// the cache as they are, in a vectored write with the heads before them.
const COPY_BODY: usize = 16 * 1024;
/// Answers collected for pipelined requests are written once they exceed this.
const FLUSH_AT: usize = 64 * 1024;

/// An accepted connection and the bounds it is held to.
pub(super) struct Peer {
    stream: TcpStream,
    limits: ListenerLimits,
}

/// How a read ended.
enum Read {
    Data,
    /// End of stream, an error, or the deadline passed: the connection ends.
    Closed,
    TimedOut,
}

impl Peer {
    pub(super) fn new(stream: TcpStream, limits: ListenerLimits) -> Self {
        Self { stream, limits }
    }

    /// Reads more into `buf`, waiting until `deadline` at most (or `shutdown`, when given).
    async fn read(
        &mut self,
        buf: &mut BytesMut,
        deadline: Instant,
        shutdown: Option<&Shutdown>,
    ) -> Read {
        buf.reserve(4096);
        loop {
            match self.stream.try_read_buf(buf) {
                Ok(0) => return Read::Closed,
                Ok(_) => return Read::Data,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Read::Closed,
            }
            let stop = async {
                match shutdown {
                    Some(shutdown) => shutdown.clone().wait().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ready = self.stream.readable() => if ready.is_err() { return Read::Closed },
                () = tokio::time::sleep_until(deadline.into()) => return Read::TimedOut,
                () = stop => return Read::Closed,
            }
        }
    }

    /// Waits until the socket takes more, at most the idle timeout.
    async fn writable(&self) -> io::Result<()> {
        match tokio::time::timeout(self.limits.idle_timeout(), self.stream.writable()).await {
            Ok(ready) => ready,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.stream.try_write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes `a` then `b`, as few system calls as the socket takes.
    async fn write_two(&mut self, mut a: &[u8], mut b: &[u8]) -> io::Result<()> {
        while !a.is_empty() {
            let n = match self
                .stream
                .try_write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
            {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable().await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if n >= a.len() {
                b = &b[n - a.len()..];
                a = &[];
            } else {
                a = &a[n..];
            }
        }
        self.write_all(b).await
    }
}

/// What happens to a connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    /// HTTP/1.1's default.
    KeepAlive,
    /// An HTTP/1.0 client that asked to keep the connection: the response must say it does.
    KeepAlive10,
    Close,
}

/// What one request asks, as far as the connection needs to know.
struct Parsed {
    /// Length of the request head in the buffer.
    head_len: usize,
    connection: Connection,
    /// `Some` for a GET or HEAD without a body: the fast path may answer it.
    simple: Option<SimpleGet>,
}

struct SimpleGet {
    head: bool,
    path: String,
    if_none_match: Vec<Box<[u8]>>,
}

enum Next {
    Request(Parsed),
    Incomplete,
    Bad(StatusCode),
}

/// Parses the request at the start of `buf`.
fn parse(buf: &[u8]) -> Next {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Next::Bad(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        Ok(httparse::Status::Partial) => return Next::Incomplete,
        Err(httparse::Error::TooManyHeaders) => {
            return Next::Bad(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        Err(_) => return Next::Bad(StatusCode::BAD_REQUEST),
    };
    if head_len > MAX_HEAD {
        return Next::Bad(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    let target = request.path.unwrap_or_default();
    if target.len() > MAX_URI {
        return Next::Bad(StatusCode::URI_TOO_LONG);
    }
    let http11 = request.version == Some(1);
    let mut keep_alive = http11;
    let mut has_body = false;
    let mut if_none_match = Vec::new();
    for h in request.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && !http11 {
                    keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("if-none-match") {
            if_none_match.push(h.value.into());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length") && h.value.trim_ascii() != b"0")
        {
            has_body = true;
        }
    }
    let method = request.method.unwrap_or_default();
    let simple = (!has_body && (method == "GET" || method == "HEAD") && target.starts_with('/'))
        .then(|| SimpleGet {
            head: method == "HEAD",
            // As axum's `Uri::path`: the query is not part of the file's name.
            path: target
                .split_once('?')
                .map_or(target, |(path, _)| path)
                .trim_start_matches('/')
                .to_owned(),
            if_none_match,
        });
    let connection = match (keep_alive, http11) {
        (false, _) => Connection::Close,
        (true, true) => Connection::KeepAlive,
        (true, false) => Connection::KeepAlive10,
    };
    Next::Request(Parsed {
        head_len,
        connection,
        simple,
    })
}

/// One connection: answers the requests it sends, in order, until it closes, breaks a rule or a
/// bound, or the server shuts down between requests.
pub(super) async fn serve(files: StaticFiles, mut peer: Peer, router: Router, shutdown: Shutdown) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    // The wait for the next head runs from here: the connection's start, the end of the previous
    // answers, or the first byte after them.
    let mut since = Instant::now();
    // Whether that wait is a kept-alive connection's idle one (nothing of the next request in yet).
    let mut idle = false;
    loop {
        let mut answered = false;
        // Answer every complete request already here (pipelining), then write the answers at once.
        loop {
            let parsed = match parse(&buf) {
                Next::Incomplete => break,
                Next::Request(parsed) => parsed,
                Next::Bad(status) => {
                    error_response(&mut out, &refusal(status));
                    let _ = peer.write_all(&out).await;
                    return;
                }
            };
            answered = true;
            let keep_alive = parsed.connection != Connection::Close;
            let file = match &parsed.simple {
                Some(get) => files.lookup(&get.path).await.ok().flatten(),
                None => None,
            };
            match (file, &parsed.simple) {
                (Some(file), Some(get)) => {
                    buf.advance(parsed.head_len);
                    if respond_file(&files, &mut out, &file, get, parsed.connection) {
                        if peer.write_two(&out, &file.bytes).await.is_err() {
                            return;
                        }
                        out.clear();
                    }
                }
                _ => {
                    let ok =
                        respond_via_router(&mut peer, &mut buf, &mut out, &router, &parsed).await;
                    if !ok {
                        let _ = peer.write_all(&out).await;
                        return;
                    }
                }
            }
            if !keep_alive {
                let _ = peer.write_all(&out).await;
                return;
            }
            if out.len() > FLUSH_AT {
                // A client pipelining many requests gets its answers in bounded pieces.
                if peer.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
        }
        if !out.is_empty() {
            if peer.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if shutdown.is_triggered() {
            return;
        }
        if answered {
            since = Instant::now();
            idle = buf.is_empty();
        }
        let wait = if idle {
            peer.limits.idle_timeout()
        } else {
            peer.limits.header_timeout()
        };
        match peer.read(&mut buf, since + wait, Some(&shutdown)).await {
            Read::Data => {}
            Read::Closed | Read::TimedOut => return,
        }
        if idle {
            // The next request has begun: its head has the header timeout from now.
            idle = false;
            since = Instant::now();
        }
    }
}

/// Appends the response for a cached file to `out`, and counts it. Returns true when the body is too
/// large to copy and must be written after `out`, as it is in the cache.
fn respond_file(
    files: &StaticFiles,
    out: &mut Vec<u8>,
    file: &Cached,
    get: &SimpleGet,
    connection: Connection,
) -> bool {
    let not_modified = matches_etag(get.if_none_match.iter().map(AsRef::as_ref), &file.etag);
    let outcome = if not_modified {
        Outcome::NotModified
    } else {
        Outcome::Ok
    };
    files.count(Some(file), outcome);
    out.extend_from_slice(if not_modified {
        &file.head_not_modified
    } else {
        &file.head_ok
    });
    finish_head(out, connection);
    if not_modified || get.head {
        false
    } else if file.bytes.len() <= COPY_BODY {
        out.extend_from_slice(&file.bytes);
        false
    } else {
        true
    }
}

/// `date`, `connection` when it is not the version's default, and the blank line that ends a head.
fn finish_head(out: &mut Vec<u8>, connection: Connection) {
    out.extend_from_slice(b"date: ");
    http_date(out);
    out.extend_from_slice(match connection {
        Connection::KeepAlive => b"\r\n\r\n".as_slice(),
        Connection::KeepAlive10 => b"\r\nconnection: keep-alive\r\n\r\n".as_slice(),
        Connection::Close => b"\r\nconnection: close\r\n\r\n".as_slice(),
    });
}

/// Hands a request to the port's router and appends its response to `out`. Returns false when the
/// connection must close after `out` is written (a body it cannot take, a broken request).
async fn respond_via_router(
    peer: &mut Peer,
    buf: &mut BytesMut,
    out: &mut Vec<u8>,
    router: &Router,
    parsed: &Parsed,
) -> bool {
    let body_deadline = Instant::now() + peer.limits.body_timeout();
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(buf), Ok(httparse::Status::Complete(_))) {
        error_response(out, &refusal(StatusCode::BAD_REQUEST));
        return false;
    }
    let Ok(method) = Method::from_bytes(request.method.unwrap_or_default().as_bytes()) else {
        error_response(out, &refusal(StatusCode::BAD_REQUEST));
        return false;
    };
    let mut builder = http::Request::builder()
        .method(method)
        .uri(request.path.unwrap_or_default())
        .version(if request.version == Some(0) {
            http::Version::HTTP_10
        } else {
            http::Version::HTTP_11
        });
    let mut length = 0usize;
    for h in request.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Nothing on this port reads a body; a chunked one is refused rather than parsed.
            error_response(out, &refusal(StatusCode::LENGTH_REQUIRED));
            return false;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) if n <= MAX_BODY => length = n,
                Some(_) => {
                    error_response(out, &AppError::payload_too_large(MAX_BODY));
                    return false;
                }
                None => {
                    error_response(out, &refusal(StatusCode::BAD_REQUEST));
                    return false;
                }
            }
        }
        builder = builder.header(h.name, h.value);
    }
    let is_head = request.method == Some("HEAD");
    let Ok(http_request) = builder.body(()) else {
        error_response(out, &refusal(StatusCode::BAD_REQUEST));
        return false;
    };
    buf.advance(parsed.head_len);
    if buf.len() < length && !out.is_empty() {
        // The client may wait for the answers so far before it sends the rest.
        if peer.write_all(out).await.is_err() {
            return false;
        }
        out.clear();
    }
    while buf.len() < length {
        match peer.read(buf, body_deadline, None).await {
            Read::Data => {}
            Read::Closed => return false,
            Read::TimedOut => {
                error_response(out, &refusal(StatusCode::REQUEST_TIMEOUT));
                return false;
            }
        }
    }
    let body = buf.split_to(length).freeze();
    let response = match router
        .clone()
        .oneshot(http_request.map(|()| Body::from(body)))
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        error_response(out, &AppError::internal("reading a response body failed"));
        return false;
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut declared_length = false;
    for (name, value) in &parts.headers {
        if name == header::TRANSFER_ENCODING || name == header::CONNECTION || name == header::DATE {
            continue;
        }
        if name == header::CONTENT_LENGTH {
            // A HEAD answer keeps the length of what a GET would send.
            if !(is_head && body.is_empty()) {
                continue;
            }
            declared_length = true;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    if !declared_length && !bodiless {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    finish_head(out, parsed.connection);
    if !is_head && !bodiless {
        out.extend_from_slice(&body);
    }
    true
}

/// An error response in the JSON envelope that ends the connection (the request could not be read
/// to its end).
fn error_response(out: &mut Vec<u8>, error: &AppError) {
    let body = error.json();
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            error.status.as_str(),
            error.status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .as_bytes(),
    );
    finish_head(out, Connection::Close);
    out.extend_from_slice(&body);
}

/// Appends the current time as an HTTP date, formatted at most once a second per thread.
fn http_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now();
    let second = now
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != second {
            *at = second;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(text.as_bytes());
    });
}
