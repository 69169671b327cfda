//! Configuration of the submission service (`[submission]` in the config file) and its injectable clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The EU member states: the visited countries accepted by default (the original's federation partners).
pub const EU_COUNTRIES: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

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
    /// Days keys are kept, counted from their submission hour; uploaded keys whose rolling start is older
    /// than this many days before today's midnight (UTC) are dropped on arrival.
    pub retention_days: u32,
    /// Seconds between two runs of the retention job.
    pub retention_interval_secs: u64,
}

impl Default for SubmissionConfig {
    fn default() -> Self {
        Self {
            origin: "DE".to_owned(),
            supported_countries: EU_COUNTRIES.iter().map(|c| (*c).to_owned()).collect(),
            max_keys: 14,
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

/// Where the service reads the time: the system clock in production, a settable one in tests and demos.
///
/// Clones share the time, so a test can hold one and move the clock of a running service.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock standing at `unix_secs` until [`Clock::set`] moves it.
    pub fn manual(unix_secs: i64) -> Self {
        Self(Some(Arc::new(AtomicI64::new(unix_secs))))
    }

    /// Moves a manual clock to `unix_secs`; returns `false` (and changes nothing) on the system clock.
    pub fn set(&self, unix_secs: i64) -> bool {
        match &self.0 {
            Some(t) => {
                t.store(unix_secs, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        match &self.0 {
            Some(t) => t.load(Ordering::Relaxed),
            None => warnkit_store::unix_now(),
        }
    }

    /// Hours since the Unix epoch: the only time a stored key keeps of its submission.
    pub fn hour(&self) -> i64 {
        self.now().div_euclid(3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_by_clones() {
        let c = Clock::manual(7_200);
        let d = c.clone();
        assert!(d.set(3 * 3600 + 59));
        assert_eq!(c.now(), 3 * 3600 + 59);
        assert_eq!(c.hour(), 3);
        assert!(!Clock::system().set(1));
        assert!(Clock::system().now() > 1_600_000_000);
    }

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
