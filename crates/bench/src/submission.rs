//! `bench submission`: real uploads per second through the whole submission path — HTTP in, protobuf
//! decoding, validation, a real TAN check over HTTP with the verification service (which consumes the
//! TAN in its database), and the keys' insert — with every service and the load generator in this one
//! process on a runtime of `threads` workers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use prost::Message;
use rand::RngCore;
use serde::Serialize;
use serde_json::{json, Value};
use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};
use warnkit_store::unix_now;
use warnkit_submission::SUBMISSION_PATH;
use warnkit_verification::VerificationConfig;

use crate::machine::{cpu_model, process_cpu_seconds};
use crate::scratch::Scratch;
use crate::services::{fresh_guids, post_positive, Services};
use crate::Reporter;

/// What to upload, and how.
#[derive(Debug, Clone)]
pub struct SubmissionOptions {
    /// Uploads to measure (each spends one TAN, prepared beforehand through the app API).
    pub submissions: usize,
    /// Keys per upload (1 to 14).
    pub keys: u8,
    /// Uploads in flight at once.
    pub concurrency: usize,
    /// Tokio worker threads, shared by the three services and the load generator.
    pub threads: usize,
    /// A PostgreSQL server URL for a fresh database (dropped afterwards); `None`: SQLite files in a
    /// temporary directory.
    pub database_url: Option<String>,
    /// Verification's `tan_repeat_secs`; `None`: its default.
    pub tan_repeat_secs: Option<u64>,
}

/// The figures of one submission run.
#[derive(Debug, Serialize)]
pub struct SubmissionReport {
    /// The database engine.
    pub backend: &'static str,
    /// The CPU, as `/proc/cpuinfo` names it.
    pub cpu: String,
    /// The verification service's `tan_repeat_secs` (0: no repeat records written).
    pub tan_repeat_secs: u64,
    /// Tokio worker threads.
    pub threads: usize,
    /// Uploads in flight at once.
    pub concurrency: usize,
    /// Uploads measured.
    pub submissions: usize,
    /// Keys per upload.
    pub keys_per_submission: u8,
    /// Wall time of the uploads.
    pub seconds: f64,
    /// Uploads per second.
    pub submissions_per_second: f64,
    /// Keys per second.
    pub keys_per_second: f64,
    /// Median upload latency.
    pub latency_p50_ms: f64,
    /// 99th percentile of the upload latency.
    pub latency_p99_ms: f64,
    /// CPU time (user + system) this process spent while uploading: less sensitive to other load on the
    /// machine than wall time. A PostgreSQL server's own CPU time is not included.
    pub cpu_seconds: f64,
    /// Uploads per CPU second of this process.
    pub submissions_per_cpu_second: f64,
    /// Uploads not answered with success.
    pub failures: usize,
    /// Keys in the key store afterwards.
    pub keys_stored: u64,
}

/// Starts the services over scratch databases, prepares the TANs, uploads, and stops everything.
pub fn run(
    options: &SubmissionOptions,
    reporter: &dyn Reporter,
) -> anyhow::Result<SubmissionReport> {
    ensure!(
        options.submissions > 0 && options.concurrency > 0 && options.threads > 0,
        "counts must be positive"
    );
    ensure!((1..=14).contains(&options.keys), "1 to 14 keys per upload");
    crate::runtime::block_on(options.threads, bench(options, reporter))
}

async fn bench(
    options: &SubmissionOptions,
    reporter: &dyn Reporter,
) -> anyhow::Result<SubmissionReport> {
    let scratch = Scratch::new("submission", options.database_url.clone())?;
    let mut verification = VerificationConfig::default();
    if let Some(secs) = options.tan_repeat_secs {
        verification.tan_repeat_secs = secs;
    }
    let services = Services::start(&scratch, verification).await?;
    let result = measure(options, &services, reporter).await;
    services.stop().await;
    drop(scratch);
    result
}

