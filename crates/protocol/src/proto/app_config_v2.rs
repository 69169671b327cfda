//! The v2 app configurations of ENF v2 apps: `ApplicationConfigurationAndroid` and
//! `ApplicationConfigurationIOS` (proto3), with the original's field numbers.
//!
//! Declared are the fields an exposure-notification backend fills: versions, features, supported
//! countries, key download and exposure detection parameters, the risk calculation parameters, the
//! diagnosis-keys data mapping (Android) or exposure configuration (iOS), and the test parameters.
//! The original's later fields for analytics, surveys, event check-ins and certificates (Android
//! 10–13, 15, 16; iOS 9–12, 14, 15) are left out; apps use their defaults when a field is absent.

use std::collections::BTreeMap;

// The v2 key download parameters have the v1 fields and one more for revoked event packages (Android
// 5, iOS 3), which warnkit never fills: the v1 messages serve both.
use super::app_config::{
    AppFeatures, ExposureDetectionParametersAndroid, ExposureDetectionParametersIos,
    KeyDownloadParametersAndroid, KeyDownloadParametersIos, RiskCalculationParameters,
    SemanticVersion,
};

/// The configuration Android apps download from `version/v2/app_config_android`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationConfigurationAndroid {
    /// Oldest supported app version code.
    #[prost(int64, tag = "1")]
    pub min_version_code: i64,
    /// Latest app version code.
    #[prost(int64, tag = "2")]
    pub latest_version_code: i64,
    /// Feature switches.
    #[prost(message, optional, tag = "3")]
    pub app_features: Option<AppFeatures>,
    /// Countries a user may name as visited.
    #[prost(string, repeated, tag = "4")]
    pub supported_countries: Vec<String>,
    /// Key download parameters.
    #[prost(message, optional, tag = "5")]
    pub key_download_parameters: Option<KeyDownloadParametersAndroid>,
    /// Exposure detection parameters.
    #[prost(message, optional, tag = "6")]
    pub exposure_detection_parameters: Option<ExposureDetectionParametersAndroid>,
    /// The exposure-window risk calculation.
    #[prost(message, optional, tag = "7")]
    pub risk_calculation_parameters: Option<RiskCalculationParameters>,
    /// How the framework reads days since onset and missing report types.
    #[prost(message, optional, tag = "8")]
    pub diagnosis_keys_data_mapping: Option<DiagnosisKeysDataMapping>,
    /// The framework's daily summaries.
    #[prost(message, optional, tag = "9")]
    pub daily_summaries_config: Option<DailySummariesConfig>,
    /// PCR and rapid test parameters.
    #[prost(message, optional, tag = "14")]
    pub corona_test_parameters: Option<CoronaTestParameters>,
}

/// The configuration iOS apps download from `version/v2/app_config_ios`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationConfigurationIos {
    /// Oldest supported app version.
    #[prost(message, optional, tag = "1")]
    pub min_version: Option<SemanticVersion>,
    /// Latest app version.
    #[prost(message, optional, tag = "2")]
    pub latest_version: Option<SemanticVersion>,
    /// Feature switches.
    #[prost(message, optional, tag = "3")]
    pub app_features: Option<AppFeatures>,
    /// Countries a user may name as visited.
    #[prost(string, repeated, tag = "4")]
    pub supported_countries: Vec<String>,
    /// Key download parameters.
    #[prost(message, optional, tag = "5")]
    pub key_download_parameters: Option<KeyDownloadParametersIos>,
    /// Exposure detection parameters.
    #[prost(message, optional, tag = "6")]
    pub exposure_detection_parameters: Option<ExposureDetectionParametersIos>,
    /// The exposure-window risk calculation.
    #[prost(message, optional, tag = "7")]
    pub risk_calculation_parameters: Option<RiskCalculationParameters>,
    /// The framework's exposure configuration (iOS's form of the data mapping and daily summaries).
    #[prost(message, optional, tag = "8")]
    pub exposure_configuration: Option<ExposureConfiguration>,
    /// PCR and rapid test parameters.
    #[prost(message, optional, tag = "13")]
    pub corona_test_parameters: Option<CoronaTestParameters>,
}

