//! TAN consumption with group commit: many concurrent checks, one statement per batch.
//!
//! A check may name the payload it authorises (a keyed hash the submission service computes). The TAN is
//! then remembered as spent on that payload for the repeat window, in the same transaction that deletes
//! it, and a later check of the same TAN with the same payload hash is answered as the first one was: an
//! upload whose answer was lost on the way (a timeout, a 5xx, a crash before its keys were stored) is
//! retried with its TAN to success, and nothing else can use the TAN.

use std::collections::{HashMap, HashSet};

use tokio::sync::{mpsc, oneshot};
use warnkit_service::{AppError, AppResult};
use warnkit_store::batch::{next_batch, Batcher};
use warnkit_store::{on_pool, share_error, Db};

/// TAN checks queued at most before they are done in one statement.
const CONSUME_BATCH: usize = 256;

/// The outcome of one TAN check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Consumed {
    /// The TAN was valid and is now deleted; its teleTAN type, if it came from a teleTAN.
    Valid(Option<String>),
    /// The TAN was spent before by a check of the same payload, within the repeat window: answered as
    /// that check was (its teleTAN type), nothing changed.
    Repeat(Option<String>),
    /// The TAN is valid but of another teleTAN type than the caller accepts; it was left as it is.
    WrongType,
    /// Unknown, used (for another payload, or longer ago than the repeat window) or expired.
    Unknown,
}

/// One TAN check waiting for its answer.
struct Consume {
    tan_hash: String,
    /// The keyed hash of the payload the TAN is to authorise, when the caller names one.
    payload_hash: Option<String>,
    now: i64,
    /// The teleTAN type the caller accepts (a TAN without one counts as `TEST`); `None` accepts any.
    accept: Option<&'static str>,
    reply: oneshot::Sender<Result<Consumed, sqlx::Error>>,
}

/// One check as the statements see it.
struct Check<'a> {
    tan_hash: &'a str,
    payload_hash: Option<&'a str>,
}

/// Consumes TANs for many concurrent checks together: one task deletes every TAN queued meanwhile in one
/// statement (group commit, see [`warnkit_store::batch`]). A submission burst then costs the database one
/// commit per batch instead of one per upload.
#[derive(Debug)]
pub(crate) struct TanConsumer {
    jobs: Batcher<Consume>,
}

impl TanConsumer {
    /// A consumer whose spent TANs answer repeated checks of their payload for `repeat_secs`.
    pub(crate) fn new(db: Db, repeat_secs: u64) -> Self {
        let repeat_secs = i64::try_from(repeat_secs).unwrap_or(i64::MAX);
        Self {
            jobs: Batcher::new(move |rx| consume_batches(db.clone(), repeat_secs, rx)),
        }
    }

    /// Consumes a TAN valid at `now` (and of teleTAN type `accept`, when given), so that exactly one of
    /// many concurrent callers wins; with `payload_hash`, the TAN is remembered as spent on that payload
    /// and a repeated check of the same TAN and payload answers [`Consumed::Repeat`].
    pub(crate) async fn consume(
        &self,
        tan_hash: String,
        payload_hash: Option<String>,
        now: i64,
        accept: Option<&'static str>,
    ) -> AppResult<Consumed> {
        let (reply, answer) = oneshot::channel();
        let job = Consume {
            tan_hash,
            payload_hash,
            now,
            accept,
            reply,
        };
        let stopped = || AppError::internal("the TAN consumer has stopped");
        self.jobs.send(job).await.map_err(|_| stopped())?;
        Ok(answer.await.map_err(|_| stopped())??)
    }
}

