//! `warnkit en`: Exposure Notification crypto from the command line.

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use warnkit_protocol::crypto::{Metadata, Tek};

/// Exposure Notification crypto commands.
#[derive(Debug, Subcommand)]
pub enum EnCommand {
    /// Print the RPI (and AEM) of a TEK for consecutive intervals: one `ENIN RPI [AEM]` line each.
    Derive {
        /// The Temporary Exposure Key, 32 hex digits.
        #[arg(long)]
        tek: String,
        /// The first ENIntervalNumber (Unix seconds / 600).
        #[arg(long)]
        interval: u32,
        /// How many consecutive intervals to print.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        count: u32,
        /// Metadata to encrypt into an AEM per interval, 8 hex digits (e.g. 40080000).
        #[arg(long)]
        metadata: Option<String>,
    },
}

/// Runs an `en` command.
pub fn run(command: EnCommand) -> anyhow::Result<ExitCode> {
    match command {
        EnCommand::Derive {
            tek,
            interval,
            count,
            metadata,
        } => {
            let tek = Tek(parse_hex::<16>(&tek).context("--tek")?);
            let metadata = metadata
                .map(|m| {
                    parse_hex::<4>(&m)
                        .context("--metadata")
                        .map(Metadata::decode)
                })
                .transpose()?;
            let (rpik, aemk) = tek.derive_keys();
            let mut out = String::new();
            for i in 0..count {
                let Some(enin) = interval.checked_add(i) else {
                    bail!("--interval {interval} + --count {count} passes the largest interval number")
                };
                let rpi = rpik.rpi(enin);
                out.push_str(&format!("{enin} {}", hex::encode(rpi.0)));
                if let Some(m) = &metadata {
                    out.push_str(&format!(" {}", hex::encode(aemk.encrypt(&rpi, m))));
                }
                out.push('\n');
            }
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Parses exactly `N` bytes of hex, with a message naming what was wrong.
pub fn parse_hex<const N: usize>(text: &str) -> anyhow::Result<[u8; N]> {
    let text = text.trim();
    if text.len() != 2 * N {
        bail!("expected {} hex digits, got {}", 2 * N, text.len());
    }
    let bytes = hex::decode(text).map_err(|e| anyhow::anyhow!("not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("expected {N} bytes"))
}
