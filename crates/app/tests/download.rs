//! The phone's downloads against the distribution job's own files (its pure `plan`, the very files
//! `warnkit distribute` publishes) served by a tiny CDN in the test that can fail every other request
//! and serve a forged archive: catch-up after days off, retries, signature checks.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use p256::ecdsa::SigningKey;
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use warnkit_app::{Backoff, Endpoints, Http, Phone, RiskModel, Settings};
use warnkit_distribution::layout::Kind;
use warnkit_distribution::plan::{plan, DistKey, PlanConfig, PlannedFile};
use warnkit_keystore::StoredKey;
use warnkit_protocol::export::{self, Archive, Limits, Signer};
use warnkit_protocol::proto::app_config::ApplicationConfiguration;

const DAY: i64 = 86_400;
const HOUR: i64 = 3600;
/// Midnight UTC of a fixed day (2026-11-01), so the test does not depend on the real date.
const T0: i64 = 20_393 * DAY;

#[derive(Default)]
struct Cdn {
    files: Mutex<HashMap<String, Vec<u8>>>,
    flaky: AtomicBool,
    requests: AtomicU64,
    /// Successful archive downloads per path.
    served: Mutex<HashMap<String, u32>>,
}

async fn get(State(cdn): State<Arc<Cdn>>, Path(path): Path<String>) -> axum::response::Response {
    let n = cdn.requests.fetch_add(1, Ordering::SeqCst);
    if cdn.flaky.load(Ordering::SeqCst) && n % 2 == 0 {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let Some(bytes) = cdn.files.lock().unwrap().get(&path).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if path.contains("diagnosis-keys") && !path.ends_with("/hour") && !path.ends_with("/date") {
        *cdn.served.lock().unwrap().entry(path).or_default() += 1;
    }
    bytes.into_response()
}

async fn start_cdn() -> (Arc<Cdn>, String) {
    let cdn = Arc::new(Cdn::default());
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::get(get))
        .with_state(cdn.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (cdn, url)
}

fn signer(seed: u64) -> Signer {
    let key = SigningKey::random(&mut ChaCha20Rng::seed_from_u64(seed));
    Signer::new(key, "262", "v1")
}

fn public_pem(signer: &Signer) -> String {
    use p256::pkcs8::EncodePublicKey;
    signer
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap()
}

/// Keys submitted every hour from two weeks before `T0` until `until`, each for the previous day.
fn submissions(until: i64) -> Vec<StoredKey> {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let first = (T0 - 14 * DAY) / HOUR;
    (first..until / HOUR)
        .filter(|h| h % 3 == 0)
        .map(|hour| StoredKey {
            key_data: rng.gen(),
            rolling_start: ((hour / 24 - 1) * 144) as u32,
            rolling_period: 144,
            transmission_risk_level: 6,
            report_type: 1,
            days_since_onset_of_symptoms: None,
            submission_hour: hour,
            origin: "DE".into(),
            visited_countries: vec![],
            consent_to_federation: false,
        })
        .collect()
}

/// Publishes what a distribution run at `now` publishes, replacing the previous run's files.
fn publish(cdn: &Cdn, signer: &Signer, now: i64) -> BTreeSet<[u8; 16]> {
    // One region only: the phones here download the home region.
    let alone = PlanConfig {
        federation_region: None,
        ..PlanConfig::default()
    };
    publish_keys(cdn, signer, now, &submissions(now), &alone)
}

/// [`publish`] with other keys and settings (regions); returns the keys in the archives of every region.
fn publish_keys(
    cdn: &Cdn,
    signer: &Signer,
    now: i64,
    stored: &[StoredKey],
    config: &PlanConfig,
) -> BTreeSet<[u8; 16]> {
    let keys: Vec<DistKey> = stored
        .iter()
        .filter_map(|k| DistKey::for_config(k, config))
        .collect();
    let app_config = PlannedFile {
        path: "version/v1/configuration/country/DE/app_config".into(),
        kind: Kind::Config,
        bytes: export::write_signed(
            &ApplicationConfiguration::final_shipped().encode_to_vec(),
            std::slice::from_ref(signer),
            (None, None),
        )
        .unwrap(),
    };
    let p = plan(keys, now, config, signer, b"secret", vec![app_config]).unwrap();
    let mut files = cdn.files.lock().unwrap();
    files.clear();
    let mut published = BTreeSet::new();
    for f in p.archives.iter().chain(&p.indexes).chain(&p.top_index) {
        if f.kind == Kind::Archive && !f.path.contains("/hour/") {
            let a = Archive::read(&f.bytes, &Limits::default()).unwrap();
            published.extend(
                a.export
                    .keys
                    .iter()
                    .map(|k| <[u8; 16]>::try_from(k.key_data()).unwrap()),
            );
        }
        files.insert(f.path.clone(), f.bytes.clone());
    }
    // Today's hours are not in a daily file yet.
    for f in &p.archives {
        if f.path
            .contains(&warnkit_app::phone::date_string((now / DAY) as u32))
        {
            let a = Archive::read(&f.bytes, &Limits::default()).unwrap();
            published.extend(
                a.export
                    .keys
                    .iter()
                    .map(|k| <[u8; 16]>::try_from(k.key_data()).unwrap()),
            );
        }
    }
    published
}

fn phone(signer: &Signer, cdn_url: &str) -> (Phone, Http) {
    let settings = Settings {
        region: "DE".into(),
        key_regions: vec!["DE".into()],
        public_key_pem: public_pem(signer),
        risk_model: RiskModel::V1,
        fake_rate_per_day: 0.0,
        backoff: Backoff::fast(),
    };
    let endpoints = Endpoints {
        distribution: cdn_url.into(),
        submission: "http://127.0.0.1:9".into(),
        verification: "http://127.0.0.1:9".into(),
    };
    (
        Phone::new(settings, -10),
        Http::new(endpoints, Backoff::fast(), 7).unwrap(),
    )
}

#[tokio::test]
async fn phone_off_for_three_days_catches_up_completely() {
    let (cdn, url) = start_cdn().await;
    let signer = signer(1);
    let (mut phone, http) = phone(&signer, &url);
    let mut rng = ChaCha20Rng::seed_from_u64(2);

    // Hourly runs through the first day.
    for hour in 1..=20 {
        let now = T0 + hour * HOUR + 600;
        publish(&cdn, &signer, now - 595);
        let report = phone.sync(&http, now, &mut rng).await;
        assert!(report.complete(), "{report:?}");
    }
    assert_eq!(
        phone.stats.duplicate_keys, 0,
        "hour by hour, nothing comes twice"
    );
    // Switched off for three days, while the server goes on publishing.
    let back = T0 + 3 * DAY + 20 * HOUR + 600;
    let published = publish(&cdn, &signer, back - 595);
    let report = phone.sync(&http, back, &mut rng).await;
    assert!(report.complete(), "{report:?}");
    let seen: BTreeSet<[u8; 16]> = phone.seen_keys.iter().copied().collect();
    let missing: Vec<_> = published.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "{} published keys never downloaded",
        missing.len()
    );
    // Every archive was fetched at most once.
    assert!(cdn.served.lock().unwrap().values().all(|&n| n == 1));
    // The first day's hours are gone from the server by now, so its daily file stood in; its keys
    // that came before were recognised and not matched again.
    assert!(phone.stats.duplicate_keys > 0);
    assert!(phone
        .downloaded
        .days
        .contains(&warnkit_app::phone::date_string((T0 / DAY) as u32)));
    let back_date = warnkit_app::phone::date_string((back / DAY) as u32);
    assert!(phone.downloaded.hours.keys().all(|d| *d == back_date));
}

