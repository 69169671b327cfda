//! A synthetic population through the BLE model, scored with a v2 risk configuration, against a
//! ground truth of close contacts; then the day-level HIGH threshold swept to show the trade-off
//! between sensitivity and precision.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use warnkit_protocol::risk::v2;
use warnkit_sim::exposure::scans;
use warnkit_sim::plot::{render, Chart, Legend, Series};
use warnkit_sim::population::{generate, PopulationConfig};
use warnkit_sim::progress::Progress;
use warnkit_sim::{Placement, RadioConfig, RunOutput, Simulator};

use crate::risk::RiskModel;

/// What a what-if run is asked to do.
#[derive(Debug, Clone)]
pub struct WhatifOptions {
    /// The v2 risk configuration to score with.
    pub params: v2::RiskCalculationParameters,
    /// The radio model's parameters.
    pub radio: RadioConfig,
    /// Transmission risk level (1–8) of the infected people's keys.
    pub trl: u8,
    /// The population and its ground truth.
    pub population: PopulationConfig,
    /// Seed of the random number generator.
    pub seed: u64,
}

/// Confusion counts and the rates derived from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Outcome {
    /// Close contacts warned.
    pub true_positives: u64,
    /// Others warned.
    pub false_positives: u64,
    /// Close contacts not warned.
    pub false_negatives: u64,
    /// Others not warned.
    pub true_negatives: u64,
    /// Share of close contacts that are warned (recall).
    pub sensitivity: f64,
    /// Share of warnings that go to close contacts.
    pub precision: f64,
    /// Share of people without close contact that are not warned.
    pub specificity: f64,
    /// 95 % interval of the sensitivity ([`wilson`]); `None` (null) when there is nothing to share.
    pub sensitivity_ci: Option<[f64; 2]>,
    /// 95 % interval of the precision.
    pub precision_ci: Option<[f64; 2]>,
    /// 95 % interval of the specificity.
    pub specificity_ci: Option<[f64; 2]>,
}

