//! Encounter scenarios: TOML files listing encounters (start, duration, distance over time, obstruction),
//! and the scenarios shipped inside the binary.
//!
//! ```toml
//! name = "example"
//! description = "A colleague walks up and stays."
//!
//! [[encounter]]
//! label = "colleague"
//! start_s = 60.0                         # seconds after the scanner's observation starts
//! duration_s = 900.0
//! distance_m = [[0.0, 4.0], [30.0, 1.0]] # (seconds into the encounter, metres), linear in between;
//!                                        # or a single number for a constant distance
//! obstruction = "none"                   # none | body | seat | wall
//! extra_loss_db = 0.0                    # any further loss, added to the obstruction's
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::ChannelConfig;

/// The shipped scenarios: name and TOML text, embedded at compile time.
pub const BUILTIN: &[(&str, &str)] = &[
    ("seed-figure", include_str!("../scenarios/seed-figure.toml")),
    ("supermarket", include_str!("../scenarios/supermarket.toml")),
    (
        "close-contact",
        include_str!("../scenarios/close-contact.toml"),
    ),
    ("train", include_str!("../scenarios/train.toml")),
    ("neighbours", include_str!("../scenarios/neighbours.toml")),
];

/// A named list of encounters seen by one scanning phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used for output file names.
    pub name: String,
    /// One or two sentences on what the scenario shows.
    #[serde(default)]
    pub description: String,
    /// The encounters, each with one other phone.
    #[serde(rename = "encounter")]
    pub encounters: Vec<Encounter>,
}

/// One encounter between the scanning phone and one advertising phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encounter {
    /// Who the other phone is, e.g. "device 2".
    pub label: String,
    /// Start in seconds on the scanner's clock.
    pub start_s: f64,
    /// Duration in seconds.
    pub duration_s: f64,
    /// Distance over the encounter.
    pub distance_m: Distance,
    /// What stands between the phones.
    #[serde(default)]
    pub obstruction: Obstruction,
    /// Further loss in dB on top of the obstruction's.
    #[serde(default)]
    pub extra_loss_db: f64,
}

/// Distance between the phones during an encounter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Distance {
    /// The same distance throughout.
    Constant(f64),
    /// Points (seconds into the encounter, metres), linearly interpolated and held constant beyond the ends.
    Profile(Vec<[f64; 2]>),
}

/// What blocks the line of sight between the phones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Obstruction {
    /// Line of sight.
    #[default]
    None,
    /// A human body (a phone in a back pocket, a person in between).
    Body,
    /// A seat back in a train or bus.
    Seat,
    /// A wall between rooms or flats.
    Wall,
}

impl Obstruction {
    /// The loss this obstruction adds under the given channel parameters.
    pub fn loss_db(self, channel: &ChannelConfig) -> f64 {
        match self {
            Self::None => 0.0,
            Self::Body => channel.body_loss_db,
            Self::Seat => channel.seat_loss_db,
            Self::Wall => channel.wall_loss_db,
        }
    }
}

/// Why a scenario was rejected.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The TOML text could not be parsed into a scenario.
    Parse(String),
    /// No built-in scenario has this name.
    UnknownBuiltin(String),
    /// An encounter has a value the model cannot work with.
    Invalid {
        /// The encounter's label.
        encounter: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse(msg) => write!(f, "scenario is not valid: {msg}"),
            Self::UnknownBuiltin(name) => {
                let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                write!(
                    f,
                    "no built-in scenario {name:?} (there are: {})",
                    names.join(", ")
                )
            }
            Self::Invalid { encounter, reason } => write!(f, "encounter {encounter:?}: {reason}"),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    /// Parses and validates a scenario from TOML.
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Self =
            toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// One of the shipped scenarios, by name.
    pub fn builtin(name: &str) -> Result<Self, ScenarioError> {
        let text = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| *text)
            .ok_or_else(|| ScenarioError::UnknownBuiltin(name.to_owned()))?;
        Self::from_toml(text)
    }

    /// A scenario of one encounter at a constant distance with a clear line of sight, starting at 0.
    pub fn single(duration_s: f64, distance_m: f64) -> Result<Self, ScenarioError> {
        let scenario = Self {
            name: "single".to_owned(),
            description: format!("{duration_s} s at {distance_m} m"),
            encounters: vec![Encounter {
                label: "encounter".to_owned(),
                start_s: 0.0,
                duration_s,
                distance_m: Distance::Constant(distance_m),
                obstruction: Obstruction::None,
                extra_loss_db: 0.0,
            }],
        };
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks every encounter.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.encounters.is_empty() {
            return Err(ScenarioError::Invalid {
                encounter: self.name.clone(),
                reason: "has no encounters",
            });
        }
        self.encounters.iter().try_for_each(Encounter::validate)
    }

    /// Earliest start and latest end over all encounters, in seconds.
    pub fn span(&self) -> (f64, f64) {
        let start = self
            .encounters
            .iter()
            .map(|e| e.start_s)
            .fold(f64::INFINITY, f64::min);
        let end = self
            .encounters
            .iter()
            .map(Encounter::end_s)
            .fold(f64::NEG_INFINITY, f64::max);
        (start, end)
    }

    /// Sum of all encounter durations in minutes (the unit of the throughput benchmark).
    pub fn encounter_minutes(&self) -> f64 {
        self.encounters.iter().map(|e| e.duration_s).sum::<f64>() / 60.0
    }
}

