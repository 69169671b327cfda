//! The phone's HTTP layer: base URLs from `endpoints.json`, GETs retried with backoff and jitter,
//! counters of requests and bytes for the demo's traffic figures, and the edge cache that phones of
//! one simulation share.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::schedule::Backoff;

/// Base URLs of the app-facing services, as `warnkit serve` writes them to `endpoints.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The published files (the CDN).
    pub distribution: String,
    /// Key upload.
    pub submission: String,
    /// Registration, result polling, TANs.
    pub verification: String,
}

impl Endpoints {
    /// Reads `endpoints.json` (other keys in the file are ignored).
    pub fn from_file(path: &Path) -> Result<Self, HttpError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| HttpError::Config(format!("reading {}: {e}", path.display())))?;
        let map: BTreeMap<String, String> = serde_json::from_str(&text)
            .map_err(|e| HttpError::Config(format!("{}: {e}", path.display())))?;
        let get = |k: &str| {
            map.get(k)
                .map(|u| u.trim_end_matches('/').to_owned())
                .ok_or_else(|| HttpError::Config(format!("{} has no {k:?}", path.display())))
        };
        Ok(Self {
            distribution: get("distribution")?,
            submission: get("submission")?,
            verification: get("verification")?,
        })
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// Connection or protocol failure, after all retries.
    Network(String),
    /// The server answered with an unexpected status (after retries, for 5xx).
    Status {
        /// The status code.
        status: u16,
        /// The URL requested.
        url: String,
    },
    /// A response body was not what the API promises.
    Body(String),
    /// Bad local configuration (endpoints file, public key).
    Config(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Network(e) => write!(f, "network error: {e}"),
            Self::Status { status, url } => write!(f, "{url} answered {status}"),
            Self::Body(e) => write!(f, "unexpected response: {e}"),
            Self::Config(e) => write!(f, "configuration: {e}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Traffic counters, shared by every phone using the same [`Http`].
#[derive(Debug, Default)]
pub struct Traffic {
    /// HTTP requests the phones made, retries included (answered by the edge cache or not).
    pub requests: AtomicU64,
    /// Of those, GETs of published files that reached the distribution service: with an edge cache
    /// only the first of each file per publication, else every one.
    pub origin_requests: AtomicU64,
    /// Response body bytes received from the distribution service.
    pub bytes_downloaded: AtomicU64,
    /// Requests that failed and were retried.
    pub retries: AtomicU64,
}

/// A shared HTTP client with the phone's retry policy.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    /// The service base URLs.
    pub endpoints: Endpoints,
    backoff: Backoff,
    jitter: Arc<Mutex<ChaCha8Rng>>,
    traffic: Arc<Traffic>,
    verified: Option<Arc<Mutex<HashSet<[u8; 32]>>>>,
    edge: Option<Arc<Edge>>,
}

/// A published file as the edge holds it: its bytes (or that it was not found), and what the first
/// phone to read it made of it, for the others to take.
#[derive(Debug)]
pub struct EdgeFile {
    /// The body; `None` for a 404.
    pub body: Option<Bytes>,
    /// What the first phone to read it made of it (the parsed archive), once per copy; typed by
    /// its maker, so that this layer needs to know nothing of archives.
    pub(crate) made: std::sync::OnceLock<Arc<dyn std::any::Any + Send + Sync>>,
}

/// The copies the edge holds, by path; each filled by one request however many phones ask at once.
type EdgeFiles = HashMap<String, Arc<tokio::sync::OnceCell<Arc<EdgeFile>>>>;

/// The cache between a simulation's phones and the distribution service, as a CDN edge is in front
/// of it: the first GET of a path goes to the service, the others get the same copy until
/// [`Http::purge`] drops every copy, which the simulation calls whenever the distribution publishes.
/// Purged on every publication, a copy is never stale, so the phones see what they would see
/// asking the service each time.
#[derive(Debug, Default)]
struct Edge {
    files: Mutex<EdgeFiles>,
}

/// A JSON or protobuf response: status and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Vec<u8>,
}

