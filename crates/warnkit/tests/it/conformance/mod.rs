//! Phone-facing conformance, judged by the original's own definitions: a `warnkit serve` on its
//! embedded defaults is driven over real HTTP exactly as the current original Android app drives its
//! backend (request by request, header by header, fakes included), and every file a phone downloads
//! is decoded by this suite's own protobuf walker against the original's message tables (`wire.rs`),
//! its signature checked with the published key by the `p256` crate directly.
//!
//! Facts come from the original repositories: the app's Retrofit interfaces, playbook and padding
//! rules; the server's protobuf files, transmission-risk encoding, diagnosis-keys data mapping and
//! status codes. Nothing here encodes or decodes with warnkit's own message types.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[path = "../common/mod.rs"]
mod common;
mod wire;

use common::{lab_posts_positive, start, start_unscheduled, warnkit};
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
/// What the app's padding pads up to: 15 keys of 28 bytes (`PaddingTool`).
const PADDED_KEYS: usize = 15;
const KEY_BYTES: usize = 28;

fn hex_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn random_text(n: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| ALNUM[rand::random::<usize>() % ALNUM.len()] as char)
        .collect()
}

/// A diagnosis key as the app's key converter writes it: no report type.
fn app_key(key: &[u8; 16], rolling_start: i64, trl: i64, dsos: i32) -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(1, key)
        .int(2, trl)
        .int(3, rolling_start)
        .int(4, 144)
        .sint(6, dsos);
    w.0
}

/// The app's real upload body: keys, padding to 15 keys, every supported country as visited,
/// consent, PCR test.
fn real_payload(keys: &[Vec<u8>], countries: &[String]) -> Vec<u8> {
    let mut w = Writer::default();
    for k in keys {
        w.bytes(1, k);
    }
    let padding = KEY_BYTES * PADDED_KEYS.saturating_sub(keys.len());
    w.bytes(2, random_text(padding).as_bytes());
    for c in countries {
        w.bytes(3, c.as_bytes());
    }
    w.int(5, 1).int(7, 0);
    w.0
}

/// The app's fake upload body: padding only, as for 15 keys.
fn fake_payload() -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(2, random_text(KEY_BYTES * PADDED_KEYS).as_bytes());
    w.0
}

struct App {
    http: reqwest::Client,
    endpoints: Value,
}

impl App {
    fn url(&self, service: &str, path: &str) -> String {
        format!("{}/{path}", self.endpoints[service].as_str().expect("url"))
    }

    /// A verification request as the app's `VerificationApiV1`: JSON, `cwa-fake`, header padding.
    async fn verification(
        &self,
        path: &str,
        fake: bool,
        header_padding: usize,
        body: Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url("verification", path))
            .header("cwa-fake", if fake { "1" } else { "0" })
            .header("cwa-header-padding", random_text(header_padding))
            .json(&body)
            .send()
            .await
            .expect("verification request")
    }

    /// An upload as the app's `SubmissionApiV1`.
    async fn upload(&self, tan: &str, fake: bool, body: Vec<u8>) -> reqwest::Response {
        self.http
            .post(self.url("submission", "version/v1/diagnosis-keys"))
            .header("content-type", "application/x-protobuf")
            .header("cwa-authorization", tan)
            .header("cwa-fake", if fake { "1" } else { "0" })
            .header(
                "cwa-header-padding",
                if fake { random_text(36) } else { String::new() },
            )
            .body(body)
            .send()
            .await
            .expect("upload")
    }

    /// A GET of a published file, with the headers the app needs checked.
    async fn file(&self, path: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let r = self
            .http
            .get(self.url("distribution", path))
            .send()
            .await
            .expect("download");
        assert_eq!(r.status(), 200, "{path}");
        let headers = r.headers().clone();
        assert_eq!(
            headers.get_all("etag").iter().count(),
            1,
            "{path}: the app needs exactly one ETag"
        );
        (headers, r.bytes().await.expect("body").to_vec())
    }

    async fn json_file<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let (headers, body) = self.file(path).await;
        assert_eq!(headers["content-type"], "application/json", "{path}");
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A signed zip as the app and the framework read it: `export.bin` and `export.sig`, every
    /// signature valid for `key`, with the original's signature info.
    async fn signed(&self, path: &str, key: &VerifyingKey) -> Vec<u8> {
        let (headers, body) = self.file(path).await;
        assert_eq!(headers["content-type"], "application/zip", "{path}");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body)).expect("a zip");
        let mut entry = |name: &str| {
            let mut out = Vec::new();
            zip.by_name(name)
                .unwrap_or_else(|_| panic!("{path}: no {name}"))
                .read_to_end(&mut out)
                .expect("read entry");
            out
        };
        let bin = entry("export.bin");
        let sig = entry("export.sig");
        let list = walk(&wire::TEK_SIGNATURE_LIST, &sig).unwrap_or_else(|e| panic!("{path}: {e}"));
        let signatures = list.msgs("signatures");
        assert_eq!(signatures.len(), 1, "{path}");
        for s in signatures {
            assert_eq!(
                (s.int("batch_num"), s.int("batch_size")),
                (Some(1), Some(1))
            );
            check_signature_info(s.msg("signature_info").expect("signature_info"));
            let der = Signature::from_der(s.bytes("signature").expect("signature")).expect("DER");
            key.verify(&bin, &der)
                .unwrap_or_else(|e| panic!("{path}: signature does not verify: {e}"));
        }
        assert_eq!(zip.len(), 2, "{path}: export.bin and export.sig only");
        bin
    }
}

