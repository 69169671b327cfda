//! The locks that keep a job to one runner at a time: a PostgreSQL session advisory lock across machines
//! ([`crate::Db::with_job_lock`]) and an exclusive file lock on one machine ([`FileLock`]).

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
}
