//! The audit trails of one node's services read together, as `warnkit audit` shows them, and who the
//! command line acts as when it writes to one (`cli:<unix user>`).

use anyhow::{bail, Context};
use warnkit_store::audit::{self, Filter, ServiceEntry};
use warnkit_store::{Db, DbTarget};

use crate::config::Config;

/// Every service's rows that match `filter`, merged oldest first ([`audit::merge`]). A service whose
/// SQLite database does not exist yet has no trail, and it is not created here.
pub async fn collect(config: &Config, filter: &Filter) -> anyhow::Result<Vec<ServiceEntry>> {
    // The services that keep an audit trail, as `Config::db_target` names them, with their migrations.
    let trails = [
        (warnkit_portal::NAME, &warnkit_portal::MIGRATIONS),
        (warnkit_testresult::NAME, &warnkit_testresult::MIGRATIONS),
        (
            warnkit_verification::NAME,
            &warnkit_verification::MIGRATIONS,
        ),
        (warnkit_submission::NAME, &warnkit_keystore::MIGRATOR),
    ];
    let mut rows = Vec::new();
    for (service, migrations) in trails {
        let target = config.db_target(service);
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
        rows.extend(
            found
                .into_iter()
                .map(|entry| ServiceEntry { service, entry }),
        );
    }
    Ok(audit::merge(rows, filter.limit))
}

/// Unix seconds of `--since`: an RFC 3339 time, a date (midnight UTC) or an age before `now` (`30m`,
/// `24h`, `7d`).
pub fn parse_since(text: &str, now: i64) -> anyhow::Result<i64> {
    let text = text.trim();
    if let Some(t) = warnkit_distribution::layout::parse_rfc3339(text) {
        return Ok(t);
    }
    if let Some(day) = warnkit_distribution::layout::parse_date(text) {
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
pub fn cli_actor() -> String {
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
