//! What one distribution run publishes: a pure function from the stored keys and the clock to files.
//!
//! Rules (see the project's spec, "Distribution"):
//! - A key may be published only once its rolling period has ended plus the expiry delay (2 hours by
//!   default), and only in an hour that has ended; so today's keys wait for tomorrow.
//! - Each key goes into the hourly file of the hour it becomes publishable and into that day's daily
//!   file. A daily file is exactly the union of its hours' files, padding included, so comparing the two
//!   reveals nothing.
//! - A file with fewer real keys than the minimum is padded with random keys whose metadata fields are
//!   each drawn from the file's real keys independently, so no field tells padding apart and the
//!   combinations of fields of one upload do not recur in the padding. A period without keys gets an empty
//!   signed file, so a phone can tell "nothing happened" from "not published yet".
//! - Keys inside a file are sorted by their (random) key bytes: keys of one upload end up scattered,
//!   and the same input always gives the same bytes, which makes runs idempotent.
//! - Padding is random but reproducible: its generator is seeded per file from a secret, so a re-run
//!   publishes the same padding keys again instead of new ones (which would reveal them as padding).
//! - Regions: the own region (e.g. `DE`) holds the own keys and the foreign keys of visitors; the
//!   combined region (`EUR` by default, the only one the original's apps download since 1.6) holds
//!   every own key and every foreign key. Consent to federation governs only the upload to other
//!   countries, not this. Each region has its own files, padding and indexes; the country index lists
//!   them all.
//! - Published keys carry their transmission risk level also as report type and days since onset
//!   (the configured [`KeyEncoding`]), the only two fields ENF v2 passes on to the risk calculation;
//!   keys below the minimum level are not published.

use std::collections::{BTreeMap, BTreeSet};

use hmac::{Hmac, Mac};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use sha2::Sha256;
use warnkit_keystore::StoredKey;
use warnkit_protocol::export::{self, ExportError, Signer};
use warnkit_protocol::proto::{TemporaryExposureKey, TemporaryExposureKeyExport};
use warnkit_protocol::risk::v2::KeyEncoding;

use crate::layout::{self, Kind};

/// Settings of the published files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanConfig {
    /// The own region, e.g. `DE`: the country's keys and foreign keys of visitors to it.
    pub region: String,
    /// The combined region, e.g. `EUR`: every own key and every foreign key. `None` publishes no
    /// combined files.
    pub federation_region: Option<String>,
    /// Keys with a lower transmission risk level are not published.
    pub min_transmission_risk_level: u8,
    /// How a key's transmission risk level is written into its report type and days since onset.
    pub key_encoding: KeyEncoding,
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
            federation_region: Some("EUR".into()),
            min_transmission_risk_level: 3,
            key_encoding: KeyEncoding::default(),
            min_keys_per_file: 140,
            retention_days: 14,
            hourly_retention_days: 2,
            expiry_minutes: 120,
        }
    }
}

