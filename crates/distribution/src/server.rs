//! The built-in static server on the distribution port: the published files, served like a CDN would.
//!
//! Files are cached in memory with their ETag and revalidated with a `stat` at most every half second, so
//! a run of `warnkit distribute` in another process is picked up within that time and a hot file costs
//! neither a read nor a system call.
//!
//! Two ways in. [`StaticFiles::router`] is an axum route like any other. [`StaticFiles::serve`] owns the
//! port's connections: a GET or HEAD of a published file is answered from a response head built once per
//! file version (no per-request allocation, header formatting or routing; pipelined requests answered in
//! one write), and every other request goes to the port's axum router unchanged. That is what it takes
//! to outpace nginx on small files (see `docs/distribution.md`).

use std::collections::HashMap;
use std::io::IoSlice;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{self, header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use warnkit_service::server::Shutdown;
use warnkit_service::AppError;

use crate::layout;
use crate::objects::Objects;

/// One file version in the cache, with everything a response needs already built.
struct Cached {
    kind: layout::Kind,
    /// When the file was last compared with the disk.
    checked: Instant,
    modified: Option<SystemTime>,
    bytes: Bytes,
    etag: HeaderValue,
    /// `200` status line and headers, without `date` and the closing blank line; shared (not copied)
    /// when an unchanged file is revalidated.
    head_ok: Arc<[u8]>,
    /// `304` status line and headers, likewise.
    head_not_modified: Arc<[u8]>,
}

struct Inner {
    objects: Objects,
    cache: RwLock<HashMap<String, Arc<Cached>>>,
}

/// Shared state of the static server. Cheap to clone.
#[derive(Clone)]
pub struct StaticFiles(Arc<Inner>);

impl std::fmt::Debug for StaticFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticFiles").finish_non_exhaustive()
    }
}

impl StaticFiles {
    /// Serves what `objects` holds.
    pub fn new(objects: Objects) -> Self {
        Self(Arc::new(Inner {
            objects,
            cache: RwLock::default(),
        }))
    }

    /// The routes: every path under `version/v1/`, GET and HEAD.
    pub fn router(self) -> Router {
        Router::new()
            .route("/{*path}", get(serve_route))
            .with_state(self)
    }

    /// Serves `listener` until `shutdown`: published files on the fast path, everything else (other
    /// routes, other methods, missing files, requests with a body) through `fallback`, usually the
    /// port's whole router including [`StaticFiles::router`]. Connections still open at shutdown finish
    /// the request they are in and close.
    pub async fn serve(
        self,
        listener: TcpListener,
        fallback: Router,
        shutdown: Shutdown,
    ) -> std::io::Result<()> {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = shutdown.clone().wait() => break,
            };
            while connections.try_join_next().is_some() {}
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait for connections to close, as
                    // axum::serve does, instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // As nginx's `tcp_nodelay`: every answer leaves in one write already, and the last, partial
            // segment of a large one must not wait for the client's delayed ACK.
            let _ = stream.set_nodelay(true);
            connections.spawn(connection(
                self.clone(),
                stream,
                fallback.clone(),
                shutdown.clone(),
            ));
        }
        while connections.join_next().await.is_some() {}
        Ok(())
    }

    /// Drops every cached file, so the next request of each looks at the store again: for a caller
    /// that has just published (a simulated clock runs faster than the half-second revalidation).
    pub fn forget_cached(&self) {
        self.0.cache.write().expect("cache lock poisoned").clear();
    }

    /// A cached file checked on disk within the last REVALIDATE: the whole work of a hot request, so a
    /// busy file costs at most one `stat` per interval (as nginx's `open_file_cache`), not one per request.
    fn fresh(&self, url_path: &str) -> Option<Arc<Cached>> {
        let cache = self.0.cache.read().expect("cache lock poisoned");
        cache
            .get(url_path)
            .filter(|hit| hit.checked.elapsed() < REVALIDATE)
            .cloned()
    }

    /// The file at a request path: from the cache, or checked and loaded. `Ok(None)` when there is no
    /// such published file, including every path outside the published layout.
    async fn lookup(&self, path: &str) -> Result<Option<Arc<Cached>>, AppError> {
        if let Some(hit) = self.fresh(path) {
            return Ok(Some(hit));
        }
        // Only paths of the published layout: this also rules out `..`, absolute paths and anything
        // else a crafted URL could try to reach on disk. Cached paths passed this check. The path is
        // the raw one: the layout needs no percent-encoding, so any `%` is simply not found, which also
        // rules out encoded `..` and separators.
        let valid = !path.contains('%')
            && !path
                .split('/')
                .any(|s| s == ".." || s == "." || s.is_empty());
        match layout::kind_of(path).filter(|_| valid) {
            Some(kind) => self.load(path, kind).await,
            None => Ok(None),
        }
    }

    async fn load(
        &self,
        url_path: &str,
        kind: layout::Kind,
    ) -> Result<Option<Arc<Cached>>, AppError> {
        let Some(dir) = self.0.objects.local_dir() else {
            // On S3 the CDN serves the bucket; this path is for tests and small setups.
            let bytes = self
                .0
                .objects
                .get(url_path)
                .await
                .map_err(AppError::internal)?;
            return Ok(bytes.map(|b| Arc::new(cached(kind, b, None))));
        };
        let file: PathBuf = dir.join(layout::object_for(url_path));
        let meta = match std::fs::metadata(&file) {
            Ok(m) if m.is_file() => m,
            _ => return Ok(None),
        };
        let modified = meta.modified().ok();
        let unchanged = self
            .0
            .cache
            .read()
            .expect("cache lock poisoned")
            .get(url_path)
            .filter(|hit| hit.modified == modified && hit.bytes.len() as u64 == meta.len())
            .cloned();
        let entry = match unchanged {
            // Only the check time is new: the prepared responses are shared, not rebuilt.
            Some(hit) => Arc::new(Cached {
                checked: Instant::now(),
                bytes: hit.bytes.clone(),
                etag: hit.etag.clone(),
                head_ok: Arc::clone(&hit.head_ok),
                head_not_modified: Arc::clone(&hit.head_not_modified),
                ..*hit
            }),
            None => {
                let bytes = match tokio::fs::read(&file).await {
                    Ok(b) => Bytes::from(b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(AppError::internal(e)),
                };
                Arc::new(cached(kind, bytes, modified))
            }
        };
        self.0
            .cache
            .write()
            .expect("cache lock poisoned")
            .insert(url_path.to_owned(), entry.clone());
        Ok(Some(entry))
    }
}

