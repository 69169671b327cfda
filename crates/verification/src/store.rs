//! The verification queries, written once for both engines. Every multi-statement change starts with a
//! write, so that SQLite takes its write lock up front (and waits for it) instead of failing a read-to-write
//! upgrade under concurrency.

use warnkit_service::AppResult;
use warnkit_store::{on_pool, Db};

mod consume;

pub(crate) use consume::{Consumed, TanConsumer};

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

/// Deletes what retention allows: registrations, their keys and TANs older than `before`, TANs spent
/// before `spent_before` (their repeat window is over), and teleTANs that expired before `before` (they no
/// longer count toward the hourly limit either).
pub(crate) async fn retention(db: &Db, now: i64, before: i64, spent_before: i64) -> AppResult<u64> {
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
        n += sqlx::query("DELETE FROM spent_tan WHERE spent_at < $1 OR spent_at < $2")
            .bind(spent_before)
            .bind(before)
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
