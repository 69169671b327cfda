//! Every SHA-256 and AES kernel this CPU supports, each forced in turn, against the published vectors
//! and the naive matcher.
//!
//! Only this module switches kernels. The other tests of the binary may run on whichever is in force
//! at the moment; every kernel gives the same results, so they hold either way.

use rand::SeedableRng;
use warnkit_aesx::kernel::Kernel as AesKernel;
use warnkit_protocol::crypto::{rpi_key_bytes_x16, Tek};
use warnkit_protocol::matching::{MatchOptions, ObservationIndex, Workload};
use warnkit_sha256x::Kernel as ShaKernel;

use crate::matching::naive_by_map;

/// The RPI key of the reference's set A TEK (`en_vectors`).
const SET_A: (&str, &str) = (
    "75c734c6dd1a782de7a965da5eb93125",
    "185ad91db69ec7dd048960f1f3ba6175",
);

#[test]
fn every_kernel_derives_the_vectors_and_matches_as_the_naive_matcher() {
    let tek: [u8; 16] = hex::decode(SET_A.0).unwrap().try_into().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let w = Workload::synthetic(&mut rng, 3_000, 6_000);
    let options = MatchOptions::default();
    let want = naive_by_map(&w.keys, &w.log, &options);
    assert_eq!(
        want.len(),
        w.planted,
        "the workload plants one match per 1,000 sightings"
    );
    let mut tried = Vec::new();
    for sha in ShaKernel::supported_here() {
        warnkit_sha256x::set_kernel(sha).unwrap();
        // Lane by lane against the single-key derivation, with the vector's TEK in every lane once.
        for lane in 0..16 {
            let teks: [Tek; 16] =
                std::array::from_fn(|l| Tek(if l == lane { tek } else { [l as u8 ^ 0x5a; 16] }));
            let keys = rpi_key_bytes_x16(&teks);
            assert_eq!(hex::encode(keys[lane]), SET_A.1, "{sha}, lane {lane}");
            for (l, t) in teks.iter().enumerate() {
                assert_eq!(&keys[l], t.rpi_key().as_bytes(), "{sha}, lane {l}");
            }
        }
        for aes in AesKernel::ALL.into_iter().filter(|k| k.supported()) {
            warnkit_aesx::kernel::set_kernel(aes).unwrap();
            let index = ObservationIndex::new(&w.log);
            let got: Vec<_> = index
                .match_keys(&w.keys, &options)
                .iter()
                .map(|m| (m.key_index, m.observation_index, m.attenuation))
                .collect();
            let mut got = got;
            got.sort_unstable();
            assert_eq!(got, want, "SHA-256 {sha}, AES {aes}");
            tried.push((sha, aes));
        }
    }
    println!("kernels tried: {tried:?}");
    // The portable paths run everywhere, so at least those two were checked.
    assert!(tried.contains(&(ShaKernel::Portable, AesKernel::AesCrate)));
    warnkit_sha256x::set_kernel(ShaKernel::best()).unwrap();
    warnkit_aesx::kernel::set_kernel(AesKernel::best()).unwrap();
}
