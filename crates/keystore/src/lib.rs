//! warnkit's key store: the diagnosis keys that the services share, and the only way to them.
//!
//! The submission service writes the keys of uploads, the distribution job reads them a day at a time,
//! and the federation jobs read a country's own consented keys and add other countries' keys (each with
//! its origin). All of them go through [`KeyStore`]; none depends on another service for it.
//!
//! - [`store`]: the table and its API: insert (one writer task, group commit), the bulk read, counts.
//! - [`retention`]: the one job that deletes stored keys, driven by one setting ([`KeyRetention`]).
//!
//! The keys live in the database named [`DATABASE`] (the SQLite file `DATA_DIR/submission.sqlite`, or the
//! PostgreSQL schema `submission`), the name they had when the submission service owned them; its
//! migrations ([`MIGRATOR`]) are those files, unchanged, so existing data directories and schemas open as
//! they are.

pub mod retention;
pub mod store;

pub use retention::KeyRetention;
pub use store::{KeyStore, StoredKey};

/// The embedded migrations of the key store's database: the keys table and the audit trail. Their
/// versions, names and contents (sqlx checksums) are those the submission service applied, and must
/// never change.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The key store's database: SQLite file stem and PostgreSQL schema.
pub const DATABASE: &str = "submission";
