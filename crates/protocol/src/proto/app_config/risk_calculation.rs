//! The v2 `RiskCalculationParameters` and the messages inside them: the filters, weights and mappings
//! of risk scoring v2, which the v2 Android and iOS configurations both carry.

/// The v2 risk calculation parameters (part of the v2 app configurations).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RiskCalculationParameters {
    /// Minutes-at-attenuation filters.
    #[prost(message, repeated, tag = "1")]
    pub minutes_at_attenuation_filters: Vec<MinutesAtAttenuationFilter>,
    /// Transmission-risk-level filters.
    #[prost(message, repeated, tag = "2")]
    pub trl_filters: Vec<TrlFilter>,
    /// Weights by minimum attenuation.
    #[prost(message, repeated, tag = "3")]
    pub minutes_at_attenuation_weights: Vec<MinutesAtAttenuationWeight>,
    /// Per-window normalized time → risk level.
    #[prost(message, repeated, tag = "4")]
    pub normalized_time_per_ew_to_risk_level_mapping: Vec<NormalizedTimeToRiskLevelMapping>,
    /// Per-day normalized time → risk level.
    #[prost(message, repeated, tag = "5")]
    pub normalized_time_per_day_to_risk_level_mapping: Vec<NormalizedTimeToRiskLevelMapping>,
    /// Transmission risk level decoding.
    #[prost(message, optional, tag = "6")]
    pub trl_encoding: Option<TransmissionRiskLevelEncoding>,
    /// Deprecated: value = level × this.
    #[prost(double, tag = "7")]
    pub transmission_risk_level_multiplier: f64,
    /// Level → value.
    #[prost(message, repeated, tag = "8")]
    pub transmission_risk_value_mapping: Vec<TransmissionRiskValueMapping>,
    /// Windows older than this many days are ignored (0: not set).
    #[prost(uint32, tag = "9")]
    pub max_encounter_age_in_days: u32,
}

/// A numeric range.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Range {
    /// Lower end.
    #[prost(double, tag = "1")]
    pub min: f64,
    /// Whether the lower end is excluded.
    #[prost(bool, tag = "2")]
    pub min_exclusive: bool,
    /// Upper end.
    #[prost(double, tag = "3")]
    pub max: f64,
    /// Whether the upper end is excluded.
    #[prost(bool, tag = "4")]
    pub max_exclusive: bool,
}

/// Drops windows by minutes spent at an attenuation.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MinutesAtAttenuationFilter {
    /// Which scans count.
    #[prost(message, optional, tag = "1")]
    pub attenuation_range: Option<Range>,
    /// Drop when the minutes lie here.
    #[prost(message, optional, tag = "2")]
    pub drop_if_minutes_in_range: Option<Range>,
}

/// Drops windows by transmission risk level.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TrlFilter {
    /// Drop when the level lies here.
    #[prost(message, optional, tag = "1")]
    pub drop_if_trl_in_range: Option<Range>,
}

/// A weight by minimum attenuation.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MinutesAtAttenuationWeight {
    /// Scans whose minimum attenuation lies here.
    #[prost(message, optional, tag = "1")]
    pub attenuation_range: Option<Range>,
    /// Their weight.
    #[prost(double, tag = "2")]
    pub weight: f64,
}

/// Normalized time → risk level.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NormalizedTimeToRiskLevelMapping {
    /// The normalized times.
    #[prost(message, optional, tag = "1")]
    pub normalized_time_range: Option<Range>,
    /// Their risk level.
    #[prost(
        enumeration = "normalized_time_to_risk_level_mapping::RiskLevel",
        tag = "2"
    )]
    pub risk_level: i32,
}

/// Types nested in [`NormalizedTimeToRiskLevelMapping`].
pub mod normalized_time_to_risk_level_mapping {
    /// A v2 risk level.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum RiskLevel {
        /// Not set.
        Unspecified = 0,
        /// Low.
        Low = 1,
        /// High.
        High = 2,
    }
}

/// Offsets that decode the transmission risk level.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TransmissionRiskLevelEncoding {
    /// For STANDARD infectiousness.
    #[prost(int32, tag = "1")]
    pub infectiousness_offset_standard: i32,
    /// For HIGH infectiousness.
    #[prost(int32, tag = "2")]
    pub infectiousness_offset_high: i32,
    /// For RECURSIVE.
    #[prost(int32, tag = "3")]
    pub report_type_offset_recursive: i32,
    /// For SELF_REPORT.
    #[prost(int32, tag = "4")]
    pub report_type_offset_self_report: i32,
    /// For CONFIRMED_CLINICAL_DIAGNOSIS.
    #[prost(int32, tag = "5")]
    pub report_type_offset_confirmed_clinical_diagnosis: i32,
    /// For CONFIRMED_TEST.
    #[prost(int32, tag = "6")]
    pub report_type_offset_confirmed_test: i32,
}

/// Transmission risk level → value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TransmissionRiskValueMapping {
    /// The level.
    #[prost(int32, tag = "1")]
    pub transmission_risk_level: i32,
    /// Its value.
    #[prost(double, tag = "2")]
    pub transmission_risk_value: f64,
}
