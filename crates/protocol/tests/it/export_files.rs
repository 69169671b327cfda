//! Export archives: the real signed files of the public reference systems, round trips, tampering.

use base64::Engine as _;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use warnkit_protocol::export::{self, Archive, ExportError, Limits, Signer};
use warnkit_protocol::proto::{TemporaryExposureKey, TemporaryExposureKeyExport};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(format!("{TESTDATA}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sample_2_key() -> p256::ecdsa::VerifyingKey {
    let pem = String::from_utf8(testdata("export-sample-2-keys.public.pem")).expect("utf-8");
    export::public_key_from_pem(&pem).expect("public key")
}

fn sample_140_key() -> p256::ecdsa::VerifyingKey {
    let der = base64::engine::general_purpose::STANDARD
        .decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE49JY6kekDgxj3Crm4y6kEHdfoKQFSNDM4mV9cgDb+e5nOAw0GeRoRThCu9/wX5wDT2QloFoOjl2pGZHI0f3C3w==")
        .expect("base64");
    export::public_key_from_der(&der).expect("public key")
}

#[test]
fn two_key_sample_parses_and_verifies() {
    let archive =
        Archive::read(&testdata("export-sample-2-keys.zip"), &Limits::default()).expect("read");
    let e = &archive.export;
    assert_eq!(archive.bin.len(), 135);
    assert_eq!(e.start_timestamp, Some(1_590_159_600));
    assert_eq!(e.end_timestamp, Some(1_590_246_000));
    assert_eq!(e.region.as_deref(), Some("US"));
    assert_eq!((e.batch_num, e.batch_size), (Some(1), Some(1)));
    assert_eq!(
        e.signature_infos[0].verification_key_id.as_deref(),
        Some("some_id")
    );
    assert_eq!(
        e.signature_infos[0].verification_key_version.as_deref(),
        Some("1")
    );
    assert_eq!(e.keys.len(), 2);
    assert_eq!(
        hex::encode(e.keys[0].key_data()),
        "172fc480e598490c34177604339b1543"
    );
    assert_eq!(e.keys[0].transmission_risk_level(), 8);
    assert_eq!(e.keys[0].rolling_start_interval_number(), 2_649_980);
    assert_eq!(e.keys[0].rolling_period(), 1);
    assert_eq!(e.keys[1].rolling_period(), 114);
    archive.verify(&[sample_2_key()]).expect("verifies");
    // The other sample's key must not verify this file.
    assert_eq!(
        archive.verify(&[sample_140_key()]).unwrap_err(),
        ExportError::NoValidSignature
    );
    // Any of several keys may verify.
    archive
        .verify(&[sample_140_key(), sample_2_key()])
        .expect("verifies with the second key");
}

#[test]
fn hundred_forty_key_sample_parses_and_verifies() {
    let archive =
        Archive::read(&testdata("export-sample-140-keys.zip"), &Limits::default()).expect("read");
    let e = &archive.export;
    assert_eq!(e.keys.len(), 140);
    assert_eq!(e.region.as_deref(), Some("US"));
    assert_eq!(
        (e.start_timestamp, e.end_timestamp),
        (Some(1_593_633_600), Some(1_593_633_900))
    );
    assert_eq!(
        e.signature_infos[0].verification_key_id.as_deref(),
        Some("310")
    );
    assert!(e
        .keys
        .iter()
        .all(|k| k.rolling_period() == 144 && k.rolling_period.is_none()));
    assert!(e
        .keys
        .iter()
        .all(|k| (3..=8).contains(&k.transmission_risk_level())));
    archive.verify(&[sample_140_key()]).expect("verifies");
    assert!(archive.verify(&[sample_2_key()]).is_err());
}

/// Flips one bit of `export.bin` at each position in turn: no altered file may verify.
#[test]
fn any_flipped_byte_of_the_signed_content_fails_verification() {
    for (file, key) in [
        ("export-sample-2-keys.zip", sample_2_key()),
        ("export-sample-140-keys.zip", sample_140_key()),
    ] {
        let archive = Archive::read(&testdata(file), &Limits::default()).expect("read");
        for i in 0..archive.bin.len() {
            let mut tampered = archive.clone();
            tampered.bin[i] ^= 0x01;
            assert!(
                tampered.verify(&[key]).is_err(),
                "{file}: flipped bit in byte {i} verified"
            );
        }
    }
}

/// Flips each byte of the zip itself: the result is rejected, either unreadable or unverifiable.
#[test]
fn any_flipped_byte_of_the_zip_is_rejected() {
    let zip = testdata("export-sample-2-keys.zip");
    let mut accepted = Vec::new();
    for i in 0..zip.len() {
        let mut bytes = zip.clone();
        bytes[i] ^= 0xff;
        if let Ok(archive) = Archive::read(&bytes, &Limits::default()) {
            if archive.verify(&[sample_2_key()]).is_ok()
                && archive.bin != Archive::read(&zip, &Limits::default()).unwrap().bin
            {
                accepted.push(i);
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "tampered archives verified with changed content at {accepted:?}"
    );
}

fn signer(seed: u64) -> Signer {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Signer::new(p256::ecdsa::SigningKey::random(&mut rng), "262", "v1")
}

fn sample_export(keys: usize) -> TemporaryExposureKeyExport {
    TemporaryExposureKeyExport {
        start_timestamp: Some(1_700_000_000),
        end_timestamp: Some(1_700_003_600),
        region: Some("DE".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        keys: (0..keys)
            .map(|i| TemporaryExposureKey {
                key_data: Some(vec![i as u8; 16]),
                transmission_risk_level: Some(1 + (i % 8) as i32),
                rolling_start_interval_number: Some(2_833_200 + 144 * (i as i32 % 14)),
                rolling_period: if i % 3 == 0 { None } else { Some(144) },
                report_type: Some(1),
                days_since_onset_of_symptoms: Some(i as i32 % 29 - 14),
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn written_archives_round_trip_and_verify() {
    let s1 = signer(1);
    let s2 = signer(2);
    let export = sample_export(50);
    let zip = export::write_archive(export.clone(), &[s1.clone(), s2.clone()]).expect("write");
    let archive = Archive::read(&zip, &Limits::default()).expect("read");
    assert_eq!(archive.export.keys, export.keys);
    assert_eq!(
        archive.export.signature_infos,
        vec![s1.info().clone(), s2.info().clone()]
    );
    assert_eq!(archive.signatures.signatures.len(), 2);
    archive
        .verify(&[s2.verifying_key()])
        .expect("second signer verifies");
    assert!(archive.verify(&[signer(3).verifying_key()]).is_err());
    // Deterministic: the same content gives the same bytes.
    assert_eq!(
        export::write_archive(export, &[s1, s2]).expect("write"),
        zip
    );
}

#[test]
fn hostile_archives_are_refused() {
    let limits = Limits::default();
    assert!(matches!(
        Archive::read(b"", &limits),
        Err(ExportError::Zip(_))
    ));
    assert!(matches!(
        Archive::read(b"PK\x03\x04garbage", &limits),
        Err(ExportError::Zip(_))
    ));
    // A bomb: a few kilobytes that inflate to 100 MB.
    let big = vec![0u8; 100 << 20];
    let bomb = zip_with(&[("export.bin", &big), ("export.sig", b"")]);
    assert!(bomb.len() < 1 << 20);
    assert_eq!(
        Archive::read(&bomb, &limits),
        Err(ExportError::EntryTooLarge {
            entry: "export.bin",
            limit: limits.max_bin_bytes
        })
    );
    // Path names that only look like the entries.
    let paths = zip_with(&[("../export.bin", b"x"), ("/export.sig", b"y")]);
    assert_eq!(
        Archive::read(&paths, &limits),
        Err(ExportError::MissingEntry("export.bin"))
    );
    let many: Vec<(String, &[u8])> = (0..20).map(|i| (format!("f{i}"), &b""[..])).collect();
    let many_refs: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    assert_eq!(
        Archive::read(&zip_with(&many_refs), &limits),
        Err(ExportError::TooManyEntries { found: 20 })
    );
    let bad_header = zip_with(&[("export.bin", b"EK Export v2    "), ("export.sig", b"")]);
    assert_eq!(
        Archive::read(&bad_header, &limits),
        Err(ExportError::BadHeader)
    );
    let garbage = zip_with(&[
        ("export.bin", b"EK Export v1    \xff\xff\xff"),
        ("export.sig", b""),
    ]);
    assert!(matches!(
        Archive::read(&garbage, &limits),
        Err(ExportError::Protobuf {
            entry: "export.bin",
            ..
        })
    ));
    let no_sig = zip_with(&[
        ("export.bin", &export::encode_bin(&sample_export(1))),
        ("export.sig", b""),
    ]);
    let archive = Archive::read(&no_sig, &limits).expect("parses");
    assert_eq!(
        archive.verify(&[signer(1).verifying_key()]),
        Err(ExportError::NoSignatures)
    );
    assert_eq!(
        Archive::read(
            &[0u8; 100],
            &Limits {
                max_archive_bytes: 10,
                ..limits
            }
        ),
        Err(ExportError::ArchiveTooLarge { limit: 10 })
    );
}

fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, options).expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        // Random bytes are neither a zip with the two entries nor a key file: both refuse them.
        prop_assert!(Archive::read(&bytes, &Limits::default()).is_err());
        prop_assert!(export::decode_bin(&bytes).is_err() || bytes.starts_with(export::HEADER));
        // Behind a valid header the same bytes may happen to be protobuf; whatever decodes must
        // survive its own encoding unchanged.
        let mut bin = export::HEADER.to_vec();
        bin.extend_from_slice(&bytes);
        if let Ok(decoded) = export::decode_bin(&bin) {
            prop_assert_eq!(export::decode_bin(&export::encode_bin(&decoded)), Ok(decoded));
        }
    }

    #[test]
    fn mutated_archives_never_panic(pos in any::<prop::sample::Index>(), value in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let zip = testdata("export-sample-140-keys.zip");
        let original = Archive::read(&zip, &Limits::default()).expect("the sample reads");
        let mut bytes = zip.clone();
        let i = pos.index(bytes.len());
        let before = bytes[i];
        bytes[i] = value;
        if value == before {
            let archive = Archive::read(&bytes, &Limits::default()).expect("unchanged bytes read");
            prop_assert!(archive.verify(&[sample_140_key()]).is_ok(), "the sample verifies");
        }
        // A changed byte either breaks the archive or its signature, or leaves the content as it was
        // (zip metadata the reader ignores): never a verified archive with other keys.
        if let Ok(archive) = Archive::read(&bytes, &Limits::default()) {
            if archive.verify(&[sample_140_key()]).is_ok() {
                prop_assert_eq!(&archive.export, &original.export);
            }
        }
        let end = cut.index(zip.len());
        prop_assert!(
            Archive::read(&zip[..end], &Limits::default()).is_err(),
            "a zip cut at {} of {} bytes must not read",
            end,
            zip.len()
        );
    }

    #[test]
    fn mutated_bins_never_panic(pos in any::<prop::sample::Index>(), value in any::<u8>()) {
        let original = sample_export(5);
        let mut bin = export::encode_bin(&original);
        let i = pos.index(bin.len());
        let before = bin[i];
        bin[i] = value;
        let decoded = export::decode_bin(&bin);
        if i < export::HEADER.len() && value != before {
            prop_assert!(matches!(decoded, Err(ExportError::BadHeader)));
        } else if value == before {
            prop_assert_eq!(decoded.expect("unchanged bytes decode"), original);
        } else if let Ok(decoded) = decoded {
            // A changed byte in the body may still be protobuf (even the same message: the bits a
            // negative int32's ten-byte varint carries above 32 are dropped), but what decodes
            // must survive its own encoding unchanged.
            prop_assert_eq!(export::decode_bin(&export::encode_bin(&decoded)), Ok(decoded));
        }
    }
}

#[test]
fn public_keys_in_every_published_form() {
    // The 140-key sample's key as published: bare base64 SPKI, and as one-line and wrapped PEM.
    let bare = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE49JY6kekDgxj3Crm4y6kEHdfoKQFSNDM4mV9cgDb+e5nOAw0GeRoRThCu9/wX5wDT2QloFoOjl2pGZHI0f3C3w==";
    let one_line = format!("-----BEGIN PUBLIC KEY-----\n{bare}\n-----END PUBLIC KEY-----\n");
    let wrapped = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
        &bare[..64],
        &bare[64..]
    );
    let archive =
        Archive::read(&testdata("export-sample-140-keys.zip"), &Limits::default()).expect("sample");
    for text in [bare.to_owned(), format!("  {bare}\n"), one_line, wrapped] {
        let key = export::public_key_from_pem(&text).expect("a public key");
        archive
            .verify(&[key])
            .expect("the sample verifies with its key");
    }
    for bad in [
        "",
        "not base64!",
        "-----BEGIN PUBLIC KEY-----\nMFkw\n",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    ] {
        assert!(export::public_key_from_pem(bad).is_err(), "{bad:?}");
    }
}
