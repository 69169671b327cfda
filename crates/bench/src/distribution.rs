//! `bench distribution`: a data directory's key database filled with synthetic keys over 14 days, then
//! one `warnkit distribute` run timed as a separate process, so its peak memory is the run's alone.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use warnkit_node::config::Config;

use crate::Reporter;

/// The fixed clock of the run: the same keys fall into the same files on every machine.
pub const NOW: &str = "2026-11-20T03:00:00Z";

/// What to fill and publish.
#[derive(Debug, Clone)]
pub struct DistributionOptions {
    /// The configuration of the data directory to fill and publish into.
    pub config: Config,
    /// That data directory: its keys are reused when it already holds them, its published files are
    /// removed before the run.
    pub data_dir: PathBuf,
    /// Keys in the database.
    pub keys: usize,
    /// Seed of the synthetic keys.
    pub seed: u64,
    /// The `warnkit` binary whose `distribute` is timed.
    pub warnkit: PathBuf,
}

/// The figures of one distribution run.
#[derive(Debug, Serialize)]
pub struct DistributionReport {
    /// Keys in the database the run read.
    pub keys_in_database: u64,
    /// Wall time of the whole process.
    pub seconds: f64,
    /// The process's peak resident memory, where the system tells it.
    pub peak_rss_bytes: Option<u64>,
    /// Bytes of the archives written.
    pub archive_bytes: usize,
    /// Keys in those archives (padding included).
    pub archive_keys: usize,
    /// `archive_bytes` per archived key.
    pub bytes_per_key: f64,
    /// Files the run wrote.
    pub files_written: usize,
}

/// Fills the database, then runs and times `warnkit distribute --json` over it.
pub fn run(
    options: &DistributionOptions,
    reporter: &dyn Reporter,
) -> anyhow::Result<DistributionReport> {
    let now = warnkit_distribution::layout::parse_rfc3339(NOW).expect("a valid constant");
    let data_dir = &options.data_dir;
    reporter.phase(&format!(
        "filling {} with {} keys ...",
        data_dir.display(),
        options.keys
    ));
    let have = fill_keys(&options.config, options.keys, now, options.seed)?;
    // A run builds only the archives its store lacks: an earlier run's files go first, so that every
    // run times the full window (the figure the goal is about), not a run with nothing to build.
    let published = options.config.distribution.store_config(data_dir);
    if let warnkit_distribution::StoreConfig::Local { dir } = &published {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
        }
    } else {
        anyhow::bail!("bench distribution publishes into a local directory only");
    }
    reporter.phase(&format!("running warnkit distribute over {have} keys ..."));
    let start = Instant::now();
    let out = std::process::Command::new(&options.warnkit)
        .args(["distribute", "--json", "--now", NOW, "--data-dir"])
        .arg(data_dir)
        .output()
        .context("running warnkit distribute")?;
    let seconds = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "warnkit distribute failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("distribute --json output")?;
    let number = |k: &str| run[k].as_u64().unwrap_or(0) as usize;
    Ok(DistributionReport {
        keys_in_database: have,
        seconds,
        peak_rss_bytes: run["peak_rss_bytes"].as_u64(),
        archive_bytes: number("archive_bytes"),
        archive_keys: number("archive_keys"),
        bytes_per_key: number("archive_bytes") as f64 / number("archive_keys").max(1) as f64,
        files_written: number("files_written"),
    })
}

/// Fills a data directory's key database with `keys` synthetic keys spread evenly over the 14 days
/// before `now`, each the key of the day before its upload, unless it already holds that many.
pub fn fill_keys(config: &Config, keys: usize, now: i64, seed: u64) -> anyhow::Result<u64> {
    use warnkit_keystore::StoredKey;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store =
            warnkit_keystore::KeyStore::open(&config.db_target("submission"), config.pool())
                .await?;
        let have = store.count().await?;
        if have >= keys as u64 {
            return Ok(have);
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let today = now.div_euclid(86_400);
        let mut batch = Vec::with_capacity(10_000);
        // In submission order, as a live system stores them: hour after hour over the 14 days.
        for i in 0..keys {
            let hour = (today - 14) * 24 + 2 + (i * 14 * 24 / keys) as i64;
            let day = hour.div_euclid(24) - 1;
            batch.push(StoredKey {
                key_data: rng.gen(),
                rolling_start: (day * 144) as u32,
                rolling_period: 144,
                transmission_risk_level: rng.gen_range(1..=8),
                report_type: 1,
                days_since_onset_of_symptoms: Some(rng.gen_range(-2..=10)),
                submission_hour: hour,
                origin: "DE".into(),
                visited_countries: vec![],
                consent_to_federation: false,
            });
            if batch.len() == batch.capacity() {
                store.insert(&batch).await?;
                batch.clear();
            }
        }
        store.insert(&batch).await?;
        let count = store.count().await?;
        store.db().close().await;
        anyhow::Ok(count)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filling_twice_keeps_the_first_keys() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::at(dir.path(), None);
        let now = warnkit_distribution::layout::parse_rfc3339(NOW).unwrap();
        assert_eq!(fill_keys(&config, 500, now, 1).unwrap(), 500);
        // Already enough: nothing is added.
        assert_eq!(fill_keys(&config, 300, now, 2).unwrap(), 500);
    }
}