async fn consume_batches(db: Db, repeat_secs: i64, mut jobs: mpsc::Receiver<Consume>) {
    while let Some(mut batch) = next_batch(&mut jobs, CONSUME_BATCH, |_| 1).await {
        // A caller that gave up while its check was queued (the submission service's timeout) has
        // answered its client already; deleting its TAN would refuse the client's retry forever, unless
        // the retry names the same payload.
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
            let checks: Vec<Check<'_>> = group
                .iter()
                .map(|job| Check {
                    tan_hash: &job.tan_hash,
                    payload_hash: job.payload_hash.as_deref(),
                })
                .collect();
            let (now, accept) = (group[0].now, group[0].accept);
            match consume_group(&db, now, accept, now.saturating_sub(repeat_secs), &checks).await {
                Ok(found) => answers.extend(found.into_iter().map(Ok)),
                Err(e) => {
                    tracing::warn!(error = %e, tans = group.len(), "consuming TANs failed");
                    answers.extend(group.iter().map(|_| Err(share_error(&e, "consuming TANs"))));
                }
            }
        }
        for (job, answer) in batch.into_iter().zip(answers) {
            // A caller that went away (client disconnected) no longer needs its answer.
            let _ = job.reply.send(answer);
        }
    }
}

/// A TAN spent again (only a TAN re-issued with the same hash could be): the newer spend counts.
const ON_CONFLICT_SPENT: &str = "ON CONFLICT (tan_hash) DO UPDATE SET payload_hash = \
     excluded.payload_hash, teletan_type = excluded.teletan_type, spent_at = excluded.spent_at";

/// Appends the statement that deletes the TANs of `hashes` valid at `now` (and of type `accept`),
/// returning each one's hash and teleTAN type (a macro because the builder is typed by the engine).
macro_rules! push_delete {
    ($q:expr, $now:expr, $accept:expr, $hashes:expr) => {{
        let q = &mut $q;
        q.push("DELETE FROM tan WHERE valid_from <= ")
            .push_bind($now)
            .push(" AND valid_until > ")
            .push_bind($now);
        if let Some(accept) = $accept {
            q.push(" AND COALESCE(teletan_type, 'TEST') = ")
                .push_bind(accept);
        }
        q.push(" AND tan_hash IN (");
        let mut list = q.separated(", ");
        for hash in $hashes {
            list.push_bind(*hash);
        }
        list.push_unseparated(") RETURNING tan_hash, teletan_type");
    }};
}

