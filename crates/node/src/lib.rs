//! One warnkit backend node: the configuration, the services and their listeners ([`Service`]), the
//! instance locks and `endpoints.json` of a data directory, listener limits, and the builder that starts
//! the services ([`Node::builder`]) for `warnkit serve`, the demo, the benchmarks and the tests alike.
//!
//! What operators' commands do to a node's data directory lives here too, below the command line that
//! parses their flags and prints their results: [`backup`] and restore, [`status`], the merged
//! [`audit`] trail, portal users and lab keys ([`accounts`]), one run of the distribution ([`distribute`]), signing-key rotation ([`keys`]) and
//! teleTANs issued outside the portal ([`teletan`]).
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use warnkit_node::{Config, Listen, Node, Service};
//! let node = Node::builder(Config::default())
//!     .only(&[Service::TestResult, Service::Verification])
//!     .listen(Listen::FreePorts)
//!     .start()
//!     .await?;
//! println!("verification at {}", node.url("verification")?);
//! node.stop().await;
//! # Ok(())
//! # }
//! ```

pub mod accounts;
pub mod audit;
pub mod backup;
pub mod config;
pub mod demo_clock;
pub mod distribute;
pub mod instance;
pub mod keys;
pub mod limits;
mod node;
pub mod service;
mod start;
pub mod status;
pub mod teletan;

pub use config::{Config, Overrides};
pub use node::{Listen, Node, NodeBuilder, RunningNode};
pub use service::{Service, LISTENERS};
pub use start::{publish, Handles};
pub use warnkit_service::Clock;