impl Http {
    /// A client for `endpoints`; `seed` drives the retry jitter.
    pub fn new(endpoints: Endpoints, backoff: Backoff, seed: u64) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| HttpError::Config(e.to_string()))?;
        Ok(Self {
            client,
            endpoints,
            backoff,
            jitter: Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(seed))),
            traffic: Arc::new(Traffic::default()),
            verified: None,
            edge: None,
        })
    }

    /// Puts an edge cache between this client's phones and the distribution service (see
    /// [`Http::purge`]). A simulation shortcut: thousands of phones download the same few files.
    pub fn with_edge(mut self) -> Self {
        self.edge = Some(Arc::new(Edge::default()));
        self
    }

    /// Drops every copy the edge cache holds: call it whenever the distribution has published.
    pub fn purge(&self) {
        if let Some(edge) = &self.edge {
            edge.files.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// GETs a published file through the edge cache (without one, straight from the service).
    pub async fn get_file(&self, path: &str) -> Result<Arc<EdgeFile>, HttpError> {
        let fetch = || async {
            Ok::<_, HttpError>(Arc::new(EdgeFile {
                body: self.fetch(path).await?,
                made: std::sync::OnceLock::new(),
            }))
        };
        let Some(edge) = &self.edge else {
            return fetch().await;
        };
        let cell = {
            // A map that is only inserted into and cleared stays consistent, so a poisoned lock is
            // usable.
            let mut files = edge.files.lock().unwrap_or_else(|p| p.into_inner());
            files.entry(path.to_owned()).or_default().clone()
        };
        let file = cell.get_or_try_init(fetch).await?.clone();
        self.traffic.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(b) = &file.body {
            self.traffic
                .bytes_downloaded
                .fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        Ok(file)
    }

    /// Lets every phone on this client share the outcome of signature checks: a file whose exact
    /// bytes passed the check under the same public key is not checked again. A simulation shortcut
    /// (thousands of phones verify the same few files), sound because the cache key is a hash of the
    /// key and the whole file; a single phone verifies every file itself.
    pub fn with_shared_verification(mut self) -> Self {
        self.verified = Some(Arc::new(Mutex::new(HashSet::new())));
        self
    }

    /// Whether a file with this digest (of public key and bytes) was verified before.
    pub fn already_verified(&self, digest: &[u8; 32]) -> bool {
        self.verified.as_ref().is_some_and(|v| {
            // A set that is only ever inserted into stays consistent, so a poisoned lock is usable.
            v.lock().unwrap_or_else(|p| p.into_inner()).contains(digest)
        })
    }

    /// Remembers a successful verification (no-op without the shared cache).
    pub fn remember_verified(&self, digest: [u8; 32]) {
        if let Some(v) = &self.verified {
            v.lock().unwrap_or_else(|p| p.into_inner()).insert(digest);
        }
    }

    /// Whether checks are shared, so callers can skip hashing when they are not.
    pub fn shares_verification(&self) -> bool {
        self.verified.is_some()
    }

    /// The traffic counters.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    async fn pause(&self, attempt: u32) {
        let delay = {
            // The generator is only ever advanced, so a poisoned lock holds a usable state.
            let mut rng = self.jitter.lock().unwrap_or_else(|p| p.into_inner());
            self.backoff.delay(attempt, &mut *rng)
        };
        self.traffic.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
    }

    /// GETs a published file: `Ok(None)` on 404; network errors and 5xx are retried with backoff.
    pub async fn get(&self, path: &str) -> Result<Option<Bytes>, HttpError> {
        Ok(self.get_file(path).await?.body.clone())
    }

    /// One GET from the distribution service, retried; counted as phones' traffic only without an
    /// edge (with one, every phone's read is counted where the edge answers it).
    async fn fetch(&self, path: &str) -> Result<Option<Bytes>, HttpError> {
        let counted = self.edge.is_none();
        let url = format!(
            "{}/{}",
            self.endpoints.distribution,
            path.trim_start_matches('/')
        );
        let mut last = HttpError::Network("no attempt".into());
        for attempt in 0..self.backoff.attempts.max(1) {
            if attempt > 0 {
                self.pause(attempt - 1).await;
            }
            if counted {
                self.traffic.requests.fetch_add(1, Ordering::Relaxed);
            }
            self.traffic.origin_requests.fetch_add(1, Ordering::Relaxed);
            let response = match self.client.get(&url).send().await {
                Ok(r) => r,
                Err(e) => {
                    last = HttpError::Network(e.to_string());
                    continue;
                }
            };
            let status = response.status();
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                last = HttpError::Status {
                    status: status.as_u16(),
                    url: url.clone(),
                };
                continue;
            }
            if !status.is_success() {
                return Err(HttpError::Status {
                    status: status.as_u16(),
                    url,
                });
            }
            match response.bytes().await {
                Ok(body) => {
                    if counted {
                        self.traffic
                            .bytes_downloaded
                            .fetch_add(body.len() as u64, Ordering::Relaxed);
                    }
                    return Ok(Some(body));
                }
                Err(e) => last = HttpError::Network(e.to_string()),
            }
        }
        Err(last)
    }

    /// POSTs JSON to the verification service. Not retried: a registration must not happen twice, and
    /// the app's own state machine tries again on its next run.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        fake: bool,
    ) -> Result<Response, HttpError> {
        let url = format!("{}{path}", self.endpoints.verification);
        let request = self
            .client
            .post(&url)
            .header("cwa-fake", if fake { "1" } else { "0" })
            .json(body);
        self.send(request).await
    }

    /// POSTs a protobuf payload to the submission service with its TAN (empty for fakes) and
    /// `cwa-header-padding`, as the original app's `SubmissionApiV1`.
    pub async fn post_keys(
        &self,
        body: Vec<u8>,
        tan: &str,
        header_padding: &str,
        fake: bool,
    ) -> Result<Response, HttpError> {
        let url = format!("{}/version/v1/diagnosis-keys", self.endpoints.submission);
        let request = self
            .client
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .header("cwa-authorization", tan)
            .header("cwa-fake", if fake { "1" } else { "0" })
            .header("cwa-header-padding", header_padding)
            .body(body);
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response, HttpError> {
        self.traffic.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .await
            .map_err(|e| HttpError::Network(e.to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| HttpError::Network(e.to_string()))?
            .to_vec();
        Ok(Response { status, body })
    }
}
