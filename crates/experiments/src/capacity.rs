//! The seeds' bandwidth and request estimate, recomputed from real signed export archives built for
//! the given load; the seeds' download sessions per day, and the HTTP requests that really makes,
//! counted from real phones syncing against really published files ([`requests`]); and both rates
//! over a day under the jittered download schedule.

pub mod requests;

use std::path::{Path, PathBuf};

use anyhow::Context;
use p256::ecdsa::SigningKey;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use warnkit_protocol::export::{encode_bin, write_archive, Archive, Limits, Signer};
use warnkit_protocol::proto::{ReportType, TemporaryExposureKey, TemporaryExposureKeyExport};
use warnkit_sim::load::{
    jittered_day, mean_and_peak, requests_from_sessions, unjittered_day, DAY_S,
};
use warnkit_sim::plot::{render, Chart, Legend, Series};
use warnkit_sim::progress::Progress;

/// Start of the simulated day (2020-06-16 00:00 UTC, the original's launch day); only sizes depend on it.
const DAY_START_UNIX: u64 = 1_592_265_600;
/// Phones and whole days whose requests are counted: every hour of the day seen by each phone, at a
/// random second of it. The cost is the distribution job's hourly runs, not the phones.
const MEASURED_PHONES: usize = 16;
const MEASURED_DAYS: u32 = 1;
/// Transmission risk levels by key age in days (0 = the day of the upload), a profile of the kind the
/// original app assigned, peaking around symptom onset.
const TRL_BY_AGE: [i32; 14] = [5, 6, 8, 8, 8, 5, 3, 1, 1, 1, 1, 1, 1, 1];

/// The load to size for. The command line's defaults are the seeds' inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacityOptions {
    /// Active clients downloading every chunk.
    pub users: u64,
    /// New positive cases uploading keys per day.
    pub cases_per_day: u64,
    /// Keys per upload.
    pub keys_per_case: u64,
    /// Transmission overhead as a fraction of the payload (1 = 100 %); non-negative and finite.
    pub overhead: f64,
    /// Files (and download runs) per day; at least 1.
    pub chunks_per_day: u32,
    /// Seconds over which clients would start if they did not jitter (for the comparison peak).
    pub unjittered_spread: u32,
    /// Seed of the random keys, signing key and schedule.
    pub seed: u64,
}

/// The capacity figures.
#[derive(Debug, Serialize)]
pub struct CapacityReport {
    /// Active clients.
    pub users: u64,
    /// New positive cases per day.
    pub cases_per_day: u64,
    /// Keys uploaded per day.
    pub keys_per_day: u64,
    /// Transmission overhead as a fraction of the payload.
    pub overhead: f64,
    /// Files per day.
    pub chunks_per_day: u32,
    /// Seed of the random keys, signing key and schedule.
    pub seed: u64,
    /// Sum of the day's signed archive sizes: what one client downloads before overhead.
    pub archive_bytes_per_day: u64,
    /// Archive bytes per key (zip, header, signature and protobuf framing included).
    pub archive_bytes_per_key: f64,
    /// `export.bin` bytes per key before compression (header and framing included, signature not).
    pub uncompressed_bytes_per_key: f64,
    /// The smallest archive of the day.
    pub archive_bytes_min: u64,
    /// The largest archive of the day.
    pub archive_bytes_max: u64,
    /// What one client downloads per day, overhead included.
    pub bytes_per_client_per_day: f64,
    /// What all clients download per day.
    pub bytes_per_day: f64,
    /// `bytes_per_day` in TB (10^12); the seeds' "42.8 TB" is TiB.
    pub terabytes_per_day: f64,
    /// `bytes_per_day` in TiB (2^40).
    pub tebibytes_per_day: f64,
    /// Download sessions (index and file in one session, once per client per chunk): the seeds' measure.
    pub sessions_per_day: u64,
    /// Download sessions per second, on average.
    pub sessions_per_second: f64,
    /// The busiest second's sessions under the jittered schedule.
    pub peak_sessions_per_second: u64,
    /// The busiest second's sessions if clients did not jitter.
    pub peak_sessions_per_second_without_jitter: u64,
    /// HTTP requests: clients × the requests one phone made per day, from its own request counter
    /// (indexes, files, the configuration once a day), under the app's hourly schedule.
    pub requests_per_day: u64,
    /// HTTP requests per second, on average.
    pub requests_per_second: f64,
    /// The busiest second's requests under the jittered schedule.
    pub peak_requests_per_second: u64,
    /// The busiest second's requests if clients did not jitter.
    pub peak_requests_per_second_without_jitter: u64,
    /// Requests per download session, on average.
    pub requests_per_session: f64,
    /// What the phones' request counters said.
    pub measured: requests::Measured,
    /// The seconds over which unjittered clients start, for the comparison peak.
    pub unjittered_spread_s: u32,
}

