//! The demo's phones: one agent per person with its own random source, the sightings of contacts
//! between them, the lab posting test results, and every phone's background task (polls, uploads,
//! fake traffic, downloads on its own jittered schedule), phones in parallel.

// Phones are boxed: each hour every phone moves into its task and back, and a box moves a pointer.
#![allow(clippy::vec_box)]

use std::sync::Arc;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::sync::Semaphore;
use warnkit_app::air::{Air, Member};
use warnkit_app::submit::Interop;
use warnkit_app::{Backoff, Http, Phone, RiskModel, Settings};
use warnkit_testresult::posting::LabClient;
use warnkit_testresult::{code, LabResult, LAB_PATH};

use crate::backend::Backend;
use crate::world::{Contact, Test, SCATTER_DB};

/// Every phone broadcasts with this calibrated power; RSSI = power − attenuation.
pub(crate) const TX_POWER: i8 = -10;
/// Phones working at the same time: enough to keep both sides busy without a connection per phone.
pub(crate) const CONCURRENCY: usize = 64;
/// A phone with its own random source, the minute of the hour its background task runs, and its home
/// country (an index into the backends; always 0 with one country).
pub(crate) struct Agent {
    pub(crate) phone: Phone,
    pub(crate) rng: ChaCha20Rng,
    pub(crate) minute: i64,
    pub(crate) home: usize,
}

/// What every phone is set to, whatever its country.
#[derive(Debug, Clone)]
pub(crate) struct PhoneOptions {
    /// What the phones share, unless each phone computes everything itself.
    pub(crate) air: Option<Arc<Air>>,
    /// The risk calculation.
    pub(crate) risk: RiskModel,
    /// Fake upload sessions per day.
    pub(crate) fake_rate: f64,
    /// Download the home region only instead of the combined region.
    pub(crate) home_region_only: bool,
}

/// One agent per person of `home` (each person's home country, an index into `codes` and
/// `public_keys`), drawing each agent's random source and minute from `rng` in the people's order.
/// `federates` is each person's consent to federation; `combined_region` the region phones download
/// unless they take their home region only.
pub(crate) fn agents(
    home: &[usize],
    codes: &[String],
    public_keys: &[String],
    federates: &[bool],
    combined_region: &str,
    o: PhoneOptions,
    rng: &mut ChaCha20Rng,
) -> Vec<Box<Agent>> {
    home.iter()
        .zip(federates)
        .enumerate()
        .map(|(id, (&home, &federates))| {
            let settings = Settings {
                region: codes[home].clone(),
                // As the original app since 1.6: every phone takes the combined package only, since
                // a trip is only known after the fact.
                key_regions: if o.home_region_only {
                    vec![codes[home].clone()]
                } else {
                    vec![combined_region.to_owned()]
                },
                public_key_pem: public_keys[home].clone(),
                risk_model: o.risk,
                fake_rate_per_day: o.fake_rate,
                backoff: Backoff::fast(),
            };
            let mut phone = Phone::new(settings, TX_POWER);
            phone.interop = Interop {
                origin: codes[home].clone(),
                visited_countries: Vec::new(),
                consent_to_federation: federates,
            };
            phone.member = o.air.as_ref().map(|air| Member {
                air: air.clone(),
                id: id as u32,
            });
            Box::new(Agent {
                phone,
                rng: ChaCha20Rng::from_rng(&mut *rng)
                    .unwrap_or_else(|_| ChaCha20Rng::seed_from_u64(0)),
                minute: rng.gen_range(0..60),
                home,
            })
        })
        .collect()
}

/// Records the sightings of every contact starting before `until`, from `next` on; returns the index
/// of the first contact not yet played. A contact's sightings are all recorded at once: phones only
/// look at their scan log when they match, which happens after the contact.
///
/// With `air`, every phone of the simulation shares who heard whom (see [`warnkit_app::air`]).
pub(crate) fn sightings(
    contacts: &[Contact],
    mut next: usize,
    until: i64,
    agents: &mut [Box<Agent>],
    air: Option<&Air>,
) -> usize {
    let mut heard = Vec::new();
    while let Some(c) = contacts.get(next).filter(|c| c.start < until) {
        for slot in 0..i64::from(c.minutes / 5) {
            let t = c.start + slot * 300;
            for (from, to) in [(c.a, c.b), (c.b, c.a)] {
                let sender = &mut agents[from];
                let Some((rpi, aem)) = sender.phone.en.advertise(t, &mut sender.rng) else {
                    continue;
                };
                if air.is_some() {
                    if let Some(tek) = sender.phone.en.broadcasting() {
                        heard.push((from as u32, tek, to as u32));
                    }
                }
                let receiver = &mut agents[to];
                let scatter = receiver.rng.gen_range(-SCATTER_DB..=SCATTER_DB);
                let attenuation = i16::from(c.attenuation) + scatter;
                let rssi = (i16::from(TX_POWER) - attenuation).clamp(-127, 0) as i8;
                receiver.phone.en.record(t, rpi, aem, rssi);
            }
        }
        next += 1;
    }
    if let Some(air) = air {
        heard.dedup();
        air.heard(heard);
    }
    next
}

/// The lab posts the result of `test` to the test-result service of `backend`.
pub(crate) async fn post_result(
    lab: &reqwest::Client,
    backend: &Backend,
    seed: u64,
    test: &Test,
) -> anyhow::Result<()> {
    let guid = format!("demo-{seed}-{}", test.person);
    let result = LabResult {
        id: warnkit_service::auth::sha256_hex(&guid),
        result: if test.positive {
            code::POSITIVE
        } else {
            code::NEGATIVE
        },
        sc: Some(test.sample),
    };
    LabClient::new(lab.clone(), &backend.testresult_url, &backend.lab_key)
        .post(LAB_PATH, vec![result])
        .await
        .context("posting a lab result")?;
    Ok(())
}

/// Every phone's background task for the hour starting at `h0`: at its scheduled download time when
/// that falls in the hour, else at its own minute. `https` has the client of each home country.
pub(crate) async fn background(
    agents: Vec<Box<Agent>>,
    https: &[Http],
    h0: i64,
    semaphore: &Arc<Semaphore>,
) -> anyhow::Result<Vec<Box<Agent>>> {
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

/// Every phone's last download and matching at `end`, before the phones show their risk.
pub(crate) async fn final_sync(
    agents: Vec<Box<Agent>>,
    https: &[Http],
    end: i64,
    semaphore: &Arc<Semaphore>,
) -> anyhow::Result<Vec<Box<Agent>>> {
    each(agents, semaphore, https, move |mut a, http| async move {
        a.phone.sync(&http, end, &mut a.rng).await;
        a
    })
    .await
}

/// Runs `f` on every agent with its home country's client, `CONCURRENCY` at a time on the runtime's
/// threads, keeping the order. Agents are boxed: moving a whole phone into each task and back was a
/// tenth of a large demo's time.
async fn each<F, Fut>(
    agents: Vec<Box<Agent>>,
    semaphore: &Arc<Semaphore>,
    https: &[Http],
    f: F,
) -> anyhow::Result<Vec<Box<Agent>>>
where
    F: Fn(Box<Agent>, Http) -> Fut,
    Fut: std::future::Future<Output = Box<Agent>> + Send + 'static,
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
    let mut out: Vec<Option<Box<Agent>>> = (0..n).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, a) = r.context("a phone task panicked")?;
        out[i] = Some(a);
    }
    out.into_iter()
        .map(|a| a.context("every phone comes back"))
        .collect()
}
