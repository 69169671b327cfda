//! Unit tests of the signing keys and their rotation.

use warnkit_protocol::export::{public_key_from_pem, Archive, Limits};

use super::*;
use crate::plan::{self, PlanConfig};

const DAY: i64 = 86_400;
/// 2026-11-20T00:00:00Z.
const T0: i64 = 20_412 * DAY;

fn mode(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0o600
    }
}

fn rotation(now: i64, overlap_days: i64) -> Rotation {
    Rotation {
        now,
        overlap_seconds: overlap_days * DAY,
        ..Rotation::default()
    }
}

#[test]
fn a_data_dir_without_keyring_has_its_first_key_under_the_configured_name() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("signing");
    assert!(Keyring::load(&dir, "262", "v1").is_err());
    let material = load_or_create(&dir).unwrap();
    let keyring = material.keyring("262", "v1").unwrap();
    assert_eq!(keyring.keys.len(), 1);
    let first = &keyring.keys[0];
    assert_eq!(
        (first.key_id.as_str(), first.key_version.as_str()),
        ("262", "v1")
    );
    assert_eq!(first.public_key, material.public_pem);
    // Valid from the start: backfills before the key file existed still get signed.
    assert_eq!(first.status(0), Status::Signing);
    let signers = keyring.signers_at(&dir, T0, "app").unwrap();
    assert_eq!(signers.len(), 1);
    assert_eq!(
        signers[0].verifying_key(),
        *material.key.verifying_key(),
        "the first key signs"
    );
    assert!(!dir.join(KEYRING_FILE).exists(), "loading writes nothing");
}

#[test]
fn rotation_overlaps_then_hands_over_and_keeps_the_padding_secret() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("signing");
    let material = load_or_create(&dir).unwrap();
    let secret = material.padding_secret();
    let (keyring, new) = rotate(&dir, "262", "v1", &rotation(T0, 14)).unwrap();
    assert_eq!(
        (new.key_id.as_str(), new.key_version.as_str()),
        ("262", "v2")
    );
    assert_eq!(new.valid_from, Some(T0));
    assert_eq!(keyring.keys[0].valid_until, Some(T0 + 14 * DAY));
    assert_eq!(mode(&dir.join(KEYRING_FILE)), 0o600);
    assert_eq!(mode(&dir.join(&new.private_key_file)), 0o600);
    // The keyring on disk is the authority now, whatever the configuration names.
    let reloaded = Keyring::load(&dir, "other", "v9").unwrap();
    assert_eq!(reloaded, keyring);

    let names = |t: i64| -> Vec<String> {
        reloaded
            .signers_at(&dir, t, "")
            .unwrap()
            .iter()
            .map(|s| s.info().verification_key_version.clone().unwrap())
            .collect()
    };
    assert_eq!(names(T0 - 1), ["v1"]);
    assert_eq!(names(T0), ["v1", "v2"]);
    assert_eq!(names(T0 + 14 * DAY - 1), ["v1", "v2"]);
    assert_eq!(names(T0 + 14 * DAY), ["v2"]);
    assert_eq!(reloaded.newest_at(T0 + DAY).unwrap().key_version, "v2");

    let again = load_or_create(&dir).unwrap();
    assert_eq!(again.padding_secret(), secret);
    assert_eq!(again.public_pem, material.public_pem, "the first key stays");
}

