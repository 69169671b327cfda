//! `warnkit demo --countries DE,FR`: one backend per country and a federation gateway between them, all
//! in this process over real HTTP. Phones live in a home country and download its region and the
//! combined region (`EUR`), or with `--home-region-only` their home region alone; some travel and meet
//! people abroad; a positive's keys reach the countries it visited, and the combined region of every
//! country, through the gateway when its owner consented to federation.
//!
//! Every simulated hour, in order: each backend's federation upload, each backend's download, each
//! backend's distribution, then the hour's contacts, tests and the phones' background tasks.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use tokio::sync::Semaphore;
use warnkit_app::submit::Interop;
use warnkit_app::{Backoff, Http, Level, Phone, Settings};
use warnkit_distribution::{Distribution, StaticFiles};
use warnkit_federation::config::{load_or_create_signing_key, Country};
use warnkit_federation::{Federation, Gateway, GatewayConfig};
use warnkit_service::server::{serve, shutdown_channel};
use warnkit_store::Db;
use warnkit_submission::keystore::KeyStore;
use warnkit_submission::Clock;

use super::backend::{publish, Backend};
use super::run::{
    background, data_dir, exposed_by, final_sync, post_result, progress_bar, risk_model, sightings,
    tally, world_options, Agent, Verdict, CONCURRENCY, DRAIN_HOURS, TX_POWER,
};
use super::world::{Contact, World, CLOSE_DB, FAR_DB, MID_DB};
use super::{DemoArgs, Summary};
use crate::config::Config;

/// The combined region every backend publishes besides its own, as the original's `EUR`.
pub const COMBINED_REGION: &str = "EUR";

/// Cross-border figures of one country (or all): trips, warnings across borders, federation traffic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrossBorder {
    /// Days a phone spent in another country.
    pub trips: usize,
    /// Positives who shared their keys but did not consent to federation.
    pub not_consenting: usize,
    /// Keys uploaded without consent to federation (they must stay in their country).
    pub keys_without_consent: u64,
    /// Phones truly exposed by a positive of another country whose keys reach their home region
    /// (consented, and visited that country).
    pub cross_border_exposed: usize,
    /// Of those, warned.
    pub cross_border_true_warnings: usize,
    /// Truly exposed by a positive of another country who did not consent (or share), not warned:
    /// legitimately missed, as the keys never leave their country.
    pub missed_abroad_without_consent: usize,
    /// Truly exposed by a consenting positive of another country who never visited the phone's home
    /// country (a traveller met them abroad), not warned: with `--home-region-only` phones download
    /// their home region alone, which publishes foreign keys only when their owner visited it. Without
    /// it the combined region (`EUR`) carries every consented key, so this stays 0.
    pub missed_abroad_not_visited: usize,
    /// Keys uploaded without consent that showed up in another country's key store or downloads
    /// (must be 0).
    pub unconsented_keys_abroad: u64,
    /// Batches this country uploaded to the gateway.
    pub federation_batches_uploaded: u64,
    /// Keys in them.
    pub federation_keys_uploaded: u64,
    /// Other countries' batches this country stored.
    pub federation_batches_downloaded: u64,
    /// Keys newly stored from them.
    pub federation_keys_downloaded: u64,
    /// Batches rejected on download (must be 0).
    pub federation_batches_rejected: u64,
}

impl CrossBorder {
    fn add(&mut self, o: &CrossBorder) {
        self.trips += o.trips;
        self.not_consenting += o.not_consenting;
        self.keys_without_consent += o.keys_without_consent;
        self.cross_border_exposed += o.cross_border_exposed;
        self.cross_border_true_warnings += o.cross_border_true_warnings;
        self.missed_abroad_without_consent += o.missed_abroad_without_consent;
        self.missed_abroad_not_visited += o.missed_abroad_not_visited;
        self.unconsented_keys_abroad += o.unconsented_keys_abroad;
        self.federation_batches_uploaded += o.federation_batches_uploaded;
        self.federation_keys_uploaded += o.federation_keys_uploaded;
        self.federation_batches_downloaded += o.federation_batches_downloaded;
        self.federation_keys_downloaded += o.federation_keys_downloaded;
        self.federation_batches_rejected += o.federation_batches_rejected;
    }
}

