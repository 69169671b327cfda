//! The demo's simulation loop, one simulated hour at a time: distribution runs, sightings of the hour's
//! contacts, tests and lab results, then every phone's background task (polls, uploads, fake traffic,
//! downloads on its own jittered schedule), phones in parallel.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::sync::Semaphore;
use warnkit_app::{Backoff, Http, Level, Phone, RiskModel, Settings};

use super::backend::Backend;
use super::world::{Contact, World, WorldOptions, SCATTER_DB};
use super::{DemoArgs, RiskArg, Summary};

/// Every phone broadcasts with this calibrated power; RSSI = power − attenuation.
const TX_POWER: i8 = -10;
/// Phones working at the same time: enough to keep both sides busy without a connection per phone.
const CONCURRENCY: usize = 64;
/// Hours after the last day's midnight the demo keeps running, so the day-after uploads of the last
/// day get published (two hours after the day ends) and downloaded.
const DRAIN_HOURS: i64 = 6;

/// A phone with its own random source and the minute of the hour its background task runs.
struct Agent {
    phone: Phone,
    rng: ChaCha20Rng,
    minute: i64,
}

/// Runs the whole demo and returns the figures.
pub async fn simulate(args: &DemoArgs, show_progress: bool) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    // The simulation ends a few hours before the real now: the verification and test-result services
    // run on the system clock, and nothing they see may lie in their future.
    let real_now = warnkit_store::unix_now();
    let start_day = (real_now - (DRAIN_HOURS + 2) * 3600).div_euclid(86_400) - i64::from(args.days);
    let world = World::new(
        WorldOptions {
            people: args.phones,
            days: args.days,
            start_day,
            positive_rate: args.positive_rate,
            negative_rate: args.negative_rate,
            share_rate: args.share_rate,
        },
        &mut rng,
    );
    let temp;
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().context("creating a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let backend = Backend::start(&dir, world.start).await?;
    let http = Http::new(backend.endpoints.clone(), Backoff::fast(), args.seed)?
        .with_shared_verification();
    let lab = reqwest::Client::new();
    let settings = Settings {
        region: "DE".into(),
        public_key_pem: backend.public_key_pem.clone(),
        risk_model: match args.risk {
            RiskArg::V1 => RiskModel::V1,
            RiskArg::V2 => RiskModel::V2,
        },
        fake_rate_per_day: args.fake_rate,
        backoff: Backoff::fast(),
    };
    let mut agents: Vec<Agent> = (0..args.phones)
        .map(|_| Agent {
            phone: Phone::new(settings.clone(), TX_POWER),
            rng: ChaCha20Rng::from_rng(&mut rng).unwrap_or_else(|_| ChaCha20Rng::seed_from_u64(0)),
            minute: rng.gen_range(0..60),
        })
        .collect();
    let mut summary = Summary {
        phones: args.phones,
        days: args.days,
        ..Summary::default()
    };

    let first_hour = world.start / 3600;
    let last_hour = first_hour + i64::from(args.days) * 24 + DRAIN_HOURS;
    let progress = progress_bar(show_progress, (last_hour - first_hour) as u64);
    let mut next_contact = 0;
    let semaphore = Arc::new(Semaphore::new(CONCURRENCY));
    for hour in first_hour..last_hour {
        let h0 = hour * 3600;
        backend.clock.set(h0 + 1800);
        backend
            .distribute(h0 + 5)
            .await
            .context("distribution run")?;
        summary.distribution_runs += 1;
        next_contact = sightings(&world.contacts, next_contact, h0 + 3600, &mut agents);
        for test in world.tests.iter().filter(|t| t.sample / 3600 == hour) {
            let a = &mut agents[test.person];
            a.phone.en.consent = test.shares;
            a.phone
                .scan_qr(&http, &format!("demo-{}-{}", args.seed, test.person))
                .await
                .context("registering a test")?;
        }
        for test in world.tests.iter().filter(|t| t.result_at / 3600 == hour) {
            post_result(&lab, &backend, args.seed, test).await?;
            summary.requests += 1;
        }
        agents = background(agents, &http, h0, &semaphore).await?;
        progress.inc(1);
    }
    progress.finish_and_clear();

    // Everyone syncs once more at the end and shows their risk.
    let end = last_hour * 3600;
    agents = final_sync(agents, &http, end, &semaphore).await?;
    // The phones score the last 14 days, today included.
    let oldest_day = end.div_euclid(86_400) - 13;
    let truth = world.truth(oldest_day);
    let sharers: HashSet<usize> = world
        .tests
        .iter()
        .filter(|t| t.shares)
        .map(|t| t.person)
        .collect();
    let exposed_by_sharer = exposed_by(&world, &sharers, oldest_day);
    let mut published: HashSet<[u8; 16]> = HashSet::new();
    for (i, a) in agents.iter().enumerate() {
        let warned = a.phone.risk(end)?.level == Level::Increased;
        summary.warned += usize::from(warned);
        summary.truly_exposed += usize::from(truth.exposed[i]);
        summary.true_warnings += usize::from(warned && truth.exposed[i]);
        summary.false_warnings += usize::from(warned && !truth.exposed[i]);
        summary.missed += usize::from(!warned && truth.exposed[i]);
        summary.missed_despite_upload += usize::from(!warned && exposed_by_sharer[i]);
        summary.warned_without_contact += usize::from(warned && !truth.met_positive[i]);
        let s = &a.phone.stats;
        summary.uploads += u64::from(s.uploads);
        summary.uploads_failed += u64::from(s.failed_uploads);
        summary.fake_uploads += u64::from(s.fake_uploads);
        summary.phone_errors += u64::from(s.background_errors);
        summary.files_downloaded += s.files;
        summary.duplicate_keys += s.duplicate_keys;
        summary.rejected_archives += s.rejected.len() as u64;
        summary.failed_syncs += u64::from(s.failed_syncs);
        published.extend(a.phone.seen_keys.iter().copied());
    }
    for a in &agents {
        for k in &a.phone.stats.fake_keys {
            let mut data = [0u8; 16];
            if hex::decode_to_slice(k, &mut data).is_ok() && published.contains(&data) {
                summary.fake_keys_published += 1;
            }
        }
    }
    summary.positives = world.tests.iter().filter(|t| t.positive).count();
    summary.sharing_positives = sharers.len();
    let traffic = http.traffic();
    summary.requests += traffic.requests.load(std::sync::atomic::Ordering::Relaxed);
    summary.bytes_downloaded = traffic
        .bytes_downloaded
        .load(std::sync::atomic::Ordering::Relaxed);
    backend.stop().await;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn progress_bar(show: bool, hours: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(hours);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} simulated hours {bar:40} {pos}/{len} ({elapsed}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Records the sightings of every contact starting before `until`, from `next` on; returns the index
/// of the first contact not yet played. A contact's sightings are all recorded at once: phones only
/// look at their scan log when they match, which happens after the contact.
fn sightings(contacts: &[Contact], mut next: usize, until: i64, agents: &mut [Agent]) -> usize {
    while let Some(c) = contacts.get(next).filter(|c| c.start < until) {
        for slot in 0..i64::from(c.minutes / 5) {
            let t = c.start + slot * 300;
            for (from, to) in [(c.a, c.b), (c.b, c.a)] {
                let sender = &mut agents[from];
                let Some((rpi, aem)) = sender.phone.en.advertise(t, &mut sender.rng) else {
                    continue;
                };
                let receiver = &mut agents[to];
                let scatter = receiver.rng.gen_range(-SCATTER_DB..=SCATTER_DB);
                let attenuation = i16::from(c.attenuation) + scatter;
                let rssi = (i16::from(TX_POWER) - attenuation).clamp(-127, 0) as i8;
                receiver.phone.en.record(t, rpi, aem, rssi);
            }
        }
        next += 1;
    }
    next
}

async fn post_result(
    lab: &reqwest::Client,
    backend: &Backend,
    seed: u64,
    test: &super::world::Test,
) -> anyhow::Result<()> {
    let guid = format!("demo-{seed}-{}", test.person);
    let body = serde_json::json!({"testResults": [{
        "id": warnkit_service::auth::sha256_hex(&guid),
        "result": if test.positive { 2 } else { 1 },
        "sc": test.sample,
    }]});
    let r = lab
        .post(format!("{}/api/v1/lab/results", backend.testresult_url))
        .bearer_auth(&backend.lab_key)
        .json(&body)
        .send()
        .await
        .context("posting a lab result")?;
    anyhow::ensure!(
        r.status().is_success(),
        "the lab post was refused: {}",
        r.status()
    );
    Ok(())
}

/// Every phone's background task for the hour starting at `h0`: at its scheduled download time when
/// that falls in the hour, else at its own minute.
async fn background(
    agents: Vec<Agent>,
    http: &Http,
    h0: i64,
    semaphore: &Arc<Semaphore>,
) -> anyhow::Result<Vec<Agent>> {
    each(agents, semaphore, http, move |mut a, http| async move {
        let next = a.phone.schedule.next_run;
        let t = if (h0..h0 + 3600).contains(&next) {
            next
        } else {
            h0 + a.minute * 60
        };
        a.phone.background(&http, t, &mut a.rng).await;
        a
    })
    .await
}

async fn final_sync(
    agents: Vec<Agent>,
    http: &Http,
    end: i64,
    semaphore: &Arc<Semaphore>,
) -> anyhow::Result<Vec<Agent>> {
    each(agents, semaphore, http, move |mut a, http| async move {
        a.phone.sync(&http, end, &mut a.rng).await;
        a
    })
    .await
}

/// Runs `f` on every agent, `CONCURRENCY` at a time on the runtime's threads, keeping the order.
async fn each<F, Fut>(
    agents: Vec<Agent>,
    semaphore: &Arc<Semaphore>,
    http: &Http,
    f: F,
) -> anyhow::Result<Vec<Agent>>
where
    F: Fn(Agent, Http) -> Fut,
    Fut: std::future::Future<Output = Agent> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let n = agents.len();
    for (i, agent) in agents.into_iter().enumerate() {
        let permit = semaphore
            .clone()
            .acquire_owned()
            .await
            .context("semaphore")?;
        let fut = f(agent, http.clone());
        set.spawn(async move {
            let a = fut.await;
            drop(permit);
            (i, a)
        });
    }
    let mut out: Vec<Option<Agent>> = (0..n).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, a) = r.context("a phone task panicked")?;
        out[i] = Some(a);
    }
    out.into_iter()
        .map(|a| a.context("every phone comes back"))
        .collect()
}

/// People truly exposed by one of `sources` (the ground truth restricted to those positives).
fn exposed_by(world: &World, sources: &HashSet<usize>, oldest_day: i64) -> Vec<bool> {
    let mut restricted = world.clone();
    restricted
        .tests
        .retain(|t| !t.positive || sources.contains(&t.person));
    restricted.truth(oldest_day).exposed
}
