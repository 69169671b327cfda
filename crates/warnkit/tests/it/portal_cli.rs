//! `warnkit portal user add` and the portal inside `warnkit serve`: accounts from the command line, a sign-in
//! and a teleTAN over HTTP, an audit line in the log and no teleTAN in it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;
use common::{free_port_base, Server, BIN};

/// `warnkit portal user add` of `user` with `role` and no TOTP, the password from `stdin` (generated
/// when `None`).
fn user_add(dir: &Path, user: &str, role: &str, stdin: Option<&str>) -> Output {
    user_cmd(
        dir,
        &["add", "--user", user, "--role", role, "--no-totp"],
        stdin,
    )
}

/// An HTTP client that shows each redirect instead of following it.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
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

    let http = no_redirects();
    assert_eq!(
        http.get(format!("{portal}/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let session = sign_in(&http, &portal, "ann", "a-long-password-1")
        .await
        .expect("signed in");
    let start = start_page(&http, &portal, &session).await.unwrap();
    let form = format!("csrf={}", csrf(&start));
    let teletan = issue(&http, &portal, &session, "/teletan", form).await;

    drop(server);
    let audit = audit_line(d, &teletan);
    assert!(audit.contains("\"user\":\"ann\""), "{audit}");
    assert!(audit.contains("\"target\":\"audit\""), "{audit}");
}

/// Posts the issuing `form` to `path` with `session`: the teleTAN the answer shows.
async fn issue(
    http: &reqwest::Client,
    portal: &str,
    session: &str,
    path: &str,
    form: String,
) -> String {
    let page = http
        .post(format!("{portal}{path}"))
        .header("cookie", session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    let marker = r#"data-value=""#;
    let at = body.find(marker).unwrap() + marker.len();
    body[at..at + 10].to_owned()
}

/// The audit line of the issued `teletan` in `DIR/serve.log` (read after the server stopped), which
/// must not hold the teleTAN itself.
fn audit_line(dir: &Path, teletan: &str) -> String {
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(!log.contains(teletan), "the teleTAN must not be logged");
    log.lines()
        .find(|l| l.contains("teleTAN issued"))
        .expect("an audit line")
        .to_owned()
}

/// `warnkit portal user ARGS --data-dir DIR` with `stdin` (closed when `None`).
fn user_cmd(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(["portal", "user"])
        .args(args)
        .arg("--data-dir")
        .arg(dir)
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

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Signs in over HTTP; the session cookie, or `None` when refused.
async fn sign_in(
    http: &reqwest::Client,
    portal: &str,
    user: &str,
    password: &str,
) -> Option<String> {
    let form = http.get(format!("{portal}/login")).send().await.unwrap();
    let jar = cookies(&form);
    let token = csrf(&form.text().await.unwrap());
    let body = form_body(&[("csrf", &token), ("username", user), ("password", password)]);
    let r = http
        .post(format!("{portal}/login"))
        .header("cookie", jar)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status() == 303).then(|| cookies(&r))
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    // Every value here is URL-safe apart from the generated passwords, which use letters and digits only.
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The start page with `session`: its body, or `None` when sent to the sign-in page.
async fn start_page(http: &reqwest::Client, portal: &str, session: &str) -> Option<String> {
    let r = http
        .get(format!("{portal}/start"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    if r.status() == 200 {
        Some(r.text().await.unwrap())
    } else {
        None
    }
}

#[tokio::test]
async fn account_changes_end_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&user_add(d, "ann", "hotline", Some("first-password-1\n")));
    let (_server, endpoints) = common::start(d, &["--only", "portal"]);
    let portal = endpoints["portal"].as_str().unwrap().to_owned();
    let http = no_redirects();
    let session = sign_in(&http, &portal, "ann", "first-password-1")
        .await
        .unwrap();
    assert!(start_page(&http, &portal, &session).await.is_some());

    // A new password from standard input: the session ends, only the new password works.
    let said = ok(&user_cmd(
        d,
        &["passwd", "--user", "ann"],
        Some("second-password-2\n"),
    ));
    assert!(said.contains("1 session(s) ended"), "{said}");
    assert!(start_page(&http, &portal, &session).await.is_none());
    assert!(sign_in(&http, &portal, "ann", "first-password-1")
        .await
        .is_none());
    let session = sign_in(&http, &portal, "ann", "second-password-2")
        .await
        .unwrap();

    // Other roles apply to the running session.
    ok(&user_cmd(
        d,
        &["role", "--user", "ann", "--role", "event,health-authority"],
        None,
    ));
    let page = start_page(&http, &portal, &session).await.unwrap();
    // The event box, without health authorities configured here: a note, no form.
    assert!(page.contains(r#"id="event-box""#) && !page.contains(r#"id="issue-teletan""#));
    assert!(
        page.contains("No health authorities are configured"),
        "{page}"
    );
    let bad = user_cmd(d, &["role", "--user", "ann", "--role", "boss"], None);
    assert!(!bad.status.success());

    // A generated password is printed once; a TOTP reset ends the session too.
    let out = user_cmd(d, &["passwd", "--user", "ann"], None);
    ok(&out);
    let generated = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(generated.len(), 20);
    let session = sign_in(&http, &portal, "ann", &generated).await.unwrap();
    let said = ok(&user_cmd(d, &["reset-totp", "--user", "ann"], None));
    assert!(said.contains("1 session(s) ended"), "{said}");
    assert!(start_page(&http, &portal, &session).await.is_none());

    // Removal: the session and the account are gone.
    let session = sign_in(&http, &portal, "ann", &generated).await.unwrap();
    let said = ok(&user_cmd(d, &["remove", "--user", "ann"], None));
    assert!(said.contains("removed ann; 1 session(s) ended"), "{said}");
    assert!(start_page(&http, &portal, &session).await.is_none());
    assert!(sign_in(&http, &portal, "ann", &generated).await.is_none());
    let again = user_cmd(d, &["remove", "--user", "ann"], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("there is no account \"ann\""));
    let weak = user_cmd(d, &["passwd", "--user", "nobody"], Some("short\n"));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 10 characters"));
}

#[tokio::test]
async fn event_teletan_through_serve_with_an_authority_list() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&user_add(d, "eve", "event", Some("event-password-1\n")));
    let config = d.join("warnkit.toml");
    std::fs::write(
        &config,
        "[[portal.health_authorities]]\nname = \"Gesundheitsamt Mitte\"\nnr = \"1.11.0.01.\"\n",
    )
    .unwrap();
    let (server, endpoints) = common::start(
        d,
        &[
            "--only",
            "verification,testresult,portal",
            "--log-json",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let portal = endpoints["portal"].as_str().unwrap().to_owned();
    let http = no_redirects();
    let session = sign_in(&http, &portal, "eve", "event-password-1")
        .await
        .unwrap();
    let start = start_page(&http, &portal, &session).await.unwrap();
    assert!(
        start.contains("Gesundheitsamt Mitte (1.11.0.01.)"),
        "{start}"
    );
    let form = format!("csrf={}&authority=1.11.0.01.", csrf(&start));
    let teletan = issue(&http, &portal, &session, "/teletan/event", form).await;

    drop(server);
    let audit = audit_line(d, &teletan);
    for part in [
        r#""user":"eve""#,
        r#""kind":"EVENT""#,
        r#""authority":"1.11.0.01.""#,
        r#""authority_name":"Gesundheitsamt Mitte""#,
    ] {
        assert!(audit.contains(part), "{part} in {audit}");
    }
}
