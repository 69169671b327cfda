//! The simulated Exposure Notification framework: one TEK per UTC day (14 kept), the RPI and AEM of
//! the current 10-minute interval, a scan log of RPIs seen with their RSSI, and keys released only with
//! the user's consent and only for days that have ended.

use std::collections::BTreeMap;

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use warnkit_protocol::crypto::{AemKey, Metadata, Rpi, RpiKey, Tek, METADATA_LEN};
use warnkit_protocol::interval::{IntervalNumber, TEK_ROLLING_PERIOD};
use warnkit_protocol::matching::Observation;
use warnkit_protocol::proto::TemporaryExposureKey;

/// Days of keys and sightings the framework keeps (today included).
pub const RETENTION_DAYS: u32 = 14;

/// Transmission risk level by key age in days (0 = the day of the first upload), the original app's
/// default vector: highest around the likely onset of symptoms, 1 for keys a week old or more.
pub const TRANSMISSION_RISK_VECTOR: [i32; 15] = [5, 6, 8, 8, 8, 5, 3, 1, 1, 1, 1, 1, 1, 1, 1];

/// Why the framework refused to hand out keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnError {
    /// The user has not consented to sharing keys.
    NoConsent,
    /// Exposure notification is switched off.
    Disabled,
}

impl std::fmt::Display for EnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoConsent => f.write_str("the user has not consented to sharing diagnosis keys"),
            Self::Disabled => f.write_str("exposure notification is switched off"),
        }
    }
}

impl std::error::Error for EnError {}

/// The framework's state. Serialisable, so a command-line phone can keep it in a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Framework {
    /// Whether scanning and advertising are on.
    pub enabled: bool,
    /// Whether the user consented to sharing their keys (asked once per upload flow).
    pub consent: bool,
    /// This device's calibrated transmit power (dBm), broadcast in the metadata.
    pub tx_power: i8,
    /// TEKs by UTC day number.
    teks: BTreeMap<u32, [u8; 16]>,
    /// RPIs seen, with the receiver's interval and RSSI.
    #[serde(with = "scan_log_serde")]
    scan_log: Vec<Observation>,
    /// The derived keys of the day being advertised; derived once per day, not per broadcast.
    #[serde(skip)]
    current: Option<(u32, RpiKey, AemKey)>,
    /// Bumped whenever the scan log changes, so a cached index of it can tell it is out of date
    /// (its length cannot: pruning and recording can leave it as it was).
    #[serde(skip)]
    generation: u64,
    /// Nothing in the scan log is older than this interval (0: not known).
    #[serde(skip)]
    pruned_to: u32,
}

impl Framework {
    /// A switched-on framework without keys, sightings or consent.
    pub fn new(tx_power: i8) -> Self {
        Self {
            enabled: true,
            consent: false,
            tx_power,
            teks: BTreeMap::new(),
            scan_log: Vec::new(),
            current: None,
            generation: 0,
            pruned_to: 0,
        }
    }

    /// The TEK of `day`, generated on first use; keys older than the retention are dropped.
    pub fn tek(&mut self, day: u32, rng: &mut (impl RngCore + CryptoRng)) -> Tek {
        let key = *self.teks.entry(day).or_insert_with(|| Tek::generate(rng).0);
        let oldest = day.saturating_sub(RETENTION_DAYS - 1);
        self.teks.retain(|d, _| *d >= oldest);
        Tek(key)
    }

