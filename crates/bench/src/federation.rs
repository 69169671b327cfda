//! `bench federation`: a day of uploads from many countries through a real gateway over HTTP, then one
//! country's download job fetching, verifying and storing all of it in its key store.
//!
//! Everything runs in this process on one runtime: the gateway behind a loopback listener, each country's
//! uploader (batches built from its keys, signed, posted in turn), and the downloading country's
//! [`warnkit_federation::Federation`] job over a key store of its own.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{ensure, Context};
use p256::ecdsa::SigningKey;
use prost::Message;
use rand::{Rng, RngCore, SeedableRng};
use serde::Serialize;
use tokio::net::TcpListener;
use warnkit_federation::client::UploadOutcome;
use warnkit_federation::config::{Country, Settings};
use warnkit_federation::proto::{DiagnosisKey, DiagnosisKeyBatch};
use warnkit_federation::{batch, Federation, Gateway, GatewayClient, GatewayConfig};
use warnkit_keystore::KeyStore;
use warnkit_service::server::{serve, shutdown_channel};
use warnkit_service::Clock;
use warnkit_store::{Db, PoolConfig};

use crate::scratch::Scratch;
use crate::Reporter;

/// The member states of the European Union in 2026: the federation the original gateway served.
const EU: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// The federation to simulate.
#[derive(Debug, Clone)]
pub struct FederationOptions {
    /// Countries uploading, 2 to 676 (the first 27 are the EU's; more get made-up codes).
    pub countries: u16,
    /// Keys each country uploads.
    pub keys: usize,
    /// Keys per batch (the gateway's default limit is 5,000).
    pub batch_keys: usize,
    /// Tokio worker threads, shared by the gateway, the uploaders and the downloader.
    pub threads: usize,
    /// A PostgreSQL server URL for a fresh database (dropped afterwards); `None`: SQLite files in a
    /// temporary directory.
    pub database_url: Option<String>,
    /// Seed of the synthetic keys.
    pub seed: u64,
}

/// The figures of one federation run.
#[derive(Debug, Serialize)]
pub struct FederationReport {
    /// The database engine.
    pub backend: &'static str,
    /// Tokio worker threads.
    pub threads: usize,
    /// Countries uploading.
    pub countries: usize,
    /// Keys each country uploaded.
    pub keys_per_country: usize,
    /// Keys per batch.
    pub batch_keys: usize,
    /// Batches the gateway accepted.
    pub batches_uploaded: usize,
    /// Keys the gateway holds.
    pub keys_uploaded: usize,
    /// Wall time of all uploads.
    pub upload_seconds: f64,
    /// Keys uploaded per second.
    pub upload_keys_per_second: f64,
    /// Bytes of the batch bodies the gateway stores.
    pub gateway_bytes: u64,
    /// The country whose download job ran.
    pub download_country: String,
    /// Batches it stored.
    pub batches_downloaded: usize,
    /// Keys it stored.
    pub keys_stored: u64,
    /// Wall time of the download job.
    pub download_seconds: f64,
    /// Keys downloaded, verified and stored per second.
    pub download_keys_per_second: f64,
    /// Wall time from the first upload to the end of the download.
    pub total_seconds: f64,
}

/// Starts a gateway over scratch databases, uploads every country's batches, runs one download job.
pub fn run(
    options: &FederationOptions,
    reporter: &dyn Reporter,
) -> anyhow::Result<FederationReport> {
    ensure!(
        options.keys > 0 && options.batch_keys > 0 && options.threads > 0,
        "counts must be positive"
    );
    ensure!((2..=676).contains(&options.countries), "2 to 676 countries");
    crate::runtime::block_on(options.threads, bench(options, reporter))
}

fn codes(n: usize) -> Vec<String> {
    let mut codes: Vec<String> = EU.iter().map(|c| (*c).to_owned()).collect();
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            let code = String::from_utf8(vec![a, b]).unwrap_or_default();
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    codes.truncate(n);
    codes
}

/// `n` keys of `origin` for the last 13 days, with a few visited countries each.
fn keys_of(origin: &str, all: &[String], n: usize, today: i64, seed: u64) -> Vec<DiagnosisKey> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mut key_data = vec![0u8; 16];
            rng.fill_bytes(&mut key_data);
            let visits = rng.gen_range(0..3);
            let mut visited_countries: Vec<String> = (0..visits)
                .map(|_| all[rng.gen_range(0..all.len())].clone())
                .collect();
            visited_countries.sort();
            visited_countries.dedup();
            DiagnosisKey {
                key_data,
                rolling_start_interval_number: ((today - 1 - (i as i64 % 13)) * 144) as u32,
                rolling_period: 144,
                transmission_risk_level: rng.gen_range(1..=8),
                visited_countries,
                origin: origin.to_owned(),
                report_type: 1,
                days_since_onset_of_symptoms: Some(rng.gen_range(-14..=14)),
            }
        })
        .collect()
}

async fn bench(
    options: &FederationOptions,
    reporter: &dyn Reporter,
) -> anyhow::Result<FederationReport> {
    let scratch = Scratch::new("federation", options.database_url.clone())?;
    std::fs::create_dir_all(&scratch.dir)?;
    let result = measure(options, &scratch, reporter).await;
    if let Ok((_, db)) = &result {
        scratch.remove(db).await;
    } else {
        let _ = std::fs::remove_dir_all(&scratch.dir);
    }
    result.map(|(report, _)| report)
}

