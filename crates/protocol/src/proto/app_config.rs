//! App configuration messages: the v1 `ApplicationConfiguration` (risk scoring v1) and the v2
//! `RiskCalculationParameters`, with the original's field numbers and enum values. `From`/`TryFrom`
//! impls convert them to and from the scoring parameters in [`crate::risk`] (they live in
//! `risk/proto.rs`, next to the types they fill).
//!
//! The v1 message has all eleven fields of the original; the v2 Android and iOS configurations are
//! in [`super::app_config_v2`]. The v2 parameters' messages are written in `risk_calculation` and
//! re-exported here.

mod risk_calculation;

use std::fmt;

use crate::risk::v1;
pub use risk_calculation::{
    normalized_time_to_risk_level_mapping, MinutesAtAttenuationFilter, MinutesAtAttenuationWeight,
    NormalizedTimeToRiskLevelMapping, Range, RiskCalculationParameters,
    TransmissionRiskLevelEncoding, TransmissionRiskValueMapping, TrlFilter,
};

/// The v1 app configuration the distribution service publishes under
/// `configuration/country/{R}/app_config`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationConfiguration {
    /// Exposures with a lower product score are ignored by the framework's summary scores.
    #[prost(int32, tag = "1")]
    pub min_risk_score: i32,
    /// Combined-risk-score classes.
    #[prost(message, optional, tag = "2")]
    pub risk_score_classes: Option<RiskScoreClassification>,
    /// The framework's per-category scores and weights.
    #[prost(message, optional, tag = "3")]
    pub exposure_config: Option<RiskScoreParameters>,
    /// Attenuation buckets, their weights, offset and normalisation.
    #[prost(message, optional, tag = "4")]
    pub attenuation_duration: Option<AttenuationDuration>,
    /// The app versions the server expects (latest) and accepts (min), per platform.
    #[prost(message, optional, tag = "5")]
    pub app_version: Option<ApplicationVersionConfiguration>,
    /// Feature switches.
    #[prost(message, optional, tag = "6")]
    pub app_features: Option<AppFeatures>,
    /// Countries a user may name as visited (ISO 3166-1 alpha-2).
    #[prost(string, repeated, tag = "7")]
    pub supported_countries: Vec<String>,
    /// Key download parameters of iOS apps.
    #[prost(message, optional, tag = "8")]
    pub ios_key_download_parameters: Option<KeyDownloadParametersIos>,
    /// Key download parameters of Android apps.
    #[prost(message, optional, tag = "9")]
    pub android_key_download_parameters: Option<KeyDownloadParametersAndroid>,
    /// Exposure detection parameters of iOS apps.
    #[prost(message, optional, tag = "10")]
    pub ios_exposure_detection_parameters: Option<ExposureDetectionParametersIos>,
    /// Exposure detection parameters of Android apps.
    #[prost(message, optional, tag = "11")]
    pub android_exposure_detection_parameters: Option<ExposureDetectionParametersAndroid>,
}

/// The app versions per platform (v1 configuration, field 5).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationVersionConfiguration {
    /// iOS.
    #[prost(message, optional, tag = "1")]
    pub ios: Option<ApplicationVersionInfo>,
    /// Android.
    #[prost(message, optional, tag = "2")]
    pub android: Option<ApplicationVersionInfo>,
}

/// The latest and the oldest supported version of one platform's app.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationVersionInfo {
    /// The latest version.
    #[prost(message, optional, tag = "1")]
    pub latest: Option<SemanticVersion>,
    /// The oldest version still supported.
    #[prost(message, optional, tag = "2")]
    pub min: Option<SemanticVersion>,
}

/// `major.minor.patch` (the same message in the v1 and v2 configurations).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct SemanticVersion {
    /// Major.
    #[prost(uint32, tag = "1")]
    pub major: u32,
    /// Minor.
    #[prost(uint32, tag = "2")]
    pub minor: u32,
    /// Patch.
    #[prost(uint32, tag = "3")]
    pub patch: u32,
}

