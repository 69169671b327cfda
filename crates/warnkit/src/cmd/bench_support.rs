//! What the in-process service benchmarks share: a runtime of their own with the report printed as
//! text or JSON, scratch databases that are removed afterwards, and the services of the TAN and upload
//! path started in this process on loopback listeners.

use std::future::Future;

use anyhow::Context;
use rand::Rng;
use serde::Serialize;
use tokio::net::TcpListener;
use warnkit_service::server::{serve, shutdown_channel, ShutdownTrigger};
use warnkit_store::{unix_now, Db, DbTarget, PoolConfig};
use warnkit_submission::{Clock, KeyStore, SubmissionConfig, SubmissionService};
use warnkit_testresult::{TestResultConfig, TestResultService};
use warnkit_verification::{VerificationConfig, VerificationService};

/// Runs `bench` on a runtime of `threads` workers, then prints its report: as JSON when `json`, else as
/// `text` writes it.
pub(crate) fn run_and_print<R: Serialize>(
    threads: usize,
    json: bool,
    bench: impl Future<Output = anyhow::Result<R>>,
    text: impl FnOnce(&R),
) -> anyhow::Result<std::process::ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("starting tokio")?;
    let report = runtime.block_on(bench)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        text(&report);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Where a benchmark's databases live (SQLite files in a fresh directory, or fresh schemas in the
/// PostgreSQL database at `url`), and how to remove them afterwards.
pub(crate) struct Scratch {
    /// The directory of the SQLite files.
    pub(crate) dir: std::path::PathBuf,
    url: Option<String>,
    prefix: String,
    names: &'static [&'static str],
}

