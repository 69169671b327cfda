//! The distribution's signing key: generated on first start under `DATA_DIR/signing/`, kept as PEM.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hmac::{Hmac, Mac};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::Sha256;

/// File name of the private key (PKCS#8 PEM) in the signing directory.
pub const PRIVATE_KEY_FILE: &str = "signing-key.pem";
/// File name of the public key (SPKI PEM) in the signing directory.
pub const PUBLIC_KEY_FILE: &str = "public-key.pem";

/// A loaded signing key.
#[derive(Clone)]
pub struct SigningMaterial {
    /// The P-256 key.
    pub key: SigningKey,
    /// Its public half as SPKI PEM, for publishing.
    pub public_pem: String,
    /// Whether it was generated just now.
    pub created: bool,
}

impl std::fmt::Debug for SigningMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningMaterial")
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl SigningMaterial {
    /// A secret for seeding padding keys, derived from the private key so there is nothing else to
    /// keep safe, and bound to its purpose so it reveals nothing about the key.
    pub fn padding_secret(&self) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key.to_bytes()).expect("any key length");
        mac.update(b"warnkit distribution padding v1");
        mac.finalize().into_bytes().into()
    }
}

/// Loads the key pair in `dir`, or generates one when the directory holds none.
pub fn load_or_create(dir: &Path) -> anyhow::Result<SigningMaterial> {
    let private = dir.join(PRIVATE_KEY_FILE);
    if private.exists() {
        let pem = std::fs::read_to_string(&private)
            .with_context(|| format!("reading {}", private.display()))?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
            anyhow::anyhow!("{}: not a PKCS#8 P-256 private key: {e}", private.display())
        })?;
        let public_pem = public_pem(&key)?;
        // Keep the published copy in step with the private key, e.g. after an operator replaced it.
        write_if_changed(&dir.join(PUBLIC_KEY_FILE), public_pem.as_bytes())?;
        return Ok(SigningMaterial {
            key,
            public_pem,
            created: false,
        });
    }
    let (key, _, _) = write_key_pair(dir, false)?;
    let public_pem = public_pem(&key)?;
    Ok(SigningMaterial {
        key,
        public_pem,
        created: true,
    })
}

fn public_pem(key: &SigningKey) -> anyhow::Result<String> {
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("encoding the public key")
}

/// Generates a key pair into `dir`: `signing-key.pem` (PKCS#8, mode 0600) and `public-key.pem` (SPKI).
pub fn write_key_pair(dir: &Path, force: bool) -> anyhow::Result<(SigningKey, PathBuf, PathBuf)> {
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    if !force && (private.exists() || public.exists()) {
        bail!(
            "{} already holds a key pair (use --force to replace it)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the private key")?;
    write_private(&private, private_pem.as_bytes())?;
    std::fs::write(&public, public_pem(&key)?)
        .with_context(|| format!("writing {}", public.display()))?;
    Ok((key, private, public))
}

fn write_if_changed(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    if std::fs::read(path).ok().as_deref() != Some(data) {
        std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Writes a secret readable by its owner only.
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(data)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
