//! `warnkit demo`: N simulated phones live D days against the real backend services. Households,
//! workplaces and buses bring people together, some test positive (a lab posts the result) and upload
//! their keys, distribution runs every simulated hour, every phone downloads, matches and scores; the
//! summary compares who was warned with who was really exposed. With `--countries DE,FR` every country
//! gets its own backend, a federation gateway joins them, and travellers carry exposures across borders
//! (`countries`).

mod backend;
mod clock;
mod countries;
mod run;
mod world;

pub use clock::serve_demo_clock;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

/// Arguments of `warnkit demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Phones (people) to simulate.
    #[arg(long, default_value_t = 200)]
    pub phones: usize,
    /// Days to simulate (the phones then sync once more the next morning).
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Seed of every random choice: the same seed gives the same world.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the figures as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Share of people who test positive during the demo.
    #[arg(long, default_value_t = 0.05)]
    pub positive_rate: f64,
    /// Share of people who test negative.
    #[arg(long, default_value_t = 0.03)]
    pub negative_rate: f64,
    /// Share of positives who agree to upload their keys.
    #[arg(long, default_value_t = 0.8)]
    pub share_rate: f64,
    /// Fake upload sessions per phone and day (plausible deniability traffic).
    #[arg(long, default_value_t = 0.05)]
    pub fake_rate: f64,
    /// Risk calculation on the phones: v2 (exposure windows, the v2 configuration) as the current
    /// original app, or v1.
    #[arg(long, value_enum, default_value = "v2")]
    pub risk: RiskArg,
    /// Run several countries, each with its own backend, joined by a federation gateway, e.g.
    /// `DE,FR`: `--phones` phones live in each, some travel to the others.
    #[arg(long, value_name = "CODES", conflicts_with = "server")]
    pub countries: Option<String>,
    /// With `--countries`: share of people who consent to sharing their keys with other countries.
    #[arg(long, default_value_t = 0.8, requires = "countries")]
    pub federation_rate: f64,
    /// With `--countries`: chance that a person spends a given day in another country.
    #[arg(long, default_value_t = 0.1, requires = "countries")]
    pub travel_rate: f64,
    /// With `--countries`: phones download their home region only, not also the combined region
    /// (`EUR`), so travellers miss positives met abroad who did not visit their country.
    #[arg(long, requires = "countries")]
    pub home_region_only: bool,
    /// Keep the backend's data directory here instead of a temporary one.
    #[arg(long, conflicts_with = "server")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Run against a `warnkit serve --demo-clock` instead of starting the services: its data
    /// directory (or `endpoints.json`), or `distribution=URL,submission=URL,verification=URL,
    /// testresult=URL,demo_clock=URL`. Use a fresh server for each run: its clock cannot go back.
    #[arg(long, value_name = "DIR|FILE|NAME=URL,...")]
    pub server: Option<String>,
    /// With `--server` URLs: the server's service token (else read from its data directory).
    #[arg(long, requires = "server", value_name = "TOKEN")]
    pub demo_token: Option<String>,
    /// With `--server` URLs: the server's public signing key, PEM (else read from its data directory).
    #[arg(long, requires = "server", value_name = "FILE")]
    pub public_key: Option<std::path::PathBuf>,
}

/// The risk model, as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RiskArg {
    /// Risk v1 with the downloaded app configuration.
    V1,
    /// Risk v2 (exposure windows) with the downloaded v2 configuration.
    V2,
}

/// The demo's figures; `--json` prints them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Phones simulated.
    pub phones: usize,
    /// Days simulated.
    pub days: u32,
    /// People who tested positive.
    pub positives: usize,
    /// Positives who agreed to upload.
    pub sharing_positives: usize,
    /// Uploads accepted (first and day-after uploads).
    pub uploads: u64,
    /// Uploads refused.
    pub uploads_failed: u64,
    /// Fake uploads sent.
    pub fake_uploads: u64,
    /// Background actions of phones (polls, uploads, fake requests) that failed (should be 0).
    pub phone_errors: u64,
    /// Phones showing increased risk at the end.
    pub warned: usize,
    /// Phones truly exposed (ground truth).
    pub truly_exposed: usize,
    /// Warned and truly exposed.
    pub true_warnings: usize,
    /// Warned but not truly exposed.
    pub false_warnings: usize,
    /// Truly exposed but not warned.
    pub missed: usize,
    /// Truly exposed by a positive who did upload, but not warned.
    pub missed_despite_upload: usize,
    /// Warned without any contact to a positive (must be 0).
    pub warned_without_contact: usize,
    /// HTTP requests of all phones and the lab.
    pub requests: u64,
    /// Bytes the phones downloaded from the distribution service.
    pub bytes_downloaded: u64,
    /// Archives the phones downloaded.
    pub files_downloaded: u64,
    /// Keys that a phone downloaded a second time (must be 0).
    pub duplicate_keys: u64,
    /// Archives rejected by a phone (bad signature, unreadable).
    pub rejected_archives: u64,
    /// Download runs that did not complete at the first attempt.
    pub failed_syncs: u64,
    /// Distribution runs.
    pub distribution_runs: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Runs `warnkit demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.phones >= 2, "--phones must be at least 2");
    anyhow::ensure!((1..=14).contains(&args.days), "--days must be 1..=14");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let show_progress = !args.json && std::io::stderr().is_terminal();
    if let Some(codes) = &args.countries {
        let codes = countries::parse_countries(codes)?;
        let summary = runtime.block_on(countries::simulate(&args, &codes, show_progress))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            countries::print(&summary);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let summary = runtime.block_on(run::simulate(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(s: &Summary) {
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    println!("{} phones, {} days, {:.1} s", s.phones, s.days, s.seconds);
    println!(
        "  tested positive   {:>7}  ({} shared their keys; {} uploads accepted, {} refused)",
        s.positives, s.sharing_positives, s.uploads, s.uploads_failed
    );
    println!(
        "  truly exposed     {:>7}  (15 close minutes with an infectious positive)",
        s.truly_exposed
    );
    println!("  warned            {:>7}", s.warned);
    println!(
        "    true warnings   {:>7}  ({:.0}% of the truly exposed)",
        s.true_warnings,
        pct(s.true_warnings, s.truly_exposed)
    );
    println!("    false warnings  {:>7}", s.false_warnings);
    println!(
        "  missed            {:>7}  ({} of them by a positive who did upload)",
        s.missed, s.missed_despite_upload
    );
    println!(
        "  traffic           {:>7} requests, {:.1} MB downloaded in {} archives, {} fake uploads",
        s.requests,
        s.bytes_downloaded as f64 / 1e6,
        s.files_downloaded,
        s.fake_uploads
    );
    println!(
        "  checks            {} keys downloaded twice, {} archives rejected",
        s.duplicate_keys, s.rejected_archives
    );
}
