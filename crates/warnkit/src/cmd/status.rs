//! `warnkit status`: what runs on a data directory and what it has done, for an operator or a script.
//!
//! Everything is read, nothing changed: the instance locks say which process runs which service,
//! `endpoints.json` where they listen (each listener's `/health` is asked over the local network, briefly),
//! `distribution-last-run.json` how the last distribution run went and what waits for the next, and the
//! key store how many keys arrived per day.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use warnkit_protocol::interval::date_string;
use warnkit_store::{DbTarget, InstanceLock};
use warnkit_submission::KeyStore;

use super::serve::{
    holder_pid, read_endpoints, schedule_lock_path, service_lock_path, service_names,
};
use crate::config::{Config, ConfigArgs};

/// How long one listener may take to answer `/health` before it counts as not answering.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The file the distribution job writes after every run, success or failure.
const LAST_RUN_FILE: &str = "distribution-last-run.json";

/// Arguments of `warnkit status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Print one JSON object (the fields are stable; absent facts are null or empty lists).
    #[arg(long)]
    json: bool,
    /// Wait up to SECS seconds for a server to come up (every listener in `endpoints.json` answering
    /// `/health`) before reporting; fails when it does not. For scripts that start `warnkit serve &`.
    #[arg(long, value_name = "SECS")]
    wait: Option<u64>,
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Status {
    data_dir: String,
    /// Every service of this build, running or not, in port order.
    services: Vec<ServiceStatus>,
    /// Whether a `warnkit serve` runs the distribution job on its schedule here.
    distribution_schedule: ServiceStatus,
    /// Each listener of `endpoints.json` and how its `/health` answered.
    listeners: Vec<Listener>,
    /// `null` when no run has been recorded.
    last_run: Option<LastRun>,
    /// Keys in the key store by the UTC day they arrived.
    keys_stored: Vec<DayCount>,
    keys_stored_total: u64,
    /// Why the key store could not be read, if it could not.
    key_store_error: Option<String>,
    /// Keys in the own region's daily files of the last run.
    keys_published: Vec<PublishedDay>,
    /// What the last run left for a later one.
    waiting: Waiting,
}

#[derive(Debug, Serialize)]
struct ServiceStatus {
    name: String,
    running: bool,
    /// The holder's line: pid, command, services, start time.
    holder: Option<String>,
}

#[derive(Debug, Serialize)]
struct Listener {
    name: String,
    url: String,
    /// `ok`, `HTTP <status>` or `unreachable: <why>`.
    health: String,
}

#[derive(Debug, Serialize)]
struct LastRun {
    started_at: Option<String>,
    finished_at: Option<String>,
    /// The time the run acted as.
    clock: Option<String>,
    ok: Option<bool>,
    error: Option<String>,
    hourly_files: Option<u64>,
    daily_files: Option<u64>,
    real_keys: Option<u64>,
    padding_keys: Option<u64>,
}

#[derive(Debug, Serialize)]
struct DayCount {
    date: String,
    keys: u64,
}

#[derive(Debug, Serialize)]
struct PublishedDay {
    date: String,
    real_keys: u64,
    padding_keys: u64,
}

#[derive(Debug, Serialize)]
struct Waiting {
    keys: Option<u64>,
    /// When the next of them may be published (RFC 3339).
    until: Option<String>,
}

/// Runs `warnkit status`.
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    if let Some(secs) = args.wait {
        runtime.block_on(wait_until_up(&config, Duration::from_secs(secs)))?;
    }
    if !config.data_dir.is_dir() {
        bail!(
            "data directory {} does not exist: nothing has run there (give the one `warnkit serve` uses \
             with --data-dir or the configuration's data_dir)",
            config.data_dir.display()
        );
    }
    let status = runtime.block_on(gather(&config))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", human(&status));
    }
    Ok(ExitCode::SUCCESS)
}

/// Waits until `endpoints.json` names listeners and every one answers `/health`, or fails after `limit`
/// naming what did not answer.
async fn wait_until_up(config: &Config, limit: Duration) -> anyhow::Result<()> {
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

async fn gather(config: &Config) -> anyhow::Result<Status> {
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

/// The report for a person: one section per question.
fn human(s: &Status) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let on_off = |st: &ServiceStatus| match &st.holder {
        Some(holder) => match holder_pid(holder) {
            Some(pid) => format!("running (pid {pid})"),
            None => "running".to_owned(),
        },
        None => "stopped".to_owned(),
    };
    let everything = || s.services.iter().chain([&s.distribution_schedule]);
    // Writing to a String cannot fail.
    let _ = writeln!(out, "data directory {}", s.data_dir);
    let _ = writeln!(out, "\nprocesses");
    let mut holders: Vec<&str> = Vec::new();
    for holder in everything().filter_map(|st| st.holder.as_deref()) {
        if !holders.contains(&holder) {
            holders.push(holder);
        }
    }
    if holders.is_empty() {
        let _ = writeln!(out, "  none: no warnkit serve runs here");
    }
    for holder in holders {
        let _ = writeln!(out, "  {holder}");
    }
    let _ = writeln!(out, "\nservices");
    for st in everything() {
        let _ = writeln!(out, "  {:<22} {}", st.name, on_off(st));
    }
    let _ = writeln!(out, "\nlisteners (endpoints.json)");
    if s.listeners.is_empty() {
        let _ = writeln!(out, "  none: no endpoints.json, nothing serves here");
    }
    for l in &s.listeners {
        let _ = writeln!(out, "  {:<22} {:<28} {}", l.name, l.url, l.health);
    }
    let _ = writeln!(out, "\nlast distribution run");
    match &s.last_run {
        None => {
            let _ = writeln!(out, "  no run recorded");
        }
        Some(run) => {
            let unknown = || "?".to_owned();
            let outcome = match (run.ok, &run.error) {
                (Some(true), _) => "succeeded".to_owned(),
                (_, Some(error)) => format!("FAILED: {error}"),
                _ => "failed".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {outcome}, started {}, finished {}, acting as {}",
                run.started_at.clone().unwrap_or_else(unknown),
                run.finished_at.clone().unwrap_or_else(unknown),
                run.clock.clone().unwrap_or_else(unknown)
            );
            let count = |n: Option<u64>| n.map_or_else(unknown, |n| n.to_string());
            let _ = writeln!(
                out,
                "  {} hourly and {} daily files, {} real and {} padding keys",
                count(run.hourly_files),
                count(run.daily_files),
                count(run.real_keys),
                count(run.padding_keys)
            );
        }
    }
    let _ = writeln!(
        out,
        "\nkeys stored per submission day ({} in all)",
        s.keys_stored_total
    );
    if let Some(error) = &s.key_store_error {
        let _ = writeln!(out, "  key store unreadable: {error}");
    }
    for d in &s.keys_stored {
        let _ = writeln!(out, "  {}  {}", d.date, d.keys);
    }
    let _ = writeln!(out, "\nkeys published per day (last run)");
    for d in &s.keys_published {
        let _ = writeln!(
            out,
            "  {}  {} real, {} padding",
            d.date, d.real_keys, d.padding_keys
        );
    }
    let _ = writeln!(out, "\nwaiting for a later run");
    match (s.waiting.keys, &s.waiting.until) {
        (Some(0), _) => {
            let _ = writeln!(out, "  nothing");
        }
        (Some(n), Some(until)) => {
            let _ = writeln!(out, "  {n} keys, the next publishable at {until}");
        }
        (Some(n), None) => {
            let _ = writeln!(out, "  {n} keys");
        }
        (None, _) => {
            let _ = writeln!(out, "  not recorded");
        }
    }
    out
}
