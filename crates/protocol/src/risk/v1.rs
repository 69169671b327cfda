//! Risk scoring v1: the ENF v1 per-exposure product score, the exposure summary, and the combined
//! risk score with its risk level (reference §4.1 and §4.2, seed 001 figures 12 and 13).
//!
//! The ENF reduces each exposure to four bucketed categories and multiplies their scores; the app then
//! weighs the time spent in three attenuation buckets and normalises the result. Everything here works on
//! plain numbers, so the phone simulator and the CLI can feed it exposures from any source.

use std::fmt;

use serde::{Deserialize, Serialize};

mod params;

pub use params::{
    AttenuationDuration, AttenuationThresholds, BucketWeights, RiskScoreClass, ScoreWeights,
    V1Parameters,
};

/// Attenuation bucket bounds in dB: an attenuation falls into the first bucket whose bound it exceeds.
pub const ATTENUATION_BOUNDS_DB: [u8; 7] = [73, 63, 51, 33, 27, 15, 10];
/// Days-since-exposure bucket bounds: a day count falls into the first bucket whose bound it reaches.
pub const DAYS_BOUNDS: [u32; 7] = [14, 12, 10, 8, 6, 4, 2];
/// Duration bucket bounds in minutes: a duration falls into the first bucket whose bound it does not
/// exceed.
pub const DURATION_BOUNDS_MINUTES: [u32; 7] = [0, 5, 10, 15, 20, 25, 30];
/// Per-bucket attenuation durations are capped at this many minutes, both by the ENF summary and again
/// by the combined score.
pub const MAX_ATTENUATION_DURATION_MINUTES: u32 = 30;
/// The largest score a single category may assign.
pub const MAX_CATEGORY_SCORE: u8 = 8;
/// The largest product score (8 × 8 × 8 × 8), also the largest allowed minimum risk score.
pub const MAX_RISK_SCORE: u32 = 4096;
/// The label of the risk-score class that marks an increased risk.
pub const HIGH_RISK_CLASS_LABEL: &str = "HIGH";

/// Why a v1 computation was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum V1Error {
    /// A category score is above 8.
    ScoreOutOfRange {
        /// Which category table holds the bad score.
        category: Category,
        /// Its bucket index, 0..=7.
        index: usize,
        /// The offending value.
        value: u8,
    },
    /// The minimum risk score is above 4096.
    MinRiskScoreOutOfRange(u32),
    /// A transmission risk level is above 8.
    TransmissionRiskLevelOutOfRange(u8),
    /// The lower attenuation threshold is above the upper one.
    ThresholdsOutOfOrder {
        /// The lower threshold in dB.
        lower: u8,
        /// The upper threshold in dB.
        upper: u8,
    },
    /// The risk-score normalisation divisor is zero or negative.
    NormalizationDivisorNotPositive(i32),
    /// A bucket weight is negative or not a finite number.
    InvalidBucketWeight(f64),
    /// No risk-score class is labelled `HIGH`.
    NoHighRiskClass,
    /// The combined risk score lies above the `HIGH` class, which the original treats as a
    /// misconfiguration rather than a risk level.
    ScoreAboveHighClass {
        /// The combined risk score.
        score: f64,
        /// The upper bound of the `HIGH` class.
        max: i32,
    },
}

impl fmt::Display for V1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ScoreOutOfRange {
                category,
                index,
                value,
            } => write!(
                f,
                "{category} score #{index} is {value}, scores must be 0..={MAX_CATEGORY_SCORE}"
            ),
            Self::MinRiskScoreOutOfRange(v) => {
                write!(f, "minimum risk score {v} is above {MAX_RISK_SCORE}")
            }
            Self::TransmissionRiskLevelOutOfRange(v) => {
                write!(f, "transmission risk level {v} is outside 0..=8")
            }
            Self::ThresholdsOutOfOrder { lower, upper } => write!(
                f,
                "attenuation thresholds out of order: lower {lower} dB > upper {upper} dB"
            ),
            Self::NormalizationDivisorNotPositive(v) => {
                write!(f, "risk score normalization divisor {v} must be at least 1")
            }
            Self::InvalidBucketWeight(w) => {
                write!(f, "attenuation bucket weight {w} must be finite and >= 0")
            }
            Self::NoHighRiskClass => write!(f, "no risk score class is labelled HIGH"),
            Self::ScoreAboveHighClass { score, max } => write!(
                f,
                "combined risk score {score} lies above the HIGH class maximum {max}"
            ),
        }
    }
}

