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
//! to outpace nginx on small files (see `docs/distribution.md`). The loop keeps the bounds of every
//! listener ([`ListenerLimits`]: header, body and idle timeouts, a cap on open connections) and answers
//! its refusals with the JSON envelope, as `warnkit_service::server::serve_with` does.
//!
//! Both ways count what they answer on the port's registry ([`StaticFiles::with_metrics`]):
//! `distribution_downloads_total` by file kind and `distribution_file_responses_total` by outcome, in
//! atomics, so the fast path takes no lock and allocates nothing for them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use warnkit_service::metrics::LabeledCounter;
use warnkit_service::server::{Acceptor, ListenerLimits, Shutdown};
use warnkit_service::{AppError, Clock, Metrics};

use crate::layout;
use crate::objects::Objects;

mod connection;

/// One file version in the cache, with everything a response needs already built.
struct Cached {
    kind: layout::Kind,
    /// When the file was last compared with the disk (milliseconds of the server's clock).
    checked: i64,
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
    /// Files answered in full, by [`KINDS`].
    downloads: LabeledCounter,
    /// Answers of the file routes, by [`OUTCOMES`].
    responses: LabeledCounter,
    /// What the revalidation interval is measured on.
    clock: Clock,
}

/// The `kind` label values of `distribution_downloads_total`, in the order of [`kind_index`].
const KINDS: &[&str] = &["archive", "index", "config", "public_key", "public_keys"];

fn kind_index(kind: layout::Kind) -> usize {
    match kind {
        layout::Kind::Archive => 0,
        layout::Kind::Index => 1,
        layout::Kind::Config => 2,
        layout::Kind::PublicKey => 3,
        layout::Kind::PublicKeys => 4,
    }
}

/// The `outcome` label values of `distribution_file_responses_total`.
const OUTCOMES: &[&str] = &["ok", "not_modified", "not_found", "error"];

