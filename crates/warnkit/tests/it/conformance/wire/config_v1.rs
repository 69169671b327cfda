//! The v1 app configuration tables: `internal/app_config.proto` and its neighbours (proto3).

use super::Kind::*;
use super::Schema;

// internal/app_config.proto and its neighbours (proto3): the v1 configuration.
schema!(
    APP_CONFIG_V1,
    "ApplicationConfiguration",
    [
        (1, "minRiskScore", Int32, false),
        (
            2,
            "riskScoreClasses",
            Msg(&RISK_SCORE_CLASSIFICATION),
            false
        ),
        (3, "exposureConfig", Msg(&RISK_SCORE_PARAMETERS), false),
        (4, "attenuationDuration", Msg(&ATTENUATION_DURATION), false),
        (5, "appVersion", Msg(&APP_VERSION_CONFIG), false),
        (6, "appFeatures", Msg(&APP_FEATURES), false),
        (7, "supportedCountries", Str, true),
        (
            8,
            "iosKeyDownloadParameters",
            Msg(&KEY_DOWNLOAD_IOS_V1),
            false
        ),
        (
            9,
            "androidKeyDownloadParameters",
            Msg(&KEY_DOWNLOAD_ANDROID_V1),
            false
        ),
        (
            10,
            "iosExposureDetectionParameters",
            Msg(&EXPOSURE_DETECTION_IOS),
            false
        ),
        (
            11,
            "androidExposureDetectionParameters",
            Msg(&EXPOSURE_DETECTION_ANDROID),
            false
        ),
    ]
);
schema!(
    RISK_SCORE_CLASSIFICATION,
    "RiskScoreClassification",
    [(1, "risk_classes", Msg(&RISK_SCORE_CLASS), true),]
);
schema!(
    RISK_SCORE_CLASS,
    "RiskScoreClass",
    [
        (1, "label", Str, false),
        (2, "min", Int32, false),
        (3, "max", Int32, false),
        (4, "url", Str, false),
    ]
);
schema!(
    RISK_SCORE_PARAMETERS,
    "RiskScoreParameters",
    [
        (1, "transmission", Msg(&EIGHT_LEVELS), false),
        (2, "transmission_weight", Double, false),
        (3, "duration", Msg(&EIGHT_LEVELS), false),
        (4, "duration_weight", Double, false),
        (5, "days_since_last_exposure", Msg(&EIGHT_LEVELS), false),
        (6, "days_weight", Double, false),
        (7, "attenuation", Msg(&EIGHT_LEVELS), false),
        (8, "attenuation_weight", Double, false),
    ]
);
schema!(
    EIGHT_LEVELS,
    "RiskScoreParameters.*RiskParameters",
    [
        (1, "1", Enum, false),
        (2, "2", Enum, false),
        (3, "3", Enum, false),
        (4, "4", Enum, false),
        (5, "5", Enum, false),
        (6, "6", Enum, false),
        (7, "7", Enum, false),
        (8, "8", Enum, false),
    ]
);
schema!(
    ATTENUATION_DURATION,
    "AttenuationDuration",
    [
        (1, "thresholds", Msg(&THRESHOLDS), false),
        (2, "weights", Msg(&WEIGHTS), false),
        (3, "defaultBucketOffset", Int32, false),
        (4, "riskScoreNormalizationDivisor", Int32, false),
    ]
);
schema!(
    THRESHOLDS,
    "Thresholds",
    [(1, "lower", Int32, false), (2, "upper", Int32, false)]
);
schema!(
    WEIGHTS,
    "Weights",
    [
        (1, "low", Double, false),
        (2, "mid", Double, false),
        (3, "high", Double, false),
    ]
);
schema!(
    APP_VERSION_CONFIG,
    "ApplicationVersionConfiguration",
    [
        (1, "ios", Msg(&APP_VERSION_INFO), false),
        (2, "android", Msg(&APP_VERSION_INFO), false),
    ]
);
schema!(
    APP_VERSION_INFO,
    "ApplicationVersionInfo",
    [
        (1, "latest", Msg(&SEMANTIC_VERSION), false),
        (2, "min", Msg(&SEMANTIC_VERSION), false),
    ]
);
schema!(
    SEMANTIC_VERSION,
    "SemanticVersion",
    [
        (1, "major", UInt32, false),
        (2, "minor", UInt32, false),
        (3, "patch", UInt32, false),
    ]
);
schema!(
    APP_FEATURES,
    "AppFeatures",
    [(1, "app_features", Msg(&APP_FEATURE), true)]
);
schema!(
    APP_FEATURE,
    "AppFeature",
    [(1, "label", Str, false), (2, "value", Int32, false)]
);
schema!(
    KEY_DOWNLOAD_IOS_V1,
    "KeyDownloadParametersIOS (v1)",
    [
        (1, "revokedDayPackages", Msg(&DAY_PACKAGE), true),
        (2, "revokedHourPackages", Msg(&HOUR_PACKAGE), true),
    ]
);
schema!(
    KEY_DOWNLOAD_ANDROID_V1,
    "KeyDownloadParametersAndroid (v1)",
    [
        (1, "revokedDayPackages", Msg(&DAY_PACKAGE), true),
        (2, "revokedHourPackages", Msg(&HOUR_PACKAGE), true),
        (3, "downloadTimeoutInSeconds", Int32, false),
        (4, "overallTimeoutInSeconds", Int32, false),
    ]
);
schema!(
    DAY_PACKAGE,
    "DayPackageMetadata",
    [
        (1, "region", Str, false),
        (2, "date", Str, false),
        (3, "etag", Str, false),
    ]
);
schema!(
    HOUR_PACKAGE,
    "HourPackageMetadata",
    [
        (1, "region", Str, false),
        (2, "date", Str, false),
        (3, "hour", Int32, false),
        (4, "etag", Str, false),
    ]
);
schema!(
    EXPOSURE_DETECTION_IOS,
    "ExposureDetectionParametersIOS",
    [(1, "maxExposureDetectionsPerInterval", Int32, false),]
);
schema!(
    EXPOSURE_DETECTION_ANDROID,
    "ExposureDetectionParametersAndroid",
    [
        (1, "maxExposureDetectionsPerInterval", Int32, false),
        (2, "overallTimeoutInSeconds", Int32, false),
    ]
);
