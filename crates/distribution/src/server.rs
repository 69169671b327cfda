//! The built-in static server on the distribution port: the published files, served like a CDN would.
//!
//! Files are cached in memory with their ETag and revalidated with a `stat` at most every half second, so
//! a run of `warnkit distribute` in another process is picked up within that time and a hot file costs
//! neither a read nor a system call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use warnkit_service::AppError;

use crate::layout;
use crate::objects::Objects;

#[derive(Clone)]
struct Cached {
    kind: layout::Kind,
    /// When the file was last compared with the disk.
    checked: Instant,
    modified: Option<SystemTime>,
    len: u64,
    bytes: Bytes,
    etag: HeaderValue,
}

/// Shared state of the static server.
#[derive(Clone)]
pub struct StaticFiles {
    objects: Objects,
    cache: Arc<RwLock<HashMap<String, Cached>>>,
}

impl std::fmt::Debug for StaticFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticFiles").finish_non_exhaustive()
    }
}

impl StaticFiles {
    /// Serves what `objects` holds.
    pub fn new(objects: Objects) -> Self {
        Self {
            objects,
            cache: Arc::default(),
        }
    }

    /// The routes: every path under `version/v1/`, GET and HEAD.
    pub fn router(self) -> Router {
        Router::new().route("/{*path}", get(serve)).with_state(self)
    }

    /// A cached file checked on disk within the last REVALIDATE: the whole work of a hot request, so a
    /// busy file costs at most one `stat` per interval (as nginx's `open_file_cache`), not one per request.
    fn fresh(&self, url_path: &str) -> Option<Cached> {
        let cache = self.cache.read().expect("cache lock poisoned");
        cache
            .get(url_path)
            .filter(|hit| hit.checked.elapsed() < REVALIDATE)
            .cloned()
    }

    async fn load(&self, url_path: &str, kind: layout::Kind) -> Result<Option<Cached>, AppError> {
        let Some(dir) = self.objects.local_dir() else {
            // On S3 the CDN serves the bucket; this path is for tests and small setups.
            let bytes = self
                .objects
                .get(url_path)
                .await
                .map_err(AppError::internal)?;
            return Ok(bytes.map(|b| cached(kind, b, None)));
        };
        let file: PathBuf = dir.join(layout::object_for(url_path));
        let meta = match std::fs::metadata(&file) {
            Ok(m) if m.is_file() => m,
            _ => return Ok(None),
        };
        let modified = meta.modified().ok();
        if let Some(hit) = self
            .cache
            .read()
            .expect("cache lock poisoned")
            .get(url_path)
        {
            if hit.modified == modified && hit.len == meta.len() {
                return Ok(Some(hit.clone()));
            }
        }
        let bytes = match tokio::fs::read(&file).await {
            Ok(b) => Bytes::from(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AppError::internal(e)),
        };
        let entry = Cached {
            len: bytes.len() as u64,
            ..cached(kind, bytes, modified)
        };
        self.cache
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
    let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16])))
        .expect("hex in quotes is a valid header value");
    Cached {
        kind,
        checked: Instant::now(),
        modified,
        len: bytes.len() as u64,
        bytes,
        etag,
    }
}

async fn serve(State(files): State<StaticFiles>, uri: Uri, headers: HeaderMap) -> Response {
    // The raw path: the published layout needs no percent-encoding, so any `%` is simply not found,
    // which also rules out encoded `..` and separators.
    let path = uri.path().trim_start_matches('/');
    let file = match files.fresh(path) {
        Some(hit) => hit,
        None => {
            // Only paths of the published layout: this also rules out `..`, absolute paths and
            // anything else a crafted URL could try to reach on disk. Cached paths passed this check.
            let valid = !path.contains('%')
                && !path
                    .split('/')
                    .any(|s| s == ".." || s == "." || s.is_empty());
            let Some(kind) = layout::kind_of(path).filter(|_| valid) else {
                return AppError::not_found("not_found", "no such file").into_response();
            };
            match files.load(path, kind).await {
                Ok(Some(f)) => f,
                Ok(None) => {
                    return AppError::not_found("not_found", "no such file").into_response()
                }
                Err(e) => return e.into_response(),
            }
        }
    };
    let common = [
        (header::ETAG, file.etag.clone()),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(file.kind.cache_control()),
        ),
    ];
    if matches_etag(&headers, &file.etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.kind.content_type()),
        )],
        Body::from(file.bytes),
    )
        .into_response()
}

/// `If-None-Match`: a list of tags or `*`; weak comparison, as RFC 9110 asks for this header.
fn matches_etag(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    headers.get_all(header::IF_NONE_MATCH).iter().any(|value| {
        value.as_bytes().split(|b| *b == b',').any(|tag| {
            let tag = tag.trim_ascii();
            tag == b"*" || tag.strip_prefix(b"W/").unwrap_or(tag) == ours
        })
    })
}
