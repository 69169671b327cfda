//! The configuration of a node and the operator commands: built-in defaults, then an optional TOML file,
//! then `WARNKIT_*` environment variables, then what a command line names ([`Overrides`]; each layer
//! overrides the last).
//!
//! Environment names follow the file's keys: `WARNKIT_DATA_DIR`, `WARNKIT_DATABASE_URL`, and for a key in a
//! section, section and key joined by a double underscore: `WARNKIT_VERIFICATION__TANS_PER_REGISTRATION=1`.
//! Secrets are not part of this file: the service token comes from `WARNKIT_SERVICE_TOKEN` or a file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use warnkit_store::{DbTarget, PoolConfig};
use warnkit_submission::SubmissionConfig;
use warnkit_testresult::TestResultConfig;
use warnkit_verification::VerificationConfig;

use crate::service::LISTENERS;

/// Prefix of every environment override.
const ENV_PREFIX: &str = "WARNKIT_";
/// Environment variables with the prefix that are not configuration keys.
const NOT_CONFIG: &[&str] = &[
    "WARNKIT_SERVICE_TOKEN",
    "WARNKIT_CONFIG",
    "WARNKIT_LOG",
    warnkit_federation::config::TOKEN_ENV,
];

/// Everything a node can be told; every field has a default that suits one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for SQLite files, keys, the service token and `endpoints.json`; created with mode 0700,
    /// and everything in it is created readable by its owner only.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL: when set, every service keeps its data there, each in a schema of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Most connections per service pool.
    pub database_max_connections: u32,
    /// Milliseconds a request waits for a database connection before it is answered 503: also how soon
    /// an outage is answered (a stopped database is retried until then).
    pub database_acquire_timeout_ms: u64,
    /// Address every listener binds to, unless `hosts` names another for it.
    pub host: String,
    /// An address for single listeners (empty: `host`), e.g. the internal verification API and the
    /// metrics on a private interface while the app-facing ports face the load balancer.
    pub hosts: Hosts,
    /// When set, the services listen on this port and the following ones, in the contract's order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_base: Option<u16>,
    /// File with the service-to-service token; default `DATA_DIR/service-token` (generated if missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_token_file: Option<PathBuf>,
    /// Per-service database URLs, overriding `database_url` for one service.
    pub database_urls: DatabaseUrls,
    /// Logging.
    pub log: LogConfig,
    /// Listen ports (ignored when `port_base` is set).
    pub ports: Ports,
    /// Bounds of every listener's connections: header, body and idle timeouts, and a cap per port.
    pub listeners: warnkit_service::server::ListenerLimits,
    /// The test-result service.
    pub testresult: TestResultConfig,
    /// The verification service.
    pub verification: VerificationConfig,
    /// The submission service.
    pub submission: SubmissionConfig,
    /// The distribution job and its published files.
    pub distribution: warnkit_distribution::DistributionConfig,
    /// The officers' portal.
    pub portal: warnkit_portal::PortalConfig,
    /// The federation gateway (`warnkit gateway`), when this instance runs it.
    pub gateway: warnkit_federation::GatewayConfig,
    /// This country's federation jobs (upload to and download from a gateway).
    pub federation: warnkit_federation::FederationConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("warnkit-data"),
            database_url: None,
            database_max_connections: 16,
            database_acquire_timeout_ms: 1000,
            host: "127.0.0.1".to_owned(),
            port_base: None,
            service_token_file: None,
            database_urls: DatabaseUrls::default(),
            log: LogConfig::default(),
            ports: Ports::default(),
            hosts: Hosts::default(),
            listeners: warnkit_service::server::ListenerLimits::default(),
            testresult: TestResultConfig::default(),
            verification: VerificationConfig::default(),
            submission: SubmissionConfig::default(),
            distribution: warnkit_distribution::DistributionConfig::default(),
            portal: warnkit_portal::PortalConfig::default(),
            gateway: warnkit_federation::GatewayConfig::default(),
            federation: warnkit_federation::FederationConfig::default(),
        }
    }
}

