//! The download schedule and its retries, as pure functions of an injected time and random source:
//! the next run at the next full hour plus a uniform random delay of up to an hour (so a country's
//! phones spread over the hour instead of hitting the CDN at once), exponential backoff with jitter
//! after failures, and the catch-up plan of what is still missing after any gap.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Seconds in an hour.
const HOUR: i64 = 3600;

/// When the next download runs, and how many runs in a row have failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Schedule {
    /// Unix seconds of the next run.
    pub next_run: i64,
    /// Consecutive failed runs (0 after a success).
    pub failures: u32,
}

impl Schedule {
    /// Whether a run is due at `now`.
    pub fn due(&self, now: i64) -> bool {
        now >= self.next_run
    }

    /// After a successful run at `now`: seconds to the next full hour plus uniform random(0..3600).
    pub fn succeeded(&mut self, now: i64, rng: &mut impl Rng) {
        self.failures = 0;
        self.next_run = next_regular_run(now, rng);
    }

    /// After a failed run at `now`: retry after an exponential backoff with jitter, never later than
    /// the regular schedule would run.
    pub fn failed(&mut self, now: i64, policy: &Backoff, rng: &mut impl Rng) {
        self.failures = self.failures.saturating_add(1);
        let retry = now + policy.delay(self.failures - 1, rng).as_secs().max(1) as i64;
        self.next_run = retry.min(next_regular_run(now, rng));
    }
}

/// The regular next run after `now`: the next full hour plus uniform random(0..3600) seconds.
pub fn next_regular_run(now: i64, rng: &mut impl Rng) -> i64 {
    let to_next_hour = HOUR - now.rem_euclid(HOUR);
    now + to_next_hour + rng.gen_range(0..HOUR)
}

/// Exponential backoff with jitter: `base × 2^attempt`, capped, plus up to half of that at random
/// (so phones that failed together do not retry together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// Delay before the first retry.
    pub base: Duration,
    /// Largest delay before jitter.
    pub max: Duration,
    /// Attempts of one request before giving up (1 = no retry).
    pub attempts: u32,
}

impl Default for Backoff {
    /// One second doubling up to 15 minutes, 5 attempts: what a phone on a flaky network needs.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(900),
            attempts: 5,
        }
    }
}

impl Backoff {
    /// Millisecond delays for tests and simulations, where real seconds would only slow things down.
    pub fn fast() -> Self {
        Self {
            base: Duration::from_millis(1),
            max: Duration::from_millis(20),
            attempts: 6,
        }
    }

    /// The delay before retry number `attempt` (0-based).
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.max);
        let jitter_ms = rng.gen_range(0..=exp.as_millis() as u64 / 2);
        exp + Duration::from_millis(jitter_ms)
    }
}

/// What the phone has downloaded already: whole days, and single hours of days not yet complete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downloaded {
    /// Dates (`YYYY-MM-DD`) whose keys the phone has, by daily file or by all their hours.
    pub days: BTreeSet<String>,
    /// Hours of dates not in `days`.
    pub hours: BTreeMap<String, BTreeSet<u32>>,
}

/// One file to fetch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fetch {
    /// A daily archive.
    Day(String),
    /// An hourly archive.
    Hour(String, u32),
}