/// Feature switches (the same message in the v1 and v2 configurations).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AppFeatures {
    /// The switches.
    #[prost(message, repeated, tag = "1")]
    pub app_features: Vec<AppFeature>,
}

/// One named switch.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AppFeature {
    /// Its name.
    #[prost(string, tag = "1")]
    pub label: String,
    /// Its value.
    #[prost(int32, tag = "2")]
    pub value: i32,
}

/// A daily package the apps must not use (v1 and v2 key download parameters).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DayPackageMetadata {
    /// Region of the package.
    #[prost(string, tag = "1")]
    pub region: String,
    /// `YYYY-MM-DD`.
    #[prost(string, tag = "2")]
    pub date: String,
    /// The ETag of the revoked bytes.
    #[prost(string, tag = "3")]
    pub etag: String,
}

/// An hourly package the apps must not use.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HourPackageMetadata {
    /// Region of the package.
    #[prost(string, tag = "1")]
    pub region: String,
    /// `YYYY-MM-DD`.
    #[prost(string, tag = "2")]
    pub date: String,
    /// Hour of the day.
    #[prost(int32, tag = "3")]
    pub hour: i32,
    /// The ETag of the revoked bytes.
    #[prost(string, tag = "4")]
    pub etag: String,
}

/// Key download parameters of iOS apps (v1 and v2 configurations).
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyDownloadParametersIos {
    /// Revoked daily packages.
    #[prost(message, repeated, tag = "1")]
    pub revoked_day_packages: Vec<DayPackageMetadata>,
    /// Revoked hourly packages.
    #[prost(message, repeated, tag = "2")]
    pub revoked_hour_packages: Vec<HourPackageMetadata>,
}

/// Key download parameters of Android apps (v1 and v2 configurations).
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyDownloadParametersAndroid {
    /// Revoked daily packages.
    #[prost(message, repeated, tag = "1")]
    pub revoked_day_packages: Vec<DayPackageMetadata>,
    /// Revoked hourly packages.
    #[prost(message, repeated, tag = "2")]
    pub revoked_hour_packages: Vec<HourPackageMetadata>,
    /// Timeout of one file download.
    #[prost(int32, tag = "3")]
    pub download_timeout_in_seconds: i32,
    /// Timeout of a whole download run.
    #[prost(int32, tag = "4")]
    pub overall_timeout_in_seconds: i32,
}

/// Exposure detection parameters of iOS apps (v1 and v2 configurations).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ExposureDetectionParametersIos {
    /// Most detections per day.
    #[prost(int32, tag = "1")]
    pub max_exposure_detections_per_interval: i32,
}

/// Exposure detection parameters of Android apps (v1 and v2 configurations).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ExposureDetectionParametersAndroid {
    /// Most detections per day.
    #[prost(int32, tag = "1")]
    pub max_exposure_detections_per_interval: i32,
    /// Timeout of one detection.
    #[prost(int32, tag = "2")]
    pub overall_timeout_in_seconds: i32,
}

/// A list of risk-score classes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RiskScoreClassification {
    /// The classes.
    #[prost(message, repeated, tag = "1")]
    pub risk_classes: Vec<RiskScoreClass>,
}

/// One labelled band of combined risk scores.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RiskScoreClass {
    /// `LOW` or `HIGH`.
    #[prost(string, tag = "1")]
    pub label: String,
    /// Lower bound.
    #[prost(int32, tag = "2")]
    pub min: i32,
    /// Upper bound.
    #[prost(int32, tag = "3")]
    pub max: i32,
    /// A link the app may show.
    #[prost(string, tag = "4")]
    pub url: String,
}

/// A category score, 0 (unspecified) to 8 (highest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum RiskLevel {
    /// 0.
    Unspecified = 0,
    /// 1.
    Lowest = 1,
    /// 2.
    Low = 2,
    /// 3.
    LowMedium = 3,
    /// 4.
    Medium = 4,
    /// 5.
    MediumHigh = 5,
    /// 6.
    High = 6,
    /// 7.
    VeryHigh = 7,
    /// 8.
    Highest = 8,
}

