//! What one distribution run publishes: a pure function from the stored keys and the clock to files.
//!
//! Rules (see the project's spec, "Distribution"):
//! - A key may be published only once its rolling period has ended plus the expiry delay (2 hours by
//!   default), and only in an hour that has ended; so today's keys wait for tomorrow.
//! - Each key goes into the hourly file of the hour it becomes publishable and into that day's daily
//!   file. A daily file is exactly the union of its hours' files, padding included, so comparing the two
//!   reveals nothing.
//! - A file with fewer real keys than the minimum is padded with random keys whose metadata is copied
//!   from the file's real keys, so padding cannot be told apart. A period without keys gets an empty
//!   signed file, so a phone can tell "nothing happened" from "not published yet".
//! - Keys inside a file are sorted by their (random) key bytes: keys of one upload end up scattered,
//!   and the same input always gives the same bytes, which makes runs idempotent.
//! - Padding is random but reproducible: its generator is seeded per file from a secret, so a re-run
//!   publishes the same padding keys again instead of new ones (which would reveal them as padding).

use std::collections::{BTreeMap, BTreeSet};

use hmac::{Hmac, Mac};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use sha2::Sha256;
use warnkit_protocol::export::{self, ExportError, Signer};
use warnkit_protocol::proto::{TemporaryExposureKey, TemporaryExposureKeyExport};
use warnkit_submission::keystore::StoredKey;

use crate::layout::{self, Kind};

/// Settings of the published files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanConfig {
    /// The region code files are published for, e.g. `DE`.
    pub region: String,
    /// Files with fewer real keys are padded with random keys up to this number (0 = no padding).
    pub min_keys_per_file: usize,
    /// Days of keys and daily files kept (the original: 14).
    pub retention_days: i64,
    /// Days of hourly files kept (the original: 2); older days are served as daily files only.
    pub hourly_retention_days: i64,
    /// Minutes after a key's rolling period ends before it may be published (the original: 120).
    pub expiry_minutes: i64,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            region: "DE".into(),
            min_keys_per_file: 140,
            retention_days: 14,
            hourly_retention_days: 2,
            expiry_minutes: 120,
        }
    }
}

/// One file to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// The URL path (see [`layout`]).
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// The content.
    pub bytes: Vec<u8>,
}

/// Everything one run publishes. Archives must be written before indexes, indexes before the top index.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Signed key archives and the configuration.
    pub archives: Vec<PlannedFile>,
    /// Hour and date indexes.
    pub indexes: Vec<PlannedFile>,
    /// The country index, written last.
    pub top_index: Option<PlannedFile>,
    /// Every URL path that should exist after the run; anything else under the key tree is stale.
    pub keep: BTreeSet<String>,
    /// Real keys published in daily files.
    pub real_keys: usize,
    /// Padding keys published in daily files.
    pub padding_keys: usize,
    /// Bytes of all key archives (daily and hourly).
    pub archive_bytes: usize,
    /// Keys in all key archives (daily and hourly, padding included).
    pub archive_keys: usize,
}

/// A stored key as the plan needs it: 40 bytes, against the few hundred a full row with its
/// strings takes, so a million keys fit in a small budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistKey {
    /// The key.
    pub key_data: [u8; 16],
    /// First interval of the key.
    pub rolling_start: u32,
    /// Intervals the key was valid for.
    pub rolling_period: u32,
    /// Report type number.
    pub report_type: i32,
    /// Days since onset of symptoms, if known.
    pub days_since_onset_of_symptoms: Option<i32>,
    /// The first Unix hour the key may be published in.
    pub publishable_hour: i32,
    /// Transmission risk level.
    pub transmission_risk_level: u8,
}

impl DistKey {
    /// The plan's view of a stored key, with the expiry delay applied.
    pub fn new(key: &StoredKey, expiry_minutes: i64) -> Self {
        Self {
            key_data: key.key_data,
            rolling_start: key.rolling_start,
            rolling_period: key.rolling_period,
            report_type: key.report_type,
            days_since_onset_of_symptoms: key.days_since_onset_of_symptoms,
            // Unix hours fit an i32 until the year 247,000.
            publishable_hour: publishable_hour(key, expiry_minutes) as i32,
            transmission_risk_level: key.transmission_risk_level,
        }
    }

    fn to_proto(self) -> TemporaryExposureKey {
        TemporaryExposureKey {
            key_data: Some(self.key_data.to_vec()),
            transmission_risk_level: Some(i32::from(self.transmission_risk_level)),
            rolling_start_interval_number: Some(self.rolling_start as i32),
            // 144 is the field's default: leaving it out saves three bytes on nearly every key.
            rolling_period: (self.rolling_period != 144).then_some(self.rolling_period as i32),
            report_type: Some(self.report_type),
            days_since_onset_of_symptoms: self.days_since_onset_of_symptoms,
        }
    }
}

/// The first Unix hour in which `key` may be published.
pub fn publishable_hour(key: &StoredKey, expiry_minutes: i64) -> i64 {
    let end_seconds = (i64::from(key.rolling_start) + i64::from(key.rolling_period)) * 600;
    let ready = end_seconds + expiry_minutes * 60;
    // Round up: a key that becomes ready at 02:10 waits for the 03:00 hour.
    key.submission_hour
        .max(ready.div_euclid(3600) + i64::from(ready.rem_euclid(3600) != 0))
}

/// One archive to build: which hours' keys go in, and its time window.
struct ArchiveJob {
    path: String,
    hours: std::ops::Range<i64>,
}

