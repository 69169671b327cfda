//! The `[gateway]` and `[federation]` tables of the configuration file, and how they resolve into the
//! running parts (keys read from files, the token from a file or the environment).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use p256::ecdsa::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use warnkit_service::keypair;

use crate::batch::is_country_code;

/// Environment variable that overrides the federation token file.
pub const TOKEN_ENV: &str = "WARNKIT_FEDERATION_TOKEN";
/// File name of the federation signing key (PKCS#8 PEM) in `DATA_DIR/federation/`.
pub const PRIVATE_KEY_FILE: &str = keypair::PRIVATE_KEY_FILE;
/// File name of its public half (SPKI PEM), to hand to the gateway operator and the other countries.
pub const PUBLIC_KEY_FILE: &str = keypair::PUBLIC_KEY_FILE;
/// File name of the gateway token in `DATA_DIR/federation/`, unless `token_file` names another.
pub const TOKEN_FILE: &str = "gateway-token";

/// The gateway service (`warnkit gateway`, or `serve --only gateway`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// The member countries: who may upload and download, and the keys their batches are signed with.
    pub countries: Vec<CountryEntry>,
    /// Most keys in one uploaded batch.
    pub max_batch_keys: usize,
    /// Request bodies over this many bytes get 413.
    pub max_body_bytes: usize,
    /// Days a batch is kept (by its upload day), and how old a key's rolling start may be.
    pub retention_days: i64,
    /// Seconds between retention runs.
    pub retention_interval_secs: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            countries: Vec::new(),
            max_batch_keys: 5_000,
            max_body_bytes: 4_000_000,
            retention_days: 14,
            retention_interval_secs: 3600,
        }
    }
}

/// One member country of the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryEntry {
    /// ISO 3166-1 alpha-2 code, e.g. `FR`.
    pub code: String,
    /// Lowercase SHA-256 hex of the country's bearer token (the token itself is never stored).
    pub token_sha256: String,
    /// The country's batch-signing public key: a PEM file path, or the PEM text itself.
    pub public_key: String,
}

impl CountryEntry {
    /// A new member country: its entry (the key file by its absolute path, read and parsed now, so a
    /// wrong file fails here rather than when the gateway starts) and the bearer token to hand to its
    /// operator, of which only the hash is in the entry.
    pub fn enrol(code: &str, public_key: &Path) -> anyhow::Result<(Self, String)> {
        anyhow::ensure!(
            is_country_code(code),
            "--code {code:?}: a country code is two uppercase letters, e.g. FR"
        );
        let path = std::fs::canonicalize(public_key)
            .with_context(|| format!("reading {}", public_key.display()))?;
        let path_text = path.to_str().context("the key's path is not UTF-8")?;
        keypair::read_public_key(&path)?;
        let token = warnkit_service::auth::random_secret("wk_fed_");
        let entry = Self {
            code: code.to_owned(),
            token_sha256: warnkit_service::auth::sha256_hex(&token),
            public_key: path_text.to_owned(),
        };
        Ok((entry, token))
    }
}

/// A member country, resolved.
#[derive(Debug, Clone)]
pub struct Country {
    /// Its code.
    pub code: String,
    /// SHA-256 of its bearer token.
    pub token_sha256: [u8; 32],
    /// The key its batch signatures verify with.
    pub key: VerifyingKey,
}

impl Country {
    /// A member with the bearer `token` it will present (only its SHA-256 is kept).
    pub fn new(code: &str, token: &str, key: VerifyingKey) -> Self {
        use sha2::Digest;
        Self {
            code: code.to_owned(),
            token_sha256: sha2::Sha256::digest(token.as_bytes()).into(),
            key,
        }
    }
}

impl GatewayConfig {
    /// The member countries with their keys loaded; refuses bad codes, hashes, keys and duplicates.
    pub fn resolve_countries(&self) -> anyhow::Result<Vec<Country>> {
        let mut out: Vec<Country> = Vec::with_capacity(self.countries.len());
        for entry in &self.countries {
            if !is_country_code(&entry.code) {
                bail!(
                    "gateway country {:?}: not a two-letter uppercase code",
                    entry.code
                );
            }
            let mut hash = [0u8; 32];
            hex::decode_to_slice(entry.token_sha256.trim(), &mut hash).map_err(|_| {
                anyhow::anyhow!(
                    "gateway country {}: token_sha256 is not 64 hex digits",
                    entry.code
                )
            })?;
            if out.iter().any(|c| c.code == entry.code) {
                bail!("gateway country {} is listed twice", entry.code);
            }
            if out.iter().any(|c| c.token_sha256 == hash) {
                bail!(
                    "gateway country {} shares its token with another country",
                    entry.code
                );
            }
            let key = public_key(&entry.public_key)
                .with_context(|| format!("gateway country {}", entry.code))?;
            out.push(Country {
                code: entry.code.clone(),
                token_sha256: hash,
                key,
            });
        }
        Ok(out)
    }
}

/// A backend's federation jobs (inside `warnkit serve`, with the submission service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// Whether the upload and download jobs run.
    pub enabled: bool,
    /// Base URL of the gateway.
    pub gateway_url: String,
    /// This country's code; empty means the distribution region.
    pub country: String,
    /// File with the bearer token the gateway operator issued; default `DATA_DIR/federation/gateway-token`.
    /// `WARNKIT_FEDERATION_TOKEN` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Other countries' batch-signing public keys by country code: a PEM file path or the PEM text.
    /// Batches from a country not listed here are not taken (and retried once it is).
    pub trusted_keys: BTreeMap<String, String>,
    /// Minutes between runs of the two jobs.
    pub interval_minutes: u64,
    /// Most keys per uploaded batch (the gateway's limit must not be lower).
    pub max_batch_keys: usize,
    /// Days of keys uploaded and of gateway days downloaded.
    pub retention_days: i64,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            gateway_url: "http://127.0.0.1:8005".into(),
            country: String::new(),
            token_file: None,
            trusted_keys: BTreeMap::new(),
            interval_minutes: 60,
            max_batch_keys: 5_000,
            retention_days: 14,
        }
    }
}

