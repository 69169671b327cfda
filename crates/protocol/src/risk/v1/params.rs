//! The v1 scoring parameters: the ENF exposure configuration, the app's attenuation-duration
//! parameters and risk-score classes, with the original's final shipped values as the default.

use serde::{Deserialize, Serialize};

use super::{Category, V1Error, HIGH_RISK_CLASS_LABEL, MAX_CATEGORY_SCORE, MAX_RISK_SCORE};

/// The four per-category weights of the ENF v1 configuration. The ENF reserved them "for future use" and
/// never applied them; they are carried so that a configuration survives a round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoreWeights {
    /// Weight of the transmission category.
    pub transmission: f64,
    /// Weight of the duration category.
    pub duration: f64,
    /// Weight of the days-since-exposure category.
    pub days: f64,
    /// Weight of the attenuation category.
    pub attenuation: f64,
}

/// The two attenuation thresholds that split exposure time into three buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttenuationThresholds {
    /// Time below this attenuation (dB) counts as close (bucket 0, "low" attenuation).
    pub lower: u8,
    /// Time at or above this attenuation (dB) counts as far (bucket 2, "high" attenuation).
    pub upper: u8,
}

impl AttenuationThresholds {
    /// The bucket (0, 1 or 2) for time spent at `attenuation_db`.
    pub fn bucket(&self, attenuation_db: u8) -> usize {
        if attenuation_db < self.lower {
            0
        } else if attenuation_db < self.upper {
            1
        } else {
            2
        }
    }
}

/// Weights of the minutes spent in the three attenuation buckets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketWeights {
    /// Weight of the minutes below the lower threshold (the closest contacts).
    pub low: f64,
    /// Weight of the minutes between the thresholds.
    pub mid: f64,
    /// Weight of the minutes at or above the upper threshold.
    pub high: f64,
}

/// The app's attenuation-duration parameters (seed 001, figure 13).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttenuationDuration {
    /// Where the three buckets split.
    pub thresholds: AttenuationThresholds,
    /// How much a minute in each bucket counts.
    pub weights: BucketWeights,
    /// Added to the weighted minutes ("weight_4" in the seed).
    pub default_bucket_offset: i32,
    /// The maximum risk score is divided by this before it scales the weighted minutes.
    pub risk_score_normalization_divisor: i32,
}

/// A risk-score class: a labelled band of combined risk scores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskScoreClass {
    /// `LOW` or `HIGH`; only `HIGH` is looked at.
    pub label: String,
    /// Lower bound of the band.
    pub min: i32,
    /// Upper bound of the band.
    pub max: i32,
    /// A link the app may show with the class.
    #[serde(default)]
    pub url: String,
}

/// Everything the v1 scoring needs: the ENF exposure configuration plus the app's attenuation-duration
/// parameters and risk-score classes. Missing fields take the original's final shipped values, see
/// [`V1Parameters::final_shipped`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct V1Parameters {
    /// Exposures whose product score is below this count as 0 in the summary's scores.
    pub min_risk_score: u32,
    /// Scores by transmission risk level 1..=8.
    pub transmission_scores: [u8; 8],
    /// Scores by duration bucket (see [`super::duration_bucket`]).
    pub duration_scores: [u8; 8],
    /// Scores by days-since-exposure bucket (see [`super::days_bucket`]).
    pub days_scores: [u8; 8],
    /// Scores by attenuation bucket (see [`super::attenuation_bucket`]).
    pub attenuation_scores: [u8; 8],
    /// The unused per-category weights.
    pub weights: ScoreWeights,
    /// Attenuation buckets, their weights, offset and normalisation.
    pub attenuation_duration: AttenuationDuration,
    /// The classes that map a combined risk score to a risk level.
    pub risk_score_classes: Vec<RiskScoreClass>,
}

impl Default for V1Parameters {
    fn default() -> Self {
        Self::final_shipped()
    }
}

impl V1Parameters {
    /// The values the original server shipped last (reference §4.2, "Final" column).
    pub fn final_shipped() -> Self {
        Self {
            min_risk_score: 11,
            transmission_scores: [0, 0, 3, 4, 5, 6, 7, 8],
            duration_scores: [0, 0, 0, 1, 1, 1, 1, 1],
            days_scores: [5; 8],
            attenuation_scores: [0, 2, 2, 2, 2, 2, 2, 2],
            weights: ScoreWeights {
                transmission: 50.0,
                duration: 50.0,
                days: 20.0,
                attenuation: 50.0,
            },
            attenuation_duration: AttenuationDuration {
                thresholds: AttenuationThresholds {
                    lower: 55,
                    upper: 63,
                },
                weights: BucketWeights {
                    low: 1.0,
                    mid: 0.5,
                    high: 0.0,
                },
                default_bucket_offset: 0,
                risk_score_normalization_divisor: 50,
            },
            risk_score_classes: vec![
                RiskScoreClass {
                    label: "LOW".to_owned(),
                    min: 0,
                    max: 15,
                    url: String::new(),
                },
                RiskScoreClass {
                    label: HIGH_RISK_CLASS_LABEL.to_owned(),
                    min: 15,
                    max: 9999,
                    url: String::new(),
                },
            ],
        }
    }

    /// Checks every bound the computations rely on.
    pub fn validate(&self) -> Result<(), V1Error> {
        if self.min_risk_score > MAX_RISK_SCORE {
            return Err(V1Error::MinRiskScoreOutOfRange(self.min_risk_score));
        }
        let tables = [
            (Category::Transmission, &self.transmission_scores),
            (Category::Duration, &self.duration_scores),
            (Category::DaysSinceLastExposure, &self.days_scores),
            (Category::Attenuation, &self.attenuation_scores),
        ];
        for (category, table) in tables {
            if let Some((index, &value)) = table
                .iter()
                .enumerate()
                .find(|(_, &v)| v > MAX_CATEGORY_SCORE)
            {
                return Err(V1Error::ScoreOutOfRange {
                    category,
                    index,
                    value,
                });
            }
        }
        self.attenuation_duration.validate()?;
        if !self
            .risk_score_classes
            .iter()
            .any(|c| c.label == HIGH_RISK_CLASS_LABEL)
        {
            return Err(V1Error::NoHighRiskClass);
        }
        Ok(())
    }
}

impl AttenuationDuration {
    /// Checks the thresholds' order, the weights and the divisor.
    pub fn validate(&self) -> Result<(), V1Error> {
        let AttenuationThresholds { lower, upper } = self.thresholds;
        if lower > upper {
            return Err(V1Error::ThresholdsOutOfOrder { lower, upper });
        }
        for w in [self.weights.low, self.weights.mid, self.weights.high] {
            if !w.is_finite() || w < 0.0 {
                return Err(V1Error::InvalidBucketWeight(w));
            }
        }
        if self.risk_score_normalization_divisor < 1 {
            return Err(V1Error::NormalizationDivisorNotPositive(
                self.risk_score_normalization_divisor,
            ));
        }
        Ok(())
    }
}
