//! The portal: health-authority officers sign in (password, then a TOTP code; or at an OpenID Connect
//! provider) and the hotline role issues teleTANs, the event role event ("PIW") teleTANs for a listed
//! health authority, which the portal fetches from the verification service's internal API with the
//! service token.
//!
//! Server-rendered HTML with a little progressive JavaScript; the portal keeps accounts, sessions and
//! failed sign-ins in its own database and never stores or logs a teleTAN.

mod accounts;
mod handlers;
mod hashing;
pub mod jwt;
pub mod oidc;
mod pages;
mod sso;
mod store;
pub mod text;
pub mod totp;
mod web;

pub use accounts::{remove_user, reset_totp, set_password, set_roles};
pub use oidc::OidcConfig;

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use warnkit_service::{AppError, AppResult, Metrics};
use warnkit_store::Db;

use crate::hashing::{hash_password, HashPool};

/// The embedded schema migrations of the portal.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The service's name: metrics label, SQLite file stem and PostgreSQL schema.
pub const NAME: &str = "portal";

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

/// What an officer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Issues teleTANs to callers with a confirmed positive test.
    Hotline,
    /// Issues event ("PIW") teleTANs on behalf of a health authority picked from the configured list.
    Event,
    /// Health-authority staff: may sign in, may not issue teleTANs.
    HealthAuthority,
    /// Administers the portal; accounts are managed with `warnkit portal user`.
    Admin,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 4] = [
        Role::Hotline,
        Role::Event,
        Role::HealthAuthority,
        Role::Admin,
    ];

    /// Storage and command-line form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Hotline => "hotline",
            Role::Event => "event",
            Role::HealthAuthority => "health-authority",
            Role::Admin => "admin",
        }
    }

    /// Parses the storage form.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The roles of one officer (an account may hold several, e.g. `hotline,event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles(u8);

impl Roles {
    /// No role at all.
    pub const NONE: Roles = Roles(0);

    /// Whether `role` is among these.
    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// These and `role`.
    pub fn with(self, role: Role) -> Roles {
        Roles(self.0 | role.bit())
    }

    /// Whether there is no role.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles, in display order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// Parses the storage and command-line form, a comma-separated list (`hotline,event`); `None` if any
    /// name is unknown or the list is empty.
    pub fn parse(s: &str) -> Option<Roles> {
        let mut roles = Roles::NONE;
        for name in s.split(',') {
            roles = roles.with(Role::parse(name.trim())?);
        }
        (!roles.is_empty()).then_some(roles)
    }
}

impl From<Role> for Roles {
    fn from(role: Role) -> Roles {
        Roles::NONE.with(role)
    }
}

impl fmt::Display for Roles {
    /// The storage form: names joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// The portal's clock (epoch seconds): the system clock in production, a settable one in tests, so that
/// session expiry and rate limits can be tested without waiting.
#[derive(Debug, Clone)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock that stands still at `start` until moved with [`Clock::advance`].
    pub fn manual(start: i64) -> Self {
        Clock(Some(Arc::new(AtomicI64::new(start))))
    }

    /// Now, in seconds since the epoch.
    pub fn now(&self) -> i64 {
        match &self.0 {
            None => warnkit_store::unix_now(),
            Some(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, secs: i64) {
        if let Some(t) = &self.0 {
            t.fetch_add(secs, Ordering::SeqCst);
        }
    }
}

/// A running portal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PortalService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    config: PortalConfig,
    service_token: String,
    clock: Clock,
    http: reqwest::Client,
    metrics: Metrics,
    /// Checks sign-in passwords on blocking threads, a bounded number at once; holds the dummy hash that
    /// unknown user names are checked against, so that their timing matches known ones.
    hashes: HashPool,
    /// The OpenID provider, when configured.
    oidc: Option<oidc::Oidc>,
}

impl PortalService {
    /// A portal on an opened and migrated `db`; `service_token` is presented to the verification service.
    pub fn new(
        db: Db,
        config: PortalConfig,
        service_token: String,
        clock: Clock,
    ) -> AppResult<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.verification_timeout_ms))
            .build()
            .map_err(AppError::internal)?;
        let hashes = HashPool::new(config.password_hash_concurrency, config.password_hash_queue)?;
        let oidc = oidc::Oidc::from_config(&config.oidc)?;
        check_authorities(&config.health_authorities)?;
        let inner = Inner {
            db,
            config,
            service_token,
            clock,
            http,
            metrics: Metrics::new(NAME),
            hashes,
            oidc,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The portal's routes, with probes and metrics.
    pub fn router(&self) -> axum::Router {
        web::router(self.clone())
    }

    /// The database this service owns.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The portal's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Creates an account (for `warnkit portal user add`). Names are 1-64 characters of `a-z 0-9 . _ -`;
    /// passwords need at least 10 characters.
    pub async fn add_user(
        &self,
        username: &str,
        password: &str,
        roles: impl Into<Roles>,
        totp: bool,
    ) -> AppResult<()> {
        add_user(
            &self.inner.db,
            username,
            password,
            roles.into(),
            totp,
            self.inner.clock.now(),
        )
        .await
    }
}

/// Creates an account directly in `db`; see [`PortalService::add_user`].
pub async fn add_user(
    db: &Db,
    username: &str,
    password: &str,
    roles: Roles,
    totp: bool,
    now: i64,
) -> AppResult<()> {
    if !valid_username(username) {
        return Err(AppError::bad_request(
            "invalid_username",
            "user names are 1-64 characters of a-z 0-9 . _ -",
        ));
    }
    check_password(password)?;
    if roles.is_empty() {
        return Err(AppError::bad_request("no_role", "an account needs a role"));
    }
    let hash = hash_password(password)?;
    if !store::insert_user(db, username, &hash, roles, totp, now).await? {
        return Err(AppError::new(
            axum::http::StatusCode::CONFLICT,
            "user_exists",
            "a user with this name exists",
        ));
    }
    tracing::info!(target: "audit", user = username, role = %roles, totp, "portal user added");
    Ok(())
}

/// Refuses passwords shorter than [`MIN_PASSWORD_CHARS`].
fn check_password(password: &str) -> AppResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::bad_request(
            "weak_password",
            format!("passwords need at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Refuses a health-authority list with an empty name or number, or a number twice (the form posts it).
fn check_authorities(list: &[HealthAuthority]) -> AppResult<()> {
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

/// The shortest password `add_user` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Whether `name` is an acceptable user name.
pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// A random password of 20 characters from an alphabet without look-alikes (about 115 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords() {
        let p = generate_password();
        assert_eq!(p.len(), 20);
        assert!(p.len() >= MIN_PASSWORD_CHARS);
        assert_ne!(p, generate_password());
    }

    #[test]
    fn names_roles_clock() {
        assert!(valid_username("ann.officer-1"));
        assert!(!valid_username("Ann"));
        assert!(!valid_username(""));
        assert!(!valid_username(&"a".repeat(65)));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(Roles::parse(r.as_str()), Some(r.into()));
        }
        let both = Roles::parse("event, hotline").unwrap();
        assert!(both.contains(Role::Hotline) && both.contains(Role::Event));
        assert!(!both.contains(Role::Admin));
        assert_eq!(both.to_string(), "hotline,event");
        assert_eq!(Roles::parse(&both.to_string()), Some(both));
        assert_eq!(Roles::parse(""), None);
        assert_eq!(Roles::parse("hotline,boss"), None);
        let c = Clock::manual(100);
        c.advance(5);
        assert_eq!(c.now(), 105);
        assert!(Clock::system().now() > 1_700_000_000);
    }
}
