//! What runs on a data directory and what it has done, as `warnkit status` reports it.
//!
//! Everything is read, nothing changed: the instance locks say which process runs which service,
//! `endpoints.json` where they listen (each listener's `/health` is asked over the local network, briefly),
//! `distribution-last-run.json` how the last distribution run went and what waits for the next, and the
//! key store how many keys arrived per day.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use warnkit_distribution::layout::date_string;
use warnkit_keystore::KeyStore;
use warnkit_store::{DbTarget, InstanceLock};

use crate::config::Config;
use crate::instance::{read_endpoints, schedule_lock_path, service_lock_path, service_names};

/// How long one listener may take to answer `/health` before it counts as not answering.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The file the distribution job writes after every run, success or failure.
const LAST_RUN_FILE: &str = "distribution-last-run.json";

/// The whole report, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The data directory reported on.
    pub data_dir: String,
    /// Every service of this build, running or not, in port order.
    pub services: Vec<ServiceStatus>,
    /// Whether a `warnkit serve` runs the distribution job on its schedule here.
    pub distribution_schedule: ServiceStatus,
    /// Each listener of `endpoints.json` and how its `/health` answered.
    pub listeners: Vec<Listener>,
    /// `null` when no run has been recorded.
    pub last_run: Option<LastRun>,
    /// Keys in the key store by the UTC day they arrived.
    pub keys_stored: Vec<DayCount>,
    /// All keys in the key store.
    pub keys_stored_total: u64,
    /// Why the key store could not be read, if it could not.
    pub key_store_error: Option<String>,
    /// Keys in the own region's daily files of the last run.
    pub keys_published: Vec<PublishedDay>,
    /// What the last run left for a later one.
    pub waiting: Waiting,
}

/// Whether a service (or the distribution schedule) runs on the data directory, and who runs it.
#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    /// The service, or `distribution schedule`.
    pub name: String,
    /// Whether a process holds its lock.
    pub running: bool,
    /// The holder's line: pid, command, services, start time.
    pub holder: Option<String>,
}

/// One listener of `endpoints.json`.
#[derive(Debug, Serialize)]
pub struct Listener {
    /// The listener's name in `endpoints.json`.
    pub name: String,
    /// Where it listens.
    pub url: String,
    /// `ok`, `HTTP <status>` or `unreachable: <why>`.
    pub health: String,
}

/// What `distribution-last-run.json` says of the last distribution run.
#[derive(Debug, Serialize)]
pub struct LastRun {
    /// When the run started (RFC 3339).
    pub started_at: Option<String>,
    /// When it finished (RFC 3339).
    pub finished_at: Option<String>,
    /// The time the run acted as.
    pub clock: Option<String>,
    /// Whether it succeeded.
    pub ok: Option<bool>,
    /// Why it failed.
    pub error: Option<String>,
    /// Hourly files published.
    pub hourly_files: Option<u64>,
    /// Daily files published.
    pub daily_files: Option<u64>,
    /// Real keys published.
    pub real_keys: Option<u64>,
    /// Padding keys published.
    pub padding_keys: Option<u64>,
}

/// Keys stored on one UTC day.
#[derive(Debug, Serialize)]
pub struct DayCount {
    /// The day (`YYYY-MM-DD`).
    pub date: String,
    /// How many keys.
    pub keys: u64,
}

/// Keys in one day's file of the own region.
#[derive(Debug, Serialize)]
pub struct PublishedDay {
    /// The day (`YYYY-MM-DD`).
    pub date: String,
    /// Real keys published.
    pub real_keys: u64,
    /// Padding keys published.
    pub padding_keys: u64,
}

/// The keys the last run left for a later one.
#[derive(Debug, Serialize)]
pub struct Waiting {
    /// How many keys.
    pub keys: Option<u64>,
    /// When the next of them may be published (RFC 3339).
    pub until: Option<String>,
}

