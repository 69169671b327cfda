//! One runner per service and data directory: a second `warnkit serve` refuses and leaves the first
//! alone, a split over `--only` shares `endpoints.json` without clobbering it, a killed server's locks
//! are free again, and `warnkit status` reports what runs and what the distribution did.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use warnkit_keystore::{KeyStore, StoredKey};

use crate::common;
use common::{free_port_base, warnkit, Server, BIN};

/// How long a server may take to start or to stop.
const DEADLINE: Duration = Duration::from_secs(60);

/// `endpoints.json` of `dir`, or `None` while there is none.
fn endpoints(dir: &Path) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("endpoints.json")).ok()?;
    Some(serde_json::from_str(&text).expect("endpoints.json is a map of URLs"))
}

/// The port of a `http://host:port` URL.
fn port(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

/// Starts `warnkit serve --data-dir DIR --port-base BASE EXTRA...` with its log in `log`, and waits
/// until `endpoints.json` lists each of `listeners` at its port from `BASE` (the file may exist
/// already, written by another process).
fn serve(dir: &Path, base: u16, extra: &[&str], log: &str, listeners: &[(&str, u16)]) -> Server {
    let log = dir.parent().expect("parent").join(log);
    let child = Command::new(BIN)
        .args(["serve", "--data-dir", dir.to_str().expect("utf-8")])
        .args(["--port-base", &base.to_string()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let mut server = Server(child);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let listed = endpoints(dir).is_some_and(|e| {
            listeners
                .iter()
                .all(|(name, offset)| e.get(*name).is_some_and(|u| port(u) == base + offset))
        });
        if listed {
            return server;
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!(
                "serve {extra:?} exited with {status}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{listeners:?} never listed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `server` to exit by itself, killing it after [`DEADLINE`].
fn wait_exit(server: &mut Server) -> ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = server.0.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops `server` as a service manager would (SIGTERM) and waits for a clean exit.
fn terminate(server: &mut Server) {
    let pid = server.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = wait_exit(server);
    assert!(status.success(), "serve exited with {status}");
}

/// Whether `GET URL/health` answers 200, over a plain HTTP/1.1 connection.
fn healthy(url: &str) -> bool {
    let addr = url.trim_start_matches("http://");
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// `warnkit status --data-dir DIR --json`.
fn status(dir: &Path, extra: &[&str]) -> Value {
    let dir = dir.to_str().expect("utf-8");
    let out = warnkit(&[&["status", "--data-dir", dir, "--json"][..], extra].concat());
    serde_json::from_str(&out).expect("status --json is JSON")
}

/// The `running` flag of each service in a status report.
fn running(status: &Value) -> BTreeMap<String, bool> {
    status["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name").to_owned(),
                s["running"].as_bool().expect("running"),
            )
        })
        .collect()
}

#[test]
fn a_second_serve_refuses_and_the_first_keeps_serving() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let base = free_port_base();
    let first = serve(&dir, base, &[], "first.log", &[("distribution", 0)]);
    let before = std::fs::read_to_string(dir.join("endpoints.json")).expect("endpoints");

    // Other ports, so only the lock can stop it.
    let second_base = free_port_base().to_string();
    let data = dir.to_str().expect("utf-8");
    let log = tmp.path().join("second.log");
    let mut second = Server(
        Command::new(BIN)
            .args(["serve", "--data-dir", data, "--port-base", &second_base])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn"),
    );
    let exited = wait_exit(&mut second);
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert!(!exited.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}, warnkit serve (", first.0.id())),
        "{stderr}"
    );
    assert!(
        stderr.contains("already runs on data directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("Stop that process first (`kill {}`", first.0.id())),
        "{stderr}"
    );

    // The first still serves, and what it published about itself is untouched.
    assert_eq!(
        std::fs::read_to_string(dir.join("endpoints.json")).expect("endpoints"),
        before
    );
    let urls = endpoints(&dir).expect("endpoints");
    for listener in ["distribution", "submission", "verification", "testresult"] {
        assert!(healthy(&urls[listener]), "{listener} at {}", urls[listener]);
    }
    drop(first);
}

#[test]
fn a_split_over_only_shares_the_data_dir_and_each_removes_its_own_endpoints() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let (a, b) = (free_port_base(), free_port_base());
    let mut dist = serve(
        &dir,
        a,
        &["--only", "distribution"],
        "dist.log",
        &[("distribution", 0)],
    );
    let mut ver = serve(
        &dir,
        b,
        &["--only", "verification,testresult"],
        "ver.log",
        &[
            ("verification", 2),
            ("testresult", 3),
            ("verification_internal", 5),
        ],
    );
    let urls = endpoints(&dir).expect("endpoints");
    assert_eq!(port(&urls["distribution"]), a, "{urls:?}");
    for listener in ["distribution", "verification", "testresult"] {
        assert!(healthy(&urls[listener]), "{listener}");
    }
    let report = status(&dir, &[]);
    let up = running(&report);
    assert!(
        up["distribution"] && up["verification"] && up["testresult"],
        "{report}"
    );
    assert!(!up["submission"] && !up["portal"], "{report}");
    for listener in report["listeners"].as_array().expect("listeners") {
        if ["distribution", "verification", "testresult"]
            .contains(&listener["name"].as_str().expect("name"))
        {
            assert_eq!(listener["health"], "ok", "{listener}");
        }
    }

    // The distribution process goes: its entry with it, the others' stay as they were.
    terminate(&mut dist);
    let left = endpoints(&dir).expect("the other process's endpoints stay");
    assert!(!left.contains_key("distribution"), "{left:?}");
    for listener in ["verification", "verification_internal", "testresult"] {
        assert_eq!(left[listener], urls[listener], "{listener}");
    }
    assert!(healthy(&left["verification"]));

    terminate(&mut ver);
    assert!(
        !dir.join("endpoints.json").exists(),
        "{:?}",
        endpoints(&dir)
    );
}

#[test]
fn a_killed_servers_locks_are_free_and_its_stale_endpoints_dropped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut first = serve(
        &dir,
        free_port_base(),
        &[],
        "first.log",
        &[("distribution", 0)],
    );
    first.0.kill().expect("kill -9");
    first.0.wait().expect("reap");
    // Nothing cleaned up: the lock files still name the dead process, endpoints.json its URLs.
    assert!(endpoints(&dir).is_some_and(|e| e.contains_key("distribution")));
    let stale = std::fs::read_to_string(dir.join("locks/serve-testresult.lock")).expect("lock");
    assert!(stale.contains(&format!("pid {}", first.0.id())), "{stale}");

    let base = free_port_base();
    let second = serve(
        &dir,
        base,
        &["--only", "testresult"],
        "second.log",
        &[("testresult", 3)],
    );
    let urls = endpoints(&dir).expect("endpoints");
    assert!(!urls.contains_key("distribution"), "{urls:?}");
    assert!(healthy(&urls["testresult"]));
    let report = status(&dir, &[]);
    let up = running(&report);
    assert!(up["testresult"] && !up["distribution"], "{report}");
    let holder = report["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["name"] == "testresult")
        .expect("testresult")["holder"]
        .as_str()
        .expect("holder")
        .to_owned();
    assert!(
        holder.starts_with(&format!(
            "pid {}, warnkit serve (testresult) since ",
            second.0.id()
        )),
        "{holder}"
    );
}

/// `count` keys submitted at Unix hour `hour`, each for the day before.
fn keys(first_byte: u8, count: u8, hour: i64) -> Vec<StoredKey> {
    (0..count)
        .map(|i| StoredKey {
            key_data: [first_byte + i; 16],
            rolling_start: ((hour / 24 - 1) * 144) as u32,
            rolling_period: 144,
            transmission_risk_level: 6,
            report_type: 1,
            days_since_onset_of_symptoms: None,
            submission_hour: hour,
            origin: "DE".into(),
            visited_countries: vec![],
            consent_to_federation: false,
        })
        .collect()
}

#[test]
fn status_reports_the_services_the_last_run_and_keys_per_day() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    // No schedule: the runs here are `warnkit distribute`'s.
    let config = tmp.path().join("warnkit.toml");
    std::fs::write(&config, "[distribution]\nschedule = false\n").expect("config");
    let cfg = ["--config", config.to_str().expect("utf-8")];
    let _server = serve(
        &dir,
        free_port_base(),
        &cfg,
        "serve.log",
        &[("distribution", 0)],
    );

    let hour = warnkit_store::unix_now() / 3600;
    let today = hour / 24;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let target = warnkit_store::DbTarget::SqliteFile(dir.join("submission.sqlite"));
        let store = KeyStore::open(&target, Default::default())
            .await
            .expect("key store");
        let mut stored = keys(10, 4, (today - 2) * 24 + 5);
        stored.extend(keys(20, 3, (today - 1) * 24 + 7));
        stored.extend(keys(30, 2, hour));
        assert_eq!(store.insert(&stored).await.expect("insert"), 9);
        store.db().close().await;
    });
    let date = |day: i64| warnkit_distribution::layout::date_string(day);

    let before = status(&dir, &cfg);
    let up = running(&before);
    for service in [
        "distribution",
        "submission",
        "verification",
        "testresult",
        "portal",
    ] {
        assert!(up[service], "{service}: {before}");
    }
    assert!(!up["gateway"], "{before}");
    assert_eq!(
        before["distribution_schedule"]["running"], false,
        "{before}"
    );
    let health: BTreeMap<&str, &str> = before["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| {
            (
                l["name"].as_str().expect("name"),
                l["health"].as_str().expect("health"),
            )
        })
        .collect();
    for listener in [
        "distribution",
        "submission",
        "verification",
        "testresult",
        "portal",
    ] {
        assert_eq!(health.get(listener), Some(&"ok"), "{before}");
    }
    assert_eq!(before["last_run"], Value::Null, "{before}");
    assert_eq!(
        before["keys_stored"],
        serde_json::json!([
            {"date": date(today - 2), "keys": 4},
            {"date": date(today - 1), "keys": 3},
            {"date": date(today), "keys": 2},
        ]),
        "{before}"
    );
    assert_eq!(before["keys_stored_total"], 9);
    let text = warnkit(&[
        "status",
        "--data-dir",
        dir.to_str().expect("utf-8"),
        cfg[0],
        cfg[1],
    ]);
    assert!(text.contains("no run recorded"), "{text}");

    warnkit(
        &[
            &["distribute", "--data-dir", dir.to_str().expect("utf-8")][..],
            &cfg,
        ]
        .concat(),
    );
    let after = status(&dir, &cfg);
    let run = &after["last_run"];
    assert_eq!(run["ok"], true, "{after}");
    assert_eq!(run["error"], Value::Null, "{after}");
    assert!(
        run["clock"].is_string() && run["finished_at"].is_string(),
        "{after}"
    );
    let published: BTreeMap<&str, u64> = after["keys_published"]
        .as_array()
        .expect("keys_published")
        .iter()
        .map(|d| {
            (
                d["date"].as_str().expect("date"),
                d["real_keys"].as_u64().expect("real"),
            )
        })
        .collect();
    assert_eq!(published.get(date(today - 2).as_str()), Some(&4), "{after}");
    assert_eq!(published.get(date(today - 1).as_str()), Some(&3), "{after}");
    // This hour's keys wait for it to end (unless it ended while the test ran).
    if warnkit_store::unix_now() / 3600 == hour {
        assert_eq!(after["waiting"]["keys"], 2, "{after}");
        assert!(after["waiting"]["until"].is_string(), "{after}");
    }
    let text = warnkit(&[
        "status",
        "--data-dir",
        dir.to_str().expect("utf-8"),
        cfg[0],
        cfg[1],
    ]);
    assert!(text.contains("succeeded"), "{text}");
}

