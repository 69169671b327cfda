//! The node builder: which services, on which ports, on which clock, with or without their schedules;
//! and the running node it starts, which stops them again.
//!
//! Every way warnkit runs its backend goes through here: `warnkit serve` (configured ports, system
//! clock, schedules on), `warnkit serve --demo-clock` and the demo's in-process backend (a manual clock,
//! schedules off, the demo driving distribution), the benchmarks and the services' tests (free ports).
//! So each of them gets the same routers (the static fast path, `/health`, `/ready`, `/openapi.json`),
//! the same retention jobs and the same operators' `/metrics` listener.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use warnkit_distribution::{Distribution, StaticFiles};
use warnkit_keystore::KeyStore;
use warnkit_service::metrics_router;
use warnkit_service::server::{
    serve_with, shutdown_channel, ListenerLimits, Shutdown, ShutdownTrigger,
};
use warnkit_service::Clock;
use warnkit_service::Metrics;
use warnkit_store::{Db, InstanceLock, PoolConfig};
use warnkit_testresult::TestResultService;
use warnkit_verification::VerificationService;

use crate::config::Config;
use crate::demo_clock::{self, Control, ControlServices};
use crate::instance::{lock_instance, remove_endpoints, write_endpoints};
use crate::limits::listener_limits;
use crate::service::Service;
use crate::start::{self, publish, Context, Handles};

/// How long [`RunningNode::stop`] lets running requests finish.
const DRAIN: Duration = Duration::from_secs(10);

/// Where the listeners bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// The configured host and ports (`port_base` or `[ports]`).
    Configured,
    /// Free ports on 127.0.0.1 (the demo's own backend, benchmarks, tests).
    FreePorts,
}

/// A node to be started: see [`Node::builder`].
pub struct Node;

impl Node {
    /// A builder for a node as `config` says: by default the services `warnkit serve` runs, on the
    /// configured ports, the system clock, schedules on.
    pub fn builder(config: Config) -> NodeBuilder {
        NodeBuilder {
            config,
            only: None,
            listen: Listen::Configured,
            clock: Clock::system(),
            schedules: true,
            pool: None,
            demo_clock: false,
            command: "warnkit serve".to_owned(),
        }
    }
}

/// What [`Node::builder`] gathers before [`NodeBuilder::start`].
pub struct NodeBuilder {
    config: Config,
    only: Option<Vec<Service>>,
    listen: Listen,
    clock: Clock,
    schedules: bool,
    pool: Option<PoolConfig>,
    demo_clock: bool,
    command: String,
}

impl NodeBuilder {
    /// Runs only `services` (in this order; verification's URL is known to the services after it).
    pub fn only(mut self, services: &[Service]) -> Self {
        self.only = Some(services.to_vec());
        self
    }

    /// Where the listeners bind.
    pub fn listen(mut self, listen: Listen) -> Self {
        self.listen = listen;
        self
    }

    /// The clock of every service, the distribution schedule and the federation jobs.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Whether the distribution and federation jobs run on their timers. Off, the caller runs them
    /// (the demo): the node then holds the distribution-schedule lock itself, so that no `warnkit
    /// distribute` runs beside it. Retention jobs run either way.
    pub fn schedules(mut self, on: bool) -> Self {
        self.schedules = on;
        self
    }

    /// Database pools of this size instead of the configured one.
    pub fn pool(mut self, pool: PoolConfig) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Adds the demo clock control (`demo_clock`, 127.0.0.1 only, the service token required); the
    /// node then refuses a non-loopback host.
    pub fn demo_clock(mut self, on: bool) -> Self {
        self.demo_clock = on;
        self
    }

    /// The command named in the instance locks ("warnkit serve" unless told).
    pub fn command(mut self, command: &str) -> Self {
        command.clone_into(&mut self.command);
        self
    }

