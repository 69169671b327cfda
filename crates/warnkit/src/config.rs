//! The command line's side of the configuration: the flags every command that reads it shares, turned
//! into what the node's loader takes. The configuration itself is the node crate's.

use std::path::PathBuf;

pub use warnkit_node::config::{Config, Overrides};

/// The flags every command that reads the configuration shares.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// TOML configuration file (also `WARNKIT_CONFIG`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite files, service token, endpoints.json).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL for every service, each in its own schema (also `WARNKIT_DATABASE_URL`).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

impl From<&ConfigArgs> for Overrides {
    fn from(args: &ConfigArgs) -> Self {
        Overrides {
            file: args.config.clone(),
            data_dir: args.data_dir.clone(),
            database_url: args.database_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_overrides() {
        let args = ConfigArgs {
            config: Some("/etc/warnkit.toml".into()),
            data_dir: Some("/srv/wk".into()),
            database_url: None,
        };
        let overrides = Overrides::from(&args);
        assert_eq!(overrides.file, Some(PathBuf::from("/etc/warnkit.toml")));
        assert_eq!(overrides.data_dir, Some(PathBuf::from("/srv/wk")));
        assert_eq!(overrides.database_url, None);
    }
}
