//! `warnkit portal`: officer accounts of the portal, created, listed, changed, disabled and enabled by an
//! operator; every change is recorded in the portal's audit trail as done by `cli:<unix user>`.
//! Applying and recording a change is the portal crate's (`warnkit_portal::admin`), opening the
//! database the node's (`warnkit_node::accounts`).

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::Context;
use warnkit_node::accounts;
use warnkit_portal::admin::Change;
use warnkit_portal::{Role, Roles};
use warnkit_protocol::interval::datetime_string;

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
    /// Reset the password: a new one (from standard input, or generated and printed), and the account's
    /// sessions end.
    #[command(visible_alias = "reset")]
    Passwd(UserArgs),
    /// Give an account other roles (comma-separated, e.g. `hotline,event`).
    Role(RoleArgs),
    /// Remove an account and end its sessions.
    Remove(UserArgs),
    /// Forget the account's authenticator (the next sign-in enrols a new one) and end its sessions.
    ResetTotp(UserArgs),
    /// List the accounts: name, roles, disabled, last sign-in.
    List(ListArgs),
    /// Disable an account: it cannot sign in, and its sessions end at once.
    Disable(UserArgs),
    /// Let a disabled account sign in again.
    Enable(UserArgs),
}

/// Arguments of `warnkit portal user list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// One JSON object per account and line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArgs,
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
            let ended = change(
                &args.config,
                Change::Password {
                    user: &args.user,
                    password: &password,
                },
            )?;
            if generated {
                println!("{password}");
            }
            eprintln!("new password for {}; {ended} session(s) ended", args.user);
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Role(args) => {
            let roles = args.role;
            let user = &args.user;
            change(&args.config, Change::Roles { user, roles })?;
            eprintln!("{user} now has the role(s) {roles}");
            warn_without_authorities(&args.config, roles);
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Remove(args) => {
            let ended = change(&args.config, Change::Remove { user: &args.user })?;
            eprintln!("removed {}; {ended} session(s) ended", args.user);
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::ResetTotp(args) => {
            let ended = change(&args.config, Change::ResetTotp { user: &args.user })?;
            eprintln!(
                "{}: authenticator forgotten, enrolment at the next sign-in; {ended} session(s) ended",
                args.user
            );
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List(args) => list(args),
        UserCommand::Disable(args) => {
            let ended = change(&args.config, Change::Disable { user: &args.user })?;
            eprintln!(
                "{} disabled: cannot sign in; {ended} session(s) ended",
                args.user
            );
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Enable(args) => {
            change(&args.config, Change::Enable { user: &args.user })?;
            eprintln!("{} enabled: can sign in again", args.user);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Applies an account change made from the command line ([`accounts::change_portal_user`]); returns
/// the sessions it ended.
fn change(config: &ConfigArgs, change: Change<'_>) -> anyhow::Result<u64> {
    let config = Config::load(config)?;
    super::block_on(accounts::change_portal_user(&config, change))
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let users = super::block_on(accounts::portal_users(&config))?;
    let time = |t: Option<i64>| t.map(datetime_string);
    if args.json {
        for u in &users {
            let out = serde_json::json!({
                "user": u.username,
                "roles": u.roles.split(',').collect::<Vec<_>>(),
                "disabled": u.disabled,
                "last_sign_in": time(u.last_sign_in_at),
                "created": datetime_string(u.created_at),
            });
            println!("{out}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if users.is_empty() {
        eprintln!("no accounts; add one with `warnkit portal user add --user NAME --role hotline`");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.username.clone(),
                u.roles.clone(),
                if u.disabled { "yes" } else { "no" }.to_owned(),
                time(u.last_sign_in_at).unwrap_or_else(|| "never".to_owned()),
            ]
        })
        .collect();
    print!(
        "{}",
        super::table::render(&["USER", "ROLES", "DISABLED", "LAST SIGN-IN"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

fn add(args: AddArgs) -> anyhow::Result<ExitCode> {
    let (password, generated) = password_or_generated()?;
    let roles = args.role;
    change(
        &args.config,
        Change::Add {
            user: &args.user,
            password: &password,
            roles,
            totp: !args.no_totp,
            now: warnkit_store::unix_now(),
        },
    )?;
    if generated {
        println!("{password}");
    }
    let totp = if args.no_totp {
        "no second factor"
    } else {
        "authenticator enrolment at first sign-in"
    };
    eprintln!("added {} ({roles}, {totp})", args.user);
    warn_without_authorities(&args.config, roles);
    Ok(ExitCode::SUCCESS)
}

/// Warns when an account gets the event role while no health authority is configured: the event form
/// then has nothing to choose and no event teleTAN can be issued. Said after the change succeeded, and
/// without undoing it: the authorities may well be added to the configuration afterwards.
fn warn_without_authorities(config: &ConfigArgs, roles: Roles) {
    if !roles.contains(Role::Event) {
        return;
    }
    // The configuration was loaded for the change just made; should it fail now, the change stands and
    // there is nothing to warn about that can be known.
    let Ok(config) = Config::load(config) else {
        return;
    };
    if config.portal.health_authorities.is_empty() {
        eprintln!(
            "warning: no health authorities are configured, so an officer with the event role has \
             none to choose and cannot issue event teleTANs; add them to the configuration file as \
             [[portal.health_authorities]] entries (name = \"...\", nr = \"...\") and restart the portal"
        );
    }
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
