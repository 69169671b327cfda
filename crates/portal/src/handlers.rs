//! The portal's pages and form posts: sign-in (password, then TOTP or its enrolment), the start page,
//! sign-out (issuing a teleTAN is [`crate::issuing`]'s).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use warnkit_service::auth::sha256_hex;
use warnkit_service::AppError;

use crate::page::{form, html, see_other, PageError};
use crate::pages::{self, Officer};
use crate::service::PortalService;
use crate::session::{
    actor_of, busy, check_csrf, cookie, current_session, is_tls, login_page, random_token,
    set_cookie, signed_in, LOGIN_COOKIE, SESSION_COOKIE, SIGN_IN_REFUSED, UNKNOWN_ACTOR,
};
use crate::store::{self, SessionRow};
use crate::text::text;
use crate::totp;

/// What a page handler answers: a page, a redirect, or a refusal shown as a page.
pub(crate) type PageResult = Result<Response, PageError>;

/// A session that still needs its second factor lives this long.
const PENDING_SESSION_SECS: i64 = 600;
/// Issuer name shown in authenticator apps.
const TOTP_ISSUER: &str = "warnkit portal";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

pub(crate) fn officer(s: &SessionRow) -> Officer<'_> {
    Officer {
        username: &s.username,
        roles: s.roles,
        csrf: &s.csrf,
    }
}

/// Where a session of `stage` belongs.
fn home_of(stage: &str) -> &'static str {
    match stage {
        "active" => "/start",
        "totp" => "/login/totp",
        "enrol" => "/totp/enrol",
        _ => "/login",
    }
}

/// `GET /`: to the start page or the sign-in form.
#[utoipa::path(get, path = "/", summary = "To the start page when signed in, else to the sign-in form.",
    responses((status = 303, description = "To `/start` or `/login`.", headers(("Location" = String)))))]
pub(crate) async fn root(State(s): State<PortalService>, headers: HeaderMap) -> PageResult {
    let session = current_session(&s, &headers).await?;
    Ok(see_other(session.map_or("/login", |x| home_of(&x.stage))))
}

/// `GET /login`: the sign-in form with a fresh double-submit CSRF token.
#[utoipa::path(get, path = "/login", summary = "The sign-in form (sets the double-submit CSRF cookie).",
    responses((status = 200, description = "The form.", content_type = "text/html", body = String),
        (status = 303, description = "Signed in: to the start page.", headers(("Location" = String)))))]
pub(crate) async fn login_form(State(s): State<PortalService>, headers: HeaderMap) -> PageResult {
    if let Some(session) = current_session(&s, &headers).await? {
        return Ok(see_other(home_of(&session.stage)));
    }
    Ok(login_page(&s, &headers, StatusCode::OK, None, ""))
}

/// Counts a sign-in attempt of `username` before its password or code is checked: `Ok(window)` lets it
/// through (the start of the window it was counted in, to give the count back on success), `Err(message)`
/// refuses it because the account's failures fill the window, naming the minutes left. Counting first, in
/// one statement, is what keeps concurrent guesses from all passing a check made before any of them failed.
async fn attempt(
    s: &PortalService,
    username: &str,
    now: i64,
) -> Result<Result<i64, String>, PageError> {
    let config = &s.inner.config;
    let window = config.login_window_secs as i64;
    let (count, started) = store::claim_attempt(s.db(), username, now, now - window).await?;
    if count <= i64::from(config.login_max_failures) {
        return Ok(Ok(started));
    }
    let minutes = ((started + window - now).max(1) + 59) / 60;
    tracing::warn!(target: "audit", user = username, "sign-in throttled");
    let actor = actor_of(s, username).await?;
    s.audit(&actor, SIGN_IN_REFUSED, "throttled").await?;
    Ok(Err(text()
        .login_throttled
        .replace("{minutes}", &minutes.to_string())))
}

