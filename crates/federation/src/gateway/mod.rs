//! The federation gateway: member countries upload signed batches of their consented keys and download
//! the other countries' batches by day. Every batch is kept with who uploaded it, when, and its
//! signature (the audit trail) for the retention window, then deleted.

mod api;
mod openapi;
mod store;

pub use api::{BATCH_COUNTRY, BATCH_SIGNATURE, BATCH_TAG, NEXT_BATCH_TAG};

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use warnkit_service::auth::{bearer, constant_time_eq};
use warnkit_service::server::Shutdown;
use warnkit_service::Clock;
use warnkit_service::{periodic, AppError, AppResult, Metrics};
use warnkit_store::Db;

use crate::config::{Country, GatewayConfig};

/// The gateway's embedded migrations (one table of batches).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/gateway");

/// The service's name: listener, metrics label, SQLite file stem and PostgreSQL schema.
pub const NAME: &str = "gateway";

/// The upload path.
pub const UPLOAD_PATH: &str = "/diagnosiskeys/upload";

/// A running gateway. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    config: GatewayConfig,
    countries: Vec<Country>,
    clock: Clock,
    metrics: Metrics,
}

impl Gateway {
    /// A gateway over an opened and migrated database, with the member countries of `config`.
    pub fn new(db: Db, config: GatewayConfig, clock: Clock) -> anyhow::Result<Self> {
        let countries = config.resolve_countries()?;
        if countries.is_empty() {
            tracing::warn!(
                "the gateway has no member countries configured; every request gets 401"
            );
        }
        Ok(Self::with_countries(db, config, countries, clock))
    }

    /// A gateway with already resolved member countries (`config.countries` is not read).
    pub fn with_countries(
        db: Db,
        config: GatewayConfig,
        countries: Vec<Country>,
        clock: Clock,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                config,
                countries,
                clock,
                metrics: Metrics::new(NAME),
            }),
        }
    }

    /// The HTTP API (default port 8005) with probes and metrics.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// The gateway's database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The service's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Number of stored batches and of their keys.
    pub async fn counts(&self) -> AppResult<(u64, u64)> {
        Ok(store::counts(&self.inner.db).await?)
    }

    /// Deletes batches uploaded more than `retention_days` days ago; returns how many.
    pub async fn run_retention(&self) -> AppResult<u64> {
        let today = self.inner.clock.now().div_euclid(86_400);
        let first_kept = crate::date::day_string(today - self.inner.config.retention_days);
        let deleted = store::delete_days_before(&self.inner.db, &first_kept).await?;
        if deleted > 0 {
            tracing::info!(deleted, "gateway retention");
        }
        Ok(deleted)
    }

    /// Runs retention every `retention_interval_secs` until `shutdown`.
    pub async fn retention_loop(self, shutdown: Shutdown) {
        let period = Duration::from_secs(self.inner.config.retention_interval_secs.max(1));
        periodic::every("gateway retention", period, shutdown, || {
            self.run_retention()
        })
        .await;
    }

    /// The member country whose token the request carries; 401 otherwise. Tokens are compared as
    /// SHA-256 digests, in constant time, against every country.
    fn authenticate(&self, headers: &HeaderMap) -> AppResult<&Country> {
        let token = bearer(headers).ok_or_else(unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for country in &self.inner.countries {
            if constant_time_eq(&digest, &country.token_sha256) {
                found = Some(country);
            }
        }
        found.ok_or_else(unauthorized)
    }
}

fn unauthorized() -> AppError {
    AppError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing bearer token, or no member country has this token",
    )
}
