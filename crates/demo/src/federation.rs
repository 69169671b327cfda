//! The federation of a run of several countries: a gateway between the countries' backends, and
//! each country's federation jobs (upload its consented keys, download the others'), run every hour.
//! A run of one country has none.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context;
use warnkit_federation::config::{load_or_create_signing_key, Country};
use warnkit_federation::{Federation, Gateway, GatewayConfig};
use warnkit_keystore::KeyStore;
use warnkit_service::server::{serve, shutdown_channel};
use warnkit_service::Clock;
use warnkit_store::Db;

use crate::backend::Backend;
use crate::land::Land;
use crate::summary::{CountriesSummary, CountrySummary};
use warnkit_node::config::Config;

/// The combined region every backend publishes besides its own, as the original's `EUR`.
pub const COMBINED_REGION: &str = "EUR";

/// The gateway and every country's federation jobs.
pub(crate) struct Federated {
    gateway: Gateway,
    /// Where the gateway listens.
    pub(crate) gateway_url: String,
    /// The gateway's clock, moved with the countries' clocks.
    clock: Clock,
    server: GatewayTask,
    /// In the countries' order.
    members: Vec<Member>,
}

/// One country's federation jobs and the key store they read and fill.
struct Member {
    code: String,
    federation: Federation,
    keys: KeyStore,
}

/// Stops the gateway's server.
struct GatewayTask {
    trigger: warnkit_service::server::ShutdownTrigger,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the countries' backends (each under `dir/CODE`) and the gateway (`dir/gateway`), wired as
/// members of one federation, with every clock at `now`; the `k`-th country's phones' client draws
/// from `seed ^ k`.
pub(crate) async fn start(
    dir: &Path,
    codes: &[String],
    now: i64,
    seed: u64,
) -> anyhow::Result<(Vec<Land>, Federated)> {
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
    let countries = codes
        .iter()
        .zip(&tokens)
        .zip(&signing)
        .map(|((code, token), key)| Country::new(code, token, *key.verifying_key()))
        .collect();
    let gateway_clock = Clock::manual(now);
    let gateway = Gateway::with_countries(
        gateway_db,
        GatewayConfig::default(),
        countries,
        gateway_clock.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the gateway")?;
    let gateway_url = format!("http://{}", listener.local_addr()?);
    let (trigger, shutdown) = shutdown_channel();
    let task = tokio::spawn(serve(listener, gateway.router(), shutdown));

    let mut lands = Vec::new();
    let mut members = Vec::new();
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
        let federation = Federation::open(
            keys.clone(),
            &config.db_target(warnkit_federation::jobs::NAME),
            config.pool(),
            settings,
            clock.clone(),
        )
        .await
        .with_context(|| format!("{code}: federation jobs"))?;
        members.push(Member {
            code: code.clone(),
            federation,
            keys,
        });
        lands.push(Land::new(code, backend, seed, k)?);
    }
    let federated = Federated {
        gateway,
        gateway_url,
        clock: gateway_clock,
        server: GatewayTask { trigger, task },
        members,
    };
    Ok((lands, federated))
}

impl Federated {
    /// Sets the gateway's clock.
    pub(crate) fn set_clock(&self, now: i64) {
        self.clock.set(now);
    }

    /// Every country's federation upload, then every country's download, counted in `per`. Within a
    /// step the countries work side by side (their jobs share nothing but the gateway); the steps
    /// stay in order.
    pub(crate) async fn exchange(&self, per: &mut [CountrySummary]) -> anyhow::Result<()> {
        let ups = self
            .each(|f| async move { Ok(f.upload_once().await?) })
            .await;
        for ((m, up), summary) in self.members.iter().zip(ups).zip(per.iter_mut()) {
            let up = up.with_context(|| format!("{}: federation upload", m.code))?;
            let cb = &mut summary.cross_border;
            cb.federation_batches_uploaded += up.batches as u64;
            cb.federation_keys_uploaded += up.keys as u64;
        }
        let downs = self
            .each(|f| async move { Ok(f.download_once().await?) })
            .await;
        for ((m, down), summary) in self.members.iter().zip(downs).zip(per.iter_mut()) {
            let down = down.with_context(|| format!("{}: federation download", m.code))?;
            let cb = &mut summary.cross_border;
            cb.federation_batches_downloaded += down.batches_stored as u64;
            cb.federation_keys_downloaded += down.keys_stored;
            cb.federation_batches_rejected += down.rejected.len() as u64;
        }
        Ok(())
    }

    /// Runs `f` on every country's federation jobs at once, each as its own task; the results in the
    /// countries' order.
    async fn each<T, F, Fut>(&self, f: F) -> Vec<anyhow::Result<T>>
    where
        T: Send + 'static,
        F: Fn(Federation) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    {
        let tasks: Vec<_> = self
            .members
            .iter()
            .map(|m| tokio::spawn(f(m.federation.clone())))
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

    /// Counts, per origin country, the keys uploaded without consent, and those of them that reached
    /// another country: its key store, or its phones' downloads.
    /// `published` holds the keys each country's phones downloaded; keys are read from the key stores
    /// as submitted between `first_hour - 24` and `last_hour + 24`.
    pub(crate) async fn unconsented_abroad(
        &self,
        published: &[HashSet<[u8; 16]>],
        first_hour: i64,
        last_hour: i64,
        per: &mut [CountrySummary],
    ) -> anyhow::Result<()> {
        let lands = &self.members;
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

    /// Records what the gateway holds in `summary`, then stops the gateway and closes the federation
    /// jobs' databases.
    pub(crate) async fn finish(self, summary: &mut CountriesSummary) -> anyhow::Result<()> {
        let (batches, keys) = self
            .gateway
            .counts()
            .await
            .map_err(|e| anyhow::anyhow!("counting the gateway's batches: {}", e.message))?;
        summary.gateway_batches = batches;
        summary.gateway_keys = keys;
        self.server.trigger.trigger();
        let _ = self.server.task.await;
        self.gateway.db().close().await;
        for m in self.members {
            m.federation.db().close().await;
        }
        Ok(())
    }
}
