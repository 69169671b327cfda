//! `warnkit keys`: the distribution's signing keys: list them with their validity, rotate to a new one.
//!
//! The keyring lives in `DATA_DIR/signing/` (see `warnkit_distribution::signing`); every distribution
//! run reads it, so a rotation takes effect at the next run, also inside a running `warnkit serve`.

use std::process::ExitCode;

use anyhow::Context;
use warnkit_distribution::layout::{self, datetime_string, parse_rfc3339};
use warnkit_distribution::signing::{self, KeyView, Keyring, Rotation};
use warnkit_submission::KeyStore;

use crate::config::{Config, ConfigArgs};

/// `warnkit keys ...`
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// List the signing keys with their validity and status (pending, signing, retired).
    List(ListArgs),
    /// Add a new signing key; the newest key keeps signing beside it for the overlap, then retires.
    Rotate(RotateArgs),
}

/// Arguments of `warnkit keys list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Show the status at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Print JSON: every key with id, version, public key, created_at, valid_from, valid_until and status.
    #[arg(long)]
    json: bool,
}

/// Arguments of `warnkit keys rotate`.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The new key's id (default: the newest key's id, as apps look keys up by id and version).
    #[arg(long, value_name = "ID")]
    key_id: Option<String>,
    /// The new key's version (default: the next vN, e.g. v2 after v1).
    #[arg(long, value_name = "VERSION")]
    key_version: Option<String>,
    /// Days the retiring key keeps signing beside the new one (default: distribution.retention_days,
    /// 14). With the overlap as long as the retention, every file still published when it ends carries
    /// the new key's signature, so apps may drop the old key then; until then apps that trust only the
    /// old key verify every new file too.
    #[arg(long, value_name = "DAYS")]
    overlap_days: Option<u32>,
    /// When the new key starts signing (RFC 3339; default: now). Schedule it after the app update that
    /// trusts it has shipped; the public-key list announces it as pending until then.
    #[arg(long, value_name = "TIME")]
    valid_from: Option<String>,
    /// Act as if it were this time (RFC 3339, not later than the clock), as `distribute --now`; for tests
    /// and backfills.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Print JSON: the new key and the whole keyring.
    #[arg(long)]
    json: bool,
}

/// Runs `warnkit keys`.
pub fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::List(args) => list(args),
        KeysCommand::Rotate(args) => rotate(args),
    }
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let now = time_arg("--now", args.now.as_deref())?.unwrap_or_else(warnkit_store::unix_now);
    let dir = config.data_dir.join("signing");
    let keyring = Keyring::load(
        &dir,
        &config.distribution.key_id,
        &config.distribution.key_version,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json(&keyring, now))?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = Vec::new();
    for key in &keyring.keys {
        let status = serde_json::to_value(key.status(now))?;
        rows.push(vec![
            key.name(),
            status.as_str().unwrap_or_default().to_owned(),
            datetime_string(key.created_at),
            key.valid_from
                .map_or_else(|| "(start)".to_owned(), datetime_string),
            key.valid_until
                .map_or_else(|| "(open)".to_owned(), datetime_string),
            dir.join(&key.private_key_file).display().to_string(),
        ]);
    }
    print!(
        "{}",
        super::table::render(
            &[
                "KEY",
                "STATUS",
                "CREATED",
                "VALID FROM",
                "VALID UNTIL",
                "FILE"
            ],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}

fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let clock = warnkit_store::unix_now();
    let now = time_arg("--now", args.now.as_deref())?.unwrap_or(clock);
    anyhow::ensure!(
        now <= clock,
        "--now {} is later than the clock; to schedule the new key, give --valid-from instead",
        datetime_string(now)
    );
    let overlap_days = match args.overlap_days {
        Some(days) => i64::from(days),
        None => config.distribution.retention_days,
    };
    let rotation = Rotation {
        key_id: args.key_id,
        key_version: args.key_version,
        valid_from: time_arg("--valid-from", args.valid_from.as_deref())?,
        overlap_seconds: overlap_days.saturating_mul(86_400),
        now,
    };
    let dir = config.data_dir.join("signing");
    // Fails here, clearly, on a data directory without a key, before any file is created.
    Keyring::load(
        &dir,
        &config.distribution.key_id,
        &config.distribution.key_version,
    )?;
    // The lock of distribution runs, also held by `warnkit backup`: a backup then never holds a keyring
    // naming a key file it did not copy.
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
                overlapping(keyring, new).join(", ")
            );
            warnkit_store::audit::record(
                keys.db(),
                &crate::cmd::audit::cli_actor(),
                "signing-key.rotate",
                &subject,
            )
            .await
            .context("recording the rotation in the audit trail (the rotation itself is done)")?;
        }
        keys.db().close().await;
        rotated
    })?;
    if args.json {
        let out = serde_json::json!({
            "key": KeyView { entry: &new, status: new.status(now) },
            "keyring": json(&keyring, now)["keys"],
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "new signing key {} in {}: signs from {}, beside {}.",
        new.name(),
        dir.join(&new.private_key_file).display(),
        new.valid_from.map_or_else(String::new, datetime_string),
        overlapping(&keyring, &new).join(", "),
    );
    eprintln!(
        "The next distribution run publishes it in {} (every valid key); hand the public key below to the app teams.",
        layout::public_keys()
    );
    print!("{}", new.public_key);
    Ok(ExitCode::SUCCESS)
}

/// The older keys that sign beside `new` when it starts, each with the end of its overlap.
fn overlapping(keyring: &Keyring, new: &signing::KeyEntry) -> Vec<String> {
    let start = new.valid_from.unwrap_or(new.created_at);
    keyring
        .keys
        .iter()
        .filter(|k| k.name() != new.name() && k.status(start) == signing::Status::Signing)
        .map(|k| {
            let until = k
                .valid_until
                .map_or_else(|| "(open)".to_owned(), datetime_string);
            format!("{} until {until}", k.name())
        })
        .collect()
}

fn json(keyring: &Keyring, now: i64) -> serde_json::Value {
    let keys: Vec<KeyView<'_>> = keyring
        .keys
        .iter()
        .map(|entry| KeyView {
            entry,
            status: entry.status(now),
        })
        .collect();
    serde_json::json!({ "now": datetime_string(now), "keys": keys })
}

/// Takes the distribution lock at `path`, waiting up to a minute for a run or a backup to finish.
fn distribution_lock(path: &std::path::Path) -> anyhow::Result<warnkit_store::FileLock> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let lock = warnkit_store::FileLock::try_acquire(path)
            .with_context(|| format!("locking {}", path.display()))?;
        if let Some(lock) = lock {
            return Ok(lock);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "a distribution run or a backup has held {} for a minute; rotate when it has finished",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn time_arg(flag: &str, text: Option<&str>) -> anyhow::Result<Option<i64>> {
    text.map(|text| {
        parse_rfc3339(text).with_context(|| {
            format!("{flag} {text:?} is not an RFC 3339 time like 2026-11-24T03:00:00Z")
        })
    })
    .transpose()
}
