//! Monte Carlo over many runs: detection probabilities, what was recorded, and the sweeps behind the plots.

use rand::Rng;

use crate::exposure::{scans, v1_exposures};
use crate::model::{Placement, RunOutput, Sighting, Simulator};
use crate::scenario::Scenario;

/// What many runs of one encounter recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EncounterTally {
    /// Runs so far.
    pub runs: u64,
    /// Runs with at least one sighting.
    pub detected: u64,
    /// Scans with a sighting, over all runs.
    pub scans: u64,
    /// Advertisements received, over all runs.
    pub received: u64,
    /// Sum of the scans' minimum attenuations (dB), for the mean.
    pub min_attenuation_sum: u64,
    /// Seconds per v1 attenuation bucket (below, between, above the thresholds), over all runs.
    pub bucket_seconds: [u64; 3],
}

impl EncounterTally {
    /// Adds one run's sightings of this encounter.
    pub fn add(&mut self, sightings: &[Sighting], thresholds_db: [u8; 2]) {
        self.runs += 1;
        if sightings.is_empty() {
            return;
        }
        self.detected += 1;
        let merged = scans(sightings);
        self.scans += merged.len() as u64;
        for s in &merged {
            self.received += u64::from(s.received);
            self.min_attenuation_sum += u64::from(s.min_attenuation_db);
        }
        for e in v1_exposures(&merged, thresholds_db) {
            for (sum, s) in self
                .bucket_seconds
                .iter_mut()
                .zip(e.attenuation_durations_s)
            {
                *sum += u64::from(s);
            }
        }
    }

    /// Fraction of runs in which the encounter was seen.
    pub fn detection_probability(&self) -> f64 {
        ratio(self.detected, self.runs)
    }

    /// Standard error of [`Self::detection_probability`].
    pub fn standard_error(&self) -> f64 {
        let p = self.detection_probability();
        if self.runs == 0 {
            0.0
        } else {
            (p * (1.0 - p) / self.runs as f64).sqrt()
        }
    }

    /// Mean number of scans that saw the encounter, per run.
    pub fn mean_scans(&self) -> f64 {
        ratio(self.scans, self.runs)
    }

    /// Mean minimum attenuation of the scans that saw it, or `None` if none did.
    pub fn mean_min_attenuation_db(&self) -> Option<f64> {
        (self.scans > 0).then(|| self.min_attenuation_sum as f64 / self.scans as f64)
    }

    /// Mean minutes per v1 attenuation bucket, per run.
    pub fn mean_bucket_minutes(&self) -> [f64; 3] {
        self.bucket_seconds.map(|s| ratio(s, self.runs) / 60.0)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Runs `scenario` `runs` times and tallies each encounter. `progress` is called with the number of runs
/// done since its last call, every few thousand runs, so a caller can draw a progress bar.
pub fn tally<R: Rng + ?Sized>(
    sim: &Simulator,
    scenario: &Scenario,
    runs: u64,
    placement: Placement,
    thresholds_db: [u8; 2],
    rng: &mut R,
    progress: &mut dyn FnMut(u64),
) -> Vec<EncounterTally> {
    let mut tallies = vec![EncounterTally::default(); scenario.encounters.len()];
    let mut out = RunOutput::default();
    let mut pending = 0;
    for _ in 0..runs {
        sim.run(scenario, placement, rng, &mut out);
        for (t, s) in tallies.iter_mut().zip(&out.sightings) {
            t.add(s, thresholds_db);
        }
        pending += 1;
        if pending == 4096 {
            progress(pending);
            pending = 0;
        }
    }
    progress(pending);
    tallies
}

/// Detection probability of a single line-of-sight encounter of `duration_s` at `distance_m`, over `runs`
/// runs at random phases.
pub fn detection_probability<R: Rng + ?Sized>(
    sim: &Simulator,
    duration_s: f64,
    distance_m: f64,
    runs: u64,
    placement: Placement,
    rng: &mut R,
) -> f64 {
    let Ok(scenario) = Scenario::single(duration_s, distance_m) else {
        return 0.0;
    };
    let mut out = RunOutput::default();
    let mut detected = 0u64;
    for _ in 0..runs {
        sim.run(&scenario, placement, rng, &mut out);
        detected += u64::from(out.detected(0));
    }
    ratio(detected, runs)
}

/// Samples of recorded attenuation against distance: for each distance, `per_distance` single
/// advertisements (lost ones are left out), and the model's mean.
pub fn attenuation_samples<R: Rng + ?Sized>(
    sim: &Simulator,
    distances_m: &[f64],
    loss_db: f64,
    per_distance: usize,
    rng: &mut R,
) -> Vec<(f64, Vec<u8>)> {
    distances_m
        .iter()
        .map(|&d| {
            (
                d,
                (0..per_distance)
                    .filter_map(|_| sim.sample_attenuation(rng, d, loss_db))
                    .collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::config::RadioConfig;

    #[test]
    fn tally_counts_detections_and_buckets() {
        let sim = Simulator::new(RadioConfig::fixed(0.25, 300.0, 2.0)).unwrap();
        let scenario = Scenario::single(900.0, 1.0).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut calls = 0;
        let t = tally(
            &sim,
            &scenario,
            100,
            Placement::Random,
            [55, 63],
            &mut rng,
            &mut |n| calls += n,
        );
        assert_eq!(calls, 100);
        assert_eq!(t[0].runs, 100);
        assert_eq!(t[0].detected, 100);
        // A 900 s encounter sees three or four 300 s-spaced windows.
        assert!(
            (3.0..=4.0).contains(&t[0].mean_scans()),
            "{}",
            t[0].mean_scans()
        );
        assert_eq!(t[0].mean_min_attenuation_db(), Some(50.0));
        let minutes = t[0].mean_bucket_minutes();
        assert!(
            minutes[0] > 10.0 && minutes[1] == 0.0 && minutes[2] == 0.0,
            "{minutes:?}"
        );
    }

    #[test]
    fn far_beyond_range_nothing_is_sampled() {
        let sim = Simulator::new(RadioConfig::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let s = attenuation_samples(&sim, &[1.0, 10_000.0], 0.0, 200, &mut rng);
        assert!(s[0].1.len() > 150);
        assert!(s[1].1.is_empty());
    }
}
