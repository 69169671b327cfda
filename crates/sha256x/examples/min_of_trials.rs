//! Noise-robust companion to `benches/x4.rs` for shared machines: runs every case in short trials,
//! round-robin so background load hits them alike, and keeps each case's fastest trial.
//!
//! `cargo run --release -p warnkit-sha256x --example min_of_trials`

use std::hint::black_box;
use std::time::Instant;

use sha2::digest::generic_array::{typenum::U64, GenericArray};
use warnkit_sha256x::variants::interleaved;
use warnkit_sha256x::{compress256_x2, compress256_x4, compress256_x8};

const TRIALS: usize = 400;
/// Blocks per trial: long enough to swamp `Instant` overhead, short enough to often dodge a
/// context switch.
const BLOCKS_PER_TRIAL: usize = 2000;

/// A label and one timed trial returning ns per block.
type Case = (&'static str, fn() -> f64);

fn sha2_each<const N: usize>(states: &mut [[u32; 8]; N], blocks: &[[u8; 64]; N]) {
    for (state, block) in states.iter_mut().zip(blocks) {
        let block: &GenericArray<u8, U64> = GenericArray::from_slice(block);
        sha2::compress256(state, std::slice::from_ref(block));
    }
}

/// ns per block for one trial; states chain from call to call as in the criterion bench.
fn trial<const N: usize>(f: fn(&mut [[u32; 8]; N], &[[u8; 64]; N])) -> f64 {
    let mut states = [[0x0123_4567u32; 8]; N];
    let blocks = [[0xa5u8; 64]; N];
    let calls = BLOCKS_PER_TRIAL / N;
    let start = Instant::now();
    for _ in 0..calls {
        f(&mut states, black_box(&blocks));
    }
    black_box(states);
    start.elapsed().as_nanos() as f64 / (calls * N) as f64
}

fn main() {
    println!("SHA-NI backend in use: {}", warnkit_sha256x::accelerated());
    let cases: [Case; 10] = [
        ("sha2, 1 stream", || trial::<1>(sha2_each)),
        ("sha2, 4 streams one after another", || {
            trial::<4>(sha2_each)
        }),
        ("compress256_x2", || trial::<2>(compress256_x2)),
        ("compress256_x4 (2 x 2 lanes)", || {
            trial::<4>(compress256_x4)
        }),
        ("compress256_x8 (4 x 2 lanes)", || {
            trial::<8>(compress256_x8)
        }),
        ("interleaved 1 lane", || trial::<1>(interleaved::<1>)),
        ("interleaved 3 lanes", || trial::<3>(interleaved::<3>)),
        ("interleaved 4 lanes", || trial::<4>(interleaved::<4>)),
        ("interleaved 6 lanes", || trial::<6>(interleaved::<6>)),
        ("interleaved 8 lanes", || trial::<8>(interleaved::<8>)),
    ];
    let mut best = [f64::INFINITY; 10];
    for _ in 0..TRIALS {
        for (b, (_, run)) in best.iter_mut().zip(&cases) {
            *b = b.min(run());
        }
    }
    for ((name, _), b) in cases.iter().zip(best) {
        println!("{name:<36} {b:6.1} ns/block");
    }
}