/// An index into [`OUTCOMES`].
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Ok = 0,
    NotModified = 1,
    NotFound = 2,
    Error = 3,
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
    /// Serves what `objects` holds, counting on a registry of its own (see [`StaticFiles::with_metrics`]).
    pub fn new(objects: Objects) -> Self {
        Self::with_metrics(objects, &Metrics::new("distribution"))
    }

    /// Serves what `objects` holds and counts what it answers on `metrics`, the port's registry:
    /// `distribution_downloads_total{kind}` (files answered in full, GET or HEAD) and
    /// `distribution_file_responses_total{outcome}` (`ok`, `not_modified`, `not_found`, `error`).
    pub fn with_metrics(objects: Objects, metrics: &Metrics) -> Self {
        Self(Arc::new(Inner {
            objects,
            cache: RwLock::default(),
            downloads: metrics.labeled(
                "distribution_downloads_total",
                "Published files answered in full (200, GET or HEAD), by kind.",
                "kind",
                KINDS,
            ),
            responses: metrics.labeled(
                "distribution_file_responses_total",
                "Answers to requests for published files, by outcome.",
                "outcome",
                OUTCOMES,
            ),
            clock: Clock::system(),
        }))
    }

    /// The same server measuring its revalidation interval on `clock` (the system clock by default), so
    /// that a test can move past the interval instead of waiting for it. The cache starts empty again
    /// when this server was already cloned.
    pub fn with_clock(self, clock: Clock) -> Self {
        let inner = match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                inner.clock = clock;
                inner
            }
            Err(shared) => Inner {
                objects: shared.objects.clone(),
                cache: RwLock::default(),
                downloads: shared.downloads.clone(),
                responses: shared.responses.clone(),
                clock,
            },
        };
        Self(Arc::new(inner))
    }

    /// Counts one answer for `file` (None: no such file).
    #[inline]
    fn count(&self, file: Option<&Cached>, outcome: Outcome) {
        if let (Some(file), Outcome::Ok) = (file, outcome) {
            self.0.downloads.inc(kind_index(file.kind));
        }
        self.0.responses.inc(outcome as usize);
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
    /// the request they are in and close. With the default [`ListenerLimits`]; see
    /// [`StaticFiles::serve_with`].
    pub async fn serve(
        self,
        listener: TcpListener,
        fallback: Router,
        shutdown: Shutdown,
    ) -> std::io::Result<()> {
        self.serve_with(listener, fallback, shutdown, ListenerLimits::default())
            .await
    }

    /// [`StaticFiles::serve`] within `limits`: at most `max_connections` open connections (further
    /// clients wait in the kernel's backlog), a head within `header_timeout_ms` (from the connection's
    /// start or a later request's first byte), the next request within `idle_timeout_ms`, a body
    /// within `body_timeout_ms` (408 after), and no write waiting longer than `idle_timeout_ms` for
    /// the client to read.
    pub async fn serve_with(
        self,
        listener: TcpListener,
        fallback: Router,
        shutdown: Shutdown,
        limits: ListenerLimits,
    ) -> std::io::Result<()> {
        Acceptor::new(listener, &limits)
            .serve_each(&shutdown, |stream, permit| {
                let peer = connection::Peer::new(stream, limits);
                let (files, fallback, shutdown) =
                    (self.clone(), fallback.clone(), shutdown.clone());
                async move {
                    connection::serve(files, peer, fallback, shutdown).await;
                    drop(permit);
                }
            })
            .await;
        Ok(())
    }

    /// Drops every cached file, so the next request of each looks at the store again: for a caller
    /// that has just published (a simulated clock runs faster than the half-second revalidation).
    pub fn forget_cached(&self) {
        self.0.cache.write().expect("cache lock poisoned").clear();
    }

    /// A cached file checked on disk within the last [`REVALIDATE_MILLIS`]: the whole work of a hot
    /// request, so a busy file costs at most one `stat` per interval (as nginx's `open_file_cache`), not
    /// one per request. A check "in the future" (the system clock stepped back) is stale, not fresh.
    fn fresh(&self, url_path: &str) -> Option<Arc<Cached>> {
        let now = self.0.clock.now_millis();
        let cache = self.0.cache.read().expect("cache lock poisoned");
        cache
            .get(url_path)
            .filter(|hit| (0..REVALIDATE_MILLIS).contains(&(now - hit.checked)))
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
            let now = self.0.clock.now_millis();
            return Ok(bytes.map(|b| Arc::new(cached(kind, b, None, now))));
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
                checked: self.0.clock.now_millis(),
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
                Arc::new(cached(kind, bytes, modified, self.0.clock.now_millis()))
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

/// How long a cached file is served without looking at the disk again, in milliseconds.
const REVALIDATE_MILLIS: i64 = 500;

/// A cache entry for `bytes`, checked at `checked` (milliseconds of the server's clock).
fn cached(kind: layout::Kind, bytes: Bytes, modified: Option<SystemTime>, checked: i64) -> Cached {
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
        checked,
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
        Ok(None) => {
            files.count(None, Outcome::NotFound);
            return AppError::not_found("not_found", "no such file").into_response();
        }
        Err(e) => {
            files.count(None, Outcome::Error);
            return e.into_response();
        }
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
        files.count(Some(&file), Outcome::NotModified);
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    files.count(Some(&file), Outcome::Ok);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use warnkit_service::server::shutdown_channel;

    /// Sends `requests` raw on one connection (the last one closing it) and returns what came back.
    async fn raw(addr: std::net::SocketAddr, requests: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(requests.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.expect("read");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn counts_answers_by_kind_and_outcome_on_both_ways_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        let objects = Objects::local(dir.path()).expect("objects");
        let daily = layout::daily("DE", "2025-11-22");
        let index = layout::date_index("DE");
        objects
            .put(&daily, layout::Kind::Archive, b"PK-archive".to_vec())
            .await
            .expect("put");
        objects
            .put(&index, layout::Kind::Index, b"[\"2025-11-22\"]".to_vec())
            .await
            .expect("put");
        let metrics = Metrics::new("distribution");
        let files = StaticFiles::with_metrics(objects, &metrics);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (_trigger, shutdown) = shutdown_channel();
        let router = files.clone().router();
        tokio::spawn(files.clone().serve(listener, router, shutdown));

        let etag = {
            let text = raw(
                addr,
                &format!("GET /{daily} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
            )
            .await;
            let line = text
                .lines()
                .find(|l| l.starts_with("etag: "))
                .expect("etag header");
            line["etag: ".len()..].to_owned()
        };
        // Pipelined on the fast path: an index, a HEAD of the archive, a revalidation, a missing file.
        let text = raw(
            addr,
            &format!(
                "GET /{index} HTTP/1.1\r\nhost: x\r\n\r\n\
                 HEAD /{daily} HTTP/1.1\r\nhost: x\r\n\r\n\
                 GET /{daily} HTTP/1.1\r\nhost: x\r\nif-none-match: {etag}\r\n\r\n\
                 GET /{daily}/nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
        assert_eq!(text.matches("HTTP/1.1 304").count(), 1, "{text}");
        assert_eq!(text.matches("HTTP/1.1 404").count(), 1, "{text}");
        // A GET with a body goes through the router's file route, counted the same way.
        let text = raw(
            addr,
            &format!("GET /{daily} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nab"),
        )
        .await;
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");

        let rendered = metrics.render();
        for (sample, value) in [
            ("distribution_downloads_total{service=\"distribution\",kind=\"archive\"}", 3),
            ("distribution_downloads_total{service=\"distribution\",kind=\"index\"}", 1),
            ("distribution_downloads_total{service=\"distribution\",kind=\"config\"}", 0),
            ("distribution_file_responses_total{service=\"distribution\",outcome=\"ok\"}", 4),
            ("distribution_file_responses_total{service=\"distribution\",outcome=\"not_modified\"}", 1),
            ("distribution_file_responses_total{service=\"distribution\",outcome=\"not_found\"}", 1),
            ("distribution_file_responses_total{service=\"distribution\",outcome=\"error\"}", 0),
        ] {
            assert!(
                rendered.contains(&format!("{sample} {value}\n")),
                "{sample} {value} in\n{rendered}"
            );
        }
    }
}
