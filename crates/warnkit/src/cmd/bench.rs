//! `warnkit bench`: throughput figures of the protocol core on this machine.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use aes::cipher::{BlockEncrypt, KeyInit};
use anyhow::Context;
use clap::Subcommand;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use warnkit_protocol::crypto::{Block, Metadata, Rpi, Tek};
use warnkit_protocol::matching::{DiagnosisKey, MatchOptions, Observation, ObservationIndex};

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
    aes_blocks_per_second: f64,
    aes_bound_keys_per_second: f64,
    fraction_of_bound: f64,
}

/// Runs a `bench` command.
pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
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
                     {:>12.0} keys/s\n{:>12.0} keys/s AES bound ({:.0} AES blocks/s ÷ 144, one core)\n\
                     {:>12.2} of the bound\n{:>12} matches ({} planted)",
                    report.keys,
                    report.observed,
                    report.threads,
                    report.seconds,
                    report.keys_per_second,
                    report.aes_bound_keys_per_second,
                    report.aes_blocks_per_second,
                    report.fraction_of_bound,
                    report.matches,
                    report.expected_matches
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Submission(args) => super::bench_submission::run(args),
    }
}

const DAY0: u32 = 2_833_200;

fn bench_match(keys: usize, observed: usize, threads: u16, seed: u64) -> MatchReport {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let diagnosis: Vec<DiagnosisKey> = (0..keys)
        .map(|i| DiagnosisKey {
            tek: Tek(rng.gen()),
            rolling_start: DAY0 + 144 * (i % 14) as u32,
            rolling_period: 144,
        })
        .collect();
    // Random sightings spread over the same 14 days, so no key can be skipped: the worst case.
    let mut log: Vec<Observation> = (0..observed)
        .map(|_| Observation {
            rpi: Rpi(rng.gen()),
            interval: DAY0 + rng.gen_range(0..14 * 144),
            rssi: -60,
            aem: rng.gen(),
        })
        .collect();
    // Plant one real sighting per thousand observations so the run also finds something.
    let planted = (observed / 1000).min(keys);
    for slot in log.iter_mut().take(planted) {
        let key = &diagnosis[rng.gen_range(0..keys)];
        let (rpik, aemk) = key.tek.derive_keys();
        let interval = key.rolling_start + rng.gen_range(0..144);
        let rpi = rpik.rpi(interval);
        *slot = Observation {
            rpi,
            interval,
            rssi: -60,
            aem: aemk.encrypt(&rpi, &Metadata::v1_0(0)),
        };
    }
    let index = ObservationIndex::new(&log);
    let options = MatchOptions {
        parallel: threads > 1,
        ..MatchOptions::default()
    };
    let start = Instant::now();
    let matches = index.match_keys(&diagnosis, &options).len();
    let seconds = start.elapsed().as_secs_f64();
    let aes_blocks_per_second = aes_blocks_per_second();
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
        aes_bound_keys_per_second: bound,
        fraction_of_bound: keys_per_second / bound,
    }
}

/// AES-128 blocks per second on one core, through the same batched call the matcher uses.
pub fn aes_blocks_per_second() -> f64 {
    let cipher = aes::Aes128::new(&[7u8; 16].into());
    // 144 blocks per call, as in matching, over a buffer far larger than the caches.
    let mut buffer = vec![Block::default(); 144 * 4096];
    let mut blocks = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        for chunk in buffer.chunks_mut(144) {
            cipher.encrypt_blocks(chunk);
        }
        blocks += buffer.len() as u64;
    }
    std::hint::black_box(&buffer);
    blocks as f64 / start.elapsed().as_secs_f64()
}