impl Downloaded {
    /// The listed dates the phone still lacks, split into those it has no hour of (fetch the daily
    /// file) and those it has some hours of (fetch only the missing hours, so no key comes twice).
    pub fn missing_days<'a>(&self, listed: &'a [String]) -> (Vec<&'a str>, Vec<&'a str>) {
        let mut whole = Vec::new();
        let mut partial = Vec::new();
        for date in listed.iter().filter(|d| !self.days.contains(*d)) {
            if self.hours.get(date).is_some_and(|h| !h.is_empty()) {
                partial.push(date.as_str());
            } else {
                whole.push(date.as_str());
            }
        }
        (whole, partial)
    }

    /// The listed hours of `date` not yet downloaded.
    pub fn missing_hours(&self, date: &str, listed: &[u32]) -> Vec<u32> {
        let have = self.hours.get(date);
        listed
            .iter()
            .copied()
            .filter(|h| !have.is_some_and(|s| s.contains(h)))
            .collect()
    }

    /// Marks a fetched file as downloaded.
    pub fn mark(&mut self, fetch: &Fetch) {
        match fetch {
            Fetch::Day(date) => {
                self.hours.remove(date);
                self.days.insert(date.clone());
            }
            Fetch::Hour(date, hour) => {
                self.hours.entry(date.clone()).or_default().insert(*hour);
            }
        }
    }

    /// Whether the keys of `fetch` are here already: from that very file, or from the daily file or
    /// the hours that stand for the same date.
    pub fn holds(&self, fetch: &Fetch) -> bool {
        match fetch {
            Fetch::Day(date) => self.days.contains(date),
            Fetch::Hour(date, hour) => {
                self.days.contains(date) || self.hours.get(date).is_some_and(|h| h.contains(hour))
            }
        }
    }

    /// Marks a date complete after all its hours came one by one.
    pub fn complete(&mut self, date: &str) {
        self.hours.remove(date);
        self.days.insert(date.to_owned());
    }

    /// Forgets dates before `oldest` (`YYYY-MM-DD` compares in date order).
    pub fn forget_before(&mut self, oldest: &str) {
        self.days.retain(|d| d.as_str() >= oldest);
        self.hours.retain(|d, _| d.as_str() >= oldest);
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn regular_runs_land_in_the_next_hour() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for now in [0, 1, 3599, 3600, 86_399, 1_700_000_123] {
            let mut s = Schedule::default();
            s.succeeded(now, &mut rng);
            let next_hour = (now / HOUR + 1) * HOUR;
            assert!((next_hour..next_hour + HOUR).contains(&s.next_run), "{now}");
            assert!(!s.due(s.next_run - 1) && s.due(s.next_run));
        }
    }

    #[test]
    fn runs_spread_over_the_hour() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut quarters = [0; 4];
        for _ in 0..4000 {
            quarters[(next_regular_run(0, &mut rng) - HOUR) as usize / 900] += 1;
        }
        assert!(
            quarters.iter().all(|&q| (850..1150).contains(&q)),
            "{quarters:?}"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let b = Backoff::default();
        for attempt in 0..20 {
            let exp = Duration::from_secs(1 << attempt.min(10)).min(b.max);
            let d = b.delay(attempt, &mut rng);
            assert!(d >= exp && d <= exp + exp / 2, "{attempt}: {d:?}");
        }
        let distinct: BTreeSet<Duration> = (0..50).map(|_| b.delay(3, &mut rng)).collect();
        assert!(distinct.len() > 10, "jitter spreads retries");
    }

    #[test]
    fn failures_back_off_then_reset() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let mut s = Schedule::default();
        let now = 10 * HOUR + 5;
        s.failed(now, &Backoff::default(), &mut rng);
        assert!(
            s.next_run > now && s.next_run <= now + 2,
            "first retry after ~1 s"
        );
        for _ in 0..5 {
            s.failed(now, &Backoff::default(), &mut rng);
        }
        assert_eq!(s.failures, 6);
        assert!(s.next_run >= now + 32 && s.next_run <= now + 48);
        for _ in 0..30 {
            s.failed(now, &Backoff::default(), &mut rng);
        }
        assert!(
            s.next_run < now + 2 * HOUR,
            "never later than the regular run"
        );
        s.succeeded(now, &mut rng);
        assert_eq!(s.failures, 0);
    }

    #[test]
    fn catch_up_after_days_off() {
        let mut d = Downloaded::default();
        d.mark(&Fetch::Day("2026-11-01".into()));
        d.mark(&Fetch::Hour("2026-11-02".into(), 0));
        d.mark(&Fetch::Hour("2026-11-02".into(), 1));
        let listed: Vec<String> = (1..=5).map(|i| format!("2026-11-0{i}")).collect();
        let (whole, partial) = d.missing_days(&listed);
        assert_eq!(whole, ["2026-11-03", "2026-11-04", "2026-11-05"]);
        assert_eq!(partial, ["2026-11-02"]);
        let all: Vec<u32> = (0..24).collect();
        assert_eq!(d.missing_hours("2026-11-02", &all).len(), 22);
        d.complete("2026-11-02");
        assert!(d.hours.is_empty());
        for date in &whole {
            d.mark(&Fetch::Day((*date).to_owned()));
        }
        assert_eq!(d.missing_days(&listed), (vec![], vec![]));
        d.forget_before("2026-11-03");
        assert_eq!(d.days.len(), 3);
    }

    #[test]
    fn a_day_holds_its_hours_and_an_hour_only_itself() {
        let mut d = Downloaded::default();
        let hour = |h| Fetch::Hour("2026-11-02".into(), h);
        d.mark(&hour(3));
        assert!(d.holds(&hour(3)));
        assert!(!d.holds(&hour(4)));
        assert!(!d.holds(&Fetch::Day("2026-11-02".into())));
        d.mark(&Fetch::Day("2026-11-01".into()));
        assert!(d.holds(&Fetch::Hour("2026-11-01".into(), 17)));
        assert!(d.holds(&Fetch::Day("2026-11-01".into())));
        assert!(!d.holds(&Fetch::Day("2026-11-03".into())));
    }
}
