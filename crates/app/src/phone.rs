//! One simulated phone: the framework, the test flow (QR code, polling, TANs, both uploads), fake
//! traffic, the download schedule and exposure detection, driven by an injected time and random source.

use std::collections::{BTreeMap, HashSet};

use rand::{CryptoRng, Rng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use warnkit_protocol::export::public_key_from_pem;
use warnkit_protocol::matching::ObservationIndex;
use warnkit_protocol::risk::v1::V1Parameters;
use warnkit_protocol::risk::v2::{DataMapping, RiskCalculationParameters};

use crate::air::Member;
use crate::en::{day_of, Framework};
use crate::http::Http;
use crate::risk::{Exposures, RiskModel, RiskStatus};
use crate::schedule::{Backoff, Downloaded, Schedule};
use crate::submit;
use crate::sync::{self, Seen, SyncReport};

// Lives in `error`, below `submit`, which returns it too; `phone::PhoneError` stays its path.
pub use crate::error::PhoneError;

/// Test result codes of the verification API.
pub mod result_code {
    /// Not yet known.
    pub const PENDING: i64 = 0;
    /// Negative.
    pub const NEGATIVE: i64 = 1;
    /// Positive: entitles to TANs.
    pub const POSITIVE: i64 = 2;
}

/// Settings a phone is set up with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The home country: the region of the v1 app configuration.
    pub region: String,
    /// The regions whose keys are downloaded, in this order; empty means the home region. The
    /// original's apps since 1.6 download only the combined region `EUR`: it holds every key of the
    /// home country and every key the federation shared, while the home region holds foreigners' keys
    /// only when they visited it. Keys in several regions are matched once.
    #[serde(default)]
    pub key_regions: Vec<String>,
    /// The public key (SPKI PEM) every archive must verify with.
    pub public_key_pem: String,
    /// Risk v2 (default, with the v2 configuration) or v1 (with the v1 configuration).
    pub risk_model: RiskModel,
    /// Expected fake upload sessions per day (each also fakes the day-after upload).
    pub fake_rate_per_day: f64,
    /// Retry policy of downloads.
    pub backoff: Backoff,
}

/// The test this phone registered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestState {
    /// SHA-256 (lowercase hex) of the QR code's GUID.
    pub hashed_guid: String,
    /// The registration token.
    pub registration_token: Option<String>,
    /// The last result polled.
    pub result: i64,
    /// UTC day of the first upload.
    pub first_upload_day: Option<u32>,
    /// Whether the rolled-over key of the first upload's day went up too.
    pub second_upload_done: bool,
}

/// Counters of what the phone did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneStats {
    /// Real uploads accepted (200).
    pub uploads: u32,
    /// Real uploads refused.
    pub failed_uploads: u32,
    /// Fake uploads sent.
    pub fake_uploads: u32,
    /// Download runs.
    pub syncs: u32,
    /// Download runs that did not complete.
    pub failed_syncs: u32,
    /// Archives downloaded.
    pub files: u64,
    /// Keys downloaded.
    pub keys: u64,
    /// Keys that came a second time.
    pub duplicate_keys: u64,
    /// Keys of an extra region that had come through another region already.
    #[serde(default)]
    pub keys_from_other_regions: u64,
    /// Archives rejected (bad signature or unreadable), with the reason.
    pub rejected: Vec<String>,
    /// Background actions (polls, uploads, fake traffic) that failed.
    pub background_errors: u32,
    /// The last of those failures.
    pub last_error: Option<String>,
}

/// One phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Phone {
    /// Settings.
    pub settings: Settings,
    /// The simulated framework.
    pub en: Framework,
    /// The registered test, if any.
    pub test: Option<TestState>,
    /// What has been downloaded.
    pub downloaded: Downloaded,
    /// What has been downloaded of each further key region.
    #[serde(default)]
    pub downloaded_extra: BTreeMap<String, Downloaded>,
    /// Every key downloaded in the retention window.
    pub seen_keys: HashSet<[u8; 16]>,
    /// Exposures found.
    pub exposures: Exposures,
    /// The download schedule.
    pub schedule: Schedule,
    /// The risk parameters from the last verified v1 app configuration.
    pub v1_params: Option<V1Parameters>,
    /// The risk parameters and data mapping from the last verified v2 app configuration.
    #[serde(default)]
    pub v2_config: Option<sync::V2Config>,
    /// UTC day the app configuration was last fetched.
    #[serde(default)]
    pub config_day: Option<u32>,
    /// Day of an outstanding fake day-after upload.
    pub fake_pending: Option<u32>,
    /// Counters.
    pub stats: PhoneStats,
    /// Home country, visited countries and federation consent sent with every upload.
    #[serde(default)]
    pub interop: submit::Interop,
    /// Scan-log generation the cached index was built from: rebuilt only when the log changed.
    #[serde(skip)]
    index: Option<(u64, ObservationIndex)>,
    /// The parsed public key; parsing checks the point, which is not free.
    #[serde(skip)]
    public_key: Option<p256::ecdsa::VerifyingKey>,
    /// The phone's place in a shared simulation, if it lives in one.
    #[serde(skip)]
    pub member: Option<Member>,
}

