//! Signed export archives: a zip holding `export.bin` (16-byte header + `TemporaryExposureKeyExport`)
//! and `export.sig` (`TEKSignatureList`, ECDSA P-256 / SHA-256 over the whole `export.bin`).
//!
//! Archives come from the network, so reading is defensive: the zip must be small, hold few entries,
//! and each entry's size is bounded both by its declared size and by what actually inflates, so a zip
//! bomb or a lying header costs at most the limit.

use std::io::{Cursor, Read, Write};

use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use prost::Message;

use crate::proto::{SignatureInfo, TekSignature, TekSignatureList, TemporaryExposureKeyExport};

pub use json::{export_of, rfc3339, ExportJson, KeyJson, KeyJsonError, SignatureInfoJson};

mod json;

/// The 16-byte header of `export.bin`: `EK Export v1` padded with spaces.
pub const HEADER: &[u8; 16] = b"EK Export v1    ";
/// Name of the keys entry in the archive.
pub const BIN_NAME: &str = "export.bin";
/// Name of the signature entry in the archive.
pub const SIG_NAME: &str = "export.sig";
/// OID of ECDSA with SHA-256, the only algorithm warnkit signs and verifies with.
pub const ECDSA_SHA256_OID: &str = "1.2.840.10045.4.3.2";

/// Why an archive could not be read, written or verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportError {
    /// The bytes are not a readable zip archive.
    Zip(String),
    /// The archive is larger than the limit.
    ArchiveTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The archive holds more entries than an export file ever does.
    TooManyEntries {
        /// Entries found.
        found: usize,
    },
    /// A required entry is missing.
    MissingEntry(&'static str),
    /// An entry inflates to more than its limit.
    EntryTooLarge {
        /// The entry name.
        entry: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// `export.bin` does not start with the 16-byte header.
    BadHeader,
    /// An entry is not valid protobuf for its message type.
    Protobuf {
        /// The entry name.
        entry: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// `export.sig` holds no signature.
    NoSignatures,
    /// No signature verifies with any of the given public keys.
    NoValidSignature,
    /// A key could not be parsed.
    BadKey(String),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Zip(reason) => write!(f, "not a readable zip archive: {reason}"),
            Self::ArchiveTooLarge { limit } => write!(f, "archive is larger than {limit} bytes"),
            Self::TooManyEntries { found } => {
                write!(f, "archive holds {found} entries; an export file holds 2")
            }
            Self::MissingEntry(name) => write!(f, "archive has no {name} entry"),
            Self::EntryTooLarge { entry, limit } => {
                write!(f, "{entry} inflates to more than {limit} bytes")
            }
            Self::BadHeader => write!(
                f,
                "{BIN_NAME} does not start with the header \"EK Export v1\""
            ),
            Self::Protobuf { entry, reason } => {
                write!(f, "{entry} is not valid protobuf: {reason}")
            }
            Self::NoSignatures => write!(f, "{SIG_NAME} holds no signature"),
            Self::NoValidSignature => {
                write!(f, "no signature verifies with the given public key(s)")
            }
            Self::BadKey(reason) => write!(f, "bad key: {reason}"),
        }
    }
}

impl std::error::Error for ExportError {}

/// Size limits for reading untrusted archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest archive accepted, in bytes.
    pub max_archive_bytes: u64,
    /// Largest inflated `export.bin`, in bytes.
    pub max_bin_bytes: u64,
    /// Largest inflated `export.sig`, in bytes.
    pub max_sig_bytes: u64,
    /// Most entries accepted in the zip.
    pub max_entries: usize,
}

impl Default for Limits {
    /// Room for a daily file of one million keys (about 30 MB); far below what a bomb would need.
    fn default() -> Self {
        Self {
            max_archive_bytes: 64 << 20,
            max_bin_bytes: 64 << 20,
            max_sig_bytes: 64 << 10,
            max_entries: 8,
        }
    }
}

