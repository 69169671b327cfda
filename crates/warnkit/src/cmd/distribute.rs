//! `warnkit distribute`: one run of the distribution job, for operators, tests and backfills.

use std::process::ExitCode;

use warnkit_distribution::RunReport;
use warnkit_node::distribute::{self, RunOptions};
use warnkit_protocol::interval::datetime_string;

use crate::config::{Config, ConfigArgs};

/// Arguments of `warnkit distribute`.
#[derive(Debug, clap::Args)]
pub struct DistributeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Run as if it were this time (RFC 3339, e.g. 2026-11-24T03:00:00Z), not later than the real
    /// clock; for tests and backfills.
    #[arg(long, value_name = "TIME", value_parser = super::rfc3339)]
    now: Option<i64>,
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
    let options = RunOptions {
        now: args.now,
        allow_future: args.allow_future,
        force_rewind: args.force_rewind,
    };
    let report = super::block_on_threads(distribute::run_once(&config, options))?;
    if report.rewound {
        eprintln!(
            "warning: --force-rewind: published as of {}, earlier than the newest published file; \
             files of later periods were withdrawn",
            datetime_string(args.now.unwrap_or_else(warnkit_store::unix_now))
        );
    }
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["peak_rss_bytes"] = distribute::peak_rss_bytes().into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else if !report.ran {
        println!("another distribution run holds the lock; nothing done");
    } else {
        println!("{}", summary(&report));
    }
    Ok(ExitCode::SUCCESS)
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
        n => format!(", {n} already published archives left as they are"),
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