/// The framework's four score tables and their (unused) weights.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RiskScoreParameters {
    /// Scores by transmission risk level.
    #[prost(message, optional, tag = "1")]
    pub transmission: Option<TransmissionRiskParameters>,
    /// Weight of the transmission category.
    #[prost(double, tag = "2")]
    pub transmission_weight: f64,
    /// Scores by duration bucket.
    #[prost(message, optional, tag = "3")]
    pub duration: Option<DurationRiskParameters>,
    /// Weight of the duration category.
    #[prost(double, tag = "4")]
    pub duration_weight: f64,
    /// Scores by days-since-exposure bucket.
    #[prost(message, optional, tag = "5")]
    pub days_since_last_exposure: Option<DaysSinceLastExposureRiskParameters>,
    /// Weight of the days category.
    #[prost(double, tag = "6")]
    pub days_weight: f64,
    /// Scores by attenuation bucket.
    #[prost(message, optional, tag = "7")]
    pub attenuation: Option<AttenuationRiskParameters>,
    /// Weight of the attenuation category.
    #[prost(double, tag = "8")]
    pub attenuation_weight: f64,
}

/// Scores by transmission risk level 1..=8.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TransmissionRiskParameters {
    /// Level 1.
    #[prost(enumeration = "RiskLevel", tag = "1")]
    pub app_defined_1: i32,
    /// Level 2.
    #[prost(enumeration = "RiskLevel", tag = "2")]
    pub app_defined_2: i32,
    /// Level 3.
    #[prost(enumeration = "RiskLevel", tag = "3")]
    pub app_defined_3: i32,
    /// Level 4.
    #[prost(enumeration = "RiskLevel", tag = "4")]
    pub app_defined_4: i32,
    /// Level 5.
    #[prost(enumeration = "RiskLevel", tag = "5")]
    pub app_defined_5: i32,
    /// Level 6.
    #[prost(enumeration = "RiskLevel", tag = "6")]
    pub app_defined_6: i32,
    /// Level 7.
    #[prost(enumeration = "RiskLevel", tag = "7")]
    pub app_defined_7: i32,
    /// Level 8.
    #[prost(enumeration = "RiskLevel", tag = "8")]
    pub app_defined_8: i32,
}

/// Scores by exposure duration.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DurationRiskParameters {
    /// 0 minutes.
    #[prost(enumeration = "RiskLevel", tag = "1")]
    pub eq_0_min: i32,
    /// Up to 5 minutes.
    #[prost(enumeration = "RiskLevel", tag = "2")]
    pub gt_0_le_5_min: i32,
    /// Up to 10 minutes.
    #[prost(enumeration = "RiskLevel", tag = "3")]
    pub gt_5_le_10_min: i32,
    /// Up to 15 minutes.
    #[prost(enumeration = "RiskLevel", tag = "4")]
    pub gt_10_le_15_min: i32,
    /// Up to 20 minutes.
    #[prost(enumeration = "RiskLevel", tag = "5")]
    pub gt_15_le_20_min: i32,
    /// Up to 25 minutes.
    #[prost(enumeration = "RiskLevel", tag = "6")]
    pub gt_20_le_25_min: i32,
    /// Up to 30 minutes.
    #[prost(enumeration = "RiskLevel", tag = "7")]
    pub gt_25_le_30_min: i32,
    /// Over 30 minutes.
    #[prost(enumeration = "RiskLevel", tag = "8")]
    pub gt_30_min: i32,
}

