//! `warnkit lab`: lab API keys for operators (create, list, revoke; each change in the audit trail), and
//! posting a result the way a lab's system would.

use std::process::ExitCode;

use warnkit_node::accounts;
use warnkit_protocol::interval::datetime_string;
use warnkit_testresult::posting::{self, LabClient, RESULT_NAMES};

use crate::config::{Config, ConfigArgs};

/// `warnkit lab ...`
#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// Manage lab API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Post one test result to a test-result service: a PCR result for a GUID, or a rapid-test result for
    /// the hash in a rapid test's QR code.
    Post(PostArgs),
}

/// `warnkit lab key ...`
#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Create an API key for a lab and print it (only its hash is stored: it is shown once).
    Create(CreateArgs),
    /// List every lab's keys: key id, lab, created, revoked (never a key).
    List(ListArgs),
    /// Revoke a lab's keys (or one of them, `--key ID`): the test-result service refuses them from the
    /// next request on.
    Revoke(RevokeArgs),
}

/// Arguments of `warnkit lab key list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// One JSON object per key and line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Arguments of `warnkit lab key revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The lab whose keys are revoked.
    #[arg(long)]
    lab: String,
    /// Only this key (its id from `warnkit lab key list`), e.g. the old one after a new one was created.
    #[arg(long, value_name = "ID")]
    key: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Arguments of `warnkit lab key create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The lab's id (1-64 characters of A-Z a-z 0-9 . _ -).
    #[arg(long)]
    lab: String,
    /// Print JSON: `lab` and `key`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Arguments of `warnkit lab post`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  warnkit lab post --url $URL --key $KEY --guid 3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA --result positive
  warnkit lab post --url $URL --key $KEY --hash $QR_HASH --result rapid-positive

A PCR result goes to /api/v1/lab/results under sha256(GUID), which is what the phone registers after scanning the GUID. A rapid-test result goes to /api/v1/quicktest/results with the QR code's hash; the service stores it under sha256(hash), which is what the phone registers after scanning a rapid test.")]
pub struct PostArgs {
    /// Base URL of the test-result service, e.g. http://127.0.0.1:8003.
    #[arg(long)]
    url: String,
    /// The lab's API key.
    #[arg(long)]
    key: String,
    /// PCR tests: the test GUID exactly as in the QR code (`https://localhost/?GUID`), shaped
    /// XXXXXX-XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX in hex digits; it is sent as its SHA-256.
    #[arg(long, required_unless_present = "hash", conflicts_with = "hash")]
    guid: Option<String>,
    /// Rapid tests: the `hash` field of the rapid test's QR code (64 hex digits), sent as it is.
    #[arg(long)]
    hash: Option<String>,
    /// The result: positive, negative or invalid for a PCR test (--guid); rapid-pending, rapid-negative,
    /// rapid-positive, rapid-invalid or rapid-redeemed for a rapid test (--hash).
    #[arg(long, value_parser = RESULT_NAMES.map(|(name, _)| name))]
    result: String,
    /// Sample collection time, Unix epoch seconds (default: now, set by the service).
    #[arg(long)]
    sc: Option<i64>,
}

/// Runs `warnkit lab`.
pub fn run(command: LabCommand) -> anyhow::Result<ExitCode> {
    super::block_on(async {
        match command {
            LabCommand::Key(KeyCommand::Create(args)) => create_key(args).await,
            LabCommand::Key(KeyCommand::List(args)) => list_keys(args).await,
            LabCommand::Key(KeyCommand::Revoke(args)) => revoke_keys(args).await,
            LabCommand::Post(args) => post(args).await,
        }
    })
}

async fn create_key(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let key = accounts::create_lab_key(&Config::load(&args.config)?, &args.lab).await?;
    if args.json {
        println!("{}", serde_json::json!({"lab": args.lab, "key": key}));
    } else {
        println!("{key}");
    }
    eprintln!(
        "API key for lab {} created; store it now, it cannot be shown again.",
        args.lab
    );
    Ok(ExitCode::SUCCESS)
}

async fn list_keys(args: ListArgs) -> anyhow::Result<ExitCode> {
    let keys = accounts::lab_keys(&Config::load(&args.config)?).await?;
    let time = |t: i64| datetime_string(t);
    if args.json {
        for k in &keys {
            let out = serde_json::json!({
                "id": k.id,
                "lab": k.lab_id,
                "created": time(k.created_at),
                "revoked": k.revoked_at.map(time),
            });
            println!("{out}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if keys.is_empty() {
        eprintln!("no lab keys; create one with `warnkit lab key create --lab ID`");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.clone(),
                k.lab_id.clone(),
                time(k.created_at),
                k.revoked_at.map_or_else(|| "-".to_owned(), time),
            ]
        })
        .collect();
    print!(
        "{}",
        super::table::render(&["KEY ID", "LAB", "CREATED", "REVOKED"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

async fn revoke_keys(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let revoked = accounts::revoke_lab_keys(&config, &args.lab, args.key.as_deref()).await?;
    if revoked.is_empty() {
        eprintln!("lab {}: already revoked, nothing changed", args.lab);
    } else {
        eprintln!(
            "lab {}: revoked key(s) {}; refused from the next request on",
            args.lab,
            revoked.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn post(args: PostArgs) -> anyhow::Result<ExitCode> {
    let (route, result) = posting::lab_result(
        &args.result,
        args.guid.as_deref(),
        args.hash.as_deref(),
        args.sc,
    )
    .map_err(anyhow::Error::msg)?;
    let lab = LabClient::new(reqwest::Client::new(), &args.url, &args.key);
    let status = lab.post(route, vec![result]).await?;
    eprintln!("result posted ({status})");
    Ok(ExitCode::SUCCESS)
}
