//! From simulated sightings to `warnkit_protocol::risk`: what the phone's framework reports (v1 exposures,
//! v2 exposure windows) and what risk scoring v1 and v2 make of it.

use std::path::Path;

use anyhow::Context;
use warnkit_protocol::risk::{v1, v2};
use warnkit_sim::exposure::{self, scans};
use warnkit_sim::Sighting;

/// The UTC day number all simulated encounters fall on; only relative days matter to the scoring.
const DAY: u32 = 20_000;

/// The risk parameters a simulation scores with.
#[derive(Debug, Clone)]
pub struct RiskModel {
    /// v1 parameters (exposure configuration, attenuation-duration weights, risk classes).
    pub v1: v1::V1Parameters,
    /// v2 risk calculation parameters.
    pub v2: v2::RiskCalculationParameters,
    /// Transmission risk level (1..=8) of the infected person's keys.
    pub transmission_risk_level: u8,
}

/// The scoring outcome for one person (one or several encounters with infected people).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RiskOutcome {
    /// v1 combined risk score.
    pub v1_score: f64,
    /// Whether v1 warns (combined score in the HIGH class).
    pub v1_increased: bool,
    /// v2 sum of normalized times of the windows that were not dropped.
    pub v2_normalized_time: f64,
    /// Whether v2 warns (total risk level HIGH).
    pub v2_high: bool,
}

impl RiskModel {
    /// The original's final shipped v1 values and the bundled v2 default, keys of level `trl`.
    pub fn cwa_default(trl: u8) -> Self {
        Self {
            v1: v1::V1Parameters::final_shipped(),
            v2: v2::RiskCalculationParameters::cwa_default(),
            transmission_risk_level: trl,
        }
    }

    /// The v1 attenuation thresholds (dB) that split exposure time into three buckets.
    pub fn thresholds(&self) -> [u8; 2] {
        let t = &self.v1.attenuation_duration.thresholds;
        [t.lower, t.upper]
    }

