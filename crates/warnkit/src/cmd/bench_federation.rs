//! `warnkit bench federation`: the command line of the federation benchmark (`warnkit_bench::federation`:
//! many countries' uploads through a real gateway, one country's download of them all) and its report's
//! text.

use warnkit_bench::federation::FederationOptions;

use super::bench_support::{print_report, Stderr};

/// Arguments of `warnkit bench federation`.
#[derive(Debug, clap::Args)]
pub struct BenchFederationArgs {
    /// Countries uploading (the first 27 are the EU's; more get made-up codes).
    #[arg(long, default_value_t = 27, value_parser = clap::value_parser!(u16).range(2..=676))]
    countries: u16,
    /// Keys each country uploads.
    #[arg(long, default_value_t = 100_000)]
    keys: usize,
    /// Keys per batch (the gateway's default limit).
    #[arg(long, default_value_t = 5_000)]
    batch_keys: usize,
    /// Tokio worker threads, shared by the gateway, the uploaders and the downloader.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A PostgreSQL server URL: the gateway and the key store use fresh schemas there (dropped afterwards).
    /// Without it, SQLite files in a temporary directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Seed of the synthetic keys.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl BenchFederationArgs {
    /// The benchmark's options from the command line.
    fn options(&self) -> FederationOptions {
        FederationOptions {
            countries: self.countries,
            keys: self.keys,
            batch_keys: self.batch_keys,
            threads: self.threads,
            database_url: self.database_url.clone(),
            seed: self.seed,
        }
    }
}

/// Runs the benchmark and prints its figures.
pub fn run(args: BenchFederationArgs) -> anyhow::Result<std::process::ExitCode> {
    // Warnings and errors of the services (a refused or rejected batch) go to stderr.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARNKIT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let report = warnkit_bench::federation::run(&args.options(), &Stderr { json: args.json });
    print_report(report, args.json, |report| {
        println!(
            "{} countries x {} keys, batches of {}, {} worker threads, {}",
            report.countries,
            report.keys_per_country,
            report.batch_keys,
            report.threads,
            report.backend
        );
        println!(
            "upload:   {} keys in {} batches in {:.2} s = {:.0} keys/s ({:.1} MB stored at the gateway)",
            report.keys_uploaded,
            report.batches_uploaded,
            report.upload_seconds,
            report.upload_keys_per_second,
            report.gateway_bytes as f64 / 1e6
        );
        println!(
            "download: {} fetched, verified and stored {} keys from {} batches in {:.2} s = {:.0} keys/s",
            report.download_country,
            report.keys_stored,
            report.batches_downloaded,
            report.download_seconds,
            report.download_keys_per_second
        );
        println!("total:    {:.2} s", report.total_seconds);
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchFederationArgs,
    }

    #[test]
    fn the_command_line_becomes_the_options() {
        let cli = Cli::parse_from(["federation", "--countries", "3", "--seed", "9"]);
        let options = cli.args.options();
        assert_eq!((options.countries, options.seed), (3, 9));
        assert_eq!(
            (options.keys, options.batch_keys, options.threads),
            (100_000, 5_000, 2)
        );
        assert!(Cli::try_parse_from(["federation", "--countries", "1"]).is_err());
    }
}
