//! `warnkit serve`: every backend service in one process, each on its own port, talking HTTP to each other
//! exactly as separate deployments would.
//!
//! No service serves its metrics on its own port: phones, labs, officers and other countries reach those,
//! and the counters tell real requests from fake ones. The metrics of every service in the process are
//! served together on one internal listener instead, `metrics` (the gateway's on `gateway_metrics`, so
//! that a backend and a gateway on one machine do not collide).
//!
//! One data directory has one runner per service: each service a `warnkit serve` runs is an exclusive
//! lock, `DATA_DIR/locks/serve-<service>.lock`, and the distribution schedule another,
//! `locks/distribution-schedule.lock`, all taken before anything is bound. Processes that split the
//! services between them (`--only`) share `endpoints.json`: each adds its own listeners and on the way
//! out removes only those.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use warnkit_distribution::{Distribution, StaticFiles};
use warnkit_service::server::{
    serve_with, shutdown_channel, termination_signal, ListenerLimits, Shutdown, MIN_CONNECTIONS,
};
use warnkit_service::{metrics_router, Metrics};
use warnkit_store::Db;
use warnkit_submission::{Clock, KeyStore, SubmissionService};
use warnkit_testresult::TestResultService;
use warnkit_verification::VerificationService;

use crate::config::{Config, ConfigArgs};

mod instance;

pub(crate) use instance::{
    holder_pid, lock_instance, read_endpoints, remove_endpoints, schedule_lock_path,
    service_lock_path, service_names, write_endpoints,
};

/// Services of the contract, in port order; `true` where this binary has it already. Adding a service is
/// flipping its flag here and one arm in [`start_service`].
const SERVICES: [(&str, bool); 6] = [
    ("distribution", true),
    ("submission", true),
    ("verification", true),
    ("testresult", true),
    ("portal", true),
    ("gateway", true),
];

/// Services started only when named: a country's backend does not run the federation gateway.
const OPT_IN: [&str; 1] = ["gateway"];

/// Arguments of `warnkit serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Run only these services (comma-separated), e.g. `--only verification,testresult`.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    only: Vec<String>,
    /// Listen on N, N+1, ... in the contract's order: distribution, submission, verification,
    /// testresult, portal, verification_internal, gateway, metrics, gateway_metrics.
    #[arg(long, value_name = "N")]
    port_base: Option<u16>,
    /// Log one JSON object per line.
    #[arg(long)]
    log_json: bool,
    /// Serve the demo's backend with its clock set by `warnkit demo --server` (loopback only).
    #[arg(long)]
    demo_clock: bool,
}

/// Runs `warnkit serve` until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(&args.config)?;
    if args.port_base.is_some() {
        config.port_base = args.port_base;
    }
    config.log.json |= args.log_json;
    init_logging(&config)?;
    if args.demo_clock {
        return super::demo::serve_demo_clock(config, &args.only);
    }
    let selected = select(&args.only)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(serve_all(config, selected))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs only the services `names`, as `serve --only` would: for the commands that are one service
/// (`warnkit gateway`).
pub fn run_only(
    config_args: &ConfigArgs,
    port_base: Option<u16>,
    log_json: bool,
    names: &[&str],
) -> anyhow::Result<ExitCode> {
    run(ServeArgs {
        config: config_args.clone(),
        only: names.iter().map(|n| (*n).to_owned()).collect(),
        port_base,
        log_json,
        demo_clock: false,
    })
}

/// Installs the `tracing` subscriber: text or JSON to stderr, filtered by `WARNKIT_LOG` or the config.
pub fn init_logging(config: &Config) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("WARNKIT_LOG")
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .context("invalid log filter")?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let result = if config.log.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A subscriber that is already installed (tests, repeated calls) is fine.
    drop(result);
    Ok(())
}

