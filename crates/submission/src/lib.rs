//! The submission service: phones upload their diagnosis keys with a TAN; the payload is validated, the TAN
//! is checked with the verification service over HTTP, and the keys are stored one row per key with the
//! hour they arrived in and nothing else about the request.
//!
//! Flow of `POST /version/v1/diagnosis-keys`: transport metadata stripped ([`privacy`]) → `cwa-fake`
//! read: a fake request waits and answers ([`warnkit_service::fake`]) → body read and its 32-bit fields checked on the wire
//! ([`wire`]) → decoded → payload validated, keys outside the window dropped, missing risk fields derived
//! ([`validation`], [`derivation`]) → TAN checked ([`tan`]) → keys inserted in one transaction
//! ([`warnkit_keystore`]). The key store's retention job runs with this service, driven by
//! `[submission] retention_days`: the one setting of how long stored keys are kept.

mod api;
pub mod config;
pub mod derivation;
pub mod openapi;
pub mod privacy;
pub mod tan;
pub mod validation;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use warnkit_keystore::{KeyRetention, KeyStore};
use warnkit_service::fake::Latencies;
use warnkit_service::server::Shutdown;
use warnkit_service::Clock;
use warnkit_service::{AppResult, Metrics};

pub use api::{ERROR_BYTES, SUBMISSION_PATH, SUCCESS_HEADERS};
pub use config::SubmissionConfig;

/// The service's name: metrics label, SQLite file stem and PostgreSQL schema.
pub const NAME: &str = "submission";

/// A running submission service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SubmissionService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: KeyStore,
    config: SubmissionConfig,
    tan: tan::TanClient,
    clock: Clock,
    metrics: Metrics,
    latency: Latencies,
}

impl SubmissionService {
    /// A service over an opened key store. `service_token` is what this service presents to the
    /// verification service; `clock` stamps submission hours and bounds rolling starts.
    pub fn new(
        store: KeyStore,
        config: SubmissionConfig,
        service_token: String,
        clock: Clock,
    ) -> AppResult<Self> {
        let tan = tan::TanClient::new(
            &config.verification_url,
            service_token,
            Duration::from_millis(config.tan_timeout_ms),
            config.tan_attempts,
            Duration::from_millis(config.tan_retry_backoff_ms),
        )?;
        let latency = Latencies::new(
            config.fake_delay_samples,
            Duration::from_millis(config.initial_fake_delay_ms),
        );
        let inner = Inner {
            store,
            config,
            tan,
            clock,
            metrics: Metrics::new(NAME),
            latency,
        };
        api::register_metrics(&inner.metrics);
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The app-facing API (default port 8001), with probes, metrics and the metadata-stripping edge layer.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// The key store this service writes to.
    pub fn store(&self) -> &KeyStore {
        &self.inner.store
    }

    /// The clock the service reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The service's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The key store's retention job, keeping `retention_days` of keys by this service's clock.
    pub fn key_retention(&self) -> KeyRetention {
        KeyRetention::new(
            self.inner.store.clone(),
            self.inner.config.retention_days,
            self.inner.clock.clone(),
        )
    }

    /// One run of the key store's retention job: deletes keys submitted more than `retention_days`
    /// ago; returns how many (0 when another copy of the service runs it right now).
    pub async fn run_retention(&self) -> AppResult<u64> {
        Ok(self.key_retention().run_once().await?.unwrap_or(0))
    }

    /// Runs the key store's retention job every `retention_interval_secs` until `shutdown`.
    pub async fn retention_loop(self, shutdown: Shutdown) {
        let period = Duration::from_secs(self.inner.config.retention_interval_secs);
        self.key_retention().run_every(period, shutdown).await;
    }
}
