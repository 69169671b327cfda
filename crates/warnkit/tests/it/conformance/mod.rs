//! Phone-facing conformance, judged by the original's own definitions: a `warnkit serve` on its
//! embedded defaults is driven over real HTTP exactly as the current original Android app drives its
//! backend (request by request, header by header, fakes included), and every file a phone downloads
//! is decoded by this suite's own protobuf walker against the original's message tables (`wire/`),
//! its signature checked with the published key by the `p256` crate directly.
//!
//! Facts come from the original repositories: the app's Retrofit interfaces, playbook and padding
//! rules; the server's protobuf files, transmission-risk encoding, diagnosis-keys data mapping and
//! status codes. Nothing here encodes or decodes with warnkit's own message types.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;
use serde_json::{json, Value};

mod app;
use crate::common;
mod published;
mod wire;

use app::{app_key, fake_payload, hex_sha256, random_text, real_payload, App};
use common::{lab_posts_positive, start, start_unscheduled, warnkit};
use published::{date, decoded_trl, key_export};
use wire::{int_map, walk, Fields, Get, Writer};

/// The original's transmission-risk encoding (`transmission-risk-encoding.yaml`): level 1..=8 →
/// (report type, days since onset).
const ENCODING: [(i64, i64); 8] = [
    (4, 1),
    (4, 2),
    (3, 1),
    (3, 2),
    (2, 1),
    (2, 2),
    (1, 1),
    (1, 2),
];
/// The original's lowest published level (`minimum-trl-value-allowed`).
const MIN_TRL: i64 = 3;

