//! `warnkit demo` end to end: simulated phones against the real services (registration, lab results,
//! TANs, uploads, fake traffic, distribution on the simulated clock, downloads, matching, risk), and
//! the figures checked against the simulation's ground truth.

use std::process::{Command, Output};

use serde_json::Value;

use crate::common;
use common::{start, BIN};

fn run_demo(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("demo")
        .args(args)
        .arg("--json")
        .output()
        .expect("run warnkit demo")
}

fn demo(args: &[&str]) -> Value {
    let out = run_demo(args);
    assert!(
        out.status.success(),
        "warnkit demo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// What every demo run must show: all uploads accepted, every truly exposed phone warned, nobody
/// without contact to a positive warned, no key twice, no archive rejected, no fake key published.
fn assert_sound(s: &Value) {
    assert!(n(s, "positives") > 0, "{s}");
    assert_eq!(n(s, "uploads"), 2 * n(s, "sharing_positives"), "{s}");
    assert_eq!(n(s, "uploads_failed"), 0, "{s}");
    assert_eq!(n(s, "phone_errors"), 0, "{s}");
    assert!(n(s, "truly_exposed") > 0, "{s}");
    assert_eq!(n(s, "missed"), 0, "{s}");
    assert_eq!(n(s, "true_warnings"), n(s, "truly_exposed"), "{s}");
    assert_eq!(n(s, "warned_without_contact"), 0, "{s}");
    assert_eq!(n(s, "duplicate_keys"), 0, "{s}");
    assert_eq!(n(s, "rejected_archives"), 0, "{s}");
    assert!(n(s, "fake_uploads") > 0, "{s}");
}

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {v}"))
}

#[test]
fn thirty_phones_three_days() {
    let s = demo(&[
        "--phones",
        "30",
        "--days",
        "3",
        "--seed",
        "7",
        "--share-rate",
        "1",
        "--fake-rate",
        "0.2",
    ]);
    for field in [
        "phones",
        "positives",
        "uploads",
        "warned",
        "truly_exposed",
        "true_warnings",
        "false_warnings",
        "missed",
        "requests",
        "bytes_downloaded",
    ] {
        assert!(s.get(field).is_some(), "{field} in {s}");
    }
    assert_eq!(n(&s, "phones"), 30);
    assert_sound(&s);
    assert!(n(&s, "bytes_downloaded") > 0 && n(&s, "requests") > 0);
}

#[test]
fn risk_v2_and_the_same_seed_gives_the_same_world() {
    let args = [
        "--phones",
        "12",
        "--days",
        "2",
        "--seed",
        "3",
        "--risk",
        "v2",
        "--positive-rate",
        "0.2",
    ];
    let a = demo(&args);
    let b = demo(&args);
    assert_eq!(n(&a, "warned_without_contact"), 0, "{a}");
    assert_eq!(n(&a, "uploads_failed"), 0, "{a}");
    assert_eq!(n(&a, "missed_despite_upload"), 0, "{a}");
    assert_eq!(n(&a, "duplicate_keys"), 0, "{a}");
    // Same seed, same run: not only the world but every phone's downloads, request for request.
    // (Only the byte count may differ: each run signs with a new key, and ECDSA signatures vary in
    // length by a byte or two.)
    for field in [
        "positives",
        "truly_exposed",
        "warned",
        "true_warnings",
        "false_warnings",
        "missed",
        "uploads",
        "fake_uploads",
        "requests",
        "files_downloaded",
    ] {
        assert_eq!(a[field], b[field], "{field}: {a} vs {b}");
    }
}

#[test]
fn against_a_running_server_with_a_demo_clock() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("server");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (_server, endpoints) = start(&dir, &["--demo-clock"]);
    assert!(endpoints["demo_clock"].as_str().is_some(), "{endpoints}");
    assert!(endpoints.get("portal").is_none(), "{endpoints}");
    let server = dir.to_str().expect("utf-8");
    let args = [
        "--server",
        server,
        "--phones",
        "16",
        "--days",
        "2",
        "--seed",
        "5",
        "--positive-rate",
        "0.2",
        "--share-rate",
        "1",
        "--fake-rate",
        "0.5",
    ];
    let s = demo(&args);
    assert_eq!(n(&s, "phones"), 16);
    assert_sound(&s);
    // The keys went through the server's own store: its published files hold them.
    let dist = endpoints["distribution"].as_str().expect("url");
    let dates = reqwest_get(&format!("{dist}/version/v1/diagnosis-keys/country/DE/date"));
    assert!(dates.starts_with("[\""), "{dates}");

    // The server's clock has moved past this run's start: a second run is refused, clearly.
    let out = run_demo(&args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("409") && err.contains("fresh"), "{err}");
}

