//! Backups of a data directory: a consistent copy of one that a `warnkit serve` may be using
//! ([`backup`]), and bringing one back into a directory no server uses ([`restore()`]).
//!
//! A backup is a directory: `manifest.json` (warnkit's version, the time, every file with its SHA-256),
//! `data/` (the data directory's files, each SQLite database as an online snapshot), and `config/` (the
//! configuration file, when one was given). It is written as `OUT.partial` and renamed when complete, so a
//! directory named `OUT` is always a whole backup.

mod files;
mod restore;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use warnkit_store::{owner_only, DbTarget};

use crate::config::Config;
use files::{copy_all, hash_file, relative_name, sibling, sync_dir, walk};

pub use files::size;
pub use restore::{restore, RestoreOptions, RestoreReport};

/// Where the lines about a long backup or restore go as it runs (progress, warnings): the command line
/// writes them to stderr.
pub type Notes<'a> = &'a dyn Fn(&str);

/// The manifest's format; restore refuses another.
const FORMAT: u32 = 1;
/// The manifest's file name in a backup.
const MANIFEST: &str = "manifest.json";
/// The services that keep a database, as [`Config::db_target`] names them.
const DATABASES: [&str; 6] = [
    "verification",
    "submission",
    "testresult",
    "portal",
    warnkit_federation::jobs::NAME,
    warnkit_federation::gateway::NAME,
];
/// How often a long copy reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// How long a backup waits for a distribution run to finish before giving up.
const DISTRIBUTION_WAIT: Duration = Duration::from_secs(600);

/// What [`backup`] is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct BackupOptions<'a> {
    /// The configuration of the instance whose data directory is saved.
    pub config: &'a Config,
    /// The configuration file, copied into `config/` of the backup when there is one.
    pub config_file: Option<&'a Path>,
    /// The directory to write the backup into; it must not exist yet.
    pub to: &'a Path,
}

/// What [`backup`] did.
#[derive(Debug)]
pub struct BackupReport {
    /// The manifest it wrote.
    pub manifest: Manifest,
    /// How long it took.
    pub elapsed: Duration,
    /// The PostgreSQL databases a file copy cannot save, to be dumped with `pg_dump`.
    pub pg_dumps: Vec<PgGroup>,
}

impl BackupReport {
    /// The bytes of every file in the backup.
    pub fn bytes(&self) -> u64 {
        self.manifest.files.iter().map(|f| f.bytes).sum()
    }
}

/// What `manifest.json` records about a backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The version of the warnkit that wrote it.
    pub warnkit_version: String,
    /// When the backup was taken (RFC 3339).
    pub created_at: String,
    /// The data directory it was taken from.
    pub data_dir: String,
    /// Where each service's database was, and how it was saved.
    pub databases: Vec<DatabaseEntry>,
    /// Where the published files live: `DATA_DIR/published` (in `data/`) or a bucket.
    pub published: String,
    /// Every file of the backup, relative to it (`data/...`, `config/...`).
    pub files: Vec<FileEntry>,
}

/// One service's database in a [`Manifest`].
#[derive(Debug, Serialize, Deserialize)]
pub struct DatabaseEntry {
    /// The service.
    pub service: String,
    /// `sqlite` (the file is in the backup) or `postgres` (saved with `pg_dump`, not in the backup).
    pub engine: String,
    /// SQLite: the snapshot's path in the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// PostgreSQL: the URL without its password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// PostgreSQL: the service's schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// One file in a [`Manifest`].
#[derive(Debug, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path in the backup, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// One PostgreSQL database of a backed-up instance: its schemas are saved in one `pg_dump` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgGroup {
    /// The database's URL, without its password.
    pub url: String,
    /// The services' schemas in it.
    pub schemas: Vec<String>,
    /// The dump file, in the backup directory.
    pub file: PathBuf,
}

impl PgGroup {
    /// The `pg_dump` command that saves the schemas as one consistent snapshot.
    pub fn dump_command(&self) -> String {
        let schemas: Vec<String> = self
            .schemas
            .iter()
            .map(|s| format!("--schema={s}"))
            .collect();
        format!(
            "pg_dump --format=custom {} --file={} {}",
            schemas.join(" "),
            shell_quote(&self.file.display().to_string()),
            shell_quote(&self.url)
        )
    }

    /// The `pg_restore` command that brings the dump back into the database at `url`.
    pub fn restore_command(&self, url: &str) -> String {
        format!(
            "pg_restore --clean --if-exists --no-owner --exit-on-error --dbname={} {}",
            shell_quote(url),
            shell_quote(&self.file.display().to_string())
        )
    }
}

