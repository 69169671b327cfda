//! Starting one service: its database, its service object, its routers per listener and its background
//! jobs. Each service has exactly one function here, which `warnkit serve`, the demo, the benchmarks and
//! the tests all reach through the node builder.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context as _;
use warnkit_distribution::{Distribution, StaticFiles};
use warnkit_federation::Gateway;
use warnkit_keystore::KeyStore;
use warnkit_portal::PortalService;
use warnkit_service::server::Shutdown;
use warnkit_service::Clock;
use warnkit_service::{Metrics, ServiceRouter};
use warnkit_store::{Db, PoolConfig};
use warnkit_submission::SubmissionService;
use warnkit_testresult::TestResultService;
use warnkit_verification::VerificationService;

use crate::config::Config;
use crate::service::Service;

/// A background job of a service (retention, schedules), run until the shutdown signal.
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What every service's start reads.
pub(crate) struct Context<'a> {
    pub(crate) config: &'a Config,
    pub(crate) token: &'a str,
    /// The URL of every listener the node has bound: a service in this process wins over a default
    /// URL of another.
    pub(crate) urls: &'a BTreeMap<&'static str, String>,
    pub(crate) shutdown: &'a Shutdown,
    pub(crate) clock: &'a Clock,
    pub(crate) pool: PoolConfig,
    /// Whether the distribution and federation jobs run on their timers (else the caller runs them).
    pub(crate) schedules: bool,
}

