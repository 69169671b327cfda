//! A protobuf wire reader and writer of this suite's own, and the original's message definitions as
//! tables: field numbers, wire types and nesting as the original's `.proto` files declare them.
//!
//! Nothing here uses warnkit's message types: every published byte is walked against these tables,
//! and a field number the original does not declare, a wrong wire type, an int32 out of range or
//! bytes left over fail the walk.

use std::collections::BTreeMap;

/// What a field holds, as far as the wire and its range are concerned.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int32,
    Int64,
    UInt32,
    Bool,
    Enum,
    SInt32,
    Fixed64,
    Double,
    Str,
    Bytes,
    Msg(&'static Schema),
    /// A message the original declares whose content this suite does not check (later additions
    /// warnkit leaves out; present only if warnkit starts sending it).
    Opaque,
}

/// One message: its name and its fields (number, name, kind, repeated).
#[derive(Debug)]
pub struct Schema {
    pub name: &'static str,
    pub fields: &'static [(u32, &'static str, Kind, bool)],
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Msg(Fields),
}

/// A decoded message: values by field name, in wire order.
pub type Fields = BTreeMap<&'static str, Vec<Value>>;

/// Accessors for the tests.
pub trait Get {
    fn int(&self, name: &str) -> Option<i64>;
    fn ints(&self, name: &str) -> Vec<i64>;
    fn float(&self, name: &str) -> Option<f64>;
    fn text(&self, name: &str) -> Option<&str>;
    fn texts(&self, name: &str) -> Vec<&str>;
    fn bytes(&self, name: &str) -> Option<&[u8]>;
    fn msg(&self, name: &str) -> Option<&Fields>;
    fn msgs(&self, name: &str) -> Vec<&Fields>;
}

