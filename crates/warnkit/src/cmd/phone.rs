//! `warnkit phone`: one simulated phone on the command line, its state in a directory, for app
//! developers testing against a server: register a test by QR code, poll, upload, download and score.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use warnkit_app::manual::{self, Saved, Upload};
use warnkit_app::{Backoff, Endpoints, Http, Phone, RiskModel, Settings};

/// `warnkit phone ...`
#[derive(Debug, clap::Subcommand)]
pub enum PhoneCommand {
    /// Set up a phone in a directory, pointed at a server's `endpoints.json`.
    Init(InitArgs),
    /// Register a test by the GUID of its QR code (sent only as its SHA-256).
    ScanQr(GuidArgs),
    /// Poll the test result.
    Poll(DirArgs),
    /// Upload keys with the user's consent: the past days' keys, or after midnight the last day's key.
    Upload(DirArgs),
    /// Download what is new, verify it, match it and print the run's report.
    Sync(DirArgs),
    /// Print the risk level.
    Risk(DirArgs),
    /// Record an encounter with another phone for the last N minutes (both see each other).
    Meet(MeetArgs),
}

/// Arguments naming the phone's directory.
#[derive(Debug, Clone, clap::Args)]
pub struct DirArgs {
    /// The phone's state directory.
    #[arg(long, default_value = "warnkit-phone")]
    dir: PathBuf,
    /// Act as if it were this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", value_parser = super::rfc3339)]
    now: Option<i64>,
}

/// Arguments of `warnkit phone init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// The server's `endpoints.json` (written by `warnkit serve`).
    #[arg(long)]
    endpoints: PathBuf,
    /// The public key archives must verify with (SPKI PEM). Without it the key is fetched from the
    /// server once and pinned (trust on first use: fine for testing, not for a real app).
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// Risk calculation: v2 with the v2 configuration, as the current original app; v1 with the v1
    /// configuration of the home region, as apps before 1.9.
    #[arg(long, value_enum, default_value = "v2")]
    risk: super::demo::RiskArg,
    /// Fake upload sessions per day in background runs.
    #[arg(long, default_value_t = 0.0)]
    fake_rate: f64,
    /// The home country: the origin of uploads and the region of the v1 configuration (the
    /// server's `distribution.region`).
    #[arg(long, default_value = "DE", value_parser = region_code)]
    region: String,
    /// A region whose keys the phone downloads; repeatable, in order. Default: the combined region
    /// `EUR` only, as every original app since 1.6 (it holds every own key and every foreign one).
    #[arg(long = "key-region", value_name = "REGION", value_parser = region_code)]
    key_regions: Vec<String>,
    /// Days the phone has already been running: it holds a key for each of them (up to 13, the
    /// days a first upload sends), as an app installed that long ago. 0 (default): a fresh install,
    /// whose first upload sends nothing until a day has ended.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=13))]
    history_days: u32,
}

/// A region code as the distribution publishes them: 2 to 8 letters or digits.
fn region_code(value: &str) -> Result<String, String> {
    if (2..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(value.to_owned())
    } else {
        Err("a region code is 2 to 8 letters or digits, e.g. DE".into())
    }
}

/// Arguments of `warnkit phone scan-qr`.
#[derive(Debug, clap::Args)]
pub struct GuidArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// The GUID from the QR code (`3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA`), or the code's whole
    /// content `https://localhost/?GUID`.
    guid: String,
}

/// Arguments of `warnkit phone meet`.
#[derive(Debug, clap::Args)]
pub struct MeetArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// The other phone's directory.
    #[arg(long)]
    other: PathBuf,
    /// Minutes of the encounter, ending now (or `--days-ago` days before).
    #[arg(long, default_value_t = 30)]
    minutes: u32,
    /// The encounter ends this many days before now: a meeting on a past day, whose key the first
    /// upload sends (today's key follows only after midnight).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=13))]
    days_ago: u32,
    /// Attenuation in dB (45 is about a metre).
    #[arg(long, default_value_t = 45)]
    attenuation: u8,
}

/// The time of a command: `--now`, or the clock's.
fn now(args: &DirArgs) -> i64 {
    args.now.unwrap_or_else(warnkit_store::unix_now)
}

