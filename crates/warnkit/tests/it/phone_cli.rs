//! `warnkit phone` against a running `warnkit serve`, as an app developer would use it: two phones
//! meet, one registers a test, the lab posts a positive result, the phone uploads, distribution
//! publishes, the other phone downloads, verifies, matches and shows an increased risk.

use serde_json::Value;

use crate::common;
use common::{start_unscheduled, warnkit};

fn at(day: i64, hour: i64) -> String {
    format!(
        "{}T{hour:02}:00:00Z",
        warnkit_distribution::layout::date_string(day)
    )
}

#[test]
fn two_phones_meet_one_tests_positive_the_other_is_warned() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server_dir = tmp.path().join("server");
    std::fs::create_dir_all(&server_dir).expect("mkdir");
    let (_server, endpoints) = start_unscheduled(&server_dir, &[]);
    let data = server_dir.to_str().expect("utf-8");
    let endpoints_file = server_dir.join("endpoints.json");
    let public_key = server_dir.join("signing/public-key.pem");
    let (alice, bob) = (tmp.path().join("alice"), tmp.path().join("bob"));
    let (a, b) = (alice.to_str().expect("utf-8"), bob.to_str().expect("utf-8"));
    let today = warnkit_store::unix_now() / 86_400;
    for dir in [a, b] {
        warnkit(&[
            "phone",
            "init",
            "--dir",
            dir,
            "--endpoints",
            endpoints_file.to_str().expect("utf-8"),
            "--public-key",
            public_key.to_str().expect("utf-8"),
        ]);
    }
    // Forty minutes at about a metre, yesterday morning.
    warnkit(&[
        "phone",
        "meet",
        "--dir",
        a,
        "--other",
        b,
        "--minutes",
        "40",
        "--now",
        &at(today - 1, 10),
    ]);

    // What cannot be a GUID from a QR code is refused before anything is sent.
    for bad in ["", "hello world", &"ab".repeat(32)] {
        let out = std::process::Command::new(common::BIN)
            .args(["phone", "scan-qr", "--dir", a, bad])
            .output()
            .expect("run warnkit");
        assert!(!out.status.success(), "scan-qr {bad:?} succeeded");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("GUID"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let guid = "0C3E9F-0C3E9F5B-5D2A-4E59-9E7C-2B8A6C1D3F4E";
    warnkit(&["phone", "scan-qr", "--dir", a, guid]);
    assert_eq!(warnkit(&["phone", "poll", "--dir", a]), "pending");
    let lab_key = warnkit(&["lab", "key", "create", "--lab", "lab-1", "--data-dir", data]);
    let testresult = endpoints["testresult"].as_str().expect("url");
    warnkit(&[
        "lab", "post", "--url", testresult, "--key", &lab_key, "--guid", guid, "--result",
        "positive",
    ]);
    assert_eq!(warnkit(&["phone", "poll", "--dir", a]), "positive");
    let uploaded = warnkit(&["phone", "upload", "--dir", a]);
    assert!(uploaded.starts_with("uploaded"), "{uploaded}");

    // The server's distribution, as if it ran tomorrow at 03:00; Bob syncs ten minutes later.
    warnkit(&[
        "distribute",
        "--data-dir",
        data,
        "--now",
        &at(today + 1, 3),
        "--allow-future",
    ]);
    let sync: Value = serde_json::from_str(&warnkit(&[
        "phone",
        "sync",
        "--dir",
        b,
        "--now",
        &at(today + 1, 4),
    ]))
    .expect("json");
    assert!(sync["files"].as_u64().expect("files") > 0, "{sync}");
    assert_eq!(sync["rejected"], serde_json::json!([]), "{sync}");
    let risk: Value = serde_json::from_str(&warnkit(&[
        "phone",
        "risk",
        "--dir",
        b,
        "--now",
        &at(today + 1, 4),
    ]))
    .expect("json");
    assert_eq!(risk["level"], "increased", "{risk}");
    assert_eq!(risk["days_since_last_exposure"], 2, "{risk}");
    // Alice met only Bob, who has not uploaded anything: low risk.
    warnkit(&["phone", "sync", "--dir", a, "--now", &at(today + 1, 4)]);
    let risk: Value = serde_json::from_str(&warnkit(&[
        "phone",
        "risk",
        "--dir",
        a,
        "--now",
        &at(today + 1, 4),
    ]))
    .expect("json");
    assert_eq!(risk["level"], "low", "{risk}");
}

#[test]
fn init_takes_the_regions_to_download_and_refuses_a_bad_code() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let endpoints = tmp.path().join("endpoints.json");
    std::fs::write(
        &endpoints,
        r#"{"distribution": "http://127.0.0.1:9", "submission": "http://127.0.0.1:9", "verification": "http://127.0.0.1:9"}"#,
    )
    .expect("write endpoints");
    let keys = tmp.path().join("keys");
    warnkit(&["keygen", "--out", keys.to_str().expect("utf-8")]);
    let public_key = keys.join("public-key.pem");
    let phone = tmp.path().join("phone");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "phone".to_owned(),
            "init".to_owned(),
            "--dir".to_owned(),
            phone.to_str().expect("utf-8").to_owned(),
            "--endpoints".to_owned(),
            endpoints.to_str().expect("utf-8").to_owned(),
            "--public-key".to_owned(),
            public_key.to_str().expect("utf-8").to_owned(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };

    let bad = std::process::Command::new(common::BIN)
        .args(args(&["--key-region", "../x"]))
        .output()
        .expect("run warnkit");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("region code"));
    assert!(!phone.join("phone.json").exists(), "nothing written");

    let ok = args(&["--region", "FR"]);
    warnkit(&ok.iter().map(String::as_str).collect::<Vec<_>>());
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(phone.join("phone.json")).expect("phone.json"),
    )
    .expect("JSON");
    let settings = &state["phone"]["settings"];
    assert_eq!(settings["region"], "FR", "{settings}");
    assert_eq!(
        settings["key_regions"],
        serde_json::json!(["EUR"]),
        "the combined region by default, as the original's apps since 1.6: {settings}"
    );
    assert_eq!(
        state["phone"]["interop"]["origin"], "FR",
        "uploads name the home region as their origin"
    );

    // Repeats are downloaded once.
    let phone = tmp.path().join("phone-dedup");
    let mut dedup = args(&[
        "--region",
        "DE",
        "--key-region",
        "DE",
        "--key-region",
        "EUR",
        "--key-region",
        "EUR",
    ]);
    // A fresh directory: `args` points `--dir` (index 3) at the first phone.
    dedup[3] = phone.to_str().expect("utf-8").to_owned();
    warnkit(&dedup.iter().map(String::as_str).collect::<Vec<_>>());
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(phone.join("phone.json")).expect("phone.json"),
    )
    .expect("JSON");
    let settings = &state["phone"]["settings"];
    assert_eq!(settings["region"], "DE", "{settings}");
    assert_eq!(
        settings["key_regions"],
        serde_json::json!(["DE", "EUR"]),
        "{settings}"
    );
    assert_eq!(state["phone"]["interop"]["origin"], "DE");
}

