//! The blocked Bloom filters in front of the observation table, and the RPI prefixes both are keyed by.

use warnkit_aesx::Probe;

/// A blocked Bloom filter over RPIs: [`FILTER_PATTERN_BITS`] bits (a pattern from [`FILTER_MASKS`])
/// in one word.
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

/// Bits set per RPI in its filter word. A probe costs the same for any number (one pattern load, one
/// `and`), so the count only trades false positives, each a likely cache miss in the observation
/// table, against a fuller word. Matching 1M keys against 100k RPIs, alternating builds (Zen 5,
/// `matching_steps -- whole`): 3 bits 0.48-0.49 of the AES bound on the SHA-NI kernel and
/// 0.55-0.56 on AVX-512, 4 and 5 in between, **6** 0.50-0.51 and 0.57-0.59, 8 worse again
/// (0.49 / 0.57): the 16-bit-per-RPI day filters fill up.
pub(super) const FILTER_PATTERN_BITS: u32 = 6;

/// Patterns of [`FILTER_PATTERN_BITS`] bits for the filter, one per value of the prefix's top bits.
/// A lookup costs one L1 load, where computing the shifted bits costs several instructions per
/// probe, and the filter is probed 144 times per key. (8 KiB: small enough to stay in L1 next to
/// the RPIs.)
static FILTER_MASKS: [u64; 1 << FILTER_MASK_INDEX_BITS] = filter_masks();

/// [`FILTER_PATTERN_BITS`] distinct bit positions per entry, from a fixed splitmix64 stream.
const fn filter_masks() -> [u64; 1 << FILTER_MASK_INDEX_BITS] {
    let mut masks = [0u64; 1 << FILTER_MASK_INDEX_BITS];
    let mut seed = 0x005e_ed0f_f11e_u64;
    let mut i = 0;
    while i < masks.len() {
        let mut mask = 0u64;
        while mask.count_ones() < FILTER_PATTERN_BITS {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// RPI-sized blocks from a fixed splitmix64 stream, different for each `stream`.
    fn blocks(stream: u64, n: usize) -> Vec<[u8; 16]> {
        let mut seed = stream.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let mut next = move || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        (0..n)
            .map(|_| {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&next().to_le_bytes());
                b[8..].copy_from_slice(&next().to_le_bytes());
                b
            })
            .collect()
    }

    #[test]
    fn every_pattern_has_its_bits_and_the_patterns_differ() {
        assert!(FILTER_MASKS
            .iter()
            .all(|m| m.count_ones() == FILTER_PATTERN_BITS));
        let distinct: std::collections::HashSet<_> = FILTER_MASKS.iter().collect();
        assert!(distinct.len() > FILTER_MASKS.len() * 99 / 100);
    }

    #[test]
    fn members_always_pass_and_few_others_do_at_day_filter_density() {
        let members = blocks(1, 100_000);
        let mut filter = Filter::with_capacity(members.len(), DAY_FILTER_BITS_PER_RPI);
        for m in &members {
            filter.insert(m);
        }
        let probe = filter.probe();
        assert!(members.iter().all(|m| probe.passes(m)));
        let others = blocks(2, 1_000_000);
        let false_positives = others.iter().filter(|b| probe.passes(b)).count();
        // Each false positive is an observation-table lookup, 144 probes per key: six bits per
        // RPI pass about 4,450 here, three bits about 6,700.
        assert!(
            false_positives < 5_500,
            "{false_positives} of {} non-members pass",
            others.len()
        );
    }
}
