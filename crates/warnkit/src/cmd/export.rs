//! `warnkit export`: inspect, verify and build signed diagnosis-key archives. The JSON shape of a file
//! and the checks of a key are the protocol's (`warnkit_protocol::export::ExportJson`, `KeyJson`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use warnkit_protocol::export::{self, Archive, ExportJson, KeyJson, Limits, Signer};
use warnkit_protocol::interval::datetime_string;
use warnkit_protocol::proto::TemporaryExposureKey;
use warnkit_service::keypair;

/// Export archive commands.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Show an archive's metadata, signatures and keys.
    Inspect {
        /// The archive (a zip with export.bin and export.sig).
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check an archive's signature. Exit 0: verified; 1: no signature verifies; 2: unreadable.
    Verify {
        /// The archive.
        file: PathBuf,
        /// Public key file: an SPKI PEM (base64 on one line or many) or the bare base64 SPKI, as apps
        /// configure keys; repeat to accept any of several keys.
        #[arg(long = "public-key", required = true)]
        public_keys: Vec<PathBuf>,
        /// Print one JSON object: `verified`, `file`, `key_id`, `key_version`, `keys`, `error` (the
        /// exit codes stay the same).
        #[arg(long)]
        json: bool,
    },
    /// Build a signed archive from keys in JSON (the `keys` array of `inspect --json`).
    Build {
        /// JSON file: an array of keys as `inspect --json` prints them.
        #[arg(long)]
        keys: PathBuf,
        /// PKCS#8 PEM private key (see `warnkit keygen`).
        #[arg(long)]
        signing_key: PathBuf,
        /// Region code written into the file, e.g. DE (2 to 8 letters or digits).
        #[arg(long, value_parser = region_code)]
        region: String,
        /// Verification key id published with the signature.
        #[arg(long, default_value = "262")]
        key_id: String,
        /// Verification key version published with the signature.
        #[arg(long, default_value = "v1")]
        key_version: String,
        /// Start of the key arrival window, Unix seconds (default: the earliest key's start).
        #[arg(long)]
        start: Option<u64>,
        /// End of the key arrival window, Unix seconds (default: the latest key's end).
        #[arg(long)]
        end: Option<u64>,
        /// Where to write the archive.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs an `export` command.
pub fn run(command: ExportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ExportCommand::Inspect { file, json } => inspect(&file, json),
        ExportCommand::Verify {
            file,
            public_keys,
            json,
        } => verify(&file, &public_keys, json),
        ExportCommand::Build {
            keys,
            signing_key,
            region,
            key_id,
            key_version,
            start,
            end,
            out,
        } => {
            let pem = std::fs::read_to_string(&signing_key)
                .with_context(|| format!("reading {}", signing_key.display()))?;
            let signer = Signer::from_pkcs8_pem(&pem, &key_id, &key_version)
                .with_context(|| signing_key.display().to_string())?;
            let keys_path = keys;
            let text = std::fs::read_to_string(&keys_path)
                .with_context(|| format!("reading {}", keys_path.display()))?;
            let parsed: Vec<KeyJson> = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a JSON array of keys", keys_path.display()))?;
            let keys: Vec<TemporaryExposureKey> = parsed
                .iter()
                .enumerate()
                .map(|(i, k)| k.to_proto(i))
                .collect::<Result<_, _>>()?;
            if keys.is_empty() {
                bail!(
                    "{}: no keys; an export file carries at least one key",
                    keys_path.display()
                );
            }
            let body = export::export_of(keys, region, start, end);
            let count = body.keys.len();
            let zip = export::write_archive(body, &[signer])?;
            std::fs::write(&out, &zip).with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "wrote {} ({count} keys, {} bytes)",
                out.display(),
                zip.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads and parses an archive from disk, refusing files larger than any export file can be.
pub fn read_archive(path: &Path) -> anyhow::Result<Archive> {
    let limits = Limits::default();
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > limits.max_archive_bytes {
        bail!(
            "{}: {size} bytes is larger than any export file ({} bytes)",
            path.display(),
            limits.max_archive_bytes
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Archive::read(&bytes, &limits).with_context(|| path.display().to_string())
}

fn inspect(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let archive = read_archive(path)?;
    let view = ExportJson::of(&archive.export);
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut out = String::new();
    out.push_str(&format!("file         {}\n", path.display()));
    out.push_str(&format!("region       {}\n", opt(view.region)));
    let time = |unix: Option<u64>, text: Option<String>| match (unix, text) {
        (Some(unix), Some(text)) => format!("{text} ({unix})"),
        _ => "-".to_owned(),
    };
    out.push_str(&format!(
        "window       {} .. {}\n",
        time(view.start_timestamp, view.start_time.clone()),
        time(view.end_timestamp, view.end_time.clone())
    ));
    out.push_str(&format!(
        "batch        {} of {}\n",
        opt(view.batch_num.map(|t| t.to_string())),
        opt(view.batch_size.map(|t| t.to_string()))
    ));
    for s in &view.signature_infos {
        out.push_str(&format!(
            "signed by    key id {} version {} ({})\n",
            opt(s.verification_key_id.clone()),
            opt(s.verification_key_version.clone()),
            opt(s.signature_algorithm.clone())
        ));
    }
    out.push_str(&format!(
        "signatures   {} in export.sig\n",
        archive.signatures.signatures.len()
    ));
    out.push_str(&format!("keys         {}\n\n", view.keys.len()));
    out.push_str(
        "key_data                          trl  start_enin  start (UTC)           period  report  dsos\n",
    );
    for k in &view.keys {
        out.push_str(&format!(
            "{}  {:>3}  {:>10}  {:20}  {:>6}  {:>6}  {:>4}\n",
            k.key_data,
            opt(k.transmission_risk_level.map(|v| v.to_string())),
            k.rolling_start_interval_number,
            datetime_string(i64::from(k.rolling_start_interval_number) * 600),
            k.rolling_period,
            opt(k.report_type.map(|v| v.to_string())),
            opt(k.days_since_onset_of_symptoms.map(|v| v.to_string())),
        ));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn verify(path: &Path, key_files: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let mut keys = Vec::new();
    for file in key_files {
        keys.push(keypair::read_public_key(file)?);
    }
    let archive = read_archive(path)?;
    let outcome = archive.verify(&keys);
    let info = match &outcome {
        Ok(signature) => signature.signature_info.clone().unwrap_or_default(),
        Err(_) => Default::default(),
    };
    if json {
        let out = serde_json::json!({
            "verified": outcome.is_ok(),
            "file": path.display().to_string(),
            "key_id": info.verification_key_id,
            "key_version": info.verification_key_version,
            "keys": archive.export.keys.len(),
            "error": outcome.as_ref().err().map(ToString::to_string),
        });
        println!("{out}");
    } else {
        match &outcome {
            Ok(_) => println!(
                "verified: {} is signed by key id {} version {} ({} keys)",
                path.display(),
                info.verification_key_id.as_deref().unwrap_or("-"),
                info.verification_key_version.as_deref().unwrap_or("-"),
                archive.export.keys.len()
            ),
            Err(err) => println!("NOT verified: {}: {err}", path.display()),
        }
    }
    Ok(if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A region code as the distribution publishes them: 2 to 8 letters or digits.
pub(crate) fn region_code(value: &str) -> Result<String, String> {
    if (2..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(value.to_owned())
    } else {
        Err("a region code is 2 to 8 letters or digits, e.g. DE".into())
    }
}
