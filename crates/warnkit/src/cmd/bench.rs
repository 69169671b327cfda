//! `warnkit bench`: throughput figures of the protocol core on this machine.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use warnkit_protocol::matching::{MatchOptions, ObservationIndex, Workload};

/// Benchmark commands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Match synthetic diagnosis keys against a synthetic scan log; compare with the AES bound.
    Match {
        /// Number of diagnosis keys (spread over 14 days).
        #[arg(long, default_value_t = 1_000_000)]
        keys: usize,
        /// Number of observed RPIs in the scan log.
        #[arg(long, default_value_t = 100_000)]
        observed: usize,
        /// Worker threads (1 = the single-core figure).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: u16,
        /// Seed of the synthetic data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Uploads per second through the submission service, with real TAN checks over HTTP.
    Submission(super::bench_submission::BenchSubmissionArgs),
    /// Countries' uploads through a real federation gateway over HTTP, and one country's download of
    /// them all (fetch, verify, store).
    Federation(super::bench_federation::BenchFederationArgs),
    /// Real and fake requests on every app endpoint, interleaved, idle and under load: whether latency
    /// (AUC real vs fake), status, header names or sizes tell them apart.
    Privacy(super::bench_privacy::BenchPrivacyArgs),
    /// Fill a key database with synthetic keys over 14 days, then time one `warnkit distribute` run
    /// (a separate process, so its peak memory is the run's alone).
    Distribution {
        /// Keys in the database.
        #[arg(long, default_value_t = 1_000_000)]
        keys: usize,
        /// Data directory to fill and publish into (reused when it already holds the keys).
        #[arg(long)]
        data_dir: std::path::PathBuf,
        /// Seed of the synthetic keys.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct DistributionReport {
    keys_in_database: u64,
    seconds: f64,
    peak_rss_bytes: Option<u64>,
    archive_bytes: usize,
    archive_keys: usize,
    bytes_per_key: f64,
    files_written: usize,
}

#[derive(Debug, Serialize)]
struct MatchReport {
    keys: usize,
    observed: usize,
    threads: u16,
    matches: usize,
    expected_matches: usize,
    seconds: f64,
    keys_per_second: f64,
    /// The faster of the two AES paths: the bound's numerator.
    aes_blocks_per_second: f64,
    aes_paths_blocks_per_second: AesRates,
    aes_bound_keys_per_second: f64,
    fraction_of_bound: f64,
}

/// Runs a `bench` command.
pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Distribution {
            keys,
            data_dir,
            seed,
            json,
        } => {
            // A fixed clock: the same keys fall into the same files on every machine.
            let now = warnkit_distribution::layout::parse_rfc3339("2026-11-20T03:00:00Z")
                .expect("a valid constant");
            let args = crate::config::ConfigArgs {
                config: None,
                data_dir: Some(data_dir.clone()),
                database_url: None,
            };
            let config = crate::config::Config::load(&args)?;
            eprintln!("filling {} with {keys} keys ...", data_dir.display());
            let have = fill_keys(&config, keys, now, seed)?;
            eprintln!("running warnkit distribute over {have} keys ...");
            let exe = std::env::current_exe().context("finding the warnkit binary")?;
            let start = Instant::now();
            let out = std::process::Command::new(exe)
                .args([
                    "distribute",
                    "--json",
                    "--now",
                    "2026-11-20T03:00:00Z",
                    "--data-dir",
                ])
                .arg(&data_dir)
                .output()
                .context("running warnkit distribute")?;
            let seconds = start.elapsed().as_secs_f64();
            anyhow::ensure!(
                out.status.success(),
                "warnkit distribute failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let run: serde_json::Value =
                serde_json::from_slice(&out.stdout).context("distribute --json output")?;
            let number = |k: &str| run[k].as_u64().unwrap_or(0) as usize;
            let report = DistributionReport {
                keys_in_database: have,
                seconds,
                peak_rss_bytes: run["peak_rss_bytes"].as_u64(),
                archive_bytes: number("archive_bytes"),
                archive_keys: number("archive_keys"),
                bytes_per_key: number("archive_bytes") as f64
                    / number("archive_keys").max(1) as f64,
                files_written: number("files_written"),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "distributed {} keys in {:.2} s (whole process), peak memory {} MB\n\
                     {} files written, {} keys in archives, {:.1} bytes per key",
                    report.keys_in_database,
                    report.seconds,
                    report
                        .peak_rss_bytes
                        .map_or("?".into(), |b| (b >> 20).to_string()),
                    report.files_written,
                    report.archive_keys,
                    report.bytes_per_key
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Match {
            keys,
            observed,
            threads,
            seed,
            json,
        } => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads.into())
                .build()
                .context("starting worker threads")?;
            let report = pool.install(|| bench_match(keys, observed, threads, seed));
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "matched {} keys against {} observed RPIs on {} thread(s) in {:.3} s\n\
                     {:>12.0} keys/s\n{:>12.0} keys/s AES bound ({:.0} AES blocks/s ÷ 144, one core; `aes` crate {:.0}, \
                     matcher's kernel {:.0})\n\
                     {:>12.2} of the bound\n{:>12} matches ({} planted)",
                    report.keys,
                    report.observed,
                    report.threads,
                    report.seconds,
                    report.keys_per_second,
                    report.aes_bound_keys_per_second,
                    report.aes_blocks_per_second,
                    report.aes_paths_blocks_per_second.aes_crate,
                    report.aes_paths_blocks_per_second.kernel,
                    report.fraction_of_bound,
                    report.matches,
                    report.expected_matches
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Submission(args) => super::bench_submission::run(args),
        BenchCommand::Federation(args) => super::bench_federation::run(args),
        BenchCommand::Privacy(args) => super::bench_privacy::run(args),
    }
}

fn bench_match(keys: usize, observed: usize, threads: u16, seed: u64) -> MatchReport {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let Workload {
        keys: diagnosis,
        log,
        planted,
    } = Workload::synthetic(&mut rng, keys, observed);
    let index = ObservationIndex::new(&log);
    let options = MatchOptions {
        parallel: threads > 1,
        ..MatchOptions::default()
    };
    let start = Instant::now();
    let matches = index.match_keys(&diagnosis, &options).len();
    let seconds = start.elapsed().as_secs_f64();
    let aes = aes_blocks_per_second();
    let aes_blocks_per_second = aes.best();
    let keys_per_second = keys as f64 / seconds;
    let bound = aes_blocks_per_second / 144.0;
    MatchReport {
        keys,
        observed,
        threads,
        matches,
        expected_matches: planted,
        seconds,
        keys_per_second,
        aes_blocks_per_second,
        aes_paths_blocks_per_second: aes,
        aes_bound_keys_per_second: bound,
        fraction_of_bound: keys_per_second / bound,
    }
}

/// AES-128 blocks per second on one core through each of the two batched code paths, as
/// `warnkit_aesx::bound` defines the bound (shared with the matching benches): the `aes` crate's
/// `encrypt_blocks` and the kernel the matcher runs (`warnkit-aesx`), 144 blocks per call over a
/// buffer far larger than the caches, alternating trials for half a second, each path its fastest.
pub fn aes_blocks_per_second() -> AesRates {
    warnkit_aesx::bound::blocks_per_second(Duration::from_millis(500)).into()
}

/// AES-128 blocks per second through each batched code path (see [`aes_blocks_per_second`]); the
/// report's form of `warnkit_aesx::bound::Rates`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AesRates {
    /// The `aes` crate's `encrypt_blocks`.
    pub aes_crate: f64,
    /// `warnkit_aesx::Aes128::encrypt_blocks`, the rounds the matcher runs.
    pub kernel: f64,
}

