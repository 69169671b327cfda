//! Measures the key store's bulk read: `cargo run --release -p warnkit-keystore --example keystore_read --
//! [sqlite|postgres] [N]` (PostgreSQL from `WARNKIT_TEST_PG_URL`, else the test harness's server).

use std::time::Instant;

use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_store::PoolConfig;
use warnkit_testkit::{Engine, TestDb};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let engine = match args.next().as_deref() {
        Some("postgres") => Engine::Postgres,
        _ => Engine::Sqlite,
    };
    let n: u32 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let db = TestDb::new(engine).expect("a database");
    let store = KeyStore::open(&db.target("submission"), PoolConfig::default())
        .await
        .expect("opening the store");
    let hours = 14 * 24;
    let start = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let mut key_data = [0u8; 16];
        key_data[..4].copy_from_slice(&i.to_be_bytes());
        key_data[4..8].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
        batch.push(StoredKey {
            key_data,
            rolling_start: 2_700_000 + 144 * (i % 14),
            rolling_period: 144,
            transmission_risk_level: (i % 8) as u8 + 1,
            report_type: 1,
            days_since_onset_of_symptoms: Some((i % 20) as i32 - 5),
            submission_hour: 480_000 + i64::from(i % hours),
            origin: "DE".into(),
            visited_countries: if i % 4 == 0 {
                vec!["FR".into()]
            } else {
                vec![]
            },
            consent_to_federation: i % 2 == 0,
        });
        if batch.len() == 10_000 {
            store.insert(&batch).await.expect("insert");
            batch.clear();
        }
    }
    store.insert(&batch).await.expect("insert");
    println!("{engine:?}: inserted {n} keys in {:?}", start.elapsed());
    for _ in 0..3 {
        let start = Instant::now();
        let keys = store
            .keys_submitted_between(0, i64::MAX)
            .await
            .expect("read");
        println!("read {} keys in {:?}", keys.len(), start.elapsed());
    }
    store.db().close().await;
}