/// The figures and the day they were computed over, second by second.
#[derive(Debug)]
pub struct Capacity {
    /// The figures.
    pub report: CapacityReport,
    /// Requests in each second of the jittered day.
    requests_day: Vec<u64>,
    /// Download sessions in each second of the jittered day.
    sessions_day: Vec<u64>,
}

/// Sizes the load: builds and checks the day's archives, measures real phones, and spreads the
/// clients over a jittered and an unjittered day.
pub fn run(opts: &CapacityOptions, progress: &mut dyn Progress) -> anyhow::Result<Capacity> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let signer = Signer::new(SigningKey::random(&mut rng), "capacity", "v1");
    let keys_per_day = opts.cases_per_day * opts.keys_per_case;
    let chunks = u64::from(opts.chunks_per_day);
    progress.start("capacity", "steps", chunks + 2);

    let mut sizes = Vec::with_capacity(opts.chunks_per_day as usize);
    let mut bin_bytes = 0u64;
    for k in 0..chunks {
        // Spread the day's keys over the chunks as evenly as whole keys allow.
        let n = (k + 1) * keys_per_day / chunks - k * keys_per_day / chunks;
        let (archive, bin_len) =
            build_archive(&signer, k, chunks, n, opts.keys_per_case, &mut rng)?;
        bin_bytes += bin_len;
        if k == 0 {
            // Prove the files are real: they parse and verify like a phone would check them.
            let parsed =
                Archive::read(&archive, &Limits::default()).context("reading back an archive")?;
            parsed
                .verify(&[signer.verifying_key()])
                .context("verifying an archive")?;
            anyhow::ensure!(parsed.export.keys.len() as u64 == n, "archive lost keys");
        }
        sizes.push(archive.len() as u64);
        progress.inc(1);
    }
    let archive_bytes_per_day: u64 = sizes.iter().sum();
    let bytes_per_client_per_day = archive_bytes_per_day as f64 * (1.0 + opts.overhead);
    let bytes_per_day = bytes_per_client_per_day * opts.users as f64;
    let sessions_per_day = opts.users * chunks;
    let measured = measure_phones(opts.chunks_per_day, opts.seed)?;
    progress.inc(1);
    let requests_per_day = (opts.users as f64 * measured.requests_per_phone_per_day).round() as u64;

    let day = jittered_day(opts.users, opts.chunks_per_day, &mut rng);
    progress.inc(1);
    let requests_day = requests_from_sessions(&day, &measured.per_interval);
    let (_, peak) = mean_and_peak(&day);
    let (_, requests_peak) = mean_and_peak(&requests_day);
    let burst = unjittered_day(
        opts.users,
        opts.chunks_per_day,
        opts.unjittered_spread,
        &mut rng,
    );
    let (_, burst_peak) = mean_and_peak(&burst);
    let (_, requests_burst_peak) =
        mean_and_peak(&requests_from_sessions(&burst, &measured.per_interval));
    progress.finish();

    let per_key = |bytes: u64| {
        if keys_per_day == 0 {
            0.0
        } else {
            bytes as f64 / keys_per_day as f64
        }
    };
    let report = CapacityReport {
        users: opts.users,
        cases_per_day: opts.cases_per_day,
        keys_per_day,
        overhead: opts.overhead,
        chunks_per_day: opts.chunks_per_day,
        seed: opts.seed,
        archive_bytes_per_day,
        archive_bytes_per_key: per_key(archive_bytes_per_day),
        uncompressed_bytes_per_key: per_key(bin_bytes),
        archive_bytes_min: sizes.iter().copied().min().unwrap_or(0),
        archive_bytes_max: sizes.iter().copied().max().unwrap_or(0),
        bytes_per_client_per_day,
        bytes_per_day,
        terabytes_per_day: bytes_per_day / 1e12,
        tebibytes_per_day: bytes_per_day / (1u64 << 40) as f64,
        sessions_per_day,
        sessions_per_second: sessions_per_day as f64 / DAY_S as f64,
        peak_sessions_per_second: peak,
        peak_sessions_per_second_without_jitter: burst_peak,
        requests_per_day,
        requests_per_second: requests_per_day as f64 / DAY_S as f64,
        peak_requests_per_second: requests_peak,
        peak_requests_per_second_without_jitter: requests_burst_peak,
        requests_per_session: if measured.syncs_per_phone_per_day > 0.0 {
            measured.requests_per_phone_per_day / measured.syncs_per_phone_per_day
        } else {
            0.0
        },
        measured,
        unjittered_spread_s: opts.unjittered_spread,
    };
    Ok(Capacity {
        report,
        requests_day,
        sessions_day: day,
    })
}

