//! The keyring: every signing key with the period in which it signs, and rotation (see [`super`]).

use std::path::Path;

use anyhow::{bail, ensure, Context};
use serde::{Deserialize, Serialize};
use warnkit_protocol::export::Signer;
use warnkit_service::keypair;

use super::{KEYRING_FILE, PRIVATE_KEY_FILE, ROTATION_LOCK_FILE};

/// Where a key stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not yet valid: it signs from `valid_from` on.
    Pending,
    /// Signs the files of a run at this time.
    Signing,
    /// Past `valid_until`: signs nothing more; files it signed stay published until they expire.
    Retired,
}

/// One key of the keyring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// The verification key id published with its signatures.
    pub key_id: String,
    /// The verification key version published with its signatures.
    pub key_version: String,
    /// The private key's file name in the signing directory.
    pub private_key_file: String,
    /// The public key as SPKI PEM.
    pub public_key: String,
    /// When the key was generated (Unix seconds).
    #[serde(with = "time")]
    pub created_at: i64,
    /// From when it signs; `None` for the first key, which signs from the start.
    #[serde(default, with = "opt_time")]
    pub valid_from: Option<i64>,
    /// Until when it signs (exclusive); `None` until a rotation retires it.
    #[serde(default, with = "opt_time")]
    pub valid_until: Option<i64>,
}

impl KeyEntry {
    /// Where the key stands at `t`.
    pub fn status(&self, t: i64) -> Status {
        if self.valid_from.is_some_and(|from| t < from) {
            Status::Pending
        } else if self.valid_until.is_some_and(|until| t >= until) {
            Status::Retired
        } else {
            Status::Signing
        }
    }

    /// `id/version`, as the key is named in messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.key_id, self.key_version)
    }
}

/// A key as `warnkit keys list --json` shows it: the entry and its status at the time asked.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView<'a> {
    /// The keyring entry.
    #[serde(flatten)]
    pub entry: &'a KeyEntry,
    /// Its status at that time.
    pub status: Status,
}

/// What `warnkit keys rotate` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotation {
    /// The new key's id; `None` keeps the newest key's id.
    pub key_id: Option<String>,
    /// The new key's version; `None` takes the next `vN`.
    pub key_version: Option<String>,
    /// When the new key starts signing; `None` for `now`.
    pub valid_from: Option<i64>,
    /// Seconds the retiring key goes on signing beside the new one.
    pub overlap_seconds: i64,
    /// The current time (Unix seconds).
    pub now: i64,
}

/// Every signing key with its validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyring {
    /// The keys, oldest first.
    pub keys: Vec<KeyEntry>,
}

impl Keyring {
    /// Reads `dir/keyring.json`; without one, the first key (`signing-key.pem`) alone, named `key_id` and
    /// `key_version`, valid from the start. Fails when the directory holds no key at all.
    pub fn load(dir: &Path, key_id: &str, key_version: &str) -> anyhow::Result<Self> {
        let path = dir.join(KEYRING_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let keyring: Keyring = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not a keyring", path.display()))?;
                keyring
                    .validate()
                    .with_context(|| format!("{}", path.display()))?;
                return Ok(keyring);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        let private = dir.join(PRIVATE_KEY_FILE);
        if !private.exists() {
            bail!(
                "{} holds no signing key yet: the first distribution run (warnkit distribute, or \
                 warnkit serve) generates it",
                dir.display()
            );
        }
        let key = keypair::load_private(&private)?;
        let created_at = std::fs::metadata(&private)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        Ok(Keyring {
            keys: vec![KeyEntry {
                key_id: key_id.to_owned(),
                key_version: key_version.to_owned(),
                private_key_file: PRIVATE_KEY_FILE.to_owned(),
                public_key: keypair::public_pem(key.verifying_key())?,
                created_at,
                valid_from: None,
                valid_until: None,
            }],
        })
    }

    /// Checks what a hand-edited keyring could get wrong: at least one key, distinct `id/version`s,
    /// names that are safe in file names and headers, files inside the signing directory.
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(!self.keys.is_empty(), "the keyring holds no key");
        for (i, key) in self.keys.iter().enumerate() {
            check_name("key_id", &key.key_id)?;
            check_name("key_version", &key.key_version)?;
            check_name("private_key_file", &key.private_key_file)?;
            ensure!(
                !self.keys[..i]
                    .iter()
                    .any(|k| k.key_id == key.key_id && k.key_version == key.key_version),
                "key {} is listed twice",
                key.name()
            );
            if let (Some(from), Some(until)) = (key.valid_from, key.valid_until) {
                ensure!(
                    from <= until,
                    "key {}: valid_until precedes valid_from",
                    key.name()
                );
            }
        }
        Ok(())
    }

