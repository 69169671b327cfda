//! A check of the upload's raw protobuf bytes that the decoder does not make.
//!
//! prost decodes an `int32` or enum field from any varint and keeps its low 32 bits, so a rolling start
//! sent as 2^32 would arrive as 0, and 2^32 + 144 as 144: a key the phone never meant. The protobuf
//! encoding of an int32 is either a varint below 2^31 or, for a negative value, the 10-byte varint of its
//! sign extension to 64 bits (at least 2^64 − 2^31); a `sint32` is a zigzag varint below 2^32. This module
//! walks the bytes of a `SubmissionPayload` and of each of its keys and refuses any other varint in the
//! fields that are decoded as 32-bit integers:
//!
//! | message | field | type |
//! |---|---|---|
//! | `SubmissionPayload` | 7 `submissionType` | enum |
//! | `TemporaryExposureKey` (payload field 1) | 2 TRL, 3 rolling start, 4 rolling period | int32 |
//! | | 5 `reportType` | enum |
//! | | 6 days since onset | sint32 |
//!
//! Every other field is skipped by its wire type. Bytes that do not parse as protobuf at all are refused
//! too (prost would refuse them a moment later). Pure code: no I/O, no allocation.

/// Why the raw bytes of a payload are refused; both answer 400 `malformed_payload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes end inside a field, a varint is longer than 10 bytes, a field number is 0 or a group is
    /// not closed.
    Malformed,
    /// A 32-bit integer field (named by its field number in the message it belongs to) holds a varint
    /// that no 32-bit integer encodes to.
    Int32Overflow {
        /// `true` for a field of a `TemporaryExposureKey`, `false` for one of the payload itself.
        in_key: bool,
        /// The field number.
        field: u32,
    },
}

impl WireError {
    /// One short sentence for the error envelope.
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "body is not a valid payload",
            Self::Int32Overflow { .. } => "a number field does not fit a 32-bit integer",
        }
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// Groups nested deeper than this are refused (prost's own recursion limit is 100).
const MAX_GROUP_DEPTH: u32 = 32;

/// The smallest varint of a negative int32: −2^31 sign-extended to 64 bits.
const MIN_NEGATIVE_INT32: u64 = 0xFFFF_FFFF_8000_0000;

/// Checks the raw bytes of a `SubmissionPayload`.
pub fn check_submission_payload(bytes: &[u8]) -> Result<(), WireError> {
    let mut r = Reader { buf: bytes };
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, LEN) => check_key(r.len_delimited()?)?,
            (7, VARINT) => int32(r.varint()?, false, field)?,
            _ => r.skip(field, wire, 0)?,
        }
    }
    Ok(())
}

/// Checks the raw bytes of one `TemporaryExposureKey`.
fn check_key(bytes: &[u8]) -> Result<(), WireError> {
    let mut r = Reader { buf: bytes };
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (2..=5, VARINT) => int32(r.varint()?, true, field)?,
            (6, VARINT) => {
                if r.varint()? > u64::from(u32::MAX) {
                    return Err(WireError::Int32Overflow {
                        in_key: true,
                        field,
                    });
                }
            }
            _ => r.skip(field, wire, 0)?,
        }
    }
    Ok(())
}

fn int32(value: u64, in_key: bool, field: u32) -> Result<(), WireError> {
    // Above every non-negative int32 and below every sign-extended negative one.
    if (1 << 31..MIN_NEGATIVE_INT32).contains(&value) {
        Err(WireError::Int32Overflow { in_key, field })
    } else {
        Ok(())
    }
}

