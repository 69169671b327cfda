//! Payload validation, rule by rule as the original lists them; a valid payload becomes the rows to store.
//!
//! Decisions where the original is loose:
//! - A key keeps the transmission risk level and days since onset it came with. When one is missing, nothing
//!   is derived here (the original's derivation table is configuration of the distribution side); a missing
//!   level is stored as 0, a missing onset as `None`.
//! - The report type is the server's: every key is stored as `CONFIRMED_TEST`, whatever the phone sent, as
//!   the original does; a phone cannot mark its keys revoked or self-reported through this endpoint.
//! - A payload that names a visited country twice is accepted and stored with the country once.

use warnkit_protocol::interval::TEK_ROLLING_PERIOD;
use warnkit_protocol::proto::{
    ReportType, SubmissionPayload, SubmissionType, TemporaryExposureKey,
};
use warnkit_service::AppError;

use crate::config::SubmissionConfig;
use crate::keystore::StoredKey;

/// Lowest accepted transmission risk level.
pub const MIN_TRL: i32 = 1;
/// Highest accepted transmission risk level.
pub const MAX_TRL: i32 = 8;
/// Lowest accepted days since onset of symptoms.
pub const MIN_DSOS: i32 = -14;
/// Highest accepted days since onset of symptoms.
pub const MAX_DSOS: i32 = 4000;
/// Bytes of a key.
pub const KEY_LENGTH: usize = 16;

/// Why a payload is refused; each answers 400 with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadError {
    /// No keys, or more than the configured maximum.
    KeyCount,
    /// A key's data is missing or not exactly 16 bytes.
    KeyDataLength,
    /// A key has no rolling start, a negative one, or one not at midnight UTC.
    RollingStartNotMidnight,
    /// A key's rolling start lies after the current UTC day's start.
    RollingStartInFuture,
    /// A key's rolling period is outside 1..=144.
    RollingPeriod,
    /// A key has neither a transmission risk level nor days since onset of symptoms.
    RiskFieldsMissing,
    /// A transmission risk level outside 1..=8.
    TransmissionRiskLevel,
    /// Days since onset of symptoms outside −14..=4000.
    DaysSinceOnset,
    /// Two keys with the same key data.
    DuplicateKey,
    /// Two keys with the same rolling start.
    DuplicateRollingStart,
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
            Self::RollingStartInFuture => "rolling_start_in_future",
            Self::RollingPeriod => "invalid_rolling_period",
            Self::RiskFieldsMissing => "missing_risk_fields",
            Self::TransmissionRiskLevel => "invalid_transmission_risk_level",
            Self::DaysSinceOnset => "invalid_days_since_onset",
            Self::DuplicateKey => "duplicate_key",
            Self::DuplicateRollingStart => "duplicate_rolling_start",
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
                "rolling start interval numbers must be at midnight UTC"
            }
            Self::RollingStartInFuture => "a rolling start interval number lies in the future",
            Self::RollingPeriod => "rolling period must be between 1 and 144",
            Self::RiskFieldsMissing => {
                "each key needs a transmission risk level or days since onset of symptoms"
            }
            Self::TransmissionRiskLevel => "transmission risk level must be between 1 and 8",
            Self::DaysSinceOnset => "days since onset of symptoms must be between -14 and 4000",
            Self::DuplicateKey => "the same key data appears twice",
            Self::DuplicateRollingStart => "two keys have the same rolling start",
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