async fn measure(
    options: &FederationOptions,
    scratch: &Scratch,
    reporter: &dyn Reporter,
) -> anyhow::Result<(FederationReport, Db)> {
    let codes = codes(usize::from(options.countries));
    let pool = PoolConfig::default();
    let clock = Clock::system();
    let today = clock.now().div_euclid(86_400);
    let mut signing = BTreeMap::new();
    let mut tokens = BTreeMap::new();
    for code in &codes {
        signing.insert(code.clone(), SigningKey::random(&mut rand::rngs::OsRng));
        tokens.insert(
            code.clone(),
            warnkit_service::auth::random_secret("wk_fed_"),
        );
    }
    let members = codes
        .iter()
        .map(|code| Country::new(code, &tokens[code], *signing[code].verifying_key()))
        .collect();
    let gateway_db = Db::open(
        &scratch.target("gateway"),
        pool,
        &warnkit_federation::gateway::MIGRATOR,
    )
    .await
    .context("gateway database")?;
    let config = GatewayConfig {
        max_batch_keys: options.batch_keys,
        max_body_bytes: options.batch_keys * 200 + 10_000,
        ..GatewayConfig::default()
    };
    let gateway = Gateway::with_countries(gateway_db.clone(), config, members, clock.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, shutdown) = shutdown_channel();
    tokio::spawn(serve(listener, gateway.router(), shutdown));

    // Batches are built and signed before the clock starts: each country does that work on its own
    // machine, and what is measured is the gateway's capacity. Encoded, they also take a fifth of the
    // memory of the keys as structs.
    reporter.phase(&format!(
        "generating and signing {} x {} keys ...",
        codes.len(),
        options.keys
    ));
    let mut uploads = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let keys = keys_of(
            code,
            &codes,
            options.keys,
            today,
            options.seed.wrapping_add(i as u64),
        );
        let batches: Vec<(String, Vec<u8>)> = keys
            .chunks(options.batch_keys)
            .map(|chunk| {
                let batch = DiagnosisKeyBatch {
                    keys: chunk.to_vec(),
                };
                (batch::sign(&batch, &signing[code]), batch.encode_to_vec())
            })
            .collect();
        uploads.push((code.clone(), batches));
    }

    reporter.phase("uploading ...");
    let total: usize = uploads.iter().map(|(_, batches)| batches.len()).sum();
    let progress = reporter.steps("bench federation", "batches", total as u64);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (code, batches) in uploads {
        let client = GatewayClient::new(&url, &tokens[&code])?;
        let progress = progress.clone();
        tasks.spawn(async move {
            let mut stored = 0;
            for (i, (signature, body)) in batches.into_iter().enumerate() {
                match client
                    .upload(&format!("bench-{i}"), &signature, body)
                    .await?
                {
                    UploadOutcome::Created(_) => {
                        stored += 1;
                        progress.inc(1);
                    }
                    other => anyhow::bail!("{code}: upload {i} answered {other:?}"),
                }
            }
            Ok::<usize, anyhow::Error>(stored)
        });
    }
    let mut batches_uploaded = 0;
    while let Some(done) = tasks.join_next().await {
        batches_uploaded += done.context("an uploader panicked")??;
    }
    let upload_seconds = started.elapsed().as_secs_f64();
    progress.finish();
    let (stored_batches, keys_uploaded) =
        gateway.counts().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(
        stored_batches as usize == batches_uploaded,
        "the gateway holds {stored_batches} batches"
    );
    let gateway_bytes = gateway_size(&gateway_db).await;

    let downloader = if codes.iter().any(|c| c == "DE") {
        "DE".to_owned()
    } else {
        codes[0].clone()
    };
    reporter.phase(&format!("downloading into {downloader}'s key store ..."));
    let keys = KeyStore::open(&scratch.target("keys"), pool)
        .await
        .context("key store")?;
    let settings = Settings {
        gateway_url: url.clone(),
        country: downloader.clone(),
        token: tokens[&downloader].clone(),
        signing_key: signing[&downloader].clone(),
        trusted: codes
            .iter()
            .filter(|c| **c != downloader)
            .map(|c| (c.clone(), *signing[c].verifying_key()))
            .collect(),
        max_batch_keys: options.batch_keys,
        retention_days: 14,
    };
    let federation = Federation::open(
        keys.clone(),
        &scratch.target("federation"),
        pool,
        settings,
        clock,
    )
    .await?;
    let download_started = Instant::now();
    let down = federation.download_once().await?;
    let download_seconds = download_started.elapsed().as_secs_f64();
    let total_seconds = started.elapsed().as_secs_f64();
    ensure!(
        down.rejected.is_empty(),
        "batches rejected: {:?}",
        down.rejected
    );
    let expected = (options.keys * (codes.len() - 1)) as u64;
    ensure!(
        down.keys_stored == expected,
        "stored {} keys, expected {expected}",
        down.keys_stored
    );
    stop.trigger();
    let backend = gateway_db.backend().name();
    Ok((
        FederationReport {
            backend,
            threads: options.threads,
            countries: codes.len(),
            keys_per_country: options.keys,
            batch_keys: options.batch_keys,
            batches_uploaded,
            keys_uploaded: keys_uploaded as usize,
            upload_seconds,
            upload_keys_per_second: keys_uploaded as f64 / upload_seconds,
            gateway_bytes,
            download_country: downloader,
            batches_downloaded: down.batches_stored,
            keys_stored: down.keys_stored,
            download_seconds,
            download_keys_per_second: down.keys_stored as f64 / download_seconds,
            total_seconds,
        },
        gateway_db,
    ))
}

/// Bytes of the stored batch bodies.
async fn gateway_size(db: &Db) -> u64 {
    let sql = "SELECT CAST(COALESCE(SUM(LENGTH(body)), 0) AS BIGINT) FROM batch";
    let size: Result<i64, sqlx::Error> =
        warnkit_store::on_pool!(db, |pool| { sqlx::query_scalar(sql).fetch_one(pool).await });
    size.map_or(0, |s| u64::try_from(s).unwrap_or(0))
}
