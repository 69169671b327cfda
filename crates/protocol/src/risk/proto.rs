//! Conversions between the app configuration messages in [`crate::proto::app_config`] and the scoring
//! parameters of [`v1`] and [`v2`]: the distribution service publishes the former, the scoring takes
//! the latter.

use super::{v1, v2};
use crate::proto::app_config::{
    AppConfigError, ApplicationConfiguration, AttenuationDuration, AttenuationRiskParameters,
    DaysSinceLastExposureRiskParameters, DurationRiskParameters, MinutesAtAttenuationFilter,
    MinutesAtAttenuationWeight, NormalizedTimeToRiskLevelMapping, Range, RiskCalculationParameters,
    RiskScoreClass, RiskScoreClassification, RiskScoreParameters, Thresholds,
    TransmissionRiskLevelEncoding, TransmissionRiskParameters, TransmissionRiskValueMapping,
    TrlFilter, Weights,
};
use crate::proto::app_config_v2::DiagnosisKeysDataMapping;

fn levels(scores: &[u8; 8]) -> [i32; 8] {
    scores.map(i32::from)
}

fn scores(field: &'static str, levels: [i32; 8]) -> Result<[u8; 8], AppConfigError> {
    let mut out = [0u8; 8];
    for (o, level) in out.iter_mut().zip(levels) {
        *o = u8::try_from(level)
            .ok()
            .filter(|&s| s <= v1::MAX_CATEGORY_SCORE)
            .ok_or(AppConfigError::OutOfRange {
                field,
                value: i64::from(level),
            })?;
    }
    Ok(out)
}

impl From<&v1::V1Parameters> for ApplicationConfiguration {
    fn from(p: &v1::V1Parameters) -> Self {
        let [t1, t2, t3, t4, t5, t6, t7, t8] = levels(&p.transmission_scores);
        let [d1, d2, d3, d4, d5, d6, d7, d8] = levels(&p.duration_scores);
        let [s1, s2, s3, s4, s5, s6, s7, s8] = levels(&p.days_scores);
        let [a1, a2, a3, a4, a5, a6, a7, a8] = levels(&p.attenuation_scores);
        let ad = &p.attenuation_duration;
        Self {
            min_risk_score: i32::try_from(p.min_risk_score).unwrap_or(i32::MAX),
            risk_score_classes: Some(RiskScoreClassification {
                risk_classes: p
                    .risk_score_classes
                    .iter()
                    .map(|c| RiskScoreClass {
                        label: c.label.clone(),
                        min: c.min,
                        max: c.max,
                        url: c.url.clone(),
                    })
                    .collect(),
            }),
            exposure_config: Some(RiskScoreParameters {
                transmission: Some(TransmissionRiskParameters {
                    app_defined_1: t1,
                    app_defined_2: t2,
                    app_defined_3: t3,
                    app_defined_4: t4,
                    app_defined_5: t5,
                    app_defined_6: t6,
                    app_defined_7: t7,
                    app_defined_8: t8,
                }),
                transmission_weight: p.weights.transmission,
                duration: Some(DurationRiskParameters {
                    eq_0_min: d1,
                    gt_0_le_5_min: d2,
                    gt_5_le_10_min: d3,
                    gt_10_le_15_min: d4,
                    gt_15_le_20_min: d5,
                    gt_20_le_25_min: d6,
                    gt_25_le_30_min: d7,
                    gt_30_min: d8,
                }),
                duration_weight: p.weights.duration,
                days_since_last_exposure: Some(DaysSinceLastExposureRiskParameters {
                    ge_14_days: s1,
                    ge_12_lt_14_days: s2,
                    ge_10_lt_12_days: s3,
                    ge_8_lt_10_days: s4,
                    ge_6_lt_8_days: s5,
                    ge_4_lt_6_days: s6,
                    ge_2_lt_4_days: s7,
                    ge_0_lt_2_days: s8,
                }),
                days_weight: p.weights.days,
                attenuation: Some(AttenuationRiskParameters {
                    gt_73_dbm: a1,
                    gt_63_le_73_dbm: a2,
                    gt_51_le_63_dbm: a3,
                    gt_33_le_51_dbm: a4,
                    gt_27_le_33_dbm: a5,
                    gt_15_le_27_dbm: a6,
                    gt_10_le_15_dbm: a7,
                    le_10_dbm: a8,
                }),
                attenuation_weight: p.weights.attenuation,
            }),
            attenuation_duration: Some(AttenuationDuration {
                thresholds: Some(Thresholds {
                    lower: i32::from(ad.thresholds.lower),
                    upper: i32::from(ad.thresholds.upper),
                }),
                weights: Some(Weights {
                    low: ad.weights.low,
                    mid: ad.weights.mid,
                    high: ad.weights.high,
                }),
                default_bucket_offset: ad.default_bucket_offset,
                risk_score_normalization_divisor: ad.risk_score_normalization_divisor,
            }),
            // The platform parts (fields 5–11) are the distribution's; risk parameters fill 1–4.
            ..Self::default()
        }
    }
}

