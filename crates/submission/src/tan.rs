//! The TAN check: one call to the verification service's internal API, retried on network failure and 5xx.
//!
//! The TAN travels only in the request body to the verification service; it is never stored, logged or put
//! into an error message.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use warnkit_service::{AppError, AppResult};

/// The header carrying the TAN.
pub const TAN_HEADER: &str = "cwa-authorization";

/// What the verification service said about a TAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TanCheck {
    /// The TAN was valid and is now consumed.
    Valid,
    /// Unknown, used, expired or malformed.
    Invalid,
}

#[derive(Serialize)]
struct TanBody<'a> {
    tan: &'a str,
}

/// Calls `POST {base}/version/v1/tan/verify` with the service token.
#[derive(Debug, Clone)]
pub struct TanClient {
    http: reqwest::Client,
    url: String,
    token: String,
    attempts: u32,
    backoff: Duration,
}

impl TanClient {
    /// A client for the verification service's internal API at `base_url`.
    pub fn new(
        base_url: &str,
        token: String,
        timeout: Duration,
        attempts: u32,
        backoff: Duration,
    ) -> AppResult<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| AppError::internal(format_args!("building the HTTP client: {e}")))?;
        let url = format!("{}/version/v1/tan/verify", base_url.trim_end_matches('/'));
        Ok(Self {
            http,
            url,
            token,
            attempts: attempts.max(1),
            backoff,
        })
    }

    /// Asks whether `tan` is valid (consuming it if so). A verification service that cannot be reached or
    /// keeps failing gives 503, so the phone retries later with the same TAN.
    pub async fn verify(&self, tan: &str) -> AppResult<TanCheck> {
        let mut pause = self.backoff;
        for attempt in 1..=self.attempts {
            let last = attempt == self.attempts;
            match self.once(tan).await {
                Ok(check) => return Ok(check),
                Err(why) if last => {
                    tracing::warn!(attempts = self.attempts, error = %why, "TAN check failed");
                }
                Err(why) => {
                    tracing::debug!(attempt, error = %why, "TAN check failed, retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
        Err(unavailable())
    }

    /// One attempt; `Err` is worth retrying (its text is safe to log: no TAN, no URL parameters).
    async fn once(&self, tan: &str) -> Result<TanCheck, String> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&TanBody { tan })
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        match response.status() {
            StatusCode::OK => Ok(TanCheck::Valid),
            // 404: unknown, used or expired; 400: not even TAN-shaped for the verification service.
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => Ok(TanCheck::Invalid),
            status => Err(format!("verification service answered {status}")),
        }
    }
}

/// 503: the TAN could not be checked; nothing was stored.
pub fn unavailable() -> AppError {
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "verification_unavailable",
        "the TAN could not be checked, retry later",
    )
}

/// 403: the TAN is missing, malformed, unknown or used.
pub fn forbidden() -> AppError {
    AppError::forbidden(
        "invalid_tan",
        "TAN missing, malformed, unknown or already used",
    )
}

/// The TAN of the request, if present and UUID-shaped (8-4-4-4-12 hex digits, as the original's TANs).
pub fn tan_from(headers: &HeaderMap) -> Option<&str> {
    let tan = headers.get(TAN_HEADER)?.to_str().ok()?.trim();
    is_uuid(tan).then_some(tan)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tan_shape() {
        let mut h = HeaderMap::new();
        assert_eq!(tan_from(&h), None);
        h.insert(TAN_HEADER, "not-a-tan".parse().unwrap());
        assert_eq!(tan_from(&h), None);
        let tan = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
        h.insert(TAN_HEADER, tan.parse().unwrap());
        assert_eq!(tan_from(&h), Some(tan));
        assert!(!is_uuid("3f2504e0-4f89-41d3-9a0c-0305e82c330g"));
        assert!(!is_uuid("3f2504e004f89-41d3-9a0c-0305e82c3301"));
    }
}