/// What a started service hands back to the node.
pub(crate) struct Started {
    /// Its routers, by listener.
    pub(crate) routers: Vec<(&'static str, axum::Router)>,
    /// The registries its routers count in, served by none of them.
    pub(crate) metrics: Vec<Metrics>,
    /// The database it opened, closed when the node stops.
    pub(crate) db: Db,
    pub(crate) jobs: Vec<Job>,
    /// The distribution's published files: its listener serves them on the static fast path, from the
    /// same cache its router falls back to.
    pub(crate) files: Option<StaticFiles>,
}

/// The running services' objects, for callers that drive them directly (the demo, tests).
#[derive(Clone, Default)]
pub struct Handles {
    /// The test-result service.
    pub testresult: Option<TestResultService>,
    /// The verification service.
    pub verification: Option<VerificationService>,
    /// The submission service.
    pub submission: Option<SubmissionService>,
    /// The key store: the submission service's, else the distribution job's.
    pub keys: Option<KeyStore>,
    /// The distribution job.
    pub distribution: Option<Distribution>,
    /// The static server's cache of the published files.
    pub files: Option<StaticFiles>,
    /// The officers' portal.
    pub portal: Option<PortalService>,
    /// The federation gateway.
    pub gateway: Option<Gateway>,
}

/// Starts `service` as `cx` says and records its objects in `handles`.
pub(crate) async fn start(
    service: Service,
    cx: &Context<'_>,
    handles: &mut Handles,
) -> anyhow::Result<Started> {
    match service {
        Service::TestResult => testresult(cx, handles).await,
        Service::Verification => verification(cx, handles).await,
        Service::Submission => submission(cx, handles).await,
        Service::Distribution => distribution(cx, handles).await,
        Service::Portal => portal(cx, handles).await,
        Service::Gateway => gateway(cx, handles).await,
    }
}

/// `configured`, unless it is still `default` and this node runs the listener `listener`: then that
/// listener's real URL.
fn local_url(cx: &Context<'_>, configured: &mut String, default: String, listener: &str) {
    if let Some(url) = cx.urls.get(listener) {
        if *configured == default {
            configured.clone_from(url);
        }
    }
}

async fn testresult(cx: &Context<'_>, handles: &mut Handles) -> anyhow::Result<Started> {
    let target = cx.config.db_target(Service::TestResult.name());
    let db = Db::open(&target, cx.pool, &warnkit_testresult::MIGRATIONS)
        .await
        .context("testresult database")?;
    let service = TestResultService::new(
        db.clone(),
        cx.config.testresult.clone(),
        cx.token.to_owned(),
    )
    .with_clock(cx.clock.clone());
    handles.testresult = Some(service.clone());
    Ok(Started {
        routers: vec![("testresult", service.router())],
        metrics: vec![service.metrics().clone()],
        db,
        jobs: vec![Box::pin(service.retention_loop(cx.shutdown.clone()))],
        files: None,
    })
}

async fn verification(cx: &Context<'_>, handles: &mut Handles) -> anyhow::Result<Started> {
    let target = cx.config.db_target(Service::Verification.name());
    let db = Db::open(&target, cx.pool, &warnkit_verification::MIGRATIONS)
        .await
        .context("verification database")?;
    let mut vc = cx.config.verification.clone();
    let default = warnkit_verification::VerificationConfig::default().testresult_url;
    local_url(cx, &mut vc.testresult_url, default, "testresult");
    let service =
        VerificationService::new(db.clone(), vc, cx.token.to_owned())?.with_clock(cx.clock.clone());
    handles.verification = Some(service.clone());
    Ok(Started {
        routers: vec![
            ("verification", service.external_router()),
            ("verification_internal", service.internal_router()),
        ],
        metrics: service.metrics().map(Clone::clone).to_vec(),
        db,
        jobs: vec![Box::pin(service.retention_loop(cx.shutdown.clone()))],
        files: None,
    })
}

async fn submission(cx: &Context<'_>, handles: &mut Handles) -> anyhow::Result<Started> {
    let target = cx.config.db_target(Service::Submission.name());
    let store = KeyStore::open(&target, cx.pool)
        .await
        .context("submission database")?;
    let mut sc = cx.config.submission.clone();
    let default = warnkit_submission::SubmissionConfig::default().verification_url;
    local_url(
        cx,
        &mut sc.verification_url,
        default,
        "verification_internal",
    );
    let service = SubmissionService::new(store.clone(), sc, cx.token.to_owned(), cx.clock.clone())?;
    let mut jobs: Vec<Job> = vec![Box::pin(
        service.clone().retention_loop(cx.shutdown.clone()),
    )];
    if cx.config.federation.enabled && cx.schedules {
        jobs.push(federation_job(cx, store.clone()).await?);
    }
    handles.submission = Some(service.clone());
    handles.keys = Some(store.clone());
    Ok(Started {
        routers: vec![("submission", service.router())],
        metrics: vec![service.metrics().clone()],
        db: store.db().clone(),
        jobs,
        files: None,
    })
}

/// The federation's upload and download jobs over the submission service's key store, on their
/// schedule. The key store is shared in one direction each way: own keys out, foreign keys in.
async fn federation_job(cx: &Context<'_>, keys: KeyStore) -> anyhow::Result<Job> {
    let config = cx.config;
    let mut fc = config.federation.clone();
    let default = warnkit_federation::FederationConfig::default().gateway_url;
    local_url(cx, &mut fc.gateway_url, default, "gateway");
    let settings = fc
        .resolve(&config.data_dir, &config.distribution.region)
        .context("federation settings")?;
    let federation = warnkit_federation::Federation::open(
        keys,
        &config.db_target(warnkit_federation::jobs::NAME),
        cx.pool,
        settings,
        cx.clock.clone(),
    )
    .await?;
    tracing::info!(country = federation.country(), gateway = %fc.gateway_url, "federation jobs scheduled");
    let interval = Duration::from_secs(fc.interval_minutes.max(1) * 60);
    Ok(Box::pin(federation.schedule(interval, cx.shutdown.clone())))
}

async fn distribution(cx: &Context<'_>, handles: &mut Handles) -> anyhow::Result<Started> {
    let config = cx.config;
    // The job reads the submission service's key database: the one place two services share data,
    // and only in this direction (keys out, nothing about the uploads).
    let keys = KeyStore::open(&config.db_target(Service::Submission.name()), cx.pool)
        .await
        .context("key database for distribution")?;
    let job =
        Distribution::for_data_dir(keys.clone(), config.distribution.clone(), &config.data_dir)?;
    let metrics = Metrics::new("distribution");
    let job = job.with_metrics(metrics.clone());
    let files = StaticFiles::with_metrics(job.objects().clone(), &metrics);
    let router = ServiceRouter::new(metrics.clone())
        .database(keys.db().clone())
        .openapi(warnkit_distribution::openapi::document())
        .finish(axum::Router::new())
        // Files bypass the per-request metrics and body-limit layers: GETs carry no body, and at CDN
        // rates those layers cost more than serving a small file. A path that is no file, `/metrics`
        // included, is their JSON 404.
        .merge(files.clone().router());
    let mut jobs: Vec<Job> = Vec::new();
    if config.distribution.schedule && cx.schedules {
        let clock = cx.clock.clone();
        jobs.push(Box::pin(job.clone().schedule(clock, cx.shutdown.clone())));
    }
    handles.keys.get_or_insert_with(|| keys.clone());
    handles.distribution = Some(job);
    handles.files = Some(files.clone());
    Ok(Started {
        routers: vec![("distribution", router)],
        metrics: vec![metrics],
        db: keys.db().clone(),
        jobs,
        files: Some(files),
    })
}

/// One distribution run as if it were `now`; then `files` forgets its cache, so that the next request
/// sees this run's indexes (a simulated hour lasts less than the server's revalidation interval).
/// `false` when another run held the lock and nothing happened.
pub async fn publish(
    distribution: &Distribution,
    files: &StaticFiles,
    now: i64,
) -> anyhow::Result<bool> {
    let report = distribution.run_once(now).await?;
    if report.ran {
        files.forget_cached();
    }
    Ok(report.ran)
}
async fn portal(cx: &Context<'_>, handles: &mut Handles) -> anyhow::Result<Started> {
    let target = cx.config.db_target(Service::Portal.name());
    let db = Db::open(&target, cx.pool, &warnkit_portal::MIGRATIONS)
        .await
        .context("portal database")?;
    let mut pc = cx.config.portal.clone();
    let default = warnkit_portal::PortalConfig::default().verification_url;
    local_url(
        cx,
        &mut pc.verification_url,
        default,
        "verification_internal",
    );
    let service = PortalService::new(db.clone(), pc, cx.token.to_owned(), cx.clock.clone())?;
    handles.portal = Some(service.clone());
    Ok(Started {
        routers: vec![("portal", service.router())],
        metrics: vec![service.metrics().clone()],
        db,
        jobs: vec![],
        files: None,
    })
}

async fn gateway(cx: &Context<'_>, handles: &mut Handles) -> anyhow::Result<Started> {
    let target = cx.config.db_target(Service::Gateway.name());
    let db = Db::open(&target, cx.pool, &warnkit_federation::gateway::MIGRATOR)
        .await
        .context("gateway database")?;
    let gateway = Gateway::new(db.clone(), cx.config.gateway.clone(), cx.clock.clone())?;
    handles.gateway = Some(gateway.clone());
    Ok(Started {
        routers: vec![("gateway", gateway.router())],
        metrics: vec![gateway.metrics().clone()],
        db,
        jobs: vec![Box::pin(gateway.retention_loop(cx.shutdown.clone()))],
        files: None,
    })
}
