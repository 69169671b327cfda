//! Online snapshots of SQLite databases for `warnkit backup`: a consistent copy of a database that a
//! running service keeps writing, taken without stopping it.
//!
//! `VACUUM INTO` reads the database inside one read transaction, so the copy is the database as of one
//! commit, whatever writers do meanwhile (in WAL mode they are not even blocked); copying the file and its
//! `-wal` instead could catch a checkpoint half-way and give a torn database.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::{owner_only, StoreResult};

/// The first 16 bytes of every SQLite database file.
pub const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Writes a consistent copy of the SQLite database at `source` (which may be in use) to `dest`, a new
/// file created owner-only ([`owner_only::FILE_MODE`]); `dest` must not exist. The copy is a plain
/// database without a `-wal`, checked with `PRAGMA integrity_check` before this returns.
pub async fn snapshot_sqlite(source: &Path, dest: &Path) -> StoreResult<()> {
    let dest_text = dest.to_str().ok_or_else(|| {
        sqlx::Error::Configuration(format!("{} is not UTF-8", dest.display()).into())
    })?;
    // SQLite would create the file with the process's umask; an empty file made here keeps the mode
    // owner-only, and VACUUM INTO accepts an empty file as its target.
    match std::fs::metadata(dest) {
        Ok(_) => {
            return Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists", dest.display()),
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(sqlx::Error::Io(e)),
    }
    owner_only::create_file(dest)?;
    let mut conn = SqliteConnectOptions::new()
        .filename(source)
        // A database that is not there is a wrong path, not a database to create.
        .create_if_missing(false)
        // The service may hold the write lock for a moment; the read transaction waits for it.
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await?;
    sqlx::query("VACUUM INTO $1")
        .bind(dest_text)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    integrity_check(dest).await
}

/// Runs `PRAGMA integrity_check` on the database at `path`: an error names what SQLite found wrong.
pub async fn integrity_check(path: &Path) -> StoreResult<()> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(true)
        .connect()
        .await?;
    let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await?;
    conn.close().await?;
    match rows.as_slice() {
        [(ok,)] if ok == "ok" => Ok(()),
        _ => {
            let found: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
            Err(sqlx::Error::Protocol(format!(
                "{} fails SQLite's integrity check: {}",
                path.display(),
                found.join("; ")
            )))
        }
    }
}

/// Whether the file at `path` starts like an SQLite database (its `-wal`, `-shm` and journal do not).
pub fn is_sqlite_file(path: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path)?;
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => return Ok(false),
            n => read += n,
        }
    }
    Ok(&head == SQLITE_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{on_pool, Db, PoolConfig};

    /// A snapshot taken while another connection keeps committing holds some prefix of the commits,
    /// every one of them whole: each transaction writes a pair of rows, and no pair is ever split.
    #[tokio::test]
    async fn a_snapshot_under_writes_is_one_commit() {
        let root = tempfile::tempdir().unwrap();
        let source = root.path().join("live.sqlite");
        let db = Db::connect_sqlite(&source, PoolConfig::default())
            .await
            .unwrap();
        on_pool!(&db, |pool| sqlx::query(
            "CREATE TABLE t (n BIGINT, half BIGINT)"
        )
        .execute(pool)
        .await
        .map(drop))
        .unwrap();
        let writer = {
            let db = db.clone();
            tokio::spawn(async move {
                for n in 0..400i64 {
                    on_pool!(&db, |pool| {
                        let mut tx = pool.begin().await.unwrap();
                        for half in 0..2i64 {
                            sqlx::query("INSERT INTO t VALUES ($1, $2)")
                                .bind(n)
                                .bind(half)
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                        }
                        tx.commit().await.unwrap();
                    });
                }
            })
        };
        let mut snapshots = Vec::new();
        for i in 0..5 {
            let dest = root.path().join(format!("snap-{i}.sqlite"));
            snapshot_sqlite(&source, &dest).await.unwrap();
            snapshots.push(dest);
        }
        writer.await.unwrap();
        for dest in &snapshots {
            assert!(is_sqlite_file(dest).unwrap());
            let copy = Db::connect_sqlite(dest, PoolConfig::default())
                .await
                .unwrap();
            let (rows, pairs): (i64, i64) = on_pool!(&copy, |pool| sqlx::query_as(
                "SELECT COUNT(*), COUNT(DISTINCT n) FROM t"
            )
            .fetch_one(pool)
            .await)
            .unwrap();
            assert_eq!(
                rows,
                2 * pairs,
                "{}: a transaction was split",
                dest.display()
            );
            copy.close().await;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&snapshots[0])
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, owner_only::FILE_MODE);
        }
        // A second snapshot onto an existing file is refused rather than mixed into it.
        assert!(snapshot_sqlite(&source, &snapshots[0]).await.is_err());
        assert!(!is_sqlite_file(&root.path().join("live.sqlite-wal")).unwrap_or(false));
        db.close().await;
    }
}
