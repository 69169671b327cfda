//! One download run: the signed app configuration, then every daily and hourly archive the phone still
//! lacks (catching up on any gap), each verified against the configured public key before its keys are
//! used, and nothing fetched twice.

use std::collections::HashSet;
use std::sync::Arc;

use p256::ecdsa::VerifyingKey;
use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use warnkit_protocol::export::{Archive, Limits, SignedBlob};
use warnkit_protocol::proto::app_config::ApplicationConfiguration;
use warnkit_protocol::proto::app_config_v2::ApplicationConfigurationAndroid;
use warnkit_protocol::proto::TemporaryExposureKey;
use warnkit_protocol::risk::v1::V1Parameters;
use warnkit_protocol::risk::v2::{DataMapping, RiskCalculationParameters};

use crate::air::{ArchiveView, Member};
use crate::http::{EdgeFile, Http, HttpError};
use crate::schedule::{Downloaded, Fetch};

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Archives downloaded and accepted.
    pub files: usize,
    /// New diagnosis keys (padding included) from those archives.
    pub keys: usize,
    /// Keys that had been downloaded before (should stay 0).
    pub duplicate_keys: usize,
    /// Keys of an extra region that the phone already had from another region (a federation's combined
    /// region repeats the home region's consenting keys); not matched again.
    #[serde(default)]
    pub keys_from_other_regions: usize,
    /// Archives (or the configuration) rejected, with the reason: a bad signature, a broken zip.
    pub rejected: Vec<String>,
    /// Requests that failed even after retries.
    pub errors: Vec<String>,
}

impl SyncReport {
    /// Whether everything listed was fetched and accepted.
    pub fn complete(&self) -> bool {
        self.rejected.is_empty() && self.errors.is_empty()
    }

    /// Adds another region's run to this one.
    pub fn absorb(&mut self, other: SyncReport) {
        self.files += other.files;
        self.keys += other.keys;
        self.duplicate_keys += other.duplicate_keys;
        self.keys_from_other_regions += other.keys_from_other_regions;
        self.rejected.extend(other.rejected);
        self.errors.extend(other.errors);
    }
}

/// The published paths (the original's layout under `version/v1/`).
pub mod paths {
    /// The JSON array of published dates.
    pub fn dates(region: &str) -> String {
        format!("version/v1/diagnosis-keys/country/{region}/date")
    }

    /// A daily archive.
    pub fn day(region: &str, date: &str) -> String {
        format!("{}/{date}", dates(region))
    }

    /// The JSON array of published hours of a date.
    pub fn hours(region: &str, date: &str) -> String {
        format!("{}/{date}/hour", dates(region))
    }

    /// An hourly archive.
    pub fn hour(region: &str, date: &str, hour: u32) -> String {
        format!("{}/{date}/hour/{hour}", dates(region))
    }

    /// The signed v1 app configuration (apps before 1.9).
    pub fn app_config(region: &str) -> String {
        format!("version/v1/configuration/country/{region}/app_config")
    }

    /// The signed v2 Android configuration, which the original app reads from 1.15 on.
    pub const APP_CONFIG_ANDROID: &str = "version/v2/app_config_android";
}

/// Checks `bin` against `key`, consulting the client's shared cache of verified files first.
fn verified<E: std::fmt::Display>(
    http: &Http,
    key: &VerifyingKey,
    bytes: &[u8],
    check: impl FnOnce() -> Result<(), E>,
) -> Result<(), String> {
    let digest: Option<[u8; 32]> = http.shares_verification().then(|| {
        let mut h = Sha256::new();
        h.update(key.to_encoded_point(false).as_bytes());
        h.update(bytes);
        h.finalize().into()
    });
    if digest.is_some_and(|d| http.already_verified(&d)) {
        return Ok(());
    }
    check().map_err(|e| e.to_string())?;
    if let Some(d) = digest {
        http.remember_verified(d);
    }
    Ok(())
}

/// Why the app configuration could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// It could not be fetched (retried on the next run).
    Fetch(String),
    /// It was fetched but failed the signature check or did not parse.
    Rejected(String),
}

/// What a phone scoring with v2 takes from the v2 configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct V2Config {
    /// The exposure-window risk calculation.
    pub params: RiskCalculationParameters,
    /// How the framework reads the keys' report type and days since onset.
    pub mapping: DataMapping,
}

/// Downloads a signed configuration and returns its verified `export.bin`; `None` when not published.
async fn fetch_signed(
    http: &Http,
    path: &str,
    key: &VerifyingKey,
) -> Result<Option<Vec<u8>>, ConfigError> {
    let Some(bytes) = http
        .get(path)
        .await
        .map_err(|e| ConfigError::Fetch(e.to_string()))?
    else {
        return Ok(None);
    };
    let reject = |e: String| ConfigError::Rejected(format!("{path}: {e}"));
    let blob = SignedBlob::read(&bytes, &Limits::default()).map_err(|e| reject(e.to_string()))?;
    verified(http, key, &bytes, || {
        blob.verify(std::slice::from_ref(key)).map(|_| ())
    })
    .map_err(reject)?;
    Ok(Some(blob.bin))
}