/// Writes a backup of `options.config`'s data directory into `options.to`.
pub fn backup(options: BackupOptions<'_>, notes: Notes<'_>) -> anyhow::Result<BackupReport> {
    let config = options.config;
    let data_dir = &config.data_dir;
    anyhow::ensure!(
        data_dir.is_dir(),
        "{} is not a data directory (give --data-dir or data_dir in the configuration)",
        data_dir.display()
    );
    let out = options.to;
    if out.exists() {
        bail!(
            "{} exists: a backup goes into a new directory",
            out.display()
        );
    }
    let data_abs = std::fs::canonicalize(data_dir)?;
    let out_parent = absolute_parent(out)?;
    anyhow::ensure!(
        !out_parent.starts_with(&data_abs),
        "{} lies inside the data directory {}: put the backup elsewhere",
        out.display(),
        data_dir.display()
    );
    let staging = sibling(out, "partial");
    if staging.exists() {
        notes(&format!(
            "removing {}, left by an interrupted backup",
            staging.display()
        ));
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("removing {}", staging.display()))?;
    }
    owner_only::create_dir_all(&staging.join("data"))
        .with_context(|| format!("creating {}", staging.display()))?;
    let started = Instant::now();
    let manifest = take(config, options.config_file, &staging, notes)?;
    let json = serde_json::to_string_pretty(&manifest)? + "\n";
    owner_only::write(&staging.join(MANIFEST), json.as_bytes())?;
    sync_dir(&staging)?;
    std::fs::rename(&staging, out)
        .with_context(|| format!("renaming {} to {}", staging.display(), out.display()))?;
    let pg_dumps = pg_groups(&manifest, out);
    Ok(BackupReport {
        manifest,
        elapsed: started.elapsed(),
        pg_dumps,
    })
}

