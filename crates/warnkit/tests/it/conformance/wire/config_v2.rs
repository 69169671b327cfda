//! The v2 app configuration tables: `internal/v2/app_config_android.proto`, `app_config_ios.proto`
//! and their neighbours (proto3), with the map entries they use.

use super::config_v1::{
    APP_FEATURES, DAY_PACKAGE, EXPOSURE_DETECTION_ANDROID, EXPOSURE_DETECTION_IOS, HOUR_PACKAGE,
    SEMANTIC_VERSION,
};
use super::Kind::*;
use super::Schema;

// internal/v2/app_config_android.proto, app_config_ios.proto and neighbours (proto3).
schema!(
    APP_CONFIG_ANDROID,
    "ApplicationConfigurationAndroid",
    [
        (1, "minVersionCode", Int64, false),
        (2, "latestVersionCode", Int64, false),
        (3, "appFeatures", Msg(&APP_FEATURES), false),
        (4, "supportedCountries", Str, true),
        (
            5,
            "keyDownloadParameters",
            Msg(&KEY_DOWNLOAD_ANDROID_V2),
            false
        ),
        (
            6,
            "exposureDetectionParameters",
            Msg(&EXPOSURE_DETECTION_ANDROID),
            false
        ),
        (
            7,
            "riskCalculationParameters",
            Msg(&RISK_CALCULATION),
            false
        ),
        (8, "diagnosisKeysDataMapping", Msg(&DATA_MAPPING), false),
        (9, "dailySummariesConfig", Msg(&DAILY_SUMMARIES), false),
        (10, "eventDrivenUserSurveyParameters", Opaque, false),
        (11, "privacyPreservingAnalyticsParameters", Opaque, false),
        (12, "errorLogSharingParameters", Opaque, false),
        (13, "presenceTracingParameters", Opaque, false),
        (14, "coronaTestParameters", Msg(&CORONA_TEST), false),
        (15, "dgcParameters", Opaque, false),
        (16, "selfReportParameters", Opaque, false),
    ]
);
schema!(
    APP_CONFIG_IOS,
    "ApplicationConfigurationIOS",
    [
        (1, "minVersion", Msg(&SEMANTIC_VERSION), false),
        (2, "latestVersion", Msg(&SEMANTIC_VERSION), false),
        (3, "appFeatures", Msg(&APP_FEATURES), false),
        (4, "supportedCountries", Str, true),
        (5, "keyDownloadParameters", Msg(&KEY_DOWNLOAD_IOS_V2), false),
        (
            6,
            "exposureDetectionParameters",
            Msg(&EXPOSURE_DETECTION_IOS),
            false
        ),
        (
            7,
            "riskCalculationParameters",
            Msg(&RISK_CALCULATION),
            false
        ),
        (
            8,
            "exposureConfiguration",
            Msg(&EXPOSURE_CONFIGURATION),
            false
        ),
        (9, "eventDrivenUserSurveyParameters", Opaque, false),
        (10, "privacyPreservingAnalyticsParameters", Opaque, false),
        (11, "errorLogSharingParameters", Opaque, false),
        (12, "presenceTracingParameters", Opaque, false),
        (13, "coronaTestParameters", Msg(&CORONA_TEST), false),
        (14, "dgcParameters", Opaque, false),
        (15, "selfReportParameters", Opaque, false),
    ]
);
schema!(
    KEY_DOWNLOAD_ANDROID_V2,
    "KeyDownloadParametersAndroid (v2)",
    [
        (1, "revokedDayPackages", Msg(&DAY_PACKAGE), true),
        (2, "revokedHourPackages", Msg(&HOUR_PACKAGE), true),
        (3, "downloadTimeoutInSeconds", Int32, false),
        (4, "overallTimeoutInSeconds", Int32, false),
        (
            5,
            "revokedTraceWarningPackages",
            Msg(&TRACE_WARNING_PACKAGE),
            true
        ),
    ]
);
schema!(
    KEY_DOWNLOAD_IOS_V2,
    "KeyDownloadParametersIOS (v2)",
    [
        (1, "revokedDayPackages", Msg(&DAY_PACKAGE), true),
        (2, "revokedHourPackages", Msg(&HOUR_PACKAGE), true),
        (
            3,
            "revokedTraceWarningPackages",
            Msg(&TRACE_WARNING_PACKAGE),
            true
        ),
    ]
);
schema!(
    TRACE_WARNING_PACKAGE,
    "TraceWarningPackageMetadata",
    [(1, "etag", Str, false)]
);
schema!(
    RISK_CALCULATION,
    "RiskCalculationParameters",
    [
        (
            1,
            "minutesAtAttenuationFilters",
            Msg(&MINUTES_AT_ATTENUATION_FILTER),
            true
        ),
        (2, "trlFilters", Msg(&TRL_FILTER), true),
        (
            3,
            "minutesAtAttenuationWeights",
            Msg(&MINUTES_AT_ATTENUATION_WEIGHT),
            true
        ),
        (
            4,
            "normalizedTimePerEWToRiskLevelMapping",
            Msg(&NORMALIZED_TIME_MAPPING),
            true
        ),
        (
            5,
            "normalizedTimePerDayToRiskLevelMapping",
            Msg(&NORMALIZED_TIME_MAPPING),
            true
        ),
        (6, "trlEncoding", Msg(&TRL_ENCODING), false),
        (7, "transmissionRiskLevelMultiplier", Double, false),
        (
            8,
            "transmissionRiskValueMapping",
            Msg(&TRL_VALUE_MAPPING),
            true
        ),
        (9, "maxEncounterAgeInDays", UInt32, false),
    ]
);
schema!(
    RANGE,
    "Range",
    [
        (1, "min", Double, false),
        (2, "minExclusive", Bool, false),
        (3, "max", Double, false),
        (4, "maxExclusive", Bool, false),
    ]
);
schema!(
    MINUTES_AT_ATTENUATION_FILTER,
    "MinutesAtAttenuationFilter",
    [
        (1, "attenuationRange", Msg(&RANGE), false),
        (2, "dropIfMinutesInRange", Msg(&RANGE), false),
    ]
);
schema!(
    TRL_FILTER,
    "TrlFilter",
    [(1, "dropIfTrlInRange", Msg(&RANGE), false)]
);
schema!(
    MINUTES_AT_ATTENUATION_WEIGHT,
    "MinutesAtAttenuationWeight",
    [
        (1, "attenuationRange", Msg(&RANGE), false),
        (2, "weight", Double, false),
    ]
);
schema!(
    NORMALIZED_TIME_MAPPING,
    "NormalizedTimeToRiskLevelMapping",
    [
        (1, "normalizedTimeRange", Msg(&RANGE), false),
        (2, "riskLevel", Enum, false),
    ]
);
schema!(
    TRL_ENCODING,
    "TransmissionRiskLevelEncoding",
    [
        (1, "infectiousnessOffsetStandard", Int32, false),
        (2, "infectiousnessOffsetHigh", Int32, false),
        (3, "reportTypeOffsetRecursive", Int32, false),
        (4, "reportTypeOffsetSelfReport", Int32, false),
        (
            5,
            "reportTypeOffsetConfirmedClinicalDiagnosis",
            Int32,
            false
        ),
        (6, "reportTypeOffsetConfirmedTest", Int32, false),
    ]
);
schema!(
    TRL_VALUE_MAPPING,
    "TransmissionRiskValueMapping",
    [
        (1, "transmissionRiskLevel", Int32, false),
        (2, "transmissionRiskValue", Double, false),
    ]
);
schema!(
    DATA_MAPPING,
    "DiagnosisKeysDataMapping",
    [
        (
            1,
            "daysSinceOnsetToInfectiousness",
            Msg(&MAP_INT32_INT32),
            true
        ),
        (2, "infectiousnessWhenDaysSinceOnsetMissing", Int32, false),
        (3, "reportTypeWhenMissing", Int32, false),
    ]
);
schema!(
    DAILY_SUMMARIES,
    "DailySummariesConfig",
    [
        (1, "attenuationBucketThresholdDb", Int32, true),
        (2, "attenuationBucketWeights", Double, true),
        (3, "daysSinceExposureThreshold", Int32, false),
        (4, "infectiousnessWeights", Msg(&MAP_INT32_DOUBLE), true),
        (5, "minimumWindowScore", Double, false),
        (6, "reportTypeWeights", Msg(&MAP_INT32_DOUBLE), true),
    ]
);
schema!(
    EXPOSURE_CONFIGURATION,
    "ExposureConfiguration",
    [
        (
            1,
            "infectiousnessForDaysSinceOnsetOfSymptoms",
            Msg(&MAP_INT32_INT32),
            true
        ),
        (2, "reportTypeNoneMap", Int32, false),
        (3, "attenuationDurationThresholds", Int32, true),
        (4, "immediateDurationWeight", Double, false),
        (5, "mediumDurationWeight", Double, false),
        (6, "nearDurationWeight", Double, false),
        (7, "otherDurationWeight", Double, false),
        (8, "daysSinceLastExposureThreshold", Int32, false),
        (9, "infectiousnessStandardWeight", Double, false),
        (10, "infectiousnessHighWeight", Double, false),
        (11, "reportTypeConfirmedTestWeight", Double, false),
        (
            12,
            "reportTypeConfirmedClinicalDiagnosisWeight",
            Double,
            false
        ),
        (13, "reportTypeSelfReportedWeight", Double, false),
        (14, "reportTypeRecursiveWeight", Double, false),
    ]
);
schema!(
    CORONA_TEST,
    "CoronaTestParameters",
    [
        (
            1,
            "coronaRapidAntigenTestParameters",
            Msg(&RAPID_TEST),
            false
        ),
        (2, "coronaPCRTestParameters", Msg(&PCR_TEST), false),
    ]
);
schema!(
    RAPID_TEST,
    "CoronaRapidAntigenTestParameters",
    [
        (1, "hoursToDeemTestOutdated", UInt32, false),
        (2, "hoursSinceSampleCollectionToShowRiskCard", UInt32, false),
    ]
);
schema!(
    PCR_TEST,
    "CoronaPCRTestParameters",
    [(1, "hoursSinceTestRegistrationToShowRiskCard", UInt32, false),]
);
// A protobuf map is a repeated message of key (1) and value (2).
schema!(
    MAP_INT32_INT32,
    "map<int32, int32>",
    [(1, "key", Int32, false), (2, "value", Int32, false)]
);
schema!(
    MAP_INT32_DOUBLE,
    "map<int32, double>",
    [(1, "key", Int32, false), (2, "value", Double, false)]
);
