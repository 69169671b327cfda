//! `warnkit portal`: officer accounts of the portal, created by an operator.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::Context;
use warnkit_portal::Role;
use warnkit_store::Db;

use crate::config::{Config, ConfigArgs};

/// `warnkit portal ...`
#[derive(Debug, clap::Subcommand)]
pub enum PortalCommand {
    /// Officer accounts.
    #[command(subcommand)]
    User(UserCommand),
}

/// `warnkit portal user ...`
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from standard input (first line); when none is piped in,
    /// a random one is generated and printed once.
    Add(AddArgs),
}

/// Arguments of `warnkit portal user add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// User name (1-64 characters of a-z 0-9 . _ -).
    #[arg(long)]
    user: String,
    /// What the officer may do: hotline issues teleTANs.
    #[arg(long, value_parser = ["hotline", "health-authority", "admin"])]
    role: String,
    /// No second factor (test and demo accounts only).
    #[arg(long)]
    no_totp: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Runs `warnkit portal`.
pub fn run(command: PortalCommand) -> anyhow::Result<ExitCode> {
    let PortalCommand::User(UserCommand::Add(args)) = command;
    let role = Role::parse(&args.role).context("unknown role")?;
    let (password, generated) = match read_password()? {
        Some(password) => (password, false),
        None => (warnkit_portal::generate_password(), true),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = Config::load(&args.config)?;
        let target = config.db_target(warnkit_portal::NAME);
        let db = Db::open(&target, config.pool(), &warnkit_portal::MIGRATIONS)
            .await
            .context("opening the portal database")?;
        let added = warnkit_portal::add_user(
            &db,
            &args.user,
            &password,
            role,
            !args.no_totp,
            warnkit_store::unix_now(),
        )
        .await;
        db.close().await;
        added.map_err(|e| anyhow::anyhow!("{}", e.message))
    })?;
    if generated {
        println!("{password}");
    }
    let totp = if args.no_totp {
        "no second factor"
    } else {
        "authenticator enrolment at first sign-in"
    };
    eprintln!("added {} ({}, {totp})", args.user, role.as_str());
    Ok(ExitCode::SUCCESS)
}

/// The first line of standard input, unless it is a terminal or empty.
fn read_password() -> anyhow::Result<Option<String>> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .context("reading the password from standard input")?;
    let line = text.lines().next().unwrap_or_default().to_owned();
    Ok((!line.is_empty()).then_some(line))
}
