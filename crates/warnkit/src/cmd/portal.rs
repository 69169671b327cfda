//! `warnkit portal`: officer accounts of the portal, created and changed by an operator.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::Context;
use warnkit_portal::Roles;
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
    /// Set a new password (from standard input, or generated and printed) and end the account's sessions.
    Passwd(UserArgs),
    /// Give an account other roles (comma-separated, e.g. `hotline,event`).
    Role(RoleArgs),
    /// Remove an account and end its sessions.
    Remove(UserArgs),
    /// Forget the account's authenticator (the next sign-in enrols a new one) and end its sessions.
    ResetTotp(UserArgs),
}

/// The account a change applies to.
#[derive(Debug, clap::Args)]
pub struct UserArgs {
    /// User name (`oidc:NAME` for an account of the OpenID provider).
    #[arg(long)]
    user: String,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Arguments of `warnkit portal user role`.
#[derive(Debug, clap::Args)]
pub struct RoleArgs {
    /// User name.
    #[arg(long)]
    user: String,
    /// The new roles: hotline, event, health-authority, admin; several joined by commas.
    #[arg(long, value_parser = parse_roles)]
    role: Roles,
    #[command(flatten)]
    config: ConfigArgs,
}

fn parse_roles(s: &str) -> Result<Roles, String> {
    Roles::parse(s).ok_or_else(|| {
        "roles are hotline, event, health-authority, admin (several joined by commas)".to_owned()
    })
}

/// Arguments of `warnkit portal user add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// User name (1-64 characters of a-z 0-9 . _ -).
    #[arg(long)]
    user: String,
    /// What the officer may do: hotline issues teleTANs, event issues event ("PIW") teleTANs; also
    /// health-authority, admin; several joined by commas (`hotline,event`).
    #[arg(long, value_parser = parse_roles)]
    role: Roles,
    /// No second factor (test and demo accounts only).
    #[arg(long)]
    no_totp: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Runs `warnkit portal`.
pub fn run(command: PortalCommand) -> anyhow::Result<ExitCode> {
    let PortalCommand::User(command) = command;
    match command {
        UserCommand::Add(args) => add(args),
        UserCommand::Passwd(args) => {
            let (password, generated) = password_or_generated()?;
            let ended = with_db(&args.config, |db| {
                let (user, password) = (args.user.clone(), password.clone());
                async move { warnkit_portal::set_password(&db, &user, &password).await }
            })?;
            if generated {
                println!("{password}");
            }
            eprintln!("new password for {}; {ended} session(s) ended", args.user);
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Role(args) => {
            let roles = args.role;
            with_db(&args.config, |db| {
                let user = args.user.clone();
                async move { warnkit_portal::set_roles(&db, &user, roles).await }
            })?;
            eprintln!("{} now has the role(s) {roles}", args.user);
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Remove(args) => {
            let ended = with_db(&args.config, |db| {
                let user = args.user.clone();
                async move { warnkit_portal::remove_user(&db, &user).await }
            })?;
            eprintln!("removed {}; {ended} session(s) ended", args.user);
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::ResetTotp(args) => {
            let ended = with_db(&args.config, |db| {
                let user = args.user.clone();
                async move { warnkit_portal::reset_totp(&db, &user).await }
            })?;
            eprintln!(
                "{}: authenticator forgotten, enrolment at the next sign-in; {ended} session(s) ended",
                args.user
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn add(args: AddArgs) -> anyhow::Result<ExitCode> {
    let (password, generated) = password_or_generated()?;
    let roles = args.role;
    with_db(&args.config, |db| {
        let (user, password, totp) = (args.user.clone(), password.clone(), !args.no_totp);
        async move {
            let now = warnkit_store::unix_now();
            warnkit_portal::add_user(&db, &user, &password, roles, totp, now).await
        }
    })?;
    if generated {
        println!("{password}");
    }
    let totp = if args.no_totp {
        "no second factor"
    } else {
        "authenticator enrolment at first sign-in"
    };
    eprintln!("added {} ({roles}, {totp})", args.user);
    Ok(ExitCode::SUCCESS)
}

/// Opens the portal database of the configuration, runs `f` on it and closes it.
fn with_db<T, F, Fut>(config: &ConfigArgs, f: F) -> anyhow::Result<T>
where
    F: FnOnce(Db) -> Fut,
    Fut: std::future::Future<Output = warnkit_service::AppResult<T>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = Config::load(config)?;
        let target = config.db_target(warnkit_portal::NAME);
        let db = Db::open(&target, config.pool(), &warnkit_portal::MIGRATIONS)
            .await
            .context("opening the portal database")?;
        let result = f(db.clone()).await;
        db.close().await;
        result.map_err(|e| anyhow::anyhow!("{}", e.message))
    })
}

/// The password from standard input, or a generated one (`true`: print it).
fn password_or_generated() -> anyhow::Result<(String, bool)> {
    Ok(match read_password()? {
        Some(password) => (password, false),
        None => (warnkit_portal::generate_password(), true),
    })
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
