//! Exposure detection: new diagnosis keys are matched against the scan log with the protocol's
//! matching engine, the sightings kept per key and day, and scored with risk v2 (the default, as the
//! current original app: exposure windows whose report type and infectiousness come from the key
//! through the configuration's data mapping) or v1 into the user-facing risk level.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use warnkit_protocol::crypto::Tek;
use warnkit_protocol::interval::TEK_ROLLING_PERIOD;
use warnkit_protocol::matching::{DiagnosisKey, MatchOptions, ObservationIndex};
use warnkit_protocol::proto::TemporaryExposureKey;
use warnkit_protocol::risk::v1::{self, Exposure, V1Parameters, V1RiskLevel};
use warnkit_protocol::risk::v2::{
    self, AggregationOptions, DataMapping, ExposureWindow, Infectiousness, ReportType,
    RiskCalculationParameters, RiskLevel as V2Level, ScanInstance,
};

use crate::en::day_of;

/// Minutes one sighting stands for: the framework scans about every five minutes.
pub const SCAN_MINUTES: u32 = 5;

/// Which risk calculation the phone runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskModel {
    /// Exposure summary and combined risk score (app 1.x, seed 001).
    V1,
    /// Exposure windows (the original app from 1.9 on).
    #[default]
    V2,
}

/// The user-facing risk level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No relevant exposure.
    Low,
    /// An exposure that warrants a warning.
    Increased,
}

/// What the phone shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskStatus {
    /// Low or increased risk.
    pub level: Level,
    /// Days since the most recent exposure, when there is one.
    pub days_since_last_exposure: Option<u32>,
    /// Diagnosis keys with at least one sighting.
    pub matched_keys: usize,
    /// The v1 combined risk score, or the v2 highest daily normalized time.
    pub score: f64,
}

/// The sightings of one matched diagnosis key on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedKey {
    /// UTC day number of the sightings.
    pub day: u32,
    /// The key's transmission risk level.
    pub transmission_risk_level: u8,
    /// The key's report type number as published (0 when absent).
    #[serde(default)]
    pub report_type: i32,
    /// The key's days since onset of symptoms as published.
    #[serde(default)]
    pub days_since_onset: Option<i32>,
    /// Attenuation (dB) of each sighting.
    pub attenuations: Vec<u8>,
}

/// Everything exposure detection has found so far, by key (hex) and day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposures {
    /// Matches by `"<key hex>/<day>"`.
    pub matches: BTreeMap<String, MatchedKey>,
}

/// A problem with the scoring configuration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RiskError {
    /// The v1 computation refused the parameters or data.
    V1(v1::V1Error),
    /// The v2 computation refused the parameters or data.
    V2(v2::V2Error),
}

impl std::fmt::Display for RiskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V1(e) => write!(f, "risk v1: {e}"),
            Self::V2(e) => write!(f, "risk v2: {e}"),
        }
    }
}

impl std::error::Error for RiskError {}

impl Exposures {
    /// Matches `keys` against `index` and keeps every sighting; returns how many keys matched.
    pub fn detect(&mut self, index: &ObservationIndex, keys: &[TemporaryExposureKey]) -> usize {
        let dks: Vec<(DiagnosisKey, u8, i32, Option<i32>)> = keys
            .iter()
            .filter_map(|k| {
                let data: [u8; 16] = k.key_data.as_deref()?.try_into().ok()?;
                let start = u32::try_from(k.rolling_start_interval_number?).ok()?;
                let trl = u8::try_from(k.transmission_risk_level()).unwrap_or(0);
                Some((
                    DiagnosisKey {
                        tek: Tek(data),
                        rolling_start: start,
                        rolling_period: u32::try_from(k.rolling_period())
                            .unwrap_or(TEK_ROLLING_PERIOD),
                    },
                    trl,
                    k.report_type.unwrap_or(0),
                    k.days_since_onset_of_symptoms,
                ))
            })
            .collect();
        let plain: Vec<DiagnosisKey> = dks.iter().map(|(k, ..)| *k).collect();
        // Phones are simulated in parallel already; threads per phone would only contend.
        let options = MatchOptions {
            parallel: false,
            ..MatchOptions::default()
        };
        let mut matched = std::collections::BTreeSet::new();
        for m in index.match_keys(&plain, &options) {
            let (key, trl, report_type, days_since_onset) = &dks[m.key_index];
            let day = m.rpi_interval / TEK_ROLLING_PERIOD;
            matched.insert(m.key_index);
            self.matches
                .entry(format!("{}/{day}", hex::encode(key.tek.0)))
                .or_insert_with(|| MatchedKey {
                    day,
                    transmission_risk_level: *trl,
                    report_type: *report_type,
                    days_since_onset: *days_since_onset,
                    attenuations: Vec::new(),
                })
                .attenuations
                .push(m.attenuation);
        }
        matched.len()
    }

    /// Drops matches older than 14 days.
    pub fn prune(&mut self, now: i64) {
        let oldest = day_of(now).saturating_sub(14);
        self.matches.retain(|_, m| m.day >= oldest);
    }

    /// The risk status at `now` with `model`; v2 reads keys with `mapping`, as the framework does.
    pub fn assess(
        &self,
        now: i64,
        model: RiskModel,
        v1_params: &V1Parameters,
        v2_params: &RiskCalculationParameters,
        mapping: &DataMapping,
    ) -> Result<RiskStatus, RiskError> {
        let today = day_of(now);
        let recent: Vec<&MatchedKey> = self
            .matches
            .values()
            .filter(|m| today.saturating_sub(m.day) < 14)
            .collect();
        match model {
            RiskModel::V1 => assess_v1(&recent, today, v1_params),
            RiskModel::V2 => assess_v2(&recent, today, v2_params, mapping),
        }
    }
}

