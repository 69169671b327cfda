//! `warnkit backup` and `warnkit restore`: the flags and what they print; the copying and checking are
//! the node crate's (`warnkit_node::backup`).

use std::path::PathBuf;
use std::process::ExitCode;

use warnkit_node::backup::{self, size, BackupOptions, RestoreOptions};

use crate::config::{Config, ConfigArgs};

/// Arguments of `warnkit backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Directory to write the backup into (must not exist yet).
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
}

/// Arguments of `warnkit restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup directory (`warnkit backup --to`).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
    /// Replace a data directory that is not empty (it is kept, renamed to `DATA_DIR.replaced-<time>`).
    #[arg(long)]
    force: bool,
}

/// Progress and warnings go to stderr, the outcome to stdout.
fn note(line: &str) {
    eprintln!("{line}");
}

/// Runs `warnkit backup`.
pub fn run(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let config_file = args
        .config
        .config
        .clone()
        .or_else(|| std::env::var_os("WARNKIT_CONFIG").map(PathBuf::from));
    let report = backup::backup(
        BackupOptions {
            config: &config,
            config_file: config_file.as_deref(),
            to: &args.to,
        },
        &note,
    )?;
    let manifest = &report.manifest;
    println!(
        "backup of {} written to {}: {} files, {} ({:.1} s)",
        config.data_dir.display(),
        args.to.display(),
        manifest.files.len(),
        size(report.bytes()),
        report.elapsed.as_secs_f64()
    );
    if manifest.published != "local" {
        println!(
            "published files are not in this backup: they live in {}",
            manifest.published
        );
    }
    if !report.pg_dumps.is_empty() {
        println!(
            "the databases are on PostgreSQL, not in the data directory: back them up with pg_dump \
             (one consistent snapshot of all the schemas; the password from PGPASSWORD or ~/.pgpass):"
        );
        for group in &report.pg_dumps {
            println!("  {}", group.dump_command());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `warnkit restore`.
pub fn run_restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let report = backup::restore(
        RestoreOptions {
            config: &config,
            from: &args.from,
            force: args.force,
        },
        &note,
    )?;
    let manifest = &report.manifest;
    println!(
        "restored {} files ({}) into {}: the backup of {} taken at {} by warnkit {}",
        report.files,
        size(report.bytes),
        report.target.display(),
        manifest.data_dir,
        manifest.created_at,
        manifest.warnkit_version
    );
    if let Some(kept) = &report.kept {
        println!(
            "the data directory it replaced is kept as {}",
            kept.display()
        );
    }
    if manifest.published != "local" {
        println!(
            "published files were not in the backup: they live in {}",
            manifest.published
        );
    }
    if report.has_config {
        println!(
            "the configuration file of the backed-up instance is in {}",
            args.from.join("config").display()
        );
    }
    if !report.pg_restores.is_empty() {
        println!(
            "the databases were on PostgreSQL: restore the pg_dump files into the database this instance \
             will use (--clean replaces the schemas' current content), before `warnkit serve`:"
        );
        for (group, url) in &report.pg_restores {
            println!("  {}", group.restore_command(url));
        }
    }
    Ok(ExitCode::SUCCESS)
}
