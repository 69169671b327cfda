//! The officer's session: cookies, the session lookup, CSRF checks, and the sign-in page, which sets the
//! sign-in form's CSRF cookie (shown by the password sign-in and by a refused OpenID sign-in alike).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use warnkit_service::auth::{constant_time_eq, sha256_hex};
use warnkit_service::AppError;

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
