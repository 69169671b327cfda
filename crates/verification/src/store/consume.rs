//! TAN consumption with group commit: many concurrent checks, one statement per batch.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};
use warnkit_service::{AppError, AppResult};
use warnkit_store::batch::{next_batch, Batcher};
use warnkit_store::{on_pool, Db};

/// TAN checks queued at most before they are done in one statement.
const CONSUME_BATCH: usize = 256;

/// The outcome of one TAN check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Consumed {
    /// The TAN was valid and is now deleted; its teleTAN type, if it came from a teleTAN.
    Valid(Option<String>),
    /// The TAN is valid but of another teleTAN type than the caller accepts; it was left as it is.
    WrongType,
    /// Unknown, used or expired.
    Unknown,
}

/// One TAN check waiting for its answer.
struct Consume {
    tan_hash: String,
    now: i64,
    /// The teleTAN type the caller accepts (a TAN without one counts as `TEST`); `None` accepts any.
    accept: Option<&'static str>,
    reply: oneshot::Sender<Result<Consumed, sqlx::Error>>,
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

    /// Consumes a TAN valid at `now` (and of teleTAN type `accept`, when given), so that exactly one of
    /// many concurrent callers wins.
    pub(crate) async fn consume(
        &self,
        tan_hash: String,
        now: i64,
        accept: Option<&'static str>,
    ) -> AppResult<Consumed> {
        let (reply, answer) = oneshot::channel();
        let job = Consume {
            tan_hash,
            now,
            accept,
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
        // Checks of the same second and accepted type share a statement. The sort is stable, so of two
        // such checks of one TAN the first to arrive wins. (Of two checks of one TAN with different
        // types, the group order decides; either way only one of them can consume it.)
        batch.sort_by_key(|job| (job.now, job.accept));
        let mut answers = Vec::with_capacity(batch.len());
        for group in batch.chunk_by(|a, b| (a.now, a.accept) == (b.now, b.accept)) {
            let hashes: Vec<&str> = group.iter().map(|job| job.tan_hash.as_str()).collect();
            match consume_group(&db, group[0].now, group[0].accept, &hashes).await {
                Ok(mut found) => {
                    answers.extend(
                        group.iter().map(|job| {
                            Ok(found.remove(&job.tan_hash).unwrap_or(Consumed::Unknown))
                        }),
                    );
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

/// The outcome for each of `hashes` that is known: one statement deletes those valid at `now` (and of type
/// `accept`); when a type is asked for and some are left, a second one finds which of them are valid but
/// of another type. Only this task deletes TANs (besides retention, which takes expired ones), so what the
/// second statement still finds was left by the first for its type.
async fn consume_group(
    db: &Db,
    now: i64,
    accept: Option<&str>,
    hashes: &[&str],
) -> Result<HashMap<String, Consumed>, sqlx::Error> {
    let rows: Vec<(String, Option<String>)> = on_pool!(db, |pool| {
        let mut q = sqlx::QueryBuilder::new("DELETE FROM tan WHERE valid_from <= ");
        q.push_bind(now).push(" AND valid_until > ").push_bind(now);
        if let Some(accept) = accept {
            q.push(" AND COALESCE(teletan_type, 'TEST') = ")
                .push_bind(accept);
        }
        q.push(" AND tan_hash IN (");
        let mut list = q.separated(", ");
        for hash in hashes {
            list.push_bind(*hash);
        }
        list.push_unseparated(") RETURNING tan_hash, teletan_type");
        q.build_query_as().fetch_all(pool).await
    })?;
    let mut out: HashMap<String, Consumed> = rows
        .into_iter()
        .map(|(hash, kind)| (hash, Consumed::Valid(kind)))
        .collect();
    let left: Vec<&str> = hashes
        .iter()
        .copied()
        .filter(|h| !out.contains_key(*h))
        .collect();
    if accept.is_none() || left.is_empty() {
        return Ok(out);
    }
    let other_type: Vec<(String,)> = on_pool!(db, |pool| {
        let mut q = sqlx::QueryBuilder::new("SELECT tan_hash FROM tan WHERE valid_from <= ");
        q.push_bind(now)
            .push(" AND valid_until > ")
            .push_bind(now)
            .push(" AND tan_hash IN (");
        let mut list = q.separated(", ");
        for hash in &left {
            list.push_bind(*hash);
        }
        list.push_unseparated(")");
        q.build_query_as().fetch_all(pool).await
    })?;
    out.extend(other_type.into_iter().map(|(h,)| (h, Consumed::WrongType)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{consume_batches, copy_error, Consume, Consumed};
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
        let (dir, db) = scratch_db("consume").await;
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
            accept: None,
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
            accept: None,
            reply,
        };
        jobs.send(job).await.expect("queued");
        drop(jobs);
        consume_batches(db.clone(), rx).await;
        let found = answer.await.expect("answered").expect("no database error");
        assert_eq!(found, Consumed::Valid(None), "the TAN was still there");

        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_tan_of_another_type_is_refused_and_kept() {
        let (dir, db) = scratch_db("types").await;
        let Db::Sqlite(pool) = &db else {
            unreachable!("an SQLite file")
        };
        sqlx::query(
            "INSERT INTO tan (tan_hash, teletan_type, valid_from, valid_until, created_at) VALUES \
             ('lab', NULL, 0, 100, 0), ('test', 'TEST', 0, 100, 0), ('event', 'EVENT', 0, 100, 0), \
             ('old-event', 'EVENT', 0, 5, 0)",
        )
        .execute(pool)
        .await
        .expect("insert TANs");

        // One batch, two accepted types, so two groups.
        let checks = [
            ("lab", Some("TEST")),
            ("event", Some("TEST")),
            ("test", Some("TEST")),
            ("old-event", Some("TEST")),
            ("unknown", Some("TEST")),
            ("event", Some("EVENT")),
        ];
        let (jobs, rx) = mpsc::channel(8);
        let mut answers = Vec::new();
        for (hash, accept) in checks {
            let (reply, answer) = oneshot::channel();
            let job = Consume {
                tan_hash: hash.into(),
                now: 10,
                accept,
                reply,
            };
            jobs.send(job).await.expect("queued");
            answers.push(answer);
        }
        drop(jobs);
        consume_batches(db.clone(), rx).await;
        let mut got = Vec::new();
        for answer in answers {
            got.push(answer.await.expect("answered").expect("no database error"));
        }
        assert_eq!(
            got,
            [
                Consumed::Valid(None),
                // The EVENT group ran first (groups are ordered by type) and took the TAN.
                Consumed::Unknown,
                Consumed::Valid(Some("TEST".into())),
                Consumed::Unknown,
                Consumed::Unknown,
                Consumed::Valid(Some("EVENT".into())),
            ]
        );
        // Alone, a TEST check of an EVENT TAN is refused and leaves it in place.
        sqlx::query(
            "INSERT INTO tan (tan_hash, teletan_type, valid_from, valid_until, created_at) \
             VALUES ('event-2', 'EVENT', 0, 100, 0)",
        )
        .execute(pool)
        .await
        .expect("insert TAN");
        for (accept, expected) in [
            (Some("TEST"), Consumed::WrongType),
            (Some("TEST"), Consumed::WrongType),
            (None, Consumed::Valid(Some("EVENT".into()))),
            (None, Consumed::Unknown),
        ] {
            let (jobs, rx) = mpsc::channel(1);
            let (reply, answer) = oneshot::channel();
            let job = Consume {
                tan_hash: "event-2".into(),
                now: 10,
                accept,
                reply,
            };
            jobs.send(job).await.expect("queued");
            drop(jobs);
            consume_batches(db.clone(), rx).await;
            assert_eq!(answer.await.expect("answered").expect("no error"), expected);
        }
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Distinguishes test runs that share a process id (e.g. in containers).
    /// A migrated SQLite database in a directory of its own (the caller removes it).
    async fn scratch_db(tag: &str) -> (std::path::PathBuf, Db) {
        let dir = std::env::temp_dir().join(format!(
            "warnkit-verification-{tag}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let db = Db::connect_sqlite(&dir.join("db.sqlite"), PoolConfig::default())
            .await
            .expect("open");
        db.migrate(&crate::MIGRATIONS).await.expect("migrate");
        (dir, db)
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    }
}
