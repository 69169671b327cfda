//! The distribution job against real databases (SQLite and PostgreSQL) and a real local store:
//! publishing, idempotent re-runs, retention, interrupted runs, and the lock.

use std::collections::BTreeSet;
use std::time::Duration;

use warnkit_distribution::layout;
use warnkit_distribution::signing;
use warnkit_distribution::{Distribution, DistributionConfig, Objects};
use warnkit_keystore::{KeyRetention, KeyStore, StoredKey};
use warnkit_protocol::export::{self, Archive, Limits};
use warnkit_service::Clock;
use warnkit_store::PoolConfig;
use warnkit_testkit::{on_both, TestDb};

const DAY: i64 = 20_415;
const NOW: i64 = (DAY + 1) * 86_400 + 5 * 3600 + 600;

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
    let objects = Objects::local(&db.dir().join("published")).expect("objects");
    let signing = signing::load_or_create(&db.dir().join("signing")).expect("signing key");
    let job = Distribution::new(
        keys.clone(),
        objects,
        signing,
        config,
        db.dir().join("distribution.lock"),
    );
    (job, keys)
}

/// Follows the indexes from the top like a phone: every file they name must exist and verify.
async fn check_published(objects: &Objects, public_pem: &str) -> BTreeSet<[u8; 16]> {
    let public = export::public_key_from_pem(public_pem).expect("public key");
    let mut seen = BTreeSet::new();
    let Some(top) = objects.get(&layout::country_index()).await.expect("get") else {
        return seen;
    };
    let regions: Vec<String> = serde_json::from_slice(&top).expect("json");
    for region in regions {
        let dates: Vec<String> = serde_json::from_slice(
            &objects
                .get(&layout::date_index(&region))
                .await
                .expect("get")
                .expect("date index named by the top index"),
        )
        .expect("json");
        for date in dates {
            let bytes = objects
                .get(&layout::daily(&region, &date))
                .await
                .expect("get")
                .unwrap_or_else(|| panic!("daily {date} missing"));
            let archive = Archive::read(&bytes, &Limits::default()).expect("archive");
            archive.verify(&[public]).expect("verifies");
            seen.extend(
                archive
                    .export
                    .keys
                    .iter()
                    .map(|k| <[u8; 16]>::try_from(k.key_data()).expect("16")),
            );
            if let Some(hours) = objects
                .get(&layout::hour_index(&region, &date))
                .await
                .expect("get")
            {
                let hours: Vec<u32> = serde_json::from_slice(&hours).expect("json");
                for hour in hours {
                    let bytes = objects
                        .get(&layout::hourly(&region, &date, hour))
                        .await
                        .expect("get")
                        .unwrap_or_else(|| panic!("hour {date} {hour} missing"));
                    Archive::read(&bytes, &Limits::default())
                        .expect("archive")
                        .verify(&[public])
                        .expect("verifies");
                }
            }
        }
    }
    seen
}

