//! `warnkit audit`: the audit trail of every service's database (sign-ins, teleTANs issued, account and
//! lab key changes, key rotations), merged in time order, for people or (`--json`) for scripts.

use std::process::ExitCode;

use anyhow::{bail, Context};
use warnkit_store::audit::{self, AuditEntry, Filter};
use warnkit_store::{Db, DbTarget};

use crate::config::{Config, ConfigArgs};

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

/// The services that keep an audit trail, as [`Config::db_target`] names them, with their migrations.
fn trails() -> [(&'static str, &'static sqlx::migrate::Migrator); 4] {
    [
        (warnkit_portal::NAME, &warnkit_portal::MIGRATIONS),
        (warnkit_testresult::NAME, &warnkit_testresult::MIGRATIONS),
        (
            warnkit_verification::NAME,
            &warnkit_verification::MIGRATIONS,
        ),
        (warnkit_submission::NAME, &warnkit_submission::MIGRATOR),
    ]
}

/// One row with the service whose database holds it.
struct Row {
    service: &'static str,
    entry: AuditEntry,
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rows = runtime.block_on(async {
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

/// Every service's matching rows, oldest first; a `limit` keeps the newest of all of them.
async fn collect(config: &Config, filter: &Filter) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (service, migrations) in trails() {
        let target = config.db_target(service);
        // A service that never ran has no trail; reading it must not create its database.
        if let DbTarget::SqliteFile(path) = &target {
            if !path.exists() {
                continue;
            }
        }
        let db = Db::open(&target, config.pool(), migrations)
            .await
            .with_context(|| format!("opening the {service} database"))?;
        let found = audit::list(&db, filter).await;
        db.close().await;
        let found = found.with_context(|| format!("reading the {service} audit trail"))?;
        rows.extend(found.into_iter().map(|entry| Row { service, entry }));
    }
    // Stable: rows of one microsecond keep their service order.
    rows.sort_by_key(|r| r.entry.at_micros);
    if let Some(limit) = filter.limit {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let excess = rows.len().saturating_sub(limit);
        rows.drain(..excess);
    }
    Ok(rows)
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

/// Unix seconds of `--since`: an RFC 3339 time, a date (midnight UTC) or an age before `now` (`30m`,
/// `24h`, `7d`).
fn parse_since(text: &str, now: i64) -> anyhow::Result<i64> {
    let text = text.trim();
    if let Some(t) = warnkit_distribution::layout::parse_rfc3339(text) {
        return Ok(t);
    }
    if let Some(day) = warnkit_protocol::interval::parse_date(text) {
        return Ok(day * 86_400);
    }
    let unit = match text.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3_600,
        Some('d') => 86_400,
        _ => 0,
    };
    let amount = text
        .get(..text.len().saturating_sub(1))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0);
    match amount {
        Some(n) if unit > 0 => Ok(now - n.saturating_mul(unit)),
        _ => bail!(
            "--since {text:?} is not a time: give 2026-12-03T14:00:00Z, 2026-12-03, or an age such as 30m, 24h, 7d"
        ),
    }
}

/// Who runs a command, for the audit trail: `cli:<unix user>`. Under sudo the person who ran sudo
/// (`SUDO_USER`), else the login name (`USER`, `LOGNAME`), else the name `/etc/passwd` gives the user id,
/// else `cli:uid-<id>`.
pub(crate) fn cli_actor() -> String {
    let from_env = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| usable_name(name));
    let name = from_env.or_else(passwd_name);
    match name {
        Some(name) => format!("cli:{name}"),
        None => format!("cli:uid-{}", uid()),
    }
}

/// A user name fit for the trail: short, printable, no spaces.
fn usable_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_graphic())
}

#[cfg(unix)]
fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

#[cfg(not(unix))]
fn uid() -> u32 {
    0
}

/// The name of this process's user id in `/etc/passwd`, if it is there.
fn passwd_name() -> Option<String> {
    let uid = uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid && usable_name(name)).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_dates_and_ages() {
        let now = 1_764_770_400; // 2025-12-03T14:00:00Z
        assert_eq!(
            parse_since("2025-12-03T14:00:00Z", now).unwrap(),
            1_764_770_400
        );
        assert_eq!(parse_since("2025-12-03", now).unwrap(), 1_764_720_000);
        assert_eq!(parse_since("30m", now).unwrap(), now - 1_800);
        assert_eq!(parse_since("24h", now).unwrap(), now - 86_400);
        assert_eq!(parse_since("7d", now).unwrap(), now - 7 * 86_400);
        for bad in ["", "yesterday", "7", "-1h", "2025-13-01", "h"] {
            let err = parse_since(bad, now).unwrap_err().to_string();
            assert!(err.contains("is not a time"), "{bad}: {err}");
        }
    }
}
