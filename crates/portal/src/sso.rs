//! The OpenID Connect routes: `GET /oidc/login` sends the browser to the provider, `GET /oidc/callback`
//! turns its answer into a portal session (or a refusal on the sign-in page).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use warnkit_service::auth::{constant_time_eq, sha256_hex};
use warnkit_service::AppError;

use crate::jwt::{self, Claims, Expected, IdTokenError};
use crate::oidc::{
    self, claim, pkce_challenge, refused, Oidc, Refusal, LEEWAY_SECS, PENDING_SECS, STATE_COOKIE,
    USER_PREFIX,
};
use crate::page::{html, see_other, PageError};
use crate::pages;
use crate::roles::Roles;
use crate::service::PortalService;
use crate::session::{
    cookie, is_tls, login_page, random_token, set_cookie, signed_in, SESSION_COOKIE,
    SIGN_IN_REFUSED, UNKNOWN_ACTOR,
};
use crate::store;
use crate::text::text;

fn provider(s: &PortalService) -> Result<&Oidc, PageError> {
    s.inner
        .oidc
        .as_ref()
        .ok_or_else(|| AppError::not_found("not_found", text().not_found).into())
}

/// A `Set-Cookie` for the state cookie (`SameSite=Lax`, only sent to `/oidc/`).
fn state_cookie(value: &str, max_age: i64, secure: bool) -> header::HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{STATE_COOKIE}={value}; Path=/oidc/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    );
    header::HeaderValue::from_str(&text).expect("cookie of hex and constant names")
}

/// `GET /oidc/login`: sends the browser to the provider with a fresh state, nonce and PKCE challenge.
#[utoipa::path(get, path = "/oidc/login", summary = "Sign-in at the OpenID Connect provider (404 unless one is configured).",
    responses((status = 303, description = "To the provider.", headers(("Location" = String))),
        (status = 404, description = "No provider configured.")))]
pub(crate) async fn login(
    State(s): State<PortalService>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let oidc = provider(&s)?;
    let now = s.inner.clock.now();
    let found = match oidc.discovered(now, false).await {
        Ok(found) => found,
        Err(r) => return Ok(refusal_page(&s, &headers, r)),
    };
    let (state, nonce, verifier) = (random_token(), random_token(), random_token());
    store::insert_oidc_login(
        s.db(),
        &sha256_hex(&state),
        &nonce,
        &verifier,
        now,
        now + PENDING_SECS,
    )
    .await?;
    let c = &oidc.config;
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", c.client_id.as_str()),
        ("redirect_uri", c.redirect_url.as_str()),
        ("scope", c.scopes.as_str()),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", pkce_challenge(&verifier).as_str()),
        ("code_challenge_method", "S256"),
    ])
    .map_err(AppError::internal)?;
    let endpoint = &found.meta.authorization_endpoint;
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    let mut response = see_other(&format!("{endpoint}{sep}{query}"));
    let cookie = state_cookie(&state, PENDING_SECS, is_tls(&s, &headers));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// The query of the provider's redirect back.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
    /// RFC 9207: the provider names itself, so an answer from another provider is caught.
    #[serde(default)]
    iss: Option<String>,
}

/// `GET /oidc/callback`: checks the state against the cookie, exchanges the code (with the PKCE
/// verifier), verifies the ID token, maps the roles and starts a session.
#[utoipa::path(get, path = "/oidc/callback", summary = "The provider's answer (404 unless one is configured).",
    params(Callback),
    responses((status = 200, description = "Signed in, or why not.", content_type = "text/html", body = String),
        (status = 400, description = "Stale or refused sign-in.", content_type = "text/html", body = String),
        (status = 404, description = "No provider configured.")))]