impl Scratch {
    /// Scratch space for the benchmark `bench` with databases called `names`, under a random tag so
    /// runs side by side do not meet.
    pub(crate) fn new(bench: &str, url: Option<String>, names: &'static [&'static str]) -> Self {
        let tag = rand::thread_rng().gen::<u32>();
        Self {
            dir: std::env::temp_dir().join(format!("warnkit-bench-{bench}-{tag:08x}")),
            url,
            prefix: format!("bench_{tag:08x}"),
            names,
        }
    }

    /// Where the database `name` (one of the names given to [`Scratch::new`]) lives.
    pub(crate) fn target(&self, name: &str) -> DbTarget {
        debug_assert!(
            self.names.contains(&name),
            "{name} is not removed afterwards"
        );
        match &self.url {
            Some(url) => DbTarget::Postgres {
                url: url.clone(),
                schema: format!("{}_{name}", self.prefix),
            },
            None => DbTarget::SqliteFile(self.dir.join(format!("{name}.sqlite"))),
        }
    }

    /// Drops the schemas (through `db`, any pool on the server) and deletes the directory.
    pub(crate) async fn remove(&self, db: &Db) {
        if let Db::Postgres(pool) = db {
            for name in self.names {
                let sql = format!("DROP SCHEMA IF EXISTS \"{}_{name}\" CASCADE", self.prefix);
                if let Err(e) = sqlx::query(&sql).execute(pool).await {
                    eprintln!("warning: could not drop a benchmark schema: {e}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A listener on 127.0.0.1 with a free port, and its URL.
pub(crate) async fn bind() -> anyhow::Result<(TcpListener, String)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    Ok((listener, url))
}

/// The names of the databases [`Services::start`] opens, for [`Scratch::new`].
pub(crate) const SERVICE_DATABASES: &[&str] = &["testresult", "verification", "submission"];

/// The test-result, verification and submission services over `scratch`'s databases, each on a loopback
/// listener of its own in this process, wired to each other as `warnkit serve` wires them.
pub(crate) struct Services {
    /// The key store the submission service writes.
    pub(crate) store: KeyStore,
    /// Base URL of the lab API.
    pub(crate) testresult_url: String,
    /// Base URL of verification's app API.
    pub(crate) verification_url: String,
    /// Base URL of the submission service.
    pub(crate) submission_url: String,
    /// The API key of lab `bench-lab`.
    pub(crate) lab_key: String,
    stop: ShutdownTrigger,
}

impl Services {
    /// Opens the databases [`SERVICE_DATABASES`] in `scratch` and starts the three services, verification
    /// with `verification`'s settings (its test-result URL is set here).
    pub(crate) async fn start(
        scratch: &Scratch,
        verification: VerificationConfig,
    ) -> anyhow::Result<Self> {
        let pool = PoolConfig::default();
        let open = |name: &'static str, migrations| async move {
            Db::open(&scratch.target(name), pool, migrations)
                .await
                .with_context(|| format!("{name} database"))
        };
        let trs_db = open("testresult", &warnkit_testresult::MIGRATIONS).await?;
        let vs_db = open("verification", &warnkit_verification::MIGRATIONS).await?;
        let store = KeyStore::open(&scratch.target("submission"), pool)
            .await
            .context("submission database")?;
        let token = warnkit_service::auth::random_secret("bench_");
        let trs_config = TestResultConfig {
            max_body_bytes: 1_000_000,
            ..TestResultConfig::default()
        };
        let testresult = TestResultService::new(trs_db, trs_config, token.clone());
        let (trs_l, testresult_url) = bind().await?;
        let (ext_l, verification_url) = bind().await?;
        let (int_l, internal_url) = bind().await?;
        let (sub_l, submission_url) = bind().await?;
        let vc = VerificationConfig {
            testresult_url: testresult_url.clone(),
            ..verification
        };
        let verification = VerificationService::new(vs_db, vc, token.clone())?;
        let sc = SubmissionConfig {
            verification_url: internal_url,
            ..SubmissionConfig::default()
        };
        let submission = SubmissionService::new(store.clone(), sc, token, Clock::system())?;
        let (stop, shutdown) = shutdown_channel();
        tokio::spawn(serve(trs_l, testresult.router(), shutdown.clone()));
        tokio::spawn(serve(
            ext_l,
            verification.external_router(),
            shutdown.clone(),
        ));
        tokio::spawn(serve(
            int_l,
            verification.internal_router(),
            shutdown.clone(),
        ));
        tokio::spawn(serve(sub_l, submission.router(), shutdown));
        let lab_key = testresult.create_lab_key("bench-lab").await?;
        Ok(Self {
            store,
            testresult_url,
            verification_url,
            submission_url,
            lab_key,
            stop,
        })
    }

    /// Stops the servers (in-flight requests finish).
    pub(crate) fn stop(&self) {
        self.stop.trigger();
    }
}

/// A lab (`lab_key`) posts a positive PCR result for each of `guids` to the test-result service at
/// `testresult`, a thousand per request.
pub(crate) async fn post_positive(
    http: &reqwest::Client,
    testresult: &str,
    lab_key: &str,
    guids: &[String],
) -> anyhow::Result<()> {
    for chunk in guids.chunks(1000) {
        let results: Vec<serde_json::Value> = chunk
            .iter()
            .map(|g| {
                let id = warnkit_service::auth::sha256_hex(g);
                serde_json::json!({"id": id, "result": 2, "sc": unix_now()})
            })
            .collect();
        let r = http
            .post(format!("{testresult}/api/v1/lab/results"))
            .bearer_auth(lab_key)
            .json(&serde_json::json!({ "testResults": results }))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "lab upload answered {}",
            r.status()
        );
    }
    Ok(())
}

/// `count` fresh random GUIDs (32 hex digits; the phone sends their SHA-256).
pub(crate) fn fresh_guids(count: usize) -> Vec<String> {
    (0..count)
        .map(|_| hex::encode(rand::thread_rng().gen::<[u8; 16]>()))
        .collect()
}

/// The CPU as `/proc/cpuinfo` names it, with its family and model numbers (a VM's model name is often
/// only "AMD EPYC", and the numbers tell its generation): "unknown" where there is none.
pub(crate) fn cpu_model() -> String {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return "unknown".to_owned();
    };
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    match (field("model name"), field("cpu family"), field("model")) {
        (Some(name), Some(family), Some(model)) => {
            format!("{name} (family {family}, model {model})")
        }
        (Some(name), _, _) => name,
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_named() {
        let cpu = cpu_model();
        assert!(!cpu.is_empty());
        if std::path::Path::new("/proc/cpuinfo").exists() {
            assert_ne!(cpu, "unknown");
        }
    }
}
