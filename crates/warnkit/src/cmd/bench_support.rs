//! What the in-process service benchmarks share: a runtime of their own with the report printed as
//! text or JSON, and scratch databases that are removed afterwards.

use std::future::Future;

use anyhow::Context;
use rand::Rng;
use serde::Serialize;
use warnkit_store::{Db, DbTarget};

/// Runs `bench` on a runtime of `threads` workers, then prints its report: as JSON when `json`, else as
/// `text` writes it.
pub(crate) fn run_and_print<R: Serialize>(
    threads: usize,
    json: bool,
    bench: impl Future<Output = anyhow::Result<R>>,
    text: impl FnOnce(&R),
) -> anyhow::Result<std::process::ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("starting tokio")?;
    let report = runtime.block_on(bench)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        text(&report);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Where a benchmark's databases live (SQLite files in a fresh directory, or fresh schemas in the
/// PostgreSQL database at `url`), and how to remove them afterwards.
pub(crate) struct Scratch {
    /// The directory of the SQLite files.
    pub(crate) dir: std::path::PathBuf,
    url: Option<String>,
    prefix: String,
    names: &'static [&'static str],
}

impl Scratch {
    /// Scratch space for the benchmark `bench` with databases called `names`, under a random tag so
    /// runs side by side do not meet.
    pub(crate) fn new(bench: &str, url: Option<String>, names: &'static [&'static str]) -> Self {
        let tag = rand::thread_rng().gen::<u32>();
        Self {
            dir: std::env::temp_dir().join(format!("warnkit-bench-{bench}-{tag:08x}")),
            url,
            prefix: format!("bench_{tag:08x}"),
            names,
        }
    }

    /// Where the database `name` (one of the names given to [`Scratch::new`]) lives.
    pub(crate) fn target(&self, name: &str) -> DbTarget {
        debug_assert!(
            self.names.contains(&name),
            "{name} is not removed afterwards"
        );
        match &self.url {
            Some(url) => DbTarget::Postgres {
                url: url.clone(),
                schema: format!("{}_{name}", self.prefix),
            },
            None => DbTarget::SqliteFile(self.dir.join(format!("{name}.sqlite"))),
        }
    }

    /// Drops the schemas (through `db`, any pool on the server) and deletes the directory.
    pub(crate) async fn remove(&self, db: &Db) {
        if let Db::Postgres(pool) = db {
            for name in self.names {
                let sql = format!("DROP SCHEMA IF EXISTS \"{}_{name}\" CASCADE", self.prefix);
                if let Err(e) = sqlx::query(&sql).execute(pool).await {
                    eprintln!("warning: could not drop a benchmark schema: {e}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
