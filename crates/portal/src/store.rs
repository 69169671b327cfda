//! The portal's SQL: accounts, sessions and failed sign-ins, written once for SQLite and PostgreSQL.

use warnkit_store::{on_pool, Db, StoreResult};

use crate::roles::Roles;

/// An account as the portal needs it at sign-in.
#[derive(Debug, Clone)]
pub struct User {
    /// Argon2id PHC string.
    pub password_hash: String,
    /// What the officer may do.
    pub roles: Roles,
    /// Whether a second factor is asked for.
    pub totp_required: bool,
    /// The base32 TOTP secret, once enrolment has started.
    pub totp_secret: Option<String>,
    /// Whether enrolment was confirmed with a valid code.
    pub totp_confirmed: bool,
    /// The last time step a code was accepted for.
    pub totp_last_step: i64,
    /// Whether an operator disabled the account: it cannot sign in and has no sessions.
    pub disabled: bool,
}

/// An account as `warnkit portal user list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    /// The account's name (`oidc:NAME` for an account of the OpenID provider).
    pub username: String,
    /// Its roles, as stored (comma-separated).
    pub roles: String,
    /// Whether it is disabled.
    pub disabled: bool,
    /// When it last completed a sign-in (epoch seconds), if ever.
    pub last_sign_in_at: Option<i64>,
    /// When it was created (epoch seconds).
    pub created_at: i64,
}

/// A session row joined with its account.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// SHA-256 hex of the cookie value.
    pub id_hash: String,
    /// The officer.
    pub username: String,
    /// The officer's roles.
    pub roles: Roles,
    /// `totp`, `enrol` or `active`.
    pub stage: String,
    /// The CSRF token of this session's forms.
    pub csrf: String,
}

type UserTuple = (String, String, i64, Option<String>, i64, i64, i64);

fn user_from(t: UserTuple) -> Option<User> {
    Some(User {
        password_hash: t.0,
        roles: Roles::parse(&t.1)?,
        totp_required: t.2 != 0,
        totp_secret: t.3,
        totp_confirmed: t.4 != 0,
        totp_last_step: t.5,
        disabled: t.6 != 0,
    })
}

