//! A world of countries around one gateway: every service on an ephemeral port, every database fresh.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use p256::ecdsa::SigningKey;
use warnkit_distribution::{layout, Distribution, DistributionConfig, Objects};
use warnkit_federation::config::{Country, Settings};
use warnkit_federation::{Federation, Gateway, GatewayConfig};
use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_protocol::export::{Archive, Limits};
use warnkit_service::server::{serve, shutdown_channel, ShutdownTrigger};
use warnkit_service::Clock;
use warnkit_store::{Db, PoolConfig};
use warnkit_testkit::{bind, Engine, TestDb};

/// 2026-11-23 as a UTC day number.
pub const DAY: i64 = 20_780;
/// The world's start: 10:10 on that day.
pub const START: i64 = DAY * 86_400 + 10 * 3600 + 600;
/// Countries with a backend; `IT` is a gateway member whose batches `FR` verifies with a wrong key.
pub const BACKENDS: [&str; 3] = ["DE", "FR", "IT"];

/// One country's side: its key store, its federation jobs, its keys and token.
pub struct Backend {
    pub keys: KeyStore,
    pub federation: Federation,
    pub signing: SigningKey,
    pub token: String,
}

/// The gateway, the backends and the shared clock.
pub struct World {
    pub db: TestDb,
    pub clock: Clock,
    pub gateway: Gateway,
    pub gateway_url: String,
    pub backends: BTreeMap<&'static str, Backend>,
    _stop: ShutdownTrigger,
}

impl World {
    /// Starts the gateway (members DE, FR, IT) and the three backends. DE and FR trust each other;
    /// FR holds a wrong key for IT (as if the gateway had been given a different key than FR was).
    pub async fn start(engine: Engine) -> Option<World> {
        log_capture();
        let db = TestDb::new(engine)?;
        let pool = PoolConfig::default();
        let clock = Clock::manual(START);
        let (stop, shutdown) = shutdown_channel();
        let mut signing = BTreeMap::new();
        let mut tokens = BTreeMap::new();
        for code in BACKENDS {
            signing.insert(code, SigningKey::random(&mut rand::rngs::OsRng));
            tokens.insert(code, format!("token-{code}-{}", rand::random::<u64>()));
        }
        let countries = BACKENDS
            .iter()
            .map(|code| Country::new(code, &tokens[code], *signing[code].verifying_key()))
            .collect();
        let gateway_db = Db::open(
            &db.target("gateway"),
            pool,
            &warnkit_federation::gateway::MIGRATOR,
        )
        .await
        .expect("gateway database");
        let config = GatewayConfig {
            max_batch_keys: 100,
            max_body_bytes: 100_000,
            ..GatewayConfig::default()
        };
        let gateway = Gateway::with_countries(gateway_db, config, countries, clock.clone());
        let (listener, gateway_url) = bind().await;
        tokio::spawn(serve(listener, gateway.router(), shutdown));

        let wrong_it = SigningKey::random(&mut rand::rngs::OsRng);
        let mut backends = BTreeMap::new();
        for code in BACKENDS {
            let lower = code.to_ascii_lowercase();
            let keys = KeyStore::open(&db.target(&format!("keys_{lower}")), pool)
                .await
                .expect("key store");
            let mut trusted = BTreeMap::new();
            for other in BACKENDS.iter().filter(|o| **o != code) {
                let key = if code == "FR" && *other == "IT" {
                    *wrong_it.verifying_key()
                } else {
                    *signing[other].verifying_key()
                };
                trusted.insert((*other).to_owned(), key);
            }
            let settings = Settings {
                gateway_url: gateway_url.clone(),
                country: code.to_owned(),
                token: tokens[code].clone(),
                signing_key: signing[code].clone(),
                trusted,
                max_batch_keys: 3,
                retention_days: 14,
            };
            let federation = Federation::open(
                keys.clone(),
                &db.target(&format!("federation_{lower}")),
                pool,
                settings,
                clock.clone(),
            )
            .await
            .expect("federation jobs");
            backends.insert(
                code,
                Backend {
                    keys,
                    federation,
                    signing: signing[code].clone(),
                    token: tokens[code].clone(),
                },
            );
        }
        Some(World {
            db,
            clock,
            gateway,
            gateway_url,
            backends,
            _stop: stop,
        })
    }

    pub fn backend(&self, code: &str) -> &Backend {
        &self.backends[code]
    }

    /// Runs `country`'s distribution at `now` (own region = country, combined region `EUR`, no padding)
    /// and returns the keys published per region, hourly and daily archives together.
    pub async fn publish(&self, country: &str, now: i64) -> BTreeMap<String, BTreeSet<[u8; 16]>> {
        let dir = self.db.dir().join(format!("dist-{country}"));
        let config = DistributionConfig {
            region: country.to_owned(),
            federation_region: Some("EUR".into()),
            min_keys_per_file: 0,
            ..DistributionConfig::default()
        };
        let job = Distribution::for_data_dir(self.backend(country).keys.clone(), config, &dir)
            .expect("distribution");
        job.run_once(now).await.expect("distribution run");
        published(job.objects(), now).await
    }
}

/// Every key in every archive the indexes name, by region, and in the current day's hourly files (the
/// date index lists ended days only).
async fn published(objects: &Objects, now: i64) -> BTreeMap<String, BTreeSet<[u8; 16]>> {
    let get = |path: String| async move { objects.get(&path).await.expect("read object") };
    let mut out = BTreeMap::new();
    let Some(top) = get(layout::country_index()).await else {
        return out;
    };
    let regions: Vec<String> = serde_json::from_slice(&top).expect("country index");
    for region in regions {
        let mut keys = BTreeSet::new();
        let mut dates: Vec<String> =
            serde_json::from_slice(&get(layout::date_index(&region)).await.expect("date index"))
                .expect("json");
        dates.push(layout::date_string(now.div_euclid(86_400)));
        dates.dedup();
        let mut archives = Vec::new();
        for date in dates {
            archives.push(layout::daily(&region, &date));
            if let Some(hours) = get(layout::hour_index(&region, &date)).await {
                let hours: Vec<u32> = serde_json::from_slice(&hours).expect("hour index");
                archives.extend(hours.iter().map(|h| layout::hourly(&region, &date, *h)));
            }
        }
        for path in archives {
            if let Some(bytes) = get(path).await {
                let archive = Archive::read(&bytes, &Limits::default()).expect("archive");
                keys.extend(
                    archive
                        .export
                        .keys
                        .iter()
                        .map(|k| <[u8; 16]>::try_from(k.key_data()).expect("16 bytes")),
                );
            }
        }
        out.insert(region, keys);
    }
    out
}

/// A key of `origin` submitted at `hour`, for the day before [`DAY`].
pub fn key(byte: u8, origin: &str, visited: &[&str], consent: bool, hour: i64) -> StoredKey {
    StoredKey {
        key_data: [byte; 16],
        rolling_start: ((DAY - 1) * 144) as u32,
        rolling_period: 144,
        transmission_risk_level: 6,
        report_type: 1,
        days_since_onset_of_symptoms: Some(1),
        submission_hour: hour,
        origin: origin.to_owned(),
        visited_countries: visited.iter().map(|c| (*c).to_owned()).collect(),
        consent_to_federation: consent,
    }
}

/// Every log line of this test process (a global subscriber: the jobs log from runtime threads).
pub fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().expect("log lock")).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(Default::default)
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_buffer()
            .lock()
            .expect("log lock")
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warnkit_federation=info")
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
    });
}
