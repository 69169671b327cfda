//! `warnkit distribute`: one run of the distribution job, for operators, tests and backfills.

use std::process::ExitCode;

use anyhow::Context;
use warnkit_distribution::layout::parse_rfc3339;
use warnkit_distribution::Distribution;
use warnkit_submission::KeyStore;

use crate::config::{Config, ConfigArgs};

/// Arguments of `warnkit distribute`.
#[derive(Debug, clap::Args)]
pub struct DistributeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Run as if it were this time (RFC 3339, e.g. 2026-11-24T03:00:00Z); for tests and backfills.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Print the run's report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the distribution job once.
pub fn run(args: DistributeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let now = match &args.now {
        Some(text) => parse_rfc3339(text).with_context(|| {
            format!("--now {text:?} is not an RFC 3339 time like 2026-11-24T03:00:00Z")
        })?,
        None => warnkit_store::unix_now(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let report = runtime.block_on(async {
        let keys = KeyStore::open(&config.db_target("submission"), config.pool())
            .await
            .context("opening the key database")?;
        let job = Distribution::for_data_dir(
            keys.clone(),
            config.distribution.clone(),
            &config.data_dir,
        )?;
        let report = job.run_once(now).await;
        keys.db().close().await;
        report
    })?;
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["peak_rss_bytes"] = peak_rss_bytes().into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else if !report.ran {
        println!("another distribution run holds the lock; nothing done");
    } else {
        println!(
            "published {} real and {} padding keys: {} files written, {} unchanged, {} removed; {} expired keys deleted ({:.2} s)",
            report.real_keys,
            report.padding_keys,
            report.files_written,
            report.files_unchanged,
            report.files_deleted,
            report.keys_deleted,
            report.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The process's peak resident memory (Linux `VmHWM`), for the benchmark; `None` elsewhere.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
