//! What both ends agree on about a batch: the rules a key must meet, the canonical bytes a batch
//! signature covers, signing and verifying, and the mapping to and from the key store's rows.
//!
//! The canonical encoding (version 1), all integers big-endian:
//!
//! ```text
//! batch := "WKFB1" || u32 number of keys || key* (sorted by their encodings, bytewise ascending)
//! key   := bytes(keyData) || u32 rollingStartIntervalNumber || u32 rollingPeriod
//!          || i32 transmissionRiskLevel || u16 number of visited countries || string* (sorted)
//!          || string(origin) || i32 reportType || u8 onset present (0|1) || i32 days since onset (0 if absent)
//! bytes, string := u16 length || the bytes (UTF-8 for strings)
//! ```
//!
//! Sorting makes the order of keys and of visited countries in the protobuf irrelevant, and the length
//! prefixes make the encoding injective, so no two different batches share canonical bytes.

use base64::Engine;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::EncodePublicKey;
use sha2::{Digest, Sha256};
use warnkit_keystore::StoredKey;
use warnkit_protocol::interval::TEK_ROLLING_PERIOD;
use warnkit_protocol::limits::{KEY_LENGTH, MAX_DSOS, MAX_TRL, MIN_DSOS, ROLLING_PERIODS};

use crate::proto::{DiagnosisKey, DiagnosisKeyBatch};

/// Domain separator and version of the canonical encoding.
const MAGIC: &[u8; 5] = b"WKFB1";
/// Most visited countries one key may name (there are fewer than 250 country codes).
pub const MAX_VISITED: usize = 100;
/// Highest `ReportType` number (`REVOKED`).
pub const MAX_REPORT_TYPE: i32 = 5;

/// Why a key or batch is refused; each maps to a 400 with its own code at the gateway, and to a
/// rejected batch at a downloading backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError {
    /// No keys, or more than the gateway accepts in one batch.
    KeyCount,
    /// Key data that is not exactly 16 bytes.
    KeyData,
    /// A rolling start that is not at midnight UTC.
    RollingStart,
    /// A rolling start after the current day, or before the retention window.
    RollingStartOutOfWindow,
    /// A rolling period outside 1..=144.
    RollingPeriod,
    /// A transmission risk level outside 0..=8.
    TransmissionRiskLevel,
    /// Neither a transmission risk level nor days since onset.
    RiskFieldsMissing,
    /// Days since onset outside −14..=4000.
    DaysSinceOnset,
    /// A report type outside 0..=5.
    ReportType,
    /// A visited country that is not two uppercase letters, or too many of them.
    VisitedCountry,
    /// An origin that is not two uppercase letters.
    Origin,
    /// A key whose origin is not the uploading country.
    OriginMismatch,
    /// The same key data twice in one batch.
    DuplicateKey,
    /// The signature does not verify over the batch's canonical bytes.
    Signature,
}

impl BatchError {
    /// The stable error code on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Self::KeyCount => "invalid_key_count",
            Self::KeyData => "invalid_key_data",
            Self::RollingStart => "invalid_rolling_start",
            Self::RollingStartOutOfWindow => "rolling_start_out_of_window",
            Self::RollingPeriod => "invalid_rolling_period",
            Self::TransmissionRiskLevel => "invalid_transmission_risk_level",
            Self::RiskFieldsMissing => "missing_risk_fields",
            Self::DaysSinceOnset => "invalid_days_since_onset",
            Self::ReportType => "invalid_report_type",
            Self::VisitedCountry => "invalid_visited_country",
            Self::Origin => "invalid_origin",
            Self::OriginMismatch => "origin_mismatch",
            Self::DuplicateKey => "duplicate_key",
            Self::Signature => "signature_mismatch",
        }
    }

    /// One short sentence; never echoes key material.
    pub fn message(self) -> &'static str {
        match self {
            Self::KeyCount => "the number of keys in the batch is outside the allowed range",
            Self::KeyData => "key data must be exactly 16 bytes",
            Self::RollingStart => "rolling start interval numbers must be at midnight UTC",
            Self::RollingStartOutOfWindow => {
                "a rolling start lies in the future or before the retention window"
            }
            Self::RollingPeriod => "rolling period must be between 1 and 144",
            Self::TransmissionRiskLevel => "transmission risk level must be between 0 and 8",
            Self::RiskFieldsMissing => {
                "each key needs a transmission risk level or days since onset of symptoms"
            }
            Self::DaysSinceOnset => "days since onset of symptoms must be between -15 and 4000",
            Self::ReportType => "report type must be between 0 and 5",
            Self::VisitedCountry => {
                "visited countries must be at most 100 two-letter uppercase codes"
            }
            Self::Origin => "origin must be a two-letter uppercase country code",
            Self::OriginMismatch => "every key's origin must be the uploading country",
            Self::DuplicateKey => "the same key data appears twice in the batch",
            Self::Signature => "the batch signature does not match the keys",
        }
    }
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for BatchError {}

