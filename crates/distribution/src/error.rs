//! Why the distribution job did not start or a run failed: one enum by cause, so callers match on
//! what went wrong (a refused clock, say) and `?` it into their own errors with the cause chain intact.

use warnkit_protocol::interval::datetime_string;

/// The cause of a failure below the job (the object store, the key store, the signing keys), kept
/// whole so that the chain of causes reaches the log and the last-run record.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why [`crate::Distribution`] could not start or a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistributionError {
    /// The configuration cannot be published: which `distribution.*` key, and why.
    #[error("{0}")]
    Config(String),
    /// The clock is earlier than what is published (see [`RewindRefused`]).
    #[error(transparent)]
    Rewind(#[from] RewindRefused),
    /// The local lock file or the database's advisory lock could not be taken.
    #[error("taking the distribution lock")]
    Lock(#[source] Cause),
    /// The key store could not be read.
    #[error("reading keys")]
    Keys(#[source] Cause),
    /// The signing keys could not be loaded, or could not sign.
    #[error("signing")]
    Signing(#[source] Cause),
    /// The object store could not be listed, read or written.
    #[error("publishing")]
    Objects(#[source] Cause),
    /// The planning thread did not finish.
    #[error("planning thread")]
    Plan(#[source] Cause),
}

impl DistributionError {
    /// The error and every cause below it, on one line (`a: b: c`), as logs and the last-run record
    /// show it.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
}

/// A run refused because its clock is earlier than the newest published file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewindRefused {
    /// The time the run acted as (Unix seconds).
    pub clock: i64,
    /// The earliest time a run may act as (Unix seconds): the start of the hour after the newest
    /// published period.
    pub earliest: i64,
    /// The URL path of the newest published file.
    pub newest: String,
}

impl std::fmt::Display for RewindRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refusing to publish as of {}: {} is published, so the clock must be at {} or later; \
             a run acting earlier would withdraw or replace files that phones and caches keep as \
             immutable. Check the system clock (or --now); to roll the published files back after a \
             disaster, run `warnkit distribute --force-rewind`",
            datetime_string(self.clock),
            self.newest,
            datetime_string(self.earliest),
        )
    }
}

impl std::error::Error for RewindRefused {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_every_cause() {
        let io = std::io::Error::other("disk full");
        let inner = anyhow::Error::new(io).context("writing version/v1/index");
        let err = DistributionError::Objects(inner.into());
        assert_eq!(err.to_string(), "publishing");
        assert_eq!(
            err.chain(),
            "publishing: writing version/v1/index: disk full"
        );
        let config = DistributionError::Config("distribution.region = \"\": bad".into());
        assert_eq!(config.chain(), "distribution.region = \"\": bad");
    }
}
