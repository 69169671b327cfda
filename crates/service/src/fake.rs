//! Fake requests, the original's plausible deniability: the apps send requests marked `cwa-fake: 1` that
//! look like real ones on the wire, and the services answer them so that nobody watching the traffic can
//! tell the two apart: the same status, header names and body size, and a latency drawn from the real
//! requests of the same endpoint.
//!
//! What an app-facing handler does, the same way on every endpoint:
//!
//! 1. `let start = Instant::now()` as its first act, before the header is read or the body parsed;
//! 2. [`fake_mode`] reads `cwa-fake` (missing, or anything but `0` and `1`: refused with 400);
//! 3. validation, identical for both kinds;
//! 4. a real request does its work and answers with [`Latencies::real`]`(start, response)`, whose duration
//!    joins the window when the server writes it; a fake returns [`Latencies::fake`]`(start, answer)`,
//!    which waits until `start` plus one of the recent real durations, drawn at random, then builds the
//!    answer (as a real request builds its own at the end of its work).
//!
//! Both are measured from the same two points, the handler's start and the moment hyper writes the
//! answer, so that what a request spends outside them, a fake spends too. The wait leaves no timer
//! floor: [`wait_until`] uses the microsecond timer of [`timer`], not tokio's 1 ms ticks, and the fake's
//! task is woken from another thread, as a real request's is by its database or HTTP answer.
//!
//! Under load a fake is still written a little after its deadline (the scheduler runs other ready tasks
//! first), a delay a real request's drawn duration already contains once. So the fakes calibrate
//! themselves: each fake's written duration is ranked among the window of real ones, and an offset taken
//! off the next deadlines moves until a fake is as often slower as faster than a real request
//! ([`Latencies::balance`]): the rank statistic an observer's classifier (its AUC) is made of.
//!
//! Sizes ([`padding`]): [`padded_body`] pads a JSON answer to a fixed size; [`pad_error_bodies`] pads every JSON error of
//! a router to one size, so that no refusal (a missing `cwa-fake` included) differs from another in length.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::response::Response;
use rand::Rng;

use crate::AppError;

pub mod padding;
pub mod timer;

pub use padding::{pad_error_bodies, padded_body, ERROR_RESPONSE_BYTES};

/// The header that marks fake requests: `1` fake, `0` real.
pub const FAKE_HEADER: &str = "cwa-fake";

/// Real durations kept per endpoint by [`Latencies::default`].
pub const DEFAULT_SAMPLES: usize = 64;

/// The delay of fakes before the first real request was seen, as in the original.
pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_millis(10);

/// Whether the request is a fake: `Ok(true)` for `cwa-fake: 1`, `Ok(false)` for `cwa-fake: 0`, and 400
/// when the header is missing or has any other value (the original's apps always send it; a request
/// without it would be smaller on the wire than the others).
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

/// A moving window of one endpoint's real request durations, the delays of its fakes, and their
/// calibration. Cheap to clone: clones share the window.
#[derive(Debug, Clone)]
pub struct Latencies(Arc<Window>);

#[derive(Debug)]
struct Window {
    samples: Mutex<VecDeque<Duration>>,
    capacity: usize,
    initial: Duration,
    /// Taken off every fake's deadline (nanoseconds; negative: added), moved by each written fake.
    offset_ns: AtomicI64,
    /// Written fakes' durations not yet balanced: the ranking is done before the next fake's wait, where
    /// it costs nothing visible, not on the write path of the fake that was measured.
    unbalanced: Mutex<Vec<Duration>>,
}

/// The most the calibration moves a deadline, either way.
pub const MAX_OFFSET: Duration = Duration::from_millis(5);

/// Real samples needed before fakes calibrate against them.
const MIN_SAMPLES_TO_BALANCE: usize = 8;

/// A written fake moves the offset by at most the window's median over this.
const BALANCE_STEP_DIVISOR: i64 = 32;

impl Default for Latencies {
    /// [`DEFAULT_SAMPLES`] samples, [`DEFAULT_INITIAL_DELAY`] before the first one.
    fn default() -> Self {
        Self::new(DEFAULT_SAMPLES, DEFAULT_INITIAL_DELAY)
    }
}

impl Latencies {
    /// Keeps the last `capacity` samples (at least one); draws `initial` until the first arrives.
    pub fn new(capacity: usize, initial: Duration) -> Self {
        let capacity = capacity.max(1);
        Self(Arc::new(Window {
            samples: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            initial,
            offset_ns: AtomicI64::new(0),
            unbalanced: Mutex::new(Vec::new()),
        }))
    }

