//! The demo's simulation loop, for one country or several: one simulated hour at a time, the
//! federation's upload and download (several countries only), every country's distribution run, the
//! sightings of the hour's contacts, tests and lab results, then every phone's background task.
//! A run of one country is the run of several with one land and no gateway.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::sync::Semaphore;
use warnkit_app::air::Air;
use warnkit_app::{Endpoints, Http, RiskModel};

use crate::backend::{Backend, RemoteOptions, ServerSpec};
use crate::federation::{self, Federated, COMBINED_REGION};
use crate::globe::Globe;
use crate::land::{self, Land};
use crate::phones::{self, background, final_sync, post_result, sightings, PhoneOptions};
use crate::series::Recorder;
use crate::summary::{CountriesSummary, CountrySummary, Summary};
use crate::tally::tally_countries;
use crate::world::{World, WorldOptions};

/// Hours after the last day's midnight the demo keeps running, so the day-after uploads of the last
/// day get published (two hours after the day ends) and downloaded.
pub const DRAIN_HOURS: i64 = 6;
/// The country of a run of one country.
pub const HOME_COUNTRY: &str = "DE";

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Phones (people) per country.
    pub phones: usize,
    /// Days simulated.
    pub days: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Share of people who test positive.
    pub positive_rate: f64,
    /// Share of people who test negative.
    pub negative_rate: f64,
    /// Share of positives who upload their keys.
    pub share_rate: f64,
    /// Fake upload sessions per phone and day.
    pub fake_rate: f64,
    /// The phones' risk calculation.
    pub risk: RiskModel,
    /// The countries: one ([`HOME_COUNTRY`] for `warnkit demo`), or several joined by a gateway.
    pub countries: Vec<String>,
    /// With several countries: share of people who consent to federation.
    pub federation_rate: f64,
    /// With several countries: chance that a person spends a given day abroad.
    pub travel_rate: f64,
    /// With several countries: phones download their home region only.
    pub home_region_only: bool,
    /// The local services' data directory; a temporary one when `None`.
    pub data_dir: Option<PathBuf>,
    /// With one country: a running `warnkit serve --demo-clock` instead of local services.
    pub server: Option<(ServerSpec, RemoteOptions)>,
    /// Every phone downloads and matches on its own, sharing nothing with the others: slower by the
    /// population's size, for checking that sharing changes no result.
    pub per_phone: bool,
    /// Count every day at its end ([`crate::series`]): every phone's risk and the ground truth once a
    /// simulated day.
    pub series: bool,
}

/// What the simulation tells while it runs (the command shows it; the simulation prints nothing).
pub trait Observer {
    /// The backends are up: each country's code and endpoints, and `gateway_url` when several
    /// countries are joined by a gateway.
    fn started(&mut self, lands: &[(&str, &Endpoints)], gateway_url: Option<&str>);
    /// The loop starts: `hours` simulated hours.
    fn hours(&mut self, hours: u64);
    /// One simulated hour is done.
    fn hour_done(&mut self);
    /// The loop has ended.
    fn finished(&mut self);
}

/// One country's world as the options describe it.
fn world_options(o: &Options) -> WorldOptions {
    // The simulation ends a few hours before the real now, so no simulated time lies in the real
    // future. Every service now reads the demo's manual clock; when verification and test results
    // still ran on the system clock, this was what kept their times in order.
    let real_now = warnkit_store::unix_now();
    let start_day = (real_now - (DRAIN_HOURS + 2) * 3600).div_euclid(86_400) - i64::from(o.days);
    WorldOptions {
        people: o.phones,
        days: o.days,
        start_day,
        positive_rate: o.positive_rate,
        negative_rate: o.negative_rate,
        share_rate: o.share_rate,
    }
}

