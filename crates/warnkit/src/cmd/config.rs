//! `warnkit config`: print the effective configuration (defaults, file, environment, flags) as TOML or
//! JSON.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::{Config, ConfigArgs};

/// Arguments of `warnkit config`.
#[derive(Debug, clap::Args)]
pub struct ConfigCommandArgs {
    /// Print the configuration as one JSON object instead of TOML.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Prints the configuration `warnkit serve` would use with the same flags and environment. Secrets are not
/// part of it (the service token lives in its own file or variable).
pub fn run(args: ConfigCommandArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let mut text = if args.json {
        let mut text =
            serde_json::to_string_pretty(&config).context("rendering the configuration")?;
        text.push('\n');
        text
    } else {
        toml::to_string_pretty(&config).context("rendering the configuration")?
    };
    let urls = [
        config.database_url.as_deref(),
        config.database_urls.get("verification"),
        config.database_urls.get("testresult"),
    ];
    for url in urls.into_iter().flatten() {
        // A URL may carry a password: show it without.
        text = text.replace(url, &redact_password(url));
    }
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
    }
}