impl AesRates {
    /// The faster path: the bound is held to the best AES this machine does.
    pub fn best(&self) -> f64 {
        self.rates().best()
    }

    fn rates(&self) -> warnkit_aesx::bound::Rates {
        warnkit_aesx::bound::Rates {
            aes_crate: self.aes_crate,
            kernel: self.kernel,
        }
    }
}

impl From<warnkit_aesx::bound::Rates> for AesRates {
    fn from(rates: warnkit_aesx::bound::Rates) -> Self {
        Self {
            aes_crate: rates.aes_crate,
            kernel: rates.kernel,
        }
    }
}

/// Fills a data directory's key database with `keys` synthetic keys spread evenly over the 14 days
/// before `now`, each the key of the day before its upload, unless it already holds that many.
pub fn fill_keys(
    config: &crate::config::Config,
    keys: usize,
    now: i64,
    seed: u64,
) -> anyhow::Result<u64> {
    use warnkit_submission::keystore::StoredKey;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store =
            warnkit_submission::KeyStore::open(&config.db_target("submission"), config.pool())
                .await?;
        let have = store.count().await?;
        if have >= keys as u64 {
            return Ok(have);
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let today = now.div_euclid(86_400);
        let mut batch = Vec::with_capacity(10_000);
        // In submission order, as a live system stores them: hour after hour over the 14 days.
        for i in 0..keys {
            let hour = (today - 14) * 24 + 2 + (i * 14 * 24 / keys) as i64;
            let day = hour.div_euclid(24) - 1;
            batch.push(StoredKey {
                key_data: rng.gen(),
                rolling_start: (day * 144) as u32,
                rolling_period: 144,
                transmission_risk_level: rng.gen_range(1..=8),
                report_type: 1,
                days_since_onset_of_symptoms: Some(rng.gen_range(-2..=10)),
                submission_hour: hour,
                origin: "DE".into(),
                visited_countries: vec![],
                consent_to_federation: false,
            });
            if batch.len() == batch.capacity() {
                store.insert(&batch).await?;
                batch.clear();
            }
        }
        store.insert(&batch).await?;
        let count = store.count().await?;
        store.db().close().await;
        anyhow::Ok(count)
    })
}
