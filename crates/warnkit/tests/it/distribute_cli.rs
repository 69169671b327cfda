//! `warnkit distribute` as an operator runs it: the summary and the last-run record count what the
//! stored keys give, a rewound or future clock refuses and changes no published byte, `--force-rewind`
//! rolls back, and a `warnkit serve` running the schedule keeps `distribute` out and shows its runs
//! in the metrics.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use warnkit_distribution::layout::{self, date_string, parse_rfc3339};
use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_protocol::interval::datetime_string;
use warnkit_store::{DbTarget, PoolConfig};

use crate::common;
use common::{start, warnkit, BIN};

/// A key of `day` (its rolling period ends at the next midnight) stored in Unix hour `hour`.
fn key(byte: u8, day: i64, hour: i64) -> StoredKey {
    StoredKey {
        key_data: [byte; 16],
        rolling_start: (day * 144) as u32,
        rolling_period: 144,
        transmission_risk_level: 5,
        report_type: 1,
        days_since_onset_of_symptoms: Some(1),
        submission_hour: hour,
        origin: "DE".into(),
        visited_countries: vec![],
        consent_to_federation: false,
    }
}

/// Stores `keys` in the data directory's key database, as the submission service would.
async fn store(dir: &Path, keys: &[StoredKey]) {
    let target = DbTarget::SqliteFile(dir.join("submission.sqlite"));
    let store = KeyStore::open(&target, PoolConfig::default())
        .await
        .expect("key store");
    store.insert(keys).await.expect("insert");
    store.db().close().await;
}

/// Runs `warnkit ARGS`, asserts that it fails, and returns its standard error.
fn refused(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("run warnkit");
    assert!(
        !out.status.success(),
        "warnkit {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("utf-8")
}

/// Every published file with its bytes.
fn published(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let root = dir.join("published");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(&root).expect("inside").display();
                out.insert(name.to_string(), std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

fn last_run(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("distribution-last-run.json")).expect("last run");
    serde_json::from_str(&text).expect("json")
}

#[tokio::test]
async fn distribute_counts_what_it_publishes_and_refuses_rewound_and_future_clocks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data = dir.to_str().expect("utf-8");
    let real_now = warnkit_store::unix_now();
    // Three days ago at 05:10: hours 0 to 4 of day `d` have ended.
    let d = real_now / 86_400 - 3;
    let t = d * 86_400 + 5 * 3600 + 600;
    store(
        dir,
        &[
            // Ready at 02:00 on `d`, stored at 03:00: day `d`'s hour 3 (hourly files only so far).
            key(1, d - 1, d * 24 + 3),
            // Day d - 1's hour 5: in its daily file.
            key(2, d - 2, (d - 1) * 24 + 5),
            // Day d's own key: waits for the end of the day plus two hours.
            key(3, d, d * 24 + 4),
            // Stored in the current hour: waits for 06:00.
            key(4, d - 1, d * 24 + 5),
        ],
    )
    .await;
    let at = datetime_string(t);
    let line = warnkit(&["distribute", "--data-dir", data, "--now", &at]);
    // DE and EUR: 14 daily files each; hourly files for 2 whole days and day d's 5 ended hours.
    // Keys 1 and 2 in both regions, each file of theirs padded to 140 keys.
    assert!(
        line.starts_with(
            "published 106 hourly and 28 daily files with 4 real and 556 padding keys:"
        ),
        "{line}"
    );
    let next = format!("{}T06:00:00Z", date_string(d));
    assert!(
        line.contains(&format!(
            "2 stored keys wait for a later period (the next at {next})"
        )),
        "{line}"
    );

    let record = last_run(dir);
    assert_eq!(record["ok"], true, "{record}");
    assert_eq!(record["error"], Value::Null);
    assert_eq!(record["clock"], at.as_str());
    for field in ["started_at", "finished_at"] {
        let time = parse_rfc3339(record[field].as_str().expect(field)).expect(field);
        assert!(
            (real_now..=warnkit_store::unix_now()).contains(&time),
            "{field}"
        );
    }
    let report = &record["report"];
    assert_eq!(report["hourly_files"], 106);
    assert_eq!(report["daily_files"], 28);
    assert_eq!(report["real_keys"], 4);
    assert_eq!(report["keys_waiting"], 2);
    assert_eq!(report["waiting_until"], next.as_str());
    let days = report["days"].as_array().expect("days");
    assert_eq!(days.len(), 14);
    assert_eq!(
        days[13],
        serde_json::json!({"date": date_string(d - 1), "real_keys": 1, "padding_keys": 139})
    );

    let again: Value = serde_json::from_str(&warnkit(&[
        "distribute",
        "--data-dir",
        data,
        "--now",
        &at,
        "--json",
    ]))
    .expect("json");
    assert_eq!(again["files_written"], 0, "{again}");
    assert_eq!(again["hourly_files"], 106);
    let before = published(dir);
    let hour4 = layout::object_for(&layout::hourly("DE", &date_string(d), 4));
    assert!(before.contains_key(&hour4));

    // An hour back: refused, with the way out named; not a byte changes.
    let earlier = datetime_string(t - 3600);
    let err = refused(&["distribute", "--data-dir", data, "--now", &earlier]);
    assert!(err.contains("refusing to publish as of"), "{err}");
    assert!(err.contains("--force-rewind"), "{err}");
    assert_eq!(published(dir), before);
    let record = last_run(dir);
    assert_eq!(record["ok"], false);
    assert!(record["error"]
        .as_str()
        .expect("error")
        .contains("refusing"));

    // Two hours ahead of the real clock: those hours have not ended.
    let future = datetime_string(real_now + 7200);
    let err = refused(&["distribute", "--data-dir", data, "--now", &future]);
    assert!(err.contains("later than the real clock"), "{err}");
    assert!(err.contains("have not ended"), "{err}");
    assert_eq!(published(dir), before);

    // Forced: hour 4 is withdrawn, loudly; the clock's own run brings back the same bytes.
    let out = Command::new(BIN)
        .args([
            "distribute",
            "--data-dir",
            data,
            "--now",
            &earlier,
            "--force-rewind",
        ])
        .output()
        .expect("run warnkit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: --force-rewind"), "{err}");
    assert!(!published(dir).contains_key(&hour4));
    warnkit(&["distribute", "--data-dir", data, "--now", &at]);
    assert_eq!(published(dir), before);
}