impl Get for Fields {
    fn int(&self, name: &str) -> Option<i64> {
        self.ints(name).last().copied()
    }
    fn ints(&self, name: &str) -> Vec<i64> {
        self.get(name)
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::Int(i) => Some(*i),
                _ => None,
            })
            .collect()
    }
    fn float(&self, name: &str) -> Option<f64> {
        self.get(name)?.iter().rev().find_map(|v| match v {
            Value::Float(f) => Some(*f),
            _ => None,
        })
    }
    fn text(&self, name: &str) -> Option<&str> {
        self.texts(name).last().copied()
    }
    fn texts(&self, name: &str) -> Vec<&str> {
        self.get(name)
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }
    fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.get(name)?.iter().rev().find_map(|v| match v {
            Value::Bytes(b) => Some(b.as_slice()),
            _ => None,
        })
    }
    fn msg(&self, name: &str) -> Option<&Fields> {
        self.msgs(name).last().copied()
    }
    fn msgs(&self, name: &str) -> Vec<&Fields> {
        self.get(name)
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::Msg(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *bytes.get(*at).ok_or("varint runs past the end")?;
        *at += 1;
        if shift == 63 && b > 1 {
            return Err("varint longer than 64 bits".into());
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let end = at.checked_add(n).filter(|e| *e <= bytes.len());
    let end = end.ok_or("field runs past the end")?;
    let out = &bytes[*at..end];
    *at = end;
    Ok(out)
}

fn int32(raw: u64, what: &str) -> Result<i64, String> {
    let v = raw as i64;
    if i32::try_from(v).is_err() {
        return Err(format!("{what}: varint {raw} does not fit an int32"));
    }
    Ok(v)
}

fn scalar(kind: Kind, wire: u8, bytes: &[u8], at: &mut usize, what: &str) -> Result<Value, String> {
    let expect = |w: u8| {
        if wire == w {
            Ok(())
        } else {
            Err(format!(
                "{what}: wire type {wire}, the original declares {w}"
            ))
        }
    };
    Ok(match kind {
        Kind::Int32 | Kind::Enum => {
            expect(0)?;
            Value::Int(int32(varint(bytes, at)?, what)?)
        }
        Kind::Int64 => {
            expect(0)?;
            Value::Int(varint(bytes, at)? as i64)
        }
        Kind::UInt32 => {
            expect(0)?;
            let v = varint(bytes, at)?;
            u32::try_from(v).map_err(|_| format!("{what}: {v} does not fit a uint32"))?;
            Value::Int(v as i64)
        }
        Kind::Bool => {
            expect(0)?;
            match varint(bytes, at)? {
                v @ (0 | 1) => Value::Int(v as i64),
                v => return Err(format!("{what}: bool {v}")),
            }
        }
        Kind::SInt32 => {
            expect(0)?;
            let v = varint(bytes, at)?;
            let v = u32::try_from(v).map_err(|_| format!("{what}: sint32 {v} too large"))?;
            Value::Int(i64::from((v >> 1) as i32 ^ -((v & 1) as i32)))
        }
        Kind::Fixed64 => {
            expect(1)?;
            let b: [u8; 8] = take(bytes, at, 8)?.try_into().expect("8 bytes");
            Value::Int(u64::from_le_bytes(b) as i64)
        }
        Kind::Double => {
            expect(1)?;
            let b: [u8; 8] = take(bytes, at, 8)?.try_into().expect("8 bytes");
            Value::Float(f64::from_le_bytes(b))
        }
        Kind::Str | Kind::Bytes | Kind::Msg(_) | Kind::Opaque => {
            expect(2)?;
            let n = varint(bytes, at)? as usize;
            let body = take(bytes, at, n)?;
            match kind {
                Kind::Str => Value::Text(
                    String::from_utf8(body.to_vec()).map_err(|_| format!("{what}: not UTF-8"))?,
                ),
                Kind::Msg(schema) => Value::Msg(walk(schema, body)?),
                _ => Value::Bytes(body.to_vec()),
            }
        }
    })
}

/// Decodes `bytes` as `schema`, refusing anything the original's definition does not allow.
pub fn walk(schema: &'static Schema, bytes: &[u8]) -> Result<Fields, String> {
    let mut fields = Fields::new();
    let mut at = 0;
    while at < bytes.len() {
        let tag = varint(bytes, &mut at)?;
        let (number, wire) = ((tag >> 3) as u32, (tag & 7) as u8);
        let Some(&(_, name, kind, repeated)) = schema.fields.iter().find(|f| f.0 == number) else {
            return Err(format!(
                "{}: field {number} (wire type {wire}) is not in the original's definition",
                schema.name
            ));
        };
        let what = format!("{}.{name}", schema.name);
        let packable = !matches!(kind, Kind::Str | Kind::Bytes | Kind::Msg(_) | Kind::Opaque);
        let values = fields.entry(name).or_default();
        if repeated && packable && wire == 2 {
            // A packed repeated scalar (proto3's default for numbers).
            let n = varint(bytes, &mut at)? as usize;
            let body = take(bytes, &mut at, n)?;
            let element_wire = if matches!(kind, Kind::Fixed64 | Kind::Double) {
                1
            } else {
                0
            };
            let mut i = 0;
            while i < body.len() {
                values.push(scalar(kind, element_wire, body, &mut i, &what)?);
            }
        } else {
            values.push(scalar(kind, wire, bytes, &mut at, &what)?);
        }
        if !repeated && values.len() > 1 && !matches!(kind, Kind::Msg(_)) {
            return Err(format!("{what}: a singular field appears twice"));
        }
    }
    Ok(fields)
}

/// Writes protobuf by hand, from field numbers: how this suite builds what the app sends.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    fn raw_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn tag(&mut self, field: u32, wire: u8) {
        self.raw_varint(u64::from(field) << 3 | u64::from(wire));
    }
    /// An int32, int64, bool or enum field (negative int32s sign-extended to ten bytes).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.tag(field, 0);
        self.raw_varint(v as u64);
        self
    }
    /// A raw varint, whatever its size: for hostile input.
    pub fn varint(&mut self, field: u32, v: u64) -> &mut Self {
        self.tag(field, 0);
        self.raw_varint(v);
        self
    }
    /// An sint32 field.
    pub fn sint(&mut self, field: u32, v: i32) -> &mut Self {
        self.tag(field, 0);
        self.raw_varint(u64::from(((v << 1) ^ (v >> 31)) as u32));
        self
    }
    /// A string, bytes or message field.
    pub fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        self.tag(field, 2);
        self.raw_varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
}

