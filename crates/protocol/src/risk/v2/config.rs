//! The v2 risk calculation parameters (`RiskCalculationParameters`), shaped so that the conformance
//! suites' `defaultRiskCalculationConfiguration` object deserializes as is.

use serde::{Deserialize, Serialize};

use super::RiskLevel;

/// A numeric interval with independently inclusive or exclusive ends (proto message `Range`).
/// Missing fields take the proto3 defaults: 0 and inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Range {
    /// Lower end.
    pub min: f64,
    /// Whether `min` itself lies outside the range.
    pub min_exclusive: bool,
    /// Upper end.
    pub max: f64,
    /// Whether `max` itself lies outside the range.
    pub max_exclusive: bool,
}

impl Range {
    /// `[min, max]`.
    pub fn closed(min: f64, max: f64) -> Self {
        Self {
            min,
            max,
            ..Self::default()
        }
    }

    /// `[min, max)`.
    pub fn half_open(min: f64, max: f64) -> Self {
        Self {
            min,
            max,
            max_exclusive: true,
            ..Self::default()
        }
    }

    /// Whether `value` lies in the range.
    pub fn contains(&self, value: f64) -> bool {
        let above_min = if self.min_exclusive {
            value > self.min
        } else {
            value >= self.min
        };
        let below_max = if self.max_exclusive {
            value < self.max
        } else {
            value <= self.max
        };
        above_min && below_max
    }
}

/// Drops a window when the minutes it spent in an attenuation range fall into another range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MinutesAtAttenuationFilter {
    /// Which scans count, by minimum attenuation.
    pub attenuation_range: Range,
    /// Drop the window when the counted minutes lie in this range.
    pub drop_if_minutes_in_range: Range,
}

/// Drops a window by its transmission risk level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrlFilter {
    /// Drop the window when its transmission risk level lies in this range.
    pub drop_if_trl_in_range: Range,
}

/// The weight of a scan's seconds by its minimum attenuation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MinutesAtAttenuationWeight {
    /// Scans whose minimum attenuation lies here get `weight`.
    pub attenuation_range: Range,
    /// The weight.
    #[serde(default)]
    pub weight: f64,
}

/// Maps a normalized time to a risk level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NormalizedTimeToRiskLevelMapping {
    /// Normalized times in this range map to `risk_level`.
    pub normalized_time_range: Range,
    /// The risk level.
    pub risk_level: RiskLevel,
}

/// Offsets whose sum re-creates the transmission risk level from report type and infectiousness
/// (the server encodes the 1..=8 level into those two fields, which ENF v2 keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrlEncoding {
    /// Offset for STANDARD (and any other non-HIGH) infectiousness.
    pub infectiousness_offset_standard: i32,
    /// Offset for HIGH infectiousness.
    pub infectiousness_offset_high: i32,
    /// Offset for report type RECURSIVE.
    pub report_type_offset_recursive: i32,
    /// Offset for report type SELF_REPORT.
    pub report_type_offset_self_report: i32,
    /// Offset for report type CONFIRMED_CLINICAL_DIAGNOSIS.
    pub report_type_offset_confirmed_clinical_diagnosis: i32,
    /// Offset for report type CONFIRMED_TEST.
    pub report_type_offset_confirmed_test: i32,
}

/// The transmission risk value of one transmission risk level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransmissionRiskValueMapping {
    /// The level.
    pub transmission_risk_level: i32,
    /// Its value.
    #[serde(default)]
    pub transmission_risk_value: f64,
}

/// The v2 risk calculation parameters. Missing lists are empty and missing numbers 0, as in proto3.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RiskCalculationParameters {
    /// Windows matching any of these are dropped.
    pub minutes_at_attenuation_filters: Vec<MinutesAtAttenuationFilter>,
    /// Windows whose transmission risk level matches any of these are dropped.
    pub trl_filters: Vec<TrlFilter>,
    /// Weights of scan seconds by minimum attenuation; the first matching entry wins.
    pub minutes_at_attenuation_weights: Vec<MinutesAtAttenuationWeight>,
    /// Normalized time of one window → risk level; the first matching entry wins.
    #[serde(rename = "normalizedTimePerEWToRiskLevelMapping")]
    pub normalized_time_per_ew_to_risk_level_mapping: Vec<NormalizedTimeToRiskLevelMapping>,
    /// Normalized time of one day → risk level; the first matching entry wins.
    pub normalized_time_per_day_to_risk_level_mapping: Vec<NormalizedTimeToRiskLevelMapping>,
    /// How to decode the transmission risk level.
    pub trl_encoding: TrlEncoding,
    /// Early configurations' value per level (value = level × multiplier). Used only when
    /// `transmission_risk_value_mapping` is empty, as those configurations had no mapping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transmission_risk_level_multiplier: Option<f64>,
    /// Transmission risk level → value; a level without entry has value 0.
    pub transmission_risk_value_mapping: Vec<TransmissionRiskValueMapping>,
    /// Windows older than this many days before today are ignored (when a today is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_encounter_age_in_days: Option<u32>,
}

