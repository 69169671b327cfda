//! `warnkit bench`: throughput figures of the protocol core on this machine. The benchmarks are the
//! `warnkit-bench` crate's; here are their command lines and the printing of their reports.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use warnkit_bench::distribution::{DistributionOptions, DistributionReport};
use warnkit_bench::matching::{MatchOptions, MatchReport};

use super::bench_support::{print_report, Stderr};

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
        /// SHA-256 kernel of the RPI-key derivation: auto, avx512, avx2, sha-ni or portable
        /// (default: $WARNKIT_SHA256_KERNEL, else the fastest this CPU has).
        #[arg(long, value_name = "KERNEL", value_parser = sha256_kernel)]
        sha256_kernel: Option<warnkit_sha256x::Kernel>,
        /// AES kernel of the matcher's blocks: auto, aes-ni or aes-crate (default:
        /// $WARNKIT_AES_KERNEL, else AES-NI where present).
        #[arg(long, value_name = "KERNEL", value_parser = aes_kernel)]
        aes_kernel: Option<warnkit_aesx::kernel::Kernel>,
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
        /// Data directory to fill and publish into: its keys are reused when it already holds them, its
        /// published files are removed first, so every run builds the whole window.
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

/// Runs a `bench` command.
pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Distribution {
            keys,
            data_dir,
            seed,
            json,
        } => {
            let args = crate::config::ConfigArgs {
                config: None,
                data_dir: Some(data_dir.clone()),
                database_url: None,
            };
            let options = DistributionOptions {
                config: crate::config::Config::load(&args)?,
                data_dir,
                keys,
                seed,
                warnkit: std::env::current_exe().context("finding the warnkit binary")?,
            };
            let report = warnkit_bench::distribution::run(&options, &Stderr { json });
            print_report(report, json, print_distribution)
        }
        BenchCommand::Match {
            keys,
            observed,
            threads,
            seed,
            sha256_kernel,
            aes_kernel,
            json,
        } => {
            // A kernel named in the environment is checked here, so a typo fails instead of
            // quietly measuring another path.
            let sha256_kernel = match sha256_kernel {
                Some(k) => k,
                None => warnkit_sha256x::from_env()
                    .with_context(|| format!("${}", warnkit_sha256x::ENV))?,
            };
            let aes_kernel = match aes_kernel {
                Some(k) => k,
                None => warnkit_aesx::kernel::from_env()
                    .map_err(|e| anyhow::anyhow!("${}: {e}", warnkit_aesx::kernel::ENV))?,
            };
            let options = MatchOptions {
                keys,
                observed,
                threads,
                seed,
                sha256_kernel: Some(sha256_kernel),
                aes_kernel: Some(aes_kernel),
            };
            print_report(warnkit_bench::matching::run(&options), json, print_match)
        }
        BenchCommand::Submission(args) => super::bench_submission::run(args),
        BenchCommand::Federation(args) => super::bench_federation::run(args),
        BenchCommand::Privacy(args) => super::bench_privacy::run(args),
    }
}

fn sha256_kernel(name: &str) -> Result<warnkit_sha256x::Kernel, String> {
    warnkit_sha256x::parse(name).map_err(|e| e.to_string())
}

fn aes_kernel(name: &str) -> Result<warnkit_aesx::kernel::Kernel, String> {
    warnkit_aesx::kernel::parse(name)
}

fn print_distribution(report: &DistributionReport) {
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

fn print_match(report: &MatchReport) {
    println!(
        "matched {} keys against {} observed RPIs on {} thread(s) in {:.3} s\n\
         {:>12.0} keys/s\n{:>12.0} keys/s AES bound ({:.0} AES blocks/s ÷ 144, one core; `aes` crate {:.0}, \
         matcher's kernel {:.0})\n\
         {:>12.2} of the bound\n\
         {:>12.0} keys/s crypto floor (144 blocks at the bound + HKDF at {:.0} keys/s)\n\
         {:>12.2} of the floor\n{:>12} matches ({} planted)\n\
         kernels: SHA-256 {}, AES {}; CPU: {}",
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
        report.crypto_floor_keys_per_second,
        report.hkdf_keys_per_second,
        report.fraction_of_floor,
        report.matches,
        report.expected_matches,
        report.sha256_kernel,
        report.aes_kernel,
        report.cpu
    );
}