/// Runs the whole demo and returns the figures: per country, and their totals.
pub async fn simulate(
    o: &Options,
    observer: &mut dyn Observer,
) -> anyhow::Result<CountriesSummary> {
    anyhow::ensure!(!o.countries.is_empty(), "a demo needs a country");
    anyhow::ensure!(
        o.server.is_none() || o.countries.len() == 1,
        "a running server is one country"
    );
    let started = Instant::now();
    let mut rng = ChaCha20Rng::seed_from_u64(o.seed);
    let options = world_options(o);
    let worlds: Vec<World> = o
        .countries
        .iter()
        .map(|_| World::new(options, &mut rng))
        .collect();
    let several = worlds.len() > 1;
    let globe = Globe::new(worlds, o.travel_rate, &mut rng);
    let world = &globe.world;
    // Consent to federation is the user's choice, made once, like the app's interoperability switch.
    // Without a gateway nobody is asked (and nothing is drawn).
    let federates: Vec<bool> = if several {
        (0..world.people)
            .map(|_| rng.gen_bool(o.federation_rate.clamp(0.0, 1.0)))
            .collect()
    } else {
        vec![false; world.people]
    };

    // Holds a temporary data directory until the demo ends.
    let _temp;
    let (lands, federated): (Vec<Land>, Option<Federated>) = if let Some((spec, remote)) = &o.server
    {
        let backend = Backend::connect(spec, remote.clone()).await?;
        (vec![Land::new(&o.countries[0], backend, o.seed, 0)?], None)
    } else {
        let dir;
        (dir, _temp) = data_dir(o)?;
        if several {
            let (lands, federated) =
                federation::start(&dir, &o.countries, world.start, o.seed).await?;
            (lands, Some(federated))
        } else {
            let backend = Backend::start(&dir, world.start).await?;
            (vec![Land::new(&o.countries[0], backend, o.seed, 0)?], None)
        }
    };
    // Phones in one process share what real phones would each work out alike (see
    // `warnkit_app::air`); the edge cache in front of each distribution is purged whenever it
    // publishes.
    let air = (!o.per_phone).then(|| Arc::new(Air::new()));
    let mut lands = lands;
    if air.is_some() {
        for land in &mut lands {
            land.http = land.http.clone().with_edge();
        }
    }
    let endpoints: Vec<(&str, &Endpoints)> = lands
        .iter()
        .map(|l| (l.code.as_str(), &l.backend.endpoints))
        .collect();
    observer.started(
        &endpoints,
        federated.as_ref().map(|f| f.gateway_url.as_str()),
    );
    let https: Vec<Http> = lands.iter().map(|l| l.http.clone()).collect();
    let lab = reqwest::Client::new();
    let codes: Vec<String> = lands.iter().map(|l| l.code.clone()).collect();
    let public_keys: Vec<String> = lands
        .iter()
        .map(|l| l.backend.public_key_pem.clone())
        .collect();
    let phone_options = PhoneOptions {
        air: air.clone(),
        risk: o.risk,
        fake_rate: o.fake_rate,
        home_region_only: o.home_region_only,
    };
    let mut agents = phones::agents(
        &globe.home,
        &codes,
        &public_keys,
        &federates,
        COMBINED_REGION,
        phone_options,
        &mut rng,
    );

    let mut per: Vec<CountrySummary> = codes
        .iter()
        .map(|_| CountrySummary {
            figures: Summary {
                phones: o.phones,
                days: o.days,
                ..Summary::default()
            },
            ..CountrySummary::default()
        })
        .collect();
    for t in &globe.trips {
        per[globe.home[t.person]].cross_border.trips += 1;
    }
    let first_hour = world.start / 3600;
    let last_hour = first_hour + i64::from(o.days) * 24 + DRAIN_HOURS;
    observer.hours((last_hour - first_hour) as u64);
    let mut next_contact = 0;
    let semaphore = Arc::new(Semaphore::new(phones::CONCURRENCY));
    let mut days = Recorder::default();
    for hour in first_hour..last_hour {
        let h0 = hour * 3600;
        // The federation jobs run on the submission clocks: in the middle of the hour, so the upload
        // takes every hour that has ended (its keys are complete) and the downloaded keys, stamped with
        // this hour, go out with the next distribution run.
        if let Some(f) = &federated {
            f.set_clock(h0 + 1800);
        }
        land::set_clocks(&lands, h0 + 1800).await?;
        if let Some(f) = &federated {
            f.exchange(&mut per).await?;
        }
        land::distribute(&lands, h0 + 5, &mut per).await?;
        next_contact = sightings(
            &world.contacts,
            next_contact,
            h0 + 3600,
            &mut agents,
            air.as_deref(),
        );
        for test in world.tests.iter().filter(|t| t.sample / 3600 == hour) {
            let a = &mut agents[test.person];
            a.phone.en.consent = test.shares;
            a.phone.interop.visited_countries = globe
                .visited(test.person, test.sample)
                .into_iter()
                .map(|k| codes[k].clone())
                .collect();
            a.phone
                .scan_qr(&https[a.home], &format!("demo-{}-{}", o.seed, test.person))
                .await
                .context("registering a test")?;
        }
        for test in world.tests.iter().filter(|t| t.result_at / 3600 == hour) {
            let home = globe.home[test.person];
            post_result(&lab, &lands[home].backend, o.seed, test).await?;
            per[home].figures.requests += 1;
        }
        agents = background(agents, &https, h0, &semaphore).await?;
        let day_end = h0 + 3600;
        if o.series && day_end % 86_400 == 0 && day_end <= world.start + i64::from(o.days) * 86_400
        {
            days.day_end(world, &agents, &https, day_end)?;
        }
        observer.hour_done();
    }
    observer.finished();
    // Everyone syncs once more at the end and shows their risk.
    let end = last_hour * 3600;
    agents = final_sync(agents, &https, end, &semaphore).await?;

    let published = tally_countries(
        &globe,
        &agents,
        &federates,
        o.home_region_only,
        end,
        &mut per,
    )?;
    for (land, summary) in lands.iter().zip(&mut per) {
        let traffic = land.http.traffic();
        summary.figures.requests += traffic.requests.load(std::sync::atomic::Ordering::Relaxed);
        summary.figures.bytes_downloaded = traffic
            .bytes_downloaded
            .load(std::sync::atomic::Ordering::Relaxed);
        summary.figures.origin_requests = traffic
            .origin_requests
            .load(std::sync::atomic::Ordering::Relaxed);
    }
    if let Some(f) = &federated {
        f.unconsented_abroad(&published, first_hour, last_hour, &mut per)
            .await?;
    }

    let mut summary = CountriesSummary {
        total: Summary {
            days: o.days,
            ..Summary::default()
        },
        ..CountriesSummary::default()
    };
    for (code, c) in codes.iter().zip(&per) {
        summary.total.add(&c.figures);
        summary.cross_border.add(&c.cross_border);
        summary.countries.insert(code.clone(), c.clone());
    }
    summary.total.distribution_runs = per.first().map_or(0, |c| c.figures.distribution_runs);
    summary.by_day = days.finish();
    if let Some(f) = federated {
        f.finish(&mut summary).await?;
    }
    land::stop(lands).await;
    let seconds = started.elapsed().as_secs_f64();
    summary.total.seconds = seconds;
    for c in summary.countries.values_mut() {
        c.figures.seconds = seconds;
    }
    Ok(summary)
}

/// The local services' data directory: the one in the options, or a temporary one, removed when the
/// returned guard drops.
fn data_dir(o: &Options) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    Ok(match &o.data_dir {
        Some(d) => (d.clone(), None),
        None => {
            let temp = tempfile::tempdir().context("creating a temporary directory")?;
            (temp.path().to_path_buf(), Some(temp))
        }
    })
}
