//! Payload validation, rule by rule as the original lists them; a valid payload becomes the rows to store.
//!
//! Order, as the original: every rolling start a multiple of 144, then the key count (all keys sent, also
//! those dropped below), then the payload-wide fields, then each key. A key is then **dropped silently**,
//! and not looked at further, when its rolling start is not positive, lies in the future
//! (`rsin > now / 600`) or lies before the retention window (`rsin < (today 00:00 UTC − retention_days) /
//! 600`); the upload still succeeds. The other keys must pass every rule, and get a missing transmission
//! risk level or days since onset derived from the other ([`crate::derivation`]).
//!
//! Decisions where the original is loose:
//! - The report type is the server's: every key is stored as `CONFIRMED_TEST`, whatever the phone sent, as
//!   the original does; a phone cannot mark its keys revoked or self-reported through this endpoint.
//! - A payload that names a visited country twice is accepted and stored with the country once.
//! - A missing rolling start is the protocol's default, 0, and so dropped like an explicit 0.
//! - The original applies its range rules to keys it drops afterwards; here a dropped key is not checked.

use warnkit_keystore::StoredKey;
use warnkit_protocol::interval::TEK_ROLLING_PERIOD;
use warnkit_protocol::limits::ROLLING_PERIODS;
use warnkit_protocol::limits::{KEY_LENGTH, MAX_DSOS, MAX_TRL, MIN_DSOS, MIN_TRL};
use warnkit_protocol::proto::{
    ReportType, SubmissionPayload, SubmissionType, TemporaryExposureKey,
};
use warnkit_service::AppError;

use crate::config::SubmissionConfig;
use crate::derivation::{dsos_from_trl, trl_from_dsos};

/// Why a payload is refused; each answers 400 with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadError {
    /// No keys, or more than the configured maximum.
    KeyCount,
    /// A key's data is missing or not exactly 16 bytes.
    KeyDataLength,
    /// A key's rolling start is not a multiple of 144 (midnight UTC).
    RollingStartNotMidnight,
    /// A key's rolling period is outside 1..=144.
    RollingPeriod,
    /// A key has neither a transmission risk level nor days since onset of symptoms.
    RiskFieldsMissing,
    /// A transmission risk level outside 1..=8.
    TransmissionRiskLevel,
    /// Days since onset of symptoms outside −15..=4000.
    DaysSinceOnset,
    /// Two keys with the same key data.
    DuplicateKey,
    /// An origin that is neither empty nor this server's country.
    Origin,
    /// A visited country outside the supported list.
    VisitedCountry,
    /// More request padding than allowed.
    Padding,
    /// A submission type other than PCR or rapid test.
    SubmissionType,
}

impl PayloadError {
    /// The stable error code on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Self::KeyCount => "invalid_key_count",
            Self::KeyDataLength => "invalid_key_data",
            Self::RollingStartNotMidnight => "invalid_rolling_start",
            Self::RollingPeriod => "invalid_rolling_period",
            Self::RiskFieldsMissing => "missing_risk_fields",
            Self::TransmissionRiskLevel => "invalid_transmission_risk_level",
            Self::DaysSinceOnset => "invalid_days_since_onset",
            Self::DuplicateKey => "duplicate_key",
            Self::Origin => "invalid_origin",
            Self::VisitedCountry => "unsupported_visited_country",
            Self::Padding => "padding_too_large",
            Self::SubmissionType => "invalid_submission_type",
        }
    }

    /// One short sentence; never echoes payload values.
    pub fn message(self) -> &'static str {
        match self {
            Self::KeyCount => "the number of keys is outside the allowed range",
            Self::KeyDataLength => "key data must be exactly 16 bytes",
            Self::RollingStartNotMidnight => {
                "rolling start interval numbers must be multiples of 144 (midnight UTC)"
            }
            Self::RollingPeriod => "rolling period must be between 1 and 144",
            Self::RiskFieldsMissing => {
                "each key needs a transmission risk level or days since onset of symptoms"
            }
            Self::TransmissionRiskLevel => "transmission risk level must be between 1 and 8",
            Self::DaysSinceOnset => "days since onset of symptoms must be between -15 and 4000",
            Self::DuplicateKey => "the same key data appears twice",
            Self::Origin => "origin must be empty or this server's country",
            Self::VisitedCountry => "a visited country is not supported",
            Self::Padding => "request padding is too large",
            Self::SubmissionType => "unsupported submission type",
        }
    }
}

impl From<PayloadError> for AppError {
    fn from(err: PayloadError) -> Self {
        AppError::bad_request(err.code(), err.message())
    }
}

