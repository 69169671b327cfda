//! The distribution plan: which keys go into which files, padding, empty periods, determinism.

use std::collections::{BTreeSet, HashMap};

use p256::ecdsa::SigningKey;
use rand::SeedableRng;
use warnkit_distribution::layout::{self, Kind};
use warnkit_distribution::plan::{self, publishable_hour, DistKey, Plan, PlanConfig};
use warnkit_keystore::StoredKey;
use warnkit_protocol::export::{Archive, Limits, Signer};

const DAY: i64 = 20_415; // 2025-11-23
const NOW: i64 = (DAY + 1) * 86_400 + 5 * 3600 + 600; // 2025-11-24 05:10 UTC

fn signer() -> Signer {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    Signer::new(SigningKey::random(&mut rng), "262", "v1")
}

/// A key of `day` (a full rolling period) submitted at `hour` (Unix hours).
fn key(byte: u8, day: i64, hour: i64) -> StoredKey {
    StoredKey {
        key_data: [byte; 16],
        rolling_start: (day * 144) as u32,
        rolling_period: 144,
        transmission_risk_level: 6,
        report_type: 1,
        days_since_onset_of_symptoms: Some(2),
        submission_hour: hour,
        origin: "DE".into(),
        visited_countries: vec![],
        consent_to_federation: false,
    }
}

/// A country on its own (no combined region), so file counts stay those of one region.
fn config(min: usize) -> PlanConfig {
    PlanConfig {
        min_keys_per_file: min,
        federation_region: None,
        ..PlanConfig::default()
    }
}

fn dist(keys: &[StoredKey]) -> Vec<DistKey> {
    keys.iter().map(|k| DistKey::new(k, 120)).collect()
}

fn run(keys: &[StoredKey], now: i64, min: usize) -> Plan {
    plan::plan(dist(keys), now, &config(min), &signer(), b"secret", vec![]).expect("plan")
}

fn files(plan: &Plan) -> HashMap<String, Vec<u8>> {
    plan.archives
        .iter()
        .chain(&plan.indexes)
        .chain(&plan.top_index)
        .map(|f| (f.path.clone(), f.bytes.clone()))
        .collect()
}

fn keys_in(files: &HashMap<String, Vec<u8>>, path: &str) -> Vec<[u8; 16]> {
    let bytes = files
        .get(path)
        .unwrap_or_else(|| panic!("{path} not planned"));
    let archive = Archive::read(bytes, &Limits::default()).expect("archive");
    archive.verify(&[signer().verifying_key()]).expect("signed");
    archive
        .export
        .keys
        .iter()
        .map(|k| k.key_data().try_into().expect("16 bytes"))
        .collect()
}

#[test]
fn keys_wait_for_their_day_to_end_plus_two_hours() {
    let yesterday_key = key(1, DAY, DAY * 24 + 10); // uploaded yesterday 10:00 for yesterday
    assert_eq!(publishable_hour(&yesterday_key, 120), (DAY + 1) * 24 + 2);
    let older = key(2, DAY - 1, DAY * 24 + 10); // uploaded yesterday for the day before
    assert_eq!(publishable_hour(&older, 120), DAY * 24 + 10);
    let short = StoredKey {
        rolling_period: 1,
        ..key(3, DAY, DAY * 24 + 1)
    };
    // Ends at 00:10, ready at 02:10, so it waits for the 03:00 hour.
    assert_eq!(publishable_hour(&short, 120), DAY * 24 + 3);
}

