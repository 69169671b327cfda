//! `warnkit serve` under a low descriptor limit: a flood of idle connections to one port leaves the
//! others answering (every listener has a cap fitted into the limit, and excess clients wait in the
//! kernel's backlog), and the soft limit is raised to the hard one at start.
//!
//! The limit is lowered for the child process only (`sh -c 'ulimit -n …; exec warnkit serve …'`).

#[path = "it/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port_base, Server, BIN};

/// `warnkit serve` on free ports with a fresh data directory under `dir`, its descriptor limits set
/// by `ulimit` (shell syntax, e.g. `-n 256`); the server, its port base and its log file.
fn serve_with_ulimit(dir: &Path, ulimit: &str) -> (Server, u16, std::path::PathBuf) {
    let base = free_port_base();
    let data = dir.join("data");
    let log = dir.join("serve.log");
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("{ulimit} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(["serve", "--data-dir", data.to_str().expect("utf-8")])
        .args(["--port-base", &base.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !data.join("endpoints.json").exists() {
        assert!(
            Instant::now() < deadline,
            "endpoints.json never appeared: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, base, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausting_one_port_leaves_the_others_answering() {
    const LIMIT: usize = 256;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, base, log) = serve_with_ulimit(dir.path(), &format!("ulimit -n {LIMIT}"));
    let (distribution, submission, verification) = (base, base + 1, base + 2);

    // Idle connections to the distribution port, more than the whole process has descriptors, all at
    // once. Without the caps its accept loop would take them all and every other port's `accept` would
    // fail; with them, the port takes its share and the rest wait in the kernel (the accept backlog,
    // then SYN retries, which is why a connect may not complete within the second).
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..LIMIT + 100 {
        attempts.spawn(async move {
            let connect = tokio::net::TcpStream::connect(("127.0.0.1", distribution));
            let mut stream = tokio::time::timeout(Duration::from_secs(1), connect)
                .await
                .ok()?
                .ok()?;
            // Half a request line: a slow-header client.
            tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET /ver")
                .await
                .ok()?;
            Some(stream)
        });
    }
    let mut flood = Vec::new();
    while let Some(attempt) = attempts.join_next().await {
        flood.extend(attempt.expect("no panic"));
    }
    assert!(
        flood.len() > 16,
        "only {} connections to the distribution port",
        flood.len()
    );

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let url = |port: u16, path: &str| format!("http://127.0.0.1:{port}{path}");
    for (port, path) in [
        (verification, "/health"),
        (verification, "/ready"),
        (submission, "/health"),
        (submission, "/ready"),
    ] {
        let asked = Instant::now();
        let r = http
            .get(url(port, path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{port}{path} does not answer: {e}"));
        assert_eq!(r.status(), 200, "{port}{path}");
        assert!(asked.elapsed() < Duration::from_secs(2), "{port}{path}");
    }
    // A registration (a database write) and an upload (refused, with its JSON answer) still go
    // through.
    let guid_hash = warnkit_service::auth::sha256_hex("listeners-test-guid");
    let r = http
        .post(url(verification, "/version/v1/registrationToken"))
        .header("cwa-fake", "0")
        .json(&serde_json::json!({"keyType": "GUID", "key": guid_hash}))
        .send()
        .await
        .expect("a registration is answered");
    assert_eq!(r.status(), 201);
    let r = http
        .post(url(submission, "/version/v1/diagnosis-keys"))
        .header("cwa-fake", "0")
        .header("cwa-authorization", "not-a-tan")
        .header("content-type", "application/x-protobuf")
        .body(Vec::new())
        .send()
        .await
        .expect("an upload is answered");
    assert!(r.status().is_client_error(), "{}", r.status());
    assert_eq!(r.headers()["content-type"], "application/json");

    drop(flood);
    let log = std::fs::read_to_string(&log).expect("log");
    assert!(log.contains("descriptor limit"), "{log}");
    assert!(log.contains("connection limits per listener"), "{log}");
    assert!(
        !log.contains("accepting a connection failed"),
        "the process ran out of descriptors: {log}"
    );
}

#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _, log) = serve_with_ulimit(dir.path(), "ulimit -Sn 256 && ulimit -Hn 2048");
    // `sh` exec'd into warnkit: the child's pid is the server's.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.0.id()))
        .expect("/proc/PID/limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a descriptor limit");
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["2048", "2048"], "{open_files}");
    let log = std::fs::read_to_string(&log).expect("log");
    let line = log
        .lines()
        .find(|l| l.contains("descriptor limit"))
        .unwrap_or_else(|| panic!("the limit is logged: {log}"));
    assert!(
        line.contains("before=256") && line.contains("soft=2048"),
        "{line}"
    );
}
