//! `warnkit distribute`: one run of the distribution job, for operators, tests and backfills.

use std::process::ExitCode;

use anyhow::Context;
use warnkit_distribution::layout::parse_rfc3339;
use warnkit_distribution::{Distribution, RunReport};
use warnkit_keystore::{KeyRetention, KeyStore};
use warnkit_protocol::interval::datetime_string;
use warnkit_service::Clock;

use crate::config::{Config, ConfigArgs};

/// Arguments of `warnkit distribute`.
#[derive(Debug, clap::Args)]
pub struct DistributeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Run as if it were this time (RFC 3339, e.g. 2026-11-24T03:00:00Z), not later than the real
    /// clock; for tests and backfills.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Accept a --now later than the real clock, for a throw-away data directory (tests, demos): such
    /// a run publishes periods that have not ended, and runs on the real clock then refuse until it
    /// has caught up.
    #[arg(long, requires = "now")]
    allow_future: bool,
    /// Run even when the clock (or --now) is earlier than the newest published file: disaster
    /// recovery only. Files published for later periods are withdrawn, although phones and caches
    /// may keep them.
    #[arg(long)]
    force_rewind: bool,
    /// Print the run's report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the distribution job once.
pub fn run(args: DistributeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    refuse_beside_a_schedule(&config)?;
    let real_now = warnkit_store::unix_now();
    let now = match &args.now {
        Some(text) => parse_rfc3339(text).with_context(|| {
            format!("--now {text:?} is not an RFC 3339 time like 2026-11-24T03:00:00Z")
        })?,
        None => real_now,
    };
    anyhow::ensure!(
        now <= real_now || args.allow_future,
        "--now {} is later than the real clock ({}): the hours up to it have not ended, and a file \
         published for them would change or vanish when the real clock gets there, though phones and \
         caches keep it as immutable. Give a time in the past (or none), or --allow-future for a \
         throw-away data directory",
        datetime_string(now),
        datetime_string(real_now)
    );
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
        )?
        .with_force_rewind(args.force_rewind);
        // A deployment that publishes from cron runs no server, so the key store's retention runs
        // here too, on the run's clock (a backfill with an earlier --now deletes nothing it needs).
        let retention = KeyRetention::new(
            keys.clone(),
            config.submission.retention_days,
            Clock::manual(now),
        );
        let deleted = retention.run_once().await;
        let report = job.run_once(now).await;
        keys.db().close().await;
        let mut report = report?;
        report.keys_deleted = deleted.context("deleting expired keys")?.unwrap_or(0);
        anyhow::Ok(report)
    })?;
    if report.rewound {
        eprintln!(
            "warning: --force-rewind: published as of {}, earlier than the newest published file; \
             files of later periods were withdrawn",
            datetime_string(now)
        );
    }
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["peak_rss_bytes"] = peak_rss_bytes().into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else if !report.ran {
        println!("another distribution run holds the lock; nothing done");
    } else {
        println!("{}", summary(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses while a `warnkit serve` runs the distribution schedule on this data directory: two
/// publishers of one store, one on the real clock and one perhaps not, would undo each other's files.
fn refuse_beside_a_schedule(config: &Config) -> anyhow::Result<()> {
    let lock = config.data_dir.join("locks/distribution-schedule.lock");
    let holder = warnkit_store::InstanceLock::holder(&lock)
        .with_context(|| format!("reading {}", lock.display()))?;
    match holder {
        None => Ok(()),
        Some(holder) => anyhow::bail!(
            "a warnkit serve runs the distribution schedule on {} ({holder}); it publishes every \
             interval by itself. Stop it, or set distribution.schedule = false in its configuration \
             and restart it, before running warnkit distribute",
            config.data_dir.display()
        ),
    }
}

/// The one-line summary of a run.
fn summary(report: &RunReport) -> String {
    let waiting = match (&report.waiting_until, report.keys_waiting) {
        (Some(until), n) => {
            format!("{n} stored keys wait for a later period (the next at {until})")
        }
        _ => "no stored key waits".to_owned(),
    };
    let kept = match report.archives_kept {
        0 => String::new(),
        n => format!(
            ", {n} published archives kept as they were (archives never change; the key counts \
             follow the current settings)"
        ),
    };
    format!(
        "published {} hourly and {} daily files with {} real and {} padding keys: {} files written, \
         {} unchanged{kept}, {} removed; {waiting}; {} expired keys deleted ({:.2} s)",
        report.hourly_files,
        report.daily_files,
        report.real_keys,
        report.padding_keys,
        report.files_written,
        report.files_unchanged,
        report.files_deleted,
        report.keys_deleted,
        report.seconds
    )
}

/// The process's peak resident memory (Linux `VmHWM`), for the benchmark; `None` elsewhere.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