macro_rules! schema {
    ($name:ident, $label:literal, [$(($n:literal, $f:literal, $k:expr, $r:literal)),* $(,)?]) => {
        pub static $name: Schema = Schema { name: $label, fields: &[$(($n, $f, $k, $r)),*] };
    };
}

use Kind::*;

// temporary_exposure_key_export.proto (proto2)
schema!(
    TEK_EXPORT,
    "TemporaryExposureKeyExport",
    [
        (1, "start_timestamp", Fixed64, false),
        (2, "end_timestamp", Fixed64, false),
        (3, "region", Str, false),
        (4, "batch_num", Int32, false),
        (5, "batch_size", Int32, false),
        (6, "signature_infos", Msg(&SIGNATURE_INFO), true),
        (7, "keys", Msg(&TEK), true),
    ]
);
schema!(
    SIGNATURE_INFO,
    "SignatureInfo",
    [
        (1, "app_bundle_id", Str, false),
        (2, "android_package", Str, false),
        (3, "verification_key_version", Str, false),
        (4, "verification_key_id", Str, false),
        (5, "signature_algorithm", Str, false),
    ]
);
schema!(
    TEK,
    "TemporaryExposureKey",
    [
        (1, "key_data", Bytes, false),
        (2, "transmission_risk_level", Int32, false),
        (3, "rolling_start_interval_number", Int32, false),
        (4, "rolling_period", Int32, false),
        (5, "report_type", Enum, false),
        (6, "days_since_onset_of_symptoms", SInt32, false),
    ]
);
// temporary_exposure_key_signature_list.proto (proto2)
schema!(
    TEK_SIGNATURE_LIST,
    "TEKSignatureList",
    [(1, "signatures", Msg(&TEK_SIGNATURE), true)]
);
schema!(
    TEK_SIGNATURE,
    "TEKSignature",
    [
        (1, "signature_info", Msg(&SIGNATURE_INFO), false),
        (2, "batch_num", Int32, false),
        (3, "batch_size", Int32, false),
        (4, "signature", Bytes, false),
    ]
);

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

/// A map field as pairs.
pub fn int_map(fields: &Fields, name: &str) -> BTreeMap<i64, i64> {
    fields
        .msgs(name)
        .into_iter()
        .map(|e| (e.int("key").unwrap_or(0), e.int("value").unwrap_or(0)))
        .collect()
}

#[test]
fn the_walker_refuses_what_the_definition_lacks() {
    // Field 8 (`revised_keys` in Google's later definition) is not the original's.
    let mut w = Writer::default();
    w.bytes(3, b"DE").bytes(8, b"");
    let err = walk(&TEK_EXPORT, &w.0).unwrap_err();
    assert!(err.contains("field 8"), "{err}");
    // A wrong wire type, an int32 out of range, a truncated message.
    let mut w = Writer::default();
    w.int(3, 1);
    assert!(walk(&TEK_EXPORT, &w.0).unwrap_err().contains("wire type"));
    let mut w = Writer::default();
    w.varint(3, 1 << 32);
    assert!(walk(&TEK, &w.0).unwrap_err().contains("int32"));
    assert!(walk(&TEK, &[0x0a, 5, 1]).is_err());
    // And it reads what it writes.
    let mut w = Writer::default();
    w.bytes(1, &[7; 16]).int(2, 6).int(3, 2_000_000).sint(6, -3);
    let key = walk(&TEK, &w.0).unwrap();
    assert_eq!(key.int("transmission_risk_level"), Some(6));
    assert_eq!(key.int("days_since_onset_of_symptoms"), Some(-3));
    assert_eq!(key.bytes("key_data"), Some(&[7u8; 16][..]));
}