/// `POST /login`: checks the password, then starts a session at the right stage.
#[utoipa::path(post, path = "/login", summary = "Checks user name and password, then starts a session.",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in: to the TOTP step, the enrolment or the start page.", headers(("Location" = String))),
        (status = 400, description = "The form could not be read.", content_type = "text/html", body = String),
        (status = 401, description = "Wrong user name or password (the same answer for both).", content_type = "text/html", body = String),
        (status = 403, description = "CSRF token missing or wrong.", content_type = "text/html", body = String),
        (status = 429, description = "Too many failed sign-ins.", content_type = "text/html", body = String),
        (status = 503, description = "Too many sign-ins in progress; try again shortly.", content_type = "text/html", body = String)))]
pub(crate) async fn login(
    State(s): State<PortalService>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let f: LoginForm = form(&body)?;
    check_csrf(&f.csrf, cookie(&headers, LOGIN_COOKIE).unwrap_or_default())?;
    // A place among the sign-ins in progress first: a saturated portal refuses at once, before any
    // database work, and the refusal costs the account no attempt.
    let Some(admission) = s.inner.hashes.admit() else {
        return Ok(busy(&s, &headers, f.username.trim()));
    };
    let now = s.inner.clock.now();
    let window = s.inner.config.login_window_secs as i64;
    store::sweep(s.db(), now, now - window).await?;
    let username = f.username.trim();
    if username.is_empty() || username.len() > 64 {
        return Ok(login_page(
            &s,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some(text().login_failed),
            "",
        ));
    }
    let counted_in = match attempt(&s, username, now).await? {
        Ok(window) => window,
        Err(message) => {
            return Ok(login_page(
                &s,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&message),
                username,
            ))
        }
    };
    // Accounts of the OpenID provider have no password here: they are refused like unknown names.
    let account = store::user(s.db(), username).await?;
    let known = account.is_some();
    let user = account.filter(|u| u.password_hash != store::OIDC_PASSWORD_HASH);
    // Unknown names cost the same hash check (against the dummy hash, in the same pool), so timing does
    // not tell which names exist.
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let password_ok = admission.verify(f.password, phc).await?;
    s.inner.metrics.add(
        "portal_password_checks_total",
        "Passwords checked against an Argon2id hash (known and unknown user names).",
        1,
    );
    // A refused attempt stays counted against the account. A disabled account is told apart from a
    // wrong password only after the password was right, and only in the trail.
    let refusal = match &user {
        Some(u) if password_ok && u.disabled => Some("account disabled"),
        Some(_) if password_ok => None,
        _ => Some("wrong user name or password"),
    };
    let (Some(user), None) = (user, refusal) else {
        let reason = refusal.unwrap_or_default();
        tracing::info!(target: "audit", user = username, reason, "sign-in refused");
        // A name that is no account may be a password typed into the wrong field: it is not kept.
        let actor = if known { username } else { UNKNOWN_ACTOR };
        s.audit(actor, SIGN_IN_REFUSED, reason).await?;
        return Ok(login_page(
            &s,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some(text().login_failed),
            username,
        ));
    };
    store::release_attempt(s.db(), username, counted_in).await?;
    let (stage, expires) = match (user.totp_required, user.totp_confirmed) {
        (false, _) => ("active", now + s.inner.config.session_secs as i64),
        (true, true) => ("totp", now + PENDING_SESSION_SECS),
        (true, false) => ("enrol", now + PENDING_SESSION_SECS),
    };
    let id = random_token();
    store::insert_session(
        s.db(),
        &sha256_hex(&id),
        username,
        stage,
        &random_token(),
        now,
        expires,
    )
    .await?;
    tracing::info!(target: "audit", user = username, role = %user.roles, stage, "signed in");
    if stage == "active" {
        signed_in(&s, username, now, "password").await?;
    }
    let tls = is_tls(&s, &headers);
    let mut response = see_other(home_of(stage));
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, s.inner.config.session_secs, tls),
    );
    h.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0, tls));
    Ok(response)
}

/// The session if it is at `stage`, else where to send the browser instead.
pub(crate) async fn at_stage(
    s: &PortalService,
    headers: &HeaderMap,
    stage: &str,
) -> Result<Result<SessionRow, Response>, PageError> {
    match current_session(s, headers).await? {
        Some(session) if session.stage == stage => Ok(Ok(session)),
        Some(session) => Ok(Err(see_other(home_of(&session.stage)))),
        None => Ok(Err(see_other("/login"))),
    }
}