/// A database URL per service: `postgres://...` (the service uses its own schema there) or
/// `sqlite:PATH`; empty means `database_url`, or `DATA_DIR/<service>.sqlite` when that is unset too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseUrls {
    /// The verification service's database.
    pub verification: String,
    /// The submission service's database (the key store).
    pub submission: String,
    /// The test-result service's database.
    pub testresult: String,
    /// The portal's database (accounts, sessions).
    pub portal: String,
}

impl DatabaseUrls {
    /// The URL set for `service`, if any.
    pub fn get(&self, service: &str) -> Option<&str> {
        let url = match service {
            "verification" => &self.verification,
            "submission" => &self.submission,
            "testresult" => &self.testresult,
            "portal" => &self.portal,
            _ => return None,
        };
        (!url.is_empty()).then_some(url.as_str())
    }
}

/// How logs are written (always to stderr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// A `tracing` filter, e.g. `info` or `warnkit_verification=debug`; `WARNKIT_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            json: false,
            level: "info".to_owned(),
        }
    }
}

/// Listen addresses per listener (the names of [`LISTENERS`]); an empty one means `host`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hosts {
    /// Published files.
    pub distribution: String,
    /// Key upload.
    pub submission: String,
    /// App-facing verification API.
    pub verification: String,
    /// Test results.
    pub testresult: String,
    /// Officers' portal.
    pub portal: String,
    /// Internal verification API.
    pub verification_internal: String,
    /// The federation gateway.
    pub gateway: String,
    /// Operators' metrics.
    pub metrics: String,
    /// The gateway's operators' metrics.
    pub gateway_metrics: String,
}

/// The contract's ports, one per listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ports {
    /// Published files.
    pub distribution: u16,
    /// Key upload.
    pub submission: u16,
    /// App-facing verification API.
    pub verification: u16,
    /// Test results.
    pub testresult: u16,
    /// Officers' portal.
    pub portal: u16,
    /// Internal verification API.
    pub verification_internal: u16,
    /// The federation gateway (not started by default).
    pub gateway: u16,
    /// Operators' metrics (Prometheus) of every backend service in the process; internal, like
    /// `verification_internal`: it tells real requests from fake ones.
    pub metrics: u16,
    /// Operators' metrics of the federation gateway, when the process runs it.
    pub gateway_metrics: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            distribution: 8000,
            submission: 8001,
            verification: 8002,
            testresult: 8003,
            portal: 8004,
            verification_internal: 8012,
            gateway: 8005,
            metrics: 8010,
            gateway_metrics: 8015,
        }
    }
}

/// What a command line may name on top of the file and the environment: the file itself, the data
/// directory and the PostgreSQL URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The TOML file; else `WARNKIT_CONFIG`, else none.
    pub file: Option<PathBuf>,
    /// Replaces `data_dir`.
    pub data_dir: Option<PathBuf>,
    /// Replaces `database_url`.
    pub database_url: Option<String>,
}

impl Config {
    /// Defaults, then the file, then the process environment, then `overrides`.
    pub fn load(overrides: impl Into<Overrides>) -> anyhow::Result<Config> {
        let args: Overrides = overrides.into();
        let file = args
            .file
            .clone()
            .or_else(|| std::env::var_os("WARNKIT_CONFIG").map(PathBuf::from));
        let env: Vec<(String, String)> = std::env::vars().collect();
        let mut config = Self::layered(file.as_deref(), &env)?;
        if let Some(dir) = &args.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &args.database_url {
            config.database_url = Some(url.clone());
        }
        Ok(config)
    }