/// One country's figures: those of the single-country demo plus the cross-border ones.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CountrySummary {
    /// The single-country figures of this country's phones.
    #[serde(flatten)]
    pub figures: Summary,
    /// Trips, cross-border warnings, federation traffic.
    #[serde(flatten)]
    pub cross_border: CrossBorder,
}

/// The figures of `warnkit demo --countries`: totals at the top level (the single-country fields),
/// and each country under `countries`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CountriesSummary {
    /// Totals over every country (`phones` counts all phones).
    #[serde(flatten)]
    pub total: Summary,
    /// Cross-border totals.
    #[serde(flatten)]
    pub cross_border: CrossBorder,
    /// Batches the gateway holds at the end.
    pub gateway_batches: u64,
    /// Keys in them.
    pub gateway_keys: u64,
    /// Per country code.
    pub countries: BTreeMap<String, CountrySummary>,
}

/// Parses `--countries`: two or more distinct two-letter uppercase codes, in the given order.
pub fn parse_countries(value: &str) -> anyhow::Result<Vec<String>> {
    let mut codes: Vec<String> = Vec::new();
    for code in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        anyhow::ensure!(
            code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
            "--countries: {code:?} is not a two-letter uppercase country code (e.g. DE)"
        );
        anyhow::ensure!(
            !codes.iter().any(|c| c == code),
            "--countries: {code} is named twice"
        );
        anyhow::ensure!(
            !code.eq_ignore_ascii_case(COMBINED_REGION),
            "--countries: {code} is the combined region's name"
        );
        codes.push(code.to_owned());
    }
    anyhow::ensure!(
        codes.len() >= 2,
        "--countries needs at least two codes, e.g. DE,FR (one country: leave --countries out)"
    );
    Ok(codes)
}

/// One day a person spends in another country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trip {
    person: usize,
    day: i64,
    to: usize,
}

/// Everyone's world: the countries' worlds side by side (people, households and workplaces numbered
/// one after the other) plus the trips and the contacts abroad.
struct Globe {
    world: World,
    /// Home country of each person.
    home: Vec<usize>,
    trips: Vec<Trip>,
}

impl Globe {
    fn new(worlds: Vec<World>, travel_rate: f64, rng: &mut impl Rng) -> Self {
        let mut home = Vec::new();
        let mut combined = World {
            people: 0,
            start: worlds[0].start,
            days: worlds[0].days,
            household: Vec::new(),
            workplace: Vec::new(),
            tests: Vec::new(),
            contacts: Vec::new(),
        };
        let (mut households, mut workplaces) = (0, 0);
        for (k, w) in worlds.iter().enumerate() {
            let offset = combined.people;
            home.extend(std::iter::repeat_n(k, w.people));
            combined
                .household
                .extend(w.household.iter().map(|h| h + households));
            combined
                .workplace
                .extend(w.workplace.iter().map(|p| p.map(|p| p + workplaces)));
            households += w.household.iter().max().map_or(0, |h| h + 1);
            workplaces += w.workplace.iter().flatten().max().map_or(0, |p| p + 1);
            combined.tests.extend(w.tests.iter().map(|t| {
                let mut t = *t;
                t.person += offset;
                t
            }));
            combined.contacts.extend(w.contacts.iter().map(|c| Contact {
                a: c.a + offset,
                b: c.b + offset,
                ..*c
            }));
            combined.people += w.people;
        }
        let mut globe = Self {
            world: combined,
            home,
            trips: Vec::new(),
        };
        globe.travel(worlds.len(), travel_rate, rng);
        globe
    }

