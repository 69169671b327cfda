//! The matcher as committed before this work, for before/after runs in one process.
#![allow(dead_code)]

use warnkit_protocol::crypto::{rpi_keys_x4, AemKey, RpiBatch, RpiKey, KEY_LEN};
use warnkit_protocol::matching::{DiagnosisKey, Match, MatchOptions, Observation};
const TEK_ROLLING_PERIOD: u32 = 144;

/// One slot of the hash table: an RPI prefix and the run of observations carrying it.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    prefix: u64,
    start: u32,
    len: u32,
}

/// The scan log, indexed for matching. Build once per matching session, then match any number of keys.
#[derive(Debug, Clone)]
pub struct OldIndex {
    /// Observations sorted by RPI; `order[i]` is the caller's index of `observations[i]`.
    observations: Vec<Observation>,
    order: Vec<u32>,
    slots: Vec<Slot>,
    slot_mask: usize,
    filter: Vec<u64>,
    filter_words_mask: usize,
    /// Distinct observed intervals, sorted: answers "anything seen in this range?" by binary search.
    intervals: Vec<u32>,
}

/// Filter size: with three bits per RPI in one word this leaves ~0.5% false positives.
const FILTER_BITS_PER_RPI: usize = 16;

/// The three filter bits of a prefix within its word. The word index uses the low bits and the table
/// the bits from 32 up, so these come from bits 40..58, independent of both.
fn filter_bits(prefix: u64) -> u64 {
    (1 << ((prefix >> 40) & 63)) | (1 << ((prefix >> 46) & 63)) | (1 << ((prefix >> 52) & 63))
}

/// The RPI's first 8 bytes as a table key; 0 marks an empty slot, so a zero prefix is moved to 1.
fn prefix_of(rpi: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&rpi[..8]);
    u64::from_le_bytes(first).max(1)
}

impl OldIndex {
    /// Indexes a scan log. The log may hold one RPI many times (one per scan).
    pub fn new(log: &[Observation]) -> Self {
        assert!(
            log.len() < u32::MAX as usize,
            "a scan log of 4 billion sightings is not a phone's"
        );
        let mut order: Vec<u32> = (0..log.len() as u32).collect();
        order.sort_unstable_by_key(|&i| (log[i as usize].rpi, log[i as usize].interval));
        let observations: Vec<Observation> = order.iter().map(|&i| log[i as usize]).collect();

        let distinct = observations
            .windows(2)
            .filter(|w| w[0].rpi != w[1].rpi)
            .count()
            + 1;
        // Load factor ≤ 1/2 keeps linear probes short.
        let slot_count = (distinct * 2).next_power_of_two().max(16);
        let mut slots = vec![Slot::default(); slot_count];
        let slot_mask = slot_count - 1;
        let filter_words = (distinct * FILTER_BITS_PER_RPI / 64)
            .next_power_of_two()
            .max(1);
        let mut filter = vec![0u64; filter_words];
        let filter_words_mask = filter_words - 1;

        let mut start = 0usize;
        while start < observations.len() {
            let rpi = observations[start].rpi;
            let mut end = start + 1;
            while end < observations.len() && observations[end].rpi == rpi {
                end += 1;
            }
            let prefix = prefix_of(&rpi.0);
            let mut pos = (prefix >> 32) as usize & slot_mask;
            while slots[pos].prefix != 0 {
                pos = (pos + 1) & slot_mask;
            }
            slots[pos] = Slot {
                prefix,
                start: start as u32,
                len: (end - start) as u32,
            };
            filter[prefix as usize & filter_words_mask] |= filter_bits(prefix);
            start = end;
        }

        let mut intervals: Vec<u32> = observations.iter().map(|o| o.interval).collect();
        intervals.sort_unstable();
        intervals.dedup();
        Self {
            observations,
            order,
            slots,
            slot_mask,
            filter,
            filter_words_mask,
            intervals,
        }
    }

    /// Number of sightings indexed.
    pub fn len(&self) -> usize {
        self.observations.len()
    }

    /// Whether the scan log was empty.
    pub fn is_empty(&self) -> bool {
        self.observations.is_empty()
    }

    /// Whether any sighting falls in `[lo, hi]`.
    fn any_observed_between(&self, lo: u32, hi: u32) -> bool {
        let i = self.intervals.partition_point(|&x| x < lo);
        i < self.intervals.len() && self.intervals[i] <= hi
    }