    /// Defaults, then the file (if any), then the given environment.
    pub fn layered(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Config> {
        let mut table =
            toml::Table::try_from(Config::default()).context("serialising the defaults")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let from_file: toml::Table = text
                .parse()
                .with_context(|| format!("parsing {}", path.display()))?;
            merge(&mut table, from_file);
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if NOT_CONFIG.contains(&name.as_str()) || name.starts_with("WARNKIT_TEST_") {
                continue;
            }
            let path: Vec<String> = key.split("__").map(str::to_owned).collect();
            let known = set_from_env(&mut table, &path, value)
                .with_context(|| format!("environment variable {name}"))?;
            if !known {
                // Other tools may share the prefix, so an unknown name is worth a warning, not a refusal.
                eprintln!("warning: ignoring {name}: not a configuration key");
            }
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .context("invalid configuration")?;
        Ok(config)
    }

    /// The defaults with the data in `data_dir`: SQLite files there, or on the PostgreSQL database at
    /// `database_url`, each service in a schema of its own (tests, benchmarks, the demo).
    pub fn at(data_dir: &Path, database_url: Option<&str>) -> Config {
        Config {
            data_dir: data_dir.to_owned(),
            database_url: database_url.map(str::to_owned),
            ..Config::default()
        }
    }

    /// Where service `name` keeps its data.
    pub fn db_target(&self, name: &str) -> DbTarget {
        match self
            .database_urls
            .get(name)
            .or(self.database_url.as_deref())
        {
            Some(url) if url.starts_with("sqlite:") => {
                let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
                DbTarget::SqliteFile(PathBuf::from(path))
            }
            Some(url) => DbTarget::Postgres {
                url: url.to_owned(),
                schema: name.to_owned(),
            },
            None => DbTarget::SqliteFile(self.data_dir.join(format!("{name}.sqlite"))),
        }
    }

    /// Pool sizing for every service.
    pub fn pool(&self) -> PoolConfig {
        PoolConfig {
            max_connections: self.database_max_connections,
            acquire_timeout: std::time::Duration::from_millis(
                self.database_acquire_timeout_ms.max(1),
            ),
        }
    }

    /// The port of listener `name` (one of [`LISTENERS`], which `port_base` counts along).
    pub fn port(&self, name: &str) -> anyhow::Result<u16> {
        if let Some(base) = self.port_base {
            let offset = LISTENERS
                .iter()
                .position(|l| *l == name)
                .context("unknown listener")?;
            return base
                .checked_add(offset as u16)
                .context("port_base too high");
        }
        Ok(match name {
            "distribution" => self.ports.distribution,
            "submission" => self.ports.submission,
            "verification" => self.ports.verification,
            "testresult" => self.ports.testresult,
            "portal" => self.ports.portal,
            "verification_internal" => self.ports.verification_internal,
            "gateway" => self.ports.gateway,
            "metrics" => self.ports.metrics,
            "gateway_metrics" => self.ports.gateway_metrics,
            other => bail!("unknown listener {other}"),
        })
    }

    /// The address listener `name` (one of [`LISTENERS`]) binds to: its entry in `hosts`, else `host`.
    pub fn host_of(&self, name: &str) -> anyhow::Result<&str> {
        let h = &self.hosts;
        let own = match name {
            "distribution" => &h.distribution,
            "submission" => &h.submission,
            "verification" => &h.verification,
            "testresult" => &h.testresult,
            "portal" => &h.portal,
            "verification_internal" => &h.verification_internal,
            "gateway" => &h.gateway,
            "metrics" => &h.metrics,
            "gateway_metrics" => &h.gateway_metrics,
            other => bail!("unknown listener {other}"),
        };
        Ok(if own.is_empty() { &self.host } else { own })
    }

    /// Creates the data directory (and missing parents) with mode 0700. One that exists is left as it
    /// is, with a warning when other users may enter it: its files may predate owner-only modes.
    pub fn create_data_dir(&self) -> anyhow::Result<()> {
        let dir = &self.data_dir;
        warnkit_store::owner_only::create_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    data_dir = %dir.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "the data directory is open to other users; `chmod 700` it (new files in it are \
                     created owner-only, older ones may not be)"
                );
            }
        }
        Ok(())
    }

    /// The service token: `WARNKIT_SERVICE_TOKEN`, else the token file (created with a new token if missing).
    pub fn service_token(&self) -> anyhow::Result<String> {
        if let Ok(token) = std::env::var("WARNKIT_SERVICE_TOKEN") {
            return Ok(token);
        }
        let path = self
            .service_token_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("service-token"));
        match std::fs::read_to_string(&path) {
            Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        let token = warnkit_service::auth::random_secret("wk_svc_");
        warnkit_service::auth::write_secret(&path, token.as_bytes())?;
        Ok(token)
    }
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The type of a value the environment sets where the defaults have none to copy it from.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
}

