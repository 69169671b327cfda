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
    /// Force this SHA-256 kernel (None: the one `WARNKIT_SHA256_KERNEL` or the CPU picks).
    pub sha256_kernel: Option<warnkit_sha256x::Kernel>,
    /// Force this AES kernel (None: the one `WARNKIT_AES_KERNEL` or the CPU picks).
    pub aes_kernel: Option<warnkit_aesx::kernel::Kernel>,
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
    /// The CPU, as `/proc/cpuinfo` names it.
    pub cpu: String,
    /// The SHA-256 kernel the RPI-key derivation ran on.
    pub sha256_kernel: String,
    /// The AES kernel the matcher's blocks ran on.
    pub aes_kernel: String,
    /// RPI keys per second that the HKDF alone derives through that SHA-256 kernel (six
    /// compressions per key), fastest of alternating trials.
    pub hkdf_keys_per_second: f64,
    /// Keys per second if a key cost nothing but its crypto: 144 blocks at the bound's rate plus
    /// its HKDF at `hkdf_keys_per_second`.
    pub crypto_floor_keys_per_second: f64,
    /// `keys_per_second` over the crypto floor: the distance to the true limit.
    pub fraction_of_floor: f64,
}

/// Matches on a pool of `options.threads` workers and measures the AES bound and the crypto floor.
///
/// The kernels asked for stay in force for the rest of the process.
pub fn run(options: &MatchOptions) -> anyhow::Result<MatchReport> {
    if let Some(kernel) = options.sha256_kernel {
        warnkit_sha256x::set_kernel(kernel)?;
    }
    if let Some(kernel) = options.aes_kernel {
        warnkit_aesx::kernel::set_kernel(kernel).map_err(anyhow::Error::msg)?;
    }
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
        ..
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
    let (aes, hkdf_keys_per_second) = crypto_rates();
    let aes_blocks_per_second = aes.best();
    let keys_per_second = keys as f64 / seconds;
    let bound = aes_blocks_per_second / 144.0;
    let crypto_floor = 1.0 / (1.0 / bound + 1.0 / hkdf_keys_per_second);
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
        cpu: crate::machine::cpu_model(),
        sha256_kernel: warnkit_sha256x::kernel().name().to_owned(),
        aes_kernel: warnkit_aesx::kernel::kernel().name().to_owned(),
        hkdf_keys_per_second,
        crypto_floor_keys_per_second: crypto_floor,
        fraction_of_floor: keys_per_second / crypto_floor,
    }
}

/// The AES bound's two paths and the HKDF's keys per second through the SHA-256 kernel in use,
/// their trials alternating for half a second so a busy neighbour slows both alike.
fn crypto_rates() -> (AesRates, f64) {
    use warnkit_protocol::crypto::{rpi_key_bytes_x16, Tek};
    /// Keys per HKDF trial: small next to an AES trial, so many trials fit.
    const GROUPS: usize = 256;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let teks: Vec<[Tek; 16]> = (0..GROUPS)
        .map(|_| std::array::from_fn(|_| Tek(rand::Rng::gen(&mut rng))))
        .collect();
    let mut meter = warnkit_aesx::bound::Meter::new();
    let mut best_hkdf = f64::INFINITY;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        meter.trial();
        for _ in 0..4 {
            let t = Instant::now();
            for group in &teks {
                std::hint::black_box(rpi_key_bytes_x16(std::hint::black_box(group)));
            }
            best_hkdf = best_hkdf.min(t.elapsed().as_secs_f64());
        }
    }
    (meter.rates().into(), (GROUPS * 16) as f64 / best_hkdf)
}

/// AES-128 blocks per second through each batched code path, as `warnkit_aesx::bound` defines the
/// bound (shared with the matching benches); the report's form of its `Rates`.
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
            sha256_kernel: None,
            aes_kernel: None,
        })
        .unwrap();
        assert_eq!(report.keys, 2_000);
        assert_eq!(report.expected_matches, 3);
        assert_eq!(report.matches, report.expected_matches);
        assert!(report.aes_blocks_per_second >= report.aes_paths_blocks_per_second.kernel);
        assert!(report.aes_blocks_per_second >= report.aes_paths_blocks_per_second.aes_crate);
        // The floor lies below the AES bound (a key costs its AES and more) and above the matcher.
        assert!(report.crypto_floor_keys_per_second < report.aes_bound_keys_per_second);
        assert!(report.hkdf_keys_per_second > 0.0);
        assert_eq!(report.sha256_kernel, warnkit_sha256x::kernel().name());
    }
}
