//! An export file as JSON, for people and scripts: the shape `warnkit export inspect --json` prints, and
//! keys in that shape read back into the protocol's messages (`warnkit export build`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::interval::datetime_string;
use crate::proto::{TemporaryExposureKey, TemporaryExposureKeyExport};

/// One key as JSON: the shape an inspection prints and a build reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyJson {
    /// The 16-byte key, hex.
    pub key_data: String,
    /// Transmission risk level, or null when the file leaves it out.
    #[serde(default)]
    pub transmission_risk_level: Option<i32>,
    /// First interval number of the key.
    pub rolling_start_interval_number: i32,
    /// Intervals the key was valid for (144 when the file leaves it out).
    #[serde(default = "default_rolling_period")]
    pub rolling_period: i32,
    /// Report type number (1 confirmed test, ...), or null.
    #[serde(default)]
    pub report_type: Option<i32>,
    /// Days since onset of symptoms, or null.
    #[serde(default)]
    pub days_since_onset_of_symptoms: Option<i32>,
}

fn default_rolling_period() -> i32 {
    144
}

/// Why a [`KeyJson`] is no key: which key (its place in the list) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyJsonError {
    /// The key's index in the list it came in.
    pub index: usize,
    /// What is wrong, naming the field.
    pub problem: String,
}

impl fmt::Display for KeyJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}: {}", self.index, self.problem)
    }
}

impl std::error::Error for KeyJsonError {}

impl KeyJson {
    /// The key as JSON.
    pub fn from_proto(key: &TemporaryExposureKey) -> Self {
        Self {
            key_data: hex::encode(key.key_data()),
            transmission_risk_level: key.transmission_risk_level,
            rolling_start_interval_number: key.rolling_start_interval_number(),
            rolling_period: key.rolling_period(),
            report_type: key.report_type,
            days_since_onset_of_symptoms: key.days_since_onset_of_symptoms,
        }
    }

    /// The key as the protocol's message, checked: 16 bytes of key, a period of 1 to 144 intervals, a
    /// start that is not negative. `index` names the key in an error.
    pub fn to_proto(&self, index: usize) -> Result<TemporaryExposureKey, KeyJsonError> {
        let refuse = |problem: String| KeyJsonError { index, problem };
        let text = self.key_data.trim();
        if text.len() != 32 {
            return Err(refuse(format!(
                "key_data: expected 32 hex digits, got {}",
                text.len()
            )));
        }
        let key = hex::decode(text).map_err(|e| refuse(format!("key_data: not hex: {e}")))?;
        if !(1..=144).contains(&self.rolling_period) {
            return Err(refuse(format!(
                "rolling_period {} is outside 1..=144",
                self.rolling_period
            )));
        }
        if self.rolling_start_interval_number < 0 {
            return Err(refuse(
                "rolling_start_interval_number must not be negative".to_owned(),
            ));
        }
        Ok(TemporaryExposureKey {
            key_data: Some(key),
            transmission_risk_level: self.transmission_risk_level,
            rolling_start_interval_number: Some(self.rolling_start_interval_number),
            rolling_period: Some(self.rolling_period),
            report_type: self.report_type,
            days_since_onset_of_symptoms: self.days_since_onset_of_symptoms,
        })
    }
}

/// Who signed an export, as its `SignatureInfo` says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignatureInfoJson {
    /// The key's version (`v1`).
    pub verification_key_version: Option<String>,
    /// The key's id (`262`).
    pub verification_key_id: Option<String>,
    /// The algorithm's OID.
    pub signature_algorithm: Option<String>,
}

/// An export's metadata, signers and keys as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportJson {
    /// Start of the key arrival window, Unix seconds.
    pub start_timestamp: Option<u64>,
    /// `start_timestamp` as RFC 3339 (UTC).
    pub start_time: Option<String>,
    /// End of the window, Unix seconds.
    pub end_timestamp: Option<u64>,
    /// `end_timestamp` as RFC 3339 (UTC).
    pub end_time: Option<String>,
    /// The region code.
    pub region: Option<String>,
    /// This file's number in its batch.
    pub batch_num: Option<i32>,
    /// The files in its batch.
    pub batch_size: Option<i32>,
    /// Who signed it, as the export says.
    pub signature_infos: Vec<SignatureInfoJson>,
    /// Its keys, in file order.
    pub keys: Vec<KeyJson>,
}

