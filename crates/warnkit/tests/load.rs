//! One `warnkit serve` (every service in one process, on the embedded SQLite defaults) under a storm of
//! 200 portal sign-ins at once, while phones keep uploading keys: the uploads stay fast and the process
//! stays small. A test binary of its own, so cargo runs it while no other test binary runs.
//!
//! The password checks (Argon2id) run on blocking threads, a bounded number at once, and the sign-ins
//! beyond the queue get 503 `busy`; none of it may hold up the async workers that answer the uploads.

#[path = "it/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start_unscheduled, upload, uploads};
use tokio::sync::Barrier;

/// Sign-ins sent at once.
const SIGN_INS: usize = 200;
/// Registrations prepared, two TANs each: enough uploads to outlast the storm.
const REGISTRATIONS: usize = 300;
/// One upload starts this often while the storm lasts.
const UPLOAD_EVERY: Duration = Duration::from_millis(10);
/// Upload latency the storm must not push the 99th percentile over.
const P99_LIMIT: Duration = Duration::from_millis(50);
/// Peak resident memory of the whole `serve` process.
const MEMORY_LIMIT_KIB: u64 = 100 * 1024;

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A sign-in form: its CSRF token and the login cookie that goes with it.
async fn form(http: &reqwest::Client, portal: &str) -> (String, String) {
    let r = http.get(format!("{portal}/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    let body = r.text().await.unwrap();
    let marker = r#"name="csrf" value=""#;
    let start = body.find(marker).expect("a csrf field") + marker.len();
    let csrf = body[start..].split('"').next().unwrap().to_owned();
    (csrf, cookie)
}

/// A sign-in with an unknown name (which costs a full password check, as a known one does); the
/// status, which must be a refusal or 503 `busy`.
async fn sign_in(http: &reqwest::Client, portal: &str, csrf: &str, cookie: &str, i: usize) -> u16 {
    let body = format!("csrf={csrf}&username=nobody-{i}&password=wrong-password-{i}");
    let r = http
        .post(format!("{portal}/login"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert!(
        status == 401 || status == 503,
        "a sign-in answered {status}: {}",
        r.text().await.unwrap_or_default()
    );
    status
}

/// The 99th percentile of `samples` (sorted in place).
fn p99(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[(samples.len() * 99).div_ceil(100) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_stay_fast_and_memory_small_during_a_sign_in_storm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (server, endpoints) = start_unscheduled(&data, &[]);
    let url = |k: &str| {
        endpoints[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {endpoints}"))
            .to_owned()
    };
    let (portal, submission) = (url("portal"), url("submission"));
    let data_str = data.to_str().unwrap().to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let uploads = uploads(
        &http,
        &["--data-dir", &data_str],
        &endpoints,
        REGISTRATIONS,
        "lab-load",
    )
    .await;

    // Uploads alone first, for the figures: what the storm adds.
    let (quiet, storm_uploads) = uploads.split_at(50);
    let mut alone = Vec::new();
    for up in quiet {
        let t = Instant::now();
        assert_eq!(upload(&http, &submission, up).await, Some(200));
        alone.push(t.elapsed());
    }
    let pid = server.0.id();
    let rss_before = status_kib(pid, "VmRSS");

    let mut forms = Vec::with_capacity(SIGN_INS);
    for _ in 0..SIGN_INS {
        forms.push(form(&http, &portal).await);
    }
    let start = Arc::new(Barrier::new(SIGN_INS + 1));
    let done = Arc::new(AtomicBool::new(false));
    let storm: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(i, (csrf, cookie))| {
            let (http, portal, start) = (http.clone(), portal.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                sign_in(&http, &portal, &csrf, &cookie, i).await
            })
        })
        .collect();
    let uploader = tokio::spawn({
        let (http, done, start) = (http.clone(), done.clone(), start.clone());
        let storm_uploads = storm_uploads.to_vec();
        async move {
            start.wait().await;
            let mut every = tokio::time::interval(UPLOAD_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut samples = Vec::new();
            for up in &storm_uploads {
                if done.load(Ordering::Acquire) {
                    break;
                }
                every.tick().await;
                let t = Instant::now();
                let status = upload(&http, &submission, up).await;
                assert_eq!(status, Some(200), "an upload during the storm");
                samples.push(t.elapsed());
            }
            samples
        }
    });
    let storm_start = Instant::now();
    let mut refused = 0;
    let mut busy = 0;
    for task in storm {
        match task.await.unwrap() {
            401 => refused += 1,
            _ => busy += 1,
        }
    }
    let storm_time = storm_start.elapsed();
    done.store(true, Ordering::Release);
    let mut during = uploader.await.unwrap();
    let peak = status_kib(pid, "VmHWM");
    let rss_after = status_kib(pid, "VmRSS");

    let (p99_alone, p99_during) = (p99(&mut alone), p99(&mut during));
    eprintln!(
        "sign-in storm: {SIGN_INS} sign-ins in {storm_time:.2?} ({refused} checked and refused, {busy} \
         busy); {} uploads meanwhile, p99 {p99_during:.2?} (alone: p99 {p99_alone:.2?}); resident \
         memory {} MiB before, {} MiB after, peak {} MiB",
        during.len(),
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024
    );
    assert!(refused > 0, "no sign-in was checked");
    assert!(
        during.len() >= 20,
        "only {} uploads ran during the storm",
        during.len()
    );
    assert!(
        p99_during < P99_LIMIT,
        "upload p99 {p99_during:?} during the storm (alone {p99_alone:?})"
    );
    assert!(
        peak < MEMORY_LIMIT_KIB,
        "peak resident memory {} MiB",
        peak / 1024
    );
    // The portal still answers after the storm.
    let r = http.get(format!("{portal}/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