    /// What the device broadcasts at `now` (Unix seconds): the interval's RPI and its AEM, or `None`
    /// while switched off.
    pub fn advertise(
        &mut self,
        now: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Option<(Rpi, [u8; METADATA_LEN])> {
        if !self.enabled {
            return None;
        }
        let interval = IntervalNumber::from_unix_seconds(now.max(0) as u64);
        let day = interval.day();
        if self.current.as_ref().map(|c| c.0) != Some(day) {
            let (rpik, aemk) = self.tek(day, rng).derive_keys();
            self.current = Some((day, rpik, aemk));
        }
        let (_, rpik, aemk) = self.current.as_ref()?;
        let rpi = rpik.rpi(interval.get());
        Some((rpi, aemk.encrypt(&rpi, &Metadata::v1_0(self.tx_power))))
    }

    /// The TEK of the last broadcast (what a simulation records as the sender of what was heard).
    pub fn broadcasting(&self) -> Option<[u8; 16]> {
        let (day, ..) = self.current.as_ref()?;
        self.teks.get(day).copied()
    }

    /// Records a sighting of `rpi` at `now` with the given RSSI (dropped while switched off).
    pub fn record(&mut self, now: i64, rpi: Rpi, aem: [u8; METADATA_LEN], rssi: i8) {
        if !self.enabled {
            return;
        }
        let interval = IntervalNumber::from_unix_seconds(now.max(0) as u64).get();
        if interval < self.pruned_to {
            self.pruned_to = 0;
        }
        // Grown by an eighth, not doubled: the scan logs are most of a simulated population's
        // memory, and doubling leaves a third of it unused on average.
        if self.scan_log.len() == self.scan_log.capacity() {
            self.scan_log
                .reserve_exact((self.scan_log.len() / 8).max(16));
        }
        self.scan_log.push(Observation {
            rpi,
            interval,
            rssi,
            aem,
        });
        self.generation += 1;
    }

    /// Drops sightings older than the retention window.
    pub fn prune(&mut self, now: i64) {
        let today = IntervalNumber::from_unix_seconds(now.max(0) as u64).day();
        let first = today.saturating_sub(RETENTION_DAYS - 1) * TEK_ROLLING_PERIOD;
        // The cut moves once a day; a phone prunes at every run.
        if first > self.pruned_to {
            let before = self.scan_log.len();
            self.scan_log.retain(|o| o.interval >= first);
            if self.scan_log.len() != before {
                self.generation += 1;
            }
            self.pruned_to = first;
        }
        self.teks
            .retain(|d, _| *d >= today.saturating_sub(RETENTION_DAYS - 1));
    }

    /// The scan log, oldest first.
    pub fn scan_log(&self) -> &[Observation] {
        &self.scan_log
    }

    /// A number that changes whenever the scan log does (within this process's lifetime).
    pub fn scan_log_generation(&self) -> u64 {
        self.generation
    }

    /// The keys of the days before today (up to 13, newest first), as the first upload sends them.
    /// The current day's key is never released: it still produces RPIs.
    pub fn diagnosis_keys(&self, now: i64) -> Result<Vec<TemporaryExposureKey>, EnError> {
        self.check_release()?;
        let today = day_of(now);
        Ok(self
            .teks
            .range(..today)
            .rev()
            .take((RETENTION_DAYS - 1) as usize)
            .map(|(&day, key)| diagnosis_key(day, key, today - day))
            .collect())
    }

    /// The key of `day` once that day has ended (the second upload, after midnight); `None` before.
    pub fn rolled_over_key(
        &self,
        day: u32,
        now: i64,
    ) -> Result<Option<TemporaryExposureKey>, EnError> {
        self.check_release()?;
        if day >= day_of(now) {
            return Ok(None);
        }
        // The day of the first upload is age 0 of the risk vector.
        Ok(self.teks.get(&day).map(|key| diagnosis_key(day, key, 0)))
    }

    fn check_release(&self) -> Result<(), EnError> {
        if !self.enabled {
            return Err(EnError::Disabled);
        }
        if !self.consent {
            return Err(EnError::NoConsent);
        }
        Ok(())
    }
}

/// The UTC day number of a Unix time.
pub fn day_of(now: i64) -> u32 {
    u32::try_from(now.max(0).div_euclid(86_400)).unwrap_or(u32::MAX)
}

fn diagnosis_key(day: u32, key: &[u8; 16], age: u32) -> TemporaryExposureKey {
    let trl = TRANSMISSION_RISK_VECTOR[(age as usize).min(TRANSMISSION_RISK_VECTOR.len() - 1)];
    TemporaryExposureKey {
        key_data: Some(key.to_vec()),
        transmission_risk_level: Some(trl),
        rolling_start_interval_number: Some((day * TEK_ROLLING_PERIOD) as i32),
        rolling_period: Some(TEK_ROLLING_PERIOD as i32),
        report_type: Some(1),
        days_since_onset_of_symptoms: None,
    }
}

/// The scan log as JSON: `Observation` lives in the pure core and carries no serde derive.
mod scan_log_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use warnkit_protocol::crypto::Rpi;
    use warnkit_protocol::matching::Observation;

