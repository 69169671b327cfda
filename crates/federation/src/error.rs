//! Why a federation job could not start or a run failed: one enum by job, so callers tell a failed
//! upload from a failed download and `?` either into their own errors with the cause chain intact.

/// The cause below the job (the gateway, the key store, the federation database), kept whole so that
/// the chain of causes reaches the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why [`crate::Federation`] could not start or one of its jobs failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    /// The gateway client could not be set up from the settings (the URL or the token).
    #[error("federation gateway client")]
    Client(#[source] Cause),
    /// The federation database could not be opened or migrated.
    #[error("federation database")]
    Database(#[source] Cause),
    /// The upload job failed; the next run uploads the same range again.
    #[error("federation upload")]
    Upload(#[source] Cause),
    /// The download job failed; the next run goes on from the last batch handled.
    #[error("federation download")]
    Download(#[source] Cause),
}

impl FederationError {
    /// The error and every cause below it, on one line (`a: b: c`), as the logs show it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_every_cause() {
        let inner = anyhow::anyhow!("connection refused").context("posting batch h1-h2-0");
        let err = FederationError::Upload(inner.into());
        assert_eq!(err.to_string(), "federation upload");
        assert_eq!(
            err.chain(),
            "federation upload: posting batch h1-h2-0: connection refused"
        );
        assert!(matches!(err, FederationError::Upload(_)));
    }
}
