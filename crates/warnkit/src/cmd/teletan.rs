//! `warnkit teletan`: issue a teleTAN from the command line (operators; officers use the portal). The
//! issuing and its audit row are the node crate's (`warnkit_node::teletan`).

use std::process::ExitCode;

use anyhow::Context;
use warnkit_node::teletan;
use warnkit_verification::TeletanType;

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
    let issued = super::block_on(async {
        let config = Config::load(&args.config)?;
        let kind = TeletanType::parse(&args.kind).context("type must be TEST or EVENT")?;
        teletan::issue(&config, kind, &cli_actor()).await
    })?;
    if args.json {
        let out = serde_json::json!({
            "teletan": issued.teletan,
            "type": issued.kind.as_str(),
            "valid_secs": issued.valid_secs,
            "valid_until": warnkit_protocol::interval::datetime_string(issued.valid_until),
        });
        println!("{out}");
    } else {
        println!("{}", issued.teletan);
    }
    Ok(ExitCode::SUCCESS)
}
