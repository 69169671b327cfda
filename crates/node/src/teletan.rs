//! A teleTAN issued by an operator on a node's verification database, outside the portal, and recorded
//! in that database's audit trail before anyone sees it.

use anyhow::Context;
use warnkit_store::{audit, Db};
use warnkit_verification::{TeletanType, VerificationService};

use crate::config::Config;

/// A teleTAN just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The teleTAN.
    pub teletan: String,
    /// Its type.
    pub kind: TeletanType,
    /// How long a teleTAN of its type is valid, in seconds (the configuration's).
    pub valid_secs: u64,
    /// A lower bound of the end of its validity, Unix seconds: taken before issuing, while the stored
    /// validity starts a moment later.
    pub valid_until: i64,
}

/// Issues a teleTAN of `kind` on `config`'s verification database (counted against the global hourly
/// limit) and records, by `actor`, who issued which type, never the value. A teleTAN whose issue could
/// not be recorded is not returned.
pub async fn issue(config: &Config, kind: TeletanType, actor: &str) -> anyhow::Result<Issued> {
    let target = config.db_target(warnkit_verification::NAME);
    let db = Db::open(&target, config.pool(), &warnkit_verification::MIGRATIONS)
        .await
        .context("opening the verification database")?;
    let service = VerificationService::new(db.clone(), config.verification.clone(), String::new())
        .context("starting the verification service")?;
    let valid_secs = match kind {
        TeletanType::Test => config.verification.teletan_valid_secs,
        TeletanType::Event => config.verification.teletan_event_valid_secs,
    };
    let valid_until = warnkit_store::unix_now() + i64::try_from(valid_secs).unwrap_or(i64::MAX / 2);
    let teletan = service
        .create_teletan(kind)
        .await
        .context("issuing the teleTAN")?;
    let recorded = audit::record(&db, actor, "teletan.issue", kind.as_str()).await;
    db.close().await;
    recorded.context("recording the teleTAN in the audit trail (it was not shown)")?;
    Ok(Issued {
        teletan,
        kind,
        valid_secs,
        valid_until,
    })
}
