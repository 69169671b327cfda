//! The BLE radio model: which advertisements of which phone the scanner receives, and at what attenuation.
//!
//! Time is never stepped. For every scan window the model intersects the window with each encounter and
//! enumerates only the advertisements that fall inside that intersection: a fixed advertising interval is
//! an arithmetic progression; a random one is a stationary renewal process, so its first event after any
//! instant is drawn from the length-biased residual (see [`crate::sampling::residual_gap`]). A 15-minute
//! encounter thus costs a handful of windows of about 17 advertisements each, not 900 000 milliseconds.

use rand::Rng;

use crate::config::{ConfigError, RadioConfig};
use crate::sampling::{gaussian, length_biased_gap, residual_gap, uniform};
use crate::scenario::{Distance, Encounter, Scenario};

/// Where the encounter falls relative to the phones' own clocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Placement {
    /// Uniformly random phases: of the scan schedule, of each advertiser's timing and of its RPI rotation.
    Random,
    /// Given phases (used to replay a figure): a scan window starts at `scan_phase_s`, advertisements are
    /// sent at `advertising_phase_s` + k × interval (fixed interval only) and RPIs change at
    /// `rpi_phase_s` + k × rotation.
    Fixed {
        /// A time at which a scan window starts.
        scan_phase_s: f64,
        /// A time at which an advertisement is sent.
        advertising_phase_s: f64,
        /// A time at which the RPI changes.
        rpi_phase_s: f64,
    },
}

impl Placement {
    /// All phases at 0: windows, advertisements and RPI changes aligned to the scenario's clock.
    pub const ALIGNED: Self = Self::Fixed {
        scan_phase_s: 0.0,
        advertising_phase_s: 0.0,
        rpi_phase_s: 0.0,
    };
}

/// One scan window of the observing phone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanWindow {
    /// When the window opens, in seconds.
    pub start_s: f64,
    /// When the previous window opened.
    pub previous_start_s: f64,
}

/// What one scan window recorded of one RPI: the framework's "scan instance" before aggregation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting {
    /// Time of the first received advertisement.
    pub time_s: f64,
    /// Start of the scan window that received it.
    pub window_start_s: f64,
    /// Start of the scan window before that one.
    pub previous_window_start_s: f64,
    /// Which of the advertiser's RPIs (counted from its rotation phase) was received.
    pub rpi: i64,
    /// Number of advertisements received in the window.
    pub received: u32,
    /// Smallest attenuation among them, whole dB.
    pub min_attenuation_db: u8,
    /// Their mean attenuation in dB, rounded: the framework's "typical" attenuation.
    pub typical_attenuation_db: u8,
}

/// The outcome of one run of a scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutput {
    /// The scanner's windows over the scenario's span (plus one before it).
    pub windows: Vec<ScanWindow>,
    /// Per encounter, in the scenario's order, its sightings in time order.
    pub sightings: Vec<Vec<Sighting>>,
}

impl RunOutput {
    /// Whether encounter `index` was seen at all.
    pub fn detected(&self, index: usize) -> bool {
        self.sightings.get(index).is_some_and(|s| !s.is_empty())
    }
}

/// The radio model with its validated configuration.
#[derive(Debug, Clone)]
pub struct Simulator {
    cfg: RadioConfig,
    interval_min_s: f64,
    interval_max_s: f64,
}

impl Simulator {
    /// Validates the configuration and builds the model.
    pub fn new(cfg: RadioConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let interval_min_s = cfg.advertising.interval_min_ms / 1000.0;
        let interval_max_s = cfg.advertising.interval_max_ms / 1000.0;
        Ok(Self {
            cfg,
            interval_min_s,
            interval_max_s,
        })
    }

    /// The configuration the model runs with.
    pub fn config(&self) -> &RadioConfig {
        &self.cfg
    }

    /// Mean attenuation at `distance_m` with `loss_db` of obstruction (log-distance path loss). Distances
    /// below 10 cm are treated as 10 cm: the far-field formula means nothing closer.
    pub fn mean_attenuation_db(&self, distance_m: f64, loss_db: f64) -> f64 {
        let c = &self.cfg.channel;
        c.attenuation_at_1m_db + 10.0 * c.path_loss_exponent * distance_m.max(0.1).log10() + loss_db
    }

    /// The largest distance at which a line-of-sight advertisement is received on average.
    pub fn mean_range_m(&self) -> f64 {
        let c = &self.cfg.channel;
        10f64.powf((c.max_attenuation_db - c.attenuation_at_1m_db) / (10.0 * c.path_loss_exponent))
    }

