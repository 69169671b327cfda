//! The demo's backend, in one place: either the node of `warnkit serve` started in this process (the
//! demo's services on free ports, data in the demo's directory, a manual clock, schedules off), or a
//! `warnkit serve --demo-clock` that is already running (`--server`). Either way the simulation sees the
//! same three operations: set the submission clock, run distribution as if it were a given time, and
//! stop.
//!
//! Production (`warnkit serve`) always runs on the system clock; only the demo starts a node on a manual
//! one, and only `serve --demo-clock` (loopback only) lets another process move it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use warnkit_app::Endpoints;
use warnkit_distribution::Distribution;
use warnkit_keystore::KeyStore;
use warnkit_node::{Clock, Listen, Node, RunningNode, Service};
use warnkit_service::keypair::PUBLIC_KEY_FILE;
use warnkit_testresult::TestResultService;

use crate::clock::{ClockRequest, Remote, CONTROL_PATHS};
use warnkit_node::config::Config;

/// The demo's services running in this process: a node, and the objects the demo drives directly.
pub struct Services {
    /// Base URL per listener name.
    pub urls: BTreeMap<&'static str, String>,
    /// The node's clock (submission's).
    pub clock: Clock,
    /// The distribution job, run on demand instead of on its hourly timer.
    pub distribution: Distribution,
    /// The test-result service (the demo's lab key).
    pub testresult: TestResultService,
    /// The submission service's key store (the cross-border demo's federation jobs read and fill it).
    pub keys: KeyStore,
    node: RunningNode,
}

impl Services {
    /// Starts the demo's services ([`Service::DEMO`]) as `config` says, on free ports, on a manual
    /// clock at `now`, with the schedules off (the demo runs distribution itself).
    pub async fn start(config: &Config, now: i64) -> anyhow::Result<Self> {
        let node = Node::builder(config.clone())
            .only(&Service::DEMO)
            .listen(Listen::FreePorts)
            .clock(Clock::manual(now))
            .schedules(false)
            .command("warnkit demo")
            .start()
            .await?;
        let (distribution, _) = node.distribution()?;
        Ok(Self {
            urls: node.urls().clone(),
            clock: node.clock().clone(),
            distribution: distribution.clone(),
            testresult: node.testresult()?.clone(),
            keys: node.keys()?.clone(),
            node,
        })
    }

    /// One distribution run as if it were `now`, then the static server looks at the new files.
    pub async fn distribute(&self, now: i64) -> anyhow::Result<()> {
        self.node.distribute(now).await
    }

    /// Stops the servers and closes the databases.
    pub async fn stop(self) {
        self.node.stop().await;
    }
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
        let services = Services::start(config, now).await?;
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
