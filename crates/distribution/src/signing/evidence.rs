//! Whether a key directory a person names holds a key that signed published files, which must then be
//! rotated, never replaced (`warnkit keygen --force` refuses).

use std::path::{Path, PathBuf};

use super::{published_evidence, KEYRING_FILE};

/// The data directory `dir` is the signing directory of, and why its key counts as published: a
/// keyring in `dir`, or `dir` being `DATA_DIR/signing` of a data directory that published files.
pub fn key_dir_evidence(dir: &Path) -> Option<(PathBuf, String)> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let keyring = dir.join(KEYRING_FILE);
    if keyring.exists() {
        return Some((
            parent,
            format!("{} records rotated keys", keyring.display()),
        ));
    }
    if dir.file_name()? != "signing" {
        return None;
    }
    published_evidence(&parent).map(|evidence| (parent, evidence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_keyring_or_the_signing_dir_of_a_publishing_data_dir_counts() {
        let root = tempfile::tempdir().unwrap();
        let loose = root.path().join("keys");
        std::fs::create_dir_all(&loose).unwrap();
        assert_eq!(key_dir_evidence(&loose), None);
        let signing = root.path().join("signing");
        std::fs::create_dir_all(&signing).unwrap();
        assert_eq!(key_dir_evidence(&signing), None, "nothing published yet");
        std::fs::write(root.path().join("distribution-last-run.json"), "{}").unwrap();
        let (data_dir, why) = key_dir_evidence(&signing).unwrap();
        assert_eq!(data_dir, root.path());
        assert!(why.contains("records a distribution run"), "{why}");
        std::fs::write(loose.join(KEYRING_FILE), "{}").unwrap();
        let (_, why) = key_dir_evidence(&loose).unwrap();
        assert!(why.contains("records rotated keys"), "{why}");
    }
}