impl ExportJson {
    /// `export` as JSON.
    pub fn of(export: &TemporaryExposureKeyExport) -> Self {
        Self {
            start_timestamp: export.start_timestamp,
            start_time: export.start_timestamp.map(rfc3339),
            end_timestamp: export.end_timestamp,
            end_time: export.end_timestamp.map(rfc3339),
            region: export.region.clone(),
            batch_num: export.batch_num,
            batch_size: export.batch_size,
            signature_infos: export
                .signature_infos
                .iter()
                .map(|s| SignatureInfoJson {
                    verification_key_version: s.verification_key_version.clone(),
                    verification_key_id: s.verification_key_id.clone(),
                    signature_algorithm: s.signature_algorithm.clone(),
                })
                .collect(),
            keys: export.keys.iter().map(KeyJson::from_proto).collect(),
        }
    }
}

/// An export of `keys` for `region`, one file of a batch of one. The window is `start`..`end` (Unix
/// seconds), by default from the earliest key's start to the latest key's end.
pub fn export_of(
    keys: Vec<TemporaryExposureKey>,
    region: String,
    start: Option<u64>,
    end: Option<u64>,
) -> TemporaryExposureKeyExport {
    let first = keys
        .iter()
        .map(|k| k.rolling_start_interval_number() as u64)
        .min();
    let last = keys
        .iter()
        .map(|k| (k.rolling_start_interval_number() + k.rolling_period()) as u64)
        .max();
    TemporaryExposureKeyExport {
        start_timestamp: Some(start.or(first.map(|f| f * 600)).unwrap_or(0)),
        end_timestamp: Some(end.or(last.map(|l| l * 600)).unwrap_or(0)),
        region: Some(region),
        batch_num: Some(1),
        batch_size: Some(1),
        keys,
        ..Default::default()
    }
}

/// Unix seconds as RFC 3339 (UTC). A file may carry any `u64`; past the year 9999 RFC 3339 has no
/// form, so those are named as such.
pub fn rfc3339(unix: u64) -> String {
    const YEAR_10000: u64 = 253_402_300_800;
    if unix >= YEAR_10000 {
        return "after 9999-12-31T23:59:59Z".to_owned();
    }
    datetime_string(unix as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(data: &str, period: i32) -> KeyJson {
        KeyJson {
            key_data: data.to_owned(),
            transmission_risk_level: Some(6),
            rolling_start_interval_number: 2_650_000,
            rolling_period: period,
            report_type: None,
            days_since_onset_of_symptoms: None,
        }
    }

    #[test]
    fn keys_round_trip_and_bad_ones_are_named() {
        let good = key("172fc480e598490c34177604339b1543", 144);
        let proto = good.to_proto(0).unwrap();
        assert_eq!(KeyJson::from_proto(&proto), good);
        let err = key("00", 144).to_proto(3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key 3: key_data: expected 32 hex digits, got 2"
        );
        let err = key(&"zz".repeat(16), 144).to_proto(0).unwrap_err();
        assert!(
            err.to_string().starts_with("key 0: key_data: not hex"),
            "{err}"
        );
        let err = key("172fc480e598490c34177604339b1543", 145)
            .to_proto(1)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "key 1: rolling_period 145 is outside 1..=144"
        );
    }

    #[test]
    fn the_window_defaults_to_the_keys_and_far_times_are_named() {
        let keys = vec![
            key("172fc480e598490c34177604339b1543", 144)
                .to_proto(0)
                .unwrap(),
            key("00000000000000000000000000000001", 6)
                .to_proto(1)
                .unwrap(),
        ];
        let export = export_of(keys.clone(), "DE".to_owned(), None, None);
        assert_eq!(export.start_timestamp, Some(2_650_000 * 600));
        assert_eq!(export.end_timestamp, Some((2_650_000 + 144) * 600));
        let given = export_of(keys, "DE".to_owned(), Some(5), Some(9));
        assert_eq!(
            (given.start_timestamp, given.end_timestamp),
            (Some(5), Some(9))
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(u64::MAX), "after 9999-12-31T23:59:59Z");
    }
}