#[tokio::test]
async fn server_failing_every_other_request_still_gives_complete_downloads() {
    let (cdn, url) = start_cdn().await;
    let signer = signer(3);
    let (mut phone, http) = phone(&signer, &url);
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let now = T0 + 5 * DAY + 9 * HOUR + 600;
    let published = publish(&cdn, &signer, now - 595);
    cdn.flaky.store(true, Ordering::SeqCst);
    let report = phone.sync(&http, now, &mut rng).await;
    assert!(report.complete(), "{report:?}");
    let seen: HashSet<[u8; 16]> = phone.seen_keys.iter().copied().collect();
    assert!(published.iter().all(|k| seen.contains(k)));
    assert!(http.traffic().retries.load(Ordering::SeqCst) >= report.files as u64);
    assert!(
        phone.v1_params.is_some(),
        "the app configuration came through too"
    );
    assert_eq!(phone.schedule.failures, 0);
}

#[tokio::test]
async fn forged_archive_is_rejected_and_reported() {
    let (cdn, url) = start_cdn().await;
    let good = signer(5);
    let (mut phone, http) = phone(&good, &url);
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let now = T0 + 5 * DAY + 9 * HOUR + 600;
    let published = publish(&cdn, &good, now - 595);
    // An attacker replaces yesterday's daily file with one of their own keys, signed by another key.
    let date = warnkit_app::phone::date_string((now / DAY - 1) as u32);
    let path = format!("version/v1/diagnosis-keys/country/DE/date/{date}");
    let genuine = cdn.files.lock().unwrap()[&path].clone();
    let mut forged = Archive::read(&genuine, &Limits::default()).unwrap().export;
    forged.keys[0].key_data = Some(vec![0xEE; 16]);
    let forged = export::write_archive(forged, &[signer(666)]).unwrap();
    cdn.files.lock().unwrap().insert(path.clone(), forged);

    let report = phone.sync(&http, now, &mut rng).await;
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert!(report.rejected[0].contains(&path) && report.rejected[0].contains("signature"));
    assert!(
        !phone.seen_keys.contains(&[0xEE; 16]),
        "nothing of a forged file is used"
    );
    assert!(
        !phone.downloaded.days.contains(&date),
        "and it is fetched again later"
    );
    assert_eq!(phone.stats.rejected.len(), 1);
    assert_eq!(
        phone.schedule.failures, 1,
        "a run with a rejected file retries with backoff"
    );
    assert!(phone.schedule.next_run < now + HOUR);

    // Once the CDN serves the genuine file again, the next run completes.
    cdn.files.lock().unwrap().insert(path, genuine);
    let report = phone.sync(&http, phone.schedule.next_run, &mut rng).await;
    assert!(report.complete(), "{report:?}");
    assert!(published.iter().all(|k| phone.seen_keys.contains(k)));
    assert_eq!(phone.stats.duplicate_keys, 0);
}

