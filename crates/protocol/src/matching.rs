//! The matching engine: diagnosis keys × a phone's scan log → exposures.
//!
//! Built for throughput, since a phone matches every published key of the last two weeks
//! (figures and the reasoning behind each step in `docs/benchmarks-matching.md`):
//! - the observed RPIs go into a compact open-addressing table keyed by their first 8 bytes (RPIs are
//!   AES outputs, so those bytes are already a uniform hash), fronted by blocked Bloom filters (a
//!   three-bit pattern from a fixed table in one 64-bit word): one over the whole log and one per
//!   day holding only what a key of that day can match, small enough to stay in L1/L2, so the large
//!   table is touched almost only for real matches;
//! - RPI keys are derived sixteen at a time, the sixteen HKDF chains side by side in AVX-512 lanes
//!   (`warnkit-sha256x`; SHA-NI pairs or plain `sha2` on other CPUs);
//! - each key's 144 RPIs are produced eight blocks at a time, so AES-NI pipelines them, from
//!   plaintexts cached per day, and each RPI's filter probe is issued between the rounds of the next
//!   eight blocks (`warnkit-aesx`), so the probes run while the AES units work;
//! - the table lookups of a whole group of keys go last, together, so their cache misses overlap;
//! - keys whose validity window holds no observation at all are skipped before any crypto;
//! - the AEM key is derived only for keys that matched;
//! - with the `parallel` feature, keys are split across threads.

mod filter;
mod groups;
mod workload;

use crate::crypto::{AemKey, CalibrationConfidence, Rpi, Tek, KEY_LEN, METADATA_LEN};
use crate::interval::{MATCHING_TOLERANCE, TEK_ROLLING_PERIOD};
use filter::{prefix_of, Filter, DAY_FILTER_BITS_PER_RPI, FILTER_BITS_PER_RPI};
#[cfg(feature = "parallel")]
use groups::CHUNK;
pub use workload::Workload;

/// One RPI sighting in the scan log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The RPI that was received.
    pub rpi: Rpi,
    /// The interval number of the receiver's clock at the sighting.
    pub interval: u32,
    /// The calibrated received signal strength in dBm.
    pub rssi: i8,
    /// The encrypted metadata received with the RPI.
    pub aem: [u8; METADATA_LEN],
}

/// A published diagnosis key, as far as matching needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagnosisKey {
    /// The TEK.
    pub tek: Tek,
    /// First interval of the key's validity.
    pub rolling_start: u32,
    /// Number of intervals the key was valid for (1..=144).
    pub rolling_period: u32,
}

/// Options of a matching run; the defaults follow the Google reference matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchOptions {
    /// Tolerance in intervals between an RPI's own interval and the sighting's (default 12, ±2 h).
    pub tolerance: u32,
    /// Accepted range of decrypted TX power in dBm; sightings outside are rejected as garbled
    /// metadata (default −50..=20). `None` accepts any value.
    pub tx_power_bounds: Option<(i8, i8)>,
    /// Spread the keys over threads (needs the `parallel` feature; ignored without it).
    pub parallel: bool,
}

impl Default for MatchOptions {
    fn default() -> Self {
        Self {
            tolerance: MATCHING_TOLERANCE,
            tx_power_bounds: Some((-50, 20)),
            parallel: true,
        }
    }
}

/// One sighting that belongs to a diagnosis key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index of the key in the slice passed to [`ObservationIndex::match_keys`].
    pub key_index: usize,
    /// Index of the observation in the scan log the index was built from.
    pub observation_index: usize,
    /// The interval the RPI belongs to (the sender's clock).
    pub rpi_interval: u32,
    /// The interval of the sighting (the receiver's clock).
    pub observed_interval: u32,
    /// The calibrated RSSI of the sighting.
    pub rssi: i8,
    /// The transmit power from the decrypted metadata.
    pub tx_power: i8,
    /// The calibration confidence from the decrypted metadata.
    pub calibration_confidence: CalibrationConfidence,
    /// TX power − RSSI in dB, floored at 0.
    pub attenuation: u8,
}

/// One slot of the hash table: an RPI prefix and the run of observations carrying it.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    prefix: u64,
    start: u32,
    len: u32,
}

/// The scan log, indexed for matching. Build once per matching session, then match any number of keys.
#[derive(Debug, Clone)]
pub struct ObservationIndex {
    /// Observations sorted by RPI; `order[i]` is the caller's index of `observations[i]`.
    observations: Vec<Observation>,
    order: Vec<u32>,
    slots: Vec<Slot>,
    slot_mask: usize,
    /// Over every observed RPI.
    filter: Filter,
    /// Per UTC day `d` (sorted by `d`): the RPIs seen within [`MATCHING_TOLERANCE`] of the day's
    /// 144 intervals, all that a key starting at the day's first interval can match. A tenth of the
    /// global filter's size for two weeks of scans, so it stays in L1/L2 and is cheaper per probe.
    day_filters: Vec<(u32, Filter)>,
    /// Distinct observed intervals, sorted: answers "anything seen in this range?" by binary search.
    intervals: Vec<u32>,
}

