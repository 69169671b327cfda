//! `warnkit sim whatif`: a synthetic population through the BLE model, scored with a v2 risk
//! configuration, against a ground truth of close contacts; then the day-level HIGH threshold swept to
//! show the trade-off between sensitivity and precision.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use warnkit_protocol::risk::v2;
use warnkit_sim::exposure::scans;
use warnkit_sim::plot::{render, Chart, Legend, Series};
use warnkit_sim::population::{generate, PopulationConfig};
use warnkit_sim::{Placement, RunOutput, Simulator};

use super::risk::RiskModel;
use crate::cmd::progress::Progress;

/// Arguments of `warnkit sim whatif`.
#[derive(Debug, Args)]
pub struct WhatifArgs {
    /// v2 risk calculation parameters (JSON, camelCase as published), or a conformance-suite file with a
    /// `defaultRiskCalculationConfiguration`. Without it, the original app's bundled default.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Number of people, each of whom met at least one infected person.
    #[arg(long, default_value_t = 2_000)]
    population: usize,
    /// Mean number of encounters with infected people per person.
    #[arg(long, default_value_t = 2.0)]
    mean_encounters: f64,
    /// Ground truth: distance (m) within which time counts as close.
    #[arg(long, default_value_t = 2.0)]
    close_distance: f64,
    /// Ground truth: close minutes in a day that make a close contact.
    #[arg(long, default_value_t = 15.0)]
    close_minutes: f64,
    /// Radio model parameters (TOML).
    #[arg(long)]
    radio: Option<PathBuf>,
    /// Transmission risk level (1–8) of the infected people's keys.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=8))]
    trl: u8,
    /// Seed of the random number generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the trade-off plot (PNG and SVG) into this directory.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Confusion counts and the rates derived from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Outcome {
    true_positives: u64,
    false_positives: u64,
    false_negatives: u64,
    true_negatives: u64,
    /// Share of close contacts that are warned (recall).
    sensitivity: f64,
    /// Share of warnings that go to close contacts.
    precision: f64,
    /// Share of people without close contact that are not warned.
    specificity: f64,
}

impl Outcome {
    fn from_pairs(pairs: impl Iterator<Item = (bool, bool)>) -> Self {
        let mut o = Self::default();
        for (truth, warned) in pairs {
            match (truth, warned) {
                (true, true) => o.true_positives += 1,
                (false, true) => o.false_positives += 1,
                (true, false) => o.false_negatives += 1,
                (false, false) => o.true_negatives += 1,
            }
        }
        let rate = |a: u64, b: u64| {
            if a + b == 0 {
                0.0
            } else {
                a as f64 / (a + b) as f64
            }
        };
        o.sensitivity = rate(o.true_positives, o.false_negatives);
        o.precision = rate(o.true_positives, o.false_positives);
        o.specificity = rate(o.true_negatives, o.false_positives);
        o
    }
}

#[derive(Debug, Serialize)]
struct SweepPoint {
    day_high_threshold: f64,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Debug, Serialize)]
struct Report {
    population: usize,
    seed: u64,
    ground_truth: String,
    close_contacts: usize,
    day_high_threshold: Option<f64>,
    v2: Outcome,
    v1_final_shipped: Outcome,
    sweep: Vec<SweepPoint>,
}

