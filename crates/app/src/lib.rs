//! warnkit's phone: the Exposure Notification app's logic as a library, speaking to the real backend
//! over HTTP, with time and randomness passed in so that a simulation can run days in seconds.
//!
//! - [`en`]: the simulated framework (TEKs, RPIs and AEMs, scan log, key release with consent).
//! - [`submit`]: registration by QR code, polling, TANs, uploads, all padded to one size, real or fake.
//! - [`schedule`]: the download schedule, backoff with jitter, and the catch-up bookkeeping.
//! - [`sync`]: one download run: app configuration, archives verified against the public key.
//! - [`risk`]: matching against the scan log and risk scoring (v1 by default, v2 selectable).
//! - [`phone`]: one phone tying it all together, and [`PhoneError`], why one of its actions failed.
//! - [`http`]: base URLs from `endpoints.json`, retries, traffic counters, the shared edge cache.
//! - [`air`]: what the phones of one simulation share: who heard whom, which archive lists which key.
//! - [`manual`]: a phone driven one step at a time by a person, as `warnkit phone` does.

pub mod air;
pub mod en;
mod error;
pub mod http;
pub mod manual;
pub mod phone;
pub mod risk;
pub mod schedule;
pub mod submit;
pub mod sync;

pub use http::{Endpoints, Http, HttpError};
pub use phone::{Phone, PhoneError, Settings};
pub use risk::{Level, RiskModel, RiskStatus};
pub use schedule::Backoff;
pub use sync::SyncReport;
