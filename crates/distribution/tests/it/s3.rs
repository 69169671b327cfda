//! Publishing to a real S3-protocol server (moto's server mode, started here) instead of a directory:
//! the job writes, re-runs idempotently without downloading anything (moto records every request it
//! gets), sets per-kind headers, repairs a file changed behind its back, and the files verify.
//!
//! Needs `moto_server` (`pip install 'moto[server]'`; `scripts/test` installs it). Without it the test
//! skips loudly, and with `CI=true` it fails.

use std::net::TcpListener;

use sha2::Digest;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use warnkit_distribution::{
    layout, signing, Distribution, DistributionConfig, Objects, StoreConfig,
};
use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_protocol::export::{self, Archive, Limits};
use warnkit_store::PoolConfig;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts moto recording every request it serves into `recording` (read with [`requests_seen`]).
fn start_moto(recording: &std::path::Path) -> Option<(Moto, String)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_ENABLE_RECORDING", "true")
        .env("MOTO_RECORDER_FILEPATH", recording)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but moto_server cannot start: {e}"
            );
            eprintln!("\n*** SKIPPING the S3 test: moto_server not found ({e}); pip install 'moto[server]' ***\n");
            return None;
        }
    };
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not start listening"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((moto, format!("http://127.0.0.1:{port}")))
}

/// The requests moto served since the last call, as (method, path and query), bucket set-up excluded;
/// then forgets them.
async fn requests_seen(http: &reqwest::Client, endpoint: &str) -> Vec<(String, String)> {
    let text = http
        .get(format!("{endpoint}/moto-api/recorder/download-recording"))
        .send()
        .await
        .expect("download recording")
        .text()
        .await
        .expect("recording");
    let reset = http
        .post(format!("{endpoint}/moto-api/recorder/reset-recording"))
        .send()
        .await
        .expect("reset recording");
    assert!(reset.status().is_success());
    text.lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).expect("recorded request");
            let url = entry["url"].as_str().expect("url");
            let path = url.splitn(4, '/').nth(3).unwrap_or_default();
            (
                entry["method"].as_str().expect("method").to_owned(),
                format!("/{path}"),
            )
        })
        .collect()
}

/// The bytes of the bucket's object `name`, read over plain HTTP.
async fn object(http: &reqwest::Client, endpoint: &str, name: &str) -> Vec<u8> {
    let res = http
        .get(format!("{endpoint}/warnkit/{name}"))
        .send()
        .await
        .expect("get");
    res.bytes().await.expect("body").to_vec()
}

fn count(requests: &[(String, String)], method: &str) -> usize {
    requests.iter().filter(|(m, _)| m == method).count()
}

