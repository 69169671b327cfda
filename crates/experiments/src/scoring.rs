//! Risk scoring v1 (exposure summary) and v2 (exposure windows by age) of inputs given as JSON, with
//! results named as the conformance suites name them, so scores can be checked against other
//! implementations.

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use warnkit_protocol::risk::{v1, v2};

/// The UTC day the v2 scoring calls "today" (2021-01-01). Inputs and outputs speak in ages, so any day
/// works; a fixed one keeps the output independent of the clock.
pub const TODAY: u32 = 18_628;

/// The result of v1 scoring.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct V1Output {
    /// The exposure summary.
    pub summary: v1::ExposureSummary,
    /// Each exposure's score as it entered the summary (0 below the minimum risk score).
    pub exposure_risk_scores: Vec<u32>,
    /// The combined risk score.
    pub combined_risk_score: f64,
    /// The risk level of that score.
    pub risk_level: v1::V1RiskLevel,
}

/// Scores `exposures` with v1 `params`.
pub fn score_v1(params: &v1::V1Parameters, exposures: &[v1::Exposure]) -> anyhow::Result<V1Output> {
    let assessment = v1::assess(params, exposures).context("scoring v1")?;
    let exposure_risk_scores = exposures
        .iter()
        .map(|e| params.total_risk_score(e))
        .collect::<Result<_, _>>()
        .context("scoring v1")?;
    Ok(V1Output {
        summary: assessment.summary,
        exposure_risk_scores,
        combined_risk_score: assessment.combined_risk_score,
        risk_level: assessment.risk_level,
    })
}

/// One exposure window as the conformance suites write it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputWindow {
    /// Days before today.
    pub age_in_days: u32,
    /// The report type of the key.
    pub report_type: v2::ReportType,
    /// The infectiousness of the day.
    pub infectiousness: v2::Infectiousness,
    /// Calibration confidence, 0..=3.
    pub calibration_confidence: u8,
    /// The window's scans.
    #[serde(default)]
    pub scan_instances: Vec<v2::ScanInstance>,
}

/// The result of v2 scoring, named as the suites' expectations without their `exp` prefix.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct V2Output {
    /// LOW or HIGH.
    pub total_risk_level: v2::RiskLevel,
    /// Age in days of the most recent day at low risk.
    pub age_of_most_recent_date_with_low_risk: Option<u32>,
    /// Age in days of the most recent day at high risk.
    pub age_of_most_recent_date_with_high_risk: Option<u32>,
    /// Days at low risk.
    pub number_of_days_with_low_risk: u32,
    /// Days at high risk.
    pub number_of_days_with_high_risk: u32,
    /// Minimum distinct encounters at low risk.
    pub total_minimum_distinct_encounters_with_low_risk: u32,
    /// Minimum distinct encounters at high risk.
    pub total_minimum_distinct_encounters_with_high_risk: u32,
}

/// Scores `input` windows with v2 `params`; `round_day` rounds each day's normalized time to one
/// decimal (half up), as the Android app does.
pub fn score_v2(
    params: &v2::RiskCalculationParameters,
    input: Vec<InputWindow>,
    round_day: bool,
) -> anyhow::Result<V2Output> {
    let windows = input
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            if w.calibration_confidence > 3 {
                bail!(
                    "exposure window {i}: calibrationConfidence {} is outside 0..=3",
                    w.calibration_confidence
                );
            }
            let day = TODAY.checked_sub(w.age_in_days).ok_or_else(|| {
                anyhow!(
                    "exposure window {i}: ageInDays {} is too large",
                    w.age_in_days
                )
            })?;
            Ok(v2::ExposureWindow {
                day,
                report_type: w.report_type,
                infectiousness: w.infectiousness,
                calibration_confidence: w.calibration_confidence,
                scan_instances: w.scan_instances,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = v2::AggregationOptions {
        day_rounding: if round_day {
            v2::DayRounding::OneDecimalHalfUp
        } else {
            v2::DayRounding::Exact
        },
        today: Some(TODAY),
    };
    let risk = v2::aggregate(params, &windows, options).context("scoring v2")?;
    // Days are never after TODAY, so the subtraction cannot underflow; saturate rather than trust it.
    let age = |day: Option<u32>| day.map(|d| TODAY.saturating_sub(d));
    Ok(V2Output {
        total_risk_level: risk.total_risk_level,
        age_of_most_recent_date_with_low_risk: age(risk.most_recent_date_with_low_risk),
        age_of_most_recent_date_with_high_risk: age(risk.most_recent_date_with_high_risk),
        number_of_days_with_low_risk: risk.number_of_days_with_low_risk,
        number_of_days_with_high_risk: risk.number_of_days_with_high_risk,
        total_minimum_distinct_encounters_with_low_risk: risk
            .total_minimum_distinct_encounters_with_low_risk,
        total_minimum_distinct_encounters_with_high_risk: risk
            .total_minimum_distinct_encounters_with_high_risk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(age_in_days: u32, calibration_confidence: u8, scans: usize) -> InputWindow {
        InputWindow {
            age_in_days,
            report_type: v2::ReportType::ConfirmedTest,
            infectiousness: v2::Infectiousness::High,
            calibration_confidence,
            scan_instances: (0..scans)
                .map(|_| v2::ScanInstance {
                    min_attenuation_db: 40,
                    typical_attenuation_db: 40,
                    seconds_since_last_scan: 300,
                })
                .collect(),
        }
    }

    #[test]
    fn v2_speaks_in_ages_and_refuses_what_it_cannot_place() {
        let params = v2::RiskCalculationParameters::cwa_default();
        let out = score_v2(&params, vec![window(2, 0, 6)], false).unwrap();
        assert_eq!(out.total_risk_level, v2::RiskLevel::High);
        assert_eq!(out.age_of_most_recent_date_with_high_risk, Some(2));
        assert_eq!(out.number_of_days_with_high_risk, 1);
        let none = score_v2(&params, vec![], true).unwrap();
        assert_eq!(none.total_risk_level, v2::RiskLevel::Low);
        assert_eq!(none.age_of_most_recent_date_with_low_risk, None);
        let err = score_v2(&params, vec![window(1, 4, 1)], false).unwrap_err();
        assert!(err.to_string().contains("calibrationConfidence 4"), "{err}");
        let err = score_v2(&params, vec![window(TODAY + 1, 0, 1)], false).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
    }

    #[test]
    fn v1_scores_each_exposure_and_the_whole() {
        let params = v1::V1Parameters::final_shipped();
        let out = score_v1(&params, &[]).unwrap();
        assert!(out.exposure_risk_scores.is_empty());
        assert_eq!(out.combined_risk_score, 0.0);
        assert_eq!(out.risk_level, v1::V1RiskLevel::Low);
    }
}