/// Inserts an account; `false` when the name is taken.
pub async fn insert_user(
    db: &Db,
    username: &str,
    password_hash: &str,
    roles: Roles,
    totp_required: bool,
    now: i64,
) -> StoreResult<bool> {
    let sql = "INSERT INTO users (username, password_hash, role, totp_required, created_at) \
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING";
    let done = on_pool!(db, |pool| sqlx::query(sql)
        .bind(username)
        .bind(password_hash)
        .bind(roles.to_string())
        .bind(i64::from(totp_required))
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// The account named `username`, if any.
pub async fn user(db: &Db, username: &str) -> StoreResult<Option<User>> {
    let sql = "SELECT password_hash, role, totp_required, totp_secret, totp_confirmed, \
               totp_last_step, disabled FROM users WHERE username = $1";
    let row: Option<UserTuple> = on_pool!(db, |pool| sqlx::query_as(sql)
        .bind(username)
        .fetch_optional(pool)
        .await)?;
    Ok(row.and_then(user_from))
}

/// Stores a new, unconfirmed TOTP secret (enrolment started).
pub async fn set_totp_secret(db: &Db, username: &str, secret: &str) -> StoreResult<()> {
    let sql = "UPDATE users SET totp_secret = $2, totp_confirmed = 0 WHERE username = $1";
    on_pool!(db, |pool| sqlx::query(sql)
        .bind(username)
        .bind(secret)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records an accepted code's step (and confirms enrolment); `false` when a concurrent request used this
/// step or a later one first, so each code works once.
pub async fn accept_totp_step(db: &Db, username: &str, step: i64) -> StoreResult<bool> {
    let sql = "UPDATE users SET totp_last_step = $2, totp_confirmed = 1 \
               WHERE username = $1 AND totp_last_step < $2";
    let done = on_pool!(db, |pool| sqlx::query(sql)
        .bind(username)
        .bind(step)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Claims the officer's teleTAN slot: `Ok(Err(previous))` nothing claimed, `Ok(Ok(previous))` claimed. The
/// single conditional UPDATE keeps two quick clicks (or two portal copies) from both passing.
pub async fn claim_teletan_slot(
    db: &Db,
    username: &str,
    now: i64,
    interval: i64,
) -> StoreResult<Result<Option<i64>, i64>> {
    let previous: Option<(Option<i64>,)> = on_pool!(db, |pool| sqlx::query_as(
        "SELECT last_teletan_at FROM users WHERE username = $1"
    )
    .bind(username)
    .fetch_optional(pool)
    .await)?;
    let previous = previous.and_then(|p| p.0);
    let sql = "UPDATE users SET last_teletan_at = $2 WHERE username = $1 \
               AND (last_teletan_at IS NULL OR last_teletan_at <= $3)";
    let done = on_pool!(db, |pool| sqlx::query(sql)
        .bind(username)
        .bind(now)
        .bind(now - interval)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    if done == 1 {
        Ok(Ok(previous))
    } else {
        Ok(Err(previous.unwrap_or(now)))
    }
}

/// Gives the slot back after the verification service refused, unless someone claimed it since.
pub async fn release_teletan_slot(
    db: &Db,
    username: &str,
    claimed_at: i64,
    previous: Option<i64>,
) -> StoreResult<()> {
    let sql = "UPDATE users SET last_teletan_at = $3 WHERE username = $1 AND last_teletan_at = $2";
    on_pool!(db, |pool| sqlx::query(sql)
        .bind(username)
        .bind(claimed_at)
        .bind(previous)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A new session.
pub async fn insert_session(
    db: &Db,
    id_hash: &str,
    username: &str,
    stage: &str,
    csrf: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    let sql = "INSERT INTO sessions (id_hash, username, stage, csrf, created_at, expires_at) \
               VALUES ($1, $2, $3, $4, $5, $6)";
    on_pool!(db, |pool| sqlx::query(sql)
        .bind(id_hash)
        .bind(username)
        .bind(stage)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The live session with this hash, if any.
pub async fn session(db: &Db, id_hash: &str, now: i64) -> StoreResult<Option<SessionRow>> {
    let sql = "SELECT s.id_hash, s.username, u.role, s.stage, s.csrf FROM sessions s \
               JOIN users u ON u.username = s.username \
               WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = 0";
    let row: Option<(String, String, String, String, String)> = on_pool!(db, |pool| {
        sqlx::query_as(sql)
            .bind(id_hash)
            .bind(now)
            .fetch_optional(pool)
            .await
    })?;
    Ok(row.and_then(|r| {
        Some(SessionRow {
            id_hash: r.0,
            username: r.1,
            roles: Roles::parse(&r.2)?,
            stage: r.3,
            csrf: r.4,
        })
    }))
}

/// Moves a session to `stage` with a new expiry (the full lifetime starts once both factors passed).
pub async fn promote_session(
    db: &Db,
    id_hash: &str,
    stage: &str,
    expires_at: i64,
) -> StoreResult<()> {
    let sql = "UPDATE sessions SET stage = $2, expires_at = $3 WHERE id_hash = $1";
    on_pool!(db, |pool| sqlx::query(sql)
        .bind(id_hash)
        .bind(stage)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Ends a session.
pub async fn delete_session(db: &Db, id_hash: &str) -> StoreResult<()> {
    on_pool!(db, |pool| sqlx::query(
        "DELETE FROM sessions WHERE id_hash = $1"
    )
    .bind(id_hash)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Removes expired sessions and stale failure counters (run at each sign-in, so no job is needed).
pub async fn sweep(db: &Db, now: i64, failures_before: i64) -> StoreResult<()> {
    on_pool!(db, |pool| sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1"
    )
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    on_pool!(db, |pool| sqlx::query(
        "DELETE FROM login_failures WHERE window_start <= $1"
    )
    .bind(failures_before)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Counts one sign-in attempt (password or one-time code) for `username` before anything is checked, and
/// returns the count with the start of its window; a window that ended starts over at one. One statement, so
/// of many concurrent attempts each gets its own number and exactly the first `login_max_failures` of a
/// window are let through to the check, on either engine. A failed attempt stays counted; a successful one
/// gives its count back ([`release_attempt`]).
pub async fn claim_attempt(
    db: &Db,
    username: &str,
    now: i64,
    window_after: i64,
) -> StoreResult<(i64, i64)> {
    let sql = "INSERT INTO login_failures (username, window_start, failures) VALUES ($1, $2, 1) \
               ON CONFLICT (username) DO UPDATE SET \
               failures = CASE WHEN login_failures.window_start <= $3 THEN 1 \
                          ELSE login_failures.failures + 1 END, \
               window_start = CASE WHEN login_failures.window_start <= $3 THEN $2 \
                              ELSE login_failures.window_start END \
               RETURNING failures, window_start";
    on_pool!(db, |pool| sqlx::query_as(sql)
        .bind(username)
        .bind(now)
        .bind(window_after)
        .fetch_one(pool)
        .await)
}

/// Gives back the count of a successful attempt claimed in the window that started at `window_start` (a
/// later window has its own count), so signing in costs nothing while failures keep counting.
pub async fn release_attempt(db: &Db, username: &str, window_start: i64) -> StoreResult<()> {
    let sql = "UPDATE login_failures SET failures = failures - 1 \
               WHERE username = $1 AND window_start = $2 AND failures > 0";
    on_pool!(db, |pool| sqlx::query(sql)
        .bind(username)
        .bind(window_start)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The password hash of accounts that sign in at the OpenID provider: not a PHC string, so no password
/// ever matches it.
pub const OIDC_PASSWORD_HASH: &str = "!oidc";

/// Creates or updates the account of an officer signed in at the OpenID provider, with the roles the
/// provider gave this time. Never touches a local account (those have a real hash).
pub async fn upsert_oidc_user(
    db: &Db,
    username: &str,
    roles: Roles,
    now: i64,
) -> StoreResult<bool> {
    let sql = "INSERT INTO users (username, password_hash, role, totp_required, created_at) \
               VALUES ($1, $2, $3, 0, $4) ON CONFLICT (username) DO UPDATE SET role = excluded.role \
               WHERE users.password_hash = $2";
    let done = on_pool!(db, |pool| sqlx::query(sql)
        .bind(username)
        .bind(OIDC_PASSWORD_HASH)
        .bind(roles.to_string())
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Remembers a sign-in sent to the OpenID provider, under the SHA-256 of its `state`.
pub async fn insert_oidc_login(
    db: &Db,
    state_hash: &str,
    nonce: &str,
    verifier: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    on_pool!(db, |pool| sqlx::query(
        "DELETE FROM oidc_logins WHERE expires_at <= $1"
    )
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    let sql =
        "INSERT INTO oidc_logins (state_hash, nonce, verifier, expires_at) VALUES ($1, $2, $3, $4)";
    on_pool!(db, |pool| sqlx::query(sql)
        .bind(state_hash)
        .bind(nonce)
        .bind(verifier)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Takes (deletes and returns) the nonce and PKCE verifier of a live sign-in, so each `state` works once.
pub async fn take_oidc_login(
    db: &Db,
    state_hash: &str,
    now: i64,
) -> StoreResult<Option<(String, String)>> {
    let sql = "DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING nonce, verifier, expires_at";
    let row: Option<(String, String, i64)> = on_pool!(db, |pool| sqlx::query_as(sql)
        .bind(state_hash)
        .fetch_optional(pool)
        .await)?;
    Ok(row
        .filter(|r| r.2 > now)
        .map(|(nonce, verifier, _)| (nonce, verifier)))
}

/// Every account, by name.
pub async fn users(db: &Db) -> StoreResult<Vec<UserSummary>> {
    let sql = "SELECT username, role, disabled, last_sign_in_at, created_at FROM users \
               ORDER BY username";
    let rows: Vec<(String, String, i64, Option<i64>, i64)> =
        on_pool!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|r| UserSummary {
            username: r.0,
            roles: r.1,
            disabled: r.2 != 0,
            last_sign_in_at: r.3,
            created_at: r.4,
        })
        .collect())
}

/// Notes a completed sign-in (both factors, or the OpenID provider's) at `now`.
pub async fn mark_signed_in(db: &Db, username: &str, now: i64) -> StoreResult<()> {
    on_pool!(db, |pool| sqlx::query(
        "UPDATE users SET last_sign_in_at = $2 WHERE username = $1"
    )
    .bind(username)
    .bind(now)
    .execute(pool)
    .await
    .map(drop))
}

/// Disables (`true`) or enables the account; `false` when there is no such account.
pub async fn set_disabled(db: &Db, username: &str, disabled: bool) -> StoreResult<bool> {
    let done = on_pool!(db, |pool| sqlx::query(
        "UPDATE users SET disabled = $2 WHERE username = $1"
    )
    .bind(username)
    .bind(i64::from(disabled))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Ends every session of `username`; returns how many there were.
pub async fn delete_sessions_of(db: &Db, username: &str) -> StoreResult<u64> {
    on_pool!(db, |pool| sqlx::query(
        "DELETE FROM sessions WHERE username = $1"
    )
    .bind(username)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
}

/// Runs one account update (`$1` is the user name, `$2` an optional value); `false` when no such account.
pub async fn update_user(
    db: &Db,
    sql: &'static str,
    username: &str,
    value: Option<&str>,
) -> StoreResult<bool> {
    let done = on_pool!(db, |pool| {
        let q = sqlx::query(sql).bind(username);
        let q = match value {
            Some(v) => q.bind(v),
            None => q,
        };
        q.execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}
