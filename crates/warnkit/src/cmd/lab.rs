//! `warnkit lab`: lab API keys for operators (create, list, revoke; each change in the audit trail), and
//! posting a result the way a lab's system would.

use std::process::ExitCode;

use anyhow::{bail, Context};
use warnkit_protocol::interval::datetime_string;
use warnkit_service::auth::sha256_hex;
use warnkit_store::Db;
use warnkit_testresult::posting::{self, RESULT_NAMES};
use warnkit_testresult::TestResultService;

use crate::cmd::audit::cli_actor;
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match command {
        LabCommand::Key(KeyCommand::Create(args)) => runtime.block_on(create_key(args)),
        LabCommand::Key(KeyCommand::List(args)) => runtime.block_on(list_keys(args)),
        LabCommand::Key(KeyCommand::Revoke(args)) => runtime.block_on(revoke_keys(args)),
        LabCommand::Post(args) => runtime.block_on(post(args)),
    }
}

/// The test-result service on the configuration's database, for the key commands (which only touch
/// key rows, so the service token is irrelevant).
async fn open_service(config: &ConfigArgs) -> anyhow::Result<TestResultService> {
    let config = Config::load(config)?;
    let db = Db::open(
        &config.db_target(warnkit_testresult::NAME),
        config.pool(),
        &warnkit_testresult::MIGRATIONS,
    )
    .await
    .context("opening the test-result database")?;
    Ok(TestResultService::new(
        db,
        config.testresult.clone(),
        String::new(),
    ))
}

async fn create_key(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let service = open_service(&args.config).await?;
    let key = service.create_lab_key_as(&cli_actor(), &args.lab).await;
    service.db().close().await;
    let key = key.context("creating the lab key")?;
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
    let service = open_service(&args.config).await?;
    let keys = service.lab_keys().await;
    service.db().close().await;
    let keys = keys.context("listing the lab keys")?;
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
    let service = open_service(&args.config).await?;
    let revoked = service
        .revoke_lab_keys(&cli_actor(), &args.lab, args.key.as_deref())
        .await;
    service.db().close().await;
    let revoked = revoked.context("revoking the lab keys")?;
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

/// What `lab post` sends: the route and the id, from the arguments.
fn target(args: &PostArgs) -> anyhow::Result<(i64, &'static str, String)> {
    let Some(result) = posting::result_code(&args.result) else {
        bail!("unknown result {}", args.result);
    };
    match (&args.guid, &args.hash, posting::is_rapid(result)) {
        (Some(guid), None, false) => Ok((result, posting::route(result), hashed_guid(guid)?)),
        (None, Some(hash), true) => {
            if !warnkit_service::auth::is_hex(hash, 64) {
                let shown: String = hash.chars().take(80).collect();
                bail!(
                    "--hash {shown:?} is not a SHA-256: give the 64 hex digits of the `hash` field \
                     of the rapid test's QR code ({} characters given)",
                    hash.chars().count()
                );
            }
            Ok((result, posting::route(result), hash.clone()))
        }
        (Some(_), _, true) => bail!(
            "{} is a rapid-test result: give the QR code's hash with --hash, not --guid",
            args.result
        ),
        (_, Some(_), false) => bail!(
            "{} is a PCR result: give the test GUID with --guid (rapid tests: --result rapid-...)",
            args.result
        ),
        (None, None, _) => bail!("give --guid (PCR) or --hash (rapid test)"),
    }
}

/// SHA-256 of the GUID as the phone computes it, after refusing what cannot be a test's GUID with the
/// phone's own check (`warnkit_app::submit::qr_guid`: the original's QR-code shape, or the code's whole
/// content `https://localhost/?GUID`).
fn hashed_guid(scanned: &str) -> anyhow::Result<String> {
    // The likeliest mix-up gets its own hint: the hash a lab system may hold instead of the GUID.
    if warnkit_service::auth::is_hex(scanned, 64) {
        bail!("--guid looks like a SHA-256 already; give the GUID itself, it is hashed here");
    }
    let guid = warnkit_app::submit::qr_guid(scanned).map_err(|e| anyhow::anyhow!("--guid: {e}"))?;
    Ok(sha256_hex(guid))
}

async fn post(args: PostArgs) -> anyhow::Result<ExitCode> {
    let (result, path, id) = target(&args)?;
    let mut entry = serde_json::json!({"id": id, "result": result});
    if let Some(sc) = args.sc {
        entry["sc"] = sc.into();
    }
    let url = format!("{}{path}", args.url.trim_end_matches('/'));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(guid: Option<&str>, hash: Option<&str>, result: &str) -> PostArgs {
        PostArgs {
            url: "http://127.0.0.1:1".into(),
            key: "k".into(),
            guid: guid.map(str::to_owned),
            hash: hash.map(str::to_owned),
            result: result.into(),
            sc: None,
        }
    }

    #[test]
    fn pcr_results_go_to_the_lab_route_hashed() {
        let guid = "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA";
        let (result, path, id) = target(&args(Some(guid), None, "positive")).unwrap();
        assert_eq!((result, path), (2, "/api/v1/lab/results"));
        assert_eq!(id, sha256_hex(guid));
    }

    #[test]
    fn guids_of_either_case_and_whole_qr_codes_are_hashed_as_the_phone_does() {
        let guid = "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA";
        let lower = guid.to_lowercase();
        for (given, hashed) in [
            (guid.to_owned(), guid),
            (lower.clone(), lower.as_str()),
            (format!("https://localhost/?{guid}"), guid),
        ] {
            let (_, _, id) = target(&args(Some(&given), None, "positive")).unwrap();
            assert_eq!(id, sha256_hex(hashed), "{given}");
        }
    }

    #[test]
    fn rapid_results_go_to_the_quicktest_route_as_sent() {
        let hash = "a".repeat(64);
        let (result, path, id) = target(&args(None, Some(&hash), "rapid-positive")).unwrap();
        assert_eq!((result, path, id), (7, "/api/v1/quicktest/results", hash));
    }

    #[test]
    fn mismatches_and_malformed_input_are_refused() {
        let hash = "a".repeat(64);
        let guid = "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA";
        for (a, needle) in [
            (args(Some(guid), None, "rapid-positive"), "--hash"),
            (args(None, Some(&hash), "positive"), "--guid"),
            (args(None, Some("abc"), "rapid-negative"), "64 hex"),
            (args(Some(""), None, "positive"), "empty"),
            (args(Some(" x"), None, "positive"), "not a test's GUID"),
            (
                args(Some("hello world"), None, "positive"),
                "not a test's GUID",
            ),
            (
                args(Some(&guid[1..]), None, "positive"),
                "not a test's GUID",
            ),
            (
                args(Some(&guid.replace('D', "G")), None, "positive"),
                "not a test's GUID",
            ),
            (
                args(
                    Some(&format!("https://example.org/?{guid}")),
                    None,
                    "positive",
                ),
                "not a test's GUID",
            ),
            (args(Some(&hash), None, "negative"), "SHA-256"),
            (
                args(None, Some(&"g".repeat(64)), "rapid-negative"),
                "64 hex",
            ),
            (args(None, None, "positive"), "--guid"),
        ] {
            let err = target(&a).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
