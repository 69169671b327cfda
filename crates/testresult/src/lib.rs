//! The test-result service: labs upload results keyed by hashed GUID (`POST /api/v1/lab/results`, bearer
//! API key per lab), rapid-test centres upload results keyed by the hash in the test's QR code
//! (`POST /api/v1/quicktest/results`, the same keys; stored under its SHA-256, which is what the phone
//! registers), the verification service reads them (`POST /api/v1/app/result`, service token), and a
//! retention job masks results as redeemed after 21 days (4 for PCR, 9 for rapid tests) and deletes them
//! after 60.
//!
//! The service never sees a GUID, only its SHA-256, and stores no address or request metadata.

mod api;
pub mod openapi;
pub mod posting;
mod store;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use warnkit_service::server::Shutdown;
use warnkit_service::{periodic, AppResult, Clock, Metrics};
use warnkit_store::{audit, Db};

pub use api::{
    AppResultRequest, AppResultResponse, LabResult, LabResultsRequest, LAB_PATH, QUICKTEST_PATH,
};
pub use store::{LabKey, KEY_ID_CHARS};

/// Advisory-lock key of the retention job (PostgreSQL), unique across warnkit's jobs.
const RETENTION_LOCK: i64 = 0x7763_7472_0001;

/// The embedded schema migrations of this service.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The service's name: metrics label, SQLite file stem and PostgreSQL schema.
pub const NAME: &str = "testresult";

/// Result codes as in the original: 0-4 for PCR tests, 5-9 for rapid (antigen) tests.
pub mod code {
    /// No result yet (or unknown id).
    pub const PENDING: i64 = 0;
    /// Negative.
    pub const NEGATIVE: i64 = 1;
    /// Positive.
    pub const POSITIVE: i64 = 2;
    /// Invalid sample.
    pub const INVALID: i64 = 3;
    /// No longer available (retention).
    pub const REDEEMED: i64 = 4;
    /// Rapid test: no result yet.
    pub const QUICK_PENDING: i64 = 5;
    /// Rapid test: negative.
    pub const QUICK_NEGATIVE: i64 = 6;
    /// Rapid test: positive.
    pub const QUICK_POSITIVE: i64 = 7;
    /// Rapid test: invalid.
    pub const QUICK_INVALID: i64 = 8;
    /// Rapid test: no longer available (retention).
    pub const QUICK_REDEEMED: i64 = 9;
}

/// Configuration of the test-result service (`[testresult]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestResultConfig {
    /// Results become "redeemed" (4, or 9 for rapid tests) this many days after their upload.
    pub redeem_after_days: u32,
    /// Results are deleted this many days after their upload.
    pub delete_after_days: u32,
    /// Request bodies over this many bytes get 413.
    pub max_body_bytes: usize,
    /// Seconds between two runs of the retention job.
    pub retention_interval_secs: u64,
}

impl Default for TestResultConfig {
    fn default() -> Self {
        Self {
            redeem_after_days: 21,
            delete_after_days: 60,
            max_body_bytes: 10_000,
            retention_interval_secs: 3600,
        }
    }
}

/// A running test-result service: its database, metrics and settings. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TestResultService {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    db: Db,
    config: TestResultConfig,
    service_token: String,
    metrics: Metrics,
    /// Every time the service reads: upload, revocation and default sample times, retention.
    clock: Clock,
}

impl TestResultService {
    /// A service on an opened and migrated `db`; `service_token` is what the verification service presents.
    pub fn new(db: Db, config: TestResultConfig, service_token: String) -> Self {
        let metrics = Metrics::new(NAME);
        Self {
            inner: Arc::new(Inner {
                db,
                config,
                service_token,
                metrics,
                clock: Clock::system(),
            }),
        }
    }

    /// The same service reading the time from `clock` (the system clock by default), so that tests can
    /// move a manual clock past retention periods instead of waiting.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        Arc::make_mut(&mut self.inner).clock = clock;
        self
    }

    /// The clock the service reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The HTTP API with probes, metrics and `/openapi.json`.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// The database this service owns.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// This service's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Creates an API key for `lab_id` and returns it; only its hash is stored, so it is shown once.
    pub async fn create_lab_key(&self, lab_id: &str) -> AppResult<String> {
        store::create_lab_key(&self.inner.db, lab_id, self.inner.clock.now()).await
    }

    /// [`create_lab_key`](Self::create_lab_key) for an operator: the new key's id goes to the audit trail as
    /// done by `actor`, the key itself nowhere.
    pub async fn create_lab_key_as(&self, actor: &str, lab_id: &str) -> AppResult<String> {
        let key = store::create_lab_key(&self.inner.db, lab_id, self.inner.clock.now()).await?;
        let id = &warnkit_service::auth::sha256_hex(&key)[..KEY_ID_CHARS];
        let subject = format!("{lab_id} key {id}");
        audit::record(&self.inner.db, actor, "lab-key.create", &subject).await?;
        tracing::info!(target: "audit", actor, lab = lab_id, key_id = id, "lab key created");
        Ok(key)
    }

    /// Every lab key (ids, labs, creation and revocation times; never a key).
    pub async fn lab_keys(&self) -> AppResult<Vec<LabKey>> {
        store::lab_keys(&self.inner.db).await
    }

    /// Revokes the keys of `lab_id` (only `key_id` when given) for `actor`, refused from the next request
    /// on; returns the ids revoked now, each recorded in the audit trail. An unknown lab or key is a 404.
    pub async fn revoke_lab_keys(
        &self,
        actor: &str,
        lab_id: &str,
        key_id: Option<&str>,
    ) -> AppResult<Vec<String>> {
        let now = self.inner.clock.now();
        let revoked = store::revoke_lab_keys(&self.inner.db, lab_id, key_id, now).await?;
        for id in &revoked {
            let subject = format!("{lab_id} key {id}");
            audit::record(&self.inner.db, actor, "lab-key.revoke", &subject).await?;
            tracing::info!(target: "audit", actor, lab = lab_id, key_id = %id, "lab key revoked");
        }
        Ok(revoked)
    }

    /// One run of the retention job as of `now` (epoch seconds; the loop passes the service's clock):
    /// returns (redeemed, deleted) row counts.
    pub async fn run_retention(&self, now: i64) -> AppResult<(u64, u64)> {
        let day = 86_400;
        let redeem_before = now - i64::from(self.inner.config.redeem_after_days) * day;
        let delete_before = now - i64::from(self.inner.config.delete_after_days) * day;
        let counts = store::retention(&self.inner.db, now, redeem_before, delete_before).await?;
        if counts != (0, 0) {
            tracing::info!(
                redeemed = counts.0,
                deleted = counts.1,
                "test-result retention"
            );
        }
        Ok(counts)
    }

    /// Runs the retention job every `retention_interval_secs` until `shutdown`.
    pub async fn retention_loop(self, shutdown: Shutdown) {
        let period = Duration::from_secs(self.inner.config.retention_interval_secs.max(1));
        periodic::every("test-result retention", period, shutdown, || async {
            // One copy of a scaled-out deployment runs the job; the others skip this round.
            let job = self.run_retention(self.inner.clock.now());
            let run = self.inner.db.with_job_lock(RETENTION_LOCK, job).await?;
            run.transpose()
        })
        .await;
    }
}
