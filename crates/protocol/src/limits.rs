//! The limits a diagnosis key and an upload must keep, shared by everyone who accepts keys (the
//! submission service from phones, the federation gateway and jobs from other countries) and everyone who
//! sets up what a server accepts. Plain values: no I/O, no configuration reading.

use core::ops::RangeInclusive;

use crate::interval::TEK_ROLLING_PERIOD;

/// Bytes of a temporary exposure key.
pub const KEY_LENGTH: usize = 16;

/// Lowest accepted transmission risk level.
pub const MIN_TRL: i32 = 1;
/// Highest accepted transmission risk level.
pub const MAX_TRL: i32 = 8;

/// Lowest accepted days since onset of symptoms (the original's `MIN_DAYS_SINCE_ONSET_OF_SYMPTOMS`).
pub const MIN_DSOS: i32 = -15;
/// Highest accepted days since onset of symptoms.
pub const MAX_DSOS: i32 = 4000;

/// The rolling periods a key may have, in 10-minute intervals: one interval up to a whole day.
pub const ROLLING_PERIODS: RangeInclusive<u32> = 1..=TEK_ROLLING_PERIOD;

/// Most keys in one upload by default (the original's `max-number-of-keys`): one a day for 14 days.
pub const DEFAULT_MAX_KEYS_PER_UPLOAD: usize = 14;

/// The EU member states: the visited countries accepted by default (the original's federation partners),
/// ISO 3166-1 alpha-2.
pub const EU_COUNTRIES: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

// The ranges are ranges, and days since onset reach both before and after the onset.
const _: () = assert!(MIN_TRL < MAX_TRL && MIN_DSOS < 0 && MAX_DSOS > 0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_hold_together() {
        assert_eq!(ROLLING_PERIODS, 1..=144);
        assert!(!ROLLING_PERIODS.contains(&0) && !ROLLING_PERIODS.contains(&145));
        let mut sorted = EU_COUNTRIES;
        sorted.sort_unstable();
        assert_eq!(sorted, EU_COUNTRIES, "sorted, so a country appears once");
        assert!(EU_COUNTRIES.windows(2).all(|w| w[0] != w[1]));
        assert!(EU_COUNTRIES.iter().all(|c| c.len() == 2));
    }
}
