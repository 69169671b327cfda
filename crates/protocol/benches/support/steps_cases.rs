//! The timed steps of matching: each case a name (the one printed in the results) and a pass over
//! [`Data`]'s keys.

use std::hint::black_box;

use aes::cipher::BlockEncrypt;
use warnkit_protocol::crypto::{rpi_keys_x4, Block, RpiBatch};

use crate::steps_data::{
    f2_pass, f3_pass, f4_pass, f5_pass, f6_pass, filter_chunk, filter_pass, raw_prefix, Data, KEYS,
    MASK_BITS,
};

/// A named step; the function returns a value derived from its work, so nothing is optimised away.
pub type Case = (&'static str, fn(&mut Data) -> u64);

/// Every step, in the order the results are printed.
pub fn cases() -> Vec<Case> {
    vec![
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
        (
            "hkdf x16 then 16 x (Aes128::new + encrypt_and_probe), 256KB filter",
            |d| {
                let masks: &[u64; 1024] = d.masks[..].try_into().unwrap();
                let probe = warnkit_aesx::Probe::new(&d.absent2, masks);
                let mut out = [[0u8; 16]; 144];
                let mut hits = [0u8; 144];
                let mut s = 0u64;
                for t in d.teks.chunks_exact(16) {
                    let raw = warnkit_protocol::crypto::rpi_key_bytes_x16(t.try_into().unwrap());
                    for r in &raw {
                        let n = warnkit_aesx::Aes128::new(r).encrypt_and_probe(
                            &d.raw_input,
                            &mut out,
                            &probe,
                            &mut hits,
                        );
                        s += n as u64 + u64::from(out[5][0]);
                    }
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
    ]
}