/// The framework's `DiagnosisKeysDataMapping` (Android).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DiagnosisKeysDataMapping {
    /// Days since onset → infectiousness number.
    #[prost(btree_map = "int32, int32", tag = "1")]
    pub days_since_onset_to_infectiousness: BTreeMap<i32, i32>,
    /// Infectiousness of keys without days since onset.
    #[prost(int32, tag = "2")]
    pub infectiousness_when_days_since_onset_missing: i32,
    /// Report type of keys without one.
    #[prost(int32, tag = "3")]
    pub report_type_when_missing: i32,
}

/// The framework's `DailySummariesConfig` (Android).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DailySummariesConfig {
    /// Attenuation bucket thresholds in dB.
    #[prost(int32, repeated, tag = "1")]
    pub attenuation_bucket_threshold_db: Vec<i32>,
    /// Weights of the buckets.
    #[prost(double, repeated, tag = "2")]
    pub attenuation_bucket_weights: Vec<f64>,
    /// Days since exposure considered.
    #[prost(int32, tag = "3")]
    pub days_since_exposure_threshold: i32,
    /// Infectiousness number → weight.
    #[prost(btree_map = "int32, double", tag = "4")]
    pub infectiousness_weights: BTreeMap<i32, f64>,
    /// Windows scoring below are ignored.
    #[prost(double, tag = "5")]
    pub minimum_window_score: f64,
    /// Report type number → weight.
    #[prost(btree_map = "int32, double", tag = "6")]
    pub report_type_weights: BTreeMap<i32, f64>,
}

/// The framework's `ENExposureConfiguration` (iOS).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExposureConfiguration {
    /// Days since onset → infectiousness number.
    #[prost(btree_map = "int32, int32", tag = "1")]
    pub infectiousness_for_days_since_onset_of_symptoms: BTreeMap<i32, i32>,
    /// Report type of keys without one.
    #[prost(int32, tag = "2")]
    pub report_type_none_map: i32,
    /// Attenuation duration thresholds in dB.
    #[prost(int32, repeated, tag = "3")]
    pub attenuation_duration_thresholds: Vec<i32>,
    /// Weight of immediate-range time.
    #[prost(double, tag = "4")]
    pub immediate_duration_weight: f64,
    /// Weight of medium-range time.
    #[prost(double, tag = "5")]
    pub medium_duration_weight: f64,
    /// Weight of near-range time.
    #[prost(double, tag = "6")]
    pub near_duration_weight: f64,
    /// Weight of other time.
    #[prost(double, tag = "7")]
    pub other_duration_weight: f64,
    /// Days since exposure considered.
    #[prost(int32, tag = "8")]
    pub days_since_last_exposure_threshold: i32,
    /// Weight of standard infectiousness.
    #[prost(double, tag = "9")]
    pub infectiousness_standard_weight: f64,
    /// Weight of high infectiousness.
    #[prost(double, tag = "10")]
    pub infectiousness_high_weight: f64,
    /// Weight of CONFIRMED_TEST.
    #[prost(double, tag = "11")]
    pub report_type_confirmed_test_weight: f64,
    /// Weight of CONFIRMED_CLINICAL_DIAGNOSIS.
    #[prost(double, tag = "12")]
    pub report_type_confirmed_clinical_diagnosis_weight: f64,
    /// Weight of SELF_REPORT.
    #[prost(double, tag = "13")]
    pub report_type_self_reported_weight: f64,
    /// Weight of RECURSIVE.
    #[prost(double, tag = "14")]
    pub report_type_recursive_weight: f64,
}

/// PCR and rapid test parameters.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct CoronaTestParameters {
    /// Rapid antigen tests.
    #[prost(message, optional, tag = "1")]
    pub corona_rapid_antigen_test_parameters: Option<CoronaRapidAntigenTestParameters>,
    /// PCR tests.
    #[prost(message, optional, tag = "2")]
    pub corona_pcr_test_parameters: Option<CoronaPcrTestParameters>,
}

/// Rapid antigen test parameters.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct CoronaRapidAntigenTestParameters {
    /// Hours after which a rapid test counts as outdated.
    #[prost(uint32, tag = "1")]
    pub hours_to_deem_test_outdated: u32,
    /// Hours after sample collection before the risk card shows again.
    #[prost(uint32, tag = "2")]
    pub hours_since_sample_collection_to_show_risk_card: u32,
}

/// PCR test parameters.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct CoronaPcrTestParameters {
    /// Hours after registration before the risk card shows again.
    #[prost(uint32, tag = "1")]
    pub hours_since_test_registration_to_show_risk_card: u32,
}
