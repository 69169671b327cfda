//! `warnkit gateway`: the federation gateway between countries' backends (the same as
//! `warnkit serve --only gateway`), and the operator commands for its member countries.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::config::{Config, ConfigArgs};

/// Arguments of `warnkit gateway`: serve, unless a subcommand is given.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayArgs {
    #[command(subcommand)]
    command: Option<GatewayCommand>,
    #[command(flatten)]
    config: ConfigArgs,
    /// Listen on N+6 (the gateway's place in the contract's port order), its metrics on N+8.
    #[arg(long, value_name = "N")]
    port_base: Option<u16>,
    /// Log one JSON object per line.
    #[arg(long)]
    log_json: bool,
}

/// Gateway operator commands.
#[derive(Debug, Subcommand)]
enum GatewayCommand {
    /// Member countries: who may upload and download, and their batch-signing keys.
    #[command(subcommand)]
    Country(CountryCommand),
}

#[derive(Debug, Subcommand)]
enum CountryCommand {
    /// Issue a token for a new member country and print the `[[gateway.countries]]` entry to add to the
    /// gateway's configuration file (only the token's SHA-256 goes there). The token is the first line.
    Add {
        /// ISO 3166-1 alpha-2 code, e.g. FR.
        #[arg(long)]
        code: String,
        /// The country's batch-signing public key file, e.g. its `federation/public-key.pem`: an SPKI
        /// PEM (base64 on one line or many) or the bare base64 SPKI.
        #[arg(long, value_name = "PEM")]
        public_key: PathBuf,
        /// Print JSON: code, token, tokenSha256, publicKey, toml.
        #[arg(long)]
        json: bool,
    },
    /// List the member countries of the effective configuration with their signing keys' SHA-256.
    List {
        /// One JSON object per country and line: `code`, `key_sha256`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Runs `warnkit gateway`.
pub fn run(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        None => super::serve::run_only(
            &args.config,
            args.port_base,
            args.log_json,
            &[warnkit_federation::gateway::NAME],
        ),
        Some(GatewayCommand::Country(CountryCommand::Add {
            code,
            public_key,
            json,
        })) => add_country(&code, &public_key, json),
        Some(GatewayCommand::Country(CountryCommand::List { json, config })) => {
            let config = Config::load(&config)?;
            for country in config.gateway.resolve_countries()? {
                let fingerprint = warnkit_federation::batch::fingerprint(&country.key);
                if json {
                    let out = serde_json::json!({"code": country.code, "key_sha256": fingerprint});
                    println!("{out}");
                } else {
                    println!("{} {fingerprint}", country.code);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn add_country(code: &str, public_key: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let (entry, token) = warnkit_federation::CountryEntry::enrol(code, public_key)?;
    #[derive(serde::Serialize)]
    struct Snippet<'a> {
        gateway: Gateway<'a>,
    }
    #[derive(serde::Serialize)]
    struct Gateway<'a> {
        countries: [&'a warnkit_federation::CountryEntry; 1],
    }
    let toml = toml::to_string(&Snippet {
        gateway: Gateway {
            countries: [&entry],
        },
    })
    .context("encoding the entry")?;
    if json {
        let out = serde_json::json!({
            "code": code,
            "token": token,
            "tokenSha256": entry.token_sha256,
            "publicKey": entry.public_key,
            "toml": toml,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{token}");
        println!("# Give the token above to {code}'s operator (its federation.token_file); add this to the gateway's configuration:");
        print!("{toml}");
    }
    Ok(ExitCode::SUCCESS)
}
