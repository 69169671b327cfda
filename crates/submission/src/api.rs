//! The app-facing route `POST /version/v1/diagnosis-keys`: protobuf in, TAN checked, keys stored.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use prost::Message;
use utoipa_axum::{router::OpenApiRouter, routes};
use warnkit_protocol::proto::SubmissionPayload;
use warnkit_service::error::ErrorBody;
use warnkit_service::fake::{fake_mode, pad_error_bodies, ERROR_RESPONSE_BYTES};
use warnkit_service::{AppError, AppResult, ServiceRouter};

use crate::privacy::strip_transport_metadata;
use crate::tan::{forbidden, tan_from, wrong_type, TanCheck};
use crate::{validation, wire, SubmissionService};

/// The upload path, as in the original.
pub const SUBMISSION_PATH: &str = "/version/v1/diagnosis-keys";

/// Bytes of an oversize body that are read (and thrown away) before the 400 is sent: the same bound as
/// every router's 413.
const DRAIN_LIMIT: usize = warnkit_service::http::DRAIN_LIMIT as usize;

/// The headers of every successful answer, real or fake, as the original sets them (warnkit stores no
/// check-ins, so both counts are always 0).
pub const SUCCESS_HEADERS: [(&str, &str); 2] =
    [("cwa-filtered-checkins", "0"), ("cwa-saved-checkins", "0")];

/// Body size of every error answer (a refused `cwa-fake` included), so that no refusal is told from
/// another by its length.
pub const ERROR_BYTES: usize = ERROR_RESPONSE_BYTES;

pub(crate) fn router(service: SubmissionService) -> Router {
    let limit = service.inner.config.max_body_bytes;
    let (api, doc) = OpenApiRouter::new()
        .routes(routes!(submit))
        .with_state(service.clone())
        .split_for_parts();
    ServiceRouter::new(service.inner.metrics.clone())
        .database(service.store().db().clone())
        .openapi(crate::openapi::document(doc))
        .max_body(limit)
        .finish(api)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            refuse_declared_oversize(limit, req, next)
        }))
        .layer(middleware::from_fn(|req, next| {
            pad_error_bodies(ERROR_BYTES, req, next)
        }))
        // Added last, so it runs first: nothing below, logging and metrics included, sees the metadata.
        .layer(middleware::from_fn(strip_transport_metadata))
}

/// The answer of every successful upload and of every fake: 200, no body, [`SUCCESS_HEADERS`].
fn accepted() -> Response {
    let mut response = StatusCode::OK.into_response();
    for (name, value) in SUCCESS_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The `reason` label values of `submission_uploads_refused_total`, in the order of [`refusal_index`].
const REFUSALS: &[&str] = &[
    "unsupported_media_type",
    "payload_too_large",
    "malformed_payload",
    "invalid_payload",
    "missing_tan",
    "invalid_tan",
    "wrong_tan_type",
    "verification_unavailable",
    "unavailable",
    "other",
];

/// Why a real upload was refused, as an index into [`REFUSALS`]: the error's code, with every
/// validation code (each a 400 of its own) as `invalid_payload`.
fn refusal_index(error: &AppError) -> usize {
    match error.code {
        "unsupported_media_type" => 0,
        "payload_too_large" => 1,
        "malformed_payload" => 2,
        "missing_tan" => 4,
        "invalid_tan" => 5,
        "wrong_tan_type" => 6,
        "verification_unavailable" => 7,
        "unavailable" => 8,
        _ if error.status == StatusCode::BAD_REQUEST => 3,
        _ => 9,
    }
}

#[utoipa::path(post, path = SUBMISSION_PATH,
    summary = "Upload diagnosis keys (protobuf SubmissionPayload) with a TAN",
    description = "Keys whose rolling start is not positive, in the future, or older than the retention window are dropped silently (still 200). A key with only a transmission risk level or only days since onset gets the other derived. Fake uploads (cwa-fake: 1) are not read beyond the size limit and get exactly the answer of a real success.",
    params(
        ("cwa-fake" = String, Header, description = "0 for a real upload, 1 for a fake one (no TAN needed, body not read, nothing stored)"),
        ("cwa-authorization" = Option<String>, Header, description = "The TAN (UUID) from the verification service; required unless cwa-fake is 1, where the app sends it empty"),
        ("cwa-header-padding" = Option<String>, Header, description = "Padding (may be empty); ignored and dropped at the edge")),
    request_body(content = String, content_type = "application/x-protobuf", description = "A SubmissionPayload."),
    responses(
        (status = 200, description = "Keys stored (or dropped), or a fake upload answered; empty body",
            headers(("cwa-filtered-checkins" = String, description = "Check-ins: warnkit stores none, so always 0 (the original sets the header too)"),
                ("cwa-saved-checkins" = String, description = "Check-ins: warnkit stores none, so always 0 (the original sets the header too)"))),
        (status = 400, description = "cwa-fake missing or not 0/1, cwa-authorization missing or empty, body over the size limit (payload_too_large, 102400 bytes by default), malformed protobuf or a 32-bit field that does not fit (malformed_payload), or an invalid payload", body = ErrorBody),
        (status = 403, description = "TAN malformed, unknown or used (invalid_tan), or from an event teleTAN (wrong_tan_type, the TAN stays valid)", body = ErrorBody),
        (status = 415, description = "A real upload that is not application/x-protobuf", body = ErrorBody),
        (status = 503, description = "TAN could not be checked; nothing stored, retry", body = ErrorBody)))]
