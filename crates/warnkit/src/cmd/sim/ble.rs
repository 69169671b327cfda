//! `warnkit sim ble`: a scenario or a single encounter, many runs at random phases of the scan schedule.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, ValueEnum};
use warnkit_experiments::ble::{self, BleOptions, BleReport, EncounterReport};
use warnkit_experiments::risk::{load_params, RiskModel};
use warnkit_sim::scenario::Obstruction;
use warnkit_sim::timing::TimingOverrides;
use warnkit_sim::Scenario;

use super::{cell, StderrProgress};

/// Arguments of `warnkit sim ble`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["scenario", "duration"])))]
pub struct BleArgs {
    /// A shipped scenario (seed-figure, supermarket, close-contact, train, neighbours) or a scenario TOML file.
    #[arg(long, conflicts_with_all = ["duration", "distance"])]
    scenario: Option<String>,
    /// Single encounter: its duration in seconds.
    #[arg(long, requires = "distance")]
    duration: Option<f64>,
    /// Single encounter: the distance in metres.
    #[arg(long, requires = "duration")]
    distance: Option<f64>,
    /// Single encounter: what stands between the phones.
    #[arg(long, value_enum, default_value_t = ObstructionArg::None)]
    obstruction: ObstructionArg,
    /// Radio model parameters (TOML); unset fields keep the documented defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Longest start-to-start period of scan windows in seconds; the shortest is 70 % of it (Google's
    /// 300 s − 90 s), or exactly it with --fixed-timing (default there: the figure's 300 s).
    #[arg(long)]
    window_period: Option<f64>,
    /// Length of a scan window in seconds (default with --fixed-timing: the figure's 2 s).
    #[arg(long)]
    window_length: Option<f64>,
    /// The seeds' Figure 14 timing: an advertisement exactly every 250 ms, 2-second windows exactly
    /// every 300 s (unless --window-period or --window-length say otherwise), no shadowing, fading or
    /// packet loss. Phases stay random unless --aligned.
    #[arg(long)]
    fixed_timing: bool,
    /// Put the first scan window, advertisement and RPI change at time 0 instead of random phases; with
    /// --fixed-timing nothing is left to chance, so one run is made (replays the figure).
    #[arg(long)]
    aligned: bool,
    /// Number of runs, each at new random phases.
    #[arg(long, default_value_t = 10_000)]
    runs: u64,
    /// Seed of the random number generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// v2 risk calculation parameters (JSON) to score with; default: the original app's bundled ones.
    #[arg(long)]
    risk_config: Option<PathBuf>,
    /// Transmission risk level (1–8) of the other person's keys, for risk scoring.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=8))]
    trl: u8,
    /// Write plots (PNG and SVG) into this directory.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Obstruction choices on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ObstructionArg {
    None,
    Body,
    Seat,
    Wall,
}

impl From<ObstructionArg> for Obstruction {
    fn from(o: ObstructionArg) -> Self {
        match o {
            ObstructionArg::None => Self::None,
            ObstructionArg::Body => Self::Body,
            ObstructionArg::Seat => Self::Seat,
            ObstructionArg::Wall => Self::Wall,
        }
    }
}

/// Runs `sim ble`.
pub fn run(args: BleArgs) -> anyhow::Result<ExitCode> {
    let base = super::radio_config(args.config.as_deref())?;
    let cfg = TimingOverrides {
        window_period_s: args.window_period,
        window_length_s: args.window_length,
        fixed: args.fixed_timing,
    }
    .apply(base)?;
    let single = args.scenario.is_none();
    let scenario = match (&args.scenario, args.duration, args.distance) {
        (Some(name), _, _) => super::scenario(name)?,
        (None, Some(duration), Some(distance)) => {
            let mut s = Scenario::single(duration, distance)?;
            s.encounters[0].obstruction = args.obstruction.into();
            s
        }
        // clap's group and `requires` make this unreachable; say so rather than panic.
        _ => anyhow::bail!("give --scenario, or --duration and --distance"),
    };
    let mut model = RiskModel::cwa_default(args.trl);
    model.v2 = load_params(args.risk_config.as_deref())?;
    let opts = BleOptions {
        radio: cfg,
        scenario,
        single,
        fixed_timing: args.fixed_timing,
        aligned: args.aligned,
        runs: args.runs,
        seed: args.seed,
        model,
        plots: args.plots.clone(),
    };
    if args.fixed_timing && !args.aligned && !single && !args.json {
        eprintln!(
            "note: fixed timing at random phases: each run puts the windows at a random offset, so \
             an encounter is detected in a share of runs; add --aligned for the figure's own run \
             (first window at 0 s)"
        );
    }
    let outcome = ble::run(&opts, &mut StderrProgress::new(args.json))?;
    if !args.json {
        for path in &outcome.plots {
            eprintln!("wrote {}", path.display());
        }
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome.report)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_header(&opts, &args);
    match &outcome.report {
        BleReport::Single(report) => {
            print_table(std::slice::from_ref(&report.encounter));
            if let Some(p) = report.closed_form_probability {
                println!("closed form (d + w) / T = {p:.4} (fixed timing, no loss, within range)");
            }
        }
        BleReport::Scenario(report) => print_table(&report.encounters),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_header(opts: &BleOptions, args: &BleArgs) {
    let (scenario, cfg) = (&opts.scenario, &opts.radio);
    let s = &cfg.scanning;
    let a = &cfg.advertising;
    println!("scenario {}: {}", scenario.name, scenario.description);
    println!(
        "{} run{}, seed {}; scan windows {} s every {}–{} s; advertising every {}–{} ms; {} phases; TRL {}",
        opts.effective_runs(),
        if opts.effective_runs() == 1 { "" } else { "s" },
        args.seed,
        s.window_s,
        s.period_min_s,
        s.period_max_s,
        a.interval_min_ms,
        a.interval_max_ms,
        if args.aligned { "aligned" } else { "random" },
        args.trl,
    );
}

fn print_table(encounters: &[EncounterReport]) {
    println!(
        "{:<42} {:>9} {:>6} {:>7} {:>21} {:>8} {:>7} {:>8} {:>7}",
        "encounter",
        "P(detect)",
        "scans",
        "min dB",
        "minutes <55/55-63/63+",
        "v1 score",
        "v1 warn",
        "v2 time",
        "v2 warn"
    );
    for e in encounters {
        let [a, b, c] = e.bucket_minutes;
        println!(
            "{:<42} {:>9.3} {:>6.2} {:>7} {:>21} {:>8.2} {:>7.3} {:>8.2} {:>7.3}",
            truncate(&e.label, 42),
            e.detection_probability,
            e.mean_scans,
            cell(e.mean_min_attenuation_db, 1),
            format!("{a:.1} / {b:.1} / {c:.1}"),
            e.v1_mean_combined_risk_score,
            e.v1_increased_risk_probability,
            e.v2_mean_normalized_time,
            e.v2_high_risk_probability,
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}
