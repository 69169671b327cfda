//! Risk scoring v2: per-exposure-window normalized time and the per-day aggregation of the later
//! original (reference §5.3), checked against both public conformance suites.
//!
//! Windows carry a UTC day number instead of a timestamp; the caller decides what "today" is, so the
//! computation stays a pure function of its inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

mod config;
pub mod keys;

pub use config::{
    MinutesAtAttenuationFilter, MinutesAtAttenuationWeight, NormalizedTimeToRiskLevelMapping,
    Range, RiskCalculationParameters, TransmissionRiskValueMapping, TrlEncoding, TrlFilter,
};
pub use keys::{DataMapping, KeyEncoding};

/// Why a v2 computation was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum V2Error {
    /// A window's report type has no transmission-risk offset (UNKNOWN or REVOKED); the original
    /// Android app refuses the whole calculation in that case rather than guess.
    UnsupportedReportType(ReportType),
    /// A numeric code that is not a known value of the named enum.
    UnknownEnumValue {
        /// The enum's name.
        kind: &'static str,
        /// The value received.
        value: i64,
    },
}

impl fmt::Display for V2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedReportType(rt) => write!(
                f,
                "report type {} ({rt:?}) has no transmission risk level offset",
                *rt as u8
            ),
            Self::UnknownEnumValue { kind, value } => write!(f, "unknown {kind} value {value}"),
        }
    }
}

impl std::error::Error for V2Error {}

/// Declares a fieldless enum that travels as its number in JSON, as the conformance suites write it.
macro_rules! numeric_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "u8")]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl TryFrom<i64> for $name {
            type Error = V2Error;

            fn try_from(value: i64) -> Result<Self, V2Error> {
                match value {
                    $($value => Ok(Self::$variant),)+
                    _ => Err(V2Error::UnknownEnumValue { kind: $kind, value }),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                value as u8
            }
        }
    };
}

numeric_enum! {
    /// The v2 risk level of a window, a day or the total (`NormalizedTimeToRiskLevelMapping.RiskLevel`).
    RiskLevel, "risk level" {
        /// Not set.
        Unspecified = 0,
        /// Low risk.
        Low = 1,
        /// High risk.
        High = 2,
    }
}

numeric_enum! {
    /// How the diagnosis key's owner was diagnosed (ENF `ReportType`).
    ReportType, "report type" {
        /// No report type.
        Unknown = 0,
        /// Confirmed by a test.
        ConfirmedTest = 1,
        /// Confirmed by a clinician.
        ConfirmedClinicalDiagnosis = 2,
        /// Self-reported.
        SelfReport = 3,
        /// A contact of a confirmed case.
        Recursive = 4,
        /// Revoked; never produces exposures.
        Revoked = 5,
    }
}

numeric_enum! {
    /// How infectious the key's owner was on the key's day (ENF `Infectiousness`).
    Infectiousness, "infectiousness" {
        /// Not infectious; the ENF drops such windows.
        None = 0,
        /// Standard infectiousness.
        Standard = 1,
        /// High infectiousness.
        High = 2,
    }
}

/// One Bluetooth scan inside an exposure window. Field names in JSON follow the conformance suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanInstance {
    /// The lowest attenuation (dB) seen during the scan; this is what CWA weighs.
    #[serde(rename = "minAttenuation")]
    pub min_attenuation_db: i32,
    /// The typical attenuation (dB); carried but unused by CWA's algorithm, so it may be omitted.
    #[serde(rename = "typicalAttenuation", default)]
    pub typical_attenuation_db: i32,
    /// Seconds since the previous scan; negative values count as 0.
    #[serde(rename = "secondsSinceLastScan")]
    pub seconds_since_last_scan: i32,
}

impl ScanInstance {
    fn seconds(&self) -> f64 {
        f64::from(self.seconds_since_last_scan.max(0))
    }
}

/// An ENF v2 exposure window: up to 30 minutes of sightings of one key on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposureWindow {
    /// The UTC day number (days since 1970-01-01) of the window.
    pub day: u32,
    /// The key's report type.
    pub report_type: ReportType,
    /// The key owner's infectiousness on that day.
    pub infectiousness: Infectiousness,
    /// The ENF calibration confidence, 0..=3.
    pub calibration_confidence: u8,
    /// The scans, in time order.
    pub scan_instances: Vec<ScanInstance>,
}

/// The risk of one exposure window that survived the filters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowRisk {
    /// The transmission risk level decoded from report type and infectiousness.
    pub transmission_risk_level: i32,
    /// Transmission risk value × weighted minutes.
    pub normalized_time: f64,
    /// The window's risk level.
    pub risk_level: RiskLevel,
}

