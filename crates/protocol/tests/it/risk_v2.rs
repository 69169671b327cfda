//! The two public v2 conformance suites, run case by case: the Android suite with per-day rounding,
//! the iOS suite without.

use serde::Deserialize;
use warnkit_protocol::risk::v2::{
    aggregate, AggregationOptions, DayRounding, ExposureWindow, Infectiousness, ReportType,
    RiskCalculationParameters, RiskLevel, ScanInstance,
};

const ANDROID: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/risk-v2-android.json"
);
const IOS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/risk-v2-ios.json"
);

/// An arbitrary "today" (2021-01-01); ages are converted to days relative to it and back.
const TODAY: u32 = 18_628;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Suite {
    default_risk_calculation_configuration: RiskCalculationParameters,
    test_cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SuiteWindow {
    age_in_days: u32,
    report_type: ReportType,
    infectiousness: Infectiousness,
    calibration_confidence: u8,
    scan_instances: Vec<ScanInstance>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    description: String,
    exposure_windows: Vec<SuiteWindow>,
    exp_total_risk_level: RiskLevel,
    exp_age_of_most_recent_date_with_low_risk: Option<u32>,
    exp_age_of_most_recent_date_with_high_risk: Option<u32>,
    exp_number_of_days_with_low_risk: u32,
    exp_number_of_days_with_high_risk: u32,
    exp_total_minimum_distinct_encounters_with_low_risk: u32,
    exp_total_minimum_distinct_encounters_with_high_risk: u32,
}

fn load(path: &str) -> Suite {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn to_windows(case: &Case) -> Vec<ExposureWindow> {
    case.exposure_windows
        .iter()
        .map(|w| ExposureWindow {
            day: TODAY - w.age_in_days,
            report_type: w.report_type,
            infectiousness: w.infectiousness,
            calibration_confidence: w.calibration_confidence,
            scan_instances: w.scan_instances.clone(),
        })
        .collect()
}

/// Runs every case (windows in suite order, or reversed) and returns how many ran; panics listing
/// every failing case and expectation.
fn run_suite(path: &str, rounding: DayRounding, reversed: bool) -> usize {
    let suite = load(path);
    let params = &suite.default_risk_calculation_configuration;
    let mut failures = Vec::new();
    for (i, case) in suite.test_cases.iter().enumerate() {
        let mut windows = to_windows(case);
        if reversed {
            windows.reverse();
        }
        let options = AggregationOptions {
            day_rounding: rounding,
            today: Some(TODAY),
        };
        let got = match aggregate(params, &windows, options) {
            Ok(got) => got,
            Err(e) => {
                failures.push(format!("case {i} {:?}: error {e}", case.description));
                continue;
            }
        };
        let age = |day: Option<u32>| day.map(|d| TODAY - d);
        let checks = [
            (
                "totalRiskLevel",
                format!("{:?}", got.total_risk_level),
                format!("{:?}", case.exp_total_risk_level),
            ),
            (
                "ageOfMostRecentDateWithLowRisk",
                format!("{:?}", age(got.most_recent_date_with_low_risk)),
                format!("{:?}", case.exp_age_of_most_recent_date_with_low_risk),
            ),
            (
                "ageOfMostRecentDateWithHighRisk",
                format!("{:?}", age(got.most_recent_date_with_high_risk)),
                format!("{:?}", case.exp_age_of_most_recent_date_with_high_risk),
            ),
            (
                "numberOfDaysWithLowRisk",
                got.number_of_days_with_low_risk.to_string(),
                case.exp_number_of_days_with_low_risk.to_string(),
            ),
            (
                "numberOfDaysWithHighRisk",
                got.number_of_days_with_high_risk.to_string(),
                case.exp_number_of_days_with_high_risk.to_string(),
            ),
            (
                "totalMinimumDistinctEncountersWithLowRisk",
                got.total_minimum_distinct_encounters_with_low_risk
                    .to_string(),
                case.exp_total_minimum_distinct_encounters_with_low_risk
                    .to_string(),
            ),
            (
                "totalMinimumDistinctEncountersWithHighRisk",
                got.total_minimum_distinct_encounters_with_high_risk
                    .to_string(),
                case.exp_total_minimum_distinct_encounters_with_high_risk
                    .to_string(),
            ),
        ];
        for (name, got, want) in checks {
            if got != want {
                failures.push(format!(
                    "case {i} {:?}: {name} is {got}, expected {want}",
                    case.description
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        suite.test_cases.len(),
        failures.join("\n")
    );
    suite.test_cases.len()
}

#[test]
fn android_suite_with_per_day_rounding() {
    assert_eq!(run_suite(ANDROID, DayRounding::OneDecimalHalfUp, false), 29);
}

/// The ENF returns windows in no particular order; with the rounding the result must not depend on it.
#[test]
fn android_suite_with_per_day_rounding_windows_reversed() {
    assert_eq!(run_suite(ANDROID, DayRounding::OneDecimalHalfUp, true), 29);
}

#[test]
fn ios_suite_without_rounding() {
    assert_eq!(run_suite(IOS, DayRounding::Exact, false), 28);
}

/// EXPOSUREAPP-12211 (Android suite case 28): 0.6 + 4.8 + 3.6 per window. Summed in reverse order the
/// day comes to 8.999999999999998, LOW without the rounding; rounded it is 9.0, HIGH.
#[test]
fn exposureapp_12211_rounding_decides_the_day() {
    let suite = load(ANDROID);
    let case = &suite.test_cases[28];
    assert!(case.description.starts_with("EXPOSUREAPP-12211"));
    let mut windows = to_windows(case);
    windows.reverse();
    let params = &suite.default_risk_calculation_configuration;
    let run = |day_rounding| {
        let options = AggregationOptions {
            day_rounding,
            today: Some(TODAY),
        };
        aggregate(params, &windows, options).unwrap()
    };
    let exact = run(DayRounding::Exact);
    assert!(exact.days[0].normalized_time < 9.0);
    assert_eq!(exact.total_risk_level, RiskLevel::Low);
    let rounded = run(DayRounding::OneDecimalHalfUp);
    assert_eq!(rounded.days[0].normalized_time, 9.0);
    assert_eq!(rounded.total_risk_level, RiskLevel::High);
}

#[test]
fn suite_configuration_deserializes_into_the_defaults() {
    let suite = load(ANDROID);
    let mut expected = RiskCalculationParameters::cwa_default();
    // The suite leaves the age limit to the harness.
    expected.max_encounter_age_in_days = None;
    assert_eq!(suite.default_risk_calculation_configuration, expected);
}

#[test]
fn worked_example_case_0() {
    let suite = load(ANDROID);
    let case = &suite.test_cases[0];
    let window = &to_windows(case)[0];
    let risk = warnkit_protocol::risk::v2::window_risk(
        &suite.default_risk_calculation_configuration,
        window,
    )
    .unwrap()
    .unwrap();
    assert_eq!(risk.transmission_risk_level, 6);
    assert!(
        (risk.normalized_time - 9.584).abs() < 1e-9,
        "{}",
        risk.normalized_time
    );
    assert_eq!(risk.risk_level, RiskLevel::High);
}
