//! The ground-truth rule of contact tracing: who counts as truly exposed by a person who tested
//! positive, from the meetings with them (day, minutes, mean attenuation). Simulations compare the
//! warnings of the phones with this rule.

use std::collections::HashMap;

/// Days before (and including) the day of a positive's sample on which they were infectious.
pub const INFECTIOUS_DAYS: u32 = 5;
/// Minutes of close contact (mid-range counting half) with one infectious person on one day that make
/// a true exposure: the usual 15-minute rule.
pub const EXPOSURE_MINUTES: u32 = 15;
/// Mean attenuation (dB) below which a meeting counts as close (about 1–2 m): its minutes count whole.
pub const CLOSE_BELOW_DB: u8 = 55;
/// Mean attenuation below which a meeting that is not close counts as mid-range: its minutes count
/// half. At or above it, a meeting does not count at all.
pub const MID_BELOW_DB: u8 = 63;

/// One meeting of a person with someone who tested positive, as the rule weighs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meeting {
    /// Who tested positive: meetings with the same positive on the same day add up.
    pub positive: usize,
    /// UTC day number of the meeting.
    pub day: i64,
    /// UTC day number of the positive's sample.
    pub sample_day: i64,
    /// Duration in minutes.
    pub minutes: u32,
    /// Mean attenuation in dB.
    pub attenuation_db: u8,
}

/// Whether a positive whose sample was taken on `sample_day` was infectious on `day`: the sample's day
/// and the [`INFECTIOUS_DAYS`]` - 1` days before.
pub fn infectious(day: i64, sample_day: i64) -> bool {
    day <= sample_day && day + i64::from(INFECTIOUS_DAYS) > sample_day
}

/// Half-minutes that one minute of a meeting at `attenuation_db` counts for: 2 close, 1 mid-range,
/// 0 far. Counted in halves so that mid-range minutes stay whole numbers.
pub fn half_minutes_per_minute(attenuation_db: u8) -> u32 {
    match attenuation_db {
        a if a < CLOSE_BELOW_DB => 2,
        a if a < MID_BELOW_DB => 1,
        _ => 0,
    }
}

/// Whether `meetings` (all of one person's with positives) make that person truly exposed: on some
/// day on which one positive was infectious, the meetings with that positive add up to
/// [`EXPOSURE_MINUTES`] close minutes, mid-range minutes counting half.
pub fn truly_exposed(meetings: impl IntoIterator<Item = Meeting>) -> bool {
    let mut half_minutes: HashMap<(usize, i64), u32> = HashMap::new();
    for m in meetings {
        if !infectious(m.day, m.sample_day) {
            continue;
        }
        *half_minutes.entry((m.positive, m.day)).or_default() +=
            half_minutes_per_minute(m.attenuation_db) * m.minutes;
    }
    half_minutes.values().any(|&h| h >= 2 * EXPOSURE_MINUTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting(positive: usize, day: i64, minutes: u32, attenuation_db: u8) -> Meeting {
        Meeting {
            positive,
            day,
            sample_day: 10,
            minutes,
            attenuation_db,
        }
    }

    #[test]
    fn the_infectious_period_is_the_sample_day_and_four_before() {
        let days: Vec<i64> = (0..20).filter(|&d| infectious(d, 10)).collect();
        assert_eq!(days, [6, 7, 8, 9, 10]);
    }

    #[test]
    fn fifteen_close_minutes_with_one_positive_on_one_day() {
        assert!(truly_exposed([meeting(1, 10, 15, 45)]));
        assert!(!truly_exposed([meeting(1, 10, 14, 45)]));
        // Mid-range counts half, far not at all; the thresholds are exclusive.
        assert!(truly_exposed([meeting(1, 8, 30, 58)]));
        assert!(!truly_exposed([meeting(1, 8, 29, 58)]));
        assert!(truly_exposed([meeting(1, 8, 30, MID_BELOW_DB - 1)]));
        assert!(!truly_exposed([meeting(1, 8, 600, MID_BELOW_DB)]));
        assert!(!truly_exposed([meeting(1, 8, 20, CLOSE_BELOW_DB)]));
        // Two meetings with the same positive on the same day add up ...
        assert!(truly_exposed([
            meeting(1, 9, 10, 45),
            meeting(1, 9, 10, 58)
        ]));
        // ... with two positives, or on two days, they do not.
        assert!(!truly_exposed([
            meeting(1, 9, 10, 45),
            meeting(2, 9, 10, 45)
        ]));
        assert!(!truly_exposed([
            meeting(1, 8, 10, 45),
            meeting(1, 9, 10, 45)
        ]));
        // Outside the infectious period nothing counts.
        assert!(!truly_exposed([meeting(1, 5, 120, 45)]));
        assert!(!truly_exposed([meeting(1, 11, 120, 45)]));
        assert!(!truly_exposed([]));
    }
}
