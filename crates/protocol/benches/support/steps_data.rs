//! The inputs the per-step cases of `matching_steps` time, and the filter probes (F2-F6) the matcher's
//! probe was chosen from.

use aes::cipher::KeyInit;
use aes::Aes128Enc;
use rand::{Rng, SeedableRng};
use warnkit_protocol::crypto::{Block, Tek};

/// Keys per case run; the results are per key.
pub const KEYS: usize = 256;

/// Everything the cases read, built once.
pub struct Data {
    pub teks: Vec<Tek>,
    pub blocks: Vec<Block>,
    pub filter: Vec<u64>,
    pub mask: usize,
    pub ciphers: Vec<Aes128Enc>,
    pub input: Vec<Block>,
    pub masks: Vec<u64>,
    pub filter2: Vec<u64>,
    /// `filter2` inverted, as `warnkit_aesx::Probe` reads it (the matcher's layout).
    pub absent2: Vec<u64>,
    /// `input` as the raw blocks `warnkit_aesx` takes: a day's plaintexts, as `DayPlaintexts` caches.
    pub raw_input: Vec<[u8; 16]>,
}

impl Data {
    /// The same inputs on every run: random TEKs and blocks, and filters of 100k random prefixes,
    /// all from fixed seeds.
    pub fn new() -> Self {
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
        Data {
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
        }
    }
}

/// Index bits of the mask table (`1 << MASK_BITS` three-bit patterns), as in the matcher.
pub const MASK_BITS: u32 = 10;

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

/// F2: the computed three-bit probe, hits gathered in register accumulators.
pub fn f2_pass(d: &Data, blocks: &[Block]) -> [u64; 3] {
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

/// A block's first 8 bytes as they are.
pub fn raw_prefix(block: &Block) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&block[..8]);
    u64::from_le_bytes(first)
}

/// F3: the mask-table probe, a branch per hit into a list.
pub fn f3_pass(d: &Data, blocks: &[Block], out: &mut Vec<u8>) {
    out.clear();
    for (i, block) in blocks.iter().enumerate() {
        let prefix = raw_prefix(block);
        let bits = d.masks[(prefix >> (64 - MASK_BITS)) as usize];
        if bits & !d.filter2[prefix as usize & d.mask] == 0 {
            out.push(i as u8);
        }
    }
}

/// F5: the mask-table probe, branch-free into a list.
pub fn f5_pass(
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

/// F6: the mask-table probe, a branch per hit into a fixed list.
pub fn f6_pass(
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

/// F4: the mask-table probe, branch-free into bit masks.
pub fn f4_pass(d: &Data, blocks: &[Block]) -> [u64; 3] {
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

/// The computed three-bit probe over a key's 144 blocks, hits as bit masks.
pub fn filter_pass(d: &Data, blocks: &[Block]) -> [u64; 3] {
    let mut hits = [0u64; 3];
    for (i, block) in blocks.iter().enumerate() {
        let prefix = prefix_of(block.as_slice());
        let bits = filter_bits(prefix);
        let hit = d.filter[prefix as usize & d.mask] & bits == bits;
        hits[i / 64] |= u64::from(hit) << (i % 64);
    }
    hits
}

/// [`filter_pass`] over part of a key's blocks, starting at block `base`.
pub fn filter_chunk(d: &Data, blocks: &[Block], base: usize, hits: &mut [u64; 3]) {
    for (j, block) in blocks.iter().enumerate() {
        let i = base + j;
        let prefix = prefix_of(block.as_slice());
        let bits = filter_bits(prefix);
        let hit = d.filter[prefix as usize & d.mask] & bits == bits;
        hits[i / 64] |= u64::from(hit) << (i % 64);
    }
}