/// A signing key with the identity published next to its signatures.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    info: SignatureInfo,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `key`, published as `key_id` / `key_version`.
    pub fn new(key: SigningKey, key_id: &str, key_version: &str) -> Self {
        let info = SignatureInfo {
            app_bundle_id: None,
            verification_key_version: Some(key_version.to_owned()),
            verification_key_id: Some(key_id.to_owned()),
            signature_algorithm: Some(ECDSA_SHA256_OID.to_owned()),
        };
        Self { key, info }
    }

    /// The same signer, naming `app_bundle_id` in its signature info (the original names its app).
    pub fn with_app_bundle_id(mut self, app_bundle_id: &str) -> Self {
        self.info.app_bundle_id = (!app_bundle_id.is_empty()).then(|| app_bundle_id.to_owned());
        self
    }

    /// A signer from a PKCS#8 PEM private key.
    pub fn from_pkcs8_pem(pem: &str, key_id: &str, key_version: &str) -> Result<Self, ExportError> {
        let key = SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| ExportError::BadKey(format!("not a PKCS#8 P-256 private key: {e}")))?;
        Ok(Self::new(key, key_id, key_version))
    }

    /// The signature info written into `export.bin` and `export.sig`.
    pub fn info(&self) -> &SignatureInfo {
        &self.info
    }

    /// The public key that verifies this signer's files.
    pub fn verifying_key(&self) -> VerifyingKey {
        *self.key.verifying_key()
    }

    /// DER-encoded ECDSA P-256 / SHA-256 signature of `message` (deterministic, RFC 6979).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign(message);
        signature.to_der().as_bytes().to_vec()
    }
}

/// Parses a P-256 public key as people publish and configure them: an SPKI PEM
/// (`-----BEGIN PUBLIC KEY-----`) with its base64 on any number of lines (OpenSSL's 64-column form,
/// or one line as apps and key servers print it), or the bare base64 of the SPKI DER, as apps
/// configure keys. A private key or an empty text is refused with a message that says so.
pub fn public_key_from_pem(text: &str) -> Result<VerifyingKey, ExportError> {
    if text.contains("PRIVATE KEY-----") {
        return Err(ExportError::BadKey(
            "a private key; give the public key (e.g. public-key.pem beside it)".into(),
        ));
    }
    if text.trim().is_empty() {
        return Err(ExportError::BadKey(
            "empty; expected an SPKI PEM or the base64 of an SPKI public key".into(),
        ));
    }
    if let Ok(key) = VerifyingKey::from_public_key_pem(text.trim()) {
        return Ok(key);
    }
    let body = match text.split_once("-----BEGIN PUBLIC KEY-----") {
        Some((_, rest)) => rest
            .split_once("-----END PUBLIC KEY-----")
            .map(|(body, _)| body)
            .ok_or_else(|| ExportError::BadKey("a PEM without its END PUBLIC KEY line".into()))?,
        None => text,
    };
    let base64: String = body.split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(base64.as_bytes())
        .map_err(|_| {
            ExportError::BadKey("neither an SPKI PEM nor the base64 of an SPKI public key".into())
        })?;
    public_key_from_der(&der)
}

/// Parses a P-256 public key from SPKI DER (what apps embed, usually base64-encoded).
pub fn public_key_from_der(der: &[u8]) -> Result<VerifyingKey, ExportError> {
    VerifyingKey::from_public_key_der(der)
        .map_err(|e| ExportError::BadKey(format!("not an SPKI P-256 public key: {e}")))
}

/// `export.bin`: the header followed by the encoded message.
pub fn encode_bin(export: &TemporaryExposureKeyExport) -> Vec<u8> {
    let mut bin = Vec::with_capacity(HEADER.len() + export.encoded_len());
    bin.extend_from_slice(HEADER);
    export
        .encode(&mut bin)
        .expect("a Vec grows to fit any message");
    bin
}

/// Decodes `export.bin`, header included.
pub fn decode_bin(bin: &[u8]) -> Result<TemporaryExposureKeyExport, ExportError> {
    let body = bin
        .strip_prefix(HEADER.as_slice())
        .ok_or(ExportError::BadHeader)?;
    TemporaryExposureKeyExport::decode(body).map_err(|e| ExportError::Protobuf {
        entry: BIN_NAME,
        reason: e.to_string(),
    })
}

/// Builds a signed archive. The signers' infos replace `export.signature_infos`, so the file always
/// names exactly the keys that signed it.
pub fn write_archive(
    mut export: TemporaryExposureKeyExport,
    signers: &[Signer],
) -> Result<Vec<u8>, ExportError> {
    export.signature_infos = signers.iter().map(|s| s.info.clone()).collect();
    let batch = (export.batch_num, export.batch_size);
    write_signed(&encode_bin(&export), signers, batch)
}

/// Zips any payload as `export.bin` with its signatures as `export.sig`. The app configuration is
/// published this way, with a plain protobuf instead of the key file.
pub fn write_signed(
    bin: &[u8],
    signers: &[Signer],
    (batch_num, batch_size): (Option<i32>, Option<i32>),
) -> Result<Vec<u8>, ExportError> {
    let signatures = TekSignatureList {
        signatures: signers
            .iter()
            .map(|s| TekSignature {
                signature_info: Some(s.info.clone()),
                batch_num,
                batch_size,
                signature: Some(s.sign(bin)),
            })
            .collect(),
    };
    zip_entries(bin, &signatures.encode_to_vec())
}

