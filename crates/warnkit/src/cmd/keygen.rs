//! `warnkit keygen`: a P-256 key pair for signing export files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use warnkit_distribution::signing;

/// Arguments of `warnkit keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write `signing-key.pem` (PKCS#8) and `public-key.pem` (SPKI) into.
    #[arg(long)]
    out: PathBuf,
    /// Replace existing key files; refused for a data directory's `signing/` once it has published
    /// files (use `warnkit keys rotate` there).
    #[arg(long)]
    force: bool,
    /// Print JSON: `private_key`, `public_key` (the files' paths) and `public_key_pem`.
    #[arg(long)]
    json: bool,
}

/// Runs `warnkit keygen`.
pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    if args.force && args.out.join(signing::PRIVATE_KEY_FILE).exists() {
        if let Some((data_dir, evidence)) = signing::key_dir_evidence(&args.out) {
            anyhow::bail!(
                "refusing to replace the signing key in {}: {evidence}. A new key under the same id and \
                 version would sign new files that apps trusting the old key reject, while caches keep \
                 the old files as immutable; rotate instead (a new key version, and an overlap in \
                 which both keys sign): warnkit keys rotate --data-dir {}",
                args.out.display(),
                data_dir.display()
            );
        }
    }
    let pair = warnkit_service::keypair::create(&args.out, args.force)?;
    if args.json {
        let out = serde_json::json!({
            "private_key": pair.private_path.display().to_string(),
            "public_key": pair.public_path.display().to_string(),
            "public_key_pem": pair.public_pem,
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "wrote {} and {}",
        pair.private_path.display(),
        pair.public_path.display()
    );
    print!("{}", pair.public_pem);
    Ok(ExitCode::SUCCESS)
}
