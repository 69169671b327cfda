//! The verification queries, written once for both engines. Every multi-statement change starts with a
//! write, so that SQLite takes its write lock up front (and waits for it) instead of failing a read-to-write
//! upgrade under concurrency.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};
use warnkit_service::{AppError, AppResult};
use warnkit_store::batch::{next_batch, Batcher};
use warnkit_store::{on_pool, Db};

/// Where a registration's trust comes from.
pub(crate) const SOURCE_GUID: &str = "GUID";
pub(crate) const SOURCE_TELETAN: &str = "TELETAN";

/// The stored part of a registration that the handlers need.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Session {
    pub source: String,
    pub hashed_guid: Option<String>,
    pub hashed_guid_dob: Option<String>,
    pub teletan_type: Option<String>,
    pub tan_count: i64,
    pub created_at: i64,
}

/// A new registration to store.
pub(crate) struct NewSession<'a> {
    pub token_hash: &'a str,
    pub hashed_guid: Option<&'a str>,
    pub hashed_guid_dob: Option<&'a str>,
    pub now: i64,
}

/// Outcome of a registration attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Registered {
    Yes,
    /// The GUID, date-of-birth hash or teleTAN was used before.
    AlreadyUsed,
    /// The teleTAN is unknown, expired or redeemed.
    BadTeletan,
}

const INSERT_KEY: &str =
    "INSERT INTO registration_key (key_hash, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const INSERT_SESSION: &str =
    "INSERT INTO app_session (token_hash, source, hashed_guid, hashed_guid_dob, \
     teletan_type, tan_count, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $6)";

/// Registers a hashed GUID (and optional date-of-birth hash): claims each key, then stores the session.
pub(crate) async fn register_guid(db: &Db, s: &NewSession<'_>) -> AppResult<Registered> {
    let keys: Vec<&str> = [s.hashed_guid, s.hashed_guid_dob]
        .into_iter()
        .flatten()
        .collect();
    let outcome = on_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        for key in &keys {
            let claimed = sqlx::query(INSERT_KEY)
                .bind(key)
                .bind(s.now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed == 0 {
                tx.rollback().await?;
                return Ok(Registered::AlreadyUsed);
            }
        }
        sqlx::query(INSERT_SESSION)
            .bind(s.token_hash)
            .bind(SOURCE_GUID)
            .bind(s.hashed_guid)
            .bind(s.hashed_guid_dob)
            .bind(None::<&str>)
            .bind(s.now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Registered::Yes)
    })?;
    Ok(outcome)
}

/// Registers with a teleTAN: redeems it and stores the session in one transaction, so a failed registration
/// never burns the teleTAN and a teleTAN never yields two sessions.
pub(crate) async fn register_teletan(
    db: &Db,
    token_hash: &str,
    teletan_hash: &str,
    now: i64,
) -> AppResult<Registered> {
    let outcome = on_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let teletan_type: Option<(String,)> = sqlx::query_as(
            "UPDATE teletan SET redeemed_at = $2 WHERE teletan_hash = $1 AND redeemed_at IS NULL \
             AND valid_until > $2 RETURNING teletan_type",
        )
        .bind(teletan_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((teletan_type,)) = teletan_type else {
            tx.rollback().await?;
            return Ok(Registered::BadTeletan);
        };
        let claimed = sqlx::query(INSERT_KEY)
            .bind(teletan_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(Registered::AlreadyUsed);
        }
        sqlx::query(INSERT_SESSION)
            .bind(token_hash)
            .bind(SOURCE_TELETAN)
            .bind(None::<&str>)
            .bind(None::<&str>)
            .bind(&teletan_type)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Registered::Yes)
    })?;
    Ok(outcome)
}

/// The registration for a token hash, if any.
pub(crate) async fn session(db: &Db, token_hash: &str) -> AppResult<Option<Session>> {
    let sql = "SELECT source, hashed_guid, hashed_guid_dob, teletan_type, tan_count, created_at \
               FROM app_session WHERE token_hash = $1";
    let row = on_pool!(db, |pool| sqlx::query_as::<_, Session>(sql)
        .bind(token_hash)
        .fetch_optional(pool)
        .await)?;
    Ok(row)
}

/// A TAN to store.
pub(crate) struct NewTan<'a> {
    pub token_hash: &'a str,
    pub tan_hash: &'a str,
    pub teletan_type: Option<&'a str>,
    pub max_tans: i64,
    pub now: i64,
    pub valid_until: i64,
}

/// Counts a TAN against the registration and stores it; `false` when the registration has used up its TANs.
pub(crate) async fn issue_tan(db: &Db, t: &NewTan<'_>) -> AppResult<bool> {
    let issued = on_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let counted = sqlx::query(
            "UPDATE app_session SET tan_count = tan_count + 1, updated_at = $2 \
             WHERE token_hash = $1 AND tan_count < $3",
        )
        .bind(t.token_hash)
        .bind(t.now)
        .bind(t.max_tans)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if counted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        // A UUID v4 collision (122 random bits) is not worth a retry loop; it would surface as a 500.
        sqlx::query(
            "INSERT INTO tan (tan_hash, teletan_type, valid_from, valid_until, created_at) VALUES ($1, $2, $3, $4, $3)",
        )
        .bind(t.tan_hash)
        .bind(t.teletan_type)
        .bind(t.now)
        .bind(t.valid_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(true)
    })?;
    Ok(issued)
}