/// `GET /login/totp`: asks for the one-time code.
#[utoipa::path(get, path = "/login/totp", summary = "Asks for the one-time code.",
    security(("session" = [])),
    responses((status = 200, description = "The form.", content_type = "text/html", body = String),
        (status = 303, description = "Not at this stage.", headers(("Location" = String)))))]
pub(crate) async fn totp_form(State(s): State<PortalService>, headers: HeaderMap) -> PageResult {
    let session = match at_stage(&s, &headers, "totp").await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    Ok(html(
        StatusCode::OK,
        pages::totp(text(), &session.csrf, None),
    ))
}

/// Checks a code for the session's officer, whose attempt was counted in the window starting at
/// `counted_in`; on success the session becomes active for its full lifetime.
async fn second_factor(
    s: &PortalService,
    session: &SessionRow,
    code: &str,
    counted_in: i64,
) -> Result<bool, PageError> {
    let now = s.inner.clock.now();
    let user = store::user(s.db(), &session.username).await?;
    let secret = user
        .as_ref()
        .and_then(|u| u.totp_secret.clone())
        .unwrap_or_default();
    let last = user.map_or(i64::MAX, |u| u.totp_last_step);
    s.inner
        .metrics
        .add("portal_totp_checks_total", "One-time codes checked.", 1);
    let accepted = match totp::verify(&secret, code, now, last) {
        Some(step) => store::accept_totp_step(s.db(), &session.username, step).await?,
        None => false,
    };
    if !accepted {
        // The attempt stays counted: with the password right, at most the limit of codes per window.
        tracing::info!(target: "audit", user = %session.username, "one-time code refused");
        s.audit(&session.username, SIGN_IN_REFUSED, "wrong one-time code")
            .await?;
        return Ok(false);
    }
    store::release_attempt(s.db(), &session.username, counted_in).await?;
    let expires = now + s.inner.config.session_secs as i64;
    store::promote_session(s.db(), &session.id_hash, "active", expires).await?;
    tracing::info!(target: "audit", user = %session.username, "second factor accepted");
    signed_in(s, &session.username, now, "password+totp").await?;
    Ok(true)
}

/// `POST /login/totp`.
#[utoipa::path(post, path = "/login/totp", summary = "Checks the one-time code.",
    security(("session" = [])),
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "To the start page.", headers(("Location" = String))),
        (status = 401, description = "Wrong code.", content_type = "text/html", body = String),
        (status = 403, description = "CSRF token missing or wrong.", content_type = "text/html", body = String),
        (status = 429, description = "Too many wrong codes.", content_type = "text/html", body = String)))]
pub(crate) async fn totp(
    State(s): State<PortalService>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let session = match at_stage(&s, &headers, "totp").await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let f: CodeForm = form(&body)?;
    check_csrf(&f.csrf, &session.csrf)?;
    let counted_in = match attempt(&s, &session.username, s.inner.clock.now()).await? {
        Ok(window) => window,
        Err(message) => {
            return Ok(html(
                StatusCode::TOO_MANY_REQUESTS,
                pages::totp(text(), &session.csrf, Some(&message)),
            ))
        }
    };
    if second_factor(&s, &session, &f.code, counted_in).await? {
        return Ok(see_other("/start"));
    }
    Ok(html(
        StatusCode::UNAUTHORIZED,
        pages::totp(text(), &session.csrf, Some(text().totp_failed)),
    ))
}

/// The enrolment page for the session's officer, creating the secret on first view.
async fn enrol_page(
    s: &PortalService,
    session: &SessionRow,
    status: StatusCode,
    error: Option<&str>,
) -> PageResult {
    let user = store::user(s.db(), &session.username).await?;
    let secret = match user.and_then(|u| u.totp_secret) {
        Some(secret) => secret,
        None => {
            let secret = totp::new_secret();
            store::set_totp_secret(s.db(), &session.username, &secret).await?;
            secret
        }
    };
    let uri = totp::otpauth_uri(TOTP_ISSUER, &session.username, &secret);
    let svg = totp::qr_svg(&uri).ok_or_else(|| AppError::internal("QR encoding failed"))?;
    Ok(html(
        status,
        pages::enrol(text(), &session.csrf, &svg, &secret, error),
    ))
}

