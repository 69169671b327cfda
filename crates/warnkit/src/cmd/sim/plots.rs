//! `warnkit sim plots`: the figures of the BLE model (`warnkit_sim::figures`) written into a directory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use warnkit_sim::{figures, Simulator};

use super::StderrProgress;

/// Arguments of `warnkit sim plots`.
#[derive(Debug, Args)]
pub struct PlotsArgs {
    /// Directory to write into (created if missing); `docs/plots` in a checkout redraws the
    /// documentation's figures.
    #[arg(long, value_name = "DIR")]
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
    let files = figures::all(
        &sim,
        &args.out,
        args.seed,
        &mut StderrProgress::new(args.json),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Written { files })?);
    } else {
        for f in files {
            println!("wrote {}", f.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
