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