/// The two-sided 95 % Wilson score interval of a share of `hits` in `n` trials: what the share would
/// likely be in another population drawn the same way. Unlike the normal approximation it stays inside
/// [0, 1] and is not empty at 0 or `n` hits (a sensitivity of 1.000 from 475 close contacts is
/// [0.992, 1]). `None` when there are no trials.
pub fn wilson(hits: u64, n: u64) -> Option<[f64; 2]> {
    if n == 0 {
        return None;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (hits as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some([(centre - half).max(0.0), (centre + half).min(1.0)])
}

impl Outcome {
    /// The counts and rates of (ground truth, warned) pairs.
    pub fn from_pairs(pairs: impl Iterator<Item = (bool, bool)>) -> Self {
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
        let interval = |a: u64, b: u64| wilson(a, a + b);
        o.sensitivity_ci = interval(o.true_positives, o.false_negatives);
        o.precision_ci = interval(o.true_positives, o.false_positives);
        o.specificity_ci = interval(o.true_negatives, o.false_positives);
        o
    }
}

/// The outcome at one day-level HIGH threshold of the sweep.
#[derive(Debug, Serialize)]
pub struct SweepPoint {
    /// The threshold (normalized minutes per day).
    pub day_high_threshold: f64,
    /// The outcome with it.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The report of a what-if run.
#[derive(Debug, Serialize)]
pub struct WhatifReport {
    /// Number of people.
    pub population: usize,
    /// Seed of the random number generator.
    pub seed: u64,
    /// What counts as a close contact.
    pub ground_truth: String,
    /// Number of close contacts.
    pub close_contacts: usize,
    /// The configured lower end of the day-level HIGH range.
    pub day_high_threshold: Option<f64>,
    /// The outcome of the given v2 configuration.
    pub v2: Outcome,
    /// The outcome of v1 with its final shipped values.
    pub v1_final_shipped: Outcome,
    /// The outcomes as the day-level HIGH threshold rises from 0 in steps of 0.5.
    pub sweep: Vec<SweepPoint>,
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

/// Runs the what-if: each person simulated once, scored with the configuration and every threshold
/// of the sweep, and with v1.
pub fn run(opts: &WhatifOptions, progress: &mut dyn Progress) -> anyhow::Result<WhatifReport> {
    let params = &opts.params;
    let sim = Simulator::new(opts.radio.clone())?;
    let mut model = RiskModel::cwa_default(opts.trl);
    model.v2 = params.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let people = generate(&opts.population, &mut rng);

    // Simulate each person once; keep their exposure windows and v1 verdict.
    progress.start("sim whatif", "people", people.len() as u64);
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
        progress.inc(1);
    }
    progress.finish();

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
    let configured = evaluate(params)?;
    let current = day_high_threshold(params);
    let top = current.map_or(40.0, |c| (4.0 * c).max(40.0));
    let mut sweep = Vec::new();
    for k in 0..=((top / 0.5) as u32) {
        let x = f64::from(k) * 0.5;
        sweep.push(SweepPoint {
            day_high_threshold: x,
            outcome: evaluate(&with_day_high_threshold(params, x))?,
        });
    }
    Ok(WhatifReport {
        population: people.len(),
        seed: opts.seed,
        ground_truth: format!(
            "at least {} minutes within {} m (walls excluded)",
            opts.population.close_minutes, opts.population.close_distance_m
        ),
        close_contacts: truth.iter().filter(|t| **t).count(),
        day_high_threshold: current,
        v2: configured,
        v1_final_shipped: Outcome::from_pairs(truth.iter().copied().zip(v1_warned.iter().copied())),
        sweep,
    })
}

/// Writes the trade-off figure (`whatif-tradeoff.png` and `.svg`) into `dir`, created if missing.
pub fn write_tradeoff(report: &WhatifReport, dir: &Path) -> anyhow::Result<[PathBuf; 2]> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(render(
        &tradeoff_chart(report),
        &dir.join("whatif-tradeoff"),
    )?)
}

fn tradeoff_chart(report: &WhatifReport) -> Chart {
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
        y_names: Vec::new(),
        x_range: 0.0..top,
        y_range: 0.0..1.05,
        series,
        legend: Legend::LowerRight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rates_follow_the_pairs() {
        let o = Outcome::from_pairs(
            [
                (true, true),
                (true, false),
                (false, true),
                (false, false),
                (false, false),
            ]
            .into_iter(),
        );
        assert_eq!(
            (
                o.true_positives,
                o.false_negatives,
                o.false_positives,
                o.true_negatives
            ),
            (1, 1, 1, 2)
        );
        assert_eq!(o.sensitivity, 0.5);
        assert_eq!(o.precision, 0.5);
        assert!((o.specificity - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(Outcome::from_pairs(std::iter::empty()), Outcome::default());
    }

    #[test]
    fn wilson_intervals_match_published_values_and_stay_in_range() {
        // Newcombe (1998), Statistics in Medicine 17, table I: 81/263 → 0.2553–0.3662, 15/148 →
        // 0.0624–0.1605, 0/10 → 0–0.2775, 1/29 → 0.0061–0.1718.
        for (hits, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 10, 0.0, 0.2775),
            (1, 29, 0.0061, 0.1718),
        ] {
            let [a, b] = wilson(hits, n).expect("trials");
            assert!(
                (a - lo).abs() < 1e-4 && (b - hi).abs() < 1e-4,
                "{hits}/{n}: {a} {b}"
            );
        }
        let [a, b] = wilson(475, 475).expect("trials");
        assert!(b == 1.0 && a > 0.99 && a < 1.0, "{a}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn moving_the_threshold_keeps_the_low_range_below_it() {
        let params = v2::RiskCalculationParameters::cwa_default();
        let moved = with_day_high_threshold(&params, 3.5);
        assert_eq!(day_high_threshold(&moved), Some(3.5));
        for m in &moved.normalized_time_per_day_to_risk_level_mapping {
            if m.risk_level == v2::RiskLevel::Low {
                assert!(m.normalized_time_range.max <= 3.5, "{m:?}");
            }
        }
    }

    #[test]
    fn a_small_population_is_scored_and_the_sweep_only_withdraws_warnings() {
        let opts = WhatifOptions {
            params: v2::RiskCalculationParameters::cwa_default(),
            radio: RadioConfig::default(),
            trl: 6,
            population: PopulationConfig {
                people: 60,
                mean_encounters: 2.0,
                close_distance_m: 2.0,
                close_minutes: 15.0,
            },
            seed: 3,
        };
        let r = run(&opts, &mut warnkit_sim::progress::Silent).unwrap();
        let o = r.v2;
        assert_eq!(
            o.true_positives + o.false_positives + o.false_negatives + o.true_negatives,
            60
        );
        assert_eq!(
            (o.true_positives + o.false_negatives) as usize,
            r.close_contacts
        );
        let warned = |o: &Outcome| o.true_positives + o.false_positives;
        for pair in r.sweep.windows(2) {
            assert!(warned(&pair[1].outcome) <= warned(&pair[0].outcome));
        }
    }
}
