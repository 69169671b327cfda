//! `warnkit risk`: score exposures with risk scoring v1 (exposure summary) or v2 (exposure windows),
//! reading JSON files and printing JSON, so that scores can be checked against other implementations.
//! The scoring itself is `warnkit_experiments::scoring`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;
use warnkit_experiments::scoring::{self, InputWindow, V1Output, V2Output};
use warnkit_protocol::risk::{v1, v2};

const V1_HELP: &str = "\
INPUT

--exposures: a JSON array of exposures, one per matched key and day:
  [{\"attenuationDb\": 50, \"durationMinutes\": 15, \"daysSinceExposure\": 2,
    \"transmissionRiskLevel\": 6, \"attenuationDurationsMinutes\": [10, 5, 0]}]
  attenuationDb 0..=255 (time-weighted mean attenuation), durationMinutes >= 0, daysSinceExposure >= 0,
  transmissionRiskLevel 0..=8 (0: none). attenuationDurationsMinutes (optional) are the minutes below the
  lower threshold, between the thresholds, and at or above the upper one; when absent the whole duration
  goes into the bucket of attenuationDb.

--config (optional): a JSON object; every field is optional and defaults to the original's final shipped
value:
  {\"minRiskScore\": 11,
   \"transmissionScores\": [0,0,3,4,5,6,7,8], \"durationScores\": [0,0,0,1,1,1,1,1],
   \"daysScores\": [5,5,5,5,5,5,5,5], \"attenuationScores\": [0,2,2,2,2,2,2,2],
   \"weights\": {\"transmission\": 50, \"duration\": 50, \"days\": 20, \"attenuation\": 50},
   \"attenuationDuration\": {\"thresholds\": {\"lower\": 55, \"upper\": 63},
     \"weights\": {\"low\": 1.0, \"mid\": 0.5, \"high\": 0.0},
     \"defaultBucketOffset\": 0, \"riskScoreNormalizationDivisor\": 50},
   \"riskScoreClasses\": [{\"label\": \"LOW\", \"min\": 0, \"max\": 15},
                        {\"label\": \"HIGH\", \"min\": 15, \"max\": 9999}]}
  Score tables are in bucket order: transmission by level 1..=8; duration =0, <=5, <=10, ... <=30, >30
  minutes; days >=14, 12-13, ... 2-3, 0-1; attenuation >73, 64-73, 52-63, 34-51, 28-33, 16-27, 11-15,
  <=10 dB. Scores are 0..=8.

OUTPUT

  {\"summary\": {\"daysSinceLastExposure\", \"matchedKeyCount\", \"maximumRiskScore\",
   \"summationRiskScore\", \"attenuationDurationsMinutes\"}, \"exposureRiskScores\": [...],
   \"combinedRiskScore\": 9.0, \"riskLevel\": \"LOW\" | \"INCREASED\"}";

const V2_HELP: &str = "\
INPUT

--windows: a JSON array of exposure windows, in the shape of the conformance suites:
  [{\"ageInDays\": 1, \"reportType\": 2, \"infectiousness\": 2, \"calibrationConfidence\": 0,
    \"scanInstances\": [{\"minAttenuation\": 30, \"typicalAttenuation\": 25, \"secondsSinceLastScan\": 300}]}]
  reportType 1..=4 (CONFIRMED_TEST, CONFIRMED_CLINICAL_DIAGNOSIS, SELF_REPORT, RECURSIVE),
  infectiousness 0..=2 (NONE, STANDARD, HIGH), calibrationConfidence 0..=3; typicalAttenuation is
  optional (the algorithm weighs minAttenuation).

--config (optional): a `defaultRiskCalculationConfiguration` object as in the conformance suites
  (minutesAtAttenuationFilters, trlFilters, minutesAtAttenuationWeights,
  normalizedTimePerEWToRiskLevelMapping, normalizedTimePerDayToRiskLevelMapping, trlEncoding,
  transmissionRiskValueMapping, and optionally maxEncounterAgeInDays). Missing lists are empty, missing
  booleans false. Default: the original Android app's bundled configuration (maxEncounterAgeInDays 10).

OUTPUT

  {\"totalRiskLevel\": 1 (LOW) | 2 (HIGH), \"ageOfMostRecentDateWithLowRisk\": days or null,
   \"ageOfMostRecentDateWithHighRisk\": days or null, \"numberOfDaysWithLowRisk\",
   \"numberOfDaysWithHighRisk\", \"totalMinimumDistinctEncountersWithLowRisk\",
   \"totalMinimumDistinctEncountersWithHighRisk\"}";

/// Risk scoring commands.
#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// Risk scoring v1: exposure summary, combined risk score and risk level.
    #[command(after_long_help = V1_HELP)]
    V1(V1Args),
    /// Risk scoring v2: exposure windows aggregated per day.
    #[command(after_long_help = V2_HELP)]
    V2(V2Args),
    /// Print the default parameters of v1 or v2 as JSON, ready to edit and pass as `--config`
    /// (`examples/risk-v1.json` and `examples/risk-v2.json` hold the same).
    Defaults(DefaultsArgs),
}

/// Arguments of `warnkit risk defaults`.
#[derive(Debug, Args)]
pub struct DefaultsArgs {
    /// Which model's parameters: `v1` (the original's final shipped values) or `v2` (the original
    /// Android app's bundled configuration).
    #[arg(value_parser = ["v1", "v2"])]
    model: String,
}

/// Arguments of `warnkit risk v1`.
#[derive(Debug, Args)]
pub struct V1Args {
    /// JSON parameters (see --help); omitted: the original's final shipped values.
    #[arg(long, value_name = "CFG.json")]
    config: Option<PathBuf>,
    /// JSON array of exposures (see --help).
    #[arg(long, value_name = "EXPOSURES.json")]
    exposures: PathBuf,
}

/// Arguments of `warnkit risk v2`.
#[derive(Debug, Args)]
pub struct V2Args {
    /// A `defaultRiskCalculationConfiguration` JSON object (see --help); omitted: the app's default.
    #[arg(long, value_name = "CFG.json")]
    config: Option<PathBuf>,
    /// JSON array of exposure windows with `ageInDays` (see --help).
    #[arg(long, value_name = "WINDOWS.json")]
    windows: PathBuf,
    /// Round each day's normalized time to one decimal (half up), as the Android app does.
    #[arg(long)]
    round_day: bool,
}

/// Runs a risk command.
pub fn run(cmd: RiskCommand) -> anyhow::Result<ExitCode> {
    let output = match cmd {
        RiskCommand::V1(args) => serde_json::to_string_pretty(&run_v1(&args)?),
        RiskCommand::V2(args) => serde_json::to_string_pretty(&run_v2(&args)?),
        RiskCommand::Defaults(args) => match args.model.as_str() {
            "v1" => serde_json::to_string_pretty(&v1::V1Parameters::final_shipped()),
            _ => serde_json::to_string_pretty(&v2::RiskCalculationParameters::cwa_default()),
        },
    }
    .context("encoding the result")?;
    println!("{output}");
    Ok(ExitCode::SUCCESS)
}

fn read_json<T: DeserializeOwned>(what: &str, path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {what} {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {what} {}", path.display()))
}

fn run_v1(args: &V1Args) -> anyhow::Result<V1Output> {
    let params: v1::V1Parameters = match &args.config {
        Some(path) => read_json("v1 config", path)?,
        None => v1::V1Parameters::final_shipped(),
    };
    let exposures: Vec<v1::Exposure> = read_json("exposures", &args.exposures)?;
    scoring::score_v1(&params, &exposures)
}

fn run_v2(args: &V2Args) -> anyhow::Result<V2Output> {
    let params: v2::RiskCalculationParameters = match &args.config {
        Some(path) => read_json("v2 config", path)?,
        None => v2::RiskCalculationParameters::cwa_default(),
    };
    let input: Vec<InputWindow> = read_json("exposure windows", &args.windows)?;
    scoring::score_v2(&params, input, args.round_day)
}
