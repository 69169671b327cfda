//! What the backend keeps: after a phone's whole path against `warnkit serve` with debug logging, and
//! after a demo run, no GUID, registration token, TAN, teleTAN or client address is found in any log
//! line or database file, and a GUID's hash only in the two databases that need it (test results,
//! to find the result; verification, to poll it).
//!
//! The database files are searched as bytes, WAL included, so values deleted but not yet overwritten
//! count too.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common;
use common::{lab_posts_positive, start_unscheduled, warnkit};

fn hex_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Every SQLite file (and its WAL and shared-memory files) under `dir`.
fn database_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(".sqlite") {
                out.push(path);
            }
        }
    }
    assert!(!out.is_empty(), "no database under {}", dir.display());
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether `bytes` hold something shaped like a UUID (registration tokens and TANs are UUID v4).
fn has_uuid(bytes: &[u8]) -> bool {
    let hex = |b: &u8| b.is_ascii_hexdigit();
    bytes.windows(36).any(|w| {
        w.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => hex(b),
        })
    })
}

/// Where `secret` was found: the database files and the log.
fn found_in(files: &[PathBuf], log: &[u8], secret: &str) -> Vec<String> {
    let mut places: Vec<String> = files
        .iter()
        .filter(|f| contains(&std::fs::read(f).expect("read"), secret))
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    if contains(log, secret) {
        places.push("log".into());
    }
    places
}