/// Zips the two entries with a fixed timestamp, so the same content always gives the same bytes
/// (and the same ETag) however often the distribution job runs.
fn zip_entries(bin: &[u8], sig: &[u8]) -> Result<Vec<u8>, ExportError> {
    let zip_err = |e: zip::result::ZipError| ExportError::Zip(e.to_string());
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, data) in [(BIN_NAME, bin), (SIG_NAME, sig)] {
        writer.start_file(name, options).map_err(zip_err)?;
        writer
            .write_all(data)
            .map_err(|e| ExportError::Zip(e.to_string()))?;
    }
    Ok(writer.finish().map_err(zip_err)?.into_inner())
}

/// Any signed zip: the raw `export.bin` and the decoded `export.sig`, not yet verified.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedBlob {
    /// The raw `export.bin`: what the signatures cover.
    pub bin: Vec<u8>,
    /// The decoded `export.sig`.
    pub signatures: TekSignatureList,
}

impl SignedBlob {
    /// Reads a signed zip within the given limits.
    pub fn read(zip_bytes: &[u8], limits: &Limits) -> Result<Self, ExportError> {
        if zip_bytes.len() as u64 > limits.max_archive_bytes {
            return Err(ExportError::ArchiveTooLarge {
                limit: limits.max_archive_bytes,
            });
        }
        let mut zip = zip::ZipArchive::new(Cursor::new(zip_bytes))
            .map_err(|e| ExportError::Zip(e.to_string()))?;
        if zip.len() > limits.max_entries {
            return Err(ExportError::TooManyEntries { found: zip.len() });
        }
        let bin = read_entry(&mut zip, BIN_NAME, limits.max_bin_bytes)?;
        let sig = read_entry(&mut zip, SIG_NAME, limits.max_sig_bytes)?;
        let signatures =
            TekSignatureList::decode(sig.as_slice()).map_err(|e| ExportError::Protobuf {
                entry: SIG_NAME,
                reason: e.to_string(),
            })?;
        Ok(Self { bin, signatures })
    }

    /// Succeeds with the first signature that verifies with any of `keys`.
    pub fn verify(&self, keys: &[VerifyingKey]) -> Result<&TekSignature, ExportError> {
        verify_signatures(&self.bin, &self.signatures, keys)
    }
}

fn verify_signatures<'a>(
    bin: &[u8],
    signatures: &'a TekSignatureList,
    keys: &[VerifyingKey],
) -> Result<&'a TekSignature, ExportError> {
    if signatures.signatures.is_empty() {
        return Err(ExportError::NoSignatures);
    }
    signatures
        .signatures
        .iter()
        .find(|s| {
            let Some(der) = s.signature.as_deref() else {
                return false;
            };
            let Ok(signature) = Signature::from_der(der) else {
                return false;
            };
            keys.iter().any(|k| k.verify(bin, &signature).is_ok())
        })
        .ok_or(ExportError::NoValidSignature)
}

/// A parsed archive: the raw `export.bin` (what the signatures cover) and both decoded messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    /// The raw `export.bin`, header included.
    pub bin: Vec<u8>,
    /// The decoded keys and metadata.
    pub export: TemporaryExposureKeyExport,
    /// The decoded `export.sig`.
    pub signatures: TekSignatureList,
}

impl Archive {
    /// Reads an archive within the given limits. This parses; it does not verify.
    pub fn read(zip_bytes: &[u8], limits: &Limits) -> Result<Self, ExportError> {
        let SignedBlob { bin, signatures } = SignedBlob::read(zip_bytes, limits)?;
        let export = decode_bin(&bin)?;
        Ok(Self {
            bin,
            export,
            signatures,
        })
    }

    /// Checks the signatures: succeeds with the first signature that verifies with any of `keys`.
    pub fn verify(&self, keys: &[VerifyingKey]) -> Result<&TekSignature, ExportError> {
        verify_signatures(&self.bin, &self.signatures, keys)
    }
}

fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &'static str,
    limit: u64,
) -> Result<Vec<u8>, ExportError> {
    let entry = zip.by_name(name).map_err(|e| match e {
        zip::result::ZipError::FileNotFound => ExportError::MissingEntry(name),
        other => ExportError::Zip(other.to_string()),
    })?;
    if entry.size() > limit {
        return Err(ExportError::EntryTooLarge { entry: name, limit });
    }
    // The declared size may lie: cap what is actually inflated, one byte past the limit to notice.
    let mut data = Vec::with_capacity(entry.size() as usize);
    entry
        .take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|e| ExportError::Zip(format!("{name}: {e}")))?;
    if data.len() as u64 > limit {
        return Err(ExportError::EntryTooLarge { entry: name, limit });
    }
    Ok(data)
}
