//! One distribution run on a node's data directory outside `warnkit serve` (`warnkit distribute`, from
//! cron, tests and backfills): refused beside a running schedule and for a time the clock has not
//! reached, followed by the key store's retention, since a deployment that publishes from cron runs no
//! server to delete old keys.

use anyhow::Context;
use warnkit_distribution::{Distribution, RunReport};
use warnkit_keystore::{KeyRetention, KeyStore};
use warnkit_service::Clock;

use crate::config::Config;
use crate::instance::schedule_lock_path;

/// How a run is asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Run as if it were this Unix second (default: the clock).
    pub now: Option<i64>,
    /// Accept a `now` later than the clock, for a throw-away data directory.
    pub allow_future: bool,
    /// Run even when `now` is earlier than the newest published file (disaster recovery).
    pub force_rewind: bool,
}

/// Runs the distribution job once on `config`'s data directory, at `options.now` or the clock's time,
/// then deletes the expired keys; the report counts them.
pub async fn run_once(config: &Config, options: RunOptions) -> anyhow::Result<RunReport> {
    refuse_beside_a_schedule(config)?;
    let real_now = warnkit_store::unix_now();
    let now = options.now.unwrap_or(real_now);
    anyhow::ensure!(
        now <= real_now || options.allow_future,
        "--now {} is later than the real clock ({}): the hours up to it have not ended, and a file \
         published for them would change or vanish when the real clock gets there, though phones and \
         caches keep it as immutable. Give a time in the past (or none), or --allow-future for a \
         throw-away data directory",
        warnkit_protocol::interval::datetime_string(now),
        warnkit_protocol::interval::datetime_string(real_now)
    );
    let keys = KeyStore::open(&config.db_target("submission"), config.pool())
        .await
        .context("opening the key database")?;
    let job =
        Distribution::for_data_dir(keys.clone(), config.distribution.clone(), &config.data_dir)?
            .with_force_rewind(options.force_rewind);
    let report = job.run_once(now).await;
    // After the run and on its clock: a run that catches up on days (a backfill, a restart after an
    // outage) publishes each day's file from every key of that day before the oldest hours expire,
    // and a backfill with an earlier `now` deletes nothing a later run needs.
    let retention = KeyRetention::new(
        keys.clone(),
        config.submission.retention_days,
        Clock::manual(now),
    );
    let deleted = match &report {
        Ok(_) => Some(retention.run_once().await),
        Err(_) => None,
    };
    keys.db().close().await;
    let mut report = report?;
    if let Some(deleted) = deleted {
        report.keys_deleted = deleted.context("deleting expired keys")?.unwrap_or(0);
    }
    Ok(report)
}

/// Refuses while a `warnkit serve` runs the distribution schedule on this data directory: two
/// publishers of one store, one on the real clock and one perhaps not, would undo each other's files.
fn refuse_beside_a_schedule(config: &Config) -> anyhow::Result<()> {
    let lock = schedule_lock_path(&config.data_dir);
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

/// The process's peak resident memory (Linux `VmHWM`), which a run's report carries for the
/// benchmarks; `None` elsewhere.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