/// Copies the data directory into `staging/data` (the services' databases first, as snapshots, then every
/// other file while no distribution run writes) and the configuration file into `staging/config`, and
/// returns the manifest.
fn take(
    config: &Config,
    config_file: Option<&Path>,
    staging: &Path,
    notes: Notes<'_>,
) -> anyhow::Result<Manifest> {
    let data_dir = &config.data_dir;
    let mut databases = Vec::new();
    let mut files = Vec::new();
    let mut snapshots: Vec<(PathBuf, String)> = Vec::new();
    for service in DATABASES {
        match config.db_target(service) {
            DbTarget::SqliteFile(path) if path.exists() => {
                let inside = path
                    .strip_prefix(data_dir)
                    .ok()
                    .and_then(|rel| relative_name(rel).ok());
                let name = match inside {
                    Some(rel) => format!("data/{rel}"),
                    None => {
                        notes(&format!(
                            "warning: the {service} database {} lies outside the data directory; it is \
                             saved as data/{service}.sqlite and restored into the data directory",
                            path.display()
                        ));
                        format!("data/{service}.sqlite")
                    }
                };
                databases.push(DatabaseEntry {
                    service: service.to_owned(),
                    engine: "sqlite".to_owned(),
                    file: Some(name.clone()),
                    url: None,
                    schema: None,
                });
                snapshots.push((path, name));
            }
            DbTarget::SqliteFile(_) => {}
            DbTarget::Postgres { url, schema } => databases.push(DatabaseEntry {
                service: service.to_owned(),
                engine: "postgres".to_owned(),
                file: None,
                url: Some(without_password(&url)),
                schema: Some(schema),
            }),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    files.extend(snapshot_all(&runtime, &snapshots, staging, notes)?);
    // The published files and the signing keys are listed and copied while no distribution run writes
    // them, so the copy holds the files of one run, signed by the key that is saved with them.
    let _lock = distribution_lock(data_dir, notes)?;
    let (mut extra, mut others) = (Vec::new(), Vec::new());
    walk(
        data_dir,
        data_dir,
        &mut |path, rel| {
            if snapshots.iter().any(|(p, _)| p == path) {
                return Ok(());
            }
            if warnkit_store::backup::is_sqlite_file(path)? {
                // A database no service of this configuration names (an earlier setup's): kept as well.
                extra.push((path.to_owned(), format!("data/{rel}")));
            } else {
                others.push((path.to_owned(), format!("data/{rel}")));
            }
            Ok(())
        },
        notes,
    )?;
    files.extend(snapshot_all(&runtime, &extra, staging, notes)?);
    files.extend(copy_all(&others, staging, "files", notes)?);
    if let Some(path) = config_file {
        let name = format!(
            "config/{}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("warnkit.toml")
        );
        files.extend(copy_all(
            &[(path.to_owned(), name)],
            staging,
            "configuration",
            notes,
        )?);
    }
    let published = match &config.distribution.store {
        Some(warnkit_distribution::objects::StoreConfig::S3 { bucket, .. }) => {
            format!("the S3 bucket {bucket:?}")
        }
        _ => "local".to_owned(),
    };
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Manifest {
        format: FORMAT,
        warnkit_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: warnkit_distribution::layout::datetime_string(warnkit_store::unix_now()),
        data_dir: data_dir.display().to_string(),
        databases,
        published,
        files,
    })
}

/// Writes an online snapshot of each `(database, name)` to `staging/name`; returns their entries.
fn snapshot_all(
    runtime: &tokio::runtime::Runtime,
    databases: &[(PathBuf, String)],
    staging: &Path,
    notes: Notes<'_>,
) -> anyhow::Result<Vec<FileEntry>> {
    let mut files = Vec::new();
    for (path, name) in databases {
        let dest = staging.join(name);
        if let Some(dir) = dest.parent() {
            owner_only::create_dir_all(dir)?;
        }
        let started = Instant::now();
        runtime
            .block_on(warnkit_store::backup::snapshot_sqlite(path, &dest))
            .with_context(|| format!("snapshot of {}", path.display()))?;
        let (bytes, sha256) = hash_file(&dest)?;
        notes(&format!(
            "snapshot of {}: {} ({:.1} s)",
            path.display(),
            size(bytes),
            started.elapsed().as_secs_f64()
        ));
        files.push(FileEntry {
            path: name.clone(),
            bytes,
            sha256,
        });
    }
    Ok(files)
}

/// Takes the distribution job's file lock on `data_dir`, waiting (with a line now and then) while a run
/// holds it.
fn distribution_lock(data_dir: &Path, notes: Notes<'_>) -> anyhow::Result<warnkit_store::FileLock> {
    let path = data_dir.join("distribution.lock");
    let deadline = Instant::now() + DISTRIBUTION_WAIT;
    let mut said = false;
    loop {
        if let Some(lock) = warnkit_store::FileLock::try_acquire(&path)
            .with_context(|| format!("locking {}", path.display()))?
        {
            return Ok(lock);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "a distribution run has held {} for {} s; try again later",
            path.display(),
            DISTRIBUTION_WAIT.as_secs()
        );
        if !said {
            notes("waiting for the running distribution run to finish");
            said = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The directory `path` would be created in, absolute.
fn absolute_parent(path: &Path) -> anyhow::Result<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::canonicalize(&parent).with_context(|| {
        format!(
            "the directory {0} to hold the backup does not exist: create it first (`mkdir -p {0}`)",
            parent.display()
        )
    })
}

/// `url` without a password: `pg_dump` and `pg_restore` take it from `PGPASSWORD` or `~/.pgpass`.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// `text` quoted for a POSIX shell.
fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:@=".contains(&b))
    {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The PostgreSQL databases of `manifest` by URL, each with its schemas and the dump file in `backup`.
fn pg_groups(manifest: &Manifest, backup: &Path) -> Vec<PgGroup> {
    let mut groups: Vec<PgGroup> = Vec::new();
    for db in &manifest.databases {
        let (Some(url), Some(schema)) = (&db.url, &db.schema) else {
            continue;
        };
        match groups.iter_mut().find(|g| &g.url == url) {
            Some(group) => group.schemas.push(schema.clone()),
            None => {
                let file = match groups.len() {
                    0 => "postgres.dump".to_owned(),
                    n => format!("postgres-{}.dump", n + 1),
                };
                groups.push(PgGroup {
                    url: url.clone(),
                    schemas: vec![schema.clone()],
                    file: backup.join(file),
                });
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_and_commands_quote() {
        assert_eq!(
            without_password("postgres://wk:s3cret@db.example:5432/warnkit?sslmode=require"),
            "postgres://wk@db.example:5432/warnkit?sslmode=require"
        );
        assert_eq!(without_password("postgres://wk@h/db"), "postgres://wk@h/db");
        assert_eq!(shell_quote("/srv/backup"), "/srv/backup");
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
        assert_eq!(
            shell_quote("postgres://u@h/db?sslmode=x&a=b"),
            "'postgres://u@h/db?sslmode=x&a=b'"
        );
    }
}
