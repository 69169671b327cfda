//! Router assembly shared by the services: probes, per-route metrics, OpenAPI, the body-size limit, JSON
//! errors for unknown routes and methods, and the strict JSON extractor; and the operators' metrics
//! listener, the one place where metrics are read.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use warnkit_store::Db;

use crate::{AppError, Metrics};

/// The default limit on request bodies, as in the original services.
pub const DEFAULT_MAX_BODY: usize = 10_000;

/// The body limit in force, put into request extensions so that extractors can name it in errors.
#[derive(Debug, Clone, Copy)]
struct BodyLimit(usize);

/// Wraps a service's API routes with what every service has. The requests it serves are counted in its
/// [`Metrics`], which it does not serve itself: a service's port answers `/metrics` with the JSON 404,
/// and [`metrics_router`] renders the registries on a listener of their own.
#[derive(Debug, Clone)]
pub struct ServiceRouter {
    metrics: Metrics,
    db: Option<Db>,
    openapi: Arc<serde_json::Value>,
    max_body: usize,
}

#[derive(Clone)]
pub(crate) struct ProbeState {
    db: Option<Db>,
    openapi: Arc<serde_json::Value>,
}

impl ServiceRouter {
    /// A builder for a service whose metrics go to `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self {
            metrics,
            db: None,
            openapi: Arc::new(serde_json::Value::Null),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// `/ready` answers 200 only while this database answers.
    pub fn database(mut self, db: Db) -> Self {
        self.db = Some(db);
        self
    }

    /// The document served at `/openapi.json`.
    pub fn openapi(mut self, doc: serde_json::Value) -> Self {
        self.openapi = Arc::new(doc);
        self
    }

    /// Request bodies over `bytes` get 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The finished router: `api` plus `/health`, `/ready` and `/openapi.json`, with request metrics,
    /// limits and JSON fallbacks.
    pub fn finish(self, api: Router) -> Router {
        let state = ProbeState {
            db: self.db,
            openapi: self.openapi,
        };
        let probes = Router::new()
            .route("/health", get(health))
            .route("/ready", get(ready))
            .route("/openapi.json", get(openapi))
            .with_state(state);
        let limit = self.max_body;
        json_fallbacks(
            api.merge(probes)
                .route_layer(middleware::from_fn_with_state(self.metrics, track)),
        )
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            limit_body(limit, req, next)
        }))
        .layer(DefaultBodyLimit::max(limit))
    }
}

/// The operators' metrics listener: `GET /metrics` renders `registries` together
/// ([`crate::metrics::render_all`]), `/health` answers, anything else gets the JSON 404 or 405.
///
/// Serve it only where operators' monitoring reaches, never merged into a router that phones, labs,
/// officers or other countries reach: its counters tell real uploads and requests from fake ones.
pub fn metrics_router(registries: Vec<Metrics>) -> Router {
    let registries: Arc<[Metrics]> = registries.into();
    json_fallbacks(
        Router::new()
            .route("/health", get(health))
            .route("/metrics", get(metrics))
            .with_state(registries),
    )
}

/// The JSON envelope for unknown routes (404) and methods (405).
fn json_fallbacks(router: Router) -> Router {
    router
        .fallback(|| async { AppError::not_found("no_route", "no such route") })
        .method_not_allowed_fallback(|| async {
            AppError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed",
            )
        })
}

#[utoipa::path(get, path = "/health", tag = "probes", summary = "Liveness.",
    responses((status = 200, description = "Alive.", content_type = "text/plain", body = String)))]
pub(crate) async fn health() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/ready", tag = "probes", summary = "Readiness (database reachable).",
    responses(
        (status = 200, description = "Ready.", content_type = "text/plain", body = String),
        (status = 503, description = "Database unreachable.", content_type = "text/plain", body = String)))]
pub(crate) async fn ready(State(state): State<ProbeState>) -> Response {
    match &state.db {
        Some(db) => match db.ping().await {
            Ok(()) => "ready".into_response(),
            Err(e) => {
                tracing::warn!(error = %e, "readiness: database unreachable");
                (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
            }
        },
        None => "ready".into_response(),
    }
}

async fn metrics(State(registries): State<Arc<[Metrics]>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render_all(&registries),
    )
        .into_response()
}

#[utoipa::path(get, path = "/openapi.json", tag = "probes", summary = "This document.",
    responses((status = 200, description = "OpenAPI.", content_type = "application/json")))]
pub(crate) async fn openapi(State(state): State<ProbeState>) -> Response {
    Json(state.openapi.as_ref().clone()).into_response()
}