    /// Day trips: on each day each person goes abroad with probability `rate`, to a country drawn
    /// among the others, and spends the working day there instead of at home: two meetings at the
    /// other country's workplaces and two bus rides with its commuters. Evenings stay at home.
    fn travel(&mut self, countries: usize, rate: f64, rng: &mut impl Rng) {
        let w = &self.world;
        let workers: Vec<Vec<usize>> = (0..countries)
            .map(|k| {
                (0..w.people)
                    .filter(|&p| self.home[p] == k && w.workplace[p].is_some())
                    .collect()
            })
            .collect();
        let mut abroad = Vec::new();
        for day in 0..i64::from(w.days) {
            let midnight = w.start + day * 86_400;
            for person in 0..w.people {
                if !rng.gen_bool(rate.clamp(0.0, 1.0)) {
                    continue;
                }
                let others: Vec<usize> =
                    (0..countries).filter(|&k| k != self.home[person]).collect();
                let Some(&to) = others.choose(rng) else {
                    continue;
                };
                self.trips.push(Trip { person, day, to });
                let Some(hosts) = workers.get(to).filter(|h| !h.is_empty()) else {
                    continue;
                };
                for _ in 0..2 {
                    let host = hosts[rng.gen_range(0..hosts.len())];
                    let attenuation = *[CLOSE_DB, MID_DB, FAR_DB].choose(rng).unwrap_or(&FAR_DB);
                    abroad.push(Contact {
                        a: person,
                        b: host,
                        start: midnight + rng.gen_range(9..16) * 3600 + rng.gen_range(0..12) * 300,
                        minutes: rng.gen_range(1..=9) * 5,
                        attenuation,
                    });
                }
                for hour in [7, 17] {
                    let host = hosts[rng.gen_range(0..hosts.len())];
                    abroad.push(Contact {
                        a: person,
                        b: host,
                        start: midnight + hour * 3600 + rng.gen_range(0..6) * 300,
                        minutes: rng.gen_range(2..=6) * 5,
                        attenuation: if rng.gen_bool(0.2) { MID_DB } else { FAR_DB },
                    });
                }
            }
        }
        // A traveller is not at work or on the bus at home that day (07:00 to 18:00).
        let away: HashSet<(usize, i64)> = self.trips.iter().map(|t| (t.person, t.day)).collect();
        let start = w.start;
        let at_home_abroad = |c: &Contact| {
            let day = (c.start - start).div_euclid(86_400);
            let hour = (c.start - start).rem_euclid(86_400) / 3600;
            (7..18).contains(&hour) && (away.contains(&(c.a, day)) || away.contains(&(c.b, day)))
        };
        let mut contacts: Vec<Contact> = self
            .world
            .contacts
            .iter()
            .filter(|c| !at_home_abroad(c))
            .copied()
            .collect();
        // Positives stay away from everyone from their sample on, abroad as at home; a host who is
        // abroad that day is not there to meet.
        abroad.retain(|c| {
            let day = (c.start - start).div_euclid(86_400);
            if away.contains(&(c.b, day)) {
                return false;
            }
            let end = c.start + i64::from(c.minutes) * 60;
            [c.a, c.b]
                .iter()
                .all(|&p| self.world.isolated_from(p).is_none_or(|t| end <= t))
        });
        contacts.extend(abroad);
        contacts.sort_by_key(|c| c.start);
        self.world.contacts = contacts;
    }

    /// Countries `person` was in before `until` (the visited countries of an upload then).
    fn visited(&self, person: usize, until: i64) -> BTreeSet<usize> {
        self.trips
            .iter()
            .filter(|t| t.person == person && self.world.start + t.day * 86_400 < until)
            .map(|t| t.to)
            .collect()
    }
}

/// One country's backend and federation jobs.
struct Land {
    code: String,
    backend: Backend,
    federation: Federation,
    keys: KeyStore,
    http: Http,
    publisher: (Distribution, StaticFiles),
}

/// What a country's step needs, owned, so that the countries' steps can run as tasks side by side.
#[derive(Clone)]
struct LandJobs {
    federation: Federation,
    publisher: (Distribution, StaticFiles),
}

/// Runs `f` for every country at once, each as its own task; the results in the countries' order.
async fn each_land<T, F, Fut>(lands: &[Land], f: F) -> Vec<anyhow::Result<T>>
where
    T: Send + 'static,
    F: Fn(LandJobs) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let tasks: Vec<_> = lands
        .iter()
        .map(|l| {
            tokio::spawn(f(LandJobs {
                federation: l.federation.clone(),
                publisher: l.publisher.clone(),
            }))
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(match task.await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("a country's task failed: {e}")),
        });
    }
    out
}

