//! The demo's backend: the real services of `warnkit serve`, in this process on free ports, with the
//! submission service on a settable clock and the distribution job run on the simulated clock instead
//! of its hourly timer. Production (`warnkit serve`) always runs on the system clock; only this demo
//! and tests construct services with a manual one.

use std::path::Path;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use warnkit_app::Endpoints;
use warnkit_distribution::{Distribution, DistributionConfig, RunReport, StaticFiles};
use warnkit_service::server::{serve, shutdown_channel, ShutdownTrigger};
use warnkit_store::Db;
use warnkit_submission::{Clock, KeyStore, SubmissionService};
use warnkit_testresult::TestResultService;
use warnkit_verification::VerificationService;

use crate::config::Config;

/// A running in-process backend.
pub struct Backend {
    /// App-facing base URLs.
    pub endpoints: Endpoints,
    /// Base URL of the test-result service (labs post here).
    pub testresult_url: String,
    /// The demo lab's API key.
    pub lab_key: String,
    /// The key phones verify archives with (SPKI PEM).
    pub public_key_pem: String,
    /// The submission service's clock, moved by the simulation.
    pub clock: Clock,
    distribution: Distribution,
    keys: KeyStore,
    trigger: ShutdownTrigger,
    tasks: JoinSet<std::io::Result<()>>,
    dbs: Vec<Db>,
}

async fn listener() -> anyhow::Result<(TcpListener, String)> {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a port")?;
    let url = format!("http://{}", l.local_addr()?);
    Ok((l, url))
}

impl Backend {
    /// Starts every service with its data under `dir`, the submission clock at `now`.
    pub async fn start(dir: &Path, now: i64) -> anyhow::Result<Self> {
        let config = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let token = config.service_token()?;
        let (dist_l, dist_url) = listener().await?;
        let (sub_l, sub_url) = listener().await?;
        let (ver_l, ver_url) = listener().await?;
        let (int_l, int_url) = listener().await?;
        let (tr_l, tr_url) = listener().await?;
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
        let lab_key = testresult
            .create_lab_key("demo-lab")
            .await
            .map_err(|e| anyhow::anyhow!("creating the lab key: {}", e.message))?;
        tasks.spawn(serve(tr_l, testresult.router(), shutdown.clone()));

        let ver_db = Db::open(
            &config.db_target("verification"),
            config.pool(),
            &warnkit_verification::MIGRATIONS,
        )
        .await
        .context("verification database")?;
        let mut vc = config.verification.clone();
        vc.testresult_url = tr_url.clone();
        let verification = VerificationService::new(ver_db.clone(), vc, token.clone())?;
        tasks.spawn(serve(
            ver_l,
            verification.external_router(),
            shutdown.clone(),
        ));
        tasks.spawn(serve(
            int_l,
            verification.internal_router(),
            shutdown.clone(),
        ));

        let keys = KeyStore::open(&config.db_target("submission"), config.pool())
            .await
            .context("submission database")?;
        let mut sc = config.submission.clone();
        sc.verification_url = int_url;
        let clock = Clock::manual(now);
        let submission = SubmissionService::new(keys.clone(), sc, token, clock.clone())?;
        tasks.spawn(serve(sub_l, submission.router(), shutdown.clone()));

        let distribution =
            Distribution::for_data_dir(keys.clone(), DistributionConfig::default(), dir)?;
        let files = StaticFiles::new(distribution.objects().clone());
        tasks.spawn(serve(dist_l, files.router(), shutdown.clone()));
        let public_key_pem = distribution.public_key_pem().to_owned();

        Ok(Self {
            endpoints: Endpoints {
                distribution: dist_url,
                submission: sub_url,
                verification: ver_url,
            },
            testresult_url: tr_url,
            lab_key,
            public_key_pem,
            clock,
            distribution,
            keys,
            trigger,
            tasks,
            dbs: vec![tr_db, ver_db],
        })
    }

    /// One distribution run as if it were `now`.
    pub async fn distribute(&self, now: i64) -> anyhow::Result<RunReport> {
        self.distribution.run_once(now).await
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