    /// One attenuation as the scanner would record it for a single advertisement (whole dB), or `None` when
    /// the advertisement is not received. Draws shadowing and fading as one window would.
    pub fn sample_attenuation<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        distance_m: f64,
        loss_db: f64,
    ) -> Option<u8> {
        let c = &self.cfg.channel;
        let shadow = gaussian(rng, c.shadowing_sigma_db);
        let att = self.mean_attenuation_db(distance_m, loss_db)
            + shadow
            + gaussian(rng, c.fading_sigma_db);
        if att > c.max_attenuation_db || (c.packet_loss > 0.0 && rng.gen::<f64>() < c.packet_loss) {
            return None;
        }
        Some(quantise(att))
    }

    /// Runs the scenario once. `out` is reused between runs to avoid allocating in the hot loop.
    pub fn run<R: Rng + ?Sized>(
        &self,
        scenario: &Scenario,
        placement: Placement,
        rng: &mut R,
        out: &mut RunOutput,
    ) {
        let (start, end) = scenario.span();
        self.schedule(start, end, placement, rng, &mut out.windows);
        out.sightings
            .resize_with(scenario.encounters.len(), Vec::new);
        out.sightings.truncate(scenario.encounters.len());
        for (encounter, sightings) in scenario.encounters.iter().zip(out.sightings.iter_mut()) {
            sightings.clear();
            self.observe(encounter, &out.windows, placement, rng, sightings);
        }
    }

    /// Fills `windows` with the scan windows that can overlap `[start, end]`, preceded by at least one
    /// window before `start` so that every window has a predecessor.
    fn schedule<R: Rng + ?Sized>(
        &self,
        start: f64,
        end: f64,
        placement: Placement,
        rng: &mut R,
        windows: &mut Vec<ScanWindow>,
    ) {
        windows.clear();
        let s = &self.cfg.scanning;
        let period = |rng: &mut R| uniform(rng, s.period_min_s, s.period_max_s);
        // The last window opening at or before `start`, and the period that follows it.
        let (mut t, mut next_period) = match placement {
            // `start` falls in a length-biased period, at a uniform position within it.
            Placement::Random => {
                let gap = length_biased_gap(rng, s.period_min_s, s.period_max_s);
                (start - gap * rng.gen::<f64>(), gap)
            }
            Placement::Fixed { scan_phase_s, .. } if s.period_min_s == s.period_max_s => {
                let t = scan_phase_s
                    + ((start - scan_phase_s) / s.period_min_s).floor() * s.period_min_s;
                (t, s.period_min_s)
            }
            Placement::Fixed { scan_phase_s, .. } => {
                let mut t = scan_phase_s;
                while t > start {
                    t -= period(rng);
                }
                (t, period(rng))
            }
        };
        let mut previous = t - period(rng);
        while t <= end {
            windows.push(ScanWindow {
                start_s: t,
                previous_start_s: previous,
            });
            previous = t;
            t += next_period;
            next_period = period(rng);
        }
    }

    fn observe<R: Rng + ?Sized>(
        &self,
        encounter: &Encounter,
        windows: &[ScanWindow],
        placement: Placement,
        rng: &mut R,
        sightings: &mut Vec<Sighting>,
    ) {
        let c = &self.cfg.channel;
        let window_s = self.cfg.scanning.window_s;
        let rotation = self.cfg.advertising.rpi_rotation_s;
        let fixed_interval = self.interval_min_s == self.interval_max_s;
        let (advertising_phase, rpi_phase) = match placement {
            Placement::Random => (
                uniform(rng, 0.0, self.interval_min_s),
                uniform(rng, 0.0, rotation),
            ),
            Placement::Fixed {
                advertising_phase_s,
                rpi_phase_s,
                ..
            } => (advertising_phase_s, rpi_phase_s),
        };
        let loss = encounter.obstruction.loss_db(c) + encounter.extra_loss_db;
        let constant = match encounter.distance_m {
            Distance::Constant(d) => Some(self.mean_attenuation_db(d, loss)),
            Distance::Profile(_) => None,
        };
        let (e0, e1) = (encounter.start_s, encounter.end_s());
        let first = windows.partition_point(|w| w.start_s + window_s < e0);
        for window in &windows[first..] {
            if window.start_s > e1 {
                break;
            }
            let lo = window.start_s.max(e0);
            let hi = (window.start_s + window_s).min(e1);
            if lo > hi {
                continue;
            }
            // Line-of-sight losses change slowly compared with a window: one draw per window.
            let shadow = gaussian(rng, c.shadowing_sigma_db);
            let mut t = if fixed_interval {
                advertising_phase
                    + ((lo - advertising_phase) / self.interval_min_s).ceil() * self.interval_min_s
            } else {
                lo + residual_gap(rng, self.interval_min_s, self.interval_max_s)
            };
            let mut current: Option<(Sighting, u32)> = None;
            while t <= hi {
                let mean = match constant {
                    Some(m) => m,
                    None => self.mean_attenuation_db(encounter.distance_at(t - e0), loss),
                };
                let att = mean + shadow + gaussian(rng, c.fading_sigma_db);
                let lost = c.packet_loss > 0.0 && rng.gen::<f64>() < c.packet_loss;
                if att <= c.max_attenuation_db && !lost {
                    let db = quantise(att);
                    let rpi = ((t - rpi_phase) / rotation).floor() as i64;
                    match &mut current {
                        Some((s, sum)) if s.rpi == rpi => {
                            s.received += 1;
                            s.min_attenuation_db = s.min_attenuation_db.min(db);
                            *sum += u32::from(db);
                        }
                        _ => {
                            if let Some(done) = current.take() {
                                sightings.push(finish(done));
                            }
                            let s = Sighting {
                                time_s: t,
                                window_start_s: window.start_s,
                                previous_window_start_s: window.previous_start_s,
                                rpi,
                                received: 1,
                                min_attenuation_db: db,
                                typical_attenuation_db: db,
                            };
                            current = Some((s, u32::from(db)));
                        }
                    }
                }
                t += if fixed_interval {
                    self.interval_min_s
                } else {
                    uniform(rng, self.interval_min_s, self.interval_max_s)
                };
            }
            if let Some(done) = current {
                sightings.push(finish(done));
            }
        }
    }
}

