//! Experiments for warnkit: the computations behind the research and offline commands of the binary,
//! which only parses their arguments and prints their results.
//!
//! - [`risk`]: the BLE model's sightings scored with risk scoring v1 and v2 (the join of `warnkit-sim`,
//!   which stays independent of the protocol, to `warnkit_protocol::risk`).
//! - [`ble`]: a scenario or single encounter run many times, tallied and scored.
//! - [`whatif`]: a synthetic population scored against its ground truth, and a threshold sweep.
//! - [`capacity`]: bandwidth and request rates from real signed archives and real phones' requests.
//! - [`scoring`]: risk scoring v1 and v2 of exposures given as JSON.
//! - [`derive`]: RPIs and AEMs of a TEK over consecutive intervals.
//!
//! Nothing here prints: long computations report through [`warnkit_sim::progress::Progress`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ble;
pub mod capacity;
pub mod derive;
pub mod risk;
pub mod scoring;
pub mod whatif;