#[tokio::test]
async fn a_stale_hour_index_of_an_ended_day_does_not_end_it() {
    let (cdn, url) = start_cdn().await;
    let signer = signer(7);
    let (mut phone, http) = phone(&signer, &url);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    // The phone follows day 5 hour by hour up to 20:00.
    let day5 = warnkit_app::phone::date_string((T0 / DAY + 5) as u32);
    let evening = T0 + 5 * DAY + 20 * HOUR + 600;
    publish(&cdn, &signer, evening - 595);
    assert!(phone.sync(&http, evening, &mut rng).await.complete());
    let index_path = format!("version/v1/diagnosis-keys/country/DE/date/{day5}/hour");
    let stale_index = cdn.files.lock().unwrap()[&index_path].clone();

    // Past midnight the server has published the day's last hours, but a cache still serves the
    // day's hour index as it was at 20:00 (indexes may be cached for a while).
    let morning = T0 + 6 * DAY + HOUR + 600;
    let published = publish(&cdn, &signer, morning - 595);
    let genuine_index = cdn.files.lock().unwrap()[&index_path].clone();
    cdn.files
        .lock()
        .unwrap()
        .insert(index_path.clone(), stale_index);
    let report = phone.sync(&http, morning, &mut rng).await;
    assert!(report.complete(), "{report:?}");
    assert!(
        !phone.downloaded.days.contains(&day5),
        "a day is not over while its index lists fewer than 24 hours"
    );
    let missing = published
        .iter()
        .filter(|k| !phone.seen_keys.contains(*k))
        .count();
    assert!(missing > 0, "the stale index hides the last hours' keys");

    // Once the cache has the real index, the next run fetches the missing hours and ends the day.
    cdn.files.lock().unwrap().insert(index_path, genuine_index);
    let report = phone.sync(&http, morning + HOUR, &mut rng).await;
    assert!(report.complete(), "{report:?}");
    assert!(phone.downloaded.days.contains(&day5));
    assert!(published.iter().all(|k| phone.seen_keys.contains(k)));
    assert_eq!(phone.stats.duplicate_keys, 0);
    assert!(cdn.served.lock().unwrap().values().all(|&n| n == 1));
}