/// Whether and how the per-day sum of normalized times is rounded before it is mapped to a risk level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DayRounding {
    /// No rounding (the original iOS app).
    #[default]
    Exact,
    /// Round to one decimal, ties upwards (the original Android app since 2022), so that sums such as
    /// 0.6 + 4.8 + 3.6 do not fall just below a threshold of 9.
    OneDecimalHalfUp,
}

impl DayRounding {
    /// Applies the rounding to a day's sum.
    pub fn apply(self, sum: f64) -> f64 {
        match self {
            Self::Exact => sum,
            Self::OneDecimalHalfUp => {
                let scaled = sum * 10.0;
                let floor = scaled.floor();
                // `scaled - floor` is exact, so the tie test is too, also for negative sums.
                let rounded = if scaled - floor >= 0.5 {
                    floor + 1.0
                } else {
                    floor
                };
                rounded / 10.0
            }
        }
    }
}

/// Options of the aggregation that are not part of the published configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AggregationOptions {
    /// Per-day rounding.
    pub day_rounding: DayRounding,
    /// Today's UTC day number. When given and the configuration sets `maxEncounterAgeInDays`, windows
    /// older than that many days are dropped first.
    pub today: Option<u32>,
}

/// The risk of one UTC day that mapped to a risk level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayRisk {
    /// The UTC day number.
    pub day: u32,
    /// The (possibly rounded) sum of the day's normalized times.
    pub normalized_time: f64,
    /// The day's risk level.
    pub risk_level: RiskLevel,
    /// Distinct (transmission risk level, calibration confidence) pairs among the day's LOW windows.
    pub minimum_distinct_encounters_with_low_risk: u32,
    /// Distinct (transmission risk level, calibration confidence) pairs among the day's HIGH windows.
    pub minimum_distinct_encounters_with_high_risk: u32,
}

/// The aggregated v2 risk over all windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregatedRisk {
    /// HIGH if any day is HIGH, else LOW.
    pub total_risk_level: RiskLevel,
    /// The latest day with LOW risk.
    pub most_recent_date_with_low_risk: Option<u32>,
    /// The latest day with HIGH risk.
    pub most_recent_date_with_high_risk: Option<u32>,
    /// How many days have LOW risk.
    pub number_of_days_with_low_risk: u32,
    /// How many days have HIGH risk.
    pub number_of_days_with_high_risk: u32,
    /// Sum over days of their distinct LOW encounters.
    pub total_minimum_distinct_encounters_with_low_risk: u32,
    /// Sum over days of their distinct HIGH encounters.
    pub total_minimum_distinct_encounters_with_high_risk: u32,
    /// The days that mapped to a risk level, oldest first.
    pub days: Vec<DayRisk>,
}

/// The transmission risk level of a window: report-type offset plus infectiousness offset.
pub fn transmission_risk_level(
    params: &RiskCalculationParameters,
    window: &ExposureWindow,
) -> Result<i32, V2Error> {
    let enc = &params.trl_encoding;
    let report_type_offset = match window.report_type {
        ReportType::ConfirmedTest => enc.report_type_offset_confirmed_test,
        ReportType::ConfirmedClinicalDiagnosis => {
            enc.report_type_offset_confirmed_clinical_diagnosis
        }
        ReportType::SelfReport => enc.report_type_offset_self_report,
        ReportType::Recursive => enc.report_type_offset_recursive,
        other @ (ReportType::Unknown | ReportType::Revoked) => {
            return Err(V2Error::UnsupportedReportType(other))
        }
    };
    let infectiousness_offset = match window.infectiousness {
        Infectiousness::High => enc.infectiousness_offset_high,
        Infectiousness::Standard | Infectiousness::None => enc.infectiousness_offset_standard,
    };
    Ok(report_type_offset + infectiousness_offset)
}

/// Minutes of the window spent at a minimum attenuation inside `range`.
fn minutes_at_attenuation(window: &ExposureWindow, range: &Range) -> f64 {
    window
        .scan_instances
        .iter()
        .filter(|s| range.contains(f64::from(s.min_attenuation_db)))
        .map(ScanInstance::seconds)
        .sum::<f64>()
        / 60.0
}