impl ObservationIndex {
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
        let mut filter = Filter::with_capacity(distinct, FILTER_BITS_PER_RPI);
        // (day, start of the RPI's run) for every day filter an RPI belongs in.
        let mut days: Vec<(u32, u32)> = Vec::with_capacity(observations.len() * 2);

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
            filter.insert(&rpi.0);
            for obs in &observations[start..end] {
                let period = TEK_ROLLING_PERIOD;
                days.push((
                    obs.interval.saturating_sub(MATCHING_TOLERANCE) / period,
                    start as u32,
                ));
                days.push((
                    obs.interval.saturating_add(MATCHING_TOLERANCE) / period,
                    start as u32,
                ));
            }
            start = end;
        }

        days.sort_unstable();
        days.dedup();
        let day_filters = days
            .chunk_by(|a, b| a.0 == b.0)
            .map(|runs| {
                let mut filter = Filter::with_capacity(runs.len(), DAY_FILTER_BITS_PER_RPI);
                for &(_, start) in runs {
                    filter.insert(&observations[start as usize].rpi.0);
                }
                (runs[0].0, filter)
            })
            .collect();

        let mut intervals: Vec<u32> = observations.iter().map(|o| o.interval).collect();
        intervals.sort_unstable();
        intervals.dedup();
        Self {
            observations,
            order,
            slots,
            slot_mask,
            filter,
            day_filters,
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

    /// The smallest filter that holds every RPI a key starting at `start` can match: its day's
    /// filter for a day-aligned key and a tolerance within the one the day filters were built
    /// with, else the global one.
    fn filter_for(&self, start: u32, tolerance: u32) -> &Filter {
        let day = start / TEK_ROLLING_PERIOD;
        if !start.is_multiple_of(TEK_ROLLING_PERIOD) || tolerance > MATCHING_TOLERANCE {
            return &self.filter;
        }
        match self.day_filters.binary_search_by_key(&day, |(d, _)| *d) {
            Ok(i) => &self.day_filters[i].1,
            // No sighting near the day, so no day filter: fall back to the global filter, which
            // holds every RPI a key of the day could match. (Not reached from `WindowCache`, which
            // asks only for keys with a sighting in their window, and such a sighting puts the RPI
            // in the day's filter.)
            Err(_) => &self.filter,
        }
    }

    /// Whether any sighting falls in `[lo, hi]`.
    fn any_observed_between(&self, lo: u32, hi: u32) -> bool {
        let i = self.intervals.partition_point(|&x| x < lo);
        i < self.intervals.len() && self.intervals[i] <= hi
    }

    /// The observations carrying `rpi`, as a range into `self.observations`, from the hash table
    /// alone (the filter is the caller's business).
    fn lookup(&self, rpi: &[u8]) -> Option<std::ops::Range<usize>> {
        let prefix = prefix_of(rpi);
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
        #[cfg(feature = "parallel")]
        if options.parallel && keys.len() >= 2 * CHUNK {
            use rayon::prelude::*;
            let parts: Vec<Vec<Match>> = keys
                .par_chunks(CHUNK)
                .enumerate()
                .map(|(c, chunk)| self.match_chunk(chunk, c * CHUNK, options))
                .collect();
            return parts.concat();
        }
        self.match_chunk(keys, 0, options)
    }

    /// The straightforward matcher the fast path is tested against: each key's RPI key on its
    /// own, each RPI generated alone and looked up in the hash table without the filter. Same
    /// results in the same order as [`ObservationIndex::match_keys`], many times slower. Not API.
    #[doc(hidden)]
    pub fn match_keys_reference(
        &self,
        keys: &[DiagnosisKey],
        options: &MatchOptions,
    ) -> Vec<Match> {
        let mut out = Vec::new();
        for (k, key) in keys.iter().enumerate() {
            let rpik = key.tek.rpi_key();
            let mut aem_key = None;
            for i in 0..TEK_ROLLING_PERIOD {
                let rpi = rpik.rpi(key.rolling_start.wrapping_add(i));
                if let Some(range) = self.lookup(&rpi.0) {
                    self.emit(key, k, i as usize, range, &mut aem_key, options, &mut out);
                }
            }
        }
        out
    }

    /// Emits the sightings in `range` that fall within the tolerance of the key's RPI number `i`
    /// and carry plausible metadata.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        key: &DiagnosisKey,
        key_index: usize,
        i: usize,
        range: std::ops::Range<usize>,
        aem_key: &mut Option<AemKey>,
        options: &MatchOptions,
        out: &mut Vec<Match>,
    ) {
        let rpi_interval = key.rolling_start.wrapping_add(i as u32);
        for (pos, obs) in self.observations[range.clone()].iter().enumerate() {
            if obs.interval.abs_diff(rpi_interval) > options.tolerance {
                continue;
            }
            // Derived once per key, and only for keys with a sighting.
            let aemk = *aem_key.get_or_insert_with(|| key.tek.aem_key());
            let metadata = aemk.decrypt(&obs.rpi, obs.aem);
            if let Some((min, max)) = options.tx_power_bounds {
                if metadata.tx_power < min || metadata.tx_power > max {
                    continue;
                }
            }
            let attenuation = (i16::from(metadata.tx_power) - i16::from(obs.rssi)).clamp(0, 255);
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