#[test]
fn each_key_lands_in_exactly_its_hour_and_its_day() {
    let keys = vec![
        key(1, DAY, DAY * 24 + 10), // → today 02:00 hourly, not in any daily yet
        key(2, DAY - 1, DAY * 24 + 10), // → yesterday 10:00 hourly + yesterday's daily
        key(3, DAY - 1, (DAY + 1) * 24), // uploaded today 00:00 → today's 00 hourly
        key(4, DAY + 1, (DAY + 1) * 24 + 1), // today's own key: not yet
    ];
    let plan = run(&keys, NOW, 0);
    let f = files(&plan);
    let yesterday = layout::date_string(DAY);
    let today = layout::date_string(DAY + 1);
    assert_eq!(
        keys_in(&f, &layout::hourly("DE", &yesterday, 10)),
        vec![[2; 16]]
    );
    assert_eq!(keys_in(&f, &layout::daily("DE", &yesterday)), vec![[2; 16]]);
    assert_eq!(keys_in(&f, &layout::hourly("DE", &today, 0)), vec![[3; 16]]);
    assert_eq!(keys_in(&f, &layout::hourly("DE", &today, 2)), vec![[1; 16]]);
    // Today's hours that have ended are listed; the current hour (05) is not.
    let hours: Vec<u32> =
        serde_json::from_slice(&f[&layout::hour_index("DE", &today)]).expect("json");
    assert_eq!(hours, vec![0, 1, 2, 3, 4]);
    assert!(!f.contains_key(&layout::hourly("DE", &today, 5)));
    assert!(!f.contains_key(&layout::daily("DE", &today)));
    // Key 4 is nowhere.
    let all: BTreeSet<[u8; 16]> = plan
        .archives
        .iter()
        .filter(|a| a.kind == Kind::Archive)
        .flat_map(|a| keys_in(&f, &a.path))
        .collect();
    assert!(!all.contains(&[4; 16]));
    assert_eq!(
        plan.real_keys, 1,
        "only yesterday's daily file holds a real key so far"
    );
}

#[test]
fn dates_cover_the_retention_window_with_empty_files() {
    let plan = run(&[], NOW, 140);
    let f = files(&plan);
    let dates: Vec<String> = serde_json::from_slice(&f[&layout::date_index("DE")]).expect("json");
    assert_eq!(dates.len(), 14);
    assert_eq!(dates.first(), Some(&layout::date_string(DAY - 13)));
    assert_eq!(dates.last(), Some(&layout::date_string(DAY)));
    for date in &dates {
        assert!(
            keys_in(&f, &layout::daily("DE", date)).is_empty(),
            "{date} must be an empty signed file"
        );
    }
    // Hourly files only for the hourly window (2 days plus today).
    assert!(f.contains_key(&layout::hourly("DE", &layout::date_string(DAY - 1), 0)));
    assert!(!f.contains_key(&layout::hourly("DE", &layout::date_string(DAY - 2), 0)));
    let regions: Vec<String> = serde_json::from_slice(&f[&layout::country_index()]).expect("json");
    assert_eq!(regions, vec!["DE"]);
}

#[test]
fn padding_is_indistinguishable_and_the_daily_file_is_the_union_of_its_hours() {
    let keys: Vec<StoredKey> = (0..5)
        .map(|i| key(10 + i, DAY - 2, (DAY - 1) * 24 + 7))
        .collect();
    let plan = run(&keys, NOW, 50);
    let f = files(&plan);
    let date = layout::date_string(DAY - 1);
    let hourly = keys_in(&f, &layout::hourly("DE", &date, 7));
    assert_eq!(hourly.len(), 50);
    let mut daily = keys_in(&f, &layout::daily("DE", &date));
    daily.sort_unstable();
    let mut sorted_hourly = hourly.clone();
    sorted_hourly.sort_unstable();
    assert_eq!(
        daily, sorted_hourly,
        "the daily file is exactly its hours' keys"
    );
    for real in &keys {
        assert!(hourly.contains(&real.key_data));
    }
    assert_eq!((plan.real_keys, plan.padding_keys), (5, 45));
    // Padding draws its fields from the real keys': here they all share one value per field.
    let archive =
        Archive::read(&f[&layout::hourly("DE", &date, 7)], &Limits::default()).expect("read");
    for k in &archive.export.keys {
        assert_eq!(k.transmission_risk_level(), 6);
        assert_eq!(k.rolling_start_interval_number(), ((DAY - 2) * 144) as i32);
        assert_eq!(k.rolling_period, None, "144 is left to the default");
    }
    // Keys are sorted by key bytes, so an upload's keys are not next to each other in upload order.
    let order: Vec<[u8; 16]> = archive
        .export
        .keys
        .iter()
        .map(|k| k.key_data().try_into().expect("16"))
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted);
}

