//! Published files never change or vanish early: a run on a rewound clock refuses and changes
//! nothing, a forced one rolls back and republishes the same bytes, already published archives stay
//! byte-identical when settings change, and each run reports its counts and records itself.

use std::collections::BTreeMap;
use std::path::Path;

use warnkit_distribution::layout;
use warnkit_distribution::signing;
use warnkit_distribution::{
    Distribution, DistributionConfig, DistributionError, LastRun, Objects, RunReport,
};
use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_protocol::export::{Archive, Limits};
use warnkit_store::PoolConfig;
use warnkit_testkit::{on_both, TestDb};

const DAY: i64 = 20_415;
/// 05:10 on the day after `DAY`: hours 0 to 4 of that day have ended.
const NOW: i64 = (DAY + 1) * 86_400 + 5 * 3600 + 600;
const HOUR: i64 = 3600;

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

async fn setup(db: &TestDb, config: DistributionConfig) -> (Distribution, KeyStore) {
    let keys = KeyStore::open(&db.target("submission"), PoolConfig::default())
        .await
        .expect("key store");
    let job = Distribution::new(
        keys.clone(),
        Objects::local(&db.dir().join("published")).expect("objects"),
        signing::load_or_create(&db.dir().join("signing")).expect("signing key"),
        config,
        db.dir().join("distribution.lock"),
    )
    .with_last_run_file(db.dir().join("last-run.json"));
    (job, keys)
}

