//! The verification service: the phone registers a hashed GUID or a teleTAN and gets a registration token,
//! polls its test result through this service (which asks the test-result service over HTTP), and gets
//! single-use TANs while the result is positive; the submission service checks a TAN once.
//!
//! Two routers: the app-facing API ([`VerificationService::external_router`], compatible with the original's
//! apps) and the internal API ([`VerificationService::internal_router`], its own listener, service token),
//! whose wire form its callers share through [`wire`].

mod api;
mod budget;
pub mod client;
mod internal;
pub mod openapi;
mod store;
pub mod teletan;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use warnkit_service::fake::Latencies;
use warnkit_service::server::Shutdown;
use warnkit_service::{periodic, AppError, AppResult, Clock, Metrics};
use warnkit_store::Db;

use crate::client::TestResultClient;

pub use api::{
    ERROR_BYTES, REGISTRATION_RESPONSE_BYTES, TAN_RESPONSE_BYTES, TESTRESULT_RESPONSE_BYTES,
};

/// Advisory-lock key of the retention job (PostgreSQL), unique across warnkit's jobs.
const RETENTION_LOCK: i64 = 0x7763_7672_0001;

/// The embedded schema migrations of this service.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The service's name: metrics label, SQLite file stem and PostgreSQL schema.
pub const NAME: &str = "verification";

/// Configuration of the verification service (`[verification]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerificationConfig {
    /// TANs one registration token may get (the past days' keys, then the last day's key).
    pub tans_per_registration: u32,
    /// Days a TAN stays valid.
    pub tan_valid_days: u32,
    /// Seconds a TEST teleTAN stays valid.
    pub teletan_valid_secs: u64,
    /// Seconds an EVENT teleTAN stays valid.
    pub teletan_event_valid_secs: u64,
    /// teleTANs that may be issued per rolling hour, over all officers.
    pub teletan_limit_per_hour: u32,
    /// Days registrations, their keys and TANs are kept.
    pub retention_days: u32,
    /// Poll both the GUID and the date-of-birth hash and answer 403 when they disagree.
    pub dob_check: bool,
    /// Request bodies over this many bytes get 413.
    pub max_body_bytes: usize,
    /// Seconds between two runs of the retention job.
    pub retention_interval_secs: u64,
    /// Base URL of the test-result service.
    pub testresult_url: String,
    /// Timeout of one call to the test-result service, in milliseconds.
    pub testresult_timeout_ms: u64,
    /// Length of the guessing budgets' fixed windows, in seconds (docs/security.md).
    pub guess_window_secs: u64,
    /// Failed teleTAN registrations (unknown, used or expired) per window, over all copies; past it every
    /// teleTAN registration is refused with 429 until the window ends.
    pub teletan_failures_per_window: u32,
    /// Failed TAN checks (`tan/verify` answering 404) per window, over all copies; past it every TAN check
    /// is refused with 429 until the window ends.
    pub tan_failures_per_window: u32,
    /// Seconds a TAN spent on a payload (`payloadHash` on `tan/verify`) answers a repeated check of the same
    /// TAN and payload as the first check did, so an upload whose answer was lost can be retried with its
    /// TAN (docs/reliability.md); 0 turns repeats off.
    pub tan_repeat_secs: u64,
}

impl Default for VerificationConfig {
    fn default() -> Self {
        Self {
            tans_per_registration: 2,
            tan_valid_days: 14,
            teletan_valid_secs: 3600,
            teletan_event_valid_secs: 2 * 86_400,
            teletan_limit_per_hour: 1000,
            retention_days: 21,
            dob_check: true,
            max_body_bytes: 10_000,
            retention_interval_secs: 3600,
            testresult_url: "http://127.0.0.1:8003".to_owned(),
            testresult_timeout_ms: 5000,
            guess_window_secs: 60,
            teletan_failures_per_window: 10,
            tan_failures_per_window: 100_000,
            tan_repeat_secs: 86_400,
        }
    }
}

/// The kind of a teleTAN (and of the TANs that come from it), sent to the submission service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum TeletanType {
    /// A positive test confirmed by phone.
    Test,
    /// A warning for an event ("PIW").
    Event,
}

impl TeletanType {
    /// Wire and storage form: `TEST` or `EVENT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TeletanType::Test => "TEST",
            TeletanType::Event => "EVENT",
        }
    }

    /// Parses the wire form (exact, uppercase).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TEST" => Some(TeletanType::Test),
            "EVENT" => Some(TeletanType::Event),
            _ => None,
        }
    }
}

/// A running verification service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct VerificationService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    tans: store::TanConsumer,
    config: VerificationConfig,
    service_token: String,
    testresult: TestResultClient,
    external_metrics: Metrics,
    internal_metrics: Metrics,
    /// The guessing budgets of teleTAN registrations and TAN checks.
    budgets: budget::Budgets,
    /// Real latencies of registration, test-result and TAN requests, for fake delays.
    latency: [Latencies; 3],
    /// Every time the service reads: expiry, guessing windows, TAN use, retention.
    clock: Clock,
}

/// Counter: teleTANs issued to officers.
const TELETANS_ISSUED: (&str, &str) = ("verification_teletans_issued_total", "teleTANs issued.");

