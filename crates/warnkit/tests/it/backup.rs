//! `warnkit backup` and `warnkit restore` against real servers: a backup taken while uploads run restores
//! into a data directory where a fresh server serves the same published bytes and accepts the TANs issued
//! before the backup; restore refuses a tampered backup, a non-empty target and a target a server uses;
//! and a data directory made by an earlier release (tests/fixtures/) opens and migrates under this one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::{json, Value};
use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};

use crate::common;
mod upgrade;
use common::{start, warnkit, BIN};

/// Most tests registered by the load that runs during the backup; each registration is followed by
/// two TANs and two uploads, and the load stops once the backup has ended.
const LOAD_TESTS: usize = 300;

struct Api {
    http: reqwest::Client,
    endpoints: Value,
}

impl Api {
    fn url(&self, listener: &str) -> String {
        self.endpoints[listener].as_str().expect("url").to_owned()
    }

    /// Positive PCR results for `guids`, posted in one request with `lab_key`.
    async fn post_positive(&self, lab_key: &str, guids: &[String]) {
        let results: Vec<Value> = guids
            .iter()
            .map(|g| json!({"id": warnkit_service::auth::sha256_hex(g), "result": 2}))
            .collect();
        let r = self
            .http
            .post(format!("{}/api/v1/lab/results", self.url("testresult")))
            .bearer_auth(lab_key)
            .json(&json!({ "testResults": results }))
            .send()
            .await
            .expect("post results");
        assert!(r.status().is_success(), "{}", r.status());
    }

