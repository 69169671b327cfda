//! The plots of the BLE model: a timeline of one run per scenario (the seeds' Figure 14 redrawn),
//! detection probability against encounter duration for several scan settings, and recorded attenuation
//! against distance.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use warnkit_sim::config::ScanningConfig;
use warnkit_sim::plot::{render, Chart, Legend, Series};
use warnkit_sim::scenario::{Obstruction, BUILTIN};
use warnkit_sim::stats::{attenuation_samples, detection_probability};
use warnkit_sim::{Placement, RadioConfig, RunOutput, Scenario, Simulator};

use crate::cmd::progress::Progress;

/// Arguments of `warnkit sim plots`.
#[derive(Debug, Args)]
pub struct PlotsArgs {
    /// Directory to write into (created if missing).
    #[arg(long, default_value = "docs/plots")]
    out: PathBuf,
    /// Radio model parameters (TOML); unset fields keep the documented defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed of the random number generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the written paths as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Written {
    files: Vec<PathBuf>,
}

/// Runs `sim plots`: every shipped scenario's timeline plus the general plots.
pub fn run(args: PlotsArgs) -> anyhow::Result<ExitCode> {
    let cfg = super::radio_config(args.config.as_deref())?;
    let sim = Simulator::new(cfg)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut files = Vec::new();
    for (name, _) in BUILTIN {
        let scenario = Scenario::builtin(name)?;
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        files.extend(timeline(
            &sim,
            &scenario,
            Placement::Random,
            &args.out,
            &mut rng,
        )?);
    }
    // The seeds' own figure, replayed with its fixed timing.
    let figure = Simulator::new(RadioConfig::seed_figure())?;
    let scenario = Scenario::builtin("seed-figure")?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let stem = args.out.join("seed-figure-fixed-timing");
    files.extend(timeline_to(
        &figure,
        &scenario,
        Placement::ALIGNED,
        &stem,
        &mut rng,
        "the seeds' fixed timing",
    )?);
    files.extend(general(&sim, &args.out, args.seed, args.json)?);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Written { files })?);
    } else {
        for f in files {
            println!("wrote {}", f.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The plots for one `sim ble` run: the scenario's timeline and the general plots.
pub fn write_for_scenario(
    sim: &Simulator,
    scenario: &Scenario,
    placement: Placement,
    dir: &Path,
    seed: u64,
    json: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut files = timeline(sim, scenario, placement, dir, &mut rng)?.to_vec();
    files.extend(general(sim, dir, seed, json)?);
    Ok(files)
}

fn general(sim: &Simulator, dir: &Path, seed: u64, json: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut files = detection_vs_duration(sim.config(), dir, &mut rng, json)?.to_vec();
    files.extend(attenuation_vs_distance(sim, dir, &mut rng)?);
    Ok(files)
}

fn timeline(
    sim: &Simulator,
    scenario: &Scenario,
    placement: Placement,
    dir: &Path,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<[PathBuf; 2]> {
    let stem = dir.join(format!("{}-timeline", scenario.name));
    timeline_to(
        sim,
        scenario,
        placement,
        &stem,
        rng,
        "one run at random phases",
    )
}

/// One run drawn like the seeds' Figure 14: each encounter a bar, scan windows as vertical lines,
/// sightings as dots.
fn timeline_to(
    sim: &Simulator,
    scenario: &Scenario,
    placement: Placement,
    stem: &Path,
    rng: &mut ChaCha8Rng,
    note: &str,
) -> anyhow::Result<[PathBuf; 2]> {
    let mut out = RunOutput::default();
    sim.run(scenario, placement, rng, &mut out);
    let n = scenario.encounters.len();
    let (start, end) = scenario.span();
    let margin = ((end - start) * 0.03).max(30.0);
    let top = n as f64 + 0.6;
    let window_s = sim.config().scanning.window_s;
    let mut series = vec![Series::segments(
        format!("scan windows ({window_s} s)"),
        out.windows
            .iter()
            .map(|w| ((w.start_s, 0.4), (w.start_s, top)))
            .collect(),
        false,
    )];
    for (i, e) in scenario.encounters.iter().enumerate() {
        let y = (n - i) as f64;
        series.push(Series::segments(
            e.label.clone(),
            vec![((e.start_s, y), (e.end_s(), y))],
            true,
        ));
    }
    let sightings: Vec<(f64, f64)> = out
        .sightings
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.iter().map(move |s| (s.time_s, (n - i) as f64)))
        .collect();
    series.push(Series::markers("sightings", sightings));
    let chart = Chart {
        title: format!("{}: {note}", scenario.name),
        x_label: "time (s)".into(),
        y_label: "encounter".into(),
        x_range: (start - margin)..(end + margin),
        y_range: 0.0..(n as f64 + 1.0 + 0.35 * n as f64),
        series,
        legend: Legend::UpperRight,
    };
    Ok(render(&chart, stem)?)
}

fn detection_vs_duration(
    base: &RadioConfig,
    dir: &Path,
    rng: &mut ChaCha8Rng,
    json: bool,
) -> anyhow::Result<[PathBuf; 2]> {
    let scanning = |window_s, period_min_s, period_max_s| RadioConfig {
        scanning: ScanningConfig {
            period_min_s,
            period_max_s,
            window_s,
        },
        ..base.clone()
    };
    let settings = [
        (
            "4 s every 210–300 s (Google default)",
            scanning(4.0, 210.0, 300.0),
        ),
        (
            "17 s every 210–300 s (Bluetooth audio in use)",
            scanning(17.0, 210.0, 300.0),
        ),
        (
            "4 s every 60 s (shortest allowed interval)",
            scanning(4.0, 60.0, 60.0),
        ),
        (
            "2 s every 300 s, fixed, lossless (seeds' figure)",
            RadioConfig::seed_figure(),
        ),
    ];
    let durations: Vec<f64> = (0..=40)
        .map(|k| f64::from(k) * 15.0)
        .map(|d: f64| d.max(1.0))
        .collect();
    let runs = 2_000;
    let bar = Progress::new(
        "sim plots: detection vs duration",
        "points",
        (settings.len() * durations.len()) as u64,
        json,
    );
    let mut series = Vec::new();
    for (label, cfg) in &settings {
        let sim = Simulator::new(cfg.clone())?;
        let points = durations
            .iter()
            .map(|&d| {
                bar.inc(1);
                (
                    d / 60.0,
                    detection_probability(&sim, d, 1.0, runs, Placement::Random, rng),
                )
            })
            .collect();
        series.push(Series::line(*label, points));
    }
    bar.finish_and_clear();
    let closed: Vec<(f64, f64)> = durations
        .iter()
        .map(|&d| (d / 60.0, ((d + 2.0) / 300.0).min(1.0)))
        .collect();
    series.push(Series::reference(
        "closed form (d + w) / T for the figure's timing",
        closed,
    ));
    let chart = Chart {
        title: "Detection probability of a 1 m encounter against its duration".into(),
        x_label: "encounter duration (min)".into(),
        y_label: "P(at least one sighting)".into(),
        x_range: 0.0..10.0,
        y_range: 0.0..1.05,
        series,
        legend: Legend::LowerRight,
    };
    Ok(render(&chart, &dir.join("detection-vs-duration"))?)
}

fn attenuation_vs_distance(
    sim: &Simulator,
    dir: &Path,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<[PathBuf; 2]> {
    let c = &sim.config().channel;
    let distances: Vec<f64> = (1..=80).map(|k| f64::from(k) * 0.25).collect();
    let samples = attenuation_samples(sim, &distances, 0.0, 15, rng);
    let scatter: Vec<(f64, f64)> = samples
        .iter()
        .flat_map(|(d, atts)| atts.iter().map(move |&a| (*d, f64::from(a))))
        .collect();
    let mean = |loss: f64| {
        distances
            .iter()
            .map(|&d| (d, sim.mean_attenuation_db(d, loss)))
            .collect::<Vec<_>>()
    };
    let flat = |y: f64| vec![(0.0, y), (20.0, y)];
    let series = vec![
        Series::points("recorded, line of sight (one advertisement each)", scatter),
        Series::line("mean, line of sight", mean(0.0)),
        Series::line(
            format!("mean, body in between (+{} dB)", c.body_loss_db),
            mean(Obstruction::Body.loss_db(c)),
        ),
        Series::line(
            format!("mean, through a wall (+{} dB)", c.wall_loss_db),
            mean(Obstruction::Wall.loss_db(c)),
        ),
        Series::reference("55 / 63 dB: v1 attenuation thresholds", flat(55.0)),
        Series::reference("", flat(63.0)),
        Series::reference(
            format!("{} dB: receiver sensitivity", c.max_attenuation_db),
            flat(c.max_attenuation_db),
        ),
    ];
    let chart = Chart {
        title: "Attenuation against distance (log-distance path loss, shadowing, fading)".into(),
        x_label: "distance (m)".into(),
        y_label: "attenuation (dB)".into(),
        x_range: 0.0..20.0,
        y_range: 25.0..(c.max_attenuation_db + 25.0),
        series,
        legend: Legend::UpperLeft,
    };
    Ok(render(&chart, &dir.join("attenuation-vs-distance"))?)
}