    /// The observations carrying `rpi`, as a range into `self.observations`.
    fn lookup(&self, rpi: &[u8]) -> Option<std::ops::Range<usize>> {
        let prefix = prefix_of(rpi);
        let bits = filter_bits(prefix);
        if self.filter[prefix as usize & self.filter_words_mask] & bits != bits {
            return None;
        }
        let mut pos = (prefix >> 32) as usize & self.slot_mask;
        loop {
            let slot = self.slots[pos];
            if slot.prefix == 0 {
                return None;
            }
            if slot.prefix == prefix {
                let range = slot.start as usize..(slot.start + slot.len) as usize;
                // Equal prefixes of different RPIs are astronomically rare, but must not match.
                if self.observations[range.start].rpi.0[..] == rpi[..KEY_LEN] {
                    return Some(range);
                }
            }
            pos = (pos + 1) & self.slot_mask;
        }
    }

    /// Matches diagnosis keys against the scan log. Results are ordered by key, then by RPI interval.
    pub fn match_keys(&self, keys: &[DiagnosisKey], options: &MatchOptions) -> Vec<Match> {
        if self.is_empty() {
            return Vec::new();
        }
        self.match_chunk(keys, 0, options)
    }

    fn match_chunk(
        &self,
        keys: &[DiagnosisKey],
        offset: usize,
        options: &MatchOptions,
    ) -> Vec<Match> {
        let mut out = Vec::new();
        let mut batch = RpiBatch::default();
        // Keys that have sightings in their window are derived four at a time (see `rpi_keys_x4`).
        let mut pending: Vec<usize> = Vec::with_capacity(4);
        let candidates = keys.iter().enumerate().filter(|(_, key)| {
            let lo = key.rolling_start.saturating_sub(options.tolerance);
            let hi = key
                .rolling_start
                .saturating_add(TEK_ROLLING_PERIOD - 1 + options.tolerance);
            self.any_observed_between(lo, hi)
        });
        for (k, _) in candidates {
            pending.push(k);
            if pending.len() == 4 {
                let teks = [0, 1, 2, 3].map(|i| keys[pending[i]].tek);
                for (i, rpik) in rpi_keys_x4(&teks).iter().enumerate() {
                    let k = pending[i];
                    self.match_key(&keys[k], rpik, offset + k, options, &mut batch, &mut out);
                }
                pending.clear();
            }
        }
        // The last few keys come after every group of four, so results stay ordered by key.
        for &k in &pending {
            self.match_key(
                &keys[k],
                &keys[k].tek.rpi_key(),
                offset + k,
                options,
                &mut batch,
                &mut out,
            );
        }
        out
    }

    fn match_key(
        &self,
        key: &DiagnosisKey,
        rpik: &RpiKey,
        key_index: usize,
        options: &MatchOptions,
        batch: &mut RpiBatch,
        out: &mut Vec<Match>,
    ) {
        // The reference matcher derives all 144 RPIs whatever the rolling period says; a key with a
        // short period simply has no sightings for the rest.
        let blocks = rpik.day_rpis_into(key.rolling_start, batch);
        // First the filter for all 144 RPIs, without branches, so the loads overlap; then only the
        // few hits (real ones and ~0.5% false positives) go to the table.
        let mut hits = [0u64; 3];
        for (i, block) in blocks.iter().enumerate() {
            let prefix = prefix_of(block.as_slice());
            let bits = filter_bits(prefix);
            let hit = self.filter[prefix as usize & self.filter_words_mask] & bits == bits;
            hits[i / 64] |= u64::from(hit) << (i % 64);
        }
        let mut aem_key: Option<AemKey> = None;
        let candidates = hits.iter().enumerate().flat_map(|(w, &word)| {
            std::iter::successors(Some(word), |m| Some(m & m.wrapping_sub(1)))
                .take_while(|m| *m != 0)
                .map(move |m| w * 64 + m.trailing_zeros() as usize)
        });
        for i in candidates {
            let block = &blocks[i];
            let Some(range) = self.lookup(block.as_slice()) else {
                continue;
            };
            let rpi_interval = key.rolling_start.wrapping_add(i as u32);
            let aemk = *aem_key.get_or_insert_with(|| key.tek.aem_key());
            for (pos, obs) in self.observations[range.clone()].iter().enumerate() {
                if obs.interval.abs_diff(rpi_interval) > options.tolerance {
                    continue;
                }
                let metadata = aemk.decrypt(&obs.rpi, obs.aem);
                if let Some((min, max)) = options.tx_power_bounds {
                    if metadata.tx_power < min || metadata.tx_power > max {
                        continue;
                    }
                }
                let attenuation =
                    (i16::from(metadata.tx_power) - i16::from(obs.rssi)).clamp(0, 255);
                out.push(Match {
                    key_index,
                    observation_index: self.order[range.start + pos] as usize,
                    rpi_interval,
                    observed_interval: obs.interval,
                    rssi: obs.rssi,
                    tx_power: metadata.tx_power,
                    calibration_confidence: metadata.calibration_confidence,
                    attenuation: attenuation as u8,
                });
            }
        }
    }
}
