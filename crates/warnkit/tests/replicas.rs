//! Two copies of `warnkit serve` on one PostgreSQL, each on a data directory of its own, sharing one
//! signing directory and one store for the published files, as replicas behind a load balancer are:
//! a TAN issued through one copy is spent once across both, one copy is killed with SIGKILL under
//! uploads, and two distribution runners publish at once. Every acknowledged key is published exactly
//! once, in files signed by the shared key and byte-identical to what a single runner publishes from
//! the same keys.

#[path = "it/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{
    free_port_base, payload, spawn_with, upload, uploads, warnkit, Upload, BIN, UNSCHEDULED,
};
use warnkit_protocol::export::{public_key_from_pem, Archive, Limits};

/// Registrations prepared, two TANs each.
const REGISTRATIONS: usize = 30;

/// The environment every copy shares: the signing directory and the store.
fn shared_env(shared: &Path) -> Vec<(String, String)> {
    vec![
        (
            "WARNKIT_DISTRIBUTION__SIGNING_DIR".into(),
            shared.join("signing").display().to_string(),
        ),
        ("WARNKIT_DISTRIBUTION__STORE__KIND".into(), "local".into()),
        (
            "WARNKIT_DISTRIBUTION__STORE__DIR".into(),
            shared.join("published").display().to_string(),
        ),
    ]
}

fn serve(
    data: &Path,
    db_url: &str,
    env: &[(String, String)],
) -> (common::Server, serde_json::Value) {
    let base = free_port_base().to_string();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.push(UNSCHEDULED);
    let args = [
        "serve",
        "--data-dir",
        data.to_str().unwrap(),
        "--port-base",
        &base,
        "--database-url",
        db_url,
    ];
    std::fs::create_dir_all(data).unwrap();
    spawn_with(&args, &all, data, &data.join("serve.log"))
}

/// `warnkit distribute` for `data` at `now`, started (not waited for), its log in `data`.
fn distribute(
    data: &Path,
    db_url: &str,
    env: &[(String, String)],
    now: &str,
) -> std::process::Child {
    Command::new(BIN)
        .args(["distribute", "--data-dir", data.to_str().unwrap()])
        .args(["--database-url", db_url, "--now", now, "--allow-future"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(data.join("distribute.log")).unwrap())
        .spawn()
        .unwrap()
}

/// Every published archive of `DE` under `store`: URL path → its keys, each signature checked.
fn archives(store: &Path, public_pem: &str) -> BTreeMap<String, Vec<[u8; 16]>> {
    let key = public_key_from_pem(public_pem).unwrap();
    let root = store.join("version/v1/diagnosis-keys/country/DE/date");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "index") && path.parent() != Some(&root)
            {
                let bytes = std::fs::read(&path).unwrap();
                if bytes.starts_with(b"[") {
                    continue; // an hour index
                }
                let archive = Archive::read(&bytes, &Limits::default()).unwrap();
                archive.verify(&[key]).expect("signed by the shared key");
                let keys = archive
                    .export
                    .keys
                    .iter()
                    .filter_map(|k| <[u8; 16]>::try_from(k.key_data()).ok())
                    .collect();
                let rel = path.parent().unwrap().strip_prefix(store).unwrap();
                out.insert(rel.display().to_string(), keys);
            }
        }
    }
    out
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_tans_keys_and_the_signing_key_and_lose_nothing_to_a_kill() {
    let Some(pg) = warnkit_testkit::PgDatabase::create() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared");
    let public_pem = warnkit(&["keygen", "--out", shared.join("signing").to_str().unwrap()]);
    let env = shared_env(&shared);
    let (r1, r2) = (tmp.path().join("r1"), tmp.path().join("r2"));
    let (_s1, e1) = serve(&r1, &pg.url, &env);
    let (mut s2, e2) = serve(&r2, &pg.url, &env);
    let url = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r1_str = r1.to_str().unwrap().to_owned();
    let cfg = [
        "--data-dir",
        r1_str.as_str(),
        "--database-url",
        pg.url.as_str(),
    ];
    // TANs issued through the first copy only.
    let today = warnkit_store::unix_now() / 86_400;
    let uploads = uploads(&http, &cfg, &e1, REGISTRATIONS, "lab-replicas").await;
    let (first, rest) = uploads.split_at(uploads.len() / 2);
    let (sub1, sub2) = (url(&e1, "submission"), url(&e2, "submission"));
    let mut acknowledged: Vec<[u8; 16]> = Vec::new();
    // Half through the second copy, each TAN then refused by the first: spent once across both.
    for up in first {
        assert_eq!(upload(&http, &sub2, up).await, Some(200));
        acknowledged.extend(&up.keys);
        let other = Upload {
            tan: up.tan.clone(),
            body: payload(today).0,
            keys: vec![],
        };
        assert_eq!(
            upload(&http, &sub1, &other).await,
            Some(403),
            "a TAN spent on r2"
        );
    }
    // The second copy dies; the rest goes through the first.
    s2.0.kill().unwrap();
    s2.0.wait().unwrap();
    for up in rest {
        assert_eq!(upload(&http, &sub1, up).await, Some(200));
        acknowledged.extend(&up.keys);
    }

    // Two runners publish into the shared store at once, two hours on (every key's hour has ended).
    let now = warnkit_protocol::interval::datetime_string(
        (warnkit_store::unix_now() / 3600 + 2) * 3600 + 60,
    );
    let mut a = distribute(&r1, &pg.url, &env, &now);
    let mut b = distribute(&r2, &pg.url, &env, &now);
    assert!(
        a.wait().unwrap().success(),
        "{}",
        std::fs::read_to_string(r1.join("distribute.log")).unwrap()
    );
    assert!(
        b.wait().unwrap().success(),
        "{}",
        std::fs::read_to_string(r2.join("distribute.log")).unwrap()
    );

    let published = archives(&shared.join("published"), &public_pem);
    let hourly: Vec<&[u8; 16]> = published
        .iter()
        .filter(|(path, _)| path.contains("/hour/"))
        .flat_map(|(_, keys)| keys)
        .collect();
    assert_eq!(
        acknowledged.len(),
        REGISTRATIONS * 2 * 3,
        "every upload acknowledged"
    );
    eprintln!(
        "{} acknowledged keys, {} archives published, {} keys in hourly files",
        acknowledged.len(),
        published.len(),
        hourly.len()
    );
    for key in &acknowledged {
        let times = hourly.iter().filter(|k| **k == key).count();
        assert_eq!(times, 1, "an acknowledged key in {times} hourly files");
    }
    assert!(
        !r1.join("signing").exists() && !r2.join("signing").exists(),
        "no key of their own"
    );

    // A single runner on a store of its own, from the same keys and key: the same files.
    let alone = tmp.path().join("alone");
    let mut alone_env = shared_env(&shared);
    alone_env[2].1 = alone.join("published").display().to_string();
    std::fs::create_dir_all(&alone).unwrap();
    let mut c = distribute(&alone, &pg.url, &alone_env, &now);
    assert!(c.wait().unwrap().success());
    let (together, single) = (
        files(&shared.join("published")),
        files(&alone.join("published")),
    );
    let archive_paths = |m: &BTreeMap<PathBuf, Vec<u8>>| -> Vec<PathBuf> {
        m.keys()
            .filter(|p| p.to_string_lossy().contains("/date/"))
            .cloned()
            .collect()
    };
    assert!(!archive_paths(&single).is_empty());
    assert_eq!(archive_paths(&together), archive_paths(&single));
    for path in archive_paths(&single) {
        assert_eq!(together[&path], single[&path], "{} differs", path.display());
    }
}