impl Phone {
    /// A new phone with the framework on and the first download due at once.
    pub fn new(settings: Settings, tx_power: i8) -> Self {
        Self {
            settings,
            en: Framework::new(tx_power),
            test: None,
            downloaded: Downloaded::default(),
            downloaded_extra: BTreeMap::new(),
            seen_keys: HashSet::new(),
            exposures: Exposures::default(),
            schedule: Schedule::default(),
            v1_params: None,
            v2_config: None,
            config_day: None,
            fake_pending: None,
            stats: PhoneStats::default(),
            interop: submit::Interop::default(),
            index: None,
            public_key: None,
            member: None,
        }
    }

    /// Registers the test of a QR code: the GUID goes to the server only as its SHA-256.
    pub async fn scan_qr(&mut self, http: &Http, guid: &str) -> Result<(), PhoneError> {
        let hashed = hex::encode(Sha256::digest(guid.as_bytes()));
        let token = submit::register(http, &hashed, false).await?;
        self.test = Some(TestState {
            hashed_guid: hashed,
            registration_token: Some(token),
            ..TestState::default()
        });
        Ok(())
    }

    /// Polls the test result (no push: the app asks).
    pub async fn poll(&mut self, http: &Http) -> Result<i64, PhoneError> {
        let test = self.test.as_mut().ok_or(PhoneError::NoTest)?;
        let token = test.registration_token.clone().ok_or(PhoneError::NoTest)?;
        test.result = submit::poll(http, &token, false).await?;
        Ok(test.result)
    }

    /// The first upload: a TAN, then the keys of up to 13 past days (today's still in use).
    pub async fn upload(
        &mut self,
        http: &Http,
        now: i64,
        rng: &mut impl Rng,
    ) -> Result<usize, PhoneError> {
        let test = self.test.as_ref().ok_or(PhoneError::NoTest)?;
        if test.result != result_code::POSITIVE {
            return Err(PhoneError::NotPositive);
        }
        let token = test.registration_token.clone().ok_or(PhoneError::NoTest)?;
        let keys = self.en.diagnosis_keys(now)?;
        let count = keys.len();
        if count > 0 {
            let tan = submit::tan(http, &token, false).await?;
            self.send(http, keys, &tan, rng).await?;
        }
        if let Some(t) = self.test.as_mut() {
            t.first_upload_day = Some(day_of(now));
        }
        Ok(count)
    }

    /// The second upload, after midnight: the key of the first upload's day with a second TAN.
    /// `Ok(false)` when it is not due (yet).
    pub async fn upload_rolled_over(
        &mut self,
        http: &Http,
        now: i64,
        rng: &mut impl Rng,
    ) -> Result<bool, PhoneError> {
        let Some(test) = self.test.as_ref() else {
            return Ok(false);
        };
        let (Some(day), false) = (test.first_upload_day, test.second_upload_done) else {
            return Ok(false);
        };
        let token = test.registration_token.clone().ok_or(PhoneError::NoTest)?;
        let Some(key) = self.en.rolled_over_key(day, now)? else {
            return Ok(false);
        };
        let tan = submit::tan(http, &token, false).await?;
        self.send(http, vec![key], &tan, rng).await?;
        if let Some(t) = self.test.as_mut() {
            t.second_upload_done = true;
        }
        Ok(true)
    }

    async fn send(
        &mut self,
        http: &Http,
        keys: Vec<warnkit_protocol::proto::TemporaryExposureKey>,
        tan: &str,
        rng: &mut impl Rng,
    ) -> Result<(), PhoneError> {
        let response = submit::upload(http, keys, &self.interop, tan, rng).await?;
        if response.status.as_u16() == 200 {
            self.stats.uploads += 1;
            Ok(())
        } else {
            self.stats.failed_uploads += 1;
            Err(submit::refused("upload", &response))
        }
    }