async fn measure(
    options: &SubmissionOptions,
    services: &Services,
    reporter: &dyn Reporter,
) -> anyhow::Result<SubmissionReport> {
    let store = &services.store;
    let backend = store.db().backend().name();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency * 2)
        .build()?;

    reporter.phase(&format!(
        "preparing {} TANs through the app API ...",
        options.submissions
    ));
    let tans = prepare_tans(&http, options, services).await?;
    let today = i32::try_from(unix_now() / 600 / 144 * 144)?;
    let bodies: Vec<Vec<u8>> = (0..options.submissions)
        .map(|_| payload(today, options.keys).encode_to_vec())
        .collect();
    let work = Arc::new((tans, bodies, AtomicUsize::new(0)));
    let url = Arc::new(format!("{}{SUBMISSION_PATH}", services.submission_url));

    reporter.phase("uploading ...");
    let progress = reporter.steps("bench submission", "uploads", options.submissions as u64);
    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..options.concurrency {
        let (work, http, url) = (work.clone(), http.clone(), url.clone());
        let progress = progress.clone();
        tasks.spawn(async move {
            let (tans, bodies, next) = &*work;
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() {
                    return (latencies, failures);
                }
                let t = Instant::now();
                let ok = http
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .header("cwa-authorization", &tans[i])
                    .header("cwa-fake", "0")
                    .body(bodies[i].clone())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                latencies.push(t.elapsed());
                failures += usize::from(!ok);
                progress.inc(1);
            }
        });
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(options.submissions);
    let mut failures = 0;
    while let Some(done) = tasks.join_next().await {
        let (l, f) = done.context("a load task panicked")?;
        latencies.extend(l);
        failures += f;
    }
    let seconds = start.elapsed().as_secs_f64();
    progress.finish();
    let cpu_seconds = process_cpu_seconds() - cpu_start;
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let keys_stored = store.count().await?;
    let n = options.submissions as f64;
    Ok(SubmissionReport {
        backend,
        cpu: cpu_model(),
        tan_repeat_secs: options
            .tan_repeat_secs
            .unwrap_or(VerificationConfig::default().tan_repeat_secs),
        threads: options.threads,
        concurrency: options.concurrency,
        submissions: options.submissions,
        keys_per_submission: options.keys,
        seconds,
        submissions_per_second: n / seconds,
        keys_per_second: n * f64::from(options.keys) / seconds,
        latency_p50_ms: pct(0.5),
        latency_p99_ms: pct(0.99),
        cpu_seconds,
        submissions_per_cpu_second: if cpu_seconds > 0.0 {
            n / cpu_seconds
        } else {
            0.0
        },
        failures,
        keys_stored,
    })
}

/// Positive results for fresh GUIDs, one registration per two uploads, two TANs per registration.
async fn prepare_tans(
    http: &reqwest::Client,
    options: &SubmissionOptions,
    services: &Services,
) -> anyhow::Result<Vec<String>> {
    let registrations = options.submissions.div_ceil(2);
    let guids = fresh_guids(registrations);
    post_positive(http, &services.testresult_url, &services.lab_key, &guids).await?;
    let guids = Arc::new(guids);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..options.concurrency {
        let (guids, next, http) = (guids.clone(), next.clone(), http.clone());
        let base = services.verification_url.clone();
        tasks.spawn(async move {
            let mut tans = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(guid) = guids.get(i) else {
                    return Ok::<_, anyhow::Error>(tans);
                };
                let body =
                    json!({"keyType": "GUID", "key": warnkit_service::auth::sha256_hex(guid)});
                let v = post(&http, format!("{base}/version/v1/registrationToken"), body).await?;
                let token = v["registrationToken"]
                    .as_str()
                    .context("no registration token")?
                    .to_owned();
                for _ in 0..2 {
                    let body = json!({ "registrationToken": token });
                    let v = post(&http, format!("{base}/version/v1/tan"), body).await?;
                    tans.push(v["tan"].as_str().context("no TAN")?.to_owned());
                }
            }
        });
    }
    let mut tans = Vec::with_capacity(registrations * 2);
    while let Some(done) = tasks.join_next().await {
        tans.extend(done.context("a preparation task panicked")??);
    }
    tans.truncate(options.submissions);
    if tans.len() < options.submissions {
        bail!("only {} TANs prepared", tans.len());
    }
    Ok(tans)
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> anyhow::Result<Value> {
    let r = http
        .post(url)
        .header("cwa-fake", "0")
        .json(&body)
        .send()
        .await?;
    ensure!(
        r.status().is_success(),
        "verification answered {}",
        r.status()
    );
    Ok(r.json().await?)
}

/// A valid upload of `keys` random keys for today and the days before.
pub(crate) fn payload(today: i32, keys: u8) -> SubmissionPayload {
    let mut rng = rand::thread_rng();
    SubmissionPayload {
        keys: (0..i32::from(keys))
            .map(|day| {
                let mut key = vec![0u8; 16];
                rng.fill_bytes(&mut key);
                TemporaryExposureKey {
                    key_data: Some(key),
                    transmission_risk_level: Some(1 + day % 8),
                    rolling_start_interval_number: Some(today - 144 * day),
                    rolling_period: Some(144),
                    report_type: Some(1),
                    days_since_onset_of_symptoms: Some(day),
                }
            })
            .collect(),
        request_padding: Some(vec![0; 64]),
        visited_countries: vec![],
        origin: Some("DE".into()),
        consent_to_federation: Some(false),
        submission_type: Some(0),
    }
}