#[test]
fn status_of_a_missing_data_dir_fails_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("nothing-here");
    let out = Command::new(BIN)
        .args(["status", "--data-dir", dir.to_str().expect("utf-8")])
        .output()
        .expect("run warnkit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(stderr.contains(&dir.display().to_string()), "{stderr}");
    assert!(!dir.exists(), "status created the data directory");
}

#[test]
fn status_waits_for_a_server_that_is_starting_and_gives_up_on_none() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let base = free_port_base().to_string();
    // Started without waiting for it: `status --wait` is what waits.
    let _server = Server(
        Command::new(BIN)
            .args(["serve", "--data-dir", dir.to_str().expect("utf-8")])
            .args(["--port-base", &base])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let out = Command::new(BIN)
        .args(["status", "--wait", "60", "--json", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("run warnkit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let listeners = report["listeners"].as_array().expect("listeners");
    assert!(listeners.len() >= 5, "{report}");
    for listener in listeners {
        assert_eq!(listener["health"], "ok", "{report}");
        assert!(healthy(listener["url"].as_str().expect("url")));
    }

    let none = tmp.path().join("never-served");
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["status", "--wait", "1", "--data-dir"])
        .arg(&none)
        .output()
        .expect("run warnkit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("no server came up within 1 s"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn status_waits_for_a_demo_clock_server_whose_listeners_all_answer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let base = free_port_base();
    let mut server = serve(
        &dir,
        base,
        &["--demo-clock"],
        "demo-clock.log",
        &[("distribution", 0), ("testresult", 3), ("metrics", 7)],
    );
    let out = Command::new(BIN)
        .args(["status", "--wait", "10", "--json", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("run warnkit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let health: BTreeMap<&str, &str> = report["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| {
            (
                l["name"].as_str().expect("name"),
                l["health"].as_str().expect("health"),
            )
        })
        .collect();
    let names: Vec<&str> = health.keys().copied().collect();
    assert_eq!(
        names,
        [
            "demo_clock",
            "distribution",
            "metrics",
            "submission",
            "testresult",
            "verification",
            "verification_internal"
        ],
        "the demo's services, their metrics and the clock control, no portal: {report}"
    );
    assert!(health.values().all(|h| *h == "ok"), "{report}");
    let services = running(&report);
    assert!(
        services["distribution"] && services["testresult"],
        "{report}"
    );
    assert!(!services["portal"], "{report}");
    assert_eq!(
        report["distribution_schedule"]["running"], true,
        "the demo's runs are the schedule: {report}"
    );
    terminate(&mut server);
    assert!(endpoints(&dir).is_none(), "its endpoints are removed");
}
