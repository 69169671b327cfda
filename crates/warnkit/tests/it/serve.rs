//! `warnkit serve` as a process: endpoints.json, probes, the operator commands, a whole flow through the CLI,
//! graceful shutdown on SIGTERM; on SQLite and with `--database-url` on PostgreSQL.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common;
use common::{free_port_base, lab_posts_positive, warnkit, Server, BIN};

fn start(dir: &Path, extra: &[&str]) -> (Server, Value) {
    let base = free_port_base().to_string();
    let mut args = vec![
        "serve",
        "--data-dir",
        dir.to_str().unwrap(),
        "--port-base",
        &base,
    ];
    args.extend(extra);
    // Debug-level JSON logs of every crate, kept for the "no secrets in logs" check.
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let child = Command::new(BIN)
        .args(&args)
        .arg("--log-json")
        .env("WARNKIT_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let endpoints = dir.join("endpoints.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !endpoints.exists() {
        assert!(Instant::now() < deadline, "endpoints.json never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(endpoints).unwrap()).unwrap();
    (server, v)
}

async fn flow(dir: &Path, extra: &[&str]) {
    let d = dir.to_str().unwrap();
    let (mut server, endpoints) = start(dir, extra);
    let url = |k: &str| endpoints[k].as_str().unwrap().to_owned();
    assert!(url("verification").starts_with("http://127.0.0.1:"));
    let http = reqwest::Client::new();
    for key in ["verification", "verification_internal", "testresult"] {
        for probe in ["health", "ready", "openapi.json"] {
            let r = http
                .get(format!("{}/{probe}", url(key)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{key} /{probe}");
        }
    }
    let r = http.get(format!("{}/metrics", url("metrics"))).send().await;
    assert_eq!(r.unwrap().status(), 200, "the operators' metrics");
    let mut cfg = vec!["--data-dir", d];
    cfg.extend(
        extra
            .iter()
            .filter(|a| a.starts_with("postgres") || **a == "--database-url"),
    );
    let guid = "E1277F-E1277F24-4AD2-40BC-AFF8-CBCCCD893E4B";
    let key = lab_posts_positive(&cfg, &url("testresult"), "lab-x", guid);
    let hash = warnkit_service::auth::sha256_hex(guid);
    let r = http
        .post(format!(
            "{}/version/v1/registrationToken",
            url("verification")
        ))
        .header("cwa-fake", "0")
        .json(&json!({"keyType": "GUID", "key": hash}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = r.json::<Value>().await.unwrap()["registrationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .post(format!("{}/version/v1/tan", url("verification")))
        .header("cwa-fake", "0")
        .json(&json!({"registrationToken": token}));
    let tan = r.send().await.unwrap().json::<Value>().await.unwrap()["tan"]
        .as_str()
        .unwrap()
        .to_owned();
    let service_token = std::fs::read_to_string(dir.join("service-token")).unwrap();
    let verify = |tan: String| {
        http.post(format!(
            "{}/version/v1/tan/verify",
            url("verification_internal")
        ))
        .bearer_auth(service_token.trim())
        .json(&json!({ "tan": tan }))
        .send()
    };
    assert_eq!(verify(tan.clone()).await.unwrap().status(), 200);
    assert_eq!(verify(tan.clone()).await.unwrap().status(), 404);
    // An operator's teleTAN registers once.
    let teletan = warnkit(&[&["teletan", "create"][..], &cfg].concat());
    let reg = |key: String| {
        http.post(format!(
            "{}/version/v1/registrationToken",
            url("verification")
        ))
        .header("cwa-fake", "0")
        .json(&json!({"keyType": "TELETAN", "key": key}))
        .send()
    };
    assert_eq!(reg(teletan.clone()).await.unwrap().status(), 201);
    assert_eq!(reg(teletan.clone()).await.unwrap().status(), 400);
    // A rapid test through the CLI: the centre posts the QR code's hash, the phone registers its SHA-256
    // and polls the rapid-test code 7.
    let qr_hash = warnkit_service::auth::sha256_hex(guid.to_lowercase());
    warnkit(&[
        "lab",
        "post",
        "--url",
        &url("testresult"),
        "--key",
        &key,
        "--hash",
        &qr_hash,
        "--result",
        "rapid-positive",
    ]);
    let r = http
        .post(format!(
            "{}/version/v1/registrationToken",
            url("verification")
        ))
        .header("cwa-fake", "0")
        .json(&json!({"keyType": "GUID", "key": warnkit_service::auth::sha256_hex(&qr_hash)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let rapid_token = r.json::<Value>().await.unwrap()["registrationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .post(format!("{}/version/v1/testresult", url("verification")))
        .header("cwa-fake", "0")
        .json(&json!({ "registrationToken": rapid_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["testResult"], 7);

    // SIGTERM stops it cleanly and quickly.
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Logs are JSON lines and contain none of the secrets or identifiers this flow used.
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(log.lines().count() > 3, "{log}");
    for line in log.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    let secrets = [
        ("lab key", &key),
        ("GUID hash", &hash),
        ("registration token", &token),
        ("TAN", &tan),
        ("teleTAN", &teletan),
        ("service token", &service_token.trim().to_owned()),
    ];
    for (what, secret) in secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log contains the {what}"
        );
    }
    assert!(!log.contains(guid), "the log contains the GUID");
}

#[tokio::test]
async fn serve_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    flow(dir.path(), &[]).await;
    assert!(dir.path().join("verification.sqlite").exists());
    assert!(dir.path().join("testresult.sqlite").exists());
}

#[tokio::test]
async fn serve_on_postgres() {
    let Some(db) = warnkit_testkit::TestDb::new(warnkit_testkit::Engine::Postgres) else {
        return;
    };
    let url = db.postgres_url().unwrap().to_owned();
    flow(db.dir(), &["--database-url", &url]).await;
    assert!(!db.dir().join("verification.sqlite").exists());
}

#[test]
fn only_and_unknown_services() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, endpoints) = start(dir.path(), &["--only", "testresult"]);
    assert_eq!(
        endpoints.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["metrics", "testresult"]
    );
    let out = Command::new(BIN)
        .args([
            "serve",
            "--only",
            "nope",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown service"));
}

#[test]
fn config_prints_effective_values() {
    let out = Command::new(BIN)
        .args(["config", "--data-dir", "/srv/x"])
        .env("WARNKIT_VERIFICATION__TANS_PER_REGISTRATION", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("data_dir = \"/srv/x\""), "{text}");
    assert!(text.contains("tans_per_registration = 1"), "{text}");
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// No port that phones, labs, officers, services or other countries reach answers `/metrics` (it is
/// their JSON 404 of any unknown path): the counters tell real uploads and requests from fake ones.
/// The operators' listeners serve every service's metrics. A backend and a gateway started with the
/// same `--port-base` come up side by side: their metrics listeners differ.
#[tokio::test]
async fn metrics_only_on_the_operators_listeners() {
    let root = tempfile::tempdir().unwrap();
    let (backend_dir, gateway_dir) = (root.path().join("backend"), root.path().join("gateway"));
    std::fs::create_dir_all(&backend_dir).unwrap();
    let (_backend, backend) = start(&backend_dir, &[]);
    let base = port_of(backend["distribution"].as_str().unwrap()).to_string();
    let (_gateway, gateway) = common::spawn(
        &[
            "gateway",
            "--data-dir",
            gateway_dir.to_str().unwrap(),
            "--port-base",
            &base,
        ],
        &gateway_dir,
        &root.path().join("gateway.log"),
    );
    let internal = ["metrics", "gateway_metrics"];
    let mut public = Vec::new();
    for endpoints in [&backend, &gateway] {
        for (name, url) in endpoints.as_object().unwrap() {
            if !internal.contains(&name.as_str()) {
                public.push((name.clone(), url.as_str().unwrap().to_owned()));
            }
        }
    }
    let names: Vec<&str> = public.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "distribution",
            "portal",
            "submission",
            "testresult",
            "verification",
            "verification_internal",
            "gateway"
        ]
    );
    let http = reqwest::Client::new();
    for (name, url) in &public {
        // Something for each service's registry to count.
        let r = http.get(format!("{url}/health")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{name} /health");
        let r = http.get(format!("{url}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{name} /metrics");
        assert_eq!(r.headers()["content-type"], "application/json", "{name}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{name}: {body}");
        assert!(!body.to_string().contains("_total"), "{name}: {body}");
    }

    let text = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"));
            r.text().await.unwrap()
        }
    };
    let metrics = text(format!("{}/metrics", backend["metrics"].as_str().unwrap())).await;
    for service in [
        "distribution",
        "submission",
        "verification",
        "verification_internal",
        "testresult",
        "portal",
    ] {
        let health = format!(
            "http_requests_total{{service=\"{service}\",route=\"/health\",status=\"200\"}} 1"
        );
        assert!(metrics.contains(&health), "{health} in {metrics}");
    }
    assert!(!metrics.contains("service=\"gateway\""), "{metrics}");
    // Each metric family once, whichever services it counts for.
    let types: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .collect();
    let mut distinct = types.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(types.len(), distinct.len(), "{metrics}");
    let metrics = text(format!(
        "{}/metrics",
        gateway["gateway_metrics"].as_str().unwrap()
    ))
    .await;
    assert!(
        metrics.contains(
            "http_requests_total{service=\"gateway\",route=\"/health\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert_eq!(
        port_of(gateway["gateway_metrics"].as_str().unwrap()),
        port_of(backend["metrics"].as_str().unwrap()) + 1
    );
}

/// After a fresh start, the data directory `warnkit serve` created and everything in it (databases and
/// their `-wal` and `-shm`, the service token, the signing keys, the published files, the lock,
/// `endpoints.json`, and what the operator commands added) are their owner's only: no group or other
/// permission bit anywhere, though the test's umask (022) allows them.
#[cfg(unix)]
#[test]
fn a_fresh_data_dir_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("srv/data");
    let d = data.to_str().unwrap();
    let (_server, _) = common::start_logging_to(&data, &root.path().join("serve.log"), &[]);
    warnkit(&["lab", "key", "create", "--lab", "lab-x", "--data-dir", d]);
    warnkit(&["teletan", "create", "--data-dir", d]);
    let top_index = data.join("published/version/v1/diagnosis-keys/country/index");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !top_index.exists() {
        assert!(
            Instant::now() < deadline,
            "the first distribution run published nothing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut seen = Vec::new();
    let mut open = Vec::new();
    let mut stack = vec![root.path().join("srv"), data.clone()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            open.push(format!("{:o} {}", mode, path.display()));
        }
        let relative = path
            .strip_prefix(&data)
            .unwrap_or(&path)
            .display()
            .to_string();
        seen.push(relative);
        if meta.is_dir() && path.starts_with(&data) {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    for expected in [
        "verification.sqlite",
        "verification.sqlite-wal",
        "verification.sqlite-shm",
        "submission.sqlite",
        "testresult.sqlite",
        "portal.sqlite",
        "service-token",
        "signing/signing-key.pem",
        "signing/public-key.pem",
        "distribution.lock",
        "endpoints.json",
        "published/version/v1/diagnosis-keys/country/index",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "no {expected} in {seen:?}"
        );
    }
    assert!(open.is_empty(), "open to group or others: {open:#?}");
}

#[test]
fn an_s3_store_without_credentials_fails_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("s3.toml");
    // Port 9 on loopback: had anything been sent, it would have been refused there, not elsewhere.
    std::fs::write(
        &config,
        "[distribution.store]\nkind = \"s3\"\nbucket = \"warnkit\"\nregion = \"eu-central-1\"\n\
         endpoint = \"http://127.0.0.1:9\"\n",
    )
    .expect("config");
    let started = Instant::now();
    let mut command = Command::new(BIN);
    command.args([
        "distribute",
        "--config",
        config.to_str().expect("utf-8"),
        "--data-dir",
        tmp.path().join("data").to_str().expect("utf-8"),
    ]);
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    // Should the check ever go, the instance-metadata lookup still stays on loopback.
    command.env("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9");
    let out = command.output().expect("run warnkit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("no credentials"), "{stderr}");
    assert_eq!(
        stderr.matches("no credentials").count(),
        1,
        "one clear error: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it failed at once, without retrying anything"
    );
}

#[test]
fn teletan_create_prints_json_with_its_validity() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_str().expect("utf-8");
    for (kind, secs) in [("TEST", 3_600), ("EVENT", 172_800)] {
        let before = warnkit_store::unix_now();
        let out: Value = serde_json::from_str(&warnkit(&[
            "teletan",
            "create",
            "--type",
            kind,
            "--json",
            "--data-dir",
            dir,
        ]))
        .expect("JSON");
        assert_eq!(out["type"], kind);
        assert_eq!(out["valid_secs"], secs);
        let teletan = out["teletan"].as_str().expect("teletan");
        assert_eq!(teletan.len(), 10, "{out}");
        let until = warnkit_distribution::layout::parse_rfc3339(
            out["valid_until"].as_str().expect("valid_until"),
        )
        .expect("RFC 3339");
        assert!(
            (before + secs..=before + secs + 5).contains(&until),
            "{out}"
        );
    }
}
