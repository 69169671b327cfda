//! Who runs what on a data directory: the instance locks a node takes before it binds anything, and `endpoints.json`, which the processes serving one data directory share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use warnkit_store::InstanceLock;

use crate::config::Config;
use crate::service::Service;

/// `DATA_DIR/locks/serve-<service>.lock`: held by the process that runs `service` on this data directory.
pub fn service_lock_path(data_dir: &Path, service: &str) -> PathBuf {
    data_dir.join("locks").join(format!("serve-{service}.lock"))
}

/// `DATA_DIR/locks/distribution-schedule.lock`: held by the process whose distribution job runs on its
/// schedule (`warnkit distribute` does not run beside it).
pub fn schedule_lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join("locks").join("distribution-schedule.lock")
}

/// The services a node may run, each with a lock file of its own.
pub fn service_names() -> impl Iterator<Item = &'static str> {
    Service::ALL.into_iter().map(Service::name)
}

/// Takes the lock of each of `services` (and of the distribution schedule when `schedule`) for
/// `command`, or fails naming the process that holds one, before anything is bound or opened.
pub fn lock_instance(
    config: &Config,
    services: &[Service],
    schedule: bool,
    command: &str,
) -> anyhow::Result<Vec<InstanceLock>> {
    let names: Vec<&str> = services.iter().map(|s| s.name()).collect();
    let about = format!("{command} ({})", names.join(", "));
    let mut wanted: Vec<(String, PathBuf)> = names
        .iter()
        .map(|s| {
            (
                format!("service {s}"),
                service_lock_path(&config.data_dir, s),
            )
        })
        .collect();
    if schedule {
        wanted.push((
            "the distribution schedule".to_owned(),
            schedule_lock_path(&config.data_dir),
        ));
    }
    let mut locks = Vec::new();
    for (what, path) in wanted {
        let taken = InstanceLock::try_acquire(&path, &about)
            .with_context(|| format!("taking {}", path.display()))?;
        match taken {
            Ok(lock) => locks.push(lock),
            Err(holder) => {
                let stop =
                    holder_pid(&holder).map_or("kill PID".to_owned(), |p| format!("kill {p}"));
                bail!(
                    "{what} already runs on data directory {}: {holder}. Stop that process first \
                     (`{stop}` or its service manager), or start this one with another --data-dir, \
                     or with --only naming services nobody runs there yet (`warnkit status` shows \
                     who runs what)",
                    config.data_dir.display()
                )
            }
        }
    }
    Ok(locks)
}

/// The process id at the start of a lock holder's line ("pid 4242, ..."), if it is there.
pub fn holder_pid(holder: &str) -> Option<&str> {
    let digits = holder.strip_prefix("pid ")?.split(',').next()?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// `DATA_DIR/endpoints.json`: a map from listener name to URL, shared by every process serving this
/// data directory. Each process adds its listeners once they are bound and removes them on the way out
/// ([`remove_endpoints`]). Replaced atomically; 0600 like everything in the data directory: it holds
/// no secret, but it names the internal listeners, and in a 0700 directory a looser mode would not let
/// anybody else read it anyway.
pub fn write_endpoints(config: &Config, urls: &BTreeMap<&str, String>) -> anyhow::Result<()> {
    let _guard = lock_endpoints(config)?;
    // Entries of processes that died without removing theirs are dropped once nobody else runs here.
    let mut merged = if other_instance_runs(config)? {
        read_endpoints(config)
    } else {
        BTreeMap::new()
    };
    merged.extend(urls.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    save_endpoints(config, &merged)
}

/// Removes this process's entries (`urls`) from `DATA_DIR/endpoints.json` on the way out, and the file
/// once it is empty, so no client finds the URLs of stopped services. Entries another process has
/// written since, under the same names, stay.
pub fn remove_endpoints(config: &Config, urls: &BTreeMap<&str, String>) {
    let removed = lock_endpoints(config).and_then(|_guard| {
        let mut entries = read_endpoints(config);
        entries.retain(|k, v| urls.get(k.as_str()) != Some(v));
        if entries.is_empty() {
            match std::fs::remove_file(endpoints_path(config)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        } else {
            save_endpoints(config, &entries)
        }
    });
    if let Err(e) = removed {
        tracing::warn!(error = %format!("{e:#}"), "removing our entries from endpoints.json");
    }
}

/// The entries of `DATA_DIR/endpoints.json`; none when it is missing or unreadable (it is rewritten
/// whole by the next writer).
pub fn read_endpoints(config: &Config) -> BTreeMap<String, String> {
    std::fs::read_to_string(endpoints_path(config))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn save_endpoints(config: &Config, entries: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let path = endpoints_path(config);
    let json = serde_json::to_string_pretty(entries)? + "\n";
    warnkit_store::owner_only::write(&path, json.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Waits for `locks/endpoints.lock`, held by a writer of `endpoints.json` for one read and one write.
fn lock_endpoints(config: &Config) -> anyhow::Result<std::fs::File> {
    let path = config.data_dir.join("locks").join("endpoints.lock");
    let open = || -> std::io::Result<std::fs::File> {
        if let Some(dir) = path.parent() {
            warnkit_store::owner_only::create_dir_all(dir)?;
        }
        warnkit_store::owner_only::create_file(&path)?;
        let file = std::fs::OpenOptions::new().write(true).open(&path)?;
        file.lock()?;
        Ok(file)
    };
    open().with_context(|| format!("locking {}", path.display()))
}

/// Whether a process other than this one holds the lock of a service on this data directory.
fn other_instance_runs(config: &Config) -> anyhow::Result<bool> {
    let ours = format!("pid {}, ", std::process::id());
    for service in service_names() {
        let path = service_lock_path(&config.data_dir, service);
        let holder =
            InstanceLock::holder(&path).with_context(|| format!("reading {}", path.display()))?;
        if holder.is_some_and(|h| !h.starts_with(&ours)) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn endpoints_path(config: &Config) -> PathBuf {
    config.data_dir.join("endpoints.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_is_read_from_a_holders_line() {
        let line = "pid 4242, warnkit serve (distribution) since 2026-12-03T14:00:00Z";
        assert_eq!(holder_pid(line), Some("4242"));
        assert_eq!(
            holder_pid("another process that has not said who it is"),
            None
        );
        assert_eq!(holder_pid("pid , x"), None);
        assert_eq!(holder_pid("pid 12a, x"), None);
    }
}