/// The value of `name{service="distribution"}` in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> Option<f64> {
    let prefix = format!("{name}{{service=\"distribution\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().expect("a number"))
}

/// The server's metrics once its counter `name` has reached 1, asked for until then (30 s at most).
async fn metrics_once(endpoints: &Value, name: &str) -> String {
    let url = format!("{}/metrics", endpoints["metrics"].as_str().expect("url"));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = http
            .get(&url)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        if metric(&text, name).is_some_and(|n| n >= 1.0) {
            return text;
        }
        assert!(Instant::now() < deadline, "{name} never reached 1: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_scheduled_run_shows_in_the_metrics_and_keeps_distribute_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let now = warnkit_store::unix_now();
    let today = now / 86_400;
    store(
        dir,
        &[
            // Yesterday's 02:00 hour: published in DE and EUR.
            key(1, today - 2, (today - 1) * 24),
            // Today's key: waits for tomorrow.
            key(2, today, now / 3600),
        ],
    )
    .await;
    let (server, endpoints) = start(dir, &[]);
    let text = metrics_once(&endpoints, "distribution_runs_total").await;
    assert_eq!(metric(&text, "distribution_run_failures_total"), Some(0.0));
    assert_eq!(metric(&text, "distribution_published_keys"), Some(2.0));
    assert_eq!(metric(&text, "distribution_keys_waiting"), Some(1.0));
    let success = metric(&text, "distribution_last_success_timestamp_seconds").expect("success");
    assert!((now as f64..=warnkit_store::unix_now() as f64).contains(&success));
    assert!(metric(&text, "distribution_last_run_seconds").is_some_and(|s| s > 0.0));
    let written = metric(&text, "distribution_last_files_written").expect("files written");
    if metric(&text, "distribution_runs_total") == Some(1.0) {
        assert_eq!(
            written as usize,
            published(dir).len(),
            "a first run writes every file"
        );
    }
    assert!(
        text.contains("# TYPE distribution_keys_waiting gauge"),
        "{text}"
    );
    assert_eq!(last_run(dir)["ok"], true);

    let err = refused(&["distribute", "--data-dir", dir.to_str().expect("utf-8")]);
    assert!(err.contains("runs the distribution schedule"), "{err}");
    assert!(err.contains(&format!("pid {}", server.0.id())), "{err}");
    assert!(err.contains("distribution.schedule = false"), "{err}");
}

#[tokio::test]
async fn a_scheduled_run_on_a_rewound_clock_refuses_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let cfg = ["--data-dir", dir.to_str().expect("utf-8")];
    let now = warnkit_store::unix_now();
    let today = now / 86_400;
    store(dir, &[key(1, today - 2, (today - 1) * 24)]).await;
    // Files published as of tomorrow, as a machine whose clock ran ahead would have: the server's clock
    // (the real one) is now earlier than what is published.
    let ahead = datetime_string(((today + 1) * 24 + 3) * 3600);
    warnkit(&[&["distribute", "--now", &ahead, "--allow-future"][..], &cfg].concat());
    let before = published(dir);
    let (_server, endpoints) = start(dir, &[]);
    let text = metrics_once(&endpoints, "distribution_run_failures_total").await;
    assert_eq!(
        metric(&text, "distribution_runs_total"),
        Some(1.0),
        "{text}"
    );
    let last = last_run(dir);
    assert_eq!(last["ok"], false, "{last}");
    let error = last["error"].as_str().expect("error");
    assert!(error.contains("refusing to publish"), "{error}");
    assert!(error.contains("--force-rewind"), "{error}");
    assert_eq!(
        published(dir),
        before,
        "a refused run changes no published byte"
    );
}
