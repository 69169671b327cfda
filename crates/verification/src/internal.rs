//! The internal API (own listener, service token): TAN verification for the submission service and teleTAN
//! issuing for the portal.
//!
//! `tan/verify` takes an optional `teleTanType` (`TEST` or `EVENT`): the type the caller accepts. A TAN of
//! another type (a TAN from a lab result counts as `TEST`) is answered 403 and left unconsumed, so an event
//! TAN sent to the diagnosis-key upload by mistake still works for the event warning it was issued for.
//! Without the field any valid TAN is consumed, as in the original.
//!
//! `tan/verify` also takes an optional `payloadHash` (64 lowercase hex digits): the caller's keyed hash of
//! the payload the TAN is to authorise. A TAN consumed with one is remembered as spent on it for
//! `tan_repeat_secs`, and a later check of the same TAN with the same hash answers 200 again without
//! changing anything, so an upload whose answer was lost is retried with its TAN to success. A check with
//! another hash, or none, finds the TAN used (404).
//!
//! A check answered 404 spends a unit of the TAN guessing budget ([`crate::budget`]); once the window's
//! budget is spent, every check is answered 429 unchecked (nothing consumed) until the window ends.
//!
//! The paths, the header and the bodies are [`crate::wire`]'s, which the callers use too.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa_axum::{router::OpenApiRouter, routes};
use warnkit_service::auth::{require_token, sha256_hex};
use warnkit_service::error::ErrorBody;
use warnkit_service::{AppError, AppJson, AppResult, ServiceRouter};

use crate::api::is_uuid_v4;
use crate::budget::Guess;
use crate::store::Consumed;
use crate::wire::{
    TanVerifyRequest, TeletanCreated, TAN_VERIFY_PATH, TELETAN_PATH, TELETAN_TYPE_HEADER,
};
use crate::{TeletanType, VerificationService};

/// Counter: TANs verified and consumed.
const TANS_VERIFIED: (&str, &str) = (
    "verification_tans_verified_total",
    "TANs verified and consumed.",
);
/// Counter: repeated checks answered from the spent-TAN record.
const TANS_REPEATED: (&str, &str) = (
    "verification_tans_repeated_total",
    "Repeated checks of a TAN spent on the same payload, answered as the first check.",
);

/// Shows the TAN check counters at 0 from the start, so that a rate over them (an alert, a
/// dashboard) has a series before the first check.
pub(crate) fn register_metrics(metrics: &warnkit_service::Metrics) {
    for (name, help) in [TANS_VERIFIED, TANS_REPEATED] {
        metrics.add(name, help, 0);
    }
}

pub(crate) fn router(service: VerificationService) -> Router {
    let (api, doc) = OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(teletan))
        .with_state(service.clone())
        .split_for_parts();
    ServiceRouter::new(service.inner.internal_metrics.clone())
        .database(service.db().clone())
        .openapi(crate::openapi::internal(doc))
        .max_body(service.inner.config.max_body_bytes)
        .finish(api)
}

#[utoipa::path(post, path = TAN_VERIFY_PATH, summary = "Verify and consume a TAN.",
    security(("serviceToken" = [])),
    request_body = TanVerifyRequest,
    responses(
        (status = 200, description = "Valid; the TAN is consumed (or was, by a check of the same payloadHash within the repeat window). X-CWA-TELETAN-TYPE is set for teleTAN-based TANs.",
            headers(("X-CWA-TELETAN-TYPE" = TeletanType, description = "The teleTAN type of a TAN that came from a teleTAN."))),
        (status = 400, description = "Malformed input, unknown teleTanType or malformed payloadHash.", body = ErrorBody),
        (status = 401, description = "Missing or wrong service token.", body = ErrorBody),
        (status = 403, description = "Valid, but of another teleTAN type than teleTanType; not consumed (wrong_tan_type).", body = ErrorBody),
        (status = 404, description = "TAN unknown, already used or expired.", body = ErrorBody),
        (status = 413, description = "Body over the limit (10,000 bytes by default).", body = ErrorBody),
        (status = 415, description = "Not application/json.", body = ErrorBody),
        (status = 429, description = "TAN checks failed too often in this window (tan_budget_exhausted): every TAN check is refused unchecked until the window ends; nothing is consumed.", body = ErrorBody)))]
