//! `warnkit bench privacy`: the command line of the privacy benchmark (`warnkit_bench::privacy`: can
//! someone watching the traffic tell fake requests from real ones, idle and under load?) and its
//! report's table.

use warnkit_bench::privacy::{PrivacyOptions, PrivacyReport};

use super::bench_support::{print_report, Stderr};

/// Arguments of `warnkit bench privacy`.
#[derive(Debug, clap::Args)]
pub struct BenchPrivacyArgs {
    /// Real requests per endpoint and condition, and as many fakes, interleaved at random.
    #[arg(long, default_value_t = 400)]
    requests: usize,
    /// Unmeasured real requests per endpoint before each condition, so that fakes draw their delays
    /// from real requests of that condition.
    #[arg(long, default_value_t = 64)]
    warmup: usize,
    /// Background app flows started per second during the loaded condition, at random times (each: a
    /// lab result, then the app's registration, poll, TAN and upload, all real).
    #[arg(long, default_value_t = 200.0)]
    load_rate: f64,
    /// Background flows in flight at most; a flow due while that many run is skipped.
    #[arg(long, default_value_t = 16)]
    load_concurrency: usize,
    /// Tokio worker threads of the services.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A PostgreSQL server URL: the services use fresh schemas there (dropped afterwards). Without it,
    /// SQLite files in a temporary directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl BenchPrivacyArgs {
    /// The benchmark's options from the command line.
    fn options(&self) -> PrivacyOptions {
        PrivacyOptions {
            requests: self.requests,
            warmup: self.warmup,
            load_rate: self.load_rate,
            load_concurrency: self.load_concurrency,
            threads: self.threads,
            database_url: self.database_url.clone(),
        }
    }
}

/// Runs the benchmark and prints its figures.
pub fn run(args: BenchPrivacyArgs) -> anyhow::Result<std::process::ExitCode> {
    let report = warnkit_bench::privacy::run(&args.options(), &Stderr { json: args.json });
    print_report(report, args.json, print)
}

fn print(report: &PrivacyReport) {
    println!(
        "fake vs real requests, {} of each per endpoint, {} build, {} service threads, {}; CPU: {}",
        report.requests_per_kind, report.build, report.threads, report.backend, report.cpu
    );
    println!(
        "AUC = P(real slower than fake); 0.5 is chance (sd {:.3} if alike); goal: {}",
        report.auc_null_sd, report.goal
    );
    for c in &report.conditions {
        let b = &c.background;
        println!(
            "\n{} (background: {:.0} flows/s, at most {} in flight, {} requests, {:.0}/s, {} flows \
             failed, {} skipped)",
            c.condition,
            b.flows_per_second,
            b.max_in_flight,
            b.requests,
            b.requests_per_second,
            b.failed_flows,
            b.skipped_flows
        );
        println!(
            "  {:<18} {:>6}  {:>22}  {:>22}  differ (status/headers/sizes)",
            "endpoint", "AUC", "real p10/p50/p90 ms", "fake p10/p50/p90 ms"
        );
        for e in &c.endpoints {
            let yn = |b: bool| if b { "yes" } else { "no" };
            println!(
                "  {:<18} {:>6.3}  {:>6.2} {:>6.2} {:>7.2}  {:>6.2} {:>6.2} {:>7.2}  {}/{}/{}",
                e.endpoint,
                e.auc,
                e.real.p10_ms,
                e.real.p50_ms,
                e.real.p90_ms,
                e.fake.p10_ms,
                e.fake.p50_ms,
                e.fake.p90_ms,
                yn(e.statuses_differ),
                yn(e.header_names_differ),
                yn(e.sizes_differ),
            );
        }
    }
    println!("\ngoal met: {}", if report.goal_met { "yes" } else { "no" });
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchPrivacyArgs,
    }

    #[test]
    fn the_command_line_becomes_the_options() {
        let cli = Cli::parse_from(["privacy", "--requests", "40", "--warmup", "8"]);
        let options = cli.args.options();
        assert_eq!((options.requests, options.warmup), (40, 8));
        assert_eq!(options.load_rate, 200.0);
        assert_eq!((options.load_concurrency, options.threads), (16, 2));
    }
}