fn select(only: &[String]) -> anyhow::Result<Vec<&'static str>> {
    if only.is_empty() {
        return Ok(SERVICES
            .iter()
            .filter(|s| s.1 && !OPT_IN.contains(&s.0))
            .map(|s| s.0)
            .collect());
    }
    let mut selected = Vec::new();
    for name in only {
        match SERVICES.iter().find(|s| s.0 == name.as_str()) {
            Some((name, true)) => selected.push(*name),
            Some((name, false)) => bail!("service {name} is not part of this build yet"),
            None => bail!("unknown service {name:?} (known: distribution, submission, verification, testresult, portal, gateway)"),
        }
    }
    Ok(selected)
}

/// One bound listener and what it serves.
struct Bound {
    listener: TcpListener,
    url: String,
}

async fn bind(config: &Config, name: &str) -> anyhow::Result<Bound> {
    let addr = format!("{}:{}", config.host, config.port(name)?);
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {name} to {addr}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    Ok(Bound { listener, url })
}

/// The listener names of a service (verification has two).
fn listeners_of(service: &str) -> &'static [&'static str] {
    match service {
        "verification" => &["verification", "verification_internal"],
        "testresult" => &["testresult"],
        "distribution" => &["distribution"],
        "submission" => &["submission"],
        "gateway" => &["gateway"],
        _ => &["portal"],
    }
}

/// The internal listener that serves a service's metrics.
fn metrics_listener_of(service: &str) -> &'static str {
    match service {
        "gateway" => "gateway_metrics",
        _ => "metrics",
    }
}

