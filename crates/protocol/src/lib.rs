//! The Exposure Notification protocol core of warnkit.
//!
//! Everything a backend or a phone needs to speak the protocol, and nothing that touches the outside
//! world: no files, sockets, clocks, environment or random number generator of its own. Callers pass
//! time in as interval numbers or Unix seconds, and randomness as a [`rand_core::CryptoRngCore`].
//!
//! - [`interval`]: the 10-minute ENIntervalNumber time base.
//! - [`crypto`]: TEK, RPIK, AEMK, RPI, AEM and the broadcast metadata.
//! - [`matching`]: diagnosis keys × observed RPIs → exposures, built for throughput.
//! - [`proto`]: the protobuf messages (export files, submission payload, app configuration).
//! - [`export`]: signed export archives (`export.bin` + `export.sig` in a zip).
//! - [`qr`]: the test GUID in a PCR test's QR code.
//! - [`risk`]: risk scoring, v1 (exposure summary) and v2 (exposure windows).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod crypto;
pub mod export;
pub mod interval;
pub mod limits;
pub mod matching;
pub mod proto;
pub mod qr;
pub mod risk;

pub use rand_core;
