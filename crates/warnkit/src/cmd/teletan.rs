//! `warnkit teletan`: issue a teleTAN from the command line (operators; officers use the portal).

use std::process::ExitCode;

use anyhow::Context;
use warnkit_store::{audit, Db};
use warnkit_verification::{TeletanType, VerificationService};

use crate::cmd::audit::cli_actor;
use crate::config::{Config, ConfigArgs};

/// `warnkit teletan ...`
#[derive(Debug, clap::Subcommand)]
pub enum TeletanCommand {
    /// Issue a teleTAN (counted against the global hourly limit) and print it.
    Create(CreateArgs),
}

/// Arguments of `warnkit teletan create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// TEST (a positive test, valid 1 hour) or EVENT (an event warning, valid 2 days).
    #[arg(long = "type", default_value = "TEST", value_parser = ["TEST", "EVENT"])]
    kind: String,
    /// Print JSON: the teleTAN, its type and until when it is valid.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Runs `warnkit teletan`.
pub fn run(command: TeletanCommand) -> anyhow::Result<ExitCode> {
    let TeletanCommand::Create(args) = command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = Config::load(&args.config)?;
        let target = config.db_target(warnkit_verification::NAME);
        let db = Db::open(&target, config.pool(), &warnkit_verification::MIGRATIONS)
            .await
            .context("opening the verification database")?;
        let service =
            VerificationService::new(db.clone(), config.verification.clone(), String::new())
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let kind = TeletanType::parse(&args.kind).context("type must be TEST or EVENT")?;
        let valid_secs = match kind {
            TeletanType::Test => config.verification.teletan_valid_secs,
            TeletanType::Event => config.verification.teletan_event_valid_secs,
        };
        // Taken before issuing: the stored validity starts a moment later, so this is a lower bound.
        let valid_until =
            warnkit_store::unix_now() + i64::try_from(valid_secs).unwrap_or(i64::MAX / 2);
        let teletan = service
            .create_teletan(kind)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        // Who and which type, never the value; printed only once the trail holds it.
        let recorded = audit::record(&db, &cli_actor(), "teletan.issue", kind.as_str()).await;
        db.close().await;
        recorded.context("recording the teleTAN in the audit trail (it was not shown)")?;
        if args.json {
            let out = serde_json::json!({
                "teletan": teletan,
                "type": kind.as_str(),
                "valid_secs": valid_secs,
                "valid_until": warnkit_protocol::interval::datetime_string(valid_until),
            });
            println!("{out}");
        } else {
            println!("{teletan}");
        }
        Ok(ExitCode::SUCCESS)
    })
}