    /// A fake session: registration, poll, TAN and a keyless upload, all `cwa-fake: 1` and the size of
    /// real ones; the day-after upload follows on the next day, as a real one would.
    pub async fn fake_session(
        &mut self,
        http: &Http,
        now: i64,
        rng: &mut impl Rng,
    ) -> Result<(), PhoneError> {
        let guid_hash = hex::encode(rng.gen::<[u8; 32]>());
        submit::register(http, &guid_hash, true).await?;
        let token = submit::random_uuid(rng);
        submit::poll(http, &token, true).await?;
        submit::tan(http, &token, true).await?;
        submit::fake_upload(http, rng).await?;
        self.stats.fake_uploads += 1;
        self.fake_pending = Some(day_of(now));
        Ok(())
    }

    async fn fake_day_after(
        &mut self,
        http: &Http,
        now: i64,
        rng: &mut impl Rng,
    ) -> Result<(), PhoneError> {
        let today = day_of(now);
        if self.fake_pending.is_none_or(|d| d >= today) {
            return Ok(());
        }
        let token = submit::random_uuid(rng);
        submit::tan(http, &token, true).await?;
        submit::fake_upload(http, rng).await?;
        self.stats.fake_uploads += 1;
        self.fake_pending = None;
        Ok(())
    }

