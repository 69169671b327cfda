//! The Exposure Notification time base: 10-minute interval numbers (ENIntervalNumber).

/// Length of one interval in seconds (the RPI rotation period).
pub const INTERVAL_SECONDS: u64 = 600;
/// Intervals per TEK: one key per UTC day.
pub const TEK_ROLLING_PERIOD: u32 = 144;
/// Matching tolerance in intervals either side of an RPI's own interval (±2 hours).
pub const MATCHING_TOLERANCE: u32 = 12;

/// An ENIntervalNumber: Unix seconds divided by 600.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntervalNumber(pub u32);

impl IntervalNumber {
    /// The interval containing `unix_seconds`. Times past the year 83,000 saturate.
    pub fn from_unix_seconds(unix_seconds: u64) -> Self {
        Self(u32::try_from(unix_seconds / INTERVAL_SECONDS).unwrap_or(u32::MAX))
    }

    /// The first Unix second of this interval.
    pub fn to_unix_seconds(self) -> u64 {
        u64::from(self.0) * INTERVAL_SECONDS
    }

    /// The first interval of this interval's UTC day: where a TEK's rolling period starts.
    pub fn day_start(self) -> Self {
        Self(self.0 - self.0 % TEK_ROLLING_PERIOD)
    }

    /// The UTC day number (days since 1970-01-01).
    pub fn day(self) -> u32 {
        self.0 / TEK_ROLLING_PERIOD
    }

    /// Whether this interval starts a UTC day.
    pub fn is_day_aligned(self) -> bool {
        self.0.is_multiple_of(TEK_ROLLING_PERIOD)
    }

    /// The raw interval number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for IntervalNumber {
    fn from(value: u32) -> Self {
        Self(value)
    }
}

impl std::fmt::Display for IntervalNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vector_anchor() {
        // 2020-04-02 00:00:00 UTC, the Google test vectors' key generation time.
        let enin = IntervalNumber::from_unix_seconds(1_585_785_600);
        assert_eq!(enin, IntervalNumber(2_642_976));
        assert!(enin.is_day_aligned());
        assert_eq!(enin.day(), 18_354);
        assert_eq!(enin.to_unix_seconds(), 1_585_785_600);
    }

    #[test]
    fn day_start_and_rounding() {
        let enin = IntervalNumber::from_unix_seconds(1_589_121_000 + 599);
        assert_eq!(enin, IntervalNumber(2_648_535));
        assert_eq!(enin.day_start(), IntervalNumber(2_648_535 - 87));
        assert!(!enin.is_day_aligned());
        assert_eq!(
            IntervalNumber::from_unix_seconds(u64::MAX),
            IntervalNumber(u32::MAX)
        );
    }
}