impl std::error::Error for V1Error {}

/// The four risk categories the ENF v1 scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Category {
    /// The transmission risk level the diagnosis key carries.
    Transmission,
    /// How long the exposure lasted.
    Duration,
    /// How many days ago the exposure happened.
    DaysSinceLastExposure,
    /// The time-weighted mean attenuation.
    Attenuation,
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transmission => "transmission",
            Self::Duration => "duration",
            Self::DaysSinceLastExposure => "days since last exposure",
            Self::Attenuation => "attenuation",
        })
    }
}

/// The bucket (0..=7) an attenuation in dB falls into: 0 is `> 73 dB` (far), 7 is `<= 10 dB` (close).
pub fn attenuation_bucket(attenuation_db: u8) -> usize {
    ATTENUATION_BOUNDS_DB
        .iter()
        .position(|&bound| attenuation_db > bound)
        .unwrap_or(7)
}

/// The bucket (0..=7) a number of days since the exposure falls into: 0 is `>= 14`, 7 is `0..=1`.
pub fn days_bucket(days_since_exposure: u32) -> usize {
    DAYS_BOUNDS
        .iter()
        .position(|&bound| days_since_exposure >= bound)
        .unwrap_or(7)
}

/// The bucket (0..=7) a duration in minutes falls into: 0 is exactly 0, 7 is `> 30`.
pub fn duration_bucket(duration_minutes: u32) -> usize {
    DURATION_BOUNDS_MINUTES
        .iter()
        .position(|&bound| duration_minutes <= bound)
        .unwrap_or(7)
}

impl V1Parameters {
    /// The ENF product score of one exposure (0..=4096), before the minimum risk score applies.
    pub fn product_score(&self, exposure: &Exposure) -> Result<u32, V1Error> {
        let transmission = match exposure.transmission_risk_level {
            // The ENF treats a missing (0, "invalid") level as neutral rather than as zero risk.
            0 => 1,
            trl @ 1..=8 => u32::from(self.transmission_scores[usize::from(trl - 1)]),
            trl => return Err(V1Error::TransmissionRiskLevelOutOfRange(trl)),
        };
        let duration = u32::from(self.duration_scores[duration_bucket(exposure.duration_minutes)]);
        let days = u32::from(self.days_scores[days_bucket(exposure.days_since_exposure)]);
        let attenuation =
            u32::from(self.attenuation_scores[attenuation_bucket(exposure.attenuation_db)]);
        Ok(attenuation * days * duration * transmission)
    }

    /// The score of one exposure as it enters the summary: the product score, or 0 below the minimum.
    pub fn total_risk_score(&self, exposure: &Exposure) -> Result<u32, V1Error> {
        let score = self.product_score(exposure)?;
        Ok(if score < self.min_risk_score {
            0
        } else {
            score
        })
    }
}

/// One exposure as the ENF v1 reports it: one diagnosis key seen on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exposure {
    /// Time-weighted mean attenuation in dB.
    pub attenuation_db: u8,
    /// Duration in minutes (the ENF reports multiples of 5).
    pub duration_minutes: u32,
    /// Whole days between the exposure and now.
    pub days_since_exposure: u32,
    /// The diagnosis key's transmission risk level, 1..=8, or 0 when it carries none.
    pub transmission_risk_level: u8,
    /// Minutes spent below the lower threshold, between the thresholds and at or above the upper one.
    /// When absent, the whole duration goes into the bucket of `attenuation_db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attenuation_durations_minutes: Option<[u32; 3]>,
}

impl Exposure {
    /// The exposure's minutes per attenuation bucket, derived from its mean attenuation if not given.
    pub fn attenuation_durations(&self, thresholds: &AttenuationThresholds) -> [u32; 3] {
        self.attenuation_durations_minutes.unwrap_or_else(|| {
            let mut d = [0; 3];
            d[thresholds.bucket(self.attenuation_db)] = self.duration_minutes;
            d
        })
    }
}

/// The ENF v1 exposure summary over all exposures of one detection run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposureSummary {
    /// Days since the most recent exposure (0 with no exposures, as the ENF reports).
    pub days_since_last_exposure: u32,
    /// How many exposures went in; each stands for one matched key.
    pub matched_key_count: u32,
    /// The highest per-exposure score at or above the minimum risk score, else 0.
    pub maximum_risk_score: u32,
    /// The sum of the per-exposure scores at or above the minimum risk score.
    pub summation_risk_score: u32,
    /// Minutes per attenuation bucket summed over all exposures, each capped at 30.
    pub attenuation_durations_minutes: [u32; 3],
}

