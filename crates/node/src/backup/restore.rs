//! Restoring a backup written by [`super::backup`] into a data directory that no server uses.
//!
//! Every file is checked against the manifest's SHA-256 before anything is written, then copied into
//! `DATA_DIR.restoring` and checked again; only a complete copy is renamed to `DATA_DIR`. A restore that
//! fails leaves `DATA_DIR` as it was and says what is left in `DATA_DIR.restoring`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use warnkit_store::{owner_only, InstanceLock};

use super::files::{copy_all, hash_file, relative_name, sibling, sync_dir};
use super::{pg_groups, without_password, FileEntry, Manifest, Notes, PgGroup, FORMAT, MANIFEST};
use crate::config::Config;

/// What [`restore`] is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct RestoreOptions<'a> {
    /// The configuration of the instance to restore into (its data directory, its database URL).
    pub config: &'a Config,
    /// The backup directory.
    pub from: &'a Path,
    /// Replace a data directory that is not empty (it is kept, renamed to `DATA_DIR.replaced-<time>`).
    pub force: bool,
}

/// What [`restore`] did.
#[derive(Debug)]
pub struct RestoreReport {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// The data directory restored into.
    pub target: PathBuf,
    /// How many files were restored.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Where the data directory that was replaced is kept, if one was.
    pub kept: Option<PathBuf>,
    /// Whether the backup holds the configuration file of the backed-up instance (in `FROM/config`).
    pub has_config: bool,
    /// The PostgreSQL dumps to restore by hand, each with the URL of the database to restore it into.
    pub pg_restores: Vec<(PgGroup, String)>,
}

/// Restores the backup `options.from` into `options.config`'s data directory.
pub fn restore(options: RestoreOptions<'_>, notes: Notes<'_>) -> anyhow::Result<RestoreReport> {
    let config = options.config;
    let target = config.data_dir.clone();
    let manifest = read_manifest(options.from)?;
    let data = checked_files(options.from, &manifest)?;
    refuse_if_served(&target)?;
    let occupied = match std::fs::read_dir(&target) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("reading {}", target.display())),
    };
    if occupied && !options.force {
        bail!(
            "{} is not empty: restore into a new directory, or give --force to replace it (it is kept \
             as {}.replaced-<time>)",
            target.display(),
            target.display()
        );
    }
    if manifest.warnkit_version != env!("CARGO_PKG_VERSION") {
        notes(&format!(
            "the backup was written by warnkit {}, this is {}: `warnkit serve` applies the database \
             migrations of this release at its next start",
            manifest.warnkit_version,
            env!("CARGO_PKG_VERSION")
        ));
    }

    let staging = sibling(&target, "restoring");
    if staging.exists() {
        notes(&format!(
            "removing {}, left by an interrupted restore",
            staging.display()
        ));
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("removing {}", staging.display()))?;
    }
    owner_only::create_dir_all(&staging)
        .with_context(|| format!("creating {}", staging.display()))?;
    let copied = copy_all(&data, &staging, "restore", notes).and_then(|entries| {
        // Checked once more as written: a backup that changed since the first check is not restored.
        for (entry, expected) in entries.iter().zip(&manifest_data(&manifest)) {
            anyhow::ensure!(
                entry.sha256 == expected.sha256,
                "{} changed while it was being restored",
                expected.path
            );
        }
        sync_dir(&staging)
    });
    if let Err(err) = copied {
        bail!(
            "{err:#}; {} is unchanged, the incomplete copy is in {} (delete it)",
            target.display(),
            staging.display()
        );
    }
    // A server started on the target while the files were copied would lose its data to the rename.
    refuse_if_served(&target)?;
    let kept = if occupied {
        let kept = sibling(&target, &format!("replaced-{}", warnkit_store::unix_now()));
        std::fs::rename(&target, &kept).with_context(|| {
            format!(
                "moving {} aside; the restored copy is complete in {}",
                target.display(),
                staging.display()
            )
        })?;
        Some(kept)
    } else {
        // An empty directory (or none) is replaced outright.
        match std::fs::remove_dir(&target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing the empty {}", target.display()))
            }
            _ => None,
        }
    };
    std::fs::rename(&staging, &target).with_context(|| {
        format!(
            "renaming {} to {}: the restored copy is complete in {}",
            staging.display(),
            target.display(),
            staging.display()
        )
    })?;
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    let bytes: u64 = data
        .iter()
        .filter_map(|(p, _)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let pg_restores = pg_groups(&manifest, options.from)
        .into_iter()
        .map(|group| {
            // Into the database this instance will use, which may not be the backed-up one's.
            let url = config
                .database_url
                .as_deref()
                .map(without_password)
                .unwrap_or_else(|| group.url.clone());
            (group, url)
        })
        .collect();
    Ok(RestoreReport {
        has_config: manifest.files.iter().any(|f| f.path.starts_with("config/")),
        manifest,
        target,
        files: data.len(),
        bytes,
        kept,
        pg_restores,
    })
}
/// Reads and checks `BACKUP/manifest.json`.
fn read_manifest(backup: &Path) -> anyhow::Result<Manifest> {
    let path = backup.join(MANIFEST);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (is {} a backup made by `warnkit backup`?)",
            path.display(),
            backup.display()
        )
    })?;
    let manifest: Manifest =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(
        manifest.format == FORMAT,
        "{} has format {}; this warnkit reads format {FORMAT}",
        path.display(),
        manifest.format
    );
    Ok(manifest)
}