#[test]
fn the_clock_control_wants_the_token_and_sane_times() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("server");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (_server, endpoints) = start(&dir, &["--demo-clock"]);
    let control = endpoints["demo_clock"].as_str().expect("url").to_owned();
    let token = std::fs::read_to_string(dir.join("service-token")).expect("token");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let post = |path: &str, token: &str, body: &str| {
            client
                .post(format!("{control}{path}"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.to_owned())
                .send()
        };
        let status = |r: reqwest::Result<reqwest::Response>| r.expect("response").status().as_u16();
        let now = warnkit_store::unix_now();
        let t = format!("{{\"now\": {}}}", now - 86_400);
        assert_eq!(status(post("/demo/v1/clock", "wrong", &t).await), 401);
        assert_eq!(status(post("/demo/v1/distribute", "", &t).await), 401);
        assert_eq!(status(post("/demo/v1/lab-key", "wrong", "").await), 401);
        assert_eq!(
            status(post("/demo/v1/clock", token.trim(), "{\"now\": -5}").await),
            400
        );
        assert_eq!(
            status(post("/demo/v1/clock", token.trim(), "{\"then\": 5}").await),
            400
        );
        assert_eq!(status(post("/demo/v1/clock", token.trim(), "[").await), 400);
        assert_eq!(status(post("/demo/v1/clock", token.trim(), &t).await), 204);
        assert_eq!(
            status(post("/demo/v1/distribute", token.trim(), &t).await),
            204
        );
        let earlier = format!("{{\"now\": {}}}", now - 2 * 86_400);
        assert_eq!(
            status(post("/demo/v1/distribute", token.trim(), &earlier).await),
            409
        );
    });
}

/// A GET with a throwaway runtime: the demo tests are otherwise synchronous.
fn reqwest_get(url: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let r = reqwest::get(url).await.expect("GET");
        assert!(r.status().is_success(), "{url}: {}", r.status());
        r.text().await.expect("body")
    })
}

#[test]
fn day_by_day_series_add_up_to_the_summary() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("series");
    let d = dir.to_str().expect("utf-8");
    let s = demo(&[
        "--phones", "30", "--days", "3", "--seed", "7", "--csv", d, "--plots", d,
    ]);
    let text = std::fs::read_to_string(dir.join("demo-days.csv")).expect("demo-days.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 3, "one row per simulated day: {text}");
    let col = |row: &[String], name: &str| -> u64 {
        let i = header.iter().position(|h| *h == name).expect(name);
        row[i]
            .parse()
            .unwrap_or_else(|_| panic!("{name} in {row:?}"))
    };
    let sum = |name: &str| rows.iter().map(|r| col(r, name)).sum::<u64>();
    // Every positive result is posted during the simulated days, each on one of them.
    assert_eq!(sum("new_positives"), n(&s, "positives"), "{text}");
    // Day-after uploads of the last day and the final sync come after its midnight.
    assert!(sum("uploads") <= n(&s, "uploads"), "{text}");
    assert!(sum("requests") <= n(&s, "requests"), "{text}");
    for row in &rows {
        assert_eq!(
            col(row, "true_warnings") + col(row, "false_warnings"),
            col(row, "warned"),
            "{row:?}"
        );
        assert_eq!(
            col(row, "true_warnings") + col(row, "missed_exposures"),
            col(row, "truly_exposed"),
            "{row:?}"
        );
    }
    let first = &rows[0][0];
    let last = &rows[2][0];
    assert!(first < last, "dates in order: {first} {last}");
    for plot in ["demo-days.png", "demo-days.svg"] {
        let size = std::fs::metadata(dir.join(plot)).expect(plot).len();
        assert!(size > 1000, "{plot}: {size} bytes");
    }
    // The summary on stdout stays as it was: `days` the number of days, not the series.
    assert_eq!(s["days"], 3, "{s}");
}

/// Every figure of `a` and `b` but the run time, the bytes (a signature's DER encoding varies in
/// length from key to key, and each run has its own key) and the requests that reached the
/// distribution service (what sharing saves).
fn assert_same_figures(a: &Value, b: &Value) {
    let fields = a.as_object().expect("an object");
    for (field, value) in fields {
        if ["seconds", "bytes_downloaded", "origin_requests"].contains(&field.as_str()) {
            continue;
        }
        if value.is_object() {
            assert_same_figures(value, &b[field]);
            continue;
        }
        assert_eq!(
            value, &b[field],
            "{field}: shared {a} against per phone {b}"
        );
    }
}

#[test]
fn phones_sharing_downloads_and_contacts_get_what_each_phone_gets_alone() {
    // Two countries publish the same paths, and their combined regions list the same keys: the
    // run that once counted 40 keys twice when the phones shared.
    let countries = [
        "--countries",
        "DE,FR",
        "--share-rate",
        "1",
        "--positive-rate",
        "0.2",
        "--travel-rate",
        "0.3",
        "--federation-rate",
        "0.7",
    ];
    for (phones, days, more) in [("80", "4", &[][..]), ("20", "3", &countries[..])] {
        let mut args = vec!["--phones", phones, "--days", days, "--seed", "1"];
        args.extend(more);
        let shared = demo(&args);
        args.push("--per-phone");
        let alone = demo(&args);
        assert!(n(&shared, "true_warnings") > 0, "{shared}");
        assert!(n(&shared, "files_downloaded") > 0, "{shared}");
        assert_same_figures(&shared, &alone);
        // Alone, every phone's download reaches the service; shared, a file once per publication.
        assert!(
            n(&alone, "origin_requests") > 10 * n(&shared, "origin_requests"),
            "{shared} {alone}"
        );
    }
}
