//! Simulation for warnkit: how well Bluetooth proximity detection can work at all, what a risk
//! configuration makes of it, and how much load the download schedule puts on the servers.
//!
//! - [`config`]: the radio model's parameters (TOML, every field defaulted and documented).
//! - [`scenario`]: encounter scenarios as TOML files, and the ones shipped in the binary.
//! - [`model`]: the BLE model — advertising, scan windows, RPI rotation, path loss — computed per scan
//!   window rather than stepped in time.
//! - [`exposure`]: what the phone's framework aggregates from sightings (v1 exposures, v2 windows).
//! - [`stats`]: Monte Carlo tallies and sweeps.
//! - [`population`]: a synthetic population with ground-truth contacts, for risk-configuration what-ifs.
//! - [`truth`]: the rule of who is truly exposed by a positive (15 close minutes on an infectious day).
//! - [`load`]: requests per second over a day under the jittered download schedule.
//! - [`plot`]: PNG and SVG charts with an embedded font.
//! - [`figures`]: the model's figures (timelines, detection against duration, attenuation against distance).
//! - [`timing`]: overrides of the scan timing (period, window, the seeds' fixed timing).
//! - [`progress`]: the trait through which long computations report progress.
//!
//! Everything is deterministic for a given random number generator; callers seed a `ChaCha8Rng`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod exposure;
pub mod figures;
pub mod load;
pub mod model;
pub mod plot;
pub mod population;
pub mod progress;
pub mod sampling;
pub mod scenario;
pub mod stats;
pub mod timing;
pub mod truth;

pub use config::{ConfigError, RadioConfig};
pub use model::{Placement, RunOutput, Sighting, Simulator};
pub use scenario::{Scenario, ScenarioError};