    #[derive(Serialize, Deserialize)]
    struct Sighting {
        rpi: String,
        interval: u32,
        rssi: i8,
        aem: String,
    }

    pub fn serialize<S: Serializer>(log: &[Observation], s: S) -> Result<S::Ok, S::Error> {
        let v: Vec<Sighting> = log
            .iter()
            .map(|o| Sighting {
                rpi: hex::encode(o.rpi.0),
                interval: o.interval,
                rssi: o.rssi,
                aem: hex::encode(o.aem),
            })
            .collect();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Observation>, D::Error> {
        use serde::de::Error;
        let v = Vec::<Sighting>::deserialize(d)?;
        v.into_iter()
            .map(|s| {
                let mut rpi = [0u8; 16];
                let mut aem = [0u8; 4];
                hex::decode_to_slice(&s.rpi, &mut rpi).map_err(D::Error::custom)?;
                hex::decode_to_slice(&s.aem, &mut aem).map_err(D::Error::custom)?;
                Ok(Observation {
                    rpi: Rpi(rpi),
                    interval: s.interval,
                    rssi: s.rssi,
                    aem,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn keys_roll_daily_and_current_day_waits() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut en = Framework::new(-10);
        let start = 20_000 * DAY;
        for d in 0..20 {
            en.advertise(start + d * DAY + 3600, &mut rng);
        }
        let now = start + 19 * DAY + 7200;
        assert_eq!(en.diagnosis_keys(now), Err(EnError::NoConsent));
        en.consent = true;
        let keys = en.diagnosis_keys(now).unwrap();
        assert_eq!(keys.len(), 13, "14 kept, today's withheld");
        let today = day_of(now) as i32 * 144;
        assert!(keys
            .iter()
            .all(|k| k.rolling_start_interval_number() < today));
        assert_eq!(keys[0].transmission_risk_level(), 6);
        assert_eq!(en.rolled_over_key(day_of(now), now), Ok(None));
        let next = en.rolled_over_key(day_of(now), now + DAY).unwrap().unwrap();
        assert_eq!(next.rolling_start_interval_number(), today);
    }

    #[test]
    fn broadcast_decrypts_with_own_key() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut en = Framework::new(-7);
        let now = 20_000 * DAY + 600 * 5;
        let (rpi, aem) = en.advertise(now, &mut rng).unwrap();
        let tek = en.tek(20_000, &mut rng);
        assert_eq!(tek.rpi_key().rpi(20_000 * 144 + 5), rpi);
        assert_eq!(tek.aem_key().decrypt(&rpi, aem).tx_power, -7);
        en.record(now, rpi, aem, -60);
        let json = serde_json::to_string(&en).unwrap();
        let back: Framework = serde_json::from_str(&json).unwrap();
        assert_eq!(back.scan_log(), en.scan_log());
    }

    #[test]
    fn pruning_then_recording_as_many_sightings_changes_the_generation() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut en = Framework::new(-10);
        let old = 20_000 * DAY + 3600;
        for i in 0..2 {
            let (rpi, aem) = en.advertise(old + i * 600, &mut rng).unwrap();
            en.record(old + i * 600, rpi, aem, -60);
        }
        let before = en.scan_log_generation();
        let log_before = en.scan_log().len();

        // Past the retention window both old sightings go, and as many new ones arrive: the log's
        // length is the same, yet it is another log.
        let now = old + i64::from(RETENTION_DAYS) * DAY;
        en.prune(now);
        assert!(en.scan_log().is_empty(), "the old sightings are pruned");
        for i in 0..2 {
            let (rpi, aem) = en.advertise(now + i * 600, &mut rng).unwrap();
            en.record(now + i * 600, rpi, aem, -60);
        }
        assert_eq!(en.scan_log().len(), log_before);
        assert_ne!(en.scan_log_generation(), before);

        // Pruning that drops nothing leaves the generation alone.
        let unchanged = en.scan_log_generation();
        en.prune(now);
        assert_eq!(en.scan_log_generation(), unchanged);
    }
}
