//! The app-facing route `POST /version/v1/diagnosis-keys`: protobuf in, TAN checked, keys stored.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::routing::post;
use axum::Router;
use prost::Message;
use warnkit_protocol::proto::SubmissionPayload;
use warnkit_service::{AppError, AppResult, ServiceRouter};

use crate::fake::is_fake;
use crate::privacy::strip_transport_metadata;
use crate::tan::{forbidden, tan_from, TanCheck};
use crate::{validation, SubmissionService};

/// The upload path, as in the original.
pub const SUBMISSION_PATH: &str = "/version/v1/diagnosis-keys";

pub(crate) fn router(service: SubmissionService) -> Router {
    let api = Router::new()
        .route(SUBMISSION_PATH, post(submit))
        .with_state(service.clone());
    ServiceRouter::new(service.inner.metrics.clone())
        .database(service.store().db().clone())
        .openapi(crate::openapi::document())
        .max_body(service.inner.config.max_body_bytes)
        .finish(api)
        // Added last, so it runs first: nothing below, logging and metrics included, sees the metadata.
        .layer(middleware::from_fn(strip_transport_metadata))
}

async fn submit(
    State(service): State<SubmissionService>,
    headers: HeaderMap,
    Protobuf(payload): Protobuf<SubmissionPayload>,
) -> AppResult<StatusCode> {
    let start = Instant::now();
    let inner = &service.inner;
    let now = inner.clock.now();
    let keys = validation::validate(&payload, &inner.config, now, now.div_euclid(3600))?;
    if is_fake(&headers) {
        // Measured from the same point as real uploads, so validation time is part of both.
        tokio::time::sleep_until((start + inner.latency.draw()).into()).await;
        inner.metrics.add(
            "submission_fake_requests_total",
            "Fake uploads answered.",
            1,
        );
        return Ok(StatusCode::OK);
    }
    let tan = tan_from(&headers).ok_or_else(forbidden)?;
    if inner.tan.verify(tan).await? == TanCheck::Invalid {
        return Err(forbidden());
    }
    let stored = inner.store.insert(&keys).await?;
    inner.latency.record(start.elapsed());
    inner
        .metrics
        .add("submission_uploads_total", "Real uploads stored.", 1);
    inner.metrics.add(
        "submission_keys_stored_total",
        "Diagnosis keys stored (repeats of a stored key are not counted).",
        stored,
    );
    Ok(StatusCode::OK)
}

/// A protobuf body: 415 unless `application/x-protobuf`, 413 over the limit, 400 when it does not decode.
#[derive(Debug, Clone)]
pub struct Protobuf<T>(pub T);

impl<T: Message + Default, S: Send + Sync> FromRequest<S> for Protobuf<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_protobuf(req.headers().get(header::CONTENT_TYPE)) {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "content type must be application/x-protobuf",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "request body too large",
                )
            } else {
                AppError::bad_request("unreadable_body", "could not read the request body")
            }
        })?;
        T::decode(bytes)
            .map(Protobuf)
            .map_err(|_| AppError::bad_request("malformed_payload", "body is not a valid payload"))
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
}
