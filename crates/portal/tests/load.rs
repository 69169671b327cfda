//! The portal under a storm of 200 sign-ins at once, measured where nothing else runs: a binary of its own
//! (cargo runs test binaries one after another, while the tests of one binary run side by side), whose
//! tests take turns (`ALONE`), and the memory probe in a process of its own (resident memory is the whole
//! process's).
//!
//! - Cheap requests stay fast while every password check is taken: Argon2id runs on blocking threads, a
//!   bounded number at once, and the sign-ins beyond the queue get 503 `busy`.
//! - Unknown user names leave no memory behind: every check reuses the pool's working memory.

#[allow(dead_code)] // the integration suite's harness, of which these tests need a part
#[path = "it/harness.rs"]
mod harness;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use reqwest::header::SET_COOKIE;
use reqwest::{redirect, Client, StatusCode};
use tokio::sync::Barrier;
use warnkit_portal::PortalConfig;
use warnkit_testkit::Engine;
use warnkit_verification::VerificationConfig;

use crate::harness::{attr_after, App, PASSWORD};

/// Sign-ins sent at once.
const SIGN_INS: usize = 200;
/// Set for the memory probe's own process.
const PROBE: &str = "WARNKIT_PORTAL_MEMORY_PROBE";
/// The tests here take turns, so that each has the machine to itself.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A sign-in form's CSRF token and the login cookie that must come with it.
struct Form {
    csrf: String,
    cookie: String,
}

async fn form(http: &Client, base: &str) -> Form {
    let r = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .find_map(|v| {
            let pair = v.to_str().ok()?.split(';').next()?;
            Some(pair.strip_prefix("wk_portal_login=")?.to_owned())
        })
        .expect("a login cookie");
    let body = r.text().await.unwrap();
    let csrf = attr_after(&body, r#"name="csrf" value=""#).expect("a csrf field");
    Form { csrf, cookie }
}

/// How the portal answered a sign-in; anything but these fails the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// 401: wrong user name or password.
    Refused,
    /// 303 to the next stage.
    SignedIn,
    /// 503 `busy` in the JSON envelope, with `Retry-After: 1`.
    Busy,
}

async fn sign_in(
    http: &Client,
    base: &str,
    form: &Form,
    username: &str,
    password: &str,
) -> Outcome {
    let fields = [
        ("csrf", form.csrf.as_str()),
        ("username", username),
        ("password", password),
    ];
    let r = http
        .post(format!("{base}/login"))
        .header("cookie", format!("wk_portal_login={}", form.cookie))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let retry_after = r.headers().get("retry-after").cloned();
    let text = r.text().await.unwrap();
    match status {
        StatusCode::UNAUTHORIZED => Outcome::Refused,
        StatusCode::SEE_OTHER => Outcome::SignedIn,
        StatusCode::SERVICE_UNAVAILABLE => {
            let body: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("a 503 without the JSON envelope: {text}"));
            assert_eq!(body["error"], "busy", "{body}");
            assert_eq!(retry_after.unwrap(), "1");
            Outcome::Busy
        }
        other => panic!("a sign-in answered {other}: {text}"),
    }
}

