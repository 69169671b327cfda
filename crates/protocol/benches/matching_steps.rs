//! Per-step costs of matching, and whether steps overlap on the CPU, as the fastest of many
//! round-robin trials (robust to other work on a shared machine). Figures and their reading:
//! `docs/benchmarks-matching.md`.
//!
//! ```sh
//! cargo bench -p warnkit-protocol --bench matching_steps -- 200        # the steps, 200 trials
//! cargo bench -p warnkit-protocol --bench matching_steps -- whole 1000000 3
//! #   what `warnkit bench match --threads 1` does: keys/s and the AES bound, 3 runs
//! cargo bench -p warnkit-protocol --bench matching_steps -- whole 1000000 0
//! #   the committed-before matcher (benches/support/old_matching.rs) against the current one, alternating
//! cargo bench -p warnkit-protocol --bench matching_steps -- whole 1000000 1000
//! #   the load-robust ratio: fastest of 40 alternating trials of old, new and the bound's loop
//! ```
//!
//! The filter variants (F2-F6) are the candidates the probe (now issued between the AES rounds by
//! `warnkit_aesx::Aes128::encrypt_and_probe`) was chosen from.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128Enc;
use rand::{Rng, SeedableRng};
use warnkit_protocol::crypto::{rpi_keys_x4, Block, RpiBatch, Tek};

#[path = "support/old_matching.rs"]
mod old_matching;

const KEYS: usize = 256;

struct Data {
    teks: Vec<Tek>,
    blocks: Vec<Block>,
    filter: Vec<u64>,
    mask: usize,
    ciphers: Vec<Aes128Enc>,
    input: Vec<Block>,
    masks: Vec<u64>,
    filter2: Vec<u64>,
    /// `filter2` inverted, as `warnkit_aesx::Probe` reads it (the matcher's layout).
    absent2: Vec<u64>,
    /// `input` as the raw blocks `warnkit_aesx` takes: a day's plaintexts, as `DayPlaintexts` caches.
    raw_input: Vec<[u8; 16]>,
}

const MASK_BITS: u32 = 10;

fn mask_table() -> Vec<u64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    (0..1usize << MASK_BITS)
        .map(|_| loop {
            let m = (1u64 << rng.gen_range(0..64))
                | (1u64 << rng.gen_range(0..64))
                | (1u64 << rng.gen_range(0..64));
            if m.count_ones() == 3 {
                break m;
            }
        })
        .collect()
}

fn f2_pass(d: &Data, blocks: &[Block]) -> [u64; 3] {
    let mut hits = [0u64; 3];
    for (w, chunk) in blocks.chunks(64).enumerate() {
        let mut m = 0u64;
        for (i, block) in chunk.iter().enumerate() {
            let prefix = prefix_of(block.as_slice());
            let bits = filter_bits(prefix);
            let hit = d.filter[prefix as usize & d.mask] & bits == bits;
            m |= u64::from(hit) << i;
        }
        hits[w] = m;
    }
    hits
}

fn raw_prefix(block: &Block) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&block[..8]);
    u64::from_le_bytes(first)
}

fn f3_pass(d: &Data, blocks: &[Block], out: &mut Vec<u8>) {
    out.clear();
    for (i, block) in blocks.iter().enumerate() {
        let prefix = raw_prefix(block);
        let bits = d.masks[(prefix >> (64 - MASK_BITS)) as usize];
        if bits & !d.filter2[prefix as usize & d.mask] == 0 {
            out.push(i as u8);
        }
    }
}

fn f5_pass(
    masks: &[u64; 1024],
    filter: &[u64],
    mask: usize,
    blocks: &[Block],
    list: &mut [u8; 256],
) -> usize {
    let filter = &filter[..=mask];
    let mut n = 0usize;
    for (i, block) in blocks.iter().enumerate() {
        let p = raw_prefix(block);
        let bits = masks[(p >> 54) as usize];
        let word = filter[p as usize & mask];
        list[n & 255] = i as u8;
        n += usize::from(bits & !word == 0);
    }
    n
}

fn f6_pass(
    masks: &[u64; 1024],
    filter: &[u64],
    mask: usize,
    blocks: &[Block],
    list: &mut [u8; 256],
) -> usize {
    let filter = &filter[..=mask];
    let mut n = 0usize;
    for (i, block) in blocks.iter().enumerate() {
        let p = raw_prefix(block);
        let bits = masks[(p >> 54) as usize];
        let word = filter[p as usize & mask];
        if bits & !word == 0 {
            list[n & 255] = i as u8;
            n += 1;
        }
    }
    n
}