/// The window's minutes weighted by the first attenuation weight whose range holds each scan's minimum
/// attenuation.
pub fn weighted_minutes(params: &RiskCalculationParameters, window: &ExposureWindow) -> f64 {
    window
        .scan_instances
        .iter()
        .map(|s| {
            let attenuation = f64::from(s.min_attenuation_db);
            let weight = params
                .minutes_at_attenuation_weights
                .iter()
                .find(|w| w.attenuation_range.contains(attenuation))
                .map_or(0.0, |w| w.weight);
            s.seconds() * weight
        })
        .sum::<f64>()
        / 60.0
}

/// Scores one window, or `None` when a filter drops it or no risk level matches its normalized time.
pub fn window_risk(
    params: &RiskCalculationParameters,
    window: &ExposureWindow,
) -> Result<Option<WindowRisk>, V2Error> {
    let dropped_by_minutes = params.minutes_at_attenuation_filters.iter().any(|f| {
        f.drop_if_minutes_in_range
            .contains(minutes_at_attenuation(window, &f.attenuation_range))
    });
    if dropped_by_minutes {
        return Ok(None);
    }
    let trl = transmission_risk_level(params, window)?;
    if params
        .trl_filters
        .iter()
        .any(|f| f.drop_if_trl_in_range.contains(f64::from(trl)))
    {
        return Ok(None);
    }
    let normalized_time = params.transmission_risk_value(trl) * weighted_minutes(params, window);
    Ok(first_risk_level(
        &params.normalized_time_per_ew_to_risk_level_mapping,
        normalized_time,
    )
    .map(|risk_level| WindowRisk {
        transmission_risk_level: trl,
        normalized_time,
        risk_level,
    }))
}

fn first_risk_level(mapping: &[NormalizedTimeToRiskLevelMapping], value: f64) -> Option<RiskLevel> {
    mapping
        .iter()
        .find(|m| m.normalized_time_range.contains(value))
        .map(|m| m.risk_level)
}

