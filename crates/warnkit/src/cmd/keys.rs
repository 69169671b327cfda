//! `warnkit keys`: the distribution's signing keys: list them with their validity, rotate to a new one.
//!
//! The keyring lives in `DATA_DIR/signing/` (see `warnkit_distribution::signing`); every distribution
//! run reads it, so a rotation takes effect at the next run, also inside a running `warnkit serve`. The
//! rotation itself is the node crate's (`warnkit_node::keys`); this is its flags and what it prints.

use std::process::ExitCode;

use warnkit_distribution::layout::{self, datetime_string};
use warnkit_distribution::signing::KeyView;
use warnkit_node::keys::{self, RotateOptions};

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
    #[arg(long, value_name = "TIME", value_parser = super::rfc3339)]
    now: Option<i64>,
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
    #[arg(long, value_name = "TIME", value_parser = super::rfc3339)]
    valid_from: Option<i64>,
    /// Act as if it were this time (RFC 3339, not later than the clock), as `distribute --now`; for tests
    /// and backfills.
    #[arg(long, value_name = "TIME", value_parser = super::rfc3339)]
    now: Option<i64>,
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
    let now = args.now.unwrap_or_else(warnkit_store::unix_now);
    let dir = keys::signing_dir(&config);
    let keyring = keys::load(&config)?;
    if args.json {
        let json = serde_json::to_value(keyring.view(now))?;
        println!("{}", serde_json::to_string_pretty(&json)?);
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
    let options = RotateOptions {
        key_id: args.key_id,
        key_version: args.key_version,
        overlap_days: args.overlap_days,
        valid_from: args.valid_from,
        now: args.now,
    };
    let keys::Rotated { keyring, new, now } =
        keys::rotate(&config, options, &super::audit::cli_actor())?;
    if args.json {
        let out = serde_json::json!({
            "key": KeyView { entry: &new, status: new.status(now) },
            "keyring": serde_json::to_value(keyring.view(now))?["keys"],
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "new signing key {} in {}: signs from {}, beside {}.",
        new.name(),
        keys::signing_dir(&config)
            .join(&new.private_key_file)
            .display(),
        new.valid_from.map_or_else(String::new, datetime_string),
        keyring.overlapping(&new).join(", "),
    );
    eprintln!(
        "The next distribution run publishes it in {} (every valid key); hand the public key below to the app teams.",
        layout::public_keys()
    );
    print!("{}", new.public_key);
    Ok(ExitCode::SUCCESS)
}
