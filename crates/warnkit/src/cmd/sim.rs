//! `warnkit sim`: the BLE radio model on encounters and scenarios, risk-configuration what-ifs, and the
//! plots of both. The model itself lives in `warnkit-sim`; this module parses arguments, drives runs with
//! a progress bar and prints tables or JSON.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use warnkit_sim::{RadioConfig, Scenario};

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

/// A progress bar on stderr, hidden when stderr is not a terminal or output is JSON.
pub(crate) fn progress(len: u64, message: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta} left)") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
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
