//! Throughput of the verification service over real HTTP on one machine: registrations/s, TANs issued/s and
//! TAN verifications/s, on SQLite and on PostgreSQL. Load generator and services share the machine's cores.
//!
//! `cargo run --release -p warnkit-verification --example bench -- [sqlite|postgres|both] [REGISTRATIONS] [CONCURRENCY] [POOL]`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use warnkit_service::auth::sha256_hex;
use warnkit_service::server::shutdown_channel;
use warnkit_store::PoolConfig;
use warnkit_testkit::{Engine, TestDb};
use warnkit_testresult::TestResultConfig;
use warnkit_verification::VerificationConfig;

// The TAN path of the crate's own tests (the node builder depends on this crate).
#[allow(dead_code)]
#[path = "../tests/it/tan_path.rs"]
mod tan_path;
use tan_path::start_tan_path;

/// Runs `total` jobs on `concurrency` workers; returns jobs per second. Every job must succeed.
async fn run<F, Fut>(total: usize, concurrency: usize, job: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (job, next) = (job.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    job(i).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("bench worker panicked");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

async fn bench(engine: Engine, registrations: usize, concurrency: usize, connections: u32) {
    let Some(db) = TestDb::new(engine) else {
        return;
    };
    let pool = PoolConfig {
        max_connections: connections,
        ..PoolConfig::default()
    };
    let token = "bench-token".to_owned();
    // Lab uploads are setup here, not measured: allow big batches.
    let trs_config = TestResultConfig {
        max_body_bytes: 1 << 20,
        ..Default::default()
    };
    let (_stop, shutdown) = shutdown_channel();
    let tan = start_tan_path(
        &db,
        pool,
        trs_config,
        VerificationConfig::default(),
        &token,
        shutdown,
    )
    .await;
    let (trs_url, ext_url, int_url) = (tan.testresult_url, tan.external_url, tan.internal_url);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .build()
        .unwrap();

    let run_id: u64 = rand::random();
    let guids: Arc<Vec<String>> = Arc::new(
        (0..registrations)
            .map(|i| sha256_hex(format!("bench-{run_id}-{i}")))
            .collect(),
    );
    let key = tan.lab_key;
    for chunk in guids.chunks(1000) {
        let results: Vec<Value> = chunk
            .iter()
            .map(|g| json!({"id": g, "result": 2}))
            .collect();
        let r = http
            .post(format!("{trs_url}/api/v1/lab/results"))
            .bearer_auth(&key)
            .json(&json!({"testResults": results}));
        assert_eq!(r.send().await.unwrap().status(), 204);
    }

    let tokens = Arc::new(std::sync::Mutex::new(vec![String::new(); registrations]));
    let (h, g, t, u) = (http.clone(), guids.clone(), tokens.clone(), ext_url.clone());
    let reg_rate = run(registrations, concurrency, move |i| {
        let (h, g, t, u) = (h.clone(), g.clone(), t.clone(), u.clone());
        async move {
            let r = h
                .post(format!("{u}/version/v1/registrationToken"))
                .header("cwa-fake", "0")
                .json(&json!({"keyType": "GUID", "key": g[i]}));
            let v: Value = r.send().await.unwrap().json().await.unwrap();
            t.lock().unwrap()[i] = v["registrationToken"]
                .as_str()
                .expect("registered")
                .to_owned();
        }
    })
    .await;

    let tans = Arc::new(std::sync::Mutex::new(Vec::with_capacity(registrations * 2)));
    let (h, t, u, out) = (http.clone(), tokens.clone(), ext_url.clone(), tans.clone());
    let tan_rate = run(registrations * 2, concurrency, move |i| {
        let (h, t, u, out) = (h.clone(), t.clone(), u.clone(), out.clone());
        async move {
            let token = t.lock().unwrap()[i / 2].clone();
            let r = h
                .post(format!("{u}/version/v1/tan"))
                .header("cwa-fake", "0")
                .json(&json!({"registrationToken": token}));
            let v: Value = r.send().await.unwrap().json().await.unwrap();
            out.lock()
                .unwrap()
                .push(v["tan"].as_str().expect("tan issued").to_owned());
        }
    })
    .await;

    let tans: Arc<Vec<String>> = Arc::new(std::mem::take(&mut *tans.lock().unwrap()));
    let (h, u, tk, list) = (http.clone(), int_url.clone(), token.clone(), tans.clone());
    let verify_rate = run(tans.len(), concurrency, move |i| {
        let (h, u, tk, list) = (h.clone(), u.clone(), tk.clone(), list.clone());
        async move {
            let r = h
                .post(format!("{u}/version/v1/tan/verify"))
                .bearer_auth(&tk)
                .json(&json!({"tan": list[i]}));
            assert_eq!(r.send().await.unwrap().status(), 200);
        }
    })
    .await;

    println!(
        "{:<9} registrations/s {reg_rate:>8.0}   TANs issued/s {tan_rate:>8.0}   TAN verifications/s {verify_rate:>8.0}   \
         ({registrations} registrations, {} TANs, concurrency {concurrency}, pool {connections})",
        format!("{engine:?}").to_lowercase(),
        tans.len()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engines = match args.first().map(String::as_str) {
        Some("sqlite") => vec![Engine::Sqlite],
        Some("postgres") => vec![Engine::Postgres],
        _ => vec![Engine::Sqlite, Engine::Postgres],
    };
    let registrations = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let concurrency = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let connections = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(PoolConfig::default().max_connections);
    for engine in engines {
        bench(engine, registrations, concurrency, connections).await;
    }
}
