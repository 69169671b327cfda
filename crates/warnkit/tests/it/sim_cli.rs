//! `warnkit sim` and `warnkit capacity` run as a user would: the built binary, `--json` output parsed.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn warnkit(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_warnkit"))
        .args(args)
        .output()
        .expect("run warnkit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "warnkit {args:?} failed: {stderr}");
    // With --json nothing else may be printed: no progress bar, no notes.
    assert!(
        stderr.is_empty(),
        "warnkit {args:?} wrote to stderr: {stderr}"
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warnkit-sim-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn single_encounter_follows_the_closed_form() {
    let (d, w, t, runs): (f64, f64, f64, f64) = (60.0, 4.0, 300.0, 20_000.0);
    let v = warnkit(&[
        "sim",
        "ble",
        "--duration",
        "60",
        "--distance",
        "1",
        "--window-period",
        "300",
        "--window-length",
        "4",
        "--fixed-timing",
        "--runs",
        "20000",
        "--seed",
        "3",
        "--json",
    ]);
    let p = f(&v, "detection_probability");
    let want = (d + w) / t;
    let se = (want * (1.0 - want) / runs).sqrt();
    // The closed form counts any overlap; overlaps shorter than the 250 ms advertising interval hold an
    // advertisement only sometimes, which costs 0.25 / T.
    assert!(
        (p - want).abs() <= 4.0 * se + 0.25 / t,
        "p = {p}, closed form {want}"
    );
    assert!((f(&v, "closed_form_probability") - want).abs() < 1e-12);
    assert_eq!(f(&v, "runs"), runs);
}

#[test]
fn out_of_range_is_never_and_a_full_period_always_detected() {
    let far = warnkit(&[
        "sim",
        "ble",
        "--duration",
        "3600",
        "--distance",
        "5000",
        "--runs",
        "500",
        "--json",
    ]);
    assert_eq!(f(&far, "detection_probability"), 0.0);
    assert!(far["mean_min_attenuation_db"].is_null());
    let long = warnkit(&[
        "sim",
        "ble",
        "--duration",
        "304",
        "--distance",
        "1",
        "--window-period",
        "300",
        "--fixed-timing",
        "--runs",
        "5000",
        "--json",
    ]);
    assert_eq!(f(&long, "detection_probability"), 1.0);
}

#[test]
fn seed_figure_with_fixed_timing_reproduces_the_seeds_outcome() {
    let v = warnkit(&[
        "sim",
        "ble",
        "--scenario",
        "seed-figure",
        "--fixed-timing",
        "--window-period",
        "300",
        "--window-length",
        "2",
        "--aligned",
        "--runs",
        "5",
        "--json",
    ]);
    let encounters = v["encounters"].as_array().expect("encounters");
    let p = |device: u32| {
        let prefix = format!("device {device}:");
        let e = encounters
            .iter()
            .find(|e| e["label"].as_str().is_some_and(|l| l.starts_with(&prefix)))
            .unwrap_or_else(|| panic!("device {device} missing"));
        f(e, "detection_probability")
    };
    assert_eq!(p(3), 0.0, "device 3 goes unnoticed");
    assert_eq!(p(4), 0.0, "device 4 goes unnoticed");
    assert_eq!(p(2), 0.0, "the close contact with device 2 is missed");
    assert_eq!(p(5), 1.0, "the brief close contact with device 5 is logged");
    assert_eq!(p(1), 1.0, "device 1 is logged");
}

#[test]
fn fixed_timing_alone_is_the_figures_timing_and_aligned_runs_once() {
    // The short form a reader types first: the figure's 2-second windows every 300 s without naming
    // them, and one run since nothing is left to chance.
    let args: Vec<&str> = "sim ble --scenario seed-figure --fixed-timing --aligned --json"
        .split(' ')
        .collect();
    let v = warnkit(&args);
    assert_eq!(f(&v, "runs"), 1.0);
    assert_eq!(f(&v["radio"]["scanning"], "window_s"), 2.0);
    assert_eq!(f(&v["radio"]["scanning"], "period_max_s"), 300.0);
    let detected: Vec<f64> = v["encounters"]
        .as_array()
        .expect("encounters")
        .iter()
        .map(|e| f(e, "detection_probability"))
        .collect();
    assert_eq!(detected, [1.0, 0.0, 0.0, 0.0, 1.0], "devices 1 to 5");
}

#[test]
fn scenario_runs_are_deterministic_per_seed_and_score_risk() {
    let run = |seed: &str| {
        warnkit(&[
            "sim",
            "ble",
            "--scenario",
            "close-contact",
            "--runs",
            "300",
            "--seed",
            seed,
            "--json",
        ])
    };
    let a = run("7");
    assert_eq!(a, run("7"));
    assert_ne!(a["encounters"], run("8")["encounters"]);
    let e = &a["encounters"][0];
    assert_eq!(f(e, "detection_probability"), 1.0);
    // 15 minutes at 1 m: CWA's v2 defaults warn in (nearly) every run.
    assert!(f(e, "v2_high_risk_probability") > 0.9, "{e}");
    assert!(f(e, "v2_mean_normalized_time") > 9.0, "{e}");
}

#[test]
fn plots_are_written_as_png_and_svg() {
    let dir = scratch("plots");
    let dir_s = dir.to_str().expect("utf-8 temp dir");
    warnkit(&[
        "sim",
        "ble",
        "--scenario",
        "train",
        "--runs",
        "20",
        "--plots",
        dir_s,
        "--json",
    ]);
    for stem in [
        "train-timeline",
        "detection-vs-duration",
        "attenuation-vs-distance",
    ] {
        let png = std::fs::read(dir.join(format!("{stem}.png"))).expect("png written");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png");
        let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).expect("svg written");
        assert!(svg.contains("<svg"), "{stem}.svg");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn capacity_with_the_seeds_inputs_lands_near_their_figures() {
    let v = warnkit(&["capacity", "--json", "--seed", "2"]);
    // The seeds count download sessions: one per client per file.
    assert_eq!(v["sessions_per_day"].as_u64(), Some(720_000_000));
    let sps = f(&v, "sessions_per_second");
    assert!((sps - 8_333.3).abs() < 0.1, "{sps}");
    assert!(
        (sps - 8_500.0).abs() / 8_500.0 < 0.05,
        "seeds: about 8,500/s"
    );
    let peak = f(&v, "peak_sessions_per_second");
    assert!(
        peak > sps && peak < 1.1 * sps,
        "jitter keeps the peak near the mean: {peak}"
    );
    assert!(f(&v, "peak_sessions_per_second_without_jitter") > 30.0 * sps);
    // HTTP requests, from the phones' own counters: a new phone at 08:xx takes the configuration, the
    // date index, 14 daily files, today's hour index and its 8 hours; after that each hourly run takes
    // the hour index and the new hour, and once a day the configuration and the dates on top.
    let m = &v["measured"];
    assert_eq!(m["first_sync_requests"].as_u64(), Some(25), "{m}");
    assert_eq!(m["first_sync_files"].as_u64(), Some(22), "{m}");
    assert_eq!(f(m, "syncs_per_phone_per_day"), 24.0);
    let per_phone = f(m, "requests_per_phone_per_day");
    assert!(
        (2.0 * 24.0..=2.0 * 24.0 + 8.0).contains(&per_phone),
        "{per_phone}"
    );
    let requests = f(&v, "requests_per_day");
    assert!((requests - 30e6 * per_phone).abs() <= 1.0, "{requests}");
    let rps = f(&v, "requests_per_second");
    assert!((rps - requests / 86_400.0).abs() < 0.01, "{rps}");
    assert!(f(&v, "peak_requests_per_second") > 2.0 * peak);
    assert!(
        f(&v, "peak_requests_per_second_without_jitter")
            > 2.0 * f(&v, "peak_sessions_per_second_without_jitter")
    );
    // Sizes come from real archives: overhead doubles them, and they sit within a factor of two of the
    // seeds' 1.5 MB per client and 42.8 TB (TiB, in fact) per day.
    let archive = f(&v, "archive_bytes_per_day");
    let per_client = f(&v, "bytes_per_client_per_day");
    assert_eq!(per_client, 2.0 * archive);
    assert!(per_client > 0.75e6 && per_client < 3.0e6, "{per_client}");
    let tib = f(&v, "tebibytes_per_day");
    assert!(tib > 21.4 && tib < 85.6, "{tib}");
    let raw = f(&v, "uncompressed_bytes_per_key");
    assert!((28.0..=40.0).contains(&raw), "protobuf bytes per key {raw}");
    // Twice the cases, about twice the bytes.
    let double = warnkit(&[
        "capacity",
        "--json",
        "--seed",
        "2",
        "--cases-per-day",
        "4000",
    ]);
    let ratio = f(&double, "archive_bytes_per_day") / archive;
    assert!((ratio - 2.0).abs() < 0.1, "{ratio}");
}

#[test]
fn whatif_reports_rates_and_a_monotone_sweep() {
    let dir = scratch("whatif");
    let config = dir.join("risk.json");
    // A conformance-suite style file: the configuration under `defaultRiskCalculationConfiguration`.
    std::fs::write(
        &config,
        r#"{"defaultRiskCalculationConfiguration": {
            "minutesAtAttenuationWeights": [{"attenuationRange": {"min": 0, "max": 63, "maxExclusive": true}, "weight": 1.0}],
            "normalizedTimePerEWToRiskLevelMapping": [{"normalizedTimeRange": {"min": 0, "max": 9999}, "riskLevel": 1}],
            "normalizedTimePerDayToRiskLevelMapping": [
                {"normalizedTimeRange": {"min": 0, "max": 15, "maxExclusive": true}, "riskLevel": 1},
                {"normalizedTimeRange": {"min": 15, "max": 99999}, "riskLevel": 2}],
            "trlEncoding": {"infectiousnessOffsetStandard": 1, "infectiousnessOffsetHigh": 2,
                "reportTypeOffsetRecursive": 0, "reportTypeOffsetSelfReport": 2,
                "reportTypeOffsetConfirmedClinicalDiagnosis": 4, "reportTypeOffsetConfirmedTest": 6},
            "transmissionRiskValueMapping": [{"transmissionRiskLevel": 6, "transmissionRiskValue": 1.0}]
        }}"#,
    )
    .expect("write config");
    let args = [
        "sim",
        "whatif",
        "--config",
        config.to_str().expect("utf-8"),
        "--population",
        "400",
        "--json",
    ];
    let v = warnkit(&args);
    assert_eq!(v, warnkit(&args), "deterministic for the default seed");
    assert_eq!(f(&v, "day_high_threshold"), 15.0);
    let people = f(&v, "population");
    let close = f(&v, "close_contacts");
    assert!(close > 0.0 && close < people);
    let o = &v["v2"];
    let total = [
        "true_positives",
        "false_positives",
        "false_negatives",
        "true_negatives",
    ]
    .iter()
    .map(|k| f(o, k))
    .sum::<f64>();
    assert_eq!(total, people);
    assert_eq!(f(o, "true_positives") + f(o, "false_negatives"), close);
    // Raising the HIGH threshold can only withdraw warnings.
    let sweep = v["sweep"].as_array().expect("sweep");
    assert!(sweep.len() > 10);
    let warned = |p: &Value| f(p, "true_positives") + f(p, "false_positives");
    for pair in sweep.windows(2) {
        assert!(warned(&pair[1]) <= warned(&pair[0]));
        assert!(f(&pair[1], "sensitivity") <= f(&pair[0], "sensitivity"));
    }
    let at_15 = sweep
        .iter()
        .find(|p| f(p, "day_high_threshold") == 15.0)
        .expect("15 in sweep");
    assert_eq!(f(at_15, "true_positives"), f(o, "true_positives"));
    std::fs::remove_dir_all(&dir).ok();
}
