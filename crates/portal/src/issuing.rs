//! Issuing teleTANs from the start page: TEST for the hotline role, EVENT ("PIW") for a configured
//! health authority for the event role, each through verification's internal API, at most one per
//! officer per interval.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use warnkit_service::AppError;
use warnkit_verification::wire::{
    self, TeletanCreated, TeletanType, TELETAN_PATH, TELETAN_TYPE_HEADER,
};

use crate::config::HealthAuthority;
use crate::handlers::{at_stage, officer, start_page, CsrfForm, PageResult};
use crate::page::{form, html, PageError};
use crate::pages;
use crate::roles::Role;
use crate::service::PortalService;
use crate::session::check_csrf;
use crate::store::{self, SessionRow};
use crate::text::text;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct EventForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    authority: String,
}

/// `POST /teletan`: the hotline role gets a TEST teleTAN from the verification service, at most one per
/// officer per interval. The teleTAN goes to the page only: never to the log or the database.
#[utoipa::path(post, path = "/teletan", summary = "Issues a TEST teleTAN (hotline role).",
    security(("session" = [])),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The teleTAN.", content_type = "text/html", body = String),
        (status = 303, description = "Signed out: to `/login`.", headers(("Location" = String))),
        (status = 403, description = "Not the hotline role, or CSRF token missing or wrong.", content_type = "text/html", body = String),
        (status = 429, description = "One teleTAN per officer per interval.", content_type = "text/html", body = String),
        (status = 502, description = "The verification service did not answer.", content_type = "text/html", body = String)))]
pub(crate) async fn teletan(
    State(s): State<PortalService>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let session = match at_stage(&s, &headers, "active").await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let f: CsrfForm = form(&body)?;
    checked(&session, &f.csrf, Role::Hotline)?;
    issue(&s, &session, None).await
}

/// `POST /teletan/event`: the event role gets an EVENT ("PIW") teleTAN for a health authority from the
/// configured list; the same interval, limits and display as a TEST teleTAN.
#[utoipa::path(post, path = "/teletan/event", summary = "Issues an EVENT (PIW) teleTAN for a configured health authority (event role).",
    security(("session" = [])),
    request_body(content = EventForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The event teleTAN.", content_type = "text/html", body = String),
        (status = 303, description = "Signed out: to `/login`.", headers(("Location" = String))),
        (status = 400, description = "No authority, or one not configured.", content_type = "text/html", body = String),
        (status = 403, description = "Not the event role, or CSRF token missing or wrong.", content_type = "text/html", body = String),
        (status = 429, description = "One teleTAN per officer per interval.", content_type = "text/html", body = String),
        (status = 502, description = "The verification service did not answer.", content_type = "text/html", body = String)))]
pub(crate) async fn event_teletan(
    State(s): State<PortalService>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let session = match at_stage(&s, &headers, "active").await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let f: EventForm = form(&body)?;
    checked(&session, &f.csrf, Role::Event)?;
    let list = &s.inner.config.health_authorities;
    let Some(authority) = list.iter().find(|a| a.nr == f.authority) else {
        tracing::info!(target: "audit", user = %session.username, "event teleTAN refused: unknown health authority");
        return Ok(start_page(
            &s,
            &session,
            StatusCode::BAD_REQUEST,
            Some(text().authority_unknown),
        ));
    };
    issue(&s, &session, Some(authority)).await
}

/// Refuses a form without the session's CSRF token, or an officer without `role`.
fn checked(session: &SessionRow, csrf: &str, role: Role) -> Result<(), PageError> {
    if let Err(e) = check_csrf(csrf, &session.csrf) {
        tracing::warn!(target: "audit", user = %session.username, "teleTAN request without a valid CSRF token");
        return Err(PageError::with_session(e, session));
    }
    if !session.roles.contains(role) {
        tracing::warn!(target: "audit", user = %session.username, role = %session.roles, needed = role.as_str(), "teleTAN refused: role");
        return Err(PageError::with_session(
            AppError::forbidden("role", text().forbidden),
            session,
        ));
    }
    Ok(())
}

/// Claims the officer's interval, asks the verification service, shows the teleTAN: TEST, or EVENT for
/// `event`'s authority.
async fn issue(
    s: &PortalService,
    session: &SessionRow,
    event: Option<&HealthAuthority>,
) -> PageResult {
    let config = &s.inner.config;
    let now = s.inner.clock.now();
    let interval = config.teletan_interval_secs as i64;
    let previous = match store::claim_teletan_slot(s.db(), &session.username, now, interval).await?
    {
        Ok(previous) => previous,
        Err(_) => {
            tracing::info!(target: "audit", user = %session.username, "teleTAN refused: officer interval");
            let message = text()
                .officer_limit
                .replace("{seconds}", &interval.to_string());
            return Ok(start_page(
                s,
                session,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&message),
            ));
        }
    };
    let teletan_type = if event.is_some() {
        TeletanType::Event
    } else {
        TeletanType::Test
    };
    let kind = teletan_type.as_str();
    match fetch_teletan(s, teletan_type).await {
        Ok(tan) => {
            s.inner.metrics.add(
                "portal_teletans_issued_total",
                "teleTANs issued through the portal.",
                1,
            );
            match event {
                Some(a) => {
                    tracing::info!(target: "audit", user = %session.username, at = now, kind, authority = %a.nr, authority_name = %a.name, "teleTAN issued")
                }
                None => {
                    tracing::info!(target: "audit", user = %session.username, at = now, kind, "teleTAN issued")
                }
            }
            // The type and the authority, never the value. Shown only once this row is written: a
            // teleTAN that the trail cannot account for is not handed out.
            let subject = match event {
                Some(a) => format!("{kind} for {}", a.nr),
                None => kind.to_owned(),
            };
            s.audit(&session.username, "teletan.issue", &subject)
                .await?;
            let page = pages::teletan(
                text(),
                officer(session),
                &tan,
                config.teletan_display_secs,
                event,
            );
            Ok(html(StatusCode::OK, page))
        }
        Err(e) => {
            store::release_teletan_slot(s.db(), &session.username, now, previous).await?;
            let (status, message) = if e.status == StatusCode::TOO_MANY_REQUESTS {
                tracing::warn!(target: "audit", user = %session.username, "teleTAN refused: hourly limit");
                (StatusCode::TOO_MANY_REQUESTS, text().global_limit)
            } else {
                (StatusCode::BAD_GATEWAY, text().upstream_failed)
            };
            Ok(start_page(s, session, status, Some(message)))
        }
    }
}

/// Asks the verification service's internal API for a teleTAN of `kind`.
async fn fetch_teletan(s: &PortalService, kind: TeletanType) -> Result<String, AppError> {
    let url = wire::url(&s.inner.config.verification_url, TELETAN_PATH);
    let response = s
        .inner
        .http
        .post(url)
        .bearer_auth(&s.inner.service_token)
        .header(TELETAN_TYPE_HEADER, kind.as_str())
        .send()
        .await
        .map_err(|e| {
            AppError::upstream(format_args!("verification service: {}", e.without_url()))
        })?;
    match response.status() {
        StatusCode::CREATED => {
            let created: TeletanCreated = response.json().await.map_err(|_| {
                AppError::upstream("verification service: unreadable teleTAN response")
            })?;
            Ok(created.value)
        }
        StatusCode::TOO_MANY_REQUESTS => {
            Err(AppError::too_many_requests("teleTAN hourly limit reached"))
        }
        other => Err(AppError::upstream(format_args!(
            "verification service answered {other}"
        ))),
    }
}
