//! One error type for every handler and one JSON envelope on the wire: `{"error": CODE, "message": TEXT}`.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Result of a handler or service function.
pub type AppResult<T> = Result<T, AppError>;

/// An error that knows its HTTP status and a short, client-safe explanation.
///
/// Messages never contain tokens, hashes or addresses: they are written to logs and to clients alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// HTTP status sent to the client.
    pub status: StatusCode,
    /// Stable machine-readable code (snake case).
    pub code: &'static str,
    /// One short human-readable sentence.
    pub message: Cow<'static, str>,
}

impl AppError {
    /// An error with any status.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is well-formed JSON but not acceptable.
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: missing or wrong credentials.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        )
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404: nothing matches.
    pub fn not_found(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 413: the body is over the configured limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body over {limit} bytes"),
        )
    }

    /// 415: not `application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "content type must be application/json",
        )
    }

    /// 429: a rate limit is reached.
    pub fn too_many_requests(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
    }

    /// 500 after logging `cause` (which must not contain secrets): the client learns nothing more.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// 502/503: a service this one depends on did not answer properly.
    pub fn upstream(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "upstream service failed");
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream",
            "a backing service is unavailable",
        )
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for AppError {}

/// The JSON envelope of every error, named `Error` in the OpenAPI documents.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Stable code.
    pub error: String,
    /// Short explanation.
    pub message: String,
}

impl AppError {
    /// The envelope as bytes, for the connection loops that write responses themselves.
    pub fn json(&self) -> Vec<u8> {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message.clone().into_owned(),
        };
        serde_json::to_vec(&body).expect("two strings serialise")
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message.into_owned(),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            // An exhausted pool is load, not a bug: tell clients to come back.
            sqlx::Error::PoolTimedOut => {
                tracing::warn!("database pool exhausted");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "service overloaded, retry later",
                )
            }
            // An outage or a restart is not a bug either: the client retries, nothing was changed.
            other if warnkit_store::is_unavailable(&other) => {
                tracing::warn!(error = %other, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "database unavailable, retry later",
                )
            }
            other => Self::internal(format_args!("database: {other}")),
        }
    }
}