/// Downloads and verifies the v1 app configuration of `region`.
pub async fn fetch_config(
    http: &Http,
    region: &str,
    key: &VerifyingKey,
) -> Result<Option<V1Parameters>, ConfigError> {
    let path = paths::app_config(region);
    let Some(bin) = fetch_signed(http, &path, key).await? else {
        return Ok(None);
    };
    let reject = |e: String| ConfigError::Rejected(format!("{path}: {e}"));
    let config =
        ApplicationConfiguration::decode(bin.as_slice()).map_err(|e| reject(e.to_string()))?;
    let params = V1Parameters::try_from(&config).map_err(|e| reject(e.to_string()))?;
    params.validate().map_err(|e| reject(e.to_string()))?;
    Ok(Some(params))
}

/// Downloads and verifies the v2 Android configuration, as the current original app does.
pub async fn fetch_config_v2(
    http: &Http,
    key: &VerifyingKey,
) -> Result<Option<V2Config>, ConfigError> {
    let path = paths::APP_CONFIG_ANDROID;
    let Some(bin) = fetch_signed(http, path, key).await? else {
        return Ok(None);
    };
    let reject = |e: String| ConfigError::Rejected(format!("{path}: {e}"));
    let config = ApplicationConfigurationAndroid::decode(bin.as_slice())
        .map_err(|e| reject(e.to_string()))?;
    let params = config
        .risk_calculation_parameters
        .as_ref()
        .ok_or_else(|| reject("no riskCalculationParameters".into()))?;
    let mapping = config
        .diagnosis_keys_data_mapping
        .as_ref()
        .ok_or_else(|| reject("no diagnosisKeysDataMapping".into()))?;
    Ok(Some(V2Config {
        params: RiskCalculationParameters::try_from(params).map_err(|e| reject(e.to_string()))?,
        mapping: DataMapping::try_from(mapping).map_err(|e| reject(e.to_string()))?,
    }))
}

async fn json_list<T: serde::de::DeserializeOwned>(
    http: &Http,
    path: &str,
) -> Result<Option<Vec<T>>, HttpError> {
    match http.get(path).await? {
        None => Ok(None),
        Some(body) => serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| HttpError::Body(format!("{path}: {e}"))),
    }
}

