//! The demo's backend, in one place: either the real services of `warnkit serve` started in this
//! process (free ports, data in a temporary directory), or a `warnkit serve --demo-clock` that is
//! already running (`--server`). Either way the simulation sees the same three operations: set the
//! submission clock, run distribution as if it were a given time, and stop.
//!
//! Production (`warnkit serve`) always runs on the system clock; only this module constructs services
//! with a manual one, and only `serve --demo-clock` (loopback only) lets another process move it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use warnkit_app::Endpoints;
use warnkit_distribution::{Distribution, StaticFiles};
use warnkit_service::keypair::PUBLIC_KEY_FILE;
use warnkit_service::metrics_router;
use warnkit_service::server::{serve_with, shutdown_channel, Shutdown, ShutdownTrigger};
use warnkit_store::Db;
use warnkit_submission::{Clock, KeyStore, SubmissionService};
use warnkit_testresult::TestResultService;
use warnkit_verification::VerificationService;

use super::clock::{ClockRequest, CONTROL_PATHS};
use crate::config::Config;

/// The listeners the demo's backend serves, in the contract's naming; as in `warnkit serve`, the
/// services' metrics only on the internal `metrics` listener.
pub const LISTENERS: [&str; 6] = [
    "distribution",
    "submission",
    "verification",
    "verification_internal",
    "testresult",
    "metrics",
];

/// Where the services listen.
pub enum Listen {
    /// Free ports on 127.0.0.1 (the demo's own backend).
    FreePorts,
    /// The configured host and ports (`warnkit serve --demo-clock`).
    Configured,
}

/// The real services running in this process, their clock and the distribution job.
pub struct Services {
    /// Base URL per listener name.
    pub urls: BTreeMap<&'static str, String>,
    /// The submission service's clock.
    pub clock: Clock,
    /// The distribution job, run on demand instead of on its hourly timer.
    pub distribution: Distribution,
    /// The static server's cache, forgotten after every run: a simulated hour lasts less than the
    /// server's revalidation interval, so without that phones would see indexes hours old.
    pub files: StaticFiles,
    /// The test-result service (lab keys for a demo driving a separate process).
    pub testresult: TestResultService,
    /// The submission service's key store (the cross-border demo's federation jobs read and fill it).
    pub keys: KeyStore,
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
    tasks: JoinSet<std::io::Result<()>>,
    dbs: Vec<Db>,
}

async fn bind(
    config: &Config,
    listen: &Listen,
    name: &str,
) -> anyhow::Result<(TcpListener, String)> {
    let addr = match listen {
        Listen::FreePorts => "127.0.0.1:0".to_owned(),
        Listen::Configured => format!("{}:{}", config.host, config.port(name)?),
    };
    let l = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {name} to {addr}"))?;
    let url = format!("http://{}", l.local_addr()?);
    Ok((l, url))
}

