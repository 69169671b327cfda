//! The fast path of matching: keys in groups of sixteen, from the skip test through the filter probes
//! to the table lookups of the whole group, and the buffers and caches reused between groups.

use warnkit_aesx::Aes128;

use super::filter::{prefix_of, Filter};
use super::{DiagnosisKey, Match, MatchOptions, ObservationIndex};
use crate::crypto::{padded_data, rpi_key_bytes_x16, Tek, KEY_LEN};
use crate::interval::TEK_ROLLING_PERIOD;

impl ObservationIndex {
    /// Matches a run of keys on one thread; `offset` is the run's position in the caller's slice.
    pub(super) fn match_chunk(
        &self,
        keys: &[DiagnosisKey],
        offset: usize,
        options: &MatchOptions,
    ) -> Vec<Match> {
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        let mut windows = WindowCache::default();
        // Keys that have sightings in their window are derived sixteen at a time (see
        // `rpi_key_bytes_x16`); groups keep the keys' order, so results stay ordered by key.
        let mut group = [(0usize, &self.filter); 16];
        let mut len = 0;
        for (k, key) in keys.iter().enumerate() {
            let Some(filter) = windows.filter_for(self, key.rolling_start, options.tolerance)
            else {
                continue;
            };
            group[len] = (k, filter);
            len += 1;
            if len == group.len() {
                self.match_group(keys, &group, offset, options, &mut scratch, &mut out);
                len = 0;
            }
        }
        if len > 0 {
            self.match_group(keys, &group[..len], offset, options, &mut scratch, &mut out);
        }
        out
    }

    /// Up to sixteen keys: their RPI keys in one 16-lane HKDF (a short group repeats its last key
    /// in the unused lanes), then each key's RPIs through its filter, then the table lookups of
    /// the whole group's candidates.
    ///
    /// The lookups go last, all together, because the table is large (16 bytes × 2 slots per
    /// distinct RPI: megabytes for a two-week scan log) and nearly every candidate misses the
    /// caches. Loading every candidate's first slot in one branch-free loop lets those misses
    /// overlap instead of each stalling the key's loop in turn.
    fn match_group(
        &self,
        keys: &[DiagnosisKey],
        group: &[(usize, &Filter)],
        offset: usize,
        options: &MatchOptions,
        scratch: &mut Scratch,
        out: &mut Vec<Match>,
    ) {
        let teks: [Tek; 16] = std::array::from_fn(|i| keys[group[i.min(group.len() - 1)].0].tek);
        let raw = rpi_key_bytes_x16(&teks);
        let candidates = &mut scratch.candidates;
        candidates.clear();
        let mut hits = [0u8; TEK_ROLLING_PERIOD as usize];
        let Scratch {
            plaintexts, output, ..
        } = scratch;
        for (g, (&(k, filter), raw)) in group.iter().zip(&raw).enumerate() {
            // The reference matcher derives all 144 RPIs whatever the rolling period says; a key
            // with a short period simply has no sightings for the rest.
            let input = plaintexts.day(keys[k].rolling_start);
            let count =
                Aes128::new(raw).encrypt_and_probe(input, output, &filter.probe(), &mut hits);
            for &i in &hits[..count] {
                let i = usize::from(i);
                candidates.push((g, i, output[i]));
            }
        }
        if candidates.is_empty() {
            return;
        }
        let mut touched = 0u64;
        for (_, _, block) in candidates.iter() {
            let prefix = prefix_of(block);
            touched ^= self.slots[(prefix >> 32) as usize & self.slot_mask].prefix;
        }
        std::hint::black_box(touched);
        let mut aem_keys = [None; 16];
        for &(g, i, block) in candidates.iter() {
            if let Some(range) = self.lookup(&block) {
                let k = group[g].0;
                self.emit(
                    &keys[k],
                    offset + k,
                    i,
                    range,
                    &mut aem_keys[g],
                    options,
                    out,
                );
            }
        }
    }
}

/// Buffers reused from one group of keys to the next.
struct Scratch {
    plaintexts: DayPlaintexts,
    /// The RPIs of the key at hand.
    output: [[u8; KEY_LEN]; TEK_ROLLING_PERIOD as usize],
    /// (position in the group, RPI number, RPI) of every block that passed its filter.
    candidates: Vec<(usize, usize, [u8; KEY_LEN])>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            plaintexts: DayPlaintexts::default(),
            output: [[0; KEY_LEN]; TEK_ROLLING_PERIOD as usize],
            candidates: Vec::new(),
        }
    }
}

/// The 144 RPI plaintexts of recent days, direct-mapped by day: consecutive keys of a published batch
/// belong to different days, and rewriting the interval numbers for each key costs ~10 % of its loop.
struct DayPlaintexts {
    days: Vec<(Option<u32>, [[u8; KEY_LEN]; TEK_ROLLING_PERIOD as usize])>,
}

impl Default for DayPlaintexts {
    fn default() -> Self {
        Self {
            days: vec![(None, [[0; KEY_LEN]; TEK_ROLLING_PERIOD as usize]); 16],
        }
    }
}

impl DayPlaintexts {
    /// The plaintexts of the 144 intervals from `start`, built on first use.
    fn day(&mut self, start: u32) -> &[[u8; KEY_LEN]; TEK_ROLLING_PERIOD as usize] {
        let (cached, blocks) = &mut self.days[(start / TEK_ROLLING_PERIOD) as usize % 16];
        if *cached != Some(start) {
            for (i, block) in (0..).zip(blocks.iter_mut()) {
                *block = padded_data(start.wrapping_add(i));
            }
            *cached = Some(start);
        }
        blocks
    }
}

/// Remembers, for recent rolling starts, whether any sighting falls in a key's window and which
/// filter to probe: published keys cover a handful of days, so nearly every key repeats an answer,
/// and the binary searches behind it cost ~10 mispredicted branches each.
#[derive(Default)]
struct WindowCache<'a> {
    entries: [Option<(u32, Option<&'a Filter>)>; 16],
}

impl<'a> WindowCache<'a> {
    /// The filter for a key starting at `start`, or `None` when nothing was seen in its window.
    fn filter_for(
        &mut self,
        index: &'a ObservationIndex,
        start: u32,
        tolerance: u32,
    ) -> Option<&'a Filter> {
        let entry = &mut self.entries[(start / TEK_ROLLING_PERIOD) as usize % 16];
        match *entry {
            Some((cached, answer)) if cached == start => answer,
            _ => {
                let lo = start.saturating_sub(tolerance);
                let hi = start.saturating_add(TEK_ROLLING_PERIOD - 1 + tolerance);
                let answer = index
                    .any_observed_between(lo, hi)
                    .then(|| index.filter_for(start, tolerance));
                *entry = Some((start, answer));
                answer
            }
        }
    }
}

/// Keys per parallel work item: large enough to amortise scheduling, small enough to balance.
#[cfg(feature = "parallel")]
pub(super) const CHUNK: usize = 2048;
