//! `warnkit sim whatif`: a synthetic population through the BLE model, scored with a v2 risk
//! configuration against a ground truth of close contacts, and the day-level HIGH threshold swept
//! (`warnkit_experiments::whatif`); this module reads the arguments and prints the report.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use warnkit_experiments::risk::load_params;
use warnkit_experiments::whatif::{self, Outcome, WhatifOptions, WhatifReport};
use warnkit_sim::population::PopulationConfig;

use super::StderrProgress;

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

/// Runs `sim whatif`.
pub fn run(args: WhatifArgs) -> anyhow::Result<ExitCode> {
    let params = load_params(args.config.as_deref())?;
    let radio = super::radio_config(args.radio.as_deref())?;
    let opts = WhatifOptions {
        params,
        radio,
        trl: args.trl,
        population: PopulationConfig {
            people: args.population,
            mean_encounters: args.mean_encounters,
            close_distance_m: args.close_distance,
            close_minutes: args.close_minutes,
        },
        seed: args.seed,
    };
    let report = whatif::run(&opts, &mut StderrProgress::new(args.json))?;
    if let Some(dir) = &args.plots {
        let files = whatif::write_tradeoff(&report, dir)?;
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

fn print_report(r: &WhatifReport) {
    println!(
        "population {} (seed {}), ground truth: {}",
        r.population, r.seed, r.ground_truth
    );
    println!("close contacts: {}", r.close_contacts);
    let share = |v: f64, ci: Option<[f64; 2]>| match ci {
        Some([lo, hi]) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
        None => "-".to_owned(),
    };
    let row = |name: &str, o: &Outcome| {
        println!(
            "{name:<28} TP {:>5} FP {:>5} FN {:>5} TN {:>5}  sensitivity {}  precision {}  specificity {}",
            o.true_positives,
            o.false_positives,
            o.false_negatives,
            o.true_negatives,
            share(o.sensitivity, o.sensitivity_ci),
            share(o.precision, o.precision_ci),
            share(o.specificity, o.specificity_ci)
        );
    };
    row("v2, given configuration", &r.v2);
    row("v1, final shipped values", &r.v1_final_shipped);
    println!("[a, b]: 95 % Wilson intervals, the spread of another population drawn the same way");
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