/// Plans a run at Unix time `now`. `extra` files (configuration, public key) are published as given.
pub fn plan(
    keys: Vec<DistKey>,
    now: i64,
    config: &PlanConfig,
    signer: &Signer,
    padding_secret: &[u8],
    extra: Vec<PlannedFile>,
) -> Result<Plan, ExportError> {
    let current_hour = now.div_euclid(3600);
    let today = now.div_euclid(86_400);
    let first_day = today - config.retention_days;
    let first_hourly_day = today - config.hourly_retention_days;
    let region = config.region.as_str();

    // Real keys by the hour they are published in; only ended hours inside the retention window.
    let mut by_hour: BTreeMap<i64, Vec<DistKey>> = BTreeMap::new();
    for key in keys {
        let hour = i64::from(key.publishable_hour);
        if hour < current_hour && hour.div_euclid(24) >= first_day {
            by_hour.entry(hour).or_default().push(key);
        }
    }
    let mut plan = Plan::default();
    for (hour, keys) in by_hour.iter_mut() {
        if hour.div_euclid(24) < today {
            plan.real_keys += keys.len();
        }
        pad(
            keys,
            config.min_keys_per_file,
            padding_seed(padding_secret, region, *hour),
        );
        if hour.div_euclid(24) < today {
            plan.padding_keys += keys.len();
        }
    }
    plan.padding_keys -= plan.real_keys;

    let mut jobs = Vec::new();
    let mut dates = Vec::new();
    for day in first_day..today.max(first_day) {
        let date = layout::date_string(day);
        if day >= first_hourly_day {
            for hour_of_day in 0..24 {
                let hour = day * 24 + hour_of_day;
                jobs.push(ArchiveJob {
                    path: layout::hourly(region, &date, hour_of_day as u32),
                    hours: hour..hour + 1,
                });
            }
            plan.indexes.push(json_file(
                layout::hour_index(region, &date),
                &(0..24).collect::<Vec<u32>>(),
            ));
        }
        jobs.push(ArchiveJob {
            path: layout::daily(region, &date),
            hours: day * 24..(day + 1) * 24,
        });
        dates.push(date);
    }
    // Today's ended hours: hourly files only; the day is not in the date index until it has ended.
    let today_date = layout::date_string(today);
    let today_hours: Vec<u32> = (0..(current_hour - today * 24) as u32).collect();
    for &hour_of_day in &today_hours {
        let hour = today * 24 + i64::from(hour_of_day);
        jobs.push(ArchiveJob {
            path: layout::hourly(region, &today_date, hour_of_day),
            hours: hour..hour + 1,
        });
    }
    plan.indexes.push(json_file(
        layout::hour_index(region, &today_date),
        &today_hours,
    ));
    plan.indexes
        .push(json_file(layout::date_index(region), &dates));

    // Protobuf keys exist only while their file is built: a few files at a time, not all keys at once.
    let signers = std::slice::from_ref(signer);
    let archives: Result<Vec<(PlannedFile, usize)>, ExportError> = jobs
        .into_par_iter()
        .map(|job| {
            let keys: Vec<TemporaryExposureKey> = by_hour
                .range(job.hours.clone())
                .flat_map(|(_, keys)| keys.iter().map(|k| k.to_proto()))
                .collect();
            let count = keys.len();
            let body = export_body(region, job.hours.start * 3600, job.hours.end * 3600, keys);
            let bytes = export::write_archive(body, signers)?;
            Ok((
                PlannedFile {
                    path: job.path,
                    kind: Kind::Archive,
                    bytes,
                },
                count,
            ))
        })
        .collect();
    for (file, count) in archives? {
        plan.archive_keys += count;
        plan.archive_bytes += file.bytes.len();
        plan.archives.push(file);
    }
    plan.archives.extend(extra);
    plan.top_index = Some(json_file(layout::country_index(), &[region]));
    plan.keep = plan
        .archives
        .iter()
        .chain(&plan.indexes)
        .chain(&plan.top_index)
        .map(|f| f.path.clone())
        .collect();
    Ok(plan)
}

fn export_body(
    region: &str,
    start: i64,
    end: i64,
    mut keys: Vec<TemporaryExposureKey>,
) -> TemporaryExposureKeyExport {
    keys.sort_unstable_by(|a, b| a.key_data.cmp(&b.key_data));
    TemporaryExposureKeyExport {
        start_timestamp: Some(start as u64),
        end_timestamp: Some(end as u64),
        region: Some(region.to_owned()),
        batch_num: Some(1),
        batch_size: Some(1),
        keys,
        ..Default::default()
    }
}

fn padding_seed(secret: &[u8], region: &str, hour: i64) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("warnkit padding {region} {hour}").as_bytes());
    mac.finalize().into_bytes().into()
}

/// Adds random keys until `min` when there is at least one real key.
fn pad(keys: &mut Vec<DistKey>, min: usize, seed: [u8; 32]) {
    if keys.is_empty() || keys.len() >= min {
        return;
    }
    let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
    let real = keys.len();
    while keys.len() < min {
        let mut fake = keys[rng.gen_range(0..real)];
        fake.key_data = rng.gen();
        keys.push(fake);
    }
}

fn json_file<T: serde::Serialize + ?Sized>(path: String, value: &T) -> PlannedFile {
    let bytes = serde_json::to_vec(value).expect("indexes are plain arrays of strings and numbers");
    PlannedFile {
        path,
        kind: Kind::Index,
        bytes,
    }
}