    /// Takes the instance locks, binds every listener (a port conflict fails before any service
    /// runs), starts the services and their jobs, and adds the listeners to `endpoints.json`.
    pub async fn start(self) -> anyhow::Result<RunningNode> {
        let config = self.config;
        let selected = self.only.unwrap_or_else(Service::defaults);
        anyhow::ensure!(!selected.is_empty(), "no service to run");
        if self.demo_clock {
            for service in &selected {
                let metrics = service.metrics_listener();
                for listener in service.listeners().iter().chain([&metrics]) {
                    let host = config.host_of(listener)?;
                    anyhow::ensure!(
                        demo_clock::is_loopback(host),
                        "--demo-clock lets a client move the server's clock, so it only listens \
                         on a loopback address; {listener} would listen on {host:?}"
                    );
                }
            }
        }
        config.create_data_dir()?;
        let distributes = selected.contains(&Service::Distribution);
        let schedule_lock = distributes && (!self.schedules || config.distribution.schedule);
        // Held until the node stops, past the removal of its endpoints.
        let locks = lock_instance(&config, &selected, schedule_lock, &self.command)?;
        let token = config.service_token()?;
        let mut bound = BTreeMap::new();
        for service in &selected {
            let metrics = service.metrics_listener();
            for listener in service.listeners().iter().chain([&metrics]) {
                if !bound.contains_key(listener) {
                    bound.insert(*listener, bind(&config, self.listen, listener).await?);
                }
            }
        }
        let mut urls: BTreeMap<&'static str, String> =
            bound.iter().map(|(k, b)| (*k, b.1.clone())).collect();
        // Each service opens one pool; distribution reads the key store through a second, and the
        // federation jobs keep a database of their own.
        let pools = selected.len() + usize::from(config.federation.enabled);
        let limits = listener_limits(&config, bound.len(), pools);
        let pool = self.pool.unwrap_or_else(|| config.pool());
        let (trigger, shutdown) = shutdown_channel();
        let mut tasks = JoinSet::new();
        let mut dbs: Vec<Db> = Vec::new();
        let mut handles = Handles::default();
        let mut registries: BTreeMap<&str, Vec<Metrics>> = BTreeMap::new();
        let cx = Context {
            config: &config,
            token: &token,
            urls: &urls,
            shutdown: &shutdown,
            clock: &self.clock,
            pool,
            schedules: self.schedules,
        };
        for service in &selected {
            let started = match start::start(*service, &cx, &mut handles).await {
                Ok(started) => started,
                Err(e) => {
                    // Stop what already runs, so that its databases close before the error returns.
                    trigger.trigger();
                    while tasks.join_next().await.is_some() {}
                    for db in dbs {
                        db.close().await;
                    }
                    return Err(e.context(format!("starting {service}")));
                }
            };
            registries
                .entry(service.metrics_listener())
                .or_default()
                .extend(started.metrics);
            for (listener, router) in started.routers {
                let (socket, url) = bound
                    .remove(listener)
                    .context("listener bound for every router")?;
                tracing::info!(service = listener, url = %url, backend = started.db.backend().name(), max_connections = limits.max_connections, "listening");
                match (&started.files, listener) {
                    // Published files take the static server's own fast path; the port's other
                    // routes (and anything that is not a plain GET or HEAD of a file) still go
                    // through `router`.
                    (Some(files), "distribution") => {
                        let files = files.clone();
                        tasks.spawn(files.serve_with(socket, router, shutdown.clone(), limits));
                    }
                    _ => {
                        tasks.spawn(serve_with(socket, router, shutdown.clone(), limits));
                    }
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
            let (socket, url) = bound
                .remove(listener)
                .context("metrics listener bound for every service")?;
            tracing::info!(service = listener, url = %url, max_connections = limits.max_connections, "listening (internal: operators' metrics)");
            let router = metrics_router(registries);
            tasks.spawn(serve_with(socket, router, shutdown.clone(), limits));
        }
        let mut node = RunningNode {
            config,
            selected,
            urls: BTreeMap::new(),
            token,
            clock: self.clock,
            handles,
            trigger,
            shutdown,
            tasks,
            dbs,
            limits,
            _locks: locks,
        };
        if self.demo_clock {
            let url = node.start_demo_clock().await?;
            urls.insert("demo_clock", url);
        }
        write_endpoints(&node.config, &urls)?;
        node.urls = urls;
        tracing::info!(services = ?node.selected.iter().map(|s| s.name()).collect::<Vec<_>>(), data_dir = %node.config.data_dir.display(), "warnkit serving");
        Ok(node)
    }
}

/// A listener bound for `name` as `listen` says, and its URL.
async fn bind(
    config: &Config,
    listen: Listen,
    name: &str,
) -> anyhow::Result<(TcpListener, String)> {
    let addr = match listen {
        Listen::Configured => {
            let host = config.host_of(name)?;
            // An IPv6 address goes in brackets before its port.
            if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{}", config.port(name)?)
            } else {
                format!("{host}:{}", config.port(name)?)
            }
        }
        Listen::FreePorts => "127.0.0.1:0".to_owned(),
    };
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {name} to {addr}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    Ok((listener, url))
}

/// A started node: its services' objects and URLs, until [`RunningNode::stop`].
pub struct RunningNode {
    config: Config,
    selected: Vec<Service>,
    urls: BTreeMap<&'static str, String>,
    token: String,
    clock: Clock,
    handles: Handles,
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
    tasks: JoinSet<std::io::Result<()>>,
    dbs: Vec<Db>,
    limits: ListenerLimits,
    _locks: Vec<InstanceLock>,
}

impl RunningNode {
    /// The base URL of every listener, by listener name (`metrics` and `demo_clock` included).
    pub fn urls(&self) -> &BTreeMap<&'static str, String> {
        &self.urls
    }