#[test]
fn runs_are_deterministic_and_padding_is_stable() {
    let keys: Vec<StoredKey> = (0..3)
        .map(|i| key(20 + i, DAY - 3, (DAY - 2) * 24 + 3))
        .collect();
    let a = files(&run(&keys, NOW, 30));
    let b = files(&run(&keys, NOW + 60, 30));
    assert_eq!(
        a, b,
        "the same keys in the same hour must give the same bytes"
    );
    let other_secret =
        plan::plan(dist(&keys), NOW, &config(30), &signer(), b"another", vec![]).expect("plan");
    let c = files(&other_secret);
    let path = layout::daily("DE", &layout::date_string(DAY - 2));
    assert_ne!(a[&path], c[&path], "padding keys come from the secret");
}

#[test]
fn keys_past_retention_are_dropped() {
    let old = key(30, DAY - 20, (DAY - 19) * 24);
    let plan = run(&[old], NOW, 0);
    assert_eq!(plan.real_keys, 0);
    assert!(plan
        .keep
        .iter()
        .all(|p| !p.contains(&layout::date_string(DAY - 19))));
}

// ---- regions: the own country and the federation's combined region ----

fn foreign(byte: u8, origin: &str, visited: &[&str], consent: bool) -> StoredKey {
    StoredKey {
        origin: origin.into(),
        visited_countries: visited.iter().map(|c| (*c).to_owned()).collect(),
        consent_to_federation: consent,
        ..key(byte, DAY - 1, DAY * 24 + 3)
    }
}

fn federated(min: usize) -> PlanConfig {
    PlanConfig {
        federation_region: Some("EUR".into()),
        ..config(min)
    }
}

fn run_with(keys: &[StoredKey], config: &PlanConfig) -> Plan {
    let keys = keys
        .iter()
        .filter_map(|k| DistKey::for_config(k, config))
        .collect();
    plan::plan(keys, NOW, config, &signer(), b"secret", vec![]).expect("plan")
}

fn region_keys(plan: &Plan, region: &str) -> BTreeSet<[u8; 16]> {
    let f = files(plan);
    keys_in(&f, &layout::daily(region, &layout::date_string(DAY)))
        .into_iter()
        .collect()
}

#[test]
fn the_region_rule() {
    let c = federated(0);
    let own = DistKey::OWN_REGION;
    let combined = DistKey::COMBINED_REGION;
    // A foreign key whose owner visited us: ours and the federation's.
    assert_eq!(
        c.regions_of(&foreign(1, "FR", &["DE"], true)),
        own | combined
    );
    // A foreign key that never came here: only the combined region.
    assert_eq!(c.regions_of(&foreign(2, "FR", &["IT"], true)), combined);
    // Our own keys are in both, whatever their owner said about sharing with other countries.
    assert_eq!(
        c.regions_of(&foreign(3, "DE", &["FR"], false)),
        own | combined
    );
    assert_eq!(c.regions_of(&foreign(4, "DE", &[], true)), own | combined);
    // Keys stored before federation have no origin: they are ours.
    assert_eq!(c.regions_of(&foreign(5, "", &[], false)), own | combined);
    // Country codes compare without case.
    assert_eq!(c.regions_of(&foreign(6, "de", &[], false)), own | combined);
    assert_eq!(
        c.regions_of(&foreign(7, "FR", &["de"], false)),
        own | combined
    );
    // Without a combined region a foreign key not visiting us is published nowhere.
    let alone = config(0);
    assert_eq!(alone.regions_of(&foreign(2, "FR", &["IT"], true)), 0);
    assert!(DistKey::for_config(&foreign(2, "FR", &["IT"], true), &alone).is_none());
    assert_eq!(alone.regions_of(&foreign(1, "FR", &["DE"], true)), own);
    assert_eq!(alone.regions_of(&foreign(4, "DE", &[], true)), own);
}

#[test]
fn a_region_bit_keeps_the_key_small() {
    // The job holds a million of these: the region bits live in what was padding.
    assert_eq!(std::mem::size_of::<DistKey>(), 44);
}

