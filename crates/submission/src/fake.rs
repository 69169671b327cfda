//! Plausible deniability: a fake upload (`cwa-fake: 1`) is answered after a delay drawn from the durations
//! of recent real uploads, with exactly the answer of a real success, so that an observer of the traffic
//! cannot tell the two apart by timing or by response.
//!
//! As in the original, a fake's body is not looked at (the app sends only padding); only the body-size
//! limit applies. The header itself is required on every upload: the original routes on it and refuses a
//! request without it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;
use rand::Rng;
use warnkit_service::AppError;

/// The header marking fake requests.
pub const FAKE_HEADER: &str = "cwa-fake";

/// Whether the request is a fake: `Ok(true)` for `cwa-fake: 1`, `Ok(false)` for `cwa-fake: 0`, and 400
/// when the header is missing or has any other value.
pub fn fake_mode(headers: &HeaderMap) -> Result<bool, AppError> {
    match headers.get(FAKE_HEADER).map(|v| v.as_bytes()) {
        Some(b"0") => Ok(false),
        Some(b"1") => Ok(true),
        None => Err(AppError::bad_request(
            "missing_fake_header",
            "the cwa-fake header (0 or 1) is required",
        )),
        Some(_) => Err(AppError::bad_request(
            "invalid_fake_header",
            "the cwa-fake header must be 0 or 1",
        )),
    }
}

/// A moving window of real upload durations.
#[derive(Debug)]
pub struct Latencies {
    samples: Mutex<VecDeque<Duration>>,
    capacity: usize,
    initial: Duration,
}

impl Latencies {
    /// Keeps the last `capacity` samples; draws `initial` until the first real one arrives.
    pub fn new(capacity: usize, initial: Duration) -> Self {
        Self {
            samples: Mutex::new(VecDeque::with_capacity(capacity.max(1))),
            capacity: capacity.max(1),
            initial,
        }
    }

    /// Records the duration of a real, successful upload.
    pub fn record(&self, sample: Duration) {
        // The deque is left consistent by every operation, so a poisoned lock is safe to reuse.
        let mut q = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == self.capacity {
            q.pop_front();
        }
        q.push_back(sample);
    }

    /// A delay for a fake: one of the recent real samples at random, so fakes follow the real distribution
    /// (tail included) rather than its mean.
    pub fn draw(&self) -> Duration {
        let q = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_empty() {
            return self.initial;
        }
        q[rand::thread_rng().gen_range(0..q.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_moves() {
        let l = Latencies::new(2, Duration::from_millis(10));
        assert_eq!(l.draw(), Duration::from_millis(10));
        l.record(Duration::from_millis(1));
        assert_eq!(l.draw(), Duration::from_millis(1));
        l.record(Duration::from_millis(2));
        l.record(Duration::from_millis(3));
        for _ in 0..50 {
            assert!(l.draw() >= Duration::from_millis(2));
        }
    }

    #[test]
    fn fake_header() {
        let mut h = HeaderMap::new();
        assert_eq!(fake_mode(&h).unwrap_err().code, "missing_fake_header");
        h.insert(FAKE_HEADER, "0".parse().unwrap());
        assert_eq!(fake_mode(&h), Ok(false));
        h.insert(FAKE_HEADER, "1".parse().unwrap());
        assert_eq!(fake_mode(&h), Ok(true));
        for other in ["", "2", "01", "true", "-1"] {
            h.insert(FAKE_HEADER, other.parse().unwrap());
            let err = fake_mode(&h).unwrap_err();
            assert_eq!(
                (err.status.as_u16(), err.code),
                (400, "invalid_fake_header")
            );
        }
    }
}
