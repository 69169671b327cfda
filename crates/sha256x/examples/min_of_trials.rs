//! Noise-robust companion to `benches/x4.rs` for shared machines: runs every case in short trials,
//! round-robin so background load hits them alike, and keeps each case's fastest trial.
//!
//! `cargo run --release -p warnkit-sha256x --example min_of_trials`

use std::hint::black_box;
use std::time::Instant;

use sha2::digest::generic_array::{typenum::U64, GenericArray};
use warnkit_sha256x::variants::interleaved;
use warnkit_sha256x::{compress256_x2, compress256_x4, compress256_x8, set_kernel, Kernel};

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

/// ns per block for `compress256_x16` (`GROUPS` independent 16-lane groups in turn), chained.
fn trial_x16<const GROUPS: usize>(scheduled: bool) -> f64 {
    use warnkit_sha256x::{compress256_x16, compress256_x16_scheduled, Scheduled};
    let mut states = [[[0x0123_4567u32; 16]; 8]; GROUPS];
    let words = [[0xa5a5_a5a5u32; 16]; 16];
    let block = Scheduled::new(&[0xa5; 64]);
    let calls = BLOCKS_PER_TRIAL / (16 * GROUPS);
    let start = Instant::now();
    for _ in 0..calls {
        for s in states.iter_mut() {
            if scheduled {
                compress256_x16_scheduled(s, black_box(&block));
            } else {
                compress256_x16(s, black_box(&words));
            }
        }
    }
    black_box(states);
    start.elapsed().as_nanos() as f64 / (calls * 16 * GROUPS) as f64
}

/// ns per block for `compress256_lanes_x16` (or its scheduled form), one group chained.
fn trial_lanes_x16(scheduled: bool) -> f64 {
    use warnkit_sha256x::{compress256_lanes_x16, compress256_lanes_x16_scheduled, Scheduled};
    let mut states = [[0x0123_4567u32; 8]; 16];
    let words = [[0xa5a5_a5a5u32; 16]; 16];
    let block = Scheduled::new(&[0xa5; 64]);
    let calls = BLOCKS_PER_TRIAL / 16;
    let start = Instant::now();
    for _ in 0..calls {
        if scheduled {
            compress256_lanes_x16_scheduled(&mut states, black_box(&block));
        } else {
            compress256_lanes_x16(&mut states, black_box(&words));
        }
    }
    black_box(states);
    start.elapsed().as_nanos() as f64 / (calls * 16) as f64
}

/// ns per block for a 16-lane AVX-512 call and an 8-lane SHA-NI call in turn (24 lanes).
fn trial_x16_with_x8() -> f64 {
    use warnkit_sha256x::compress256_x16;
    let mut states = [[0x0123_4567u32; 16]; 8];
    let words = [[0xa5a5_a5a5u32; 16]; 16];
    let mut lanes = [[0x0123_4567u32; 8]; 8];
    let blocks = [[0xa5u8; 64]; 8];
    let calls = BLOCKS_PER_TRIAL / 24;
    let start = Instant::now();
    for _ in 0..calls {
        compress256_x16(&mut states, black_box(&words));
        compress256_x8(&mut lanes, black_box(&blocks));
    }
    black_box((states, lanes));
    start.elapsed().as_nanos() as f64 / (calls * 24) as f64
}

/// The 16-lane cases, once per kernel this CPU supports (each trial switches to its kernel).
fn x16_cases() -> Vec<(String, Box<dyn Fn() -> f64>)> {
    let mut cases: Vec<(String, Box<dyn Fn() -> f64>)> = Vec::new();
    for kernel in Kernel::supported_here() {
        let on = move |f: fn() -> f64| {
            move || {
                set_kernel(kernel).expect("supported");
                f()
            }
        };
        cases.push((
            format!("compress256_x16 [{kernel}]"),
            Box::new(on(|| trial_x16::<1>(false))),
        ));
        cases.push((
            format!("compress256_x16, 2 groups in turn [{kernel}]"),
            Box::new(on(|| trial_x16::<2>(false))),
        ));
        cases.push((
            format!("compress256_x16_scheduled [{kernel}]"),
            Box::new(on(|| trial_x16::<1>(true))),
        ));
        cases.push((
            format!("compress256_x16 and compress256_x8 in turn [{kernel}]"),
            Box::new(on(trial_x16_with_x8)),
        ));
        cases.push((
            format!("compress256_lanes_x16 [{kernel}]"),
            Box::new(on(|| trial_lanes_x16(false))),
        ));
        cases.push((
            format!("compress256_lanes_x16_scheduled [{kernel}]"),
            Box::new(on(|| trial_lanes_x16(true))),
        ));
    }
    cases
}

fn main() {
    println!(
        "SHA-256 kernels here: {:?}; the 4- and 8-lane cases run on {}",
        Kernel::supported_here(),
        Kernel::best()
    );
    let plain: [Case; 10] = [
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
    let best_kernel = Kernel::best();
    let mut cases = x16_cases();
    for (name, run) in plain {
        cases.push((
            name.to_owned(),
            Box::new(move || {
                set_kernel(best_kernel).expect("supported");
                run()
            }),
        ));
    }
    let mut best = vec![f64::INFINITY; cases.len()];
    for _ in 0..TRIALS {
        for (b, (_, run)) in best.iter_mut().zip(&cases) {
            *b = b.min(run());
        }
    }
    for ((name, _), b) in cases.iter().zip(best) {
        println!("{name:<52} {b:6.1} ns/block");
    }
}