#[test]
fn the_published_list_holds_every_key_a_published_file_may_need() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("signing");
    load_or_create(&dir).unwrap();
    let from = T0 + 2 * DAY;
    let (keyring, _) = rotate(
        &dir,
        "262",
        "v1",
        &Rotation {
            valid_from: Some(from),
            ..rotation(T0, 3)
        },
    )
    .unwrap();
    let listed = |t: i64| -> Vec<(String, String)> {
        let value: serde_json::Value =
            serde_json::from_slice(&keyring.published_list(t, 14 * DAY)).unwrap();
        value["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                let pem = k["public_key"].as_str().unwrap();
                public_key_from_pem(pem).unwrap();
                public_key_from_pem(k["public_key_base64"].as_str().unwrap()).unwrap();
                (
                    k["key_version"].as_str().unwrap().to_owned(),
                    k["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pair = |v: &str, s: &str| (v.to_owned(), s.to_owned());
    // Announced before it signs, so app teams can ship it in time.
    assert_eq!(listed(T0), [pair("v1", "signing"), pair("v2", "pending")]);
    assert_eq!(listed(from), [pair("v1", "signing"), pair("v2", "signing")]);
    let retired = from + 3 * DAY;
    assert_eq!(
        listed(retired),
        [pair("v1", "retired"), pair("v2", "signing")]
    );
    // Gone once every file it alone signed has expired.
    assert_eq!(listed(retired + 14 * DAY), [pair("v2", "signing")]);
}

#[test]
fn rotations_that_would_lose_or_misname_a_key_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("signing");
    load_or_create(&dir).unwrap();
    let refused = |r: Rotation| rotate(&dir, "262", "v1", &r).unwrap_err().to_string();
    let err = refused(Rotation {
        key_version: Some("v1".into()),
        ..rotation(T0, 14)
    });
    assert!(err.contains("262/v1 exists already"), "{err}");
    let err = refused(Rotation {
        key_id: Some("../etc".into()),
        ..rotation(T0, 14)
    });
    assert!(err.contains("--key-id"), "{err}");
    let err = refused(Rotation {
        valid_from: Some(T0 - 1),
        ..rotation(T0, 14)
    });
    assert!(err.contains("in the past"), "{err}");
    assert!(refused(rotation(T0, -1)).contains("negative"));
    assert!(
        !dir.join(KEYRING_FILE).exists(),
        "a refused rotation writes nothing"
    );

    rotate(
        &dir,
        "262",
        "v1",
        &Rotation {
            valid_from: Some(T0 + DAY),
            key_id: Some("263".into()),
            key_version: Some("2027".into()),
            ..rotation(T0, 14)
        },
    )
    .unwrap();
    let err = refused(rotation(T0 + 1, 14));
    assert!(err.contains("263/2027 takes over at"), "{err}");
    // Once it signs, the next rotation takes the next free `vN`, keeping the newest id.
    let (keyring, third) = rotate(&dir, "262", "v1", &rotation(T0 + DAY, 14)).unwrap();
    assert_eq!(third.name(), "263/v2");
    assert_eq!(keyring.keys[1].valid_until, Some(T0 + 15 * DAY));
    assert_eq!(
        keyring.keys[0].valid_until,
        Some(T0 + 15 * DAY),
        "set by the first rotation, kept by the second"
    );
    assert_eq!(keyring.signers_at(&dir, T0 + DAY, "").unwrap().len(), 3);
}

#[test]
fn a_key_file_that_does_not_match_its_entry_refuses_to_sign() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("signing");
    load_or_create(&dir).unwrap();
    let (keyring, new) = rotate(&dir, "262", "v1", &rotation(T0, 14)).unwrap();
    std::fs::copy(dir.join(PRIVATE_KEY_FILE), dir.join(&new.private_key_file)).unwrap();
    let err = keyring.signers_at(&dir, T0, "").unwrap_err().to_string();
    assert!(err.contains("does not hold key 262/v2"), "{err}");
    std::fs::write(dir.join(KEYRING_FILE), "{\"keys\": []}").unwrap();
    let err = format!("{:#}", Keyring::load(&dir, "262", "v1").unwrap_err());
    assert!(err.contains("holds no key"), "{err}");
}

#[test]
fn archives_planned_during_the_overlap_verify_with_either_key() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("signing");
    let old = load_or_create(&dir).unwrap();
    let (keyring, new) = rotate(&dir, "262", "v1", &rotation(T0, 14)).unwrap();
    let signers = keyring.signers_at(&dir, T0 + 3600, "app").unwrap();
    let config = PlanConfig::default();
    let plan = plan::plan_signed(
        Vec::new(),
        T0 + 3600,
        &config,
        &signers,
        &old.padding_secret(),
        Vec::new(),
    )
    .unwrap();
    let old_key = *old.key.verifying_key();
    let new_key = public_key_from_pem(&new.public_key).unwrap();
    assert!(!plan.archives.is_empty());
    for file in &plan.archives {
        let archive = Archive::read(&file.bytes, &Limits::default()).unwrap();
        assert_eq!(archive.signatures.signatures.len(), 2, "{}", file.path);
        assert_eq!(archive.export.signature_infos.len(), 2);
        archive.verify(&[old_key]).unwrap();
        archive.verify(&[new_key]).unwrap();
    }
}

#[tokio::test]
async fn a_running_job_signs_with_the_rotated_keyring_from_its_next_run() {
    use crate::{Distribution, DistributionConfig, Objects};
    let db = warnkit_testkit::TestDb::new(warnkit_testkit::Engine::Sqlite).expect("sqlite");
    let keys = warnkit_keystore::KeyStore::open(
        &db.target("submission"),
        warnkit_store::PoolConfig::default(),
    )
    .await
    .expect("key store");
    let dir = db.dir().join("signing");
    let job = Distribution::new(
        keys.clone(),
        Objects::local(&db.dir().join("published")).unwrap(),
        load_or_create(&dir).unwrap(),
        DistributionConfig::default(),
        db.dir().join("distribution.lock"),
    );
    let hourly = crate::layout::hourly("DE", &crate::layout::date_string(T0 / DAY), 3);
    let signatures = |bytes: Option<bytes::Bytes>| {
        let archive = Archive::read(&bytes.expect("published"), &Limits::default()).unwrap();
        archive.signatures.signatures.len()
    };
    job.run_once(T0 + 3 * 3600 + 60).await.unwrap();
    rotate(&dir, "262", "v1", &rotation(T0 + 3 * 3600 + 120, 14)).unwrap();
    // The same job, not rebuilt: the hour that ended after the rotation carries both signatures.
    job.run_once(T0 + 4 * 3600 + 60).await.unwrap();
    assert_eq!(signatures(job.objects().get(&hourly).await.unwrap()), 2);
    let before = crate::layout::hourly("DE", &crate::layout::date_string(T0 / DAY), 2);
    assert_eq!(signatures(job.objects().get(&before).await.unwrap()), 1);
    keys.db().close().await;
}

#[test]
fn published_evidence_names_what_was_found() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(published_evidence(root.path()), None);
    let published = root.path().join("published").join(crate::layout::ROOT);
    std::fs::create_dir_all(&published).unwrap();
    assert_eq!(published_evidence(root.path()), None, "an empty directory");
    std::fs::write(published.join("public-key.pem"), "x").unwrap();
    assert!(published_evidence(root.path())
        .unwrap()
        .contains("holds published files"));
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("distribution-last-run.json"), "{}").unwrap();
    assert!(published_evidence(other.path())
        .unwrap()
        .contains("records a distribution run"));
}