/// Loads a form for each `(username, password)`, waits at `start`, then sends them all at once; the
/// outcomes in order.
async fn storm(
    http: &Client,
    base: &str,
    logins: Vec<(String, String)>,
    start: Arc<Barrier>,
) -> Vec<Outcome> {
    let mut forms = Vec::with_capacity(logins.len());
    for _ in &logins {
        forms.push(form(http, base).await);
    }
    let tasks: Vec<_> = logins
        .into_iter()
        .zip(forms)
        .map(|((username, password), form)| {
            let (http, base, start) = (http.clone(), base.to_owned(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                sign_in(&http, &base, &form, &username, &password).await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    outcomes
}

fn count(outcomes: &[Outcome], which: Outcome) -> usize {
    outcomes.iter().filter(|o| **o == which).count()
}

/// 200 sign-ins at once (known and unknown names, right and wrong passwords) on the default pool, while
/// a second client loads the sign-in page again and again: its p99 stays under 50 ms, and every sign-in
/// gets its normal answer or 503 `busy`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cheap_requests_stay_fast_during_a_sign_in_storm() {
    let _alone = ALONE.lock().await;
    // 200 sign-ins at 7 accounts would meet the default 5 failures per account long before Argon2id:
    // allow them all, so that every admitted sign-in is really checked.
    let pc = PortalConfig {
        login_max_failures: 1_000_000,
        ..PortalConfig::default()
    };
    let app = App::start_with(Engine::Sqlite, VerificationConfig::default(), pc)
        .await
        .unwrap();
    let accounts = [
        "hotline", "hotline2", "ha", "admin", "totp", "event", "both",
    ];
    let logins: Vec<(String, String)> = (0..SIGN_INS)
        .map(|i| match i % 4 {
            0 => (format!("nobody-{i}"), "wrong-password".to_owned()),
            1 => (accounts[i % 7].to_owned(), "wrong-password".to_owned()),
            2 => (format!("nobody-{i}"), PASSWORD.to_owned()),
            _ => (accounts[i % 7].to_owned(), PASSWORD.to_owned()),
        })
        .collect();
    let start = Arc::new(Barrier::new(SIGN_INS + 1));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (start, done, url) = (start.clone(), done.clone(), format!("{}/login", app.portal));
        async move {
            let http = client();
            assert_eq!(
                http.get(&url).send().await.unwrap().status(),
                StatusCode::OK
            );
            start.wait().await;
            let mut samples = Vec::new();
            while !done.load(Ordering::Acquire) {
                let t = Instant::now();
                let r = http.get(&url).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                r.bytes().await.unwrap();
                samples.push(t.elapsed());
            }
            samples
        }
    });
    let http = client();
    let outcomes = tokio::time::timeout(
        Duration::from_secs(120),
        storm(&http, &app.portal, logins, start),
    )
    .await
    .expect("200 sign-ins answered within 120 s");
    done.store(true, Ordering::Release);
    let mut samples = sampler.await.unwrap();

    let busy = count(&outcomes, Outcome::Busy);
    let checked = count(&outcomes, Outcome::Refused) + count(&outcomes, Outcome::SignedIn);
    samples.sort();
    let n = samples.len();
    assert!(n > 0, "no cheap request answered during the storm");
    let p99 = samples[(n * 99).div_ceil(100).max(1) - 1];
    println!(
        "{SIGN_INS} sign-ins: {checked} checked, {busy} busy; GET /login meanwhile: {n} samples, \
         median {:?}, p99 {p99:?}, max {:?}",
        samples[n / 2],
        samples[n - 1],
    );
    let counted = app
        .service
        .metrics()
        .counter("portal_password_checks_total") as usize;
    assert_eq!(
        counted, checked,
        "every answered sign-in but the busy ones was checked"
    );
    assert!(
        checked > PortalConfig::default().password_hash_queue,
        "{checked} sign-ins checked: the pool and its queue were full"
    );
    assert!(
        n >= 100,
        "only {n} cheap requests answered during the storm"
    );
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");
}

/// Runs [`memory_probe`] in a process of its own and checks that it ran and passed.
#[test]
fn unknown_names_leave_no_memory_behind() {
    let _alone = ALONE.blocking_lock();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "memory_probe", "--ignored", "--nocapture"])
        .arg("--test-threads=1")
        .env(PROBE, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        let _ = tx.send(out);
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(120)) else {
        let _ = child.kill();
        panic!("the memory probe did not finish within 120 s");
    };
    let status = child.wait().unwrap();
    print!("{out}");
    assert!(status.success(), "the memory probe failed");
    assert!(
        out.contains("memory probe:"),
        "the memory probe did not run"
    );
}

/// Resident memory of this process (`VmRSS`) or its peak (`VmHWM`), in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    line.trim().trim_end_matches("kB").trim().parse().unwrap()
}

/// 200 sign-ins with unknown names at once, two checks running and a queue for all the others, so that
/// every one is checked: resident memory grows by less than 70 MiB (two blocks of 19 MiB and the
/// connections), at its peak and afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by unknown_names_leave_no_memory_behind, in a process of its own"]
async fn memory_probe() {
    if std::env::var_os(PROBE).is_none() {
        println!("(the memory probe runs only in its own process)");
        return;
    }
    let pc = PortalConfig {
        password_hash_concurrency: 2,
        password_hash_queue: SIGN_INS,
        ..PortalConfig::default()
    };
    let app = App::start_with(Engine::Sqlite, VerificationConfig::default(), pc)
        .await
        .unwrap();
    let logins = (0..SIGN_INS)
        .map(|i| (format!("nobody-{i}"), format!("wrong-password-{i}")))
        .collect();
    let http = client();
    // Resets the peak (`VmHWM`) to the current resident size (Linux 4.0 and later).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS");
    let outcomes = tokio::time::timeout(
        Duration::from_secs(100),
        storm(&http, &app.portal, logins, Arc::new(Barrier::new(SIGN_INS))),
    )
    .await
    .expect("200 sign-ins answered within 100 s");
    let (after, peak) = (status_kib("VmRSS"), status_kib("VmHWM"));
    assert_eq!(count(&outcomes, Outcome::Refused), SIGN_INS, "{outcomes:?}");
    let counted = app
        .service
        .metrics()
        .counter("portal_password_checks_total") as usize;
    assert_eq!(counted, SIGN_INS);
    println!(
        "memory probe: VmRSS {} MiB before {SIGN_INS} unknown-name sign-ins, {} MiB after, \
         peak (VmHWM) {} MiB",
        before / 1024,
        after / 1024,
        peak / 1024
    );
    // The pool's two working-memory blocks of 19 MiB, and 32 MiB for 200 connections and their requests
    // (measured: about 51 MiB in all; allocating the memory per check instead grows by 100-130 MiB).
    let limit = 2 * 19 * 1024 + 32 * 1024;
    let (grown, peaked) = (after.saturating_sub(before), peak.saturating_sub(before));
    assert!(grown < limit, "grew by {grown} KiB, limit {limit} KiB");
    assert!(
        peaked < limit,
        "peaked {peaked} KiB above, limit {limit} KiB"
    );
}