/// Keys the defaults leave out (optional values, optional sections, map entries) that the environment
/// may set all the same, with their type. `*` is any map key, kept in the environment's case
/// (`WARNKIT_FEDERATION__TRUSTED_KEYS__FR`); every other segment is matched in lower case.
const OPEN_KEYS: &[(&[&str], Kind)] = &[
    (&["port_base"], Kind::Int),
    (&["database_url"], Kind::Str),
    (&["service_token_file"], Kind::Str),
    (&["federation", "token_file"], Kind::Str),
    (&["federation", "trusted_keys", "*"], Kind::Str),
    (&["portal", "oidc", "roles", "*"], Kind::Str),
    (
        &["distribution", "app_config", "app_features", "*"],
        Kind::Int,
    ),
    (&["distribution", "signing_dir"], Kind::Str),
    (&["distribution", "store", "kind"], Kind::Str),
    (&["distribution", "store", "dir"], Kind::Str),
    (&["distribution", "store", "bucket"], Kind::Str),
    (&["distribution", "store", "endpoint"], Kind::Str),
    (&["distribution", "store", "region"], Kind::Str),
    (&["distribution", "store", "access_key_id"], Kind::Str),
    (&["distribution", "store", "secret_access_key"], Kind::Str),
    (
        &["distribution", "store", "instance_credentials"],
        Kind::Bool,
    ),
];

/// The type of the [`OPEN_KEYS`] entry `path` (lower-cased) falls under, and whether its last
/// segment is a map key (`*`), if any.
fn open_key(path: &[String]) -> Option<(Kind, bool)> {
    OPEN_KEYS.iter().find_map(|(pattern, kind)| {
        let matches = pattern.len() == path.len()
            && pattern.iter().zip(path).all(|(p, s)| *p == "*" || p == s);
        matches.then(|| (*kind, pattern.last() == Some(&"*")))
    })
}

/// `raw` as a value of `kind`.
fn typed(kind: Kind, raw: &str) -> anyhow::Result<toml::Value> {
    Ok(match kind {
        Kind::Str => toml::Value::String(raw.to_owned()),
        Kind::Int => toml::Value::Integer(raw.parse().context("expected an integer")?),
        Kind::Bool => toml::Value::Boolean(raw.parse().context("expected true or false")?),
    })
}

