//! Issue 4's end-to-end path over real HTTP against the real binary: a lab result, a registration, a
//! TAN, 14 keys submitted, `warnkit distribute` with a clock past the day, and the keys found in the
//! right daily and hourly archives, verified with the published public key; then the current day's key
//! uploaded with the second TAN, landing in the next day's files. On SQLite and on PostgreSQL.

use std::collections::BTreeSet;
use std::path::Path;

use prost::Message;
use serde_json::{json, Value};
use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};

use crate::common;
use common::{lab_posts_positive, start_unscheduled, warnkit};

fn key(day: i64, byte: u8) -> TemporaryExposureKey {
    TemporaryExposureKey {
        key_data: Some(vec![byte; 16]),
        transmission_risk_level: Some(6),
        rolling_start_interval_number: Some((day * 144) as i32),
        rolling_period: Some(144),
        report_type: Some(1),
        days_since_onset_of_symptoms: None,
    }
}

fn date(day: i64) -> String {
    let out = warnkit_distribution::layout::date_string(day);
    assert_eq!(out.len(), 10);
    out
}

/// Keys of an archive at `url`, after checking its signature with `public_key`.
async fn archive_keys(http: &reqwest::Client, url: &str, public_key: &Path) -> BTreeSet<Vec<u8>> {
    let bytes = http
        .get(url)
        .send()
        .await
        .expect("get")
        .error_for_status()
        .expect("archive published")
        .bytes()
        .await
        .expect("body");
    let file = public_key.with_file_name(format!("archive-{}.zip", rand::random::<u32>()));
    std::fs::write(&file, &bytes).expect("write");
    // Check with the CLI as an app developer would, and parse with it.
    warnkit(&[
        "export",
        "verify",
        file.to_str().expect("utf-8"),
        "--public-key",
        public_key.to_str().expect("utf-8"),
    ]);
    let json: Value = serde_json::from_str(&warnkit(&[
        "export",
        "inspect",
        file.to_str().expect("utf-8"),
        "--json",
    ]))
    .expect("json");
    json["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| hex::decode(k["key_data"].as_str().expect("hex")).expect("hex"))
        .collect()
}

/// Key order inside an archive at `url`.
async fn archive_order(http: &reqwest::Client, url: &str) -> Vec<Vec<u8>> {
    let bytes = http
        .get(url)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    let archive =
        warnkit_protocol::export::Archive::read(&bytes, &Default::default()).expect("archive");
    archive
        .export
        .keys
        .iter()
        .map(|k| k.key_data().to_vec())
        .collect()
}

async fn flow(dir: &Path, db_args: &[&str]) {
    let (_server, endpoints) = start_unscheduled(dir, db_args);
    let url = |k: &str| endpoints[k].as_str().expect("url").to_owned();
    let http = reqwest::Client::new();
    let mut cfg = vec!["--data-dir", dir.to_str().expect("utf-8")];
    cfg.extend(db_args);

    // Lab result, registration, first TAN.
    let guid = "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA";
    lab_posts_positive(&cfg, &url("testresult"), "lab-1", guid);
    let reg = http
        .post(format!(
            "{}/version/v1/registrationToken",
            url("verification")
        ))
        .header("cwa-fake", "0")
        .json(&json!({"keyType": "GUID", "key": warnkit_service::auth::sha256_hex(guid)}))
        .send()
        .await
        .expect("register");
    assert_eq!(reg.status(), 201);
    let token = reg.json::<Value>().await.expect("json")["registrationToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let tan = || async {
        let r = http
            .post(format!("{}/version/v1/tan", url("verification")))
            .header("cwa-fake", "0")
            .json(&json!({"registrationToken": token}))
            .send()
            .await
            .expect("tan");
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.expect("json")["tan"]
            .as_str()
            .expect("tan")
            .to_owned()
    };
    let submit = |tan: String, keys: Vec<TemporaryExposureKey>| {
        let body = SubmissionPayload {
            keys,
            request_padding: Some(vec![0; 100]),
            ..Default::default()
        }
        .encode_to_vec();
        http.post(format!("{}/version/v1/diagnosis-keys", url("submission")))
            .header("content-type", "application/x-protobuf")
            .header("cwa-authorization", tan)
            .header("cwa-fake", "0")
            .body(body)
            .send()
    };

    let now = warnkit_store::unix_now();
    let today = now / 86_400;
    // The past 14 days' keys with the first TAN, random like real keys.
    let first: Vec<TemporaryExposureKey> = (1..=14)
        .map(|d| TemporaryExposureKey {
            key_data: Some(rand::random::<[u8; 16]>().to_vec()),
            ..key(today - d, 0)
        })
        .collect();
    let first_tan = tan().await;
    assert_eq!(
        submit(first_tan.clone(), first.clone())
            .await
            .expect("submit")
            .status(),
        200
    );
    // A used TAN is refused and stores nothing.
    assert_eq!(
        submit(first_tan, vec![key(today - 1, 99)])
            .await
            .expect("submit")
            .status(),
        403
    );
    // The current day's key with the second TAN (as after midnight: it waits for its day to end).
    assert_eq!(
        submit(tan().await, vec![key(today, 50)])
            .await
            .expect("submit")
            .status(),
        200
    );

    // Distribute as if it were 03:00 the next day.
    let next_day_0300 = format!("{}T03:00:00Z", date(today + 1));
    let report: Value = serde_json::from_str(&warnkit(
        &[
            &[
                "distribute",
                "--now",
                &next_day_0300,
                "--allow-future",
                "--json",
            ][..],
            &cfg,
        ]
        .concat(),
    ))
    .expect("json");
    assert_eq!(report["ran"], true);
    let public_key = dir.join("signing/public-key.pem");
    let base = format!(
        "{}/version/v1/diagnosis-keys/country/DE",
        url("distribution")
    );
    let dates: Vec<String> = http
        .get(format!("{base}/date"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(dates.contains(&date(today)), "{dates:?}");
    let daily = archive_keys(&http, &format!("{base}/date/{}", date(today)), &public_key).await;
    let first_keys: BTreeSet<Vec<u8>> = first.iter().map(|k| k.key_data().to_vec()).collect();
    assert!(
        first_keys.is_subset(&daily),
        "all 14 keys are in today's daily file"
    );
    // One upload's keys are scattered among the padding, not published as a block in upload order.
    let order = archive_order(&http, &format!("{base}/date/{}", date(today))).await;
    let positions: Vec<usize> = first
        .iter()
        .map(|k| {
            order
                .iter()
                .position(|o| o == k.key_data())
                .expect("published")
        })
        .collect();
    assert!(
        order.len() >= 140,
        "a file with few keys is padded to the minimum"
    );
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert!(
        sorted[13] - sorted[0] > 13,
        "the upload's keys form one contiguous block: {positions:?}"
    );
    assert!(
        !daily.contains(&vec![50; 16]),
        "the current day's key must wait for its day to end"
    );
    assert!(
        !daily.contains(&vec![99; 16]),
        "a key sent with a used TAN must never be published"
    );
    // The same keys are in today's hourly files.
    let hours: Vec<u32> = http
        .get(format!("{base}/date/{}/hour", date(today)))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let mut hourly = BTreeSet::new();
    for h in hours {
        hourly.extend(
            archive_keys(
                &http,
                &format!("{base}/date/{}/hour/{h}", date(today)),
                &public_key,
            )
            .await,
        );
    }
    assert_eq!(hourly, daily, "a daily file is the union of its hours");
    // The current day's key is in the next day's 02:00 file (its day ended at 00:00, plus 2 hours).
    let next = archive_keys(
        &http,
        &format!("{base}/date/{}/hour/2", date(today + 1)),
        &public_key,
    )
    .await;
    assert!(next.contains(&vec![50; 16]));

    // A day later the next day's daily file holds it.
    let day_after = format!("{}T00:30:00Z", date(today + 2));
    warnkit(
        &[
            &["distribute", "--now", &day_after, "--allow-future"][..],
            &cfg,
        ]
        .concat(),
    );
    let next_daily = archive_keys(
        &http,
        &format!("{base}/date/{}", date(today + 1)),
        &public_key,
    )
    .await;
    assert!(next_daily.contains(&vec![50; 16]));
    assert!(next_daily.is_disjoint(&first_keys));
}

#[tokio::test]
async fn submit_and_distribute_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    flow(dir.path(), &[]).await;
}

#[tokio::test]
async fn submit_and_distribute_on_postgres() {
    let Some(db) = warnkit_testkit::TestDb::new(warnkit_testkit::Engine::Postgres) else {
        return;
    };
    let url = db.postgres_url().expect("postgres").to_owned();
    flow(db.dir(), &["--database-url", &url]).await;
}
