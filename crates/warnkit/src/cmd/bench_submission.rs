//! `warnkit bench submission`: the command line of the submission benchmark (`warnkit_bench::submission`:
//! real uploads with real TAN checks over HTTP, every service in this process) and its report's text.

use warnkit_bench::submission::SubmissionOptions;

use super::bench_support::{print_report, Stderr};

/// Arguments of `warnkit bench submission`.
#[derive(Debug, clap::Args)]
pub struct BenchSubmissionArgs {
    /// Uploads to measure (each spends one TAN, prepared beforehand through the app API).
    #[arg(long, default_value_t = 20_000)]
    submissions: usize,
    /// Keys per upload.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u8).range(1..=14))]
    keys: u8,
    /// Uploads in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Tokio worker threads, shared by the three services and the load generator.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A PostgreSQL server URL: the services use a fresh database there (dropped afterwards; the role
    /// needs CREATEDB). Without it, SQLite files in a temporary directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Seconds a spent TAN answers a repeat of its upload (the verification setting `tan_repeat_secs`);
    /// 0 records nothing, which shows what the all-or-nothing guarantee costs.
    #[arg(long, value_name = "SECS")]
    tan_repeat_secs: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl BenchSubmissionArgs {
    /// The benchmark's options from the command line.
    fn options(&self) -> SubmissionOptions {
        SubmissionOptions {
            submissions: self.submissions,
            keys: self.keys,
            concurrency: self.concurrency,
            threads: self.threads,
            database_url: self.database_url.clone(),
            tan_repeat_secs: self.tan_repeat_secs,
        }
    }
}

/// Runs the benchmark and prints its figures.
pub fn run(args: BenchSubmissionArgs) -> anyhow::Result<std::process::ExitCode> {
    let report = warnkit_bench::submission::run(&args.options(), &Stderr { json: args.json });
    print_report(report, args.json, |report| {
        println!(
            "{} uploads of {} keys on {} ({} threads, {} in flight, tan_repeat_secs {}; {}): {:.2} s, {:.0} uploads/s, {:.0} keys/s, \
             p50 {:.1} ms, p99 {:.1} ms, {:.2} CPU s in this process ({:.0} uploads per CPU second), \
             {} failures, {} keys stored",
            report.submissions,
            report.keys_per_submission,
            report.backend,
            report.threads,
            report.concurrency,
            report.tan_repeat_secs,
            report.cpu,
            report.seconds,
            report.submissions_per_second,
            report.keys_per_second,
            report.latency_p50_ms,
            report.latency_p99_ms,
            report.cpu_seconds,
            report.submissions_per_cpu_second,
            report.failures,
            report.keys_stored,
        );
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchSubmissionArgs,
    }

    #[test]
    fn the_command_line_becomes_the_options() {
        let cli = Cli::parse_from([
            "submission",
            "--submissions",
            "50",
            "--tan-repeat-secs",
            "0",
        ]);
        let options = cli.args.options();
        assert_eq!(options.submissions, 50);
        assert_eq!(options.tan_repeat_secs, Some(0));
        // The defaults of `--help`.
        assert_eq!(
            (options.keys, options.concurrency, options.threads),
            (14, 64, 2)
        );
        assert_eq!(options.database_url, None);
        assert!(Cli::try_parse_from(["submission", "--keys", "15"]).is_err());
    }
}
