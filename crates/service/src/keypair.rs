//! A P-256 signing key pair kept in a directory (mode 0700): the private key as PKCS#8 PEM, the public key
//! as SPKI PEM beside it to hand out, both files the owner's only (0600) like everything in the data
//! directory; copying the public key out is the operator's step. The distribution signs export files with one, a
//! country's federation jobs sign their batches with another.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::auth::write_secret;

/// File name of the private key (PKCS#8 PEM, mode 0600).
pub const PRIVATE_KEY_FILE: &str = "signing-key.pem";
/// File name of the public key (SPKI PEM).
pub const PUBLIC_KEY_FILE: &str = "public-key.pem";

/// A key pair as loaded or generated.
#[derive(Clone)]
pub struct KeyPair {
    /// The private key.
    pub key: SigningKey,
    /// Its public half as SPKI PEM, as written to [`PUBLIC_KEY_FILE`].
    pub public_pem: String,
    /// Whether it was generated just now.
    pub created: bool,
    /// Where the private key is.
    pub private_path: PathBuf,
    /// Where the public key is.
    pub public_path: PathBuf,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("created", &self.created)
            .field("public_path", &self.public_path)
            .finish_non_exhaustive()
    }
}

/// Loads the key pair in `dir`, or generates one when the directory holds no private key. A loaded key's
/// public file is rewritten when it does not match, e.g. after an operator replaced the private key.
pub fn load_or_create(dir: &Path) -> anyhow::Result<KeyPair> {
    let private_path = dir.join(PRIVATE_KEY_FILE);
    if !private_path.exists() {
        return create(dir, false);
    }
    let key = load_private(&private_path)?;
    let public_pem = public_pem(key.verifying_key())?;
    let public_path = dir.join(PUBLIC_KEY_FILE);
    if std::fs::read_to_string(&public_path).ok().as_deref() != Some(public_pem.as_str()) {
        write_secret(&public_path, public_pem.as_bytes())?;
    }
    Ok(KeyPair {
        key,
        public_pem,
        created: false,
        private_path,
        public_path,
    })
}

/// Generates a key pair into `dir` (created if missing); refuses when either file exists, unless
/// `force`.
pub fn create(dir: &Path, force: bool) -> anyhow::Result<KeyPair> {
    let private_path = dir.join(PRIVATE_KEY_FILE);
    let public_path = dir.join(PUBLIC_KEY_FILE);
    if !force && (private_path.exists() || public_path.exists()) {
        bail!(
            "{} already holds a key pair (use --force to replace it)",
            dir.display()
        );
    }
    warnkit_store::owner_only::create_dir_all(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the private key")?;
    write_secret(&private_path, private_pem.as_bytes())?;
    let public_pem = public_pem(key.verifying_key())?;
    write_secret(&public_path, public_pem.as_bytes())?;
    Ok(KeyPair {
        key,
        public_pem,
        created: true,
        private_path,
        public_path,
    })
}

/// Reads a PKCS#8 PEM private key file.
pub fn load_private(path: &Path) -> anyhow::Result<SigningKey> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: not a PKCS#8 P-256 private key: {e}", path.display()))
}

/// Generates a private key into the new file `path` (PKCS#8 PEM, mode 0600, its directory created if
/// missing); refuses when the file exists, so no key is ever overwritten.
pub fn create_private(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        bail!("{} exists; refusing to overwrite a key", path.display());
    }
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the private key")?;
    write_secret(path, pem.as_bytes())?;
    Ok(key)
}

/// The public key as SPKI PEM.
pub fn public_pem(key: &VerifyingKey) -> anyhow::Result<String> {
    key.to_public_key_pem(LineEnding::LF)
        .context("encoding the public key")
}

/// The largest public-key file read: an SPKI PEM of P-256 is under 200 bytes, so anything this large is
/// the wrong file (an archive, a log), refused before it is read whole.
const MAX_PUBLIC_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Reads a P-256 public key from a file someone names, in every form
/// [`warnkit_protocol::export::public_key_from_pem`] accepts (SPKI PEM on one line or many, or the bare
/// base64 SPKI); a file too large to be a key, or not text, is refused before it is parsed.
pub fn read_public_key(file: &Path) -> anyhow::Result<VerifyingKey> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    if size > MAX_PUBLIC_KEY_FILE_BYTES {
        bail!(
            "{}: {size} bytes is no public key (an SPKI PEM is a few hundred bytes)",
            file.display()
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "{}: not text; expected an SPKI PEM or the base64 of an SPKI public key",
            file.display()
        )
    })?;
    warnkit_protocol::export::public_key_from_pem(&text).with_context(|| file.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_loaded_with_the_public_key_kept_in_step() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("signing");
        let first = load_or_create(&dir).unwrap();
        assert!(first.created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&first.private_path), 0o600);
            assert_eq!(mode(&first.public_path), 0o600);
        }
        std::fs::write(&first.public_path, "stale").unwrap();
        let again = load_or_create(&dir).unwrap();
        assert!(!again.created);
        assert_eq!(again.key.to_bytes(), first.key.to_bytes());
        let public = std::fs::read_to_string(&again.public_path).unwrap();
        assert_eq!(public, first.public_pem);
    }

    #[test]
    fn a_private_key_file_is_created_once_and_read_back() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("signing").join("signing-key-2.pem");
        let key = create_private(&path).unwrap();
        assert_eq!(load_private(&path).unwrap().to_bytes(), key.to_bytes());
        let err = create_private(&path).unwrap_err().to_string();
        assert!(err.contains("refusing to overwrite"), "{err}");
        assert_eq!(load_private(&path).unwrap().to_bytes(), key.to_bytes());
        std::fs::write(&path, "not a key").unwrap();
        assert!(load_private(&path).is_err());
    }

    #[test]
    fn create_refuses_to_replace_a_pair_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let first = create(dir.path(), false).unwrap();
        assert!(create(dir.path(), false).is_err());
        let second = create(dir.path(), true).unwrap();
        assert_ne!(first.key.to_bytes(), second.key.to_bytes());
    }
}
