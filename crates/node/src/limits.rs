//! How many connections each listener may hold: the configured `[listeners]` limits fitted into the
//! process's descriptor limit, which is raised to its hard limit first.

use warnkit_service::server::{ListenerLimits, MIN_CONNECTIONS};

use crate::config::Config;

/// Descriptors kept for everything but connections: standard streams, the runtime, the listeners, key,
/// log and published files.
const RESERVED_DESCRIPTORS: u64 = 64;
/// Descriptors one database connection may hold (SQLite: the file, its WAL and its shared memory).
const DESCRIPTORS_PER_DB_CONNECTION: u64 = 3;

/// The configured `[listeners]` limits with the cap fitted into the descriptor limit (raised to the
/// hard limit first): `listeners` shares, plus two for the connections the services open to each other
/// (submission and portal to verification, verification to testresult), after `pools` database pools
/// at their size and [`RESERVED_DESCRIPTORS`].
pub fn listener_limits(config: &Config, listeners: usize, pools: usize) -> ListenerLimits {
    let configured = config.listeners;
    let Some(descriptors) = raise_descriptor_limit() else {
        return configured;
    };
    let reserved = RESERVED_DESCRIPTORS
        + DESCRIPTORS_PER_DB_CONNECTION * u64::from(config.database_max_connections) * pools as u64;
    let shares = listeners + 2;
    let fitted = configured.fitted(descriptors, reserved, shares);
    if descriptors < reserved + (shares * MIN_CONNECTIONS) as u64 {
        tracing::warn!(
            descriptors,
            reserved,
            listeners,
            "the descriptor limit is too low for this many listeners and database connections; raise it \
             (`ulimit -n`, systemd's LimitNOFILE) or lower database_max_connections"
        );
    }
    tracing::info!(
        listeners,
        max_connections = fitted.max_connections,
        configured = configured.max_connections,
        header_timeout_ms = fitted.header_timeout_ms,
        body_timeout_ms = fitted.body_timeout_ms,
        idle_timeout_ms = fitted.idle_timeout_ms,
        "connection limits per listener"
    );
    fitted
}

/// Raises the soft limit on open descriptors to the hard limit, once per process, and logs both: the
/// soft limit in force, `None` when unlimited (or not a Unix).
fn raise_descriptor_limit() -> Option<u64> {
    static RAISED: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *RAISED.get_or_init(|| {
        #[cfg(unix)]
        {
            use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
            let shown =
                |limit: Option<u64>| limit.map_or("unlimited".to_owned(), |n| n.to_string());
            let before = getrlimit(Resource::Nofile);
            let mut soft = before.current;
            if before.current != before.maximum {
                let raised = Rlimit {
                    current: before.maximum,
                    maximum: before.maximum,
                };
                match setrlimit(Resource::Nofile, raised) {
                    Ok(()) => soft = before.maximum,
                    Err(e) => tracing::warn!(error = %e, "raising the descriptor limit failed"),
                }
            }
            tracing::info!(
                before = %shown(before.current),
                soft = %shown(soft),
                hard = %shown(before.maximum),
                "descriptor limit (RLIMIT_NOFILE)"
            );
            soft
        }
        #[cfg(not(unix))]
        None
    })
}
