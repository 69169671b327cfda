//! Background jobs that run now and then again on a period until a [`Shutdown`] (retention, distribution,
//! federation).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use crate::server::Shutdown;

/// Runs `job` now and then every `period` until `shutdown`. A failed run is logged as a warning,
/// `"{name} failed"` with the error, and the job runs again at the next period.
pub async fn every<T, E, F>(
    name: &str,
    period: Duration,
    shutdown: Shutdown,
    mut job: impl FnMut() -> F,
) where
    E: Display,
    F: Future<Output = Result<T, E>>,
{
    repeat(
        shutdown,
        || period,
        || {
            let run = job();
            async move {
                if let Err(e) = run.await {
                    // `#` shows an `anyhow` error's causes; other errors ignore it.
                    tracing::warn!(error = %format_args!("{e:#}"), "{name} failed");
                }
            }
        },
    )
    .await;
}

/// Runs `job` now and then again after each pause `pause()` returns (asked after the run, so a
/// schedule can align to the clock), until `shutdown`. A shutdown during a run lets it finish.
pub async fn repeat<F>(
    mut shutdown: Shutdown,
    mut pause: impl FnMut() -> Duration,
    mut job: impl FnMut() -> F,
) where
    F: Future<Output = ()>,
{
    loop {
        job().await;
        if !shutdown.sleep(pause()).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::server::shutdown_channel;

    #[tokio::test]
    async fn runs_again_after_failures_until_shutdown() {
        let (trigger, shutdown) = shutdown_channel();
        let runs = AtomicUsize::new(0);
        every("test job", Duration::from_millis(1), shutdown, || async {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 3 {
                trigger.trigger();
            }
            if n % 2 == 1 {
                Err("odd run")
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_triggered_shutdown_still_lets_the_first_run_happen() {
        let (trigger, shutdown) = shutdown_channel();
        trigger.trigger();
        let runs = AtomicUsize::new(0);
        repeat(
            shutdown,
            || Duration::from_secs(3600),
            || async {
                runs.fetch_add(1, Ordering::SeqCst);
            },
        )
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
