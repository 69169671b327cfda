//! The runtime a service benchmark runs on: its worker count is one of the benchmark's settings.

use std::future::Future;

use anyhow::Context;

/// Runs `bench` to its end on a runtime of `threads` workers of its own.
pub(crate) fn block_on<R>(
    threads: usize,
    bench: impl Future<Output = anyhow::Result<R>>,
) -> anyhow::Result<R> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(bench)
}