/// How long a cached file is served without looking at the disk again.
const REVALIDATE: Duration = Duration::from_millis(500);

fn cached(kind: layout::Kind, bytes: Bytes, modified: Option<SystemTime>) -> Cached {
    let digest = Sha256::digest(&bytes);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let head_ok = format!(
        "HTTP/1.1 200 OK\r\netag: {etag}\r\ncache-control: {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n",
        kind.cache_control(),
        kind.content_type(),
        bytes.len()
    );
    let head_not_modified = format!(
        "HTTP/1.1 304 Not Modified\r\netag: {etag}\r\ncache-control: {}\r\n",
        kind.cache_control()
    );
    Cached {
        kind,
        checked: Instant::now(),
        modified,
        bytes,
        etag: HeaderValue::from_str(&etag).expect("hex in quotes is a valid header value"),
        head_ok: head_ok.into_bytes().into(),
        head_not_modified: head_not_modified.into_bytes().into(),
    }
}

async fn serve_route(State(files): State<StaticFiles>, request: Request) -> Response {
    let path = request.uri().path().trim_start_matches('/');
    let file = match files.lookup(path).await {
        Ok(Some(file)) => file,
        Ok(None) => return AppError::not_found("not_found", "no such file").into_response(),
        Err(e) => return e.into_response(),
    };
    let common = [
        (header::ETAG, file.etag.clone()),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(file.kind.cache_control()),
        ),
    ];
    let if_none_match = request.headers().get_all(header::IF_NONE_MATCH);
    if matches_etag(if_none_match.iter().map(HeaderValue::as_bytes), &file.etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.kind.content_type()),
        )],
        Body::from(file.bytes.clone()),
    )
        .into_response()
}

/// `If-None-Match`: a list of tags or `*`; weak comparison, as RFC 9110 asks for this header.
fn matches_etag<'a>(values: impl Iterator<Item = &'a [u8]>, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    let mut values = values;
    values.any(|value| {
        value.split(|b| *b == b',').any(|tag| {
            let tag = tag.trim_ascii();
            tag == b"*" || tag.strip_prefix(b"W/").unwrap_or(tag) == ours
        })
    })
}

// ---- the connection loop of `StaticFiles::serve` ----

/// The largest request head accepted (request line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// The largest request body passed to the fallback router; nothing on this port takes one.
const MAX_BODY: usize = 64 * 1024;
/// Bodies up to this size are copied behind their head into one write; larger ones are written from
/// the cache as they are, in a vectored write with the heads before them.
const COPY_BODY: usize = 16 * 1024;
/// Answers collected for pipelined requests are written once they exceed this.
const FLUSH_AT: usize = 64 * 1024;
/// Headers a request may carry.
const MAX_HEADERS: usize = 64;

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
    let target = request.path.unwrap_or_default();
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

