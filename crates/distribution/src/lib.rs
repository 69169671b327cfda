//! warnkit's distribution: the job that turns stored diagnosis keys into signed hourly and daily
//! archives, index files and the signed app configuration, and the static server that publishes them.
//!
//! - [`app_config`]: the v1 and v2 app configurations, from one table of settings.
//! - [`layout`]: the published URL layout (compatible with the original).
//! - [`plan`]: what a run publishes, as a pure function of keys and time.
//! - [`objects`]: the object store (local directory or S3).
//! - [`openapi`]: the document served at `/openapi.json`: the layout, content types and cache headers.
//! - [`job`]: one run: lock, read, plan, write archives, then indexes, then clean up.
//! - [`error`]: why the job did not start or a run failed ([`DistributionError`]).
//! - [`report`]: what a run did: its summary, the last run's record and the run metrics.
//! - [`server`]: the static file server with ETags and cache headers.
//! - [`signing`]: the signing key under `DATA_DIR/signing/`.

pub mod app_config;
pub mod error;
pub mod job;
pub mod layout;
pub mod objects;
pub mod openapi;
pub mod plan;
pub mod report;
pub mod server;
pub mod signing;

pub use app_config::AppConfigSettings;
pub use error::{DistributionError, RewindRefused};
pub use job::{Distribution, DistributionConfig};
pub use layout::Kind;
pub use objects::{Objects, StoreConfig};
pub use report::{DayCount, LastRun, RunReport};
pub use server::StaticFiles;
