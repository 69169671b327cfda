//! `warnkit sim`: the BLE radio model on encounters and scenarios, risk-configuration what-ifs, and the
//! plots of both. The model itself lives in `warnkit-sim`; this module parses arguments, drives runs with
//! progress reports and prints tables or JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use warnkit_sim::{RadioConfig, Scenario};

use super::progress::Progress;

mod ble;
mod plots;
mod risk;
mod whatif;

/// Simulation commands.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Detection probability, recorded attenuation and resulting risk of encounters under the BLE model.
    Ble(ble::BleArgs),
    /// Run a synthetic population through the BLE model and score a risk configuration against ground truth.
    Whatif(whatif::WhatifArgs),
    /// Write the plots of every shipped scenario (and the general ones) into a directory.
    Plots(plots::PlotsArgs),
}

/// Runs a `sim` command.
pub fn run(command: SimCommand) -> anyhow::Result<ExitCode> {
    match command {
        SimCommand::Ble(args) => ble::run(args),
        SimCommand::Whatif(args) => whatif::run(args),
        SimCommand::Plots(args) => plots::run(args),
    }
}

/// The progress of `len` steps on stderr (see [`Progress`]), silent with `--json`. Kept for the
/// commands that count plain steps; those with a unit of their own call [`Progress::new`].
pub(crate) fn progress(len: u64, message: &str, json: bool) -> Progress {
    Progress::new(message, "steps", len, json)
}

/// The radio configuration: a TOML file, or the documented defaults.
fn radio_config(path: Option<&Path>) -> anyhow::Result<RadioConfig> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading radio config {}", path.display()))?;
            RadioConfig::from_toml(&text).with_context(|| format!("in {}", path.display()))
        }
        None => Ok(RadioConfig::default()),
    }
}

/// A shipped scenario by name, or a TOML file by path.
fn scenario(name_or_path: &str) -> anyhow::Result<Scenario> {
    if let Ok(s) = Scenario::builtin(name_or_path) {
        return Ok(s);
    }
    let path = PathBuf::from(name_or_path);
    if !path.exists() {
        // Neither: report the built-in names, which is the likelier intent.
        return Scenario::builtin(name_or_path).map_err(Into::into);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading scenario {}", path.display()))?;
    Scenario::from_toml(&text).with_context(|| format!("in {}", path.display()))
}

/// Formats an optional number for a table cell.
fn cell(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}
