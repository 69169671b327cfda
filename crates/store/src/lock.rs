//! The locks that keep a job to one runner at a time: a PostgreSQL session advisory lock across machines
//! ([`crate::Db::with_job_lock`]), an exclusive file lock on one machine ([`FileLock`]), and the same
//! file lock naming its holder, so that a second process can say who runs already ([`InstanceLock`]).

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::{owner_only, Db, StoreResult};

/// How long a busy advisory lock is asked for again: a session that just ended (a crashed or cancelled
/// run) releases its lock only once the server has noticed.
const RETRY_FOR: Duration = Duration::from_secs(2);

/// An exclusive lock on a file, released when dropped (and by the OS if the process dies).
#[derive(Debug)]
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    /// Takes the lock on `path` (created owner-only if missing, with its directory), or `None` when
    /// another holder has it.
    pub fn try_acquire(path: &Path) -> std::io::Result<Option<FileLock>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            owner_only::create_dir_all(dir)?;
        }
        owner_only::create_file(path)?;
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// How long a busy instance lock is asked for again before its holder is reported: a lock file is also
/// held for a moment by a process that only asks who holds it ([`InstanceLock::holder`]), or by one that
/// has taken it and not yet written its line.
const INSTANCE_RETRY_FOR: Duration = Duration::from_millis(500);

/// An exclusive lock on a file that names its holder (pid, what it runs, since when) in the file, so a
/// second process refused it can say which process runs already. Released when dropped, and by the OS
/// when the process dies, however it dies: a stale line in a file nobody locks means nothing.
#[derive(Debug)]
pub struct InstanceLock {
    file: std::fs::File,
    description: String,
}

impl InstanceLock {
    /// Takes the lock on `path` (created owner-only if missing, with its directory) and records this
    /// process as its holder: "pid N, `about` since RFC 3339 time". `Ok(Err(holder))` when a live
    /// process holds it, with that process's line.
    pub fn try_acquire(path: &Path, about: &str) -> std::io::Result<Result<InstanceLock, String>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            owner_only::create_dir_all(dir)?;
        }
        owner_only::create_file(path)?;
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        let deadline = Instant::now() + INSTANCE_RETRY_FOR;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Ok(Err(read_holder(path)?));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
        let description = format!(
            "pid {}, {about} since {}",
            std::process::id(),
            warnkit_protocol::interval::datetime_string(crate::unix_now())
        );
        file.set_len(0)?;
        file.write_all(format!("{description}\n").as_bytes())?;
        Ok(Ok(InstanceLock { file, description }))
    }

    /// Who holds the lock on `path` right now, or `None` when nobody does (the file may be missing, or
    /// left by a process that died).
    pub fn holder(path: &Path) -> std::io::Result<Option<String>> {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // A shared lock is refused exactly while someone holds the exclusive one; granted, it is
        // released at once when `file` closes.
        match file.try_lock_shared() {
            Ok(()) => Ok(None),
            Err(std::fs::TryLockError::WouldBlock) => read_holder(path).map(Some),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// This process's line in the lock file.
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl Drop for InstanceLock {
    /// Clears the line before the lock goes, so the file never names a process that has stopped.
    fn drop(&mut self) {
        // Best effort: a file that cannot be truncated still loses its lock when closed.
        let _ = self.file.set_len(0);
    }
}

fn read_holder(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    let line = text.lines().next().unwrap_or("").trim();
    Ok(if line.is_empty() {
        "another process that has not said who it is".to_owned()
    } else {
        line.to_owned()
    })
}

/// A session advisory lock held on one pooled connection.
struct AdvisoryLock(Option<PoolConnection<Postgres>>);

impl AdvisoryLock {
    async fn try_acquire(pool: &PgPool, key: i64) -> StoreResult<Option<AdvisoryLock>> {
        let conn = pool.acquire().await?;
        // Guard the connection before asking: if this future is dropped while the server grants the
        // lock, Drop closes the session instead of pooling a connection that still holds it.
        let mut guard = AdvisoryLock(Some(conn));
        let deadline = Instant::now() + RETRY_FOR;
        loop {
            let conn = guard.0.as_mut().expect("held until released");
            let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut **conn)
                .await?;
            if got {
                return Ok(Some(guard));
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Not ours: the connection holds no lock and may go back to the pool.
        drop(guard.0.take());
        Ok(None)
    }

    async fn release(mut self, key: i64) {
        if let Some(mut conn) = self.0.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Closing the session is the other way to release a session lock.
                drop(conn.detach());
            }
        }
    }
}

impl Drop for AdvisoryLock {
    /// A job that was cancelled never reached `release`: close the connection instead of returning it
    /// to the pool, or the pool would keep the lock alive and block every later run.
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(conn.detach());
        }
    }
}

impl Db {
    /// Runs `job` unless another process is running the job named by `key` right now: on PostgreSQL a
    /// session advisory lock decides (freed by the server if this process dies, asked for again for a
    /// moment when busy, and released even when `job` is cancelled), so scaled-out copies run a
    /// scheduled job once; an SQLite file has a single process, so there the job always runs (a job
    /// that two processes on one machine must not run together takes a [`FileLock`] as well).
    /// Returns `None` when the job was skipped.
    pub async fn with_job_lock<T>(
        &self,
        key: i64,
        job: impl std::future::Future<Output = T>,
    ) -> StoreResult<Option<T>> {
        let Db::Postgres(pool) = self else {
            return Ok(Some(job.await));
        };
        let Some(lock) = AdvisoryLock::try_acquire(pool, key).await? else {
            return Ok(None);
        };
        let output = job.await;
        lock.release(key).await;
        Ok(Some(output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_lock_has_one_holder_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("job.lock");
        let first = FileLock::try_acquire(&path).expect("lock").expect("free");
        assert!(FileLock::try_acquire(&path).expect("lock").is_none());
        drop(first);
        assert!(FileLock::try_acquire(&path).expect("lock").is_some());
    }

    #[test]
    fn an_instance_lock_names_its_holder_until_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("locks").join("serve-a.lock");
        assert_eq!(InstanceLock::holder(&path).expect("holder"), None);
        let first = InstanceLock::try_acquire(&path, "warnkit serve (a)")
            .expect("lock")
            .expect("free");
        let pid = format!("pid {}, warnkit serve (a) since ", std::process::id());
        assert!(
            first.description().starts_with(&pid),
            "{}",
            first.description()
        );
        let held = InstanceLock::holder(&path).expect("holder");
        assert_eq!(held.as_deref(), Some(first.description()));
        let refused = InstanceLock::try_acquire(&path, "warnkit serve (b)")
            .expect("lock")
            .expect_err("held");
        assert_eq!(refused, first.description());
        drop(first);
        assert_eq!(InstanceLock::holder(&path).expect("holder"), None);
        let second = InstanceLock::try_acquire(&path, "warnkit serve (b)")
            .expect("lock")
            .expect("free again");
        assert!(second.description().contains("warnkit serve (b)"));
    }
}
