//! How a running benchmark tells its caller what it does: phases, counted steps and warnings, which
//! the binary shows on stderr (and a test ignores).

use std::sync::Arc;

/// Receives what a benchmark says while it runs. Shared by the benchmark's tasks and threads.
pub trait Reporter: Send + Sync {
    /// A phase begins; `text` says which, e.g. "uploading ...".
    fn phase(&self, text: &str);
    /// Work of `len` steps of `unit` (e.g. "uploads") begins under the name `what`.
    fn steps(&self, what: &str, unit: &str, len: u64) -> Arc<dyn Steps>;
    /// Something failed without ending the benchmark; its figures may be missing a part.
    fn warn(&self, text: &str);
}

/// The counter of one piece of counted work.
pub trait Steps: Send + Sync {
    /// `n` more steps done.
    fn inc(&self, n: u64);
    /// The work is over.
    fn finish(&self);
}

/// A reporter that drops everything: for tests and callers that only want the report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn phase(&self, _: &str) {}

    fn steps(&self, _: &str, _: &str, _: u64) -> Arc<dyn Steps> {
        Arc::new(Silent)
    }

    fn warn(&self, _: &str) {}
}

impl Steps for Silent {
    fn inc(&self, _: u64) {}

    fn finish(&self) {}
}
