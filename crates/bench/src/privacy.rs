//! `bench privacy`: can someone watching the traffic tell fake requests from real ones? For every
//! app endpoint (`registrationToken`, `testresult`, `tan`, `diagnosis-keys`) real and fake requests, as the
//! app sends them, go out one at a time in random order, once on idle services and once while a bounded
//! stream of other real requests runs; the client times each from send to the last byte of the answer.
//!
//! Per endpoint the report gives the AUC of latency, real against fake: the chance that a random real
//! request took longer than a random fake one (Mann–Whitney U over both samples; ties count half), where
//! 0.5 is what no classifier can beat and values far from it either way give fakes away; and whether
//! statuses, header names or sizes (body bytes, header bytes) ever differ between the two.
//!
//! The services run on the runtime of `threads` workers; the measuring client and the background load
//! each run on a thread and runtime of their own, as clients on other machines would (on the services'
//! runtime, the services' own work after an answer would delay the client's reading of it, which no
//! observer on the network sees). The background is open: app flows start at random (Poisson) times at
//! `load_rate`, at most `load_concurrency` at once, so that it does not speed up while a cheap fake
//! is measured and slow down during a real request, as a closed loop of back-to-back flows would.

mod client;
mod load;
mod stats;

use anyhow::{ensure, Context};
use serde::Serialize;

use self::client::{observe, Target};
use self::load::{Background, Measured};
use crate::machine::cpu_model;
use crate::scratch::Scratch;
use crate::services::Services;
use crate::Reporter;

/// The goal: an AUC within this distance of 0.5 on every endpoint.
const GOAL_DISTANCE: f64 = 0.05;

/// How many requests, under what load.
#[derive(Debug, Clone)]
pub struct PrivacyOptions {
    /// Real requests per endpoint and condition, and as many fakes, interleaved at random.
    pub requests: usize,
    /// Unmeasured real requests per endpoint before each condition, so that fakes draw their delays
    /// from real requests of that condition.
    pub warmup: usize,
    /// Background app flows started per second during the loaded condition, at random times (each: a
    /// lab result, then the app's registration, poll, TAN and upload, all real).
    pub load_rate: f64,
    /// Background flows in flight at most; a flow due while that many run is skipped.
    pub load_concurrency: usize,
    /// Tokio worker threads of the services.
    pub threads: usize,
    /// A PostgreSQL server URL for a fresh database (dropped afterwards); `None`: SQLite files in a
    /// temporary directory.
    pub database_url: Option<String>,
}

/// The figures of one privacy run.
#[derive(Debug, Serialize)]
pub struct PrivacyReport {
    /// The CPU, as `/proc/cpuinfo` names it.
    pub cpu: String,
    /// "debug" or "release": a debug build's timings are not the service's.
    pub build: &'static str,
    /// The database engine.
    pub backend: &'static str,
    /// Tokio worker threads of the services.
    pub threads: usize,
    /// Real requests (and as many fakes) measured per endpoint and condition.
    pub requests_per_kind: usize,
    /// The AUC's standard deviation if real and fake latencies had one distribution.
    pub auc_null_sd: f64,
    /// Idle, then under load.
    pub conditions: Vec<ConditionReport>,
    /// What counts as indistinguishable.
    pub goal: &'static str,
    /// Whether every endpoint in every condition met the goal.
    pub goal_met: bool,
}

/// One condition's figures.
#[derive(Debug, Serialize)]
pub struct ConditionReport {
    /// "idle" or "under load".
    pub condition: &'static str,
    /// The background load that ran (zero when idle).
    pub background: LoadReport,
    /// Each app endpoint, in the app's order.
    pub endpoints: Vec<EndpointReport>,
}

/// What the background load did.
#[derive(Debug, Default, Serialize)]
pub struct LoadReport {
    /// Flows started per second, on average.
    pub flows_per_second: f64,
    /// Flows in flight at most.
    pub max_in_flight: usize,
    /// Requests the flows sent.
    pub requests: usize,
    /// Those per second.
    pub requests_per_second: f64,
    /// Flows with a failed step.
    pub failed_flows: usize,
    /// Flows skipped because the bound was reached.
    pub skipped_flows: usize,
}