#[test]
fn both_regions_get_their_own_files() {
    let keys = [
        foreign(1, "FR", &["DE"], true),  // visitor: DE and EUR
        foreign(2, "FR", &["IT"], true),  // not here: EUR only
        foreign(3, "DE", &["FR"], false), // own, no consent: DE and EUR
        foreign(4, "DE", &[], true),      // own, consent: DE and EUR
    ];
    let plan = run_with(&keys, &federated(0));
    assert_eq!(
        region_keys(&plan, "DE"),
        BTreeSet::from([[1; 16], [3; 16], [4; 16]])
    );
    assert_eq!(
        region_keys(&plan, "EUR"),
        BTreeSet::from([[1; 16], [2; 16], [3; 16], [4; 16]])
    );
    let f = files(&plan);
    let regions: Vec<String> = serde_json::from_slice(&f[&layout::country_index()]).expect("json");
    assert_eq!(regions, vec!["DE", "EUR"]);
    // The combined region has the whole layout: 14 dates, hour indexes, empty signed days.
    let dates: Vec<String> = serde_json::from_slice(&f[&layout::date_index("EUR")]).expect("json");
    assert_eq!(dates.len(), 14);
    assert!(keys_in(&f, &layout::daily("EUR", &dates[0])).is_empty());
    let hours: Vec<u32> =
        serde_json::from_slice(&f[&layout::hour_index("EUR", &layout::date_string(DAY))])
            .expect("json");
    assert_eq!(hours.len(), 24);
    let hourly = keys_in(&f, &layout::hourly("EUR", &layout::date_string(DAY), 3));
    assert_eq!(hourly.len(), 4);
    // Archives name their region.
    let archive = Archive::read(
        &f[&layout::daily("EUR", &layout::date_string(DAY))],
        &Limits::default(),
    )
    .expect("archive");
    assert_eq!(archive.export.region(), "EUR");
    assert_eq!(
        plan.real_keys, 7,
        "three keys in DE's daily file, four in EUR's"
    );
    for path in f.keys() {
        assert!(plan.keep.contains(path));
    }
}

#[test]
fn without_a_combined_region_nothing_changes() {
    let keys = [
        foreign(1, "FR", &["DE"], true),
        foreign(2, "FR", &["IT"], true),
        foreign(3, "DE", &["FR"], false),
        foreign(4, "DE", &[], true),
    ];
    let plan = run_with(&keys, &config(0));
    assert_eq!(
        region_keys(&plan, "DE"),
        BTreeSet::from([[1; 16], [3; 16], [4; 16]])
    );
    assert!(
        plan.keep.iter().all(|p| !p.contains("/EUR")),
        "no combined files without a combined region"
    );
    let f = files(&plan);
    let regions: Vec<String> = serde_json::from_slice(&f[&layout::country_index()]).expect("json");
    assert_eq!(regions, vec!["DE"]);
    // A lone country's files are what they were before regions existed: the same bytes as a plan of
    // the same keys made the old way, all as own keys.
    let published: Vec<StoredKey> = keys
        .iter()
        .filter(|k| k.key_data != [2; 16])
        .cloned()
        .collect();
    assert_eq!(f, files(&run(&published, NOW, 0)));
}

#[test]
fn each_region_is_padded_on_its_own() {
    let keys = [
        foreign(1, "FR", &["IT"], true), // EUR only
        foreign(3, "DE", &[], false),    // DE and EUR
    ];
    let plan = run_with(&keys, &federated(10));
    let f = files(&plan);
    let date = layout::date_string(DAY);
    let de = keys_in(&f, &layout::hourly("DE", &date, 3));
    let eur = keys_in(&f, &layout::hourly("EUR", &date, 3));
    assert_eq!((de.len(), eur.len()), (10, 10));
    assert!(de.contains(&[3; 16]) && !de.contains(&[1; 16]));
    assert!(eur.contains(&[1; 16]) && eur.contains(&[3; 16]));
    let de: BTreeSet<_> = de.into_iter().filter(|k| *k != [3; 16]).collect();
    assert!(
        eur.iter().all(|k| !de.contains(k)),
        "padding is drawn per region, so the two files share no padding key"
    );
    assert_eq!((plan.real_keys, plan.padding_keys), (3, 17));
}

