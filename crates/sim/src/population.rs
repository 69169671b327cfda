//! A synthetic population for risk-configuration what-ifs: people who met one or more infected people
//! during a day, each encounter with a known distance, duration and obstruction, and so a known ground
//! truth ("at least 15 minutes within 2 m" by default).
//!
//! Only encounters with infected people matter to warnings (no other key ever matches), so everyone here
//! met at least one. The mix of encounter kinds is a plausible everyday day, not a measured one; change
//! [`EncounterKind::MIX`] to test other assumptions.

use rand::Rng;

use crate::sampling::uniform;
use crate::scenario::{Distance, Encounter, Obstruction, Scenario};

/// Parameters of the population and of the ground truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PopulationConfig {
    /// Number of people.
    pub people: usize,
    /// Mean number of encounters with infected people per person (at least one each).
    pub mean_encounters: f64,
    /// Ground truth: distance at or below which time counts as close.
    pub close_distance_m: f64,
    /// Ground truth: close minutes (summed over the day's encounters) that make a close contact.
    pub close_minutes: f64,
}

impl Default for PopulationConfig {
    fn default() -> Self {
        Self {
            people: 2_000,
            mean_encounters: 2.0,
            close_distance_m: 2.0,
            close_minutes: 15.0,
        }
    }
}

/// One kind of everyday encounter, with ranges its parameters are drawn from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncounterKind {
    /// Name, used as the encounter's label.
    pub name: &'static str,
    /// Relative frequency.
    pub weight: f64,
    /// Duration range in seconds, drawn log-uniformly.
    pub duration_s: (f64, f64),
    /// Distance range in metres, drawn uniformly.
    pub distance_m: (f64, f64),
    /// Obstructions, one drawn uniformly.
    pub obstructions: &'static [Obstruction],
}

impl EncounterKind {
    /// The default mix: brief passes, conversations, long close and long distant contacts, neighbours.
    pub const MIX: [Self; 5] = [
        Self {
            name: "brush-by",
            weight: 0.25,
            duration_s: (5.0, 60.0),
            distance_m: (0.5, 3.0),
            obstructions: &[Obstruction::None, Obstruction::Body],
        },
        Self {
            name: "short conversation",
            weight: 0.25,
            duration_s: (60.0, 600.0),
            distance_m: (0.8, 3.0),
            obstructions: &[Obstruction::None],
        },
        Self {
            name: "long close contact",
            weight: 0.2,
            duration_s: (600.0, 3600.0),
            distance_m: (0.5, 2.5),
            obstructions: &[Obstruction::None, Obstruction::None, Obstruction::Body],
        },
        Self {
            name: "long distant contact",
            weight: 0.2,
            duration_s: (600.0, 7200.0),
            distance_m: (2.0, 8.0),
            obstructions: &[Obstruction::None, Obstruction::Body, Obstruction::Seat],
        },
        Self {
            name: "neighbour through a wall",
            weight: 0.1,
            duration_s: (3600.0, 28_800.0),
            distance_m: (2.5, 6.0),
            obstructions: &[Obstruction::Wall],
        },
    ];
}

/// One person of the population: their day's encounters and the ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// The encounters, as a scenario (one key per encounter).
    pub scenario: Scenario,
    /// Seconds spent within the ground-truth distance, walls excluded (no transmission through them).
    pub close_seconds: f64,
    /// Whether the ground truth says this person should be warned.
    pub is_close_contact: bool,
}

/// Draws the population.
pub fn generate<R: Rng + ?Sized>(cfg: &PopulationConfig, rng: &mut R) -> Vec<Person> {
    (0..cfg.people).map(|i| person(cfg, i, rng)).collect()
}

fn person<R: Rng + ?Sized>(cfg: &PopulationConfig, index: usize, rng: &mut R) -> Person {
    let extra = poisson(rng, (cfg.mean_encounters - 1.0).max(0.0));
    let total_weight: f64 = EncounterKind::MIX.iter().map(|k| k.weight).sum();
    let mut encounters = Vec::new();
    for _ in 0..=extra {
        let mut pick = rng.gen::<f64>() * total_weight;
        let kind = EncounterKind::MIX
            .iter()
            .find(|k| {
                pick -= k.weight;
                pick < 0.0
            })
            .unwrap_or(&EncounterKind::MIX[0]);
        let (lo, hi) = kind.duration_s;
        let duration_s = (uniform(rng, lo.ln(), hi.ln())).exp().round().max(1.0);
        let distance = uniform(rng, kind.distance_m.0, kind.distance_m.1);
        let obstruction = kind.obstructions[rng.gen_range(0..kind.obstructions.len())];
        // Waking hours; encounters may overlap, as they do with several people in one room.
        let start_s = uniform(rng, 7.0 * 3600.0, 22.0 * 3600.0).round();
        encounters.push(Encounter {
            label: kind.name.to_owned(),
            start_s,
            duration_s,
            distance_m: Distance::Constant((distance * 100.0).round() / 100.0),
            obstruction,
            extra_loss_db: 0.0,
        });
    }
    let close_seconds: f64 = encounters
        .iter()
        .filter(|e| e.obstruction != Obstruction::Wall)
        .map(|e| e.seconds_within(cfg.close_distance_m))
        .sum();
    Person {
        scenario: Scenario {
            name: format!("person-{index}"),
            description: String::new(),
            encounters,
        },
        close_seconds,
        is_close_contact: close_seconds >= cfg.close_minutes * 60.0,
    }
}

/// Poisson variate by multiplication of uniforms (means here are small).
fn poisson<R: Rng + ?Sized>(rng: &mut R, mean: f64) -> u32 {
    let limit = (-mean).exp();
    let mut product = rng.gen::<f64>();
    let mut k = 0;
    while product > limit && k < 1_000 {
        product *= rng.gen::<f64>();
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn population_has_the_requested_size_mean_and_some_of_both_truths() {
        let cfg = PopulationConfig {
            people: 3_000,
            ..PopulationConfig::default()
        };
        let people = generate(&cfg, &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(people.len(), 3_000);
        let encounters: usize = people.iter().map(|p| p.scenario.encounters.len()).sum();
        let mean = encounters as f64 / 3_000.0;
        assert!((mean - 2.0).abs() < 0.1, "{mean}");
        let close = people.iter().filter(|p| p.is_close_contact).count();
        assert!(close > 300 && close < 2_000, "{close}");
        for p in &people {
            p.scenario.validate().unwrap();
            let truth = p.close_seconds >= 900.0;
            assert_eq!(truth, p.is_close_contact);
        }
    }

    #[test]
    fn walls_never_count_as_close() {
        let cfg = PopulationConfig {
            close_distance_m: 100.0,
            ..PopulationConfig::default()
        };
        let people = generate(&cfg, &mut ChaCha8Rng::seed_from_u64(10));
        for p in people {
            let open: f64 = p
                .scenario
                .encounters
                .iter()
                .filter(|e| e.obstruction != Obstruction::Wall)
                .map(|e| e.duration_s)
                .sum();
            assert_eq!(p.close_seconds, open);
        }
    }
}
