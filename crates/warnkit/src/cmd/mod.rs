//! The subcommands of `warnkit`, one module each.

pub mod audit;
pub mod backup;
pub mod bench;
pub mod bench_federation;
pub mod bench_privacy;
pub mod bench_submission;
mod bench_support;
pub mod capacity;
pub mod config;
pub mod demo;
pub mod distribute;
pub mod en;
pub mod export;
pub mod gateway;
pub mod keygen;
pub mod keys;
pub mod lab;
pub mod phone;
pub mod portal;
pub mod progress;
pub mod risk;
pub mod serve;
pub mod sim;
pub mod status;
mod table;
pub mod teletan;

/// Runs `work` to its end on a runtime of one thread: the commands that wait on a database or a server
/// one step at a time.
pub fn block_on<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    run_to_end(tokio::runtime::Builder::new_current_thread(), work)
}

/// Runs `work` to its end on a runtime with a thread per core: the commands that serve or run jobs.
pub fn block_on_threads<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    run_to_end(tokio::runtime::Builder::new_multi_thread(), work)
}

fn run_to_end<T>(
    mut runtime: tokio::runtime::Builder,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    runtime
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("starting tokio: {e}"))?
        .block_on(work)
}

/// The value of a time flag (`--now`, `--valid-from`): an RFC 3339 time, as Unix seconds.
pub fn rfc3339(text: &str) -> Result<i64, String> {
    warnkit_distribution::layout::parse_rfc3339(text)
        .ok_or_else(|| format!("{text:?} is not an RFC 3339 time like 2026-11-24T03:00:00Z"))
}