async fn verify(
    State(service): State<VerificationService>,
    headers: HeaderMap,
    AppJson(req): AppJson<TanVerifyRequest>,
) -> AppResult<Response> {
    require_token(&headers, &service.inner.service_token)?;
    if !is_uuid_v4(&req.tan) {
        service.inner.internal_metrics.add(
            "verification_tans_malformed_total",
            "TAN checks refused: not a UUID v4.",
            1,
        );
        return Err(AppError::bad_request(
            "invalid_tan",
            "tan must be a UUID v4",
        ));
    }
    let accept = match req.tele_tan_type.as_deref() {
        None => None,
        Some(kind) => Some(TeletanType::parse(kind).ok_or_else(invalid_type)?.as_str()),
    };
    if let Some(hash) = &req.payload_hash {
        if !is_payload_hash(hash) {
            return Err(AppError::bad_request(
                "invalid_payload_hash",
                "payloadHash must be 64 lowercase hex digits",
            ));
        }
    }
    // Without a repeat window there is nothing to answer repeats from, so nothing is recorded.
    let payload_hash = req
        .payload_hash
        .filter(|_| service.inner.config.tan_repeat_secs > 0);
    let check = service.inner.tans.consume(
        sha256_hex(&req.tan),
        payload_hash,
        service.inner.clock.now(),
        accept,
    );
    let failed = |c: &Consumed| *c == Consumed::Unknown;
    let consumed = service.within_budget(Guess::Tan, check, failed).await?;
    let teletan_type = match consumed {
        Consumed::Valid(kind) => {
            let (name, help) = TANS_VERIFIED;
            service.inner.internal_metrics.add(name, help, 1);
            kind
        }
        Consumed::Repeat(kind) => {
            let (name, help) = TANS_REPEATED;
            service.inner.internal_metrics.add(name, help, 1);
            kind
        }
        Consumed::WrongType => {
            service.inner.internal_metrics.add(
                "verification_tans_wrong_type_total",
                "TANs refused, and kept, for being of another teleTAN type than asked for.",
                1,
            );
            return Err(AppError::forbidden(
                "wrong_tan_type",
                "the TAN is of another teleTAN type; it was not consumed",
            ));
        }
        Consumed::Unknown => {
            return Err(AppError::not_found(
                "unknown_tan",
                "TAN unknown, used or expired",
            ))
        }
    };
    let mut response = StatusCode::OK.into_response();
    if let Some(value) = teletan_type.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(TELETAN_TYPE_HEADER, value);
    }
    Ok(response)
}

#[utoipa::path(post, path = TELETAN_PATH, summary = "Issue a teleTAN (valid one hour; EVENT two days).",
    security(("serviceToken" = [])),
    params(("X-CWA-TELETAN-TYPE" = Option<TeletanType>, Header, description = "The type to issue; absent: TEST.")),
    responses(
        (status = 201, description = "The teleTAN.", body = TeletanCreated),
        (status = 400, description = "Bad teleTAN type.", body = ErrorBody),
        (status = 401, description = "Missing or wrong service token.", body = ErrorBody),
        (status = 429, description = "Global hourly teleTAN limit reached.", body = ErrorBody)))]
async fn teletan(
    State(service): State<VerificationService>,
    headers: HeaderMap,
) -> AppResult<Response> {
    require_token(&headers, &service.inner.service_token)?;
    let kind = match headers.get(TELETAN_TYPE_HEADER) {
        None => TeletanType::Test,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(TeletanType::parse)
            .ok_or_else(invalid_type)?,
    };
    let value = service.create_teletan(kind).await?;
    Ok((StatusCode::CREATED, Json(TeletanCreated { value })).into_response())
}

/// SHA-256 sized, lowercase hex: the form the submission service sends.
fn is_payload_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn invalid_type() -> AppError {
    AppError::bad_request(
        "invalid_teletan_type",
        "the teleTAN type must be TEST or EVENT",
    )
}
