//! A scenario or a single encounter run many times at random phases of the scan schedule: how often
//! each encounter is detected, what the phone records, and what risk scoring v1 and v2 make of it.

use std::path::PathBuf;

use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use warnkit_sim::progress::Progress;
use warnkit_sim::scenario::Distance;
use warnkit_sim::stats::EncounterTally;
use warnkit_sim::{figures, Placement, RadioConfig, RunOutput, Scenario, Simulator};

use crate::risk::{RiskModel, RiskOutcome};

/// What a `sim ble` run is asked to do.
#[derive(Debug, Clone)]
pub struct BleOptions {
    /// The radio model's parameters, timing overrides applied.
    pub radio: RadioConfig,
    /// The encounters to run.
    pub scenario: Scenario,
    /// Whether the scenario is a single encounter given by duration and distance (reported flat,
    /// with the closed form under fixed timing).
    pub single: bool,
    /// Whether the timing is the seeds' fixed one.
    pub fixed_timing: bool,
    /// Whether the first scan window, advertisement and RPI change are at time 0.
    pub aligned: bool,
    /// Number of runs, each at new random phases.
    pub runs: u64,
    /// Seed of the random number generator.
    pub seed: u64,
    /// The risk parameters to score with.
    pub model: RiskModel,
    /// Where to write the scenario's figures (the directory is created).
    pub plots: Option<PathBuf>,
}

impl BleOptions {
    /// The runs that are made: one when the timing is fixed and every phase at 0, since every run is
    /// then the same (nothing is left to chance), else [`BleOptions::runs`].
    pub fn effective_runs(&self) -> u64 {
        if self.fixed_timing && self.aligned {
            self.runs.min(1)
        } else {
            self.runs
        }
    }

    /// The phases of the runs.
    pub fn placement(&self) -> Placement {
        if self.aligned {
            Placement::ALIGNED
        } else {
            Placement::Random
        }
    }
}

/// What many runs showed for one encounter.
#[derive(Debug, Clone, Serialize)]
pub struct EncounterReport {
    /// The encounter's label.
    pub label: String,
    /// When it starts, in seconds.
    pub start_s: f64,
    /// How long it lasts, in seconds.
    pub duration_s: f64,
    /// Share of runs with at least one sighting.
    pub detection_probability: f64,
    /// Standard error of that share.
    pub standard_error: f64,
    /// Mean scans per run that saw the key.
    pub mean_scans: f64,
    /// Mean minimum attenuation of those scans; none when nothing was seen.
    pub mean_min_attenuation_db: Option<f64>,
    /// Mean minutes below, between and above the v1 attenuation thresholds.
    pub bucket_minutes: [f64; 3],
    /// Mean v1 combined risk score per run.
    pub v1_mean_combined_risk_score: f64,
    /// Share of runs at increased risk under v1.
    pub v1_increased_risk_probability: f64,
    /// Mean v2 normalized time per run.
    pub v2_mean_normalized_time: f64,
    /// Share of runs with total risk HIGH under v2.
    pub v2_high_risk_probability: f64,
}

/// The report on a scenario of several encounters.
#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub scenario: String,
    /// What it shows.
    pub description: String,
    /// Number of runs.
    pub runs: u64,
    /// Seed of the random number generator.
    pub seed: u64,
    /// Whether the timing was the seeds' fixed one.
    pub fixed_timing: bool,
    /// Whether all phases started at 0.
    pub aligned: bool,
    /// The v1 attenuation thresholds (dB).
    pub thresholds_db: [u8; 2],
    /// Transmission risk level of the other person's keys.
    pub transmission_risk_level: u8,
    /// The radio configuration used.
    pub radio: RadioConfig,
    /// Each encounter's outcome.
    pub encounters: Vec<EncounterReport>,
}

/// The report on a single encounter.
#[derive(Debug, Serialize)]
pub struct SingleReport {
    /// The encounter's outcome.
    #[serde(flatten)]
    pub encounter: EncounterReport,
    /// The distance in metres.
    pub distance_m: f64,
    /// Shortest start-to-start period of scan windows.
    pub window_period_min_s: f64,
    /// Longest start-to-start period of scan windows.
    pub window_period_max_s: f64,
    /// Length of a scan window.
    pub window_length_s: f64,
    /// Whether the timing was the seeds' fixed one.
    pub fixed_timing: bool,
    /// (d + w) / T, capped at 1: exact for fixed timing without loss inside the radio range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_form_probability: Option<f64>,
    /// Number of runs.
    pub runs: u64,
    /// Seed of the random number generator.
    pub seed: u64,
}

/// The report of a `sim ble` run: flat for a single encounter, per encounter for a scenario.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum BleReport {
    /// A single encounter given by duration and distance.
    Single(SingleReport),
    /// A scenario of several encounters.
    Scenario(ScenarioReport),
}