/// Scores every window and aggregates the results per day (reference §5.3, "Aggregation").
pub fn aggregate(
    params: &RiskCalculationParameters,
    windows: &[ExposureWindow],
    options: AggregationOptions,
) -> Result<AggregatedRisk, V2Error> {
    let oldest_day = match (options.today, params.max_encounter_age_in_days) {
        (Some(today), Some(max_age)) => today.saturating_sub(max_age),
        _ => 0,
    };
    // Grouped by day in a BTreeMap so that days come out oldest first, whatever the input order.
    let mut per_day: BTreeMap<u32, Vec<(&ExposureWindow, WindowRisk)>> = BTreeMap::new();
    for window in windows.iter().filter(|w| w.day >= oldest_day) {
        if let Some(risk) = window_risk(params, window)? {
            per_day.entry(window.day).or_default().push((window, risk));
        }
    }

    let mut result = AggregatedRisk {
        total_risk_level: RiskLevel::Low,
        most_recent_date_with_low_risk: None,
        most_recent_date_with_high_risk: None,
        number_of_days_with_low_risk: 0,
        number_of_days_with_high_risk: 0,
        total_minimum_distinct_encounters_with_low_risk: 0,
        total_minimum_distinct_encounters_with_high_risk: 0,
        days: Vec::new(),
    };
    for (day, results) in per_day {
        let sum: f64 = results.iter().map(|(_, r)| r.normalized_time).sum();
        let normalized_time = options.day_rounding.apply(sum);
        let Some(risk_level) = first_risk_level(
            &params.normalized_time_per_day_to_risk_level_mapping,
            normalized_time,
        ) else {
            continue;
        };
        let distinct = |level: RiskLevel| -> u32 {
            let pairs: BTreeSet<(i32, u8)> = results
                .iter()
                .filter(|(_, r)| r.risk_level == level)
                .map(|(w, r)| (r.transmission_risk_level, w.calibration_confidence))
                .collect();
            u32::try_from(pairs.len()).unwrap_or(u32::MAX)
        };
        let day_risk = DayRisk {
            day,
            normalized_time,
            risk_level,
            minimum_distinct_encounters_with_low_risk: distinct(RiskLevel::Low),
            minimum_distinct_encounters_with_high_risk: distinct(RiskLevel::High),
        };
        result.total_minimum_distinct_encounters_with_low_risk = result
            .total_minimum_distinct_encounters_with_low_risk
            .saturating_add(day_risk.minimum_distinct_encounters_with_low_risk);
        result.total_minimum_distinct_encounters_with_high_risk = result
            .total_minimum_distinct_encounters_with_high_risk
            .saturating_add(day_risk.minimum_distinct_encounters_with_high_risk);
        match risk_level {
            RiskLevel::Low => {
                result.number_of_days_with_low_risk += 1;
                result.most_recent_date_with_low_risk = Some(day);
            }
            RiskLevel::High => {
                result.number_of_days_with_high_risk += 1;
                result.most_recent_date_with_high_risk = Some(day);
                result.total_risk_level = RiskLevel::High;
            }
            RiskLevel::Unspecified => {}
        }
        result.days.push(day_risk);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(report_type: ReportType, infectiousness: Infectiousness) -> ExposureWindow {
        ExposureWindow {
            day: 100,
            report_type,
            infectiousness,
            calibration_confidence: 0,
            scan_instances: vec![],
        }
    }

    #[test]
    fn day_rounding_half_up_to_one_decimal() {
        let r = DayRounding::OneDecimalHalfUp;
        assert_eq!(r.apply(0.6 + 4.8 + 3.6), 9.0);
        assert_eq!(r.apply(8.95), 9.0);
        assert_eq!(r.apply(8.94), 8.9);
        assert_eq!(r.apply(0.25), 0.3);
        assert_eq!(r.apply(-0.25), -0.2);
        assert_eq!(DayRounding::Exact.apply(8.94), 8.94);
    }

    #[test]
    fn trl_from_offsets() {
        let p = RiskCalculationParameters::cwa_default();
        let trl = |rt, inf| transmission_risk_level(&p, &window(rt, inf));
        assert_eq!(trl(ReportType::ConfirmedTest, Infectiousness::High), Ok(8));
        assert_eq!(
            trl(ReportType::ConfirmedTest, Infectiousness::Standard),
            Ok(7)
        );
        assert_eq!(
            trl(ReportType::ConfirmedClinicalDiagnosis, Infectiousness::High),
            Ok(6)
        );
        assert_eq!(trl(ReportType::SelfReport, Infectiousness::Standard), Ok(3));
        assert_eq!(trl(ReportType::Recursive, Infectiousness::None), Ok(1));
        assert_eq!(
            trl(ReportType::Revoked, Infectiousness::High),
            Err(V2Error::UnsupportedReportType(ReportType::Revoked))
        );
    }

    #[test]
    fn filters_drop_windows() {
        let mut p = RiskCalculationParameters::cwa_default();
        let mut w = window(ReportType::ConfirmedTest, Infectiousness::High);
        w.scan_instances = vec![ScanInstance {
            min_attenuation_db: 40,
            typical_attenuation_db: 45,
            seconds_since_last_scan: 299,
        }];
        assert!(window_risk(&p, &w).unwrap().is_some());
        p.minutes_at_attenuation_filters = vec![MinutesAtAttenuationFilter {
            attenuation_range: Range::half_open(0.0, 79.0),
            drop_if_minutes_in_range: Range::half_open(0.0, 5.0),
        }];
        assert_eq!(window_risk(&p, &w), Ok(None));
        w.scan_instances[0].seconds_since_last_scan = 300;
        assert!(window_risk(&p, &w).unwrap().is_some());
        p.trl_filters = vec![TrlFilter {
            drop_if_trl_in_range: Range::closed(8.0, 8.0),
        }];
        assert_eq!(window_risk(&p, &w), Ok(None));
    }

    #[test]
    fn unknown_enum_value_is_an_error() {
        assert_eq!(
            ReportType::try_from(9),
            Err(V2Error::UnknownEnumValue {
                kind: "report type",
                value: 9
            })
        );
        assert_eq!(RiskLevel::try_from(2), Ok(RiskLevel::High));
    }

    #[test]
    fn max_encounter_age_drops_old_windows() {
        let p = RiskCalculationParameters::cwa_default();
        let mut w = window(ReportType::ConfirmedTest, Infectiousness::High);
        w.scan_instances = vec![ScanInstance {
            min_attenuation_db: 30,
            typical_attenuation_db: 30,
            seconds_since_last_scan: 600,
        }];
        let opts = |today| AggregationOptions {
            day_rounding: DayRounding::Exact,
            today: Some(today),
        };
        // 10 minutes × 0.8 × 1.6 = 12.8: a HIGH day while it is recent enough.
        let recent = aggregate(&p, std::slice::from_ref(&w), opts(110)).unwrap();
        assert_eq!(recent.total_risk_level, RiskLevel::High);
        let old = aggregate(&p, std::slice::from_ref(&w), opts(111)).unwrap();
        assert_eq!(old.total_risk_level, RiskLevel::Low);
        assert!(old.days.is_empty());
    }
}