/// The unread rest of a message.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::Malformed);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = self.take(1)?[0];
            // The tenth byte holds bit 63 only.
            if i == 9 && byte > 1 {
                return Err(WireError::Malformed);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError::Malformed)
    }

    /// The next field's number and wire type, or `None` at the end of the message.
    fn key(&mut self) -> Result<Option<(u32, u8)>, WireError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| WireError::Malformed)?;
        if field == 0 {
            return Err(WireError::Malformed);
        }
        Ok(Some((field, (key & 7) as u8))) // three bits fit a byte
    }

    fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(self.varint()?).map_err(|_| WireError::Malformed)?;
        self.take(len)
    }

    /// Skips a field that is not checked, a group with everything inside it.
    fn skip(&mut self, field: u32, wire: u8, depth: u32) -> Result<(), WireError> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => self.take(4).map(drop),
            START_GROUP if depth < MAX_GROUP_DEPTH => loop {
                match self.key()? {
                    Some((f, END_GROUP)) if f == field => return Ok(()),
                    Some((f, w)) if w != END_GROUP => self.skip(f, w, depth + 1)?,
                    _ => return Err(WireError::Malformed),
                }
            },
            _ => Err(WireError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use rand::{Rng, SeedableRng};
    use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};

    use super::*;

    fn key() -> TemporaryExposureKey {
        TemporaryExposureKey {
            key_data: Some(vec![7; 16]),
            transmission_risk_level: Some(8),
            rolling_start_interval_number: Some(2_833_344),
            rolling_period: Some(144),
            report_type: Some(1),
            days_since_onset_of_symptoms: Some(-15),
        }
    }

    fn payload(keys: Vec<TemporaryExposureKey>) -> SubmissionPayload {
        SubmissionPayload {
            keys,
            request_padding: Some(vec![0; 30]),
            visited_countries: vec!["FR".into()],
            origin: Some("DE".into()),
            consent_to_federation: Some(true),
            submission_type: Some(1),
        }
    }

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    /// A key message holding just `field` as a varint of `value`.
    fn key_with(field: u8, value: u64) -> Vec<u8> {
        let mut k = key().encode_to_vec();
        k.push(field << 3);
        k.extend(varint(value));
        k
    }

    /// A payload whose only field is a key of `key_bytes`.
    fn payload_with_key(key_bytes: &[u8]) -> Vec<u8> {
        let mut p = vec![0x0a];
        p.extend(varint(key_bytes.len() as u64));
        p.extend_from_slice(key_bytes);
        p
    }

    #[test]
    fn what_prost_encodes_passes() {
        let mut negative = key();
        negative.transmission_risk_level = Some(-1);
        negative.rolling_start_interval_number = Some(i32::MIN);
        negative.rolling_period = Some(i32::MAX);
        negative.days_since_onset_of_symptoms = Some(i32::MIN);
        let mut extreme = key();
        extreme.days_since_onset_of_symptoms = Some(i32::MAX);
        let p = payload(vec![key(), negative, extreme]);
        assert_eq!(check_submission_payload(&p.encode_to_vec()), Ok(()));
        assert_eq!(check_submission_payload(&[]), Ok(()));
    }

    #[test]
    fn prost_would_truncate_what_is_refused() {
        // The reason this module exists: 2^32 decodes as a rolling start of 0.
        let bytes = payload_with_key(&key_with(3, 1 << 32));
        let decoded = SubmissionPayload::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.keys[0].rolling_start_interval_number, Some(0));
        assert_eq!(
            check_submission_payload(&bytes),
            Err(WireError::Int32Overflow {
                in_key: true,
                field: 3
            })
        );
    }

    #[test]
    fn int32_bounds() {
        for field in 2..=5 {
            for ok in [0, (1 << 31) - 1, MIN_NEGATIVE_INT32, u64::MAX] {
                let bytes = payload_with_key(&key_with(field, ok));
                assert_eq!(check_submission_payload(&bytes), Ok(()), "{field} {ok}");
            }
            // 2^31, the 5-byte form of −1 (not sign-extended), and just below the negative range.
            for bad in [1 << 31, u64::from(u32::MAX), MIN_NEGATIVE_INT32 - 1] {
                let bytes = payload_with_key(&key_with(field, bad));
                assert_eq!(
                    check_submission_payload(&bytes),
                    Err(WireError::Int32Overflow {
                        in_key: true,
                        field: u32::from(field)
                    }),
                    "{field} {bad}"
                );
            }
        }
    }

    #[test]
    fn sint32_bounds() {
        let ok = payload_with_key(&key_with(6, u64::from(u32::MAX)));
        assert_eq!(check_submission_payload(&ok), Ok(()));
        let bad = payload_with_key(&key_with(6, 1 << 32));
        assert_eq!(
            check_submission_payload(&bad),
            Err(WireError::Int32Overflow {
                in_key: true,
                field: 6
            })
        );
    }

    #[test]
    fn submission_type_bounds() {
        let mut bytes = payload(vec![key()]).encode_to_vec();
        bytes.push(7 << 3);
        bytes.extend(varint(1 << 32 | 1));
        assert_eq!(
            check_submission_payload(&bytes),
            Err(WireError::Int32Overflow {
                in_key: false,
                field: 7
            })
        );
        // A large varint in a field that is not a 32-bit integer (consent, a bool) is prost's business.
        let mut bytes = payload(vec![key()]).encode_to_vec();
        bytes.push(5 << 3);
        bytes.extend(varint(1 << 40));
        assert_eq!(check_submission_payload(&bytes), Ok(()));
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped() {
        let mut k = key().encode_to_vec();
        // Field 9 as fixed64, fixed32 and bytes; field 10 as a group holding a varint and a nested group.
        k.extend([9 << 3 | 1, 1, 2, 3, 4, 5, 6, 7, 8]);
        k.extend([9 << 3 | 5, 1, 2, 3, 4]);
        k.extend([9 << 3 | 2, 2, 0xff, 0xff]);
        k.extend([
            10 << 3 | 3,
            11 << 3,
            0x05,
            12 << 3 | 3,
            12 << 3 | 4,
            10 << 3 | 4,
        ]);
        let bytes = payload_with_key(&k);
        assert_eq!(check_submission_payload(&bytes), Ok(()));
        assert_eq!(
            SubmissionPayload::decode(bytes.as_slice())
                .unwrap()
                .keys
                .len(),
            1
        );
        // A checked field inside a group is not a field of the key.
        let mut k = key().encode_to_vec();
        k.extend([10 << 3 | 3, 3 << 3]);
        k.extend(varint(1 << 32));
        k.push(10 << 3 | 4);
        assert_eq!(check_submission_payload(&payload_with_key(&k)), Ok(()));
    }

    #[test]
    fn malformed_bytes() {
        let cases: [&[u8]; 9] = [
            &[0x0a],             // key field without length
            &[0x0a, 0x05, 0x01], // length past the end
            &[0x00, 0x01],       // field number 0
            &[0x0b],             // group never closed
            &[0x0c],             // end of a group never opened
            &[0x0e],             // wire type 6
            &[0x38, 0xff],       // varint cut off
            &[
                0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ], // over 64 bits
            &[0x0b, 0x14],       // group closed by another field's end
        ];
        for bytes in cases {
            assert_eq!(
                check_submission_payload(bytes),
                Err(WireError::Malformed),
                "{bytes:02x?}"
            );
        }
        let deep = vec![0x0b; 40];
        assert_eq!(check_submission_payload(&deep), Err(WireError::Malformed));
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let good = payload(vec![key(), key()]).encode_to_vec();
        for _ in 0..20_000 {
            let len = rng.gen_range(0..64);
            let random: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let _ = check_submission_payload(&random);
            let mut mutated = good.clone();
            let at = rng.gen_range(0..mutated.len());
            mutated[at] = rng.gen();
            mutated.truncate(rng.gen_range(at..=mutated.len()));
            // The walker is never stricter about structure than the decoder it guards.
            for bytes in [&random, &mutated] {
                if SubmissionPayload::decode(bytes.as_slice()).is_ok() {
                    assert_ne!(
                        check_submission_payload(bytes),
                        Err(WireError::Malformed),
                        "{bytes:02x?}"
                    );
                }
            }
        }
    }
}