async fn submit(State(service): State<SubmissionService>, request: Request) -> AppResult<Response> {
    let start = Instant::now();
    let inner = &service.inner;
    let limit = inner.config.max_body_bytes;
    if fake_mode(request.headers())? {
        // As the original: the body is not looked at, only held to the size limit.
        read_body(request.into_body(), limit).await?;
        inner.metrics.add(FAKES.0, FAKES.1, 1);
        // At the start plus a real upload's duration, both measured from the start to the write.
        return Ok(inner.latency.fake(start, accepted).await);
    }
    let answer = real_upload(&service, request, start).await;
    if let Err(error) = &answer {
        refusals(&inner.metrics).inc(refusal_index(error));
    }
    answer
}

/// The counter of refused real uploads, by reason.
fn refusals(metrics: &warnkit_service::Metrics) -> warnkit_service::metrics::LabeledCounter {
    metrics.labeled(
        "submission_uploads_refused_total",
        "Real uploads refused (nothing stored), by reason: the error code of the answer.",
        "reason",
        REFUSALS,
    )
}

/// Counter: real uploads stored.
const UPLOADS: (&str, &str) = ("submission_uploads_total", "Real uploads stored.");
/// Counter: keys stored.
const KEYS_STORED: (&str, &str) = (
    "submission_keys_stored_total",
    "Diagnosis keys stored (repeats of a stored key are not counted).",
);
/// Counter: keys of accepted uploads left out.
const KEYS_DROPPED: (&str, &str) = (
    "submission_keys_dropped_total",
    "Keys of accepted uploads left out: rolling start not positive, in the future or too old.",
);
/// Counter: fake uploads answered.
const FAKES: (&str, &str) = ("submission_fake_requests_total", "Fake uploads answered.");

/// Shows the upload counters at 0 from the start, so that a rate over them (an alert, a dashboard)
/// has a series before the first upload.
pub(crate) fn register_metrics(metrics: &warnkit_service::Metrics) {
    for (name, help) in [UPLOADS, FAKES, KEYS_STORED, KEYS_DROPPED] {
        metrics.add(name, help, 0);
    }
    refusals(metrics);
}

/// A real upload: checked, its TAN verified, its keys stored.
async fn real_upload(
    service: &SubmissionService,
    request: Request,
    start: Instant,
) -> AppResult<Response> {
    let inner = &service.inner;
    let limit = inner.config.max_body_bytes;
    if !is_protobuf(request.headers().get(header::CONTENT_TYPE)) {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "content type must be application/x-protobuf",
        ));
    }
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let bytes = read_body(body, limit).await?;
    let malformed = |message| AppError::bad_request("malformed_payload", message);
    wire::check_submission_payload(&bytes).map_err(|e| malformed(e.message()))?;
    let payload = SubmissionPayload::decode(bytes)
        .map_err(|_| malformed(wire::WireError::Malformed.message()))?;
    let now = inner.clock.now();
    let keys = validation::validate(&payload, &inner.config, now, now.div_euclid(3600))?;
    let tan = tan_from(&headers)?;
    let payload_hash = inner.tan.payload_hash(&payload);
    match inner.tan.verify(tan, &payload_hash).await? {
        TanCheck::Valid => {}
        TanCheck::Invalid => return Err(forbidden()),
        TanCheck::WrongType => return Err(wrong_type()),
    }
    let stored = inner.store.insert_now(&keys, &inner.clock).await?;
    inner.metrics.add(UPLOADS.0, UPLOADS.1, 1);
    inner.metrics.add(KEYS_STORED.0, KEYS_STORED.1, stored);
    inner.metrics.add(
        KEYS_DROPPED.0,
        KEYS_DROPPED.1,
        (payload.keys.len() - keys.len()) as u64,
    );
    Ok(inner.latency.real(start, accepted()))
}

/// 400 for a body over the limit: the original answers a too large upload with 400, not 413.
fn too_large() -> AppError {
    AppError::bad_request("payload_too_large", "request body over the size limit")
}

/// The whole body if it has at most `limit` bytes (streamed bodies without a length included); a larger one
/// is read on up to [`DRAIN_LIMIT`] and thrown away, then refused.
async fn read_body(body: Body, limit: usize) -> AppResult<Bytes> {
    let mut stream = body.into_data_stream();
    let mut kept: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            AppError::bad_request("unreadable_body", "could not read the request body")
        })?;
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            kept.extend_from_slice(&chunk);
        } else if seen > DRAIN_LIMIT {
            break;
        } else if !kept.is_empty() {
            kept = Vec::new();
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(kept))
}

/// Refuses a declared oversize body before any handler reads it, with the original's 400 (the shared
/// router layer beneath would answer 413).
async fn refuse_declared_oversize(limit: usize, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => {
            warnkit_service::http::drain_refused(req.into_body(), n).await;
            too_large().into_response()
        }
        _ => next.run(req).await,
    }
}

fn is_protobuf(value: Option<&header::HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim();
    mime.eq_ignore_ascii_case("application/x-protobuf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let v = |s: &'static str| header::HeaderValue::from_static(s);
        assert!(is_protobuf(Some(&v("application/x-protobuf"))));
        assert!(is_protobuf(Some(&v("Application/X-Protobuf; charset=x"))));
        assert!(!is_protobuf(Some(&v("application/json"))));
        assert!(!is_protobuf(None));
    }

    #[test]
    fn success_answer() {
        let r = accepted();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cwa-filtered-checkins"], "0");
        assert_eq!(r.headers()["cwa-saved-checkins"], "0");
    }
}
