//! Criterion benches of the protocol core: RPI derivation, matching parts, export write and verify.
//!
//! Run with `cargo bench -p warnkit-protocol`; figures are recorded in BENCHMARKS.md.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use warnkit_protocol::crypto::{Block, Tek};
use warnkit_protocol::export::{self, Archive, Limits, Signer};
use warnkit_protocol::matching::{MatchOptions, Observation, ObservationIndex, Workload};
use warnkit_protocol::proto::{TemporaryExposureKey, TemporaryExposureKeyExport};

fn derivation(c: &mut Criterion) {
    let tek = Tek([0x75; 16]);
    let mut group = c.benchmark_group("derivation");
    group.bench_function("rpik (HKDF)", |b| b.iter(|| black_box(&tek).rpi_key()));
    group.bench_function("rpik + aemk", |b| b.iter(|| black_box(&tek).derive_keys()));
    let teks: [Tek; 16] = std::array::from_fn(|i| Tek([i as u8; 16]));
    group.throughput(Throughput::Elements(16));
    group.bench_function("rpik x16 (HKDF, AVX-512 lanes, no key schedule)", |b| {
        b.iter(|| warnkit_protocol::crypto::rpi_key_bytes_x16(black_box(&teks)))
    });
    let rpik = tek.rpi_key();
    let mut batch = warnkit_protocol::crypto::RpiBatch::default();
    let mut day = 0u32;
    group.throughput(Throughput::Elements(144));
    group.bench_function("144 RPIs (batched AES)", |b| {
        b.iter(|| {
            // A new start each time, as when consecutive keys belong to different days.
            day = (day + 1) % 14;
            rpik.day_rpis_into(black_box(2_833_200 + 144 * day), &mut batch)
                .len()
        })
    });
    let cipher = <aes::Aes128 as aes::cipher::KeyInit>::new(&[7u8; 16].into());
    let mut raw = vec![Block::default(); 144];
    group.bench_function("144 AES blocks (bound)", |b| {
        b.iter(|| aes::cipher::BlockEncrypt::encrypt_blocks(&cipher, black_box(&mut raw)))
    });
    group.bench_function("AES key schedule", |b| {
        b.iter(|| <aes::Aes128 as aes::cipher::KeyInit>::new(black_box(&[7u8; 16].into())))
    });
    group.finish();
}

fn matching(c: &mut Criterion) {
    // The workload `warnkit bench match` and `matching_steps -- whole` time, at 10k keys.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let Workload { keys, log, planted } = Workload::synthetic(&mut rng, 10_000, 100_000);
    let index = ObservationIndex::new(&log);
    let mut group = c.benchmark_group("matching");
    group.throughput(Throughput::Elements(keys.len() as u64));
    let serial = MatchOptions {
        parallel: false,
        ..MatchOptions::default()
    };
    group.bench_function("10k keys x 100k observed, one thread", |b| {
        b.iter(|| index.match_keys(black_box(&keys), &serial))
    });
    let tiny: Vec<Observation> = (0..14)
        .map(|d| Observation {
            interval: Workload::FIRST_INTERVAL + 144 * d,
            // A random RPI (the first `planted` are real sightings of the keys).
            ..log[planted]
        })
        .collect();
    let tiny_index = ObservationIndex::new(&tiny);
    group.bench_function("10k keys x 14 observed (lookups in L1)", |b| {
        b.iter(|| tiny_index.match_keys(black_box(&keys), &serial))
    });
    group.sample_size(10);
    group.bench_function("index 100k observations", |b| {
        b.iter(|| ObservationIndex::new(black_box(&log)))
    });
    group.finish();
}

fn export_files(c: &mut Criterion) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let signer = Signer::new(p256::ecdsa::SigningKey::random(&mut rng), "262", "v1");
    let body = TemporaryExposureKeyExport {
        region: Some("DE".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        keys: (0..10_000)
            .map(|i| TemporaryExposureKey {
                key_data: Some(rng.gen::<[u8; 16]>().to_vec()),
                transmission_risk_level: Some(6),
                rolling_start_interval_number: Some(2_833_200 + 144 * (i % 14)),
                rolling_period: None,
                report_type: Some(1),
                days_since_onset_of_symptoms: Some(2),
            })
            .collect(),
        ..Default::default()
    };
    let zip = export::write_archive(body.clone(), std::slice::from_ref(&signer)).expect("write");
    let key = signer.verifying_key();
    let mut group = c.benchmark_group("export");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("write 10k keys", |b| {
        b.iter(|| export::write_archive(black_box(body.clone()), std::slice::from_ref(&signer)))
    });
    group.bench_function("read + verify 10k keys", |b| {
        b.iter(|| {
            Archive::read(black_box(&zip), &Limits::default())
                .expect("read")
                .verify(&[key])
                .is_ok()
        })
    });
    group.finish();
}

criterion_group!(benches, derivation, matching, export_files);
criterion_main!(benches);
