//! The subcommands of `warnkit`, one module each.

pub mod audit;
pub mod backup;
pub mod bench;
pub mod bench_federation;
pub mod bench_privacy;
pub mod bench_submission;
mod bench_support;
pub mod capacity;
pub mod config;
pub mod demo;
pub mod distribute;
pub mod en;
pub mod export;
pub mod gateway;
pub mod keygen;
pub mod keys;
pub mod lab;
pub mod phone;
pub mod portal;
pub mod progress;
pub mod risk;
pub mod serve;
pub mod sim;
pub mod status;
mod table;
pub mod teletan;
