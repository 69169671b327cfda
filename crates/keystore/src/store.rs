//! The key store proper: diagnosis keys, one row per key, on SQLite or PostgreSQL, read in bulk by the
//! distribution job.
//!
//! A row holds the key, its validity, a packed integer of the small attributes, the submission hour and the
//! countries. Nothing else about the upload is kept, and nothing groups the keys of one upload.

mod read;
mod write;

use std::sync::Arc;

use warnkit_service::Clock;
use warnkit_store::{on_pool, Db, DbTarget, PoolConfig};

use crate::MIGRATOR;

/// One stored diagnosis key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The 16-byte temporary exposure key.
    pub key_data: [u8; 16],
    /// First interval number (10-minute units) of the key's validity.
    pub rolling_start: u32,
    /// Number of intervals the key was valid for (1..=144).
    pub rolling_period: u32,
    /// Transmission risk level (0..=8; 0 when the phone sent none and none was derived).
    pub transmission_risk_level: u8,
    /// `ReportType` of the key, as its protobuf number (0..=255 can be stored).
    pub report_type: i32,
    /// Days between the key's day and the onset of symptoms, when known.
    pub days_since_onset_of_symptoms: Option<i32>,
    /// Unix hours (seconds / 3600) of the submission; nothing else about the request is kept.
    pub submission_hour: i64,
    /// Country of the uploading app, e.g. `DE`.
    pub origin: String,
    /// Countries the user visited (ISO 3166-1 alpha-2 codes, no commas).
    pub visited_countries: Vec<String>,
    /// Whether the user consented to sharing the key with other countries.
    pub consent_to_federation: bool,
}

/// Diagnosis keys in one service database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct KeyStore {
    db: Db,
    /// The task all inserts go through (see the `write` module for why).
    writer: Arc<write::Writer>,
}

impl KeyStore {
    /// Opens (creating if needed) the database at `target` and applies the migrations.
    pub async fn open(target: &DbTarget, pool: PoolConfig) -> Result<Self, sqlx::Error> {
        Ok(Self::from_db(Db::open(target, pool, &MIGRATOR).await?))
    }

    /// A store over an opened and migrated database.
    pub fn from_db(db: Db) -> Self {
        let writer = Arc::new(write::Writer::new(db.clone()));
        Self { db, writer }
    }

    /// The underlying pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Stores `keys` atomically, all or nothing. A key whose `key_data` is already stored is skipped (the
    /// first upload wins); returns the number of rows inserted.
    ///
    /// Inserts go through the store's writer task (started by the first call, on the caller's tokio
    /// runtime) and return once the batch they joined has committed.
    pub async fn insert(&self, keys: &[StoredKey]) -> Result<u64, sqlx::Error> {
        if keys.is_empty() {
            return Ok(0);
        }
        let rows = write::encode(keys)?;
        self.writer.insert(rows, None).await
    }

    /// [`KeyStore::insert`], with every key dated by the hour (of `clock`) its transaction commits in,
    /// whatever its `submission_hour` says: what the submission service does with an upload, so that
    /// keys never commit after the distribution has published their hour (a transaction that would
    /// commit in a later hour than it was dated with is rolled back and written again with that hour).
    pub async fn insert_now(&self, keys: &[StoredKey], clock: &Clock) -> Result<u64, sqlx::Error> {
        if keys.is_empty() {
            return Ok(0);
        }
        let rows = write::encode(keys)?;
        self.writer.insert(rows, Some(clock.clone())).await
    }

