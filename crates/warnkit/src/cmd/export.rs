//! `warnkit export`: inspect, verify and build signed diagnosis-key archives.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use warnkit_protocol::export::{self, Archive, Limits, Signer};
use warnkit_protocol::proto::{TemporaryExposureKey, TemporaryExposureKeyExport};

use super::en::parse_hex;

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
    },
    /// Build a signed archive from keys in JSON (the `keys` array of `inspect --json`).
    Build {
        /// JSON file: an array of keys as `inspect --json` prints them.
        #[arg(long)]
        keys: PathBuf,
        /// PKCS#8 PEM private key (see `warnkit keygen`).
        #[arg(long)]
        signing_key: PathBuf,
        /// Region code written into the file, e.g. DE.
        #[arg(long)]
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

/// One key as JSON: the shape `inspect --json` prints and `build` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyJson {
    /// The 16-byte key, hex.
    pub key_data: String,
    /// Transmission risk level, or null when the file leaves it out.
    #[serde(default)]
    pub transmission_risk_level: Option<i32>,
    /// First interval number of the key.
    pub rolling_start_interval_number: i32,
    /// Intervals the key was valid for (144 when the file leaves it out).
    #[serde(default = "default_rolling_period")]
    pub rolling_period: i32,
    /// Report type number (1 confirmed test, ...), or null.
    #[serde(default)]
    pub report_type: Option<i32>,
    /// Days since onset of symptoms, or null.
    #[serde(default)]
    pub days_since_onset_of_symptoms: Option<i32>,
}

fn default_rolling_period() -> i32 {
    144
}

impl KeyJson {
    fn from_proto(key: &TemporaryExposureKey) -> Self {
        Self {
            key_data: hex::encode(key.key_data()),
            transmission_risk_level: key.transmission_risk_level,
            rolling_start_interval_number: key.rolling_start_interval_number(),
            rolling_period: key.rolling_period(),
            report_type: key.report_type,
            days_since_onset_of_symptoms: key.days_since_onset_of_symptoms,
        }
    }

    fn to_proto(&self, index: usize) -> anyhow::Result<TemporaryExposureKey> {
        let key =
            parse_hex::<16>(&self.key_data).with_context(|| format!("key {index}: key_data"))?;
        if !(1..=144).contains(&self.rolling_period) {
            bail!(
                "key {index}: rolling_period {} is outside 1..=144",
                self.rolling_period
            );
        }
        if self.rolling_start_interval_number < 0 {
            bail!("key {index}: rolling_start_interval_number must not be negative");
        }
        Ok(TemporaryExposureKey {
            key_data: Some(key.to_vec()),
            transmission_risk_level: self.transmission_risk_level,
            rolling_start_interval_number: Some(self.rolling_start_interval_number),
            rolling_period: Some(self.rolling_period),
            report_type: self.report_type,
            days_since_onset_of_symptoms: self.days_since_onset_of_symptoms,
        })
    }
}

#[derive(Debug, Serialize)]
struct SignatureInfoJson {
    verification_key_version: Option<String>,
    verification_key_id: Option<String>,
    signature_algorithm: Option<String>,
}

#[derive(Debug, Serialize)]
struct ExportJson {
    start_timestamp: Option<u64>,
    end_timestamp: Option<u64>,
    region: Option<String>,
    batch_num: Option<i32>,
    batch_size: Option<i32>,
    signature_infos: Vec<SignatureInfoJson>,
    keys: Vec<KeyJson>,
}

/// Runs an `export` command.
pub fn run(command: ExportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ExportCommand::Inspect { file, json } => inspect(&file, json),
        ExportCommand::Verify { file, public_keys } => verify(&file, &public_keys),
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
            let text = std::fs::read_to_string(&keys)
                .with_context(|| format!("reading {}", keys.display()))?;
            let parsed: Vec<KeyJson> = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a JSON array of keys", keys.display()))?;
            let keys: Vec<TemporaryExposureKey> = parsed
                .iter()
                .enumerate()
                .map(|(i, k)| k.to_proto(i))
                .collect::<Result<_, _>>()?;
            let first = keys
                .iter()
                .map(|k| k.rolling_start_interval_number() as u64)
                .min();
            let last = keys
                .iter()
                .map(|k| (k.rolling_start_interval_number() + k.rolling_period()) as u64)
                .max();
            let body = TemporaryExposureKeyExport {
                start_timestamp: Some(start.or(first.map(|f| f * 600)).unwrap_or(0)),
                end_timestamp: Some(end.or(last.map(|l| l * 600)).unwrap_or(0)),
                region: Some(region),
                batch_num: Some(1),
                batch_size: Some(1),
                keys,
                ..Default::default()
            };
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
    let e = &archive.export;
    let view = ExportJson {
        start_timestamp: e.start_timestamp,
        end_timestamp: e.end_timestamp,
        region: e.region.clone(),
        batch_num: e.batch_num,
        batch_size: e.batch_size,
        signature_infos: e
            .signature_infos
            .iter()
            .map(|s| SignatureInfoJson {
                verification_key_version: s.verification_key_version.clone(),
                verification_key_id: s.verification_key_id.clone(),
                signature_algorithm: s.signature_algorithm.clone(),
            })
            .collect(),
        keys: e.keys.iter().map(KeyJson::from_proto).collect(),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut out = String::new();
    out.push_str(&format!("file         {}\n", path.display()));
    out.push_str(&format!("region       {}\n", opt(view.region)));
    out.push_str(&format!(
        "window       {} .. {} (Unix seconds)\n",
        opt(view.start_timestamp.map(|t| t.to_string())),
        opt(view.end_timestamp.map(|t| t.to_string()))
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
    out.push_str("key_data                          trl  start_enin  period  report  dsos\n");
    for k in &view.keys {
        out.push_str(&format!(
            "{}  {:>3}  {:>10}  {:>6}  {:>6}  {:>4}\n",
            k.key_data,
            opt(k.transmission_risk_level.map(|v| v.to_string())),
            k.rolling_start_interval_number,
            k.rolling_period,
            opt(k.report_type.map(|v| v.to_string())),
            opt(k.days_since_onset_of_symptoms.map(|v| v.to_string())),
        ));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn verify(path: &Path, key_files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut keys = Vec::new();
    for file in key_files {
        let pem =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        keys.push(export::public_key_from_pem(&pem).with_context(|| file.display().to_string())?);
    }
    let archive = read_archive(path)?;
    match archive.verify(&keys) {
        Ok(signature) => {
            let info = signature.signature_info.clone().unwrap_or_default();
            println!(
                "verified: {} is signed by key id {} version {} ({} keys)",
                path.display(),
                info.verification_key_id.unwrap_or_else(|| "-".into()),
                info.verification_key_version.unwrap_or_else(|| "-".into()),
                archive.export.keys.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            println!("NOT verified: {}: {err}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}