/// Checks `payload` against every rule and returns the keys to store, stamped with `submission_hour`;
/// keys dropped silently are simply not in the result. `now` (Unix seconds) bounds rolling starts from
/// above, and with `config.retention_days` from below.
pub fn validate(
    payload: &SubmissionPayload,
    config: &SubmissionConfig,
    now: i64,
    submission_hour: i64,
) -> Result<Vec<StoredKey>, PayloadError> {
    let keys = &payload.keys;
    // Rust's `%` keeps the sign, as Java's does: −143 is refused here, −144 is dropped below.
    if keys
        .iter()
        .any(|k| k.rolling_start_interval_number.unwrap_or(0) % TEK_ROLLING_PERIOD as i32 != 0)
    {
        return Err(PayloadError::RollingStartNotMidnight);
    }
    if keys.is_empty() || keys.len() > config.max_keys {
        return Err(PayloadError::KeyCount);
    }
    if payload.request_padding.as_ref().map_or(0, Vec::len) > config.max_request_padding_bytes {
        return Err(PayloadError::Padding);
    }
    let origin = payload.origin.as_deref().unwrap_or_default();
    if !origin.is_empty() && origin != config.origin {
        return Err(PayloadError::Origin);
    }
    let mut visited: Vec<String> = Vec::with_capacity(payload.visited_countries.len());
    for country in &payload.visited_countries {
        if !config.supported_countries.contains(country) {
            return Err(PayloadError::VisitedCountry);
        }
        if !visited.contains(country) {
            visited.push(country.clone());
        }
    }
    match payload.submission_type.map(SubmissionType::try_from) {
        None | Some(Ok(SubmissionType::PcrTest | SubmissionType::RapidTest)) => {}
        Some(Err(_)) => return Err(PayloadError::SubmissionType),
    }
    let window = KeepWindow::new(now, config.retention_days);
    let consent = payload.consent_to_federation.unwrap_or(false);

    let mut out: Vec<StoredKey> = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(rolling_start) = window.keeps(key.rolling_start_interval_number.unwrap_or(0))
        else {
            continue;
        };
        let stored = validate_key(key, rolling_start)?;
        if out.iter().any(|k| k.key_data == stored.key_data) {
            return Err(PayloadError::DuplicateKey);
        }
        out.push(StoredKey {
            submission_hour,
            origin: config.origin.clone(),
            visited_countries: visited.clone(),
            consent_to_federation: consent,
            ..stored
        });
    }
    Ok(out)
}

/// The rolling starts a key may have to be kept: positive, not in the future, inside the retention window.
#[derive(Debug, Clone, Copy)]
struct KeepWindow {
    oldest: i64,
    newest: i64,
}

impl KeepWindow {
    fn new(now: i64, retention_days: u32) -> Self {
        let today = now.div_euclid(86_400) * 86_400;
        let oldest = (today - i64::from(retention_days) * 86_400).div_euclid(600);
        Self {
            oldest: oldest.max(1),
            newest: now.div_euclid(600),
        }
    }

    /// The rolling start as stored, or `None` when the key is dropped.
    fn keeps(self, rolling_start: i32) -> Option<u32> {
        let r = i64::from(rolling_start);
        (self.oldest..=self.newest)
            .contains(&r)
            .then(|| rolling_start.unsigned_abs())
    }
}