impl PlanConfig {
    /// The regions a stored key is published in, as [`DistKey::OWN_REGION`] and
    /// [`DistKey::COMBINED_REGION`] bits; 0 when none.
    ///
    /// Own keys (origin the own region, or empty as before federation) go into the own region and the
    /// combined one. Foreign keys go into the own region when they visited it, and always into the
    /// combined region: the federation shared them for that.
    pub fn regions_of(&self, key: &StoredKey) -> u8 {
        let own = key.origin.is_empty() || key.origin.eq_ignore_ascii_case(&self.region);
        let visited_us = key
            .visited_countries
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&self.region));
        let federated = self.federation_region.is_some();
        let mut regions = 0;
        if own || visited_us {
            regions |= DistKey::OWN_REGION;
        }
        if federated {
            regions |= DistKey::COMBINED_REGION;
        }
        regions
    }

    /// The published regions with their bit: the own region first.
    fn regions(&self) -> Vec<(&str, u8)> {
        let mut regions = vec![(self.region.as_str(), DistKey::OWN_REGION)];
        if let Some(combined) = &self.federation_region {
            regions.push((combined.as_str(), DistKey::COMBINED_REGION));
        }
        regions
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
    /// Real keys published in daily files, counted once per region they are published in.
    pub real_keys: usize,
    /// Padding keys published in daily files, all regions.
    pub padding_keys: usize,
    /// Real keys in the current day's hourly files (its daily file comes when the day has ended),
    /// counted once per region.
    pub current_day_real_keys: usize,
    /// Padding keys in the current day's hourly files, all regions.
    pub current_day_padding_keys: usize,
    /// Hourly archives planned, all regions.
    pub hourly_files: usize,
    /// Daily archives planned, all regions.
    pub daily_files: usize,
    /// The own region's daily files: real and padding keys per date, oldest first.
    pub days: Vec<DayCount>,
    /// Keys given to the plan that wait for a later hour: their rolling period plus the expiry delay
    /// has not passed, or their hour has not ended.
    pub keys_waiting: usize,
    /// The Unix hour of the earliest waiting key: it is published once that hour has ended.
    pub next_publishable_hour: Option<i64>,
    /// Bytes of the key archives built (daily and hourly; not those already published).
    pub archive_bytes: usize,
    /// Keys in the key archives built (daily and hourly, padding included).
    pub archive_keys: usize,
    /// Key archives already published, so not built again ([`plan_unpublished`]); in `keep`.
    pub archives_published: usize,
}

/// The keys of one daily file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DayCount {
    /// The file's date, `YYYY-MM-DD`.
    pub date: String,
    /// Real keys in it.
    pub real_keys: usize,
    /// Padding keys in it.
    pub padding_keys: usize,
}

/// A stored key as the plan needs it: 44 bytes, against the few hundred a full row with its
/// strings takes, so a million keys fit in a small budget. The countries are reduced to the regions
/// the key is published in while reading, so no string is kept per key.
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
    /// The regions the key is published in: [`Self::OWN_REGION`], [`Self::COMBINED_REGION`] bits.
    pub regions: u8,
}

impl DistKey {
    /// Bit of [`Self::regions`]: published in the own region.
    pub const OWN_REGION: u8 = 1;
    /// Bit of [`Self::regions`]: published in the combined (federation) region.
    pub const COMBINED_REGION: u8 = 2;