/// The services' own listening addresses; any other `127.0.0.1:port` in a log is a client's.
fn client_addresses_in(log: &str, endpoints: &Value) -> Vec<String> {
    let own: Vec<String> = endpoints
        .as_object()
        .expect("endpoints")
        .values()
        .filter_map(|v| v.as_str())
        .map(|u| u.trim_start_matches("http://").to_owned())
        .collect();
    let mut found = Vec::new();
    for (i, _) in log.match_indices("127.0.0.1:") {
        let port: String = log[i + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let address = format!("127.0.0.1:{port}");
        if !port.is_empty() && !own.contains(&address) {
            found.push(address);
        }
    }
    found
}

#[tokio::test]
async fn a_phones_path_leaves_no_secret_behind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // Debug logging: the most a log can say.
    let config = dir.join("debug.toml");
    std::fs::write(&config, "[log]\nlevel = \"debug\"\n").expect("config");
    let (server, endpoints) =
        start_unscheduled(dir, &["--config", config.to_str().expect("utf-8")]);
    let url = |s: &str| endpoints[s].as_str().expect("url").to_owned();
    let http = reqwest::Client::new();
    let cfg = ["--data-dir", dir.to_str().expect("utf-8")];
    let post = |path: String, body: Value| {
        http.post(path)
            .header("cwa-fake", "0")
            .header("cwa-header-padding", "")
            .json(&body)
            .send()
    };

    let guid = "E1277F-E1277F24-4AD2-40BC-AFF8-CBCCCD893E4B";
    let hashed = hex_sha256(guid);
    let lab_key = lab_posts_positive(&cfg, &url("testresult"), "lab-9", guid);
    let r = post(
        format!("{}/version/v1/registrationToken", url("verification")),
        json!({"keyType": "GUID", "key": hashed}),
    )
    .await
    .expect("register");
    assert_eq!(r.status(), 201);
    let token = r.json::<Value>().await.expect("json")["registrationToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let poll = post(
        format!("{}/version/v1/testresult", url("verification")),
        json!({"registrationToken": token}),
    )
    .await
    .expect("poll");
    assert_eq!(poll.status(), 200);
    let r = post(
        format!("{}/version/v1/tan", url("verification")),
        json!({"registrationToken": token}),
    )
    .await
    .expect("tan");
    assert_eq!(r.status(), 201);
    let tan = r.json::<Value>().await.expect("json")["tan"]
        .as_str()
        .expect("tan")
        .to_owned();
    // An upload with a key whose bytes spell nothing, then a teleTAN registration.
    let mut key = vec![0x0a, 16];
    key.extend(rand::random::<[u8; 16]>());
    let today = warnkit_store::unix_now() / 86_400;
    let start = ((today - 1) * 144) as u64;
    key.extend([0x10, 6, 0x18]);
    let mut v = start;
    while v >= 0x80 {
        key.push((v as u8) | 0x80);
        v >>= 7;
    }
    key.push(v as u8);
    let mut payload = vec![0x0a, key.len() as u8];
    payload.extend(&key);
    let r = http
        .post(format!("{}/version/v1/diagnosis-keys", url("submission")))
        .header("content-type", "application/x-protobuf")
        .header("cwa-authorization", &tan)
        .header("cwa-fake", "0")
        .header("cwa-header-padding", "")
        .body(payload)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let teletan = warnkit(&[&["teletan", "create"][..], &cfg].concat());
    let r = post(
        format!("{}/version/v1/registrationToken", url("verification")),
        json!({"keyType": "TELETAN", "key": teletan}),
    )
    .await
    .expect("register with a teleTAN");
    assert_eq!(r.status(), 201);
    let teletan_token = r.json::<Value>().await.expect("json")["registrationToken"]
        .as_str()
        .expect("token")
        .to_owned();
    warnkit(&[&["distribute"][..], &cfg].concat());
    drop(server); // stops the server: its log is complete

    let log = std::fs::read(dir.join("serve.log")).expect("log");
    let files = database_files(dir);
    for (what, secret) in [
        ("the GUID", guid),
        ("the registration token", token.as_str()),
        ("the TAN", tan.as_str()),
        ("the teleTAN", teletan.as_str()),
        ("the teleTAN's registration token", teletan_token.as_str()),
        ("the lab key", lab_key.as_str()),
    ] {
        assert_eq!(
            found_in(&files, &log, secret),
            Vec::<String>::new(),
            "{what}"
        );
    }
    let mut places = found_in(&files, &log, &hashed);
    places.retain(|p| !p.starts_with("testresult.sqlite") && !p.starts_with("verification.sqlite"));
    assert_eq!(places, Vec::<String>::new(), "the GUID's hash");
    assert!(
        found_in(&files, &log, &hashed)
            .iter()
            .any(|p| p.starts_with("testresult.sqlite")),
        "the search finds what is there: the result is stored under the hash"
    );
    let log = String::from_utf8_lossy(&log);
    assert!(
        log.contains("DEBUG") || log.contains("debug"),
        "debug logging was on"
    );
    assert_eq!(client_addresses_in(&log, &endpoints), Vec::<String>::new());
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        assert!(
            !contains(&bytes, "127.0.0.1"),
            "{} holds an address",
            f.display()
        );
    }
}

#[test]
fn a_demo_run_leaves_no_secret_behind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let seed = 5;
    let phones = 30;
    warnkit(&[
        "demo",
        "--data-dir",
        dir.to_str().expect("utf-8"),
        "--phones",
        &phones.to_string(),
        "--days",
        "2",
        "--seed",
        &seed.to_string(),
        "--positive-rate",
        "0.3",
        "--share-rate",
        "1",
        "--fake-rate",
        "0.3",
        "--json",
    ]);
    let files = database_files(dir);
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        assert!(
            !has_uuid(&bytes),
            "{name} holds a token or TAN as it was sent"
        );
        assert!(
            !contains(&bytes, &format!("demo-{seed}-")),
            "{name} holds a GUID"
        );
        assert!(!contains(&bytes, "127.0.0.1"), "{name} holds an address");
        for person in 0..phones {
            let hashed = hex_sha256(&format!("demo-{seed}-{person}"));
            if contains(&bytes, &hashed) {
                assert!(
                    name.starts_with("testresult.sqlite")
                        || name.starts_with("verification.sqlite"),
                    "{name} holds a GUID's hash"
                );
            }
        }
    }
}
