//! The matching engine against a straightforward reference implementation and hand-made scan logs.

use proptest::prelude::*;
use warnkit_protocol::crypto::{Metadata, Rpi, Tek};
use warnkit_protocol::matching::{
    DiagnosisKey, Match, MatchOptions, Observation, ObservationIndex, Workload,
};

const DAY: u32 = 2_833_200; // a day-aligned interval (2023-11-14)

fn key(seed: u8, day: u32) -> DiagnosisKey {
    DiagnosisKey {
        tek: Tek([seed; 16]),
        rolling_start: DAY + 144 * day,
        rolling_period: 144,
    }
}

/// A sighting of `key`'s RPI for interval `rpi_interval`, seen at `seen`.
fn sighting(key: &DiagnosisKey, rpi_interval: u32, seen: u32, rssi: i8, tx: i8) -> Observation {
    let (rpik, aemk) = key.tek.derive_keys();
    let rpi = rpik.rpi(rpi_interval);
    Observation {
        rpi,
        interval: seen,
        rssi,
        aem: aemk.encrypt(&rpi, &Metadata::v1_0(tx)),
    }
}

/// Every key × every interval × every observation, no cleverness.
fn naive(
    keys: &[DiagnosisKey],
    log: &[Observation],
    options: &MatchOptions,
) -> Vec<(usize, usize, u8)> {
    let mut out = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let (rpik, aemk) = key.tek.derive_keys();
        for i in 0..144 {
            let n = key.rolling_start + i;
            let rpi = rpik.rpi(n);
            for (o, obs) in log.iter().enumerate() {
                if obs.rpi == rpi && obs.interval.abs_diff(n) <= options.tolerance {
                    let m = aemk.decrypt(&rpi, obs.aem);
                    if let Some((lo, hi)) = options.tx_power_bounds {
                        if m.tx_power < lo || m.tx_power > hi {
                            continue;
                        }
                    }
                    out.push((
                        k,
                        o,
                        (i16::from(m.tx_power) - i16::from(obs.rssi)).clamp(0, 255) as u8,
                    ));
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// The naive matcher by hash map: each key's 144 RPIs looked up in a `HashMap` from RPI to its
/// sightings. Independent of everything the fast and reference matchers share (the index's table,
/// its `lookup` and `emit`), and fast enough for thousands of keys.
pub(crate) fn naive_by_map(
    keys: &[DiagnosisKey],
    log: &[Observation],
    options: &MatchOptions,
) -> Vec<(usize, usize, u8)> {
    let mut seen: std::collections::HashMap<Rpi, Vec<usize>> = std::collections::HashMap::new();
    for (o, obs) in log.iter().enumerate() {
        seen.entry(obs.rpi).or_default().push(o);
    }
    let mut out = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let rpik = key.tek.rpi_key();
        let aemk = key.tek.aem_key();
        for i in 0..144 {
            let n = key.rolling_start + i;
            let rpi = rpik.rpi(n);
            let Some(sightings) = seen.get(&rpi) else {
                continue;
            };
            for &o in sightings {
                let obs = &log[o];
                if obs.interval.abs_diff(n) > options.tolerance {
                    continue;
                }
                let m = aemk.decrypt(&rpi, obs.aem);
                if let Some((lo, hi)) = options.tx_power_bounds {
                    if m.tx_power < lo || m.tx_power > hi {
                        continue;
                    }
                }
                out.push((
                    k,
                    o,
                    (i16::from(m.tx_power) - i16::from(obs.rssi)).clamp(0, 255) as u8,
                ));
            }
        }
    }
    out.sort_unstable();
    out
}

fn summarise(matches: &[Match]) -> Vec<(usize, usize, u8)> {
    let mut v: Vec<_> = matches
        .iter()
        .map(|m| (m.key_index, m.observation_index, m.attenuation))
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn finds_sightings_within_tolerance_only() {
    let k = key(7, 0);
    let n = DAY + 50;
    let log = vec![
        sighting(&k, n, n, -60, 8),          // on time
        sighting(&k, n, n + 12, -70, 8),     // 2 hours late: still valid
        sighting(&k, n, n + 13, -70, 8),     // 13 intervals late: outside tolerance
        sighting(&k, n, n - 12, -50, 8),     // 2 hours early: valid
        sighting(&k, n, n - 13, -50, 8),     // too early
        sighting(&k, n + 1, n + 1, 10, 8),   // RSSI above TX power: attenuation floors at 0
        sighting(&k, n + 2, n + 2, -60, 30), // TX power outside −50..20: garbled metadata
        sighting(&key(8, 0), n, n, -60, 8),  // another key's RPI
        Observation {
            rpi: Rpi([0xab; 16]),
            interval: n,
            rssi: -40,
            aem: [0; 4],
        },
    ];
    let index = ObservationIndex::new(&log);
    let matches = index.match_keys(&[k], &MatchOptions::default());
    let found: Vec<usize> = {
        let mut v: Vec<usize> = matches.iter().map(|m| m.observation_index).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(found, vec![0, 1, 3, 5]);
    let first = matches
        .iter()
        .find(|m| m.observation_index == 0)
        .expect("match 0");
    assert_eq!(
        (first.tx_power, first.rssi, first.attenuation),
        (8, -60, 68)
    );
    assert_eq!((first.rpi_interval, first.observed_interval), (n, n));
    assert_eq!(
        matches
            .iter()
            .find(|m| m.observation_index == 5)
            .expect("match 5")
            .attenuation,
        0
    );
    // Without TX bounds the garbled sighting is accepted.
    let loose = MatchOptions {
        tx_power_bounds: None,
        ..MatchOptions::default()
    };
    assert_eq!(index.match_keys(&[k], &loose).len(), 5);
}

#[test]
fn short_rolling_periods_and_unaligned_starts_still_match() {
    // Keys are matched over 144 intervals from their start whatever their period (reference matcher).
    let k = DiagnosisKey {
        tek: Tek([3; 16]),
        rolling_start: DAY + 81,
        rolling_period: 1,
    };
    let log = vec![sighting(&k, DAY + 81 + 100, DAY + 81 + 100, -50, 0)];
    let matches = ObservationIndex::new(&log).match_keys(&[k], &MatchOptions::default());
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].rpi_interval, DAY + 181);
}

#[test]
fn empty_inputs() {
    let index = ObservationIndex::new(&[]);
    assert!(index.is_empty());
    assert!(index
        .match_keys(&[key(1, 0)], &MatchOptions::default())
        .is_empty());
    let index = ObservationIndex::new(&[sighting(&key(1, 0), DAY, DAY, -50, 0)]);
    assert!(index.match_keys(&[], &MatchOptions::default()).is_empty());
}

#[test]
fn parallel_and_serial_agree_on_many_keys() {
    let keys: Vec<DiagnosisKey> = (0..5000u32)
        .map(|i| DiagnosisKey {
            tek: Tek((i as u128 * 0x9e37_79b9_7f4a_7c15).to_le_bytes()),
            rolling_start: DAY + 144 * (i % 14),
            rolling_period: 144,
        })
        .collect();
    let mut log = Vec::new();
    for (i, k) in keys.iter().enumerate().step_by(97) {
        let n = k.rolling_start + (i as u32 % 144);
        log.push(sighting(k, n, n + (i as u32 % 25) - 12, -55, 4));
    }
    let index = ObservationIndex::new(&log);
    let serial = index.match_keys(
        &keys,
        &MatchOptions {
            parallel: false,
            ..MatchOptions::default()
        },
    );
    let parallel = index.match_keys(&keys, &MatchOptions::default());
    assert_eq!(serial.len(), log.len());
    assert_eq!(serial, parallel);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_the_naive_matcher(
        seeds in proptest::collection::vec((any::<u8>(), 0u32..3), 1..6),
        sightings in proptest::collection::vec((any::<prop::sample::Index>(), 0u32..144, -20i32..20, -100i8..0, -60i8..30), 0..20),
        noise in proptest::collection::vec(any::<[u8; 16]>(), 0..10),
    ) {
        let keys: Vec<DiagnosisKey> = seeds.iter().map(|&(s, d)| key(s, d)).collect();
        let mut log: Vec<Observation> = sightings
            .iter()
            .map(|(k, i, skew, rssi, tx)| {
                let k = keys[k.index(keys.len())];
                let n = k.rolling_start + i;
                sighting(&k, n, n.saturating_add_signed(*skew), *rssi, *tx)
            })
            .collect();
        log.extend(noise.iter().map(|r| Observation { rpi: Rpi(*r), interval: DAY + 10, rssi: -50, aem: [0; 4] }));
        let options = MatchOptions::default();
        let ours = summarise(&ObservationIndex::new(&log).match_keys(&keys, &options));
        prop_assert_eq!(ours, naive(&keys, &log, &options));
    }
}

/// Keys in the shapes the fast path treats differently: full groups of sixteen and a short last
/// group, day-aligned starts (day filters) and unaligned ones (the global filter), days 16 apart
/// (the same slot of the per-day caches), and sightings of every kind, against the simple path and
/// an independent naive matcher.
fn fast_equals_reference(key_count: usize, options: MatchOptions) {
    let keys: Vec<DiagnosisKey> = (0..key_count as u32)
        .map(|i| DiagnosisKey {
            tek: Tek((u128::from(i) * 0x9e37_79b9_7f4a_7c15 + 1).to_le_bytes()),
            rolling_start: DAY + 144 * (i % 20) + if i % 7 == 3 { 37 } else { 0 },
            rolling_period: 144,
        })
        .collect();
    let mut log = Vec::new();
    for (i, k) in keys.iter().enumerate().step_by(3) {
        let n = k.rolling_start + (i as u32 * 11 % 144);
        // Skews from -20 to +20 intervals: some in, some out of any tolerance.
        let seen = (n + ((i as u32 + 20) % 41)).saturating_sub(20);
        log.push(sighting(k, n, seen, -70, (i % 40) as i8 - 30));
    }
    // Random RPIs seen all over the 20 days, so filters have company.
    for i in 0..3000u32 {
        log.push(Observation {
            rpi: Rpi((u128::from(i) * 0xdead_beef_1234_5678_9abc).to_le_bytes()),
            interval: DAY + i % (20 * 144),
            rssi: -80,
            aem: [1, 2, 3, 4],
        });
    }
    let index = ObservationIndex::new(&log);
    let fast = index.match_keys(&keys, &options);
    let reference = index.match_keys_reference(&keys, &options);
    assert!(!reference.is_empty(), "the data must contain matches");
    assert_eq!(fast, reference);
    // The reference shares `lookup` and `emit` with the fast path; the map-based naive matcher
    // shares neither.
    assert_eq!(summarise(&fast), naive_by_map(&keys, &log, &options));
}

#[test]
fn fast_path_equals_reference_on_full_and_short_groups() {
    let serial = MatchOptions {
        parallel: false,
        ..MatchOptions::default()
    };
    for count in [1, 15, 16, 17, 33, 400] {
        fast_equals_reference(count, serial);
    }
}

#[test]
fn fast_path_equals_reference_beyond_the_day_filters_tolerance() {
    // A tolerance wider than the day filters were built for must fall back to the global filter.
    fast_equals_reference(
        200,
        MatchOptions {
            tolerance: 20,
            tx_power_bounds: None,
            parallel: false,
        },
    );
    fast_equals_reference(
        200,
        MatchOptions {
            tolerance: 0,
            parallel: false,
            ..MatchOptions::default()
        },
    );
}

#[test]
fn fast_path_equals_reference_in_parallel() {
    fast_equals_reference(5000, MatchOptions::default());
}

#[test]
fn a_sighting_at_the_edge_of_the_next_day_is_found() {
    // Day filters hold sightings up to the tolerance past their day: the last RPI of a day seen
    // 12 intervals later (in the next day) and the first one seen 12 earlier must both match.
    let k = key(9, 1);
    let last = k.rolling_start + 143;
    let log = [
        sighting(&k, last, last + 12, -60, 0),
        sighting(&k, k.rolling_start, k.rolling_start - 12, -60, 0),
        sighting(&k, last, last + 13, -60, 0),
    ];
    let matches = ObservationIndex::new(&log).match_keys(&[k], &MatchOptions::default());
    let found: Vec<usize> = matches.iter().map(|m| m.observation_index).collect();
    assert_eq!(found, vec![1, 0]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Up to three groups of sixteen keys, random sightings of them and noise: the fast path and
    /// the naive matcher agree.
    #[test]
    fn many_keys_agree_with_the_naive_matcher(
        seeds in proptest::collection::vec((any::<[u8; 16]>(), 0u32..4, prop::bool::ANY), 1..40),
        sightings in proptest::collection::vec((any::<prop::sample::Index>(), 0u32..144, -20i32..20), 0..30),
    ) {
        let keys: Vec<DiagnosisKey> = seeds
            .iter()
            .map(|&(tek, day, aligned)| DiagnosisKey {
                tek: Tek(tek),
                rolling_start: DAY + 144 * day + if aligned { 0 } else { 71 },
                rolling_period: 144,
            })
            .collect();
        let log: Vec<Observation> = sightings
            .iter()
            .map(|(k, i, skew)| {
                let k = keys[k.index(keys.len())];
                let n = k.rolling_start + i;
                sighting(&k, n, n.saturating_add_signed(*skew), -60, 0)
            })
            .collect();
        let options = MatchOptions { parallel: false, ..MatchOptions::default() };
        let index = ObservationIndex::new(&log);
        let ours = index.match_keys(&keys, &options);
        prop_assert_eq!(&ours, &index.match_keys_reference(&keys, &options));
        prop_assert_eq!(summarise(&ours), naive(&keys, &log, &options));
    }
}

#[test]
fn the_benchmark_workload_finds_what_it_planted() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let w = Workload::synthetic(&mut rng, 5_000, 20_000);
    assert_eq!((w.keys.len(), w.log.len(), w.planted), (5_000, 20_000, 20));
    let days: std::collections::BTreeSet<u32> = w.keys.iter().map(|k| k.rolling_start).collect();
    assert_eq!(days.len(), 14);
    assert!(w.log.iter().all(|o| {
        (Workload::FIRST_INTERVAL..Workload::FIRST_INTERVAL + 14 * 144).contains(&o.interval)
    }));
    let index = ObservationIndex::new(&w.log);
    let options = MatchOptions::default();
    let found = index.match_keys(&w.keys, &options);
    // Every planted sighting is found; the random ones match nothing.
    let mut planted: Vec<usize> = found.iter().map(|m| m.observation_index).collect();
    planted.sort_unstable();
    planted.dedup();
    assert_eq!(planted, (0..w.planted).collect::<Vec<_>>());
    assert_eq!(found, index.match_keys_reference(&w.keys, &options));
}
