//! The distribution's signing key: generated on first start under `DATA_DIR/signing/`, kept as PEM.

use std::path::Path;

use hmac::{Hmac, Mac};
use p256::ecdsa::SigningKey;
use sha2::Sha256;
use warnkit_service::keypair;

/// File name of the private key (PKCS#8 PEM) in the signing directory.
pub const PRIVATE_KEY_FILE: &str = keypair::PRIVATE_KEY_FILE;
/// File name of the public key (SPKI PEM) in the signing directory.
pub const PUBLIC_KEY_FILE: &str = keypair::PUBLIC_KEY_FILE;

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
    let pair = keypair::load_or_create(dir)?;
    Ok(SigningMaterial {
        key: pair.key,
        public_pem: pair.public_pem,
        created: pair.created,
    })
}
