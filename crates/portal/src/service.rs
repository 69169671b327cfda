//! A running portal: [`PortalService`], the state every route reads. Its routes
//! (`PortalService::router`) are assembled in `web`, above the handlers. Time comes from the shared
//! [`Clock`], so that session expiry and rate limits can be tested without waiting.

use std::sync::Arc;
use std::time::Duration;

use warnkit_service::{AppError, AppResult, Clock, Metrics};
use warnkit_store::{Db, StoreResult};

use crate::accounts;
use crate::config::{check_authorities, PortalConfig};
use crate::hashing::HashPool;
use crate::oidc;
use crate::roles::Roles;

/// The service's name: metrics label, SQLite file stem and PostgreSQL schema.
pub const NAME: &str = "portal";

/// A running portal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PortalService {
    pub(crate) inner: Arc<Inner>,
}

/// What the handlers read: the database, configuration, clients and pools.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) config: PortalConfig,
    pub(crate) service_token: String,
    pub(crate) clock: Clock,
    pub(crate) http: reqwest::Client,
    pub(crate) metrics: Metrics,
    /// Checks sign-in passwords on blocking threads, a bounded number at once; holds the dummy hash that
    /// unknown user names are checked against, so that their timing matches known ones.
    pub(crate) hashes: HashPool,
    /// The OpenID provider, when configured.
    pub(crate) oidc: Option<oidc::Oidc>,
}

impl PortalService {
    /// A portal on an opened and migrated `db`; `service_token` is presented to the verification service.
    pub fn new(
        db: Db,
        config: PortalConfig,
        service_token: String,
        clock: Clock,
    ) -> AppResult<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.verification_timeout_ms))
            .build()
            .map_err(AppError::internal)?;
        let hashes = HashPool::new(config.password_hash_concurrency, config.password_hash_queue)?;
        let oidc = oidc::Oidc::from_config(&config.oidc)?;
        check_authorities(&config.health_authorities)?;
        let inner = Inner {
            db,
            config,
            service_token,
            clock,
            http,
            metrics: Metrics::new(NAME),
            hashes,
            oidc,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The database this service owns.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The portal's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Writes one row of the audit trail in the portal's database. Never pass a teleTAN or a password.
    pub(crate) async fn audit(&self, actor: &str, action: &str, subject: &str) -> StoreResult<()> {
        warnkit_store::audit::record(&self.inner.db, actor, action, subject).await
    }

    /// Creates an account (for `warnkit portal user add`). Names are 1-64 characters of `a-z 0-9 . _ -`;
    /// passwords need at least 10 characters.
    pub async fn add_user(
        &self,
        username: &str,
        password: &str,
        roles: impl Into<Roles>,
        totp: bool,
    ) -> AppResult<()> {
        accounts::add_user(
            &self.inner.db,
            username,
            password,
            roles.into(),
            totp,
            self.inner.clock.now(),
        )
        .await
    }
}