/// Whether `code` is an ISO 3166-1 alpha-2 shaped code: two ASCII uppercase letters.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// The window of acceptable rolling starts at Unix time `now`: from `retention_days + 1` days before the
/// current UTC day (a key still valid at the window's start) to the current day's first interval.
pub fn rolling_window(now: i64, retention_days: i64) -> (u32, u32) {
    let today = now.div_euclid(86_400);
    let first = (today - retention_days - 1).max(0) * i64::from(TEK_ROLLING_PERIOD);
    let last = today.max(0) * i64::from(TEK_ROLLING_PERIOD);
    (
        u32::try_from(first).unwrap_or(u32::MAX),
        u32::try_from(last).unwrap_or(u32::MAX),
    )
}

/// Checks every key of `batch` and that each one's origin is `country`; `window` from [`rolling_window`].
pub fn validate(
    batch: &DiagnosisKeyBatch,
    country: &str,
    max_keys: usize,
    window: (u32, u32),
) -> Result<(), BatchError> {
    if batch.keys.is_empty() || batch.keys.len() > max_keys {
        return Err(BatchError::KeyCount);
    }
    let mut seen = std::collections::HashSet::with_capacity(batch.keys.len());
    for key in &batch.keys {
        validate_key(key, window)?;
        if key.origin != country {
            return Err(BatchError::OriginMismatch);
        }
        if !seen.insert(key.key_data.as_slice()) {
            return Err(BatchError::DuplicateKey);
        }
    }
    Ok(())
}

/// The per-key rules: the submission service's ranges, with 0 allowed for "no transmission risk level".
fn validate_key(key: &DiagnosisKey, (first, last): (u32, u32)) -> Result<(), BatchError> {
    if key.key_data.len() != KEY_LENGTH {
        return Err(BatchError::KeyData);
    }
    let start = key.rolling_start_interval_number;
    if !start.is_multiple_of(TEK_ROLLING_PERIOD) {
        return Err(BatchError::RollingStart);
    }
    if start < first || start > last {
        return Err(BatchError::RollingStartOutOfWindow);
    }
    if !ROLLING_PERIODS.contains(&key.rolling_period) {
        return Err(BatchError::RollingPeriod);
    }
    if !(0..=MAX_TRL).contains(&key.transmission_risk_level) {
        return Err(BatchError::TransmissionRiskLevel);
    }
    if key.transmission_risk_level == 0 && key.days_since_onset_of_symptoms.is_none() {
        return Err(BatchError::RiskFieldsMissing);
    }
    if key
        .days_since_onset_of_symptoms
        .is_some_and(|d| !(MIN_DSOS..=MAX_DSOS).contains(&d))
    {
        return Err(BatchError::DaysSinceOnset);
    }
    if !(0..=MAX_REPORT_TYPE).contains(&key.report_type) {
        return Err(BatchError::ReportType);
    }
    if key.visited_countries.len() > MAX_VISITED
        || !key.visited_countries.iter().all(|c| is_country_code(c))
    {
        return Err(BatchError::VisitedCountry);
    }
    if !is_country_code(&key.origin) {
        return Err(BatchError::Origin);
    }
    Ok(())
}

/// The canonical bytes of a batch (see the module documentation). Lengths over `u16::MAX` cannot occur
/// in a validated batch; they are cut to keep the function total.
pub fn canonical_bytes(batch: &DiagnosisKeyBatch) -> Vec<u8> {
    let mut keys: Vec<Vec<u8>> = batch.keys.iter().map(canonical_key).collect();
    keys.sort_unstable();
    let mut out = Vec::with_capacity(9 + keys.iter().map(Vec::len).sum::<usize>());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(keys.len() as u32).to_be_bytes());
    for key in keys {
        out.extend_from_slice(&key);
    }
    out
}

fn canonical_key(key: &DiagnosisKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    push_bytes(&mut out, &key.key_data);
    out.extend_from_slice(&key.rolling_start_interval_number.to_be_bytes());
    out.extend_from_slice(&key.rolling_period.to_be_bytes());
    out.extend_from_slice(&key.transmission_risk_level.to_be_bytes());
    let mut visited: Vec<&str> = key.visited_countries.iter().map(String::as_str).collect();
    visited.sort_unstable();
    out.extend_from_slice(&(visited.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    for country in visited.iter().take(usize::from(u16::MAX)) {
        push_bytes(&mut out, country.as_bytes());
    }
    push_bytes(&mut out, key.origin.as_bytes());
    out.extend_from_slice(&key.report_type.to_be_bytes());
    let dsos = key.days_since_onset_of_symptoms;
    out.push(u8::from(dsos.is_some()));
    out.extend_from_slice(&dsos.unwrap_or(0).to_be_bytes());
    out
}

fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&bytes[..len]);
}