/// The outcome of a `sim ble` run.
#[derive(Debug)]
pub struct BleOutcome {
    /// The figures written, in order.
    pub plots: Vec<PathBuf>,
    /// The report.
    pub report: BleReport,
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

/// Runs `sim ble`: the runs, then the figures if asked for, then the report.
pub fn run(opts: &BleOptions, progress: &mut dyn Progress) -> anyhow::Result<BleOutcome> {
    let cfg = &opts.radio;
    let scenario = &opts.scenario;
    let placement = opts.placement();
    let sim = Simulator::new(cfg.clone())?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let encounters = simulate(
        &sim,
        scenario,
        placement,
        &opts.model,
        opts.effective_runs(),
        &mut rng,
        progress,
    )?;

    let mut plots = Vec::new();
    if let Some(dir) = &opts.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        plots = figures::for_scenario(&sim, scenario, placement, dir, opts.seed, progress)?;
    }

    let report = if opts.single {
        let e = &scenario.encounters[0];
        let d = e.duration_s;
        let s = &cfg.scanning;
        let closed_form = opts
            .fixed_timing
            .then(|| ((d + s.window_s) / s.period_max_s).min(1.0));
        BleReport::Single(SingleReport {
            encounter: encounters[0].clone(),
            distance_m: match e.distance_m {
                Distance::Constant(m) => m,
                Distance::Profile(_) => f64::NAN,
            },
            window_period_min_s: s.period_min_s,
            window_period_max_s: s.period_max_s,
            window_length_s: s.window_s,
            fixed_timing: opts.fixed_timing,
            closed_form_probability: closed_form,
            runs: opts.effective_runs(),
            seed: opts.seed,
        })
    } else {
        BleReport::Scenario(ScenarioReport {
            scenario: scenario.name.clone(),
            description: scenario.description.clone(),
            runs: opts.effective_runs(),
            seed: opts.seed,
            fixed_timing: opts.fixed_timing,
            aligned: opts.aligned,
            thresholds_db: opts.model.thresholds(),
            transmission_risk_level: opts.model.transmission_risk_level,
            radio: cfg.clone(),
            encounters,
        })
    };
    Ok(BleOutcome { plots, report })
}

/// Runs the scenario `runs` times and reports each encounter.
pub fn simulate(
    sim: &Simulator,
    scenario: &Scenario,
    placement: Placement,
    model: &RiskModel,
    runs: u64,
    rng: &mut ChaCha8Rng,
    progress: &mut dyn Progress,
) -> anyhow::Result<Vec<EncounterReport>> {
    let n = scenario.encounters.len();
    let thresholds = model.thresholds();
    let mut tallies = vec![EncounterTally::default(); n];
    let mut risks = vec![RiskTally::default(); n];
    let mut out = RunOutput::default();
    progress.start(&format!("sim ble {}", scenario.name), "runs", runs);
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
            progress.inc(256);
        }
    }
    // The runs after the last full block of 256, so the total is exact.
    progress.inc(runs % 256);
    progress.finish();
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

#[cfg(test)]
mod tests {
    use warnkit_sim::progress::Silent;

    use super::*;

    fn options(scenario: Scenario, single: bool) -> BleOptions {
        BleOptions {
            radio: RadioConfig::default(),
            scenario,
            single,
            fixed_timing: false,
            aligned: false,
            runs: 200,
            seed: 4,
            model: RiskModel::cwa_default(6),
            plots: None,
        }
    }

    #[test]
    fn a_close_contact_is_detected_and_warned_and_the_same_seed_repeats() {
        let opts = options(Scenario::builtin("close-contact").unwrap(), false);
        let BleReport::Scenario(a) = run(&opts, &mut Silent).unwrap().report else {
            panic!("a scenario gives a scenario report");
        };
        let e = &a.encounters[0];
        assert_eq!(e.detection_probability, 1.0);
        assert!(e.v2_high_risk_probability > 0.9, "{e:?}");
        let BleReport::Scenario(b) = run(&opts, &mut Silent).unwrap().report else {
            panic!("a scenario gives a scenario report");
        };
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap()
        );
    }

    #[test]
    fn a_single_encounter_out_of_range_is_never_seen_and_has_no_closed_form_at_random_timing() {
        let opts = options(Scenario::single(600.0, 5_000.0).unwrap(), true);
        let BleReport::Single(r) = run(&opts, &mut Silent).unwrap().report else {
            panic!("a single encounter gives a single report");
        };
        assert_eq!(r.encounter.detection_probability, 0.0);
        assert_eq!(r.encounter.mean_min_attenuation_db, None);
        assert_eq!(r.distance_m, 5_000.0);
        assert_eq!(r.closed_form_probability, None);
    }
}
