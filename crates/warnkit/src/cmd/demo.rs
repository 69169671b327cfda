//! `warnkit demo`: N simulated phones live D days against the real backend services (the simulation is
//! the demo crate's, `warnkit_demo::simulate`). With `--countries DE,FR` every country gets its own
//! backend, a federation gateway joins them, and travellers carry exposures across borders.
//!
//! This file keeps the arguments, their conversion into the demo's options, the progress and endpoints
//! shown while it runs, and the printing of its summary; the demo crate prints nothing.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use warnkit_app::{Endpoints, RiskModel};
use warnkit_demo::{
    series, CountriesSummary, Observer, Options, RemoteOptions, ServerSpec, Summary,
    COMBINED_REGION, HOME_COUNTRY,
};

use crate::cmd::progress::Progress;

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
    /// Every phone downloads every file from the distribution service and matches every key itself.
    /// By default the phones share an edge cache in front of the distribution (purged whenever it
    /// publishes) and a record of who heard whom, so each phone matches only the keys of people it
    /// met: the same results, at a cost that grows with the contacts instead of phones × keys.
    #[arg(long)]
    pub per_phone: bool,
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
    /// Write the run day by day to `DIR/demo-days.csv`: new positives, uploads, phones warned, truly
    /// exposed, true and false warnings, missed exposures, requests and bytes downloaded.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<std::path::PathBuf>,
    /// Draw the run day by day into `DIR/demo-days.png` and `.svg`.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<std::path::PathBuf>,
}

/// The risk model, as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RiskArg {
    /// Risk v1 with the downloaded app configuration.
    V1,
    /// Risk v2 (exposure windows) with the downloaded v2 configuration.
    V2,
}

/// Runs `warnkit demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.phones >= 2, "--phones must be at least 2");
    anyhow::ensure!((1..=14).contains(&args.days), "--days must be 1..=14");
    let countries = match &args.countries {
        Some(codes) => parse_countries(codes)?,
        None => vec![HOME_COUNTRY.to_owned()],
    };
    let server = match &args.server {
        Some(server) => Some((ServerSpec::parse(server)?, remote_options(&args)?)),
        None => None,
    };
    let options = Options {
        phones: args.phones,
        days: args.days,
        seed: args.seed,
        positive_rate: args.positive_rate,
        negative_rate: args.negative_rate,
        share_rate: args.share_rate,
        fake_rate: args.fake_rate,
        risk: match args.risk {
            RiskArg::V1 => RiskModel::V1,
            RiskArg::V2 => RiskModel::V2,
        },
        countries,
        federation_rate: args.federation_rate,
        travel_rate: args.travel_rate,
        home_region_only: args.home_region_only,
        data_dir: args.data_dir.clone(),
        server,
        per_phone: args.per_phone,
        series: args.csv.is_some() || args.plots.is_some(),
    };
    let mut shown = Shown {
        json: args.json,
        endpoints: !args.json && std::io::stderr().is_terminal(),
        progress: None,
    };
    let summary = super::block_on_threads(warnkit_demo::simulate(&options, &mut shown))?;
    write_days(&args, &summary)?;
    match (args.json, args.countries.is_some()) {
        (true, true) => println!("{}", serde_json::to_string_pretty(&summary)?),
        (true, false) => println!("{}", serde_json::to_string_pretty(&summary.total)?),
        (false, true) => print_countries(&summary),
        (false, false) => print_summary(&summary.total),
    }
    Ok(ExitCode::SUCCESS)
}