impl Capacity {
    /// Writes the requests-per-second figure (`capacity-requests-per-second.png` and `.svg`) into
    /// `dir`, created if missing.
    pub fn write_plot(&self, dir: &Path) -> anyhow::Result<[PathBuf; 2]> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(render(
            &requests_chart(&self.requests_day, &self.sessions_day, &self.report),
            &dir.join("capacity-requests-per-second"),
        )?)
    }
}

/// Counts the requests of real phones against really published files, in a scratch directory.
fn measure_phones(chunks_per_day: u32, seed: u64) -> anyhow::Result<requests::Measured> {
    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(requests::measure(
        dir.path(),
        (DAY_START_UNIX / DAY_S) as i64,
        MEASURED_PHONES,
        MEASURED_DAYS,
        chunks_per_day,
        // The phones' requests do not depend on how many keys a file holds, only on which files exist.
        1,
        seed,
    ))
}

/// One chunk's signed archive holding `n` random keys from `n / keys_per_case` uploads, and the size of
/// its uncompressed `export.bin`.
fn build_archive(
    signer: &Signer,
    chunk: u64,
    chunks: u64,
    n: u64,
    keys_per_case: u64,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<(Vec<u8>, u64)> {
    let start = DAY_START_UNIX + chunk * DAY_S / chunks;
    let end = DAY_START_UNIX + (chunk + 1) * DAY_S / chunks;
    let today_interval = i32::try_from(DAY_START_UNIX / 600).context("interval number overflow")?;
    let keys = (0..n)
        .map(|i| {
            let age = (i % keys_per_case.max(1)) as usize;
            let mut key_data = vec![0u8; 16];
            rng.fill(key_data.as_mut_slice());
            TemporaryExposureKey {
                key_data: Some(key_data),
                transmission_risk_level: Some(TRL_BY_AGE[age % TRL_BY_AGE.len()]),
                rolling_start_interval_number: Some(today_interval - 144 * age as i32),
                rolling_period: Some(144),
                report_type: Some(ReportType::ConfirmedTest as i32),
                days_since_onset_of_symptoms: Some(2 - age as i32),
            }
        })
        .collect();
    let export = TemporaryExposureKeyExport {
        start_timestamp: Some(start),
        end_timestamp: Some(end),
        region: Some("DE".to_owned()),
        batch_num: Some(1),
        batch_size: Some(1),
        keys,
        ..Default::default()
    };
    let bin_len = encode_bin(&export).len() as u64;
    Ok((
        write_archive(export, std::slice::from_ref(signer))?,
        bin_len,
    ))
}

fn requests_chart(requests: &[u64], sessions: &[u64], report: &CapacityReport) -> Chart {
    // 86 400 points would make a multi-megabyte SVG; per minute, the mean and the busiest second suffice.
    let per_minute = |day: &[u64]| -> Vec<(f64, f64, f64)> {
        day.chunks(60)
            .enumerate()
            .map(|(m, secs)| {
                let mean = secs.iter().sum::<u64>() as f64 / secs.len() as f64;
                let peak = secs.iter().copied().max().unwrap_or(0) as f64;
                (m as f64 / 60.0, mean, peak)
            })
            .collect()
    };
    let minutes = per_minute(requests);
    let session_minutes = per_minute(sessions);
    let top = minutes.iter().map(|m| m.2).fold(0.0, f64::max).max(8_500.0) * 1.04;
    let bottom = session_minutes
        .iter()
        .map(|m| m.1)
        .fold(f64::INFINITY, f64::min)
        .min(8_500.0)
        * 0.9;
    let users = if report.users >= 1_000_000 {
        format!("{} million", report.users as f64 / 1e6)
    } else {
        report.users.to_string()
    };
    Chart {
        title: format!(
            "HTTP requests per second over a day: {users} clients, {} downloads a day, jittered",
            report.chunks_per_day
        ),
        x_label: "hour of the day (UTC)".into(),
        y_label: "per second".into(),
        y_names: Vec::new(),
        x_range: 0.0..24.0,
        y_range: bottom..top,
        series: vec![
            Series::line(
                "requests: busiest second of each minute",
                minutes.iter().map(|m| (m.0, m.2)).collect(),
            ),
            Series::line(
                "requests: mean of each minute",
                minutes.iter().map(|m| (m.0, m.1)).collect(),
            ),
            Series::line(
                "download sessions: mean of each minute",
                session_minutes.iter().map(|m| (m.0, m.1)).collect(),
            ),
            Series::reference(
                "seeds' estimate: 8,500 per second",
                vec![(0.0, 8_500.0), (24.0, 8_500.0)],
            ),
        ],
        legend: Legend::UpperRight,
    }
}
