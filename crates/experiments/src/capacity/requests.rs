//! The HTTP requests phones really make: the app's download schedule and sync (`warnkit_app::Phone`)
//! run on a simulated clock against the files the distribution job really publishes each hour, served
//! over loopback by the distribution port's static server; counted from each phone's own request
//! counter, not from a formula.

use std::path::Path;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::net::TcpListener;
use warnkit_app::{Backoff, Endpoints, Http, Phone, RiskModel, Settings};
use warnkit_distribution::{signing, Distribution, DistributionConfig, Objects, StaticFiles};
use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_store::{DbTarget, PoolConfig};

/// Seconds in a day and an hour.
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
/// Seconds after the full hour at which the job runs, as `warnkit serve`'s schedule does.
const JOB_OFFSET: i64 = 5;
/// Days of keys before the first sync: a full retention window (14 days) and one more.
const HISTORY_DAYS: i64 = 15;
/// The hour of the first day at which the phones are installed and sync for the first time.
const FIRST_SYNC_HOUR: i64 = 8;

/// What the phones' request counters say.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Phones simulated.
    pub phones: usize,
    /// Whole days counted, after the day of the first sync.
    pub days: u32,
    /// Requests and files of the first phone's first sync (installed at 08:xx on a day).
    pub first_sync_requests: u64,
    /// Files (archives) that first sync downloaded.
    pub first_sync_files: u64,
    /// Requests per phone and day, after the first day.
    pub requests_per_phone_per_day: f64,
    /// Download runs (sessions) per phone and day.
    pub syncs_per_phone_per_day: f64,
    /// Archives downloaded per phone and day.
    pub files_per_phone_per_day: f64,
    /// Mean requests per phone in each of the day's intervals (as many as `--chunks-per-day`).
    #[serde(skip)]
    pub per_interval: Vec<f64>,
}

