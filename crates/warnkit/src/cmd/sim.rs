//! `warnkit sim`: the BLE radio model on encounters and scenarios, risk-configuration what-ifs, and the
//! plots of both. The model lives in `warnkit-sim`, the runs scored with risk in `warnkit-experiments`;
//! this module parses arguments, shows progress and prints tables or JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use warnkit_sim::{RadioConfig, Scenario};

use super::progress::Progress;

mod ble;
mod plots;
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

/// The library's progress reports on stderr: each phase a [`Progress`] of its own, silent with
/// `--json`.
pub(crate) struct StderrProgress {
    quiet: bool,
    current: Option<Progress>,
}

impl StderrProgress {
    /// Reports on stderr, or nothing when `quiet`.
    pub(crate) fn new(quiet: bool) -> Self {
        Self {
            quiet,
            current: None,
        }
    }
}

impl warnkit_sim::progress::Progress for StderrProgress {
    fn start(&mut self, what: &str, unit: &str, len: u64) {
        self.finish();
        self.current = Some(Progress::new(what, unit, len, self.quiet));
    }

    fn inc(&mut self, n: u64) {
        if let Some(p) = &self.current {
            p.inc(n);
        }
    }

    fn finish(&mut self) {
        if let Some(p) = self.current.take() {
            p.finish_and_clear();
        }
    }
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
