//! `warnkit gateway` as a process: issuing a member country's token, serving uploads and downloads, and
//! a country's `warnkit serve` uploading its consented keys to it on its own schedule.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use warnkit_federation::config::load_or_create_signing_key;
use warnkit_federation::GatewayClient;
use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_store::PoolConfig;

use crate::common;
use common::{free_port, spawn, warnkit, BIN};

#[test]
fn country_add_prints_a_token_and_the_entry_for_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    load_or_create_signing_key(dir.path()).unwrap();
    let pem = dir.path().join("public-key.pem");
    let out = warnkit(&[
        "gateway",
        "country",
        "add",
        "--code",
        "FR",
        "--public-key",
        pem.to_str().unwrap(),
    ]);
    let (token, rest) = out.split_once('\n').unwrap();
    assert!(token.starts_with("wk_fed_"), "{out}");
    let entry: toml::Table = rest.parse().unwrap();
    let country = &entry["gateway"]["countries"][0];
    assert_eq!(country["code"].as_str(), Some("FR"));
    assert_eq!(
        country["token_sha256"].as_str(),
        Some(warnkit_service::auth::sha256_hex(token).as_str())
    );
    assert!(country["public_key"]
        .as_str()
        .unwrap()
        .ends_with("public-key.pem"));

    let json: Value = serde_json::from_str(&warnkit(&[
        "gateway",
        "country",
        "add",
        "--code",
        "DE",
        "--public-key",
        pem.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_ne!(json["token"].as_str(), Some(token), "every token is fresh");

    for (args, why) in [
        (
            vec!["--code", "fr", "--public-key", pem.to_str().unwrap()],
            "two uppercase letters",
        ),
        (
            vec!["--code", "FR", "--public-key", "/nonexistent.pem"],
            "reading",
        ),
        (
            vec![
                "--code",
                "FR",
                "--public-key",
                dir.path().join("signing-key.pem").to_str().unwrap(),
            ],
            "public key",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["gateway", "country", "add"])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr.starts_with("error:") && stderr.contains(why),
            "{args:?}: {stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "no token printed for a refused country"
        );
    }
}

fn key(byte: u8, hour: i64, consent: bool) -> StoredKey {
    StoredKey {
        key_data: [byte; 16],
        rolling_start: ((hour / 24 - 1) * 144) as u32,
        rolling_period: 144,
        transmission_risk_level: 5,
        report_type: 1,
        days_since_onset_of_symptoms: None,
        submission_hour: hour,
        origin: "DE".into(),
        visited_countries: vec!["FR".into()],
        consent_to_federation: consent,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_uploads_to_the_gateway_on_its_schedule() {
    let root = tempfile::tempdir().unwrap();
    let gw = root.path().join("gateway");
    let de = root.path().join("de");
    let fr = root.path().join("fr");
    load_or_create_signing_key(&de.join("federation")).unwrap();
    load_or_create_signing_key(&fr.join("federation")).unwrap();
    let mut config = String::new();
    let mut tokens = Vec::new();
    for (code, dir) in [("DE", &de), ("FR", &fr)] {
        let pem = dir.join("federation/public-key.pem");
        let out: Value = serde_json::from_str(&warnkit(&[
            "gateway",
            "country",
            "add",
            "--code",
            code,
            "--public-key",
            pem.to_str().unwrap(),
            "--json",
        ]))
        .unwrap();
        tokens.push(out["token"].as_str().unwrap().to_owned());
        config += out["toml"].as_str().unwrap();
    }
    let port = free_port();
    let gw_config = root.path().join("gateway.toml");
    std::fs::write(
        &gw_config,
        format!(
            "[ports]\ngateway = {port}\ngateway_metrics = {}\n\n{config}",
            free_port()
        ),
    )
    .unwrap();
    let listed = warnkit(&[
        "gateway",
        "country",
        "list",
        "--config",
        gw_config.to_str().unwrap(),
    ]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.lines().next().unwrap().starts_with("DE "),
        "{listed}"
    );

    let (_gateway, endpoints) = spawn(
        &[
            "gateway",
            "--data-dir",
            gw.to_str().unwrap(),
            "--config",
            gw_config.to_str().unwrap(),
        ],
        &gw,
        &root.path().join("gateway.log"),
    );
    let url = endpoints["gateway"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("http://127.0.0.1:{port}"));
    assert_eq!(
        endpoints.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["gateway", "gateway_metrics"],
        "only the gateway and its metrics: {endpoints}"
    );
    let http = reqwest::Client::new();
    for probe in ["health", "ready", "openapi.json"] {
        let status = http
            .get(format!("{url}/{probe}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "/{probe}");
    }
    // Metrics on the operators' listener only, not on the port other countries reach.
    let get = |url: String| http.get(url).send();
    assert_eq!(get(format!("{url}/metrics")).await.unwrap().status(), 404);
    let metrics = endpoints["gateway_metrics"].as_str().unwrap();
    let r = get(format!("{metrics}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);

    // DE's key store holds a consented key and one without consent from two hours ago.
    let hour = warnkit_store::unix_now() / 3600 - 2;
    let keys = KeyStore::open(
        &warnkit_store::DbTarget::SqliteFile(de.join("submission.sqlite")),
        PoolConfig::default(),
    )
    .await
    .unwrap();
    keys.insert(&[key(1, hour, true), key(2, hour, false)])
        .await
        .unwrap();
    keys.db().close().await;
    std::fs::write(de.join("federation/gateway-token"), &tokens[0]).unwrap();
    let de_config = root.path().join("de.toml");
    std::fs::write(
        &de_config,
        format!(
            "[ports]\nsubmission = {}\nmetrics = {}\n\n[federation]\nenabled = true\ngateway_url = \"{url}\"\ncountry = \"DE\"\n",
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let (_backend, _) = spawn(
        &[
            "serve",
            "--only",
            "submission",
            "--data-dir",
            de.to_str().unwrap(),
            "--config",
            de_config.to_str().unwrap(),
        ],
        &de,
        &root.path().join("de.log"),
    );

    // The first run starts with the service: the gateway soon holds DE's consented key, and only it.
    let fr_client = GatewayClient::new(&url, &tokens[1]).unwrap();
    let date = warnkit_federation::date::day_string(warnkit_store::unix_now() / 86_400);
    let deadline = Instant::now() + Duration::from_secs(60);
    let batch = loop {
        if let Some(batch) = fr_client.download(&date, None).await.unwrap() {
            break batch;
        }
        assert!(
            Instant::now() < deadline,
            "no batch arrived: {}",
            std::fs::read_to_string(root.path().join("de.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(batch.country, "DE");
    assert_eq!(batch.next, None);
    let keys =
        <warnkit_federation::proto::DiagnosisKeyBatch as prost::Message>::decode(&batch.body[..])
            .unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(keys.keys[0].key_data, vec![1; 16]);
    let audit = fr_client.audit(&date, &batch.tag).await.unwrap();
    assert_eq!(audit["country"], "DE");

    // A wrong token is refused.
    let stranger = GatewayClient::new(&url, "wk_fed_wrong").unwrap();
    let err = stranger.download(&date, None).await.unwrap_err();
    assert!(format!("{err:#}").contains("401"), "{err:#}");
}