impl RiskCalculationParameters {
    /// The original Android app's bundled default, which is also the primary conformance suite's
    /// configuration plus `maxEncounterAgeInDays` 10 (reference §5.4).
    pub fn cwa_default() -> Self {
        let level = |min, max, max_exclusive, risk_level| NormalizedTimeToRiskLevelMapping {
            normalized_time_range: Range {
                min,
                max,
                max_exclusive,
                min_exclusive: false,
            },
            risk_level,
        };
        let weight = |min, max, weight| MinutesAtAttenuationWeight {
            attenuation_range: Range::half_open(min, max),
            weight,
        };
        Self {
            minutes_at_attenuation_filters: Vec::new(),
            trl_filters: Vec::new(),
            minutes_at_attenuation_weights: vec![
                weight(0.0, 63.0, 0.8),
                weight(63.0, 73.0, 1.0),
                weight(73.0, 79.0, 0.1),
            ],
            normalized_time_per_ew_to_risk_level_mapping: vec![
                level(0.0, 9.0, true, RiskLevel::Low),
                level(9.0, 9999.0, false, RiskLevel::High),
            ],
            normalized_time_per_day_to_risk_level_mapping: vec![
                level(5.0, 9.0, true, RiskLevel::Low),
                level(9.0, 99999.0, false, RiskLevel::High),
            ],
            trl_encoding: TrlEncoding {
                infectiousness_offset_standard: 1,
                infectiousness_offset_high: 2,
                report_type_offset_recursive: 0,
                report_type_offset_self_report: 2,
                report_type_offset_confirmed_clinical_diagnosis: 4,
                report_type_offset_confirmed_test: 6,
            },
            transmission_risk_level_multiplier: None,
            transmission_risk_value_mapping: [0.0, 0.0, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6]
                .into_iter()
                .zip(1..)
                .map(|(transmission_risk_value, transmission_risk_level)| {
                    TransmissionRiskValueMapping {
                        transmission_risk_level,
                        transmission_risk_value,
                    }
                })
                .collect(),
            max_encounter_age_in_days: Some(10),
        }
    }

    /// The transmission risk value of a level: the first mapping entry for it, else 0 (or, for
    /// configurations without any mapping, level × the deprecated multiplier).
    pub fn transmission_risk_value(&self, transmission_risk_level: i32) -> f64 {
        if self.transmission_risk_value_mapping.is_empty() {
            if let Some(multiplier) = self.transmission_risk_level_multiplier {
                return f64::from(transmission_risk_level) * multiplier;
            }
        }
        self.transmission_risk_value_mapping
            .iter()
            .find(|m| m.transmission_risk_level == transmission_risk_level)
            .map_or(0.0, |m| m.transmission_risk_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bounds() {
        let r = Range::half_open(0.0, 63.0);
        assert!(r.contains(0.0));
        assert!(r.contains(62.999));
        assert!(!r.contains(63.0));
        assert!(!r.contains(-0.001));
        let open = Range {
            min: 1.0,
            min_exclusive: true,
            max: 2.0,
            max_exclusive: false,
        };
        assert!(!open.contains(1.0));
        assert!(open.contains(1.5));
        assert!(open.contains(2.0));
        assert!(!open.contains(2.1));
        assert!(Range::closed(9.0, 9.0).contains(9.0));
    }

    #[test]
    fn transmission_risk_values() {
        let mut p = RiskCalculationParameters::cwa_default();
        assert_eq!(p.transmission_risk_value(3), 0.6);
        assert_eq!(p.transmission_risk_value(8), 1.6);
        assert_eq!(p.transmission_risk_value(9), 0.0);
        p.transmission_risk_level_multiplier = Some(0.2);
        assert_eq!(p.transmission_risk_value(3), 0.6);
        p.transmission_risk_value_mapping.clear();
        assert_eq!(p.transmission_risk_value(5), 1.0);
    }
}
