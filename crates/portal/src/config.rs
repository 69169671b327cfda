//! The portal's configuration (`[portal]` in the config file) and its check at start.

use serde::{Deserialize, Serialize};
use warnkit_service::{AppError, AppResult};

use crate::oidc::OidcConfig;

/// Configuration of the portal (`[portal]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// Base URL of the verification service's internal API.
    pub verification_url: String,
    /// Timeout of one call to the verification service, in milliseconds.
    pub verification_timeout_ms: u64,
    /// Seconds a session lives after sign-in (absolute, not sliding).
    pub session_secs: u64,
    /// Seconds an officer must wait between two teleTANs.
    pub teletan_interval_secs: u64,
    /// Seconds the teleTAN page shows the teleTAN before clearing it.
    pub teletan_display_secs: u64,
    /// Failed sign-ins per account before sign-in is refused for the rest of the window.
    pub login_max_failures: u32,
    /// Length of the failed sign-in window, in seconds.
    pub login_window_secs: u64,
    /// Mark cookies `Secure` (set when a TLS proxy fronts the portal; also set per request when the proxy
    /// sends `X-Forwarded-Proto: https`).
    pub cookie_secure: bool,
    /// Request bodies over this many bytes get 413.
    pub max_body_bytes: usize,
    /// Sign-in password checks (Argon2id, 19 MiB each) run at once, on blocking threads; 0 means half the
    /// CPU cores, at least 1.
    pub password_hash_concurrency: usize,
    /// Sign-ins that may wait for a free password check besides those running; one more at once gets 503
    /// `busy` with `Retry-After: 1`.
    pub password_hash_queue: usize,
    /// The health authorities an officer with the event role picks from for an event ("PIW") teleTAN.
    pub health_authorities: Vec<HealthAuthority>,
    /// Sign-in at an OpenID Connect provider (off while `issuer` is empty).
    pub oidc: OidcConfig,
}

/// A health authority on the event teleTAN form: its name and its number (the original's "Kopfnummer").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthAuthority {
    /// Shown in the list and in the audit line.
    pub name: String,
    /// The authority's number, unique in the list; the form posts it.
    pub nr: String,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            verification_url: "http://127.0.0.1:8012".to_owned(),
            verification_timeout_ms: 5000,
            session_secs: 4 * 3600,
            teletan_interval_secs: 30,
            teletan_display_secs: 600,
            login_max_failures: 5,
            login_window_secs: 900,
            cookie_secure: false,
            max_body_bytes: 10_000,
            password_hash_concurrency: 0,
            password_hash_queue: 64,
            health_authorities: Vec::new(),
            oidc: OidcConfig::default(),
        }
    }
}

/// Refuses a health-authority list with an empty name or number, or a number twice (the form posts it).
pub(crate) fn check_authorities(list: &[HealthAuthority]) -> AppResult<()> {
    let mut seen = std::collections::BTreeSet::new();
    for a in list {
        if a.name.trim().is_empty() || a.nr.trim().is_empty() || !seen.insert(a.nr.as_str()) {
            return Err(AppError::bad_request(
                "invalid_config",
                format!(
                    "portal.health_authorities: each entry needs a name and a unique nr ({:?})",
                    a.nr
                ),
            ));
        }
    }
    Ok(())
}