/// Counts and times requests per route template; logs method, route, status and latency, nothing else
/// (no path parameters, headers, addresses or bodies).
async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    // `MatchedPath` shares its string: cloning it costs no allocation on this per-request path.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", |p| p.as_str());
    let method = req.method().clone();
    let start = Instant::now();
    let response = next.run(req).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    metrics.observe_request(route, status, elapsed);
    tracing::debug!(%method, route, status, micros = elapsed.as_micros() as u64, "request");
    response
}

/// Declared oversize bodies up to this many bytes are read and thrown away before the refusal, so a
/// client still writing its body reads the answer instead of a reset connection; larger ones are
/// refused unread.
pub const DRAIN_LIMIT: u64 = 2 << 20;

/// Reads and throws away the body of a request refused for its declared size `declared`, when it is
/// within [`DRAIN_LIMIT`]: the refusal is the same whatever the body holds.
pub async fn drain_refused(body: axum::body::Body, declared: u64) {
    if declared <= DRAIN_LIMIT {
        let _ = axum::body::to_bytes(body, DRAIN_LIMIT as usize).await;
    }
}

/// Rejects declared oversize bodies before any handler runs, also on routes that do not read a body.
async fn limit_body(limit: usize, mut req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        drain_refused(req.into_body(), n).await;
        return AppError::payload_too_large(limit).into_response();
    }
    req.extensions_mut().insert(BodyLimit(limit));
    next.run(req).await
}

/// A JSON body with strict checks and short errors: 415 unless `application/json`, 413 over the limit,
/// 400 for malformed JSON or the wrong shape. Unknown fields are ignored (the apps send padding fields).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(AppError::unsupported_media_type());
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(DEFAULT_MAX_BODY, |l| l.0);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::payload_too_large(limit)
            } else {
                AppError::bad_request("unreadable_body", "could not read the request body")
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(AppJson)
            .map_err(|e| json_error(&e))
    }
}

fn is_json(value: Option<&header::HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim();
    mime.eq_ignore_ascii_case("application/json")
}

/// A short message that names the problem but never echoes input values back.
fn json_error(err: &serde_json::Error) -> AppError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            AppError::bad_request("malformed_json", "malformed JSON")
        }
        Category::Data => {
            let text = err.to_string();
            let text = text.split(" at line ").next().unwrap_or_default();
            let message = if text.starts_with("missing field") {
                text.to_owned()
            } else if let Some((_, expected)) = text.split_once("expected ") {
                format!("wrong JSON type or value, expected {expected}")
            } else {
                "JSON does not match the expected fields".to_owned()
            };
            AppError::bad_request("invalid_json", message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Shape {
        key: String,
    }

    #[test]
    fn json_errors_are_short_and_do_not_echo() {
        let e = serde_json::from_str::<Shape>("{").unwrap_err();
        assert_eq!(json_error(&e).code, "malformed_json");
        let e = serde_json::from_str::<Shape>("{}").unwrap_err();
        assert_eq!(json_error(&e).message, "missing field `key`");
        let e = serde_json::from_str::<Shape>(r#"{"key": 5}"#).unwrap_err();
        assert_eq!(
            json_error(&e).message,
            "wrong JSON type or value, expected a string"
        );
    }

    #[test]
    fn content_types() {
        let v = |s: &'static str| header::HeaderValue::from_static(s);
        assert!(is_json(Some(&v("application/json"))));
        assert!(is_json(Some(&v("Application/JSON; charset=utf-8"))));
        assert!(!is_json(Some(&v("text/plain"))));
        assert!(!is_json(None));
    }

    async fn spawn(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    /// A service's own port has no `/metrics` (the JSON 404 of any unknown path); the metrics listener
    /// renders what that port counted.
    #[tokio::test]
    async fn metrics_only_on_the_metrics_listener() {
        let metrics = Metrics::new("svc");
        let api = Router::new().route("/x", get(|| async { "x" }));
        let app = spawn(ServiceRouter::new(metrics.clone()).finish(api)).await;
        let ops = spawn(metrics_router(vec![metrics.clone()])).await;
        metrics.add("svc_fake_requests_total", "Fakes.", 1);
        let http = reqwest::Client::new();
        assert_eq!(
            http.get(format!("{app}/x")).send().await.unwrap().status(),
            200
        );
        for path in ["/metrics", "/metrics/"] {
            let r = http.get(format!("{app}{path}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"], "no_route", "{path}");
        }
        let r = http.get(format!("{ops}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.unwrap();
        assert!(
            text.contains("svc_fake_requests_total{service=\"svc\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("http_requests_total{service=\"svc\",route=\"/x\",status=\"200\"} 1"),
            "{text}"
        );
        // The app port's 404s on /metrics are counted as unmatched, not as a route of their own.
        assert!(!text.contains("route=\"/metrics\""), "{text}");
        let r = http.post(format!("{ops}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        let r = http.get(format!("{ops}/x")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