/// Checks `payload` against every rule and returns the keys to store, stamped with `submission_hour`.
/// `now` (Unix seconds) bounds rolling starts from above.
pub fn validate(
    payload: &SubmissionPayload,
    config: &SubmissionConfig,
    now: i64,
    submission_hour: i64,
) -> Result<Vec<StoredKey>, PayloadError> {
    let keys = &payload.keys;
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
    // The current UTC day's first interval: a key can start no later.
    let today = u32::try_from(now.max(0) / 600).unwrap_or(u32::MAX) / TEK_ROLLING_PERIOD
        * TEK_ROLLING_PERIOD;
    let consent = payload.consent_to_federation.unwrap_or(false);

    let mut out: Vec<StoredKey> = Vec::with_capacity(keys.len());
    for key in keys {
        let stored = validate_key(key, today)?;
        if out.iter().any(|k| k.key_data == stored.key_data) {
            return Err(PayloadError::DuplicateKey);
        }
        if out.iter().any(|k| k.rolling_start == stored.rolling_start) {
            return Err(PayloadError::DuplicateRollingStart);
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

/// The per-key rules; the returned key lacks the payload-wide fields.
fn validate_key(key: &TemporaryExposureKey, today: u32) -> Result<StoredKey, PayloadError> {
    let key_data: [u8; KEY_LENGTH] = key
        .key_data
        .as_deref()
        .and_then(|d| d.try_into().ok())
        .ok_or(PayloadError::KeyDataLength)?;
    let rolling_start = key
        .rolling_start_interval_number
        .and_then(|r| u32::try_from(r).ok())
        .filter(|r| r % TEK_ROLLING_PERIOD == 0)
        .ok_or(PayloadError::RollingStartNotMidnight)?;
    if rolling_start > today {
        return Err(PayloadError::RollingStartInFuture);
    }
    // Absent means the protocol's default of one full day.
    let rolling_period = key.rolling_period.unwrap_or(TEK_ROLLING_PERIOD as i32);
    let rolling_period = u32::try_from(rolling_period)
        .ok()
        .filter(|p| (1..=TEK_ROLLING_PERIOD).contains(p))
        .ok_or(PayloadError::RollingPeriod)?;
    let trl = key.transmission_risk_level;
    let dsos = key.days_since_onset_of_symptoms;
    if trl.is_none() && dsos.is_none() {
        return Err(PayloadError::RiskFieldsMissing);
    }
    let trl = match trl {
        None => 0,
        Some(t) if (MIN_TRL..=MAX_TRL).contains(&t) => t as u8, // 1..=8 fits a byte
        Some(_) => return Err(PayloadError::TransmissionRiskLevel),
    };
    if dsos.is_some_and(|d| !(MIN_DSOS..=MAX_DSOS).contains(&d)) {
        return Err(PayloadError::DaysSinceOnset);
    }
    Ok(StoredKey {
        key_data,
        rolling_start,
        rolling_period,
        transmission_risk_level: trl,
        report_type: ReportType::ConfirmedTest as i32,
        days_since_onset_of_symptoms: dsos,
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
    fn single_risk_field_is_kept_as_is() {
        let mut p = payload(2);
        p.keys[0].transmission_risk_level = None;
        p.keys[0].days_since_onset_of_symptoms = Some(-3);
        p.keys[1].rolling_period = None;
        let rows = check(&p).unwrap();
        assert_eq!(rows[0].transmission_risk_level, 0);
        assert_eq!(rows[0].days_since_onset_of_symptoms, Some(-3));
        assert_eq!(rows[1].rolling_period, 144);
        assert_eq!(rows[1].days_since_onset_of_symptoms, None);
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
                p.keys[1].rolling_start_interval_number = Some(-144)
            }),
            (PayloadError::RollingStartInFuture, |p| {
                p.keys[1].rolling_start_interval_number = Some(today() + 144)
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
                p.keys[2].days_since_onset_of_symptoms = Some(-15)
            }),
            (PayloadError::DaysSinceOnset, |p| {
                p.keys[2].days_since_onset_of_symptoms = Some(4001)
            }),
            (PayloadError::DuplicateKey, |p| {
                p.keys[5].key_data = Some(vec![0; 16])
            }),
            (PayloadError::DuplicateRollingStart, |p| {
                p.keys[5].rolling_start_interval_number = Some(today())
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
        p.keys[0].days_since_onset_of_symptoms = Some(-14);
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