fn assess_v1(
    matches: &[&MatchedKey],
    today: u32,
    params: &V1Parameters,
) -> Result<RiskStatus, RiskError> {
    let thresholds = &params.attenuation_duration.thresholds;
    let exposures: Vec<Exposure> = matches
        .iter()
        .map(|m| {
            let mut buckets = [0u32; 3];
            for &a in &m.attenuations {
                buckets[thresholds.bucket(a)] += SCAN_MINUTES;
            }
            let n = m.attenuations.len().max(1) as u32;
            let mean = m.attenuations.iter().map(|&a| u32::from(a)).sum::<u32>() / n;
            Exposure {
                attenuation_db: u8::try_from(mean).unwrap_or(u8::MAX),
                duration_minutes: n * SCAN_MINUTES,
                days_since_exposure: today.saturating_sub(m.day),
                transmission_risk_level: m.transmission_risk_level.min(8),
                attenuation_durations_minutes: Some(buckets),
            }
        })
        .collect();
    let assessment = v1::assess(params, &exposures).map_err(RiskError::V1)?;
    let level = match assessment.risk_level {
        V1RiskLevel::Increased => Level::Increased,
        V1RiskLevel::Low => Level::Low,
    };
    Ok(RiskStatus {
        level,
        days_since_last_exposure: (!exposures.is_empty())
            .then_some(assessment.summary.days_since_last_exposure),
        matched_keys: matches.len(),
        score: assessment.combined_risk_score,
    })
}

fn assess_v2(
    matches: &[&MatchedKey],
    today: u32,
    params: &RiskCalculationParameters,
    mapping: &DataMapping,
) -> Result<RiskStatus, RiskError> {
    // As the framework: report type and infectiousness come from the published key through the
    // data mapping, and keys with no infectiousness or no usable report type make no window.
    let windows: Vec<ExposureWindow> = matches
        .iter()
        .filter_map(|m| {
            let infectiousness = mapping
                .infectiousness(m.days_since_onset)
                .filter(|i| *i != Infectiousness::None)?;
            let report_type = mapping
                .report_type(Some(m.report_type))
                .filter(|r| !matches!(r, ReportType::Unknown | ReportType::Revoked))?;
            Some(ExposureWindow {
                day: m.day,
                report_type,
                infectiousness,
                calibration_confidence: 0,
                scan_instances: m
                    .attenuations
                    .iter()
                    .map(|&a| ScanInstance {
                        min_attenuation_db: i32::from(a),
                        typical_attenuation_db: i32::from(a),
                        seconds_since_last_scan: (SCAN_MINUTES * 60) as i32,
                    })
                    .collect(),
            })
        })
        .collect();
    let options = AggregationOptions {
        today: Some(today),
        ..AggregationOptions::default()
    };
    let risk = v2::aggregate(params, &windows, options).map_err(RiskError::V2)?;
    let (level, last) = match risk.total_risk_level {
        V2Level::High => (Level::Increased, risk.most_recent_date_with_high_risk),
        _ => (Level::Low, risk.most_recent_date_with_low_risk),
    };
    Ok(RiskStatus {
        level,
        days_since_last_exposure: last.map(|d| today.saturating_sub(d)),
        matched_keys: matches.len(),
        score: risk
            .days
            .iter()
            .map(|d| d.normalized_time)
            .fold(0.0, f64::max),
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::en::Framework;

    #[test]
    fn close_long_contact_warns_and_stranger_does_not() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let day = 20_400u32;
        let t0 = i64::from(day) * 86_400 + 10 * 3600;
        let mut sick = Framework::new(-10);
        let mut me = Framework::new(-10);
        // 40 minutes at 45 dB: well inside the close bucket.
        for i in 0..8 {
            let t = t0 + i * 300;
            let (rpi, aem) = sick.advertise(t, &mut rng).unwrap();
            me.record(t, rpi, aem, -10 - 45);
        }
        sick.consent = true;
        // Published as the distribution does: the level also in report type and days since onset.
        let encoding = v2::KeyEncoding::default();
        let keys: Vec<TemporaryExposureKey> = sick
            .diagnosis_keys(t0 + 2 * 86_400)
            .unwrap()
            .into_iter()
            .map(|mut k| {
                let (report_type, days) = encoding
                    .encode(k.transmission_risk_level() as u8)
                    .expect("levels 1..=8");
                k.report_type = Some(report_type);
                k.days_since_onset_of_symptoms = Some(days);
                k
            })
            .collect();
        let mut exposures = Exposures::default();
        let index = ObservationIndex::new(me.scan_log());
        assert_eq!(exposures.detect(&index, &keys), 1);
        let now = t0 + 2 * 86_400;
        for model in [RiskModel::V1, RiskModel::V2] {
            let status = exposures
                .assess(
                    now,
                    model,
                    &V1Parameters::default(),
                    &RiskCalculationParameters::cwa_default(),
                    &DataMapping::default(),
                )
                .unwrap();
            assert_eq!(status.level, Level::Increased, "{model:?}");
            assert_eq!(status.days_since_last_exposure, Some(2));
        }
        let empty = Exposures::default()
            .assess(
                now,
                RiskModel::V1,
                &V1Parameters::default(),
                &RiskCalculationParameters::cwa_default(),
                &DataMapping::default(),
            )
            .unwrap();
        assert_eq!(empty.level, Level::Low);
        assert_eq!(empty.days_since_last_exposure, None);
    }
}
