//! The gateway's table of batches: insert (idempotent per country and upload tag), look up by day and
//! sequence number, retention.

use sqlx::Row;
use warnkit_store::{is_unique_violation, on_pool, Db};

/// A batch to store.
pub(super) struct NewBatch {
    pub day: String,
    pub country: String,
    pub upload_tag: String,
    pub uploaded_at: i64,
    pub key_count: i64,
    pub content_sha256: String,
    pub signature: String,
    pub key_fingerprint: String,
    pub body: Vec<u8>,
}

/// What an insert did.
pub(super) enum Inserted {
    /// Stored as the day's `seq`-th batch.
    New { seq: i64 },
    /// The country had already uploaded this tag with the same keys (stored on `day` as `seq`).
    Same { day: String, seq: i64 },
    /// The country had already uploaded this tag with other keys.
    Conflict,
}

/// A stored batch.
pub(super) struct BatchRow {
    pub seq: i64,
    pub country: String,
    pub upload_tag: String,
    pub uploaded_at: i64,
    pub key_count: i64,
    pub signature: String,
    pub key_fingerprint: String,
    pub body: Vec<u8>,
}

/// Numbers the batch after the day's last one in the same statement. SQLite has one writer, so the
/// numbers follow the order of commits; on PostgreSQL the statement runs under a transaction-scoped
/// advisory lock (see [`insert`]) for the same effect.
const INSERT: &str = "INSERT INTO batch (day, seq, country, upload_tag, uploaded_at, key_count, \
    content_sha256, signature, key_fingerprint, body) \
    SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9 FROM batch WHERE day = $1 \
    RETURNING seq";

pub(super) async fn insert(db: &Db, b: &NewBatch) -> Result<Inserted, sqlx::Error> {
    for _ in 0..20 {
        let existing: Option<(String, i64, String)> = on_pool!(db, |pool| {
            sqlx::query_as(
                "SELECT day, seq, content_sha256 FROM batch WHERE country = $1 AND upload_tag = $2",
            )
            .bind(&b.country)
            .bind(&b.upload_tag)
            .fetch_optional(pool)
            .await
        })?;
        if let Some((day, seq, hash)) = existing {
            return Ok(if hash == b.content_sha256 {
                Inserted::Same { day, seq }
            } else {
                Inserted::Conflict
            });
        }
        macro_rules! insert {
            ($executor:expr) => {
                sqlx::query_scalar(INSERT)
                    .bind(&b.day)
                    .bind(&b.country)
                    .bind(&b.upload_tag)
                    .bind(b.uploaded_at)
                    .bind(b.key_count)
                    .bind(&b.content_sha256)
                    .bind(&b.signature)
                    .bind(&b.key_fingerprint)
                    .bind(&b.body[..])
                    .fetch_one($executor)
                    .await
            };
        }
        let result: Result<i64, sqlx::Error> = match db {
            Db::Sqlite(pool) => insert!(pool),
            Db::Postgres(pool) => {
                // Without the lock, concurrent uploads compute the same number; all but one then wait
                // for the first to commit and fail on the primary key, a convoy that grows with the
                // number of uploaders. The lock makes them queue once instead.
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(INSERT_LOCK)
                    .execute(&mut *tx)
                    .await?;
                match insert!(&mut *tx) {
                    Ok(seq) => tx.commit().await.map(|()| seq),
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(seq) => return Ok(Inserted::New { seq }),
            // The same country and tag raced in: the next lookup answers.
            Err(e) if is_unique_violation(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(sqlx::Error::Protocol(
        "could not number the batch after 20 attempts".into(),
    ))
}

/// The advisory lock that orders batch inserts on PostgreSQL.
const INSERT_LOCK: i64 = 0x5746_4547_5753_4551;

const COLUMNS: &str =
    "seq, country, upload_tag, uploaded_at, key_count, signature, key_fingerprint, body";

/// The day's batch `seq`, or its first batch when `seq` is `None`.
pub(super) async fn find(
    db: &Db,
    day: &str,
    seq: Option<i64>,
) -> Result<Option<BatchRow>, sqlx::Error> {
    macro_rules! row {
        ($row:expr) => {{
            let r = $row;
            BatchRow {
                seq: r.try_get(0)?,
                country: r.try_get(1)?,
                upload_tag: r.try_get(2)?,
                uploaded_at: r.try_get(3)?,
                key_count: r.try_get(4)?,
                signature: r.try_get(5)?,
                key_fingerprint: r.try_get(6)?,
                body: r.try_get(7)?,
            }
        }};
    }
    on_pool!(db, |pool| {
        let row = match seq {
            Some(seq) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM batch WHERE day = $1 AND seq = $2"
                ))
                .bind(day)
                .bind(seq)
                .fetch_optional(pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM batch WHERE day = $1 ORDER BY seq LIMIT 1"
                ))
                .bind(day)
                .fetch_optional(pool)
                .await?
            }
        };
        match row {
            Some(r) => Ok(Some(row!(r))),
            None => Ok(None),
        }
    })
}

/// The sequence number of the day's batch after `seq`.
pub(super) async fn next_seq(db: &Db, day: &str, seq: i64) -> Result<Option<i64>, sqlx::Error> {
    on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT seq FROM batch WHERE day = $1 AND seq > $2 ORDER BY seq LIMIT 1")
            .bind(day)
            .bind(seq)
            .fetch_optional(pool)
            .await
    })
}

/// Deletes the batches of days before `first_kept` (`YYYY-MM-DD` strings compare as dates).
pub(super) async fn delete_days_before(db: &Db, first_kept: &str) -> Result<u64, sqlx::Error> {
    on_pool!(db, |pool| {
        sqlx::query("DELETE FROM batch WHERE day < $1")
            .bind(first_kept)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })
}

/// Number of batches and of their keys.
pub(super) async fn counts(db: &Db) -> Result<(u64, u64), sqlx::Error> {
    let (batches, keys): (i64, Option<i64>) = on_pool!(db, |pool| {
        sqlx::query_as("SELECT COUNT(*), CAST(SUM(key_count) AS BIGINT) FROM batch")
            .fetch_one(pool)
            .await
    })?;
    Ok((
        u64::try_from(batches).unwrap_or(0),
        u64::try_from(keys.unwrap_or(0)).unwrap_or(0),
    ))
}
