//! Plausible deniability: a fake upload (`cwa-fake: 1`) is validated like a real one, stores nothing, and is
//! answered after a delay drawn from the durations of recent real uploads, so that an observer of the
//! traffic cannot tell the two apart by timing or by response.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;
use rand::Rng;

/// The header marking fake requests.
pub const FAKE_HEADER: &str = "cwa-fake";

/// Whether the request is a fake (`cwa-fake: 1`); any other value, or none, is a real request.
pub fn is_fake(headers: &HeaderMap) -> bool {
    headers
        .get(FAKE_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1")
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
        assert!(!is_fake(&h));
        h.insert(FAKE_HEADER, "0".parse().unwrap());
        assert!(!is_fake(&h));
        h.insert(FAKE_HEADER, "1".parse().unwrap());
        assert!(is_fake(&h));
    }
}