#[tokio::test]
async fn the_current_app_works_unchanged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (_server, endpoints) = start_unscheduled(dir, &[]);
    let app = App {
        http: reqwest::Client::new(),
        endpoints,
    };
    let cfg = ["--data-dir", dir.to_str().expect("utf-8")];
    // The run a server's schedule makes at its start: the configuration files the app reads first.
    warnkit(&[&["distribute"][..], &cfg].concat());
    let public_pem = std::fs::read_to_string(dir.join("signing/public-key.pem")).expect("key");
    let key = VerifyingKey::from_public_key_pem(&public_pem).expect("SPKI PEM");

    // A lab posts a positive PCR result for the QR code's GUID.
    let guid = "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA";
    let testresult = app.endpoints["testresult"].as_str().expect("url");
    lab_posts_positive(&cfg, testresult, "lab-1", guid);

    // Registration, as the playbook: a real registration, a real poll, then a fake submission.
    let r = app
        .verification(
            "version/v1/registrationToken",
            false,
            0,
            json!({"keyType": "GUID", "key": hex_sha256(guid), "requestPadding": random_text(139)}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let token = r.json::<Value>().await.expect("json")["registrationToken"]
        .as_str()
        .expect("registrationToken")
        .to_owned();
    let poll = app
        .verification(
            "version/v1/testresult",
            false,
            7,
            json!({"registrationToken": token, "requestPadding": random_text(170)}),
        )
        .await;
    assert_eq!(poll.status(), 200);
    let result: Value = poll.json().await.expect("json");
    assert_eq!(result["testResult"], 2, "{result}");

    // The fake TAN request the playbook sends with every poll, and the real one: alike on the wire.
    let dummy = "11111111-1111-4111-8111-111111111111";
    let fake_tan = app
        .verification(
            "version/v1/tan",
            true,
            14,
            json!({"registrationToken": dummy, "requestPadding": random_text(170)}),
        )
        .await;
    let real_tan = app
        .verification(
            "version/v1/tan",
            false,
            14,
            json!({"registrationToken": token, "requestPadding": random_text(170)}),
        )
        .await;
    assert_eq!(
        (fake_tan.status().as_u16(), real_tan.status().as_u16()),
        (201, 201)
    );
    let fake_len = fake_tan.bytes().await.expect("body").len();
    let real: Value = real_tan.json().await.expect("json");
    assert_eq!(
        serde_json::to_vec(&real).expect("json").len(),
        fake_len,
        "a fake TAN answer is as long as a real one"
    );
    let tan = real["tan"].as_str().expect("tan").to_owned();

    // The upload: keys of the last 14 days (today's included: the original's limit is 14 keys),
    // every level once or twice, with days since onset as the app's symptom vectors set them.
    let now = warnkit_store::unix_now();
    let today = now.div_euclid(86_400);
    let uploaded: Vec<([u8; 16], i64, i64)> = (0..14)
        .map(|age| (rand::random::<[u8; 16]>(), today - age, 1 + age % 8))
        .collect();
    let keys: Vec<Vec<u8>> = uploaded
        .iter()
        .map(|(k, day, trl)| app_key(k, day * 144, *trl, (*trl as i32) - 5))
        .collect();
    let android_bin = app.signed("version/v2/app_config_android", &key).await;
    let android =
        walk(&wire::APP_CONFIG_ANDROID, &android_bin).expect("ApplicationConfigurationAndroid");
    let countries: Vec<String> = android
        .texts("supportedCountries")
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert!(countries.contains(&"DE".to_owned()), "{countries:?}");

    let fake = app.upload("", true, fake_payload()).await;
    let real = app
        .upload(&tan, false, real_payload(&keys, &countries))
        .await;
    assert_eq!(real.status(), 200, "{:?}", real.text().await);
    assert_eq!(fake.status(), 200);
    let names = |r: &reqwest::Response| -> BTreeSet<String> {
        r.headers()
            .keys()
            .map(|h| h.as_str().to_owned())
            .filter(|h| h != "date")
            .collect()
    };
    assert_eq!(
        names(&real),
        names(&fake),
        "fake and real answer with the same headers"
    );
    for header in ["cwa-filtered-checkins", "cwa-saved-checkins"] {
        assert_eq!(real.headers()[header], fake.headers()[header], "{header}");
    }
    assert_eq!(
        real.bytes().await.expect("body"),
        fake.bytes().await.expect("body"),
        "fake and real answer with the same (empty) body"
    );

    // Publish as the hourly job would at 03:00 the next day.
    warnkit(
        &[
            &[
                "distribute",
                "--now",
                &format!("{}T03:00:00Z", date(today + 1)),
                "--allow-future",
            ][..],
            &cfg,
        ]
        .concat(),
    );

    // The country index names the combined region; the app downloads only that.
    let regions: Vec<String> = app.json_file("version/v1/diagnosis-keys/country").await;
    assert_eq!(regions, ["DE", "EUR"]);
    let dates: Vec<String> = app
        .json_file("version/v1/diagnosis-keys/country/EUR/date")
        .await;
    assert!(
        dates.contains(&date(today)) && !dates.contains(&date(today + 1)),
        "{dates:?}"
    );
    let mut published: BTreeMap<Vec<u8>, Fields> = BTreeMap::new();
    for d in &dates {
        let day = warnkit_protocol::interval::parse_date(d).expect("date");
        let bin = app
            .signed(
                &format!("version/v1/diagnosis-keys/country/EUR/date/{d}"),
                &key,
            )
            .await;
        for k in key_export(&bin, "EUR", day * 86_400, (day + 1) * 86_400) {
            published.insert(k.bytes("key_data").expect("key").to_vec(), k);
        }
    }
    // Today's ended hours (as the app fetches them for the current day).
    let hours: Vec<i64> = app
        .json_file(&format!(
            "version/v1/diagnosis-keys/country/EUR/date/{}/hour",
            date(today + 1)
        ))
        .await;
    assert_eq!(hours, [0, 1, 2], "the ended hours of the current day");
    for h in hours {
        let start = (today + 1) * 86_400 + h * 3600;
        let bin = app
            .signed(
                &format!(
                    "version/v1/diagnosis-keys/country/EUR/date/{}/hour/{h}",
                    date(today + 1)
                ),
                &key,
            )
            .await;
        for k in key_export(&bin, "EUR", start, start + 3600) {
            published.insert(k.bytes("key_data").expect("key").to_vec(), k);
        }
    }

    // Every uploaded key of level 3 or more is published, with its level kept and encoded into
    // report type and days since onset; an ENF v2 app reading it with the published configuration
    // gets the uploader's level back. Levels 1 and 2 are not published.
    for (data, day, trl) in &uploaded {
        let found = published.get(data.as_slice());
        if *trl < MIN_TRL {
            assert!(found.is_none(), "a level-{trl} key was published");
            continue;
        }
        let k = found.unwrap_or_else(|| panic!("the level-{trl} key of day {day} is missing"));
        assert_eq!(k.int("transmission_risk_level"), Some(*trl));
        assert_eq!(k.int("rolling_start_interval_number"), Some(day * 144));
        let (report_type, dsos) = ENCODING[(*trl - 1) as usize];
        assert_eq!(
            (k.int("report_type"), k.int("days_since_onset_of_symptoms")),
            (Some(report_type), Some(dsos)),
            "level {trl}"
        );
        assert_eq!(
            decoded_trl(&android, k),
            Some(*trl),
            "level {trl} as an ENF v2 app reads it"
        );
    }

    // Every published level carries risk in the configuration; the unpublished ones carry none.
    let values: BTreeMap<i64, f64> = android
        .msg("riskCalculationParameters")
        .expect("riskCalculationParameters")
        .msgs("transmissionRiskValueMapping")
        .into_iter()
        .map(|m| {
            (
                m.int("transmissionRiskLevel").unwrap_or(0),
                m.float("transmissionRiskValue").unwrap_or(0.0),
            )
        })
        .collect();
    for trl in 1..=8 {
        let value = values.get(&trl).copied().unwrap_or(0.0);
        assert_eq!(value > 0.0, trl >= MIN_TRL, "level {trl} has value {value}");
    }

    // The configurations, each decoded against the original's definition.
    let ios = walk(
        &wire::APP_CONFIG_IOS,
        &app.signed("version/v2/app_config_ios", &key).await,
    )
    .expect("ApplicationConfigurationIOS");
    assert!(
        android.int("minVersionCode").unwrap_or(0) <= 3_020_101,
        "no forced update"
    );
    assert_eq!(
        android.msg("riskCalculationParameters"),
        ios.msg("riskCalculationParameters"),
        "both platforms score alike"
    );
    assert_eq!(
        int_map(
            android.msg("diagnosisKeysDataMapping").expect("mapping"),
            "daysSinceOnsetToInfectiousness"
        ),
        int_map(
            ios.msg("exposureConfiguration")
                .expect("exposure configuration"),
            "infectiousnessForDaysSinceOnsetOfSymptoms"
        ),
    );
    for path in ["version/v1/app_config_android", "version/v1/app_config_ios"] {
        let schema = if path.ends_with("android") {
            &wire::APP_CONFIG_ANDROID
        } else {
            &wire::APP_CONFIG_IOS
        };
        walk(schema, &app.signed(path, &key).await).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let config_regions: Vec<String> = app.json_file("version/v1/configuration/country").await;
    assert_eq!(config_regions, ["DE"]);
    let v1 = walk(
        &wire::APP_CONFIG_V1,
        &app.signed("version/v1/configuration/country/DE/app_config", &key)
            .await,
    )
    .expect("ApplicationConfiguration");
    for field in 1..=11 {
        let name = wire::APP_CONFIG_V1.fields[field - 1].1;
        assert!(
            v1.contains_key(name),
            "v1 app_config lacks field {field} ({name})"
        );
    }
    assert_eq!(
        v1.texts("supportedCountries"),
        android.texts("supportedCountries")
    );
    let versions: Vec<String> = app.json_file("version").await;
    assert_eq!(versions, ["v1"]);
    let (headers, _) = app.file("version/v2/app_config_android").await;
    assert!(
        headers.contains_key("date"),
        "the app checks its clock against Date"
    );
    assert!(
        headers["cache-control"]
            .to_str()
            .expect("ascii")
            .contains("max-age="),
        "the app keeps the configuration for max-age"
    );
}

/// What the app reads from a refused upload: the original's status codes, and nothing stored.
#[tokio::test]
async fn uploads_are_answered_as_the_original_answers_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir: &Path = tmp.path();
    let (_server, endpoints) = start(dir, &[]);
    let app = App {
        http: reqwest::Client::new(),
        endpoints,
    };
    let now = warnkit_store::unix_now();
    let today = now.div_euclid(86_400);
    let countries = vec!["DE".to_owned()];
    let one = |day: i64| vec![app_key(&rand::random(), day * 144, 6, 1)];
    let tan = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

    // No TAN at all: 400, as the original.
    let r = app
        .http
        .post(app.url("submission", "version/v1/diagnosis-keys"))
        .header("content-type", "application/x-protobuf")
        .header("cwa-fake", "0")
        .body(real_payload(&one(today - 1), &countries))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 400);
    // An empty TAN on a real upload: 400; an unknown TAN: 403.
    assert_eq!(
        app.upload("", false, real_payload(&one(today - 1), &countries))
            .await
            .status(),
        400
    );
    assert_eq!(
        app.upload(tan, false, real_payload(&one(today - 1), &countries))
            .await
            .status(),
        403
    );
    // A body over the original's 100 KB limit: 400.
    let mut big = Writer::default();
    big.bytes(2, &vec![b'x'; 110_000]);
    assert_eq!(app.upload(tan, false, big.0).await.status(), 400);
    // An int32 given a varint beyond its range is refused, not wrapped to 0.
    let mut key = Writer::default();
    key.bytes(1, &[9; 16])
        .int(2, 6)
        .varint(3, 1 << 32)
        .int(4, 144);
    let mut payload = Writer::default();
    payload.bytes(1, &key.0);
    assert_eq!(app.upload(tan, false, payload.0).await.status(), 400);
    // A fake upload with no keys, exactly as the app sends it: 200.
    assert_eq!(app.upload("", true, fake_payload()).await.status(), 200);

    // A TAN from an event teleTAN does not upload diagnosis keys (403); a test teleTAN's does.
    let cfg = ["--data-dir", dir.to_str().expect("utf-8")];
    for (kind, status) in [("EVENT", 403), ("TEST", 200)] {
        let teletan = warnkit(&[&["teletan", "create", "--type", kind][..], &cfg].concat());
        let r = app
            .verification(
                "version/v1/registrationToken",
                false,
                0,
                json!({"keyType": "TELETAN", "key": teletan, "requestPadding": random_text(190)}),
            )
            .await;
        assert_eq!(r.status(), 201, "{kind}");
        let token = r.json::<Value>().await.expect("json")["registrationToken"].clone();
        let r = app
            .verification(
                "version/v1/tan",
                false,
                14,
                json!({"registrationToken": token, "requestPadding": random_text(170)}),
            )
            .await;
        assert_eq!(r.status(), 201, "{kind}");
        let tan = r.json::<Value>().await.expect("json")["tan"]
            .as_str()
            .expect("tan")
            .to_owned();
        let r = app
            .upload(&tan, false, real_payload(&one(today - 1), &countries))
            .await;
        assert_eq!(
            r.status(),
            status,
            "an upload with the TAN of a {kind} teleTAN"
        );
    }
}