pub(crate) async fn callback(
    State(s): State<PortalService>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Result<Response, PageError> {
    let oidc = provider(&s)?;
    let now = s.inner.clock.now();
    let from_cookie = cookie(&headers, STATE_COOKIE).unwrap_or_default();
    let state_ok =
        !q.state.is_empty() && constant_time_eq(q.state.as_bytes(), from_cookie.as_bytes());
    let pending = if state_ok {
        store::take_oidc_login(s.db(), &sha256_hex(&q.state), now).await?
    } else {
        None
    };
    let result = match pending {
        None => Err(Refusal(
            StatusCode::BAD_REQUEST,
            text().sso_stale.to_owned(),
        )),
        Some(_) if q.iss.as_ref().is_some_and(|i| *i != oidc.config.issuer) => Err(refused(
            "the answer came from another provider (iss)".into(),
        )),
        Some(_) if !q.error.is_empty() => {
            let error = oidc::error_code(&q.error);
            Err(refused(format!(
                "the provider did not sign you in ({error})"
            )))
        }
        Some(_) if q.code.is_empty() => Err(refused("the provider sent no code".into())),
        Some((nonce, verifier)) => sign_in(&s, oidc, &q.code, &nonce, &verifier, now).await,
    };
    let (username, roles) = match result {
        Ok(who) => who,
        Err(r) => {
            tracing::info!(target: "audit", via = "oidc", reason = %r.1, "sign-in refused");
            // The provider's account is known only once its token checked out; the reason names it
            // where it matters (a disabled account).
            let subject = format!("oidc: {}", r.1);
            s.audit(UNKNOWN_ACTOR, SIGN_IN_REFUSED, &subject).await?;
            return Ok(refusal_page(&s, &headers, r));
        }
    };
    let window = s.inner.config.login_window_secs as i64;
    store::sweep(s.db(), now, now - window).await?;
    let id = random_token();
    let expires = now + s.inner.config.session_secs as i64;
    store::insert_session(
        s.db(),
        &sha256_hex(&id),
        &username,
        "active",
        &random_token(),
        now,
        expires,
    )
    .await?;
    tracing::info!(target: "audit", user = %username, role = %roles, via = "oidc", stage = "active", "signed in");
    signed_in(&s, &username, now, "oidc").await?;
    let tls = is_tls(&s, &headers);
    // A page, not a redirect: the `Strict` session cookie rides only on a navigation that starts here,
    // and the redirect from the provider started elsewhere.
    let mut response = html(StatusCode::OK, pages::signed_in(text()));
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, s.inner.config.session_secs, tls),
    );
    h.append(header::SET_COOKIE, state_cookie("", 0, tls));
    Ok(response)
}

/// The code exchange, the ID token checks and the role mapping; the account name and roles on success.
async fn sign_in(
    s: &PortalService,
    oidc: &Oidc,
    code: &str,
    nonce: &str,
    verifier: &str,
    now: i64,
) -> Result<(String, Roles), Refusal> {
    let found = oidc.discovered(now, false).await?;
    let (id_token, access_token) = oidc
        .exchange(&found.meta.token_endpoint, code, verifier)
        .await?;
    let expected = Expected {
        issuer: &oidc.config.issuer,
        client_id: &oidc.config.client_id,
        nonce,
        now,
        leeway: LEEWAY_SECS,
    };
    let mut claims = match jwt::verify_id_token(&id_token, &found.jwks, &expected) {
        // The provider may have rolled its keys since the set was fetched.
        Err(IdTokenError::UnknownKey) => {
            let found = oidc.discovered(now, true).await?;
            jwt::verify_id_token(&id_token, &found.jwks, &expected)
        }
        other => other,
    }
    .map_err(|e| refused(e.to_string()))?;
    let sub = claims["sub"].as_str().unwrap_or_default().to_owned();
    let has = |c: &Claims, path: &str| claim(c, path).is_some();
    let missing =
        !has(&claims, &oidc.config.role_claim) || !has(&claims, &oidc.config.username_claim);
    if let (true, Some(endpoint), false) = (
        missing,
        &found.meta.userinfo_endpoint,
        access_token.is_empty(),
    ) {
        for (k, v) in oidc.userinfo(endpoint, &access_token, &sub).await? {
            claims.entry(k).or_insert(v);
        }
    }
    let name = claim(&claims, &oidc.config.username_claim)
        .and_then(Value::as_str)
        .unwrap_or(&sub);
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(refused("the provider's user name is not usable".into()));
    }
    let username = format!("{USER_PREFIX}{name}");
    let roles = oidc.map_roles(&claims);
    if roles.is_empty() {
        // The provider took the officer's roles away: sessions started earlier end too.
        let ended = match store::delete_sessions_of(s.db(), &username).await {
            Ok(ended) => ended,
            Err(e) => {
                tracing::error!(error = %e, "ending the sessions of an OpenID account");
                return Err(Refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    text().internal_error.to_owned(),
                ));
            }
        };
        tracing::info!(target: "audit", user = %username, via = "oidc", sessions_ended = ended, "no portal role");
        let message = text().sso_no_role.replace("{provider}", oidc.name());
        return Err(Refusal(StatusCode::FORBIDDEN, message));
    }
    match store::upsert_oidc_user(s.db(), &username, roles, now).await {
        Ok(true) => match store::user(s.db(), &username).await {
            Ok(Some(user)) if !user.disabled => Ok((username, roles)),
            Ok(_) => Err(refused(format!("the account {username} is disabled"))),
            Err(e) => {
                tracing::error!(error = %e, "reading an OpenID account");
                Err(Refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    text().internal_error.to_owned(),
                ))
            }
        },
        Ok(false) => Err(refused(
            "the account name is taken by a local account".into(),
        )),
        Err(e) => {
            tracing::error!(error = %e, "storing an OpenID account");
            Err(Refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                text().internal_error.to_owned(),
            ))
        }
    }
}

/// The sign-in page with the refusal's message (and a fresh sign-in form).
fn refusal_page(s: &PortalService, headers: &HeaderMap, r: Refusal) -> Response {
    let message = if r.0 == StatusCode::UNAUTHORIZED {
        text().sso_refused.replace("{reason}", &r.1)
    } else {
        r.1
    };
    login_page(s, headers, r.0, Some(&message), "")
}