/// Sets `path` (the environment name's segments, in its case) from an environment string, typed like
/// the default it replaces (a list: comma-separated) or as [`OPEN_KEYS`] says; `false` for unknown keys.
fn set_from_env(table: &mut toml::Table, path: &[String], raw: &str) -> anyhow::Result<bool> {
    let lower: Vec<String> = path.iter().map(|s| s.to_ascii_lowercase()).collect();
    let open = open_key(&lower);
    let (last, sections) = lower.split_last().context("empty key")?;
    let mut current = table;
    for section in sections {
        if !current.contains_key(section) && open.is_some() {
            // An optional section (the distribution's `store`) the defaults leave out.
            current.insert(section.clone(), toml::Value::Table(toml::Table::new()));
        }
        current = match current.get_mut(section) {
            Some(toml::Value::Table(t)) => t,
            _ => return Ok(false),
        };
    }
    // A map's keys keep the environment's case: country codes are upper case.
    let key = match open {
        Some((_, true)) if !current.contains_key(last) => path[path.len() - 1].clone(),
        _ => last.clone(),
    };
    let value = match current.get(&key) {
        Some(toml::Value::Integer(_)) => typed(Kind::Int, raw)?,
        Some(toml::Value::Boolean(_)) => typed(Kind::Bool, raw)?,
        Some(toml::Value::Table(_)) => bail!("{last} is a section, not a value"),
        Some(toml::Value::Array(_)) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        Some(_) => typed(Kind::Str, raw)?,
        None => match open {
            Some((kind, _)) => typed(kind, raw)?,
            None => return Ok(false),
        },
    };
    current.insert(key, value);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = Config::layered(None, &[]).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.port("verification").unwrap(), 8002);
        assert_eq!(c.port("verification_internal").unwrap(), 8012);
        assert_eq!(c.port("gateway").unwrap(), 8005);
        assert_eq!(c.port("metrics").unwrap(), 8010);
        assert_eq!(c.port("gateway_metrics").unwrap(), 8015);
        assert!(!c.federation.enabled);
        assert_eq!(c.verification.tans_per_registration, 2);
    }

    #[test]
    fn file_then_env_override() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("warnkit.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/wk\"\n[verification]\ntans_per_registration = 3\n",
        )
        .unwrap();
        let c = Config::layered(
            Some(&file),
            &env(&[
                ("WARNKIT_VERIFICATION__TELETAN_LIMIT_PER_HOUR", "5"),
                ("WARNKIT_DATABASE_URL", "postgres://x@h/db"),
                ("WARNKIT_PORT_BASE", "9000"),
                ("WARNKIT_LOG__JSON", "true"),
                ("WARNKIT_SERVICE_TOKEN", "secret"),
                ("WARNKIT_TEST_PG_URL", "ignored"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/wk"));
        assert_eq!(c.verification.tans_per_registration, 3);
        assert_eq!(c.verification.teletan_limit_per_hour, 5);
        assert_eq!(c.database_url.as_deref(), Some("postgres://x@h/db"));
        let per_service = Config::layered(
            None,
            &env(&[
                ("WARNKIT_DATABASE_URLS__TESTRESULT", "sqlite:/var/tr.sqlite"),
                ("WARNKIT_DATABASE_URLS__VERIFICATION", "postgres://v@h/vdb"),
            ]),
        )
        .unwrap();
        assert_eq!(
            per_service.db_target("testresult"),
            DbTarget::SqliteFile("/var/tr.sqlite".into())
        );
        assert_eq!(
            per_service.db_target("verification"),
            DbTarget::Postgres {
                url: "postgres://v@h/vdb".into(),
                schema: "verification".into()
            }
        );
        assert!(c.log.json);
        assert_eq!(c.port("distribution").unwrap(), 9000);
        assert_eq!(c.port("verification_internal").unwrap(), 9005);
        // Listeners added later come after the earlier ones: no earlier assignment moved.
        assert_eq!(c.port("gateway").unwrap(), 9006);
        assert_eq!(c.port("metrics").unwrap(), 9007);
        assert_eq!(c.port("gateway_metrics").unwrap(), 9008);
        assert_eq!(
            c.db_target("verification"),
            DbTarget::Postgres {
                url: "postgres://x@h/db".into(),
                schema: "verification".into()
            }
        );
    }

    #[test]
    fn bad_overrides_are_errors() {
        assert_eq!(
            Config::layered(None, &env(&[("WARNKIT_NOPE", "1")])).unwrap(),
            Config::default()
        );
        assert!(Config::layered(
            None,
            &env(&[("WARNKIT_VERIFICATION__TANS_PER_REGISTRATION", "two")])
        )
        .is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[verification]\nunknown_key = 1\n").unwrap();
        assert!(Config::layered(Some(&file), &[]).is_err());
    }

    #[test]
    fn listener_limits_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("warnkit.toml");
        std::fs::write(&file, "[listeners]\nheader_timeout_ms = 5000\n").unwrap();
        let c = Config::layered(
            Some(&file),
            &env(&[("WARNKIT_LISTENERS__MAX_CONNECTIONS", "100")]),
        )
        .unwrap();
        assert_eq!(c.listeners.header_timeout_ms, 5_000);
        assert_eq!(c.listeners.max_connections, 100);
        assert_eq!(c.listeners.idle_timeout_ms, 30_000);
    }

    #[test]
    fn service_token_is_generated_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        if std::env::var("WARNKIT_SERVICE_TOKEN").is_ok() {
            return;
        }
        let a = c.service_token().unwrap();
        assert_eq!(a, c.service_token().unwrap());
        assert!(a.starts_with("wk_svc_"));
    }

    #[test]
    fn optional_sections_map_entries_and_lists_come_from_the_environment() {
        use warnkit_distribution::StoreConfig;
        let c = Config::layered(
            None,
            &env(&[
                ("WARNKIT_DISTRIBUTION__STORE__KIND", "s3"),
                ("WARNKIT_DISTRIBUTION__STORE__BUCKET", "cwa"),
                (
                    "WARNKIT_DISTRIBUTION__STORE__ENDPOINT",
                    "http://127.0.0.1:9000",
                ),
                ("WARNKIT_DISTRIBUTION__STORE__REGION", "eu-central-1"),
                ("WARNKIT_DISTRIBUTION__STORE__ACCESS_KEY_ID", "AKID"),
                ("WARNKIT_DISTRIBUTION__STORE__SECRET_ACCESS_KEY", "Secret"),
                (
                    "WARNKIT_FEDERATION__TRUSTED_KEYS__FR",
                    "/etc/warnkit/fr.pem",
                ),
                ("WARNKIT_FEDERATION__TOKEN_FILE", "/run/secrets/efgs"),
                ("WARNKIT_SUBMISSION__SUPPORTED_COUNTRIES", "DE, FR,NL"),
                ("WARNKIT_HOSTS__VERIFICATION_INTERNAL", "10.0.0.5"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.distribution.store,
            Some(StoreConfig::S3 {
                bucket: "cwa".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                region: "eu-central-1".into(),
                access_key_id: Some("AKID".into()),
                secret_access_key: Some("Secret".into()),
                instance_credentials: false,
            })
        );
        // Map keys keep their case (country codes), values theirs.
        assert_eq!(
            c.federation.trusted_keys.get("FR").map(String::as_str),
            Some("/etc/warnkit/fr.pem")
        );
        assert_eq!(
            c.federation.token_file,
            Some(PathBuf::from("/run/secrets/efgs"))
        );
        assert_eq!(c.submission.supported_countries, ["DE", "FR", "NL"]);
        assert_eq!(c.host_of("verification_internal").unwrap(), "10.0.0.5");
        assert_eq!(c.host_of("verification").unwrap(), c.host);
        assert!(c.host_of("nonsense").is_err());

        let local = Config::layered(
            None,
            &env(&[
                ("WARNKIT_DISTRIBUTION__STORE__KIND", "local"),
                ("WARNKIT_DISTRIBUTION__STORE__DIR", "/srv/published"),
            ]),
        )
        .unwrap();
        assert_eq!(
            local.distribution.store,
            Some(StoreConfig::Local {
                dir: PathBuf::from("/srv/published")
            })
        );
        // Typed as the key needs, with the variable's name in the error.
        let e = Config::layered(
            None,
            &env(&[
                ("WARNKIT_DISTRIBUTION__STORE__KIND", "s3"),
                ("WARNKIT_DISTRIBUTION__STORE__INSTANCE_CREDENTIALS", "maybe"),
            ]),
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("WARNKIT_DISTRIBUTION__STORE__INSTANCE_CREDENTIALS"),
            "{e:#}"
        );
        // A store of no known kind is refused, not ignored.
        let e = Config::layered(None, &env(&[("WARNKIT_DISTRIBUTION__STORE__KIND", "ftp")]))
            .unwrap_err();
        assert!(format!("{e:#}").contains("invalid configuration"), "{e:#}");
        // Names that are no key at all are still only warned about.
        let c = Config::layered(None, &env(&[("WARNKIT_DISTRIBUTION__STORAGE", "x")])).unwrap();
        assert_eq!(c, Config::default());
    }
}
