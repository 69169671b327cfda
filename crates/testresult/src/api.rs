//! HTTP handlers: the lab uploads (PCR and rapid tests) and the internal lookup for the verification
//! service.

use std::ops::RangeInclusive;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use warnkit_service::auth::{bearer, require_token, sha256_hex};
use warnkit_service::error::ErrorBody;
use warnkit_service::{AppError, AppJson, AppResult, ServiceRouter};

use crate::store::{self, Upload};
use crate::{code, TestResultService};

/// Most results one upload may carry; the body limit usually binds first.
const MAX_RESULTS_PER_UPLOAD: usize = 1000;

/// The upload path of PCR labs.
pub const LAB_PATH: &str = "/api/v1/lab/results";

/// The upload path of rapid-test centres, as in the original.
pub const QUICKTEST_PATH: &str = "/api/v1/quicktest/results";

/// Body of `POST /api/v1/lab/results` and of `POST /api/v1/quicktest/results`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabResultsRequest {
    /// The lab's id; optional, but when given it must be the id the API key belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub lab_id: Option<String>,
    /// The results, at least one.
    #[schema(min_items = 1, max_items = 1000)]
    pub test_results: Vec<LabResult>,
}

/// One result of a lab upload.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LabResult {
    /// 64 hex digits (the first may be `x`). PCR: the hashed GUID (or a date-of-birth hash), stored as
    /// it is. Rapid test: the hash in the test's QR code, stored as its SHA-256 (what the phone registers).
    #[schema(pattern = "^[XxA-Fa-f0-9][A-Fa-f0-9]{63}$")]
    pub id: String,
    /// PCR: 1 negative, 2 positive, 3 invalid. Rapid test: 5 pending, 6 negative, 7 positive,
    /// 8 invalid, 9 redeemed.
    pub result: i64,
    /// Sample collection time, epoch seconds; the upload time when absent.
    #[serde(default)]
    pub sc: Option<i64>,
}

/// Body of `POST /api/v1/app/result`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppResultRequest {
    /// Hashed GUID (or date-of-birth hash).
    #[schema(pattern = "^[XxA-Fa-f0-9][A-Fa-f0-9]{63}$")]
    pub id: String,
}

/// Answer of `POST /api/v1/app/result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppResultResponse {
    /// Result code: 0-4 (PCR), 5-9 (rapid test), as stored; unknown ids are pending (0).
    #[schema(minimum = 0, maximum = 9)]
    pub test_result: i64,
    /// Sample collection time, epoch seconds.
    pub sc: i64,
    /// The lab that uploaded the result, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab_id: Option<String>,
}

pub(crate) fn router(service: TestResultService) -> Router {
    let (api, doc) = OpenApiRouter::new()
        .routes(routes!(lab_results))
        .routes(routes!(quicktest_results))
        .routes(routes!(app_result))
        .with_state(service.clone())
        .split_for_parts();
    ServiceRouter::new(service.metrics().clone())
        .database(service.db().clone())
        .openapi(crate::openapi::document(doc))
        .max_body(service.inner.config.max_body_bytes)
        .finish(api)
}

/// `^[XxA-Fa-f0-9][A-Fa-f0-9]{63}$`, normalised to lowercase so that lookups match whatever case labs use.
pub(crate) fn normalize_id(id: &str) -> Option<String> {
    let bytes = id.as_bytes();
    let ok = bytes.len() == 64
        && (bytes[0].is_ascii_hexdigit() || bytes[0] == b'x' || bytes[0] == b'X')
        && bytes[1..].iter().all(u8::is_ascii_hexdigit);
    ok.then(|| id.to_ascii_lowercase())
}

/// What kind of test an upload route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TestKind {
    Pcr,
    Rapid,
}

impl TestKind {
    /// The result codes a lab may post.
    fn results(self) -> RangeInclusive<i64> {
        match self {
            TestKind::Pcr => code::NEGATIVE..=code::INVALID,
            TestKind::Rapid => code::QUICK_PENDING..=code::QUICK_REDEEMED,
        }
    }

    fn result_error(self) -> AppError {
        let message = match self {
            TestKind::Pcr => "result must be 1, 2 or 3 (rapid tests: /api/v1/quicktest/results)",
            TestKind::Rapid => "result must be 5 to 9 (PCR tests: /api/v1/lab/results)",
        };
        AppError::bad_request("invalid_result", message)
    }

    /// The id a result is stored under. A rapid test's id is hashed once more, as the original does: the
    /// phone registers the SHA-256 of the hash in the QR code, so it is hashed exactly as sent.
    fn stored_id(self, id: &str) -> Option<String> {
        let normalized = normalize_id(id)?;
        Some(match self {
            TestKind::Pcr => normalized,
            TestKind::Rapid => sha256_hex(id),
        })
    }
}

#[utoipa::path(post, path = LAB_PATH, summary = "Upload test results (labs).",
    description = "result: 1 negative, 2 positive, 3 invalid; sc: sample collection, epoch seconds.",
    security(("labKey" = [])),
    request_body = LabResultsRequest,
    responses(
        (status = 204, description = "Stored."),
        (status = 400, description = "Malformed JSON, bad id, result or sc.", body = ErrorBody),
        (status = 401, description = "Missing or unknown lab API key.", body = ErrorBody),
        (status = 403, description = "labId is not the API key's lab.", body = ErrorBody),
        (status = 413, description = "Body over the limit.", body = ErrorBody),
        (status = 415, description = "Not application/json.", body = ErrorBody)))]
async fn lab_results(
    State(service): State<TestResultService>,
    headers: HeaderMap,
    AppJson(body): AppJson<LabResultsRequest>,
) -> AppResult<StatusCode> {
    post_results(&service, &headers, &body, TestKind::Pcr).await
}