impl VerificationService {
    /// A service on an opened and migrated `db`. `service_token` is both what internal callers must present
    /// and what this service presents to the test-result service.
    pub fn new(db: Db, config: VerificationConfig, service_token: String) -> AppResult<Self> {
        Self::build(db, config, service_token, Clock::system())
    }

    /// The same service reading the time from `clock` (the system clock by default), so that tests can
    /// move a manual clock past expiries, windows and retention instead of waiting. Set it before the
    /// routers are taken: a service already cloned is built afresh on the same database and settings
    /// (with its own metrics and budgets' counts), and the clones keep the old clock.
    pub fn with_clock(self, clock: Clock) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.clock = clock;
                Self {
                    inner: Arc::new(inner),
                }
            }
            Err(shared) => Self::build(
                shared.db.clone(),
                shared.config.clone(),
                shared.service_token.clone(),
                clock,
            )
            // `build` refuses only a configuration that `new` already accepted for `shared`.
            .expect("the configuration was accepted when this service was built"),
        }
    }

    /// The clock the service reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    fn build(
        db: Db,
        config: VerificationConfig,
        service_token: String,
        clock: Clock,
    ) -> AppResult<Self> {
        let timeout = Duration::from_millis(config.testresult_timeout_ms);
        let testresult =
            TestResultClient::new(&config.testresult_url, service_token.clone(), timeout)?;
        let inner = Inner {
            budgets: budget::Budgets::new(&config)?,
            tans: store::TanConsumer::new(db.clone(), config.tan_repeat_secs),
            db,
            config,
            service_token,
            testresult,
            external_metrics: Metrics::new(NAME),
            internal_metrics: Metrics::new("verification_internal"),
            latency: Default::default(),
            clock,
        };
        internal::register_metrics(&inner.internal_metrics);
        api::register_metrics(&inner.external_metrics);
        inner
            .internal_metrics
            .add(TELETANS_ISSUED.0, TELETANS_ISSUED.1, 0);
        budget::Guess::register_metrics(&inner.internal_metrics);
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The app-facing API (default port 8002).
    pub fn external_router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// The internal API for the submission service and the portal (default port 8012).
    pub fn internal_router(&self) -> axum::Router {
        internal::router(self.clone())
    }

    /// The database this service owns.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The registries of the app-facing and the internal API, served by neither: the operators'
    /// metrics listener renders them (the app-facing one counts fake requests).
    pub fn metrics(&self) -> [&Metrics; 2] {
        [&self.inner.external_metrics, &self.inner.internal_metrics]
    }

    /// Issues a teleTAN unless the hourly limit is reached (429); returns the teleTAN in clear, once.
    pub async fn create_teletan(&self, kind: TeletanType) -> AppResult<String> {
        let config = &self.inner.config;
        let now = self.inner.clock.now();
        let valid = match kind {
            TeletanType::Test => config.teletan_valid_secs,
            TeletanType::Event => config.teletan_event_valid_secs,
        };
        let valid_until = now + i64::try_from(valid).unwrap_or(i64::MAX / 2);
        // A duplicate of a live teleTAN (44 bits) is unlikely but possible; a few fresh draws settle it.
        for _ in 0..5 {
            let tan = teletan::generate(&mut rand::rngs::OsRng);
            let hash = warnkit_service::auth::sha256_hex(&tan);
            let limit = i64::from(config.teletan_limit_per_hour);
            match store::insert_teletan(
                &self.inner.db,
                &hash,
                kind.as_str(),
                now,
                valid_until,
                now - 3600,
                limit,
            )
            .await
            {
                Ok(store::TeletanInsert::Stored) => {
                    let (name, help) = TELETANS_ISSUED;
                    self.inner.internal_metrics.add(name, help, 1);
                    return Ok(tan);
                }
                Ok(store::TeletanInsert::OverLimit) => {
                    tracing::warn!(limit, "teleTAN hourly limit reached");
                    return Err(AppError::too_many_requests("teleTAN hourly limit reached"));
                }
                Ok(store::TeletanInsert::Duplicate) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(AppError::internal("could not store a unique teleTAN"))
    }

    /// One run of the retention job as of `now` (epoch seconds; the loop passes the service's clock);
    /// returns the number of rows deleted.
    pub async fn run_retention(&self, now: i64) -> AppResult<u64> {
        let before = now - i64::from(self.inner.config.retention_days) * 86_400;
        let repeat = i64::try_from(self.inner.config.tan_repeat_secs).unwrap_or(i64::MAX);
        let deleted =
            store::retention(&self.inner.db, now, before, now.saturating_sub(repeat)).await?;
        if deleted > 0 {
            tracing::info!(deleted, "verification retention");
        }
        Ok(deleted)
    }

    /// Runs the retention job every `retention_interval_secs` until `shutdown`.
    pub async fn retention_loop(self, shutdown: Shutdown) {
        let period = Duration::from_secs(self.inner.config.retention_interval_secs.max(1));
        periodic::every("verification retention", period, shutdown, || async {
            // One copy of a scaled-out deployment runs the job; the others skip this round.
            let job = self.run_retention(self.inner.clock.now());
            let run = self.inner.db.with_job_lock(RETENTION_LOCK, job).await?;
            run.transpose()
        })
        .await;
    }

    /// Test helper: rows in (registrations, registration keys, TANs, teleTANs).
    #[doc(hidden)]
    pub async fn row_counts(&self) -> AppResult<[i64; 4]> {
        store::counts(&self.inner.db).await
    }
}
