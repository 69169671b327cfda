//! The portal's router: the routes of `handlers` and `sso`, the static assets, and the security headers
//! on every response.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa_axum::{router::OpenApiRouter, routes};
use warnkit_service::ServiceRouter;

use crate::service::PortalService;
use crate::{handlers, issuing, sso};

/// Scripts and styles from this origin only, no inline code, no framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("../assets/portal.css");
const JS: &str = include_str!("../assets/portal.js");

impl PortalService {
    /// The portal's routes, with probes and metrics.
    pub fn router(&self) -> Router {
        router(self.clone())
    }
}

fn router(service: PortalService) -> Router {
    let (api, doc) = OpenApiRouter::new()
        .routes(routes!(handlers::root))
        .routes(routes!(handlers::login_form, handlers::login))
        .routes(routes!(handlers::totp_form, handlers::totp))
        .routes(routes!(handlers::enrol_form, handlers::enrol))
        .routes(routes!(handlers::start))
        .routes(routes!(issuing::teletan))
        .routes(routes!(issuing::event_teletan))
        .routes(routes!(sso::login))
        .routes(routes!(sso::callback))
        .routes(routes!(handlers::logout))
        .routes(routes!(css))
        .routes(routes!(js))
        .with_state(service.clone())
        .split_for_parts();
    ServiceRouter::new(service.inner.metrics.clone())
        .database(service.db().clone())
        .max_body(service.inner.config.max_body_bytes)
        .openapi(crate::openapi::document(doc))
        .finish(api)
        .layer(middleware::from_fn(security_headers))
}

#[utoipa::path(get, path = "/static/portal.css", summary = "The style sheet.",
    responses((status = 200, description = "CSS.", content_type = "text/css", body = String)))]
async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

#[utoipa::path(get, path = "/static/portal.js", summary = "The progressive script (copy button, countdown).",
    responses((status = 200, description = "JavaScript.", content_type = "text/javascript", body = String)))]
async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Headers every response carries, pages and errors alike.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    // Pages may show a teleTAN or a TOTP secret: never keep them in a cache or the back-forward history.
    let cache = if is_static { "no-cache" } else { "no-store" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
