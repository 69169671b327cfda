//! The one clock every service reads: the system clock in production, a manual one in tests and demos,
//! so that retention, expiry, rate limits, schedules and caches can be tested without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Where a service reads the time. Cheap to clone: clones of a manual clock share its time, so a test
/// can hold one and move the clock of a running service.
///
/// A manual clock keeps milliseconds, so that a cache that revalidates more often than once a second
/// ([`Clock::now_millis`]) can be moved past its interval too.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock standing at `unix_secs` until [`Clock::set`] or [`Clock::advance`] moves it.
    pub fn manual(unix_secs: i64) -> Self {
        Self(Some(Arc::new(AtomicI64::new(
            unix_secs.saturating_mul(1000),
        ))))
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        self.0.is_some()
    }

    /// Moves a manual clock to `unix_secs`; returns `false` (and changes nothing) on the system clock.
    pub fn set(&self, unix_secs: i64) -> bool {
        match &self.0 {
            Some(t) => {
                t.store(unix_secs.saturating_mul(1000), Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Moves a manual clock forward by `secs` (back when negative); no effect on the system clock.
    pub fn advance(&self, secs: i64) {
        self.advance_millis(secs.saturating_mul(1000));
    }

    /// Moves a manual clock forward by `millis` (back when negative); no effect on the system clock.
    pub fn advance_millis(&self, millis: i64) {
        if let Some(t) = &self.0 {
            t.fetch_add(millis, Ordering::SeqCst);
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }

    /// Milliseconds since the Unix epoch. The system clock's reading can step back (NTP), so a caller
    /// comparing two readings treats a negative difference as "long ago", not as "just now".
    pub fn now_millis(&self) -> i64 {
        match &self.0 {
            Some(t) => t.load(Ordering::SeqCst),
            None => system_millis(),
        }
    }

    /// Hours since the Unix epoch: the time base of submission hours.
    pub fn hour(&self) -> i64 {
        self.now().div_euclid(3600)
    }
}

fn system_millis() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    // As `warnkit_store::unix_now`: a clock before 1970 is a broken machine, and 0 keeps the order
    // well-defined.
    now.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_by_clones() {
        let c = Clock::manual(7_200);
        let d = c.clone();
        assert!(c.is_manual());
        assert!(d.set(3 * 3600 + 59));
        assert_eq!(c.now(), 3 * 3600 + 59);
        assert_eq!(c.hour(), 3);
        d.advance(3541);
        assert_eq!(c.now(), 4 * 3600);
        assert_eq!(c.hour(), 4);
        assert_eq!(c.now_millis(), 4 * 3600 * 1000);
    }

    #[test]
    fn manual_clock_moves_by_milliseconds() {
        let c = Clock::manual(100);
        c.advance_millis(999);
        assert_eq!((c.now(), c.now_millis()), (100, 100_999));
        c.advance_millis(1);
        assert_eq!(c.now(), 101);
        c.advance(-2);
        assert_eq!(c.now(), 99);
        // Before the epoch, seconds round down as the hours do.
        c.set(0);
        c.advance_millis(-1);
        assert_eq!(c.now(), -1);
    }

    #[test]
    fn the_system_clock_is_not_moved() {
        let c = Clock::system();
        assert!(!c.is_manual());
        assert!(!c.set(1));
        c.advance(-1_000_000_000);
        assert!(c.now() > 1_700_000_000);
        let (secs, millis) = (c.now(), c.now_millis());
        assert!((millis / 1000 - secs).abs() <= 1);
        assert!(!Clock::default().is_manual());
    }
}
