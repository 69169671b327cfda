//! `warnkit sim ble`: a scenario or a single encounter, many runs at random phases of the scan schedule.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, ValueEnum};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use warnkit_sim::scenario::{Distance, Obstruction};
use warnkit_sim::stats::EncounterTally;
use warnkit_sim::{Placement, RadioConfig, RunOutput, Scenario, Simulator};

use super::risk::{RiskModel, RiskOutcome};
use super::{cell, plots};
use crate::cmd::progress::Progress;

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
    /// 300 s − 90 s), or exactly it with --fixed-timing.
    #[arg(long)]
    window_period: Option<f64>,
    /// Length of a scan window in seconds.
    #[arg(long)]
    window_length: Option<f64>,
    /// The seeds' Figure 14 timing: an advertisement exactly every 250 ms, windows exactly every period,
    /// no shadowing, fading or packet loss.
    #[arg(long)]
    fixed_timing: bool,
    /// Put the first scan window, advertisement and RPI change at time 0 instead of random phases; with
    /// --fixed-timing every run is the same (replays the figure).
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

/// What many runs showed for one encounter.
#[derive(Debug, Clone, Serialize)]
pub struct EncounterReport {
    label: String,
    start_s: f64,
    duration_s: f64,
    detection_probability: f64,
    standard_error: f64,
    mean_scans: f64,
    mean_min_attenuation_db: Option<f64>,
    /// Mean minutes below, between and above the v1 attenuation thresholds.
    bucket_minutes: [f64; 3],
    v1_mean_combined_risk_score: f64,
    v1_increased_risk_probability: f64,
    v2_mean_normalized_time: f64,
    v2_high_risk_probability: f64,
}

#[derive(Debug, Serialize)]
struct ScenarioReport {
    scenario: String,
    description: String,
    runs: u64,
    seed: u64,
    fixed_timing: bool,
    aligned: bool,
    thresholds_db: [u8; 2],
    transmission_risk_level: u8,
    radio: RadioConfig,
    encounters: Vec<EncounterReport>,
}

