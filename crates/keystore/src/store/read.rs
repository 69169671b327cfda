//! The bulk read: every key of an hour range, grouped by the database into few rows and decoded here.

use futures_util::TryStreamExt;
use sqlx::Row;
use warnkit_store::Db;

use super::{unpack, StoredKey};

/// Every key submitted in `from_hour <= hour < to_hour`.
pub(super) async fn keys_between(
    db: &Db,
    from_hour: i64,
    to_hour: i64,
) -> Result<Vec<StoredKey>, sqlx::Error> {
    let mut keys = Vec::new();
    match db {
        Db::Sqlite(pool) => {
            let mut conn = pool.acquire().await?;
            // Memory-mapped reads: the rows come in index order, not file order, and through read() calls
            // each page costs a system call (measured: 1.5 s instead of 0.6 s for a million keys inserted
            // in random hour order). Per connection, so set on the one this read uses.
            sqlx::query("PRAGMA mmap_size = 1073741824")
                .execute(&mut *conn)
                .await?;
            let mut rows = sqlx::query(SQLITE_GROUPS)
                .bind(from_hour)
                .bind(to_hour)
                .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                let group = Group::from_row(&row)?;
                group.decode_text(row.try_get(4)?, row.try_get(5)?, row.try_get(6)?, &mut keys)?;
            }
            drop(rows);
            // Unmap again: the pages this read touched would otherwise stay in the process's resident
            // set for as long as the pooled connection lives, once per connection that ever read.
            sqlx::query("PRAGMA mmap_size = 0")
                .execute(&mut *conn)
                .await?;
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            // Right after a bulk load, before autovacuum has analysed the table, the planner guesses a few
            // thousand rows and sorts a million on disk to group them; hashing the few hundred groups in
            // memory is always the better plan here.
            sqlx::query("SET LOCAL enable_sort = off")
                .execute(&mut *tx)
                .await?;
            sqlx::query("SET LOCAL work_mem = '128MB'")
                .execute(&mut *tx)
                .await?;
            {
                let mut rows = sqlx::query(POSTGRES_GROUPS)
                    .bind(from_hour)
                    .bind(to_hour)
                    .fetch(&mut *tx);
                while let Some(row) = rows.try_next().await? {
                    let group = Group::from_row(&row)?;
                    let records: &[u8] = row.try_get(4)?;
                    group.decode_binary(records, &mut keys)?;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(keys)
}

/// One (hour, origin, visited countries) group per row: its keys as one hex string (32 digits a key), and
/// their rolling starts and `attrs` as comma-separated decimals. The three aggregates step over the same
/// rows in the same order, so the n-th entries belong to one key. (One `printf` record per key would be
/// simpler to parse but doubles the database's time.)
const SQLITE_GROUPS: &str = "SELECT submission_hour, origin, visited_countries, COUNT(*), \
    group_concat(hex(key_data), ''), group_concat(rolling_start), group_concat(attrs) \
    FROM diagnosis_key WHERE submission_hour >= $1 AND submission_hour < $2 \
    GROUP BY submission_hour, origin, visited_countries";

/// As [`SQLITE_GROUPS`], but with one binary record of 32 bytes a key: key data (16), rolling start and
/// `attrs` (8 each, big-endian).
const POSTGRES_GROUPS: &str = "SELECT submission_hour, origin, visited_countries, COUNT(*), \
    string_agg(key_data || int8send(rolling_start) || int8send(attrs), ''::bytea) \
    FROM diagnosis_key WHERE submission_hour >= $1 AND submission_hour < $2 \
    GROUP BY submission_hour, origin, visited_countries";

/// What the keys of one group share.
pub(super) struct Group {
    pub(super) submission_hour: i64,
    pub(super) origin: String,
    pub(super) visited_countries: Vec<String>,
    pub(super) count: usize,
}

impl Group {
    fn from_row<R>(row: &R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        usize: sqlx::ColumnIndex<R>,
    {
        let visited: &str = row.try_get(2)?;
        let count: i64 = row.try_get(3)?;
        Ok(Self {
            submission_hour: row.try_get(0)?,
            origin: row.try_get::<&str, _>(1)?.to_owned(),
            visited_countries: split_countries(visited),
            count: usize::try_from(count).map_err(|_| corrupt("negative group count"))?,
        })
    }

    fn decode_text(
        &self,
        keys: &str,
        rolling_starts: &str,
        attrs: &str,
        out: &mut Vec<StoredKey>,
    ) -> Result<(), sqlx::Error> {
        if keys.len() != self.count * 32 {
            return Err(corrupt("key hex of unexpected length"));
        }
        out.reserve(self.count);
        let mut rolling_starts = rolling_starts.split(',');
        let mut attrs = attrs.split(',');
        for hex_key in keys.as_bytes().chunks_exact(32) {
            let mut key_data = [0u8; 16];
            hex::decode_to_slice(hex_key, &mut key_data).map_err(|_| corrupt("key hex"))?;
            let rolling_start = rolling_starts
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| corrupt("rolling start"))?;
            let attrs = attrs
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| corrupt("attrs"))?;
            out.push(self.key(key_data, rolling_start, attrs));
        }
        Ok(())
    }

    fn decode_binary(&self, records: &[u8], out: &mut Vec<StoredKey>) -> Result<(), sqlx::Error> {
        const WIDTH: usize = 32;
        if records.len() != self.count * WIDTH {
            return Err(corrupt("key records of unexpected length"));
        }
        out.reserve(self.count);
        for record in records.chunks_exact(WIDTH) {
            let (key_data, rest) = record.split_at(16);
            let (rolling_start, attrs) = rest.split_at(8);
            // chunks_exact and the split points give exactly 16, 8 and 8 bytes.
            let key_data: [u8; 16] = key_data.try_into().map_err(|_| corrupt("key"))?;
            let rolling_start =
                i64::from_be_bytes(rolling_start.try_into().map_err(|_| corrupt("rs"))?);
            let attrs = i64::from_be_bytes(attrs.try_into().map_err(|_| corrupt("attrs"))?);
            let rolling_start =
                u32::try_from(rolling_start).map_err(|_| corrupt("rolling start out of range"))?;
            out.push(self.key(key_data, rolling_start, attrs));
        }
        Ok(())
    }

    pub(super) fn key(&self, key_data: [u8; 16], rolling_start: u32, attrs: i64) -> StoredKey {
        let mut key = unpack(attrs);
        key.key_data = key_data;
        key.rolling_start = rolling_start;
        key.submission_hour = self.submission_hour;
        key.origin.clone_from(&self.origin);
        key.visited_countries.clone_from(&self.visited_countries);
        key
    }
}

fn corrupt(why: &'static str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored diagnosis key: {why}").into())
}

fn split_countries(joined: &str) -> Vec<String> {
    if joined.is_empty() {
        Vec::new()
    } else {
        joined.split(',').map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_split() {
        assert!(split_countries("").is_empty());
        assert_eq!(split_countries("DE"), vec!["DE"]);
        assert_eq!(split_countries("DE,FR"), vec!["DE", "FR"]);
    }
}
