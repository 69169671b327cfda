//! Configuration of the submission service (`[submission]` in the config file).

use serde::{Deserialize, Serialize};
use warnkit_protocol::limits::DEFAULT_MAX_KEYS_PER_UPLOAD;
use warnkit_protocol::limits::EU_COUNTRIES;

/// Configuration of the submission service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubmissionConfig {
    /// This server's country: a payload's `origin` must be empty or equal to it, and keys are stored with it.
    pub origin: String,
    /// Countries a payload may name as visited (ISO 3166-1 alpha-2).
    pub supported_countries: Vec<String>,
    /// Most keys in one upload (the original's `max-number-of-keys`).
    pub max_keys: usize,
    /// Request bodies over this many bytes get 400, as in the original (its 100 KB: 102,400 bytes).
    pub max_body_bytes: usize,
    /// Most bytes of `requestPadding` in one payload.
    pub max_request_padding_bytes: usize,
    /// Base URL of the verification service's internal API.
    pub verification_url: String,
    /// Timeout of one TAN check, in milliseconds.
    pub tan_timeout_ms: u64,
    /// Attempts of a TAN check before answering 503 (network errors and 5xx are retried).
    pub tan_attempts: u32,
    /// Pause before the first retry, in milliseconds; doubled for each further retry.
    pub tan_retry_backoff_ms: u64,
    /// Real request durations kept to draw fake delays from.
    pub fake_delay_samples: usize,
    /// Delay of fake requests before any real request was seen, in milliseconds (the original: 10).
    pub initial_fake_delay_ms: u64,
    /// Days keys are kept in the key store, counted from their submission hour (the one retention
    /// setting of stored keys: the key store's retention job runs with this service); uploaded keys whose
    /// rolling start is older than this many days before today's midnight (UTC) are dropped on arrival.
    pub retention_days: u32,
    /// Seconds between two runs of the key store's retention job.
    pub retention_interval_secs: u64,
}

impl Default for SubmissionConfig {
    fn default() -> Self {
        Self {
            origin: "DE".to_owned(),
            supported_countries: EU_COUNTRIES.iter().map(|c| (*c).to_owned()).collect(),
            max_keys: DEFAULT_MAX_KEYS_PER_UPLOAD,
            max_body_bytes: 102_400,
            max_request_padding_bytes: 10_000,
            verification_url: "http://127.0.0.1:8012".to_owned(),
            tan_timeout_ms: 2_000,
            tan_attempts: 3,
            tan_retry_backoff_ms: 50,
            fake_delay_samples: 10,
            initial_fake_delay_ms: 10,
            retention_days: 14,
            retention_interval_secs: 3_600,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_fills_defaults() {
        let c = SubmissionConfig::default();
        let back: SubmissionConfig =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let partial: SubmissionConfig = serde_json::from_str(r#"{"origin": "FR"}"#).unwrap();
        assert_eq!(partial.max_keys, 14);
        assert_eq!(partial.origin, "FR");
    }
}
