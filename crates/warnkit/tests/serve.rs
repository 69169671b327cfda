//! `warnkit serve` as a process: endpoints.json, probes, the operator commands, a whole flow through the CLI,
//! graceful shutdown on SIGTERM; on SQLite and with `--database-url` on PostgreSQL.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::{free_port_base, warnkit, Server, BIN};

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
        for probe in ["health", "ready", "metrics", "openapi.json"] {
            let r = http
                .get(format!("{}/{probe}", url(key)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{key} /{probe}");
        }
    }
    let mut cfg = vec!["--data-dir", d];
    cfg.extend(
        extra
            .iter()
            .filter(|a| a.starts_with("postgres") || **a == "--database-url"),
    );
    let key = warnkit(&[&["lab", "key", "create", "--lab", "lab-x"][..], &cfg].concat());
    let guid = "E1277F-E1277F24-4AD2-40BC-AFF8-CBCCCD893E4B";
    warnkit(&[
        "lab",
        "post",
        "--url",
        &url("testresult"),
        "--key",
        &key,
        "--guid",
        guid,
        "--result",
        "positive",
    ]);
    let hash = warnkit_service::auth::sha256_hex(guid);
    let r = http
        .post(format!(
            "{}/version/v1/registrationToken",
            url("verification")
        ))
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
        ["testresult"]
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
