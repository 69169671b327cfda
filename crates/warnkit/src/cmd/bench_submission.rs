//! `warnkit bench submission`: real uploads per second through the whole submission path — HTTP in,
//! protobuf decoding, validation, a real TAN check over HTTP with the verification service (which consumes
//! the TAN in its database), and the keys' insert — with every service and the load generator in this one
//! process on a runtime of `--threads` workers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use prost::Message;
use rand::{Rng, RngCore};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};
use warnkit_service::server::{serve, shutdown_channel};
use warnkit_store::{unix_now, Db, PoolConfig};
use warnkit_submission::{Clock, KeyStore, SubmissionConfig, SubmissionService, SUBMISSION_PATH};
use warnkit_testresult::{TestResultConfig, TestResultService};
use warnkit_verification::{VerificationConfig, VerificationService};

use super::bench_support::{run_and_print, Scratch};

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
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    backend: &'static str,
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
            "{} uploads of {} keys on {} ({} threads, {} in flight): {:.2} s, {:.0} uploads/s, {:.0} keys/s, \
             p50 {:.1} ms, p99 {:.1} ms, {:.2} CPU s in this process ({:.0} uploads per CPU second), \
             {} failures, {} keys stored",
            report.submissions,
            report.keys_per_submission,
            report.backend,
            report.threads,
            report.concurrency,
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

async fn bind() -> anyhow::Result<(TcpListener, String)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", l.local_addr()?);
    Ok((l, url))
}

async fn bench(args: &BenchSubmissionArgs) -> anyhow::Result<Report> {
    let scratch = Scratch::new(
        "submission",
        args.database_url.clone(),
        &["testresult", "verification", "submission"],
    );
    let pool = PoolConfig::default();
    let trs_db = Db::open(
        &scratch.target("testresult"),
        pool,
        &warnkit_testresult::MIGRATIONS,
    )
    .await
    .context("test-result database")?;
    let vs_db = Db::open(
        &scratch.target("verification"),
        pool,
        &warnkit_verification::MIGRATIONS,
    )
    .await
    .context("verification database")?;
    let store = KeyStore::open(&scratch.target("submission"), pool)
        .await
        .context("submission database")?;
    let backend = store.db().backend().name();
    let result = measure(args, backend, trs_db, vs_db.clone(), store.clone()).await;
    scratch.remove(store.db()).await;
    result
}

async fn measure(
    args: &BenchSubmissionArgs,
    backend: &'static str,
    trs_db: Db,
    vs_db: Db,
    store: KeyStore,
) -> anyhow::Result<Report> {
    let token = warnkit_service::auth::random_secret("bench_");
    let trs_config = TestResultConfig {
        max_body_bytes: 1_000_000,
        ..TestResultConfig::default()
    };
    let trs = TestResultService::new(trs_db, trs_config, token.clone());
    let (trs_l, testresult) = bind().await?;
    let (ext_l, verification) = bind().await?;
    let (int_l, internal) = bind().await?;
    let (sub_l, submission) = bind().await?;
    let vc = VerificationConfig {
        testresult_url: testresult.clone(),
        ..VerificationConfig::default()
    };
    let vs = VerificationService::new(vs_db, vc, token.clone())?;
    let sc = SubmissionConfig {
        verification_url: internal,
        ..SubmissionConfig::default()
    };
    let service = SubmissionService::new(store.clone(), sc, token, Clock::system())?;
    let (stop, shutdown) = shutdown_channel();
    tokio::spawn(serve(trs_l, trs.router(), shutdown.clone()));
    tokio::spawn(serve(ext_l, vs.external_router(), shutdown.clone()));
    tokio::spawn(serve(int_l, vs.internal_router(), shutdown.clone()));
    tokio::spawn(serve(sub_l, service.router(), shutdown));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()?;

    eprintln!(
        "preparing {} TANs through the app API ...",
        args.submissions
    );
    let lab_key = trs.create_lab_key("bench-lab").await?;
    let tans = prepare_tans(&http, args, &testresult, &verification, &lab_key).await?;
    let today = i32::try_from(unix_now() / 600 / 144 * 144)?;
    let bodies: Vec<Vec<u8>> = (0..args.submissions)
        .map(|_| payload(today, args.keys).encode_to_vec())
        .collect();
    let work = Arc::new((tans, bodies, AtomicUsize::new(0)));
    let url = Arc::new(format!("{submission}{SUBMISSION_PATH}"));

    eprintln!("uploading ...");
    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (work, http, url) = (work.clone(), http.clone(), url.clone());
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
    let cpu_seconds = process_cpu_seconds() - cpu_start;
    stop.trigger();
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let keys_stored = store.count().await?;
    let n = args.submissions as f64;
    Ok(Report {
        backend,
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
    testresult: &str,
    verification: &str,
    lab_key: &str,
) -> anyhow::Result<Vec<String>> {
    let registrations = args.submissions.div_ceil(2);
    let guids: Vec<String> = (0..registrations)
        .map(|_| hex::encode(rand::thread_rng().gen::<[u8; 16]>()))
        .collect();
    for chunk in guids.chunks(1000) {
        let results: Vec<Value> = chunk
            .iter()
            .map(|g| json!({"id": warnkit_service::auth::sha256_hex(g), "result": 2, "sc": unix_now()}))
            .collect();
        let r = http
            .post(format!("{testresult}/api/v1/lab/results"))
            .bearer_auth(lab_key)
            .json(&json!({ "testResults": results }))
            .send()
            .await?;
        ensure!(
            r.status().is_success(),
            "lab upload answered {}",
            r.status()
        );
    }
    let guids = Arc::new(guids);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (guids, next, http) = (guids.clone(), next.clone(), http.clone());
        let base = verification.to_owned();
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
    let r = http.post(url).json(&body).send().await?;
    ensure!(
        r.status().is_success(),
        "verification answered {}",
        r.status()
    );
    Ok(r.json().await?)
}

/// A valid upload of `keys` random keys for today and the days before.
fn payload(today: i32, keys: u8) -> SubmissionPayload {
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