fn check_signature_info(info: &Fields) {
    assert_eq!(info.text("app_bundle_id"), Some("de.rki.coronawarnapp"));
    assert_eq!(
        info.text("android_package"),
        None,
        "the original never sets it"
    );
    assert_eq!(info.text("verification_key_id"), Some("262"));
    assert_eq!(info.text("verification_key_version"), Some("v1"));
    assert_eq!(
        info.text("signature_algorithm"),
        Some("1.2.840.10045.4.3.2")
    );
}

/// A key package: header, export fields, signature info; returns the keys.
fn key_export(bin: &[u8], region: &str, start: i64, end: i64) -> Vec<Fields> {
    let body = bin
        .strip_prefix(b"EK Export v1    ")
        .expect("the 16-byte header");
    let export = walk(&wire::TEK_EXPORT, body).expect("TemporaryExposureKeyExport");
    assert_eq!(export.text("region"), Some(region));
    assert_eq!(
        (export.int("batch_num"), export.int("batch_size")),
        (Some(1), Some(1))
    );
    assert_eq!(
        (export.int("start_timestamp"), export.int("end_timestamp")),
        (Some(start), Some(end))
    );
    let infos = export.msgs("signature_infos");
    assert_eq!(infos.len(), 1);
    check_signature_info(infos[0]);
    let keys: Vec<Fields> = export.msgs("keys").into_iter().cloned().collect();
    let order: Vec<&[u8]> = keys
        .iter()
        .map(|k| k.bytes("key_data").expect("key"))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "keys sorted by key data, no repeats"
    );
    keys
}

/// The transmission risk level an ENF v2 app computes for a key, from the published v2 Android
/// configuration alone: days since onset → infectiousness by the data mapping, then the offsets.
fn decoded_trl(config: &Fields, key: &Fields) -> Option<i64> {
    let mapping = config
        .msg("diagnosisKeysDataMapping")
        .expect("data mapping");
    let days = int_map(mapping, "daysSinceOnsetToInfectiousness");
    let infectiousness = match key.int("days_since_onset_of_symptoms") {
        Some(d) => *days.get(&d)?,
        None => mapping
            .int("infectiousnessWhenDaysSinceOnsetMissing")
            .unwrap_or(0),
    };
    let report_type = match key.int("report_type").unwrap_or(0) {
        0 => mapping.int("reportTypeWhenMissing").unwrap_or(0),
        r => r,
    };
    let enc = config
        .msg("riskCalculationParameters")
        .and_then(|r| r.msg("trlEncoding"))
        .expect("trlEncoding");
    let offset = |name: &str| enc.int(name).unwrap_or(0);
    let infectiousness_offset = match infectiousness {
        1 => offset("infectiousnessOffsetStandard"),
        2 => offset("infectiousnessOffsetHigh"),
        _ => return None, // NONE: the framework drops the key
    };
    let report_offset = match report_type {
        1 => offset("reportTypeOffsetConfirmedTest"),
        2 => offset("reportTypeOffsetConfirmedClinicalDiagnosis"),
        3 => offset("reportTypeOffsetSelfReport"),
        4 => offset("reportTypeOffsetRecursive"),
        _ => return None,
    };
    Some(infectiousness_offset + report_offset)
}

fn date(day: i64) -> String {
    let out = warnkit_protocol::interval::date_string(day);
    assert_eq!(out.len(), 10);
    out
}

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