impl Services {
    /// Starts testresult, verification, submission (on a manual clock at `now`) and the static
    /// server, with their data where `config` says.
    pub async fn start(config: &Config, listen: Listen, now: i64) -> anyhow::Result<Self> {
        config.create_data_dir()?;
        let token = config.service_token()?;
        let mut listeners = BTreeMap::new();
        for name in LISTENERS {
            listeners.insert(name, bind(config, &listen, name).await?);
        }
        let urls: BTreeMap<&'static str, String> = listeners
            .iter()
            .map(|(k, (_, u))| (*k, u.clone()))
            .collect();
        let mut take = |name: &str| listeners.remove(name).map(|(l, _)| l).context("bound");
        // Three pools: test results, verification, the key store.
        let limits = crate::cmd::serve::listener_limits(config, LISTENERS.len(), 3);
        let (trigger, shutdown) = shutdown_channel();
        let mut tasks = JoinSet::new();

        let tr_db = Db::open(
            &config.db_target(warnkit_testresult::NAME),
            config.pool(),
            &warnkit_testresult::MIGRATIONS,
        )
        .await
        .context("testresult database")?;
        let testresult =
            TestResultService::new(tr_db.clone(), config.testresult.clone(), token.clone());
        tasks.spawn(serve_with(
            take("testresult")?,
            testresult.router(),
            shutdown.clone(),
            limits,
        ));

        let ver_db = Db::open(
            &config.db_target("verification"),
            config.pool(),
            &warnkit_verification::MIGRATIONS,
        )
        .await
        .context("verification database")?;
        let mut vc = config.verification.clone();
        vc.testresult_url = urls["testresult"].clone();
        let verification = VerificationService::new(ver_db.clone(), vc, token.clone())?;
        let external = verification.external_router();
        tasks.spawn(serve_with(
            take("verification")?,
            external,
            shutdown.clone(),
            limits,
        ));
        let internal = verification.internal_router();
        tasks.spawn(serve_with(
            take("verification_internal")?,
            internal,
            shutdown.clone(),
            limits,
        ));

        let keys = KeyStore::open(&config.db_target("submission"), config.pool())
            .await
            .context("submission database")?;
        let mut sc = config.submission.clone();
        sc.verification_url = urls["verification_internal"].clone();
        let clock = Clock::manual(now);
        let submission = SubmissionService::new(keys.clone(), sc, token, clock.clone())?;
        tasks.spawn(serve_with(
            take("submission")?,
            submission.router(),
            shutdown.clone(),
            limits,
        ));

        let distribution = Distribution::for_data_dir(
            keys.clone(),
            config.distribution.clone(),
            &config.data_dir,
        )?;
        let files = StaticFiles::new(distribution.objects().clone());
        let router = files.clone().router();
        tasks.spawn(serve_with(
            take("distribution")?,
            router,
            shutdown.clone(),
            limits,
        ));

        let mut registries = vec![testresult.metrics().clone(), submission.metrics().clone()];
        registries.extend(verification.metrics().map(Clone::clone));
        tasks.spawn(serve_with(
            take("metrics")?,
            metrics_router(registries),
            shutdown.clone(),
            limits,
        ));

        Ok(Self {
            urls,
            clock,
            distribution,
            files,
            testresult,
            keys,
            trigger,
            shutdown,
            tasks,
            dbs: vec![tr_db, ver_db],
        })
    }

    /// One distribution run as if it were `now`, then the static server looks at the new files.
    pub async fn distribute(&self, now: i64) -> anyhow::Result<()> {
        anyhow::ensure!(
            publish(&self.distribution, &self.files, now).await?,
            "another distribution run held the lock; the demo's hour would go unpublished"
        );
        Ok(())
    }

    /// A shutdown signal for more servers that should stop with these.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Runs `fut` (another server) until the services stop.
    pub fn spawn(
        &mut self,
        fut: impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
    ) {
        self.tasks.spawn(fut);
    }

    /// Waits until a server task ends, which is always a failure: they run until stopped.
    pub async fn failed(&mut self) -> anyhow::Result<()> {
        match self.tasks.join_next().await {
            Some(r) => {
                r.context("server task panicked")?
                    .context("server failed")?;
                bail!("a server stopped")
            }
            None => bail!("no server running"),
        }
    }

    /// Stops the servers and closes the databases.
    pub async fn stop(mut self) {
        self.trigger.trigger();
        while self.tasks.join_next().await.is_some() {}
        for db in self.dbs {
            db.close().await;
        }
        self.keys.db().close().await;
    }
}

/// One distribution run as if it were `now`; then `files` forgets its cache, so that the next
/// request sees this run's indexes. `false` when another run held the lock and nothing happened.
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

/// Where `--server` points: the app-facing base URLs, the test-result service, the clock control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Base URL per listener (`distribution`, `submission`, `verification`, `testresult`,
    /// `demo_clock`).
    pub urls: BTreeMap<String, String>,
    /// The server's data directory, when known (public key and service token are read from it).
    pub data_dir: Option<PathBuf>,
}

