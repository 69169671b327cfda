//! `warnkit audit`: the audit trail of every service's database (sign-ins, teleTANs issued, account and
//! lab key changes, key rotations), merged in time order, for people or (`--json`) for scripts. The
//! reading and merging are the node crate's (`warnkit_node::audit`).

use std::process::ExitCode;

use warnkit_node::audit::{collect, parse_since};
use warnkit_store::audit::{AuditEntry, Filter, ServiceEntry as Row};

use crate::config::{Config, ConfigArgs};

pub(crate) use warnkit_node::audit::cli_actor;

/// Arguments of `warnkit audit`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  warnkit audit --since 24h
  warnkit audit --actor ann --action teletan
  warnkit audit --since 2026-12-01 --action user --json

TIME is an RFC 3339 time (2026-12-03T14:00:00Z), a date (2026-12-03, midnight UTC), or an age: 30m, 24h, 7d.
ACTION matches the action or its area: `user` matches user.disable, user.add, ...")]
pub struct AuditArgs {
    /// Only what happened at or after TIME.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only what this actor did: an account name, or cli:<unix user> for the command line.
    #[arg(long, value_name = "A")]
    actor: Option<String>,
    /// Only this action, or every action of this area.
    #[arg(long, value_name = "X")]
    action: Option<String>,
    /// Only the newest N rows.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Runs `warnkit audit`.
pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let now = warnkit_store::unix_now();
    let since = args
        .since
        .as_deref()
        .map(|text| parse_since(text, now))
        .transpose()?;
    let filter = Filter {
        since_micros: since.map(|s| s.saturating_mul(1_000_000)),
        actor: args.actor.clone(),
        action: args.action.clone(),
        limit: args.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
    };
    let rows = super::block_on(async {
        let config = Config::load(&args.config)?;
        collect(&config, &filter).await
    })?;
    for row in &rows {
        if args.json {
            println!("{}", json(row));
        } else {
            println!("{}", line(row));
        }
    }
    if rows.is_empty() && !args.json {
        eprintln!("no audit rows match");
    }
    Ok(ExitCode::SUCCESS)
}

/// RFC 3339 time of a row, to the second.
fn time_of(entry: &AuditEntry) -> String {
    warnkit_protocol::interval::datetime_string(entry.at_micros.div_euclid(1_000_000))
}

fn line(row: &Row) -> String {
    let e = &row.entry;
    format!(
        "{}  {:<12}  {:<20}  {:<24}  {}",
        time_of(e),
        row.service,
        e.actor,
        e.action,
        e.subject
    )
}

fn json(row: &Row) -> serde_json::Value {
    let e = &row.entry;
    serde_json::json!({
        "time": time_of(e),
        "at_micros": e.at_micros,
        "service": row.service,
        "actor": e.actor,
        "action": e.action,
        "subject": e.subject,
    })
}