impl Encounter {
    /// End in seconds on the scanner's clock.
    pub fn end_s(&self) -> f64 {
        self.start_s + self.duration_s
    }

    /// Distance `offset_s` seconds into the encounter.
    pub fn distance_at(&self, offset_s: f64) -> f64 {
        match &self.distance_m {
            Distance::Constant(d) => *d,
            Distance::Profile(points) => interpolate(points, offset_s),
        }
    }

    /// Seconds spent at or below `max_distance_m` (the ground truth of "close contact").
    pub fn seconds_within(&self, max_distance_m: f64) -> f64 {
        match &self.distance_m {
            Distance::Constant(d) => {
                if *d <= max_distance_m {
                    self.duration_s
                } else {
                    0.0
                }
            }
            Distance::Profile(_) => {
                // Profiles are short lists of slowly varying points; one-second steps are exact enough.
                let steps = self.duration_s.ceil() as u64;
                (0..steps)
                    .filter(|&k| self.distance_at(k as f64 + 0.5) <= max_distance_m)
                    .map(|k| (self.duration_s - k as f64).min(1.0))
                    .sum()
            }
        }
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let invalid = |reason| {
            Err(ScenarioError::Invalid {
                encounter: self.label.clone(),
                reason,
            })
        };
        if !self.start_s.is_finite() {
            return invalid("start_s must be finite");
        }
        if !(self.duration_s > 0.0 && self.duration_s.is_finite()) {
            return invalid("duration_s must be positive");
        }
        if !self.extra_loss_db.is_finite() {
            return invalid("extra_loss_db must be finite");
        }
        match &self.distance_m {
            Distance::Constant(d) if !(*d > 0.0 && d.is_finite()) => {
                invalid("distance_m must be positive")
            }
            Distance::Constant(_) => Ok(()),
            Distance::Profile(points) if points.is_empty() => {
                invalid("distance_m profile is empty")
            }
            Distance::Profile(points) => {
                if points
                    .iter()
                    .any(|[t, d]| !(t.is_finite() && *d > 0.0 && d.is_finite()))
                {
                    return invalid("distance_m profile needs finite times and positive distances");
                }
                if points.windows(2).any(|w| w[1][0] < w[0][0]) {
                    return invalid("distance_m profile times must not decrease");
                }
                Ok(())
            }
        }
    }
}

fn interpolate(points: &[[f64; 2]], t: f64) -> f64 {
    let Some(first) = points.first() else {
        return f64::INFINITY;
    };
    if t <= first[0] {
        return first[1];
    }
    for w in points.windows(2) {
        let ([t0, d0], [t1, d1]) = (w[0], w[1]);
        if t <= t1 {
            let span = t1 - t0;
            return if span > 0.0 {
                d0 + (d1 - d0) * (t - t0) / span
            } else {
                d1
            };
        }
    }
    points[points.len() - 1][1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses() {
        for (name, _) in BUILTIN {
            let s = Scenario::builtin(name).unwrap();
            assert_eq!(&s.name, name);
            assert!(!s.description.is_empty(), "{name} lacks a description");
        }
        assert!(matches!(
            Scenario::builtin("nope"),
            Err(ScenarioError::UnknownBuiltin(_))
        ));
    }

    #[test]
    fn profiles_interpolate_and_clamp() {
        let text = r#"
            name = "t"
            [[encounter]]
            label = "a"
            start_s = 0
            duration_s = 100
            distance_m = [[0, 4.0], [10, 1.0], [20, 1.0], [30, 4.0]]
        "#;
        let e = &Scenario::from_toml(text).unwrap().encounters[0];
        assert_eq!(e.distance_at(-5.0), 4.0);
        assert_eq!(e.distance_at(5.0), 2.5);
        assert_eq!(e.distance_at(15.0), 1.0);
        assert_eq!(e.distance_at(99.0), 4.0);
        // Within 2 m from t = 20/3 to t = 20 + 10/3: 16.67 s, sampled in whole seconds.
        let close = e.seconds_within(2.0);
        assert!((close - 16.67).abs() <= 1.0, "{close}");
    }

    #[test]
    fn invalid_encounters_name_themselves() {
        let text = "name = \"t\"\n[[encounter]]\nlabel = \"bad\"\nstart_s = 0\nduration_s = -1\ndistance_m = 1\n";
        assert_eq!(
            Scenario::from_toml(text),
            Err(ScenarioError::Invalid {
                encounter: "bad".into(),
                reason: "duration_s must be positive"
            })
        );
        let text = "name = \"t\"\n[[encounter]]\nlabel = \"p\"\nstart_s = 0\nduration_s = 1\ndistance_m = [[5, 1], [1, 2]]\n";
        assert!(matches!(
            Scenario::from_toml(text),
            Err(ScenarioError::Invalid { .. })
        ));
        assert!(matches!(
            Scenario::from_toml("name = \"t\"\nencounter = []\n"),
            Err(ScenarioError::Invalid { .. })
        ));
    }
}
