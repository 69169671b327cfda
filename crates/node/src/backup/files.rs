//! The file side of a backup: which files of a data directory belong in it, owner-only copies that
//! hash what they write, and paths that stay inside a backup.

use std::io::{Read as _, Write as _};
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use warnkit_store::owner_only;

use super::{FileEntry, Notes, PROGRESS_EVERY};

/// Calls `each(path, relative name)` for every regular file under `dir` that belongs in a backup, in
/// name order. Left out: what a running process holds about itself (`endpoints.json`, `locks/`, `*.lock`),
/// SQLite's `-wal`, `-shm` and `-journal` (a snapshot has none) and half-written `*.tmp` files.
pub(super) fn walk(
    root: &Path,
    dir: &Path,
    each: &mut dyn FnMut(&Path, &str) -> anyhow::Result<()>,
    notes: Notes<'_>,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let rel = relative_name(path.strip_prefix(root)?)?;
        let kind = entry.file_type()?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let top = dir == root;
        if kind.is_dir() {
            if !(top && name == "locks") {
                walk(root, &path, each, notes)?;
            }
        } else if kind.is_file() {
            let runtime_state = (top && name == "endpoints.json")
                || name.ends_with(".lock")
                || name.ends_with(".tmp")
                || ["-wal", "-shm", "-journal"]
                    .iter()
                    .any(|s| name.ends_with(s));
            if !runtime_state {
                each(&path, &rel)?;
            }
        } else {
            notes(&format!(
                "warning: skipping {}: not a regular file",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Copies each `(source, name)` to `base/name`, owner-only, reporting progress on a long copy; returns
/// their entries.
pub(super) fn copy_all(
    files: &[(PathBuf, String)],
    base: &Path,
    what: &str,
    notes: Notes<'_>,
) -> anyhow::Result<Vec<FileEntry>> {
    let total: u64 = files
        .iter()
        .map(|(p, _)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let started = Instant::now();
    let mut last = started;
    let mut entries = Vec::with_capacity(files.len());
    let mut done = 0;
    for (i, (source, name)) in files.iter().enumerate() {
        let (bytes, sha256) = copy_file(source, &base.join(name))?;
        done += bytes;
        entries.push(FileEntry {
            path: name.clone(),
            bytes,
            sha256,
        });
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            notes(&format!(
                "{what}: {} of {} files, {} of {}",
                i + 1,
                files.len(),
                size(done),
                size(total)
            ));
        }
    }
    if !files.is_empty() {
        notes(&format!(
            "{what}: {} files, {} ({:.1} s)",
            files.len(),
            size(done),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(entries)
}

/// Copies `source` to the new file `dest` (mode 0600, directories 0700), synced, hashing what it wrote.
pub(super) fn copy_file(source: &Path, dest: &Path) -> anyhow::Result<(u64, String)> {
    if let Some(dir) = dest.parent() {
        owner_only::create_dir_all(dir)?;
    }
    let mut input =
        std::fs::File::open(source).with_context(|| format!("opening {}", source.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, owner_only::FILE_MODE);
    let mut output = options
        .open(dest)
        .with_context(|| format!("creating {}", dest.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = input
            .read(&mut buf)
            .with_context(|| format!("reading {}", source.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .with_context(|| format!("writing {}", dest.display()))?;
        bytes += n as u64;
    }
    output.sync_all()?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// Size and SHA-256 of the file at `path`.
pub(super) fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut input =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut input, &mut hasher)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// `rel` as a `/`-separated name of plain components (no `..`, no root), or an error.
pub(super) fn relative_name(rel: &Path) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for part in rel.components() {
        match part {
            Component::Normal(p) => parts.push(
                p.to_str()
                    .with_context(|| format!("{} is not UTF-8", rel.display()))?,
            ),
            _ => bail!("{} is not a plain relative path", rel.display()),
        }
    }
    anyhow::ensure!(!parts.is_empty(), "empty path");
    Ok(parts.join("/"))
}

/// `DIR.suffix` beside `dir`.
pub(super) fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".{suffix}"));
    PathBuf::from(name)
}

/// Makes the entries of `dir` durable, so a rename that follows is not undone by a crash.
pub(super) fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

/// `bytes` for people: `812 B`, `3.4 MB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.1} GB", bytes as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_a_backup_stay_inside_it() {
        assert_eq!(
            relative_name(Path::new("published/a/b")).unwrap(),
            "published/a/b"
        );
        assert!(relative_name(Path::new("../etc/passwd")).is_err());
        assert!(relative_name(Path::new("/etc/passwd")).is_err());
        assert!(relative_name(Path::new("")).is_err());
    }
}
