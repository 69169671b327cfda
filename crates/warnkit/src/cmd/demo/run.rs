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

use super::backend::{Backend, RemoteOptions, ServerSpec};
use super::world::{Contact, World, WorldOptions, SCATTER_DB};
use super::{DemoArgs, RiskArg, Summary};
use crate::cmd::progress::Progress;

/// Every phone broadcasts with this calibrated power; RSSI = power − attenuation.
pub(super) const TX_POWER: i8 = -10;
/// Phones working at the same time: enough to keep both sides busy without a connection per phone.
pub(super) const CONCURRENCY: usize = 64;
/// Hours after the last day's midnight the demo keeps running, so the day-after uploads of the last
/// day get published (two hours after the day ends) and downloaded.
pub(super) const DRAIN_HOURS: i64 = 6;

/// A phone with its own random source, the minute of the hour its background task runs, and its home
/// country (an index into the backends; always 0 with one country).
pub(super) struct Agent {
    pub(super) phone: Phone,
    pub(super) rng: ChaCha20Rng,
    pub(super) minute: i64,
    pub(super) home: usize,
}

/// One country's world as the arguments describe it.
pub(super) fn world_options(args: &DemoArgs) -> WorldOptions {
    // The simulation ends a few hours before the real now: the verification and test-result services
    // run on the system clock, and nothing they see may lie in their future.
    let real_now = warnkit_store::unix_now();
    let start_day = (real_now - (DRAIN_HOURS + 2) * 3600).div_euclid(86_400) - i64::from(args.days);
    WorldOptions {
        people: args.phones,
        days: args.days,
        start_day,
        positive_rate: args.positive_rate,
        negative_rate: args.negative_rate,
        share_rate: args.share_rate,
    }
}

/// The phones' risk model.
pub(super) fn risk_model(risk: RiskArg) -> RiskModel {
    match risk {
        RiskArg::V1 => RiskModel::V1,
        RiskArg::V2 => RiskModel::V2,
    }
}

/// The local services' data directory: `--data-dir`, or a temporary one, removed when the returned
/// guard drops.
pub(super) fn data_dir(
    args: &DemoArgs,
) -> anyhow::Result<(std::path::PathBuf, Option<tempfile::TempDir>)> {
    Ok(match &args.data_dir {
        Some(d) => (d.clone(), None),
        None => {
            let temp = tempfile::tempdir().context("creating a temporary directory")?;
            (temp.path().to_path_buf(), Some(temp))
        }
    })
}

