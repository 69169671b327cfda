//! The blocked Bloom filters in front of the observation table, and the RPI prefixes both are keyed by.

use warnkit_aesx::Probe;

/// A blocked Bloom filter over RPIs: three bits (a pattern from [`FILTER_MASKS`]) in one word.
#[derive(Debug, Clone)]
pub(super) struct Filter {
    /// Stored inverted (a set bit is a bit no RPI set), which saves the probe a `not`.
    absent: Vec<u64>,
    mask: usize,
}

impl Filter {
    /// An empty filter sized for `rpis` distinct RPIs.
    pub(super) fn with_capacity(rpis: usize, bits_per_rpi: usize) -> Self {
        let words = (rpis * bits_per_rpi / 64).next_power_of_two().max(1);
        Self {
            absent: vec![!0; words],
            mask: words - 1,
        }
    }

    pub(super) fn insert(&mut self, rpi: &[u8]) {
        let prefix = raw_prefix(rpi);
        self.absent[prefix as usize & self.mask] &= !filter_bits(prefix);
    }

    /// The filter as the AES kernel probes it, between the rounds of the next blocks.
    pub(super) fn probe(&self) -> Probe<'_> {
        Probe::new(&self.absent, &FILTER_MASKS)
    }
}

/// Size of the global filter in bits per distinct observed RPI (before rounding up to a power of
/// two). It only serves keys that do not start on a day boundary, so it favours few false
/// positives (each one a likely cache miss in the big table) over size.
pub(super) const FILTER_BITS_PER_RPI: usize = 32;

/// The same for the per-day filters, which serve nearly every key: 16 bits per RPI keeps a day
/// of a 100k-sighting log in 32 KiB. Measured against 8 and 32 (`docs/benchmarks-matching.md`):
/// 8 doubles the false positives, 32 falls out of L1; both were 4-7 % slower overall.
pub(super) const DAY_FILTER_BITS_PER_RPI: usize = 16;

/// Index bits of [`FILTER_MASKS`], taken from the top of the prefix: the filter word comes from the
/// low bits and the hash table slot from bits 32 up, so the three stay independent.
const FILTER_MASK_INDEX_BITS: u32 = 10;

/// Three-bit patterns for the filter, one per value of the prefix's top bits. A lookup costs one
/// L1 load, where computing three shifted bits costs about eight instructions per probe, and the
/// filter is probed 144 times per key. (8 KiB: small enough to stay in L1 next to the RPIs.)
static FILTER_MASKS: [u64; 1 << FILTER_MASK_INDEX_BITS] = filter_masks();

/// Three distinct bit positions per entry, from a fixed splitmix64 stream.
const fn filter_masks() -> [u64; 1 << FILTER_MASK_INDEX_BITS] {
    let mut masks = [0u64; 1 << FILTER_MASK_INDEX_BITS];
    let mut seed = 0x005e_ed0f_f11e_u64;
    let mut i = 0;
    while i < masks.len() {
        let mut mask = 0u64;
        while mask.count_ones() < 3 {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            mask |= 1 << (z >> 58);
        }
        masks[i] = mask;
        i += 1;
    }
    masks
}

/// The filter bits of a (raw) prefix within its word.
fn filter_bits(prefix: u64) -> u64 {
    FILTER_MASKS[(prefix >> (64 - FILTER_MASK_INDEX_BITS)) as usize]
}

/// An RPI block's first 8 bytes as they are, for the filter.
fn raw_prefix(rpi: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&rpi[..8]);
    u64::from_le_bytes(first)
}

/// The RPI's first 8 bytes as a table key; 0 marks an empty slot, so a zero prefix is moved to 1.
pub(super) fn prefix_of(rpi: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&rpi[..8]);
    u64::from_le_bytes(first).max(1)
}
