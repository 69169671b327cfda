//! HTTP handlers: the lab upload and the internal lookup for the verification service.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use warnkit_service::auth::{bearer, require_token};
use warnkit_service::{AppError, AppJson, AppResult, ServiceRouter};

use crate::store::{self, Upload};
use crate::{code, TestResultService};

/// Most results one upload may carry; the body limit usually binds first.
const MAX_RESULTS_PER_UPLOAD: usize = 1000;

/// Body of `POST /api/v1/lab/results`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabResultsRequest {
    /// The lab's id; optional, but when given it must be the id the API key belongs to.
    #[serde(default)]
    pub lab_id: Option<String>,
    /// The results, at least one.
    pub test_results: Vec<LabResult>,
}

/// One result of a lab upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabResult {
    /// Hashed GUID: 64 hex digits (the first may be `x` for a date-of-birth hash).
    pub id: String,
    /// 1 negative, 2 positive, 3 invalid.
    pub result: i64,
    /// Sample collection time, epoch seconds; the upload time when absent.
    #[serde(default)]
    pub sc: Option<i64>,
}

/// Body of `POST /api/v1/app/result`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppResultRequest {
    /// Hashed GUID (or date-of-birth hash).
    pub id: String,
}

/// Answer of `POST /api/v1/app/result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppResultResponse {
    /// Result code 0-4.
    pub test_result: i64,
    /// Sample collection time, epoch seconds.
    pub sc: i64,
    /// The lab that uploaded the result, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab_id: Option<String>,
}

pub(crate) fn router(service: TestResultService) -> Router {
    let api = Router::new()
        .route("/api/v1/lab/results", post(lab_results))
        .route("/api/v1/app/result", post(app_result))
        .with_state(service.clone());
    ServiceRouter::new(service.metrics().clone())
        .database(service.db().clone())
        .openapi(crate::openapi::document())
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

async fn lab_results(
    State(service): State<TestResultService>,
    headers: HeaderMap,
    AppJson(body): AppJson<LabResultsRequest>,
) -> AppResult<StatusCode> {
    // Authenticate before looking at the body's content, so an unauthenticated caller learns nothing.
    let key = bearer(&headers).ok_or_else(AppError::unauthorized)?;
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
    let now = warnkit_store::unix_now();
    let mut uploads = Vec::with_capacity(body.test_results.len());
    for entry in &body.test_results {
        let id = normalize_id(&entry.id).ok_or_else(|| {
            AppError::bad_request("invalid_id", "id must be 64 hex digits (first may be x)")
        })?;
        if !(code::NEGATIVE..=code::INVALID).contains(&entry.result) {
            return Err(AppError::bad_request(
                "invalid_result",
                "result must be 1, 2 or 3",
            ));
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
    store::upsert(service.db(), &lab_id, &uploads).await?;
    service.metrics().add(
        "testresult_results_uploaded_total",
        "Results accepted from labs.",
        uploads.len() as u64,
    );
    Ok(StatusCode::NO_CONTENT)
}

async fn app_result(
    State(service): State<TestResultService>,
    headers: HeaderMap,
    AppJson(body): AppJson<AppResultRequest>,
) -> AppResult<Json<AppResultResponse>> {
    require_token(&headers, &service.inner.service_token)?;
    let id = normalize_id(&body.id).ok_or_else(|| {
        AppError::bad_request("invalid_id", "id must be 64 hex digits (first may be x)")
    })?;
    let stored = store::lookup(service.db(), &id).await?;
    let lab_id = (!stored.lab_id.is_empty()).then_some(stored.lab_id);
    Ok(Json(AppResultResponse {
        test_result: stored.result,
        sc: stored.sc,
        lab_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::normalize_id;

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