/// Reads a v2 configuration: the bare parameters, or a conformance suite's default configuration.
pub(super) fn load_params(path: Option<&PathBuf>) -> anyhow::Result<v2::RiskCalculationParameters> {
    let Some(path) = path else {
        return Ok(v2::RiskCalculationParameters::cwa_default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let inner = value
        .get("defaultRiskCalculationConfiguration")
        .cloned()
        .unwrap_or(value);
    serde_json::from_value(inner)
        .with_context(|| format!("{} is not a v2 risk configuration", path.display()))
}

/// The lower end of the day-level HIGH range, the threshold the sweep varies.
fn day_high_threshold(params: &v2::RiskCalculationParameters) -> Option<f64> {
    params
        .normalized_time_per_day_to_risk_level_mapping
        .iter()
        .find(|m| m.risk_level == v2::RiskLevel::High)
        .map(|m| m.normalized_time_range.min)
}

/// The configuration with the day-level HIGH range starting at `x` and LOW ranges ending below it.
fn with_day_high_threshold(
    params: &v2::RiskCalculationParameters,
    x: f64,
) -> v2::RiskCalculationParameters {
    let mut p = params.clone();
    for m in &mut p.normalized_time_per_day_to_risk_level_mapping {
        match m.risk_level {
            v2::RiskLevel::High => {
                m.normalized_time_range.min = x;
                m.normalized_time_range.min_exclusive = false;
            }
            v2::RiskLevel::Low if m.normalized_time_range.max >= x => {
                m.normalized_time_range.max = x;
                m.normalized_time_range.max_exclusive = true;
            }
            _ => {}
        }
    }
    p
}

/// Runs `sim whatif`.
pub fn run(args: WhatifArgs) -> anyhow::Result<ExitCode> {
    let params = load_params(args.config.as_ref())?;
    let radio = super::radio_config(args.radio.as_deref())?;
    let sim = Simulator::new(radio)?;
    let mut model = RiskModel::cwa_default(args.trl);
    model.v2 = params.clone();
    let cfg = PopulationConfig {
        people: args.population,
        mean_encounters: args.mean_encounters,
        close_distance_m: args.close_distance,
        close_minutes: args.close_minutes,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let people = generate(&cfg, &mut rng);

    // Simulate each person once; keep their exposure windows and v1 verdict.
    let bar = Progress::new("sim whatif", "people", people.len() as u64, args.json);
    let mut windows: Vec<Vec<v2::ExposureWindow>> = Vec::with_capacity(people.len());
    let mut v1_warned = Vec::with_capacity(people.len());
    let mut out = RunOutput::default();
    for person in &people {
        sim.run(&person.scenario, Placement::Random, &mut rng, &mut out);
        let mut mine = Vec::new();
        for s in &out.sightings {
            mine.extend(model.v2_windows(&scans(s)));
        }
        windows.push(mine);
        v1_warned.push(
            model
                .assess(out.sightings.iter().map(Vec::as_slice))?
                .v1_increased,
        );
        bar.inc(1);
    }
    bar.finish_and_clear();

    let truth: Vec<bool> = people.iter().map(|p| p.is_close_contact).collect();
    let evaluate = |p: &v2::RiskCalculationParameters| -> anyhow::Result<Outcome> {
        let mut warned = Vec::with_capacity(windows.len());
        for w in &windows {
            let risk = v2::aggregate(p, w, v2::AggregationOptions::default())
                .context("v2 risk aggregation")?;
            warned.push(risk.total_risk_level == v2::RiskLevel::High);
        }
        Ok(Outcome::from_pairs(truth.iter().copied().zip(warned)))
    };
    let configured = evaluate(&params)?;
    let current = day_high_threshold(&params);
    let top = current.map_or(40.0, |c| (4.0 * c).max(40.0));
    let mut sweep = Vec::new();
    for k in 0..=((top / 0.5) as u32) {
        let x = f64::from(k) * 0.5;
        sweep.push(SweepPoint {
            day_high_threshold: x,
            outcome: evaluate(&with_day_high_threshold(&params, x))?,
        });
    }
    let report = Report {
        population: people.len(),
        seed: args.seed,
        ground_truth: format!(
            "at least {} minutes within {} m (walls excluded)",
            args.close_minutes, args.close_distance
        ),
        close_contacts: truth.iter().filter(|t| **t).count(),
        day_high_threshold: current,
        v2: configured,
        v1_final_shipped: Outcome::from_pairs(truth.iter().copied().zip(v1_warned.iter().copied())),
        sweep,
    };
    if let Some(dir) = &args.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let files = render(&tradeoff_chart(&report), &dir.join("whatif-tradeoff"))?;
        if !args.json {
            for f in files {
                eprintln!("wrote {}", f.display());
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn tradeoff_chart(report: &Report) -> Chart {
    let line = |f: fn(&Outcome) -> f64| {
        report
            .sweep
            .iter()
            .map(|p| (p.day_high_threshold, f(&p.outcome)))
            .collect()
    };
    let top = report.sweep.last().map_or(30.0, |p| p.day_high_threshold);
    let mut series = vec![
        Series::line(
            "sensitivity (close contacts warned)",
            line(|o| o.sensitivity),
        ),
        Series::line(
            "precision (warnings that are close contacts)",
            line(|o| o.precision),
        ),
        Series::line("specificity (others not warned)", line(|o| o.specificity)),
    ];
    if let Some(x) = report.day_high_threshold {
        series.push(Series::reference(
            format!("configured threshold {x}"),
            vec![(x, 0.0), (x, 1.0)],
        ));
    }
    Chart {
        title: format!(
            "Warnings against ground truth, {} people",
            report.population
        ),
        x_label: format!(
            "day-level HIGH threshold (normalized minutes); ground truth: {}",
            report.ground_truth
        ),
        y_label: "rate".into(),
        x_range: 0.0..top,
        y_range: 0.0..1.05,
        series,
        legend: Legend::LowerRight,
    }
}

fn print_report(r: &Report) {
    println!(
        "population {} (seed {}), ground truth: {}",
        r.population, r.seed, r.ground_truth
    );
    println!("close contacts: {}", r.close_contacts);
    let row = |name: &str, o: &Outcome| {
        println!(
            "{name:<28} TP {:>5} FP {:>5} FN {:>5} TN {:>5}  sensitivity {:.3}  precision {:.3}  specificity {:.3}",
            o.true_positives, o.false_positives, o.false_negatives, o.true_negatives, o.sensitivity, o.precision, o.specificity
        );
    };
    row("v2, given configuration", &r.v2);
    row("v1, final shipped values", &r.v1_final_shipped);
    println!(
        "sweep of the day-level HIGH threshold (configured: {}):",
        super::cell(r.day_high_threshold, 1)
    );
    println!(
        "{:>9} {:>11} {:>9} {:>11}",
        "threshold", "sensitivity", "precision", "specificity"
    );
    for p in r.sweep.iter().step_by(4) {
        println!(
            "{:>9.1} {:>11.3} {:>9.3} {:>11.3}",
            p.day_high_threshold, p.outcome.sensitivity, p.outcome.precision, p.outcome.specificity
        );
    }
}
