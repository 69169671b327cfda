//! The audit trail: which officer or operator did what, to which account, key or teleTAN type, and when,
//! kept in the database of the service it happened to (table `audit_log`, which each service's migrations
//! create), so that it outlives the process and is backed up with the data it speaks of.
//!
//! A row is (time, actor, action, subject), all text but the time. None of them ever holds a secret: no
//! teleTAN or TAN value, no password, no API key, no GUID. Callers pass names and kinds, never values.

use crate::{on_pool, Db, StoreResult};

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When it happened, in microseconds since the Unix epoch (fine enough to keep a sign-in before the
    /// teleTAN issued in the same second, also when trails of several services are merged).
    pub at_micros: i64,
    /// Who acted: an officer's account name, `cli:<unix user>` for the command line, or `(unknown)`.
    pub actor: String,
    /// What was done, dotted by area: `portal.sign-in`, `teletan.issue`, `lab-key.revoke`, ...
    pub action: String,
    /// What it was done to (an account name, a lab id, a teleTAN type), or empty.
    pub subject: String,
}

/// Which rows [`list`] returns; the default is every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only rows at or after this time (microseconds since the Unix epoch).
    pub since_micros: Option<i64>,
    /// Only rows whose actor is exactly this.
    pub actor: Option<String>,
    /// Only rows whose action is this or starts with this and a dot (`user` matches `user.disable`).
    pub action: Option<String>,
    /// Only the newest this many of the matching rows (still returned oldest first).
    pub limit: Option<i64>,
}

/// Microseconds since the Unix epoch, the time unit of `audit_log`.
pub fn now_micros() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    // As in `unix_now`: a clock before 1970 is a broken machine, and 0 keeps the order well-defined.
    now.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Writes one row, stamped now. Never pass a secret in any argument (see the module docs).
pub async fn record(db: &Db, actor: &str, action: &str, subject: &str) -> StoreResult<()> {
    record_at(db, now_micros(), actor, action, subject).await
}

/// Writes one row with the given time; [`record`] is this with the current time.
pub async fn record_at(
    db: &Db,
    at_micros: i64,
    actor: &str,
    action: &str,
    subject: &str,
) -> StoreResult<()> {
    on_pool!(db, |pool| sqlx::query(
        "INSERT INTO audit_log (at_micros, actor, action, subject) VALUES ($1, $2, $3, $4)"
    )
    .bind(at_micros)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .execute(pool)
    .await
    .map(drop))
}

/// The rows `filter` selects, oldest first.
pub async fn list(db: &Db, filter: &Filter) -> StoreResult<Vec<AuditEntry>> {
    // Every condition is always present and switched off by a NULL, so there is one statement to check
    // on both engines rather than one per combination of filters.
    let action_prefix = filter.action.as_ref().map(|a| format!("{a}."));
    let prefix_len = action_prefix
        .as_ref()
        .map(|p| i32::try_from(p.chars().count()).unwrap_or(i32::MAX));
    let limit = filter.limit.unwrap_or(i64::MAX).max(0);
    let sql = "SELECT at_micros, actor, action, subject FROM audit_log \
               WHERE ($1 IS NULL OR at_micros >= $1) \
                 AND ($2 IS NULL OR actor = $2) \
                 AND ($3 IS NULL OR action = $3 OR substr(action, 1, $5) = $4) \
               ORDER BY at_micros DESC LIMIT $6";
    let rows: Vec<(i64, String, String, String)> = on_pool!(db, |pool| sqlx::query_as(sql)
        .bind(filter.since_micros)
        .bind(filter.actor.as_deref())
        .bind(filter.action.as_deref())
        .bind(action_prefix.as_deref())
        .bind(prefix_len)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    // Fetched newest first so that a limit keeps the newest rows; shown oldest first.
    Ok(rows
        .into_iter()
        .rev()
        .map(|(at_micros, actor, action, subject)| AuditEntry {
            at_micros,
            actor,
            action,
            subject,
        })
        .collect())
}

/// A row of one service's trail in a merged trail of several services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// The service whose database holds the row.
    pub service: &'static str,
    /// The row.
    pub entry: AuditEntry,
}

/// Merges the rows that [`list`] returned from several services' trails, oldest first; `limit` (as in
/// [`Filter::limit`]) keeps the newest of all of them. Rows of one microsecond keep the order they were
/// given in, so a fixed order of services gives the same merge every time.
pub fn merge(rows: Vec<ServiceEntry>, limit: Option<i64>) -> Vec<ServiceEntry> {
    let mut rows = rows;
    rows.sort_by_key(|r| r.entry.at_micros);
    if let Some(limit) = limit {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let excess = rows.len().saturating_sub(limit);
        rows.drain(..excess);
    }
    rows
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    fn row(service: &'static str, at_micros: i64, action: &str) -> ServiceEntry {
        ServiceEntry {
            service,
            entry: AuditEntry {
                at_micros,
                actor: "ann".to_owned(),
                action: action.to_owned(),
                subject: String::new(),
            },
        }
    }

    #[test]
    fn merged_trails_run_oldest_first_and_a_limit_keeps_the_newest() {
        let rows = vec![
            row("portal", 10, "portal.sign-in"),
            row("portal", 30, "teletan.issue"),
            row("testresult", 20, "lab-key.add"),
            row("testresult", 30, "lab-key.revoke"),
        ];
        let all = merge(rows.clone(), None);
        let order: Vec<(&str, i64)> = all.iter().map(|r| (r.service, r.entry.at_micros)).collect();
        assert_eq!(
            order,
            [
                ("portal", 10),
                ("testresult", 20),
                ("portal", 30),
                ("testresult", 30)
            ]
        );
        let newest = merge(rows.clone(), Some(2));
        let actions: Vec<&str> = newest.iter().map(|r| r.entry.action.as_str()).collect();
        assert_eq!(actions, ["teletan.issue", "lab-key.revoke"]);
        assert_eq!(merge(rows, Some(0)), Vec::new());
    }
}