/// The `batchSignature` header value: base64 of the DER ECDSA P-256/SHA-256 signature of the canonical
/// bytes.
pub fn sign(batch: &DiagnosisKeyBatch, key: &SigningKey) -> String {
    let signature: Signature = key.sign(&canonical_bytes(batch));
    base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
}

/// Parses a `batchSignature` header value; `None` when it is not base64 of a DER signature.
pub fn parse_signature(header: &str) -> Option<Signature> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .ok()?;
    Signature::from_der(&der).ok()
}

/// Verifies `signature` over the canonical bytes `canonical` of a batch.
pub fn verify(
    canonical: &[u8],
    signature: &Signature,
    key: &VerifyingKey,
) -> Result<(), BatchError> {
    key.verify(canonical, signature)
        .map_err(|_| BatchError::Signature)
}

/// Lowercase SHA-256 hex of the public key's DER (SubjectPublicKeyInfo): how the audit names a key.
pub fn fingerprint(key: &VerifyingKey) -> String {
    match key.to_public_key_der() {
        Ok(der) => hex::encode(Sha256::digest(der.as_bytes())),
        // Encoding a valid P-256 point cannot fail; an empty fingerprint would show it in the audit.
        Err(_) => String::new(),
    }
}

/// A stored key as it travels: only the key store's own keys are uploaded, so `origin` is theirs.
pub fn to_wire(key: &StoredKey) -> DiagnosisKey {
    DiagnosisKey {
        key_data: key.key_data.to_vec(),
        rolling_start_interval_number: key.rolling_start,
        rolling_period: key.rolling_period,
        transmission_risk_level: i32::from(key.transmission_risk_level),
        visited_countries: key.visited_countries.clone(),
        origin: key.origin.clone(),
        report_type: key.report_type,
        days_since_onset_of_symptoms: key.days_since_onset_of_symptoms,
    }
}

