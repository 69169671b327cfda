//! The portal's HTTP plumbing: routes, security headers on every response, cookies, form bodies, CSRF checks
//! and HTML error pages.

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use warnkit_service::auth::{constant_time_eq, sha256_hex};
use warnkit_service::{AppError, ServiceRouter};

use crate::pages::{self, Officer};
use crate::store::{self, SessionRow};
use crate::text::{Text, EN};
use crate::{handlers, PortalService};

/// The session cookie (its SHA-256 is the session's key in the database).
pub const SESSION_COOKIE: &str = "wk_portal_session";
/// The sign-in form's CSRF cookie (double submit: the form field must repeat it).
pub const LOGIN_COOKIE: &str = "wk_portal_login";

/// Scripts and styles from this origin only, no inline code, no framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("../assets/portal.css");
const JS: &str = include_str!("../assets/portal.js");

pub(crate) fn router(service: PortalService) -> Router {
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
        .route("/oidc/login", get(crate::sso::login))
        .route("/oidc/callback", get(crate::sso::callback))
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

/// The language of the pages; one place to choose another [`Text`].
pub(crate) fn text() -> &'static Text {
    &EN
}

/// An error shown as an HTML page with its status; 5xx details stay in the log.
#[derive(Debug)]
pub(crate) struct PageError {
    pub error: AppError,
    pub officer: Option<(String, crate::Roles, String)>,
}

impl PageError {
    pub fn with_session(error: AppError, session: &SessionRow) -> Self {
        Self {
            error,
            officer: Some((
                session.username.clone(),
                session.roles,
                session.csrf.clone(),
            )),
        }
    }
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        Self {
            error,
            officer: None,
        }
    }
}

impl From<sqlx::Error> for PageError {
    fn from(err: sqlx::Error) -> Self {
        AppError::from(err).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let t = text();
        let message = if self.error.status.is_server_error() {
            t.internal_error.to_owned()
        } else {
            self.error.message.into_owned()
        };
        let officer = self.officer.as_ref().map(|(u, r, c)| Officer {
            username: u,
            roles: *r,
            csrf: c,
        });
        html(self.error.status, pages::error(t, &message, officer))
    }
}

/// An HTML response.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A 303 to `to` (after a POST, the browser follows with a GET).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, `SameSite=Strict`, and `Secure` when served over TLS. `max_age` 0 deletes.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}");
    // Names are constants and values are hex, so the header is always valid.
    HeaderValue::from_str(&text).expect("cookie of hex and constant names")
}

/// Whether cookies must be `Secure`: configured, or the TLS proxy says the browser used HTTPS.
pub(crate) fn is_tls(service: &PortalService, headers: &HeaderMap) -> bool {
    service.inner.config.cookie_secure
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A new random token (session id, CSRF token): 32 bytes as hex.
pub(crate) fn random_token() -> String {
    warnkit_service::auth::random_secret("")
}

/// Parses an `application/x-www-form-urlencoded` body.
pub(crate) fn form<T: DeserializeOwned>(body: &Bytes) -> Result<T, PageError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| AppError::bad_request("invalid_form", "the form could not be read").into())
}

/// Refuses a form whose `csrf` field does not match `expected` (403, with a message the officer can act on).
pub(crate) fn check_csrf(given: &str, expected: &str) -> Result<(), AppError> {
    if !given.is_empty() && constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(AppError::forbidden("csrf", text().csrf_failed))
    }
}

/// The request's live session, if its cookie names one.
pub(crate) async fn current_session(
    service: &PortalService,
    headers: &HeaderMap,
) -> Result<Option<SessionRow>, PageError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let now = service.inner.clock.now();
    Ok(store::session(service.db(), &sha256_hex(id), now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_parse_and_carry_attributes() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; wk_portal_session=abc; b="),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(cookie(&h, "c"), None);
        let c = set_cookie(SESSION_COOKIE, "ab", 60, true);
        assert_eq!(
            c.to_str().unwrap(),
            "wk_portal_session=ab; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(check_csrf("", "").is_err());
        assert!(check_csrf("x", "y").is_err());
        assert!(check_csrf("abc", "abc").is_ok());
    }
}