    /// The keys that sign at `t`, oldest first.
    pub fn valid_at(&self, t: i64) -> impl Iterator<Item = &KeyEntry> {
        self.keys
            .iter()
            .filter(move |k| k.status(t) == Status::Signing)
    }

    /// The newest key that signs at `t`: what the single public-key file shows.
    pub fn newest_at(&self, t: i64) -> Option<&KeyEntry> {
        self.valid_at(t).last()
    }

    /// A signer for every key valid at `t`, each checked against its recorded public key (a swapped file
    /// would otherwise sign under the wrong name). Fails when no key is valid at `t`.
    pub fn signers_at(
        &self,
        dir: &Path,
        t: i64,
        app_bundle_id: &str,
    ) -> anyhow::Result<Vec<Signer>> {
        let mut signers = Vec::new();
        for entry in self.valid_at(t) {
            let path = dir.join(&entry.private_key_file);
            let key = keypair::load_private(&path)?;
            ensure!(
                keypair::public_pem(key.verifying_key())?.trim() == entry.public_key.trim(),
                "{} does not hold key {} of the keyring (its public key differs)",
                path.display(),
                entry.name()
            );
            signers.push(
                Signer::new(key, &entry.key_id, &entry.key_version)
                    .with_app_bundle_id(app_bundle_id),
            );
        }
        ensure!(
            !signers.is_empty(),
            "no signing key is valid at {} (see warnkit keys list)",
            crate::layout::datetime_string(t)
        );
        Ok(signers)
    }