    /// Every key submitted in `from_hour <= hour < to_hour` (Unix hours), in no particular order.
    ///
    /// The database packs each (hour, countries) group into one row, because
    /// per-row driver overhead dominates a bulk read: sqlx's SQLite driver hands every row across a thread
    /// channel (about 6 µs a row, 6 s for a million), and even PostgreSQL's row decoding costs more than the
    /// few bytes of a key. Groups are decoded as they stream in, so at most one group's record text is held
    /// besides the result.
    pub async fn keys_submitted_between(
        &self,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<StoredKey>, sqlx::Error> {
        read::keys_between(&self.db, from_hour, to_hour).await
    }

    /// Deletes every key submitted before `hour` (Unix hours); returns the number deleted.
    pub async fn delete_submitted_before(&self, hour: i64) -> Result<u64, sqlx::Error> {
        on_pool!(&self.db, |pool| {
            sqlx::query("DELETE FROM diagnosis_key WHERE submission_hour < $1")
                .bind(hour)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
    }

    /// The number of stored keys.
    pub async fn count(&self) -> Result<u64, sqlx::Error> {
        let n: i64 = on_pool!(&self.db, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM diagnosis_key")
                .fetch_one(pool)
                .await
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// How many stored keys arrived on each UTC day (days since 1970-01-01), oldest day first: what
    /// `warnkit status` shows an operator. Read-only.
    pub async fn counts_per_submission_day(&self) -> Result<Vec<(i64, u64)>, sqlx::Error> {
        let rows: Vec<(i64, i64)> = on_pool!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT submission_hour / 24 AS day, COUNT(*) FROM diagnosis_key \
                 GROUP BY submission_hour / 24 ORDER BY day",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(day, n)| (day, u64::try_from(n).unwrap_or(0)))
            .collect())
    }
}

/// Bit layout of `attrs`: 0–7 rolling period, 8–15 transmission risk level, 16–23 report type, bit 24
/// consent to federation, bit 25 "days since onset present", 32–63 days since onset (signed).
///
/// One integer instead of five columns: the bulk read decodes a fifth of the values, and the row is smaller.
pub(crate) fn pack(key: &StoredKey) -> Result<i64, sqlx::Error> {
    let period =
        u8::try_from(key.rolling_period).map_err(|_| invalid("rolling period over 255"))?;
    let report =
        u8::try_from(key.report_type).map_err(|_| invalid("report type outside 0..=255"))?;
    let mut attrs = i64::from(period)
        | i64::from(key.transmission_risk_level) << 8
        | i64::from(report) << 16
        | i64::from(key.consent_to_federation) << 24;
    if let Some(dsos) = key.days_since_onset_of_symptoms {
        attrs |= 1 << 25 | i64::from(dsos) << 32;
    }
    Ok(attrs)
}

fn invalid(why: &'static str) -> sqlx::Error {
    sqlx::Error::Encode(why.into())
}

/// The attributes packed by [`pack`]; the other fields are left empty.
pub(crate) fn unpack(attrs: i64) -> StoredKey {
    // Each field is masked to its width before narrowing, so the casts cannot truncate meaningful bits.
    StoredKey {
        key_data: [0; 16],
        rolling_start: 0,
        rolling_period: (attrs & 0xff) as u32,
        transmission_risk_level: ((attrs >> 8) & 0xff) as u8,
        report_type: ((attrs >> 16) & 0xff) as i32,
        days_since_onset_of_symptoms: (attrs & 1 << 25 != 0).then_some((attrs >> 32) as i32),
        submission_hour: 0,
        origin: String::new(),
        visited_countries: Vec::new(),
        consent_to_federation: attrs & 1 << 24 != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dsos: Option<i32>) -> StoredKey {
        StoredKey {
            key_data: [7; 16],
            rolling_start: 2_700_000,
            rolling_period: 144,
            transmission_risk_level: 8,
            report_type: 1,
            days_since_onset_of_symptoms: dsos,
            submission_hour: 480_000,
            origin: "DE".into(),
            visited_countries: vec!["FR".into(), "IT".into()],
            consent_to_federation: true,
        }
    }

    #[test]
    fn pack_round_trips() {
        for dsos in [
            None,
            Some(-14),
            Some(0),
            Some(4000),
            Some(i32::MIN),
            Some(i32::MAX),
        ] {
            let k = key(dsos);
            let attrs = pack(&k).unwrap();
            let group = read::Group {
                submission_hour: 480_000,
                origin: "DE".into(),
                visited_countries: vec!["FR".into(), "IT".into()],
                count: 1,
            };
            assert_eq!(group.key(k.key_data, 2_700_000, attrs), k);
        }
    }

    #[test]
    fn a_key_stays_small_in_memory() {
        // The distribution job holds a million of these at once.
        assert_eq!(std::mem::size_of::<StoredKey>(), 96);
    }

    #[test]
    fn out_of_range_attributes_are_refused() {
        let mut k = key(None);
        k.rolling_period = 256;
        assert!(pack(&k).is_err());
        let mut k = key(None);
        k.report_type = -1;
        assert!(pack(&k).is_err());
    }
}