#[tokio::test]
async fn publishes_verifiable_files_idempotently() {
    on_both(|db| async move {
        let (job, keys) = setup(
            &db,
            DistributionConfig {
                min_keys_per_file: 0,
                ..DistributionConfig::default()
            },
        )
        .await;
        keys.insert(&[
            key(1, DAY - 1, DAY * 24 + 3),
            key(2, DAY - 2, (DAY - 5) * 24),
            key(3, DAY + 1, (DAY + 1) * 24 + 1),
        ])
        .await
        .expect("insert");
        let first = job.run_once(NOW).await.expect("run");
        assert!(first.ran);
        assert_eq!(
            first.real_keys, 4,
            "two keys, each in DE and EUR; today's key must wait"
        );
        assert!(first.files_written > 14);
        let public =
            std::fs::read_to_string(db.dir().join("signing/public-key.pem")).expect("public key");
        let seen = check_published(job.objects(), &public).await;
        assert_eq!(seen, BTreeSet::from([[1; 16], [2; 16]]));
        // The published public key and app configuration are there.
        assert_eq!(
            job.objects()
                .get(&layout::public_key())
                .await
                .expect("get")
                .as_deref(),
            Some(public.as_bytes())
        );
        let config = job
            .objects()
            .get(&layout::app_config("DE"))
            .await
            .expect("get")
            .expect("app config");
        let blob = export::SignedBlob::read(&config, &Limits::default()).expect("signed zip");
        blob.verify(&[export::public_key_from_pem(&public).expect("key")])
            .expect("app config verifies");

        let second = job.run_once(NOW).await.expect("run");
        assert_eq!(
            second.files_written, 0,
            "a re-run with nothing new writes nothing"
        );
        // The archives are not even built again (they never change); the rest is built and found
        // unchanged.
        assert!(second.archives_kept > 0);
        assert_eq!(
            second.files_unchanged + second.archives_kept,
            first.files_written
        );
        assert_eq!(second.archive_keys, 0, "no archive was built");

        // Two days later, today's key is out; and eventually everything expires.
        let later = job.run_once(NOW + 2 * 86_400).await.expect("run");
        assert!(
            later.files_deleted > 0,
            "hourly files beyond their window are removed"
        );
        let seen = check_published(job.objects(), &public).await;
        assert_eq!(seen, BTreeSet::from([[1; 16], [2; 16], [3; 16]]));
        let expired = job.run_once(NOW + 20 * 86_400).await.expect("run");
        // The job deletes no stored key; the key store's retention job does, by the same clock.
        assert_eq!(expired.keys_deleted, 0);
        assert_eq!(keys.count().await.expect("count"), 3);
        let retention = KeyRetention::new(keys.clone(), 14, Clock::manual(NOW + 20 * 86_400));
        assert_eq!(retention.run_once().await.expect("retention"), Some(3));
        assert_eq!(keys.count().await.expect("count"), 0);
        assert!(check_published(job.objects(), &public).await.is_empty());
        let old_daily = layout::daily("DE", &layout::date_string(DAY - 1));
        assert!(
            job.objects().get(&old_daily).await.expect("get").is_none(),
            "expired files are deleted"
        );
    })
    .await;
}

