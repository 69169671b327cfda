//! What a distribution run reports: the summary `warnkit distribute` prints, the record of the last
//! run in `DATA_DIR/distribution-last-run.json` (read by `warnkit status`), and the run metrics an
//! operator alerts on.

use std::path::Path;

use serde::{Deserialize, Serialize};
use warnkit_protocol::interval::datetime_string;
use warnkit_service::metrics::Metrics;

use crate::error::DistributionError;

pub use crate::plan::DayCount;

/// The name of the last run's record in the data directory.
pub const LAST_RUN_FILE: &str = "distribution-last-run.json";

/// What a run did. Every field has a default, so a record written by an older release still reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunReport {
    /// False when another copy held the lock and this run did nothing.
    pub ran: bool,
    /// Real keys in the published files (the ended days' daily files and the current day's hourly
    /// files), counted once per region they are published in.
    pub real_keys: usize,
    /// Padding keys in the published files, all regions.
    pub padding_keys: usize,
    /// Hourly archives published (all regions), whether this run wrote them or found them.
    pub hourly_files: usize,
    /// Daily archives published (all regions), whether this run wrote them or found them.
    pub daily_files: usize,
    /// The own region's daily files: real and padding keys per date, oldest first.
    pub days: Vec<DayCount>,
    /// Stored keys not publishable yet: their period (rolling period plus the expiry delay) or their
    /// hour has not ended.
    pub keys_waiting: usize,
    /// When the next waiting key may be published (RFC 3339): the end of its hour. `None` when none
    /// waits.
    pub waiting_until: Option<String>,
    /// Files written (new or changed).
    pub files_written: usize,
    /// Files that were already published with the same bytes.
    pub files_unchanged: usize,
    /// Archives already published, left as they are: a published archive never changes, so it is
    /// not built again (even when the current settings, a padding minimum or a signing key, would
    /// give other bytes). The key counts above are those of the current settings.
    pub archives_kept: usize,
    /// Expired files removed.
    pub files_deleted: usize,
    /// Stored keys deleted by the key store's retention job run just before this run (`warnkit
    /// distribute` runs it; the job itself deletes no keys, so a scheduled run reports 0).
    pub keys_deleted: u64,
    /// True when the run acted earlier than the newest published file and went ahead only because
    /// it was forced (`--force-rewind`).
    pub rewound: bool,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Bytes of the key archives this run built (daily and hourly; not those already published).
    pub archive_bytes: usize,
    /// Keys in the key archives this run built (daily and hourly, padding included).
    pub archive_keys: usize,
}

/// The record of the last run that took the lock, ok or failed: `DATA_DIR/distribution-last-run.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastRun {
    /// When the run started (RFC 3339, the real clock).
    pub started_at: String,
    /// When it finished (RFC 3339, the real clock).
    pub finished_at: String,
    /// The time the run acted as (RFC 3339): the real clock, or `warnkit distribute --now`.
    pub clock: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Why it failed, the whole cause chain on one line.
    pub error: Option<String>,
    /// What it did; for a failed run only its duration.
    pub report: RunReport,
}

impl LastRun {
    /// The record of a run that started at `started_at` (Unix seconds), acted as `clock` and ended now.
    pub fn new(started_at: i64, clock: i64, result: &Result<RunReport, DistributionError>) -> Self {
        let (ok, error, report) = match result {
            Ok(report) => (true, None, report.clone()),
            Err(err) => (false, Some(err.chain()), RunReport::default()),
        };
        Self {
            started_at: datetime_string(started_at),
            finished_at: datetime_string(warnkit_store::unix_now()),
            clock: datetime_string(clock),
            ok,
            error,
            report,
        }
    }

    /// Writes the record to `path`, owner-only and atomically: a reader sees the old one or the new.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        warnkit_store::owner_only::write(path, &json)
    }

    /// The record at `path`; `None` when no run has written one yet.
    pub fn read(path: &Path) -> anyhow::Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!("{} is not a distribution run record: {e}", path.display())
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
        }
    }
}

/// Counter: runs that took the lock, finished or failed.
pub const RUNS_TOTAL: &str = "distribution_runs_total";
/// Counter: runs that failed.
pub const RUN_FAILURES_TOTAL: &str = "distribution_run_failures_total";
/// Gauge: seconds the last run took.
pub const LAST_RUN_SECONDS: &str = "distribution_last_run_seconds";
/// Gauge: Unix time the last successful run finished (the real clock).
pub const LAST_SUCCESS_TIMESTAMP: &str = "distribution_last_success_timestamp_seconds";
/// Gauge: files the last successful run wrote.
pub const LAST_FILES_WRITTEN: &str = "distribution_last_files_written";
/// Gauge: real keys published after the last successful run, once per region.
pub const PUBLISHED_KEYS: &str = "distribution_published_keys";
/// Gauge: stored keys waiting for a later period after the last successful run.
pub const KEYS_WAITING: &str = "distribution_keys_waiting";

/// Registers the run counters at 0, so an alert on their rate sees them before the first run.
pub(crate) fn register(metrics: &Metrics) {
    metrics.add(RUNS_TOTAL, RUNS_HELP, 0);
    metrics.add(RUN_FAILURES_TOTAL, FAILURES_HELP, 0);
}

const RUNS_HELP: &str = "Distribution runs that took the lock, finished or failed.";
const FAILURES_HELP: &str = "Distribution runs that failed.";

/// Records one run (not one skipped for the lock) that took `seconds`.
pub(crate) fn observe(
    metrics: &Metrics,
    result: &Result<RunReport, DistributionError>,
    seconds: f64,
) {
    metrics.add(RUNS_TOTAL, RUNS_HELP, 1);
    metrics.set(
        LAST_RUN_SECONDS,
        "Seconds the last distribution run took.",
        seconds,
    );
    let report = match result {
        Ok(report) => report,
        Err(_) => {
            metrics.add(RUN_FAILURES_TOTAL, FAILURES_HELP, 1);
            return;
        }
    };
    metrics.set(
        LAST_SUCCESS_TIMESTAMP,
        "Unix time the last successful distribution run finished.",
        warnkit_store::unix_now() as f64,
    );
    metrics.set(
        LAST_FILES_WRITTEN,
        "Files the last successful distribution run wrote.",
        report.files_written as f64,
    );
    metrics.set(
        PUBLISHED_KEYS,
        "Real keys in the published files after the last successful run, once per region.",
        report.real_keys as f64,
    );
    metrics.set(
        KEYS_WAITING,
        "Stored keys waiting for their period to end, as of the last successful run.",
        report.keys_waiting as f64,
    );
}
