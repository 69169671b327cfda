//! The countries of a demo run, each a backend the phones of that country talk to. A run of one
//! country has one land and no gateway.

use std::sync::Arc;

use anyhow::Context;
use warnkit_app::{Backoff, Http};

use crate::backend::Backend;
use crate::summary::CountrySummary;

/// One country: its code, its backend, and the HTTP client its phones share.
pub(crate) struct Land {
    /// Country code (the phones' region).
    pub(crate) code: String,
    /// Shared with the tasks that run the countries' distribution side by side.
    pub(crate) backend: Arc<Backend>,
    /// The client of this country's phones (one connection pool, one traffic count).
    pub(crate) http: Http,
}

impl Land {
    /// The `k`-th country, on `backend`; its phones' client draws from `seed ^ k`.
    pub(crate) fn new(code: &str, backend: Backend, seed: u64, k: usize) -> anyhow::Result<Self> {
        let http = Http::new(backend.endpoints.clone(), Backoff::fast(), seed ^ k as u64)?
            .with_shared_verification();
        Ok(Self {
            code: code.to_owned(),
            backend: Arc::new(backend),
            http,
        })
    }
}

/// Sets every country's submission clock.
pub(crate) async fn set_clocks(lands: &[Land], now: i64) -> anyhow::Result<()> {
    for land in lands {
        land.backend
            .set_clock(now)
            .await
            .with_context(|| format!("{}: setting the clock", land.code))?;
    }
    Ok(())
}

/// One distribution run in every country as if it were `now`, the countries side by side (their
/// jobs share nothing); counted in `per`.
pub(crate) async fn distribute(
    lands: &[Land],
    now: i64,
    per: &mut [CountrySummary],
) -> anyhow::Result<()> {
    let tasks: Vec<_> = lands
        .iter()
        .map(|l| {
            let backend = l.backend.clone();
            tokio::spawn(async move { backend.distribute(now).await })
        })
        .collect();
    for ((land, task), summary) in lands.iter().zip(tasks).zip(per) {
        let run = match task.await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("a country's task failed: {e}")),
        };
        run.with_context(|| format!("{}: distribution run", land.code))?;
        land.http.purge();
        summary.figures.distribution_runs += 1;
    }
    Ok(())
}

/// Stops every country's backend (a `--server` keeps running).
pub(crate) async fn stop(lands: Vec<Land>) {
    for land in lands {
        // Every task that shared the backend has ended, so this is its only owner; were it not,
        // the services would stop when the last owner drops them.
        if let Ok(backend) = Arc::try_unwrap(land.backend) {
            backend.stop().await;
        }
    }
}
