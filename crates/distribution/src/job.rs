//! One distribution run: read keys, plan, publish archives, then indexes, then delete the files that left
//! the window (stored keys are the key store's retention job's to delete).

use std::path::PathBuf;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use prost::Message;
use serde::{Deserialize, Serialize};
use warnkit_keystore::KeyStore;
use warnkit_protocol::export::{self, Signer};
use warnkit_protocol::interval::datetime_string;
use warnkit_service::{Clock, Metrics};

use crate::app_config::AppConfigSettings;
pub use crate::error::{DistributionError, RewindRefused};
use crate::layout::{self, Kind};
use crate::objects::{Objects, Put, Snapshot, StoreConfig};
use crate::plan::{self, DistKey, PlanConfig, PlannedFile};
use crate::signing::SigningMaterial;

/// Settings of the distribution job, from the `[distribution]` table of the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributionConfig {
    /// Region the files are published for: the own country, e.g. `DE`.
    pub region: String,
    /// The combined region, `EUR` by default: every own key and every foreign key, as the original's
    /// `EUR` package, which every app since 1.6 downloads instead of the own region. Empty publishes
    /// the own region only (apps of the original would then find no keys).
    pub federation_region: Option<String>,
    /// Keys with a lower transmission risk level are not published (the original: 3; levels 1 and 2
    /// carry no risk in its configurations).
    pub min_transmission_risk_level: u8,
    /// Files with fewer real keys are padded with random keys up to this number (0 disables padding).
    pub min_keys_per_file: usize,
    /// Days of daily files published, and of submitted keys read for them. Stored keys are deleted by
    /// the key store's retention job (`[submission] retention_days`), not by this job.
    pub retention_days: i64,
    /// Days of hourly files kept.
    pub hourly_retention_days: i64,
    /// Minutes after a key's rolling period ends before it may be published.
    pub expiry_minutes: i64,
    /// Verification key id published with signatures (apps look the public key up by it).
    pub key_id: String,
    /// Verification key version published with signatures.
    pub key_version: String,
    /// The app named in every signature's info (`app_bundle_id`); empty leaves it out.
    pub app_bundle_id: String,
    /// What the three app configurations say.
    pub app_config: AppConfigSettings,
    /// Where published files go; `None` means `DATA_DIR/published`.
    pub store: Option<StoreConfig>,
    /// The signing keys' directory (keys and keyring), when it is not `DATA_DIR/signing`: one
    /// directory several distribution runners share, so that every file is signed by the same key.
    /// A named directory without a key is refused (make one with `warnkit keygen --out DIR`) rather
    /// than given a new key, so no runner ever signs with a key of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_dir: Option<std::path::PathBuf>,
    /// Minutes between scheduled runs inside `warnkit serve`.
    pub interval_minutes: u64,
    /// Whether `warnkit serve` runs the job on its schedule; off for an instance that only serves
    /// files, or when another instance (or cron with `warnkit distribute`) publishes.
    pub schedule: bool,
}

impl Default for DistributionConfig {
    fn default() -> Self {
        let plan = PlanConfig::default();
        Self {
            region: plan.region,
            federation_region: plan.federation_region,
            min_keys_per_file: plan.min_keys_per_file,
            retention_days: plan.retention_days,
            hourly_retention_days: plan.hourly_retention_days,
            expiry_minutes: plan.expiry_minutes,
            min_transmission_risk_level: plan.min_transmission_risk_level,
            key_id: "262".into(),
            key_version: "v1".into(),
            app_bundle_id: "de.rki.coronawarnapp".into(),
            app_config: AppConfigSettings::default(),
            store: None,
            signing_dir: None,
            interval_minutes: 60,
            schedule: true,
        }
    }
}

impl DistributionConfig {
    /// Where files are published: the configured store, or `DATA_DIR/published`.
    pub fn store_config(&self, data_dir: &std::path::Path) -> StoreConfig {
        self.store.clone().unwrap_or(StoreConfig::Local {
            dir: data_dir.join("published"),
        })
    }

