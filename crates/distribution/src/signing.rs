//! The distribution's signing keys under `DATA_DIR/signing/`: the first generated on first start, later
//! ones added by `warnkit keys rotate`, each with the period in which it signs.
//!
//! The directory holds:
//! - `signing-key.pem` and `public-key.pem`: the first key (PKCS#8 and SPKI PEM), as before rotation
//!   existed. A directory without a keyring knows only this key, named by the configured
//!   `distribution.key_id` and `key_version`, so existing data directories work unchanged.
//! - `keyring.json` (0600), written by the first rotation and from then on the only source of key ids and
//!   versions: every key's id, version, private key file, public key, `created_at`, `valid_from` and
//!   `valid_until` (RFC 3339; a missing bound is open).
//! - `signing-key-2.pem`, `signing-key-3.pem`, ...: the keys rotations added.
//!
//! A run at time `t` signs every new file with each key for which `valid_from <= t < valid_until`:
//! during a rotation's overlap the retiring key and the new one. Files are never re-signed.
//!
//! The padding secret stays derived from the first key whatever key signs: a daily file is the union of
//! its hours' files, padding included, so a daily file published after a rotation must repeat the padding
//! of hourly files published before it. The first key's private file therefore stays in place after
//! it retires.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use p256::ecdsa::SigningKey;
use sha2::Sha256;
use warnkit_service::keypair;

pub use evidence::key_dir_evidence;
pub use keyring::{rotate, KeyEntry, KeyView, Keyring, Rotation, Status};
pub use view::KeyringView;

mod evidence;
mod keyring;
#[cfg(test)]
mod tests;
mod view;

/// File name of the first private key (PKCS#8 PEM) in the signing directory.
pub const PRIVATE_KEY_FILE: &str = keypair::PRIVATE_KEY_FILE;
/// File name of the first public key (SPKI PEM) in the signing directory.
pub const PUBLIC_KEY_FILE: &str = keypair::PUBLIC_KEY_FILE;
/// File name of the keyring in the signing directory.
pub const KEYRING_FILE: &str = "keyring.json";
/// File name of the lock that serialises rotations.
const ROTATION_LOCK_FILE: &str = "keyring.lock";

/// The first signing key as loaded, and the directory holding the keyring.
#[derive(Clone)]
pub struct SigningMaterial {
    /// The first P-256 key: the padding secret's source (see the module docs).
    pub key: SigningKey,
    /// Its public half as SPKI PEM.
    pub public_pem: String,
    /// Whether it was generated just now.
    pub created: bool,
    /// The signing directory, re-read by every run so a rotation takes effect without a restart.
    pub dir: PathBuf,
}

impl std::fmt::Debug for SigningMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningMaterial")
            .field("created", &self.created)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl SigningMaterial {
    /// A secret for seeding padding keys, derived from the first private key so there is nothing else
    /// to keep safe, and bound to its purpose so it reveals nothing about the key.
    pub fn padding_secret(&self) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key.to_bytes()).expect("any key length");
        mac.update(b"warnkit distribution padding v1");
        mac.finalize().into_bytes().into()
    }

    /// The keyring as it is on disk now; `key_id` and `key_version` name the first key while no
    /// rotation has written a keyring.
    pub fn keyring(&self, key_id: &str, key_version: &str) -> anyhow::Result<Keyring> {
        Keyring::load(&self.dir, key_id, key_version)
    }
}

/// Loads the first key pair in `dir`, or generates one when the directory holds none.
pub fn load_or_create(dir: &Path) -> anyhow::Result<SigningMaterial> {
    let pair = keypair::load_or_create(dir)?;
    Ok(SigningMaterial {
        key: pair.key,
        public_pem: pair.public_pem,
        created: pair.created,
        dir: dir.to_path_buf(),
    })
}

/// Why a data directory counts as having published files, if it does: a signing key must then never be
/// replaced, only rotated. Looks at the keyring, the last-run record and the local published directory.
pub fn published_evidence(data_dir: &Path) -> Option<String> {
    let keyring = data_dir.join("signing").join(KEYRING_FILE);
    if keyring.exists() {
        return Some(format!("{} records rotated keys", keyring.display()));
    }
    let last_run = data_dir.join("distribution-last-run.json");
    if last_run.exists() {
        return Some(format!("{} records a distribution run", last_run.display()));
    }
    let published = data_dir.join("published").join(crate::layout::ROOT);
    let any = std::fs::read_dir(&published)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    any.then(|| format!("{} holds published files", published.display()))
}
