//! Publishing to a real S3-protocol server (moto's server mode, started here) instead of a directory:
//! the job writes, re-runs idempotently, sets per-kind headers, and the files verify.
//!
//! Needs `moto_server` (`pip install 'moto[server]'`; `scripts/test` installs it). Without it the test
//! skips loudly, and with `CI=true` it fails.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use warnkit_distribution::{
    layout, signing, Distribution, DistributionConfig, Objects, StoreConfig,
};
use warnkit_protocol::export::{self, Archive, Limits};
use warnkit_store::PoolConfig;
use warnkit_submission::keystore::{KeyStore, StoredKey};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Option<(Moto, String)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
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

#[tokio::test]
async fn publishes_to_a_real_s3_server() {
    let Some((_moto, endpoint)) = start_moto() else {
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

    let dir = tempfile::tempdir().expect("tempdir");
    let store = StoreConfig::S3 {
        bucket: "warnkit".into(),
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
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
    let first = job.run_once(now).await.expect("run");
    assert!(first.files_written > 14);
    let second = job.run_once(now).await.expect("run");
    assert_eq!(
        second.files_written, 0,
        "unchanged files are not uploaded again"
    );

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
    let archive =
        Archive::read(&res.bytes().await.expect("body"), &Limits::default()).expect("archive");
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
    assert_eq!(res.text().await.expect("body"), "[\"DE\"]");
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
