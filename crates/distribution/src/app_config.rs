//! The app configurations phones download, all three forms from one table of the operator's
//! configuration (`[distribution.app_config]`): the v1 `app_config` of the early apps, and the v2
//! Android and iOS configurations of ENF v2 apps.
//!
//! One source keeps them from disagreeing: the same supported countries, versions and features in
//! each, the same v2 risk calculation for both platforms, and a data mapping that decodes the
//! transmission-risk encoding the distribution applies to published keys (checked by
//! [`AppConfigSettings::validate`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use warnkit_protocol::proto::app_config::{
    AppFeature, AppFeatures, ApplicationConfiguration, ApplicationVersionConfiguration,
    ApplicationVersionInfo, ExposureDetectionParametersAndroid, ExposureDetectionParametersIos,
    KeyDownloadParametersAndroid, KeyDownloadParametersIos, RiskCalculationParameters,
    SemanticVersion,
};
use warnkit_protocol::proto::app_config_v2::{
    ApplicationConfigurationAndroid, ApplicationConfigurationIos, CoronaPcrTestParameters,
    CoronaRapidAntigenTestParameters, CoronaTestParameters, DailySummariesConfig,
    DiagnosisKeysDataMapping, ExposureConfiguration,
};
use warnkit_protocol::risk::v1::V1Parameters;
use warnkit_protocol::risk::v2::keys::MAX_TRL;
use warnkit_protocol::risk::v2::{self, DataMapping, KeyEncoding};

/// What the published app configurations say, with the original's values as defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfigSettings {
    /// Countries a user may name as visited. Default: the EU member states, as the submission
    /// service accepts.
    pub supported_countries: Vec<String>,
    /// Oldest Android version code the apps may run (`minVersionCode`; a higher one forces an update).
    pub android_min_version_code: i64,
    /// Latest Android version code.
    pub android_latest_version_code: i64,
    /// Oldest Android version, `major.minor.patch` (v1 configuration).
    pub android_min_version: String,
    /// Latest Android version (v1 configuration).
    pub android_latest_version: String,
    /// Oldest iOS version.
    pub ios_min_version: String,
    /// Latest iOS version.
    pub ios_latest_version: String,
    /// Feature switches by label.
    pub app_features: BTreeMap<String, i32>,
    /// Most exposure detections a phone runs per day.
    pub max_exposure_detections_per_interval: i32,
    /// Android: seconds one key file download may take.
    pub android_download_timeout_secs: i32,
    /// Android: seconds a whole key download may take.
    pub android_download_overall_timeout_secs: i32,
    /// Android: seconds one exposure detection may take.
    pub android_exposure_detection_timeout_secs: i32,
    /// Hours after which a rapid test counts as outdated.
    pub rapid_test_hours_to_deem_outdated: u32,
    /// Hours after a rapid test's sample collection before the risk card shows again.
    pub rapid_test_hours_to_show_risk_card: u32,
    /// Hours after a PCR test's registration before the risk card shows again.
    pub pcr_test_hours_to_show_risk_card: u32,
    /// Risk scoring v1 (the v1 `app_config`): see `warnkit risk v1 --help`.
    pub risk_v1: V1Parameters,
    /// Risk scoring v2 (both v2 configurations): the exposure-window parameters.
    pub risk_v2: v2::RiskCalculationParameters,
    /// Report type and days since onset published for each transmission risk level.
    pub key_encoding: KeyEncoding,
    /// How apps turn days since onset into infectiousness (must decode `key_encoding`).
    pub data_mapping: DataMapping,
}

impl Default for AppConfigSettings {
    fn default() -> Self {
        let features = [
            ("unencrypted-checkins-enabled", 0),
            ("validation-service-android-min-version-code", 0),
            ("validation-service-ios-min-version-major", 0),
            ("validation-service-ios-min-version-minor", 0),
            ("validation-service-ios-min-version-patch", 0),
            ("dcc-person-count-max", 20),
            ("dcc-person-warn-threshold", 4),
            ("dcc-admission-check-scenarios-enabled", 0),
        ];
        Self {
            supported_countries: warnkit_protocol::limits::EU_COUNTRIES
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            android_min_version_code: 31,
            android_latest_version_code: 31,
            android_min_version: "1.0.4".into(),
            android_latest_version: "1.0.4".into(),
            ios_min_version: "1.5.3".into(),
            ios_latest_version: "1.5.3".into(),
            app_features: features
                .iter()
                .map(|(label, value)| ((*label).to_owned(), *value))
                .collect(),
            max_exposure_detections_per_interval: 6,
            android_download_timeout_secs: 60,
            android_download_overall_timeout_secs: 480,
            android_exposure_detection_timeout_secs: 900,
            rapid_test_hours_to_deem_outdated: 48,
            rapid_test_hours_to_show_risk_card: 168,
            pcr_test_hours_to_show_risk_card: 168,
            risk_v1: V1Parameters::final_shipped(),
            risk_v2: v2::RiskCalculationParameters::cwa_default(),
            key_encoding: KeyEncoding::default(),
            data_mapping: DataMapping::default(),
        }
    }
}