    /// Records the duration of a real request.
    pub fn record(&self, sample: Duration) {
        let mut q = lock(&self.0.samples);
        if q.len() == self.0.capacity {
            q.pop_front();
        }
        q.push_back(sample);
    }

    /// A delay for a fake: one of the recent real samples at random, so fakes follow the real distribution
    /// (tail included) rather than its mean.
    pub fn draw(&self) -> Duration {
        self.draw_with(&mut rand::thread_rng())
    }

    /// [`Latencies::draw`] with the caller's random numbers.
    pub fn draw_with(&self, rng: &mut impl Rng) -> Duration {
        let q = lock(&self.0.samples);
        if q.is_empty() {
            return self.0.initial;
        }
        q[rng.gen_range(0..q.len())]
    }

    /// A real answer to a request that started at `start`: its duration joins the window when the server
    /// writes it (hyper drops the response head, and the marker in its extensions, just before the write),
    /// so that everything a real request costs up to the wire is counted, drops and returns included.
    pub fn real(&self, start: Instant, mut response: Response) -> Response {
        let marker = Written::new(self.clone(), start, false);
        response.extensions_mut().insert(marker);
        response
    }

    /// The answer to a fake that started at `start`: returned at [`Latencies::deadline`], and marked so that
    /// the duration it is written after balances the next deadlines ([`Latencies::balance`]).
    pub async fn fake(&self, start: Instant, answer: impl FnOnce() -> Response) -> Response {
        wait_until(self.deadline(start)).await;
        // Built after the wait, as a real answer is built at the end of its work.
        let mut response = answer();
        let marker = Written::new(self.clone(), start, true);
        response.extensions_mut().insert(marker);
        response
    }

    /// When a fake that started at `start` answers: `start` plus a drawn delay, whatever the time now,
    /// less the calibrated offset.
    pub fn deadline(&self, start: Instant) -> Instant {
        let written = std::mem::take(&mut *lock(&self.0.unbalanced));
        for duration in written {
            self.balance(duration);
        }
        self.offset_from(start + self.draw())
    }

    /// `target` moved earlier by the offset (later when it is negative).
    fn offset_from(&self, target: Instant) -> Instant {
        let offset = self.offset();
        let by = Duration::from_nanos(offset.unsigned_abs());
        if offset >= 0 {
            target.checked_sub(by).unwrap_or(target)
        } else {
            target + by
        }
    }

    /// The offset taken off fakes' deadlines now, in nanoseconds (negative: added).
    pub fn offset(&self) -> i64 {
        self.0.offset_ns.load(Ordering::Relaxed)
    }

    /// A fake was written `written` after its start: the offset moves by a step towards the point where
    /// fakes are as often slower as faster than the real requests in the window. The step is
    /// `(2u - 1) · median / 32`, where `u` is the share of real samples the fake was slower than (ties
    /// count half): zero on average exactly when P(fake slower than real) is one half. A stochastic
    /// approximation of that point (Robbins–Monro), with a step scaled to the endpoint's latencies.
    pub fn balance(&self, written: Duration) {
        let (u, median) = {
            let q = lock(&self.0.samples);
            if q.len() < MIN_SAMPLES_TO_BALANCE {
                return;
            }
            let (mut below, mut ties) = (0usize, 0usize);
            for s in q.iter() {
                match s.cmp(&written) {
                    std::cmp::Ordering::Less => below += 1,
                    std::cmp::Ordering::Equal => ties += 1,
                    std::cmp::Ordering::Greater => {}
                }
            }
            let mut sorted: Vec<Duration> = q.iter().copied().collect();
            let mid = sorted.len() / 2;
            let (_, median, _) = sorted.select_nth_unstable(mid);
            let u = (below as f64 + ties as f64 / 2.0) / q.len() as f64;
            (u, *median)
        };
        let median_ns = i64::try_from(median.as_nanos()).unwrap_or(i64::MAX);
        let step = ((2.0 * u - 1.0) * (median_ns / BALANCE_STEP_DIVISOR) as f64) as i64;
        let cap = i64::try_from(MAX_OFFSET.as_nanos()).unwrap_or(i64::MAX);
        // A lost update under contention costs one step, nothing more.
        let old = self.0.offset_ns.load(Ordering::Relaxed);
        let new = old.saturating_add(step).clamp(-cap, cap);
        self.0.offset_ns.store(new, Ordering::Relaxed);
    }
}

