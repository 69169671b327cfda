//! The parts every warnkit HTTP service shares: one error envelope ([`AppError`]), a strict JSON extractor
//! ([`AppJson`]), the request-size limit, a small Prometheus registry ([`Metrics`]), the `/health`, `/ready`,
//! `/metrics` and `/openapi.json` routes, bearer-token checks, and serving with graceful shutdown.

pub mod auth;
pub mod error;
pub mod http;
pub mod metrics;
pub mod server;

pub use error::{AppError, AppResult};
pub use http::{AppJson, ServiceRouter};
pub use metrics::Metrics;
