//! The officer's session: cookies, the session lookup, CSRF checks, the audit rows of signing in, and the
//! sign-in page, which sets the sign-in form's CSRF cookie (shown by the password sign-in and by a refused
//! OpenID sign-in alike), also as the answer to a sign-in the password pool is too busy for.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use warnkit_service::auth::{constant_time_eq, sha256_hex};
use warnkit_service::AppError;

use crate::hashing;
use crate::page::{html, PageError};
use crate::pages;
use crate::service::PortalService;
use crate::store::{self, SessionRow};
use crate::text::text;

/// The session cookie (its SHA-256 is the session's key in the database).
pub const SESSION_COOKIE: &str = "wk_portal_session";
/// The sign-in form's CSRF cookie (double submit: the form field must repeat it).
pub const LOGIN_COOKIE: &str = "wk_portal_login";

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

/// The audit action of a refused sign-in (password, code, OpenID provider); the subject says why.
pub(crate) const SIGN_IN_REFUSED: &str = "portal.sign-in-refused";
/// The actor of a refused sign-in whose name is no account.
pub(crate) const UNKNOWN_ACTOR: &str = "(unknown)";

/// `username` if it names an account, else [`UNKNOWN_ACTOR`]: a name that is no account is not kept.
pub(crate) async fn actor_of(s: &PortalService, username: &str) -> Result<String, PageError> {
    let known = store::user(s.db(), username).await?.is_some();
    Ok(if known { username } else { UNKNOWN_ACTOR }.to_owned())
}

/// Notes a completed sign-in (`via`: password, password+totp, oidc) on the account and in the trail.
pub(crate) async fn signed_in(
    s: &PortalService,
    username: &str,
    now: i64,
    via: &str,
) -> Result<(), PageError> {
    store::mark_signed_in(s.db(), username, now).await?;
    s.audit(username, "portal.sign-in", via).await?;
    Ok(())
}

/// The sign-in form (with the OpenID provider's button when configured) and its CSRF cookie.
pub(crate) fn login_page(
    s: &PortalService,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
    username: &str,
) -> Response {
    let token = random_token();
    let sso = s.inner.oidc.as_ref().map(|o| o.name());
    let mut response = html(status, pages::login(text(), &token, error, username, sso));
    let cookie = set_cookie(LOGIN_COOKIE, &token, 3600, is_tls(s, headers));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// 503 with `Retry-After: 1` for a sign-in the password pool did not admit: the sign-in form again with a
/// message for a browser (it asks for HTML), the JSON error envelope (`busy`) for any other client.
pub(crate) fn busy(s: &PortalService, headers: &HeaderMap, username: &str) -> Response {
    s.inner.metrics.add(
        "portal_sign_ins_busy_total",
        "Sign-ins answered 503 busy because every password check and queue place was taken.",
        1,
    );
    tracing::debug!("sign-in refused: every password check is taken");
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let mut response = if wants_html {
        let username = if username.len() <= 64 { username } else { "" };
        let status = StatusCode::SERVICE_UNAVAILABLE;
        login_page(s, headers, status, Some(text().login_busy), username)
    } else {
        hashing::busy().into_response()
    };
    let retry = HeaderValue::from_static("1");
    response.headers_mut().insert(header::RETRY_AFTER, retry);
    response
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