/// Every file under `dir` with its bytes, read from the disk.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .display()
                    .to_string();
                out.insert(name, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

fn object(url_path: &str) -> String {
    layout::object_for(url_path)
}

fn keys_in(bytes: &[u8]) -> usize {
    Archive::read(bytes, &Limits::default())
        .expect("archive")
        .export
        .keys
        .len()
}

fn last_run(db: &TestDb) -> LastRun {
    LastRun::read(&db.dir().join("last-run.json"))
        .expect("readable")
        .expect("written")
}

#[tokio::test]
async fn a_rewound_clock_refuses_and_changes_nothing() {
    on_both(|db| async move {
        let (job, keys) = setup(&db, DistributionConfig::default()).await;
        keys.insert(&[
            key(1, DAY - 1, DAY * 24 + 3),
            // Stored at 04:00 on NOW's day: in that day's hour 4, the newest published hour.
            key(2, DAY - 1, (DAY + 1) * 24 + 4),
        ])
        .await
        .expect("insert");
        assert!(job.run_once(NOW).await.expect("run").ran);
        let published = db.dir().join("published");
        let before = files(&published);
        let hour4 = object(&layout::hourly("DE", &layout::date_string(DAY + 1), 4));
        assert!(before.contains_key(&hour4), "{:?}", before.keys());

        // An hour back (hour 4 would be withdrawn), a day back, a month back: each refused.
        for clock in [NOW - HOUR, NOW - 86_400, NOW - 30 * 86_400] {
            let err = job.run_once(clock).await.expect_err("a rewound clock");
            let DistributionError::Rewind(refused) = &err else {
                panic!("not a rewind refusal: {}", err.chain());
            };
            assert_eq!(refused.earliest, (DAY + 1) * 86_400 + 5 * HOUR);
            assert!(refused.newest.ends_with("/hour/4"), "{}", refused.newest);
            assert!(err.to_string().contains("--force-rewind"), "{err}");
            assert_eq!(files(&published), before, "a refused run changed a file");
            assert_eq!(keys.count().await.expect("count"), 2);
            let record = last_run(&db);
            assert!(!record.ok);
            assert!(record.error.expect("error").contains("refusing"));
            assert_eq!(layout::parse_rfc3339(&record.clock), Some(clock));
        }
        // The same hour and later hours are no rewind.
        assert_eq!(
            job.run_once(NOW - 600)
                .await
                .expect("same hour")
                .files_written,
            0
        );
        assert!(job.run_once(NOW + HOUR).await.expect("an hour later").ran);
        assert!(last_run(&db).ok);
    })
    .await;
}

#[tokio::test]
async fn a_forced_rewind_rolls_back_and_the_clock_republishes_the_same_bytes() {
    on_both(|db| async move {
        let (job, keys) = setup(&db, DistributionConfig::default()).await;
        keys.insert(&[
            key(1, DAY - 1, DAY * 24 + 3),
            key(2, DAY - 1, (DAY + 1) * 24 + 4),
        ])
        .await
        .expect("insert");
        job.run_once(NOW).await.expect("run");
        let published = db.dir().join("published");
        let before = files(&published);

        let forced = job.clone().with_force_rewind(true);
        let report = forced.run_once(NOW - 2 * HOUR).await.expect("forced");
        assert!(report.rewound);
        let rolled_back = files(&published);
        let date = layout::date_string(DAY + 1);
        for hour in [3, 4] {
            assert!(
                !rolled_back.contains_key(&object(&layout::hourly("DE", &date, hour))),
                "hour {hour} is withdrawn"
            );
        }
        let hours = &rolled_back[&object(&layout::hour_index("DE", &date))];
        assert_eq!(hours.as_slice(), b"[0,1,2]");
        // A forced run that is no rewind says so.
        assert!(!forced.run_once(NOW).await.expect("run").rewound);
        assert_eq!(
            files(&published),
            before,
            "the same keys give the same bytes"
        );
    })
    .await;
}

#[tokio::test]
async fn published_archives_stay_byte_identical_when_the_padding_changes() {
    on_both(|db| async move {
        let unpadded = DistributionConfig {
            min_keys_per_file: 0,
            ..DistributionConfig::default()
        };
        let (job, keys) = setup(&db, unpadded).await;
        keys.insert(&[key(1, DAY - 1, DAY * 24 + 3)])
            .await
            .expect("insert");
        job.run_once(NOW).await.expect("run");
        let published = db.dir().join("published");
        let before = files(&published);

        // Padding switched on; a key arrives at 06:00 and is published in hour 6.
        let (padded, _) = setup(
            &db,
            DistributionConfig {
                min_keys_per_file: 20,
                ..DistributionConfig::default()
            },
        )
        .await;
        keys.insert(&[key(2, DAY - 1, (DAY + 1) * 24 + 6)])
            .await
            .expect("insert");
        let report = padded.run_once(NOW + 2 * HOUR).await.expect("run");
        let after = files(&published);
        for (path, bytes) in &before {
            if layout::kind_of(path.trim_end_matches("/index")) == Some(layout::Kind::Archive) {
                assert_eq!(after.get(path), Some(bytes), "{path} changed");
            }
        }
        // Every archive published before is left as it is, not built again with the new padding
        // (four of them, key 1's hour 3 and day of DE and EUR, would have come out different).
        let archives_before = before
            .keys()
            .filter(|p| {
                layout::kind_of(p.trim_end_matches("/index")) == Some(layout::Kind::Archive)
            })
            .count();
        assert!(archives_before > 4);
        assert_eq!(report.archives_kept, archives_before);
        let day = layout::date_string(DAY);
        assert_eq!(keys_in(&after[&object(&layout::hourly("DE", &day, 3))]), 1);
        assert_eq!(keys_in(&after[&object(&layout::daily("EUR", &day))]), 1);
        let today = layout::date_string(DAY + 1);
        for region in ["DE", "EUR"] {
            let new = &after[&object(&layout::hourly(region, &today, 6))];
            assert_eq!(
                keys_in(new),
                20,
                "the new hour is padded to the new minimum"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn the_report_counts_files_keys_and_what_waits() {
    on_both(|db| async move {
        let (job, keys) = setup(&db, DistributionConfig::default()).await;
        keys.insert(&[
            // Published in DAY's hour 3 and daily file.
            key(1, DAY - 1, DAY * 24 + 3),
            // Published in hour 2 of NOW's day: hourly files only, its day has not ended.
            key(2, DAY, (DAY + 1) * 24 + 2),
            // NOW's day's key: its period ends at midnight, plus two hours.
            key(3, DAY + 1, (DAY + 1) * 24 + 5),
            // Stored in the current hour: published once 05:00-06:00 has ended.
            key(4, DAY - 1, (DAY + 1) * 24 + 5),
        ])
        .await
        .expect("insert");
        let report = job.run_once(NOW).await.expect("run");
        // DE and EUR; 14 days of daily files; hourly files for 2 full days and NOW's 5 ended hours.
        assert_eq!(report.daily_files, 2 * 14);
        assert_eq!(report.hourly_files, 2 * (2 * 24 + 5));
        // Keys 1 and 2, each in both regions; each file with keys padded to 140.
        assert_eq!(report.real_keys, 4);
        assert_eq!(report.padding_keys, 4 * 139);
        assert_eq!(report.keys_waiting, 2);
        assert_eq!(
            report.waiting_until.as_deref(),
            Some(format!("{}T06:00:00Z", layout::date_string(DAY + 1)).as_str())
        );
        assert_eq!(report.days.len(), 14);
        assert_eq!(report.days[0].date, layout::date_string(DAY - 13));
        let day = report.days.last().expect("a day");
        assert_eq!(
            (day.date.as_str(), day.real_keys, day.padding_keys),
            (layout::date_string(DAY).as_str(), 1, 139)
        );
        assert!(report.days[..13]
            .iter()
            .all(|d| d.real_keys == 0 && d.padding_keys == 0));

        let record = last_run(&db);
        assert!(record.ok, "{record:?}");
        assert_eq!(record.error, None);
        // Seconds aside: JSON need not give back a float's last bit.
        assert_eq!(
            RunReport {
                seconds: 0.0,
                ..record.report
            },
            RunReport {
                seconds: 0.0,
                ..report
            }
        );
        assert_eq!(
            layout::parse_rfc3339(&record.clock),
            Some(NOW),
            "{}",
            record.clock
        );
        let started = layout::parse_rfc3339(&record.started_at).expect("started_at");
        let finished = layout::parse_rfc3339(&record.finished_at).expect("finished_at");
        assert!(started <= finished && finished <= warnkit_store::unix_now());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(db.dir().join("last-run.json"))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "owner-only");
        }
    })
    .await;
}

#[test]
fn the_earliest_run_hour_follows_the_newest_dated_file() {
    use warnkit_distribution::plan::earliest_run_hour;
    let date = layout::date_string(DAY);
    let hourly = layout::hourly("DE", &date, 7);
    let daily = layout::daily("EUR", &layout::date_string(DAY - 1));
    let index = layout::hour_index("DE", &layout::date_string(DAY + 1));
    let config = layout::app_config("DE");
    assert_eq!(earliest_run_hour([config.as_str()]), None);
    assert_eq!(
        earliest_run_hour([hourly.as_str(), daily.as_str(), config.as_str()]),
        Some((DAY * 24 + 8, hourly.as_str()))
    );
    assert_eq!(
        earliest_run_hour([daily.as_str()]),
        Some((DAY * 24, daily.as_str()))
    );
    assert_eq!(
        earliest_run_hour([hourly.as_str(), index.as_str()]),
        Some(((DAY + 1) * 24, index.as_str()))
    );
}