/// Waits until `endpoints.json` names listeners and every one answers `/health`, or fails after `limit`
/// naming what did not answer.
pub async fn wait_until_up(config: &Config, limit: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let endpoints = if config.data_dir.is_dir() {
            read_endpoints(config)
        } else {
            BTreeMap::new()
        };
        let listeners = probe_all(endpoints).await;
        let down: Vec<String> = listeners
            .iter()
            .filter(|l| l.health != "ok")
            .map(|l| format!("{} ({}): {}", l.name, l.url, l.health))
            .collect();
        if !listeners.is_empty() && down.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            if listeners.is_empty() {
                bail!(
                    "no server came up within {} s: {} names no listener (is `warnkit serve` running on \
                     this data directory?)",
                    limit.as_secs(),
                    config.data_dir.join("endpoints.json").display()
                );
            }
            bail!(
                "the server did not come up within {} s; not answering: {}",
                limit.as_secs(),
                down.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads everything the report says about `config`'s data directory, changing nothing.
pub async fn gather(config: &Config) -> anyhow::Result<Status> {
    let held = |name: &str, path: &std::path::Path| -> anyhow::Result<ServiceStatus> {
        let holder =
            InstanceLock::holder(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(ServiceStatus {
            name: name.to_owned(),
            running: holder.is_some(),
            holder,
        })
    };
    let services = service_names()
        .map(|s| held(s, &service_lock_path(&config.data_dir, s)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let distribution_schedule = held(
        "distribution schedule",
        &schedule_lock_path(&config.data_dir),
    )?;
    let listeners = probe_all(read_endpoints(config)).await;
    let last = read_last_run(config)?;
    let (keys_stored, key_store_error) = match stored_per_day(config).await {
        Ok(days) => (days, None),
        Err(e) => (Vec::new(), Some(format!("{e:#}"))),
    };
    let report = last.as_ref().and_then(|l| l.get("report"));
    let field = |name: &str| report.and_then(|r| r.get(name));
    Ok(Status {
        data_dir: config.data_dir.display().to_string(),
        services,
        distribution_schedule,
        listeners,
        last_run: last.as_ref().map(|l| LastRun {
            started_at: text(l.get("started_at")),
            finished_at: text(l.get("finished_at")),
            clock: text(l.get("clock")),
            ok: l.get("ok").and_then(Value::as_bool),
            error: text(l.get("error")),
            hourly_files: number(field("hourly_files")),
            daily_files: number(field("daily_files")),
            real_keys: number(field("real_keys")),
            padding_keys: number(field("padding_keys")),
        }),
        keys_stored_total: keys_stored.iter().map(|d| d.keys).sum(),
        keys_stored,
        key_store_error,
        keys_published: field("days")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| {
                Some(PublishedDay {
                    date: text(d.get("date"))?,
                    real_keys: number(d.get("real_keys")).unwrap_or(0),
                    padding_keys: number(d.get("padding_keys")).unwrap_or(0),
                })
            })
            .collect(),
        waiting: Waiting {
            keys: number(field("keys_waiting")),
            until: text(field("waiting_until")),
        },
    })
}

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

fn number(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

/// `DATA_DIR/distribution-last-run.json`, or `None` when no run has written it yet.
fn read_last_run(config: &Config) -> anyhow::Result<Option<Value>> {
    let path = config.data_dir.join(LAST_RUN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not JSON", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Keys per submission day; none when the key store has not been created yet (it is not created here).
async fn stored_per_day(config: &Config) -> anyhow::Result<Vec<DayCount>> {
    let target = config.db_target("submission");
    if let DbTarget::SqliteFile(path) = &target {
        if !path.exists() {
            return Ok(Vec::new());
        }
    }
    let keys = KeyStore::open(&target, config.pool())
        .await
        .context("opening the key store")?;
    let counts = keys.counts_per_submission_day().await;
    keys.db().close().await;
    Ok(counts
        .context("counting stored keys")?
        .into_iter()
        .map(|(day, keys)| DayCount {
            date: date_string(day),
            keys,
        })
        .collect())
}

/// Asks every listener's `/health` at once.
async fn probe_all(endpoints: BTreeMap<String, String>) -> Vec<Listener> {
    let client = match reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .no_proxy()
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            let health = format!("unreachable: {e}");
            return endpoints
                .into_iter()
                .map(|(name, url)| Listener {
                    name,
                    url,
                    health: health.clone(),
                })
                .collect();
        }
    };
    let mut probes = tokio::task::JoinSet::new();
    for (index, (name, url)) in endpoints.into_iter().enumerate() {
        let client = client.clone();
        probes.spawn(async move {
            let health = probe(&client, &url).await;
            (index, Listener { name, url, health })
        });
    }
    let mut listeners: Vec<(usize, Listener)> = probes.join_all().await;
    listeners.sort_by_key(|(index, _)| *index);
    listeners.into_iter().map(|(_, l)| l).collect()
}

async fn probe(client: &reqwest::Client, url: &str) -> String {
    // A listener bound to every address is asked on loopback.
    let local = url
        .replacen("//0.0.0.0:", "//127.0.0.1:", 1)
        .replacen("//[::]:", "//[::1]:", 1);
    match client.get(format!("{local}/health")).send().await {
        Ok(response) if response.status().is_success() => "ok".to_owned(),
        Ok(response) => format!("HTTP {}", response.status().as_u16()),
        Err(e) => format!("unreachable: {}", e.without_url()),
    }
}