/// One connection: answers the requests it sends, in order, until it closes, breaks a rule, or the
/// server shuts down between requests.
async fn connection(files: StaticFiles, mut stream: TcpStream, router: Router, shutdown: Shutdown) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Answer every complete request already here (pipelining), then write the answers at once.
        loop {
            let parsed = match parse(&buf) {
                Next::Incomplete => break,
                Next::Request(parsed) => parsed,
                Next::Bad(status) => {
                    error_response(&mut out, status);
                    let _ = stream.write_all(&out).await;
                    return;
                }
            };
            let keep_alive = parsed.connection != Connection::Close;
            let file = match &parsed.simple {
                Some(get) => files.lookup(&get.path).await.ok().flatten(),
                None => None,
            };
            match (file, &parsed.simple) {
                (Some(file), Some(get)) => {
                    buf.advance(parsed.head_len);
                    if respond_file(&mut out, &file, get, parsed.connection) {
                        if write_two(&mut stream, &out, &file.bytes).await.is_err() {
                            return;
                        }
                        out.clear();
                    }
                }
                _ => {
                    let ok =
                        respond_via_router(&mut stream, &mut buf, &mut out, &router, &parsed).await;
                    if !ok {
                        let _ = stream.write_all(&out).await;
                        return;
                    }
                }
            }
            if !keep_alive {
                let _ = stream.write_all(&out).await;
                return;
            }
            if out.len() > FLUSH_AT {
                // A client pipelining many requests gets its answers in bounded pieces.
                if stream.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if shutdown.is_triggered() {
            return;
        }
        let read = tokio::select! {
            read = stream.read_buf(&mut buf) => read,
            () = shutdown.clone().wait() => return,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Appends the response for a cached file to `out`. Returns true when the body is too large to copy
/// and must be written after `out`, as it is in the cache.
fn respond_file(out: &mut Vec<u8>, file: &Cached, get: &SimpleGet, connection: Connection) -> bool {
    let not_modified = matches_etag(get.if_none_match.iter().map(AsRef::as_ref), &file.etag);
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
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    out: &mut Vec<u8>,
    router: &Router,
    parsed: &Parsed,
) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(buf), Ok(httparse::Status::Complete(_))) {
        error_response(out, StatusCode::BAD_REQUEST);
        return false;
    }
    let Ok(method) = Method::from_bytes(request.method.unwrap_or_default().as_bytes()) else {
        error_response(out, StatusCode::BAD_REQUEST);
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
            error_response(out, StatusCode::LENGTH_REQUIRED);
            return false;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) if n <= MAX_BODY => length = n,
                Some(_) => {
                    error_response(out, StatusCode::PAYLOAD_TOO_LARGE);
                    return false;
                }
                None => {
                    error_response(out, StatusCode::BAD_REQUEST);
                    return false;
                }
            }
        }
        builder = builder.header(h.name, h.value);
    }
    let is_head = request.method == Some("HEAD");
    let Ok(http_request) = builder.body(()) else {
        error_response(out, StatusCode::BAD_REQUEST);
        return false;
    };
    buf.advance(parsed.head_len);
    if buf.len() < length && !out.is_empty() {
        // The client may wait for the answers so far before it sends the rest.
        if stream.write_all(out).await.is_err() {
            return false;
        }
        out.clear();
    }
    while buf.len() < length {
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
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
        error_response(out, StatusCode::INTERNAL_SERVER_ERROR);
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

/// A bare error response that ends the connection (the request could not be read to its end).
fn error_response(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\ncontent-length: 0\r\n",
            status.as_str(),
            status.canonical_reason().unwrap_or("")
        )
        .as_bytes(),
    );
    finish_head(out, Connection::Close);
}

/// Writes `a` then `b`, as few system calls as the socket takes.
async fn write_two(stream: &mut TcpStream, mut a: &[u8], mut b: &[u8]) -> std::io::Result<()> {
    while !a.is_empty() {
        let n = stream
            .write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
            .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        if n >= a.len() {
            b = &b[n - a.len()..];
            a = &[];
        } else {
            a = &a[n..];
        }
    }
    stream.write_all(b).await
}

/// Appends the current time as an HTTP date, formatted at most once a second per thread.
fn http_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != second {
            *at = second;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(text.as_bytes());
    });
}
