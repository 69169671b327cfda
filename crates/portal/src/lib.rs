//! The portal: health-authority officers sign in (password, then a TOTP code; or at an OpenID Connect
//! provider) and the hotline role issues teleTANs, the event role event ("PIW") teleTANs for a listed
//! health authority, which the portal fetches from the verification service's internal API with the
//! service token.
//!
//! Server-rendered HTML with a little progressive JavaScript; the portal keeps accounts, sessions and
//! failed sign-ins in its own database and never stores or logs a teleTAN.
//!
//! Modules, top down (each uses only those below it): `web` assembles the routes of `issuing`
//! (teleTANs), `handlers` (password sign-in, TOTP, the start page) and `sso` (OpenID Connect); they build
//! on `session` (cookies,
//! sessions, CSRF, the sign-in page) and `page` (HTML responses and error pages), which render with
//! `pages`; `service` holds the running portal's state, over `accounts`, `config`, [`oidc`], [`jwt`],
//! `store`, `hashing`, `roles`, [`totp`] and [`text`]; [`openapi`] describes the routes.

mod accounts;
pub mod admin;
mod config;
mod handlers;
mod hashing;
mod issuing;
pub mod jwt;
pub mod oidc;
pub mod openapi;
mod page;
mod pages;
mod roles;
mod service;
mod session;
mod sso;
mod store;
pub mod text;
pub mod totp;
mod web;

pub use accounts::{
    add_user, disable_user, enable_user, generate_password, list_users, remove_user, reset_totp,
    set_password, set_roles, valid_username, MIN_PASSWORD_CHARS,
};
pub use config::{HealthAuthority, PortalConfig};
pub use oidc::OidcConfig;
pub use roles::{Role, Roles};
pub use service::{PortalService, NAME};
pub use store::UserSummary;

/// The embedded schema migrations of the portal.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
        let c = warnkit_service::Clock::manual(100);
        c.advance(5);
        assert_eq!(c.now(), 105);
        assert!(warnkit_service::Clock::system().now() > 1_700_000_000);
    }
}