/// Starts the countries' backends (each under `dir/CODE`) and the gateway (`dir/gateway`), wired as
/// members of one federation; returns them with the gateway's clock and its server task.
async fn start_federation(
    dir: &Path,
    codes: &[String],
    now: i64,
    seed: u64,
    show_progress: bool,
) -> anyhow::Result<(Vec<Land>, Gateway, Clock, GatewayTask)> {
    let mut signing = Vec::new();
    let mut tokens = Vec::new();
    let mut configs = Vec::new();
    for code in codes {
        let mut config = Config {
            data_dir: dir.join(code),
            ..Config::default()
        };
        config.submission.origin = code.clone();
        for c in codes {
            if !config.submission.supported_countries.contains(c) {
                config.submission.supported_countries.push(c.clone());
            }
        }
        config.distribution.region = code.clone();
        config.distribution.federation_region = Some(COMBINED_REGION.to_owned());
        let (key, _) = load_or_create_signing_key(&config.data_dir.join("federation"))
            .with_context(|| format!("{code}: federation signing key"))?;
        signing.push(key);
        tokens.push(hex::encode(rand::random::<[u8; 32]>()));
        configs.push(config);
    }

    let gateway_config = Config {
        data_dir: dir.join("gateway"),
        ..Config::default()
    };
    std::fs::create_dir_all(&gateway_config.data_dir)
        .context("creating the gateway's directory")?;
    let gateway_db = Db::open(
        &gateway_config.db_target(warnkit_federation::gateway::NAME),
        gateway_config.pool(),
        &warnkit_federation::gateway::MIGRATOR,
    )
    .await
    .context("gateway database")?;
    let members = codes
        .iter()
        .zip(&tokens)
        .zip(&signing)
        .map(|((code, token), key)| Country::new(code, token, *key.verifying_key()))
        .collect();
    let gateway_clock = Clock::manual(now);
    let gateway = Gateway::with_countries(
        gateway_db,
        GatewayConfig::default(),
        members,
        gateway_clock.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the gateway")?;
    let gateway_url = format!("http://{}", listener.local_addr()?);
    let (trigger, shutdown) = shutdown_channel();
    let task = tokio::spawn(serve(listener, gateway.router(), shutdown));
    if show_progress {
        eprintln!("gateway  {gateway_url}  (members {})", codes.join(", "));
    }

    let mut lands = Vec::new();
    for (k, (code, config)) in codes.iter().zip(configs).enumerate() {
        let backend = Backend::start_with(&config, now)
            .await
            .with_context(|| format!("starting {code}'s backend"))?;
        let services = backend.local().context("an in-process backend")?;
        let trusted = codes
            .iter()
            .zip(&signing)
            .filter(|(c, _)| *c != code)
            .map(|(c, key)| (c.clone(), *key.verifying_key()))
            .collect();
        let settings = warnkit_federation::Settings {
            gateway_url: gateway_url.clone(),
            country: code.clone(),
            token: tokens[k].clone(),
            signing_key: signing[k].clone(),
            trusted,
            max_batch_keys: config.federation.max_batch_keys,
            retention_days: config.federation.retention_days,
        };
        let keys = services.keys.clone();
        let clock = services.clock.clone();
        let publisher = (services.distribution.clone(), services.files.clone());
        let federation = Federation::open(
            keys.clone(),
            &config.db_target(warnkit_federation::jobs::NAME),
            config.pool(),
            settings,
            clock.clone(),
        )
        .await
        .with_context(|| format!("{code}: federation jobs"))?;
        if show_progress {
            eprintln!(
                "{code}       distribution {}  submission {}  (regions {code}, {COMBINED_REGION})",
                backend.endpoints.distribution, backend.endpoints.submission
            );
        }
        let http = Http::new(backend.endpoints.clone(), Backoff::fast(), seed ^ k as u64)?
            .with_shared_verification();
        lands.push(Land {
            code: code.clone(),
            backend,
            federation,
            keys,
            http,
            publisher,
        });
    }
    Ok((lands, gateway, gateway_clock, GatewayTask { trigger, task }))
}

/// Stops the gateway's server.
struct GatewayTask {
    trigger: warnkit_service::server::ShutdownTrigger,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Runs the cross-border demo and returns the figures.
pub async fn simulate(
    args: &DemoArgs,
    codes: &[String],
    show_progress: bool,
) -> anyhow::Result<CountriesSummary> {
    let started = Instant::now();
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    let options = world_options(args);
    let worlds: Vec<World> = codes
        .iter()
        .map(|_| World::new(options, &mut rng))
        .collect();
    let globe = Globe::new(worlds, args.travel_rate, &mut rng);
    let world = &globe.world;
    // Consent to federation is the user's choice, made once, like the app's interoperability switch.
    let federates: Vec<bool> = (0..world.people)
        .map(|_| rng.gen_bool(args.federation_rate.clamp(0.0, 1.0)))
        .collect();

    let (dir, _temp) = data_dir(args)?;
    let (lands, gateway, gateway_clock, stop) =
        start_federation(&dir, codes, world.start, args.seed, show_progress).await?;
    let https: Vec<Http> = lands.iter().map(|l| l.http.clone()).collect();
    let lab = reqwest::Client::new();
    let mut agents: Vec<Agent> = (0..world.people)
        .map(|person| {
            let home = globe.home[person];
            let settings = Settings {
                region: codes[home].clone(),
                // As the original app since 1.6: every phone takes the combined package only, since
                // a trip is only known after the fact.
                key_regions: if args.home_region_only {
                    vec![codes[home].clone()]
                } else {
                    vec![COMBINED_REGION.to_owned()]
                },
                public_key_pem: lands[home].backend.public_key_pem.clone(),
                risk_model: risk_model(args.risk),
                fake_rate_per_day: args.fake_rate,
                backoff: Backoff::fast(),
            };
            let mut phone = Phone::new(settings, TX_POWER);
            phone.interop = Interop {
                origin: codes[home].clone(),
                visited_countries: Vec::new(),
                consent_to_federation: federates[person],
            };
            Agent {
                phone,
                rng: ChaCha20Rng::from_rng(&mut rng)
                    .unwrap_or_else(|_| ChaCha20Rng::seed_from_u64(0)),
                minute: rng.gen_range(0..60),
                home,
            }
        })
        .collect();

    let mut per: Vec<CountrySummary> = codes
        .iter()
        .map(|_| CountrySummary {
            figures: Summary {
                phones: args.phones,
                days: args.days,
                ..Summary::default()
            },
            ..CountrySummary::default()
        })
        .collect();
    for t in &globe.trips {
        per[globe.home[t.person]].cross_border.trips += 1;
    }
    let first_hour = world.start / 3600;
    let last_hour = first_hour + i64::from(args.days) * 24 + DRAIN_HOURS;
    let progress = progress_bar(args.json, (last_hour - first_hour) as u64);
    let mut next_contact = 0;
    let semaphore = Arc::new(Semaphore::new(CONCURRENCY));
    for hour in first_hour..last_hour {
        let h0 = hour * 3600;
        // The federation jobs run on the submission clocks: in the middle of the hour, so the upload
        // takes every hour that has ended (its keys are complete) and the downloaded keys, stamped with
        // this hour, go out with the next distribution run.
        gateway_clock.set(h0 + 1800);
        for land in &lands {
            land.backend.set_clock(h0 + 1800).await?;
        }
        // Within a step the countries work side by side (their jobs share nothing but the gateway);
        // the steps stay in order.
        let ups = each_land(&lands, |l| async move { l.federation.upload_once().await }).await;
        for (k, up) in ups.into_iter().enumerate() {
            let up = up.with_context(|| format!("{}: federation upload", codes[k]))?;
            let cb = &mut per[k].cross_border;
            cb.federation_batches_uploaded += up.batches as u64;
            cb.federation_keys_uploaded += up.keys as u64;
        }
        let downs = each_land(
            &lands,
            |l| async move { l.federation.download_once().await },
        )
        .await;
        for (k, down) in downs.into_iter().enumerate() {
            let down = down.with_context(|| format!("{}: federation download", codes[k]))?;
            let cb = &mut per[k].cross_border;
            cb.federation_batches_downloaded += down.batches_stored as u64;
            cb.federation_keys_downloaded += down.keys_stored;
            cb.federation_batches_rejected += down.rejected.len() as u64;
        }
        let runs = each_land(&lands, |l| async move {
            let (distribution, files) = l.publisher;
            anyhow::ensure!(
                publish(&distribution, &files, h0 + 5).await?,
                "another distribution run held the lock; the demo's hour would go unpublished"
            );
            Ok(())
        })
        .await;
        for (k, run) in runs.into_iter().enumerate() {
            run.with_context(|| format!("{}: distribution run", codes[k]))?;
            per[k].figures.distribution_runs += 1;
        }
        next_contact = sightings(&world.contacts, next_contact, h0 + 3600, &mut agents);
        for test in world.tests.iter().filter(|t| t.sample / 3600 == hour) {
            let a = &mut agents[test.person];
            a.phone.en.consent = test.shares;
            a.phone.interop.visited_countries = globe
                .visited(test.person, test.sample)
                .into_iter()
                .map(|k| codes[k].clone())
                .collect();
            a.phone
                .scan_qr(
                    &https[a.home],
                    &format!("demo-{}-{}", args.seed, test.person),
                )
                .await
                .context("registering a test")?;
        }
        for test in world.tests.iter().filter(|t| t.result_at / 3600 == hour) {
            let home = globe.home[test.person];
            post_result(&lab, &lands[home].backend, args.seed, test).await?;
            per[home].figures.requests += 1;
        }
        agents = background(agents, &https, h0, &semaphore).await?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    let end = last_hour * 3600;
    agents = final_sync(agents, &https, end, &semaphore).await?;

    let oldest_day = end.div_euclid(86_400) - 13;
    let truth = world.truth(oldest_day);
    let positives: Vec<&super::world::Test> = world.tests.iter().filter(|t| t.positive).collect();
    let shares = |p: usize| positives.iter().any(|t| t.person == p && t.shares);
    let visits = |p: usize, k: usize| {
        positives
            .iter()
            .any(|t| t.person == p && globe.visited(p, t.sample).contains(&k))
    };
    // Whose keys the phones of country `k` can get: their own country's positives (shared or not, as
    // in the single-country demo), and foreign ones who shared and consented: all of them through the
    // combined region, or with `--home-region-only` those who visited `k`.
    let combined = !args.home_region_only;
    let reach = |k: usize, p: usize| {
        globe.home[p] == k || (shares(p) && federates[p] && (combined || visits(p, k)))
    };
    let set = |f: &dyn Fn(usize) -> bool| -> HashSet<usize> {
        positives
            .iter()
            .map(|t| t.person)
            .filter(|&p| f(p))
            .collect()
    };
    let mut published: Vec<HashSet<[u8; 16]>> = vec![HashSet::new(); codes.len()];
    for (k, summary) in per.iter_mut().enumerate() {
        let reachable = set(&|p| reach(k, p));
        let expected = exposed_by(world, &reachable, oldest_day);
        let by_sharer = exposed_by(world, &set(&|p| reach(k, p) && shares(p)), oldest_day);
        let across = exposed_by(
            world,
            &set(&|p| globe.home[p] != k && reach(k, p)),
            oldest_day,
        );
        let without_consent = exposed_by(
            world,
            &set(&|p| globe.home[p] != k && !(shares(p) && federates[p])),
            oldest_day,
        );
        for (i, a) in agents.iter().enumerate().filter(|(_, a)| a.home == k) {
            let warned = a.phone.risk(end)?.level == Level::Increased;
            let verdict = Verdict {
                warned,
                exposed: truth.exposed[i],
                expected: expected[i],
                exposed_by_sharer: by_sharer[i],
                met_positive: truth.met_positive[i],
            };
            tally(&mut summary.figures, &a.phone, &verdict);
            let cb = &mut summary.cross_border;
            cb.cross_border_exposed += usize::from(across[i]);
            cb.cross_border_true_warnings += usize::from(warned && across[i]);
            if truth.exposed[i] && !expected[i] && !warned {
                if without_consent[i] {
                    cb.missed_abroad_without_consent += 1;
                } else {
                    cb.missed_abroad_not_visited += 1;
                }
            }
            published[k].extend(a.phone.seen_keys.iter().copied());
        }
        summary.figures.positives = positives
            .iter()
            .filter(|t| globe.home[t.person] == k)
            .count();
        summary.figures.sharing_positives = positives
            .iter()
            .filter(|t| globe.home[t.person] == k && t.shares)
            .count();
        summary.cross_border.not_consenting = positives
            .iter()
            .filter(|t| globe.home[t.person] == k && t.shares && !federates[t.person])
            .count();
        let traffic = lands[k].http.traffic();
        summary.figures.requests += traffic.requests.load(std::sync::atomic::Ordering::Relaxed);
        summary.figures.bytes_downloaded = traffic
            .bytes_downloaded
            .load(std::sync::atomic::Ordering::Relaxed);
    }
    unconsented_abroad(&lands, &published, first_hour, last_hour, &mut per).await?;

    let mut summary = CountriesSummary {
        total: Summary {
            days: args.days,
            ..Summary::default()
        },
        ..CountriesSummary::default()
    };
    for (code, c) in codes.iter().zip(&per) {
        add(&mut summary.total, &c.figures);
        summary.cross_border.add(&c.cross_border);
        summary.countries.insert(code.clone(), c.clone());
    }
    summary.total.distribution_runs = per.first().map_or(0, |c| c.figures.distribution_runs);
    let (batches, keys) = gateway
        .counts()
        .await
        .map_err(|e| anyhow::anyhow!("counting the gateway's batches: {}", e.message))?;
    summary.gateway_batches = batches;
    summary.gateway_keys = keys;

    stop.trigger.trigger();
    let _ = stop.task.await;
    gateway.db().close().await;
    for land in lands {
        land.federation.db().close().await;
        land.backend.stop().await;
    }
    let seconds = started.elapsed().as_secs_f64();
    summary.total.seconds = seconds;
    for c in summary.countries.values_mut() {
        c.figures.seconds = seconds;
    }
    Ok(summary)
}

/// Counts, per origin country, the keys uploaded without consent, and those of them that reached
/// another country: its key store, or its phones' downloads.
async fn unconsented_abroad(
    lands: &[Land],
    published: &[HashSet<[u8; 16]>],
    first_hour: i64,
    last_hour: i64,
    per: &mut [CountrySummary],
) -> anyhow::Result<()> {
    let mut stored: Vec<HashSet<[u8; 16]>> = Vec::new();
    let mut unconsented: Vec<HashSet<[u8; 16]>> = Vec::new();
    for land in lands {
        let keys = land
            .keys
            .keys_submitted_between(first_hour - 24, last_hour + 24)
            .await
            .with_context(|| format!("{}: reading the key store", land.code))?;
        stored.push(keys.iter().map(|k| k.key_data).collect());
        unconsented.push(
            keys.iter()
                .filter(|k| k.origin == land.code && !k.consent_to_federation)
                .map(|k| k.key_data)
                .collect(),
        );
    }
    for (k, own) in unconsented.iter().enumerate() {
        per[k].cross_border.keys_without_consent = own.len() as u64;
        for j in (0..lands.len()).filter(|&j| j != k) {
            per[k].cross_border.unconsented_keys_abroad += own
                .iter()
                .filter(|key| stored[j].contains(*key) || published[j].contains(*key))
                .count() as u64;
        }
    }
    Ok(())
}

/// Adds a country's single-country figures to the totals.
fn add(total: &mut Summary, c: &Summary) {
    total.phones += c.phones;
    total.positives += c.positives;
    total.sharing_positives += c.sharing_positives;
    total.uploads += c.uploads;
    total.uploads_failed += c.uploads_failed;
    total.fake_uploads += c.fake_uploads;
    total.phone_errors += c.phone_errors;
    total.warned += c.warned;
    total.truly_exposed += c.truly_exposed;
    total.true_warnings += c.true_warnings;
    total.false_warnings += c.false_warnings;
    total.missed += c.missed;
    total.missed_despite_upload += c.missed_despite_upload;
    total.warned_without_contact += c.warned_without_contact;
    total.requests += c.requests;
    total.bytes_downloaded += c.bytes_downloaded;
    total.files_downloaded += c.files_downloaded;
    total.duplicate_keys += c.duplicate_keys;
    total.rejected_archives += c.rejected_archives;
    total.failed_syncs += c.failed_syncs;
}

/// Prints the cross-border summary: a line per country and the totals, then the federation.
pub fn print(s: &CountriesSummary) {
    let t = &s.total;
    println!(
        "{} countries ({}), {} phones, {} days, {:.1} s",
        s.countries.len(),
        s.countries.keys().cloned().collect::<Vec<_>>().join(", "),
        t.phones,
        t.days,
        t.seconds
    );
    println!(
        "           {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9}",
        "phones", "posit.", "exposed", "warned", "true", "false", "missed", "requests", "MB"
    );
    let row = |name: &str, f: &Summary| {
        println!(
            "  {name:<8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9.1}",
            f.phones,
            f.positives,
            f.truly_exposed,
            f.warned,
            f.true_warnings,
            f.false_warnings,
            f.missed,
            f.requests,
            f.bytes_downloaded as f64 / 1e6
        );
    };
    for (code, c) in &s.countries {
        row(code, &c.figures);
    }
    row("all", t);
    let cb = &s.cross_border;
    println!(
        "  across borders: {} trips abroad; {} phones exposed by a visitor whose keys came through the \
         gateway, {} of them warned",
        cb.trips, cb.cross_border_exposed, cb.cross_border_true_warnings
    );
    println!(
        "  legitimately missed: {} by a foreign positive without consent to federation ({} positives \
         shared without consent), {} by a foreign positive who never visited the phone's country",
        cb.missed_abroad_without_consent, cb.not_consenting, cb.missed_abroad_not_visited
    );
    for (code, c) in &s.countries {
        let f = &c.cross_border;
        println!(
            "  federation {code}: uploaded {} batches ({} keys), downloaded {} batches ({} keys), \
             {} rejected",
            f.federation_batches_uploaded,
            f.federation_keys_uploaded,
            f.federation_batches_downloaded,
            f.federation_keys_downloaded,
            f.federation_batches_rejected
        );
    }
    println!(
        "  checks: {} keys downloaded twice, {} keys without consent abroad (of {}), {} archives \
         rejected",
        t.duplicate_keys, cb.unconsented_keys_abroad, cb.keys_without_consent, t.rejected_archives
    );
}

#[cfg(test)]
mod tests {
    use super::super::world::WorldOptions;
    use super::*;

    #[test]
    fn country_lists() {
        assert_eq!(parse_countries("DE,FR").unwrap(), ["DE", "FR"]);
        assert_eq!(parse_countries(" FR , DE ,IT").unwrap(), ["FR", "DE", "IT"]);
        for bad in ["DE", "DE,DE", "de,FR", "DEU,FR", "DE,F1", ""] {
            assert!(parse_countries(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn travellers_meet_the_other_country_and_leave_home_at_work_hours() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let options = WorldOptions {
            people: 40,
            days: 4,
            start_day: 20_000,
            positive_rate: 0.1,
            negative_rate: 0.0,
            share_rate: 1.0,
        };
        let worlds = vec![World::new(options, &mut rng), World::new(options, &mut rng)];
        let globe = Globe::new(worlds, 0.2, &mut rng);
        assert!(!globe.trips.is_empty());
        let w = &globe.world;
        assert!(w.contacts.windows(2).all(|p| p[0].start <= p[1].start));
        let mut across = 0;
        for c in &w.contacts {
            let day = (c.start - w.start).div_euclid(86_400);
            let hour = (c.start - w.start).rem_euclid(86_400) / 3600;
            if globe.home[c.a] != globe.home[c.b] {
                across += 1;
                // A cross-border contact is a traveller's that day, in the host country.
                let trip = globe.trips.iter().find(|t| {
                    t.day == day
                        && ((t.person == c.a && t.to == globe.home[c.b])
                            || (t.person == c.b && t.to == globe.home[c.a]))
                });
                assert!(trip.is_some(), "{c:?}");
            } else if (7..18).contains(&hour) {
                // Nobody is at work at home on a day abroad.
                for p in [c.a, c.b] {
                    assert!(!globe.trips.iter().any(|t| t.person == p && t.day == day));
                }
            }
            for p in [c.a, c.b] {
                let end = c.start + i64::from(c.minutes) * 60;
                assert!(w.isolated_from(p).is_none_or(|t| end <= t));
            }
        }
        assert!(across > 0);
        // Visited countries: only trips before the given time.
        let t = globe.trips[0];
        assert!(globe
            .visited(t.person, w.start + t.day * 86_400 + 1)
            .contains(&t.to));
        assert!(globe
            .visited(t.person, w.start + t.day * 86_400)
            .iter()
            .all(|&k| {
                globe
                    .trips
                    .iter()
                    .any(|o| o.person == t.person && o.to == k && o.day < t.day)
            }));
    }
}
