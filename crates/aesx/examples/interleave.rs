//! What interleaving the filter probes with the AES rounds buys: ns per diagnosis key (key schedule,
//! 144 blocks, 144 probes) for the three ways of doing it, and the AES bound of both AES paths, as the
//! fastest of many round-robin trials (robust to other work on a shared machine).
//!
//! `cargo run --release -p warnkit-aesx --example interleave`

use std::hint::black_box;
use std::time::Instant;

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use warnkit_aesx::{Aes128, Block, Probe};

const KEYS: usize = 2000;
const TRIALS: usize = 60;

/// splitmix64.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The probes as a separate pass over the encrypted blocks.
fn pass(probe: &Probe<'_>, blocks: &[Block], hits: &mut [u8]) -> usize {
    let mut count = 0;
    for (i, block) in blocks.iter().enumerate() {
        if probe.passes(block) {
            hits[count] = i as u8;
            count += 1;
        }
    }
    count
}

fn main() {
    let mut seed = 7;
    // 32 KiB of filter with about one bit in sixteen set, like a day filter of the matcher.
    let words: Vec<u64> = (0..4096)
        .map(|_| !(next(&mut seed) & next(&mut seed) & next(&mut seed) & next(&mut seed)))
        .collect();
    let patterns: [u64; 1024] =
        std::array::from_fn(|_| (0..3).fold(0, |m, _| m | 1 << (next(&mut seed) & 63)));
    let probe = Probe::new(&words, &patterns);
    let keys: Vec<Block> = (0..KEYS)
        .map(|_| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&next(&mut seed).to_le_bytes());
            k[8..].copy_from_slice(&next(&mut seed).to_le_bytes());
            k
        })
        .collect();
    let input: Vec<Block> = (0..144u32)
        .map(|i| {
            let mut b = [0u8; 16];
            b[..6].copy_from_slice(b"EN-RPI");
            b[12..].copy_from_slice(&(2_900_000 + i).to_le_bytes());
            b
        })
        .collect();
    let generic: Vec<GenericArray<u8, _>> = input.iter().map(|b| (*b).into()).collect();
    let mut big = vec![[1u8; 16]; 144 * 4096];
    let mut big_generic = vec![GenericArray::from([1u8; 16]); 144 * 4096];

    let per_key = |run: &mut dyn FnMut(&Block) -> usize| {
        let start = Instant::now();
        let total: usize = keys.iter().map(&mut *run).sum();
        black_box(total);
        start.elapsed().as_nanos() as f64 / KEYS as f64
    };
    let mut out = vec![[0u8; 16]; 144];
    let mut out_generic = generic.clone();
    let mut hits = [0u8; 144];
    let names = [
        "bound: `aes` crate encrypt_blocks, 144 per call",
        "bound: Aes128::encrypt_blocks, 144 per call",
        "`aes` crate key + blocks, then a probe pass",
        "Aes128::new + encrypt_blocks, then a probe pass",
        "Aes128::new + encrypt_and_probe",
        "Aes128::new alone",
    ];
    let mut best = [f64::INFINITY; 6];
    for _ in 0..TRIALS {
        let cipher = aes::Aes128Enc::new(GenericArray::from_slice(&keys[0]));
        let start = Instant::now();
        for chunk in big_generic.chunks_mut(144) {
            cipher.encrypt_blocks(chunk);
        }
        best[0] = best[0].min(start.elapsed().as_nanos() as f64 / 4096.0);
        let kernel = Aes128::new(&keys[0]);
        let start = Instant::now();
        for chunk in big.chunks_mut(144) {
            kernel.encrypt_blocks(chunk);
        }
        best[1] = best[1].min(start.elapsed().as_nanos() as f64 / 4096.0);
        best[2] = best[2].min(per_key(&mut |k| {
            let cipher = aes::Aes128Enc::new(GenericArray::from_slice(k));
            cipher
                .encrypt_blocks_b2b(&generic, &mut out_generic)
                .expect("equal lengths");
            let mut count = 0;
            for (i, block) in out_generic.iter().enumerate() {
                let mut b = [0u8; 16];
                b.copy_from_slice(block);
                if probe.passes(&b) {
                    hits[count] = i as u8;
                    count += 1;
                }
            }
            count
        }));
        best[3] = best[3].min(per_key(&mut |k| {
            out.copy_from_slice(&input);
            Aes128::new(k).encrypt_blocks(&mut out);
            pass(&probe, &out, &mut hits)
        }));
        best[4] = best[4].min(per_key(&mut |k| {
            Aes128::new(k).encrypt_and_probe(&input, &mut out, &probe, &mut hits)
        }));
        best[5] = best[5].min(per_key(&mut |k| {
            black_box(Aes128::new(black_box(k)));
            0
        }));
    }
    black_box((&big, &big_generic));
    println!("AES-NI in use: {}", Aes128::new(&[0; 16]).accelerated());
    for (name, ns) in names.iter().zip(best) {
        println!("{name:<50} {ns:7.1} ns per key");
    }
}
