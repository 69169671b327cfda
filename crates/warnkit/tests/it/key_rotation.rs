//! Signing key rotation against the real binary: publish, `warnkit keys rotate`, publish through the
//! overlap and after it. Published archives never change; the overlap's files carry a signature by each
//! key, checked here with the p256 crate on the `export.bin` bytes and the `TEKSignatureList` decoded
//! with prost, not with warnkit's own verifier; after the overlap only the new key signs. The padding
//! stays reproducible across the rotation, and `keygen --force` refuses on a data directory that has
//! published.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use std::path::Path;
use std::process::Command;

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use prost::Message;
use serde_json::Value;
use warnkit_distribution::layout::{self, Kind};
use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_protocol::proto::{TekSignatureList, TemporaryExposureKeyExport};
use warnkit_store::{DbTarget, PoolConfig};

use crate::common;
use common::{warnkit, BIN};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// Every published object under `dir/published`: object path → bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).expect("inside").to_string_lossy();
                out.insert(name.into_owned(), std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&dir.join("published"), &dir.join("published"), &mut out);
    out
}

fn url_path(object: &str) -> &str {
    object
        .strip_suffix(&format!("/{}", layout::INDEX_OBJECT))
        .expect("objects end in /index")
}

fn archives(snapshot: &BTreeMap<String, Vec<u8>>) -> BTreeMap<&str, &[u8]> {
    snapshot
        .iter()
        .map(|(object, bytes)| (url_path(object), bytes.as_slice()))
        .filter(|(path, _)| layout::kind_of(path) == Some(Kind::Archive))
        .collect()
}

/// The `export.bin` and decoded `export.sig` of a zip, read with the zip crate and prost only.
fn entries(zip_bytes: &[u8]) -> (Vec<u8>, TekSignatureList) {
    let mut zip = zip::ZipArchive::new(Cursor::new(zip_bytes)).expect("a zip");
    let mut read = |name: &str| {
        let mut out = Vec::new();
        zip.by_name(name)
            .expect("entry")
            .read_to_end(&mut out)
            .expect("inflate");
        out
    };
    let bin = read("export.bin");
    let sig = TekSignatureList::decode(read("export.sig").as_slice()).expect("TEKSignatureList");
    (bin, sig)
}

/// The key versions whose signature in the file verifies, each checked against `keys` (version → key);
/// panics on a signature by an unknown version or one that does not verify.
fn verified_versions(zip_bytes: &[u8], keys: &BTreeMap<String, VerifyingKey>) -> Vec<String> {
    let (bin, list) = entries(zip_bytes);
    list.signatures
        .iter()
        .map(|s| {
            let info = s.signature_info.as_ref().expect("signature info");
            assert_eq!(info.verification_key_id(), "262");
            let version = info.verification_key_version().to_owned();
            let key = keys
                .get(&version)
                .unwrap_or_else(|| panic!("signed by unknown version {version}"));
            let signature = Signature::from_der(s.signature()).expect("DER signature");
            key.verify(&bin, &signature)
                .unwrap_or_else(|e| panic!("{version}'s signature does not verify: {e}"));
            for (other, other_key) in keys.iter().filter(|(v, _)| **v != version) {
                assert!(
                    other_key.verify(&bin, &signature).is_err(),
                    "{version}'s signature verifies with {other}"
                );
            }
            version
        })
        .collect()
}

/// Key bytes in an archive's `export.bin`.
fn key_bytes(zip_bytes: &[u8]) -> BTreeSet<Vec<u8>> {
    let (bin, _) = entries(zip_bytes);
    let body = bin
        .strip_prefix(b"EK Export v1    ".as_slice())
        .expect("header");
    let export = TemporaryExposureKeyExport::decode(body).expect("export");
    export.keys.iter().map(|k| k.key_data().to_vec()).collect()
}

fn stored(byte: u8, key_day: i64, submission_hour: i64) -> StoredKey {
    StoredKey {
        key_data: [byte; 16],
        rolling_start: (key_day * 144) as u32,
        rolling_period: 144,
        transmission_risk_level: 6,
        report_type: 1,
        days_since_onset_of_symptoms: Some(1),
        submission_hour,
        origin: "DE".into(),
        visited_countries: vec![],
        consent_to_federation: false,
    }
}

fn at(t: i64) -> String {
    layout::datetime_string(t)
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&warnkit(args)).expect("JSON")
}