fn threshold(field: &'static str, value: i32) -> Result<u8, AppConfigError> {
    u8::try_from(value).map_err(|_| AppConfigError::OutOfRange {
        field,
        value: i64::from(value),
    })
}

impl TryFrom<&ApplicationConfiguration> for v1::V1Parameters {
    type Error = AppConfigError;

    fn try_from(c: &ApplicationConfiguration) -> Result<Self, AppConfigError> {
        let e = c
            .exposure_config
            .as_ref()
            .ok_or(AppConfigError::MissingField("exposureConfig"))?;
        let t = e
            .transmission
            .as_ref()
            .ok_or(AppConfigError::MissingField("exposureConfig.transmission"))?;
        let d = e
            .duration
            .as_ref()
            .ok_or(AppConfigError::MissingField("exposureConfig.duration"))?;
        let s = e
            .days_since_last_exposure
            .as_ref()
            .ok_or(AppConfigError::MissingField(
                "exposureConfig.days_since_last_exposure",
            ))?;
        let a = e
            .attenuation
            .as_ref()
            .ok_or(AppConfigError::MissingField("exposureConfig.attenuation"))?;
        let ad = c
            .attenuation_duration
            .as_ref()
            .ok_or(AppConfigError::MissingField("attenuationDuration"))?;
        let th = ad.thresholds.as_ref().ok_or(AppConfigError::MissingField(
            "attenuationDuration.thresholds",
        ))?;
        let w = ad
            .weights
            .as_ref()
            .ok_or(AppConfigError::MissingField("attenuationDuration.weights"))?;
        let params = v1::V1Parameters {
            min_risk_score: u32::try_from(c.min_risk_score).map_err(|_| {
                AppConfigError::OutOfRange {
                    field: "minRiskScore",
                    value: i64::from(c.min_risk_score),
                }
            })?,
            transmission_scores: scores(
                "exposureConfig.transmission",
                [
                    t.app_defined_1,
                    t.app_defined_2,
                    t.app_defined_3,
                    t.app_defined_4,
                    t.app_defined_5,
                    t.app_defined_6,
                    t.app_defined_7,
                    t.app_defined_8,
                ],
            )?,
            duration_scores: scores(
                "exposureConfig.duration",
                [
                    d.eq_0_min,
                    d.gt_0_le_5_min,
                    d.gt_5_le_10_min,
                    d.gt_10_le_15_min,
                    d.gt_15_le_20_min,
                    d.gt_20_le_25_min,
                    d.gt_25_le_30_min,
                    d.gt_30_min,
                ],
            )?,
            days_scores: scores(
                "exposureConfig.days_since_last_exposure",
                [
                    s.ge_14_days,
                    s.ge_12_lt_14_days,
                    s.ge_10_lt_12_days,
                    s.ge_8_lt_10_days,
                    s.ge_6_lt_8_days,
                    s.ge_4_lt_6_days,
                    s.ge_2_lt_4_days,
                    s.ge_0_lt_2_days,
                ],
            )?,
            attenuation_scores: scores(
                "exposureConfig.attenuation",
                [
                    a.gt_73_dbm,
                    a.gt_63_le_73_dbm,
                    a.gt_51_le_63_dbm,
                    a.gt_33_le_51_dbm,
                    a.gt_27_le_33_dbm,
                    a.gt_15_le_27_dbm,
                    a.gt_10_le_15_dbm,
                    a.le_10_dbm,
                ],
            )?,
            weights: v1::ScoreWeights {
                transmission: e.transmission_weight,
                duration: e.duration_weight,
                days: e.days_weight,
                attenuation: e.attenuation_weight,
            },
            attenuation_duration: v1::AttenuationDuration {
                thresholds: v1::AttenuationThresholds {
                    lower: threshold("attenuationDuration.thresholds.lower", th.lower)?,
                    upper: threshold("attenuationDuration.thresholds.upper", th.upper)?,
                },
                weights: v1::BucketWeights {
                    low: w.low,
                    mid: w.mid,
                    high: w.high,
                },
                default_bucket_offset: ad.default_bucket_offset,
                risk_score_normalization_divisor: ad.risk_score_normalization_divisor,
            },
            risk_score_classes: c
                .risk_score_classes
                .as_ref()
                .map(|rc| {
                    rc.risk_classes
                        .iter()
                        .map(|r| v1::RiskScoreClass {
                            label: r.label.clone(),
                            min: r.min,
                            max: r.max,
                            url: r.url.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        params.validate().map_err(AppConfigError::Invalid)?;
        Ok(params)
    }
}

impl From<&v2::Range> for Range {
    fn from(r: &v2::Range) -> Self {
        Self {
            min: r.min,
            min_exclusive: r.min_exclusive,
            max: r.max,
            max_exclusive: r.max_exclusive,
        }
    }
}

impl From<&Range> for v2::Range {
    fn from(r: &Range) -> Self {
        Self {
            min: r.min,
            min_exclusive: r.min_exclusive,
            max: r.max,
            max_exclusive: r.max_exclusive,
        }
    }
}

fn range(r: &Option<Range>) -> v2::Range {
    // An absent proto3 sub-message reads as its default: [0, 0].
    r.as_ref().map(v2::Range::from).unwrap_or_default()
}

fn to_proto_mappings(
    m: &[v2::NormalizedTimeToRiskLevelMapping],
) -> Vec<NormalizedTimeToRiskLevelMapping> {
    m.iter()
        .map(|m| NormalizedTimeToRiskLevelMapping {
            normalized_time_range: Some(Range::from(&m.normalized_time_range)),
            risk_level: i32::from(u8::from(m.risk_level)),
        })
        .collect()
}

fn from_proto_mappings(
    m: &[NormalizedTimeToRiskLevelMapping],
) -> Result<Vec<v2::NormalizedTimeToRiskLevelMapping>, AppConfigError> {
    m.iter()
        .map(|m| {
            Ok(v2::NormalizedTimeToRiskLevelMapping {
                normalized_time_range: range(&m.normalized_time_range),
                risk_level: v2::RiskLevel::try_from(i64::from(m.risk_level)).map_err(|_| {
                    AppConfigError::OutOfRange {
                        field: "riskLevel",
                        value: i64::from(m.risk_level),
                    }
                })?,
            })
        })
        .collect()
}

impl From<&v2::RiskCalculationParameters> for RiskCalculationParameters {
    fn from(p: &v2::RiskCalculationParameters) -> Self {
        let enc = &p.trl_encoding;
        Self {
            minutes_at_attenuation_filters: p
                .minutes_at_attenuation_filters
                .iter()
                .map(|f| MinutesAtAttenuationFilter {
                    attenuation_range: Some(Range::from(&f.attenuation_range)),
                    drop_if_minutes_in_range: Some(Range::from(&f.drop_if_minutes_in_range)),
                })
                .collect(),
            trl_filters: p
                .trl_filters
                .iter()
                .map(|f| TrlFilter {
                    drop_if_trl_in_range: Some(Range::from(&f.drop_if_trl_in_range)),
                })
                .collect(),
            minutes_at_attenuation_weights: p
                .minutes_at_attenuation_weights
                .iter()
                .map(|w| MinutesAtAttenuationWeight {
                    attenuation_range: Some(Range::from(&w.attenuation_range)),
                    weight: w.weight,
                })
                .collect(),
            normalized_time_per_ew_to_risk_level_mapping: to_proto_mappings(
                &p.normalized_time_per_ew_to_risk_level_mapping,
            ),
            normalized_time_per_day_to_risk_level_mapping: to_proto_mappings(
                &p.normalized_time_per_day_to_risk_level_mapping,
            ),
            trl_encoding: Some(TransmissionRiskLevelEncoding {
                infectiousness_offset_standard: enc.infectiousness_offset_standard,
                infectiousness_offset_high: enc.infectiousness_offset_high,
                report_type_offset_recursive: enc.report_type_offset_recursive,
                report_type_offset_self_report: enc.report_type_offset_self_report,
                report_type_offset_confirmed_clinical_diagnosis: enc
                    .report_type_offset_confirmed_clinical_diagnosis,
                report_type_offset_confirmed_test: enc.report_type_offset_confirmed_test,
            }),
            transmission_risk_level_multiplier: p.transmission_risk_level_multiplier.unwrap_or(0.0),
            transmission_risk_value_mapping: p
                .transmission_risk_value_mapping
                .iter()
                .map(|m| TransmissionRiskValueMapping {
                    transmission_risk_level: m.transmission_risk_level,
                    transmission_risk_value: m.transmission_risk_value,
                })
                .collect(),
            max_encounter_age_in_days: p.max_encounter_age_in_days.unwrap_or(0),
        }
    }
}

impl TryFrom<&RiskCalculationParameters> for v2::RiskCalculationParameters {
    type Error = AppConfigError;

    fn try_from(p: &RiskCalculationParameters) -> Result<Self, AppConfigError> {
        let enc = p.trl_encoding.clone().unwrap_or_default();
        Ok(Self {
            minutes_at_attenuation_filters: p
                .minutes_at_attenuation_filters
                .iter()
                .map(|f| v2::MinutesAtAttenuationFilter {
                    attenuation_range: range(&f.attenuation_range),
                    drop_if_minutes_in_range: range(&f.drop_if_minutes_in_range),
                })
                .collect(),
            trl_filters: p
                .trl_filters
                .iter()
                .map(|f| v2::TrlFilter {
                    drop_if_trl_in_range: range(&f.drop_if_trl_in_range),
                })
                .collect(),
            minutes_at_attenuation_weights: p
                .minutes_at_attenuation_weights
                .iter()
                .map(|w| v2::MinutesAtAttenuationWeight {
                    attenuation_range: range(&w.attenuation_range),
                    weight: w.weight,
                })
                .collect(),
            normalized_time_per_ew_to_risk_level_mapping: from_proto_mappings(
                &p.normalized_time_per_ew_to_risk_level_mapping,
            )?,
            normalized_time_per_day_to_risk_level_mapping: from_proto_mappings(
                &p.normalized_time_per_day_to_risk_level_mapping,
            )?,
            trl_encoding: v2::TrlEncoding {
                infectiousness_offset_standard: enc.infectiousness_offset_standard,
                infectiousness_offset_high: enc.infectiousness_offset_high,
                report_type_offset_recursive: enc.report_type_offset_recursive,
                report_type_offset_self_report: enc.report_type_offset_self_report,
                report_type_offset_confirmed_clinical_diagnosis: enc
                    .report_type_offset_confirmed_clinical_diagnosis,
                report_type_offset_confirmed_test: enc.report_type_offset_confirmed_test,
            },
            // proto3 cannot tell an unset double from 0.0; a zero multiplier is treated as unset.
            transmission_risk_level_multiplier: Some(p.transmission_risk_level_multiplier)
                .filter(|&m| m != 0.0),
            transmission_risk_value_mapping: p
                .transmission_risk_value_mapping
                .iter()
                .map(|m| v2::TransmissionRiskValueMapping {
                    transmission_risk_level: m.transmission_risk_level,
                    transmission_risk_value: m.transmission_risk_value,
                })
                .collect(),
            // Likewise 0 reads as "not set" rather than "only today".
            max_encounter_age_in_days: Some(p.max_encounter_age_in_days).filter(|&d| d != 0),
        })
    }
}

impl From<&v2::DataMapping> for DiagnosisKeysDataMapping {
    fn from(m: &v2::DataMapping) -> Self {
        Self {
            days_since_onset_to_infectiousness: m
                .infectiousness_by_days_since_onset
                .iter()
                .map(|[day, inf]| (*day, *inf))
                .collect(),
            infectiousness_when_days_since_onset_missing: i32::from(
                m.infectiousness_when_days_since_onset_missing,
            ),
            report_type_when_missing: i32::from(m.report_type_when_missing),
        }
    }
}

impl TryFrom<&DiagnosisKeysDataMapping> for v2::DataMapping {
    type Error = AppConfigError;

    fn try_from(m: &DiagnosisKeysDataMapping) -> Result<Self, AppConfigError> {
        let small = |field: &'static str, value: i32| {
            u8::try_from(value).map_err(|_| AppConfigError::OutOfRange {
                field,
                value: i64::from(value),
            })
        };
        Ok(Self {
            infectiousness_by_days_since_onset: m
                .days_since_onset_to_infectiousness
                .iter()
                .map(|(day, inf)| [*day, *inf])
                .collect(),
            infectiousness_when_days_since_onset_missing: small(
                "infectiousnessWhenDaysSinceOnsetMissing",
                m.infectiousness_when_days_since_onset_missing,
            )?,
            report_type_when_missing: small("reportTypeWhenMissing", m.report_type_when_missing)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::proto::app_config::RiskLevel;

    #[test]
    fn final_shipped_round_trips_through_the_wire() {
        let msg = ApplicationConfiguration::final_shipped();
        let bytes = msg.encode_to_vec();
        let decoded = ApplicationConfiguration::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded, msg);
        let params = v1::V1Parameters::try_from(&decoded).unwrap();
        assert_eq!(params, v1::V1Parameters::final_shipped());
    }

    #[test]
    fn final_shipped_values() {
        let msg = ApplicationConfiguration::final_shipped();
        assert_eq!(msg.min_risk_score, 11);
        let ec = msg.exposure_config.as_ref().unwrap();
        let t = ec.transmission.as_ref().unwrap();
        assert_eq!(
            (t.app_defined_1, t.app_defined_2, t.app_defined_3),
            (0, 0, 3)
        );
        assert_eq!(t.app_defined_8(), RiskLevel::Highest);
        let a = ec.attenuation.as_ref().unwrap();
        assert_eq!((a.gt_73_dbm, a.gt_63_le_73_dbm, a.le_10_dbm), (0, 2, 2));
        assert_eq!(ec.days_weight, 20.0);
        let ad = msg.attenuation_duration.as_ref().unwrap();
        assert_eq!(ad.risk_score_normalization_divisor, 50);
        let th = ad.thresholds.as_ref().unwrap();
        assert_eq!((th.lower, th.upper), (55, 63));
        let classes = &msg.risk_score_classes.as_ref().unwrap().risk_classes;
        assert_eq!(classes[1].label, "HIGH");
        assert_eq!((classes[1].min, classes[1].max), (15, 9999));
    }

    #[test]
    fn field_numbers_on_the_wire() {
        let msg = ApplicationConfiguration {
            min_risk_score: 11,
            ..Default::default()
        };
        // Field 1, varint: tag byte 0x08.
        assert_eq!(msg.encode_to_vec(), vec![0x08, 11]);
        let th = Thresholds {
            lower: 55,
            upper: 63,
        };
        assert_eq!(th.encode_to_vec(), vec![0x08, 55, 0x10, 63]);
        let class = RiskScoreClass {
            label: String::new(),
            min: 15,
            max: 0,
            url: String::new(),
        };
        assert_eq!(class.encode_to_vec(), vec![0x10, 15]);
        let range = Range {
            min: 0.0,
            min_exclusive: false,
            max: 0.0,
            max_exclusive: true,
        };
        assert_eq!(range.encode_to_vec(), vec![0x20, 1]);
    }

    #[test]
    fn out_of_range_score_is_rejected() {
        let mut msg = ApplicationConfiguration::final_shipped();
        if let Some(t) = msg
            .exposure_config
            .as_mut()
            .and_then(|e| e.transmission.as_mut())
        {
            t.app_defined_4 = 9;
        }
        assert_eq!(
            v1::V1Parameters::try_from(&msg),
            Err(AppConfigError::OutOfRange {
                field: "exposureConfig.transmission",
                value: 9
            })
        );
        msg.exposure_config = None;
        assert_eq!(
            v1::V1Parameters::try_from(&msg),
            Err(AppConfigError::MissingField("exposureConfig"))
        );
    }

    #[test]
    fn v2_parameters_round_trip() {
        let params = v2::RiskCalculationParameters::cwa_default();
        let msg = RiskCalculationParameters::from(&params);
        let decoded = RiskCalculationParameters::decode(msg.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.max_encounter_age_in_days, 10);
        assert_eq!(
            v2::RiskCalculationParameters::try_from(&decoded).unwrap(),
            params
        );
    }
}