/// In a response's extensions: when hyper drops it with the response head, the answer is being written.
/// A real answer's duration is then recorded; a fake's balances the next fakes' deadlines.
#[derive(Debug, Clone)]
struct Written {
    /// Held for its drop, shared by clones of the extensions.
    _on_drop: Arc<WrittenInner>,
}

#[derive(Debug)]
struct WrittenInner {
    latencies: Latencies,
    start: Instant,
    fake: bool,
}

impl Written {
    fn new(latencies: Latencies, start: Instant, fake: bool) -> Self {
        Self {
            _on_drop: Arc::new(WrittenInner {
                latencies,
                start,
                fake,
            }),
        }
    }
}

impl Drop for WrittenInner {
    fn drop(&mut self) {
        let written = self.start.elapsed();
        if self.fake {
            // Only noted here, on the write path; balanced before the next fake's wait.
            lock(&self.latencies.0.unbalanced).push(written);
        } else {
            self.latencies.record(written);
        }
    }
}

/// Every operation leaves the guarded values consistent, so a poisoned lock is safe to reuse.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Returns at `deadline`, within microseconds: see [`timer`] (tokio's own timer is up to a millisecond
/// late, which would leave every fake a floor).
pub async fn wait_until(deadline: Instant) {
    timer::sleep_until(deadline).await;
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use rand::SeedableRng;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn fake_header() {
        let mut h = HeaderMap::new();
        assert_eq!(fake_mode(&h).unwrap_err().code, "missing_fake_header");
        h.insert(FAKE_HEADER, "0".parse().unwrap());
        assert_eq!(fake_mode(&h), Ok(false));
        h.insert(FAKE_HEADER, "1".parse().unwrap());
        assert_eq!(fake_mode(&h), Ok(true));
        for other in ["", "2", "01", "true", "-1", " 1"] {
            h.insert(FAKE_HEADER, other.parse().unwrap());
            let err = fake_mode(&h).unwrap_err();
            assert_eq!(
                (err.status.as_u16(), err.code),
                (400, "invalid_fake_header"),
                "{other:?}"
            );
        }
    }

    #[test]
    fn window_moves_and_draws_every_sample() {
        let l = Latencies::new(3, 10 * MS);
        assert_eq!(l.draw(), 10 * MS, "the initial delay before any sample");
        for ms in 1..=5 {
            l.record(ms * MS);
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut seen: Vec<Duration> = (0..200).map(|_| l.draw_with(&mut rng)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen,
            vec![3 * MS, 4 * MS, 5 * MS],
            "the last three, each of them"
        );
    }

    #[test]
    fn deadline_counts_from_the_request_start() {
        let l = Latencies::new(4, 10 * MS);
        assert_eq!(l.offset(), 0);
        l.record(5 * MS);
        // A request that started 3 ms ago (parsing and validation took that long) answers 2 ms from now,
        // not 5: the delay is measured from the start, as the real requests' durations are.
        let now = Instant::now();
        let start = now - 3 * MS;
        let deadline = l.deadline(start);
        assert_eq!(deadline, start + 5 * MS);
        assert_eq!(deadline.duration_since(now), 2 * MS);
        // A start already further back than the drawn delay has its deadline behind it: no wait.
        assert!(l.deadline(now - 6 * MS) < now);
    }

    #[tokio::test]
    async fn answers_from_the_start_not_from_now() {
        let l = Latencies::new(4, 10 * MS);
        l.record(Duration::from_secs(30));
        // Started 30 s ago: the deadline has passed, so no wait at all (measured from now it would be 30 s).
        let start = Instant::now() - Duration::from_secs(30);
        let before = Instant::now();
        let answer = l.fake(start, || "fake".into_response()).await;
        assert!(before.elapsed() < Duration::from_secs(10));
        drop(answer);
    }

    #[tokio::test]
    async fn a_written_fake_is_balanced_before_the_next_wait() {
        let l = Latencies::new(64, 10 * MS);
        for _ in 0..64 {
            l.record(MS);
        }
        // A fake written 30 s after its start, slower than every real request.
        let answer = l.fake(Instant::now() - Duration::from_secs(30), || {
            "fake".into_response()
        });
        drop(answer.await);
        assert_eq!(l.offset(), 0, "not ranked on the write path");
        let _ = l.deadline(Instant::now());
        assert_eq!(
            l.offset(),
            (MS.as_nanos() / 32) as i64,
            "ranked before the next fake's wait"
        );
    }

    #[test]
    fn real_answers_are_recorded_when_written() {
        let l = Latencies::new(4, 10 * MS);
        let start = Instant::now() - 3 * MS;
        let answer = l.real(start, "real".into_response());
        assert_eq!(
            l.draw(),
            10 * MS,
            "nothing recorded before the answer is written"
        );
        drop(answer);
        let sample = l.draw();
        assert!(sample >= 3 * MS && sample < 10 * MS, "{sample:?}");
    }

    /// A closed loop on an injected clock: fakes that the scheduler writes `late` after their deadline,
    /// against real requests of 1.00 to 1.63 ms. The offset settles where a fake is as often slower as
    /// faster than a real request: at the lateness.
    fn settle(late: impl Fn(&mut rand::rngs::StdRng) -> Duration) -> (Latencies, f64) {
        let l = Latencies::new(64, 10 * MS);
        for i in 0..64 {
            l.record(MS + Duration::from_micros(10 * i));
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let start = Instant::now();
        let mut slower = 0.0;
        let rounds = 4000;
        for round in 0..rounds {
            let deadline = l.offset_from(start + l.draw_with(&mut rng));
            let written = deadline + late(&mut rng) - start;
            if round >= rounds / 2 {
                // P(fake slower than a random real), over the settled half.
                let real = l.draw_with(&mut rng);
                slower += if written > real { 1.0 } else { 0.0 };
            }
            l.balance(written);
        }
        (l, slower / f64::from(rounds / 2))
    }

    #[test]
    fn balance_settles_at_the_lateness() {
        let (l, slower) = settle(|_| Duration::from_micros(300));
        let offset = l.offset();
        assert!((250_000..=350_000).contains(&offset), "offset {offset} ns");
        assert!((0.45..=0.55).contains(&slower), "P(slower) {slower}");
        // Skewed lateness, mostly small with a long tail: the offset is not its mean but what balances.
        let (_, slower) = settle(|rng| {
            if rng.gen_bool(0.1) {
                Duration::from_micros(rng.gen_range(0..2000))
            } else {
                Duration::from_micros(rng.gen_range(0..40))
            }
        });
        assert!((0.45..=0.55).contains(&slower), "P(slower) {slower}");
        // Written on time: the offset stays near zero.
        let (l, _) = settle(|_| Duration::ZERO);
        assert!(l.offset().abs() < 50_000, "{}", l.offset());
        // Fakes faster than every real request: the deadlines move later.
        for _ in 0..100 {
            l.balance(MS / 2);
        }
        assert!(l.offset() < -50_000, "{}", l.offset());
    }

    #[test]
    fn offset_is_bounded() {
        let l = Latencies::new(64, 10 * MS);
        for _ in 0..64 {
            l.record(Duration::from_secs(1));
        }
        for _ in 0..1000 {
            l.balance(Duration::from_secs(60));
        }
        assert_eq!(l.offset(), MAX_OFFSET.as_nanos() as i64);
        let t = Instant::now() + Duration::from_secs(1);
        assert_eq!(l.offset_from(t), t - MAX_OFFSET);
        // Too few real samples to rank against: nothing moves.
        let l = Latencies::new(64, 10 * MS);
        l.record(MS);
        l.balance(Duration::from_secs(60));
        assert_eq!(l.offset(), 0);
    }

    #[tokio::test]
    async fn a_real_answer_over_http_joins_the_window() {
        use axum::routing::get;

        let l = Latencies::new(4, Duration::from_secs(5));
        let window = l.clone();
        let app = axum::Router::new().route(
            "/real",
            get(move || {
                let l = window.clone();
                async move { l.real(Instant::now(), "real".into_response()) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, shutdown) = crate::server::shutdown_channel();
        tokio::spawn(crate::server::serve(listener, app, shutdown));
        let r = reqwest::get(format!("{base}/real")).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "real");
        // The marker went with the response head, before the client could read the answer.
        assert!(l.draw() < Duration::from_secs(5));
        stop.trigger();
    }

    #[tokio::test]
    async fn waits_never_answer_early() {
        for micros in [0, 50, 700, 2_500] {
            let deadline = Instant::now() + Duration::from_micros(micros);
            wait_until(deadline).await;
            assert!(Instant::now() >= deadline, "{micros} µs");
        }
    }
}
