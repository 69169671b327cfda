//! Risk scoring: v1 (exposure summary and combined risk score, app 1.x) and v2 (exposure windows,
//! the later original's algorithm).
//!
//! Both are pure functions of a configuration and the framework's output; dates are UTC day numbers
//! chosen by the caller.

pub mod v1;
pub mod v2;

mod proto;