/// Real against fake on one endpoint.
#[derive(Debug, Serialize)]
pub struct EndpointReport {
    /// The endpoint's name, as the app's path ends.
    pub endpoint: &'static str,
    /// P(a real request took longer than a fake one); 0.5 is chance.
    pub auc: f64,
    /// Latencies of the real requests.
    pub real: LatencySummary,
    /// Latencies of the fakes.
    pub fake: LatencySummary,
    /// Whether the sets of statuses differ.
    pub statuses_differ: bool,
    /// Whether the sets of header-name lists differ.
    pub header_names_differ: bool,
    /// Whether the sets of sizes differ.
    pub sizes_differ: bool,
    /// Distinct statuses of the real answers.
    pub real_statuses: Vec<u16>,
    /// Distinct statuses of the fake answers.
    pub fake_statuses: Vec<u16>,
    /// Distinct (header bytes, body bytes) of the answers.
    pub real_sizes: Vec<(usize, usize)>,
    /// The same of the fakes' answers.
    pub fake_sizes: Vec<(usize, usize)>,
}

/// Percentiles of a latency sample, in milliseconds.
#[derive(Debug, Serialize)]
pub struct LatencySummary {
    /// 10th percentile.
    pub p10_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// Starts the services over scratch databases and measures both conditions.
pub fn run(options: &PrivacyOptions, reporter: &dyn Reporter) -> anyhow::Result<PrivacyReport> {
    ensure!(
        options.requests > 0 && options.threads > 0 && options.load_concurrency > 0,
        "counts must be positive"
    );
    ensure!(
        options.load_rate.is_finite() && options.load_rate > 0.0,
        "--load-rate must be positive"
    );
    crate::runtime::block_on(options.threads, bench(options, reporter))
}

async fn bench(options: &PrivacyOptions, reporter: &dyn Reporter) -> anyhow::Result<PrivacyReport> {
    let scratch = Scratch::new("privacy", options.database_url.clone())?;
    let services = Services::start(&scratch, Default::default()).await?;
    let result = measure(options, &services, reporter).await;
    services.stop().await;
    drop(scratch);
    result
}

async fn measure(
    options: &PrivacyOptions,
    services: &Services,
    reporter: &dyn Reporter,
) -> anyhow::Result<PrivacyReport> {
    let target = Target::of(services);
    let mut conditions = Vec::new();
    for (condition, loaded) in [("idle", false), ("under load", true)] {
        reporter.phase(&format!(
            "{condition}: {} real and fake requests per endpoint ...",
            options.requests
        ));
        let measured = Measured::default();
        let load = if loaded {
            let b = Background::start(
                &target,
                options.load_rate,
                options.load_concurrency,
                measured.clone(),
            );
            Some(b.await?)
        } else {
            None
        };
        let endpoints = on_own_thread("bench-observer", {
            let (target, n, w) = (target.clone(), options.requests, options.warmup);
            move || async move { observe(&target, n, w, &measured).await }
        })
        .await;
        let background = match load {
            Some(load) => load.stop(reporter).await,
            None => LoadReport::default(),
        };
        conditions.push(ConditionReport {
            condition,
            background,
            endpoints: endpoints?,
        });
    }
    let goal_met = conditions.iter().flat_map(|c| &c.endpoints).all(|e| {
        (e.auc - 0.5).abs() <= GOAL_DISTANCE
            && !(e.statuses_differ || e.header_names_differ || e.sizes_differ)
    });
    let n = options.requests as f64;
    Ok(PrivacyReport {
        cpu: cpu_model(),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        backend: services.store.db().backend().name(),
        threads: options.threads,
        requests_per_kind: options.requests,
        auc_null_sd: ((2.0 * n + 1.0) / (12.0 * n * n)).sqrt(),
        conditions,
        goal: "AUC within 0.45-0.55 on every endpoint; statuses, header names and sizes identical",
        goal_met,
    })
}

/// Runs the future `make` returns on a new thread with a runtime of its own, and waits for its result.
async fn on_own_thread<F, Fut, T>(name: &str, make: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("a runtime for the thread")
                .and_then(|rt| rt.block_on(make()));
            // The receiver waits for this; were it gone, there would be nobody to tell.
            let _ = tx.send(result);
        })
        .with_context(|| format!("starting thread {name}"))?;
    rx.await
        .with_context(|| format!("thread {name} ended early"))?
}
