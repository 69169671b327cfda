//! What the `warnkit bench` commands share: a report printed as text or JSON, and the benchmarks'
//! phases, progress and warnings shown on stderr (progress silent under `--json`).

use std::process::ExitCode;
use std::sync::Arc;

use serde::Serialize;
use warnkit_bench::{Reporter, Steps};

use super::progress::Progress;

/// Prints `report`: as JSON when `json`, else as `text` writes it.
pub(crate) fn print_report<R: Serialize>(
    report: anyhow::Result<R>,
    json: bool,
    text: impl FnOnce(&R),
) -> anyhow::Result<ExitCode> {
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        text(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// A benchmark's voice on stderr: phases and warnings as lines, counted work as the commands'
/// [`Progress`] (hidden when `json`, so that stderr holds only phases and errors).
pub(crate) struct Stderr {
    /// Whether the report is printed as JSON.
    pub(crate) json: bool,
}

impl Reporter for Stderr {
    fn phase(&self, text: &str) {
        eprintln!("{text}");
    }

    fn steps(&self, what: &str, unit: &str, len: u64) -> Arc<dyn Steps> {
        Arc::new(Progress::new(what, unit, len, self.json))
    }

    fn warn(&self, text: &str) {
        eprintln!("warning: {text}");
    }
}

impl Steps for Progress {
    fn inc(&self, n: u64) {
        Progress::inc(self, n);
    }

    fn finish(&self) {
        self.finish_and_clear();
    }
}
