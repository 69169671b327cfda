//! Protobuf messages, field numbers exactly as the original wire formats.
//!
//! The messages are declared with `prost` derives rather than generated from `.proto` files at build
//! time: that needs no `protoc` and no build script, and keeps proto2 defaults (such as
//! `rolling_period = 144`) visible next to the fields. Field numbers and types follow the published
//! `exposure_key_export.proto` and the original backend's `submission_payload.proto` and
//! `app_config.proto`; the tests decode real files from the original systems.

pub mod app_config;
pub mod app_config_v2;
pub mod export;
pub mod submission;

pub use export::{
    ReportType, SignatureInfo, TekSignature, TekSignatureList, TemporaryExposureKey,
    TemporaryExposureKeyExport,
};
pub use submission::{SubmissionPayload, SubmissionType};
