//! HTML out and forms in: HTML responses, redirects, error pages ([`PageError`]) and form bodies.

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use warnkit_service::AppError;

use crate::pages::{self, Officer};
use crate::roles::Roles;
use crate::store::SessionRow;
use crate::text::text;

/// An error shown as an HTML page with its status; 5xx details stay in the log.
#[derive(Debug)]
pub(crate) struct PageError {
    pub error: AppError,
    pub officer: Option<(String, Roles, String)>,
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

/// Parses an `application/x-www-form-urlencoded` body.
pub(crate) fn form<T: DeserializeOwned>(body: &Bytes) -> Result<T, PageError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| AppError::bad_request("invalid_form", "the form could not be read").into())
}
