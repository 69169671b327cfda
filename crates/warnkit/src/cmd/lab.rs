//! `warnkit lab`: lab API keys for operators, and posting a result the way a lab's system would.

use std::process::ExitCode;

use anyhow::{bail, Context};
use warnkit_service::auth::sha256_hex;
use warnkit_store::Db;
use warnkit_testresult::TestResultService;

use crate::config::{Config, ConfigArgs};

/// `warnkit lab ...`
#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Manage lab API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Post one test result to a test-result service, hashing the GUID like the phone does.
    Post(PostArgs),
}

/// `warnkit lab key ...`
#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Create an API key for a lab and print it (only its hash is stored: it is shown once).
    Create(CreateArgs),
}

/// Arguments of `warnkit lab key create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The lab's id (1-64 characters of A-Z a-z 0-9 . _ -).
    #[arg(long)]
    lab: String,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Arguments of `warnkit lab post`.
#[derive(Debug, clap::Args)]
pub struct PostArgs {
    /// Base URL of the test-result service, e.g. http://127.0.0.1:8003.
    #[arg(long)]
    url: String,
    /// The lab's API key.
    #[arg(long)]
    key: String,
    /// The test GUID exactly as in the QR code; it is sent as its SHA-256.
    #[arg(long)]
    guid: String,
    /// The result.
    #[arg(long, value_parser = ["positive", "negative", "invalid"])]
    result: String,
    /// Sample collection time, Unix epoch seconds (default: now, set by the service).
    #[arg(long)]
    sc: Option<i64>,
}

/// Runs `warnkit lab`.
pub fn run(command: LabCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match command {
        LabCommand::Key(KeyCommand::Create(args)) => runtime.block_on(create_key(args)),
        LabCommand::Post(args) => runtime.block_on(post(args)),
    }
}

async fn create_key(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let db = Db::open(
        &config.db_target(warnkit_testresult::NAME),
        config.pool(),
        &warnkit_testresult::MIGRATIONS,
    )
    .await
    .context("opening the test-result database")?;
    // The service token is irrelevant here: this process only writes a key row.
    let service = TestResultService::new(db.clone(), config.testresult.clone(), String::new());
    let key = service
        .create_lab_key(&args.lab)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    db.close().await;
    println!("{key}");
    eprintln!(
        "API key for lab {} created; store it now, it cannot be shown again.",
        args.lab
    );
    Ok(ExitCode::SUCCESS)
}

async fn post(args: PostArgs) -> anyhow::Result<ExitCode> {
    let result = match args.result.as_str() {
        "negative" => 1,
        "positive" => 2,
        "invalid" => 3,
        other => bail!("unknown result {other}"),
    };
    let mut entry = serde_json::json!({"id": sha256_hex(&args.guid), "result": result});
    if let Some(sc) = args.sc {
        entry["sc"] = sc.into();
    }
    let url = format!("{}/api/v1/lab/results", args.url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.key)
        .json(&serde_json::json!({ "testResults": [entry] }))
        .send()
        .await
        .with_context(|| format!("posting to {url}"))?;
    let status = response.status();
    if status.is_success() {
        eprintln!("result posted ({status})");
        return Ok(ExitCode::SUCCESS);
    }
    let body = response.text().await.unwrap_or_default();
    bail!("the test-result service answered {status}: {body}")
}