fn f4_pass(d: &Data, blocks: &[Block]) -> [u64; 3] {
    let mut hits = [0u64; 3];
    for (w, chunk) in blocks.chunks(64).enumerate() {
        let mut m = 0u64;
        for (i, block) in chunk.iter().enumerate() {
            let prefix = raw_prefix(block);
            let bits = d.masks[(prefix >> (64 - MASK_BITS)) as usize];
            let hit = bits & !d.filter2[prefix as usize & d.mask] == 0;
            m |= u64::from(hit) << i;
        }
        hits[w] = m;
    }
    hits
}

fn filter_bits(prefix: u64) -> u64 {
    (1 << ((prefix >> 40) & 63)) | (1 << ((prefix >> 46) & 63)) | (1 << ((prefix >> 52) & 63))
}

fn prefix_of(rpi: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&rpi[..8]);
    u64::from_le_bytes(first).max(1)
}

fn filter_pass(d: &Data, blocks: &[Block]) -> [u64; 3] {
    let mut hits = [0u64; 3];
    for (i, block) in blocks.iter().enumerate() {
        let prefix = prefix_of(block.as_slice());
        let bits = filter_bits(prefix);
        let hit = d.filter[prefix as usize & d.mask] & bits == bits;
        hits[i / 64] |= u64::from(hit) << (i % 64);
    }
    hits
}

fn filter_chunk(d: &Data, blocks: &[Block], base: usize, hits: &mut [u64; 3]) {
    for (j, block) in blocks.iter().enumerate() {
        let i = base + j;
        let prefix = prefix_of(block.as_slice());
        let bits = filter_bits(prefix);
        let hit = d.filter[prefix as usize & d.mask] & bits == bits;
        hits[i / 64] |= u64::from(hit) << (i % 64);
    }
}