/// What a started service hands back: its routers per listener, its database, its background jobs.
struct Started {
    routers: Vec<(&'static str, axum::Router)>,
    /// The registries its routers count in, served by none of them.
    metrics: Vec<Metrics>,
    db: Db,
    jobs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    /// The distribution's published files: its listener serves them on the static fast path, from the
    /// same cache its router falls back to.
    files: Option<StaticFiles>,
}

async fn start_service(
    name: &str,
    config: &Config,
    token: &str,
    urls: &BTreeMap<&str, String>,
    shutdown: &Shutdown,
) -> anyhow::Result<Started> {
    let target = config.db_target(name);
    match name {
        "testresult" => {
            let db = Db::open(&target, config.pool(), &warnkit_testresult::MIGRATIONS)
                .await
                .context("testresult database")?;
            let service =
                TestResultService::new(db.clone(), config.testresult.clone(), token.to_owned());
            Ok(Started {
                routers: vec![("testresult", service.router())],
                metrics: vec![service.metrics().clone()],
                db,
                jobs: vec![Box::pin(service.retention_loop(shutdown.clone()))],
                files: None,
            })
        }
        "verification" => {
            let db = Db::open(&target, config.pool(), &warnkit_verification::MIGRATIONS)
                .await
                .context("verification database")?;
            let mut vc = config.verification.clone();
            // In one process the test-result service's real address wins over the default URL.
            if let Some(url) = urls.get("testresult") {
                if vc.testresult_url
                    == warnkit_verification::VerificationConfig::default().testresult_url
                {
                    vc.testresult_url = url.clone();
                }
            }
            let service = VerificationService::new(db.clone(), vc, token.to_owned())?;
            Ok(Started {
                routers: vec![
                    ("verification", service.external_router()),
                    ("verification_internal", service.internal_router()),
                ],
                metrics: service.metrics().map(Clone::clone).to_vec(),
                db,
                jobs: vec![Box::pin(service.retention_loop(shutdown.clone()))],
                files: None,
            })
        }
        "submission" => {
            let store = KeyStore::open(&target, config.pool())
                .await
                .context("submission database")?;
            let mut sc = config.submission.clone();
            // In one process the verification service's real internal address wins over the default URL.
            if let Some(url) = urls.get("verification_internal") {
                if sc.verification_url
                    == warnkit_submission::SubmissionConfig::default().verification_url
                {
                    sc.verification_url = url.clone();
                }
            }
            let service =
                SubmissionService::new(store.clone(), sc, token.to_owned(), Clock::system())?;
            let router = service.router();
            let metrics = service.metrics().clone();
            let mut jobs: Vec<Job> = vec![Box::pin(service.retention_loop(shutdown.clone()))];
            if config.federation.enabled {
                jobs.push(federation_job(config, store.clone(), urls, shutdown).await?);
            }
            Ok(Started {
                routers: vec![("submission", router)],
                metrics: vec![metrics],
                db: store.db().clone(),
                jobs,
                files: None,
            })
        }
        "distribution" => {
            // The job reads the submission service's key database: the one place two services share
            // data, and only in this direction (keys out, nothing about the uploads).
            let keys = KeyStore::open(&config.db_target("submission"), config.pool())
                .await
                .context("key database for distribution")?;
            let job = Distribution::for_data_dir(
                keys.clone(),
                config.distribution.clone(),
                &config.data_dir,
            )?;
            let metrics = Metrics::new("distribution");
            let job = job.with_metrics(metrics.clone());
            let files = StaticFiles::with_metrics(job.objects().clone(), &metrics);
            let router = warnkit_service::ServiceRouter::new(metrics.clone())
                .database(keys.db().clone())
                .openapi(warnkit_distribution::openapi::document())
                .finish(axum::Router::new())
                // Files bypass the per-request metrics and body-limit layers: GETs carry no body,
                // and at CDN rates those layers cost more than serving a small file. A path that is
                // no file, `/metrics` included, is their JSON 404.
                .merge(files.clone().router());
            Ok(Started {
                routers: vec![("distribution", router)],
                metrics: vec![metrics],
                db: keys.db().clone(),
                jobs: if config.distribution.schedule {
                    vec![Box::pin(
                        job.schedule(warnkit_store::unix_now, shutdown.clone()),
                    )]
                } else {
                    vec![]
                },
                files: Some(files),
            })
        }
        "portal" => {
            let db = Db::open(&target, config.pool(), &warnkit_portal::MIGRATIONS)
                .await
                .context("portal database")?;
            let mut pc = config.portal.clone();
            // In one process the verification service's real internal address wins over the default URL.
            if let Some(url) = urls.get("verification_internal") {
                if pc.verification_url == warnkit_portal::PortalConfig::default().verification_url {
                    pc.verification_url = url.clone();
                }
            }
            let service = warnkit_portal::PortalService::new(
                db.clone(),
                pc,
                token.to_owned(),
                warnkit_portal::Clock::system(),
            )?;
            Ok(Started {
                routers: vec![("portal", service.router())],
                metrics: vec![service.metrics().clone()],
                db,
                jobs: vec![],
                files: None,
            })
        }
        "gateway" => {
            let db = Db::open(
                &target,
                config.pool(),
                &warnkit_federation::gateway::MIGRATOR,
            )
            .await
            .context("gateway database")?;
            let gateway = warnkit_federation::Gateway::new(
                db.clone(),
                config.gateway.clone(),
                Clock::system(),
            )?;
            Ok(Started {
                routers: vec![("gateway", gateway.router())],
                metrics: vec![gateway.metrics().clone()],
                db,
                jobs: vec![Box::pin(gateway.retention_loop(shutdown.clone()))],
                files: None,
            })
        }
        other => bail!("service {other} is not part of this build yet"),
    }
}

/// A scheduled background job of a service.
type Job = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The federation's upload and download jobs over the submission service's key store, on their
/// schedule. The key store is shared in one direction each way: own keys out, foreign keys in.
async fn federation_job(
    config: &Config,
    keys: KeyStore,
    urls: &BTreeMap<&str, String>,
    shutdown: &Shutdown,
) -> anyhow::Result<Job> {
    let mut fc = config.federation.clone();
    // A gateway in this process wins over the default URL, as for the other services.
    if let Some(url) = urls.get("gateway") {
        if fc.gateway_url == warnkit_federation::FederationConfig::default().gateway_url {
            fc.gateway_url = url.clone();
        }
    }
    let settings = fc
        .resolve(&config.data_dir, &config.distribution.region)
        .context("federation settings")?;
    let federation = warnkit_federation::Federation::open(
        keys,
        &config.db_target(warnkit_federation::jobs::NAME),
        config.pool(),
        settings,
        Clock::system(),
    )
    .await?;
    tracing::info!(country = federation.country(), gateway = %fc.gateway_url, "federation jobs scheduled");
    let interval = Duration::from_secs(fc.interval_minutes.max(1) * 60);
    Ok(Box::pin(federation.schedule(interval, shutdown.clone())))
}

async fn serve_all(config: Config, selected: Vec<&'static str>) -> anyhow::Result<()> {
    config.create_data_dir()?;
    // Held until the end of this function, past the removal of our endpoints.
    let _locks = lock_instance(
        &config,
        &selected,
        selected.contains(&"distribution") && config.distribution.schedule,
        "warnkit serve",
    )?;
    let token = config.service_token()?;
    // Bind everything first: a port conflict fails the start before any service runs.
    let mut bound = BTreeMap::new();
    for service in &selected {
        let metrics = metrics_listener_of(service);
        for listener in listeners_of(service).iter().chain([&metrics]) {
            if !bound.contains_key(listener) {
                bound.insert(*listener, bind(&config, listener).await?);
            }
        }
    }
    let urls: BTreeMap<&str, String> = bound.iter().map(|(k, b)| (*k, b.url.clone())).collect();
    // Each service opens one pool; distribution reads the key store through a second, and the
    // federation jobs keep a database of their own.
    let pools = selected.len() + usize::from(config.federation.enabled);
    let limits = listener_limits(&config, bound.len(), pools);
    let (trigger, shutdown) = shutdown_channel();
    let mut tasks = JoinSet::new();
    let mut dbs = Vec::new();
    let mut registries: BTreeMap<&str, Vec<Metrics>> = BTreeMap::new();
    for service in &selected {
        let started = start_service(service, &config, &token, &urls, &shutdown).await?;
        registries
            .entry(metrics_listener_of(service))
            .or_default()
            .extend(started.metrics);
        for (listener, router) in started.routers {
            let b = bound
                .remove(listener)
                .context("listener bound for every router")?;
            tracing::info!(service = listener, url = %b.url, backend = started.db.backend().name(), max_connections = limits.max_connections, "listening");
            if let (Some(files), "distribution") = (&started.files, listener) {
                // Published files take the static server's own fast path; the port's other routes
                // (and anything that is not a plain GET or HEAD of a file) still go through `router`.
                let files = files.clone();
                tasks.spawn(files.serve_with(b.listener, router, shutdown.clone(), limits));
            } else {
                tasks.spawn(serve_with(b.listener, router, shutdown.clone(), limits));
            }
        }
        for job in started.jobs {
            tasks.spawn(async move {
                job.await;
                Ok(())
            });
        }
        dbs.push(started.db);
    }
    for (listener, registries) in registries {
        let b = bound
            .remove(listener)
            .context("metrics listener bound for every service")?;
        tracing::info!(service = listener, url = %b.url, max_connections = limits.max_connections, "listening (internal: operators' metrics)");
        tasks.spawn(serve_with(
            b.listener,
            metrics_router(registries),
            shutdown.clone(),
            limits,
        ));
    }
    write_endpoints(&config, &urls)?;
    tracing::info!(services = ?selected, data_dir = %config.data_dir.display(), "warnkit serving");

    tokio::select! {
        () = termination_signal() => tracing::info!("shutting down"),
        Some(result) = tasks.join_next() => {
            // A server that stops on its own is a failure: stop the rest and report it.
            trigger.trigger();
            result.context("server task panicked")?.context("server failed")?;
        }
    }
    trigger.trigger();
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(result) = tasks.join_next().await {
            if let Ok(Err(e)) = result {
                tracing::warn!(error = %e, "server ended with an error");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("requests still running after 10 s; stopping anyway");
    }
    for db in dbs {
        db.close().await;
    }
    remove_endpoints(&config, &urls);
    tracing::info!("stopped");
    Ok(())
}

/// Descriptors kept for everything but connections: standard streams, the runtime, the listeners, key,
/// log and published files.
const RESERVED_DESCRIPTORS: u64 = 64;
/// Descriptors one database connection may hold (SQLite: the file, its WAL and its shared memory).
const DESCRIPTORS_PER_DB_CONNECTION: u64 = 3;

/// The configured `[listeners]` limits with the cap fitted into the descriptor limit (raised to the
/// hard limit first): `listeners` shares, plus two for the connections the services open to each other
/// (submission and portal to verification, verification to testresult), after `pools` database pools
/// at their size and [`RESERVED_DESCRIPTORS`].
pub(crate) fn listener_limits(config: &Config, listeners: usize, pools: usize) -> ListenerLimits {
    let configured = config.listeners;
    let Some(descriptors) = raise_descriptor_limit() else {
        return configured;
    };
    let reserved = RESERVED_DESCRIPTORS
        + DESCRIPTORS_PER_DB_CONNECTION * u64::from(config.database_max_connections) * pools as u64;
    let shares = listeners + 2;
    let fitted = configured.fitted(descriptors, reserved, shares);
    if descriptors < reserved + (shares * MIN_CONNECTIONS) as u64 {
        tracing::warn!(
            descriptors,
            reserved,
            listeners,
            "the descriptor limit is too low for this many listeners and database connections; raise it \
             (`ulimit -n`, systemd's LimitNOFILE) or lower database_max_connections"
        );
    }
    tracing::info!(
        listeners,
        max_connections = fitted.max_connections,
        configured = configured.max_connections,
        header_timeout_ms = fitted.header_timeout_ms,
        body_timeout_ms = fitted.body_timeout_ms,
        idle_timeout_ms = fitted.idle_timeout_ms,
        "connection limits per listener"
    );
    fitted
}

/// Raises the soft limit on open descriptors to the hard limit, once per process, and logs both: the
/// soft limit in force, `None` when unlimited (or not a Unix).
fn raise_descriptor_limit() -> Option<u64> {
    static RAISED: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *RAISED.get_or_init(|| {
        #[cfg(unix)]
        {
            use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
            let shown =
                |limit: Option<u64>| limit.map_or("unlimited".to_owned(), |n| n.to_string());
            let before = getrlimit(Resource::Nofile);
            let mut soft = before.current;
            if before.current != before.maximum {
                let raised = Rlimit {
                    current: before.maximum,
                    maximum: before.maximum,
                };
                match setrlimit(Resource::Nofile, raised) {
                    Ok(()) => soft = before.maximum,
                    Err(e) => tracing::warn!(error = %e, "raising the descriptor limit failed"),
                }
            }
            tracing::info!(
                before = %shown(before.current),
                soft = %shown(soft),
                hard = %shown(before.maximum),
                "descriptor limit (RLIMIT_NOFILE)"
            );
            soft
        }
        #[cfg(not(unix))]
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection() {
        assert_eq!(
            select(&[]).unwrap(),
            vec![
                "distribution",
                "submission",
                "verification",
                "testresult",
                "portal"
            ]
        );
        assert_eq!(select(&["testresult".into()]).unwrap(), vec!["testresult"]);
        assert_eq!(select(&["portal".into()]).unwrap(), vec!["portal"]);
        assert_eq!(select(&["gateway".into()]).unwrap(), vec!["gateway"]);
        assert!(select(&["nope".into()]).is_err());
    }
}