    /// The signing keys' directory: `signing_dir`, else `DATA_DIR/signing`.
    pub fn signing_dir(&self, data_dir: &std::path::Path) -> std::path::PathBuf {
        self.signing_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("signing"))
    }

    /// Checks what the job cannot publish: region codes must be path-safe and distinct.
    pub fn validate(&self) -> Result<(), DistributionError> {
        let refuse = |why: String| Err(DistributionError::Config(why));
        let code = |name: &str, value: &str| {
            if (2..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Ok(());
            }
            refuse(format!(
                "distribution.{name} = {value:?}: a region code is 2 to 8 letters or digits, e.g. \"DE\""
            ))
        };
        code("region", &self.region)?;
        if let Some(combined) = self.combined_region() {
            code("federation_region", combined)?;
            if combined.eq_ignore_ascii_case(&self.region) {
                return refuse(format!(
                    "distribution.federation_region must differ from distribution.region ({})",
                    self.region
                ));
            }
        }
        if !(1..=8).contains(&self.min_transmission_risk_level) {
            return refuse(format!(
                "distribution.min_transmission_risk_level = {}: a level is 1 to 8",
                self.min_transmission_risk_level
            ));
        }
        self.app_config
            .validate(self.min_transmission_risk_level)
            .map_err(|e| DistributionError::Config(format!("distribution.app_config.{e}")))
    }

    /// The combined region, unless switched off with an empty name.
    fn combined_region(&self) -> Option<&str> {
        self.federation_region.as_deref().filter(|r| !r.is_empty())
    }

    fn plan_config(&self) -> PlanConfig {
        PlanConfig {
            region: self.region.clone(),
            federation_region: self.combined_region().map(str::to_owned),
            min_transmission_risk_level: self.min_transmission_risk_level,
            key_encoding: self.app_config.key_encoding.clone(),
            min_keys_per_file: self.min_keys_per_file,
            retention_days: self.retention_days,
            hourly_retention_days: self.hourly_retention_days,
            expiry_minutes: self.expiry_minutes,
        }
    }
}

pub use crate::report::RunReport;

/// The distribution job with everything it needs.
#[derive(Debug, Clone)]
pub struct Distribution {
    keys: KeyStore,
    objects: Objects,
    signing: SigningMaterial,
    config: DistributionConfig,
    lock_file: PathBuf,
    /// Where each run records itself ([`crate::report::LastRun`]); `None` records nothing.
    last_run_file: Option<PathBuf>,
    metrics: Option<Metrics>,
    force_rewind: bool,
}

impl Distribution {
    /// Assembles a job. `lock_file` serialises runs on one machine; on PostgreSQL an advisory lock
    /// serialises them across machines too.
    pub fn new(
        keys: KeyStore,
        objects: Objects,
        signing: SigningMaterial,
        config: DistributionConfig,
        lock_file: PathBuf,
    ) -> Self {
        Self {
            keys,
            objects,
            signing,
            config,
            lock_file,
            last_run_file: None,
            metrics: None,
            force_rewind: false,
        }
    }

