//! The key store's insert, read, delete and retention, one suite on SQLite and on PostgreSQL.

use warnkit_keystore::{KeyRetention, KeyStore, StoredKey};
use warnkit_service::Clock;
use warnkit_store::PoolConfig;
use warnkit_testkit::{on_both, TestDb};

fn key(n: u8, hour: i64) -> StoredKey {
    StoredKey {
        key_data: [n; 16],
        rolling_start: 2_700_000 + 144 * u32::from(n % 14),
        rolling_period: 144,
        transmission_risk_level: n % 9,
        report_type: 1,
        days_since_onset_of_symptoms: (n & 1 == 0).then_some(i32::from(n) - 14),
        submission_hour: hour,
        origin: "DE".into(),
        visited_countries: if matches!(n % 3, 0) {
            vec![]
        } else {
            vec!["FR".into(), "NL".into()]
        },
        consent_to_federation: n % 2 == 1,
    }
}

async fn suite(db: TestDb) {
    let store = KeyStore::open(&db.target("submission"), PoolConfig::default())
        .await
        .unwrap();
    assert_eq!(store.count().await.unwrap(), 0);
    assert_eq!(store.insert(&[]).await.unwrap(), 0);

    let first: Vec<_> = (0..14).map(|n| key(n, 100)).collect();
    assert_eq!(store.insert(&first).await.unwrap(), 14);
    // A key already stored is skipped, the new one in the same batch is stored.
    let again = vec![key(3, 101), key(20, 101)];
    assert_eq!(store.insert(&again).await.unwrap(), 1);
    assert_eq!(store.count().await.unwrap(), 15);

    let mut read = store.keys_submitted_between(100, 101).await.unwrap();
    read.sort_by_key(|k| k.key_data);
    assert_eq!(read, first);
    assert_eq!(
        store.keys_submitted_between(101, 102).await.unwrap(),
        vec![key(20, 101)]
    );
    assert!(store
        .keys_submitted_between(102, 200)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.keys_submitted_between(0, 1000).await.unwrap().len(),
        15
    );

    // All or nothing: an unstorable key rolls back the whole batch.
    let mut bad = key(30, 102);
    bad.rolling_period = 1000;
    assert!(store.insert(&[key(31, 102), bad]).await.is_err());
    assert_eq!(store.count().await.unwrap(), 15);

    // Batches larger than one INSERT statement.
    let many: Vec<_> = (0..2500u32)
        .map(|i| {
            let mut k = key(0, 102);
            k.key_data[..4].copy_from_slice(&i.to_be_bytes());
            k.key_data[15] = 0xee;
            k
        })
        .collect();
    assert_eq!(store.insert(&many).await.unwrap(), 2500);
    assert_eq!(
        store.keys_submitted_between(102, 103).await.unwrap().len(),
        2500
    );

    assert_eq!(store.delete_submitted_before(101).await.unwrap(), 14);
    assert_eq!(store.count().await.unwrap(), 2501);
    assert_eq!(store.delete_submitted_before(101).await.unwrap(), 0);
    store.db().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keystore_on_both_engines() {
    on_both(suite).await;
}

/// Concurrent uploads (which the SQLite writer commits together) that share keys: every key is stored once,
/// and the counts the uploads get back add up to what is stored.
async fn concurrent_suite(db: TestDb) {
    let store = KeyStore::open(&db.target("submission"), PoolConfig::default())
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for upload in 0..60u32 {
        let store = store.clone();
        tasks.spawn(async move {
            let keys: Vec<StoredKey> = (0..14u32)
                .map(|i| {
                    // Key 0 of each upload is key 13 of the one before.
                    let n = upload * 13 + i;
                    let mut k = key(0, 200);
                    k.key_data[..4].copy_from_slice(&n.to_be_bytes());
                    k
                })
                .collect();
            store.insert(&keys).await.unwrap()
        });
    }
    let mut reported = 0;
    while let Some(n) = tasks.join_next().await {
        reported += n.unwrap();
    }
    assert_eq!(store.count().await.unwrap(), 60 * 13 + 1);
    assert_eq!(reported, 60 * 13 + 1);
    store.db().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_on_both_engines() {
    on_both(concurrent_suite).await;
}

/// The retention job deletes what its clock says is older than its days, and nothing else; a second run
/// deletes nothing more.
async fn retention_suite(db: TestDb) {
    let store = KeyStore::open(&db.target("submission"), PoolConfig::default())
        .await
        .unwrap();
    let hour = 480_000;
    let keys: Vec<_> = (0..6).map(|n| key(n, hour + i64::from(n))).collect();
    assert_eq!(store.insert(&keys).await.unwrap(), 6);
    let clock = Clock::manual(hour * 3600);
    let retention = KeyRetention::new(store.clone(), 14, clock.clone());
    assert_eq!(retention.first_kept_hour(), hour - 14 * 24);
    assert_eq!(retention.run_once().await.unwrap(), Some(0));
    // 14 days and 3 hours later the keys of the first three hours are out.
    clock.advance(14 * 86_400 + 3 * 3600);
    assert_eq!(retention.run_once().await.unwrap(), Some(3));
    assert_eq!(retention.run_once().await.unwrap(), Some(0));
    let mut left = store.keys_submitted_between(0, i64::MAX).await.unwrap();
    left.sort_by_key(|k| k.key_data);
    assert_eq!(left, keys[3..]);
    store.db().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_on_both_engines() {
    on_both(retention_suite).await;
}

/// An upload's keys are dated by the hour their transaction commits in, not the hour they arrived:
/// stored while the clock reads 10:59:59 they belong to 10:00, but a write held up (here by another
/// session's table lock) until the clock has passed 11:00 is rolled back and written again, dated
/// 11:00. So the file of 10:00, published a few seconds after 11:00 and never changed, cannot miss
/// keys still being written when it was made.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_are_dated_by_the_hour_they_commit_in() {
    use sqlx::{Connection, PgConnection};
    use std::time::{Duration, Instant};
    const HOUR: i64 = 480_000;
    let Some(db) = TestDb::new(warnkit_testkit::Engine::Postgres) else {
        return;
    };
    let store = KeyStore::open(&db.target("submission"), PoolConfig::default())
        .await
        .unwrap();
    let clock = Clock::manual(HOUR * 3600 + 3599);
    // The keys' own `submission_hour` (0) does not count.
    assert_eq!(store.insert_now(&[key(1, 0)], &clock).await.unwrap(), 1);
    let dated = |from: i64| {
        let store = store.clone();
        async move {
            let mut keys: Vec<[u8; 16]> = store
                .keys_submitted_between(from, from + 1)
                .await
                .unwrap()
                .into_iter()
                .map(|k| k.key_data)
                .collect();
            keys.sort();
            keys
        }
    };
    assert_eq!(dated(HOUR).await, vec![[1; 16]]);

    let url = db.postgres_url().unwrap();
    let mut blocker = PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("LOCK TABLE submission.diagnosis_key IN EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let write = tokio::spawn({
        let (store, clock) = (store.clone(), clock.clone());
        async move { store.insert_now(&[key(2, 0)], &clock).await }
    });
    // Once the writer's INSERT waits for the lock, it has dated its rows 10:00.
    let mut watcher = PgConnection::connect(url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO diagnosis_key%'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the writer never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    clock.advance(2);
    sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();
    assert_eq!(write.await.unwrap().unwrap(), 1);
    assert_eq!(dated(HOUR).await, vec![[1; 16]], "nothing more dated 10:00");
    assert_eq!(
        dated(HOUR + 1).await,
        vec![[2; 16]],
        "the held write dated 11:00"
    );
}