impl ServerSpec {
    /// Parses `--server`: a data directory or `endpoints.json` of `warnkit serve --demo-clock`, or
    /// `name=URL,...` pairs.
    pub fn parse(value: &str) -> anyhow::Result<Self> {
        if value.contains('=') {
            let mut urls = BTreeMap::new();
            for pair in value.split(',').filter(|p| !p.is_empty()) {
                let (name, url) = pair
                    .split_once('=')
                    .with_context(|| format!("--server: {pair:?} is not name=URL"))?;
                anyhow::ensure!(
                    url.starts_with("http://") || url.starts_with("https://"),
                    "--server: {name}={url:?} is not an http(s) URL"
                );
                urls.insert(name.trim().to_owned(), url.trim_end_matches('/').to_owned());
            }
            return Self::checked(urls, None);
        }
        let path = Path::new(value);
        let (file, dir) = if path.is_dir() {
            (path.join("endpoints.json"), path.to_path_buf())
        } else {
            let parent = path.parent().unwrap_or(Path::new("."));
            (path.to_path_buf(), parent.to_path_buf())
        };
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "--server: reading {} (is `warnkit serve --demo-clock` running there?)",
                file.display()
            )
        })?;
        let map: BTreeMap<String, String> = serde_json::from_str(&text)
            .with_context(|| format!("--server: {} is not an endpoints file", file.display()))?;
        let urls = map
            .into_iter()
            .map(|(k, v)| (k, v.trim_end_matches('/').to_owned()))
            .collect();
        Self::checked(urls, Some(dir))
    }

    fn checked(urls: BTreeMap<String, String>, data_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        for name in ["distribution", "submission", "verification", "testresult"] {
            anyhow::ensure!(urls.contains_key(name), "--server: no {name} URL");
        }
        anyhow::ensure!(
            urls.contains_key("demo_clock"),
            "--server: no demo_clock URL; the demo moves the server's clock, so start the server \
             with `warnkit serve --demo-clock` (loopback only)"
        );
        Ok(Self { urls, data_dir })
    }
}

/// How the demo reaches a server it did not start.
struct Remote {
    control: String,
    token: String,
    client: reqwest::Client,
}

impl Remote {
    async fn post(
        &self,
        path: &str,
        body: Option<ClockRequest>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.control);
        let mut request = self.client.post(&url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        if !r.status().is_success() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            bail!("POST {url}: {status}: {text}");
        }
        Ok(r)
    }
}

enum Inner {
    Local(Box<Services>),
    Remote(Remote),
}

/// The backend the demo drives.
pub struct Backend {
    /// App-facing base URLs.
    pub endpoints: Endpoints,
    /// Base URL of the test-result service (labs post here).
    pub testresult_url: String,
    /// The demo lab's API key.
    pub lab_key: String,
    /// The key phones verify archives with (SPKI PEM).
    pub public_key_pem: String,
    inner: Inner,
}

/// The phones' endpoints and the labs' URL, from the listeners' URLs by name.
fn endpoints(url: impl Fn(&str) -> String) -> (Endpoints, String) {
    let endpoints = Endpoints {
        distribution: url("distribution"),
        submission: url("submission"),
        verification: url("verification"),
    };
    (endpoints, url("testresult"))
}

/// What `--server` needs besides the URLs, each read from the data directory when not given.
#[derive(Debug, Clone, Default)]
pub struct RemoteOptions {
    /// The bearer token of the clock control (the server's service token).
    pub token: Option<String>,
    /// The public key (PEM) archives are signed with.
    pub public_key_pem: Option<String>,
}

impl Backend {
    /// Starts every service in this process with its data under `dir`, the submission clock at `now`.
    pub async fn start(dir: &Path, now: i64) -> anyhow::Result<Self> {
        let config = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        Self::start_with(&config, now).await
    }