    /// The background task, run about hourly: poll a pending test, upload when positive (consent
    /// given), the day-after upload, fake traffic at the configured rate, and the download when due.
    /// Errors end up in the stats or are retried on the next run; the download report is returned.
    pub async fn background(
        &mut self,
        http: &Http,
        now: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Option<SyncReport> {
        if self.en.enabled {
            // The framework rolls its key every day, whether or not anyone was around to see it.
            self.en.tek(day_of(now), rng);
        }
        if let Some(test) = &self.test {
            if test.result == result_code::PENDING {
                let r = self.poll(http).await.map(|_| ());
                self.count_error(r);
            }
        }
        let positive = self
            .test
            .as_ref()
            .is_some_and(|t| t.result == result_code::POSITIVE);
        if positive && self.en.consent {
            if self
                .test
                .as_ref()
                .is_some_and(|t| t.first_upload_day.is_none())
            {
                let r = self.upload(http, now, rng).await.map(|_| ());
                self.count_error(r);
            }
            let r = self.upload_rolled_over(http, now, rng).await.map(|_| ());
            self.count_error(r);
        }
        let r = self.fake_day_after(http, now, rng).await;
        self.count_error(r);
        // About `fake_rate_per_day` sessions a day from hourly runs.
        if self.settings.fake_rate_per_day > 0.0
            && rng.gen_bool((self.settings.fake_rate_per_day / 24.0).clamp(0.0, 1.0))
        {
            let r = self.fake_session(http, now, rng).await;
            self.count_error(r);
        }
        if self.schedule.due(now) {
            return Some(self.sync(http, now, rng).await);
        }
        None
    }

    /// Counts a failed background action: it is tried again on the next run.
    fn count_error(&mut self, result: Result<(), PhoneError>) {
        if let Err(e) = result {
            self.stats.background_errors += 1;
            self.stats.last_error = Some(e.to_string());
        }
    }

    /// One download run now, whatever the schedule says; the schedule moves on afterwards.
    pub async fn sync(&mut self, http: &Http, now: i64, rng: &mut impl Rng) -> SyncReport {
        let report = match self.sync_inner(http, now).await {
            Ok(r) => r,
            Err(e) => SyncReport {
                errors: vec![e.to_string()],
                ..SyncReport::default()
            },
        };
        self.stats.syncs += 1;
        self.stats.files += report.files as u64;
        self.stats.keys += report.keys as u64;
        self.stats.duplicate_keys += report.duplicate_keys as u64;
        self.stats.keys_from_other_regions += report.keys_from_other_regions as u64;
        self.stats.rejected.extend(report.rejected.iter().cloned());
        if report.complete() {
            self.schedule.succeeded(now, rng);
        } else {
            self.stats.failed_syncs += 1;
            self.schedule.failed(now, &self.settings.backoff, rng);
        }
        report
    }

    async fn sync_inner(&mut self, http: &Http, now: i64) -> Result<SyncReport, PhoneError> {
        let key = match &self.public_key {
            Some(k) => *k,
            None => {
                let k = public_key_from_pem(&self.settings.public_key_pem)
                    .map_err(|e| PhoneError::PublicKey(e.to_string()))?;
                self.public_key = Some(k);
                k
            }
        };
        let mut config_error = None;
        // The configuration changes rarely: once a day is enough, as long as the last fetch worked.
        let have_config = match self.settings.risk_model {
            RiskModel::V1 => self.v1_params.is_some(),
            RiskModel::V2 => self.v2_config.is_some(),
        };
        if self.config_day != Some(day_of(now)) || !have_config {
            let fetched = match self.settings.risk_model {
                RiskModel::V1 => sync::fetch_config(http, &self.settings.region, &key)
                    .await
                    .map(|c| c.map(|p| self.v1_params = Some(p))),
                RiskModel::V2 => sync::fetch_config_v2(http, &key)
                    .await
                    .map(|c| c.map(|c| self.v2_config = Some(c))),
            };
            match fetched {
                Ok(Some(())) => self.config_day = Some(day_of(now)),
                Ok(None) => {}
                Err(e) => config_error = Some(e),
            }
        }
        let today = date_string(day_of(now));
        let yesterday = day_of(now).checked_sub(1).map(date_string);
        let days = (yesterday.as_deref(), today.as_str());
        let regions = match self.settings.key_regions.as_slice() {
            [] => std::slice::from_ref(&self.settings.region),
            listed => listed,
        };
        let mut keys = Vec::new();
        let mut report = SyncReport::default();
        for (i, region) in regions.iter().enumerate() {
            let downloaded = match i {
                0 => &mut self.downloaded,
                _ => self.downloaded_extra.entry(region.clone()).or_default(),
            };
            let seen = Seen {
                keys: &mut self.seen_keys,
                overlaps: i > 0,
                member: self.member.as_ref(),
            };
            let (more, more_report) =
                sync::download(http, region, &key, downloaded, seen, days).await;
            keys.extend(more);
            report.absorb(more_report);
        }
        match config_error {
            Some(sync::ConfigError::Rejected(e)) => report.rejected.push(e),
            Some(sync::ConfigError::Fetch(e)) => report.errors.push(e),
            None => {}
        }
        if !keys.is_empty() {
            let generation = self.en.scan_log_generation();
            if self.index.as_ref().map(|(g, _)| *g) != Some(generation) {
                self.index = Some((generation, ObservationIndex::new(self.en.scan_log())));
            }
            if let Some((_, index)) = &self.index {
                self.exposures.detect(index, &keys);
            }
            // A member matches a few keys now and then: an index kept for each of a population's
            // phones would cost more memory than building it again.
            if self.member.is_some() {
                self.index = None;
            }
        }
        self.housekeeping(now);
        Ok(report)
    }

    /// Drops data older than the retention window (sightings, matches, download bookkeeping).
    pub fn housekeeping(&mut self, now: i64) {
        self.en.prune(now);
        self.exposures.prune(now);
        let oldest = date_string(day_of(now).saturating_sub(15));
        self.downloaded.forget_before(&oldest);
        for downloaded in self.downloaded_extra.values_mut() {
            downloaded.forget_before(&oldest);
        }
    }

    /// The current risk status.
    pub fn risk(&self, now: i64) -> Result<RiskStatus, PhoneError> {
        // Until a configuration has been verified, the values the original app ships with.
        let default_v1 = V1Parameters::default();
        let v1 = self.v1_params.as_ref().unwrap_or(&default_v1);
        let default_v2 = sync::V2Config {
            params: RiskCalculationParameters::cwa_default(),
            mapping: DataMapping::default(),
        };
        let v2 = self.v2_config.as_ref().unwrap_or(&default_v2);
        self.exposures
            .assess(now, self.settings.risk_model, v1, &v2.params, &v2.mapping)
            .map_err(PhoneError::Risk)
    }
}

/// `YYYY-MM-DD` of a UTC day number.
pub fn date_string(day: u32) -> String {
    warnkit_protocol::interval::date_string(i64::from(day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(18_354), "2020-04-02");
        assert_eq!(date_string(19_782), "2024-02-29");
    }

    #[test]
    fn guid_hash_is_lowercase_sha256_hex() {
        let h = hex::encode(Sha256::digest(
            b"3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA",
        ));
        assert_eq!(h.len(), 64);
        assert_eq!(h, h.to_lowercase());
    }
}
