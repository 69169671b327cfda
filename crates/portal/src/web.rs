//! The portal's router: the routes of `handlers` and `sso`, the static assets, and the security headers
//! on every response.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use warnkit_service::ServiceRouter;

use crate::service::PortalService;
use crate::{handlers, sso};

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
    let api = Router::new()
        .route("/", get(handlers::root))
        .route("/login", get(handlers::login_form).post(handlers::login))
        .route("/login/totp", get(handlers::totp_form).post(handlers::totp))
        .route(
            "/totp/enrol",
            get(handlers::enrol_form).post(handlers::enrol),
        )
        .route("/start", get(handlers::start))
        .route("/teletan", axum::routing::post(handlers::teletan))
        .route(
            "/teletan/event",
            axum::routing::post(handlers::event_teletan),
        )
        .route("/oidc/login", get(sso::login))
        .route("/oidc/callback", get(sso::callback))
        .route("/logout", axum::routing::post(handlers::logout))
        .route(
            "/static/portal.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/static/portal.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .with_state(service.clone());
    ServiceRouter::new(service.inner.metrics.clone())
        .database(service.db().clone())
        .max_body(service.inner.config.max_body_bytes)
        .openapi(crate::openapi::document())
        .finish(api)
        .layer(middleware::from_fn(security_headers))
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
