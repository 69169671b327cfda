//! `warnkit keygen`: a P-256 key pair for signing export files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `warnkit keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write `signing-key.pem` (PKCS#8) and `public-key.pem` (SPKI) into.
    #[arg(long)]
    out: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    force: bool,
}

/// Runs `warnkit keygen`.
pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let (_, private, public) =
        warnkit_distribution::signing::write_key_pair(&args.out, args.force)?;
    eprintln!("wrote {} and {}", private.display(), public.display());
    print!("{}", std::fs::read_to_string(&public)?);
    Ok(ExitCode::SUCCESS)
}