/// Builds the exposure summary as the ENF does: the minimum risk score zeroes weak exposures' scores,
/// but their minutes still count in the attenuation buckets.
pub fn summarize(
    params: &V1Parameters,
    exposures: &[Exposure],
) -> Result<ExposureSummary, V1Error> {
    let mut summary = ExposureSummary {
        days_since_last_exposure: exposures
            .iter()
            .map(|e| e.days_since_exposure)
            .min()
            .unwrap_or(0),
        matched_key_count: u32::try_from(exposures.len()).unwrap_or(u32::MAX),
        maximum_risk_score: 0,
        summation_risk_score: 0,
        attenuation_durations_minutes: [0; 3],
    };
    for exposure in exposures {
        let score = params.total_risk_score(exposure)?;
        summary.maximum_risk_score = summary.maximum_risk_score.max(score);
        summary.summation_risk_score = summary.summation_risk_score.saturating_add(score);
        let minutes = exposure.attenuation_durations(&params.attenuation_duration.thresholds);
        for (total, m) in summary
            .attenuation_durations_minutes
            .iter_mut()
            .zip(minutes)
        {
            *total = total.saturating_add(m);
        }
    }
    for d in &mut summary.attenuation_durations_minutes {
        *d = (*d).min(MAX_ATTENUATION_DURATION_MINUTES);
    }
    Ok(summary)
}

/// The combined risk score: `maximum_risk_score / divisor × (weighted capped minutes + offset)`,
/// rounded to two decimals with ties to even, as the original's `kotlin.math.round` did.
pub fn combined_risk_score(
    maximum_risk_score: u32,
    attenuation_durations_minutes: [u32; 3],
    params: &AttenuationDuration,
) -> Result<f64, V1Error> {
    params.validate()?;
    let [low, mid, high] =
        attenuation_durations_minutes.map(|d| f64::from(d.min(MAX_ATTENUATION_DURATION_MINUTES)));
    // Summed in the original's order, so that floating-point results match it to the last bit.
    let weighted = params.weights.low * low
        + params.weights.mid * mid
        + params.weights.high * high
        + f64::from(params.default_bucket_offset);
    let normalized =
        f64::from(maximum_risk_score) / f64::from(params.risk_score_normalization_divisor);
    Ok((normalized * weighted * 100.0).round_ties_even() / 100.0)
}

/// The app's v1 risk level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum V1RiskLevel {
    /// The score lies below the `HIGH` class.
    Low,
    /// The score lies within the `HIGH` class.
    Increased,
}

/// Whether `score` lies within `min..=max` (both bounds inclusive).
pub fn within_defined_level_threshold(score: f64, min: i32, max: i32) -> bool {
    score >= f64::from(min) && score <= f64::from(max)
}

/// Maps a combined risk score to a risk level through the class labelled `HIGH`.
pub fn risk_level(score: f64, classes: &[RiskScoreClass]) -> Result<V1RiskLevel, V1Error> {
    let high = classes
        .iter()
        .find(|c| c.label == HIGH_RISK_CLASS_LABEL)
        .ok_or(V1Error::NoHighRiskClass)?;
    if within_defined_level_threshold(score, high.min, high.max) {
        Ok(V1RiskLevel::Increased)
    } else if score > f64::from(high.max) {
        Err(V1Error::ScoreAboveHighClass {
            score,
            max: high.max,
        })
    } else {
        Ok(V1RiskLevel::Low)
    }
}

/// The outcome of a v1 risk assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V1Assessment {
    /// The ENF exposure summary.
    pub summary: ExposureSummary,
    /// The combined risk score.
    pub combined_risk_score: f64,
    /// The risk level the score maps to.
    pub risk_level: V1RiskLevel,
}

/// Runs the whole v1 pipeline: validate, summarise, combine, classify.
pub fn assess(params: &V1Parameters, exposures: &[Exposure]) -> Result<V1Assessment, V1Error> {
    params.validate()?;
    let summary = summarize(params, exposures)?;
    let combined_risk_score = combined_risk_score(
        summary.maximum_risk_score,
        summary.attenuation_durations_minutes,
        &params.attenuation_duration,
    )?;
    let risk_level = risk_level(combined_risk_score, &params.risk_score_classes)?;
    Ok(V1Assessment {
        summary,
        combined_risk_score,
        risk_level,
    })
}
