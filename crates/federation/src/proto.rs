//! The federation's wire messages: `DiagnosisKeyBatch` and `DiagnosisKey`, field numbers as the European
//! gateway's (EFGS) and the original national backend's `diagnosis_key_batch.proto`.
//!
//! Field 8 is `sint32` as in the original backend's copy (EFGS's first version declared `uint32`), and it
//! has explicit presence (proto3 `optional`), so "onset unknown" and "onset on the key's day" (0) stay
//! apart; both travel unchanged from one backend's key store to another's.

/// `DiagnosisKeyBatch`: the body of an upload and of a download.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DiagnosisKeyBatch {
    /// The keys, in any order (the signature covers them sorted).
    #[prost(message, repeated, tag = "1")]
    pub keys: Vec<DiagnosisKey>,
}

/// `DiagnosisKey`: one key with what the receiving countries need to publish and score it.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct DiagnosisKey {
    /// The 16-byte temporary exposure key.
    #[prost(bytes = "vec", tag = "1")]
    pub key_data: Vec<u8>,
    /// First 10-minute interval of the key's validity.
    #[prost(uint32, tag = "2")]
    pub rolling_start_interval_number: u32,
    /// Intervals the key was valid for (1..=144).
    #[prost(uint32, tag = "3")]
    pub rolling_period: u32,
    /// Transmission risk level, 1..=8, or 0 when the phone sent none.
    #[prost(int32, tag = "4")]
    pub transmission_risk_level: i32,
    /// Countries the key's owner visited (ISO 3166-1 alpha-2).
    #[prost(string, repeated, tag = "5")]
    pub visited_countries: Vec<String>,
    /// The country whose backend received the key.
    #[prost(string, tag = "6")]
    pub origin: String,
    /// `ReportType` number (0..=5), as in the export format.
    #[prost(int32, tag = "7")]
    pub report_type: i32,
    /// Days between the key's day and the onset of symptoms, when known.
    #[prost(sint32, optional, tag = "8")]
    pub days_since_onset_of_symptoms: Option<i32>,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn field_numbers_and_types_on_the_wire() {
        let key = DiagnosisKey {
            key_data: vec![0xAB; 16],
            rolling_start_interval_number: 2,
            rolling_period: 3,
            transmission_risk_level: 4,
            visited_countries: vec!["FR".into()],
            origin: "DE".into(),
            report_type: 1,
            days_since_onset_of_symptoms: Some(-1),
        };
        let bytes = key.encode_to_vec();
        let mut expected = vec![0x0A, 16];
        expected.extend([0xAB; 16]);
        // 2: varint 2, 3: varint 3, 4: varint 4, 5: "FR", 6: "DE", 7: varint 1, 8: zigzag(-1) = 1.
        expected.extend([
            0x10, 2, 0x18, 3, 0x20, 4, 0x2A, 2, b'F', b'R', 0x32, 2, b'D', b'E',
        ]);
        expected.extend([0x38, 1, 0x40, 1]);
        assert_eq!(bytes, expected);
        assert_eq!(DiagnosisKey::decode(&bytes[..]).unwrap(), key);
    }

    #[test]
    fn onset_zero_is_kept_apart_from_unknown() {
        let mut key = DiagnosisKey {
            days_since_onset_of_symptoms: Some(0),
            ..DiagnosisKey::default()
        };
        let back = DiagnosisKey::decode(&key.encode_to_vec()[..]).unwrap();
        assert_eq!(back.days_since_onset_of_symptoms, Some(0));
        key.days_since_onset_of_symptoms = None;
        let back = DiagnosisKey::decode(&key.encode_to_vec()[..]).unwrap();
        assert_eq!(back.days_since_onset_of_symptoms, None);
    }
}