    /// The plan's view of a stored key of the own region only, with the expiry delay applied.
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
            regions: Self::OWN_REGION,
        }
    }

    /// The plan's view of a stored key with its regions by [`PlanConfig::regions_of`]; `None` for a key
    /// published nowhere (a foreign key that did not visit us, with no combined region).
    ///
    /// Keys below the minimum level are not published, and neither is a key whose day lies more than
    /// the retention window before the hour it would be published in (a row stored before submission
    /// dropped such keys, or a peer that did not): the framework would discard it, and its presence
    /// would only say something about the uploader. The rule depends on the key alone, never on the
    /// clock, so a file's content does not change between runs.
    pub fn for_config(key: &StoredKey, config: &PlanConfig) -> Option<Self> {
        if key.transmission_risk_level < config.min_transmission_risk_level {
            return None;
        }
        let planned = Self::new(key, config.expiry_minutes);
        let key_day = i64::from(key.rolling_start / 144);
        let publish_day = i64::from(planned.publishable_hour).div_euclid(24);
        if key.rolling_start == 0 || key_day + config.retention_days < publish_day {
            return None;
        }
        let regions = config.regions_of(key);
        (regions != 0).then_some(Self { regions, ..planned })
    }

    /// The published key: its level kept, and also encoded into report type and days since onset.
    fn to_proto(self, encoding: &KeyEncoding) -> TemporaryExposureKey {
        let (report_type, days_since_onset) = match encoding.encode(self.transmission_risk_level) {
            Some((report_type, days)) => (report_type, Some(days)),
            None => (self.report_type, self.days_since_onset_of_symptoms),
        };
        TemporaryExposureKey {
            key_data: Some(self.key_data.to_vec()),
            transmission_risk_level: Some(i32::from(self.transmission_risk_level)),
            rolling_start_interval_number: Some(self.rolling_start as i32),
            // 144 is the field's default: leaving it out saves three bytes on nearly every key.
            rolling_period: (self.rolling_period != 144).then_some(self.rolling_period as i32),
            report_type: Some(report_type),
            days_since_onset_of_symptoms: days_since_onset,
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

/// The earliest Unix hour a run may act in without withdrawing or replacing what `published` (URL
/// paths) holds, with the path that sets it; `None` when no dated file is published.
///
/// A run in hour `h` publishes the hours before `h` and the days before `h`'s day, and lists the hours
/// of `h`'s day: so an hourly file of hour `x` needs a run at `x + 1` or later, a daily file of day
/// `d` one on `d + 1` or later, an hour index of day `d` one on `d` or later. An earlier run would
/// drop such a file from the indexes and delete it, though phones and caches keep it as immutable.
pub fn earliest_run_hour<'a>(
    published: impl IntoIterator<Item = &'a str>,
) -> Option<(i64, &'a str)> {
    let tree = format!("{}/", layout::country_index());
    published
        .into_iter()
        .filter_map(|path| {
            let rest = path.strip_prefix(&tree)?;
            let segments: Vec<&str> = rest.split('/').collect();
            let hour = match segments.as_slice() {
                [_, "date", date] => (layout::parse_date(date)? + 1) * 24,
                [_, "date", date, "hour"] => layout::parse_date(date)? * 24,
                [_, "date", date, "hour", hour] => {
                    let hour: i64 = hour.parse().ok().filter(|h| (0..24).contains(h))?;
                    layout::parse_date(date)? * 24 + hour + 1
                }
                _ => return None,
            };
            Some((hour, path))
        })
        .max()
}

/// One archive to build: which region, which hours' keys go in, and its time window.
struct ArchiveJob<'a> {
    path: String,
    region: &'a str,
    bit: u8,
    hours: std::ops::Range<i64>,
}

/// The keys of one run, sorted by hour, with each hour's place and each region's padding.
struct Keys {
    /// Sorted by (publishable hour, key bytes): the order is independent of how the database
    /// returned them, so the padding drawn from them is too.
    keys: Vec<DistKey>,
    /// Hour → its range in `keys`.
    hours: BTreeMap<i64, std::ops::Range<usize>>,
    /// (region bit, hour) → the padding keys of that hour's file.
    padding: BTreeMap<(u8, i64), Vec<DistKey>>,
}

impl Keys {
    /// Real keys, then padding, of `hours` in the region `bit`.
    fn of(&self, bit: u8, hours: std::ops::Range<i64>) -> impl Iterator<Item = &DistKey> + '_ {
        let start = hours.start;
        let end = hours.end;
        self.hours
            .range(hours)
            .flat_map(move |(_, range)| self.keys[range.clone()].iter())
            .filter(move |k| k.regions & bit != 0)
            .chain(
                self.padding
                    .range((bit, start)..(bit, end))
                    .flat_map(|(_, keys)| keys.iter()),
            )
    }
}

/// Plans a run at Unix time `now`, every archive signed by `signer` alone: [`plan_signed`] with one key.
pub fn plan(
    keys: Vec<DistKey>,
    now: i64,
    config: &PlanConfig,
    signer: &Signer,
    padding_secret: &[u8],
    extra: Vec<PlannedFile>,
) -> Result<Plan, ExportError> {
    let signers = std::slice::from_ref(signer);
    plan_signed(keys, now, config, signers, padding_secret, extra)
}