#[test]
fn a_phone_running_for_days_uploads_its_keys_and_a_refusal_names_the_servers_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server_dir = tmp.path().join("server");
    std::fs::create_dir_all(&server_dir).expect("mkdir");
    let (_server, endpoints) = start_unscheduled(&server_dir, &[]);
    let data = server_dir.to_str().expect("utf-8");
    let endpoints_file = server_dir.join("endpoints.json");
    let public_key = server_dir.join("signing/public-key.pem");
    let init = |dir: &str, extra: &[&str]| {
        let mut args = vec![
            "phone",
            "init",
            "--dir",
            dir,
            "--endpoints",
            endpoints_file.to_str().expect("utf-8"),
            "--public-key",
            public_key.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        std::process::Command::new(common::BIN)
            .args(&args)
            .output()
            .expect("run warnkit")
    };
    let (alice, bob) = (tmp.path().join("alice"), tmp.path().join("bob"));
    let (a, b) = (alice.to_str().expect("utf-8"), bob.to_str().expect("utf-8"));

    // More history than a first upload can send is refused, and nothing is written.
    let too_long = init(a, &["--history-days", "14"]);
    assert_eq!(too_long.status.code(), Some(2));
    assert!(!alice.join("phone.json").exists());
    assert!(init(a, &["--history-days", "3"]).status.success());
    assert!(init(b, &[]).status.success());
    let before = warnkit_store::unix_now();
    warnkit(&["phone", "meet", "--dir", a, "--other", b, "--days-ago", "1"]);
    let after = warnkit_store::unix_now();
    // Bob's sightings of Alice lie in the 30 minutes that ended a day ago (10-minute intervals).
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(bob.join("phone.json")).expect("phone.json"))
            .expect("JSON");
    let sightings = state["phone"]["en"]["scan_log"]
        .as_array()
        .expect("scan log");
    assert_eq!(sightings.len(), 6, "{sightings:?}");
    let (first, last) = ((before - 86_400 - 1_800) / 600, (after - 86_400) / 600);
    for s in sightings {
        let interval = s["interval"].as_i64().expect("interval");
        assert!(
            (first..=last).contains(&interval),
            "{interval} not in {first}..={last}"
        );
    }
    let today = after / 86_400;

    // Malformed GUIDs, each refused with a message naming the GUID and a non-zero exit.
    let guid = "5A1B2C-5A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D";
    for bad in [
        "",
        "https://localhost/?",
        "5A1B2C-5A1B2C3D-4E5F-4A6B-8C7D",
        "5A1B2-C5A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D",
        "5A1B2C-5A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4X",
        "https://example.org/?5A1B2C-5A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D",
    ] {
        let out = std::process::Command::new(common::BIN)
            .args(["phone", "scan-qr", "--dir", a, bad])
            .output()
            .expect("run warnkit");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "scan-qr {bad:?}: {stderr}");
        assert!(stderr.contains("GUID"), "{bad:?}: {stderr}");
    }
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(alice.join("phone.json")).expect("phone.json"),
    )
    .expect("JSON");
    assert!(state["phone"]["test"].is_null(), "nothing registered");

    // The QR code's whole content registers the GUID it carries, the one the lab posts for.
    warnkit(&[
        "phone",
        "scan-qr",
        "--dir",
        a,
        &format!("https://localhost/?{guid}"),
    ]);
    let lab_key = warnkit(&["lab", "key", "create", "--lab", "lab-1", "--data-dir", data]);
    let testresult = endpoints["testresult"].as_str().expect("url");
    warnkit(&[
        "lab", "post", "--url", testresult, "--key", &lab_key, "--guid", guid, "--result",
        "positive",
    ]);
    assert_eq!(warnkit(&["phone", "poll", "--dir", a]), "positive");
    let uploaded = warnkit(&["phone", "upload", "--dir", a]);
    assert!(uploaded.starts_with("uploaded 3 keys"), "{uploaded}");
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(alice.join("phone.json")).expect("phone.json"),
    )
    .expect("JSON");
    assert_eq!(state["phone"]["test"]["first_upload_day"], today);

    // The GUID is used: a second phone scanning it is refused, and told why.
    let out = std::process::Command::new(common::BIN)
        .args(["phone", "scan-qr", "--dir", b, guid])
        .output()
        .expect("run warnkit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("registration refused with HTTP 400 (key_already_used)"),
        "{stderr}"
    );
}