/// The per-key rules and derivations; the returned key lacks the payload-wide fields.
fn validate_key(key: &TemporaryExposureKey, rolling_start: u32) -> Result<StoredKey, PayloadError> {
    let key_data: [u8; KEY_LENGTH] = key
        .key_data
        .as_deref()
        .and_then(|d| d.try_into().ok())
        .ok_or(PayloadError::KeyDataLength)?;
    // Absent means the protocol's default of one full day.
    let rolling_period = key.rolling_period.unwrap_or(TEK_ROLLING_PERIOD as i32);
    let rolling_period = u32::try_from(rolling_period)
        .ok()
        .filter(|p| ROLLING_PERIODS.contains(p))
        .ok_or(PayloadError::RollingPeriod)?;
    let trl = match key.transmission_risk_level {
        None => None,
        Some(t) if (MIN_TRL..=MAX_TRL).contains(&t) => Some(t as u8), // 1..=8 fits a byte
        Some(_) => return Err(PayloadError::TransmissionRiskLevel),
    };
    let dsos = key.days_since_onset_of_symptoms;
    if dsos.is_some_and(|d| !(MIN_DSOS..=MAX_DSOS).contains(&d)) {
        return Err(PayloadError::DaysSinceOnset);
    }
    let (trl, dsos) = match (trl, dsos) {
        (Some(t), Some(d)) => (t, d),
        (Some(t), None) => (
            t,
            dsos_from_trl(t).ok_or(PayloadError::TransmissionRiskLevel)?,
        ),
        (None, Some(d)) => (trl_from_dsos(d), d),
        (None, None) => return Err(PayloadError::RiskFieldsMissing),
    };
    Ok(StoredKey {
        key_data,
        rolling_start,
        rolling_period,
        transmission_risk_level: trl,
        report_type: ReportType::ConfirmedTest as i32,
        days_since_onset_of_symptoms: Some(dsos),
        submission_hour: 0,
        origin: String::new(),
        visited_countries: Vec::new(),
        consent_to_federation: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn every_derived_value_passes_validation() {
        use crate::derivation::{DSOS_FROM_TRL, TRL_FROM_DSOS};
        let valid = |d: &i32| (MIN_DSOS..=MAX_DSOS).contains(d);
        assert!(TRL_FROM_DSOS.iter().all(|(d, _)| valid(d)));
        assert!(DSOS_FROM_TRL.iter().all(valid));
    }

    fn today() -> i32 {
        (NOW / 600 / 144 * 144) as i32
    }

    fn key(day: i32) -> TemporaryExposureKey {
        TemporaryExposureKey {
            key_data: Some(vec![day as u8; 16]),
            transmission_risk_level: Some(5),
            rolling_start_interval_number: Some(today() - 144 * day),
            rolling_period: Some(144),
            report_type: Some(ReportType::SelfReport as i32),
            days_since_onset_of_symptoms: None,
        }
    }

    fn payload(n: i32) -> SubmissionPayload {
        SubmissionPayload {
            keys: (0..n).map(key).collect(),
            request_padding: None,
            visited_countries: vec!["FR".into(), "FR".into()],
            origin: None,
            consent_to_federation: Some(true),
            submission_type: None,
        }
    }

    fn check(p: &SubmissionPayload) -> Result<Vec<StoredKey>, PayloadError> {
        validate(p, &SubmissionConfig::default(), NOW, 472_222)
    }

    #[test]
    fn valid_payload_becomes_rows() {
        let rows = check(&payload(14)).unwrap();
        assert_eq!(rows.len(), 14);
        let r = &rows[0];
        assert_eq!(r.origin, "DE");
        assert_eq!(r.visited_countries, vec!["FR"]);
        assert_eq!(r.report_type, ReportType::ConfirmedTest as i32);
        assert_eq!(r.transmission_risk_level, 5);
        assert_eq!(r.submission_hour, 472_222);
        assert!(r.consent_to_federation);
    }

    #[test]
    fn a_missing_risk_field_is_derived_from_the_other() {
        let mut p = payload(4);
        p.keys[0].transmission_risk_level = None;
        p.keys[0].days_since_onset_of_symptoms = Some(-3);
        p.keys[1].transmission_risk_level = None;
        p.keys[1].days_since_onset_of_symptoms = Some(20);
        p.keys[2].rolling_period = None;
        p.keys[3].days_since_onset_of_symptoms = Some(11);
        let rows = check(&p).unwrap();
        let risk = |i: usize| {
            (
                rows[i].transmission_risk_level,
                rows[i].days_since_onset_of_symptoms,
            )
        };
        assert_eq!(risk(0), (6, Some(-3)));
        assert_eq!(
            risk(1),
            (1, Some(20)),
            "outside the table: the default level"
        );
        assert_eq!(risk(2), (5, Some(4000)));
        assert_eq!(risk(3), (5, Some(11)), "both present: kept as sent");
        assert_eq!(rows[2].rolling_period, 144);
    }

    #[test]
    fn keys_outside_the_window_are_dropped_not_refused() {
        let newest = (NOW / 600) as i32;
        let oldest = today() - 14 * 144;
        let mut p = payload(8);
        p.keys[1].rolling_start_interval_number = Some(today() + 144); // tomorrow
        p.keys[2].rolling_start_interval_number = Some(0);
        p.keys[3].rolling_start_interval_number = None; // the default, 0
        p.keys[4].rolling_start_interval_number = Some(-144);
        p.keys[5].rolling_start_interval_number = Some(oldest - 144); // 15 days old
        p.keys[6].rolling_start_interval_number = Some(oldest); // 14 days old: kept
        p.keys[7].rolling_start_interval_number = Some(newest / 144 * 144); // today: kept
                                                                            // A dropped key is not checked further: bad key data and risk fields do not matter.
        p.keys[1].key_data = Some(vec![1; 3]);
        p.keys[5].transmission_risk_level = None;
        p.keys[5].days_since_onset_of_symptoms = None;
        p.keys[2].key_data = p.keys[0].key_data.clone();
        let rows = check(&p).unwrap();
        let starts: Vec<u32> = rows.iter().map(|r| r.rolling_start).collect();
        assert_eq!(
            starts,
            [today() as u32, oldest as u32, (newest / 144 * 144) as u32]
        );
        // All dropped is a valid, empty upload.
        let mut p = payload(2);
        p.keys[0].rolling_start_interval_number = Some(today() + 288);
        p.keys[1].rolling_start_interval_number = Some(oldest - 288);
        assert_eq!(check(&p).unwrap(), vec![]);
        // The window follows the retention setting.
        let mut p = payload(1);
        p.keys[0].rolling_start_interval_number = Some(today() - 7 * 144);
        let short = SubmissionConfig {
            retention_days: 6,
            ..SubmissionConfig::default()
        };
        assert_eq!(validate(&p, &short, NOW, 0).unwrap(), vec![]);
    }

    #[test]
    fn keys_of_the_same_day_are_accepted() {
        let mut p = payload(3);
        p.keys[1].rolling_start_interval_number = p.keys[0].rolling_start_interval_number;
        p.keys[0].rolling_period = Some(100);
        p.keys[2].rolling_start_interval_number = p.keys[0].rolling_start_interval_number;
        assert_eq!(check(&p).unwrap().len(), 3);
    }

    #[test]
    fn each_rule_has_its_error() {
        type Mutation = fn(&mut SubmissionPayload);
        let cases: Vec<(PayloadError, Mutation)> = vec![
            (PayloadError::KeyCount, |p| p.keys.clear()),
            (PayloadError::KeyCount, |p| {
                p.keys.extend([key(14), key(15)])
            }),
            (PayloadError::Origin, |p| p.origin = Some("FR".into())),
            (PayloadError::VisitedCountry, |p| {
                p.visited_countries.push("US".into())
            }),
            (PayloadError::Padding, |p| {
                p.request_padding = Some(vec![0; 10_001])
            }),
            (PayloadError::SubmissionType, |p| {
                p.submission_type = Some(2)
            }),
            (PayloadError::KeyDataLength, |p| {
                p.keys[3].key_data = Some(vec![1; 15])
            }),
            (PayloadError::KeyDataLength, |p| p.keys[3].key_data = None),
            (PayloadError::RollingStartNotMidnight, |p| {
                p.keys[1].rolling_start_interval_number = Some(today() - 143)
            }),
            (PayloadError::RollingStartNotMidnight, |p| {
                p.keys[1].rolling_start_interval_number = Some(-143)
            }),
            // Checked before anything is dropped: a future key must be at midnight too.
            (PayloadError::RollingStartNotMidnight, |p| {
                p.keys[1].rolling_start_interval_number = Some(today() + 145)
            }),
            (PayloadError::RollingPeriod, |p| {
                p.keys[0].rolling_period = Some(0)
            }),
            (PayloadError::RollingPeriod, |p| {
                p.keys[0].rolling_period = Some(145)
            }),
            (PayloadError::RiskFieldsMissing, |p| {
                p.keys[2].transmission_risk_level = None
            }),
            (PayloadError::TransmissionRiskLevel, |p| {
                p.keys[2].transmission_risk_level = Some(9)
            }),
            (PayloadError::TransmissionRiskLevel, |p| {
                p.keys[2].transmission_risk_level = Some(0)
            }),
            (PayloadError::DaysSinceOnset, |p| {
                p.keys[2].days_since_onset_of_symptoms = Some(-16)
            }),
            (PayloadError::DaysSinceOnset, |p| {
                p.keys[2].days_since_onset_of_symptoms = Some(4001)
            }),
            (PayloadError::DuplicateKey, |p| {
                p.keys[5].key_data = Some(vec![0; 16])
            }),
        ];
        for (expected, mutate) in cases {
            let mut p = payload(14);
            p.keys.truncate(13);
            mutate(&mut p);
            assert_eq!(check(&p).unwrap_err(), expected);
        }
    }

    #[test]
    fn boundaries_are_accepted() {
        let mut p = payload(3);
        p.origin = Some("DE".into());
        p.keys[0].transmission_risk_level = Some(1);
        p.keys[0].days_since_onset_of_symptoms = Some(-15);
        p.keys[1].transmission_risk_level = Some(8);
        p.keys[1].days_since_onset_of_symptoms = Some(4000);
        p.keys[2].rolling_period = Some(1);
        p.request_padding = Some(vec![0; 10_000]);
        p.submission_type = Some(SubmissionType::RapidTest as i32);
        assert!(check(&p).is_ok());
        p.origin = Some(String::new());
        assert!(check(&p).is_ok());
    }
}
