//! `warnkit status`: what runs on a data directory and what it has done, for an operator or a script.
//! The flags and the report for people; what is gathered is the node crate's (`warnkit_node::status`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use warnkit_node::instance::holder_pid;
use warnkit_node::status::{gather, wait_until_up, ServiceStatus, Status};

use crate::config::{Config, ConfigArgs};

/// Arguments of `warnkit status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Print one JSON object (the fields are stable; absent facts are null or empty lists).
    #[arg(long)]
    json: bool,
    /// Wait up to SECS seconds for a server to come up (every listener in `endpoints.json` answering
    /// `/health`) before reporting; fails when it does not. For scripts that start `warnkit serve &`.
    #[arg(long, value_name = "SECS")]
    wait: Option<u64>,
}

/// Runs `warnkit status`.
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    if let Some(secs) = args.wait {
        super::block_on(wait_until_up(&config, Duration::from_secs(secs)))?;
    }
    if !config.data_dir.is_dir() {
        bail!(
            "data directory {} does not exist: nothing has run there (give the one `warnkit serve` uses \
             with --data-dir or the configuration's data_dir)",
            config.data_dir.display()
        );
    }
    let status = super::block_on(gather(&config))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", human(&status));
    }
    Ok(ExitCode::SUCCESS)
}

/// The report for a person: one section per question.
fn human(s: &Status) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let on_off = |st: &ServiceStatus| match &st.holder {
        Some(holder) => match holder_pid(holder) {
            Some(pid) => format!("running (pid {pid})"),
            None => "running".to_owned(),
        },
        None => "stopped".to_owned(),
    };
    let everything = || s.services.iter().chain([&s.distribution_schedule]);
    // Writing to a String cannot fail.
    let _ = writeln!(out, "data directory {}", s.data_dir);
    let _ = writeln!(out, "\nprocesses");
    let mut holders: Vec<&str> = Vec::new();
    for holder in everything().filter_map(|st| st.holder.as_deref()) {
        if !holders.contains(&holder) {
            holders.push(holder);
        }
    }
    if holders.is_empty() {
        let _ = writeln!(out, "  none: no warnkit serve runs here");
    }
    for holder in holders {
        let _ = writeln!(out, "  {holder}");
    }
    let _ = writeln!(out, "\nservices");
    for st in everything() {
        let _ = writeln!(out, "  {:<22} {}", st.name, on_off(st));
    }
    let _ = writeln!(out, "\nlisteners (endpoints.json)");
    if s.listeners.is_empty() {
        let _ = writeln!(out, "  none: no endpoints.json, nothing serves here");
    }
    for l in &s.listeners {
        let _ = writeln!(out, "  {:<22} {:<28} {}", l.name, l.url, l.health);
    }
    let _ = writeln!(out, "\nlast distribution run");
    match &s.last_run {
        None => {
            let _ = writeln!(out, "  no run recorded");
        }
        Some(run) => {
            let unknown = || "?".to_owned();
            let outcome = match (run.ok, &run.error) {
                (Some(true), _) => "succeeded".to_owned(),
                (_, Some(error)) => format!("FAILED: {error}"),
                _ => "failed".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {outcome}, started {}, finished {}, acting as {}",
                run.started_at.clone().unwrap_or_else(unknown),
                run.finished_at.clone().unwrap_or_else(unknown),
                run.clock.clone().unwrap_or_else(unknown)
            );
            let count = |n: Option<u64>| n.map_or_else(unknown, |n| n.to_string());
            let _ = writeln!(
                out,
                "  {} hourly and {} daily files, {} real and {} padding keys",
                count(run.hourly_files),
                count(run.daily_files),
                count(run.real_keys),
                count(run.padding_keys)
            );
        }
    }
    let _ = writeln!(
        out,
        "\nkeys stored per submission day ({} in all)",
        s.keys_stored_total
    );
    if let Some(error) = &s.key_store_error {
        let _ = writeln!(out, "  key store unreadable: {error}");
    }
    for d in &s.keys_stored {
        let _ = writeln!(out, "  {}  {}", d.date, d.keys);
    }
    let _ = writeln!(out, "\nkeys published per day (last run)");
    for d in &s.keys_published {
        let _ = writeln!(
            out,
            "  {}  {} real, {} padding",
            d.date, d.real_keys, d.padding_keys
        );
    }
    let _ = writeln!(out, "\nwaiting for a later run");
    match (s.waiting.keys, &s.waiting.until) {
        (Some(0), _) => {
            let _ = writeln!(out, "  nothing");
        }
        (Some(n), Some(until)) => {
            let _ = writeln!(out, "  {n} keys, the next publishable at {until}");
        }
        (Some(n), None) => {
            let _ = writeln!(out, "  {n} keys");
        }
        (None, _) => {
            let _ = writeln!(out, "  not recorded");
        }
    }
    out
}