    /// Registers `guid` and returns the registration token.
    async fn register(&self, guid: &str) -> String {
        let r = self
            .http
            .post(format!(
                "{}/version/v1/registrationToken",
                self.url("verification")
            ))
            .header("cwa-fake", "0")
            .json(&json!({"keyType": "GUID", "key": warnkit_service::auth::sha256_hex(guid)}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.expect("json")["registrationToken"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    async fn tan(&self, token: &str) -> String {
        let r = self
            .http
            .post(format!("{}/version/v1/tan", self.url("verification")))
            .header("cwa-fake", "0")
            .json(&json!({ "registrationToken": token }))
            .send()
            .await
            .expect("tan");
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.expect("json")["tan"]
            .as_str()
            .expect("tan")
            .to_owned()
    }

    /// Uploads one random key of yesterday with `tan`; returns the status.
    async fn upload(&self, tan: &str) -> u16 {
        let day = warnkit_store::unix_now() / 86_400 - 1;
        let body = SubmissionPayload {
            keys: vec![TemporaryExposureKey {
                key_data: Some(rand::random::<[u8; 16]>().to_vec()),
                transmission_risk_level: Some(6),
                rolling_start_interval_number: Some((day * 144) as i32),
                rolling_period: Some(144),
                report_type: Some(1),
                days_since_onset_of_symptoms: None,
            }],
            request_padding: Some(vec![0; 100]),
            ..Default::default()
        }
        .encode_to_vec();
        self.http
            .post(format!(
                "{}/version/v1/diagnosis-keys",
                self.url("submission")
            ))
            .header("content-type", "application/x-protobuf")
            .header("cwa-authorization", tan)
            .header("cwa-fake", "0")
            .body(body)
            .send()
            .await
            .expect("upload")
            .status()
            .as_u16()
    }

    /// The internal TAN check, as the submission service makes it.
    async fn verify_tan(&self, service_token: &str, tan: &str) -> u16 {
        self.http
            .post(format!(
                "{}/version/v1/tan/verify",
                self.url("verification_internal")
            ))
            .bearer_auth(service_token)
            .json(&json!({ "tan": tan }))
            .send()
            .await
            .expect("verify")
            .status()
            .as_u16()
    }

    /// The bytes the distribution port serves for the published file `rel` (`.../index` is served at
    /// its directory's path).
    async fn published(&self, rel: &str) -> Vec<u8> {
        let path = rel.strip_suffix("/index").unwrap_or(rel);
        let r = self
            .http
            .get(format!("{}/{path}", self.url("distribution")))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().await.expect("body").to_vec()
    }
}

/// Every file under `dir`, by `/`-separated path relative to it.
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                let rel = rel.to_str().expect("utf-8").replace('\\', "/");
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run warnkit")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

/// One number a query gives on an SQLite file, opened read-only and immutable: opening a snapshot with
/// a writer (WAL mode) would change its bytes, and the manifest's hash with them.
async fn count(db: &Path, sql: &str) -> i64 {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .immutable(true)
        .connect()
        .await
        .expect("open");
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(&mut conn)
        .await
        .expect("query");
    conn.close().await.expect("close");
    n
}

/// Waits, if the hour ends within `margin`, until it has: a distribution run in the next hour publishes
/// the ended hour's keys, and the comparisons below need both servers to publish the same hours.
fn clear_of_the_hour(margin: i64) {
    let deadline = Instant::now() + Duration::from_secs(margin as u64 + 30);
    while (3600 - warnkit_store::unix_now().rem_euclid(3600)) < margin {
        assert!(Instant::now() < deadline, "the clock does not advance");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_upload_load_restores_the_same_files_and_tans() {
    clear_of_the_hour(150);
    let tmp = tempfile::tempdir().expect("tempdir");
    let live_dir = tmp.path().join("live");
    std::fs::create_dir_all(&live_dir).expect("mkdir");
    let (_live, endpoints) = start(&live_dir, &[]);
    let live = Arc::new(Api {
        http: reqwest::Client::new(),
        endpoints,
    });
    let lab_key = warnkit(&[
        "lab",
        "key",
        "create",
        "--lab",
        "lab-b",
        "--data-dir",
        path(&live_dir),
    ]);
    let guids: Vec<String> = (0..LOAD_TESTS + 3)
        .map(|i| format!("B4C4{i:04}-0000-4000-8000-{i:012}"))
        .collect();
    for chunk in guids.chunks(50) {
        live.post_positive(&lab_key, chunk).await;
    }
    // Three TANs issued before the backup and used only after the restore.
    let mut outstanding = Vec::new();
    for guid in &guids[LOAD_TESTS..] {
        let token = live.register(guid).await;
        outstanding.push(live.tan(&token).await);
    }

    // The load: a registration, then a TAN and an upload twice, over and over until the backup has
    // ended (and never more than LOAD_TESTS registrations).
    let uploaded = Arc::new(AtomicUsize::new(0));
    let backup_done = Arc::new(AtomicBool::new(false));
    let load = {
        let (live, uploaded, done) = (live.clone(), uploaded.clone(), backup_done.clone());
        let guids = guids[..LOAD_TESTS].to_vec();
        tokio::spawn(async move {
            for guid in guids {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let token = live.register(&guid).await;
                for _ in 0..2 {
                    let tan = live.tan(&token).await;
                    assert_eq!(live.upload(&tan).await, 200);
                    uploaded.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while uploaded.load(Ordering::SeqCst) < 10 {
        assert!(Instant::now() < deadline, "the load does not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backup = tmp.path().join("backup");
    let before = uploaded.load(Ordering::SeqCst);
    let out = tokio::task::spawn_blocking({
        let args = [
            "backup".to_owned(),
            "--data-dir".to_owned(),
            path(&live_dir).to_owned(),
            "--to".to_owned(),
            path(&backup).to_owned(),
        ];
        move || Command::new(BIN).args(&args).output().expect("backup")
    })
    .await
    .expect("join");
    let after = uploaded.load(Ordering::SeqCst);
    backup_done.store(true, Ordering::SeqCst);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    load.await.expect("load");
    let total = uploaded.load(Ordering::SeqCst);
    eprintln!("uploads: {before} before the backup, {after} when it ended, {total} in all");
    assert!(
        before < after && after < 2 * LOAD_TESTS,
        "no upload ran during the backup: {before} before it, {after} when it ended, {total} in all"
    );

    // Owner-only, complete, and every file in the manifest.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["warnkit_version"], env!("CARGO_PKG_VERSION"));
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    // Every signing key file, whatever the keyring holds.
    let signing: Vec<String> = files_under(&live_dir.join("signing"))
        .into_keys()
        .map(|name| format!("data/signing/{name}"))
        .collect();
    assert!(!signing.is_empty());
    let needed = [
        "data/verification.sqlite",
        "data/submission.sqlite",
        "data/testresult.sqlite",
        "data/portal.sqlite",
        "data/service-token",
    ];
    for needed in needed
        .iter()
        .copied()
        .chain(signing.iter().map(String::as_str))
    {
        assert!(listed.contains(&needed), "{needed} is not in the backup");
    }
    assert!(!listed
        .iter()
        .any(|p| p.ends_with("-wal") || p.ends_with("endpoints.json") || p.contains("/locks/")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&backup), 0o700);
        assert_eq!(mode(&backup.join(&signing[0])), 0o600);
    }
    // The snapshot is one moment of the key store: every upload answered before the backup began is in
    // it, and none that started after it ended.
    let keys = count(
        &backup.join("data/submission.sqlite"),
        "SELECT COUNT(*) FROM diagnosis_key",
    )
    .await;
    assert!(
        (before as i64..=after as i64 + 1).contains(&keys),
        "{keys} keys in the snapshot; {before} uploads done before the backup, {after} after"
    );

    // A restore into a new directory, then a fresh server on it.
    let restored_dir = tmp.path().join("restored");
    warnkit(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&restored_dir),
    ]);
    assert!(!tmp.path().join("restored.restoring").exists());
    let (_restored, endpoints) = start(&restored_dir, &[]);
    let restored = Api {
        http: reqwest::Client::new(),
        endpoints,
    };
    let published = files_under(&backup.join("data/published"));
    assert!(published.len() > 10, "{:?}", published.keys());
    for (rel, bytes) in &published {
        let served = restored.published(rel).await;
        assert!(
            &served == bytes,
            "{rel}: served bytes differ from the backup's"
        );
        assert!(
            served == live.published(rel).await,
            "{rel}: the restored server serves other bytes than the live one"
        );
    }
    // The TANs issued before the backup work after the restore: one checked as the submission
    // service checks it, one spent on an upload.
    let token = std::fs::read_to_string(restored_dir.join("service-token")).expect("token");
    assert_eq!(
        restored.verify_tan(token.trim(), &outstanding[0]).await,
        200
    );
    assert_eq!(
        restored.verify_tan(token.trim(), &outstanding[0]).await,
        404
    );
    assert_eq!(restored.upload(&outstanding[1]).await, 200);
    assert_eq!(restored.upload(&outstanding[1]).await, 403);

    // A server holds the restored directory now: restore refuses it, even with --force.
    let refused = run(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&restored_dir),
        "--force",
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("stop it before restoring") && err.contains("pid "),
        "{err}"
    );
    assert_eq!(
        restored.verify_tan(token.trim(), &outstanding[2]).await,
        200
    );
}

#[test]
fn restore_refuses_a_tampered_backup_and_a_non_empty_target() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (server, _) = start(&dir, &["--only", "verification,testresult"]);
    let backup = tmp.path().join("backup");
    warnkit(&["backup", "--data-dir", path(&dir), "--to", path(&backup)]);
    drop(server);
    // A backup's directory is never reused.
    let again = run(&["backup", "--data-dir", path(&dir), "--to", path(&backup)]);
    assert!(!again.status.success());

    let target = tmp.path().join("target");
    let restore = |from: &Path, force: bool| {
        let mut args = vec!["restore", "--from", path(from), "--data-dir", path(&target)];
        if force {
            args.push("--force");
        }
        run(&args)
    };
    // One byte changed in a database: refused, naming the file, and nothing written.
    let tampered = tmp.path().join("tampered");
    copy_tree(&backup, &tampered);
    let db = tampered.join("data/verification.sqlite");
    let mut bytes = std::fs::read(&db).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&db, bytes).expect("write");
    let out = restore(&tampered, false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("data/verification.sqlite") && err.contains("SHA-256"),
        "{err}"
    );
    assert!(!target.exists() && !tmp.path().join("target.restoring").exists());
    // A file slipped in that the manifest does not list: refused too.
    let extra = tmp.path().join("extra");
    copy_tree(&backup, &extra);
    std::fs::write(extra.join("data/extra.pem"), "x").expect("write");
    let out = restore(&extra, false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the manifest"));

    // A non-empty target is refused without --force and left untouched.
    std::fs::create_dir_all(&target).expect("mkdir");
    std::fs::write(target.join("keep.txt"), "mine").expect("write");
    let out = restore(&backup, false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_eq!(files_under(&target).len(), 1);
    // With --force the old content is moved aside, not lost.
    let out = restore(&backup, true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(target.join("service-token")).expect("token"),
        std::fs::read(backup.join("data/service-token")).expect("token")
    );
    let kept: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| path(p).contains("target.replaced-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read_to_string(kept[0].join("keep.txt")).expect("kept"),
        "mine"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in files_under(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::write(dest, bytes).expect("write");
    }
}

/// The commands `backup` and `restore` print for PostgreSQL, run as printed: `pg_dump` of the live
/// database, `pg_restore` into another, and a server on the restored data directory and that database
/// accepts the TAN issued before the backup.
#[tokio::test]
async fn on_postgres_the_printed_pg_dump_and_pg_restore_commands_work() {
    let Some(live_db) = warnkit_testkit::TestDb::new(warnkit_testkit::Engine::Postgres) else {
        return;
    };
    let Some(new_db) = warnkit_testkit::TestDb::new(warnkit_testkit::Engine::Postgres) else {
        return;
    };
    if Command::new("pg_dump").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no pg_dump on this machine");
        return;
    }
    let live_url = live_db.postgres_url().expect("url").to_owned();
    let new_url = new_db.postgres_url().expect("url").to_owned();
    let live_dir = live_db.dir().join("data");
    std::fs::create_dir_all(&live_dir).expect("mkdir");
    let (live_server, endpoints) = start(&live_dir, &["--database-url", &live_url]);
    let live = Api {
        http: reqwest::Client::new(),
        endpoints,
    };
    let db_args = ["--data-dir", path(&live_dir), "--database-url", &live_url];
    let lab_key = warnkit(&[&["lab", "key", "create", "--lab", "lab-pg"][..], &db_args].concat());
    let guid = "C5D5E5F5-0000-4000-8000-000000000001".to_owned();
    live.post_positive(&lab_key, std::slice::from_ref(&guid))
        .await;
    let tan = live.tan(&live.register(&guid).await).await;

    let backup = live_db.dir().join("backup");
    let out = warnkit(&[&["backup", "--to", path(&backup)][..], &db_args].concat());
    assert!(!backup.join("data/verification.sqlite").exists());
    let dump = command_line(&out, "pg_dump ");
    for schema in ["verification", "submission", "testresult", "portal"] {
        assert!(dump.contains(&format!("--schema={schema}")), "{dump}");
    }
    shell(&dump);
    drop(live_server);

    let restored_dir = new_db.dir().join("data");
    let out = warnkit(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&restored_dir),
        "--database-url",
        &new_url,
    ]);
    let restore = command_line(&out, "pg_restore ");
    assert!(restore.contains(&new_url), "{restore}");
    shell(&restore);
    let (_restored_server, endpoints) = start(&restored_dir, &["--database-url", &new_url]);
    let restored = Api {
        http: reqwest::Client::new(),
        endpoints,
    };
    let token = std::fs::read_to_string(restored_dir.join("service-token")).expect("token");
    assert_eq!(restored.verify_tan(token.trim(), &tan).await, 200);
}

/// The line of `output` that runs `program`, trimmed.
fn command_line(output: &str, program: &str) -> String {
    output
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(program))
        .unwrap_or_else(|| panic!("no {program}command in: {output}"))
        .to_owned()
}

/// Runs `line` with `sh -c`, asserting success.
fn shell(line: &str) {
    let out = Command::new("sh").args(["-c", line]).output().expect("sh");
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