#[tokio::test]
async fn an_extra_region_brings_the_foreign_keys_each_once() {
    let (cdn, url) = start_cdn().await;
    let signer = signer(1);
    let config = PlanConfig {
        federation_region: Some("EUR".into()),
        ..PlanConfig::default()
    };
    let now = T0 + 10 * HOUR + 600;
    // Two thirds of the keys are ours (published in DE and in EUR, consent or not), a third came from
    // FR without a visit to DE (in EUR only).
    let stored: Vec<StoredKey> = submissions(now)
        .into_iter()
        .enumerate()
        .map(|(i, mut k)| {
            k.consent_to_federation = i % 3 != 0;
            if i % 3 == 2 {
                k.origin = "FR".into();
            }
            k
        })
        .collect();
    let foreign: BTreeSet<[u8; 16]> = stored
        .iter()
        .filter(|k| k.origin == "FR")
        .map(|k| k.key_data)
        .collect();
    let published = publish_keys(&cdn, &signer, now - 595, &stored, &config);
    let published_foreign: BTreeSet<[u8; 16]> = foreign.intersection(&published).copied().collect();
    assert!(!published_foreign.is_empty());
    let mut rng = ChaCha20Rng::seed_from_u64(3);

    let (mut home_only, http) = phone(&signer, &url);
    let report = home_only.sync(&http, now, &mut rng).await;
    assert!(report.complete(), "{report:?}");
    assert!(home_only.seen_keys.iter().all(|k| !foreign.contains(k)));
    assert_eq!(report.keys_from_other_regions, 0);

    let (mut traveller, _) = phone(&signer, &url);
    traveller.settings.key_regions = vec!["DE".into(), "EUR".into()];
    let report = traveller.sync(&http, now, &mut rng).await;
    assert!(report.complete(), "{report:?}");
    let seen: BTreeSet<[u8; 16]> = traveller.seen_keys.iter().copied().collect();
    let missing = published.difference(&seen).count();
    assert_eq!(missing, 0, "published keys the traveller never got");
    assert!(published_foreign.is_subset(&seen));
    // The consenting home keys come through both regions: matched once, and not counted as duplicates.
    assert_eq!(report.duplicate_keys, 0);
    assert!(report.keys_from_other_regions > 0, "{report:?}");
    assert_eq!(report.keys, seen.len());
    assert!(
        traveller.downloaded_extra["EUR"].days.len()
            + traveller.downloaded_extra["EUR"].hours.len()
            > 0
    );
    // A second run fetches nothing new from either region.
    let again = traveller.sync(&http, now + 600, &mut rng).await;
    assert!(again.complete(), "{again:?}");
    assert_eq!((again.keys, again.duplicate_keys), (0, 0));

    // The current original app downloads the combined region only, and gets every key from it.
    let (mut current, _) = phone(&signer, &url);
    current.settings.key_regions = vec!["EUR".into()];
    let report = current.sync(&http, now, &mut rng).await;
    assert!(report.complete(), "{report:?}");
    let seen: BTreeSet<[u8; 16]> = current.seen_keys.iter().copied().collect();
    let real: BTreeSet<[u8; 16]> = stored
        .iter()
        .map(|k| k.key_data)
        .filter(|k| published.contains(k))
        .collect();
    assert!(!real.is_empty());
    assert_eq!(
        real.difference(&seen).count(),
        0,
        "EUR holds every published real key"
    );
    assert_eq!(report.keys_from_other_regions, 0);
}