/// Plans a run at Unix time `now`. `extra` files (configuration, public key) are published as given.
/// Every archive carries one signature by each of `signers`: during a signing key rotation's overlap
/// the retiring key and the new one, so apps trusting either verify it.
pub fn plan_signed(
    keys: Vec<DistKey>,
    now: i64,
    config: &PlanConfig,
    signers: &[Signer],
    padding_secret: &[u8],
    extra: Vec<PlannedFile>,
) -> Result<Plan, ExportError> {
    let none = std::collections::HashSet::new();
    plan_unpublished(keys, now, config, signers, padding_secret, extra, &none)
}

/// [`plan_signed`] for a store that already holds the key archives at `published` (URL paths): those
/// are kept but not built again. A published archive never changes, and compressing and signing
/// archives is most of a run's work, so a run costs in proportion to the periods not published yet
/// rather than to the whole window. Everything else (key counts, indexes, what to keep) is as if all
/// were built.
pub fn plan_unpublished(
    mut keys: Vec<DistKey>,
    now: i64,
    config: &PlanConfig,
    signers: &[Signer],
    padding_secret: &[u8],
    extra: Vec<PlannedFile>,
    published: &std::collections::HashSet<String>,
) -> Result<Plan, ExportError> {
    let current_hour = now.div_euclid(3600);
    let today = now.div_euclid(86_400);
    let first_day = today - config.retention_days;
    let first_hourly_day = today - config.hourly_retention_days;
    let regions = config.regions();

    let mut plan = Plan::default();
    // Keys of hours that have not ended wait; keys whose day left the window never come.
    for key in keys.iter().filter(|k| k.regions != 0) {
        let hour = i64::from(key.publishable_hour);
        if hour >= current_hour {
            plan.keys_waiting += 1;
            plan.next_publishable_hour =
                Some(plan.next_publishable_hour.map_or(hour, |h| h.min(hour)));
        }
    }
    // Real keys of ended hours inside the retention window, sorted in place: one copy of the keys
    // serves every region.
    keys.retain(|key| {
        let hour = i64::from(key.publishable_hour);
        hour < current_hour && hour.div_euclid(24) >= first_day && key.regions != 0
    });
    // Key bytes compared as one big-endian integer: the same order as the bytes, without a memcmp call.
    keys.par_sort_unstable_by_key(|k| (k.publishable_hour, u128::from_be_bytes(k.key_data)));
    let mut hours = BTreeMap::new();
    let mut start = 0;
    for chunk in keys.chunk_by(|a, b| a.publishable_hour == b.publishable_hour) {
        hours.insert(
            i64::from(chunk[0].publishable_hour),
            start..start + chunk.len(),
        );
        start += chunk.len();
    }
    let mut keys = Keys {
        keys,
        hours,
        padding: BTreeMap::new(),
    };

    let mut days: BTreeMap<i64, DayCount> = (first_day..today)
        .map(|day| {
            let count = DayCount {
                date: layout::date_string(day),
                ..DayCount::default()
            };
            (day, count)
        })
        .collect();
    for &(region, bit) in &regions {
        for (&hour, range) in &keys.hours {
            let real: Vec<&DistKey> = keys.keys[range.clone()]
                .iter()
                .filter(|k| k.regions & bit != 0)
                .collect();
            let padding = pad(
                &real,
                config.min_keys_per_file,
                padding_seed(padding_secret, region, hour),
            );
            if hour.div_euclid(24) < today {
                plan.real_keys += real.len();
                plan.padding_keys += padding.len();
            } else {
                plan.current_day_real_keys += real.len();
                plan.current_day_padding_keys += padding.len();
            }
            if let Some(day) = days
                .get_mut(&hour.div_euclid(24))
                .filter(|_| bit == DistKey::OWN_REGION)
            {
                day.real_keys += real.len();
                day.padding_keys += padding.len();
            }
            if !padding.is_empty() {
                keys.padding.insert((bit, hour), padding);
            }
        }
    }

    let mut jobs = Vec::new();
    for &(region, bit) in &regions {
        let mut dates = Vec::new();
        for day in first_day..today.max(first_day) {
            let date = layout::date_string(day);
            if day >= first_hourly_day {
                for hour_of_day in 0..24 {
                    let hour = day * 24 + hour_of_day;
                    jobs.push(ArchiveJob {
                        path: layout::hourly(region, &date, hour_of_day as u32),
                        region,
                        bit,
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
                region,
                bit,
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
                region,
                bit,
                hours: hour..hour + 1,
            });
        }
        plan.indexes.push(json_file(
            layout::hour_index(region, &today_date),
            &today_hours,
        ));
        plan.indexes
            .push(json_file(layout::date_index(region), &dates));
    }

    plan.days = days.into_values().collect();
    plan.daily_files = jobs
        .iter()
        .filter(|j| j.hours.end - j.hours.start > 1)
        .count();
    plan.hourly_files = jobs.len() - plan.daily_files;
    let (jobs, already): (Vec<ArchiveJob<'_>>, Vec<ArchiveJob<'_>>) = jobs
        .into_iter()
        .partition(|job| !published.contains(&job.path));
    plan.archives_published = already.len();

    // Protobuf keys exist only while their file is built: a few files at a time, not all keys at once.
    let keys = &keys;
    let archives: Result<Vec<(PlannedFile, usize)>, ExportError> = jobs
        .into_par_iter()
        .map(|job| {
            let protos: Vec<TemporaryExposureKey> = keys
                .of(job.bit, job.hours.clone())
                .map(|k| k.to_proto(&config.key_encoding))
                .collect();
            let count = protos.len();
            let body = export_body(
                job.region,
                job.hours.start * 3600,
                job.hours.end * 3600,
                protos,
            );
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
    let names: Vec<&str> = regions.iter().map(|(name, _)| *name).collect();
    plan.top_index = Some(json_file(layout::country_index(), &names));
    plan.keep = plan
        .archives
        .iter()
        .chain(&plan.indexes)
        .chain(&plan.top_index)
        .map(|f| f.path.clone())
        .chain(already.into_iter().map(|job| job.path))
        .collect();
    Ok(plan)
}

fn export_body(
    region: &str,
    start: i64,
    end: i64,
    mut keys: Vec<TemporaryExposureKey>,
) -> TemporaryExposureKeyExport {
    // Unstable: a stable sort's buffer would cost megabytes per daily file being built.
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

/// The random keys that fill a file of `real` keys up to `min`; none for an empty file.
///
/// Each metadata field of a padding key comes from a real key of the file drawn for that field alone:
/// every field follows the file's own distribution, while the combinations of fields are mixed, so
/// counting combinations does not count uploaders. (Copying whole real keys made each upload's
/// pattern of days and levels recur in its padding.) Report type and days
/// since onset are written from the level at publication, so they follow it.
fn pad(real: &[&DistKey], min: usize, seed: [u8; 32]) -> Vec<DistKey> {
    if real.is_empty() || real.len() >= min {
        return Vec::new();
    }
    let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
    let any = |rng: &mut rand_chacha::ChaCha20Rng| *real[rng.gen_range(0..real.len())];
    (real.len()..min)
        .map(|_| {
            let day = any(&mut rng);
            let level = any(&mut rng);
            let onset = any(&mut rng);
            DistKey {
                key_data: rng.gen(),
                rolling_start: day.rolling_start,
                rolling_period: day.rolling_period,
                report_type: level.report_type,
                transmission_risk_level: level.transmission_risk_level,
                days_since_onset_of_symptoms: onset.days_since_onset_of_symptoms,
                ..day
            }
        })
        .collect()
}

/// A JSON index file.
pub(crate) fn json_file<T: serde::Serialize + ?Sized>(path: String, value: &T) -> PlannedFile {
    let bytes = serde_json::to_vec(value).expect("indexes are plain arrays of strings and numbers");
    PlannedFile {
        path,
        kind: Kind::Index,
        bytes,
    }
}
