//! The test-result queries, written once for both engines.

use warnkit_service::auth::{random_secret, sha256_hex};
use warnkit_service::{AppError, AppResult};
use warnkit_store::{on_pool, Db};

use crate::code;

/// A stored result as the verification service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredResult {
    pub result: i64,
    pub sc: i64,
    pub lab_id: String,
}

/// One validated entry of a lab upload.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub id: String,
    pub result: i64,
    pub sc: i64,
}

pub(crate) async fn create_lab_key(db: &Db, lab_id: &str, now: i64) -> AppResult<String> {
    if !valid_lab_id(lab_id) {
        return Err(AppError::bad_request(
            "invalid_lab_id",
            "lab id must be 1-64 characters of A-Z a-z 0-9 . _ -",
        ));
    }
    let key = random_secret("wk_lab_");
    let hash = sha256_hex(&key);
    on_pool!(db, |pool| {
        sqlx::query("INSERT INTO lab_key (key_hash, lab_id, created_at) VALUES ($1, $2, $3)")
            .bind(&hash)
            .bind(lab_id)
            .bind(now)
            .execute(pool)
            .await
            .map(drop)
    })?;
    Ok(key)
}

/// The lab that owns `key`, if the key is known.
pub(crate) async fn lab_for_key(db: &Db, key: &str) -> AppResult<Option<String>> {
    let hash = sha256_hex(key);
    let row: Option<(String,)> = on_pool!(db, |pool| {
        sqlx::query_as("SELECT lab_id FROM lab_key WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(&hash)
            .fetch_optional(pool)
            .await
    })?;
    Ok(row.map(|r| r.0))
}

/// A lab key as an operator sees it: never the key, nor enough of its hash to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabKey {
    /// The key's id: the first [`KEY_ID_CHARS`] hex digits of its SHA-256, to tell a lab's keys apart.
    pub id: String,
    /// The lab it belongs to.
    pub lab_id: String,
    /// When it was created (epoch seconds).
    pub created_at: i64,
    /// When it was revoked (epoch seconds), if it was.
    pub revoked_at: Option<i64>,
}

/// Hex digits of a key's hash shown as its id.
pub const KEY_ID_CHARS: usize = 12;

/// Every lab key, by lab and then by creation.
pub(crate) async fn lab_keys(db: &Db) -> AppResult<Vec<LabKey>> {
    let rows: Vec<(String, String, i64, Option<i64>)> = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT key_hash, lab_id, created_at, revoked_at FROM lab_key \
             ORDER BY lab_id, created_at, key_hash",
        )
        .fetch_all(pool)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(hash, lab_id, created_at, revoked_at)| LabKey {
            id: hash.chars().take(KEY_ID_CHARS).collect(),
            lab_id,
            created_at,
            revoked_at,
        })
        .collect())
}

/// Revokes the live keys of `lab_id`, or only the one whose id is `key_id`; returns the keys revoked
/// now (keys revoked before keep their time). An unknown lab or key id is an error.
pub(crate) async fn revoke_lab_keys(
    db: &Db,
    lab_id: &str,
    key_id: Option<&str>,
    now: i64,
) -> AppResult<Vec<String>> {
    let keys: Vec<LabKey> = lab_keys(db)
        .await?
        .into_iter()
        .filter(|k| k.lab_id == lab_id)
        .collect();
    if keys.is_empty() {
        return Err(AppError::not_found(
            "no_lab",
            format!("there is no lab {lab_id:?}"),
        ));
    }
    let chosen: Vec<&LabKey> = keys
        .iter()
        .filter(|k| key_id.is_none_or(|id| k.id == id))
        .collect();
    if chosen.is_empty() {
        return Err(AppError::not_found(
            "no_key",
            format!("lab {lab_id:?} has no key {:?}", key_id.unwrap_or_default()),
        ));
    }
    let mut revoked = Vec::new();
    for key in chosen.into_iter().filter(|k| k.revoked_at.is_none()) {
        // The id is a prefix of the hash, unique within the lab: the statement names both.
        let sql = "UPDATE lab_key SET revoked_at = $1 WHERE lab_id = $2 \
                   AND substr(key_hash, 1, $3) = $4 AND revoked_at IS NULL";
        let done = on_pool!(db, |pool| {
            sqlx::query(sql)
                .bind(now)
                .bind(lab_id)
                .bind(KEY_ID_CHARS as i32)
                .bind(&key.id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        if done > 0 {
            revoked.push(key.id.clone());
        }
    }
    Ok(revoked)
}

/// Lab ids are free-form names chosen by operators, restricted so they are safe in logs and URLs.
pub(crate) fn valid_lab_id(lab_id: &str) -> bool {
    (1..=64).contains(&lab_id.len())
        && lab_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Upserts a lab's results in one transaction. A stored result is kept when it is redeemed (retention has
/// masked it: 4, or 9 for a rapid test) or when it belongs to another lab: a lab key can only ever change
/// its own lab's results.
pub(crate) async fn upsert(db: &Db, lab_id: &str, uploads: &[Upload], now: i64) -> AppResult<()> {
    let sql = "INSERT INTO test_result (result_id, result, sc, lab_id, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $5) \
               ON CONFLICT (result_id) DO UPDATE SET result = excluded.result, sc = excluded.sc, \
               updated_at = excluded.updated_at \
               WHERE test_result.result NOT IN (4, 9) AND test_result.lab_id = excluded.lab_id";
    on_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        for u in uploads {
            sqlx::query(sql)
                .bind(&u.id)
                .bind(u.result)
                .bind(u.sc)
                .bind(lab_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })?;
    Ok(())
}

/// The stored result for `id`; unknown ids are pending as of `now` (and nothing is written).
pub(crate) async fn lookup(db: &Db, id: &str, now: i64) -> AppResult<StoredResult> {
    let row: Option<(i64, i64, String)> = on_pool!(db, |pool| {
        sqlx::query_as("SELECT result, sc, lab_id FROM test_result WHERE result_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
    })?;
    Ok(match row {
        Some((result, sc, lab_id)) => StoredResult { result, sc, lab_id },
        None => StoredResult {
            result: code::PENDING,
            sc: now,
            lab_id: String::new(),
        },
    })
}

pub(crate) async fn retention(
    db: &Db,
    now: i64,
    redeem_before: i64,
    delete_before: i64,
) -> AppResult<(u64, u64)> {
    let (redeemed, deleted) = on_pool!(db, |pool| {
        // A rapid test's result (5-9) becomes rapid-test redeemed (9), any other redeemed (4).
        let redeemed = sqlx::query(
            "UPDATE test_result SET result = CASE WHEN result BETWEEN 5 AND 9 THEN 9 ELSE 4 END, \
             updated_at = $1 WHERE created_at < $2 AND result NOT IN (4, 9)",
        )
        .bind(now)
        .bind(redeem_before)
        .execute(pool)
        .await?
        .rows_affected();
        let deleted = sqlx::query("DELETE FROM test_result WHERE created_at < $1")
            .bind(delete_before)
            .execute(pool)
            .await?
            .rows_affected();
        Ok::<_, sqlx::Error>((redeemed, deleted))
    })?;
    Ok((redeemed, deleted))
}

#[cfg(test)]
mod tests {
    use super::valid_lab_id;

    #[test]
    fn lab_ids() {
        assert!(valid_lab_id("lab-1.berlin_x"));
        assert!(!valid_lab_id(""));
        assert!(!valid_lab_id("a b"));
        assert!(!valid_lab_id(&"l".repeat(65)));
        assert!(valid_lab_id(&"l".repeat(64)));
    }
}