#[test]
fn published_keys_carry_their_level_as_report_type_and_days_since_onset() {
    // One key per level; the original's encoding and minimum level 3.
    let keys: Vec<StoredKey> = (1..=8u8)
        .map(|trl| StoredKey {
            transmission_risk_level: trl,
            report_type: 1,
            days_since_onset_of_symptoms: Some(-3),
            ..key(trl, DAY - 1, DAY * 24 + 3)
        })
        .collect();
    let plan = run_with(&keys, &config(0));
    let f = files(&plan);
    let archive = Archive::read(
        &f[&layout::daily("DE", &layout::date_string(DAY))],
        &Limits::default(),
    )
    .expect("archive");
    let published: Vec<(i32, i32, i32)> = archive
        .export
        .keys
        .iter()
        .map(|k| {
            (
                k.transmission_risk_level(),
                k.report_type.expect("set"),
                k.days_since_onset_of_symptoms(),
            )
        })
        .collect();
    // Levels 1 and 2 stay unpublished; the rest keep their level and carry it in the other two.
    assert_eq!(
        published,
        vec![
            (3, 3, 1),
            (4, 3, 2),
            (5, 2, 1),
            (6, 2, 2),
            (7, 1, 1),
            (8, 1, 2)
        ]
    );
    // With the minimum at 1, the lowest levels go out as RECURSIVE.
    let all = PlanConfig {
        min_transmission_risk_level: 1,
        ..config(0)
    };
    let f = files(&run_with(&keys, &all));
    let archive = Archive::read(
        &f[&layout::daily("DE", &layout::date_string(DAY))],
        &Limits::default(),
    )
    .expect("archive");
    assert_eq!(archive.export.keys.len(), 8);
    assert_eq!(archive.export.keys[0].report_type, Some(4));
    assert_eq!(archive.export.keys[1].days_since_onset_of_symptoms(), 2);
}

#[test]
fn keys_outside_the_window_are_never_published() {
    let keys = [
        key(1, DAY - 1, DAY * 24 + 3),  // yesterday's key: published
        key(2, DAY - 14, DAY * 24 + 3), // fourteen days old on upload: still inside
        key(3, DAY - 15, DAY * 24 + 3), // fifteen: outside
        StoredKey {
            rolling_start: 0, // 1970, or an int32 that wrapped
            ..key(4, DAY - 1, DAY * 24 + 3)
        },
    ];
    let published = region_keys(&run_with(&keys, &config(0)), "DE");
    assert_eq!(published, BTreeSet::from([[1; 16], [2; 16]]));
}

#[test]
fn padding_mixes_the_fields_of_the_real_keys() {
    // One upload: five consecutive days, each with its own level, the way an app's vector sets them.
    let keys: Vec<StoredKey> = (0..5u8)
        .map(|i| StoredKey {
            transmission_risk_level: 3 + i,
            ..key(40 + i, DAY - 2 - i64::from(i), (DAY - 1) * 24 + 7)
        })
        .collect();
    let real: BTreeSet<(i32, i32)> = keys
        .iter()
        .map(|k| (k.rolling_start as i32, i32::from(k.transmission_risk_level)))
        .collect();
    let f = files(&run(&keys, NOW, 140));
    let archive = Archive::read(
        &f[&layout::hourly("DE", &layout::date_string(DAY - 1), 7)],
        &Limits::default(),
    )
    .expect("read");
    assert_eq!(archive.export.keys.len(), 140);
    let mut mixed = 0;
    for k in &archive.export.keys {
        let pair = (
            k.rolling_start_interval_number(),
            k.transmission_risk_level(),
        );
        // Each field is one the real keys have ...
        assert!(real.iter().any(|r| r.0 == pair.0), "{pair:?}");
        assert!(real.iter().any(|r| r.1 == pair.1), "{pair:?}");
        // ... but their pairing is the upload's only by chance.
        mixed += usize::from(!real.contains(&pair));
    }
    // Drawn independently, 4 in 5 padding keys pair a day with another day's level: about 108 of 135.
    assert!(
        mixed > 80,
        "only {mixed} padding keys mix the real keys' fields"
    );
}