/// Scores by days since the exposure.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DaysSinceLastExposureRiskParameters {
    /// 14 days or more.
    #[prost(enumeration = "RiskLevel", tag = "1")]
    pub ge_14_days: i32,
    /// 12 or 13 days.
    #[prost(enumeration = "RiskLevel", tag = "2")]
    pub ge_12_lt_14_days: i32,
    /// 10 or 11 days.
    #[prost(enumeration = "RiskLevel", tag = "3")]
    pub ge_10_lt_12_days: i32,
    /// 8 or 9 days.
    #[prost(enumeration = "RiskLevel", tag = "4")]
    pub ge_8_lt_10_days: i32,
    /// 6 or 7 days.
    #[prost(enumeration = "RiskLevel", tag = "5")]
    pub ge_6_lt_8_days: i32,
    /// 4 or 5 days.
    #[prost(enumeration = "RiskLevel", tag = "6")]
    pub ge_4_lt_6_days: i32,
    /// 2 or 3 days.
    #[prost(enumeration = "RiskLevel", tag = "7")]
    pub ge_2_lt_4_days: i32,
    /// 0 or 1 day.
    #[prost(enumeration = "RiskLevel", tag = "8")]
    pub ge_0_lt_2_days: i32,
}

/// Scores by mean attenuation.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttenuationRiskParameters {
    /// Above 73 dB.
    #[prost(enumeration = "RiskLevel", tag = "1")]
    pub gt_73_dbm: i32,
    /// 64..=73 dB.
    #[prost(enumeration = "RiskLevel", tag = "2")]
    pub gt_63_le_73_dbm: i32,
    /// 52..=63 dB.
    #[prost(enumeration = "RiskLevel", tag = "3")]
    pub gt_51_le_63_dbm: i32,
    /// 34..=51 dB.
    #[prost(enumeration = "RiskLevel", tag = "4")]
    pub gt_33_le_51_dbm: i32,
    /// 28..=33 dB.
    #[prost(enumeration = "RiskLevel", tag = "5")]
    pub gt_27_le_33_dbm: i32,
    /// 16..=27 dB.
    #[prost(enumeration = "RiskLevel", tag = "6")]
    pub gt_15_le_27_dbm: i32,
    /// 11..=15 dB.
    #[prost(enumeration = "RiskLevel", tag = "7")]
    pub gt_10_le_15_dbm: i32,
    /// 10 dB or less.
    #[prost(enumeration = "RiskLevel", tag = "8")]
    pub le_10_dbm: i32,
}

/// Attenuation buckets, weights, offset and normalisation divisor.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttenuationDuration {
    /// Where the buckets split.
    #[prost(message, optional, tag = "1")]
    pub thresholds: Option<Thresholds>,
    /// The buckets' weights.
    #[prost(message, optional, tag = "2")]
    pub weights: Option<Weights>,
    /// Added to the weighted minutes.
    #[prost(int32, tag = "3")]
    pub default_bucket_offset: i32,
    /// Divides the maximum risk score.
    #[prost(int32, tag = "4")]
    pub risk_score_normalization_divisor: i32,
}

/// The two attenuation thresholds in dB.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Thresholds {
    /// Lower threshold.
    #[prost(int32, tag = "1")]
    pub lower: i32,
    /// Upper threshold.
    #[prost(int32, tag = "2")]
    pub upper: i32,
}

/// The three bucket weights.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Weights {
    /// Below the lower threshold.
    #[prost(double, tag = "1")]
    pub low: f64,
    /// Between the thresholds.
    #[prost(double, tag = "2")]
    pub mid: f64,
    /// At or above the upper threshold.
    #[prost(double, tag = "3")]
    pub high: f64,
}

/// Why an app configuration message could not become scoring parameters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AppConfigError {
    /// A required sub-message is absent.
    MissingField(&'static str),
    /// A number does not fit the field's range.
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value received.
        value: i64,
    },
    /// The values fit their fields but not together.
    Invalid(v1::V1Error),
}

impl fmt::Display for AppConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingField(field) => write!(f, "app configuration lacks {field}"),
            Self::OutOfRange { field, value } => {
                write!(
                    f,
                    "app configuration field {field} is out of range: {value}"
                )
            }
            Self::Invalid(e) => write!(f, "invalid app configuration: {e}"),
        }
    }
}

impl std::error::Error for AppConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

impl ApplicationConfiguration {
    /// The v1 configuration the original server shipped last (reference §4.2, "Final" column).
    pub fn final_shipped() -> Self {
        Self::from(&v1::V1Parameters::final_shipped())
    }
}
