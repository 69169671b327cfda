//! `warnkit bench privacy`: can someone watching the traffic tell fake requests from real ones? For every
//! app endpoint (`registrationToken`, `testresult`, `tan`, `diagnosis-keys`) real and fake requests, as the
//! app sends them, go out one at a time in random order, once on idle services and once while a bounded
//! stream of other real requests runs; the client times each from send to the last byte of the answer.
//!
//! Per endpoint the report gives the AUC of latency, real against fake: the chance that a random real
//! request took longer than a random fake one (Mann–Whitney U over both samples; ties count half), where
//! 0.5 is what no classifier can beat and values far from it either way give fakes away; and whether
//! statuses, header names or sizes (body bytes, header bytes) ever differ between the two.
//!
//! The services run on the runtime of `--threads` workers; the measuring client and the background load
//! each run on a thread and runtime of their own, as clients on other machines would (on the services'
//! runtime, the services' own work after an answer would delay the client's reading of it, which no
//! observer on the network sees). The background is open: app flows start at random (Poisson) times at
//! `--load-rate`, at most `--load-concurrency` at once, so that it does not speed up while a cheap fake
//! is measured and slow down during a real request, as a closed loop of back-to-back flows would.

mod client;
mod load;

use anyhow::{ensure, Context};
use serde::Serialize;

use self::client::{observe, Seen, Target};
use self::load::{Background, Measured};
use super::bench_support::{cpu_model, run_and_print, Scratch, Services, SERVICE_DATABASES};

/// The goal: an AUC within this distance of 0.5 on every endpoint.
const GOAL_DISTANCE: f64 = 0.05;

/// Arguments of `warnkit bench privacy`.
#[derive(Debug, clap::Args)]
pub struct BenchPrivacyArgs {
    /// Real requests per endpoint and condition, and as many fakes, interleaved at random.
    #[arg(long, default_value_t = 400)]
    requests: usize,
    /// Unmeasured real requests per endpoint before each condition, so that fakes draw their delays
    /// from real requests of that condition.
    #[arg(long, default_value_t = 64)]
    warmup: usize,
    /// Background app flows started per second during the loaded condition, at random times (each: a
    /// lab result, then the app's registration, poll, TAN and upload, all real).
    #[arg(long, default_value_t = 200.0)]
    load_rate: f64,
    /// Background flows in flight at most; a flow due while that many run is skipped.
    #[arg(long, default_value_t = 16)]
    load_concurrency: usize,
    /// Tokio worker threads of the services.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A PostgreSQL server URL: the services use fresh schemas there (dropped afterwards). Without it,
    /// SQLite files in a temporary directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    cpu: String,
    build: &'static str,
    backend: &'static str,
    threads: usize,
    requests_per_kind: usize,
    /// The AUC's standard deviation if real and fake latencies had one distribution.
    auc_null_sd: f64,
    conditions: Vec<ConditionReport>,
    goal: &'static str,
    goal_met: bool,
}

#[derive(Debug, Serialize)]
struct ConditionReport {
    condition: &'static str,
    background: LoadReport,
    endpoints: Vec<EndpointReport>,
}

#[derive(Debug, Default, Serialize)]
struct LoadReport {
    flows_per_second: f64,
    max_in_flight: usize,
    requests: usize,
    requests_per_second: f64,
    failed_flows: usize,
    skipped_flows: usize,
}

#[derive(Debug, Serialize)]
struct EndpointReport {
    endpoint: &'static str,
    auc: f64,
    real: LatencySummary,
    fake: LatencySummary,
    statuses_differ: bool,
    header_names_differ: bool,
    sizes_differ: bool,
    real_statuses: Vec<u16>,
    fake_statuses: Vec<u16>,
    /// Distinct (header bytes, body bytes) of the answers.
    real_sizes: Vec<(usize, usize)>,
    fake_sizes: Vec<(usize, usize)>,
}

#[derive(Debug, Serialize)]
struct LatencySummary {
    p10_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: BenchPrivacyArgs) -> anyhow::Result<std::process::ExitCode> {
    ensure!(
        args.requests > 0 && args.threads > 0 && args.load_concurrency > 0,
        "counts must be positive"
    );
    ensure!(
        args.load_rate.is_finite() && args.load_rate > 0.0,
        "--load-rate must be positive"
    );
    run_and_print(args.threads, args.json, bench(&args), print)
}

fn print(report: &Report) {
    println!(
        "fake vs real requests, {} of each per endpoint, {} build, {} service threads, {}; CPU: {}",
        report.requests_per_kind, report.build, report.threads, report.backend, report.cpu
    );
    println!(
        "AUC = P(real slower than fake); 0.5 is chance (sd {:.3} if alike); goal: {}",
        report.auc_null_sd, report.goal
    );
    for c in &report.conditions {
        let b = &c.background;
        println!(
            "\n{} (background: {:.0} flows/s, at most {} in flight, {} requests, {:.0}/s, {} flows \
             failed, {} skipped)",
            c.condition,
            b.flows_per_second,
            b.max_in_flight,
            b.requests,
            b.requests_per_second,
            b.failed_flows,
            b.skipped_flows
        );
        println!(
            "  {:<18} {:>6}  {:>22}  {:>22}  differ (status/headers/sizes)",
            "endpoint", "AUC", "real p10/p50/p90 ms", "fake p10/p50/p90 ms"
        );
        for e in &c.endpoints {
            let yn = |b: bool| if b { "yes" } else { "no" };
            println!(
                "  {:<18} {:>6.3}  {:>6.2} {:>6.2} {:>7.2}  {:>6.2} {:>6.2} {:>7.2}  {}/{}/{}",
                e.endpoint,
                e.auc,
                e.real.p10_ms,
                e.real.p50_ms,
                e.real.p90_ms,
                e.fake.p10_ms,
                e.fake.p50_ms,
                e.fake.p90_ms,
                yn(e.statuses_differ),
                yn(e.header_names_differ),
                yn(e.sizes_differ),
            );
        }
    }
    println!("\ngoal met: {}", if report.goal_met { "yes" } else { "no" });
}