/// `major.minor.patch` as the configuration message; `None` when it is not three numbers.
fn semantic(text: &str) -> Option<SemanticVersion> {
    let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
    let version = SemanticVersion {
        major: parts.next()??,
        minor: parts.next()??,
        patch: parts.next()??,
    };
    parts.next().is_none().then_some(version)
}

impl AppConfigSettings {
    /// Checks every value the configurations carry, and that apps decoding published keys with
    /// `data_mapping` and `risk_v2` read back every level from `min_trl` up.
    pub fn validate(&self, min_trl: u8) -> Result<(), String> {
        for country in &self.supported_countries {
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "supported_countries: {country:?} is not an ISO 3166-1 alpha-2 code such as \"DE\""
                ));
            }
        }
        for (name, version) in [
            ("android_min_version", &self.android_min_version),
            ("android_latest_version", &self.android_latest_version),
            ("ios_min_version", &self.ios_min_version),
            ("ios_latest_version", &self.ios_latest_version),
        ] {
            if semantic(version).is_none() {
                return Err(format!("{name} = {version:?}: expected major.minor.patch"));
            }
        }
        self.risk_v1
            .validate()
            .map_err(|e| format!("risk_v1: {e}"))?;
        self.data_mapping
            .validate()
            .map_err(|e| format!("data_mapping: {e}"))?;
        self.key_encoding
            .check_round_trip(&self.data_mapping, &self.risk_v2, min_trl..=MAX_TRL)
            .map_err(|e| {
                format!("key_encoding, data_mapping and risk_v2.trlEncoding disagree: {e}")
            })
    }

    fn features(&self) -> AppFeatures {
        AppFeatures {
            app_features: self
                .app_features
                .iter()
                .map(|(label, value)| AppFeature {
                    label: label.clone(),
                    value: *value,
                })
                .collect(),
        }
    }

    fn version_info(min: &str, latest: &str) -> ApplicationVersionInfo {
        ApplicationVersionInfo {
            latest: semantic(latest),
            min: semantic(min),
        }
    }

    fn ios_detection(&self) -> ExposureDetectionParametersIos {
        ExposureDetectionParametersIos {
            max_exposure_detections_per_interval: self.max_exposure_detections_per_interval,
        }
    }

    fn android_detection(&self) -> ExposureDetectionParametersAndroid {
        ExposureDetectionParametersAndroid {
            max_exposure_detections_per_interval: self.max_exposure_detections_per_interval,
            overall_timeout_in_seconds: self.android_exposure_detection_timeout_secs,
        }
    }

    fn risk_calculation(&self) -> RiskCalculationParameters {
        RiskCalculationParameters::from(&self.risk_v2)
    }

    fn infectiousness_map(&self) -> BTreeMap<i32, i32> {
        DiagnosisKeysDataMapping::from(&self.data_mapping).days_since_onset_to_infectiousness
    }

    fn test_parameters(&self) -> CoronaTestParameters {
        CoronaTestParameters {
            corona_rapid_antigen_test_parameters: Some(CoronaRapidAntigenTestParameters {
                hours_to_deem_test_outdated: self.rapid_test_hours_to_deem_outdated,
                hours_since_sample_collection_to_show_risk_card: self
                    .rapid_test_hours_to_show_risk_card,
            }),
            corona_pcr_test_parameters: Some(CoronaPcrTestParameters {
                hours_since_test_registration_to_show_risk_card: self
                    .pcr_test_hours_to_show_risk_card,
            }),
        }
    }

    /// The v1 configuration (`version/v1/configuration/country/{R}/app_config`).
    pub fn v1(&self) -> ApplicationConfiguration {
        ApplicationConfiguration {
            app_version: Some(ApplicationVersionConfiguration {
                ios: Some(Self::version_info(
                    &self.ios_min_version,
                    &self.ios_latest_version,
                )),
                android: Some(Self::version_info(
                    &self.android_min_version,
                    &self.android_latest_version,
                )),
            }),
            app_features: Some(self.features()),
            supported_countries: self.supported_countries.clone(),
            ios_key_download_parameters: Some(KeyDownloadParametersIos::default()),
            android_key_download_parameters: Some(KeyDownloadParametersAndroid {
                download_timeout_in_seconds: self.android_download_timeout_secs,
                overall_timeout_in_seconds: self.android_download_overall_timeout_secs,
                ..Default::default()
            }),
            ios_exposure_detection_parameters: Some(self.ios_detection()),
            android_exposure_detection_parameters: Some(self.android_detection()),
            ..ApplicationConfiguration::from(&self.risk_v1)
        }
    }

    /// The v2 Android configuration (`version/v2/app_config_android`, also `version/v1/...`).
    pub fn android(&self) -> ApplicationConfigurationAndroid {
        ApplicationConfigurationAndroid {
            min_version_code: self.android_min_version_code,
            latest_version_code: self.android_latest_version_code,
            app_features: Some(self.features()),
            supported_countries: self.supported_countries.clone(),
            key_download_parameters: Some(KeyDownloadParametersAndroid {
                download_timeout_in_seconds: self.android_download_timeout_secs,
                overall_timeout_in_seconds: self.android_download_overall_timeout_secs,
                ..Default::default()
            }),
            exposure_detection_parameters: Some(self.android_detection()),
            risk_calculation_parameters: Some(self.risk_calculation()),
            diagnosis_keys_data_mapping: Some(DiagnosisKeysDataMapping::from(&self.data_mapping)),
            // The framework's daily summaries are not what the apps score with; neutral weights, as
            // the original publishes.
            daily_summaries_config: Some(DailySummariesConfig {
                attenuation_bucket_threshold_db: vec![30, 50, 70],
                attenuation_bucket_weights: vec![1.0; 4],
                days_since_exposure_threshold: 0,
                infectiousness_weights: [(1, 1.0), (2, 1.0)].into_iter().collect(),
                minimum_window_score: 0.0,
                report_type_weights: (1..=4).map(|r| (r, 1.0)).collect(),
            }),
            corona_test_parameters: Some(self.test_parameters()),
        }
    }

    /// The v2 iOS configuration (`version/v2/app_config_ios`, also `version/v1/...`).
    pub fn ios(&self) -> ApplicationConfigurationIos {
        ApplicationConfigurationIos {
            min_version: semantic(&self.ios_min_version),
            latest_version: semantic(&self.ios_latest_version),
            app_features: Some(self.features()),
            supported_countries: self.supported_countries.clone(),
            key_download_parameters: Some(KeyDownloadParametersIos::default()),
            exposure_detection_parameters: Some(self.ios_detection()),
            risk_calculation_parameters: Some(self.risk_calculation()),
            exposure_configuration: Some(ExposureConfiguration {
                infectiousness_for_days_since_onset_of_symptoms: self.infectiousness_map(),
                // iOS's name for the data mapping's missing report type: the same value, so both
                // platforms read keys alike.
                report_type_none_map: i32::from(self.data_mapping.report_type_when_missing),
                attenuation_duration_thresholds: vec![30, 50, 70],
                immediate_duration_weight: 1.0,
                medium_duration_weight: 1.0,
                near_duration_weight: 1.0,
                other_duration_weight: 1.0,
                days_since_last_exposure_threshold: 0,
                infectiousness_standard_weight: 1.0,
                infectiousness_high_weight: 1.0,
                report_type_confirmed_test_weight: 1.0,
                report_type_confirmed_clinical_diagnosis_weight: 1.0,
                report_type_self_reported_weight: 1.0,
                report_type_recursive_weight: 1.0,
            }),
            corona_test_parameters: Some(self.test_parameters()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_consistent() {
        let s = AppConfigSettings::default();
        s.validate(1).unwrap();
        let android = s.android();
        let ios = s.ios();
        assert_eq!(
            android.risk_calculation_parameters,
            ios.risk_calculation_parameters
        );
        assert_eq!(
            android
                .diagnosis_keys_data_mapping
                .unwrap()
                .days_since_onset_to_infectiousness,
            ios.exposure_configuration
                .unwrap()
                .infectiousness_for_days_since_onset_of_symptoms
        );
        assert_eq!(s.v1().supported_countries, android.supported_countries);
        assert_eq!(s.v1().min_risk_score, 11);
    }

    #[test]
    fn bad_values_are_named() {
        let mut s = AppConfigSettings {
            supported_countries: vec!["de".into()],
            ..Default::default()
        };
        assert!(s.validate(3).unwrap_err().contains("supported_countries"));
        s.supported_countries = vec!["DE".into()];
        s.ios_min_version = "1.5".into();
        assert!(s.validate(3).unwrap_err().contains("ios_min_version"));
        s.ios_min_version = "1.5.3".into();
        s.risk_v2.trl_encoding.report_type_offset_confirmed_test = 5;
        let err = s.validate(3).unwrap_err();
        assert!(err.contains("disagree") && err.contains("level 7"), "{err}");
    }
}
