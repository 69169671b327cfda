//! Cross-border federation: a gateway that countries' backends exchange diagnosis keys through, and each
//! backend's jobs that upload its consented keys and download the others'.
//!
//! Modelled on the European Federation Gateway Service (EFGS): `POST /diagnosiskeys/upload` with a signed
//! `DiagnosisKeyBatch`, `GET /diagnosiskeys/download/{date}` paged by batch tags, and an audit trail. A
//! batch signature is ECDSA P-256/SHA-256 over a canonical encoding of the keys ([`batch`]), checked by
//! the gateway on upload and again by every downloading country against the uploader's key.
//!
//! For a demo or a test: start a [`Gateway`] on a listener, give each country a [`Federation`] over its
//! key store, and call [`Federation::upload_once`] and [`Federation::download_once`].

pub mod batch;
pub mod client;
pub mod config;
pub mod date;
pub mod error;
pub mod gateway;
pub mod jobs;
pub mod proto;

pub use client::GatewayClient;
pub use config::{CountryEntry, FederationConfig, GatewayConfig, Settings};
pub use error::FederationError;
pub use gateway::Gateway;
pub use jobs::{DownloadReport, Federation, UploadReport};
