//! The synthetic workload that `warnkit bench match` and the matching benches time.

use super::{DiagnosisKey, Observation};
use crate::crypto::{Rpi, Tek};
use crate::interval::TEK_ROLLING_PERIOD;

/// A synthetic matching workload, the one `warnkit bench match` and the matching benches time.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Random diagnosis keys, one day each, spread evenly over 14 days.
    pub keys: Vec<DiagnosisKey>,
    /// Random sightings over the same 14 days (so no key can be skipped: the worst case), the first
    /// [`Workload::planted`] of them real sightings of random keys.
    pub log: Vec<Observation>,
    /// How many real sightings were planted: one per thousand sightings, but no more than there are
    /// keys. The keys they belong to are drawn with replacement, so a key may have several and others
    /// none.
    pub planted: usize,
}

impl Workload {
    /// First interval of the workload's 14 days (a day in November 2023).
    pub const FIRST_INTERVAL: u32 = 2_833_200;

    /// Builds `keys` keys and a log of `observed` sightings from `rng`.
    pub fn synthetic(rng: &mut impl rand_core::RngCore, keys: usize, observed: usize) -> Self {
        let day0 = Self::FIRST_INTERVAL;
        let mut below = |n: u32| (rng.next_u64() % u64::from(n)) as u32;
        let diagnosis: Vec<DiagnosisKey> = (0..keys)
            .map(|i| DiagnosisKey {
                tek: Tek(std::array::from_fn(|_| below(256) as u8)),
                rolling_start: day0 + TEK_ROLLING_PERIOD * (i % 14) as u32,
                rolling_period: TEK_ROLLING_PERIOD,
            })
            .collect();
        let mut log: Vec<Observation> = (0..observed)
            .map(|_| Observation {
                rpi: Rpi(std::array::from_fn(|_| below(256) as u8)),
                interval: day0 + below(14 * TEK_ROLLING_PERIOD),
                rssi: -60,
                aem: std::array::from_fn(|_| below(256) as u8),
            })
            .collect();
        let planted = (observed / 1000).min(keys);
        for slot in log.iter_mut().take(planted) {
            let key = &diagnosis[below(keys as u32) as usize];
            let (rpik, aemk) = key.tek.derive_keys();
            let interval = key.rolling_start + below(TEK_ROLLING_PERIOD);
            let rpi = rpik.rpi(interval);
            *slot = Observation {
                rpi,
                interval,
                rssi: -60,
                aem: aemk.encrypt(&rpi, &crate::crypto::Metadata::v1_0(0)),
            };
        }
        Self {
            keys: diagnosis,
            log,
            planted,
        }
    }
}