#[tokio::test]
async fn an_interrupted_run_never_leaves_an_index_naming_a_missing_file() {
    on_both(|db| async move {
        let (job, keys) = setup(&db, DistributionConfig::default()).await;
        let batch: Vec<StoredKey> = (0..200u8)
            .map(|i| {
                key(
                    i,
                    DAY - 1 - i64::from(i % 5),
                    (DAY - 1) * 24 + i64::from(i % 20),
                )
            })
            .collect();
        keys.insert(&batch).await.expect("insert");
        let public =
            std::fs::read_to_string(db.dir().join("signing/public-key.pem")).expect("public key");
        // Cut runs short at growing points, as a crash would; after each, what is published is consistent.
        for micros in [50u64, 200, 1_000, 3_000, 10_000, 30_000] {
            let _ = tokio::time::timeout(
                Duration::from_micros(micros),
                job.run_once(NOW + micros as i64),
            )
            .await;
            check_published(job.objects(), &public).await;
        }
        // At the last interrupted run's time: an earlier clock would be refused as a rewind.
        let complete = job.run_once(NOW + 30_000).await.expect("complete run");
        assert!(
            complete.ran,
            "an interrupted run must not leave a lock behind"
        );
        let seen = check_published(job.objects(), &public).await;
        for k in &batch {
            assert!(
                seen.contains(&k.key_data),
                "a key is missing after the complete run"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn only_one_run_at_a_time() {
    let db = TestDb::new(warnkit_testkit::Engine::Sqlite).expect("sqlite");
    let (job, _) = setup(&db, DistributionConfig::default()).await;
    let lock = std::fs::File::create(db.dir().join("distribution.lock")).expect("lock file");
    lock.lock().expect("hold the lock");
    let report = job.run_once(NOW).await.expect("run");
    assert!(!report.ran, "a held lock must make the run skip");
    drop(lock);
    assert!(job.run_once(NOW).await.expect("run").ran);
}

#[tokio::test]
async fn postgres_advisory_lock_keeps_out_a_second_instance() {
    let Some(db) = TestDb::new(warnkit_testkit::Engine::Postgres) else {
        return;
    };
    let (job, keys) = setup(&db, DistributionConfig::default()).await;
    // A second instance elsewhere: its own lock file, the same database.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = Distribution::new(
        keys.clone(),
        Objects::local(&other_dir.path().join("published")).expect("objects"),
        signing::load_or_create(&db.dir().join("signing")).expect("key"),
        DistributionConfig::default(),
        other_dir.path().join("distribution.lock"),
    );
    let warnkit_store::Db::Postgres(pool) = keys.db() else {
        panic!("postgres")
    };
    let mut holder = pool.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock(8602282581828400228)")
        .execute(&mut *holder)
        .await
        .expect("lock");
    assert!(!job.run_once(NOW).await.expect("run").ran);
    assert!(!other.run_once(NOW).await.expect("run").ran);
    sqlx::query("SELECT pg_advisory_unlock(8602282581828400228)")
        .execute(&mut *holder)
        .await
        .expect("unlock");
    assert!(other.run_once(NOW).await.expect("run").ran);
}

/// The keys of every daily file of `region` the date index names.
async fn daily_keys(objects: &Objects, region: &str) -> BTreeSet<[u8; 16]> {
    let Some(index) = objects.get(&layout::date_index(region)).await.expect("get") else {
        return BTreeSet::new();
    };
    let dates: Vec<String> = serde_json::from_slice(&index).expect("json");
    let mut keys = BTreeSet::new();
    for date in dates {
        let bytes = objects
            .get(&layout::daily(region, &date))
            .await
            .expect("get")
            .expect("daily file named by the index");
        let archive = Archive::read(&bytes, &Limits::default()).expect("archive");
        assert_eq!(archive.export.region(), region);
        keys.extend(
            archive
                .export
                .keys
                .iter()
                .map(|k| <[u8; 16]>::try_from(k.key_data()).expect("16")),
        );
    }
    keys
}

#[tokio::test]
async fn publishes_foreign_keys_in_the_own_and_the_combined_region() {
    on_both(|db| async move {
        let federated = DistributionConfig {
            min_keys_per_file: 0,
            federation_region: Some("EUR".into()),
            ..DistributionConfig::default()
        };
        let (job, keys) = setup(&db, federated).await;
        let with = |byte: u8, origin: &str, visited: &[&str], consent: bool| StoredKey {
            origin: origin.into(),
            visited_countries: visited.iter().map(|c| (*c).to_owned()).collect(),
            consent_to_federation: consent,
            ..key(byte, DAY - 1, DAY * 24 + 3)
        };
        keys.insert(&[
            with(1, "FR", &["DE"], true),  // a French visitor: DE and EUR
            with(2, "FR", &["IT"], true),  // never here: EUR only
            with(3, "DE", &["FR"], false), // ours without consent: DE and EUR all the same
            with(4, "DE", &[], true),      // ours with consent: DE and EUR
            with(5, "IT", &["DE", "FR"], false),
        ])
        .await
        .expect("insert");
        let first = job.run_once(NOW).await.expect("run");
        let public =
            std::fs::read_to_string(db.dir().join("signing/public-key.pem")).expect("public key");
        // Following the indexes from the top reaches both regions, and every file verifies.
        let all = check_published(job.objects(), &public).await;
        assert_eq!(all.len(), 5);
        let top = job
            .objects()
            .get(&layout::country_index())
            .await
            .expect("get")
            .expect("country index");
        assert_eq!(top.as_ref(), br#"["DE","EUR"]"#);
        assert_eq!(
            daily_keys(job.objects(), "DE").await,
            BTreeSet::from([[1; 16], [3; 16], [4; 16], [5; 16]])
        );
        assert_eq!(
            daily_keys(job.objects(), "EUR").await,
            BTreeSet::from([[1; 16], [2; 16], [3; 16], [4; 16], [5; 16]]),
            "consent governs the upload to other countries, not the combined region"
        );
        assert_eq!(
            first.real_keys, 9,
            "four keys in DE's daily file, five in EUR's"
        );

        let again = job.run_once(NOW).await.expect("run");
        assert_eq!(
            again.files_written, 0,
            "a re-run writes nothing in either region"
        );
        assert_eq!(again.files_deleted, 0);

        // Switching the combined region off withdraws its files and leaves a lone country's layout.
        let (alone, _) = setup(
            &db,
            DistributionConfig {
                min_keys_per_file: 0,
                federation_region: Some(String::new()),
                ..DistributionConfig::default()
            },
        )
        .await;
        let off = alone.run_once(NOW).await.expect("run");
        assert!(off.files_deleted > 14, "the EUR files leave");
        let top = alone
            .objects()
            .get(&layout::country_index())
            .await
            .expect("get")
            .expect("country index");
        assert_eq!(top.as_ref(), br#"["DE"]"#);
        assert!(alone
            .objects()
            .list("version/v1/diagnosis-keys/country/EUR")
            .await
            .expect("list")
            .is_empty());
        assert_eq!(
            daily_keys(alone.objects(), "DE").await,
            BTreeSet::from([[1; 16], [3; 16], [4; 16], [5; 16]])
        );
    })
    .await;
}

#[test]
fn region_codes_are_checked() {
    let ok = DistributionConfig {
        federation_region: Some("EUR".into()),
        ..DistributionConfig::default()
    };
    assert!(ok.validate().is_ok());
    let off = DistributionConfig {
        federation_region: Some(String::new()),
        ..DistributionConfig::default()
    };
    assert!(off.validate().is_ok(), "an empty combined region is off");
    for (region, combined) in [
        ("DE", Some("de")),
        ("DE", Some("EUR/")),
        ("DE", Some("E/U")),
        ("../x", None),
        ("D", None),
    ] {
        let bad = DistributionConfig {
            region: region.into(),
            federation_region: combined.map(str::to_owned),
            ..DistributionConfig::default()
        };
        let err = bad.validate().expect_err("must be refused");
        assert!(err.to_string().contains("distribution."), "{err}");
    }
}

/// Runners on different data directories that name one `signing_dir` sign with its one key; a named
/// directory without a key is refused, never given a key of its own.
#[tokio::test]
async fn runners_sharing_a_signing_dir_sign_with_its_key() {
    let db = TestDb::new(warnkit_testkit::Engine::Sqlite).expect("sqlite");
    let keys = KeyStore::open(&db.target("submission"), PoolConfig::default())
        .await
        .expect("key store");
    let shared = db.dir().join("shared-signing");
    let config = DistributionConfig {
        signing_dir: Some(shared.clone()),
        ..DistributionConfig::default()
    };
    let Err(refused) =
        Distribution::for_data_dir(keys.clone(), config.clone(), &db.dir().join("a"))
    else {
        panic!("a signing_dir without a key was accepted");
    };
    let message = refused.to_string();
    assert!(message.contains("warnkit keygen --out"), "{message}");
    assert!(!shared.join(signing::PRIVATE_KEY_FILE).exists());

    let pair = warnkit_service::keypair::create(&shared, false).expect("keygen");
    let a = Distribution::for_data_dir(keys.clone(), config.clone(), &db.dir().join("a"))
        .expect("runner a");
    let b = Distribution::for_data_dir(keys, config, &db.dir().join("b")).expect("runner b");
    assert_eq!(a.public_key_pem(), pair.public_pem);
    assert_eq!(b.public_key_pem(), pair.public_pem);
    assert!(
        !db.dir().join("a").join("signing").exists(),
        "no key made in the data dir"
    );
}
