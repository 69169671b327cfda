//! UTC days as the gateway names them: `YYYY-MM-DD` in paths, `YYYYMMDD-N` in download tags.

/// `YYYY-MM-DD` of a day number.
pub fn day_string(day: i64) -> String {
    warnkit_protocol::interval::date_string(day)
}

/// The day number of a strict `YYYY-MM-DD` (a real calendar date, years 1970..=9999).
pub fn parse_day(text: &str) -> Option<i64> {
    warnkit_protocol::interval::parse_date(text).filter(|&day| day >= 0)
}

/// The download tag of a day's `seq`-th batch: `YYYYMMDD-seq`.
pub fn download_tag(day: i64, seq: i64) -> String {
    day_string(day).replace('-', "") + "-" + &seq.to_string()
}

/// The day and sequence number of a download tag.
pub fn parse_download_tag(tag: &str) -> Option<(i64, i64)> {
    let (date, seq) = tag.split_once('-')?;
    if date.len() != 8 || seq.is_empty() || seq.len() > 18 {
        return None;
    }
    if !seq.bytes().all(|c| c.is_ascii_digit()) || seq.starts_with('0') {
        return None;
    }
    let day = parse_day(&format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]))?;
    Some((day, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_bad_ones_are_refused() {
        assert_eq!(day_string(0), "1970-01-01");
        assert_eq!(parse_day("2026-11-23"), Some(20_780));
        assert_eq!(day_string(20_780), "2026-11-23");
        for day in [0, 11_016, 19_000, 20_780, 2_932_896] {
            assert_eq!(parse_day(&day_string(day)), Some(day));
        }
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-1-01",
            "26-11-23",
            "2026/11/23",
            "2026-11-2x",
            "+026-11-23",
            "1969-12-31",
            "",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn download_tags() {
        assert_eq!(download_tag(20_780, 7), "20261123-7");
        assert_eq!(parse_download_tag("20261123-7"), Some((20_780, 7)));
        for bad in [
            "20261123-0",
            "20261123-07",
            "20261123-",
            "2026112-1",
            "20261331-1",
            "x",
            "20261123-1-2",
        ] {
            assert_eq!(parse_download_tag(bad), None, "{bad}");
        }
    }
}