fn key_named(listing: &Value, version: &str) -> Value {
    listing["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["key_version"] == version)
        .unwrap_or_else(|| panic!("no {version} in {listing}"))
        .clone()
}

fn pem_key(pem: &str) -> VerifyingKey {
    VerifyingKey::from_public_key_pem(pem.trim()).expect("SPKI PEM")
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_never_changes_a_published_file_and_signs_the_overlap_twice() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("data");
    let d = dir.to_str().expect("utf-8");
    let today = warnkit_store::unix_now().div_euclid(DAY);
    // Far enough back that the overlap ends before the real clock: runs may not act in the future.
    let day = today - 20;
    let t1 = day * DAY + 6 * HOUR + 600;
    let rotated_at = t1 + 1800;
    let t2 = t1 + 6 * HOUR;
    let t3 = rotated_at + 14 * DAY + 2 * HOUR;

    // Keys of the day before, of the hours before the rotation and of the hours after it.
    std::fs::create_dir_all(&dir).expect("data dir");
    let keys = KeyStore::open(
        &DbTarget::SqliteFile(dir.join("submission.sqlite")),
        PoolConfig::default(),
    )
    .await
    .expect("key store");
    let mut batch = Vec::new();
    for (i, hour) in [
        (day - 1) * 24 + 5,
        day * 24 + 1,
        day * 24 + 4,
        day * 24 + 8,
        day * 24 + 10,
    ]
    .into_iter()
    .enumerate()
    {
        for n in 0..3u8 {
            batch.push(stored(i as u8 * 16 + n + 1, day - 2, hour));
        }
    }
    keys.insert(&batch).await.expect("insert");

    warnkit(&["distribute", "--data-dir", d, "--now", &at(t1)]);
    let before = snapshot(&dir);
    let v1_pem = String::from_utf8(before[&layout::object_for(&layout::public_key())].clone())
        .expect("utf-8");
    let legacy = json(&["keys", "list", "--data-dir", d, "--json", "--now", &at(t1)]);
    assert_eq!(legacy["keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(key_named(&legacy, "v1")["status"], "signing");
    assert_eq!(
        key_named(&legacy, "v1")["public_key"].as_str(),
        Some(v1_pem.as_str())
    );

    let rotation = json(&[
        "keys",
        "rotate",
        "--data-dir",
        d,
        "--now",
        &at(rotated_at),
        "--json",
    ]);
    assert_eq!(rotation["key"]["key_version"], "v2");
    assert_eq!(rotation["key"]["key_id"], "262");
    assert_eq!(rotation["key"]["valid_from"], at(rotated_at));
    let v2_pem = rotation["key"]["public_key"]
        .as_str()
        .expect("pem")
        .to_owned();
    let keyring: BTreeMap<String, VerifyingKey> = [
        ("v1".to_owned(), pem_key(&v1_pem)),
        ("v2".to_owned(), pem_key(&v2_pem)),
    ]
    .into();

    // During the overlap.
    warnkit(&["distribute", "--data-dir", d, "--now", &at(t2)]);
    let during = snapshot(&dir);
    for (path, bytes) in archives(&before) {
        assert_eq!(
            archives(&during).get(path).copied(),
            Some(bytes),
            "{path} changed after the rotation"
        );
    }
    let overlap: Vec<(&str, &[u8])> = archives(&during)
        .into_iter()
        .filter(|(path, _)| !archives(&before).contains_key(path))
        .collect();
    assert!(
        overlap.len() >= 12,
        "hours 6 to 11 in two regions: {overlap:?}"
    );
    for (path, bytes) in &overlap {
        assert_eq!(verified_versions(bytes, &keyring), ["v1", "v2"], "{path}");
    }
    let config = &during[&layout::object_for(&layout::app_config("DE"))];
    assert_eq!(verified_versions(config, &keyring), ["v1", "v2"]);
    for (path, bytes) in archives(&before) {
        assert_eq!(verified_versions(bytes, &keyring), ["v1"], "{path}");
    }
    let published = |snapshot: &BTreeMap<String, Vec<u8>>| -> Value {
        serde_json::from_slice(&snapshot[&layout::object_for(&layout::public_keys())])
            .expect("public-keys.json")
    };
    let list = published(&during);
    assert_eq!(list["keys"].as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(key_named(&list, "v1")["status"], "signing");
    assert_eq!(
        key_named(&list, "v1")["valid_until"],
        at(rotated_at + 14 * DAY)
    );
    assert_eq!(key_named(&list, "v2")["status"], "signing");
    assert_eq!(key_named(&list, "v2")["valid_from"], at(rotated_at));
    for version in ["v1", "v2"] {
        let pem = key_named(&list, version)["public_key"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(pem_key(&pem), keyring[version]);
    }
    assert_eq!(
        pem_key(std::str::from_utf8(&during[&layout::object_for(&layout::public_key())]).unwrap()),
        keyring["v2"],
        "the single key file shows the newest signing key"
    );
    let listing = json(&["keys", "list", "--data-dir", d, "--json", "--now", &at(t2)]);
    assert_eq!(key_named(&listing, "v1")["status"], "signing");
    assert_eq!(
        key_named(&listing, "v1")["valid_until"],
        at(rotated_at + 14 * DAY)
    );
    assert_eq!(key_named(&listing, "v2")["status"], "signing");

    // After the overlap.
    warnkit(&["distribute", "--data-dir", d, "--now", &at(t3)]);
    let after = snapshot(&dir);
    let earlier: BTreeMap<&str, &[u8]> = archives(&during);
    let mut signed_after = 0;
    for (path, bytes) in archives(&after) {
        match earlier.get(path) {
            Some(old) => assert_eq!(*old, bytes, "{path} changed"),
            None => {
                assert_eq!(verified_versions(bytes, &keyring), ["v2"], "{path}");
                signed_after += 1;
            }
        }
    }
    // The daily files of the 14 days of the overlap, in two regions, came only after it ended.
    assert!(signed_after >= 28, "{signed_after}");
    let list = published(&after);
    assert_eq!(key_named(&list, "v1")["status"], "retired", "{list}");
    assert_eq!(key_named(&list, "v2")["status"], "signing");
    let listing = json(&["keys", "list", "--data-dir", d, "--json", "--now", &at(t3)]);
    assert_eq!(key_named(&listing, "v1")["status"], "retired");

    // The day of the rotation's daily file, published after the overlap, is exactly the union of its
    // hours' files published before and during it, padding included: the padding secret stayed.
    for region in ["DE", "EUR"] {
        let date = layout::date_string(day);
        let daily = &after[&layout::object_for(&layout::daily(region, &date))];
        let mut hours = BTreeSet::new();
        for snapshot in [&before, &during] {
            for (path, bytes) in archives(snapshot) {
                if path.starts_with(&format!("{}/", layout::hour_index(region, &date))) {
                    hours.extend(key_bytes(bytes));
                }
            }
        }
        assert!(hours.len() > 12, "padded: {}", hours.len());
        assert_eq!(key_bytes(daily), hours, "{region} {date}");
    }

    let audit = warnkit_store::audit::list(keys.db(), &warnkit_store::audit::Filter::default())
        .await
        .expect("audit");
    let rows: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "signing-key.rotate")
        .collect();
    assert_eq!(rows.len(), 1, "{audit:?}");
    assert!(rows[0].subject.starts_with("262/v2"), "{:?}", rows[0]);
    assert!(rows[0].actor.starts_with("cli:"), "{:?}", rows[0]);
    keys.db().close().await;

    // A replaced key would re-sign under the same name: refused, pointing to the rotation.
    let signing = dir.join("signing").join("signing-key.pem");
    let key_before = std::fs::read(&signing).expect("key");
    let out = Command::new(BIN)
        .args(["keygen", "--out", &format!("{d}/signing"), "--force"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warnkit keys rotate --data-dir"), "{err}");
    assert_eq!(std::fs::read(&signing).expect("key"), key_before);
}

#[test]
fn keygen_force_refuses_once_a_data_dir_has_published_and_not_before() {
    let root = tempfile::tempdir().expect("tempdir");
    let fresh = root.path().join("fresh").join("signing");
    let fresh = fresh.to_str().expect("utf-8");
    let first = warnkit(&["keygen", "--out", fresh]);
    let second = warnkit(&["keygen", "--out", fresh, "--force"]);
    assert_ne!(
        first, second,
        "without published files --force replaces the key"
    );

    let dir = root.path().join("data");
    let d = dir.to_str().expect("utf-8");
    let now = (warnkit_store::unix_now().div_euclid(HOUR) - 1) * HOUR + 60;
    warnkit(&["distribute", "--data-dir", d, "--now", &at(now)]);
    let signing = dir.join("signing");
    let key_before = std::fs::read(signing.join("signing-key.pem")).expect("key");
    let out = Command::new(BIN)
        .args(["keygen", "--out", signing.to_str().unwrap(), "--force"])
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "keygen --force replaced a published key"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keys rotate"), "{err}");
    assert_eq!(
        std::fs::read(signing.join("signing-key.pem")).expect("key"),
        key_before
    );
}
