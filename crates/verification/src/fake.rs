//! Plausible deniability: fake requests are answered after a delay drawn from the recent latency of real
//! requests of the same endpoint, and every success response is padded to one fixed size per endpoint.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{Map, Value};

/// Real samples kept per endpoint.
const SAMPLES: usize = 64;
/// The delay of fakes before any real request was seen.
const INITIAL: Duration = Duration::from_millis(10);

/// Whether the request is a fake (`cwa-fake: 1`); any other value, or none, is a real request.
pub fn is_fake(headers: &HeaderMap) -> bool {
    headers
        .get("cwa-fake")
        .is_some_and(|v| v.as_bytes() == b"1")
}

/// Recent real latencies of one endpoint.
#[derive(Debug, Default)]
pub struct Latencies(Mutex<VecDeque<Duration>>);

impl Latencies {
    /// Records the processing time of a real request.
    pub fn record(&self, sample: Duration) {
        // The deque is always left consistent, so a poisoned lock is safe to reuse.
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == SAMPLES {
            q.pop_front();
        }
        q.push_back(sample);
    }

    /// A delay for a fake: one of the recent real samples, chosen at random, so fakes follow the real
    /// distribution (including its tail) rather than a mean.
    pub fn draw(&self) -> Duration {
        let q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_empty() {
            return INITIAL;
        }
        q[rand::thread_rng().gen_range(0..q.len())]
    }
}

/// Serialises `fields` plus a `responsePadding` of random letters and digits that brings the body to exactly
/// `target` bytes (at least one padding character, as the original always sends one).
pub fn padded_body(mut fields: Map<String, Value>, target: usize) -> String {
    let base = Value::Object(fields.clone()).to_string().len();
    // `,"responsePadding":""` adds 21 bytes to a non-empty object.
    let pad_len = target.saturating_sub(base + 21).max(1);
    let padding: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(pad_len)
        .map(char::from)
        .collect();
    fields.insert("responsePadding".to_owned(), Value::String(padding));
    Value::Object(fields).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_target() {
        let mut m = Map::new();
        m.insert("tan".into(), Value::String("x".repeat(36)));
        assert_eq!(padded_body(m.clone(), 128).len(), 128);
        m.insert("labId".into(), Value::String("l".repeat(64)));
        assert_eq!(padded_body(m, 200).len(), 200);
    }

    #[test]
    fn fake_header() {
        let mut h = HeaderMap::new();
        assert!(!is_fake(&h));
        h.insert("cwa-fake", "0".parse().unwrap());
        assert!(!is_fake(&h));
        h.insert("cwa-fake", "1".parse().unwrap());
        assert!(is_fake(&h));
    }

    #[test]
    fn draws_from_samples() {
        let l = Latencies::default();
        assert_eq!(l.draw(), INITIAL);
        l.record(Duration::from_millis(3));
        assert_eq!(l.draw(), Duration::from_millis(3));
    }
}