#[tokio::test]
async fn publishes_to_a_real_s3_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_moto, endpoint)) = start_moto(&dir.path().join("moto-recording.jsonl")) else {
        return;
    };
    let http = reqwest::Client::new();
    // moto accepts an unsigned bucket creation; the job itself signs every request.
    assert!(http
        .put(format!("{endpoint}/warnkit"))
        .send()
        .await
        .expect("create bucket")
        .status()
        .is_success());
    // As in a real deployment, a bucket policy lets the CDN (here: plain HTTP) read the files.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::warnkit/*"}]}"#;
    let res = http
        .put(format!("{endpoint}/warnkit?policy"))
        .body(policy)
        .send()
        .await
        .expect("bucket policy");
    assert!(res.status().is_success(), "bucket policy: {}", res.status());

    let store = StoreConfig::S3 {
        bucket: "warnkit".into(),
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        instance_credentials: false,
    };
    let keys = KeyStore::open(
        &warnkit_store::DbTarget::SqliteFile(dir.path().join("keys.sqlite")),
        PoolConfig::default(),
    )
    .await
    .expect("key store");
    let day = warnkit_store::unix_now() / 86_400 - 3;
    keys.insert(&[StoredKey {
        key_data: [7; 16],
        rolling_start: (day * 144) as u32,
        rolling_period: 144,
        transmission_risk_level: 4,
        report_type: 1,
        days_since_onset_of_symptoms: None,
        submission_hour: (day + 1) * 24 + 5,
        origin: "DE".into(),
        visited_countries: vec![],
        consent_to_federation: false,
    }])
    .await
    .expect("insert");
    let config = DistributionConfig {
        store: Some(store),
        ..DistributionConfig::default()
    };
    let job = Distribution::for_data_dir(keys, config, dir.path()).expect("job");
    let now = warnkit_store::unix_now();
    requests_seen(&http, &endpoint).await;
    let first = job.run_once(now).await.expect("run");
    assert!(first.files_written > 14);
    let seen = requests_seen(&http, &endpoint).await;
    assert_eq!(count(&seen, "PUT"), first.files_written, "{seen:?}");
    assert_eq!(count(&seen, "GET"), 1, "one listing, no reads: {seen:?}");
    let second = job.run_once(now).await.expect("run");
    assert_eq!(
        second.files_written, 0,
        "unchanged files are not uploaded again"
    );
    // The archives are not even built again (they never change); the rest is built and found
    // unchanged.
    assert!(second.archives_kept > 0);
    assert_eq!(
        second.files_unchanged + second.archives_kept,
        first.files_written
    );
    assert_eq!(second.archive_keys, 0, "no archive was built");
    // The re-run compared ETags from one listing: no object was downloaded, none was asked about.
    let seen = requests_seen(&http, &endpoint).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "GET");
    assert!(seen[0].1.contains("list-type=2"), "{seen:?}");

    // A file changed behind the job's back (same size, other bytes) is put right by the next run.
    let index_object = layout::object_for(&layout::date_index("DE"));
    let original = object(&http, &endpoint, &index_object).await;
    let tampered: Vec<u8> = original
        .iter()
        .map(|b| if b.is_ascii_digit() { b'0' } else { *b })
        .collect();
    assert_ne!(tampered, original);
    // Another writer, with its own client and none of the job's metadata.
    let other = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("warnkit")
        .with_region("us-east-1")
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .expect("s3 client");
    object_store::ObjectStore::put(
        &other,
        &object_store::path::Path::from(index_object.as_str()),
        tampered.into(),
    )
    .await
    .expect("tamper");
    requests_seen(&http, &endpoint).await;
    let repair = job.run_once(now).await.expect("run");
    assert_eq!(repair.files_written, 1);
    let seen = requests_seen(&http, &endpoint).await;
    assert_eq!(
        (count(&seen, "GET"), count(&seen, "HEAD"), count(&seen, "PUT")),
        (1, 1, 1),
        "a same-size file whose ETag differs costs one HEAD (the ETag might not be an MD5), no download: {seen:?}"
    );
    let repaired = object(&http, &endpoint, &index_object).await;
    assert_eq!(repaired, original);

    // Read back through plain HTTP, as a CDN would: objects, content types and caching headers.
    let daily = layout::object_for(&layout::daily("DE", &layout::date_string(day + 1)));
    let res = http
        .get(format!("{endpoint}/warnkit/{daily}"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    assert!(res.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .contains("immutable"));
    // Each upload carries its content hash, for stores whose ETag is not an MD5.
    let stored_hash = res.headers()["x-amz-meta-content-sha256"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body = res.bytes().await.expect("body");
    assert_eq!(stored_hash, hex::encode(sha2::Sha256::digest(&body)));
    let archive = Archive::read(&body, &Limits::default()).expect("archive");
    let public = signing::load_or_create(&dir.path().join("signing"))
        .expect("key")
        .public_pem;
    archive
        .verify(&[export::public_key_from_pem(&public).expect("key")])
        .expect("verifies");
    assert!(archive.export.keys.iter().any(|k| k.key_data() == [7; 16]));
    let index = layout::object_for(&layout::country_index());
    let res = http
        .get(format!("{endpoint}/warnkit/{index}"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.text().await.expect("body"), "[\"DE\",\"EUR\"]");
    // The objects API lists what was published.
    let objects = job.objects();
    assert!(
        objects
            .list("version/v1/diagnosis-keys/country/DE")
            .await
            .expect("list")
            .len()
            > 14
    );
    let _ = Objects::local(dir.path()).expect("a local store still opens beside it");
}
