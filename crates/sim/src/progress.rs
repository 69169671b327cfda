//! Progress of long computations, reported through a trait so that the library itself prints nothing.

/// Receives the progress of a long computation, one phase at a time: a phase starts with a known
/// number of steps, steps get done, the phase finishes. The command line draws a bar or logs lines.
pub trait Progress {
    /// A phase named `what` of `len` steps of `unit` (e.g. "runs", "people") starts.
    fn start(&mut self, what: &str, unit: &str, len: u64);
    /// `n` more steps of the current phase are done.
    fn inc(&mut self, n: u64);
    /// The current phase is over.
    fn finish(&mut self);
}

/// Reports nothing: for tests and callers that do not show progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _what: &str, _unit: &str, _len: u64) {}
    fn inc(&mut self, _n: u64) {}
    fn finish(&mut self) {}
}
