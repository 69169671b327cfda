//! The published Exposure Notification test vectors (sets A and B of the reference) and property
//! tests of the key derivation against an independent HKDF implementation.

use proptest::prelude::*;
use warnkit_protocol::crypto::{CalibrationConfidence, Metadata, Rpi, Tek};
use warnkit_protocol::interval::IntervalNumber;

fn hex16(s: &str) -> [u8; 16] {
    hex::decode(s).expect("hex").try_into().expect("16 bytes")
}

fn hex4(s: &str) -> [u8; 4] {
    hex::decode(s).expect("hex").try_into().expect("4 bytes")
}

struct Row {
    enin: u32,
    rpi: [u8; 16],
    aem: [u8; 4],
}

fn set_a() -> Vec<Row> {
    include_str!("../data/en-vectors-set-a.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                enin: f[1].parse().expect("enin"),
                rpi: hex16(f[2]),
                aem: hex4(f[3]),
            }
        })
        .collect()
}

const SET_A_TEK: &str = "75c734c6dd1a782de7a965da5eb93125";

#[test]
fn set_a_keys() {
    let tek = Tek(hex16(SET_A_TEK));
    assert_eq!(
        hex::encode(tek.rpi_key().as_bytes()),
        "185ad91db69ec7dd048960f1f3ba6175"
    );
    assert_eq!(
        hex::encode(tek.aem_key().0),
        "d57c46af7a1d83965b9bed8bd152936a"
    );
    let (rpik, aemk) = tek.derive_keys();
    assert_eq!(rpik.as_bytes(), tek.rpi_key().as_bytes());
    assert_eq!(aemk, tek.aem_key());
    assert_eq!(
        IntervalNumber::from_unix_seconds(1_585_785_600).get(),
        2_642_976
    );
}

#[test]
fn set_a_all_144_rpis_and_aems() {
    let rows = set_a();
    assert_eq!(rows.len(), 144, "the vector file must hold all 144 pairs");
    let tek = Tek(hex16(SET_A_TEK));
    let (rpik, aemk) = tek.derive_keys();
    let metadata = Metadata::decode(hex4("40080000"));
    assert_eq!(metadata, Metadata::v1_0(8));
    let batch = rpik.day_rpis(2_642_976);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.enin, 2_642_976 + i as u32);
        let rpi = rpik.rpi(row.enin);
        assert_eq!(rpi, Rpi(row.rpi), "RPI {i}");
        assert_eq!(batch[i], rpi, "batched RPI {i}");
        assert_eq!(aemk.encrypt(&rpi, &metadata), row.aem, "AEM {i}");
        assert_eq!(aemk.decrypt(&rpi, row.aem), metadata, "decrypted AEM {i}");
    }
}

#[test]
fn set_b_third_party_vectors() {
    let tek = Tek(hex16("9749a68e0faefda5ff56041123050c63"));
    let (rpik, aemk) = tek.derive_keys();
    assert_eq!(
        hex::encode(rpik.as_bytes()),
        "a1375b8429cc3091969abfc7332e251c"
    );
    assert_eq!(hex::encode(aemk.0), "539116d21134bfc32e1215d9d56955d6");
    assert_eq!(
        hex::encode(rpik.rpi(2_648_535).0),
        "2cfab68c3ff177c321d5b82d68fedf32"
    );
    assert_eq!(
        hex::encode(rpik.rpi(2_648_536).0),
        "fc9ce37a8674dd40b5fec9e3382d700a"
    );
}

#[test]
fn metadata_layout() {
    let m = Metadata::v1_1(-15, CalibrationConfidence::Medium);
    assert_eq!(m.encode(), [0x58, 0xf1, 0, 0]);
    assert_eq!(Metadata::decode(m.encode()), m);
    assert_eq!(Metadata::v1_0(8).encode(), [0x40, 0x08, 0, 0]);
}

proptest! {
    #[test]
    fn derivation_matches_rfc5869_hkdf(tek in any::<[u8; 16]>()) {
        let ours = Tek(tek).derive_keys();
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, &tek);
        let mut rpik = [0u8; 16];
        let mut aemk = [0u8; 16];
        hk.expand(b"EN-RPIK", &mut rpik).expect("16 bytes is a valid length");
        hk.expand(b"EN-AEMK", &mut aemk).expect("16 bytes is a valid length");
        prop_assert_eq!(ours.0.as_bytes(), &rpik);
        prop_assert_eq!(ours.1.0, aemk);
    }

    #[test]
    fn four_key_derivation_matches_single(teks in any::<[[u8; 16]; 4]>()) {
        let batched = warnkit_protocol::crypto::rpi_keys_x4(&teks.map(Tek));
        for (tek, key) in teks.iter().zip(&batched) {
            let single = Tek(*tek).rpi_key();
            prop_assert_eq!(key.as_bytes(), single.as_bytes());
        }
    }

    #[test]
    fn metadata_round_trip(version in any::<u8>(), tx in any::<i8>()) {
        let m = Metadata::decode([version, tx as u8, 0, 0]);
        prop_assert_eq!(m.tx_power, tx);
        // Reserved bits 1:0 are dropped on encode, everything else survives.
        prop_assert_eq!(m.encode()[0], version & 0b1111_1100);
    }

    #[test]
    fn aem_is_an_involution(aemk in any::<[u8; 16]>(), rpi in any::<[u8; 16]>(), data in any::<[u8; 4]>()) {
        let key = warnkit_protocol::crypto::AemKey(aemk);
        prop_assert_eq!(key.apply(&Rpi(rpi), key.apply(&Rpi(rpi), data)), data);
    }
}
