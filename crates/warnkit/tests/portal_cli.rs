//! `warnkit portal user add` and the portal inside `warnkit serve`: accounts from the command line, a sign-in
//! and a teleTAN over HTTP, an audit line in the log and no teleTAN in it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{free_port_base, Server, BIN};

fn user_add(dir: &Path, user: &str, role: &str, stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(["portal", "user", "add", "--data-dir"])
        .arg(dir)
        .args(["--user", user, "--role", role, "--no-totp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// The `name=value` of every `Set-Cookie`, joined for a `Cookie` header.
fn cookies(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ")
}

fn csrf(body: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = body.find(marker).unwrap() + marker.len();
    body[start..start + 64].to_owned()
}

#[tokio::test]
async fn accounts_from_the_cli_and_a_teletan_through_serve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = user_add(d, "ann", "hotline", Some("a-long-password-1\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "a given password is not echoed");
    let out = user_add(d, "bob", "health-authority", None);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim().len(),
        20,
        "generated"
    );
    let dup = user_add(d, "ann", "admin", Some("another-password-2\n"));
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("exists"));
    let weak = user_add(d, "cy", "admin", Some("short\n"));
    assert!(!weak.status.success());

    let base = free_port_base();
    let log = std::fs::File::create(d.join("serve.log")).unwrap();
    let child = Command::new(BIN)
        .args([
            "serve",
            "--only",
            "verification,testresult,portal",
            "--log-json",
            "--data-dir",
        ])
        .arg(d)
        .args(["--port-base", &base.to_string()])
        .env("WARNKIT_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let endpoints = d.join("endpoints.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !endpoints.exists() {
        assert!(Instant::now() < deadline, "endpoints.json never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&endpoints).unwrap()).unwrap();
    let portal = v["portal"].as_str().unwrap().to_owned();
    assert_eq!(portal, format!("http://127.0.0.1:{}", base + 4));

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        http.get(format!("{portal}/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let form = http.get(format!("{portal}/login")).send().await.unwrap();
    let jar = cookies(&form);
    let token = csrf(&form.text().await.unwrap());
    let r = http
        .post(format!("{portal}/login"))
        .header("cookie", jar)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={token}&username=ann&password=a-long-password-1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = cookies(&r);
    let start = http
        .get(format!("{portal}/start"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let token = csrf(&start.text().await.unwrap());
    let page = http
        .post(format!("{portal}/teletan"))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    let marker = r#"data-value=""#;
    let at = body.find(marker).unwrap() + marker.len();
    let teletan = &body[at..at + 10];

    drop(server);
    let log = std::fs::read_to_string(d.join("serve.log")).unwrap();
    assert!(!log.contains(teletan), "the teleTAN must not be logged");
    let audit = log
        .lines()
        .find(|l| l.contains("teleTAN issued"))
        .expect("an audit line");
    assert!(audit.contains("\"user\":\"ann\""), "{audit}");
    assert!(audit.contains("\"target\":\"audit\""), "{audit}");
}
