//! The distribution's signing keys of one node's data directory (`DATA_DIR/signing/`): loading the
//! keyring as the configuration names its first key, and a rotation taken under the distribution lock and
//! recorded in the audit trail.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use warnkit_distribution::layout::datetime_string;
use warnkit_distribution::signing::{self, KeyEntry, Keyring, Rotation};
use warnkit_keystore::KeyStore;

use crate::config::Config;

/// How long a rotation waits for a distribution run or a backup to release the distribution lock.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Where the keyring lives: `distribution.signing_dir`, else `DATA_DIR/signing`.
pub fn signing_dir(config: &Config) -> PathBuf {
    config.distribution.signing_dir(&config.data_dir)
}

/// The keyring of `config`'s data directory; fails on a data directory without a key.
pub fn load(config: &Config) -> anyhow::Result<Keyring> {
    Keyring::load(
        &signing_dir(config),
        &config.distribution.key_id,
        &config.distribution.key_version,
    )
}

/// What a rotation is asked for; every `None` takes the default.
#[derive(Debug, Clone, Default)]
pub struct RotateOptions {
    /// The new key's id (default: the newest key's id).
    pub key_id: Option<String>,
    /// The new key's version (default: the next `vN`).
    pub key_version: Option<String>,
    /// Days the retiring key keeps signing beside the new one (default: `distribution.retention_days`).
    pub overlap_days: Option<u32>,
    /// When the new key starts signing, Unix seconds (default: `now`).
    pub valid_from: Option<i64>,
    /// The time to act as, Unix seconds, not later than the clock (default: the clock).
    pub now: Option<i64>,
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotated {
    /// The keyring after it.
    pub keyring: Keyring,
    /// The new key.
    pub new: KeyEntry,
    /// The time it acted as.
    pub now: i64,
}

/// Adds a new signing key to `config`'s keyring and records it, by `actor`, in the audit trail of the
/// key database. Nothing changes when the trail cannot be opened.
pub fn rotate(config: &Config, options: RotateOptions, actor: &str) -> anyhow::Result<Rotated> {
    let clock = warnkit_store::unix_now();
    let now = options.now.unwrap_or(clock);
    anyhow::ensure!(
        now <= clock,
        "--now {} is later than the clock; to schedule the new key, give --valid-from instead",
        datetime_string(now)
    );
    let overlap_days = match options.overlap_days {
        Some(days) => i64::from(days),
        None => config.distribution.retention_days,
    };
    let rotation = Rotation {
        key_id: options.key_id,
        key_version: options.key_version,
        valid_from: options.valid_from,
        overlap_seconds: overlap_days.saturating_mul(86_400),
        now,
    };
    let dir = signing_dir(config);
    // Fails here, clearly, on a data directory without a key, before any file is created.
    load(config)?;
    // The lock of distribution runs, also held by a backup: a backup then never holds a keyring naming a
    // key file it did not copy.
    let _lock = distribution_lock(&config.data_dir.join("distribution.lock"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let (keyring, new) = runtime.block_on(async {
        // Opened before anything changes: a rotation that cannot be recorded does not happen.
        let keys = KeyStore::open(&config.db_target("submission"), config.pool())
            .await
            .context("opening the key database for the audit trail")?;
        let rotated = signing::rotate(
            &dir,
            &config.distribution.key_id,
            &config.distribution.key_version,
            &rotation,
        );
        if let Ok((keyring, new)) = &rotated {
            let subject = format!(
                "{} (beside {})",
                new.name(),
                keyring.overlapping(new).join(", ")
            );
            warnkit_store::audit::record(keys.db(), actor, "signing-key.rotate", &subject)
                .await
                .context(
                    "recording the rotation in the audit trail (the rotation itself is done)",
                )?;
        }
        keys.db().close().await;
        rotated
    })?;
    Ok(Rotated { keyring, new, now })
}

/// Takes the distribution lock at `path`, waiting up to [`LOCK_WAIT`] for a run or a backup to finish.
fn distribution_lock(path: &Path) -> anyhow::Result<warnkit_store::FileLock> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let lock = warnkit_store::FileLock::try_acquire(path)
            .with_context(|| format!("locking {}", path.display()))?;
        if let Some(lock) = lock {
            return Ok(lock);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "a distribution run or a backup has held {} for a minute; rotate when it has finished",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
