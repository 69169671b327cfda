//! The figures of the BLE model: a timeline of one run per scenario (the seeds' Figure 14 redrawn),
//! detection probability against encounter duration for several scan settings, and recorded
//! attenuation against distance. The caller creates the directory they go into.

use std::fmt;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::{ConfigError, RadioConfig, ScanningConfig};
use crate::model::{Placement, RunOutput, Simulator};
use crate::plot::{render, Chart, Legend, PlotError, Series};
use crate::progress::Progress;
use crate::scenario::{Obstruction, Scenario, ScenarioError, BUILTIN};
use crate::stats::{attenuation_samples, detection_probability};

/// Why figures could not be drawn. Displays as the underlying error, so messages read the same.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FigureError {
    /// A radio configuration of a figure is invalid.
    Config(ConfigError),
    /// A shipped scenario could not be loaded.
    Scenario(ScenarioError),
    /// A chart could not be written.
    Plot(PlotError),
}

impl fmt::Display for FigureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => e.fmt(f),
            Self::Scenario(e) => e.fmt(f),
            Self::Plot(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FigureError {}

impl From<ConfigError> for FigureError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl From<ScenarioError> for FigureError {
    fn from(e: ScenarioError) -> Self {
        Self::Scenario(e)
    }
}

impl From<PlotError> for FigureError {
    fn from(e: PlotError) -> Self {
        Self::Plot(e)
    }
}

/// Every shipped scenario's timeline, the seeds' figure replayed with its fixed timing, and the two
/// general figures, into `dir`; the written files in order (PNG before SVG).
pub fn all(
    sim: &Simulator,
    dir: &Path,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<Vec<PathBuf>, FigureError> {
    let mut files = Vec::new();
    for (name, _) in BUILTIN {
        let scenario = Scenario::builtin(name)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        files.extend(timeline(sim, &scenario, Placement::Random, dir, &mut rng)?);
    }
    let figure = Simulator::new(RadioConfig::seed_figure())?;
    let scenario = Scenario::builtin("seed-figure")?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let stem = dir.join("seed-figure-fixed-timing");
    files.extend(timeline_to(
        &figure,
        &scenario,
        Placement::ALIGNED,
        &stem,
        &mut rng,
        "the seeds' fixed timing",
    )?);
    files.extend(general(sim, dir, seed, progress)?);
    Ok(files)
}

/// The figures for one scenario's runs: its timeline and the general figures, into `dir`.
pub fn for_scenario(
    sim: &Simulator,
    scenario: &Scenario,
    placement: Placement,
    dir: &Path,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<Vec<PathBuf>, FigureError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut files = timeline(sim, scenario, placement, dir, &mut rng)?.to_vec();
    files.extend(general(sim, dir, seed, progress)?);
    Ok(files)
}

fn general(
    sim: &Simulator,
    dir: &Path,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<Vec<PathBuf>, FigureError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut files = detection_vs_duration(sim.config(), dir, &mut rng, progress)?.to_vec();
    files.extend(attenuation_vs_distance(sim, dir, &mut rng)?);
    Ok(files)
}

fn timeline(
    sim: &Simulator,
    scenario: &Scenario,
    placement: Placement,
    dir: &Path,
    rng: &mut ChaCha8Rng,
) -> Result<[PathBuf; 2], FigureError> {
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
) -> Result<[PathBuf; 2], FigureError> {
    let mut out = RunOutput::default();
    sim.run(scenario, placement, rng, &mut out);
    let n = scenario.encounters.len();
    let (start, end) = scenario.span();
    // Minutes once seconds would run into the thousands (a train ride, an evening next door).
    let (unit, per) = if end - start > 1800.0 {
        ("min", 60.0)
    } else {
        ("s", 1.0)
    };
    let x = |t: f64| t / per;
    let margin = ((end - start) * 0.03).max(30.0);
    let top = n as f64 + 0.6;
    let window_s = sim.config().scanning.window_s;
    let mut series = vec![Series::segments(
        format!("scan windows ({window_s} s)"),
        out.windows
            .iter()
            .map(|w| ((x(w.start_s), 0.4), (x(w.start_s), top)))
            .collect(),
        false,
    )];
    // Row n - i is encounter i, named on the axis rather than in the legend.
    let mut y_names = vec![String::new(); n];
    for (i, e) in scenario.encounters.iter().enumerate() {
        let y = (n - i) as f64;
        y_names[n - i - 1] = e.label.clone();
        series.push(Series::segments(
            "",
            vec![((x(e.start_s), y), (x(e.end_s()), y))],
            true,
        ));
    }
    let sightings: Vec<(f64, f64)> = out
        .sightings
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.iter().map(move |s| (x(s.time_s), (n - i) as f64)))
        .collect();
    series.push(Series::markers("sightings", sightings));
    let chart = Chart {
        title: format!("{}: {note}", scenario.name),
        x_label: format!("time ({unit})"),
        y_label: String::new(),
        y_names,
        x_range: x(start - margin)..x(end + margin),
        y_range: 0.0..(n as f64 + 1.8),
        series,
        legend: Legend::UpperRight,
    };
    Ok(render(&chart, stem)?)
}

fn detection_vs_duration(
    base: &RadioConfig,
    dir: &Path,
    rng: &mut ChaCha8Rng,
    progress: &mut dyn Progress,
) -> Result<[PathBuf; 2], FigureError> {
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
    progress.start(
        "sim plots: detection vs duration",
        "points",
        (settings.len() * durations.len()) as u64,
    );
    let mut series = Vec::new();
    for (label, cfg) in &settings {
        let sim = Simulator::new(cfg.clone())?;
        let mut points = Vec::with_capacity(durations.len());
        for &d in &durations {
            progress.inc(1);
            points.push((
                d / 60.0,
                detection_probability(&sim, d, 1.0, runs, Placement::Random, rng),
            ));
        }
        series.push(Series::line(*label, points));
    }
    progress.finish();
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
        y_names: Vec::new(),
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
) -> Result<[PathBuf; 2], FigureError> {
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
        y_names: Vec::new(),
        x_range: 0.0..20.0,
        y_range: 25.0..(c.max_attenuation_db + 25.0),
        series,
        legend: Legend::UpperLeft,
    };
    Ok(render(&chart, &dir.join("attenuation-vs-distance"))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what a computation reports.
    #[derive(Default)]
    struct Counted {
        started: Vec<(String, u64)>,
        steps: u64,
        finished: u32,
    }

    impl Progress for Counted {
        fn start(&mut self, what: &str, _unit: &str, len: u64) {
            self.started.push((what.to_owned(), len));
        }
        fn inc(&mut self, n: u64) {
            self.steps += n;
        }
        fn finish(&mut self) {
            self.finished += 1;
        }
    }

    #[test]
    fn a_scenario_gets_its_timeline_and_the_general_figures_with_progress() {
        let dir = std::env::temp_dir().join(format!("warnkit-sim-figures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sim = Simulator::new(RadioConfig::default()).unwrap();
        let scenario = Scenario::builtin("close-contact").unwrap();
        let mut progress = Counted::default();
        let files =
            for_scenario(&sim, &scenario, Placement::Random, &dir, 1, &mut progress).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "close-contact-timeline.png",
                "close-contact-timeline.svg",
                "detection-vs-duration.png",
                "detection-vs-duration.svg",
                "attenuation-vs-distance.png",
                "attenuation-vs-distance.svg",
            ]
        );
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() > 0, "{}", f.display());
        }
        assert_eq!(
            progress.started,
            [("sim plots: detection vs duration".to_owned(), 164)]
        );
        assert_eq!((progress.steps, progress.finished), (164, 1));
        std::fs::remove_dir_all(&dir).ok();
    }
}