#[derive(Debug, Serialize)]
struct SingleReport {
    #[serde(flatten)]
    encounter: EncounterReport,
    distance_m: f64,
    window_period_min_s: f64,
    window_period_max_s: f64,
    window_length_s: f64,
    fixed_timing: bool,
    /// (d + w) / T, capped at 1: exact for fixed timing without loss inside the radio range.
    #[serde(skip_serializing_if = "Option::is_none")]
    closed_form_probability: Option<f64>,
    runs: u64,
    seed: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct RiskTally {
    v1_score_sum: f64,
    v1_increased: u64,
    v2_time_sum: f64,
    v2_high: u64,
}

impl RiskTally {
    fn add(&mut self, r: RiskOutcome) {
        self.v1_score_sum += r.v1_score;
        self.v1_increased += u64::from(r.v1_increased);
        self.v2_time_sum += r.v2_normalized_time;
        self.v2_high += u64::from(r.v2_high);
    }
}

/// The radio configuration after the command-line overrides.
pub fn configure(
    base: RadioConfig,
    window_period: Option<f64>,
    window_length: Option<f64>,
    fixed_timing: bool,
) -> anyhow::Result<RadioConfig> {
    let mut cfg = base;
    if let Some(w) = window_length {
        cfg.scanning.window_s = w;
    }
    if fixed_timing {
        let period = window_period.unwrap_or(cfg.scanning.period_max_s);
        cfg = RadioConfig {
            channel: cfg.channel,
            ..RadioConfig::fixed(0.25, period, cfg.scanning.window_s)
        };
        cfg.channel.shadowing_sigma_db = 0.0;
        cfg.channel.fading_sigma_db = 0.0;
        cfg.channel.packet_loss = 0.0;
    } else if let Some(p) = window_period {
        cfg.scanning.period_max_s = p;
        cfg.scanning.period_min_s = (0.7 * p).max(cfg.scanning.window_s);
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Runs `sim ble`.
pub fn run(args: BleArgs) -> anyhow::Result<ExitCode> {
    let base = super::radio_config(args.config.as_deref())?;
    let cfg = configure(
        base,
        args.window_period,
        args.window_length,
        args.fixed_timing,
    )?;
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
    let placement = if args.aligned {
        Placement::ALIGNED
    } else {
        Placement::Random
    };
    let mut model = RiskModel::cwa_default(args.trl);
    model.v2 = super::whatif::load_params(args.risk_config.as_ref())?;
    let sim = Simulator::new(cfg.clone())?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let encounters = simulate(
        &sim, &scenario, placement, &model, args.runs, &mut rng, args.json,
    )?;

    if let Some(dir) = &args.plots {
        let written =
            plots::write_for_scenario(&sim, &scenario, placement, dir, args.seed, args.json)?;
        if !args.json {
            for path in written {
                eprintln!("wrote {}", path.display());
            }
        }
    }

    if single {
        let e = &scenario.encounters[0];
        let d = e.duration_s;
        let s = &cfg.scanning;
        let closed_form = args
            .fixed_timing
            .then(|| ((d + s.window_s) / s.period_max_s).min(1.0));
        let report = SingleReport {
            encounter: encounters[0].clone(),
            distance_m: match e.distance_m {
                Distance::Constant(m) => m,
                Distance::Profile(_) => f64::NAN,
            },
            window_period_min_s: s.period_min_s,
            window_period_max_s: s.period_max_s,
            window_length_s: s.window_s,
            fixed_timing: args.fixed_timing,
            closed_form_probability: closed_form,
            runs: args.runs,
            seed: args.seed,
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_header(&scenario, &cfg, &args);
            print_table(&report_slice(&report.encounter));
            if let Some(p) = closed_form {
                println!("closed form (d + w) / T = {p:.4} (fixed timing, no loss, within range)");
            }
        }
    } else {
        let report = ScenarioReport {
            scenario: scenario.name.clone(),
            description: scenario.description.clone(),
            runs: args.runs,
            seed: args.seed,
            fixed_timing: args.fixed_timing,
            aligned: args.aligned,
            thresholds_db: model.thresholds(),
            transmission_risk_level: args.trl,
            radio: cfg.clone(),
            encounters,
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_header(&scenario, &cfg, &args);
            print_table(&report.encounters);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report_slice(e: &EncounterReport) -> [EncounterReport; 1] {
    [e.clone()]
}

/// Runs the scenario `runs` times and reports each encounter.
pub fn simulate(
    sim: &Simulator,
    scenario: &Scenario,
    placement: Placement,
    model: &RiskModel,
    runs: u64,
    rng: &mut ChaCha8Rng,
    json: bool,
) -> anyhow::Result<Vec<EncounterReport>> {
    let n = scenario.encounters.len();
    let thresholds = model.thresholds();
    let mut tallies = vec![EncounterTally::default(); n];
    let mut risks = vec![RiskTally::default(); n];
    let mut out = RunOutput::default();
    let bar = Progress::new(&format!("sim ble {}", scenario.name), "runs", runs, json);
    for run in 0..runs {
        sim.run(scenario, placement, rng, &mut out);
        for ((tally, risk), sightings) in tallies.iter_mut().zip(&mut risks).zip(&out.sightings) {
            tally.add(sightings, thresholds);
            // Nothing seen scores zero in both versions; skip the work.
            if !sightings.is_empty() {
                risk.add(model.assess([sightings.as_slice()])?);
            }
        }
        if run % 256 == 255 {
            bar.inc(256);
        }
    }
    // The runs after the last full block of 256, so the total is exact.
    bar.inc(runs % 256);
    bar.finish_and_clear();
    let per_run = |x: f64| if runs == 0 { 0.0 } else { x / runs as f64 };
    Ok(scenario
        .encounters
        .iter()
        .zip(tallies.iter().zip(&risks))
        .map(|(e, (t, r))| EncounterReport {
            label: e.label.clone(),
            start_s: e.start_s,
            duration_s: e.duration_s,
            detection_probability: t.detection_probability(),
            standard_error: t.standard_error(),
            mean_scans: t.mean_scans(),
            mean_min_attenuation_db: t.mean_min_attenuation_db(),
            bucket_minutes: t.mean_bucket_minutes(),
            v1_mean_combined_risk_score: per_run(r.v1_score_sum),
            v1_increased_risk_probability: per_run(r.v1_increased as f64),
            v2_mean_normalized_time: per_run(r.v2_time_sum),
            v2_high_risk_probability: per_run(r.v2_high as f64),
        })
        .collect())
}

fn print_header(scenario: &Scenario, cfg: &RadioConfig, args: &BleArgs) {
    let s = &cfg.scanning;
    let a = &cfg.advertising;
    println!("scenario {}: {}", scenario.name, scenario.description);
    println!(
        "{} runs, seed {}; scan windows {} s every {}–{} s; advertising every {}–{} ms; {} phases; TRL {}",
        args.runs,
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