/// A validated wire key as a foreign key row, stamped with the hour it arrived in. The owner consented
/// (only consented keys are shared), which also puts it into the combined region.
pub fn to_stored(key: &DiagnosisKey, submission_hour: i64) -> Option<StoredKey> {
    Some(StoredKey {
        key_data: key.key_data.as_slice().try_into().ok()?,
        rolling_start: key.rolling_start_interval_number,
        rolling_period: key.rolling_period,
        transmission_risk_level: u8::try_from(key.transmission_risk_level).ok()?,
        report_type: key.report_type,
        days_since_onset_of_symptoms: key.days_since_onset_of_symptoms,
        submission_hour,
        origin: key.origin.clone(),
        visited_countries: key.visited_countries.clone(),
        consent_to_federation: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 20_415 * 86_400 + 3600;

    fn key(byte: u8) -> DiagnosisKey {
        DiagnosisKey {
            key_data: vec![byte; 16],
            rolling_start_interval_number: 20_414 * 144,
            rolling_period: 144,
            transmission_risk_level: 5,
            visited_countries: vec!["FR".into(), "BE".into()],
            origin: "DE".into(),
            report_type: 1,
            days_since_onset_of_symptoms: Some(2),
        }
    }

    fn batch() -> DiagnosisKeyBatch {
        DiagnosisKeyBatch {
            keys: (1..=5).map(key).collect(),
        }
    }

    #[test]
    fn canonical_bytes_ignore_order_but_nothing_else() {
        let a = batch();
        let mut b = batch();
        b.keys.reverse();
        b.keys[0].visited_countries.reverse();
        assert_eq!(canonical_bytes(&a), canonical_bytes(&b));
        type Mutation = fn(&mut DiagnosisKey);
        let changes: [Mutation; 9] = [
            |k| k.key_data[0] ^= 1,
            |k| k.rolling_start_interval_number -= 144,
            |k| k.rolling_period = 143,
            |k| k.transmission_risk_level = 4,
            |k| k.visited_countries.push("IT".into()),
            |k| k.origin = "AT".into(),
            |k| k.report_type = 2,
            |k| k.days_since_onset_of_symptoms = None,
            |k| k.days_since_onset_of_symptoms = Some(0),
        ];
        for change in changes {
            let mut c = batch();
            change(&mut c.keys[2]);
            assert_ne!(canonical_bytes(&a), canonical_bytes(&c));
        }
        // Length prefixes: moving a letter between strings changes the bytes.
        let mut d = batch();
        d.keys[0].visited_countries = vec!["FRB".into(), "E".into()];
        assert_ne!(canonical_bytes(&a), canonical_bytes(&d));
    }

    #[test]
    fn canonical_key_layout() {
        let bytes = canonical_key(&key(7));
        let mut expected = vec![0, 16];
        expected.extend([7; 16]);
        expected.extend((20_414u32 * 144).to_be_bytes());
        expected.extend(144u32.to_be_bytes());
        expected.extend(5i32.to_be_bytes());
        expected.extend([0, 2, 0, 2, b'B', b'E', 0, 2, b'F', b'R', 0, 2, b'D', b'E']);
        expected.extend(1i32.to_be_bytes());
        expected.extend([1, 0, 0, 0, 2]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn signatures_verify_and_tampering_is_caught() {
        let signing = SigningKey::random(&mut rand::rngs::OsRng);
        let other = SigningKey::random(&mut rand::rngs::OsRng);
        let b = batch();
        let header = sign(&b, &signing);
        let sig = parse_signature(&header).unwrap();
        assert_eq!(
            verify(&canonical_bytes(&b), &sig, signing.verifying_key()),
            Ok(())
        );
        assert_eq!(
            verify(&canonical_bytes(&b), &sig, other.verifying_key()),
            Err(BatchError::Signature)
        );
        let mut tampered = b.clone();
        tampered.keys[1].transmission_risk_level = 8;
        assert_eq!(
            verify(&canonical_bytes(&tampered), &sig, signing.verifying_key()),
            Err(BatchError::Signature)
        );
        assert!(parse_signature("not base64!").is_none());
        assert!(parse_signature("AAAA").is_none());
        assert_eq!(fingerprint(signing.verifying_key()).len(), 64);
    }

    #[test]
    fn each_rule_has_its_error() {
        let window = rolling_window(NOW, 14);
        assert_eq!(validate(&batch(), "DE", 10, window), Ok(()));
        assert_eq!(
            validate(&batch(), "DE", 4, window),
            Err(BatchError::KeyCount)
        );
        assert_eq!(
            validate(&DiagnosisKeyBatch::default(), "DE", 4, window),
            Err(BatchError::KeyCount)
        );
        assert_eq!(
            validate(&batch(), "FR", 10, window),
            Err(BatchError::OriginMismatch)
        );
        type Mutation = fn(&mut DiagnosisKey);
        let cases: Vec<(BatchError, Mutation)> = vec![
            (BatchError::KeyData, |k| {
                k.key_data.pop();
            }),
            (BatchError::RollingStart, |k| {
                k.rolling_start_interval_number += 1
            }),
            (BatchError::RollingStartOutOfWindow, |k| {
                k.rolling_start_interval_number += 2 * 144
            }),
            (BatchError::RollingStartOutOfWindow, |k| {
                k.rolling_start_interval_number -= 16 * 144
            }),
            (BatchError::RollingPeriod, |k| k.rolling_period = 0),
            (BatchError::RollingPeriod, |k| k.rolling_period = 145),
            (BatchError::TransmissionRiskLevel, |k| {
                k.transmission_risk_level = 9
            }),
            (BatchError::TransmissionRiskLevel, |k| {
                k.transmission_risk_level = -1
            }),
            (BatchError::RiskFieldsMissing, |k| {
                k.transmission_risk_level = 0;
                k.days_since_onset_of_symptoms = None;
            }),
            (BatchError::DaysSinceOnset, |k| {
                k.days_since_onset_of_symptoms = Some(-16)
            }),
            (BatchError::DaysSinceOnset, |k| {
                k.days_since_onset_of_symptoms = Some(4001)
            }),
            (BatchError::ReportType, |k| k.report_type = 6),
            (BatchError::VisitedCountry, |k| {
                k.visited_countries.push("fr".into())
            }),
            (BatchError::VisitedCountry, |k| {
                k.visited_countries = vec!["FR".into(); MAX_VISITED + 1]
            }),
            (BatchError::Origin, |k| k.origin = "DEU".into()),
            (BatchError::DuplicateKey, |k| k.key_data = vec![1; 16]),
        ];
        for (expected, mutate) in cases {
            let mut b = batch();
            mutate(&mut b.keys[3]);
            assert_eq!(
                validate(&b, "DE", 10, window),
                Err(expected),
                "{expected:?}"
            );
        }
    }

    #[test]
    fn stored_keys_round_trip_through_the_wire() {
        let stored = StoredKey {
            key_data: [9; 16],
            rolling_start: 20_414 * 144,
            rolling_period: 144,
            transmission_risk_level: 0,
            report_type: 1,
            days_since_onset_of_symptoms: Some(-3),
            submission_hour: 490_000,
            origin: "DE".into(),
            visited_countries: vec!["FR".into()],
            consent_to_federation: true,
        };
        assert_eq!(to_stored(&to_wire(&stored), 490_000), Some(stored));
    }
}