/// `GET /totp/enrol`: the QR code to scan after the first sign-in.
#[utoipa::path(get, path = "/totp/enrol", summary = "The QR code of the TOTP secret, after the first sign-in.",
    security(("session" = [])),
    responses((status = 200, description = "The QR code and form.", content_type = "text/html", body = String),
        (status = 303, description = "Not at this stage.", headers(("Location" = String)))))]
pub(crate) async fn enrol_form(State(s): State<PortalService>, headers: HeaderMap) -> PageResult {
    match at_stage(&s, &headers, "enrol").await? {
        Ok(session) => enrol_page(&s, &session, StatusCode::OK, None).await,
        Err(redirect) => Ok(redirect),
    }
}

/// `POST /totp/enrol`: confirms enrolment with a first valid code.
#[utoipa::path(post, path = "/totp/enrol", summary = "Confirms the enrolment with a first valid code.",
    security(("session" = [])),
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "To the start page.", headers(("Location" = String))),
        (status = 401, description = "Wrong code.", content_type = "text/html", body = String),
        (status = 403, description = "CSRF token missing or wrong.", content_type = "text/html", body = String),
        (status = 429, description = "Too many wrong codes.", content_type = "text/html", body = String)))]
pub(crate) async fn enrol(
    State(s): State<PortalService>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let session = match at_stage(&s, &headers, "enrol").await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let f: CodeForm = form(&body)?;
    check_csrf(&f.csrf, &session.csrf)?;
    let counted_in = match attempt(&s, &session.username, s.inner.clock.now()).await? {
        Ok(window) => window,
        Err(message) => {
            return enrol_page(&s, &session, StatusCode::TOO_MANY_REQUESTS, Some(&message)).await
        }
    };
    if second_factor(&s, &session, &f.code, counted_in).await? {
        tracing::info!(target: "audit", user = %session.username, "authenticator enrolled");
        return Ok(see_other("/start"));
    }
    enrol_page(
        &s,
        &session,
        StatusCode::UNAUTHORIZED,
        Some(text().totp_failed),
    )
    .await
}

/// `GET /start`: the officer's start page.
#[utoipa::path(get, path = "/start", summary = "The officer's start page: the forms the officer's roles may use.",
    security(("session" = [])),
    responses((status = 200, description = "The start page.", content_type = "text/html", body = String),
        (status = 303, description = "Signed out: to `/login`.", headers(("Location" = String)))))]
pub(crate) async fn start(State(s): State<PortalService>, headers: HeaderMap) -> PageResult {
    let session = match at_stage(&s, &headers, "active").await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    Ok(start_page(&s, &session, StatusCode::OK, None))
}

pub(crate) fn start_page(
    s: &PortalService,
    session: &SessionRow,
    status: StatusCode,
    message: Option<&str>,
) -> Response {
    let hours = s.inner.config.session_secs / 3600;
    let authorities = &s.inner.config.health_authorities;
    html(
        status,
        pages::start(text(), officer(session), message, hours, authorities),
    )
}

/// `POST /logout`: ends the session (its row is deleted) and clears the cookie.
#[utoipa::path(post, path = "/logout", summary = "Ends the session.",
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "To `/login`.", headers(("Location" = String)))))]
pub(crate) async fn logout(
    State(s): State<PortalService>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let Some(session) = current_session(&s, &headers).await? else {
        return Ok(see_other("/login"));
    };
    let f: CsrfForm = form(&body)?;
    check_csrf(&f.csrf, &session.csrf).map_err(|e| PageError::with_session(e, &session))?;
    store::delete_session(s.db(), &session.id_hash).await?;
    tracing::info!(target: "audit", user = %session.username, "signed out");
    s.audit(&session.username, "portal.sign-out", "").await?;
    let mut response = see_other("/login");
    let cookie = set_cookie(SESSION_COOKIE, "", 0, is_tls(&s, &headers));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response.into_response())
}
