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

/// `YYYY-MM-DD` of a UTC day number (days since 1970-01-01), the dates of published files and
/// federation days.
pub fn date_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds, as RFC 3339 writes a UTC time.
pub fn datetime_string(unix_seconds: i64) -> String {
    let day = unix_seconds.div_euclid(86_400);
    let s = unix_seconds.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date_string(day),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// The UTC day number of a strict `YYYY-MM-DD`: four-digit year, two-digit month and day, digits only,
/// a real calendar date. Anything else is `None`.
pub fn parse_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (y, m, d) = (
        digits(&text[..4])?,
        digits(&text[5..7])?,
        digits(&text[8..])?,
    );
    let day = days_from_civil(y, m, d);
    (civil_from_days(day) == (y, m, d)).then_some(day)
}

// Howard Hinnant's civil-calendar algorithms: exact for the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {

    #[test]
    fn datetimes() {
        assert_eq!(datetime_string(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            datetime_string(1_585_785_600 + 3_661),
            "2020-04-02T01:01:01Z"
        );
        assert_eq!(datetime_string(-1), "1969-12-31T23:59:59Z");
    }

    use super::*;

    #[test]
    fn dates_are_strict_and_round_trip() {
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(-1), "1969-12-31");
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        for bad in [
            "2023-02-29",
            "+026-11-23",
            "2026-1-023",
            "2026-11-2x",
            "20261123",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for day in [-1000, 0, 19_782, 2_932_896] {
            assert_eq!(parse_date(&date_string(day)), Some(day));
        }
    }

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
