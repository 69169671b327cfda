//! Measures concurrent 14-key inserts, the store's share of an upload: `cargo run --release -p
//! warnkit-keystore --example insert_rate -- [sqlite|postgres] [uploads]`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::RngCore;
use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_store::PoolConfig;
use warnkit_testkit::{Engine, TestDb};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(run());
}

async fn run() {
    let mut args = std::env::args().skip(1);
    let engine = match args.next().as_deref() {
        Some("postgres") => Engine::Postgres,
        _ => Engine::Sqlite,
    };
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let db = TestDb::new(engine).expect("a database");
    let store = KeyStore::open(&db.target("submission"), PoolConfig::default())
        .await
        .expect("opening the store");
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (store, next) = (store.clone(), next.clone());
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let keys: Vec<StoredKey> = (0..14u32)
                    .map(|d| {
                        let mut key_data = [0u8; 16];
                        rand::thread_rng().fill_bytes(&mut key_data);
                        StoredKey {
                            key_data,
                            rolling_start: 2_900_000 - 144 * d,
                            rolling_period: 144,
                            transmission_risk_level: 5,
                            report_type: 1,
                            days_since_onset_of_symptoms: Some(d as i32),
                            submission_hour: 490_000,
                            origin: "DE".into(),
                            visited_countries: vec![],
                            consent_to_federation: false,
                        }
                    })
                    .collect();
                store.insert(&keys).await.expect("insert");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{engine:?}: {n} inserts of 14 keys in {secs:.2} s: {:.0}/s",
        n as f64 / secs
    );
}