    /// The base URL of listener `name`.
    ///
    /// # Errors
    /// When this node does not serve `name`.
    pub fn url(&self, name: &str) -> anyhow::Result<&str> {
        self.urls
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("this node serves no {name} listener"))
    }

    /// The services it runs.
    pub fn services(&self) -> &[Service] {
        &self.selected
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The service-to-service token (also the demo clock control's).
    pub fn service_token(&self) -> &str {
        &self.token
    }

    /// The clock given to [`NodeBuilder::clock`].
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Every running service's object.
    pub fn handles(&self) -> &Handles {
        &self.handles
    }

    /// The test-result service, when it runs here.
    pub fn testresult(&self) -> anyhow::Result<&TestResultService> {
        self.handles
            .testresult
            .as_ref()
            .context("testresult does not run on this node")
    }

    /// The verification service, when it runs here.
    pub fn verification(&self) -> anyhow::Result<&VerificationService> {
        self.handles
            .verification
            .as_ref()
            .context("verification does not run on this node")
    }

    /// The key store, when submission or distribution runs here.
    pub fn keys(&self) -> anyhow::Result<&KeyStore> {
        self.handles
            .keys
            .as_ref()
            .context("no key store on this node (neither submission nor distribution runs)")
    }

    /// The distribution job and the static server's cache, when distribution runs here.
    pub fn distribution(&self) -> anyhow::Result<(&Distribution, &StaticFiles)> {
        match (&self.handles.distribution, &self.handles.files) {
            (Some(job), Some(files)) => Ok((job, files)),
            _ => bail!("distribution does not run on this node"),
        }
    }

    /// One distribution run as if it were `now`, then the static server looks at the new files.
    pub async fn distribute(&self, now: i64) -> anyhow::Result<()> {
        let (job, files) = self.distribution()?;
        anyhow::ensure!(
            publish(job, files, now).await?,
            "another distribution run held the lock; the hour would go unpublished"
        );
        Ok(())
    }

    /// The signal the node's servers stop on, for more servers that should stop with them.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Runs `fut` (another server) until the node stops; its end counts as a failure like a server's.
    pub fn spawn(
        &mut self,
        fut: impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
    ) {
        self.tasks.spawn(fut);
    }

    /// Waits until a server or job ends, which is always a failure: they run until stopped.
    pub async fn failed(&mut self) -> anyhow::Result<()> {
        match self.tasks.join_next().await {
            Some(r) => {
                r.context("server task panicked")?
                    .context("server failed")?;
                bail!("a server stopped on its own")
            }
            None => bail!("no server running"),
        }
    }

    /// Stops the servers and jobs (running requests get [`DRAIN`] to finish), closes the databases
    /// and removes this node's entries from `endpoints.json`; the instance locks go last.
    pub async fn stop(mut self) {
        self.trigger.trigger();
        let drained = tokio::time::timeout(DRAIN, async {
            while let Some(result) = self.tasks.join_next().await {
                if let Ok(Err(e)) = result {
                    tracing::warn!(error = %e, "server ended with an error");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("requests still running after 10 s; stopping anyway");
            self.tasks.abort_all();
        }
        for db in &self.dbs {
            db.close().await;
        }
        remove_endpoints(&self.config, &self.urls);
        tracing::info!("stopped");
    }

    /// Binds the demo clock control on 127.0.0.1 and serves it until the node stops; its URL.
    async fn start_demo_clock(&mut self) -> anyhow::Result<String> {
        let (distribution, files) = self
            .distribution()
            .context("the demo clock control drives distribution")?;
        let control = Control {
            token: self.token.as_str().into(),
            clock: self.clock.clone(),
            services: Arc::new(ControlServices {
                distribution: distribution.clone(),
                files: files.clone(),
                testresult: self
                    .testresult()
                    .context("the demo clock control hands out lab keys")?
                    .clone(),
            }),
            last_run: Arc::new(Mutex::new(None)),
        };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the demo clock control")?;
        let url = format!("http://{}", listener.local_addr()?);
        let router = demo_clock::router(control);
        let serving = serve_with(listener, router, self.shutdown(), self.limits);
        self.tasks.spawn(serving);
        tracing::warn!(
            data_dir = %self.config.data_dir.display(),
            control = %url,
            "serving on a demo clock: submission time and distribution runs are set by `warnkit demo --server`"
        );
        Ok(url)
    }
}