/// Runs `warnkit phone`.
pub fn run(command: PhoneCommand) -> anyhow::Result<ExitCode> {
    super::block_on(dispatch(command))
}

async fn dispatch(command: PhoneCommand) -> anyhow::Result<ExitCode> {
    let mut rng = ChaCha20Rng::from_entropy();
    match command {
        PhoneCommand::Init(args) => {
            let endpoints = Endpoints::from_file(&args.endpoints)?;
            let public_key_pem = match &args.public_key {
                Some(p) => std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?,
                None => {
                    let http = Http::new(endpoints.clone(), Backoff::default(), rand::random())?;
                    let pem = http
                        .get("version/v1/public-key.pem")
                        .await?
                        .context("the server publishes no public key")?;
                    eprintln!("pinned the server's public key (trust on first use)");
                    String::from_utf8(pem.to_vec()).context("public key is not text")?
                }
            };
            warnkit_protocol::export::public_key_from_pem(&public_key_pem)?;
            let settings = Settings {
                region: args.region.clone(),
                key_regions: manual::key_regions(&args.key_regions),
                public_key_pem,
                risk_model: match args.risk {
                    super::demo::RiskArg::V1 => RiskModel::V1,
                    super::demo::RiskArg::V2 => RiskModel::V2,
                },
                fake_rate_per_day: args.fake_rate,
                backoff: Backoff::default(),
            };
            let mut phone = Phone::new(settings, -10);
            // Uploads name the home region as their origin: a server of another country refuses
            // keys that claim to come from Germany.
            phone.interop.origin = args.region.clone();
            phone.start_keys(now(&args.dir), args.history_days, &mut rng);
            Saved { endpoints, phone }.save(&args.dir.dir)?;
            eprintln!("phone set up in {}", args.dir.dir.display());
        }
        PhoneCommand::ScanQr(args) => {
            // Refused before anything is sent: an empty or mangled GUID would register a test nobody has.
            let guid = warnkit_protocol::qr::qr_guid(&args.guid).map_err(anyhow::Error::msg)?;
            let mut state = Saved::load(&args.dir.dir)?;
            state.phone.scan_qr(&state.http()?, guid).await?;
            state.save(&args.dir.dir)?;
            eprintln!("test registered");
        }
        PhoneCommand::Poll(args) => {
            let mut state = Saved::load(&args.dir)?;
            let result = state.phone.poll(&state.http()?).await?;
            state.save(&args.dir)?;
            println!("{}", manual::result_name(result));
        }
        PhoneCommand::Upload(args) => {
            let mut state = Saved::load(&args.dir)?;
            let t = now(&args);
            let upload = state.phone.upload_due(&state.http()?, t, &mut rng).await?;
            state.save(&args.dir)?;
            match upload {
                Upload::RolledOver(false) => {
                    bail!("nothing to upload: the last day's key is released after midnight UTC")
                }
                Upload::RolledOver(true) => println!("uploaded the last day's key"),
                Upload::First(n) => {
                    println!("uploaded {n} keys; the current day's key follows after midnight")
                }
            }
        }
        PhoneCommand::Sync(args) => {
            let mut state = Saved::load(&args.dir)?;
            let report = state.phone.sync(&state.http()?, now(&args), &mut rng).await;
            state.save(&args.dir)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.rejected.is_empty() {
                eprintln!("rejected: {}", report.rejected.join("; "));
                return Ok(ExitCode::from(1));
            }
        }
        PhoneCommand::Risk(args) => {
            let state = Saved::load(&args.dir)?;
            let status = state.phone.risk(now(&args))?;
            println!("{}", serde_json::to_string_pretty(&status)?);
        }
        PhoneCommand::Meet(args) => {
            let mut me = Saved::load(&args.dir.dir)?;
            let mut other = Saved::load(&args.other)?;
            let end = now(&args.dir) - i64::from(args.days_ago) * 86_400;
            let minutes = me.phone.meet(
                &mut other.phone,
                end,
                args.minutes,
                args.attenuation,
                &mut rng,
            );
            me.save(&args.dir.dir)?;
            other.save(&args.other)?;
            eprintln!("recorded {minutes} minutes at {} dB", args.attenuation);
        }
    }
    Ok(ExitCode::SUCCESS)
}