/// TAN checks queued at most before they are done in one statement.
const CONSUME_BATCH: usize = 256;

/// One TAN check waiting for its answer.
struct Consume {
    tan_hash: String,
    now: i64,
    reply: oneshot::Sender<Result<Option<Option<String>>, sqlx::Error>>,
}

/// Consumes TANs for many concurrent checks together: one task deletes every TAN queued meanwhile in one
/// statement (group commit, see [`warnkit_store::batch`]). A submission burst then costs the database one
/// commit per batch instead of one per upload.
#[derive(Debug)]
pub(crate) struct TanConsumer {
    jobs: Batcher<Consume>,
}

impl TanConsumer {
    pub(crate) fn new(db: Db) -> Self {
        Self {
            jobs: Batcher::new(move |rx| consume_batches(db.clone(), rx)),
        }
    }

    /// Consumes a valid TAN, so that exactly one of many concurrent callers wins; returns
    /// `Some(teleTAN type or None)` when it existed and was valid at `now`.
    pub(crate) async fn consume(
        &self,
        tan_hash: String,
        now: i64,
    ) -> AppResult<Option<Option<String>>> {
        let (reply, answer) = oneshot::channel();
        let job = Consume {
            tan_hash,
            now,
            reply,
        };
        let stopped = || AppError::internal("the TAN consumer has stopped");
        self.jobs.send(job).await.map_err(|_| stopped())?;
        Ok(answer.await.map_err(|_| stopped())??)
    }
}

async fn consume_batches(db: Db, mut jobs: mpsc::Receiver<Consume>) {
    while let Some(mut batch) = next_batch(&mut jobs, CONSUME_BATCH, |_| 1).await {
        // A caller that gave up while its check was queued (the submission service's timeout) has
        // answered its client already; deleting its TAN would refuse the client's retry forever.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        // Checks of the same second share a statement. The sort is stable, so of two checks of one TAN the
        // first to arrive wins.
        batch.sort_by_key(|job| job.now);
        let mut answers = Vec::with_capacity(batch.len());
        for group in batch.chunk_by(|a, b| a.now == b.now) {
            let hashes: Vec<&str> = group.iter().map(|job| job.tan_hash.as_str()).collect();
            match consume_many(&db, group[0].now, &hashes).await {
                Ok(mut found) => {
                    answers.extend(group.iter().map(|job| Ok(found.remove(&job.tan_hash))));
                }
                Err(e) => {
                    tracing::warn!(error = %e, tans = group.len(), "consuming TANs failed");
                    answers.extend(group.iter().map(|_| Err(copy_error(&e))));
                }
            }
        }
        for (job, answer) in batch.into_iter().zip(answers) {
            // A caller that went away (client disconnected) no longer needs its answer.
            let _ = job.reply.send(answer);
        }
    }
}

/// One batch's error for each of its callers (`sqlx::Error` is not `Clone`). An exhausted pool stays
/// what it is, so callers still answer 503 (come back later) rather than 500.
fn copy_error(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        other => sqlx::Error::Protocol(format!("consuming TANs: {other}")),
    }
}

/// Deletes those of `hashes` that are valid at `now` in one statement; returns each deleted TAN's teleTAN
/// type by hash.
async fn consume_many(
    db: &Db,
    now: i64,
    hashes: &[&str],
) -> Result<HashMap<String, Option<String>>, sqlx::Error> {
    let rows: Vec<(String, Option<String>)> = on_pool!(db, |pool| {
        let mut q = sqlx::QueryBuilder::new("DELETE FROM tan WHERE valid_from <= ");
        q.push_bind(now)
            .push(" AND valid_until > ")
            .push_bind(now)
            .push(" AND tan_hash IN (");
        let mut list = q.separated(", ");
        for hash in hashes {
            list.push_bind(*hash);
        }
        list.push_unseparated(") RETURNING tan_hash, teletan_type");
        q.build_query_as().fetch_all(pool).await
    })?;
    Ok(rows.into_iter().collect())
}

/// Outcome of storing a new teleTAN.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TeletanInsert {
    Stored,
    /// The hourly limit is reached.
    OverLimit,
    /// The same teleTAN exists already (a 44-bit collision): draw another.
    Duplicate,
}

