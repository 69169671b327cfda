//! `warnkit risk` end to end: the built binary on conformance-suite cases and on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

const ANDROID: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/risk-v2-android.json"
);
const IOS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/risk-v2-ios.json"
);

/// A scratch directory unique to this process and call, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "warnkit-cli-risk-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, file: &str, contents: &str) -> PathBuf {
        let path = self.0.join(file);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn warnkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warnkit"))
        .args(args)
        .output()
        .expect("running warnkit")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn load(suite: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(suite).unwrap()).unwrap()
}

/// Runs `warnkit risk v2` on one suite case and compares all seven outputs with the case's expectations.
fn check_case(suite: &str, index: usize, round_day: bool) {
    let suite = load(suite);
    let case = &suite["testCases"][index];
    let dir = Scratch::new("case");
    let cfg = dir.write(
        "config.json",
        &suite["defaultRiskCalculationConfiguration"].to_string(),
    );
    let windows = dir.write("windows.json", &case["exposureWindows"].to_string());
    let mut args = vec![
        "risk",
        "v2",
        "--config",
        path(&cfg),
        "--windows",
        path(&windows),
    ];
    if round_day {
        args.push("--round-day");
    }
    let out = warnkit(&args);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = [
        "totalRiskLevel",
        "ageOfMostRecentDateWithLowRisk",
        "ageOfMostRecentDateWithHighRisk",
        "numberOfDaysWithLowRisk",
        "numberOfDaysWithHighRisk",
        "totalMinimumDistinctEncountersWithLowRisk",
        "totalMinimumDistinctEncountersWithHighRisk",
    ];
    assert_eq!(got.as_object().unwrap().len(), names.len(), "{got}");
    for name in names {
        let expected = &case[format!("exp{}{}", &name[..1].to_uppercase(), &name[1..])];
        assert!(!expected.is_null() || name.starts_with("age"), "{name}");
        assert_eq!(
            &got[name], expected,
            "{name} in case {:?}",
            case["description"]
        );
    }
}

#[test]
fn v2_android_case_with_rounding() {
    // Case 16: three LOW windows that add up to a HIGH day.
    check_case(ANDROID, 16, true);
}

#[test]
fn v2_android_rounding_case() {
    check_case(ANDROID, 28, true);
}

#[test]
fn v2_ios_case_without_rounding() {
    check_case(IOS, 11, false);
}

#[test]
fn v2_default_config_and_empty_windows() {
    let dir = Scratch::new("empty");
    let windows = dir.write("windows.json", "[]");
    let out = warnkit(&["risk", "v2", "--windows", path(&windows)]);
    assert!(out.status.success());
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["totalRiskLevel"], 1);
    assert!(got["ageOfMostRecentDateWithLowRisk"].is_null());
    assert!(got["ageOfMostRecentDateWithHighRisk"].is_null());
    assert_eq!(got["numberOfDaysWithHighRisk"], 0);
}

#[test]
fn v1_with_final_shipped_defaults() {
    let dir = Scratch::new("v1");
    // Product 2 × 1 × 5 × 8 = 80; 80 / 50 × (30 + 0.5 × 30) = 72 → increased.
    let exposures = dir.write(
        "exposures.json",
        r#"[{"attenuationDb": 50, "durationMinutes": 30, "daysSinceExposure": 1,
             "transmissionRiskLevel": 8, "attenuationDurationsMinutes": [30, 30, 30]},
            {"attenuationDb": 70, "durationMinutes": 5, "daysSinceExposure": 3,
             "transmissionRiskLevel": 3}]"#,
    );
    let out = warnkit(&["risk", "v1", "--exposures", path(&exposures)]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["summary"]["maximumRiskScore"], 80);
    assert_eq!(got["summary"]["matchedKeyCount"], 2);
    assert_eq!(got["summary"]["daysSinceLastExposure"], 1);
    assert_eq!(
        got["summary"]["attenuationDurationsMinutes"],
        serde_json::json!([30, 30, 30])
    );
    assert_eq!(got["exposureRiskScores"], serde_json::json!([80, 0]));
    assert_eq!(got["combinedRiskScore"], 72.0);
    assert_eq!(got["riskLevel"], "INCREASED");
}

#[test]
fn v1_with_a_config_file() {
    let dir = Scratch::new("v1cfg");
    let config = dir.write(
        "config.json",
        r#"{"attenuationDuration": {"thresholds": {"lower": 55, "upper": 63},
            "weights": {"low": 1.0, "mid": 0.5, "high": 0.0}, "defaultBucketOffset": 0,
            "riskScoreNormalizationDivisor": 25}}"#,
    );
    let exposures = dir.write(
        "exposures.json",
        r#"[{"attenuationDb": 50, "durationMinutes": 15, "daysSinceExposure": 1,
             "transmissionRiskLevel": 3}]"#,
    );
    let out = warnkit(&[
        "risk",
        "v1",
        "--config",
        path(&config),
        "--exposures",
        path(&exposures),
    ]);
    assert!(out.status.success());
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 2 × 1 × 5 × 3 = 30; 30 / 25 × 15 = 18 → HIGH class [15, 9999].
    assert_eq!(got["combinedRiskScore"], 18.0);
    assert_eq!(got["riskLevel"], "INCREASED");
}