    /// Scores the sightings of all keys one person was exposed to (each slice is one key).
    pub fn assess<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a [Sighting]>,
    ) -> anyhow::Result<RiskOutcome> {
        let mut v1_exposures = Vec::new();
        let mut v2_windows = Vec::new();
        for sightings in keys {
            let merged = scans(sightings);
            v1_exposures.extend(self.v1_exposures(&merged));
            v2_windows.extend(self.v2_windows(&merged));
        }
        let v1 = v1::assess(&self.v1, &v1_exposures).context("v1 risk scoring")?;
        let mut v2_normalized_time = 0.0;
        for w in &v2_windows {
            if let Some(r) = v2::window_risk(&self.v2, w).context("v2 window risk")? {
                v2_normalized_time += r.normalized_time;
            }
        }
        let aggregated = v2::aggregate(&self.v2, &v2_windows, v2::AggregationOptions::default())
            .context("v2 risk aggregation")?;
        Ok(RiskOutcome {
            v1_score: v1.combined_risk_score,
            v1_increased: v1.risk_level == v1::V1RiskLevel::Increased,
            v2_normalized_time,
            v2_high: aggregated.total_risk_level == v2::RiskLevel::High,
        })
    }

    fn v1_exposures(&self, merged: &[exposure::Scan]) -> Vec<v1::Exposure> {
        exposure::v1_exposures(merged, self.thresholds())
            .into_iter()
            .map(|e| v1::Exposure {
                attenuation_db: e.attenuation_db,
                duration_minutes: e.duration_s / 60,
                days_since_exposure: 0,
                transmission_risk_level: self.transmission_risk_level,
                attenuation_durations_minutes: Some(
                    e.attenuation_durations_s.map(|s| (s + 30) / 60),
                ),
            })
            .collect()
    }

    /// The v2 exposure windows of one key's merged scans, on one day, with this model's
    /// transmission risk level encoded.
    pub fn v2_windows(&self, merged: &[exposure::Scan]) -> Vec<v2::ExposureWindow> {
        let (report_type, infectiousness) = encode_trl(self.transmission_risk_level);
        exposure::v2_windows(merged)
            .into_iter()
            .map(|w| v2::ExposureWindow {
                day: DAY,
                report_type,
                infectiousness,
                calibration_confidence: 0,
                scan_instances: w
                    .scan_instances
                    .iter()
                    .map(|s| v2::ScanInstance {
                        min_attenuation_db: i32::from(s.min_attenuation_db),
                        typical_attenuation_db: i32::from(s.typical_attenuation_db),
                        seconds_since_last_scan: i32::try_from(s.seconds_since_last_scan)
                            .unwrap_or(i32::MAX),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// Reads a v2 configuration: the bare parameters, or a conformance suite's default configuration
/// (`defaultRiskCalculationConfiguration`); without a path, the original app's bundled default.
pub fn load_params(path: Option<&Path>) -> anyhow::Result<v2::RiskCalculationParameters> {
    let Some(path) = path else {
        return Ok(v2::RiskCalculationParameters::cwa_default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_params(&text).map_err(|e| match e {
        ParamsError::NotJson(e) => {
            anyhow::Error::new(e).context(format!("{} is not JSON", path.display()))
        }
        ParamsError::NotParams(e) => anyhow::Error::new(e)
            .context(format!("{} is not a v2 risk configuration", path.display())),
    })
}

/// Why a text is not a v2 configuration.
#[derive(Debug)]
pub enum ParamsError {
    /// The text is not JSON at all.
    NotJson(serde_json::Error),
    /// The JSON does not hold v2 risk calculation parameters.
    NotParams(serde_json::Error),
}

/// Parses a v2 configuration: the bare parameters, or a conformance suite's default configuration.
pub fn parse_params(text: &str) -> Result<v2::RiskCalculationParameters, ParamsError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(ParamsError::NotJson)?;
    let inner = value
        .get("defaultRiskCalculationConfiguration")
        .cloned()
        .unwrap_or(value);
    serde_json::from_value(inner).map_err(ParamsError::NotParams)
}

/// The server's encoding of a transmission risk level into report type and infectiousness (reference
/// §5.2), which the default trlEncoding decodes back to the same level.
pub fn encode_trl(trl: u8) -> (v2::ReportType, v2::Infectiousness) {
    let report_type = match trl {
        0..=2 => v2::ReportType::Recursive,
        3 | 4 => v2::ReportType::SelfReport,
        5 | 6 => v2::ReportType::ConfirmedClinicalDiagnosis,
        _ => v2::ReportType::ConfirmedTest,
    };
    let infectiousness = if trl.is_multiple_of(2) {
        v2::Infectiousness::High
    } else {
        v2::Infectiousness::Standard
    };
    (report_type, infectiousness)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trl_encoding_round_trips_through_the_default_offsets() {
        let params = v2::RiskCalculationParameters::cwa_default();
        for trl in 1..=8u8 {
            let (report_type, infectiousness) = encode_trl(trl);
            let window = v2::ExposureWindow {
                day: DAY,
                report_type,
                infectiousness,
                calibration_confidence: 0,
                scan_instances: vec![],
            };
            assert_eq!(
                v2::transmission_risk_level(&params, &window).unwrap(),
                i32::from(trl)
            );
        }
    }

    fn sighting(t: f64, att: u8) -> Sighting {
        Sighting {
            time_s: t,
            window_start_s: t,
            previous_window_start_s: t - 300.0,
            rpi: 0,
            received: 10,
            min_attenuation_db: att,
            typical_attenuation_db: att,
        }
    }

    #[test]
    fn fifteen_close_minutes_warn_and_nothing_does_not() {
        let model = RiskModel::cwa_default(6);
        let close: Vec<Sighting> = (0..4).map(|k| sighting(k as f64 * 300.0, 50)).collect();
        let outcome = model.assess([close.as_slice()]).unwrap();
        // v2: 4 scans × 5 min × weight 0.8 × TRV 1.2 = 19.2 ≥ 9 → HIGH.
        assert!(
            (outcome.v2_normalized_time - 19.2).abs() < 1e-9,
            "{outcome:?}"
        );
        assert!(outcome.v2_high && outcome.v1_increased, "{outcome:?}");
        let none = model.assess(std::iter::empty()).unwrap();
        assert_eq!(none, RiskOutcome::default());
    }

    #[test]
    fn params_are_read_bare_or_from_a_suite() {
        let bare = serde_json::to_string(&v2::RiskCalculationParameters::cwa_default()).unwrap();
        let suite = format!("{{\"defaultRiskCalculationConfiguration\": {bare}}}");
        let want = v2::RiskCalculationParameters::cwa_default();
        assert_eq!(parse_params(&bare).unwrap(), want);
        assert_eq!(parse_params(&suite).unwrap(), want);
        assert!(matches!(parse_params("{"), Err(ParamsError::NotJson(_))));
        assert!(matches!(
            parse_params("\"x\""),
            Err(ParamsError::NotParams(_))
        ));
    }
}
