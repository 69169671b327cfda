//! The HTTP client for the test-result service's internal lookup.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use warnkit_service::{AppError, AppResult};

/// A test result as the test-result service reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    /// Result code 0-4 for PCR tests, 5-9 for rapid tests, passed to the phone as it is.
    pub test_result: i64,
    /// Sample collection time, epoch seconds.
    pub sc: i64,
    /// The uploading lab.
    #[serde(default)]
    pub lab_id: Option<String>,
}

#[derive(Serialize)]
struct Lookup<'a> {
    id: &'a str,
}

/// Calls `POST {base}/api/v1/app/result` with the service token.
#[derive(Debug, Clone)]
pub struct TestResultClient {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl TestResultClient {
    /// A client for the service at `base_url` (e.g. `http://127.0.0.1:8003`).
    pub fn new(base_url: &str, token: String, timeout: Duration) -> AppResult<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| AppError::internal(format_args!("building the HTTP client: {e}")))?;
        let url = format!("{}/api/v1/app/result", base_url.trim_end_matches('/'));
        Ok(Self { http, url, token })
    }

    /// The result for a hashed GUID (or date-of-birth hash).
    pub async fn result(&self, id: &str) -> AppResult<TestResult> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&Lookup { id })
            .send()
            .await
            .map_err(|e| {
                AppError::upstream(format_args!("test-result service: {}", e.without_url()))
            })?;
        if !response.status().is_success() {
            return Err(AppError::upstream(format_args!(
                "test-result service answered {}",
                response.status()
            )));
        }
        response.json().await.map_err(|e| {
            AppError::upstream(format_args!(
                "test-result service sent bad JSON: {}",
                e.without_url()
            ))
        })
    }
}
