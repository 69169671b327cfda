//! Single-stream `sha2::compress256` against the interleaved multi-buffer calls.
//!
//! Every case carries its states over from one iteration to the next, as HKDF chains
//! compressions, so a lone stream pays its full latency. Throughput is counted in blocks: the
//! `thrpt` line in Melem/s is millions of blocks per second, and ns per block is 1000 / that.
//!
//! `cargo bench -p warnkit-sha256x -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` defines an undocumented `pub fn`; nothing here is API.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use rand::Rng;
use sha2::digest::generic_array::{typenum::U64, GenericArray};
use warnkit_sha256x::variants::interleaved;

fn blocks<const N: usize>() -> [[u8; 64]; N] {
    let mut out = [[0u8; 64]; N];
    out.iter_mut()
        .for_each(|b| rand::thread_rng().fill(&mut b[..]));
    out
}

fn states<const N: usize>() -> [[u32; 8]; N] {
    let mut out = [[0u32; 8]; N];
    out.iter_mut()
        .for_each(|s| rand::thread_rng().fill(&mut s[..]));
    out
}

/// What the protocol crate does today: one `sha2::compress256` per block. Borrowing the block as a
/// `GenericArray` matters: copying it into a fresh one first was ~2x slower here (the 16-byte
/// loads of the copy miss store-to-load forwarding).
fn sha2_each<const N: usize>(states: &mut [[u32; 8]; N], blocks: &[[u8; 64]; N]) {
    for (state, block) in states.iter_mut().zip(blocks) {
        let block: &GenericArray<u8, U64> = GenericArray::from_slice(block);
        sha2::compress256(state, std::slice::from_ref(block));
    }
}

fn case<const N: usize>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    f: fn(&mut [[u32; 8]; N], &[[u8; 64]; N]),
) {
    group.throughput(Throughput::Elements(N as u64));
    let (mut s, b) = (states::<N>(), blocks::<N>());
    group.bench_function(name, |bench| bench.iter(|| f(&mut s, black_box(&b))));
}

fn bench(c: &mut Criterion) {
    eprintln!("SHA-256 kernel in use: {}", warnkit_sha256x::kernel());
    let mut group = c.benchmark_group("sha256_compress");

    case::<1>(&mut group, "sha2_1_stream", sha2_each);
    case::<4>(&mut group, "sha2_4_streams_one_after_another", sha2_each);

    case::<4>(
        &mut group,
        "compress256_x4",
        warnkit_sha256x::compress256_x4,
    );
    case::<8>(
        &mut group,
        "compress256_x8",
        warnkit_sha256x::compress256_x8,
    );
    case::<2>(
        &mut group,
        "compress256_x2",
        warnkit_sha256x::compress256_x2,
    );

    // The widths the public functions were picked from: all lanes in one interleaved pass. The
    // public x4/x8 run 2-lane passes back to back instead.
    case::<1>(&mut group, "interleaved_1", interleaved::<1>);
    case::<3>(&mut group, "interleaved_3", interleaved::<3>);
    case::<4>(&mut group, "interleaved_4", interleaved::<4>);
    case::<8>(&mut group, "interleaved_8", interleaved::<8>);

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