/// Everything the jobs need, resolved: what [`crate::Federation::new`] takes.
#[derive(Clone)]
pub struct Settings {
    /// Base URL of the gateway.
    pub gateway_url: String,
    /// This country's code.
    pub country: String,
    /// The bearer token for the gateway.
    pub token: String,
    /// The key this country signs its batches with.
    pub signing_key: SigningKey,
    /// Other countries' keys by code.
    pub trusted: BTreeMap<String, VerifyingKey>,
    /// Most keys per uploaded batch.
    pub max_batch_keys: usize,
    /// Days of keys uploaded and of gateway days downloaded.
    pub retention_days: i64,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("gateway_url", &self.gateway_url)
            .field("country", &self.country)
            .field("trusted", &self.trusted.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl FederationConfig {
    /// Resolves files and defaults: the signing key in `DATA_DIR/federation/` (generated on first use),
    /// the token from `WARNKIT_FEDERATION_TOKEN` or the token file, the trusted keys from their PEMs.
    pub fn resolve(&self, data_dir: &Path, default_country: &str) -> anyhow::Result<Settings> {
        let country = if self.country.is_empty() {
            default_country.to_owned()
        } else {
            self.country.clone()
        };
        if !is_country_code(&country) {
            bail!("federation.country {country:?} is not a two-letter uppercase code");
        }
        let dir = data_dir.join("federation");
        let token = match std::env::var(TOKEN_ENV) {
            Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
            _ => {
                let path = self
                    .token_file
                    .clone()
                    .unwrap_or_else(|| dir.join(TOKEN_FILE));
                let token = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "reading the gateway token from {} (or set {TOKEN_ENV})",
                        path.display()
                    )
                })?;
                token.trim().to_owned()
            }
        };
        if token.is_empty() {
            bail!("the federation gateway token is empty");
        }
        let mut trusted = BTreeMap::new();
        for (code, pem) in &self.trusted_keys {
            if !is_country_code(code) {
                bail!("federation.trusted_keys: {code:?} is not a two-letter uppercase code");
            }
            let key = public_key(pem).with_context(|| format!("federation.trusted_keys.{code}"))?;
            trusted.insert(code.clone(), key);
        }
        let (signing_key, created) = load_or_create_signing_key(&dir)?;
        if created {
            tracing::info!(
                path = %dir.join(PUBLIC_KEY_FILE).display(),
                "generated a new federation signing key; give this public key to the gateway and the other countries"
            );
        }
        Ok(Settings {
            gateway_url: self.gateway_url.trim_end_matches('/').to_owned(),
            country,
            token,
            signing_key,
            trusted,
            max_batch_keys: self.max_batch_keys.max(1),
            retention_days: self.retention_days.max(1),
        })
    }
}

/// A P-256 public key from PEM text, or from the PEM file `value` names.
pub fn public_key(value: &str) -> anyhow::Result<VerifyingKey> {
    if value.trim_start().starts_with("-----BEGIN") {
        // Every form keys are published in (PEM on one line or many, bare base64 SPKI), as elsewhere.
        return warnkit_protocol::export::public_key_from_pem(value)
            .map_err(|e| anyhow::anyhow!("{e}"));
    }
    keypair::read_public_key(Path::new(value))
}

/// Loads `dir/signing-key.pem`, or generates it (mode 0600) with `public-key.pem` beside it; the flag
/// says whether it was generated now.
pub fn load_or_create_signing_key(dir: &Path) -> anyhow::Result<(SigningKey, bool)> {
    let pair = keypair::load_or_create(dir)?;
    Ok((pair.key, pair.created))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_is_generated_once_and_countries_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let (a, created) = load_or_create_signing_key(dir.path()).unwrap();
        assert!(created);
        let (b, created) = load_or_create_signing_key(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(a.to_bytes(), b.to_bytes());
        let pem = std::fs::read_to_string(dir.path().join(PUBLIC_KEY_FILE)).unwrap();
        assert_eq!(public_key(&pem).unwrap(), *a.verifying_key());
        let path = dir.path().join(PUBLIC_KEY_FILE).display().to_string();
        let entry = |code: &str, hash: &str, key: &str| CountryEntry {
            code: code.into(),
            token_sha256: hash.into(),
            public_key: key.into(),
        };
        let good = GatewayConfig {
            countries: vec![
                entry("FR", &"a".repeat(64), &pem),
                entry("DE", &"b".repeat(64), &path),
            ],
            ..GatewayConfig::default()
        };
        assert_eq!(good.resolve_countries().unwrap().len(), 2);
        for bad in [
            vec![entry("fr", &"a".repeat(64), &pem)],
            vec![entry("FR", "abc", &pem)],
            vec![entry("FR", &"a".repeat(64), "/nonexistent.pem")],
            vec![
                entry("FR", &"a".repeat(64), &pem),
                entry("FR", &"b".repeat(64), &pem),
            ],
            vec![
                entry("FR", &"a".repeat(64), &pem),
                entry("DE", &"a".repeat(64), &pem),
            ],
        ] {
            let config = GatewayConfig {
                countries: bad,
                ..GatewayConfig::default()
            };
            assert!(config.resolve_countries().is_err());
        }
    }
}
