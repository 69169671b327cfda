//! `warnkit demo --countries DE,FR` end to end: two backends and a federation gateway in one process
//! over real HTTP; travellers who test positive warn the people they met abroad, keys without consent
//! stay at home, and nothing moves twice. The published files are checked from the outside with
//! `warnkit export inspect`.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common;
use common::BIN;

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {v}"))
}

/// Every key in every archive (daily and hourly) of `region` that the backend in `dir` published.
fn published_keys(dir: &Path, region: &str) -> HashSet<String> {
    let root = dir.join(format!(
        "published/version/v1/diagnosis-keys/country/{region}/date"
    ));
    let mut files = Vec::new();
    for day in std::fs::read_dir(&root).expect("date directory") {
        let day = day.expect("entry").path();
        if day.join("index").is_file() {
            files.push(day.join("index"));
        }
        if let Ok(hours) = std::fs::read_dir(day.join("hour")) {
            for hour in hours {
                let hour = hour.expect("entry").path();
                // An hour is a file (its archive) or a directory holding it as `index`.
                files.push(if hour.is_dir() {
                    hour.join("index")
                } else {
                    hour
                });
            }
        }
    }
    let mut keys = HashSet::new();
    for file in files.iter().filter(|f| f.is_file()) {
        let out = Command::new(BIN)
            .args(["export", "inspect", "--json"])
            .arg(file)
            .output()
            .expect("run warnkit export inspect");
        if !out.status.success() {
            // Indexes (JSON lists) sit beside the archives; only archives are read.
            continue;
        }
        let v: Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
        assert_eq!(v["region"], region, "{}", file.display());
        for k in v["keys"].as_array().expect("keys") {
            keys.insert(k["key_data"].as_str().expect("hex").to_owned());
        }
    }
    assert!(!files.is_empty(), "no archives under {}", root.display());
    keys
}

#[test]
fn a_traveller_from_de_warns_a_contact_in_fr_and_unconsented_keys_stay_home() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let out = Command::new(BIN)
        .args([
            "demo",
            "--countries",
            "DE,FR",
            "--phones",
            "20",
            "--days",
            "3",
            "--seed",
            "1",
            "--share-rate",
            "1",
            "--positive-rate",
            "0.2",
            "--travel-rate",
            "0.3",
            "--federation-rate",
            "0.7",
            "--json",
            "--data-dir",
        ])
        .arg(dir)
        .output()
        .expect("run warnkit demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let de = &s["countries"]["DE"];
    let fr = &s["countries"]["FR"];

    // The single-country figures, as totals and per country.
    assert_eq!(n(&s, "phones"), 40, "{s}");
    assert_eq!(n(de, "phones") + n(fr, "phones"), 40, "{s}");
    assert_eq!(n(&s, "missed"), n(de, "missed") + n(fr, "missed"), "{s}");
    for v in [&s, de, fr] {
        assert_eq!(n(v, "uploads"), 2 * n(v, "sharing_positives"), "{v}");
        assert_eq!(n(v, "uploads_failed"), 0, "{v}");
        assert_eq!(n(v, "phone_errors"), 0, "{v}");
        assert_eq!(n(v, "missed"), 0, "{v}");
        assert_eq!(n(v, "missed_despite_upload"), 0, "{v}");
        assert_eq!(n(v, "warned_without_contact"), 0, "{v}");
        assert_eq!(n(v, "duplicate_keys"), 0, "{v}");
        assert_eq!(n(v, "rejected_archives"), 0, "{v}");
        assert_eq!(n(v, "federation_batches_rejected"), 0, "{v}");
        assert_eq!(n(v, "unconsented_keys_abroad"), 0, "{v}");
        // Every phone also downloads the combined region, so no consenting positive met abroad is missed.
        assert_eq!(n(v, "missed_abroad_not_visited"), 0, "{v}");
        assert!(n(v, "trips") > 0, "{v}");
    }
    assert!(n(&s, "truly_exposed") > 0, "{s}");

    // A DE traveller who tested positive warned someone met in FR, through the gateway.
    assert!(n(fr, "cross_border_true_warnings") >= 1, "{s}");
    assert!(n(fr, "federation_keys_downloaded") > 0, "{s}");

    // Nothing moved twice: each country stored exactly the keys the other uploaded, and the gateway
    // holds each uploaded batch once.
    assert_eq!(
        n(fr, "federation_keys_downloaded"),
        n(de, "federation_keys_uploaded"),
        "{s}"
    );
    assert_eq!(
        n(de, "federation_keys_downloaded"),
        n(fr, "federation_keys_uploaded"),
        "{s}"
    );
    assert_eq!(
        n(&s, "gateway_keys"),
        n(&s, "federation_keys_uploaded"),
        "{s}"
    );
    assert_eq!(
        n(&s, "gateway_batches"),
        n(&s, "federation_batches_uploaded"),
        "{s}"
    );

    // Keys without consent stay at home, checked in the published files. DE's own region holds every
    // DE key, its combined region only those shared with consent (and foreign ones): what is in DE
    // and not in EUR is DE's unconsented keys (and DE's padding). None of it is in any FR file.
    assert!(n(de, "keys_without_consent") > 0, "{s}");
    let de_dir = dir.join("DE");
    let fr_dir = dir.join("FR");
    let de_own = published_keys(&de_dir, "DE");
    let de_combined = published_keys(&de_dir, "EUR");
    let mut fr_all = published_keys(&fr_dir, "FR");
    fr_all.extend(published_keys(&fr_dir, "EUR"));
    let stay_home: HashSet<&String> = de_own.difference(&de_combined).collect();
    assert!(!stay_home.is_empty());
    let leaked: Vec<&&String> = stay_home
        .iter()
        .filter(|k| fr_all.contains(k.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "unconsented DE keys in FR's files: {leaked:?}"
    );
    // The comparison does find keys that crossed: the consented keys of DE's travellers to FR.
    assert!(
        de_own.intersection(&fr_all).next().is_some(),
        "no DE key in FR's files"
    );
}

#[test]
fn country_lists_and_options_are_checked() {
    for (args, expected) in [
        (vec!["--countries", "DE"], "at least two"),
        (vec!["--countries", "DE,DE"], "twice"),
        (vec!["--countries", "DE,fr"], "uppercase"),
        (vec!["--travel-rate", "0.5"], "--countries"),
        (vec!["--countries", "DE,FR", "--server", "x"], "--server"),
    ] {
        let out = Command::new(BIN)
            .arg("demo")
            .args(&args)
            .output()
            .expect("run warnkit demo");
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
