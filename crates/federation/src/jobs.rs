//! A backend's two federation jobs: upload this country's consented keys to the gateway, and download the
//! other countries' batches into the key store as foreign keys (which the distribution then publishes).
//!
//! Decisions:
//! - Uploads go by submission hour, and only hours that ended five minutes ago, so an hour's keys are
//!   complete. The range being uploaded is written down first (`pending_to`); a run after a crash uploads
//!   exactly that range again, with the same keys in the same batches under the same tags, which the
//!   gateway answers as already stored. Which keys are too old to send is decided by the range's end,
//!   never by the clock, so a re-run on a later day still sends the same batches.
//! - A batch the gateway refuses as bad input (400) or whose tag it already holds with other keys (409) is
//!   logged as an error and skipped: sending it again cannot succeed. Network failures, 401/403 and 5xx
//!   stop the run, and the next run tries the same range again.
//! - A downloaded batch is taken whole or not at all: the uploader must be trusted (a public key
//!   configured for its country), its signature must verify, every key's origin must be the uploader
//!   and every key must meet the gateway's rules. A batch that fails is rejected with a `warn` line
//!   naming country and tag, recorded, and not fetched again (its bytes cannot change at the gateway).
//!   A batch from a country without a configured key is recorded as untrusted and fetched again on every
//!   run, so it is taken once the operator adds the key.
//! - A day's chain is followed from the last batch handled by asking for the tag after it directly (the
//!   gateway's tags are `YYYYMMDD-seq`, numbered without gaps), not by fetching that batch again.
//! - Accepted keys get the hour of their download as submission hour, so the next distribution run
//!   publishes them; the key store skips keys it already holds, so nothing is stored twice.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prost::Message;
use serde::Serialize;
use warnkit_keystore::{KeyStore, StoredKey};
use warnkit_service::periodic;
use warnkit_service::server::Shutdown;
use warnkit_service::Clock;
use warnkit_store::{on_pool, Db, DbTarget, PoolConfig};

use crate::batch::{self, BatchError};
use crate::client::{Downloaded, GatewayClient, UploadOutcome};
use crate::config::Settings;
use crate::date::{day_string, download_tag, parse_download_tag};
pub use crate::error::FederationError;
use crate::proto::DiagnosisKeyBatch;

/// The federation state's embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/backend");

/// The state's name: SQLite file stem and PostgreSQL schema.
pub const NAME: &str = "federation";

/// Seconds after an hour's end before its keys are uploaded (uploads in flight at the hour's end commit).
const SETTLE_SECS: i64 = 300;
/// Downloaded keys are stored this many at a time (or fewer at the end of a run): one big sorted insert
/// touches each page of the key store's index once, where many small ones touch it again and again.
const FLUSH_KEYS: usize = 100_000;

/// Keys accepted and batches handled, not yet stored and recorded.
#[derive(Default)]
struct Pending {
    keys: Vec<StoredKey>,
    records: Vec<Record>,
}

/// A handled batch, as `downloaded_batch` records it.
struct Record {
    tag: String,
    day: String,
    position: i64,
    country: String,
    outcome: &'static str,
    keys: i64,
}

/// PostgreSQL advisory lock keys, so scaled-out copies run each job once.
const UPLOAD_LOCK: i64 = 0x5746_4544_5550_4c44;
const DOWNLOAD_LOCK: i64 = 0x5746_4544_444f_574e;

/// What an upload run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UploadReport {
    /// False when another instance held the lock.
    pub ran: bool,
    /// Submission hours covered by this run.
    pub hours: i64,
    /// Batches stored by the gateway now.
    pub batches: usize,
    /// Keys in those batches.
    pub keys: usize,
    /// Batches the gateway already held (a re-run after a crash).
    pub already_stored: usize,
    /// Batches refused or in conflict (logged as errors).
    pub refused: usize,
}

