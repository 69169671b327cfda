//! `bench match`: the phone's matcher over synthetic diagnosis keys and a synthetic scan log, against
//! the bound this machine's AES sets (144 blocks per key).

use std::time::{Duration, Instant};

use anyhow::Context;
use rand::SeedableRng;
use serde::Serialize;
use warnkit_protocol::matching::{MatchOptions as EngineOptions, ObservationIndex, Workload};

/// What to match.
#[derive(Debug, Clone)]
pub struct MatchOptions {
    /// Number of diagnosis keys (spread over 14 days).
    pub keys: usize,
    /// Number of observed RPIs in the scan log.
    pub observed: usize,
    /// Worker threads (1 = the single-core figure).
    pub threads: u16,
    /// Seed of the synthetic data.
    pub seed: u64,
}

/// The figures of one matching run.
#[derive(Debug, Serialize)]
pub struct MatchReport {
    /// Diagnosis keys matched.
    pub keys: usize,
    /// Observed RPIs in the scan log.
    pub observed: usize,
    /// Worker threads.
    pub threads: u16,
    /// Matches found.
    pub matches: usize,
    /// Matches planted in the synthetic data.
    pub expected_matches: usize,
    /// Wall time of the match.
    pub seconds: f64,
    /// Diagnosis keys per second.
    pub keys_per_second: f64,
    /// The faster of the two AES paths: the bound's numerator.
    pub aes_blocks_per_second: f64,
    /// Both AES paths.
    pub aes_paths_blocks_per_second: AesRates,
    /// Keys per second one core's AES allows.
    pub aes_bound_keys_per_second: f64,
    /// `keys_per_second` over the bound.
    pub fraction_of_bound: f64,
}

/// Matches on a pool of `options.threads` workers and measures the AES bound.
pub fn run(options: &MatchOptions) -> anyhow::Result<MatchReport> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.into())
        .build()
        .context("starting worker threads")?;
    Ok(pool.install(|| bench_match(options)))
}

fn bench_match(options: &MatchOptions) -> MatchReport {
    let &MatchOptions {
        keys,
        observed,
        threads,
        seed,
    } = options;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let Workload {
        keys: diagnosis,
        log,
        planted,
    } = Workload::synthetic(&mut rng, keys, observed);
    let index = ObservationIndex::new(&log);
    let engine = EngineOptions {
        parallel: threads > 1,
        ..EngineOptions::default()
    };
    let start = Instant::now();
    let matches = index.match_keys(&diagnosis, &engine).len();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_finds_every_planted_match() {
        let report = run(&MatchOptions {
            keys: 2_000,
            // One match is planted per thousand observations.
            observed: 3_000,
            threads: 1,
            seed: 3,
        })
        .unwrap();
        assert_eq!(report.keys, 2_000);
        assert_eq!(report.expected_matches, 3);
        assert_eq!(report.matches, report.expected_matches);
        assert!(report.aes_blocks_per_second >= report.aes_paths_blocks_per_second.kernel);
        assert!(report.aes_blocks_per_second >= report.aes_paths_blocks_per_second.aes_crate);
    }
}