/// Stores a teleTAN unless `limit` teleTANs were created since `window_start`.
pub(crate) async fn insert_teletan(
    db: &Db,
    teletan_hash: &str,
    teletan_type: &str,
    now: i64,
    valid_until: i64,
    window_start: i64,
    limit: i64,
) -> AppResult<TeletanInsert> {
    let sql = "INSERT INTO teletan (teletan_hash, teletan_type, created_at, valid_until) \
               SELECT $1, $2, $3, $4 WHERE (SELECT COUNT(*) FROM teletan WHERE created_at > $5) < $6";
    let result = match db {
        Db::Sqlite(pool) => {
            // SQLite runs one writer at a time, so the count and the insert of this statement cannot interleave.
            sqlx::query(sql)
                .bind(teletan_hash)
                .bind(teletan_type)
                .bind(now)
                .bind(valid_until)
                .bind(window_start)
                .bind(limit)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        }
        Db::Postgres(pool) => {
            // Under READ COMMITTED two inserts could both see count < limit; a transaction-scoped advisory
            // lock serialises issuers (teleTANs are rare, the lock is cheap).
            async {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7263001)")
                    .execute(&mut *tx)
                    .await?;
                let r = sqlx::query(sql)
                    .bind(teletan_hash)
                    .bind(teletan_type)
                    .bind(now)
                    .bind(valid_until)
                    .bind(window_start)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(r.rows_affected())
            }
            .await
        }
    };
    match result {
        Ok(1) => Ok(TeletanInsert::Stored),
        Ok(_) => Ok(TeletanInsert::OverLimit),
        Err(e) if warnkit_store::is_unique_violation(&e) => Ok(TeletanInsert::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// Deletes what retention allows: registrations, their keys and TANs older than `before`, and teleTANs that
/// expired before `before` (they no longer count toward the hourly limit either).
pub(crate) async fn retention(db: &Db, now: i64, before: i64) -> AppResult<u64> {
    let deleted = on_pool!(db, |pool| {
        let mut n = 0;
        n += sqlx::query("DELETE FROM app_session WHERE created_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM registration_key WHERE created_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM tan WHERE created_at < $1 OR valid_until <= $2")
            .bind(before)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM teletan WHERE valid_until < $1 AND created_at < $2")
            .bind(now)
            .bind(now - 3600)
            .execute(pool)
            .await?
            .rows_affected();
        Ok::<_, sqlx::Error>(n)
    })?;
    Ok(deleted)
}

/// Row counts per table, for tests ("nothing stored") and the bench.
pub(crate) async fn counts(db: &Db) -> AppResult<[i64; 4]> {
    let mut out = [0; 4];
    for (i, table) in ["app_session", "registration_key", "tan", "teletan"]
        .iter()
        .enumerate()
    {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let (n,): (i64,) = on_pool!(db, |pool| sqlx::query_as(&sql).fetch_one(pool).await)?;
        out[i] = n;
    }
    Ok(out)
}

/// Test helper: moves every teleTAN's expiry, to test expired teleTANs without waiting an hour.
pub(crate) async fn expire_teletans(db: &Db, valid_until: i64) -> AppResult<()> {
    on_pool!(db, |pool| sqlx::query(
        "UPDATE teletan SET valid_until = $1"
    )
    .bind(valid_until)
    .execute(pool)
    .await
    .map(drop))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{consume_batches, copy_error, Consume};
    use tokio::sync::{mpsc, oneshot};
    use warnkit_store::{Db, PoolConfig};

    #[test]
    fn a_batch_error_reaches_every_caller_as_the_same_kind() {
        assert!(matches!(
            copy_error(&sqlx::Error::PoolTimedOut),
            sqlx::Error::PoolTimedOut
        ));
        let other = copy_error(&sqlx::Error::RowNotFound);
        assert!(matches!(&other, sqlx::Error::Protocol(m) if m.contains("consuming TANs")));
    }

    #[tokio::test]
    async fn a_check_whose_caller_gave_up_leaves_the_tan_for_the_retry() {
        let dir = std::env::temp_dir().join(format!(
            "warnkit-verification-consume-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let db = Db::connect_sqlite(&dir.join("db.sqlite"), PoolConfig::default())
            .await
            .expect("open");
        db.migrate(&crate::MIGRATIONS).await.expect("migrate");
        let Db::Sqlite(pool) = &db else {
            unreachable!("an SQLite file")
        };
        sqlx::query(
            "INSERT INTO tan (tan_hash, teletan_type, valid_from, valid_until, created_at) \
             VALUES ('h', NULL, 0, 100, 0)",
        )
        .execute(pool)
        .await
        .expect("insert TAN");

        // The caller gives up before the consumer gets to its check.
        let (jobs, rx) = mpsc::channel(4);
        let (reply, answer) = oneshot::channel();
        drop(answer);
        let job = Consume {
            tan_hash: "h".into(),
            now: 10,
            reply,
        };
        jobs.send(job).await.expect("queued");
        drop(jobs);
        consume_batches(db.clone(), rx).await;

        // The retry with the same TAN still succeeds.
        let (jobs, rx) = mpsc::channel(4);
        let (reply, answer) = oneshot::channel();
        let job = Consume {
            tan_hash: "h".into(),
            now: 11,
            reply,
        };
        jobs.send(job).await.expect("queued");
        drop(jobs);
        consume_batches(db.clone(), rx).await;
        let found = answer.await.expect("answered").expect("no database error");
        assert_eq!(found, Some(None), "the TAN was still there");

        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Distinguishes test runs that share a process id (e.g. in containers).
    fn rand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    }
}
