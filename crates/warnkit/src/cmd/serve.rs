//! `warnkit serve`: every backend service in one process, each on its own port, talking HTTP to each other
//! exactly as separate deployments would. This module parses the flags and waits for the signal; the
//! node crate (`warnkit_node`) starts and stops the services.
//!
//! No service serves its metrics on its own port: phones, labs, officers and other countries reach those,
//! and the counters tell real requests from fake ones. The metrics of every service in the process are
//! served together on one internal listener instead, `metrics` (the gateway's on `gateway_metrics`, so
//! that a backend and a gateway on one machine do not collide).
//!
//! One data directory has one runner per service: each service a `warnkit serve` runs is an exclusive
//! lock, `DATA_DIR/locks/serve-<service>.lock`, and the distribution schedule another,
//! `locks/distribution-schedule.lock`, all taken before anything is bound. Processes that split the
//! services between them (`--only`) share `endpoints.json`: each adds its own listeners and on the way
//! out removes only those.
//!
//! `--demo-clock` serves the demo's backend (no portal) on a manual clock with the schedules off, plus
//! the loopback-only clock control through which `warnkit demo --server` moves it.

use std::process::ExitCode;

use anyhow::Context;
use warnkit_node::{Clock, Listen, Node, Service};
use warnkit_service::server::termination_signal;

use crate::config::{Config, ConfigArgs};

/// Arguments of `warnkit serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Run only these services (comma-separated), e.g. `--only verification,testresult`.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    only: Vec<String>,
    /// Listen on N, N+1, ... in the contract's order: distribution, submission, verification,
    /// testresult, portal, verification_internal, gateway, metrics, gateway_metrics.
    #[arg(long, value_name = "N")]
    port_base: Option<u16>,
    /// Log one JSON object per line.
    #[arg(long)]
    log_json: bool,
    /// Serve the demo's backend with its clock set by `warnkit demo --server` (loopback only).
    #[arg(long)]
    demo_clock: bool,
}

/// Runs `warnkit serve` until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(&args.config)?;
    if args.port_base.is_some() {
        config.port_base = args.port_base;
    }
    config.log.json |= args.log_json;
    init_logging(&config)?;
    let node = builder(config, &args.only, args.demo_clock)?;
    super::block_on_threads(async {
        let mut node = node.start().await?;
        let outcome = tokio::select! {
            () = termination_signal() => {
                tracing::info!("shutting down");
                Ok(())
            }
            failed = node.failed() => failed,
        };
        node.stop().await;
        outcome
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The node `warnkit serve` starts: the services `only` names (or the defaults), on the configured
/// ports; with `demo_clock`, the demo's services on a manual clock, schedules off, with the control.
fn builder(
    config: Config,
    only: &[String],
    demo_clock: bool,
) -> anyhow::Result<warnkit_node::NodeBuilder> {
    let builder = Node::builder(config).listen(Listen::Configured);
    if !demo_clock {
        return Ok(builder.only(&Service::select(only)?));
    }
    anyhow::ensure!(
        only.is_empty(),
        "--demo-clock serves the demo's fixed set of services; it does not combine with --only"
    );
    Ok(builder
        .only(&Service::DEMO)
        .clock(Clock::manual(warnkit_store::unix_now()))
        .schedules(false)
        .demo_clock(true)
        .command("warnkit serve --demo-clock"))
}

/// Runs only the services `names`, as `serve --only` would: for the commands that are one service
/// (`warnkit gateway`).
pub fn run_only(
    config_args: &ConfigArgs,
    port_base: Option<u16>,
    log_json: bool,
    names: &[&str],
) -> anyhow::Result<ExitCode> {
    run(ServeArgs {
        config: config_args.clone(),
        only: names.iter().map(|n| (*n).to_owned()).collect(),
        port_base,
        log_json,
        demo_clock: false,
    })
}

/// Installs the `tracing` subscriber: text or JSON to stderr, filtered by `WARNKIT_LOG` or the config.
pub fn init_logging(config: &Config) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("WARNKIT_LOG")
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .context("invalid log filter")?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let result = if config.log.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A subscriber that is already installed (tests, repeated calls) is fine.
    drop(result);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_clock_refuses_only_and_public_addresses() {
        let err = builder(Config::default(), &["submission".into()], true)
            .err()
            .expect("--only with --demo-clock is refused");
        assert!(err.to_string().contains("--only"), "{err}");
        assert!(builder(Config::default(), &["nope".into()], false).is_err());
        let config = Config {
            host: "0.0.0.0".into(),
            ..Config::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let started = runtime.block_on(builder(config, &[], true).unwrap().start());
        let err = started.err().expect("a public address is refused");
        assert!(err.to_string().contains("loopback"), "{err}");
    }
}