    /// Starts every service in this process as `config` says (data directory, region, origin), on free
    /// ports, the submission clock at `now`.
    pub async fn start_with(config: &Config, now: i64) -> anyhow::Result<Self> {
        let services = Services::start(config, Listen::FreePorts, now).await?;
        let lab_key = services
            .testresult
            .create_lab_key("demo-lab")
            .await
            .map_err(|e| anyhow::anyhow!("creating the lab key: {}", e.message))?;
        let (endpoints, testresult_url) = endpoints(|name| services.urls[name].clone());
        Ok(Self {
            endpoints,
            testresult_url,
            lab_key,
            public_key_pem: services.distribution.public_key_pem().to_owned(),
            inner: Inner::Local(Box::new(services)),
        })
    }

    /// Connects to a running `warnkit serve --demo-clock`.
    pub async fn connect(spec: &ServerSpec, options: RemoteOptions) -> anyhow::Result<Self> {
        let from_dir = |name: &std::path::Path| -> anyhow::Result<Option<String>> {
            let Some(dir) = &spec.data_dir else {
                return Ok(None);
            };
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("--server: reading {}", path.display()))?;
            Ok(Some(text.trim().to_owned()))
        };
        let token = match options.token {
            Some(t) => t,
            None => from_dir("service-token".as_ref())?
                .context("--server with URLs needs --demo-token (the server's service token)")?,
        };
        let public_key_pem = match options.public_key_pem {
            Some(p) => p,
            None => from_dir(&std::path::Path::new("signing").join(PUBLIC_KEY_FILE))?
                .context("--server with URLs needs --public-key (the server's signing key)")?,
        };
        let remote = Remote {
            control: spec.urls["demo_clock"].clone(),
            token,
            client: reqwest::Client::new(),
        };
        let lab_key = remote
            .post(CONTROL_PATHS.lab_key, None)
            .await
            .context("asking the demo clock control for a lab key")?
            .text()
            .await
            .context("reading the lab key")?;
        let (endpoints, testresult_url) = endpoints(|name| spec.urls[name].clone());
        Ok(Self {
            endpoints,
            testresult_url,
            lab_key: lab_key.trim().to_owned(),
            public_key_pem,
            inner: Inner::Remote(remote),
        })
    }

    /// Sets the submission service's clock.
    pub async fn set_clock(&self, now: i64) -> anyhow::Result<()> {
        match &self.inner {
            Inner::Local(s) => {
                s.clock.set(now);
                Ok(())
            }
            Inner::Remote(r) => r
                .post(CONTROL_PATHS.clock, Some(ClockRequest { now }))
                .await
                .map(drop),
        }
    }

    /// One distribution run as if it were `now`; files are served as soon as this returns.
    pub async fn distribute(&self, now: i64) -> anyhow::Result<()> {
        match &self.inner {
            Inner::Local(s) => s.distribute(now).await,
            Inner::Remote(r) => r
                .post(CONTROL_PATHS.distribute, Some(ClockRequest { now }))
                .await
                .map(drop),
        }
    }

    /// The services of a backend started in this process (`None` for `--server`).
    pub fn local(&self) -> Option<&Services> {
        match &self.inner {
            Inner::Local(s) => Some(s),
            Inner::Remote(_) => None,
        }
    }

    /// Stops the in-process services (a server the demo did not start keeps running).
    pub async fn stop(self) {
        if let Inner::Local(s) = self.inner {
            s.stop().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let s = ServerSpec::parse(
            "distribution=http://a:1/,submission=http://a:2,verification=http://a:3,\
             testresult=http://a:4,demo_clock=http://a:5",
        )
        .unwrap();
        assert_eq!(s.urls["distribution"], "http://a:1");
        assert_eq!(s.data_dir, None);
        let err = ServerSpec::parse("distribution=http://a:1,submission=http://a:2,verification=http://a:3,testresult=http://a:4")
            .unwrap_err();
        assert!(err.to_string().contains("--demo-clock"), "{err}");
        assert!(ServerSpec::parse("distribution=ftp://x").is_err());
        let err = ServerSpec::parse("/nonexistent/dir").unwrap_err();
        assert!(format!("{err:#}").contains("--demo-clock"), "{err:#}");
    }
}
