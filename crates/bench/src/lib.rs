//! warnkit's benchmarks: each one's workload, measurement and serialisable report, from plain option
//! structs. Nothing here prints: progress goes through a [`Reporter`] the caller implements, and the
//! binary's `warnkit bench` turns command lines into options and reports into tables or JSON.
//!
//! - [`matching`]: the phone's matcher against the AES bound of this machine;
//! - [`distribution`]: a key database filled, then one `warnkit distribute` process timed;
//! - [`submission`]: uploads per second with real TAN checks over HTTP;
//! - [`federation`]: countries' uploads through a gateway, one country's download of them all;
//! - [`privacy`]: whether anything an observer sees tells fake requests from real ones.

pub mod distribution;
pub mod federation;
pub mod machine;
pub mod matching;
pub mod privacy;
pub mod reporter;
mod runtime;
mod scratch;
mod services;
pub mod submission;

pub use reporter::{Reporter, Silent, Steps};