/// Runs warnkit expecting exit code 2 and a single `error:` line that mentions `needle`.
fn assert_fails(args: &[&str], needle: &str) {
    let out = warnkit(args);
    assert_eq!(out.status.code(), Some(2), "args {args:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_input_is_one_error_line() {
    let dir = Scratch::new("bad");
    let missing = dir.0.join("missing.json");
    assert_fails(&["risk", "v2", "--windows", path(&missing)], "missing.json");
    assert_fails(
        &["risk", "v1", "--exposures", path(&missing)],
        "missing.json",
    );

    let garbage = dir.write("garbage.json", "[{not json");
    assert_fails(&["risk", "v2", "--windows", path(&garbage)], "parsing");

    let wrong_type = dir.write(
        "wrong_type.json",
        r#"[{"attenuationDb": "loud", "durationMinutes": 5, "daysSinceExposure": 1,
             "transmissionRiskLevel": 3}]"#,
    );
    assert_fails(
        &["risk", "v1", "--exposures", path(&wrong_type)],
        "invalid type",
    );

    let too_loud = dir.write(
        "too_loud.json",
        r#"[{"attenuationDb": 300, "durationMinutes": 5, "daysSinceExposure": 1,
             "transmissionRiskLevel": 3}]"#,
    );
    assert_fails(&["risk", "v1", "--exposures", path(&too_loud)], "300");

    let bad_trl = dir.write(
        "bad_trl.json",
        r#"[{"attenuationDb": 30, "durationMinutes": 5, "daysSinceExposure": 1,
             "transmissionRiskLevel": 9}]"#,
    );
    assert_fails(
        &["risk", "v1", "--exposures", path(&bad_trl)],
        "transmission risk level 9",
    );

    let bad_score = dir.write("bad_score.json", r#"{"durationScores": [0,0,0,9,1,1,1,1]}"#);
    assert_fails(
        &[
            "risk",
            "v1",
            "--config",
            path(&bad_score),
            "--exposures",
            path(&bad_trl),
        ],
        "duration score #3 is 9",
    );

    let bad_enum = dir.write(
        "bad_enum.json",
        r#"[{"ageInDays": 1, "reportType": 1, "infectiousness": 7, "calibrationConfidence": 0,
             "scanInstances": []}]"#,
    );
    assert_fails(
        &["risk", "v2", "--windows", path(&bad_enum)],
        "unknown infectiousness value 7",
    );

    let negative_age = dir.write(
        "negative_age.json",
        r#"[{"ageInDays": -1, "reportType": 1, "infectiousness": 1, "calibrationConfidence": 0,
             "scanInstances": []}]"#,
    );
    assert_fails(&["risk", "v2", "--windows", path(&negative_age)], "-1");

    let bad_confidence = dir.write(
        "bad_confidence.json",
        r#"[{"ageInDays": 1, "reportType": 1, "infectiousness": 1, "calibrationConfidence": 4,
             "scanInstances": []}]"#,
    );
    assert_fails(
        &["risk", "v2", "--windows", path(&bad_confidence)],
        "calibrationConfidence 4",
    );

    let revoked = dir.write(
        "revoked.json",
        r#"[{"ageInDays": 1, "reportType": 5, "infectiousness": 1, "calibrationConfidence": 0,
             "scanInstances": []}]"#,
    );
    assert_fails(
        &["risk", "v2", "--windows", path(&revoked)],
        "report type 5",
    );

    // A whole suite file is not a configuration object.
    let windows = dir.write("windows.json", "[]");
    assert_fails(
        &[
            "risk",
            "v2",
            "--config",
            ANDROID,
            "--windows",
            path(&windows),
        ],
        "unknown field",
    );
}

#[test]
fn help_documents_the_input_shapes() {
    let out = warnkit(&["risk", "v1", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "attenuationDb",
        "attenuationDurationsMinutes",
        "riskScoreNormalizationDivisor",
    ] {
        assert!(help.contains(word), "{word} missing from v1 help");
    }
    let out = warnkit(&["risk", "v2", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "ageInDays",
        "scanInstances",
        "--round-day",
        "totalRiskLevel",
    ] {
        assert!(help.contains(word), "{word} missing from v2 help");
    }
}

/// The repository's `examples/` directory, where the README's risk commands take their files.
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

#[test]
fn the_shipped_examples_run_and_are_the_printed_defaults() {
    let run = |args: &[&str]| -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_warnkit"))
            .args(args)
            .current_dir(format!("{EXAMPLES}/.."))
            .output()
            .expect("run warnkit");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    // The README's commands, exactly as written there, from the repository root.
    let v2 = run(&[
        "risk",
        "v2",
        "--config",
        "examples/risk-v2.json",
        "--windows",
        "examples/windows.json",
        "--round-day",
    ]);
    assert_eq!(v2["totalRiskLevel"], 2, "{v2}");
    let v1 = run(&["risk", "v1", "--exposures", "examples/exposures.json"]);
    assert_eq!(v1["riskLevel"], "INCREASED", "{v1}");
    // The shipped parameter files are what `risk defaults` prints, so they cannot drift.
    for model in ["v1", "v2"] {
        let printed = run(&["risk", "defaults", model]);
        let shipped: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{EXAMPLES}/risk-{model}.json")).expect("read"),
        )
        .expect("JSON");
        assert_eq!(printed, shipped, "examples/risk-{model}.json");
    }
}
