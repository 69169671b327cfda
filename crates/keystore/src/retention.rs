//! The one job that deletes stored keys: every key submitted more than the retention's days ago, by the
//! clock the job is given, once per period, by one copy of a scaled-out deployment at a time.
//!
//! It is the only place keys leave the store. The distribution job decides which published files leave its
//! window, but deletes no key: a key it no longer reads simply waits here for this job.

use std::time::Duration;

use warnkit_service::server::Shutdown;
use warnkit_service::{periodic, Clock};

use crate::KeyStore;

/// Advisory-lock key of the retention job (PostgreSQL): "warnkitk", unique across warnkit's jobs.
const RETENTION_LOCK: i64 = 0x7761_726e_6b69_746b;

/// The retention of stored keys: keys whose submission hour lies more than `days` days before the
/// clock's hour are deleted. Cheap to clone.
#[derive(Debug, Clone)]
pub struct KeyRetention {
    store: KeyStore,
    days: u32,
    clock: Clock,
}

impl KeyRetention {
    /// Keeps `days` days of keys in `store`, by `clock`.
    pub fn new(store: KeyStore, days: u32, clock: Clock) -> Self {
        Self { store, days, clock }
    }

    /// The days keys are kept.
    pub fn days(&self) -> u32 {
        self.days
    }

    /// The first submission hour kept now: keys of earlier hours are due for deletion.
    pub fn first_kept_hour(&self) -> i64 {
        first_kept_hour(self.clock.hour(), self.days)
    }

    /// One run: deletes every key submitted before [`KeyRetention::first_kept_hour`] and returns how many.
    /// `None` when another copy (same PostgreSQL) runs the job right now; it deletes the same keys.
    pub async fn run_once(&self) -> Result<Option<u64>, sqlx::Error> {
        let before = self.first_kept_hour();
        let job = self.store.delete_submitted_before(before);
        let Some(deleted) = self.store.db().with_job_lock(RETENTION_LOCK, job).await? else {
            return Ok(None);
        };
        let deleted = deleted?;
        if deleted > 0 {
            tracing::info!(deleted, first_kept_hour = before, "key retention");
        }
        Ok(Some(deleted))
    }

    /// Runs the job now and then every `period` (at least a second) until `shutdown`.
    pub async fn run_every(self, period: Duration, shutdown: Shutdown) {
        let period = period.max(Duration::from_secs(1));
        periodic::every("key retention", period, shutdown, || self.run_once()).await;
    }
}

/// The first submission hour kept at `hour` with `days` days of retention.
pub fn first_kept_hour(hour: i64, days: u32) -> i64 {
    hour - i64::from(days) * 24
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_days_of_hours_are_kept() {
        assert_eq!(first_kept_hour(480_000, 14), 480_000 - 336);
        assert_eq!(first_kept_hour(480_000, 0), 480_000);
        assert_eq!(first_kept_hour(10, 1), -14);
    }
}
