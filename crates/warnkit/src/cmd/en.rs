//! `warnkit en`: Exposure Notification crypto from the command line (the derivations are
//! `warnkit_experiments::derive`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use warnkit_experiments::derive::{derive, Derived};
use warnkit_protocol::crypto::{Metadata, Tek};
use warnkit_protocol::interval::datetime_string;

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
        /// One JSON object per interval and line: `enin`, `time` (its start, RFC 3339), `unix`,
        /// `rpi` and, with `--metadata`, `aem`.
        #[arg(long)]
        json: bool,
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
            json,
        } => {
            let tek = Tek(parse_hex::<16>(&tek).context("--tek")?);
            let metadata = metadata
                .map(|m| {
                    parse_hex::<4>(&m)
                        .context("--metadata")
                        .map(Metadata::decode)
                })
                .transpose()?;
            // Checked before the first line, so a refused range prints nothing.
            let Ok(lines) = derive(&tek, interval, count, metadata) else {
                bail!("--interval {interval} + --count {count} passes the largest interval number");
            };
            // Streamed: a million intervals would otherwise sit in memory before the first line.
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for Derived { enin, rpi, aem } in lines {
                let aem = aem.map(hex::encode);
                if json {
                    let unix = i64::from(enin) * 600;
                    let mut line = serde_json::json!({
                        "enin": enin,
                        "unix": unix,
                        "time": datetime_string(unix),
                        "rpi": hex::encode(rpi.0),
                    });
                    if let Some(aem) = aem {
                        line["aem"] = aem.into();
                    }
                    write!(out, "{line}")?;
                } else {
                    write!(out, "{enin} {}", hex::encode(rpi.0))?;
                    if let Some(aem) = aem {
                        write!(out, " {aem}")?;
                    }
                }
                writeln!(out)?;
            }
            out.flush()?;
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