    /// Records each run's counts, duration and outcome in `metrics` (the distribution registry).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        crate::report::register(&metrics);
        self.metrics = Some(metrics);
        self
    }

    /// Writes each run's record ([`crate::report::LastRun`]) to `path`, ok or failed.
    pub fn with_last_run_file(mut self, path: PathBuf) -> Self {
        self.last_run_file = Some(path);
        self
    }

    /// Runs even when the clock is earlier than the newest published file (disaster recovery: a
    /// store restored with files from a clock that ran ahead). Such a run withdraws the newer files.
    pub fn with_force_rewind(mut self, force: bool) -> Self {
        self.force_rewind = force;
        self
    }

    /// The job for a data directory: published files in `DATA_DIR/published` unless the configuration
    /// names a store, the signing key in `DATA_DIR/signing/` (generated on first use).
    pub fn for_data_dir(
        keys: KeyStore,
        config: DistributionConfig,
        data_dir: &std::path::Path,
    ) -> Result<Self, DistributionError> {
        config.validate()?;
        let objects = Objects::open(&config.store_config(data_dir))
            .map_err(|e| DistributionError::Objects(e.into()))?;
        let signing_dir = config.signing_dir(data_dir);
        if config.signing_dir.is_some()
            && !signing_dir.join(crate::signing::PRIVATE_KEY_FILE).exists()
        {
            return Err(DistributionError::Config(format!(
                "distribution.signing_dir {} holds no signing key; make one there with `warnkit \
                 keygen --out {}` (a named directory is never given a key of its own, so that \
                 runners sharing it never sign with different keys)",
                signing_dir.display(),
                signing_dir.display()
            )));
        }
        let signing = crate::signing::load_or_create(&signing_dir)
            .map_err(|e| DistributionError::Signing(e.into()))?;
        // A broken keyring fails the start, not the first run an hour later.
        signing
            .keyring(&config.key_id, &config.key_version)
            .map_err(|e| DistributionError::Signing(e.into()))?;
        if signing.created {
            tracing::info!(
                path = %signing_dir.join(crate::signing::PUBLIC_KEY_FILE).display(),
                "generated a new signing key; apps verify archives with this public key:\n{}",
                signing.public_pem
            );
        }
        Ok(Self::new(
            keys,
            objects,
            signing,
            config,
            data_dir.join("distribution.lock"),
        )
        .with_last_run_file(data_dir.join(crate::report::LAST_RUN_FILE)))
    }

    /// The signing key's public half (SPKI PEM).
    pub fn public_key_pem(&self) -> &str {
        &self.signing.public_pem
    }

    /// Runs once now, then at the start of every interval (a few seconds past the hour by default)
    /// until `shutdown`, each run at `clock`'s time. Failures are logged and retried at the next interval.
    pub async fn schedule(self, clock: Clock, shutdown: warnkit_service::server::Shutdown) {
        let interval = (self.config.interval_minutes.max(1) * 60) as i64;
        // Seconds until the next interval boundary, plus a margin so the hour has surely ended.
        let pause = || {
            std::time::Duration::from_secs((interval - clock.now().rem_euclid(interval) + 5) as u64)
        };
        let run = || async {
            if let Err(e) = self.run_once(clock.now()).await {
                tracing::error!(error = %e.chain(), "distribution run failed");
            }
        };
        warnkit_service::periodic::repeat(shutdown, pause, run).await;
    }

    /// The store files are published to.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// Runs once as if the time were `now` (Unix seconds).
    ///
    /// A run that takes the lock, ok or failed, is counted in the metrics and recorded in the last-run
    /// file; one that finds the lock held does nothing (the holder records itself).
    pub async fn run_once(&self, now: i64) -> Result<RunReport, DistributionError> {
        let started_at = warnkit_store::unix_now();
        let started = Instant::now();
        let mut result = self.run_guarded(now).await;
        if matches!(&result, Ok(report) if !report.ran) {
            return result;
        }
        let seconds = started.elapsed().as_secs_f64();
        if let Ok(report) = &mut result {
            report.seconds = seconds;
            tracing::info!(
                real_keys = report.real_keys,
                padding_keys = report.padding_keys,
                hourly_files = report.hourly_files,
                daily_files = report.daily_files,
                keys_waiting = report.keys_waiting,
                written = report.files_written,
                unchanged = report.files_unchanged,
                kept = report.archives_kept,
                deleted = report.files_deleted,
                seconds = report.seconds,
                "distribution run finished"
            );
        }
        if let Some(metrics) = &self.metrics {
            crate::report::observe(metrics, &result, seconds);
        }
        if let Some(path) = &self.last_run_file {
            let mut record = crate::report::LastRun::new(started_at, now, &result);
            record.report.seconds = seconds;
            // The run's outcome stands without its record; `warnkit status` then shows an older one.
            if let Err(err) = record.write(path) {
                tracing::warn!(path = %path.display(), error = %err, "could not record the distribution run");
            }
        }
        result
    }

    /// [`Self::run_once`] under the local lock and the database's advisory lock.
    async fn run_guarded(&self, now: i64) -> Result<RunReport, DistributionError> {
        // Two processes on one machine (a `warnkit distribute` beside the schedule of `warnkit serve`)
        // share the published directory; copies on other machines share the database.
        let Some(_local_lock) =
            warnkit_store::FileLock::try_acquire(&self.lock_file).map_err(|e| {
                let what = format!("locking {}", self.lock_file.display());
                DistributionError::Lock(anyhow::Error::new(e).context(what).into())
            })?
        else {
            tracing::info!("another distribution run holds the lock; skipping");
            return Ok(RunReport::default());
        };
        let run = self
            .keys
            .db()
            .with_job_lock(ADVISORY_LOCK_ID, self.run_locked(now))
            .await
            .map_err(|e| DistributionError::Lock(e.into()))?;
        let Some(result) = run else {
            tracing::info!("another instance holds the distribution advisory lock; skipping");
            return Ok(RunReport::default());
        };
        result
    }

    async fn run_locked(&self, now: i64) -> Result<RunReport, DistributionError> {
        let objects = |e: anyhow::Error| DistributionError::Objects(e.into());
        let signing = |e: anyhow::Error| DistributionError::Signing(e.into());
        // One listing tells which files are already published with the same bytes: nothing is
        // downloaded. Taken first, so that a run refused for its clock changes nothing at all.
        let snapshot = self.objects.snapshot("version").await.map_err(objects)?;
        let rewound = self.check_clock(&snapshot, now)?;
        let config = self.config.plan_config();
        let today = now.div_euclid(86_400);
        // Keys older than the window are not read, and not deleted either: that is the key store's
        // retention job alone (`warnkit_keystore::KeyRetention`).
        let current_hour = now.div_euclid(3600);
        // Read a day at a time and keep only the compact form: the full rows of a million keys would
        // take several times the memory the plan needs. The countries become region bits here, and keys
        // published in no region (foreign keys that did not visit us, without a combined region) go.
        let mut keys = Vec::new();
        for day in (today - config.retention_days)..=today {
            let to = ((day + 1) * 24).min(current_hour + 1);
            let rows = self
                .keys
                .keys_submitted_between(day * 24, to)
                .await
                .map_err(|e| DistributionError::Keys(e.into()))?;
            keys.extend(rows.iter().filter_map(|k| DistKey::for_config(k, &config)));
        }
        keys.shrink_to_fit();

        // Read each run, so a `warnkit keys rotate` takes effect without a restart; every key valid at
        // `now` signs (two during a rotation's overlap).
        let keyring = self
            .signing
            .keyring(&self.config.key_id, &self.config.key_version)
            .map_err(signing)?;
        let signers = keyring
            .signers_at(&self.signing.dir, now, &self.config.app_bundle_id)
            .map_err(signing)?;
        let extra = self
            .config_files(&signers, &keyring, now)
            .map_err(signing)?;
        let secret = self.signing.padding_secret();
        // Archives the store already has are not built again: they never change.
        let published: std::collections::HashSet<String> = snapshot
            .url_paths(&layout::country_index())
            .into_iter()
            .collect();
        let plan = tokio::task::spawn_blocking(move || {
            plan::plan_unpublished(keys, now, &config, &signers, &secret, extra, &published)
        })
        .await
        .map_err(|e| DistributionError::Plan(e.into()))?
        .map_err(|e| DistributionError::Signing(e.into()))?;

        let mut report = RunReport {
            ran: true,
            real_keys: plan.real_keys + plan.current_day_real_keys,
            padding_keys: plan.padding_keys + plan.current_day_padding_keys,
            hourly_files: plan.hourly_files,
            daily_files: plan.daily_files,
            days: plan.days,
            keys_waiting: plan.keys_waiting,
            // Published once its hour has ended.
            waiting_until: plan
                .next_publishable_hour
                .map(|hour| warnkit_protocol::interval::datetime_string((hour + 1) * 3600)),
            rewound,
            archive_bytes: plan.archive_bytes,
            archive_keys: plan.archive_keys,
            ..RunReport::default()
        };
        // Archives first, then the indexes naming them, then the top index: a reader following the
        // indexes never meets a missing file, even if the run dies half-way.
        for group in [
            plan.archives,
            plan.indexes,
            plan.top_index.into_iter().collect(),
        ] {
            let puts: Vec<Put> = futures::stream::iter(group)
                .map(|f| {
                    let snapshot = &snapshot;
                    async move {
                        self.objects
                            .publish(snapshot, &f.path, f.kind, f.bytes)
                            .await
                    }
                })
                .buffer_unordered(8)
                .try_collect()
                .await
                .map_err(objects)?;
            let count = |what: Put| puts.iter().filter(|p| **p == what).count();
            report.files_written += count(Put::Written);
            report.files_unchanged += count(Put::Unchanged);
            report.archives_kept += count(Put::Kept);
        }
        report.archives_kept += plan.archives_published;
        // Only now, with no index naming them any more, expired files go: of every region, so files of a
        // region no longer published (a combined region switched off) leave too. Whatever this run
        // wrote is kept, so the listing from its start names every candidate.
        for path in snapshot.url_paths(&layout::country_index()) {
            if !plan.keep.contains(&path) {
                self.objects.delete(&path).await.map_err(objects)?;
                report.files_deleted += 1;
            }
        }
        Ok(report)
    }

    /// Refuses a run whose clock is earlier than what is published ([`plan::earliest_run_hour`]): it
    /// would withdraw files that phones and caches keep as immutable. Forced, it warns and returns
    /// `true`.
    fn check_clock(&self, snapshot: &Snapshot, now: i64) -> Result<bool, DistributionError> {
        let paths = snapshot.url_paths(&layout::country_index());
        let Some((earliest, newest)) = plan::earliest_run_hour(paths.iter().map(String::as_str))
        else {
            return Ok(false);
        };
        if now.div_euclid(3600) >= earliest {
            return Ok(false);
        }
        let refusal = RewindRefused {
            clock: now,
            earliest: earliest * 3600,
            newest: newest.to_owned(),
        };
        if !self.force_rewind {
            return Err(refusal.into());
        }
        tracing::warn!(
            clock = %datetime_string(now),
            newest = %refusal.newest,
            "FORCED REWIND: running earlier than the published files; files published for later \
             periods are withdrawn and will be published again with the clock"
        );
        Ok(true)
    }

    /// The configuration files of a run: the three app configurations (the v2 ones under both API
    /// versions the original's apps read), their index, the version index, the newest signing key's
    /// public key and the list of every public key with its validity at `now`.
    fn config_files(
        &self,
        signers: &[Signer],
        keyring: &crate::signing::Keyring,
        now: i64,
    ) -> anyhow::Result<Vec<PlannedFile>> {
        let signed = |path: String, message: &[u8]| -> anyhow::Result<PlannedFile> {
            Ok(PlannedFile {
                path,
                kind: Kind::Config,
                bytes: export::write_signed(message, signers, (Some(1), Some(1)))?,
            })
        };
        let settings = &self.config.app_config;
        let region = &self.config.region;
        let android = settings.android().encode_to_vec();
        let ios = settings.ios().encode_to_vec();
        let mut files = vec![signed(
            layout::app_config(region),
            &settings.v1().encode_to_vec(),
        )?];
        for version in layout::V2_CONFIG_VERSIONS {
            files.push(signed(layout::app_config_android(version), &android)?);
            files.push(signed(layout::app_config_ios(version), &ios)?);
        }
        files.push(plan::json_file(layout::config_index(), &[region]));
        files.push(plan::json_file(layout::version_index(), &["v1"]));
        files.push(PlannedFile {
            path: layout::public_key(),
            kind: Kind::PublicKey,
            bytes: keyring
                .newest_at(now)
                .map_or(&self.signing.public_pem, |k| &k.public_key)
                .clone()
                .into_bytes(),
        });
        files.push(PlannedFile {
            path: layout::public_keys(),
            kind: Kind::PublicKeys,
            bytes: keyring.published_list(now, self.config.retention_days * 86_400),
        });
        Ok(files)
    }
}

/// "warnkit d" as a number: the advisory lock id of the distribution job.
const ADVISORY_LOCK_ID: i64 = 0x7761_726e_6b69_7464;