/// The manifest's entries under `data/`, in its order.
fn manifest_data(manifest: &Manifest) -> Vec<&FileEntry> {
    manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("data/"))
        .collect()
}

/// Checks every file of the backup against the manifest (present, same size and SHA-256, and nothing in
/// `data/` that the manifest does not list), and returns the `data/` files as `(path in the backup,
/// name in the data directory)`. Every mismatch is named, not only the first.
fn checked_files(backup: &Path, manifest: &Manifest) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut problems = Vec::new();
    let mut data = Vec::new();
    for entry in &manifest.files {
        let name = relative_name(Path::new(&entry.path))
            .with_context(|| format!("the manifest names {:?}", entry.path))?;
        let path = backup.join(&name);
        match hash_file(&path) {
            Ok((bytes, sha256)) if bytes == entry.bytes && sha256 == entry.sha256 => {}
            Ok(_) => problems.push(format!("{name}: its SHA-256 differs from the manifest's")),
            Err(e) => problems.push(format!("{name}: {e:#}")),
        }
        if let Some(rel) = name.strip_prefix("data/") {
            data.push((path, rel.to_owned()));
        }
    }
    let listed: std::collections::BTreeSet<&str> =
        manifest.files.iter().map(|f| f.path.as_str()).collect();
    let root = backup.join("data");
    if root.is_dir() {
        unlisted(&root, &root, &listed, &mut problems)?;
    }
    if !problems.is_empty() {
        bail!(
            "{} does not match its manifest, nothing restored: {}",
            backup.display(),
            problems.join("; ")
        );
    }
    Ok(data)
}

/// Adds a problem for every file under `dir` that the manifest does not list.
fn unlisted(
    root: &Path,
    dir: &Path,
    listed: &std::collections::BTreeSet<&str>,
    problems: &mut Vec<String>,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            unlisted(root, &path, listed, problems)?;
        } else {
            let name = format!("data/{}", relative_name(path.strip_prefix(root)?)?);
            if !listed.contains(name.as_str()) {
                problems.push(format!("{name}: not in the manifest"));
            }
        }
    }
    Ok(())
}

/// Refuses while a `warnkit serve` holds one of `data_dir`'s instance locks (`locks/*.lock`).
fn refuse_if_served(data_dir: &Path) -> anyhow::Result<()> {
    let locks = data_dir.join("locks");
    let entries = match std::fs::read_dir(&locks) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", locks.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "lock") {
            if let Some(holder) = InstanceLock::holder(&path)
                .with_context(|| format!("reading {}", path.display()))?
            {
                bail!(
                    "a server uses {}: {holder} holds {}; stop it before restoring",
                    data_dir.display(),
                    path.display()
                );
            }
        }
    }
    Ok(())
}