/// The files of one run, in the order they are fetched.
async fn plan(
    http: &Http,
    region: &str,
    downloaded: &Downloaded,
    (yesterday, today): (Option<&str>, &str),
    report: &mut SyncReport,
) -> (Vec<Fetch>, Vec<String>) {
    let mut fetches = Vec::new();
    let mut completes = Vec::new();
    // Dates are listed once they have ended: with yesterday complete, the list holds nothing new.
    let up_to_date = yesterday.is_some_and(|y| downloaded.days.contains(y));
    let dates: Vec<String> = if up_to_date {
        Vec::new()
    } else {
        match json_list(http, &paths::dates(region)).await {
            Ok(d) => d.unwrap_or_default(),
            Err(e) => {
                report.errors.push(e.to_string());
                Vec::new()
            }
        }
    };
    let (whole, partial) = downloaded.missing_days(&dates);
    fetches.extend(whole.iter().map(|d| Fetch::Day((*d).to_owned())));
    // Days begun hour by hour are finished hour by hour; only once their hours are gone from the
    // server does the daily file stand in (its already-seen keys then count as duplicates).
    let mut hour_days: Vec<&str> = partial;
    if !dates.iter().any(|d| d == today) {
        hour_days.push(today);
    }
    for date in hour_days {
        match json_list::<u32>(http, &paths::hours(region, date)).await {
            Ok(Some(hours)) => {
                let missing = downloaded.missing_hours(date, &hours);
                fetches.extend(missing.into_iter().map(|h| Fetch::Hour(date.to_owned(), h)));
                // An ended day's list holds all 24 hours. A shorter one is a copy a cache kept from
                // before the day ended (indexes are cacheable for a while): taking it as the whole day
                // would lose the hours it does not list for good, so the day stays open until a
                // later run sees the full list.
                if date != today && (0..24).all(|h| hours.contains(&h)) {
                    completes.push(date.to_owned());
                }
            }
            Ok(None) if date != today => fetches.push(Fetch::Day(date.to_owned())),
            Ok(None) => {}
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    (fetches, completes)
}

/// Where a download pass puts what it has seen.
pub struct Seen<'a> {
    /// Every key ever downloaded, from any region (unused for a member of a shared simulation).
    pub keys: &'a mut HashSet<[u8; 16]>,
    /// Whether keys of this region are expected in another region the phone downloads first, so a
    /// repeat is an overlap of regions rather than a duplicate.
    pub overlaps: bool,
    /// The phone's place in a shared simulation: then the air says which keys it holds already and
    /// which are worth matching, instead of a set of every key and every key matched.
    pub member: Option<&'a Member>,
}

/// An archive read from its bytes; with an edge cache, once per copy for every phone.
#[derive(Debug)]
pub(crate) struct Parsed {
    archive: Archive,
    /// Each key's data, where it has 16 bytes.
    data: Vec<Option<[u8; 16]>>,
    /// What the air says of it, as of the air's last change.
    view: std::sync::Mutex<Option<Arc<ArchiveView>>>,
    /// The public keys its signature was found good under (so phones sharing it check it once).
    good_under: std::sync::Mutex<Vec<VerifyingKey>>,
}

impl Parsed {
    /// Checks the signature under `key`, once per key.
    fn verify(&self, http: &Http, key: &VerifyingKey, bytes: &[u8]) -> Result<(), String> {
        let mut good = self.good_under.lock().unwrap_or_else(|p| p.into_inner());
        if good.contains(key) {
            return Ok(());
        }
        verified(http, key, bytes, || {
            self.archive.verify(std::slice::from_ref(key)).map(|_| ())
        })?;
        good.push(*key);
        Ok(())
    }
}

/// Reads the archive of `file` (once per copy).
fn parsed(file: &EdgeFile) -> Result<Arc<Parsed>, String> {
    type Made = Result<Arc<Parsed>, String>;
    let made = file.made.get_or_init(|| {
        let read = || -> Made {
            let bytes = file.body.as_deref().unwrap_or_default();
            let archive = Archive::read(bytes, &Limits::default()).map_err(|e| e.to_string())?;
            let data = archive
                .export
                .keys
                .iter()
                .map(|k| {
                    k.key_data
                        .as_deref()
                        .and_then(|d| <[u8; 16]>::try_from(d).ok())
                })
                .collect();
            Ok(Arc::new(Parsed {
                archive,
                data,
                view: std::sync::Mutex::new(None),
                good_under: std::sync::Mutex::new(Vec::new()),
            }))
        };
        Arc::new(read())
    });
    made.downcast_ref::<Made>()
        .cloned()
        .unwrap_or_else(|| Err("the edge holds something else for this file".into()))
}

/// Runs one download pass over `region` and returns the keys not seen before.
pub async fn download(
    http: &Http,
    region: &str,
    key: &VerifyingKey,
    downloaded: &mut Downloaded,
    seen: Seen<'_>,
    (yesterday, today): (Option<&str>, &str),
) -> (Vec<TemporaryExposureKey>, SyncReport) {
    let mut report = SyncReport::default();
    let (fetches, completes) =
        plan(http, region, downloaded, (yesterday, today), &mut report).await;
    let mut keys = Vec::new();
    let mut failed_days = HashSet::new();
    for fetch in fetches {
        let (path, date) = match &fetch {
            Fetch::Day(d) => (paths::day(region, d), d.clone()),
            Fetch::Hour(d, h) => (paths::hour(region, d, *h), d.clone()),
        };
        let file = match http.get_file(&path).await {
            Ok(f) if f.body.is_some() => f,
            Ok(_) => {
                report.errors.push(format!("{path}: listed but not found"));
                failed_days.insert(date);
                continue;
            }
            Err(e) => {
                report.errors.push(e.to_string());
                failed_days.insert(date);
                continue;
            }
        };
        let bytes = file.body.as_deref().unwrap_or_default();
        let parsed = match parsed(&file) {
            Ok(p) => p,
            Err(e) => {
                report.rejected.push(format!("{path}: {e}"));
                failed_days.insert(date);
                continue;
            }
        };
        let archive = &parsed.archive;
        if let Err(e) = parsed.verify(http, key, bytes) {
            report.rejected.push(format!("{path}: {e}"));
            failed_days.insert(date);
            continue;
        }
        report.files += 1;
        match seen.member.filter(|_| !seen.overlaps) {
            Some(member) => {
                // Every country's service publishes the same paths: a file is its service's.
                let place = format!("{}/{region}", http.endpoints.distribution);
                let file = format!("{}/{path}", http.endpoints.distribution);
                let view = member
                    .air
                    .view(&file, &place, &fetch, &parsed.data, &parsed.view);
                let held = member.air.held(&view, &place, downloaded);
                let listed = parsed.data.iter().filter(|d| d.is_some()).count();
                report.keys += listed - held.len();
                report.duplicate_keys += held.len();
                keys.extend(
                    view.hits(member.id)
                        .iter()
                        .filter(|k| !held.contains(k))
                        .filter_map(|k| archive.export.keys.get(*k as usize).cloned()),
                );
            }
            None => {
                for (k, data) in archive.export.keys.iter().zip(&parsed.data) {
                    let Some(data) = data else { continue };
                    if seen.keys.insert(*data) {
                        report.keys += 1;
                        keys.push(k.clone());
                    } else if seen.overlaps {
                        report.keys_from_other_regions += 1;
                    } else {
                        report.duplicate_keys += 1;
                    }
                }
            }
        }
        downloaded.mark(&fetch);
    }
    for date in completes {
        if !failed_days.contains(&date) {
            downloaded.complete(&date);
        }
    }
    (keys, report)
}