/// The day-by-day series, where `--csv` and `--plots` ask for them.
fn write_days(args: &DemoArgs, summary: &CountriesSummary) -> anyhow::Result<()> {
    let create = |dir: &std::path::Path| {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
    };
    let mut written = Vec::new();
    if let Some(dir) = &args.csv {
        create(dir)?;
        let path = dir.join("demo-days.csv");
        std::fs::write(&path, series::csv(&summary.by_day))
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    if let Some(dir) = &args.plots {
        create(dir)?;
        let chart = series::chart(&summary.by_day, summary.total.phones);
        written.extend(warnkit_sim::plot::render(&chart, &dir.join("demo-days"))?);
    }
    if !args.json {
        for path in written {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// What `--server` needs besides the URLs: `--demo-token` and the key of `--public-key`.
fn remote_options(args: &DemoArgs) -> anyhow::Result<RemoteOptions> {
    Ok(RemoteOptions {
        token: args.demo_token.clone(),
        public_key_pem: match &args.public_key {
            Some(p) => Some(
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            ),
            None => None,
        },
    })
}

/// Parses `--countries`: two or more distinct two-letter uppercase codes, in the given order.
pub fn parse_countries(value: &str) -> anyhow::Result<Vec<String>> {
    let mut codes: Vec<String> = Vec::new();
    for code in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        anyhow::ensure!(
            code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
            "--countries: {code:?} is not a two-letter uppercase country code (e.g. DE)"
        );
        anyhow::ensure!(
            !codes.iter().any(|c| c == code),
            "--countries: {code} is named twice"
        );
        anyhow::ensure!(
            !code.eq_ignore_ascii_case(COMBINED_REGION),
            "--countries: {code} is the combined region's name"
        );
        codes.push(code.to_owned());
    }
    anyhow::ensure!(
        codes.len() >= 2,
        "--countries needs at least two codes, e.g. DE,FR (one country: leave --countries out)"
    );
    Ok(codes)
}

/// How the command shows a running simulation: the backends' endpoints (several countries, on a
/// terminal) and a progress bar in simulated hours (quiet with `--json`).
struct Shown {
    json: bool,
    endpoints: bool,
    progress: Option<Progress>,
}

impl Observer for Shown {
    fn started(&mut self, lands: &[(&str, &Endpoints)], gateway_url: Option<&str>) {
        let Some(gateway_url) = gateway_url.filter(|_| self.endpoints) else {
            return;
        };
        let codes: Vec<&str> = lands.iter().map(|(code, _)| *code).collect();
        eprintln!("gateway  {gateway_url}  (members {})", codes.join(", "));
        for (code, e) in lands {
            eprintln!(
                "{code}       distribution {}  submission {}  (regions {code}, {COMBINED_REGION})",
                e.distribution, e.submission
            );
        }
    }

    fn hours(&mut self, hours: u64) {
        self.progress = Some(Progress::new("demo", "simulated hours", hours, self.json));
    }

    fn hour_done(&mut self) {
        if let Some(p) = &self.progress {
            p.inc(1);
        }
    }

    fn finished(&mut self) {
        if let Some(p) = &self.progress {
            p.finish_and_clear();
        }
    }
}

/// Prints the summary of one country.
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
        "  at the distribution {:>5} downloads (the rest from the phones' shared edge cache)",
        s.origin_requests
    );
    println!(
        "  checks            {} keys downloaded twice, {} archives rejected",
        s.duplicate_keys, s.rejected_archives
    );
}

/// Prints the cross-border summary: a line per country and the totals, then the federation.
fn print_countries(s: &CountriesSummary) {
    let t = &s.total;
    println!(
        "{} countries ({}), {} phones, {} days, {:.1} s",
        s.countries.len(),
        s.countries.keys().cloned().collect::<Vec<_>>().join(", "),
        t.phones,
        t.days,
        t.seconds
    );
    println!(
        "           {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9}",
        "phones", "posit.", "exposed", "warned", "true", "false", "missed", "requests", "MB"
    );
    let row = |name: &str, f: &Summary| {
        println!(
            "  {name:<8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9.1}",
            f.phones,
            f.positives,
            f.truly_exposed,
            f.warned,
            f.true_warnings,
            f.false_warnings,
            f.missed,
            f.requests,
            f.bytes_downloaded as f64 / 1e6
        );
    };
    for (code, c) in &s.countries {
        row(code, &c.figures);
    }
    row("all", t);
    let cb = &s.cross_border;
    println!(
        "  across borders: {} trips abroad; {} phones exposed by a visitor whose keys came through the \
         gateway, {} of them warned",
        cb.trips, cb.cross_border_exposed, cb.cross_border_true_warnings
    );
    println!(
        "  legitimately missed: {} by a foreign positive without consent to federation ({} positives \
         shared without consent), {} by a foreign positive who never visited the phone's country",
        cb.missed_abroad_without_consent, cb.not_consenting, cb.missed_abroad_not_visited
    );
    for (code, c) in &s.countries {
        let f = &c.cross_border;
        println!(
            "  federation {code}: uploaded {} batches ({} keys), downloaded {} batches ({} keys), \
             {} rejected",
            f.federation_batches_uploaded,
            f.federation_keys_uploaded,
            f.federation_batches_downloaded,
            f.federation_keys_downloaded,
            f.federation_batches_rejected
        );
    }
    println!(
        "  checks: {} keys downloaded twice, {} keys without consent abroad (of {}), {} archives \
         rejected",
        t.duplicate_keys, cb.unconsented_keys_abroad, cb.keys_without_consent, t.rejected_archives
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_lists() {
        assert_eq!(parse_countries("DE,FR").unwrap(), ["DE", "FR"]);
        assert_eq!(parse_countries(" FR , DE ,IT").unwrap(), ["FR", "DE", "IT"]);
        for bad in ["DE", "DE,DE", "de,FR", "DEU,FR", "DE,F1", ""] {
            assert!(parse_countries(bad).is_err(), "{bad}");
        }
    }
}