async fn bench(args: &BenchPrivacyArgs) -> anyhow::Result<Report> {
    let scratch = Scratch::new("privacy", args.database_url.clone(), SERVICE_DATABASES);
    let services = Services::start(&scratch, Default::default()).await?;
    let result = measure(args, &services).await;
    services.stop();
    scratch.remove(services.store.db()).await;
    result
}

async fn measure(args: &BenchPrivacyArgs, services: &Services) -> anyhow::Result<Report> {
    let target = Target::of(services);
    let mut conditions = Vec::new();
    for (condition, loaded) in [("idle", false), ("under load", true)] {
        eprintln!(
            "{condition}: {} real and fake requests per endpoint ...",
            args.requests
        );
        let measured = Measured::default();
        let load = if loaded {
            let b = Background::start(
                &target,
                args.load_rate,
                args.load_concurrency,
                measured.clone(),
            );
            Some(b.await?)
        } else {
            None
        };
        let endpoints = on_own_thread("bench-observer", {
            let (target, n, w) = (target.clone(), args.requests, args.warmup);
            move || async move { observe(&target, n, w, &measured).await }
        })
        .await;
        let background = match load {
            Some(load) => load.stop().await,
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
    let n = args.requests as f64;
    Ok(Report {
        cpu: cpu_model(),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        backend: services.store.db().backend().name(),
        threads: args.threads,
        requests_per_kind: args.requests,
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

fn compare(endpoint: &'static str, real: &[Seen], fake: &[Seen]) -> EndpointReport {
    let ms = |s: &[Seen]| -> Vec<f64> { s.iter().map(|x| x.latency.as_secs_f64() * 1e3).collect() };
    let (real_ms, fake_ms) = (ms(real), ms(fake));
    fn distinct<T: Ord>(s: &[Seen], f: impl Fn(&Seen) -> T) -> Vec<T> {
        let mut v: Vec<T> = s.iter().map(f).collect();
        v.sort();
        v.dedup();
        v
    }
    let names = |x: &Seen| x.header_names.join(",");
    let sizes = |x: &Seen| (x.header_bytes, x.body.len());
    let (real_statuses, fake_statuses) =
        (distinct(real, |x| x.status), distinct(fake, |x| x.status));
    let (real_sizes, fake_sizes) = (distinct(real, sizes), distinct(fake, sizes));
    EndpointReport {
        endpoint,
        auc: auc(&real_ms, &fake_ms),
        real: summary(real_ms),
        fake: summary(fake_ms),
        statuses_differ: real_statuses != fake_statuses,
        header_names_differ: distinct(real, names) != distinct(fake, names),
        sizes_differ: real_sizes != fake_sizes,
        real_statuses,
        fake_statuses,
        real_sizes,
        fake_sizes,
    }
}

/// P(a random `real` value exceeds a random `fake` one), ties counted half: the Mann–Whitney U of `real`
/// over the product of the sample sizes, from mid-ranks of the pooled sample.
fn auc(real: &[f64], fake: &[f64]) -> f64 {
    if real.is_empty() || fake.is_empty() {
        return 0.5;
    }
    let mut pooled: Vec<(f64, bool)> = real
        .iter()
        .map(|&x| (x, true))
        .chain(fake.iter().map(|&x| (x, false)))
        .collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut real_rank_sum = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let mut j = i;
        while j + 1 < pooled.len() && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        real_rank_sum += mid_rank * pooled[i..=j].iter().filter(|p| p.1).count() as f64;
        i = j + 1;
    }
    let (n, m) = (real.len() as f64, fake.len() as f64);
    (real_rank_sum - n * (n + 1.0) / 2.0) / (n * m)
}

fn summary(mut ms: Vec<f64>) -> LatencySummary {
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let i = ((ms.len() as f64 - 1.0) * p).round() as usize;
        ms.get(i).copied().unwrap_or(0.0)
    };
    LatencySummary {
        p10_ms: pct(0.10),
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn auc_of_known_samples() {
        assert_eq!(auc(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 0.5);
        assert_eq!(auc(&[4.0, 5.0], &[1.0, 2.0, 3.0]), 1.0);
        assert_eq!(auc(&[1.0, 2.0], &[3.0, 4.0, 5.0]), 0.0);
        assert_eq!(auc(&[2.0], &[2.0]), 0.5);
    }

    #[test]
    fn auc_matches_counting_pairs() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        // Coarse values, so that ties are frequent.
        let real: Vec<f64> = (0..57).map(|_| f64::from(rng.gen_range(0..20u8))).collect();
        let fake: Vec<f64> = (0..43).map(|_| f64::from(rng.gen_range(3..25u8))).collect();
        let mut wins = 0.0;
        for r in &real {
            for f in &fake {
                wins += if r > f {
                    1.0
                } else if r == f {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let expected = wins / (real.len() * fake.len()) as f64;
        assert!((auc(&real, &fake) - expected).abs() < 1e-12);
    }
}