/// What a download run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DownloadReport {
    /// False when another instance held the lock.
    pub ran: bool,
    /// Batches fetched from the gateway.
    pub fetched: usize,
    /// Batches whose keys were stored.
    pub batches_stored: usize,
    /// Keys newly stored (keys already in the store are not counted).
    pub keys_stored: u64,
    /// This country's own batches, skipped.
    pub own: usize,
    /// Batches rejected: `(country, tag, reason)`.
    pub rejected: Vec<(String, String, String)>,
    /// Batches from countries without a configured key (fetched again next run).
    pub untrusted: usize,
}

/// What became of a downloaded batch.
enum Outcome {
    Accepted(Vec<StoredKey>),
    Own,
    Rejected(String),
    Untrusted,
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Accepted(_) => "stored",
            Outcome::Own => "own",
            Outcome::Rejected(_) => "rejected",
            Outcome::Untrusted => "untrusted",
        }
    }
}

/// A country's federation jobs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Federation {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    keys: KeyStore,
    db: Db,
    client: GatewayClient,
    settings: Settings,
    clock: Clock,
}

impl Federation {
    /// The jobs over the country's key store and an opened, migrated federation database.
    pub fn new(
        keys: KeyStore,
        db: Db,
        settings: Settings,
        clock: Clock,
    ) -> Result<Self, FederationError> {
        let client = GatewayClient::new(&settings.gateway_url, &settings.token)
            .map_err(|e| FederationError::Client(e.into()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                keys,
                db,
                client,
                settings,
                clock,
            }),
        })
    }

    /// Opens (creating and migrating) the federation database at `target`, then as [`Federation::new`].
    pub async fn open(
        keys: KeyStore,
        target: &DbTarget,
        pool: PoolConfig,
        settings: Settings,
        clock: Clock,
    ) -> Result<Self, FederationError> {
        let db = Db::open(target, pool, &MIGRATOR)
            .await
            .map_err(|e| FederationError::Database(e.into()))?;
        Self::new(keys, db, settings, clock)
    }

    /// This country's code.
    pub fn country(&self) -> &str {
        &self.inner.settings.country
    }

    /// The federation state's database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Runs the upload job, then the download job, once.
    pub async fn run_once(&self) -> Result<(UploadReport, DownloadReport), FederationError> {
        let up = self.upload_once().await?;
        let down = self.download_once().await?;
        Ok((up, down))
    }

    /// Runs both jobs now and then every `interval` until `shutdown`; a failure of one is logged and does
    /// not keep the other from running, and both are retried at the next run.
    pub async fn schedule(self, interval: Duration, shutdown: Shutdown) {
        periodic::repeat(shutdown, || interval, || self.run_logged()).await;
    }

    /// One scheduled run: both jobs, each logged as finished or failed.
    async fn run_logged(&self) {
        match self.upload_once().await {
            Ok(up) => tracing::info!(
                batches = up.batches,
                keys = up.keys,
                refused = up.refused,
                "federation upload finished"
            ),
            Err(e) => tracing::error!(error = %e.chain(), "federation upload failed"),
        }
        match self.download_once().await {
            Ok(down) => tracing::info!(
                batches = down.batches_stored,
                keys = down.keys_stored,
                rejected = down.rejected.len(),
                untrusted = down.untrusted,
                "federation download finished"
            ),
            Err(e) => tracing::error!(error = %e.chain(), "federation download failed"),
        }
    }

    /// Uploads the consented keys of this country from the hours not uploaded yet.
    pub async fn upload_once(&self) -> Result<UploadReport, FederationError> {
        let run = self
            .inner
            .db
            .with_job_lock(UPLOAD_LOCK, self.upload_locked());
        let failed = |e: anyhow::Error| FederationError::Upload(e.into());
        match run.await.map_err(|e| failed(e.into()))? {
            Some(report) => report.map_err(failed),
            None => Ok(UploadReport::default()),
        }
    }

    async fn upload_locked(&self) -> anyhow::Result<UploadReport> {
        let s = &self.inner.settings;
        let now = self.inner.clock.now();
        let ready = (now - SETTLE_SECS).div_euclid(3600);
        let floor = now.div_euclid(3600) - s.retention_days * 24;
        let (from, to) = match self.upload_state().await? {
            Some((next, Some(pending))) => (next, pending),
            Some((next, None)) => (next.max(floor), ready),
            None => (floor, ready),
        };
        let mut report = UploadReport {
            ran: true,
            hours: (to - from).max(0),
            ..UploadReport::default()
        };
        if to <= from {
            return Ok(report);
        }
        self.save_upload_state(from, Some(to)).await?;
        // One day inside the gateway's window, so a key never reaches it already too old. The cutoff is
        // taken from the range (its end), not the clock: a re-run of a pending range after the day
        // changed must send the same keys in the same batches, or a tag the gateway already holds would
        // name other keys (409) and keys would be lost.
        let oldest = batch::rolling_window(to * 3600, s.retention_days).0 + 144;
        let mut keys: Vec<StoredKey> = self
            .inner
            .keys
            .keys_submitted_between(from, to)
            .await
            .context("reading keys to upload")?
            .into_iter()
            .filter(|k| {
                k.origin == s.country && k.consent_to_federation && k.rolling_start >= oldest
            })
            .collect();
        keys.sort_unstable_by_key(|k| k.key_data);
        for (i, chunk) in keys.chunks(s.max_batch_keys).enumerate() {
            let tag = format!("h{from}-{to}-{i}");
            let batch = DiagnosisKeyBatch {
                keys: chunk.iter().map(batch::to_wire).collect(),
            };
            let signature = batch::sign(&batch, &s.signing_key);
            match self
                .inner
                .client
                .upload(&tag, &signature, batch.encode_to_vec())
                .await?
            {
                UploadOutcome::Created(_) => {
                    report.batches += 1;
                    report.keys += chunk.len();
                }
                UploadOutcome::AlreadyStored(_) => report.already_stored += 1,
                UploadOutcome::Conflict => {
                    report.refused += 1;
                    tracing::error!(batch_tag = %tag, "the gateway holds other keys under this batch tag; batch skipped");
                }
                UploadOutcome::Refused { status, message } => {
                    report.refused += 1;
                    tracing::error!(batch_tag = %tag, status, reason = %message, "the gateway refused a batch; skipped");
                }
            }
        }
        self.save_upload_state(to, None).await?;
        Ok(report)
    }

    async fn upload_state(&self) -> anyhow::Result<Option<(i64, Option<i64>)>> {
        Ok(on_pool!(&self.inner.db, |pool| {
            sqlx::query_as("SELECT next_hour, pending_to FROM upload_state WHERE id = 1")
                .fetch_optional(pool)
                .await
        })?)
    }

    async fn save_upload_state(&self, next: i64, pending: Option<i64>) -> anyhow::Result<()> {
        on_pool!(&self.inner.db, |pool| {
            sqlx::query(
                "INSERT INTO upload_state (id, next_hour, pending_to) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET next_hour = excluded.next_hour, \
                 pending_to = excluded.pending_to",
            )
            .bind(next)
            .bind(pending)
            .execute(pool)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// Downloads the batches of every day of the retention window that were not handled yet.
    pub async fn download_once(&self) -> Result<DownloadReport, FederationError> {
        let run = self
            .inner
            .db
            .with_job_lock(DOWNLOAD_LOCK, self.download_locked());
        let failed = |e: anyhow::Error| FederationError::Download(e.into());
        match run.await.map_err(|e| failed(e.into()))? {
            Some(report) => report.map_err(failed),
            None => Ok(DownloadReport::default()),
        }
    }

    async fn download_locked(&self) -> anyhow::Result<DownloadReport> {
        let now = self.inner.clock.now();
        let today = now.div_euclid(86_400);
        let first = today - self.inner.settings.retention_days;
        let mut report = DownloadReport {
            ran: true,
            ..DownloadReport::default()
        };
        self.forget_days_before(&day_string(first - 1)).await?;
        let mut pending = Pending::default();
        for day in first..=today {
            self.download_day(&day_string(day), now, &mut report, &mut pending)
                .await?;
        }
        self.flush(&mut pending, now, &mut report).await?;
        Ok(report)
    }

    async fn download_day(
        &self,
        date: &str,
        now: i64,
        report: &mut DownloadReport,
        pending: &mut Pending,
    ) -> anyhow::Result<()> {
        let client = &self.inner.client;
        let untrusted: Vec<(String, i64)> = on_pool!(&self.inner.db, |pool| {
            sqlx::query_as(
                "SELECT batch_tag, position FROM downloaded_batch \
                 WHERE day = $1 AND outcome = 'untrusted' ORDER BY position",
            )
            .bind(date)
            .fetch_all(pool)
            .await
        })?;
        // The next-batch tags of the batches fetched again here, so the last of them is not fetched twice.
        let mut refetched: Vec<(String, Option<String>)> = Vec::new();
        for (tag, position) in untrusted {
            if let Some(b) = client.download(date, Some(&tag)).await? {
                report.fetched += 1;
                self.handle(date, position, &b, now, report, pending)
                    .await?;
                refetched.push((tag, b.next));
            }
        }
        let last: Option<(String, i64)> = on_pool!(&self.inner.db, |pool| {
            sqlx::query_as(
                "SELECT batch_tag, position FROM downloaded_batch WHERE day = $1 \
                 ORDER BY position DESC LIMIT 1",
            )
            .bind(date)
            .fetch_optional(pool)
            .await
        })?;
        // The chain continues after the last batch handled. Its next tag is known when it was just
        // fetched again above; otherwise it is this gateway's tag with the following sequence number
        // (the gateway numbers a day's batches 1, 2, 3, ... without gaps, and deletes whole days), and
        // a 404 for it means no batch came since. Only a tag not in that format costs fetching the last
        // batch again to read its next-batch header.
        let (mut next, mut position) = match last {
            Some((tag, position)) => {
                let known = refetched.into_iter().find(|(t, _)| *t == tag);
                match (known, parse_download_tag(&tag)) {
                    (Some((_, next)), _) => (next, position),
                    (None, Some((day, seq))) => (Some(download_tag(day, seq + 1)), position),
                    (None, None) => match client.download(date, Some(&tag)).await? {
                        Some(b) => (b.next, position),
                        None => (None, position),
                    },
                }
            }
            None => match client.download(date, None).await? {
                Some(b) => {
                    report.fetched += 1;
                    self.handle(date, 1, &b, now, report, pending).await?;
                    (b.next, 1)
                }
                None => (None, 0),
            },
        };
        while let Some(tag) = next {
            let Some(b) = client.download(date, Some(&tag)).await? else {
                break;
            };
            report.fetched += 1;
            position += 1;
            self.handle(date, position, &b, now, report, pending)
                .await?;
            next = b.next;
        }
        Ok(())
    }

    /// Takes or rejects one batch; what became of it is recorded when the pending keys are stored.
    async fn handle(
        &self,
        date: &str,
        position: i64,
        b: &Downloaded,
        now: i64,
        report: &mut DownloadReport,
        pending: &mut Pending,
    ) -> anyhow::Result<()> {
        let outcome = self.take(b, now);
        let keys = match &outcome {
            Outcome::Accepted(rows) => {
                report.batches_stored += 1;
                rows.len()
            }
            Outcome::Own => {
                report.own += 1;
                0
            }
            Outcome::Rejected(reason) => {
                tracing::warn!(
                    country = %b.country,
                    batch_tag = %b.tag,
                    reason = %reason,
                    "rejected a federation batch: nothing from it is stored"
                );
                report
                    .rejected
                    .push((b.country.clone(), b.tag.clone(), reason.clone()));
                0
            }
            Outcome::Untrusted => {
                tracing::warn!(
                    country = %b.country,
                    batch_tag = %b.tag,
                    "a federation batch from a country without a configured public key; not taken, retried next run"
                );
                report.untrusted += 1;
                0
            }
        };
        pending.records.push(Record {
            tag: b.tag.clone(),
            day: date.to_owned(),
            position,
            country: b.country.clone(),
            outcome: outcome.name(),
            keys: keys as i64,
        });
        if let Outcome::Accepted(rows) = outcome {
            pending.keys.extend(rows);
        }
        if pending.keys.len() >= FLUSH_KEYS {
            self.flush(pending, now, report).await?;
        }
        Ok(())
    }

    /// Stores the pending keys in one insert, sorted by key data, then records the pending batches.
    /// Recording only after the keys are stored means a crash in between fetches those batches again
    /// (and the key store skips what it has); recording in order keeps each day's chain without gaps.
    async fn flush(
        &self,
        pending: &mut Pending,
        now: i64,
        report: &mut DownloadReport,
    ) -> anyhow::Result<()> {
        let mut keys = std::mem::take(&mut pending.keys);
        keys.sort_unstable_by_key(|k| k.key_data);
        // Dated by the hour they commit in, as uploads are: a download running across the hour would
        // otherwise store keys of an hour the distribution has already published.
        report.keys_stored += self
            .inner
            .keys
            .insert_now(&keys, &self.inner.clock)
            .await
            .context("storing downloaded keys")?;
        drop(keys);
        for r in std::mem::take(&mut pending.records) {
            on_pool!(&self.inner.db, |pool| {
                sqlx::query(
                    "INSERT INTO downloaded_batch \
                     (batch_tag, day, position, country, outcome, key_count, processed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (batch_tag) DO UPDATE SET outcome = excluded.outcome, \
                     key_count = excluded.key_count, processed_at = excluded.processed_at",
                )
                .bind(&r.tag)
                .bind(&r.day)
                .bind(r.position)
                .bind(&r.country)
                .bind(r.outcome)
                .bind(r.keys)
                .bind(now)
                .execute(pool)
                .await
                .map(drop)
            })?;
        }
        Ok(())
    }

    /// The keys of a batch that passes every check, or why not.
    fn take(&self, b: &Downloaded, now: i64) -> Outcome {
        let s = &self.inner.settings;
        if b.country == s.country {
            return Outcome::Own;
        }
        let Some(key) = s.trusted.get(&b.country) else {
            return Outcome::Untrusted;
        };
        let Ok(batch) = DiagnosisKeyBatch::decode(&b.body[..]) else {
            return Outcome::Rejected("not a DiagnosisKeyBatch protobuf".into());
        };
        let Some(signature) = batch::parse_signature(&b.signature) else {
            return Outcome::Rejected("batchSignature is not base64 DER".into());
        };
        // Keys are checked against the gateway's rules, but not its age limit: a batch uploaded days ago
        // holds keys older than today's window, which are dropped below rather than failing the batch.
        let (oldest, latest) = batch::rolling_window(now, s.retention_days);
        let checks = batch::validate(&batch, &b.country, usize::MAX, (0, latest))
            .and_then(|()| batch::verify(&batch::canonical_bytes(&batch), &signature, key));
        if let Err(e) = checks {
            return Outcome::Rejected(reason(e));
        }
        let hour = now.div_euclid(3600);
        let rows: Vec<StoredKey> = batch
            .keys
            .iter()
            .filter(|k| k.rolling_start_interval_number >= oldest)
            .filter_map(|k| batch::to_stored(k, hour))
            .collect();
        Outcome::Accepted(rows)
    }

    async fn forget_days_before(&self, day: &str) -> anyhow::Result<()> {
        on_pool!(&self.inner.db, |pool| {
            sqlx::query("DELETE FROM downloaded_batch WHERE day < $1")
                .bind(day)
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }
}

fn reason(e: BatchError) -> String {
    match e {
        BatchError::Signature => {
            "the signature does not verify with the country's configured public key".into()
        }
        other => other.message().into(),
    }
}