/// Runs `phones` phones from their first sync at 08:xx on `day` through `days` further whole days,
/// with `keys_per_hour` keys uploaded each hour, and counts their requests by interval of the day.
pub async fn measure(
    dir: &Path,
    day: i64,
    phones: usize,
    days: u32,
    chunks_per_day: u32,
    keys_per_hour: u64,
    seed: u64,
) -> anyhow::Result<Measured> {
    anyhow::ensure!(phones > 0 && days > 0, "nothing to measure");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys = KeyStore::open(
        &DbTarget::SqliteFile(dir.join("submission.sqlite")),
        PoolConfig::default(),
    )
    .await
    .context("opening the key database")?;
    let end = (day + 1 + i64::from(days)) * DAY;
    upload_keys(
        &keys,
        (day - HISTORY_DAYS) * DAY,
        end,
        keys_per_hour,
        &mut rng,
    )
    .await?;
    let objects = Objects::local(&dir.join("published"))?;
    let job = Distribution::new(
        keys,
        objects.clone(),
        signing::load_or_create(&dir.join("signing"))?,
        DistributionConfig {
            // Under the sized load every file holds far more real keys than the padding minimum; here
            // a file's size does not change what the phones request, and padding would only slow
            // the simulated hours down.
            min_keys_per_file: 0,
            ..DistributionConfig::default()
        },
        dir.join("distribution.lock"),
    );
    let files = StaticFiles::new(objects);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a loopback port")?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, shutdown) = warnkit_service::server::shutdown_channel();
    let server = tokio::spawn(
        files
            .clone()
            .serve(listener, files.clone().router(), shutdown),
    );

    let endpoints = Endpoints {
        distribution: base.clone(),
        submission: base.clone(),
        verification: base,
    };
    let http = Http::new(endpoints, Backoff::fast(), seed)?;
    let settings = Settings {
        region: "DE".into(),
        // As the current original app: the combined region only.
        key_regions: vec!["EUR".into()],
        public_key_pem: job.public_key_pem().to_owned(),
        risk_model: RiskModel::default(),
        // Fake uploads go to the other services, not to the files being sized here.
        fake_rate_per_day: 0.0,
        backoff: Backoff::fast(),
    };
    let first_hour = day * DAY + FIRST_SYNC_HOUR * HOUR;
    let mut fleet: Vec<(Phone, ChaCha8Rng)> = (0..phones)
        .map(|_| {
            let mut phone = Phone::new(settings.clone(), -10);
            // Installed at a random second of the hour, after that hour's run of the job.
            phone.schedule.next_run = first_hour + rng.gen_range(JOB_OFFSET + 1..HOUR);
            (
                phone,
                ChaCha8Rng::from_rng(&mut rng).unwrap_or_else(|_| ChaCha8Rng::seed_from_u64(0)),
            )
        })
        .collect();

    let counted = ((day + 1) * DAY)..end;
    let intervals = chunks_per_day.max(1) as usize;
    let mut per_interval = vec![0u64; intervals];
    let (mut requests, mut syncs, mut files_downloaded) = (0u64, 0u64, 0u64);
    let mut first_sync = None;
    let mut next_job = first_hour + JOB_OFFSET;
    loop {
        let (i, at) = fleet
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (i, p.schedule.next_run))
            .min_by_key(|&(_, t)| t)
            .context("no phones")?;
        if next_job <= at && next_job < end {
            job.run_once(next_job)
                .await
                .with_context(|| format!("distribution run at {next_job}"))?;
            // The simulated clock runs faster than the server's half-second revalidation.
            files.forget_cached();
            next_job += HOUR;
            continue;
        }
        if at >= end {
            break;
        }
        let before = http
            .traffic()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed);
        let (phone, phone_rng) = &mut fleet[i];
        let report = phone.sync(&http, at, phone_rng).await;
        let made = http
            .traffic()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
            - before;
        anyhow::ensure!(
            report.complete(),
            "a phone's download at {at} failed: {:?} {:?}",
            report.errors,
            report.rejected
        );
        if i == 0 && first_sync.is_none() {
            first_sync = Some((made, report.files as u64));
        }
        if counted.contains(&at) {
            let k = (at.rem_euclid(DAY) as usize * intervals) / DAY as usize;
            per_interval[k] += made;
            requests += made;
            syncs += 1;
            files_downloaded += report.files as u64;
        }
    }
    stop.trigger();
    let _ = server.await;
    let (first_sync_requests, first_sync_files) = first_sync.context("no first sync")?;
    let phone_days = (phones as u64 * u64::from(days)) as f64;
    Ok(Measured {
        phones,
        days,
        first_sync_requests,
        first_sync_files,
        requests_per_phone_per_day: requests as f64 / phone_days,
        syncs_per_phone_per_day: syncs as f64 / phone_days,
        files_per_phone_per_day: files_downloaded as f64 / phone_days,
        per_interval: per_interval
            .into_iter()
            .map(|n| n as f64 / phone_days)
            .collect(),
    })
}

/// Stores `per_hour` keys in every hour of `[from, to)`, each hour one upload of past days' keys, so
/// that every hour has a file with real keys as under load.
async fn upload_keys(
    keys: &KeyStore,
    from: i64,
    to: i64,
    per_hour: u64,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<()> {
    let mut batch = Vec::new();
    for hour in (from / HOUR)..(to / HOUR) {
        let today = hour / 24;
        for age in 0..per_hour as i64 {
            // Keys of the day before yesterday and earlier have expired, so they go out in this hour.
            let day = today - 2 - age % 14;
            batch.push(StoredKey {
                key_data: rng.gen(),
                rolling_start: u32::try_from(day * 144).context("rolling start")?,
                rolling_period: 144,
                transmission_risk_level: 6,
                report_type: 1,
                days_since_onset_of_symptoms: Some(0),
                submission_hour: hour,
                origin: "DE".into(),
                visited_countries: vec![],
                consent_to_federation: true,
            });
        }
    }
    keys.insert(&batch).await.context("storing keys")?;
    Ok(())
}
