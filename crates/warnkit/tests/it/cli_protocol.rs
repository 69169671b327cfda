//! The protocol commands of the `warnkit` binary: `en derive`, `export inspect|verify|build`,
//! `keygen` and `bench match`, run as a user would run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");

fn warnkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warnkit"))
        .args(args)
        .output()
        .expect("run warnkit")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8")
}

fn sample(name: &str) -> String {
    format!("{TESTDATA}/{name}")
}

#[test]
fn en_derive_prints_the_published_vectors() {
    let out = warnkit(&[
        "en",
        "derive",
        "--tek",
        "75c734c6dd1a782de7a965da5eb93125",
        "--interval",
        "2642976",
        "--count",
        "144",
        "--metadata",
        "40080000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 144);
    assert_eq!(
        lines[0],
        "2642976 8be6cd371c5c891604bfbe49df845096 72033874"
    );
    assert_eq!(
        lines[143],
        "2643119 f431b62ecf443102ce4ed0407de54bd4 1215e57e"
    );
    let without = warnkit(&[
        "en",
        "derive",
        "--tek",
        "9749a68e0faefda5ff56041123050c63",
        "--interval",
        "2648535",
    ]);
    assert_eq!(
        stdout(&without),
        "2648535 2cfab68c3ff177c321d5b82d68fedf32\n"
    );
}

#[test]
fn en_derive_rejects_bad_hex_with_one_line() {
    for args in [
        vec!["en", "derive", "--tek", "75c7", "--interval", "1"],
        vec![
            "en",
            "derive",
            "--tek",
            "zz c734c6dd1a782de7a965da5eb93125",
            "--interval",
            "1",
        ],
        vec![
            "en",
            "derive",
            "--tek",
            "75c734c6dd1a782de7a965da5eb93125",
            "--interval",
            "1",
            "--metadata",
            "4008",
        ],
        vec![
            "en",
            "derive",
            "--tek",
            "75c734c6dd1a782de7a965da5eb93125",
            "--interval",
            "4294967295",
            "--count",
            "2",
        ],
    ] {
        let out = warnkit(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn export_inspect_json_has_the_documented_shape() {
    let out = warnkit(&[
        "export",
        "inspect",
        &sample("export-sample-2-keys.zip"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["start_timestamp"], 1_590_159_600u64);
    assert_eq!(v["end_timestamp"], 1_590_246_000u64);
    assert_eq!(v["region"], "US");
    assert_eq!(v["batch_num"], 1);
    assert_eq!(v["batch_size"], 1);
    assert_eq!(v["signature_infos"][0]["verification_key_id"], "some_id");
    assert_eq!(v["signature_infos"][0]["verification_key_version"], "1");
    assert_eq!(
        v["signature_infos"][0]["signature_algorithm"],
        "1.2.840.10045.4.3.2"
    );
    let keys = v["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["key_data"], "172fc480e598490c34177604339b1543");
    assert_eq!(keys[0]["transmission_risk_level"], 8);
    assert_eq!(keys[0]["rolling_start_interval_number"], 2_649_980);
    assert_eq!(keys[0]["rolling_period"], 1);
    assert!(keys[0]["report_type"].is_null());
    assert!(keys[0]["days_since_onset_of_symptoms"].is_null());
    let table = warnkit(&["export", "inspect", &sample("export-sample-140-keys.zip")]);
    assert!(stdout(&table).contains("keys         140"));
}

#[test]
fn export_verify_exit_codes() {
    let ok = warnkit(&[
        "export",
        "verify",
        &sample("export-sample-2-keys.zip"),
        "--public-key",
        &sample("export-sample-2-keys.public.pem"),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("verified:"));
    let wrong = warnkit(&[
        "export",
        "verify",
        &sample("export-sample-140-keys.zip"),
        "--public-key",
        &sample("export-sample-2-keys.public.pem"),
    ]);
    assert_eq!(wrong.status.code(), Some(1));
    assert_eq!(stdout(&wrong).lines().count(), 1);
    let unreadable = warnkit(&[
        "export",
        "verify",
        &sample("README.md"),
        "--public-key",
        &sample("export-sample-2-keys.public.pem"),
    ]);
    assert_eq!(unreadable.status.code(), Some(2));
    assert_eq!(stderr(&unreadable).lines().count(), 1);
    let bad_key = warnkit(&[
        "export",
        "verify",
        &sample("export-sample-2-keys.zip"),
        "--public-key",
        &sample("README.md"),
    ]);
    assert_eq!(bad_key.status.code(), Some(2));
}

#[test]
fn truncated_and_garbage_archives_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zip = std::fs::read(sample("export-sample-140-keys.zip")).expect("read");
    for (name, bytes) in [
        ("truncated.zip", zip[..zip.len() / 2].to_vec()),
        ("empty.zip", Vec::new()),
        (
            "garbage.zip",
            vec![0x50, 0x4b, 0x05, 0x06, 0xff, 0xff, 0xff],
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let out = warnkit(&["export", "inspect", path.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert_eq!(stderr(&out).lines().count(), 1, "{name}: {}", stderr(&out));
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn build_then_inspect_round_trips_and_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys_dir: PathBuf = dir.path().join("keys");
    let keygen = warnkit(&["keygen", "--out", path(&keys_dir)]);
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    assert!(stdout(&keygen).starts_with("-----BEGIN PUBLIC KEY-----"));
    let again = warnkit(&["keygen", "--out", path(&keys_dir)]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "keygen must not overwrite keys silently"
    );

    // Start from the 140-key sample's keys and add fields it lacks.
    let inspected = warnkit(&[
        "export",
        "inspect",
        &sample("export-sample-140-keys.zip"),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&inspected.stdout).expect("json");
    let mut keys = v["keys"].as_array().expect("keys").clone();
    keys[0]["report_type"] = 1.into();
    keys[0]["days_since_onset_of_symptoms"] = (-3).into();
    keys[1]["rolling_period"] = 7.into();
    let keys_json = dir.path().join("keys.json");
    std::fs::write(&keys_json, serde_json::to_vec(&keys).expect("json")).expect("write");
    let archive = dir.path().join("out.zip");
    let built = warnkit(&[
        "export",
        "build",
        "--keys",
        path(&keys_json),
        "--signing-key",
        path(&keys_dir.join("signing-key.pem")),
        "--region",
        "DE",
        "--key-id",
        "262",
        "--key-version",
        "v1",
        "--out",
        path(&archive),
    ]);
    assert!(built.status.success(), "{}", stderr(&built));
    let back = warnkit(&["export", "inspect", path(&archive), "--json"]);
    let w: serde_json::Value = serde_json::from_slice(&back.stdout).expect("json");
    assert_eq!(
        w["keys"],
        serde_json::Value::Array(keys),
        "keys lost in the round trip"
    );
    assert_eq!(w["region"], "DE");
    assert_eq!(w["signature_infos"][0]["verification_key_id"], "262");
    let verify = warnkit(&[
        "export",
        "verify",
        path(&archive),
        "--public-key",
        path(&keys_dir.join("public-key.pem")),
    ]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

    // Bad key JSON: clear errors, no output file.
    for (body, needle) in [
        (
            r#"[{"key_data": "00", "rolling_start_interval_number": 1}]"#,
            "key_data",
        ),
        (
            r#"[{"key_data": "00000000000000000000000000000000", "rolling_start_interval_number": 1, "rolling_period": 145}]"#,
            "rolling_period",
        ),
        (
            r#"[{"key_data": "00000000000000000000000000000000", "rolling_start_interval_number": 1, "colour": 1}]"#,
            "colour",
        ),
        (r#"{"keys": []}"#, "array"),
    ] {
        std::fs::write(&keys_json, body).expect("write");
        let bad_out = dir.path().join("bad.zip");
        let out = warnkit(&[
            "export",
            "build",
            "--keys",
            path(&keys_json),
            "--signing-key",
            path(&keys_dir.join("signing-key.pem")),
            "--region",
            "DE",
            "--out",
            path(&bad_out),
        ]);
        assert_eq!(out.status.code(), Some(2), "{body}");
        assert!(stderr(&out).contains(needle), "{body}: {}", stderr(&out));
        assert!(!bad_out.exists());
    }
}

#[test]
fn bench_match_reports_json() {
    let out = warnkit(&[
        "bench",
        "match",
        "--keys",
        "3000",
        "--observed",
        "2000",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["keys_per_second"].as_f64().expect("number") > 0.0);
    assert!(v["aes_bound_keys_per_second"].as_f64().expect("number") > 0.0);
    assert_eq!(v["matches"], v["expected_matches"]);
    assert_eq!(v["matches"], 2);
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["en", "derive", "--help"],
        vec!["export", "inspect", "--help"],
        vec!["export", "verify", "--help"],
        vec!["export", "build", "--help"],
        vec!["keygen", "--help"],
        vec!["bench", "match", "--help"],
    ] {
        let out = warnkit(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage:"), "{args:?}");
    }
    let version = warnkit(&["--version"]);
    assert!(stdout(&version).starts_with("warnkit "));
}
