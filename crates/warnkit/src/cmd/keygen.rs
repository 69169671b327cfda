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
    let pair = warnkit_service::keypair::create(&args.out, args.force)?;
    eprintln!(
        "wrote {} and {}",
        pair.private_path.display(),
        pair.public_path.display()
    );
    print!("{}", pair.public_pem);
    Ok(ExitCode::SUCCESS)
}