type Case = (&'static str, fn(&mut Data) -> u64);

/// What `warnkit bench match --threads 1` does, here so variants can be compared without building
/// the binary: 1M keys over 14 days against 100k sightings, then the AES bound.
fn whole(keys: usize, observed: usize, runs: usize) {
    use warnkit_protocol::matching::{MatchOptions, ObservationIndex, Workload};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let Workload {
        keys: diagnosis,
        log,
        planted,
    } = Workload::synthetic(&mut rng, keys, observed);
    let index = ObservationIndex::new(&log);
    let options = MatchOptions {
        parallel: false,
        ..MatchOptions::default()
    };
    if runs == 1000 {
        // Load-robust form of the ratio: the fastest of many short trials of each side,
        // alternating, so background load hits both alike. Matching over 20k keys (all 14 days,
        // the full filters and table) against the bound's exact loop over its 9.4 MB buffer.
        let old = old_matching::OldIndex::new(&log);
        let part = &diagnosis[..keys.min(20_000)];
        let mut bound = warnkit_aesx::bound::Meter::new();
        let (mut best_old, mut best_new) = (f64::MAX, f64::MAX);
        for _ in 0..40 {
            // The bound as `warnkit bench match` measures it (`warnkit_aesx::bound`): one trial of
            // each AES path, the faster path's fastest trial.
            bound.trial();
            let t = Instant::now();
            black_box(old.match_keys(part, &options).len());
            best_old = best_old.min(t.elapsed().as_secs_f64() / part.len() as f64);
            let t = Instant::now();
            black_box(index.match_keys(part, &options).len());
            best_new = best_new.min(t.elapsed().as_secs_f64() / part.len() as f64);
        }
        // Seconds per key at the bound: 144 blocks at the faster path's rate.
        let best_aes = 144.0 / bound.rates().best();
        println!(
            "bound {:.1} ns/key; before {:.1} ns/key = {:.3} of the bound; now {:.1} ns/key = {:.3} of the bound ({:.2}x)",
            best_aes * 1e9, best_old * 1e9, best_aes / best_old, best_new * 1e9, best_aes / best_new, best_old / best_new
        );
        return;
    }
    if runs == 0 {
        // A/B: old and new matcher on the same data, alternating; the fastest of several
        // passes over the first 50k keys each.
        let old = old_matching::OldIndex::new(&log);
        let part = &diagnosis[..keys.min(50_000)];
        let (mut best_old, mut best_new) = (f64::MAX, f64::MAX);
        for _ in 0..15 {
            let t = Instant::now();
            let a = old.match_keys(part, &options).len();
            best_old = best_old.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let b = index.match_keys(part, &options).len();
            best_new = best_new.min(t.elapsed().as_secs_f64());
            assert_eq!(a, b);
        }
        let n = part.len() as f64;
        println!(
            "old {:.1} ns/key, new {:.1} ns/key: {:.2}x",
            best_old * 1e9 / n,
            best_new * 1e9 / n,
            best_old / best_new
        );
        return;
    }
    for _ in 0..runs {
        let start = Instant::now();
        let matches = index.match_keys(&diagnosis, &options).len();
        let seconds = start.elapsed().as_secs_f64();
        // The bound exactly as `warnkit bench match` measures it.
        let bound = warnkit_aesx::bound::blocks_per_second(std::time::Duration::from_millis(500))
            .best()
            / 144.0;
        let kps = keys as f64 / seconds;
        println!(
            "{kps:10.0} keys/s ({:.1} ns/key), bound {bound:10.0} keys/s ({:.1} ns/key): {:.3} of the bound; {matches} matches ({planted} planted)",
            1e9 / kps, 1e9 / bound, kps / bound
        );
    }
}

fn main() {
    // `cargo bench` adds `--bench`; only the plain arguments are ours.
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    if args.get(1).map(String::as_str) == Some("whole") {
        let keys = args
            .get(2)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1_000_000);
        let runs = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(3);
        whole(keys, 100_000, runs);
        return;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let teks: Vec<Tek> = (0..KEYS).map(|_| Tek(rng.gen())).collect();
    let blocks: Vec<Block> = (0..144 * KEYS)
        .map(|_| Block::from(rng.gen::<[u8; 16]>()))
        .collect();
    let words = 32768;
    let mut filter = vec![0u64; words];
    for _ in 0..100_000 {
        let p: u64 = rng.gen();
        filter[p as usize & (words - 1)] |= filter_bits(p);
    }
    let masks = mask_table();
    let mut filter2 = vec![0u64; words];
    let mut rng2 = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for _ in 0..100_000 {
        let p: u64 = rng2.gen();
        filter2[p as usize & (words - 1)] |= masks[(p >> (64 - MASK_BITS)) as usize];
    }
    let absent2 = filter2.iter().map(|w| !w).collect();
    let ciphers = teks.iter().map(|t| Aes128Enc::new(&t.0.into())).collect();
    let raw_input: Vec<[u8; 16]> = (0..144u32)
        .map(|i| warnkit_protocol::crypto::padded_data(2_833_200 + i))
        .collect();
    let input = raw_input.iter().map(|b| Block::from(*b)).collect();
    let mut d = Data {
        teks,
        blocks,
        filter,
        mask: words - 1,
        ciphers,
        input,
        masks,
        absent2,
        filter2,
        raw_input,
    };
    {
        let mut out = Vec::new();
        let mut fp = 0usize;
        for b in d.blocks.chunks_exact(144) {
            f3_pass(&d, b, &mut out);
            fp += out.len();
        }
        let fp1: u32 = d
            .blocks
            .chunks_exact(144)
            .map(|b| {
                let h = filter_pass(&d, b);
                h.iter().map(|x| x.count_ones()).sum::<u32>()
            })
            .sum();
        println!(
            "false positives per key: 3-bit computed {:.3}, mask table {:.3}",
            fp1 as f64 / KEYS as f64,
            fp as f64 / KEYS as f64
        );
    }
    let cases: Vec<Case> = vec![
        ("aes 144 b2b, scheduled keys", |d| {
            let mut out = vec![Block::default(); 144];
            let mut s = 0u64;
            for c in &d.ciphers {
                c.encrypt_blocks_b2b(&d.input, &mut out).unwrap();
                s += out[5][0] as u64;
            }
            s
        }),
        ("hkdf x4 + key schedule", |d| {
            let mut s = 0u64;
            for t in d.teks.chunks_exact(4) {
                let k = rpi_keys_x4(t.try_into().unwrap());
                s += k[0].as_bytes()[0] as u64;
            }
            s
        }),
        ("hkdf x16 bytes only", |d| {
            let mut s = 0u64;
            for t in d.teks.chunks_exact(16) {
                let k = warnkit_protocol::crypto::rpi_key_bytes_x16(t.try_into().unwrap());
                s += k[0][0] as u64;
            }
            s
        }),
        ("hkdf x16 + key schedule", |d| {
            let mut s = 0u64;
            for t in d.teks.chunks_exact(16) {
                let k = warnkit_protocol::crypto::rpi_keys_x16(t.try_into().unwrap());
                s += k[0].as_bytes()[0] as u64;
            }
            s
        }),
        ("key schedule only", |d| {
            let mut s = 0u64;
            for t in &d.teks {
                let k = warnkit_protocol::crypto::RpiKey::new(&t.0);
                s += k.as_bytes()[0] as u64;
            }
            s
        }),
        // What the matcher runs per key now (`warnkit-aesx`); the TEKs stand in for RPI keys.
        ("aesx Aes128::new only (the matcher's key schedule)", |d| {
            let mut s = 0u64;
            for t in &d.teks {
                let k = warnkit_aesx::Aes128::new(black_box(&t.0));
                s += u64::from(k.accelerated());
            }
            s
        }),
        (
            "aesx Aes128::new + encrypt_and_probe 144, 256KB filter",
            |d| {
                let masks: &[u64; 1024] = d.masks[..].try_into().unwrap();
                let probe = warnkit_aesx::Probe::new(&d.absent2, masks);
                let mut out = [[0u8; 16]; 144];
                let mut hits = [0u8; 144];
                let mut s = 0u64;
                for t in &d.teks {
                    let n = warnkit_aesx::Aes128::new(&t.0).encrypt_and_probe(
                        &d.raw_input,
                        &mut out,
                        &probe,
                        &mut hits,
                    );
                    s += n as u64 + u64::from(out[5][0]);
                }
                s
            },
        ),
        (
            "aesx Aes128::new + encrypt_and_probe 144, 16KB filter",
            |d| {
                let masks: &[u64; 1024] = d.masks[..].try_into().unwrap();
                let probe = warnkit_aesx::Probe::new(&d.absent2[..2048], masks);
                let mut out = [[0u8; 16]; 144];
                let mut hits = [0u8; 144];
                let mut s = 0u64;
                for t in &d.teks {
                    let n = warnkit_aesx::Aes128::new(&t.0).encrypt_and_probe(
                        &d.raw_input,
                        &mut out,
                        &probe,
                        &mut hits,
                    );
                    s += n as u64 + u64::from(out[5][0]);
                }
                s
            },
        ),
        ("filter pass over 144 (blocks in L1)", |d| {
            let mut s = 0u64;
            for k in 0..KEYS {
                let b = &d.blocks[(k % 8) * 144..(k % 8) * 144 + 144];
                let h = filter_pass(d, b);
                s += h[0] ^ h[1] ^ h[2];
            }
            s
        }),
        ("F2 register accumulators", |d| {
            let mut s = 0u64;
            for k in 0..KEYS {
                let b = &d.blocks[(k % 8) * 144..(k % 8) * 144 + 144];
                let h = f2_pass(d, b);
                s += h[0] ^ h[1] ^ h[2];
            }
            s
        }),
        ("F3 mask table, branch per hit", |d| {
            let mut s = 0u64;
            let mut out = Vec::with_capacity(144);
            for k in 0..KEYS {
                let b = &d.blocks[(k % 8) * 144..(k % 8) * 144 + 144];
                f3_pass(d, b, &mut out);
                s += out.len() as u64;
            }
            s
        }),
        ("F5 lean branchless, 256KB filter", |d| {
            let mut s = 0u64;
            let masks: &[u64; 1024] = d.masks[..].try_into().unwrap();
            let mut list = [0u8; 256];
            for k in 0..KEYS {
                let b = &d.blocks[(k % 8) * 144..(k % 8) * 144 + 144];
                s += f5_pass(masks, &d.filter2, d.mask, b, &mut list) as u64;
            }
            s
        }),
        ("F6 lean branchy, 256KB filter", |d| {
            let mut s = 0u64;
            let masks: &[u64; 1024] = d.masks[..].try_into().unwrap();
            let mut list = [0u8; 256];
            for k in 0..KEYS {
                let b = &d.blocks[(k % 8) * 144..(k % 8) * 144 + 144];
                s += f6_pass(masks, &d.filter2, d.mask, b, &mut list) as u64;
            }
            s
        }),
        ("F6 lean branchy, 16KB filter", |d| {
            let mut s = 0u64;
            let masks: &[u64; 1024] = d.masks[..].try_into().unwrap();
            let mut list = [0u8; 256];
            for k in 0..KEYS {
                let b = &d.blocks[(k % 8) * 144..(k % 8) * 144 + 144];
                s += f6_pass(masks, &d.filter2, 2047, b, &mut list) as u64;
            }
            s
        }),
        ("F4 mask table, branchless", |d| {
            let mut s = 0u64;
            for k in 0..KEYS {
                let b = &d.blocks[(k % 8) * 144..(k % 8) * 144 + 144];
                let h = f4_pass(d, b);
                s += h[0] ^ h[1] ^ h[2];
            }
            s
        }),
        ("filter pass over 144 (blocks from L2)", |d| {
            let mut s = 0u64;
            for b in d.blocks.chunks_exact(144) {
                let h = filter_pass(d, b);
                s += h[0] ^ h[1] ^ h[2];
            }
            s
        }),
        ("aes then filter, per key", |d| {
            let mut out = vec![Block::default(); 144];
            let mut s = 0u64;
            for c in &d.ciphers {
                c.encrypt_blocks_b2b(&d.input, &mut out).unwrap();
                let h = filter_pass(d, &out);
                s += h[0] ^ h[1] ^ h[2];
            }
            s
        }),
        ("aes then F3, per key", |d| {
            let mut out = vec![Block::default(); 144];
            let mut hits = Vec::with_capacity(144);
            let mut s = 0u64;
            for c in &d.ciphers {
                c.encrypt_blocks_b2b(&d.input, &mut out).unwrap();
                f3_pass(d, &out, &mut hits);
                s += hits.len() as u64;
            }
            s
        }),
        ("aes of key k in 9 chunks, F3 of key k-1 between", |d| {
            let mut out = vec![Block::default(); 288];
            let mut hits = Vec::with_capacity(144);
            let mut s = 0u64;
            for (k, c) in d.ciphers.iter().enumerate() {
                let (a, b) = out.split_at_mut(144);
                let (cur, prev) = if k % 2 == 0 { (a, &*b) } else { (b, &*a) };
                hits.clear();
                for j in 0..9 {
                    c.encrypt_blocks_b2b(
                        &d.input[16 * j..16 * j + 16],
                        &mut cur[16 * j..16 * j + 16],
                    )
                    .unwrap();
                    for (i, block) in prev[16 * j..16 * j + 16].iter().enumerate() {
                        let prefix = raw_prefix(block);
                        let bits = d.masks[(prefix >> (64 - MASK_BITS)) as usize];
                        if bits & !d.filter2[prefix as usize & d.mask] == 0 {
                            hits.push((16 * j + i) as u8);
                        }
                    }
                }
                s += hits.len() as u64;
            }
            s
        }),
        ("aes only, 18 calls of 8", |d| {
            let mut out = vec![Block::default(); 144];
            let mut s = 0u64;
            for c in &d.ciphers {
                for j in 0..18 {
                    c.encrypt_blocks_b2b(&d.input[8 * j..8 * j + 8], &mut out[8 * j..8 * j + 8])
                        .unwrap();
                }
                s += out[5][0] as u64;
            }
            s
        }),
        ("aes of key k in 18 chunks, F3 of key k-1 between", |d| {
            let mut out = vec![Block::default(); 288];
            let mut hits = Vec::with_capacity(144);
            let mut s = 0u64;
            for (k, c) in d.ciphers.iter().enumerate() {
                let (a, b) = out.split_at_mut(144);
                let (cur, prev) = if k % 2 == 0 { (a, &*b) } else { (b, &*a) };
                hits.clear();
                for j in 0..18 {
                    c.encrypt_blocks_b2b(&d.input[8 * j..8 * j + 8], &mut cur[8 * j..8 * j + 8])
                        .unwrap();
                    for (i, block) in prev[8 * j..8 * j + 8].iter().enumerate() {
                        let prefix = raw_prefix(block);
                        let bits = d.masks[(prefix >> (64 - MASK_BITS)) as usize];
                        if bits & !d.filter2[prefix as usize & d.mask] == 0 {
                            hits.push((8 * j + i) as u8);
                        }
                    }
                }
                s += hits.len() as u64;
            }
            s
        }),
        ("aes (L1 blocks) then plain xor-sum of 144 prefixes", |d| {
            let mut out = vec![Block::default(); 144];
            let mut s = 0u64;
            for c in &d.ciphers {
                c.encrypt_blocks_b2b(&d.input, &mut out).unwrap();
                let mut x = 0u64;
                for b in &out {
                    x = x.wrapping_add(raw_prefix(b));
                }
                s += x;
            }
            s
        }),
        ("aes chunks of 16, filter previous chunk", |d| {
            let mut out = vec![Block::default(); 144];
            let mut s = 0u64;
            for c in &d.ciphers {
                let mut hits = [0u64; 3];
                for j in 0..9 {
                    c.encrypt_blocks_b2b(
                        &d.input[16 * j..16 * j + 16],
                        &mut out[16 * j..16 * j + 16],
                    )
                    .unwrap();
                    if j > 0 {
                        filter_chunk(d, &out[16 * (j - 1)..16 * j], 16 * (j - 1), &mut hits);
                    }
                }
                filter_chunk(d, &out[128..144], 128, &mut hits);
                s += hits[0] ^ hits[1] ^ hits[2];
            }
            s
        }),
        ("aes of key k, filter of key k-1 (chunks of 16)", |d| {
            let mut out = vec![Block::default(); 288];
            let mut s = 0u64;
            for (k, c) in d.ciphers.iter().enumerate() {
                let (a, b) = out.split_at_mut(144);
                let (cur, prev) = if k % 2 == 0 { (a, &*b) } else { (b, &*a) };
                let mut hits = [0u64; 3];
                for j in 0..9 {
                    c.encrypt_blocks_b2b(
                        &d.input[16 * j..16 * j + 16],
                        &mut cur[16 * j..16 * j + 16],
                    )
                    .unwrap();
                    filter_chunk(d, &prev[16 * j..16 * j + 16], 16 * j, &mut hits);
                }
                s += hits[0] ^ hits[1] ^ hits[2];
            }
            s
        }),
        ("hkdf x4 then 4 x aes", |d| {
            let mut out = vec![Block::default(); 144];
            let mut batch = RpiBatch::default();
            let mut s = 0u64;
            for t in d.teks.chunks_exact(4) {
                let k = rpi_keys_x4(t.try_into().unwrap());
                for key in &k {
                    let b = key.day_rpis_into(2_833_200, &mut batch);
                    s += b[3][0] as u64;
                }
            }
            let _ = &mut out;
            s
        }),
        (
            "sha x4 compress x6 interleaved with aes 4x144 in 6 parts",
            |d| {
                let mut out = vec![Block::default(); 576];
                let mut states = [[1u32; 8]; 4];
                let blocks = [[7u8; 64]; 4];
                let mut s = 0u64;
                for (g, t) in d.ciphers.chunks_exact(4).enumerate() {
                    let _ = g;
                    for p in 0..6 {
                        warnkit_sha256x::compress256_x4(&mut states, &blocks);
                        let k = &t[p * 4 / 6];
                        let lo = p * 96;
                        for q in 0..6 {
                            let base = lo + q * 16;
                            k.encrypt_blocks_b2b(
                                &d.input[(base % 144)..(base % 144) + 16],
                                &mut out[base..base + 16],
                            )
                            .unwrap();
                        }
                    }
                    s += out[7][0] as u64 + states[0][0] as u64;
                }
                s
            },
        ),
        ("sha x4 compress x6, then aes 4x144", |d| {
            let mut out = vec![Block::default(); 576];
            let mut states = [[1u32; 8]; 4];
            let blocks = [[7u8; 64]; 4];
            let mut s = 0u64;
            for t in d.ciphers.chunks_exact(4) {
                for _ in 0..6 {
                    warnkit_sha256x::compress256_x4(&mut states, &blocks);
                }
                for (i, k) in t.iter().enumerate() {
                    k.encrypt_blocks_b2b(&d.input, &mut out[i * 144..i * 144 + 144])
                        .unwrap();
                }
                s += out[7][0] as u64 + states[0][0] as u64;
            }
            s
        }),
        ("sha x4 compress x6 only", |_d| {
            let mut states = [[1u32; 8]; 4];
            let blocks = [[7u8; 64]; 4];
            for _ in 0..KEYS / 4 {
                for _ in 0..6 {
                    warnkit_sha256x::compress256_x4(&mut states, black_box(&blocks));
                }
            }
            states[0][0] as u64
        }),
    ];
    let trials: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let mut best = vec![f64::INFINITY; cases.len()];
    for _ in 0..trials {
        for (b, (_, f)) in best.iter_mut().zip(&cases) {
            let start = Instant::now();
            black_box(f(&mut d));
            *b = b.min(start.elapsed().as_nanos() as f64 / KEYS as f64);
        }
    }
    for ((name, _), b) in cases.iter().zip(best) {
        println!("{name:<60} {b:7.1} ns/key");
    }
}