/// The outcome of each of `checks`, in order. One statement (PostgreSQL) or transaction (SQLite) deletes
/// the TANs valid at `now` (and of type `accept`) and records those whose check named a payload as spent
/// on it; then the checks left over
/// are looked up among the TANs spent since `repeat_since` and, when a type is asked for, among the valid
/// TANs of another type. Only this task deletes TANs (besides retention, which takes expired ones), so
/// what the last statement still finds was left by the first for its type.
async fn consume_group(
    db: &Db,
    now: i64,
    accept: Option<&str>,
    repeat_since: i64,
    checks: &[Check<'_>],
) -> Result<Vec<Consumed>, sqlx::Error> {
    // The first check of a TAN decides which payload it is spent on.
    let mut first: HashMap<&str, Option<&str>> = HashMap::with_capacity(checks.len());
    for check in checks {
        first.entry(check.tan_hash).or_insert(check.payload_hash);
    }
    let hashes: Vec<&str> = first.keys().copied().collect();
    // The TANs this batch spends on a payload: each one's first check names it.
    let spends: Vec<(&str, &str)> = hashes
        .iter()
        .filter_map(|hash| Some((*hash, first[hash]?)))
        .collect();
    let deleted: Vec<(String, Option<String>)> = match db {
        // One statement: the delete and the record of what was spent on what.
        Db::Postgres(pool) => {
            let mut q = sqlx::QueryBuilder::new("WITH deleted AS (");
            push_delete!(q, now, accept, &hashes);
            q.push(")");
            if !spends.is_empty() {
                q.push(
                    ", spent AS (INSERT INTO spent_tan (tan_hash, payload_hash, teletan_type, \
                     spent_at) SELECT d.tan_hash, v.payload_hash, d.teletan_type, ",
                )
                .push_bind(now)
                .push(" FROM deleted d JOIN (VALUES ");
                let mut list = q.separated(", ");
                for (hash, payload) in &spends {
                    list.push("(")
                        .push_bind_unseparated(*hash)
                        .push_unseparated(", ")
                        .push_bind_unseparated(*payload)
                        .push_unseparated(")");
                }
                q.push(") AS v (tan_hash, payload_hash) ON v.tan_hash = d.tan_hash ");
                q.push(ON_CONFLICT_SPENT).push(")");
            }
            q.push(" SELECT tan_hash, teletan_type FROM deleted");
            q.build_query_as().fetch_all(pool).await?
        }
        // SQLite has no DELETE in a WITH clause: the two statements in one transaction, which starts with
        // the write.
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            let mut q = sqlx::QueryBuilder::new("");
            push_delete!(q, now, accept, &hashes);
            let rows: Vec<(String, Option<String>)> =
                q.build_query_as().fetch_all(&mut *tx).await?;
            let spent: Vec<(&str, &str, Option<&str>)> = rows
                .iter()
                .filter_map(|(hash, kind)| {
                    let payload = first.get(hash.as_str()).copied().flatten()?;
                    Some((hash.as_str(), payload, kind.as_deref()))
                })
                .collect();
            if !spent.is_empty() {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO spent_tan (tan_hash, payload_hash, teletan_type, spent_at) ",
                );
                q.push_values(&spent, |mut b, (hash, payload, kind)| {
                    b.push_bind(*hash)
                        .push_bind(*payload)
                        .push_bind(*kind)
                        .push_bind(now);
                });
                q.push(" ").push(ON_CONFLICT_SPENT);
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            rows
        }
    };
    let deleted: HashMap<String, Option<String>> = deleted.into_iter().collect();
    let left: Vec<&str> = hashes
        .iter()
        .copied()
        .filter(|h| !deleted.contains_key(*h))
        .collect();
    let with_payload: Vec<&str> = left
        .iter()
        .copied()
        .filter(|h| {
            checks
                .iter()
                .any(|c| c.tan_hash == *h && c.payload_hash.is_some())
        })
        .collect();
    let spent: HashMap<String, (String, Option<String>)> = if with_payload.is_empty() {
        HashMap::new()
    } else {
        let rows: Vec<(String, String, Option<String>)> = on_pool!(db, |pool| {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT tan_hash, payload_hash, teletan_type FROM spent_tan WHERE spent_at >= ",
            );
            q.push_bind(repeat_since).push(" AND tan_hash IN (");
            let mut list = q.separated(", ");
            for hash in &with_payload {
                list.push_bind(*hash);
            }
            list.push_unseparated(")");
            q.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(|(h, p, k)| (h, (p, k))).collect()
    };
    let unresolved: Vec<&str> = left
        .iter()
        .copied()
        .filter(|h| !spent.contains_key(*h))
        .collect();
    let other_type: HashSet<String> = if accept.is_none() || unresolved.is_empty() {
        HashSet::new()
    } else {
        let rows: Vec<(String,)> = on_pool!(db, |pool| {
            let mut q = sqlx::QueryBuilder::new("SELECT tan_hash FROM tan WHERE valid_from <= ");
            q.push_bind(now)
                .push(" AND valid_until > ")
                .push_bind(now)
                .push(" AND tan_hash IN (");
            let mut list = q.separated(", ");
            for hash in &unresolved {
                list.push_bind(*hash);
            }
            list.push_unseparated(")");
            q.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(|(h,)| h).collect()
    };
    let accepts =
        |kind: &Option<String>| accept.is_none_or(|a| kind.as_deref().unwrap_or("TEST") == a);
    let mut won: HashSet<&str> = HashSet::new();
    Ok(checks
        .iter()
        .map(|check| {
            let same_payload = |spent_on: Option<&str>| {
                check.payload_hash.is_some() && check.payload_hash == spent_on
            };
            if let Some(kind) = deleted.get(check.tan_hash) {
                if won.insert(check.tan_hash) {
                    return Consumed::Valid(kind.clone());
                }
                // A second check of the TAN in this batch: a repeat of the first one's payload only.
                return if same_payload(first[check.tan_hash]) {
                    Consumed::Repeat(kind.clone())
                } else {
                    Consumed::Unknown
                };
            }
            if let Some((payload, kind)) = spent.get(check.tan_hash) {
                if same_payload(Some(payload)) && accepts(kind) {
                    return Consumed::Repeat(kind.clone());
                }
            }
            if other_type.contains(check.tan_hash) {
                Consumed::WrongType
            } else {
                Consumed::Unknown
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{consume_batches, Consume, Consumed};
    use tokio::sync::{mpsc, oneshot};
    use warnkit_store::{Db, PoolConfig};

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
            payload_hash: None,
            now: 10,
            accept: None,
            reply,
        };
        jobs.send(job).await.expect("queued");
        drop(jobs);
        consume_batches(db.clone(), 3600, rx).await;

        // The retry with the same TAN still succeeds.
        let (jobs, rx) = mpsc::channel(4);
        let (reply, answer) = oneshot::channel();
        let job = Consume {
            tan_hash: "h".into(),
            payload_hash: None,
            now: 11,
            accept: None,
            reply,
        };
        jobs.send(job).await.expect("queued");
        drop(jobs);
        consume_batches(db.clone(), 3600, rx).await;
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
                payload_hash: None,
                now: 10,
                accept,
                reply,
            };
            jobs.send(job).await.expect("queued");
            answers.push(answer);
        }
        drop(jobs);
        consume_batches(db.clone(), 3600, rx).await;
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
                payload_hash: None,
                now: 10,
                accept,
                reply,
            };
            jobs.send(job).await.expect("queued");
            drop(jobs);
            consume_batches(db.clone(), 3600, rx).await;
            assert_eq!(answer.await.expect("answered").expect("no error"), expected);
        }
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Runs `checks` (TAN hash, payload hash, now) as one batch and returns their answers in order.
    async fn run_batch(db: &Db, checks: &[(&str, Option<&str>, i64)]) -> Vec<Consumed> {
        let (jobs, rx) = mpsc::channel(checks.len().max(1));
        let mut answers = Vec::new();
        for (hash, payload, now) in checks {
            let (reply, answer) = oneshot::channel();
            let job = Consume {
                tan_hash: (*hash).into(),
                payload_hash: payload.map(Into::into),
                now: *now,
                accept: Some("TEST"),
                reply,
            };
            jobs.send(job).await.expect("queued");
            answers.push(answer);
        }
        drop(jobs);
        consume_batches(db.clone(), 3600, rx).await;
        let mut got = Vec::new();
        for answer in answers {
            got.push(answer.await.expect("answered").expect("no database error"));
        }
        got
    }

    #[tokio::test]
    async fn a_spent_tan_answers_a_repeat_of_its_payload_only_within_the_window() {
        let (dir, db) = scratch_db("repeat").await;
        let Db::Sqlite(pool) = &db else {
            unreachable!("an SQLite file")
        };
        sqlx::query(
            "INSERT INTO tan (tan_hash, teletan_type, valid_from, valid_until, created_at) VALUES \
             ('a', NULL, 0, 100000, 0), ('b', 'TEST', 0, 100000, 0), ('c', NULL, 0, 100000, 0)",
        )
        .execute(pool)
        .await
        .expect("insert TANs");

        // In one batch: the first check of a TAN wins; a second one of the same payload is a repeat, of
        // another payload or none it finds the TAN used.
        assert_eq!(
            run_batch(
                &db,
                &[
                    ("a", Some("p"), 10),
                    ("a", Some("p"), 10),
                    ("a", Some("q"), 10),
                    ("a", None, 10),
                    ("b", Some("r"), 10),
                    ("c", None, 10),
                ]
            )
            .await,
            [
                Consumed::Valid(None),
                Consumed::Repeat(None),
                Consumed::Unknown,
                Consumed::Unknown,
                Consumed::Valid(Some("TEST".into())),
                Consumed::Valid(None),
            ]
        );
        // Later batches: a repeat of the payload within the window is answered as the first check was;
        // a TAN spent without a payload is not remembered; the window ends after 3600 s.
        assert_eq!(
            run_batch(
                &db,
                &[
                    ("a", Some("p"), 3610),
                    ("b", Some("r"), 20),
                    ("b", Some("p"), 20),
                    ("c", Some("p"), 20),
                    ("d", Some("p"), 20),
                ]
            )
            .await,
            [
                Consumed::Repeat(None),
                Consumed::Repeat(Some("TEST".into())),
                Consumed::Unknown,
                Consumed::Unknown,
                Consumed::Unknown,
            ]
        );
        assert_eq!(
            run_batch(&db, &[("a", Some("p"), 3611)]).await,
            [Consumed::Unknown],
            "past the repeat window"
        );
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
