//! `warnkit bench submission`: real uploads per second through the whole submission path — HTTP in,
//! protobuf decoding, validation, a real TAN check over HTTP with the verification service (which consumes
//! the TAN in its database), and the keys' insert — with every service and the load generator in this one
//! process on a runtime of `--threads` workers.

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

use super::bench_support::{
    cpu_model, fresh_guids, post_positive, run_and_print, Scratch, Services, SERVICE_DATABASES,
};
use super::progress::Progress;

/// Arguments of `warnkit bench submission`.
#[derive(Debug, clap::Args)]
pub struct BenchSubmissionArgs {
    /// Uploads to measure (each spends one TAN, prepared beforehand through the app API).
    #[arg(long, default_value_t = 20_000)]
    submissions: usize,
    /// Keys per upload.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u8).range(1..=14))]
    keys: u8,
    /// Uploads in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Tokio worker threads, shared by the three services and the load generator.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A PostgreSQL server URL: the services use fresh schemas there (dropped afterwards). Without it, SQLite
    /// files in a temporary directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Seconds a spent TAN answers a repeat of its upload (the verification setting `tan_repeat_secs`);
    /// 0 records nothing, which shows what the all-or-nothing guarantee costs.
    #[arg(long, value_name = "SECS")]
    tan_repeat_secs: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    backend: &'static str,
    /// The CPU, as `/proc/cpuinfo` names it.
    cpu: String,
    /// The verification service's `tan_repeat_secs` (0: no repeat records written).
    tan_repeat_secs: u64,
    threads: usize,
    concurrency: usize,
    submissions: usize,
    keys_per_submission: u8,
    seconds: f64,
    submissions_per_second: f64,
    keys_per_second: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    /// CPU time (user + system) this process spent while uploading: less sensitive to other load on the
    /// machine than wall time. A PostgreSQL server's own CPU time is not included.
    cpu_seconds: f64,
    submissions_per_cpu_second: f64,
    failures: usize,
    keys_stored: u64,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: BenchSubmissionArgs) -> anyhow::Result<std::process::ExitCode> {
    ensure!(
        args.submissions > 0 && args.concurrency > 0 && args.threads > 0,
        "counts must be positive"
    );
    run_and_print(args.threads, args.json, bench(&args), |report| {
        println!(
            "{} uploads of {} keys on {} ({} threads, {} in flight, tan_repeat_secs {}; {}): {:.2} s, {:.0} uploads/s, {:.0} keys/s, \
             p50 {:.1} ms, p99 {:.1} ms, {:.2} CPU s in this process ({:.0} uploads per CPU second), \
             {} failures, {} keys stored",
            report.submissions,
            report.keys_per_submission,
            report.backend,
            report.threads,
            report.concurrency,
            report.tan_repeat_secs,
            report.cpu,
            report.seconds,
            report.submissions_per_second,
            report.keys_per_second,
            report.latency_p50_ms,
            report.latency_p99_ms,
            report.cpu_seconds,
            report.submissions_per_cpu_second,
            report.failures,
            report.keys_stored,
        );
    })
}

async fn bench(args: &BenchSubmissionArgs) -> anyhow::Result<Report> {
    let scratch = Scratch::new("submission", args.database_url.clone(), SERVICE_DATABASES);
    let mut verification = warnkit_verification::VerificationConfig::default();
    if let Some(secs) = args.tan_repeat_secs {
        verification.tan_repeat_secs = secs;
    }
    let services = Services::start(&scratch, verification).await?;
    let result = measure(args, &services).await;
    services.stop();
    scratch.remove(services.store.db()).await;
    result
}

async fn measure(args: &BenchSubmissionArgs, services: &Services) -> anyhow::Result<Report> {
    let store = &services.store;
    let backend = store.db().backend().name();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()?;

    eprintln!(
        "preparing {} TANs through the app API ...",
        args.submissions
    );
    let tans = prepare_tans(&http, args, services).await?;
    let today = i32::try_from(unix_now() / 600 / 144 * 144)?;
    let bodies: Vec<Vec<u8>> = (0..args.submissions)
        .map(|_| payload(today, args.keys).encode_to_vec())
        .collect();
    let work = Arc::new((tans, bodies, AtomicUsize::new(0)));
    let url = Arc::new(format!("{}{SUBMISSION_PATH}", services.submission_url));

    eprintln!("uploading ...");
    let progress = Progress::new(
        "bench submission",
        "uploads",
        args.submissions as u64,
        args.json,
    );
    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
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
    let mut latencies: Vec<Duration> = Vec::with_capacity(args.submissions);
    let mut failures = 0;
    while let Some(done) = tasks.join_next().await {
        let (l, f) = done.context("a load task panicked")?;
        latencies.extend(l);
        failures += f;
    }
    let seconds = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let cpu_seconds = process_cpu_seconds() - cpu_start;
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let keys_stored = store.count().await?;
    let n = args.submissions as f64;
    Ok(Report {
        backend,
        cpu: cpu_model(),
        tan_repeat_secs: args
            .tan_repeat_secs
            .unwrap_or(warnkit_verification::VerificationConfig::default().tan_repeat_secs),
        threads: args.threads,
        concurrency: args.concurrency,
        submissions: args.submissions,
        keys_per_submission: args.keys,
        seconds,
        submissions_per_second: n / seconds,
        keys_per_second: n * f64::from(args.keys) / seconds,
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
    args: &BenchSubmissionArgs,
    services: &Services,
) -> anyhow::Result<Vec<String>> {
    let registrations = args.submissions.div_ceil(2);
    let guids = fresh_guids(registrations);
    post_positive(http, &services.testresult_url, &services.lab_key, &guids).await?;
    let guids = Arc::new(guids);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
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
    tans.truncate(args.submissions);
    if tans.len() < args.submissions {
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
pub(super) fn payload(today: i32, keys: u8) -> SubmissionPayload {
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

/// User plus system CPU seconds of this process so far, from `/proc/self/stat` (0 where there is none).
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name (which may contain spaces): utime and stime are the
    // 12th and 13th, in clock ticks (100 per second on Linux).
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