/// Runs the whole demo and returns the figures.
pub async fn simulate(args: &DemoArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    let world = World::new(world_options(args), &mut rng);
    // Holds a temporary data directory until the demo ends.
    let _temp;
    let backend = match &args.server {
        Some(server) => {
            let options = RemoteOptions {
                token: args.demo_token.clone(),
                public_key_pem: match &args.public_key {
                    Some(p) => Some(
                        std::fs::read_to_string(p)
                            .with_context(|| format!("reading {}", p.display()))?,
                    ),
                    None => None,
                },
            };
            Backend::connect(&ServerSpec::parse(server)?, options).await?
        }
        None => {
            let dir;
            (dir, _temp) = data_dir(args)?;
            Backend::start(&dir, world.start).await?
        }
    };
    let http = Http::new(backend.endpoints.clone(), Backoff::fast(), args.seed)?
        .with_shared_verification();
    let lab = reqwest::Client::new();
    let settings = Settings {
        region: "DE".into(),
        // As the current original app: the combined region only.
        key_regions: vec!["EUR".into()],
        public_key_pem: backend.public_key_pem.clone(),
        risk_model: risk_model(args.risk),
        fake_rate_per_day: args.fake_rate,
        backoff: Backoff::fast(),
    };
    let mut agents: Vec<Agent> = (0..args.phones)
        .map(|_| Agent {
            phone: Phone::new(settings.clone(), TX_POWER),
            rng: ChaCha20Rng::from_rng(&mut rng).unwrap_or_else(|_| ChaCha20Rng::seed_from_u64(0)),
            minute: rng.gen_range(0..60),
            home: 0,
        })
        .collect();
    let mut summary = Summary {
        phones: args.phones,
        days: args.days,
        ..Summary::default()
    };

    let first_hour = world.start / 3600;
    let last_hour = first_hour + i64::from(args.days) * 24 + DRAIN_HOURS;
    let progress = progress_bar(args.json, (last_hour - first_hour) as u64);
    let mut next_contact = 0;
    let semaphore = Arc::new(Semaphore::new(CONCURRENCY));
    for hour in first_hour..last_hour {
        let h0 = hour * 3600;
        backend
            .set_clock(h0 + 1800)
            .await
            .context("setting the clock")?;
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
        agents = background(agents, std::slice::from_ref(&http), h0, &semaphore).await?;
        progress.inc(1);
    }
    progress.finish_and_clear();

    // Everyone syncs once more at the end and shows their risk.
    let end = last_hour * 3600;
    agents = final_sync(agents, std::slice::from_ref(&http), end, &semaphore).await?;
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
        let verdict = Verdict {
            warned,
            exposed: truth.exposed[i],
            expected: truth.exposed[i],
            exposed_by_sharer: exposed_by_sharer[i],
            met_positive: truth.met_positive[i],
        };
        tally(&mut summary, &a.phone, &verdict);
        published.extend(a.phone.seen_keys.iter().copied());
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

/// One phone's outcome against the ground truth.
pub(super) struct Verdict {
    /// Shows increased risk at the end.
    pub(super) warned: bool,
    /// Truly exposed.
    pub(super) exposed: bool,
    /// Truly exposed by a positive whose keys the phone's downloads could carry (with one country:
    /// every truly exposed phone); not warned then counts as missed.
    pub(super) expected: bool,
    /// Expected, by a positive who did upload.
    pub(super) exposed_by_sharer: bool,
    /// Had any contact with a positive.
    pub(super) met_positive: bool,
}

/// Adds one phone's verdict and counters to `summary`.
pub(super) fn tally(summary: &mut Summary, phone: &Phone, v: &Verdict) {
    summary.warned += usize::from(v.warned);
    summary.truly_exposed += usize::from(v.exposed);
    summary.true_warnings += usize::from(v.warned && v.exposed);
    summary.false_warnings += usize::from(v.warned && !v.exposed);
    summary.missed += usize::from(!v.warned && v.expected);
    summary.missed_despite_upload += usize::from(!v.warned && v.exposed_by_sharer);
    summary.warned_without_contact += usize::from(v.warned && !v.met_positive);
    let s = &phone.stats;
    summary.uploads += u64::from(s.uploads);
    summary.uploads_failed += u64::from(s.failed_uploads);
    summary.fake_uploads += u64::from(s.fake_uploads);
    summary.phone_errors += u64::from(s.background_errors);
    summary.files_downloaded += s.files;
    summary.duplicate_keys += s.duplicate_keys;
    summary.rejected_archives += s.rejected.len() as u64;
    summary.failed_syncs += u64::from(s.failed_syncs);
}

/// The demo's progress in simulated hours; `quiet` with `--json`.
pub(super) fn progress_bar(quiet: bool, hours: u64) -> Progress {
    Progress::new("demo", "simulated hours", hours, quiet)
}

/// Records the sightings of every contact starting before `until`, from `next` on; returns the index
/// of the first contact not yet played. A contact's sightings are all recorded at once: phones only
/// look at their scan log when they match, which happens after the contact.
pub(super) fn sightings(
    contacts: &[Contact],
    mut next: usize,
    until: i64,
    agents: &mut [Agent],
) -> usize {
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

pub(super) async fn post_result(
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
/// that falls in the hour, else at its own minute. `https` has the client of each home country.
pub(super) async fn background(
    agents: Vec<Agent>,
    https: &[Http],
    h0: i64,
    semaphore: &Arc<Semaphore>,
) -> anyhow::Result<Vec<Agent>> {
    each(agents, semaphore, https, move |mut a, http| async move {
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

pub(super) async fn final_sync(
    agents: Vec<Agent>,
    https: &[Http],
    end: i64,
    semaphore: &Arc<Semaphore>,
) -> anyhow::Result<Vec<Agent>> {
    each(agents, semaphore, https, move |mut a, http| async move {
        a.phone.sync(&http, end, &mut a.rng).await;
        a
    })
    .await
}

/// Runs `f` on every agent with its home country's client, `CONCURRENCY` at a time on the runtime's
/// threads, keeping the order.
async fn each<F, Fut>(
    agents: Vec<Agent>,
    semaphore: &Arc<Semaphore>,
    https: &[Http],
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
        let http = https
            .get(agent.home)
            .context("a phone's home country")?
            .clone();
        let fut = f(agent, http);
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
pub(super) fn exposed_by(world: &World, sources: &HashSet<usize>, oldest_day: i64) -> Vec<bool> {
    let mut restricted = world.clone();
    restricted
        .tests
        .retain(|t| !t.positive || sources.contains(&t.person));
    restricted.truth(oldest_day).exposed
}
