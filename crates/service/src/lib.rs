//! The parts every warnkit HTTP service shares: one error envelope ([`AppError`]), a strict JSON extractor
//! ([`AppJson`]), the request-size limit, a small Prometheus registry ([`Metrics`]), the `/health`, `/ready`
//! and `/openapi.json` routes, the operators' metrics listener that serves every registry of a process
//! ([`metrics_router`], the only place `/metrics` exists), bearer-token checks, fake requests answered
//! like real ones ([`fake`]), serving with graceful shutdown, background jobs that run on a period until
//! that shutdown, the P-256 signing key pairs kept on disk, and the one [`Clock`] every service reads.

pub mod auth;
pub mod clock;
pub mod error;
pub mod fake;
pub mod http;
pub mod keypair;
pub mod metrics;
pub mod openapi;
pub mod periodic;
pub mod server;

pub use clock::Clock;
pub use error::{AppError, AppResult};
pub use http::{metrics_router, AppJson, ServiceRouter};
pub use metrics::Metrics;