#[utoipa::path(post, path = QUICKTEST_PATH,
    summary = "Upload rapid-test results (test centres); each id is stored as its SHA-256.",
    description = "As the original: the id is the hash from the rapid test's QR code, and the result is stored under sha256-hex of that id exactly as sent, which is what the phone registers. result: 5 pending, 6 negative, 7 positive, 8 invalid, 9 redeemed.",
    security(("labKey" = [])),
    request_body = LabResultsRequest,
    responses(
        (status = 204, description = "Stored."),
        (status = 400, description = "Malformed JSON, bad id, result or sc.", body = ErrorBody),
        (status = 401, description = "Missing or unknown lab API key.", body = ErrorBody),
        (status = 403, description = "labId is not the API key's lab.", body = ErrorBody),
        (status = 413, description = "Body over the limit.", body = ErrorBody),
        (status = 415, description = "Not application/json.", body = ErrorBody)))]
async fn quicktest_results(
    State(service): State<TestResultService>,
    headers: HeaderMap,
    AppJson(body): AppJson<LabResultsRequest>,
) -> AppResult<StatusCode> {
    post_results(&service, &headers, &body, TestKind::Rapid).await
}

async fn post_results(
    service: &TestResultService,
    headers: &HeaderMap,
    body: &LabResultsRequest,
    kind: TestKind,
) -> AppResult<StatusCode> {
    // Authenticate before looking at the body's content, so an unauthenticated caller learns nothing.
    let key = bearer(headers).ok_or_else(AppError::unauthorized)?;
    let lab_id = store::lab_for_key(service.db(), key)
        .await?
        .ok_or_else(AppError::unauthorized)?;
    if body
        .lab_id
        .as_ref()
        .is_some_and(|claimed| *claimed != lab_id)
    {
        return Err(AppError::forbidden(
            "lab_mismatch",
            "labId does not match the API key's lab",
        ));
    }
    if body.test_results.is_empty() || body.test_results.len() > MAX_RESULTS_PER_UPLOAD {
        return Err(AppError::bad_request(
            "invalid_results",
            "testResults must hold 1 to 1000 entries",
        ));
    }
    let now = service.clock().now();
    let mut uploads = Vec::with_capacity(body.test_results.len());
    for entry in &body.test_results {
        let id = kind.stored_id(&entry.id).ok_or_else(|| {
            AppError::bad_request("invalid_id", "id must be 64 hex digits (first may be x)")
        })?;
        if !kind.results().contains(&entry.result) {
            return Err(kind.result_error());
        }
        let sc = entry.sc.unwrap_or(now);
        if !(0..=now + 86_400).contains(&sc) {
            return Err(AppError::bad_request(
                "invalid_sc",
                "sc must be epoch seconds, not in the future",
            ));
        }
        uploads.push(Upload {
            id,
            result: entry.result,
            sc,
        });
    }
    store::upsert(service.db(), &lab_id, &uploads, now).await?;
    let (name, help) = match kind {
        TestKind::Pcr => (
            "testresult_results_uploaded_total",
            "PCR results accepted from labs.",
        ),
        TestKind::Rapid => (
            "testresult_quick_results_uploaded_total",
            "Rapid-test results accepted from test centres.",
        ),
    };
    service.metrics().add(name, help, uploads.len() as u64);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/app/result",
    summary = "Look up one result (verification service only).",
    security(("serviceToken" = [])),
    request_body = AppResultRequest,
    responses(
        (status = 200, description = "The result; unknown ids are pending (0).", body = AppResultResponse),
        (status = 400, description = "Malformed JSON or bad id.", body = ErrorBody),
        (status = 401, description = "Missing or wrong service token.", body = ErrorBody),
        (status = 413, description = "Body over the limit.", body = ErrorBody),
        (status = 415, description = "Not application/json.", body = ErrorBody)))]
async fn app_result(
    State(service): State<TestResultService>,
    headers: HeaderMap,
    AppJson(body): AppJson<AppResultRequest>,
) -> AppResult<Json<AppResultResponse>> {
    require_token(&headers, &service.inner.service_token)?;
    let id = normalize_id(&body.id).ok_or_else(|| {
        AppError::bad_request("invalid_id", "id must be 64 hex digits (first may be x)")
    })?;
    let stored = store::lookup(service.db(), &id, service.clock().now()).await?;
    let lab_id = (!stored.lab_id.is_empty()).then_some(stored.lab_id);
    Ok(Json(AppResultResponse {
        test_result: stored.result,
        sc: stored.sc,
        lab_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::{normalize_id, sha256_hex, TestKind};

    #[test]
    fn stored_ids() {
        let hash = "Ab".repeat(32);
        assert_eq!(TestKind::Pcr.stored_id(&hash), Some("ab".repeat(32)));
        // Hashed as sent, so that it matches the phone's SHA-256 of the QR code's hash.
        assert_eq!(TestKind::Rapid.stored_id(&hash), Some(sha256_hex(&hash)));
        assert_ne!(
            TestKind::Rapid.stored_id(&hash),
            TestKind::Rapid.stored_id(&"ab".repeat(32))
        );
        assert_eq!(TestKind::Rapid.stored_id("abc"), None);
        assert!(TestKind::Pcr.results().eq(1..=3));
        assert!(TestKind::Rapid.results().eq(5..=9));
    }

    #[test]
    fn ids() {
        let hex = "A".repeat(64);
        assert_eq!(normalize_id(&hex), Some("a".repeat(64)));
        assert!(normalize_id(&format!("X{}", &hex[1..])).is_some());
        assert!(normalize_id(&format!("y{}", &hex[1..])).is_none());
        assert!(normalize_id(&hex[1..]).is_none());
        assert!(normalize_id(&format!("x{}x", &hex[2..])).is_none());
    }
}