/// Attenuation as an integer dB value the way the framework stores it: rounded, floored at 0.
fn quantise(att: f64) -> u8 {
    att.round().clamp(0.0, 255.0) as u8
}

fn finish((mut s, sum): (Sighting, u32)) -> Sighting {
    // Rounded mean of whole-dB values; `received` ≥ 1 because a sighting starts with one advertisement.
    let mean = (f64::from(sum) / f64::from(s.received)).round();
    s.typical_attenuation_db = mean.clamp(0.0, 255.0) as u8;
    s
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn fixed_schedule_is_periodic_from_its_phase() {
        let sim = Simulator::new(RadioConfig::fixed(0.25, 300.0, 2.0)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut windows = Vec::new();
        sim.schedule(450.0, 1000.0, Placement::ALIGNED, &mut rng, &mut windows);
        let starts: Vec<f64> = windows.iter().map(|w| w.start_s).collect();
        assert_eq!(starts, vec![300.0, 600.0, 900.0]);
        assert_eq!(windows[0].previous_start_s, 0.0);
    }

    #[test]
    fn random_schedule_respects_period_bounds() {
        let sim = Simulator::new(RadioConfig::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut windows = Vec::new();
        sim.schedule(0.0, 100_000.0, Placement::Random, &mut rng, &mut windows);
        assert!(windows[0].start_s <= 0.0 && windows[0].start_s >= -300.0);
        for w in &windows {
            let gap = w.start_s - w.previous_start_s;
            assert!((210.0..=300.0).contains(&gap), "gap {gap}");
        }
        let mean =
            (windows.last().unwrap().start_s - windows[0].start_s) / (windows.len() - 1) as f64;
        assert!((mean - 255.0).abs() < 5.0, "mean period {mean}");
    }

    #[test]
    fn lossless_window_inside_encounter_receives_every_advertisement() {
        let sim = Simulator::new(RadioConfig::fixed(0.25, 300.0, 2.0)).unwrap();
        let scenario = Scenario::single(100.0, 1.0).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut out = RunOutput::default();
        let placement = Placement::Fixed {
            scan_phase_s: 10.0,
            advertising_phase_s: 0.1,
            rpi_phase_s: 0.0,
        };
        sim.run(&scenario, placement, &mut rng, &mut out);
        // Advertisements at 10.1, 10.35, …, 11.85 fall in [10, 12]: eight of them.
        assert_eq!(out.sightings[0].len(), 1);
        let s = out.sightings[0][0];
        assert_eq!(s.received, 8);
        assert_eq!(s.time_s, 10.1);
        assert_eq!(s.min_attenuation_db, 50);
        assert_eq!(s.typical_attenuation_db, 50);
    }

    #[test]
    fn rpi_change_inside_a_window_splits_the_sighting() {
        let sim = Simulator::new(RadioConfig::fixed(0.25, 300.0, 2.0)).unwrap();
        let scenario = Scenario::single(100.0, 1.0).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut out = RunOutput::default();
        let placement = Placement::Fixed {
            scan_phase_s: 10.0,
            advertising_phase_s: 0.0,
            rpi_phase_s: 11.0,
        };
        sim.run(&scenario, placement, &mut rng, &mut out);
        let rpis: Vec<(i64, u32)> = out.sightings[0]
            .iter()
            .map(|s| (s.rpi, s.received))
            .collect();
        assert_eq!(rpis, vec![(-1, 4), (0, 5)]);
    }

    #[test]
    fn attenuation_follows_log_distance() {
        let sim = Simulator::new(RadioConfig::default()).unwrap();
        assert_eq!(sim.mean_attenuation_db(1.0, 0.0), 50.0);
        assert!((sim.mean_attenuation_db(10.0, 15.0) - 90.0).abs() < 1e-9);
        assert!((sim.mean_range_m() - 10f64.powf(1.6)).abs() < 1e-9);
    }
}
