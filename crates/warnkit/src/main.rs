//! `warnkit`: one binary for every role of the exposure-notification system.
//!
//! Each subcommand lives in its own module under `cmd/`; this file only wires them together and turns
//! errors into one clear line and a non-zero exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod config;

/// An open exposure-notification system: backend services, the phone's protocol, simulation.
#[derive(Debug, Parser)]
#[command(name = "warnkit", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exposure Notification crypto: derive RPIs and AEMs from a TEK.
    #[command(subcommand)]
    En(cmd::en::EnCommand),
    /// Export archives: inspect, verify and build signed diagnosis-key files.
    #[command(subcommand)]
    Export(cmd::export::ExportCommand),
    /// Run the distribution job once: publish signed key files, indexes and the app configuration.
    Distribute(cmd::distribute::DistributeArgs),
    /// Generate a P-256 signing key pair for export files.
    Keygen(cmd::keygen::KeygenArgs),
    /// The distribution's signing keys: list them with their validity, rotate to a new one.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Score exposures with risk scoring v1 or v2.
    #[command(subcommand)]
    Risk(cmd::risk::RiskCommand),
    /// Benchmarks of the protocol core.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Simulation: BLE detection limits and risk-configuration what-ifs, with plots.
    #[command(subcommand)]
    Sim(cmd::sim::SimCommand),
    /// Capacity planning: traffic and request rates of key downloads, from real signed archives.
    Capacity(cmd::capacity::CapacityArgs),
    /// Run the backend services (verification, test results, ...) in one process.
    Serve(cmd::serve::ServeArgs),
    /// What runs on a data directory: services, the last distribution run, keys stored and published.
    Status(cmd::status::StatusArgs),
    /// The federation gateway between countries' backends, and its member countries.
    Gateway(cmd::gateway::GatewayArgs),
    /// Print the effective configuration (defaults, file, WARNKIT_* environment, flags).
    Config(cmd::config::ConfigCommandArgs),
    /// Lab API keys, and posting a test result as a lab would.
    #[command(subcommand)]
    Lab(cmd::lab::LabCommand),
    /// Issue a teleTAN from the command line.
    #[command(subcommand)]
    Teletan(cmd::teletan::TeletanCommand),
    /// Simulate phones living days against the real services: who was exposed, who was warned.
    Demo(cmd::demo::DemoArgs),
    /// A simulated phone for manual testing against a server (state in a directory).
    #[command(subcommand)]
    Phone(cmd::phone::PhoneCommand),
    /// The officers' portal: accounts.
    #[command(subcommand)]
    Portal(cmd::portal::PortalCommand),
    /// Copy a data directory, live, into a backup: database snapshots, keys, tokens, published files.
    Backup(cmd::backup::BackupArgs),
    /// Bring a backup back into a data directory that no server uses.
    Restore(cmd::backup::RestoreArgs),
    /// The audit trail of every service: sign-ins, teleTANs issued, account and key changes.
    Audit(cmd::audit::AuditArgs),
}

impl Command {
    /// Whether the command may create a data directory, a database, a key or a token (every match arm is
    /// explicit, so a new command has to decide). Those commands create every file owner-only.
    fn creates_private_files(&self) -> bool {
        match self {
            Command::Serve(_)
            | Command::Status(_)
            | Command::Gateway(_)
            | Command::Distribute(_)
            | Command::Lab(_)
            | Command::Teletan(_)
            | Command::Portal(_)
            | Command::Demo(_)
            | Command::Phone(_)
            | Command::Keygen(_)
            | Command::Keys(_)
            | Command::Backup(_)
            | Command::Restore(_)
            | Command::Audit(_) => true,
            // Their output (archives, plots, reports) is the user's to share, and keeps the usual modes.
            Command::En(_)
            | Command::Export(_)
            | Command::Risk(_)
            | Command::Bench(_)
            | Command::Sim(_)
            | Command::Capacity(_)
            | Command::Config(_) => false,
        }
    }
}

/// Makes every file and directory this process creates from now on its owner's only (umask 077),
/// whichever code creates it: SQLite's databases and their `-wal` and `-shm`, the published files, locks,
/// keys. warnkit's own writers set these modes explicitly as well (`warnkit_store::owner_only`).
fn owner_only_umask() {
    #[cfg(unix)]
    {
        use rustix::fs::Mode;
        rustix::process::umask(Mode::RWXG | Mode::RWXO);
    }
}

/// A reader that stops early (`warnkit risk defaults v2 | head`) closes the pipe; `println!` then panics.
/// Rust ignores SIGPIPE, so instead of dying quietly as other Unix tools do the program would print a
/// panic. This ends such a process as SIGPIPE would (status 141), and leaves every other panic as it is.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Whether a command failed only because its reader went away (see [`quiet_on_closed_stdout`]): a
/// broken pipe as the error itself or under one context, as a command's own writes return it. A broken
/// connection deep inside an HTTP client's chain of causes is a real failure and keeps its message.
fn closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().count() <= 2
        && err
            .root_cause()
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    if cli.command.creates_private_files() {
        owner_only_umask();
    }
    let result = match cli.command {
        Command::En(c) => cmd::en::run(c),
        Command::Export(c) => cmd::export::run(c),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Keys(c) => cmd::keys::run(c),
        Command::Distribute(a) => cmd::distribute::run(a),
        Command::Risk(c) => cmd::risk::run(c),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Sim(c) => cmd::sim::run(c),
        Command::Capacity(a) => cmd::capacity::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Status(a) => cmd::status::run(a),
        Command::Gateway(a) => cmd::gateway::run(a),
        Command::Config(a) => cmd::config::run(a),
        Command::Lab(c) => cmd::lab::run(c),
        Command::Teletan(c) => cmd::teletan::run(c),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Phone(c) => cmd::phone::run(c),
        Command::Portal(c) => cmd::portal::run(c),
        Command::Backup(a) => cmd::backup::run(a),
        Command::Restore(a) => cmd::backup::run_restore(a),
        Command::Audit(a) => cmd::audit::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) if closed_stdout(&err) => ExitCode::from(141),
        Err(err) => {
            // One line: the whole cause chain, joined, so scripts can grep it.
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
