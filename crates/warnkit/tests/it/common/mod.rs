//! Helpers shared by the tests that run the `warnkit` binary: free ports, running a command, and a
//! `warnkit serve` that is killed when the test ends.
// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_warnkit");

/// A running `warnkit serve`, killed (and reaped) on drop.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Listeners in the contract's `--port-base` order (`LISTENERS` in `crates/node/src/service.rs`).
pub const LISTENERS: usize = 9;

/// [`LISTENERS`] consecutive free ports starting at a random base.
pub fn free_port_base() -> u16 {
    loop {
        let base = 20_000 + (rand::random::<u16>() % 30_000);
        if (0..LISTENERS as u16)
            .all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
        {
            return base;
        }
    }
}

/// One free port, as the system hands them out.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Runs `warnkit ARGS`, asserts success and returns its trimmed standard output.
pub fn warnkit(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("run warnkit");
    assert!(
        out.status.success(),
        "warnkit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// Makes a lab key for `lab` with `warnkit lab key create CFG...` and posts a positive PCR result for
/// `guid` with it through `warnkit lab post`, as a lab would; returns the key.
pub fn lab_posts_positive(cfg: &[&str], testresult_url: &str, lab: &str, guid: &str) -> String {
    let key = warnkit(&[&["lab", "key", "create", "--lab", lab][..], cfg].concat());
    warnkit(&[
        "lab",
        "post",
        "--url",
        testresult_url,
        "--key",
        &key,
        "--guid",
        guid,
        "--result",
        "positive",
    ]);
    key
}

/// Starts `warnkit serve --data-dir DIR --port-base (free) EXTRA...` with its log in `DIR/serve.log`,
/// and waits for `endpoints.json`.
pub fn start(dir: &Path, extra: &[&str]) -> (Server, Value) {
    start_logging_to(dir, &dir.join("serve.log"), extra)
}

/// [`start`] with the log in `log`, e.g. outside a data directory that `warnkit serve` is to create.
pub fn start_logging_to(dir: &Path, log: &Path, extra: &[&str]) -> (Server, Value) {
    let base = free_port_base().to_string();
    let mut args = vec![
        "serve",
        "--data-dir",
        dir.to_str().expect("utf-8"),
        "--port-base",
        &base,
    ];
    args.extend(extra);
    spawn(&args, dir, log)
}

/// [`start`] without the distribution schedule, for a test that runs `warnkit distribute` itself (which
/// refuses while a server publishes on its schedule).
pub fn start_unscheduled(dir: &Path, extra: &[&str]) -> (Server, Value) {
    let base = free_port_base().to_string();
    let mut args = vec![
        "serve",
        "--data-dir",
        dir.to_str().expect("utf-8"),
        "--port-base",
        &base,
    ];
    args.extend(extra);
    spawn_with(&args, &[UNSCHEDULED], dir, &dir.join("serve.log"))
}

/// The environment that turns the distribution schedule of `warnkit serve` off.
pub const UNSCHEDULED: (&str, &str) = ("WARNKIT_DISTRIBUTION__SCHEDULE", "false");

/// Runs `warnkit ARGS` in the background with its log in `log`, and waits for `DIR/endpoints.json`.
pub fn spawn(args: &[&str], dir: &Path, log: &Path) -> (Server, Value) {
    spawn_with(args, &[], dir, log)
}

/// [`spawn`] with environment variables `env` set for the process.
pub fn spawn_with(args: &[&str], env: &[(&str, &str)], dir: &Path, log: &Path) -> (Server, Value) {
    let child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("spawn");
    let mut server = Server(child);
    let endpoints = dir.join("endpoints.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !endpoints.exists() {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!(
                "warnkit {args:?} exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "endpoints.json never appeared: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(endpoints).expect("read endpoints.json");
    (
        server,
        serde_json::from_str(&text).expect("endpoints.json is JSON"),
    )
}

/// `registrations` GUIDs with a positive result posted by `lab` (a lab key made with `warnkit lab key
/// create CFG...`), a registration each and its two TANs.
pub async fn tans(
    http: &reqwest::Client,
    cfg: &[&str],
    endpoints: &Value,
    registrations: usize,
    lab: &str,
) -> Vec<String> {
    let url = |k: &str| endpoints[k].as_str().expect("url").to_owned();
    let lab_key = warnkit(&[&["lab", "key", "create", "--lab", lab][..], cfg].concat());
    let guids: Vec<String> = (0..registrations)
        .map(|_| warnkit_service::auth::sha256_hex(hex::encode(rand::random::<[u8; 16]>())))
        .collect();
    // 100 results stay under the lab API's default body limit (10,000 bytes).
    for chunk in guids.chunks(100) {
        let results: Vec<Value> = chunk
            .iter()
            .map(|id| serde_json::json!({"id": id, "result": 2}))
            .collect();
        let r = http
            .post(format!("{}/api/v1/lab/results", url("testresult")))
            .bearer_auth(&lab_key)
            .json(&serde_json::json!({ "testResults": results }))
            .send()
            .await
            .expect("lab post");
        assert!(r.status().is_success(), "lab post: {}", r.status());
    }
    let mut tans = Vec::new();
    for guid in &guids {
        let r = http
            .post(format!(
                "{}/version/v1/registrationToken",
                url("verification")
            ))
            .header("cwa-fake", "0")
            .json(&serde_json::json!({"keyType": "GUID", "key": guid}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201);
        let token = r.json::<Value>().await.expect("json")["registrationToken"]
            .as_str()
            .expect("token")
            .to_owned();
        for _ in 0..2 {
            let r = http
                .post(format!("{}/version/v1/tan", url("verification")))
                .header("cwa-fake", "0")
                .json(&serde_json::json!({ "registrationToken": token }))
                .send()
                .await
                .expect("tan");
            assert_eq!(r.status(), 201);
            tans.push(
                r.json::<Value>().await.expect("json")["tan"]
                    .as_str()
                    .expect("tan")
                    .to_owned(),
            );
        }
    }
    tans
}

/// One phone's upload: its TAN, its body and the keys in it.
#[derive(Clone)]
pub struct Upload {
    pub tan: String,
    pub body: Vec<u8>,
    pub keys: Vec<[u8; 16]>,
}

/// A real upload's body: three random keys of the days before `day`, and their key bytes.
pub fn payload(day: i64) -> (Vec<u8>, Vec<[u8; 16]>) {
    use prost::Message;
    use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};
    let keys: Vec<[u8; 16]> = (0..3).map(|_| rand::random()).collect();
    let body = SubmissionPayload {
        keys: keys
            .iter()
            .enumerate()
            .map(|(i, k)| TemporaryExposureKey {
                key_data: Some(k.to_vec()),
                transmission_risk_level: Some(6),
                rolling_start_interval_number: Some(((day - 1 - i as i64) * 144) as i32),
                rolling_period: Some(144),
                report_type: Some(1),
                days_since_onset_of_symptoms: None,
            })
            .collect(),
        request_padding: Some(rand::random::<[u8; 32]>().to_vec()),
        origin: Some("DE".into()),
        ..Default::default()
    }
    .encode_to_vec();
    (body, keys)
}

/// Posts `up` to the submission service at `url`; its status, or `None` without an answer.
pub async fn upload(http: &reqwest::Client, url: &str, up: &Upload) -> Option<u16> {
    let r = http
        .post(format!("{url}/version/v1/diagnosis-keys"))
        .header("content-type", "application/x-protobuf")
        .header("cwa-authorization", &up.tan)
        .header("cwa-fake", "0")
        .body(up.body.clone())
        .send()
        .await
        .ok()?;
    Some(r.status().as_u16())
}

/// [`tans`], each with a real upload's body of three keys of the days before today.
pub async fn uploads(
    http: &reqwest::Client,
    cfg: &[&str],
    endpoints: &Value,
    registrations: usize,
    lab: &str,
) -> Vec<Upload> {
    let today = warnkit_store::unix_now() / 86_400;
    tans(http, cfg, endpoints, registrations, lab)
        .await
        .into_iter()
        .map(|tan| {
            let (body, keys) = payload(today);
            Upload { tan, body, keys }
        })
        .collect()
}
