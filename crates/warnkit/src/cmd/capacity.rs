//! `warnkit capacity`: the seeds' bandwidth and request estimate, recomputed from real signed export
//! archives and real phones' requests (`warnkit_experiments::capacity`); this module reads the
//! arguments and prints the figures.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use warnkit_experiments::capacity::{self, CapacityOptions, CapacityReport};

use super::sim::StderrProgress;

/// Arguments of `warnkit capacity`. The defaults are the seeds' inputs.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// Active clients downloading every chunk (the seeds compute with 30 million, while sizing for up to
    /// 60 million users).
    #[arg(long, default_value_t = 30_000_000)]
    users: u64,
    /// New positive cases uploading keys per day.
    #[arg(long, default_value_t = 2_000)]
    cases_per_day: u64,
    /// Keys per upload (one per day of the last 14).
    #[arg(long, default_value_t = 14)]
    keys_per_case: u64,
    /// Transmission overhead as a fraction of the payload (headers, handshakes, failed downloads; 1 = 100 %).
    #[arg(long, default_value_t = 1.0)]
    overhead: f64,
    /// Files (and download runs) per day; 24 = hourly.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    chunks_per_day: u32,
    /// Seconds over which clients would start if they did not jitter (for the comparison peak).
    #[arg(long, default_value_t = 60)]
    unjittered_spread: u32,
    /// Seed of the random keys, signing key and schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the requests-per-second plot (PNG and SVG) into this directory.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `capacity`.
pub fn run(args: CapacityArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.overhead >= 0.0 && args.overhead.is_finite(),
        "--overhead must be a non-negative number"
    );
    let opts = CapacityOptions {
        users: args.users,
        cases_per_day: args.cases_per_day,
        keys_per_case: args.keys_per_case,
        overhead: args.overhead,
        chunks_per_day: args.chunks_per_day,
        unjittered_spread: args.unjittered_spread,
        seed: args.seed,
    };
    let result = capacity::run(&opts, &mut StderrProgress::new(args.json))?;
    if let Some(dir) = &args.plots {
        for f in result.write_plot(dir)? {
            if !args.json {
                eprintln!("wrote {}", f.display());
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result.report)?);
    } else {
        print_report(&result.report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &CapacityReport) {
    println!(
        "{} clients, {} cases/day × {} keys, {} chunks/day, overhead {:.0} %",
        r.users,
        r.cases_per_day,
        r.keys_per_day / r.cases_per_day.max(1),
        r.chunks_per_day,
        r.overhead * 100.0
    );
    println!(
        "signed archives per day      {:>14} bytes ({:.1} bytes/key compressed, {:.1} uncompressed; files {}–{} bytes)",
        r.archive_bytes_per_day,
        r.archive_bytes_per_key,
        r.uncompressed_bytes_per_key,
        r.archive_bytes_min,
        r.archive_bytes_max
    );
    println!(
        "bytes per client per day     {:>14.0} ({:.2} MB)",
        r.bytes_per_client_per_day,
        r.bytes_per_client_per_day / 1e6
    );
    println!(
        "bytes per day                {:>14.4e} ({:.1} TB = {:.1} TiB)",
        r.bytes_per_day, r.terabytes_per_day, r.tebibytes_per_day
    );
    println!(
        "sessions per day             {:>14} (download sessions, the seeds' measure: clients × chunks)",
        r.sessions_per_day
    );
    println!(
        "sessions per second          {:>14.0} mean, {} peak (jittered), {} without jitter",
        r.sessions_per_second,
        r.peak_sessions_per_second,
        r.peak_sessions_per_second_without_jitter
    );
    let m = &r.measured;
    println!(
        "requests per day             {:>14} (HTTP: {:.2} per phone per day, {:.2} per session)",
        r.requests_per_day, m.requests_per_phone_per_day, r.requests_per_session
    );
    println!(
        "requests per second (mean)   {:>14.0}",
        r.requests_per_second
    );
    println!(
        "peak requests per second     {:>14} (jittered schedule)",
        r.peak_requests_per_second
    );
    println!(
        "peak without jitter          {:>14} (all clients within the first {} s of a chunk)",
        r.peak_requests_per_second_without_jitter, r.unjittered_spread_s
    );
    println!(
        "first sync of a new phone    {:>14} requests for {} files",
        m.first_sync_requests, m.first_sync_files
    );
    println!(
        "measured                     {:>14} phones × {} day{} against published files ({:.1} syncs, {:.1} files per phone per day)",
        m.phones,
        m.days,
        if m.days == 1 { "" } else { "s" },
        m.syncs_per_phone_per_day,
        m.files_per_phone_per_day
    );
}