    /// The published list of public keys at `t` (`version/v1/public-keys.json`): every key that signs
    /// now or will (pending), and every retired key that signed files which may still be published
    /// (retired less than `retention_seconds` ago), so an app trusting each listed key verifies every
    /// published file.
    pub fn published_list(&self, t: i64, retention_seconds: i64) -> Vec<u8> {
        #[derive(Serialize)]
        struct Published<'a> {
            key_id: &'a str,
            key_version: &'a str,
            public_key: &'a str,
            /// The SPKI DER as one base64 line, the form apps configure.
            public_key_base64: String,
            #[serde(with = "opt_time")]
            valid_from: Option<i64>,
            #[serde(with = "opt_time")]
            valid_until: Option<i64>,
            status: Status,
        }
        let keys: Vec<Published<'_>> = self
            .keys
            .iter()
            .filter(|k| {
                k.status(t) != Status::Retired
                    || k.valid_until.is_some_and(|u| t < u + retention_seconds)
            })
            .map(|k| Published {
                key_id: &k.key_id,
                key_version: &k.key_version,
                public_key: &k.public_key,
                public_key_base64: pem_body(&k.public_key),
                valid_from: k.valid_from,
                valid_until: k.valid_until,
                status: k.status(t),
            })
            .collect();
        let mut bytes = serde_json::to_vec_pretty(&serde_json::json!({ "keys": keys }))
            .expect("plain structs serialise");
        bytes.push(b'\n');
        bytes
    }

    /// Adds a new key as `rotation` asks and retires the current one `overlap_seconds` after the new
    /// one starts; writes the key file, then the keyring. Returns the new entry.
    pub fn rotate(&mut self, dir: &Path, rotation: &Rotation) -> anyhow::Result<KeyEntry> {
        ensure!(
            rotation.overlap_seconds >= 0,
            "the overlap cannot be negative"
        );
        let newest = self.keys.last().expect("a validated keyring holds a key");
        if newest.status(rotation.now) == Status::Pending {
            bail!(
                "key {} takes over at {} and has not yet; rotating again now would retire it before it \
                 ever signed",
                newest.name(),
                time_text(newest.valid_from)
            );
        }
        let valid_from = rotation.valid_from.unwrap_or(rotation.now);
        ensure!(
            valid_from >= rotation.now,
            "--valid-from {} is in the past: a key signs only files published after its rotation",
            crate::layout::datetime_string(valid_from)
        );
        let key_id = rotation
            .key_id
            .clone()
            .unwrap_or_else(|| newest.key_id.clone());
        let key_version = rotation
            .key_version
            .clone()
            .unwrap_or_else(|| self.next_version());
        check_name("--key-id", &key_id)?;
        check_name("--key-version", &key_version)?;
        if let Some(same) = self
            .keys
            .iter()
            .find(|k| k.key_id == key_id && k.key_version == key_version)
        {
            bail!(
                "key {} exists already; choose another --key-version",
                same.name()
            );
        }
        let file = (self.keys.len() + 1..)
            .map(|n| format!("signing-key-{n}.pem"))
            .find(|name| !dir.join(name).exists())
            .expect("an unused number exists");
        let key = keypair::create_private(&dir.join(&file))?;
        let entry = KeyEntry {
            key_id,
            key_version,
            private_key_file: file,
            public_key: keypair::public_pem(key.verifying_key())?,
            created_at: rotation.now,
            valid_from: Some(valid_from),
            valid_until: None,
        };
        let until = valid_from.saturating_add(rotation.overlap_seconds);
        for old in self.keys.iter_mut().filter(|k| k.valid_until.is_none()) {
            old.valid_until = Some(until);
        }
        self.keys.push(entry.clone());
        self.save(dir)?;
        Ok(entry)
    }

    /// Writes `dir/keyring.json` atomically, owner-only.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        self.validate()?;
        let mut bytes = serde_json::to_vec_pretty(self).context("encoding the keyring")?;
        bytes.push(b'\n');
        let path = dir.join(KEYRING_FILE);
        warnkit_store::owner_only::write(&path, &bytes)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The next `vN` after the highest version of that form (`v2` after `v1`).
    fn next_version(&self) -> String {
        let highest = self
            .keys
            .iter()
            .filter_map(|k| k.key_version.strip_prefix('v')?.parse::<u64>().ok())
            .max()
            .unwrap_or(self.keys.len() as u64);
        format!("v{}", highest + 1)
    }
}

/// Rotates the keyring in `dir` (see [`Keyring::rotate`]) under a lock, so two rotations at once cannot
/// both retire the same key. Returns the keyring as written and the new key.
pub fn rotate(
    dir: &Path,
    key_id: &str,
    key_version: &str,
    rotation: &Rotation,
) -> anyhow::Result<(Keyring, KeyEntry)> {
    let lock_path = dir.join(ROTATION_LOCK_FILE);
    let Some(_lock) = warnkit_store::FileLock::try_acquire(&lock_path)
        .with_context(|| format!("locking {}", lock_path.display()))?
    else {
        bail!("another key rotation is running on {}", dir.display());
    };
    let mut keyring = Keyring::load(dir, key_id, key_version)?;
    let entry = keyring.rotate(dir, rotation)?;
    Ok((keyring, entry))
}

/// Key ids, versions and file names go into headers, URLs and paths: letters, digits, `.`, `_`, `-`.
fn check_name(what: &str, value: &str) -> anyhow::Result<()> {
    ensure!(
        (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && !value.starts_with('.'),
        "{what} {value:?}: 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
    );
    Ok(())
}

/// The base64 between a PEM's BEGIN and END lines, on one line.
fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect()
}

fn time_text(t: Option<i64>) -> String {
    t.map_or_else(|| "(open)".to_owned(), crate::layout::datetime_string)
}

/// Unix seconds as RFC 3339 in JSON.
mod time {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::layout::datetime_string(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        crate::layout::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time")))
    }
}

/// Optional Unix seconds as RFC 3339 or `null` in JSON.
mod opt_time {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&crate::layout::datetime_string(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => crate::layout::parse_rfc3339(&text)
                .map(Some)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time"))
                }),
        }
    }
}
