//! The OpenAPI 3 documents every port serves at `/openapi.json`: a service's handler-generated document
//! joined to the probes' and the error envelope, and the check that a port's router and document agree.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::OpenApi as _;

use crate::error::ErrorBody;

/// The probes every service router adds (`/health`, `/ready`, `/openapi.json`) and the error envelope.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(crate::http::health, crate::http::ready, crate::http::openapi),
    components(schemas(ErrorBody))
)]
struct Probes;

/// The document of a port: `api` (generated from the port's handlers) with the probes and the error
/// envelope added, under `title` and the crate version, as the JSON that
/// [`ServiceRouter::openapi`](crate::ServiceRouter::openapi) serves.
pub fn document(title: &str, mut api: OpenApi) -> Value {
    api.merge(Probes::openapi());
    // Not what a derive fills in from whichever crate holds it (utoipa-axum's, for its routers).
    api.info = utoipa::openapi::Info::new(title, env!("CARGO_PKG_VERSION"));
    serde_json::to_value(&api).expect("an OpenAPI document serialises")
}

/// Adds the HTTP bearer scheme `name` (which operations name in their `security`) to `api`.
pub fn bearer_scheme(api: &mut OpenApi, name: &str, description: &str) {
    let mut scheme = Http::new(HttpAuthScheme::Bearer);
    scheme.description = Some(description.to_owned());
    api.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(name, SecurityScheme::Http(scheme));
}

/// Every `(METHOD, path template)` that `doc` documents, sorted.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops: Vec<(String, String)> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .filter(|(method, _)| METHODS.contains(&method.to_uppercase().as_str()))
                .map(move |(method, _)| (method.to_uppercase(), path.clone()))
        })
        .collect();
    ops.sort();
    ops
}

const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"];

/// Whether `router` and `doc` agree, sent through the router in process: every documented operation is
/// routed (answered by a handler, not by the JSON `no_route` 404 or `method_not_allowed` 405), and every
/// method the document leaves out on a documented path is the 405 (a `GET` route answers `HEAD` too, so
/// a documented `GET` covers it). Path parameters are filled with `x`; a handler refusing that value is
/// still a routed answer. The mismatches, one line each; empty when they agree.
pub async fn mismatches(router: &Router, doc: &Value) -> Vec<String> {
    let documented = operations(doc);
    let paths: std::collections::BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    let mut out = Vec::new();
    for path in paths {
        let uri = fill(path);
        let has_get = documented.iter().any(|(m, p)| p == path && m == "GET");
        for method in METHODS {
            // axum answers HEAD wherever it routes GET, and a HEAD answer's status alone cannot tell
            // a handler's 404 from the fallback's.
            if method == "HEAD" && has_get {
                continue;
            }
            let listed = documented.iter().any(|(m, p)| p == path && m == method);
            let routed = is_routed(router, method, &uri).await;
            match (listed, routed) {
                (true, false) => out.push(format!("{method} {path}: documented, not routed")),
                (false, true) => out.push(format!("{method} {path}: routed, not documented")),
                _ => {}
            }
        }
    }
    out
}

/// The document `router` serves at `/openapi.json`, asked in process.
pub async fn served(router: &Router) -> Value {
    let request = Request::get("/openapi.json")
        .body(Body::empty())
        .expect("a valid request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// `template` with every `{name}` (and `{*name}`) replaced by `x`.
fn fill(template: &str) -> String {
    template
        .split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                "x"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn is_routed(router: &Router, method: &str, uri: &str) -> bool {
    let request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("a known method"))
        .uri(uri)
        .body(Body::empty())
        .expect("a valid request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    // A HEAD answer has no body to name its code: its status has to do.
    if method == "HEAD"
        || (status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED)
    {
        return status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let code = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned));
    !matches!(code.as_deref(), Some("no_route" | "method_not_allowed"))
}

#[cfg(test)]
mod tests {
    use axum::routing::{get, post};

    use super::*;
    use crate::{Metrics, ServiceRouter};

    fn doc_of(paths: &[(&str, &str)]) -> Value {
        let mut doc = serde_json::json!({"paths": {}});
        for (method, path) in paths {
            doc["paths"][*path][method.to_lowercase()] = serde_json::json!({"responses": {}});
        }
        doc
    }

    fn probes() -> Vec<(&'static str, &'static str)> {
        vec![
            ("GET", "/health"),
            ("GET", "/ready"),
            ("GET", "/openapi.json"),
        ]
    }

    #[tokio::test]
    async fn the_probes_document_is_the_probes_router() {
        let router = ServiceRouter::new(Metrics::new("t")).finish(Router::new());
        let doc = document("t", OpenApi::default());
        assert_eq!(
            served(&router).await,
            Value::Null,
            "nothing set, nothing served"
        );
        let router = ServiceRouter::new(Metrics::new("t"))
            .openapi(doc.clone())
            .finish(Router::new());
        assert_eq!(served(&router).await, doc);
        assert_eq!(mismatches(&router, &doc).await, Vec::<String>::new());
        assert_eq!(doc["components"]["schemas"]["Error"]["type"], "object");
        assert_eq!(doc["info"]["title"], "t");
    }

    #[tokio::test]
    async fn a_drift_either_way_is_named() {
        let api = Router::new()
            .route("/a/{id}", get(|| async { "a" }))
            .route("/b", post(|| async { "b" }));
        let router = ServiceRouter::new(Metrics::new("t")).finish(api);
        let mut listed = probes();
        listed.extend([("GET", "/a/{id}"), ("POST", "/b")]);
        assert_eq!(
            mismatches(&router, &doc_of(&listed)).await,
            Vec::<String>::new()
        );

        // `/b` routed but left out would not be found by walking the document's paths: the document
        // must then name a wrong method on it, which this catches both ways.
        let mut wrong = probes();
        wrong.extend([("GET", "/a/{id}"), ("PUT", "/b"), ("GET", "/c")]);
        assert_eq!(
            mismatches(&router, &doc_of(&wrong)).await,
            vec![
                "POST /b: routed, not documented".to_owned(),
                "PUT /b: documented, not routed".to_owned(),
                "GET /c: documented, not routed".to_owned(),
            ]
        );
    }
}
